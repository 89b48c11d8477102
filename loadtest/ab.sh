#!/usr/bin/env bash
# A/B of the HTTP load figures: builds two versions of the service with the baseline route
# (`--features bench-baseline`), each commit in a git worktree of its own under target/ab/,
# then runs the scenarios of loadtest/run.sh on them alternately, A B B A for each round,
# with this checkout's driver, so both sides get the same load. The bare actix-web app
# (examples/bare_baseline.rs), the same for both sides, is built once from the working tree,
# in loadtest/run.sh's target dir. The comparison (the ratios of each side and B's change
# against A, beside the spread between a side's own runs) is printed and written to
# loadtest/results/ab-latest.md; each run's table to target/ab/runs/.
#
#   loadtest/ab.sh A B [--rounds N (1 to 5, default 1)] [--seconds N (1 to 30, default 10)] [--out FILE]
#   loadtest/ab.sh --build A [B ...]     # only build the binaries, to run the A/B later
#
# A and B are git revisions (a commit, a tag, a branch), or `.` for the working tree as it
# is. A commit's binary is kept in target/ab/bin/ and not built again; `.` is built every
# time. Builds run under `nice`, so other compiles on the machine go first. One round is
# four runs of about 4 minutes at 10 s a scenario.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
cache=target/ab
need() { command -v "$1" > /dev/null || { echo "$1 is missing: $2" >&2; exit 1; }; }
need git "apt-get install git"
need cargo "install Rust with rustup"
need python3 "apt-get install python3"
mkdir -p "$cache/bin" "$cache/worktrees"

# Builds a revision and prints its binary's path. Both sides share one target dir, so the
# dependencies are compiled once; each binary is copied out as soon as it is built.
binary() {
  local rev=$1 sha bin dir
  if [ "$rev" = . ]; then
    bin=$cache/bin/presence-worktree
    nice cargo build --release --locked --features bench-baseline --target-dir "$cache/cargo" -q >&2
  else
    sha=$(git rev-parse --verify --quiet "$rev^{commit}") || { echo "$rev is not a commit" >&2; exit 1; }
    bin=$cache/bin/presence-$sha
    [ -x "$bin" ] && { echo "$bin"; return; }
    dir=$cache/worktrees/$sha
    [ -d "$dir" ] || git worktree add --detach --quiet "$dir" "$sha" >&2
    echo "building $rev ($sha) in $dir" >&2
    (cd "$dir" && nice cargo build --release --locked --features bench-baseline --target-dir "$root/$cache/cargo" -q) >&2
  fi
  cp "$cache/cargo/release/presence" "$bin.tmp" && mv "$bin.tmp" "$bin"
  # The binary is all a run needs; the worktree would only show in everyone's `git worktree list`.
  [ "$rev" = . ] || git worktree remove --force "$dir" >&2 || rm -rf "$dir"
  echo "$bin"
}

label() {
  if [ "$1" = . ]; then
    echo "the working tree (on $(git rev-parse --short HEAD), with its uncommitted changes)"
  else
    git log -1 --format='%h %s' "$1^{commit}" | cut -c1-100 | sed 's/ *$//'
  fi
}

# One build at a time: they share the target dir and the copy out of it.
exec 9> "$cache/build.lock"

if [ "${1:-}" = --build ]; then
  shift
  [ $# -ge 1 ] || { echo "usage: loadtest/ab.sh --build REV [REV ...]" >&2; exit 2; }
  flock 9
  for rev in "$@"; do echo "$(label "$rev"): $(binary "$rev")"; done
  exit 0
fi

[ $# -ge 2 ] && [ "${1#-}" = "$1" ] && [ "${2#-}" = "$2" ] || {
  echo "usage: loadtest/ab.sh A B [--rounds N] [--seconds N] [--out FILE]   (loadtest/ab.sh --build REV ...)" >&2
  exit 2
}
need wrk "apt-get install wrk"
a=$1 b=$2
shift 2
flock 9
bin_a=$(binary "$a")
bin_b=$(binary "$b")
# The bare app, from the working tree; copied out like the sides, so a build meanwhile cannot change it.
nice cargo build --release --locked --features bench-baseline --example bare_baseline --target-dir target/bench-baseline -q
cp target/bench-baseline/release/examples/bare_baseline "$cache/bin/bare_baseline.tmp"
mv "$cache/bin/bare_baseline.tmp" "$cache/bin/bare_baseline"
flock -u 9
exec python3 loadtest/ab.py --a "$bin_a" --a-label "$(label "$a")" --b "$bin_b" --b-label "$(label "$b")" \
  --bare "$cache/bin/bare_baseline" "$@"

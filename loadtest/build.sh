# Sourced by run.sh and bigpage.sh: the tools a load test needs, and the service built as
# the load tests run it (release, `--features bench-baseline`, in target/bench-baseline, so
# no binary in target/release ever has the baseline route).
need() { command -v "$1" > /dev/null || { echo "$1 is missing: $2" >&2; exit 1; }; }
need wrk "apt-get install wrk"
need python3 "apt-get install python3"
need cargo "install Rust with rustup"
cargo build --release --features bench-baseline --target-dir target/bench-baseline -q

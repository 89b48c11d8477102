#!/usr/bin/env bash
# Runs the curl walkthrough of README.md exactly as written, in a scratch copy of the
# repository, and checks that the final list shows both viewers.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
scratch="$(mktemp -d)"
# The walkthrough starts the service as ./target/release/presence; stop it, and any
# leftover of an earlier run that would hold its port.
stop_service() { pkill -f '^\./target/release/presence' || true; }
stop_service
trap 'stop_service; rm -rf "$scratch"' EXIT

git -C "$root" ls-files -z | (cd "$root" && xargs -0 cp --parents -t "$scratch")
# Share the build cache so the walkthrough's release build is incremental.
export CARGO_TARGET_DIR="$root/target"
mkdir -p "$root/target" && ln -s "$root/target" "$scratch/target"
sed -n '/<!-- walkthrough:start -->/,/<!-- walkthrough:end -->/p' "$root/README.md" | sed '1,2d;$d' | sed '$d' > "$scratch/walkthrough.sh"

cd "$scratch"
output="$(timeout 900 bash -eu walkthrough.sh)"
printf '%s\n' "$output"
last="$(printf '%s\n' "$output" | tail -n 1)"
python3 - "$last" <<'PY'
import json, sys
snapshot = json.loads(sys.argv[1])
ids = [viewer["id"] for viewer in snapshot["viewers"]]
assert ids == ["alice", "bob"], ids
assert snapshot["viewerCount"] == 2 and snapshot["editorUserId"] == "bob", snapshot
assert [v["isCurrentUser"] for v in snapshot["viewers"]] == [True, False], snapshot
print("walkthrough: OK, two viewers on /docs/intro")
PY

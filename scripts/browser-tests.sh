#!/usr/bin/env bash
# The real-browser tests of the demo page and presence.js (tests/browser): builds the
# server, installs playwright-core (no browser download: the suite drives the system's
# Chromium) and runs the suite, which starts its own server on a free loopback port.
#
#   CHROMIUM=/path/to/chromium   another Chromium than /usr/bin/chromium
#
# Writes artifacts/demo-three-viewers.png (and, when a test fails, artifacts/failures/).
set -euo pipefail
cd "$(dirname "$0")/.."

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$CHROMIUM" ]; then
  echo "error: no Chromium at $CHROMIUM. Install it (apt-get install chromium) or set CHROMIUM=/path/to/chromium." >&2
  exit 1
fi
command -v cargo > /dev/null || { echo "error: cargo is missing: install Rust with rustup" >&2; exit 1; }
command -v npm > /dev/null || { echo "error: node and npm are missing: apt-get install nodejs npm" >&2; exit 1; }

cargo build
mkdir -p artifacts

cd tests/browser
# Never fetch a browser: playwright-core does not, and this makes sure nothing else tries.
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
npm ci --no-audit --no-fund
PRESENCE_BIN="$PWD/../../target/debug/presence" CHROMIUM="$CHROMIUM" timeout 300 npm test

#!/usr/bin/env bash
# Runs the browser tests (CTest: browser).  Installs playwright-core
# exactly as package-lock.json pins it (npm ci) when node_modules is missing
# or older than the lock file, then runs each *.test.mjs with node.  It drives
# Debian's chromium ($CUSTOS_CHROMIUM, else /usr/bin/chromium); playwright's
# own browser download is never used.  Exits 77 (CTest: skipped) when
# chromium, node or the package cannot be had, e.g. offline without
# node_modules.  CTest sets CUSTOS (the binary) and CUSTOS_ARTIFACTS (where
# the screenshots go).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${CUSTOS:?CUSTOS must name the custos binary}"
export CUSTOS_CHROMIUM=${CUSTOS_CHROMIUM:-/usr/bin/chromium}
if [ ! -x "$CUSTOS_CHROMIUM" ]; then
  echo "skipped: no chromium at $CUSTOS_CHROMIUM (apt-get install chromium)"
  exit 77
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "skipped: node and npm are not installed"
  exit 77
fi
(
  # One npm ci at a time, should two test runs start together.
  flock 9
  if [ ! -f "$here/node_modules/.package-lock.json" ] ||
     [ "$here/package-lock.json" -nt "$here/node_modules/.package-lock.json" ]; then
    cd "$here" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
  fi
) 9>"${TMPDIR:-/tmp}/custos-browser-npm.lock" || {
  echo "skipped: npm ci failed (no network and no node_modules?)"
  exit 77
}
status=0
for t in "$here"/*.test.mjs; do
  echo "== $(basename "$t")"
  node "$t" || status=1
done
exit $status

#!/usr/bin/env bash
# Release build of the server and the browser bundle (cargo leptos build --release). On failure,
# repeats the build's error lines and the free disk space at the end, where a log's tail shows them.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# Every build names the bundle's files after their content; earlier builds' files would pile up
# (and be renamed again), so the folder starts empty.
rm -rf target/site/pkg
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if cargo leptos build --release 2>&1 | tee "$log"; then
  exit 0
fi
echo "---- the release build failed; its errors:" >&2
grep -E '^(error|Error)|^\s*[0-9]+: .*(Error|error)|Caused by|^   [0-9]: ' "$log" | grep -v 'frames hidden' | head -40 >&2 || true
grep -E -B2 -A8 'Error:|^error' "$log" | head -60 >&2 || true
df -h . >&2 || true
exit 1

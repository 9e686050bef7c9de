#!/usr/bin/env bash
# Reports the gzipped size of the release browser bundle and fails above the budget.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
budget_kb="${BUNDLE_BUDGET_KB:-400}"
pkg=target/site/pkg
total=0
for file in "$pkg"/ais-chatrooms.wasm "$pkg"/ais-chatrooms.js; do
  [[ -f "$file" ]] || { echo "missing $file: run 'make build' first" >&2; exit 1; }
  raw=$(stat -c %s "$file")
  gz=$(gzip -9 -c "$file" | wc -c)
  total=$((total + gz))
  printf '%-34s %8d bytes, %8d gzipped\n' "$(basename "$file")" "$raw" "$gz"
done
printf 'browser bundle (wasm + js), gzipped: %d KB (budget %d KB)\n' $((total / 1024)) "$budget_kb"
(( total <= budget_kb * 1024 )) || { echo "the bundle is over budget" >&2; exit 1; }

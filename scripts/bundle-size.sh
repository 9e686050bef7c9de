#!/usr/bin/env bash
# Reports the gzipped size of everything the browser downloads from /pkg (the wasm, its JS glue,
# the stylesheet and any split chunks) and fails above the budget.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
budget_kb="${BUNDLE_BUDGET_KB:-400}"
pkg=target/site/pkg
total=0
[[ -f "$pkg/ais-chatrooms.wasm" ]] || { echo "missing $pkg/ais-chatrooms.wasm: run 'make build' first" >&2; exit 1; }
mapfile -t files < <(find "$pkg" -type f | sort)
for file in "${files[@]}"; do
  raw=$(stat -c %s "$file")
  gz=$(gzip -9 -c "$file" | wc -c)
  total=$((total + gz))
  printf '%-34s %8d bytes, %8d gzipped\n' "$(basename "$file")" "$raw" "$gz"
done
printf 'browser bundle (%d files under /pkg), gzipped: %d KB (budget %d KB)\n' "${#files[@]}" $((total / 1024)) "$budget_kb"
(( total <= budget_kb * 1024 )) || { echo "the bundle is over budget" >&2; exit 1; }

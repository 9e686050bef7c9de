#!/usr/bin/env bash
# Reports the gzipped size of everything the browser downloads from /pkg — the wasm, its JS glue
# and the stylesheet, by the content-hashed names the release build lists in hash.txt beside the
# server binary — and fails above the budget.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
budget_kb="${BUNDLE_BUDGET_KB:-400}"
pkg=target/site/pkg
hash_file="${CARGO_TARGET_DIR:-target}/release/hash.txt"
[[ -f "$hash_file" ]] || { echo "missing $hash_file: run 'make build' first" >&2; exit 1; }
files=()
for kind in js wasm css; do
  hash=$(awk -v kind="$kind:" '$1 == kind { print $2 }' "$hash_file")
  file="$pkg/ais-chatrooms.$hash.$kind"
  [[ -n "$hash" && -f "$file" ]] || { echo "$hash_file names no $kind file in $pkg: run 'make build' again" >&2; exit 1; }
  files+=("$file")
done
total=0
for file in "${files[@]}"; do
  raw=$(stat -c %s "$file")
  gz=$(gzip -9 -c "$file" | wc -c)
  total=$((total + gz))
  printf '%-42s %8d bytes, %8d gzipped\n' "$(basename "$file")" "$raw" "$gz"
done
printf 'browser bundle (%d files under /pkg), gzipped: %d KB (budget %d KB)\n' "${#files[@]}" $((total / 1024)) "$budget_kb"
(( total <= budget_kb * 1024 )) || { echo "the bundle is over budget" >&2; exit 1; }

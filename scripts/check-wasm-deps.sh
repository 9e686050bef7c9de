#!/usr/bin/env bash
# Fails when the browser bundle's dependency tree contains a server-only crate: the runtime and
# network stack, the database driver, the Markdown renderer (Markdown is rendered on the server
# only), or any of the workspace's server crates.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
tree=$(cargo tree --locked -p frontend --target wasm32-unknown-unknown -e normal --prefix none --format '{p}')
found=0
server_crates=(tokio sqlx axum reqwest hyper mio pulldown-cmark
  services storage gateway server error-response settings fake-llm chatctl bench)
for crate in "${server_crates[@]}"; do
  if grep -qE "^$crate v" <<<"$tree"; then
    echo "the wasm bundle depends on $crate:" >&2
    cargo tree --locked -p frontend --target wasm32-unknown-unknown -e normal -i "$crate" >&2 || true
    found=1
  fi
done
[[ $found == 0 ]] && echo "wasm dependency check: no server crates in the browser bundle"
exit $found

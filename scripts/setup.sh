#!/usr/bin/env bash
# Installs what building and testing need, skipping whatever is already in place.
#   scripts/setup.sh build   — the Rust toolchain pieces for building the app
#   scripts/setup.sh test    — also Chromium, PostgreSQL and the browser-test packages
# Versions are pinned: see docs in README.md ("Toolchain").
set -euo pipefail

mode="${1:-build}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"

CARGO_LEPTOS_VERSION=0.3.10
BINARYEN_VERSION=132
export PATH="$tools/node_modules/.bin:${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*" >&2; }

as_root() {
  if [[ "$(id -u)" == 0 ]]; then "$@"; else sudo "$@"; fi
}

apt_install() {
  log "installing Debian packages: $*"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get install -y --no-install-recommends "$@" || {
    as_root apt-get update
    as_root apt-get install -y --no-install-recommends "$@"
  }
}

# --- Debian packages ---
packages=()
command -v npm >/dev/null || packages+=(nodejs npm)
command -v python3 >/dev/null || packages+=(python3)
command -v gzip >/dev/null || packages+=(gzip)
command -v openssl >/dev/null || packages+=(openssl)
if [[ "$mode" == test ]]; then
  command -v chromium >/dev/null || packages+=(chromium)
  compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || packages+=(postgresql)
  # Several instances share live events through Redis; tests start private servers.
  command -v redis-server >/dev/null || packages+=(redis-server)
  command -v tmux >/dev/null || packages+=(tmux)
  # The shipped nginx configuration is checked in front of the server (scripts/check-nginx.sh).
  command -v nginx >/dev/null || packages+=(nginx)
  # Task files are checked with PyYAML, as an execution plane reading YAML 1.1 would read them.
  /usr/bin/python3 -c 'import yaml' 2>/dev/null || packages+=(python3-yaml)
  # The gateway audit reads the imports of a linked binary (scripts/audit-gateway-build.sh).
  command -v nm >/dev/null && command -v readelf >/dev/null || packages+=(binutils)
fi
if [[ ${#packages[@]} -gt 0 ]]; then apt_install "${packages[@]}"; fi

# --- Node.js 20 or later (Debian 12's own is 18) ---
"$root/scripts/setup-node.sh"

# --- Rust pieces ---
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  log "adding the wasm32-unknown-unknown target"
  rustup target add wasm32-unknown-unknown
fi

if [[ "$mode" == test ]] && ! cargo clippy --version >/dev/null 2>&1; then
  log "adding clippy (the gateway audit runs it)"
  rustup component add clippy
fi

if ! cargo leptos --version 2>/dev/null | grep -q "$CARGO_LEPTOS_VERSION"; then
  log "installing cargo-leptos $CARGO_LEPTOS_VERSION (takes a while on a cold machine)"
  cargo install "cargo-leptos@$CARGO_LEPTOS_VERSION" --locked
fi

# The wasm-bindgen CLI must match the library version in Cargo.lock exactly.
bindgen_version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$root/Cargo.lock")
if ! wasm-bindgen --version 2>/dev/null | grep -q " $bindgen_version\$"; then
  log "installing wasm-bindgen-cli $bindgen_version"
  # With the lock file it was published with, so its dependencies do not drift. Where that lock cannot
  # resolve (0.2.130's pins webpki-roots 1.0.11, which some registries lack), the newest compatible
  # dependencies are taken instead; the CLI's own version stays exact either way.
  cargo install "wasm-bindgen-cli@$bindgen_version" --locked --force || {
    log "wasm-bindgen-cli $bindgen_version's lock file does not resolve here: installing it with current dependencies"
    cargo install "wasm-bindgen-cli@$bindgen_version" --force
  }
fi

# wasm-opt from npm: Debian's binaryen is too old and breaks hydration.
if [[ ! -x "$tools/node_modules/.bin/wasm-opt" ]]; then
  log "installing binaryen $BINARYEN_VERSION (wasm-opt)"
  mkdir -p "$tools"
  npm install --prefix "$tools" --no-audit --no-fund --silent "binaryen@$BINARYEN_VERSION"
fi

# --- browser tests ---
if [[ "$mode" == test ]]; then
  if [[ ! -d "$root/end2end/node_modules/@playwright/test" || "$root/end2end/package-lock.json" -nt "$root/end2end/node_modules/.package-lock.json" ]]; then
    log "installing the browser-test packages"
    (cd "$root/end2end" && npm ci --no-audit --no-fund --silent)
  fi
fi

log "ready ($mode)"

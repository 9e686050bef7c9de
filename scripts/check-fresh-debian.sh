#!/usr/bin/env bash
# Checks, in a fresh Debian 12 system made with debootstrap (as root), that the browser-test set-up
# works where Debian's own Node.js is the only one: installs Debian's nodejs and npm (18), shows that
# the pinned Playwright refuses to run on it, runs scripts/setup-node.sh, and shows Playwright running.
# Not part of `make test` (it downloads a base system and takes a few minutes); CI's `test` job, in the
# rust:*-bookworm image without Node.js, is the same check on every push.
#   scripts/check-fresh-debian.sh [folder]     (default: a temporary folder, removed afterwards)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
log() { printf '\033[1;34m[fresh-debian]\033[0m %s\n' "$*" >&2; }
fail() { printf '\033[1;31m[fresh-debian]\033[0m %s\n' "$*" >&2; exit 1; }

[[ "$(id -u)" == 0 ]] || fail "run as root (debootstrap and chroot)"
command -v debootstrap >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap

system="${1:-}"
if [[ -z "$system" ]]; then
  system=$(mktemp -d /tmp/fresh-debian.XXXXXX)
  trap 'umount "$system/proc" 2>/dev/null || true; rm -rf "$system"' EXIT
else
  trap 'umount "$system/proc" 2>/dev/null || true' EXIT
fi

if [[ ! -x "$system/usr/bin/apt-get" ]]; then
  log "debootstrap bookworm into $system"
  debootstrap --variant=minbase bookworm "$system" http://deb.debian.org/debian >"$system.debootstrap.log" 2>&1 \
    || { tail -20 "$system.debootstrap.log" >&2; fail "debootstrap failed"; }
  rm -f "$system.debootstrap.log"
fi
cp /etc/resolv.conf "$system/etc/resolv.conf"
# Whatever certificate authorities this machine trusts (a proxy's, say), the system trusts too.
cp /usr/local/share/ca-certificates/*.crt "$system/usr/local/share/ca-certificates/" 2>/dev/null || true
mount --bind /proc "$system/proc"

rm -rf "$system/project" && mkdir -p "$system/project/scripts" "$system/project/end2end"
cp "$root/scripts/setup-node.sh" "$system/project/scripts/"
cp "$root/end2end/package.json" "$root/end2end/package-lock.json" "$system/project/end2end/"

chroot "$system" /bin/bash -euo pipefail <<'IN_DEBIAN'
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends nodejs npm ca-certificates >/dev/null
update-ca-certificates >/dev/null 2>&1
cd /project/end2end
npm ci --no-audit --no-fund --silent
echo "Debian's Node.js: $(node --version)"
if npx playwright --version >/tmp/refused 2>&1; then
  echo "Playwright ran on $(node --version): this check proves nothing here" >&2
  exit 1
fi
echo "Playwright on it: $(grep -m1 -i 'requires' /tmp/refused)"
cd /project
scripts/setup-node.sh
export PATH=/project/.tools/node_modules/.bin:$PATH
echo "After scripts/setup-node.sh: Node.js $(node --version)"
cd end2end && echo "Playwright: $(npx playwright --version)"
IN_DEBIAN
log "a fresh Debian 12 with Debian's Node.js runs the browser tests' Playwright after scripts/setup-node.sh"

#!/usr/bin/env bash
# Checks Cargo.lock against the RustSec advisory database with cargo-audit (pinned, installed once):
# any crate with a published vulnerability fails the check; unmaintained, unsound and yanked crates
# are reported as warnings. Offline by default, against the copy in security/advisory-db/;
# ADVISORY_DB_FETCH=1 fetches the current database instead (CI does, where GitHub is reachable).
# Advisories judged not to apply are listed, each with its reason, in security/audit.toml.
#   scripts/check-advisories.sh --refresh   replaces the copy with the current database (needs GitHub)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

CARGO_AUDIT_VERSION=0.22.2
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

log() { printf '\033[1;34m[advisories]\033[0m %s\n' "$*" >&2; }

if [[ "${1:-}" == --refresh ]]; then
  fresh=$(mktemp -d /tmp/advisory-db.XXXXXX)
  trap 'rm -rf "$fresh"' EXIT
  git clone --quiet --depth 1 https://github.com/rustsec/advisory-db.git "$fresh/db"
  rm -rf security/advisory-db
  mkdir -p security/advisory-db
  cp -R "$fresh/db/crates" "$fresh/db/rust" "$fresh/db/LICENSE.txt" security/advisory-db/
  printf 'rustsec/advisory-db %s (%s)\n' "$(git -C "$fresh/db" rev-parse HEAD)" \
    "$(git -C "$fresh/db" log -1 --format=%cs)" >security/advisory-db/SNAPSHOT
  log "security/advisory-db is now $(cat security/advisory-db/SNAPSHOT)"
  exit 0
fi

if ! cargo audit --version 2>/dev/null | grep -q " $CARGO_AUDIT_VERSION$"; then
  log "installing cargo-audit $CARGO_AUDIT_VERSION (a few minutes, once)"
  cargo install "cargo-audit@$CARGO_AUDIT_VERSION" --locked
fi

# Each ignored advisory has a reason; one said to concern a crate that is never built is checked:
# the dependency graph (every target, every kind of dependency) must not contain that crate.
entries=$(python3 - <<'PY'
import tomllib
with open("security/audit.toml", "rb") as f:
    for entry in tomllib.load(f).get("ignore", []):
        if not entry.get("reason", "").strip():
            raise SystemExit(f"security/audit.toml: {entry.get('id')} has no reason")
        crate = entry["crate"] if entry.get("not_built") else ""
        print(entry["id"], crate)
PY
)
ignores=()
while read -r id crate; do
  [[ -n "$id" ]] || continue
  ignores+=(--ignore "$id")
  if [[ -n "$crate" ]]; then
    built=$(cargo tree --locked --target all -e normal,build,dev -i "$crate" 2>/dev/null || true)
    [[ -z "$built" ]] || { echo "security/audit.toml says $crate ($id) is never built, but:" >&2; echo "$built" >&2; exit 1; }
    log "$id: $crate is in Cargo.lock but never built (ignored)"
  fi
done <<<"$entries"

if [[ "${ADVISORY_DB_FETCH:-0}" == 1 ]]; then
  db=$(mktemp -d /tmp/advisory-db.XXXXXX)
  trap 'rm -rf "$db"' EXIT
  log "Cargo.lock against the current RustSec database (fetched)"
  cargo audit --file Cargo.lock --db "$db/advisory-db" "${ignores[@]}"
else
  log "Cargo.lock against security/advisory-db ($(cat security/advisory-db/SNAPSHOT))"
  cargo audit --file Cargo.lock --db security/advisory-db --no-fetch "${ignores[@]}"
fi

#!/usr/bin/env bash
# The REST API against its published contract: starts the release server on a fresh SQLite file,
# seeds a person (an admin with an API token), a room with an agent and a spare room, then runs
# schemathesis over every operation of GET /api/openapi.json for CONTRACT_SECONDS (default 120):
# no server error and no response that breaks the document may be found. The live event stream
# is left out (it never ends; tests/live_stream.rs and the browser suite cover it).
# schemathesis lives in a virtualenv under .tools/, installed once (pinned).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

SCHEMATHESIS_VERSION=4.32.5
venv="$root/.tools/contract-venv"
stamp="$venv/.installed-schemathesis-$SCHEMATHESIS_VERSION"
seconds="${CONTRACT_SECONDS:-120}"

log() { printf '\033[1;34m[contract]\033[0m %s\n' "$*" >&2; }
fail() { printf '\033[1;31m[contract]\033[0m %s\n' "$*" >&2; exit 1; }

if [[ ! -f "$stamp" ]]; then
  # Debian ships venv's pip bootstrap separately (python3-venv).
  if ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    log "installing python3-venv"
    as_root() { if [[ "$(id -u)" == 0 ]]; then "$@"; else sudo "$@"; fi; }
    export DEBIAN_FRONTEND=noninteractive
    as_root apt-get install -y --no-install-recommends python3-venv || {
      as_root apt-get update
      as_root apt-get install -y --no-install-recommends python3-venv
    }
  fi
  log "installing schemathesis $SCHEMATHESIS_VERSION into .tools/contract-venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
  touch "$stamp"
fi

target="${CARGO_TARGET_DIR:-$root/target}"
server="${CONTRACT_SERVER:-$target/release/server}"
[[ -x "$server" ]] || fail "$server is missing: build it first (scripts/build-site.sh)"

work=$(mktemp -d /tmp/ais-chatrooms-contract.XXXXXX)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
LEPTOS_SITE_ADDR="127.0.0.1:$port" LEPTOS_SITE_ROOT="$root/target/site" \
  DATABASE_URL="sqlite://$work/contract.db?mode=rwc" GATEWAY_ROOT="$work/control-plane" \
  RUST_LOG=warn LOG_FORMAT=json DEMO_TOKEN_DELAY_MS=1 \
  WRITE_RATE_PER_MINUTE=0 WRITE_RATE_PER_ADDRESS_PER_MINUTE=0 \
  GATEWAY_RATE_SESSION_PER_SECOND=1000 GATEWAY_RATE_SESSION_BURST=1000 \
  GATEWAY_RATE_ADDRESS_PER_SECOND=1000 GATEWAY_RATE_ADDRESS_BURST=1000 \
  "$server" >"$work/server.log" 2>&1 &
server_pid=$!
stop() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap stop EXIT

for _ in $(seq 1 100); do
  curl -fs "$base/readyz" >/dev/null 2>&1 && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; fail "the server did not start"; }
  sleep 0.2
done
curl -fs "$base/readyz" >/dev/null || fail "the server is not ready"

json() { python3 -c "import json, sys; print(json.load(sys.stdin)$1)"; }
post() { curl -fsS -H 'content-type: application/json' "$@"; }

me=$(post -c "$work/cookies" -d '{"email":"contract@example.com","password":"correct horse battery","name":"Contract Admin"}' "$base/api/auth/signup")
token=$(post -b "$work/cookies" -d '{"name":"contract"}' "$base/api/tokens" | json '["secret"]')
auth=(-H "authorization: Bearer $token")
room=$(post "${auth[@]}" -d '{"name":"Contract room"}' "$base/api/rooms" | json '["id"]')
agent=$(post "${auth[@]}" -d '{"name":"Ada","model":"demo","system_prompt":"","temperature":0.5}' "$base/api/rooms/$room/agents" | json '["id"]')
spare=$(post "${auth[@]}" -d '{"name":"Spare room"}' "$base/api/rooms" | json '["id"]')

export CONTRACT_ROOM_ID="$room" CONTRACT_AGENT_ID="$agent" CONTRACT_SPARE_ROOM_ID="$spare"
export CONTRACT_USER_ID=$(printf '%s' "$me" | json '["id"]')
export CONTRACT_SESSION_ID=$(python3 -c 'import uuid; print(uuid.uuid4())')

log "schemathesis over $base/api/openapi.json for $seconds s"
status=0
# Run from the scratch folder: schemathesis keeps a cache where it runs. One worker: with two
# threads, Python 3.11's ast.parse (which hypothesis calls to describe its filters) can fail with
# "AST constructor recursion depth mismatch", a tool fault that says nothing about the API.
(cd "$work" && "$venv/bin/schemathesis" --config-file "$root/contract/schemathesis.toml" run "$base/api/openapi.json" \
  --header "authorization: Bearer $token" \
  --checks not_a_server_error,response_schema_conformance \
  --exclude-path "/api/rooms/{room_id}/stream" \
  --max-time "$seconds" --workers 1 --request-timeout 20 \
  --warnings off) || status=$?
if [[ $status -ne 0 ]]; then
  log "the server's log:"
  tail -50 "$work/server.log" >&2
  fail "the API broke its contract (see above)"
fi
grep -q '"level":"ERROR"' "$work/server.log" && { grep '"level":"ERROR"' "$work/server.log" | tail -20 >&2; fail "the server logged errors"; }
log "the API kept its contract"

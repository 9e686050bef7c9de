#!/usr/bin/env bash
# Runs a command with TEST_DATABASE_URL pointing at a private PostgreSQL server started for it:
# a fresh cluster in a temporary folder, listening on a free loopback port, stopped afterwards.
# It accepts TLS connections only (a self-signed certificate made for it, `sslmode=require`), as
# production databases do, so every test on PostgreSQL goes through the driver's TLS.
# When TEST_DATABASE_URL is already set, the command runs against that server instead.
set -euo pipefail

if [[ -n "${TEST_DATABASE_URL:-}" ]]; then
  exec "$@"
fi

pg_bin=""
for candidate in /usr/lib/postgresql/*/bin; do
  [[ -x "$candidate/initdb" ]] && pg_bin="$candidate"
done
if [[ -z "$pg_bin" ]]; then
  echo "PostgreSQL server binaries not found; run 'make setup' first" >&2
  exit 1
fi

run_as=()
if [[ "$(id -u)" == 0 ]]; then
  # initdb refuses to run as root; the Debian package creates a 'postgres' user.
  run_as=(runuser -u postgres --)
fi

folder=$(mktemp -d /tmp/ais-chatrooms-pg.XXXXXX)
chmod 755 "$folder"
[[ ${#run_as[@]} -gt 0 ]] && chown postgres "$folder"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

stop() {
  "${run_as[@]}" "$pg_bin/pg_ctl" -D "$folder/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$folder"
}
trap stop EXIT

"${run_as[@]}" "$pg_bin/initdb" -D "$folder/data" -U postgres --auth=trust -E UTF8 >"$folder/initdb.log" 2>&1 \
  || { cat "$folder/initdb.log" >&2; exit 1; }
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" \
  -keyout "$folder/data/server.key" -out "$folder/data/server.crt" >"$folder/openssl.log" 2>&1 \
  || { cat "$folder/openssl.log" >&2; exit 1; }
chmod 600 "$folder/data/server.key"
# Over TCP only TLS is accepted; the Unix socket stays for pg_ctl.
cat >"$folder/data/pg_hba.conf" <<'HBA'
local   all all              trust
hostssl all all 127.0.0.1/32 trust
HBA
[[ ${#run_as[@]} -gt 0 ]] && chown postgres "$folder/data/server.key" "$folder/data/server.crt" "$folder/data/pg_hba.conf"
"${run_as[@]}" "$pg_bin/pg_ctl" -D "$folder/data" -l "$folder/server.log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $folder -c max_connections=300 -c fsync=off -c shared_buffers=64MB -c ssl=on" \
  start >/dev/null || { cat "$folder/server.log" >&2; exit 1; }

export TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=require"
echo "private PostgreSQL on 127.0.0.1:$port" >&2
"$@"

#!/usr/bin/env bash
# Runs a command with TEST_REDIS_URL pointing at a private Redis server started for it: no
# persistence, a free loopback port, a temporary folder, stopped afterwards. Tests that restart
# Redis start servers of their own; this one is shared by the rest.
# When TEST_REDIS_URL is already set, the command runs against that server instead.
set -euo pipefail

if [[ -n "${TEST_REDIS_URL:-}" ]]; then
  exec "$@"
fi
if ! command -v redis-server >/dev/null; then
  echo "redis-server not found; run 'scripts/setup.sh test' first" >&2
  exit 1
fi

folder=$(mktemp -d /tmp/ais-chatrooms-redis.XXXXXX)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$folder" \
  --daemonize yes --pidfile "$folder/redis.pid" --logfile "$folder/redis.log" --maxclients 2000

stop() {
  if [[ -f "$folder/redis.pid" ]]; then
    kill "$(cat "$folder/redis.pid")" 2>/dev/null || true
  fi
  rm -rf "$folder"
}
trap stop EXIT

for _ in $(seq 100); do
  if python3 -c "import socket,sys; s=socket.create_connection(('127.0.0.1', $port), 0.2); s.sendall(b'PING\r\n'); sys.exit(0 if s.recv(16).startswith(b'+PONG') else 1)" 2>/dev/null; then
    break
  fi
  sleep 0.1
done

export TEST_REDIS_URL="redis://127.0.0.1:$port"
echo "private Redis on 127.0.0.1:$port" >&2
"$@"

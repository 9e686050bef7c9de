#!/usr/bin/env bash
# The shipped nginx configuration (deploy/nginx/default.conf), checked two ways:
#   1. `nginx -t` on the file as shipped, included in the http block as the web image includes it;
#   2. live: nginx with that file (only its listen port, upstream address, bundle folder and log path
#      rewritten) in front of the real server on loopback. A room's live stream must reach the client
#      uncompressed and event by event while the reply is written, /metrics must not exist through
#      nginx (while the server itself has it), the bundle's content-named files must be immutable,
#      and the browser's Host (with its port) must reach the server, whose host check needs it. Then
#      the api is "recreated" at another address (as `docker compose up -d` does after an .env change)
#      and nginx, asking a DNS server of this check's own for `api`, must find it without a restart.
# The server binary: NGINX_CHECK_SERVER, else the release build, else the debug build, else one is
# built (debug, the server alone). The DNS server uses dnslib from .tools/lint-venv (lint-infra.sh
# installs it).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
shipped="$root/deploy/nginx/default.conf"

log() { printf '\033[1;34m[nginx]\033[0m %s\n' "$*" >&2; }
fail() { printf '\033[1;31m[nginx]\033[0m %s\n' "$*" >&2; exit 1; }

if ! command -v nginx >/dev/null; then
  log "installing nginx (Debian's)"
  as_root() { if [[ "$(id -u)" == 0 ]]; then "$@"; else sudo "$@"; fi; }
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get install -y --no-install-recommends nginx || {
    as_root apt-get update
    as_root apt-get install -y --no-install-recommends nginx
  }
fi

lint_python="$root/.tools/lint-venv/bin/python"
"$lint_python" -c 'import dnslib' 2>/dev/null || fail "dnslib is missing from .tools/lint-venv: run scripts/lint-infra.sh"

work=$(mktemp -d /tmp/ais-chatrooms-nginx.XXXXXX)
chmod 755 "$work"
pids=()
stop() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap stop EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# The http block around a server file, as the image's /etc/nginx/nginx.conf has it.
wrap() {
  cat <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/error.log warn;
events { worker_connections 256; }
http {
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    client_body_temp_path $work/tmp-body;
    proxy_temp_path $work/tmp-proxy;
    fastcgi_temp_path $work/tmp-fastcgi;
    uwsgi_temp_path $work/tmp-uwsgi;
    scgi_temp_path $work/tmp-scgi;
    include $1;
}
CONF
}

# --- 1. the file as shipped ---
wrap "$shipped" >"$work/shipped.conf"
mkdir -p /var/log/nginx
log "nginx -t on deploy/nginx/default.conf ($(nginx -v 2>&1))"
nginx -t -q -p "$work" -c "$work/shipped.conf" || fail "nginx rejects deploy/nginx/default.conf"

# --- 2. live, in front of the real server ---
target="${CARGO_TARGET_DIR:-$root/target}"
server="${NGINX_CHECK_SERVER:-}"
if [[ -z "$server" ]]; then
  for candidate in "$target/release/server" "$target/debug/server"; do
    [[ -x "$candidate" ]] && { server="$candidate"; break; }
  done
fi
if [[ -z "$server" ]]; then
  log "no server binary yet: building the server (debug)"
  cargo build --locked -p server
  server="$target/debug/server"
fi

api_port=$(free_port)
web_port=$(free_port)
dns_port=$(free_port)
mkdir -p "$work/html/pkg"
hashed="ais-chatrooms.Wz3_kP0-q8RtYv5nB2cD4e.wasm"
printf '\0asm' >"$work/html/pkg/$hashed"
printf 'plain' >"$work/html/pkg/ais-chatrooms.css"

# Each rewrite must find its line, so a changed shipped file fails here instead of going untested.
rewrite() {
  local from="$1" to="$2"
  grep -qF -- "$from" "$work/live-server.conf" || fail "deploy/nginx/default.conf no longer has '$from'"
  python3 - "$work/live-server.conf" "$from" "$to" <<'PY'
import sys
path, old, new = sys.argv[1:]
text = open(path, encoding="utf-8").read()
open(path, "w", encoding="utf-8").write(text.replace(old, new))
PY
}
cp "$shipped" "$work/live-server.conf"
rewrite "listen 8080;" "listen 127.0.0.1:$web_port;"
rewrite "resolver 127.0.0.11 " "resolver 127.0.0.1:$dns_port "
rewrite "http://api:3000" "http://api:$api_port"
rewrite "root /usr/share/nginx/html;" "root $work/html;"
rewrite "/var/log/nginx/access.log" "$work/access.log"
wrap "$work/live-server.conf" >"$work/live.conf"

# `api` resolves to whatever address the file holds, with a 1 s TTL (nginx keeps answers 10 s).
echo 127.0.0.1 >"$work/api-address"
"$lint_python" - "$dns_port" "$work/api-address" >"$work/dns.log" 2>&1 <<'PY' &
import sys, time
from dnslib import A, QTYPE, RR
from dnslib.server import BaseResolver, DNSServer

port, address_file = int(sys.argv[1]), sys.argv[2]

class Api(BaseResolver):
    def resolve(self, request, handler):
        reply = request.reply()
        question = request.q
        if str(question.qname).rstrip(".") == "api" and question.qtype == QTYPE.A:
            address = open(address_file, encoding="utf-8").read().strip()
            reply.add_answer(RR(question.qname, QTYPE.A, rdata=A(address), ttl=1))
        elif str(question.qname).rstrip(".") != "api":
            reply.header.rcode = 3  # NXDOMAIN
        return reply

server = DNSServer(Api(), port=port, address="127.0.0.1")
server.start_thread()
while server.isAlive():
    time.sleep(0.5)
PY
pids+=($!)

start_server() {  # address
  LEPTOS_SITE_ADDR="$1:$api_port" LEPTOS_SITE_ROOT="$work/site" \
    ALLOWED_HOSTS=127.0.0.1 TRUSTED_PROXIES=127.0.0.1/32 \
    DATABASE_URL="sqlite://$work/app.db?mode=rwc" GATEWAY_ROOT="$work/control-plane" \
    RUST_LOG=warn LOG_FORMAT=json DEMO_TOKEN_DELAY_MS=40 \
    "$server" >>"$work/server.log" 2>&1 &
  server_pid=$!
  pids+=($server_pid)
}
start_server 127.0.0.1
nginx -p "$work" -c "$work/live.conf" -g 'daemon off;' 2>>"$work/error.log" &
pids+=($!)

# The server, the DNS server and nginx start side by side: wait (up to 30 s) until a request
# through nginx reaches the server.
for _ in $(seq 1 150); do
  curl -fs "http://127.0.0.1:$web_port/readyz" >/dev/null 2>&1 && break
  sleep 0.2
done
curl -fs "http://127.0.0.1:$web_port/readyz" >/dev/null || {
  tail -n 20 "$work/server.log" "$work/error.log" "$work/dns.log" >&2
  fail "the server is not reachable through nginx"
}

log "live: nginx on 127.0.0.1:$web_port in front of $(basename "$(dirname "$server")")/server on 127.0.0.1:$api_port"
status=0
python3 - "$web_port" "$api_port" "$hashed" <<'PY' || status=$?
import http.client, json, sys, time

web_port, api_port, hashed = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]

def call(method, path, body=None, headers=None, port=web_port):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    headers = dict(headers or {})
    if body is not None:
        body = json.dumps(body)
        headers["content-type"] = "application/json"
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    data = response.read()
    connection.close()
    return response, data

def check(condition, message):
    if not condition:
        sys.exit(f"FAILED: {message}")
    print(f"  ok  {message}")

# Metrics exist on the server, and not through nginx.
response, data = call("GET", "/metrics", port=api_port)
check(response.status == 200 and b"http_requests_total" in data, "the server itself serves /metrics")
for path in ("/metrics", "/metrics/", "/metrics/anything"):
    response, data = call("GET", path)
    check(response.status == 404 and b"http_requests_total" not in data, f"GET {path} through nginx answers 404")

# The bundle: content-named files are kept for good, others revalidated.
response, _ = call("GET", f"/pkg/{hashed}")
check(response.status == 200 and response.getheader("cache-control") == "public, max-age=31536000, immutable",
      "a content-named bundle file is immutable for a year")
check(response.getheader("content-type") == "application/wasm", "wasm is served as application/wasm")
response, _ = call("GET", "/pkg/ais-chatrooms.css")
check(response.status == 200 and response.getheader("cache-control") == "public, no-cache", "a plain name is revalidated")

# An account, a token, a room with a demo agent, all through nginx. The token is asked for as a
# page on nginx's origin asks, with the session cookie and `Origin: http://127.0.0.1:<port>`: the
# server trusts an origin that matches the Host it was sent, so this passes only if nginx forwards
# the Host with its port.
response, data = call("POST", "/api/auth/signup",
                      {"email": "edge@example.com", "password": "correct horse battery", "name": "Edge"})
check(response.status in (200, 201), f"sign-up through nginx ({response.status})")
cookie = response.getheader("set-cookie").split(";")[0]
response, data = call("POST", "/api/tokens", {"name": "edge"},
                      {"cookie": cookie, "origin": f"http://127.0.0.1:{web_port}"})
check(response.status in (200, 201), f"a signed-in request from the page's origin passes the site check ({response.status})")
auth = {"authorization": "Bearer " + json.loads(data)["secret"]}
response, data = call("POST", "/api/rooms", {"name": "Edge room"}, auth)
room = json.loads(data)["id"]
response, data = call("POST", f"/api/rooms/{room}/agents",
                      {"name": "Ada", "model": "demo", "system_prompt": "", "temperature": 0.5}, auth)
check(response.status in (200, 201), f"an agent through nginx ({response.status})")

# The live stream: open it asking for gzip, then post a message; the agent's reply must arrive
# delta by delta while it is written (the demo model writes a token every 40 ms), not in one lump.
stream = http.client.HTTPConnection("127.0.0.1", web_port, timeout=15)
stream.request("GET", f"/api/rooms/{room}/stream",
               headers={**auth, "accept": "text/event-stream", "accept-encoding": "gzip"})
live = stream.getresponse()
check(live.status == 200 and live.getheader("content-type", "").startswith("text/event-stream"), "the stream opens")
check(live.getheader("content-encoding") is None, "the stream is not compressed")
response, _ = call("POST", f"/api/rooms/{room}/messages", {"content": "Tell me about nginx and streams."}, auth)
check(response.status in (200, 201), f"a message through nginx ({response.status})")

arrivals, event, started = [], None, time.monotonic()
while time.monotonic() - started < 20:
    line = live.fp.readline()
    if not line:
        break
    line = line.decode().rstrip("\n")
    if line.startswith("event:"):
        event = line.split(":", 1)[1].strip()
    elif line == "" and event:
        arrivals.append((event, time.monotonic()))
        if event == "message.done":
            break
        event = None
stream.close()
deltas = [at for name, at in arrivals if name == "message.delta"]
done = [at for name, at in arrivals if name == "message.done"]
check(len(deltas) >= 5 and done, f"the reply arrives as {len(deltas)} deltas, then message.done")
spread = done[0] - deltas[0]
check(spread >= 0.2, f"deltas arrive as they are written: the first {spread * 1000:.0f} ms before the end")
PY
if [[ $status -ne 0 ]]; then
  log "server log:"; tail -n 20 "$work/server.log" >&2
  log "nginx log:"; tail -n 20 "$work/error.log" >&2
  fail "nginx in front of the server does not behave as shipped"
fi

# The api is recreated at another address; nginx must follow the name, not the old address.
kill "$server_pid"; wait "$server_pid" 2>/dev/null || true
echo 127.0.0.2 >"$work/api-address"
start_server 127.0.0.2
moved=$(date +%s%N)
found=""
for _ in $(seq 1 60); do
  if curl -fs "http://127.0.0.1:$web_port/readyz" >/dev/null 2>&1; then found=yes; break; fi
  sleep 0.5
done
[[ -n "$found" ]] || { tail -n 5 "$work/error.log" >&2; fail "nginx did not find the api at its new address (it resolved the name once)"; }
printf '  ok  the api recreated at a new address is reached through nginx after %d ms, without restarting nginx\n' \
  $(( ($(date +%s%N) - moved) / 1000000 ))
log "nginx: the shipped configuration parses, streams events as they come, keeps /metrics inside and follows the api's address"

#!/usr/bin/env bash
# Several instances, one phone line, on this machine: Redis, PostgreSQL, two
# frontdesk instances and a round-robin load balancer (HAProxy), all on
# loopback. Prints the URLs; Ctrl-C stops everything.
#
#   scripts/cluster.sh                 # balancer on 8000, instances on 8001 and 8002
#   BALANCER_PORT=9000 scripts/cluster.sh
#   FRONTDESK_BIN=target/debug/frontdesk scripts/cluster.sh   # no release build
#
# Needs Debian's redis-server, postgresql and haproxy packages
# (apt-get install redis-server postgresql haproxy). Everything it starts
# lives in one temporary directory, removed at the end. Other settings
# (TWILIO_*, OPENAI_*, BUSINESS_*) are passed through from the environment.
set -euo pipefail
cd "$(dirname "$0")/.."

# HAProxy lives in /usr/sbin, not on every user's PATH.
export PATH="$PATH:/usr/sbin:/sbin"
BALANCER_PORT="${BALANCER_PORT:-8000}"
PORT_A="${PORT_A:-8001}"
PORT_B="${PORT_B:-8002}"
REDIS_PORT="${REDIS_PORT:-6390}"
PG_PORT="${PG_PORT:-5440}"

missing=()
command -v redis-server >/dev/null || missing+=(redis-server)
command -v haproxy >/dev/null || missing+=(haproxy)
PG_BIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
[ -n "$PG_BIN" ] && [ -x "$PG_BIN/initdb" ] || missing+=(postgresql)
if [ "${#missing[@]}" -gt 0 ]; then
  echo "missing: ${missing[*]} (apt-get install ${missing[*]})" >&2
  exit 1
fi

BIN="${FRONTDESK_BIN:-}"
if [ -z "$BIN" ]; then
  cargo build --release --locked --bin frontdesk
  BIN="${CARGO_TARGET_DIR:-target}/release/frontdesk"
fi

WORK="$(mktemp -d /tmp/frontdesk-cluster.XXXXXX)"
chmod 755 "$WORK"
PIDS=()
PG_DATA="$WORK/pg"
# PostgreSQL refuses to run as root: run it as the postgres user then.
as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

stop() {
  trap - INT TERM HUP EXIT
  echo
  echo "stopping…"
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ -d "$PG_DATA" ] && as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap stop INT TERM HUP EXIT

echo "== Redis on 127.0.0.1:$REDIS_PORT"
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
  --dir "$WORK" >"$WORK/redis.log" 2>&1 &
PIDS+=($!)

echo "== PostgreSQL on 127.0.0.1:$PG_PORT"
mkdir -p "$PG_DATA"
[ "$(id -u)" -eq 0 ] && chown postgres "$PG_DATA"
as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U frontdesk --auth=trust >"$WORK/initdb.log" 2>&1
as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_DATA/log" -w \
  -o "-p $PG_PORT -k $PG_DATA -c listen_addresses=127.0.0.1" start >/dev/null
as_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U frontdesk frontdesk

export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
export DATABASE_URL="postgres://frontdesk@127.0.0.1:$PG_PORT/frontdesk"
export PUBLIC_URL="${PUBLIC_URL:-http://127.0.0.1:$BALANCER_PORT}"
# One token for both instances, so a client may reach either.
export API_TOKEN="${API_TOKEN:-$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
export SERVER_HOST=127.0.0.1
# Both instances also share one DATA_DIR, for what is not in PostgreSQL.
export DATA_DIR="$WORK/data"

for port in "$PORT_A" "$PORT_B"; do
  echo "== frontdesk on 127.0.0.1:$port"
  SERVER_PORT="$port" "$BIN" serve >"$WORK/frontdesk-$port.log" 2>&1 &
  PIDS+=($!)
done
for port in "$PORT_A" "$PORT_B"; do
  for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$port/health" >/dev/null 2>&1 && break
    sleep 0.1
  done
  curl -fs "http://127.0.0.1:$port/health" >/dev/null || {
    echo "frontdesk on $port did not start:" >&2
    tail -20 "$WORK/frontdesk-$port.log" >&2
    exit 1
  }
done

echo "== HAProxy on 127.0.0.1:$BALANCER_PORT (round robin)"
cat >"$WORK/haproxy.cfg" <<EOF
global
  maxconn 4096
defaults
  mode http
  timeout connect 2s
  timeout client 20s
  timeout server 20s
  retries 2
  option redispatch
frontend phone_line
  bind 127.0.0.1:$BALANCER_PORT
  default_backend frontdesk
backend frontdesk
  balance roundrobin
  option httpchk GET /health
  server a 127.0.0.1:$PORT_A check inter 1s fall 2 rise 1
  server b 127.0.0.1:$PORT_B check inter 1s fall 2 rise 1
EOF
haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
PIDS+=($!)

cat <<EOF

Running (logs in $WORK):
  load balancer   http://127.0.0.1:$BALANCER_PORT      (point Twilio's webhooks here, through your tunnel)
  instance a      http://127.0.0.1:$PORT_A
  instance b      http://127.0.0.1:$PORT_B
  dashboard       http://127.0.0.1:$BALANCER_PORT/dashboard
  Redis           $REDIS_URL
  PostgreSQL      $DATABASE_URL
  API token       $API_TOKEN

Try a call through the balancer, each webhook on the next instance:
  API_TOKEN=$API_TOKEN scripts/try_call.sh http://127.0.0.1:$BALANCER_PORT
Stop one instance (kill -TERM) and the call goes on through the other. Ctrl-C stops everything.
EOF
wait "${PIDS[@]}"

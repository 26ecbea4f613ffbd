#!/usr/bin/env bash
# The slow-client flood: N connections each send half a request head and then
# nothing (slowloris), and while they are all held open a normal client opens
# fresh connections and asks for HelloWorld.html, one at a time. Printed per
# server: how many slow connections it held, and the normal client's latency
# (median and max over the probes, each bounded to 5 s; a probe that got no
# 200 in that time counts as failed).
#
#   bash benches/slow_clients.sh [-n SLOW] [-k PROBES] [-S raw,hyper,lighttpd,nginx] [-b BINARY]
#
#   -n  slow connections (default 9000; the servers' default connection limit is 10,000)
#   -k  normal requests, one after another (default 50)
#   -S  servers (default raw,hyper,lighttpd,nginx)
#   -b  the twinserve binary (default: built in release from this checkout)
#
# The head timeout of every server is at least 10 s and the flood lasts less, so the
# slow heads are all still open while the probes run. Installs lighttpd, nginx and curl
# with apt-get when missing, raises its own descriptor limit, stops every server it
# started however it ends, and talks to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '9,14p' "$0" >&2; exit 2; }
SLOW=9000 PROBES=50 SERVERS=raw,hyper,lighttpd,nginx BIN=''
while getopts "n:k:S:b:h" opt; do
  case $opt in
    n) SLOW=$OPTARG ;;
    k) PROBES=$OPTARG ;;
    S) SERVERS=$OPTARG ;;
    b) BIN=$OPTARG ;;
    *) usage ;;
  esac
done
[[ $SLOW =~ ^[0-9]+$ && $PROBES =~ ^[1-9][0-9]*$ ]] || usage
IFS=, read -r -a server_list <<<"$SERVERS"

# shellcheck source=benches/common.sh
source benches/common.sh
need curl:curl python3:python3
for s in "${server_list[@]}"; do
  case $s in
    lighttpd) need lighttpd:lighttpd ;;
    nginx) need nginx:nginx ;;
    raw | hyper) ;;
    *) echo "unknown server $s" >&2; usage ;;
  esac
done
if [[ -z $BIN ]]; then
  cargo build --release -q
  BIN=${CARGO_TARGET_DIR:-target}/release/twinserve
fi
ulimit -n "$(ulimit -Hn)"
(( $(ulimit -n) > SLOW + 100 )) || { echo "descriptor limit $(ulimit -n) too low for -n $SLOW" >&2; exit 1; }

SCRATCH=$(mktemp -d /tmp/twinserve-slow.XXXXXX)
PORT=18700
pid=''
stop() { [[ -n $pid ]] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; pid=''; }
trap 'stop; rm -rf "$SCRATCH"' EXIT

start() {
  case $1 in
    raw | hyper) "$BIN" -q serve --backend "$1" --root site --host 127.0.0.1 --port $PORT >"$SCRATCH/$1.log" 2>&1 & ;;
    lighttpd)
      rm -rf "$SCRATCH/lighttpd" && mkdir -p "$SCRATCH/lighttpd"
      lighttpd_config "$SCRATCH/lighttpd" $PORT
      # lighttpd's own limit is 1024 descriptors unless told.
      echo 'server.max-fds = 20000' >>"$SCRATCH/lighttpd/lighttpd.conf"
      echo 'server.max-connections = 10000' >>"$SCRATCH/lighttpd/lighttpd.conf"
      lighttpd -D -f "$SCRATCH/lighttpd/lighttpd.conf" & ;;
    nginx)
      mkdir -p "$SCRATCH/nginx"
      cat >"$SCRATCH/nginx/nginx.conf" <<CONF
daemon off; master_process off; worker_processes 1; worker_rlimit_nofile 20000;
error_log $SCRATCH/nginx/error.log; pid $SCRATCH/nginx/nginx.pid;
events { worker_connections 10100; }
http { access_log off; client_header_timeout 10s;
  server { listen 127.0.0.1:$PORT; root $PWD/site; } }
CONF
      nginx -c "$SCRATCH/nginx/nginx.conf" & ;;
  esac
  pid=$!
  wait_for "http://127.0.0.1:$PORT/HelloWorld.html"
}

printf 'server\tslow_held\tprobes_ok\tmedian_ms\tmax_ms\n'
for s in "${server_list[@]}"; do
  start "$s"
  python3 - "$PORT" "$SLOW" "$PROBES" "$s" <<'PY'
import socket, statistics, sys, time
port, slow_n, probes, name = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
addr = ("127.0.0.1", port)
slow = []
began = time.monotonic()
# Opening is bounded too: whatever is open after 8 s is the flood.
while len(slow) < slow_n and time.monotonic() - began < 8:
    try:
        s = socket.create_connection(addr, timeout=2)
        s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
        slow.append(s)
    except OSError:
        break
times, ok = [], 0
for _ in range(probes):
    t0 = time.monotonic()
    try:
        with socket.create_connection(addr, timeout=5) as c:
            c.settimeout(5)
            c.sendall(b"GET /HelloWorld.html HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            if c.recv(12).startswith(b"HTTP/1.1 200"):
                ok += 1
                times.append((time.monotonic() - t0) * 1000)
    except OSError:
        pass
# Still open, unanswered: a server that closed the slow ones early shows here.
held = 0
for s in slow:
    s.setblocking(False)
    try:
        held += 0 if s.recv(1) is not None else 0
    except BlockingIOError:
        held += 1
    except OSError:
        pass
    s.close()
med = f"{statistics.median(times):.1f}" if times else "-"
mx = f"{max(times):.1f}" if times else "-"
print(f"{name}\t{held}\t{ok}/{probes}\t{med}\t{mx}", flush=True)
PY
  stop
done

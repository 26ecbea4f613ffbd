#!/usr/bin/env bash
# HTTPS and HTTP/2: nginx against the hyper backend, each serving the same folder on
# loopback with the same certificate (ECDSA P-256, made here with openssl), one server
# at a time. The server is pinned to one core (nginx: 1 worker, sendfile off;
# twinserve: --threads 1) and the load tool to the other, as benches/run.sh pins.
#
#   bash benches/tls.sh [-d SECONDS] [-r ROUNDS] [-n IDLE_CONNECTIONS] [-p PORT]
#
#   -d  seconds of load per scenario (default 8)
#   -r  rounds; every figure printed is the median over rounds (default 3)
#   -n  connections held idle for the memory figure (default 1000)
#   -p  loopback port the servers listen on (default 18700)
#
# Scenarios:
#   T1  HTTPS small file (HelloWorld.html), keep-alive, 64 connections: wrk -t1 -c64
#   T2  HTTP/2 over TLS, 64 streams over 8 connections: h2load -t1 -c8 -m8 -n 7992
#   M   memory per idle connection: VmRSS growth while N clients hold a connection open
#       after one request, plain HTTP/1.1 and TLS, divided by N
#
# Both servers close a keep-alive connection after 1000 requests (nginx's default
# keepalive_requests, twinserve's limit), so both pay the same reconnections.
# Installs wrk, nghttp2-client (h2load), nginx, curl and openssl with apt-get when
# missing; builds twinserve in release; stops every server it started however it ends.
# Every load is bounded in time; nothing listens or connects beyond 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '7,12p' "$0" >&2; exit 2; }
DURATION=8 ROUNDS=3 IDLE=1000 PORT=18700
while getopts "d:r:n:p:h" opt; do
  case $opt in
    d) DURATION=$OPTARG ;;
    r) ROUNDS=$OPTARG ;;
    n) IDLE=$OPTARG ;;
    p) PORT=$OPTARG ;;
    *) usage ;;
  esac
done
[[ $DURATION =~ ^[1-9][0-9]*$ && $ROUNDS =~ ^[1-9][0-9]*$ && $IDLE =~ ^[1-9][0-9]*$ ]] || usage
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}

# shellcheck source=benches/common.sh
source benches/common.sh
need wrk:wrk curl:curl taskset:util-linux python3:python3 h2load:nghttp2-client \
  nginx:nginx openssl:openssl

echo "building twinserve (release)" >&2
cargo build --release --quiet --bin twinserve
TARGET_DIR=${CARGO_TARGET_DIR:-target}
[[ $TARGET_DIR = /* ]] || TARGET_DIR=$PWD/$TARGET_DIR
BIN=$TARGET_DIR/release/twinserve

WORK=$(mktemp -d /tmp/twinserve-tls-bench.XXXXXX)
chmod 755 "$WORK"
ROOT=$WORK/root
cp -r site "$ROOT"
chmod -R a+rX "$ROOT"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
  -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
chmod 644 "$WORK/key.pem"

SERVER_PID=''
stop_server() {
  [ -n "$SERVER_PID" ] || return 0
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=''
}
cleanup() { stop_server; rm -rf "$WORK"; }
trap cleanup EXIT
trap 'exit 130' INT TERM
ulimit -n 65536 2>/dev/null || ulimit -n 8192 2>/dev/null || true

write_nginx_conf() { # $1: "ssl http2" or ""
  local tls=''
  [ -n "$1" ] && tls="ssl_certificate $WORK/cert.pem; ssl_certificate_key $WORK/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3;"
  nginx_config "$WORK/nginx" "$ROOT" "$PORT" "sendfile off; keepalive_requests 1000;" "$1" "$tls"
}

# start SERVER TLS — SERVER nginx|hyper, TLS yes|no; waits until it answers.
start() {
  local scheme=http
  [ "$2" = yes ] && scheme=https
  case $1 in
    nginx)
      if [ "$2" = yes ]; then write_nginx_conf "ssl http2"; else write_nginx_conf ""; fi
      taskset -c "$SERVER_CPU" nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" &
      ;;
    hyper)
      local tls=()
      [ "$2" = yes ] && tls=(--tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem")
      taskset -c "$SERVER_CPU" "$BIN" -q serve --backend hyper --threads 1 --root "$ROOT" \
        --port "$PORT" "${tls[@]}" &
      ;;
  esac
  SERVER_PID=$!
  local _
  for _ in $(seq 100); do
    curl -sk -o /dev/null --max-time 10 "$scheme://127.0.0.1:$PORT/HelloWorld.html" && return 0
    sleep 0.1
  done
  echo "no answer from $1" >&2
  exit 1
}

# rss KiB of the server's processes (nginx: master and worker).
rss() {
  local total=0 pid kb
  for pid in $SERVER_PID $(pgrep -P "$SERVER_PID" || true); do
    kb=$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    total=$((total + kb))
  done
  echo "$total"
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

URL=https://127.0.0.1:$PORT/HelloWorld.html
declare -A T1 T2
for round in $(seq "$ROUNDS"); do
  for server in nginx hyper; do
    start "$server" yes
    rps=$(taskset -c "$LOAD_CPU" wrk -t1 -c64 -d"${DURATION}s" "$URL" |
      awk '/^Requests\/sec/ {print $2}')
    T1[$server]+="$rps "
    # h2load does not reconnect after a GOAWAY, so each run asks 999 requests of each
    # connection (under both servers' 1000); runs repeat for DURATION seconds, and the
    # figure is their median.
    rates='' end=$((SECONDS + DURATION))
    while ((SECONDS < end)); do
      out=$(taskset -c "$LOAD_CPU" h2load -t1 -c8 -m8 -n 7992 "$URL" 2>&1)
      failed=$(awk '/^requests:/ {print $10 + $12}' <<<"$out")
      [ "$failed" = 0 ] || echo "$server T2: $failed requests failed or errored" >&2
      rates+="$(awk '/^finished in/ {gsub(",", "", $4); print $4}' <<<"$out") "
    done
    h2=$(tr ' ' '\n' <<<"$rates" | grep . | median)
    T2[$server]+="$h2 "
    echo "round $round $server: T1 $rps req/s, T2 $h2 req/s" >&2
    stop_server
  done
done

# Idle connections: each client sends one keep-alive request, reads the answer and
# waits; the server's RSS is read before the clients connect and while they wait.
idle_kib() { # $1 yes|no
  python3 - "$PORT" "$IDLE" "$1" "$SERVER_PID" <<'PY'
import socket, ssl, sys, time
port, n, tls, pid = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "yes", sys.argv[4]
def rss():
    import subprocess
    pids = [pid] + subprocess.run(["pgrep", "-P", pid], capture_output=True, text=True).stdout.split()
    total = 0
    for p in pids:
        for line in open(f"/proc/{p}/status"):
            if line.startswith("VmRSS"):
                total += int(line.split()[1])
    return total
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
ctx.set_alpn_protocols(["http/1.1"])
before = rss()
held = []
for _ in range(n):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    if tls:
        s = ctx.wrap_socket(s, server_hostname="localhost")
    s.sendall(b"GET /HelloWorld.html HTTP/1.1\r\nHost: localhost\r\n\r\n")
    got = b""
    while b"</html>" not in got:
        chunk = s.recv(65536)
        if not chunk:
            raise SystemExit("closed early")
        got += chunk
    held.append(s)
time.sleep(0.5)
after = rss()
print(f"{(after - before) / n:.1f}")
for s in held:
    s.close()
PY
}
declare -A MEM
for server in nginx hyper; do
  for tls in no yes; do
    start "$server" "$tls"
    MEM[$server-$tls]=$(idle_kib "$tls")
    stop_server
  done
done

echo
echo "$(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2}'), $(nproc) cores;" \
  "${DURATION}s per run, median of $ROUNDS"
printf '%-8s %14s %14s %16s %16s\n' server "T1 HTTPS req/s" "T2 h2 req/s" "idle plain KiB" "idle TLS KiB"
for server in nginx hyper; do
  printf '%-8s %14s %14s %16s %16s\n' "$server" \
    "$(tr ' ' '\n' <<<"${T1[$server]}" | grep . | median)" \
    "$(tr ' ' '\n' <<<"${T2[$server]}" | grep . | median)" \
    "${MEM[$server-no]}" "${MEM[$server-yes]}"
done

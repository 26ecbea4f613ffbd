#!/usr/bin/env bash
# S3's load (keep-alive, 8 connections) on files of several sizes, for lighttpd and both
# backends, each server pinned to CPU 0 and wrk to CPU 1 as in benches/run.sh: requests/s
# and requests per server CPU-second, medians over rounds. Run against two builds (BIN=)
# it shows where sending a file with sendfile starts to cost less than copying it from
# memory: how far hyper on plain HTTP/1 keeps files in memory (`memory_file_limit` in
# src/config.rs) was set from such a pair of runs (docs/benchmarks.md).
#
#   benches/sizes.sh [-d SECONDS, default 5] [-r ROUNDS, default 3]
#                    [-s SIZES in KiB, default 64,128,256,512,1024] [-S SERVERS, default lighttpd,raw,hyper]
#
# BIN=path measures an already built twinserve. Needs wrk, curl, lighttpd and python3
# (installed with apt-get when missing). Loopback only; every load is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/common.sh
DUR=5 ROUNDS=3 SIZES=64,128,256,512,1024 SERVERS=lighttpd,raw,hyper
while getopts d:r:s:S:h opt; do
  case $opt in
    d) DUR=$OPTARG ;; r) ROUNDS=$OPTARG ;; s) SIZES=$OPTARG ;; S) SERVERS=$OPTARG ;;
    *) sed -n '2,13p' "$0"; exit 2 ;;
  esac
done
need wrk:wrk curl:curl lighttpd:lighttpd taskset:util-linux python3:python3
# shellcheck disable=SC2119 # no examples to build
release_bin
PORT=18496
WORK=$(mktemp -d)
PID=
trap '[ -n "$PID" ] && kill $PID 2>/dev/null; rm -rf "$WORK"' EXIT
lighttpd_config "$WORK" $PORT
echo 'server.network-backend = "sendfile"' >>"$WORK/lighttpd.conf"
IFS=, read -ra sizes <<<"$SIZES"
IFS=, read -ra servers <<<"$SERVERS"
for k in "${sizes[@]}"; do head -c $((k * 1024)) /dev/urandom >"$WORK/site/f${k}k.bin"; done
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rows=$WORK/rows
for round in $(seq "$ROUNDS"); do
  for server in "${servers[@]}"; do
    case $server in
      lighttpd) taskset -c 0 lighttpd -D -f "$WORK/lighttpd.conf" 2>/dev/null & ;;
      raw | hyper) taskset -c 0 "$BIN" -q serve --backend "$server" --root "$WORK/site" --port $PORT >/dev/null 2>&1 & ;;
      *) echo "unknown server $server" >&2; exit 2 ;;
    esac
    PID=$!
    wait_for "http://127.0.0.1:$PORT/HelloWorld.html"
    for k in "${sizes[@]}"; do
      url=http://127.0.0.1:$PORT/f${k}k.bin
      curl -s -o /dev/null --max-time 10 "$url"
      before=$(ticks $PID)
      rps=$(taskset -c 1 wrk -t1 -c8 -d"${DUR}s" "$url" | awk '/Requests\/sec/{print $2}')
      after=$(ticks $PID)
      # Clock ticks are 1/100 s (USER_HZ).
      awk -v s="$server" -v k="$k" -v r="$rps" -v t=$((after - before)) -v d="$DUR" \
        'BEGIN{printf "%s\t%s\t%.0f\t%.0f\n", s, k, r, (t > 0 ? r * d * 100 / t : 0)}' >>"$rows"
    done
    kill $PID; wait $PID 2>/dev/null || true; PID=
  done
  echo "round $round of $ROUNDS done" >&2
done
echo "medians over $ROUNDS round(s) of ${DUR} s; keep-alive, 8 connections"
python3 - "$rows" "$SIZES" "$SERVERS" <<'PY'
import statistics, sys
rows = [line.split("\t") for line in open(sys.argv[1]).read().split("\n") if line]
sizes, servers = sys.argv[2].split(","), sys.argv[3].split(",")
def median(server, k, column):
    return statistics.median(float(r[column]) for r in rows if r[0] == server and r[1] == k)
print(f"{'KiB':>6}" + "".join(f"{s + ' req/s':>16}{s + ' /CPU-s':>16}" for s in servers))
for k in sizes:
    print(f"{k:>6}" + "".join(f"{median(s, k, 2):>16.0f}{median(s, k, 3):>16.0f}" for s in servers))
PY

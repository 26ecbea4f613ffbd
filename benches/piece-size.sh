#!/usr/bin/env bash
# What the piece size (`--chunk-size`) does to a large download: for each size, each backend
# serves a 100 MiB file pinned to one CPU (as benches/run.sh runs it) while wrk downloads it
# over one connection (S4) on the other, and the script prints downloads a second, TCP
# segments sent per download (both directions, from `nstat`, so the peer's acknowledgements
# are in it) and the server process's CPU per download (utime+stime from /proc/PID/stat:
# over loopback part of the sending runs on whichever CPU drives it, so what the other CPU
# spends is not in it; benches/cpu-split.sh shows both). The download under way when the
# load stops is in the segments and CPU but not in the count: one download's worth a load.
# lighttpd serves the same file once a round, for reference. Each server gets one warm-up
# download, and the file is read back into the page cache before each load.
#
#   benches/piece-size.sh [-d SECONDS] [-r ROUNDS] [SIZE...]
#
#   -d  seconds of load per server and size (default 4)
#   -r  rounds, each over every size (default 2)
#   SIZE  piece sizes in bytes (default 32768 65536 131072 262144 1048576)
#
# BIN=path measures an already built twinserve. Needs wrk, curl, lighttpd, nstat (installed
# with apt-get if missing). Loopback only; every load is bounded. `nstat` counts the whole
# machine: run it with nothing else sending.
set -euo pipefail
SELF=$(readlink -f "$0")
cd "$(dirname "$SELF")/.."
usage() { sed -n '13,17p' "$SELF" >&2; exit 2; }

DURATION=4 ROUNDS=2
while getopts "d:r:h" opt; do
  case $opt in
    d) DURATION=$OPTARG ;;
    r) ROUNDS=$OPTARG ;;
    *) usage ;;
  esac
done
shift $((OPTIND - 1))
[[ $DURATION =~ ^[1-9][0-9]*$ && $ROUNDS =~ ^[1-9][0-9]*$ ]] || usage
if [ $# -gt 0 ]; then SIZES=("$@"); else SIZES=(32768 65536 131072 262144 1048576); fi
for size in "${SIZES[@]}"; do
  # `serve --chunk-size` takes 1 to 16 MiB.
  if ! [[ $size =~ ^[1-9][0-9]{0,7}$ ]] || ((size > 16 << 20)); then
    echo "piece-size.sh: $size is not a piece size (1 to 16777216 bytes)" >&2
    exit 2
  fi
done
source benches/common.sh
need wrk:wrk curl:curl lighttpd:lighttpd nstat:iproute2 taskset:util-linux
# shellcheck disable=SC2119 # the script's arguments are not examples to build
release_bin
PORT=18499
URL=http://127.0.0.1:$PORT/100m.bin
scratch
lighttpd_config "$WORK" $PORT
head -c $((100 << 20)) /dev/urandom >"$WORK/site/100m.bin"
touch -d '1 hour ago' "$WORK/site/100m.bin"

TICKS_PER_S=$(getconf CLK_TCK)

measure() { # name command... -> one row
  local name=$1 n segs before after
  shift
  start_pinned 100 "$WORK/server.log" "$URL" "$@" || exit 1
  cat "$WORK/site/100m.bin" >/dev/null
  curl -fsS -o /dev/null --max-time 60 "$URL"
  nstat -n >/dev/null
  before=$(cpu_ticks "$SPID")
  taskset -c "${LOAD_CPU:-1}" wrk -t1 -c1 -d"${DURATION}s" --timeout 10s "$URL" >"$WORK/wrk.log"
  after=$(cpu_ticks "$SPID")
  segs=$(nstat TcpOutSegs | awk '$1 == "TcpOutSegs" {print $2}')
  stop_pinned
  wrk_clean "$WORK/wrk.log" "$name" || exit 1
  n=$(awk '/requests in/ {print $1}' "$WORK/wrk.log")
  [ "${n:-0}" -gt 0 ] || { echo "$name: no download finished" >&2; exit 1; }
  awk -v name="$name" -v n="$n" -v d="$DURATION" -v segs="${segs:-0}" \
    -v ms=$(((after - before) * 1000 / TICKS_PER_S)) \
    'BEGIN { printf "%-24s %10.1f %14.0f %16.1f\n", name, n / d, segs / n, ms / n }'
}

printf '%-24s %10s %14s %16s\n' server downloads/s segments/dl "CPU ms/dl"
for ((round = 1; round <= ROUNDS; round++)); do
  measure lighttpd lighttpd -D -f "$WORK/lighttpd.conf"
  for size in "${SIZES[@]}"; do
    for backend in raw hyper; do
      measure "$backend $size" "$BIN" -q serve --backend "$backend" --root "$WORK/site" \
        --host 127.0.0.1 --port $PORT --chunk-size "$size"
    done
  done
done

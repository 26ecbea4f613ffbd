#!/usr/bin/env bash
# What the access log costs: S1 (HelloWorld.html, keep-alive, 64 connections)
# against each backend with and without `--access-log FILE`, the two runs of a
# pair back to back and the order swapped every round, so drift shows as spread.
# The server is pinned to one core and wrk to the other, as in run.sh.
#
#   bash benches/access_log.sh [-d SECONDS] [-r ROUNDS] [-f common|combined|json]
#
# Prints one row per run (backend, log on/off, req/s, requests per second of
# server CPU from /proc/PID/stat) and the medians of each backend with the log
# on over off; on a shared machine the CPU figure is the steadier one. Installs wrk and curl with apt-get
# when missing; builds twinserve in release (or uses $TWINSERVE_BIN); removes every server it started
# and the log files however it ends. Everything stays on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=6 ROUNDS=3 FORMAT=combined PORT=18700
while getopts "d:r:f:h" opt; do
  case $opt in
    d) DURATION=$OPTARG ;;
    r) ROUNDS=$OPTARG ;;
    f) FORMAT=$OPTARG ;;
    *) sed -n '7p' "$0" >&2; exit 2 ;;
  esac
done
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}

# shellcheck source=benches/common.sh
source benches/common.sh
need wrk:wrk curl:curl taskset:util-linux
if [[ -z ${TWINSERVE_BIN:-} ]]; then
  cargo build --release -q
fi
BIN=${TWINSERVE_BIN:-${CARGO_TARGET_DIR:-target}/release/twinserve}
WORK=$(mktemp -d)
SERVER=''
cleanup() { [[ -n $SERVER ]] && kill "$SERVER" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

echo "CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1), server on CPU $SERVER_CPU, wrk on CPU $LOAD_CPU" >&2
TICKS=$(getconf CLK_TCK)

printf 'round\tbackend\tlog\treq/s\treq per CPU-s\n' | tee "$WORK/rows.tsv"
for round in $(seq "$ROUNDS"); do
  order=(off on)
  ((round % 2 == 0)) && order=(on off)
  for backend in raw hyper; do
    for log in "${order[@]}"; do
      args=(serve site --backend "$backend" --port "$PORT" -q)
      [[ $log == on ]] && args+=(--access-log "$WORK/access.log" --log-format "$FORMAT")
      taskset -c "$SERVER_CPU" "$BIN" "${args[@]}" 2>"$WORK/server.err" &
      SERVER=$!
      wait_for "http://127.0.0.1:$PORT/HelloWorld.html"
      cpu_before=$(cpu_ticks "$SERVER")
      taskset -c "$LOAD_CPU" wrk -t1 -c64 -d"${DURATION}s" "http://127.0.0.1:$PORT/HelloWorld.html" >"$WORK/wrk.out"
      cpu=$(($(cpu_ticks "$SERVER") - cpu_before))
      rps=$(sed -n 's/^Requests\/sec: *//p' "$WORK/wrk.out")
      requests=$(sed -n 's/^ *\([0-9]*\) requests in.*/\1/p' "$WORK/wrk.out")
      per_cpu=$((requests * TICKS / (cpu > 0 ? cpu : 1)))
      kill -TERM "$SERVER"
      wait "$SERVER" || true
      SERVER=''
      if [[ $log == on ]]; then
        echo "  log lines: $(wc -l <"$WORK/access.log")" >&2
        rm -f "$WORK/access.log"
      fi
      printf '%s\t%s\t%s\t%s\t%s\n' "$round" "$backend" "$log" "$rps" "$per_cpu" | tee -a "$WORK/rows.tsv"
    done
  done
done
python3 - "$WORK/rows.tsv" <<'PY'
import statistics, sys
rows = [l.split('\t') for l in open(sys.argv[1]).read().splitlines()[1:]]
for backend in ('raw', 'hyper'):
    def med(log, col):
        return statistics.median(float(r[col]) for r in rows if r[1] == backend and r[2] == log)
    off, on = med('off', 3), med('on', 3)
    coff, con = med('off', 4), med('on', 4)
    print(f"{backend}: req/s off {off:.0f}, on {on:.0f} (on/off {on / off:.3f}); "
          f"req per server CPU-second off {coff:.0f}, on {con:.0f} (on/off {con / coff:.3f})")
PY

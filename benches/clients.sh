#!/usr/bin/env bash
# The built-in client's load mode against wrk, oha and ab, in one run: each loads the
# same lighttpd (pinned to CPU 0, the tool to CPU 1) with CONNS keep-alive connections for
# SECONDS, ROUNDS times in alternating order. Prints one TSV row per tool and round
# (requests/s, p50 and p99 in ms, CPU time per request in µs, errors), then the medians,
# each tool's ratio to wrk, and its errors over all rounds. With `close` as the fourth
# argument every request gets a connection of its own instead (twinserve --no-keepalive,
# oha --disable-keepalive, wrk sending `Connection: close`, ab without -k). With `rate=R`
# it is an open loop at R requests/s on kept connections, run by the two tools that
# schedule requests and correct for coordinated omission: twinserve `--rate R` and
# `oha -q R --latency-correction`; the latencies printed are the corrected ones and the
# ratios are to oha.
#
#   benches/clients.sh [SECONDS per run, default 8] [ROUNDS, default 2] [CONNS, default 64] [keepalive|close|rate=R]
#
# With CONNS above 1000 it raises `ulimit -n` and lighttpd's connection limits, and runs
# only twinserve and wrk (ab cannot hold that many). Needs lighttpd, wrk, ab
# (apache2-utils) and taskset, installed if missing; oha runs only if already installed
# (`cargo install oha`). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-8}
ROUNDS=${2:-2}
CONNS=${3:-64}
MODE=${4:-keepalive}
case $MODE in
  keepalive) TS_FLAGS=() OHA_FLAGS=() WRK_FLAGS=() AB_FLAGS=(-k) ;;
  close) TS_FLAGS=(--no-keepalive) OHA_FLAGS=(--disable-keepalive) WRK_FLAGS=(-H "Connection: close") AB_FLAGS=() ;;
  rate=[1-9]*) RATE=${MODE#rate=} TS_FLAGS=(--rate "$RATE") OHA_FLAGS=(-q "$RATE" --latency-correction) ;;
  *) echo "the fourth argument is keepalive, close or rate=R, not $MODE" >&2; exit 2 ;;
esac
source benches/common.sh
need lighttpd:lighttpd wrk:wrk ab:apache2-utils taskset:util-linux curl:curl
cargo build --release --quiet
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/twinserve
PORT=18495
URL=http://127.0.0.1:$PORT/HelloWorld.html
WORK=$(mktemp -d)
trap 'kill $LPID 2>/dev/null; rm -rf "$WORK"' EXIT
lighttpd_config "$WORK" $PORT
if (( CONNS > 1000 )); then
  FDS=$(ulimit -Hn)
  ulimit -n "$FDS"
  cat >>"$WORK/lighttpd.conf" <<CONF
server.max-fds = $FDS
server.max-connections = $(( CONNS + 16 ))
server.listen-backlog = 4096
CONF
fi
taskset -c 0 lighttpd -D -f "$WORK/lighttpd.conf" &
LPID=$!
wait_for "$URL"

# cpu CMD... — runs CMD, passes its stdout through, and appends its CPU seconds (user +
# system) to $WORK/cpu.
cpu() {
  python3 - "$WORK/cpu" "$@" <<'PY'
import resource, subprocess, sys
out = subprocess.run(sys.argv[2:], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True).stdout
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
open(sys.argv[1], "w").write(f"{ru.ru_utime + ru.ru_stime}\n")
sys.stdout.buffer.write(out)
PY
}

# Each prints "rps p50_ms p99_ms requests errors".
ms() { awk '{v=$1; if (v ~ /us$/) v=v/1000; else if (v ~ /ms$/) v=v+0; else if (v ~ /s$/) v=v*1000; print v}'; }
run_twinserve() {
  cpu taskset -c 1 "$BIN" client "$URL" -c "$CONNS" -t 1 -d "${DUR}s" "${TS_FLAGS[@]}" --json |
    python3 -c 'import json,sys; r=json.load(sys.stdin); l=r["corrected_latency_ms"] or r["latency_ms"]; print(r["requests_per_s"], l["p50"], l["p99"], r["responses"], r["errors"])'
}
run_oha() {
  cpu taskset -c 1 oha --no-tui --output-format json -c "$CONNS" -z "${DUR}s" "${OHA_FLAGS[@]}" "$URL" |
    python3 -c 'import json,sys; r=json.load(sys.stdin); p=r["latencyPercentiles"]; s=r["summary"]; print(s["requestsPerSec"], p["p50"]*1000, p["p99"]*1000, sum(r["statusCodeDistribution"].values()), sum(r["errorDistribution"].values()))'
}
run_wrk() {
  local out; out=$(cpu taskset -c 1 wrk --latency -t1 -c"$CONNS" -d"${DUR}s" "${WRK_FLAGS[@]}" "$URL")
  echo "$(awk '/Requests\/sec/{print $2}' <<<"$out") $(awk '/^ +50%/{print $2}' <<<"$out" | ms) $(awk '/^ +99%/{print $2}' <<<"$out" | ms) $(awk '/requests in/{print $1}' <<<"$out") $(awk -F'[ ,]+' '/Socket errors/{print $5+$7+$9+$11; f=1} END{if(!f) print 0}' <<<"$out")"
}
run_ab() {
  # ab stops at -n or -t, whichever comes first; -t alone caps -n at 50,000.
  local out; out=$(cpu taskset -c 1 ab -q "${AB_FLAGS[@]}" -c "$CONNS" -t "$DUR" -n 100000000 "$URL" 2>&1)
  echo "$(awk '/Requests per second/{print $4}' <<<"$out") $(awk '/^ +50%/{print $2}' <<<"$out") $(awk '/^ +99%/{print $2}' <<<"$out") $(awk '/Complete requests/{print $3}' <<<"$out") $(awk '/Failed requests/{print $3}' <<<"$out")"
}

BASE=wrk
if [[ -n ${RATE:-} ]]; then
  command -v oha >/dev/null || { echo "rate=R compares with oha, which is not installed (cargo install oha)" >&2; exit 1; }
  TOOLS=(twinserve oha) BASE=oha
else
  TOOLS=(twinserve wrk)
  (( CONNS <= 1000 )) && TOOLS+=(ab)
  command -v oha >/dev/null && TOOLS+=(oha) || echo "oha is not installed: skipped (cargo install oha)" >&2
fi
RESULTS=$WORK/results.tsv
printf 'tool\tround\trps\tp50_ms\tp99_ms\tcpu_us_per_req\terrors\n' | tee "$RESULTS"
for round in $(seq "$ROUNDS"); do
  order=("${TOOLS[@]}")
  if (( round % 2 == 0 )); then mapfile -t order < <(printf '%s\n' "${TOOLS[@]}" | tac); fi
  for tool in "${order[@]}"; do
    read -r rps p50 p99 n errors < <("run_$tool")
    cpu_us=$(awk -v c="$(cat "$WORK/cpu")" -v n="$n" 'BEGIN{printf "%.2f", c * 1e6 / n}')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$tool" "$round" "$rps" "$p50" "$p99" "$cpu_us" "$errors" | tee -a "$RESULTS"
  done
done
python3 - "$RESULTS" "$BASE" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
tools = list(dict.fromkeys(r["tool"] for r in rows))
med = lambda tool, col: statistics.median(float(r[col]) for r in rows if r["tool"] == tool)
base = med(sys.argv[2], "rps")
print(f"\nmedians, and requests/s as a ratio to {sys.argv[2]}:")
print(f"{'tool':<10}{'req/s':>10}{'ratio':>8}{'p50 ms':>9}{'p99 ms':>9}{'CPU µs/req':>12}{'errors':>8}")
for tool in tools:
    rps = med(tool, "rps")
    print(f"{tool:<10}{rps:>10.0f}{rps / base:>7.2f}x{med(tool, 'p50_ms'):>9.3f}{med(tool, 'p99_ms'):>9.3f}{med(tool, 'cpu_us_per_req'):>12.2f}{sum(int(float(r['errors'])) for r in rows if r['tool'] == tool):>8}")
PY

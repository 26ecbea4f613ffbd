#!/usr/bin/env bash
# The built-in client's load mode against oha, wrk and ab, in one run: each loads the
# same lighttpd (pinned to CPU 0, the tool to CPU 1) with 64 keep-alive connections for
# SECONDS, ROUNDS times in alternating order. Prints one TSV row per tool and round
# (requests/s, p50 and p99 in ms), then the medians and each tool's ratio to oha.
#
#   benches/clients.sh [SECONDS per run, default 8] [ROUNDS, default 2]
#
# Needs lighttpd, wrk, ab (apache2-utils), taskset and oha (`cargo install oha`);
# installs the Debian ones if missing. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-8}
ROUNDS=${2:-2}
source benches/common.sh
need lighttpd:lighttpd wrk:wrk ab:apache2-utils taskset:util-linux curl:curl
command -v oha >/dev/null || cargo install --quiet --locked oha
cargo build --release --quiet
BIN=$PWD/target/release/twinserve
PORT=18495
URL=http://127.0.0.1:$PORT/HelloWorld.html
WORK=$(mktemp -d)
trap 'kill $LPID 2>/dev/null; rm -rf "$WORK"' EXIT
lighttpd_config "$WORK" $PORT
taskset -c 0 lighttpd -D -f "$WORK/lighttpd.conf" &
LPID=$!
wait_for "$URL"

# Each prints "rps p50_ms p99_ms".
ms() { awk '{v=$1; if (v ~ /us$/) v=v/1000; else if (v ~ /ms$/) v=v+0; else if (v ~ /s$/) v=v*1000; print v}'; }
run_twinserve() {
  taskset -c 1 "$BIN" client 127.0.0.1 $PORT /HelloWorld.html --threads 64 --keep-alive \
    --requests 100000000 --duration "$DUR" --json |
    python3 -c 'import json,sys; r=json.load(sys.stdin); print(r["requests_per_s"], r["latency_ms"]["p50"], r["latency_ms"]["p99"])'
}
run_oha() {
  taskset -c 1 oha --no-tui --output-format json -c 64 -z "${DUR}s" "$URL" |
    python3 -c 'import json,sys; r=json.load(sys.stdin); p=r["latencyPercentiles"]; print(r["summary"]["requestsPerSec"], p["p50"]*1000, p["p99"]*1000)'
}
run_wrk() {
  local out; out=$(taskset -c 1 wrk --latency -t1 -c64 -d"${DUR}s" "$URL")
  echo "$(awk '/Requests\/sec/{print $2}' <<<"$out") $(awk '/^ +50%/{print $2}' <<<"$out" | ms) $(awk '/^ +99%/{print $2}' <<<"$out" | ms)"
}
run_ab() {
  # ab stops at -n or -t, whichever comes first; -t alone caps -n at 50,000.
  local out; out=$(taskset -c 1 ab -q -k -c 64 -t "$DUR" -n 100000000 "$URL" 2>&1)
  echo "$(awk '/Requests per second/{print $4}' <<<"$out") $(awk '/^ +50%/{print $2}' <<<"$out") $(awk '/^ +99%/{print $2}' <<<"$out")"
}

TOOLS=(twinserve oha wrk ab)
RESULTS=$WORK/results.tsv
printf 'tool\tround\trps\tp50_ms\tp99_ms\n' | tee "$RESULTS"
for round in $(seq "$ROUNDS"); do
  order=("${TOOLS[@]}")
  if (( round % 2 == 0 )); then order=(ab wrk oha twinserve); fi
  for tool in "${order[@]}"; do
    read -r rps p50 p99 < <("run_$tool")
    printf '%s\t%s\t%s\t%s\t%s\n' "$tool" "$round" "$rps" "$p50" "$p99" | tee -a "$RESULTS"
  done
done
python3 - "$RESULTS" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
med = lambda tool, col: statistics.median(float(r[col]) for r in rows if r["tool"] == tool)
base = med("oha", "rps")
print("\nmedians, and requests/s as a ratio to oha:")
print(f"{'tool':<10}{'req/s':>10}{'ratio':>8}{'p50 ms':>9}{'p99 ms':>9}")
for tool in ["twinserve", "oha", "wrk", "ab"]:
    rps = med(tool, "rps")
    print(f"{tool:<10}{rps:>10.0f}{rps / base:>7.2f}x{med(tool, 'p50_ms'):>9.3f}{med(tool, 'p99_ms'):>9.3f}")
PY

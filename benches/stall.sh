#!/usr/bin/env bash
# Coordinated omission made visible: an open-loop run at RATE requests/s against a lighttpd
# that is stopped (SIGSTOP) for STALL seconds in the middle of it, once with the built-in
# client (`--rate`) and once with oha (`-q RATE --latency-correction`), ROUNDS times in
# alternating order. Prints each run's latency percentiles timed from when each request was
# due (corrected) and, for the client, from when it was sent: during the stall nothing can
# be sent, so only the corrected figures show what users arriving at RATE would have seen.
#
#   benches/stall.sh [RATE, default 2000] [SECONDS per run, default 6] [STALL, default 1] [ROUNDS, default 2]
#
# lighttpd on CPU 0, each tool on CPU 1, 64 keep-alive connections. Needs lighttpd and
# taskset (installed if missing) and oha (`cargo install oha`). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
RATE=${1:-2000}
DUR=${2:-6}
STALL=${3:-1}
ROUNDS=${4:-2}
source benches/common.sh
need lighttpd:lighttpd taskset:util-linux curl:curl
command -v oha >/dev/null || { echo "stall.sh compares with oha, which is not installed (cargo install oha)" >&2; exit 1; }
cargo build --release --quiet --bin twinserve
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/twinserve
PORT=18497
URL=http://127.0.0.1:$PORT/HelloWorld.html
WORK=$(mktemp -d)
trap 'kill -CONT $LPID 2>/dev/null; kill $LPID 2>/dev/null; rm -rf "$WORK"' EXIT
lighttpd_config "$WORK" $PORT
taskset -c 0 lighttpd -D -f "$WORK/lighttpd.conf" &
LPID=$!
wait_for "$URL"

# stall_in SECONDS — stops lighttpd that many seconds from now, for $STALL seconds.
stall_in() {
  ( sleep "$1"; kill -STOP $LPID; sleep "$STALL"; kill -CONT $LPID ) &
}
# Each prints "p50 p90 p99 p99.9 max" in ms, corrected; the client adds the same from the send.
run_twinserve() {
  stall_in "$(awk -v d="$DUR" 'BEGIN{print d * 0.4}')"
  taskset -c 1 "$BIN" client "$URL" --rate "$RATE" -c 64 -t 1 -d "${DUR}s" --json |
    python3 -c '
import json, sys
r = json.load(sys.stdin)
for key in ("corrected_latency_ms", "latency_ms"):
    l = r[key]
    print("twinserve", "from due" if key.startswith("corrected") else "from sent",
          *(l[p] for p in ("p50", "p90", "p99", "p99.9", "max")), r["responses"], r["errors"])'
  wait
}
run_oha() {
  stall_in "$(awk -v d="$DUR" 'BEGIN{print d * 0.4}')"
  taskset -c 1 oha --no-tui --output-format json -c 64 -q "$RATE" --latency-correction -z "${DUR}s" "$URL" |
    python3 -c '
import json, sys
r = json.load(sys.stdin)
p = r["latencyPercentiles"]
print("oha", "from due", *(round(p[k] * 1000, 3) for k in ("p50", "p90", "p99", "p99.9")),
      round(r["summary"]["slowest"] * 1000, 3), sum(r["statusCodeDistribution"].values()),
      sum(r["errorDistribution"].values()))'
  wait
}

printf 'tool\tlatency\tp50_ms\tp90_ms\tp99_ms\tp99.9_ms\tmax_ms\tresponses\terrors\n'
for round in $(seq "$ROUNDS"); do
  order=(twinserve oha)
  (( round % 2 == 0 )) && order=(oha twinserve)
  for tool in "${order[@]}"; do
    "run_$tool" | tr ' ' '\t' | sed 's/\tfrom\t/\tfrom /'
  done
done

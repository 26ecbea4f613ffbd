#!/usr/bin/env bash
# Requests/s for a small file (keep-alive) at 1, 16, 64, 256 and 1000 connections, for
# both backends; the server pinned to CPU 0, wrk to CPU 1, as in benches/run.sh.
# Writes docs/bench/growth.tsv and the chart docs/bench/growth.svg.
#
#   benches/growth.sh [SECONDS per point, default 5]
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-5}
source benches/common.sh
need wrk:wrk taskset:util-linux curl:curl
cargo build --release --quiet
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/twinserve
OUT=docs/bench; mkdir -p "$OUT"
WORK=$(mktemp -d); trap 'kill $PID 2>/dev/null; rm -rf "$WORK"' EXIT
cp -r site "$WORK/site"
ulimit -n 65536 2>/dev/null || true
printf 'backend\tconnections\trps\tp99_ms\terrors\n' >"$OUT/growth.tsv"
for backend in raw hyper; do
  # Both with their defaults: raw 128 workers (keep-alive connections wait between
  # requests without one), hyper one worker per core it may use (one, under taskset).
  taskset -c 0 "$BIN" -q serve --backend $backend --root "$WORK/site" --port 18490 &
  PID=$!
  wait_for http://127.0.0.1:18490/HelloWorld.html
  for c in 1 16 64 256 1000; do
    out=$(taskset -c 1 wrk --latency -t1 -c"$c" -d"${DUR}s" http://127.0.0.1:18490/HelloWorld.html 2>&1)
    rps=$(awk '/Requests\/sec/{print $2}' <<<"$out")
    p99=$(awk '/^ +99%/{v=$2; if (v ~ /us$/) v=v/1000; else if (v ~ /ms$/) v=v+0; else if (v ~ /s$/) v=v*1000; print v}' <<<"$out")
    err=$(awk '/Socket errors/{gsub(/,/,""); print $4+$6+$8+$10} END{}' <<<"$out"); err=${err:-0}
    printf '%s\t%s\t%s\t%s\t%s\n' $backend $c "$rps" "$p99" "$err" | tee -a "$OUT/growth.tsv"
  done
  kill $PID; wait $PID 2>/dev/null || true
done
python3 - "$OUT/growth.tsv" "$OUT/growth.svg" <<'PY'
import csv, math, sys
rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
conns = [1, 16, 64, 256, 1000]
W, H, L, R, T, B = 640, 360, 70, 20, 30, 50
top = max(float(r["rps"]) for r in rows) * 1.1
x = lambda c: L + (W - L - R) * math.log(c) / math.log(1000)
y = lambda v: T + (H - T - B) * (1 - v / top)
colours = {"raw": "#2563eb", "hyper": "#f97316"}
svg = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">',
       f'<rect width="{W}" height="{H}" fill="white"/>',
       f'<text x="{W/2}" y="18" text-anchor="middle" font-size="14">Small file, keep-alive: requests/s by open connections</text>']
for i in range(6):
    v = top * i / 5
    svg.append(f'<line x1="{L}" x2="{W-R}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#ddd"/>')
    svg.append(f'<text x="{L-6}" y="{y(v)+4:.1f}" text-anchor="end">{v/1000:.0f}k</text>')
for c in conns:
    svg.append(f'<text x="{x(c):.1f}" y="{H-B+18}" text-anchor="middle">{c}</text>')
svg.append(f'<text x="{(L+W-R)/2}" y="{H-12}" text-anchor="middle">connections (log scale)</text>')
for i, (name, colour) in enumerate(colours.items()):
    pts = [(x(int(r["connections"])), y(float(r["rps"]))) for r in rows if r["backend"] == name]
    svg.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2.5" points="{" ".join(f"{a:.1f},{b:.1f}" for a, b in pts)}"/>')
    svg += [f'<circle cx="{a:.1f}" cy="{b:.1f}" r="3.5" fill="{colour}"/>' for a, b in pts]
    svg.append(f'<text x="{W-R-90}" y="{T+18+18*i}" fill="{colour}" font-weight="bold">{name}</text>')
svg.append('</svg>')
open(sys.argv[2], "w").write("\n".join(svg) + "\n")
PY
echo "wrote $OUT/growth.tsv and $OUT/growth.svg"

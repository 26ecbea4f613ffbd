#!/usr/bin/env bash
# What each open connection keeps on the heap, allocation by allocation: each server runs
# under valgrind's dhat, pinned to one CPU as benches/run.sh runs it, wrk holds CONNECTIONS
# keep-alive connections on it for a few seconds, and at the heap's peak every allocation
# site with about one live block a connection is printed with its bytes a connection and
# the first frame that is not the allocator's. The rest of a server's resident memory is
# its code and constants (benches/resident.sh) and what malloc keeps around the blocks.
#
#   benches/heap.sh [CONNECTIONS, default 200]
#
# With ONLY='NAME ...' (raw hyper fixed) only those run; `fixed` is examples/fixed_body.rs,
# bare hyper. BIN=path measures an already built twinserve. Needs valgrind, wrk and curl.
# Loopback only; every load is bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."
CONNECTIONS=${1:-200}
source benches/common.sh
need valgrind:valgrind wrk:wrk curl:curl taskset:util-linux
release_bin fixed_body
PORT=18495
URL=http://127.0.0.1:$PORT/HelloWorld.html
WORK=$(mktemp -d)
SPID=
trap '[ -n "$SPID" ] && kill -9 $SPID 2>/dev/null; rm -rf "$WORK"' EXIT
cp -r site "$WORK/site"
# An hour old: a file changed within the last second is kept without validators at first.
find "$WORK/site" -type f -exec touch -d '1 hour ago' {} +
ulimit -n $((CONNECTIONS + 256)) 2>/dev/null || true

measure() { # name command...
  local name=$1; shift
  [ -z "${ONLY:-}" ] || [[ " $ONLY " == *" $name "* ]] || return 0
  taskset -c "${SERVER_CPU:-0}" valgrind --tool=dhat --dhat-out-file="$WORK/$name.json" "$@" \
    >"$WORK/$name.log" 2>&1 &
  SPID=$!
  wait_for "$URL" 300 # valgrind takes seconds to start a program
  taskset -c "${LOAD_CPU:-1}" wrk -t1 -c"$CONNECTIONS" -d4s "$URL" >/dev/null
  # dhat writes its profile as the program ends, on a signal too.
  kill -TERM $SPID
  wait $SPID 2>/dev/null || true
  SPID=
  python3 - "$WORK/$name.json" "$name" "$CONNECTIONS" <<'PY'
import json, sys
path, name, conns = sys.argv[1], sys.argv[2], int(sys.argv[3])
profile = json.load(open(path))
frames = profile["ftbl"]
allocator = ("alloc::", "malloc", "realloc", "calloc", "memalign", "__rust", "<alloc",
             "raw_vec", "RawVec", "::grow", "::reserve", "library/alloc/", "library/std/",
             "UnknownInlinedFun")
rows = []
for site in profile["pps"]:
    blocks = site.get("gbk", 0)
    # About one block a connection: this connection's, not the server's.
    if not 0.9 * conns <= blocks <= 1.1 * conns:
        continue
    where = next((f for f in (frames[i] for i in site["fs"])
                  if not any(a in f for a in allocator)), "?")
    where = where.split(": ", 1)[-1].split(" (in ")[0]
    rows.append((site["gb"] / conns, where))
rows.sort(reverse=True)
print(f"{name}: {sum(b for b, _ in rows):,.0f} bytes a connection at the peak, {len(rows)} blocks")
for size, where in rows:
    print(f"  {size:7,.0f}  {where[:110]}")
PY
}

measure raw "$BIN" -q serve --backend raw --root "$WORK/site" --port $PORT
measure hyper "$BIN" -q serve --threads 1 --backend hyper --root "$WORK/site" --port $PORT
measure fixed "${CARGO_TARGET_DIR:-$PWD/target}/release/examples/fixed_body" $PORT "$WORK/site/HelloWorld.html"

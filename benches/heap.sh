#!/usr/bin/env bash
# What each open connection adds to a server's heap at its peak under a keep-alive load,
# allocation site by allocation site. Each server runs under valgrind's dhat, pinned to one
# CPU as benches/run.sh runs it, twice: wrk holds CONNECTIONS keep-alive connections on it
# for 4 s, then twice as many. The bytes live at the heap's peak, site by site, are taken
# from both, and the difference divided by CONNECTIONS is what a connection adds, with a
# request in flight: its buffers, its task, its timers, its share of tables that grow with
# the connections. Sites are named by the first two frames that are not the allocator's.
# Not here: the binary's code and constants resident (benches/resident.sh), thread stacks,
# and what malloc keeps around the blocks, all in the RSS benches/run.sh reports.
#
#   benches/heap.sh [CONNECTIONS, default 200, at least 50]
#
# With ONLY='NAME ...' (raw hyper fixed) only those run; `fixed` is examples/fixed_body.rs,
# bare hyper. BIN=path measures an already built twinserve. Needs valgrind, wrk, curl and
# python3. Loopback only; every load is bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."
CONNECTIONS=${1:-200}
[ "$CONNECTIONS" -ge 50 ] || { echo "CONNECTIONS: at least 50, so one connection's share stands out" >&2; exit 2; }
source benches/common.sh
need valgrind:valgrind wrk:wrk curl:curl taskset:util-linux python3:python3
release_bin fixed_body
PORT=18493
URL=http://127.0.0.1:$PORT/HelloWorld.html
scratch
copy_site "$WORK"
# Raised only, and only the soft limit: a lower one would change the servers measured (the
# file cache keeps open files in proportion to it, up to a cap).
FILES=$((2 * CONNECTIONS + 256))
if [ "$(ulimit -Sn)" != unlimited ] && [ "$(ulimit -Sn)" -lt $FILES ]; then
  ulimit -Sn $FILES || { echo "cannot raise the open-file limit to $FILES (hard limit $(ulimit -Hn))" >&2; exit 1; }
fi

# profile NAME CONNECTIONS COMMAND... — runs COMMAND under dhat through one load; its
# profile is $WORK/NAME.CONNECTIONS.json.
profile() {
  local name=$1 conns=$2
  shift 2
  # valgrind takes seconds to start a program, and answers slowly under it.
  start_pinned 300 "$WORK/$name.$conns.log" "$URL" \
    valgrind --tool=dhat --dhat-out-file="$WORK/$name.$conns.json" "$@"
  taskset -c "${LOAD_CPU:-1}" wrk -t1 -c"$conns" -d4s --timeout 30s "$URL" >"$WORK/wrk.log" 2>&1 ||
    { cat "$WORK/wrk.log" >&2; return 1; }
  wrk_clean "$WORK/wrk.log" "$name"
  # dhat writes its profile as the program ends, on a signal too.
  stop_pinned
  [ -s "$WORK/$name.$conns.json" ] || { cat "$WORK/$name.$conns.log" >&2; return 1; }
}

measure() { # name command...
  local name=$1
  shift
  wanted "$name" || return 0
  profile "$name" "$CONNECTIONS" "$@"
  profile "$name" $((2 * CONNECTIONS)) "$@"
  python3 - "$WORK/$name.$CONNECTIONS.json" "$WORK/$name.$((2 * CONNECTIONS)).json" \
    "$name" "$CONNECTIONS" <<'PY'
import json, sys
fewer, more, name, conns = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
# The allocator's frames, and the standard library's inlined ones (named by their file).
allocator = ("alloc::", "malloc", "realloc", "calloc", "memalign", "__rust", "<alloc",
             "raw_vec", "RawVec", "::grow", "::reserve", "UnknownInlinedFun", " (library/")

def at_peak(path):
    """Bytes live at the heap's peak, by the first two frames outside the allocator."""
    profile = json.load(open(path))
    frames, sites = profile["ftbl"], {}
    for site in profile["pps"]:
        names = [frames[i] for i in site["fs"]]
        names = [f.split(": ", 1)[-1].split(" (in ")[0] for f in names
                 if not any(a in f for a in allocator)]
        where = " < ".join(names[:2]) or "?"
        sites[where] = sites.get(where, 0) + site.get("gb", 0)
    return sites

a, b = at_peak(fewer), at_peak(more)
rows = sorted(((b.get(k, 0) - a.get(k, 0)) / conns, k) for k in set(a) | set(b))
total = sum(size for size, _ in rows)
if total <= 0:
    # The peak was not the load's (start-up, or a table that grew in one run only).
    sys.exit(f"{name}: the heap's peak was no higher with twice the connections")
print(f"{name}: {total:,.0f} bytes a connection at the heap's peak")
for size, where in reversed(rows):
    if abs(size) >= 8:
        print(f"  {size:7,.0f}  {where[:150]}")
PY
}

measure raw "$BIN" -q serve --backend raw --root "$WORK/site" --host 127.0.0.1 --port $PORT
measure hyper "$BIN" -q serve --threads 1 --backend hyper --root "$WORK/site" --host 127.0.0.1 --port $PORT
measure fixed "${CARGO_TARGET_DIR:-$PWD/target}/release/examples/fixed_body" $PORT "$WORK/site/HelloWorld.html"

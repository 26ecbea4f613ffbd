#!/usr/bin/env bash
# Writes link/hot-text.ld, the linker script that gathers the code serving a request at the
# start of the binary's text (build.rs hands it to the linker for `twinserve`).
#
# Why: `serve` drops the binary's pages from its page tables once started, and every page
# of code serving needs comes back with a fault; the kernel maps the page cache's whole
# 64 KiB window around each fault (fault-around), so hot code scattered across 5 MiB of
# text keeps a few MiB resident. Gathered, it fits in a few windows.
#
# How: each backend runs under callgrind, pinned to one CPU as benches/run.sh runs it, and
# callgrind dumps its counters when `serve` has dropped the pages (`dl_iterate_phdr`
# returns), at the first answer, and after curl and then wrk (or the built-in client) have
# sent requests over 64 and then 1000 keep-alive connections. Every function of the binary that ran
# after the drop is named, each backend's in one stretch: raw's own, hyper's serving,
# then what only hyper's start ran. The names are exact, and then all of them again with
# their hashes wildcarded, so the script still gathers them after a rebuild with another
# compiler or dependency version; their jump tables and other constants named after them
# are gathered before the other constants likewise. A function renamed since simply stays
# where the linker puts it: run this again after changing the serving path.
#
#   benches/hot-text.sh
#
# Needs valgrind and curl. Loopback only; every load is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/common.sh
need valgrind:valgrind curl:curl
# BIN=path measures an already built binary instead.
# shellcheck disable=SC2119 # the script's arguments are not examples to build
release_bin
PORT=18497
URL=http://127.0.0.1:$PORT/HelloWorld.html
WORK=$(mktemp -d)
SPID=
trap '[ -n "$SPID" ] && kill -9 $SPID 2>/dev/null; rm -rf "$WORK"' EXIT
ulimit -n 4096 2>/dev/null || true

# Pinned to one CPU, as benches/run.sh runs them: hyper then runs a current-thread runtime.
for backend in hyper raw; do
  taskset -c "${SERVER_CPU:-0}" valgrind --tool=callgrind --dump-instr=yes \
    --dump-after=dl_iterate_phdr --callgrind-out-file="$WORK/$backend.cg" \
    "$BIN" -q serve --backend $backend --root site --host 127.0.0.1 --port $PORT \
    >"$WORK/$backend.log" 2>&1 &
  SPID=$!
  wait_for "$URL" 600 || { cat "$WORK/$backend.log" >&2; exit 1; }
  # Where the (position-independent) binary was loaded: once `serve` has dropped its
  # pages, callgrind gives its code's addresses as loaded rather than as in the file.
  awk -v bin="$(readlink -f "$BIN")" '$6 == bin && $3 == "00000000" { split($1, a, "-"); print a[1]; exit }' \
    "/proc/$SPID/maps" >"$WORK/$backend.base"
  [ -s "$WORK/$backend.base" ] || { echo "hot-text.sh: $BIN is not in /proc/$SPID/maps" >&2; exit 1; }
  callgrind_control -d $SPID >/dev/null
  for path in / /HelloWorld.html /missing; do curl -s -o /dev/null "http://127.0.0.1:$PORT$path"; done
  # wrk, when installed, as benches/run.sh loads: how its connections end is part of
  # the path (it cuts them when its time is up).
  if command -v wrk >/dev/null; then
    wrk -t1 -c64 -d3s "$URL" >/dev/null
    wrk -t1 -c1000 -d5s "$URL" >/dev/null
  else
    "$BIN" client "$URL" -c 64 -n 2000 --json >/dev/null
    "$BIN" client "$URL" -c 1000 -n 4000 --json >/dev/null
  fi
  callgrind_control -d $SPID >/dev/null
  kill -9 $SPID
  wait $SPID 2>/dev/null || true
  SPID=
done

# Three dumps each (the pages' drop, the first answers, the load): a dump command that
# went unanswered would make start-up code pass for serving code.
for backend in hyper raw; do
  dumps=$(find "$WORK" -name "$backend.cg.*" | wc -l)
  [ "$dumps" -ge 3 ] || { echo "hot-text.sh: $backend: $dumps callgrind dumps, want 3" >&2; exit 1; }
done

nm --defined-only "$BIN" >"$WORK/nm"
# Written aside and moved into place whole: build.rs links with whatever is there.
python3 - "$WORK" "$BIN" "$(readlink -f "$BIN")" >"$WORK/hot-text.ld" <<'PY'
import bisect, glob, re, sys
work, program = sys.argv[1], sys.argv[2:]

def executed(path, loaded_at):
    """Addresses, as in the file, of the instructions callgrind saw run in twinserve."""
    names, offset, last, seen = {}, None, 0, set()
    for line in open(path):
        if line[:1] in "0123456789+-*":
            tok = line.split()[0]
            if tok.startswith("0x"):
                last = int(tok, 16)
            elif tok[0] in "+-":
                last += int(tok)
            if offset is not None:
                seen.add(last - offset)
            continue
        m = re.match(r"(c?ob)=\((\d+)\)(?: (.*))?", line.strip())
        if m:
            if m[3]:
                names[m[2]] = m[3]
            if m[1] == "ob":
                # While valgrind knows the program, it gives addresses as in the file;
                # once `serve` has dropped its pages it has lost the program's name, and
                # gives them as loaded.
                name = names.get(m[2], "")
                offset = 0 if name in program else loaded_at if name.endswith("???") else None
    return seen

# Every name of each function: identical functions are merged, and only the name the
# compiler gave the merged one names its section.
funcs = {}
for line in open(f"{work}/nm"):
    addr, kind, name = line.split(maxsplit=2)
    if kind in "tT":
        funcs.setdefault(int(addr, 16), []).append(name.strip())
starts = sorted(funcs)
end = starts[-1] + 65536

def pattern(name):
    # Legacy mangling ends in a hash, v0 names each crate with one: neither survives
    # another compiler or dependency version.
    name = re.sub(r"17h[0-9a-f]{16}E$", "17h*", name)
    return re.sub(r"Cs[0-9a-zA-Z]+_", "Cs*_", name)

def dumps(backend):
    """callgrind's dumps in order: to the pages' drop, on to the first answer, the load."""
    parts = glob.glob(f"{work}/{backend}.cg.*")
    return sorted(parts, key=lambda p: int(p.rsplit(".", 1)[1]))[-2:]

done = set()
def names(path, base):
    """The patterns of the functions that ran, in address order, each claimed once."""
    out = []
    for a in sorted(executed(path, base)):
        i = bisect.bisect_right(starts, a) - 1
        if i < 0 or a >= end:
            continue
        for name in funcs[starts[i]]:
            if name not in done:
                done.add(name)
                out.append(name)
    return out

hyper_base = int(open(f"{work}/hyper.base").read(), 16)
raw_base = int(open(f"{work}/raw.base").read(), 16)
hyper_start, hyper_load = dumps("hyper")
raw_start, raw_load = dumps("raw")
load = names(hyper_load, hyper_base)
start = names(hyper_start, hyper_base)
raw = names(raw_load, raw_base)
raw_start = names(raw_start, raw_base)
# hyper's serving code in the middle, what only starting it ran after it, and raw's
# own before, so that each backend's code is one stretch.
groups = [("raw, starting", raw_start), ("raw, serving", raw), ("hyper, serving", load),
          ("hyper, starting", start)]

print("/* Generated by benches/hot-text.sh: the functions that ran while each backend served")
print("   requests, gathered at the start of the text so that their pages are few. */")
print("SECTIONS {")
print("  .text.hot : {")
def statement(names):
    # `.text*.` takes `.text.unlikely.` too, where cold-marked functions go.
    return "    *(" + "\n      ".join(f".text*.{p}" for p in names) + ")"

for what, group in groups:
    if group:
        print(f"    /* {what} */")
        print(statement(group))
# The exact names hold in a build like the measured one; another compiler or dependency
# version changes their hashes, and then these take the same functions (and the other
# instances of the generic ones, which no hash tells apart).
print("    /* all of them, in any build */")
wild = []
for _, group in groups:
    for p in map(pattern, group):
        if p not in wild:
            wild.append(p)
print(statement(wild))
print("  }")
print("} INSERT BEFORE .text;")
# Their jump tables and other constants of their own, gathered the same way. Only the
# constants named after a function can be: string literals and the like have no owner.
print("SECTIONS {")
print("  .rodata.hot : {")
print("    *(" + "\n      ".join(f".rodata*.{p.rstrip('*')}*" for p in wild) + ")")
print("  }")
print("} INSERT BEFORE .rodata;")
PY
mv "$WORK/hot-text.ld" link/hot-text.ld
echo "link/hot-text.ld: $(grep -c '^ *\*\?(\?\.text' link/hot-text.ld) patterns" >&2

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
# sent requests over 64 keep-alive connections, then for a 1 MiB file (sent with sendfile) over 8,
# then over 1000 keep-alive connections. Every function of the binary that ran
# after the drop is named, each backend's in one stretch: raw's own, hyper's serving,
# then what only hyper's start ran. The names are exact, and then all of them again with
# their hashes wildcarded, so the script still gathers them after a rebuild with another
# compiler or dependency version; their jump tables and other constants named after them
# are gathered before the other constants likewise. Then each backend runs under lackey,
# which sees every load, and the constants serving read (tables, anonymous literals) are
# named after the sections the link map gives them, exactly; run as root, a native run of
# hyper adds the constants on the pages it reads that lackey did not explain (constants the
# kernel reads: bytes handed to a write). Not seen: plain `.rodata` sections of C and
# assembly objects. A function renamed since simply stays where the linker puts it; an
# anonymous constant's name (`.Lanon.HASH.N`) follows the code and the dependency graph, and
# may name another constant after a change, which is then gathered instead: harmless, but
# run this again, last, after any change, and compare with benches/resident.sh.
#
#   benches/hot-text.sh
#
# Builds twinserve itself (release). Needs valgrind and curl; as root it also sets the binary's
# disk's readahead to 0 while one server starts (restored once it answers, and on exit).
# Loopback only; every load is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
source benches/common.sh
need valgrind:valgrind curl:curl
PORT=18497
URL=http://127.0.0.1:$PORT/HelloWorld.html
WORK=$(mktemp -d)
SPID=
RA_FILE='' RA=''
# Each step may fail (a server already gone) without keeping the next from running.
trap '[ -z "$SPID" ] || kill -9 $SPID 2>/dev/null || true; [ -z "$RA" ] || echo "$RA" >"$RA_FILE" || true; rm -rf "$WORK"' EXIT
# Built here, linked once more with a link map, which alone names the constants: the map
# and the binary measured must come from the same link.
cargo rustc --release --quiet --bin twinserve -- -C link-arg=-Wl,-Map="$WORK/twinserve.map"
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/twinserve
MAP=$WORK/twinserve.map
ulimit -n 4096 2>/dev/null || true
# site/ and a file too big for either backend's cache, which goes out through sendfile.
cp -r site "$WORK/site"
head -c $((1 << 20)) /dev/zero >"$WORK/site/1m.bin"

# load CLIENT SMALL BIG: what every run sends. One request for each kind of answer, and one for
# the big file once its pages have left the page cache (hyper then reads them on its blocking
# pool, starting a thread: a path a server meets whenever the machine lets a file's pages go,
# whose code would otherwise be scattered over windows of its own); then, when
# wrk is installed, benches/run.sh's loads (how its connections end is part of the path: it
# cuts them when its time is up), or else CLIENT's built-in client, SMALL requests over 64
# connections and BIG over 1000.
load() {
  local path
  for path in / /HelloWorld.html /missing /1m.bin; do curl -s -o /dev/null "http://127.0.0.1:$PORT$path"; done
  drop_pages "$WORK/site/1m.bin"
  curl -fsS -o /dev/null --max-time 60 "http://127.0.0.1:$PORT/1m.bin"
  if command -v wrk >/dev/null; then
    wrk -t1 -c64 -d3s "$URL" >/dev/null
    wrk -t1 -c8 -d2s "http://127.0.0.1:$PORT/1m.bin" >/dev/null
    wrk -t1 -c1000 -d5s "$URL" >/dev/null
  else
    "$1" client "$URL" -c 64 -n "$2" --json >/dev/null
    "$1" client "$URL" -c 1000 -n "$3" --json >/dev/null
  fi
}

# Pinned to one CPU, as benches/run.sh runs them: hyper then runs a current-thread runtime.
for backend in hyper raw; do
  taskset -c "${SERVER_CPU:-0}" valgrind --tool=callgrind --dump-instr=yes \
    --dump-after=dl_iterate_phdr --callgrind-out-file="$WORK/$backend.cg" \
    "$BIN" -q serve --backend $backend --root "$WORK/site" --host 127.0.0.1 --port $PORT \
    >"$WORK/$backend.log" 2>&1 &
  SPID=$!
  wait_for "$URL" 600 || { cat "$WORK/$backend.log" >&2; exit 1; }
  # Where the (position-independent) binary was loaded: once `serve` has dropped its
  # pages, callgrind gives its code's addresses as loaded rather than as in the file.
  awk -v bin="$(readlink -f "$BIN")" '$6 == bin && $3 == "00000000" { split($1, a, "-"); print a[1]; exit }' \
    "/proc/$SPID/maps" >"$WORK/$backend.base"
  [ -s "$WORK/$backend.base" ] || { echo "hot-text.sh: $BIN is not in /proc/$SPID/maps" >&2; exit 1; }
  callgrind_control -d $SPID >/dev/null
  load "$BIN" 2000 4000
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

# The constants serving reads (tables, literals) are gathered the same way, but callgrind
# does not see data: lackey traces every load, and the link map names the section each one
# came from. Only what ran after the first answer counts. The map's columns are LLD's (the
# linker Rust uses on x86-64 Linux); with another linker the constants stay where they are.
if ! grep -Eq '^ +VMA +LMA +Size +Align +Out +In' "$MAP"; then
  echo "hot-text.sh: the link map is not LLD's; gathering code only" >&2
  MAP=
fi
for backend in hyper raw; do
  [ -n "$MAP" ] || break
  # Instruction lines are half the trace and callgrind has covered them: left out.
  taskset -c "${SERVER_CPU:-0}" valgrind --tool=lackey --trace-mem=yes --log-fd=9 \
    "$BIN" -q serve --backend $backend --root "$WORK/site" --host 127.0.0.1 --port $PORT \
    >"$WORK/$backend.log" 2>&1 9> >(grep -av --line-buffered '^I' >"$WORK/$backend.mem") &
  SPID=$!
  wait_for "$URL" 600 || { cat "$WORK/$backend.log" >&2; exit 1; }
  awk -v bin="$(readlink -f "$BIN")" '$6 == bin && $3 == "00000000" { split($1, a, "-"); print a[1]; exit }' \
    "/proc/$SPID/maps" >"$WORK/$backend.membase"
  [ -s "$WORK/$backend.membase" ] || { echo "hot-text.sh: $BIN is not in /proc/$SPID/maps" >&2; exit 1; }
  stat -c %s "$WORK/$backend.mem" >"$WORK/$backend.mark"
  # Each request costs lackey thousands of lines; a few hundred requests cover the path.
  load "$BIN" 200 1000
  kill -9 $SPID
  wait $SPID 2>/dev/null || true
  SPID=
done

# The constants serving reads natively, page by page: lackey misses those only the kernel
# reads (bytes handed to a write). hyper is served again without valgrind, started while
# readahead is off for the binary's disk (a file takes the setting when it is opened, so
# the server keeps it; the disk gets its own back as soon as the server answers). The
# binary's pages are then paged out of the server and dropped from the page cache, each page
# serving needs comes back alone, and /proc/PID/pagemap shows which. (Its code is placed from
# callgrind's runs alone: a page names only the functions on it, and gathering every one of
# them spread serving over more windows.) Needs root (process_madvise, the disk's readahead
# setting) and Linux 5.10; without them, or if any step fails, the pass is skipped.
native_pass() {
  RA_FILE=$(python3 - "$BIN" <<'PY'
import os, sys
dev = os.stat(sys.argv[1]).st_dev
block = os.path.realpath(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}")
for queue in (f"{block}/queue", f"{block}/../queue"):
    if os.path.exists(f"{queue}/read_ahead_kb"):
        print(f"{queue}/read_ahead_kb")
        break
PY
  ) || return 1
  [ -n "$RA_FILE" ] && [ -w "$RA_FILE" ] && [ "$(id -u)" = 0 ] || return 1
  RA=$(cat "$RA_FILE")
  echo "hot-text.sh: readahead of $RA_FILE set to 0 while the server starts (was $RA)" >&2
  echo 0 >"$RA_FILE"
  taskset -c "${SERVER_CPU:-0}" "$BIN" -q serve --backend hyper --root "$WORK/site" \
    --host 127.0.0.1 --port $PORT >"$WORK/native.log" 2>&1 &
  SPID=$!
  wait_for "$URL" || { cat "$WORK/native.log" >&2; return 1; }
  echo "$RA" >"$RA_FILE"
  RA=
  python3 - "$SPID" "$(readlink -f "$BIN")" <<'PY' || return 1
import ctypes, os, sys
pid, binary = int(sys.argv[1]), sys.argv[2]
libc = ctypes.CDLL(None, use_errno=True)
class IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
# process_madvise has no wrapper in Python. System calls added since Linux 5.1 share one
# number on every architecture but alpha, MIPS and ia64, which offset theirs.
if os.uname().machine.startswith(("alpha", "mips", "ia64")):
    sys.exit(f"hot-text.sh: process_madvise is not 440 on {os.uname().machine}")
pidfd = os.pidfd_open(pid)
for line in open(f"/proc/{pid}/maps"):
    f = line.rstrip("\n").split(None, 5)
    # The read-only mappings: a written page would go to swap, not away.
    if len(f) == 6 and f[5] == binary and "w" not in f[1]:
        start, end = (int(x, 16) for x in f[0].split("-"))
        # process_madvise(pidfd, iovec, 1, MADV_PAGEOUT, 0)
        if libc.syscall(440, pidfd, ctypes.byref(IoVec(start, end - start)), 1, 21, 0) < 0:
            sys.exit(f"hot-text.sh: process_madvise: {os.strerror(ctypes.get_errno())}")
fd = os.open(binary, os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
PY
  # A copy for the built-in client: run from the binary itself it would bring its pages back.
  cp "$BIN" "$WORK/client"
  load "$WORK/client" 20000 40000
  # The pages present, as addresses in the file's layout (the first mapping is at offset 0).
  python3 - "$SPID" "$(readlink -f "$BIN")" >"$WORK/native.pages" <<'PY' || return 1
import os, struct, sys
pid, binary = int(sys.argv[1]), sys.argv[2]
size = os.sysconf("SC_PAGE_SIZE")
pagemap, base = open(f"/proc/{pid}/pagemap", "rb"), None
for line in open(f"/proc/{pid}/maps"):
    f = line.rstrip("\n").split(None, 5)
    if len(f) < 6 or f[5] != binary:
        continue
    start, end = (int(x, 16) for x in f[0].split("-"))
    base = start - int(f[2], 16) if base is None else base
    for page in range(start, end, size):
        pagemap.seek(page // size * 8)
        if struct.unpack("Q", pagemap.read(8))[0] >> 63:
            print(page - base)
PY
  kill -9 $SPID
  wait $SPID 2>/dev/null || true
  SPID=
}
if ! native_pass; then
  [ -n "$RA" ] && echo "$RA" >"$RA_FILE" && RA=
  [ -n "$SPID" ] && kill -9 $SPID 2>/dev/null && SPID=
  rm -f "$WORK/native.pages"
  echo "hot-text.sh: no native pass (needs root, a block device under the binary, Linux 5.10)" >&2
fi

nm --defined-only "$BIN" >"$WORK/nm"
# Written aside and moved into place whole: build.rs links with whatever is there.
python3 - "$WORK" "${MAP:-}" "$BIN" "$(readlink -f "$BIN")" >"$WORK/hot-text.ld" <<'PY'
import bisect, glob, os, re, sys
work, linkmap, program = sys.argv[1], sys.argv[2], sys.argv[3:]

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
PAGE = os.sysconf("SC_PAGE_SIZE")
try:  # the pages of the native pass
    touched = sorted({int(line) // PAGE * PAGE for line in open(f"{work}/native.pages")})
except FileNotFoundError:
    touched = []

load = names(hyper_load, hyper_base)
start = names(hyper_start, hyper_base)
raw = names(raw_load, raw_base)
raw_start = names(raw_start, raw_base)
# hyper's serving code in the middle, what only starting it ran after it, and raw's
# own before, so that each backend's code is one stretch.
# What runs where callgrind does not see it: the rest of the drop itself; the lookup's
# openat2, which valgrind 3.19 does not know (under it the lookup takes its fallback); and
# std's channels (every one: about 35 functions), through which the backend says it has
# started and which it may still be leaving when the pages go. Each would otherwise keep a
# page window of cold code resident.
unseen = [n for a in starts for n in funcs[a]
          if re.search(r"unmap_startup_pages|7Beneath7openat2|std4sync4mpmc|std\.\.sync\.\.mpmc", n)
          and n not in done]
groups = [("raw, starting", raw_start), ("raw, serving", raw), ("hyper, serving", load),
          ("hyper, starting", start),
          ("run unseen by callgrind", unseen)]

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
def input_sections():
    """The link map's read-only data input sections: (address, size, name), by address.
    Merged pools (`.rodata.str1.1`, `.rodata.cst16`) are the linker's own and cannot be
    placed one constant at a time."""
    out, found = None, []
    for line in open(linkmap):
        m = re.match(r"\s*([0-9a-f]+)\s+[0-9a-f]+\s+([0-9a-f]+)\s+\d+ (.*)$", line.rstrip("\n"))
        if not m:
            continue
        if not m[3].startswith(" "):
            out = m[3].strip()
            continue
        s = re.match(r"\s+\S.*:\((\.rodata\..*)\)$", m[3])
        if s and out in (".rodata", ".rodata.hot") and int(m[2], 16) and not re.match(
                r"\.rodata\.(str|cst)\d", s[1]):
            found.append((int(m[1], 16), int(m[2], 16), s[1]))
    return sorted(found)

def constants(backend, sections):
    """The data sections read after the first answer, in the order first read."""
    starts = [a for a, _, _ in sections]
    base = int(open(f"{work}/{backend}.membase").read(), 16)
    trace = open(f"{work}/{backend}.mem", "rb")
    trace.seek(int(open(f"{work}/{backend}.mark").read()))
    seen, order = set(), []
    for line in trace:
        # ` L addr,size`, ` S ...`, ` M ...`; `I` lines are code, which callgrind covered.
        if line[:2] not in (b" L", b" S", b" M"):
            continue
        try:
            a = int(line[3:].split(b",")[0], 16) - base
        except ValueError:  # the last line, cut short when lackey was killed
            continue
        i = bisect.bisect_right(starts, a) - 1
        if i >= 0 and a < starts[i] + sections[i][1] and sections[i][2] not in seen:
            seen.add(sections[i][2])
            order.append(sections[i][2])
    return order

sections = input_sections() if linkmap else []
read = []
for backend in ("hyper", "raw") if sections else ():
    read += [name for name in constants(backend, sections) if name not in read]
# Then the constants on the pages hyper read natively that no constant lackey saw read
# explains (lackey does not see what the kernel reads), but no large table: one read in one
# place would bring many pages.
def pages_of(a, size):
    return range(a // PAGE * PAGE, a + size, PAGE)

explained = {p for a, size, name in sections if name in read for p in pages_of(a, size)}
unexplained = set(touched) - explained
natively = [name for a, size, name in sections
            if size <= 16384 and name not in read
            and any(p in unexplained for p in pages_of(a, size))]
read += natively
print(f"hot-text.sh: {len(natively)} constants from the native pass", file=sys.stderr)

# Their jump tables and other constants of their own, gathered the same way, after the
# constants serving was seen to read. Those are named exactly, as the map gives them:
# an anonymous one (`.Lanon.HASH.N`) has no name that survives a change to the code.
print("SECTIONS {")
print("  .rodata.hot : {")
if read:
    print("    /* read while serving, this build */")
    print("    *(" + "\n      ".join(read) + ")")
print("    *(" + "\n      ".join(f".rodata*.{p.rstrip('*')}*" for p in wild) + ")")
print("  }")
print("} INSERT BEFORE .rodata;")
PY
mv "$WORK/hot-text.ld" link/hot-text.ld
echo "link/hot-text.ld: $(grep -c '^ *\*\?(\?\.text' link/hot-text.ld) patterns" >&2

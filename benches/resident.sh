#!/usr/bin/env bash
# Where the binary's share of a server's resident memory is: starts `twinserve serve`
# pinned to one CPU (as benches/run.sh runs it), and after one request, after a load like S5
# (wrk, 1000 keep-alive connections for 3 s), and after one download of a 16 MiB file whose
# pages were dropped from the page cache first (hyper reads those on its blocking pool) prints
# VmRSS and, for each mapping of the binary, the KiB resident and the 64 KiB windows they fall
# in (from /proc/PID/pagemap's present bits). `serve` drops the binary's pages once
# started; what comes back is what serving touched, each fault bringing its whole
# fault-around window (link/hot-text.ld).
#
#   benches/resident.sh [BACKEND, default hyper]
#
# BIN=path measures an already built twinserve. Needs wrk and curl. Loopback only; the load
# is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."
BACKEND=${1:-hyper}
source benches/common.sh
need wrk:wrk curl:curl taskset:util-linux
# shellcheck disable=SC2119 # the script's arguments are not examples to build
release_bin
PORT=18498
URL=http://127.0.0.1:$PORT/HelloWorld.html
ulimit -n 8192 2>/dev/null || true
scratch
copy_site "$WORK"
# Asked for only after the 3 s load: by then past the second in which a file changed is
# sent without validators.
head -c $((16 << 20)) /dev/urandom >"$WORK/site/16m.bin"
start_pinned 100 "$WORK/server.log" "$URL" "$BIN" -q serve --threads 1 --backend "$BACKEND" \
  --root "$WORK/site" --host 127.0.0.1 --port $PORT || exit 1

report() { # what: prints the figures for the running server
  python3 - "$SPID" "$(readlink -f "$BIN")" "$1" <<'PY'
import struct, sys
pid, binary, what = int(sys.argv[1]), sys.argv[2], sys.argv[3]
rss = next(l.split()[1] for l in open(f"/proc/{pid}/status") if l.startswith("VmRSS:"))
print(f"{what}: VmRSS {rss} KiB")
pagemap = open(f"/proc/{pid}/pagemap", "rb")
for line in open(f"/proc/{pid}/maps"):
    fields = line.split()
    if len(fields) < 6 or fields[5] != binary:
        continue
    start, end = (int(x, 16) for x in fields[0].split("-"))
    present, windows = 0, set()
    for page in range(start, end, 4096):
        pagemap.seek(page // 4096 * 8)
        if struct.unpack("Q", pagemap.read(8))[0] >> 63:
            present += 1
            windows.add(page // 65536)
    print(f"  {fields[1]} {end - start >> 10:6d} KiB mapped {present * 4:6d} KiB resident"
          f" in {len(windows):3d} windows")
PY
}

report "after one request"
taskset -c "${LOAD_CPU:-1}" wrk -t1 -c1000 -d3s "$URL" >/dev/null
report "after 3 s of 1000 connections"
drop_pages "$WORK/site/16m.bin"
curl -fsS -o /dev/null --max-time 60 "http://127.0.0.1:$PORT/16m.bin"
report "after a download from the disk"

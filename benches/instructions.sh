#!/usr/bin/env bash
# User-space instructions per request, counted by callgrind: the one figure on this
# machine that does not drift from run to run. Each server (lighttpd, hyper answering one
# in-memory body with hyper's fields and then with the hyper backend's, and both twinserve
# backends) runs under valgrind in turn; after a
# warm-up, the counters are zeroed, the built-in client sends REQUESTS keep-alive requests
# for /HelloWorld.html over 16 connections, and the counters are read. Kernel time is not
# in it (valgrind sees only user space), nor are cache misses: it measures how much work
# each server's own code does per request, not how fast it runs.
#
#   benches/instructions.sh [REQUESTS, default 20000]
#
# With KEEP=DIR each server's dump of the measured requests is kept as DIR/NAME.cg, for
# `callgrind_annotate --inclusive=yes DIR/hyper.cg` to say where the instructions went.
# With ONLY='NAME ...' (lighttpd fixed fixed-all fixed-no-date hyper raw) only those run.
#
# Needs valgrind and lighttpd (installed with apt-get if missing). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS=${1:-20000}
CONNECTIONS=16
source benches/common.sh
need valgrind:valgrind lighttpd:lighttpd curl:curl
# BIN=path measures an already built twinserve instead (fixed_body is built all the same).
release_bin fixed_body
PORT=18496
URL=http://127.0.0.1:$PORT/HelloWorld.html
scratch
lighttpd_config "$WORK" $PORT

load() { "$BIN" client "$URL" -c $CONNECTIONS -n "$1" --json >/dev/null; }

count() { # name command... -> prints "name instructions/request"
  local name=$1; shift
  wanted "$name" || return 0
  env "$GLIBC_COUNTABLE" valgrind --tool=callgrind --callgrind-out-file="$WORK/$name.cg" "$@" >"$WORK/$name.log" 2>&1 &
  SPID=$!
  wait_for "$URL" 300 # valgrind takes seconds to start a program
  load 3000
  callgrind_control -z $SPID >/dev/null 2>&1
  load "$REQUESTS"
  callgrind_control -d $SPID >/dev/null 2>&1
  kill -INT $SPID; sleep 1; kill -9 $SPID 2>/dev/null || true; wait $SPID 2>/dev/null || true
  SPID=
  # The dump after zeroing holds exactly the measured requests.
  local dump
  # shellcheck disable=SC2012 # the names are ours: NAME.cg.PID.N, no spaces
  dump=$(ls -t "$WORK/$name.cg".* | head -1)
  [ -n "${KEEP:-}" ] && mkdir -p "$KEEP" && cp "$dump" "$KEEP/$name.cg"
  callgrind_annotate "$dump" 2>/dev/null |
    awk -v n="$name" -v r="$REQUESTS" '/PROGRAM TOTALS/ {gsub(/,/, "", $1); printf "%-14s %8.0f\n", n, $1 / r}'
}

printf '%-14s %8s\n' server "instructions/request"
count lighttpd lighttpd -D -f "$WORK/lighttpd.conf"
count fixed "${CARGO_TARGET_DIR:-$PWD/target}/release/examples/fixed_body" $PORT "$WORK/site/HelloWorld.html"
# The same, carrying every field the hyper backend sends with a file: what those fields
# cost hyper itself, apart from anything twinserve does.
count fixed-all "${CARGO_TARGET_DIR:-$PWD/target}/release/examples/fixed_body" $PORT "$WORK/site/HelloWorld.html" all
# Without `Date` in the map, which hyper then writes from its own clock, as the hyper
# backend leaves it to hyper for a file's answer.
count fixed-no-date "${CARGO_TARGET_DIR:-$PWD/target}/release/examples/fixed_body" $PORT "$WORK/site/HelloWorld.html" all-but-date
# One worker: the current-thread runtime bare hyper runs on, and the one the hyper backend
# runs pinned to one core in benches/run.sh (unpinned it would run two workers here).
count hyper "$BIN" -q serve --threads 1 --backend hyper --root "$WORK/site" --port $PORT
count raw "$BIN" -q serve --backend raw --root "$WORK/site" --port $PORT

#!/usr/bin/env bash
# What each server's answers cost the load generator. At S1 wrk, on its one core, is what
# runs out first: a server whose answers take wrk longer to read is asked fewer times a
# second, however little CPU it spends itself. This runs wrk under callgrind against each
# server in turn (S1's request for HelloWorld.html, keep-alive, over 16 connections rather
# than 64: under valgrind wrk is slow enough that more would only wait) and prints the
# size of the server's answer head, and wrk's user-space instructions per answer, in all
# and in its HTTP parser (`http_parser_execute`).
#
#   benches/wrk-cost.sh [SECONDS, default 4]
#
# wrk's start (LuaJIT, its threads) is left out of "in all": wrk runs twice, for SECONDS and
# for twice that, and the difference in instructions is divided by the difference in
# answers. The parser runs only on answers, so its figure is taken from the longer run.
# What this does not see: the kernel's share (a head and body in two segments would cost
# wrk a read more, natively; under valgrind every answer has arrived whole before wrk
# reads), and wrk's summary at the end, which walks its latency histogram and so grows
# with the slowest answer, not with the count (small beside the loads' hundreds of
# millions). lighttpd and nginx serve from the harness's configuration, without its sendfile
# settings: the bytes of a small answer are the same.
#
# With ONLY='NAME ...' (lighttpd nginx raw hyper fixed) only those run; `fixed` is
# examples/fixed_body.rs, bare hyper. BIN=path measures an already built twinserve. Needs
# valgrind, wrk, curl, lighttpd and nginx (installed with apt-get if missing), and python3.
# Loopback only; every load is bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_SHORT=${1:-4}
source benches/common.sh
need valgrind:valgrind wrk:wrk curl:curl lighttpd:lighttpd nginx:nginx taskset:util-linux python3:python3
release_bin fixed_body
PORT=18494
URL=http://127.0.0.1:$PORT/HelloWorld.html
scratch
lighttpd_config "$WORK" $PORT
chmod 755 "$WORK" # nginx's worker drops to an unprivileged user and must read the site
chmod -R a+rX "$WORK/site"
nginx_config "$WORK/nginx" "$WORK/site" $PORT "keepalive_requests 1000000;"

# wrk_run SECONDS NAME -> prints "instructions parser_instructions answers"
wrk_run() {
  local out=$WORK/$2.$1.cg log=$WORK/$2.$1.wrk
  env "$GLIBC_COUNTABLE" taskset -c "${LOAD_CPU:-1}" \
    valgrind --tool=callgrind --callgrind-out-file="$out" \
    wrk -t1 -c16 -d"$1"s "$URL" >"$log" 2>&1 || { cat "$log" >&2; return 1; }
  wrk_clean "$log" "$2"
  python3 - "$out" "$log" <<'PY'
import re, subprocess, sys
dump, log = sys.argv[1], sys.argv[2]
answers = re.search(r"(\d+) requests in", open(log).read())
text = subprocess.run(["callgrind_annotate", "--threshold=100", dump],
                      capture_output=True, text=True, check=True).stdout
total = re.search(r"^\s*([\d,]+) .*PROGRAM TOTALS", text, re.M)
parser = re.search(r"^\s*([\d,]+) .*:http_parser_execute ", text, re.M)
if not (answers and total and parser):
    sys.exit(f"{dump}: no answer count, total or http_parser_execute line (a wrk without symbols?)")
print(int(total[1].replace(",", "")), int(parser[1].replace(",", "")), answers[1])
PY
}

measure() { # name command...
  local name=$1; shift
  wanted "$name" || return 0
  # Not NAME.log: lighttpd writes its own errors there.
  start_pinned 100 "$WORK/$name.out" "$URL" "$@"
  local head short long
  head=$(curl -s --max-time 10 -D - -o /dev/null "$URL" | wc -c)
  short=$(wrk_run "$SECONDS_SHORT" "$name")
  long=$(wrk_run $((SECONDS_SHORT * 2)) "$name")
  stop_pinned
  # shellcheck disable=SC2086 # three numbers each
  set -- $short $long
  if [ "$6" -le "$3" ]; then
    echo "$name: the longer run had no more answers ($3, then $6)" >&2
    return 1
  fi
  awk -v n="$name" -v h="$head" -v i1="$1" -v a1="$3" -v i2="$4" -v p2="$5" -v a2="$6" 'BEGIN {
    printf "%-10s %10d %18.0f %14.0f %10d\n", n, h, (i2 - i1) / (a2 - a1), p2 / a2, a2 }'
}

printf '%-10s %10s %18s %14s %10s\n' server "head bytes" "wrk instr/answer" "of it parsing" answers
measure lighttpd lighttpd -D -f "$WORK/lighttpd.conf"
measure nginx nginx -e "$WORK/nginx/error.log" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf"
measure raw "$BIN" -q serve --backend raw --root "$WORK/site" --host 127.0.0.1 --port $PORT
measure hyper "$BIN" -q serve --threads 1 --backend hyper --root "$WORK/site" --host 127.0.0.1 --port $PORT
measure fixed "${CARGO_TARGET_DIR:-$PWD/target}/release/examples/fixed_body" $PORT "$WORK/site/HelloWorld.html"

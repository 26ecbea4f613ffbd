#!/usr/bin/env bash
# What each server's answers cost the load generator. At S1 wrk, on its one core, is what
# runs out first: a server whose answers take wrk longer to read is asked fewer times a
# second, however little CPU it spends itself. This runs wrk under callgrind against each
# server in turn (S1's request: HelloWorld.html, keep-alive, 16 connections) and prints
# the size of the server's answer head, and wrk's user-space instructions per answer, in
# all and in its HTTP parser (`http_parser_execute`).
#
#   benches/wrk-cost.sh [SECONDS, default 4]
#
# wrk's start (LuaJIT, its threads) is left out of "in all": wrk runs twice, for SECONDS and
# for twice that, and the difference in instructions is divided by the difference in
# answers. The parser runs only on answers, so its figure is taken from the longer run.
# With ONLY='NAME ...' (lighttpd nginx raw hyper fixed) only those run. BIN=path measures an
# already built twinserve. Needs valgrind, wrk, curl, lighttpd and nginx (installed with
# apt-get if missing). Loopback only; every load is bounded in time.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_SHORT=${1:-4}
source benches/common.sh
need valgrind:valgrind wrk:wrk curl:curl lighttpd:lighttpd nginx:nginx taskset:util-linux
release_bin fixed_body
PORT=18497
URL=http://127.0.0.1:$PORT/HelloWorld.html
WORK=$(mktemp -d)
SPID=
# TERM first: nginx's master stops its worker then, where a KILL would leave it listening.
trap '[ -n "$SPID" ] && { kill $SPID; sleep 1; kill -9 $SPID; } 2>/dev/null; rm -rf "$WORK"' EXIT
lighttpd_config "$WORK" $PORT
# An hour old, as a site being served is: twinserve sends a file changed within the last
# second without validators, and the answers measured should be the usual ones.
find "$WORK/site" -type f -exec touch -d '1 hour ago' {} +
chmod 755 "$WORK" # nginx's worker drops to an unprivileged user and must read the site
chmod -R a+rX "$WORK/site"
nginx_config "$WORK/nginx" "$WORK/site" $PORT "keepalive_requests 1000000;"

# wrk_run SECONDS NAME -> prints "instructions parser_instructions answers"
wrk_run() {
  local out=$WORK/$2.$1.cg
  taskset -c "${LOAD_CPU:-1}" valgrind --tool=callgrind --callgrind-out-file="$out" \
    wrk -t1 -c16 -d"$1"s "$URL" >"$WORK/wrk.log" 2>&1
  local answers
  answers=$(awk '/requests in/ {print $1}' "$WORK/wrk.log")
  # Non-2xx answers would be answers of another size: the figures would not be about this page.
  if grep -q "Non-2xx\|Socket errors" "$WORK/wrk.log"; then
    cat "$WORK/wrk.log" >&2
    echo "$2: wrk saw errors" >&2
    return 1
  fi
  callgrind_annotate --threshold=100 "$out" 2>/dev/null | awk -v a="$answers" '
    /PROGRAM TOTALS/ {gsub(/,/, "", $1); total = $1}
    /:http_parser_execute / {gsub(/,/, "", $1); parser = $1}
    END {print total, parser + 0, a}'
}

measure() { # name command...
  local name=$1; shift
  [ -z "${ONLY:-}" ] || [[ " $ONLY " == *" $name "* ]] || return 0
  taskset -c "${SERVER_CPU:-0}" "$@" >"$WORK/$name.log" 2>&1 &
  SPID=$!
  wait_for "$URL"
  local head short long
  head=$(curl -s -D - -o /dev/null "$URL" | wc -c)
  short=$(wrk_run "$SECONDS_SHORT" "$name")
  long=$(wrk_run $((SECONDS_SHORT * 2)) "$name")
  kill $SPID 2>/dev/null || true
  wait $SPID 2>/dev/null || true
  SPID=
  # shellcheck disable=SC2086 # three numbers each
  set -- $short $long
  awk -v n="$name" -v h="$head" -v i1="$1" -v a1="$3" -v i2="$4" -v p2="$5" -v a2="$6" 'BEGIN {
    printf "%-10s %10d %18.0f %14.0f %10d\n", n, h, (i2 - i1) / (a2 - a1), p2 / a2, a2 }'
}

printf '%-10s %10s %18s %14s %10s\n' server "head bytes" "wrk instr/answer" "of it parsing" answers
measure lighttpd lighttpd -D -f "$WORK/lighttpd.conf"
measure nginx nginx -e "$WORK/nginx/error.log" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf"
measure raw "$BIN" -q serve --backend raw --root "$WORK/site" --port $PORT
measure hyper "$BIN" -q serve --threads 1 --backend hyper --root "$WORK/site" --port $PORT
measure fixed "${CARGO_TARGET_DIR:-$PWD/target}/release/examples/fixed_body" $PORT "$WORK/site/HelloWorld.html"

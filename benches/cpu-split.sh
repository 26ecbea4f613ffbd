#!/usr/bin/env bash
# Where one load's CPU time goes, CPU by CPU: the server pinned to one CPU and wrk to the
# other, as benches/run.sh runs them, and each CPU's user, system, softirq and idle time
# over the load, from /proc/stat (in ticks of 1/100 s). Over loopback the kernel's sending
# and receiving run on whichever CPU drives them, so this shows whose CPU the bytes cost:
# the figure behind "The unsent backlog" in docs/benchmarks.md.
#
#   bash benches/cpu-split.sh [-c CONNECTIONS] [-d SECONDS] URL -- SERVER COMMAND...
#
#   -c  wrk's connections (default 8)
#   -d  seconds of load (default 3)
#
# e.g., for a 1 MiB file (any folder holding one):
#   bash benches/cpu-split.sh http://127.0.0.1:18700/1m.bin -- \
#       target/release/twinserve serve --backend hyper --port 18700 -q DIR
#
# The URL must be served by the command once it is up; it must be on loopback. The server
# is stopped when the script ends, however it ends. Environment: SERVER_CPU (default 0),
# LOAD_CPU (default 1). Needs wrk and curl.
set -euo pipefail

conns=8 secs=3
while getopts "c:d:" opt; do
  case $opt in
    c) conns=$OPTARG ;;
    d) secs=$OPTARG ;;
    *) sed -n '2,19p' "$0" >&2; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
[ $# -ge 3 ] && [ "$2" = "--" ] || { sed -n '2,19p' "$0" >&2; exit 2; }
url=$1
shift 2
case $url in
  http://127.*|http://localhost[:/]*|http://\[::1\]*) ;;
  *) echo "cpu-split.sh: $url is not on loopback" >&2; exit 2 ;;
esac
for tool in wrk curl taskset; do
  command -v $tool >/dev/null || { echo "cpu-split.sh: needs $tool" >&2; exit 1; }
done
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}

taskset -c "$SERVER_CPU" "$@" >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -fs -o /dev/null "$url" && break
  kill -0 $server 2>/dev/null || { echo "cpu-split.sh: the server exited" >&2; exit 1; }
  sleep 0.1
done
curl -fs -o /dev/null "$url" || { echo "cpu-split.sh: $url does not answer" >&2; exit 1; }

ticks() { grep -E "^cpu($SERVER_CPU|$LOAD_CPU) " /proc/stat; }
before=$(ticks)
rate=$(taskset -c "$LOAD_CPU" wrk -t1 -c"$conns" -d"${secs}s" "$url" | awk '/Requests\/sec/{print $2}')
after=$(ticks)
echo "requests/s $rate"
# /proc/stat: cpuN user nice system idle iowait irq softirq steal ...
paste <(echo "$before") <(echo "$after") | awk -v s="$SERVER_CPU" '{
  n = 11
  role = ($1 == "cpu" s) ? "server" : "wrk"
  printf "%-4s (%s)  user %4d  system %4d  softirq %4d  idle %4d\n", $1, role,
    $(n+2)-$2, $(n+4)-$4, $(n+8)-$8, $(n+5)-$5
}'

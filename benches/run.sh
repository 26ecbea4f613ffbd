#!/usr/bin/env bash
# The server benchmark: lighttpd (the reference every ratio is taken against),
# nginx, and both twinserve backends, each serving the same folder on loopback,
# one server at a time. The server is pinned to one core and wrk to the other,
# so each scenario measures what one core of server can do.
#
#   bash benches/run.sh [-d SECONDS] [-r ROUNDS] [-s S1,S2,S3,S4,S5]
#                       [-S lighttpd,nginx,raw,hyper,fixed] [-x 'ARGS'] [-p PORT]
#                       [-o ROWS.tsv] [-k]
#
#   -d  seconds of load per scenario (default 8)
#   -r  rounds; every figure printed is the median over rounds (default 3).
#       Even rounds run the servers in reverse order, so drift shows as spread.
#   -s  scenarios (default all):
#         S1  small file (HelloWorld.html), keep-alive, 64 connections
#         S2  small file, `Connection: close` on every request, 16 connections
#         S3  1 MiB file, keep-alive, 8 connections
#         S4  100 MiB file over one connection, after one warm-up download
#         S5  small file, keep-alive, 1000 connections
#   -S  servers (default lighttpd,nginx,raw,hyper); lighttpd must be among them
#       for the ratio column. `fixed` is examples/fixed_body.rs, hyper answering
#       every path with HelloWorld.html from memory: the hyper backend's floor,
#       meaningful for S1, S2 and S5 only
#   -x  extra arguments for both twinserve backends, e.g. '--chunk-size 1024'
#       or '--threads 16'
#   -p  loopback port the servers listen on (default 18600)
#   -o  also keep every round's raw rows in this TSV file
#   -k  keep the scratch folder (server logs, configs) instead of removing it
#
# Per server and scenario it prints req/s, MB/s, the ratio of req/s to
# lighttpd's, wrk's p99 latency, errors (socket errors and non-2xx answers),
# the server's peak RSS (VmRSS of all its processes, summed, sampled every
# 0.1 s while the load runs) and requests per server CPU-second (requests
# answered over the utime+stime its processes spent in that scenario, from
# /proc/PID/stat): the figure to compare when wrk, not the server, is the one
# out of CPU.
#
# Installs wrk, curl, nginx and lighttpd with apt-get when missing (Debian,
# root), builds twinserve in release, and removes every server it started when
# it ends, however it ends. Every load is bounded in time; nothing listens or
# connects beyond 127.0.0.1. Environment: SERVER_CPU (default 0), LOAD_CPU
# (default 1), BIN (a twinserve binary to measure instead of the one it builds,
# e.g. an older commit's, to compare two builds run by run).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '7,28p' "$0" >&2; exit 2; }

DURATION=8 ROUNDS=3 SCENARIOS=S1,S2,S3,S4,S5 SERVERS=lighttpd,nginx,raw,hyper
PORT=18600 ROWS_OUT='' KEEP='' EXTRA=''
while getopts "d:r:s:S:x:p:o:kh" opt; do
  case $opt in
    d) DURATION=$OPTARG ;;
    r) ROUNDS=$OPTARG ;;
    s) SCENARIOS=$OPTARG ;;
    S) SERVERS=$OPTARG ;;
    x) EXTRA=$OPTARG ;;
    p) PORT=$OPTARG ;;
    o) ROWS_OUT=$OPTARG ;;
    k) KEEP=1 ;;
    *) usage ;;
  esac
done
[[ $DURATION =~ ^[1-9][0-9]*$ && $ROUNDS =~ ^[1-9][0-9]*$ && $PORT =~ ^[1-9][0-9]*$ ]] || usage
IFS=, read -r -a scenario_list <<<"$SCENARIOS"
IFS=, read -r -a server_list <<<"$SERVERS"
for s in "${scenario_list[@]}"; do [[ $s =~ ^S[1-5]$ ]] || { echo "unknown scenario $s" >&2; usage; }; done
for s in "${server_list[@]}"; do
  case $s in lighttpd | nginx | raw | hyper | fixed) ;; *) echo "unknown server $s" >&2; usage ;; esac
done
SERVER_CPU=${SERVER_CPU:-0}
LOAD_CPU=${LOAD_CPU:-1}

# shellcheck source=benches/common.sh
source benches/common.sh
need wrk:wrk curl:curl taskset:util-linux python3:python3
for s in "${server_list[@]}"; do
  case $s in lighttpd) need lighttpd:lighttpd ;; nginx) need nginx:nginx ;; esac
done

examples=()
[[ ,$SERVERS, == *,fixed,* ]] && examples=(fixed_body)
# A BIN handed over is measured as it is (an older commit's, to compare builds run by run).
release_bin "${examples[@]}"
read -r -a extra_args <<<"$EXTRA"
TARGET_DIR=${CARGO_TARGET_DIR:-target}
[[ $TARGET_DIR = /* ]] || TARGET_DIR=$PWD/$TARGET_DIR

# --- the folder every server serves, and the scratch space -----------------
WORK=$(mktemp -d /tmp/twinserve-bench.XXXXXX)
chmod 755 "$WORK" # nginx's worker drops to an unprivileged user and must read it
ROOT=$WORK/root
cp -r site "$ROOT"
head -c $((1 << 20)) /dev/urandom >"$ROOT/1m.bin"
head -c $((100 << 20)) /dev/urandom >"$ROOT/100m.bin"
chmod -R a+rX "$ROOT"
ROWS=$WORK/rows.tsv
BASE=http://127.0.0.1:$PORT

SAMPLER_PID='' LOAD_PID='' SPID=''
cleanup() {
  local pid
  for pid in $LOAD_PID $SAMPLER_PID; do kill "$pid" 2>/dev/null || true; done
  stop_pinned
  if [ -n "$KEEP" ]; then echo "scratch kept in $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ulimit -n 65536 2>/dev/null || ulimit -n 8192 2>/dev/null || true

# --- servers ----------------------------------------------------------------
write_lighttpd_conf() {
  cat >"$WORK/lighttpd.conf" <<CONF
server.document-root = "$ROOT"
server.bind = "127.0.0.1"
server.port = $PORT
server.errorlog = "$WORK/lighttpd.error.log"
server.network-backend = "sendfile"
server.max-keep-alive-requests = 1000000
server.max-connections = 4096
server.max-fds = 16384
index-file.names = ( "index.html" )
$LIGHTTPD_TYPES
CONF
}

write_nginx_conf() {
  nginx_config "$WORK/nginx" "$ROOT" "$PORT" "sendfile on; tcp_nopush on; keepalive_requests 1000000;"
}

# start_server NAME: starts it pinned to SERVER_CPU (start_pinned: SPID), waits
# until it answers (100 tries, as wait_for). Returns 2 when the port is taken.
start_server() {
  local name=$1 cmd
  case $name in
    lighttpd) write_lighttpd_conf; cmd=(lighttpd -D -f "$WORK/lighttpd.conf") ;;
    nginx) write_nginx_conf; cmd=(nginx -e "$WORK/nginx/error.log" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf") ;;
    raw | hyper) cmd=("$BIN" -q serve --backend "$name" --root "$ROOT" --host 127.0.0.1 --port "$PORT" "${extra_args[@]}") ;;
    fixed) cmd=("$TARGET_DIR/release/examples/fixed_body" "$PORT" "$ROOT/HelloWorld.html") ;;
  esac
  local started=0
  start_pinned 100 "$WORK/$name.log" "$BASE/HelloWorld.html" "${cmd[@]}" || started=$?
  case $started in
    0) ;;
    2) echo "choose another port with -p" >&2 ;;
    *) echo "$name did not start" >&2 ;;
  esac
  return $started
}

# --- what a server costs ------------------------------------------------------
# family PID: the process and all its descendants (nginx's worker is a child).
family() {
  local pid=$1 child
  echo "$pid"
  # shellcheck disable=SC2013 # the kernel writes the children as space-separated pids
  for child in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do
    family "$child"
  done
}

# cpu_ticks PID: utime+stime of the process family, in clock ticks. The fields
# are counted after the ")" closing the command name, which may hold spaces.
cpu_ticks() {
  local total=0 pid ticks
  for pid in $(family "$1"); do
    ticks=$(sed 's/^.*) //' /proc/"$pid"/stat 2>/dev/null | awk '{print $12 + $13}') || continue
    total=$((total + ${ticks:-0}))
  done
  echo "$total"
}

# rss_kib PID: VmRSS of the process family, summed.
rss_kib() {
  local total=0 pid kib
  for pid in $(family "$1"); do
    kib=$(awk '/^VmRSS:/ {print $2}' /proc/"$pid"/status 2>/dev/null) || continue
    total=$((total + ${kib:-0}))
  done
  echo "$total"
}

# sample_rss PID OUT LOADPID: writes the largest rss_kib seen to OUT, sampling
# every 0.1 s until LOADPID ends (and never longer than the load's own bound).
sample_rss() {
  local pid=$1 out=$2 load=$3 peak=0 now i
  for ((i = 0; i < (DURATION + 40) * 10; i++)); do
    now=$(rss_kib "$pid")
    ((now > peak)) && peak=$now
    echo "$peak" >"$out"
    kill -0 "$load" 2>/dev/null || break
    sleep 0.1
  done
}

# --- one scenario -------------------------------------------------------------
# run_scenario NAME SCENARIO ROUND: runs wrk against the started server and
# appends one row to ROWS.
run_scenario() {
  local name=$1 scenario=$2 round=$3 path=/HelloWorld.html conns=64 extra=()
  case $scenario in
    S1) ;;
    S2) conns=16 extra=(-H "Connection: close") ;;
    S3) path=/1m.bin conns=8 ;;
    S4) path=/100m.bin conns=1 ;;
    S5) conns=1000 ;;
  esac
  # The scenarios send files from the page cache, but a file's pages may leave it while
  # other servers run (on the machine these figures come from they do, within a minute,
  # with most of memory free): read back first, so no server reads them from the disk.
  [ "$path" = /HelloWorld.html ] || cat "$ROOT$path" >/dev/null
  if [ "$scenario" = S4 ]; then
    # One download before the measured ones: the server's first answer for the file
    # (opening it, keeping it in its cache) is not what S4 measures.
    taskset -c "$LOAD_CPU" curl -s -o /dev/null --max-time 60 "$BASE$path" || true
  fi
  local out=$WORK/wrk.out peak=$WORK/peak
  echo 0 >"$peak"
  local before after
  before=$(cpu_ticks "$SPID")
  timeout -k 5 $((DURATION + 30)) taskset -c "$LOAD_CPU" \
    wrk --latency -t1 -c"$conns" -d"${DURATION}s" "${extra[@]}" "$BASE$path" >"$out" 2>&1 &
  LOAD_PID=$!
  sample_rss "$SPID" "$peak" "$LOAD_PID" &
  SAMPLER_PID=$!
  wait "$LOAD_PID" || true
  wait "$SAMPLER_PID" || true
  LOAD_PID='' SAMPLER_PID=''
  after=$(cpu_ticks "$SPID")
  local alive=yes
  kill -0 "$SPID" 2>/dev/null || alive=no
  # wrk's report -> requests, seconds, req/s, MB/s, p99 in ms, errors
  awk -v name="$name" -v scen="$scenario" -v round="$round" -v peak="$(cat "$peak")" \
    -v ticks=$((after - before)) -v hz="$(getconf CLK_TCK)" -v alive=$alive '
    function ms(v) {
      if (v ~ /us$/) return v / 1000
      if (v ~ /ms$/) return v + 0
      if (v ~ /m$/) return v * 60000
      if (v ~ /s$/) return v * 1000
      return v + 0
    }
    function mib(v) {
      if (v ~ /GB$/) return v * 1024
      if (v ~ /MB$/) return v + 0
      if (v ~ /KB$/) return v / 1024
      return v / 1048576
    }
    / requests in / { requests = $1 }
    /^Requests\/sec:/ { rps = $2 }
    /^Transfer\/sec:/ { mbps = mib($2) }
    /^ +99%/ { p99 = ms($2) }
    /Socket errors:/ { gsub(/,/, ""); errors += $4 + $6 + $8 + $10 }
    /Non-2xx or 3xx responses:/ { errors += $5 }
    END {
      cpu = ticks / hz
      per_cpu = (cpu > 0) ? sprintf("%.1f", requests / cpu) : "NA"
      printf "%s\t%s\t%s\t%.1f\t%.1f\t%.3f\t%d\t%d\t%.2f\t%s\t%s\n", round, name, scen,
        rps, mbps, p99, errors, peak, cpu, per_cpu, alive
    }' "$out" >>"$ROWS"
  [ $alive = yes ]
}

# --- the run ------------------------------------------------------------------
printf 'round\tserver\tscenario\treq_s\tMB_s\tp99_ms\terrors\tpeak_rss_kib\tcpu_s\treq_per_cpu_s\talive\n' >"$ROWS"
echo "CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -1), server on CPU $SERVER_CPU, wrk on CPU $LOAD_CPU" >&2
echo "rounds $ROUNDS, ${DURATION}s per scenario, scenarios $SCENARIOS, servers $SERVERS" >&2
for ((round = 1; round <= ROUNDS; round++)); do
  order=("${server_list[@]}")
  if ((round % 2 == 0)); then
    order=()
    for ((i = ${#server_list[@]} - 1; i >= 0; i--)); do order+=("${server_list[$i]}"); done
  fi
  for name in "${order[@]}"; do
    echo "round $round: $name" >&2
    started=0
    start_server "$name" || started=$?
    [ $started -ne 2 ] || exit 1
    [ $started -eq 0 ] || continue
    for scenario in "${scenario_list[@]}"; do
      run_scenario "$name" "$scenario" "$round" || { echo "$name died during $scenario" >&2; break; }
    done
    stop_pinned
  done
done
[ -n "$ROWS_OUT" ] && cp "$ROWS" "$ROWS_OUT"

python3 - "$ROWS" "$SCENARIOS" "$SERVERS" <<'PY'
import csv, statistics, sys

rows = list(csv.DictReader(open(sys.argv[1]), delimiter="\t"))
scenarios, servers = sys.argv[2].split(","), sys.argv[3].split(",")
titles = {
    "S1": "S1 small file, keep-alive, 64 connections",
    "S2": "S2 small file, Connection: close, 16 connections",
    "S3": "S3 1 MiB file, keep-alive, 8 connections",
    "S4": "S4 100 MiB file, one connection",
    "S5": "S5 small file, keep-alive, 1000 connections",
}

def num(v, width):
    # small counts (S4's requests) keep a decimal; the rest are whole numbers
    if v is None:
        return f"{'NA':>{width}}"
    return f"{v:>{width}.1f}" if abs(v) < 100 else f"{v:>{width}.0f}"

def med(values):
    values = [float(v) for v in values if v not in ("NA", "")]
    return statistics.median(values) if values else None

rounds = len({r["round"] for r in rows})
print(f"medians over {rounds} round(s); ratio = req/s against lighttpd's in the same run")
for scen in scenarios:
    print(f"\n{titles[scen]}")
    print(f"  {'server':<9}{'req/s':>10}{'MB/s':>9}{'ratio':>8}{'p99 ms':>9}{'errors':>8}"
          f"{'peak RSS MB':>13}{'req/CPU-s':>11}")
    base = med(r["req_s"] for r in rows if r["scenario"] == scen and r["server"] == "lighttpd")
    for server in servers:
        mine = [r for r in rows if r["scenario"] == scen and r["server"] == server]
        if not mine:
            print(f"  {server:<9}{'(no result)':>10}")
            continue
        rps = med(r["req_s"] for r in mine)
        ratio = f"{rps / base:.2f}x" if base else "-"
        peak = max(int(r["peak_rss_kib"]) for r in mine) / 1024
        per_cpu = med(r["req_per_cpu_s"] for r in mine)
        errors = sum(int(r["errors"]) for r in mine)
        dead = "" if all(r["alive"] == "yes" for r in mine) else "  (died)"
        print(f"  {server:<9}{num(rps, 10)}{med(r['MB_s'] for r in mine):>9.1f}{ratio:>8}"
              f"{med(r['p99_ms'] for r in mine):>9.2f}{errors:>8}{peak:>13.1f}"
              f"{num(per_cpu, 11)}{dead}")
PY

# shellcheck shell=bash
# Shared by the benchmark scripts (sourced, not run): installing what they need, the
# lighttpd and nginx they measure against, and waiting for a server to answer.

# need COMMAND:PACKAGE... — installs each Debian PACKAGE whose COMMAND is missing.
need() {
  local pkg
  for pkg in "$@"; do
    command -v "${pkg%%:*}" >/dev/null || { apt-get update -qq && apt-get install -y -qq "${pkg#*:}" >/dev/null; }
  done
}

# release_bin [EXAMPLE...] — sets BIN to a release twinserve built now, or, when BIN is set
# already, takes that binary as it is; the EXAMPLEs named are built in release either way.
# Each in a cargo invocation of its own: built with an example, twinserve would get the
# features of the dev-dependencies too (tokio's test-util among them), and be another program
# than the one `cargo build --release` makes.
release_bin() {
  local example dir=${CARGO_TARGET_DIR:-target}
  [[ $dir = /* ]] || dir=$PWD/$dir
  if [ -z "${BIN:-}" ]; then
    echo "building twinserve (release)" >&2
    cargo build --release --quiet --bin twinserve
  fi
  for example in "$@"; do cargo build --release --quiet --example "$example"; done
  BIN=${BIN:-$dir/release/twinserve}
}

# The types lighttpd gives the files measured, as twinserve gives them. lighttpd before
# 1.4.71 (Debian 12 has 1.4.69) answers a file without one as `application/octet-stream`
# and sends neither `ETag` nor `Last-Modified`: a shorter answer than the one it is compared
# with, cheaper for it and for wrk.
LIGHTTPD_TYPES='mimetype.assign = ( ".html" => "text/html; charset=utf-8", ".css" => "text/css; charset=utf-8",
                    ".svg" => "image/svg+xml; charset=utf-8", ".png" => "image/png",
                    ".bin" => "application/octet-stream" )'

# scratch — a scratch folder in WORK, removed when the script ends, however it ends, with
# the server start_pinned started (SPID) stopped first.
scratch() {
  WORK=$(mktemp -d)
  SPID=
  trap 'stop_pinned; rm -rf "$WORK"' EXIT
}

# copy_site DIR — copies site/ to DIR/site, its files an hour old, as a site being served
# is: twinserve sends a file changed within the last second without validators, and the
# answers measured should be the usual ones.
copy_site() {
  cp -r site "$1/site"
  find "$1/site" -type f -exec touch -d '1 hour ago' {} +
}

# drop_pages FILE — writes FILE out and drops its pages from the page cache, so that the next
# read of it goes to the disk; fails if any page stayed (on tmpfs, or a page mapped or locked
# by some process, the kernel keeps it without a word).
drop_pages() {
  python3 - "$1" <<'PY'
import ctypes, os, sys
path = sys.argv[1]
fd = os.open(path, os.O_RDONLY)
os.fsync(fd)  # the kernel drops only clean pages
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
# mincore on a fresh read-only mapping says which pages are in the page cache, reading none.
size, page = os.fstat(fd).st_size, os.sysconf("SC_PAGE_SIZE")
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
addr = libc.mmap(None, size, 1, 1, fd, 0)  # PROT_READ, MAP_SHARED
if addr in (None, ctypes.c_void_p(-1).value):
    sys.exit(f"drop_pages: mmap {path}: {os.strerror(ctypes.get_errno())}")
pages = (size + page - 1) // page
vec = (ctypes.c_ubyte * pages)()
if libc.mincore(ctypes.c_void_p(addr), ctypes.c_size_t(size), vec) != 0:
    sys.exit(f"drop_pages: mincore {path}: {os.strerror(ctypes.get_errno())}")
left = sum(b & 1 for b in vec)
if left:
    sys.exit(f"drop_pages: {left} of {pages} pages of {path} still in the page cache")
PY
}

# cpu_ticks PID — user+system clock ticks (`getconf CLK_TCK` a second) the process has used,
# all its threads.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# wanted NAME — whether ONLY (a space-separated list of names, if set) names NAME.
wanted() {
  [ -z "${ONLY:-}" ] || [[ " $ONLY " == *" $1 "* ]]
}

# wrk_clean LOG NAME — fails, showing LOG, if the wrk run it holds saw errors or other
# statuses: its figures would not be about the page measured.
wrk_clean() {
  if grep -q "Non-2xx\|Socket errors" "$1"; then
    cat "$1" >&2
    echo "$2: wrk saw errors" >&2
    return 1
  fi
}

# For programs run under callgrind: valgrind counts every iteration of a `rep movsb`/`rep
# stosb` as an instruction, which glibc uses for copies and fills from 2 KiB up (a 2 KiB
# memset would count as 2,000). Raised thresholds make glibc use vector loops, counted as
# what they cost. Set as `env "$GLIBC_COUNTABLE" COMMAND`.
# shellcheck disable=SC2034 # used by the scripts that source this
GLIBC_COUNTABLE=GLIBC_TUNABLES=glibc.cpu.x86_rep_movsb_threshold=0x10000000:glibc.cpu.x86_rep_stosb_threshold=0x10000000

# lighttpd_config DIR PORT — copies site/ to DIR/site (copy_site) and writes DIR/lighttpd.conf
# serving it on 127.0.0.1:PORT with keep-alive unbounded, so a load run never sees it close.
lighttpd_config() {
  copy_site "$1"
  cat >"$1/lighttpd.conf" <<CONF
server.document-root = "$1/site"
server.bind = "127.0.0.1"
server.port = $2
server.max-keep-alive-requests = 1000000
server.errorlog = "$1/lighttpd.log"
$LIGHTTPD_TYPES
CONF
}

# nginx_config DIR ROOT PORT [HTTP_LINES] [LISTEN_FLAGS] [SERVER_LINES] — writes DIR/nginx.conf:
# one worker in the foreground, no access log, ROOT served on 127.0.0.1:PORT. HTTP_LINES go
# into the http block (sendfile, keep-alive limits), LISTEN_FLAGS after the port
# ("ssl http2"), SERVER_LINES into the server block (certificates).
nginx_config() {
  mkdir -p "$1"
  cat >"$1/nginx.conf" <<CONF
worker_processes 1;
daemon off;
pid $1/nginx.pid;
error_log $1/error.log error;
worker_rlimit_nofile 16384;
events { worker_connections 4096; }
http {
  types { text/html html; text/css css; image/svg+xml svg; image/png png;
          application/octet-stream bin; }
  charset utf-8;
  access_log off;
  ${4:-}
  server { listen 127.0.0.1:$3 ${5:-}; root $2; ${6:-} }
}
CONF
}

# wait_for URL [TRIES] — polls every 0.1 s until URL answers (default 100 tries, each
# bounded to 10 s, so a server that accepts and never answers cannot hang the caller).
wait_for() {
  local _
  for _ in $(seq "${2:-100}"); do curl -s -o /dev/null --max-time 10 "$1" && return 0; sleep 0.1; done
  echo "no answer from $1" >&2
  return 1
}

# start_pinned TRIES LOG URL COMMAND... — starts COMMAND on SERVER_CPU (default 0), its
# output in LOG, sets SPID, and waits until URL answers (TRIES as in wait_for). Returns 2 if
# something answered on URL before (it would be measured instead), 1 if COMMAND did not
# start, showing LOG. COMMAND runs without the caller's TWINSERVE_* variables, RUST_LOG and
# MALLOC_ARENA_MAX: only the flags the scripts pass decide what a twinserve measured does.
start_pinned() {
  local tries=$1 log=$2 url=$3 name scrub=()
  shift 3
  if curl -s -o /dev/null --max-time 1 "$url"; then
    echo "something already answers on $url" >&2
    return 2
  fi
  for name in "${!TWINSERVE_@}" RUST_LOG MALLOC_ARENA_MAX; do scrub+=(-u "$name"); done
  taskset -c "${SERVER_CPU:-0}" env "${scrub[@]}" "$@" >"$log" 2>&1 &
  SPID=$!
  if ! wait_for "$url" "$tries" || ! kill -0 "$SPID" 2>/dev/null; then
    cat "$log" >&2
    stop_pinned
    return 1
  fi
}

# stop_pinned — stops the server start_pinned started: SIGTERM (nginx's master then stops
# its worker, which a SIGKILL would leave listening), SIGKILL if it is still there after
# 15 s (twinserve's shutdown grace is 10 s). Never fails.
stop_pinned() {
  local i
  [ -n "${SPID:-}" ] || return 0
  kill -TERM "$SPID" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do
    kill -0 "$SPID" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$SPID" 2>/dev/null; then kill -KILL "$SPID" 2>/dev/null || true; fi
  wait "$SPID" 2>/dev/null || true
  SPID=
}

#!/usr/bin/env bash
# Both backends, end to end, with clients nobody on this project wrote: curl, wget,
# Python's urllib and http.client, wrk, and headless Chromium. Each serves a temporary
# copy of site/ on a free loopback port. Installs what it needs from Debian's packages.
#
#   tests/real_clients.sh [--screenshots DIR]
#
# With --screenshots, also writes PNGs of the site, of a terminal running the exercise
# walkthrough, of the HTML compare report and of the client's load page into DIR (the
# README's pictures).
# Every failure stops the script with a message and a non-zero exit code.
set -euo pipefail
cd "$(dirname "$0")/.."

SHOTS=""
if [ "${1:-}" = "--screenshots" ]; then SHOTS=$(realpath -m "${2:?--screenshots needs a directory}"); mkdir -p "$SHOTS"; fi

fail() { echo "real_clients: FAIL: $*" >&2; exit 1; }
say() { echo "real_clients: $*"; }

need=()
for tool in curl wget wrk chromium; do command -v "$tool" >/dev/null || need+=("$tool"); done
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi
command -v python3 >/dev/null || fail "python3 is missing"

cargo build --release --quiet
BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/twinserve
WORK=$(mktemp -d)
SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null
  [ -n "${APP_PID:-}" ] && kill "$APP_PID" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT

cp -r site "$WORK/site"
head -c 1000000 /dev/urandom >"$WORK/site/big.bin"
# An hour old, as a site's files are: a file changed within the last second is sent
# without validators, and the conditional requests below need them.
find "$WORK/site" -type f -exec touch -m -d '1 hour ago' {} +

# Headless Chromium as this machine allows: no sandbox as root, no network beyond loopback.
chrome() {
  timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-background-networking \
    --disable-component-update --disable-sync --no-first-run \
    --user-data-dir="$(mktemp -d -p "$WORK")" "$@" 2>/dev/null
}

start() { # backend [serve flags...] -> sets PORT, SERVER_PID; stdout goes to server.out
  local backend=$1
  shift
  "$BIN" serve --backend "$backend" --root "$WORK/site" --port 0 "$@" >"$WORK/server.out" 2>"$WORK/server.log" &
  SERVER_PID=$!
  for _ in $(seq 100); do
    PORT=$(sed -n 's#.*http://\(127\.0\.0\.1\|\[::1\]\):\([0-9]*\)/.*#\2#p' "$WORK/server.log" | head -1)
    [ -n "$PORT" ] && return 0
    kill -0 "$SERVER_PID" 2>/dev/null || fail "$backend did not start: $(cat "$WORK/server.log")"
    sleep 0.05
  done
  fail "$backend printed no address"
}

stop() { kill -TERM "$SERVER_PID"; wait "$SERVER_PID" || fail "server exited with $?"; SERVER_PID=""; }

for backend in raw hyper; do
  start "$backend"
  URL="http://127.0.0.1:$PORT"
  say "$backend on $URL"

  # --- curl ---
  curl -fsS "$URL/HelloWorld.html" -o "$WORK/hello" && cmp -s "$WORK/hello" site/HelloWorld.html || fail "$backend: curl GET"
  head=$(curl -fsSI "$URL/HelloWorld.html")
  grep -qi '^content-length: '"$(stat -c %s site/HelloWorld.html)" <<<"$head" || fail "$backend: curl HEAD length"
  code=$(curl -s -o "$WORK/part" -w '%{http_code}' -r 1000-1999 "$URL/big.bin")
  [ "$code" = 206 ] && cmp -s "$WORK/part" <(tail -c +1001 "$WORK/site/big.bin" | head -c 1000) || fail "$backend: curl range ($code)"
  etag=$(grep -i '^etag:' <<<"$head" | cut -d' ' -f2 | tr -d '\r') || fail "$backend: curl HEAD has no ETag"
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $etag" "$URL/HelloWorld.html")
  [ "$code" = 304 ] || fail "$backend: curl If-None-Match gave $code"
  code=$(curl -s -o /dev/null -w '%{http_code}' -z "$(date -u -R -d '+1 day')" "$URL/HelloWorld.html")
  [ "$code" = 304 ] || fail "$backend: curl If-Modified-Since gave $code"
  curl -fsS --http1.0 -D "$WORK/h10" "$URL/" -o /dev/null && grep -Eq '^HTTP/1\.[01] 200' "$WORK/h10" || fail "$backend: curl --http1.0"  # hyper answers 1.0 peers in 1.0
  curl -sS -v "$URL/" "$URL/HelloWorld.html" "$URL/assets/style.css" -o /dev/null -o /dev/null -o /dev/null 2>"$WORK/reuse" \
    || fail "$backend: curl with several URLs"
  grep -qi 're-us' "$WORK/reuse" || fail "$backend: curl did not reuse its connection"
  code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/nope.html")
  [ "$code" = 404 ] || fail "$backend: curl 404 gave $code"
  say "$backend: curl GET, HEAD, range, If-None-Match, If-Modified-Since, --http1.0, keep-alive, 404: ok"

  # --- wget: mirror the site through its links; every page and asset byte for byte ---
  rm -rf "$WORK/mirror"
  wget -q -r -np -nH -P "$WORK/mirror" "$URL/" || [ $? = 8 ] || fail "$backend: wget mirror"  # 8: the deliberate 404 link
  for f in index.html HelloWorld.html assets/style.css assets/logo.svg; do
    cmp -s "$WORK/mirror/$f" "site/$f" || fail "$backend: wget mirror: $f differs or is missing"
  done
  say "$backend: wget mirror (index.html, HelloWorld.html, assets): ok"

  # --- Python: urllib, and http.client reusing one connection ---
  python3 - "$URL" <<'PY' || fail "$backend: python"
import http.client, sys, urllib.request
url = sys.argv[1]
body = urllib.request.urlopen(url + "/HelloWorld.html", timeout=5).read()
assert body == open("site/HelloWorld.html", "rb").read(), "urllib body"
host, port = url.removeprefix("http://").split(":")
conn = http.client.HTTPConnection(host, int(port), timeout=5)
sockets = set()
for path in ["/", "/HelloWorld.html", "/assets/style.css", "/missing"]:
    conn.request("GET", path)
    response = conn.getresponse()
    response.read()
    sockets.add(id(conn.sock))
    assert response.status == (404 if path == "/missing" else 200), (path, response.status)
assert len(sockets) == 1, "http.client opened more than one connection"
PY
  say "$backend: python urllib and http.client keep-alive: ok"

  # --- wrk: 3 seconds, no non-2xx ---
  wrk -t1 -c16 -d3s "$URL/HelloWorld.html" >"$WORK/wrk" 2>&1 || fail "$backend: wrk"
  grep -q 'Non-2xx' "$WORK/wrk" && fail "$backend: wrk saw non-2xx: $(cat "$WORK/wrk")"
  grep -q 'Socket errors' "$WORK/wrk" && fail "$backend: wrk saw socket errors: $(cat "$WORK/wrk")"
  say "$backend: wrk $(grep 'Requests/sec' "$WORK/wrk" | tr -s ' '), no errors: ok"

  # --- Chromium: the DOM of both pages ---
  chrome --dump-dom "$URL/HelloWorld.html" >"$WORK/dom1"
  grep -q '<h1>Hello, World!</h1>' "$WORK/dom1" || fail "$backend: chromium DOM of HelloWorld.html"
  chrome --dump-dom "$URL/" >"$WORK/dom2"
  grep -q '<h1>twinserve</h1>' "$WORK/dom2" && grep -q 'href="HelloWorld.html"' "$WORK/dom2" \
    || fail "$backend: chromium DOM of index.html"
  say "$backend: chromium DOM of index.html and HelloWorld.html: ok"

  if [ -n "$SHOTS" ] && [ "$backend" = raw ]; then
    chrome --window-size=1000,720 --screenshot="$SHOTS/site-index.png" "$URL/" >/dev/null
    chrome --window-size=1000,500 --screenshot="$SHOTS/site-hello.png" "$URL/HelloWorld.html" >/dev/null
  fi
  stop
done

# --- Deploying: IPv6, CORS from another origin, a single-page app's deep link, compression,
# the access log; curl and Chromium on both backends ---
mkdir -p "$WORK/app"
python3 -c "print('<p>twinserve compresses this line.</p>' * 2000)" >"$WORK/site/text.html"
echo '{"from": "the other origin"}' >"$WORK/site/data.json"
for backend in raw hyper; do
  if ! python3 -c 'import socket; socket.socket(socket.AF_INET6).bind(("::1", 0))' 2>/dev/null; then
    say "$backend: no IPv6 loopback here; IPv6 with curl skipped"
  else
    start "$backend" --host ::1
    curl -fsS -g "http://[::1]:$PORT/HelloWorld.html" -o "$WORK/hello6" && cmp -s "$WORK/hello6" site/HelloWorld.html \
      || fail "$backend: curl over IPv6"
    grep -q "http://\[::1\]:$PORT/" "$WORK/server.log" || fail "$backend: the startup line has no http://[::1]:PORT/"
    stop
    say "$backend: curl over IPv6 (--host ::1): ok"
  fi

  # The page's own origin: a second server, serving only the page that fetches.
  "$BIN" serve --root "$WORK/app" --port 0 2>"$WORK/app.log" &
  APP_PID=$!
  for _ in $(seq 100); do APP_PORT=$(sed -n 's#.*http://127\.0\.0\.1:\([0-9]*\)/.*#\1#p' "$WORK/app.log"); [ -n "$APP_PORT" ] && break; sleep 0.05; done
  # A page on the app's origin that fetches from $URL; a custom request field
  # makes the fetch need a preflight.
  cors_page() {
    cat >"$WORK/app/cors.html" <<HTML
<!DOCTYPE html><meta charset=utf-8><body><p id=out>pending</p><script>
fetch("$URL/data.json", {headers: {"X-Asked-By": "test"}})
  .then(r => r.json()).then(j => { out.textContent = "cors ok: " + j.from; })
  .catch(e => { out.textContent = "cors blocked"; });
</script>
HTML
    chrome --virtual-time-budget=5000 --dump-dom "http://127.0.0.1:$APP_PORT/cors.html" >"$WORK/cors-dom"
  }
  # Without --cors the browser must refuse: the check below is not vacuous.
  start "$backend"
  URL="http://127.0.0.1:$PORT"
  cors_page
  grep -q 'cors blocked' "$WORK/cors-dom" || fail "$backend: a cross-origin fetch without --cors was not blocked: $(cat "$WORK/cors-dom")"
  stop
  start "$backend" --cors "http://127.0.0.1:$APP_PORT" --fallback index.html --compress \
    --access-log "$WORK/access-$backend.log"
  URL="http://127.0.0.1:$PORT"
  cors_page
  grep -q 'cors ok: the other origin' "$WORK/cors-dom" || fail "$backend: chromium's cross-origin fetch with a preflight: $(cat "$WORK/cors-dom")"
  say "$backend: chromium blocked without --cors, fetched across origins through a preflight with it: ok"

  # The deep link of a single-page app.
  code=$(curl -s -o "$WORK/deep" -w '%{http_code}' "$URL/app/users/42")
  [ "$code" = 200 ] && cmp -s "$WORK/deep" site/index.html || fail "$backend: curl deep link through --fallback ($code)"
  code=$(curl -s -o /dev/null -w '%{http_code}' "$URL/app/missing.js")
  [ "$code" = 404 ] || fail "$backend: a missing asset got $code through --fallback"
  chrome --dump-dom "$URL/app/users/42" >"$WORK/deep-dom"
  grep -q '<h1>twinserve</h1>' "$WORK/deep-dom" || fail "$backend: chromium deep link through --fallback"
  say "$backend: a deep link gets index.html in curl and chromium, a missing asset 404 (--fallback): ok"

  # Compression, decoded by curl and by Chromium, byte for byte.
  curl -fsS --compressed -D "$WORK/ch" "$URL/text.html" -o "$WORK/text" || fail "$backend: curl --compressed"
  grep -qiE '^content-encoding: (br|zstd|gzip)' "$WORK/ch" || fail "$backend: not compressed: $(cat "$WORK/ch")"
  cmp -s "$WORK/text" "$WORK/site/text.html" || fail "$backend: the compressed body decodes to other bytes"
  chrome --dump-dom "$URL/text.html" >"$WORK/text-dom"
  [ "$(grep -o 'twinserve compresses this line' "$WORK/text-dom" | wc -l)" = 2000 ] || fail "$backend: chromium read the compressed page wrong"
  say "$backend: compressed ($(grep -i '^content-encoding' "$WORK/ch" | tr -d '\r')) and decoded byte for byte by curl and chromium (--compress): ok"
  stop
  kill "$APP_PID"; wait "$APP_PID" 2>/dev/null || true
  APP_PID=""
  grep -q '"OPTIONS /data.json HTTP/1.1" 204 ' "$WORK/access-$backend.log" || fail "$backend: no preflight in the access log"
done
# The access logs of both backends: every line in combined format, the same requests.
python3 - "$WORK/access-raw.log" "$WORK/access-hyper.log" <<'PY' || fail "access log"
import re, sys
combined = re.compile(r'^(\S+) \S+ \S+ \[([\w:/]+\s[+\-]\d{4})\] "(\S+) (\S+)\s*(\S*)" (\d{3}) (\d+|-) "([^"\\]*(?:\\.[^"\\]*)*)" "([^"\\]*(?:\\.[^"\\]*)*)"$')
logs = []
for path in sys.argv[1:]:
    lines = open(path).read().splitlines()
    assert lines, path
    for line in lines:
        assert combined.match(line), (path, line)
    # Chromium's own requests (favicon) may differ; curl's are the same on both.
    logs.append(sorted(l.split("] ", 1)[1] for l in lines if '"curl/' in l))
assert logs[0] == logs[1], logs
PY
say "the access logs of both backends parse as combined format, the same curl lines: ok"

# --- Part A in a browser: `serve --once` gives Chromium the page, then stops ---
# --once counts a request, not a connection: Chromium's spare connections do not
# use it up. The page is the one request; the listener closes before the answer
# goes out, so the stylesheet, a second request, is refused.
for backend in raw hyper; do
  start "$backend" --once --print-requests
  URL="http://127.0.0.1:$PORT"
  chrome_exit=0
  chrome --dump-dom "$URL/HelloWorld.html" >"$WORK/once-dom" || chrome_exit=$?
  grep -q '<h1>Hello, World!</h1>' "$WORK/once-dom" ||
    fail "$backend --once: chromium did not get the page (chromium exit $chrome_exit; its page: $(head -c 300 "$WORK/once-dom"); the server printed: $(cat "$WORK/server.out"); its log: $(tail -n 5 "$WORK/server.log"))"
  for _ in $(seq 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$SERVER_PID" 2>/dev/null && fail "$backend --once: still running after the page"
  wait "$SERVER_PID" || fail "$backend --once exited with $?"
  SERVER_PID=""
  requests=$(grep -cE '^[A-Z]+ /' "$WORK/server.out" || true)
  [ "$requests" = 1 ] && grep -q '^GET /HelloWorld.html HTTP/1.1$' "$WORK/server.out" \
    || fail "$backend --once: served $requests requests: $(cat "$WORK/server.out")"
  code=0
  curl -s -o /dev/null --max-time 2 "$URL/assets/style.css" || code=$?
  [ "$code" = 7 ] || fail "$backend --once: the stylesheet was not refused (curl exit $code)"
  say "$backend --once: chromium got the page, the stylesheet was refused, the server exited 0: ok"
done

# --- HTTPS and HTTP/2 (hyper only): Chromium over TLS, and the protocol it used ---
# A self-signed certificate, which Chromium is told to accept; the page writes the
# protocol of its own navigation into the DOM, which must say h2.
cat >"$WORK/site/protocol.html" <<'HTML'
<!DOCTYPE html><title>protocol</title><body><p id="p">none</p>
<script>document.getElementById("p").textContent =
  "protocol=" + performance.getEntriesByType("navigation")[0].nextHopProtocol;</script>
HTML
"$BIN" serve --backend hyper --self-signed --root "$WORK/site" --port 0 >"$WORK/server.out" 2>"$WORK/server.log" &
SERVER_PID=$!
PORT=''
for _ in $(seq 100); do
  PORT=$(sed -n 's#.*https://127\.0\.0\.1:\([0-9]*\)/.*#\1#p' "$WORK/server.log" | head -1)
  [ -n "$PORT" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || fail "hyper --self-signed did not start: $(cat "$WORK/server.log")"
  sleep 0.05
done
[ -n "$PORT" ] || fail "hyper --self-signed printed no address"
grep -q 'SHA-256 fingerprint' "$WORK/server.log" || fail "--self-signed printed no fingerprint"
chrome --ignore-certificate-errors --dump-dom "https://127.0.0.1:$PORT/protocol.html" >"$WORK/tls-dom"
grep -q 'protocol=h2' "$WORK/tls-dom" || fail "chromium did not load the page over HTTP/2: $(cat "$WORK/tls-dom")"
chrome --ignore-certificate-errors --dump-dom "https://127.0.0.1:$PORT/HelloWorld.html" >"$WORK/tls-dom2"
grep -q '<h1>Hello, World!</h1>' "$WORK/tls-dom2" || fail "chromium over HTTPS: HelloWorld.html"
stop
say "hyper --self-signed: chromium loaded the site over HTTPS with HTTP/2: ok"

# --- the HTML compare report, as a browser shows it ---
"$BIN" -q compare --root site --format html --out "$WORK/report.html"
chrome --dump-dom "file://$WORK/report.html" >"$WORK/report-dom"
grep -q 'twinserve compare: the lesson' "$WORK/report-dom" || fail "chromium could not render the compare report"
grep -q 'class="matrix"' "$WORK/report-dom" || fail "the lesson page has no attack-class matrix"
say "chromium renders the HTML compare report (the lesson page): ok"

# --- the load client's side-by-side page, as a browser shows it ---
# Two seconds each, so the requests/s chart has more than one point per run.
"$BIN" -q client --backend raw,hyper --root site HelloWorld.html -c 8 -d 2s --html "$WORK/load.html" >"$WORK/load.out" \
  || fail "client --backend raw,hyper --html: $(cat "$WORK/load.out")"
chrome --dump-dom "file://$WORK/load.html" >"$WORK/load-dom"
# Two runs: a latency curve and a requests/s line each, every one a line, not a dot.
lines=$(grep -o 'points="[^"]*"' "$WORK/load-dom" | awk '{ if (NF >= 2) n++ } END { print n + 0 }')
[ "$lines" -ge 4 ] || fail "the load page draws $lines lines, not a latency and a requests/s line per run"
grep -q '>raw<' "$WORK/load-dom" && grep -q '>hyper<' "$WORK/load-dom" || fail "the load page does not name both runs"
say "chromium renders the client's side-by-side load page: ok"

if [ -n "$SHOTS" ]; then
  chrome --window-size=1280,900 --screenshot="$SHOTS/compare-report.png" "file://$WORK/report.html" >/dev/null
  chrome --window-size=900,1100 --screenshot="$SHOTS/client-load.png" "file://$WORK/load.html" >/dev/null
  # The exercise walkthrough in a terminal: the transcript of real commands, drawn as one.
  {
    echo '$ twinserve serve --once --print-requests &'
    "$BIN" serve --once --print-requests --root site --port 12000 2>&1 &
    once=$!
    sleep 0.3  # the server prints its address first; --once must not be spent on a probe
    echo '$ twinserve client 127.0.0.1 12000 HelloWorld.html --threads 1'
    "$BIN" client 127.0.0.1 12000 HelloWorld.html --threads 1
    wait $once
    echo '$ twinserve client 127.0.0.1 12000 HelloWorld.html --threads 3'
    "$BIN" client 127.0.0.1 12000 HelloWorld.html --threads 3 || true
  } >"$WORK/transcript" 2>&1
  python3 - "$WORK/transcript" "$WORK/terminal.html" <<'PY'
import html, sys
text = open(sys.argv[1], encoding="utf-8", errors="replace").read()
page = ("<!DOCTYPE html><meta charset=utf-8><body style='margin:0;background:#1e1e1e'>"
        "<pre style='margin:0;padding:16px;color:#d4d4d4;font:14px/1.4 monospace;white-space:pre-wrap'>"
        + html.escape(text) + "</pre>")
open(sys.argv[2], "w", encoding="utf-8").write(page)
PY
  chrome --window-size=1000,560 --screenshot="$SHOTS/terminal-walkthrough.png" "file://$WORK/terminal.html" >/dev/null
  say "screenshots written to $SHOTS"
fi
say "all real clients passed on both backends"

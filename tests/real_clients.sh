#!/usr/bin/env bash
# Both backends, end to end, with clients nobody on this project wrote: curl, wget,
# Python's urllib and http.client, wrk, and headless Chromium. Each serves a temporary
# copy of site/ on a free loopback port. Installs what it needs from Debian's packages.
#
#   tests/real_clients.sh [--screenshots DIR]
#
# With --screenshots, also writes PNGs of the site, of a terminal running the exercise
# walkthrough, and of the HTML compare report into DIR (the README's pictures).
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
BIN=$PWD/target/release/twinserve
WORK=$(mktemp -d)
SERVER_PID=""
cleanup() { [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT

cp -r site "$WORK/site"
head -c 1000000 /dev/urandom >"$WORK/site/big.bin"

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
    PORT=$(sed -n 's#.*http://127\.0\.0\.1:\([0-9]*\)/.*#\1#p' "$WORK/server.log" | head -1)
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
  etag=$(grep -i '^etag:' <<<"$head" | cut -d' ' -f2 | tr -d '\r')
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

# --- Part A in a browser: `serve --once` gives Chromium the page, then stops ---
# --once counts a request, not a connection: Chromium's spare connections do not
# use it up. The page is the one request; the listener closes before the answer
# goes out, so the stylesheet, a second request, is refused.
for backend in raw hyper; do
  start "$backend" --once --print-requests
  URL="http://127.0.0.1:$PORT"
  chrome --dump-dom "$URL/HelloWorld.html" >"$WORK/once-dom"
  grep -q '<h1>Hello, World!</h1>' "$WORK/once-dom" || fail "$backend --once: chromium did not get the page"
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

if [ -n "$SHOTS" ]; then
  chrome --window-size=1280,900 --screenshot="$SHOTS/compare-report.png" "file://$WORK/report.html" >/dev/null
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

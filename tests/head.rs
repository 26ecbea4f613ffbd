//! HEAD never carries a body, whichever way docroot's `respond` decides it —
//! every early return included — on both backends, seen by pipelining a GET
//! after each HEAD on the same connection; and absolute-form targets with an
//! empty host or with userinfo are refused with 400, never served.

mod common;

use std::net::SocketAddr;

use common::{BACKENDS, Response, TestSite, request, send_raw};
use twinserve::Backend;

/// Pipelined after every HEAD: its response must follow the HEAD's head at once.
const NEXT: &str = "GET /sub/index.html HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
/// What `TestSite` writes to `sub/index.html`.
const SUB_INDEX: &[u8] = b"<p>sub index</p>\n";
const BIG: usize = 200_000;

/// One HEAD: the bytes of its request line and fields, and the status it earns.
struct Row {
    what: &'static str,
    head: String,
    status: u16,
}

fn row(what: &'static str, head: impl Into<String>, status: u16) -> Row {
    Row {
        what,
        head: head.into(),
        status,
    }
}

/// Host plus `extra` fields on `HEAD target HTTP/1.1`.
fn head(target: &str, extra: &str) -> String {
    format!("HEAD {target} HTTP/1.1\r\nHost: localhost\r\n{extra}\r\n")
}

fn rows(etag: &str, max_request_line: usize) -> Vec<Row> {
    let long_target = format!("/{}", "a".repeat(max_request_line));
    vec![
        row("asterisk-form", head("*", ""), 400),
        row("no Host", "HEAD /index.html HTTP/1.1\r\n\r\n", 400),
        row(
            "two Hosts",
            "HEAD /index.html HTTP/1.1\r\nHost: localhost\r\nHost: other\r\n\r\n",
            400,
        ),
        row(
            "invalid Host",
            "HEAD /index.html HTTP/1.1\r\nHost: evil.example/x@y\r\n\r\n",
            400,
        ),
        row("another scheme", head("ftp://x/", ""), 400),
        row("authority-form", head("localhost:80", ""), 400),
        row("absolute-form, no host", head("http://", ""), 400),
        row(
            "absolute-form, empty host",
            head("http:///index.html", ""),
            400,
        ),
        row(
            "absolute-form, userinfo",
            head("http://user:pw@localhost/index.html", ""),
            400,
        ),
        // The path of a file already kept (each row's next request asks for
        // it), behind a target docroot refuses: still refused.
        row(
            "absolute-form, userinfo, a kept file",
            head("http://user:pw@localhost/sub/index.html", ""),
            400,
        ),
        row(
            "absolute-form, another scheme, a kept file",
            head("ftp://localhost/sub/index.html", ""),
            400,
        ),
        row("bad percent-encoding", head("/%zz", ""), 400),
        row("missing (404.html)", head("/missing", ""), 404),
        row("symlink out", head("/escape", ""), 404),
        row("directory without slash", head("/sub", ""), 301),
        row(
            "If-None-Match the ETag",
            head("/sub/index.html", &format!("If-None-Match: {etag}\r\n")),
            304,
        ),
        row(
            "If-Match another ETag",
            head("/sub/index.html", "If-Match: \"nope\"\r\n"),
            412,
        ),
        // Refused by raw's parser before docroot sees it: raw closes after
        // it, and still sends no body.
        row(
            "target over the request-line limit",
            head(&long_target, ""),
            414,
        ),
        row(
            "a malformed field (raw's parser refuses it)",
            "HEAD /index.html HTTP/1.1\r\nHost: localhost\r\nBad Field: x\r\n\r\n",
            400,
        ),
        row("directory listing", head("/listing/", ""), 200),
        row("directory index", head("/sub/", ""), 200),
        row("small file", head("/HelloWorld.html", ""), 200),
        row("large file", head("/big.bin", ""), 200),
        row(
            "Range",
            head("/sub/index.html", "Range: bytes=0-3\r\n"),
            200,
        ),
        row(
            "unsatisfiable Range",
            head("/big.bin", "Range: bytes=999999999-\r\n"),
            200,
        ),
    ]
}

/// Splits off one response head: the parsed status and fields, and the
/// bytes after the blank line that ends it; `None` if `bytes` do not start
/// with a complete response head.
fn split_head(bytes: &[u8]) -> Option<(Response, &[u8])> {
    let mut fields = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Response::new(&mut fields);
    let Ok(httparse::Status::Complete(len)) = parsed.parse(bytes) else {
        return None;
    };
    let headers = parsed
        .headers
        .iter()
        .map(|h| {
            let value = String::from_utf8_lossy(h.value).into_owned();
            (h.name.to_string(), value)
        })
        .collect();
    let response = Response {
        status: parsed.code?,
        headers,
        body: Vec::new(),
    };
    Some((response, &bytes[len..]))
}

/// Sends `row`'s HEAD and the GET after it in one write and checks that the
/// HEAD's head is followed by nothing (the server closed, having said so) or
/// by exactly the GET's response.
fn check(addr: SocketAddr, backend: Backend, row: &Row) -> Result<(), String> {
    let what = format!("{backend}, HEAD with {}", row.what);
    let received = send_raw(addr, format!("{}{NEXT}", row.head).as_bytes());
    let shown = received.escape_ascii();
    let (first, after) = split_head(&received).ok_or(format!("{what}: no response: {shown}"))?;
    if first.status != row.status {
        return Err(format!(
            "{what}: {} instead of {}: {shown}",
            first.status, row.status
        ));
    }
    let closes = first
        .header("connection")
        .is_some_and(|v| v.eq_ignore_ascii_case("close"));
    if after.is_empty() {
        return match closes {
            true => Ok(()),
            false => Err(format!(
                "{what}: closed without saying so or answering the GET"
            )),
        };
    }
    let Some((next, body)) = split_head(after) else {
        let body = after
            .windows(9)
            .position(|w| w == b"HTTP/1.1 ")
            .unwrap_or(after.len());
        return Err(format!(
            "{what}: {body} bytes of body after the HEAD's head: {shown}"
        ));
    };
    let length = next.header("content-length").and_then(|v| v.parse().ok());
    if next.status != 200 || body != SUB_INDEX || length != Some(SUB_INDEX.len()) {
        return Err(format!(
            "{what}: not the GET's response after the HEAD's: {shown}"
        ));
    }
    Ok(())
}

#[test]
fn head_never_carries_a_body() {
    let site = TestSite::new();
    site.big_file("big.bin", BIG);
    let listing = site.root().join("listing");
    std::fs::create_dir_all(&listing).unwrap();
    std::fs::write(listing.join("a.txt"), "a").unwrap();
    site.age_all();
    let mut failures = Vec::new();
    for backend in BACKENDS {
        let mut max_request_line = 0;
        let server = site.start_with(backend, |config| {
            config.docroot.list_dirs = true;
            max_request_line = config.limits.max_request_line;
        });
        let addr = server.local_addr();
        let plain = request(addr, "GET", "/sub/index.html", "");
        assert_eq!((plain.status, plain.body.as_slice()), (200, SUB_INDEX));
        let etag = plain.header("etag").expect("an ETag").to_string();
        for row in rows(&etag, max_request_line) {
            failures.extend(check(addr, backend, &row).err());
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// RFC 9110 §4.2.1: an `http` URI with an empty host is invalid; §4.2.4:
/// userinfo in one MUST be treated as an error. Either backend may refuse the
/// bytes itself (hyper's URI parser) or let docroot do it; both must be 400.
#[test]
fn absolute_form_without_a_host_or_with_userinfo_is_400() {
    let site = TestSite::new();
    for backend in BACKENDS {
        let server = site.start(backend);
        let addr = server.local_addr();
        for target in [
            "http://",
            "http:///index.html",
            "http://user:pw@localhost/index.html",
            "http://@localhost/",
            "HTTP://user@localhost/index.html",
            "http://:80/index.html",
        ] {
            let bytes =
                format!("GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
            let received = send_raw(addr, bytes.as_bytes());
            let status = split_head(&received).map(|(response, _)| response.status);
            assert_eq!(
                status,
                Some(400),
                "{backend}, GET {target}: {}",
                received.escape_ascii()
            );
        }
        // The same authority without the userinfo is served: the rule is not
        // a blanket refusal of absolute-form.
        let served = request(addr, "GET", "http://localhost/index.html", "");
        assert_eq!(served.status, 200, "{backend}");
        assert_eq!(served.body, site.file("index.html"), "{backend}");
    }
}

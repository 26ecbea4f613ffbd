//! The backends' contract, table-driven: the same requests against the raw and
//! the hyper backend, each over a real socket, asserting status, the shared
//! headers and the body bytes — and that the secret beside the root never leaks.

mod common;

use common::{BACKENDS, SECRET, TestSite, request};
use twinserve::Backend;

/// What a row expects of the body.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// Exactly the bytes of this file under the root.
    File(&'static str),
    /// Any body containing this text (the built-in pages).
    Contains(&'static str),
    /// No body (HEAD), with Content-Length still that of this file.
    HeadOf(&'static str),
}

struct Row {
    method: &'static str,
    target: &'static str,
    extra: &'static str,
    status: u16,
    body: Expect,
    /// A header that must be present with exactly this value.
    header: Option<(&'static str, &'static str)>,
}

const fn row(method: &'static str, target: &'static str, status: u16, body: Expect) -> Row {
    Row {
        method,
        target,
        extra: "",
        status,
        body,
        header: None,
    }
}

const HTML: (&str, &str) = ("content-type", "text/html; charset=utf-8");

fn table() -> Vec<Row> {
    use Expect::*;
    let not_found = File("404.html");
    // The test site is a copy of site/: the ranges follow the page's size.
    let page = concat!(env!("CARGO_MANIFEST_DIR"), "/site/HelloWorld.html");
    let size = std::fs::metadata(page).unwrap().len();
    let text = |s: String| -> &'static str { s.leak() };
    let mut rows = vec![
        Row {
            header: Some(HTML),
            ..row("GET", "/HelloWorld.html", 200, File("HelloWorld.html"))
        },
        row("GET", "/", 200, File("index.html")),
        row("GET", "/index.html", 200, File("index.html")),
        row("HEAD", "/HelloWorld.html", 200, HeadOf("HelloWorld.html")),
        row("HEAD", "/missing.html", 404, HeadOf("404.html")),
        row("GET", "/missing.html", 404, not_found),
        row(
            "GET",
            "/HelloWorld.html?v=1&x=%2e%2e",
            200,
            File("HelloWorld.html"),
        ),
        row(
            "GET",
            "http://localhost/HelloWorld.html",
            200,
            File("HelloWorld.html"),
        ),
        Row {
            header: Some(("content-type", "text/css; charset=utf-8")),
            ..row("GET", "/assets/style.css", 200, File("assets/style.css"))
        },
        Row {
            header: Some(("content-type", "image/svg+xml; charset=utf-8")),
            ..row("GET", "/assets/logo.svg", 200, File("assets/logo.svg"))
        },
        Row {
            header: Some(("location", "/sub/")),
            ..row("GET", "/sub", 301, Contains("301"))
        },
        Row {
            header: Some(("location", "/sub/?a=1")),
            ..row("GET", "/sub?a=1", 301, Contains("301"))
        },
        // CVE-2021-28861: never a protocol-relative `//host/` redirect.
        Row {
            header: Some(("location", "/sub/")),
            ..row("GET", "//sub", 301, Contains("301"))
        },
        row("GET", "/sub/", 200, File("sub/index.html")),
        row("GET", "/assets/", 404, not_found),
        row("GET", "/HelloWorld.html/", 404, not_found),
        row("GET", "/my%20page.html", 200, File("my page.html")),
        row("GET", "/caf%C3%A9.html", 200, File("café.html")),
        row("GET", "/inside-link.html", 200, File("HelloWorld.html")),
        Row {
            header: Some(("allow", "GET, HEAD, OPTIONS")),
            ..row("POST", "/HelloWorld.html", 405, Contains("405"))
        },
        Row {
            header: Some(("allow", "GET, HEAD, OPTIONS")),
            ..row("DELETE", "/", 405, Contains("405"))
        },
        row("BREW", "/", 501, Contains("501")),
        row("get", "/", 501, Contains("501")),
        row("GET", "/%zz", 400, Contains("400")),
        Row {
            extra: "Host: second\r\n",
            ..row("GET", "/", 400, Contains("400"))
        },
        row("GET", "*", 400, Contains("400")),
        // Malformed, on both backends alike (RFC 9112 §3.2, RFC 3986 §2):
        // a decoded NUL, CR or LF in a segment, bytes outside the URI
        // grammar, an empty Host.
        row("GET", "/HelloWorld.html%00.txt", 400, Contains("400")),
        row("GET", "/%00", 400, Contains("400")),
        row("GET", "/HelloWorld.html%0d%0aX:%20y", 400, Contains("400")),
        row("GET", "/café.html", 400, Contains("400")),
        row("GET", "/{a}", 400, Contains("400")),
        row("GET", "/a%", 400, Contains("400")),
        // A fragment is no part of a request-target; hyper cuts it off
        // silently, the socket under it tells (hyper::timed_io).
        row("GET", "/HelloWorld.html#top", 400, Contains("400")),
        // A part of a file, and a part past its end: each dated once too.
        Row {
            extra: "Range: bytes=0-8\r\n",
            header: Some(("content-range", text(format!("bytes 0-8/{size}")))),
            ..row("GET", "/HelloWorld.html", 206, Contains("<!DOCTYPE"))
        },
        Row {
            extra: text(format!("Range: bytes={size}-\r\n")),
            header: Some(("content-range", text(format!("bytes */{size}")))),
            ..row("GET", "/HelloWorld.html", 416, Contains("416"))
        },
    ];
    // Every way out of the root: all refused, none with a hint.
    for target in [
        "/../secret.txt",
        "/../../../../etc/passwd",
        "/%2e%2e/secret.txt",
        "/%2E%2E/%2e%2e/etc/passwd",
        "/sub/..%2f..%2fsecret.txt",
        "/sub/%2e%2e%2fsecret.txt",
        "/%252e%252e/secret.txt",
        "/..%5csecret.txt",
        "/%5c..%5csecret.txt",
        "/./HelloWorld.html",
        "/sub/../HelloWorld.html",
        "//../secret.txt",
        "http://localhost/../secret.txt",
        "/escape",
        "/escape-dir/secret.txt",
        "/.hidden",
        "/%2ehidden",
    ] {
        rows.push(row("GET", target, 404, not_found));
    }
    rows
}

#[test]
fn both_backends_keep_the_contract() {
    let site = TestSite::new();
    let rows = table();
    assert!(rows.len() >= 25);
    // hyper with one worker runs on a current-thread runtime: the same contract.
    for (backend, threads) in [(Backend::Raw, 8), (Backend::Hyper, 8), (Backend::Hyper, 1)] {
        let server = site.start_with(backend, |c| c.threads = common::threads(threads));
        for r in &rows {
            let what = format!("{backend} ({threads} threads): {} {}", r.method, r.target);
            let asked = std::time::SystemTime::now();
            let response = request(server.local_addr(), r.method, r.target, r.extra);
            let answered = std::time::SystemTime::now();
            assert_eq!(response.status, r.status, "{what}");
            let body = String::from_utf8_lossy(&response.body);
            assert!(!body.contains(SECRET), "{what} leaked the secret");
            // Exactly one, whoever wrote it: docroot, or hyper for the files
            // whose fields docroot keeps undated for it.
            let dates = response
                .headers
                .iter()
                .filter(|(n, _)| n.eq_ignore_ascii_case("date"));
            assert_eq!(dates.count(), 1, "{what}: one Date");
            assert_eq!(
                response.header("x-content-type-options"),
                Some("nosniff"),
                "{what}"
            );
            let length: usize = response
                .header("content-length")
                .expect("length")
                .parse()
                .unwrap();
            match r.body {
                Expect::File(rel) => {
                    assert_eq!(response.body, site.file(rel), "{what}");
                    assert_eq!(length, response.body.len(), "{what}");
                    // Validators describe the target's representation: a 404 has
                    // none, nor has a file changed within the second before (it
                    // may be half written); one asked for on the edge may go
                    // either way.
                    let modified = std::fs::metadata(site.root().join(rel))
                        .unwrap()
                        .modified()
                        .unwrap();
                    let settled = modified + std::time::Duration::from_secs(1);
                    let validated = match response.status {
                        200 if asked >= settled => Some(true),
                        200 if answered < settled => Some(false),
                        200 => None,
                        _ => Some(false),
                    };
                    if let Some(validated) = validated {
                        assert_eq!(
                            response.header("last-modified").is_some(),
                            validated,
                            "{what}"
                        );
                        assert_eq!(response.header("etag").is_some(), validated, "{what}");
                    }
                }
                Expect::Contains(text) => {
                    assert!(body.contains(text), "{what}: {body}");
                    assert_eq!(length, response.body.len(), "{what}");
                }
                Expect::HeadOf(rel) => {
                    assert!(response.body.is_empty(), "{what}");
                    assert_eq!(length, site.file(rel).len(), "{what}");
                }
            }
            if let Some((name, value)) = r.header {
                assert_eq!(response.header(name), Some(value), "{what}");
            }
        }
        server.shutdown().unwrap();
    }
}

/// The two backends' answers differ in nothing but connection management:
/// same status, same entity headers, same bytes.
#[test]
fn both_backends_give_identical_entity_headers() {
    let site = TestSite::new();
    let raw = site.start(twinserve::Backend::Raw);
    let hyper = site.start(twinserve::Backend::Hyper);
    for target in [
        "/",
        "/HelloWorld.html",
        "/assets/logo.svg",
        "/missing",
        "/sub",
    ] {
        let a = request(raw.local_addr(), "GET", target, "");
        let b = request(hyper.local_addr(), "GET", target, "");
        assert_eq!(a.status, b.status, "{target}");
        assert_eq!(a.body, b.body, "{target}");
        for name in [
            "content-type",
            "content-length",
            "last-modified",
            "etag",
            "location",
        ] {
            assert_eq!(a.header(name), b.header(name), "{target}: {name}");
        }
    }
}

/// HTTP/1.1 without Host is 400 (RFC 9112 §3.2) in both backends, though hyper
/// itself never checks; HTTP/1.0 without Host is valid.
#[test]
fn host_is_required_in_http_1_1_only_and_valid_in_both() {
    let site = TestSite::new();
    for backend in BACKENDS {
        let server = site.start(backend);
        let answer = |bytes: &str| {
            let raw = common::send_raw(server.local_addr(), bytes.as_bytes());
            common::parse_responses(&raw, false)[0].status
        };
        assert_eq!(
            answer("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"),
            400,
            "{backend}"
        );
        assert_eq!(answer("GET / HTTP/1.0\r\n\r\n"), 200, "{backend}");
        // Present, it must be valid, in either version: not empty (no http
        // URI has an empty host, RFC 9110 §4.2.1), not outside RFC 3986.
        for host in ["a b", "", " ", "caf\u{e9}.example", "a%zz", "[::1", "a:b"] {
            for version in ["1.1", "1.0"] {
                let bytes =
                    format!("GET / HTTP/{version}\r\nHost: {host}\r\nConnection: close\r\n\r\n");
                assert_eq!(
                    answer(&bytes),
                    400,
                    "{backend} HTTP/{version} Host: {host:?}"
                );
            }
        }
        assert_eq!(
            answer("GET / HTTP/1.0\r\nHost: [::1]:80\r\n\r\n"),
            200,
            "{backend}"
        );
    }
}

//! What a static server owes its clients beyond 200 and 404 — validators,
//! conditional requests (RFC 9110 §13), ranges (§14), OPTIONS, caching,
//! precompressed files, listings, hidden files and symlinks — checked on both
//! backends over real sockets, every body compared byte for byte.

mod common;

use common::{BACKENDS, SECRET, TestSite, request};
use twinserve::Backend;

const BIG: usize = 100_000;

/// The test site plus what these rules need: a file to take ranges of, a
/// text file with precompressed siblings, and a folder without an index.
fn site() -> (TestSite, Vec<u8>) {
    let site = TestSite::new();
    let big = site.big_file("big.bin", BIG);
    let root = site.root();
    std::fs::write(root.join("text.txt"), "plain text, not compressed\n").unwrap();
    std::fs::write(root.join("text.txt.gz"), b"\x1f\x8b pretend gzip bytes").unwrap();
    std::fs::write(root.join("text.txt.br"), b"pretend brotli bytes").unwrap();
    std::fs::write(root.join("only-gz.css"), "body{}").unwrap();
    std::fs::write(root.join("only-gz.css.gz"), b"\x1f\x8b gz css").unwrap();
    let files = root.join("files");
    std::fs::create_dir_all(files.join("sub")).unwrap();
    std::fs::write(files.join("b c.txt"), "12345").unwrap();
    std::fs::write(files.join("a.txt"), "a").unwrap();
    std::fs::write(files.join("<x>.html"), "x").unwrap();
    std::fs::write(files.join(".secret-note"), "x").unwrap();
    std::fs::create_dir_all(root.join(".git")).unwrap();
    std::fs::write(root.join(".git/config"), "[core]").unwrap();
    site.age_all();
    (site, big)
}

#[test]
fn validators_and_conditional_requests() {
    let (site, _) = site();
    for backend in BACKENDS {
        let server = site.start(backend);
        let addr = server.local_addr();
        let get = |extra: &str| request(addr, "GET", "/HelloWorld.html", extra);
        let plain = get("");
        assert_eq!(plain.status, 200);
        let etag = plain.header("etag").expect("an ETag").to_string();
        assert!(
            etag.starts_with('"') && etag.ends_with('"'),
            "strong: {etag}"
        );
        let modified = plain
            .header("last-modified")
            .expect("Last-Modified")
            .to_string();
        assert_eq!(
            plain.header("cache-control"),
            Some(twinserve::docroot::DEFAULT_CACHE_CONTROL)
        );
        assert_eq!(plain.header("accept-ranges"), Some("bytes"));

        let long_ago = "Sun, 06 Nov 1994 08:49:37 GMT";
        let cases: Vec<(String, u16)> = vec![
            (format!("If-None-Match: {etag}\r\n"), 304),
            (format!("If-None-Match: W/{etag}\r\n"), 304),
            (format!("If-None-Match: \"other\", {etag}\r\n"), 304),
            ("If-None-Match: *\r\n".into(), 304),
            // RFC 9110 §5.6.1.2: empty list elements are parsed and ignored.
            (format!("If-None-Match: , ,{etag} ,\r\n"), 304),
            ("If-None-Match: \"other\"\r\n".into(), 200),
            (format!("If-Modified-Since: {modified}\r\n"), 304),
            (format!("If-Modified-Since: {long_ago}\r\n"), 200),
            ("If-Modified-Since: not a date\r\n".into(), 200),
            (
                format!("If-None-Match: \"other\"\r\nIf-Modified-Since: {modified}\r\n"),
                200,
            ),
            ("If-Match: \"other\"\r\n".into(), 412),
            (format!("If-Match: W/{etag}\r\n"), 412),
            (format!("If-Match: {etag}\r\n"), 200),
            ("If-Match: *\r\n".into(), 200),
            (format!("If-Match: ,{etag},\r\n"), 200),
            (format!("If-Unmodified-Since: {long_ago}\r\n"), 412),
            (format!("If-Unmodified-Since: {modified}\r\n"), 200),
            (
                format!("If-Match: {etag}\r\nIf-Unmodified-Since: {long_ago}\r\n"),
                200,
            ),
        ];
        for (extra, status) in &cases {
            let response = get(extra);
            assert_eq!(response.status, *status, "{backend}: {extra:?}");
            match status {
                304 => {
                    assert!(response.body.is_empty(), "{backend}: 304 with a body");
                    assert_eq!(response.header("etag"), Some(etag.as_str()), "{backend}");
                    assert_eq!(response.header("last-modified"), Some(modified.as_str()));
                    assert!(response.header("cache-control").is_some(), "{backend}");
                    // RFC 9110 §8.6: in a 304, a Content-Length only if it is
                    // the 200's; none is sent.
                    assert_eq!(response.header("content-length"), None, "{backend}");
                }
                200 => assert_eq!(response.body, site.file("HelloWorld.html"), "{backend}"),
                _ => {}
            }
        }
        let head = request(
            addr,
            "HEAD",
            "/HelloWorld.html",
            &format!("If-None-Match: {etag}\r\n"),
        );
        assert_eq!(head.status, 304, "{backend}");
    }
}

#[test]
fn byte_ranges() {
    let (site, big) = site();
    for backend in BACKENDS {
        let server = site.start(backend);
        let addr = server.local_addr();
        let etag = request(addr, "GET", "/big.bin", "")
            .header("etag")
            .unwrap()
            .to_string();
        let modified = request(addr, "GET", "/big.bin", "")
            .header("last-modified")
            .unwrap()
            .to_string();
        let partial: Vec<(String, usize, usize)> = vec![
            ("bytes=0-99".into(), 0, 100),
            ("bytes=99990-".into(), 99_990, 10),
            ("bytes=-500".into(), BIG - 500, 500),
            ("bytes=99990-200000".into(), 99_990, 10),
            ("bytes=-200000".into(), 0, BIG),
            ("bytes=10-19, 20-29".into(), 10, 20),
            ("bytes=50000-50000".into(), 50_000, 1),
        ];
        for (range, start, len) in &partial {
            let response = request(addr, "GET", "/big.bin", &format!("Range: {range}\r\n"));
            assert_eq!(response.status, 206, "{backend}: {range}");
            let expected = format!("bytes {start}-{}/{BIG}", start + len - 1);
            assert_eq!(
                response.header("content-range"),
                Some(expected.as_str()),
                "{backend}: {range}"
            );
            assert_eq!(
                response.body,
                big[*start..start + len],
                "{backend}: {range}"
            );
            assert_eq!(response.header("etag"), Some(etag.as_str()));
        }
        for range in ["bytes=100000-", "bytes=-0", "bytes=200000-300000"] {
            let response = request(addr, "GET", "/big.bin", &format!("Range: {range}\r\n"));
            assert_eq!(response.status, 416, "{backend}: {range}");
            assert_eq!(
                response.header("content-range"),
                Some("bytes */100000"),
                "{backend}"
            );
        }
        for ignored in [
            "bytes=5-2",
            "items=0-1",
            "bytes=0-1,500-600",
            "bytes=abc",
            "bytes=0-18446744073709551616",
        ] {
            let response = request(addr, "GET", "/big.bin", &format!("Range: {ignored}\r\n"));
            assert_eq!(response.status, 200, "{backend}: {ignored}");
            assert_eq!(response.body, big, "{backend}: {ignored}");
        }
        let range = "Range: bytes=0-9\r\n";
        let if_range = |value: &str| {
            request(
                addr,
                "GET",
                "/big.bin",
                &format!("{range}If-Range: {value}\r\n"),
            )
            .status
        };
        assert_eq!(if_range(&etag), 206, "{backend}");
        assert_eq!(if_range(&modified), 206, "{backend}");
        assert_eq!(if_range("\"stale\""), 200, "{backend}");
        assert_eq!(if_range("Sun, 06 Nov 1994 08:49:37 GMT"), 200, "{backend}");
        // Range is for GET; HEAD answers as a GET without it would.
        let head = request(addr, "HEAD", "/big.bin", range);
        assert_eq!(head.status, 200, "{backend}");
        assert_eq!(head.header("content-length"), Some("100000"));
    }
}

#[test]
fn options_and_allow() {
    let (site, _) = site();
    for backend in BACKENDS {
        let server = site.start(backend);
        for target in ["*", "/", "/HelloWorld.html", "/missing"] {
            let response = request(server.local_addr(), "OPTIONS", target, "");
            assert_eq!(response.status, 204, "{backend}: {target}");
            assert_eq!(
                response.header("allow"),
                Some("GET, HEAD, OPTIONS"),
                "{backend}"
            );
            assert!(response.body.is_empty());
            // RFC 9110 §8.6: no Content-Length in a 204.
            assert_eq!(response.header("content-length"), None, "{backend}");
        }
    }
}

#[test]
fn cache_control_is_configurable() {
    let (site, _) = site();
    // Sent without its surrounding blanks; a blank one is no field at all
    // rather than an empty one.
    for (value, sent) in [(" no-cache\t", Some("no-cache")), ("", None), (" \t", None)] {
        for backend in BACKENDS {
            let server = site.start_with(backend, |c| c.docroot.cache_control = value.into());
            let addr = server.local_addr();
            let what = format!("{backend} {value:?}");
            // A small file answered from memory, a part of it, a big file,
            // a part of that, and a 304.
            for range in ["", "Range: bytes=0-0\r\n"] {
                for path in ["/HelloWorld.html", "/big.bin"] {
                    let answer = request(addr, "GET", path, range);
                    assert_eq!(answer.status, if range.is_empty() { 200 } else { 206 });
                    assert_eq!(answer.header("cache-control"), sent, "{what} {path}");
                }
            }
            let etag = request(addr, "GET", "/big.bin", "")
                .header("etag")
                .unwrap()
                .to_owned();
            let condition = format!("If-None-Match: {etag}\r\n");
            let not_modified = request(addr, "GET", "/big.bin", &condition);
            assert_eq!(not_modified.status, 304, "{what}");
            assert_eq!(not_modified.header("cache-control"), sent, "{what}");
            assert_eq!(
                request(addr, "GET", "/missing", "").header("cache-control"),
                None
            );
            // The client's parser trims what it reads: the bytes themselves.
            let bytes = common::send_raw(
                addr,
                b"GET /HelloWorld.html HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            );
            let answer = String::from_utf8_lossy(&bytes);
            let line = sent.map(|v| format!("\r\ncache-control: {v}\r\n"));
            assert_eq!(
                line.is_some(),
                answer.contains("\r\ncache-control:"),
                "{answer}"
            );
            assert!(line.is_none_or(|line| answer.contains(&line)), "{answer}");
        }
    }
    let mut config = twinserve::Config::new(site.root());
    config.docroot.cache_control = "bad\nvalue".into();
    assert!(
        twinserve::spawn(Backend::Raw, config).is_err(),
        "an invalid value is refused at start"
    );
}

#[test]
fn precompressed_siblings() {
    let (site, _) = site();
    for backend in BACKENDS {
        let server = site.start(backend);
        let addr = server.local_addr();
        let get = |extra: &str| request(addr, "GET", "/text.txt", extra);
        let identity = get("");
        assert_eq!(identity.body, site.file("text.txt"), "{backend}");
        assert_eq!(identity.header("content-encoding"), None);
        assert_eq!(
            identity.header("vary"),
            Some("accept-encoding"),
            "{backend}"
        );
        let identity_etag = identity.header("etag").unwrap().to_string();

        let gzip = get("Accept-Encoding: gzip\r\n");
        assert_eq!(gzip.body, site.file("text.txt.gz"), "{backend}");
        assert_eq!(gzip.header("content-encoding"), Some("gzip"));
        assert_eq!(
            gzip.header("content-type"),
            Some("text/plain; charset=utf-8")
        );
        assert_eq!(gzip.header("vary"), Some("accept-encoding"));
        assert_ne!(
            gzip.header("etag").unwrap(),
            identity_etag,
            "each encoding has its own ETag"
        );

        let br = get("Accept-Encoding: gzip, deflate, br\r\n");
        assert_eq!(br.body, site.file("text.txt.br"), "{backend}");
        assert_eq!(br.header("content-encoding"), Some("br"));
        assert_eq!(
            get("Accept-Encoding: br;q=0, gzip;q=0.5\r\n").header("content-encoding"),
            Some("gzip")
        );
        assert_eq!(
            get("Accept-Encoding: identity\r\n").body,
            site.file("text.txt")
        );

        // Ranges apply to the encoded bytes.
        let part = get("Accept-Encoding: gzip\r\nRange: bytes=0-3\r\n");
        assert_eq!(part.status, 206, "{backend}");
        assert_eq!(part.body, site.file("text.txt.gz")[..4], "{backend}");
        let gz_len = site.file("text.txt.gz").len();
        assert_eq!(
            part.header("content-range"),
            Some(format!("bytes 0-3/{gz_len}").as_str())
        );

        let css = request(addr, "GET", "/only-gz.css", "Accept-Encoding: br\r\n");
        assert_eq!(
            css.body,
            site.file("only-gz.css"),
            "{backend}: no br sibling, br only accepted"
        );
    }
    for backend in BACKENDS {
        let server = site.start_with(backend, |c| c.docroot.precompressed = false);
        let response = request(
            server.local_addr(),
            "GET",
            "/text.txt",
            "Accept-Encoding: gzip, br\r\n",
        );
        assert_eq!(response.body, site.file("text.txt"), "{backend}");
        assert_eq!(response.header("content-encoding"), None);
        assert_eq!(response.header("vary"), None);
    }
}

#[test]
fn directory_listings_are_opt_in_and_safe() {
    let (site, _) = site();
    for backend in BACKENDS {
        let off = site.start(backend);
        assert_eq!(
            request(off.local_addr(), "GET", "/files/", "").status,
            404,
            "{backend}"
        );
        drop(off);

        let on = site.start_with(backend, |c| c.docroot.list_dirs = true);
        let addr = on.local_addr();
        let page = request(addr, "GET", "/files/", "");
        assert_eq!(page.status, 200, "{backend}");
        assert_eq!(
            page.header("content-type"),
            Some("text/html; charset=utf-8")
        );
        let html = String::from_utf8(page.body).unwrap();
        assert!(html.contains("href=\"./b%20c.txt\">b c.txt</a>"), "{html}");
        assert!(
            html.contains("&lt;x&gt;.html") && !html.contains("<x>"),
            "{html}"
        );
        assert!(html.contains("href=\"./sub/\">sub/</a>"));
        assert!(!html.contains("secret-note"), "hidden files are not listed");
        let (a, b, lt) = (
            html.find(">a.txt<"),
            html.find(">b c.txt<"),
            html.find("&lt;x&gt;"),
        );
        assert!(lt < a && a < b, "sorted by name");
        // The links work.
        assert_eq!(
            request(addr, "GET", "/files/b%20c%2Etxt", "").body,
            b"12345"
        );
        // A folder with an index still serves its index.
        assert_eq!(
            request(addr, "GET", "/sub/", "").body,
            site.file("sub/index.html")
        );
        assert_eq!(request(addr, "HEAD", "/files/", "").status, 200);
    }
}

#[test]
fn hidden_files_and_symlinks_out_need_their_flags() {
    let (site, _) = site();
    for backend in BACKENDS {
        let strict = site.start(backend);
        for target in [
            "/.hidden",
            "/.git/config",
            "/escape",
            "/escape-dir/secret.txt",
        ] {
            assert_eq!(
                request(strict.local_addr(), "GET", target, "").status,
                404,
                "{backend}: {target}"
            );
        }
        drop(strict);

        let hidden = site.start_with(backend, |c| c.docroot.serve_hidden = true);
        assert_eq!(
            request(hidden.local_addr(), "GET", "/.hidden", "").body,
            b"hidden"
        );
        assert_eq!(
            request(hidden.local_addr(), "GET", "/.git/config", "").status,
            200
        );
        assert_eq!(
            request(hidden.local_addr(), "GET", "/escape", "").status,
            404
        );
        drop(hidden);

        let follow = site.start_with(backend, |c| c.docroot.follow_symlinks = true);
        let addr = follow.local_addr();
        // The operator asked for it: a symlink out is followed...
        assert_eq!(
            request(addr, "GET", "/escape", "").body,
            SECRET.as_bytes(),
            "{backend}"
        );
        // ... but a request never climbs out by itself.
        for target in [
            "/../secret.txt",
            "/%2e%2e/secret.txt",
            "/sub/..%2f..%2fsecret.txt",
        ] {
            let response = request(addr, "GET", target, "");
            assert_eq!(response.status, 404, "{backend}: {target}");
            assert!(!String::from_utf8_lossy(&response.body).contains(SECRET));
        }
    }
}

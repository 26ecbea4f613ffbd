//! What people deploying a static server expect of it, on both backends over
//! real sockets: listings that read as names, IPv6 and dual-stack listeners,
//! added and CORS headers with a working preflight, a single-page app's
//! fallback, and an access log whose lines are the same from either backend.

mod common;

use std::net::{Ipv6Addr, SocketAddr, TcpListener};

use common::{BACKENDS, TestSite, request, send_raw};
use twinserve::access_log::{Destination, Format, Settings};
use twinserve::docroot::{Cors, Fallback};

#[test]
fn listings_show_names_decoded_and_links_encoded_only_where_needed() {
    let site = TestSite::new();
    let folder = site.root().join("with space");
    std::fs::create_dir(&folder).unwrap();
    for name in ["blob.bin", "a&b.txt", "100%.txt", "q?.txt"] {
        std::fs::write(folder.join(name), "x").unwrap();
    }
    for backend in BACKENDS {
        let server = site.start_with(backend, |c| c.docroot.list_dirs = true);
        let page = request(server.local_addr(), "GET", "/with%20space/", "");
        assert_eq!(page.status, 200, "{backend}");
        let html = String::from_utf8(page.body).unwrap();
        assert!(
            html.contains("<title>Index of /with space/</title>"),
            "{backend}: {html}"
        );
        for link in [
            "href=\"./blob.bin\"",
            "href=\"./a&amp;b.txt\"",
            "href=\"./100%25.txt\"",
            "href=\"./q%3F.txt\"",
        ] {
            assert!(html.contains(link), "{backend}: no {link} in {html}");
        }
        // Every link leads to its file.
        for target in [
            "/with%20space/blob.bin",
            "/with%20space/a&b.txt",
            "/with%20space/100%25.txt",
        ] {
            let file = request(server.local_addr(), "GET", target, "");
            assert_eq!(file.status, 200, "{backend} {target}");
        }
    }
}

/// Whether this machine can listen on IPv6 loopback; a test that needs it
/// says so and returns when it cannot (a container without IPv6).
fn has_ipv6() -> bool {
    let ok = TcpListener::bind((Ipv6Addr::LOCALHOST, 0)).is_ok();
    if !ok {
        println!("skipped: no IPv6 loopback here");
    }
    ok
}

#[test]
fn ipv6_loopback_and_dual_stack() {
    if !has_ipv6() {
        return;
    }
    let site = TestSite::new();
    for backend in BACKENDS {
        let server = site.start_with(backend, |c| {
            c.addr = SocketAddr::from((Ipv6Addr::LOCALHOST, 0));
        });
        let addr = server.local_addr();
        assert!(addr.is_ipv6());
        assert_eq!(
            twinserve::serve::browsable_url("http", addr),
            format!("http://[::1]:{}/", addr.port())
        );
        assert_eq!(request(addr, "GET", "/HelloWorld.html", "").status, 200);
        drop(server);

        let server = site.start_with(backend, |c| {
            c.addr = SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0));
        });
        let port = server.local_addr().port();
        let v6 = SocketAddr::from((Ipv6Addr::LOCALHOST, port));
        assert_eq!(request(v6, "GET", "/HelloWorld.html", "").status, 200);
        // IPv4 through the same listener, where the OS allows both on one.
        let v4 = SocketAddr::from(([127, 0, 0, 1], port));
        match std::net::TcpStream::connect_timeout(&v4, common::TIMEOUT) {
            Ok(_) => assert_eq!(request(v4, "GET", "/HelloWorld.html", "").status, 200),
            Err(e) => println!("{backend}: no dual stack here ({e})"),
        }
    }
}

#[test]
fn added_headers_reach_every_answer() {
    let site = TestSite::new();
    std::fs::create_dir(site.root().join("empty")).unwrap();
    for backend in BACKENDS {
        let server = site.start_with(backend, |c| {
            c.docroot.headers = vec![
                ("x-robots-tag".parse().unwrap(), "noindex".parse().unwrap()),
                (
                    "cache-control".parse().unwrap(),
                    "no-store".parse().unwrap(),
                ),
            ];
            c.docroot.security_headers = true;
            c.docroot.list_dirs = true;
        });
        let addr = server.local_addr();
        let file = request(addr, "GET", "/HelloWorld.html", "");
        let etag = file.header("etag").unwrap().to_string();
        let not_modified = request(
            addr,
            "GET",
            "/HelloWorld.html",
            &format!("If-None-Match: {etag}\r\n"),
        );
        let missing = request(addr, "GET", "/missing.html", "");
        let listing = request(addr, "GET", "/empty/", "");
        let post = request(addr, "POST", "/", "");
        for (what, r, status) in [
            ("file", &file, 200),
            ("304", &not_modified, 304),
            ("404", &missing, 404),
            ("listing", &listing, 200),
            ("405", &post, 405),
        ] {
            assert_eq!(r.status, status, "{backend} {what}");
            assert_eq!(
                r.header("x-robots-tag"),
                Some("noindex"),
                "{backend} {what}"
            );
            assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
            assert_eq!(
                r.header("referrer-policy"),
                Some("strict-origin-when-cross-origin")
            );
            assert_eq!(r.header("x-frame-options"), Some("SAMEORIGIN"));
            // --header replaces the server's own value.
            if status != 405 && status != 404 {
                assert_eq!(r.header("cache-control"), Some("no-store"), "{what}");
            }
        }
        // The restrictive CSP is for pages the server writes, never the
        // site's: its 404.html loads what its author chose.
        assert!(file.header("content-security-policy").is_none());
        assert!(missing.body.starts_with(&site.file("404.html")));
        assert!(
            missing.header("content-security-policy").is_none(),
            "{backend}"
        );
        for page in [&listing, &post] {
            let csp = page.header("content-security-policy").unwrap();
            assert!(csp.contains("default-src 'none'"), "{backend}: {csp}");
        }
    }
}

#[test]
fn cors_answers_reads_and_preflights() {
    let site = TestSite::new();
    std::fs::write(site.root().join("data.json"), "{}").unwrap();
    std::fs::write(site.root().join("data.json.gz"), b"\x1f\x8b fake").unwrap();
    for backend in BACKENDS {
        let any = site.start_with(backend, |c| c.docroot.cors = Some(Cors::Any));
        let read = request(
            any.local_addr(),
            "GET",
            "/data.json",
            "Origin: https://other.example\r\n",
        );
        assert_eq!(read.header("access-control-allow-origin"), Some("*"));
        assert!(
            !read.header("vary").unwrap_or("").contains("Origin"),
            "{backend}: * needs no Vary: Origin"
        );
        drop(any);

        let one = site.start_with(backend, |c| {
            c.docroot.cors = Some(Cors::parse("https://app.example").unwrap());
        });
        let addr = one.local_addr();
        let read = request(addr, "GET", "/data.json", "Origin: https://app.example\r\n");
        assert_eq!(read.status, 200);
        assert_eq!(
            read.header("access-control-allow-origin"),
            Some("https://app.example")
        );
        assert_eq!(read.header("vary"), Some("accept-encoding, Origin"));
        assert!(
            read.header("access-control-expose-headers")
                .unwrap()
                .contains("ETag")
        );
        let preflight = request(
            addr,
            "OPTIONS",
            "/data.json",
            "Origin: https://app.example\r\nAccess-Control-Request-Method: GET\r\n\
             Access-Control-Request-Headers: range, if-none-match\r\n",
        );
        assert_eq!(preflight.status, 204, "{backend}");
        assert_eq!(
            preflight.header("access-control-allow-origin"),
            Some("https://app.example")
        );
        assert_eq!(
            preflight.header("access-control-allow-methods"),
            Some("GET, HEAD, OPTIONS")
        );
        assert_eq!(
            preflight.header("access-control-allow-headers"),
            Some("range, if-none-match")
        );
        assert!(preflight.header("access-control-max-age").is_some());
        assert!(preflight.header("vary").unwrap().contains("Origin"));
        // A plain OPTIONS is no preflight: Allow, and no preflight fields.
        let plain = request(addr, "OPTIONS", "*", "");
        assert_eq!(plain.status, 204);
        assert!(plain.header("access-control-allow-methods").is_none());
    }
}

#[test]
fn a_fallback_serves_the_app_for_its_own_routes() {
    let site = TestSite::new();
    std::fs::write(site.root().join("app.html"), "<div id=app></div>").unwrap();
    site.age_all();
    for backend in BACKENDS {
        for all in [false, true] {
            let server = site.start_with(backend, |c| {
                c.docroot.fallback = Some(Fallback {
                    file: "app.html".into(),
                    all,
                });
            });
            let addr = server.local_addr();
            let own = request(addr, "GET", "/app.html", "");
            let deep = request(addr, "GET", "/users/42/settings", "");
            assert_eq!(deep.status, 200, "{backend}");
            assert_eq!(deep.body, b"<div id=app></div>");
            assert_eq!(
                deep.header("etag"),
                own.header("etag"),
                "its own validators"
            );
            let etag = own.header("etag").unwrap();
            let revalidated = request(
                addr,
                "GET",
                "/users/42",
                &format!("If-None-Match: {etag}\r\n"),
            );
            assert_eq!(revalidated.status, 304);
            let head = request(addr, "HEAD", "/users/", "");
            assert_eq!(head.status, 200);
            assert!(head.body.is_empty());
            // Files that exist are themselves.
            let hello = request(addr, "GET", "/HelloWorld.html", "");
            assert_eq!(hello.body, site.file("HelloWorld.html"));
            // A path that looks like a file's keeps its 404 unless --fallback-all.
            let asset = request(addr, "GET", "/assets/app.js", "");
            assert_eq!(asset.status, if all { 200 } else { 404 }, "{backend}");
            // Traversal and hidden names are refused before any fallback.
            let raw = send_raw(
                addr,
                b"GET /../secret.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            );
            assert!(
                !String::from_utf8_lossy(&raw).contains(common::SECRET),
                "{backend}"
            );
            assert_eq!(request(addr, "POST", "/users", "").status, 405);
        }
    }
}

#[test]
fn a_fallback_outside_the_root_does_not_start() {
    let site = TestSite::new();
    for file in ["../secret.txt", "missing.html", "sub", ""] {
        let mut config = twinserve::Config::new(site.root());
        config.docroot.fallback = Some(Fallback {
            file: file.into(),
            all: false,
        });
        let error = twinserve::spawn(twinserve::Backend::Raw, config)
            .err()
            .unwrap_or_else(|| panic!("{file:?} accepted"));
        assert!(error.to_string().contains("fallback"), "{error}");
    }
}

/// The same requests to each backend, logged in `format`: the lines, with
/// the time (and in JSON the duration) taken out.
fn logged_lines(site: &TestSite, format: Format) -> Vec<Vec<String>> {
    let mut per_backend = Vec::new();
    for backend in BACKENDS {
        let path = site
            .dir
            .path()
            .join(format!("access-{backend}-{format:?}.log"));
        let server = site.start_with(backend, |c| {
            c.docroot.access_log = Some(Settings {
                destination: Destination::File(path.clone()),
                format,
                trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()],
            });
        });
        let addr = server.local_addr();
        request(
            addr,
            "GET",
            "/HelloWorld.html",
            "Referer: http://x/a\"b\r\nUser-Agent: test/1.0 (\"q\")\r\n",
        );
        request(addr, "HEAD", "/HelloWorld.html", "");
        request(addr, "GET", "/missing", "X-Forwarded-For: 203.0.113.9\r\n");
        request(addr, "GET", "/sub", "");
        request(addr, "DELETE", "/x", "");
        request(addr, "GET", "/my%20page.html", "Range: bytes=0-3\r\n");
        send_raw(addr, b"GET /HelloWorld.html HTTP/1.0\r\nHost: x\r\n\r\n");
        // Written out at shutdown, however recent.
        server.shutdown().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines = text
            .lines()
            .map(|line| mask(line, format))
            .collect::<Vec<_>>();
        assert_eq!(lines.len(), 7, "{backend}: {text}");
        per_backend.push(lines);
    }
    per_backend
}

/// `line` without what differs between two runs: the time and the duration.
fn mask(line: &str, format: Format) -> String {
    match format {
        Format::Json => {
            let mut value: serde_json::Value = serde_json::from_str(line).unwrap();
            let object = value.as_object_mut().unwrap();
            let time = object.remove("time").unwrap();
            assert!(time.as_str().unwrap().ends_with('Z'), "{line}");
            assert!(object.remove("duration_ms").unwrap().is_number(), "{line}");
            value.to_string()
        }
        _ => {
            let open = line.find('[').unwrap();
            let close = line.find(']').unwrap();
            format!("{}[TIME]{}", &line[..open], &line[close + 1..])
        }
    }
}

#[test]
fn both_backends_log_the_same_lines() {
    let site = TestSite::new();
    let combined = logged_lines(&site, Format::Combined);
    assert_eq!(combined[0], combined[1]);
    let expected = [
        r#"127.0.0.1 - - [TIME] "GET /HelloWorld.html HTTP/1.1" 200 "#,
        r#"127.0.0.1 - - [TIME] "HEAD /HelloWorld.html HTTP/1.1" 200 0 "-" "-""#,
        r#"203.0.113.9 - - [TIME] "GET /missing HTTP/1.1" 404 "#,
        r#"127.0.0.1 - - [TIME] "GET /sub HTTP/1.1" 301 "#,
        r#"127.0.0.1 - - [TIME] "DELETE /x HTTP/1.1" 405 "#,
        r#"127.0.0.1 - - [TIME] "GET /my%20page.html HTTP/1.1" 206 4 "-" "-""#,
        r#"127.0.0.1 - - [TIME] "GET /HelloWorld.html HTTP/1.0" 200 "#,
    ];
    for (line, start) in combined[0].iter().zip(expected) {
        assert!(line.starts_with(start), "{line:?} vs {start:?}");
    }
    let hello = site.file("HelloWorld.html").len();
    assert_eq!(
        combined[0][0],
        format!(
            r#"127.0.0.1 - - [TIME] "GET /HelloWorld.html HTTP/1.1" 200 {hello} "http://x/a\"b" "test/1.0 (\"q\")""#
        )
    );
    let common = logged_lines(&site, Format::Common);
    assert_eq!(common[0], common[1]);
    assert!(common[0][1].ends_with("\" 200 0"), "{}", common[0][1]);
    let json = logged_lines(&site, Format::Json);
    assert_eq!(json[0], json[1]);
    let first: serde_json::Value = serde_json::from_str(&json[0][0]).unwrap();
    assert_eq!(first["status"], 200);
    assert_eq!(first["user_agent"], "test/1.0 (\"q\")");
    assert_eq!(first["client"], "127.0.0.1");
}

fn decode(coding: &str, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    match coding {
        "br" => brotli::BrotliDecompress(&mut &body[..], &mut out).unwrap(),
        "zstd" => out = zstd::stream::decode_all(body).unwrap(),
        "gzip" => {
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(body), &mut out).unwrap();
        }
        other => panic!("{other}"),
    }
    out
}

#[test]
fn compression_on_the_fly_by_q_value_never_for_ranges() {
    let site = TestSite::new();
    let page: String = (0..2000)
        .map(|i| format!("<p>line {i} of a page</p>\n"))
        .collect();
    std::fs::write(site.root().join("page.html"), &page).unwrap();
    std::fs::write(site.root().join("tiny.css"), "p{}").unwrap();
    site.big_file("photo.png", 50_000);
    std::fs::write(site.root().join("pre.txt"), page.repeat(2)).unwrap();
    std::fs::write(site.root().join("pre.txt.zst"), b"precompressed zstd").unwrap();
    site.age_all();
    for backend in BACKENDS {
        let server = site.start_with(backend, |c| c.docroot.compress = true);
        let addr = server.local_addr();
        let plain = request(addr, "GET", "/page.html", "");
        assert_eq!(plain.body, page.as_bytes());
        assert_eq!(plain.header("content-encoding"), None);
        assert_eq!(plain.header("vary"), Some("accept-encoding"), "{backend}");
        let mut etags = vec![plain.header("etag").unwrap().to_string()];
        for (accept, coding) in [
            ("br", "br"),
            ("zstd", "zstd"),
            ("gzip", "gzip"),
            ("gzip;q=1, br;q=0.5", "gzip"),
            ("br;q=0, zstd, gzip", "zstd"),
            ("*", "br"),
        ] {
            let got = request(
                addr,
                "GET",
                "/page.html",
                &format!("Accept-Encoding: {accept}\r\n"),
            );
            assert_eq!(got.status, 200);
            assert_eq!(
                got.header("content-encoding"),
                Some(coding),
                "{backend} {accept}"
            );
            assert_eq!(got.header("vary"), Some("accept-encoding"));
            assert!(got.body.len() < page.len() / 4, "{backend} {coding}");
            assert_eq!(
                decode(coding, &got.body),
                page.as_bytes(),
                "{backend} {coding}"
            );
            let etag = got.header("etag").unwrap().to_string();
            assert!(etag.starts_with('"') && etag.ends_with(&format!("-{coding}\"")));
            if !etags.contains(&etag) {
                etags.push(etag.clone());
            }
            // Its own validator revalidates it, and HEAD says the same length.
            let again = request(
                addr,
                "GET",
                "/page.html",
                &format!("Accept-Encoding: {accept}\r\nIf-None-Match: {etag}\r\n"),
            );
            assert_eq!(again.status, 304);
            let head = request(
                addr,
                "HEAD",
                "/page.html",
                &format!("Accept-Encoding: {accept}\r\n"),
            );
            assert_eq!(head.header("content-length"), got.header("content-length"));
        }
        assert_eq!(etags.len(), 4, "one ETag per encoding: {etags:?}");
        // A range is of the file itself.
        let range = request(
            addr,
            "GET",
            "/page.html",
            "Accept-Encoding: br\r\nRange: bytes=0-9\r\n",
        );
        assert_eq!(range.status, 206);
        assert_eq!(range.header("content-encoding"), None);
        assert_eq!(range.body, &page.as_bytes()[..10]);
        // Too small, or not text: as it is.
        for target in ["/tiny.css", "/photo.png"] {
            let got = request(addr, "GET", target, "Accept-Encoding: br\r\n");
            assert_eq!(got.header("content-encoding"), None, "{backend} {target}");
        }
        // A precompressed .zst is sent as it is.
        let pre = request(addr, "GET", "/pre.txt", "Accept-Encoding: zstd\r\n");
        assert_eq!(pre.header("content-encoding"), Some("zstd"));
        assert_eq!(pre.body, b"precompressed zstd");
    }
}

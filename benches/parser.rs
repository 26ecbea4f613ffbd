//! The raw head parser on a typical browser request, next to httparse (the
//! parser inside hyper) on the same bytes; and docroot answering a request
//! for a small cached file, a miss, and a traversal attempt.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use twinserve::docroot::{DocRoot, Options, RequestView, Version};
use twinserve::raw::request::{HeadLimits, parse_head};

/// What Chromium sends for a page: 13 fields, ~550 bytes.
const BROWSER_REQUEST: &[u8] = b"GET /HelloWorld.html HTTP/1.1\r\n\
Host: 127.0.0.1:12000\r\n\
Connection: keep-alive\r\n\
Cache-Control: max-age=0\r\n\
sec-ch-ua: \"Chromium\";v=\"156\", \"Not-A.Brand\";v=\"24\"\r\n\
sec-ch-ua-mobile: ?0\r\n\
sec-ch-ua-platform: \"Linux\"\r\n\
Upgrade-Insecure-Requests: 1\r\n\
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36\r\n\
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8\r\n\
Sec-Fetch-Site: none\r\n\
Sec-Fetch-Mode: navigate\r\n\
Accept-Encoding: gzip, deflate, br, zstd\r\n\
Accept-Language: en-US,en;q=0.9\r\n\r\n";

fn parsers(c: &mut Criterion) {
    let limits = HeadLimits {
        max_request_line: 8192,
        max_headers: 100,
    };
    let mut group = c.benchmark_group("parse a browser request");
    group.bench_function("twinserve raw parser", |b| {
        b.iter(|| parse_head(black_box(BROWSER_REQUEST), &limits).unwrap().len)
    });
    group.bench_function("httparse", |b| {
        b.iter(|| {
            let mut fields = [httparse::EMPTY_HEADER; 100];
            let mut request = httparse::Request::new(&mut fields);
            request.parse(black_box(BROWSER_REQUEST)).unwrap().unwrap()
        })
    });
    group.finish();
}

fn docroot(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("HelloWorld.html"), vec![b'x'; 474]).unwrap();
    std::fs::create_dir_all(root.join("a/b")).unwrap();
    std::fs::write(root.join("a/b/large.bin"), vec![b'x'; 100 * 1024]).unwrap();
    let docroot = DocRoot::open(&root, Options::default()).unwrap();
    let headers = {
        let mut h = http::HeaderMap::new();
        h.insert(
            http::header::HOST,
            http::HeaderValue::from_static("localhost"),
        );
        h
    };
    let mut group = c.benchmark_group("docroot");
    for (name, target) in [
        ("small file (cached)", "/HelloWorld.html"),
        ("large file (opened)", "/a/b/large.bin"),
        ("missing file", "/missing.html"),
        ("traversal attempt", "/%2e%2e/%2e%2e/etc/passwd"),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let view = RequestView {
                    method: "GET",
                    target: black_box(target),
                    version: Version::Http11,
                    headers: &headers,
                };
                docroot.respond(&view).status
            })
        });
    }
    group.finish();
}

criterion_group!(benches, parsers, docroot);
criterion_main!(benches);

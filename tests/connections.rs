//! Connection handling over real sockets, on both backends: persistence,
//! pipelining, split and half-closed requests, bodies that must never become
//! requests, malformed heads, limits and timeouts.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener};
use std::time::{Duration, Instant};

use common::{BACKENDS, ResponseReader, TestSite, connect, parse_responses, read_one, send_raw};
use twinserve::Backend;

const GET_HELLO: &str = "GET /HelloWorld.html HTTP/1.1\r\nHost: localhost\r\n\r\n";
const GET_INDEX_CLOSE: &str = "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
/// A request only a worker can answer: a missing file is never in the cache,
/// so raw's poller cannot answer it from memory while the worker is held.
const GET_MISSING_CLOSE: &str =
    "GET /missing HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";

/// Whether the server closes the connection within the read timeout.
fn closes(stream: &mut std::net::TcpStream) -> bool {
    let mut rest = Vec::new();
    stream.read_to_end(&mut rest).is_ok()
}

#[test]
fn keep_alive_serves_many_requests_on_one_connection() {
    let site = TestSite::new();
    for backend in BACKENDS {
        let server = site.start(backend);
        let mut stream = connect(server.local_addr());
        for _ in 0..5 {
            stream.write_all(GET_HELLO.as_bytes()).unwrap();
            let response = read_one(&mut stream);
            assert_eq!(response.status, 200, "{backend}");
            assert_eq!(response.body, site.file("HelloWorld.html"));
            assert_eq!(response.header("connection"), None, "{backend}");
        }
        stream.write_all(GET_INDEX_CLOSE.as_bytes()).unwrap();
        assert_eq!(read_one(&mut stream).status, 200);
        assert!(
            closes(&mut stream),
            "{backend}: Connection: close must close"
        );
    }
}

/// Two answers that reach the client together: the reader the tests use for
/// pipelined answers keeps the second for its next call, and `read_one`,
/// whose caller expects one, fails rather than drop it.
#[test]
fn answers_that_arrive_together_are_kept_or_refused_never_dropped() {
    let two = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\noneHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    // A connection on which both answers wait before the test's first read.
    let both_sent = || {
        let client = connect(listener.local_addr().unwrap());
        let (mut server, _) = listener.accept().unwrap();
        server.write_all(two).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut peeked = [0u8; 256];
        while client.peek(&mut peeked).unwrap() < two.len() {
            assert!(Instant::now() < deadline, "the answers never arrived");
        }
        (client, server)
    };
    let (mut client, _server) = both_sent();
    let mut reader = ResponseReader::default();
    let first = reader.next_response(&mut client);
    assert_eq!((first.status, first.body.as_slice()), (200, &b"one"[..]));
    assert_eq!(reader.next_response(&mut client).status, 404);
    assert!(reader.leftover().is_empty());
    let (mut client, _server) = both_sent();
    let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        read_one(&mut client);
    }));
    assert!(read.is_err(), "read_one dropped the second answer");
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let site = TestSite::new();
    for backend in BACKENDS {
        let server = site.start(backend);
        let bytes = format!("{GET_HELLO}GET /missing HTTP/1.1\r\nHost: x\r\n\r\n{GET_INDEX_CLOSE}");
        let raw = send_raw(server.local_addr(), bytes.as_bytes());
        let statuses: Vec<u16> = parse_responses(&raw, false)
            .iter()
            .map(|r| r.status)
            .collect();
        assert_eq!(statuses, [200, 404, 200], "{backend}");
    }
}

#[test]
fn a_request_split_into_single_bytes_is_one_request() {
    let site = TestSite::new();
    for backend in BACKENDS {
        let server = site.start(backend);
        let mut stream = connect(server.local_addr());
        stream.set_nodelay(true).unwrap();
        for byte in GET_INDEX_CLOSE.as_bytes() {
            stream.write_all(std::slice::from_ref(byte)).unwrap();
        }
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).unwrap();
        let responses = parse_responses(&raw, false);
        assert_eq!(responses.len(), 1, "{backend}");
        assert_eq!(responses[0].body, site.file("index.html"), "{backend}");
    }
}

#[test]
fn http_1_0_persistence() {
    let site = TestSite::new();
    for backend in BACKENDS {
        let server = site.start(backend);
        // Without keep-alive: one response, then the server closes.
        let raw = send_raw(
            server.local_addr(),
            b"GET / HTTP/1.0\r\n\r\nGET / HTTP/1.0\r\n\r\n",
        );
        assert_eq!(parse_responses(&raw, false).len(), 1, "{backend}");
        // With keep-alive: confirmed, and the connection stays open.
        let mut stream = connect(server.local_addr());
        stream
            .write_all(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            .unwrap();
        let response = read_one(&mut stream);
        assert_eq!(
            response
                .header("connection")
                .map(str::to_lowercase)
                .as_deref(),
            Some("keep-alive"),
            "{backend}"
        );
        stream
            .write_all(b"GET /HelloWorld.html HTTP/1.0\r\n\r\n")
            .unwrap();
        assert_eq!(read_one(&mut stream).status, 200, "{backend}");
        assert!(closes(&mut stream), "{backend}");
    }
}

/// A client that half-closes after its request still gets its answer
/// (RFC 9112 §9.6: a half-close is not a cancellation).
#[test]
fn half_close_after_the_request_is_answered() {
    let site = TestSite::new();
    for backend in BACKENDS {
        let server = site.start(backend);
        let raw = send_raw(server.local_addr(), GET_HELLO.as_bytes());
        let responses = parse_responses(&raw, false);
        assert_eq!(responses.len(), 1, "{backend}");
        assert_eq!(responses[0].status, 200, "{backend}");
    }
}

/// Body bytes are never read as a request (the CL.0 desync): both backends
/// answer exactly once for a POST whose body is a whole GET of the secret.
#[test]
fn a_body_is_never_a_second_request() {
    let site = TestSite::new();
    let smuggled = "GET /HelloWorld.html HTTP/1.1\r\nHost: localhost\r\n\r\n";
    for backend in BACKENDS {
        let server = site.start(backend);
        for framing in [
            format!("Content-Length: {}\r\n\r\n{smuggled}", smuggled.len()),
            format!(
                "Transfer-Encoding: chunked\r\n\r\n{:x}\r\n{smuggled}\r\n0\r\n\r\n",
                smuggled.len()
            ),
        ] {
            let bytes = format!("POST / HTTP/1.1\r\nHost: localhost\r\n{framing}");
            let raw = send_raw(server.local_addr(), bytes.as_bytes());
            let responses = parse_responses(&raw, false);
            assert_eq!(responses.len(), 1, "{backend}: {}", raw.escape_ascii());
            assert_eq!(responses[0].status, 405, "{backend}");
        }
        // A GET with a body is served, then the connection closes.
        let bytes = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{smuggled}",
            smuggled.len()
        );
        let raw = send_raw(server.local_addr(), bytes.as_bytes());
        assert_eq!(parse_responses(&raw, false).len(), 1, "{backend}");
    }
}

/// A request with a body is answered with `connection: close` and the
/// connection ends without the body being read, on both backends: whatever
/// the body holds — valid or not, a chunk extension that is a bare `;` or has
/// control bytes, a request after it — exactly one answer comes back, then
/// the end of the stream, with the connection left open by the client.
#[test]
fn a_request_with_a_body_is_answered_and_the_connection_closed() {
    let site = TestSite::new();
    let next = "GET /HelloWorld.html HTTP/1.1\r\nHost: localhost\r\n\r\n";
    let bodies: &[(&str, &str, u16)] = &[
        ("POST", "Content-Length: 5\r\n\r\nhello", 405),
        ("PUT", "Content-Length: 5\r\n\r\nhello", 405),
        ("GET", "Content-Length: 5\r\n\r\nhello", 200),
        (
            "POST",
            "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
            405,
        ),
        (
            "POST",
            "Transfer-Encoding: chunked\r\n\r\n5;\r\nhello\r\n0\r\n\r\n",
            405,
        ),
        (
            "POST",
            "Transfer-Encoding: chunked\r\n\r\n5;a=\x01\x7f\r\nhello\r\n0\r\n\r\n",
            405,
        ),
        (
            "POST",
            "Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
            405,
        ),
        // A coding neither backend implements: 501 (RFC 9112 §6.1), unread,
        // and for a GET of a file kept in memory (by the GET before) too.
        (
            "POST",
            "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
            501,
        ),
        (
            "GET",
            "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
            501,
        ),
        // Announced and never sent: answered at once all the same.
        ("POST", "Content-Length: 100000\r\n\r\n", 405),
    ];
    for backend in BACKENDS {
        let server = site.start(backend);
        for (method, framing, status) in bodies {
            let bytes =
                format!("{method} /HelloWorld.html HTTP/1.1\r\nHost: localhost\r\n{framing}{next}");
            let mut stream = connect(server.local_addr());
            stream.write_all(bytes.as_bytes()).unwrap();
            let mut raw = Vec::new();
            stream
                .read_to_end(&mut raw)
                .unwrap_or_else(|e| panic!("{backend}: {method} {framing:?}: not closed: {e}"));
            let responses = parse_responses(&raw, false);
            assert_eq!(responses.len(), 1, "{backend}: {}", raw.escape_ascii());
            assert_eq!(responses[0].status, *status, "{backend}: {framing:?}");
            assert_eq!(
                responses[0].header("connection"),
                Some("close"),
                "{backend}: {framing:?}"
            );
        }
    }
}

/// Closing with a body still arriving does not destroy the answer: the
/// server half-closes, drains what the client sends (bounded) and only then
/// closes, so no reset overtakes the response (RFC 9112 §9.6).
#[test]
fn an_answer_survives_a_body_still_being_sent() {
    let site = TestSite::new();
    let body = vec![b'x'; 512 * 1024];
    for backend in BACKENDS {
        let server = site.start(backend);
        let mut stream = connect(server.local_addr());
        let head = format!(
            "POST /HelloWorld.html HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        // The answer is on its way before the body is; send the body after it.
        let mut first = [0u8; 1];
        stream.read_exact(&mut first).unwrap();
        stream.write_all(&body).unwrap();
        let mut raw = first.to_vec();
        stream
            .read_to_end(&mut raw)
            .unwrap_or_else(|e| panic!("{backend}: the answer was cut: {e}"));
        let responses = parse_responses(&raw, false);
        assert_eq!(responses.len(), 1, "{backend}");
        assert_eq!(responses[0].status, 405, "{backend}");
        assert!(
            !responses[0].body.is_empty(),
            "{backend}: the 405 page arrived whole"
        );
    }
}

#[test]
fn malformed_heads_get_400_and_a_close() {
    let site = TestSite::new();
    for backend in BACKENDS {
        let server = site.start(backend);
        for bytes in [
            &b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length : 5\r\n\r\nhello"[..],
            b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n",
            b"GET  / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GE(T / HTTP/1.1\r\nHost: a\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
            b"GET / HTTP/1.1\rHost: a\r\n\r\n",
        ] {
            let raw = send_raw(server.local_addr(), bytes);
            let responses = parse_responses(&raw, false);
            assert_eq!(responses.len(), 1, "{backend}: {}", bytes.escape_ascii());
            assert_eq!(
                responses[0].status,
                400,
                "{backend}: {}",
                bytes.escape_ascii()
            );
        }
    }
}

#[test]
fn limits_answer_414_and_431() {
    let site = TestSite::new();
    for backend in BACKENDS {
        let server = site.start(backend);
        let status = |bytes: String| {
            let raw = send_raw(server.local_addr(), bytes.as_bytes());
            parse_responses(&raw, false).first().map(|r| r.status)
        };
        let long_target = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(9000));
        assert_eq!(status(long_target), Some(414), "{backend}");
        // Past the whole head's limit too, and sent in pieces: still 414, not
        // the 431 of a head too large (hyper's own answer, left to itself).
        let longer_target = format!("GET /{} HTTP/1.1\r\nHost: a\r\n\r\n", "a".repeat(70_000));
        assert_eq!(status(longer_target), Some(414), "{backend}");
        let mut split = connect(server.local_addr());
        split.write_all(b"GET /").unwrap();
        for _ in 0..10 {
            split.write_all(&[b'a'; 1000]).unwrap();
            split.flush().unwrap();
        }
        let mut answer = Vec::new();
        let _ = split.read_to_end(&mut answer);
        assert_eq!(
            parse_responses(&answer, false).first().map(|r| r.status),
            Some(414),
            "{backend}: {}",
            answer.escape_ascii()
        );
        // Just over the limit, wherever the excess falls (target or version),
        // with CRLF or a bare LF, and a method alone past it: 414 on both.
        for over in [1, 2, 5, 9, 10, 30] {
            for end in ["\r\n", "\n"] {
                let line = format!("GET /{} HTTP/1.1", "a".repeat(8192 - 14 + over));
                assert_eq!(
                    status(format!(
                        "{line}{end}Host: a{end}Connection: close{end}{end}"
                    )),
                    Some(414),
                    "{backend}: {over} over, {end:?}"
                );
            }
        }
        let long_method = format!("{} / HTTP/1.1\r\nHost: a\r\n\r\n", "G".repeat(9000));
        assert_eq!(status(long_method), Some(414), "{backend}: a long method");
        // A request line just within the limit is served.
        let at_limit = format!("GET /{} HTTP/1.1", "a".repeat(8192 - 14));
        assert_eq!(at_limit.len(), 8192);
        assert_eq!(
            status(format!(
                "{at_limit}\r\nHost: a\r\nConnection: close\r\n\r\n"
            )),
            Some(404),
            "{backend}"
        );
        let big_header = format!(
            "GET / HTTP/1.1\r\nHost: a\r\nX-Big: {}\r\n\r\n",
            "b".repeat(70_000)
        );
        assert_eq!(status(big_header), Some(431), "{backend}");
        let many: String = (0..101).map(|i| format!("X-{i}: v\r\n")).collect();
        assert_eq!(
            status(format!("GET / HTTP/1.1\r\nHost: a\r\n{many}\r\n")),
            Some(431),
            "{backend}"
        );
        // A 16 KiB cookie, as real browsers send, is well within the limits.
        let cookie = format!(
            "GET / HTTP/1.1\r\nHost: a\r\nCookie: {}\r\nConnection: close\r\n\r\n",
            "c".repeat(16_000)
        );
        assert_eq!(status(cookie), Some(200), "{backend}");
    }
}

/// A head that never finishes is cut at the head timeout: raw says 408, hyper
/// closes without a word. An idle connection is closed too.
#[test]
fn timeouts_end_slow_and_idle_connections() {
    let site = TestSite::new();
    for backend in BACKENDS {
        let server = site.start_with(backend, |c| {
            c.limits.head_timeout = Duration::from_millis(300);
            c.limits.idle_timeout = Duration::from_millis(300);
        });
        let mut slow = connect(server.local_addr());
        slow.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let began = Instant::now();
        slow.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n").unwrap();
        let mut raw = Vec::new();
        slow.read_to_end(&mut raw)
            .expect("closed by the server, not by our timeout");
        assert!(began.elapsed() < Duration::from_secs(3));
        match backend {
            Backend::Raw => assert_eq!(parse_responses(&raw, false)[0].status, 408),
            Backend::Hyper => assert!(raw.is_empty(), "{}", raw.escape_ascii()),
        }
        let mut idle = connect(server.local_addr());
        idle.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut nothing = Vec::new();
        idle.read_to_end(&mut nothing)
            .expect("idle connection closed by the server");
        assert!(nothing.is_empty(), "{backend}");
    }
}

/// When every worker is busy and the queue is full, the raw backend answers
/// 503 at once instead of letting a client wait without bound.
#[test]
fn raw_refuses_with_503_when_the_queue_is_full() {
    let site = TestSite::new();
    site.big_file("big.bin", 64 << 20);
    let server = site.start_with(Backend::Raw, |c| {
        c.threads = common::threads(1);
        c.raw.queue = 1;
    });
    // A response the client does not read holds its worker in a blocked write
    // (a head still arriving would not: it waits in the poller without one).
    let mut holder = connect(server.local_addr());
    holder
        .write_all(b"GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    // The worker takes the holder within moments; until it has, a client may
    // still be served or queued, so keep the queued ones open and try again.
    let mut queued = Vec::new();
    let mut refused = false;
    for _ in 0..10 {
        let mut extra = connect(server.local_addr());
        extra
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        // Were one served before the worker took the holder, it would be
        // cached and every later one answered from memory: never a 503.
        extra.write_all(GET_MISSING_CLOSE.as_bytes()).unwrap();
        let mut raw = Vec::new();
        match extra.read_to_end(&mut raw) {
            Ok(_) if parse_responses(&raw, false).first().map(|r| r.status) == Some(503) => {
                refused = true;
                break;
            }
            Ok(_) => {}
            Err(_) => queued.push(extra),
        }
    }
    assert!(
        refused,
        "no 503 with the worker held and {} queued",
        queued.len()
    );
    holder.shutdown(Shutdown::Both).unwrap();
}

/// While the one worker is held and its queue is full, the poller still keeps
/// time: a head that misses its timeout gets its 408 and an idle connection is
/// closed, though heads completed meanwhile are waiting for a worker; and those
/// are all answered once the worker is free.
#[test]
fn raw_keeps_time_while_the_queue_is_full() {
    let site = TestSite::new();
    site.big_file("big.bin", 64 << 20);
    let server = site.start_with(Backend::Raw, |c| {
        c.threads = common::threads(1);
        c.raw.queue = 1;
        // Long enough for the heads completed below to finish in time on a
        // loaded machine; the partial one must still miss it.
        c.limits.head_timeout = Duration::from_secs(2);
        c.limits.idle_timeout = Duration::from_millis(500);
    });
    let addr = server.local_addr();
    // A response the client does not read holds the worker in a blocked write.
    let mut holder = connect(addr);
    holder
        .write_all(b"GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    let mut completing: Vec<_> = (0..4)
        .map(|_| {
            let mut s = connect(addr);
            s.write_all(b"GET /HelloWorld.html HTTP/1.1\r\n").unwrap();
            s
        })
        .collect();
    let mut partial = connect(addr);
    partial.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n").unwrap();
    let mut idle = connect(addr);
    for s in completing.iter().chain([&partial, &idle]) {
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    }
    // Probes fill the queue behind the blocked worker. A probe whose head is
    // whole when the accept loop takes it gets a fast 503 once the queue is
    // full; one accepted a moment before its bytes arrive is parked, and the
    // poller holds it until there is room, so it just waits. Either a 503 or
    // two probes waiting (one in the one-place queue, one behind it) shows the
    // queue is full; the accept loop takes connections in order, so the ones
    // above have all been accepted and, their heads not whole, parked.
    let mut full = false;
    let mut waiting = Vec::new();
    let mut probes = Vec::new();
    for _ in 0..10 {
        let mut probe = connect(addr);
        probe.write_all(GET_MISSING_CLOSE.as_bytes()).unwrap();
        probe
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut raw = Vec::new();
        let read = probe.read_to_end(&mut raw).map_err(|e| e.kind());
        let status = parse_responses(&raw, false).first().map(|r| r.status);
        probes.push(format!("{read:?} {status:?}"));
        match (read, status) {
            (Ok(_), Some(503)) => full = true,
            // Answered: the worker was not yet blocked on the holder.
            (Ok(_), Some(_)) => {}
            _ if raw.is_empty() => waiting.push(probe),
            other => panic!("a probe got {other:?}: {raw:?}"),
        }
        if full || waiting.len() >= 2 {
            full = true;
            break;
        }
    }
    assert!(full, "the queue never filled; the probes got {probes:?}");
    // Now their heads complete: whole, with no room in the queue.
    for s in &mut completing {
        s.write_all(b"Host: a\r\n\r\n").unwrap();
    }
    let mut answer = Vec::new();
    partial
        .read_to_end(&mut answer)
        .expect("the late head answered within the test's timeout");
    assert_eq!(parse_responses(&answer, false)[0].status, 408);
    let mut nothing = Vec::new();
    idle.read_to_end(&mut nothing)
        .expect("the idle connection closed within the test's timeout");
    assert!(nothing.is_empty());
    // The worker comes free; every completed head is answered.
    holder.shutdown(Shutdown::Both).unwrap();
    drop(holder);
    for s in &mut completing {
        assert_eq!(read_one(s).status, 200);
    }
}

/// An answered connection whose client goes on holding it open lingers in
/// the poller, not on a worker: with one worker and a row of such clients,
/// a normal client is still answered while they all linger.
#[test]
fn raw_lingers_without_a_worker() {
    let site = TestSite::new();
    let server = site.start_with(Backend::Raw, |c| c.threads = common::threads(1));
    let addr = server.local_addr();
    // A body is announced and never sent: answered, half-closed, then drained
    // for up to a second. All six are sent before the normal client, so on a
    // worker they would hold it for six seconds before its turn.
    let mut lingering: Vec<_> = (0..6)
        .map(|_| {
            let mut s = connect(addr);
            s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n")
                .unwrap();
            s
        })
        .collect();
    let began = Instant::now();
    let mut normal = connect(addr);
    normal.write_all(GET_INDEX_CLOSE.as_bytes()).unwrap();
    normal
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let mut raw = Vec::new();
    normal
        .read_to_end(&mut raw)
        .expect("answered while six connections linger");
    assert_eq!(parse_responses(&raw, false)[0].status, 200);
    eprintln!(
        "answered after {:?} beside six lingering clients",
        began.elapsed()
    );
    // Each lingering connection is closed by the server once its time is up.
    for s in &mut lingering {
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).expect("closed by the server");
    }
}

/// Idle keep-alive connections wait without a worker: many more than there
/// are threads all get their second request answered.
#[test]
fn raw_serves_more_idle_connections_than_threads() {
    let site = TestSite::new();
    let server = site.start_with(Backend::Raw, |c| c.threads = common::threads(2));
    let mut clients: Vec<_> = (0..20).map(|_| connect(server.local_addr())).collect();
    for round in 0..2 {
        for client in &mut clients {
            client.write_all(GET_HELLO.as_bytes()).unwrap();
            assert_eq!(read_one(client).status, 200, "round {round}");
        }
    }
}

/// After `max_requests_per_connection` answers the server says
/// `connection: close` and closes, in both backends.
#[test]
fn requests_per_connection_are_bounded() {
    let site = TestSite::new();
    for backend in BACKENDS {
        let server = site.start_with(backend, |c| c.limits.max_requests_per_connection = 3);
        let mut stream = connect(server.local_addr());
        for n in 1..=3 {
            stream.write_all(GET_HELLO.as_bytes()).unwrap();
            let response = read_one(&mut stream);
            assert_eq!(response.status, 200, "{backend}");
            let closing = response.header("connection").map(str::to_lowercase);
            assert_eq!(
                closing.as_deref() == Some("close"),
                n == 3,
                "{backend}: response {n}"
            );
        }
        assert!(closes(&mut stream), "{backend}: still open after the limit");
    }
}

/// A configured request-line limit holds in both backends: for hyper it is
/// docroot that answers 414, with the limit taken from the one `Config`.
#[test]
fn a_configured_request_line_limit_holds_in_both_backends() {
    let site = TestSite::new();
    for backend in BACKENDS {
        let server = site.start_with(backend, |c| c.limits.max_request_line = 100);
        let long = format!(
            "GET /{} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n",
            "a".repeat(200)
        );
        let raw = send_raw(server.local_addr(), long.as_bytes());
        assert_eq!(parse_responses(&raw, false)[0].status, 414, "{backend}");
        let short = "GET /HelloWorld.html HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
        let raw = send_raw(server.local_addr(), short.as_bytes());
        assert_eq!(parse_responses(&raw, false)[0].status, 200, "{backend}");
    }
}

/// At `max_connections` open, both backends stop accepting until one closes:
/// the next client waits, then is served.
#[test]
fn connections_beyond_the_limit_wait_for_one_to_close() {
    let site = TestSite::new();
    for backend in BACKENDS {
        let server = site.start_with(backend, |c| c.limits.max_connections = 2);
        let mut first = connect(server.local_addr());
        let mut second = connect(server.local_addr());
        for client in [&mut first, &mut second] {
            client.write_all(GET_HELLO.as_bytes()).unwrap();
            assert_eq!(read_one(client).status, 200, "{backend}");
        }
        let mut third = connect(server.local_addr());
        third.write_all(GET_HELLO.as_bytes()).unwrap();
        third
            .set_read_timeout(Some(Duration::from_millis(300)))
            .unwrap();
        let mut byte = [0u8; 1];
        let early = third.read(&mut byte);
        assert!(
            early.is_err(),
            "{backend}: answered a third connection at a limit of two"
        );
        drop(first);
        third
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        assert_eq!(read_one(&mut third).status, 200, "{backend}");
    }
}

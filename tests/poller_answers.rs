//! The raw backend answers a cached file's keep-alive requests on its poller
//! thread, with a send that does not wait, and hands anything else to a
//! worker: these check that the answers stay whole and in order across that
//! line — pipelined bursts, HEAD, ranges, a socket buffer that fills, and a
//! large file read slowly after cached ones.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{ResponseReader, TestSite, connect, parse_responses};
use twinserve::Backend;

/// Everything the server sends until it closes the connection.
fn read_until_closed(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    stream
        .read_to_end(&mut got)
        .expect("the server closes within the read timeout");
    got
}

/// Reads from `stream` until `want` bytes have come, or panics after a bound.
fn read_exactly(stream: &mut TcpStream, want: usize) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut got = Vec::with_capacity(want);
    let mut buf = vec![0u8; 64 * 1024];
    while got.len() < want {
        assert!(
            Instant::now() < deadline,
            "only {} of {want} bytes",
            got.len()
        );
        match stream.read(&mut buf) {
            Ok(0) => panic!("closed after {} of {want} bytes", got.len()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(e) => panic!("read failed: {e}"),
        }
    }
    got
}

fn get(target: &str) -> String {
    format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n")
}

/// A keep-alive exchange that leaves the connection parked (and the file
/// cached), so what the test sends next is gathered by the poller.
fn warm(stream: &mut TcpStream, target: &str, len: usize) -> usize {
    warm_with(stream, &get(target), len)
}

/// [`warm`] with a request of the test's own.
fn warm_with(stream: &mut TcpStream, request: &str, len: usize) -> usize {
    stream.write_all(request.as_bytes()).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).expect("the first answer");
        assert!(n > 0, "closed before the first answer");
        got.extend_from_slice(&buf[..n]);
        if let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n")
            && got.len() >= end + 4 + len
        {
            assert!(got.starts_with(b"HTTP/1.1 200"), "{}", got.escape_ascii());
            return got.len();
        }
    }
}

#[test]
fn a_pipelined_burst_with_head_and_ranges_is_answered_in_order() {
    let site = TestSite::new();
    let hello = site.file("HelloWorld.html");
    let server = site.start(Backend::Raw);
    let mut stream = connect(server.local_addr());
    warm(&mut stream, "/HelloWorld.html", hello.len());
    // More than the poller answers in one turn, so a worker takes the rest.
    let mut burst = String::new();
    let mut expected = Vec::new();
    for i in 0..60 {
        match i % 4 {
            0 => {
                burst.push_str("HEAD /HelloWorld.html HTTP/1.1\r\nHost: localhost\r\n\r\n");
                expected.push((true, 200, Vec::new()));
            }
            1 => {
                burst.push_str(
                    "GET /HelloWorld.html HTTP/1.1\r\nHost: localhost\r\nRange: bytes=0-9\r\n\r\n",
                );
                expected.push((false, 206, hello[..10].to_vec()));
            }
            2 if i == 30 => {
                burst.push_str(&get("/missing.html"));
                expected.push((false, 404, Vec::new()));
            }
            _ => {
                burst.push_str(&get("/HelloWorld.html"));
                expected.push((false, 200, hello.clone()));
            }
        }
    }
    stream.write_all(burst.as_bytes()).unwrap();
    // Each answer read one at a time, as HEAD's has no body to frame it.
    let mut pending = Vec::new();
    let mut buf = [0u8; 65536];
    let deadline = Instant::now() + Duration::from_secs(20);
    for (n, (head_only, status, body)) in expected.iter().enumerate() {
        loop {
            assert!(Instant::now() < deadline, "answer {n} never came");
            if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                let head_len = end + 4;
                let parsed = parse_responses(&pending[..head_len], true);
                let len: usize = match (head_only, parsed[0].header("content-length")) {
                    (true, _) => 0,
                    (false, Some(v)) => v.parse().unwrap(),
                    (false, None) => 0,
                };
                if pending.len() >= head_len + len {
                    let got = &parsed[0];
                    assert_eq!(got.status, *status, "answer {n}");
                    if *head_only {
                        assert_eq!(
                            got.header("content-length"),
                            Some(hello.len().to_string().as_str()),
                            "HEAD {n} says GET's length"
                        );
                    } else if *status != 404 {
                        assert_eq!(&pending[head_len..head_len + len], &body[..], "answer {n}");
                    }
                    pending.drain(..head_len + len);
                    break;
                }
            }
            let read = stream.read(&mut buf).expect("answers keep coming");
            assert!(read > 0, "closed before answer {n}");
            pending.extend_from_slice(&buf[..read]);
        }
    }
    assert!(pending.is_empty(), "bytes after the last answer");
    server.shutdown().unwrap();
}

#[test]
fn a_full_socket_buffer_loses_no_byte_of_a_cached_answer() {
    let site = TestSite::new();
    // Cached, small enough for the poller to answer (16 KiB at most), and
    // large enough that a few hundred fill the buffers.
    let data = site.big_file("fill.bin", 12 * 1024);
    let server = site.start(Backend::Raw);
    let mut stream = connect(server.local_addr());
    stream
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    // Every answer has the first one's length (the date field is fixed width).
    let one = warm(&mut stream, "/fill.bin", data.len());
    // Cached now; the client writes 200 requests before it reads, so the
    // server's sends find the socket full part way through an answer.
    let requests = 600;
    let before = server.poller_answers();
    stream
        .write_all(get("/fill.bin").repeat(requests).as_bytes())
        .unwrap();
    let all = read_exactly(&mut stream, one * requests);
    let responses = parse_responses(&all, false);
    assert_eq!(responses.len(), requests);
    for (n, response) in responses.iter().enumerate() {
        assert_eq!(response.status, 200, "answer {n}");
        assert!(response.body == data, "answer {n}'s body differs");
    }
    // The poller answered some of them itself: the path under test was taken.
    assert!(server.poller_answers() > before);
    server.shutdown().unwrap();
}

#[test]
fn a_large_file_read_slowly_after_cached_answers_is_whole() {
    let site = TestSite::new();
    let hello = site.file("HelloWorld.html");
    // Beyond the cache's small-file size: a worker streams it from disk.
    let big = site.big_file("big.bin", 3 * 1024 * 1024);
    let server = site.start(Backend::Raw);
    let mut stream = connect(server.local_addr());
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    warm(&mut stream, "/HelloWorld.html", hello.len());
    let burst = format!(
        "{}{}GET /HelloWorld.html HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
        get("/HelloWorld.html"),
        get("/big.bin"),
    );
    stream.write_all(burst.as_bytes()).unwrap();
    // Slowly at first: small reads with pauses, so the server's sends meet a full buffer.
    let mut got = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        assert!(
            Instant::now() < deadline,
            "still open after {} bytes",
            got.len()
        );
        let n = stream.read(&mut buf).expect("the answers keep coming");
        if n == 0 {
            break;
        }
        got.extend_from_slice(&buf[..n]);
        if got.len() < 256 * 1024 {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    let responses = parse_responses(&got, false);
    assert_eq!(responses.len(), 3);
    assert_eq!(responses[0].body, hello);
    assert!(responses[1].body == big, "the large file differs");
    assert_eq!(responses[2].body, hello);
    server.shutdown().unwrap();
}

#[test]
fn http10_keep_alive_is_confirmed_on_each_answer_and_plain_http10_closes() {
    let site = TestSite::new();
    let hello = site.file("HelloWorld.html");
    let server = site.start(Backend::Raw);
    let mut stream = connect(server.local_addr());
    let keep = "GET /HelloWorld.html HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
    warm_with(&mut stream, keep, hello.len());
    let before = server.poller_answers();
    let burst = format!("{}GET /HelloWorld.html HTTP/1.0\r\n\r\n", keep.repeat(3));
    stream.write_all(burst.as_bytes()).unwrap();
    let responses = parse_responses(&read_until_closed(&mut stream), false);
    assert_eq!(responses.len(), 4);
    for (n, response) in responses.iter().enumerate() {
        assert_eq!(response.status, 200, "answer {n}");
        assert_eq!(response.body, hello, "answer {n}");
    }
    // HTTP/1.0 persists only when the answer says so (RFC 9112 §9.3).
    for response in &responses[..3] {
        assert_eq!(response.header("connection"), Some("keep-alive"));
    }
    assert_ne!(responses[3].header("connection"), Some("keep-alive"));
    assert!(server.poller_answers() > before, "the poller answered none");
    server.shutdown().unwrap();
}

#[test]
fn the_last_request_a_connection_may_make_is_answered_with_close() {
    let site = TestSite::new();
    let hello = site.file("HelloWorld.html");
    let server = site.start_with(Backend::Raw, |config| {
        config.limits.max_requests_per_connection = 4;
    });
    let mut stream = connect(server.local_addr());
    warm(&mut stream, "/HelloWorld.html", hello.len());
    let before = server.poller_answers();
    // Requests 2 to 6: the 4th is the last answered, the rest never are.
    stream
        .write_all(get("/HelloWorld.html").repeat(5).as_bytes())
        .unwrap();
    let responses = parse_responses(&read_until_closed(&mut stream), false);
    assert_eq!(responses.len(), 3, "answers after the limit");
    assert_eq!(responses[0].header("connection"), None);
    assert_eq!(responses[1].header("connection"), None);
    assert_eq!(responses[2].header("connection"), Some("close"));
    assert!(responses.iter().all(|r| r.body == hello));
    assert!(server.poller_answers() > before, "the poller answered none");
    server.shutdown().unwrap();
}

#[test]
fn a_head_left_unfinished_after_answered_ones_gets_408() {
    let site = TestSite::new();
    let hello = site.file("HelloWorld.html");
    let server = site.start_with(Backend::Raw, |config| {
        config.limits.head_timeout = Duration::from_millis(300);
    });
    let mut stream = connect(server.local_addr());
    warm(&mut stream, "/HelloWorld.html", hello.len());
    let before = server.poller_answers();
    let burst = format!(
        "{}GET /HelloWorld.html HTTP/1.1\r\nHost: loc",
        get("/HelloWorld.html").repeat(2)
    );
    stream.write_all(burst.as_bytes()).unwrap();
    let responses = parse_responses(&read_until_closed(&mut stream), false);
    let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [200, 200, 408]);
    assert_eq!(responses[2].header("connection"), Some("close"));
    assert!(server.poller_answers() > before, "the poller answered none");
    server.shutdown().unwrap();
}

#[test]
fn answers_owed_by_the_poller_are_finished_at_shutdown() {
    let site = TestSite::new();
    site.big_file("big.bin", 64 << 20);
    let data = site.big_file("fill.bin", 12 * 1024);
    let server = site.start_with(Backend::Raw, |c| {
        c.threads = common::threads(1);
        c.raw.queue = 1;
    });
    let addr = server.local_addr();
    // Kept connections, warmed while the one worker is free; `idle` only waits.
    let mut owed: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut stream = connect(addr);
            warm(&mut stream, "/fill.bin", data.len());
            stream
        })
        .collect();
    let mut idle = connect(addr);
    warm(&mut idle, "/fill.bin", data.len());
    // A response its client has begun and stopped reading holds the worker.
    let mut holder = connect(addr);
    holder
        .write_all(b"GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    holder.read_exact(&mut [0u8; 1]).unwrap();
    // The poller answers the first few of each burst; the rest wait for the
    // worker, one connection in its queue and one in the poller's backlog.
    for stream in &mut owed {
        stream
            .write_all(get("/fill.bin").repeat(600).as_bytes())
            .unwrap();
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut seen = 0;
    loop {
        assert!(
            Instant::now() < deadline,
            "the poller never stopped answering"
        );
        std::thread::sleep(Duration::from_millis(100));
        let now = server.poller_answers();
        if now >= 2 && now == seen {
            break;
        }
        seen = now;
    }
    // Parked connections close as the server stops: once `idle` has seen
    // it, the poller holds its backlog while the worker is still held.
    server.stopper().stop();
    let mut rest = Vec::new();
    assert_eq!(idle.read_to_end(&mut rest).unwrap(), 0);
    let readers: Vec<_> = owed
        .into_iter()
        .chain([holder])
        .map(|mut stream| {
            stream
                .set_read_timeout(Some(Duration::from_secs(20)))
                .unwrap();
            std::thread::spawn(move || read_until_closed(&mut stream))
        })
        .collect();
    let mut got: Vec<Vec<u8>> = readers.into_iter().map(|r| r.join().unwrap()).collect();
    server.shutdown().unwrap();
    let held = got.pop().unwrap();
    // The held response was finished too (its first byte was read above).
    assert!(held.len() + 1 > 64 << 20, "the held response was cut");
    for (n, bytes) in got.iter().enumerate() {
        let responses = parse_responses(bytes, false);
        // More than the poller answers in a turn: a worker took over the rest.
        assert!(responses.len() > 16, "connection {n}: {}", responses.len());
        for response in &responses {
            assert_eq!(response.status, 200);
            assert!(response.body == data, "connection {n}: a body differs");
        }
    }
}

#[test]
fn a_rewritten_file_is_never_answered_stale_by_the_poller() {
    let site = TestSite::new();
    let path = site.root().join("page.html");
    // Same length each time, so only the content tells old from new.
    let content = |i: usize| format!("<p>version {i:04}</p>\n");
    std::fs::write(&path, content(0)).unwrap();
    let server = site.start(Backend::Raw);
    let mut stream = connect(server.local_addr());
    warm(&mut stream, "/page.html", content(0).len());
    for i in 1..=40 {
        std::fs::write(&path, content(i)).unwrap();
        // The first after the change finds it changed; the second is a
        // cache hit the poller answers itself.
        for _ in 0..2 {
            stream.write_all(get("/page.html").as_bytes()).unwrap();
            let response = common::read_one(&mut stream);
            assert_eq!(response.status, 200);
            assert_eq!(
                String::from_utf8_lossy(&response.body),
                content(i),
                "served stale after rewrite {i}"
            );
        }
    }
    // Most second requests (a busy cache sends one to a worker now and then).
    let answered = server.poller_answers();
    assert!(answered > 20, "the poller answered {answered} of 40");
    server.shutdown().unwrap();
}

#[test]
fn a_close_that_comes_with_the_last_bytes_is_seen_at_once() {
    let site = TestSite::new();
    let hello = site.file("HelloWorld.html");
    let server = site.start_with(Backend::Raw, |config| {
        // Far beyond the read timeout below: only seeing the close ends it in time.
        config.limits.head_timeout = Duration::from_secs(60);
        config.limits.idle_timeout = Duration::from_secs(60);
    });
    for _ in 0..20 {
        let mut stream = connect(server.local_addr());
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        warm(&mut stream, "/HelloWorld.html", hello.len());
        // Part of a head and the FIN together: the read that takes the bytes
        // does not show the close.
        stream
            .write_all(b"GET /HelloWorld.html HTTP/1.1\r\nHost: a\r\n")
            .unwrap();
        stream.shutdown(std::net::Shutdown::Write).unwrap();
        assert!(read_until_closed(&mut stream).is_empty());
    }
    server.shutdown().unwrap();
}

#[test]
fn a_request_after_an_urgent_byte_is_answered() {
    let site = TestSite::new();
    let hello = site.file("HelloWorld.html");
    site.big_file("big.bin", 64 << 20);
    let server = site.start(Backend::Raw);
    let mut stream = connect(server.local_addr());
    warm(&mut stream, "/HelloWorld.html", hello.len());
    // A response too large for the socket buffers holds a worker, so no one
    // reads this socket while the next requests arrive.
    stream
        .write_all(b"GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    stream.read_exact(&mut [0u8; 1]).unwrap();
    // Two cached requests with an urgent byte (not part of the stream)
    // between them: a read stops at its mark, short of all that arrived.
    stream
        .write_all(get("/HelloWorld.html").as_bytes())
        .unwrap();
    rustix::net::send(&stream, b"!", rustix::net::SendFlags::OOB).unwrap();
    stream
        .write_all(get("/HelloWorld.html").as_bytes())
        .unwrap();
    let before = server.poller_answers();
    // The large response, head byte by byte, then exactly its body.
    let mut head = vec![b'H'];
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8];
        stream.read_exact(&mut byte).unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 200"), "{}", head.escape_ascii());
    let mut body = vec![0u8; 64 << 20];
    stream.read_exact(&mut body).unwrap();
    let mut reader = ResponseReader::default();
    for n in 0..2 {
        let response = reader.next_response(&mut stream);
        assert_eq!(response.status, 200, "answer {n}");
        assert_eq!(response.body, hello, "answer {n}");
    }
    assert!(
        reader.leftover().is_empty(),
        "bytes past the two answers: {}",
        reader.leftover().escape_ascii()
    );
    assert!(server.poller_answers() > before, "the poller answered none");
    server.shutdown().unwrap();
}

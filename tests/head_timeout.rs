//! The head timeout against heads trickled a byte at a time (first
//! and later requests of a connection), and never against a slow reader of a
//! large body, on both backends.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{BACKENDS, TestSite, connect, parse_responses, read_one};

const HEAD_TIMEOUT: Duration = Duration::from_millis(400);

/// Sends `prefix`, then one more header byte every 50 ms, up to 80 of them
/// (4 s, ten head timeouts). Returns what the server sent before it closed,
/// or `None` if it was still open when the trickle ran out.
fn trickle(stream: &mut TcpStream, prefix: &[u8]) -> Option<Vec<u8>> {
    stream.write_all(prefix).unwrap();
    let mut got = Vec::new();
    for _ in 0..80 {
        std::thread::sleep(Duration::from_millis(50));
        stream.set_nonblocking(true).unwrap();
        let mut buf = [0u8; 4096];
        let closed = loop {
            match stream.read(&mut buf) {
                Ok(0) => break true,
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == ErrorKind::WouldBlock => break false,
                Err(_) => break true,
            }
        };
        stream.set_nonblocking(false).unwrap();
        if closed || stream.write_all(b"a").is_err() {
            return Some(got);
        }
    }
    None
}

#[test]
fn a_head_trickled_a_byte_at_a_time_is_cut() {
    let site = TestSite::new();
    for backend in BACKENDS {
        let server = site.start_with(backend, |c| {
            c.limits.head_timeout = HEAD_TIMEOUT;
            c.limits.idle_timeout = HEAD_TIMEOUT;
        });
        let mut slow = connect(server.local_addr());
        let got = trickle(&mut slow, b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ");
        assert!(
            got.is_some(),
            "{backend}: a trickled head outlived ten head timeouts"
        );
    }
}

#[test]
fn the_second_head_of_a_connection_trickled_is_cut() {
    let site = TestSite::new();
    for backend in BACKENDS {
        let server = site.start_with(backend, |c| {
            c.limits.head_timeout = HEAD_TIMEOUT;
            c.limits.idle_timeout = HEAD_TIMEOUT;
        });
        let mut slow = connect(server.local_addr());
        slow.write_all(b"GET /HelloWorld.html HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap();
        assert_eq!(read_one(&mut slow).status, 200, "{backend}");
        let got = trickle(&mut slow, b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ");
        assert!(
            got.is_some(),
            "{backend}: a trickled second head outlived ten head timeouts"
        );
        // Pipelined: the second head begun in the first one's packet.
        let mut piped = connect(server.local_addr());
        let got = trickle(
            &mut piped,
            b"GET /HelloWorld.html HTTP/1.1\r\nHost: a\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\nX-Slow: ",
        );
        let got = got.unwrap_or_else(|| {
            panic!("{backend}: a pipelined trickled head outlived ten head timeouts")
        });
        assert_eq!(parse_responses(&got, false)[0].status, 200, "{backend}");
    }
}

/// A client that takes longer than the head timeout to read a large body
/// still gets all of it: the head timeout is over once the head is in.
#[test]
fn a_slow_reader_of_a_large_body_gets_all_of_it() {
    let site = TestSite::new();
    let len = 32 << 20;
    site.big_file("big.bin", len);
    for backend in BACKENDS {
        let server = site.start_with(backend, |c| {
            c.limits.head_timeout = Duration::from_millis(200);
            c.limits.idle_timeout = Duration::from_millis(200);
            c.limits.write_timeout = Duration::from_secs(10);
        });
        let mut stream = connect(server.local_addr());
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
            .write_all(b"GET /big.bin HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            .unwrap();
        // Not reading for five head timeouts, then slowly, in small reads.
        std::thread::sleep(Duration::from_secs(1));
        let mut got = Vec::new();
        let mut chunk = vec![0u8; 256 * 1024];
        let mut reads = 0;
        loop {
            let n = stream
                .read(&mut chunk)
                .expect("the body before the timeout");
            if n == 0 {
                break;
            }
            got.extend_from_slice(&chunk[..n]);
            reads += 1;
            if reads % 32 == 0 {
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        let end = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        assert_eq!(got.len() - end, len, "{backend}: body cut short");
    }
}

/// With `--http2-prior-knowledge` an HTTP/1 connection takes another way in
/// (`h2c_connection`): its heads are timed all the same.
#[test]
fn h2c_prior_knowledge_times_http1_heads_too() {
    let site = TestSite::new();
    let server = site.start_with(twinserve::Backend::Hyper, |c| {
        c.hyper.http2_prior_knowledge = true;
        c.limits.head_timeout = HEAD_TIMEOUT;
        c.limits.idle_timeout = HEAD_TIMEOUT;
    });
    let mut slow = connect(server.local_addr());
    slow.write_all(b"GET /HelloWorld.html HTTP/1.1\r\nHost: a\r\n\r\n")
        .unwrap();
    assert_eq!(read_one(&mut slow).status, 200);
    let got = trickle(&mut slow, b"GET / HTTP/1.1\r\nHost: a\r\nX-Slow: ");
    assert!(got.is_some(), "a trickled head outlived ten head timeouts");
}

/// Empty lines before a request line (RFC 9112 §2.2 lets a server ignore
/// them) are no head: a client sending nothing else, a few at a time just
/// inside the head timeout, must still be cut. On hyper the socket wrapper
/// takes `CRLF CRLF` for the end of a head and disarms its timer, so each
/// pair buys a whole new head timeout.
#[test]
fn empty_lines_alone_do_not_hold_a_connection_open() {
    let site = TestSite::new();
    for backend in BACKENDS {
        let server = site.start_with(backend, |c| {
            c.limits.head_timeout = HEAD_TIMEOUT;
            c.limits.idle_timeout = HEAD_TIMEOUT;
        });
        for after_a_request in [false, true] {
            let mut stream = connect(server.local_addr());
            if after_a_request {
                stream
                    .write_all(b"GET /HelloWorld.html HTTP/1.1\r\nHost: a\r\n\r\n")
                    .unwrap();
                assert_eq!(read_one(&mut stream).status, 200, "{backend}");
            }
            let mut closed = false;
            // 4 s in all, ten head timeouts; 4 bytes every 300 ms.
            for _ in 0..13 {
                if stream.write_all(b"\r\n\r\n").is_err() {
                    closed = true;
                    break;
                }
                std::thread::sleep(Duration::from_millis(300));
                stream.set_nonblocking(true).unwrap();
                let mut buf = [0u8; 1024];
                let seen = stream.read(&mut buf);
                stream.set_nonblocking(false).unwrap();
                match seen {
                    Ok(_) => {
                        closed = true;
                        break;
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                    Err(_) => {
                        closed = true;
                        break;
                    }
                }
            }
            assert!(
                closed,
                "{backend} (after a request: {after_a_request}): empty lines every 300 ms held the connection open past ten 400 ms head timeouts"
            );
        }
    }
}

//! Hostile and broken clients, on both backends: resets mid-download,
//! half-closes, a reader that stops reading, slowloris, a burst of
//! connections, random bytes. After each the server must still answer, no
//! handler may have panicked, and the process's open descriptors must return
//! to their count before the test. Every wait is bounded; the tests in this
//! file run one at a time so the descriptor counts mean something.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use common::{BACKENDS, TestSite, open_fds, request};
use twinserve::{Backend, Config, ServerHandle};

static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

/// A server with short timeouts, warmed up, and the descriptor count to return to.
/// A big file the test will ask for is asked for first: the cache keeps it
/// open from then on, and that descriptor belongs in the count.
fn start(
    site: &TestSite,
    backend: Backend,
    tweak: impl FnOnce(&mut Config),
) -> (ServerHandle, usize) {
    let server = site.start_with(backend, |c| {
        c.limits.head_timeout = Duration::from_millis(800);
        c.limits.idle_timeout = Duration::from_millis(800);
        c.limits.write_timeout = Duration::from_millis(500);
        tweak(c);
    });
    assert_eq!(
        request(server.local_addr(), "GET", "/HelloWorld.html", "").status,
        200
    );
    if site.root().join("big.bin").exists() {
        assert_eq!(
            request(server.local_addr(), "HEAD", "/big.bin", "").status,
            200
        );
    }
    (server, open_fds())
}

/// The server still answers, nothing panicked, and every descriptor it
/// opened for the test is closed again (waiting, bounded, for it to notice).
fn assert_recovered(server: &ServerHandle, baseline: usize, what: &str) {
    let response = request(server.local_addr(), "GET", "/HelloWorld.html", "");
    assert_eq!(response.status, 200, "{what}: the server stopped answering");
    let deadline = Instant::now() + Duration::from_secs(10);
    while open_fds() > baseline && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        open_fds() <= baseline,
        "{what}: {} descriptors open, {baseline} before",
        open_fds()
    );
    assert_eq!(twinserve::panics(), 0, "{what}: a handler panicked");
}

fn connect(addr: SocketAddr, timeout: Duration) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2)).expect("connect");
    stream.set_read_timeout(Some(timeout)).unwrap();
    stream.set_write_timeout(Some(timeout)).unwrap();
    stream
}

#[test]
fn five_hundred_resets_mid_download() {
    let _serial = serial();
    let site = TestSite::new();
    site.big_file("big.bin", 4 << 20);
    for backend in BACKENDS {
        let (server, baseline) = start(&site, backend, |_| {});
        let addr = server.local_addr();
        std::thread::scope(|scope| {
            for _ in 0..25 {
                scope.spawn(|| {
                    for _ in 0..20 {
                        let mut stream = connect(addr, Duration::from_secs(2));
                        stream
                            .write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
                            .unwrap();
                        let mut some = [0u8; 16 * 1024];
                        stream.read_exact(&mut some).unwrap();
                        // SO_LINGER 0: close() sends RST instead of FIN.
                        socket2::SockRef::from(&stream)
                            .set_linger(Some(Duration::ZERO))
                            .unwrap();
                    }
                });
            }
        });
        assert_recovered(&server, baseline, &format!("{backend}: resets"));
    }
}

#[test]
fn half_closes_with_and_without_a_request() {
    let _serial = serial();
    let site = TestSite::new();
    for backend in BACKENDS {
        let (server, baseline) = start(&site, backend, |_| {});
        let addr = server.local_addr();
        std::thread::scope(|scope| {
            for i in 0..200 {
                scope.spawn(move || {
                    let mut stream = connect(addr, Duration::from_secs(3));
                    if i % 2 == 0 {
                        stream
                            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                            .unwrap();
                    }
                    stream.shutdown(Shutdown::Write).unwrap();
                    let mut answer = Vec::new();
                    stream.read_to_end(&mut answer).expect("the server closes");
                    // A request gets its answer; silence gets a close.
                    assert_eq!(
                        answer.starts_with(b"HTTP/1.1 200 "),
                        i % 2 == 0,
                        "{backend}"
                    );
                });
            }
        });
        assert_recovered(&server, baseline, &format!("{backend}: half-closes"));
    }
}

/// A client that asks for a large file and stops reading must not hold the
/// server's writer forever: the write timeout frees it.
#[test]
fn a_reader_that_stops_reading_is_cut_off() {
    let _serial = serial();
    let site = TestSite::new();
    site.big_file("big.bin", 64 << 20);
    for backend in BACKENDS {
        let (server, baseline) = start(&site, backend, |_| {});
        let mut stalled = connect(server.local_addr(), Duration::from_secs(2));
        // A small receive buffer fills fast, so the server blocks soon.
        socket2::SockRef::from(&stalled)
            .set_recv_buffer_size(4096)
            .unwrap();
        stalled
            .write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut some = [0u8; 64 * 1024];
        stalled.read_exact(&mut some).unwrap();
        // Now stop reading, keep the socket open, and wait (bounded) until
        // the server has given up on it: only our own socket stays open.
        let deadline = Instant::now() + Duration::from_secs(10);
        while open_fds() > baseline + 1 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            open_fds() <= baseline + 1,
            "{backend}: the stalled response still holds the server"
        );
        // Reading the rest would drain megabytes through a 4 KiB window; the
        // server has let go, which is what this test is about. Reset and leave.
        socket2::SockRef::from(&stalled)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(stalled);
        assert_recovered(&server, baseline, &format!("{backend}: stalled reader"));
    }
}

/// Connections that begin a head and never finish it (slowloris), while a
/// normal client must still be served.
///
/// Neither backend gives a head that is still arriving a thread (hyper reads
/// heads asynchronously; raw gathers them in its poller), so slow clients
/// cost a socket each: the normal client is answered while every slow one is
/// still waiting, with more slow connections than raw has workers.
#[test]
fn slowloris_and_a_normal_client() {
    let _serial = serial();
    let site = TestSite::new();
    let slow_count = 200;
    for backend in BACKENDS {
        let (server, baseline) = start(&site, backend, |c| {
            c.threads = common::threads(64);
            // Long enough for the answer to come before any slow head is cut.
            c.limits.head_timeout = Duration::from_secs(5);
        });
        let addr = server.local_addr();
        let mut slow: Vec<TcpStream> = (0..slow_count)
            .map(|_| {
                let mut s = connect(addr, Duration::from_secs(10));
                s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                    .unwrap();
                s
            })
            .collect();
        let began = Instant::now();
        let mut normal = connect(addr, Duration::from_secs(10));
        normal
            .write_all(b"GET /HelloWorld.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut answer = Vec::new();
        normal
            .read_to_end(&mut answer)
            .expect("served before the client's 10 s timeout");
        assert!(
            answer.starts_with(b"HTTP/1.1 200 "),
            "{backend}: {}",
            answer.escape_ascii()
        );
        drop(normal);
        let waited = began.elapsed();
        eprintln!(
            "{backend}: normal client served after {waited:?} behind {slow_count} slow heads"
        );
        // Answered while the slow heads were all still being waited for: the
        // first one and the last one opened are both still open, unanswered.
        for s in [&slow[0], &slow[slow_count - 1]] {
            s.set_nonblocking(true).unwrap();
            let mut probe = [0u8; 1];
            let still_open = matches!((&*s).read(&mut probe), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock);
            assert!(
                still_open,
                "{backend}: the normal client was not served ahead of the slow ones"
            );
            s.set_nonblocking(false).unwrap();
        }
        // Every slow connection is ended by the server (raw: 408; hyper: a close).
        for s in &mut slow {
            let mut rest = Vec::new();
            s.read_to_end(&mut rest)
                .expect("the server ends every slow head");
        }
        drop(slow);
        assert_recovered(&server, baseline, &format!("{backend}: slowloris"));
    }
}

/// 2,000 connections opened at once, then a request on each: every one gets
/// an answer (raw may answer 503 beyond its workers and queue) or a clean close.
#[test]
fn a_burst_of_two_thousand_connections() {
    let _serial = serial();
    let site = TestSite::new();
    for backend in BACKENDS {
        // Default timeouts: opening 2,000 connections one after another takes
        // longer than this file's short idle timeout, which would (rightly)
        // close the first ones before their request is written.
        let (server, baseline) = start(&site, backend, |c| c.limits = twinserve::Limits::default());
        let addr = server.local_addr();
        let mut streams = Vec::with_capacity(2000);
        for _ in 0..2000 {
            streams.push(connect(addr, Duration::from_secs(5)));
        }
        for s in &mut streams {
            let _ = s.write_all(
                b"GET /HelloWorld.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            );
        }
        let (mut ok, mut busy, mut closed) = (0, 0, 0);
        for mut s in streams {
            let mut answer = Vec::new();
            match s.read_to_end(&mut answer) {
                Ok(_) if answer.starts_with(b"HTTP/1.1 200 ") => ok += 1,
                Ok(_) if answer.starts_with(b"HTTP/1.1 503 ") => busy += 1,
                Ok(_) => closed += 1,
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => closed += 1,
                Err(e) => panic!("{backend}: no answer and no close: {e}"),
            }
        }
        eprintln!("{backend}: 2000 connections: {ok} × 200, {busy} × 503, {closed} closed");
        assert_eq!(ok + busy + closed, 2000);
        assert!(ok >= 1000, "{backend}: only {ok} served");
        if backend == Backend::Hyper {
            assert_eq!(ok, 2000, "hyper has no queue to overflow");
        }
        assert_recovered(&server, baseline, &format!("{backend}: burst"));
    }
}

/// Random bytes, as a fuzzer on the wire: every connection ends (an answer or
/// a close), nothing panics, and the server goes on serving.
#[test]
fn random_bytes_end_cleanly() {
    let _serial = serial();
    let site = TestSite::new();
    for backend in BACKENDS {
        let (server, baseline) = start(&site, backend, |_| {});
        let addr = server.local_addr();
        std::thread::scope(|scope| {
            for t in 0..10u64 {
                scope.spawn(move || {
                    let mut state = 0x9e37_79b9_7f4a_7c15 ^ (t + 1);
                    let mut next = || {
                        // xorshift64*: reproducible bytes without a dependency.
                        state ^= state >> 12;
                        state ^= state << 25;
                        state ^= state >> 27;
                        state.wrapping_mul(0x2545_f491_4f6c_dd1d)
                    };
                    for i in 0..30 {
                        let len = 16 + (next() % 4096) as usize;
                        let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                        if i % 3 == 0 {
                            // Half of a plausible request first, to get past the first byte checks.
                            bytes.splice(0..0, b"GET /".iter().copied());
                        }
                        let mut stream = connect(addr, Duration::from_secs(3));
                        let _ = stream.write_all(&bytes);
                        let _ = stream.shutdown(Shutdown::Write);
                        let mut answer = Vec::new();
                        match stream.read_to_end(&mut answer) {
                            Ok(_) => {}
                            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
                            Err(e) => {
                                panic!("{backend}: the server neither answered nor closed: {e}")
                            }
                        }
                    }
                });
            }
        });
        assert_recovered(&server, baseline, &format!("{backend}: random bytes"));
    }
}

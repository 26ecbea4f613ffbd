//! SIGTERM to a running `twinserve serve` under load: new connections are
//! refused at once, the 100 MiB download in flight completes byte for byte,
//! no response is cut short, an idle keep-alive connection is closed at once,
//! and the process exits 0 — for both backends.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::TestSite;

#[test]
fn sigterm_finishes_the_download_in_flight_and_exits_0() {
    let site = TestSite::new();
    let big = site.big_file("big.bin", 100 << 20);
    let hello_len = site.file("HelloWorld.html").len();
    for backend in ["raw", "hyper"] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_twinserve"))
            .args(["serve", "--port", "0", "--backend", backend, "--root"])
            .arg(site.root())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        stderr.read_line(&mut line).unwrap();
        let addr: SocketAddr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));

        let mut download = TcpStream::connect(addr).unwrap();
        download
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        download
            .write_all(b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut received = vec![0u8; 64 * 1024];
        download.read_exact(&mut received).unwrap();

        // A load run of short requests, each on its own connection, until the
        // server refuses (bounded in count and time).
        let stop_at = Instant::now() + Duration::from_secs(20);
        let answered = Arc::new(AtomicUsize::new(0));
        let load: Vec<_> = (0..4)
            .map(|_| {
                let answered = Arc::clone(&answered);
                std::thread::spawn(move || {
                    let (mut complete, mut unanswered) = (0, 0);
                    for _ in 0..5000 {
                        if Instant::now() > stop_at {
                            break;
                        }
                        let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_secs(1)) else {
                            break; // refused: the server has stopped accepting
                        };
                        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                        let _ = s.write_all(b"GET /HelloWorld.html HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
                        let mut answer = Vec::new();
                        let _ = s.read_to_end(&mut answer);
                        if answer.is_empty() {
                            unanswered += 1; // accepted just as the server stopped: closed unanswered
                            continue;
                        }
                        let head_end = answer.windows(4).position(|w| w == b"\r\n\r\n").expect("a whole head") + 4;
                        assert!(answer.starts_with(b"HTTP/1.1 200 "), "{}", answer.escape_ascii());
                        assert_eq!(answer.len() - head_end, hello_len, "a response was cut short");
                        complete += 1;
                        answered.fetch_add(1, Ordering::Relaxed);
                    }
                    (complete, unanswered)
                })
            })
            .collect();
        // SIGTERM only once the load is really under way (bounded wait).
        let deadline = Instant::now() + Duration::from_secs(5);
        while answered.load(Ordering::Relaxed) < 20 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }

        // A keep-alive connection that has had its answer and sits idle, made
        // just before the stop, so that raw's idle timeout (5 s) is far off.
        let mut idle = TcpStream::connect(addr).unwrap();
        idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        idle.write_all(b"GET /HelloWorld.html HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let answer = common::read_one(&mut idle);
        assert_eq!(answer.status, 200, "{backend}");

        let killed = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        assert!(killed.unwrap().success());

        // New clients are refused while the download is still under way.
        let deadline = Instant::now() + Duration::from_secs(5);
        let refused = loop {
            match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => break true,
                _ if Instant::now() > deadline => break false,
                _ => std::thread::sleep(Duration::from_millis(10)),
            }
        };
        assert!(refused, "{backend}: still accepting after SIGTERM");

        // The idle connection is closed at once: not at the end of the grace,
        // nor at the idle timeout (5 s) that began when it had its answer.
        idle.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        assert_eq!(
            idle.read(&mut [0u8; 1]).map_err(|e| e.kind()),
            Ok(0),
            "{backend}: the idle connection was not closed"
        );

        download.read_to_end(&mut received).unwrap();
        let body_start = received.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        assert_eq!(received.len() - body_start, big.len(), "{backend}");
        assert!(received[body_start..] == big[..], "{backend}: body differs");

        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(status.and_then(|s| s.code()), Some(0), "{backend}");
        let (mut complete, mut unanswered) = (0, 0);
        for thread in load {
            let (c, u) = thread.join().expect("no truncated response");
            complete += c;
            unanswered += u;
        }
        eprintln!(
            "{backend}: {complete} complete responses during the load, {unanswered} closed unanswered at shutdown"
        );
        assert!(complete > 0, "{backend}: the load run got no answers");
    }
}

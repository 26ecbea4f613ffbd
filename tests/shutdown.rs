//! SIGTERM to a running `twinserve serve`: new connections are refused at
//! once, the download in flight completes byte for byte, and the process
//! exits 0 — for both backends.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::TestSite;

#[test]
fn sigterm_finishes_the_download_in_flight_and_exits_0() {
    let site = TestSite::new();
    let big = site.big_file("big.bin", 32 << 20);
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
    }
}

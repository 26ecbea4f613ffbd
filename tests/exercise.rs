//! The original exercise's three parts, in twinserve's terms: the
//! single-request server that refuses the next client (A), many clients served
//! at once (B), and the threaded client's ten requests (C) — through the
//! library and through the real binary.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{BACKENDS, TIMEOUT, TestSite, request};
use twinserve::client::{self, ClientConfig, FailureKind};

const BIN: &str = env!("CARGO_BIN_EXE_twinserve");

/// Part A: `--once` serves one connection, then the listener is closed and
/// the next client is refused by the kernel.
#[test]
fn once_serves_one_client_then_refuses() {
    let site = TestSite::new();
    for backend in BACKENDS {
        let server = site.start_with(backend, |c| c.once = true);
        let addr = server.local_addr();
        let first = request(addr, "GET", "/HelloWorld.html", "");
        assert_eq!(first.status, 200, "{backend}");
        server.wait().unwrap();
        let second = std::net::TcpStream::connect_timeout(&addr, TIMEOUT);
        assert_eq!(
            second.unwrap_err().kind(),
            std::io::ErrorKind::ConnectionRefused,
            "{backend}"
        );
    }
}

/// Waits for a `--once` server to stop by itself, at most `limit`: the test
/// fails, rather than hangs, if it does not.
fn stops_within(server: twinserve::ServerHandle, limit: Duration) {
    let (done, waited) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(server.wait());
    });
    let result = waited.recv_timeout(limit).expect("the --once server stops");
    result.unwrap();
}

fn refused(addr: std::net::SocketAddr) -> bool {
    std::net::TcpStream::connect_timeout(&addr, TIMEOUT)
        .is_err_and(|e| e.kind() == std::io::ErrorKind::ConnectionRefused)
}

/// `--once` counts a request, not a connection: connections that close having
/// sent nothing, or only empty lines, are not the one; the next real request
/// is served, and only then is the listener closed.
#[test]
fn once_is_not_spent_on_a_connection_without_a_request() {
    use std::io::Write;
    let site = TestSite::new();
    for backend in BACKENDS {
        let server = site.start_with(backend, |c| c.once = true);
        let addr = server.local_addr();
        // Nothing at all, then only empty lines: each read to its close.
        drop(common::connect(addr));
        let out = common::send_raw(addr, b"");
        assert!(out.is_empty(), "{backend}: {}", out.escape_ascii());
        let mut blank = common::connect(addr);
        blank.write_all(b"\r\n\r\n\n").unwrap();
        drop(blank);
        let out = common::send_raw(addr, b"\r\n");
        assert!(out.is_empty(), "{backend}: {}", out.escape_ascii());
        assert!(!refused(addr), "{backend}: closed before its request");
        let first = request(addr, "GET", "/HelloWorld.html", "");
        assert_eq!(first.status, 200, "{backend}");
        assert_eq!(first.body, site.file("HelloWorld.html"), "{backend}");
        stops_within(server, Duration::from_secs(5));
        assert!(refused(addr), "{backend}: still listening");
    }
}

/// An idle connection held open beside the real one neither takes `--once`'s
/// request nor keeps the server running: the real request is served, the
/// listener closes, the idle connection is closed, and a request sent on it
/// afterwards gets no answer.
#[test]
fn once_is_not_held_by_an_idle_connection() {
    use std::io::{Read, Write};
    let site = TestSite::new();
    for backend in BACKENDS {
        let server = site.start_with(backend, |c| c.once = true);
        let addr = server.local_addr();
        let mut idle = common::connect(addr);
        let mut early = common::connect(addr);
        let first = request(addr, "GET", "/HelloWorld.html", "");
        assert_eq!(first.status, 200, "{backend}");
        stops_within(server, Duration::from_secs(5));
        assert!(refused(addr), "{backend}: still listening");
        // The idle one was closed by the server: end of file, or a reset.
        let mut rest = Vec::new();
        let closed = match idle.read_to_end(&mut rest) {
            Ok(n) => n == 0,
            // A read timeout means it is still open.
            Err(e) => !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        };
        assert!(closed, "{backend}: the idle connection is still open");
        // A request on a connection accepted before the one: never answered.
        let _ = early.write_all(b"GET /HelloWorld.html HTTP/1.1\r\nHost: x\r\n\r\n");
        let mut answer = Vec::new();
        let _ = early.read_to_end(&mut answer);
        assert!(answer.is_empty(), "{backend}: {}", answer.escape_ascii());
    }
}

/// Part A through the binary: `serve --once --print-requests` prints the
/// request, answers it, exits 0, and the client then reports "refused".
#[test]
fn binary_once_walkthrough() {
    let site = TestSite::new();
    let mut child = serve_binary(&site, &["--once", "--print-requests"]);
    let port = read_port(&mut child);
    let first = run_client(&["127.0.0.1", &port, "HelloWorld.html", "--threads", "1"]);
    assert!(first.status.success(), "{first:?}");
    let stdout = String::from_utf8_lossy(&first.stdout);
    assert!(
        stdout.contains("Response from server:\nHTTP/1.1 200 OK\n"),
        "{stdout}"
    );
    let status = wait_with_timeout(&mut child, Duration::from_secs(5)).expect("server exits");
    assert!(status.success());
    let mut printed = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut printed).unwrap();
    assert!(
        printed.starts_with("GET /HelloWorld.html HTTP/1.1\n"),
        "{printed}"
    );

    let second = run_client(&["127.0.0.1", &port, "HelloWorld.html", "--threads", "2"]);
    assert_eq!(second.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&second.stdout);
    assert!(stdout.contains("2 failures (refused 2)"), "{stdout}");
}

/// `--print-requests` without `--once` prints every request, the repeated
/// ones for a file already kept in memory included, on both backends.
#[test]
fn every_request_is_printed_however_it_is_answered() {
    let site = TestSite::new();
    for backend in ["raw", "hyper"] {
        let mut child = serve_binary(&site, &["--print-requests", "--backend", backend]);
        let port = read_port(&mut child);
        let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        for _ in 0..3 {
            assert_eq!(request(addr, "GET", "/HelloWorld.html", "").status, 200);
        }
        // Each head is printed before its answer is written.
        let _ = child.kill();
        let _ = wait_with_timeout(&mut child, Duration::from_secs(5));
        let mut printed = String::new();
        std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut printed).unwrap();
        assert_eq!(
            printed.matches("GET /HelloWorld.html HTTP/1.1\n").count(),
            3,
            "{backend}: {printed}"
        );
    }
}

/// Part B: many clients at once, each answered in full.
#[test]
fn many_clients_at_once() {
    let site = TestSite::new();
    let big = site.big_file("big.bin", 256 * 1024);
    for backend in BACKENDS {
        let server = site.start(backend);
        let addr = server.local_addr();
        std::thread::scope(|scope| {
            let handles: Vec<_> = (0..50)
                .map(|_| scope.spawn(|| request(addr, "GET", "/big.bin", "")))
                .collect();
            for handle in handles {
                let response = handle.join().unwrap();
                assert_eq!(response.status, 200, "{backend}");
                assert_eq!(response.body, big, "{backend}");
            }
        });
    }
}

/// Part C: the client's seed-style run — ten threads, one request each — gets
/// ten 200s from each backend, with or without `Connection: close`.
#[test]
fn client_seed_run_gets_ten_200s() {
    let site = TestSite::new();
    for backend in BACKENDS {
        let server = site.start(backend);
        let seen = std::sync::Mutex::new(Vec::new());
        let config = ClientConfig::new(server.local_addr(), "HelloWorld.html");
        let report = client::run(&config, &|attempt| {
            let line = attempt.result.as_ref().map(|r| r.status_line.clone());
            seen.lock().unwrap().push(line.unwrap_or_default());
        })
        .unwrap();
        assert_eq!(report.attempts, 10, "{backend}");
        assert_eq!(report.statuses.get(&200), Some(&10), "{backend}");
        assert!(report.all_answered());
        let expected_len = site.file("HelloWorld.html").len() as u64;
        assert_eq!(report.body_bytes, 10 * expected_len);
        assert_eq!(seen.into_inner().unwrap(), vec!["HTTP/1.1 200 OK"; 10]);

        let config = ClientConfig {
            threads: 4,
            keep_alive: true,
            ..ClientConfig::new(server.local_addr(), "/")
        };
        let report = client::run(&config, &|_| {}).unwrap();
        assert_eq!(report.statuses.get(&200), Some(&4), "{backend}");
    }
}

#[test]
fn client_reports_refused_connections() {
    // A port that was just free: bind, note it, close.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let config = ClientConfig {
        threads: 3,
        ..ClientConfig::new(addr, "/")
    };
    let report = client::run(&config, &|_| {}).unwrap();
    assert_eq!(report.failures.get(&FailureKind::Refused), Some(&3));
    assert!(!report.all_answered());
}

/// `client --backend raw|hyper FILE` starts that backend in-process.
#[test]
fn binary_client_with_in_process_backend() {
    let site = TestSite::new();
    for backend in ["raw", "hyper"] {
        let root = site.root();
        let out = run_client(&[
            "--backend",
            backend,
            "--root",
            root.to_str().unwrap(),
            "HelloWorld.html",
        ]);
        assert!(out.status.success(), "{backend}: {out:?}");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            stdout
                .matches("Response from server:\nHTTP/1.1 200 OK\n")
                .count(),
            10,
            "{stdout}"
        );
        assert!(stdout.contains("10 requests in"), "{stdout}");
        assert!(
            stdout.contains("10 responses (200 ×10), 0 failures"),
            "{stdout}"
        );
    }
}

/// Usage errors exit 2 with clap's message; runtime errors exit 1 with one line.
#[test]
fn bad_input_gets_one_line_and_the_right_exit_code() {
    let site = TestSite::new();
    let usage = Command::new(BIN)
        .args(["serve", "--port", "x"])
        .output()
        .unwrap();
    assert_eq!(usage.status.code(), Some(2));
    let usage = Command::new(BIN)
        .args(["client", "--backend", "raw", "a", "b"])
        .output()
        .unwrap();
    assert_eq!(usage.status.code(), Some(2));
    let usage = Command::new(BIN)
        .args(["client", "localhost", "http", "/"])
        .output()
        .unwrap();
    assert_eq!(usage.status.code(), Some(2));

    let missing = Command::new(BIN)
        .args(["serve", "--port", "0", "--root", "/no/such/folder"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    // The folder was named: no advice to name one.
    assert!(
        stderr.contains("/no/such/folder") && !stderr.contains("--root"),
        "{stderr}"
    );

    let file_root = site.root().join("HelloWorld.html");
    let not_dir = Command::new(BIN)
        .args([
            "serve",
            "--port",
            "0",
            "--root",
            file_root.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(not_dir.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&not_dir.stderr).contains("is not a directory"));

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let root = site.root();
    let in_use = Command::new(BIN)
        .args(["serve", "--port", &port, "--root", root.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(in_use.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&in_use.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("another server is using it"), "{stderr}");

    // .invalid never resolves (RFC 6761): name resolution is tested without
    // connecting anywhere beyond this machine.
    let unknown = run_client(&["no-such-host.invalid", "80", "/"]);
    assert_eq!(unknown.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("cannot resolve no-such-host.invalid"),
        "{stderr}"
    );
}

// --- helpers for driving the binary ---

pub fn serve_binary(site: &TestSite, extra: &[&str]) -> Child {
    Command::new(BIN)
        .args(["serve", "--port", "0", "--root"])
        .arg(site.root())
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The port from the "serving ... on http://127.0.0.1:PORT/" line on stderr.
pub fn read_port(child: &mut Child) -> String {
    let stderr = child.stderr.take().unwrap();
    let mut line = String::new();
    BufReader::new(stderr).read_line(&mut line).unwrap();
    let after = line
        .split("http://127.0.0.1:")
        .nth(1)
        .unwrap_or_else(|| panic!("{line}"));
    after.split('/').next().unwrap().to_string()
}

fn run_client(args: &[&str]) -> std::process::Output {
    Command::new(BIN).arg("client").args(args).output().unwrap()
}

pub fn wait_with_timeout(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}

/// A root the server may not read, and a flag value that cannot be a header:
/// each a one-line message and exit code 1. (As root, permissions do not
/// apply, so the server is run as `nobody` through setpriv.)
#[test]
fn unreadable_root_and_invalid_values() {
    use std::os::unix::fs::PermissionsExt;
    let site = TestSite::new();
    std::fs::set_permissions(site.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let locked = site.dir.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    let is_root = std::fs::metadata("/proc/self")
        .map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0)
        .unwrap_or(false);
    let mut command = if is_root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN]);
        c
    } else {
        Command::new(BIN)
    };
    let out = command
        .args(["serve", "--port", "0", "--root"])
        .arg(&locked)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("document root") && stderr.contains("Permission denied"),
        "{stderr}"
    );

    let root = site.root();
    let bad = Command::new(BIN)
        .args([
            "serve",
            "--port",
            "0",
            "--cache-control",
            "max-age=1\u{7f}",
            "--root",
        ])
        .arg(&root)
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1), "{bad:?}");
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("--cache-control"), "{stderr}");
}

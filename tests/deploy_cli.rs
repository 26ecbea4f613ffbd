//! `twinserve serve` as a new user meets it, run as a process: a folder named
//! the way other static servers take it, the advice when there is none, host
//! names, flags from the environment, `-v`'s line per request on both
//! backends, and exit 1 when shutdown had to cut a response.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{TestSite, request};

const BIN: &str = env!("CARGO_BIN_EXE_twinserve");
const WAIT: Duration = Duration::from_secs(10);

/// A running `twinserve`, its stderr lines arriving on a channel; killed
/// when dropped.
struct Server {
    child: Child,
    lines: mpsc::Receiver<String>,
    addr: SocketAddr,
}

impl Server {
    fn start(args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut command = Command::new(BIN);
        command
            .args(args)
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().unwrap();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Server {
            child,
            lines,
            addr: SocketAddr::from(([0, 0, 0, 0], 0)),
        };
        let line = server.wait_for("http://");
        server.addr = line
            .split("http://")
            .nth(1)
            .and_then(|rest| rest.split('/').next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        server
    }

    /// The first stderr line from now on that contains `text`.
    fn wait_for(&self, text: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if line.contains(text) => return line,
                Ok(_) => {}
                Err(e) => panic!("no line with {text:?} on stderr: {e}"),
            }
        }
    }

    /// SIGTERM, then the exit code (bounded wait).
    fn terminate(mut self) -> Option<i32> {
        let pid = libc::pid_t::try_from(self.child.id()).unwrap();
        // SAFETY: kill has no memory effects; the pid is our own child's.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status.code();
            }
            assert!(Instant::now() < deadline, "still running after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_folder_is_named_like_other_servers_take_it() {
    let site = TestSite::new();
    let root = site.root();
    let server = Server::start(&["serve", "--port", "0", root.to_str().unwrap()], &[]);
    let page = request(server.addr, "GET", "/HelloWorld.html", "");
    assert_eq!(page.body, site.file("HelloWorld.html"));
    // Both ways at once is a usage error.
    let both = Command::new(BIN)
        .args(["serve", "x", "--root", "y"])
        .output()
        .unwrap();
    assert_eq!(both.status.code(), Some(2));
}

#[test]
fn without_a_site_folder_the_advice_is_to_name_one() {
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--port", "0"])
        .current_dir(empty.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("twinserve serve DIR"), "{stderr}");
    assert!(!stderr.contains("--root"), "{stderr}");
}

#[test]
fn a_log_filter_that_does_not_parse_is_said_so() {
    let empty = tempfile::tempdir().unwrap();
    let stderr_with = |filter: &str| {
        let out = Command::new(BIN)
            .args(["serve", "--port", "0"])
            .env("RUST_LOG", filter)
            .env("NO_COLOR", "1")
            .current_dir(empty.path())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "{filter}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let refused = stderr_with("info,twinserve=loudly");
    assert!(refused.contains("WARN"), "{refused}");
    assert!(refused.contains("RUST_LOG ignored"), "{refused}");
    // The flags' level applies instead: the error itself still shows.
    assert!(refused.contains("twinserve serve DIR"), "{refused}");
    let taken = stderr_with("error");
    assert_eq!(taken.lines().count(), 1, "{taken}");
    assert!(!taken.contains("RUST_LOG"), "{taken}");
    // One that names nothing is as if unset: the error still shows.
    for nothing in ["", ",", " , "] {
        let unset = stderr_with(nothing);
        assert_eq!(unset.lines().count(), 1, "{nothing:?}: {unset}");
        assert!(
            unset.contains("twinserve serve DIR"),
            "{nothing:?}: {unset}"
        );
    }
}

#[test]
fn host_names_and_ipv6_literals() {
    let site = TestSite::new();
    let root = site.root();
    let server = Server::start(
        &[
            "serve",
            "--port",
            "0",
            "--host",
            "localhost",
            root.to_str().unwrap(),
        ],
        &[],
    );
    assert!(server.addr.ip().is_loopback());
    assert_eq!(request(server.addr, "GET", "/", "").status, 200);
    drop(server);
    if std::net::TcpListener::bind("[::1]:0").is_ok() {
        let server = Server::start(
            &[
                "serve",
                "--port",
                "0",
                "--host",
                "::1",
                root.to_str().unwrap(),
            ],
            &[],
        );
        assert_eq!(server.addr.ip(), std::net::Ipv6Addr::LOCALHOST);
        assert_eq!(request(server.addr, "GET", "/", "").status, 200);
    } else {
        println!("skipped --host ::1: no IPv6 loopback here");
    }
    let unknown = Command::new(BIN)
        .args(["serve", "--port", "0", "--host", "no-such-host.invalid"])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(2));
}

#[test]
fn bad_headers_and_origins_are_usage_errors() {
    for args in [
        &["--header", "Bad Name: x"][..],
        &["--header", "X-Ok: bad\u{1}value"],
        &["--header", "no colon"],
        &["--header", "Content-Length: 5"],
        // With a root that is not there: accepted, they would exit 1, not serve.
        &["--header", "X-Empty:", "--root", "/no/such/root"],
        &["--header", "Cache-Control: \t ", "--root", "/no/such/root"],
        &["--header", "", "--root", "/no/such/root"],
        &["--cors", "app.example"],
        &["--trust-proxy", "10.0.0.0/40"],
        &["--fallback-all"],
    ] {
        let out = Command::new(BIN).arg("serve").args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with("error:"), "{args:?}: {stderr}");
    }
    // An empty value names the field, and for Cache-Control the flag that
    // does send none.
    let out = Command::new(BIN)
        .args([
            "serve",
            "--header",
            "Cache-Control:",
            "--root",
            "/no/such/root",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(": cache-control has no value; --cache-control ''"),
        "{stderr}"
    );
}

#[test]
fn every_flag_can_come_from_the_environment_and_flags_win() {
    let site = TestSite::new();
    std::fs::create_dir(site.root().join("empty")).unwrap();
    let root = site.root();
    let server = Server::start(
        &["serve", "--port", "0"],
        &[
            ("TWINSERVE_ROOT", root.to_str().unwrap()),
            ("TWINSERVE_LIST_DIRS", "true"),
            // As a YAML `|` block writes it: a blank line inside, a newline at the end.
            ("TWINSERVE_HEADER", "X-One: 1\n\nX-Two: 2\n"),
            ("TWINSERVE_BACKEND", "hyper"),
            // The flag wins over this.
            ("TWINSERVE_PORT", "not a port"),
        ],
    );
    let listing = request(server.addr, "GET", "/empty/", "");
    assert_eq!(listing.status, 200);
    assert_eq!(listing.header("x-one"), Some("1"));
    assert_eq!(listing.header("x-two"), Some("2"));
    let help = Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    for name in ["TWINSERVE_ROOT", "TWINSERVE_ACCESS_LOG", "TWINSERVE_CORS"] {
        assert!(help.contains(&format!("[env: {name}")), "{name} in {help}");
    }
}

#[test]
fn verbose_logs_one_line_per_request_on_both_backends() {
    let site = TestSite::new();
    let root = site.root();
    let mut seen = Vec::new();
    for backend in ["raw", "hyper"] {
        let server = Server::start(
            &[
                "-v",
                "serve",
                "--port",
                "0",
                "--backend",
                backend,
                root.to_str().unwrap(),
            ],
            &[("NO_COLOR", "1")],
        );
        request(
            server.addr,
            "GET",
            "/HelloWorld.html",
            "User-Agent: t/1\r\n",
        );
        let line = server.wait_for("\"GET /HelloWorld.html HTTP/1.1\" 200");
        // From the address on: the time and the duration differ.
        let from = line.find("127.0.0.1").unwrap();
        let fields: Vec<&str> = line[from..].split(' ').collect();
        seen.push(
            fields
                .iter()
                .filter(|f| !f.ends_with("ms"))
                .copied()
                .collect::<Vec<_>>()
                .join(" "),
        );
    }
    assert_eq!(seen[0], seen[1]);
    assert!(seen[0].contains("user_agent=\"t/1\""), "{}", seen[0]);
}

#[test]
fn a_folder_without_index_says_why_it_is_404() {
    let site = TestSite::new();
    std::fs::create_dir(site.root().join("docs")).unwrap();
    let root = site.root();
    for backend in ["raw", "hyper"] {
        let server = Server::start(
            &[
                "serve",
                "--port",
                "0",
                "--backend",
                backend,
                root.to_str().unwrap(),
            ],
            &[],
        );
        assert_eq!(request(server.addr, "GET", "/docs/", "").status, 404);
        let line = server.wait_for("no index.html");
        assert!(
            line.contains("/docs/") && line.contains("--list-dirs"),
            "{line}"
        );
    }
}

/// A download the client stops reading outlives `--shutdown-grace`: the
/// server cuts it and exits 1. The raw backend reports its cut through
/// the same counter once its shutdown calls `server::note_cut`.
#[test]
fn a_response_cut_at_the_end_of_the_grace_exits_1() {
    let site = TestSite::new();
    site.big_file("big.bin", 64 << 20);
    let root = site.root();
    for (backend, grace, expected) in [
        ("hyper", "0.3", Some(1)),
        ("hyper", "10", Some(0)),
        ("raw", "0.3", Some(1)),
        ("raw", "10", Some(0)),
    ] {
        let server = Server::start(
            &[
                "serve",
                "--port",
                "0",
                "--backend",
                backend,
                "--shutdown-grace",
                grace,
                root.to_str().unwrap(),
            ],
            &[],
        );
        let mut download = TcpStream::connect(server.addr).unwrap();
        download.set_read_timeout(Some(WAIT)).unwrap();
        download
            .write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .unwrap();
        let mut first = [0u8; 1024];
        download.read_exact(&mut first).unwrap();
        if expected == Some(0) {
            // Read it all: nothing to cut.
            let reader = std::thread::spawn(move || {
                let mut rest = Vec::new();
                let _ = download.read_to_end(&mut rest);
                rest.len()
            });
            let code = server.terminate();
            assert!(reader.join().unwrap() > 60 << 20);
            assert_eq!(code, expected, "{backend} grace {grace}");
        } else {
            // Stop reading: the socket buffers fill and the response stalls.
            let code = server.terminate();
            assert_eq!(code, expected, "{backend} grace {grace}");
            drop(download);
        }
    }
}

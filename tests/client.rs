//! The client as its user meets it, through the binary and the library, over
//! real sockets on loopback: targets written as a URL, `[::1]` or a name with
//! several addresses, flags with units, and the words of its errors.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::{Command, Output};
use std::time::Duration;

use common::TestSite;
use common::loopback::LoopbackServer;
use twinserve::Backend;

const BIN: &str = env!("CARGO_BIN_EXE_twinserve");

fn client(args: &[&str]) -> Output {
    Command::new(BIN).arg("client").args(args).output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A port nobody listens on: bound, noted, closed.
fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
}

#[test]
fn a_url_works_as_well_as_host_port_file() {
    let site = TestSite::new();
    let server = site.start(Backend::Raw);
    let url = format!("http://{}/HelloWorld.html", server.local_addr());
    let out = client(&[&url]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        stdout(&out)
            .matches("Response from server:\nHTTP/1.1 200 OK\n")
            .count(),
        10,
        "{}",
        stdout(&out)
    );
}

#[test]
fn ipv6_in_brackets_as_serve_prints_it() {
    let site = TestSite::new();
    let Ok(server) = twinserve::spawn(Backend::Raw, {
        let mut config = twinserve::Config::new(site.root());
        config.addr = "[::1]:0".parse().unwrap();
        config
    }) else {
        eprintln!("skipped: no IPv6 loopback on this machine");
        return;
    };
    let port = server.local_addr().port().to_string();
    let out = client(&["[::1]", &port, "HelloWorld.html", "-t", "2"]);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout(&out).contains("2 responses (200 ×2)"), "{out:?}");
    let url = format!("http://[::1]:{port}/HelloWorld.html");
    assert!(client(&[&url, "-t", "1"]).status.success());
}

/// A name with several addresses is tried address by address: one that
/// refuses does not stop the client reaching the next.
#[test]
fn every_address_of_a_name_is_tried() {
    let refused = free_port();
    let listening = TcpListener::bind("127.0.0.1:0").unwrap();
    let good = listening.local_addr().unwrap();
    let chosen =
        twinserve::client::connect_any("both", &[refused, good], Duration::from_secs(1)).unwrap();
    assert_eq!(chosen, good);
    let err = twinserve::client::connect_any("nobody:1", &[refused], Duration::from_secs(1))
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!("cannot connect to nobody:1: {refused}: connection refused")
    );
}

#[test]
fn duration_alone_runs_that_long_and_prints_only_the_summary() {
    let site = TestSite::new();
    let server = site.start(Backend::Raw);
    let port = server.local_addr().port().to_string();
    let out = client(&[
        "127.0.0.1",
        &port,
        "HelloWorld.html",
        "-d",
        "300ms",
        "-t",
        "2",
        "--keep-alive",
    ]);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    assert!(!text.contains("Response from server"), "{text}");
    let summary = text.lines().nth(1).unwrap_or_default();
    let requests: u64 = summary.split(' ').next().unwrap().parse().unwrap();
    // More than one round over the 50 default connections: the run went on.
    assert!(requests > 100, "a 300 ms run sent only {requests}: {text}");
}

#[test]
fn usage_errors_show_the_clients_usage() {
    let out = client(&["localhost", "http", "/"]);
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("PORT must be a number"), "{err}");
    assert!(err.contains("twinserve client"), "{err}");
    let out = client(&["https://127.0.0.1/"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("https:// is not supported"));
    let out = client(&["127.0.0.1", "1", "/", "-d", "2 parsecs"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_timeout_says_how_long_it_waited() {
    // Accepts, reads the request, and never answers.
    let server = LoopbackServer::per_connection(|mut stream| {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let mut buf = [0; 1024];
        let _ = stream.read(&mut buf);
        let _ = stream.read(&mut buf);
        let _ = stream.write_all(b"");
    });
    let port = server.addr.port().to_string();
    let out = client(&["127.0.0.1", &port, "/", "-t", "1", "--timeout", "200ms"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = stdout(&out);
    assert!(text.contains("timed out after 200 ms"), "{text}");
    assert!(!text.contains("os error"), "{text}");
}

#[test]
fn an_unresolvable_name_is_one_line() {
    let out = client(&["http://no-such-host.invalid:8080/"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("cannot resolve no-such-host.invalid: "),
        "{err}"
    );
}

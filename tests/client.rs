//! The client as its user meets it, through the binary and the library, over
//! real sockets on loopback: targets written as a URL, `[::1]` or a name with
//! several addresses, flags with units, and the words of its errors.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
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

/// A port that refuses connections: bound (port 0) but not listening, and
/// held while the socket lives, so no parallel test can take it.
fn refusing_port() -> (socket2::Socket, SocketAddr) {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
        .unwrap();
    let addr = socket.local_addr().unwrap().as_socket().unwrap();
    (socket, addr)
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
    let (_held, refused) = refusing_port();
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
    let out = client(&["127.0.0.1", "1", "/", "--rate", "1e9"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("at most 1e8"), "{out:?}");
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

// --- the load engine, against loopback servers that answer on purpose ---

use std::sync::atomic::{AtomicU64, Ordering};
use twinserve::client::load::{self, LoadConfig, Progress};
use twinserve::client::{ClientConfig, FailureKind, Report};

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

fn load_config(addr: SocketAddr) -> LoadConfig {
    let request = twinserve::client::request_bytes(&ClientConfig {
        keep_alive: true,
        ..ClientConfig::new(addr, "/")
    });
    LoadConfig {
        addr,
        request,
        connections: 4,
        threads: 2,
        pipeline: 1,
        requests: Some(100),
        duration: None,
        warmup: Duration::ZERO,
        rate: None,
        timeout: Duration::from_secs(5),
        keep_alive: true,
    }
}

/// [`load_config`] with a new connection per request, as `--no-keepalive`.
fn fresh_config(addr: SocketAddr) -> LoadConfig {
    LoadConfig {
        request: twinserve::client::request_bytes(&ClientConfig::new(addr, "/")),
        keep_alive: false,
        ..load_config(addr)
    }
}

fn run(config: &LoadConfig) -> Report {
    load::run(config, &Progress::default(), None).expect("the load runs")
}

/// Reads requests (heads without bodies) off a kept-alive connection and
/// calls `answer` with how many have arrived so far; ends at EOF or after
/// 2 s of silence, so the server's drop can join it.
fn each_request(mut stream: TcpStream, mut answer: impl FnMut(&mut TcpStream, u64) -> bool) {
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0; 4096];
    let mut seen = 0;
    loop {
        let n = match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            buf.drain(..end + 4);
            seen += 1;
            if !answer(&mut stream, seen) {
                return;
            }
        }
    }
}

static COUNTED: AtomicU64 = AtomicU64::new(0);

#[test]
fn requests_is_exact_over_connections_threads_and_pipelines() {
    let server = LoopbackServer::per_connection(|stream| {
        each_request(stream, |s, _| {
            COUNTED.fetch_add(1, Ordering::SeqCst);
            s.write_all(OK).is_ok()
        })
    });
    for (connections, threads, pipeline) in [(1, 1, 1), (7, 3, 4), (5, 2, 16)] {
        COUNTED.store(0, Ordering::SeqCst);
        let config = LoadConfig {
            connections,
            threads,
            pipeline,
            requests: Some(1003),
            ..load_config(server.addr)
        };
        let report = run(&config);
        let case = format!("{connections} connections, {threads} threads, pipeline {pipeline}");
        assert_eq!(report.attempts, 1003, "{case}");
        assert_eq!(report.responses, 1003, "{case}");
        assert_eq!(report.statuses.get(&200), Some(&1003), "{case}");
        assert_eq!(report.body_bytes, 2 * 1003, "{case}");
        assert_eq!(report.latency.len(), 1003, "{case}");
        assert_eq!(report.timeline().iter().sum::<u64>(), 1003, "{case}");
        assert_eq!(COUNTED.load(Ordering::SeqCst), 1003, "{case}");
    }
}

/// A server that answers only once four requests are waiting: the run ends
/// only if the client really keeps four in flight on its one connection.
#[test]
fn pipelining_keeps_requests_in_flight() {
    let server = LoopbackServer::per_connection(|stream| {
        each_request(stream, |s, seen| {
            if seen % 4 != 0 {
                return true;
            }
            s.write_all(&OK.repeat(4)).is_ok()
        })
    });
    let config = LoadConfig {
        connections: 1,
        threads: 1,
        pipeline: 4,
        requests: Some(40),
        timeout: Duration::from_secs(3),
        ..load_config(server.addr)
    };
    let report = run(&config);
    assert_eq!(report.responses, 40, "{report:?}");
    assert!(report.failures.is_empty(), "{:?}", report.failures);
}

#[test]
fn failures_are_counted_by_kind() {
    // Nobody listening: every attempt refused, and a counted run still ends.
    let (_held, refused) = refusing_port();
    let report = run(&LoadConfig {
        requests: Some(5),
        connections: 2,
        ..load_config(refused)
    });
    assert_eq!(report.failures.get(&FailureKind::Refused), Some(&5));
    assert_eq!((report.attempts, report.responses), (5, 0));

    // Not HTTP at all.
    let garbage = LoopbackServer::per_connection(|stream| {
        each_request(stream, |s, _| {
            let _ = s.write_all(b"SSH-2.0-OpenSSH\r\n\r\n");
            false
        })
    });
    let report = run(&LoadConfig {
        requests: Some(6),
        ..load_config(garbage.addr)
    });
    assert_eq!(report.failures.get(&FailureKind::BadResponse), Some(&6));

    // Closed after the head, before the body it promised.
    let short = LoopbackServer::per_connection(|stream| {
        each_request(stream, |s, _| {
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab");
            false
        })
    });
    let report = run(&LoadConfig {
        requests: Some(6),
        ..load_config(short.addr)
    });
    assert_eq!(report.failures.get(&FailureKind::Closed), Some(&6));

    // Never answers: each request times out.
    let silent = LoopbackServer::per_connection(|stream| each_request(stream, |_, _| true));
    let report = run(&LoadConfig {
        requests: Some(2),
        connections: 2,
        timeout: Duration::from_millis(200),
        ..load_config(silent.addr)
    });
    assert_eq!(report.failures.get(&FailureKind::TimedOut), Some(&2));
}

static STALLED: AtomicU64 = AtomicU64::new(0);

/// Open loop against a server that stalls one response for 300 ms: the
/// requests due while it stalls wait behind it, which only the latency
/// measured from their due time shows. Half of them fell due over 100 ms
/// before they could be sent (the stall's own length bounds that, not any
/// speed); from their send they took a tenth of that at most.
#[test]
fn open_loop_latency_is_corrected_for_a_stall() {
    let server = LoopbackServer::per_connection(|stream| {
        each_request(stream, |s, _| {
            if STALLED.fetch_add(1, Ordering::SeqCst) == 10 {
                std::thread::sleep(Duration::from_millis(300));
            }
            s.write_all(OK).is_ok()
        })
    });
    let config = LoadConfig {
        connections: 1,
        threads: 1,
        rate: Some(200.0),
        requests: Some(60),
        ..load_config(server.addr)
    };
    let report = run(&config);
    assert_eq!(report.responses, 60, "{:?}", report.failures);
    let corrected = report.corrected.as_ref().expect("open loop corrects");
    assert_eq!(corrected.len(), report.latency.len());
    let (from_due, from_sent) = (
        corrected.value_at_quantile(0.5),
        report.latency.value_at_quantile(0.5),
    );
    assert!(from_due >= 100_000, "corrected p50 {from_due} us");
    assert!(
        from_due >= 10 * from_sent,
        "corrected p50 {from_due} us, from the send {from_sent} us"
    );
    let schedule = report.schedule.expect("open loop keeps a schedule");
    assert_eq!(schedule.scheduled, 60);
    assert_eq!(schedule.backlog_at_end, 0);
}

#[test]
fn fail_if_sets_the_exit_code_and_json_has_its_shape() {
    let site = TestSite::new();
    let server = site.start(Backend::Raw);
    let url = format!("http://{}/HelloWorld.html", server.local_addr());
    let held = client(&[&url, "-n", "200", "-c", "4", "--fail-if", "errors>0"]);
    assert_eq!(held.status.code(), Some(0), "{held:?}");
    assert!(
        stdout(&held).contains("--fail-if errors>0: 0, held"),
        "{held:?}"
    );
    let crossed = client(&[
        &url,
        "-n",
        "50",
        "--fail-if",
        "errors>0",
        "--fail-if",
        "p50>=0ms",
    ]);
    assert_eq!(crossed.status.code(), Some(1), "{crossed:?}");
    assert!(
        stderr(&crossed).contains("--fail-if p50>=0ms"),
        "{crossed:?}"
    );

    let out = client(&[&url, "-n", "300", "-c", "3", "-t", "2", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(json["schema"], 1);
    assert_eq!(json["mode"], "closed");
    assert_eq!(json["target"], url.as_str());
    assert_eq!(json["requests"], 300);
    assert_eq!(json["responses"], 300);
    assert_eq!(json["errors"], 0);
    assert_eq!(json["statuses"]["200"], 300);
    assert_eq!(json["settings"]["connections"], 3);
    assert!(json["requests_per_s"].as_f64().unwrap() > 0.0);
    assert!(json["bytes_per_s"].as_f64().unwrap() > 0.0);
    for key in ["p50", "p90", "p99", "p99.9", "p99.99", "max", "min", "mean"] {
        assert!(json["latency_ms"][key].is_f64(), "{key}: {json}");
    }
    assert!(json["corrected_latency_ms"].is_null());
    let values = json["histogram"]["values"].as_array().unwrap();
    let counted: u64 = values.iter().map(|v| v[1].as_u64().unwrap()).sum();
    assert_eq!(counted, 300);
    let timeline: u64 = json["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(timeline, 300);

    // Few connections: the raw backend holds a worker for each connection
    // that has yet to send a head, and an open loop leaves some idle.
    let open = client(&[&url, "--rate", "400", "-n", "40", "-c", "4", "--json"]);
    let json: serde_json::Value = serde_json::from_slice(&open.stdout).unwrap();
    assert_eq!(json["mode"], "open");
    assert_eq!(json["errors"], 0, "{json}");
    assert!(json["corrected_latency_ms"]["p99"].is_f64(), "{json}");
    assert_eq!(json["schedule"]["scheduled"], 40);
    assert!(json["schedule"]["max_behind_ms"].is_f64());
}

/// `--backend raw,hyper`: the same load against each, one table with ratios,
/// and a page charting both.
#[test]
fn side_by_side_with_a_page_of_charts() {
    let site = TestSite::new();
    let root = site.root();
    let page = site.dir.path().join("load.html");
    let out = client(&[
        "--backend",
        "raw,hyper",
        "--root",
        root.to_str().unwrap(),
        "HelloWorld.html",
        "-n",
        "200",
        "-c",
        "4",
        "--html",
        page.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    let header = text.lines().next().unwrap_or_default();
    assert!(
        header.contains("raw") && header.contains("hyper") && header.contains("hyper/raw"),
        "{text}"
    );
    let responses = text.lines().find(|l| l.starts_with("responses")).unwrap();
    assert!(
        responses.contains("200.00") && responses.contains("1.00×"),
        "{text}"
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("<svg") && html.contains(">raw<") || html.contains("raw</td>"));
    assert!(html.contains("hyper</td>"), "{html}");
    assert!(!html.contains("<script"));
}

/// Answers requests on a connection until the third, which it answers with
/// `Connection: close` and then closes cleanly (write side first, then the
/// rest read and dropped, so no reset loses the answer).
fn close_after_three(stream: TcpStream) {
    each_request(stream, |s, seen| {
        if seen < 3 {
            return s.write_all(OK).is_ok();
        }
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut sink = [0; 4096];
        while matches!(s.read(&mut sink), Ok(n) if n > 0) {}
        false
    })
}

/// Answers the first request on a connection with a body that runs to the
/// close, then closes cleanly.
fn body_to_the_close(stream: TcpStream) {
    each_request(stream, |s, _| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\n\r\nok");
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut sink = [0; 4096];
        while matches!(s.read(&mut sink), Ok(n) if n > 0) {}
        false
    })
}

/// Requests pipelined behind a response that announces the close (by its
/// field, or by a body that runs to the close) were never answered: they go
/// again on a new connection, so `requests` stays exact and nothing counts
/// as an error.
#[test]
fn requests_behind_a_close_are_sent_again() {
    let server = LoopbackServer::per_connection(close_after_three);
    let to_the_close = LoopbackServer::per_connection(body_to_the_close);
    let runs = [
        (server.addr, None),
        (server.addr, Some(2000.0)),
        (to_the_close.addr, None),
    ];
    for (addr, rate) in runs {
        let config = LoadConfig {
            connections: 2,
            threads: 1,
            pipeline: 8,
            requests: Some(50),
            rate,
            ..load_config(addr)
        };
        let report = run(&config);
        assert!(
            report.failures.is_empty(),
            "{rate:?}: {:?}",
            report.failures
        );
        assert_eq!((report.attempts, report.responses), (50, 50), "{rate:?}");
        assert_eq!(report.unfinished, 0, "{rate:?}");
    }
}

/// A rate far past what any server answers: the schedule falls behind by
/// millions of requests, which the run keeps as a count, and it still ends
/// when its duration is up (the bound is generous: this checks that it
/// stops, not how fast anything goes).
#[test]
fn an_open_loop_far_behind_ends_on_time() {
    let server = LoopbackServer::per_connection(|stream| {
        each_request(stream, |s, _| s.write_all(OK).is_ok())
    });
    let config = LoadConfig {
        connections: 2,
        threads: 2,
        rate: Some(1e8),
        requests: None,
        duration: Some(Duration::from_millis(500)),
        timeout: Duration::from_secs(1),
        ..load_config(server.addr)
    };
    let began = std::time::Instant::now();
    let report = run(&config);
    let took = began.elapsed();
    assert!(took < Duration::from_secs(1), "a 500 ms run took {took:?}");
    assert!(report.elapsed <= Duration::from_millis(500));
    let errors: u64 = report.failures.values().sum();
    assert_eq!(
        report.attempts,
        report.responses + errors + report.unfinished,
        "every request sent is answered, failed or unfinished"
    );
    let schedule = report.schedule.expect("open loop keeps a schedule");
    assert!(schedule.scheduled > 10_000_000, "{schedule:?}");
    assert!(
        schedule.backlog_at_end + report.attempts >= schedule.scheduled,
        "{schedule:?} {report:?}"
    );
}

/// Bytes read in the warmup stay out of the figures, as its responses do:
/// bytes/s divides by the measured time only.
#[test]
fn warmup_bytes_are_not_counted() {
    let server = LoopbackServer::per_connection(|stream| {
        each_request(stream, |s, _| s.write_all(OK).is_ok())
    });
    let config = LoadConfig {
        connections: 1,
        threads: 1,
        requests: Some(50),
        warmup: Duration::from_millis(200),
        ..load_config(server.addr)
    };
    let progress = Progress::default();
    let report = load::run(&config, &progress, None).expect("the load runs");
    assert_eq!(report.responses, 50);
    // The progress line has the warmup's answers to show while it lasts.
    assert!(progress.warmup_responses.load(Ordering::Relaxed) > 0);
    assert_eq!(progress.responses.load(Ordering::Relaxed), 50);
    let size = OK.len() as u64;
    // At most one warmup response can straddle the start of the measured run.
    assert!(
        (50 * size..=51 * size).contains(&report.bytes_read),
        "{} bytes read for 50 responses of {size}",
        report.bytes_read
    );
}

/// 103 Early Hints before each answer is no answer itself; a response
/// nobody asked for is a `bad response`, not dropped unseen.
#[test]
fn interim_responses_are_skipped_and_unasked_ones_counted() {
    let hints = LoopbackServer::per_connection(|stream| {
        each_request(stream, |s, _| {
            let early = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n";
            s.write_all(early).is_ok() && s.write_all(OK).is_ok()
        })
    });
    let report = run(&LoadConfig {
        pipeline: 4,
        ..load_config(hints.addr)
    });
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(
        report.statuses.get(&200),
        Some(&100),
        "{:?}",
        report.statuses
    );

    // Two answers to every request, in one write so they arrive together.
    let twice = LoopbackServer::per_connection(|stream| {
        each_request(stream, |s, _| s.write_all(&OK.repeat(2)).is_ok())
    });
    let report = run(&LoadConfig {
        connections: 1,
        threads: 1,
        requests: Some(5),
        ..load_config(twice.addr)
    });
    assert_eq!(report.responses, 5);
    let unasked = report.failures.get(&FailureKind::BadResponse).copied();
    assert!(unasked.is_some_and(|n| n >= 1), "{:?}", report.failures);
}

static PER_CONNECTION: std::sync::Mutex<Vec<u64>> = std::sync::Mutex::new(Vec::new());

/// Three connections over two threads: each thread gets requests in
/// proportion to its connections, so no connection carries half the run.
#[test]
fn requests_follow_connections_across_threads() {
    let server = LoopbackServer::per_connection(|stream| {
        let mut count = 0;
        each_request(stream, |s, seen| {
            count = seen;
            s.write_all(OK).is_ok()
        });
        PER_CONNECTION.lock().unwrap().push(count);
    });
    let report = run(&LoadConfig {
        connections: 3,
        threads: 2,
        requests: Some(901),
        ..load_config(server.addr)
    });
    assert_eq!(report.responses, 901);
    drop(server);
    let counts = PER_CONNECTION.lock().unwrap().clone();
    assert_eq!(counts.iter().sum::<u64>(), 901, "{counts:?}");
    // The thread with one connection sends its whole share on it: a third
    // of the requests, where an even split by thread would give it 450.
    assert!(counts.contains(&301), "{counts:?}");
}

/// The soft open-file limit is raised to the hard one; connections that
/// cannot fit under the hard one are refused before the run, in one line.
#[test]
fn connections_past_the_open_file_limit_are_refused_up_front() {
    let server = LoopbackServer::per_connection(|stream| {
        each_request(stream, |s, _| s.write_all(OK).is_ok())
    });
    let url = format!("http://{}/", server.addr);
    let limited = |ulimit: &str, connections: &str| {
        let script =
            format!("ulimit {ulimit} && exec \"$0\" client \"$1\" -c {connections} -n 300 -t 2");
        Command::new("sh")
            .args(["-c", &script, BIN, &url])
            .output()
            .unwrap()
    };
    let out = limited("-n 64", "200");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = stderr(&out);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("cannot hold 200 connections: the open-file limit is 64"),
        "{err}"
    );
    let hard = Command::new("sh")
        .args(["-c", "ulimit -Hn"])
        .output()
        .unwrap();
    let hard: u64 = stdout(&hard).trim().parse().unwrap_or(u64::MAX);
    if hard < 200 {
        eprintln!("skipped the raise: the hard open-file limit is {hard}");
        return;
    }
    let out = limited("-S -n 64", "100");
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout(&out).contains("300 responses (200 ×300), 0 failures"),
        "{out:?}"
    );
}

/// Requests the time cut off are reported and can fail the run.
#[test]
fn unfinished_requests_can_fail_the_run() {
    let silent = LoopbackServer::per_connection(|stream| each_request(stream, |_, _| true));
    let url = format!("http://{}/", silent.addr);
    let out = client(&[
        &url,
        "-c",
        "2",
        "-t",
        "1",
        "-d",
        "200ms",
        "--fail-if",
        "unfinished>0",
        "--fail-if",
        "backlog>0",
    ]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = stdout(&out);
    assert!(
        text.contains(", 2 unfinished;") || text.contains(", 2 unfinished\n"),
        "{text}"
    );
    assert!(
        text.contains("--fail-if unfinished>0: 2, crossed"),
        "{text}"
    );
    assert!(text.contains("--fail-if backlog>0: 0, held"), "{text}");
}

static ACCEPTED: AtomicU64 = AtomicU64::new(0);
static REUSED: AtomicU64 = AtomicU64::new(0);

/// Without keep-alive every request has a connection of its own, even when
/// the server would keep it open: connections accepted equal requests, none
/// carries a second, and the client closing them is no error.
#[test]
fn no_keepalive_opens_a_connection_per_request() {
    let server = LoopbackServer::per_connection(|stream| {
        ACCEPTED.fetch_add(1, Ordering::SeqCst);
        each_request(stream, |s, seen| {
            if seen > 1 {
                REUSED.fetch_add(1, Ordering::SeqCst);
            }
            s.write_all(OK).is_ok()
        })
    });
    for (connections, threads, rate) in [(1, 1, None), (3, 2, None), (3, 2, Some(2000.0))] {
        ACCEPTED.store(0, Ordering::SeqCst);
        let report = run(&LoadConfig {
            connections,
            threads,
            rate,
            requests: Some(30),
            ..fresh_config(server.addr)
        });
        let case = format!("{connections} connections, {threads} threads, rate {rate:?}");
        assert!(report.failures.is_empty(), "{case}: {:?}", report.failures);
        assert_eq!((report.attempts, report.responses), (30, 30), "{case}");
        assert_eq!(report.latency.len(), 30, "{case}");
        assert_eq!(ACCEPTED.load(Ordering::SeqCst), 30, "{case}");
    }
    drop(server);
    assert_eq!(REUSED.load(Ordering::SeqCst), 0);

    // Nobody listening: each request's connect is its one failed attempt.
    let (_held, refused) = refusing_port();
    let report = run(&LoadConfig {
        connections: 2,
        requests: Some(5),
        ..fresh_config(refused)
    });
    assert_eq!(report.failures.get(&FailureKind::Refused), Some(&5));
    assert_eq!((report.attempts, report.responses), (5, 0));
}

/// Answers one request per connection without saying it will close, then
/// closes as soon as the next request arrives, unanswered: what a server
/// closing idle connections does to a request already on its way.
fn one_answer_then_close(stream: TcpStream) {
    each_request(stream, |s, seen| seen == 1 && s.write_all(OK).is_ok());
}

/// Answers one request per connection without saying so, then closes at once.
fn answer_and_close(stream: TcpStream) {
    each_request(stream, |s, _| {
        let _ = s.write_all(OK);
        false
    });
}

/// A server that closes after each response unasked: with keep-alive the
/// request sent on the closed connection goes again on a new one (RFC 9112
/// §9.3.1; nothing of its answer had come), without keep-alive each request
/// has its own connection anyway; in both, no error and `requests` exact.
#[test]
fn a_server_closing_after_each_response_is_no_error() {
    let stale = LoopbackServer::per_connection(one_answer_then_close);
    let prompt = LoopbackServer::per_connection(answer_and_close);
    for addr in [stale.addr, prompt.addr] {
        for keep_alive in [true, false] {
            let base = if keep_alive {
                load_config(addr)
            } else {
                fresh_config(addr)
            };
            let report = run(&LoadConfig {
                connections: 2,
                threads: 1,
                requests: Some(40),
                ..base
            });
            let case = format!("{addr}, keep-alive {keep_alive}");
            assert!(report.failures.is_empty(), "{case}: {:?}", report.failures);
            assert_eq!((report.attempts, report.responses), (40, 40), "{case}");
            assert_eq!(report.unfinished, 0, "{case}");
        }
    }
}

/// A connection that dies mid-response, or before a first answer, is still
/// an error: only a request nothing had come back for on a connection that
/// had answered before is sent again.
#[test]
fn a_close_mid_response_is_still_an_error() {
    let cut = LoopbackServer::per_connection(|stream| {
        each_request(stream, |s, seen| {
            if seen == 1 {
                return s.write_all(OK).is_ok();
            }
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nab");
            false
        })
    });
    let report = run(&LoadConfig {
        connections: 1,
        threads: 1,
        requests: Some(10),
        ..load_config(cut.addr)
    });
    assert_eq!(report.responses, 5, "{report:?}");
    assert_eq!(report.failures.get(&FailureKind::Closed), Some(&5));
}

/// `--no-keepalive` on the command line: the settings say so in the JSON,
/// every request is answered, and it refuses a pipeline it cannot keep.
#[test]
fn no_keepalive_on_the_command_line() {
    let site = TestSite::new();
    let server = site.start(Backend::Raw);
    let url = format!("http://{}/HelloWorld.html", server.local_addr());
    let out = client(&[&url, "-n", "40", "-c", "4", "--no-keepalive", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(json["settings"]["keep_alive"], false, "{json}");
    assert_eq!(
        (json["responses"].as_u64(), json["errors"].as_u64()),
        (Some(40), Some(0))
    );
    let text = stdout(&client(&[&url, "-n", "10", "--no-keepalive"]));
    assert!(text.contains("a new connection per request"), "{text}");
    assert!(
        text.contains("10 responses (200 ×10), 0 failures"),
        "{text}"
    );
    let clash = client(&[&url, "-n", "10", "--no-keepalive", "--pipeline", "2"]);
    assert_eq!(clash.status.code(), Some(2), "{clash:?}");
}

/// Every shape `--json` prints — a seed run, a closed and an open load run
/// with a threshold, a run of 404s, and two backends side by side — is valid
/// against the published schema, and the schema and its documentation name
/// the same keys.
#[test]
fn json_reports_match_their_published_schema() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("docs/client-report.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the schema is a valid JSON Schema");

    let site = TestSite::new();
    let server = site.start(Backend::Raw);
    let addr = server.local_addr();
    let url = format!("http://{addr}/HelloWorld.html");
    let missing = format!("http://{addr}/missing.html");
    let site_root = site.root();
    let site_root = site_root.to_str().unwrap();
    let host = addr.ip().to_string();
    let port = addr.port().to_string();
    let runs: [Vec<&str>; 5] = [
        vec![&host, &port, "HelloWorld.html", "--json"],
        vec![&url, "-n", "50", "-c", "2", "--fail-if", "p99>5s", "--json"],
        vec![&url, "--rate", "400", "-n", "20", "-c", "2", "--json"],
        vec![
            &missing,
            "-n",
            "3",
            "-c",
            "1",
            "--fail-if",
            "errors>0",
            "--json",
        ],
        vec![
            "--backend",
            "raw,hyper",
            "--root",
            site_root,
            "HelloWorld.html",
            "-n",
            "20",
            "-c",
            "2",
            "--json",
        ],
    ];
    let mut modes = Vec::new();
    for args in &runs {
        let out = client(args);
        let json: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: not one JSON document ({e}): {out:?}"));
        let errors: Vec<String> = validator
            .iter_errors(&json)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{args:?}: {errors:#?}\n{json}");
        let reports = json["runs"]
            .as_array()
            .cloned()
            .unwrap_or_else(|| vec![json.clone()]);
        modes.extend(
            reports
                .iter()
                .map(|r| r["mode"].as_str().unwrap().to_owned()),
        );
    }
    assert_eq!(
        modes,
        ["seed", "closed", "open", "closed", "closed", "closed"]
    );

    // A report that breaks the schema is caught: the check can fail.
    let mut broken: serde_json::Value = serde_json::from_slice(&client(&runs[1]).stdout).unwrap();
    broken["latency_ms"]["p99"] = "fast".into();
    assert!(!validator.is_valid(&broken));

    // The documentation's table and the schema list the same keys.
    let doc = std::fs::read_to_string(root.join("docs/client-json.md")).unwrap();
    let documented: std::collections::BTreeSet<&str> = doc
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .collect();
    let in_schema: std::collections::BTreeSet<&str> = schema["$defs"]["report"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .filter(|k| *k != "name")
        .collect();
    assert_eq!(documented, in_schema);
}

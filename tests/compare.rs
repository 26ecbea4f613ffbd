//! The whole corpus against both backends and the textbook server: every
//! outcome must match its pin (`compare --check`), no response from raw or
//! hyper may carry the secret placed outside the root (the textbook server's
//! do: that is its lesson), a dead textbook server is restarted, the committed `compare/REPORT.md` must be what the code generates
//! now, and every report format must render every case.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

mod common;

use common::loopback::{LoopbackServer, Then};
use twinserve::compare::textbook::Part;
use twinserve::compare::{self, Consequence, Crash, Fixture, case, report};

fn project(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

#[test]
fn the_corpus_keeps_its_pins_and_its_report() {
    let cases = case::load_dir(&project("compare")).unwrap();
    assert!(cases.len() >= 60, "{} cases", cases.len());
    for theme in case::THEMES {
        assert!(
            cases.iter().any(|c| c.theme == *theme),
            "no case for {theme}"
        );
    }
    for c in &cases {
        assert!(c.rfc.starts_with("RFC "), "{}: cites {:?}", c.id, c.rfc);
        assert!(c.why.len() > 60, "{}: the why is too thin", c.id);
    }
    let fixture = Fixture::start(&project("site")).unwrap();
    let mut comparison = compare::run_corpus(cases, &fixture, &[], &|_| {});
    comparison.slow_clients = compare::slow_clients(&fixture, &comparison.columns);
    let lesson: Vec<(&str, bool)> = comparison
        .slow_clients
        .iter()
        .map(|s| (s.column.as_str(), s.served))
        .collect();
    assert_eq!(
        lesson,
        [("raw", true), ("hyper", true), ("textbook", true)],
        "the slowloris lesson: no server gives a slow head a thread"
    );

    let mismatches = compare::check(&comparison);
    assert!(
        mismatches.is_empty(),
        "outcomes left their pins: {mismatches:#?}"
    );
    let summary = report::summarize(&comparison);
    let names: Vec<&str> = comparison.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["raw", "hyper", "textbook"]);
    assert_eq!(summary.leaked[..2], [0, 0], "the secret leaked");
    assert!(summary.leaked[2] > 0, "the textbook server's `..` leaks");
    // The machine's password file counts as a leak as well as the secret:
    // an absolute path and a `..` chain to `/` reach it from any root depth.
    for id in ["absolute-after-slash", "dotdot-to-root"] {
        let result = comparison.results.iter().find(|r| r.case_id == id).unwrap();
        let leaked: Vec<bool> = result.outcomes.iter().map(|o| o.leaked()).collect();
        assert_eq!(leaked, [false, false, true], "{id}: who leaked /etc/passwd");
    }
    assert!(summary.conforming[2] < summary.conforming[0]);

    let markdown = report::markdown(&comparison);
    let committed = std::fs::read_to_string(project("compare/REPORT.md")).unwrap();
    assert!(
        markdown == committed,
        "compare/REPORT.md is out of date: run \
         `cargo run --release -- compare --format markdown --out compare/REPORT.md`"
    );

    let text = report::json(&comparison);
    let document: report::json::Document = serde_json::from_str(&text).unwrap();
    assert_eq!(
        serde_json::to_string_pretty(&document).unwrap(),
        text,
        "the schema reads back what it wrote"
    );
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(json["schema"], report::JSON_SCHEMA);
    assert_eq!(
        json["cases"].as_array().unwrap().len(),
        comparison.cases.len()
    );
    assert_eq!(
        json["columns"],
        serde_json::json!(["raw", "hyper", "textbook"])
    );
    assert!(json["cases"][0]["expected"]["textbook"].is_string());
    let first = &json["cases"][0]["outcomes"]["raw"];
    assert!(first["signature"].is_string() && first["conforms"].is_boolean());

    let html = report::html(&comparison);
    let terminal = report::terminal(&comparison, false);
    for c in &comparison.cases {
        assert!(
            html.contains(&format!("id=\"{}\"", c.id)),
            "{} missing from HTML",
            c.id
        );
        assert!(terminal.contains(&c.id), "{} missing from the table", c.id);
    }
    assert!(!terminal.contains('\x1b'), "no colour was asked for");
    // A terminal table to the end: no Markdown headings, emphasis or rules.
    for markup in ["##", "**", "|---", "`"] {
        assert!(
            !terminal.contains(markup),
            "{markup:?} in the table:\n{terminal}"
        );
    }
    assert!(terminal.contains("── slow clients"), "{terminal}");
    for name in ["raw", "hyper", "textbook"] {
        assert!(
            terminal
                .lines()
                .any(|l| l.starts_with(name) && l.to_lowercase().contains("served")),
            "no slow-client line for {name}:\n{terminal}"
        );
    }
}

/// `--target` puts any loopback server in an extra column; here a second
/// hyper backend, which must agree with the first.
#[test]
fn an_extra_target_gets_its_own_column() {
    let mut cases = case::load_dir(&project("compare")).unwrap();
    cases.retain(|c| ["baseline-get", "bare-lf", "pipelined", "dotdot"].contains(&c.id.as_str()));
    let fixture = Fixture::start(&project("site")).unwrap();
    let mut config = twinserve::Config::new(fixture.root());
    config.limits = compare::compare_limits();
    let extra = twinserve::spawn(twinserve::Backend::Hyper, config).unwrap();
    let comparison = compare::run_corpus(
        cases,
        &fixture,
        &[("again".into(), extra.local_addr())],
        &|_| {},
    );
    assert_eq!(comparison.columns.len(), 4);
    for result in &comparison.results {
        assert_eq!(
            result.outcomes[3].signature(),
            result.outcomes[1].signature(),
            "{}",
            result.case_id
        );
        assert!(
            !result.parsed[0].is_empty() && !result.parsed[1].is_empty(),
            "{}",
            result.case_id
        );
    }
}

/// Part A dies at the first crash; the next case finds it restarted, not a
/// refused connection counted as a silent close.
#[test]
fn a_dead_textbook_server_is_restarted_before_the_next_case() {
    let fixture = Fixture::with_textbook(&project("site"), Part::A).unwrap();
    let tls = compare::run_corpus(vec![corpus_case("tls-handshake")], &fixture, &[], &|_| {});
    let outcome = &tls.results[0].outcomes[2];
    assert_eq!(outcome.signature(), "- closed");
    assert_eq!(
        outcome.crash,
        Some(Crash::Server),
        "Part A's one thread died"
    );
    assert_eq!(tls.results[0].consequences[2], Consequence::Crash);
    assert!(!tls.results[0].conforms[2]);
    // The probe after the theme found it dead and started it again.
    assert_eq!(tls.reachability[2].restarts, 1);
    assert_eq!(tls.reachability[2].stopped, None);
    assert!(fixture.textbook_is_alive());
    let next = compare::run_corpus(vec![corpus_case("baseline-get")], &fixture, &[], &|_| {});
    assert_eq!(next.results[0].outcomes[2].signature(), "200 closed");
    assert_eq!(next.results[0].outcomes[2].crash, None);
    assert_eq!(fixture.textbook_restarts(), 1);
    assert!(compare::check(&next).is_empty());
}

/// A case from the corpus, by id.
fn corpus_case(id: &str) -> case::Case {
    case::load_dir(&project("compare"))
        .unwrap()
        .into_iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no case {id}"))
}

/// A case of one's own: `send` in the corpus's escaped form, one write
/// each, `pause_ms` apart. Built from a corpus case, so it keeps whatever
/// other fields a case has.
fn own_case(
    id: &str,
    theme: &str,
    send: &[&str],
    pause_ms: u64,
    conforming: &[&str],
) -> case::Case {
    let mut c = corpus_case("baseline-get");
    c.id = id.into();
    c.theme = theme.into();
    c.send = send.iter().map(|s| s.to_string()).collect();
    c.pause_ms = pause_ms;
    c.half_close = false;
    c.wait_ms = None;
    c.methods = Vec::new();
    c.conforming = conforming
        .iter()
        .map(|p| compare::Pattern::parse(p).unwrap())
        .collect();
    c
}

const GET: &str = r"GET /HelloWorld.html HTTP/1.1\r\nHost: localhost\r\n\r\n";

/// A loopback server for one test: every connection on its own thread,
/// handed to `answer` (which must return by itself).
fn test_server(answer: fn(TcpStream)) -> LoopbackServer {
    LoopbackServer::per_connection(answer)
}

/// Reads one request head (to the blank line), or whatever came within 2 s.
fn read_head(stream: &mut TcpStream) -> Vec<u8> {
    stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match stream.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    head
}

const OK: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";

/// The textbook server's handler dies on bytes that are not UTF-8: its
/// silent close reads `crash`, which never conforms, even on a case that
/// allows a silent close; raw's 400 on the same bytes conforms.
#[test]
fn a_dead_textbook_handler_is_a_crash_not_a_silent_close() {
    let fixture = Fixture::start(&project("site")).unwrap();
    let case = own_case(
        "not-utf8",
        "request-line",
        &[r"\x16\x03\x01\x00\xa5\xfe\xffGET / HTTP/1.1\r\n\r\n"],
        0,
        &["400 closed", "- closed"],
    );
    let c = compare::run_corpus(vec![case], &fixture, &[], &|_| {});
    let result = &c.results[0];
    let textbook = &result.outcomes[2];
    assert_eq!(textbook.signature(), "- closed");
    assert_eq!(textbook.crash, Some(Crash::Handler));
    assert_eq!(result.consequences[2], Consequence::Crash);
    assert!(!result.conforms[2], "a dead handler conformed");
    assert_eq!(result.outcomes[0].signature(), "400 closed");
    assert_eq!(result.consequences[0], Consequence::Ok);
    assert!(result.conforms[0]);
    // Part B lost one thread, not the server.
    assert_eq!(c.reachability[2].restarts, 0);
    assert!(fixture.textbook_is_alive());
    let json: serde_json::Value = serde_json::from_str(&report::json(&c)).unwrap();
    let entry = &json["cases"][0]["outcomes"]["textbook"];
    assert_eq!(entry["consequence"], "crash");
    assert_eq!(entry["crash"], "handler");
    assert_eq!(json["cases"][0]["outcomes"]["raw"]["consequence"], "ok");
}

/// Part A dies on the crash; the case that killed it reads `crash`, and the
/// cases run with it and after it find a restarted server, never `refused`.
#[test]
fn a_part_a_crash_is_that_case_s_and_later_cases_still_run() {
    let fixture = Fixture::with_textbook(&project("site"), Part::A).unwrap();
    let cases = vec![
        own_case("killer", "one", &[r"\xff\xfe\xfd"], 0, &["400 closed"]),
        own_case("beside", "one", &[GET], 0, &["200 open"]),
        own_case("after", "two", &[GET], 0, &["200 open"]),
        own_case("later", "three", &[GET], 0, &["200 open"]),
    ];
    let c = compare::run_corpus(cases, &fixture, &[], &|_| {});
    let textbook: Vec<(String, Option<Crash>, Consequence)> = c
        .results
        .iter()
        .map(|r| {
            (
                r.outcomes[2].signature(),
                r.outcomes[2].crash,
                r.consequences[2],
            )
        })
        .collect();
    assert_eq!(
        textbook[0],
        (
            "- closed".to_string(),
            Some(Crash::Server),
            Consequence::Crash
        )
    );
    for (id, got) in ["beside", "after", "later"].iter().zip(&textbook[1..]) {
        // The textbook server's `200 closed` is wrong (no keep-alive), never refused.
        assert_eq!(
            *got,
            ("200 closed".to_string(), None, Consequence::Wrong),
            "{id}"
        );
    }
    assert!(c.reachability[2].restarts >= 1);
    assert_eq!(c.reachability[2].stopped, None);
}

/// A server that dies on some bytes: that case reads `crash`, the later
/// ones `refused`, and its reachability names the last case it answered.
#[test]
fn a_server_that_dies_mid_run_is_placed_in_the_run() {
    // One connection at a time; on `DIE` it closes it and its listener.
    let server = LoopbackServer::one_thread(128, |mut stream| {
        if read_head(&mut stream).starts_with(b"DIE") {
            return Then::Die;
        }
        let _ = stream.write_all(OK);
        Then::Next
    });
    let addr = server.addr;
    let fixture = Fixture::start(&project("site")).unwrap();
    let cases = vec![
        own_case("first", "one", &[GET], 0, &["200 open", "200 closed"]),
        own_case(
            "killer",
            "two",
            &[r"DIE / HTTP/1.1\r\n\r\n"],
            0,
            &["501 closed"],
        ),
        own_case("after", "three", &[GET], 0, &["200 open", "200 closed"]),
    ];
    let c = compare::run_corpus(cases, &fixture, &[("mortal".into(), addr)], &|_| {});
    let mortal: Vec<Consequence> = c.results.iter().map(|r| r.consequences[3]).collect();
    assert_eq!(
        mortal,
        [Consequence::Ok, Consequence::Crash, Consequence::Refused]
    );
    assert_eq!(c.results[1].outcomes[3].crash, Some(Crash::Server));
    let reach = &c.reachability[3];
    assert!(reach.answered_before);
    assert_eq!(
        reach.stopped,
        Some(compare::Stopped {
            after_theme: "two".into(),
            died_on: Some("killer".into()),
            last_answered: Some("first".into()),
        })
    );
    // Our own servers answered throughout.
    for reach in &c.reachability[..3] {
        assert!(
            reach.answered_before && reach.stopped.is_none(),
            "{reach:?}"
        );
    }
    let json: serde_json::Value = serde_json::from_str(&report::json(&c)).unwrap();
    assert_eq!(json["reachability"][3]["stopped"]["last_answered"], "first");
}

/// Nothing listening: every case is refused, never a crash, and the column
/// never answered.
#[test]
fn a_target_with_nothing_listening_is_refused_on_every_case() {
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let fixture = Fixture::start(&project("site")).unwrap();
    let cases = vec![
        corpus_case("baseline-get"),
        corpus_case("tls-handshake"),
        corpus_case("pipelined"),
    ];
    let c = compare::run_corpus(cases, &fixture, &[("nobody".into(), addr)], &|_| {});
    for result in &c.results {
        assert_eq!(
            result.outcomes[3].end,
            compare::End::Refused,
            "{}",
            result.case_id
        );
        assert_eq!(result.outcomes[3].crash, None, "{}", result.case_id);
        assert_eq!(
            result.consequences[3],
            Consequence::Refused,
            "{}",
            result.case_id
        );
        assert!(!result.conforms[3]);
    }
    assert!(!c.reachability[3].answered_before);
    assert_eq!(c.reachability[3].stopped, None);
}

/// One response too many (a server that answers every request twice) and
/// one too few (the textbook server, which answers one request per
/// connection, on two pipelined ones) are both a desync.
#[test]
fn extra_and_lost_responses_are_a_desync() {
    let twice = test_server(|mut stream| {
        read_head(&mut stream);
        let _ = stream.write_all(&[OK, OK].concat());
    });
    let fixture = Fixture::start(&project("site")).unwrap();
    let cases = vec![
        own_case("one", "one", &[GET], 0, &["200 open", "200 closed"]),
        own_case(
            "two",
            "one",
            &[&format!("{GET}{GET}")],
            0,
            &["200 200 open"],
        ),
    ];
    let c = compare::run_corpus(cases, &fixture, &[("twice".into(), twice.addr)], &|_| {});
    let one = &c.results[0];
    assert_eq!(one.outcomes[3].signature(), "200 200 closed");
    assert_eq!(one.consequences[3], Consequence::Desync);
    assert_eq!(one.consequences[..3], [Consequence::Ok; 3]);
    let two = &c.results[1];
    assert_eq!(two.outcomes[2].signature(), "200 closed");
    assert_eq!(two.consequences[2], Consequence::Desync);
    assert_eq!(two.consequences[..2], [Consequence::Ok; 2]);
}

/// Where messages end: bytes one server reads as one request and another as
/// two give a smuggling pair, front end (fewer) to back end (more), naming
/// the extra request when the back end is one of ours.
#[test]
fn smuggling_pairs_name_the_request_let_past() {
    // A server that takes each read as a request, as the CL.0 desync does.
    let per_read = test_server(|mut stream| {
        let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
        let mut buffer = [0u8; 4096];
        while matches!(stream.read(&mut buffer), Ok(n) if n > 0) {
            if stream.write_all(OK).is_err() {
                return;
            }
        }
    });
    let fixture = Fixture::start(&project("site")).unwrap();
    let post = r"POST /index.html HTTP/1.1\r\nHost: localhost\r\nContent-Length: 50\r\n\r\n";
    let cl0 = r"POST /index.html HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n\r\n";
    let cases = vec![
        own_case("cl-body", "one", &[post, GET], 300, &["405", "405 closed"]),
        own_case(
            "cl0-then-get",
            "one",
            &[&format!("{cl0}{GET}")],
            0,
            &["405 200 open"],
        ),
    ];
    let c = compare::run_corpus(
        cases,
        &fixture,
        &[("per-read".into(), per_read.addr)],
        &|_| {},
    );
    let pairs = |r: &compare::CaseResult| -> Vec<(usize, usize, usize, usize, Option<String>)> {
        r.smuggling
            .iter()
            .map(|s| {
                (
                    s.front,
                    s.back,
                    s.front_count,
                    s.back_count,
                    s.smuggled.clone(),
                )
            })
            .collect()
    };
    let body = &c.results[0];
    let counts: Vec<usize> = body.outcomes.iter().map(|o| o.responses.len()).collect();
    assert_eq!(counts, [1, 1, 1, 2], "{:?}", body.outcomes);
    // raw, hyper and the textbook server each answered once and closed: as
    // front ends they forward nothing after that answer, so the per-read
    // server's second response is no smuggled request.
    let ends: Vec<String> = body.outcomes.iter().map(|o| o.signature()).collect();
    assert_eq!(ends[..3], ["405 closed", "405 closed", "200 closed"]);
    assert_eq!(pairs(body), []);
    let get = Some("GET /HelloWorld.html".to_string());
    let both = &c.results[1];
    let counts: Vec<usize> = both.outcomes.iter().map(|o| o.responses.len()).collect();
    assert_eq!(counts, [2, 2, 1, 1], "{:?}", both.outcomes);
    // The textbook server answered one and closed: it fronts nothing. The
    // per-read server kept the connection with the GET unanswered.
    assert_eq!(pairs(both), [(3, 0, 1, 2, get.clone()), (3, 1, 1, 2, get)]);
    assert_eq!(both.parsed[0].len(), 2, "raw took two requests");
    let json: serde_json::Value = serde_json::from_str(&report::json(&c)).unwrap();
    assert_eq!(json["cases"][1]["smuggling"][0]["front"], "per-read");
    assert_eq!(json["cases"][1]["smuggling"][0]["back"], "raw");
    assert_eq!(
        json["cases"][1]["parsed_requests"]["raw"][1]["target"],
        "/HelloWorld.html"
    );
}

#[test]
fn the_command_line() {
    let bin = env!("CARGO_BIN_EXE_twinserve");
    let one = Command::new(bin)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["compare", "--case", "pipelined", "--check"])
        .output()
        .unwrap();
    assert!(one.status.success(), "{one:?}");
    let text = String::from_utf8_lossy(&one.stdout);
    assert!(
        text.contains("pipelined") && text.contains("why it matters"),
        "{text}"
    );
    assert!(text.contains("raw parsed it as"), "{text}");
    // The textbook server answers the first of two pipelined requests and
    // closes: the second is lost, and the case says what raw does instead.
    assert!(
        text.contains("textbook → 200 closed (fail: desync)"),
        "{text}"
    );
    assert!(text.contains("what raw does instead"), "{text}");

    let missing = Command::new(bin)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["compare", "--case", "no-such-case"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));

    // A name that cannot resolve (RFC 6761 keeps .invalid unresolvable), so
    // the test connects nowhere beyond this machine.
    let unknown = Command::new(bin)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["compare", "--target", "far=no-such-host.invalid:80"])
        .output()
        .unwrap();
    assert_eq!(unknown.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(
        stderr.contains("cannot resolve no-such-host.invalid"),
        "{stderr}"
    );

    let bad = Command::new(bin)
        .args(["compare", "--target", "nonsense"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

/// A `--target` with nothing listening is refused on the baseline case:
/// compare says so on stderr and exits 1 rather than printing a quiet column.
#[test]
fn an_unreachable_target_fails_the_run() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let out = tempfile::tempdir().unwrap();
    let mut options = compare::Options {
        cases: project("compare"),
        root: project("site"),
        case: Some("baseline-get".into()),
        format: compare::Format::Table,
        out: Some(out.path().join("report.txt")),
        check: false,
        targets: vec![compare::Target {
            name: "nobody".into(),
            host: "127.0.0.1".into(),
            port,
        }],
        load: None,
        fixture: None,
    };
    let code = compare::run(&options).unwrap();
    assert_eq!(code, std::process::ExitCode::FAILURE);
    let report = std::fs::read_to_string(out.path().join("report.txt")).unwrap();
    assert!(report.contains("nobody"), "{report}");

    // Without the dead target the same run passes.
    options.targets.clear();
    assert_eq!(
        compare::run(&options).unwrap(),
        std::process::ExitCode::SUCCESS
    );
}

/// The lesson a student reads: a textbook server standing in for theirs, as
/// a `--target`, gets a verdict that leads with its leak, a grade that says
/// to fix the traversal first, and JUnit XML with only its own suite.
#[test]
fn a_student_server_is_graded_worst_mistake_first() {
    let fixture = Fixture::start(&project("site")).unwrap();
    let student = compare::textbook::Textbook::start(&fixture.root(), Part::B).unwrap();
    let cases = ["baseline-get", "dotdot", "pipelined", "delete"]
        .into_iter()
        .map(corpus_case)
        .collect();
    let c = compare::run_corpus(
        cases,
        &fixture,
        &[("student".into(), student.local_addr())],
        &|_| {},
    );
    let lessons = report::lessons(&c);
    let raw = &lessons[0];
    assert_eq!((raw.name.as_str(), raw.passed, raw.failed), ("raw", 4, 0));
    let mine = &lessons[3];
    assert_eq!(mine.name, "student");
    assert!(
        mine.verdict()
            .starts_with("student: 0/4 pass — 1 leak, 1 desync,"),
        "{}",
        mine.verdict()
    );
    assert!(
        mine.grade().starts_with(
            "student: 0/4 — fix first: the path is joined to the root unconfined \
             (1 case, worst: leak; read case dotdot), then "
        ),
        "{}",
        mine.grade()
    );
    // Traversal is the student's worst class; raw is clean in every class.
    let traversal = |l: &report::ServerLesson| {
        l.classes
            .iter()
            .find(|(class, _)| *class == case::Class::Traversal)
            .and_then(|(_, worst)| *worst)
    };
    assert_eq!(traversal(mine), Some(Consequence::Leak));
    assert_eq!(traversal(raw), Some(Consequence::Ok));

    let xml = report::junit(&c);
    assert_eq!(xml.matches("<testsuite ").count(), 1, "{xml}");
    assert!(
        xml.contains("<testsuite name=\"student\" tests=\"4\""),
        "{xml}"
    );
    assert_eq!(
        xml.matches("<failure ").count(),
        mine.failed,
        "one failure per failed case: {xml}"
    );
    assert!(xml.contains("<failure type=\"leak\""), "{xml}");
    assert!(!xml.contains("name=\"raw\""), "{xml}");
}

/// `compare --load` on the load engine: a connection per request by
/// default, kept alive with `--keep-alive`; either way a row per measured
/// server (the textbook server is a lesson, not measured) with every
/// request answered, in the JSON and in the Markdown table.
#[test]
fn the_load_run_has_a_row_per_backend() {
    let out = tempfile::tempdir().unwrap();
    let options = compare::Options {
        cases: project("compare"),
        root: project("site"),
        case: Some("baseline-get".into()),
        format: compare::Format::Json,
        out: Some(out.path().join("report.json")),
        check: false,
        targets: Vec::new(),
        load: Some(compare::LoadSettings {
            path: "HelloWorld.html".into(),
            threads: 3,
            requests: 7,
            keep_alive: false,
        }),
        fixture: None,
    };
    assert_eq!(
        compare::run(&options).unwrap(),
        std::process::ExitCode::SUCCESS
    );
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.path().join("report.json")).unwrap()).unwrap();
    let load = json["load"].as_array().expect("a load array");
    let columns: Vec<&str> = load.iter().map(|l| l["column"].as_str().unwrap()).collect();
    assert_eq!(columns, ["raw", "hyper"], "{json}");
    for l in load {
        assert_eq!(
            (l["requests"].as_u64(), l["responses"].as_u64()),
            (Some(21), Some(21)),
            "{l}"
        );
        assert_eq!(l["failures"], serde_json::json!({}), "{l}");
        assert!(l["req_per_s"].as_f64().unwrap() > 0.0, "{l}");
        assert!(
            l["max_ms"].as_f64().unwrap() >= l["p50_ms"].as_f64().unwrap(),
            "{l}"
        );
    }

    let kept = Command::new(env!("CARGO_BIN_EXE_twinserve"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["compare", "--case", "baseline-get", "--format", "markdown"])
        .args([
            "--load",
            "--threads",
            "2",
            "--requests",
            "5",
            "--keep-alive",
        ])
        .output()
        .unwrap();
    assert!(kept.status.success(), "{kept:?}");
    let text = String::from_utf8_lossy(&kept.stdout);
    assert!(
        text.contains("| server | requests | responses | req/s |"),
        "{text}"
    );
    for server in ["raw", "hyper"] {
        let row = text
            .lines()
            .find(|l| l.starts_with(&format!("| {server} | ")))
            .unwrap_or_else(|| panic!("no {server} row: {text}"));
        assert!(
            row.starts_with(&format!("| {server} | 10 | 10 | ")),
            "{row}"
        );
        assert!(row.ends_with("| none |"), "{row}");
    }
    assert!(!text.contains("| textbook | 10"), "{text}");
}

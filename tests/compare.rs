//! The whole corpus against both backends and the textbook server: every
//! outcome must match its pin (`compare --check`), no response from raw or
//! hyper may carry the secret placed outside the root (the textbook server's
//! do: that is its lesson), a dead textbook server is restarted, the committed `compare/REPORT.md` must be what the code generates
//! now, and every report format must render every case.

use std::path::Path;
use std::process::Command;

use std::time::{Duration, Instant};

use twinserve::compare::textbook::Part;
use twinserve::compare::{self, Fixture, case, report};

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
        [("raw", false), ("hyper", true), ("textbook", true)],
        "the slowloris lesson"
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
            result.parsed[0].is_some() && result.parsed[1].is_some(),
            "{}",
            result.case_id
        );
    }
}

/// Part A dies at the first crash; the next case finds it restarted, not a
/// refused connection counted as a silent close.
#[test]
fn a_dead_textbook_server_is_restarted_before_the_next_case() {
    let cases = case::load_dir(&project("compare")).unwrap();
    let pick = |id: &str| vec![cases.iter().find(|c| c.id == id).unwrap().clone()];
    let fixture = Fixture::with_textbook(&project("site"), Part::A).unwrap();
    let tls = compare::run_corpus(pick("tls-handshake"), &fixture, &[], &|_| {});
    assert_eq!(tls.results[0].outcomes[2].signature(), "- closed");
    // The handler's death closes the socket a moment before the thread ends.
    let deadline = Instant::now() + Duration::from_secs(2);
    while fixture.textbook_is_alive() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(!fixture.textbook_is_alive(), "Part A outlived its crash");
    let next = compare::run_corpus(pick("baseline-get"), &fixture, &[], &|_| {});
    assert_eq!(next.results[0].outcomes[2].signature(), "200 closed");
    assert_eq!(fixture.textbook_restarts(), 1);
    assert!(compare::check(&next).is_empty());
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

    let missing = Command::new(bin)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["compare", "--case", "no-such-case"])
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));

    let remote = Command::new(bin)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["compare", "--target", "far=10.1.2.3:80"])
        .output()
        .unwrap();
    assert_eq!(remote.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&remote.stderr).contains("not a loopback address"));

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

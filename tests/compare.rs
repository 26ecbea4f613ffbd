//! The whole corpus against both backends: every outcome must match its pin
//! (`compare --check`), no response may carry the secret placed outside the
//! root, the committed `compare/REPORT.md` must be what the code generates
//! now, and every report format must render every case.

use std::path::Path;
use std::process::Command;

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
    comparison.slow_clients = compare::slow_clients(&fixture);
    let lesson: Vec<(&str, bool)> = comparison
        .slow_clients
        .iter()
        .map(|s| (s.column.as_str(), s.served))
        .collect();
    assert_eq!(
        lesson,
        [("raw", false), ("hyper", true)],
        "the slowloris lesson"
    );

    let mismatches = compare::check(&comparison);
    assert!(
        mismatches.is_empty(),
        "outcomes left their pins: {mismatches:#?}"
    );
    let summary = report::summarize(&comparison);
    assert_eq!(summary.leaks, 0, "the secret leaked");

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
    assert_eq!(json["columns"], serde_json::json!(["raw", "hyper"]));
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
    assert_eq!(comparison.columns.len(), 3);
    for result in &comparison.results {
        assert_eq!(
            result.outcomes[2].signature(),
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

//! Grading a student's own server: `compare --fixture DIR` writes a sandbox
//! without ever harming the site or a folder that holds something, and the
//! JUnit XML a course's CI reads stays well-formed whatever the server sends
//! and whatever a case's text says.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Output};
use std::time::Duration;

mod common;

use common::loopback::{LoopbackServer, Then};
use twinserve::compare::sandbox::{self, SECRET_FILE};
use twinserve::compare::textbook::{Part, Textbook};
use twinserve::compare::{self, Fixture, Format, Options, SECRET, Target, case, report};

fn project(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// A small site of its own, so no test can touch the project's `site/`.
fn small_site() -> tempfile::TempDir {
    let site = tempfile::tempdir().unwrap();
    std::fs::write(site.path().join("index.html"), b"<p>hello</p>").unwrap();
    std::fs::create_dir(site.path().join("sub")).unwrap();
    std::fs::write(site.path().join("sub/page.html"), b"<p>sub</p>").unwrap();
    site
}

/// `twinserve compare --root SITE --fixture DIR`, uncoloured.
fn fixture_command(site: &Path, dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_twinserve"))
        .arg("compare")
        .arg("--root")
        .arg(site)
        .arg("--fixture")
        .arg(dir)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

/// Every path below `dir` with what it is: a link's target, a file's bytes.
fn snapshot(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut seen = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(folder) = stack.pop() {
        for entry in std::fs::read_dir(&folder).unwrap() {
            let path = entry.unwrap().path();
            let kind = std::fs::symlink_metadata(&path).unwrap().file_type();
            let what = if kind.is_symlink() {
                format!("link {}", std::fs::read_link(&path).unwrap().display())
            } else if kind.is_dir() {
                stack.push(path.clone());
                "folder".into()
            } else {
                format!("file {:?}", std::fs::read(&path).unwrap())
            };
            seen.push((path, what));
        }
    }
    seen.sort();
    seen
}

fn one_line_error(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    stderr
}

#[test]
fn the_fixture_command_writes_once_and_never_over_anything() {
    let site = small_site();
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("sandbox");

    let first = fixture_command(site.path(), &dir);
    assert!(first.status.success(), "{first:?}");
    let root = dir.canonicalize().unwrap().join("root");
    assert_eq!(
        std::fs::read(root.join("sub/page.html")).unwrap(),
        b"<p>sub</p>"
    );
    assert_eq!(std::fs::read(dir.join(SECRET_FILE)).unwrap(), SECRET);
    let escape = root.join("escape");
    assert!(
        std::fs::symlink_metadata(&escape)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read(&escape).unwrap(), SECRET);
    let stdout = String::from_utf8(first.stdout).unwrap();
    assert!(
        stdout.contains(&format!("{}/ is the site to serve", root.display())),
        "{stdout}"
    );
    assert!(stdout.contains("twinserve compare --target mine=127.0.0.1:"));

    let before = snapshot(out.path());
    let second = fixture_command(site.path(), &dir);
    assert_eq!(second.status.code(), Some(1), "{second:?}");
    assert!(one_line_error(&second).contains("is not empty"));
    assert_eq!(snapshot(out.path()), before, "the second run wrote");
}

#[test]
fn the_fixture_command_refuses_a_folder_inside_the_site() {
    let site = small_site();
    let before = snapshot(site.path());
    for dir in [site.path().join("sandbox"), site.path().join("sub/deeper")] {
        let output = fixture_command(site.path(), &dir);
        assert_eq!(output.status.code(), Some(1), "{output:?}");
        assert!(one_line_error(&output).contains("is inside the site"));
        assert!(output.stdout.is_empty());
    }
    assert_eq!(snapshot(site.path()), before, "the site was written to");
}

#[test]
fn the_fixture_command_refuses_a_link_to_a_folder() {
    let site = small_site();
    let out = tempfile::tempdir().unwrap();
    let real = out.path().join("real");
    std::fs::create_dir(&real).unwrap();
    let link = out.path().join("link");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    let output = fixture_command(site.path(), &link);
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(one_line_error(&output).contains("is a symbolic link"));
    assert_eq!(std::fs::read_dir(&real).unwrap().count(), 0);
}

/// compare's options for one case against one target, JUnit into `out`.
fn junit_options(case: &str, target: SocketAddr, name: &str, out: &Path) -> Options {
    Options {
        cases: project("compare"),
        root: project("site"),
        case: Some(case.into()),
        format: Format::Junit,
        out: Some(out.to_path_buf()),
        check: false,
        targets: vec![Target {
            name: name.into(),
            host: target.ip().to_string(),
            port: target.port(),
        }],
        load: None,
        fixture: None,
    }
}

/// A test suite as the JUnit XML tells it: its name, and per test case its
/// name with its failure's `type`, if it failed.
type Suite = (String, Vec<(String, Option<String>)>);

/// What a JUnit document says, read with a real XML parser: per suite, its
/// name, its `tests` and `failures` attributes, and per test case its name
/// with its failure's `type`, if any. Panics unless the counts agree.
fn read_junit(xml: &str) -> Vec<Suite> {
    let document = roxmltree::Document::parse(xml).unwrap_or_else(|e| panic!("{e}:\n{xml}"));
    let top = document.root_element();
    assert_eq!(top.tag_name().name(), "testsuites");
    let count = |node: roxmltree::Node, attribute| -> usize {
        node.attribute(attribute)
            .unwrap_or_else(|| panic!("no {attribute}"))
            .parse()
            .unwrap()
    };
    let mut suites = Vec::new();
    let (mut all_tests, mut all_failures) = (0, 0);
    for suite in top.children().filter(|n| n.is_element()) {
        assert_eq!(suite.tag_name().name(), "testsuite");
        let mut cases = Vec::new();
        for test in suite.children().filter(|n| n.is_element()) {
            assert_eq!(test.tag_name().name(), "testcase");
            let failures: Vec<_> = test
                .children()
                .filter(|n| n.has_tag_name("failure"))
                .collect();
            assert!(failures.len() <= 1, "{xml}");
            cases.push((
                test.attribute("name").unwrap().to_string(),
                failures
                    .first()
                    .map(|f| f.attribute("type").unwrap().to_string()),
            ));
        }
        let failed = cases.iter().filter(|(_, f)| f.is_some()).count();
        assert_eq!(count(suite, "tests"), cases.len(), "{xml}");
        assert_eq!(count(suite, "failures"), failed, "{xml}");
        all_tests += cases.len();
        all_failures += failed;
        suites.push((suite.attribute("name").unwrap().to_string(), cases));
    }
    assert_eq!(count(top, "tests"), all_tests, "{xml}");
    assert_eq!(count(top, "failures"), all_failures, "{xml}");
    suites
}

#[test]
fn a_leaking_student_server_fails_its_junit_suite() {
    let site = small_site();
    let out = tempfile::tempdir().unwrap();
    // The student's sandbox, as --fixture writes it: its secret is really
    // beside the root the server serves, so `..` reaches it.
    let root = sandbox::write_fixture(site.path(), &out.path().join("sandbox")).unwrap();
    let student = Textbook::start(&root, Part::B).unwrap();
    let file = out.path().join("report.xml");
    let options = junit_options("dotdot", student.local_addr(), "mine", &file);

    let code = compare::run(&options).unwrap();
    assert_eq!(code, ExitCode::FAILURE, "a leak must fail the run");
    let xml = std::fs::read_to_string(&file).unwrap();
    let suites = read_junit(&xml);
    assert_eq!(suites.len(), 1, "{xml}");
    let (name, cases) = &suites[0];
    assert_eq!(name, "mine");
    assert_eq!(cases, &[("dotdot".to_string(), Some("leak".to_string()))]);
}

/// A server on 127.0.0.1 that answers every connection with `response` and
/// closes; stopped and joined on drop.
fn hostile(response: &'static [u8]) -> LoopbackServer {
    LoopbackServer::one_thread(128, move |mut stream| {
        // Bounded: a client that never sends cannot hold us.
        let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
        let _ = stream.set_write_timeout(Some(Duration::from_secs(2)));
        let mut buf = [0; 4096];
        let _ = stream.read(&mut buf);
        let _ = stream.write_all(response);
        Then::Next
    })
}

#[test]
fn junit_stays_well_formed_whatever_the_server_sends() {
    let body = b"]]></failure><x>\x00\x01\x1b[31m&amp;<!--";
    let response: &'static [u8] = Box::leak(
        [
            // A response the client does parse: markup in a header, markup
            // and control bytes in the body it receives.
            b"HTTP/1.1 200 OK\r\nContent-Length: ".as_slice(),
            body.len().to_string().as_bytes(),
            b"\r\nX-Note: ]]></failure><x>&amp;\"'\r\nConnection: close\r\n\r\n",
            body,
        ]
        .concat()
        .into_boxed_slice(),
    );
    let server = hostile(response);
    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("report.xml");
    let options = junit_options("baseline-get", server.addr, "hostile", &file);
    compare::run(&options).unwrap();
    let xml = std::fs::read_to_string(&file).unwrap();
    let suites = read_junit(&xml);
    assert_eq!(suites.len(), 1, "{xml}");
    assert_eq!(suites[0].0, "hostile");
    // Parsed as a 200 that closes: a warning, no failure, so the hostile
    // bytes really were read as a response.
    assert_eq!(suites[0].1, [("baseline-get".to_string(), None)], "{xml}");
    assert!(!xml.contains("<x>"), "{xml}");
}

#[test]
fn junit_stays_well_formed_whatever_a_case_or_a_target_is_called() {
    // --target accepts any name but raw, hyper and textbook, and a case's
    // why and fix are free text: markup in either must stay text.
    let markup = "]]></failure><x a=\"1\">&amp;</x>'\u{1}\u{1b}";
    let mut dotdot = case::load_dir(&project("compare"))
        .unwrap()
        .into_iter()
        .find(|c| c.id == "dotdot")
        .unwrap();
    dotdot.why = format!("why {markup}");
    dotdot.fix = format!("fix {markup}");
    dotdot.fix_in = format!("src/{markup}.rs");
    let fixture = Fixture::start(&project("site")).unwrap();
    let student = Textbook::start(&fixture.root(), Part::B).unwrap();
    let name = format!("mine {markup}");
    let c = compare::run_corpus(
        vec![dotdot],
        &fixture,
        &[(name.clone(), student.local_addr())],
        &|_| {},
    );
    let xml = report::junit(&c);
    let suites = read_junit(&xml);
    assert_eq!(suites.len(), 1, "{xml}");
    // The parser gives back the name as it was, control bytes shown escaped.
    assert_eq!(
        suites[0].0,
        name.replace('\u{1}', "\\x01").replace('\u{1b}', "\\x1b")
    );
    assert_eq!(
        suites[0].1,
        [("dotdot".to_string(), Some("leak".to_string()))]
    );
    let document = roxmltree::Document::parse(&xml).unwrap();
    let failure = document
        .descendants()
        .find(|n| n.has_tag_name("failure"))
        .unwrap();
    let text = failure.text().unwrap();
    assert!(
        text.contains("why ]]></failure><x a=\"1\">&amp;</x>'"),
        "{text}"
    );
    assert!(
        !document.descendants().any(|n| n.has_tag_name("x")),
        "{xml}"
    );
}

//! The lesson page (`compare --format html`) of the whole corpus, run
//! against raw, hyper, the textbook server and a hostile `--target` that
//! answers every request with markup: the matrix shows the textbook
//! server's leak, every case is on the page once, what the target sent and
//! its name come out as text, and each case's fix shows its source line.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::time::Duration;

use twinserve::compare::{self, Fixture, case, report};

fn project(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// What the hostile target puts in every body.
const HOSTILE: &str = "</script><script>alert(1)</script><img src=x onerror=alert(2)>";
/// The hostile target's name, as `--target NAME=…` could spell it.
const HOSTILE_NAME: &str = "mine\"><img src=x onerror=alert(3)>";

/// A loopback server that reads what comes within a second and answers it
/// with [`HOSTILE`], then closes.
fn hostile_target() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
                let mut buffer = [0u8; 4096];
                let _ = stream.read(&mut buffer);
                let answer = format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nX-Note: <b>bold</b>\r\n\r\n{HOSTILE}",
                    HOSTILE.len()
                );
                let _ = stream.write_all(answer.as_bytes());
            });
        }
    });
    addr
}

/// The text between `start` (included) and the next `end` after it.
fn slice<'p>(page: &'p str, start: &str, end: &str) -> &'p str {
    let at = page
        .find(start)
        .unwrap_or_else(|| panic!("{start:?} is not on the page"));
    let len = page[at..].find(end).unwrap_or(page.len() - at);
    &page[at..at + len]
}

#[test]
fn the_lesson_page_of_the_whole_corpus() {
    let cases = case::load_dir(&project("compare")).unwrap();
    let fixture = Fixture::start(&project("site")).unwrap();
    let comparison = compare::run_corpus(
        cases,
        &fixture,
        &[(HOSTILE_NAME.into(), hostile_target())],
        &|_| {},
    );
    let page = report::html(&comparison);

    // The matrix: the textbook server's traversal cell is a leak, raw's ok.
    let row = slice(&page, "<tr data-class=\"traversal\">", "</tr>");
    let cells: Vec<&str> = row.split("<td").skip(1).collect();
    assert_eq!(cells.len(), 4, "one cell per server: {row}");
    assert!(
        cells[2].contains("data-cons=\"leak\"") && cells[2].contains("<b>leak</b>"),
        "{}",
        cells[2]
    );
    assert!(cells[0].contains("<b>ok</b>"), "{}", cells[0]);
    // It comes first, before the verdicts and everything else.
    let matrix = page.find("<table class=\"matrix\">").unwrap();
    assert!(matrix < page.find("<ul class=\"verdicts\">").unwrap());
    assert!(page.find("<ul class=\"verdicts\">").unwrap() < page.find("id=\"causes\"").unwrap());
    let verdict = slice(&page, "<b>textbook</b>: ", "</li>");
    assert!(verdict.contains(" leak"), "{verdict}");

    // Every case once, as a details element of its own.
    assert_eq!(
        page.matches("<details class=\"case\"").count(),
        comparison.cases.len()
    );
    for c in &comparison.cases {
        let opening = format!("<details class=\"case\" id=\"{}\"", c.id);
        assert_eq!(page.matches(&opening).count(), 1, "{}", c.id);
    }

    // What the target answered, and its name, are text.
    assert_eq!(page.matches("<script").count(), 1, "the page's own script");
    assert_eq!(page.matches("</script>").count(), 1);
    assert!(!page.contains("<img") && !page.contains("<b>bold</b>"));
    assert!(!page.contains(HOSTILE_NAME));
    assert!(page.contains(
        "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;"
    ));
    assert!(page.contains("mine&quot;&gt;&lt;img src=x onerror=alert(3)&gt;"));

    // The fix beside its source line.
    let dotdot = slice(&page, "<details class=\"case\" id=\"dotdot\"", "</details>");
    let fix = slice(dotdot, "<h4>The fix</h4>", "</figure>");
    assert!(fix.contains("<code>src/docroot/resolve.rs:"), "{fix}");
    assert!(fix.contains("fn resolve("), "{fix}");

    // Self-contained, printable, and whole without its script.
    for external in ["<link", "src=\"http", "href=\"http", "@import", "url("] {
        assert!(!page.contains(external), "{external} on the page");
    }
    assert!(page.contains("@media print"));
    assert!(page.contains("<form id=\"filters\" hidden>"));
    assert!(
        !page.contains("class=\"case out\""),
        "no case starts hidden"
    );
}

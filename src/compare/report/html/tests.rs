//! The page from a comparison made up here, without servers: hostile bytes
//! from a `--target` and a hostile target name come out as text, and the
//! parts of a case's story are where a reader looks for them.

use super::html;
use crate::compare::case::{self, Case};
use crate::compare::{
    CaseResult, Column, Comparison, Consequence, Difference, End, LoadResult, ObservedResponse,
    Outcome, Reachability, Server, SlowClients, Smuggling,
};
use crate::introspection::{ParsedRequest, RequestBody};

const HOSTILE: &str = "</script><script>alert(1)</script><img src=x onerror=alert(2)>";
const HOSTILE_NAME: &str = "\"><img src=x onerror=alert(3)>";

/// A corpus-like case whose text carries markup as well.
fn case() -> Case {
    case::parse(
        r#"
id = "dotdot"
title = "A title with <b>markup</b> & an ampersand"
theme = "target-path"
rfc = "RFC 9110 §17.3"
requires = '''Names must not reach `../secret`.'''
why = '''The textbook server joins `/../secret` to the root <i>and</i> sends it.'''
class = "traversal"
level = "MUST"
mistake = "path-unconfined"
fix = '''raw resolves the path beneath the root, refusing `..` with 400.'''
fix_in = "keeps_alive"
send = ['GET /../secret HTTP/1.1\r\nHost: a\r\n\r\n', '<script>\x00\xff']
pause_ms = 300
conforming = ["400|404"]
expect = { raw = "400 open", hyper = "400 open", textbook = "200 closed" }
"#,
    )
    .unwrap()
}

fn outcome(status: u16, received: &[u8], leaked: bool) -> Outcome {
    Outcome {
        responses: vec![ObservedResponse {
            body_digest: String::new(),
            body_len: received.len(),
            fields: Vec::new(),
            leaked,
            status,
        }],
        end: End::Closed,
        first_byte_ms: Some(1.0),
        received: received.to_vec(),
        trailing_bytes: 0,
        note: Some(format!("a note with {HOSTILE}")),
        local_addr: None,
        crash: None,
    }
}

fn comparison() -> Comparison {
    let column = |name: &str, server| Column {
        name: name.into(),
        addr: ([127, 0, 0, 1], 1).into(),
        server,
    };
    let columns = vec![
        column("raw", Server::Backend(crate::Backend::Raw)),
        column("hyper", Server::Backend(crate::Backend::Hyper)),
        column("textbook", Server::Textbook),
        column(HOSTILE_NAME, Server::Target),
    ];
    let hostile = format!("HTTP/1.1 200 OK\r\nContent-Length: 62\r\n\r\n{HOSTILE}");
    let parsed = ParsedRequest {
        backend: crate::Backend::Raw,
        body: RequestBody::None,
        headers: vec![("Host".into(), HOSTILE.into())],
        method: "GET".into(),
        target: HOSTILE.into(),
        version: "HTTP/1.1".into(),
    };
    let result = CaseResult {
        case_id: "dotdot".into(),
        outcomes: vec![
            outcome(400, b"HTTP/1.1 400 Bad Request\r\n\r\n", false),
            outcome(400, b"HTTP/1.1 400 Bad Request\r\n\r\n", false),
            outcome(200, b"HTTP/1.1 200 OK\r\n\r\nsecret", true),
            outcome(200, hostile.as_bytes(), false),
        ],
        conforms: vec![true, true, false, false],
        consequences: vec![
            Consequence::Ok,
            Consequence::Ok,
            Consequence::Leak,
            Consequence::Desync,
        ],
        difference: Difference::Agree,
        parsed: vec![vec![parsed.clone()], vec![parsed]],
        smuggling: vec![Smuggling {
            front: 2,
            back: 3,
            front_count: 1,
            back_count: 2,
            smuggled: Some(HOSTILE.into()),
        }],
    };
    Comparison {
        reachability: columns
            .iter()
            .map(|col| Reachability {
                answered_before: true,
                column: col.name.clone(),
                restarts: 0,
                stopped: None,
            })
            .collect(),
        columns,
        cases: vec![case()],
        results: vec![result],
        load: vec![LoadResult {
            column: HOSTILE_NAME.into(),
            failures: [("reset".to_string(), 3)].into(),
            max_ms: 9.0,
            mb_per_s: 1.5,
            p50_ms: 1.0,
            p90_ms: 2.0,
            p99_ms: 3.0,
            req_per_s: 1000.0,
            requests: 100,
            responses: 97,
        }],
        slow_clients: vec![SlowClients {
            column: HOSTILE_NAME.into(),
            head_timeout_ms: 2000,
            patience_ms: 1000,
            served: false,
            slow_connections: 256,
        }],
    }
}

/// Every tag the page may contain: anything else came from the data.
const TAGS: &[&str] = &[
    "!DOCTYPE",
    "html",
    "head",
    "meta",
    "title",
    "style",
    "body",
    "header",
    "h1",
    "h2",
    "h3",
    "h4",
    "p",
    "code",
    "b",
    "i",
    "a",
    "nav",
    "section",
    "table",
    "thead",
    "tbody",
    "tr",
    "th",
    "td",
    "small",
    "ul",
    "li",
    "span",
    "div",
    "form",
    "label",
    "select",
    "option",
    "button",
    "output",
    "details",
    "summary",
    "pre",
    "blockquote",
    "figure",
    "figcaption",
    "br",
    "dl",
    "dt",
    "dd",
    "script",
];

/// The name of every tag opened or closed in `page`.
fn tags(page: &str) -> Vec<&str> {
    page.match_indices('<')
        .map(|(at, _)| {
            let rest = page[at + 1..].trim_start_matches('/');
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '!'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .collect()
}

#[test]
fn hostile_bytes_and_names_are_text() {
    let page = html(&comparison());
    let unknown: Vec<&str> = tags(&page)
        .into_iter()
        .filter(|tag| !TAGS.contains(tag))
        .collect();
    assert_eq!(unknown, Vec::<&str>::new(), "markup from the data");
    // The page's own script, once; no other, and no image at all.
    assert_eq!(page.matches("<script").count(), 1);
    assert_eq!(page.matches("</script>").count(), 1);
    assert!(!page.contains("<img"));
    assert!(!page.contains(HOSTILE_NAME));
    // The hostile answer is there, as text.
    assert!(page.contains(
        "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;"
    ));
    assert!(page.contains("&quot;&gt;&lt;img src=x onerror=alert(3)&gt;"));
    // The case file's text is escaped too.
    assert!(page.contains("A title with &lt;b&gt;markup&lt;/b&gt; &amp; an ampersand"));
    assert!(page.contains("&lt;script&gt;\\x00\\xff"));
}

#[test]
fn a_case_tells_its_whole_story() {
    let page = html(&comparison());
    let start = page.find("<details class=\"case\" id=\"dotdot\"").unwrap();
    let story = &page[start..start + page[start..].find("</details>").unwrap()];
    for part in [
        "data-class=\"traversal\"",
        "data-cons=\"ok ok leak desync\"",
        "<span class=\"tag lvl\">MUST</span>",
        "<b>LEAK</b>",
        "<b>DESYNC</b>",
        // Both segments, the pause between them, in hex as well.
        "write 1 of 2",
        "pause 300 ms",
        "0000  47 45 54 20 2f 2e 2e 2f",
        "The secret outside the root, or a system file, came back.",
        "<b>raw</b> took one request from the stream",
        "<b>hyper</b> took one request from the stream",
        "Responses on the stream: raw 1, hyper 1, textbook 1",
        "front end <b>textbook</b> + back end",
        " answers 2 requests where textbook saw 1 — <code>",
        "is smuggled past textbook.",
        "<b>RFC 9110 §17.3</b>",
        "Names must not reach <code>../secret</code>.",
        "Outcomes it allows: <code>400|404</code>",
        "<h4>Why it matters</h4>",
        "refusing <code>..</code> with 400.",
        "<code>src/raw/request.rs:",
        "pub fn keeps_alive(",
    ] {
        assert!(story.contains(part), "{part:?} missing from:\n{story}");
    }
    // The order a reader follows.
    let order: Vec<usize> = [
        "<h4>Sent</h4>",
        "<h4>What each server returned</h4>",
        "<h4>What each parser understood</h4>",
        "<h4>Where the messages end</h4>",
        "<h4>The rule</h4>",
        "<h4>Why it matters</h4>",
        "<h4>The fix</h4>",
    ]
    .iter()
    .map(|h| story.find(h).unwrap())
    .collect();
    assert!(order.is_sorted(), "{order:?}");
}

#[test]
fn the_first_screen_has_the_matrix_then_the_verdicts() {
    let page = html(&comparison());
    let row_start = page.find("<tr data-class=\"traversal\">").unwrap();
    let row = &page[row_start..row_start + page[row_start..].find("</tr>").unwrap()];
    let cells: Vec<&str> = row.split("<td").skip(1).collect();
    assert_eq!(cells.len(), 4, "{row}");
    assert!(cells[0].contains("sev-ok") && cells[0].contains("<b>ok</b>"));
    assert!(cells[2].contains("sev-worst") && cells[2].contains("<b>leak</b>"));
    assert!(cells[2].contains("href=\"#dotdot\""), "{}", cells[2]);
    assert!(cells[3].contains("sev-bad") && cells[3].contains("<b>desync</b>"));
    // A class without a case says so.
    let framing = page.find("<tr data-class=\"framing\">").unwrap();
    assert!(page[framing..].starts_with(
        "<tr data-class=\"framing\"><th scope=\"row\">framing and smuggling<small>framing · 0 cases</small></th><td class=\"cell sev-none\">no case</td>"
    ));
    let matrix = page.find("class=\"matrix\"").unwrap();
    let verdicts = page.find("class=\"verdicts\"").unwrap();
    let causes = page.find("id=\"causes\"").unwrap();
    assert!(matrix < verdicts && verdicts < causes);
    assert!(page.contains("<b>textbook</b>: 0/1 pass — 1 leak</li>"));
    // The target's grade, its name escaped.
    assert!(page.contains("<h3>Your server's grade</h3>\n<p>&quot;&gt;&lt;img"));
    assert!(page.contains("read case <a href=\"#dotdot\">dotdot</a>)</p>"));
}

#[test]
fn after_the_cases_slow_clients_load_and_the_glossary() {
    let page = html(&comparison());
    let order: Vec<usize> = [
        "id=\"cases\"",
        "id=\"slow\"",
        "id=\"load\"",
        "id=\"glossary\"",
    ]
    .iter()
    .map(|id| page.find(id).unwrap())
    .collect();
    assert!(order.is_sorted(), "{order:?}");
    let slow = &page[order[1]..order[2]];
    assert!(slow.contains("not served: every worker is waiting for a slow head"));
    let load = &page[order[2]..order[3]];
    assert!(
        load.contains("<td>97</td>") && load.contains("reset 3"),
        "{load}"
    );
    let glossary = &page[order[3]..];
    for consequence in Consequence::ALL {
        assert!(glossary.contains(consequence.meaning()), "{consequence:?}");
    }
    for word in [
        "MUST",
        "SHOULD",
        "MAY",
        "pass",
        "warn",
        "fail",
        "desync",
        "smuggling pair",
        "the textbook server",
        "the sandbox secret",
        "path traversal",
    ] {
        assert!(glossary.contains(word), "{word} not in the glossary");
    }
}

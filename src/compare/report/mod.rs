//! The comparison as a reader sees it: a summary model (`summary`) and
//! one renderer per format — a terminal table and the full story of one case
//! (`text`), Markdown (`markdown`, the committed `compare/REPORT.md`), a
//! stable JSON schema ([`mod@json`]), one self-contained HTML page (`html`) and
//! JUnit XML for a course's CI (`junit`); what they all teach is worked out
//! once in `lesson`.

mod html;
pub mod json;
mod junit;
pub mod lesson;
mod markdown;
mod summary;
mod text;

pub use html::html;
pub use json::{JSON_SCHEMA, json};
pub use junit::junit;
pub use lesson::{RootCause, ServerLesson, lessons};
pub use markdown::markdown;
pub use summary::{Summary, ThemeSummary, summarize};
pub use text::{case_detail, terminal};

/// The load table's columns, as every format heads them.
pub(super) const LOAD_HEADER: [&str; 10] = [
    "server",
    "requests",
    "responses",
    "req/s",
    "MB/s",
    "p50 ms",
    "p90 ms",
    "p99 ms",
    "max ms",
    "failures",
];

/// One server's load figures as the cells under [`LOAD_HEADER`], not yet
/// escaped for any format.
pub(super) fn load_cells(l: &crate::compare::LoadResult) -> [String; 10] {
    let failures: Vec<String> = l.failures.iter().map(|(k, n)| format!("{k} {n}")).collect();
    [
        l.column.clone(),
        l.requests.to_string(),
        l.responses.to_string(),
        format!("{:.0}", l.req_per_s),
        format!("{:.1}", l.mb_per_s),
        format!("{:.2}", l.p50_ms),
        format!("{:.2}", l.p90_ms),
        format!("{:.2}", l.p99_ms),
        format!("{:.2}", l.max_ms),
        if failures.is_empty() {
            "none".to_string()
        } else {
            failures.join(", ")
        },
    ]
}

/// A segment as shown in reports: whole unless it is huge (the 70,000-byte
/// target), then its start and how much was left out.
pub(super) fn shorten(segment: &str) -> String {
    const SHOWN: usize = 240;
    if segment.len() <= SHOWN + 40 {
        return segment.to_string();
    }
    let cut = (0..=SHOWN)
        .rev()
        .find(|&i| segment.is_char_boundary(i))
        .unwrap_or(0);
    format!(
        "{}… ({} more characters)",
        &segment[..cut],
        segment.len() - cut
    )
}

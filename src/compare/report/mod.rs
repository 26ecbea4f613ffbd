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

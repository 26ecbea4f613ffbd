//! The lesson page (`compare --format html`): one self-contained HTML file
//! to hand out, no external resource, readable from disk and on paper.
//!
//! Its first screen says what is dangerous and why — the attack classes ×
//! servers matrix, each cell the worst consequence seen, then each server's
//! verdict ([`overview`]); then the root causes per server; then every case
//! with its bytes, each server's answer, what each parser understood, where
//! the messages end, the RFC, the why and the fix with its source line
//! ([`cases`], [`story`]); then slowloris and load, and a glossary ([`extras`]).
//!
//! Everything a case, a server or a `--target`'s name brings in is escaped:
//! a target can answer any bytes at all. The inline script only filters
//! and opens cases; without it every case is listed and the filters are
//! hidden. `docs/screenshots/compare-report.png` is this page's first
//! screen, taken by `tests/real_clients.sh --screenshots docs/screenshots`.

mod bytes;
mod cases;
mod extras;
mod overview;
mod story;

use super::lesson::lessons;
use crate::compare::{Comparison, Consequence, Grade};
use crate::html::escape as esc;

/// The stylesheet, screen and print, inlined into the page.
const STYLE: &str = include_str!("page.css");
/// The filters and the opening of linked cases, inlined into the page.
const SCRIPT: &str = include_str!("page.js");

/// The whole lesson page for comparison `c`.
pub fn html(c: &Comparison) -> String {
    let lessons = lessons(c);
    let mut out = String::with_capacity(1 << 20);
    out.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>twinserve compare: the lesson</title>\n<style>\n",
    );
    out.push_str(STYLE);
    out.push_str("</style></head>\n<body>\n");
    overview::first_screen(&mut out, c, &lessons);
    overview::root_causes(&mut out, c, &lessons);
    cases::cases(&mut out, c);
    extras::slow_clients(&mut out, c);
    extras::load(&mut out, c);
    extras::glossary(&mut out);
    out.push_str("<script>\n");
    out.push_str(SCRIPT);
    out.push_str("</script>\n</body></html>\n");
    out
}

/// The CSS class of a consequence's colour: one per severity band, so
/// that colour is never the only carrier of a word (the word is always
/// printed beside it).
fn severity(consequence: Consequence) -> &'static str {
    match consequence {
        Consequence::Leak | Consequence::Crash => "sev-worst",
        Consequence::Hang | Consequence::Desync => "sev-bad",
        Consequence::Wrong => "sev-wrong",
        Consequence::Refused => "sev-refused",
        Consequence::Ok => "sev-ok",
    }
}

/// A cell's mark, as in the terminal table: the dangerous consequences in
/// capitals, else the grade's sign and the word.
fn mark(consequence: Consequence, grade: Grade) -> &'static str {
    match (consequence, grade) {
        (Consequence::Leak, _) => "LEAK",
        (Consequence::Crash, _) => "CRASH",
        (Consequence::Hang, _) => "HANG",
        (Consequence::Desync, _) => "DESYNC",
        (Consequence::Refused, _) => "refused",
        (Consequence::Ok, _) => "✓ ok",
        (Consequence::Wrong, Grade::Warn) => "~ wrong",
        (Consequence::Wrong, _) => "✗ wrong",
    }
}

/// `<span class="chip sev-…">word</span>`: a consequence in its colour, the
/// word inside.
fn chip(consequence: Consequence, word: &str) -> String {
    format!(
        "<span class=\"chip {}\">{}</span>",
        severity(consequence),
        esc(word)
    )
}

/// `<a href="#id">id</a>` for a case.
fn case_link(id: &str) -> String {
    format!("<a href=\"#{0}\">{0}</a>", esc(id))
}

#[cfg(test)]
mod tests;

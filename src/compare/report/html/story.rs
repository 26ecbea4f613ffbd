//! One case's whole story, in the order a reader follows it: the bytes
//! sent, each server's answer, what each parser understood, where the
//! messages end, the rule, why it matters, and the fix beside its source line.

use std::fmt::Write as _;

use super::super::lesson::{consequence_of, grade_of};
use super::super::shorten;
use super::bytes::{HEX_BYTES, SHOWN_BYTES, escaped, hex_dump, received, thousands};
use super::{chip, esc, mark, severity};
use crate::compare::case::Case;
use crate::compare::source::Location;
use crate::compare::{CaseResult, Comparison, Crash};
use crate::introspection::ParsedRequest;

/// The most header fields shown of one parsed request (the corpus sends up
/// to a few hundred in its exhaustion cases).
const SHOWN_FIELDS: usize = 24;
/// The most characters shown of a parsed target or field value.
const SHOWN_TEXT: usize = 200;
/// The most comment lines shown above a `fix_in` line.
const SHOWN_PREAMBLE: usize = 8;

/// Everything inside an opened case; `locations` are where its `fix_in` is.
pub(super) fn story(
    out: &mut String,
    c: &Comparison,
    case: &Case,
    result: &CaseResult,
    locations: &[Location],
) {
    sent(out, case);
    answers(out, c, case, result);
    parses(out, result);
    message_ends(out, c, result);
    rule(out, case, result);
    let _ = writeln!(out, "<h4>Why it matters</h4>\n<p>{}</p>", prose(&case.why));
    fix(out, case, locations);
}

/// Escaped text with `code spans` between backticks, as the case files
/// write them.
fn prose(text: &str) -> String {
    let escaped = esc(text.trim());
    let parts: Vec<&str> = escaped.split('`').collect();
    if parts.len().is_multiple_of(2) {
        // An unpaired backtick: leave the text as written.
        return escaped;
    }
    parts
        .iter()
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 {
                format!("<code>{part}</code>")
            } else {
                part.to_string()
            }
        })
        .collect()
}

/// The send plan and every segment, escaped as in the case file and as hex.
fn sent(out: &mut String, case: &Case) {
    let segments = case.segments().unwrap_or_default();
    let mut plan = match case.send.len() {
        1 => "one write".to_string(),
        n if case.pause_ms == 0 => format!("{n} writes, back to back"),
        n => format!("{n} writes, {} ms apart", case.pause_ms),
    };
    if case.half_close {
        plan.push_str(", then a half-close (the client shuts its sending side)");
    }
    let _ = write!(
        plan,
        "; then up to {} ms for a first answer",
        case.wait().as_millis()
    );
    let _ = writeln!(out, "<h4>Sent</h4>\n<p>{plan}.</p>");
    for (i, (text, bytes)) in case.send.iter().zip(&segments).enumerate() {
        if i > 0 && case.pause_ms > 0 {
            let _ = writeln!(out, "<p class=\"pause\">pause {} ms</p>", case.pause_ms);
        }
        let _ = writeln!(
            out,
            "<div class=\"seg\"><p>write {} of {}: {} bytes, as in the case file{}</p>\
             <pre class=\"bytes\">{}</pre><pre class=\"hex\">{}</pre></div>",
            i + 1,
            case.send.len(),
            thousands(bytes.len()),
            if bytes.len() > HEX_BYTES {
                format!(" (hex: the first {HEX_BYTES})")
            } else {
                " and in hex".to_string()
            },
            escaped(text, SHOWN_BYTES),
            hex_dump(bytes)
        );
    }
    if case.half_close {
        out.push_str("<p class=\"pause\">half-close</p>\n");
    }
}

/// What each server returned, with its consequence and grade.
fn answers(out: &mut String, c: &Comparison, case: &Case, result: &CaseResult) {
    out.push_str("<h4>What each server returned</h4>\n");
    for (i, column) in c.columns.iter().enumerate() {
        let consequence = consequence_of(result, i);
        let grade = grade_of(result, case.level, i);
        let Some(outcome) = result.outcomes.get(i) else {
            let _ = writeln!(
                out,
                "<div class=\"resp edge sev-refused\"><p><b>{}</b>: not run</p></div>",
                esc(&column.name)
            );
            continue;
        };
        let _ = write!(
            out,
            "<div class=\"resp edge {}\"><p><b>{}</b> <code>{}</code> {} <span class=\"grade\">{}</span> \
             — {}</p>",
            severity(consequence),
            esc(&column.name),
            esc(&outcome.signature()),
            chip(consequence, mark(consequence, grade)),
            grade.name(),
            consequence.meaning()
        );
        if outcome.leaked() {
            out.push_str(
                "<p class=\"alarm\">The secret outside the root, or a system file, came back.</p>",
            );
        }
        match outcome.crash {
            Some(Crash::Handler) => {
                out.push_str("<p class=\"alarm\">The handler of this connection died.</p>")
            }
            Some(Crash::Server) => {
                out.push_str("<p class=\"alarm\">The server stopped answering.</p>")
            }
            None => {}
        }
        if let Some(note) = &outcome.note {
            let _ = write!(out, "<p class=\"note\">note: {}</p>", esc(note));
        }
        if let Some(ms) = outcome.first_byte_ms {
            let _ = write!(out, "<p class=\"note\">first byte after {ms:.1} ms</p>");
        }
        if outcome.received.is_empty() {
            out.push_str("<p class=\"note\">nothing received</p>");
        } else {
            let _ = write!(
                out,
                "<pre class=\"bytes\">{}</pre>",
                received(&outcome.received, &case.methods)
            );
        }
        out.push_str("</div>\n");
    }
}

/// Every request raw and hyper took from the stream, as each parsed it.
fn parses(out: &mut String, result: &CaseResult) {
    out.push_str("<h4>What each parser understood</h4>\n");
    for (name, parsed) in ["raw", "hyper"].iter().zip(&result.parsed) {
        if parsed.is_empty() {
            let _ = writeln!(
                out,
                "<p><b>{name}</b> took no request from these bytes: it answered an error, or \
                 nothing.</p>"
            );
            continue;
        }
        let _ = writeln!(
            out,
            "<p><b>{name}</b> took {} from the stream:</p>\n<table class=\"parsed\"><thead><tr>\
             <th></th><th>method</th><th>target</th><th>version</th><th>body</th>\
             <th>header fields</th></tr></thead><tbody>",
            match parsed.len() {
                1 => "one request".to_string(),
                n => format!("{n} requests"),
            }
        );
        for (n, request) in parsed.iter().enumerate() {
            parsed_row(out, n + 1, request);
        }
        out.push_str("</tbody></table>\n");
    }
}

fn parsed_row(out: &mut String, n: usize, request: &ParsedRequest) {
    let mut fields: Vec<String> = request
        .headers
        .iter()
        .take(SHOWN_FIELDS)
        .map(|(name, value)| {
            format!(
                "<code>{}: {}</code>",
                esc(&shorten_to(name, SHOWN_TEXT)),
                esc(&shorten_to(value, SHOWN_TEXT))
            )
        })
        .collect();
    if request.headers.len() > SHOWN_FIELDS {
        fields.push(format!(
            "<i class=\"cut\">… {} more</i>",
            request.headers.len() - SHOWN_FIELDS
        ));
    }
    let _ = writeln!(
        out,
        "<tr><td>{n}</td><td><code>{}</code></td><td><code>{}</code></td><td>{}</td>\
         <td>{}</td><td>{}</td></tr>",
        esc(&shorten_to(&request.method, SHOWN_TEXT)),
        esc(&shorten_to(&request.target, SHOWN_TEXT)),
        esc(&request.version),
        request.body,
        if fields.is_empty() {
            "none".to_string()
        } else {
            fields.join("<br>")
        }
    );
}

/// `text` whole, or its start and how much was left out.
fn shorten_to(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_string();
    }
    shorten(text)
}

/// How many messages each server found, and every smuggling pair.
fn message_ends(out: &mut String, c: &Comparison, result: &CaseResult) {
    let counts: Vec<String> = c
        .columns
        .iter()
        .zip(&result.outcomes)
        .map(|(column, outcome)| format!("{} {}", esc(&column.name), outcome.responses.len()))
        .collect();
    let _ = writeln!(
        out,
        "<h4>Where the messages end</h4>\n<p>Responses on the stream: {}.</p>",
        counts.join(", ")
    );
    if result.smuggling.is_empty() {
        out.push_str(
            "<p>No smuggling pair: the servers that processed these bytes (not answering \
             nothing or a rejection first) found the same number of messages.</p>\n",
        );
        return;
    }
    out.push_str("<ul class=\"pairs\">\n");
    for pair in &result.smuggling {
        let name = |i: usize| c.columns.get(i).map_or("?", |col| col.name.as_str());
        let (front, back) = (esc(name(pair.front)), esc(name(pair.back)));
        let _ = write!(
            out,
            "<li>front end <b>{front}</b> + back end <b>{back}</b>: {back} answers {} requests \
             where {front} saw {}",
            pair.back_count, pair.front_count
        );
        match &pair.smuggled {
            Some(request) => {
                let _ = writeln!(
                    out,
                    " — <code>{}</code> is smuggled past {front}.</li>",
                    esc(request)
                );
            }
            None => {
                let _ = writeln!(out, ": the extra ones pass {front} unseen.</li>");
            }
        }
    }
    out.push_str("</ul>\n");
}

/// The rule: the section, its level, its text, and the outcomes it allows.
fn rule(out: &mut String, case: &Case, result: &CaseResult) {
    let allowed: Vec<String> = case
        .conforming
        .iter()
        .map(|p| format!("<code>{}</code>", esc(&p.to_string())))
        .collect();
    let _ = writeln!(
        out,
        "<h4>The rule</h4>\n<p><b>{}</b> <span class=\"tag lvl\">{}</span></p>\n\
         <blockquote>{}</blockquote>\n<p>Outcomes it allows: {}. raw vs hyper: {}.</p>",
        esc(&case.rfc),
        case.level.label(),
        prose(&case.requires),
        allowed.join(" or "),
        result.difference.name()
    );
}

/// What raw does instead, and where: each definition `fix_in` names, with
/// its file, line, comments and the line itself.
fn fix(out: &mut String, case: &Case, locations: &[Location]) {
    let _ = writeln!(
        out,
        "<h4>The fix</h4>\n<p>{}</p>\n<p>In <code>{}</code>{}</p>",
        prose(&case.fix),
        esc(&case.fix_in),
        match locations.len() {
            0 => ", which names nothing in src/raw or src/docroot.",
            1 => ":",
            _ => ", a name defined in more than one file; the fix above says which is meant:",
        }
    );
    for location in locations {
        let first = location.line - location.preamble.len();
        let skipped = location.preamble.len().saturating_sub(SHOWN_PREAMBLE);
        let mut lines = String::new();
        for (k, text) in location.preamble.iter().enumerate().skip(skipped) {
            let _ = writeln!(lines, "{:5} │ {}", first + k, esc(text));
        }
        let _ = write!(lines, "<b>{:5} │ {}</b>", location.line, esc(location.text));
        let _ = writeln!(
            out,
            "<figure class=\"src\"><figcaption><code>{}</code></figcaption><pre>{lines}</pre></figure>",
            esc(&location.reference())
        );
    }
}

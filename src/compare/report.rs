//! The comparison as a reader sees it: a terminal table, Markdown (the
//! committed `compare/REPORT.md`, free of timings so it is deterministic), a
//! stable JSON schema, one self-contained HTML page to hand out, and the full
//! story of one case for `--case ID`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::case::{Case, escape};
use super::runner::Outcome;
use super::{CaseResult, Comparison, Difference};

/// The JSON schema's name and version; bumped on any incompatible change.
pub const JSON_SCHEMA: &str = "twinserve-compare/1";

/// Counts a summary line is made of.
#[derive(Debug, Default)]
pub struct Summary {
    pub cases: usize,
    /// Per column, cases whose outcome conforms.
    pub conforming: Vec<usize>,
    /// raw versus hyper, per class.
    pub differences: BTreeMap<Difference, usize>,
    /// Per theme: cases, conforming per column, cases where raw and hyper differ.
    pub themes: BTreeMap<String, (usize, Vec<usize>, usize)>,
    pub leaks: usize,
}

pub fn summarize(c: &Comparison) -> Summary {
    let mut summary = Summary {
        cases: c.results.len(),
        conforming: vec![0; c.columns.len()],
        ..Summary::default()
    };
    for (case, result) in c.cases.iter().zip(&c.results) {
        let theme = summary
            .themes
            .entry(case.theme.clone())
            .or_insert_with(|| (0, vec![0; c.columns.len()], 0));
        theme.0 += 1;
        for (i, ok) in result.conforms.iter().enumerate() {
            if *ok {
                summary.conforming[i] += 1;
                theme.1[i] += 1;
            }
        }
        if result.difference != Difference::Agree {
            theme.2 += 1;
        }
        *summary.differences.entry(result.difference).or_default() += 1;
        summary.leaks += result.outcomes.iter().filter(|o| o.leaked()).count();
    }
    summary
}

fn verdict_word(conforms: bool) -> &'static str {
    if conforms { "conforms" } else { "deviates" }
}

/// ANSI colours, or nothing.
struct Paint(bool);

impl Paint {
    fn wrap(&self, code: &str, text: &str) -> String {
        if self.0 {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
    fn good(&self, t: &str) -> String {
        self.wrap("32", t)
    }
    fn bad(&self, t: &str) -> String {
        self.wrap("31", t)
    }
    fn note(&self, t: &str) -> String {
        self.wrap("33", t)
    }
    fn bold(&self, t: &str) -> String {
        self.wrap("1", t)
    }
}

/// The default view: one line per case, then the summary.
pub fn terminal(c: &Comparison, colour: bool) -> String {
    let paint = Paint(colour);
    let id_width = c.cases.iter().map(|k| k.id.len()).max().unwrap_or(2).max(4);
    let cell_width = 22;
    let mut out = String::new();
    let _ = write!(out, "{:id_width$}", "case");
    for column in &c.columns {
        let _ = write!(out, "  {:cell_width$}", column.name);
    }
    out.push_str("  raw vs hyper\n");
    let mut theme = "";
    for (case, result) in c.cases.iter().zip(&c.results) {
        if case.theme != theme {
            theme = &case.theme;
            let _ = writeln!(out, "{}", paint.bold(&format!("── {theme}")));
        }
        let _ = write!(out, "{:id_width$}", case.id);
        for (outcome, conforms) in result.outcomes.iter().zip(&result.conforms) {
            let mark = if outcome.leaked() {
                "LEAK"
            } else if *conforms {
                "✓"
            } else {
                "✗"
            };
            let text = format!("{} {mark}", outcome.signature());
            // Pad before colouring: escape codes have no width on screen.
            let padded = format!("{text:cell_width$}");
            let _ = write!(
                out,
                "  {}",
                if *conforms {
                    paint.good(&padded)
                } else {
                    paint.bad(&padded)
                }
            );
        }
        let difference = result.difference.name();
        let _ = writeln!(
            out,
            "  {}",
            if result.difference == Difference::Agree {
                difference.to_string()
            } else {
                paint.note(difference)
            }
        );
    }
    out.push('\n');
    out.push_str(&summary_lines(c));
    out.push_str(&slow_clients_markdown(c));
    out.push_str(&load_table(c));
    out
}

/// The slowloris lesson: measured, but stated only in words that do not
/// depend on timing (served within the patience, or not), so the committed
/// report stays deterministic.
fn slow_clients_markdown(c: &Comparison) -> String {
    let Some(first) = c.slow_clients.first() else {
        return String::new();
    };
    let mut out = format!(
        "\n## Slow clients (slowloris)\n\n{} connections each sent half a request head and then \
         nothing; then a normal client asked for `/HelloWorld.html` and waited {} ms (the servers' \
         head timeout is {} ms).\n\n| server | normal client |\n|---|---|\n",
        first.slow_connections, first.patience_ms, first.head_timeout_ms
    );
    for s in &c.slow_clients {
        let verdict = if s.served {
            "served at once"
        } else {
            "**not served**: every worker is waiting for a slow head"
        };
        let _ = writeln!(out, "| {} | {verdict} |", s.column);
    }
    out.push_str(
        "\nThe raw backend reads every request head on a worker thread (only a keep-alive \
         connection between requests waits without one), so it stops serving new clients \
         at as many slow connections as it has workers (`--threads`, 128 by default; 256 here). Its \
         queue is first come, first served, so a normal client then waits about \
         ceil(slow connections / workers) head timeouts. hyper reads heads without holding a \
         thread, so slow clients cost it a socket each and nothing more. `tests/faults.rs` \
         measures the wait: 200 slow heads, 64 workers and a 0.8 s head timeout cost a normal \
         client 2.5 s on raw (the slow heads' timers start before it arrives) and 4 ms on \
         hyper.\n",
    );
    out
}

/// The load run as a table (Markdown, which reads well in a terminal too).
fn load_table(c: &Comparison) -> String {
    if c.load.is_empty() {
        return String::new();
    }
    let mut out = String::from(
        "\n| server | requests | responses | req/s | MB/s | p50 ms | p90 ms | p99 ms | max ms | failures |\n\
         |---|---|---|---|---|---|---|---|---|---|\n",
    );
    for l in &c.load {
        let failures: Vec<String> = l.failures.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.0} | {:.1} | {:.2} | {:.2} | {:.2} | {:.2} | {} |",
            l.column,
            l.requests,
            l.responses,
            l.req_per_s,
            l.mb_per_s,
            l.p50_ms,
            l.p90_ms,
            l.p99_ms,
            l.max_ms,
            if failures.is_empty() {
                "none".to_string()
            } else {
                failures.join(", ")
            }
        );
    }
    out
}

fn summary_lines(c: &Comparison) -> String {
    let summary = summarize(c);
    let mut out = String::new();
    let conformance: Vec<String> = c
        .columns
        .iter()
        .zip(&summary.conforming)
        .map(|(col, n)| format!("{} {n}/{}", col.name, summary.cases))
        .collect();
    let _ = writeln!(
        out,
        "{} cases. Conform to the RFC: {}.",
        summary.cases,
        conformance.join(", ")
    );
    let differences: Vec<String> = summary
        .differences
        .iter()
        .map(|(d, n)| format!("{} {n}", d.name()))
        .collect();
    let _ = writeln!(out, "raw vs hyper: {}.", differences.join(", "));
    if summary.leaks > 0 {
        let _ = writeln!(out, "SECRET LEAKED in {} outcomes.", summary.leaks);
    }
    out
}

/// Markdown for `compare/REPORT.md`: no timings and no raw bytes received
/// (they carry a `Date`), so the same code and corpus give the same file.
pub fn markdown(c: &Comparison) -> String {
    let summary = summarize(c);
    let mut out = String::new();
    out.push_str("# twinserve compare report\n\n");
    out.push_str(
        "Generated by `cargo run --release -- compare --format markdown --out compare/REPORT.md`; \
         do not edit by hand. Each case in `compare/` was sent, byte for byte, to the raw and the \
         hyper backend. An outcome is the statuses of the responses received, then how the \
         connection ended (`open`, `closed`, `reset`, or `timeout` when nothing came back); \
         ✓ means it is what the cited RFC section allows, ✗ that it is not.\n\n",
    );
    out.push_str("## Summary\n\n");
    let _ = writeln!(out, "{} cases.\n", summary.cases);
    out.push_str("| | ");
    out.push_str(&column_names(c));
    out.push_str(" |\n|---|");
    out.push_str(&"---|".repeat(c.columns.len()));
    out.push_str("\n| conform to the RFC | ");
    out.push_str(
        &summary
            .conforming
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(" | "),
    );
    out.push_str(" |\n\n");
    out.push_str("raw versus hyper, in http-garden's classes:\n\n| class | cases | meaning |\n|---|---|---|\n");
    for (difference, meaning) in [
        (
            Difference::Agree,
            "same statuses, same number of responses, same bodies",
        ),
        (
            Difference::OneRejects,
            "one side rejected the bytes, the other processed them",
        ),
        (
            Difference::Stream,
            "different numbers of responses: they disagree where messages end",
        ),
        (
            Difference::Status,
            "same number of responses, different statuses",
        ),
        (Difference::Body, "same statuses, different bodies"),
    ] {
        let n = summary.differences.get(&difference).copied().unwrap_or(0);
        let _ = writeln!(out, "| {} | {n} | {meaning} |", difference.name());
    }
    out.push_str("\n| theme | cases | ");
    out.push_str(
        &c.columns
            .iter()
            .map(|col| format!("{} conforms", col.name))
            .collect::<Vec<_>>()
            .join(" | "),
    );
    out.push_str(" | raw and hyper differ |\n|---|---|");
    out.push_str(&"---|".repeat(c.columns.len() + 1));
    out.push('\n');
    for (theme, (cases, conforming, differ)) in &summary.themes {
        let per_column: Vec<String> = conforming.iter().map(|n| n.to_string()).collect();
        let _ = writeln!(
            out,
            "| {theme} | {cases} | {} | {differ} |",
            per_column.join(" | ")
        );
    }
    if summary.leaks > 0 {
        let _ = writeln!(
            out,
            "\n**The secret outside the root leaked in {} outcomes.**",
            summary.leaks
        );
    }
    out.push_str(&slow_clients_markdown(c));
    if !c.load.is_empty() {
        out.push_str("\n## Load\n");
        out.push_str(&load_table(c));
    }

    out.push_str("\n## Every case\n");
    let mut theme = "";
    for (case, result) in c.cases.iter().zip(&c.results) {
        if case.theme != theme {
            theme = &case.theme;
            let _ = write!(out, "\n### {theme}\n\n| case | RFC | ");
            out.push_str(&column_names(c));
            out.push_str(" | raw vs hyper |\n|---|---|");
            out.push_str(&"---|".repeat(c.columns.len() + 1));
            out.push('\n');
        }
        let cells: Vec<String> = result
            .outcomes
            .iter()
            .zip(&result.conforms)
            .map(|(o, ok)| format!("`{}` {}", o.signature(), if *ok { "✓" } else { "✗" }))
            .collect();
        let _ = writeln!(
            out,
            "| [{}](#{}) | {} | {} | {} |",
            case.id,
            case.id,
            case.rfc,
            cells.join(" | "),
            result.difference.name()
        );
    }

    out.push_str("\n## The cases, one by one\n");
    for (case, result) in c.cases.iter().zip(&c.results) {
        let _ = write!(
            out,
            "\n### {}\n\n**{}** — {}\n\n",
            case.id,
            md_escape(&case.title),
            case.theme
        );
        let _ = writeln!(out, "- **{}**: {}", case.rfc, md_escape(&case.requires));
        let _ = writeln!(out, "- **Sent**: {}", plan_text(case));
        for ((column, outcome), ok) in c.columns.iter().zip(&result.outcomes).zip(&result.conforms)
        {
            let _ = writeln!(
                out,
                "- **{}**: `{}` — {}{}",
                column.name,
                outcome.signature(),
                verdict_word(*ok),
                if outcome.leaked() {
                    " — **leaked the secret**"
                } else {
                    ""
                }
            );
        }
        let _ = writeln!(out, "- **raw vs hyper**: {}", result.difference.name());
        for (name, parsed) in ["raw", "hyper"].iter().zip(&result.parsed) {
            if let Some(parsed) = parsed {
                let _ = writeln!(out, "- **{name} parsed**: `{}`", parsed_line(parsed));
            }
        }
        let _ = write!(out, "\n{}\n", md_escape(case.why.trim()));
    }
    out
}

/// A segment as shown in reports: whole unless it is huge (the 70,000-byte
/// target), then its start and how much was left out.
fn shorten(segment: &str) -> String {
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

/// The columns' names as Markdown table cells.
fn column_names(c: &Comparison) -> String {
    let names: Vec<&str> = c.columns.iter().map(|col| col.name.as_str()).collect();
    names.join(" | ")
}

/// How the bytes were sent, for people.
fn plan_text(case: &Case) -> String {
    let segments: Vec<String> = case
        .send
        .iter()
        .map(|s| format!("`{}`", md_code(&shorten(s))))
        .collect();
    let mut text = if segments.len() == 1 {
        format!("one write: {}", segments[0])
    } else {
        format!(
            "{} writes, {} ms apart: {}",
            segments.len(),
            case.pause_ms,
            segments.join(", ")
        )
    };
    if case.half_close {
        text.push_str(", then a half-close");
    }
    text
}

/// The plan without the bytes (the HTML page shows those in blocks).
fn plan_summary(case: &Case) -> String {
    let mut text = match case.send.len() {
        1 => "one write".to_string(),
        n => format!("{n} writes, {} ms apart", case.pause_ms),
    };
    if case.half_close {
        text.push_str(", then a half-close");
    }
    text
}

/// A compact one-line form of an introspection answer.
fn parsed_line(parsed: &serde_json::Value) -> String {
    let field = |k: &str| {
        parsed
            .get(k)
            .and_then(|v| v.as_str())
            .unwrap_or("?")
            .to_string()
    };
    let headers = parsed
        .get("headers")
        .and_then(|h| h.as_array())
        .map(|pairs| {
            pairs
                .iter()
                .filter_map(|p| Some(format!("{}: {}", p.get(0)?.as_str()?, p.get(1)?.as_str()?)))
                .collect::<Vec<_>>()
                .join(" / ")
        })
        .unwrap_or_default();
    md_code(&shorten(&format!(
        "{} {} {} [{}] body: {}",
        field("method"),
        field("target"),
        field("version"),
        headers,
        field("body")
    )))
}

fn md_escape(text: &str) -> String {
    text.replace('|', "\\|").replace('<', "&lt;")
}

/// Text inside backticks: a backtick would end the span.
fn md_code(text: &str) -> String {
    text.replace('`', "'").replace('|', "\\|")
}

/// The documented JSON form (schema [`JSON_SCHEMA`], see `compare/README.md`).
pub fn json(c: &Comparison) -> String {
    let summary = summarize(c);
    let column_names: Vec<&str> = c.columns.iter().map(|col| col.name.as_str()).collect();
    let cases: Vec<serde_json::Value> = c
        .cases
        .iter()
        .zip(&c.results)
        .map(|(case, result)| {
            let outcomes: serde_json::Map<String, serde_json::Value> = column_names
                .iter()
                .zip(result.outcomes.iter().zip(&result.conforms))
                .map(|(name, (outcome, ok))| ((*name).to_string(), outcome_json(outcome, *ok)))
                .collect();
            serde_json::json!({
                "id": case.id,
                "title": case.title,
                "theme": case.theme,
                "rfc": case.rfc,
                "requires": case.requires,
                "why": case.why.trim(),
                "send": case.send,
                "pause_ms": case.pause_ms,
                "half_close": case.half_close,
                "expected": { "raw": case.expect.raw, "hyper": case.expect.hyper },
                "difference": result.difference,
                "outcomes": outcomes,
                "parsed": { "raw": result.parsed.first(), "hyper": result.parsed.get(1) },
            })
        })
        .collect();
    let conforming: serde_json::Map<String, serde_json::Value> = column_names
        .iter()
        .zip(&summary.conforming)
        .map(|(name, n)| ((*name).to_string(), (*n).into()))
        .collect();
    let differences: serde_json::Map<String, serde_json::Value> = summary
        .differences
        .iter()
        .map(|(d, n)| {
            (
                serde_json::to_value(d)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default(),
                (*n).into(),
            )
        })
        .collect();
    let document = serde_json::json!({
        "schema": JSON_SCHEMA,
        "columns": column_names,
        "summary": {
            "cases": summary.cases,
            "conforming": conforming,
            "differences": differences,
            "leaks": summary.leaks,
        },
        "cases": cases,
        "load": c.load,
        "slow_clients": c.slow_clients,
    });
    serde_json::to_string_pretty(&document).unwrap_or_default()
}

fn outcome_json(outcome: &Outcome, conforms: bool) -> serde_json::Value {
    let mut value = serde_json::to_value(outcome).unwrap_or_default();
    if let Some(map) = value.as_object_mut() {
        map.insert("signature".into(), outcome.signature().into());
        map.insert("conforms".into(), conforms.into());
    }
    value
}

/// The whole story of one case: bytes sent, bytes received, verdicts, why.
pub fn case_detail(c: &Comparison, result: &CaseResult, colour: bool) -> String {
    let paint = Paint(colour);
    let Some(case) = c.cases.iter().find(|k| k.id == result.case_id) else {
        return String::new();
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{} — {} ({})",
        paint.bold(&case.id),
        case.title,
        case.theme
    );
    let _ = writeln!(out, "\n{}: {}", paint.bold(&case.rfc), case.requires);
    let _ = writeln!(out, "\n{}", paint.bold("sent"));
    for (i, segment) in case.send.iter().enumerate() {
        if i > 0 && case.pause_ms > 0 {
            let _ = writeln!(out, "  (pause {} ms)", case.pause_ms);
        }
        let _ = writeln!(out, "  {}", shorten(segment));
    }
    if case.half_close {
        let _ = writeln!(out, "  (half-close)");
    }
    for ((column, outcome), ok) in c.columns.iter().zip(&result.outcomes).zip(&result.conforms) {
        let verdict = if *ok {
            paint.good("conforms")
        } else {
            paint.bad("deviates")
        };
        let _ = writeln!(
            out,
            "\n{} → {} ({verdict})",
            paint.bold(&column.name),
            outcome.signature()
        );
        if let Some(ms) = outcome.first_byte_ms {
            let _ = writeln!(out, "  first byte after {ms} ms");
        }
        if let Some(note) = &outcome.note {
            let _ = writeln!(out, "  note: {note}");
        }
        if outcome.leaked() {
            let _ = writeln!(
                out,
                "  {}",
                paint.bad("THE SECRET OUTSIDE THE ROOT CAME BACK")
            );
        }
        let received = escape(&outcome.received);
        let shown: String = received.chars().take(1200).collect();
        let more = if received.len() > shown.len() {
            " …"
        } else {
            ""
        };
        let _ = writeln!(
            out,
            "  received: {}{more}",
            if shown.is_empty() {
                "(nothing)"
            } else {
                &shown
            }
        );
    }
    for (name, parsed) in ["raw", "hyper"].iter().zip(&result.parsed) {
        if let Some(parsed) = parsed {
            let _ = writeln!(
                out,
                "\n{} {}",
                paint.bold(&format!("{name} parsed it as")),
                parsed
            );
        }
    }
    let _ = writeln!(
        out,
        "\n{} {}",
        paint.bold("raw vs hyper:"),
        result.difference.name()
    );
    let _ = writeln!(
        out,
        "\n{}\n{}",
        paint.bold("why it matters"),
        case.why.trim()
    );
    out
}

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One self-contained page: the grid of cases × servers, each case opening to
/// its bytes, every server's raw response, the RFC text and the why.
pub fn html(c: &Comparison) -> String {
    let summary = summarize(c);
    let mut out = String::new();
    out.push_str(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>twinserve compare report</title>\n<style>\n\
         :root{color-scheme:light dark;font-family:system-ui,sans-serif;line-height:1.45}\n\
         body{max-width:72rem;margin:2rem auto;padding:0 1rem}\n\
         table{border-collapse:collapse;width:100%;margin:1rem 0}\n\
         th,td{border:1px solid #8884;padding:.3rem .5rem;text-align:left;vertical-align:top}\n\
         td.ok{background:#16a34a22}td.bad{background:#dc262633}td.diff{background:#eab30833}\n\
         code,pre{font-family:ui-monospace,monospace;font-size:.9em}\n\
         pre{white-space:pre-wrap;word-break:break-all;background:#8881;padding:.5rem;margin:.25rem 0}\n\
         details{border:1px solid #8884;border-radius:6px;margin:.5rem 0;padding:.25rem .75rem}\n\
         summary{cursor:pointer;font-weight:600}\n\
         .theme{margin-top:2rem}\n</style></head><body>\n\
         <h1>twinserve compare report</h1>\n\
         <p>The same bytes, sent to the hand-written <b>raw</b> backend and to <b>hyper</b>. \
         An outcome is the statuses received, then how the connection ended. \
         Green: what the cited RFC section allows. Red: it is not. Yellow: the two backends differ.</p>\n",
    );
    let _ = write!(
        out,
        "<h2>Summary</h2>\n<p>{} cases. Conform to the RFC: ",
        summary.cases
    );
    let conformance: Vec<String> = c
        .columns
        .iter()
        .zip(&summary.conforming)
        .map(|(col, n)| format!("<b>{}</b> {n}/{}", html_escape(&col.name), summary.cases))
        .collect();
    out.push_str(&conformance.join(", "));
    out.push_str(". raw vs hyper: ");
    let differences: Vec<String> = summary
        .differences
        .iter()
        .map(|(d, n)| format!("{} {n}", d.name()))
        .collect();
    out.push_str(&differences.join(", "));
    out.push_str(".</p>\n<table><tr><th>case</th><th>theme</th>");
    for column in &c.columns {
        let _ = write!(out, "<th>{}</th>", html_escape(&column.name));
    }
    out.push_str("<th>raw vs hyper</th></tr>\n");
    for (case, result) in c.cases.iter().zip(&c.results) {
        let _ = write!(
            out,
            "<tr><td><a href=\"#{id}\">{id}</a></td><td>{}</td>",
            html_escape(&case.theme),
            id = html_escape(&case.id)
        );
        for (outcome, ok) in result.outcomes.iter().zip(&result.conforms) {
            let _ = write!(
                out,
                "<td class=\"{}\"><code>{}</code></td>",
                if *ok { "ok" } else { "bad" },
                html_escape(&outcome.signature())
            );
        }
        let class = if result.difference == Difference::Agree {
            ""
        } else {
            " class=\"diff\""
        };
        let _ = writeln!(out, "<td{class}>{}</td></tr>", result.difference.name());
    }
    out.push_str("</table>\n");
    if !c.load.is_empty() {
        out.push_str("<h2>Load</h2>\n<table><tr><th>server</th><th>requests</th><th>req/s</th><th>p50 ms</th><th>p99 ms</th><th>max ms</th><th>failures</th></tr>\n");
        for l in &c.load {
            let failed = l.requests - l.responses;
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{:.0}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{failed}</td></tr>",
                html_escape(&l.column),
                l.requests,
                l.req_per_s,
                l.p50_ms,
                l.p99_ms,
                l.max_ms
            );
        }
        out.push_str("</table>\n");
    }
    if !c.slow_clients.is_empty() {
        out.push_str("<h2>Slow clients (slowloris)</h2>\n<table><tr><th>server</th><th>normal client</th></tr>\n");
        for s in &c.slow_clients {
            let verdict = if s.served {
                "served at once"
            } else {
                "not served: every worker waits for a slow head"
            };
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td class=\"{}\">{verdict}</td></tr>",
                html_escape(&s.column),
                if s.served { "ok" } else { "bad" }
            );
        }
        let first = &c.slow_clients[0];
        let _ = writeln!(
            out,
            "</table>\n<p>{} connections each sent half a head and then nothing; the normal client waited {} ms \
             (head timeout {} ms). The raw backend reads every request head on a worker thread, so it stops serving at as \
             many slow connections as it has workers; hyper reads heads without holding a thread.</p>",
            first.slow_connections, first.patience_ms, first.head_timeout_ms
        );
    }
    out.push_str("<h2>The cases</h2>\n");
    for (case, result) in c.cases.iter().zip(&c.results) {
        let _ = write!(
            out,
            "<details id=\"{}\"><summary>{} — {}</summary>\n<p><b>{}</b>: {}</p>\n<p><b>Sent</b> ({}):</p>\n",
            html_escape(&case.id),
            html_escape(&case.id),
            html_escape(&case.title),
            html_escape(&case.rfc),
            html_escape(&case.requires),
            html_escape(&plan_summary(case)),
        );
        for segment in &case.send {
            let _ = writeln!(out, "<pre>{}</pre>", html_escape(&shorten(segment)));
        }
        for ((column, outcome), ok) in c.columns.iter().zip(&result.outcomes).zip(&result.conforms)
        {
            let _ = writeln!(
                out,
                "<p><b>{}</b>: <code>{}</code> — {}{}</p>\n<pre>{}</pre>",
                html_escape(&column.name),
                html_escape(&outcome.signature()),
                verdict_word(*ok),
                if outcome.leaked() {
                    " — <b>leaked the secret</b>"
                } else {
                    ""
                },
                html_escape(&shorten(&escape(&outcome.received)))
            );
        }
        for (name, parsed) in ["raw", "hyper"].iter().zip(&result.parsed) {
            if let Some(parsed) = parsed {
                let _ = writeln!(
                    out,
                    "<p><b>{name} parsed it as</b></p><pre>{}</pre>",
                    html_escape(&parsed.to_string())
                );
            }
        }
        let _ = writeln!(
            out,
            "<p><b>raw vs hyper</b>: {}</p>\n<p><b>Why it matters.</b> {}</p>\n</details>",
            result.difference.name(),
            html_escape(case.why.trim())
        );
    }
    out.push_str("</body></html>\n");
    out
}

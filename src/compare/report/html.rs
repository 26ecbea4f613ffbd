//! One self-contained HTML page to hand out: the grid of cases × servers,
//! each case opening to its bytes, every server's response, the RFC and why.

use std::fmt::Write as _;

use super::{shorten, summarize, verdict_word};
use crate::compare::case::{Case, escape};
use crate::compare::{Comparison, Difference};

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
         <p>The same bytes, sent to the hand-written <b>raw</b> backend, to <b>hyper</b>, and to \
         the <b>textbook</b> server: the classic socket exercise as students write it. \
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
    out.push('.');
    if summary.leaks() > 0 {
        let leaked = summary.leaked_by(c, |name| format!("<b>{}</b>", html_escape(name)));
        let _ = write!(
            out,
            " Leaked the secret or a system file: {}.",
            leaked.join(", ")
        );
    }
    out.push_str("</p>\n<table><tr><th>case</th><th>theme</th>");
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
            let verdict = match s.why_not_served() {
                None => "served at once".to_string(),
                Some(why) => format!("not served: {why}"),
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
                match (outcome.leaked(), outcome.crash) {
                    (true, _) => " — <b>leaked the secret or a system file</b>",
                    (false, Some(crate::compare::Crash::Handler)) => " — <b>the handler died</b>",
                    (false, Some(crate::compare::Crash::Server)) => {
                        " — <b>the server stopped answering</b>"
                    }
                    (false, None) => "",
                },
                html_escape(&shorten(&escape(&outcome.received)))
            );
        }
        for (name, parsed) in ["raw", "hyper"].iter().zip(&result.parsed) {
            for (i, parsed) in parsed.iter().enumerate() {
                let then = if i == 0 { "" } else { "then " };
                let _ = writeln!(
                    out,
                    "<p><b>{name} {then}parsed it as</b></p><pre>{}</pre>",
                    html_escape(&parsed.to_json())
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

fn html_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

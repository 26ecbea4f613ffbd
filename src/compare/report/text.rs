//! The terminal's views: one line per case then the summary (the default),
//! and the whole story of one case for `--case ID`; coloured on request.

use std::fmt::Write as _;

use super::lesson::{ServerLesson, cases, consequence_of, grade_of, lessons, reachability_lines};
use super::{shorten, summarize};
use crate::compare::case::{Class, escape};
use crate::compare::{CaseResult, Comparison, Consequence, Difference, Grade, Server};

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
        for (i, outcome) in result.outcomes.iter().enumerate() {
            let consequence = consequence_of(result, i);
            let grade = grade_of(result, case.level, i);
            let text = format!("{} {}", outcome.signature(), mark(consequence, grade));
            // Pad before colouring: escape codes have no width on screen.
            let padded = format!("{text:cell_width$}");
            let _ = write!(
                out,
                "  {}",
                match grade {
                    Grade::Pass => paint.good(&padded),
                    Grade::Warn => paint.note(&padded),
                    Grade::Fail => paint.bad(&padded),
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
    out.push_str(&lesson_text(c, &paint));
    out.push_str(&slow_clients_text(c, &paint));
    out.push_str(&load_text(c, &paint));
    out
}

/// A cell's mark: the consequence in capitals where it is one of the
/// dangerous ones, else the grade.
fn mark(consequence: Consequence, grade: Grade) -> &'static str {
    match (consequence, grade) {
        (Consequence::Leak, _) => "LEAK",
        (Consequence::Crash, _) => "CRASH",
        (Consequence::Hang, _) => "HANG",
        (Consequence::Desync, _) => "DESYNC",
        (Consequence::Refused, _) => "REFUSED",
        (_, Grade::Pass) => "✓",
        (_, Grade::Warn) => "~",
        (_, Grade::Fail) => "✗",
    }
}

/// What each server does, worst first; the attack classes × servers
/// matrix; each server's root causes; and a grade for every `--target`.
fn lesson_text(c: &Comparison, paint: &Paint) -> String {
    let lessons = lessons(c);
    let mut out = String::new();
    let _ = writeln!(out, "\n{}", paint.bold("── what each server does"));
    for lesson in &lessons {
        let line = lesson.verdict();
        let _ = writeln!(
            out,
            "{}",
            if lesson.worst() >= Consequence::Desync {
                paint.bad(&line)
            } else {
                line
            }
        );
    }
    for line in reachability_lines(c) {
        let _ = writeln!(out, "{}", paint.bad(&line));
    }

    let _ = writeln!(
        out,
        "\n{}",
        paint.bold("── worst consequence per attack class")
    );
    let width = Class::ALL
        .iter()
        .map(|k| k.label().len())
        .max()
        .unwrap_or(8);
    let cell = c
        .columns
        .iter()
        .map(|col| col.name.len())
        .max()
        .unwrap_or(0)
        .max(8);
    let _ = write!(out, "{:width$}", "");
    for column in &c.columns {
        let _ = write!(out, "  {:cell$}", column.name);
    }
    out.push('\n');
    for (k, class) in Class::ALL.iter().enumerate() {
        let _ = write!(out, "{:width$}", class.label());
        for lesson in &lessons {
            let worst = lesson.classes[k].1;
            let text = format!("{:cell$}", worst.map_or("-", Consequence::name));
            let _ = write!(
                out,
                "  {}",
                match worst {
                    Some(Consequence::Ok) | None => text,
                    Some(w) if w >= Consequence::Desync => paint.bad(&text),
                    Some(_) => paint.note(&text),
                }
            );
        }
        out.push('\n');
    }

    let _ = writeln!(
        out,
        "\n{}",
        paint.bold("── root causes: each server's failures by the mistake behind them")
    );
    for lesson in lessons.iter().filter(|l| !l.causes.is_empty()) {
        let _ = writeln!(out, "{}", lesson.name);
        if let Server::Backend(_) = c.columns[lesson.column].server {
            // A careful backend's few deviations are each their own story,
            // not one of the exercise's mistakes: list them.
            for &(k, consequence) in &lesson.deviations {
                let case = &c.cases[k];
                let _ = writeln!(
                    out,
                    "  {:24}  {:7}  {} ({} {})",
                    case.id,
                    consequence.name(),
                    case.title,
                    case.rfc,
                    case.level.label()
                );
            }
            continue;
        }
        let width = lesson
            .causes
            .iter()
            .map(|cause| cause.mistake.label().len())
            .max()
            .unwrap_or(0);
        for cause in &lesson.causes {
            let _ = writeln!(
                out,
                "  {:width$}  {:>9}  worst {:7}  read first: {}",
                cause.mistake.label(),
                cases(cause.cases.len()),
                cause.worst.name(),
                cause.first
            );
        }
    }
    let targets: Vec<&ServerLesson> = lessons
        .iter()
        .filter(|l| c.columns[l.column].server == Server::Target)
        .collect();
    if !targets.is_empty() {
        let _ = writeln!(out, "\n{}", paint.bold("── your server"));
        for lesson in targets {
            let _ = writeln!(out, "{}", lesson.grade());
        }
    }
    out
}

/// The slowloris lesson as terminal lines: one per column compare ran.
fn slow_clients_text(c: &Comparison, paint: &Paint) -> String {
    let Some(first) = c.slow_clients.first() else {
        return String::new();
    };
    let mut out = format!("\n{}\n", paint.bold("── slow clients (slowloris)"));
    let _ = writeln!(
        out,
        "{} connections each sent half a request head and then nothing; then a normal client \
         asked for /HelloWorld.html and waited {} ms (head timeout {} ms).",
        first.slow_connections, first.patience_ms, first.head_timeout_ms
    );
    let width = c
        .slow_clients
        .iter()
        .map(|s| s.column.len())
        .max()
        .unwrap_or(0)
        .max(6);
    for s in &c.slow_clients {
        let verdict = match s.why_not_served() {
            None => paint.good("served at once"),
            Some(why) => paint.bad(&format!("NOT SERVED: {why}")),
        };
        let _ = writeln!(out, "{:width$}  {verdict}", s.column);
    }
    out.push_str(
        "raw gathers heads that are still arriving in one poller and hyper reads them \
         asynchronously, so neither holds a thread for a slow head; the textbook server gives \
         each connection a thread and answers whatever its one read held.\n",
    );
    out
}

/// The load run as aligned terminal columns.
fn load_text(c: &Comparison, paint: &Paint) -> String {
    if c.load.is_empty() {
        return String::new();
    }
    let header = super::LOAD_HEADER;
    let rows: Vec<[String; 10]> = c.load.iter().map(super::load_cells).collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            rows.iter()
                .map(|r| r[i].chars().count())
                .chain([header[i].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[&str]| -> String {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:w$}"))
            .collect();
        format!("{}\n", padded.join("  ").trim_end())
    };
    let mut out = format!("\n{}\n", paint.bold("── load"));
    out.push_str(&line(&header));
    for row in &rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        out.push_str(&line(&cells));
    }
    out
}

fn summary_lines(c: &Comparison) -> String {
    let summary = summarize(c);
    let mut out = String::new();
    let _ = writeln!(out, "{} cases.", summary.cases);
    let differences: Vec<String> = summary
        .differences
        .iter()
        .map(|(d, n)| format!("{} {n}", d.name()))
        .collect();
    let _ = writeln!(out, "raw vs hyper: {}.", differences.join(", "));
    if summary.leaks() > 0 {
        let _ = writeln!(
            out,
            "SECRET OR SYSTEM FILE LEAKED in {} outcomes: {}.",
            summary.leaks(),
            summary.leaked_by(c, str::to_string).join(", ")
        );
    }
    out
}

fn crash_words(crash: crate::compare::Crash) -> &'static str {
    match crash {
        crate::compare::Crash::Handler => "THE HANDLER OF THIS CONNECTION DIED",
        crate::compare::Crash::Server => "THE SERVER STOPPED ANSWERING",
    }
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
        "{} — {} ({}; {}; the mistake it probes: {})",
        paint.bold(&case.id),
        case.title,
        case.theme,
        case.class.label(),
        case.mistake.label()
    );
    let _ = writeln!(
        out,
        "\n{} ({}): {}",
        paint.bold(&case.rfc),
        case.level.label(),
        case.requires
    );
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
    for (i, (column, outcome)) in c.columns.iter().zip(&result.outcomes).enumerate() {
        let consequence = consequence_of(result, i);
        let grade = grade_of(result, case.level, i);
        let words = match consequence {
            Consequence::Ok => grade.name().to_string(),
            other => format!("{}: {}", grade.name(), other.name()),
        };
        let verdict = match grade {
            Grade::Pass => paint.good(&words),
            Grade::Warn => paint.note(&words),
            Grade::Fail => paint.bad(&words),
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
                paint.bad("THE SECRET OUTSIDE THE ROOT OR A SYSTEM FILE CAME BACK")
            );
        }
        if let Some(crash) = outcome.crash {
            let _ = writeln!(out, "  {}", paint.bad(crash_words(crash)));
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
        for (i, parsed) in parsed.iter().enumerate() {
            let label = if i == 0 {
                format!("{name} parsed it as")
            } else {
                format!("{name} then parsed")
            };
            let _ = writeln!(out, "\n{} {}", paint.bold(&label), parsed.to_json());
        }
    }
    let _ = writeln!(
        out,
        "\n{} {}",
        paint.bold("raw vs hyper:"),
        result.difference.name()
    );
    for pair in &result.smuggling {
        let _ = writeln!(
            out,
            "{} {} answered {} and kept the connection, {} answered {}{}: as a front end, {} \
             would let a request past into {}",
            paint.bold("where messages end:"),
            c.columns[pair.front].name,
            pair.front_count,
            c.columns[pair.back].name,
            pair.back_count,
            pair.smuggled
                .as_deref()
                .map(|r| format!(" (the extra one: {r})"))
                .unwrap_or_default(),
            c.columns[pair.front].name,
            c.columns[pair.back].name,
        );
    }
    let _ = writeln!(
        out,
        "\n{}\n{}",
        paint.bold("why it matters"),
        case.why.trim()
    );
    let _ = writeln!(
        out,
        "\n{}\n{}",
        paint.bold("what raw does instead"),
        case.fix.trim()
    );
    for at in crate::compare::source::locate(&case.fix_in) {
        let _ = writeln!(out, "  {}:{}  {}", at.path, at.line, at.text.trim());
    }
    out
}

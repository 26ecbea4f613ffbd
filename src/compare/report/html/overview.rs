//! The page's first screen — title, what was sent to whom, the attack
//! classes × servers matrix, each server's verdict — and the root causes
//! behind each server's failures.

use std::fmt::Write as _;

use super::super::lesson::{ServerLesson, consequence_of, counted, reachability_lines};
use super::{case_link, chip, esc, severity};
use crate::compare::case::Class;
use crate::compare::{Comparison, Consequence, Server};

/// A few words under a column's name: what stands behind it.
fn column_role(server: Server) -> &'static str {
    match server {
        Server::Backend(crate::Backend::Raw) => "twinserve's hand-written parser",
        Server::Backend(crate::Backend::Hyper) => "twinserve on the hyper library",
        Server::Textbook => "the classic socket exercise",
        Server::Target => "your server (--target)",
    }
}

/// The word a matrix cell shows (the stylesheet sets it in capitals).
fn cell_word(consequence: Consequence) -> &'static str {
    consequence.name()
}

/// Title, intro, the matrix, the verdicts, reachability and the grades of
/// `--target`s: everything a reader should see before scrolling.
pub(super) fn first_screen(out: &mut String, c: &Comparison, lessons: &[ServerLesson]) {
    let names: Vec<String> = c
        .columns
        .iter()
        .map(|col| format!("<b>{}</b> ({})", esc(&col.name), column_role(col.server)))
        .collect();
    let to_whom = match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} and {last}", rest.join(", ")),
        Some((last, _)) => last.clone(),
        None => "no server".into(),
    };
    let _ = write!(
        out,
        "<header>\n<h1>The same bytes, {servers} servers: what a hand-rolled HTTP/1.1 server gets \
         wrong</h1>\n<p class=\"intro\"><code>twinserve compare</code> sent {cases} {requests} — \
         well-formed, malformed and hostile, each tied to a sentence of RFC 9110 or 9112 — to \
         {to_whom}. Beside the document root, outside it, lies a secret file (and \
         <code>root/escape</code> links to it): a response that carries it, or a line of \
         <code>/etc/passwd</code>, is a <b>leak</b>. Each cell below is the worst that one server \
         did in one class of attack; click it for the cases. The words are explained in the \
         <a href=\"#glossary\">glossary</a>.</p>\n<nav><a href=\"#danger\">danger</a> · \
         <a href=\"#causes\">root causes</a> · <a href=\"#cases\">every case</a> · \
         <a href=\"#slow\">slow clients</a> · <a href=\"#glossary\">glossary</a></nav>\n\
         </header>\n",
        servers = c.columns.len(),
        cases = c.cases.len(),
        requests = if c.cases.len() == 1 {
            "request"
        } else {
            "requests"
        },
    );
    out.push_str("<section id=\"danger\">\n<h2>The worst each server did, by attack class</h2>\n");
    matrix(out, c, lessons);
    verdicts(out, c, lessons);
    out.push_str("</section>\n");
}

/// Attack classes × servers, the worst consequence in each cell, linking to
/// the first case that shows it (the script filters the list to all of them).
fn matrix(out: &mut String, c: &Comparison, lessons: &[ServerLesson]) {
    out.push_str("<table class=\"matrix\">\n<thead><tr><th scope=\"col\">attack class</th>");
    for column in &c.columns {
        let _ = write!(
            out,
            "<th scope=\"col\">{}<small>{}</small></th>",
            esc(&column.name),
            column_role(column.server)
        );
    }
    out.push_str("</tr></thead>\n<tbody>\n");
    for (k, class) in Class::ALL.iter().enumerate() {
        let of_class: Vec<usize> = (0..c.cases.len())
            .filter(|&n| c.cases[n].class == *class)
            .collect();
        let _ = write!(
            out,
            "<tr data-class=\"{name}\"><th scope=\"row\">{label}<small>{name} · {n} {cases}</small></th>",
            name = class.name(),
            label = class.label(),
            n = of_class.len(),
            cases = if of_class.len() == 1 { "case" } else { "cases" },
        );
        for (i, lesson) in lessons.iter().enumerate() {
            let Some(worst) = lesson.classes.get(k).and_then(|&(_, worst)| worst) else {
                out.push_str("<td class=\"cell sev-none\">no case</td>");
                continue;
            };
            let first = of_class
                .iter()
                .find(|&&n| consequence_of(&c.results[n], i) == worst)
                .map_or("cases", |&n| c.cases[n].id.as_str());
            // How many cases of the class came to each consequence but ok,
            // the worst first: how often, not only how bad.
            let counts: Vec<String> = Consequence::ALL
                .iter()
                .filter(|&&consequence| consequence != Consequence::Ok)
                .filter_map(|&consequence| {
                    let n = of_class
                        .iter()
                        .filter(|&&n| consequence_of(&c.results[n], i) == consequence)
                        .count();
                    (n > 0).then(|| counted(consequence, n))
                })
                .collect();
            let detail = if counts.is_empty() {
                format!("all {} ok", of_class.len())
            } else {
                counts.join(" · ")
            };
            let _ = write!(
                out,
                "<td class=\"cell {sev}\" data-cons=\"{word}\"><a href=\"#{first}\" \
                 data-filter-class=\"{class}\" data-filter-server=\"{i}\" \
                 data-filter-cons=\"{word}\"><b>{word}</b><small>{detail}</small></a></td>",
                sev = severity(worst),
                word = cell_word(worst),
                first = esc(first),
                class = class.name(),
            );
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table>\n");
}

/// Each server's one-line verdict, its worst consequence beside it; the
/// servers that were not there for the whole run; each `--target`'s grade.
fn verdicts(out: &mut String, c: &Comparison, lessons: &[ServerLesson]) {
    out.push_str("<ul class=\"verdicts\">\n");
    for lesson in lessons {
        let line = lesson.verdict();
        let prefix = format!("{}: ", lesson.name);
        let rest = line.strip_prefix(&prefix).unwrap_or(&line);
        let worst = lesson.worst();
        let _ = writeln!(
            out,
            "<li class=\"edge {}\">{} <b>{}</b>: {}</li>",
            severity(worst),
            chip(worst, &format!("worst: {}", worst.name())),
            esc(&lesson.name),
            esc(rest)
        );
    }
    out.push_str("</ul>\n");
    let lines = reachability_lines(c);
    if !lines.is_empty() {
        out.push_str("<ul class=\"reach\">\n");
        for line in lines {
            let _ = writeln!(out, "<li>{}</li>", esc(&line));
        }
        out.push_str("</ul>\n");
    }
    let targets: Vec<&ServerLesson> = lessons
        .iter()
        .filter(|l| c.columns[l.column].server == Server::Target)
        .collect();
    if !targets.is_empty() {
        out.push_str("<div class=\"grades\"><h3>Your server's grade</h3>\n");
        for lesson in targets {
            // The grade names the case to read for each cause: make each a link.
            let mut line = esc(&lesson.grade());
            for cause in lesson.causes.iter().take(3) {
                let id = esc(&cause.first);
                line = line.replace(
                    &format!("read case {id})"),
                    &format!("read case {})", case_link(&cause.first)),
                );
            }
            let _ = writeln!(out, "<p>{line}</p>");
        }
        out.push_str("</div>\n");
    }
}

/// Per server, why it fails: the textbook server's and each target's
/// failures grouped by the classic mistake behind them, in the order to fix
/// them; raw's and hyper's few deviations case by case, each its own story.
pub(super) fn root_causes(out: &mut String, c: &Comparison, lessons: &[ServerLesson]) {
    out.push_str(
        "<section id=\"causes\">\n<h2>Root causes</h2>\n<p>The textbook server's failures, \
         and any <code>--target</code>'s, grouped by the classic mistake of the socket exercise \
         behind them: the most serious first, each with the case to read first. raw and hyper \
         make none of these mistakes; their few deviations are listed case by case.</p>\n",
    );
    for lesson in lessons {
        let _ = writeln!(out, "<h3>{}</h3>", esc(&lesson.name));
        if let Server::Backend(_) = c.columns[lesson.column].server {
            deviations(out, c, lesson);
        } else if lesson.causes.is_empty() {
            let _ = writeln!(
                out,
                "<p>Nothing to fix: all {} cases conform.</p>",
                lesson.cases
            );
        } else {
            mistakes(out, lesson);
        }
    }
    out.push_str("</section>\n");
}

/// A backend's cases whose outcome is not ok, one row each.
fn deviations(out: &mut String, c: &Comparison, lesson: &ServerLesson) {
    let rows: Vec<String> = c
        .cases
        .iter()
        .zip(&c.results)
        .filter_map(|(case, result)| {
            let consequence = consequence_of(result, lesson.column);
            (consequence != Consequence::Ok).then(|| {
                format!(
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} <span class=\"level\">{}</span></td></tr>",
                    case_link(&case.id),
                    chip(consequence, consequence.name()),
                    esc(&case.title),
                    esc(&case.rfc),
                    case.level.label()
                )
            })
        })
        .collect();
    if rows.is_empty() {
        let _ = writeln!(
            out,
            "<p>No deviation: all {} cases conform.</p>",
            lesson.cases
        );
        return;
    }
    out.push_str(
        "<table class=\"causes\"><thead><tr><th>case</th><th>consequence</th><th>title</th>\
         <th>rule</th></tr></thead><tbody>\n",
    );
    for row in rows {
        out.push_str(&row);
        out.push('\n');
    }
    out.push_str("</tbody></table>\n");
}

/// A server's failures by mistake: label, count, worst, the case to read
/// first, and every case of it.
fn mistakes(out: &mut String, lesson: &ServerLesson) {
    out.push_str(
        "<table class=\"causes\"><thead><tr><th>mistake</th><th>cases</th><th>worst</th>\
         <th>read first</th><th>every case</th></tr></thead><tbody>\n",
    );
    for cause in &lesson.causes {
        let every: Vec<String> = cause.cases.iter().map(|id| case_link(id)).collect();
        let _ = writeln!(
            out,
            "<tr><td>{}<small><code>{}</code></small></td><td class=\"n\">{}</td><td>{}</td>\
             <td>{}</td><td class=\"ids\">{}</td></tr>",
            cause.mistake.label(),
            cause.mistake.name(),
            cause.cases.len(),
            chip(cause.worst, cause.worst.name()),
            case_link(&cause.first),
            every.join(" ")
        );
    }
    out.push_str("</tbody></table>\n");
}

//! Every case, grouped by theme and filterable by attack class, consequence
//! and server: a summary row with each server's outcome, opening to the
//! case's whole story (`story`).

use std::collections::HashMap;
use std::fmt::Write as _;

use super::super::lesson::{consequence_of, grade_of};
use super::{esc, mark, severity, story};
use crate::compare::case::{Case, Class};
use crate::compare::source::{self, Location};
use crate::compare::{CaseResult, Comparison, Consequence};

/// The filters, then every case under its theme's heading.
pub(super) fn cases(out: &mut String, c: &Comparison) {
    out.push_str(
        "<section id=\"cases\">\n<h2>Every case</h2>\n<p>Each row: the case, what it attacks, \
         how strongly the RFC binds (MUST, SHOULD, MAY), and per server the statuses it \
         received and how the connection ended, with the consequence. Open a row for the \
         bytes, the answers, the parses, the rule, why it matters and the fix.</p>\n",
    );
    filters(out, c);
    let mut located: HashMap<&str, Vec<Location>> = HashMap::new();
    let mut pairs = c.cases.iter().zip(&c.results).peekable();
    while let Some((first, _)) = pairs.peek() {
        let theme = first.theme.clone();
        let count = c.cases.iter().filter(|k| k.theme == theme).count();
        let _ = writeln!(
            out,
            "<section class=\"theme\"><h3>{} <small>{count} {}</small></h3>",
            esc(&theme),
            if count == 1 { "case" } else { "cases" }
        );
        while let Some((case, result)) = pairs.next_if(|(k, _)| k.theme == theme) {
            let locations = located
                .entry(case.fix_in.as_str())
                .or_insert_with(|| source::locate(&case.fix_in));
            one_case(out, c, case, result, locations);
        }
        out.push_str("</section>\n");
    }
    out.push_str("</section>\n");
}

/// The filter controls, hidden until the script shows them: without it
/// there is nothing to filter with, and every case is listed.
fn filters(out: &mut String, c: &Comparison) {
    out.push_str(
        "<form id=\"filters\" hidden>\n<label>attack class <select id=\"f-class\">\
         <option value=\"\">any</option>",
    );
    for class in Class::ALL {
        let _ = write!(
            out,
            "<option value=\"{}\">{}</option>",
            class.name(),
            class.label()
        );
    }
    out.push_str(
        "</select></label>\n<label>consequence <select id=\"f-cons\"><option value=\"\">any\
         </option><option value=\"bad\">anything but ok</option>",
    );
    for consequence in Consequence::ALL {
        let _ = write!(out, "<option>{}</option>", consequence.name());
    }
    out.push_str(
        "</select></label>\n<label>on <select id=\"f-server\"><option value=\"\">any server\
         </option>",
    );
    for (i, column) in c.columns.iter().enumerate() {
        let _ = write!(out, "<option value=\"{i}\">{}</option>", esc(&column.name));
    }
    out.push_str(
        "</select></label>\n<button type=\"reset\">show every case</button>\n\
         <output id=\"f-count\"></output>\n</form>\n",
    );
}

/// One case as a `<details>`: the summary row, then the whole story.
fn one_case(
    out: &mut String,
    c: &Comparison,
    case: &Case,
    result: &CaseResult,
    locations: &[Location],
) {
    let consequences: Vec<&str> = (0..c.columns.len())
        .map(|i| consequence_of(result, i).name())
        .collect();
    let _ = write!(
        out,
        "<details class=\"case\" id=\"{id}\" data-class=\"{class}\" data-cons=\"{cons}\">\n\
         <summary><span class=\"cid\">{id}</span> <span class=\"ctitle\">{title}</span> \
         <span class=\"tag\">{class}</span> <span class=\"tag lvl\">{level}</span> \
         <span class=\"sigs\">",
        id = esc(&case.id),
        class = case.class.name(),
        cons = consequences.join(" "),
        title = esc(&case.title),
        level = case.level.label(),
    );
    for (i, column) in c.columns.iter().enumerate() {
        let consequence = consequence_of(result, i);
        let grade = grade_of(result, case.level, i);
        let signature = result
            .outcomes
            .get(i)
            .map_or_else(|| "not run".to_string(), |o| o.signature());
        let _ = write!(
            out,
            "<span class=\"sig {}\" title=\"{}: {} ({})\"><i>{}</i> <code>{}</code> <b>{}</b></span>",
            severity(consequence),
            esc(&column.name),
            consequence.name(),
            grade.name(),
            esc(&column.name),
            esc(&signature),
            mark(consequence, grade)
        );
    }
    out.push_str("</span></summary>\n<div class=\"story\">\n");
    story::story(out, c, case, result, locations);
    out.push_str("</div></details>\n");
}

//! JUnit XML, for a course's CI: one test suite per server, one test case per
//! corpus case, a `<failure>` where the grade is fail and the warning in
//! `<system-out>` where it is warn. With `--target`s, only the targets are
//! suites: a student's CI grades the student's server, not the textbook one.

use std::fmt::Write as _;

use super::lesson::{consequence_of, grade_of};
use crate::compare::{Comparison, Grade, Server};

pub fn junit(c: &Comparison) -> String {
    let has_targets = c.columns.iter().any(|col| col.server == Server::Target);
    let columns: Vec<usize> = (0..c.columns.len())
        .filter(|&i| !has_targets || c.columns[i].server == Server::Target)
        .collect();
    let mut suites = String::new();
    let (mut all_tests, mut all_failures) = (0, 0);
    for &i in &columns {
        let mut cases = String::new();
        let mut failures = 0;
        for (case, result) in c.cases.iter().zip(&c.results) {
            let consequence = consequence_of(result, i);
            let grade = grade_of(result, case.level, i);
            let observed = result
                .outcomes
                .get(i)
                .map_or_else(|| "(not run)".to_string(), |o| o.signature());
            let allowed: Vec<&str> = case.conforming.iter().map(|p| p.as_str()).collect();
            let message = format!(
                "{}: {observed}; {} ({}) allows {}",
                consequence.name(),
                case.rfc,
                case.level.label(),
                allowed.join(" | ")
            );
            let explanation = format!("{}\n\nFix: {} ({})", case.why, case.fix, case.fix_in);
            let _ = write!(
                cases,
                "    <testcase classname=\"{}.{}\" name=\"{}\">",
                xml(&c.columns[i].name),
                case.class.name(),
                xml(&case.id)
            );
            match grade {
                Grade::Pass => {}
                Grade::Warn => {
                    let _ = write!(
                        cases,
                        "\n      <system-out>warning (a {} only): {}\n{}</system-out>\n    ",
                        case.level.label(),
                        xml(&message),
                        xml(&explanation)
                    );
                }
                Grade::Fail => {
                    failures += 1;
                    let _ = write!(
                        cases,
                        "\n      <failure type=\"{}\" message=\"{}\">{}</failure>\n    ",
                        consequence.name(),
                        xml(&message),
                        xml(&explanation)
                    );
                }
            }
            cases.push_str("</testcase>\n");
        }
        all_tests += c.cases.len();
        all_failures += failures;
        let _ = write!(
            suites,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\">\n{cases}  </testsuite>\n",
            xml(&c.columns[i].name),
            c.cases.len()
        );
    }
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <testsuites name=\"twinserve compare\" tests=\"{all_tests}\" failures=\"{all_failures}\">\n\
         {suites}</testsuites>\n"
    )
}

/// Escapes text for an XML attribute or element, dropping the control
/// characters XML 1.0 cannot carry at all.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(ch),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::xml;

    #[test]
    fn markup_and_control_bytes_never_reach_the_xml() {
        assert_eq!(
            xml("a<b>&\"'\u{0}\u{1b}\n"),
            "a&lt;b&gt;&amp;&quot;&apos;\\x00\\x1b\n"
        );
    }
}

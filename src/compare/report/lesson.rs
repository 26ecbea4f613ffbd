//! The lesson a comparison teaches, worked out once for every format: per
//! server, the worst consequence in each attack class, the failures grouped
//! by the mistake behind them, a one-line verdict, and the grade that tells a
//! student what to fix first.

use crate::compare::case::{Class, Level, Mistake};
use crate::compare::{CaseResult, Comparison, Consequence, Grade};

/// One server's failures that share a mistake.
#[derive(Debug, Clone)]
pub struct RootCause {
    pub mistake: Mistake,
    /// The cases it failed for this mistake, in corpus order.
    pub cases: Vec<String>,
    /// The worst consequence among them.
    pub worst: Consequence,
    /// The case to read first: the worst consequence, a MUST before a
    /// SHOULD, then corpus order.
    pub first: String,
}

/// Everything the reports say about one column.
#[derive(Debug, Clone)]
pub struct ServerLesson {
    /// Index into the comparison's columns.
    pub column: usize,
    pub name: String,
    /// Cases run on this column.
    pub cases: usize,
    /// Outcomes graded pass, warn and fail.
    pub passed: usize,
    pub warned: usize,
    pub failed: usize,
    /// Outcomes per consequence other than ok, the worst first, none empty.
    pub counts: Vec<(Consequence, usize)>,
    /// The worst consequence in each attack class, in [`Class::ALL`] order
    /// (`None` where the corpus has no case of that class).
    pub classes: Vec<(Class, Option<Consequence>)>,
    /// Failures (and warnings) grouped by mistake, the most serious first.
    pub causes: Vec<RootCause>,
    /// Every case that did not pass, in corpus order, with its consequence:
    /// how raw's and hyper's few deviations are listed, each its own story.
    pub deviations: Vec<(usize, Consequence)>,
}

impl ServerLesson {
    /// `textbook: 45/132 pass — 5 leaks, 4 crashes, 1 hang, 4 desyncs, 73 wrong (…)`.
    pub fn verdict(&self) -> String {
        let mut line = format!("{}: {}/{} pass", self.name, self.passed, self.cases);
        if self.counts.is_empty() {
            line.push_str(" — nothing dangerous, nothing wrong");
        } else {
            let counts: Vec<String> = self
                .counts
                .iter()
                .map(|&(consequence, n)| counted(consequence, n))
                .collect();
            line.push_str(" — ");
            line.push_str(&counts.join(", "));
        }
        if self.warned > 0 {
            line.push_str(&format!(
                " ({} of them only against a SHOULD or a MAY)",
                self.warned
            ));
        }
        line
    }

    /// The grade a student reads first: the score, then up to three root
    /// causes in the order to fix them, each with the case to read.
    pub fn grade(&self) -> String {
        let mut line = format!("{}: {}/{}", self.name, self.passed, self.cases);
        if self.counts == [(Consequence::Refused, self.cases)] {
            line.push_str(" — nothing answered: start the server (see --fixture) and run again");
            return line;
        }
        let fixes: Vec<String> = self
            .causes
            .iter()
            .take(3)
            .map(|cause| {
                format!(
                    "{} ({}, worst: {}; read case {})",
                    cause.mistake.label(),
                    cases(cause.cases.len()),
                    cause.worst.name(),
                    cause.first
                )
            })
            .collect();
        match fixes.split_first() {
            None => line.push_str(" — nothing to fix"),
            Some((first, rest)) => {
                line.push_str(" — fix first: ");
                line.push_str(first);
                for fix in rest {
                    line.push_str(", then ");
                    line.push_str(fix);
                }
            }
        }
        line
    }

    /// The worst consequence over every case.
    pub fn worst(&self) -> Consequence {
        self.counts
            .first()
            .map_or(Consequence::Ok, |&(consequence, _)| consequence)
    }
}

/// `1 case`, `5 cases`.
pub fn cases(n: usize) -> String {
    if n == 1 {
        "1 case".to_string()
    } else {
        format!("{n} cases")
    }
}

/// `5 leaks`, `1 hang`, `58 wrong`.
pub fn counted(consequence: Consequence, n: usize) -> String {
    let word = consequence.name();
    match consequence {
        Consequence::Wrong | Consequence::Refused | Consequence::Ok => format!("{n} {word}"),
        Consequence::Crash if n != 1 => format!("{n} crashes"),
        _ if n != 1 => format!("{n} {word}s"),
        _ => format!("{n} {word}"),
    }
}

/// The grade of column `i`'s outcome in `result`, weighed by the case's level.
pub fn grade_of(result: &CaseResult, level: Level, i: usize) -> Grade {
    result
        .consequences
        .get(i)
        .copied()
        .unwrap_or(Consequence::Refused)
        .grade(level == Level::Must)
}

/// The consequence of column `i`'s outcome; a case that did not run on the
/// column counts as refused.
pub fn consequence_of(result: &CaseResult, i: usize) -> Consequence {
    result
        .consequences
        .get(i)
        .copied()
        .unwrap_or(Consequence::Refused)
}

/// Works out every column's lesson.
pub fn lessons(c: &Comparison) -> Vec<ServerLesson> {
    (0..c.columns.len()).map(|i| lesson(c, i)).collect()
}

/// One failure behind a mistake: the case's index, its consequence, and the
/// level of the rule it broke.
type Failure = (usize, Consequence, Level);

fn lesson(c: &Comparison, i: usize) -> ServerLesson {
    let mut passed = 0;
    let mut warned = 0;
    let mut failed = 0;
    let mut counts = [0usize; Consequence::ALL.len()];
    let mut classes: Vec<(Class, Option<Consequence>)> =
        Class::ALL.iter().map(|&class| (class, None)).collect();
    let mut by_mistake: Vec<(Mistake, Vec<Failure>)> = Mistake::ALL
        .iter()
        .map(|&mistake| (mistake, Vec::new()))
        .collect();
    for (k, (case, result)) in c.cases.iter().zip(&c.results).enumerate() {
        let consequence = consequence_of(result, i);
        match grade_of(result, case.level, i) {
            Grade::Pass => passed += 1,
            Grade::Warn => warned += 1,
            Grade::Fail => failed += 1,
        }
        if let Some(slot) = Consequence::ALL.iter().position(|&x| x == consequence) {
            counts[slot] += 1;
        }
        if let Some((_, worst)) = classes.iter_mut().find(|(class, _)| *class == case.class) {
            *worst = Some(worst.map_or(consequence, |w| w.max(consequence)));
        }
        // Nothing listening is no mistake of the parser's: it has no root cause.
        if !matches!(consequence, Consequence::Ok | Consequence::Refused)
            && let Some((_, failures)) = by_mistake.iter_mut().find(|(m, _)| *m == case.mistake)
        {
            failures.push((k, consequence, case.level));
        }
    }
    let deviations = c
        .results
        .iter()
        .enumerate()
        .map(|(k, result)| (k, consequence_of(result, i)))
        .filter(|&(_, consequence)| consequence != Consequence::Ok)
        .collect();
    let mut causes: Vec<RootCause> = by_mistake
        .into_iter()
        .filter(|(_, failures)| !failures.is_empty())
        .map(|(mistake, failures)| {
            let worst = failures
                .iter()
                .map(|&(_, c, _)| c)
                .max()
                .unwrap_or(Consequence::Ok);
            let first = failures
                .iter()
                .min_by_key(|&&(k, consequence, level)| {
                    (std::cmp::Reverse(consequence), level != Level::Must, k)
                })
                .map(|&(k, _, _)| c.cases[k].id.clone())
                .unwrap_or_default();
            RootCause {
                mistake,
                cases: failures
                    .iter()
                    .map(|&(k, _, _)| c.cases[k].id.clone())
                    .collect(),
                worst,
                first,
            }
        })
        .collect();
    causes.sort_by_key(|cause| {
        (
            std::cmp::Reverse(cause.worst),
            std::cmp::Reverse(cause.cases.len()),
        )
    });
    ServerLesson {
        column: i,
        name: c.columns[i].name.clone(),
        cases: c.cases.len(),
        passed,
        warned,
        failed,
        counts: Consequence::ALL
            .iter()
            .zip(counts)
            .filter(|&(&consequence, n)| consequence != Consequence::Ok && n > 0)
            .map(|(&consequence, n)| (consequence, n))
            .collect(),
        classes,
        causes,
        deviations,
    }
}

/// One line for each column that was not there for the whole run: never
/// reached, stopped answering, or restarted after dying.
pub fn reachability_lines(c: &Comparison) -> Vec<String> {
    c.reachability
        .iter()
        .filter_map(|reach| {
            if !reach.answered_before {
                Some(format!(
                    "{} did not answer the baseline request before the run",
                    reach.column
                ))
            } else if let Some(stopped) = &reach.stopped {
                Some(match (&stopped.died_on, &stopped.last_answered) {
                    (Some(case), _) => format!(
                        "{} stopped answering: it died on case {case} (theme {}), and later cases \
                         are refused",
                        reach.column, stopped.after_theme
                    ),
                    (None, Some(case)) => format!(
                        "{} stopped answering during theme {}; the last case it answered was {case}, \
                         and later cases are refused",
                        reach.column, stopped.after_theme
                    ),
                    (None, None) => format!(
                        "{} stopped answering during theme {} before answering any case",
                        reach.column, stopped.after_theme
                    ),
                })
            } else if reach.restarts > 0 {
                Some(format!(
                    "{} died {} and was started again so that later cases still run",
                    reach.column,
                    if reach.restarts == 1 {
                        "once".to_string()
                    } else {
                        format!("{} times", reach.restarts)
                    }
                ))
            } else {
                None
            }
        })
        .collect()
}

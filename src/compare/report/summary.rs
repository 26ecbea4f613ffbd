//! The counts every report opens with: cases, conformance per column,
//! raw-versus-hyper differences per class, and the same per theme.

use std::collections::BTreeMap;

use crate::compare::{Comparison, Difference};

/// The counts a summary is made of.
#[derive(Debug, Default)]
pub struct Summary {
    pub cases: usize,
    /// Per column, cases whose outcome conforms.
    pub conforming: Vec<usize>,
    /// raw versus hyper, per class.
    pub differences: BTreeMap<Difference, usize>,
    /// Per theme, by name.
    pub themes: BTreeMap<String, ThemeSummary>,
    /// Per column, outcomes that carried the secret or a system file.
    pub leaked: Vec<usize>,
}

impl Summary {
    /// Outcomes, on any column, that carried the secret or a system file.
    pub fn leaks(&self) -> usize {
        self.leaked.iter().sum()
    }

    /// `name count` for every column that leaked, in column order.
    pub fn leaked_by(&self, c: &Comparison, name: impl Fn(&str) -> String) -> Vec<String> {
        c.columns
            .iter()
            .zip(&self.leaked)
            .filter(|(_, n)| **n > 0)
            .map(|(col, n)| format!("{} {n}", name(&col.name)))
            .collect()
    }
}

/// One theme's share of the summary.
#[derive(Debug, Default)]
pub struct ThemeSummary {
    pub cases: usize,
    /// Per column, cases whose outcome conforms.
    pub conforming: Vec<usize>,
    /// Cases where raw and hyper differ.
    pub differ: usize,
}

pub fn summarize(c: &Comparison) -> Summary {
    let mut summary = Summary {
        cases: c.results.len(),
        conforming: vec![0; c.columns.len()],
        leaked: vec![0; c.columns.len()],
        ..Summary::default()
    };
    for (case, result) in c.cases.iter().zip(&c.results) {
        let theme = summary
            .themes
            .entry(case.theme.clone())
            .or_insert_with(|| ThemeSummary {
                conforming: vec![0; c.columns.len()],
                ..ThemeSummary::default()
            });
        theme.cases += 1;
        for (i, ok) in result.conforms.iter().enumerate() {
            if *ok {
                summary.conforming[i] += 1;
                theme.conforming[i] += 1;
            }
        }
        if result.difference != Difference::Agree {
            theme.differ += 1;
        }
        *summary.differences.entry(result.difference).or_default() += 1;
        for (i, outcome) in result.outcomes.iter().enumerate() {
            if outcome.leaked() {
                summary.leaked[i] += 1;
            }
        }
    }
    summary
}

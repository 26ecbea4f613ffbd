//! Ten consecutive runs of the whole corpus on raw, hyper and the textbook
//! server give the same outcome and the same consequence for every case on
//! every server: a lesson that changes between runs teaches nothing. The one
//! pin that allows two outcomes (`dotdot-deep`, whose `..` reach
//! `/etc/passwd` only from a shallow temporary folder) must still give one
//! outcome within a run of this process, since the folder depth is fixed.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use twinserve::compare::{self, Fixture, case};

const RUNS: usize = 10;

fn project(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

#[test]
fn ten_runs_give_the_same_outcomes() {
    let cases = case::load_dir(&project("compare")).unwrap();
    // (case, column) → every (signature, consequence) seen.
    let mut seen: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for run in 0..RUNS {
        // A fresh fixture each time, as each `twinserve compare` has.
        let fixture = Fixture::start(&project("site")).unwrap();
        let comparison = compare::run_corpus(cases.clone(), &fixture, &[], &|_| {});
        let mismatches = compare::check(&comparison);
        assert!(
            mismatches.is_empty(),
            "run {run}: outcomes left their pins: {mismatches:#?}"
        );
        for result in &comparison.results {
            for (i, column) in comparison.columns.iter().enumerate() {
                let outcome = &result.outcomes[i];
                seen.entry((result.case_id.clone(), column.name.clone()))
                    .or_default()
                    .insert(format!(
                        "{} {}",
                        outcome.signature(),
                        result.consequences[i].name()
                    ));
            }
        }
    }
    let spread: Vec<String> = seen
        .iter()
        .filter(|(_, outcomes)| outcomes.len() > 1)
        .map(|((id, column), outcomes)| format!("{id} on {column}: {outcomes:?}"))
        .collect();
    assert!(
        spread.is_empty(),
        "outcomes that changed over {RUNS} runs:\n{}",
        spread.join("\n")
    );
    assert_eq!(seen.len(), cases.len() * 3, "every case on every server");
}

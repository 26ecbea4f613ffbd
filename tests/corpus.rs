//! The corpus as data, without running a server: every case file loads with
//! its class, level, mistake and fix; every `fix_in` names an item that
//! exists in the raw backend or in docroot; and every `why` says what the
//! textbook server did with the case's bytes. Each check is a function that
//! returns what it found wrong, so that a test can also show it catches a
//! broken case.

use std::path::Path;

use twinserve::compare::case::{self, Class, Level, Mistake};
use twinserve::compare::{Case, End, Outcome, source};

fn corpus() -> Vec<Case> {
    case::load_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("compare")).unwrap()
}

/// Cases whose `fix_in` names nothing that exists: no variant of
/// `ParseError`, no `fn` in `src/raw` or `src/docroot` outside tests (the
/// lookup the lesson page shows the line of).
fn unknown_fix_in(cases: &[Case]) -> Vec<(&str, &str)> {
    cases
        .iter()
        .filter(|c| source::locate(&c.fix_in).is_empty())
        .map(|c| (c.id.as_str(), c.fix_in.as_str()))
        .collect()
}

/// The outcomes a pin stands for: one per `|` alternative, built from its
/// statuses and its end. Pins of the textbook server are exact (no `4xx`).
fn pinned_outcomes(pin: &str) -> Vec<Outcome> {
    pin.split('|')
        .map(|alternative| {
            let tokens: Vec<&str> = alternative.split_whitespace().collect();
            let (end, statuses) = match tokens.split_last() {
                Some((last, rest)) if End::from_name(last).is_some() => {
                    (End::from_name(last).unwrap(), rest)
                }
                _ => (End::Closed, &tokens[..]),
            };
            let statuses: Vec<u16> = statuses
                .iter()
                .filter(|t| **t != "-")
                .map(|t| {
                    t.parse()
                        .unwrap_or_else(|_| panic!("{pin}: {t} is not exact"))
                })
                .collect();
            Outcome::of_statuses(&statuses, end)
        })
        .collect()
}

/// Whether every outcome the textbook pin allows matches a conforming pattern.
fn textbook_pin_conforms(case: &Case) -> bool {
    pinned_outcomes(case.expect.textbook.as_str())
        .iter()
        .all(|outcome| case.conforming.iter().any(|p| p.matches(outcome)))
}

/// The corpus's one way of naming the exercise server in a `why`.
const TEXTBOOK: &str = "textbook server";

/// Cases whose `why` does not say what the textbook server did — required
/// of every case whose textbook pin deviates (`deviating_only`), or of all.
fn whys_without_the_textbook_server(cases: &[Case], deviating_only: bool) -> Vec<&str> {
    cases
        .iter()
        .filter(|c| !deviating_only || !textbook_pin_conforms(c))
        .filter(|c| !c.why.contains(TEXTBOOK) || c.why.to_lowercase().contains("naive"))
        .map(|c| c.id.as_str())
        .collect()
}

#[test]
fn every_case_loads_with_its_class_level_and_mistake() {
    let cases = corpus();
    // The corpus's size is stated in the README and the docs: they must say it right.
    for doc in ["README.md", "docs/behaviour.md"] {
        let text =
            std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(doc)).unwrap();
        let stated = format!("{} request cases", cases.len());
        assert!(text.contains(&stated), "{doc} does not say {stated:?}");
    }
    for c in &cases {
        assert!(c.fix.trim().len() > 20, "{}: the fix is too thin", c.id);
        assert!(
            c.fix.contains("raw") || c.fix.contains("docroot"),
            "{}: the fix says what raw or docroot does: {}",
            c.id,
            c.fix
        );
    }
    // Every class and level is used; the mistakes the corpus probes cover
    // the exercise's classic ones.
    for class in Class::ALL {
        assert!(cases.iter().any(|c| c.class == *class), "no {class} case");
    }
    for level in Level::ALL {
        assert!(cases.iter().any(|c| c.level == *level), "no {level} case");
    }
    for mistake in Mistake::ALL {
        assert!(
            cases.iter().any(|c| c.mistake == *mistake),
            "no case probes {mistake}"
        );
    }
    // A leak is a traversal, whatever else the case tests.
    for id in [
        "dotdot",
        "dotdot-deep",
        "dotdot-to-root",
        "absolute-after-slash",
        "symlink-out",
    ] {
        let c = cases.iter().find(|c| c.id == id).unwrap();
        assert_eq!(
            (c.class, c.mistake),
            (Class::Traversal, Mistake::PathUnconfined),
            "{id}"
        );
    }
    let announced: Vec<&str> = cases
        .iter()
        .filter(|c| c.closing_announced)
        .map(|c| c.id.as_str())
        .collect();
    assert_eq!(announced, ["close-without-saying"]);
}

#[test]
fn every_fix_in_names_an_item_of_raw_or_docroot() {
    for variant in [
        "Incomplete",
        "BareCr",
        "InvalidContentLength",
        "UnknownTransferCoding",
    ] {
        let found = source::locate(&format!("ParseError::{variant}"));
        assert_eq!(found.len(), 1, "{variant}: {found:?}");
        assert_eq!(found[0].path, "src/raw/request.rs");
    }
    let cases = corpus();
    assert_eq!(unknown_fix_in(&cases), Vec::<(&str, &str)>::new());

    // The check can fail: a variant or a function that does not exist, and
    // names that exist only as something else.
    let mut broken = cases[0].clone();
    for name in [
        "ParseError::NoSuchRule",
        "no_such_function",
        "ParseError::status",
        "ParseError",
        "Incomplete",
        "BodyFraming",
    ] {
        broken.fix_in = name.to_string();
        assert_eq!(
            unknown_fix_in(std::slice::from_ref(&broken)),
            [(broken.id.as_str(), name)],
            "{name} was taken for an item"
        );
    }
}

#[test]
fn every_why_says_what_the_textbook_server_did() {
    let cases = corpus();
    // The textbook pins that deviate are most of the corpus, and the rule
    // holds for them and, as the corpus's convention, for every other case.
    let deviating = cases.iter().filter(|c| !textbook_pin_conforms(c)).count();
    assert!(deviating > 60, "{deviating} deviating textbook pins");
    assert_eq!(
        whys_without_the_textbook_server(&cases, true),
        Vec::<&str>::new()
    );
    assert_eq!(
        whys_without_the_textbook_server(&cases, false),
        Vec::<&str>::new()
    );

    // The check can fail: a why about some naive server, on a case whose
    // textbook pin deviates, and on one whose pin conforms.
    let pick = |id: &str| cases.iter().find(|c| c.id == id).unwrap().clone();
    let (mut deviates, mut conforms) = (pick("dotdot"), pick("bare-lf"));
    assert!(!textbook_pin_conforms(&deviates) && textbook_pin_conforms(&conforms));
    for c in [&mut deviates, &mut conforms] {
        c.why = "A naive server joins the path to its root.".into();
    }
    let broken = [deviates, conforms];
    assert_eq!(whys_without_the_textbook_server(&broken, true), ["dotdot"]);
    assert_eq!(
        whys_without_the_textbook_server(&broken, false),
        ["dotdot", "bare-lf"]
    );
}

#[test]
fn a_pin_stands_for_the_outcomes_it_names() {
    let outcomes = pinned_outcomes("200 closed|404 closed");
    let statuses: Vec<(Vec<u16>, End)> = outcomes
        .iter()
        .map(|o| (o.responses.iter().map(|r| r.status).collect(), o.end))
        .collect();
    assert_eq!(
        statuses,
        [(vec![200], End::Closed), (vec![404], End::Closed)]
    );
    let none = pinned_outcomes("- timeout");
    assert!(none[0].responses.is_empty() && none[0].end == End::Timeout);
}

//! What an outcome costs, in one word ordered by severity — a leak, a crash, a
//! hang, a desync, a wrong answer, a refused connection or nothing — and the
//! grade that follows from it and the requirement level of the rule.

use serde::{Deserialize, Serialize};

use super::runner::{End, Outcome};
use super::verdict::{self, Pattern};

/// The worst thing an outcome shows. Declared from the least severe to the
/// most, so that the derived order makes `max()` pick the worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Consequence {
    Ok,
    Refused,
    Wrong,
    Desync,
    Hang,
    Crash,
    Leak,
}

impl Consequence {
    /// Every consequence, the worst first: the order of a glossary.
    pub const ALL: [Consequence; 7] = [
        Consequence::Leak,
        Consequence::Crash,
        Consequence::Hang,
        Consequence::Desync,
        Consequence::Wrong,
        Consequence::Refused,
        Consequence::Ok,
    ];

    /// The word in reports and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Consequence::Leak => "leak",
            Consequence::Crash => "crash",
            Consequence::Hang => "hang",
            Consequence::Desync => "desync",
            Consequence::Wrong => "wrong",
            Consequence::Refused => "refused",
            Consequence::Ok => "ok",
        }
    }

    /// One line for a glossary.
    pub fn meaning(self) -> &'static str {
        match self {
            Consequence::Leak => "a response carried the secret outside the root or a system file",
            Consequence::Crash => "the handler or the whole server died on these bytes",
            Consequence::Hang => "no response, and the connection still open when the wait ran out",
            Consequence::Desync => {
                "responses do not match the requests on the stream: one too many (a body or a \
                 leftover run as a request) or requests lost"
            }
            Consequence::Wrong => "an answer the RFC does not allow",
            Consequence::Refused => "nothing listening: the server could not be reached",
            Consequence::Ok => "what the RFC allows",
        }
    }

    /// The consequence of `outcome`, given whether it conforms (a case may ask
    /// more of an outcome than its patterns say: see
    /// [`Case::conforms`](super::Case::conforms)) and the case's conforming
    /// patterns. A leak or a crash outweighs anything the statuses say, and a
    /// server never reached did nothing else.
    pub fn given(conforms: bool, conforming: &[Pattern], outcome: &Outcome) -> Consequence {
        if outcome.leaked() {
            Consequence::Leak
        } else if outcome.crash.is_some() {
            Consequence::Crash
        } else if outcome.end == End::Refused {
            Consequence::Refused
        } else if conforms {
            Consequence::Ok
        } else if outcome.end == End::Timeout {
            Consequence::Hang
        } else if desync(conforming, outcome) {
            Consequence::Desync
        } else {
            Consequence::Wrong
        }
    }

    /// The grade of an outcome with this consequence; `must`: the case's rule
    /// is a MUST (or MUST NOT), not a SHOULD or a MAY.
    pub fn grade(self, must: bool) -> Grade {
        match self {
            Consequence::Ok => Grade::Pass,
            Consequence::Wrong if !must => Grade::Warn,
            _ => Grade::Fail,
        }
    }
}

/// More responses than any conforming alternative allows, or some but fewer
/// than every one requires: the server split the stream into a different
/// number of messages than the RFC's framing gives.
fn desync(conforming: &[Pattern], outcome: &Outcome) -> bool {
    let counts: Vec<usize> = conforming
        .iter()
        .flat_map(Pattern::response_counts)
        .collect();
    let (Some(&fewest), Some(&most)) = (counts.iter().min(), counts.iter().max()) else {
        return false;
    };
    let n = outcome.responses.len();
    // Extra answers that only refuse (a 408 before closing an idle
    // connection, a 400 for leftover bytes) ran nothing: wrong at worst.
    let extra_served = outcome
        .responses
        .iter()
        .skip(most)
        .any(|r| !verdict::is_rejection(r.status));
    (n > most && extra_served) || (n > 0 && n < fewest)
}

/// An outcome's verdict, weighed by the requirement level of the rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Grade {
    /// It conforms.
    Pass,
    /// Only a wrong answer, on a rule that is a SHOULD or a MAY.
    Warn,
    /// Anything else: a leak, a crash, a hang, a desync, a refused
    /// connection, or a wrong answer on a MUST.
    Fail,
}

impl Grade {
    pub fn name(self) -> &'static str {
        match self {
            Grade::Pass => "pass",
            Grade::Warn => "warn",
            Grade::Fail => "fail",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::runner;
    use super::*;

    impl Consequence {
        /// As a case without `closing_announced` judges it.
        fn of(conforming: &[Pattern], outcome: &Outcome) -> Consequence {
            Consequence::given(verdict::conforms(conforming, outcome), conforming, outcome)
        }
    }

    fn outcome(statuses: &[u16], end: End) -> Outcome {
        Outcome::of_statuses(statuses, end)
    }

    fn patterns(texts: &[&str]) -> Vec<Pattern> {
        texts.iter().map(|t| Pattern::parse(t).unwrap()).collect()
    }

    #[test]
    fn max_picks_the_worst() {
        use Consequence::*;
        let by_severity = [Ok, Refused, Wrong, Desync, Hang, Crash, Leak];
        for pair in by_severity.windows(2) {
            assert!(pair[0] < pair[1], "{:?} < {:?}", pair[0], pair[1]);
        }
        assert_eq!([Wrong, Leak, Hang, Ok].into_iter().max(), Some(Leak));
        assert_eq!([Refused, Desync, Wrong].into_iter().max(), Some(Desync));
        assert_eq!([Ok, Refused].into_iter().max(), Some(Refused));
        // The glossary lists them worst first, each once, with its JSON name.
        let mut glossary = Consequence::ALL.to_vec();
        glossary.reverse();
        assert_eq!(glossary, by_severity);
        for c in Consequence::ALL {
            assert_eq!(serde_json::to_value(c).unwrap(), c.name());
            assert!(!c.meaning().is_empty());
        }
    }

    #[test]
    fn an_extra_answer_that_only_refuses_ran_nothing() {
        use Consequence::*;
        let silent = patterns(&["- closed"]);
        // A 408 before closing an idle connection where only a silent close
        // is allowed: no request ran, so not a desync.
        assert_eq!(
            Consequence::of(&silent, &outcome(&[408], End::Closed)),
            Wrong
        );
        let one = patterns(&["405 closed"]);
        assert_eq!(
            Consequence::of(&one, &outcome(&[405, 400], End::Closed)),
            Wrong
        );
        // The same count with a request served from the leftover bytes.
        assert_eq!(
            Consequence::of(&one, &outcome(&[405, 200], End::Closed)),
            Desync
        );
        assert_eq!(
            Consequence::of(&one, &outcome(&[405, 404], End::Closed)),
            Desync
        );
    }

    #[test]
    fn each_outcome_gets_its_consequence() {
        use Consequence::*;
        let one = patterns(&["200 open", "200 closed"]);
        let two = patterns(&["200 200 open", "200 200 closed"]);
        let silent = patterns(&["400 closed", "- closed"]);
        assert_eq!(Consequence::of(&one, &outcome(&[200], End::Open)), Ok);
        assert_eq!(Consequence::of(&one, &outcome(&[404], End::Open)), Wrong);
        assert_eq!(Consequence::of(&one, &outcome(&[], End::Timeout)), Hang);
        assert_eq!(Consequence::of(&one, &outcome(&[], End::Closed)), Wrong);
        assert_eq!(
            Consequence::of(&one, &outcome(&[200, 200], End::Open)),
            Desync
        );
        assert_eq!(Consequence::of(&two, &outcome(&[200], End::Closed)), Desync);
        assert_eq!(Consequence::of(&two, &outcome(&[], End::Closed)), Wrong);
        assert_eq!(
            Consequence::of(&one, &Outcome::refused("connect".into())),
            Refused
        );
        let mut died = outcome(&[], End::Closed);
        assert_eq!(Consequence::of(&silent, &died), Ok);
        died.crash = Some(runner::Crash::Handler);
        assert_eq!(Consequence::of(&silent, &died), Crash);
        let mut leaked = outcome(&[200], End::Closed);
        leaked.responses[0].leaked = true;
        leaked.crash = Some(runner::Crash::Server);
        assert_eq!(Consequence::of(&one, &leaked), Leak);
    }

    #[test]
    fn grades_weigh_the_level() {
        use Consequence::*;
        assert_eq!(Ok.grade(true), Grade::Pass);
        assert_eq!(Ok.grade(false), Grade::Pass);
        assert_eq!(Wrong.grade(true), Grade::Fail);
        assert_eq!(Wrong.grade(false), Grade::Warn);
        for worse in [Refused, Desync, Hang, Crash, Leak] {
            assert_eq!(worse.grade(false), Grade::Fail, "{worse:?}");
        }
    }
}

//! Where messages end, as http-garden sees it: a front end that forwards
//! bytes as N requests to a back end that reads N + k lets k requests past
//! the front end's rules. For one case, every ordered pair of columns that
//! both processed the bytes but counted different numbers of messages, where
//! the front end kept the connection to forward what followed.

use serde::{Deserialize, Serialize};

use super::verdict;
use super::{Backend, CaseResult, Column, End, Server};

/// One pair of columns where the back end answered more requests than the
/// front end: as a front end, the first would let the extra ones past.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Smuggling {
    /// The back end's column index.
    pub back: usize,
    /// Responses the back end gave.
    pub back_count: usize,
    /// The front end's column index.
    pub front: usize,
    /// Responses the front end gave.
    pub front_count: usize,
    /// The first extra request as the back end parsed it (method and
    /// target), when it is one of ours; only response counts are known of
    /// the textbook server and of targets.
    pub smuggled: Option<String>,
}

/// Every smuggling pair in `result`, front end then back end in column order.
/// A column that refused the bytes outright (no answer, or a rejection
/// first) forwards nothing and is in no pair.
pub fn smuggling(columns: &[Column], result: &CaseResult) -> Vec<Smuggling> {
    let processed: Vec<(usize, usize, bool)> = result
        .outcomes
        .iter()
        .enumerate()
        .filter(|(_, outcome)| !verdict::rejected(outcome))
        .map(|(i, outcome)| {
            let kept_open = !matches!(outcome.end, End::Closed | End::Reset);
            (i, outcome.responses.len(), kept_open)
        })
        .collect();
    let mut pairs = Vec::new();
    for &(front, front_count, front_kept_open) in &processed {
        for &(back, back_count, _) in &processed {
            // A front end that closed after its last answer forwards none of
            // the bytes after it: what the back end made of them never runs.
            if back_count <= front_count || !front_kept_open {
                continue;
            }
            let parsed = match columns.get(back).map(|c| c.server) {
                Some(Server::Backend(Backend::Raw)) => result.parsed.first(),
                Some(Server::Backend(Backend::Hyper)) => result.parsed.get(1),
                _ => None,
            };
            let smuggled = parsed
                .and_then(|requests| requests.get(front_count))
                .map(|request| format!("{} {}", request.method, request.target));
            pairs.push(Smuggling {
                front,
                back,
                front_count,
                back_count,
                smuggled,
            });
        }
    }
    pairs
}

#[cfg(test)]
mod tests {
    use super::super::{Consequence, Difference, Outcome};
    use super::*;

    fn column(name: &str, server: Server) -> Column {
        Column {
            name: name.into(),
            addr: ([127, 0, 0, 1], 1).into(),
            server,
        }
    }

    fn outcome(statuses: &[u16]) -> Outcome {
        Outcome::of_statuses(statuses, End::Closed)
    }

    #[test]
    fn a_column_that_rejected_the_bytes_forwards_nothing() {
        let columns = [
            column("raw", Server::Backend(Backend::Raw)),
            column("hyper", Server::Backend(Backend::Hyper)),
            column("textbook", Server::Textbook),
            column("mine", Server::Target),
        ];
        let mut kept_open = outcome(&[200]);
        kept_open.end = End::Open;
        let outcomes = vec![
            outcome(&[400, 200]),
            kept_open,
            outcome(&[200, 200, 200]),
            outcome(&[]),
        ];
        let result = CaseResult {
            case_id: "x".into(),
            conforms: vec![false; 4],
            consequences: vec![Consequence::Wrong; 4],
            difference: Difference::OneRejects,
            parsed: Vec::new(),
            smuggling: Vec::new(),
            outcomes,
        };
        // raw began with a rejection and the target said nothing: only
        // hyper (one message, connection kept) and the textbook server
        // (three) pair up; the textbook server closed, so it fronts nothing.
        assert_eq!(
            smuggling(&columns, &result),
            [Smuggling {
                front: 1,
                back: 2,
                front_count: 1,
                back_count: 3,
                smuggled: None,
            }]
        );
    }
}

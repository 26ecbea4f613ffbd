//! Verdicts on outcomes: does an outcome conform to what the RFC allows, does
//! it match what was pinned, and how do two backends' outcomes differ — in
//! http-garden's classes: one side rejects what the other accepts, different
//! statuses, a different number of messages on the stream, or different bodies.
//!
//! Outcomes are compared after normalising what HTTP says is not significant:
//! header-name case, order and the `Date` value never enter a signature, and a
//! body is compared by its decoded bytes, so `Content-Length` and chunked
//! framing of the same bytes are the same body.

use serde::Serialize;

use super::runner::Outcome;

/// Whether `signature` (e.g. `400 closed`) matches `pattern`.
///
/// A pattern is one or more alternatives separated by `|`. Each is a list of
/// tokens matched against the signature's: a status (`200`), a class (`4xx`),
/// `-` for no response, then optionally an end (`open`, `closed`, `reset`,
/// `timeout`); without an end, any end matches.
pub fn matches(pattern: &str, signature: &str) -> bool {
    pattern.split('|').any(|alternative| {
        let want: Vec<&str> = alternative.split_whitespace().collect();
        let got: Vec<&str> = signature.split_whitespace().collect();
        let (got_statuses, got_end) = got.split_at(got.len().saturating_sub(1));
        let has_end = want
            .last()
            .is_some_and(|t| matches!(*t, "open" | "closed" | "reset" | "timeout"));
        let (want_statuses, want_end) = if has_end {
            want.split_at(want.len() - 1)
        } else {
            (&want[..], &[][..])
        };
        want_statuses.len() == got_statuses.len()
            && want_statuses
                .iter()
                .zip(got_statuses)
                .all(|(w, g)| token_matches(w, g))
            && (want_end.is_empty() || want_end == got_end)
    })
}

fn token_matches(want: &str, got: &str) -> bool {
    match want.as_bytes() {
        [class, b'x', b'x'] => got.len() == 3 && got.as_bytes()[0] == *class,
        _ => want == got,
    }
}

/// Per case and server: does the outcome fall within what the RFC allows?
/// A leaked secret never conforms, whatever the statuses say.
pub fn conforms(conforming: &[String], outcome: &Outcome) -> bool {
    !outcome.leaked() && conforming.iter().any(|p| matches(p, &outcome.signature()))
}

/// How two servers' outcomes for the same bytes differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Difference {
    Agree,
    /// One side rejected (no answer, or a parse-level 4xx/5xx) what the other processed.
    OneRejects,
    /// Both processed the bytes, with different numbers of responses: they
    /// disagree about where messages begin and end.
    Stream,
    /// The same number of responses with different statuses.
    Status,
    /// The same statuses with different content in a successful response.
    Body,
}

impl Difference {
    pub fn name(self) -> &'static str {
        match self {
            Difference::Agree => "agree",
            Difference::OneRejects => "one rejects",
            Difference::Stream => "stream",
            Difference::Status => "status",
            Difference::Body => "body",
        }
    }
}

/// Statuses that mean "I could not take these bytes as a request", as
/// opposed to an answer about the resource.
fn is_rejection(status: u16) -> bool {
    matches!(status, 400 | 408 | 411 | 413 | 414 | 417 | 431 | 505)
}

fn rejected(outcome: &Outcome) -> bool {
    outcome
        .responses
        .first()
        .is_none_or(|r| is_rejection(r.status))
}

/// Classifies the difference between two outcomes for the same case.
pub fn classify(a: &Outcome, b: &Outcome) -> Difference {
    if rejected(a) != rejected(b) {
        return Difference::OneRejects;
    }
    if a.responses.len() != b.responses.len() {
        return Difference::Stream;
    }
    let statuses = |o: &Outcome| o.responses.iter().map(|r| r.status).collect::<Vec<_>>();
    if statuses(a) != statuses(b) {
        return Difference::Status;
    }
    // Only content is compared: an error page's wording (raw sends a short
    // HTML page, hyper's own rejections are empty) teaches nothing.
    let bodies = |o: &Outcome| {
        o.responses
            .iter()
            .filter(|r| (200..300).contains(&r.status))
            .map(|r| r.body_digest.clone())
            .collect::<Vec<_>>()
    };
    if bodies(a) != bodies(b) {
        return Difference::Body;
    }
    Difference::Agree
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(matches("400", "400 closed"));
        assert!(matches("400 closed", "400 closed"));
        assert!(!matches("400 open", "400 closed"));
        assert!(matches("4xx", "431 closed"));
        assert!(!matches("4xx", "200 closed"));
        assert!(matches("200 200", "200 200 open"));
        assert!(!matches("200", "200 200 open"));
        assert!(matches("- closed|400", "- closed"));
        assert!(matches("- closed|400", "400 reset"));
        assert!(!matches("-", "200 open"));
    }
}

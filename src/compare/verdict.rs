//! Verdicts on outcomes: does an outcome conform to what the RFC allows, does
//! it match what was pinned, and how do two backends' outcomes differ — in
//! http-garden's classes: one side rejects what the other accepts, different
//! statuses, a different number of messages on the stream, or different bodies.
//!
//! Outcomes are compared after normalising what HTTP says is not significant:
//! header-name case, order and the `Date` value never enter a signature, and a
//! body is compared by its decoded bytes, so `Content-Length` and chunked
//! framing of the same bytes are the same body.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::runner::{End, Outcome};

/// An outcome pattern as a case file writes it, parsed when the corpus loads.
///
/// A pattern is one or more alternatives separated by `|`. Each is a list of
/// tokens matched against the outcome: a status (`200`), a class (`4xx`), or
/// `-` alone for no response, then optionally an end (`open`, `closed`,
/// `reset`, `timeout`); without an end, any end matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    /// As written, for reports and mismatch messages.
    text: String,
    alternatives: Vec<Alternative>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Alternative {
    /// `[]` stands for `-`: no response at all.
    statuses: Vec<StatusToken>,
    end: Option<End>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StatusToken {
    Exact(u16),
    /// `4xx`: the hundreds digit.
    Class(u16),
}

impl StatusToken {
    fn parse(token: &str) -> Option<StatusToken> {
        match token.as_bytes() {
            [class @ b'1'..=b'9', b'x', b'x'] => Some(StatusToken::Class(u16::from(class - b'0'))),
            [b'1'..=b'9', b'0'..=b'9', b'0'..=b'9'] => token.parse().ok().map(StatusToken::Exact),
            _ => None,
        }
    }

    fn matches(self, status: u16) -> bool {
        match self {
            StatusToken::Exact(want) => status == want,
            StatusToken::Class(class) => (100..1000).contains(&status) && status / 100 == class,
        }
    }
}

impl Pattern {
    /// Parses a pattern; the error says which token is wrong and why.
    pub fn parse(text: &str) -> Result<Pattern, String> {
        let alternatives = text
            .split('|')
            .map(|alternative| {
                let mut tokens: Vec<&str> = alternative.split_whitespace().collect();
                let end = match tokens.last().copied().and_then(End::from_name) {
                    Some(end) => {
                        tokens.pop();
                        Some(end)
                    }
                    None => None,
                };
                let statuses = match tokens.as_slice() {
                    [] => return Err(format!("{alternative:?} names no status (or `-`)")),
                    ["-"] => Vec::new(),
                    tokens => tokens
                        .iter()
                        .map(|t| {
                            StatusToken::parse(t).ok_or_else(|| {
                                format!(
                                    "`{t}` is not a status, a class like `4xx`, a lone `-` \
                                     or an end (open, closed, reset, timeout, refused)"
                                )
                            })
                        })
                        .collect::<Result<_, _>>()?,
                };
                Ok(Alternative { statuses, end })
            })
            .collect::<Result<_, String>>()?;
        Ok(Pattern {
            text: text.to_string(),
            alternatives,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// How many responses each alternative asks for, in order (`-` asks for none).
    pub fn response_counts(&self) -> impl Iterator<Item = usize> + '_ {
        self.alternatives.iter().map(|a| a.statuses.len())
    }

    /// Whether `outcome`'s statuses and end fit one of the alternatives.
    pub fn matches(&self, outcome: &Outcome) -> bool {
        self.alternatives.iter().any(|alternative| {
            alternative.statuses.len() == outcome.responses.len()
                && alternative
                    .statuses
                    .iter()
                    .zip(&outcome.responses)
                    .all(|(want, got)| want.matches(got.status))
                && alternative.end.is_none_or(|end| end == outcome.end)
        })
    }
}

/// In JSON a pattern is its text.
impl Serialize for Pattern {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Pattern, D::Error> {
        Pattern::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Per case and server: does the outcome fall within what the RFC allows?
/// A leaked secret never conforms, whatever the statuses say; nor does a
/// server that was never reached (a `-` pattern with no end would match it),
/// nor one that died on the bytes (its `- closed` is no deliberate close).
pub fn conforms(conforming: &[Pattern], outcome: &Outcome) -> bool {
    !outcome.leaked()
        && outcome.end != End::Refused
        && outcome.crash.is_none()
        && conforming.iter().any(|p| p.matches(outcome))
}

/// How two servers' outcomes for the same bytes differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
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
    /// The name in JSON, as serde writes it (kebab-case).
    pub fn key(self) -> &'static str {
        match self {
            Difference::Agree => "agree",
            Difference::OneRejects => "one-rejects",
            Difference::Stream => "stream",
            Difference::Status => "status",
            Difference::Body => "body",
        }
    }

    /// The name for people.
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
pub(super) fn is_rejection(status: u16) -> bool {
    matches!(status, 400 | 408 | 411 | 413 | 414 | 417 | 431 | 505)
}

/// The server refused the bytes outright: no answer, or a rejection first.
pub(super) fn rejected(outcome: &Outcome) -> bool {
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

    /// An outcome with these statuses and this end.
    fn outcome(statuses: &[u16], end: End) -> Outcome {
        Outcome::of_statuses(statuses, end)
    }

    fn matches(pattern: &str, statuses: &[u16], end: End) -> bool {
        Pattern::parse(pattern)
            .unwrap()
            .matches(&outcome(statuses, end))
    }

    #[test]
    fn patterns() {
        use End::*;
        assert!(matches("400", &[400], Closed));
        assert!(matches("400 closed", &[400], Closed));
        assert!(!matches("400 open", &[400], Closed));
        assert!(matches("4xx", &[431], Closed));
        assert!(!matches("4xx", &[200], Closed));
        assert!(matches("200 200", &[200, 200], Open));
        assert!(!matches("200", &[200, 200], Open));
        assert!(matches("- closed|400", &[], Closed));
        assert!(matches("- closed|400", &[400], Reset));
        assert!(!matches("-", &[200], Open));
        assert!(!matches("200", &[], Timeout));
        assert_eq!(Pattern::parse("100 405").unwrap().to_string(), "100 405");
        let counts: Vec<usize> = Pattern::parse("- closed|400|200 200 open")
            .unwrap()
            .response_counts()
            .collect();
        assert_eq!(counts, [0, 1, 2]);
    }

    #[test]
    fn a_server_never_reached_or_dead_does_not_conform() {
        let anything = [
            Pattern::parse("-").unwrap(),
            Pattern::parse("- closed").unwrap(),
        ];
        assert!(conforms(&anything, &outcome(&[], End::Closed)));
        let mut died = outcome(&[], End::Closed);
        died.crash = Some(super::super::runner::Crash::Handler);
        assert_eq!(died.signature(), "- closed");
        assert!(
            !conforms(&anything, &died),
            "a dead handler's close conforms"
        );
        let refused = Outcome::refused("connect: refused".into());
        assert_eq!(refused.signature(), "- refused");
        assert!(!conforms(&anything, &refused));
    }

    #[test]
    fn difference_keys_are_what_serde_writes() {
        use Difference::*;
        for d in [Agree, OneRejects, Stream, Status, Body] {
            assert_eq!(serde_json::to_value(d).unwrap(), d.key());
        }
    }

    #[test]
    fn bad_patterns_are_refused_with_the_token() {
        for (bad, token) in [
            ("20O", "20O"),
            ("200 close", "close"),
            ("axx", "axx"),
            ("- 200", "-"),
            ("099", "099"),
        ] {
            let error = Pattern::parse(bad).unwrap_err();
            assert!(error.contains(token), "{bad}: {error}");
        }
        assert!(Pattern::parse("").is_err());
        assert!(Pattern::parse("200|").is_err());
        assert!(Pattern::parse("closed").is_err());
    }
}

//! The documented JSON form, schema [`JSON_SCHEMA`] (see `compare/README.md`),
//! as types: written with `Serialize`, read back with `Deserialize`.
//!
//! Every struct lists its fields in alphabetical order: schema 1 has always
//! printed its keys sorted, and a reordered field would change the output.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::summarize;
use crate::compare::case::{Class, Level, Mistake};
use crate::compare::{Column, Comparison, Difference, LoadResult, Reachability, SlowClients};
use crate::compare::{
    Consequence, Crash, End, Grade, ObservedResponse, Outcome, Pattern, Smuggling,
};
use crate::introspection::ParsedRequest;

/// The JSON schema's name and version; bumped on any incompatible change.
pub const JSON_SCHEMA: &str = "twinserve-compare/1";

/// The whole comparison.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Document {
    pub cases: Vec<CaseEntry>,
    /// Column names, in column order: raw, hyper, textbook, then any `--target`.
    pub columns: Vec<String>,
    pub load: Vec<LoadResult>,
    /// Per column, in column order: did it answer the baseline request
    /// before the run, and did it stop.
    pub reachability: Vec<Reachability>,
    /// Always [`JSON_SCHEMA`].
    pub schema: String,
    pub slow_clients: Vec<SlowClients>,
    pub summary: SummaryEntry,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SummaryEntry {
    pub cases: usize,
    /// Per column name, cases that conform.
    pub conforming: BTreeMap<String, usize>,
    /// Per column name, outcomes per consequence other than ok.
    pub consequences: BTreeMap<String, BTreeMap<Consequence, usize>>,
    /// Per difference class (kebab-case, as [`Difference`] serialises), cases.
    pub differences: BTreeMap<String, usize>,
    /// Per column name, outcomes that carried the secret or a system file.
    pub leaked: BTreeMap<String, usize>,
    pub leaks: usize,
    /// Per column name, the one-line verdict (`textbook: 45/123 pass — 5 leaks, ...`).
    pub verdicts: BTreeMap<String, String>,
}

/// One case: what was sent, what was pinned, and every column's outcome.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CaseEntry {
    /// The attack class: traversal, framing, exhaustion, robustness, semantics.
    pub class: Class,
    pub difference: Difference,
    pub expected: Pins,
    /// What the raw backend does instead, and the item that does it.
    pub fix: String,
    pub fix_in: String,
    pub half_close: bool,
    pub id: String,
    /// The requirement level of the cited sentence: MUST, SHOULD or MAY.
    pub level: Level,
    /// The classic mistake the case probes (its root cause when it fails).
    pub mistake: Mistake,
    /// Per column name.
    pub outcomes: BTreeMap<String, OutcomeEntry>,
    /// The first request each backend parsed (see `parsed_requests` for all).
    pub parsed: ParsedPair,
    /// Every request each backend took from the stream, in order.
    pub parsed_requests: ParsedLists,
    pub pause_ms: u64,
    pub requires: String,
    pub rfc: String,
    /// The segments as the case file writes them (`escape_ascii` form).
    pub send: Vec<String>,
    /// Pairs of columns that split the bytes into different numbers of messages.
    pub smuggling: Vec<SmugglingEntry>,
    pub theme: String,
    pub title: String,
    pub why: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Pins {
    pub hyper: Pattern,
    pub raw: Pattern,
    pub textbook: Pattern,
}

/// The request as each backend's introspection described it, when it did.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ParsedPair {
    pub hyper: Option<ParsedRequest>,
    pub raw: Option<ParsedRequest>,
}

/// Every request each backend's introspection described, in order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ParsedLists {
    pub hyper: Vec<ParsedRequest>,
    pub raw: Vec<ParsedRequest>,
}

/// A [`Smuggling`] pair with its columns named.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SmugglingEntry {
    pub back: String,
    pub back_count: usize,
    pub front: String,
    pub front_count: usize,
    /// Method and target of the first extra request, when the back end's parse is known.
    pub smuggled: Option<String>,
}

impl SmugglingEntry {
    fn new(pair: &Smuggling, columns: &[Column]) -> SmugglingEntry {
        let name = |i: usize| columns.get(i).map(|c| c.name.clone()).unwrap_or_default();
        SmugglingEntry {
            back: name(pair.back),
            back_count: pair.back_count,
            front: name(pair.front),
            front_count: pair.front_count,
            smuggled: pair.smuggled.clone(),
        }
    }
}

/// An [`Outcome`] with its signature and its verdict.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutcomeEntry {
    pub conforms: bool,
    /// The worst the outcome shows: leak, crash, hang, desync, wrong, refused or ok.
    pub consequence: Consequence,
    /// How the server was seen to die on the bytes: `handler` or `server`.
    pub crash: Option<Crash>,
    pub end: End,
    pub first_byte_ms: Option<f64>,
    /// pass, warn (wrong only, on a SHOULD or MAY) or fail.
    pub grade: Grade,
    pub note: Option<String>,
    /// The first 16 KiB received, in `escape_ascii` form.
    #[serde(with = "escaped")]
    pub received: Vec<u8>,
    pub responses: Vec<ObservedResponse>,
    pub signature: String,
    pub trailing_bytes: usize,
}

impl OutcomeEntry {
    fn new(
        outcome: &Outcome,
        conforms: bool,
        consequence: Consequence,
        level: Level,
    ) -> OutcomeEntry {
        OutcomeEntry {
            grade: consequence.grade(level == Level::Must),
            conforms,
            consequence,
            crash: outcome.crash,
            end: outcome.end,
            first_byte_ms: outcome.first_byte_ms,
            note: outcome.note.clone(),
            received: outcome.received.clone(),
            responses: outcome.responses.clone(),
            signature: outcome.signature(),
            trailing_bytes: outcome.trailing_bytes,
        }
    }
}

impl Document {
    pub fn new(c: &Comparison) -> Document {
        let summary = summarize(c);
        let lessons = super::lessons(c);
        let leaks = summary.leaks();
        let columns: Vec<String> = c.columns.iter().map(|col| col.name.clone()).collect();
        let cases = c
            .cases
            .iter()
            .zip(&c.results)
            .map(|(case, result)| {
                let first_parse = |i: usize| result.parsed.get(i).and_then(|p| p.first()).cloned();
                CaseEntry {
                    class: case.class,
                    difference: result.difference,
                    expected: Pins {
                        hyper: case.expect.hyper.clone(),
                        raw: case.expect.raw.clone(),
                        textbook: case.expect.textbook.clone(),
                    },
                    fix: case.fix.trim().to_string(),
                    fix_in: case.fix_in.clone(),
                    half_close: case.half_close,
                    id: case.id.clone(),
                    level: case.level,
                    mistake: case.mistake,
                    outcomes: columns
                        .iter()
                        .zip(&result.outcomes)
                        .zip(result.conforms.iter().zip(&result.consequences))
                        .map(|((name, outcome), (ok, consequence))| {
                            (
                                name.clone(),
                                OutcomeEntry::new(outcome, *ok, *consequence, case.level),
                            )
                        })
                        .collect(),
                    parsed: ParsedPair {
                        hyper: first_parse(1),
                        raw: first_parse(0),
                    },
                    parsed_requests: ParsedLists {
                        hyper: result.parsed.get(1).cloned().unwrap_or_default(),
                        raw: result.parsed.first().cloned().unwrap_or_default(),
                    },
                    pause_ms: case.pause_ms,
                    requires: case.requires.clone(),
                    rfc: case.rfc.clone(),
                    send: case.send.clone(),
                    smuggling: result
                        .smuggling
                        .iter()
                        .map(|pair| SmugglingEntry::new(pair, &c.columns))
                        .collect(),
                    theme: case.theme.clone(),
                    title: case.title.clone(),
                    why: case.why.trim().to_string(),
                }
            })
            .collect();
        Document {
            cases,
            load: c.load.clone(),
            reachability: c.reachability.clone(),
            schema: JSON_SCHEMA.to_string(),
            slow_clients: c.slow_clients.clone(),
            summary: SummaryEntry {
                cases: summary.cases,
                consequences: lessons
                    .iter()
                    .map(|l| (l.name.clone(), l.counts.iter().copied().collect()))
                    .collect(),
                verdicts: lessons
                    .iter()
                    .map(|l| (l.name.clone(), l.verdict()))
                    .collect(),
                conforming: columns.iter().cloned().zip(summary.conforming).collect(),
                differences: summary
                    .differences
                    .iter()
                    .map(|(d, n)| (d.key().to_string(), *n))
                    .collect(),
                leaks,
                leaked: columns.iter().cloned().zip(summary.leaked).collect(),
            },
            columns,
        }
    }
}

/// The comparison as pretty-printed JSON.
pub fn json(c: &Comparison) -> String {
    // Only strings, numbers and string keys: serialising cannot fail.
    serde_json::to_string_pretty(&Document::new(c)).unwrap_or_default()
}

/// Bytes as their `escape_ascii` text, read back with the corpus's own unescape.
mod escaped {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::compare::case::escape(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        crate::compare::case::unescape(&String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

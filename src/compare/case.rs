//! One corpus case: the bytes to send and how, what the RFC asks, the
//! outcomes pinned for each backend, and why it matters — read from a TOML
//! file in `compare/`.
//!
//! TOML strings cannot carry arbitrary bytes (`"\xff"` is U+00FF, two bytes in
//! UTF-8), so request bytes are written in single-quoted literal strings using
//! the escapes `<[u8]>::escape_ascii()` prints — `\r \n \t \\ \' \" \xNN` — and
//! decoded by [`unescape`]; printing with [`escape`] and reading back round-trips.
//!
//! Every case also says what it attacks ([`Class`]), how strongly the cited
//! sentence binds ([`Level`]), which classic mistake of the socket exercise it
//! probes ([`Mistake`]), and what the raw backend does instead (`fix`, and
//! `fix_in`, the item of `src/raw` or `src/docroot` that does it).

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::runner::{End, Outcome};
use super::verdict::Pattern;

/// Defines a closed set of names a case file may use for one field: the
/// enum, its `name` as written in files and JSON, a `label` for people, every
/// value in order (`ALL`), and parsing from the name.
macro_rules! named {
    (
        $(#[$meta:meta])*
        pub enum $enum:ident ($field:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $name:literal, $label:literal; )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $enum {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $enum {
            /// Every value, in the order reports list them.
            pub const ALL: &'static [$enum] = &[$($enum::$variant),+];

            /// The name a case file and the JSON report use.
            pub fn name(self) -> &'static str {
                match self {
                    $( $enum::$variant => $name, )+
                }
            }

            /// A few words for people.
            pub fn label(self) -> &'static str {
                match self {
                    $( $enum::$variant => $label, )+
                }
            }

            /// The value named `name`; the error lists every name allowed.
            pub fn from_name(name: &str) -> Result<$enum, String> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|value| value.name() == name)
                    .ok_or_else(|| {
                        let names: Vec<&str> = Self::ALL.iter().map(|v| v.name()).collect();
                        format!(
                            "`{}`: {name:?} is not one of {}",
                            $field,
                            names.join(", ")
                        )
                    })
            }
        }

        impl fmt::Display for $enum {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl Serialize for $enum {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        impl<'de> Deserialize<'de> for $enum {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<$enum, D::Error> {
                $enum::from_name(&String::deserialize(d)?).map_err(serde::de::Error::custom)
            }
        }
    };
}

named! {
    /// What a case attacks.
    pub enum Class ("class") {
        /// Reaching files outside the root: dot-segments, absolute paths,
        /// links, and encodings of them.
        Traversal = "traversal", "path traversal";
        /// Where a message ends: Content-Length, chunked, pipelining,
        /// CL.0 and TE.CL smuggling.
        Framing = "framing", "framing and smuggling";
        /// Resources a client can tie up: huge heads, many fields, slow or
        /// partial heads, long lines.
        Exhaustion = "exhaustion", "resource exhaustion";
        /// Bytes and syntax the grammar forbids: bare CR, NUL, obs-fold,
        /// bad versions, bad tokens.
        Robustness = "robustness", "parsing robustness";
        /// What a well-formed request means: methods, Host, conditionals,
        /// ranges, keep-alive and close, redirects.
        Semantics = "semantics", "protocol semantics";
    }
}

named! {
    /// How strongly the sentence a case cites binds (RFC 2119): MUST NOT
    /// counts as MUST, SHOULD NOT as SHOULD. A server that breaks a MUST
    /// fails the case; one that breaks a SHOULD or a MAY is warned.
    pub enum Level ("level") {
        Must = "MUST", "MUST";
        Should = "SHOULD", "SHOULD";
        May = "MAY", "MAY";
    }
}

named! {
    /// The classic mistake of the socket exercise a case probes: the root
    /// cause when a server fails it (and the textbook server's, where it does).
    pub enum Mistake ("mistake") {
        /// DELETE, POST and TRACE get the file.
        MethodIgnored = "method-ignored", "the method is never looked at";
        /// Host, Content-Length, conditionals, Range and Expect are never read.
        HeadersIgnored = "headers-ignored", "header fields are never read";
        /// HTTP/2.0, HTTP/1.10 or no version at all are served alike.
        VersionUnchecked = "version-unchecked", "the version is never checked";
        /// Bare CR, obs-fold, extra spaces and bad tokens pass unnoticed.
        SyntaxUnchecked = "syntax-unchecked", "the syntax is never validated";
        /// The query, a fragment, %-escapes or an absolute-form URI become
        /// part of the file name.
        TargetUnparsed = "target-unparsed", "the target is used verbatim as a file name";
        /// Segmented heads, pipelined requests and bodies are cut at read
        /// boundaries.
        OneReadOneRequest = "one-read-one-request", "one read taken as one request";
        /// Every answer closes the connection, without `Connection: close`.
        CloseUnannounced = "close-unannounced", "every answer closes, unannounced";
        /// Bytes it cannot decode or split end the handler with no answer.
        CrashOnBadBytes = "crash-on-bad-bytes", "bytes it cannot decode kill the handler";
        /// The name is joined to the root with no confinement: `..`, an
        /// absolute path or a link leads out.
        PathUnconfined = "path-unconfined", "the path is joined to the root unconfined";
        /// Slow, huge or endless input is waited for and read without bound.
        NoLimits = "no-limits", "no limits and no timeouts";
    }
}

/// A case, its patterns parsed.
#[derive(Debug, Clone)]
pub struct Case {
    pub id: String,
    pub title: String,
    pub theme: String,
    /// The section cited, e.g. `RFC 9112 §2.2`.
    pub rfc: String,
    /// What that section requires, in its words or close to them.
    pub requires: String,
    /// For a student: what the textbook server did with these bytes, and what that breaks.
    pub why: String,
    /// What the case attacks.
    pub class: Class,
    /// How strongly the cited sentence binds.
    pub level: Level,
    /// The classic mistake the case probes.
    pub mistake: Mistake,
    /// What the raw backend does instead, in a sentence or two.
    pub fix: String,
    /// The item that does it: `ParseError::Variant`, or the name of a function
    /// in `src/raw` or `src/docroot`.
    pub fix_in: String,
    /// A server that closes the connection after its last response must have
    /// said so in it with `Connection: close` (see [`Case::closing_as_announced`]).
    pub closing_announced: bool,
    /// The request bytes, one element per write, in `escape_ascii` form.
    pub send: Vec<String>,
    /// Pause between writes, in milliseconds.
    pub pause_ms: u64,
    /// `shutdown(SHUT_WR)` after the last write.
    pub half_close: bool,
    /// How long to wait for an answer after the last write (default 1000 ms).
    pub wait_ms: Option<u64>,
    /// The request methods in order, where a HEAD changes response framing.
    pub methods: Vec<String>,
    /// Outcomes the RFC allows.
    pub conforming: Vec<Pattern>,
    /// The outcome each backend gave when the case was pinned.
    pub expect: Expected,
}

/// The pins: what `--check` holds each backend, and the textbook server, to.
#[derive(Debug, Clone)]
pub struct Expected {
    pub raw: Pattern,
    pub hyper: Pattern,
    /// The textbook server (Part B): what the classic exercise does.
    pub textbook: Pattern,
}

/// A case as written in its file: the patterns still text.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseFile {
    id: String,
    title: String,
    theme: String,
    rfc: String,
    requires: String,
    why: String,
    class: String,
    level: String,
    mistake: String,
    fix: String,
    fix_in: String,
    #[serde(default)]
    closing_announced: bool,
    send: Vec<String>,
    #[serde(default)]
    pause_ms: u64,
    #[serde(default)]
    half_close: bool,
    #[serde(default)]
    wait_ms: Option<u64>,
    #[serde(default)]
    methods: Vec<String>,
    conforming: Vec<String>,
    expect: ExpectedFile,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExpectedFile {
    raw: String,
    hyper: String,
    textbook: String,
}

impl CaseFile {
    /// Parses every pattern; an error names the field it is in.
    fn into_case(self) -> Result<Case, String> {
        let pattern =
            |field: &str, text: &str| Pattern::parse(text).map_err(|e| format!("`{field}`: {e}"));
        let conforming = self
            .conforming
            .iter()
            .enumerate()
            .map(|(i, text)| pattern(&format!("conforming[{i}]"), text))
            .collect::<Result<_, _>>()?;
        let expect = Expected {
            raw: pattern("expect.raw", &self.expect.raw)?,
            hyper: pattern("expect.hyper", &self.expect.hyper)?,
            textbook: pattern("expect.textbook", &self.expect.textbook)?,
        };
        let class = Class::from_name(&self.class)?;
        let level = Level::from_name(&self.level)?;
        let mistake = Mistake::from_name(&self.mistake)?;
        if self.fix.trim().is_empty() {
            return Err("`fix` is empty: say what the raw backend does instead".into());
        }
        check_fix_in(&self.fix_in)?;
        Ok(Case {
            id: self.id,
            title: self.title,
            theme: self.theme,
            rfc: self.rfc,
            requires: self.requires,
            why: self.why,
            class,
            level,
            mistake,
            fix: self.fix,
            fix_in: self.fix_in,
            closing_announced: self.closing_announced,
            send: self.send,
            pause_ms: self.pause_ms,
            half_close: self.half_close,
            wait_ms: self.wait_ms,
            methods: self.methods,
            conforming,
            expect,
        })
    }
}

/// `fix_in` must name `ParseError::Variant` or a function (`snake_case`);
/// whether that item exists is the corpus tests' to check.
fn check_fix_in(fix_in: &str) -> Result<(), String> {
    let is_ident_char = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let well_formed = match fix_in.strip_prefix("ParseError::") {
        Some(variant) => {
            variant.starts_with(|c: char| c.is_ascii_uppercase())
                && variant.chars().all(is_ident_char)
        }
        None => {
            fix_in.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
                && fix_in
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        }
    };
    if well_formed {
        Ok(())
    } else {
        Err(format!(
            "`fix_in`: {fix_in:?} is neither `ParseError::Variant` nor a function name"
        ))
    }
}

/// Whether response `fields` hold the `close` connection option
/// (`Connection: close`, in any case, possibly among other options).
pub fn announces_close(fields: &[(String, String)]) -> bool {
    fields
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("connection"))
        .flat_map(|(_, value)| value.split(','))
        .any(|option| option.trim().eq_ignore_ascii_case("close"))
}

impl Case {
    /// Whether `outcome` falls within what the RFC allows for this case: a
    /// conforming pattern matches it, and a close it asks to be announced was.
    pub fn conforms(&self, outcome: &Outcome) -> bool {
        super::verdict::conforms(&self.conforming, outcome) && self.closing_as_announced(outcome)
    }

    /// The worst thing `outcome` shows on this case.
    pub fn consequence(&self, outcome: &Outcome) -> super::Consequence {
        super::Consequence::given(self.conforms(outcome), &self.conforming, outcome)
    }

    /// The rule of `closing_announced = true` (RFC 9112 §9.6: a server SHOULD
    /// send `Connection: close` when it intends to close): false when the
    /// server ended the connection (FIN or RST) after answering and its last
    /// response did not carry the `close` option. Always true for a case
    /// without the flag, for a connection still open (or never reached), and
    /// when nothing was answered — the patterns judge those.
    pub fn closing_as_announced(&self, outcome: &Outcome) -> bool {
        if !self.closing_announced || !matches!(outcome.end, End::Closed | End::Reset) {
            return true;
        }
        outcome
            .responses
            .last()
            .is_none_or(|last| announces_close(&last.fields))
    }

    /// The segments to write, decoded.
    pub fn segments(&self) -> Result<Vec<Vec<u8>>, CaseError> {
        self.send
            .iter()
            .map(|s| unescape(s).map_err(|e| self.error(e)))
            .collect()
    }

    pub fn wait(&self) -> Duration {
        Duration::from_millis(self.wait_ms.unwrap_or(1000))
    }

    fn error(&self, message: String) -> CaseError {
        CaseError {
            path: PathBuf::from(&self.id),
            message,
        }
    }
}

/// A case file that cannot be used, with the file and the reason.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct CaseError {
    pub path: PathBuf,
    pub message: String,
}

/// The themes in the order a reader meets them: from the first line of a
/// request to what it asks for. Unknown themes sort after these.
pub const THEMES: &[&str] = &[
    "request-line",
    "line-endings",
    "header-syntax",
    "framing",
    "connection",
    "target-path",
    "methods",
    "conditional-range",
];

fn theme_rank(theme: &str) -> usize {
    THEMES
        .iter()
        .position(|t| *t == theme)
        .unwrap_or(THEMES.len())
}

/// Reads every `*.toml` in `dir`, ordered by theme then id; ids must be unique.
pub fn load_dir(dir: &Path) -> Result<Vec<Case>, CaseError> {
    let err = |message: String| CaseError {
        path: dir.to_path_buf(),
        message,
    };
    let entries =
        std::fs::read_dir(dir).map_err(|e| err(format!("cannot read the corpus: {e}")))?;
    let mut cases = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| err(e.to_string()))?.path();
        if path.extension().is_some_and(|e| e == "toml") {
            cases.push(load_file(&path)?);
        }
    }
    cases.sort_by(|a, b| a.id.cmp(&b.id));
    if let Some(pair) = cases.windows(2).find(|w| w[0].id == w[1].id) {
        return Err(err(format!("two cases have the id {:?}", pair[0].id)));
    }
    cases.sort_by(|a, b| {
        (theme_rank(&a.theme), &a.theme, &a.id).cmp(&(theme_rank(&b.theme), &b.theme, &b.id))
    });
    if cases.is_empty() {
        return Err(err("no *.toml case files".into()));
    }
    Ok(cases)
}

pub fn load_file(path: &Path) -> Result<Case, CaseError> {
    let err = |message: String| CaseError {
        path: path.to_path_buf(),
        message,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    parse(&text).map_err(|e| CaseError {
        path: path.to_path_buf(),
        message: e.message,
    })
}

/// Parses and checks one case's text.
pub fn parse(text: &str) -> Result<Case, CaseError> {
    let file: CaseFile = toml::from_str(text).map_err(|e| CaseError {
        path: PathBuf::new(),
        message: e.message().to_string(),
    })?;
    let id = file.id.clone();
    let case = file.into_case().map_err(|message| CaseError {
        path: PathBuf::from(id),
        message,
    })?;
    if case.send.is_empty() {
        return Err(case.error("`send` needs at least one segment".into()));
    }
    if case.conforming.is_empty() {
        return Err(case.error("`conforming` needs at least one pattern".into()));
    }
    case.segments()?;
    Ok(case)
}

/// Prints bytes the way [`unescape`] reads them (and `escape_ascii` prints).
pub fn escape(bytes: &[u8]) -> String {
    bytes.escape_ascii().to_string()
}

/// Decodes the escapes of `escape_ascii`: `\t \r \n \\ \' \" \xNN` (hex in either
/// case); every other character stands for its own UTF-8 bytes.
pub fn unescape(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut utf8 = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            continue;
        }
        match chars.next() {
            Some('t') => out.push(b'\t'),
            Some('r') => out.push(b'\r'),
            Some('n') => out.push(b'\n'),
            Some('\\') => out.push(b'\\'),
            Some('\'') => out.push(b'\''),
            Some('"') => out.push(b'"'),
            Some('x') => {
                let hex: String = chars.by_ref().take(2).collect();
                let byte = (hex.len() == 2)
                    .then(|| u8::from_str_radix(&hex, 16).ok())
                    .flatten()
                    .ok_or_else(|| format!("`\\x{hex}` is not two hex digits"))?;
                out.push(byte);
            }
            Some(other) => return Err(format!("unknown escape `\\{other}`")),
            None => return Err("a lone `\\` at the end".into()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn escapes() {
        assert_eq!(
            unescape(r"GET / HTTP/1.1\r\n\x00\xff\\\'").unwrap(),
            b"GET / HTTP/1.1\r\n\x00\xff\\'"
        );
        assert!(unescape(r"\q").is_err());
        assert!(unescape(r"\x4").is_err());
        assert!(unescape("\\").is_err());
        assert_eq!(unescape("é").unwrap(), "é".as_bytes());
    }

    proptest! {
        #[test]
        fn escape_then_unescape_round_trips(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            prop_assert_eq!(unescape(&escape(&bytes)).unwrap(), bytes);
        }
    }

    const GOOD: &str = r#"
id = "x"
title = "t"
theme = "request-line"
rfc = "RFC 9112 §3"
requires = "r"
why = "w"
class = "semantics"
level = "SHOULD"
mistake = "close-unannounced"
fix = "f"
fix_in = "keeps_alive"
send = ['GET / HTTP/1.1\r\nHost: a\r\n\r\n']
conforming = ["200"]
expect = { raw = "200 open", hyper = "200 open", textbook = "200 closed" }
"#;

    #[test]
    fn a_case_parses_and_bad_ones_are_refused() {
        let case = parse(GOOD).unwrap();
        assert_eq!(
            case.segments().unwrap()[0],
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
        );
        assert_eq!(case.expect.raw.to_string(), "200 open");
        assert!(parse(&GOOD.replace("send = ['GET", "send = ['\\qGET")).is_err());
        assert!(parse(&GOOD.replace("theme", "thyme")).is_err());
        assert_eq!(case.expect.textbook.to_string(), "200 closed");
        // Every case pins the textbook server too.
        assert!(parse(&GOOD.replace(", textbook = \"200 closed\"", "")).is_err());
        assert!(parse(&GOOD.replace("conforming = [\"200\"]", "conforming = []")).is_err());
        assert_eq!(
            (case.class, case.level, case.mistake),
            (Class::Semantics, Level::Should, Mistake::CloseUnannounced)
        );
        assert_eq!(
            (case.fix.as_str(), case.fix_in.as_str()),
            ("f", "keeps_alive")
        );
        assert!(!case.closing_announced);
        let flagged = parse(&GOOD.replace("fix = ", "closing_announced = true\nfix = ")).unwrap();
        assert!(flagged.closing_announced);
        assert!(
            parse(&GOOD.replace(
                "fix_in = \"keeps_alive\"",
                "fix_in = \"ParseError::BareCr\""
            ))
            .is_ok()
        );
        // Every new field is required, and no unknown one is allowed.
        for field in ["class", "level", "mistake", "fix", "fix_in"] {
            let without: String = GOOD
                .lines()
                .filter(|line| !line.starts_with(&format!("{field} =")))
                .collect::<Vec<_>>()
                .join("\n");
            let error = parse(&without).unwrap_err().message;
            assert!(error.contains(field), "{field}: {error}");
        }
        assert!(parse(&GOOD.replace("fix_in", "fixed_in")).is_err());
    }

    #[test]
    fn names_labels_and_serde_agree() {
        fn check<T: Serialize + for<'de> Deserialize<'de> + PartialEq + fmt::Debug + Copy>(
            all: &[T],
            name: fn(T) -> &'static str,
            label: fn(T) -> &'static str,
        ) {
            for &value in all {
                let json = serde_json::to_string(&value).unwrap();
                assert_eq!(json, format!("{:?}", name(value)));
                assert_eq!(serde_json::from_str::<T>(&json).unwrap(), value);
                assert!(!label(value).is_empty());
            }
            assert!(serde_json::from_str::<T>("\"nothing\"").is_err());
        }
        check(Class::ALL, Class::name, Class::label);
        check(Level::ALL, Level::name, Level::label);
        check(Mistake::ALL, Mistake::name, Mistake::label);
        assert_eq!(Class::Framing.label(), "framing and smuggling");
        assert_eq!(
            Mistake::OneReadOneRequest.label(),
            "one read taken as one request"
        );
        assert_eq!(
            Level::ALL.iter().map(|l| l.label()).collect::<Vec<_>>(),
            ["MUST", "SHOULD", "MAY"]
        );
        assert_eq!(Mistake::from_name("no-limits"), Ok(Mistake::NoLimits));
        let error = Class::from_name("smuggling").unwrap_err();
        assert!(
            error.contains("`class`") && error.contains("traversal, framing"),
            "{error}"
        );
    }

    /// One 200 per `connection` value (`None`: no such field), then `end`.
    fn outcome(end: End, connection: &[Option<&str>]) -> Outcome {
        let mut outcome = Outcome::of_statuses(&vec![200; connection.len()], end);
        for (response, value) in outcome.responses.iter_mut().zip(connection) {
            response.fields = value
                .iter()
                .map(|v| ("connection".to_string(), v.to_string()))
                .collect();
        }
        outcome
    }

    #[test]
    fn a_close_must_be_announced_only_where_the_case_asks() {
        let plain = parse(GOOD).unwrap();
        let flagged = parse(&GOOD.replace("fix = ", "closing_announced = true\nfix = ")).unwrap();
        let silent = outcome(End::Closed, &[None]);
        assert!(plain.closing_as_announced(&silent));
        assert!(!flagged.closing_as_announced(&silent));
        assert!(!flagged.closing_as_announced(&outcome(End::Reset, &[None])));
        assert!(!flagged.closing_as_announced(&outcome(End::Closed, &[Some("keep-alive")])));
        // Only the last response before the close has to say it.
        assert!(flagged.closing_as_announced(&outcome(End::Closed, &[None, Some("Close")])));
        assert!(!flagged.closing_as_announced(&outcome(End::Closed, &[Some("close"), None])));
        assert!(flagged.closing_as_announced(&outcome(End::Closed, &[Some("upgrade, close")])));
        // Nothing to announce: still open, no answer at all, never reached.
        assert!(flagged.closing_as_announced(&outcome(End::Open, &[None])));
        assert!(flagged.closing_as_announced(&outcome(End::Closed, &[])));
        assert!(flagged.closing_as_announced(&outcome(End::Refused, &[])));
    }

    #[test]
    fn a_bad_pin_is_a_load_error_naming_the_file_and_the_field() {
        let dir = tempfile::tempdir().unwrap();
        for (from, to, field) in [
            ("raw = \"200 open\"", "raw = \"20O open\"", "`expect.raw`"),
            (
                "hyper = \"200 open\"",
                "hyper = \"200 opened\"",
                "`expect.hyper`",
            ),
            (
                "textbook = \"200 closed\"",
                "textbook = \"200 shut\"",
                "`expect.textbook`",
            ),
            ("[\"200\"]", "[\"200\", \"4xx|\"]", "`conforming[1]`"),
            ("\"semantics\"", "\"semantic\"", "`class`"),
            ("\"SHOULD\"", "\"should\"", "`level`"),
            ("\"close-unannounced\"", "\"closes\"", "`mistake`"),
            ("fix = \"f\"", "fix = \" \"", "`fix`"),
            ("\"keeps_alive\"", "\"raw::keeps_alive\"", "`fix_in`"),
            ("\"keeps_alive\"", "\"ParseError::bare_cr\"", "`fix_in`"),
            ("\"keeps_alive\"", "\"KeepsAlive\"", "`fix_in`"),
        ] {
            let path = dir.path().join("bad-pin.toml");
            std::fs::write(&path, GOOD.replace(from, to)).unwrap();
            let error = load_file(&path).unwrap_err().to_string();
            assert!(
                error.starts_with(&path.display().to_string()) && error.contains(field),
                "{error}"
            );
        }
    }
}

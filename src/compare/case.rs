//! One corpus case: the bytes to send and how, what the RFC asks, the
//! outcomes pinned for each backend, and why it matters — read from a TOML
//! file in `compare/`.
//!
//! TOML strings cannot carry arbitrary bytes (`"\xff"` is U+00FF, two bytes in
//! UTF-8), so request bytes are written in single-quoted literal strings using
//! the escapes `<[u8]>::escape_ascii()` prints — `\r \n \t \\ \' \" \xNN` — and
//! decoded by [`unescape`]; printing with [`escape`] and reading back round-trips.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::verdict::Pattern;

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
    /// For a student: what a naive socket server does with these bytes, and why it breaks.
    pub why: String,
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
        Ok(Case {
            id: self.id,
            title: self.title,
            theme: self.theme,
            rfc: self.rfc,
            requires: self.requires,
            why: self.why,
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

impl Case {
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

//! Where a case's `fix_in` lives in the source: the files of `src/raw` and
//! `src/docroot` embedded at compile time, and the file and line of
//! `fn NAME` or of a variant of `enum ParseError` in them.
//!
//! The lesson page shows the line itself beside `src/raw/request.rs:123`: a
//! page opened from disk has no repository to link to, so the line shown is
//! what the reference is worth. Embedding (rather than reading at run time)
//! keeps the page the same wherever `compare` runs, and makes the file list
//! below something a test can hold against the folders.

/// Embeds one source file under its path from the crate root.
macro_rules! sources {
    ($($path:literal),+ $(,)?) => {
        &[$(Source {
            path: concat!("src/", $path),
            text: include_str!(concat!("../", $path)),
        }),+]
    };
}

/// One embedded source file.
#[derive(Debug, Clone, Copy)]
pub struct Source {
    /// From the crate root, e.g. `src/raw/request.rs`.
    pub path: &'static str,
    pub text: &'static str,
}

/// Every `.rs` file under `src/raw` and `src/docroot`, in path order. A test
/// compares this list with the folders, so a new file cannot be forgotten.
pub const SOURCES: &[Source] = sources![
    "docroot/added.rs",
    "docroot/beneath.rs",
    "docroot/cache.rs",
    "docroot/compress.rs",
    "docroot/conditional.rs",
    "docroot/encoding.rs",
    "docroot/listing.rs",
    "docroot/mod.rs",
    "docroot/range.rs",
    "docroot/reply.rs",
    "docroot/representation.rs",
    "docroot/request.rs",
    "docroot/resolve.rs",
    "raw/closing.rs",
    "raw/connection.rs",
    "raw/mod.rs",
    "raw/parking.rs",
    "raw/pool.rs",
    "raw/reader.rs",
    "raw/request.rs",
    "raw/response.rs",
    "raw/sys.rs",
];

/// Where an item is defined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// From the crate root, e.g. `src/raw/request.rs`.
    pub path: &'static str,
    /// 1-based, the line of `fn NAME` or of the variant.
    pub line: usize,
    /// That line, as written.
    pub text: &'static str,
    /// The doc comment and attributes just above it, as written: what the
    /// item says about itself (a variant's `#[error(...)]` is its rule).
    pub preamble: Vec<&'static str>,
}

impl Location {
    /// `src/raw/request.rs:123`.
    pub fn reference(&self) -> String {
        format!("{}:{}", self.path, self.line)
    }
}

/// Every definition `fix_in` names, outside test modules, in path order:
/// `ParseError::Variant` is looked up in the body of `enum ParseError`,
/// anything else as `fn NAME(` or `fn NAME<`. Empty when nothing matches;
/// more than one when several files define a function of that name (each is
/// shown: which one a case means is in its `fix`).
pub fn locate(fix_in: &str) -> Vec<Location> {
    match fix_in.strip_prefix("ParseError::") {
        Some(variant) => SOURCES
            .iter()
            .filter_map(|source| find_variant(source, "pub enum ParseError {", variant))
            .collect(),
        None => SOURCES
            .iter()
            .flat_map(|source| find_fns(source, fix_in))
            .collect(),
    }
}

/// The lines of `source` with their 1-based numbers, test modules left out:
/// a `#[cfg(test)]` followed by `mod NAME {`, to its closing brace at the
/// same indentation.
fn code_lines(source: &Source) -> Vec<(usize, &'static str)> {
    let lines: Vec<&'static str> = source.text.lines().collect();
    let mut kept = Vec::with_capacity(lines.len());
    let mut i = 0;
    while i < lines.len() {
        let opens_tests = lines[i].trim() == "#[cfg(test)]"
            && lines.get(i + 1).is_some_and(|next| {
                let next = next.trim();
                next.starts_with("mod ") && next.ends_with('{')
            });
        if opens_tests {
            let indent = &lines[i + 1][..lines[i + 1].len() - lines[i + 1].trim_start().len()];
            let close = format!("{indent}}}");
            i = (i + 2..lines.len())
                .find(|&j| lines[j] == close)
                .map_or(lines.len(), |j| j + 1);
            continue;
        }
        kept.push((i + 1, lines[i]));
        i += 1;
    }
    kept
}

/// The comment and attribute lines just above line index `at` of `lines`
/// (a list of numbered lines), nearest last.
fn preamble(lines: &[(usize, &'static str)], at: usize) -> Vec<&'static str> {
    let start = lines[..at]
        .iter()
        .rposition(|(_, line)| {
            let line = line.trim_start();
            !(line.starts_with("///") || line.starts_with("#[") || line.starts_with("//"))
        })
        .map_or(0, |i| i + 1);
    lines[start..at].iter().map(|&(_, line)| line).collect()
}

fn location(source: &Source, lines: &[(usize, &'static str)], at: usize) -> Location {
    Location {
        path: source.path,
        line: lines[at].0,
        text: lines[at].1,
        preamble: preamble(lines, at),
    }
}

/// Every `fn NAME(` or `fn NAME<` in `source`, outside comments and tests.
fn find_fns(source: &Source, name: &str) -> Vec<Location> {
    let lines = code_lines(source);
    let wanted = [format!("fn {name}("), format!("fn {name}<")];
    (0..lines.len())
        .filter(|&at| {
            let line = lines[at].1.trim_start();
            !line.starts_with("//") && wanted.iter().any(|w| line.contains(w.as_str()))
        })
        .map(|at| location(source, &lines, at))
        .collect()
}

/// The variant `name` in the body of the enum whose opening line is
/// `opening`: a line of the body that is the name followed by `,`, a space,
/// `{`, `(` or nothing.
fn find_variant(source: &Source, opening: &str, name: &str) -> Option<Location> {
    let lines = code_lines(source);
    let start = lines.iter().position(|(_, line)| line.trim() == opening)?;
    let indent = &lines[start].1[..lines[start].1.len() - lines[start].1.trim_start().len()];
    let close = format!("{indent}}}");
    let at = (start + 1..lines.len())
        .take_while(|&at| lines[at].1 != close)
        .find(|&at| {
            lines[at]
                .1
                .trim()
                .strip_prefix(name)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([',', ' ', '{', '(']))
        })?;
    Some(location(source, &lines, at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    /// Every `.rs` file below `dir`, as paths from the crate root.
    fn rust_files(root: &Path, dir: &Path, found: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                rust_files(root, &path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }

    #[test]
    fn the_list_is_every_file_of_raw_and_docroot() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let mut on_disk = Vec::new();
        for dir in ["src/raw", "src/docroot"] {
            rust_files(&root, &root.join(dir), &mut on_disk);
        }
        on_disk.sort();
        let listed: Vec<&str> = SOURCES.iter().map(|s| s.path).collect();
        assert_eq!(listed, on_disk, "list every file in SOURCES, in order");
    }

    /// The 1-based line of the first line of `path` that `matches`, read
    /// from disk: found independently of the embedded text and the lookup.
    fn line_on_disk(path: &str, matches: impl Fn(&str) -> bool) -> usize {
        let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path));
        text.unwrap().lines().position(matches).unwrap() + 1
    }

    #[test]
    fn finds_a_function_and_a_variant_on_their_lines() {
        let found = locate("keeps_alive");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].path, "src/raw/request.rs");
        assert_eq!(
            found[0].line,
            line_on_disk("src/raw/request.rs", |l| l
                .starts_with("pub fn keeps_alive("))
        );
        assert!(found[0].text.starts_with("pub fn keeps_alive("));
        assert!(found[0].preamble.iter().any(|l| l.starts_with("///")));

        let found = locate("ParseError::BareCr");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].path, "src/raw/request.rs");
        assert_eq!(
            found[0].line,
            line_on_disk("src/raw/request.rs", |l| l.trim() == "BareCr,")
        );
        assert_eq!(found[0].text.trim(), "BareCr,");
        assert_eq!(
            found[0].preamble,
            ["    #[error(\"a CR not followed by LF (RFC 9112 §2.2)\")]"]
        );
        assert_eq!(
            found[0].reference(),
            format!("src/raw/request.rs:{}", found[0].line)
        );
    }

    #[test]
    fn tests_and_other_items_are_not_definitions() {
        // `persistence` is also a test in request.rs: only the function counts.
        let found = locate("persistence");
        let paths: Vec<&str> = found.iter().map(|l| l.path).collect();
        assert_eq!(paths, ["src/raw/connection.rs"]);
        // Two functions of one name in two files: both are shown.
        let paths: Vec<&str> = locate("decide").iter().map(|l| l.path).collect();
        assert_eq!(paths, ["src/docroot/mod.rs", "src/docroot/range.rs"]);
        // `status` is a method of ParseError, `Incomplete` a variant named
        // without its enum, `BodyFraming` a type, `ParseError` the enum.
        for name in [
            "ParseError::status",
            "ParseError::NoSuchRule",
            "Incomplete",
            "BodyFraming",
            "ParseError",
            "no_such_function",
        ] {
            assert_eq!(locate(name), [], "{name}");
        }
    }
}

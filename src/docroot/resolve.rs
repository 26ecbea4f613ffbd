//! From a request path to what it names beneath the root: each segment
//! decoded once and checked to be an ordinary name, the names walked from the
//! root's descriptor ([`super::beneath`]), a folder's `index.html` looked for,
//! and every failure turned into a refusal that reveals nothing about the disk.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use percent_encoding::{AsciiSet, CONTROLS, percent_encode, utf8_percent_encode};

use super::beneath::{Beneath, Found, Root};
use super::cache::{ChangesSeen, FileCache};
use super::reply::Refusal;
use super::representation::Representation;
use super::request::is_path_byte;

/// Bytes escaped when a decoded path segment is written back into a URL
/// (`Location`, a listing's links). Everything that is not a pchar (RFC 3986
/// §3.3) is encoded, so no segment can become a separator, a query, a scheme
/// or an authority; letters, digits and `-._~!$&'()*+,;=:@` stay as they are.
pub(super) const SEGMENT_ESCAPES: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// Where a request path led on disk.
#[derive(Debug)]
pub(super) enum Resolved {
    File {
        /// The request's cache key.
        key: String,
        /// Below the root, as asked: a symlink's own name sets the type.
        relative: PathBuf,
        found: Found,
        /// The root it was found in: every other lookup of this request too.
        beneath: Arc<Beneath>,
    },
    /// A small file from the cache, still exactly as it was when kept.
    Cached(Representation),
    /// A directory without `index.html`, to be listed (only with `list_dirs`).
    Listing {
        dir: File,
        relative: PathBuf,
        beneath: Arc<Beneath>,
    },
    /// A directory asked for without its trailing slash: redirect there.
    AddSlash { location: String },
    /// Nothing to send from the disk: why.
    Refused(Refusal),
}

/// What a lookup needs of its docroot: where to look, the cache to ask
/// first, and the options that change what a path may name.
#[derive(Debug)]
pub(super) struct Lookup<'a> {
    pub(super) root: &'a Root,
    pub(super) cache: &'a FileCache,
    /// Names starting with `.` may be served.
    pub(super) serve_hidden: bool,
    /// A folder without `index.html` is listed.
    pub(super) list_dirs: bool,
    /// A look for changes made for this request already, after it was read.
    pub(super) seen: Option<&'a ChangesSeen>,
}

impl Lookup<'_> {
    /// Turns a request path into a file inside the root, or says why not.
    ///
    /// Segments are split on `/` *before* percent-decoding, so `%2f` can never
    /// become a separator; each is decoded once and must then be an ordinary
    /// name: not `.` or `..`, no `/` or `\`, and not hidden (a leading `.`,
    /// which covers `.git` and `.env`) unless `serve_hidden` — else a 404; a
    /// decoded NUL, CR or LF is a malformed request (`BadPath`). The names are
    /// then looked up beneath the root's descriptor ([`super::beneath`]), where no
    /// symlink can lead out unless `follow_symlinks`, and everything else is
    /// decided from the descriptor the lookup ends with.
    pub(super) fn resolve(&self, path: &str, query: Option<&str>) -> Result<Resolved, BadPath> {
        // Nearly every request spells its path the one way keys are written:
        // then the path is its own key, and a hit needs no decoding at all
        // (only paths that passed the checks below were ever kept).
        let normal = is_normal_form(path);
        if normal && let Some(representation) = self.cache.get(path, self.seen) {
            return Ok(Resolved::Cached(representation));
        }
        let mut relative = PathBuf::new();
        let mut segments = Vec::new();
        for raw in path.split('/').filter(|s| !s.is_empty()) {
            let decoded = percent_decode(raw)?;
            // A NUL, CR or LF can be no part of a name a client meant: NUL ends
            // a C string (`index.html%00.png`), CR and LF split the lines of
            // headers and logs. The request is malformed (400), not a lookup.
            if decoded.iter().any(|&b| matches!(b, 0 | b'\r' | b'\n')) {
                return Err(BadPath);
            }
            let name = OsStr::from_bytes(&decoded);
            let mut parts = Path::new(name).components();
            let is_plain_name = matches!(parts.next(), Some(Component::Normal(n)) if n == name)
                && parts.next().is_none();
            let hidden = decoded.starts_with(b".") && !self.serve_hidden;
            if !is_plain_name || hidden || decoded.iter().any(|&b| b == b'\\' || b == b'/') {
                return Ok(Resolved::Refused(Refusal::NotFound));
            }
            relative.push(name);
            segments.push(decoded);
        }
        let wants_directory = path.ends_with('/');
        // Every spelling of one path (`//a`, `/%61`) is one key.
        let key = cache_key(&segments, wants_directory);
        debug_assert!(!normal || key == path, "{path} is not its own key {key}");
        if !normal && let Some(representation) = self.cache.get(&key, self.seen) {
            return Ok(Resolved::Cached(representation));
        }
        let beneath = self.root.now();
        let found = match beneath.open_file(&relative) {
            Ok(found) => found,
            Err(e) => return Ok(Resolved::Refused(refusal(&e))),
        };
        if found.meta.is_dir() {
            if !wants_directory {
                return Ok(Resolved::AddSlash {
                    location: slash_location(&segments, query),
                });
            }
            let index = relative.join("index.html");
            return Ok(match index_decision(open_regular(&beneath, &index)) {
                Index::Serve(found) => Resolved::File {
                    key,
                    relative: index,
                    found,
                    beneath,
                },
                // Absent from the very folder to be listed, not only from
                // whatever its path named a moment ago.
                Index::Absent if self.list_dirs && !Beneath::has_index(&found.file) => {
                    Resolved::Listing {
                        dir: found.file,
                        relative,
                        beneath,
                    }
                }
                Index::Absent => {
                    tell_no_index(path, self.list_dirs);
                    Resolved::Refused(Refusal::NotFound)
                }
                Index::Refused(refused) => Resolved::Refused(refused),
            });
        }
        // FIFOs, sockets and devices: refused from the descriptor's own type,
        // before anything reads from it.
        if wants_directory || !found.meta.is_file() {
            return Ok(Resolved::Refused(Refusal::NotFound));
        }
        Ok(Resolved::File {
            key,
            relative,
            found,
            beneath,
        })
    }
}

/// Says why a folder got 404: the first time at info level, for the user
/// who wonders why their folder is "not found", every time at debug level.
fn tell_no_index(path: &str, list_dirs: bool) {
    static TOLD: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    let hint = if list_dirs {
        "it changed while being listed"
    } else {
        "--list-dirs would list its files instead"
    };
    if !TOLD.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::info!("404 for {path}: the folder has no index.html ({hint})");
    } else {
        tracing::debug!("404 for {path}: the folder has no index.html ({hint})");
    }
}

/// Opens `relative` beneath the root: `Ok(None)` if it is not a regular file.
pub(super) fn open_regular(beneath: &Beneath, relative: &Path) -> io::Result<Option<Found>> {
    let found = beneath.open_file(relative)?;
    Ok(found.meta.is_file().then_some(found))
}

/// What a folder's `index.html` lookup means for the answer.
#[derive(Debug)]
enum Index {
    Serve(Found),
    /// No such name: a listing, if they are on.
    Absent,
    /// Not a regular file (404), there but not to be read (403), or the
    /// server is out of descriptors (503): never replaced by a listing of
    /// what the index was meant to hide.
    Refused(Refusal),
}

fn index_decision(opened: io::Result<Option<Found>>) -> Index {
    match opened {
        Ok(Some(found)) => Index::Serve(found),
        Ok(None) => Index::Refused(Refusal::NotFound),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Index::Absent,
        Err(e) => Index::Refused(refusal(&e)),
    }
}

/// Whether `path` is written exactly as [`cache_key`] would write it: no
/// escapes, no empty segment, and only bytes that need no escaping.
pub(super) fn is_normal_form(path: &str) -> bool {
    // One pass, `//` included: a substring search costs more than a short path.
    let mut previous = 0;
    path.starts_with('/')
        && path.bytes().all(|b| {
            // Unreserved, sub-delims, `:`, `@` and `/`, from a table.
            let ok = is_path_byte(b) && !(b == b'/' && previous == b'/');
            previous = b;
            ok
        })
}

/// The cache key of a request path: its decoded segments, so that every
/// spelling of one path shares one entry and one count toward the cache's limit.
fn cache_key(segments: &[Vec<u8>], wants_directory: bool) -> String {
    let mut key = String::from("/");
    for (i, segment) in segments.iter().enumerate() {
        if i > 0 {
            key.push('/');
        }
        key.extend(percent_encode(segment, SEGMENT_ESCAPES));
    }
    if wants_directory && !segments.is_empty() {
        key.push('/');
    }
    key
}

/// A path that is not valid percent-encoding, or that decodes to a NUL, CR or
/// LF: the request is malformed (400), which is different from a well-formed
/// path that names nothing (404).
#[derive(Debug)]
pub(super) struct BadPath;

/// 403 only where the file exists but may not be read, 503 when the server
/// has run out of descriptors; every other failure looks like absence, so
/// refusals reveal nothing about the disk.
pub(super) fn refusal(e: &io::Error) -> Refusal {
    match (e.kind(), e.raw_os_error()) {
        (io::ErrorKind::PermissionDenied, _) => Refusal::Forbidden,
        (_, Some(libc::EMFILE | libc::ENFILE)) => Refusal::Unavailable,
        _ => Refusal::NotFound,
    }
}

/// Decodes `%XX` escapes once. A `%` not followed by two hex digits is an error.
fn percent_decode(segment: &str) -> Result<Vec<u8>, BadPath> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(BadPath)?;
            let value = std::str::from_utf8(hex)
                .ok()
                .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or(BadPath)?;
            out.push(value);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(out)
}

/// `Location` for a directory asked for without its slash, rebuilt from the
/// decoded segments rather than copied from the request: empty segments are
/// gone, so it can never start with `//` and be read as another host (the
/// protocol-relative redirect of CVE-2021-28861), and every segment is
/// re-encoded, so no byte of it can end the header or the path.
fn slash_location(segments: &[Vec<u8>], query: Option<&str>) -> String {
    let mut location = String::from("/");
    for segment in segments {
        // Bytes, not text: a name that is not UTF-8 keeps its exact bytes.
        location.extend(percent_encode(segment, SEGMENT_ESCAPES));
        location.push('/');
    }
    if let Some(query) = query {
        location.push('?');
        location.extend(utf8_percent_encode(query, CONTROLS));
    }
    location
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_in_normal_form_is_its_own_key() {
        let key_of = |path: &str| {
            let segments: Vec<Vec<u8>> = path
                .split('/')
                .filter(|s| !s.is_empty())
                .map(|s| percent_decode(s).unwrap())
                .collect();
            cache_key(&segments, path.ends_with('/'))
        };
        for path in [
            "/",
            "/a",
            "/a/",
            "/HelloWorld.html",
            "/a-b/c_d.e~f/",
            "/x!$&'()*+,;=:@",
        ] {
            assert!(is_normal_form(path), "{path}");
            assert_eq!(key_of(path), path);
        }
        // Other spellings of those paths are not normal, and share their keys.
        for (path, key) in [
            ("//a", "/a"),
            ("/%61", "/a"),
            ("/a//b/", "/a/b/"),
            ("/caf%C3%A9", "/caf%C3%A9"),
        ] {
            assert!(!is_normal_form(path), "{path}");
            assert_eq!(key_of(path), key);
        }
        for path in ["a", "/a b", "/a\\b", "/caf\u{e9}", "/a?b", "/a#b", "/a%2fb"] {
            assert!(!is_normal_form(path), "{path}");
        }
    }

    #[test]
    fn out_of_descriptors_is_a_503_not_a_404() {
        let e = io::Error::from_raw_os_error(libc::EMFILE);
        assert_eq!(refusal(&e), Refusal::Unavailable);
        let e = io::Error::from_raw_os_error(libc::EACCES);
        assert_eq!(refusal(&e), Refusal::Forbidden);
        let e = io::Error::from_raw_os_error(libc::ELOOP);
        assert_eq!(refusal(&e), Refusal::NotFound);
    }

    #[test]
    fn an_index_refused_is_never_a_listing() {
        let decided = |e: i32| match index_decision(Err(io::Error::from_raw_os_error(e))) {
            Index::Absent => None,
            Index::Serve(_) => panic!("an error served"),
            Index::Refused(refused) => Some(refused),
        };
        assert_eq!(decided(libc::ENOENT), None, "only absence allows a listing");
        assert_eq!(decided(libc::EACCES), Some(Refusal::Forbidden));
        assert_eq!(decided(libc::EMFILE), Some(Refusal::Unavailable));
        assert_eq!(decided(libc::ENFILE), Some(Refusal::Unavailable));
        assert_eq!(decided(libc::ELOOP), Some(Refusal::NotFound));
        assert_eq!(decided(libc::EXDEV), Some(Refusal::NotFound));
        assert!(matches!(
            index_decision(Ok(None)),
            Index::Refused(Refusal::NotFound)
        ));
        let escape = io::Error::new(io::ErrorKind::NotFound, "resolution leaves the root");
        assert!(matches!(index_decision(Err(escape)), Index::Refused(_)));
    }
}

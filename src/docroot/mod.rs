//! The one place that decides the answer: a parsed request in, a [`Reply`]
//! (status, headers, body) out. Both backends call [`DocRoot::respond`] and only
//! move bytes, so when they answer the same bytes differently the cause is HTTP
//! parsing or connection handling, never two copies of the serving rules.
//!
//! This module knows no socket, thread or runtime. It owns the rules of RFC 9110
//! that are the application's to keep (method handling, §15 statuses, the
//! `Host` MUST of RFC 9112 §3.2 that hyper leaves to the application) and the
//! path resolution that keeps every answer inside the root.

mod beneath;
mod cache;
mod conditional;
mod encoding;
mod listing;
mod range;

use std::ffi::OsStr;
use std::fs::{File, Metadata};
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use bytes::Bytes;
use http::StatusCode;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use percent_encoding::{AsciiSet, CONTROLS, percent_encode, utf8_percent_encode};

use beneath::{Beneath, Found, Links, Root};
use cache::{Candidate, FileCache, Identity};
use conditional::Precondition;
use range::RangeDecision;

/// HTTP version of a request, as far as the answer depends on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    Http10,
    Http11,
}

/// Read access to a request's header fields, whichever parser produced them.
pub trait HeaderSource {
    /// Every field value named `name` (matched ASCII case-insensitively), in order.
    fn values<'s>(&'s self, name: &'s HeaderName) -> impl Iterator<Item = &'s [u8]> + 's;
}

impl HeaderSource for HeaderMap {
    fn values<'s>(&'s self, name: &'s HeaderName) -> impl Iterator<Item = &'s [u8]> + 's {
        self.get_all(name).iter().map(HeaderValue::as_bytes)
    }
}

/// A request as the backend parsed it; the target is the raw request-target.
#[derive(Debug)]
pub struct RequestView<'a, H: ?Sized> {
    pub method: &'a str,
    pub target: &'a str,
    pub version: Version,
    pub headers: &'a H,
}

/// What goes back: the backends add only connection-management fields.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Body,
}

/// A reply's content. `Content-Length` is always in the reply's headers, even
/// for `Empty` (a HEAD answer carries the length of the body it omits).
#[derive(Debug)]
pub enum Body {
    Empty,
    Bytes(Bytes),
    /// `len` bytes of an open regular file, from `offset` on.
    File {
        file: File,
        offset: u64,
        len: u64,
    },
}

/// Why a document root cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum RootError {
    #[error("document root {path}: {source}")]
    Unreadable { path: PathBuf, source: io::Error },
    #[error("document root {path} is not a directory")]
    NotADirectory { path: PathBuf },
    #[error("{what} {value:?} is not a valid header value")]
    Option { what: &'static str, value: String },
}

/// The methods this server knows but does not allow on static files.
/// Anything else is answered 501 (RFC 9110 §9.1: an unrecognised method SHOULD).
const KNOWN_METHODS: &[&str] = &[
    "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// Bytes escaped when a decoded path segment is written back into `Location`.
/// Everything that is not a pchar (RFC 3986 §3.3) is encoded, so no segment can
/// become a separator, a query, a scheme or an authority.
const SEGMENT_ESCAPES: &AsciiSet = &CONTROLS
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

/// How a [`DocRoot`] serves, beyond the fixed rules; part of `Config`.
#[derive(Debug, Clone)]
pub struct Options {
    /// `Cache-Control` on 200, 206 and 304 answers for files.
    pub cache_control: String,
    /// Send `file.br` / `file.gz` when the client accepts that encoding.
    pub precompressed: bool,
    /// List a directory that has no `index.html` instead of answering 404.
    pub list_dirs: bool,
    /// Serve names that start with `.` (refused by default: `.git`, `.env`).
    pub serve_hidden: bool,
    /// Follow symlinks that lead out of the root (refused by default).
    pub follow_symlinks: bool,
}

/// Five minutes: a browser reuses a page within a visit without asking, yet
/// an edit shows within minutes; past that, the ETag makes revalidation a 304.
pub const DEFAULT_CACHE_CONTROL: &str = "public, max-age=300";

impl Default for Options {
    fn default() -> Options {
        Options {
            cache_control: DEFAULT_CACHE_CONTROL.to_string(),
            precompressed: true,
            list_dirs: false,
            serve_hidden: false,
            follow_symlinks: false,
        }
    }
}

/// A folder served over HTTP: the canonical root and the rules for answering.
#[derive(Debug)]
pub struct DocRoot {
    root: PathBuf,
    /// The root folder, from whose descriptor every request is looked up.
    root_dir: Root,
    options: Options,
    cache_control: HeaderValue,
    cache: FileCache,
    /// Longest request-target answered at all (RFC 9112 §3: 414 above it): the
    /// configured request-line limit, which the raw parser also enforces while
    /// reading; for hyper this is the only check at that length.
    max_target_len: usize,
}

/// Where a request path led on disk.
#[derive(Debug)]
enum Resolved {
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
    AddSlash {
        location: String,
    },
    NotFound,
    Forbidden,
    /// Out of descriptors (`EMFILE`): the server's trouble, not the file's.
    Unavailable,
}

/// The `Allow` value: what every resource here supports (RFC 9110 §10.2.1).
const ALLOW: &str = "GET, HEAD, OPTIONS";

impl DocRoot {
    /// Checks that `root` is a readable directory and remembers its canonical form,
    /// against which every resolved path is checked.
    pub fn open(root: &Path, options: Options) -> Result<DocRoot, RootError> {
        let unreadable = |source| RootError::Unreadable {
            path: root.to_path_buf(),
            source,
        };
        let canonical = root.canonicalize().map_err(unreadable)?;
        if !canonical.is_dir() {
            return Err(RootError::NotADirectory {
                path: root.to_path_buf(),
            });
        }
        std::fs::read_dir(&canonical).map_err(unreadable)?;
        let links = if options.follow_symlinks {
            Links::Anywhere
        } else {
            Links::Beneath
        };
        let root_dir = Root::open(&canonical, links).map_err(unreadable)?;
        let cache_control =
            HeaderValue::try_from(options.cache_control.as_str()).map_err(|_| {
                RootError::Option {
                    what: "--cache-control",
                    value: options.cache_control.clone(),
                }
            })?;
        Ok(DocRoot {
            root: canonical,
            root_dir,
            options,
            cache_control,
            cache: FileCache::default(),
            max_target_len: crate::limits::MAX_REQUEST_LINE,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Answers 414 to targets longer than `len` (default: `limits::MAX_REQUEST_LINE`).
    pub fn with_max_target_len(mut self, len: usize) -> DocRoot {
        self.max_target_len = len;
        self
    }

    /// Decides the whole answer to one request.
    pub fn respond<H: HeaderSource + ?Sized>(&self, req: &RequestView<'_, H>) -> Reply {
        self.decide(req).answering(req.method)
    }

    fn decide<H: HeaderSource + ?Sized>(&self, req: &RequestView<'_, H>) -> Reply {
        if req.target.len() > self.max_target_len {
            return Reply::status(StatusCode::URI_TOO_LONG);
        }
        // RFC 9112 §3.2: an HTTP/1.1 request without Host, any request with more
        // than one, or one with an invalid value MUST get 400. hyper never checks.
        let mut hosts = req.headers.values(&header::HOST);
        let host_ok = match (hosts.next(), hosts.next()) {
            (None, _) => req.version == Version::Http10,
            (Some(host), None) => is_valid_host(host),
            (Some(_), Some(_)) => false,
        };
        if !host_ok {
            return Reply::status(StatusCode::BAD_REQUEST);
        }
        match req.method {
            "GET" | "HEAD" => {}
            // RFC 9110 §9.3.7: the same answer for `*` (the server) and any
            // path (a resource), since every resource allows the same methods.
            "OPTIONS" => return Reply::options(),
            m if KNOWN_METHODS.contains(&m) => {
                let mut reply = Reply::status(StatusCode::METHOD_NOT_ALLOWED);
                reply
                    .headers
                    .insert(header::ALLOW, HeaderValue::from_static(ALLOW));
                return reply;
            }
            _ => return Reply::status(StatusCode::NOT_IMPLEMENTED),
        }
        let Some((path, query)) = origin_path(req.target) else {
            return Reply::status(StatusCode::BAD_REQUEST);
        };
        match self.resolve(path, query) {
            Err(BadPath) => Reply::status(StatusCode::BAD_REQUEST),
            Ok(Resolved::File {
                key,
                relative,
                found,
                beneath,
            }) => {
                // Only what was reached without a symlink is kept: then the
                // folders the cache watches alone decide what the key names.
                let key = found.direct.then_some(key.as_str());
                let representation = self.select_variant(req, key, &relative, found, &beneath);
                self.serve(req, representation)
            }
            Ok(Resolved::Cached(representation)) => self.serve(req, representation),
            Ok(Resolved::Listing {
                dir,
                relative,
                beneath,
            }) => self.listing(&dir, &relative, path, &beneath),
            Ok(Resolved::AddSlash { location }) => {
                let mut reply = Reply::status(StatusCode::MOVED_PERMANENTLY);
                if let Ok(value) = HeaderValue::from_str(&location) {
                    reply.headers.insert(header::LOCATION, value);
                }
                reply
            }
            Ok(Resolved::NotFound) => self.not_found(),
            Ok(refused) => Reply::from_refusal(refused),
        }
    }

    /// A file found: check the preconditions, then send it whole, a range of
    /// it, or one of 304 / 412 / 416.
    fn serve<H: HeaderSource + ?Sized>(
        &self,
        req: &RequestView<'_, H>,
        rep: Representation,
    ) -> Reply {
        let validators = conditional::Validators {
            // Always ASCII: this module formatted it.
            etag: rep.etag.to_str().unwrap_or_default(),
            modified: rep.modified,
        };
        let get_or_head = matches!(req.method, "GET" | "HEAD");
        match conditional::evaluate(req.headers, get_or_head, validators) {
            Precondition::Failed => Reply::status(StatusCode::PRECONDITION_FAILED),
            Precondition::NotModified => rep.not_modified(),
            Precondition::Proceed => {
                // RFC 9110 §14.2: Range applies to GET only; HEAD answers as GET would without it.
                let total = rep.len;
                let range = req.headers.values(&header::RANGE).collect::<Vec<_>>();
                let decision = match range.as_slice() {
                    [value]
                        if req.method == "GET"
                            && conditional::if_range_allows(req.headers, validators) =>
                    {
                        range::decide(value, total)
                    }
                    _ => RangeDecision::Full,
                };
                match decision {
                    RangeDecision::Full => rep.reply(StatusCode::OK, 0, total),
                    RangeDecision::Part { start, len } => {
                        let mut reply = rep.reply(StatusCode::PARTIAL_CONTENT, start, len);
                        let content_range = format!("bytes {start}-{}/{total}", start + len - 1);
                        reply
                            .headers
                            .insert(header::CONTENT_RANGE, header_value(content_range));
                        reply
                    }
                    RangeDecision::Unsatisfiable => {
                        let mut reply = Reply::status(StatusCode::RANGE_NOT_SATISFIABLE);
                        let content_range = format!("bytes */{total}");
                        reply
                            .headers
                            .insert(header::CONTENT_RANGE, header_value(content_range));
                        reply
                    }
                }
            }
        }
    }

    /// The representation to send: the file itself, or a precompressed
    /// sibling the client accepts. A small file with no siblings is read into
    /// memory and, if it has a cache `key` (given only when it was reached
    /// without symlinks), kept in the cache under it.
    fn select_variant<H: HeaderSource + ?Sized>(
        &self,
        req: &RequestView<'_, H>,
        key: Option<&str>,
        relative: &Path,
        found: Found,
        beneath: &Beneath,
    ) -> Representation {
        // Sampled before the siblings are looked for, so the cache can tell
        // whether one appeared before its watches were in place.
        let folder = relative.parent().unwrap_or(Path::new(""));
        let folder_modified = key
            .and_then(|_| beneath.look_direct(folder).ok())
            .and_then(|m| m.modified().ok());
        let identity = Identity::of(&found.meta);
        let plain = Representation::of_file(relative, found.file, &found.meta);
        let mut siblings = Vec::new();
        if self.options.precompressed {
            for &(coding, suffix) in encoding::VARIANTS {
                let mut name = relative.as_os_str().to_os_string();
                name.push(".");
                name.push(suffix);
                if let Ok(Some(found)) = open_regular(beneath, Path::new(&name)) {
                    siblings.push((coding, found));
                }
            }
        }
        if siblings.is_empty() {
            let plain = plain.into_memory().finish(&self.cache_control);
            if let Some(key) = key {
                let candidate = Candidate {
                    key,
                    relative,
                    identity,
                    folder_modified,
                };
                self.cache.keep(beneath, &candidate, &plain);
            }
            return plain;
        }
        let names: Vec<&'static str> = siblings.iter().map(|(c, _)| *c).collect();
        let mut chosen = match encoding::choose(req.headers, &names) {
            Some(chosen) => {
                let index = names.iter().position(|c| *c == chosen).unwrap_or(0);
                let (coding, found) = siblings.swap_remove(index);
                // The original's name decides the type: text.txt.gz is text.
                let mut encoded = Representation::of_file(relative, found.file, &found.meta);
                encoded.coding = Some(coding);
                encoded
            }
            None => plain,
        };
        chosen.has_variants = true;
        chosen.finish(&self.cache_control)
    }

    /// `--list-dirs`: the page for a folder without `index.html`. Each entry
    /// is looked up beneath the root as a request for it would be, so the
    /// page names exactly what can be fetched.
    fn listing(&self, dir: &File, relative: &Path, url_path: &str, beneath: &Beneath) -> Reply {
        let entries = match self.entries(dir, relative, beneath) {
            Ok(entries) => entries,
            Err(e) => return Reply::from_refusal(refusal(&e)),
        };
        let html = listing::page(url_path, entries);
        let mut reply = Reply::status(StatusCode::OK);
        reply
            .headers
            .insert(header::CONTENT_LENGTH, HeaderValue::from(html.len()));
        reply.body = Body::Bytes(Bytes::from(html));
        reply
    }

    /// The visible files and folders in `dir`, read from its descriptor.
    fn entries(
        &self,
        dir: &File,
        relative: &Path,
        beneath: &Beneath,
    ) -> io::Result<Vec<listing::Entry>> {
        let mut entries = Vec::new();
        for entry in rustix::fs::Dir::read_from(dir.as_fd())? {
            let entry = entry?;
            let name = entry.file_name().to_bytes();
            if name == b"."
                || name == b".."
                || (name.starts_with(b".") && !self.options.serve_hidden)
            {
                continue;
            }
            // The entry in this very folder; only a link is looked up again,
            // beneath the root, to see whether it may be followed.
            let Ok(meta) = beneath.entry(dir, relative, OsStr::from_bytes(name)) else {
                continue;
            };
            if meta.is_file() || meta.is_dir() {
                entries.push(listing::Entry {
                    name: name.to_vec(),
                    is_dir: meta.is_dir(),
                    len: meta.len(),
                    modified: meta.modified().ok(),
                });
            }
        }
        Ok(entries)
    }

    /// 404 with the root's own `404.html` when it has one.
    fn not_found(&self) -> Reply {
        let page = Path::new("404.html");
        match open_regular(&self.root_dir.now(), page) {
            Ok(Some(found)) => {
                let page = Representation::of_file(page, found.file, &found.meta);
                let len = page.len;
                page.reply(StatusCode::NOT_FOUND, 0, len)
            }
            _ => Reply::status(StatusCode::NOT_FOUND),
        }
    }

    /// Turns a request path into a file inside the root, or says why not.
    ///
    /// Segments are split on `/` *before* percent-decoding, so `%2f` can never
    /// become a separator; each is decoded once and must then be an ordinary
    /// name: not `.` or `..`, no `/`, `\` or NUL, and not hidden (a leading `.`,
    /// which covers `.git` and `.env`) unless `serve_hidden`. The names are
    /// then looked up beneath the root's descriptor ([`beneath`]), where no
    /// symlink can lead out unless `follow_symlinks`, and everything else is
    /// decided from the descriptor the lookup ends with.
    fn resolve(&self, path: &str, query: Option<&str>) -> Result<Resolved, BadPath> {
        let mut relative = PathBuf::new();
        let mut segments = Vec::new();
        for raw in path.split('/').filter(|s| !s.is_empty()) {
            let decoded = percent_decode(raw)?;
            let name = OsStr::from_bytes(&decoded);
            let mut parts = Path::new(name).components();
            let is_plain_name = matches!(parts.next(), Some(Component::Normal(n)) if n == name)
                && parts.next().is_none();
            let hidden = decoded.starts_with(b".") && !self.options.serve_hidden;
            if !is_plain_name
                || hidden
                || decoded.iter().any(|&b| b == b'\\' || b == 0 || b == b'/')
            {
                return Ok(Resolved::NotFound);
            }
            relative.push(name);
            segments.push(decoded);
        }
        let wants_directory = path.ends_with('/');
        // Every spelling of one path (`//a`, `/%61`) is one key.
        let key = cache_key(&segments, wants_directory);
        if let Some(representation) = self.cache.get(&key) {
            return Ok(Resolved::Cached(representation));
        }
        let beneath = self.root_dir.now();
        let found = match beneath.open_file(&relative) {
            Ok(found) => found,
            Err(e) => return Ok(refusal(&e)),
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
                Index::Absent if self.options.list_dirs && !Beneath::has_index(&found.file) => {
                    Resolved::Listing {
                        dir: found.file,
                        relative,
                        beneath,
                    }
                }
                Index::Absent => Resolved::NotFound,
                Index::Refused(refused) => refused,
            });
        }
        // FIFOs, sockets and devices: refused from the descriptor's own type,
        // before anything reads from it.
        if wants_directory || !found.meta.is_file() {
            return Ok(Resolved::NotFound);
        }
        Ok(Resolved::File {
            key,
            relative,
            found,
            beneath,
        })
    }
}

/// Opens `relative` beneath the root: `Ok(None)` if it is not a regular file.
fn open_regular(beneath: &Beneath, relative: &Path) -> io::Result<Option<Found>> {
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
    Refused(Resolved),
}

fn index_decision(opened: io::Result<Option<Found>>) -> Index {
    match opened {
        Ok(Some(found)) => Index::Serve(found),
        Ok(None) => Index::Refused(Resolved::NotFound),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Index::Absent,
        Err(e) => Index::Refused(refusal(&e)),
    }
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

/// A path that is not valid percent-encoding: the request is malformed (400),
/// which is different from a well-formed path that names nothing (404).
#[derive(Debug)]
struct BadPath;

/// 403 only where the file exists but may not be read, 503 when the server
/// has run out of descriptors; every other failure looks like absence, so
/// refusals reveal nothing about the disk.
fn refusal(e: &io::Error) -> Resolved {
    match (e.kind(), e.raw_os_error()) {
        (io::ErrorKind::PermissionDenied, _) => Resolved::Forbidden,
        (_, Some(libc::EMFILE | libc::ENFILE)) => Resolved::Unavailable,
        _ => Resolved::NotFound,
    }
}

/// The path and query of an origin-form or absolute-form target (RFC 9112
/// §3.2.1, §3.2.2); `None` for asterisk- and authority-form, which a GET or
/// HEAD may not use. A fragment, never valid in a request-target, is dropped
/// as hyper does (the raw parser rejects it before this point).
fn origin_path(target: &str) -> Option<(&str, Option<&str>)> {
    let target = target.split_once('#').map_or(target, |(before, _)| before);
    let path_and_query = if target.starts_with('/') {
        target
    } else {
        // RFC 9112 §3.2.2: an origin server MUST accept absolute-form and
        // answer from its path. RFC 9110 §4.2.1: an http(s) URI with an empty
        // host is invalid; §4.2.4: userinfo in one MUST be treated as an error.
        let (scheme, rest) = target.split_once("://")?;
        if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
            return None;
        }
        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let authority = &rest[..end];
        let host = authority
            .rsplit_once(':')
            .map_or(authority, |(host, _)| host);
        if host.is_empty() || authority.contains('@') {
            return None;
        }
        match rest.as_bytes().get(end) {
            Some(b'/') => &rest[end..],
            Some(_) => return Some(("/", Some(&rest[end + 1..]))),
            None => "/",
        }
    };
    Some(match path_and_query.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (path_and_query, None),
    })
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

/// RFC 9112 §3.2 with RFC 3986 §3.2.2: `uri-host [ ":" port ]`, where the host
/// is an IP-literal in brackets or a reg-name (unreserved, sub-delims, pct-encoded).
fn is_valid_host(value: &[u8]) -> bool {
    let (host, port) = if let Some(rest) = value.strip_prefix(b"[") {
        let Some(end) = rest.iter().position(|&b| b == b']') else {
            return false;
        };
        let literal = &rest[..end];
        if literal.is_empty()
            || !literal
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return false;
        }
        (&[][..], &rest[end + 1..])
    } else {
        match value.iter().position(|&b| b == b':') {
            Some(i) => (&value[..i], &value[i..]),
            None => (value, &[][..]),
        }
    };
    let port_ok = match port {
        [] => true,
        [b':', digits @ ..] => digits.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    port_ok
        && host
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=%".contains(&b))
}

impl Reply {
    /// A short built-in HTML page for `status`, with the shared headers.
    pub fn status(status: StatusCode) -> Reply {
        let reason = status.canonical_reason().unwrap_or("");
        let code = status.as_u16();
        let page = format!(
            "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{code} {reason}</title></head>\n\
             <body><h1>{code} {reason}</h1></body></html>\n"
        );
        let mut headers = base_headers();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(page.len()));
        Reply {
            status,
            headers,
            body: Body::Bytes(Bytes::from(page)),
        }
    }

    /// The introspection answer: `200` with a JSON description of the request
    /// as a backend parsed it, so `compare` can show where two parsers read the
    /// same bytes differently. Built by the backends, which alone know their parse.
    /// Its body is the point even for HEAD (compare reads it on a connection
    /// of its own); `serve` never turns this mode on.
    pub fn introspection(json: String) -> Reply {
        let mut headers = base_headers();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(json.len()));
        Reply {
            status: StatusCode::OK,
            headers,
            body: Body::Bytes(Bytes::from(json)),
        }
    }

    /// 204 with `Allow` for OPTIONS (RFC 9110 §9.3.7).
    pub fn options() -> Reply {
        let mut headers = base_headers();
        headers.insert(header::ALLOW, HeaderValue::from_static(ALLOW));
        Reply {
            status: StatusCode::NO_CONTENT,
            headers,
            body: Body::Empty,
        }
    }

    fn from_refusal(resolved: Resolved) -> Reply {
        match resolved {
            Resolved::Forbidden => Reply::status(StatusCode::FORBIDDEN),
            Resolved::Unavailable => Reply::status(StatusCode::SERVICE_UNAVAILABLE),
            _ => Reply::status(StatusCode::NOT_FOUND),
        }
    }

    /// The reply as sent to a request with `method`: the one place, for
    /// every answer of both backends, where HEAD loses the body and keeps the
    /// headers (RFC 9110 §9.3.2), so no early return can forget it.
    pub fn answering(self, method: &str) -> Reply {
        if method == "HEAD" {
            self.without_body()
        } else {
            self
        }
    }

    /// The same reply with its body dropped and its headers kept.
    pub fn without_body(mut self) -> Reply {
        self.body = Body::Empty;
        self
    }

    /// The value of `Content-Length`, which every reply carries.
    pub fn content_length(&self) -> u64 {
        self.headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

fn base_headers() -> HeaderMap {
    let mut headers = HeaderMap::with_capacity(10);
    headers.insert(header::DATE, date_now());
    headers.insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    headers
}

/// The `Date` value, formatted once a second per thread rather than per reply.
fn date_now() -> HeaderValue {
    thread_local! {
        static DATE: std::cell::RefCell<(u64, HeaderValue)> =
            const { std::cell::RefCell::new((u64::MAX, HeaderValue::from_static(""))) };
    }
    let now = SystemTime::now();
    let second = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    DATE.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.0 != second {
            *cached = (second, header_value(httpdate::fmt_http_date(now)));
        }
        cached.1.clone()
    })
}

fn header_value(text: String) -> HeaderValue {
    // Only called with text this module formatted: dates, numbers, MIME types.
    HeaderValue::try_from(text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// What a file answer is made of: the bytes (an open file, or a small file
/// already in memory) and everything the headers and preconditions need.
#[derive(Debug)]
pub(crate) struct Representation {
    len: u64,
    modified: Option<SystemTime>,
    etag: HeaderValue,
    /// Every header field of a `200` for it, formatted once per file rather
    /// than per reply, in the order they are sent; a reply only puts in the
    /// current `Date`. Cloning the finished map costs a cached hit less than
    /// building it did (criterion, `benches/parser.rs`: see docs/benchmarks.md).
    fields: HeaderMap,
    content: Content,
    /// The precompressed coding sent, if any.
    coding: Option<&'static str>,
    /// The file has precompressed siblings, so answers vary on Accept-Encoding.
    has_variants: bool,
}

#[derive(Debug)]
enum Content {
    File(File),
    Bytes(Bytes),
}

impl Representation {
    /// `path` as asked decides the type; `meta` is the opened file's own.
    /// Its fields are those of any page; [`Representation::finish`] adds
    /// what makes them a resource's (a `404.html` sent as the 404 page has no
    /// validators: they would describe the wrong thing).
    fn of_file(path: &Path, file: File, meta: &Metadata) -> Representation {
        let modified = meta.modified().ok();
        let etag = header_value(etag_of(meta));
        let mut fields = base_headers();
        fields.insert(header::CONTENT_TYPE, header_value(content_type(path)));
        fields.insert(header::CONTENT_LENGTH, HeaderValue::from(meta.len()));
        Representation {
            len: meta.len(),
            modified,
            etag,
            fields,
            content: Content::File(file),
            coding: None,
            has_variants: false,
        }
    }

    /// Adds the validators and the fields that depend on the coding chosen,
    /// the variants found and the docroot's `Cache-Control`.
    fn finish(mut self, cache_control: &HeaderValue) -> Representation {
        let fields = &mut self.fields;
        fields.insert(header::ETAG, self.etag.clone());
        if let Some(modified) = self.modified {
            let value = header_value(httpdate::fmt_http_date(modified));
            fields.insert(header::LAST_MODIFIED, value);
        }
        fields.insert(header::CACHE_CONTROL, cache_control.clone());
        fields.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
        if let Some(coding) = self.coding {
            fields.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
        }
        if self.has_variants {
            // Caches must key on Accept-Encoding, for the plain file too.
            fields.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        }
        self
    }

    /// A small file read into memory; anything else (or a read that comes up
    /// short) stays a file.
    fn into_memory(mut self) -> Representation {
        if let Content::File(file) = &mut self.content
            && self.len <= cache::SMALL_FILE
        {
            let mut bytes = Vec::with_capacity(self.len as usize);
            if file.read_to_end(&mut bytes).is_ok() && bytes.len() as u64 == self.len {
                self.content = Content::Bytes(Bytes::from(bytes));
            }
        }
        self
    }

    /// Bytes held in memory: the body, the struct and every prepared field
    /// (its name, value and the map's own bookkeeping for it).
    fn footprint(&self) -> u64 {
        const PER_FIELD: usize = 96;
        let body = match &self.content {
            Content::Bytes(bytes) => bytes.len(),
            Content::File(_) => 0,
        };
        let fields: usize = self
            .fields
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + PER_FIELD)
            .sum();
        (std::mem::size_of::<Representation>() + body + fields + self.etag.len()) as u64
    }

    /// A copy for the cache: only of what is in memory.
    fn clone_cached(&self) -> Option<Representation> {
        let Content::Bytes(bytes) = &self.content else {
            return None;
        };
        Some(Representation {
            len: self.len,
            modified: self.modified,
            etag: self.etag.clone(),
            fields: self.fields.clone(),
            content: Content::Bytes(bytes.clone()),
            coding: self.coding,
            has_variants: self.has_variants,
        })
    }

    /// A reply with `len` bytes of this representation from `offset` on.
    fn reply(self, status: StatusCode, offset: u64, len: u64) -> Reply {
        let mut headers = self.fields;
        // In place: the fields keep their order.
        headers.insert(header::DATE, date_now());
        if len != self.len {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        }
        let body = match self.content {
            Content::File(file) => Body::File { file, offset, len },
            // Ranges were checked against the length, so the slice is in bounds.
            Content::Bytes(bytes) => {
                Body::Bytes(bytes.slice(offset as usize..(offset + len) as usize))
            }
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    /// RFC 9110 §15.4.5: the fields a 200 would carry that describe the
    /// representation's validity, and no content.
    fn not_modified(self) -> Reply {
        let mut headers = base_headers();
        let kept = [
            header::ETAG,
            header::LAST_MODIFIED,
            header::CACHE_CONTROL,
            header::CONTENT_ENCODING,
            header::VARY,
        ];
        for name in kept {
            if let Some(value) = self.fields.get(&name) {
                headers.insert(name, value.clone());
            }
        }
        Reply {
            status: StatusCode::NOT_MODIFIED,
            headers,
            body: Body::Empty,
        }
    }
}

/// A strong validator from the file's identity: inode, size, and mtime to
/// the nanosecond, so a rewrite of the same length still changes it, and a
/// precompressed sibling (another inode) never shares it.
fn etag_of(meta: &Metadata) -> String {
    format!(
        "\"{:x}-{:x}-{:x}.{:x}\"",
        meta.ino(),
        meta.len(),
        meta.mtime(),
        meta.mtime_nsec()
    )
}

/// The MIME type from the file name; text gets an explicit charset so a
/// browser never has to guess (and `nosniff` forbids it to).
fn content_type(path: &Path) -> String {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let textual = mime.type_() == mime_guess::mime::TEXT
        || matches!(
            mime.essence_str(),
            "application/javascript" | "application/json" | "application/xml" | "image/svg+xml"
        );
    if textual {
        format!("{}; charset=utf-8", mime.essence_str())
    } else {
        mime.essence_str().to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fields(Vec<(&'static str, &'static [u8])>);

    impl HeaderSource for Fields {
        fn values<'s>(&'s self, name: &'s HeaderName) -> impl Iterator<Item = &'s [u8]> + 's {
            self.0
                .iter()
                .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_str()))
                .map(|(_, v)| *v)
        }
    }

    fn site() -> (tempfile::TempDir, DocRoot) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("index.html"), "home").unwrap();
        std::fs::write(root.join("sub/index.html"), "sub home").unwrap();
        std::fs::write(root.join("a b.txt"), "spaced").unwrap();
        std::fs::write(root.join(".hidden"), "hidden").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "SECRET").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), root.join("out")).unwrap();
        std::os::unix::fs::symlink(dir.path(), root.join("outdir")).unwrap();
        let docroot = DocRoot::open(&root, Options::default()).unwrap();
        (dir, docroot)
    }

    fn get(docroot: &DocRoot, target: &str) -> Reply {
        let headers = Fields(vec![("Host", b"localhost")]);
        docroot.respond(&RequestView {
            method: "GET",
            target,
            version: Version::Http11,
            headers: &headers,
        })
    }

    #[test]
    fn prepared_fields_get_the_current_date_and_a_range_its_length() {
        let (dir, _docroot) = site();
        let path = dir.path().join("root/index.html");
        let file = File::open(&path).unwrap();
        let meta = file.metadata().unwrap();
        let mut rep = Representation::of_file(&path, file, &meta)
            .into_memory()
            .finish(&HeaderValue::from_static("no-cache"));
        // As if the file had been read long ago.
        let old = HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT");
        rep.fields.insert(header::DATE, old.clone());
        let names = |reply: &Reply| {
            let names = reply.headers.keys().map(|n| n.as_str().to_owned());
            names.collect::<Vec<_>>()
        };
        let whole = rep.clone_cached().unwrap().reply(StatusCode::OK, 0, 4);
        assert_ne!(whole.headers[header::DATE], old);
        assert_eq!(whole.content_length(), 4);
        assert_eq!(
            names(&whole),
            [
                "date",
                "x-content-type-options",
                "content-type",
                "content-length",
                "etag",
                "last-modified",
                "cache-control",
                "accept-ranges"
            ]
        );
        let part = rep.reply(StatusCode::PARTIAL_CONTENT, 1, 2);
        assert_eq!(part.content_length(), 2);
        assert!(matches!(part.body, Body::Bytes(ref b) if b == "om"));
    }

    #[test]
    fn small_files_are_kept_and_symlinked_ones_are_not() {
        let (dir, docroot) = site();
        let entries = |d: &DocRoot| format!("{:?}", d.cache);
        assert!(
            entries(&docroot).contains("inotify on"),
            "{}",
            entries(&docroot)
        );
        assert_eq!(get(&docroot, "/index.html").status, 200);
        assert_eq!(get(&docroot, "/sub/").status, 200);
        assert!(
            entries(&docroot).contains("(2 entries"),
            "{}",
            entries(&docroot)
        );
        // A symlink anywhere on the way: served, never kept.
        std::os::unix::fs::symlink("sub", dir.path().join("root/link")).unwrap();
        assert_eq!(get(&docroot, "/link/index.html").status, 200);
        // Creating the link was itself a change in a watched folder.
        assert!(
            entries(&docroot).contains("(0 entries"),
            "{}",
            entries(&docroot)
        );
        assert!(matches!(get(&docroot, "/").body, Body::Bytes(b) if &b[..] == b"home"));
        assert_eq!(get(&docroot, "/link/index.html").status, 200);
        assert!(
            entries(&docroot).contains("(1 entries"),
            "{}",
            entries(&docroot)
        );
    }

    #[test]
    fn resolves_files_and_directories() {
        let (_dir, docroot) = site();
        assert_eq!(get(&docroot, "/").status, 200);
        assert_eq!(get(&docroot, "/index.html").status, 200);
        assert_eq!(get(&docroot, "/sub/").status, 200);
        assert_eq!(get(&docroot, "/a%20b.txt").status, 200);
        assert_eq!(get(&docroot, "/index.html?x=%2e%2e").status, 200);
        assert_eq!(get(&docroot, "http://other.example/index.html").status, 200);
        assert_eq!(get(&docroot, "/index.html/").status, 404);
        assert_eq!(get(&docroot, "/missing").status, 404);
    }

    #[test]
    fn refuses_everything_that_leaves_the_root() {
        let (_dir, docroot) = site();
        for target in [
            "/../secret.txt",
            "/%2e%2e/secret.txt",
            "/%2E%2E/secret.txt",
            "/sub/..%2fsecret.txt",
            "/sub/%2e%2e%2f..%2fsecret.txt",
            "/..%5csecret.txt",
            "/%252e%252e/secret.txt",
            "/index.html%00.png",
            "/./index.html",
            "/out",
            "/outdir/secret.txt",
            "/.hidden",
            "//../secret.txt",
        ] {
            let reply = get(&docroot, target);
            assert_eq!(reply.status, 404, "{target}");
        }
        assert_eq!(get(&docroot, "/%zz").status, 400);
        assert_eq!(get(&docroot, "/%2").status, 400);
    }

    #[test]
    fn directory_redirect_keeps_query_and_stays_on_this_host() {
        let (_dir, docroot) = site();
        let location = |target| {
            let reply = get(&docroot, target);
            assert_eq!(reply.status, 301, "{target}");
            reply.headers[header::LOCATION]
                .to_str()
                .unwrap()
                .to_string()
        };
        assert_eq!(location("/sub"), "/sub/");
        assert_eq!(location("/sub?a=1"), "/sub/?a=1");
        assert_eq!(location("//sub"), "/sub/");
        assert_eq!(location("///sub?x"), "/sub/?x");
    }

    #[test]
    fn host_rules_of_rfc_9112_section_3_2() {
        let (_dir, docroot) = site();
        let ask = |version, hosts: Vec<&'static [u8]>| {
            let headers = Fields(hosts.into_iter().map(|h| ("host", h)).collect());
            let view = RequestView {
                method: "GET",
                target: "/",
                version,
                headers: &headers,
            };
            docroot.respond(&view).status.as_u16()
        };
        assert_eq!(ask(Version::Http11, vec![]), 400);
        assert_eq!(ask(Version::Http10, vec![]), 200);
        assert_eq!(ask(Version::Http11, vec![b"a", b"b"]), 400);
        assert_eq!(ask(Version::Http11, vec![b"example.com:8080"]), 200);
        assert_eq!(ask(Version::Http11, vec![b"[::1]:80"]), 200);
        assert_eq!(ask(Version::Http11, vec![b"evil.example/../x y@z"]), 400);
        assert_eq!(ask(Version::Http11, vec![b"a:port"]), 400);
    }

    #[test]
    fn methods() {
        let (_dir, docroot) = site();
        let headers = Fields(vec![("host", b"x")]);
        let ask = |method| {
            docroot.respond(&RequestView {
                method,
                target: "/",
                version: Version::Http11,
                headers: &headers,
            })
        };
        let head = ask("HEAD");
        assert_eq!(head.status, 200);
        assert!(matches!(head.body, Body::Empty));
        assert_eq!(head.content_length(), 4);
        let post = ask("POST");
        assert_eq!(post.status, 405);
        assert_eq!(post.headers[header::ALLOW], "GET, HEAD, OPTIONS");
        let options = ask("OPTIONS");
        assert_eq!(options.status, 204);
        assert_eq!(options.headers[header::ALLOW], "GET, HEAD, OPTIONS");
        assert_eq!(ask("BREW").status, 501);
        assert_eq!(ask("get").status, 501);
    }

    fn with_options(dir: &tempfile::TempDir, tweak: impl FnOnce(&mut Options)) -> DocRoot {
        let mut options = Options::default();
        tweak(&mut options);
        DocRoot::open(&dir.path().join("root"), options).unwrap()
    }

    fn body(reply: &Reply) -> Vec<u8> {
        match &reply.body {
            Body::Empty => Vec::new(),
            Body::Bytes(bytes) => bytes.to_vec(),
            Body::File { file, offset, len } => {
                let mut out = vec![0; *len as usize];
                std::os::unix::fs::FileExt::read_exact_at(file, &mut out, *offset).unwrap();
                out
            }
        }
    }

    #[test]
    fn a_listing_shows_what_can_be_fetched_and_nothing_else() {
        let (dir, _) = site();
        let root = dir.path().join("root");
        std::fs::create_dir(root.join("files")).unwrap();
        let files = root.join("files");
        std::fs::write(files.join("b.txt"), "12345").unwrap();
        std::fs::write(files.join("<script>a?#.html"), "x").unwrap();
        std::fs::write(files.join(".env"), "x").unwrap();
        std::fs::create_dir(files.join("sub")).unwrap();
        std::os::unix::fs::symlink("../index.html", files.join("link-in")).unwrap();
        std::os::unix::fs::symlink("../../secret.txt", files.join("link-out")).unwrap();
        std::os::unix::fs::symlink(dir.path(), files.join("dir-out")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            files.join("fifo"),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_bits_truncate(0o644),
            0,
        )
        .unwrap();
        let docroot = with_options(&dir, |o| o.list_dirs = true);
        let reply = get(&docroot, "/files/");
        assert_eq!(reply.status, 200);
        let html = String::from_utf8(body(&reply)).unwrap();
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;a?#.html"));
        assert!(html.contains("href=\"./%3Cscript%3Ea%3F%23%2Ehtml\""));
        assert!(html.contains("href=\"./sub/\">sub/</a>"));
        assert!(html.contains("<td class=\"n\">5</td>"));
        assert!(html.contains("link-in"), "a link inside is listed: {html}");
        for absent in [".env", "link-out", "dir-out", "fifo"] {
            assert!(!html.contains(absent), "{absent} listed: {html}");
        }
        let order: Vec<usize> = ["&lt;script", "b.txt", "link-in", "sub/"]
            .iter()
            .map(|n| html.find(n).unwrap())
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "sorted: {order:?}");
        assert!(html.contains("href=\"../\""));
        // With the flags, what they allow appears, and still no FIFO.
        let open = with_options(&dir, |o| {
            o.list_dirs = true;
            o.serve_hidden = true;
            o.follow_symlinks = true;
        });
        let html = String::from_utf8(body(&get(&open, "/files/"))).unwrap();
        for present in [".env", "link-out", "dir-out"] {
            assert!(html.contains(present), "{present} not listed: {html}");
        }
        assert!(!html.contains("fifo"));
    }

    #[test]
    fn an_index_that_cannot_be_read_is_never_replaced_by_a_listing() {
        let (dir, _) = site();
        let root = dir.path().join("root");
        std::fs::create_dir(root.join("private")).unwrap();
        std::fs::write(root.join("private/other.txt"), "x").unwrap();
        let index = root.join("private/index.html");
        std::fs::write(&index, "x").unwrap();
        let docroot = with_options(&dir, |o| o.list_dirs = true);
        // A FIFO named index.html: neither served nor listed around.
        std::fs::remove_file(&index).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &index,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_bits_truncate(0o644),
            0,
        )
        .unwrap();
        assert_eq!(get(&docroot, "/private/").status, 404);
        assert_eq!(get(&docroot, "/private/index.html").status, 404);
        // Unreadable (root reads anything, so only when not running as root).
        std::fs::remove_file(&index).unwrap();
        std::fs::write(&index, "x").unwrap();
        std::fs::set_permissions(&index, std::os::unix::fs::PermissionsExt::from_mode(0o000))
            .unwrap();
        if File::open(&index).is_err() {
            assert_eq!(get(&docroot, "/private/").status, 403);
        }
        // Gone: now the listing.
        std::fs::remove_file(&index).unwrap();
        assert_eq!(get(&docroot, "/private/").status, 200);
    }

    #[test]
    fn out_of_descriptors_is_a_503_not_a_404() {
        let e = io::Error::from_raw_os_error(libc::EMFILE);
        assert_eq!(Reply::from_refusal(refusal(&e)).status, 503);
        let e = io::Error::from_raw_os_error(libc::EACCES);
        assert_eq!(Reply::from_refusal(refusal(&e)).status, 403);
        let e = io::Error::from_raw_os_error(libc::ELOOP);
        assert_eq!(Reply::from_refusal(refusal(&e)).status, 404);
    }

    #[test]
    fn every_spelling_of_a_path_is_one_cache_entry() {
        let (_dir, docroot) = site();
        let entries = |d: &DocRoot| {
            let debug = format!("{:?}", d.cache);
            let count = debug.split("FileCache(").nth(1).unwrap();
            count.split(' ').next().unwrap().parse::<usize>().unwrap()
        };
        for slashes in 1..300 {
            let target = format!("{}index%2Ehtml", "/".repeat(slashes));
            assert_eq!(body(&get(&docroot, &target)), b"home");
        }
        assert_eq!(entries(&docroot), 1, "{:?}", docroot.cache);
        assert_eq!(get(&docroot, "/").status, 200);
        assert_eq!(get(&docroot, "//").status, 200);
        assert_eq!(entries(&docroot), 2, "{:?}", docroot.cache);
    }

    #[test]
    fn the_cache_counts_keys_and_fields_and_stays_within_its_limit() {
        let (dir, docroot) = site();
        let root = dir.path().join("root");
        let bytes = |d: &DocRoot| {
            let debug = format!("{:?}", d.cache);
            let after = debug.split(" entries, ").nth(1).unwrap();
            after.split(' ').next().unwrap().parse::<u64>().unwrap()
        };
        // A one-byte file still costs its key and its prepared fields.
        let name = "n".repeat(200);
        std::fs::write(root.join(&name), "x").unwrap();
        assert_eq!(get(&docroot, &format!("/{name}")).status, 200);
        assert!(bytes(&docroot) > 200 + 8 * 20, "{:?}", docroot.cache);
        // Far more small files than fit: the total never passes the limit,
        // and the cache keeps entries rather than starting again empty.
        let count = (cache::MAX_BYTES / cache::SMALL_FILE) as usize + 40;
        let content = vec![b'z'; cache::SMALL_FILE as usize];
        std::fs::create_dir(root.join("many")).unwrap();
        for i in 0..count {
            std::fs::write(root.join(format!("many/{i}")), &content).unwrap();
        }
        for i in 0..count {
            assert_eq!(get(&docroot, &format!("/many/{i}")).status, 200);
            assert!(bytes(&docroot) <= cache::MAX_BYTES, "{:?}", docroot.cache);
        }
        assert!(
            bytes(&docroot) > cache::MAX_BYTES / 2,
            "{:?}",
            docroot.cache
        );
    }

    #[test]
    fn a_redirect_keeps_the_exact_bytes_of_a_name() {
        let (dir, docroot) = site();
        let name = OsStr::from_bytes(b"caf\xe9");
        std::fs::create_dir(dir.path().join("root").join(name)).unwrap();
        let reply = get(&docroot, "/caf%E9");
        assert_eq!(reply.status, 301);
        assert_eq!(reply.headers[header::LOCATION], "/caf%E9/");
        assert_eq!(
            get(&docroot, "/caf%E9/").status,
            404,
            "no index, no listing"
        );
    }

    #[test]
    fn absolute_form_needs_a_host_and_no_userinfo() {
        let (_dir, docroot) = site();
        for target in [
            "http://",
            "http:///index.html",
            "http://:80/index.html",
            "http://user:pw@localhost/index.html",
            "http://@localhost/",
            "https://?x",
        ] {
            assert_eq!(get(&docroot, target).status, 400, "{target}");
        }
        assert_eq!(get(&docroot, "http://localhost").status, 200);
        assert_eq!(get(&docroot, "HTTP://localhost:80/index.html").status, 200);
        assert_eq!(get(&docroot, "http://[::1]:80/?q").status, 200);
    }

    #[test]
    fn head_never_carries_a_body_on_any_path() {
        let (dir, _) = site();
        std::fs::create_dir(dir.path().join("root/empty")).unwrap();
        let docroot = with_options(&dir, |o| o.list_dirs = true);
        let etag = get(&docroot, "/index.html").headers[header::ETAG].clone();
        let etag: &'static [u8] = etag.as_bytes().to_vec().leak();
        type Case = (&'static str, Vec<(&'static str, &'static [u8])>, u16);
        let cases: Vec<Case> = vec![
            ("*", vec![("host", b"x")], 400),
            ("/", vec![], 400),
            ("/", vec![("host", b"a"), ("host", b"b")], 400),
            ("/", vec![("host", b"a b")], 400),
            ("ftp://x/", vec![("host", b"x")], 400),
            ("http:///", vec![("host", b"x")], 400),
            ("/%zz", vec![("host", b"x")], 400),
            ("/missing", vec![("host", b"x")], 404),
            ("/sub", vec![("host", b"x")], 301),
            ("/empty/", vec![("host", b"x")], 200),
            (
                "/index.html",
                vec![("host", b"x"), ("if-none-match", etag)],
                304,
            ),
            (
                "/index.html",
                vec![("host", b"x"), ("if-match", b"\"no\"")],
                412,
            ),
            (
                "/index.html",
                vec![("host", b"x"), ("range", b"bytes=0-1")],
                200,
            ),
            ("/index.html", vec![("host", b"x")], 200),
        ];
        for (target, fields, status) in cases {
            let headers = Fields(fields);
            let reply = docroot.respond(&RequestView {
                method: "HEAD",
                target,
                version: Version::Http11,
                headers: &headers,
            });
            assert_eq!(reply.status, status, "HEAD {target}");
            assert!(matches!(reply.body, Body::Empty), "HEAD {target}: a body");
        }
        let long = format!("/{}", "a".repeat(crate::limits::MAX_REQUEST_LINE));
        let headers = Fields(vec![("host", b"x")]);
        let reply = docroot.respond(&RequestView {
            method: "HEAD",
            target: &long,
            version: Version::Http11,
            headers: &headers,
        });
        assert_eq!(reply.status, 414);
        assert!(matches!(reply.body, Body::Empty));
    }

    #[test]
    fn an_index_refused_is_never_a_listing() {
        let status = |e: i32| match index_decision(Err(io::Error::from_raw_os_error(e))) {
            Index::Absent => 0,
            Index::Serve(_) => 200,
            Index::Refused(refused) => Reply::from_refusal(refused).status.as_u16(),
        };
        assert_eq!(status(libc::ENOENT), 0, "only absence allows a listing");
        assert_eq!(status(libc::EACCES), 403);
        assert_eq!(status(libc::EMFILE), 503);
        assert_eq!(status(libc::ENFILE), 503);
        assert_eq!(status(libc::ELOOP), 404);
        assert_eq!(status(libc::EXDEV), 404);
        assert!(matches!(
            index_decision(Ok(None)),
            Index::Refused(Resolved::NotFound)
        ));
        let escape = io::Error::new(io::ErrorKind::NotFound, "resolution leaves the root");
        assert!(matches!(index_decision(Err(escape)), Index::Refused(_)));
    }

    #[test]
    fn the_cache_keeps_only_what_is_still_on_disk() {
        let (dir, docroot) = site();
        let path = dir.path().join("root/index.html");
        let beneath = docroot.root_dir.now();
        let keep = |identity: Option<Identity>| {
            let file = File::open(&path).unwrap();
            let meta = file.metadata().unwrap();
            let rep = Representation::of_file(Path::new("index.html"), file, &meta)
                .into_memory()
                .finish(&HeaderValue::from_static("no-cache"));
            let folder_modified = std::fs::metadata(dir.path().join("root"))
                .unwrap()
                .modified()
                .ok();
            let candidate = Candidate {
                key: "/index.html",
                relative: Path::new("index.html"),
                identity: identity.unwrap_or(Identity::of(&meta)),
                folder_modified,
            };
            docroot.cache.keep(&beneath, &candidate, &rep);
            format!("{:?}", docroot.cache)
        };
        // Read, then replaced before the watches were in place.
        let before = Identity::of(&std::fs::metadata(&path).unwrap());
        std::fs::write(dir.path().join("root/new"), "home").unwrap();
        std::fs::rename(dir.path().join("root/new"), &path).unwrap();
        assert!(keep(Some(before)).contains("(0 entries"));
        assert!(keep(None).contains("(1 entries"));
    }

    #[test]
    fn a_root_replaced_in_place_is_followed() {
        let (dir, docroot) = site();
        let root = dir.path().join("root");
        assert!(matches!(get(&docroot, "/").body, Body::Bytes(b) if &b[..] == b"home"));
        // An atomic deploy: the folder renamed away, a new one renamed in.
        std::fs::create_dir(dir.path().join("next")).unwrap();
        std::fs::write(dir.path().join("next/index.html"), "next").unwrap();
        std::fs::rename(&root, dir.path().join("old")).unwrap();
        std::fs::rename(dir.path().join("next"), &root).unwrap();
        assert!(matches!(get(&docroot, "/").body, Body::Bytes(b) if &b[..] == b"next"));
        std::fs::remove_dir_all(dir.path().join("old")).unwrap();
        assert!(matches!(get(&docroot, "/").body, Body::Bytes(b) if &b[..] == b"next"));
        // Rebuilt in place: removed, then made again.
        std::fs::remove_dir_all(&root).unwrap();
        assert_eq!(get(&docroot, "/").status, 404);
        std::fs::create_dir(&root).unwrap();
        std::fs::write(root.join("index.html"), "rebuilt").unwrap();
        assert!(matches!(get(&docroot, "/").body, Body::Bytes(b) if &b[..] == b"rebuilt"));
    }

    #[test]
    fn content_types() {
        assert_eq!(
            content_type(Path::new("a.html")),
            "text/html; charset=utf-8"
        );
        assert_eq!(content_type(Path::new("a.css")), "text/css; charset=utf-8");
        assert_eq!(content_type(Path::new("a.png")), "image/png");
        assert_eq!(content_type(Path::new("a")), "application/octet-stream");
    }
}

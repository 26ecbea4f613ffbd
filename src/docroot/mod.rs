//! The one place that decides the answer: a parsed request in, a [`Reply`]
//! (status, headers, body) out. Both backends call [`DocRoot::respond`] and only
//! move bytes, so when they answer the same bytes differently the cause is HTTP
//! parsing or connection handling, never two copies of the serving rules.
//!
//! This module knows no socket, thread or runtime. It owns the rules of RFC 9110
//! that are the application's to keep (method handling, §15 statuses, the
//! `Host` MUST of RFC 9112 §3.2 that hyper leaves to the application) and the
//! path resolution that keeps every answer inside the root. This file is the
//! decision itself; each step it takes is a module beside it: the request
//! (`request`), the path walked (`resolve`, `beneath`), the file as sent
//! (`representation`, `cache`), the preconditions, ranges and codings
//! (`conditional`, `range`, `encoding`), the folder listed (`listing`) and
//! the reply built (`reply`).

mod added;
mod beneath;
mod cache;
mod compress;
mod conditional;
mod encoding;
mod listing;
mod range;
mod reply;
mod representation;
mod request;
mod resolve;

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use http::StatusCode;
use http::header::{self, HeaderMap, HeaderValue};

pub use added::{Cors, check_added_header, trim_field_value};
pub use cache::ChangesSeen;
pub use reply::{Body, Prepared, Reply};
pub use request::{HeaderSource, RequestView, Version};

use added::Added;
use beneath::{Beneath, Found, Links, Root};
use cache::{Candidate, FileCache, Identity};
use conditional::Precondition;
use range::RangeDecision;
use reply::{Refusal, header_value};
use representation::Representation;
use request::{is_query, is_valid_host_remembered, is_valid_target, origin_path};
use resolve::{BadPath, Lookup, Resolved, open_regular, refusal};

/// Why a document root cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum RootError {
    #[error("document root {path}: {source}")]
    Unreadable { path: PathBuf, source: io::Error },
    #[error("document root {path} is not a directory")]
    NotADirectory { path: PathBuf },
    #[error("{what} {value:?} is not a valid header value")]
    Option { what: &'static str, value: String },
    #[error("{0}")]
    Header(String),
    #[error("fallback {file:?}: {why}")]
    Fallback { file: String, why: String },
    #[error("access log {path}: {source}")]
    AccessLog { path: PathBuf, source: io::Error },
}

/// `--fallback`: what a GET or HEAD for a missing path gets instead of 404.
#[derive(Debug, Clone)]
pub struct Fallback {
    /// A file inside the root, as a path below it (`index.html`).
    pub file: String,
    /// Paths that look like a file's (`/app.js`, with an extension) get it
    /// too; otherwise they keep their 404.
    pub all: bool,
}

/// The methods this server knows but does not allow on static files.
/// Anything else is answered 501 (RFC 9110 §9.1: an unrecognised method SHOULD).
const KNOWN_METHODS: &[&str] = &[
    "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// How a [`DocRoot`] serves, beyond the fixed rules; part of `Config`.
#[derive(Debug, Clone)]
pub struct Options {
    /// `Cache-Control` on 200, 206 and 304 answers for files; none if blank.
    pub cache_control: String,
    /// Send `file.br` / `file.gz` when the client accepts that encoding.
    pub precompressed: bool,
    /// List a directory that has no `index.html` instead of answering 404.
    pub list_dirs: bool,
    /// Serve names that start with `.` (refused by default: `.git`, `.env`).
    pub serve_hidden: bool,
    /// Follow symlinks that lead out of the root (refused by default).
    pub follow_symlinks: bool,
    /// Fields added to every answer (`--header`), replacing any of the same name.
    pub headers: Vec<(http::HeaderName, HeaderValue)>,
    /// Referrer-Policy, X-Frame-Options, and a CSP on pages the server writes.
    pub security_headers: bool,
    /// Cross-origin reads allowed, and preflights answered.
    pub cors: Option<Cors>,
    /// A file for missing paths (a single-page app's `index.html`).
    pub fallback: Option<Fallback>,
    /// One line per response, written off the request path.
    pub access_log: Option<crate::access_log::Settings>,
    /// Compress text files on the fly when no precompressed file fits.
    pub compress: bool,
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
            headers: Vec::new(),
            security_headers: false,
            cors: None,
            fallback: None,
            access_log: None,
            compress: false,
        }
    }
}

/// `--fallback FILE` as a path below the root, which must name a regular
/// file there now (it is opened again for every request that needs it).
fn check_fallback(root: &Root, file: &str) -> Result<PathBuf, RootError> {
    let bad = |why: &str| RootError::Fallback {
        file: file.to_string(),
        why: why.to_string(),
    };
    let relative = PathBuf::from(file.trim_start_matches('/'));
    let plain = relative
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    if relative.as_os_str().is_empty() || !plain {
        return Err(bad(
            "give a file below the root, such as index.html, without ..",
        ));
    }
    match open_regular(&root.now(), &relative) {
        Ok(Some(_)) => Ok(relative),
        Ok(None) => Err(bad("not a regular file")),
        Err(e) => Err(bad(&format!("not found inside the root ({e})"))),
    }
}

/// RFC 9112 §3.2: an HTTP/1.1 request without Host, any request with more
/// than one, or one with an invalid value (an empty one included) MUST get
/// 400. hyper never checks.
fn host_ok<H: HeaderSource + ?Sized>(req: &RequestView<'_, H>) -> bool {
    match req.headers.only(&header::HOST) {
        Ok(None) => req.version == Version::Http10,
        Ok(Some(host)) => is_valid_host_remembered(host),
        Err(_) => false,
    }
}

/// A whole file's `200` from memory ([`DocRoot::respond_whole_from_memory`]).
#[derive(Debug)]
pub struct Whole {
    /// Every field; `Date` only where the writer's could not stand (see
    /// `Representation::undated`).
    pub fields: HeaderMap,
    /// The file's bytes; `None` for HEAD.
    pub body: Option<Bytes>,
}

/// The longest request-target answered unless told otherwise: the request-line
/// limit's default (RFC 9112 §3 recommends supporting at least 8000 octets).
/// A server passes its configured limit with [`DocRoot::with_max_target_len`].
pub const DEFAULT_MAX_TARGET_LEN: usize = 8 * 1024;

/// A folder served over HTTP: the root's path and the rules for answering.
#[derive(Debug)]
pub struct DocRoot {
    /// As given, made absolute, never resolved here.
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
    /// Largest file kept in the cache ([`DocRoot::with_memory_files`]).
    memory_files: u64,
    /// The writer adds `Date` to answers that have none ([`DocRoot::with_writer_dates`]).
    writer_dates: bool,
    added: Added,
    /// `Options::fallback`'s file, checked at open.
    fallback: Option<(PathBuf, bool)>,
    access_log: Option<crate::access_log::AccessLog>,
    /// Bodies compressed on the fly (`Options::compress`).
    compressed: compress::Compressed,
}

impl DocRoot {
    /// Checks that `root` is a readable directory and remembers its path, made
    /// absolute but not resolved: the kernel resolves it, symlinks included,
    /// when requests come, so the folder served is the one it names then.
    pub fn open(root: &Path, options: Options) -> Result<DocRoot, RootError> {
        let unreadable = |source| RootError::Unreadable {
            path: root.to_path_buf(),
            source,
        };
        let absolute = std::path::absolute(root).map_err(unreadable)?;
        if !std::fs::metadata(&absolute).map_err(unreadable)?.is_dir() {
            return Err(RootError::NotADirectory {
                path: root.to_path_buf(),
            });
        }
        std::fs::read_dir(&absolute).map_err(unreadable)?;
        let links = if options.follow_symlinks {
            Links::Anywhere
        } else {
            Links::Beneath
        };
        let root_dir = Root::open(&absolute, links).map_err(unreadable)?;
        // What is left empty means no field at all.
        let cache_control = trim_field_value(&options.cache_control);
        let cache_control =
            HeaderValue::try_from(cache_control).map_err(|_| RootError::Option {
                what: "Cache-Control value",
                value: options.cache_control.clone(),
            })?;
        let added = Added::new(
            &options.headers,
            options.security_headers,
            options.cors.as_ref(),
        )
        .map_err(RootError::Header)?;
        let fallback = match &options.fallback {
            Some(fallback) => Some((check_fallback(&root_dir, &fallback.file)?, fallback.all)),
            None => None,
        };
        let access_log = match &options.access_log {
            Some(settings) => Some(crate::access_log::AccessLog::open(settings).map_err(
                |source| RootError::AccessLog {
                    path: settings.destination.path(),
                    source,
                },
            )?),
            None => None,
        };
        Ok(DocRoot {
            root: absolute,
            root_dir,
            options,
            cache_control,
            cache: FileCache::default(),
            max_target_len: DEFAULT_MAX_TARGET_LEN,
            memory_files: cache::SMALL_FILE,
            writer_dates: false,
            added,
            fallback,
            access_log,
            compressed: compress::Compressed::default(),
        })
    }

    /// The access log, when there is one.
    pub fn access_log(&self) -> Option<&crate::access_log::AccessLog> {
        self.access_log.as_ref()
    }

    /// Records one answered request: a line in the access log, if there is
    /// one, and with `-v` the same fields in the server's own log. Both
    /// backends call this when a response has been written (or given up on).
    pub fn log_exchange<H: HeaderSource + ?Sized>(
        &self,
        req: &RequestView<'_, H>,
        exchange: &crate::access_log::Exchange,
    ) {
        crate::access_log::record(self.access_log.as_ref(), req, exchange);
    }

    /// Whether [`DocRoot::log_exchange`] records anything: when it does
    /// not, a backend need not time its exchanges.
    pub fn logs_exchanges(&self) -> bool {
        crate::access_log::records(self.access_log.as_ref())
    }

    /// The root's path as given, made absolute: it names the folder served
    /// at each request, whatever its symlinks lead to by then.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Answers 414 to targets longer than `len` (default: [`DEFAULT_MAX_TARGET_LEN`]).
    pub fn with_max_target_len(mut self, len: usize) -> DocRoot {
        self.max_target_len = len;
        self
    }

    /// Keeps files of up to `len` bytes in the cache (default: 64 KiB): for
    /// a backend that copies every body it sends, one copy fewer per answer.
    pub fn with_memory_files(mut self, len: u64) -> DocRoot {
        self.memory_files = len.max(cache::SMALL_FILE);
        self
    }

    /// For a writer that dates every answer without a `Date` itself (hyper):
    /// a file's fields are kept without one, so each answer copies one field
    /// fewer, and the writer's copy of them (hyper keeps the last answer's
    /// map for the next request) is smaller.
    pub(crate) fn with_writer_dates(mut self, writer_dates: bool) -> DocRoot {
        self.writer_dates = writer_dates;
        self
    }

    /// A file's representation with its resource fields, and without `Date`
    /// when the writer adds it.
    fn finished(&self, representation: Representation) -> Representation {
        let representation = representation.finish(&self.cache_control);
        if self.writer_dates {
            representation.undated()
        } else {
            representation
        }
    }

    /// Decides the whole answer to one request.
    pub fn respond<H: HeaderSource + ?Sized>(&self, req: &RequestView<'_, H>) -> Reply {
        self.respond_as(req, false, None)
    }

    /// [`DocRoot::respond`] after [`DocRoot::respond_whole_from_memory`]
    /// looked for changes for the same request: the cache does not look again.
    pub fn respond_seen<H: HeaderSource + ?Sized>(
        &self,
        req: &RequestView<'_, H>,
        seen: ChangesSeen,
    ) -> Reply {
        // Taken, not borrowed: one look stands for the one request it was made for.
        self.respond_as(req, false, Some(&seen))
    }

    /// [`DocRoot::respond`] for a writer of HTTP/1.1 that can send fields
    /// already in wire form: a whole cached file may then come with its fields
    /// [`Reply::prepared`] (rendered once, when it was kept) and `headers` empty.
    pub fn respond_prepared<H: HeaderSource + ?Sized>(&self, req: &RequestView<'_, H>) -> Reply {
        self.respond_as(req, true, None)
    }

    /// [`DocRoot::respond_prepared`]'s answer when it is a cached file's,
    /// decided from memory alone — no path walk, `stat`, open or compression —
    /// for a caller that must not wait on the disk or on another thread's
    /// lookup. `None` for any other answer, and while the cache is busy: ask
    /// `respond_prepared` then, on a thread that may wait. `seen` must come
    /// after `req` was read: see [`DocRoot::see_changes`].
    pub fn respond_from_memory<H: HeaderSource + ?Sized>(
        &self,
        req: &RequestView<'_, H>,
        seen: &ChangesSeen,
    ) -> Option<Reply> {
        if self.options.compress || !self.added.adds_nothing() {
            return None;
        }
        let (path, _) = self.admit(req).ok()?;
        // The key `resolve` tries first: a path in normal form is its own.
        let representation = resolve::is_normal_form(path)
            .then(|| self.cache.get_seen(path, seen))
            .flatten()?;
        let mut reply = self.serve(req, representation, true);
        let generated = reply.generated;
        self.added
            .apply(&mut reply, req.method, req.headers, generated);
        Some(reply.answering(req.method))
    }

    /// [`DocRoot::respond`]'s answer when it is a whole file kept in memory,
    /// for a writer that dates answers itself (`DocRoot::with_writer_dates`):
    /// the same checks, made the cheapest way, and the file's fields and bytes
    /// shared with the cache. For any other answer, ask `respond`, or
    /// `respond_seen` with the look for changes made here, if one was.
    pub fn respond_whole_from_memory(
        &self,
        req: &RequestView<'_, HeaderMap>,
    ) -> Result<Whole, Option<ChangesSeen>> {
        if !self.writer_dates || self.options.compress || !self.added.adds_nothing() {
            return Err(None);
        }
        let head = match req.method {
            "GET" => false,
            "HEAD" => true,
            _ => return Err(None),
        };
        // A query does not change which file is sent (`/app.js?v=3`).
        let (path, query) = match memchr::memchr(b'?', req.target.as_bytes()) {
            Some(at) => (&req.target[..at], Some(&req.target[at + 1..])),
            None => (req.target, None),
        };
        if req.target.len() > self.max_target_len
            || query.is_some_and(|query| !is_query(query.as_bytes()))
            || !host_ok(req)
            || req.headers.has_any(Self::CONDITIONS_AND_RANGE)
        {
            return Err(None);
        }
        // Every key is a path that passed `admit` and is spelled the one way
        // keys are (`resolve`): a path that is one needs no other check.
        let (fields, body) = self.cache.get_whole(path).map_err(Some)?;
        Ok(Whole {
            fields: representation::fields_now(&fields),
            body: (!head).then_some(body),
        })
    }

    /// Looks once for changes to cached files, for a caller that has read
    /// many requests and answers them with [`DocRoot::respond_from_memory`]:
    /// a change finished before a request arrived is seen by a look made
    /// after the request was read. `None`, without waiting, while the cache is busy.
    pub fn see_changes(&self) -> Option<ChangesSeen> {
        self.cache.see_changes()
    }

    fn respond_as<H: HeaderSource + ?Sized>(
        &self,
        req: &RequestView<'_, H>,
        prepared: bool,
        seen: Option<&ChangesSeen>,
    ) -> Reply {
        // Added fields are per request, so they need the map.
        let prepared = prepared && self.added.adds_nothing();
        let mut reply = self.decide(req, prepared, seen);
        let generated = reply.generated;
        self.added
            .apply(&mut reply, req.method, req.headers, generated);
        reply.answering(req.method)
    }

    /// The checks every request meets before its path is looked up; the
    /// path and query of one that passes, else its answer.
    fn admit<'r, H: HeaderSource + ?Sized>(
        &self,
        req: &RequestView<'r, H>,
    ) -> Result<(&'r str, Option<&'r str>), Box<Reply>> {
        if req.target.len() > self.max_target_len {
            return Err(Box::new(Reply::status(StatusCode::URI_TOO_LONG)));
        }
        // RFC 9112 §3: an invalid request-line gets 400 (or a 301, which would
        // be a guess at what was meant). raw's parser refuses most bad bytes
        // already; hyper passes several on, so both meet this check.
        if !is_valid_target(req.target) {
            return Err(Box::new(Reply::status(StatusCode::BAD_REQUEST)));
        }
        if !host_ok(req) {
            return Err(Box::new(Reply::status(StatusCode::BAD_REQUEST)));
        }
        match req.method {
            "GET" | "HEAD" => {}
            // RFC 9110 §9.3.7: the same answer for `*` (the server) and any
            // path (a resource), since every resource allows the same methods.
            "OPTIONS" => return Err(Box::new(Reply::options())),
            m if KNOWN_METHODS.contains(&m) => return Err(Box::new(Reply::method_not_allowed())),
            _ => return Err(Box::new(Reply::status(StatusCode::NOT_IMPLEMENTED))),
        }
        origin_path(req.target).ok_or_else(|| Box::new(Reply::status(StatusCode::BAD_REQUEST)))
    }

    fn decide<H: HeaderSource + ?Sized>(
        &self,
        req: &RequestView<'_, H>,
        prepared: bool,
        seen: Option<&ChangesSeen>,
    ) -> Reply {
        let (path, query) = match self.admit(req) {
            Ok(admitted) => admitted,
            Err(refusal) => return *refusal,
        };
        let lookup = Lookup {
            root: &self.root_dir,
            cache: &self.cache,
            serve_hidden: self.options.serve_hidden,
            list_dirs: self.options.list_dirs,
            seen,
        };
        match lookup.resolve(path, query) {
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
                self.serve(req, self.compressed(req, representation), false)
            }
            Ok(Resolved::Cached(representation)) => {
                self.serve(req, self.compressed(req, representation), prepared)
            }
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
            Ok(Resolved::Refused(Refusal::NotFound)) => match self.fallback(req, path) {
                Some(reply) => reply,
                None => self.not_found(),
            },
            Ok(Resolved::Refused(refusal)) => Reply::refused(refusal),
        }
    }

    /// The fields that can make a file's answer anything but a whole 200
    /// (If-Range matters only with Range).
    const CONDITIONS_AND_RANGE: &[http::HeaderName] = &[
        header::IF_MATCH,
        header::IF_NONE_MATCH,
        header::IF_MODIFIED_SINCE,
        header::IF_UNMODIFIED_SINCE,
        header::RANGE,
    ];

    /// A file found: check the preconditions, then send it whole, a range of
    /// it, or one of 304 / 412 / 416. With `prepared`, a whole file's fields
    /// may come in wire form (see [`DocRoot::respond_prepared`]).
    fn serve<H: HeaderSource + ?Sized>(
        &self,
        req: &RequestView<'_, H>,
        rep: Representation,
        prepared: bool,
    ) -> Reply {
        // Nearly every request has none of these: then it is a whole 200,
        // decided without evaluating each absent field.
        if !req.headers.has_any(Self::CONDITIONS_AND_RANGE) {
            return if prepared {
                rep.reply_prepared()
            } else {
                let total = rep.len;
                rep.reply(StatusCode::OK, 0, total)
            };
        }
        let validators = rep.validators();
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
                    RangeDecision::Full if prepared => rep.reply_prepared(),
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

    /// With `--compress`, a text file sent as is becomes the encoding the
    /// client prefers, from the cache or compressed now. Never for a request
    /// with `Range`: ranges are of the file as it is (RFC 9110 §14.1.2 lets
    /// them apply to an encoding, which no client could rely on).
    fn compressed<H: HeaderSource + ?Sized>(
        &self,
        req: &RequestView<'_, H>,
        mut rep: Representation,
    ) -> Representation {
        if !self.options.compress
            || rep.coding.is_some()
            || !(compress::MIN_LEN..=compress::MAX_LEN).contains(&rep.len)
            || !compress::compressible(rep.content_type())
        {
            return rep;
        }
        rep.vary_on_encoding();
        if req.headers.values(&header::RANGE).next().is_some() {
            return rep;
        }
        let Some(coding) = encoding::choose(req.headers, compress::CODINGS) else {
            return rep;
        };
        match self
            .compressed
            .get_or_make(rep.source, coding, rep.has_validators(), || rep.read_all())
        {
            Some(body) => rep.encoded(coding, body),
            None => rep,
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
            // Past the small-file size, only a file the cache may keep is
            // read whole: one it may not is streamed.
            let limit = key.map_or(cache::SMALL_FILE, |_| self.memory_files);
            let plain = self.finished(plain.into_memory(limit));
            // A file past the limit is kept open; one within it that was not
            // read (its pages were not all in memory) waits for a later lookup.
            if let Some(key) = key
                && (plain.in_memory() || plain.len > limit)
            {
                let candidate = Candidate {
                    key,
                    relative,
                    identity,
                    folder_modified,
                };
                self.cache.keep(&self.root_dir, beneath, &candidate, &plain);
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
        self.finished(chosen)
    }

    /// The page for a folder without `index.html` (with `list_dirs`). Each
    /// entry is looked up beneath the root as a request for it would be, so
    /// the page names exactly what can be fetched.
    fn listing(&self, dir: &File, relative: &Path, url_path: &str, beneath: &Beneath) -> Reply {
        let entries = match listing::entries(dir, relative, beneath, self.options.serve_hidden) {
            Ok(entries) => entries,
            Err(e) => return Reply::refused(refusal(&e)),
        };
        let html = listing::page(url_path, entries);
        let mut reply = Reply::status(StatusCode::OK);
        reply
            .headers
            .insert(header::CONTENT_LENGTH, HeaderValue::from(html.len()));
        reply.body = Body::Bytes(Bytes::from(html));
        reply
    }

    /// `--fallback`'s file for a missing `path`, as a 200 with its own
    /// validators (preconditions and ranges apply as to any file); `None`
    /// when there is no fallback, or the path looks like a file's and only
    /// `--fallback-all` would send it.
    fn fallback<H: HeaderSource + ?Sized>(
        &self,
        req: &RequestView<'_, H>,
        path: &str,
    ) -> Option<Reply> {
        let (file, all) = self.fallback.as_ref()?;
        let last = path.rsplit('/').next().unwrap_or("");
        if !all && (last.contains('.') || last.contains("%2E") || last.contains("%2e")) {
            return None;
        }
        let found = open_regular(&self.root_dir.now(), file).ok()??;
        let representation = self.finished(
            Representation::of_file(file, found.file, &found.meta).into_memory(cache::SMALL_FILE),
        );
        Some(self.serve(req, representation, false))
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::HeaderName;
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;

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
        for file in ["index.html", "sub/index.html", "a b.txt", ".hidden"] {
            age(&root.join(file));
        }
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), root.join("out")).unwrap();
        std::os::unix::fs::symlink(dir.path(), root.join("outdir")).unwrap();
        let docroot = DocRoot::open(&root, Options::default()).unwrap();
        (dir, docroot)
    }

    /// Makes `path` an hour old, as a site's files are: a file changed
    /// within the last second is sent without validators.
    pub(super) fn age(path: &Path) {
        let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        modified_at(path, an_hour_ago);
    }

    /// Sets `path`'s modification time.
    pub(super) fn modified_at(path: &Path, time: std::time::SystemTime) {
        let file = File::options().write(true).open(path).unwrap();
        file.set_modified(time).unwrap();
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
            "/./index.html",
            "/out",
            "/outdir/secret.txt",
            "/.hidden",
            "//../secret.txt",
        ] {
            let reply = get(&docroot, target);
            assert_eq!(reply.status, 404, "{target}");
        }
        // Malformed, not absent: bad escapes, and a decoded NUL, CR or LF.
        for target in [
            "/%zz",
            "/%2",
            "/index.html%00.png",
            "/index.html%0d%0aSet-Cookie:%20x=1",
            "/a%0Ab",
            "/sub/%00/index.html",
        ] {
            assert_eq!(get(&docroot, target).status, 400, "{target}");
        }
        // Other control bytes are odd names, but names.
        assert_eq!(get(&docroot, "/a%09b").status, 404);
    }

    #[test]
    fn a_target_outside_rfc_3986_is_400() {
        let (dir, docroot) = site();
        std::fs::write(dir.path().join("root/caf\u{e9}.html"), "x").unwrap();
        for target in [
            "/caf\u{e9}.html",
            "/a\"b",
            "/{a}",
            "/a|b",
            "/a\\b",
            "/a^b",
            "/a#b",
        ] {
            assert_eq!(get(&docroot, target).status, 400, "{target}");
        }
        assert_eq!(get(&docroot, "/caf%C3%A9.html").status, 200);
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
        // Empty: no http URI has an empty host (RFC 9110 §4.2.1), in 1.0 either.
        assert_eq!(ask(Version::Http11, vec![b""]), 400);
        assert_eq!(ask(Version::Http10, vec![b""]), 400);
        assert_eq!(ask(Version::Http11, vec![b"caf\xc3\xa9"]), 400);
        assert_eq!(ask(Version::Http11, vec![b"a%zz"]), 400);
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
    fn a_rewrite_of_the_same_length_with_its_mtime_put_back_has_a_new_etag() {
        let (dir, _) = site();
        let path = dir.path().join("root/page.html");
        std::fs::write(&path, "<p>old</p>\n").unwrap();
        age(&path);
        let docroot = with_options(&dir, |_| {});
        let etag = || {
            let headers = Fields(vec![("Host", b"x")]);
            let reply = docroot.respond(&RequestView {
                method: "GET",
                target: "/page.html",
                version: Version::Http11,
                headers: &headers,
            });
            (reply.headers[header::ETAG].clone(), body(&reply))
        };
        let (before, _) = etag();
        let old = std::fs::metadata(&path).unwrap();
        let modified = old.modified().unwrap();
        use std::os::unix::fs::MetadataExt;
        let changed = |m: &std::fs::Metadata| (m.ctime(), m.ctime_nsec());
        std::fs::write(&path, "<p>new</p>\n").unwrap();
        let file = std::fs::File::options().write(true).open(&path).unwrap();
        file.set_modified(modified).unwrap();
        // Before Linux 6.13 the change time ticks with the kernel's clock:
        // put the time back until the change time has moved (it must, within
        // a tick), so that the test asks about the ETag, not the clock.
        let until = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while changed(&std::fs::metadata(&path).unwrap()) == changed(&old) {
            assert!(
                std::time::Instant::now() < until,
                "the change time never moved"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
            file.set_modified(modified).unwrap();
        }
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!((meta.len(), meta.modified().unwrap()), (11, modified));
        let (after, bytes) = etag();
        assert_eq!(bytes, b"<p>new</p>\n");
        assert_ne!(
            after, before,
            "new bytes under the old ETag would be revalidated"
        );
    }

    #[test]
    fn a_file_is_compressed_once_per_coding_until_it_changes() {
        let (dir, _) = site();
        let path = dir.path().join("root/page.html");
        std::fs::write(&path, "<p>text</p>\n".repeat(500)).unwrap();
        // Old enough to have validators: this is about the compressed bodies' own rule.
        age(&path);
        let mut docroot = with_options(&dir, |o| o.compress = true);
        let ask = |docroot: &DocRoot, coding: &'static [u8]| {
            let headers = Fields(vec![("Host", b"x"), ("Accept-Encoding", coding)]);
            let reply = docroot.respond(&RequestView {
                method: "GET",
                target: "/page.html",
                version: Version::Http11,
                headers: &headers,
            });
            assert_eq!(reply.headers[header::CONTENT_ENCODING], coding);
            reply
        };
        // Just written: its bytes may have been read half written, so its
        // encoding is kept only until the file has settled, then made again.
        docroot
            .compressed
            .settle_after(std::time::Duration::from_secs(3600));
        ask(&docroot, b"br");
        ask(&docroot, b"br");
        assert_eq!(docroot.compressed.made(), 1, "kept while unsettled");
        docroot.compressed.settle_after(std::time::Duration::ZERO);
        ask(&docroot, b"br");
        assert_eq!(docroot.compressed.made(), 2, "made again once settled");
        ask(&docroot, b"br");
        assert_eq!(docroot.compressed.made(), 2, "then kept");
        let before = docroot.compressed.made();
        let ask = |coding| ask(&docroot, coding);
        for _ in 0..5 {
            ask(b"br");
            ask(b"gzip");
        }
        assert_eq!(docroot.compressed.made(), before + 1, "brotli was kept");
        // Rewritten in place, as long as before, its modification time put
        // back: new bytes, and those are what is sent.
        let modified = std::fs::metadata(&path).unwrap().modified().unwrap();
        let same_length = "<p>TEXT</p>\n".repeat(500);
        std::fs::write(&path, &same_length).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(modified)
            .unwrap();
        let rewritten = ask(b"br");
        let mut decoded = Vec::new();
        brotli::BrotliDecompress(&mut &body(&rewritten)[..], &mut decoded).unwrap();
        assert_eq!(decoded, same_length.as_bytes());
        assert_eq!(docroot.compressed.made(), before + 2);
        // A new version of the file is a new ETag, so compressed anew.
        std::fs::write(&path, "<p>changed</p>\n".repeat(500)).unwrap();
        let fresh = ask(b"br");
        assert_eq!(
            compress::encode("br", &"<p>changed</p>\n".repeat(500).into_bytes())
                .unwrap()
                .len() as u64,
            fresh.content_length()
        );
        assert_eq!(docroot.compressed.made(), before + 3);
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
        assert!(html.contains("href=\"./%3Cscript%3Ea%3F%23.html\""));
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
    fn a_file_past_the_memory_limit_is_kept_open_and_served_from_it() {
        let (dir, docroot) = site();
        let root = dir.path().join("root");
        let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(root.join("large.bin"), &data).unwrap();
        let open = |d: &DocRoot| format!("{:?}", d.cache).contains(" 1 files open");
        let body = |reply: Reply| match reply.body {
            Body::File { file, offset, len } => {
                let mut got = vec![0; len as usize];
                std::os::unix::fs::FileExt::read_exact_at(&file, &mut got, offset).unwrap();
                got
            }
            other => panic!("a file past the limit is sent from the file, not {other:?}"),
        };
        assert_eq!(body(get(&docroot, "/large.bin")), data);
        assert!(open(&docroot), "{:?}", docroot.cache);
        // The hit: the same bytes, the same fields, a range of it too.
        let hit = get(&docroot, "/large.bin");
        assert_eq!(hit.headers[header::CONTENT_LENGTH], "200000");
        assert_eq!(body(hit), data);
        let part = docroot.respond(&RequestView {
            method: "GET",
            target: "/large.bin",
            version: Version::Http11,
            headers: &Fields(vec![("Host", b"x"), ("Range", b"bytes=1000-1009")]),
        });
        assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
        assert_eq!(body(part), &data[1000..1010]);
        // Within the limit, a file is kept in memory, never open.
        std::fs::write(root.join("small.bin"), &data[..1000]).unwrap();
        assert_eq!(get(&docroot, "/small.bin").status, 200);
        assert!(!open(&docroot), "the write emptied the cache");
        assert_eq!(get(&docroot, "/small.bin").status, 200);
        assert!(format!("{:?}", docroot.cache).contains(" 0 files open"));
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
        let long = format!("/{}", "a".repeat(DEFAULT_MAX_TARGET_LEN));
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

    /// The folders on the way to a root given through a symlink are watched
    /// for the names the path goes through, and only those: a file made or
    /// renamed beside `current` leaves the cache as it is; `current` switched
    /// empties it, and the next answer comes from the new release.
    #[test]
    fn only_changes_on_the_way_to_the_root_empty_the_cache() {
        let dir = tempfile::tempdir().unwrap();
        for release in ["one", "two"] {
            std::fs::create_dir(dir.path().join(release)).unwrap();
            std::fs::write(dir.path().join(release).join("index.html"), release).unwrap();
        }
        std::os::unix::fs::symlink("one", dir.path().join("current")).unwrap();
        let docroot = DocRoot::open(&dir.path().join("current"), Options::default()).unwrap();
        let emptied = |d: &DocRoot| {
            let debug = format!("{:?}", d.cache);
            let after = debug.split("emptied ").nth(1).unwrap();
            after.split(' ').next().unwrap().parse::<u64>().unwrap()
        };
        let home = |d: &DocRoot| body(&get(d, "/"));
        assert_eq!(home(&docroot), b"one");
        assert_eq!(home(&docroot), b"one");
        let before = emptied(&docroot);
        assert!(format!("{:?}", docroot.cache).contains("(1 entries"));
        // Beside the link, in the folder that holds it: not on the way.
        std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
        std::fs::rename(dir.path().join("notes.txt"), dir.path().join("notes2.txt")).unwrap();
        std::fs::create_dir(dir.path().join("three")).unwrap();
        assert_eq!(home(&docroot), b"one");
        assert_eq!(emptied(&docroot), before, "{:?}", docroot.cache);
        // The link itself, replaced by rename: the cache is emptied.
        std::os::unix::fs::symlink("two", dir.path().join("next")).unwrap();
        std::fs::rename(dir.path().join("next"), dir.path().join("current")).unwrap();
        assert_eq!(home(&docroot), b"two");
        assert!(emptied(&docroot) > before, "{:?}", docroot.cache);
    }

    /// RFC 9110 §8.8.2.1: a file whose mtime is in the future is sent with
    /// the time of the answer as its Last-Modified, never a later one.
    #[test]
    fn last_modified_is_never_after_date() {
        let (dir, docroot) = site();
        let path = dir.path().join("root/future.txt");
        std::fs::write(&path, "from the future").unwrap();
        let tomorrow = std::time::SystemTime::now() + std::time::Duration::from_secs(86_400);
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(tomorrow)
            .unwrap();
        for _ in 0..2 {
            let reply = get(&docroot, "/future.txt");
            assert_eq!(reply.status, 200);
            let date = |name| {
                let value = reply.headers[name].to_str().unwrap();
                httpdate::parse_http_date(value).unwrap()
            };
            assert!(date(header::LAST_MODIFIED) <= date(header::DATE));
        }
        // A file from the past keeps its own time.
        let reply = get(&docroot, "/index.html");
        let modified = std::fs::metadata(dir.path().join("root/index.html"))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(
            reply.headers[header::LAST_MODIFIED],
            httpdate::fmt_http_date(modified).as_str()
        );
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
}

/// `respond_prepared` must put the same fields on the wire as
/// `respond` (Date aside) for every request a cached file can get, and never
/// a stale file.
#[cfg(test)]
mod prepared_answers {
    use super::*;
    use http::header::HeaderName;

    struct Fields(Vec<(&'static str, Vec<u8>)>);

    impl HeaderSource for Fields {
        fn values<'s>(&'s self, name: &'s HeaderName) -> impl Iterator<Item = &'s [u8]> + 's {
            self.0
                .iter()
                .filter(move |(n, _)| n.eq_ignore_ascii_case(name.as_str()))
                .map(|(_, v)| v.as_slice())
        }
    }

    /// Status, fields without Date, and body, as an HTTP/1.1 writer sends them.
    fn wire(reply: &Reply) -> (u16, Vec<String>, Vec<u8>) {
        let mut lines = Vec::new();
        if let Some(prepared) = reply.prepared() {
            for line in String::from_utf8(prepared.fields.to_vec())
                .unwrap()
                .split("\r\n")
            {
                if !line.is_empty() {
                    lines.push(line.to_owned());
                }
            }
        }
        for (name, value) in &reply.headers {
            if name != header::DATE {
                lines.push(format!("{}: {}", name, value.to_str().unwrap()));
            }
        }
        let body = match &reply.body {
            Body::Empty => Vec::new(),
            Body::Bytes(bytes) => bytes.to_vec(),
            Body::File { file, offset, len } => {
                let mut out = vec![0; *len as usize];
                std::os::unix::fs::FileExt::read_exact_at(file, &mut out, *offset).unwrap();
                out
            }
        };
        (reply.status.as_u16(), lines, body)
    }

    fn ask(
        docroot: &DocRoot,
        method: &'static str,
        version: Version,
        extra: &[(&'static str, &str)],
        prepared: bool,
    ) -> Reply {
        let mut fields = vec![("Host", b"x".to_vec())];
        fields.extend(extra.iter().map(|(n, v)| (*n, v.as_bytes().to_vec())));
        let fields = Fields(fields);
        let view = RequestView {
            method,
            target: "/page.html",
            version,
            headers: &fields,
        };
        if prepared {
            docroot.respond_prepared(&view)
        } else {
            docroot.respond(&view)
        }
    }

    fn open(tweak: impl FnOnce(&mut Options)) -> (tempfile::TempDir, DocRoot) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("page.html"), "<p>text</p>\n".repeat(100)).unwrap();
        super::tests::age(&root.join("page.html"));
        let mut options = Options::default();
        tweak(&mut options);
        let docroot = DocRoot::open(&root, options).unwrap();
        (dir, docroot)
    }

    type Tweak = Box<dyn Fn(&mut Options)>;
    type Case = (&'static str, Version, Vec<(&'static str, String)>);

    #[test]
    fn prepared_and_plain_answers_put_the_same_fields_on_the_wire() {
        let configs: Vec<Tweak> = vec![
            Box::new(|_| {}),
            Box::new(|o| o.compress = true),
            Box::new(|o| o.security_headers = true),
            Box::new(|o| {
                o.headers = vec![(
                    HeaderName::from_static("x-extra"),
                    HeaderValue::from_static("1"),
                )]
            }),
        ];
        for tweak in configs {
            let (_dir, docroot) = open(|o| tweak(o));
            // Kept in the cache by the first answer.
            let first = ask(&docroot, "GET", Version::Http11, &[], false);
            assert_eq!(first.status, 200);
            let etag = first.headers[header::ETAG].to_str().unwrap().to_owned();
            let modified = first.headers[header::LAST_MODIFIED]
                .to_str()
                .unwrap()
                .to_owned();
            let cases: Vec<Case> = vec![
                ("GET", Version::Http11, vec![]),
                ("HEAD", Version::Http11, vec![]),
                ("GET", Version::Http10, vec![]),
                ("GET", Version::Http11, vec![("Range", "bytes=0-3".into())]),
                (
                    "GET",
                    Version::Http11,
                    vec![("Range", "bytes=9999-".into())],
                ),
                ("HEAD", Version::Http11, vec![("Range", "bytes=0-3".into())]),
                (
                    "GET",
                    Version::Http11,
                    vec![("If-None-Match", etag.clone())],
                ),
                (
                    "GET",
                    Version::Http11,
                    vec![("If-None-Match", "\"other\"".into())],
                ),
                (
                    "GET",
                    Version::Http11,
                    vec![("If-Match", "\"other\"".into())],
                ),
                (
                    "GET",
                    Version::Http11,
                    vec![("If-Modified-Since", modified.clone())],
                ),
                (
                    "GET",
                    Version::Http11,
                    vec![
                        ("Range", "bytes=0-3".into()),
                        ("If-Range", "\"other\"".into()),
                    ],
                ),
                (
                    "GET",
                    Version::Http11,
                    vec![("Accept-Encoding", "gzip".into())],
                ),
                (
                    "GET",
                    Version::Http11,
                    vec![("Accept-Encoding", "br".into())],
                ),
                (
                    "GET",
                    Version::Http11,
                    vec![("Origin", "http://a.example".into())],
                ),
            ];
            for (method, version, extra) in cases {
                let extra: Vec<(&'static str, &str)> =
                    extra.iter().map(|(n, v)| (*n, v.as_str())).collect();
                let plain = wire(&ask(&docroot, method, version, &extra, false));
                let prepared = wire(&ask(&docroot, method, version, &extra, true));
                assert_eq!(plain, prepared, "{method} {extra:?}");
            }
        }
    }

    /// `GET /page.html` over HTTP/1.1 with `headers`.
    fn get_page(headers: &HeaderMap) -> RequestView<'_, HeaderMap> {
        RequestView {
            method: "GET",
            target: "/page.html",
            version: Version::Http11,
            headers,
        }
    }

    /// The view of a request with `fields` as hyper hands them over.
    fn map_of(fields: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in fields {
            map.append(
                HeaderName::from_static(name),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn whole_answers_from_memory_are_the_full_decisions_answers() {
        let configs: Vec<(Tweak, bool)> = vec![
            (Box::new(|_| {}), true),
            (Box::new(|_| {}), false),
            (Box::new(|o| o.compress = true), true),
            (Box::new(|o| o.security_headers = true), true),
        ];
        let mut from_memory = 0;
        let mut looked = 0;
        for (tweak, writer_dates) in configs {
            let mut options = Options::default();
            tweak(&mut options);
            let (dir, docroot) = open(|o| *o = options.clone());
            let docroot = docroot.with_writer_dates(writer_dates);
            std::fs::write(dir.path().join("root/a b.txt"), "spaced").unwrap();
            std::fs::create_dir(dir.path().join("root/sub")).unwrap();
            std::fs::write(dir.path().join("root/sub/index.html"), "sub").unwrap();
            // The answers to compare with come from a docroot of their own, so
            // nothing the quick answers do to the cache can hide from them.
            let reference = DocRoot::open(&dir.path().join("root"), options)
                .unwrap()
                .with_writer_dates(writer_dates);
            let host = [("host", "x")];
            for target in ["/page.html", "/a%20b.txt", "/sub/", "/sub/index.html"] {
                let kept = docroot.respond(&RequestView {
                    method: "GET",
                    target,
                    version: Version::Http11,
                    headers: &map_of(&host),
                });
                assert_eq!(kept.status, 200, "{target}");
            }
            let targets = [
                "/page.html",
                "/page.html?q",
                "/page.html?v=3&x=%41",
                "/page.html?a%zz",
                "/page.html?a b",
                "/page.html#x",
                "//page.html",
                "/pa%67e.html",
                "/a%20b.txt",
                "/a b.txt",
                "/sub/",
                "/sub",
                "/sub/index.html",
                "/missing",
                "*",
                "http://x/page.html",
            ];
            let fields: [&[(&str, &str)]; 8] = [
                &host,
                &[],
                &[("host", "x"), ("host", "x")],
                &[("host", "a b")],
                &[("host", "")],
                &[("host", "x"), ("range", "bytes=0-3")],
                &[("host", "x"), ("if-none-match", "*")],
                &[("accept", "*/*"), ("host", "x:80"), ("accept", "a")],
            ];
            for method in ["GET", "HEAD", "POST", "OPTIONS"] {
                for version in [Version::Http11, Version::Http10] {
                    for target in targets {
                        for fields in fields {
                            let headers = map_of(fields);
                            let view = RequestView {
                                method,
                                target,
                                version,
                                headers: &headers,
                            };
                            let case = format!("{method} {target} {version:?} {fields:?}");
                            let expected = wire(&reference.respond(&view));
                            let got = match docroot.respond_whole_from_memory(&view) {
                                Ok(whole) => {
                                    from_memory += 1;
                                    let mut reply = Reply::status(StatusCode::OK);
                                    reply.headers = whole.fields;
                                    reply.body = whole.body.map_or(Body::Empty, Body::Bytes);
                                    wire(&reply)
                                }
                                Err(Some(seen)) => {
                                    looked += 1;
                                    wire(&docroot.respond_seen(&view, seen))
                                }
                                Err(None) => wire(&docroot.respond(&view)),
                            };
                            assert_eq!(got, expected, "{case}");
                        }
                    }
                }
            }
        }
        // GET and HEAD of the four kept paths, the page with two valid
        // queries too, with one valid Host (alone or among repeated fields)
        // over 1.1 and 1.0, and over 1.0 without one: for the default options
        // with a writer that dates answers only.
        assert_eq!(from_memory, 2 * 6 * (2 * 2 + 1), "answers from memory");
        assert!(looked > 0, "no look handed on");
    }

    #[test]
    fn a_look_handed_on_never_serves_a_stale_file() {
        let (dir, docroot) = open(|_| {});
        let docroot = docroot.with_writer_dates(true);
        let headers = map_of(&[("host", "x")]);
        let view = |target| RequestView {
            method: "GET",
            target,
            version: Version::Http11,
            headers: &headers,
        };
        let _ = docroot.respond(&view("/page.html"));
        assert!(
            docroot
                .respond_whole_from_memory(&view("/page.html"))
                .is_ok()
        );
        // Same length, new bytes: only the cache's watch can tell.
        let new = "<p>TEXT</p>\n".repeat(100);
        std::fs::write(dir.path().join("root/page.html"), &new).unwrap();
        // Another spelling of the kept path: not answered from memory, and
        // the look made on the way is the one the whole decision relies on.
        let seen = docroot
            .respond_whole_from_memory(&view("/pa%67e.html"))
            .unwrap_err()
            .expect("a look was made");
        let reply = docroot.respond_seen(&view("/pa%67e.html"), seen);
        assert!(matches!(reply.body, Body::Bytes(ref b) if b == new.as_bytes()));
    }

    #[test]
    fn a_query_past_the_target_limit_is_refused_on_a_kept_path() {
        let (_dir, docroot) = open(|_| {});
        let docroot = docroot.with_writer_dates(true).with_max_target_len(64);
        let headers = map_of(&[("host", "x")]);
        let long = format!("/page.html?{}", "a".repeat(64));
        let view = |target| RequestView {
            method: "GET",
            target,
            version: Version::Http11,
            headers: &headers,
        };
        assert_eq!(docroot.respond(&view("/page.html")).status, 200);
        assert!(docroot.respond_whole_from_memory(&view(&long)).is_err());
        assert_eq!(docroot.respond(&view(&long)).status, 414);
    }

    #[test]
    fn a_whole_answer_from_memory_is_never_of_a_stale_file() {
        let (dir, docroot) = open(|_| {});
        let docroot = docroot.with_writer_dates(true);
        let path = dir.path().join("root/page.html");
        let headers = map_of(&[("host", "x")]);
        let view = get_page(&headers);
        let _ = docroot.respond(&view);
        let old = docroot.respond_whole_from_memory(&view).unwrap();
        // Same length, new bytes: only the cache's watch can tell.
        let new = "<p>TEXT</p>\n".repeat(100);
        assert_eq!(old.body.unwrap().len(), new.len());
        std::fs::write(&path, &new).unwrap();
        assert!(docroot.respond_whole_from_memory(&view).is_err());
        let _ = docroot.respond(&view);
        let again = docroot.respond_whole_from_memory(&view).unwrap();
        assert_eq!(again.body.unwrap(), new.as_bytes());
    }

    #[test]
    fn a_kept_file_is_dated_by_the_writer_once_it_is_a_second_old() {
        let (dir, docroot) = open(|_| {});
        let docroot = docroot.with_writer_dates(true);
        // Changed just now: kept with a Date of its own.
        let changed = std::time::SystemTime::now();
        let file = std::fs::File::options()
            .write(true)
            .open(dir.path().join("root/page.html"))
            .unwrap();
        file.set_modified(changed).unwrap();
        let headers = map_of(&[("host", "x")]);
        let view = get_page(&headers);
        assert!(docroot.respond(&view).headers.contains_key(header::DATE));
        let whole = docroot.respond_whole_from_memory(&view).unwrap();
        assert!(whole.fields.contains_key(header::DATE));
        // A second after the change, the writer's clock can date it.
        let settled = changed + std::time::Duration::from_secs(1);
        if let Ok(left) = settled.duration_since(std::time::SystemTime::now()) {
            std::thread::sleep(left);
        }
        let whole = docroot.respond_whole_from_memory(&view).unwrap();
        assert!(!whole.fields.contains_key(header::DATE));
        assert!(!docroot.respond(&view).headers.contains_key(header::DATE));
    }

    /// A write moves a file's modification time before it copies the bytes:
    /// for a second after a change, no answer carries a validator a client
    /// could keep half-written bytes by, nor does any condition match one.
    /// Then the cache's copy gains them, on every path, in the usual order.
    #[test]
    fn a_file_changed_within_a_second_is_sent_without_validators_until_then() {
        use std::time::{Duration, SystemTime};
        let (dir, raw) = open(|_| {});
        let root = dir.path().join("root");
        let docroot = |writer_dates, compress| {
            let options = Options {
                compress,
                ..Options::default()
            };
            let docroot = DocRoot::open(&root, options).unwrap();
            docroot.with_writer_dates(writer_dates)
        };
        let hyper = docroot(true, false);
        // A docroot per way to a kept copy: the first to ask after the second
        // is up must be the one that settles it.
        let ways: Vec<DocRoot> = (0..5).map(|way| docroot(way >= 3, false)).collect();
        let compressing = docroot(false, true);
        let changed = SystemTime::now();
        super::tests::modified_at(&root.join("page.html"), changed);
        let meta = std::fs::metadata(root.join("page.html")).unwrap();
        let would_be = Identity::of(&meta).etag();
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(5));
        // Each way's fields but Date, as `wire` puts them: opened (the first
        // time only), then kept; once kept, the ways from memory must answer.
        let answers = |kept: bool| {
            let mut seen = Vec::new();
            for _ in 0..2 {
                seen.push(wire(&ask(&ways[0], "GET", Version::Http11, &[], false)).1);
                seen.push(wire(&ask(&ways[1], "GET", Version::Http11, &[], true)).1);
                let headers = map_of(&[("host", "x")]);
                let view = get_page(&headers);
                let changes = ways[2].see_changes().unwrap();
                let from_memory = ways[2].respond_from_memory(&view, &changes);
                assert!(
                    from_memory.is_some() || !kept,
                    "kept, so answered from memory"
                );
                let reply = from_memory.unwrap_or_else(|| ways[2].respond_prepared(&view));
                seen.push(wire(&reply).1);
                seen.push(wire(&ask(&ways[3], "GET", Version::Http11, &[], false)).1);
                let whole = match ways[4].respond_whole_from_memory(&view) {
                    Ok(whole) => whole.fields,
                    Err(_) if !kept => ways[4].respond(&view).headers,
                    Err(_) => panic!("kept, so answered whole from memory"),
                };
                let fields = whole.iter().filter(|(name, _)| *name != header::DATE);
                seen.push(
                    fields
                        .map(|(n, v)| format!("{n}: {}", v.to_str().unwrap()))
                        .collect(),
                );
            }
            seen
        };
        let statuses = |asked: &[(&'static str, &str)]| {
            let mut got = vec![ask(&hyper, "GET", Version::Http11, asked, false).status];
            got.push(ask(&raw, "GET", Version::Http11, asked, true).status);
            got.push(ask(&raw, "GET", Version::Http11, asked, false).status);
            got
        };
        let conditions: [(&'static str, &str); 6] = [
            ("If-None-Match", &would_be),
            ("If-Modified-Since", &later),
            ("If-Match", &would_be),
            ("If-Match", "*"),
            ("If-Unmodified-Since", "Thu, 01 Jan 1970 00:00:00 GMT"),
            ("If-Range", &would_be),
        ];
        let ask_all = || {
            conditions.map(|(name, value)| {
                let mut asked = vec![(name, value)];
                if name == "If-Range" {
                    asked.push(("Range", "bytes=0-1"));
                }
                statuses(&asked)
            })
        };
        let gzip = [("Accept-Encoding", "gzip")];
        let compressed = ask(&compressing, "GET", Version::Http11, &gzip, false);
        let recent = (answers(false), ask_all());
        // Only while the file was that recent does this prove anything.
        let elapsed = SystemTime::now().duration_since(changed);
        assert!(
            elapsed.is_ok_and(|e| e < Duration::from_millis(900)),
            "this test ran too slowly to see a recent file"
        );
        let has_validators = |lines: &[String]| {
            let is = |l: &&String| l.starts_with("etag:") || l.starts_with("last-modified:");
            lines.iter().filter(is).count()
        };
        for lines in &recent.0 {
            assert_eq!(has_validators(lines), 0, "{lines:?}");
        }
        assert_eq!(compressed.headers[header::CONTENT_ENCODING], "gzip");
        assert_eq!(has_validators(&wire(&compressed).1), 0);
        // The would-be tag and a later date match nothing; the rest, as they would.
        let expected = [200, 200, 412, 200, 200, 200].map(|s| vec![s; 3]);
        assert_eq!(recent.1, expected);
        let settled = changed + Duration::from_secs(1);
        if let Ok(left) = settled.duration_since(SystemTime::now()) {
            std::thread::sleep(left);
        }
        // The same copies, settled in place: as a file settled from the start.
        let (settled_answers, settled_statuses) = (answers(true), ask_all());
        let fresh = DocRoot::open(&root, Options::default()).unwrap();
        let (_, reference, _) = wire(&ask(&fresh, "GET", Version::Http11, &[], false));
        assert_eq!(has_validators(&reference), 2);
        assert!(reference.iter().any(|l| *l == format!("etag: {would_be}")));
        for lines in &settled_answers {
            assert_eq!(lines, &reference);
        }
        let expected = [304, 304, 200, 200, 412, 206].map(|s| vec![s; 3]);
        assert_eq!(settled_statuses, expected);
        // A body compressed from bytes that may have been half written goes
        // with no validator: one with a tag is compressed again.
        let made = compressing.compressed.made();
        let compressed = ask(&compressing, "GET", Version::Http11, &gzip, false);
        assert_eq!(compressed.headers[header::CONTENT_ENCODING], "gzip");
        assert_eq!(has_validators(&wire(&compressed).1), 2);
        assert_eq!(compressing.compressed.made(), made + 1);
    }

    #[test]
    fn a_prepared_answer_is_never_of_a_stale_file() {
        let (dir, docroot) = open(|_| {});
        let path = dir.path().join("root/page.html");
        let get = || ask(&docroot, "GET", Version::Http11, &[], true);
        let _ = get();
        let hit = get();
        assert!(hit.prepared().is_some(), "a cache hit is answered prepared");
        // Same length, new bytes: only the cache's watch can tell.
        let new = "<p>TEXT</p>\n".repeat(100);
        std::fs::write(&path, &new).unwrap();
        let (status, _, body) = wire(&get());
        assert_eq!((status, body), (200, new.clone().into_bytes()));
        // And once kept again, the prepared fields are the new file's.
        let again = get();
        let (_, plain_fields, _) = wire(&ask(&docroot, "GET", Version::Http11, &[], false));
        assert_eq!(wire(&again).1, plain_fields);
        assert_eq!(wire(&again).2, new.into_bytes());
    }
}

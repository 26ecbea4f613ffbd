//! A file as it is sent: its bytes (an open file, or a small file read into
//! memory), its validators (ETag, Last-Modified) and its header fields,
//! prepared once per file, from which each 200, 206 or 304 is made.

use std::fs::{File, Metadata};
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::StatusCode;
use http::header::{self, HeaderMap, HeaderValue};

use super::cache::{self, Identity};
use super::conditional::Validators;
use super::reply::{Body, Prepared, Reply, base_headers, date_now, header_value};

/// What a file answer is made of: the bytes (an open file, or a small file
/// already in memory) and everything the headers and preconditions need.
#[derive(Debug)]
pub(super) struct Representation {
    /// Bytes in the whole representation.
    pub(super) len: u64,
    pub(super) modified: Option<SystemTime>,
    pub(super) etag: HeaderValue,
    /// Every header field of a `200` for it, formatted once per file rather
    /// than per reply, in the order they are sent; a reply only puts in the
    /// current `Date`. Cloning the finished map costs a cached hit less than
    /// building it did (`benches/parser.rs`; figures in docs/benchmarks.md).
    /// Shared with the cache's copy: a hit clones the map only if it needs one.
    fields: Arc<HeaderMap>,
    /// The same fields but `Date` in wire form, for [`Representation::reply_prepared`];
    /// rendered for the cache's copy, and dropped whenever `fields` changes.
    rendered: Option<Bytes>,
    content: Content,
    /// The precompressed coding sent, if any.
    pub(super) coding: Option<&'static str>,
    /// The file has precompressed siblings, so answers vary on Accept-Encoding.
    pub(super) has_variants: bool,
    /// The file the bytes came from, as `stat` saw it before they were read:
    /// what bodies compressed from them are kept under.
    pub(super) source: Identity,
    /// Set by [`Representation::finish`], which makes a page's fields a
    /// resource's: whether they carry its validators, which they do not while
    /// the file was changed within the last second ([`Representation::settle`]).
    settled: bool,
    /// When a file modified within a second of being opened is a second
    /// old: its validators are held back until then.
    settles_at: SystemTime,
    /// Whether `Date` leaves the fields once the file is a second old, for a
    /// writer that dates answers itself ([`Representation::undated`]).
    writer_dates: bool,
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
    pub(super) fn of_file(path: &Path, file: File, meta: &Metadata) -> Representation {
        // RFC 9110 §8.8.2.1: a Last-Modified later than the message's Date
        // MUST be replaced by that date (a file touched with a future time, a
        // clock set back). Taken before `Date` is, so never after it.
        let now = SystemTime::now();
        let modified = meta.modified().ok().map(|m| m.min(now));
        // From the time the file holds, not the one sent: a time in the
        // future is no write under way, but a clock that was set back.
        let settles_at = match meta.modified() {
            Ok(m) if recent(Some(m), now) && recent(Some(now), m) => m + SETTLE,
            _ => SystemTime::UNIX_EPOCH,
        };
        let source = Identity::of(meta);
        let etag = header_value(source.etag());
        let mut fields = base_headers();
        fields.insert(header::CONTENT_TYPE, header_value(content_type(path)));
        fields.insert(header::CONTENT_LENGTH, HeaderValue::from(meta.len()));
        Representation {
            len: meta.len(),
            modified,
            etag,
            fields: Arc::new(fields),
            rendered: None,
            content: Content::File(file),
            coding: None,
            has_variants: false,
            source,
            // A page's fields: no validators to hold back (see `finish`).
            settled: true,
            settles_at,
            writer_dates: false,
        }
    }

    /// Adds the validators (once settled) and the fields that depend on the
    /// coding chosen, the variants found and the docroot's `Cache-Control`
    /// (none when it is empty).
    pub(super) fn finish(mut self, cache_control: &HeaderValue) -> Representation {
        self.rendered = None;
        // As it was when the file was opened, before its bytes were read.
        self.settled = self.settles_at == SystemTime::UNIX_EPOCH;
        let validators = self
            .settled
            .then(|| self.validator_fields().collect::<Vec<_>>());
        let fields = Arc::make_mut(&mut self.fields);
        fields.extend(validators.into_iter().flatten());
        if !cache_control.is_empty() {
            fields.insert(header::CACHE_CONTROL, cache_control.clone());
        }
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

    /// `ETag` and `Last-Modified`, as they follow `Content-Length`.
    fn validator_fields(&self) -> impl Iterator<Item = (header::HeaderName, HeaderValue)> {
        let modified = self.modified.map(|m| {
            (
                header::LAST_MODIFIED,
                header_value(httpdate::fmt_http_date(m)),
            )
        });
        std::iter::once((header::ETAG, self.etag.clone())).chain(modified)
    }

    /// The same without `Date` once the file is a second old, for a writer
    /// that dates answers itself: [`Representation::reply`] then adds none.
    /// Kept while the file is more recent (RFC 9110 §8.8.2.1): a writer's
    /// clock, read before the file was opened, could date the answer before
    /// its `Last-Modified`.
    pub(super) fn undated(mut self) -> Representation {
        self.writer_dates = true;
        self.settle();
        self
    }

    /// Once the file is a second old, and not before: adds the validators,
    /// and drops `Date` for a writer that dates answers itself. A write
    /// moves the file's modification time before it copies its bytes, so
    /// bytes read within a second of it may be half written; a validator
    /// sent with them would let a client keep them as current, for good.
    /// Bytes a change was still copying when the cache kept them are
    /// forgotten when it ends (the cache watches), so the cache's copy
    /// settles in place, here, on the way out.
    pub(super) fn settle(&mut self) {
        // Nearly always: nothing left to do, and no clock to read.
        if self.settled && !(self.writer_dates && self.dated()) {
            return;
        }
        self.settle_at(SystemTime::now());
    }

    /// Whether the fields hold `Date`: it is the first (`base_headers`).
    fn dated(&self) -> bool {
        self.fields
            .iter()
            .next()
            .is_some_and(|(name, _)| name == header::DATE)
    }

    fn settle_at(&mut self, now: SystemTime) {
        let validators_due = !self.settled && now >= self.settles_at;
        let undate = self.writer_dates && self.dated() && !recent(self.modified, now);
        if !validators_due && !undate {
            return;
        }
        // Rebuilt rather than inserted into or removed from: the fields keep
        // the order a representation settled from the start has.
        let validators = validators_due.then(|| self.validator_fields().collect::<Vec<_>>());
        let mut fields = HeaderMap::with_capacity(self.fields.len() + 2);
        for (name, value) in self.fields.iter() {
            if *name == header::DATE && undate {
                continue;
            }
            fields.append(name.clone(), value.clone());
            if *name == header::CONTENT_LENGTH
                && let Some(validators) = &validators
            {
                fields.extend(validators.iter().cloned());
            }
        }
        self.fields = Arc::new(fields);
        self.settled |= validators_due;
        if self.rendered.is_some() {
            self.render();
        }
    }

    /// A file of at most `limit` bytes read into memory; anything else (or a
    /// read that comes up short) stays a file. Past [`cache::SMALL_FILE`] only
    /// what the page cache holds is read: a cold big file is streamed, so the
    /// thread answering never waits on the disk for more than a small read.
    pub(super) fn into_memory(mut self, limit: u64) -> Representation {
        if let Content::File(file) = &mut self.content
            && self.len <= limit
        {
            let read = if self.len <= cache::SMALL_FILE {
                let mut bytes = Vec::with_capacity(self.len as usize);
                file.read_to_end(&mut bytes).ok().map(|_| bytes)
            } else {
                read_cached(file, self.len as usize)
            };
            if let Some(bytes) = read.filter(|b| b.len() as u64 == self.len) {
                self.content = Content::Bytes(Bytes::from(bytes));
            }
        }
        self
    }

    /// The open file its bytes are read from, if they are not in memory.
    pub(super) fn file(&self) -> Option<&File> {
        match &self.content {
            Content::File(file) => Some(file),
            Content::Bytes(_) => None,
        }
    }

    /// Whether its bytes are in memory rather than in an open file.
    pub(super) fn in_memory(&self) -> bool {
        matches!(self.content, Content::Bytes(_))
    }

    /// Its `Content-Type` value.
    pub(super) fn content_type(&self) -> &[u8] {
        self.fields
            .get(header::CONTENT_TYPE)
            .map_or(&[][..], HeaderValue::as_bytes)
    }

    /// The whole body in memory: the bytes it holds, or the file read
    /// (positioned reads, so the file stays usable); `None` if that fails.
    pub(super) fn read_all(&self) -> Option<Bytes> {
        match &self.content {
            Content::Bytes(bytes) => Some(bytes.clone()),
            Content::File(file) => {
                let mut data = vec![0; usize::try_from(self.len).ok()?];
                std::os::unix::fs::FileExt::read_exact_at(file, &mut data, 0).ok()?;
                Some(Bytes::from(data))
            }
        }
    }

    /// Answers vary on `Accept-Encoding` (another coding may be sent).
    pub(super) fn vary_on_encoding(&mut self) {
        self.has_variants = true;
        self.rendered = None;
        Arc::make_mut(&mut self.fields)
            .insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    }

    /// The same resource in `coding`, with `body` its encoded bytes and an
    /// ETag of its own (RFC 9110 §8.8.3: each representation its own
    /// strong validator), `"tag"` becoming `"tag-br"`.
    pub(super) fn encoded(&self, coding: &'static str, body: Bytes) -> Representation {
        let tag = self.etag.as_bytes();
        let inner = tag.strip_suffix(b"\"").unwrap_or(tag);
        let etag = HeaderValue::from_bytes(&[inner, b"-", coding.as_bytes(), b"\""].concat())
            .unwrap_or_else(|_| self.etag.clone());
        let mut fields = HeaderMap::clone(&self.fields);
        fields.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        fields.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
        if self.settled {
            fields.insert(header::ETAG, etag.clone());
        }
        fields.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
        Representation {
            len: body.len() as u64,
            modified: self.modified,
            etag,
            fields: Arc::new(fields),
            rendered: None,
            content: Content::Bytes(body),
            coding: Some(coding),
            has_variants: true,
            source: self.source,
            settled: self.settled,
            settles_at: self.settles_at,
            writer_dates: self.writer_dates,
        }
    }

    /// Bytes held in memory: the body, the struct and every prepared field
    /// (its name, value and the map's own bookkeeping for it).
    pub(super) fn footprint(&self) -> u64 {
        const PER_FIELD: usize = 96;
        let body = match &self.content {
            Content::Bytes(bytes) => bytes.len(),
            Content::File(_) => 0,
        };
        let line = |name: &header::HeaderName, value: &HeaderValue| {
            name.as_str().len() + ": \r\n".len() + value.len()
        };
        let fields: usize = self
            .fields
            .iter()
            .map(|(name, value)| line(name, value) + PER_FIELD)
            .sum();
        let rendered = self.rendered.as_ref().map_or(0, Bytes::len);
        // Counted before they are added: the cache's copy settles in place,
        // its rendered lines too.
        let held_back: usize = if self.settled {
            0
        } else {
            let rendered_too = usize::from(self.rendered.is_some());
            self.validator_fields()
                .map(|(name, value)| (1 + rendered_too) * line(&name, &value) + PER_FIELD)
                .sum()
        };
        (std::mem::size_of::<Representation>()
            + body
            + fields
            + rendered
            + self.etag.len()
            + held_back) as u64
    }

    /// Renders the fields for [`Representation::reply_prepared`], in the order
    /// and form a writer of HTTP/1.1 sends them, `Date` left out.
    pub(super) fn render(&mut self) {
        let mut lines = Vec::with_capacity(256);
        for (name, value) in self.fields.iter() {
            if name != header::DATE {
                lines.extend_from_slice(name.as_str().as_bytes());
                lines.extend_from_slice(b": ");
                lines.extend_from_slice(value.as_bytes());
                lines.extend_from_slice(b"\r\n");
            }
        }
        self.rendered = Some(Bytes::from(lines));
    }

    /// A copy for the cache, or of what it kept: bytes in memory are shared,
    /// an open file is duplicated (`dup`: one descriptor per answer, all
    /// read by offset). `None` if no descriptor is left for the copy.
    pub(super) fn clone_cached(&self) -> Option<Representation> {
        let content = match &self.content {
            Content::Bytes(bytes) => Content::Bytes(bytes.clone()),
            Content::File(file) => Content::File(file.try_clone().ok()?),
        };
        Some(Representation {
            len: self.len,
            modified: self.modified,
            etag: self.etag.clone(),
            fields: Arc::clone(&self.fields),
            rendered: self.rendered.clone(),
            content,
            coding: self.coding,
            has_variants: self.has_variants,
            source: self.source,
            settled: self.settled,
            settles_at: self.settles_at,
            writer_dates: self.writer_dates,
        })
    }

    /// Whether its fields carry validators ([`Representation::settle`]).
    pub(super) fn has_validators(&self) -> bool {
        self.settled
    }

    /// What preconditions are evaluated against: nothing until settled.
    pub(super) fn validators(&self) -> Validators<'_> {
        if !self.settled {
            return Validators {
                etag: None,
                modified: None,
            };
        }
        Validators {
            // Always ASCII: `Identity::etag` formatted it.
            etag: self.etag.to_str().ok(),
            modified: self.modified,
        }
    }

    /// The fields and the bytes of a file in memory, shared.
    pub(super) fn shared_whole(&self) -> Option<(Arc<HeaderMap>, Bytes)> {
        match &self.content {
            Content::Bytes(bytes) => Some((Arc::clone(&self.fields), bytes.clone())),
            Content::File(_) => None,
        }
    }

    /// A reply with `len` bytes of this representation from `offset` on.
    pub(super) fn reply(self, status: StatusCode, offset: u64, len: u64) -> Reply {
        let mut headers = Arc::unwrap_or_clone(self.fields);
        redate(&mut headers);
        if len != self.len {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
        }
        let body = match self.content {
            Content::File(file) => Body::File { file, offset, len },
            // The whole: moved, not sliced (a slice is a clone and a drop).
            Content::Bytes(bytes) if offset == 0 && len == self.len => Body::Bytes(bytes),
            // Ranges were checked against the length, so the slice is in bounds.
            Content::Bytes(bytes) => {
                Body::Bytes(bytes.slice(offset as usize..(offset + len) as usize))
            }
        };
        Reply {
            status,
            headers,
            body,
            generated: false,
            prepared: None,
        }
    }

    /// A `200` with the whole representation, its fields as rendered (see
    /// [`Reply::prepared`]) when they are, else as [`Representation::reply`] makes them.
    pub(super) fn reply_prepared(self) -> Reply {
        let (Some(fields), Content::Bytes(bytes)) = (&self.rendered, &self.content) else {
            let len = self.len;
            return self.reply(StatusCode::OK, 0, len);
        };
        Reply {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: Body::Bytes(bytes.clone()),
            generated: false,
            prepared: Some(Prepared {
                date: date_now(),
                fields: fields.clone(),
                content_length: self.len,
            }),
        }
    }

    /// RFC 9110 §15.4.5: the fields a 200 would carry that describe the
    /// representation's validity, and no content.
    pub(super) fn not_modified(self) -> Reply {
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
            generated: false,
            prepared: None,
        }
    }
}

/// How long after a change to a file its validators are held back.
const SETTLE: Duration = Duration::from_secs(1);

/// Whether a file last modified at `modified` changed within [`SETTLE`]
/// before `now` (or at any time after it).
fn recent(modified: Option<SystemTime>, now: SystemTime) -> bool {
    modified.is_some_and(|m| m + SETTLE > now)
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

/// The first `len` bytes of `file` if the page cache holds them all (more
/// than one read when a read stops short), else `None`.
fn read_cached(file: &File, len: usize) -> Option<Vec<u8>> {
    let mut bytes = vec![0; len];
    let mut done = 0;
    while done < len {
        let mut slices = [std::io::IoSliceMut::new(&mut bytes[done..])];
        match rustix::io::preadv2(
            file,
            &mut slices,
            done as u64,
            rustix::io::ReadWriteFlags::NOWAIT,
        ) {
            Ok(0) | Err(_) => return None,
            Ok(n) => done += n,
        }
    }
    Some(bytes)
}

/// A copy of a file's fields for one answer: [`redate`]d.
pub(super) fn fields_now(fields: &HeaderMap) -> HeaderMap {
    let mut fields = fields.clone();
    redate(&mut fields);
    fields
}

/// Puts the current `Date` in a file's fields, in place: the fields keep
/// their order. `Date` is the first field (`base_headers`), so it is found
/// without hashing its name; fields without one were made for a writer that
/// dates answers itself.
fn redate(fields: &mut HeaderMap) {
    if let Some((name, value)) = fields.iter_mut().next()
        && *name == header::DATE
    {
        *value = date_now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `path`'s representation as docroot makes it, its bytes in memory.
    fn finished(path: &Path) -> Representation {
        let file = File::open(path).unwrap();
        let meta = file.metadata().unwrap();
        Representation::of_file(path, file, &meta)
            .into_memory(cache::SMALL_FILE)
            .finish(&HeaderValue::from_static("no-cache"))
    }

    #[test]
    fn prepared_fields_get_the_current_date_and_a_range_its_length() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.html");
        std::fs::write(&path, "home").unwrap();
        crate::docroot::tests::age(&path);
        let mut rep = finished(&path);
        // As if the file had been read long ago.
        let old = HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT");
        Arc::make_mut(&mut rep.fields).insert(header::DATE, old.clone());
        let names = |reply: &Reply| {
            let names = reply.headers.keys().map(|n| n.as_str().to_owned());
            names.collect::<Vec<_>>()
        };
        let whole = rep.clone_cached().unwrap().reply(StatusCode::OK, 0, 4);
        assert_ne!(whole.headers[header::DATE], old);
        // The same for the fields of a whole file answered from memory.
        let (fields, _) = rep.shared_whole().unwrap();
        assert_eq!(fields[header::DATE], old);
        assert_ne!(fields_now(&fields)[header::DATE], old);
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
        // For a writer that dates answers itself, none is added, and the
        // others keep their order.
        let reply = rep
            .clone_cached()
            .unwrap()
            .undated()
            .reply(StatusCode::OK, 0, 4);
        assert_eq!(names(&reply), names(&whole)[1..]);
        let part = rep.reply(StatusCode::PARTIAL_CONTENT, 1, 2);
        assert_eq!(part.content_length(), 2);
        assert!(matches!(part.body, Body::Bytes(ref b) if b == "om"));
    }

    #[test]
    fn a_file_changed_within_a_second_has_no_validators_until_it_settles() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.html");
        std::fs::write(&path, "home").unwrap();
        crate::docroot::tests::age(&path);
        let names = |fields: &HeaderMap| {
            let names = fields.keys().map(|n| n.as_str().to_owned());
            names.collect::<Vec<_>>()
        };
        let settled = finished(&path);
        let all = names(&settled.fields);
        assert!(all.contains(&"etag".to_owned()), "{all:?}");
        assert!(settled.validators().etag.is_some());
        // Just written: its bytes may be half written, so nothing would let
        // a client keep them; and `Date` stays for a writer that dates
        // answers, as there is no `Last-Modified` for it to come before.
        std::fs::write(&path, "hone").unwrap();
        let changed = SystemTime::now();
        for writer_dates in [false, true] {
            let made = || {
                let made = finished(&path);
                let mut made = if writer_dates { made.undated() } else { made };
                made.render();
                made
            };
            let fresh = made();
            let unvalidated: Vec<_> = all
                .iter()
                .filter(|n| !matches!(n.as_str(), "etag" | "last-modified"))
                .cloned()
                .collect();
            assert_eq!(names(&fresh.fields), unvalidated);
            let v = fresh.validators();
            assert!(v.etag.is_none() && v.modified.is_none());
            assert!(!fresh.not_modified().headers.contains_key(header::ETAG));
            let mut fresh = made();
            fresh.settle();
            if SystemTime::now() < changed + Duration::from_millis(900) {
                assert_eq!(names(&fresh.fields), unvalidated, "settled too soon");
            }
            // A second on, the copy settles in place, in the order of one
            // settled from the start, its rendered fields too; bytes shared.
            let counted = fresh.footprint();
            fresh.settle_at(SystemTime::now() + Duration::from_secs(2));
            // What the cache counted for its copy covers what settling added
            // (exactly, unless `Date` left as well).
            if writer_dates {
                assert!(fresh.footprint() <= counted);
            } else {
                assert_eq!(fresh.footprint(), counted);
            }
            let expected = if writer_dates { &all[1..] } else { &all[..] };
            assert_eq!(names(&fresh.fields), expected);
            assert_eq!(fresh.fields[header::ETAG], fresh.etag);
            assert!(fresh.validators().etag.is_some());
            let rendered = fresh.rendered.clone().unwrap();
            let rendered = String::from_utf8_lossy(&rendered).to_string();
            assert!(rendered.contains("etag: \""), "{rendered}");
            assert!(rendered.contains("last-modified: "), "{rendered}");
            let (_, bytes) = fresh.shared_whole().unwrap();
            assert_eq!(bytes, "hone");
        }
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

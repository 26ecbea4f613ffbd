//! Compression on the fly (`--compress`): a text file with no precompressed
//! sibling the client accepts is sent brotli-, zstd- or gzip-encoded, as
//! `Accept-Encoding` prefers, each encoding its own representation with its
//! own ETag, kept in a bounded cache so the same file is not compressed
//! again. The cache is keyed by the file's identity as `stat` saw it before
//! its bytes were read: device, inode, size, and the modification and change
//! times, kept whole so that no two files can share a key (the ETag digests
//! all but the device). Only a change of the system clock sets the change
//! time back, so a file rewritten with its old modification time put back,
//! or copied with it onto another file system under the same inode number,
//! is another key.
//!
//! A write moves the change time before it copies its bytes, so bytes read
//! just after a change may be half written, under the identity the file
//! keeps. An encoding made within [`SETTLE`] of this server first seeing an
//! identity (by its own monotonic clock, whatever the file system's says)
//! is kept only until then, and made once more after it: at most two
//! compressions per coding and change. What stays open: a single write still
//! copying [`SETTLE`] after this server first saw its identity, and file
//! systems whose timestamps tick in whole seconds or slower (FAT), where two
//! writes [`SETTLE`] apart may show one change time.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::cache::Identity;

/// The codings offered, best first: brotli and zstd beat gzip on text.
pub(super) const CODINGS: &[&str] = &["br", "zstd", "gzip"];
/// Smaller files gain less than the header and a round trip cost.
pub(super) const MIN_LEN: u64 = 1024;
/// Larger files are sent as they are: compressing one on a request would
/// hold a worker too long; precompress them (`file.br`, `file.zst`, `file.gz`).
pub(super) const MAX_LEN: u64 = 8 * 1024 * 1024;
/// What the cache of compressed bodies may hold in all.
pub(super) const CACHE_BYTES: usize = 32 * 1024 * 1024;
/// How long after this server first sees a file's identity its encodings
/// start being kept for good.
const SETTLE: Duration = Duration::from_secs(2);
/// Identities remembered as first seen, at most; past it, those settled are
/// forgotten (seen again, they are new for another [`SETTLE`]).
const SEEN_MAX: usize = 4096;

/// Whether a `Content-Type` names text worth compressing. Images, audio,
/// video, fonts and archives are compressed already.
pub(super) fn compressible(content_type: &[u8]) -> bool {
    let essence = content_type
        .split(|&b| b == b';')
        .next()
        .unwrap_or_default()
        .trim_ascii();
    let essence = String::from_utf8_lossy(essence).to_ascii_lowercase();
    essence.starts_with("text/")
        || essence.ends_with("+json")
        || essence.ends_with("+xml")
        || matches!(
            essence.as_str(),
            "application/javascript"
                | "application/json"
                | "application/xml"
                | "application/wasm"
                | "image/svg+xml"
        )
}

/// `data` in `coding` (one of [`CODINGS`]).
pub(super) fn encode(coding: &str, data: &[u8]) -> std::io::Result<Vec<u8>> {
    match coding {
        "br" => {
            let mut out = Vec::with_capacity(data.len() / 3);
            {
                // Quality 5: most of brotli's gain on text at a fraction of 11's cost.
                let mut writer = brotli::CompressorWriter::new(&mut out, 16 * 1024, 5, 22);
                writer.write_all(data)?;
            }
            Ok(out)
        }
        "zstd" => zstd::bulk::compress(data, 3),
        "gzip" => {
            let mut encoder = flate2::write::GzEncoder::new(
                Vec::with_capacity(data.len() / 3),
                flate2::Compression::default(),
            );
            encoder.write_all(data)?;
            encoder.finish()
        }
        other => Err(std::io::Error::other(format!("no coding {other}"))),
    }
}

/// Compressed bodies by (the file's identity, coding), oldest dropped first
/// once [`CACHE_BYTES`] would be passed.
#[derive(Debug)]
pub(super) struct Compressed {
    inner: Mutex<Inner>,
    /// [`SETTLE`]; shorter in tests.
    settle: Duration,
}

impl Default for Compressed {
    fn default() -> Self {
        Compressed {
            inner: Mutex::default(),
            settle: SETTLE,
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    bodies: HashMap<(Identity, &'static str), Kept>,
    order: VecDeque<(Identity, &'static str)>,
    bytes: usize,
    /// When each identity not long settled was first seen.
    first_seen: HashMap<Identity, Instant>,
    /// Compressions done, for tests.
    made: u64,
}

#[derive(Debug)]
struct Kept {
    body: Bytes,
    /// Made before its identity had settled: used only until it has.
    provisional: bool,
    /// Made for a representation with validators; one made for a file
    /// changed within the second before goes to none that has them.
    for_validated: bool,
}

impl Inner {
    /// Whether `source` was first seen at least `settle` ago (seeing it now
    /// if it was not).
    fn settled(&mut self, source: Identity, settle: Duration, now: Instant) -> bool {
        if self.first_seen.len() >= SEEN_MAX && !self.first_seen.contains_key(&source) {
            self.first_seen
                .retain(|_, first| now.duration_since(*first) < settle);
            if self.first_seen.len() >= SEEN_MAX {
                self.first_seen.clear();
            }
        }
        let first = *self.first_seen.entry(source).or_insert(now);
        now.duration_since(first) >= settle
    }

    fn remove(&mut self, key: &(Identity, &'static str)) {
        if let Some(gone) = self.bodies.remove(key) {
            self.bytes -= gone.body.len();
        }
    }
}

impl Compressed {
    /// The body of `source`'s bytes in `coding`: from the cache, or made
    /// from `data` and kept (until `source` has settled, only for that
    /// long). `validated` says the representation asking carries validators
    /// (`Representation::settle`): it never gets a body made for one that
    /// did not. Two first requests at once may both compress it.
    pub(super) fn get_or_make(
        &self,
        source: Identity,
        coding: &'static str,
        validated: bool,
        data: impl FnOnce() -> Option<Bytes>,
    ) -> Option<Bytes> {
        let key = (source, coding);
        {
            let mut inner = self.lock();
            if let Some(kept) = inner.bodies.get(&key) {
                let body = kept.body.clone();
                let too_early = validated && !kept.for_validated;
                if !kept.provisional
                    || !(too_early || inner.settled(source, self.settle, Instant::now()))
                {
                    return Some(body);
                }
                // Made from bytes that may have been half written: made again.
                inner.remove(&key);
                inner.order.retain(|kept| *kept != key);
            }
        }
        let body = Bytes::from(encode(coding, &data()?).ok()?);
        let mut inner = self.lock();
        inner.made += 1;
        let provisional = !inner.settled(source, self.settle, Instant::now()) || !validated;
        if body.len() <= CACHE_BYTES / 4 && !inner.bodies.contains_key(&key) {
            while inner.bytes + body.len() > CACHE_BYTES {
                let Some(oldest) = inner.order.pop_front() else {
                    break;
                };
                inner.remove(&oldest);
            }
            inner.bytes += body.len();
            inner.order.push_back(key);
            let kept = Kept {
                body: body.clone(),
                provisional,
                for_validated: validated,
            };
            inner.bodies.insert(key, kept);
        }
        Some(body)
    }

    /// Takes identities first seen `span` ago or longer as settled.
    #[cfg(test)]
    pub(super) fn settle_after(&mut self, span: Duration) {
        self.settle = span;
    }

    /// How many bodies have been compressed so far.
    #[cfg(test)]
    pub(super) fn made(&self) -> u64 {
        self.lock().made
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_compressible_and_media_is_not() {
        for yes in [
            "text/html; charset=utf-8",
            "application/javascript",
            "image/svg+xml",
            "application/ld+json",
            "Text/CSS",
        ] {
            assert!(compressible(yes.as_bytes()), "{yes}");
        }
        for no in [
            "image/png",
            "video/mp4",
            "application/zip",
            "font/woff2",
            "",
        ] {
            assert!(!compressible(no.as_bytes()), "{no}");
        }
    }

    #[test]
    fn every_coding_round_trips() {
        let data: Vec<u8> = (0..50_000).map(|i| b"abcdefgh "[i % 9]).collect();
        for coding in CODINGS {
            let encoded = encode(coding, &data).unwrap();
            assert!(encoded.len() < data.len() / 10, "{coding}");
            let mut decoded = Vec::new();
            match *coding {
                "br" => {
                    brotli::BrotliDecompress(&mut &encoded[..], &mut decoded).unwrap();
                }
                "zstd" => decoded = zstd::stream::decode_all(&encoded[..]).unwrap(),
                _ => {
                    std::io::Read::read_to_end(
                        &mut flate2::read::GzDecoder::new(&encoded[..]),
                        &mut decoded,
                    )
                    .unwrap();
                }
            }
            assert_eq!(decoded, data, "{coding}");
        }
    }

    #[test]
    fn the_cache_stays_within_its_bound() {
        let cache = Compressed::default();
        // Bytes that do not compress, so the bodies are as big as the data.
        let mut state = 1u64;
        let data: Bytes = (0..256 * 1024)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                (state >> 56) as u8
            })
            .collect::<Vec<u8>>()
            .into();
        let count = 2 * CACHE_BYTES / data.len();
        for i in 0..count {
            cache
                .get_or_make(Identity::numbered(i as u64), "zstd", true, || {
                    Some(data.clone())
                })
                .unwrap();
            assert!(cache.lock().bytes <= CACHE_BYTES);
        }
        assert!(cache.lock().bytes > CACHE_BYTES / 2, "it keeps what fits");
        assert_eq!(cache.made(), count as u64);
        let last = Identity::numbered(count as u64 - 1);
        cache.get_or_make(last, "zstd", true, || None).unwrap();
        assert_eq!(cache.made(), count as u64, "a hit compresses nothing");
    }
}

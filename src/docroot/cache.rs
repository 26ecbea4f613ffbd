//! A bounded cache of small files, so a hot page costs two `stat` calls
//! instead of a path walk, an open and a read — in both backends, and without
//! a blocking-pool round trip in hyper.
//!
//! It can never serve a stale file: every hit re-`stat`s the path as asked
//! (following symlinks, as a fresh lookup would) and must find the same
//! device, inode, size and modification time, and its folder's modification
//! time unchanged (so a new `.gz`/`.br` beside it, or a rename, is noticed).
//! Any difference is a miss, and the entry is dropped.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{PoisonError, RwLock};
use std::time::SystemTime;

use super::Representation;

/// Files up to this size are kept in memory: a typical page, stylesheet or
/// icon. Larger ones are streamed from disk, where the page cache serves them.
pub const SMALL_FILE: u64 = 64 * 1024;
/// At most this many bytes of files in memory ...
pub const MAX_BYTES: u64 = 16 * 1024 * 1024;
/// ... and this many entries; past either, the cache starts again empty —
/// simple, and bounded whatever a client asks for.
pub const MAX_ENTRIES: usize = 4096;

/// What must not have changed for an entry to be served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: i64,
    mtime_nsec: i64,
}

impl Identity {
    pub fn of(meta: &std::fs::Metadata) -> Identity {
        Identity {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
        }
    }
}

struct Entry {
    identity: Identity,
    folder_modified: Option<SystemTime>,
    representation: Representation,
}

#[derive(Default)]
pub struct FileCache {
    entries: RwLock<(HashMap<PathBuf, Entry>, u64)>,
}

impl std::fmt::Debug for FileCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        write!(
            f,
            "FileCache({} entries, {} bytes)",
            entries.0.len(),
            entries.1
        )
    }
}

fn folder_modified(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path.parent()?).ok()?.modified().ok()
}

impl FileCache {
    /// The representation kept for `path` (as asked, before canonicalising),
    /// if the file and its folder are exactly as they were when it was kept.
    pub fn get(&self, path: &Path) -> Option<Representation> {
        let current = Identity::of(&std::fs::metadata(path).ok()?);
        let folder = folder_modified(path);
        let entries = self.entries.read().unwrap_or_else(PoisonError::into_inner);
        let entry = entries.0.get(path)?;
        if entry.identity == current && entry.folder_modified == folder {
            return entry.representation.clone_cached();
        }
        drop(entries);
        self.forget(path);
        None
    }

    /// Keeps `representation` (already read into memory) for `path`.
    pub fn keep(&self, path: &Path, identity: Identity, representation: &Representation) {
        let Some(copy) = representation.clone_cached() else {
            return;
        };
        let folder = folder_modified(path);
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        let (map, bytes) = &mut *entries;
        if map.len() >= MAX_ENTRIES || *bytes + identity.len > MAX_BYTES {
            map.clear();
            *bytes = 0;
        }
        let old = map.insert(
            path.to_path_buf(),
            Entry {
                identity,
                folder_modified: folder,
                representation: copy,
            },
        );
        *bytes += identity.len;
        if let Some(old) = old {
            *bytes -= old.identity.len;
        }
    }

    fn forget(&self, path: &Path) {
        let mut entries = self.entries.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(old) = entries.0.remove(path) {
            entries.1 -= old.identity.len;
        }
    }
}

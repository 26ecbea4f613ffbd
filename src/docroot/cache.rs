//! A bounded cache of small files with their headers prepared, so a hot page
//! costs one `epoll_wait` that returns at once — no path walk, no `stat`, no
//! open — in both backends. A file too big to keep in memory is kept open
//! instead, with its headers: a hit then costs that look and a `dup` of the
//! descriptor, not the dozen system calls of a lookup, and its bytes are
//! read from the file, by offset, as each answer is sent.
//!
//! It never serves a stale file. Every kept file is watched through inotify,
//! and so is every folder from the root down to it. The kernel queues an
//! event inside the very call that changes any of them (a write through any
//! hard link, a `touch`, a rename, a new or deleted sibling such as a fresh
//! `.gz`), and every lookup first asks whether that queue holds anything: if
//! it does, the whole cache is dropped, watches included, and the request
//! goes to the disk. Only paths without symlinks are kept, so the watched
//! folders alone decide what a path names; watches never follow a link; and
//! a file is kept only if a lookup beneath the root made after its watches
//! were in place still finds, without a symlink, the very file that was read,
//! still holding the bytes that were read (a write under way during the read
//! and over before the watches were in place leaves `stat` unchanged).
//!
//! The root itself is a path the kernel resolves at every request
//! (`current -> release-2`), so what leads to it is watched as well: each
//! folder on the way from `/` for the one name looked up in it, the links
//! followed included, watched before that name is looked up. A switch of the
//! root (a new symlink renamed over `current`, a folder renamed into place)
//! is then an event like any other, and nothing kept from the old root is
//! served again. Those folders hold other names too (a shared temporary
//! folder is busy), so an event there empties the cache only when it names
//! what the path goes through; the others are read and let go. A file is kept
//! only if the path still leads, once these watches are in place, to the
//! folder it was read from.
//!
//! Keys are normalised request paths (every spelling of a path is one key),
//! and keys, prepared fields and bodies all count toward [`MAX_BYTES`]: past
//! it, or past [`MAX_ENTRIES`], entries are dropped one by one to make room.
//! Files kept open are few ([`max_open_files`]): past that, big files are
//! looked up afresh, so the cache never takes the descriptors connections need.
//!
//! A file kept open holds its disk space while it is kept: one deleted or
//! renamed over is let go of (and its space freed, by the closer thread) at
//! the next request, which sees the change, not at the change itself.
//!
//! What inotify cannot see, this cannot either: writes through a shared
//! `mmap` and changes made on another machine to a network file system (a
//! file on one is never kept open, only a small one read whole). Where
//! inotify is unavailable (or its watch limit is reached), or a folder on the
//! way to the root may not be watched (no read permission on it), nothing is
//! cached.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::thread::JoinHandle;
use std::time::SystemTime;

use bytes::Bytes;
use http::HeaderMap;
use inotify::{EventMask, Inotify, WatchMask};
use rustix::event::Timespec;
use rustix::event::epoll::{self, EventData, EventFlags};

use super::beneath::{Beneath, Root};
use super::representation::Representation;

/// Files up to this size are kept in memory: a typical page, stylesheet or
/// icon. Larger ones are streamed from disk, where the page cache serves them,
/// unless the server keeps bigger ones ([`super::DocRoot::with_memory_files`]).
pub(super) const SMALL_FILE: u64 = 64 * 1024;
/// At most this many bytes in memory, counting keys, fields and bodies ...
pub(super) const MAX_BYTES: u64 = 16 * 1024 * 1024;
/// ... and this many entries; past either, entries are dropped to make room.
pub(super) const MAX_ENTRIES: usize = 4096;
/// What a map entry costs beyond its key's bytes and its representation.
const ENTRY_OVERHEAD: u64 = 64;

/// How many files the cache keeps open at most: 256, or a sixteenth of the
/// process's descriptor limit if that is less (64 under the usual 1024).
fn max_open_files() -> usize {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current;
    limit.map_or(256, |n| (n / 16).min(256) as usize)
}

/// Everything that changes what a path names or what a file holds. Folder
/// watches report these for every child too; `*_SELF` covers a watched
/// folder (the root included) being renamed or removed.
const CHANGES: WatchMask = WatchMask::MODIFY
    .union(WatchMask::ATTRIB)
    .union(WatchMask::CLOSE_WRITE)
    .union(WatchMask::CREATE)
    .union(WatchMask::DELETE)
    .union(WatchMask::DELETE_SELF)
    .union(WatchMask::MOVE_SELF)
    .union(WatchMask::MOVED_FROM)
    .union(WatchMask::MOVED_TO);

/// What changes what a name in a folder on the way to the root leads to: the
/// name made, removed or renamed, its permissions, or the folder itself
/// renamed or removed.
const NAME_CHANGES: WatchMask = WatchMask::CREATE
    .union(WatchMask::DELETE)
    .union(WatchMask::MOVED_FROM)
    .union(WatchMask::MOVED_TO)
    .union(WatchMask::ATTRIB)
    .union(WatchMask::DELETE_SELF)
    .union(WatchMask::MOVE_SELF);

/// Which events of one watch (one inode: the kernel gives an inode watched
/// twice one descriptor) empty the cache.
#[derive(Debug)]
enum Filter {
    /// Any: a kept file, or a folder between the root and one.
    All,
    /// Those about the folder itself, or about one of these names in it: a
    /// folder on the way to the root.
    Names(Vec<OsString>),
}

impl Filter {
    fn matters(&self, name: Option<&OsStr>) -> bool {
        match (self, name) {
            (Filter::All, _) | (_, None) => true,
            (Filter::Names(names), Some(name)) => names.iter().any(|n| n == name),
        }
    }
}

/// What a kept file must still be, checked once its watches are in place;
/// also what on-the-fly compressions are kept under (`compress`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) struct Identity {
    dev: u64,
    ino: u64,
    len: u64,
    mtime: i64,
    mtime_nsec: i64,
    /// Changes with every write and can be set by nobody: a rewrite that
    /// puts the old mtime back still shows here.
    ctime: i64,
    ctime_nsec: i64,
}

impl Identity {
    pub(super) fn of(meta: &std::fs::Metadata) -> Identity {
        Identity {
            dev: meta.dev(),
            ino: meta.ino(),
            len: meta.len(),
            mtime: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
            ctime: meta.ctime(),
            ctime_nsec: meta.ctime_nsec(),
        }
    }

    /// A strong validator (the file's ETag): its size, and a 64-bit FNV-1a
    /// digest of the rest but the device. A rewrite of the same length with
    /// its modification time put back still moves the change time, which
    /// nobody can set (unless the file system's clock ticks coarser than the
    /// two writes); so do a `chmod`, a rename or a new hard link, each costing
    /// clients one fresh download. The device is left out: some file systems
    /// (overlayfs, btrfs subvolumes, NFS) draw it at mount, and every tag
    /// would change with a restart.
    pub(super) fn etag(&self) -> String {
        let digest = [
            self.ino,
            self.mtime as u64,
            self.mtime_nsec as u64,
            self.ctime as u64,
            self.ctime_nsec as u64,
        ]
        .iter()
        .flat_map(|field| field.to_le_bytes())
        .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
        });
        format!("\"{:x}-{digest:016x}\"", self.len)
    }

    /// The `n`th of as many different identities as a test needs.
    #[cfg(test)]
    pub(super) fn numbered(n: u64) -> Identity {
        Identity {
            dev: 0,
            ino: n,
            len: 0,
            mtime: 0,
            mtime_nsec: 0,
            ctime: 0,
            ctime_nsec: 0,
        }
    }
}

/// A file as it was read, for [`FileCache::keep`].
pub(super) struct Candidate<'a> {
    /// The normalised request path, the lookup key.
    pub(super) key: &'a str,
    /// Where it is below the root, reached without any symlink.
    pub(super) relative: &'a Path,
    /// The opened file's own metadata, from before it was read.
    pub(super) identity: Identity,
    /// Its folder's modification time, from before its siblings were looked for.
    pub(super) folder_modified: Option<SystemTime>,
}

/// The hash of the cache's keys: FxHash's multiply-rotate, a few instructions
/// per 8 bytes where std's SipHash costs a couple of hundred per lookup. Its
/// resistance to chosen collisions is not needed: only the server inserts
/// keys, one per small file it read under the root, so a client can neither
/// add keys nor grow a bucket; a lookup of any path probes among those alone.
#[derive(Clone, Copy, Default)]
struct KeyHasher;

impl std::hash::BuildHasher for KeyHasher {
    type Hasher = FxHasher;

    fn build_hasher(&self) -> FxHasher {
        FxHasher(0)
    }
}

struct FxHasher(u64);

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl std::hash::Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for word in &mut words {
            self.add(u64::from_le_bytes(word.try_into().unwrap_or_default()));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(last));
        }
    }

    fn write_u8(&mut self, byte: u8) {
        self.add(u64::from(byte));
    }

    fn finish(&self) -> u64 {
        // The product's high bits are its best mixed; hashbrown picks a
        // bucket with the low ones.
        self.0.rotate_left(26)
    }
}

struct State {
    /// `None` when inotify is unavailable: then nothing is kept.
    watcher: Option<Watcher>,
    entries: HashMap<Box<str>, (Representation, u64), KeyHasher>,
    /// The sum of every entry's cost (its key, fields and body).
    bytes: u64,
    /// How many entries are open files, and how many may be.
    files: usize,
    max_files: usize,
    /// What each watch descriptor's events mean, by its number.
    filters: HashMap<i32, Filter>,
    /// The folder the root's path led to when the way there was watched
    /// (device, inode); `None` until it is, with this watcher.
    root: Option<(u64, u64)>,
    /// How many times the cache was emptied, each time with a new watcher: by
    /// it `keep` tells whether its watches are still there (and tests, by `Debug`).
    emptied: u64,
    /// A folder on the way to the root may not be watched (no read
    /// permission): then nothing is kept, for as long as this runs, and no
    /// request pays for trying again.
    root_unwatchable: bool,
}

/// An inotify instance, and an epoll set holding just it. Every lookup asks
/// whether anything is queued; an `epoll_wait` that returns at once asks it
/// for less than a non-blocking `read` of the inotify descriptor (which takes
/// its wait-queue lock twice), and gets the same answer: the kernel readies
/// the set inside the call that queues the event.
struct Watcher {
    inotify: Inotify,
    queued: OwnedFd,
}

#[cfg(test)]
thread_local! {
    /// How many watchers were closed on this thread.
    static CLOSED_HERE: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

#[cfg(test)]
impl Drop for Watcher {
    fn drop(&mut self) {
        CLOSED_HERE.with(|n| n.set(n.get() + 1));
    }
}

impl Watcher {
    fn new() -> io::Result<Watcher> {
        let inotify = Inotify::init()?;
        let queued = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        epoll::add(&queued, &inotify, EventData::new_u64(0), EventFlags::IN)?;
        Ok(Watcher { inotify, queued })
    }

    /// Has anything that matters happened (or can we not tell)? Nearly
    /// always one `epoll_wait` that finds nothing queued; only when something
    /// is are the events read, and those that `filters` says do not matter
    /// (a sibling made in a folder on the way to the root) let go.
    fn changed(&mut self, filters: &HashMap<i32, Filter>) -> bool {
        let mut ready = [MaybeUninit::<epoll::Event>::uninit()];
        let now = Timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        match epoll::wait(&self.queued, &mut ready, Some(&now)) {
            Ok(([], _)) => return false,
            Ok(_) => {}
            Err(_) => return true,
        }
        let mut buffer = [0u8; 4096];
        loop {
            match self.inotify.read_events(&mut buffer) {
                Ok(events) => {
                    for event in events {
                        let filter = filters.get(&event.wd.get_watch_descriptor_id());
                        // An overflow, a watch the kernel dropped (its inode is
                        // gone), or one not known: assume the worst.
                        let unknown = event.mask.contains(EventMask::Q_OVERFLOW)
                            || event.mask.contains(EventMask::IGNORED);
                        if unknown || filter.is_none_or(|f| f.matters(event.name)) {
                            return true;
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(_) => return true,
            }
        }
    }
}

/// What a change or an eviction let go of, for [`FileCache::retire`] to
/// close once the lock is released, off the serving thread: an old watcher
/// (closing one waits on the kernel's cleanup of its watches) and files kept
/// open (closing the last descriptor of a file deleted or renamed over frees
/// its blocks there and then, for as long as the disk takes).
#[derive(Default)]
#[must_use]
struct Retired {
    watcher: Option<Watcher>,
    files: Vec<Representation>,
}

impl Retired {
    fn is_empty(&self) -> bool {
        self.watcher.is_none() && self.files.is_empty()
    }
}

impl State {
    /// Empties the cache and starts a new inotify instance. Closing the old
    /// one removes all its watches and anything queued on it at once.
    fn reset(&mut self) -> Retired {
        let files = self
            .entries
            .drain()
            .map(|(_, (representation, _))| representation)
            .filter(|representation| !representation.in_memory())
            .collect();
        self.bytes = 0;
        self.files = 0;
        self.filters.clear();
        self.root = None;
        self.emptied += 1;
        Retired {
            watcher: std::mem::replace(&mut self.watcher, Watcher::new().ok()),
            files,
        }
    }

    /// Drops everything if anything watched changed since the last look.
    fn forget_if_changed(&mut self) -> Retired {
        let filters = &self.filters;
        if self.watcher.as_mut().is_some_and(|w| w.changed(filters)) {
            self.reset()
        } else {
            Retired::default()
        }
    }

    /// Watches `path` for every change; with `follow` false, a symlink there
    /// is watched itself, never what it points at.
    fn watch(&mut self, path: &Path, follow: bool) -> io::Result<()> {
        let mask = if follow {
            CHANGES
        } else {
            CHANGES | WatchMask::DONT_FOLLOW
        };
        let wd = self.add_watch(path, mask)?;
        self.filters.insert(wd, Filter::All);
        Ok(())
    }

    /// Watches the folder `folder` for changes to what `name` in it is.
    fn watch_name(&mut self, folder: &Path, name: &OsStr) -> io::Result<()> {
        let wd = self.add_watch(folder, NAME_CHANGES | WatchMask::DONT_FOLLOW)?;
        match self
            .filters
            .entry(wd)
            .or_insert_with(|| Filter::Names(Vec::new()))
        {
            Filter::All => {}
            Filter::Names(names) => {
                if !names.iter().any(|n| n == name) {
                    names.push(name.to_os_string());
                }
            }
        }
        Ok(())
    }

    /// Adds `mask` to what is watched at `path` (an inode watched twice keeps
    /// one descriptor, with both masks).
    fn add_watch(&mut self, path: &Path, mask: WatchMask) -> io::Result<i32> {
        let watcher = self.watcher.as_mut().ok_or(io::ErrorKind::Unsupported)?;
        let wd = watcher
            .inotify
            .watches()
            .add(path, mask | WatchMask::MASK_ADD)?;
        Ok(wd.get_watch_descriptor_id())
    }

    /// Whether the root's path leads, now and with every change to that seen
    /// from here on, to the folder `beneath` holds: the way is watched once
    /// per watcher, the folder compared every time.
    fn root_is(&mut self, root: &Root, beneath: &Beneath) -> io::Result<bool> {
        let (dev, ino) = match self.root {
            Some(held) => held,
            None => {
                let folder = root.resolve_watched(|folder, name| self.watch_name(folder, name))?;
                let held = (folder.dev(), folder.ino());
                self.root = Some(held);
                held
            }
        };
        Ok(beneath.is_folder(dev, ino))
    }

    /// Removes the entry under `key`; a file kept open goes to `retired`.
    fn remove(&mut self, key: &str, retired: &mut Retired) {
        if let Some((representation, cost)) = self.entries.remove(key) {
            self.bytes -= cost;
            if !representation.in_memory() {
                self.files -= 1;
                retired.files.push(representation);
            }
        }
    }

    /// Whether the entry under `key` is a file kept open.
    fn is_open_file(&self, key: &str) -> bool {
        self.entries
            .get(key)
            .is_some_and(|(rep, _)| !rep.in_memory())
    }

    /// Drops entries (whichever the map yields first) until one of `cost`
    /// fits: an attacker cycling through many files evicts some, never all.
    fn make_room(&mut self, cost: u64, retired: &mut Retired) {
        while !self.entries.is_empty()
            && (self.entries.len() >= MAX_ENTRIES || self.bytes + cost > MAX_BYTES)
        {
            let Some(victim) = self.entries.keys().next().cloned() else {
                break;
            };
            self.remove(&victim, retired);
        }
    }
}

/// A look for changes to what the cache holds (`DocRoot::see_changes`);
/// only the cache makes one.
#[derive(Debug)]
pub struct ChangesSeen(());

/// See the module documentation.
pub(super) struct FileCache {
    // One lock for the change check, lookup and insert, so that no lookup can
    // run between another thread's seeing a change and its emptying of the map.
    state: Mutex<State>,
    /// Closes retired watchers and files; started with the first one.
    closer: Mutex<Option<Closer>>,
    /// How many watchers the closer has closed; only the closer thread holds
    /// another reference, so the count of references tells whether it still runs.
    #[cfg(test)]
    closed: std::sync::Arc<std::sync::atomic::AtomicU64>,
    /// How many files kept open the closer has closed.
    #[cfg(test)]
    closed_files: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

/// A thread that closes what a change or an eviction retired. Closing an
/// inotify instance waits for the kernel to be done with its watches, for
/// several milliseconds, and closing a deleted file's last descriptor frees
/// its blocks, for up to seconds: the thread that saw the change is serving
/// requests, and must not wait for that.
struct Closer {
    to_close: Sender<Retired>,
    /// How many watchers are queued for it.
    watchers: Arc<AtomicUsize>,
    thread: JoinHandle<()>,
}

/// Retired watchers waiting for the closer. Each holds an inotify instance,
/// of which a user has few (128 by default): past this many, a change that
/// outruns the closer closes its old watcher itself (in milliseconds). Files
/// always go to the closer, however many wait: a deleted one can take seconds.
const CLOSER_QUEUE: usize = 4;

impl Closer {
    fn start(
        #[cfg(test)] closed: std::sync::Arc<std::sync::atomic::AtomicU64>,
        #[cfg(test)] closed_files: std::sync::Arc<std::sync::atomic::AtomicU64>,
    ) -> io::Result<Closer> {
        let (to_close, retired) = mpsc::channel::<Retired>();
        let watchers = Arc::new(AtomicUsize::new(0));
        let queued = Arc::clone(&watchers);
        let thread = std::thread::Builder::new()
            .name("cache-closer".into())
            .spawn(move || {
                // Ends once the cache is dropped and nothing is left queued.
                for old in retired {
                    let watcher = old.watcher.is_some();
                    #[cfg(test)]
                    let files = old.files.len() as u64;
                    drop(old);
                    if watcher {
                        queued.fetch_sub(1, Ordering::SeqCst);
                    }
                    #[cfg(test)]
                    {
                        closed.fetch_add(u64::from(watcher), Ordering::SeqCst);
                        closed_files.fetch_add(files, Ordering::SeqCst);
                    }
                }
            })?;
        Ok(Closer {
            to_close,
            watchers,
            thread,
        })
    }
}

impl FileCache {
    pub(super) fn new() -> FileCache {
        FileCache {
            state: Mutex::new(State {
                watcher: Watcher::new().ok(),
                entries: HashMap::default(),
                bytes: 0,
                files: 0,
                max_files: max_open_files(),
                filters: HashMap::new(),
                root: None,
                emptied: 0,
                root_unwatchable: false,
            }),
            closer: Mutex::new(None),
            #[cfg(test)]
            closed: std::sync::Arc::default(),
            #[cfg(test)]
            closed_files: std::sync::Arc::default(),
        }
    }

    /// Closes what a change or an eviction let go of on the closer, not on
    /// this serving thread; a watcher's successor is in place already, so
    /// nothing goes unseen.
    fn retire(&self, mut old: Retired) {
        if old.is_empty() {
            return;
        }
        let mut closer = self.closer.lock().unwrap_or_else(PoisonError::into_inner);
        if closer.is_none() {
            match Closer::start(
                #[cfg(test)]
                self.closed.clone(),
                #[cfg(test)]
                self.closed_files.clone(),
            ) {
                Ok(started) => *closer = Some(started),
                Err(e) => tracing::debug!("cannot start the cache's watcher closer: {e}"),
            }
        }
        let mut here = None;
        let unsent = match closer.as_ref() {
            None => Some(old),
            Some(c) => {
                if old.watcher.is_some() {
                    if c.watchers.load(Ordering::SeqCst) >= CLOSER_QUEUE {
                        here = old.watcher.take();
                    } else {
                        c.watchers.fetch_add(1, Ordering::SeqCst);
                    }
                }
                c.to_close.send(old).err().map(|unsent| unsent.0)
            }
        };
        if unsent.is_some() {
            // Its thread dropped what receives (a drop that panicked): the
            // next retiring starts another, rather than every close happening
            // on serving threads from now on.
            tracing::debug!("the cache's closer has stopped; starting another");
            *closer = None;
        }
        drop(closer);
        drop(here);
        drop(unsent);
    }

    /// The representation kept under `key`, if nothing watched has changed:
    /// the cache looks, unless `seen` is a look made for this request already
    /// (after it was read).
    pub(super) fn get(&self, key: &str, seen: Option<&ChangesSeen>) -> Option<Representation> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let stale = match seen {
            Some(_) => Retired::default(),
            None => state.forget_if_changed(),
        };
        let hit = state.entries.get_mut(key).and_then(|(rep, _)| {
            rep.settle();
            rep.clone_cached()
        });
        drop(state);
        self.retire(stale);
        hit
    }

    /// The fields and bytes of a whole file kept in memory under `key`, if
    /// nothing watched has changed, for a writer that dates answers itself:
    /// the kept fields gain their validators and lose their `Date` once the
    /// file is old enough ([`Representation::settle`]). Else the look made, for [`FileCache::get`]
    /// to answer the same request without another.
    pub(super) fn get_whole(&self, key: &str) -> Result<(Arc<HeaderMap>, Bytes), ChangesSeen> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let stale = state.forget_if_changed();
        let hit = state.entries.get_mut(key).and_then(|(rep, _)| {
            rep.settle();
            rep.shared_whole()
        });
        drop(state);
        self.retire(stale);
        hit.ok_or(ChangesSeen(()))
    }

    /// Empties the cache if anything watched has changed, for a caller that
    /// then answers many requests with [`FileCache::get_seen`]: one look for
    /// them all instead of one each. `None`, without waiting, while another
    /// thread holds the cache (adding a file's watches takes a while).
    pub(super) fn see_changes(&self) -> Option<ChangesSeen> {
        let mut state = self.try_lock()?;
        let stale = state.forget_if_changed();
        drop(state);
        self.retire(stale);
        Some(ChangesSeen(()))
    }

    /// The representation kept under `key`, for a request read before
    /// `seen` was made: a change finished before the request arrived was
    /// queued before that look, so it has emptied the cache already. `None`
    /// also while another thread holds the cache: the caller must not wait.
    pub(super) fn get_seen(&self, key: &str, seen: &ChangesSeen) -> Option<Representation> {
        let _ = seen;
        let mut state = self.try_lock()?;
        let (rep, _) = state.entries.get_mut(key)?;
        if !rep.in_memory() {
            return None;
        }
        rep.settle();
        rep.clone_cached()
    }

    fn try_lock(&self) -> Option<MutexGuard<'_, State>> {
        match self.state.try_lock() {
            Ok(state) => Some(state),
            Err(TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }

    /// Keeps `representation` (already read into memory) under the candidate's
    /// key, if it is still exactly what was read, where it was read, and the
    /// root's path still leads there.
    pub(super) fn keep(
        &self,
        root: &Root,
        beneath: &Beneath,
        candidate: &Candidate<'_>,
        representation: &Representation,
    ) {
        let Some(watched) = self.watch_for(root, beneath, candidate, representation) else {
            return;
        };
        // Re-reading up to a whole kept file happens without the lock, so no
        // lookup waits for it; `insert` tells whether it still counts.
        if still_on_disk(beneath, candidate, &watched.copy) {
            self.insert(candidate.key, watched);
        }
    }

    /// Watches the candidate's file, each folder from the root down to it and
    /// the way to the root; `None` if it is not to be kept.
    fn watch_for(
        &self,
        root: &Root,
        beneath: &Beneath,
        candidate: &Candidate<'_>,
        representation: &Representation,
    ) -> Option<Watched> {
        if representation.file().is_some_and(on_shared_file_system) {
            return None;
        }
        let mut copy = representation.clone_cached()?;
        if copy.in_memory() {
            copy.render();
        }
        let cost = candidate.key.len() as u64 + ENTRY_OVERHEAD + copy.footprint();
        if cost > MAX_BYTES {
            return None;
        }
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.root_unwatchable {
            return None;
        }
        let stale = state.forget_if_changed();
        // The root (the very folder lookups start from, not whatever its path
        // names now), each folder below it on the way, and the file itself,
        // each watched before the next is named, so a rename anywhere on the
        // way after its folder's watch is queued.
        let folder = beneath.watchable_root();
        let mut watched = state.watch(&folder, true);
        let mut path = folder;
        for part in candidate.relative.iter() {
            path.push(part);
            watched = watched.and_then(|()| state.watch(&path, false));
        }
        // And the way from `/` to the root, which must still lead here.
        let watched = watched.and_then(|()| state.root_is(root, beneath));
        let generation = state.emptied;
        let mut old = Retired::default();
        let kept = match watched {
            Ok(true) => Some(Watched {
                copy,
                cost,
                generation,
            }),
            // Switched since this request looked it up: not kept.
            Ok(false) => None,
            Err(e) => {
                // Most likely the per-user watch limit: start again, keep
                // nothing now. A folder that may not be watched stays so.
                tracing::debug!(
                    "cannot watch {} or the way to the root: {e}",
                    path.display()
                );
                old = state.reset();
                state.root_unwatchable = e.kind() == io::ErrorKind::PermissionDenied;
                None
            }
        };
        drop(state);
        self.retire(stale);
        self.retire(old);
        kept
    }

    /// Keeps what [`still_on_disk`] found still there, unless the watches it
    /// relied on are gone.
    ///
    /// Why a check made before the lock is taken again still holds: the
    /// watches were in place before it began, so any change after (or during)
    /// it queues an event on that watcher. Such an event is either still
    /// queued now, and then seen here or by the next lookup, which empties
    /// the cache with this entry in it; or another thread has read it
    /// already, and reading one that matters always empties the cache. Every
    /// emptying replaces the watcher and counts in `emptied`, so an unchanged
    /// count means the watcher is the one holding this file's watches with
    /// nothing about them read and let go; a changed one means they are gone
    /// and a later change would go unseen, so nothing is kept.
    fn insert(&self, key: &str, watched: Watched) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let mut stale = state.forget_if_changed();
        let file = !watched.copy.in_memory();
        if state.emptied == watched.generation
            && (!file || state.files < state.max_files || state.is_open_file(key))
        {
            state.remove(key, &mut stale);
            state.make_room(watched.cost, &mut stale);
            state.bytes += watched.cost;
            state.files += usize::from(file);
            state
                .entries
                .insert(key.into(), (watched.copy, watched.cost));
        }
        drop(state);
        self.retire(stale);
    }
}

/// Whether `file` is on a network or FUSE file system, whose changes made
/// elsewhere inotify never sees: such a file is not kept open, where its
/// descriptor could go on naming a file replaced on the server (and then
/// fail every read with `ESTALE`). A small file there is read whole and kept
/// like any other (see the module documentation).
fn on_shared_file_system(file: &std::fs::File) -> bool {
    const SHARED: [u32; 16] = [
        0x6969,      // NFS
        0x517b,      // SMB
        0xff53_4d42, // CIFS
        0xfe53_4d42, // SMB2
        0x6573_5546, // FUSE
        0x00c3_6400, // Ceph
        0x0102_1997, // 9P
        0x5346_414f, // OpenAFS
        0x6b41_4653, // kAFS
        0x7375_7245, // Coda
        0x0116_1970, // GFS2
        0x7461_636f, // OCFS2
        0x0bd0_0bd0, // Lustre
        0x4750_4653, // GPFS
        0x1983_0326, // BeeGFS
        0x2003_0528, // OrangeFS
    ];
    // Unknown counts as shared: nothing is lost but a cheaper hit.
    rustix::fs::fstatfs(file).map_or(true, |fs| SHARED.contains(&(fs.f_type as u32)))
}

/// A copy to keep, its cost, and the watcher its watches were added to.
struct Watched {
    copy: Representation,
    cost: u64,
    /// `State::emptied` once the watches were in place.
    generation: u64,
}

/// Whether the candidate's file is, with its watches in place, still the one
/// read, where it was read, holding `copy`'s bytes.
fn still_on_disk(beneath: &Beneath, candidate: &Candidate<'_>, copy: &Representation) -> bool {
    // Anything changed between the read and the watches shows here; any
    // change from now on is queued for the cache to see.
    let still = beneath.look_direct(candidate.relative);
    let folder = candidate.relative.parent().unwrap_or(Path::new(""));
    let folder_now = beneath
        .look_direct(folder)
        .ok()
        .and_then(|m| m.modified().ok());
    let still = still.map(|m| Identity::of(&m)).ok();
    // A write under way while the file was read, and over before the
    // watches were in place, leaves `stat` as it was when the read began:
    // only the bytes now on disk can tell. A file kept open holds no bytes
    // of its own: each answer reads what the file holds then, and its fields
    // were made from this same `stat` (and the clock when it was kept, as
    // for a file kept in memory: `Last-Modified` is never later than it).
    still == Some(candidate.identity)
        && folder_now == candidate.folder_modified
        && (!copy.in_memory()
            || copy
                .read_all()
                .is_some_and(|kept| still_holds(beneath, candidate, &kept)))
}

/// Whether the candidate's file, still the very file that was read, holds
/// exactly `kept`.
fn still_holds(beneath: &Beneath, candidate: &Candidate<'_>, kept: &[u8]) -> bool {
    let Ok(found) = beneath.open_file(candidate.relative) else {
        return false;
    };
    if Identity::of(&found.meta) != candidate.identity {
        return false;
    }
    let mut piece = vec![0; kept.len().clamp(1, 64 * 1024)];
    let mut at = 0;
    for want in kept.chunks(piece.len()) {
        let piece = &mut piece[..want.len()];
        if found.file.read_exact_at(piece, at).is_err() || piece != want {
            return false;
        }
        at += want.len() as u64;
    }
    true
}

impl Drop for FileCache {
    /// Lets the closer finish what is queued, and joins it.
    fn drop(&mut self) {
        let closer = self
            .closer
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(Closer {
            to_close, thread, ..
        }) = closer.take()
        {
            drop(to_close);
            if thread.join().is_err() {
                tracing::debug!("the cache's watcher closer panicked");
            }
        }
    }
}

impl Default for FileCache {
    fn default() -> FileCache {
        FileCache::new()
    }
}

impl std::fmt::Debug for FileCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        write!(
            f,
            "FileCache({} entries, {} bytes, {} files open, inotify {}, emptied {} times)",
            state.entries.len(),
            state.bytes,
            state.files,
            if state.watcher.is_some() { "on" } else { "off" },
            state.emptied
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::beneath::{Links, Root};
    use super::super::representation::Representation;
    use super::*;
    use http::HeaderValue;
    use std::fs::File;

    #[test]
    fn the_cache_keeps_only_what_is_still_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let path = root.join("index.html");
        std::fs::write(&path, "home").unwrap();
        let cache = FileCache::default();
        let served = Root::open(&root, Links::Beneath).unwrap();
        let beneath = served.now();
        let keep = |identity: Option<Identity>| {
            let file = File::open(&path).unwrap();
            let meta = file.metadata().unwrap();
            let rep = Representation::of_file(Path::new("index.html"), file, &meta)
                .into_memory(SMALL_FILE)
                .finish(&HeaderValue::from_static("no-cache"));
            let folder_modified = std::fs::metadata(&root).unwrap().modified().ok();
            let candidate = Candidate {
                key: "/index.html",
                relative: Path::new("index.html"),
                identity: identity.unwrap_or(Identity::of(&meta)),
                folder_modified,
            };
            cache.keep(&served, &beneath, &candidate, &rep);
            format!("{cache:?}")
        };
        // Read, then replaced before the watches were in place.
        let before = Identity::of(&std::fs::metadata(&path).unwrap());
        std::fs::write(root.join("new"), "home").unwrap();
        std::fs::rename(root.join("new"), &path).unwrap();
        assert!(keep(Some(before)).contains("(0 entries"));
        assert!(keep(None).contains("(1 entries"));
        // A caller that must not wait gets the entry only while no one holds the cache.
        let seen = cache.see_changes().unwrap();
        assert!(cache.get_seen("/index.html", &seen).is_some());
        let held = cache.state.lock().unwrap();
        assert!(cache.see_changes().is_none());
        assert!(cache.get_seen("/index.html", &seen).is_none());
        drop(held);
        // A change made before a look empties the cache by that look.
        std::fs::write(&path, "away").unwrap();
        let seen = cache.see_changes().unwrap();
        assert!(cache.get_seen("/index.html", &seen).is_none());
    }

    #[test]
    fn a_file_too_big_for_memory_is_kept_open_and_only_so_many() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let data = |mark: u8| vec![mark; 200_000];
        // All made before any is kept: a name made in a watched folder
        // empties the cache.
        for name in ["a", "b", "c"] {
            std::fs::write(root.join(name), data(name.as_bytes()[0])).unwrap();
        }
        let cache = FileCache::default();
        cache.state.lock().unwrap().max_files = 2;
        let keep = |name: &str| keep_file(&cache, &root, &format!("/{name}"), name);
        keep("a");
        let first = cache.get("/a", None).expect("kept open");
        let second = cache.get("/a", None).expect("kept open");
        assert!(!first.in_memory());
        // Each hit its own descriptor: one answer's end leaves another's intact.
        drop(first);
        assert_eq!(second.read_all().unwrap(), data(b'a'));
        // Never for a caller that must not wait on the disk.
        let seen = cache.see_changes().unwrap();
        assert!(cache.get_seen("/a", &seen).is_none());

        keep("b");
        keep("c");
        assert!(cache.get("/b", None).is_some());
        assert!(cache.get("/c", None).is_none(), "past the bound: {cache:?}");
        assert!(format!("{cache:?}").contains("2 files open"), "{cache:?}");
        // Kept again at the bound: the entry replaced, counted once.
        keep("b");
        assert!(cache.get("/b", None).is_some());
        assert!(format!("{cache:?}").contains("2 files open"), "{cache:?}");

        // A change to one empties the cache, and every descriptor with it,
        // closed by the closer: the last descriptor of a deleted file frees
        // its blocks as it closes, which no serving thread may wait for.
        std::fs::write(root.join("a"), data(b'z')).unwrap();
        assert!(cache.get("/a", None).is_none());
        assert!(format!("{cache:?}").contains("(0 entries, 0 bytes, 0 files open"));
        assert_eq!(second.read_all().unwrap(), data(b'z'), "read as it is now");
        let closed = counted(&cache.closed_files, 3);
        assert_eq!(closed, 3, "the b replaced, then a and b");
    }

    #[test]
    fn an_open_file_evicted_to_make_room_is_closed_and_an_answer_holding_it_still_reads() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let big = vec![b'b'; 200_000];
        // Both made before any is kept: a name made in a watched folder
        // empties the cache.
        std::fs::write(root.join("big"), &big).unwrap();
        std::fs::write(root.join("small"), vec![b's'; SMALL_FILE as usize]).unwrap();
        let cache = FileCache::default();
        keep_file(&cache, &root, "/big", "big");
        let answer = cache.get("/big", None).expect("kept open");
        assert!(!answer.in_memory());
        assert!(format!("{cache:?}").contains(", 1 files open"), "{cache:?}");
        // The small file under ever new keys, until making room for one
        // evicts the open file (the map yields its victims in its own order).
        let mut kept = 0;
        while !format!("{cache:?}").contains(", 0 files open") && kept < 100_000 {
            keep_file(&cache, &root, &format!("/small-{kept}"), "small");
            kept += 1;
        }
        assert!(format!("{cache:?}").contains(", 0 files open"), "{cache:?}");
        {
            let state = cache.state.lock().unwrap();
            assert!(state.bytes <= MAX_BYTES && state.entries.len() <= MAX_ENTRIES);
            assert!(kept as usize > state.entries.len(), "evicted to make room");
        }
        assert!(cache.get("/big", None).is_none());
        assert_eq!(counted(&cache.closed_files, 1), 1, "closed by the closer");
        assert_eq!(
            answer.read_all().unwrap(),
            big,
            "the answer's own descriptor reads on"
        );
    }

    #[test]
    fn a_file_renamed_over_before_its_watches_is_not_kept_open() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::write(root.join("big.bin"), vec![b'a'; 200_000]).unwrap();
        std::fs::write(root.join("new.tmp"), vec![b'b'; 200_000]).unwrap();
        let served = Root::open(&root, Links::Beneath).unwrap();
        let beneath = served.now();
        let file = File::open(root.join("big.bin")).unwrap();
        let meta = file.metadata().unwrap();
        let folder_modified = std::fs::metadata(&root).unwrap().modified().ok();
        let rep = Representation::of_file(Path::new("big.bin"), file, &meta)
            .into_memory(SMALL_FILE)
            .finish(&HeaderValue::from_static("no-cache"));
        // Another file of the same length in its place, with the folder's
        // mtime put back: only the file's own identity tells.
        std::fs::rename(root.join("new.tmp"), root.join("big.bin")).unwrap();
        std::fs::File::open(&root)
            .unwrap()
            .set_modified(folder_modified.unwrap())
            .unwrap();
        let candidate = Candidate {
            key: "/big.bin",
            relative: Path::new("big.bin"),
            identity: Identity::of(&meta),
            folder_modified,
        };
        let cache = FileCache::default();
        cache.keep(&served, &beneath, &candidate, &rep);
        assert!(cache.get("/big.bin", None).is_none(), "{cache:?}");
        // Looked up again, the file now there is kept.
        keep_file(&cache, &root, "/big.bin", "big.bin");
        let hit = cache.get("/big.bin", None).expect("kept");
        assert_eq!(hit.read_all().unwrap(), vec![b'b'; 200_000]);
    }

    #[test]
    fn the_cache_keeps_only_the_bytes_still_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let path = root.join("big.bin");
        std::fs::write(&path, vec![b'a'; 200_000]).unwrap();
        let served = Root::open(&root, Links::Beneath).unwrap();
        let beneath = served.now();
        let folder_modified = std::fs::metadata(&root).unwrap().modified().ok();
        let file = File::open(&path).unwrap();
        let meta = file.metadata().unwrap();
        let read = Representation::of_file(Path::new("big.bin"), file, &meta)
            .into_memory(1 << 20)
            .finish(&HeaderValue::from_static("no-cache"));
        // Rewritten in place after the read; the identity is the one `stat`
        // shows now, as when a write began before the read and ended after it.
        let mut changed = vec![b'a'; 200_000];
        changed[150_000] = b'b';
        std::fs::write(&path, &changed).unwrap();
        let candidate = |identity| Candidate {
            key: "/big.bin",
            relative: Path::new("big.bin"),
            identity,
            folder_modified,
        };
        let now = Identity::of(&std::fs::metadata(&path).unwrap());
        let cache = FileCache::default();
        cache.keep(&served, &beneath, &candidate(now), &read);
        assert!(format!("{cache:?}").contains("(0 entries"), "{cache:?}");
        assert!(cache.get("/big.bin", None).is_none());

        // Read again, unchanged since: kept, and big as it is.
        let file = File::open(&path).unwrap();
        let meta = file.metadata().unwrap();
        let fresh = Representation::of_file(Path::new("big.bin"), file, &meta)
            .into_memory(1 << 20)
            .finish(&HeaderValue::from_static("no-cache"));
        cache.keep(&served, &beneath, &candidate(Identity::of(&meta)), &fresh);
        let hit = cache.get("/big.bin", None).expect("kept");
        assert_eq!(hit.read_all().unwrap(), changed);
    }

    /// Keeps the file `name` below `root` under `key`, as a request would.
    fn keep_file(cache: &FileCache, root: &Path, key: &str, name: &str) {
        let path = root.join(name);
        let served = Root::open(root, Links::Beneath).unwrap();
        let file = File::open(&path).unwrap();
        let meta = file.metadata().unwrap();
        let rep = Representation::of_file(Path::new(name), file, &meta)
            .into_memory(SMALL_FILE)
            .finish(&HeaderValue::from_static("no-cache"));
        let candidate = Candidate {
            key,
            relative: Path::new(name),
            identity: Identity::of(&meta),
            folder_modified: std::fs::metadata(root).unwrap().modified().ok(),
        };
        cache.keep(&served, &served.now(), &candidate, &rep);
    }

    /// Waits, a bounded while, until the closer has closed `count` watchers.
    fn closed_by_the_closer(cache: &FileCache, count: u64) -> u64 {
        counted(&cache.closed, count)
    }

    /// Waits, a bounded while, until one of the closer's counts reaches `count`.
    fn counted(counter: &std::sync::atomic::AtomicU64, count: u64) -> u64 {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let closed = counter.load(std::sync::atomic::Ordering::SeqCst);
            if closed >= count || std::time::Instant::now() > deadline {
                return closed;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    }

    /// Drops `cache`, checks that its closer thread is gone with it, and
    /// says how many watchers that thread closed.
    fn drop_and_join(cache: FileCache) -> u64 {
        let closed = cache.closed.clone();
        drop(cache);
        let others = std::sync::Arc::strong_count(&closed) - 1;
        assert_eq!(others, 0, "the closer still runs");
        closed.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[test]
    fn the_thread_that_sees_a_change_leaves_the_old_watcher_to_the_closer() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::write(root.join("index.html"), "home").unwrap();
        let cache = FileCache::default();
        keep_file(&cache, &root, "/index.html", "index.html");
        assert!(cache.get("/index.html", None).is_some(), "{cache:?}");
        assert!(
            cache.closer.lock().unwrap().is_none(),
            "started before a change"
        );

        std::fs::write(root.join("index.html"), "away").unwrap();
        let before = CLOSED_HERE.with(|n| n.get());
        assert!(cache.get("/index.html", None).is_none(), "{cache:?}");
        assert_eq!(
            CLOSED_HERE.with(|n| n.get()),
            before,
            "closed by the serving thread"
        );
        assert_eq!(closed_by_the_closer(&cache, 1), 1);
        // The new watcher is the one in use: a change is still seen.
        keep_file(&cache, &root, "/index.html", "index.html");
        assert!(cache.get("/index.html", None).is_some(), "{cache:?}");
        std::fs::write(root.join("index.html"), "again").unwrap();
        assert!(cache.see_changes().is_some());
        assert!(cache.get("/index.html", None).is_none(), "{cache:?}");
        assert_eq!(closed_by_the_closer(&cache, 2), 2);
        assert_eq!(drop_and_join(cache), 2);
    }

    #[test]
    fn files_go_to_the_closer_even_when_watchers_fill_its_queue() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::write(root.join("big.bin"), vec![b'a'; 200_000]).unwrap();
        let cache = FileCache::default();
        keep_file(&cache, &root, "/big.bin", "big.bin");
        assert!(
            cache
                .get("/big.bin", None)
                .is_some_and(|hit| !hit.in_memory())
        );
        // The closer started, and as busy as it may be with watchers.
        cache.retire(Retired {
            watcher: Watcher::new().ok(),
            files: Vec::new(),
        });
        assert_eq!(closed_by_the_closer(&cache, 1), 1);
        let closer = cache.closer.lock().unwrap();
        let busy = &closer.as_ref().unwrap().watchers;
        busy.store(CLOSER_QUEUE, std::sync::atomic::Ordering::SeqCst);
        drop(closer);

        std::fs::write(root.join("big.bin"), "away").unwrap();
        let before = CLOSED_HERE.with(|n| n.get());
        assert!(cache.get("/big.bin", None).is_none(), "{cache:?}");
        assert_eq!(
            CLOSED_HERE.with(|n| n.get()),
            before + 1,
            "the watcher here"
        );
        let closed = counted(&cache.closed_files, 1);
        assert_eq!(closed, 1, "the file by the closer");
    }

    #[test]
    fn a_closer_whose_thread_has_ended_is_started_again() {
        let cache = FileCache::default();
        let retire_one = || {
            cache.retire(Retired {
                watcher: Some(Watcher::new().unwrap()),
                files: Vec::new(),
            })
        };
        retire_one();
        assert_eq!(closed_by_the_closer(&cache, 1), 1);
        // As if its thread had ended: nothing receives what is sent to it.
        let (gone, receiver) = mpsc::channel();
        drop(receiver);
        let mut closer = cache.closer.lock().unwrap();
        closer.as_mut().unwrap().to_close = gone;
        drop(closer);
        let before = CLOSED_HERE.with(|n| n.get());
        retire_one();
        assert_eq!(CLOSED_HERE.with(|n| n.get()), before + 1, "closed here");
        retire_one();
        assert_eq!(CLOSED_HERE.with(|n| n.get()), before + 1);
        assert_eq!(closed_by_the_closer(&cache, 2), 2, "by a new closer");
    }

    #[test]
    fn every_retired_watcher_is_closed_by_the_closer_or_where_it_was_retired() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let cache = FileCache::default();
        let rounds = 3 * CLOSER_QUEUE as u64;
        let before = CLOSED_HERE.with(|n| n.get());
        for round in 0..rounds {
            std::fs::write(root.join("page.html"), round.to_string()).unwrap();
            keep_file(&cache, &root, "/page.html", "page.html");
            let hit = cache.get("/page.html", None).expect("kept");
            assert_eq!(hit.read_all().unwrap(), round.to_string().as_bytes());
            std::fs::write(root.join("page.html"), "changed").unwrap();
            assert!(cache.get("/page.html", None).is_none(), "{cache:?}");
        }
        let emptied = cache.state.lock().unwrap().emptied;
        assert!(emptied >= rounds, "{cache:?}");
        // Every retired watcher closed, by the closer or (its queue full)
        // where it was retired, and the last by the drop.
        let by_closer = drop_and_join(cache);
        let here = CLOSED_HERE.with(|n| n.get()) - before;
        assert_eq!(
            here + by_closer,
            emptied + 1,
            "{here} here, {by_closer} by the closer"
        );
        assert!(by_closer > 0);
    }

    #[test]
    fn a_change_between_the_compare_and_the_insert_is_never_kept_unseen() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let path = root.join("page.html");
        let served = Root::open(&root, Links::Beneath).unwrap();
        let beneath = served.now();
        let cache = FileCache::default();
        // Writes `text`, keeps it as `keep` does, with `between` run after the
        // bytes were compared and before the insert; then what a lookup gets.
        let round = |text: &str, between: &dyn Fn()| {
            std::fs::write(&path, text).unwrap();
            let folder_modified = std::fs::metadata(&root).unwrap().modified().ok();
            let file = File::open(&path).unwrap();
            let meta = file.metadata().unwrap();
            let rep = Representation::of_file(Path::new("page.html"), file, &meta)
                .into_memory(SMALL_FILE)
                .finish(&HeaderValue::from_static("no-cache"));
            let candidate = Candidate {
                key: "/page.html",
                relative: Path::new("page.html"),
                identity: Identity::of(&meta),
                folder_modified,
            };
            let watched = cache
                .watch_for(&served, &beneath, &candidate, &rep)
                .expect("watched");
            assert!(still_on_disk(&beneath, &candidate, &watched.copy));
            between();
            cache.insert(candidate.key, watched);
            cache
                .get("/page.html", None)
                .map(|hit| hit.read_all().unwrap())
        };
        assert_eq!(round("one", &|| {}).as_deref(), Some(&b"one"[..]));
        // Rewritten after the compare: the insert itself sees the event.
        assert_eq!(
            round("two", &|| std::fs::write(&path, "TWO").unwrap()),
            None
        );
        // Rewritten, and another lookup saw it first and emptied the cache,
        // this file's watches with it: kept now, no later change would show.
        let seen_elsewhere = || {
            std::fs::write(&path, "THREE").unwrap();
            assert!(cache.get("/other", None).is_none());
        };
        assert_eq!(round("three", &seen_elsewhere), None);
        assert_eq!(std::fs::read(&path).unwrap(), b"THREE");
    }
}

//! Opening paths beneath the root's directory descriptor, so that nothing
//! renamed or swapped in while a request is served can lead it out of the
//! root: every lookup starts from that descriptor and every decision is taken
//! from the descriptor the lookup ends with, never from the path again.
//!
//! The kernel does it in one call where it can (`openat2` with
//! `RESOLVE_BENEATH`, Linux 5.6); elsewhere each component is opened with
//! `O_NOFOLLOW` from the folder before it, and every symlink met is read and
//! resolved here, with `..` taken from the folders already walked rather than
//! asked of the disk. Links that stay inside the root are followed either way.

use std::ffi::OsStr;
use std::fs::{File, Metadata};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use rustix::fs::{Mode, OFlags, ResolveFlags};

/// Links followed in one lookup before giving up, as the kernel's own limit.
const MAX_LINKS: usize = 40;

/// Flags of every open that may be read from. `O_NONBLOCK` so that a FIFO
/// swapped in opens at once instead of waiting for a writer; `O_NOCTTY` so
/// that a terminal never becomes ours. (Where `/proc` is mounted, lookups
/// look first and open for reading only regular files and folders, so no
/// device's open runs at all.)
const READ: OFlags = OFlags::RDONLY
    .union(OFlags::NONBLOCK)
    .union(OFlags::NOCTTY)
    .union(OFlags::CLOEXEC);
/// Flags of a lookup that only looks (listing entries, folders to compare).
const LOOK: OFlags = OFlags::PATH.union(OFlags::CLOEXEC);

/// What a lookup found: the open descriptor, what `fstat` says of it, and
/// whether the way there crossed no symlink at all.
#[derive(Debug)]
pub(super) struct Found {
    pub(super) file: File,
    pub(super) meta: Metadata,
    pub(super) direct: bool,
}

/// How a lookup may resolve symlinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Links {
    /// Followed while they stay beneath the root; leaving it fails.
    Beneath,
    /// Followed anywhere (`Options::follow_symlinks`).
    Anywhere,
}

/// The folder served, by path: the descriptor lookups start from is the one
/// the root's path names at the time of the request, resolved by the kernel
/// as any path is — so a root renamed or rebuilt in place (`rm -rf dist &&
/// build`) is followed, and so is a root given through a symlink whose target
/// is switched (`current -> release-2` renamed over `current -> release-1`).
#[derive(Debug)]
pub(super) struct Root {
    /// The path as given, made absolute but not resolved: its symlinks are
    /// the kernel's to follow, each time it is asked.
    path: PathBuf,
    links: Links,
    current: RwLock<Arc<Beneath>>,
}

impl Root {
    pub(super) fn open(path: &Path, links: Links) -> io::Result<Root> {
        let current = Beneath::open(path, links)?;
        Ok(Root {
            path: path.to_path_buf(),
            links,
            current: RwLock::new(Arc::new(current)),
        })
    }

    /// The root as its path names it now: one `stat` of the path, and a new
    /// descriptor only when it names another folder than the one held.
    pub(super) fn now(&self) -> Arc<Beneath> {
        let held = Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner));
        let Ok(seen) = std::fs::metadata(&self.path) else {
            // Gone for now: lookups in the held folder find what is left of it.
            return held;
        };
        if held.is(&seen) {
            return held;
        }
        let Ok(fresh) = Beneath::open(&self.path, self.links) else {
            return held;
        };
        let fresh = Arc::new(fresh);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::clone(&fresh);
        fresh
    }

    /// Resolves the root's path as the kernel does — from `/`, name by name,
    /// following symlinks — calling `watch(folder, name)` before each name is
    /// looked up in each folder, and returns the folder it leads to. A watch
    /// placed on a folder before a name is looked up in it sees any later
    /// change of what that name is; so once this returns, no change to where
    /// the path leads can go unseen (the cache's guarantee across a switch).
    pub(super) fn resolve_watched(
        &self,
        mut watch: impl FnMut(&Path, &OsStr) -> io::Result<()>,
    ) -> io::Result<Metadata> {
        let mut folder = PathBuf::from("/");
        let mut todo = components(&self.path)?;
        todo.reverse();
        let mut links = 0;
        while let Some(name) = todo.pop() {
            match name.as_slice() {
                b"." => continue,
                // Every folder on the way was reached by name from `/`, so its
                // parent is the one before it, whose entry for it is watched.
                b".." => {
                    folder.pop();
                    continue;
                }
                _ => {}
            }
            let name = OsStr::from_bytes(&name);
            watch(&folder, name)?;
            let path = folder.join(name);
            let meta = std::fs::symlink_metadata(&path)?;
            if !meta.is_symlink() {
                folder = path;
                continue;
            }
            links += 1;
            if links > MAX_LINKS {
                return Err(io::Error::from_raw_os_error(libc::ELOOP));
            }
            let target = std::fs::read_link(&path)?;
            if target.is_absolute() {
                folder = PathBuf::from("/");
            }
            let mut expanded = components(&target)?;
            expanded.reverse();
            todo.extend(expanded);
        }
        std::fs::metadata(&folder)
    }
}

/// One opened root folder and the way lookups are made beneath it.
#[derive(Debug)]
pub(super) struct Beneath {
    root: OwnedFd,
    dev: u64,
    ino: u64,
    /// Where this folder was when opened, symlinks resolved: absolute
    /// symlinks that point inside it are followed (as a path walk would), any
    /// other absolute link is a way out.
    canonical: PathBuf,
    links: Links,
    /// `/proc/self/fd/N` of the root's descriptor, when `/proc` shows it:
    /// the way to reopen a looked-up descriptor for reading, and to watch the
    /// very folder lookups start from.
    proc_root: Option<PathBuf>,
    /// Whether this kernel lets us use `openat2` (asked once, at open, so
    /// that no error of one request's lookup can change how all others run).
    openat2: bool,
}

/// A lookup that would leave the root: answered as absence.
fn escape() -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, "resolution leaves the root")
}

impl Beneath {
    /// Opens the folder `path` names now (the kernel following any symlink
    /// on the way) as the base of every lookup.
    pub(super) fn open(path: &Path, links: Links) -> io::Result<Beneath> {
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let root = rustix::fs::open(path, flags, Mode::empty())?;
        let held = rustix::fs::fstat(&root)?;
        let proc_root = Some(proc_path(&root)).filter(|path| {
            std::fs::metadata(path)
                .is_ok_and(|seen| seen.dev() == held.st_dev && seen.ino() == held.st_ino)
        });
        // The opened folder's own path where `/proc` tells it; else the path
        // resolved now, which can only differ if the root was switched in
        // between — and then an absolute link is read against the other
        // release's path, still beneath this descriptor, never out of it.
        let canonical = proc_root
            .as_ref()
            .and_then(|fd| std::fs::read_link(fd).ok())
            .filter(|p| p.is_absolute())
            .or_else(|| path.canonicalize().ok())
            .unwrap_or_else(|| path.to_path_buf());
        let probe = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
        let openat2 = rustix::fs::openat2(&root, ".", LOOK, Mode::empty(), probe).is_ok();
        Ok(Beneath {
            root,
            dev: held.st_dev,
            ino: held.st_ino,
            canonical,
            links,
            proc_root,
            openat2,
        })
    }

    /// Whether `meta` describes the folder this holds open.
    fn is(&self, meta: &Metadata) -> bool {
        self.is_folder(meta.dev(), meta.ino())
    }

    /// Whether the folder this holds open is the one with this device and inode.
    pub(super) fn is_folder(&self, dev: u64, ino: u64) -> bool {
        dev == self.dev && ino == self.ino
    }

    /// A path naming the root folder this holds open, whatever its own path
    /// names by now (the canonical path where `/proc` is not mounted).
    pub(super) fn watchable_root(&self) -> PathBuf {
        self.proc_root
            .clone()
            .unwrap_or_else(|| self.canonical.clone())
    }

    /// For tests: lookups walk component by component, as on an old kernel.
    #[cfg(test)]
    pub(super) fn without_openat2(mut self) -> Beneath {
        self.openat2 = false;
        self
    }

    /// Opens `relative` (plain names only; empty for the root) for reading.
    pub(super) fn open_file(&self, relative: &Path) -> io::Result<Found> {
        self.lookup(relative, READ)
    }

    /// Looks `relative` up without opening it for reading: for `fstat` only.
    pub(super) fn look(&self, relative: &Path) -> io::Result<Found> {
        self.lookup(relative, LOOK)
    }

    /// Opens `relative` only if no component on the way is a symlink: what the
    /// cache needs to be sure that the watched folders decide what it names.
    pub(super) fn look_direct(&self, relative: &Path) -> io::Result<Metadata> {
        let found = self.lookup(relative, LOOK)?;
        if !found.direct {
            return Err(io::Error::other("a symlink on the way"));
        }
        Ok(found.meta)
    }

    /// What `name` in the open folder `dir` (at `relative`) is: looked at in
    /// that very folder, and only if it is a symlink looked up again, beneath
    /// the root, to see where it may lead.
    pub(super) fn entry(&self, dir: &File, relative: &Path, name: &OsStr) -> io::Result<Metadata> {
        let fd = rustix::fs::openat(dir, name, LOOK | OFlags::NOFOLLOW, Mode::empty())?;
        let meta = File::from(fd).metadata()?;
        if meta.is_symlink() {
            return Ok(self.look(&relative.join(name))?.meta);
        }
        Ok(meta)
    }

    /// Whether the open folder `dir` holds anything named `index.html`.
    pub(super) fn has_index(dir: &File) -> bool {
        let flags = rustix::fs::AtFlags::SYMLINK_NOFOLLOW;
        !matches!(
            rustix::fs::statat(dir, "index.html", flags),
            Err(rustix::io::Errno::NOENT)
        )
    }

    fn lookup(&self, relative: &Path, flags: OFlags) -> io::Result<Found> {
        let relative = if relative.as_os_str().is_empty() {
            Path::new(".")
        } else {
            relative
        };
        // To read, look first (O_PATH opens nothing) and reopen for reading
        // only what the descriptor's type allows.
        let reopen = flags == READ && self.proc_root.is_some();
        let look = if reopen { LOOK } else { flags };
        let (fd, direct) = match self.without_links(relative, look)? {
            Some(fd) => (fd, true),
            None => (self.with_links(relative, look)?, false),
        };
        let mut found = found(fd, direct)?;
        if reopen && (found.meta.is_file() || found.meta.is_dir()) {
            // Through the descriptor's own magic link: the same inode, not a path.
            let path = proc_path(&found.file);
            found.file = File::from(rustix::fs::open(path, READ, Mode::empty())?);
        }
        Ok(found)
    }

    /// The lookup when no symlink is met: `Ok(None)` when one is.
    fn without_links(&self, relative: &Path, flags: OFlags) -> io::Result<Option<OwnedFd>> {
        if self.openat2 {
            let resolve =
                ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
            match self.openat2(relative, flags, resolve) {
                Ok(fd) => return Ok(Some(fd)),
                Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Ok(None),
                // Renames kept racing the kernel's walk: walk ourselves, this once.
                Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => {}
                Err(e) => return Err(e),
            }
        }
        let mut walk = Walk::new(self, flags);
        walk.refuse_links = true;
        match walk.run(relative) {
            Ok(fd) => Ok(Some(fd)),
            Err(WalkError::Link) => Ok(None),
            Err(WalkError::Io(e)) => Err(e),
        }
    }

    /// The lookup that follows symlinks, beneath the root or anywhere.
    fn with_links(&self, relative: &Path, flags: OFlags) -> io::Result<OwnedFd> {
        if self.links == Links::Anywhere {
            // Only plain names reach here, so only a symlink can lead out.
            return Ok(rustix::fs::openat(
                &self.root,
                relative,
                flags,
                Mode::empty(),
            )?);
        }
        if self.openat2 {
            let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
            match self.openat2(relative, flags, resolve) {
                Ok(fd) => return Ok(fd),
                // EXDEV: the kernel refuses every absolute link, even one into
                // the root, which the walk below can follow; it refuses the rest.
                Err(e) if matches!(e.raw_os_error(), Some(libc::EXDEV | libc::EAGAIN)) => {}
                Err(e) => return Err(e),
            }
        }
        match Walk::new(self, flags).run(relative) {
            Ok(fd) => Ok(fd),
            Err(WalkError::Link) => Err(escape()),
            Err(WalkError::Io(e)) => Err(e),
        }
    }

    fn openat2(
        &self,
        relative: &Path,
        flags: OFlags,
        resolve: ResolveFlags,
    ) -> io::Result<OwnedFd> {
        // EAGAIN: a rename elsewhere raced the lookup; the kernel asks for a retry.
        let mut tries = 0;
        loop {
            match rustix::fs::openat2(&self.root, relative, flags, Mode::empty(), resolve) {
                Err(rustix::io::Errno::AGAIN) if tries < 3 => tries += 1,
                Err(rustix::io::Errno::XDEV) => {
                    return Err(io::Error::from_raw_os_error(libc::EXDEV));
                }
                other => return Ok(other?),
            }
        }
    }
}

/// `/proc/self/fd/N` for `fd` (whether `/proc` is mounted was checked once,
/// on the root's own descriptor).
fn proc_path(fd: &impl AsRawFd) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

fn found(fd: OwnedFd, direct: bool) -> io::Result<Found> {
    let file = File::from(fd);
    let meta = file.metadata()?;
    Ok(Found { file, meta, direct })
}

enum WalkError {
    /// A symlink met while `refuse_links`, or one that leads out.
    Link,
    Io(io::Error),
}

impl From<io::Error> for WalkError {
    fn from(e: io::Error) -> WalkError {
        WalkError::Io(e)
    }
}

impl From<rustix::io::Errno> for WalkError {
    fn from(e: rustix::io::Errno) -> WalkError {
        WalkError::Io(e.into())
    }
}

/// A lookup component by component, holding a descriptor for each folder
/// entered, so `..` goes back to one of them and never above the root.
struct Walk<'b> {
    beneath: &'b Beneath,
    flags: OFlags,
    refuse_links: bool,
    folders: Vec<OwnedFd>,
}

impl<'b> Walk<'b> {
    fn new(beneath: &'b Beneath, flags: OFlags) -> Walk<'b> {
        Walk {
            beneath,
            flags,
            refuse_links: false,
            folders: Vec::new(),
        }
    }

    fn here(&self) -> BorrowedFd<'_> {
        self.folders
            .last()
            .map_or(self.beneath.root.as_fd(), |fd| fd.as_fd())
    }

    fn run(&mut self, relative: &Path) -> Result<OwnedFd, WalkError> {
        // Components still to resolve, the next one last.
        let mut todo: Vec<Vec<u8>> = components(relative)?;
        todo.reverse();
        let mut links = 0;
        while let Some(name) = todo.pop() {
            match name.as_slice() {
                b"." => continue,
                b".." => {
                    self.folders.pop().ok_or(WalkError::Link)?;
                    continue;
                }
                _ => {}
            }
            let last = todo.is_empty();
            let name = OsStr::from_bytes(&name);
            let flags = if last {
                self.flags | OFlags::NOFOLLOW
            } else {
                LOOK | OFlags::NOFOLLOW
            };
            match rustix::fs::openat(self.here(), name, flags, Mode::empty()) {
                // O_PATH | O_NOFOLLOW opens a symlink itself; fstat tells.
                Ok(fd) if !is_link(&fd)? => {
                    if last {
                        return Ok(fd);
                    }
                    if rustix::fs::fstat(&fd)?.st_mode & libc::S_IFMT != libc::S_IFDIR {
                        return Err(io::Error::from_raw_os_error(libc::ENOTDIR).into());
                    }
                    self.folders.push(fd);
                }
                Ok(_) | Err(rustix::io::Errno::LOOP) => {
                    if self.refuse_links {
                        return Err(WalkError::Link);
                    }
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(io::Error::from_raw_os_error(libc::ELOOP).into());
                    }
                    let target = rustix::fs::readlinkat(self.here(), name, Vec::new())?;
                    let target = Path::new(OsStr::from_bytes(target.as_bytes()));
                    let target = if target.is_absolute() {
                        // Only a link into the root itself, from the root down.
                        self.folders.clear();
                        target
                            .strip_prefix(&self.beneath.canonical)
                            .map_err(|_| WalkError::Link)?
                    } else {
                        target
                    };
                    let mut expanded = components(target)?;
                    expanded.reverse();
                    todo.extend(expanded);
                }
                Err(e) => return Err(e.into()),
            }
        }
        // The walk ended on a folder (the root, or a link's `.`/`..`).
        let here = self.here();
        Ok(rustix::fs::openat(here, ".", self.flags, Mode::empty())?)
    }
}

fn is_link(fd: &OwnedFd) -> io::Result<bool> {
    Ok(rustix::fs::fstat(fd)?.st_mode & libc::S_IFMT == libc::S_IFLNK)
}

/// The names of a relative path, `.` and `..` kept for the walk to resolve.
fn components(path: &Path) -> io::Result<Vec<Vec<u8>>> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(name) => Some(Ok(name.as_bytes().to_vec())),
            Component::CurDir => Some(Ok(b".".to_vec())),
            Component::ParentDir => Some(Ok(b"..".to_vec())),
            Component::RootDir => None,
            Component::Prefix(_) => Some(Err(escape())),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// dir/root with a file, a folder, links in and out; dir/secret beside it.
    fn tree() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("sub/deep")).unwrap();
        std::fs::write(root.join("sub/deep/file.txt"), "inside").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "SECRET").unwrap();
        symlink("sub/deep/file.txt", root.join("in")).unwrap();
        symlink("../..", root.join("sub/up2")).unwrap();
        symlink("..", root.join("sub/up1")).unwrap();
        symlink("../secret.txt", root.join("out")).unwrap();
        symlink(dir.path().join("secret.txt"), root.join("abs-out")).unwrap();
        let canonical = root.canonicalize().unwrap();
        symlink(canonical.join("sub/deep"), root.join("abs-in")).unwrap();
        symlink("loop", root.join("loop")).unwrap();
        (dir, canonical)
    }

    fn read(beneath: &Beneath, path: &str) -> io::Result<(String, bool)> {
        let mut found = beneath.open_file(Path::new(path))?;
        let mut text = String::new();
        io::Read::read_to_string(&mut found.file, &mut text)?;
        Ok((text, found.direct))
    }

    #[test]
    fn links_inside_are_followed_and_none_leads_out() {
        let (_dir, root) = tree();
        for walk_only in [false, true] {
            let mut beneath = Beneath::open(&root, Links::Beneath).unwrap();
            if walk_only {
                beneath = beneath.without_openat2();
            }
            let ok = |path| read(&beneath, path).unwrap();
            assert_eq!(ok("sub/deep/file.txt"), ("inside".into(), true));
            assert_eq!(ok("in"), ("inside".into(), false));
            assert_eq!(ok("sub/up1/in"), ("inside".into(), false));
            assert_eq!(ok("abs-in/file.txt"), ("inside".into(), false));
            for out in ["out", "abs-out", "sub/up2/secret.txt", "loop"] {
                let err = read(&beneath, out).unwrap_err();
                assert!(
                    matches!(err.kind(), io::ErrorKind::NotFound)
                        || err.raw_os_error() == Some(libc::ELOOP)
                        || err.raw_os_error() == Some(libc::EXDEV),
                    "walk_only {walk_only}: {out}: {err}"
                );
            }
            assert!(beneath.look(Path::new("")).unwrap().meta.is_dir());
            assert!(beneath.look_direct(Path::new("sub/deep")).is_ok());
            assert!(beneath.look_direct(Path::new("in")).is_err());
        }
    }

    #[test]
    fn anywhere_follows_links_out() {
        let (_dir, root) = tree();
        let beneath = Beneath::open(&root, Links::Anywhere).unwrap();
        assert_eq!(read(&beneath, "out").unwrap(), ("SECRET".into(), false));
        assert_eq!(read(&beneath, "abs-out").unwrap().0, "SECRET");
    }

    #[test]
    fn a_fifo_opens_at_once() {
        let (_dir, root) = tree();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            root.join("fifo"),
            rustix::fs::FileType::Fifo,
            Mode::from_bits_truncate(0o644),
            0,
        )
        .unwrap();
        for walk_only in [false, true] {
            let mut beneath = Beneath::open(&root, Links::Beneath).unwrap();
            if walk_only {
                beneath = beneath.without_openat2();
            }
            let found = beneath.open_file(Path::new("fifo")).unwrap();
            assert!(!found.meta.is_file() && !found.meta.is_dir());
            // Looked at, never opened for reading: no open of it ran at all.
            let flags = rustix::fs::fcntl_getfl(&found.file).unwrap();
            assert!(flags.contains(OFlags::PATH), "{flags:?}");
            let found = beneath.open_file(Path::new("")).unwrap();
            let flags = rustix::fs::fcntl_getfl(&found.file).unwrap();
            assert!(
                !flags.contains(OFlags::PATH),
                "a folder is opened to be listed"
            );
        }
    }
}

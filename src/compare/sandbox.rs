//! The sandbox every server in a comparison serves: a copy of the site as
//! `root/`, and beside it, outside the root, the secret that must never come
//! back, with a link `root/escape` pointing at it. compare builds one in a
//! temporary folder for its own servers; `--fixture DIR` writes one for a
//! student's server to serve.

use std::io;
use std::path::{Component, Path, PathBuf};

use super::SECRET;

/// The file beside the root that holds [`SECRET`].
pub const SECRET_FILE: &str = "secret.txt";

/// Writes the sandbox into `dir` (which must exist): `dir/root` with a copy
/// of `site`, `dir/secret.txt` and the link `dir/root/escape`. Returns the
/// root's path.
///
/// Only folders and regular files are copied. Symbolic links in the site are
/// skipped, never followed: a site that is an earlier sandbox's root has an
/// `escape` link, and following it would write the secret into the new root
/// as a plain file, which any server serves without a traversal. The
/// sandbox's own `escape` link is made afresh, pointing at this sandbox's
/// secret. (Sockets, FIFOs and devices are skipped too: reading a FIFO would
/// block the copy.)
pub fn write(site: &Path, dir: &Path) -> io::Result<PathBuf> {
    let root = dir.join("root");
    copy_dir(site, &root).map_err(|e| context(e, "copy the site", site))?;
    let secret = dir.join(SECRET_FILE);
    std::fs::write(&secret, SECRET).map_err(|e| context(e, "write", &secret))?;
    // `/escape`, a way out that no dot-segment spells: only following the
    // link reaches the secret.
    let escape = root.join("escape");
    std::os::unix::fs::symlink(&secret, &escape).map_err(|e| context(e, "link", &escape))?;
    Ok(root)
}

/// `--fixture DIR`: writes the sandbox into `dir`, which must not exist yet
/// or be empty, so nobody's files are overwritten. Returns the root's path,
/// absolute and free of symbolic links.
///
/// Refused, before anything is written: a `dir` that is a symbolic link (the
/// printed instructions must name the real folder the server serves), a
/// `dir` inside the site (the copy would copy itself until paths grow too
/// long) and a site inside `dir` (the sandbox would land in the site). When
/// the write fails halfway, what this call created is removed again, so a
/// retry finds `dir` as it was; nothing that was there before is touched.
pub fn write_fixture(site: &Path, dir: &Path) -> io::Result<PathBuf> {
    // symlink_metadata, not metadata: it looks at the link itself. Rebuilt
    // from its components, so a trailing slash ("link/"), which would make
    // the system follow the link, is dropped.
    let named: PathBuf = dir.components().collect();
    if std::fs::symlink_metadata(&named).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(refusal(format!(
            "{} is a symbolic link; give the real folder it points to",
            dir.display()
        )));
    }
    let site_real = site
        .canonicalize()
        .map_err(|e| context(e, "resolve the site", site))?;
    let (existing, missing) = resolve(dir)?;
    let dir_real = missing.iter().fold(existing.clone(), |mut path, part| {
        path.push(part);
        path
    });
    if dir_real.starts_with(&site_real) {
        return Err(refusal(format!(
            "{} is inside the site {}: the site would be copied into itself; give a folder outside it",
            dir.display(),
            site.display()
        )));
    }
    if site_real.starts_with(&dir_real) {
        return Err(refusal(format!(
            "{} holds the site {}; give a folder outside the site",
            dir.display(),
            site.display()
        )));
    }
    let made = if missing.is_empty() {
        let mut entries = std::fs::read_dir(&dir_real).map_err(|e| context(e, "read", dir))?;
        if entries.next().is_some() {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{} is not empty; give a new or empty folder", dir.display()),
            ));
        }
        Made::Contents(dir_real.clone())
    } else {
        create_missing(&existing, &missing).map_err(|e| context(e, "create", dir))?
    };
    write(site, &dir_real).inspect_err(|_| made.undo())
}

/// What [`write_fixture`] made, to take back when the write fails.
enum Made {
    /// `dir` existed and was empty: everything in it is this run's.
    Contents(PathBuf),
    /// The topmost folder this run created, `dir` or an ancestor of it.
    Folder(PathBuf),
}

impl Made {
    /// Best effort: the write's own error is the one worth reporting.
    /// `remove_dir_all` removes links without following them.
    fn undo(&self) {
        match self {
            Made::Folder(top) => {
                let _ = std::fs::remove_dir_all(top);
            }
            Made::Contents(dir) => {
                for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                    let path = entry.path();
                    let _ = match entry.file_type() {
                        Ok(kind) if kind.is_dir() => std::fs::remove_dir_all(&path),
                        _ => std::fs::remove_file(&path),
                    };
                }
            }
        }
    }
}

/// Splits `dir` into its nearest existing ancestor, canonical, and the
/// folder names below it that do not exist yet. A `..` among the missing
/// names drops the name before it, as creating them in turn would.
fn resolve(dir: &Path) -> io::Result<(PathBuf, Vec<std::ffi::OsString>)> {
    let mut missing = Vec::new();
    let mut ancestor = dir;
    let mut existing = loop {
        // An empty parent is the current folder ("sandbox" has parent "").
        let probe = if ancestor.as_os_str().is_empty() {
            Path::new(".")
        } else {
            ancestor
        };
        match probe.canonicalize() {
            Ok(real) => break real,
            Err(e) if e.kind() == io::ErrorKind::NotFound && !ancestor.as_os_str().is_empty() => {
                missing.push(ancestor.components().next_back());
                ancestor = ancestor.parent().unwrap_or(Path::new(""));
            }
            Err(e) => return Err(context(e, "resolve", dir)),
        }
    };
    let mut names = Vec::new();
    for part in missing.into_iter().rev().flatten() {
        match part {
            Component::Normal(name) => names.push(name.to_os_string()),
            // Above the first missing name: the existing path is canonical,
            // so its parent is the real one.
            Component::ParentDir if names.is_empty() => {
                existing.pop();
            }
            Component::ParentDir => {
                names.pop();
            }
            _ => {}
        }
    }
    Ok((existing, names))
}

/// Creates `missing` below `existing` one folder at a time, and reports the
/// topmost one created: removing it takes back exactly this run's folders.
fn create_missing(existing: &Path, missing: &[std::ffi::OsString]) -> io::Result<Made> {
    let mut path = existing.to_path_buf();
    let mut top = None;
    for name in missing {
        path.push(name);
        if let Err(e) = std::fs::create_dir(&path) {
            if let Some(top) = &top {
                let _ = std::fs::remove_dir_all(top);
            }
            return Err(e);
        }
        top.get_or_insert_with(|| path.clone());
    }
    Ok(Made::Folder(top.unwrap_or(path)))
}

/// What to tell a student once their fixture is written.
pub fn instructions(root: &Path) -> String {
    format!(
        "Wrote the sandbox: {root}/ is the site to serve; the secret beside it, \
         {parent}/{SECRET_FILE}, must never come back.\n\
         1. Start your server with {root} as its document root (for the classic \
         exercise, which opens paths relative to where it runs: cd {root} && python3 server.py 8080).\n\
         2. Run: twinserve compare --target mine=127.0.0.1:8080\n",
        root = root.display(),
        parent = root.parent().unwrap_or(root).display(),
    )
}

fn refusal(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message)
}

fn context(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("cannot {what} {}: {e}", path.display()))
}

fn copy_dir(from: &Path, to: &Path) -> io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        // The entry's own type, not its target's: a link is never followed.
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fixture_holds_the_site_the_secret_and_the_link_out() {
        let site = tempfile::tempdir().unwrap();
        std::fs::create_dir(site.path().join("sub")).unwrap();
        std::fs::write(site.path().join("sub/page.html"), b"<p>hi</p>").unwrap();
        let out = tempfile::tempdir().unwrap();
        let dir = out.path().join("sandbox");
        let root = write_fixture(site.path(), &dir).unwrap();
        assert_eq!(
            std::fs::read(root.join("sub/page.html")).unwrap(),
            b"<p>hi</p>"
        );
        assert_eq!(std::fs::read(root.join("../secret.txt")).unwrap(), SECRET);
        assert_eq!(std::fs::read(root.join("escape")).unwrap(), SECRET);
        assert!(root.is_absolute());
        assert!(instructions(&root).contains(&root.display().to_string()));
    }

    #[test]
    fn a_folder_with_files_in_it_is_never_written_over() {
        let site = tempfile::tempdir().unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("mine.txt"), b"keep").unwrap();
        let err = write_fixture(site.path(), dir.path()).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        assert_eq!(std::fs::read(dir.path().join("mine.txt")).unwrap(), b"keep");
        assert!(!dir.path().join("root").exists());
    }

    #[test]
    fn links_in_the_site_are_skipped_and_the_escape_is_made_afresh() {
        let site = tempfile::tempdir().unwrap();
        std::fs::write(site.path().join("page.html"), b"hi").unwrap();
        let first = tempfile::tempdir().unwrap();
        let old_root = write(site.path(), first.path()).unwrap();
        std::os::unix::fs::symlink("/etc", old_root.join("etc")).unwrap();
        // An earlier sandbox's root as the site: its links must not be copied.
        let second = tempfile::tempdir().unwrap();
        let root = write(&old_root, second.path()).unwrap();
        assert_eq!(std::fs::read(root.join("page.html")).unwrap(), b"hi");
        assert!(std::fs::symlink_metadata(root.join("etc")).is_err());
        let escape = std::fs::symlink_metadata(root.join("escape")).unwrap();
        assert!(escape.file_type().is_symlink(), "the secret was copied");
        assert_eq!(
            std::fs::read_link(root.join("escape")).unwrap(),
            second.path().join(SECRET_FILE)
        );
    }

    #[test]
    fn a_folder_inside_the_site_or_around_it_is_refused_before_any_write() {
        let site = tempfile::tempdir().unwrap();
        std::fs::write(site.path().join("page.html"), b"hi").unwrap();
        std::fs::create_dir(site.path().join("sub")).unwrap();
        for dir in [
            site.path().join("sandbox"),
            site.path().join("new/deeper"),
            site.path().join("new/../sandbox"),
            site.path().join("sub/new/../../sandbox"),
            site.path().to_path_buf(),
        ] {
            let err = write_fixture(site.path(), &dir).unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{dir:?}");
            assert!(err.to_string().contains("is inside the site"), "{err}");
        }
        let names: Vec<_> = std::fs::read_dir(site.path()).unwrap().collect();
        assert_eq!(names.len(), 2, "the site was written to");
        assert_eq!(
            std::fs::read_dir(site.path().join("sub")).unwrap().count(),
            0
        );

        let outer = tempfile::tempdir().unwrap();
        let inner = outer.path().join("site");
        std::fs::create_dir(&inner).unwrap();
        let err = write_fixture(&inner, outer.path()).unwrap_err();
        assert!(err.to_string().contains("holds the site"), "{err}");
    }

    #[test]
    fn a_link_to_an_empty_folder_is_refused() {
        let site = tempfile::tempdir().unwrap();
        let out = tempfile::tempdir().unwrap();
        let real = out.path().join("real");
        std::fs::create_dir(&real).unwrap();
        let link = out.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        for dir in [link.clone(), link.join("")] {
            let err = write_fixture(site.path(), &dir).unwrap_err();
            assert!(err.to_string().contains("symbolic link"), "{err}");
        }
        assert_eq!(std::fs::read_dir(&real).unwrap().count(), 0);
    }

    #[test]
    fn a_failed_write_takes_back_what_it_made_and_only_that() {
        // A folder named `escape` in the site: the copy succeeds, the link
        // then fails, halfway through.
        let site = tempfile::tempdir().unwrap();
        std::fs::create_dir(site.path().join("escape")).unwrap();
        let out = tempfile::tempdir().unwrap();
        std::fs::write(out.path().join("keep.txt"), b"keep").unwrap();

        let created = out.path().join("new/sandbox");
        assert!(write_fixture(site.path(), &created).is_err());
        assert!(!out.path().join("new").exists(), "the created folders stay");

        let empty = out.path().join("empty");
        std::fs::create_dir(&empty).unwrap();
        assert!(write_fixture(site.path(), &empty).is_err());
        assert!(empty.is_dir(), "a folder that was there is gone");
        assert_eq!(std::fs::read_dir(&empty).unwrap().count(), 0);
        assert_eq!(std::fs::read(out.path().join("keep.txt")).unwrap(), b"keep");

        // The retry the half-written folder used to refuse.
        std::fs::remove_dir(site.path().join("escape")).unwrap();
        write_fixture(site.path(), &empty).unwrap();
    }
}

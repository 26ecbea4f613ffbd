//! The sandbox every server in a comparison serves: a copy of the site as
//! `root/`, and beside it, outside the root, the secret that must never come
//! back, with a link `root/escape` pointing at it. compare builds one in a
//! temporary folder for its own servers; `--fixture DIR` writes one for a
//! student's server to serve.

use std::io;
use std::path::{Path, PathBuf};

use super::SECRET;

/// The file beside the root that holds [`SECRET`].
pub const SECRET_FILE: &str = "secret.txt";

/// Writes the sandbox into `dir` (which must exist): `dir/root` with a copy
/// of `site`, `dir/secret.txt` and the link `dir/root/escape`. Returns the
/// root's path.
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
/// or be empty, so nobody's files are overwritten. Returns the root's path.
pub fn write_fixture(site: &Path, dir: &Path) -> io::Result<PathBuf> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} is not empty; give a new or empty folder", dir.display()),
                ));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir).map_err(|e| context(e, "create", dir))?;
        }
        Err(e) => return Err(context(e, "read", dir)),
    }
    // An absolute root, so the instructions work from any folder.
    let dir = dir.canonicalize().map_err(|e| context(e, "resolve", dir))?;
    write(site, &dir)
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

fn context(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("cannot {what} {}: {e}", path.display()))
}

fn copy_dir(from: &Path, to: &Path) -> io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
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
}

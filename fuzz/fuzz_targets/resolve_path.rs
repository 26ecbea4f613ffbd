//! docroot on arbitrary request-targets: whatever the target, a file it
//! opens lies inside the canonical root (checked on the open descriptor
//! itself, through /proc/self/fd), and the secret beside the root is never it.
#![no_main]

use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use twinserve::docroot::{Body, DocRoot, HeaderSource, Options, RequestView, Version};

struct OnlyHost;

impl HeaderSource for OnlyHost {
    fn values<'s>(&'s self, name: &'s http::HeaderName) -> impl Iterator<Item = &'s [u8]> + 's {
        (name == http::header::HOST)
            .then_some(&b"localhost"[..])
            .into_iter()
    }
}

/// root/ (index, a folder, a hidden file, symlinks out) with secret.txt beside it.
fn site() -> &'static (PathBuf, DocRoot) {
    static SITE: OnceLock<(PathBuf, DocRoot)> = OnceLock::new();
    SITE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("twinserve-fuzz-{}", std::process::id()));
        let root = dir.join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("index.html"), "home").unwrap();
        std::fs::write(root.join("sub/index.html"), "sub").unwrap();
        std::fs::write(root.join(".hidden"), "hidden").unwrap();
        std::fs::write(dir.join("secret.txt"), "SECRET").unwrap();
        let _ = std::os::unix::fs::symlink(dir.join("secret.txt"), root.join("escape"));
        let _ = std::os::unix::fs::symlink(&dir, root.join("escape-dir"));
        let docroot = DocRoot::open(&root, Options::default()).unwrap();
        (docroot.root().to_path_buf(), docroot)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (root, docroot) = site();
    // Most real targets start with '/'; let the fuzzer also try everything else.
    let target = match text.strip_prefix('!') {
        Some(raw) => raw.to_string(),
        None => format!("/{text}"),
    };
    for method in ["GET", "HEAD"] {
        let reply = docroot.respond(&RequestView {
            method,
            target: &target,
            version: Version::Http11,
            headers: &OnlyHost,
        });
        if let Body::File { file, .. } = &reply.body {
            let opened = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).unwrap();
            assert!(opened.starts_with(root), "{target:?} opened {opened:?}");
            assert!(
                !opened.ends_with("secret.txt"),
                "{target:?} opened the secret"
            );
        }
    }
});

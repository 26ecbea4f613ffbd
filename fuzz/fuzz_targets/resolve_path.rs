//! docroot on arbitrary request-targets: whatever the target, a file it
//! answers with lies inside the canonical root (checked on the open
//! descriptor itself, through /proc/self/fd), and no body — in memory or a
//! file — holds either secret beside the root (one each side of the 64 KiB
//! limit between the two kinds of body).
#![no_main]

use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
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

/// Either side of docroot's 64 KiB small-file limit: below it a body comes
/// back as `Body::Bytes`, above it as `Body::File`.
const SMALL: usize = 1_000;
const BIG: usize = 100_000;
/// Both secrets are made of this, so any piece of one longer than twice it
/// holds it whole.
const MARKER: &[u8] = b"<TOP-SECRET beside the root>";

fn secret(len: usize) -> Vec<u8> {
    MARKER.iter().copied().cycle().take(len).collect()
}

/// root/ (index, a folder, a hidden file, a 404 page, a large file and a
/// symlink to it) with a small and a large secret beside it, and symlinks
/// out to each (one relative) and to the folder that holds them.
fn site() -> &'static (PathBuf, DocRoot) {
    static SITE: OnceLock<(PathBuf, DocRoot)> = OnceLock::new();
    SITE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("twinserve-fuzz-{}", std::process::id()));
        let root = dir.join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("index.html"), "home").unwrap();
        std::fs::write(root.join("sub/index.html"), "sub").unwrap();
        std::fs::write(root.join(".hidden"), "hidden").unwrap();
        std::fs::write(root.join("404.html"), "not here").unwrap();
        let inside: Vec<u8> = (0..BIG).map(|i| (i % 251) as u8).collect();
        std::fs::write(root.join("big.bin"), inside).unwrap();
        std::fs::write(dir.join("secret.txt"), secret(SMALL)).unwrap();
        std::fs::write(dir.join("secret-big.bin"), secret(BIG)).unwrap();
        let link = |to: &Path, at: &str| {
            let _ = std::os::unix::fs::symlink(to, root.join(at));
        };
        link(&dir.join("secret.txt"), "escape");
        link(&dir.join("secret-big.bin"), "escape-big");
        link(&dir, "escape-dir");
        link(Path::new("../../secret-big.bin"), "sub/rel-escape");
        link(Path::new("big.bin"), "inside-link");
        let docroot = DocRoot::open(&root, Options::default()).unwrap();
        (docroot.root().canonicalize().unwrap(), docroot)
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
        let body = match reply.body {
            Body::Empty => continue,
            Body::Bytes(bytes) => bytes.to_vec(),
            Body::File { file, offset, len } => {
                let fd = format!("/proc/self/fd/{}", file.as_raw_fd());
                let opened = std::fs::read_link(fd).unwrap();
                assert!(opened.starts_with(root), "{target:?} opened {opened:?}");
                let mut bytes = vec![0; len as usize];
                file.read_exact_at(&mut bytes, offset).unwrap();
                bytes
            }
        };
        assert!(
            !body.windows(MARKER.len()).any(|w| w == MARKER),
            "{target:?} answered {method} with a secret ({} bytes)",
            body.len()
        );
    }
});

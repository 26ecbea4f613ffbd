//! Properties held over generated input: the raw parser never panics and
//! never claims more bytes than it was given; a generated valid head parses
//! back to exactly what was generated; and no generated request-target makes
//! docroot answer with a secret beside the root or a file outside it.

use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::path::Path;

use proptest::prelude::*;
use twinserve::docroot::{Body, DocRoot, HeaderSource, Options, RequestView, Version};
use twinserve::raw::request::{HeadLimits, parse_head};

const LIMITS: HeadLimits = HeadLimits {
    max_request_line: 8192,
    max_headers: 100,
};

fn token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}"
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn the_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(head) = parse_head(&bytes, &LIMITS) {
            prop_assert!(head.len <= bytes.len());
        }
    }

    #[test]
    fn near_valid_heads_never_panic(
        prefix in "(GET|HEAD|POST) /[a-z%./]{0,20} HTTP/1\\.[01]\r\n",
        noise in proptest::collection::vec(prop_oneof![
            Just(b'\r'), Just(b'\n'), Just(b':'), Just(b' '), Just(b'\t'), Just(0u8), any::<u8>()
        ], 0..64),
    ) {
        let mut bytes = prefix.into_bytes();
        bytes.extend(noise);
        let _ = parse_head(&bytes, &LIMITS);
    }

    #[test]
    fn a_valid_head_parses_back(
        method in token(),
        target in "/[A-Za-z0-9._~!$&'()*+,;=:@/%?-]{0,40}",
        minor in 0u8..2,
        fields in proptest::collection::vec((token(), "[ -~]{0,30}"), 0..10),
        bare_lf in any::<bool>(),
    ) {
        let eol = if bare_lf { "\n" } else { "\r\n" };
        let mut text = format!("{method} {target} HTTP/1.{minor}{eol}");
        for (name, value) in &fields {
            text.push_str(&format!("{name}: {value}{eol}"));
        }
        text.push_str(eol);
        text.push_str("NEXT");
        let head = parse_head(text.as_bytes(), &LIMITS).unwrap();
        prop_assert_eq!(head.method, method.as_str());
        prop_assert_eq!(head.target, target.as_str());
        prop_assert_eq!(head.version, if minor == 0 { Version::Http10 } else { Version::Http11 });
        prop_assert_eq!(head.headers.len(), fields.len());
        for (parsed, (name, value)) in head.headers.iter().zip(&fields) {
            prop_assert_eq!(parsed.name, name.as_str());
            prop_assert_eq!(parsed.value, value.trim_matches([' ', '\t']).as_bytes());
        }
        prop_assert_eq!(&text.as_bytes()[head.len..], b"NEXT");
    }
}

struct OnlyHost;

impl HeaderSource for OnlyHost {
    fn values<'s>(&'s self, name: &'s http::HeaderName) -> impl Iterator<Item = &'s [u8]> + 's {
        (name == http::header::HOST)
            .then_some(&b"localhost"[..])
            .into_iter()
    }
}

fn traversal_piece() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("/"),
        Just(".."),
        Just("."),
        Just("%2e"),
        Just("%2E"),
        Just("%2f"),
        Just("%2F"),
        Just("%5c"),
        Just("\\"),
        Just("%00"),
        Just("%25"),
        Just("secret.txt"),
        Just("secret-big.bin"),
        Just("root"),
        Just("escape"),
        Just("escape-big"),
        Just("escape-dir"),
        Just("rel-escape"),
        Just("sub"),
        Just("index.html"),
        Just("big.bin"),
        Just("inside-link"),
        Just("%"),
        Just("?"),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn no_target_reaches_outside_the_root(
        pieces in proptest::collection::vec(traversal_piece(), 1..12),
        absolute in any::<bool>(),
    ) {
        let (_, docroot) = fixture();
        let path: String = pieces.concat();
        let target = if absolute { format!("http://localhost/{path}") } else { format!("/{path}") };
        let reply = docroot.respond(&RequestView {
            method: "GET",
            target: &target,
            version: Version::Http11,
            headers: &OnlyHost,
        });
        // The folder the root names now, as `/proc` writes the paths compared.
        let root = docroot.root().canonicalize().unwrap();
        let verdict = inside_the_root(&root, reply.body);
        prop_assert!(verdict.is_ok(), "{target}: {verdict:?}");
    }
}

/// The files either side of docroot's 64 KiB small-file limit, below which a
/// body comes back as `Body::Bytes` and above which as `Body::File`.
const SMALL: usize = 1_000;
const BIG: usize = 100_000;
/// Every secret file is made of this, so any piece of one longer than twice
/// it holds it whole.
const MARKER: &[u8] = b"<TOP-SECRET beside the root>";

/// `len` bytes of the marker repeated, for a secret.
fn secret(len: usize) -> Vec<u8> {
    MARKER.iter().copied().cycle().take(len).collect()
}

/// Whether `body` is, or holds, either secret or a piece of one.
fn holds_a_secret(body: &[u8]) -> bool {
    body.windows(MARKER.len()).any(|w| w == MARKER)
}

/// `Ok` when `body` is no secret and, if it is a file, that file's own
/// descriptor names a path inside `root`.
fn inside_the_root(root: &Path, body: Body) -> Result<(), String> {
    let bytes = match body {
        Body::Empty => return Ok(()),
        Body::Bytes(bytes) => bytes.to_vec(),
        Body::File { file, offset, len } => {
            let fd = format!("/proc/self/fd/{}", file.as_raw_fd());
            let opened = std::fs::read_link(&fd).map_err(|e| format!("{fd}: {e}"))?;
            if !opened.starts_with(root) {
                return Err(format!("opened {opened:?}, outside {root:?}"));
            }
            let mut bytes = vec![0; len as usize];
            file.read_exact_at(&mut bytes, offset)
                .map_err(|e| format!("reading {opened:?}: {e}"))?;
            bytes
        }
    };
    match holds_a_secret(&bytes) {
        true => Err(format!("a body of {} bytes holds the secret", bytes.len())),
        false => Ok(()),
    }
}

/// `root/`, with files inside on both sides of the small-file limit (one of
/// them behind a symlink that stays inside) and a `404.html`, beside two
/// secrets on both sides of it; symlinks out to each, a relative one, and one
/// to the folder that holds them.
fn site() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(root.join("index.html"), "home").unwrap();
    std::fs::write(root.join("sub/index.html"), "sub").unwrap();
    std::fs::write(root.join("404.html"), "not here").unwrap();
    let inside: Vec<u8> = (0..BIG).map(|i| (i % 251) as u8).collect();
    std::fs::write(root.join("big.bin"), inside).unwrap();
    std::fs::write(dir.path().join("secret.txt"), secret(SMALL)).unwrap();
    std::fs::write(dir.path().join("secret-big.bin"), secret(BIG)).unwrap();
    let link = |to: &Path, at: &str| std::os::unix::fs::symlink(to, root.join(at)).unwrap();
    link(&dir.path().join("secret.txt"), "escape");
    link(&dir.path().join("secret-big.bin"), "escape-big");
    link(dir.path(), "escape-dir");
    link(Path::new("../../secret-big.bin"), "sub/rel-escape");
    link(Path::new("big.bin"), "inside-link");
    dir
}

/// One temporary site per test process.
fn fixture() -> &'static (tempfile::TempDir, DocRoot) {
    static FIXTURE: std::sync::OnceLock<(tempfile::TempDir, DocRoot)> = std::sync::OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = site();
        let docroot = DocRoot::open(&dir.path().join("root"), Default::default()).unwrap();
        (dir, docroot)
    })
}

/// The property is only as good as its fixture and its check: the site must
/// give both kinds of body, and a docroot told to follow symlinks out must
/// be caught serving each secret, as bytes and as a file.
#[test]
fn the_leak_check_sees_both_kinds_of_body() {
    let dir = site();
    let get = |docroot: &DocRoot, target: &str| {
        docroot.respond(&RequestView {
            method: "GET",
            target,
            version: Version::Http11,
            headers: &OnlyHost,
        })
    };
    let confined = DocRoot::open(&dir.path().join("root"), Default::default()).unwrap();
    let root = &confined.root().canonicalize().unwrap();
    for (target, file) in [
        ("/index.html", false),
        ("/big.bin", true),
        ("/inside-link", true),
        ("/missing", true),
    ] {
        let reply = get(&confined, target);
        assert_eq!(matches!(reply.body, Body::File { .. }), file, "{target}");
        assert_eq!(inside_the_root(root, reply.body), Ok(()), "{target}");
    }
    assert!(matches!(get(&confined, "/index.html").body, Body::Bytes(_)));
    for target in [
        "/escape",
        "/escape-big",
        "/sub/rel-escape",
        "/escape-dir/secret.txt",
    ] {
        assert_eq!(get(&confined, target).status, 404, "{target}");
    }

    let options = Options {
        follow_symlinks: true,
        ..Options::default()
    };
    let follows = DocRoot::open(&dir.path().join("root"), options).unwrap();
    for (target, file) in [
        ("/escape", false),
        ("/escape-big", true),
        ("/sub/rel-escape", true),
        ("/escape-dir/secret-big.bin", true),
    ] {
        let reply = get(&follows, target);
        assert_eq!(reply.status, 200, "{target}");
        assert_eq!(matches!(reply.body, Body::File { .. }), file, "{target}");
        assert!(inside_the_root(root, reply.body).is_err(), "{target}");
    }
}

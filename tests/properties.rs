//! Properties held over generated input: the raw parser never panics and
//! never claims more bytes than it was given; a generated valid head parses
//! back to exactly what was generated; and no generated request-target makes
//! docroot serve a file outside the root.

use std::io::Read;

use proptest::prelude::*;
use twinserve::docroot::{Body, DocRoot, HeaderSource, RequestView, Version};
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
        Just("root"),
        Just("escape"),
        Just("escape-dir"),
        Just("sub"),
        Just("index.html"),
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
        let fixture = fixture();
        let path: String = pieces.concat();
        let target = if absolute { format!("http://localhost/{path}") } else { format!("/{path}") };
        let reply = fixture.1.respond(&RequestView {
            method: "GET",
            target: &target,
            version: Version::Http11,
            headers: &OnlyHost,
        });
        if let Body::File { mut file, .. } = reply.body {
            let mut content = String::new();
            file.read_to_string(&mut content).unwrap();
            prop_assert!(!content.contains("SECRET"), "{target} served the secret");
        }
    }
}

/// One temporary site per test process: `root/` with a subfolder and two
/// symlinks out, and `secret.txt` beside it.
fn fixture() -> &'static (tempfile::TempDir, DocRoot) {
    static FIXTURE: std::sync::OnceLock<(tempfile::TempDir, DocRoot)> = std::sync::OnceLock::new();
    FIXTURE.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("index.html"), "home").unwrap();
        std::fs::write(root.join("sub/index.html"), "sub").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "SECRET").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), root.join("escape")).unwrap();
        std::os::unix::fs::symlink(dir.path(), root.join("escape-dir")).unwrap();
        let docroot = DocRoot::open(&root, Default::default()).unwrap();
        (dir, docroot)
    })
}

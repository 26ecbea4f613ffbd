//! The small-file cache never serves a stale file: rewritten in place with the
//! same length (even with its old mtime put back), written through a hard link
//! elsewhere, replaced by rename, deleted, turned into a symlink out of the
//! root, given a precompressed sibling, or its folder swapped for another —
//! the next request sees the change, on both backends.

mod common;

use std::time::{Duration, SystemTime};

use common::{BACKENDS, SECRET, TestSite, request};

fn write_with_mtime(path: &std::path::Path, content: &[u8], mtime: SystemTime) {
    std::fs::write(path, content).unwrap();
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
}

#[test]
fn the_cache_never_serves_a_stale_file() {
    let site = TestSite::new();
    let root = site.root();
    let page = root.join("page.html");
    let then = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    for backend in BACKENDS {
        write_with_mtime(&page, b"version A", then);
        let server = site.start(backend);
        let addr = server.local_addr();
        let get = |extra: &str| request(addr, "GET", "/page.html", extra);
        assert_eq!(get("").body, b"version A", "{backend}");
        assert_eq!(get("").body, b"version A", "{backend}: from the cache");

        // Same length, rewritten in place with another mtime.
        write_with_mtime(&page, b"version B", then + Duration::from_secs(1));
        assert_eq!(get("").body, b"version B", "{backend}: rewrite in place");

        // Same length, and the old mtime put back: identical to `stat`, so
        // only a watch on the file itself can tell.
        write_with_mtime(&page, b"version b", then + Duration::from_secs(1));
        assert_eq!(
            get("").body,
            b"version b",
            "{backend}: rewrite with the mtime restored"
        );

        // Written through a hard link in a folder that is not watched.
        let elsewhere = site.dir.path().join("hardlink.html");
        std::fs::hard_link(&page, &elsewhere).unwrap();
        assert_eq!(get("").body, b"version b");
        write_with_mtime(&elsewhere, b"version L", then + Duration::from_secs(1));
        assert_eq!(get("").body, b"version L", "{backend}: through a hard link");
        std::fs::remove_file(&elsewhere).unwrap();

        // Same length and the same mtime, but a new file renamed over it.
        let fresh = root.join("fresh.tmp");
        write_with_mtime(&fresh, b"version C", then + Duration::from_secs(1));
        std::fs::rename(&fresh, &page).unwrap();
        assert_eq!(get("").body, b"version C", "{backend}: replaced by rename");

        // A precompressed sibling appears.
        assert_eq!(get("Accept-Encoding: gzip\r\n").body, b"version C");
        std::fs::write(root.join("page.html.gz"), b"gzipped C").unwrap();
        let gz = get("Accept-Encoding: gzip\r\n");
        assert_eq!(gz.body, b"gzipped C", "{backend}: new sibling");
        assert_eq!(gz.header("content-encoding"), Some("gzip"));
        std::fs::remove_file(root.join("page.html.gz")).unwrap();
        assert_eq!(
            get("Accept-Encoding: gzip\r\n").body,
            b"version C",
            "{backend}: sibling gone"
        );

        // Turned into a symlink that leads out of the root.
        std::fs::remove_file(&page).unwrap();
        assert_eq!(get("").status, 404, "{backend}: deleted");
        std::os::unix::fs::symlink(site.dir.path().join("secret.txt"), &page).unwrap();
        let out = get("");
        assert_eq!(out.status, 404, "{backend}: now a symlink out");
        assert!(!String::from_utf8_lossy(&out.body).contains(SECRET));
        std::fs::remove_file(&page).unwrap();

        // Reached through a symlink inside the root: fresh every time.
        write_with_mtime(&page, b"target 1", then);
        std::os::unix::fs::symlink("page.html", root.join("alias.html")).unwrap();
        let alias = || request(addr, "GET", "/alias.html", "").body;
        assert_eq!(alias(), b"target 1");
        write_with_mtime(&page, b"target 2", then);
        assert_eq!(alias(), b"target 2", "{backend}: through a symlink");
        std::fs::remove_file(root.join("alias.html")).unwrap();
        std::fs::remove_file(&page).unwrap();

        // A whole folder swapped for another with the same names and mtimes.
        let deep = root.join("deep/er");
        std::fs::create_dir_all(&deep).unwrap();
        write_with_mtime(&deep.join("leaf.txt"), b"old leaf", then);
        let leaf = || request(addr, "GET", "/deep/er/leaf.txt", "").body;
        assert_eq!(leaf(), b"old leaf");
        assert_eq!(leaf(), b"old leaf");
        let staged = site.dir.path().join("staged");
        std::fs::create_dir_all(staged.join("er")).unwrap();
        write_with_mtime(&staged.join("er/leaf.txt"), b"new leaf", then);
        std::fs::rename(root.join("deep"), site.dir.path().join("retired")).unwrap();
        std::fs::rename(&staged, root.join("deep")).unwrap();
        assert_eq!(leaf(), b"new leaf", "{backend}: folder swapped");
        std::fs::remove_dir_all(root.join("deep")).unwrap();
        std::fs::remove_dir_all(site.dir.path().join("retired")).unwrap();

        // The index of a folder, cached under the folder's path.
        write_with_mtime(&root.join("sub/index.html"), b"index 1", then);
        assert_eq!(request(addr, "GET", "/sub/", "").body, b"index 1");
        write_with_mtime(
            &root.join("sub/index.html"),
            b"index 2",
            then + Duration::from_secs(5),
        );
        assert_eq!(
            request(addr, "GET", "/sub/", "").body,
            b"index 2",
            "{backend}: folder index"
        );
    }
}

/// One release of a site: every file named after the release except
/// `same.txt`, which has the same name, size and mtime in every release.
fn release(dir: &std::path::Path, name: &str, then: SystemTime) {
    let root = dir.join(name);
    std::fs::create_dir_all(root.join("sub")).unwrap();
    write_with_mtime(&root.join("index.html"), name.as_bytes(), then);
    write_with_mtime(&root.join("same.txt"), name.as_bytes(), then);
    write_with_mtime(&root.join("sub/deep.txt"), name.as_bytes(), then);
    write_with_mtime(&root.join(format!("only-{name}.txt")), b"x", then);
    // A link to the other release: outside this root whichever is served.
    let other = if name == "release-1" {
        "release-2"
    } else {
        "release-1"
    };
    std::os::unix::fs::symlink(format!("../{other}/index.html"), root.join("other.html")).unwrap();
    std::os::unix::fs::symlink("../secret.txt", root.join("up.html")).unwrap();
}

/// Points `link` at `target` the way deploy tools do: a new symlink renamed
/// over the old one, in one step.
fn switch(link: &std::path::Path, target: &str) {
    let staged = link.with_extension("new");
    std::os::unix::fs::symlink(target, &staged).unwrap();
    std::fs::rename(&staged, link).unwrap();
}

/// A root given through symlinks (`site -> current -> release-1`) is
/// resolved when each request comes: switching `current` to another release
/// serves that release from the next request on — every file of it, the one
/// with the same name, size and mtime as the old one included, never one
/// from the cache of the old — and nothing outside whichever release is
/// served, the other release included, is ever answered.
#[test]
fn a_root_given_through_a_symlink_follows_a_switch() {
    let site = TestSite::new();
    let dir = site.dir.path();
    let then = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    release(dir, "release-1", then);
    release(dir, "release-2", then);
    std::os::unix::fs::symlink("release-1", dir.join("current")).unwrap();
    std::os::unix::fs::symlink("current", dir.join("site")).unwrap();
    for backend in BACKENDS {
        switch(&dir.join("current"), "release-1");
        let mut config = twinserve::Config::new(dir.join("site"));
        config.threads = common::threads(4);
        let server = twinserve::spawn(backend, config).unwrap();
        let addr = server.local_addr();
        let get = |path: &str| request(addr, "GET", path, "");
        for (serving, gone) in [
            ("release-1", "release-2"),
            ("release-2", "release-1"),
            ("release-1", "release-2"),
        ] {
            switch(&dir.join("current"), serving);
            // Twice each: the second answer comes from the cache.
            for _ in 0..2 {
                for path in ["/", "/index.html", "/same.txt", "/sub/deep.txt"] {
                    let answer = get(path);
                    assert_eq!(answer.status, 200, "{backend} {serving} {path}");
                    assert_eq!(
                        answer.body,
                        serving.as_bytes(),
                        "{backend} {serving} {path}"
                    );
                }
                assert_eq!(get(&format!("/only-{serving}.txt")).status, 200);
                for path in [
                    format!("/only-{gone}.txt"),
                    "/other.html".to_string(),
                    "/up.html".to_string(),
                    format!("/../{gone}/index.html"),
                    "/%2e%2e/secret.txt".to_string(),
                ] {
                    let answer = get(&path);
                    assert_eq!(answer.status, 404, "{backend} {serving} {path}");
                    assert!(
                        !String::from_utf8_lossy(&answer.body).contains(gone)
                            && !String::from_utf8_lossy(&answer.body).contains(SECRET),
                        "{backend} {serving} {path}"
                    );
                }
            }
        }
    }
}

/// A file past the small-file size (kept open by the cache, or in memory by
/// hyper over TLS): a rewrite of one in place, same length and mtime put
/// back, or one through a hard link, is seen at once too, and ranges of it
/// stay exact.
#[test]
fn a_big_cached_file_is_never_stale_either() {
    let site = TestSite::new();
    let root = site.root();
    let page = root.join("big.bin");
    let then = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let version = |mark: u8| {
        let mut content: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        content[299_999] = mark;
        content
    };
    for backend in BACKENDS {
        write_with_mtime(&page, &version(b'A'), then);
        let server = site.start(backend);
        let addr = server.local_addr();
        let get = || request(addr, "GET", "/big.bin", "").body;
        assert_eq!(get(), version(b'A'), "{backend}");
        assert_eq!(get(), version(b'A'), "{backend}: again");
        let tail = request(addr, "GET", "/big.bin", "Range: bytes=-2\r\n");
        assert_eq!(tail.status, 206, "{backend}");
        assert_eq!(tail.body, [version(b'A')[299_998], b'A'], "{backend}");

        write_with_mtime(&page, &version(b'B'), then);
        assert_eq!(get(), version(b'B'), "{backend}: mtime restored");

        let elsewhere = site.dir.path().join("big-link.bin");
        std::fs::hard_link(&page, &elsewhere).unwrap();
        assert_eq!(get(), version(b'B'), "{backend}");
        write_with_mtime(&elsewhere, &version(b'C'), then);
        assert_eq!(get(), version(b'C'), "{backend}: through a hard link");
        let tail = request(addr, "GET", "/big.bin", "Range: bytes=-1\r\n");
        assert_eq!(tail.body, b"C", "{backend}: a range after the change");
        std::fs::remove_file(&elsewhere).unwrap();
    }
}

/// A file too big for memory is kept open: the next request after a change
/// must not be answered from the old descriptor. A new file renamed over it
/// with the same length and mtime, a file grown or cut short in place, and a
/// file deleted are each seen at once, with their fields, on both backends.
#[test]
fn a_file_kept_open_is_never_stale() {
    let site = TestSite::new();
    let root = site.root();
    let page = root.join("large.bin");
    let then = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    let version = |mark: u8, len: usize| {
        let mut content: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        content[len / 2] = mark;
        content
    };
    const LEN: usize = 1 << 20;
    for backend in BACKENDS {
        write_with_mtime(&page, &version(b'A', LEN), then);
        let server = site.start(backend);
        let addr = server.local_addr();
        let get = || request(addr, "GET", "/large.bin", "");
        assert_eq!(get().body, version(b'A', LEN), "{backend}");
        let kept = get();
        assert_eq!(kept.body, version(b'A', LEN), "{backend}: again");

        let fresh = site.dir.path().join("large.tmp");
        write_with_mtime(&fresh, &version(b'B', LEN), then);
        std::fs::rename(&fresh, &page).unwrap();
        let renamed = get();
        assert_eq!(renamed.body, version(b'B', LEN), "{backend}: renamed over");
        assert_ne!(
            renamed.header("etag"),
            kept.header("etag"),
            "{backend}: another file, another tag"
        );

        write_with_mtime(&page, &version(b'C', LEN + 4096), then);
        let grown = get();
        assert_eq!(grown.header("content-length"), Some("1052672"));
        assert_eq!(grown.body, version(b'C', LEN + 4096), "{backend}: grown");

        write_with_mtime(&page, &version(b'D', LEN - 4096), then);
        assert_eq!(
            get().body,
            version(b'D', LEN - 4096),
            "{backend}: cut short"
        );

        std::fs::remove_file(&page).unwrap();
        assert_eq!(get().status, 404, "{backend}: deleted");
    }
}

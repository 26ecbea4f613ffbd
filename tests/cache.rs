//! The small-file cache never serves a stale file: rewritten in place with the
//! same length, replaced by rename, deleted, turned into a symlink out of the
//! root, or given a precompressed sibling — the next request sees the change,
//! on both backends.

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

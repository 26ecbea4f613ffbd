//! Helpers shared by the integration tests: a temporary copy of `site/` with a
//! secret placed just outside its root, servers started on 127.0.0.1 port 0,
//! and a small HTTP exchange over a real socket with 1-second timeouts, so a
//! broken server fails a test instead of hanging it.

#![allow(dead_code)] // each test file uses its own share of these

pub mod loopback;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

use twinserve::{Backend, Config, ServerHandle};

pub const BACKENDS: [Backend; 2] = [Backend::Raw, Backend::Hyper];
pub const SECRET: &str = "TOP-SECRET-outside-the-root";
pub const TIMEOUT: Duration = Duration::from_secs(1);

/// `n` worker threads for [`Config::threads`], which says "the backend's
/// default" with `None` rather than 0.
pub fn threads(n: usize) -> Option<NonZeroUsize> {
    Some(NonZeroUsize::new(n).expect("a server needs at least one thread"))
}

/// A temporary folder holding `root/` (a copy of `site/` plus test files) and
/// `secret.txt` beside it, which no request may ever reach.
pub struct TestSite {
    pub dir: tempfile::TempDir,
}

impl TestSite {
    pub fn new() -> TestSite {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("root");
        copy_dir(&Path::new(env!("CARGO_MANIFEST_DIR")).join("site"), &root);
        std::fs::write(dir.path().join("secret.txt"), SECRET).unwrap();
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/index.html"), "<p>sub index</p>\n").unwrap();
        std::fs::write(root.join("my page.html"), "<p>spaced name</p>\n").unwrap();
        std::fs::write(root.join("café.html"), "<p>non-ASCII name</p>\n").unwrap();
        std::fs::write(root.join(".hidden"), "hidden").unwrap();
        std::os::unix::fs::symlink(dir.path().join("secret.txt"), root.join("escape")).unwrap();
        std::os::unix::fs::symlink(dir.path(), root.join("escape-dir")).unwrap();
        std::os::unix::fs::symlink(root.join("HelloWorld.html"), root.join("inside-link.html"))
            .unwrap();
        TestSite { dir }
    }

    pub fn root(&self) -> PathBuf {
        self.dir.path().join("root")
    }

    pub fn file(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.root().join(rel)).unwrap()
    }

    /// Makes every file under the root an hour old, as a site's files are:
    /// for a second after a change a file is sent without validators.
    pub fn age_all(&self) {
        age_files(&self.root());
    }

    /// Writes a file of `len` bytes with a recognisable pattern.
    pub fn big_file(&self, name: &str, len: usize) -> Vec<u8> {
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        std::fs::write(self.root().join(name), &data).unwrap();
        data
    }

    pub fn start(&self, backend: Backend) -> ServerHandle {
        self.start_with(backend, |_| {})
    }

    pub fn start_with(&self, backend: Backend, tweak: impl FnOnce(&mut Config)) -> ServerHandle {
        let mut config = Config::new(self.root());
        config.threads = threads(8);
        tweak(&mut config);
        twinserve::spawn(backend, config).expect("server starts")
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
            // An hour old, as a site's files are: the hyper backend leaves a
            // file's Date to hyper only when the file is over a second old,
            // and the files written fresh below cover the other case.
            let an_hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
            let copy = std::fs::File::options().write(true).open(&target).unwrap();
            copy.set_modified(an_hour_ago).unwrap();
        }
    }
}

fn age_files(folder: &Path) {
    let an_hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    for entry in std::fs::read_dir(folder).unwrap() {
        let entry = entry.unwrap();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            age_files(&entry.path());
        } else if kind.is_file() {
            let file = std::fs::File::options()
                .write(true)
                .open(entry.path())
                .unwrap();
            file.set_modified(an_hour_ago).unwrap();
        }
    }
}

/// A response as the test saw it.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub fn connect(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect_timeout(&addr, TIMEOUT).expect("connect");
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(TIMEOUT)).unwrap();
    stream
}

/// Sends `bytes`, half-closes, and reads everything until the server closes.
pub fn send_raw(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut stream = connect(addr);
    stream.write_all(bytes).unwrap();
    let _ = stream.shutdown(Shutdown::Write);
    let mut out = Vec::new();
    stream
        .read_to_end(&mut out)
        .expect("server closes within the timeout");
    out
}

/// Splits `bytes` into the responses in it; bodies framed by Content-Length,
/// and `head_only` responses (to HEAD) taken to have none.
pub fn parse_responses(mut bytes: &[u8], head_only: bool) -> Vec<Response> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let mut fields = [httparse::EMPTY_HEADER; 64];
        let mut parsed = httparse::Response::new(&mut fields);
        let head_len = match parsed.parse(bytes).expect("a valid response head") {
            httparse::Status::Complete(n) => n,
            httparse::Status::Partial => panic!("truncated head: {}", bytes.escape_ascii()),
        };
        let headers: Vec<(String, String)> = parsed
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_string(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect();
        let status = parsed.code.unwrap();
        let response = Response {
            status,
            headers,
            body: Vec::new(),
        };
        let len = if head_only {
            0
        } else {
            response
                .header("content-length")
                .map_or(bytes.len() - head_len, |v| v.parse().unwrap())
        };
        let body = bytes[head_len..head_len + len].to_vec();
        out.push(Response { body, ..response });
        bytes = &bytes[head_len + len..];
    }
    out
}

/// One request on its own connection (`Connection: close`), one response.
pub fn request(addr: SocketAddr, method: &str, target: &str, extra: &str) -> Response {
    let bytes = format!(
        "{method} {target} HTTP/1.1\r\nHost: localhost\r\n{extra}Connection: close\r\n\r\n"
    );
    let raw = send_raw(addr, bytes.as_bytes());
    let mut responses = parse_responses(&raw, method == "HEAD");
    assert_eq!(
        responses.len(),
        1,
        "{method} {target}: {}",
        raw.escape_ascii()
    );
    responses.remove(0)
}

/// The number of descriptors this process holds open.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// Reads one response with a Content-Length body from a connection that stays
/// open, for a caller that sent one request: any byte read past that response
/// fails the test rather than being dropped unseen.
pub fn read_one(stream: &mut TcpStream) -> Response {
    let mut reader = ResponseReader::default();
    let response = reader.next_response(stream);
    assert!(
        reader.leftover().is_empty(),
        "bytes after the one response expected: {}",
        reader.leftover().escape_ascii()
    );
    response
}

/// Reads responses with Content-Length bodies one at a time from a connection
/// that stays open, keeping the bytes past each for the next: pipelined
/// answers that arrive in one read are neither lost nor mixed up.
#[derive(Debug, Default)]
pub struct ResponseReader {
    pending: Vec<u8>,
}

impl ResponseReader {
    /// The next response, read from `stream` as far as needed; fails at the
    /// stream's read timeout or if it closes first.
    pub fn next_response(&mut self, stream: &mut TcpStream) -> Response {
        let mut chunk = [0u8; 8192];
        loop {
            if let Some(end) = self.pending.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.pending[..end]).to_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .map_or(0, |v| v.trim().parse().unwrap());
                let whole = end + 4 + len;
                if self.pending.len() >= whole {
                    let response = parse_responses(&self.pending[..whole], false).remove(0);
                    self.pending.drain(..whole);
                    return response;
                }
            }
            let n = stream
                .read(&mut chunk)
                .expect("a response before the timeout");
            assert!(
                n > 0,
                "closed before a full response: {}",
                self.pending.escape_ascii()
            );
            self.pending.extend_from_slice(&chunk[..n]);
        }
    }

    /// What was read past the responses returned so far.
    pub fn leftover(&self) -> &[u8] {
        &self.pending
    }
}

//! The textbook server: the classic socket exercise as students write it, so
//! that compare can show, case by case, what a careful parser prevents. It
//! makes exactly the exercise's mistakes and no others; only compare and the
//! tests start it, on loopback, over compare's sandbox root.
//!
//! Each connection: one read of at most 1024 bytes taken as the whole request,
//! decoded as UTF-8, split on whitespace, the second word with its first
//! character dropped joined to the root, then `HTTP/1.1 200 OK`, a blank line,
//! the file's bytes and a CRLF — or a 404 page — and a close. No method,
//! version, Host or header is looked at; there are no limits and no timeouts.
//! Where the exercise's Python raises anything but an `IOError` (bytes that
//! are not UTF-8, a request with fewer than two words, a NUL in the name, a
//! client gone before the answer), the handler dies: in Part A that is the
//! whole server, in Part B one thread. Each connection's fate is kept in a
//! [`Ledger`] under the client's address, so compare can tell a handler that
//! died on its bytes from one that answered and closed.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The exercise's two parts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// One thread: a slow client blocks everyone, and one crash ends the server.
    A,
    /// A thread per connection, without bound: a crash ends one connection.
    B,
}

impl Part {
    pub fn name(self) -> &'static str {
        match self {
            Part::A => "textbook A",
            Part::B => "textbook B",
        }
    }
}

/// Threads of the textbook server carry this prefix, so their deaths (which
/// are the lesson, not a bug of twinserve's) are counted, not printed.
const THREAD_PREFIX: &str = "textbook-";

/// What the exercise sends for a missing file (and for any `IOError`).
const NOT_FOUND: &[u8] = b"HTTP/1.1 404 Not Found\r\n\r\n\
    <html><head></head><body><h1>404 Not Found</h1></body></html>\r\n";

/// What became of one accepted connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Its handler has not ended yet.
    Running,
    /// The handler returned: it answered (or found nothing to answer) and closed.
    Served,
    /// The handler died; the server still accepts (Part B).
    HandlerDied,
    /// The handler died and took the server with it (Part A).
    ServerDied,
}

/// The fates of one server's connections, by the client's address as the
/// server saw it (the peer address), and whether the server stopped
/// accepting. A cheap handle: clones share the record, which outlives the
/// server, so a fate can be asked after Part A was restarted.
#[derive(Debug, Clone, Default)]
pub struct Ledger(Arc<LedgerInner>);

#[derive(Debug, Default)]
struct LedgerInner {
    fates: Mutex<HashMap<SocketAddr, Fate>>,
    /// The accept loop has ended: nothing more will be accepted.
    stopped: AtomicBool,
}

impl Ledger {
    /// The fate of the connection from `peer`; `None` if it was never accepted.
    pub fn fate(&self, peer: SocketAddr) -> Option<Fate> {
        lock(&self.0.fates).get(&peer).copied()
    }

    /// The fate of the connection from `peer` once its handler has ended, or
    /// what it was when `bound` ran out. A client sees the close a moment
    /// before the handler's end is recorded only if the handler closed the
    /// socket itself; the bound covers that and a connection never accepted.
    pub fn settled_fate(&self, peer: SocketAddr, bound: Duration) -> Option<Fate> {
        let deadline = Instant::now() + bound;
        loop {
            let fate = self.fate(peer);
            let settled = match fate {
                Some(Fate::Running) => false,
                Some(_) => true,
                // Never accepted: final only once nothing more will be.
                None => self.stopped(),
            };
            if settled || Instant::now() >= deadline {
                return fate;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Whether the server's accept loop has ended (Part A after a crash, or a
    /// stopped server).
    pub fn stopped(&self) -> bool {
        self.0.stopped.load(Ordering::SeqCst)
    }

    fn record(&self, peer: SocketAddr, fate: Fate) {
        lock(&self.0.fates).insert(peer, fate);
    }
}

/// State shared between the server's threads and its handle.
struct Shared {
    root: PathBuf,
    stop: AtomicBool,
    /// Handlers that died (panicked): the crashes compare reports.
    crashes: AtomicUsize,
    /// Every accepted connection still open, by number, so that stopping can
    /// end the reads a textbook handler would otherwise wait in forever.
    open: Mutex<HashMap<u64, TcpStream>>,
    ledger: Ledger,
}

impl Shared {
    /// Runs the exercise's handler on connection `id` from `peer`, then
    /// closes it, as Python does when the handler's frame ends, whether it
    /// returned or died. `fatal`: a death ends the server (Part A).
    fn serve(&self, id: u64, peer: SocketAddr, stream: TcpStream, fatal: bool) -> bool {
        let died = std::panic::catch_unwind(|| handle(stream, &self.root)).is_err();
        if died {
            self.crashes.fetch_add(1, Ordering::SeqCst);
        }
        let fate = match (died, fatal) {
            (false, _) => Fate::Served,
            (true, false) => Fate::HandlerDied,
            (true, true) => Fate::ServerDied,
        };
        // Recorded while `open` still holds a clone of the socket: the client
        // sees the close only after its fate is known.
        self.ledger.record(peer, fate);
        lock(&self.open).remove(&id);
        !died
    }
}

/// A running textbook server. Dropping it stops it and joins its threads.
pub struct Textbook {
    addr: SocketAddr,
    part: Part,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
    handlers: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Textbook {
    /// Starts `part` on 127.0.0.1, port 0, serving `root`.
    pub fn start(root: &Path, part: Part) -> io::Result<Textbook> {
        quiet_deaths();
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            root: root.to_path_buf(),
            stop: AtomicBool::new(false),
            crashes: AtomicUsize::new(0),
            open: Mutex::new(HashMap::new()),
            ledger: Ledger::default(),
        });
        let handlers = Arc::new(Mutex::new(Vec::new()));
        let acceptor = {
            let shared = Arc::clone(&shared);
            let handlers = Arc::clone(&handlers);
            std::thread::Builder::new()
                .name(format!("{THREAD_PREFIX}{}", part.name()))
                .spawn(move || {
                    accept_loop(&listener, part, &shared, &handlers);
                    shared.ledger.0.stopped.store(true, Ordering::SeqCst);
                })?
        };
        Ok(Textbook {
            addr,
            part,
            shared,
            acceptor: Some(acceptor),
            handlers,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn part(&self) -> Part {
        self.part
    }

    /// Whether the server still accepts: false once Part A's one thread died.
    /// The ledger's word comes first: the thread ends only after its listener
    /// closed, and a case refused in between must find the server dead, so
    /// that its retry restarts it rather than ask the closed port again.
    pub fn is_alive(&self) -> bool {
        !self.shared.ledger.stopped() && self.acceptor.as_ref().is_some_and(|t| !t.is_finished())
    }

    /// How many handlers have died so far.
    pub fn crashes(&self) -> usize {
        self.shared.crashes.load(Ordering::SeqCst)
    }

    /// The record of what became of each connection, kept after the server stops.
    pub fn ledger(&self) -> Ledger {
        self.shared.ledger.clone()
    }

    /// Stops accepting, ends every open connection and joins every thread.
    pub fn stop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // A blocking accept() only returns for a connection: make one.
        if self.is_alive() {
            let _ = TcpStream::connect(self.addr);
        }
        let open = std::mem::take(&mut *lock(&self.shared.open));
        for stream in open.into_values() {
            let _ = stream.shutdown(std::net::Shutdown::Both);
        }
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        let handlers = std::mem::take(&mut *lock(&self.handlers));
        for handler in handlers {
            let _ = handler.join();
        }
    }
}

impl Drop for Textbook {
    fn drop(&mut self) {
        self.stop();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn accept_loop(
    listener: &TcpListener,
    part: Part,
    shared: &Arc<Shared>,
    handlers: &Arc<Mutex<Vec<JoinHandle<()>>>>,
) {
    for id in 0.. {
        let Ok((stream, peer)) = listener.accept() else {
            continue;
        };
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        if let Ok(clone) = stream.try_clone() {
            lock(&shared.open).insert(id, clone);
        }
        shared.ledger.record(peer, Fate::Running);
        match part {
            // The exercise's one thread: a panic here ends the server.
            Part::A => {
                if !shared.serve(id, peer, stream, true) {
                    return;
                }
            }
            Part::B => {
                let shared = Arc::clone(shared);
                let spawned = std::thread::Builder::new()
                    .name(format!("{THREAD_PREFIX}handler"))
                    .spawn(move || {
                        shared.serve(id, peer, stream, false);
                    });
                if let Ok(handler) = spawned {
                    let mut handlers = lock(handlers);
                    handlers.retain(|h| !h.is_finished());
                    handlers.push(handler);
                }
            }
        }
    }
}

/// One connection, as the exercise handles it. Every `unwrap` and `expect`
/// stands for an exception the exercise's Python does not catch.
fn handle(mut stream: TcpStream, root: &Path) {
    let mut buffer = [0u8; 1024];
    let n = stream.read(&mut buffer).expect("recv");
    let message = std::str::from_utf8(&buffer[..n]).expect("decode");
    let filename = message.split_whitespace().nth(1).expect("split()[1]");
    // `filename[1:]`: the leading `/` dropped, whatever the name holds, and
    // joined as it is: `..` climbs, and a second `/` makes it absolute.
    let name: String = filename.chars().skip(1).collect();
    assert!(!name.contains('\0'), "embedded null byte");
    match std::fs::read(root.join(&name)) {
        Ok(content) => {
            stream.write_all(b"HTTP/1.1 200 OK\r\n\r\n").expect("send");
            stream.write_all(&content).expect("send");
            stream.write_all(b"\r\n").expect("send");
        }
        Err(_) => stream.write_all(NOT_FOUND).expect("send"),
    }
    // The socket closes here without a word: no Content-Length, no
    // `Connection: close`, and whatever else the client sent is unread.
}

/// Installs, once, a panic hook that stays silent for textbook threads and
/// hands every other panic to the hook that was there before.
fn quiet_deaths() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let textbook = std::thread::current()
                .name()
                .is_some_and(|name| name.starts_with(THREAD_PREFIX));
            if !textbook {
                previous(info);
            }
        }));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("root")).unwrap();
        std::fs::write(dir.path().join("root/page.html"), "<p>page</p>").unwrap();
        std::fs::write(dir.path().join("secret.txt"), "SECRET").unwrap();
        dir
    }

    fn exchange(addr: SocketAddr, bytes: &[u8]) -> io::Result<Vec<u8>> {
        let mut stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        stream.write_all(bytes)?;
        let mut out = Vec::new();
        stream.read_to_end(&mut out)?;
        Ok(out)
    }

    #[test]
    fn serves_a_file_and_the_disk_beyond_it() {
        let dir = site();
        let server = Textbook::start(&dir.path().join("root"), Part::B).unwrap();
        let addr = server.local_addr();
        let page = exchange(addr, b"GET /page.html HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        assert_eq!(page, b"HTTP/1.1 200 OK\r\n\r\n<p>page</p>\r\n");
        // The method is never read.
        let delete = exchange(addr, b"DELETE /page.html HTTP/1.1\r\n\r\n").unwrap();
        assert!(delete.starts_with(b"HTTP/1.1 200 OK"));
        let missing = exchange(addr, b"GET /nope HTTP/1.1\r\n\r\n").unwrap();
        assert_eq!(missing, NOT_FOUND);
        let climbed = exchange(addr, b"GET /../secret.txt HTTP/1.1\r\n\r\n").unwrap();
        assert!(climbed.ends_with(b"SECRET\r\n"));
        let secret = dir.path().join("secret.txt");
        let absolute = format!("GET /{} HTTP/1.1\r\n\r\n", secret.display());
        let anywhere = exchange(addr, absolute.as_bytes()).unwrap();
        assert!(anywhere.ends_with(b"SECRET\r\n"));
        assert_eq!(server.crashes(), 0);
    }

    #[test]
    fn part_a_dies_on_bytes_it_cannot_decode_and_part_b_does_not() {
        let dir = site();
        let root = dir.path().join("root");
        let mut a = Textbook::start(&root, Part::A).unwrap();
        let b = Textbook::start(&root, Part::B).unwrap();
        for server in [&a, &b] {
            // Nothing comes back: the handler died before answering.
            let answer = exchange(server.local_addr(), b"\x16\x03\x01\x00\xff").unwrap_or_default();
            assert!(answer.is_empty(), "{}", answer.escape_ascii());
        }
        // Part A's only thread is gone; Part B still serves.
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while a.is_alive() && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
        assert!(!a.is_alive());
        assert_eq!(a.crashes(), 1);
        assert!(exchange(b.local_addr(), b"GET /page.html HTTP/1.0\r\n\r\n").is_ok());
        let deadline = std::time::Instant::now() + Duration::from_secs(2);
        while b.crashes() == 0 && std::time::Instant::now() < deadline {
            std::thread::yield_now();
        }
        assert_eq!(b.crashes(), 1);
        assert!(b.is_alive());
        a.stop();
    }

    /// Sends `bytes` and reads to the end; returns the client's own address.
    fn exchange_from(addr: SocketAddr, bytes: &[u8]) -> SocketAddr {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(2)))
            .unwrap();
        stream.write_all(bytes).unwrap();
        let _ = stream.read_to_end(&mut Vec::new());
        stream.local_addr().unwrap()
    }

    #[test]
    fn the_ledger_names_the_connection_whose_handler_died() {
        let dir = site();
        let root = dir.path().join("root");
        let bound = Duration::from_millis(500);
        let b = Textbook::start(&root, Part::B).unwrap();
        let served = exchange_from(b.local_addr(), b"GET /page.html HTTP/1.1\r\n\r\n");
        let died = exchange_from(b.local_addr(), b"\x16\x03\x01\x00\xff");
        let ledger = b.ledger();
        assert_eq!(ledger.settled_fate(served, bound), Some(Fate::Served));
        assert_eq!(ledger.settled_fate(died, bound), Some(Fate::HandlerDied));
        assert!(!ledger.stopped());

        let a = Textbook::start(&root, Part::A).unwrap();
        let ledger = a.ledger();
        let died = exchange_from(a.local_addr(), b"\x16\x03\x01\x00\xff");
        assert_eq!(ledger.settled_fate(died, bound), Some(Fate::ServerDied));
        // The record outlives the server, and a stranger was never accepted.
        drop(a);
        assert!(ledger.stopped());
        assert_eq!(ledger.fate(died), Some(Fate::ServerDied));
        assert_eq!(ledger.settled_fate(b.local_addr(), bound), None);
    }

    #[test]
    fn stop_ends_a_connection_that_never_speaks() {
        let dir = site();
        let mut server = Textbook::start(&dir.path().join("root"), Part::B).unwrap();
        let idle = TcpStream::connect(server.local_addr()).unwrap();
        // Bounded by the handler's own end: stop() shuts the socket down.
        server.stop();
        drop(idle);
        assert!(!server.is_alive());
    }
}

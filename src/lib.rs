//! twinserve serves a folder of static files over HTTP/1.1 with one of two
//! interchangeable backends — `raw` (hand-written, `std::net` and threads) and
//! `hyper` (hyper 1.x on tokio) — and carries a threaded client to load them.
//!
//! This module holds what every caller shares: [`Backend`], the one [`Config`]
//! the backends receive, the named [`limits`], and [`spawn`], which starts a
//! backend on a bound listener and returns a [`ServerHandle`]. `serve`,
//! `client --backend` and the tests all start servers through `spawn`.

pub mod client;
pub mod compare;
pub mod docroot;
pub mod hyper;
pub mod introspection;
pub mod raw;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::watch;

use crate::docroot::DocRoot;

/// Which HTTP implementation answers the socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Backend {
    /// Hand-written parser and connection handling on `std::net` and a thread pool.
    Raw,
    /// hyper 1.x HTTP/1 connections on a tokio runtime.
    Hyper,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Raw => "raw",
            Backend::Hyper => "hyper",
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The bounds that keep one client from holding more than its share. Each is a
/// default for the matching [`Limits`] field; all are overridable through `Config`.
pub mod limits {
    use std::time::Duration;

    /// Whole request head (request line + fields). Browsers with large cookie
    /// jars send 8–16 KiB; 64 KiB turns none of them away, yet a client cannot
    /// make a worker buffer more than this per connection.
    pub const MAX_HEAD_BYTES: usize = 64 * 1024;
    /// Header field lines per request; hyper's default, so both backends agree.
    pub const MAX_HEADERS: usize = 100;
    /// Request line. RFC 9112 §3 recommends supporting at least 8000 octets.
    pub const MAX_REQUEST_LINE: usize = 8 * 1024;
    /// Time from the first byte of a request to the end of its head. Long
    /// enough for a human typing into `nc`, short enough to end slowloris.
    pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
    /// How long a keep-alive connection may sit idle between requests: long
    /// enough for a browser's next click to reuse it, short enough that idle
    /// clients return their descriptors and buffers soon.
    pub const IDLE_TIMEOUT: Duration = Duration::from_secs(5);
    /// Longest a single socket write may block on a client that stopped reading.
    pub const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
    /// Requests on one connection before the server closes it (nginx's
    /// `keepalive_requests` default): bounds what one connection can hold
    /// over its life, at the cost of one reconnect per thousand requests.
    pub const MAX_REQUESTS_PER_CONNECTION: usize = 1000;
    /// Simultaneous connections a server accepts before it waits for one to close.
    pub const MAX_CONNECTIONS: usize = 10_000;
    /// Connections the raw backend queues for a free worker before it answers 503.
    pub const RAW_QUEUE: usize = 1024;
    /// Connections the kernel may hold for `accept()`. std's `bind` asks for
    /// 128, and a burst beyond it loses SYNs that clients retry only after a
    /// second; nginx asks for 511. The kernel caps it at `net.core.somaxconn`.
    pub const LISTEN_BACKLOG: i32 = 1024;
    /// Time given to in-flight responses at shutdown before they are cut.
    pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
}

/// Limits on what one client may make the server hold; see [`limits`] for why
/// each default has the value it has.
#[derive(Debug, Clone)]
pub struct Limits {
    pub max_head_bytes: usize,
    pub max_headers: usize,
    pub max_request_line: usize,
    pub head_timeout: Duration,
    pub idle_timeout: Duration,
    pub write_timeout: Duration,
    pub max_requests_per_connection: usize,
    pub max_connections: usize,
    pub raw_queue: usize,
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_bytes: limits::MAX_HEAD_BYTES,
            max_headers: limits::MAX_HEADERS,
            max_request_line: limits::MAX_REQUEST_LINE,
            head_timeout: limits::HEAD_TIMEOUT,
            idle_timeout: limits::IDLE_TIMEOUT,
            write_timeout: limits::WRITE_TIMEOUT,
            max_requests_per_connection: limits::MAX_REQUESTS_PER_CONNECTION,
            max_connections: limits::MAX_CONNECTIONS,
            raw_queue: limits::RAW_QUEUE,
            shutdown_grace: limits::SHUTDOWN_GRACE,
        }
    }
}

/// Size of each piece a file body is read and written in, per backend, as
/// measured on S3/S4 (docs/benchmarks.md). hyper's 256 KiB beat 64 KiB. For
/// raw, 256 KiB was no faster than 64 KiB side by side but raised peak RSS
/// from about 10 to 16 MB: a piece is freed when its connection parks, and
/// freed pieces stay in the workers' allocator arenas. Each connection
/// sending a file holds about one piece.
pub const fn default_chunk_size(backend: Backend) -> usize {
    match backend {
        Backend::Raw => 64 * 1024,
        Backend::Hyper => 256 * 1024,
    }
}

/// Everything a backend needs, built once from the command line (or by a test).
/// No backend reads the command line or the environment itself.
#[derive(Debug, Clone)]
pub struct Config {
    pub root: PathBuf,
    pub addr: SocketAddr,
    /// Worker threads: the raw pool's size, or tokio's worker threads.
    pub threads: usize,
    /// Bytes per file read and write; 0: [`default_chunk_size`].
    pub chunk_size: usize,
    /// Serve one connection, then close the listener and stop.
    pub once: bool,
    /// Echo every request head to stdout as received.
    pub print_requests: bool,
    /// How docroot serves: caching, precompressed files, listings, hidden files, symlinks.
    pub docroot: docroot::Options,
    /// Answer every request with the request as this backend parsed it, as
    /// JSON (see [`docroot::Reply::introspection`]). For `compare` and tests
    /// only: `serve` never sets it.
    pub introspect: bool,
    pub limits: Limits,
}

impl Config {
    /// A config for `root` on `127.0.0.1`, port 0 (the OS picks a free port).
    pub fn new(root: impl Into<PathBuf>) -> Config {
        Config {
            root: root.into(),
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            threads: 0,
            chunk_size: 0,
            once: false,
            print_requests: false,
            docroot: docroot::Options::default(),
            introspect: false,
            limits: Limits::default(),
        }
    }

    /// Bytes per file read and write for `backend`: `chunk_size`, or when it
    /// is 0 the backend's [`default_chunk_size`].
    pub fn chunk_size_for(&self, backend: Backend) -> usize {
        match self.chunk_size {
            0 => default_chunk_size(backend),
            n => n,
        }
    }

    /// Threads for `backend` when `threads` is 0: the raw backend needs one per
    /// connection being read or written (idle ones park without one), the
    /// hyper backend one per core.
    pub fn threads_for(&self, backend: Backend) -> usize {
        match (self.threads, backend) {
            (0, Backend::Raw) => 128,
            (0, Backend::Hyper) => std::thread::available_parallelism().map_or(2, |n| n.get()),
            (n, _) => n,
        }
    }
}

/// A backend's view of the stop request: cheap to clone, checked by sync code
/// with [`Shutdown::is_requested`] and awaited by async code.
#[derive(Debug, Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    pub fn is_requested(&self) -> bool {
        *self.0.borrow()
    }

    pub async fn requested(&mut self) {
        // An error means the sender is gone, which also means "stop".
        let _ = self.0.wait_for(|stop| *stop).await;
    }
}

/// Asks a running server to stop; clonable so a signal thread can hold one.
#[derive(Debug, Clone)]
pub struct Stopper {
    tx: Arc<watch::Sender<bool>>,
    backend: Backend,
    addr: SocketAddr,
}

impl Stopper {
    pub fn stop(&self) {
        if self.tx.send_replace(true) {
            return;
        }
        // The raw backend sits in a blocking accept(); a connection of our own
        // is the portable way to wake it so it sees the flag.
        if self.backend == Backend::Raw {
            let mut wake = self.addr;
            if wake.ip().is_unspecified() {
                wake.set_ip(match wake {
                    SocketAddr::V4(_) => [127, 0, 0, 1].into(),
                    SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
                });
            }
            let _ = TcpStream::connect_timeout(&wake, Duration::from_secs(1));
        }
    }
}

static PANICS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// How many connection handlers have panicked in this process, in either
/// backend. Each panic costs its connection only (workers and tasks carry
/// on), but every one is a bug: the fault tests assert this stays 0.
pub fn panics() -> usize {
    PANICS.load(std::sync::atomic::Ordering::SeqCst)
}

pub(crate) fn note_panic() {
    PANICS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    tracing::error!("a connection handler panicked; only its connection was lost");
}

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Root(#[from] docroot::RootError),
    #[error("cannot start the {backend} backend: {source}")]
    Start {
        backend: Backend,
        source: std::io::Error,
    },
}

/// A running server. Dropping it stops the server and joins its threads.
pub struct ServerHandle {
    addr: SocketAddr,
    stopper: Stopper,
    thread: Option<JoinHandle<std::io::Result<()>>>,
}

impl ServerHandle {
    /// The address the listener is bound to (the real port when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn stopper(&self) -> Stopper {
        self.stopper.clone()
    }

    /// Blocks until the server stops, by itself or through a [`Stopper`].
    pub fn wait(mut self) -> std::io::Result<()> {
        self.join()
    }

    /// Stops accepting, lets responses in flight finish (within the grace
    /// period), and joins every thread.
    pub fn shutdown(mut self) -> std::io::Result<()> {
        self.stopper.stop();
        self.join()
    }

    fn join(&mut self) -> std::io::Result<()> {
        match self.thread.take() {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("server thread panicked"))),
            None => Ok(()),
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stopper.stop();
        let _ = self.join();
    }
}

/// A listening socket as `TcpListener::bind` makes one (SO_REUSEADDR, so a
/// restart does not wait out TIME_WAIT), with a deeper accept queue, and with
/// the options every accepted socket needs set once here: Linux copies them
/// into each socket `accept` returns, which saves three `setsockopt` calls per
/// connection (`tests::accepted_sockets_inherit_the_listeners_options`).
/// - `TCP_NODELAY`: Nagle would hold a body's first segment behind the head's
///   until the client's delayed ACK, 40 ms per response.
/// - receive and send timeouts, for the raw backend's blocking sockets: the
///   idle keep-alive time (its first read waits for a request) and the
///   write timeout. Non-blocking sockets, hyper's, ignore both.
fn bind(addr: SocketAddr, limits: &Limits) -> std::io::Result<TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    socket.set_tcp_nodelay(true)?;
    socket.set_read_timeout(Some(limits.idle_timeout))?;
    socket.set_write_timeout(Some(limits.write_timeout))?;
    socket.bind(&addr.into())?;
    socket.listen(limits::LISTEN_BACKLOG)?;
    Ok(socket.into())
}

/// Binds `config.addr`, checks the root, and starts `backend` on its own thread.
pub fn spawn(backend: Backend, config: Config) -> Result<ServerHandle, StartError> {
    let docroot = Arc::new(
        DocRoot::open(&config.root, config.docroot.clone())?
            .with_max_target_len(config.limits.max_request_line),
    );
    let listener = bind(config.addr, &config.limits).map_err(|source| StartError::Bind {
        addr: config.addr,
        source,
    })?;
    let start_err = |source| StartError::Start { backend, source };
    let addr = listener.local_addr().map_err(start_err)?;
    let (tx, rx) = watch::channel(false);
    let shutdown = Shutdown(rx);
    let thread = std::thread::Builder::new()
        .name(format!("twinserve-{backend}"))
        .spawn(move || match backend {
            Backend::Raw => raw::run(listener, &config, docroot, shutdown),
            Backend::Hyper => hyper::run(listener, &config, docroot, shutdown),
        })
        .map_err(start_err)?;
    Ok(ServerHandle {
        addr,
        stopper: Stopper {
            tx: Arc::new(tx),
            backend,
            addr,
        },
        thread: Some(thread),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_sockets_inherit_the_listeners_options() {
        let limits = Limits {
            idle_timeout: Duration::from_millis(1_500),
            write_timeout: Duration::from_millis(2_500),
            ..Limits::default()
        };
        let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0)), &limits).unwrap();
        let _client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        let accepted = socket2::SockRef::from(&accepted);
        assert!(accepted.tcp_nodelay().unwrap());
        assert_eq!(accepted.read_timeout().unwrap(), Some(limits.idle_timeout));
        assert_eq!(
            accepted.write_timeout().unwrap(),
            Some(limits.write_timeout)
        );
    }
}

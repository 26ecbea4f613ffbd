//! What a backend is told: which one ([`Backend`]), the one [`Config`] it
//! receives, and the [`Limits`] with their named defaults in [`limits`]. Built
//! once by the command line or a test; no backend reads the environment.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::Duration;

use crate::{docroot, raw};

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
            shutdown_grace: limits::SHUTDOWN_GRACE,
        }
    }
}

/// Size of each piece a file body is sent in, the same for both backends.
/// Over TLS or HTTP/2 hyper reads each piece into memory, so a sending
/// connection holds about one. raw, and hyper on plain HTTP/1, hand each to
/// `sendfile(2)`, which needs no buffer of ours; raw corks an answer until its
/// first piece is out, so the piece also bounds how long a large answer stays
/// corked. Over loopback 64 KiB pieces cost a large file less CPU than 256 KiB
/// ones, both ends counted, and far less of the sending core's
/// (docs/benchmarks.md, "The piece size, measured again").
pub const fn default_chunk_size(backend: Backend) -> usize {
    match backend {
        Backend::Raw | Backend::Hyper => 64 * 1024,
    }
}

/// Largest file a backend's docroot keeps in memory, with the inotify
/// watches that keep it fresh. Past it, the cache keeps a file open instead
/// (where it may: not one reached through a symlink, with precompressed
/// siblings or on a network file system, nor past its bound of open files),
/// and each answer sends it: with `sendfile`, which copies nothing, by raw
/// and by hyper on plain HTTP/1; read and copied by hyper over TLS or
/// HTTP/2, which keeps bigger files in memory for that. hyper on plain
/// HTTP/1 keeps files up to where copying one from memory costs what sending
/// it does (docs/benchmarks.md).
pub const fn memory_file_limit(backend: Backend, copies_files: bool) -> u64 {
    match backend {
        Backend::Raw => 64 * 1024,
        Backend::Hyper if copies_files => 1024 * 1024,
        Backend::Hyper => 256 * 1024,
    }
}

/// Everything a backend needs, built once from the command line (or by a test).
/// No backend reads the command line or the environment itself.
#[derive(Debug, Clone)]
pub struct Config {
    pub root: PathBuf,
    pub addr: SocketAddr,
    /// Worker threads: the raw pool's size, or tokio's worker threads;
    /// `None`: the backend's own default ([`Config::threads_for`]).
    pub threads: Option<NonZeroUsize>,
    /// Bytes per piece of a file body; `None`: [`default_chunk_size`].
    pub chunk_size: Option<NonZeroUsize>,
    /// Serve one connection, then close the listener and stop.
    pub once: bool,
    /// Echo every request head to stdout as received.
    pub print_requests: bool,
    /// How docroot serves: caching, precompressed files, listings, hidden files, symlinks.
    pub docroot: docroot::Options,
    /// What only the raw backend is told: its queue for a free worker.
    pub raw: raw::Options,
    /// What only the hyper backend is told: TLS, HTTP/2, HSTS.
    pub hyper: crate::HyperOptions,
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
            threads: None,
            chunk_size: None,
            once: false,
            print_requests: false,
            docroot: docroot::Options::default(),
            raw: raw::Options::default(),
            hyper: crate::HyperOptions::default(),
            introspect: false,
            limits: Limits::default(),
        }
    }

    /// Bytes per piece of a file body for `backend`: `chunk_size`, or the
    /// backend's [`default_chunk_size`].
    pub fn chunk_size_for(&self, backend: Backend) -> usize {
        self.chunk_size
            .map_or(default_chunk_size(backend), NonZeroUsize::get)
    }

    /// Threads for `backend`: `threads`, or the backend's default. The raw
    /// backend needs one per connection being read or written (idle ones park
    /// without one), the hyper backend one per core.
    pub fn threads_for(&self, backend: Backend) -> usize {
        match (self.threads, backend) {
            (Some(n), _) => n.get(),
            (None, Backend::Raw) => 128,
            (None, Backend::Hyper) => std::thread::available_parallelism().map_or(2, |n| n.get()),
        }
    }
}

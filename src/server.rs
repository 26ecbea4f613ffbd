//! Starting and stopping a server: [`spawn`] binds the listener, opens the
//! root and runs a backend on its own thread; the [`ServerHandle`] it returns
//! gives the bound address and a clean shutdown. Also the panic counter both
//! backends report to.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;

use tokio::sync::watch;

use crate::docroot::{self, DocRoot};
use crate::{Backend, Config, Limits, hyper, limits, raw};

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
    /// What the backend needs done, beyond the flag, to notice it.
    wake: Option<fn(SocketAddr)>,
    addr: SocketAddr,
}

impl Stopper {
    pub fn stop(&self) {
        if self.tx.send_replace(true) {
            return;
        }
        if let Some(wake) = self.wake {
            wake(self.addr);
        }
    }
}

/// A backend's word that it has started: its runtime, threads and listener
/// are in place and it is about to accept. Dropped unsaid, the backend failed
/// to start; either way [`spawn`] returns then.
pub(crate) struct Started(std::sync::mpsc::SyncSender<()>);

impl Started {
    pub(crate) fn say(self) {
        let _ = self.0.send(());
    }
}

static PANICS: AtomicUsize = AtomicUsize::new(0);

/// How many connection handlers have panicked in this process, in either
/// backend. Each panic costs its connection only (workers and tasks carry
/// on), but every one is a bug: the fault tests assert this stays 0.
pub fn panics() -> usize {
    PANICS.load(Ordering::SeqCst)
}

pub(crate) fn note_panic() {
    PANICS.fetch_add(1, Ordering::SeqCst);
    tracing::error!("a connection handler panicked; only its connection was lost");
}

static CUTS: AtomicUsize = AtomicUsize::new(0);

/// How many times, in this process, a server has had to cut responses still
/// in flight at the end of its shutdown grace; `serve` exits 1 when it did.
pub fn cuts() -> usize {
    CUTS.load(Ordering::SeqCst)
}

/// Called by a backend that closes connections with responses unfinished.
pub(crate) fn note_cut() {
    CUTS.fetch_add(1, Ordering::SeqCst);
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
    /// Kept to write out its access log once the backend has stopped.
    docroot: Arc<DocRoot>,
    stopper: Stopper,
    thread: Option<JoinHandle<std::io::Result<()>>>,
    poller_answers: Arc<AtomicUsize>,
}

impl ServerHandle {
    /// The address the listener is bound to (the real port when 0 was asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Answers this server's raw poller sent itself (always 0 for hyper):
    /// how the tests know that fast path is taken, not merely harmless.
    pub fn poller_answers(&self) -> usize {
        self.poller_answers.load(Ordering::Relaxed)
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
        let result = match self.thread.take() {
            Some(thread) => thread
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("server thread panicked"))),
            None => Ok(()),
        };
        // Every response has been logged by now: nothing is lost at exit.
        if let Some(log) = self.docroot.access_log() {
            log.close();
        }
        result
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.stopper.stop();
        let _ = self.join();
    }
}

/// Unsent bytes past which a socket takes no more (`TCP_NOTSENT_LOWAT`).
/// Unbounded, the kernel's default, a file's pieces were queued as fast as
/// they were cut and the sending happened on the server's CPU while the
/// client's idled: 1 MiB answers went out at half lighttpd's rate, or less
/// ("The unsent backlog" in docs/benchmarks.md).
pub const UNSENT_LOW_WATER: u32 = 16 * 1024;

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
/// - `TCP_NOTSENT_LOWAT`: a send stops taking bytes, and the socket stops
///   polling writable, while [`UNSENT_LOW_WATER`] bytes wait unsent. What is
///   in flight is not bounded, only the backlog behind it, so a file goes out
///   as fast as the peer takes it, without megabytes queued in the kernel.
fn bind(addr: SocketAddr, limits: &Limits) -> std::io::Result<TcpListener> {
    let socket = socket2::Socket::new(
        socket2::Domain::for_address(addr),
        socket2::Type::STREAM,
        Some(socket2::Protocol::TCP),
    )?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        // `::` means every address, IPv4 ones too (as `::ffff:a.b.c.d`),
        // where the OS allows it; where it does not, IPv6 alone.
        let _ = socket.set_only_v6(false);
    }
    socket.set_tcp_nodelay(true)?;
    socket.set_tcp_notsent_lowat(UNSENT_LOW_WATER)?;
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
            .with_max_target_len(config.limits.max_request_line)
            .with_memory_files(crate::config::memory_file_limit(
                backend,
                config.hyper.tls.is_some() || config.hyper.http2_prior_knowledge,
            ))
            // hyper dates each answer that has no `Date` from a clock it
            // formats once a second: the same value, one field fewer to copy.
            .with_writer_dates(backend == Backend::Hyper),
    );
    let listener = bind(config.addr, &config.limits).map_err(|source| StartError::Bind {
        addr: config.addr,
        source,
    })?;
    let start_err = |source| StartError::Start { backend, source };
    let addr = listener.local_addr().map_err(start_err)?;
    let (tx, rx) = watch::channel(false);
    let shutdown = Shutdown(rx);
    // Each backend brings its own way to notice the stop flag: raw sits in a
    // blocking accept() that must be woken; hyper awaits the flag itself.
    let wake: Option<fn(SocketAddr)> = match backend {
        Backend::Raw => Some(raw::wake_accept),
        Backend::Hyper => None,
    };
    let backend_docroot = Arc::clone(&docroot);
    let poller_answers = Arc::new(AtomicUsize::new(0));
    let backend_poller_answers = Arc::clone(&poller_answers);
    let (started, has_started) = std::sync::mpsc::sync_channel(1);
    let started = Started(started);
    let thread = std::thread::Builder::new()
        .name(format!("twinserve-{backend}"))
        .spawn(move || match backend {
            Backend::Raw => raw::run(
                listener,
                &config,
                backend_docroot,
                shutdown,
                backend_poller_answers,
                started,
            ),
            Backend::Hyper => hyper::run(listener, &config, backend_docroot, shutdown, started),
        })
        .map_err(start_err)?;
    // The backend's start-up is over when this returns (`serve` then lets
    // go of the pages only start-up used); the listener queues clients meanwhile.
    if has_started.recv().is_err() {
        // Ended without a word: it failed to start.
        let source = match thread.join() {
            Ok(Err(e)) => e,
            Ok(Ok(())) => std::io::Error::other("the backend ended as it started"),
            Err(_) => std::io::Error::other("the backend panicked as it started"),
        };
        return Err(start_err(source));
    }
    // The word wakes this thread while the backend is still sending it; waiting
    // until the backend lets go of its end (`recv` then fails) leaves only the
    // last steps of that letting go to run after `serve` drops the pages.
    let _ = has_started.recv();
    Ok(ServerHandle {
        addr,
        docroot,
        stopper: Stopper {
            tx: Arc::new(tx),
            wake,
            addr,
        },
        thread: Some(thread),
        poller_answers,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

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
        assert_eq!(accepted.tcp_notsent_lowat().unwrap(), UNSENT_LOW_WATER);
        assert_eq!(accepted.read_timeout().unwrap(), Some(limits.idle_timeout));
        assert_eq!(
            accepted.write_timeout().unwrap(),
            Some(limits.write_timeout)
        );
    }
}

//! The raw backend: HTTP/1.1 by hand on `std::net` — a blocking accept loop, a
//! bounded pool of worker threads (`pool`) that each serve one connection at
//! a time (`connection`), a head reader (`reader`) over a hand-written
//! parser ([`request`]), a response writer (`response`), and the rules for
//! closing (`closing`). The Linux-specific calls live in `sys`.
//!
//! A worker holds a connection only while it answers a whole request head
//! and writes the response. Until a head has all arrived — a new
//! connection's first one, the next one on a keep-alive connection, one that
//! trickles in — the connection waits in `parking`, one epoll set and one
//! thread for all of them; that thread answers a cached file itself when the
//! answer goes out at once, and hands every other head to a worker. So
//! `--threads` bounds the requests being answered, not the clients
//! connected, and slow clients cannot take the workers. The
//! next [`Options::queue`] connections with a whole head wait in a queue;
//! beyond that a new client gets a fast 503 instead of an unbounded wait.

mod closing;
mod connection;
mod parking;
mod pool;
mod reader;
pub mod request;
mod response;
mod sys;

use std::collections::HashMap;
use std::io;
use std::net::{Shutdown as SocketShutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::docroot::DocRoot;
use crate::server::Started;
use crate::{Backend, Config, Shutdown};
use connection::{Answered, Connection, Context, Turn};
use parking::Parking;
use pool::WorkerPool;
use reader::{Gathered, HeadBudget};

/// Connections queued for a free worker before a new client gets a fast 503:
/// deep enough to absorb a burst while every worker is busy, shallow enough
/// that a client waits a moment rather than until its own timeout.
pub const QUEUE: usize = 1024;

/// Bytes of large request heads all connections may hold at once, beyond
/// each one's first 2 KiB (see `reader::HeadBudget`): 512 heads at the 64 KiB
/// head limit. A head that needs more while it is used up gets a 503.
pub const HEAD_BUDGET: usize = 32 * 1024 * 1024;

/// What only the raw backend is told, beside the shared [`Config`].
#[derive(Debug, Clone)]
pub struct Options {
    /// Connections that wait for a free worker; see [`QUEUE`].
    pub queue: usize,
    /// Room for large heads still arriving; see [`HEAD_BUDGET`].
    pub head_budget: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            queue: QUEUE,
            head_budget: HEAD_BUDGET,
        }
    }
}

/// Wakes a server's blocking `accept()` so it sees the stop flag: a
/// connection of our own is the portable way. [`crate::spawn`] hands this to
/// the server's `Stopper`.
pub(crate) fn wake_accept(mut addr: SocketAddr) {
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            SocketAddr::V4(_) => [127, 0, 0, 1].into(),
            SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let _ = TcpStream::connect_timeout(&addr, Duration::from_secs(1));
}

/// `--once` counts a request, not a connection: a connection that closes
/// without one (nothing sent, or only empty lines), or sits idle, does not use
/// it up. The first request to reach docroot is the one, and the listener
/// stops listening before it is answered, so a client that sends a second
/// request after reading the answer (a page's stylesheet) is refused by the
/// kernel; a request that arrives later on a connection already open gets no
/// answer, as from a server that has stopped.
#[derive(Debug)]
pub struct Once {
    listener: Arc<TcpListener>,
    /// 1 + the registration id of the connection whose request is the one;
    /// 0 while none is.
    claimed_by: AtomicU64,
}

impl Once {
    /// Whether the request just read on connection `id` is the one.
    pub fn claim(&self, id: u64) -> bool {
        if self
            .claimed_by
            .compare_exchange(0, id + 1, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return false;
        }
        // On Linux, shutting a listening socket ends the listen: new clients
        // are refused, and the accept loop's blocked accept() wakes with an error.
        let _ = rustix::net::shutdown(&*self.listener, rustix::net::Shutdown::Read);
        true
    }

    /// The connection whose request is the one, once there is one.
    fn claimed(&self) -> Option<u64> {
        self.claimed_by.load(Ordering::Acquire).checked_sub(1)
    }
}

/// Serves `listener` until `shutdown` is requested (or, with `config.once`,
/// until one request has been served). Then stops accepting, lets responses
/// in flight finish within the grace period, and joins every worker.
pub(crate) fn run(
    listener: TcpListener,
    config: &Config,
    docroot: Arc<DocRoot>,
    shutdown: Shutdown,
    poller_answers: Arc<AtomicUsize>,
    started: Started,
) -> io::Result<()> {
    let listener = Arc::new(listener);
    let ctx = Arc::new(Context {
        docroot,
        limits: config.limits.clone(),
        chunk_size: config.chunk_size_for(Backend::Raw),
        print_requests: config.print_requests,
        once: config.once.then(|| Once {
            listener: Arc::clone(&listener),
            claimed_by: AtomicU64::new(0),
        }),
        introspect: config.introspect,
        head_budget: HeadBudget::new(config.raw.head_budget),
        poller_answers,
    });
    let claimed = || ctx.once.as_ref().and_then(Once::claimed);
    let open = Arc::new(OpenConnections::default());
    let parking = Arc::new(Parking::new(config.limits.clone())?);
    let handler_ctx = Arc::clone(&ctx);
    let handler_parking = Arc::clone(&parking);
    let mut pool = WorkerPool::new(
        config.threads_for(Backend::Raw),
        config.raw.queue,
        move |conn: Box<Connection>| match connection::serve(conn, &handler_ctx) {
            Turn::Park(conn) => handler_parking.park(conn),
            Turn::Linger(conn) => handler_parking.linger(conn),
            Turn::Done => {}
        },
    )?;
    let poller = match pool.submitter() {
        Some(workers) => {
            let parking = Arc::clone(&parking);
            let ctx = Arc::clone(&ctx);
            Some(
                std::thread::Builder::new()
                    .name("twinserve-raw-parking".into())
                    .spawn(move || parking.run(workers, &ctx))?,
            )
        }
        None => None,
    };

    // The accept loop's buffer for the answers it sends from memory.
    let mut wire = Vec::new();
    started.say();
    loop {
        // Parked connections need no worker, so without this bound a client
        // could hold descriptors until the process has none left.
        open.wait_below(config.limits.max_connections, &shutdown);
        // accept() rather than incoming(): it hands over the peer's address,
        // which would otherwise cost a getpeername per connection.
        let accepted = listener.accept();
        if shutdown.is_requested() || claimed().is_some() {
            break;
        }
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            // The listener carries the idle timeout as its receive timeout, for
            // accepted sockets to inherit (`server::bind`); on the listener it
            // only means no client came for that long.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                // Out of descriptors: give workers a moment to close some
                // instead of spinning on an accept that keeps failing.
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        let stream = Arc::new(stream);
        // Boxed: it moves between the accept loop, parking and the workers at
        // every request, and a pointer moves for less than the whole of it.
        let mut conn = Box::new(Connection::new(
            Arc::clone(&stream),
            peer,
            open.register(&stream),
            &ctx,
        ));
        // The head is often there already; if not, it is gathered without a
        // worker. A whole one whose answer is in memory gets that one answer
        // here, with a send that does not wait, as the poller would: a
        // hand-off costs more than the answer. Whatever is left (another
        // head, what the socket had no room for) is the workers', or while
        // their queue is full the poller's: this loop never waits on a client.
        let answered = match parking::gather(&mut conn, &config.limits) {
            Gathered::Ready => match ctx.changes_for_memory_answers() {
                Some(seen) => {
                    let mut one = 1;
                    parking::answer_from_memory(conn, &ctx, &seen, &mut wire, &mut one)
                }
                None => Answered::Worker(conn),
            },
            Gathered::Waiting => Answered::Park(conn),
            Gathered::Closed => Answered::Done,
        };
        match answered {
            Answered::Worker(conn) => {
                if let Err(conn) = pool.submit(conn) {
                    if conn.sent_any() {
                        // A 503 would land inside or after an answer.
                        parking.owe(conn);
                    } else {
                        closing::refuse_busy(conn.stream());
                    }
                }
            }
            Answered::Park(conn) => parking.park(conn),
            Answered::Linger(conn) => parking.linger(conn),
            Answered::Done => {}
        }
    }
    // From here on a new client is refused by the kernel (with `--once` the
    // listener is shared, so it is shut as well as dropped).
    let _ = rustix::net::shutdown(&*listener, rustix::net::Shutdown::Read);
    drop(listener);

    // Connections between requests are closed; the ones being read wake with
    // EOF; responses being written are not touched, and each connection
    // closes after its current one. `--once`'s own connection is left alone.
    open.shutdown_all_except(claimed(), SocketShutdown::Read);
    let grace = if claimed().is_some() {
        // `--once` waits for its one connection, which the connection's own
        // timeouts bound.
        config.limits.head_timeout + config.limits.write_timeout
    } else {
        config.limits.shutdown_grace
    };
    // One deadline for the poller's handover and the workers' finish alike.
    let deadline = Instant::now() + grace;
    parking.close_until(deadline);
    if let Some(poller) = poller {
        // It holds a way into the queue, which would keep the workers waiting.
        let _ = poller.join();
    }
    if !pool.drain(deadline) {
        tracing::warn!("responses still in flight after {grace:?}; closing them");
        crate::server::note_cut();
        open.shutdown_all(SocketShutdown::Both);
    }
    drop(pool);
    Ok(())
}

/// Every connection the server holds, so shutdown can wake or cut them.
#[derive(Default)]
struct OpenConnections {
    next_id: AtomicU64,
    streams: Mutex<HashMap<u64, Arc<TcpStream>>>,
    /// Signalled when a connection closes while the accept loop waits.
    closed: Condvar,
    /// The accept loop waits on `closed`; read and written under `streams`'
    /// lock. A signal with no one waiting still costs a futex call.
    full: AtomicBool,
}

impl OpenConnections {
    fn register(self: &Arc<Self>, stream: &Arc<TcpStream>) -> Registration {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(id, Arc::clone(stream));
        Registration {
            id,
            open: Arc::clone(self),
        }
    }

    /// Returns once fewer than `limit` connections are open, or at shutdown.
    fn wait_below(&self, limit: usize, shutdown: &Shutdown) {
        let mut streams = self.lock();
        while streams.len() >= limit && !shutdown.is_requested() {
            self.full.store(true, Ordering::Relaxed);
            // Shutdown does not signal this condvar; a short timeout lets it be seen.
            streams = self
                .closed
                .wait_timeout(streams, Duration::from_millis(100))
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        self.full.store(false, Ordering::Relaxed);
    }

    fn shutdown_all(&self, how: SocketShutdown) {
        self.shutdown_all_except(None, how);
    }

    fn shutdown_all_except(&self, spared: Option<u64>, how: SocketShutdown) {
        for (id, stream) in self.lock().iter() {
            if Some(*id) != spared {
                let _ = stream.shutdown(how);
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<TcpStream>>> {
        self.streams.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Removes its connection from [`OpenConnections`] when the job is done.
struct Registration {
    id: u64,
    open: Arc<OpenConnections>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut streams = self.open.lock();
        streams.remove(&self.id);
        let waiting = self.open.full.load(Ordering::Relaxed);
        drop(streams);
        if waiting {
            self.open.closed.notify_one();
        }
    }
}

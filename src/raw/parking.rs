//! Where the raw backend's connections wait for a whole request head: one
//! epoll set watched by one thread, so a client's think time, or a head that
//! trickles in, costs a socket and a small buffer instead of a worker thread.
//!
//! New connections whose head has not all arrived, and connections a worker
//! has answered everything on, park here. Each time a client's bytes arrive,
//! the poller gathers them (`HeadReader::gather`); once they hold a whole head
//! whose answer is a cached file's of at most 16 KiB, the poller answers it
//! itself with a send that does not wait (a worker sends what the socket had
//! no room for) and the connection stays parked; any other whole head
//! (or one that breaks a rule) sends the connection to the workers' queue — or, while
//! that is full, waits in the poller's own backlog, for the poller never
//! blocks. A connection that stays silent for the idle keep-alive time is
//! closed; one whose head has begun and is not whole within the head timeout
//! gets a 408 and is closed. A connection that has had its last answer
//! lingers here too, while what its client still sends is drained.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc::TrySendError;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::closing;
use super::connection::{self, Answered, Connection, Context};
use super::pool::Submitter;
use super::reader::Gathered;
use super::sys::{self, Events, Poller};
use crate::Limits;

/// Events taken from the kernel per wait; more simply wait for the next round.
const EVENTS_PER_WAIT: usize = 256;

/// How soon the poller tries its backlog again while the workers' queue is full.
const BACKLOG_RETRY: Duration = Duration::from_millis(1);

/// Idle connections are looked for at most this often (each look walks every
/// parked connection), so one may be closed up to this much after its time.
const SWEEP_EVERY: Duration = Duration::from_millis(100);

/// The parked connections and the poller that watches them.
pub struct Parking {
    poller: Poller,
    limits: Limits,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    parked: HashMap<u64, Parked, BuildHasherDefault<IdHasher>>,
    /// No parked connection's idle time ends before this.
    next_expiry: Option<Instant>,
    /// When the poller's current wait ends by itself (`None`: only on an event).
    poller_wakes: Option<Instant>,
    closed: bool,
}

/// Hashes the registration ids that key the parked map: the server counts
/// them out itself, so no client can choose them, and SipHash's defence
/// against chosen keys would cost every request for nothing.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(self.0 ^ u64::from(b));
        }
    }

    fn write_u64(&mut self, id: u64) {
        // Fibonacci hashing: consecutive ids spread over every bit.
        self.0 = id.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

struct Parked {
    conn: Box<Connection>,
    deadline: Instant,
}

impl Parking {
    pub fn new(limits: Limits) -> io::Result<Parking> {
        Ok(Parking {
            poller: Poller::new()?,
            limits,
            state: Mutex::default(),
        })
    }

    /// Holds `conn` until its client has sent a whole head (back to the
    /// workers), or until the head timeout of a head that has begun, else the
    /// idle time from now, has passed (closed). After [`Parking::close`],
    /// closes it at once.
    pub fn park(&self, conn: Box<Connection>) {
        let deadline = conn
            .head_deadline()
            .unwrap_or_else(|| Instant::now() + self.limits.idle_timeout);
        self.park_until(conn, deadline);
    }

    /// Holds `conn`, answered and half-closed, while what its client still
    /// sends is drained, up to `closing::LINGER_TIME`; then closes it.
    pub fn linger(&self, conn: Box<Connection>) {
        self.park_until(conn, Instant::now() + closing::LINGER_TIME);
    }

    fn park_until(&self, mut conn: Box<Connection>, deadline: Instant) {
        let stream = Arc::clone(conn.stream());
        let id = conn.registration.id;
        let again = std::mem::replace(&mut conn.parked_before, true);
        let wake_poller = {
            let mut state = self.lock();
            if state.closed {
                return;
            }
            if state.next_expiry.is_none_or(|t| deadline < t) {
                state.next_expiry = Some(deadline);
            }
            // In the map before it is armed: the poller may see it ready at once.
            state.parked.insert(id, Parked { conn, deadline });
            // Rare: connections mostly park for the same idle time, so only the
            // first after a quiet spell, or a new head's shorter timeout, has the
            // poller's wait to shorten.
            let sooner = state.poller_wakes.is_none_or(|t| deadline < t);
            if sooner {
                state.poller_wakes = Some(deadline);
            }
            sooner
        };
        if wake_poller {
            self.poller.wake();
        }
        if let Err(e) = self.poller.arm(&*stream, id, again) {
            tracing::warn!("cannot watch an idle connection, closing it: {e}");
            let parked = self.lock().parked.remove(&id);
            drop(parked);
        }
    }

    /// The poller: until [`Parking::close`], gathers what each readable
    /// connection sent, answers the heads it can from memory without waiting
    /// (`connection::answer_from_memory`), sends the other whole heads to the
    /// workers, and ends those whose time is up. Nothing here waits but the
    /// wait for events.
    pub fn run(&self, workers: Submitter<Box<Connection>>, ctx: &Context) {
        // If the poller dies, parking must not go on taking connections no one watches.
        let _close_on_exit = CloseOnExit(self);
        // Woken connections wait for the poller while it waits for the CPU.
        sys::request_short_slice();
        let mut events = Events::with_capacity(EVENTS_PER_WAIT);
        let mut ready = Vec::new();
        let mut expired = Vec::new();
        // Whole heads the workers' queue had no room for, oldest first.
        let mut backlog = VecDeque::new();
        // The poller's own buffer for the answers it sends.
        let mut wire = Vec::new();
        loop {
            let timeout = {
                let mut state = self.lock();
                if state.closed {
                    return;
                }
                state.poller_wakes = state.next_expiry;
                let expiry = state
                    .next_expiry
                    .map(|t| t.saturating_duration_since(Instant::now()));
                match backlog.is_empty() {
                    true => expiry,
                    false => Some(expiry.map_or(BACKLOG_RETRY, |t| t.min(BACKLOG_RETRY))),
                }
            };
            if let Err(e) = self.poller.wait(&mut events, timeout) {
                // Nothing here can be fixed by waiting again: parked
                // connections are closed, and so is each new one that would park.
                tracing::error!("waiting on parked connections failed: {e}");
                return;
            }
            let now = {
                let mut state = self.lock();
                if state.closed {
                    return;
                }
                for id in events.ready() {
                    ready.extend(state.parked.remove(&id));
                }
                let now = Instant::now();
                if state.next_expiry.is_some_and(|t| t <= now) {
                    expired.extend(state.parked.extract_if(|_, p| p.deadline <= now));
                    state.next_expiry = state
                        .parked
                        .values()
                        .map(|p| p.deadline)
                        .min()
                        .map(|t| t.max(now + SWEEP_EVERY));
                }
                now
            };
            // Outside the lock: a close may take a moment, parking must not.
            for (_, Parked { conn, .. }) in expired.drain(..) {
                end(&conn);
            }
            if !queue_up(&workers, &mut backlog) {
                return;
            }
            for Parked { mut conn, deadline } in ready.drain(..) {
                if conn.lingering.is_some() {
                    if conn.drain() {
                        self.park_until(conn, deadline);
                    }
                    continue;
                }
                match gather(&mut conn, &self.limits) {
                    Gathered::Ready => match answer_from_memory(conn, ctx, &mut wire) {
                        Answered::Park(conn) => self.park(conn),
                        Answered::Worker(conn) => {
                            backlog.push_back(conn);
                            if !queue_up(&workers, &mut backlog) {
                                return;
                            }
                        }
                        Answered::Done => {}
                    },
                    Gathered::Waiting => {
                        // A head's first bytes start its own, shorter, timeout.
                        let deadline = conn.head_deadline().unwrap_or(deadline);
                        if deadline <= now {
                            // Bytes that came just as its time ran out do not save it.
                            end(&conn);
                        } else {
                            self.park_until(conn, deadline);
                        }
                    }
                    Gathered::Closed => drop(conn),
                }
            }
        }
    }

    /// Closes every parked connection and stops the poller; connections
    /// parked from now on are closed at once.
    pub fn close(&self) {
        let parked = {
            let mut state = self.lock();
            state.closed = true;
            std::mem::take(&mut state.parked)
        };
        drop(parked);
        self.poller.wake();
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Closes the parking when the poller's `run` ends, however it ends.
struct CloseOnExit<'p>(&'p Parking);

impl Drop for CloseOnExit<'_> {
    fn drop(&mut self) {
        self.0.close();
    }
}

/// [`Connection::gather`], with a panic (a bug in the parser) costing this
/// connection alone, as it would on a worker, not the thread that gathers for all.
pub fn gather(conn: &mut Connection, limits: &Limits) -> Gathered {
    catch_unwind(AssertUnwindSafe(|| conn.gather(limits))).unwrap_or_else(|_| {
        crate::server::note_panic();
        Gathered::Closed
    })
}

/// [`connection::answer_from_memory`], with a panic costing this connection
/// alone (it is dropped, so closed), not the thread that parks for all.
pub fn answer_from_memory(conn: Box<Connection>, ctx: &Context, wire: &mut Vec<u8>) -> Answered {
    catch_unwind(AssertUnwindSafe(|| {
        connection::answer_from_memory(conn, ctx, wire)
    }))
    .unwrap_or_else(|_| {
        crate::server::note_panic();
        Answered::Done
    })
}

/// Moves the backlog into the workers' queue, oldest first, while it has room.
/// Returns false once the workers are gone.
fn queue_up(workers: &Submitter<Box<Connection>>, backlog: &mut VecDeque<Box<Connection>>) -> bool {
    while let Some(conn) = backlog.pop_front() {
        match workers.try_send(conn) {
            Ok(()) => {}
            Err(TrySendError::Full(conn)) => {
                backlog.push_front(conn);
                break;
            }
            Err(TrySendError::Disconnected(_)) => return false,
        }
    }
    true
}

/// A connection whose time in parking is up: a head that has begun gets its
/// 408; an idle or lingering connection is simply closed.
fn end(conn: &Connection) {
    if conn.lingering.is_none() && conn.head_deadline().is_some() {
        conn.refuse_late();
    }
}

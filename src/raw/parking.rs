//! Where the raw backend's keep-alive connections wait between requests: one
//! epoll set watched by one thread, so a client's think time costs a socket
//! and a few kilobytes instead of a worker thread and its stack.
//!
//! A worker that has answered everything a client sent parks the connection
//! here and takes the next one from the queue. When the client sends again,
//! the poller puts the connection back in the queue; when it stays silent for
//! the idle keep-alive time, the poller closes it. Only connections between
//! requests park: a new connection's first request, and any head that has
//! begun, are read by a worker within the idle and head timeouts, as a
//! thread-per-connection server reads them (see `connection::serve`).

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::connection::Connection;
use super::pool::Submitter;
use super::sys::{self, Events, Poller};

/// Events taken from the kernel per wait; more simply wait for the next round.
const EVENTS_PER_WAIT: usize = 256;

/// Idle connections are looked for at most this often (each look walks every
/// parked connection), so one may be closed up to this much after its time.
const SWEEP_EVERY: Duration = Duration::from_millis(100);

/// The parked connections and the poller that watches them.
pub struct Parking {
    poller: Poller,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    parked: HashMap<u64, Parked>,
    /// No parked connection's idle time ends before this.
    next_expiry: Option<Instant>,
    /// When the poller's current wait ends by itself (`None`: only on an event).
    poller_wakes: Option<Instant>,
    closed: bool,
}

struct Parked {
    conn: Connection,
    deadline: Instant,
}

impl Parking {
    pub fn new() -> io::Result<Parking> {
        Ok(Parking {
            poller: Poller::new()?,
            state: Mutex::default(),
        })
    }

    /// Holds `conn` until its client sends more (back to the pool) or stays
    /// silent for `idle` (closed). After [`Parking::close`], closes it at once.
    pub fn park(&self, mut conn: Connection, idle: Duration) {
        let stream = Arc::clone(conn.stream());
        let id = conn.registration.id;
        let again = std::mem::replace(&mut conn.parked_before, true);
        let deadline = Instant::now() + idle;
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
            // All connections get the same idle time, so this is rare: only
            // the first to park after a quiet spell has the poller's wait to shorten.
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

    /// The poller: until [`Parking::close`], sends every connection that
    /// became readable back to the workers and closes those idle too long.
    pub fn run(&self, workers: Submitter<Connection>) {
        // Woken connections wait for the poller while it waits for the CPU.
        sys::request_short_slice();
        let mut events = Events::with_capacity(EVENTS_PER_WAIT);
        let mut ready = Vec::new();
        let mut expired = Vec::new();
        loop {
            let timeout = {
                let mut state = self.lock();
                if state.closed {
                    return;
                }
                state.poller_wakes = state.next_expiry;
                state
                    .next_expiry
                    .map(|t| t.saturating_duration_since(Instant::now()))
            };
            if let Err(e) = self.poller.wait(&mut events, timeout) {
                // Nothing here can be fixed by waiting again; parked
                // connections are closed, new ones are served without keep-alive waits.
                tracing::error!("waiting on idle connections failed: {e}");
                self.close();
                return;
            }
            {
                let mut state = self.lock();
                if state.closed {
                    return;
                }
                for id in events.ready() {
                    ready.extend(state.parked.remove(&id).map(|p| p.conn));
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
            }
            // Closed outside the lock: a close may take a moment, parking must not.
            expired.clear();
            for conn in ready.drain(..) {
                if workers.send(conn).is_err() {
                    return;
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

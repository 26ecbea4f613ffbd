//! Where the raw backend's connections wait for a whole request head: one
//! epoll set watched by one thread, so a client's think time, or a head that
//! trickles in, costs a socket and a small buffer instead of a worker thread.
//!
//! New connections whose head has not all arrived, and connections a worker
//! has answered everything on, park here. Each time a client's bytes arrive,
//! the poller gathers them (`HeadReader::gather`); once they hold a whole head
//! (or break a rule), the connection goes to the workers' queue. A connection
//! that stays silent for the idle keep-alive time is closed; one whose head
//! has begun and is not whole within the head timeout gets a 408 and is closed.

use std::collections::HashMap;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use super::connection::Connection;
use super::pool::Submitter;
use super::reader::Gathered;
use super::sys::{self, Events, Poller};
use crate::Limits;

/// Events taken from the kernel per wait; more simply wait for the next round.
const EVENTS_PER_WAIT: usize = 256;

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
    pub fn park(&self, conn: Connection) {
        let deadline = conn
            .head_deadline()
            .unwrap_or_else(|| Instant::now() + self.limits.idle_timeout);
        self.park_until(conn, deadline);
    }

    fn park_until(&self, mut conn: Connection, deadline: Instant) {
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
    /// connection sent, sends those with a whole head to the workers, and ends
    /// those whose time is up.
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
            }
            // Outside the lock: a close may take a moment, parking must not.
            for (_, Parked { conn, .. }) in expired.drain(..) {
                if conn.head_deadline().is_some() {
                    conn.refuse_late();
                }
            }
            for Parked { mut conn, deadline } in ready.drain(..) {
                match conn.gather(&self.limits) {
                    Gathered::Ready => {
                        if workers.send(conn).is_err() {
                            return;
                        }
                    }
                    // A head's first bytes start its own, shorter, timeout.
                    Gathered::Waiting => {
                        let deadline = conn.head_deadline().unwrap_or(deadline);
                        self.park_until(conn, deadline);
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

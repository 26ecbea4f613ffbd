//! Where the raw backend's connections wait for a whole request head: one
//! epoll set watched by one thread, so a client's think time, or a head that
//! trickles in, costs a socket and a small buffer instead of a worker thread.
//!
//! New connections whose head has not all arrived, and connections a worker
//! has answered everything on, park here. Each time a client's bytes arrive,
//! the poller gathers them (`HeadReader::gather`); once they hold a whole head
//! whose answer is a cached file's of at most 16 KiB, the poller answers it
//! itself with a send that does not wait (a worker sends what the socket had
//! no room for) and the connection stays parked, or lingers if that answer
//! closes it (the accept loop answers a new connection's first head the same
//! way, and leaves what it cannot send to the workers, or to the poller's
//! backlog while their queue is full: it never waits); any other whole head
//! (or one that breaks a rule) sends the connection to the workers' queue — or, while
//! that is full, waits in the poller's own backlog, for the poller never
//! blocks. A connection that stays silent for the idle keep-alive time is
//! closed; one whose head has begun and is not whole within the head timeout
//! gets a 408 and is closed. A connection that has had its last answer
//! lingers here too, while what its client still sends is drained. At
//! shutdown, parked connections are closed and the backlog's, which are owed
//! answers, go to the workers.

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
use crate::docroot::ChangesSeen;

/// Events taken from the kernel per wait; more simply wait for the next round.
const EVENTS_PER_WAIT: usize = 256;

/// Answers the poller sends itself per round, over all its connections, so
/// that many clients pipelining at once cannot make one round long: past
/// it, whole heads go to the workers, as past a connection's own share.
const ANSWERS_PER_ROUND: usize = 1024;

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
    /// Connections owed an answer, given by the accept loop while the
    /// workers' queue was full ([`Parking::owe`]), for the poller's backlog.
    owed: VecDeque<Box<Connection>>,
    /// When the answers the poller still owes at shutdown must be with the
    /// workers: the server's one grace deadline, not a second grace after it.
    hand_over_by: Option<Instant>,
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
        self.park_as(conn, Watch::Arm);
    }

    fn park_as(&self, conn: Box<Connection>, watch: Watch) {
        let deadline = conn
            .head_deadline()
            .unwrap_or_else(|| Instant::now() + self.limits.idle_timeout);
        self.park_until(conn, deadline, watch);
    }

    /// Takes `conn`, whose whole head is owed an answer (perhaps half sent),
    /// when the workers' queue had no room: the poller queues it as soon as
    /// there is, so the caller never waits on the workers or on this client.
    pub fn owe(&self, conn: Box<Connection>) {
        {
            let mut state = self.lock();
            if state.closed {
                drop(state);
                close_quietly(&conn);
                crate::server::note_cut();
                return;
            }
            state.owed.push_back(conn);
        }
        self.poller.wake();
    }

    /// Holds `conn`, answered and half-closed, while what its client still
    /// sends is drained, up to `closing::LINGER_TIME`; then closes it.
    pub fn linger(&self, conn: Box<Connection>) {
        self.park_until(conn, Instant::now() + closing::LINGER_TIME, Watch::Arm);
    }

    fn park_until(&self, mut conn: Box<Connection>, deadline: Instant, watch: Watch) {
        let stream = Arc::clone(conn.stream());
        let id = conn.registration.id;
        let again = std::mem::replace(&mut conn.parked_before, true);
        // Bytes that came while a worker held the connection were reported
        // to no one: only the poller's own, drained, connections skip arming.
        let arm = !again || watch == Watch::Arm;
        let wake_poller = {
            let mut state = self.lock();
            if state.closed {
                drop(state);
                close_quietly(&conn);
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
        if !arm {
            return;
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
        // Whole heads the workers' queue had no room for, oldest first.
        let mut backlog = VecDeque::new();
        self.watch(&workers, ctx, &mut backlog);
        // However the watch ended, nothing parks and nothing is owed from
        // here on (each is closed at once): what is here is handed over.
        self.close();
        backlog.extend(self.lock().owed.drain(..));
        // Each of these has a request owed its answer, perhaps half sent: the
        // workers finish them, as they finish what they hold at shutdown.
        let by = self.lock().hand_over_by;
        hand_over(
            &workers,
            backlog,
            by.unwrap_or_else(|| Instant::now() + self.limits.shutdown_grace),
        );
    }

    fn watch(
        &self,
        workers: &Submitter<Box<Connection>>,
        ctx: &Context,
        backlog: &mut VecDeque<Box<Connection>>,
    ) {
        let mut events = Events::with_capacity(EVENTS_PER_WAIT);
        let mut ready = Vec::new();
        let mut expired = Vec::new();
        // Connections with a whole head this round, answered once all are read.
        let mut whole = Vec::new();
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
                backlog.extend(state.owed.drain(..));
                for (id, ended) in events.ready() {
                    ready.extend(state.parked.remove(&id).map(|p| (p, ended)));
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
            if !queue_up(workers, backlog) {
                return;
            }
            for (Parked { mut conn, deadline }, ended) in ready.drain(..) {
                if conn.lingering.is_some() {
                    // Draining goes on until the socket is empty.
                    if conn.drain() {
                        self.park_until(conn, deadline, Watch::Armed);
                    }
                    continue;
                }
                match gather(&mut conn, &self.limits) {
                    Gathered::Ready => whole.push((conn, ended)),
                    Gathered::Waiting => {
                        // A head's first bytes start its own, shorter, timeout.
                        let deadline = conn.head_deadline().unwrap_or(deadline);
                        if deadline <= now {
                            // Bytes that came just as its time ran out do not save it.
                            end(&conn);
                        } else {
                            let watch = Watch::after_gather(&conn, ended);
                            self.park_until(conn, deadline, watch);
                        }
                    }
                    Gathered::Closed => drop(conn),
                }
            }
            if whole.is_empty() {
                continue;
            }
            // After every head of the round was read: one look for changes
            // to cached files serves them all.
            let seen = ctx.changes_for_memory_answers();
            let mut budget = ANSWERS_PER_ROUND;
            for (conn, ended) in whole.drain(..) {
                let answered = match &seen {
                    Some(seen) => answer_from_memory(conn, ctx, seen, &mut wire, &mut budget),
                    None => Answered::Worker(conn),
                };
                match answered {
                    Answered::Park(conn) => {
                        let watch = Watch::after_gather(&conn, ended);
                        self.park_as(conn, watch);
                    }
                    Answered::Linger(conn) => self.linger(conn),
                    Answered::Worker(conn) => {
                        backlog.push_back(conn);
                        if !queue_up(workers, backlog) {
                            return;
                        }
                    }
                    Answered::Done => {}
                }
            }
        }
    }

    /// [`Parking::close`] at shutdown: what the poller owes goes to the
    /// workers until `deadline`, the one the server gives them to finish.
    pub fn close_until(&self, deadline: Instant) {
        self.lock().hand_over_by = Some(deadline);
        self.close();
    }

    /// Closes every parked connection and stops the poller; connections
    /// parked from now on are closed at once.
    pub fn close(&self) {
        let parked = {
            let mut state = self.lock();
            state.closed = true;
            std::mem::take(&mut state.parked)
        };
        for parked in parked.values() {
            close_quietly(&parked.conn);
        }
        drop(parked);
        self.poller.wake();
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Whether a connection being parked must have its socket armed again.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Watch {
    /// It comes from a worker or the accept loop, or bytes may be left unread.
    Arm,
    /// The poller took it from an event this round and read all its socket
    /// held: the edge-triggered watch reports the next bytes as it is.
    Armed,
}

impl Watch {
    /// `ended`: the event said the peer had closed (or urgent data came),
    /// which a read short of its room may not have taken; arming again
    /// reports what is left now.
    fn after_gather(conn: &Connection, ended: bool) -> Watch {
        if conn.drained() && !ended {
            Watch::Armed
        } else {
            Watch::Arm
        }
    }
}

/// Closes the parking when the poller's `run` ends, however it ends.
struct CloseOnExit<'p>(&'p Parking);

impl Drop for CloseOnExit<'_> {
    fn drop(&mut self) {
        self.0.close();
        // A poller that panicked handed over none of what it was owed:
        // closed, not left open and counted against the limit.
        let owed = std::mem::take(&mut self.0.lock().owed);
        if !owed.is_empty() {
            for conn in &owed {
                close_quietly(conn);
            }
            crate::server::note_cut();
        }
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
pub fn answer_from_memory(
    conn: Box<Connection>,
    ctx: &Context,
    seen: &ChangesSeen,
    wire: &mut Vec<u8>,
    budget: &mut usize,
) -> Answered {
    catch_unwind(AssertUnwindSafe(|| {
        connection::answer_from_memory(conn, ctx, seen, wire, budget)
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

/// Queues every connection of `backlog`, waiting for room until `deadline`;
/// what is still left then is closed, its answer cut.
fn hand_over(
    workers: &Submitter<Box<Connection>>,
    mut backlog: VecDeque<Box<Connection>>,
    deadline: Instant,
) {
    while !backlog.is_empty() && Instant::now() < deadline {
        if !queue_up(workers, &mut backlog) {
            break;
        }
        if !backlog.is_empty() {
            std::thread::sleep(BACKLOG_RETRY);
        }
    }
    if !backlog.is_empty() {
        tracing::warn!(
            "{} connections with answers owed were closed at shutdown",
            backlog.len()
        );
        crate::server::note_cut();
    }
}

/// Half-closes `conn` and discards what its client has sent, so that the
/// close which follows sends FIN, not the RST that unread bytes would cause
/// and that could discard answers the client has yet to read.
fn close_quietly(conn: &Connection) {
    let _ = closing::close_after_answer(conn.stream(), true);
}

/// A connection whose time in parking is up: a head that has begun gets its
/// 408; an idle or lingering connection is simply closed.
fn end(conn: &Connection) {
    if conn.lingering.is_none() && conn.head_deadline().is_some() {
        conn.refuse_late();
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::sync::atomic::{AtomicUsize, Ordering};

    use http::HeaderMap;

    use super::super::connection::{self, Connection, Context, Turn};
    use super::super::pool::WorkerPool;
    use super::super::reader::HeadBudget;
    use super::super::{HEAD_BUDGET, OpenConnections};
    use super::*;
    use crate::docroot::{DocRoot, RequestView, Version};

    /// The next answer's status line and body, from what is left in `pending`
    /// and then from `stream` (whose read timeout bounds the wait); what
    /// follows it stays in `pending` for the next call.
    fn next_answer(stream: &mut TcpStream, pending: &mut Vec<u8>) -> (String, Vec<u8>) {
        let mut buf = [0u8; 4096];
        loop {
            if let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&pending[..end]).to_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .map_or(0, |v| v.trim().parse().unwrap());
                if pending.len() >= end + 4 + len {
                    let status = head.lines().next().unwrap_or("").to_string();
                    let body = pending[end + 4..end + 4 + len].to_vec();
                    pending.drain(..end + 4 + len);
                    return (status, body);
                }
            }
            let n = stream.read(&mut buf).expect("an answer within the timeout");
            assert!(n > 0, "closed before an answer: {}", pending.escape_ascii());
            pending.extend_from_slice(&buf[..n]);
        }
    }

    /// A context whose docroot has `pages` small pages, `/0.html` on, each
    /// kept in the cache so the poller can answer it; and their bodies.
    fn cached_pages(dir: &std::path::Path, pages: usize) -> (Arc<Context>, Vec<String>) {
        let bodies: Vec<String> = (0..pages).map(|i| format!("<p>page {i}</p>\n")).collect();
        for (i, body) in bodies.iter().enumerate() {
            std::fs::write(dir.join(format!("{i}.html")), body).unwrap();
        }
        let docroot = DocRoot::open(dir, Default::default()).unwrap();
        let mut host = HeaderMap::new();
        host.insert(http::header::HOST, "a".parse().unwrap());
        for i in 0..pages {
            let target = format!("/{i}.html");
            let page = RequestView {
                method: "GET",
                target: &target,
                version: Version::Http11,
                headers: &host,
            };
            docroot.respond(&page);
            let seen = docroot.see_changes().unwrap();
            assert!(
                docroot.respond_from_memory(&page, &seen).is_some(),
                "{target}"
            );
        }
        let limits = Limits::default();
        let ctx = Arc::new(Context {
            docroot: Arc::new(docroot),
            limits,
            chunk_size: crate::default_chunk_size(crate::Backend::Raw),
            print_requests: false,
            once: None,
            introspect: false,
            head_budget: HeadBudget::new(HEAD_BUDGET),
            poller_answers: Arc::new(AtomicUsize::new(0)),
        });
        (ctx, bodies)
    }

    /// Two workers that hand each connection back to `parking`, as the server's do.
    fn workers(ctx: &Arc<Context>, parking: &Arc<Parking>) -> WorkerPool<Box<Connection>> {
        let (ctx, parking) = (Arc::clone(ctx), Arc::clone(parking));
        WorkerPool::new(
            2,
            64,
            move |conn: Box<Connection>| match connection::serve(conn, &ctx) {
                Turn::Park(conn) => parking.park(conn),
                Turn::Linger(conn) => parking.linger(conn),
                Turn::Done => {}
            },
        )
        .unwrap()
    }

    /// The poller's thread, handing whole heads to `pool`.
    fn start_poller(
        ctx: &Arc<Context>,
        parking: &Arc<Parking>,
        pool: &WorkerPool<Box<Connection>>,
    ) -> std::thread::JoinHandle<()> {
        let (ctx, parking) = (Arc::clone(ctx), Arc::clone(parking));
        let workers = pool.submitter().unwrap();
        std::thread::spawn(move || parking.run(workers, &ctx))
    }

    /// A client of `listener` that sent `requests`, and the server's side of
    /// it, which holds them all (peeked there); the client's reads time out
    /// after 10 s.
    fn arrived(listener: &TcpListener, requests: &str) -> (TcpStream, TcpStream, SocketAddr) {
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        client
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let (stream, peer) = listener.accept().unwrap();
        client.write_all(requests.as_bytes()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut peeked = vec![0u8; requests.len()];
        while stream.peek(&mut peeked).unwrap() < requests.len() {
            assert!(Instant::now() < deadline, "the requests never arrived");
        }
        (client, stream, peer)
    }

    /// A server-side connection whose client sent `requests`, all of them
    /// gathered (so its heads are whole); the client (reads time out after
    /// 10 s), and the open-connection list it is registered in.
    fn gathered(
        ctx: &Context,
        requests: &str,
    ) -> (TcpStream, Box<Connection>, Arc<OpenConnections>) {
        let open = Arc::new(OpenConnections::default());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let (client, stream, peer) = arrived(&listener, requests);
        let stream = Arc::new(stream);
        let registration = open.register(&stream);
        let mut conn = Box::new(Connection::new(stream, peer, registration, ctx));
        assert!(matches!(gather(&mut conn, &ctx.limits), Gathered::Ready));
        (client, conn, open)
    }

    /// A connection's share of a round is 16 answers: exactly 16 pipelined
    /// heads are all answered, and with nothing left the connection parks
    /// rather than costing a worker a turn that finds nothing to do.
    #[test]
    fn a_connection_that_used_its_whole_share_parks_when_nothing_is_left() {
        let dir = tempfile::tempdir().unwrap();
        let (ctx, _) = cached_pages(dir.path(), 1);
        let requests = "GET /0.html HTTP/1.1\r\nHost: a\r\n\r\n".repeat(16);
        let (_client, conn, _open) = gathered(&ctx, &requests);
        let seen = ctx.docroot.see_changes().unwrap();
        let mut budget = ANSWERS_PER_ROUND;
        let answered = answer_from_memory(conn, &ctx, &seen, &mut Vec::new(), &mut budget);
        assert_eq!(ctx.poller_answers.load(Ordering::Relaxed), 16);
        assert!(
            matches!(answered, Answered::Park(_)),
            "nothing is left for a worker"
        );
    }

    /// A head the poller parses and cannot answer from memory (a file not
    /// in the cache, a head that breaks a rule) goes to a worker with what
    /// the parser found: the worker answers it without parsing it again.
    #[test]
    fn a_head_left_to_a_worker_is_parsed_once() {
        let dir = tempfile::tempdir().unwrap();
        let (ctx, bodies) = cached_pages(dir.path(), 1);
        for (second, status) in [
            (
                "GET /missing.html HTTP/1.1\r\nHost: a\r\n\r\n",
                "http/1.1 404",
            ),
            ("GET /0.html HTTP/1.1\r\nHost a\r\n\r\n", "http/1.1 400"),
        ] {
            let requests = format!("GET /0.html HTTP/1.1\r\nHost: a\r\n\r\n{second}");
            let (mut client, conn, _open) = gathered(&ctx, &requests);
            let seen = ctx.docroot.see_changes().unwrap();
            let mut budget = ANSWERS_PER_ROUND;
            let Answered::Worker(conn) =
                answer_from_memory(conn, &ctx, &seen, &mut Vec::new(), &mut budget)
            else {
                panic!("{second:?} was not left for a worker");
            };
            assert_eq!(conn.heads_parsed(), 2, "{second:?}: one parse per head");
            let turn = connection::serve(conn, &ctx);
            let mut pending = Vec::new();
            let (first, body) = next_answer(&mut client, &mut pending);
            assert!(first.starts_with("http/1.1 200"), "{first}");
            assert_eq!(body, bodies[0].as_bytes());
            let (answer, _) = next_answer(&mut client, &mut pending);
            assert!(answer.starts_with(status), "{second:?}: {answer}");
            match turn {
                Turn::Park(conn) | Turn::Linger(conn) => {
                    assert_eq!(conn.heads_parsed(), 2, "{second:?}: parsed again");
                }
                Turn::Done => panic!("{second:?}: closed without lingering"),
            }
        }
    }

    /// What the accept loop could not finish while the workers' queue was
    /// full goes to the poller's backlog ([`Parking::owe`]), and from there
    /// to a worker: every answer comes, in order, none twice.
    #[test]
    fn a_connection_owed_answers_gets_them_through_the_poller() {
        let dir = tempfile::tempdir().unwrap();
        let (ctx, bodies) = cached_pages(dir.path(), 2);
        let parking = Arc::new(Parking::new(ctx.limits.clone()).unwrap());
        let requests = "GET /0.html HTTP/1.1\r\nHost: a\r\n\r\n\
                        GET /1.html HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
        let (mut client, conn, _open) = gathered(&ctx, requests);
        // As the accept loop does: one answer; the second head is owed.
        let seen = ctx.docroot.see_changes().unwrap();
        let mut one = 1;
        let Answered::Worker(conn) =
            answer_from_memory(conn, &ctx, &seen, &mut Vec::new(), &mut one)
        else {
            panic!("the second head was not left for a worker");
        };
        assert!(conn.sent_any());

        let mut pool = workers(&ctx, &parking);
        let _close = CloseOnExit(&parking);
        let poller = start_poller(&ctx, &parking, &pool);
        parking.owe(conn);
        let mut pending = Vec::new();
        for (i, body) in bodies.iter().enumerate() {
            let (status, got) = next_answer(&mut client, &mut pending);
            assert!(status.starts_with("http/1.1 200"), "{i}: {status}");
            assert_eq!(got, body.as_bytes(), "answer {i}");
        }
        let mut rest = Vec::new();
        client
            .read_to_end(&mut rest)
            .expect("closed after the last answer");
        assert!(
            pending.is_empty() && rest.is_empty(),
            "{}",
            rest.escape_ascii()
        );
        assert_eq!(ctx.poller_answers.load(Ordering::Relaxed), 1);

        parking.close();
        poller.join().unwrap();
        assert!(pool.drain(Instant::now() + Duration::from_secs(10)));
    }

    /// Every connection readable in the poller's first round, each with
    /// fewer whole heads than a connection's own share (16), so that only
    /// the round's cap can send heads to the workers: the poller answers
    /// exactly `ANSWERS_PER_ROUND`, the workers the rest, each connection's
    /// in order. The heads are in every socket before the poller starts, so
    /// one wait reports them all: no timing decides it.
    #[test]
    fn past_a_rounds_answers_the_workers_answer_the_rest_in_order() {
        const PER_CONNECTION: usize = 15;
        let connections = ANSWERS_PER_ROUND / PER_CONNECTION + 12;
        let requests = connections * PER_CONNECTION;
        assert!(requests > ANSWERS_PER_ROUND && connections <= EVENTS_PER_WAIT);

        let dir = tempfile::tempdir().unwrap();
        let (ctx, bodies) = cached_pages(dir.path(), PER_CONNECTION);
        let limits = ctx.limits.clone();
        let parking = Arc::new(Parking::new(limits).unwrap());
        let open = Arc::new(OpenConnections::default());

        // Each page once, in order, on every connection, all in the server's
        // socket (peeked there) before it is parked.
        let burst: String = (0..PER_CONNECTION)
            .map(|i| format!("GET /{i}.html HTTP/1.1\r\nHost: a\r\n\r\n"))
            .collect();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut clients = Vec::new();
        for _ in 0..connections {
            let (client, stream, peer) = arrived(&listener, &burst);
            stream
                .set_write_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let stream = Arc::new(stream);
            let registration = open.register(&stream);
            parking.park(Box::new(Connection::new(stream, peer, registration, &ctx)));
            clients.push(client);
        }

        let mut pool = workers(&ctx, &parking);
        // Stops the poller (and with it the workers' queue) however the test ends.
        let _close = CloseOnExit(&parking);
        let poller = start_poller(&ctx, &parking, &pool);

        for (n, client) in clients.iter_mut().enumerate() {
            let mut pending = Vec::new();
            for (i, body) in bodies.iter().enumerate() {
                let (status, got) = next_answer(client, &mut pending);
                assert!(status.starts_with("http/1.1 200"), "{n}, {i}: {status}");
                assert_eq!(got, body.as_bytes(), "connection {n}, answer {i}");
            }
            assert!(pending.is_empty(), "connection {n}: more than its answers");
        }
        let by_poller = ctx.poller_answers.load(Ordering::Relaxed);
        assert_eq!(by_poller, ANSWERS_PER_ROUND, "of {requests}");

        // Closed with nothing after the answers: none was sent twice.
        parking.close();
        poller.join().unwrap();
        assert!(pool.drain(Instant::now() + Duration::from_secs(10)));
        for (n, client) in clients.iter_mut().enumerate() {
            let mut rest = Vec::new();
            client
                .read_to_end(&mut rest)
                .expect("closed within the timeout");
            assert!(rest.is_empty(), "connection {n}: {}", rest.escape_ascii());
        }
    }
}

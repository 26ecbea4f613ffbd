//! One client connection of the raw backend and its turn on a worker:
//! [`serve`] takes the whole request head that has arrived, asks docroot,
//! writes the reply, and repeats while another whole head is there — then the
//! connection waits in [`parking`](super::parking) for more — or the
//! connection closes.
//!
//! A request with a body is answered and the connection closed (see
//! `request::framing`), so its body can never be read as a request.

use std::cell::Cell;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use super::closing;
use super::reader::{Gathered, HeadBudget, HeadReader, Parsed};
use super::request::{self, BodyFraming, Head};
use super::response::{ChunkedSender, Persistence, render_in_memory, write_reply};
use super::sys;
use crate::Limits;
use crate::access_log::Exchange;
use crate::docroot::{ChangesSeen, DocRoot, Reply, RequestView, Version};

/// What every connection of a raw server shares.
#[derive(Debug)]
pub struct Context {
    pub docroot: Arc<DocRoot>,
    pub limits: Limits,
    pub chunk_size: usize,
    pub print_requests: bool,
    /// `--once`: answer one request, close, and let the server stop.
    pub once: Option<super::Once>,
    /// Answer with the parsed request instead of a file (`Config::introspect`).
    pub introspect: bool,
    /// Room for large heads, shared by every connection.
    pub head_budget: Arc<HeadBudget>,
    /// Answers the poller (or the accept loop) sent from memory
    /// (`ServerHandle::poller_answers`).
    pub poller_answers: Arc<AtomicUsize>,
}

impl Context {
    /// Whether a head may be answered from memory without a worker: not when
    /// each answer must be claimed, printed, introspected or logged.
    pub(super) fn answers_from_memory(&self) -> bool {
        !(self.once.is_some()
            || self.print_requests
            || self.introspect
            || self.docroot.logs_exchanges())
    }

    /// The one look for changes to cached files that answers from memory
    /// need, made after their heads were read; `None` when no answer may come
    /// from memory, or while the cache is busy: the heads go to a worker.
    pub(super) fn changes_for_memory_answers(&self) -> Option<ChangesSeen> {
        self.answers_from_memory()
            .then(|| self.docroot.see_changes())
            .flatten()
    }
}

/// A client connection as it passes between the accept loop, the workers and
/// [`Parking`](super::parking::Parking): everything that must outlive one
/// worker's turn, so that it can wait for its next request without a thread.
pub struct Connection {
    /// Shared with the server's list of open connections, which shuts it
    /// down at exit; an `Arc` rather than a `dup`ed descriptor per connection.
    stream: Arc<TcpStream>,
    reader: HeadReader,
    peer: SocketAddr,
    served: usize,
    /// The end of an answer the poller began and the socket had no room
    /// for: the next worker writes it before anything else.
    unsent: Vec<u8>,
    /// `unsent` ends the connection's last answer: after it, the worker
    /// closes (`Some(nothing_follows)`, as for `closing::close_after_answer`).
    close_after_unsent: Option<bool>,
    /// Whether the socket is in the parking set already.
    pub(super) parked_before: bool,
    /// Answered and half-closed: the bytes drained since (see `closing::drain`).
    pub(super) lingering: Option<usize>,
    pub(super) registration: super::Registration,
}

impl Connection {
    /// `stream` comes from the listener with TCP_NODELAY and a send timeout
    /// (`server::bind`); it is never read with a blocking read.
    pub(super) fn new(
        stream: Arc<TcpStream>,
        peer: SocketAddr,
        registration: super::Registration,
        ctx: &Context,
    ) -> Connection {
        Connection {
            stream,
            reader: HeadReader::new(Arc::clone(&ctx.head_budget)),
            peer,
            served: 0,
            unsent: Vec::new(),
            close_after_unsent: None,
            parked_before: false,
            lingering: None,
            registration,
        }
    }

    pub(super) fn stream(&self) -> &Arc<TcpStream> {
        &self.stream
    }

    /// Takes what the client has sent, without waiting: see [`HeadReader::gather`].
    pub(super) fn gather(&mut self, limits: &crate::Limits) -> Gathered {
        self.reader.gather(&self.stream, limits)
    }

    /// Whether the last gather read all the socket held, so that the poller's
    /// edge-triggered watch will report the next bytes without being re-armed.
    pub(super) fn drained(&self) -> bool {
        self.reader.drained()
    }

    /// When the head that has begun must be whole, if one has.
    pub(super) fn head_deadline(&self) -> Option<std::time::Instant> {
        self.reader.deadline()
    }

    /// How many whole heads were parsed for it.
    #[cfg(test)]
    pub(super) fn heads_parsed(&self) -> usize {
        self.reader.parses()
    }

    /// Whether anything was sent on it: an answer, or part of one.
    pub(super) fn sent_any(&self) -> bool {
        self.served > 0 || !self.unsent.is_empty()
    }

    /// Answered and half-closed: from here on what the client sends is only
    /// drained, so the head buffer and its share of the head budget go back
    /// now rather than after the linger.
    fn start_lingering(mut self: Box<Self>) -> Box<Self> {
        self.reader.discard();
        self.lingering = Some(0);
        self
    }

    /// Drains what a lingering connection's client sent; whether to go on
    /// lingering (see [`closing::drain`]).
    pub(super) fn drain(&mut self) -> bool {
        let drained = self.lingering.get_or_insert(0);
        closing::drain(&self.stream, drained)
    }

    /// A head that did not finish in time: answers 408 without waiting and
    /// closes (see [`closing::refuse_late`]).
    pub(super) fn refuse_late(&self) {
        tracing::debug!(peer = ?self.peer, "request head timed out");
        closing::refuse_late(&self.stream, self.reader.pending());
    }
}

/// What a worker hands back when its turn with a connection ends.
pub enum Turn {
    /// No whole head is left: wait in parking for the next one.
    Park(Box<Connection>),
    /// Answered and half-closed: drain what the client still sends in
    /// parking, then close.
    Linger(Box<Connection>),
    /// Closed.
    Done,
}

/// Serves a connection whose whole head has arrived, and every whole head
/// after it, until the connection closes or stops persisting, or until no
/// whole head is left — then it goes back to parking to wait for the rest
/// without holding the worker. A worker never waits for a client to send: a
/// silent or slow client costs a socket and a small buffer, not a thread.
/// Every error ends only this connection: it is logged at debug level.
pub fn serve(mut conn: Box<Connection>, ctx: &Context) -> Turn {
    // The buffer response heads are written into is the worker's, not the
    // connection's: it is allocated once per thread, not once per turn.
    thread_local! {
        static OUT: Cell<Vec<u8>> = const { Cell::new(Vec::new()) };
    }
    let mut out = OUT.take();
    let next = serve_turn(&mut conn, ctx, &mut out);
    // One that grew for a large body is not kept.
    if out.capacity() <= KEPT_OUT {
        out.clear();
        OUT.set(out);
    }
    // A waiting connection keeps no buffers it can do without: a thousand
    // idle clients then cost a thousand sockets, not a thousand heads.
    conn.reader.release();
    match next {
        Next::Park => Turn::Park(conn),
        Next::Close(closing::Ending::Linger) => Turn::Linger(conn.start_lingering()),
        Next::Close(closing::Ending::Closed) => Turn::Done,
    }
}

/// What the poller does next with a connection it answered from memory.
pub enum Answered {
    /// No whole head is left: park it again.
    Park(Box<Connection>),
    /// A head, or the end of an answer, is a worker's.
    Worker(Box<Connection>),
    /// Answered and half-closed: drain what the client still sends, then close.
    Linger(Box<Connection>),
    /// Closed.
    Done,
}

/// Whole heads the poller answers on one connection before a worker takes
/// the rest, so one client's pipelined burst cannot hold up the others.
const ANSWERED_BY_POLLER: usize = 16;

/// The largest answer the poller sends: what a send leaves over is kept in
/// the connection until a worker writes it, so this bounds that copy to what
/// the kernel's default send buffer already holds per connection.
const POLLER_ANSWER_MAX: usize = 16 * 1024;

/// The poller's (or the accept loop's) turn with a connection whose whole
/// head has arrived: answers each whole head whose answer is a cached file's,
/// decided from memory ([`DocRoot::respond_from_memory`]), with a send that
/// does not wait — so a hot page costs no handoff to a worker — and keeps the
/// connection open, or closes it after an answer that says so. The first head
/// that needs more (the disk, a log, a refusal) is left, unanswered, for a
/// worker; so is what the socket had no room for, and what is left once
/// `budget` (the poller's round) is spent. `seen` was made after these heads
/// were read.
pub fn answer_from_memory(
    mut conn: Box<Connection>,
    ctx: &Context,
    seen: &ChangesSeen,
    wire: &mut Vec<u8>,
    budget: &mut usize,
) -> Answered {
    if !ctx.answers_from_memory() {
        return Answered::Worker(conn);
    }
    let Connection {
        stream,
        reader,
        peer,
        served,
        unsent,
        ..
    } = &mut *conn;
    for answered in 0.. {
        let received = match reader.next_head(&ctx.limits) {
            Ok(Some(received)) => received,
            // No whole head left: a wait in parking.
            Ok(None) => {
                conn.reader.release();
                return Answered::Park(conn);
            }
            // A refusal is a worker's.
            Err(refusal) => return to_worker(reader.parsed(Err(&refusal)), conn),
        };
        // What the poller does not answer here is a worker's: the round's
        // answers or this connection's share spent, a body, an answer not
        // in memory or too large, a socket with no room (the worker answers
        // it again). It goes with what the parser found in the head.
        let answered_here = 'answer: {
            if *budget == 0 || answered == ANSWERED_BY_POLLER {
                break 'answer None;
            }
            let head = &received.head;
            let Ok(framing @ BodyFraming::None) = request::framing(head) else {
                break 'answer None;
            };
            let client_closes = !request::keeps_alive(head);
            let persistence = persistence(head, framing, client_closes, *served + 1, ctx);
            let Some(reply) = ctx.docroot.respond_from_memory(&request_view(head), seen) else {
                break 'answer None;
            };
            wire.clear();
            if render_in_memory(reply, persistence, wire).is_none()
                || wire.len() > POLLER_ANSWER_MAX
            {
                break 'answer None;
            }
            match sys::send_now(stream, wire) {
                Ok(sent) => Some((sent, persistence, client_closes)),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
                Err(e) => {
                    tracing::debug!(peer = ?*peer, "write failed: {e}");
                    return Answered::Done;
                }
            }
        };
        let Some((sent, persistence, client_closes)) = answered_here else {
            return to_worker(reader.parsed(Ok(&received.head)), conn);
        };
        let (len, more_pending) = (received.head.len, received.more_pending);
        *served += 1;
        *budget -= 1;
        ctx.poller_answers.fetch_add(1, Ordering::Relaxed);
        if persistence == Persistence::Close {
            // A new connection's only request, answered without a hand-off;
            // the close is `serve_turn`'s (RFC 9112 §9.6).
            let nothing_follows = client_closes && !more_pending;
            if sent < wire.len() {
                unsent.extend_from_slice(&wire[sent..]);
                conn.close_after_unsent = Some(nothing_follows);
                return Answered::Worker(conn);
            }
            return match closing::close_after_answer(stream, nothing_follows) {
                closing::Ending::Closed => Answered::Done,
                closing::Ending::Linger => Answered::Linger(conn.start_lingering()),
            };
        }
        reader.consume(len, &ctx.limits);
        if sent < wire.len() {
            unsent.extend_from_slice(&wire[sent..]);
            return Answered::Worker(conn);
        }
    }
    Answered::Worker(conn)
}

/// Leaves `conn`'s next head to a worker, with what the parser found in it
/// (see [`HeadReader::parsed`]), so that the worker does not parse it again.
fn to_worker(parsed: Option<Parsed>, mut conn: Box<Connection>) -> Answered {
    conn.reader.keep(parsed);
    Answered::Worker(conn)
}

/// The most a worker keeps of its response-head buffer between turns.
const KEPT_OUT: usize = 4 * 1024;

enum Next {
    Park,
    Close(closing::Ending),
}

/// One turn: answer each whole head that has arrived.
fn serve_turn(conn: &mut Connection, ctx: &Context, out: &mut Vec<u8>) -> Next {
    let Connection {
        stream,
        reader,
        peer,
        served,
        unsent,
        close_after_unsent,
        registration,
        ..
    } = conn;
    let (stream, peer) = (&**stream, *peer);
    if !unsent.is_empty() {
        let written = (&mut &*stream).write_all(unsent);
        *unsent = Vec::new();
        if let Err(e) = written {
            tracing::debug!(?peer, "write failed: {e}");
            return Next::Close(closing::Ending::Closed);
        }
        if let Some(nothing_follows) = close_after_unsent.take() {
            return Next::Close(closing::close_after_answer(stream, nothing_follows));
        }
    }
    loop {
        let received = match reader.next_head(&ctx.limits) {
            Ok(Some(received)) => received,
            Ok(None) => return Next::Park,
            Err(refusal) => {
                let ending = closing::refuse_unread(stream, refusal, reader.pending(), out, peer);
                return Next::Close(ending);
            }
        };
        let head = &received.head;
        let framing = request::framing(head);
        // `--once`: a request that reaches docroot is the one, unless another
        // connection's already was; then this one ends unanswered.
        if let (Ok(_), Some(once)) = (&framing, &ctx.once)
            && !once.claim(registration.id)
        {
            return Next::Close(closing::Ending::Closed);
        }
        if ctx.print_requests && (ctx.once.is_none() || framing.is_ok()) {
            print_head(received.bytes);
        }
        let framing = match framing {
            Ok(framing) => framing,
            Err(e) => {
                tracing::debug!(?peer, "bad framing: {e}");
                return Next::Close(closing::refuse(stream, e.status(), head.method, out));
            }
        };
        *served += 1;
        let client_closes = !request::keeps_alive(head);
        let persistence = persistence(head, framing, client_closes, *served, ctx);
        // Timed only when it is logged: a clock read per request otherwise for nothing.
        let started = ctx.docroot.logs_exchanges().then(Instant::now);
        let reply = answer(head, framing, ctx);
        let exchange = started.map(|at| Exchange::new(Some(peer), &reply, at));
        let sender = ChunkedSender::new(ctx.chunk_size);
        let written = write_reply(stream, reply, persistence, out, sender);
        if let Some(exchange) = exchange {
            ctx.docroot.log_exchange(&request_view(head), &exchange);
        }
        if let Err(e) = written {
            // A client that resets or stops reading ends here, not in a panic.
            tracing::debug!(?peer, "write failed: {e}");
            return Next::Close(closing::Ending::Closed);
        }
        if persistence == Persistence::Close {
            // Nothing of this client's can still be on its way when it said it
            // would close (RFC 9112 §9.6), sent no body, and sent nothing after.
            let nothing_follows = client_closes && !framing.has_body() && !received.more_pending;
            return Next::Close(closing::close_after_answer(stream, nothing_follows));
        }
        let len = head.len;
        reader.consume(len, &ctx.limits);
    }
}

/// Whether the connection stays open after this request, as the response
/// says it (RFC 9112 §9.3). It closes when the client asks, after a request
/// with a body (never read), with `--once`, and at the per-connection limit.
fn persistence(
    head: &Head<'_>,
    framing: BodyFraming,
    client_closes: bool,
    served: usize,
    ctx: &Context,
) -> Persistence {
    let keep_alive = !client_closes
        && !framing.has_body()
        && ctx.once.is_none()
        && served < ctx.limits.max_requests_per_connection;
    match (keep_alive, head.version) {
        (false, _) => Persistence::Close,
        (true, Version::Http10) => Persistence::KeepAliveHttp10,
        (true, Version::Http11) => Persistence::KeepAlive,
    }
}

/// docroot's answer to the request, or with introspection the request itself.
fn answer(head: &Head<'_>, framing: BodyFraming, ctx: &Context) -> Reply {
    if ctx.introspect {
        return Reply::introspection(describe(head, framing));
    }
    ctx.docroot.respond_prepared(&request_view(head))
}

/// The head as docroot reads it.
fn request_view<'h, 'b>(head: &'h Head<'b>) -> RequestView<'h, [request::Header<'b>]> {
    RequestView {
        method: head.method,
        target: head.target,
        version: head.version,
        headers: head.headers.as_slice(),
    }
}

/// The request as this parser understood it, for `compare`.
fn describe(head: &Head<'_>, framing: BodyFraming) -> String {
    use crate::introspection::{ParsedRequest, RequestBody};
    ParsedRequest {
        backend: crate::Backend::Raw,
        body: match framing {
            BodyFraming::None => RequestBody::None,
            BodyFraming::Length(n) => RequestBody::ContentLength(n),
            BodyFraming::Chunked => RequestBody::Chunked,
        },
        headers: head
            .headers
            .iter()
            .map(|h| (h.name.to_string(), h.value.escape_ascii().to_string()))
            .collect(),
        method: head.method.to_string(),
        target: head.target.to_string(),
        version: match head.version {
            Version::Http10 => "HTTP/1.0",
            Version::Http11 => "HTTP/1.1",
        }
        .to_string(),
    }
    .to_json()
}

/// `--print-requests`: the head as received, one line per line. Control and
/// non-ASCII bytes are escaped (`\x1b`, `\t`) so a request cannot drive the
/// terminal; everything else, quotes and backslashes too, is printed as is.
fn print_head(bytes: &[u8]) {
    // A closed stdout is no reason to stop serving.
    let _ = io::stdout().lock().write_all(&printable_head(bytes));
}

fn printable_head(bytes: &[u8]) -> Vec<u8> {
    let mut text = Vec::with_capacity(bytes.len() + 16);
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        for &b in line {
            if (b' '..=b'~').contains(&b) {
                text.push(b);
            } else {
                text.extend(b.escape_ascii());
            }
        }
        text.push(b'\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};
    use std::sync::Arc;
    use std::sync::atomic::AtomicUsize;
    use std::time::{Duration, Instant};

    use http::HeaderMap;

    use super::{Answered, Connection, Context, Gathered, HeadBudget, Turn};
    use crate::Limits;
    use crate::docroot::{DocRoot, RequestView, Version};

    /// A connection whose head outgrew its first buffer, so it holds part
    /// of the budget: it asks to close, and a byte follows, so it lingers.
    fn lingering_after(turn: impl FnOnce(Box<Connection>, &Context) -> Option<Box<Connection>>) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.html"), "a").unwrap();
        let docroot = DocRoot::open(dir.path(), Default::default()).unwrap();
        let mut host = HeaderMap::new();
        host.insert(http::header::HOST, "a".parse().unwrap());
        // Kept in the cache, for the poller's path.
        docroot.respond(&RequestView {
            method: "GET",
            target: "/a.html",
            version: Version::Http11,
            headers: &host,
        });
        let ctx = Context {
            docroot: Arc::new(docroot),
            limits: Limits::default(),
            chunk_size: crate::default_chunk_size(crate::Backend::Raw),
            print_requests: false,
            once: None,
            introspect: false,
            head_budget: HeadBudget::new(64 * 1024),
            poller_answers: Arc::new(AtomicUsize::new(0)),
        };
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (stream, peer) = listener.accept().unwrap();
        let pad = "p".repeat(8 * 1024);
        let request = format!(
            "GET /a.html HTTP/1.1\r\nHost: a\r\nConnection: close\r\nX-Pad: {pad}\r\n\r\nG"
        );
        client.write_all(request.as_bytes()).unwrap();
        let stream = Arc::new(stream);
        let open = Arc::new(super::super::OpenConnections::default());
        let registration = open.register(&stream);
        let mut conn = Box::new(Connection::new(stream, peer, registration, &ctx));
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match conn.gather(&ctx.limits) {
                Gathered::Ready => break,
                Gathered::Waiting => assert!(Instant::now() < deadline, "no whole head"),
                Gathered::Closed => panic!("closed before the head"),
            }
        }
        assert!(
            ctx.head_budget.held() > 0,
            "the head outgrew its first buffer"
        );
        let conn = turn(conn, &ctx).expect("it lingers");
        assert_eq!(conn.lingering, Some(0));
        assert_eq!(
            ctx.head_budget.held(),
            0,
            "a lingering connection holds no head"
        );
    }

    #[test]
    fn a_worker_leaves_a_lingering_connection_no_head_budget() {
        lingering_after(|conn, ctx| match super::serve(conn, ctx) {
            Turn::Linger(conn) => Some(conn),
            _ => None,
        });
    }

    #[test]
    fn the_poller_leaves_a_lingering_connection_no_head_budget() {
        lingering_after(|conn, ctx| {
            let seen = ctx.docroot.see_changes().unwrap();
            let mut budget = 1;
            match super::answer_from_memory(conn, ctx, &seen, &mut Vec::new(), &mut budget) {
                Answered::Linger(conn) => Some(conn),
                _ => None,
            }
        });
    }

    #[test]
    fn printed_heads_cannot_drive_a_terminal() {
        let head = b"GET / HTTP/1.1\r\nX: \x1b[2J\x07caf\xc3\xa9\tend\x7f\x9b\rx\r\n\r\n";
        let printed = super::printable_head(head);
        assert!(
            printed
                .iter()
                .all(|&b| b == b'\n' || (b' '..=b'~').contains(&b))
        );
        assert_eq!(
            printed,
            b"GET / HTTP/1.1\nX: \\x1b[2J\\x07caf\\xc3\\xa9\\tend\\x7f\\x9b\\rx\n\n"
        );
    }

    #[test]
    fn printed_heads_keep_quotes_and_backslashes() {
        let head = b"GET /a HTTP/1.1\r\nIf-None-Match: \"abc\"\r\nX: it's C:\\dir\r\n\r\n";
        assert_eq!(
            super::printable_head(head),
            b"GET /a HTTP/1.1\nIf-None-Match: \"abc\"\nX: it's C:\\dir\n\n"
        );
    }
}

//! One client connection in the raw backend: a `HeadReader` that owns the
//! socket, the buffer, the limits and the timeouts, and [`serve`], which
//! loops read head → parse → ask docroot → write reply until the connection
//! closes or has answered everything its client sent; then the connection
//! waits in [`parking`](super::parking) for the client's next request.
//!
//! Bytes after a head stay in the buffer for the next turn, so pipelined
//! requests are never lost. A request with a body is answered and the
//! connection closed (see `request::framing`), so its body can never be read
//! as a request.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::StatusCode;

use super::request::{self, HeadLimits, ParseError};
use super::response::{ChunkedSender, Persistence, write_reply};
use crate::Limits;
use crate::docroot::{DocRoot, Reply, RequestView};

/// First size of a connection's head buffer; it doubles up to the head limit,
/// so only a large head pays for more. 2 KiB holds a browser's usual request;
/// at 1000 connections it measured 6 MB less peak memory than 8 KiB, and no
/// slower (README, Benchmarks).
const INITIAL_BUFFER: usize = 2 * 1024;

/// How far the receive timeout may be from a deadline before it is set again:
/// a read may end this much early or late, against timeouts of seconds.
const TIMEOUT_SLACK: Duration = Duration::from_millis(100);

/// After the last response on a connection, how long unread request bytes are
/// drained before the socket is closed (see [`linger_close`]). Short, because
/// a lingering connection holds a worker: one second is enough for a client
/// that is sending a body to finish or to read our answer and close.
const LINGER_TIME: Duration = Duration::from_secs(1);
/// ... and how many bytes at most, so a client cannot keep a worker draining.
const LINGER_BYTES: usize = 1024 * 1024;

/// What every connection of a raw server shares.
#[derive(Debug)]
pub struct Context {
    pub docroot: Arc<DocRoot>,
    pub limits: Limits,
    pub chunk_size: usize,
    pub print_requests: bool,
    /// `--once`: answer one request, close, and let the server stop.
    pub once: bool,
    /// Answer with the parsed request instead of a file (`Config::introspect`).
    pub introspect: bool,
}

/// Why no complete head came from the socket.
#[derive(Debug)]
enum ReadError {
    /// The client closed, or the idle keep-alive time ran out, between requests.
    Closed,
    /// A head began but did not finish within the head timeout (→ 408).
    TimedOut,
    /// The bytes broke a rule (→ the error's status).
    Parse(ParseError),
    Io(io::Error),
}

/// Owns the socket and the bytes read from it but not yet consumed.
struct HeadReader {
    /// Shared with the server's list of open connections, which shuts it
    /// down at exit; an `Arc` rather than a `dup`ed descriptor per connection.
    stream: Arc<TcpStream>,
    buf: Vec<u8>,
    /// The socket's receive timeout as last set, to skip setting it again.
    read_timeout: Option<Duration>,
    start: usize,
    end: usize,
}

impl HeadReader {
    /// `read_timeout`: the receive timeout the socket already has.
    fn new(stream: Arc<TcpStream>, read_timeout: Duration) -> HeadReader {
        HeadReader {
            stream,
            buf: Vec::new(),
            read_timeout: Some(read_timeout),
            start: 0,
            end: 0,
        }
    }

    /// Gives the reader its buffer back after [`HeadReader::release`].
    fn reserve(&mut self) {
        if self.buf.is_empty() {
            self.buf = vec![0; INITIAL_BUFFER];
        }
    }

    /// Frees the buffer while nothing is pending: a parked connection then
    /// holds no buffer at all, only the workers' connections do.
    fn release(&mut self) {
        debug_assert!(self.start == self.end);
        self.buf = Vec::new();
        self.start = 0;
        self.end = 0;
    }

    /// Bytes received and not yet consumed: the current head and anything after it.
    fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Reads until `pending()` may start with a complete head, which the
    /// caller then parses; with `need_more`, the caller's parse found it
    /// incomplete, so at least one more read comes first.
    fn fill_head(
        &mut self,
        ctx: &Context,
        parse_limits: &HeadLimits,
        mut need_more: bool,
    ) -> Result<(), ReadError> {
        // Waiting for the first byte is the idle keep-alive time; once a head
        // has begun it must be complete within the head timeout (slowloris).
        let mut started = self.start < self.end;
        let mut deadline = Instant::now()
            + if started {
                ctx.limits.head_timeout
            } else {
                ctx.limits.idle_timeout
            };
        loop {
            if started && !need_more {
                let pending = self.pending();
                // The usual case — one whole head, nothing after it — needs no
                // parse here: the caller's is the only one.
                if pending.ends_with(b"\r\n\r\n") || pending.ends_with(b"\n\n") {
                    return Ok(());
                }
                // Otherwise a parse tells a head followed by pipelined bytes
                // from a partial one, and rejects a broken start early.
                match request::parse_head(pending, parse_limits) {
                    Ok(_) => return Ok(()),
                    Err(ParseError::Incomplete) => {}
                    Err(e) => return Err(ReadError::Parse(e)),
                }
            }
            need_more = false;
            if self.pending().len() >= ctx.limits.max_head_bytes {
                return Err(ReadError::Parse(ParseError::HeadTooLarge));
            }
            self.make_room(ctx.limits.max_head_bytes);
            let remaining = deadline.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(if started {
                    ReadError::TimedOut
                } else {
                    ReadError::Closed
                });
            }
            self.expire_reads_in(remaining).map_err(ReadError::Io)?;
            match (&*self.stream).read(&mut self.buf[self.end..]) {
                Ok(0) if started => {
                    return Err(ReadError::Io(io::ErrorKind::UnexpectedEof.into()));
                }
                Ok(0) => return Err(ReadError::Closed),
                Ok(n) => {
                    self.end += n;
                    if !started {
                        started = true;
                        deadline = Instant::now() + ctx.limits.head_timeout;
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Err(if started {
                        ReadError::TimedOut
                    } else {
                        ReadError::Closed
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ReadError::Io(e)),
            }
        }
    }

    /// Sets the socket's receive timeout to `remaining`, unless it is already
    /// within [`TIMEOUT_SLACK`] of it: a keep-alive connection then pays one
    /// `setsockopt` for its idle timeout, not one per request.
    fn expire_reads_in(&mut self, remaining: Duration) -> io::Result<()> {
        if let Some(set) = self.read_timeout
            && set.abs_diff(remaining) <= TIMEOUT_SLACK
        {
            return Ok(());
        }
        self.stream.set_read_timeout(Some(remaining))?;
        self.read_timeout = Some(remaining);
        Ok(())
    }

    /// Makes space after `end`: moves pending bytes to the front, then grows
    /// the buffer (never past the head limit, which `fill_head` checks first).
    fn make_room(&mut self, max_head: usize) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.end < self.buf.len() {
            return;
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            let grown = (self.buf.len() * 2).min(max_head.max(self.buf.len() + 1));
            self.buf.resize(grown, 0);
        }
    }

    fn consume(&mut self, len: usize) {
        self.start += len;
    }
}

/// A client connection as it passes between the accept loop, the workers and
/// [`Parking`](super::parking::Parking): everything that must outlive one
/// worker's turn, so that it can wait for its next request without a thread.
pub struct Connection {
    reader: HeadReader,
    peer: SocketAddr,
    out: Vec<u8>,
    sender: ChunkedSender,
    served: usize,
    /// Whether the socket is in the parking set already (re-arming is then a
    /// modify, not an add).
    pub(super) parked_before: bool,
    pub(super) registration: super::Registration,
}

impl Connection {
    /// `stream` comes from the listener with TCP_NODELAY and both timeouts
    /// set (`crate::bind`); its receive timeout is the idle time.
    pub(super) fn new(
        stream: Arc<TcpStream>,
        peer: SocketAddr,
        registration: super::Registration,
        ctx: &Context,
    ) -> Connection {
        Connection {
            reader: HeadReader::new(stream, ctx.limits.idle_timeout),
            peer,
            out: Vec::new(),
            sender: ChunkedSender::new(ctx.chunk_size),
            served: 0,
            parked_before: false,
            registration,
        }
    }

    pub(super) fn stream(&self) -> &Arc<TcpStream> {
        &self.reader.stream
    }
}

/// Serves a connection until it closes, fails or stops persisting — then
/// returns `None` — or until it has answered everything the client sent and
/// must wait for more: then it comes back, to be parked rather than hold the
/// worker through the client's think time. Until its first answer, a new
/// connection waits for its request here, on the worker, as a thread per
/// connection would: a client that connects and stays silent, or trickles a
/// head, holds the worker up to the idle or head timeout — the slowloris
/// lesson `compare` shows, kept on purpose. Every error ends only this
/// connection: it is logged at debug level.
pub fn serve(mut conn: Connection, ctx: &Context) -> Option<Connection> {
    conn.reader.reserve();
    match serve_turn(&mut conn, ctx) {
        Next::Park => {
            // What a thousand idle clients would otherwise hold: 3 KiB each,
            // and a whole piece (`--chunk-size`) each that last fetched a
            // large file. Allocations per turn, but lending each worker its
            // own head and output buffers instead measured no faster and
            // 1.1 MB more at S5 (128 workers keeping theirs in scattered pages).
            conn.reader.release();
            conn.out = Vec::new();
            conn.sender.release();
            Some(conn)
        }
        Next::Close => None,
    }
}

enum Next {
    Park,
    Close,
}

fn serve_turn(conn: &mut Connection, ctx: &Context) -> Next {
    let Connection {
        reader,
        peer,
        out,
        sender,
        served,
        ..
    } = conn;
    let peer = *peer;
    let parse_limits = HeadLimits {
        max_request_line: ctx.limits.max_request_line,
        max_headers: ctx.limits.max_headers,
    };
    // Whether this turn has answered a request: then, with nothing more
    // pending, the client needs a round trip before it sends again, so the
    // connection parks without waiting on the socket. (`--once` never gets
    // there: it does not keep alive.)
    let mut answered = false;
    loop {
        if answered && reader.pending().is_empty() {
            return Next::Park;
        }
        let mut need_more = false;
        let head = loop {
            match reader.fill_head(ctx, &parse_limits, need_more) {
                Ok(()) => {}
                Err(ReadError::Closed) => return Next::Close,
                Err(ReadError::TimedOut) => {
                    tracing::debug!(?peer, "request head timed out");
                    // A client too slow to send a head is not about to send more:
                    // waiting for it to close would hand a slowloris client the
                    // worker for another second per connection.
                    let method = method_of(reader.pending());
                    let status = StatusCode::REQUEST_TIMEOUT;
                    reject(&reader.stream, status, method, out, Duration::ZERO);
                    return Next::Close;
                }
                Err(ReadError::Parse(e)) => {
                    tracing::debug!(?peer, "bad request: {e}");
                    let method = method_of(reader.pending());
                    reject(&reader.stream, e.status(), method, out, LINGER_TIME);
                    return Next::Close;
                }
                Err(ReadError::Io(e)) => {
                    tracing::debug!(?peer, "read failed: {e}");
                    return Next::Close;
                }
            }
            match request::parse_head(reader.pending(), &parse_limits) {
                Ok(head) => break head,
                Err(ParseError::Incomplete) => need_more = true,
                Err(e) => {
                    tracing::debug!(?peer, "bad request: {e}");
                    let method = method_of(reader.pending());
                    reject(&reader.stream, e.status(), method, out, LINGER_TIME);
                    return Next::Close;
                }
            }
        };
        let len = head.len;
        if ctx.print_requests {
            print_head(&reader.pending()[..len]);
        }
        let framing = match request::framing(&head) {
            Ok(framing) => framing,
            Err(e) => {
                tracing::debug!(?peer, "bad framing: {e}");
                reject(&reader.stream, e.status(), head.method, out, LINGER_TIME);
                return Next::Close;
            }
        };
        *served += 1;
        let client_closes = !request::keeps_alive(&head);
        // Nothing of this client's can still be on its way: it said it would
        // close (so it sends no further request, RFC 9112 §9.6), the request
        // has no body, and no byte came after the head.
        let nothing_follows = client_closes && !framing.has_body() && reader.pending().len() == len;
        let keep_alive = !client_closes
            && !framing.has_body()
            && !ctx.once
            && *served < ctx.limits.max_requests_per_connection;
        let persistence = match (keep_alive, head.version) {
            (false, _) => Persistence::Close,
            (true, crate::docroot::Version::Http10) => Persistence::KeepAliveHttp10,
            (true, crate::docroot::Version::Http11) => Persistence::KeepAlive,
        };
        let reply = if ctx.introspect {
            Reply::introspection(describe(&head, framing))
        } else {
            ctx.docroot.respond(&RequestView {
                method: head.method,
                target: head.target,
                version: head.version,
                headers: head.headers.as_slice(),
            })
        };
        tracing::debug!(
            ?peer,
            method = head.method,
            target = head.target,
            status = reply.status.as_u16()
        );
        if let Err(e) = write_reply(&mut &*reader.stream, reply, persistence, out, sender) {
            // A client that resets or stops reading ends here, not in a panic.
            tracing::debug!(?peer, "write failed: {e}");
            return Next::Close;
        }
        if !keep_alive {
            // Lingering is for bytes a client may still send; without any,
            // waiting for its FIN would only hold the worker a round trip
            // longer (nginx's `lingering_close on` draws the same line).
            let linger = if nothing_follows {
                Duration::ZERO
            } else {
                LINGER_TIME
            };
            linger_close(&reader.stream, linger);
            return Next::Close;
        }
        reader.consume(len);
        answered = true;
    }
}

/// Answers a request that cannot be served with `status`, then closes,
/// lingering up to `linger` for the client to finish.
fn reject(
    stream: &TcpStream,
    status: StatusCode,
    method: &str,
    out: &mut Vec<u8>,
    linger: Duration,
) {
    let mut sender = ChunkedSender::new(1);
    let reply = Reply::status(status).answering(method);
    if write_reply(&mut &*stream, reply, Persistence::Close, out, &mut sender).is_ok() {
        linger_close(stream, linger);
    }
}

/// The method of a request whose head could not be parsed, as far as it
/// matters to the answer: a HEAD gets no body even when refused.
fn method_of(pending: &[u8]) -> &str {
    let line = pending.trim_ascii_start();
    if line.starts_with(b"HEAD ") {
        "HEAD"
    } else {
        ""
    }
}

/// Closes without destroying the response. Closing a socket that still has
/// unread request bytes makes the kernel send RST, and an RST can discard the
/// response before the client reads it (RFC 9112 §9.6). So: half-close our
/// side, then read and discard until the client closes — bounded in time and
/// bytes — and only then close. With `linger` zero, only what has already
/// arrived is drained.
fn linger_close(stream: &TcpStream, linger: Duration) {
    if stream.shutdown(Shutdown::Write).is_err() {
        return;
    }
    if linger.is_zero() {
        // MSG_DONTWAIT rather than switching the socket to non-blocking: one
        // ioctl fewer on every `Connection: close` request.
        let mut scratch = [0u8; 4096];
        while matches!(
            rustix::net::recv(stream, &mut scratch, rustix::net::RecvFlags::DONTWAIT),
            Ok((n, _)) if n > 0
        ) {}
        return;
    }
    let deadline = Instant::now() + linger;
    let mut drained = 0;
    let mut scratch = [0u8; 4096];
    while drained < LINGER_BYTES {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() || stream.set_read_timeout(Some(remaining)).is_err() {
            return;
        }
        match (&mut &*stream).read(&mut scratch) {
            Ok(0) | Err(_) => return,
            Ok(n) => drained += n,
        }
    }
}

/// The request as this parser understood it, for `compare`.
fn describe(head: &request::Head<'_>, framing: request::BodyFraming) -> String {
    use crate::introspection::{ParsedRequest, RequestBody};
    ParsedRequest {
        backend: crate::Backend::Raw,
        body: match framing {
            request::BodyFraming::None => RequestBody::None,
            request::BodyFraming::Length(n) => RequestBody::ContentLength(n),
            request::BodyFraming::Chunked => RequestBody::Chunked,
        },
        headers: head
            .headers
            .iter()
            .map(|h| (h.name.to_string(), h.value.escape_ascii().to_string()))
            .collect(),
        method: head.method.to_string(),
        target: head.target.to_string(),
        version: match head.version {
            crate::docroot::Version::Http10 => "HTTP/1.0",
            crate::docroot::Version::Http11 => "HTTP/1.1",
        }
        .to_string(),
    }
    .to_json()
}

/// `--print-requests`: the head as received, one line per line, with control
/// and non-ASCII bytes escaped so a request cannot drive the terminal.
fn print_head(bytes: &[u8]) {
    // A closed stdout is no reason to stop serving.
    let _ = io::stdout().lock().write_all(&printable_head(bytes));
}

fn printable_head(bytes: &[u8]) -> Vec<u8> {
    let mut text = Vec::with_capacity(bytes.len() + 16);
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\n").unwrap_or(line);
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        text.extend(line.escape_ascii());
        text.push(b'\n');
    }
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn printed_heads_cannot_drive_a_terminal() {
        let head = b"GET / HTTP/1.1\r\nX: \x1b[2J\x07caf\xc3\xa9\r\n\r\n";
        let printed = super::printable_head(head);
        assert!(
            printed
                .iter()
                .all(|&b| b == b'\n' || (b' '..=b'~').contains(&b))
        );
        assert_eq!(
            printed,
            b"GET / HTTP/1.1\nX: \\x1b[2J\\x07caf\\xc3\\xa9\n\n"
        );
    }
}

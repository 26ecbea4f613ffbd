//! How a raw connection ends without destroying its last answer: refusals
//! (a broken or late head, a full queue) are answered and then closed, and
//! a close lingers for bytes the client may still send (RFC 9112 §9.6).

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use http::StatusCode;

use super::request::ParseError;
use super::response::{ChunkedSender, Persistence, write_reply};
use super::sys;
use crate::docroot::Reply;

/// After the last response on a connection, how long unread request bytes are
/// drained before the socket is closed (see [`linger_close`]). Short, because
/// a lingering connection holds a worker: one second is enough for a client
/// that is sending a body to finish or to read our answer and close.
const LINGER_TIME: Duration = Duration::from_secs(1);
/// ... and how many bytes at most, so a client cannot keep a worker draining.
const LINGER_BYTES: usize = 1024 * 1024;

/// Closes after the last answer. `nothing_follows`: the client can have no
/// byte on its way, so only what has arrived is drained — waiting for its FIN
/// would hold the worker a round trip longer (nginx's `lingering_close on`
/// draws the same line).
pub fn close_after_answer(stream: &TcpStream, nothing_follows: bool) {
    let linger = if nothing_follows {
        Duration::ZERO
    } else {
        LINGER_TIME
    };
    linger_close(stream, linger);
}

/// Answers a head that breaks a rule with the status the rule earns, and
/// closes. `pending`: the bytes received of it.
pub fn refuse_unread(
    stream: &TcpStream,
    error: ParseError,
    pending: &[u8],
    out: &mut Vec<u8>,
    peer: SocketAddr,
) {
    tracing::debug!(?peer, "bad request: {error}");
    answer_and_close(stream, error.status(), method_of(pending), out, LINGER_TIME);
}

/// Answers a head that did not finish within the head timeout with 408, and
/// closes. Called by the poller, so it never waits: the answer goes out only
/// if the socket takes it at once (a client that has sent part of a head and
/// read every earlier answer has room for it), and nothing is drained but what
/// has already arrived — a client too slow to send a head is not about to send more.
pub fn refuse_late(stream: &TcpStream, pending: &[u8]) {
    let reply = Reply::status(StatusCode::REQUEST_TIMEOUT).answering(method_of(pending));
    let mut bytes = Vec::new();
    let mut sender = ChunkedSender::new(1);
    if write_reply(
        &mut bytes,
        reply,
        Persistence::Close,
        &mut Vec::new(),
        &mut sender,
    )
    .is_ok()
    {
        let _ = rustix::net::send(stream, &bytes, rustix::net::SendFlags::DONTWAIT);
    }
    if stream.shutdown(Shutdown::Write).is_ok() {
        sys::discard_arrived(stream);
    }
}

/// Answers a request that cannot be served with `status`, then closes.
pub fn refuse(stream: &TcpStream, status: StatusCode, method: &str, out: &mut Vec<u8>) {
    answer_and_close(stream, status, method, out, LINGER_TIME);
}

/// Every worker busy and the queue full: say so at once (RFC 9110 §15.6.4)
/// rather than leave the client waiting with no bound.
pub fn refuse_busy(stream: &TcpStream) {
    tracing::debug!("queue full; answering 503");
    let mut reply = Reply::status(StatusCode::SERVICE_UNAVAILABLE);
    reply.headers.insert(
        http::header::RETRY_AFTER,
        http::HeaderValue::from_static("1"),
    );
    let mut out = Vec::new();
    let mut sender = ChunkedSender::new(1);
    // The accept loop must not stall on this client.
    let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
    let _ = write_reply(
        &mut &*stream,
        reply,
        Persistence::Close,
        &mut out,
        &mut sender,
    );
    let _ = (&mut &*stream).flush();
    let _ = stream.shutdown(Shutdown::Write);
}

/// Answers with `status` alone, then closes, lingering up to `linger` for
/// the client to finish.
fn answer_and_close(
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
        sys::discard_arrived(stream);
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

//! How a raw connection ends without destroying its last answer: refusals
//! (a broken or late head, a full queue) are answered and then closed, and a
//! close lingers for bytes the client may still send (RFC 9112 §9.6) — in
//! parking, so no worker waits for a client to finish.

use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use http::StatusCode;

use super::reader::Refusal;
use super::response::{ChunkedSender, Persistence, render_in_memory, write_reply};
use super::sys;
use crate::docroot::Reply;

/// After the last response on a connection, how long unread request bytes are
/// drained before the socket is closed: enough for a client that is sending a
/// body to finish, or to read our answer and close. The connection waits in
/// parking meanwhile, not on a worker.
pub const LINGER_TIME: Duration = Duration::from_secs(1);
/// ... and how many bytes at most, so a client cannot keep it draining.
pub const LINGER_BYTES: usize = 1024 * 1024;

/// What is left of a connection once its last answer is written.
#[must_use]
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    /// Closed: nothing can still be on its way.
    Closed,
    /// Half-closed; the client may still be sending, so what it sends is
    /// drained, without waiting on a worker ([`drain`]), before the close.
    Linger,
}

/// Closes after the last answer. Closing a socket that still has unread
/// request bytes makes the kernel send RST, and an RST can discard the
/// response before the client reads it (RFC 9112 §9.6). So our side is
/// half-closed and what has arrived is read and discarded; when
/// `nothing_follows` is false the client may have more on its way, and the
/// connection lingers. (`nothing_follows`: the client said it would close and
/// sent no body and nothing after — nginx's `lingering_close on` draws the same line.)
pub fn close_after_answer(stream: &TcpStream, nothing_follows: bool) -> Ending {
    if stream.shutdown(Shutdown::Write).is_err() {
        return Ending::Closed;
    }
    // More than one go's worth has arrived: the rest is drained lingering.
    if sys::discard_arrived(stream) && nothing_follows {
        Ending::Closed
    } else {
        Ending::Linger
    }
}

/// Reads and discards what a lingering connection's client has sent, without
/// waiting; `drained` counts it. Returns whether to go on lingering: not
/// after the client's FIN, an error, or [`LINGER_BYTES`].
pub fn drain(stream: &TcpStream, drained: &mut usize) -> bool {
    let mut scratch = [0u8; 4096];
    while *drained < LINGER_BYTES {
        match rustix::net::recv(stream, &mut scratch, rustix::net::RecvFlags::DONTWAIT) {
            Ok((0, _)) => return false,
            Ok((n, _)) => *drained += n,
            Err(rustix::io::Errno::AGAIN) => return true,
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => return false,
        }
    }
    false
}

/// Answers a head that cannot be served — it breaks a rule (the rule's
/// status), or it needs more room than the server has now (503) — and closes.
/// `pending`: the bytes received of it.
pub fn refuse_unread(
    stream: &TcpStream,
    refusal: Refusal,
    pending: &[u8],
    out: &mut Vec<u8>,
    peer: SocketAddr,
) -> Ending {
    let status = match refusal {
        Refusal::Parse(e) => {
            tracing::debug!(?peer, "bad request: {e}");
            e.status()
        }
        Refusal::NoRoom => {
            tracing::debug!(?peer, "no room for a large head; answering 503");
            StatusCode::SERVICE_UNAVAILABLE
        }
    };
    answer_and_close(stream, status, method_of(pending), out)
}

/// Answers a head that did not finish within the head timeout with 408, and
/// closes. Called by the poller, so it never waits: the answer goes out only
/// if the socket takes it at once (a client that has sent part of a head and
/// read every earlier answer has room for it), and nothing is drained but what
/// has already arrived — a client too slow to send a head is not about to send more.
pub fn refuse_late(stream: &TcpStream, pending: &[u8]) {
    let reply = Reply::status(StatusCode::REQUEST_TIMEOUT).answering(method_of(pending));
    let mut bytes = Vec::new();
    if render_in_memory(reply, Persistence::Close, &mut bytes).is_some() {
        let _ = rustix::net::send(stream, &bytes, rustix::net::SendFlags::DONTWAIT);
    }
    if stream.shutdown(Shutdown::Write).is_ok() {
        let _ = sys::discard_arrived(stream);
    }
}

/// Answers a request that cannot be served with `status`, then closes.
pub fn refuse(stream: &TcpStream, status: StatusCode, method: &str, out: &mut Vec<u8>) -> Ending {
    answer_and_close(stream, status, method, out)
}

/// Every worker busy and the queue full: say so at once (RFC 9110 §15.6.4)
/// rather than leave the client waiting with no bound. Only for a connection
/// nothing was sent on yet, so a short 503 fits its empty send buffer.
pub fn refuse_busy(stream: &TcpStream) {
    tracing::debug!("queue full; answering 503");
    let mut reply = Reply::status(StatusCode::SERVICE_UNAVAILABLE);
    reply.headers.insert(
        http::header::RETRY_AFTER,
        http::HeaderValue::from_static("1"),
    );
    let mut out = Vec::new();
    // The accept loop must not stall on this client.
    let _ = stream.set_write_timeout(Some(Duration::from_millis(100)));
    let _ = write_reply(
        stream,
        reply,
        Persistence::Close,
        &mut out,
        ChunkedSender::new(1),
    );
    let _ = (&mut &*stream).flush();
    let _ = stream.shutdown(Shutdown::Write);
}

/// Answers with `status` alone, then closes, lingering for what the client
/// may still send.
fn answer_and_close(
    stream: &TcpStream,
    status: StatusCode,
    method: &str,
    out: &mut Vec<u8>,
) -> Ending {
    let reply = Reply::status(status).answering(method);
    match write_reply(
        stream,
        reply,
        Persistence::Close,
        out,
        ChunkedSender::new(1),
    ) {
        Ok(()) => close_after_answer(stream, false),
        Err(_) => Ending::Closed,
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

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};
    use std::time::{Duration, Instant};

    use super::{Ending, close_after_answer};

    /// A client that sends far more than a request after its `Connection:
    /// close` is not drained to the end by the thread that closes it: past
    /// one go's worth, the rest is the linger's.
    #[test]
    fn bytes_past_one_go_leave_the_connection_lingering() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        let junk = vec![b'x'; 96 * 1024];
        let sender = std::thread::spawn(move || {
            client
                .set_write_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let _ = client.write_all(&junk);
            client
        });
        // More than one go's worth is in the server's socket before it closes.
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut peeked = vec![0u8; 96 * 1024];
        while server.peek(&mut peeked).unwrap() <= super::sys::DISCARD_AT_ONCE {
            assert!(Instant::now() < deadline, "the bytes never arrived");
        }
        assert_eq!(close_after_answer(&server, true), Ending::Linger);
        drop(server);
        drop(sender.join().unwrap());
    }
}

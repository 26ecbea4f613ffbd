//! Gathers request heads off a raw connection's socket without waiting:
//! [`HeadReader`] keeps the bytes received and not yet answered, takes what
//! has arrived each time the socket is readable ([`HeadReader::gather`]), and
//! hands out a head only once the bytes hold a whole one
//! ([`HeadReader::next_head`]). Bytes after a head stay for the next request.
//!
//! No call here blocks, so no thread waits for a client: until its head is
//! whole, a connection waits in [`parking`](super::parking), which calls
//! `gather` when bytes arrive and ends the head timeout.

use std::io;
use std::net::TcpStream;
use std::time::Instant;

use rustix::net::RecvFlags;

use super::request::{self, Head, HeadLimits, ParseError};
use crate::Limits;

/// First size of a connection's head buffer; it doubles up to the head limit,
/// so only a large head pays for more. 2 KiB holds a browser's usual request.
const INITIAL_BUFFER: usize = 2 * 1024;

/// What the bytes gathered so far call for.
#[derive(Debug, PartialEq, Eq)]
pub enum Gathered {
    /// A whole head, or bytes that already break a rule: a worker's turn.
    Ready,
    /// Nothing yet, or part of a head: wait for more (see [`HeadReader::deadline`]).
    Waiting,
    /// The client closed or reset the connection before a whole head.
    Closed,
}

/// A request head as it came off the socket.
pub struct Received<'r> {
    pub head: Head<'r>,
    /// The head's bytes as received.
    pub bytes: &'r [u8],
    /// Whether bytes after the head have arrived too: a pipelined request, or a body.
    pub more_pending: bool,
}

/// The bytes read from one connection and not yet consumed.
pub struct HeadReader {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// When the head now pending must be whole: the head timeout counted from
    /// its first byte. `None` while nothing is pending.
    head_deadline: Option<Instant>,
}

impl HeadReader {
    pub fn new() -> HeadReader {
        HeadReader {
            buf: Vec::new(),
            start: 0,
            end: 0,
            head_deadline: None,
        }
    }

    /// Frees the buffer while nothing is pending, so that a connection waiting
    /// between requests holds none.
    pub fn release(&mut self) {
        if self.pending().is_empty() {
            self.buf = Vec::new();
            self.start = 0;
            self.end = 0;
        }
    }

    /// Bytes received and not yet consumed: the current head and anything after it.
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// When the head that has begun must be whole; `None` when none has begun.
    pub fn deadline(&self) -> Option<Instant> {
        self.head_deadline
    }

    /// Marks the first `len` pending bytes (an answered head) as consumed.
    /// What follows is the next head, timed from now.
    pub fn consume(&mut self, len: usize, limits: &Limits) {
        self.start += len;
        self.head_deadline =
            (!self.pending().is_empty()).then(|| Instant::now() + limits.head_timeout);
    }

    /// Takes what has arrived on `stream`, without waiting, and says whether a
    /// worker has something to do. The first byte of a head starts its head
    /// timeout; a head that outgrows the limit, or whose first lines already
    /// break a rule, is ready at once, for the worker to refuse.
    pub fn gather(&mut self, stream: &TcpStream, limits: &Limits) -> Gathered {
        if self.pending().len() < limits.max_head_bytes {
            self.make_room(limits.max_head_bytes);
            match rustix::net::recv(stream, &mut self.buf[self.end..], RecvFlags::DONTWAIT) {
                Ok((0, _)) => return Gathered::Closed,
                Ok((n, _)) => {
                    if self.pending().is_empty() {
                        self.head_deadline = Some(Instant::now() + limits.head_timeout);
                    }
                    self.end += n;
                }
                Err(rustix::io::Errno::AGAIN | rustix::io::Errno::INTR) => {}
                Err(e) => {
                    tracing::debug!("read failed: {}", io::Error::from(e));
                    return Gathered::Closed;
                }
            }
        }
        match self.next_head(limits) {
            Ok(Some(_)) | Err(_) => Gathered::Ready,
            Ok(None) => Gathered::Waiting,
        }
    }

    /// The whole head at the front of the pending bytes, if one is there:
    /// `Ok(None)` while only part of one has arrived, an error when the bytes
    /// break a rule or outgrow the head limit.
    pub fn next_head(&self, limits: &Limits) -> Result<Option<Received<'_>>, ParseError> {
        let parse_limits = HeadLimits {
            max_request_line: limits.max_request_line,
            max_headers: limits.max_headers,
        };
        let pending = self.pending();
        if !request::holds_whole_head(pending) {
            // A part of a head can already break a rule (a TLS handshake, a
            // bad field line): refuse it now, not at the head timeout.
            return match request::parse_head(pending, &parse_limits) {
                Err(ParseError::Incomplete) | Ok(_) if pending.len() >= limits.max_head_bytes => {
                    Err(ParseError::HeadTooLarge)
                }
                Err(ParseError::Incomplete) | Ok(_) => Ok(None),
                Err(e) => Err(e),
            };
        }
        let head = request::parse_head(pending, &parse_limits)?;
        Ok(Some(Received {
            bytes: &pending[..head.len],
            more_pending: pending.len() > head.len,
            head,
        }))
    }

    /// Makes space after `end`: moves pending bytes to the front, then grows
    /// the buffer (never past the head limit, which `gather` checks first).
    fn make_room(&mut self, max_head: usize) {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.buf.is_empty() {
            self.buf = vec![0; INITIAL_BUFFER.min(max_head.max(1))];
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
}

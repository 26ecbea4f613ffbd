//! Reads request heads off a raw connection's socket: [`HeadReader`] keeps
//! the bytes received and not yet answered, reads until they hold a whole
//! head — within the idle and head timeouts and the head-size limit — and
//! returns it parsed. Bytes after a head stay for the next request.

use std::io::{self, Read};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use super::request::{self, Head, HeadLimits, ParseError};
use crate::Limits;

/// First size of a connection's head buffer; it doubles up to the head limit,
/// so only a large head pays for more. 2 KiB holds a browser's usual request.
const INITIAL_BUFFER: usize = 2 * 1024;

/// How far the receive timeout may be from a deadline before it is set again:
/// a read may end this much early or late, against timeouts of seconds.
const TIMEOUT_SLACK: Duration = Duration::from_millis(100);

/// Why no complete head came from the socket.
#[derive(Debug)]
pub enum ReadError {
    /// The client closed, or the idle keep-alive time ran out, between requests.
    Closed,
    /// A head began but did not finish within the head timeout (→ 408).
    TimedOut,
    /// The bytes broke a rule (→ the error's status).
    Parse(ParseError),
    Io(io::Error),
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
    /// The socket's receive timeout as last set, to skip setting it again.
    read_timeout: Duration,
}

impl HeadReader {
    /// `read_timeout`: the receive timeout the socket already has.
    pub fn new(read_timeout: Duration) -> HeadReader {
        HeadReader {
            buf: Vec::new(),
            start: 0,
            end: 0,
            read_timeout,
        }
    }

    /// Gives the reader its buffer back after [`HeadReader::release`].
    pub fn reserve(&mut self) {
        if self.buf.is_empty() {
            self.buf = vec![0; INITIAL_BUFFER];
        }
    }

    /// Frees the buffer while nothing is pending, so that a connection waiting
    /// between requests holds none.
    pub fn release(&mut self) {
        debug_assert!(self.start == self.end);
        self.buf = Vec::new();
        self.start = 0;
        self.end = 0;
    }

    /// Bytes received and not yet consumed: the current head and anything after it.
    pub fn pending(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Marks the first `len` pending bytes (an answered head) as consumed.
    pub fn consume(&mut self, len: usize) {
        self.start += len;
    }

    /// Reads from `stream` until a whole head is pending, and returns it parsed.
    ///
    /// Waiting for a head's first byte is bounded by the idle keep-alive time;
    /// once a head has begun it must be complete within the head timeout, so a
    /// client that trickles one (slowloris) gets a 408, not the worker.
    pub fn read_head<'r>(
        &'r mut self,
        stream: &TcpStream,
        limits: &Limits,
    ) -> Result<Received<'r>, ReadError> {
        let parse_limits = HeadLimits {
            max_request_line: limits.max_request_line,
            max_headers: limits.max_headers,
        };
        let mut deadline = Instant::now()
            + if self.pending().is_empty() {
                limits.idle_timeout
            } else {
                limits.head_timeout
            };
        loop {
            let pending = self.pending();
            if request::holds_whole_head(pending) {
                break;
            }
            if !pending.is_empty() {
                // A part of a head can already break a rule (a TLS handshake,
                // a bad field line): refuse it now, not at the head timeout.
                match request::parse_head(pending, &parse_limits) {
                    Err(ParseError::Incomplete) | Ok(_) => {}
                    Err(e) => return Err(ReadError::Parse(e)),
                }
            }
            self.read_more(stream, limits, &mut deadline)?;
        }
        let pending = self.pending();
        let head = request::parse_head(pending, &parse_limits).map_err(ReadError::Parse)?;
        Ok(Received {
            bytes: &pending[..head.len],
            more_pending: pending.len() > head.len,
            head,
        })
    }

    /// One read from the socket into the buffer, before `deadline`; the first
    /// byte of a head moves the deadline to the head timeout.
    fn read_more(
        &mut self,
        stream: &TcpStream,
        limits: &Limits,
        deadline: &mut Instant,
    ) -> Result<(), ReadError> {
        let started = !self.pending().is_empty();
        let gave_up = || {
            if started {
                ReadError::TimedOut
            } else {
                ReadError::Closed
            }
        };
        if self.pending().len() >= limits.max_head_bytes {
            return Err(ReadError::Parse(ParseError::HeadTooLarge));
        }
        self.make_room(limits.max_head_bytes);
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(gave_up());
        }
        self.expire_reads_in(stream, remaining)
            .map_err(ReadError::Io)?;
        match (&*stream).read(&mut self.buf[self.end..]) {
            Ok(0) if started => Err(ReadError::Io(io::ErrorKind::UnexpectedEof.into())),
            Ok(0) => Err(ReadError::Closed),
            Ok(n) => {
                self.end += n;
                if !started {
                    *deadline = Instant::now() + limits.head_timeout;
                }
                Ok(())
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                Err(gave_up())
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(e) => Err(ReadError::Io(e)),
        }
    }

    /// Sets the socket's receive timeout to `remaining`, unless it is already
    /// within [`TIMEOUT_SLACK`] of it: a keep-alive connection then pays one
    /// `setsockopt` for its idle timeout, not one per request.
    fn expire_reads_in(&mut self, stream: &TcpStream, remaining: Duration) -> io::Result<()> {
        if self.read_timeout.abs_diff(remaining) <= TIMEOUT_SLACK {
            return Ok(());
        }
        stream.set_read_timeout(Some(remaining))?;
        self.read_timeout = remaining;
        Ok(())
    }

    /// Makes space after `end`: moves pending bytes to the front, then grows
    /// the buffer (never past the head limit, which `read_more` checks first).
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
}

//! Gathers request heads off a raw connection's socket without waiting:
//! [`HeadReader`] keeps the bytes received and not yet answered, takes what
//! has arrived each time the socket is readable ([`HeadReader::gather`]), and
//! hands out a head only once the bytes hold a whole one
//! ([`HeadReader::next_head`]). Bytes after a head stay for the next request.
//!
//! No call here blocks, so no thread waits for a client: until its head is
//! whole, a connection waits in [`parking`](super::parking), which calls
//! `gather` when bytes arrive and ends the head timeout.
//!
//! A whole head is parsed once: when the poller parses one and leaves it to a
//! worker, it keeps what the parser found ([`HeadReader::keep`]), and the
//! worker's [`HeadReader::next_head`] takes that instead of parsing again.

use std::io;
use std::mem::MaybeUninit;
use std::net::TcpStream;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use rustix::net::RecvFlags;

use super::request::{self, Head, HeadLimits, Header, ParseError};
use crate::Limits;
use crate::docroot::Version;

/// The most a connection's first read of a head takes, and the least its
/// buffer grows to when a head needs more reads; it doubles from there up to
/// the head limit, so only a large head pays for more. 2 KiB holds a
/// browser's usual request.
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

/// Why no head can be handed out.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The bytes break a rule (→ the error's status).
    Parse(ParseError),
    /// The head needs a larger buffer than the server has room for now, with
    /// every connection's large heads counted together (→ 503).
    NoRoom,
}

/// The bytes of large heads all connections may hold at once, beyond each
/// one's first [`INITIAL_BUFFER`]: a head still arriving costs no thread, so
/// without this bound ten thousand clients sending 64 KiB heads slowly would
/// cost 640 MiB.
#[derive(Debug)]
pub struct HeadBudget {
    held: AtomicUsize,
    limit: usize,
}

impl HeadBudget {
    pub fn new(limit: usize) -> Arc<HeadBudget> {
        Arc::new(HeadBudget {
            held: AtomicUsize::new(0),
            limit,
        })
    }

    fn take(&self, bytes: usize) -> bool {
        self.held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                (held + bytes <= self.limit).then_some(held + bytes)
            })
            .is_ok()
    }

    fn give_back(&self, bytes: usize) {
        self.held.fetch_sub(bytes, Ordering::AcqRel);
    }

    /// Bytes taken and not given back.
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.held.load(Ordering::Acquire)
    }
}

/// The bytes read from one connection and not yet consumed.
pub struct HeadReader {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// When the head now pending must be whole: the head timeout counted from
    /// its first byte. `None` while nothing is pending.
    head_deadline: Option<Instant>,
    budget: Arc<HeadBudget>,
    /// What this reader's buffer holds of `budget`: its length beyond `INITIAL_BUFFER`.
    charged: usize,
    /// The head outgrew the room `budget` had.
    no_room: bool,
    /// The last [`HeadReader::gather`] left nothing unread on the socket.
    drained: bool,
    /// What the parser made of the whole head at the front of the pending
    /// bytes, kept for the worker; dropped whenever that front changes.
    parsed: Option<Parsed>,
    /// How many times a whole head was parsed here, for the tests.
    #[cfg(test)]
    parses: std::cell::Cell<usize>,
}

/// What the parser found in a whole head: the head, as spans of the pending
/// bytes (the same bytes while it is kept, wherever the buffer moves them),
/// or the rule it broke.
#[derive(Debug)]
pub enum Parsed {
    Head(Spans),
    Broken(ParseError),
}

/// A [`Head`] as offsets from the start of the pending bytes.
#[derive(Debug)]
pub struct Spans {
    method: Range<usize>,
    target: Range<usize>,
    version: Version,
    headers: Vec<(Range<usize>, Range<usize>)>,
    len: usize,
}

impl Spans {
    /// `head`'s spans within `pending`, the bytes it was parsed from; `None`
    /// if any part of it lies elsewhere.
    fn of(pending: &[u8], head: &Head<'_>) -> Option<Spans> {
        let span = |part: &[u8]| {
            let from = (part.as_ptr() as usize).checked_sub(pending.as_ptr() as usize)?;
            let to = from.checked_add(part.len())?;
            (to <= pending.len()).then_some(from..to)
        };
        Some(Spans {
            method: span(head.method.as_bytes())?,
            target: span(head.target.as_bytes())?,
            version: head.version,
            headers: head
                .headers
                .iter()
                .map(|h| Some((span(h.name.as_bytes())?, span(h.value)?)))
                .collect::<Option<_>>()?,
            len: head.len,
        })
    }

    /// The head again, from the same bytes; `None` if they no longer fit.
    fn head<'b>(&self, pending: &'b [u8]) -> Option<Head<'b>> {
        let text = |span: &Range<usize>| std::str::from_utf8(pending.get(span.clone())?).ok();
        Some(Head {
            method: text(&self.method)?,
            target: text(&self.target)?,
            version: self.version,
            headers: self
                .headers
                .iter()
                .map(|(name, value)| {
                    Some(Header {
                        name: text(name)?,
                        value: pending.get(value.clone())?,
                    })
                })
                .collect::<Option<_>>()?,
            len: self.len,
        })
        .filter(|head| head.len <= pending.len())
    }
}

impl HeadReader {
    pub fn new(budget: Arc<HeadBudget>) -> HeadReader {
        HeadReader {
            buf: Vec::new(),
            start: 0,
            end: 0,
            head_deadline: None,
            budget,
            charged: 0,
            no_room: false,
            drained: false,
            parsed: None,
            #[cfg(test)]
            parses: std::cell::Cell::new(0),
        }
    }

    /// Before a connection waits: frees the buffer when nothing is pending, so
    /// that an idle connection holds none, and otherwise shrinks it to the
    /// part of a head it holds.
    pub fn release(&mut self) {
        let kept = if self.pending().is_empty() {
            Vec::new()
        } else {
            self.pending().to_vec()
        };
        self.end = kept.len();
        self.start = 0;
        self.set_buffer(kept);
    }

    /// The connection will read no more heads (it lingers, or closes): frees
    /// the buffer and its share of the budget, whatever is pending.
    pub fn discard(&mut self) {
        self.parsed = None;
        self.start = 0;
        self.end = 0;
        self.head_deadline = None;
        self.set_buffer(Vec::new());
    }

    /// Whether the last [`HeadReader::gather`] read all the socket held.
    pub fn drained(&self) -> bool {
        self.drained
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
        self.parsed = None;
        self.start += len;
        self.head_deadline = None;
        self.begin_head(limits);
    }

    /// Takes what has arrived on `stream`, without waiting, and says whether a
    /// worker has something to do. The first byte of a head starts its head
    /// timeout; a head that outgrows the limit, or whose first lines already
    /// break a rule, is ready at once, for the worker to refuse.
    pub fn gather(&mut self, stream: &TcpStream, limits: &Limits) -> Gathered {
        self.drained = false;
        if self.pending().len() < limits.max_head_bytes {
            let (received, room) = if self.buf.is_empty() {
                let room = INITIAL_BUFFER.min(limits.max_head_bytes.max(1));
                (self.receive_first(stream, room), room)
            } else if self.make_room(limits.max_head_bytes) {
                let room = self.buf.len() - self.end;
                let received =
                    rustix::net::recv(stream, &mut self.buf[self.end..], RecvFlags::DONTWAIT);
                (received.map(|(n, _)| n), room)
            } else {
                self.no_room = true;
                return Gathered::Ready;
            };
            match received {
                Ok(0) => return Gathered::Closed,
                Ok(n) => {
                    // Less than there was room for: all that had arrived.
                    self.drained = n < room;
                    self.end += n;
                    self.begin_head(limits);
                }
                Err(rustix::io::Errno::AGAIN) => self.drained = true,
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => {
                    tracing::debug!("read failed: {}", io::Error::from(e));
                    return Gathered::Closed;
                }
            }
        }
        // A whole head is found without parsing it: it is parsed once, by
        // whoever answers it first, and what a worker is left is kept.
        if request::holds_whole_head(self.pending()) {
            return Gathered::Ready;
        }
        match self.next_head(limits) {
            Ok(Some(_)) | Err(_) => Gathered::Ready,
            Ok(None) => Gathered::Waiting,
        }
    }

    /// Empty lines before a request line are dropped (RFC 9112 §2.2 lets a
    /// server ignore them), so they neither start a head timeout nor hold a
    /// buffer; the first other byte starts the head's timeout.
    fn begin_head(&mut self, limits: &Limits) {
        if self.pending().iter().all(|&b| b == b'\r' || b == b'\n') {
            self.parsed = None;
            self.start = self.end;
            self.head_deadline = None;
        } else if self.head_deadline.is_none() {
            self.head_deadline = Some(Instant::now() + limits.head_timeout);
        }
    }

    /// The whole head at the front of the pending bytes, if one is there:
    /// `Ok(None)` while only part of one has arrived, a refusal when the bytes
    /// break a rule or outgrow the head limit or the room there is.
    pub fn next_head(&self, limits: &Limits) -> Result<Option<Received<'_>>, Refusal> {
        let parse_limits = HeadLimits {
            max_request_line: limits.max_request_line,
            max_headers: limits.max_headers,
        };
        let pending = self.pending();
        match &self.parsed {
            Some(Parsed::Head(spans)) => {
                if let Some(head) = spans.head(pending) {
                    // A kept head that is not what these bytes hold would
                    // answer another request: every test build checks.
                    debug_assert_eq!(
                        Ok(&head),
                        request::parse_head(pending, &parse_limits).as_ref()
                    );
                    return Ok(Some(Received {
                        bytes: &pending[..head.len],
                        more_pending: pending.len() > head.len,
                        head,
                    }));
                }
            }
            Some(Parsed::Broken(e)) => {
                debug_assert_eq!(Err(*e), request::parse_head(pending, &parse_limits));
                return Err(Refusal::Parse(*e));
            }
            None => {}
        }
        if !request::holds_whole_head(pending) {
            // A part of a head can already break a rule (a TLS handshake, a
            // bad field line): refuse it now, not at the head timeout.
            return match request::parse_head(pending, &parse_limits) {
                Err(ParseError::Incomplete) | Ok(_) if pending.len() >= limits.max_head_bytes => {
                    Err(Refusal::Parse(ParseError::HeadTooLarge))
                }
                Err(ParseError::Incomplete) | Ok(_) if self.no_room => Err(Refusal::NoRoom),
                Err(ParseError::Incomplete) | Ok(_) => Ok(None),
                Err(e) => Err(Refusal::Parse(e)),
            };
        }
        #[cfg(test)]
        self.parses.set(self.parses.get() + 1);
        let head = request::parse_head(pending, &parse_limits).map_err(Refusal::Parse)?;
        Ok(Some(Received {
            bytes: &pending[..head.len],
            more_pending: pending.len() > head.len,
            head,
        }))
    }

    /// What [`HeadReader::next_head`] found in the whole head at the front of
    /// the pending bytes, to be kept for the next call (a worker's) instead
    /// of a second parse: `Ok` the head it handed out, `Err` the rule that
    /// head broke. A refusal of a head not yet whole (a rule broken early, a
    /// head too large, no room) is not kept: it depends on more than the bytes.
    pub fn parsed(&self, found: Result<&Head<'_>, &Refusal>) -> Option<Parsed> {
        match found {
            Ok(head) => Spans::of(self.pending(), head).map(Parsed::Head),
            Err(Refusal::Parse(e)) if request::holds_whole_head(self.pending()) => {
                Some(Parsed::Broken(*e))
            }
            Err(_) => None,
        }
    }

    /// Keeps `parsed` (from [`HeadReader::parsed`], for the pending bytes as
    /// they are now) until the front of the pending bytes changes.
    pub fn keep(&mut self, parsed: Option<Parsed>) {
        self.parsed = parsed;
    }

    /// How many times a whole head was parsed here.
    #[cfg(test)]
    pub fn parses(&self) -> usize {
        self.parses.get()
    }

    /// Reads into a buffer sized to what arrived: a head waiting in the
    /// workers' queue then holds its own bytes, not a whole buffer.
    fn receive_first(&mut self, stream: &TcpStream, limit: usize) -> rustix::io::Result<usize> {
        // Uninitialised: filling 2 KiB with zeros for every request would cost
        // more than the read.
        let mut scratch = [MaybeUninit::<u8>::uninit(); INITIAL_BUFFER];
        let ((received, _), _) =
            rustix::net::recv(stream, &mut scratch[..limit], RecvFlags::DONTWAIT)?;
        self.parsed = None;
        self.start = 0;
        self.end = 0;
        let n = received.len();
        self.set_buffer(received.to_vec());
        Ok(n)
    }

    /// Makes space after `end`: moves pending bytes to the front, then grows
    /// the buffer (never past the head limit, which `gather` checks first).
    /// Returns false when growing would take more than the budget has left.
    fn make_room(&mut self, max_head: usize) -> bool {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        if self.end < self.buf.len() {
            return true;
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            let grown = (self.buf.len() * 2).max(INITIAL_BUFFER);
            let grown = grown.min(max_head.max(self.buf.len() + 1));
            let charge = grown.saturating_sub(INITIAL_BUFFER);
            if charge > self.charged && !self.budget.take(charge - self.charged) {
                return false;
            }
            self.charged = charge.max(self.charged);
            self.buf.resize(grown, 0);
        }
        true
    }

    /// Replaces the buffer, settling what it holds of the budget.
    fn set_buffer(&mut self, buf: Vec<u8>) {
        let charge = buf.len().saturating_sub(INITIAL_BUFFER);
        // Shrinking only ever gives back; `make_room` takes before growing.
        if charge < self.charged {
            self.budget.give_back(self.charged - charge);
            self.charged = charge;
        }
        self.buf = buf;
    }
}

impl Drop for HeadReader {
    fn drop(&mut self) {
        self.budget.give_back(self.charged);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::net::{TcpListener, TcpStream};
    use std::time::Duration;

    /// A connected pair on loopback: (client, server side).
    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, server)
    }

    /// Gathers until the bytes sent so far have all arrived (bounded).
    fn gather_all(
        reader: &mut HeadReader,
        server: &TcpStream,
        sent: usize,
        limits: &Limits,
    ) -> Gathered {
        let mut gathered = Gathered::Waiting;
        for _ in 0..1000 {
            gathered = reader.gather(server, limits);
            if gathered != Gathered::Waiting || reader.pending().len() >= sent {
                return gathered;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        gathered
    }

    #[test]
    fn a_head_in_pieces_is_ready_only_when_whole_and_timed_from_its_first_byte() {
        let limits = Limits::default();
        let (mut client, server) = pair();
        let mut reader = HeadReader::new(HeadBudget::new(usize::MAX / 2));
        assert_eq!(reader.gather(&server, &limits), Gathered::Waiting);
        assert!(
            reader.deadline().is_none(),
            "nothing sent, no head timeout yet"
        );
        client.write_all(b"GET / HTTP/1.1\r\nHo").unwrap();
        assert_eq!(
            gather_all(&mut reader, &server, 18, &limits),
            Gathered::Waiting
        );
        let deadline = reader
            .deadline()
            .expect("the first byte starts the head timeout");
        // A queued head holds its own bytes, not a whole buffer.
        assert_eq!(reader.buf.len(), 18);
        client.write_all(b"st: a\r\n\r\nGET /next").unwrap();
        assert_eq!(
            gather_all(&mut reader, &server, 37, &limits),
            Gathered::Ready
        );
        assert_eq!(
            reader.deadline(),
            Some(deadline),
            "more bytes do not extend it"
        );
        let head = reader.next_head(&limits).unwrap().unwrap();
        assert_eq!(head.head.target, "/");
        assert!(head.more_pending);
        let len = head.head.len;
        reader.consume(len, &limits);
        assert_eq!(reader.pending(), b"GET /next");
        assert!(reader.next_head(&limits).unwrap().is_none());
        drop(client);
        assert_eq!(
            gather_all(&mut reader, &server, usize::MAX, &limits),
            Gathered::Closed
        );
    }

    #[test]
    fn a_head_that_outgrows_the_limit_is_ready_to_be_refused() {
        let limits = Limits {
            max_head_bytes: 4096,
            ..Limits::default()
        };
        let (mut client, server) = pair();
        let mut reader = HeadReader::new(HeadBudget::new(usize::MAX / 2));
        let mut head = b"GET / HTTP/1.1\r\n".to_vec();
        while head.len() < 6000 {
            head.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        client.write_all(&head).unwrap();
        let mut gathered = Gathered::Waiting;
        for _ in 0..1000 {
            gathered = reader.gather(&server, &limits);
            if gathered != Gathered::Waiting {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(gathered, Gathered::Ready);
        assert_eq!(reader.pending().len(), 4096, "never read past the limit");
        assert!(reader.buf.len() <= 4096);
        assert_eq!(
            reader.next_head(&limits).err(),
            Some(Refusal::Parse(ParseError::HeadTooLarge))
        );
    }

    #[test]
    fn a_breach_in_the_first_bytes_is_ready_at_once() {
        let limits = Limits::default();
        let (mut client, server) = pair();
        let mut reader = HeadReader::new(HeadBudget::new(usize::MAX / 2));
        // A TLS ClientHello's first bytes: no head will ever come of them.
        client
            .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
            .unwrap();
        assert_eq!(
            gather_all(&mut reader, &server, 6, &limits),
            Gathered::Ready
        );
        assert!(reader.next_head(&limits).is_err());
    }

    #[test]
    fn large_heads_share_one_budget_and_give_it_back() {
        let limits = Limits::default();
        // Room for one head to grow to 8 KiB (6 KiB beyond its first 2), not two.
        let budget = HeadBudget::new(6 * 1024);
        let mut big = b"GET / HTTP/1.1\r\n".to_vec();
        while big.len() < 5000 {
            big.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        let gather_big = |reader: &mut HeadReader, server: &TcpStream| {
            let mut gathered = Gathered::Waiting;
            for _ in 0..1000 {
                gathered = reader.gather(server, &limits);
                if gathered != Gathered::Waiting || reader.pending().len() >= big.len() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            gathered
        };
        let (mut first_client, first_server) = pair();
        let mut first = HeadReader::new(Arc::clone(&budget));
        first_client.write_all(&big).unwrap();
        assert_eq!(gather_big(&mut first, &first_server), Gathered::Waiting);
        assert_eq!(first.pending().len(), big.len());

        let (mut second_client, second_server) = pair();
        let mut second = HeadReader::new(Arc::clone(&budget));
        second_client.write_all(&big).unwrap();
        assert_eq!(gather_big(&mut second, &second_server), Gathered::Ready);
        assert_eq!(second.next_head(&limits).err(), Some(Refusal::NoRoom));
        drop(second);

        // Shrunk to its bytes while it waits, the first gives back what it can...
        first.release();
        assert_eq!(first.buf.len(), big.len());
        // ... and all of it when it goes, so a third large head fits.
        drop(first);
        assert_eq!(budget.held.load(Ordering::Acquire), 0);
        let (mut third_client, third_server) = pair();
        let mut third = HeadReader::new(Arc::clone(&budget));
        third_client.write_all(&big).unwrap();
        assert_eq!(gather_big(&mut third, &third_server), Gathered::Waiting);
    }

    #[test]
    fn empty_lines_before_a_head_start_no_timeout_and_hold_no_bytes() {
        let limits = Limits::default();
        let (mut client, server) = pair();
        let mut reader = HeadReader::new(HeadBudget::new(usize::MAX / 2));
        client.write_all(b"\r\n\r\n").unwrap();
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(reader.gather(&server, &limits), Gathered::Waiting);
        assert!(reader.pending().is_empty());
        assert!(reader.deadline().is_none());
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n\r\n")
            .unwrap();
        assert_eq!(
            gather_all(&mut reader, &server, 29, &limits),
            Gathered::Ready
        );
        let len = reader.next_head(&limits).unwrap().unwrap().head.len;
        reader.consume(len, &limits);
        assert!(
            reader.pending().is_empty(),
            "a trailing empty line is dropped"
        );
        assert!(reader.deadline().is_none(), "and starts no head timeout");
    }

    /// Keeps what the reader's next head parses to, as the poller does.
    fn keep_next(reader: &mut HeadReader, limits: &Limits) {
        let found = reader.next_head(limits).map(|r| r.map(|r| r.head));
        let parsed = reader.parsed(found.as_ref().map(|h| h.as_ref().unwrap()));
        drop(found);
        reader.keep(parsed);
    }

    /// The head a reader hands out, fields as text, and whether more follows.
    fn handed(reader: &HeadReader, limits: &Limits) -> (String, bool) {
        let received = reader.next_head(limits).unwrap().unwrap();
        (format!("{:?}", received.head), received.more_pending)
    }

    #[test]
    fn a_kept_head_is_handed_out_again_unparsed_until_it_is_consumed() {
        let limits = Limits::default();
        let (mut client, server) = pair();
        let mut reader = HeadReader::new(HeadBudget::new(usize::MAX / 2));
        let first = "GET /a?b HTTP/1.0\r\nHost: a\r\nX-Empty:\r\nAccept: */*\r\n\r\n";
        client.write_all(first.as_bytes()).unwrap();
        gather_all(&mut reader, &server, first.len(), &limits);
        let fresh = handed(&reader, &limits);
        assert_eq!(reader.parses(), 1);
        keep_next(&mut reader, &limits);
        assert!(matches!(reader.parsed, Some(Parsed::Head(_))));
        let parses = reader.parses();
        // Kept while the head stays at the front: after a release, and with
        // the next head arriving behind it.
        reader.release();
        assert_eq!(handed(&reader, &limits), fresh);
        // Longer than the first, so that a kept head left over would fit it.
        let second = "GET /next HTTP/1.1\r\nHost: b\r\nUser-Agent: a longer head\r\n\r\n";
        client.write_all(second.as_bytes()).unwrap();
        gather_all(&mut reader, &server, first.len() + second.len(), &limits);
        let (head, more) = handed(&reader, &limits);
        assert_eq!((head, more), (fresh.0.clone(), true));
        assert_eq!(
            reader.parses(),
            parses,
            "the kept head was not parsed again"
        );
        // Consumed, it goes: the next head is parsed, and is the next one.
        let len = reader.next_head(&limits).unwrap().unwrap().head.len;
        reader.consume(len, &limits);
        let next = reader.next_head(&limits).unwrap().unwrap();
        assert_eq!(next.head.target, "/next");
        assert_eq!(next.head.headers.len(), 2);
        assert_eq!(reader.parses(), parses + 1);
        // A head kept behind a consumed one (its bytes not at the buffer's
        // start) stays right when the buffer moves them to the front.
        keep_next(&mut reader, &limits);
        let kept = handed(&reader, &limits);
        let parses = reader.parses();
        reader.release();
        let third = "GET /third HTTP/1.1\r\nHost: c\r\n\r\n";
        client.write_all(third.as_bytes()).unwrap();
        gather_all(&mut reader, &server, second.len() + third.len(), &limits);
        assert_eq!(handed(&reader, &limits), (kept.0, true));
        assert_eq!(reader.parses(), parses);
    }

    #[test]
    fn a_whole_head_that_breaks_a_rule_is_kept_as_its_refusal() {
        let limits = Limits::default();
        let (mut client, server) = pair();
        let mut reader = HeadReader::new(HeadBudget::new(usize::MAX / 2));
        let bad = "GET / HTTP/1.1\r\nNo colon here\r\n\r\n";
        client.write_all(bad.as_bytes()).unwrap();
        gather_all(&mut reader, &server, bad.len(), &limits);
        let refusal = reader.next_head(&limits).err().unwrap();
        assert_eq!(refusal, Refusal::Parse(ParseError::MissingColon));
        let parsed = reader.parsed(Err(&refusal));
        assert!(matches!(
            parsed,
            Some(Parsed::Broken(ParseError::MissingColon))
        ));
        reader.keep(parsed);
        let parses = reader.parses();
        assert_eq!(reader.next_head(&limits).err(), Some(refusal));
        assert_eq!(reader.parses(), parses);
        // Not so a head still arriving, whose refusal may change with more
        // bytes (or with the room there is).
        let (mut client, server) = pair();
        let mut partial = HeadReader::new(HeadBudget::new(usize::MAX / 2));
        client.write_all(b"G\x01T / HTTP/1.1\r\n").unwrap();
        gather_all(&mut partial, &server, 17, &limits);
        let refusal = partial.next_head(&limits).err().unwrap();
        assert!(partial.parsed(Err(&refusal)).is_none());
    }
}

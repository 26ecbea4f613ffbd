//! The socket as hyper sees it: with the timeouts hyper lacks, handing hyper
//! one request head at a time, and never a byte of a request body.
//!
//! **Timeouts.** hyper has none on writing, and its own head timeout costs
//! a timer set up and torn down per request; both are kept here instead. A
//! write that stays pending past its limit, and an HTTP/1 head (the idle
//! wait before it included) that is not all in within the head timeout of
//! the first read that had to wait for it, fail with `TimedOut`, which ends
//! the connection without an answer. hyper reads only heads (its half-close
//! setting keeps it from reading while it answers, and bodies are never
//! read), so every HTTP/1 read here is part of a head. A finished operation
//! only disarms its timer, and arming keeps a deadline that is still nearly
//! a whole limit away: moving a tokio timer costs a trip through the
//! runtime's timer wheel. A timer kept that way, when it fires before the
//! operation's own deadline, is moved on to it.
//!
//! **Bodies are never read** — the rule the raw backend follows. Each read
//! hands hyper bytes up to the first place a head can end (a blank line) and
//! keeps the rest here, so when hyper parses a head, nothing after it is in
//! its buffer yet. If that request has a body, the service says so
//! ([`Wire::refuse_body`]) before hyper reads on, and from then on every
//! read is end-of-file: hyper's body decoder never sees a byte — no body,
//! valid or not, can be taken for a request, and no quirk of its chunk
//! parser can be reached. hyper answers, and since its read side has ended,
//! closes; the close half-closes and then drains what the client still
//! sends, bounded, so the kernel does not destroy the answer with a reset
//! (RFC 9112 §9.6).
//!
//! **HTTP/2** ([`TimedStream::h2`]) gets the write timeout alone: its frames
//! are not heads, an idle connection is closed by the connection task, and
//! keep-alive pings find a peer that is gone.
//!
//! The socket under it may be TCP or TLS over TCP: the heads are cut in the
//! plaintext, so TLS goes beneath this wrapper.
//!
//! **A request line too long.** hyper would read a request-target of any
//! length up to its head limit and then answer 431, which says the fields
//! are too large; RFC 9112 §3 asks for 414. So a request line whose method
//! or target passes the limit is cut there and ended here (` HTTP/1.1` and a
//! blank line; ` / HTTP/1.1` after a method alone), the rest never handed
//! over; one that passes it only in its version is handed over whole. Either
//! way the service, told of it ([`Wire::uri_too_long`]), answers 414 and
//! closes, as the raw parser does for any line over the limit.
//!
//! **What hyper drops.** hyper cuts a `#fragment` from the request-target
//! without a word, so the service could never refuse it; the request line
//! passes through here, and whether it held a `#` is noted for the service
//! ([`Wire::had_fragment`]).

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker, ready};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// After the answer to a request whose body was left unread, how long what
/// the client still sends is drained before the socket closes, and how many
/// bytes at most: the raw backend's figures (`raw::closing`).
const LINGER_TIME: Duration = Duration::from_secs(1);
const LINGER_BYTES: usize = 1024 * 1024;

/// What a connection's socket and its service share: the service's word that
/// a body will never be read, and what the socket saw of the head just handed
/// over that hyper does not tell. The service runs as soon as hyper has parsed
/// a head and before any byte after it is handed over, so what is noted here
/// is about the very request the service has.
#[derive(Debug, Default)]
pub struct Wire {
    body_refused: AtomicBool,
    fragment: AtomicBool,
    uri_too_long: AtomicBool,
}

impl Wire {
    /// The request just parsed has a body: hyper will read no further.
    pub fn refuse_body(&self) {
        self.body_refused.store(true, Ordering::Relaxed);
    }

    fn body_refused(&self) -> bool {
        self.body_refused.load(Ordering::Relaxed)
    }

    /// Whether the request-target of the head just parsed held a `#`.
    pub fn had_fragment(&self) -> bool {
        self.fragment.load(Ordering::Relaxed)
    }

    /// Whether the request line of the head just parsed was longer than the
    /// limit, and cut (see the module documentation).
    pub fn uri_too_long(&self) -> bool {
        self.uri_too_long.load(Ordering::Relaxed)
    }
}

/// What ends a request line cut at the limit in its target, so that hyper
/// has a head to hand the service, which refuses it; and what ends one cut
/// in its method.
const CUT_TARGET_END: &[u8] = b" HTTP/1.1\r\n\r\n";
const CUT_METHOD_END: &[u8] = b" / HTTP/1.1\r\n\r\n";

/// Past the limit in its version, a request line is still handed over whole
/// (a version is 8 bytes), unless it runs on this much longer: then it is no
/// version, and cut.
const VERSION_ROOM: usize = 16;

/// A socket whose reads and writes each fail once pending for their limit,
/// and which hands hyper one head at a time.
pub struct TimedStream<S> {
    inner: S,
    /// The head timeout; `None` for HTTP/2, whose reads may wait as long as
    /// the peer answers pings. Disarmed only when a head has been handed over.
    read: Option<Limit>,
    /// Whether reads are cut at the end of each HTTP/1 head.
    cut_heads: bool,
    /// The longest request line handed over whole.
    max_request_line: usize,
    write: Limit,
    heads: Heads,
    wire: Arc<Wire>,
    /// The close after an unread body, once it has begun.
    linger: Option<Linger>,
}

impl<S> TimedStream<S> {
    /// For HTTP/1: each head given `head` from the first read that waits
    /// for it, writes timed, heads handed over one at a time, request lines
    /// longer than `max_request_line` cut.
    pub fn new(
        inner: S,
        head: Duration,
        write: Duration,
        wire: Arc<Wire>,
        max_request_line: usize,
    ) -> TimedStream<S> {
        TimedStream {
            inner,
            read: Some(Limit::new(head)),
            cut_heads: true,
            max_request_line,
            write: Limit::new(write),
            heads: Heads::default(),
            wire,
            linger: None,
        }
    }

    /// For HTTP/2: writes timed, reads passed through as they come.
    pub fn h2(inner: S, write: Duration) -> TimedStream<S> {
        TimedStream {
            inner,
            read: None,
            cut_heads: false,
            max_request_line: usize::MAX,
            write: Limit::new(write),
            heads: Heads::default(),
            wire: Arc::default(),
            linger: None,
        }
    }
}

/// Bytes received past the first place a head could end, how far the search
/// for that place has come in the bytes already handed over, and what the
/// request line of the head being handed over has shown.
#[derive(Default)]
struct Heads {
    held: Vec<u8>,
    /// Where in `held` the bytes not yet handed over start.
    start: usize,
    /// The line ends seen just before: 0 none, 1 after an LF, 2 after LF CR.
    state: u8,
    line: RequestLine,
    /// What is left to hand over of the end of a cut request line.
    ending: Option<&'static [u8]>,
}

/// The request line of a head, as it passes: leading empty lines skipped,
/// whether a `#` came after the method, how long it is so far (CRs not
/// counted: the raw parser does not count the one before the LF, and refuses
/// any other) and how many spaces it has had.
#[derive(Default)]
struct RequestLine {
    started: bool,
    after_method: bool,
    done: bool,
    hash: bool,
    len: usize,
    spaces: u8,
    /// Past the limit in its version: handed over whole, and refused.
    too_long: bool,
}

impl RequestLine {
    /// Takes note of `bytes`, about to be handed over, with the search for a
    /// head's end at `state` after them; when they end a head, tells `wire`
    /// what its request line held and starts afresh. Says how many of them
    /// to hand over, and what to end the line with, when the request line
    /// runs past `limit` in its method or target: then `wire` is told, and
    /// the line is cut there.
    fn hand_over(&mut self, bytes: &[u8], state: u8, wire: &Wire, limit: usize) -> Handed {
        if let Some(keep) = self.note(bytes, limit) {
            wire.fragment.store(self.hash, Ordering::Relaxed);
            wire.uri_too_long.store(true, Ordering::Relaxed);
            let ending = if self.spaces == 0 {
                CUT_METHOD_END
            } else {
                CUT_TARGET_END
            };
            return Handed::Cut(keep, ending);
        }
        if !ends_head(bytes, state) {
            return Handed::Part;
        }
        // Empty lines before a request line look like a head's end to `cut`,
        // but hyper skips them and reads on: no head has come, and its time
        // must run on, or a client could hold a connection with `CRLF CRLF`.
        if !self.started {
            return Handed::Part;
        }
        wire.fragment.store(self.hash, Ordering::Relaxed);
        if self.too_long {
            wire.uri_too_long.store(true, Ordering::Relaxed);
        }
        *self = RequestLine::default();
        Handed::Head
    }

    /// Returns where in `bytes` the request line is to be cut, if it is.
    fn note(&mut self, bytes: &[u8], limit: usize) -> Option<usize> {
        if self.done {
            return None;
        }
        // The usual case, a whole line well within the limit, found without
        // a step per byte: its length and spaces then no longer matter.
        if !self.started && !matches!(bytes.first(), None | Some(b'\r' | b'\n')) {
            // A `#` is rare: the line's end and a `#` before it are looked for
            // at once, a space before the `#` only when there is one.
            let (lf, hash) = match memchr::memchr2(b'\n', b'#', bytes) {
                Some(lf) if bytes[lf] == b'\n' => (Some(lf), false),
                Some(hash) => (
                    memchr::memchr(b'\n', &bytes[hash..]).map(|lf| hash + lf),
                    memchr::memchr(b' ', &bytes[..hash]).is_some(),
                ),
                None => (None, false),
            };
            if let Some(lf) = lf
                && lf <= limit
            {
                self.started = true;
                self.done = true;
                self.hash = hash;
                return None;
            }
        }
        for (i, &b) in bytes.iter().enumerate() {
            if self.done {
                return None;
            }
            match b {
                b'\r' | b'\n' if !self.started => continue,
                b'\n' => {
                    self.done = true;
                    continue;
                }
                b'\r' => continue,
                b' ' => {
                    self.started = true;
                    self.after_method = true;
                    self.spaces = self.spaces.saturating_add(1);
                }
                b'#' if self.after_method => self.hash = true,
                _ => self.started = true,
            }
            self.len += 1;
            if self.len > limit {
                if self.spaces < 2 || self.len > limit.saturating_add(VERSION_ROOM) {
                    return Some(i);
                }
                self.too_long = true;
            }
        }
        None
    }
}

/// What [`RequestLine::hand_over`] found in the bytes about to go to hyper.
#[derive(Debug, PartialEq)]
enum Handed {
    /// Part of a head, or empty lines before one.
    Part,
    /// The end of a head with a request line: its time is up no more.
    Head,
    /// A request line too long: hand over this many bytes, then this ending.
    Cut(usize, &'static [u8]),
}

/// Whether `bytes`, just cut with the search for a head's end left at
/// `state`, end a head: only that leaves the search at rest after an LF.
fn ends_head(bytes: &[u8], state: u8) -> bool {
    bytes.last() == Some(&b'\n') && state == 0
}

/// How many of `bytes` to hand over: up to and including the first LF that
/// ends an empty line (`LF LF` or `LF CR LF`), or all of them; `state` carries
/// the line ends seen across reads. A head cannot end earlier than that, so a
/// cut there never gives hyper a byte past its head; cutting early only means
/// it reads again.
fn cut(state: &mut u8, bytes: &[u8]) -> usize {
    let carried = *state;
    // An LF ends an empty line if what comes before it, here or carried
    // from the bytes before, is LF or LF CR.
    let ends_empty_line = |lf: usize| match lf {
        0 => carried != 0,
        1 => bytes[0] == b'\n' || (bytes[0] == b'\r' && carried == 1),
        _ => bytes[lf - 1] == b'\n' || (bytes[lf - 1] == b'\r' && bytes[lf - 2] == b'\n'),
    };
    // The LFs are found eight bytes at a time, as one `u64`.
    let (words, rest) = bytes.as_chunks::<8>();
    for (w, word) in words.iter().enumerate() {
        let mut lfs = lf_bytes(u64::from_le_bytes(*word));
        while lfs != 0 {
            let lf = w * 8 + (lfs.trailing_zeros() / 8) as usize;
            if ends_empty_line(lf) {
                *state = 0;
                return lf + 1;
            }
            lfs &= lfs - 1;
        }
    }
    let at = words.len() * 8;
    for (i, &b) in rest.iter().enumerate() {
        if b == b'\n' && ends_empty_line(at + i) {
            *state = 0;
            return at + i + 1;
        }
    }
    *state = match bytes {
        [] => carried,
        [.., b'\n'] => 1,
        [.., b'\n', b'\r'] => 2,
        [b'\r'] if carried == 1 => 2,
        _ => 0,
    };
    bytes.len()
}

/// The high bit of each byte of `word` that is an LF, and no other bit. (The
/// shorter test with a subtraction flags some bytes after a match as well.)
fn lf_bytes(word: u64) -> u64 {
    const LOWS: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let zero_where_lf = word ^ 0x0a0a_0a0a_0a0a_0a0a;
    !(((zero_where_lf & LOWS) + LOWS) | zero_where_lf | LOWS)
}

/// The bounded drain after the answer to a request with an unread body.
struct Linger {
    deadline: Pin<Box<Sleep>>,
    drained: usize,
}

/// How long one kind of operation may stay pending.
struct Limit {
    limit: Duration,
    /// Made when first needed: most connections never wait on a write.
    timer: Option<Pin<Box<Sleep>>>,
    /// The pending operation's own deadline, while it is armed.
    deadline: Option<Instant>,
    /// The waker the timer was last polled with. A timer neither moved nor
    /// fired since still holds it, so a wait of the same task need not poll
    /// it again (a poll costs about as much as the rest of the check).
    polled_with: Option<Waker>,
}

impl Limit {
    fn new(limit: Duration) -> Limit {
        Limit {
            limit,
            timer: None,
            deadline: None,
            polled_with: None,
        }
    }

    /// The operation is pending: is its time up?
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        let deadline = *self
            .deadline
            .get_or_insert_with(|| Instant::now() + self.limit);
        let timer = match &mut self.timer {
            Some(timer) => {
                // Moving a timer costs a trip through tokio's timer wheel, so
                // one set for an earlier wait is kept when at most a sixteenth
                // of the limit short (computed, not stored: a connection holds
                // two limits for as long as it lasts).
                if timer.is_elapsed() || timer.deadline() + self.limit / 16 < deadline {
                    timer.as_mut().reset(deadline);
                } else if self
                    .polled_with
                    .as_ref()
                    .is_some_and(|waker| waker.will_wake(cx.waker()))
                {
                    return false;
                }
                timer
            }
            None => self
                .timer
                .insert(Box::pin(tokio::time::sleep_until(deadline))),
        };
        loop {
            if timer.as_mut().poll(cx).is_pending() {
                if !self
                    .polled_with
                    .as_ref()
                    .is_some_and(|waker| waker.will_wake(cx.waker()))
                {
                    self.polled_with = Some(cx.waker().clone());
                }
                return false;
            }
            if timer.deadline() >= deadline {
                self.deadline = None;
                return true;
            }
            // A timer kept from an earlier wait: on to this one's deadline.
            timer.as_mut().reset(deadline);
        }
    }

    /// Done waiting: the next wait has a deadline of its own.
    fn disarm(&mut self) {
        self.deadline = None;
    }

    /// Passes `result` on, failing a pending operation whose time is up;
    /// a finished one disarms the limit when `finished` says so.
    fn check<T>(
        &mut self,
        cx: &mut Context<'_>,
        result: Poll<io::Result<T>>,
        finished: bool,
    ) -> Poll<io::Result<T>> {
        match result {
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(io::ErrorKind::TimedOut.into())),
            Poll::Pending => Poll::Pending,
            done => {
                // Left where it is: see the module documentation.
                if finished {
                    self.disarm();
                }
                done
            }
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for TimedStream<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.cut_heads {
            let result = Pin::new(&mut this.inner).poll_read(cx, buf);
            return match &mut this.read {
                Some(limit) => limit.check(cx, result, true),
                None => result,
            };
        }
        if let Some(ending) = this.heads.ending {
            // The end of a request line cut at the limit, as much as fits.
            let n = ending.len().min(buf.remaining());
            buf.put_slice(&ending[..n]);
            this.heads.ending = (n < ending.len()).then(|| &ending[n..]);
            return Poll::Ready(Ok(()));
        }
        if this.wire.body_refused() || this.wire.uri_too_long() {
            // End of file for hyper: the body, or the rest of a line too long,
            // is the client's to keep.
            this.heads.held = Vec::new();
            this.heads.start = 0;
            return Poll::Ready(Ok(()));
        }
        let limit = this.max_request_line;
        let heads = &mut this.heads;
        if heads.start < heads.held.len() {
            // What arrived after a head: the next head, or a body that the
            // service has not yet said is one. Handed over a head at a time.
            let pending = &heads.held[heads.start..];
            let room = pending.len().min(buf.remaining());
            let take = cut(&mut heads.state, &pending[..room]);
            let handed = heads
                .line
                .hand_over(&pending[..take], heads.state, &this.wire, limit);
            if handed == Handed::Head
                && let Some(read) = &mut this.read
            {
                read.disarm();
            }
            let cut_at = match handed {
                Handed::Cut(keep, ending) => Some((keep, ending)),
                _ => None,
            };
            buf.put_slice(&pending[..cut_at.map_or(take, |(keep, _)| keep)]);
            heads.start += take;
            if heads.start == heads.held.len() || cut_at.is_some() {
                heads.held.clear();
                heads.start = 0;
            }
            if let Some((_, ending)) = cut_at {
                heads.end_cut_line(buf, ending);
            }
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        let result = match &mut this.read {
            // The head's time runs on until the head is all handed over.
            Some(limit) => limit.check(cx, result, false),
            None => result,
        };
        if let Poll::Ready(Ok(())) = result {
            let fresh = &buf.filled()[before..];
            let take = cut(&mut this.heads.state, fresh);
            let heads = &mut this.heads;
            let handed = heads
                .line
                .hand_over(&fresh[..take], heads.state, &this.wire, limit);
            if handed == Handed::Head
                && let Some(read) = &mut this.read
            {
                read.disarm();
            }
            if let Handed::Cut(keep, ending) = handed {
                buf.set_filled(before + keep);
                heads.end_cut_line(buf, ending);
            } else if take < fresh.len() {
                this.heads.held.extend_from_slice(&fresh[take..]);
                buf.set_filled(before + take);
            }
        }
        result
    }
}

impl Heads {
    /// Ends a request line cut at the limit with `ending`: what fits now,
    /// the rest at the next read.
    fn end_cut_line(&mut self, buf: &mut ReadBuf<'_>, ending: &'static [u8]) {
        let n = ending.len().min(buf.remaining());
        buf.put_slice(&ending[..n]);
        self.ending = (n < ending.len()).then(|| &ending[n..]);
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncWrite for TimedStream<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.write.check(cx, result, true)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.write.check(cx, result, true)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_flush(cx);
        this.write.check(cx, result, true)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.linger.is_none() {
            ready!(Pin::new(&mut this.inner).poll_shutdown(cx))?;
            if !this.wire.body_refused() {
                return Poll::Ready(Ok(()));
            }
            this.linger = Some(Linger {
                deadline: Box::pin(tokio::time::sleep(LINGER_TIME)),
                drained: 0,
            });
        }
        let Some(linger) = this.linger.as_mut() else {
            return Poll::Ready(Ok(()));
        };
        // Half-closed: drain until the client closes, or the bound is reached.
        let mut scratch = [0u8; 4096];
        while linger.drained < LINGER_BYTES {
            let mut scratch = ReadBuf::new(&mut scratch);
            match Pin::new(&mut this.inner).poll_read(cx, &mut scratch) {
                Poll::Ready(Ok(())) if !scratch.filled().is_empty() => {
                    linger.drained += scratch.filled().len();
                }
                Poll::Ready(_) => return Poll::Ready(Ok(())),
                Poll::Pending => {
                    if linger.deadline.as_mut().poll(cx).is_ready() {
                        return Poll::Ready(Ok(()));
                    }
                    return Poll::Pending;
                }
            }
        }
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::cut;

    /// Cuts `bytes`, arriving in `pieces`, the way reads would: each piece
    /// handed over in parts that end where a head may end.
    fn handed(pieces: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut state = 0;
        let mut out = Vec::new();
        for piece in pieces {
            let mut rest: &[u8] = piece;
            while !rest.is_empty() {
                let take = cut(&mut state, rest);
                out.push(rest[..take].to_vec());
                rest = &rest[take..];
            }
        }
        out
    }

    #[test]
    fn no_byte_after_a_head_is_handed_over_with_it() {
        let get = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n";
        let mut bytes = get.to_vec();
        bytes.extend_from_slice(b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello");
        let parts = handed(&[&bytes]);
        assert_eq!(parts[0], get);
        assert_eq!(parts[1], b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n");
        assert_eq!(parts[2], b"hello");
        // Bare LFs end a head too, and a blank line split across reads.
        let parts = handed(&[b"GET / HTTP/1.1\nHost: a\n", b"\nbody"]);
        assert_eq!(parts, [&b"GET / HTTP/1.1\nHost: a\n"[..], b"\n", b"body"]);
        let parts = handed(&[b"GET / HTTP/1.1\r\n\r", b"\nbody"]);
        assert_eq!(parts, [&b"GET / HTTP/1.1\r\n\r"[..], b"\n", b"body"]);
        // Leading empty lines are cut early, which only means another read.
        let parts = handed(&[b"\r\n\r\nGET / HTTP/1.1\r\n\r\nX"]);
        assert_eq!(parts, [&b"\r\n\r\n"[..], b"GET / HTTP/1.1\r\n\r\n", b"X"]);
    }

    /// `cut` as the definition reads, a byte at a time.
    fn cut_bytewise(state: &mut u8, bytes: &[u8]) -> usize {
        for (i, &b) in bytes.iter().enumerate() {
            *state = match (*state, b) {
                (1 | 2, b'\n') => {
                    *state = 0;
                    return i + 1;
                }
                (_, b'\n') => 1,
                (1, b'\r') => 2,
                _ => 0,
            };
        }
        bytes.len()
    }

    #[test]
    fn heads_are_cut_where_a_byte_at_a_time_search_cuts_them() {
        // Every input of up to six bytes of five kinds (with the bytes a
        // word-at-a-time search could take for an LF), from each state, after
        // 0 to 9 other bytes: at every place in a word and across two words.
        let kinds = [b'\r', b'\n', b'a', 0x8a, 0x0b];
        for len in 0..=6u32 {
            for n in 0..5usize.pow(len) {
                let tail = (0..len).map(|i| kinds[n / 5usize.pow(i) % 5]);
                for lead in 0..10 {
                    let bytes: Vec<u8> = std::iter::repeat_n(b'a', lead)
                        .chain(tail.clone())
                        .collect();
                    for state in 0..3 {
                        let (mut fast, mut slow) = (state, state);
                        let cut_at = cut(&mut fast, &bytes);
                        let expected = cut_bytewise(&mut slow, &bytes);
                        assert_eq!((cut_at, fast), (expected, slow), "{state} {bytes:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn empty_lines_are_no_head_and_do_not_stop_its_clock() {
        use super::{Handed, RequestLine, Wire};
        let wire = Wire::default();
        let mut line = RequestLine::default();
        let mut state = 0;
        let mut handed = Vec::new();
        for piece in [&b"\r\n\r\n"[..], b"\n\n", b"GET / HTTP/1.1\r\n", b"\r\n"] {
            let mut rest = piece;
            while !rest.is_empty() {
                let take = cut(&mut state, rest);
                handed.push(line.hand_over(&rest[..take], state, &wire, usize::MAX));
                rest = &rest[take..];
            }
        }
        assert_eq!(handed.iter().filter(|h| **h == Handed::Head).count(), 1);
        assert_eq!(handed.last(), Some(&Handed::Head));
    }

    #[test]
    fn a_hash_in_the_request_target_is_noted_for_its_head() {
        use super::{RequestLine, Wire};
        let wire = Wire::default();
        let mut line = RequestLine::default();
        let mut state = 0;
        let mut feed = |bytes: &[u8]| {
            let mut rest = bytes;
            while !rest.is_empty() {
                let take = cut(&mut state, rest);
                line.hand_over(&rest[..take], state, &wire, usize::MAX);
                rest = &rest[take..];
            }
        };
        feed(b"\r\nGET /a#b HTTP/1.1\r\nX: #\r\n\r\n");
        assert!(wire.had_fragment());
        feed(b"GET /a HTTP/1.1\r\nX: #\r\n");
        assert!(wire.had_fragment(), "noted only when the head ends");
        feed(b"\r\n");
        assert!(!wire.had_fragment(), "a # in a field is not in the target");
        feed(b"G#T /a HTTP/1.1\r\n\r\nGET /x?");
        assert!(!wire.had_fragment(), "nor one in the method");
        feed(b"q#f HTTP/1.1\r\n\r\n");
        assert!(wire.had_fragment(), "across reads");
    }

    proptest::proptest! {
        /// Wherever reads split the bytes, every place a head can end is a
        /// place where one part ends: no part runs past the blank line that
        /// ends the head it holds.
        #[test]
        fn parts_end_wherever_a_head_can_end(
            pieces in proptest::collection::vec(
                proptest::collection::vec(
                    // With the bytes next to LF's (and LF with its high
                    // bit set), which a word-at-a-time search could take for it.
                    proptest::sample::select(vec![b'\r', b'\n', b'a', b' ', 0x0b, 0x09, 0x8a]),
                    1..30,
                ),
                1..6,
            ),
        ) {
            let slices: Vec<&[u8]> = pieces.iter().map(Vec::as_slice).collect();
            let all: Vec<u8> = pieces.concat();
            let parts = handed(&slices);
            proptest::prop_assert_eq!(parts.concat(), all.clone());
            let ends: Vec<usize> = parts
                .iter()
                .scan(0, |at, part| {
                    *at += part.len();
                    Some(*at)
                })
                .collect();
            // Where heads end, each found from the end of the one before:
            // `LF LF` or `LF CR LF`, the first LF within that message.
            let mut from = 0;
            let mut expected = Vec::new();
            for i in 0..all.len() {
                let ends_here = all[i] == b'\n'
                    && ((i > from && all[i - 1] == b'\n')
                        || (i >= from + 2 && all[i - 1] == b'\r' && all[i - 2] == b'\n'));
                if ends_here {
                    expected.push(i + 1);
                    from = i + 1;
                }
            }
            // Parts end there and where reads end, and nowhere else.
            expected.extend(pieces.iter().scan(0, |at, piece| {
                *at += piece.len();
                Some(*at)
            }));
            expected.sort_unstable();
            expected.dedup();
            proptest::prop_assert_eq!(ends, expected, "{:?}", all);
        }
    }
}

//! What an HTTP/2 connection needs beyond hyper's own settings: knowing when
//! to close it (idle, at its request limit, after too many streams cut short
//! — the rapid-reset flood of CVE-2023-44487 — or when its open streams have
//! stalled), and telling an h2c prior-knowledge connection from an HTTP/1 one
//! by its first bytes.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use ::hyper::body::{Body, Frame, SizeHint};
use bytes::Bytes;
use tokio::io::Interest;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use super::ResponseBody;

/// The client connection preface of HTTP/2 (RFC 9113 §3.4).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The streams of one connection so far.
#[derive(Debug, Clone, Copy, Default)]
pub struct Activity {
    /// Streams whose response is not yet fully handed to hyper.
    pub open: usize,
    /// Streams begun.
    pub started: usize,
    /// Streams that ended before their response did: reset by the client,
    /// or refused.
    pub cut: usize,
}

/// Why a connection is to be closed with GOAWAY.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Closing {
    Idle,
    RequestLimit,
    TooManyCut,
    /// Streams are open but none has sent data for the stall bound (a
    /// client that keeps its flow-control window shut).
    Stalled,
}

/// The bounds [`until_closing`] enforces.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    pub idle: Duration,
    pub max_requests: usize,
    pub max_cut: usize,
    /// The longest open streams may go without sending a data frame.
    pub stall: Duration,
}

/// When a connection's streams last made progress: a data frame handed to
/// hyper, or the first stream opening on an idle connection.
#[derive(Clone)]
pub struct Progress {
    since: Instant,
    millis: Arc<AtomicU64>,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            since: Instant::now(),
            millis: Arc::new(AtomicU64::new(0)),
        }
    }

    /// Progress now.
    pub fn stamp(&self) {
        let ms = u64::try_from(self.since.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.millis.fetch_max(ms, Ordering::Relaxed);
    }

    /// When the stall bound runs out, counting from the last progress.
    fn deadline(&self, stall: Duration) -> Instant {
        self.since + Duration::from_millis(self.millis.load(Ordering::Relaxed)) + stall
    }

    /// Resolves once `stall` passes with no progress.
    pub async fn until_stalled(&self, stall: Duration) {
        loop {
            let deadline = self.deadline(stall);
            if deadline <= Instant::now() {
                return;
            }
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// Counts a connection's streams; each stream holds a [`StreamGuard`].
/// Only the changes [`until_closing`] acts on wake the connection's task.
#[derive(Clone)]
pub struct Streams {
    state: Arc<watch::Sender<Activity>>,
    progress: Progress,
    bounds: Bounds,
}

impl Streams {
    pub fn new(bounds: Bounds) -> (Streams, watch::Receiver<Activity>) {
        let (tx, rx) = watch::channel(Activity::default());
        (
            Streams {
                state: Arc::new(tx),
                progress: Progress::new(),
                bounds,
            },
            rx,
        )
    }

    pub fn progress(&self) -> Progress {
        self.progress.clone()
    }

    /// A stream begins.
    pub fn start(&self) -> StreamGuard {
        let max_requests = self.bounds.max_requests;
        self.state.send_if_modified(|a| {
            a.open += 1;
            a.started += 1;
            if a.open == 1 {
                // The stall clock starts with the first open stream; later
                // ones do not reset it, or a trickle of them would hold it off.
                self.progress.stamp();
            }
            a.open == 1 || a.started == max_requests
        });
        StreamGuard {
            streams: Arc::clone(&self.state),
            progress: self.progress.clone(),
            max_cut: self.bounds.max_cut,
            finished: false,
        }
    }
}

/// One stream, counted open until dropped; cut short unless its body ended.
pub struct StreamGuard {
    streams: Arc<watch::Sender<Activity>>,
    progress: Progress,
    max_cut: usize,
    finished: bool,
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        let finished = self.finished;
        let max_cut = self.max_cut;
        self.streams.send_if_modified(|a| {
            a.open -= 1;
            if !finished {
                a.cut += 1;
            }
            a.open == 0 || a.cut == max_cut + 1
        });
    }
}

/// Resolves when the connection should be closed; pending while it serves.
pub async fn until_closing(
    mut activity: watch::Receiver<Activity>,
    progress: Progress,
    bounds: Bounds,
) -> Closing {
    loop {
        let now = *activity.borrow_and_update();
        if now.cut > bounds.max_cut {
            return Closing::TooManyCut;
        }
        if now.started >= bounds.max_requests {
            return Closing::RequestLimit;
        }
        if now.open == 0 {
            match tokio::time::timeout(bounds.idle, activity.changed()).await {
                Err(_) => return Closing::Idle,
                Ok(Ok(())) => continue,
                Ok(Err(_)) => return std::future::pending().await,
            }
        }
        // Streams are open: hyper waits on the client's window without a
        // byte pending on the socket, so the write timeout cannot see it.
        let deadline = progress.deadline(bounds.stall);
        match tokio::time::timeout_at(deadline, activity.changed()).await {
            Err(_) if progress.deadline(bounds.stall) <= Instant::now() => {
                return Closing::Stalled;
            }
            Err(_) | Ok(Ok(())) => continue,
            Ok(Err(_)) => return std::future::pending().await,
        }
    }
}

/// A response body that marks its stream finished once it has ended.
///
/// An empty body is not said to have ended until hyper polls it: otherwise
/// hyper sends it with the headers and drops it at once, and a client's reset
/// of such a stream (HEAD, 304, an empty file) would never count as a cut.
pub struct Tracked {
    inner: ResponseBody,
    guard: StreamGuard,
    polled: bool,
}

impl Tracked {
    pub fn new(inner: ResponseBody, guard: StreamGuard) -> Tracked {
        Tracked {
            inner,
            guard,
            polled: false,
        }
    }
}

impl Body for Tracked {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => {
                this.polled = true;
                this.guard.finished = true;
            }
            Poll::Ready(Some(Ok(_))) => {
                this.polled = true;
                // hyper asks for a frame only once the client's window has room.
                this.guard.progress.stamp();
                if this.inner.is_end_stream() {
                    this.guard.finished = true;
                }
            }
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.polled && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        if !self.polled && self.inner.is_end_stream() {
            // Not "exactly 0", which hyper would send as `content-length: 0`
            // (wrong on a 304 or a HEAD); docroot sets the field itself.
            return SizeHint::default();
        }
        self.inner.size_hint()
    }
}

/// Whether the client's first bytes are HTTP/2's preface, waiting for them
/// up to `limit`; `false` as soon as they differ from it (an HTTP/1 request)
/// or the client closes. The bytes stay in the socket for the protocol.
pub async fn sends_preface(stream: &TcpStream, limit: Duration) -> io::Result<bool> {
    let look = async {
        let mut buf = [0u8; PREFACE.len()];
        loop {
            stream.readable().await?;
            let seen = stream.try_io(Interest::READABLE, || {
                let (n, _) = rustix::net::recv(stream, &mut buf, rustix::net::RecvFlags::PEEK)?;
                if n > 0 && n < PREFACE.len() && buf[..n] == PREFACE[..n] {
                    // Part of the preface: wait for more, not for the same bytes.
                    return Err(io::ErrorKind::WouldBlock.into());
                }
                Ok(n)
            });
            match seen {
                Ok(n) => return Ok(n == PREFACE.len() && buf == *PREFACE),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(e),
            }
        }
    };
    tokio::time::timeout(limit, look)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no request in time"))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn bounds() -> Bounds {
        Bounds {
            idle: Duration::from_secs(3600),
            max_requests: 5,
            max_cut: 2,
            stall: Duration::from_secs(60),
        }
    }

    fn body(text: &'static str) -> ResponseBody {
        ResponseBody::bytes(Bytes::from_static(text.as_bytes()))
    }

    #[tokio::test(start_paused = true)]
    async fn streams_cut_short_past_the_bound_close_the_connection() {
        let (streams, rx) = Streams::new(bounds());
        let closing = tokio::spawn(until_closing(rx.clone(), streams.progress(), bounds()));
        // Ended bodies are not cut, once read, empty or not.
        let empty = ResponseBody::empty;
        let read = Tracked::new(empty(), streams.start());
        assert!(!read.is_end_stream());
        assert!(read.collect().await.unwrap().to_bytes().is_empty());
        let read = Tracked::new(body("x"), streams.start());
        assert_eq!(read.collect().await.unwrap().to_bytes(), "x");
        assert_eq!(rx.borrow().cut, 0);
        // An empty body dropped unread (its stream reset first) is cut too.
        drop(Tracked::new(empty(), streams.start()));
        drop(Tracked::new(body("never sent"), streams.start()));
        assert_eq!(rx.borrow().cut, 2);
        assert!(!closing.is_finished());
        drop(streams.start());
        assert_eq!(closing.await.unwrap(), Closing::TooManyCut);
    }

    #[tokio::test(start_paused = true)]
    async fn the_request_limit_and_idleness_close_the_connection() {
        let (streams, rx) = Streams::new(bounds());
        let closing = tokio::spawn(until_closing(rx, streams.progress(), bounds()));
        let guards: Vec<_> = (0..5).map(|_| streams.start()).collect();
        assert_eq!(closing.await.unwrap(), Closing::RequestLimit);
        drop(guards);

        let idle = Bounds {
            idle: Duration::from_millis(50),
            ..bounds()
        };
        let (streams, rx) = Streams::new(idle);
        let open = streams.start();
        let closing = tokio::spawn(until_closing(rx, streams.progress(), idle));
        // Not idle while a stream is open, however long it takes (the
        // clock is paused: the sleep only moves it on).
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(!closing.is_finished());
        drop(open);
        assert_eq!(closing.await.unwrap(), Closing::Idle);
    }

    #[tokio::test(start_paused = true)]
    async fn open_streams_that_send_nothing_close_the_connection() {
        let stall = Bounds {
            stall: Duration::from_millis(100),
            ..bounds()
        };
        let (streams, rx) = Streams::new(stall);
        let closing = tokio::spawn(until_closing(rx, streams.progress(), stall));
        let mut sending = Tracked::new(body("x"), streams.start());
        let _stalled = Tracked::new(body("never sent"), streams.start());
        // A frame from one stream is progress for the connection.
        tokio::time::sleep(Duration::from_millis(80)).await;
        let frame = std::future::poll_fn(|cx| Pin::new(&mut sending).poll_frame(cx)).await;
        assert!(frame.is_some());
        tokio::time::sleep(Duration::from_millis(80)).await;
        assert!(!closing.is_finished());
        // A new stream does not put the deadline off.
        let _late = streams.start();
        assert_eq!(closing.await.unwrap(), Closing::Stalled);
        assert!(tokio::time::Instant::now() >= streams.progress().deadline(stall.stall));
    }
}

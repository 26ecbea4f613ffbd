//! The socket as hyper sees it, with the timeouts hyper lacks: none on
//! writing, and none on reading once a head is in (a body it drains can
//! stall). A read or write that stays pending past its limit fails with
//! `TimedOut`, which ends the connection.
//!
//! A finished operation only disarms its timer, and arming keeps a deadline
//! that is still nearly a whole limit away: moving a tokio timer earlier than
//! the runtime's next wake-up costs system calls to wake its driver.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// A socket whose reads and writes each fail once pending for their limit.
pub struct TimedStream {
    inner: TcpStream,
    read: Limit,
    write: Limit,
}

impl TimedStream {
    pub fn new(inner: TcpStream, read: Duration, write: Duration) -> TimedStream {
        TimedStream {
            inner,
            read: Limit::new(read),
            write: Limit::new(write),
        }
    }
}

/// How long one kind of operation may stay pending.
struct Limit {
    limit: Duration,
    /// Moving a timer costs a trip through tokio's timer wheel, so a deadline
    /// set for an earlier wait is kept when it is at most this much short.
    slack: Duration,
    timer: Pin<Box<Sleep>>,
    armed: bool,
}

impl Limit {
    fn new(limit: Duration) -> Limit {
        Limit {
            limit,
            slack: limit / 16,
            timer: Box::pin(tokio::time::sleep(limit)),
            armed: false,
        }
    }

    /// The operation is pending: is its time up?
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        if !self.armed {
            let deadline = Instant::now() + self.limit;
            if self.timer.is_elapsed() || self.timer.deadline() + self.slack < deadline {
                self.timer.as_mut().reset(deadline);
            }
            self.armed = true;
        }
        if self.timer.as_mut().poll(cx).is_ready() {
            self.armed = false;
            return true;
        }
        false
    }

    /// Passes `result` on, failing a pending operation whose time is up.
    fn check<T>(
        &mut self,
        cx: &mut Context<'_>,
        result: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        match result {
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(io::ErrorKind::TimedOut.into())),
            Poll::Pending => Poll::Pending,
            done => {
                // Left where it is: see the module documentation.
                self.armed = false;
                done
            }
        }
    }
}

impl AsyncRead for TimedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        this.read.check(cx, result)
    }
}

impl AsyncWrite for TimedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.write.check(cx, result)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.write.check(cx, result)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_flush(cx);
        this.write.check(cx, result)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

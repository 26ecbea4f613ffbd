//! The raw backend's Linux-specific calls, kept here so the rest of it reads
//! as plain `std::net`: a scheduler hint, a non-blocking drain and send, a
//! file sent with sendfile on a socket made non-blocking for it and waited on
//! with poll, and the epoll set that watches parked connections.

use std::fs::File;
use std::io;
use std::net::TcpStream;
use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use rustix::event::epoll::{self, EventData, EventFlags};
use rustix::event::{EventfdFlags, Timespec};

/// Asks Linux for the shortest time slice (0.1 ms), so that with many
/// runnable threads on one core a woken one waits behind fewer others. Kernels
/// before 6.12 ignore or refuse it; either way the thread runs as before.
pub fn request_short_slice() {
    /// `struct sched_attr` from `linux/sched/types.h`, first version (48 bytes).
    #[repr(C)]
    struct SchedAttr {
        size: u32,
        policy: u32,
        flags: u64,
        nice: i32,
        priority: u32,
        runtime: u64,
        deadline: u64,
        period: u64,
    }
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy: libc::SCHED_OTHER as u32,
        flags: 0,
        nice: 0,
        priority: 0,
        // For SCHED_OTHER, `runtime` is the requested slice (Linux 6.12+).
        runtime: 100_000,
        deadline: 0,
        period: 0,
    };
    // SAFETY: sched_setattr(2) on the calling thread (pid 0) only reads
    // `attr`, a valid sched_attr whose size field says how much to read.
    let _ = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
}

/// At most this much is discarded in one go, so a client that keeps sending
/// cannot hold the thread that closes it (the accept loop among them).
pub const DISCARD_AT_ONCE: usize = 64 * 1024;

/// Reads and discards what has already arrived on `stream`, without waiting,
/// up to [`DISCARD_AT_ONCE`]: whether it stopped for want of bytes, not at
/// that bound. MSG_DONTWAIT rather than switching the socket to
/// non-blocking: one ioctl fewer on every `Connection: close` request.
pub fn discard_arrived(stream: &TcpStream) -> bool {
    let mut scratch = [0u8; 4096];
    let mut discarded = 0;
    while discarded < DISCARD_AT_ONCE {
        match rustix::net::recv(stream, &mut scratch, rustix::net::RecvFlags::DONTWAIT) {
            Ok((n, _)) if n > 0 => discarded += n,
            _ => return true,
        }
    }
    false
}

/// Sends what the socket's buffer takes of `bytes` at once, without waiting:
/// how much it took, `WouldBlock` when nothing.
pub fn send_now(stream: &TcpStream, bytes: &[u8]) -> io::Result<usize> {
    let flags = rustix::net::SendFlags::DONTWAIT | rustix::net::SendFlags::NOSIGNAL;
    Ok(rustix::net::send(stream, bytes, flags)?)
}

/// Sends up to `count` bytes of `file` from `*offset` on into `socket` with
/// sendfile(2), moving `*offset` past them: how many were sent, 0 when the
/// file ends at `*offset`, `WouldBlock` when the socket, non-blocking
/// ([`NonBlocking`]), takes nothing now. A signal is retried. sendfile has no
/// `MSG_NOSIGNAL`: to a reset peer it raises SIGPIPE, which the Rust runtime
/// ignores, and fails with `EPIPE`.
pub fn send_file(
    socket: &TcpStream,
    file: &File,
    offset: &mut u64,
    count: usize,
) -> io::Result<usize> {
    loop {
        match rustix::fs::sendfile(socket, file, Some(offset), count) {
            Err(rustix::io::Errno::INTR) => {}
            sent => return Ok(sent?),
        }
    }
}

/// A socket switched to non-blocking for a while, blocking again when this
/// is dropped (or by [`NonBlocking::restore`], which reports a failure).
pub struct NonBlocking<'a>(Option<&'a TcpStream>);

impl<'a> NonBlocking<'a> {
    pub fn set(socket: &'a TcpStream) -> io::Result<NonBlocking<'a>> {
        socket.set_nonblocking(true)?;
        Ok(NonBlocking(Some(socket)))
    }

    pub fn restore(mut self) -> io::Result<()> {
        self.0.take().map_or(Ok(()), |s| s.set_nonblocking(false))
    }
}

impl Drop for NonBlocking<'_> {
    fn drop(&mut self) {
        if let Some(socket) = self.0.take() {
            let _ = socket.set_nonblocking(false);
        }
    }
}

/// Waits until `socket` would take more bytes, or its peer is gone (the next
/// send says how), until `deadline` at most: past it, `WouldBlock`, as a
/// blocking write's send timeout ends it.
pub fn wait_writable(socket: &TcpStream, deadline: Option<Instant>) -> io::Result<()> {
    let mut fds = [rustix::event::PollFd::new(
        socket,
        rustix::event::PollFlags::OUT,
    )];
    loop {
        let left = match deadline {
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::Error::new(
                        io::ErrorKind::WouldBlock,
                        "the peer took nothing for the send timeout",
                    ));
                }
                Some(Timespec {
                    tv_sec: left.as_secs() as _,
                    tv_nsec: left.subsec_nanos() as _,
                })
            }
            None => None,
        };
        match rustix::event::poll(&mut fds, left.as_ref()) {
            Ok(0) | Err(rustix::io::Errno::INTR) => {}
            Ok(_) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
}

/// Holds back (`true`) or lets go (`false`) the socket's partly filled
/// segments (TCP_CORK): letting go sends what was held at once.
pub fn cork(socket: &TcpStream, on: bool) -> io::Result<()> {
    Ok(rustix::net::sockopt::set_tcp_cork(socket, on)?)
}

/// Whether `error`, from [`send_file`], says the file cannot be sent that way
/// at all (a file system without the kernel's support), rather than that the
/// send failed.
pub fn cannot_send_file(error: &io::Error) -> bool {
    matches!(error.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS))
}

/// The event data of the descriptor that wakes the poller early; callers'
/// ids count up from zero and never reach it.
const WAKE: u64 = u64::MAX;

/// An epoll set that reports sockets as bytes arrive (edge-triggered), plus
/// an eventfd that cuts a wait short.
pub struct Poller {
    epoll: OwnedFd,
    wake: OwnedFd,
}

/// Room for the events one wait takes from the kernel, reused across waits.
pub struct Events(Vec<epoll::Event>);

impl Events {
    /// More ready sockets than `max` simply wait for the next round.
    pub fn with_capacity(max: usize) -> Events {
        Events(Vec::with_capacity(max))
    }

    /// The ids of the sockets the last wait found ready, each with whether
    /// its peer had closed, it had failed, or urgent data had come by then:
    /// a read short of the room it had does not show a close that came with
    /// the last bytes, and stops at an urgent byte's mark with more unread.
    pub fn ready(&self) -> impl Iterator<Item = (u64, bool)> + '_ {
        let ended = EventFlags::RDHUP | EventFlags::HUP | EventFlags::ERR | EventFlags::PRI;
        self.0
            .iter()
            .filter(|e| e.data.u64() != WAKE)
            .map(move |e| {
                // Copied out: the kernel's struct is packed.
                let flags = e.flags;
                (e.data.u64(), flags.intersects(ended))
            })
    }
}

impl Poller {
    pub fn new() -> io::Result<Poller> {
        let epoll = epoll::create(epoll::CreateFlags::CLOEXEC)?;
        let wake = rustix::event::eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)?;
        epoll::add(&epoll, &wake, EventData::new_u64(WAKE), EventFlags::IN)?;
        Ok(Poller { epoll, wake })
    }

    /// Reports `socket` as `id` each time bytes arrive or the peer closes, and
    /// now if it has unread bytes already; `again` says it was in the set
    /// before (arming is then a modify, not an add). Edge-triggered: a socket
    /// whose reader has read all it held needs no new arming to be reported
    /// again, so a connection the poller keeps costs no call per request.
    pub fn arm(&self, socket: impl AsFd, id: u64, again: bool) -> io::Result<()> {
        // PRI: see `Events::ready`.
        let flags = EventFlags::IN | EventFlags::RDHUP | EventFlags::PRI | EventFlags::ET;
        let data = EventData::new_u64(id);
        if again {
            epoll::modify(&self.epoll, socket, data, flags)?;
        } else {
            epoll::add(&self.epoll, socket, data, flags)?;
        }
        Ok(())
    }

    /// Waits up to `timeout` (`None`: without end) for sockets to become
    /// ready, or for [`Poller::wake`]; a signal ends it early, with no events.
    pub fn wait(&self, events: &mut Events, timeout: Option<Duration>) -> io::Result<()> {
        events.0.clear();
        let timeout = timeout.map(|d| Timespec {
            tv_sec: d.as_secs() as _,
            tv_nsec: d.subsec_nanos() as _,
        });
        match epoll::wait(
            &self.epoll,
            rustix::buffer::spare_capacity(&mut events.0),
            timeout.as_ref(),
        ) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
        if events.0.iter().any(|e| e.data.u64() == WAKE) {
            let mut count = [0u8; 8];
            let _ = rustix::io::read(&self.wake, &mut count);
        }
        Ok(())
    }

    /// Ends the current (or the next) [`Poller::wait`] at once.
    pub fn wake(&self) {
        // Cannot fail short of a full counter, which means a wake-up is pending anyway.
        let _ = rustix::io::write(&self.wake, &1u64.to_ne_bytes());
    }
}

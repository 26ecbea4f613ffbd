//! Writes a docroot [`Reply`] to the socket as HTTP/1.1: status line, the
//! reply's fields, the connection field this backend owns, then the body — a
//! file through [`ChunkedSender`], an explicit loop of fixed-size pieces, which
//! is what the project teaches and measures. Into a socket each piece is one
//! `sendfile(2)` call, written out here rather than left to `std::io::copy`:
//! the piece goes from the page cache to the socket without a buffer of ours
//! or a copy through user space, while the loop, its piece size (the
//! `--chunk-size` flag) and the check for a file cut short stay visible; the
//! socket is corked from the head to the end of the first piece. On a file
//! system without `sendfile` support each piece is read and written.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, Write};
use std::net::TcpStream;
use std::os::unix::fs::FileExt;
use std::time::Instant;

use super::sys;
use crate::docroot::{Body, Reply};

/// What the response says about the connection (RFC 9112 §9.3, §9.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Persistence {
    /// HTTP/1.1 default: nothing to say.
    KeepAlive,
    /// HTTP/1.0 with `Connection: keep-alive`: persistence must be confirmed.
    KeepAliveHttp10,
    /// The server closes after this response and says so.
    Close,
}

/// Writes `reply`, reusing `head` as the buffer for the status line and fields.
pub fn write_reply(
    mut stream: &TcpStream,
    reply: Reply,
    persistence: Persistence,
    head: &mut Vec<u8>,
    sender: ChunkedSender,
) -> io::Result<()> {
    render_head(&reply, persistence, head);
    match reply.body {
        Body::Empty => stream.write_all(head),
        Body::Bytes(bytes) => {
            // One write for head and a small body: no extra segment on the wire.
            head.extend_from_slice(&bytes);
            stream.write_all(head)
        }
        Body::File { file, offset, len } => {
            // Corked, the head rides in the file's first segment instead of
            // travelling alone under TCP_NODELAY. The cork goes with the first
            // piece: held over a whole large file, it slowed large answers
            // under the kernel's own TCP pacing (docs/benchmarks.md).
            let corked = Cell::new(sys::cork(stream, true).is_ok());
            let uncork = || {
                if corked.replace(false) {
                    let _ = sys::cork(stream, false);
                }
            };
            let sent = stream
                .write_all(head)
                .and_then(|()| sender.send(&file, offset, len, stream, uncork));
            // Again after a failure: a cork left on would hold each later
            // small answer on this socket back for up to 200 ms.
            uncork();
            sent
        }
    }
}

/// The whole response to `reply` into `wire`, head and body, when its body
/// is in memory; `None` (and `wire` unspecified) when it is a file, which
/// only a thread that may wait on the disk reads.
pub fn render_in_memory(reply: Reply, persistence: Persistence, wire: &mut Vec<u8>) -> Option<()> {
    if matches!(reply.body, Body::File { .. }) {
        return None;
    }
    render_head(&reply, persistence, wire);
    if let Body::Bytes(bytes) = &reply.body {
        wire.extend_from_slice(bytes);
    }
    Some(())
}

/// The status line and fields of `reply` into `head`, ending with the blank line.
fn render_head(reply: &Reply, persistence: Persistence, head: &mut Vec<u8>) {
    head.clear();
    // Once, for a buffer that starts empty: enough for the usual head.
    head.reserve(1024);
    let status = reply.status;
    head.extend_from_slice(b"HTTP/1.1 ");
    head.extend_from_slice(status.as_str().as_bytes());
    head.push(b' ');
    head.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    head.extend_from_slice(b"\r\n");
    if let Some(prepared) = reply.prepared() {
        head.extend_from_slice(b"date: ");
        head.extend_from_slice(prepared.date.as_bytes());
        head.extend_from_slice(b"\r\n");
        head.extend_from_slice(&prepared.fields);
    }
    for (name, value) in &reply.headers {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    match persistence {
        Persistence::KeepAlive => {}
        Persistence::KeepAliveHttp10 => head.extend_from_slice(b"connection: keep-alive\r\n"),
        Persistence::Close => head.extend_from_slice(b"connection: close\r\n"),
    }
    head.extend_from_slice(b"\r\n");
}

/// Sends a file in pieces of a fixed size (`--chunk-size`), each sent whole
/// before the next begins (one call may send only part of a piece).
///
/// A file that shrank since its length was announced is an error: the
/// `Content-Length` already sent can no longer be honoured, so the caller must
/// close the connection rather than send fewer bytes — or more, which a file
/// that grew never gets: exactly `len` bytes are asked for.
#[derive(Debug, Clone, Copy)]
pub struct ChunkedSender {
    chunk_size: usize,
}

impl ChunkedSender {
    pub fn new(chunk_size: usize) -> ChunkedSender {
        ChunkedSender {
            chunk_size: chunk_size.max(1),
        }
    }

    /// Sends `len` bytes of `file` from `offset` on into `socket`, one
    /// `sendfile(2)` call per piece and more for a piece the socket took only
    /// part of; `first_sent` runs between the first piece and the second, if
    /// there is one. The socket's send timeout ends a wait as it ends a write's.
    pub fn send(
        self,
        file: &File,
        offset: u64,
        len: u64,
        socket: &TcpStream,
        first_sent: impl FnOnce(),
    ) -> io::Result<()> {
        // Waiting in poll between calls, not inside a blocking sendfile, left
        // the sending to the peer's acknowledgements: 1 MiB answers went out
        // twice as fast ("The unsent backlog" in docs/benchmarks.md).
        // One `getsockopt` per file, stalled or not, and before the socket
        // changes: a failure leaves it as it was.
        let send_timeout = socket.write_timeout()?;
        let nonblocking = sys::NonBlocking::set(socket)?;
        // Set when the socket is found full; any byte sent clears it, so the
        // timeout bounds a stall however many wakes it takes, as a blocking
        // write's does.
        let mut stall_ends = None;
        // The file's cursor is neither used nor moved: each call says where to read.
        let mut at = offset;
        let mut left = len;
        let mut first_sent = Some(first_sent);
        while left > 0 {
            if left < len
                && let Some(first_sent) = first_sent.take()
            {
                first_sent();
            }
            let mut piece = self.piece(left);
            while piece > 0 {
                let sent = match sys::send_file(socket, file, &mut at, piece) {
                    Ok(0) => return Err(shrank(left, len)),
                    Ok(sent) => {
                        stall_ends = None;
                        sent
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        let ends = send_timeout.map(|timeout| {
                            *stall_ends.get_or_insert_with(|| Instant::now() + timeout)
                        });
                        sys::wait_writable(socket, ends)?;
                        continue;
                    }
                    // A file the kernel cannot send from (none docroot serves
                    // on the usual file systems): the rest the plain way.
                    Err(e) if sys::cannot_send_file(&e) => {
                        nonblocking.restore()?;
                        return self.copy_from(file, at, left, &mut &*socket, first_sent);
                    }
                    Err(e) => return Err(e),
                };
                piece -= sent;
                left -= sent as u64;
            }
        }
        nonblocking.restore()
    }

    /// Sends `len` bytes of `file` from `offset` on into `out`: each piece
    /// read into a buffer, then written whole with `write_all`; `first_sent`
    /// runs after the first piece, if another follows.
    fn copy_from(
        self,
        file: &File,
        offset: u64,
        len: u64,
        out: &mut impl Write,
        mut first_sent: Option<impl FnOnce()>,
    ) -> io::Result<()> {
        // Positioned reads: the descriptor may be shared with other answers
        // (the cache keeps big files open), so its cursor is never used.
        let mut chunk = vec![0; self.piece(len)];
        let mut left = len;
        while left > 0 {
            let want = self.piece(left);
            let got = match file.read_at(&mut chunk[..want], offset + (len - left)) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                got => got?,
            };
            if got == 0 {
                return Err(shrank(left, len));
            }
            out.write_all(&chunk[..got])?;
            left -= got as u64;
            if left > 0
                && let Some(first_sent) = first_sent.take()
            {
                first_sent();
            }
        }
        Ok(())
    }

    /// The next piece when `left` bytes remain.
    fn piece(self, left: u64) -> usize {
        self.chunk_size
            .min(usize::try_from(left).unwrap_or(usize::MAX))
    }
}

fn shrank(left: u64, len: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("file shrank while being sent: {left} of {len} bytes missing"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;
    use std::io::{Read, Seek, SeekFrom};
    use std::net::TcpListener;
    use std::time::Duration;

    #[test]
    fn writes_status_fields_and_connection() {
        let mut out = Vec::new();
        let reply = Reply::status(StatusCode::NOT_FOUND);
        let len = reply.content_length() as usize;
        render_in_memory(reply, Persistence::Close, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 404 Not Found\r\n"), "{text}");
        assert!(text.contains("\r\nconnection: close\r\n"));
        let (_, body) = text.split_once("\r\n\r\n").unwrap();
        assert_eq!(body.len(), len);
    }

    #[test]
    fn a_reply_in_memory_goes_to_the_socket_as_rendered() {
        let mut rendered = Vec::new();
        let reply = || Reply::status(StatusCode::NOT_FOUND);
        render_in_memory(reply(), Persistence::KeepAlive, &mut rendered).unwrap();
        let (result, got) = reply_over_socket(reply(), &mut Vec::new(), |_| {});
        result.unwrap();
        assert!(got == rendered, "{}", got.escape_ascii());
        let (result, got) = reply_over_socket(reply().without_body(), &mut Vec::new(), |_| {});
        result.unwrap();
        assert!(rendered.starts_with(&got) && got.ends_with(b"\r\n\r\n"));
    }

    /// A file of `len` bytes with a recognisable pattern, and its bytes.
    fn pattern_file(dir: &tempfile::TempDir, len: usize) -> (std::path::PathBuf, Vec<u8>) {
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        (path, data)
    }

    /// A writer into a shared buffer, which a callback may look at meanwhile.
    struct Writer<'a>(&'a std::cell::RefCell<Vec<u8>>);

    impl Write for Writer<'_> {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.borrow_mut().write(bytes)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn copies_a_file_in_chunks_of_any_size() {
        let dir = tempfile::tempdir().unwrap();
        let (path, data) = pattern_file(&dir, 10_000);
        for chunk in [1, 7, 1024, 64 * 1024] {
            let out = std::cell::RefCell::new(Vec::new());
            let file = File::open(&path).unwrap();
            let mut ran = 0;
            // Once the first piece is written, and before any more is.
            let first_sent = || {
                ran += 1;
                assert_eq!(out.borrow().len(), chunk, "chunk {chunk}");
            };
            ChunkedSender::new(chunk)
                .copy_from(
                    &file,
                    0,
                    data.len() as u64,
                    &mut Writer(&out),
                    Some(first_sent),
                )
                .unwrap();
            assert_eq!(*out.borrow(), data, "chunk {chunk}");
            assert_eq!(ran, usize::from(chunk < data.len()), "chunk {chunk}");
        }
        let mut slice = Vec::new();
        let mut file = File::open(&path).unwrap();
        // Positioned reads: a descriptor the cache shares between answers
        // neither depends on its cursor nor moves it.
        file.seek(SeekFrom::Start(500)).unwrap();
        ChunkedSender::new(7)
            .copy_from(&file, 1234, 100, &mut slice, None::<fn()>)
            .unwrap();
        assert_eq!(slice, &data[1234..1334]);
        assert_eq!(file.stream_position().unwrap(), 500);
        let file = File::open(&path).unwrap();
        let short = ChunkedSender::new(1024).copy_from(
            &file,
            0,
            data.len() as u64 + 1,
            &mut Vec::new(),
            None::<fn()>,
        );
        assert_eq!(short.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    }

    /// A connected pair on loopback: the sending end and the receiving end,
    /// both with timeouts so a broken send fails the test instead of hanging it.
    fn socket_pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let receiver = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        receiver
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let (sender, _) = listener.accept().unwrap();
        sender
            .set_write_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        (sender, receiver)
    }

    /// What `send` returned for the sending end of a fresh [`socket_pair`],
    /// and every byte that reached the other end, read as it arrives until
    /// the sending end closes once `send` is done.
    fn over_socket(send: impl FnOnce(&TcpStream) -> io::Result<()>) -> (io::Result<()>, Vec<u8>) {
        let (socket, mut receiver) = socket_pair();
        std::thread::scope(|scope| {
            let reader = scope.spawn(move || {
                let mut got = Vec::new();
                receiver.read_to_end(&mut got).map(|_| got)
            });
            let result = send(&socket);
            drop(socket);
            let got = reader.join().unwrap();
            (result, got.expect("the receiver reads to the end"))
        })
    }

    /// `ChunkedSender::send`'s result and every byte that reached the other end.
    fn sent_over_socket(
        chunk: usize,
        file: &File,
        offset: u64,
        len: u64,
    ) -> (io::Result<()>, Vec<u8>) {
        over_socket(|socket| ChunkedSender::new(chunk).send(file, offset, len, socket, || {}))
    }

    #[test]
    fn sends_a_file_or_a_range_over_a_socket_in_chunks_of_any_size() {
        let dir = tempfile::tempdir().unwrap();
        let (path, data) = pattern_file(&dir, 100_000);
        let mut file = File::open(&path).unwrap();
        // Where the file's cursor stands does not matter.
        file.seek(SeekFrom::Start(777)).unwrap();
        for chunk in [1, 7, 4093, 64 * 1024, 1 << 20] {
            let (result, got) = sent_over_socket(chunk, &file, 0, data.len() as u64);
            result.unwrap();
            assert!(got == data, "chunk {chunk}: {} bytes arrived", got.len());
            for (offset, len) in [(1234, 5000), (99_000, 1000), (0, 1), (50_000, 0)] {
                let (result, got) = sent_over_socket(chunk, &file, offset, len);
                result.unwrap();
                let want = &data[offset as usize..(offset + len) as usize];
                assert!(got == want, "chunk {chunk}, range {offset}+{len}");
            }
        }
    }

    /// A 200 reply whose body is the first `len` bytes of the file at `path`.
    fn file_reply(path: &std::path::Path, len: u64) -> Reply {
        let mut reply = Reply::status(StatusCode::OK);
        reply
            .headers
            .insert(http::header::CONTENT_LENGTH, len.into());
        reply.body = Body::File {
            file: File::open(path).unwrap(),
            offset: 0,
            len,
        };
        reply
    }

    /// `write_reply`'s result for `reply` and every byte that reached the other
    /// end; `check` looks at the sending socket before it closes.
    fn reply_over_socket(
        reply: Reply,
        head: &mut Vec<u8>,
        check: impl FnOnce(&TcpStream),
    ) -> (io::Result<()>, Vec<u8>) {
        over_socket(|socket| {
            let sender = ChunkedSender::new(4093);
            let result = write_reply(socket, reply, Persistence::KeepAlive, head, sender);
            check(socket);
            result
        })
    }

    fn is_nonblocking(socket: &TcpStream) -> bool {
        rustix::fs::fcntl_getfl(socket)
            .unwrap()
            .contains(rustix::fs::OFlags::NONBLOCK)
    }

    #[test]
    fn a_file_reply_leaves_the_socket_uncorked_and_blocking_whether_or_not_it_failed() {
        // In many pieces (the cork goes between the first two) and in one
        // (it goes only when the send is done), whole or failing in the first.
        for len in [100_000, 1_000] {
            let dir = tempfile::tempdir().unwrap();
            let (path, data) = pattern_file(&dir, len);
            // A cork left on would hold the next small answer back for 200 ms;
            // a socket left non-blocking would fail the next request's read.
            let uncorked = |s: &TcpStream| {
                assert!(!rustix::net::sockopt::tcp_cork(s).unwrap());
                assert!(!is_nonblocking(s));
            };
            let mut head = Vec::new();
            let reply = file_reply(&path, data.len() as u64);
            let (result, got) = reply_over_socket(reply, &mut head, uncorked);
            result.unwrap();
            assert!(got.starts_with(&head), "the head comes first");
            assert!(got[head.len()..] == data, "then the whole file");
            // Announced longer than the file is: the send fails after all it has.
            let reply = file_reply(&path, data.len() as u64 + 10);
            let (result, got) = reply_over_socket(reply, &mut head, uncorked);
            assert_eq!(result.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
            assert!(got[head.len()..] == data);
        }
    }

    /// The socket's TCP_INFO.
    fn tcp_info(socket: &TcpStream) -> libc::tcp_info {
        use std::os::fd::AsRawFd;
        let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        // SAFETY: `info` is a writable tcp_info and `len` its size, as TCP_INFO asks.
        let rc = unsafe {
            libc::getsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_INFO,
                (&raw mut info).cast(),
                &mut len,
            )
        };
        assert_eq!(rc, 0, "{}", io::Error::last_os_error());
        info
    }

    /// Segments the socket has sent so far, once it has sent all it was
    /// given: the kernel's pacing may hold some back for a moment.
    fn segments_out(socket: &TcpStream) -> u32 {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        loop {
            let info = tcp_info(socket);
            if info.tcpi_notsent_bytes == 0 {
                return info.tcpi_segs_out;
            }
            assert!(std::time::Instant::now() < deadline, "bytes left unsent");
            std::thread::yield_now();
        }
    }

    /// Segments `write_reply` sends for a file of `len` bytes in pieces of
    /// `chunk`, on a socket with TCP_NODELAY whose receiver has not read yet.
    fn segments_for_file(len: usize, chunk: usize) -> u32 {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = pattern_file(&dir, len);
        let (socket, _receiver) = socket_pair();
        socket.set_nodelay(true).unwrap();
        let before = segments_out(&socket);
        let reply = file_reply(&path, len as u64);
        let sender = ChunkedSender::new(chunk);
        write_reply(
            &socket,
            reply,
            Persistence::KeepAlive,
            &mut Vec::new(),
            sender,
        )
        .unwrap();
        segments_out(&socket) - before
    }

    #[test]
    fn the_head_rides_in_the_segment_of_the_first_piece_and_the_cork_goes_with_it() {
        // Far below loopback's segment size (about 64 KiB), so head and file
        // fit one segment; sent uncorked under TCP_NODELAY they make two.
        assert_eq!(segments_for_file(20_000, 64 * 1024), 1);
        // In three pieces, the cork is let go after the first: the head and
        // that piece leave together, the later pieces each as they are sent.
        assert_eq!(segments_for_file(3 * 4093, 4093), 3);
    }

    #[test]
    fn first_sent_runs_once_between_the_first_piece_and_the_second() {
        let dir = tempfile::tempdir().unwrap();
        let (path, data) = pattern_file(&dir, 10_000);
        let file = File::open(&path).unwrap();
        let cases = [(0, 10_000, 0), (0, 64 * 1024, 0), (0, 4093, 1), (0, 1, 1)];
        for (offset, chunk, calls) in cases.into_iter().chain([(1234, 4093, 1)]) {
            let (socket, mut receiver) = socket_pair();
            let mut ran = 0;
            let mut seen_before = None;
            let len = data.len() as u64 - offset as u64;
            ChunkedSender::new(chunk)
                .send(&file, offset as u64, len, &socket, || {
                    ran += 1;
                    // What reached the other end by then: the first piece,
                    // whole, and nothing more.
                    let mut first = vec![0; chunk];
                    receiver.read_exact(&mut first).unwrap();
                    receiver.set_nonblocking(true).unwrap();
                    let more = receiver.read(&mut [0; 1]).unwrap_err().kind();
                    assert_eq!(more, io::ErrorKind::WouldBlock);
                    receiver.set_nonblocking(false).unwrap();
                    seen_before = Some(first);
                })
                .unwrap();
            assert_eq!(ran, calls, "chunk {chunk}");
            if let Some(first) = seen_before {
                assert!(first == data[offset..offset + chunk], "chunk {chunk}");
            }
        }
    }

    #[test]
    fn a_file_shorter_than_announced_is_an_error_after_all_it_has() {
        let dir = tempfile::tempdir().unwrap();
        let (path, data) = pattern_file(&dir, 10_000);
        let file = File::open(&path).unwrap();
        for chunk in [1, 7, 64 * 1024] {
            let (result, got) = sent_over_socket(chunk, &file, 0, data.len() as u64 + 10);
            assert_eq!(result.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
            assert!(got == data, "chunk {chunk}: {} bytes arrived", got.len());
        }
    }

    /// Small socket buffers on both ends, so the sender waits on the
    /// receiver after a few KiB.
    fn shrink_buffers(sender: &TcpStream, receiver: &TcpStream) {
        rustix::net::sockopt::set_socket_send_buffer_size(sender, 4096).unwrap();
        rustix::net::sockopt::set_socket_recv_buffer_size(receiver, 4096).unwrap();
    }

    #[test]
    fn a_file_truncated_mid_send_ends_the_send_short() {
        let dir = tempfile::tempdir().unwrap();
        let len = 8 << 20;
        let (path, data) = pattern_file(&dir, len);
        let file = File::open(&path).unwrap();
        let (socket, mut receiver) = socket_pair();
        shrink_buffers(&socket, &receiver);
        let first = 64 * 1024;
        let (result, got) = std::thread::scope(|scope| {
            let sending = scope.spawn(|| {
                let result = ChunkedSender::new(4093).send(&file, 0, len as u64, &socket, || {});
                assert!(!is_nonblocking(&socket));
                // What `serve` does after a failed send: close.
                socket.shutdown(std::net::Shutdown::Both).unwrap();
                result
            });
            let mut got = vec![0; first];
            receiver.read_exact(&mut got).unwrap();
            // The sender is blocked on the receiver far before the new end.
            File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_len(1 << 20)
                .unwrap();
            receiver.read_to_end(&mut got).unwrap();
            (sending.join().unwrap(), got)
        });
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
        assert!(
            got.len() >= first && got.len() < len,
            "{} of {len} bytes arrived",
            got.len()
        );
        assert!(got[..first] == data[..first]);
    }

    #[test]
    fn a_receiver_that_stops_reading_times_the_send_out_like_a_write() {
        let dir = tempfile::tempdir().unwrap();
        let len = 8 << 20;
        let (path, _) = pattern_file(&dir, len);
        let file = File::open(&path).unwrap();
        let (socket, receiver) = socket_pair();
        shrink_buffers(&socket, &receiver);
        socket
            .set_write_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let sent = ChunkedSender::new(64 * 1024).send(&file, 0, len as u64, &socket, || {});
        let written = (&socket).write_all(&vec![0; len]);
        assert_eq!(sent.unwrap_err().kind(), io::ErrorKind::WouldBlock);
        assert!(!is_nonblocking(&socket));
        assert_eq!(written.unwrap_err().kind(), io::ErrorKind::WouldBlock);
        drop(receiver);
    }
}

//! Files sent with `sendfile(2)` under hyper on plain TCP. hyper writes only
//! bytes it holds, so a file body is handed to it as a read-only mapping of
//! the file ([`Outgoing::adopt`]), and the socket beneath hyper
//! ([`FileSocket`]), which knows that mapping, sends the bytes found in it
//! from the file rather than copying them out of memory: the page cache
//! goes to the socket as it does in the raw backend and in lighttpd.
//!
//! Nothing in the process reads the mapping. hyper queues a body's pieces as
//! they are and hands them to a vectored write, where they are found by
//! address; the connection's builder is made to keep it so
//! (`hyper::plain_h1`), since hyper's other strategy copies every piece into
//! its own buffer. A file cut short under its mapping makes `sendfile` return
//! 0, which ends the connection as any file that shrinks does; read in user
//! space, such a page would raise `SIGBUS` and end the process. Were a piece
//! ever missed (hyper reads the next head only once the last answer is
//! written, so none is), the kernel would copy it from the same pages, and
//! its own copy of a page past the end fails with `EFAULT`, not a signal. A
//! piece whose pages are not all in memory when it is cut is read instead,
//! on the blocking pool if it must wait ([`resident`]): `sendfile` would wait
//! for the disk on the worker. The next piece is looked at afresh. The kernel shows a file's pages only
//! to a process that owns the file or may write it (or root): any other file
//! is never mapped, and is read as before. TLS and HTTP/2 write bodies
//! through code that reads them, so their connections never get a mapping.

use std::fs::File;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::task::{Context, Poll, ready};

use ::hyper::Response;
use bytes::Bytes;
use memmap2::{Mmap, MmapOptions};
use rustix::net::{SendAncillaryBuffer, SendFlags};
use tokio::io::{AsyncRead, AsyncWrite, Interest, ReadBuf};
use tokio::net::TcpStream;

use super::file_body::ResponseBody;

/// A range of a file mapped read-only, and the file to send it from.
pub struct Mapping {
    map: Mmap,
    file: Arc<File>,
    /// Where in the file the mapped bytes start.
    offset: u64,
}

impl Mapping {
    /// Maps `len` bytes (at least one) of `file` from `offset`.
    fn new(file: Arc<File>, offset: u64, len: u64) -> io::Result<Arc<Mapping>> {
        let len = usize::try_from(len).map_err(io::Error::other)?;
        // SAFETY: a mapping is unsound to read while the file changes under
        // it; this one is never read in this process (module documentation).
        let map = unsafe { MmapOptions::new().offset(offset).len(len).map(&*file)? };
        Ok(Arc::new(Mapping { map, file, offset }))
    }

    /// Where in the file `slice` starts, if it lies wholly in this mapping.
    fn locate(&self, slice: &[u8]) -> Option<u64> {
        let base = self.map.as_ptr() as usize;
        let start = slice.as_ptr() as usize;
        let at = start.checked_sub(base)?;
        (at + slice.len() <= self.map.len()).then_some(self.offset + at as u64)
    }
}

/// Whether every page under `piece`, a part of a mapping, is in the page
/// cache, so that sending it waits for no disk. `mincore` looks without
/// reading the mapping; for a file [`may_see_pages`] refuses, it says yes
/// to every page, so such a file is never mapped.
pub fn resident(piece: &[u8]) -> bool {
    // One `mincore` call for a piece whenever it fits: with 4 KiB pages, any
    // piece of up to 508 KiB at any offset; a bigger one takes more calls.
    const WINDOW: usize = 128;
    let page = rustix::param::page_size();
    let start = piece.as_ptr() as usize;
    let mut at = start & !(page - 1);
    let end = start + piece.len();
    let mut seen = [0u8; WINDOW];
    while at < end {
        let len = (end - at).min(WINDOW * page);
        // SAFETY: `at` is page-aligned and within the mapping `piece` lies in
        // (mapped from a page boundary); `seen` has room for one byte per page.
        let status = unsafe { libc::mincore(at as *mut libc::c_void, len, seen.as_mut_ptr()) };
        if status != 0 || seen[..len.div_ceil(page)].iter().any(|&b| b & 1 == 0) {
            return false;
        }
        at += len;
    }
    true
}

/// Whether `mincore` shows this process the page cache of `file`: only to
/// its owner, to a process that may write it, or to one with `CAP_FOWNER`
/// (Linux 5.2 on; taken here as root). For any other file it answers that
/// every page is in memory.
fn may_see_pages(file: &File) -> bool {
    let euid = rustix::process::geteuid();
    euid.is_root()
        || rustix::fs::fstat(file).is_ok_and(|stat| stat.st_uid == euid.as_raw())
        || rustix::fs::access(
            format!("/proc/self/fd/{}", std::os::fd::AsRawFd::as_raw_fd(file)),
            rustix::fs::Access::WRITE_OK,
        )
        .is_ok()
}

/// What a [`Bytes`] holds to keep a mapping alive.
struct Owner(Arc<Mapping>);

impl AsRef<[u8]> for Owner {
    fn as_ref(&self) -> &[u8] {
        &self.0.map
    }
}

/// The mapping of the answer being sent, shared by a connection's service,
/// which makes it, and its socket, which sends from it. Held weakly: the body
/// alone keeps it, so the mapping and its file are let go once the last
/// piece is written, not at the connection's next answer.
#[derive(Default)]
pub struct Outgoing {
    /// Whether `current` may hold one: checked first, so a connection that
    /// has sent no file, or none lately, pays no lock per write.
    armed: AtomicBool,
    current: Mutex<Weak<Mapping>>,
    /// Bytes that went out through `sendfile`, for the tests.
    #[cfg(test)]
    sent_from_files: std::sync::atomic::AtomicU64,
}

impl Outgoing {
    /// Takes over `response`'s body when it is a file: a mapping in its
    /// place, which this connection's socket will send from the file. Any
    /// other answer lets go of the last mapping. A file that cannot be
    /// mapped is sent as it was.
    pub fn adopt(&self, mut response: Response<ResponseBody>) -> Response<ResponseBody> {
        let mapping = match response.body_mut() {
            ResponseBody::File(body) => {
                let (file, offset, len) = body.range();
                let mapping = (len > 0 && may_see_pages(file))
                    .then(|| Mapping::new(Arc::clone(file), offset, len).ok())
                    .flatten();
                if let Some(mapping) = &mapping {
                    body.send_mapped(Bytes::from_owner(Owner(Arc::clone(mapping))));
                }
                mapping
            }
            ResponseBody::Bytes(_) => None,
        };
        if mapping.is_some() || self.armed.load(Ordering::Relaxed) {
            self.armed.store(mapping.is_some(), Ordering::Relaxed);
            *self.lock() = mapping.as_ref().map_or_else(Weak::new, Arc::downgrade);
        }
        response
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Weak<Mapping>> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn current(&self) -> Option<Arc<Mapping>> {
        if !self.armed.load(Ordering::Relaxed) {
            return None;
        }
        let mapping = self.lock().upgrade();
        if mapping.is_none() {
            self.armed.store(false, Ordering::Relaxed);
        }
        mapping
    }
}

/// A plain TCP socket that sends the bytes of its connection's mapping with
/// `sendfile`, and everything else as any socket does.
pub struct FileSocket {
    tcp: TcpStream,
    outgoing: Arc<Outgoing>,
}

impl FileSocket {
    pub fn new(tcp: TcpStream, outgoing: Arc<Outgoing>) -> FileSocket {
        FileSocket { tcp, outgoing }
    }

    /// Writes what it can of `bufs` without waiting: runs of pieces from
    /// memory with one `sendmsg` each — told more follows when a piece of the
    /// mapping comes next, so the head leaves with the body — and each piece
    /// of the mapping with `sendfile`. `WouldBlock` only if nothing went.
    fn write_some(&self, bufs: &[IoSlice<'_>], mapping: &Mapping) -> io::Result<usize> {
        let mut written = 0;
        let mut rest = bufs;
        while let Some(first) = rest.first() {
            let (wanted, step) = match mapping.locate(first) {
                Some(offset) => (1, self.send_file(&mapping.file, offset, first.len())),
                None => {
                    let run = rest
                        .iter()
                        .take_while(|buf| mapping.locate(buf).is_none())
                        .count();
                    let more = run < rest.len();
                    (run, self.send_slices(&rest[..run], more))
                }
            };
            let whole: usize = rest[..wanted].iter().map(|buf| buf.len()).sum();
            match step {
                Ok(n) => {
                    written += n;
                    if n < whole {
                        break;
                    }
                    rest = &rest[wanted..];
                }
                // What went already is reported; the error comes back next time.
                Err(_) if written > 0 => break,
                Err(e) => return Err(e),
            }
        }
        Ok(written)
    }

    fn send_slices(&self, bufs: &[IoSlice<'_>], more: bool) -> io::Result<usize> {
        let flags = if more {
            SendFlags::NOSIGNAL | SendFlags::MORE
        } else {
            SendFlags::NOSIGNAL
        };
        self.tcp.try_io(Interest::WRITABLE, || {
            rustix::net::sendmsg(&self.tcp, bufs, &mut SendAncillaryBuffer::default(), flags)
                .map_err(io::Error::from)
        })
    }

    /// Sends `len` bytes of `file` from `offset`, or what the socket takes.
    fn send_file(&self, file: &File, offset: u64, len: usize) -> io::Result<usize> {
        let mut at = offset;
        let sent = self.tcp.try_io(Interest::WRITABLE, || {
            rustix::fs::sendfile(&self.tcp, file, Some(&mut at), len).map_err(io::Error::from)
        })?;
        if sent == 0 && len > 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shrank while being sent",
            ));
        }
        #[cfg(test)]
        self.outgoing
            .sent_from_files
            .fetch_add(sent as u64, Ordering::Relaxed);
        Ok(sent)
    }
}

impl AsyncRead for FileSocket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_read(cx, buf)
    }
}

impl AsyncWrite for FileSocket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_vectored(cx, &[IoSlice::new(buf)])
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let Some(mapping) = this.outgoing.current() else {
            return Pin::new(&mut this.tcp).poll_write_vectored(cx, bufs);
        };
        loop {
            ready!(this.tcp.poll_write_ready(cx))?;
            match this.write_some(bufs, &mapping) {
                // The readiness was stale and is cleared: wait for the next.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                done => return Poll::Ready(done),
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hyper::file_body::FileBody;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    /// A file of `len` bytes that no two nearby offsets share.
    fn pattern_file(len: usize) -> (tempfile::NamedTempFile, Vec<u8>) {
        let content: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        let mut named = tempfile::NamedTempFile::new().unwrap();
        named.write_all(&content).unwrap();
        (named, content)
    }

    fn file_answer(
        named: &tempfile::NamedTempFile,
        offset: u64,
        len: u64,
    ) -> Response<ResponseBody> {
        file_answer_in(named, offset, len, 4096)
    }

    fn file_answer_in(
        named: &tempfile::NamedTempFile,
        offset: u64,
        len: u64,
        chunk: usize,
    ) -> Response<ResponseBody> {
        let file = File::open(named.path()).unwrap();
        Response::new(ResponseBody::File(Box::new(FileBody::new(
            file, offset, len, chunk,
        ))))
    }

    /// The mapped bytes the answer now carries.
    fn mapped(response: &mut Response<ResponseBody>) -> Bytes {
        match response.body_mut() {
            ResponseBody::File(body) => body.mapped().expect("the file was not mapped").clone(),
            ResponseBody::Bytes(_) => panic!("not a file"),
        }
    }

    /// A connected loopback pair: the server's end for tokio, the client's
    /// blocking, with a read timeout so a lost byte fails rather than hangs.
    async fn pair() -> (TcpStream, std::net::TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        client
            .set_read_timeout(Some(std::time::Duration::from_secs(10)))
            .unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        (TcpStream::from_std(server).unwrap(), client)
    }

    /// Writes every byte of `bufs` as hyper does: vectored, advancing past
    /// what each call took. `blocked` runs the first time a write must wait.
    async fn write_all(
        socket: &mut FileSocket,
        bufs: &[&[u8]],
        mut blocked: impl FnMut(),
    ) -> io::Result<()> {
        let mut owned: Vec<&[u8]> = bufs.to_vec();
        let mut waited = false;
        while owned.iter().any(|b| !b.is_empty()) {
            let slices: Vec<IoSlice<'_>> = owned.iter().map(|b| IoSlice::new(b)).collect();
            let mut n = std::future::poll_fn(|cx| {
                let poll = Pin::new(&mut *socket).poll_write_vectored(cx, &slices);
                if poll.is_pending() && !waited {
                    waited = true;
                    blocked();
                }
                poll
            })
            .await?;
            assert!(n > 0, "a write that took nothing");
            for buf in &mut owned {
                let take = n.min(buf.len());
                *buf = &buf[take..];
                n -= take;
            }
        }
        Ok(())
    }

    /// Reads `len` bytes on a thread of its own, so the writer can wait.
    fn read_exactly(
        mut client: std::net::TcpStream,
        len: usize,
    ) -> std::thread::JoinHandle<Vec<u8>> {
        std::thread::spawn(move || {
            let mut got = vec![0; len];
            client.read_exact(&mut got).unwrap();
            got
        })
    }

    #[tokio::test]
    async fn a_mapped_range_goes_out_with_sendfile_as_the_files_bytes() {
        let (named, content) = pattern_file(300_000);
        let outgoing = Arc::new(Outgoing::default());
        // Neither the range's start nor its end is on a page boundary.
        let mut response = outgoing.adopt(file_answer(&named, 1_000, 200_001));
        let body = mapped(&mut response);
        assert_eq!(body.len(), 200_001);
        let (server, client) = pair().await;
        let mut socket = FileSocket::new(server, Arc::clone(&outgoing));
        let head = b"HTTP/1.1 200 OK\r\ncontent-length: 200001\r\n\r\n";
        let reader = read_exactly(client, head.len() + body.len());
        write_all(
            &mut socket,
            &[head, &body[..100_000], &body[100_000..]],
            || {},
        )
        .await
        .unwrap();
        let got = reader.join().unwrap();
        assert_eq!(&got[..head.len()], head);
        assert!(
            got[head.len()..] == content[1_000..201_001],
            "the file's bytes"
        );
        assert_eq!(outgoing.sent_from_files.load(Ordering::Relaxed), 200_001);
    }

    #[tokio::test]
    async fn a_file_cut_short_under_its_mapping_ends_the_send_with_an_error() {
        let (named, _) = pattern_file(300_000);
        let outgoing = Arc::new(Outgoing::default());
        let mut response = outgoing.adopt(file_answer(&named, 0, 300_000));
        let body = mapped(&mut response);
        named.as_file().set_len(100_000).unwrap();
        let (server, client) = pair().await;
        let mut socket = FileSocket::new(server, Arc::clone(&outgoing));
        let reader = read_exactly(client, 100_000);
        let error = write_all(&mut socket, &[&body], || {}).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
        assert_eq!(reader.join().unwrap().len(), 100_000, "what was left");
        assert_eq!(outgoing.sent_from_files.load(Ordering::Relaxed), 100_000);
    }

    #[tokio::test]
    async fn a_mapping_let_go_of_is_still_sent_whole_by_copy() {
        let (named, content) = pattern_file(100_000);
        let outgoing = Arc::new(Outgoing::default());
        let mut first = outgoing.adopt(file_answer(&named, 0, 100_000));
        let body = mapped(&mut first);
        // The next answer is not a file: the mapping is no longer the socket's.
        let next = outgoing.adopt(Response::new(ResponseBody::bytes(Bytes::from_static(b"x"))));
        assert!(matches!(next.body(), ResponseBody::Bytes(Some(_))));
        assert!(outgoing.current().is_none());
        let (server, client) = pair().await;
        let mut socket = FileSocket::new(server, Arc::clone(&outgoing));
        let reader = read_exactly(client, 100_000);
        write_all(&mut socket, &[&body], || {}).await.unwrap();
        assert!(reader.join().unwrap() == content);
        assert_eq!(outgoing.sent_from_files.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn an_empty_range_is_left_as_it_is() {
        let (named, _) = pattern_file(10);
        let outgoing = Outgoing::default();
        let response = outgoing.adopt(file_answer(&named, 10, 0));
        assert!(matches!(response.body(), ResponseBody::File(body) if body.mapped().is_none()));
        assert!(outgoing.current().is_none());
    }

    /// Reads until end of file on a thread of its own, once the writer has
    /// had to wait.
    fn read_after_a_wait(
        client: std::net::TcpStream,
    ) -> (
        std::sync::mpsc::Sender<()>,
        std::thread::JoinHandle<Vec<u8>>,
    ) {
        let (waiting, wait) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            wait.recv_timeout(std::time::Duration::from_secs(10))
                .expect("the writer never had to wait");
            let mut client = client;
            let mut got = Vec::new();
            client.read_to_end(&mut got).unwrap();
            got
        });
        (waiting, reader)
    }

    /// A pair whose buffers hold far less than a mebibyte.
    async fn narrow_pair() -> (TcpStream, std::net::TcpStream) {
        let (server, client) = pair().await;
        socket2::SockRef::from(&server)
            .set_send_buffer_size(32 * 1024)
            .unwrap();
        socket2::SockRef::from(&client)
            .set_recv_buffer_size(64 * 1024)
            .unwrap();
        (server, client)
    }

    #[tokio::test]
    async fn a_head_and_pieces_through_a_full_socket_arrive_in_order() {
        let (named, content) = pattern_file(1 << 20);
        let outgoing = Arc::new(Outgoing::default());
        let mut response = outgoing.adopt(file_answer(&named, 0, 1 << 20));
        let body = mapped(&mut response);
        let (server, client) = narrow_pair().await;
        let mut socket = FileSocket::new(server, Arc::clone(&outgoing));
        let (waiting, reader) = read_after_a_wait(client);
        // Runs of memory and mapping, each longer than the buffers, so that
        // writes stop part-way through either.
        let head = vec![b'h'; 200_000];
        let between = vec![b'm'; 70_000];
        let mut pieces: Vec<&[u8]> = vec![&head];
        let mut want = head.clone();
        for (i, part) in body.chunks(100_000).enumerate() {
            pieces.push(part);
            want.extend_from_slice(&content[i * 100_000..][..part.len()]);
            if i % 2 == 0 {
                pieces.push(&between);
                pieces.push(b"xy");
                want.extend_from_slice(&between);
                want.extend_from_slice(b"xy");
            }
        }
        write_all(&mut socket, &pieces, || waiting.send(()).unwrap())
            .await
            .unwrap();
        drop(socket);
        let got = reader.join().unwrap();
        assert_eq!(got.len(), want.len());
        assert!(got == want, "every byte once, in order");
        assert_eq!(outgoing.sent_from_files.load(Ordering::Relaxed), 1 << 20);
    }

    #[tokio::test]
    async fn the_mapping_is_let_go_with_the_body() {
        let (named, _) = pattern_file(100_000);
        let outgoing = Outgoing::default();
        let response = outgoing.adopt(file_answer(&named, 0, 100_000));
        let mapping = outgoing.current().expect("mapped");
        assert_eq!(Arc::strong_count(&mapping), 2, "the body's and this one");
        drop(mapping);
        drop(response);
        assert!(outgoing.current().is_none(), "nothing keeps it once sent");
    }

    /// Each frame of `response`'s body, and whether it was cut from the
    /// mapping `outgoing` knows (else it was read).
    async fn frames(
        outgoing: &Outgoing,
        response: &mut Response<ResponseBody>,
    ) -> Vec<(Bytes, bool)> {
        use http_body_util::BodyExt;
        let ResponseBody::File(body) = response.body_mut() else {
            panic!("not a file")
        };
        let mut frames = Vec::new();
        while let Some(frame) = body.frame().await {
            let data = frame.unwrap().into_data().unwrap();
            let cut = outgoing
                .current()
                .is_some_and(|mapping| mapping.locate(&data).is_some());
            frames.push((data, cut));
        }
        frames
    }

    #[tokio::test]
    async fn pieces_not_in_memory_are_read_instead() {
        let (named, content) = pattern_file(1 << 20);
        let outgoing = Outgoing::default();
        let mut response = outgoing.adopt(file_answer(&named, 0, 1 << 20));
        assert!(resident(&mapped(&mut response)), "just written");
        named.as_file().sync_all().unwrap();
        rustix::fs::fadvise(named.as_file(), 0, None, rustix::fs::Advice::DontNeed).unwrap();
        if resident(&mapped(&mut response)[..4096]) {
            // A tmpfs (or ramfs) keeps its pages: nothing here can be cold.
            eprintln!("skipped: the pages stayed in memory after DONTNEED");
            return;
        }
        let frames = frames(&outgoing, &mut response).await;
        assert!(!frames[0].1, "the cold first piece is read");
        let got: Vec<u8> = frames.iter().flat_map(|(data, _)| data.to_vec()).collect();
        assert!(got == content);
    }

    /// `named`'s whole content dropped from the page cache, then read back
    /// without readahead but for `cold`, a page-aligned range; `false` if the
    /// page cache would not show that (a tmpfs keeps every page, and memory
    /// pressure may take more).
    fn all_but_cold(
        named: &tempfile::NamedTempFile,
        len: usize,
        cold: std::ops::Range<usize>,
    ) -> bool {
        let file = named.as_file();
        file.sync_all().unwrap();
        rustix::fs::fadvise(file, 0, None, rustix::fs::Advice::DontNeed).unwrap();
        rustix::fs::fadvise(file, 0, None, rustix::fs::Advice::Random).unwrap();
        let mut back = vec![0; len];
        let read_at = std::os::unix::fs::FileExt::read_exact_at;
        read_at(file, &mut back[..cold.start], 0).unwrap();
        read_at(file, &mut back[cold.end..], cold.end as u64).unwrap();
        // SAFETY: mapped only for `mincore`; nothing reads through it.
        let map = unsafe { MmapOptions::new().len(len).map(file).unwrap() };
        let shown = resident(&map[..cold.start])
            && !resident(&map[cold.clone()])
            && resident(&map[cold.end..]);
        if !shown {
            eprintln!("skipped: the page cache did not keep to the pattern");
        }
        shown
    }

    /// Where each frame that was read (not cut from the mapping) starts, and its length.
    fn read_frames(frames: &[(Bytes, bool)]) -> Vec<(usize, usize)> {
        let mut at = 0;
        let mut read = Vec::new();
        for (data, cut) in frames {
            if !cut {
                read.push((at, data.len()));
            }
            at += data.len();
        }
        read
    }

    /// A 1 MiB body in pieces of `chunk` bytes, all in the page cache but the
    /// page at `cold`: where each piece that was read (not cut from the
    /// mapping) starts, and its length, once the body arrived whole; `None`
    /// if the page cache would not keep to that pattern.
    async fn reads_around_a_cold_page(chunk: usize, cold: usize) -> Option<Vec<(usize, usize)>> {
        let (named, content) = pattern_file(1 << 20);
        let outgoing = Outgoing::default();
        let mut response = outgoing.adopt(file_answer_in(&named, 0, 1 << 20, chunk));
        if !all_but_cold(&named, content.len(), cold..cold + 4096) {
            return None;
        }
        let frames = frames(&outgoing, &mut response).await;
        let got: Vec<u8> = frames.iter().flat_map(|(data, _)| data.to_vec()).collect();
        assert!(got == content, "nothing skipped or repeated");
        Some(read_frames(&frames))
    }

    #[tokio::test]
    async fn a_cold_piece_is_read_and_the_mapping_goes_on_after_it() {
        // One cold page, the ninth piece.
        let cold = 8 * 4096;
        if let Some(read) = reads_around_a_cold_page(4096, cold).await {
            assert_eq!(read, [(cold, 4096)], "that piece alone is read");
        }
    }

    #[tokio::test]
    async fn a_piece_in_memory_only_in_part_is_read_as_far_as_it_is() {
        // The second page of the ninth piece cold: the read without waiting
        // stops short before it, and the rest of the piece is read on the pool.
        let cold = 8 * 8192 + 4096;
        if let Some(read) = reads_around_a_cold_page(8192, cold).await {
            assert_eq!(
                read,
                [(cold - 4096, 4096), (cold, 8192)],
                "the warm page read at once, the next piece on the pool, then the mapping again"
            );
        }
    }

    /// hyper, given a mapped body on this socket, must hand its pieces to
    /// the vectored write as they are, so they go out through `sendfile`,
    /// whatever the builder plain connections start from says.
    #[tokio::test]
    async fn hyper_hands_a_mapped_body_to_sendfile() {
        let (named, content) = pattern_file(1 << 20);
        let path = named.path().to_path_buf();
        let (server, client) = pair().await;
        let outgoing = Arc::new(Outgoing::default());
        let socket = FileSocket::new(server, Arc::clone(&outgoing));
        let adopter = Arc::clone(&outgoing);
        let service = ::hyper::service::service_fn(move |_req| {
            let file = File::open(&path).unwrap();
            let answer = Response::new(ResponseBody::File(Box::new(FileBody::new(
                file,
                0,
                1 << 20,
                4096,
            ))));
            std::future::ready(Ok::<_, io::Error>(adopter.adopt(answer)))
        });
        // The builder plain connections get, from one set the other way.
        let mut copying = ::hyper::server::conn::http1::Builder::new();
        copying.writev(false).pipeline_flush(true);
        let builder = crate::hyper::plain_h1(&copying);
        let connection =
            tokio::spawn(builder.serve_connection(hyper_util::rt::TokioIo::new(socket), service));
        let reader = std::thread::spawn(move || {
            let mut client = client;
            client
                .write_all(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
                .unwrap();
            let mut got = Vec::new();
            client.read_to_end(&mut got).unwrap();
            got
        });
        let got = tokio::task::spawn_blocking(move || reader.join().unwrap())
            .await
            .unwrap();
        connection.await.unwrap().unwrap();
        let end = got.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        assert!(got[end..] == content, "the body is the file");
        assert_eq!(outgoing.sent_from_files.load(Ordering::Relaxed), 1 << 20);
    }
}

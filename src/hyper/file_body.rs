//! Response bodies: [`ResponseBody`], what every answer carries, and
//! [`FileBody`], a file (or a range of one) read in large pieces into a
//! recycled buffer, on the async worker itself when the pages are already
//! in memory and on the blocking pool only when they are not.
//!
//! `preadv2` with `RWF_NOWAIT` returns what the page cache holds and fails
//! with `EAGAIN` rather than wait for the disk, so a hot file — what a static
//! server mostly sends — costs no thread hand-off per piece, and a cold one
//! never stalls the connections sharing the worker.

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use ::hyper::body::{Body, Frame, SizeHint};
use bytes::{Bytes, BytesMut};
use tokio::task::JoinHandle;

/// The most of a body held in memory handed to hyper at once. Cut up, an
/// HTTP/2 stream reset before its last piece is cut short, as one sending a
/// file is, and counts toward the bound on such streams; cutting costs no copy.
const MEMORY_PIECE: usize = 256 * 1024;

/// A docroot reply's body as hyper sends it: one type rather than a boxed
/// one, so an answer costs no allocation or indirection for its body.
pub enum ResponseBody {
    /// Held in memory (a cached small file, a built-in page); `None` once
    /// sent, or from the start when empty.
    Bytes(Option<Bytes>),
    /// Boxed: hyper keeps a slot the size of a body for as long as the
    /// connection lives, and most answers are small ones held in memory.
    File(Box<FileBody>),
}

impl ResponseBody {
    pub fn empty() -> ResponseBody {
        ResponseBody::Bytes(None)
    }

    pub fn bytes(bytes: Bytes) -> ResponseBody {
        ResponseBody::Bytes((!bytes.is_empty()).then_some(bytes))
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        match self.get_mut() {
            ResponseBody::Bytes(Some(bytes)) if bytes.len() > MEMORY_PIECE => {
                Poll::Ready(Some(Ok(Frame::data(bytes.split_to(MEMORY_PIECE)))))
            }
            ResponseBody::Bytes(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
            ResponseBody::File(file) => Pin::new(&mut **file).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            ResponseBody::Bytes(bytes) => bytes.is_none(),
            ResponseBody::File(file) => file.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            ResponseBody::Bytes(bytes) => {
                SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64))
            }
            ResponseBody::File(file) => file.size_hint(),
        }
    }
}

pub struct FileBody {
    file: Arc<File>,
    offset: u64,
    remaining: u64,
    chunk: usize,
    /// Reused once hyper has written and dropped the piece cut from it.
    buffer: BytesMut,
    /// A piece being read on the blocking pool, and the buffer to keep.
    waiting: Option<JoinHandle<io::Result<(Bytes, BytesMut)>>>,
    /// The rest of the range mapped into memory, cut into pieces rather than
    /// read ([`super::send_file`]).
    mapped: Option<Bytes>,
}

impl FileBody {
    /// `len` bytes of `file` from `offset`, in pieces of up to `chunk` bytes.
    pub fn new(file: File, offset: u64, len: u64, chunk: usize) -> FileBody {
        FileBody {
            file: Arc::new(file),
            offset,
            remaining: len,
            chunk: chunk.max(1),
            buffer: BytesMut::new(),
            waiting: None,
            mapped: None,
        }
    }

    /// From now on, pieces are cut from `rest`, the rest of the range mapped.
    pub fn send_mapped(&mut self, rest: Bytes) {
        debug_assert_eq!(rest.len() as u64, self.remaining);
        self.mapped = Some(rest);
    }

    /// The rest of the range as mapped, if it is.
    #[cfg(test)]
    pub fn mapped(&self) -> Option<&Bytes> {
        self.mapped.as_ref()
    }

    /// The file, and the range of it still to send.
    pub fn range(&self) -> (&Arc<File>, u64, u64) {
        (&self.file, self.offset, self.remaining)
    }

    fn next_len(&self) -> usize {
        self.remaining.min(self.chunk as u64) as usize
    }

    /// Accounts for a piece read, refusing an empty one: the file shrank
    /// below the length already promised in `Content-Length`.
    fn advance(&mut self, piece: Bytes) -> io::Result<Frame<Bytes>> {
        if piece.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "file shrank while being sent",
            ));
        }
        self.offset += piece.len() as u64;
        self.remaining -= piece.len() as u64;
        Ok(Frame::data(piece))
    }

    /// The next piece if the page cache has it; `None` if it needs the disk.
    fn read_cached(&mut self) -> io::Result<Option<Bytes>> {
        let len = self.next_len();
        // Gets the old allocation back when hyper has let go of every piece
        // cut from it. Read into as it is, not zeroed first: zeroing costs a
        // pass over every byte sent.
        self.buffer.clear();
        self.buffer.reserve(len);
        let spare = self.buffer.spare_capacity_mut();
        let iov = libc::iovec {
            iov_base: spare.as_mut_ptr().cast(),
            iov_len: len.min(spare.len()),
        };
        let offset = libc::off_t::try_from(self.offset).map_err(io::Error::other)?;
        // SAFETY: the one iovec covers spare capacity the buffer owns, which
        // the kernel only writes to.
        let n = unsafe { libc::preadv2(self.file.as_raw_fd(), &iov, 1, offset, libc::RWF_NOWAIT) };
        let Ok(n) = usize::try_from(n) else {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                // EOPNOTSUPP: a file system (or a kernel) without RWF_NOWAIT.
                Some(libc::EAGAIN | libc::EOPNOTSUPP) => Ok(None),
                _ => Err(e),
            };
        };
        // SAFETY: the kernel wrote these `n` bytes (at most `iov_len`).
        unsafe { self.buffer.set_len(n) };
        Ok(Some(self.buffer.split().freeze()))
    }

    /// The next piece read on the blocking pool, into this body's buffer:
    /// allocated here, not in the pool thread's own arena, where a freed
    /// piece may stay resident.
    fn read_on_pool(&mut self) -> JoinHandle<io::Result<(Bytes, BytesMut)>> {
        let (file, offset, len) = (Arc::clone(&self.file), self.offset, self.next_len());
        let mut buffer = std::mem::take(&mut self.buffer);
        buffer.clear();
        buffer.resize(len, 0);
        tokio::task::spawn_blocking(move || {
            let n = file.read_at(&mut buffer, offset)?;
            buffer.truncate(n);
            Ok((buffer.split().freeze(), buffer))
        })
    }

    /// Moves the mapping, if there is one, past a piece that was read instead.
    fn skip_mapped(&mut self, len: usize) {
        if let Some(mapped) = &mut self.mapped {
            debug_assert_eq!(
                mapped.len() as u64,
                self.remaining,
                "the mapping keeps pace"
            );
            bytes::Buf::advance(mapped, len.min(mapped.len()));
        }
    }
}

impl Body for FileBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        if let Some(waiting) = &mut this.waiting {
            let read = ready!(Pin::new(waiting).poll(cx));
            this.waiting = None;
            let piece = read.map_err(io::Error::other).and_then(|r| r);
            let piece = piece.map(|(piece, buffer)| {
                this.buffer = buffer;
                this.skip_mapped(piece.len());
                piece
            });
            return Poll::Ready(Some(piece.and_then(|p| this.advance(p))));
        }
        if this.remaining == 0 {
            return Poll::Ready(None);
        }
        let len = this
            .next_len()
            .min(this.mapped.as_ref().map_or(0, Bytes::len));
        if let Some(mapped) = &mut this.mapped
            && super::send_file::resident(&mapped[..len])
        {
            let piece = mapped.split_to(len);
            return Poll::Ready(Some(this.advance(piece)));
        }
        // Not mapped, or not all in memory: this piece is read, on the pool
        // if it must wait, so that no `sendfile` waits on the worker. A
        // mapping goes on with the next piece, which is looked at afresh:
        // a page the kernel is moving can look absent for a moment.
        match this.read_cached() {
            Ok(Some(piece)) => {
                this.skip_mapped(piece.len());
                Poll::Ready(Some(this.advance(piece)))
            }
            Ok(None) => {
                this.waiting = Some(this.read_on_pool());
                // Polls the new task so it registers this waker.
                Pin::new(this).poll_frame(cx)
            }
            Err(e) => Poll::Ready(Some(Err(e))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.remaining == 0
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    fn file_with(content: &[u8]) -> (tempfile::NamedTempFile, File) {
        let mut named = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut named, content).unwrap();
        let file = File::open(named.path()).unwrap();
        (named, file)
    }

    #[tokio::test]
    async fn bytes_bodies_send_their_bytes_once_and_say_their_length() {
        let mut body = ResponseBody::bytes(Bytes::from_static(b"hello"));
        assert_eq!(body.size_hint().exact(), Some(5));
        assert!(!body.is_end_stream());
        let frame = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(frame, "hello");
        assert!(body.is_end_stream());
        assert!(body.frame().await.is_none());
        for mut empty in [ResponseBody::empty(), ResponseBody::bytes(Bytes::new())] {
            assert!(empty.is_end_stream());
            assert_eq!(empty.size_hint().exact(), Some(0));
            assert!(empty.frame().await.is_none());
        }
    }

    #[tokio::test]
    async fn big_bytes_bodies_are_sent_in_pieces() {
        let content: Vec<u8> = (0..(2 * MEMORY_PIECE + 7)).map(|i| i as u8).collect();
        let mut body = ResponseBody::bytes(Bytes::from(content.clone()));
        let mut received = Vec::new();
        let mut pieces = Vec::new();
        while let Some(frame) = body.frame().await {
            let data = frame.unwrap().into_data().unwrap();
            pieces.push(data.len());
            received.extend_from_slice(&data);
            assert_eq!(
                body.size_hint().exact(),
                Some((content.len() - received.len()) as u64)
            );
        }
        assert_eq!(pieces, [MEMORY_PIECE, MEMORY_PIECE, 7]);
        assert_eq!(received, content);
        assert!(body.is_end_stream());
    }

    #[tokio::test]
    async fn sends_exactly_the_range_asked_in_pieces() {
        let content: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let (_named, file) = file_with(&content);
        let mut body = FileBody::new(file, 1_000, 90_001, 4_096);
        assert_eq!(body.size_hint().exact(), Some(90_001));
        let mut received = Vec::new();
        let mut pieces = 0;
        while let Some(frame) = body.frame().await {
            let data = frame.unwrap().into_data().unwrap();
            assert!(data.len() <= 4_096);
            received.extend_from_slice(&data);
            pieces += 1;
        }
        assert_eq!(received, &content[1_000..91_001]);
        assert_eq!(pieces, 90_001usize.div_ceil(4_096));
        assert!(body.is_end_stream());
    }

    #[tokio::test]
    async fn a_file_that_shrinks_mid_send_is_an_error_not_a_short_body() {
        let (named, file) = file_with(&[7; 10_000]);
        let mut body = FileBody::new(file, 0, 10_000, 4_096);
        let first = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(first.len(), 4_096);
        named.as_file().set_len(5_000).unwrap();
        let second = body.frame().await.unwrap().unwrap().into_data().unwrap();
        assert_eq!(second.len(), 904, "what is left before the new end");
        let error = body.frame().await.unwrap().unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
    }
}

//! Writes a docroot [`Reply`] to the socket as HTTP/1.1: status line, the
//! reply's fields, the connection field this backend owns, then the body — a
//! file through [`ChunkedSender`], an explicit loop of fixed-size reads and
//! `write_all`s, which is what the project teaches and measures (`std::io::copy`
//! would quietly become `sendfile` on Linux).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};

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
    stream: &mut impl Write,
    reply: Reply,
    persistence: Persistence,
    head: &mut Vec<u8>,
    sender: &mut ChunkedSender,
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
            stream.write_all(head)?;
            sender.send(file, offset, len, stream)
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

/// Sends a file in pieces of a fixed size, each written whole with `write_all`
/// (a bare `write` may send only part of a piece and lose the rest).
#[derive(Debug)]
pub struct ChunkedSender {
    chunk_size: usize,
    /// Allocated on the first file sent: a connection that only gets small
    /// files (served from memory) never pays for it.
    chunk: Vec<u8>,
}

impl ChunkedSender {
    pub fn new(chunk_size: usize) -> ChunkedSender {
        ChunkedSender {
            chunk_size: chunk_size.max(1),
            chunk: Vec::new(),
        }
    }

    /// Frees the piece buffer; the next file sent allocates it again.
    pub fn release(&mut self) {
        self.chunk = Vec::new();
    }

    /// Sends `len` bytes of `file` from `offset` on. A file that shrank since
    /// its length was announced is an error: the `Content-Length` already sent
    /// can no longer be honoured, so the caller must close the connection.
    pub fn send(
        &mut self,
        mut file: File,
        offset: u64,
        len: u64,
        out: &mut impl Write,
    ) -> io::Result<()> {
        // Always: the file's cursor may have moved since it was opened.
        file.seek(SeekFrom::Start(offset))?;
        if self.chunk.is_empty() {
            self.chunk = vec![0; self.chunk_size];
        }
        let mut left = len;
        while left > 0 {
            let want = self
                .chunk
                .len()
                .min(usize::try_from(left).unwrap_or(usize::MAX));
            let got = file.read(&mut self.chunk[..want])?;
            if got == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("file shrank while being sent: {left} of {len} bytes missing"),
                ));
            }
            out.write_all(&self.chunk[..got])?;
            left -= got as u64;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::StatusCode;

    #[test]
    fn writes_status_fields_and_connection() {
        let mut out = Vec::new();
        let reply = Reply::status(StatusCode::NOT_FOUND);
        let len = reply.content_length() as usize;
        let mut sender = ChunkedSender::new(16);
        write_reply(
            &mut out,
            reply,
            Persistence::Close,
            &mut Vec::new(),
            &mut sender,
        )
        .unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 404 Not Found\r\n"), "{text}");
        assert!(text.contains("\r\nconnection: close\r\n"));
        let (_, body) = text.split_once("\r\n\r\n").unwrap();
        assert_eq!(body.len(), len);
    }

    #[test]
    fn sends_a_file_in_chunks_of_any_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &data).unwrap();
        for chunk in [1, 7, 1024, 64 * 1024] {
            let mut out = Vec::new();
            let file = File::open(&path).unwrap();
            ChunkedSender::new(chunk)
                .send(file, 0, data.len() as u64, &mut out)
                .unwrap();
            assert_eq!(out, data, "chunk {chunk}");
        }
        let mut slice = Vec::new();
        let file = File::open(&path).unwrap();
        ChunkedSender::new(7)
            .send(file, 1234, 100, &mut slice)
            .unwrap();
        assert_eq!(slice, &data[1234..1334]);
        let file = File::open(&path).unwrap();
        let short = ChunkedSender::new(1024).send(file, 0, data.len() as u64 + 1, &mut Vec::new());
        assert_eq!(short.unwrap_err().kind(), io::ErrorKind::UnexpectedEof);
    }
}

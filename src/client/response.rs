//! The one HTTP/1.1 response reader: the head with `httparse`, then the body
//! framed as RFC 9112 §6.3 says. The client's load and compare's runner both
//! read responses through it; tests keep their own oracle on purpose.
//!
//! Framing, in the RFC's order: no body for a response to HEAD or for 1xx,
//! 204 and 304; chunked when the last transfer coding is `chunked`; to the
//! close when another coding is last; `Content-Length` (digits only, every
//! value the same); else to the close.

use std::io::{self, Read};

/// What the client keeps of a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseSummary {
    /// The status line as received, without its CRLF.
    pub status_line: String,
    pub status: u16,
    pub body_len: u64,
    /// The server said it will close (`Connection: close`, or the body ran to EOF).
    pub closes: bool,
}

/// A whole response: the summary, every field as received, and the body
/// decoded from its framing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub summary: ResponseSummary,
    /// Field names as sent, values as bytes, in the order received.
    pub fields: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
}

/// Why no complete response came back.
#[derive(Debug, thiserror::Error)]
pub enum ResponseError {
    #[error("connection closed before a complete response")]
    Closed,
    #[error("malformed response: {0}")]
    Malformed(String),
    #[error(transparent)]
    Io(#[from] io::Error),
}

fn malformed(what: &str) -> ResponseError {
    ResponseError::Malformed(what.to_string())
}

/// Most response heads are a few hundred bytes; none we accept exceed this.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;
const MAX_RESPONSE_HEADERS: usize = 64;

/// How a response's body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body, whatever the fields say.
    Empty,
    Length(u64),
    Chunked,
    /// The body is everything until the server closes.
    UntilClose,
}

/// Decides the framing of a response to `method` with `status` and `fields`,
/// in RFC 9112 §6.3's order.
pub fn framing(
    method: &str,
    status: u16,
    fields: &[httparse::Header<'_>],
) -> Result<Framing, ResponseError> {
    // §6.3 rules 1: a response to HEAD, and 1xx, 204 and 304, end at their head.
    if method == "HEAD" || (100..200).contains(&status) || status == 204 || status == 304 {
        return Ok(Framing::Empty);
    }
    let values = |name: &'static str| {
        fields
            .iter()
            .filter(move |h| h.name.eq_ignore_ascii_case(name))
            .flat_map(|h| h.value.split(|&b| b == b','))
            .map(|v| v.trim_ascii())
    };
    // §6.3 rule 4: Transfer-Encoding overrides Content-Length; chunked last
    // means chunked, any other coding last means the body runs to the close.
    if fields
        .iter()
        .any(|h| h.name.eq_ignore_ascii_case("transfer-encoding"))
    {
        let last = values("transfer-encoding").rfind(|v| !v.is_empty());
        return Ok(match last {
            Some(coding) if coding.eq_ignore_ascii_case(b"chunked") => Framing::Chunked,
            _ => Framing::UntilClose,
        });
    }
    // §6.3 rule 5 and RFC 9110 §8.6: digits only, and a repeated value (in
    // one field or several) must agree; anything else is unrecoverable.
    let mut length = None;
    for value in values("content-length") {
        let n = content_length(value)?;
        if length.is_some_and(|seen| seen != n) {
            return Err(malformed("conflicting Content-Length values"));
        }
        length = Some(n);
    }
    // §6.3 rule 8: no length at all, so the close ends the body.
    Ok(length.map_or(Framing::UntilClose, Framing::Length))
}

/// One `Content-Length` value: 1*DIGIT that fits in a u64 — no sign, no
/// inner space, no hex.
fn content_length(value: &[u8]) -> Result<u64, ResponseError> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Err(malformed("invalid Content-Length"));
    }
    std::str::from_utf8(value)
        .ok()
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| malformed("Content-Length overflows"))
}

/// The size on a chunk-size line (without its line ending): hex digits, then
/// optional whitespace and extensions after `;` (RFC 9112 §7.1.1).
pub fn chunk_size(line: &[u8]) -> Result<u64, ResponseError> {
    let size = line.split(|&b| b == b';').next().unwrap_or_default();
    let size = size.trim_ascii();
    if size.is_empty() || !size.iter().all(u8::is_ascii_hexdigit) {
        return Err(malformed("bad chunk size"));
    }
    std::str::from_utf8(size)
        .ok()
        .and_then(|s| u64::from_str_radix(s, 16).ok())
        .ok_or_else(|| malformed("chunk size overflows"))
}

/// A buffered reader over one connection; bytes after a response (the next
/// pipelined one) stay buffered.
pub struct ResponseReader<R> {
    inner: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes read from `inner` so far, for [`ResponseReader::position`].
    read_total: u64,
}

impl<R: Read> ResponseReader<R> {
    pub fn new(inner: R) -> Self {
        ResponseReader {
            inner,
            buf: vec![0; 16 * 1024],
            start: 0,
            end: 0,
            read_total: 0,
        }
    }

    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// How many bytes of the stream the responses read so far used.
    pub fn position(&self) -> u64 {
        self.read_total - (self.end - self.start) as u64
    }

    /// Reads one response to a request made with `method`, counting its body
    /// without keeping it.
    pub fn read_response(&mut self, method: &str) -> Result<ResponseSummary, ResponseError> {
        self.read(method, false).map(|r| r.summary)
    }

    /// Reads one response to a request made with `method`, keeping its fields
    /// and its decoded body.
    pub fn read_message(&mut self, method: &str) -> Result<Response, ResponseError> {
        self.read(method, true)
    }

    fn read(&mut self, method: &str, keep: bool) -> Result<Response, ResponseError> {
        let (head_len, mut response, framing) = loop {
            let mut fields = [httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
            let mut parsed = httparse::Response::new(&mut fields);
            match parsed.parse(&self.buf[self.start..self.end]) {
                Ok(httparse::Status::Complete(len)) => {
                    let head = &self.buf[self.start..self.start + len];
                    let status = parsed.code.ok_or_else(|| malformed("no status code"))?;
                    let framing = framing(method, status, parsed.headers)?;
                    break (
                        len,
                        head_response(head, status, parsed.headers, keep),
                        framing,
                    );
                }
                Ok(httparse::Status::Partial) => {
                    if self.end - self.start > MAX_RESPONSE_HEAD {
                        return Err(malformed("response head too large"));
                    }
                    if self.fill()? == 0 {
                        return Err(ResponseError::Closed);
                    }
                }
                Err(e) => return Err(ResponseError::Malformed(e.to_string())),
            }
        };
        self.start += head_len;
        let mut body = keep.then(Vec::new);
        response.summary.body_len = match framing {
            Framing::Empty => 0,
            Framing::Length(len) => self.take_exact(len, body.as_mut())?,
            Framing::Chunked => self.take_chunked(body.as_mut())?,
            Framing::UntilClose => {
                response.summary.closes = true;
                self.take_to_end(body.as_mut())?
            }
        };
        response.body = body.unwrap_or_default();
        Ok(response)
    }

    /// Reads more bytes into the buffer; `Ok(0)` at end of stream.
    fn fill(&mut self) -> io::Result<usize> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.end == self.buf.len() {
                self.buf.resize(self.buf.len() * 2, 0);
            }
        }
        loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(n) => {
                    self.end += n;
                    self.read_total += n as u64;
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Moves up to `n` buffered bytes out, into `body` when it is kept.
    fn take_buffered(&mut self, n: usize, body: Option<&mut Vec<u8>>) {
        if let Some(body) = body {
            body.extend_from_slice(&self.buf[self.start..self.start + n]);
        }
        self.start += n;
    }

    fn take_exact(
        &mut self,
        len: u64,
        mut body: Option<&mut Vec<u8>>,
    ) -> Result<u64, ResponseError> {
        let mut left = len;
        while left > 0 {
            if self.start == self.end && self.fill()? == 0 {
                return Err(ResponseError::Closed);
            }
            let take = (self.end - self.start).min(usize::try_from(left).unwrap_or(usize::MAX));
            self.take_buffered(take, body.as_deref_mut());
            left -= take as u64;
        }
        Ok(len)
    }

    fn take_to_end(&mut self, mut body: Option<&mut Vec<u8>>) -> Result<u64, ResponseError> {
        let mut total = 0;
        loop {
            let n = self.end - self.start;
            total += n as u64;
            self.take_buffered(n, body.as_deref_mut());
            if self.fill()? == 0 {
                return Ok(total);
            }
        }
    }

    /// One line, without its LF and an optional CR before it.
    fn read_line(&mut self) -> Result<Vec<u8>, ResponseError> {
        loop {
            if let Some(i) = self.buf[self.start..self.end]
                .iter()
                .position(|&b| b == b'\n')
            {
                let line = &self.buf[self.start..self.start + i];
                let line = line.strip_suffix(b"\r").unwrap_or(line).to_vec();
                self.start += i + 1;
                return Ok(line);
            }
            if self.end - self.start > MAX_RESPONSE_HEAD {
                return Err(malformed("chunk line too long"));
            }
            if self.fill()? == 0 {
                return Err(ResponseError::Closed);
            }
        }
    }

    fn take_chunked(&mut self, mut body: Option<&mut Vec<u8>>) -> Result<u64, ResponseError> {
        let mut total = 0u64;
        loop {
            let size = chunk_size(&self.read_line()?)?;
            if size == 0 {
                // Trailer fields, then the empty line.
                while !self.read_line()?.is_empty() {}
                return Ok(total);
            }
            self.take_exact(size, body.as_deref_mut())?;
            if !self.read_line()?.is_empty() {
                return Err(malformed("chunk data overruns its size"));
            }
            total = total
                .checked_add(size)
                .ok_or_else(|| malformed("chunked body overflows"))?;
        }
    }
}

/// The response a head describes, before its body is read.
fn head_response(
    head: &[u8],
    status: u16,
    fields: &[httparse::Header<'_>],
    keep_fields: bool,
) -> Response {
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let status_line = String::from_utf8_lossy(head[..line_end].trim_ascii_end()).into_owned();
    let closes = fields.iter().any(|h| {
        h.name.eq_ignore_ascii_case("connection")
            && h.value
                .split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
    });
    let fields = if keep_fields {
        fields
            .iter()
            .map(|h| (h.name.to_string(), h.value.to_vec()))
            .collect()
    } else {
        Vec::new()
    };
    Response {
        summary: ResponseSummary {
            status_line,
            status,
            body_len: 0,
            closes,
        },
        fields,
        body: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(bytes: &[u8], method: &str) -> Vec<Result<ResponseSummary, String>> {
        let mut reader = ResponseReader::new(bytes);
        let mut out = Vec::new();
        loop {
            match reader.read_response(method) {
                Err(ResponseError::Closed) => return out,
                other => {
                    let stop = other.is_err();
                    out.push(other.map_err(|e| e.to_string()));
                    if stop {
                        return out;
                    }
                }
            }
        }
    }

    /// The body of the one response in `head` + `body`, or the error.
    fn body_of(head: &str, body: &[u8]) -> Result<Vec<u8>, String> {
        let mut bytes = head.as_bytes().to_vec();
        bytes.extend_from_slice(body);
        ResponseReader::new(&bytes[..])
            .read_message("GET")
            .map(|r| r.body)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn reads_pipelined_responses_with_each_framing() {
        let bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello\
HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n\
HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\nrest of it";
        let got = read_all(bytes, "GET");
        assert_eq!(got.len(), 3);
        let first = got[0].as_ref().unwrap();
        assert_eq!(
            (first.status, first.body_len, first.closes),
            (200, 5, false)
        );
        assert_eq!(first.status_line, "HTTP/1.1 200 OK");
        assert_eq!(got[1].as_ref().unwrap().body_len, 5);
        let last = got[2].as_ref().unwrap();
        assert_eq!((last.status, last.body_len, last.closes), (404, 10, true));
    }

    #[test]
    fn messages_keep_fields_and_decoded_bodies_and_the_position() {
        let bytes = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\nT: t\r\n\r\nHTTP/1.1 2";
        let mut reader = ResponseReader::new(&bytes[..]);
        let message = reader.read_message("GET").unwrap();
        assert_eq!(message.body, b"abcde");
        assert_eq!(message.summary.body_len, 5);
        assert_eq!(message.fields[1], ("X-A".to_string(), b"1".to_vec()));
        assert_eq!(reader.position(), bytes.len() as u64 - 10);
        assert!(matches!(
            reader.read_message("GET"),
            Err(ResponseError::Closed)
        ));
    }

    #[test]
    fn no_body_after_head_1xx_204_and_304() {
        let bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
        assert_eq!(read_all(bytes, "HEAD").len(), 2);
        for status in ["100 Continue", "204 No Content", "304 Not Modified"] {
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
            );
            assert_eq!(body_of(&head, b""), Ok(Vec::new()), "{status}");
        }
    }

    #[test]
    fn chunked_when_the_last_coding_is_chunked_and_it_beats_content_length() {
        let chunked = b"3\r\nabc\r\n0\r\n\r\n";
        let head =
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: gzip, CHUNKED\r\n\r\n";
        assert_eq!(body_of(head, chunked), Ok(b"abc".to_vec()));
        // Two fields make one list: the last coding is the second field's.
        let head =
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(body_of(head, chunked), Ok(b"abc".to_vec()));
        // Bare LF line endings inside the chunked body are read too.
        assert_eq!(body_of(head, b"3\nabc\n0\n\n"), Ok(b"abc".to_vec()));
    }

    #[test]
    fn another_last_coding_runs_to_the_close_whatever_content_length_says() {
        for te in ["chunked, gzip", "gzip", "xchunked", ""] {
            let head =
                format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: {te}\r\nContent-Length: 2\r\n\r\n");
            assert_eq!(
                body_of(&head, b"0\r\n\r\n"),
                Ok(b"0\r\n\r\n".to_vec()),
                "{te:?}"
            );
        }
    }

    #[test]
    fn content_length_is_digits_and_duplicates_agree() {
        let ok = |cl: &str| body_of(&format!("HTTP/1.1 200 OK\r\n{cl}\r\n\r\n"), b"hello!");
        assert_eq!(ok("Content-Length: 5"), Ok(b"hello".to_vec()));
        assert_eq!(ok("Content-Length: 5, 5"), Ok(b"hello".to_vec()));
        assert_eq!(
            ok("Content-Length: 5\r\ncontent-length: 5"),
            Ok(b"hello".to_vec())
        );
        assert_eq!(ok("Content-Length: 00005"), Ok(b"hello".to_vec()));
        for hostile in [
            "Content-Length: +5",
            "Content-Length: -5",
            "Content-Length: 5 5",
            "Content-Length: 0x5",
            "Content-Length: 5,",
            "Content-Length: 18446744073709551616",
            "Content-Length: 99999999999999999999999",
        ] {
            assert!(
                ok(hostile).unwrap_err().contains("Content-Length"),
                "{hostile}"
            );
        }
        for conflict in [
            "Content-Length: 5, 6",
            "Content-Length: 5\r\nContent-Length: 6",
        ] {
            assert!(
                ok(conflict).unwrap_err().contains("conflicting"),
                "{conflict}"
            );
        }
    }

    #[test]
    fn no_length_runs_to_the_close() {
        let summary = read_all(b"HTTP/1.1 200 OK\r\n\r\nall of it", "GET");
        let summary = summary[0].as_ref().unwrap();
        assert_eq!((summary.body_len, summary.closes), (9, true));
    }

    #[test]
    fn chunk_sizes_are_hex_that_fits() {
        assert_eq!(chunk_size(b"1aF").unwrap(), 0x1af);
        assert_eq!(chunk_size(b"5 ; name=value").unwrap(), 5);
        assert_eq!(chunk_size(b"0000000000000000000a").unwrap(), 10);
        assert_eq!(chunk_size(b"ffffffffffffffff").unwrap(), u64::MAX);
        for bad in [&b""[..], b";x", b"+5", b"-1", b"0x5", b"5 5", b"g"] {
            assert!(chunk_size(bad).is_err(), "{}", bad.escape_ascii());
        }
        let overflow = chunk_size(b"10000000000000000").unwrap_err().to_string();
        assert!(overflow.contains("overflows"), "{overflow}");
        let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(body_of(head, b"10000000000000000\r\nabc").is_err());
        assert!(
            body_of(head, b"3\r\nabcd\r\n0\r\n\r\n").is_err(),
            "data past its size"
        );
    }

    #[test]
    fn truncated_and_malformed() {
        let short = read_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", "GET");
        assert!(short.is_empty(), "a short body is no response");
        let chunks = read_all(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab",
            "GET",
        );
        assert!(chunks.is_empty(), "a short chunk is no response");
        let garbage = read_all(b"SSH-2.0-OpenSSH\r\n", "GET");
        assert!(garbage[0].is_err());
    }
}

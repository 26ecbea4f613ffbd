//! Reads one HTTP/1.1 response from a blocking socket: the head with
//! `httparse`, then the body framed the way the head says (RFC 9112 §6.3):
//! none, `Content-Length`, chunked, or until the server closes.

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

/// Most response heads are a few hundred bytes; none we accept exceed this.
const MAX_RESPONSE_HEAD: usize = 64 * 1024;
const MAX_RESPONSE_HEADERS: usize = 64;

/// A buffered reader over one connection; bytes after a response (the next
/// pipelined one) stay buffered.
pub struct ResponseReader<R> {
    inner: R,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl<R: Read> ResponseReader<R> {
    pub fn new(inner: R) -> Self {
        ResponseReader {
            inner,
            buf: vec![0; 16 * 1024],
            start: 0,
            end: 0,
        }
    }

    pub fn get_ref(&self) -> &R {
        &self.inner
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
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads one response to a request made with `method`.
    pub fn read_response(&mut self, method: &str) -> Result<ResponseSummary, ResponseError> {
        let (head_len, mut summary, framing) = loop {
            let mut fields = [httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
            let mut parsed = httparse::Response::new(&mut fields);
            match parsed.parse(&self.buf[self.start..self.end]) {
                Ok(httparse::Status::Complete(len)) => {
                    let head = &self.buf[self.start..self.start + len];
                    break (len, summarize(head, &parsed)?, framing(&parsed, method)?);
                }
                Ok(httparse::Status::Partial) => {
                    if self.end - self.start > MAX_RESPONSE_HEAD {
                        return Err(ResponseError::Malformed("response head too large".into()));
                    }
                    if self.fill()? == 0 {
                        return Err(ResponseError::Closed);
                    }
                }
                Err(e) => return Err(ResponseError::Malformed(e.to_string())),
            }
        };
        self.start += head_len;
        summary.body_len = match framing {
            Framing::Length(len) => self.skip_exact(len)?,
            Framing::Chunked => self.skip_chunked()?,
            Framing::UntilClose => {
                summary.closes = true;
                self.skip_to_end()?
            }
        };
        Ok(summary)
    }

    fn skip_exact(&mut self, len: u64) -> Result<u64, ResponseError> {
        let mut left = len;
        while left > 0 {
            if self.start == self.end && self.fill()? == 0 {
                return Err(ResponseError::Closed);
            }
            let take = (self.end - self.start).min(usize::try_from(left).unwrap_or(usize::MAX));
            self.start += take;
            left -= take as u64;
        }
        Ok(len)
    }

    fn skip_to_end(&mut self) -> Result<u64, ResponseError> {
        let mut total = (self.end - self.start) as u64;
        self.start = self.end;
        loop {
            let n = self.fill()?;
            if n == 0 {
                return Ok(total);
            }
            total += n as u64;
            self.start = self.end;
        }
    }

    fn read_line(&mut self) -> Result<Vec<u8>, ResponseError> {
        loop {
            if let Some(i) = self.buf[self.start..self.end]
                .iter()
                .position(|&b| b == b'\n')
            {
                let line = self.buf[self.start..self.start + i].to_vec();
                self.start += i + 1;
                return Ok(line.strip_suffix(b"\r").map(<[u8]>::to_vec).unwrap_or(line));
            }
            if self.end - self.start > MAX_RESPONSE_HEAD {
                return Err(ResponseError::Malformed("chunk line too long".into()));
            }
            if self.fill()? == 0 {
                return Err(ResponseError::Closed);
            }
        }
    }

    fn skip_chunked(&mut self) -> Result<u64, ResponseError> {
        let mut total = 0u64;
        loop {
            let line = self.read_line()?;
            let size = line.split(|&b| b == b';').next().unwrap_or_default();
            let size = std::str::from_utf8(size.trim_ascii())
                .ok()
                .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_hexdigit()))
                .and_then(|s| u64::from_str_radix(s, 16).ok())
                .ok_or_else(|| ResponseError::Malformed("bad chunk size".into()))?;
            if size == 0 {
                // Trailer fields, then the empty line.
                while !self.read_line()?.is_empty() {}
                return Ok(total);
            }
            self.skip_exact(size)?;
            if !self.read_line()?.is_empty() {
                return Err(ResponseError::Malformed(
                    "chunk data overruns its size".into(),
                ));
            }
            total += size;
        }
    }
}

enum Framing {
    Length(u64),
    Chunked,
    UntilClose,
}

fn summarize(
    head: &[u8],
    parsed: &httparse::Response<'_, '_>,
) -> Result<ResponseSummary, ResponseError> {
    let status = parsed
        .code
        .ok_or_else(|| ResponseError::Malformed("no status code".into()))?;
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let status_line = String::from_utf8_lossy(head[..line_end].trim_ascii_end()).into_owned();
    let closes = parsed.headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("connection")
            && h.value
                .split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
    });
    Ok(ResponseSummary {
        status_line,
        status,
        body_len: 0,
        closes,
    })
}

/// RFC 9112 §6.3, in its order.
fn framing(parsed: &httparse::Response<'_, '_>, method: &str) -> Result<Framing, ResponseError> {
    let status = parsed.code.unwrap_or(0);
    if method == "HEAD" || (100..200).contains(&status) || status == 204 || status == 304 {
        return Ok(Framing::Length(0));
    }
    let field = |name: &str| {
        parsed
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
    };
    if let Some(te) = field("transfer-encoding") {
        let last = te.rsplit(|&b| b == b',').next().unwrap_or_default();
        return Ok(if last.trim_ascii().eq_ignore_ascii_case(b"chunked") {
            Framing::Chunked
        } else {
            Framing::UntilClose
        });
    }
    match field("content-length") {
        Some(value) => std::str::from_utf8(value)
            .ok()
            .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|v| v.parse().ok())
            .map(Framing::Length)
            .ok_or_else(|| ResponseError::Malformed("invalid Content-Length".into())),
        None => Ok(Framing::UntilClose),
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
    fn head_responses_have_no_body() {
        let bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
        assert_eq!(read_all(bytes, "HEAD").len(), 2);
    }

    #[test]
    fn truncated_and_malformed() {
        let short = read_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel", "GET");
        assert!(short.is_empty(), "a short body is no response");
        let bad = read_all(b"HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\nhello", "GET");
        assert!(bad[0].is_err());
        let garbage = read_all(b"SSH-2.0-OpenSSH\r\n", "GET");
        assert!(garbage[0].is_err());
    }
}

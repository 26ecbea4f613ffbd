//! The one HTTP/1.1 response reader: the head with `httparse`, then the body
//! framed as RFC 9112 §6.3 says, read incrementally so the load engine's
//! non-blocking sockets and the blocking readers share it. The client's load
//! and compare's runner both read responses through it; tests keep their own
//! oracle on purpose.
//!
//! Interim 1xx responses (but 101) are skipped (RFC 9110 §15.2). Framing, in
//! the RFC's order: no body for a response to HEAD or for 1xx,
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

/// Where a response being read has got to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Head,
    Length(u64),
    ChunkSize,
    ChunkData(u64),
    /// The CRLF after a chunk's data.
    ChunkEnd,
    Trailers,
    UntilClose,
}

/// Reads responses from bytes as they arrive, so a non-blocking caller can
/// feed it whatever each read returned: [`ResponseParser::advance`] takes
/// what it can from the front of a buffer and says when a response ended.
/// Body bytes are counted as they pass, not buffered (unless kept); only a
/// head or a chunk-size line must be whole in the buffer to be used.
#[derive(Debug)]
pub struct ResponseParser {
    keep: bool,
    state: State,
    response: Option<Response>,
}

impl ResponseParser {
    /// `keep`: keep each response's fields and decoded body, not only its summary.
    pub fn new(keep: bool) -> Self {
        ResponseParser {
            keep,
            state: State::Head,
            response: None,
        }
    }

    /// True between responses: nothing of the next one read yet.
    pub fn is_idle(&self) -> bool {
        self.state == State::Head
    }

    /// Uses bytes from the front of `bytes` for a response to `method`:
    /// how many it used, and the response when one ended with them. Call
    /// again with the rest after a response; bytes it left unused must be
    /// offered again, with more after them.
    pub fn advance(
        &mut self,
        method: &str,
        bytes: &[u8],
    ) -> Result<(usize, Option<Response>), ResponseError> {
        let mut used = 0;
        loop {
            let rest = &bytes[used..];
            match self.state {
                State::Head => {
                    let mut fields = [httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
                    let mut parsed = httparse::Response::new(&mut fields);
                    match parsed.parse(rest) {
                        Ok(httparse::Status::Complete(len)) => {
                            let status = parsed.code.ok_or_else(|| malformed("no status code"))?;
                            // RFC 9110 §15.2: an interim response (103 Early Hints,
                            // 100 Continue) comes before the final one to the same
                            // request; 101 is final, the connection's last.
                            if (100..200).contains(&status) && status != 101 {
                                used += len;
                                continue;
                            }
                            let framing = framing(method, status, parsed.headers)?;
                            let mut response =
                                head_response(&rest[..len], status, parsed.headers, self.keep);
                            used += len;
                            self.state = match framing {
                                Framing::Empty => return Ok((used, Some(response))),
                                Framing::Length(0) => return Ok((used, Some(response))),
                                Framing::Length(n) => State::Length(n),
                                Framing::Chunked => State::ChunkSize,
                                Framing::UntilClose => {
                                    response.summary.closes = true;
                                    State::UntilClose
                                }
                            };
                            self.response = Some(response);
                        }
                        Ok(httparse::Status::Partial) => {
                            if rest.len() > MAX_RESPONSE_HEAD {
                                return Err(malformed("response head too large"));
                            }
                            return Ok((used, None));
                        }
                        Err(e) => return Err(ResponseError::Malformed(e.to_string())),
                    }
                }
                State::Length(left) | State::ChunkData(left) => {
                    let take = rest.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    self.take_body(&rest[..take]);
                    used += take;
                    let left = left - take as u64;
                    self.state = match (self.state, left) {
                        (State::Length(_), 0) => return Ok((used, self.finish())),
                        (State::Length(_), _) => State::Length(left),
                        (_, 0) => State::ChunkEnd,
                        (_, _) => State::ChunkData(left),
                    };
                    if take == 0 {
                        return Ok((used, None));
                    }
                }
                State::UntilClose => {
                    self.take_body(rest);
                    return Ok((bytes.len(), None));
                }
                State::ChunkSize | State::ChunkEnd | State::Trailers => {
                    let Some(i) = rest.iter().position(|&b| b == b'\n') else {
                        if rest.len() > MAX_RESPONSE_HEAD {
                            return Err(malformed("chunk line too long"));
                        }
                        return Ok((used, None));
                    };
                    let line = &rest[..i];
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    used += i + 1;
                    match self.state {
                        State::ChunkSize => {
                            let size = chunk_size(line)?;
                            if size == 0 {
                                self.state = State::Trailers;
                            } else {
                                let summary = &mut self.response_mut().summary;
                                summary.body_len = summary
                                    .body_len
                                    .checked_add(size)
                                    .ok_or_else(|| malformed("chunked body overflows"))?;
                                self.state = State::ChunkData(size);
                            }
                        }
                        State::ChunkEnd if line.is_empty() => self.state = State::ChunkSize,
                        State::ChunkEnd => return Err(malformed("chunk data overruns its size")),
                        _ if line.is_empty() => return Ok((used, self.finish())),
                        _ => {}
                    }
                }
            }
        }
    }

    /// The stream ended: a body that runs to the close ends here; anything
    /// else begun, or nothing begun, means no complete response.
    pub fn end_of_stream(&mut self) -> Result<Response, ResponseError> {
        if self.state == State::UntilClose {
            return self.finish().ok_or(ResponseError::Closed);
        }
        self.state = State::Head;
        self.response = None;
        Err(ResponseError::Closed)
    }

    fn response_mut(&mut self) -> &mut Response {
        self.response
            .as_mut()
            .expect("a body is read only after its head")
    }

    fn take_body(&mut self, bytes: &[u8]) {
        // Chunked bodies are counted at their size lines, the others as they pass.
        let counted = matches!(self.state, State::ChunkData(_));
        let keep = self.keep;
        let response = self.response_mut();
        if keep {
            response.body.extend_from_slice(bytes);
        }
        if !counted {
            response.summary.body_len += bytes.len() as u64;
        }
    }

    fn finish(&mut self) -> Option<Response> {
        self.state = State::Head;
        self.response.take()
    }
}

/// A buffered reader over one blocking connection, built on
/// [`ResponseParser`]; bytes after a response (the next pipelined one) stay
/// buffered.
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
        let mut parser = ResponseParser::new(keep);
        loop {
            let (used, done) = parser.advance(method, &self.buf[self.start..self.end])?;
            self.start += used;
            if let Some(response) = done {
                return Ok(response);
            }
            if self.fill()? == 0 {
                return parser.end_of_stream();
            }
        }
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

    /// Fed one byte at a time, as a non-blocking socket may deliver them,
    /// the parser finds the same responses as the blocking reader.
    #[test]
    fn fed_a_byte_at_a_time_it_reads_the_same() {
        let bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello\
HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nT: 1\r\n\r\n\
HTTP/1.1 204 No Content\r\n\r\n\
HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\nrest of it";
        let mut parser = ResponseParser::new(true);
        let mut pending = Vec::new();
        let mut got = Vec::new();
        for &b in bytes {
            pending.push(b);
            loop {
                let (used, done) = parser.advance("GET", &pending).unwrap();
                pending.drain(..used);
                match done {
                    Some(response) => got.push(response),
                    None => break,
                }
            }
        }
        assert!(!parser.is_idle(), "the last body runs to the close");
        got.push(parser.end_of_stream().unwrap());
        let bodies: Vec<&[u8]> = got.iter().map(|r| &r.body[..]).collect();
        assert_eq!(bodies, [&b"hello"[..], b"abcde", b"", b"rest of it"]);
        let lens: Vec<u64> = got.iter().map(|r| r.summary.body_len).collect();
        assert_eq!(lens, [5, 5, 0, 10]);
        assert!(parser.is_idle());
        assert!(matches!(parser.end_of_stream(), Err(ResponseError::Closed)));
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

    /// Interim responses are skipped, whole or fed a byte at a time: the
    /// final response is the answer.
    #[test]
    fn interim_responses_come_before_the_answer() {
        let bytes = b"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n\
HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok\
HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        let got = read_all(bytes, "GET");
        let statuses: Vec<u16> = got.iter().map(|r| r.as_ref().unwrap().status).collect();
        assert_eq!(statuses, [200, 404]);
        assert_eq!(got[0].as_ref().unwrap().body_len, 2);
        let mut parser = ResponseParser::new(false);
        let mut pending = Vec::new();
        let mut finals = Vec::new();
        for &b in &bytes[..] {
            pending.push(b);
            let (used, done) = parser.advance("GET", &pending).unwrap();
            pending.drain(..used);
            finals.extend(done.map(|r| r.summary.status));
        }
        assert_eq!(finals, [200, 404]);
    }

    #[test]
    fn no_body_after_head_1xx_204_and_304() {
        let bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n";
        assert_eq!(read_all(bytes, "HEAD").len(), 2);
        for status in [
            "101 Switching Protocols",
            "204 No Content",
            "304 Not Modified",
        ] {
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

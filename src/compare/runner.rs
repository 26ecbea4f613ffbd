//! Sends one case to one server exactly as its plan says — segments, pauses,
//! an optional half-close — and records the [`Outcome`]: the responses that
//! came back, then how the connection ended, and the time to the first byte.
//!
//! Every wait is bounded: reading stops when the server closes or resets, or
//! when nothing has arrived for a quiet period after the last write.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::case::Case;
use crate::client::ResponseReader;
use crate::introspection::ParsedRequest;

/// After bytes have arrived, how long a silence ends the reading. Longer than
/// any local server takes to send the rest of a response, far shorter than
/// any keep-alive timeout, so an open connection is reported as open.
const QUIET: Duration = Duration::from_millis(300);
/// The most of the received bytes kept for the report.
const KEEP_BYTES: usize = 16 * 1024;
/// Response fields the report shows; the rest (Date, ETag, ...) do not
/// decide what a case teaches.
const SHOWN_FIELDS: &[&str] = &[
    "content-type",
    "content-length",
    "transfer-encoding",
    "connection",
    "location",
    "allow",
];

/// How the connection ended, as the client saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum End {
    /// Still open after the responses (the server waits for more).
    Open,
    /// The server closed it (FIN).
    Closed,
    /// The server reset it (RST).
    Reset,
    /// No response at all, and still open when the wait ran out.
    Timeout,
    /// There was no connection: nothing listened (a server that died), or
    /// the case could not be sent. Never conforms, whatever a pattern says.
    Refused,
}

impl End {
    /// Every end, in the order a pattern names them.
    pub const ALL: [End; 5] = [
        End::Open,
        End::Closed,
        End::Reset,
        End::Timeout,
        End::Refused,
    ];

    /// The end a pattern or a signature names, e.g. `closed`.
    pub fn from_name(name: &str) -> Option<End> {
        End::ALL.into_iter().find(|end| end.name() == name)
    }

    pub fn name(self) -> &'static str {
        match self {
            End::Open => "open",
            End::Closed => "closed",
            End::Reset => "reset",
            End::Timeout => "timeout",
            End::Refused => "refused",
        }
    }
}

/// How a server was seen to die on a case's bytes. A crash never conforms:
/// the signature (`- closed`) cannot tell a dead handler from a deliberate
/// close, so it is established apart from the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Crash {
    /// The handler of this connection died; the server still accepts.
    Handler,
    /// The server stopped answering: it died, or its one thread did.
    Server,
}

impl Crash {
    pub fn name(self) -> &'static str {
        match self {
            Crash::Handler => "handler",
            Crash::Server => "server",
        }
    }
}

/// One response as received. Fields in alphabetical order: the order of
/// its keys in compare's JSON schema.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ObservedResponse {
    /// FNV-1a 64 of the body, enough to tell two bodies apart in a report.
    pub body_digest: String,
    pub body_len: usize,
    /// The fields in `SHOWN_FIELDS`, names lowercased, in the order received.
    pub fields: Vec<(String, String)>,
    /// The body holds the secret placed outside the root or a well-known
    /// system file (see [`leaks`]).
    pub leaked: bool,
    pub status: u16,
}

/// Everything a client observed for one case on one server.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub responses: Vec<ObservedResponse>,
    pub end: End,
    /// Milliseconds from the first write to the first byte back.
    pub first_byte_ms: Option<f64>,
    /// The bytes received (the first 16 KiB).
    pub received: Vec<u8>,
    /// Bytes after the last complete response that do not form one.
    pub trailing_bytes: usize,
    /// What went wrong on our side (connect or write failures), if anything.
    pub note: Option<String>,
    /// The client's end of the connection (the peer address the server
    /// saw), to ask a server's records what became of it; `None` if refused.
    pub local_addr: Option<SocketAddr>,
    /// Set after the run when the server was seen to die on these bytes.
    pub crash: Option<Crash>,
}

impl Outcome {
    /// The pinned form: statuses in order (`-` for none), then the end.
    pub fn signature(&self) -> String {
        let mut parts: Vec<String> = self
            .responses
            .iter()
            .map(|r| r.status.to_string())
            .collect();
        if parts.is_empty() {
            parts.push("-".into());
        }
        parts.push(self.end.name().into());
        parts.join(" ")
    }

    pub fn leaked(&self) -> bool {
        self.responses.iter().any(|r| r.leaked)
    }

    /// No exchange took place: the server answered nothing because it was
    /// never reached.
    pub fn refused(note: String) -> Outcome {
        Outcome {
            responses: Vec::new(),
            end: End::Refused,
            first_byte_ms: None,
            received: Vec::new(),
            trailing_bytes: 0,
            note: Some(note),
            local_addr: None,
            crash: None,
        }
    }
}

/// Runs `case` against `addr`; `secret` is what must never come back.
pub fn run_case(addr: SocketAddr, case: &Case, secret: &[u8]) -> Outcome {
    let segments = match case.segments() {
        Ok(segments) => segments,
        Err(e) => return Outcome::refused(e.to_string()),
    };
    let stream = match TcpStream::connect_timeout(&addr, Duration::from_secs(2)) {
        Ok(stream) => stream,
        Err(e) => return Outcome::refused(format!("connect: {e}")),
    };
    let local_addr = stream.local_addr().ok();
    let writer = match stream.try_clone() {
        Ok(writer) => writer,
        Err(e) => return Outcome::refused(format!("socket: {e}")),
    };
    // Segment boundaries are part of some plans: send each at once.
    let _ = stream.set_nodelay(true);
    let pause = Duration::from_millis(case.pause_ms);
    let started = Instant::now();

    std::thread::scope(|scope| {
        let sender = scope.spawn(move || send_plan(writer, &segments, pause, case.half_close));
        let (bytes, end, first_byte) = read_until_quiet(&stream, &sender, case.wait(), started);
        let note = sender.join().ok().flatten();
        let methods: Vec<&str> = case.methods.iter().map(String::as_str).collect();
        let (responses, trailing_bytes) = parse_responses(&bytes, &methods, secret);
        let end = if responses.is_empty() && end == End::Open {
            End::Timeout
        } else {
            end
        };
        let mut received = bytes;
        received.truncate(KEEP_BYTES);
        Outcome {
            responses,
            end,
            first_byte_ms: first_byte.map(|d| (d.as_secs_f64() * 1000.0 * 10.0).round() / 10.0),
            received,
            trailing_bytes,
            note,
            local_addr,
            crash: None,
        }
    })
}

/// The request every column is probed with, before the run and after each
/// theme, and after an outcome with no answer: what any server answers.
pub const BASELINE_REQUEST: &[u8] = b"GET /HelloWorld.html HTTP/1.1\r\nHost: localhost\r\n\r\n";

/// Whether the server at `addr` still answers [`BASELINE_REQUEST`] with a
/// whole response within `timeout` (connecting included). The response is
/// read to its end: a server that writes to a client already gone may die
/// of it (the textbook server does), and a probe must not be what kills it.
pub fn answers(addr: SocketAddr, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, timeout) else {
        return false;
    };
    if stream.write_all(BASELINE_REQUEST).is_err() {
        return false;
    }
    ResponseReader::new(Deadline { stream, deadline })
        .read_response("GET")
        .is_ok()
}

/// A stream whose reads all end by one deadline.
struct Deadline {
    stream: TcpStream,
    deadline: Instant,
}

impl Read for Deadline {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        // A zero read timeout would mean "block forever".
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(left))?;
        self.stream.read(buf)
    }
}

/// Writes the segments with their pauses; a failed write is the server's
/// doing (it closed or reset early), reported, never fatal.
fn send_plan(
    mut writer: TcpStream,
    segments: &[Vec<u8>],
    pause: Duration,
    half_close: bool,
) -> Option<String> {
    for (i, segment) in segments.iter().enumerate() {
        if i > 0 && !pause.is_zero() {
            std::thread::sleep(pause);
        }
        if let Err(e) = writer.write_all(segment) {
            return Some(format!("write {} of {} failed: {e}", i + 1, segments.len()));
        }
    }
    if half_close {
        let _ = writer.shutdown(Shutdown::Write);
    }
    None
}

/// Reads until the server closes or resets, or until it has been silent for
/// [`QUIET`] after answering (or for `wait` after the last write, with no answer).
fn read_until_quiet(
    stream: &TcpStream,
    sender: &std::thread::ScopedJoinHandle<'_, Option<String>>,
    wait: Duration,
    started: Instant,
) -> (Vec<u8>, End, Option<Duration>) {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let mut first_byte = None;
    let mut last_activity = Instant::now();
    let mut send_done_at: Option<Instant> = None;
    loop {
        if send_done_at.is_none() && sender.is_finished() {
            send_done_at = Some(Instant::now());
            last_activity = last_activity.max(Instant::now());
        }
        let allowed = if bytes.is_empty() { wait } else { QUIET };
        if let Some(done) = send_done_at {
            let since = last_activity.max(done);
            if since.elapsed() >= allowed {
                return (bytes, End::Open, first_byte);
            }
        }
        let _ = stream.set_read_timeout(Some(Duration::from_millis(25)));
        match (&mut &*stream).read(&mut chunk) {
            Ok(0) => return (bytes, End::Closed, first_byte),
            Ok(n) => {
                first_byte.get_or_insert_with(|| started.elapsed());
                bytes.extend_from_slice(&chunk[..n]);
                last_activity = Instant::now();
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                return (bytes, End::Reset, first_byte);
            }
            Err(_) => return (bytes, End::Closed, first_byte),
        }
    }
}

/// Splits received bytes into responses with the client's reader;
/// `methods[i]` is the method of the i-th request (HEAD responses have no
/// body). Returns the responses and the number of bytes left over that do not
/// make a whole response.
pub fn parse_responses(
    bytes: &[u8],
    methods: &[&str],
    secret: &[u8],
) -> (Vec<ObservedResponse>, usize) {
    let mut reader = ResponseReader::new(bytes);
    let mut responses = Vec::new();
    loop {
        let used = reader.position() as usize;
        let method = methods.get(responses.len()).copied().unwrap_or("GET");
        let Ok(response) = reader.read_message(method) else {
            return (responses, bytes.len() - used);
        };
        let shown = response
            .fields
            .iter()
            .filter(|(name, _)| SHOWN_FIELDS.iter().any(|s| name.eq_ignore_ascii_case(s)))
            .map(|(name, value)| {
                (
                    name.to_ascii_lowercase(),
                    String::from_utf8_lossy(value).into_owned(),
                )
            })
            .collect();
        let body = &response.body;
        let leaked = leaks(body, secret);
        responses.push(ObservedResponse {
            status: response.summary.status,
            fields: shown,
            body_len: body.len(),
            body_digest: format!("{:016x}", fnv1a(body)),
            leaked,
        });
    }
}

/// Whether `body` holds something no static server should ever send: the
/// `secret` placed beside the root, or a well-known system file — a line in
/// `/etc/passwd`'s format for root (`root:x:0:0:`, `root:*:0:0:`, any
/// password field), which a traversal to `/etc/passwd` brings back on any
/// Unix machine, whatever the root's depth.
pub fn leaks(body: &[u8], secret: &[u8]) -> bool {
    let holds_secret = !secret.is_empty() && body.windows(secret.len()).any(|w| w == secret);
    holds_secret || body.split(|&b| b == b'\n').any(is_passwd_root_line)
}

/// `root:<password field>:0:0:` at the start of a line.
fn is_passwd_root_line(line: &[u8]) -> bool {
    let Some(rest) = line.strip_prefix(b"root:") else {
        return false;
    };
    match rest.iter().position(|&b| b == b':') {
        Some(end) => rest[end + 1..].starts_with(b"0:0:"),
        None => false,
    }
}

/// Every request an introspecting backend described in `bytes`, in order.
/// Each response is read as if it answered a GET (an introspection answer
/// carries its body even for HEAD); a body that is not a description — the
/// page of a rejection — is no request taken, and is skipped.
pub fn parsed_requests(bytes: &[u8]) -> Vec<ParsedRequest> {
    let mut reader = ResponseReader::new(bytes);
    std::iter::from_fn(|| reader.read_message("GET").ok())
        .filter_map(|response| serde_json::from_slice(&response.body).ok())
        .collect()
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_responses_and_spots_the_secret() {
        let bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nDate: x\r\n\r\nSECRET\
HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nHTTP/1.1 2";
        let (responses, trailing) = parse_responses(bytes, &[], b"SECRET");
        assert_eq!(responses.len(), 2);
        assert!(responses[0].leaked && !responses[1].leaked);
        assert_eq!(
            responses[0].fields,
            vec![("content-length".into(), "6".into())]
        );
        assert_eq!(responses[1].body_len, 3);
        assert_eq!(trailing, 10);
    }

    #[test]
    fn spots_the_password_file() {
        for body in [
            &b"root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/:/bin/false\n"[..],
            b"# comment\nroot:*:0:0:System Administrator:/var/root:/bin/sh\n",
            b"nobody:x:65534:65534::/:/bin/false\nroot::0:0::/root:/bin/sh",
            b"\r\nroot:!:0:0:\r\n",
        ] {
            assert!(leaks(body, b""), "{}", body.escape_ascii());
            assert!(leaks(body, b"SECRET"), "{}", body.escape_ascii());
        }
        for body in [
            &b""[..],
            b"<p>root: the top of the tree</p>",
            b"chroot:x:0:0:",
            b"root:x:1000:1000:not root\n",
            b"user:x:0:0:root:x:0:0",
            b"root:x:0:",
        ] {
            assert!(!leaks(body, b"SECRET"), "{}", body.escape_ascii());
        }
        assert!(leaks(b"..SECRET..", b"SECRET"));
        assert!(!leaks(b"..SECRE..", b"SECRET"));
    }

    #[test]
    fn every_parse_is_kept_and_a_rejection_page_is_not_one() {
        let parse = |target: &str| {
            format!(
                r#"{{"backend":"raw","body":"none","headers":[],"method":"GET","target":"{target}","version":"HTTP/1.1"}}"#
            )
        };
        let answer = |body: &str| {
            format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
        };
        let bytes = [
            answer(&parse("/a")),
            answer(&parse("/b")),
            answer("<h1>400 Bad Request</h1>"),
        ]
        .concat();
        let targets: Vec<String> = parsed_requests(bytes.as_bytes())
            .into_iter()
            .map(|p| p.target)
            .collect();
        assert_eq!(targets, ["/a", "/b"]);
        assert!(parsed_requests(b"HTTP/1.1 200 OK\r\nContent-Le").is_empty());
    }

    #[test]
    fn the_probe_wants_a_whole_answer_in_time() {
        use std::net::TcpListener;
        let answering = TcpListener::bind("127.0.0.1:0").unwrap();
        let silent = TcpListener::bind("127.0.0.1:0").unwrap();
        let (a, s) = (
            answering.local_addr().unwrap(),
            silent.local_addr().unwrap(),
        );
        let server = std::thread::spawn(move || {
            let (mut stream, _) = answering.accept().unwrap();
            let mut head = [0u8; BASELINE_REQUEST.len()];
            stream.read_exact(&mut head).unwrap();
            stream
                .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
                .unwrap();
            head
        });
        assert!(answers(a, Duration::from_secs(2)));
        assert_eq!(server.join().unwrap(), BASELINE_REQUEST);
        // Accepted by the kernel, never answered: not reachable, and in time.
        let started = Instant::now();
        assert!(!answers(s, Duration::from_millis(200)));
        assert!(started.elapsed() < Duration::from_secs(2));
        drop(silent);
        assert!(!answers(s, Duration::from_millis(200)), "nothing listening");
    }

    #[test]
    fn head_responses_have_no_body() {
        let bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        let (responses, _) = parse_responses(bytes, &["HEAD", "GET"], b"");
        let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
        assert_eq!(statuses, [200, 404]);
    }
}

//! Sends one case to one server exactly as its plan says — segments, pauses,
//! an optional half-close — and records the [`Outcome`]: the responses that
//! came back, then how the connection ended, and the time to the first byte.
//!
//! Every wait is bounded: reading stops when the server closes or resets,
//! when nothing has arrived for a quiet period after the last write, and at
//! the latest after a hard bound on time and on bytes, so that a server that
//! never stops sending can neither hang compare nor fill its memory.

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
/// The most bytes read from one case's connection: far more than any answer
/// to the corpus (the site's files are small), small enough to hold in memory.
const MAX_BYTES: usize = 1024 * 1024;
/// How long reading may go on past the case's wait, however the server
/// trickles bytes: the quiet timer restarts on every byte, this bound does not.
const OVERRUN: Duration = Duration::from_secs(5);
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
    /// The bytes received: the first 16 KiB, or up to the end of the leaked
    /// bytes if the secret came back later, so that [`Outcome::leaked`] and
    /// the report see it.
    pub received: Vec<u8>,
    /// Bytes after the last complete response that do not form one.
    pub trailing_bytes: usize,
    /// What went wrong on our side (connect or write failures), or that the
    /// server kept sending past the bounds, if anything.
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

    /// Whether the secret or a system file came back: in a parsed body, or
    /// anywhere in the bytes received — a server that forgets the status
    /// line and sends the file raw has leaked it all the same.
    pub fn leaked(&self) -> bool {
        self.responses.iter().any(|r| r.leaked) || leaks(&self.received, super::SECRET)
    }

    /// No exchange took place: the server answered nothing because it was
    /// never reached.
    pub fn refused(note: String) -> Outcome {
        Outcome {
            note: Some(note),
            ..Outcome::of_statuses(&[], End::Refused)
        }
    }

    /// The outcome a signature names: responses with these statuses (no
    /// fields, empty bodies, nothing leaked), then `end`. What a pin or a
    /// pattern can say about an exchange, and nothing more.
    pub fn of_statuses(statuses: &[u16], end: End) -> Outcome {
        Outcome {
            responses: statuses
                .iter()
                .map(|&status| ObservedResponse {
                    body_digest: String::new(),
                    body_len: 0,
                    fields: Vec::new(),
                    leaked: false,
                    status,
                })
                .collect(),
            end,
            first_byte_ms: None,
            received: Vec::new(),
            trailing_bytes: 0,
            note: None,
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
    // The plan's own pauses, then the case's wait, then the overrun: past
    // this, reading stops whatever the server still sends.
    let pauses = pause * u32::try_from(segments.len().saturating_sub(1)).unwrap_or(u32::MAX);
    let deadline = started + pauses + case.wait() + OVERRUN;

    std::thread::scope(|scope| {
        let sender = scope.spawn(move || send_plan(writer, &segments, pause, case.half_close));
        let read = read_until_quiet(&stream, &sender, case.wait(), started, deadline);
        if read.overran.is_some() {
            // Ends a write the server's flood keeps from finishing, so the
            // sender can be joined; the connection is given up anyway.
            let _ = stream.shutdown(Shutdown::Both);
        }
        let sent_note = sender.join().ok().flatten();
        let note = match (read.overran, sent_note) {
            (Some(overran), Some(sent)) => Some(format!("{overran}; {sent}")),
            (overran, sent) => overran.or(sent),
        };
        let methods: Vec<&str> = case.methods.iter().map(String::as_str).collect();
        let bytes = read.bytes;
        let (responses, trailing_bytes) = parse_responses(&bytes, &methods, secret);
        let end = if responses.is_empty() && read.end == End::Open {
            End::Timeout
        } else {
            read.end
        };
        // The whole stream is searched before it is cut, trailing bytes
        // included: a leak past the first 16 KiB is kept up to its end.
        let keep = leak_end(&bytes, secret).map_or(KEEP_BYTES, |end| end.max(KEEP_BYTES));
        let mut received = bytes;
        received.truncate(keep);
        Outcome {
            responses,
            end,
            first_byte_ms: read
                .first_byte
                .map(|d| (d.as_secs_f64() * 1000.0 * 10.0).round() / 10.0),
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

/// Whether the server at `addr` still answers [`BASELINE_REQUEST`] within
/// `timeout` (connecting included): any byte of an answer counts, framed or
/// not, with the connection left open or not — the question is whether it is
/// alive, not whether it is right. Once an answer has begun, the rest is read
/// until it is whole, the server closes, it falls quiet for [`QUIET`] or the
/// timeout ends, and only then is the connection closed: a server that
/// writes to a client already gone may die of it (the textbook server does),
/// and a probe must not be what kills it.
pub fn answers(addr: SocketAddr, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, timeout) else {
        return false;
    };
    if stream.write_all(BASELINE_REQUEST).is_err() {
        return false;
    }
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    let mut last = Instant::now();
    loop {
        let now = Instant::now();
        if now >= deadline || (!bytes.is_empty() && now - last >= QUIET) {
            break;
        }
        let _ = stream.set_read_timeout(Some(Duration::from_millis(25)));
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => {
                // Bounded like a case's read: a flood is alive, and read no further.
                if bytes.len() + n > MAX_BYTES {
                    return true;
                }
                bytes.extend_from_slice(&chunk[..n]);
                last = Instant::now();
                if framed_and_whole(&bytes) {
                    break;
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(_) => break,
        }
    }
    !bytes.is_empty()
}

/// Whether `bytes` begin with a whole response whose end its framing gives.
/// Parsed from a slice, a body delimited by the close would end with the
/// slice: such a response is whole only when the server closes, and a probe
/// that left before would make the server write to a client already gone.
fn framed_and_whole(bytes: &[u8]) -> bool {
    ResponseReader::new(bytes)
        .read_message("GET")
        .is_ok_and(|response| {
            response.fields.iter().any(|(name, _)| {
                name.eq_ignore_ascii_case("content-length")
                    || name.eq_ignore_ascii_case("transfer-encoding")
            })
        })
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

/// What [`read_until_quiet`] got.
struct Reading {
    bytes: Vec<u8>,
    end: End,
    first_byte: Option<Duration>,
    /// Why reading was cut short while the server was still sending.
    overran: Option<String>,
}

/// Reads until the server closes or resets, or until it has been silent for
/// [`QUIET`] after answering (or for `wait` after the last write, with no
/// answer) — and at the latest at `deadline` or after [`MAX_BYTES`], which a
/// server that keeps sending reaches: the quiet timer alone would restart
/// on each of its bytes forever.
fn read_until_quiet(
    stream: &TcpStream,
    sender: &std::thread::ScopedJoinHandle<'_, Option<String>>,
    wait: Duration,
    started: Instant,
    deadline: Instant,
) -> Reading {
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let mut first_byte = None;
    let mut last_activity = Instant::now();
    let mut send_done_at: Option<Instant> = None;
    let done = |bytes, end, first_byte, overran| Reading {
        bytes,
        end,
        first_byte,
        overran,
    };
    loop {
        if send_done_at.is_none() && sender.is_finished() {
            send_done_at = Some(Instant::now());
            last_activity = last_activity.max(Instant::now());
        }
        let allowed = if bytes.is_empty() { wait } else { QUIET };
        if let Some(done_at) = send_done_at {
            let since = last_activity.max(done_at);
            if since.elapsed() >= allowed {
                return done(bytes, End::Open, first_byte, None);
            }
        }
        if Instant::now() >= deadline {
            let overran = (!bytes.is_empty()).then(|| {
                format!(
                    "kept sending for {} s: reading stopped after {} bytes",
                    started.elapsed().as_secs(),
                    bytes.len()
                )
            });
            return done(bytes, End::Open, first_byte, overran);
        }
        let _ = stream.set_read_timeout(Some(Duration::from_millis(25)));
        let room = MAX_BYTES - bytes.len();
        let want = chunk.len().min(room);
        match (&mut &*stream).read(&mut chunk[..want]) {
            Ok(0) => return done(bytes, End::Closed, first_byte, None),
            Ok(n) => {
                first_byte.get_or_insert_with(|| started.elapsed());
                bytes.extend_from_slice(&chunk[..n]);
                last_activity = Instant::now();
                if bytes.len() >= MAX_BYTES {
                    let overran = format!("kept sending past {MAX_BYTES} bytes: reading stopped");
                    return done(bytes, End::Open, first_byte, Some(overran));
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {
                return done(bytes, End::Reset, first_byte, None);
            }
            Err(_) => return done(bytes, End::Closed, first_byte, None),
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
    leak_end(body, secret).is_some()
}

/// Where the first leak [`leaks`] looks for ends in `bytes`, if there is one.
fn leak_end(bytes: &[u8], secret: &[u8]) -> Option<usize> {
    let secret_end = (!secret.is_empty())
        .then(|| bytes.windows(secret.len()).position(|w| w == secret))
        .flatten()
        .map(|at| at + secret.len());
    let mut start = 0;
    let passwd_end = bytes.split(|&b| b == b'\n').find_map(|line| {
        let end = start + line.len();
        start = end + 1;
        is_passwd_root_line(line).then_some(end)
    });
    match (secret_end, passwd_end) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
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

    /// An answer without framing on a connection left open is an answer:
    /// the server is alive. The probe reads it and closes with a FIN, never
    /// a reset, so a fragile server is not killed by being asked.
    #[test]
    fn the_probe_counts_an_unframed_answer_and_closes_cleanly() {
        use std::net::TcpListener;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut stream, _) = listener.accept().unwrap();
            let mut head = [0u8; BASELINE_REQUEST.len()];
            stream.read_exact(&mut head).unwrap();
            // The body after a pause, as a server writing a file does: a
            // probe that left at the head would be reset by this write.
            stream.write_all(b"HTTP/1.1 200 OK\r\n\r\n").unwrap();
            std::thread::sleep(Duration::from_millis(100));
            stream.write_all(b"hello").unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            // What the client's close looks like from here.
            stream.read(&mut [0u8; 16]).map_err(|e| e.kind())
        });
        let started = Instant::now();
        assert!(answers(addr, Duration::from_secs(2)));
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "quiet, not the timeout"
        );
        assert_eq!(server.join().unwrap(), Ok(0), "a clean close");
    }

    #[test]
    fn a_leak_past_the_parsed_responses_is_found_and_kept() {
        let mut bytes = vec![b'.'; KEEP_BYTES + 100];
        bytes.extend_from_slice(b"SECRET and more");
        assert_eq!(leak_end(&bytes, b"SECRET"), Some(KEEP_BYTES + 106));
        assert_eq!(leak_end(b"x\nroot:x:0:0:r\nz", b""), Some(14));
        assert_eq!(leak_end(b"nothing", b"SECRET"), None);
    }

    #[test]
    fn head_responses_have_no_body() {
        let bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
        let (responses, _) = parse_responses(bytes, &["HEAD", "GET"], b"");
        let statuses: Vec<u16> = responses.iter().map(|r| r.status).collect();
        assert_eq!(statuses, [200, 404]);
    }
}

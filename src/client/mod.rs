//! The threaded client: std threads and blocking sockets that send real
//! requests to a server and measure what comes back. It knows only addresses —
//! whoever wants a backend started (`main`, `compare`, the tests) starts it
//! through `crate::spawn` and hands the address over. [`command`] is the
//! `twinserve client` subcommand's output around a run.
//!
//! Every run is bounded: `threads × requests` attempts at most, optionally cut
//! short by a duration, each with a timeout. It goes to whatever host its user
//! names; only the project's tests and benchmarks keep to loopback.

pub mod command;
mod response;
mod target;

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

pub(crate) use command::progress_bar;
pub use response::{Response, ResponseError, ResponseParser, ResponseReader, ResponseSummary};
pub use target::{Target, connect_any, parse_duration, resolve, resolve_all, show_duration};

/// What to load and how hard.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub addr: SocketAddr,
    /// The `Host` field sent; `None` sends `addr`.
    pub host: Option<String>,
    /// Request path, with or without its leading `/`.
    pub path: String,
    pub threads: usize,
    /// Requests per thread.
    pub requests: usize,
    /// Reuse one connection per thread instead of one per request.
    pub keep_alive: bool,
    /// Limit on connecting, and on each read and write.
    pub timeout: Duration,
    /// Stop starting new requests after this long.
    pub duration: Option<Duration>,
}

impl ClientConfig {
    /// The original exercise's run: 10 threads, one request each.
    pub fn new(addr: SocketAddr, path: impl Into<String>) -> ClientConfig {
        ClientConfig {
            addr,
            host: None,
            path: path.into(),
            threads: 10,
            requests: 1,
            keep_alive: false,
            timeout: Duration::from_secs(5),
            duration: None,
        }
    }
}

/// Why a request got no response, as the summary groups them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FailureKind {
    Refused,
    Reset,
    TimedOut,
    /// The server closed the connection before a complete response.
    Closed,
    BadResponse,
    Other,
}

impl FailureKind {
    pub fn name(self) -> &'static str {
        match self {
            FailureKind::Refused => "refused",
            FailureKind::Reset => "reset",
            FailureKind::TimedOut => "timed out",
            FailureKind::Closed => "closed",
            FailureKind::BadResponse => "bad response",
            FailureKind::Other => "other",
        }
    }

    fn of_io(e: &io::Error) -> FailureKind {
        use io::ErrorKind as K;
        match e.kind() {
            K::ConnectionRefused => FailureKind::Refused,
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => FailureKind::Reset,
            K::TimedOut | K::WouldBlock => FailureKind::TimedOut,
            K::UnexpectedEof => FailureKind::Closed,
            _ => FailureKind::Other,
        }
    }

    fn of_response(e: &ResponseError) -> FailureKind {
        match e {
            ResponseError::Closed => FailureKind::Closed,
            ResponseError::Malformed(_) => FailureKind::BadResponse,
            ResponseError::Io(e) => FailureKind::of_io(e),
        }
    }
}

/// One attempt: a response, or why there was none, and how long it took.
#[derive(Debug)]
pub struct Attempt {
    pub result: Result<ResponseSummary, (FailureKind, String)>,
    pub latency: Duration,
}

/// Everything a run measured.
#[derive(Debug)]
pub struct Report {
    pub attempts: u64,
    pub responses: u64,
    pub statuses: BTreeMap<u16, u64>,
    pub failures: BTreeMap<FailureKind, u64>,
    pub body_bytes: u64,
    pub elapsed: Duration,
    /// Latency of answered requests, in microseconds.
    pub latency: Histogram<u64>,
}

impl Report {
    pub fn all_answered(&self) -> bool {
        self.attempts > 0 && self.responses == self.attempts
    }

    fn percentile_ms(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }

    /// The same figures as [`Report::summary`], as JSON: counts, statuses,
    /// failures by kind, throughput and latency percentiles in milliseconds.
    pub fn to_json(&self) -> String {
        let secs = self.elapsed.as_secs_f64();
        let answered = self.responses > 0;
        let ms = |q: f64| answered.then(|| self.percentile_ms(q));
        serde_json::json!({
            "requests": self.attempts,
            "responses": self.responses,
            "statuses": self.statuses.iter().map(|(s, n)| (s.to_string(), *n)).collect::<BTreeMap<_, _>>(),
            "failures": self.failures.iter().map(|(k, n)| (k.name(), *n)).collect::<BTreeMap<_, _>>(),
            "body_bytes": self.body_bytes,
            "elapsed_s": secs,
            "requests_per_s": self.responses as f64 / secs.max(1e-9),
            "latency_ms": {
                "p50": ms(0.5),
                "p90": ms(0.9),
                "p99": ms(0.99),
                "max": answered.then(|| self.latency.max() as f64 / 1000.0),
            },
        })
        .to_string()
    }

    /// The one-line summary printed after every run.
    pub fn summary(&self) -> String {
        let secs = self.elapsed.as_secs_f64();
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(status, n)| format!("{status} ×{n}"))
            .collect();
        let failed = self.attempts - self.responses;
        let kinds: Vec<String> = self
            .failures
            .iter()
            .map(|(kind, n)| format!("{} {n}", kind.name()))
            .collect();
        let mut line = format!(
            "{} requests in {secs:.2} s: {} responses ({}), {failed} failures",
            self.attempts,
            self.responses,
            if statuses.is_empty() {
                "none".to_string()
            } else {
                statuses.join(", ")
            },
        );
        if !kinds.is_empty() {
            line.push_str(&format!(" ({})", kinds.join(", ")));
        }
        if self.responses > 0 {
            line.push_str(&format!(
                "; {:.0} req/s, latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                self.responses as f64 / secs.max(1e-9),
                self.percentile_ms(0.5),
                self.percentile_ms(0.99),
                self.latency.max() as f64 / 1000.0,
            ));
        }
        line
    }
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// `cause` is text, not a source, so a chain printer shows it once.
    #[error("cannot resolve {host}: {cause}")]
    Resolve { host: String, cause: String },
    #[error("cannot connect to {target}: {cause}")]
    Unreachable { target: String, cause: String },
    #[error("cannot start client threads: {0}")]
    Threads(io::Error),
}

/// Bytes escaped in the request path: what may not appear raw in a target.
const PATH_ESCAPES: &AsciiSet = &CONTROLS.add(b' ').add(b'"').add(b'#').add(b'<').add(b'>');

/// The request each thread sends.
pub fn request_bytes(config: &ClientConfig) -> Vec<u8> {
    let path = config.path.trim_start_matches('/');
    let mut request = format!(
        "GET /{} HTTP/1.1\r\nHost: {}\r\nUser-Agent: twinserve/{}\r\n",
        utf8_percent_encode(path, PATH_ESCAPES),
        config
            .host
            .clone()
            .unwrap_or_else(|| config.addr.to_string()),
        env!("CARGO_PKG_VERSION"),
    );
    if !config.keep_alive {
        request.push_str("Connection: close\r\n");
    }
    request.push_str("\r\n");
    request.into_bytes()
}

/// Runs the load: `threads` threads released together, each sending its
/// requests one after another. `on_attempt` sees every attempt as it ends.
pub fn run(
    config: &ClientConfig,
    on_attempt: &(dyn Fn(&Attempt) + Sync),
) -> Result<Report, ClientError> {
    let threads = config.threads.max(1);
    let request = request_bytes(config);
    // Threads wait at this gate until all are spawned, so their first
    // requests leave together ("10 requests at once"). A gate, not a Barrier:
    // if a spawn fails, the threads already waiting must still be released.
    let gate = RwLock::new(());
    let aborted = AtomicBool::new(false);
    let report = Mutex::new(Report::empty());
    let started = Instant::now();
    let spawned = std::thread::scope(|scope| {
        let closed = gate.write().unwrap_or_else(PoisonError::into_inner);
        for id in 0..threads {
            let (gate, aborted, report, request) = (&gate, &aborted, &report, &request);
            let spawned = std::thread::Builder::new()
                .name(format!("twinserve-client-{id}"))
                .spawn_scoped(scope, move || {
                    drop(gate.read().unwrap_or_else(PoisonError::into_inner));
                    if aborted.load(Ordering::SeqCst) {
                        return;
                    }
                    let local = load(config, request, on_attempt, started);
                    report
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .merge(local);
                });
            if let Err(e) = spawned {
                aborted.store(true, Ordering::SeqCst);
                return Err(e);
            }
        }
        drop(closed);
        Ok(())
    });
    spawned.map_err(ClientError::Threads)?;
    let mut report = report.into_inner().unwrap_or_else(PoisonError::into_inner);
    report.elapsed = started.elapsed();
    Ok(report)
}

impl Report {
    fn empty() -> Report {
        Report {
            attempts: 0,
            responses: 0,
            statuses: BTreeMap::new(),
            failures: BTreeMap::new(),
            body_bytes: 0,
            elapsed: Duration::ZERO,
            latency: Histogram::new(3).expect("3 significant figures is a valid histogram"),
        }
    }

    fn merge(&mut self, other: Report) {
        self.attempts += other.attempts;
        self.responses += other.responses;
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        for (kind, n) in other.failures {
            *self.failures.entry(kind).or_default() += n;
        }
        self.body_bytes += other.body_bytes;
        let _ = self.latency.add(&other.latency);
    }
}

/// One thread's share of the run.
fn load(
    config: &ClientConfig,
    request: &[u8],
    on_attempt: &(dyn Fn(&Attempt) + Sync),
    started: Instant,
) -> Report {
    let mut report = Report::empty();
    let mut connection: Option<ResponseReader<TcpStream>> = None;
    for _ in 0..config.requests {
        if config.duration.is_some_and(|d| started.elapsed() >= d) {
            break;
        }
        let began = Instant::now();
        let result = exchange(config, request, &mut connection);
        let attempt = Attempt {
            result,
            latency: began.elapsed(),
        };
        report.attempts += 1;
        match &attempt.result {
            Ok(summary) => {
                report.responses += 1;
                *report.statuses.entry(summary.status).or_default() += 1;
                report.body_bytes += summary.body_len;
                let micros = u64::try_from(attempt.latency.as_micros()).unwrap_or(u64::MAX);
                let _ = report.latency.record(micros.max(1));
            }
            Err((kind, _)) => *report.failures.entry(*kind).or_default() += 1,
        }
        on_attempt(&attempt);
    }
    report
}

/// Sends one request and reads its response, reusing `connection` when
/// keep-alive allows and opening a new one otherwise.
fn exchange(
    config: &ClientConfig,
    request: &[u8],
    connection: &mut Option<ResponseReader<TcpStream>>,
) -> Result<ResponseSummary, (FailureKind, String)> {
    let io_failure = |e: io::Error| failure_of_io(&e, config.timeout);
    let mut reader = match connection.take() {
        Some(reader) => reader,
        None => {
            let stream =
                TcpStream::connect_timeout(&config.addr, config.timeout).map_err(io_failure)?;
            stream
                .set_read_timeout(Some(config.timeout))
                .and_then(|()| stream.set_write_timeout(Some(config.timeout)))
                .and_then(|()| stream.set_nodelay(true))
                .map_err(io_failure)?;
            ResponseReader::new(stream)
        }
    };
    (&mut reader.get_ref())
        .write_all(request)
        .map_err(io_failure)?;
    let summary = reader.read_response("GET").map_err(|e| match e {
        ResponseError::Io(e) => failure_of_io(&e, config.timeout),
        e => (FailureKind::of_response(&e), e.to_string()),
    })?;
    if config.keep_alive && !summary.closes {
        *connection = Some(reader);
    }
    Ok(summary)
}

/// A failed read, write or connect as the summary counts it, saying
/// "timed out after 5 s" rather than the OS's words for a socket timeout.
fn failure_of_io(e: &io::Error, timeout: Duration) -> (FailureKind, String) {
    let kind = FailureKind::of_io(e);
    let detail = if kind == FailureKind::TimedOut {
        format!("timed out after {}", target::show_duration(timeout))
    } else {
        e.to_string()
    };
    (kind, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_shape() {
        let mut config = ClientConfig::new("127.0.0.1:12000".parse().unwrap(), "my file.html");
        let text = String::from_utf8(request_bytes(&config)).unwrap();
        assert!(text.starts_with("GET /my%20file.html HTTP/1.1\r\nHost: 127.0.0.1:12000\r\n"));
        assert!(text.ends_with("Connection: close\r\n\r\n"));
        config.keep_alive = true;
        let text = String::from_utf8(request_bytes(&config)).unwrap();
        assert!(!text.contains("Connection"));
    }
}

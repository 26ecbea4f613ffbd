//! The client: the seed run (std threads and blocking sockets, one request
//! each, as the exercise sends them) and the [`load`] engine, which both
//! measure what comes back in one [`Report`]. It knows only addresses —
//! whoever wants a backend started (`main`, `compare`, the tests) starts it
//! through `crate::spawn` and hands the address over. [`command`] is the
//! `twinserve client` subcommand's output around a run.
//!
//! Every run is bounded, every request has a timeout. It goes to whatever
//! host its user names; only the project's tests and benchmarks keep to loopback.

mod chart;
pub mod command;
pub mod load;
mod response;
mod target;
pub mod thresholds;

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
pub use thresholds::{Checked, Threshold};

/// The request sent, and the seed run that sends it.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub addr: SocketAddr,
    /// The `Host` field sent; `None` sends `addr`.
    pub host: Option<String>,
    /// Request path, with or without its leading `/`.
    pub path: String,
    /// Seed run: threads, one request each.
    pub threads: usize,
    /// Leave `Connection: close` out of the request.
    pub keep_alive: bool,
    /// Seed run: limit on connecting, and on each read and write.
    pub timeout: Duration,
}

impl ClientConfig {
    /// The original exercise's run: 10 threads, one request each.
    pub fn new(addr: SocketAddr, path: impl Into<String>) -> ClientConfig {
        ClientConfig {
            addr,
            host: None,
            path: path.into(),
            threads: 10,
            keep_alive: false,
            timeout: Duration::from_secs(5),
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
    /// The client ran out of file descriptors (EMFILE, ENFILE).
    TooManyFiles,
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
            FailureKind::TooManyFiles => "too many open files",
            FailureKind::Other => "other",
        }
    }

    pub(crate) fn of_io(e: &io::Error) -> FailureKind {
        use io::ErrorKind as K;
        if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) {
            return FailureKind::TooManyFiles;
        }
        match e.kind() {
            K::ConnectionRefused => FailureKind::Refused,
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => FailureKind::Reset,
            K::TimedOut | K::WouldBlock => FailureKind::TimedOut,
            K::UnexpectedEof => FailureKind::Closed,
            _ => FailureKind::Other,
        }
    }

    pub(crate) fn of_response(e: &ResponseError) -> FailureKind {
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
    /// Latency of answered requests, in microseconds, from when each was sent.
    pub latency: Histogram<u64>,
    /// Bytes received in the measured run: heads, bodies and framing.
    pub bytes_read: u64,
    /// Open loop: latency from when each request was due, in microseconds
    /// (corrected for coordinated omission).
    pub corrected: Option<Histogram<u64>>,
    /// Open loop: how the schedule was kept.
    pub schedule: Option<Schedule>,
    /// Responses in each [`TICK`] of the measured run.
    pub ticks: Vec<u64>,
    /// Requests still in flight when the run's time was up (neither answered nor failed).
    pub unfinished: u64,
}

/// How well an open-loop run kept its schedule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Schedule {
    /// Requests the schedule called for in the measured run.
    pub scheduled: u64,
    /// The longest any request waited past its due time before it was sent.
    pub max_behind: Duration,
    /// Requests due but not sent when the run ended.
    pub backlog_at_end: u64,
}

/// The width of a [`Report::ticks`] bucket: fine enough that a run under a
/// second still draws a requests/s curve.
pub const TICK: Duration = Duration::from_millis(100);

impl Report {
    /// Responses in each whole second of the measured run (the JSON `timeline`).
    pub fn timeline(&self) -> Vec<u64> {
        let per_second = (Duration::from_secs(1).as_nanos() / TICK.as_nanos()) as usize;
        self.ticks
            .chunks(per_second)
            .map(|c| c.iter().sum())
            .collect()
    }

    /// Open loop: measured requests due but never sent; 0 in closed loop.
    pub fn backlog(&self) -> u64 {
        self.schedule.map_or(0, |s| s.backlog_at_end)
    }

    pub fn all_answered(&self) -> bool {
        self.attempts > 0 && self.responses == self.attempts
    }

    pub fn percentile_ms(&self, q: f64) -> f64 {
        self.latency.value_at_quantile(q) as f64 / 1000.0
    }

    /// The report as JSON, in the schema docs/client-json.md describes
    /// (`"schema": 1`); the caller adds `target`, `settings` and `thresholds`.
    pub fn to_json(&self) -> serde_json::Value {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        let errors: u64 = self.failures.values().sum();
        serde_json::json!({
            "schema": 1,
            "requests": self.attempts,
            "responses": self.responses,
            "errors": errors,
            "unfinished": self.unfinished,
            "backlog": self.backlog(),
            "statuses": self.statuses.iter().map(|(s, n)| (s.to_string(), *n)).collect::<BTreeMap<_, _>>(),
            "failures": self.failures.iter().map(|(k, n)| (k.name(), *n)).collect::<BTreeMap<_, _>>(),
            "body_bytes": self.body_bytes,
            "bytes_read": self.bytes_read,
            "elapsed_s": self.elapsed.as_secs_f64(),
            "requests_per_s": self.responses as f64 / secs,
            "bytes_per_s": self.bytes_read as f64 / secs,
            "latency_ms": latency_json(&self.latency),
            "corrected_latency_ms": self.corrected.as_ref().map(latency_json),
            "schedule": self.schedule.map(|s| serde_json::json!({
                "scheduled": s.scheduled,
                "max_behind_ms": s.max_behind.as_secs_f64() * 1000.0,
                "backlog_at_end": s.backlog_at_end,
            })),
            "histogram": histogram_json(&self.latency),
            "corrected_histogram": self.corrected.as_ref().map(histogram_json),
            "timeline": self.timeline(),
        })
    }

    /// The latency lines of a load run: a percentile table, from the send
    /// (and, in open loop, from the due time), and how the schedule was kept.
    pub fn latency_table(&self) -> String {
        let mut out = String::new();
        let heads = ["p50", "p90", "p99", "p99.9", "p99.99", "max"];
        out.push_str(&format!("{:<22}", "latency (ms)"));
        for head in heads {
            out.push_str(&format!("{head:>9}"));
        }
        out.push('\n');
        let mut row = |name: &str, h: &Histogram<u64>| {
            out.push_str(&format!("{name:<22}"));
            for q in PERCENTILES {
                out.push_str(&format!("{:>9.2}", h.value_at_quantile(q) as f64 / 1000.0));
            }
            out.push_str(&format!("{:>9.2}\n", h.max() as f64 / 1000.0));
        };
        if self.responses == 0 {
            out = "no responses, so no latency\n".into();
        } else {
            match &self.corrected {
                Some(corrected) => {
                    row("  from due (corrected)", corrected);
                    row("  from sent", &self.latency);
                }
                None => row("", &self.latency),
            }
        }
        if let Some(s) = self.schedule {
            out.push_str(&format!(
                "schedule: {} due; sent at most {} late; {} still waiting to be sent at the end\n",
                s.scheduled,
                show_duration(s.max_behind),
                s.backlog_at_end,
            ));
        }
        out
    }

    /// The one-line summary printed after every run.
    pub fn summary(&self) -> String {
        let secs = self.elapsed.as_secs_f64();
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(status, n)| format!("{status} ×{n}"))
            .collect();
        // Not attempts less responses: an answer nobody asked for is a
        // failure too, and requests cut off by the end of a timed run are not.
        let failed: u64 = self.failures.values().sum();
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
        if self.unfinished > 0 {
            line.push_str(&format!(", {} unfinished", self.unfinished));
        }
        if self.backlog() > 0 {
            line.push_str(&format!(", {} due but never sent", self.backlog()));
        }
        if self.responses > 0 {
            // Open loop: the corrected figures, the ones --fail-if checks.
            let (name, h) = match &self.corrected {
                Some(corrected) => ("corrected latency", corrected),
                None => ("latency", &self.latency),
            };
            let ms = |us: u64| us as f64 / 1000.0;
            line.push_str(&format!(
                "; {:.0} req/s, {name} p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                self.responses as f64 / secs.max(1e-9),
                ms(h.value_at_quantile(0.5)),
                ms(h.value_at_quantile(0.99)),
                ms(h.max()),
            ));
        }
        line
    }
}

/// The quantiles every report shows, besides the maximum.
const PERCENTILES: [f64; 5] = [0.5, 0.9, 0.99, 0.999, 0.9999];

fn latency_json(h: &Histogram<u64>) -> serde_json::Value {
    if h.is_empty() {
        return serde_json::Value::Null;
    }
    let ms = |us: u64| us as f64 / 1000.0;
    serde_json::json!({
        "p50": ms(h.value_at_quantile(0.5)),
        "p90": ms(h.value_at_quantile(0.9)),
        "p99": ms(h.value_at_quantile(0.99)),
        "p99.9": ms(h.value_at_quantile(0.999)),
        "p99.99": ms(h.value_at_quantile(0.9999)),
        "max": ms(h.max()),
        "min": ms(h.min()),
        "mean": h.mean() / 1000.0,
    })
}

/// Every recorded value as `[microseconds, count]`, ascending: enough to
/// rebuild the histogram at its 3 significant figures.
fn histogram_json(h: &Histogram<u64>) -> serde_json::Value {
    let pairs: Vec<[u64; 2]> = h
        .iter_recorded()
        .map(|v| {
            [
                h.highest_equivalent(v.value_iterated_to()),
                v.count_at_value(),
            ]
        })
        .collect();
    serde_json::json!({ "unit": "us", "significant_figures": 3, "values": pairs })
}

/// Why a run could not start.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// `cause` is text, not a source, so a chain printer shows it once.
    #[error("cannot resolve {host}: {cause}")]
    Resolve { host: String, cause: String },
    #[error("cannot connect to {target}: {cause}")]
    Unreachable { target: String, cause: String },
    #[error(
        "cannot hold {connections} connections: the open-file limit is {limit} \
         (raise it with `ulimit -n`)"
    )]
    TooManyConnections { connections: usize, limit: u64 },
    #[error("cannot start client threads: {0}")]
    Threads(io::Error),
    #[error("cannot write {}: {cause}", path.display())]
    Write {
        path: std::path::PathBuf,
        cause: String,
    },
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

/// The seed run: `threads` threads released together, each sending one
/// request on its own connection. `on_attempt` sees every attempt as it ends.
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
                    let began = Instant::now();
                    let attempt = Attempt {
                        result: exchange(config, request),
                        latency: began.elapsed(),
                    };
                    report
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .record(&attempt);
                    on_attempt(&attempt);
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
    pub(crate) fn empty() -> Report {
        Report {
            attempts: 0,
            responses: 0,
            statuses: BTreeMap::new(),
            failures: BTreeMap::new(),
            body_bytes: 0,
            elapsed: Duration::ZERO,
            latency: Report::histogram(),
            bytes_read: 0,
            corrected: None,
            schedule: None,
            ticks: Vec::new(),
            unfinished: 0,
        }
    }

    pub(crate) fn histogram() -> Histogram<u64> {
        Histogram::new(3).expect("3 significant figures is a valid histogram")
    }

    /// Counts one seed-run attempt.
    fn record(&mut self, attempt: &Attempt) {
        self.attempts += 1;
        match &attempt.result {
            Ok(summary) => {
                self.responses += 1;
                *self.statuses.entry(summary.status).or_default() += 1;
                self.body_bytes += summary.body_len;
                let micros = u64::try_from(attempt.latency.as_micros()).unwrap_or(u64::MAX);
                let _ = self.latency.record(micros.max(1));
            }
            Err((kind, _)) => *self.failures.entry(*kind).or_default() += 1,
        }
    }

    pub(crate) fn merge(&mut self, other: Report) {
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
        self.bytes_read += other.bytes_read;
        if let Some(theirs) = &other.corrected {
            let _ = self
                .corrected
                .get_or_insert_with(Report::histogram)
                .add(theirs);
        }
        if let Some(theirs) = other.schedule {
            let ours = self.schedule.get_or_insert_with(Schedule::default);
            ours.scheduled += theirs.scheduled;
            ours.max_behind = ours.max_behind.max(theirs.max_behind);
            ours.backlog_at_end += theirs.backlog_at_end;
        }
        if self.ticks.len() < other.ticks.len() {
            self.ticks.resize(other.ticks.len(), 0);
        }
        for (ours, theirs) in self.ticks.iter_mut().zip(&other.ticks) {
            *ours += theirs;
        }
        self.unfinished += other.unfinished;
    }
}

/// Sends one request on a new connection and reads its response.
fn exchange(
    config: &ClientConfig,
    request: &[u8],
) -> Result<ResponseSummary, (FailureKind, String)> {
    let io_failure = |e: io::Error| failure_of_io(&e, config.timeout);
    let stream = TcpStream::connect_timeout(&config.addr, config.timeout).map_err(io_failure)?;
    stream
        .set_read_timeout(Some(config.timeout))
        .and_then(|()| stream.set_write_timeout(Some(config.timeout)))
        .and_then(|()| stream.set_nodelay(true))
        .map_err(io_failure)?;
    let mut reader = ResponseReader::new(stream);
    (&mut reader.get_ref())
        .write_all(request)
        .map_err(io_failure)?;
    reader.read_response("GET").map_err(|e| match e {
        ResponseError::Io(e) => failure_of_io(&e, config.timeout),
        e => (FailureKind::of_response(&e), e.to_string()),
    })
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

    /// An open loop's summary gives the corrected latency, and a run that
    /// got no answer still says how its schedule went.
    #[test]
    fn open_loop_summary_and_schedule() {
        let mut report = Report::empty();
        report.attempts = 3;
        report.responses = 2;
        report.unfinished = 1;
        report.elapsed = Duration::from_secs(1);
        report.latency.record(1_000).unwrap();
        report.latency.record(1_000).unwrap();
        let mut corrected = Report::histogram();
        corrected.record(250_000).unwrap();
        corrected.record(250_000).unwrap();
        report.corrected = Some(corrected);
        report.schedule = Some(Schedule {
            scheduled: 10,
            max_behind: Duration::from_millis(300),
            backlog_at_end: 7,
        });
        let line = report.summary();
        assert!(line.contains("corrected latency p50 250."), "{line}");
        assert!(
            line.contains("1 unfinished, 7 due but never sent"),
            "{line}"
        );
        let json = report.to_json();
        assert_eq!(
            (json["unfinished"].as_u64(), json["backlog"].as_u64()),
            (Some(1), Some(7))
        );
        report.responses = 0;
        report.latency.reset();
        report.corrected = Some(Report::histogram());
        let table = report.latency_table();
        assert!(table.contains("no responses"), "{table}");
        assert!(table.contains("schedule: 10 due"), "{table}");
    }

    #[test]
    fn out_of_descriptors_is_its_own_kind() {
        for errno in [libc::EMFILE, libc::ENFILE] {
            let e = io::Error::from_raw_os_error(errno);
            assert_eq!(FailureKind::of_io(&e), FailureKind::TooManyFiles);
        }
        assert_eq!(FailureKind::TooManyFiles.name(), "too many open files");
    }
}

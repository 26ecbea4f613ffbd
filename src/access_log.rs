//! The access log (`--access-log`): one line per response in Common, Combined
//! or JSON format, the same from both backends, and the `-v` line with the
//! same fields. Each worker appends to a buffer of its own; a thread of the
//! log's own writes them out, so a slow disk or a blocked stdout never holds
//! a request, and workers never wait on each other.

use std::cell::RefCell;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use http::header::{self, HeaderName};

use crate::docroot::{HeaderSource, Reply, RequestView, Version};

/// The line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `client - - [time] "request" status bytes` (NCSA Common Log Format).
    Common,
    /// Common plus `"referer" "user-agent"`, as Apache and nginx write it.
    Combined,
    /// One JSON object per line, with the duration too.
    Json,
}

/// Where the lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Destination {
    Stdout,
    /// Appended to, created if missing.
    File(PathBuf),
}

impl Destination {
    /// For error messages.
    pub fn path(&self) -> PathBuf {
        match self {
            Destination::Stdout => PathBuf::from("-"),
            Destination::File(path) => path.clone(),
        }
    }
}

/// What the log is told; part of `docroot::Options`.
#[derive(Debug, Clone)]
pub struct Settings {
    pub destination: Destination,
    pub format: Format,
    /// Peers whose `X-Forwarded-For` names the client (`--trust-proxy`).
    pub trusted_proxies: Vec<Cidr>,
}

/// An address block, `10.0.0.0/8` or `fd00::/8`; a bare address is itself alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;

    fn from_str(text: &str) -> Result<Cidr, String> {
        let bad = || format!("{text:?} is not an address or block such as 10.0.0.0/8 or ::1/128");
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let network: IpAddr = address.parse().map_err(|_| bad())?;
        let bits = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|&p| p <= bits)
                .ok_or_else(bad)?,
            None => bits,
        };
        Ok(Cidr {
            network: network.to_canonical(),
            prefix: if network.to_canonical().is_ipv4() && bits == 128 {
                prefix.saturating_sub(96)
            } else {
                prefix
            },
        })
    }
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let masked = |bits: u128, width: u32| {
            let keep = u32::from(self.prefix);
            if keep == 0 { 0 } else { bits >> (width - keep) }
        };
        match (self.network, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u32::from(net).into(), 32) == masked(u32::from(ip).into(), 32)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(u128::from(net), 128) == masked(u128::from(ip), 128)
            }
            _ => false,
        }
    }
}

/// What a backend knows of one exchange beside the request.
#[derive(Debug, Clone, Copy)]
pub struct Exchange {
    pub peer: Option<SocketAddr>,
    pub status: u16,
    /// Body bytes of the response (0 for HEAD and 304).
    pub bytes: u64,
    /// When the request head had been read.
    pub started: Instant,
}

impl Exchange {
    /// The exchange of `reply`, taken before the reply is handed to the
    /// connection (which consumes it).
    pub fn new(peer: Option<SocketAddr>, reply: &Reply, started: Instant) -> Exchange {
        Exchange {
            peer,
            status: reply.status.as_u16(),
            bytes: reply.body_len(),
            started,
        }
    }
}

/// A writer thread that collects the lines workers leave in buffers of their own.
#[derive(Debug)]
pub struct AccessLog {
    format: Format,
    trusted: Vec<Cidr>,
    shared: Arc<Shared>,
    writer: Mutex<Option<JoinHandle<()>>>,
}

/// One thread's lines, waiting for the writer. Each worker thread appends to
/// its own, so workers never wait on one another; only the writer, a few
/// times a second, takes the lock beside the owner.
type Slot = Arc<Mutex<Vec<u8>>>;

#[derive(Debug, Default)]
struct Shared {
    /// Tells logs apart in a thread's list of slots (tests run several).
    id: u64,
    slots: Mutex<Vec<Slot>>,
    stop: Mutex<bool>,
    wake: Condvar,
    dropped: AtomicU64,
    next_seq: AtomicU64,
    /// Bytes in all slots together, bounded by [`MAX_PENDING`].
    pending_bytes: AtomicUsize,
}

/// Lines wait at most about this long before they are written and flushed.
const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// Past this many bytes waiting in all slots, lines are dropped (and
/// counted) rather than letting a stalled destination grow the server's
/// memory without bound.
const MAX_PENDING: usize = 32 * 1024 * 1024;

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

impl AccessLog {
    /// Opens the destination and starts the writer thread.
    pub fn open(settings: &Settings) -> std::io::Result<AccessLog> {
        let mut out: Box<dyn Write + Send> = match &settings.destination {
            Destination::Stdout => Box::new(std::io::stdout()),
            Destination::File(path) => Box::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            ),
        };
        let shared = Arc::new(Shared {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            ..Shared::default()
        });
        let thread_shared = Arc::clone(&shared);
        let writer = std::thread::Builder::new()
            .name("twinserve-access-log".into())
            .spawn(move || write_out(&thread_shared, &mut *out))?;
        Ok(AccessLog {
            format: settings.format,
            trusted: settings.trusted_proxies.clone(),
            shared,
            writer: Mutex::new(Some(writer)),
        })
    }

    /// Writes out every line so far and stops the writer; lines recorded
    /// later are not written. The server calls this once it has stopped.
    pub fn close(&self) {
        *self
            .shared
            .stop
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = true;
        self.shared.wake.notify_one();
        let writer = self
            .writer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(writer) = writer {
            let _ = writer.join();
        }
    }

    /// Appends `line` to this thread's slot, made on the thread's first line.
    fn push(&self, line: &[u8]) {
        thread_local! {
            static SLOTS: RefCell<Vec<(u64, Slot)>> = const { RefCell::new(Vec::new()) };
        }
        let waiting = self
            .shared
            .pending_bytes
            .fetch_add(line.len() + 16, Ordering::Relaxed);
        if waiting > MAX_PENDING {
            self.shared
                .pending_bytes
                .fetch_sub(line.len() + 16, Ordering::Relaxed);
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        SLOTS.with(|slots| {
            let mut slots = slots.borrow_mut();
            let index = match slots.iter().position(|(id, _)| *id == self.shared.id) {
                Some(index) => index,
                None => {
                    let slot = Slot::default();
                    lock(&self.shared.slots).push(Arc::clone(&slot));
                    slots.push((self.shared.id, slot));
                    slots.len() - 1
                }
            };
            let mut pending = lock(&slots[index].1);
            // Numbered, so the writer can put the threads' lines back in the
            // order they were recorded in.
            let seq = self.shared.next_seq.fetch_add(1, Ordering::Relaxed);
            pending.extend_from_slice(&seq.to_le_bytes());
            pending.extend_from_slice(&(line.len() as u64).to_le_bytes());
            pending.extend_from_slice(line);
        });
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        self.close();
    }
}

/// The writer thread: every [`FLUSH_EVERY`] it takes what each thread's
/// slot holds and writes it out in the order recorded, until stopped, and
/// then once more.
fn write_out(shared: &Shared, out: &mut dyn Write) {
    let mut taken: Vec<Vec<u8>> = Vec::new();
    let mut lines: Vec<(u64, usize, usize, usize)> = Vec::new();
    let mut batch = Vec::new();
    loop {
        let stopping = {
            let stop = lock(&shared.stop);
            let stop = if *stop {
                stop
            } else {
                shared
                    .wake
                    .wait_timeout(stop, FLUSH_EVERY)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0
            };
            *stop
        };
        let slots: Vec<Slot> = {
            let mut slots = lock(&shared.slots);
            let all = slots.clone();
            // A slot whose thread has ended is emptied this once more, then let go.
            slots.retain(|slot| Arc::strong_count(slot) > 2);
            all
        };
        taken.resize_with(slots.len(), Vec::new);
        lines.clear();
        for (index, slot) in slots.iter().enumerate() {
            taken[index].clear();
            std::mem::swap(&mut *lock(slot), &mut taken[index]);
            let buffer = &taken[index];
            shared
                .pending_bytes
                .fetch_sub(buffer.len(), Ordering::Relaxed);
            let mut at = 0;
            while at + 16 <= buffer.len() {
                let number = |from: usize| {
                    u64::from_le_bytes(buffer[from..from + 8].try_into().unwrap_or_default())
                };
                let (seq, len) = (number(at), number(at + 8) as usize);
                lines.push((seq, index, at + 16, at + 16 + len));
                at += 16 + len;
            }
        }
        lines.sort_unstable_by_key(|&(seq, ..)| seq);
        batch.clear();
        for &(_, index, start, end) in &lines {
            batch.extend_from_slice(&taken[index][start..end]);
        }
        if !batch.is_empty()
            && let Err(e) = out.write_all(&batch).and_then(|()| out.flush())
        {
            tracing::warn!("access log: cannot write: {e}");
        }
        let dropped = shared.dropped.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            tracing::warn!(
                "access log: {dropped} lines dropped, the destination is not keeping up"
            );
        }
        if stopping {
            return;
        }
    }
}

/// Whether `-v` (debug logging here) wants a line for every exchange.
fn verbose() -> bool {
    tracing::enabled!(tracing::Level::DEBUG)
}

/// Whether [`record`] writes anything with `log`: a line, or a `-v` line.
pub fn records(log: Option<&AccessLog>) -> bool {
    log.is_some() || verbose()
}

/// Records one exchange: the access-log line, and the `-v` line.
pub fn record<H: HeaderSource + ?Sized>(
    log: Option<&AccessLog>,
    req: &RequestView<'_, H>,
    exchange: &Exchange,
) {
    let verbose = verbose();
    if log.is_none() && !verbose {
        return;
    }
    let trusted = log.map_or(&[][..], |l| &l.trusted[..]);
    let client = client_address(exchange.peer, req.headers, trusted);
    let duration = exchange.started.elapsed();
    if verbose {
        let field = |name: &HeaderName| {
            req.headers
                .values(name)
                .next()
                .map(|v| String::from_utf8_lossy(v).escape_debug().to_string())
                .unwrap_or_default()
        };
        tracing::debug!(
            "{} \"{} {} {}\" {} {} {:.3}ms referer={:?} user_agent={:?}",
            client.map_or_else(|| "-".to_string(), |c| c.to_string()),
            req.method.escape_debug(),
            req.target.escape_debug(),
            protocol(req.version),
            exchange.status,
            exchange.bytes,
            duration.as_secs_f64() * 1000.0,
            field(&header::REFERER),
            field(&header::USER_AGENT),
        );
    }
    let Some(log) = log else { return };
    thread_local! {
        static LINE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    LINE.with(|line| {
        let mut line = line.borrow_mut();
        line.clear();
        format_line(&mut line, log.format, client, req, exchange, duration);
        log.push(&line);
    });
}

/// The client's address: the peer's, or with `trusted` proxies and a peer
/// among them, the address `X-Forwarded-For` names last that is not one of
/// them (the rightmost entries are the ones the trusted proxies added).
pub fn client_address<H: HeaderSource + ?Sized>(
    peer: Option<SocketAddr>,
    headers: &H,
    trusted: &[Cidr],
) -> Option<IpAddr> {
    let mut client = peer?.ip().to_canonical();
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(client) {
        return Some(client);
    }
    let header = HeaderName::from_static("x-forwarded-for");
    let mut entries: Vec<&[u8]> = headers
        .values(&header)
        .flat_map(|v| v.split(|&b| b == b','))
        .collect();
    while let Some(entry) = entries.pop() {
        let Some(ip) = parse_forwarded(entry) else {
            break;
        };
        client = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    Some(client)
}

/// One `X-Forwarded-For` entry: an address, maybe with a port (`[::1]:80`).
fn parse_forwarded(entry: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(entry.trim_ascii()).ok()?;
    let ip = text
        .parse::<IpAddr>()
        .ok()
        .or_else(|| text.parse::<SocketAddr>().ok().map(|a| a.ip()))?;
    Some(ip.to_canonical())
}

fn protocol(version: Version) -> &'static str {
    match version {
        Version::Http10 => "HTTP/1.0",
        Version::Http11 => "HTTP/1.1",
    }
}

fn format_line<H: HeaderSource + ?Sized>(
    line: &mut Vec<u8>,
    format: Format,
    client: Option<IpAddr>,
    req: &RequestView<'_, H>,
    exchange: &Exchange,
    duration: Duration,
) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    match format {
        Format::Common | Format::Combined => {
            match client {
                Some(ip) => {
                    let _ = write!(line, "{ip}");
                }
                None => line.push(b'-'),
            }
            line.extend_from_slice(b" - - [");
            push_time(line, now, false);
            line.extend_from_slice(b"] \"");
            push_quoted(line, req.method.as_bytes());
            line.push(b' ');
            push_quoted(line, req.target.as_bytes());
            line.push(b' ');
            line.extend_from_slice(protocol(req.version).as_bytes());
            let _ = write!(line, "\" {} {}", exchange.status, exchange.bytes);
            if format == Format::Combined {
                for name in [header::REFERER, header::USER_AGENT] {
                    line.extend_from_slice(b" \"");
                    match req.headers.values(&name).next() {
                        Some(value) => push_quoted(line, value),
                        None => line.push(b'-'),
                    }
                    line.push(b'"');
                }
            }
        }
        Format::Json => {
            line.extend_from_slice(b"{\"time\":\"");
            push_time(line, now, true);
            line.extend_from_slice(b"\",\"client\":");
            match client {
                Some(ip) => {
                    let _ = write!(line, "\"{ip}\"");
                }
                None => line.extend_from_slice(b"null"),
            }
            line.extend_from_slice(b",\"method\":");
            push_json(line, req.method.as_bytes());
            line.extend_from_slice(b",\"target\":");
            push_json(line, req.target.as_bytes());
            let _ = write!(
                line,
                ",\"protocol\":\"{}\",\"status\":{},\"bytes\":{},\"duration_ms\":{:.3}",
                protocol(req.version),
                exchange.status,
                exchange.bytes,
                duration.as_secs_f64() * 1000.0
            );
            for (key, name) in [
                (&b",\"referer\":"[..], header::REFERER),
                (b",\"user_agent\":", header::USER_AGENT),
            ] {
                line.extend_from_slice(key);
                match req.headers.values(&name).next() {
                    Some(value) => push_json(line, value),
                    None => line.extend_from_slice(b"null"),
                }
            }
            line.push(b'}');
        }
    }
    line.push(b'\n');
}

/// A quoted field's bytes as Apache and nginx log them: `"` and `\`
/// backslash-escaped, anything not printable ASCII as `\xHH`, so no request
/// can break a line or fake one.
fn push_quoted(line: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        match b {
            b'"' | b'\\' => line.extend_from_slice(&[b'\\', b]),
            b' '..=b'~' => line.push(b),
            _ => {
                let _ = write!(line, "\\x{b:02X}");
            }
        }
    }
}

/// A JSON string of `bytes`, read as UTF-8 with invalid bytes replaced.
fn push_json(line: &mut Vec<u8>, bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let _ = serde_json::to_writer(&mut *line, &*text);
}

/// The time in the format's form, formatted once a second per thread.
fn push_time(line: &mut Vec<u8>, secs: u64, iso: bool) {
    thread_local! {
        static TIME: RefCell<(u64, Vec<u8>, Vec<u8>)> =
            const { RefCell::new((u64::MAX, Vec::new(), Vec::new())) };
    }
    TIME.with(|time| {
        let mut time = time.borrow_mut();
        if time.0 != secs {
            let (_, clf, iso) = &mut *time;
            clf.clear();
            push_clf_time(clf, secs);
            iso.clear();
            push_iso_time(iso, secs);
            time.0 = secs;
        }
        line.extend_from_slice(if iso { &time.2 } else { &time.1 });
    });
}

/// `10/Oct/2000:13:55:36 +0000` for `secs` since the epoch (UTC).
fn push_clf_time(line: &mut Vec<u8>, secs: u64) {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, m, d) = civil_date(secs / 86_400);
    let t = secs % 86_400;
    let _ = write!(
        line,
        "{d:02}/{}/{y}:{:02}:{:02}:{:02} +0000",
        MONTHS[(m - 1) as usize],
        t / 3600,
        t / 60 % 60,
        t % 60
    );
}

/// `2000-10-10T13:55:36Z` for `secs` since the epoch.
fn push_iso_time(line: &mut Vec<u8>, secs: u64) {
    let (y, m, d) = civil_date(secs / 86_400);
    let t = secs % 86_400;
    let _ = write!(
        line,
        "{y}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        t / 3600,
        t / 60 % 60,
        t % 60
    );
}

/// Year, month (1–12) and day for a day count since 1970-01-01: Howard
/// Hinnant's `civil_from_days`, for days after the epoch.
fn civil_date(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;

    #[test]
    fn dates_match_httpdate() {
        for secs in [
            0u64,
            951_782_400,
            1_700_000_000,
            4_107_542_400,
            1_798_848_000,
        ] {
            let mut clf = Vec::new();
            push_clf_time(&mut clf, secs);
            let http = httpdate::fmt_http_date(UNIX_EPOCH + Duration::from_secs(secs));
            // "Sun, 06 Nov 1994 08:49:37 GMT" against "06/Nov/1994:08:49:37 +0000"
            let parts: Vec<&str> = http.split([' ', ',']).filter(|s| !s.is_empty()).collect();
            let expected = format!("{}/{}/{}:{} +0000", parts[1], parts[2], parts[3], parts[4]);
            assert_eq!(String::from_utf8(clf).unwrap(), expected, "{secs}");
        }
    }

    #[test]
    fn cidr_blocks() {
        let cidr = |s: &str| s.parse::<Cidr>().unwrap();
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(cidr("10.0.0.0/8").contains(ip("10.200.1.1")));
        assert!(!cidr("10.0.0.0/8").contains(ip("11.0.0.1")));
        assert!(cidr("10.0.0.0/8").contains(ip("::ffff:10.0.0.1")));
        assert!(cidr("::1").contains(ip("::1")));
        assert!(!cidr("::1").contains(ip("127.0.0.1")));
        assert!(cidr("0.0.0.0/0").contains(ip("8.8.8.8")));
        assert!(cidr("fd00::/8").contains(ip("fd12::1")));
        for bad in ["", "10.0.0.0/33", "::/129", "x/8", "10.0.0.0/-1"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_for_is_believed_only_from_a_trusted_peer() {
        let trusted = ["10.0.0.0/8".parse::<Cidr>().unwrap()];
        let mut headers = HeaderMap::new();
        headers.insert(
            "x-forwarded-for",
            "6.6.6.6, 203.0.113.7, 10.1.1.1".parse().unwrap(),
        );
        let proxy = Some(SocketAddr::from(([10, 0, 0, 2], 1234)));
        let stranger = Some(SocketAddr::from(([198, 51, 100, 1], 1234)));
        assert_eq!(
            client_address(proxy, &headers, &trusted),
            Some(ip4(203, 0, 113, 7))
        );
        assert_eq!(
            client_address(stranger, &headers, &trusted),
            Some(ip4(198, 51, 100, 1))
        );
        assert_eq!(client_address(proxy, &headers, &[]), Some(ip4(10, 0, 0, 2)));
        headers.insert("x-forwarded-for", "garbage".parse().unwrap());
        assert_eq!(
            client_address(proxy, &headers, &trusted),
            Some(ip4(10, 0, 0, 2))
        );
    }

    fn ip4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::from([a, b, c, d])
    }

    fn log_to(path: &std::path::Path) -> AccessLog {
        AccessLog::open(&Settings {
            destination: Destination::File(path.to_path_buf()),
            format: Format::Common,
            trusted_proxies: Vec::new(),
        })
        .unwrap()
    }

    fn record_get(log: &AccessLog, target: &str) {
        let headers = HeaderMap::new();
        let req = RequestView {
            method: "GET",
            target,
            version: Version::Http11,
            headers: &headers,
        };
        let exchange = Exchange {
            peer: Some(SocketAddr::from(([127, 0, 0, 1], 9))),
            status: 200,
            bytes: 1,
            started: Instant::now(),
        };
        record(Some(log), &req, &exchange);
    }

    #[test]
    fn lines_from_many_threads_come_out_whole_in_order_and_all_at_close() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let log = Arc::new(log_to(&path));
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let log = Arc::clone(&log);
                std::thread::spawn(move || {
                    for i in 0..2000 {
                        record_get(&log, &format!("/{t}/{i}"));
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }
        record_get(&log, "/last");
        log.close();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 8 * 2000 + 1);
        assert!(
            text.lines()
                .last()
                .unwrap()
                .contains("\"GET /last HTTP/1.1\" 200 1")
        );
        // Each thread's lines in the order it recorded them.
        for t in 0..8 {
            let prefix = format!("\"GET /{t}/");
            let numbers: Vec<usize> = text
                .lines()
                .filter_map(|l| l.split(&prefix).nth(1))
                .map(|rest| rest.split(' ').next().unwrap().parse().unwrap())
                .collect();
            assert_eq!(numbers, (0..2000).collect::<Vec<_>>());
        }
    }

    #[test]
    fn a_line_is_written_out_without_waiting_for_close() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let log = log_to(&path);
        record_get(&log, "/soon");
        let deadline = Instant::now() + Duration::from_secs(5);
        while !std::fs::read_to_string(&path).unwrap().contains("/soon") {
            assert!(Instant::now() < deadline, "not written within 5 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    #[test]
    fn quoted_fields_cannot_break_a_line() {
        let mut line = Vec::new();
        push_quoted(&mut line, b"a\"b\\c\nd\xff");
        assert_eq!(line, b"a\\\"b\\\\c\\x0Ad\\xFF");
    }
}

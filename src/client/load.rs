//! The load engine: `connections` non-blocking sockets spread over `threads`
//! threads, each thread one epoll loop (through mio), responses read by the
//! one [`ResponseParser`]. Closed loop keeps `pipeline` requests in flight on
//! every connection; open loop (`rate`) sends on a fixed schedule and times
//! each response from its scheduled send as well as its actual one. Without
//! keep-alive each request opens its own connection, timed from the connect.

use std::collections::VecDeque;
use std::io::{self, Read as _, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use std::os::fd::{AsRawFd, OwnedFd};

use super::{ClientError, FailureKind, Report, ResponseParser, ResponseSummary, Schedule};

/// What to load and how.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub addr: SocketAddr,
    /// The request sent, whole (see [`super::request_bytes`]).
    pub request: Vec<u8>,
    pub connections: usize,
    pub threads: usize,
    /// Requests in flight per connection at most.
    pub pipeline: usize,
    /// Measured requests in all; with `duration`, whichever comes first.
    pub requests: Option<u64>,
    /// How long the measured part runs.
    pub duration: Option<Duration>,
    /// Run this long first, outside the statistics.
    pub warmup: Duration,
    /// Open loop: requests per second in all, on a fixed schedule.
    pub rate: Option<f64>,
    /// Limit on connecting and on waiting for each response.
    pub timeout: Duration,
    /// Reuse each connection; false: a new connection per request (the
    /// request should then say `Connection: close`), `pipeline` taken as 1,
    /// and each latency counted from the start of its connect.
    pub keep_alive: bool,
}

/// Counters the threads add to as they go, for a live progress line.
#[derive(Debug, Default)]
pub struct Progress {
    pub responses: AtomicU64,
    pub failures: AtomicU64,
    /// Set by the threads once the warmup is over.
    pub measuring: AtomicBool,
    /// Responses in the warmup, outside `responses`.
    pub warmup_responses: AtomicU64,
}

/// How much an event says to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Read {
    No,
    /// What is there now: a short read means the socket is drained.
    Available,
    /// Until the end or `WouldBlock`: the peer closed or failed.
    ToEnd,
}

/// A request on the wire: when it was due and when it went.
#[derive(Debug, Clone, Copy)]
struct Sent {
    due: Instant,
    sent: Instant,
    measured: bool,
}

struct Conn {
    stream: Option<TcpStream>,
    connected: bool,
    /// When connecting began, for the connect timeout.
    since: Instant,
    out: Vec<u8>,
    out_at: usize,
    /// Bytes read but not yet used: part of a head or a chunk line.
    pending: Vec<u8>,
    parser: ResponseParser,
    in_flight: VecDeque<Sent>,
    /// Connects failed in a row, for the backoff before the next.
    failed_connects: u32,
    /// Waiting out that backoff, in the retry list.
    backing_off: bool,
    /// Responses read on the connection open now.
    answered: u64,
    /// In the idle list already.
    listed: bool,
}

/// One thread's share: its connections, budget and statistics.
struct Worker<'a> {
    config: &'a LoadConfig,
    progress: &'a Progress,
    on_response: Option<&'a (dyn Fn(&ResponseSummary) + Sync)>,
    poll: Poll,
    conns: Vec<Conn>,
    /// Connections that can take another request.
    idle: Vec<usize>,
    /// Connections to open again, and when.
    retry: Vec<(Instant, usize)>,
    /// Measured requests this thread may still start; `None`: no limit.
    budget: Option<u64>,
    /// Open loop: the schedule, and how far sending has got through it.
    plan: Option<Plan>,
    /// Requests sent on a connection that announced its close before
    /// answering them: sent again first, already charged to the budget.
    resend: VecDeque<Sent>,
    measure_from: Instant,
    measure_until: Option<Instant>,
    report: Report,
    scratch: Vec<u8>,
    statuses: Vec<u64>,
    published: (u64, u64),
    /// Responses to warmup requests, and how many of them were published.
    warmup_answered: (u64, u64),
    /// Open loop: wakes the loop when the next request falls due, to the
    /// microsecond, where epoll's own timeout only counts milliseconds.
    timer: Option<OwnedFd>,
    /// Requests in flight over all connections.
    flying: usize,
    /// Connections given requests since their last flush.
    touched: Vec<usize>,
}

/// An open loop's schedule, kept as counts so a backlog of millions costs
/// nothing: request `k` falls due at `start + k × interval`.
#[derive(Debug)]
struct Plan {
    start: Instant,
    interval_ns: f64,
    /// Requests due so far (numbered `0..due`).
    due: u64,
    /// Requests sent or charged so far; `due - taken` wait to be sent.
    taken: u64,
    /// The first request due after the warmup.
    first_measured: u64,
    /// No request numbered this or later; `None`: until the time is up.
    end: Option<u64>,
}

impl Plan {
    fn new(interval: Duration, start: Instant, measure_from: Instant, budget: Option<u64>) -> Plan {
        let interval_ns = (interval.as_nanos() as f64).max(1.0);
        let warmup = measure_from.saturating_duration_since(start).as_nanos() as f64;
        let first_measured = (warmup / interval_ns).ceil() as u64;
        Plan {
            start,
            interval_ns,
            due: 0,
            taken: 0,
            first_measured,
            end: budget.map(|b| first_measured.saturating_add(b)),
        }
    }

    fn due_at(&self, k: u64) -> Instant {
        self.start + Duration::from_nanos((k as f64 * self.interval_ns) as u64)
    }

    /// Brings `due` up to `now`; returns how many measured requests fell due.
    fn catch_up(&mut self, now: Instant) -> u64 {
        if now < self.start {
            return 0;
        }
        let since = now.duration_since(self.start).as_nanos() as f64;
        let mut due = (since / self.interval_ns) as u64 + 1;
        if let Some(end) = self.end {
            due = due.min(end);
        }
        let before = self.due;
        self.due = self.due.max(due);
        self.due.saturating_sub(before.max(self.first_measured))
    }

    /// The oldest request due and not sent: when it was due, and whether it
    /// is measured.
    fn take(&mut self) -> Option<(Instant, bool)> {
        if self.taken >= self.due {
            return None;
        }
        let k = self.taken;
        self.taken += 1;
        Some((self.due_at(k), k >= self.first_measured))
    }

    /// Every request the schedule will ever have is due.
    fn complete(&self) -> bool {
        self.end == Some(self.due)
    }

    /// Measured requests due and not sent.
    fn backlog(&self) -> u64 {
        self.due.saturating_sub(self.taken.max(self.first_measured))
    }
}

/// The open loop's timer; connections are numbered from 0.
const TIMER: Token = Token(usize::MAX);

/// First backoff before opening a connection again after a connect failed,
/// so a server that is down is not hammered in a tight loop.
const RETRY_AFTER: Duration = Duration::from_millis(20);

/// Descriptors a run needs beside its connections: stdio, the progress
/// line's terminal, and slack for what the process holds already.
const SPARE_FILES: u64 = 32;

/// Raises the soft open-file limit to the hard one, then refuses a run whose
/// connections (and each thread's epoll and timer) would not fit under it.
pub fn make_room(connections: usize, threads: usize) -> Result<(), ClientError> {
    use rustix::process::{Resource, getrlimit, setrlimit};
    let mut limit = getrlimit(Resource::Nofile);
    if limit.current < limit.maximum {
        let raised = rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            limit = raised;
        }
    }
    let threads = threads.clamp(1, connections.max(1));
    let needed = connections as u64 + 2 * threads as u64 + SPARE_FILES;
    match limit.current {
        Some(current) if needed > current => Err(ClientError::TooManyConnections {
            connections,
            limit: current,
        }),
        _ => Ok(()),
    }
}

/// Runs the load and returns what it measured, merged over the threads.
pub fn run(
    config: &LoadConfig,
    progress: &Progress,
    on_response: Option<&(dyn Fn(&ResponseSummary) + Sync)>,
) -> io::Result<Report> {
    let connections = config.connections.max(1);
    let threads = config.threads.clamp(1, connections);
    let started = Instant::now();
    let measure_from = started + config.warmup;
    let results: Vec<io::Result<Report>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..threads)
            .map(|i| {
                let (before, conns) = connection_share(connections, threads, i);
                // Requests and rate follow connections, so every connection
                // carries the same load whichever thread it is on.
                let budget = config.requests.map(|total| {
                    let upto =
                        |n: usize| (u128::from(total) * n as u128 / connections as u128) as u64;
                    upto(before + conns) - upto(before)
                });
                // Each thread sends at its share of the rate, offset so the
                // threads' schedules interleave evenly.
                let schedule = config.rate.map(|rate| {
                    let rate = rate * conns as f64 / connections as f64;
                    let interval = Duration::from_secs_f64(1.0 / rate);
                    let offset = interval.mul_f64(i as f64 / threads as f64);
                    (interval, started + offset)
                });
                std::thread::Builder::new()
                    .name(format!("twinserve-load-{i}"))
                    .spawn_scoped(scope, move || {
                        Worker::new(
                            config,
                            progress,
                            on_response,
                            conns,
                            budget,
                            schedule,
                            measure_from,
                        )?
                        .run()
                    })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h {
                Ok(h) => h
                    .join()
                    .unwrap_or_else(|_| Err(io::Error::other("a load thread panicked"))),
                Err(e) => Err(e),
            })
            .collect()
    });
    // A thread that could not run (out of descriptors for its epoll, say)
    // loses only its own share: what the others measured stands.
    let mut report = Report::empty();
    let mut first_error = None;
    let mut ran = 0;
    for result in results {
        match result {
            Ok(theirs) => {
                report.merge(theirs);
                ran += 1;
            }
            Err(e) => {
                tracing::warn!("a load thread stopped: {e}");
                first_error.get_or_insert(e);
            }
        }
    }
    if let (0, Some(e)) = (ran, first_error) {
        return Err(e);
    }
    report.elapsed = Instant::now().saturating_duration_since(measure_from);
    if let Some(d) = config.duration {
        report.elapsed = report.elapsed.min(d);
    }
    Ok(report)
}

/// Thread `i`'s connections: how many the threads before it hold, and how
/// many it holds; the first threads take one more when they do not divide.
fn connection_share(connections: usize, threads: usize, i: usize) -> (usize, usize) {
    let (each, extra) = (connections / threads, connections % threads);
    (i * each + i.min(extra), each + usize::from(i < extra))
}

impl<'a> Worker<'a> {
    fn new(
        config: &'a LoadConfig,
        progress: &'a Progress,
        on_response: Option<&'a (dyn Fn(&ResponseSummary) + Sync)>,
        conns: usize,
        budget: Option<u64>,
        schedule: Option<(Duration, Instant)>,
        measure_from: Instant,
    ) -> io::Result<Worker<'a>> {
        let now = Instant::now();
        let mut report = Report::empty();
        if schedule.is_some() {
            report.corrected = Some(Report::histogram());
            report.schedule = Some(Schedule::default());
        }
        let mut worker = Worker {
            config,
            progress,
            on_response,
            poll: Poll::new()?,
            conns: Vec::with_capacity(conns),
            idle: Vec::with_capacity(conns),
            retry: Vec::new(),
            budget,
            plan: schedule
                .map(|(interval, start)| Plan::new(interval, start, measure_from, budget)),
            resend: VecDeque::new(),
            measure_from,
            measure_until: config.duration.map(|d| measure_from + d),
            report,
            scratch: vec![0; 64 * 1024],
            statuses: vec![0; 1000],
            published: (0, 0),
            warmup_answered: (0, 0),
            timer: None,
            flying: 0,
            touched: Vec::new(),
        };
        if schedule.is_some() {
            let timer = rustix::time::timerfd_create(
                rustix::time::TimerfdClockId::Monotonic,
                rustix::time::TimerfdFlags::NONBLOCK | rustix::time::TimerfdFlags::CLOEXEC,
            )?;
            worker.poll.registry().register(
                &mut SourceFd(&timer.as_raw_fd()),
                TIMER,
                Interest::READABLE,
            )?;
            worker.timer = Some(timer);
        }
        for i in 0..conns {
            worker.conns.push(Conn {
                stream: None,
                connected: false,
                since: now,
                out: Vec::new(),
                out_at: 0,
                pending: Vec::new(),
                parser: ResponseParser::new(false),
                in_flight: VecDeque::new(),
                failed_connects: 0,
                backing_off: false,
                answered: 0,
                listed: false,
            });
            // Without keep-alive a connection opens only for a request.
            if config.keep_alive {
                worker.open(i, now);
            } else {
                worker.mark_idle(i);
            }
        }
        Ok(worker)
    }

    fn run(mut self) -> io::Result<Report> {
        let mut events = Events::with_capacity(1024);
        let mut last_sweep = Instant::now();
        loop {
            let now = Instant::now();
            if self.measure_until.is_some_and(|end| now >= end) {
                break;
            }
            if self.finished() {
                break;
            }
            if now >= self.measure_from && !self.progress.measuring.load(Ordering::Relaxed) {
                self.progress.measuring.store(true, Ordering::Relaxed);
            }
            self.schedule(now);
            self.dispatch(now);
            let wait = self.wait(now);
            // Failing here ends this thread's run early, not its results.
            if let Err(e) = self
                .arm_timer(now)
                .and_then(|()| self.poll.poll(&mut events, Some(wait)))
            {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                tracing::warn!("a load thread stopped early: {e}");
                break;
            }
            let now = Instant::now();
            for event in events.iter() {
                if event.token() == TIMER {
                    continue;
                }
                // A short read may stop early only if no close came with the data.
                let read = match (
                    event.is_read_closed() || event.is_error(),
                    event.is_readable(),
                ) {
                    (true, _) => Read::ToEnd,
                    (false, true) => Read::Available,
                    (false, false) => Read::No,
                };
                self.on_event(event.token().0, read, event.is_writable(), now);
            }
            if !self.retry.is_empty() {
                self.reopen(now);
            }
            if now.duration_since(last_sweep) >= Duration::from_millis(50) {
                last_sweep = now;
                self.sweep(now);
                self.publish();
            }
        }
        self.publish();
        self.tally(Instant::now());
        Ok(self.report)
    }

    /// Adds to the report what the end of the run left: requests unanswered
    /// (on top of those answered too late, counted already), the backlog.
    fn tally(&mut self, end: Instant) {
        for conn in &self.conns {
            self.report.unfinished += conn.in_flight.iter().filter(|s| s.measured).count() as u64;
        }
        self.report.unfinished += self.resend.iter().filter(|s| s.measured).count() as u64;
        if let Some(schedule) = &mut self.report.schedule {
            let plan = self.plan.as_ref().expect("open loop has a plan");
            schedule.backlog_at_end = plan.backlog();
            // Requests still due but never sent are late by the time the run ended.
            if plan.taken < plan.due {
                let lag = end.saturating_duration_since(plan.due_at(plan.taken));
                schedule.max_behind = schedule.max_behind.max(lag);
            }
        }
        for (status, &n) in self.statuses.iter().enumerate() {
            if n > 0 {
                *self.report.statuses.entry(status as u16).or_default() += n;
            }
        }
    }

    /// The measured run's time is up.
    fn past_end(&self, now: Instant) -> bool {
        self.measure_until.is_some_and(|end| now >= end)
    }

    /// Every measured request sent and answered (or failed), when bounded by count.
    fn finished(&self) -> bool {
        let Some(budget) = self.budget else {
            return false;
        };
        let nothing_left = if let Some(plan) = &self.plan {
            plan.complete() && plan.taken == plan.due
        } else {
            budget == 0
        };
        nothing_left && self.resend.is_empty() && self.flying == 0
    }

    /// Open loop: sets the timer for the next due time (relative, in
    /// nanoseconds); it is edge-triggered, so it need not be read.
    fn arm_timer(&mut self, now: Instant) -> io::Result<()> {
        let (Some(timer), Some(plan)) = (&self.timer, &self.plan) else {
            return Ok(());
        };
        let until = if plan.complete() {
            Duration::ZERO
        } else {
            // Zero would disarm it; anything due now was counted already.
            plan.due_at(plan.due)
                .saturating_duration_since(now)
                .max(Duration::from_nanos(1))
        };
        let spec = rustix::time::Itimerspec {
            it_interval: rustix::time::Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: rustix::time::Timespec {
                tv_sec: until.as_secs() as _,
                tv_nsec: until.subsec_nanos() as _,
            },
        };
        rustix::time::timerfd_settime(timer, rustix::time::TimerfdTimerFlags::empty(), &spec)?;
        Ok(())
    }

    /// How long to wait for events at most: a timeout sweep is owed every
    /// few milliseconds; the open loop's timer wakes it sooner.
    fn wait(&self, now: Instant) -> Duration {
        let mut wait = Duration::from_millis(10);
        if let Some(end) = self.measure_until {
            wait = wait.min(end.saturating_duration_since(now));
        }
        wait
    }

    /// Open loop: counts every request now due.
    fn schedule(&mut self, now: Instant) {
        let Some(plan) = &mut self.plan else {
            return;
        };
        // Requests due in the warmup count against nothing.
        let measured = plan.catch_up(now);
        if let Some(s) = &mut self.report.schedule {
            s.scheduled += measured;
        }
    }

    /// Hands requests to connections that can take them: in closed loop as
    /// many as the pipeline allows, in open loop those the schedule says are
    /// due. Each connection then writes its share at once.
    fn dispatch(&mut self, now: Instant) {
        while let Some(&i) = self.idle.last() {
            if !self.ready(i) {
                self.idle.pop();
                self.conns[i].listed = false;
                continue;
            }
            // A request sent again keeps its first send time: its latency is
            // what waiting for it cost, the lost attempt included.
            let (due, sent_at, measured, fresh) = if let Some(again) = self.resend.pop_front() {
                (again.due, again.sent, again.measured, false)
            } else if let Some(plan) = &mut self.plan {
                match plan.take() {
                    Some((due, measured)) => (due, now, measured, true),
                    None => break,
                }
            } else {
                let measured = now >= self.measure_from;
                if measured {
                    match &mut self.budget {
                        Some(0) => break,
                        Some(n) => *n -= 1,
                        None => {}
                    }
                }
                (now, now, measured, true)
            };
            if measured && fresh {
                self.report.attempts += 1;
                if let Some(schedule) = &mut self.report.schedule {
                    schedule.max_behind =
                        schedule.max_behind.max(now.saturating_duration_since(due));
                }
            }
            let sent = Sent {
                due,
                sent: sent_at,
                measured,
            };
            self.flying += 1;
            if !self.config.keep_alive {
                // Its own connection, written once connected: the connect is
                // part of the request's time.
                self.conns[i].in_flight.push_back(sent);
                self.open(i, now);
                let conn = &mut self.conns[i];
                if conn.stream.is_some() {
                    conn.out.extend_from_slice(&self.config.request);
                }
                continue;
            }
            let conn = &mut self.conns[i];
            if conn.out.is_empty() {
                self.touched.push(i);
            }
            conn.out.extend_from_slice(&self.config.request);
            conn.in_flight.push_back(sent);
        }
        while let Some(i) = self.touched.pop() {
            self.flush(i, now);
        }
    }

    fn open(&mut self, i: usize, now: Instant) {
        let conn = &mut self.conns[i];
        conn.connected = false;
        conn.since = now;
        conn.out.clear();
        conn.out_at = 0;
        conn.pending.clear();
        conn.parser = ResponseParser::new(false);
        conn.answered = 0;
        match TcpStream::connect(self.config.addr) {
            Ok(mut stream) => {
                let interest = Interest::READABLE | Interest::WRITABLE;
                match self
                    .poll
                    .registry()
                    .register(&mut stream, Token(i), interest)
                {
                    Ok(()) => conn.stream = Some(stream),
                    Err(e) => self.connect_failed(i, &e, now),
                }
            }
            Err(e) => self.connect_failed(i, &e, now),
        }
    }

    /// A connection that never opened: one failed attempt, charged to the
    /// budget (or, in open loop, to the queue) so a count-bounded run against
    /// a dead server still ends. Without keep-alive the request it was
    /// opened for is that attempt, charged when it was given out.
    fn connect_failed(&mut self, i: usize, e: &io::Error, now: Instant) {
        self.conns[i].stream = None;
        self.conns[i].connected = false;
        let charged = if !self.config.keep_alive {
            self.lose(i, FailureKind::of_io(e), now);
            None
        } else if let Some(plan) = &mut self.plan {
            plan.take().map(|(_, measured)| measured)
        } else if now >= self.measure_from {
            match &mut self.budget {
                Some(0) => None,
                Some(n) => {
                    *n -= 1;
                    Some(true)
                }
                None => Some(true),
            }
        } else {
            None
        };
        if charged == Some(true) {
            self.report.attempts += 1;
            *self
                .report
                .failures
                .entry(FailureKind::of_io(e))
                .or_default() += 1;
        }
        // Doubling up to 32 times the first wait: out of descriptors or
        // refused, a storm of reconnects would only make it worse.
        let conn = &mut self.conns[i];
        let backoff = RETRY_AFTER * (1 << conn.failed_connects.min(5));
        conn.failed_connects += 1;
        conn.backing_off = true;
        self.retry.push((now + backoff, i));
    }

    /// Drops connection `i`, counting what was in flight on it as failed
    /// with `kind`, and opens it again.
    fn fail(&mut self, i: usize, kind: FailureKind, now: Instant) {
        let conn = &mut self.conns[i];
        if let Some(mut stream) = conn.stream.take() {
            let _ = self.poll.registry().deregister(&mut stream);
        }
        conn.connected = false;
        self.lose(i, kind, now);
        if self.finished() || self.measure_until.is_some_and(|end| now >= end) {
            return;
        }
        self.reconnect(i, now);
    }

    /// Counts what was in flight on connection `i` as failed with `kind`
    /// (unfinished once the run's time is up).
    fn lose(&mut self, i: usize, kind: FailureKind, now: Instant) {
        let conn = &mut self.conns[i];
        self.flying -= conn.in_flight.len();
        let lost = conn.in_flight.drain(..).filter(|s| s.measured).count() as u64;
        if self.past_end(now) {
            self.report.unfinished += lost;
        } else if lost > 0 {
            *self.report.failures.entry(kind).or_default() += lost;
        }
    }

    /// The server ended connection `i` before anything of the next response
    /// came. On a connection that answered before, it may have closed it as
    /// done while those requests were on their way: RFC 9112 §9.3.1 lets a
    /// client send them again (GET is idempotent), as after a close it
    /// announced. On a new connection, or mid-response, they failed.
    fn dropped(&mut self, i: usize, kind: FailureKind, now: Instant) {
        let conn = &self.conns[i];
        let nothing_begun = conn.parser.is_idle() && conn.pending.is_empty();
        let reused = conn.answered > 0;
        if reused && nothing_begun && matches!(kind, FailureKind::Closed | FailureKind::Reset) {
            self.close_announced(i, now);
        } else {
            self.fail(i, kind, now);
        }
    }

    /// A closed connection's next step: with keep-alive it opens again at
    /// once; without, it waits for its next request.
    fn reconnect(&mut self, i: usize, now: Instant) {
        if self.config.keep_alive {
            self.open(i, now);
        } else {
            self.mark_idle(i);
        }
    }

    fn on_event(&mut self, i: usize, read: Read, writable: bool, now: Instant) {
        if self.conns[i].stream.is_none() {
            return;
        }
        if !self.conns[i].connected {
            let stream = self.conns[i].stream.as_ref().expect("checked above");
            match stream.take_error() {
                Ok(Some(e)) | Err(e) => {
                    if let Some(mut stream) = self.conns[i].stream.take() {
                        let _ = self.poll.registry().deregister(&mut stream);
                    }
                    self.connect_failed(i, &e, now);
                    return;
                }
                Ok(None) => {}
            }
            match stream.peer_addr() {
                Ok(_) => {
                    let _ = stream.set_nodelay(true);
                    self.conns[i].connected = true;
                    self.conns[i].failed_connects = 0;
                    self.mark_idle(i);
                }
                // Still connecting: this was a spurious wakeup.
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                Err(e) => {
                    if let Some(mut stream) = self.conns[i].stream.take() {
                        let _ = self.poll.registry().deregister(&mut stream);
                    }
                    self.connect_failed(i, &e, now);
                    return;
                }
            }
        }
        if read != Read::No {
            self.read(i, read == Read::ToEnd, now);
        }
        if writable && self.conns[i].stream.is_some() {
            self.flush(i, now);
        }
    }

    fn mark_idle(&mut self, i: usize) {
        if !self.conns[i].listed && self.ready(i) {
            self.conns[i].listed = true;
            self.idle.push(i);
        }
    }

    /// Connection `i` can take another request: with keep-alive, when open
    /// and below its pipeline; without, when closed and not backing off.
    fn ready(&self, i: usize) -> bool {
        let conn = &self.conns[i];
        if self.config.keep_alive {
            conn.connected && conn.in_flight.len() < self.config.pipeline
        } else {
            conn.stream.is_none() && conn.in_flight.is_empty() && !conn.backing_off
        }
    }

    /// Writes what connection `i` has queued, as far as the socket takes it.
    fn flush(&mut self, i: usize, now: Instant) {
        let conn = &mut self.conns[i];
        let Some(stream) = conn.stream.as_mut() else {
            return;
        };
        while conn.out_at < conn.out.len() {
            match stream.write(&conn.out[conn.out_at..]) {
                Ok(0) => return self.dropped(i, FailureKind::Closed, now),
                Ok(n) => conn.out_at += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.dropped(i, FailureKind::of_io(&e), now),
            }
        }
        conn.out.clear();
        conn.out_at = 0;
    }

    /// Reads what connection `i` has received and records every response in it.
    fn read(&mut self, i: usize, to_end: bool, now: Instant) {
        loop {
            let conn = &mut self.conns[i];
            let Some(stream) = conn.stream.as_mut() else {
                return;
            };
            let n = match stream.read(&mut self.scratch) {
                Ok(0) => return self.closed_by_server(i, now),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return self.dropped(i, FailureKind::of_io(&e), now),
            };
            if now >= self.measure_from && !self.past_end(now) {
                self.report.bytes_read += n as u64;
            }
            // A short read took all there was; more will come as a new edge
            // (edge-triggered epoll), unless the close already came with it.
            let drained = !to_end && n < self.scratch.len();
            // Parse straight from the scratch buffer unless a partial head waits.
            let mut bytes = std::mem::take(&mut self.conns[i].pending);
            let from_pending = !bytes.is_empty();
            if from_pending {
                bytes.extend_from_slice(&self.scratch[..n]);
            }
            let mut at = 0;
            let total = if from_pending { bytes.len() } else { n };
            loop {
                let slice = if from_pending {
                    &bytes[at..total]
                } else {
                    &self.scratch[at..total]
                };
                match self.conns[i].parser.advance("GET", slice) {
                    Ok((used, Some(response))) => {
                        at += used;
                        let closes = response.summary.closes;
                        if !self.answered(i, &response.summary, now) {
                            return;
                        }
                        // Without keep-alive the answer was all it was opened for.
                        if closes || !self.config.keep_alive {
                            return self.close_announced(i, now);
                        }
                    }
                    Ok((used, None)) => {
                        at += used;
                        break;
                    }
                    Err(e) => {
                        return self.fail(i, FailureKind::of_response(&e), now);
                    }
                }
            }
            let rest = if from_pending {
                &bytes[at..total]
            } else {
                &self.scratch[at..total]
            };
            let mut keep = Vec::new();
            keep.extend_from_slice(rest);
            if from_pending {
                bytes.clear();
                bytes.extend_from_slice(&keep);
                self.conns[i].pending = bytes;
            } else {
                self.conns[i].pending = keep;
            }
            if drained {
                return;
            }
        }
    }

    /// The server said it closes after the response just read (or the run
    /// does, without keep-alive): what is still in flight was never
    /// answered, so it goes again on a new connection.
    fn close_announced(&mut self, i: usize, now: Instant) {
        let conn = &mut self.conns[i];
        if let Some(mut stream) = conn.stream.take() {
            let _ = self.poll.registry().deregister(&mut stream);
        }
        conn.connected = false;
        self.flying -= conn.in_flight.len();
        self.resend.extend(conn.in_flight.drain(..));
        if self.finished() || self.measure_until.is_some_and(|end| now >= end) {
            return;
        }
        self.reconnect(i, now);
    }

    /// The server closed: a body that ran to the close ends here; requests
    /// still waiting were lost with the connection, or go again when
    /// [`Worker::dropped`] says they may.
    fn closed_by_server(&mut self, i: usize, now: Instant) {
        let conn = &mut self.conns[i];
        if conn.parser.is_idle() {
            return self.dropped(i, FailureKind::Closed, now);
        }
        if let Ok(response) = conn.parser.end_of_stream() {
            // A body delimited by the close announced it: what was asked
            // behind it goes again, as after `Connection: close`.
            if self.answered(i, &response.summary, now) {
                self.close_announced(i, now);
            }
            return;
        }
        self.fail(i, FailureKind::Closed, now);
    }

    /// Records a response on connection `i`; false when it answered
    /// nothing asked, and the connection was dropped for it.
    fn answered(&mut self, i: usize, summary: &ResponseSummary, now: Instant) -> bool {
        let conn = &mut self.conns[i];
        let Some(sent) = conn.in_flight.pop_front() else {
            // An answer nobody asked for: the server is out of step, which
            // is an error of its own even with nothing else in flight.
            if now >= self.measure_from {
                *self
                    .report
                    .failures
                    .entry(FailureKind::BadResponse)
                    .or_default() += 1;
            }
            self.fail(i, FailureKind::BadResponse, now);
            return false;
        };
        self.flying -= 1;
        conn.answered += 1;
        self.mark_idle(i);
        if let Some(print) = self.on_response {
            print(summary);
        }
        if !sent.measured {
            self.warmup_answered.0 += 1;
            return true;
        }
        // Past the end the run's time is up: an answer then is counted as
        // unfinished, as if the run had stopped on time.
        if self.past_end(now) {
            self.report.unfinished += 1;
            return true;
        }
        let report = &mut self.report;
        report.responses += 1;
        report.body_bytes += summary.body_len;
        match self.statuses.get_mut(usize::from(summary.status)) {
            Some(n) => *n += 1,
            None => *report.statuses.entry(summary.status).or_default() += 1,
        }
        let micros = |d: Duration| u64::try_from(d.as_micros()).unwrap_or(u64::MAX).max(1);
        let _ = report
            .latency
            .record(micros(now.saturating_duration_since(sent.sent)));
        if let Some(corrected) = &mut report.corrected {
            let _ = corrected.record(micros(now.saturating_duration_since(sent.due)));
        }
        let tick = (now.saturating_duration_since(self.measure_from).as_nanos()
            / super::TICK.as_nanos()) as usize;
        if report.ticks.len() <= tick {
            report.ticks.resize(tick + 1, 0);
        }
        report.ticks[tick] += 1;
        true
    }

    /// Times out what waited too long.
    fn sweep(&mut self, now: Instant) {
        let timeout = self.config.timeout;
        for i in 0..self.conns.len() {
            let conn = &self.conns[i];
            if conn.stream.is_none() {
                continue;
            }
            let waiting_since = match conn.in_flight.front() {
                Some(sent) => Some(sent.sent),
                None if !conn.connected => Some(conn.since),
                None => None,
            };
            if waiting_since.is_some_and(|t| now.saturating_duration_since(t) >= timeout) {
                if !conn.connected {
                    let e = io::Error::from(io::ErrorKind::TimedOut);
                    if let Some(mut stream) = self.conns[i].stream.take() {
                        let _ = self.poll.registry().deregister(&mut stream);
                    }
                    self.connect_failed(i, &e, now);
                } else {
                    self.fail(i, FailureKind::TimedOut, now);
                }
            }
        }
    }

    /// Opens again the connections whose backoff is over.
    fn reopen(&mut self, now: Instant) {
        let mut due = Vec::new();
        self.retry.retain(|&(at, i)| {
            if at <= now {
                due.push(i);
                false
            } else {
                true
            }
        });
        for i in due {
            self.conns[i].backing_off = false;
            if !self.finished() {
                self.reconnect(i, now);
            }
        }
    }

    /// Adds what happened since the last call to the shared counters.
    fn publish(&mut self) {
        let failures: u64 = self.report.failures.values().sum();
        let (responses_before, failures_before) = self.published;
        self.progress
            .responses
            .fetch_add(self.report.responses - responses_before, Ordering::Relaxed);
        self.progress
            .failures
            .fetch_add(failures - failures_before, Ordering::Relaxed);
        self.published = (self.report.responses, failures);
        let (warmup, published) = self.warmup_answered;
        self.progress
            .warmup_responses
            .fetch_add(warmup - published, Ordering::Relaxed);
        self.warmup_answered.1 = warmup;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An answer read after the run's end is not counted as a response
    /// (the time reported stops at the end) but as unfinished.
    #[test]
    fn answers_after_the_end_are_unfinished() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let config = LoadConfig {
            addr: listener.local_addr().unwrap(),
            request: b"GET / HTTP/1.1\r\n\r\n".to_vec(),
            connections: 1,
            threads: 1,
            pipeline: 2,
            requests: None,
            duration: Some(Duration::from_secs(1)),
            warmup: Duration::ZERO,
            rate: None,
            timeout: Duration::from_secs(1),
            keep_alive: true,
        };
        let progress = Progress::default();
        let start = Instant::now();
        let mut worker = Worker::new(&config, &progress, None, 1, None, None, start).unwrap();
        let summary = ResponseSummary {
            status_line: "HTTP/1.1 200 OK".into(),
            status: 200,
            body_len: 0,
            closes: false,
        };
        for _ in 0..3 {
            worker.conns[0].in_flight.push_back(Sent {
                due: start,
                sent: start,
                measured: true,
            });
            worker.flying += 1;
        }
        assert!(worker.answered(0, &summary, start + Duration::from_millis(999)));
        assert!(worker.answered(0, &summary, start + Duration::from_millis(1001)));
        assert_eq!((worker.report.responses, worker.report.unfinished), (1, 1));
        assert_eq!(worker.report.ticks.iter().sum::<u64>(), 1);
        assert_eq!(worker.report.timeline(), [1]);
        // The one never answered joins the one answered too late.
        worker.tally(start + Duration::from_millis(1002));
        assert_eq!((worker.report.responses, worker.report.unfinished), (1, 2));
        assert_eq!(worker.report.statuses.get(&200), Some(&1));
    }
}

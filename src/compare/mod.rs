//! `twinserve compare`: runs the corpus in `compare/` against the raw and the
//! hyper backend and the textbook server side by side (and any extra loopback
//! servers), records what
//! each did, judges it against the RFC and against the pinned expectations,
//! and explains every difference. This is where two servers become a lesson.
//!
//! It starts its servers through [`crate::spawn`] and talks to them only
//! through sockets; nothing in the serving path uses this module.

pub mod boundaries;
pub mod case;
mod command;
pub mod consequence;
pub mod report;
mod runner;
pub mod sandbox;
pub mod source;
pub mod textbook;
mod verdict;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::introspection::ParsedRequest;
use crate::{Backend, Config, ServerHandle, StartError};
pub use boundaries::{Smuggling, smuggling};
pub use case::Case;
pub use command::{Format, Options, Target, run};
pub use consequence::{Consequence, Grade};
pub use runner::{BASELINE_REQUEST, Crash, End, ObservedResponse, Outcome, leaks};
pub use verdict::{Difference, Pattern};

/// What the secret file beside the root holds; any response containing it
/// (or a well-known system file, see [`leaks`]) is a leak.
pub const SECRET: &[u8] = b"twinserve-compare: SECRET placed outside the document root";

/// Limits for the servers `compare` starts: shorter timeouts than `serve`'s
/// defaults, so the slow-sender cases end in seconds; everything else as served.
pub fn compare_limits() -> crate::Limits {
    crate::Limits {
        head_timeout: Duration::from_secs(2),
        idle_timeout: Duration::from_secs(2),
        ..crate::Limits::default()
    }
}

/// Workers of the raw server compare starts: enough for every case to run
/// at once, and the number of slow clients [`slow_clients`] needs.
pub const RAW_WORKERS: usize = 256;

/// How long the normal client of [`slow_clients`] waits: half the head
/// timeout, so a server that must wait for slow heads to time out cannot
/// answer in time, while one that is not held up answers in milliseconds.
const PATIENCE: Duration = Duration::from_secs(1);

/// The slowloris lesson, measured: what a normal client got while as many
/// connections as raw has workers each sent half a head and then nothing.
/// Fields in alphabetical order: the order of its keys in compare's JSON schema.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SlowClients {
    pub column: String,
    pub head_timeout_ms: u64,
    pub patience_ms: u64,
    /// The normal client got its answer within the patience.
    pub served: bool,
    pub slow_connections: usize,
}

impl SlowClients {
    /// `None` if the normal client was served, else why it was not.
    pub fn why_not_served(&self) -> Option<&'static str> {
        match (self.served, self.slow_connections) {
            (true, _) => None,
            (false, 0) => Some("no connection was accepted"),
            (false, _) => Some("every worker is waiting for a slow head"),
        }
    }
}

/// Runs the slowloris experiment against every column compare ran (raw,
/// hyper, the textbook server and any `--target`), one after the other.
///
/// The textbook server has no timeouts, but nothing here can hang on it: its
/// handler reads once and answers whatever that read held (the half heads
/// included), the normal client waits at most its patience (a second), and dropping the
/// slow connections ends any read still waiting. A column that refuses the
/// first connection gets no more tries.
pub fn slow_clients(fixture: &Fixture, columns: &[Column]) -> Vec<SlowClients> {
    use std::io::{Read, Write};
    columns
        .iter()
        .map(|column| {
            let addr = match column.server {
                Server::Textbook => fixture.textbook_addr().unwrap_or(column.addr),
                _ => column.addr,
            };
            (column.name.as_str(), addr)
        })
        .map(|(name, addr)| {
            let slow: Vec<std::net::TcpStream> = (0..RAW_WORKERS)
                .map_while(|_| {
                    let mut s =
                        std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
                    s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
                        .ok()?;
                    Some(s)
                })
                .collect();
            let served = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2))
                .and_then(|mut normal| {
                    normal.set_read_timeout(Some(PATIENCE))?;
                    normal
                        .write_all(b"GET /HelloWorld.html HTTP/1.1\r\nHost: localhost\r\n\r\n")?;
                    let mut first = [0u8; 12];
                    normal.read_exact(&mut first)?;
                    Ok(first.starts_with(b"HTTP/1.1 200"))
                })
                .unwrap_or(false);
            let result = SlowClients {
                column: name.to_string(),
                slow_connections: slow.len(),
                head_timeout_ms: compare_limits().head_timeout.as_millis() as u64,
                patience_ms: PATIENCE.as_millis() as u64,
                served,
            };
            drop(slow);
            result
        })
        .collect()
}

/// Why a comparison could not run; each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum CompareError {
    #[error("cannot load the corpus (pass --cases DIR)")]
    Corpus(#[source] case::CaseError),
    #[error("no case has the id {id:?} in {}", dir.display())]
    NoSuchCase { id: String, dir: std::path::PathBuf },
    #[error("{0} (run from the project folder or pass --root DIR)")]
    Fixture(FixtureError),
    #[error("cannot write the sandbox for --fixture")]
    Sandbox(#[source] std::io::Error),
    #[error(transparent)]
    Client(#[from] crate::client::ClientError),
    #[error("cannot write {}", path.display())]
    Write {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Why the fixture's site copy or servers could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum FixtureError {
    #[error("cannot prepare the site copy: {0}")]
    Copy(std::io::Error),
    #[error(transparent)]
    Start(#[from] StartError),
    #[error("cannot start the textbook server: {0}")]
    Textbook(std::io::Error),
}

/// What stands behind a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    /// One of twinserve's backends, pinned in the case files.
    Backend(Backend),
    /// The textbook server, pinned in the case files as `expect.textbook`.
    Textbook,
    /// An extra `--target`: never pinned.
    Target,
}

/// A server the corpus runs against: one of ours, the textbook server (both
/// pinned in the case files) or an extra `--target`.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    /// Where it listened when the run began (the textbook server's moves
    /// when it has to be restarted).
    pub addr: SocketAddr,
    pub server: Server,
}

/// The name of the textbook server's column and of its pin.
pub const TEXTBOOK: &str = "textbook";

/// One case's result on every column.
#[derive(Debug, Clone)]
pub struct CaseResult {
    pub case_id: String,
    /// In column order.
    pub outcomes: Vec<Outcome>,
    /// Per column: does its outcome conform to the RFC?
    pub conforms: Vec<bool>,
    /// Per column: the worst its outcome shows.
    pub consequences: Vec<Consequence>,
    /// raw versus hyper.
    pub difference: Difference,
    /// Every request each of our backends took from the stream, as it parsed
    /// it (introspection), raw then hyper.
    pub parsed: Vec<Vec<ParsedRequest>>,
    /// Pairs of columns that split the bytes into different numbers of
    /// messages (see [`boundaries`]).
    pub smuggling: Vec<Smuggling>,
}

impl CaseResult {
    /// A case whose run failed before any outcome: nothing to report.
    fn empty(case_id: String) -> CaseResult {
        CaseResult {
            case_id,
            outcomes: Vec::new(),
            conforms: Vec::new(),
            consequences: Vec::new(),
            difference: Difference::Agree,
            parsed: Vec::new(),
            smuggling: Vec::new(),
        }
    }
}

/// Whether one column's server answered the baseline request through the
/// run. Fields in alphabetical order: the order of its keys in compare's
/// JSON schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reachability {
    /// It answered before the first case.
    pub answered_before: bool,
    pub column: String,
    /// Times it had died and was started again (the textbook server only).
    pub restarts: usize,
    /// When it stopped answering, if it did.
    pub stopped: Option<Stopped>,
}

/// Where a column stopped answering the baseline request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stopped {
    /// The theme after which it no longer answered.
    pub after_theme: String,
    /// The first case, in corpus order, after which the probe found the
    /// server gone ([`Crash::Server`]): the bytes it died on, when known.
    pub died_on: Option<String>,
    /// The last case, in corpus order, it gave any response to; `None` if
    /// it answered none. A `--target` runs its cases one at a time, so this
    /// is exact for it, and the case it died on is the one marked
    /// [`Crash::Server`]. Our own columns run a theme's cases at once: cases
    /// of the same theme after this one may have been on the wire when one
    /// of them stopped answering.
    pub last_answered: Option<String>,
}

/// A whole comparison: the columns, the cases and their results, in case
/// order, and the load run when one was asked for.
#[derive(Debug)]
pub struct Comparison {
    pub columns: Vec<Column>,
    pub cases: Vec<Case>,
    pub results: Vec<CaseResult>,
    /// Per column, in column order: did it answer through the run?
    pub reachability: Vec<Reachability>,
    pub load: Vec<LoadResult>,
    /// The slowloris lesson, when it was run.
    pub slow_clients: Vec<SlowClients>,
}

/// The client's load run, the same for every column.
#[derive(Debug, Clone)]
pub struct LoadSettings {
    pub path: String,
    pub threads: usize,
    pub requests: usize,
    pub keep_alive: bool,
}

/// One column's load figures, from the client's histogram. Fields in
/// alphabetical order: the order of its keys in compare's JSON schema.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadResult {
    pub column: String,
    pub failures: std::collections::BTreeMap<String, u64>,
    pub max_ms: f64,
    pub mb_per_s: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub req_per_s: f64,
    pub requests: u64,
    pub responses: u64,
}

/// Longest one column's load may run, whatever the request count.
const LOAD_TIME_LIMIT: Duration = Duration::from_secs(30);

/// Loads every column in turn on the client's load engine with the same
/// settings: `threads` connections (each a connection per request unless
/// `keep_alive`), `threads × requests` requests in all. `on_progress` is told
/// a few times a second how many of a column's requests have ended, with
/// the column's index (for a progress bar).
pub fn run_load(
    columns: &[Column],
    settings: &LoadSettings,
    on_progress: &(dyn Fn(usize, &Column, u64) + Sync),
) -> Result<Vec<LoadResult>, crate::client::ClientError> {
    use crate::client::load::{self, LoadConfig, Progress};
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let connections = settings.threads.max(1);
    columns
        .iter()
        .enumerate()
        .map(|(index, column)| {
            let request = crate::client::request_bytes(&crate::client::ClientConfig {
                keep_alive: settings.keep_alive,
                ..crate::client::ClientConfig::new(column.addr, settings.path.clone())
            });
            let config = LoadConfig {
                addr: column.addr,
                request,
                connections,
                threads: cores.min(connections),
                pipeline: 1,
                requests: Some((connections as u64).saturating_mul(settings.requests as u64)),
                duration: Some(LOAD_TIME_LIMIT),
                warmup: Duration::ZERO,
                rate: None,
                timeout: LOAD_TIMEOUT,
                keep_alive: settings.keep_alive,
            };
            load::make_room(config.connections, config.threads)?;
            let progress = Progress::default();
            let (done, finished) = std::sync::mpsc::channel::<()>();
            let report = std::thread::scope(|scope| {
                let progress = &progress;
                scope.spawn(move || {
                    // Ends as soon as the run does: `done` is dropped then.
                    while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                        finished.recv_timeout(Duration::from_millis(100))
                    {
                        let ended = progress.responses.load(Ordering::Relaxed)
                            + progress.failures.load(Ordering::Relaxed);
                        on_progress(index, column, ended);
                    }
                });
                let report = load::run(&config, progress, None);
                drop(done);
                report
            })
            .map_err(crate::client::ClientError::Threads)?;
            let secs = report.elapsed.as_secs_f64().max(1e-9);
            let ms = |q: f64| report.latency.value_at_quantile(q) as f64 / 1000.0;
            Ok(LoadResult {
                column: column.name.clone(),
                requests: report.attempts,
                responses: report.responses,
                failures: report
                    .failures
                    .iter()
                    .map(|(kind, n)| (kind.name().to_string(), *n))
                    .collect(),
                req_per_s: report.responses as f64 / secs,
                mb_per_s: report.body_bytes as f64 / secs / 1e6,
                p50_ms: ms(0.5),
                p90_ms: ms(0.9),
                p99_ms: ms(0.99),
                max_ms: report.latency.max() as f64 / 1000.0,
            })
        })
        .collect()
}

/// Limit on connecting and on each response in a load run, as the client's.
const LOAD_TIMEOUT: Duration = Duration::from_secs(5);

/// A temporary copy of the site with the secret just outside its root, and
/// the servers compare runs: raw and hyper, normal and introspecting, and the
/// textbook server.
pub struct Fixture {
    /// Declared before `dir`: it is stopped (and its threads joined) before
    /// the root it serves is removed.
    textbook: TextbookSlot,
    dir: tempfile::TempDir,
    pub raw: ServerHandle,
    pub hyper: ServerHandle,
    pub raw_parse: ServerHandle,
    pub hyper_parse: ServerHandle,
}

impl Fixture {
    /// The fixture compare runs: the textbook server is Part B, so one
    /// case's crash costs only that case's connection.
    pub fn start(site: &Path) -> Result<Fixture, FixtureError> {
        Fixture::with_textbook(site, textbook::Part::B)
    }

    /// The fixture with the textbook server's `part`; Part A dies at the
    /// first crash and is restarted before the next case.
    pub fn with_textbook(site: &Path, part: textbook::Part) -> Result<Fixture, FixtureError> {
        let dir = shallow_tempdir().map_err(FixtureError::Copy)?;
        let root = sandbox::write(site, dir.path()).map_err(FixtureError::Copy)?;
        let start = |backend, introspect| {
            let mut config = Config::new(&root);
            config.introspect = introspect;
            config.threads = match backend {
                Backend::Raw => std::num::NonZeroUsize::new(RAW_WORKERS),
                Backend::Hyper => None,
            };
            config.limits = compare_limits();
            crate::spawn(backend, config)
        };
        let textbook = TextbookSlot::start(&root, part)?;
        Ok(Fixture {
            textbook,
            raw: start(Backend::Raw, false)?,
            hyper: start(Backend::Hyper, false)?,
            raw_parse: start(Backend::Raw, true)?,
            hyper_parse: start(Backend::Hyper, true)?,
            dir,
        })
    }

    pub fn root(&self) -> std::path::PathBuf {
        self.dir.path().join("root")
    }

    /// Where the textbook server listens now, restarting it first if it has
    /// died, so that a crash in one case does not refuse every later one.
    pub fn textbook_addr(&self) -> std::io::Result<SocketAddr> {
        self.textbook.target().map(|(addr, _)| addr)
    }

    /// Where the textbook server listens now (restarted first if it died),
    /// and the ledger of that server's connections.
    pub fn textbook_target(&self) -> std::io::Result<(SocketAddr, textbook::Ledger)> {
        self.textbook.target()
    }

    /// How many times the textbook server had died and was restarted.
    pub fn textbook_restarts(&self) -> usize {
        self.textbook.restarts.load(Ordering::SeqCst)
    }

    /// Whether the textbook server running now still accepts.
    pub fn textbook_is_alive(&self) -> bool {
        lock(&self.textbook.server).is_alive()
    }
}

/// A temporary folder at a fixed, shallow depth: directly under `/tmp` when
/// that is a writable folder, else in the system's temporary folder. The
/// corpus's `..` chains reach `/` only from so many levels down, so the
/// committed report must not depend on how deep `TMPDIR` is (macOS puts it
/// under `/var/folders/..`, five levels down).
fn shallow_tempdir() -> std::io::Result<tempfile::TempDir> {
    let builder = {
        let mut builder = tempfile::Builder::new();
        builder.prefix("twinserve-compare-");
        builder
    };
    // Creating the folder is the test that `/tmp` is a writable folder.
    builder
        .tempdir_in("/tmp")
        .or_else(|_| builder.tempdir_in(std::env::temp_dir()))
}

/// The textbook server and what it takes to start it again.
struct TextbookSlot {
    root: std::path::PathBuf,
    part: textbook::Part,
    server: Mutex<textbook::Textbook>,
    restarts: AtomicUsize,
}

impl TextbookSlot {
    fn start(root: &Path, part: textbook::Part) -> Result<TextbookSlot, FixtureError> {
        let server = textbook::Textbook::start(root, part).map_err(FixtureError::Textbook)?;
        Ok(TextbookSlot {
            root: root.to_path_buf(),
            part,
            server: Mutex::new(server),
            restarts: AtomicUsize::new(0),
        })
    }

    fn server_addr(&self) -> SocketAddr {
        lock(&self.server).local_addr()
    }

    fn target(&self) -> std::io::Result<(SocketAddr, textbook::Ledger)> {
        let mut server = lock(&self.server);
        if !server.is_alive() {
            // Assigning drops the dead server, which stops it and joins its
            // threads; its ledger lives on in the handles given out.
            *server = textbook::Textbook::start(&self.root, self.part)?;
            self.restarts.fetch_add(1, Ordering::SeqCst);
        }
        Ok((server.local_addr(), server.ledger()))
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// How long the probe with the baseline request may take on our own
/// servers: a live local server answers in milliseconds, a dead one refuses
/// at once.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// The same for a `--target`: a student's server may be slower, or still
/// busy with the connection before, and a busy server is not a dead one.
const TARGET_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// How long a probe of `column` may take.
fn probe_timeout(column: &Column) -> Duration {
    match column.server {
        Server::Target => TARGET_PROBE_TIMEOUT,
        _ => PROBE_TIMEOUT,
    }
}

/// How long to wait for the textbook server to record a connection's fate
/// after the client saw it close.
const FATE_BOUND: Duration = Duration::from_millis(500);
/// Runs of one case on a Part A textbook server that keeps dying under it
/// (on other cases' bytes) before the case is reported as it last ran.
const TEXTBOOK_TRIES: usize = 4;

/// Runs `cases` against raw, hyper, the textbook server and `targets`, one
/// theme at a time in the order given; results in case order. On raw, hyper
/// and the textbook server a theme's cases run at once, each on its own
/// connections. Each target walks the theme's cases one at a time, in
/// order, on a thread of its own beside them: a student's server often has
/// one thread and a backlog of one, and cases queued behind another would
/// time out, or be reset when it dies, and be blamed for it; one at a time,
/// the probe after a silent close names exactly the case it died on. Every
/// column is probed with the baseline request before the first theme and
/// after each one, so that a server that stops answering is placed in the run.
pub fn run_corpus(
    cases: Vec<Case>,
    fixture: &Fixture,
    targets: &[(String, SocketAddr)],
    on_done: &(dyn Fn(&CaseResult) + Sync),
) -> Comparison {
    let mut columns = vec![
        Column {
            name: "raw".into(),
            addr: fixture.raw.local_addr(),
            server: Server::Backend(Backend::Raw),
        },
        Column {
            name: "hyper".into(),
            addr: fixture.hyper.local_addr(),
            server: Server::Backend(Backend::Hyper),
        },
        Column {
            name: TEXTBOOK.into(),
            addr: fixture.textbook.server_addr(),
            server: Server::Textbook,
        },
    ];
    columns.extend(targets.iter().map(|(name, addr)| Column {
        name: name.clone(),
        addr: *addr,
        server: Server::Target,
    }));
    let parse_addrs = [
        fixture.raw_parse.local_addr(),
        fixture.hyper_parse.local_addr(),
    ];
    let restarts_before = fixture.textbook_restarts();
    let mut reachability: Vec<Reachability> = probe_columns(&columns, fixture)
        .into_iter()
        .zip(&columns)
        .map(|(answered, column)| Reachability {
            answered_before: answered,
            column: column.name.clone(),
            restarts: 0,
            stopped: None,
        })
        .collect();
    let mut results: Vec<CaseResult> = Vec::with_capacity(cases.len());
    // Ours first, then the targets: `columns` keeps that order.
    let ours = columns
        .iter()
        .take_while(|c| c.server != Server::Target)
        .count();
    for theme in cases.chunk_by(|a, b| a.theme == b.theme) {
        results.extend(std::thread::scope(|scope| {
            let handles: Vec<_> = theme
                .iter()
                .map(|case| {
                    let columns = &columns[..ours];
                    scope.spawn(move || run_ours(case, columns, fixture, &parse_addrs))
                })
                .collect();
            let targets: Vec<_> = columns[ours..]
                .iter()
                .map(|column| {
                    scope.spawn(move || {
                        theme
                            .iter()
                            .map(|case| run_column(case, column, fixture))
                            .collect::<Vec<Outcome>>()
                    })
                })
                .collect();
            let mut targets: Vec<std::vec::IntoIter<Outcome>> = targets
                .into_iter()
                .map(|t| t.join().unwrap_or_default().into_iter())
                .collect();
            handles
                .into_iter()
                .zip(theme)
                .map(|(handle, case)| {
                    // Taken before anything can return: each target's
                    // outcomes stay in step with the cases.
                    let on_targets: Vec<Outcome> = targets
                        .iter_mut()
                        .map(|t| {
                            t.next().unwrap_or_else(|| {
                                Outcome::refused("the client thread died".into())
                            })
                        })
                        .collect();
                    let Ok((mut outcomes, parsed)) = handle.join() else {
                        return CaseResult::empty(case.id.clone());
                    };
                    outcomes.extend(on_targets);
                    let result = judge(case, &columns, outcomes, parsed);
                    on_done(&result);
                    result
                })
                .collect::<Vec<_>>()
        }));
        let answered = probe_columns(&columns, fixture);
        for (i, (reach, answered)) in reachability.iter_mut().zip(answered).enumerate() {
            if reach.answered_before && reach.stopped.is_none() && !answered {
                reach.stopped = Some(Stopped {
                    after_theme: theme[0].theme.clone(),
                    died_on: results
                        .iter()
                        .find(|r| {
                            r.outcomes
                                .get(i)
                                .is_some_and(|o| o.crash == Some(Crash::Server))
                        })
                        .map(|r| r.case_id.clone()),
                    last_answered: results
                        .iter()
                        .rev()
                        .find(|r| r.outcomes.get(i).is_some_and(|o| !o.responses.is_empty()))
                        .map(|r| r.case_id.clone()),
                });
            }
        }
    }
    for (reach, column) in reachability.iter_mut().zip(&columns) {
        if column.server == Server::Textbook {
            reach.restarts = fixture.textbook_restarts() - restarts_before;
        }
    }
    Comparison {
        columns,
        cases,
        results,
        reachability,
        load: Vec::new(),
        slow_clients: Vec::new(),
    }
}

/// Whether each column answers the baseline request now, all probed at
/// once. The textbook server is restarted first if it died: its deaths are
/// counted as restarts, and it must answer again once restarted.
fn probe_columns(columns: &[Column], fixture: &Fixture) -> Vec<bool> {
    std::thread::scope(|scope| {
        let probes: Vec<_> = columns
            .iter()
            .map(|column| {
                scope.spawn(move || {
                    let addr = match column.server {
                        Server::Textbook => fixture.textbook_addr(),
                        _ => Ok(column.addr),
                    };
                    addr.is_ok_and(|addr| runner::answers(addr, probe_timeout(column)))
                })
            })
            .collect();
        probes
            .into_iter()
            .map(|probe| probe.join().unwrap_or(false))
            .collect()
    })
}

/// `case` on our own `columns` (raw, hyper, the textbook server) and both
/// parses, all at once: a case then takes as long as its slowest server, not
/// the sum of them.
fn run_ours(
    case: &Case,
    columns: &[Column],
    fixture: &Fixture,
    parse_addrs: &[SocketAddr; 2],
) -> (Vec<Outcome>, Vec<Vec<ParsedRequest>>) {
    std::thread::scope(|scope| {
        let outcomes: Vec<_> = columns
            .iter()
            .map(|column| scope.spawn(move || run_column(case, column, fixture)))
            .collect();
        let parsed: Vec<_> = parse_addrs
            .iter()
            .map(|&addr| {
                scope.spawn(move || {
                    runner::parsed_requests(&runner::run_case(addr, case, b"").received)
                })
            })
            .collect();
        (
            outcomes
                .into_iter()
                .map(|o| {
                    o.join()
                        .unwrap_or_else(|_| Outcome::refused("the client thread died".into()))
                })
                .collect(),
            parsed
                .into_iter()
                .map(|p| p.join().unwrap_or_default())
                .collect(),
        )
    })
}

/// One case's result from its outcomes on every column, in column order.
fn judge(
    case: &Case,
    columns: &[Column],
    outcomes: Vec<Outcome>,
    parsed: Vec<Vec<ParsedRequest>>,
) -> CaseResult {
    let conforms = outcomes.iter().map(|o| case.conforms(o)).collect();
    let consequences = outcomes.iter().map(|o| case.consequence(o)).collect();
    let difference = verdict::classify(&outcomes[0], &outcomes[1]);
    let mut result = CaseResult {
        case_id: case.id.clone(),
        outcomes,
        conforms,
        consequences,
        difference,
        parsed,
        smuggling: Vec::new(),
    };
    result.smuggling = smuggling(columns, &result);
    result
}

/// `case` on one column, with a crash noted when the server died on it.
fn run_column(case: &Case, column: &Column, fixture: &Fixture) -> Outcome {
    if column.server == Server::Textbook {
        return run_textbook(case, fixture);
    }
    let mut outcome = runner::run_case(column.addr, case, SECRET);
    // A close with no answer is allowed on many cases; a server that no
    // longer answers anyone after it has died on these bytes. (A refused
    // connection sent nothing: it cannot have killed the server.)
    if outcome.responses.is_empty()
        && matches!(outcome.end, End::Closed | End::Reset)
        && !runner::answers(column.addr, probe_timeout(column))
    {
        outcome.crash = Some(Crash::Server);
    }
    outcome
}

/// `case` on the textbook server, which says itself which handlers died.
/// When Part A died (on another case's bytes) before it accepted this
/// connection, the case never ran: it runs again on the restarted server.
fn run_textbook(case: &Case, fixture: &Fixture) -> Outcome {
    let mut tries = 0;
    loop {
        tries += 1;
        let (addr, ledger) = match fixture.textbook_target() {
            Ok(target) => target,
            Err(e) => {
                return Outcome::refused(format!("cannot restart the textbook server: {e}"));
            }
        };
        let mut outcome = runner::run_case(addr, case, SECRET);
        // Only a close seen while listening counts: a handler still reading
        // when the client gave up dies of the client's leaving, not of the bytes.
        let fate = match (outcome.end, outcome.local_addr) {
            (End::Closed | End::Reset, Some(local)) => ledger.settled_fate(local, FATE_BOUND),
            _ => None,
        };
        // A refusal can come between the listener's close and the ledger's
        // word that the server stopped: wait for that word, briefly.
        if outcome.end == End::Refused {
            let until = std::time::Instant::now() + FATE_BOUND;
            while !ledger.stopped() && std::time::Instant::now() < until {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        let never_accepted = outcome.responses.is_empty()
            && fate.is_none()
            && matches!(outcome.end, End::Closed | End::Reset | End::Refused)
            && ledger.stopped();
        if never_accepted && tries < TEXTBOOK_TRIES {
            continue;
        }
        outcome.crash = match fate {
            Some(textbook::Fate::HandlerDied) => Some(Crash::Handler),
            Some(textbook::Fate::ServerDied) => Some(Crash::Server),
            _ => None,
        };
        return outcome;
    }
}

/// A pinned expectation that no longer holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mismatch {
    pub case_id: String,
    /// The column's name: `raw`, `hyper` or `textbook`.
    pub column: String,
    pub expected: String,
    pub observed: String,
}

/// Every case whose observed outcome on raw, hyper or the textbook server
/// differs from its pin.
pub fn check(comparison: &Comparison) -> Vec<Mismatch> {
    let mut mismatches = Vec::new();
    for (case, result) in comparison.cases.iter().zip(&comparison.results) {
        for (i, column) in comparison.columns.iter().enumerate() {
            let expected = match column.server {
                Server::Backend(Backend::Raw) => &case.expect.raw,
                Server::Backend(Backend::Hyper) => &case.expect.hyper,
                Server::Textbook => &case.expect.textbook,
                Server::Target => continue,
            };
            let outcome = result.outcomes.get(i);
            if !outcome.is_some_and(|o| expected.matches(o)) {
                mismatches.push(Mismatch {
                    case_id: case.id.clone(),
                    column: column.name.clone(),
                    expected: expected.to_string(),
                    observed: outcome.map_or_else(|| "(not run)".to_string(), Outcome::signature),
                });
            }
        }
    }
    mismatches
}

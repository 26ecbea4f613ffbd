//! Races against the file system, on both backends: while one thread swaps a
//! served file or folder with a symlink out of the root (or with a FIFO) as
//! fast as `RENAME_EXCHANGE` allows, clients keep asking for it. No answer may
//! carry the secret beside the root, no server thread may be left blocked in
//! an `open`, and nothing the swap left behind may stay in the cache.

mod common;

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::{FileTypeExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use rustix::fs::{CWD, FileType, Mode, OFlags, RenameFlags};

use common::{BACKENDS, SECRET, TIMEOUT, TestSite};

/// How long each race runs: long enough for the old path-based lookup to
/// lose it many times over, short enough to keep every test to seconds ...
const RACE: Duration = Duration::from_secs(2);
/// ... and how long it may go on past that on a machine so loaded that the
/// race has not yet seen [`MEANINGFUL`] answers of each kind.
const RACE_MAX: Duration = Duration::from_secs(6);
/// Threads asking for the raced path at once.
const CLIENTS: usize = 4;
/// Requests per client at most, however long the race may still run.
const MAX_REQUESTS: usize = 20_000;
/// Swaps in one race at most (here about 400 000 are made a second).
const MAX_SWAPS: usize = 10_000_000;
/// Answers of each kind (the inside file, and a refusal) a race must have
/// seen: fewer, and the swap never really raced the requests, so a pass
/// would prove nothing.
const MEANINGFUL: usize = 50;
/// In every secret of this file, the big one too; never in inside content.
const SECRET_MARK: &[u8] = b"SECRET-outside-the-root";
/// Past raw's small-file cache limit (64 KiB), so raw streams the file;
/// hyper, which keeps files up to 1 MiB, has it in memory.
const BIG: usize = 100 * 1024;

/// Each race wants the CPUs to itself, and the FIFO test reads the state of
/// every thread in the process, so these tests run one at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn a_file_swapped_with_a_link_out_never_serves_the_secret() {
    let _serial = serial();
    let cpus = Apart::pin();
    assert!(
        reveals_secret(SECRET.as_bytes()),
        "the mark must find the site's secret"
    );
    for backend in BACKENDS {
        for big in [false, true] {
            let site = TestSite::new();
            let root = site.root();
            // Small: cached after the first read. Big: streamed from the
            // descriptor by raw, cached by hyper, with a big secret of its own.
            let (inside, secret_name) = if big {
                let secret = lines(BIG, "BIG-SECRET-outside-the-root");
                std::fs::write(site.dir.path().join("big-secret.txt"), secret).unwrap();
                (lines(BIG, "inside the root, streamed"), "big-secret.txt")
            } else {
                (lines(300, "inside the root, cached"), "secret.txt")
            };
            let what = format!("{backend}, {}-byte file", inside.len());
            std::fs::write(root.join("race.txt"), &inside).unwrap();
            symlink(format!("../{secret_name}"), root.join("race.link")).unwrap();
            let server = site.start(backend);
            let addr = server.local_addr();

            let tally = race(
                &cpus,
                addr,
                "/race.txt",
                &root.join("race.txt"),
                &root.join("race.link"),
                &inside,
            );
            tally.assert_safe_and_meaningful(&what);

            // The link now in the file's place must be refused at once:
            // nothing read while it raced may still be served from the cache.
            leave_the_link_at(&root.join("race.txt"), &root.join("race.link"));
            assert_refused_now(addr, "/race.txt", &what);
        }
    }
}

#[test]
fn a_folder_swapped_with_a_link_out_never_serves_the_secret() {
    let _serial = serial();
    let cpus = Apart::pin();
    for backend in BACKENDS {
        let site = TestSite::new();
        let root = site.root();
        // Named like the secret, so that `pub` -> `..` makes the very same
        // request path name the secret beside the root.
        let inside = lines(300, "a public page inside the root");
        std::fs::create_dir(root.join("pub")).unwrap();
        std::fs::write(root.join("pub/secret.txt"), &inside).unwrap();
        symlink("..", root.join("pub.link")).unwrap();
        let server = site.start(backend);
        let addr = server.local_addr();
        let what = format!("{backend}, folder");

        let tally = race(
            &cpus,
            addr,
            "/pub/secret.txt",
            &root.join("pub"),
            &root.join("pub.link"),
            &inside,
        );
        tally.assert_safe_and_meaningful(&what);

        leave_the_link_at(&root.join("pub"), &root.join("pub.link"));
        assert_refused_now(addr, "/pub/secret.txt", &what);
    }
}

#[test]
fn a_fifo_swapped_in_never_blocks_a_thread() {
    // Few server threads, so that a handful stuck on the FIFO is all of them.
    const THREADS: usize = 4;
    let _serial = serial();
    let cpus = Apart::pin();
    assert_open_calls_are_visible();
    for backend in BACKENDS {
        let site = TestSite::new();
        let root = site.root();
        let (file, fifo) = (root.join("fifo-race.txt"), root.join("fifo-race.fifo"));
        let inside = lines(300, "inside the root, not a pipe");
        std::fs::write(&file, &inside).unwrap();
        rustix::fs::mknodat(
            CWD,
            &fifo,
            FileType::Fifo,
            Mode::from_bits_truncate(0o644),
            0,
        )
        .unwrap();
        let server = site.start_with(backend, |c| c.threads = common::threads(THREADS));
        // Declared after the server so it is dropped first: a thread stuck
        // on the FIFO is let go before the server's drop joins it.
        let _release = ReleaseFifo([file.clone(), fifo.clone()]);
        let addr = server.local_addr();
        let what = format!("{backend}, FIFO");

        let tally = race(&cpus, addr, "/fifo-race.txt", &file, &fifo, &inside);

        // (a) A server with threads left waiting for a writer answers no more.
        let late = thread::scope(|s| {
            let asking: Vec<_> = (0..2 * THREADS)
                .map(|_| s.spawn(|| Client::new(addr).get("/fifo-race.txt")))
                .collect();
            asking
                .into_iter()
                .map(|t| t.join().expect("client thread"))
                .collect::<Vec<_>>()
        });
        let unanswered: Vec<String> = late
            .iter()
            .filter_map(|answer| match answer {
                Ok(a) if a.status == 200 || a.status == 404 => None,
                Ok(a) => Some(format!("status {}", a.status)),
                Err(e) => Some(describe(e)),
            })
            .collect();
        assert!(
            unanswered.is_empty(),
            "{what}: {} of {} requests sent after the race went unanswered ({unanswered:?}); \
             during it: {tally}",
            unanswered.len(),
            late.len()
        );

        // (b) Nor may any thread be left inside an open, whatever it serves.
        let stuck = threads_stuck_in_open();
        assert!(
            stuck.is_empty(),
            "{what}: threads blocked in open: {stuck:#?}; during the race: {tally}"
        );

        tally.assert_safe_and_meaningful(&what);
    }
}

/// `len` bytes of numbered lines starting with `text`.
fn lines(len: usize, text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 64);
    for n in 0.. {
        if out.len() >= len {
            break;
        }
        out.extend_from_slice(format!("{text} {n:06}\n").as_bytes());
    }
    out.truncate(len);
    out
}

fn exchange(a: &Path, b: &Path) -> rustix::io::Result<()> {
    rustix::fs::renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE)
}

/// Swaps `a` and `b` until `stop`, at most [`MAX_SWAPS`] times and until
/// `until`; returns how many swaps it made.
fn swap_until(a: &Path, b: &Path, stop: &AtomicBool, until: Instant) -> usize {
    let mut swaps = 0;
    while swaps < MAX_SWAPS && !stop.load(Ordering::Relaxed) && Instant::now() < until {
        exchange(a, b).expect("RENAME_EXCHANGE (the file system must support it)");
        swaps += 1;
    }
    swaps
}

/// Runs one race: a thread swaps `a` and `b` while [`CLIENTS`] clients ask
/// for `target`, which names `a`, for [`RACE`] (or up to [`RACE_MAX`], see
/// there). Every thread is joined.
fn race(cpus: &Apart, addr: SocketAddr, target: &str, a: &Path, b: &Path, inside: &[u8]) -> Tally {
    let stop = AtomicBool::new(false);
    let start = Instant::now();
    let tally = Mutex::new(Tally::default());
    let swaps = thread::scope(|s| {
        // Bounded on its own too, in case a client thread panics before
        // `stop` is set; a client's last request may outlast the deadline
        // by its timeout, and the swapping goes on while it waits.
        let swapper = s.spawn(|| {
            cpus.pin_swapper();
            swap_until(a, b, &stop, start + RACE_MAX + 3 * TIMEOUT)
        });
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| s.spawn(|| ask(addr, target, inside, &tally, start)))
            .collect();
        for client in clients {
            client.join().expect("client thread");
        }
        stop.store(true, Ordering::Relaxed);
        swapper.join().expect("swapper thread")
    });
    let mut tally = tally.into_inner().unwrap_or_else(|e| e.into_inner());
    tally.swaps = swaps;
    tally
}

/// One client's share of a race: one request after another on a kept-alive
/// connection, each answer counted in `tally`, for [`RACE`] and then until
/// the race means something or [`RACE_MAX`] is up; at most [`MAX_REQUESTS`].
fn ask(addr: SocketAddr, target: &str, inside: &[u8], tally: &Mutex<Tally>, start: Instant) {
    let mut client = Client::new(addr);
    for _ in 0..MAX_REQUESTS {
        let elapsed = start.elapsed();
        let go_on = elapsed < RACE || (elapsed < RACE_MAX && !lock(tally).is_meaningful());
        if !go_on {
            break;
        }
        let answer = client.get(target);
        lock(tally).count(answer, inside);
    }
}

fn lock(tally: &Mutex<Tally>) -> MutexGuard<'_, Tally> {
    // A client that panicked counted nothing wrong; the others go on.
    tally.lock().unwrap_or_else(|e| e.into_inner())
}

/// Puts the symlink back at `link`, where the race found it (it may have
/// ended with the two the other way round).
fn leave_the_link_at(link: &Path, other: &Path) {
    let is_link = |p: &Path| std::fs::symlink_metadata(p).unwrap().is_symlink();
    if !is_link(link) {
        exchange(link, other).unwrap();
    }
    assert!(is_link(link));
}

/// The first requests after a race, with the link out in place, are refused.
fn assert_refused_now(addr: SocketAddr, target: &str, what: &str) {
    let mut client = Client::new(addr);
    for attempt in 1..=2 {
        let answer = client.get(target).expect("an answer within the timeout");
        assert!(
            !reveals_secret(&answer.body),
            "{what}: request {attempt} after the race served the secret"
        );
        assert_eq!(
            answer.status, 404,
            "{what}: request {attempt} for {target} after the race, with the link out in place"
        );
    }
}

/// A failed request, said plainly: a read timeout shows as `WouldBlock`.
fn describe(e: &io::Error) -> String {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => {
            format!("no answer within {TIMEOUT:?}")
        }
        _ => format!("no answer: {e}"),
    }
}

fn reveals_secret(body: &[u8]) -> bool {
    body.windows(SECRET_MARK.len()).any(|w| w == SECRET_MARK)
}

/// What the clients of one race saw.
#[derive(Debug, Default)]
struct Tally {
    /// 200 with exactly the inside content.
    served: usize,
    /// 404, as for the link out (or the FIFO) in the file's place.
    refused: usize,
    /// Answers that carried the secret's bytes.
    secret: usize,
    /// Any other status or body.
    odd: usize,
    /// No answer within the timeout, or a broken one. Not held against
    /// the server here: every swap empties the small-file cache, and a
    /// request can wait its turn behind that past the timeout. Slowness, not
    /// a leak; a server that stops answering fails the checks after a race.
    failed: usize,
    /// The first answer with the secret or an odd one, described ...
    first_wrong: Option<String>,
    /// ... and the first failure.
    first_failure: Option<String>,
    swaps: usize,
}

impl Tally {
    fn count(&mut self, answer: io::Result<Answer>, inside: &[u8]) {
        // The inside content holds no secret: compared first, it spares
        // the search through every big body.
        let wrong = match answer {
            Ok(a) if a.status == 200 && a.body == inside => {
                self.served += 1;
                return;
            }
            Ok(a) if reveals_secret(&a.body) => {
                self.secret += 1;
                format!(
                    "the secret, status {} with {} bytes",
                    a.status,
                    a.body.len()
                )
            }
            Ok(a) if a.status == 404 => {
                self.refused += 1;
                return;
            }
            Ok(a) => {
                self.odd += 1;
                format!("status {} with {} bytes", a.status, a.body.len())
            }
            Err(e) => {
                self.failed += 1;
                self.first_failure.get_or_insert_with(|| describe(&e));
                return;
            }
        };
        self.first_wrong.get_or_insert(wrong);
    }

    /// Enough answers of each kind that the swap really raced the requests.
    fn is_meaningful(&self) -> bool {
        self.served >= MEANINGFUL && self.refused >= MEANINGFUL
    }

    /// No secret, no answer but the inside file or a 404, and enough of
    /// both that the swap really raced the requests.
    fn assert_safe_and_meaningful(&self, what: &str) {
        assert_eq!(
            self.secret, 0,
            "{what}: the secret was served {} times: {self}",
            self.secret
        );
        assert_eq!(self.odd, 0, "{what}: wrong answers: {self}");
        assert!(
            self.is_meaningful(),
            "{what}: too few answers of each kind for the race to mean anything: {self}"
        );
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} swaps; {} served, {} refused, {} with the secret, {} odd, {} failed",
            self.swaps, self.served, self.refused, self.secret, self.odd, self.failed
        )?;
        if let Some(wrong) = &self.first_wrong {
            write!(f, "; first wrong: {wrong}")?;
        }
        if let Some(failure) = &self.first_failure {
            write!(f, "; first failure: {failure}")?;
        }
        Ok(())
    }
}

/// An answer as a client sees it.
#[derive(Debug)]
struct Answer {
    status: u16,
    body: Vec<u8>,
}

/// A kept-alive connection, opened again when the server closes it: a race
/// of thousands of requests then uses a handful of sockets, where one
/// connection per request would fill the port range with TIME_WAIT.
struct Client {
    addr: SocketAddr,
    conn: Option<BufReader<TcpStream>>,
}

impl Client {
    fn new(addr: SocketAddr) -> Client {
        Client { addr, conn: None }
    }

    fn get(&mut self, target: &str) -> io::Result<Answer> {
        let reused = self.conn.is_some();
        match self.exchange(target) {
            // The server closed a kept-alive connection meanwhile (at its
            // idle time or request limit): once more, on a new one.
            Err(e)
                if reused
                    && matches!(
                        e.kind(),
                        io::ErrorKind::UnexpectedEof
                            | io::ErrorKind::ConnectionReset
                            | io::ErrorKind::BrokenPipe
                    ) =>
            {
                self.exchange(target)
            }
            result => result,
        }
    }

    /// One request and its answer; a connection that failed is not reused.
    fn exchange(&mut self, target: &str) -> io::Result<Answer> {
        let result = self.exchange_on_connection(target);
        if result.is_err() {
            self.conn = None;
        }
        result
    }

    fn exchange_on_connection(&mut self, target: &str) -> io::Result<Answer> {
        let conn = match &mut self.conn {
            Some(conn) => conn,
            None => {
                let stream = TcpStream::connect_timeout(&self.addr, TIMEOUT)?;
                stream.set_read_timeout(Some(TIMEOUT))?;
                stream.set_write_timeout(Some(TIMEOUT))?;
                self.conn.insert(BufReader::new(stream))
            }
        };
        let request = format!("GET {target} HTTP/1.1\r\nHost: localhost\r\n\r\n");
        conn.get_mut().write_all(request.as_bytes())?;
        let head = read_head(conn)?;
        let invalid =
            |why: &str| io::Error::new(io::ErrorKind::InvalidData, format!("{why}: {head:?}"));
        let status = head[0]
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .ok_or_else(|| invalid("no status"))?;
        let field = |name: &str| {
            head[1..].iter().find_map(|line| {
                let (n, v) = line.split_once(':')?;
                n.eq_ignore_ascii_case(name)
                    .then(|| v.trim().to_ascii_lowercase())
            })
        };
        // Both backends frame every answer by length.
        let len: usize = field("content-length")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| invalid("no Content-Length"))?;
        let mut body = vec![0; len];
        conn.read_exact(&mut body)?;
        if field("connection").as_deref() == Some("close") {
            self.conn = None;
        }
        Ok(Answer { status, body })
    }
}

/// The status line and fields of one response, bounded in lines and bytes.
fn read_head(conn: &mut BufReader<TcpStream>) -> io::Result<Vec<String>> {
    let mut head = Vec::new();
    for _ in 0..100 {
        let mut line = Vec::new();
        conn.by_ref().take(8 * 1024).read_until(b'\n', &mut line)?;
        if !line.ends_with(b"\n") {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "response head cut short",
            ));
        }
        let line = String::from_utf8_lossy(&line).trim_end().to_string();
        if line.is_empty() {
            return Ok(head);
        }
        head.push(line);
    }
    Err(io::Error::new(
        io::ErrorKind::InvalidData,
        "response head too long",
    ))
}

/// The server (and the clients, which run on its CPU) kept apart from the
/// swapper, each on a CPU of its own, until dropped. Left to the scheduler on
/// a loaded two-core machine they often took turns on one core, so no swap
/// fell inside a lookup, and the old path-based code (which this file must
/// catch) went whole races without serving the secret once.
struct Apart {
    before: libc::cpu_set_t,
    swapper_cpu: Option<usize>,
}

impl Apart {
    /// Pins the calling thread, and so every thread it starts from now on
    /// (the servers' too), to the first CPU it may use, keeping the second for
    /// the swapper. With a single CPU nothing is pinned.
    fn pin() -> Apart {
        let before = affinity();
        // SAFETY: `CPU_ISSET` reads the set within `CPU_SETSIZE`.
        let allowed: Vec<usize> = (0..libc::CPU_SETSIZE as usize)
            .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &before) })
            .collect();
        let swapper_cpu = match allowed[..] {
            [server, swapper, ..] => {
                set_affinity(&only(server)).expect("sched_setaffinity");
                Some(swapper)
            }
            _ => None,
        };
        Apart {
            before,
            swapper_cpu,
        }
    }

    /// Called by the swapper thread: moves it to the CPU kept for it.
    fn pin_swapper(&self) {
        if let Some(cpu) = self.swapper_cpu {
            set_affinity(&only(cpu)).expect("sched_setaffinity");
        }
    }
}

impl Drop for Apart {
    fn drop(&mut self) {
        // No panic here, which could be one during another's unwinding.
        let _ = set_affinity(&self.before);
    }
}

/// The calling thread's CPU mask.
fn affinity() -> libc::cpu_set_t {
    // SAFETY: a zeroed `cpu_set_t` is an empty set, and the kernel writes at
    // most the size it is given.
    unsafe {
        let mut set = std::mem::zeroed();
        let got = libc::sched_getaffinity(0, size_of::<libc::cpu_set_t>(), &mut set);
        assert_eq!(got, 0, "sched_getaffinity: {}", io::Error::last_os_error());
        set
    }
}

/// Sets the calling thread's CPU mask.
fn set_affinity(set: &libc::cpu_set_t) -> io::Result<()> {
    // SAFETY: the kernel reads at most the size it is given.
    match unsafe { libc::sched_setaffinity(0, size_of::<libc::cpu_set_t>(), set) } {
        0 => Ok(()),
        _ => Err(io::Error::last_os_error()),
    }
}

/// The mask of `cpu` alone.
fn only(cpu: usize) -> libc::cpu_set_t {
    // SAFETY: an empty set, and `cpu` came from a set of the same size.
    unsafe {
        let mut set = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        set
    }
}

/// Opens whichever of its paths is a FIFO for writing when dropped, so that
/// a server thread left waiting in `open` for a writer is let go and the
/// server can stop: a lookup that blocks then fails the test, never hangs it.
struct ReleaseFifo([PathBuf; 2]);

impl Drop for ReleaseFifo {
    fn drop(&mut self) {
        // A non-blocking open for writing succeeds only while a reader is
        // there (ENXIO otherwise), and wakes every reader waiting in open.
        // Again until none is left for a few rounds, in case one was on its
        // way in; a second at most.
        let mut quiet_rounds = 0;
        for _ in 0..100 {
            let mut released = false;
            for path in &self.0 {
                let is_fifo =
                    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_fifo());
                let flags = OFlags::WRONLY | OFlags::NONBLOCK | OFlags::CLOEXEC;
                if is_fifo && rustix::fs::open(path, flags, Mode::empty()).is_ok() {
                    released = true;
                }
            }
            quiet_rounds = if released { 0 } else { quiet_rounds + 1 };
            if quiet_rounds >= 5 {
                break;
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

/// Threads of this process seen inside the very same `open` call (number,
/// arguments, stack and instruction pointer) twice, 200 ms apart: blocked in
/// it, as on a FIFO opened without `O_NONBLOCK` that no writer ever opens.
fn threads_stuck_in_open() -> Vec<String> {
    let first = threads_in_open();
    thread::sleep(Duration::from_millis(200));
    let second = threads_in_open();
    first
        .into_iter()
        .filter(|(tid, call)| second.get(tid) == Some(call))
        .map(|(tid, call)| format!("thread {tid}: {call}"))
        .collect()
}

/// Each thread now inside an open, by id: its name and `/proc` syscall line.
fn threads_in_open() -> HashMap<String, String> {
    let mut found = HashMap::new();
    for task in std::fs::read_dir("/proc/self/task").expect("/proc/self/task") {
        let dir = task.expect("a task entry").path();
        // A thread that ended since the listing has no files left.
        let Ok(call) = std::fs::read_to_string(dir.join("syscall")) else {
            continue;
        };
        let number = call
            .split(' ')
            .next()
            .and_then(|n| n.parse::<libc::c_long>().ok());
        if number.is_some_and(is_open_call) {
            let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
            let tid = dir.file_name().unwrap().to_string_lossy().into_owned();
            found.insert(tid, format!("{} in {}", name.trim(), call.trim()));
        }
    }
    found
}

fn is_open_call(number: libc::c_long) -> bool {
    #[cfg(target_arch = "x86_64")]
    if number == libc::SYS_open {
        return true;
    }
    number == libc::SYS_openat || number == libc::SYS_openat2
}

/// The stuck-thread check reads `/proc/<pid>/task/<tid>/syscall`: if this
/// kernel has none, that check would pass without looking.
fn assert_open_calls_are_visible() {
    let mine = std::fs::read_to_string("/proc/thread-self/syscall");
    assert!(
        mine.is_ok(),
        "/proc/thread-self/syscall is needed to see blocked threads: {mine:?}"
    );
}

//! `twinserve serve` from a [`Config`] to an exit code: start the backend, say
//! where it listens, and stop it cleanly on Ctrl-C / SIGTERM (a second signal
//! exits at once). [`start`] is the same start for `client --backend`.

use std::net::SocketAddr;
use std::process::ExitCode;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::docroot::RootError;
use crate::{Backend, Config, ServerHandle, StartError};

/// Why `serve` failed; each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Not a `#[source]`: the hint ends the line, and the cause is already in it.
    #[error("{0}{hint}", hint = flag_hint(.0, *.1))]
    Start(StartError, Root),
    #[error("cannot install signal handlers")]
    Signals(#[source] std::io::Error),
    #[error("server failed")]
    Failed(#[source] std::io::Error),
}

/// How the folder served was named, which decides the advice when it is missing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// Nothing was said: `./site`, the project's own folder.
    Default,
    /// `serve DIR` or `--root DIR`: the user knows which folder they meant.
    Given,
}

/// The flag to change for each way a start can fail.
fn flag_hint(e: &StartError, root: Root) -> &'static str {
    match e {
        StartError::Bind { source, .. } if source.kind() == std::io::ErrorKind::AddrInUse => {
            " (another server is using it; stop it or pass --port)"
        }
        StartError::Bind { .. } => " (pass --host and --port for another address)",
        StartError::Root(RootError::Option { .. }) => " (check --cache-control)",
        StartError::Root(RootError::AccessLog { .. }) => " (check --access-log)",
        StartError::Root(RootError::Fallback { .. }) => " (check --fallback)",
        StartError::Root(_) if root == Root::Given => "",
        StartError::Root(_) => {
            " (there is no ./site here to serve by default; name the folder: twinserve serve DIR)"
        }
        StartError::Start { .. } => "",
    }
}

/// Starts `backend` through [`crate::spawn`], with an error that names the
/// flag to change when it cannot.
pub fn start(backend: Backend, config: Config, root: Root) -> Result<ServerHandle, ServeError> {
    crate::spawn(backend, config).map_err(|e| ServeError::Start(e, root))
}

/// Serves until a signal stops the server (or, with `config.once`, until one
/// connection has been served). Exits 1 when responses in flight had to be
/// cut at the end of the shutdown grace.
pub fn run(backend: Backend, config: Config, root: Root) -> Result<ExitCode, ServeError> {
    let folder = config.root.display().to_string();
    let once = config.once;
    let scheme = if config.hyper.tls.is_some() {
        "https"
    } else {
        "http"
    };
    limit_malloc_arenas();
    // Before the address is announced: a client that stops the server as soon
    // as it sees it must get the clean stop, not the signal's default death.
    let mut signals = Signals::new([SIGINT, SIGTERM]).map_err(ServeError::Signals)?;
    let cuts_before = crate::server::cuts();
    let handle = start(backend, config, root)?;
    tracing::info!(
        target: crate::STATUS,
        "{backend} backend serving {folder} on {}{}",
        browsable_url(scheme, handle.local_addr()),
        if once {
            " for one request"
        } else {
            " (Ctrl-C stops)"
        },
    );
    let signal_handle = signals.handle();
    let stopper = handle.stopper();
    std::thread::spawn(move || {
        let mut pending = signals.forever();
        if pending.next().is_some() {
            tracing::info!(target: crate::STATUS, "stopping; finishing responses in flight (again to force)");
            stopper.stop();
        }
        if pending.next().is_some() {
            tracing::warn!(target: crate::STATUS, "stopped without waiting");
            std::process::exit(1);
        }
    });
    // Last of the start, with the signal thread already started. A server
    // for one request has no time for start-up pages to be worth dropping.
    if !once {
        unmap_startup_pages();
    }
    handle.wait().map_err(ServeError::Failed)?;
    signal_handle.close();
    if crate::server::cuts() > cuts_before {
        tracing::error!("stopped with responses cut short at the end of --shutdown-grace");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

/// A URL a browser accepts for `addr` (IPv6 in brackets); for an address
/// that means "every address", the loopback one of its family, with the
/// address listened on beside it.
pub fn browsable_url(scheme: &str, addr: SocketAddr) -> String {
    if !addr.ip().is_unspecified() {
        return format!("{scheme}://{addr}/");
    }
    let local = match addr {
        SocketAddr::V4(_) => SocketAddr::from(([127, 0, 0, 1], addr.port())),
        SocketAddr::V6(_) => SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, addr.port())),
    };
    format!("{scheme}://{local}/ (every address: {addr})")
}

/// glibc's malloc gives threads arenas of their own, up to eight per core,
/// and each keeps what its threads freed: raw's workers, each sending a file
/// piece now and then, would keep a piece's worth apiece. One arena per core
/// this process may run on is as many as can be busy at once. Before any
/// server thread allocates; `MALLOC_ARENA_MAX`, when set, is left to decide.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    // SAFETY: mallopt only sets a malloc parameter; M_ARENA_MAX takes any count.
    unsafe { libc::mallopt(libc::M_ARENA_MAX, i32::try_from(cores).unwrap_or(i32::MAX)) };
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}

/// Takes the binary's code and constants out of this process's page tables
/// once the server has started: most of those pages served only to start
/// (the command line, logging, opening the root) and would otherwise count
/// as resident for as long as the server runs. A page serving needs comes
/// back on its first use from the page cache, without reading the disk.
/// Skipped under a debugger, whose breakpoints live in private copies of
/// code pages that this would throw away.
#[cfg(target_os = "linux")]
fn unmap_startup_pages() {
    use std::ffi::{c_int, c_void};

    /// Called for each loaded object, the program first; stops after it.
    unsafe extern "C" fn program_only(
        info: *mut libc::dl_phdr_info,
        _size: usize,
        _data: *mut c_void,
    ) -> c_int {
        // SAFETY: dl_iterate_phdr hands a valid dl_phdr_info whose dlpi_phdr
        // points at dlpi_phnum program headers, for the length of this call.
        let info = unsafe { &*info };
        // SAFETY: sysconf only reads a constant of the system.
        let page = usize::try_from(unsafe { libc::sysconf(libc::_SC_PAGESIZE) }).unwrap_or(0);
        if page == 0 {
            return 1;
        }
        for i in 0..usize::from(info.dlpi_phnum) {
            // SAFETY: i < dlpi_phnum (see above).
            let header = unsafe { &*info.dlpi_phdr.add(i) };
            // Only segments never written: a writable one holds relocated
            // data and globals, which exist nowhere else.
            if header.p_type != libc::PT_LOAD || header.p_flags & libc::PF_W != 0 {
                continue;
            }
            let start = info.dlpi_addr as usize + header.p_vaddr as usize;
            let end = start + header.p_memsz as usize;
            // Whole pages only: one shared with a writable segment is left alone.
            let (start, end) = (start.next_multiple_of(page), end / page * page);
            if end > start {
                // SAFETY: the range lies within a read-only, file-backed
                // mapping of the program, so a page dropped is read back
                // from the file unchanged on its next use.
                unsafe { libc::madvise(start as *mut c_void, end - start, libc::MADV_DONTNEED) };
            }
        }
        1
    }

    // Before the check for a debugger, so that one attached during the wait
    // is seen.
    wait_until_threads_sleep();
    let traced = std::fs::read_to_string("/proc/self/status").map_or(true, |status| {
        status
            .lines()
            .find_map(|l| l.strip_prefix("TracerPid:"))
            .is_none_or(|pid| pid.trim() != "0")
    });
    if !traced {
        // SAFETY: the callback only reads what it is handed (see above).
        unsafe { libc::dl_iterate_phdr(Some(program_only), std::ptr::null_mut()) };
    }
}

/// Waits, 50 ms at most, until every other thread of this process has been
/// seen asleep twice in a row, 1 ms apart: the backend's threads go on
/// starting after they say they listen, and pages dropped under a thread
/// still starting come straight back, each with its whole fault-around
/// window. A best effort: a thread blocked for a moment mid-start looks
/// asleep too, and one still busy when the wait ends only costs those pages.
#[cfg(target_os = "linux")]
fn wait_until_threads_sleep() {
    use std::time::{Duration, Instant};
    // SAFETY: gettid only returns the calling thread's id.
    let me = unsafe { libc::gettid() }.to_string();
    let deadline = Instant::now() + Duration::from_millis(50);
    wait_until_asleep(std::path::Path::new("/proc/self/task"), &me, deadline);
}

/// Waits until every thread in `tasks` but `except` has been seen asleep
/// twice in a row, 1 ms apart, or until `deadline`; says whether they were.
#[cfg(target_os = "linux")]
fn wait_until_asleep(tasks: &std::path::Path, except: &str, deadline: std::time::Instant) -> bool {
    let mut asleep_before = false;
    while std::time::Instant::now() < deadline {
        // `None`: /proc cannot say, and there is nothing to wait for.
        let asleep = threads_asleep(tasks, except).unwrap_or(true);
        if asleep && asleep_before {
            return true;
        }
        asleep_before = asleep;
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    false
}

/// Whether every thread listed in `tasks` (a process's `/proc/PID/task`) but
/// the one named `except` is asleep (state `S`): blocked in a call. `None`
/// when the folder cannot be read; a thread that ends while it is read counts
/// as awake, to be read again next time.
#[cfg(target_os = "linux")]
fn threads_asleep(tasks: &std::path::Path, except: &str) -> Option<bool> {
    let tasks = std::fs::read_dir(tasks).ok()?;
    Some(
        tasks
            .flatten()
            .all(|task| task.file_name() == except || thread_state(&task.path()) == Some(b'S')),
    )
}

/// A thread's state letter, from `stat` in its `/proc` folder.
#[cfg(target_os = "linux")]
fn thread_state(task: &std::path::Path) -> Option<u8> {
    stat_field(task, 0)?.first().copied()
}

/// Field `n` of a thread's `stat`, counted from the state (0), which follows
/// the thread's name: any bytes, spaces and parentheses included, cut at 15,
/// so the last `)` ends it.
#[cfg(target_os = "linux")]
fn stat_field(task: &std::path::Path, n: usize) -> Option<Vec<u8>> {
    let stat = std::fs::read(task.join("stat")).ok()?;
    let name_end = stat.iter().rposition(|&b| b == b')')?;
    stat[name_end + 1..]
        .split(u8::is_ascii_whitespace)
        .filter(|field| !field.is_empty())
        .nth(n)
        .map(<[u8]>::to_vec)
}

#[cfg(not(target_os = "linux"))]
fn unmap_startup_pages() {}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::path::PathBuf;
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    use super::{stat_field, thread_state, threads_asleep, wait_until_asleep};

    /// A child process, killed and reaped however the test ends.
    struct Reaped(Child);

    impl Drop for Reaped {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    fn run(script: &str) -> Reaped {
        Reaped(
            Command::new("sh")
                .args(["-c", script])
                .stdin(Stdio::null())
                .spawn()
                .expect("sh runs"),
        )
    }

    fn tasks(child: &Reaped) -> PathBuf {
        format!("/proc/{}/task", child.0.id()).into()
    }

    /// Polls, 10 s at most, until `done` holds.
    fn within_10_s(what: &str, mut done: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < deadline, "{what}: not within 10 s");
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn a_process_blocked_in_a_call_is_asleep() {
        // exec, so that the one thread left is the one that blocks
        let child = run("exec sleep 30");
        within_10_s("sleep(1) seen asleep", || {
            threads_asleep(&tasks(&child), "") == Some(true)
        });
    }

    /// A child that spins, past its start (loading, which may block): it
    /// has run for a tick.
    fn spinner() -> Reaped {
        let child = run("while :; do :; done");
        let main_thread = tasks(&child).join(child.0.id().to_string());
        within_10_s("the loop has run", || {
            // utime, the 14th field: the 12th from the state
            stat_field(&main_thread, 11).is_some_and(|utime| utime != b"0")
        });
        child
    }

    #[test]
    fn a_process_that_spins_is_not_asleep_unless_it_is_the_one_left_out() {
        let child = spinner();
        let main_thread = tasks(&child).join(child.0.id().to_string());
        // A spinning thread is running or runnable (`R`) at every look.
        for _ in 0..20 {
            assert_eq!(thread_state(&main_thread), Some(b'R'));
            assert_eq!(threads_asleep(&tasks(&child), ""), Some(false));
            std::thread::sleep(Duration::from_millis(1));
        }
        let me = child.0.id().to_string();
        assert_eq!(threads_asleep(&tasks(&child), &me), Some(true));
    }

    #[test]
    fn the_wait_ends_once_all_sleep_and_at_its_deadline_while_one_spins() {
        let sleeper = run("exec sleep 30");
        let started = Instant::now();
        assert!(
            wait_until_asleep(&tasks(&sleeper), "", started + Duration::from_secs(10)),
            "sleep(1) never seen asleep twice"
        );
        let spinner = spinner();
        let deadline = Instant::now() + Duration::from_millis(50);
        assert!(!wait_until_asleep(&tasks(&spinner), "", deadline));
        assert!(Instant::now() >= deadline, "it gave up before its deadline");
        // The thread left out is not waited for.
        let me = spinner.0.id().to_string();
        let far = Instant::now() + Duration::from_secs(10);
        assert!(wait_until_asleep(&tasks(&spinner), &me, far));
    }

    #[test]
    fn a_folder_that_cannot_be_read_says_nothing() {
        assert_eq!(
            threads_asleep("/proc/self/no-such-folder".as_ref(), ""),
            None
        );
    }
}

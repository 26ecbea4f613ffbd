//! `--target` columns as students' servers are: one thread, a backlog of
//! one, dying on bytes they cannot decode, forgetting the status line,
//! sending without end. Each target walks a theme's cases one at a time, so
//! a crash is that case's and no other's, the same on every run; reading is
//! bounded in time and bytes; and a leak is a leak whether or not the bytes
//! parse as a response.
//!
//! Every test server here listens on 127.0.0.1, port 0, and is stopped and
//! joined before its test ends.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

mod common;

use common::loopback::{LoopbackServer, Then};
use twinserve::compare::{self, Consequence, Crash, End, Fixture, case};

fn project(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// A case from the corpus, by id (for the fields a case of one's own keeps).
fn corpus_case(id: &str) -> case::Case {
    case::load_dir(&project("compare"))
        .unwrap()
        .into_iter()
        .find(|c| c.id == id)
        .unwrap_or_else(|| panic!("no case {id}"))
}

/// A case of one's own: `send` in the corpus's escaped form, in one write.
fn own_case(id: &str, theme: &str, send: &str, wait_ms: Option<u64>) -> case::Case {
    let mut c = corpus_case("baseline-get");
    c.id = id.into();
    c.theme = theme.into();
    c.send = vec![send.to_string()];
    c.pause_ms = 0;
    c.half_close = false;
    c.wait_ms = wait_ms;
    c.methods = Vec::new();
    c.conforming = vec![compare::Pattern::parse("200 closed").unwrap()];
    c
}

const GET: &str = r"GET /HelloWorld.html HTTP/1.1\r\nHost: localhost\r\n\r\n";

/// A server with one thread and `listen(1)`, like the classic exercise.
fn one_thread(serve: fn(TcpStream) -> Then) -> LoopbackServer {
    LoopbackServer::one_thread(1, serve)
}

/// The exercise's one `recv(1024)`, bounded so a test cannot hang in it.
fn recv(stream: &mut TcpStream) -> Vec<u8> {
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = stream.read(&mut buf).unwrap_or(0);
    buf[..n].to_vec()
}

/// Dies on any byte that is not ASCII (the exercise's `.decode()` raising
/// `UnicodeDecodeError`), else answers and closes.
fn dies_on_non_ascii(mut stream: TcpStream) -> Then {
    let request = recv(&mut stream);
    if request.iter().any(|&b| b >= 0x80) {
        return Then::Die;
    }
    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\n\r\nhello\r\n");
    Then::Next
}

/// `(signature, crash)` per case on column `i`.
fn column(c: &compare::Comparison, i: usize) -> Vec<(String, Option<Crash>)> {
    c.results
        .iter()
        .map(|r| (r.outcomes[i].signature(), r.outcomes[i].crash))
        .collect()
}

/// A one-thread server that dies on one case's bytes: that case is its
/// crash, every later one is refused, the cases before it are answered, and
/// the run is the same every time. Run at once, the theme's other cases
/// would wait in its backlog and be reset when it died, blamed on whichever.
#[test]
fn a_one_thread_target_crashes_on_exactly_its_case_every_run() {
    let fixture = Fixture::start(&project("site")).unwrap();
    let corpus = || {
        vec![
            own_case("a", "one", GET, None),
            own_case("b", "one", GET, None),
            own_case("killer", "one", r"GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n", None),
            own_case("c", "one", GET, None),
            own_case("d", "two", GET, None),
        ]
    };
    let answered = ("200 closed".to_string(), None);
    let refused = ("- refused".to_string(), None);
    let expected = vec![
        answered.clone(),
        answered,
        ("- closed".to_string(), Some(Crash::Server)),
        refused.clone(),
        refused,
    ];
    for run in 0..3 {
        let server = one_thread(dies_on_non_ascii);
        let c = compare::run_corpus(corpus(), &fixture, &[("t".into(), server.addr)], &|_| {});
        assert_eq!(column(&c, 3), expected, "run {run}");
        let consequences: Vec<Consequence> = c.results.iter().map(|r| r.consequences[3]).collect();
        assert_eq!(
            consequences[2..],
            [
                Consequence::Crash,
                Consequence::Refused,
                Consequence::Refused
            ],
            "run {run}"
        );
        assert_eq!(
            c.reachability[3].stopped,
            Some(compare::Stopped {
                after_theme: "one".into(),
                died_on: Some("killer".into()),
                last_answered: Some("b".into()),
            }),
            "run {run}"
        );
        drop(server);
    }
}

/// Serves one connection at a time and never dies; a connection that sends
/// nothing holds it until the client leaves.
fn patient(mut stream: TcpStream) -> Then {
    if !recv(&mut stream).is_empty() {
        let _ = stream.write_all(b"HTTP/1.1 200 OK\r\n\r\nhello\r\n");
    }
    Then::Next
}

/// A case that connects and sends nothing holds a one-thread target for its
/// whole wait; the theme's other cases, run after it, are all answered.
#[test]
fn an_idle_case_costs_a_one_thread_target_no_other_case() {
    let fixture = Fixture::start(&project("site")).unwrap();
    let server = one_thread(patient);
    // Longer than the others' wait of a second: run at once, any case the
    // server took after the idle one would time out in its backlog.
    let mut cases = vec![own_case("idle", "connection", "", Some(2500))];
    let ids = ["v", "w", "x", "y", "z"];
    cases.extend(ids.iter().map(|id| own_case(id, "connection", GET, None)));
    cases.push(own_case("next", "other", GET, None));
    let c = compare::run_corpus(cases, &fixture, &[("t".into(), server.addr)], &|_| {});
    let got = column(&c, 3);
    assert_eq!(got[0], ("- timeout".to_string(), None));
    for (id, got) in ids.iter().chain(&["next"]).zip(&got[1..]) {
        assert_eq!(*got, ("200 closed".to_string(), None), "{id}");
    }
    assert_eq!(c.reachability[3].stopped, None);
    assert!(c.reachability[3].answered_before);
    drop(server);
}

/// Answers every request with a status line and then bytes without end,
/// `pause` apart, until the client goes.
fn endless(mut stream: TcpStream, chunk: &[u8], pause: Duration) -> Then {
    recv(&mut stream);
    let _ = stream.write_all(b"HTTP/1.1 200 OK\r\n\r\n");
    while stream.write_all(chunk).is_ok() {
        std::thread::sleep(pause);
    }
    Then::Next
}

/// Runs `case` against a target in a thread of its own; `None` if it takes
/// longer than `bound`: unbounded reading would hang the test.
fn run_bounded(
    case: case::Case,
    target: SocketAddr,
    bound: Duration,
) -> Option<compare::Comparison> {
    let (tx, rx) = std::sync::mpsc::channel();
    let runner = std::thread::spawn(move || {
        let fixture = Fixture::start(&project("site")).unwrap();
        let c = compare::run_corpus(vec![case], &fixture, &[("t".into(), target)], &|_| {});
        let _ = tx.send(c);
    });
    let c = rx.recv_timeout(bound).ok()?;
    runner.join().unwrap();
    Some(c)
}

/// A flood ends at the byte bound, a trickle at the time bound: the case
/// ends within the case's wait plus the overrun, keeps at most 16 KiB, and
/// says why it stopped reading.
#[test]
fn a_target_that_keeps_sending_is_bounded() {
    let flood = one_thread(|s| endless(s, &[b'x'; 64 * 1024], Duration::ZERO));
    let trickle = one_thread(|s| endless(s, b"x", Duration::from_millis(20)));
    for (name, server, why) in [
        ("flood", &flood, "kept sending past"),
        ("trickle", &trickle, "kept sending for"),
    ] {
        let started = Instant::now();
        let case = own_case(name, "one", GET, Some(300));
        // Wait, overrun, the probes and the fixture's start, with room.
        let c = run_bounded(case, server.addr, Duration::from_secs(30))
            .unwrap_or_else(|| panic!("{name}: compare kept reading past its bound"));
        let outcome = &c.results[0].outcomes[3];
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "{name}: {:?}",
            started.elapsed()
        );
        assert!(outcome.received.len() <= 16 * 1024, "{name}: kept too much");
        assert!(!outcome.received.is_empty(), "{name}");
        let note = outcome.note.as_deref().unwrap_or("");
        assert!(note.contains(why), "{name}: note {note:?}");
        assert_ne!(outcome.end, End::Closed, "{name}");
    }
    drop(flood);
    drop(trickle);
}

/// Sends the secret as it is, without a status line, as a server that
/// forgot it does with the file a traversal reached; `pad` bytes of the page
/// before it.
fn raw_secret(mut stream: TcpStream, pad: usize) -> Then {
    recv(&mut stream);
    let _ = stream.write_all(&vec![b'.'; pad]);
    let _ = stream.write_all(compare::SECRET);
    Then::Next
}

/// The secret in bytes that are no response is a leak, not a silent close
/// or a crash — also past the first 16 KiB, which are all the report keeps.
#[test]
fn a_raw_file_without_a_status_line_leaks() {
    let near = one_thread(|s| raw_secret(s, 10));
    let far = one_thread(|s| raw_secret(s, 40 * 1024));
    let fixture = Fixture::start(&project("site")).unwrap();
    for (name, server) in [("near", &near), ("far", &far)] {
        let case = own_case("escape", "one", r"GET /escape HTTP/1.1\r\n\r\n", None);
        let c = compare::run_corpus(vec![case], &fixture, &[("t".into(), server.addr)], &|_| {});
        let outcome = &c.results[0].outcomes[3];
        assert!(outcome.responses.is_empty(), "{name}: no response parses");
        assert!(outcome.leaked(), "{name}: the secret came back");
        assert_eq!(c.results[0].consequences[3], Consequence::Leak, "{name}");
        assert!(
            outcome.received.ends_with(compare::SECRET),
            "{name}: the leaked bytes are kept"
        );
        // Our own servers leak nothing on the same bytes.
        assert!(!c.results[0].outcomes[0].leaked());
        assert!(!c.results[0].outcomes[1].leaked());
    }
    drop(near);
    drop(far);
}

/// The fixture's root sits at a fixed depth, directly under `/tmp`,
/// whatever `TMPDIR` says: the corpus's `..` chains reach `/etc/passwd`
/// only from so many levels down, and the committed report must not depend
/// on the machine's temporary folder.
#[test]
fn the_fixture_root_is_shallow() {
    let fixture = Fixture::start(&project("site")).unwrap();
    let root = fixture.root();
    let dir = root.parent().unwrap();
    assert_eq!(dir.parent(), Some(Path::new("/tmp")), "{}", root.display());
    let name = dir.file_name().unwrap().to_string_lossy();
    assert!(name.starts_with("twinserve-compare-"), "{name}");
}

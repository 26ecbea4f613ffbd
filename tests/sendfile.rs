//! File bodies too big for the cache, which both backends send one
//! `sendfile(2)` call per `--chunk-size` piece (hyper from a mapping of the
//! file it never reads): whole files and ranges arrive intact over keep-alive
//! connections at any chunk size, and a file cut short while it is being sent
//! closes the connection before the announced length, the server unharmed.

mod common;

use std::io::{Read, Write};
use std::num::NonZeroUsize;
use std::time::Duration;

use common::{TestSite, connect, read_one};
use twinserve::Backend;

#[test]
fn whole_files_and_ranges_arrive_intact_at_any_chunk_size() {
    let site = TestSite::new();
    let data = site.big_file("big.bin", 300_000);
    for (backend, chunk) in [Backend::Raw, Backend::Hyper]
        .into_iter()
        .flat_map(|backend| [1, 7, 4093, 64 * 1024, 1 << 20].map(|chunk| (backend, chunk)))
    {
        let server = site.start_with(backend, |c| {
            c.chunk_size = NonZeroUsize::new(chunk);
        });
        let mut stream = connect(server.local_addr());
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        // Two answers on one connection: a file body leaves it ready for the next.
        stream
            .write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let whole = read_one(&mut stream);
        assert_eq!(whole.status, 200, "{backend:?} chunk {chunk}");
        assert!(
            whole.body == data,
            "{backend:?} chunk {chunk}: whole file differs"
        );
        stream
            .write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=1000-200999\r\n\r\n")
            .unwrap();
        let range = read_one(&mut stream);
        assert_eq!(range.status, 206, "{backend:?} chunk {chunk}");
        assert!(
            range.body == data[1000..201_000],
            "{backend:?} chunk {chunk}: range differs"
        );
    }
}

#[test]
fn a_file_truncated_mid_send_closes_the_connection_short() {
    for backend in [Backend::Raw, Backend::Hyper] {
        truncated_mid_send(backend);
    }
}

fn truncated_mid_send(backend: Backend) {
    let site = TestSite::new();
    let len = 32 << 20;
    site.big_file("big.bin", len);
    let server = site.start_with(backend, |c| {
        c.chunk_size = NonZeroUsize::new(4093);
    });
    let mut stream = connect(server.local_addr());
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // A small receive window, so the server waits on this client far before
    // the file's new end.
    socket2::SockRef::from(&stream)
        .set_recv_buffer_size(4096)
        .unwrap();
    stream
        .write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut got = vec![0; 64 * 1024];
    stream.read_exact(&mut got).unwrap();
    let head =
        String::from_utf8_lossy(&got[..got.windows(4).position(|w| w == b"\r\n\r\n").unwrap()])
            .to_lowercase();
    assert!(head.contains(&format!("content-length: {len}")), "{head}");
    std::fs::OpenOptions::new()
        .write(true)
        .open(site.root().join("big.bin"))
        .unwrap()
        .set_len(1 << 20)
        .unwrap();
    // The server is blocked in its send; a wide window now speeds the rest.
    socket2::SockRef::from(&stream)
        .set_recv_buffer_size(1 << 20)
        .unwrap();
    stream
        .read_to_end(&mut got)
        .expect("the server closes instead of leaving the body short");
    assert!(
        got.len() < len,
        "{backend:?}: {} bytes arrived for a body of {len}",
        got.len()
    );
    // Still serving (a page of the mapping read past the file's new end
    // would have ended this very process).
    let mut again = connect(server.local_addr());
    again
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    again
        .write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let answer = read_one(&mut again);
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.body.len(),
        1 << 20,
        "{backend:?}: the file as it is now"
    );
}

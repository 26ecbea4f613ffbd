//! Clients that reset mid-download end only their own connection: afterwards
//! the server still answers, and every descriptor it opened is closed again.
//! One test in its own binary, so no other test's sockets blur the count.

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::{BACKENDS, TestSite, connect, open_fds, request};

#[test]
fn fifty_clients_resetting_mid_download_leave_the_server_serving() {
    let site = TestSite::new();
    let big = site.big_file("big.bin", 8 << 20);
    for backend in BACKENDS {
        let server = site.start(backend);
        let addr = server.local_addr();
        // Warm up once so lazily opened descriptors (runtime, pools) are counted.
        assert_eq!(request(addr, "GET", "/HelloWorld.html", "").status, 200);
        let baseline = open_fds();

        std::thread::scope(|scope| {
            for _ in 0..50 {
                scope.spawn(|| {
                    let mut stream = connect(addr);
                    stream
                        .write_all(b"GET /big.bin HTTP/1.1\r\nHost: localhost\r\n\r\n")
                        .unwrap();
                    let mut some = [0u8; 16 * 1024];
                    stream.read_exact(&mut some).unwrap();
                    // SO_LINGER 0: close() sends RST instead of FIN.
                    socket2::SockRef::from(&stream)
                        .set_linger(Some(Duration::ZERO))
                        .unwrap();
                });
            }
        });

        let response = request(addr, "GET", "/big.bin", "");
        assert_eq!(response.status, 200, "{backend}");
        assert_eq!(response.body, big, "{backend}");

        // The server notices each reset on its next write; wait (bounded) for
        // every descriptor it held to be closed.
        let deadline = Instant::now() + Duration::from_secs(5);
        while open_fds() > baseline && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(
            open_fds() <= baseline,
            "{backend}: {} open, {baseline} before",
            open_fds()
        );
        server.shutdown().unwrap();
    }
}

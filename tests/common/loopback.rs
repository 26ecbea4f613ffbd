//! Small loopback servers that stand in for a student's: one thread and a
//! chosen backlog, as the classic exercise has, or a thread per connection.
//! Each listens on 127.0.0.1, port 0, and is stopped and joined when dropped.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

/// What a one-thread server does after serving a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    Next,
    /// Return from the accept loop: the listener closes, as when the
    /// exercise's one thread dies of an uncaught exception.
    Die,
}

/// A running test server; dropping it stops accepting and joins its threads
/// (handlers must end by themselves: give their reads a timeout).
pub struct LoopbackServer {
    pub addr: SocketAddr,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<Vec<JoinHandle<()>>>>,
}

impl LoopbackServer {
    /// One thread and `listen(backlog)`: connections are served one at a
    /// time, in the accepting thread, by `serve`.
    pub fn one_thread(
        backlog: i32,
        serve: impl Fn(TcpStream) -> Then + Send + 'static,
    ) -> LoopbackServer {
        let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
            .expect("socket");
        socket
            .bind(&SocketAddr::from(([127, 0, 0, 1], 0)).into())
            .expect("bind");
        socket.listen(backlog).expect("listen");
        LoopbackServer::accepting(socket.into(), move |stream, _| serve(stream))
    }

    /// A thread per connection, each handed to `answer`.
    pub fn per_connection(answer: fn(TcpStream)) -> LoopbackServer {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind");
        LoopbackServer::accepting(listener, move |stream, handlers| {
            handlers.push(std::thread::spawn(move || answer(stream)));
            Then::Next
        })
    }

    fn accepting(
        listener: TcpListener,
        on_accept: impl Fn(TcpStream, &mut Vec<JoinHandle<()>>) -> Then + Send + 'static,
    ) -> LoopbackServer {
        let addr = listener.local_addr().expect("local address");
        let stop = Arc::new(AtomicBool::new(false));
        let accept = {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut handlers = Vec::new();
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    if on_accept(stream, &mut handlers) == Then::Die {
                        break;
                    }
                }
                handlers
            })
        };
        LoopbackServer {
            addr,
            stop,
            accept: Some(accept),
        }
    }
}

impl Drop for LoopbackServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // A failing test may leave a handler serving a client that never
        // leaves: joining it would hang the test instead of failing it.
        if std::thread::panicking() {
            return;
        }
        // Wakes the blocking accept; refused if the server already died.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(accept) = self.accept.take()
            && let Ok(handlers) = accept.join()
        {
            for handler in handlers {
                let _ = handler.join();
            }
        }
    }
}

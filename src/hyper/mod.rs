//! The hyper backend: the same docroot behind hyper 1.x connections on tokio —
//! a multi-thread runtime with one worker per core by default (`--threads N`
//! sets how many), and a current-thread runtime when there is only one. hyper
//! parses and frames; this module sets its limits from the one [`Config`],
//! turns a request into a docroot [`RequestView`] and the [`Reply`] into a
//! `Response` whose file body streams.
//!
//! Plain TCP speaks HTTP/1 (and, with `--http2-prior-knowledge`, HTTP/2 to a
//! client whose first bytes are its preface); TLS ([`Options::tls`]) speaks
//! what ALPN settled, `h2` or HTTP/1.1. TLS sits beneath the socket wrapper
//! (`timed_io`), which sees plaintext.
//!
//! As in the raw backend, an HTTP/1 request body is never read: the socket
//! hands hyper one head at a time, and the service, which hyper calls as soon
//! as a head is parsed, closes the read side to hyper when that request has a
//! body (`timed_io`). The answer then says `connection: close`. An HTTP/2
//! stream's body is left unread too; hyper resets it once answered.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::task::Poll;
use std::time::Duration;

use ::hyper::body::Incoming;
use ::hyper::server::conn::{http1, http2};
use ::hyper::service::service_fn;
use ::hyper::{Request, Response};
use futures_util::FutureExt;
use futures_util::future::Either;
use futures_util::task::AtomicWaker;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::{Notify, Semaphore};
use tokio_rustls::TlsAcceptor;

mod file_body;
mod h2;
mod send_file;
mod timed_io;

use crate::docroot::{Body, ChangesSeen, DocRoot, HeaderSource, Reply, RequestView, Version};
use crate::server::Started;
use crate::tls::Tls;
use crate::{Backend, Config, Shutdown};
use file_body::ResponseBody;
use send_file::{FileSocket, Outgoing};
use timed_io::{TimedStream, Wire};
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `http1::Builder::max_headers`'s default in hyper 1.x.
const HYPER_DEFAULT_MAX_HEADERS: usize = 100;

/// What only the hyper backend is told: TLS, HTTP/2 and HSTS.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Serve HTTPS with this certificate; `None`: plain TCP.
    pub tls: Option<Tls>,
    /// On plain TCP, also speak HTTP/2 to clients that open with its preface (h2c).
    pub http2_prior_knowledge: bool,
    /// `Strict-Transport-Security: max-age=N` on every answer over TLS.
    pub hsts: Option<u64>,
    pub http2: Http2Limits,
}

/// HTTP/2's own bounds. The header list size is [`crate::Limits::max_head_bytes`],
/// an idle connection closes after [`crate::Limits::idle_timeout`], and one
/// connection serves [`crate::Limits::max_requests_per_connection`] streams.
#[derive(Debug, Clone)]
pub struct Http2Limits {
    /// Streams open at once on a connection (nginx's default is 128).
    pub max_concurrent_streams: u32,
    /// A PING after this long without a frame from the client (an idle
    /// connection closes sooner, after the idle timeout) ...
    pub keep_alive_interval: Duration,
    /// ... and the connection closes if it is not answered within this.
    pub keep_alive_timeout: Duration,
    /// Streams a connection may cut short (reset by the client before the
    /// answer was sent) before it is closed: the rapid-reset flood.
    pub max_cut_streams: usize,
    /// Streams reset by the client before hyper took them up (h2's own bound).
    pub max_pending_accept_reset_streams: usize,
    /// Streams the server resets for protocol errors before it sends GOAWAY.
    pub max_local_error_reset_streams: usize,
}

impl Default for Http2Limits {
    fn default() -> Self {
        Http2Limits {
            max_concurrent_streams: 128,
            keep_alive_interval: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(20),
            max_cut_streams: 200,
            max_pending_accept_reset_streams: 20,
            max_local_error_reset_streams: 100,
        }
    }
}

/// What every connection shares.
struct Context {
    docroot: Arc<DocRoot>,
    max_requests_per_connection: usize,
    chunk_size: usize,
    print_requests: bool,
    introspect: bool,
    h1: http1::Builder,
    /// `h1` for plain TCP, where file bodies are mappings ([`plain_h1`]).
    h1_plain: http1::Builder,
    h2: http2::Builder<TokioExecutor>,
    h2_bounds: h2::Bounds,
    tls: Option<TlsAcceptor>,
    h2c: bool,
    /// The `Strict-Transport-Security` value, with TLS only.
    hsts: Option<http::HeaderValue>,
    /// Time for a TLS handshake, or for an h2c client's first bytes.
    handshake_timeout: Duration,
    /// Time for an HTTP/1 head, the idle wait before it included (`timed_io`).
    head_timeout: Duration,
    write_timeout: Duration,
    /// Longer request lines get 414 (see `timed_io`).
    max_request_line: usize,
    /// `--once`: the listener, to stop listening the moment the one request
    /// is known, and who has it.
    once: Option<Once>,
    /// How each connection hears of the stop.
    stops: Stops,
}

/// `--once` counts a request, not a connection: connections that close
/// without one, or sit idle, do not use it up. The first request whose head
/// hyper parses is the one; the listener stops listening before it is
/// answered, so a client that sends a second request after reading the
/// answer (a page's stylesheet) is refused by the kernel.
struct Once {
    listener: Arc<tokio::net::TcpListener>,
    /// The id of the connection whose request is the one; 0 while none is.
    claimed_by: AtomicU64,
    /// Wakes the accept loop once a request is claimed ...
    claimed: Notify,
    /// ... and once that request's connection has ended.
    done: Notify,
}

impl Once {
    /// Whether the request just parsed on connection `id` is the one.
    fn claim(&self, id: u64) -> bool {
        if self
            .claimed_by
            .compare_exchange(0, id, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return false;
        }
        // Not listening from here on: on Linux, shutting a listening socket
        // ends the listen (new clients are refused, the blocked accept wakes).
        let _ = rustix::net::shutdown(&*self.listener, rustix::net::Shutdown::Read);
        self.claimed.notify_one();
        true
    }
}

/// The answer to a request that came after `--once` had its request: none.
/// hyper closes the connection without a response, as a stopped server would.
#[derive(Debug, thiserror::Error)]
#[error("--once has served its request")]
struct NotTheOne;

/// Serves `listener` until `shutdown` is requested (or, with `config.once`,
/// until one request has been served), then lets connections finish their
/// current response within the grace period.
pub(crate) fn run(
    listener: TcpListener,
    config: &Config,
    docroot: Arc<DocRoot>,
    shutdown: Shutdown,
    started: Started,
) -> io::Result<()> {
    // With one worker, a current-thread runtime: the same work without the
    // multi-thread scheduler's hand-offs, and a much shorter tail latency.
    let threads = config.threads_for(Backend::Hyper);
    let mut builder = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads);
        b
    };
    let runtime = builder
        .thread_name("twinserve-hyper")
        .enable_all()
        .build()?;
    listener.set_nonblocking(true)?;
    let result = runtime.block_on(serve(listener, config, docroot, shutdown, started));
    // Blocking-pool threads reading files for a cut connection get a moment
    // to notice, rather than holding the process.
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}

async fn serve(
    listener: TcpListener,
    config: &Config,
    docroot: Arc<DocRoot>,
    shutdown: Shutdown,
    started: Started,
) -> io::Result<()> {
    let listener = Arc::new(tokio::net::TcpListener::from_std(listener)?);
    let limits = &config.limits;
    let options = &config.hyper;
    let mut h1 = http1::Builder::new();
    // No timer: hyper's head timeout would cost a timer made and dropped per
    // request. The socket wrapper keeps one per connection instead, covering
    // both the idle time before a request and the time to receive its head
    // (raw has two timeouts there; see Limits).
    h1.header_read_timeout(None)
        // A client that half-closes after its request still gets an answer;
        // and hyper does not read while it answers, so every read is a
        // head's, which the socket wrapper's head timeout relies on.
        .half_close(true)
        // max_buf_size alone is a soft cap; this is the same hard limit as raw's.
        .max_header_size(limits.max_head_bytes)
        .keep_alive(!config.once);
    // Left unset at hyper's own default: only then does hyper keep its header
    // arrays uninitialised; set, it fills them on every request.
    if limits.max_headers != HYPER_DEFAULT_MAX_HEADERS {
        h1.max_headers(limits.max_headers);
    }
    let h2_limits = &options.http2;
    let mut h2 = http2::Builder::new(TokioExecutor::new());
    h2.timer(TokioTimer::new())
        .max_concurrent_streams(h2_limits.max_concurrent_streams)
        .max_header_list_size(u32::try_from(limits.max_head_bytes).unwrap_or(u32::MAX))
        .keep_alive_interval(h2_limits.keep_alive_interval)
        .keep_alive_timeout(h2_limits.keep_alive_timeout)
        .max_pending_accept_reset_streams(h2_limits.max_pending_accept_reset_streams)
        .max_local_error_reset_streams(h2_limits.max_local_error_reset_streams);
    // `--once` answers one request on one connection, which HTTP/2 would
    // multiplex: its TLS offers HTTP/1.1 alone.
    let tls = options.tls.as_ref().map(|tls| {
        let tls = if config.once {
            tls.http1_only()
        } else {
            tls.clone()
        };
        TlsAcceptor::from(tls.config)
    });
    let hsts = match (&tls, options.hsts) {
        (Some(_), Some(secs)) => http::HeaderValue::try_from(format!("max-age={secs}")).ok(),
        _ => None,
    };
    let ctx = Arc::new(Context {
        docroot,
        max_requests_per_connection: limits.max_requests_per_connection,
        chunk_size: config.chunk_size_for(Backend::Hyper),
        print_requests: config.print_requests,
        introspect: config.introspect,
        h1_plain: plain_h1(&h1),
        h1,
        h2,
        h2_bounds: h2::Bounds {
            idle: limits.idle_timeout,
            max_requests: limits.max_requests_per_connection,
            max_cut: h2_limits.max_cut_streams,
            stall: limits.write_timeout,
        },
        tls,
        h2c: options.http2_prior_knowledge && !config.once,
        hsts,
        handshake_timeout: limits.head_timeout,
        head_timeout: limits.head_timeout,
        write_timeout: limits.write_timeout,
        max_request_line: limits.max_request_line,
        once: config.once.then(|| Once {
            listener: Arc::clone(&listener),
            claimed_by: AtomicU64::new(0),
            claimed: Notify::new(),
            done: Notify::new(),
        }),
        stops: Stops::default(),
    });
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let claimed = async {
        match &ctx.once {
            Some(once) => once.claimed.notified().await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(claimed);
    let mut stop = shutdown.clone();
    let mut next_id = 0u64;
    // One task hears the stop for every connection, rather than each
    // connection holding a wait of its own (160 bytes) for as long as it lasts.
    let stopping = Arc::clone(&ctx);
    let mut heard = shutdown.clone();
    tokio::spawn(async move {
        heard.requested().await;
        stopping.stops.stop_all();
    });
    started.say();
    loop {
        let permit = tokio::select! {
            permit = Arc::clone(&permits).acquire_owned() => permit.map_err(io::Error::other)?,
            () = stop.requested() => break,
            () = &mut claimed => break,
        };
        // The peer comes with the accept: asking the socket costs a getpeername.
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => (stream, Some(peer)),
                // The one request has shut the listener.
                Err(_) if is_claimed(&ctx) => break,
                Err(e) => {
                    tracing::warn!("accept failed: {e}");
                    // Out of descriptors: wait for some to close, don't spin.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            () = stop.requested() => break,
            () = &mut claimed => break,
        };
        next_id += 1;
        let id = next_id;
        // A combinator, not an `async` block: one would hold the connection's
        // future twice (as captured, and as awaited).
        let task_ctx = Arc::clone(&ctx);
        let signal = ctx.stops.register(id);
        let served = connection(stream, peer, id, Arc::clone(&ctx), signal);
        tokio::spawn(AssertUnwindSafe(served).catch_unwind().map(move |ended| {
            match ended {
                // A reset, a timeout, a failed handshake or a malformed
                // request: only this connection ends.
                Ok(Err(e)) => tracing::debug!(?peer, "connection ended: {e}"),
                Ok(Ok(())) => {}
                Err(_) => crate::server::note_panic(),
            }
            task_ctx.stops.forget(id);
            drop(permit);
            if let Some(once) = &task_ctx.once
                && once.claimed_by.load(Ordering::Acquire) == id
            {
                once.done.notify_one();
            }
        }));
    }
    // From here on a new client is refused by the kernel (with `--once` the
    // listener may be shared still, so it is shut as well as dropped).
    let _ = rustix::net::shutdown(&*listener, rustix::net::Shutdown::Read);
    drop(listener);

    match &ctx.once {
        Some(once) if is_claimed(&ctx) => {
            // Its own timeouts bound the one connection; the others (idle, or
            // with a request too late) end with the runtime.
            let bound = limits.head_timeout + limits.write_timeout;
            let _ = tokio::time::timeout(bound, once.done.notified()).await;
        }
        _ => {
            // Each connection has seen the stop and is finishing (HTTP/1:
            // its response in flight; HTTP/2: GOAWAY, then its open
            // streams); all are done when every permit is back.
            let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
            if tokio::time::timeout(limits.shutdown_grace, permits.acquire_many(all))
                .await
                .is_err()
            {
                tracing::warn!(
                    "responses still in flight after {:?}; closing them",
                    limits.shutdown_grace
                );
                crate::server::note_cut();
            }
        }
    }
    Ok(())
}

/// A future serving one accepted connection, from its TLS handshake (if
/// any) to its end. Only plain HTTP/1 is served in the future itself; the
/// other ways are boxed, so the task each connection lives in is no larger
/// than plain HTTP/1 needs. Not an `async fn`: one would keep its own copy
/// of every argument for as long as the connection lasts.
fn connection(
    stream: TcpStream,
    peer: Option<SocketAddr>,
    id: u64,
    ctx: Arc<Context>,
    stop: Arc<StopSignal>,
) -> impl Future<Output = Result<(), BoxError>> + Send + 'static {
    type Boxed = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;
    if ctx.tls.is_some() {
        Either::Left(Box::pin(secure_connection(stream, peer, id, ctx, stop)) as Boxed)
    } else if ctx.h2c {
        Either::Left(Box::pin(h2c_connection(stream, peer, id, ctx, stop)) as Boxed)
    } else {
        Either::Right(serve_plain_h1(stream, peer, ctx, id, stop))
    }
}

/// Plain TCP with `--http2-prior-knowledge`: HTTP/2 when the client's first
/// bytes are its preface, HTTP/1 otherwise.
async fn h2c_connection(
    stream: TcpStream,
    peer: Option<SocketAddr>,
    id: u64,
    ctx: Arc<Context>,
    stop: Arc<StopSignal>,
) -> Result<(), BoxError> {
    let h2c = tokio::select! {
        looked = h2::sends_preface(&stream, ctx.handshake_timeout) => looked?,
        () = stop.fired() => return Ok(()),
    };
    if h2c {
        serve_h2(stream, peer, ctx, id, false, stop).await
    } else {
        serve_plain_h1(stream, peer, ctx, id, stop).await
    }
}

/// TLS: the handshake, then what ALPN settled.
async fn secure_connection(
    stream: TcpStream,
    peer: Option<SocketAddr>,
    id: u64,
    ctx: Arc<Context>,
    stop: Arc<StopSignal>,
) -> Result<(), BoxError> {
    let Some(acceptor) = &ctx.tls else {
        return Err("a TLS connection without a TLS configuration".into());
    };
    // The handshake is bounded, so clients that never finish one (a slow
    // handshake flood) each hold a connection slot for that long at most.
    let handshake = tokio::time::timeout(ctx.handshake_timeout, acceptor.accept(stream));
    let tls = tokio::select! {
        done = handshake => match done {
            Ok(Ok(tls)) => tls,
            Ok(Err(e)) => return Err(format!("TLS handshake failed: {e}").into()),
            Err(_) => return Err("TLS handshake timed out".into()),
        },
        () = stop.fired() => return Ok(()),
    };
    if tls.get_ref().1.alpn_protocol() == Some(crate::tls::ALPN_H2) {
        serve_h2(tls, peer, ctx, id, true, stop).await
    } else {
        serve_h1(tls, peer, ctx, id, true, None, stop).await
    }
}

/// `h1` as plain TCP needs it: body pieces handed to the socket as they are,
/// in vectored writes. hyper's other strategy (chosen by `writev(false)`, or
/// by `pipeline_flush`) copies each piece into a buffer of its own, and would
/// read the file's mapping ([`send_file`]).
fn plain_h1(h1: &http1::Builder) -> http1::Builder {
    let mut plain = h1.clone();
    plain.writev(true).pipeline_flush(false);
    plain
}

/// HTTP/1 on plain TCP, where files go out with `sendfile`.
fn serve_plain_h1(
    stream: TcpStream,
    peer: Option<SocketAddr>,
    ctx: Arc<Context>,
    id: u64,
    stop: Arc<StopSignal>,
) -> impl Future<Output = Result<(), BoxError>> + Send + 'static {
    let outgoing = Arc::new(Outgoing::default());
    let socket = FileSocket::new(stream, Arc::clone(&outgoing));
    serve_h1(socket, peer, ctx, id, false, Some(outgoing), stop)
}

/// HTTP/1 on `io`: hyper's connection, with the service that sees each head
/// before hyper reads on. With `outgoing`, `io` sends the files it maps.
fn serve_h1<S>(
    io: S,
    peer: Option<SocketAddr>,
    ctx: Arc<Context>,
    id: u64,
    secure: bool,
    outgoing: Option<Arc<Outgoing>>,
    stop: Arc<StopSignal>,
) -> impl Future<Output = Result<(), BoxError>> + Send + 'static
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    // TCP_NODELAY came with the socket from the listener (`server::bind`).
    // hyper has no write timeout, and no read timeout once a head is in:
    // both come from wrapping the socket, which also keeps bodies unread.
    let plain = outgoing.is_some();
    let wire = Arc::new(Wire::default());
    let stream = TimedStream::new(
        io,
        ctx.head_timeout,
        ctx.write_timeout,
        Arc::clone(&wire),
        ctx.max_request_line,
    );
    let conn_ctx = Arc::clone(&ctx);
    let served = AtomicUsize::new(0);
    // hyper calls this as soon as it has parsed a head, before it reads
    // on: what must happen before any byte after the head is read
    // (refusing a body, claiming `--once`'s request) happens here. The
    // answer is decided here too, so the future hyper awaits is a ready one.
    let service = service_fn(move |req: Request<Incoming>| {
        let served = served.fetch_add(1, Ordering::Relaxed) + 1;
        // hyper answers 400 to a Transfer-Encoding that does not end in
        // chunked (and to any in HTTP/1.0), so a request that has the field
        // has a chunked body: the body's end says it all.
        let has_body = !::hyper::body::Body::is_end_stream(req.body());
        debug_assert!(
            has_body || !req.headers().contains_key(http::header::TRANSFER_ENCODING),
            "hyper passed Transfer-Encoding without a body"
        );
        // A request line cut at the limit is refused and, like a body, left unread.
        let uri_too_long = wire.uri_too_long();
        if has_body || uri_too_long {
            wire.refuse_body();
        }
        let fragment = wire.had_fragment();
        let the_one = conn_ctx.once.as_ref().is_none_or(|once| once.claim(id));
        std::future::ready(if the_one {
            let seen = Seen {
                served,
                has_body: has_body || uri_too_long,
                fragment,
                uri_too_long,
                secure,
                h2: false,
                peer,
            };
            let response = answer(req, &conn_ctx, seen);
            Ok(match &outgoing {
                Some(outgoing) => outgoing.adopt(response),
                None => response,
            })
        } else {
            Err(NotTheOne)
        })
    });
    let builder = if plain { &ctx.h1_plain } else { &ctx.h1 };
    let conn = builder.serve_connection(TokioIo::new(stream), service);
    UntilStopped {
        work: conn,
        stop,
        stopping: false,
    }
    .map(|ended| Ok(ended?))
}

/// HTTP/2 on `io` (after the TLS handshake, or an h2c preface): hyper's
/// connection, closed with GOAWAY when idle, at its request limit, or at
/// shutdown — open streams finish first; dropped at once after too many
/// streams cut short, or when open streams send nothing for the write timeout.
async fn serve_h2<S>(
    io: S,
    peer: Option<SocketAddr>,
    ctx: Arc<Context>,
    id: u64,
    secure: bool,
    stop: Arc<StopSignal>,
) -> Result<(), BoxError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let stream = TimedStream::h2(io, ctx.write_timeout);
    let (streams, activity) = h2::Streams::new(ctx.h2_bounds);
    let progress = streams.progress();
    let conn_ctx = Arc::clone(&ctx);
    let service = service_fn(move |req: Request<Incoming>| {
        let guard = streams.start();
        let the_one = conn_ctx.once.as_ref().is_none_or(|once| once.claim(id));
        let ctx = Arc::clone(&conn_ctx);
        async move {
            if !the_one {
                return Err(NotTheOne);
            }
            let seen = Seen {
                served: 1,
                has_body: false,
                uri_too_long: false,
                fragment: false,
                secure,
                h2: true,
                peer,
            };
            Ok(answer(req, &ctx, seen).map(|body| h2::Tracked::new(body, guard)))
        }
    });
    // Pinned where it is made, as in `serve_h1`: one slot for it in the task.
    let mut conn = std::pin::pin!(ctx.h2.serve_connection(TokioIo::new(stream), service));
    let why = tokio::select! {
        ended = conn.as_mut() => return Ok(ended?),
        () = stop.fired() => None,
        why = h2::until_closing(activity, progress.clone(), ctx.h2_bounds) => Some(why),
    };
    // Returning drops the connection: its socket closes and hyper's stream
    // tasks end, releasing their files.
    match why {
        // A rapid-reset flood: closed at once, not given time to send more.
        Some(h2::Closing::TooManyCut) => {
            return Err("closed: the client reset too many streams".into());
        }
        Some(h2::Closing::Stalled) => return Err(stalled(ctx.h2_bounds.stall)),
        _ => {}
    }
    // GOAWAY: no new streams; the open ones finish, then hyper closes —
    // unless they stop making progress.
    conn.as_mut().graceful_shutdown();
    progress.stamp();
    tokio::select! {
        ended = conn.as_mut() => Ok(ended?),
        () = progress.until_stalled(ctx.h2_bounds.stall) => Err(stalled(ctx.h2_bounds.stall)),
    }
}

/// Work that can be asked to finish what it has begun and then end: an
/// HTTP/1 connection finishes the answer in flight, then closes.
trait WindDown: Future + Unpin {
    fn wind_down(&mut self);
}

impl<I, S, B> WindDown for http1::Connection<I, S>
where
    S: ::hyper::service::HttpService<Incoming, ResBody = B>,
    S::Error: Into<BoxError>,
    I: ::hyper::rt::Read + ::hyper::rt::Write + Unpin,
    B: ::hyper::body::Body + 'static,
    B::Error: Into<BoxError>,
{
    fn wind_down(&mut self) {
        Pin::new(self).graceful_shutdown();
    }
}

/// `work` until it ends; once `stop` fires, wound down, and then until it
/// ends. A future of its own, not an `async fn`: one keeps its arguments
/// beside the locals they were moved into, and its task is the size of the
/// connection plus both.
struct UntilStopped<W> {
    work: W,
    stop: Arc<StopSignal>,
    stopping: bool,
}

impl<W: WindDown> Future for UntilStopped<W> {
    type Output = W::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<W::Output> {
        let this = self.get_mut();
        if let Poll::Ready(output) = Pin::new(&mut this.work).poll(cx) {
            return Poll::Ready(output);
        }
        if !this.stopping && this.stop.poll_fired(cx).is_ready() {
            this.stopping = true;
            this.work.wind_down();
            // Nothing else would wake this task: winding down may end it now.
            return Pin::new(&mut this.work).poll(cx);
        }
        Poll::Pending
    }
}

/// One connection's word of the stop: set, and its task woken, by [`Stops`].
#[derive(Default)]
struct StopSignal {
    fired: AtomicBool,
    task: AtomicWaker,
}

impl StopSignal {
    /// Ready once fired; until then the task is woken when it fires.
    fn poll_fired(&self, cx: &mut std::task::Context<'_>) -> Poll<()> {
        // Registered before `fired` is read, so a stop in between is not lost.
        self.task.register(cx.waker());
        if self.fired.load(Ordering::Acquire) {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }

    /// Waits until fired (one task waits on a signal: it keeps one waker).
    fn fired(&self) -> impl Future<Output = ()> + '_ {
        std::future::poll_fn(|cx| self.poll_fired(cx))
    }

    fn fire(&self) {
        self.fired.store(true, Ordering::Release);
        self.task.wake();
    }
}

/// The stop signals of the connections open, fired together when the server
/// stops. A connection registered after that gets its signal already fired.
#[derive(Default)]
struct Stops(std::sync::Mutex<OpenStops>);

#[derive(Default)]
struct OpenStops {
    stopping: bool,
    signals: std::collections::HashMap<u64, Arc<StopSignal>>,
}

impl Stops {
    fn lock(&self) -> std::sync::MutexGuard<'_, OpenStops> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The signal for connection `id`, which the stop will fire.
    fn register(&self, id: u64) -> Arc<StopSignal> {
        let mut open = self.lock();
        let signal = Arc::new(StopSignal::default());
        if open.stopping {
            signal.fire();
        } else {
            open.signals.insert(id, Arc::clone(&signal));
        }
        signal
    }

    /// Connection `id` has ended.
    fn forget(&self, id: u64) {
        self.lock().signals.remove(&id);
    }

    /// Fires every signal, and every one registered from now on.
    fn stop_all(&self) {
        let signals: Vec<_> = {
            let mut open = self.lock();
            open.stopping = true;
            open.signals.drain().map(|(_, signal)| signal).collect()
        };
        // Woken outside the lock: a woken task may end, and forget itself, at once.
        for signal in signals {
            signal.fire();
        }
    }
}

fn stalled(bound: Duration) -> BoxError {
    format!("closed: no stream sent data for {bound:?}").into()
}

/// Whether `--once` has its request.
fn is_claimed(ctx: &Context) -> bool {
    ctx.once
        .as_ref()
        .is_some_and(|once| once.claimed_by.load(Ordering::Acquire) != 0)
}

/// What is known of a request besides what hyper parsed.
struct Seen {
    /// Requests on this connection so far, this one included.
    served: usize,
    /// It has a body, which will not be read.
    has_body: bool,
    /// Its request-target held a `#fragment`, which hyper cut off.
    fragment: bool,
    /// Its request line passed the limit and was cut (`timed_io`): 414.
    uri_too_long: bool,
    /// It came over TLS.
    secure: bool,
    /// It came over HTTP/2, where the connection is not the answer's business.
    h2: bool,
    /// For the access log.
    peer: Option<SocketAddr>,
}

/// One request: the docroot decides, and the reply becomes a response.
fn answer(req: Request<Incoming>, ctx: &Context, seen: Seen) -> Response<ResponseBody> {
    let mut response = decide(req, ctx, &seen);
    if seen.secure
        && let Some(hsts) = &ctx.hsts
    {
        response
            .headers_mut()
            .insert(http::header::STRICT_TRANSPORT_SECURITY, hsts.clone());
    }
    if seen.h2 {
        return response;
    }
    // hyper closes after a response that says `connection: close`: after a
    // body left unread (RFC 9112 §9.3: read it all, or close), and at the
    // connection's request limit.
    if seen.has_body || seen.served >= ctx.max_requests_per_connection {
        response.headers_mut().insert(
            http::header::CONNECTION,
            http::HeaderValue::from_static("close"),
        );
    }
    response
}

fn decide(req: Request<Incoming>, ctx: &Context, seen: &Seen) -> Response<ResponseBody> {
    let changes_seen = match from_memory(&req, ctx, seen) {
        Ok(response) => return response,
        Err(changes_seen) => changes_seen,
    };
    // The body is never read: no method this server allows has one, and the
    // socket has already ended the read side to hyper (see the service).
    let (mut parts, body) = req.into_parts();
    if seen.h2 {
        // RFC 9113 §8.3.1: `:authority` stands in for Host, which docroot
        // requires (an http or https request MUST carry one or the other);
        // a Host naming another entity than `:authority` is malformed.
        if let Some(authority) = parts.uri.authority() {
            match parts.headers.get(http::header::HOST) {
                None => {
                    if let Ok(host) = http::HeaderValue::from_str(authority.as_str()) {
                        parts.headers.insert(http::header::HOST, host);
                    }
                }
                Some(host)
                    if !host
                        .as_bytes()
                        .eq_ignore_ascii_case(authority.as_str().as_bytes()) =>
                {
                    let reply = Reply::status(http::StatusCode::BAD_REQUEST)
                        .answering(parts.method.as_str());
                    return into_response(reply, ctx.chunk_size);
                }
                Some(_) => {}
            }
        }
    }
    if seen.uri_too_long {
        let reply = Reply::status(http::StatusCode::URI_TOO_LONG).answering(parts.method.as_str());
        return into_response(reply, ctx.chunk_size);
    }
    if ctx.print_requests {
        print_head(&parts);
    }
    if ctx.introspect {
        let reply = Reply::introspection(describe(&parts, &body));
        return into_response(reply, ctx.chunk_size);
    }
    // docroot runs here on the async worker, not on the blocking pool: a path
    // walk and an open on a local disk cost less than the hand-off would. (On
    // a slow network file system, this is the line to put in spawn_blocking.)
    // Origin-form, nearly every request, is borrowed as it is; only the
    // absolute form is put back together.
    let mut target: std::borrow::Cow<'_, str> = match parts.uri.path_and_query() {
        // HTTP/2 carries the scheme and authority beside `:path`.
        Some(origin) if parts.uri.scheme().is_none() || seen.h2 => origin.as_str().into(),
        _ => parts.uri.to_string().into(),
    };
    if seen.fragment {
        // Put back what hyper cut, for docroot to refuse as the raw parser
        // does: a request-target has no fragment (RFC 9112 §3.2).
        target.to_mut().push('#');
    }
    // Without a body (HTTP/1) there is no Transfer-Encoding to look at.
    if (seen.has_body || seen.h2) && has_unknown_coding(&parts.headers) {
        // RFC 9112 §6.1: a transfer coding the server does not implement
        // SHOULD get 501; hyper accepts `gzip, chunked` and would decode the
        // chunks as if there were no gzip. The body is not read either way.
        let reply =
            Reply::status(http::StatusCode::NOT_IMPLEMENTED).answering(parts.method.as_str());
        return into_response(reply, ctx.chunk_size);
    }
    let view = RequestView {
        method: parts.method.as_str(),
        target: &target,
        version: if parts.version == http::Version::HTTP_10 {
            Version::Http10
        } else {
            Version::Http11
        },
        headers: &parts.headers,
    };
    // The clock is read only when a line will be written (the access log or
    // `-v`), decided by the same call as the raw backend's.
    let started = ctx.docroot.logs_exchanges().then(std::time::Instant::now);
    let reply = match changes_seen {
        Some(changes_seen) => ctx.docroot.respond_seen(&view, changes_seen),
        None => ctx.docroot.respond(&view),
    };
    if let Some(started) = started {
        // The access log and `-v`: one call, the same as the raw backend's.
        let exchange = crate::access_log::Exchange::new(seen.peer, &reply, started);
        ctx.docroot.log_exchange(&view, &exchange);
    }
    into_response(reply, ctx.chunk_size)
}

/// Nearly every request to a busy server: a GET or HEAD, in origin-form over
/// HTTP/1, of a whole small file the cache holds. Answered from its fields
/// and bytes without building a reply first. For anything else, or when the
/// answer is to be printed or logged, the cache's look for changes if it made
/// one (the whole decision then makes no other).
fn from_memory(
    req: &Request<Incoming>,
    ctx: &Context,
    seen: &Seen,
) -> Result<Response<ResponseBody>, Option<ChangesSeen>> {
    if seen.h2 || seen.has_body || seen.fragment || seen.uri_too_long {
        return Err(None);
    }
    if ctx.print_requests || ctx.introspect || ctx.docroot.logs_exchanges() {
        return Err(None);
    }
    let view = RequestView {
        method: req.method().as_str(),
        target: req.uri().path_and_query().ok_or(None)?.as_str(),
        version: if req.version() == http::Version::HTTP_10 {
            Version::Http10
        } else {
            Version::Http11
        },
        headers: req.headers(),
    };
    if req.uri().scheme().is_some() {
        return Err(None);
    }
    let whole = ctx.docroot.respond_whole_from_memory(&view)?;
    let mut response = Response::new(
        whole
            .body
            .map_or_else(ResponseBody::empty, ResponseBody::bytes),
    );
    *response.headers_mut() = whole.fields;
    Ok(response)
}

/// Whether `Transfer-Encoding` names any coding but `chunked`. (hyper itself
/// refuses `chunked` anywhere but last.)
fn has_unknown_coding(headers: &http::HeaderMap) -> bool {
    HeaderSource::values(headers, &http::header::TRANSFER_ENCODING)
        .flat_map(|value| value.split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .any(|coding| !coding.is_empty() && !coding.eq_ignore_ascii_case(b"chunked"))
}

/// Moves the docroot's decision into a hyper `Response`. The reply already
/// carries `Content-Length`, so hyper frames a streamed file by length rather
/// than falling back to chunked transfer-coding.
fn into_response(reply: Reply, chunk_size: usize) -> Response<ResponseBody> {
    let body = match reply.body {
        Body::Empty => ResponseBody::empty(),
        Body::Bytes(bytes) => ResponseBody::bytes(bytes),
        Body::File { file, offset, len } => ResponseBody::File(Box::new(file_body::FileBody::new(
            file, offset, len, chunk_size,
        ))),
    };
    let mut response = Response::new(body);
    *response.status_mut() = reply.status;
    *response.headers_mut() = reply.headers;
    response
}

/// The request as hyper understood it, for `compare`. hyper does not say how
/// it framed the body; its size hint does: exact for a length, open for chunked.
fn describe(parts: &http::request::Parts, body: &Incoming) -> String {
    use crate::introspection::{ParsedRequest, RequestBody};
    use ::hyper::body::Body as _;
    let hint = body.size_hint();
    ParsedRequest {
        backend: crate::Backend::Hyper,
        body: match hint.exact() {
            _ if body.is_end_stream() => RequestBody::None,
            Some(n) => RequestBody::ContentLength(n),
            None => RequestBody::Chunked,
        },
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| {
                let value = value.as_bytes().escape_ascii().to_string();
                (name.as_str().to_string(), value)
            })
            .collect(),
        method: parts.method.as_str().to_string(),
        target: parts.uri.to_string(),
        version: format!("{:?}", parts.version),
    }
    .to_json()
}

/// `--print-requests`: hyper hands over the head already parsed, so this is
/// the request as hyper understood it, not the bytes as received. Control and
/// non-ASCII bytes in values are escaped so a request cannot drive the
/// terminal; quotes and backslashes are printed as they are.
fn print_head(parts: &http::request::Parts) {
    use std::io::Write;
    let mut text = format!("{} {} {:?}\n", parts.method, parts.uri, parts.version);
    for (name, value) in &parts.headers {
        text.push_str(name.as_str());
        text.push_str(": ");
        push_printable(&mut text, value.as_bytes());
        text.push('\n');
    }
    text.push('\n');
    let _ = io::stdout().lock().write_all(text.as_bytes());
}

/// Appends `bytes`, printable ASCII as is and every other byte escaped.
fn push_printable(text: &mut String, bytes: &[u8]) {
    for &b in bytes {
        if (b' '..=b'~').contains(&b) {
            text.push(char::from(b));
        } else {
            text.extend(b.escape_ascii().map(char::from));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    use std::task::Poll;

    /// A waker that counts its wakes.
    #[derive(Default)]
    struct Wakes(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for Wakes {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    /// Work that says how many times it was wound down once it ends: when
    /// `done`, or at once on being wound down if `ends_when_wound`.
    #[derive(Default)]
    struct Winding {
        wound: usize,
        ends_when_wound: bool,
        done: bool,
    }

    impl Future for Winding {
        type Output = usize;
        fn poll(self: Pin<&mut Self>, _: &mut std::task::Context<'_>) -> Poll<usize> {
            if self.done || (self.ends_when_wound && self.wound > 0) {
                Poll::Ready(self.wound)
            } else {
                Poll::Pending
            }
        }
    }

    impl super::WindDown for Winding {
        fn wind_down(&mut self) {
            self.wound += 1;
        }
    }

    fn until_stopped(work: Winding, stop: Arc<super::StopSignal>) -> super::UntilStopped<Winding> {
        super::UntilStopped {
            work,
            stop,
            stopping: false,
        }
    }

    #[test]
    fn a_stop_wakes_the_waiting_task_and_winds_the_work_down_once() {
        let wakes = Arc::new(Wakes::default());
        let waker = std::task::Waker::from(Arc::clone(&wakes));
        let mut cx = std::task::Context::from_waker(&waker);
        let stops = super::Stops::default();
        let mut wait = until_stopped(Winding::default(), stops.register(1));
        assert!(Pin::new(&mut wait).poll(&mut cx).is_pending());
        assert_eq!(wakes.0.load(Ordering::SeqCst), 0);
        stops.stop_all();
        assert_eq!(wakes.0.load(Ordering::SeqCst), 1, "the stop wakes the task");
        for _ in 0..3 {
            assert!(Pin::new(&mut wait).poll(&mut cx).is_pending());
        }
        assert_eq!(wait.work.wound, 1, "wound down once, however often polled");
        wait.work.done = true;
        assert_eq!(Pin::new(&mut wait).poll(&mut cx), Poll::Ready(1));
    }

    #[test]
    fn work_wound_down_is_polled_again_at_once_and_work_that_ends_by_itself_ends_the_wait() {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let stops = super::Stops::default();
        stops.stop_all();
        let ends_when_wound = Winding {
            ends_when_wound: true,
            ..Winding::default()
        };
        // Nothing would wake the task again: the poll that winds it down ends it.
        let mut wait = until_stopped(ends_when_wound, stops.register(1));
        assert_eq!(Pin::new(&mut wait).poll(&mut cx), Poll::Ready(1));
        let finished = Winding {
            done: true,
            ..Winding::default()
        };
        let mut unstopped = until_stopped(finished, super::Stops::default().register(2));
        assert_eq!(Pin::new(&mut unstopped).poll(&mut cx), Poll::Ready(0));
    }

    #[test]
    fn a_connection_registered_after_the_stop_hears_it_and_ended_ones_are_forgotten() {
        use std::sync::atomic::Ordering;
        let stops = super::Stops::default();
        let open = stops.register(1);
        let ended = stops.register(2);
        stops.forget(2);
        assert_eq!(stops.lock().signals.len(), 1);
        assert!(!open.fired.load(Ordering::Acquire));
        stops.stop_all();
        assert!(open.fired.load(Ordering::Acquire));
        assert!(!ended.fired.load(Ordering::Acquire), "forgotten, not fired");
        let late = stops.register(3);
        assert!(late.fired.load(Ordering::Acquire));
        assert!(
            stops.lock().signals.is_empty(),
            "nothing kept once stopping"
        );
    }

    #[test]
    fn printed_heads_cannot_drive_a_terminal() {
        let mut text = String::new();
        super::push_printable(&mut text, b"\"abc\" C:\\dir \x1b[2J\x07caf\xc3\xa9\t\x7f");
        assert!(text.bytes().all(|b| (b' '..=b'~').contains(&b)));
        assert_eq!(text, r#""abc" C:\dir \x1b[2J\x07caf\xc3\xa9\t\x7f"#);
    }
}

//! The floor twinserve's hyper backend is measured against: hyper 1.x on the
//! same current-thread runtime, answering every request with one body held in
//! memory — no docroot, no validators, no timeouts. Whatever the hyper backend
//! costs beyond this server is twinserve's own (docs/benchmarks.md).
//!
//! `cargo run --release --example fixed_body -- PORT FILE [FIELDS]` serves
//! FILE's bytes on 127.0.0.1:PORT until interrupted. Only for small-file
//! scenarios (S1, S2, S5): it answers every path with the same body. By
//! default the answer carries what hyper adds to one `Content-Type`. With
//! FIELDS `all`, it carries the fields twinserve sends with a file (a map
//! prepared once and cloned per answer, `Date` first and set per answer), and
//! with `all-but-date` the same without `Date`, which hyper then writes: the
//! share of the hyper backend's cost that comes from the fields alone.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::SystemTime;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{self, HeaderMap, HeaderName, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

/// Which fields each answer carries.
#[derive(Clone, Copy, PartialEq)]
enum Fields {
    ContentType,
    All,
    AllButDate,
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(port), Some(file), fields, None) =
        (args.next(), args.next(), args.next(), args.next())
    else {
        eprintln!("usage: fixed_body PORT FILE [all | all-but-date]");
        std::process::exit(2);
    };
    let fields = match fields.as_deref() {
        None => Fields::ContentType,
        Some("all") => Fields::All,
        Some("all-but-date") => Fields::AllButDate,
        Some(other) => anyhow::bail!("unknown FIELDS {other:?}: all or all-but-date"),
    };
    let port: u16 = port.parse()?;
    let body = Bytes::from(std::fs::read(&file)?);
    let prepared = prepared_fields(&file, body.len(), fields)?;
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(serve(port, body, fields, prepared))
}

/// The fields twinserve sends with a file, in its order (`Date` a placeholder).
fn prepared_fields(file: &str, len: usize, fields: Fields) -> anyhow::Result<HeaderMap> {
    let meta = std::fs::metadata(file)?;
    let mut map = HeaderMap::with_capacity(10);
    if fields == Fields::All {
        map.insert(header::DATE, HeaderValue::from_static(""));
    }
    map.insert(
        HeaderName::from_static("x-content-type-options"),
        HeaderValue::from_static("nosniff"),
    );
    map.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    map.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    map.insert(
        header::ETAG,
        HeaderValue::try_from(format!("\"{:x}-{len:x}\"", meta.len()))?,
    );
    map.insert(
        header::LAST_MODIFIED,
        HeaderValue::try_from(httpdate::fmt_http_date(meta.modified()?))?,
    );
    map.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    map.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    Ok(map)
}

/// `Date`, formatted once a second, as twinserve does.
fn date_now() -> HeaderValue {
    thread_local! {
        static DATE: std::cell::RefCell<(u64, HeaderValue)> =
            const { std::cell::RefCell::new((u64::MAX, HeaderValue::from_static(""))) };
    }
    let now = SystemTime::now();
    let second = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    DATE.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.0 != second {
            let text = httpdate::fmt_http_date(now);
            *cached = (
                second,
                HeaderValue::try_from(text).expect("a date is valid"),
            );
        }
        cached.1.clone()
    })
}

async fn serve(port: u16, body: Bytes, fields: Fields, prepared: HeaderMap) -> anyhow::Result<()> {
    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
    let prepared = std::sync::Arc::new(prepared);
    loop {
        let (stream, _) = listener.accept().await?;
        // As twinserve's listener does: small responses go out at once.
        stream.set_nodelay(true)?;
        let body = body.clone();
        let prepared = std::sync::Arc::clone(&prepared);
        let service = service_fn(move |_: Request<hyper::body::Incoming>| {
            if fields == Fields::ContentType {
                let response = Response::builder()
                    .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
                    .body(Full::new(body.clone()))
                    .expect("static header is valid");
                return std::future::ready(Ok::<_, Infallible>(response));
            }
            let mut response = Response::new(Full::new(body.clone()));
            match fields {
                Fields::ContentType => {}
                Fields::All => {
                    let mut map = HeaderMap::clone(&prepared);
                    if let Some((_, date)) = map.iter_mut().next() {
                        *date = date_now();
                    }
                    *response.headers_mut() = map;
                }
                Fields::AllButDate => *response.headers_mut() = HeaderMap::clone(&prepared),
            }
            std::future::ready(Ok::<_, Infallible>(response))
        });
        tokio::spawn(async move {
            // A reset or malformed request ends only this connection.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

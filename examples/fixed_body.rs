//! The floor twinserve's hyper backend is measured against: hyper 1.x on the
//! same current-thread runtime, answering every request with one body held in
//! memory — no docroot, no validators, no timeouts. Whatever the hyper backend
//! costs beyond this server is twinserve's own (docs/benchmarks.md).
//!
//! `cargo run --release --example fixed_body -- PORT FILE` serves FILE's bytes
//! on 127.0.0.1:PORT until interrupted. Only for small-file scenarios (S1, S2,
//! S5): it answers every path with the same body.

use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, header};
use hyper_util::rt::TokioIo;

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(port), Some(file), None) = (args.next(), args.next(), args.next()) else {
        eprintln!("usage: fixed_body PORT FILE");
        std::process::exit(2);
    };
    let port: u16 = port.parse()?;
    let body = Bytes::from(std::fs::read(&file)?);
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(serve(port, body))
}

async fn serve(port: u16, body: Bytes) -> anyhow::Result<()> {
    let listener =
        tokio::net::TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        // As twinserve's listener does: small responses go out at once.
        stream.set_nodelay(true)?;
        let body = body.clone();
        let service = service_fn(move |_: Request<hyper::body::Incoming>| {
            let response = Response::builder()
                .header(header::CONTENT_TYPE, "text/html; charset=utf-8")
                .body(Full::new(body.clone()))
                .expect("static header is valid");
            async move { Ok::<_, Infallible>(response) }
        });
        tokio::spawn(async move {
            // A reset or malformed request ends only this connection.
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

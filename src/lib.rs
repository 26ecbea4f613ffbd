//! twinserve serves a folder of static files over HTTP/1.1 with one of two
//! interchangeable backends — `raw` (hand-written, `std::net` and threads) and
//! `hyper` (hyper 1.x on tokio) — and carries a threaded client to load them.
//!
//! This page is the table of contents. What every caller shares is re-exported
//! here: [`Backend`], the one [`Config`] the backends receive with its named
//! [`limits`], and [`spawn`], which starts a backend on a bound listener and
//! returns a [`ServerHandle`]; `serve`, `client --backend`, `compare` and the
//! tests all start servers through it.

pub mod access_log;
pub mod client;
pub mod compare;
mod config;
pub mod docroot;
mod html;
mod hyper;
pub mod introspection;
pub mod raw;
pub mod serve;
mod server;
pub mod tls;

pub use config::{Backend, Config, Limits, default_chunk_size, limits};
pub use hyper::{Http2Limits, Options as HyperOptions};
pub use server::{ServerHandle, Shutdown, StartError, Stopper, panics, spawn};

/// The log target of what the program tells its user — where a server
/// listens, that it is stopping, whether the pins hold — so `-q`, which keeps
/// only warnings otherwise, still shows them.
pub const STATUS: &str = "twinserve::status";

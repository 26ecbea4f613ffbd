//! `twinserve serve` from a [`Config`] to an exit code: start the backend, say
//! where it listens, and stop it cleanly on Ctrl-C / SIGTERM (a second signal
//! exits at once). [`start`] is the same start for `client --backend`.

use std::process::ExitCode;

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::docroot::RootError;
use crate::{Backend, Config, ServerHandle, StartError};

/// Why `serve` failed; each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Not a `#[source]`: the hint ends the line, and the cause is already in it.
    #[error("{0}{hint}", hint = flag_hint(.0))]
    Start(StartError),
    #[error("cannot install signal handlers")]
    Signals(#[source] std::io::Error),
    #[error("server failed")]
    Failed(#[source] std::io::Error),
}

/// The flag to change for each way a start can fail.
fn flag_hint(e: &StartError) -> &'static str {
    match e {
        StartError::Bind { source, .. } if source.kind() == std::io::ErrorKind::AddrInUse => {
            " (another server is using it; stop it or pass --port)"
        }
        StartError::Bind { .. } => " (pass --host and --port for another address)",
        StartError::Root(RootError::Option { .. }) => " (check --cache-control)",
        StartError::Root(_) => " (run from the project folder or pass --root DIR)",
        StartError::Start { .. } => "",
    }
}

/// Starts `backend` through [`crate::spawn`], with an error that names the
/// flag to change when it cannot.
pub fn start(backend: Backend, config: Config) -> Result<ServerHandle, ServeError> {
    crate::spawn(backend, config).map_err(ServeError::Start)
}

/// Serves until a signal stops the server (or, with `config.once`, until one
/// connection has been served).
pub fn run(backend: Backend, config: Config) -> Result<ExitCode, ServeError> {
    let root = config.root.display().to_string();
    let once = config.once;
    let scheme = if config.hyper.tls.is_some() {
        "https"
    } else {
        "http"
    };
    let handle = start(backend, config)?;
    tracing::info!(
        target: crate::STATUS,
        "{backend} backend serving {root} on {scheme}://{}/{}",
        handle.local_addr(),
        if once {
            " for one request"
        } else {
            " (Ctrl-C stops)"
        },
    );
    let mut signals = Signals::new([SIGINT, SIGTERM]).map_err(ServeError::Signals)?;
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
    handle.wait().map_err(ServeError::Failed)?;
    signal_handle.close();
    Ok(ExitCode::SUCCESS)
}

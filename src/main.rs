//! The `twinserve` binary: parse the command line, set up logging, run one
//! subcommand. Exit codes: 0 success, 2 usage error (clap's), 1 anything else,
//! always with a one-line message on stderr.

mod cli;

use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.quiet, cli.verbose);
    let outcome = match cli.command {
        Command::Serve(args) => cli::serve(args),
        Command::Client(args) => cli::client(args, cli.quiet),
        Command::Compare(args) => cli::compare(args),
    };
    outcome.unwrap_or_else(|e| {
        tracing::error!("{e:#}");
        ExitCode::FAILURE
    })
}

/// Every line on stderr in one style, tracing's compact one: time, level,
/// message. Logs go to stderr so stdout carries only results (and
/// --print-requests); no colour codes when NO_COLOR is set or stderr is not a
/// terminal.
fn init_logging(quiet: bool, verbose: u8) {
    let level = match (quiet, verbose) {
        // Quiet keeps warnings, and what the program tells its user.
        // rustls warns of each client's oddities (an IP address as SNI),
        // which are not the server's to fix; h2 logs every frame at debug.
        (true, _) => format!("warn,rustls=error,{}=info", twinserve::STATUS),
        (false, 0) => "info,rustls=error".into(),
        (false, 1) => "debug,h2=info,rustls=info".into(),
        (false, _) => "trace".into(),
    };
    let colour = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::io::IsTerminal::is_terminal(&std::io::stderr());
    // A RUST_LOG that does not parse is said so, not silently dropped: a
    // user who set it is waiting for lines that would never come.
    let (filter, refused) = match std::env::var("RUST_LOG") {
        Err(std::env::VarError::NotPresent) => (EnvFilter::new(&level), None),
        // Nothing but commas and spaces names nothing, as an empty one does
        // (parsed, it would turn every line off, errors too).
        Ok(directives) if directives.split(',').all(|d| d.trim().is_empty()) => {
            (EnvFilter::new(&level), None)
        }
        Ok(directives) => match EnvFilter::try_new(&directives) {
            Ok(filter) => (filter, None),
            Err(e) => (EnvFilter::new(&level), Some(e.to_string())),
        },
        Err(e) => (EnvFilter::new(&level), Some(e.to_string())),
    };
    tracing_subscriber::fmt()
        .compact()
        // The module path is the code's business, not the reader's.
        .with_target(false)
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .init();
    if let Some(e) = refused {
        tracing::warn!("RUST_LOG ignored ({e}); logging as the flags say");
    }
}

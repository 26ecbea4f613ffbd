//! The `twinserve` binary: parse the command line, set up logging, run one
//! subcommand. Exit codes: 0 success, 2 usage error (clap's), 1 anything else,
//! always with a one-line message on stderr.

mod cli;

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{CommandFactory, Parser};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use tracing_subscriber::EnvFilter;
use twinserve::client::{self, Attempt, ClientConfig};
use twinserve::{Config, ServerHandle, StartError};

use cli::{Cli, ClientArgs, Command, CompareArgs, Format, ServeArgs};

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    // Logs go to stderr so stdout carries only results (and --print-requests);
    // no colour codes when NO_COLOR is set or stderr is not a terminal.
    let colour = std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
        && std::io::IsTerminal::is_terminal(&std::io::stderr());
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level)),
        )
        .with_writer(std::io::stderr)
        .with_ansi(colour)
        .init();
    let outcome = match cli.command {
        Command::Serve(args) => serve(args),
        Command::Client(args) => run_client(args, cli.quiet),
        Command::Compare(args) => compare(args),
    };
    outcome.unwrap_or_else(|e| {
        eprintln!("twinserve: error: {e:#}");
        ExitCode::FAILURE
    })
}

fn config(root: std::path::PathBuf, addr: SocketAddr, threads: Option<u16>) -> Config {
    let mut config = Config::new(root);
    config.addr = addr;
    config.threads = threads.map_or(0, usize::from);
    config
}

/// Starts a server, with a message that says what to do when it cannot.
fn start(backend: twinserve::Backend, config: Config) -> anyhow::Result<ServerHandle> {
    twinserve::spawn(backend, config).map_err(|e| {
        let hint = match &e {
            StartError::Bind { source, .. } if source.kind() == std::io::ErrorKind::AddrInUse => {
                " (another server is using it; stop it or pass --port)"
            }
            StartError::Bind { .. } => " (pass --host and --port for another address)",
            StartError::Root(twinserve::docroot::RootError::Option { .. }) => "",
            StartError::Root(_) => " (run from the project folder or pass --root DIR)",
            StartError::Start { .. } => "",
        };
        anyhow::anyhow!("{e}{hint}")
    })
}

fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let mut config = config(
        args.root,
        SocketAddr::new(args.host, args.port),
        args.threads,
    );
    config.chunk_size = args.chunk_size.unwrap_or(0);
    config.docroot = twinserve::docroot::Options {
        cache_control: args.cache_control,
        precompressed: !args.no_precompressed,
        list_dirs: args.list_dirs,
        serve_hidden: args.serve_hidden,
        follow_symlinks: args.follow_symlinks,
    };
    config.once = args.once;
    config.print_requests = args.print_requests;
    let root = config.root.display().to_string();
    let handle = start(args.backend, config)?;
    eprintln!(
        "twinserve: {} backend serving {root} on http://{}/{}",
        args.backend,
        handle.local_addr(),
        if args.once {
            " for one request"
        } else {
            " (Ctrl-C stops)"
        },
    );
    let mut signals = Signals::new([SIGINT, SIGTERM]).context("cannot install signal handlers")?;
    let signal_handle = signals.handle();
    let stopper = handle.stopper();
    std::thread::spawn(move || {
        let mut pending = signals.forever();
        if pending.next().is_some() {
            eprintln!("twinserve: stopping; finishing responses in flight (again to force)");
            stopper.stop();
        }
        if pending.next().is_some() {
            eprintln!("twinserve: stopped without waiting");
            std::process::exit(1);
        }
    });
    handle.wait().context("server failed")?;
    signal_handle.close();
    Ok(ExitCode::SUCCESS)
}

fn run_client(args: ClientArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    let (server, addr, path) = match (args.backend, args.target.as_slice()) {
        (Some(backend), [file]) => {
            let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
            let handle = start(
                backend,
                config(args.root.clone(), loopback, args.server_threads),
            )?;
            let addr = handle.local_addr();
            eprintln!("twinserve: started the {backend} backend on http://{addr}/");
            (Some(handle), addr, file.clone())
        }
        (None, [host, port, file]) => {
            let Ok(port) = port.parse::<u16>() else {
                usage_error(format!(
                    "PORT must be a number from 0 to 65535, not {port:?}"
                ));
            };
            (None, client::resolve(host, port)?, file.clone())
        }
        (Some(_), _) => usage_error("with --backend, give only FILE".into()),
        (None, _) => usage_error("give HOST PORT FILE, or --backend raw|hyper and FILE".into()),
    };
    let config = ClientConfig {
        addr,
        path,
        threads: args.threads as usize,
        requests: usize::try_from(args.requests).unwrap_or(usize::MAX),
        keep_alive: args.keep_alive,
        timeout: Duration::from_secs_f64(args.timeout),
        duration: args.duration.map(Duration::from_secs_f64),
    };
    // JSON owns stdout: no per-response lines beside it.
    let quiet = quiet || args.json;
    let total = config.threads as u64 * config.requests as u64;
    // Per-response lines and a bar would fight over the terminal: the bar only with -q.
    let bar = progress_bar(if quiet { total } else { 0 }, "requests");
    if !quiet {
        bar.finish_and_clear();
    }
    let progress_done = bar.clone();
    let print_attempt = move |attempt: &Attempt| {
        if quiet {
            bar.inc(1);
            return;
        }
        let line = match &attempt.result {
            Ok(response) => format!("Response from server:\n{}\n", response.status_line),
            Err((kind, detail)) => format!("No response ({}): {detail}\n", kind.name()),
        };
        // A closed stdout (`| head`) must not stop the run.
        let _ = std::io::stdout().lock().write_all(line.as_bytes());
    };
    let report = client::run(&config, &print_attempt)?;
    progress_done.finish_and_clear();
    if args.json {
        println!("{}", report.to_json());
    } else {
        println!("{}", report.summary());
    }
    if let Some(server) = server {
        server.shutdown().context("in-process server failed")?;
    }
    Ok(if report.all_answered() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn compare(args: CompareArgs) -> anyhow::Result<ExitCode> {
    use twinserve::compare;
    let options = compare::Options {
        cases: args.cases,
        root: args.root,
        case: args.case,
        format: match args.format {
            Format::Table => compare::Format::Table,
            Format::Markdown => compare::Format::Markdown,
            Format::Json => compare::Format::Json,
            Format::Html => compare::Format::Html,
        },
        out: args.out,
        check: args.check,
        targets: args
            .targets
            .into_iter()
            .map(|(name, host, port)| compare::Target { name, host, port })
            .collect(),
        load: args.load.then(|| compare::LoadSettings {
            path: args.file,
            threads: args.threads as usize,
            requests: usize::try_from(args.requests).unwrap_or(usize::MAX),
            keep_alive: args.keep_alive,
        }),
    };
    Ok(compare::run(&options)?)
}

/// A progress bar on stderr; indicatif hides it when stderr is not a terminal.
fn progress_bar(len: u64, prefix: &'static str) -> indicatif::ProgressBar {
    let style =
        indicatif::ProgressStyle::with_template("{prefix:>12} [{bar:32}] {pos}/{len} {elapsed}")
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    indicatif::ProgressBar::new(len)
        .with_style(style)
        .with_prefix(prefix)
}

fn usage_error(message: String) -> ! {
    Cli::command()
        .error(clap::error::ErrorKind::ValueValidation, message)
        .exit()
}

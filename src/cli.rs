//! The command line: clap derive structs that parse, and one function per
//! subcommand that turns what was parsed into the library's plain types
//! ([`twinserve::Config`], [`twinserve::client::ClientConfig`],
//! [`twinserve::compare::Options`]) and calls the library for the exit code.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, CommandFactory, Parser, Subcommand};
use twinserve::client::command::LoadRun;
use twinserve::client::load::LoadConfig;
use twinserve::client::{ClientConfig, Target};
use twinserve::compare::Format;
use twinserve::{Backend, Config};

#[derive(Debug, Parser)]
#[command(
    name = "twinserve",
    version,
    about = "Serve a folder over HTTP/1.1 with a hand-written or a hyper backend, and load it with a threaded client"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// More log detail on stderr (-v debug, -vv trace); RUST_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Less output: warnings and status lines only in the log; `client` prints only its summary.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve a folder of static files.
    #[command(after_help = "Examples:\n  \
        twinserve serve                         # raw backend, ./site on http://127.0.0.1:12000/\n  \
        twinserve serve --backend hyper --port 8080\n  \
        twinserve serve --once --print-requests # the exercise's single-request server")]
    Serve(ServeArgs),
    /// Send requests to a server (ten at once, or a load run) and report what came back.
    #[command(after_help = "Examples:\n  \
        twinserve client 127.0.0.1 12000 HelloWorld.html   # 10 requests at once\n  \
        twinserve client --backend hyper HelloWorld.html   # start hyper in-process and load it\n  \
        twinserve client --backend raw,hyper HelloWorld.html -c 64 -d 5s --html load.html\n  \
        twinserve client http://127.0.0.1:12000/HelloWorld.html\n  \
        twinserve client 127.0.0.1 12000 / -c 64 -d 10s      # closed-loop load for 10 s\n  \
        twinserve client http://[::1]:12000/ --rate 2000 -d 30s --fail-if 'p99>20ms'")]
    Client(ClientArgs),
    /// Send the corpus of request cases to both backends and explain every difference.
    #[command(after_help = "Examples:\n  \
        twinserve compare                          # terminal table of every case\n  \
        twinserve compare --case bare-lf           # one case in full: bytes, responses, why\n  \
        twinserve compare --format html --out report.html\n  \
        twinserve compare --check                  # exit 1 if any outcome left its pin\n  \
        twinserve compare --target nginx=127.0.0.1:8080 --load")]
    Compare(CompareArgs),
}

#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Folder of case files (*.toml).
    #[arg(long, default_value = "compare")]
    pub cases: PathBuf,
    /// Site copied into a temporary root for the servers.
    #[arg(long, default_value = "site")]
    pub root: PathBuf,
    /// Run one case and print it in full.
    #[arg(long, value_name = "ID")]
    pub case: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Write the report here instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Exit 1 when any outcome differs from the one pinned in its case file.
    #[arg(long)]
    pub check: bool,
    /// Another server to run the corpus against, as an extra column.
    #[arg(long = "target", value_name = "NAME=HOST:PORT", value_parser = parse_target)]
    pub targets: Vec<(String, String, u16)>,
    /// Also run the client's load against every server, side by side.
    #[arg(long)]
    pub load: bool,
    /// --load: connections at once, each request after the one before.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub threads: u32,
    /// --load: requests for each of --threads (threads × requests in all).
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub requests: u64,
    /// --load: keep connections open between requests [default: a new
    /// connection per request, its connect counted in the latency].
    #[arg(long)]
    pub keep_alive: bool,
    /// --load: the file requested.
    #[arg(long, default_value = "HelloWorld.html")]
    pub file: String,
    /// Write the sandbox (the site as DIR/root, the secret beside it) for
    /// your own server to serve, print how to run it, and exit. DIR must be
    /// new or empty, outside the site and not a symbolic link; links in the
    /// site are not copied.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["case", "check", "targets", "load", "out"])]
    pub fixture: Option<PathBuf>,
}

fn parse_target(text: &str) -> Result<(String, String, u16), String> {
    let (name, address) = text
        .split_once('=')
        .ok_or("expected NAME=HOST:PORT, e.g. nginx=127.0.0.1:8080")?;
    let (host, port) = address
        .rsplit_once(':')
        .ok_or("expected HOST:PORT after the =")?;
    let port = port
        .parse()
        .map_err(|_| format!("{port:?} is not a port number"))?;
    if name.is_empty() || ["raw", "hyper", "textbook"].contains(&name) {
        return Err("the NAME must be non-empty and not raw, hyper or textbook".into());
    }
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok((name.to_string(), host.to_string(), port))
}

/// `serve`'s flags. Each can also come from the environment as
/// `TWINSERVE_<FLAG>` (`--list-dirs` from `TWINSERVE_LIST_DIRS=true`), the way
/// containers are configured; a flag on the command line wins.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The folder to serve [default: ./site]; the same as --root DIR.
    #[arg(value_name = "DIR", conflicts_with = "root")]
    pub dir: Option<PathBuf>,
    /// Which HTTP implementation answers.
    #[arg(long, env = "TWINSERVE_BACKEND", value_enum, default_value_t = Backend::Raw)]
    pub backend: Backend,
    /// The folder to serve [default: ./site].
    #[arg(long, env = "TWINSERVE_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Address or host name to listen on: 127.0.0.1, ::1, localhost, or ::
    /// (every address, IPv4 too where the OS allows). Anything but loopback
    /// exposes the folder to the network.
    #[arg(long, env = "TWINSERVE_HOST", default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on (0: any free port, printed at start).
    #[arg(long, env = "TWINSERVE_PORT", default_value_t = 12000)]
    pub port: u16,
    /// Worker threads [default: raw 128, hyper one per core].
    #[arg(long, env = "TWINSERVE_THREADS", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
    /// Bytes per piece when sending a file: one sendfile call (raw, and hyper on plain
    /// HTTP/1) or one read (hyper over TLS or HTTP/2, or a piece not in memory) [default: 64 KiB].
    #[arg(long, env = "TWINSERVE_CHUNK_SIZE", value_parser = parse_chunk_size)]
    pub chunk_size: Option<NonZeroUsize>,
    /// Cache-Control sent with files (200, 206, 304); a blank VALUE sends none.
    #[arg(long, env = "TWINSERVE_CACHE_CONTROL", value_name = "VALUE", default_value = twinserve::docroot::DEFAULT_CACHE_CONTROL)]
    pub cache_control: String,
    /// Never send file.br / file.gz / file.zst in place of file, whatever the client accepts.
    #[arg(long, env = "TWINSERVE_NO_PRECOMPRESSED")]
    pub no_precompressed: bool,
    /// Compress text files (HTML, CSS, JS, JSON, SVG ...) of 1 KiB to 8 MiB
    /// with brotli, zstd or gzip, as the client prefers, when no precompressed
    /// file fits; each compressed once and kept (32 MiB in all).
    #[arg(long, env = "TWINSERVE_COMPRESS")]
    pub compress: bool,
    /// List the files of a folder that has no index.html (otherwise 404).
    #[arg(long, env = "TWINSERVE_LIST_DIRS")]
    pub list_dirs: bool,
    /// Serve files and folders whose names start with a dot (.git, .env).
    #[arg(long, env = "TWINSERVE_SERVE_HIDDEN")]
    pub serve_hidden: bool,
    /// Follow symlinks that lead out of the root (`..` in a request is refused regardless).
    #[arg(long, env = "TWINSERVE_FOLLOW_SYMLINKS")]
    pub follow_symlinks: bool,
    /// Add this field to every response (repeatable; TWINSERVE_HEADER takes
    /// several, one per line).
    #[arg(long = "header", env = "TWINSERVE_HEADER", value_name = "NAME: VALUE", value_parser = parse_headers)]
    pub headers: Vec<HeaderLines>,
    /// Add Referrer-Policy and X-Frame-Options to every response, and a
    /// Content-Security-Policy that allows nothing to the pages the server
    /// writes itself (listings, error pages).
    #[arg(long, env = "TWINSERVE_SECURITY_HEADERS")]
    pub security_headers: bool,
    /// Let pages from ORIGIN (or `*`: any) fetch these files: answers carry
    /// Access-Control-Allow-Origin, and preflight OPTIONS requests are answered.
    #[arg(long, env = "TWINSERVE_CORS", value_name = "ORIGIN|*", value_parser = parse_cors)]
    pub cors: Option<twinserve::docroot::Cors>,
    /// Answer a GET or HEAD for a missing path with FILE (inside the root) and
    /// 200, as a single-page app needs; paths with an extension still get 404.
    #[arg(long, env = "TWINSERVE_FALLBACK", value_name = "FILE")]
    pub fallback: Option<String>,
    /// With --fallback: paths with an extension (/missing.js) get FILE too.
    #[arg(long, env = "TWINSERVE_FALLBACK_ALL", requires = "fallback")]
    pub fallback_all: bool,
    /// Write one line per response to FILE (appended), or to stdout with `-`.
    #[arg(long, env = "TWINSERVE_ACCESS_LOG", value_name = "-|FILE")]
    pub access_log: Option<PathBuf>,
    /// The access log's line format.
    #[arg(long, env = "TWINSERVE_LOG_FORMAT", value_enum, default_value_t = twinserve::access_log::Format::Combined)]
    pub log_format: twinserve::access_log::Format,
    /// Log the client from X-Forwarded-For when the peer is in CIDR (a
    /// proxy of yours); repeatable, TWINSERVE_TRUST_PROXY takes a comma list.
    #[arg(long, env = "TWINSERVE_TRUST_PROXY", value_name = "CIDR", value_delimiter = ',', value_parser = parse_cidr)]
    pub trust_proxy: Vec<twinserve::access_log::Cidr>,
    /// Seconds responses in flight may take to finish after Ctrl-C / SIGTERM;
    /// past it they are cut, and the exit code is 1.
    #[arg(long, env = "TWINSERVE_SHUTDOWN_GRACE", value_name = "SECS", default_value = "10", value_parser = parse_grace)]
    pub shutdown_grace: f64,
    /// Serve one request on one connection, then close the listener and exit.
    #[arg(long, env = "TWINSERVE_ONCE")]
    pub once: bool,
    /// Print each request head to stdout as it arrives.
    #[arg(long, env = "TWINSERVE_PRINT_REQUESTS")]
    pub print_requests: bool,
    // TLS and HTTP/2 (hyper backend only).
    /// Serve HTTPS with this PEM certificate chain, leaf first (hyper only).
    #[arg(
        long,
        env = "TWINSERVE_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key",
        help_heading = "TLS and HTTP/2 (hyper backend)"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(
        long,
        env = "TWINSERVE_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert",
        help_heading = "TLS and HTTP/2 (hyper backend)"
    )]
    pub tls_key: Option<PathBuf>,
    /// Serve HTTPS with a certificate made at start for localhost, 127.0.0.1
    /// and ::1; its SHA-256 fingerprint is printed.
    #[arg(
        long,
        env = "TWINSERVE_SELF_SIGNED",
        conflicts_with_all = ["tls_cert", "tls_key"],
        help_heading = "TLS and HTTP/2 (hyper backend)"
    )]
    pub self_signed: bool,
    /// On plain TCP, also speak HTTP/2 to clients that start with its preface (h2c).
    #[arg(
        long,
        env = "TWINSERVE_HTTP2_PRIOR_KNOWLEDGE",
        help_heading = "TLS and HTTP/2 (hyper backend)"
    )]
    pub http2_prior_knowledge: bool,
    /// Send Strict-Transport-Security: max-age=SECONDS over TLS.
    #[arg(
        long,
        env = "TWINSERVE_HSTS",
        value_name = "SECONDS",
        help_heading = "TLS and HTTP/2 (hyper backend)"
    )]
    pub hsts: Option<u64>,
}

/// `serve`'s TLS and HTTP/2 flags as [`twinserve::HyperOptions`]; a flag the
/// raw backend cannot honour, or HSTS without TLS, is a usage error.
fn hyper_options(args: &ServeArgs) -> anyhow::Result<twinserve::HyperOptions> {
    let tls_flag = if args.tls_cert.is_some() {
        Some("--tls-cert")
    } else if args.self_signed {
        Some("--self-signed")
    } else if args.http2_prior_knowledge {
        Some("--http2-prior-knowledge")
    } else if args.hsts.is_some() {
        Some("--hsts")
    } else {
        None
    };
    if let (Backend::Raw, Some(flag)) = (args.backend, tls_flag) {
        usage_error(format!(
            "{flag} needs --backend hyper: the raw backend speaks plain HTTP/1.1 only"
        ));
    }
    let tls_on = args.tls_cert.is_some() || args.self_signed;
    if args.hsts.is_some() && !tls_on {
        usage_error("--hsts needs TLS: add --tls-cert/--tls-key or --self-signed".into());
    }
    if args.http2_prior_knowledge && tls_on {
        usage_error(
            "--http2-prior-knowledge is for plain TCP; over TLS, ALPN chooses HTTP/2".into(),
        );
    }
    if args.http2_prior_knowledge && args.once {
        usage_error(
            "--once serves one request on one connection: not with --http2-prior-knowledge".into(),
        );
    }
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => Some(twinserve::tls::Tls::from_pem_files(cert, key)?),
        _ if args.self_signed => {
            let tls = twinserve::tls::Tls::self_signed()?;
            tracing::info!(
                target: twinserve::STATUS,
                "self-signed certificate for {}; SHA-256 fingerprint {}",
                twinserve::tls::SELF_SIGNED_NAMES.join(", "),
                tls.fingerprint
            );
            Some(tls)
        }
        _ => None,
    };
    Ok(twinserve::HyperOptions {
        tls,
        http2_prior_knowledge: args.http2_prior_knowledge,
        hsts: args.hsts,
        ..Default::default()
    })
}

#[derive(Debug, Args)]
pub struct ClientArgs {
    /// Start this backend in-process on a free loopback port and load it;
    /// then give only FILE. Several (raw,hyper): the same load against each
    /// in turn, one table.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub backend: Vec<Backend>,
    /// Folder served by `--backend`.
    #[arg(long, default_value = "site", requires = "backend")]
    pub root: PathBuf,
    /// Worker threads of the `--backend` server [default: as `serve`].
    #[arg(long, requires = "backend", value_parser = clap::value_parser!(u16).range(1..))]
    pub server_threads: Option<u16>,
    /// HOST PORT FILE, an http:// URL, or just FILE with --backend.
    #[arg(value_name = "HOST PORT FILE | URL", num_args = 1..=3, required = true)]
    pub target: Vec<String>,
    /// Seed run: requests at once, one thread each [default: 10]. Load run:
    /// threads, each one event loop over its share of the connections
    /// [default: the number of cores].
    #[arg(short, long, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub threads: Option<u32>,
    /// Load run: connections held open [default: 50].
    #[arg(short, long, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub connections: Option<u32>,
    /// Load run: requests in all [default: no limit with --duration].
    #[arg(short = 'n', long, value_parser = clap::value_parser!(u64).range(1..))]
    pub requests: Option<u64>,
    /// Load run: how long to send (2s, 500ms, 1m; a bare number is seconds).
    #[arg(short, long, value_name = "TIME", value_parser = twinserve::client::parse_duration)]
    pub duration: Option<Duration>,
    /// Load run: requests in flight per connection.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub pipeline: Option<u32>,
    /// Load run: open loop at this many requests per second in all, latency
    /// also measured from each request's due time.
    #[arg(long, value_name = "REQ_PER_S", value_parser = parse_rate)]
    pub rate: Option<f64>,
    /// Load run: load this long first, outside the statistics.
    #[arg(long, value_name = "TIME", value_parser = twinserve::client::parse_duration)]
    pub warmup: Option<Duration>,
    /// Exit 1 when this holds after the run: p99>20ms, errors>0, rps<1000,
    /// error_rate>1%, max>1s, unfinished>0, backlog>0 (repeatable).
    #[arg(long, value_name = "CONDITION", value_parser = twinserve::client::Threshold::parse)]
    pub fail_if: Vec<twinserve::client::Threshold>,
    /// Seed run: leave `Connection: close` out of each request.
    #[arg(long)]
    pub keep_alive: bool,
    /// Load run: a new connection for every request, asking the server to
    /// close it (`Connection: close`); its connect counts in the latency.
    #[arg(long, conflicts_with_all = ["pipeline", "keep_alive"])]
    pub no_keepalive: bool,
    /// Time allowed to connect, and for each response.
    #[arg(long, value_name = "TIME", default_value = "5s", value_parser = twinserve::client::parse_duration)]
    pub timeout: Duration,
    /// Print the report as JSON on stdout (and nothing else there).
    #[arg(long)]
    pub json: bool,
    /// Print each response's status line in a load run too (the seed run always does).
    #[arg(long)]
    pub print_responses: bool,
    /// Load run: write a self-contained page charting latency by percentile
    /// and requests/s over time.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
}

fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 && rate <= 1e8 => Ok(rate),
        _ => Err("must be a number of requests per second above 0 and at most 1e8".into()),
    }
}

fn parse_chunk_size(text: &str) -> Result<NonZeroUsize, String> {
    let n: usize = text.parse().map_err(|e| format!("{e}"))?;
    match NonZeroUsize::new(n) {
        Some(n) if n.get() <= 16 * 1024 * 1024 => Ok(n),
        _ => Err("must be between 1 and 16777216 bytes".into()),
    }
}

/// A config for `root` on `addr`; `threads` unset means the backend's default.
fn config(root: PathBuf, addr: SocketAddr, threads: Option<u16>) -> Config {
    let mut config = Config::new(root);
    config.addr = addr;
    config.threads = threads.and_then(|n| NonZeroUsize::new(n.into()));
    config
}

/// `twinserve serve`.
pub fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let hyper = hyper_options(&args)?;
    let addr = match resolve_host(&args.host, args.port) {
        Ok(addr) => addr,
        Err(message) => usage_error(message),
    };
    let (root, root_given) = match (args.dir, args.root) {
        (Some(root), _) | (None, Some(root)) => (root, true),
        (None, None) => (PathBuf::from("site"), false),
    };
    let mut config = config(root, addr, args.threads);
    config.chunk_size = args.chunk_size;
    config.docroot = twinserve::docroot::Options {
        cache_control: args.cache_control,
        precompressed: !args.no_precompressed,
        list_dirs: args.list_dirs,
        serve_hidden: args.serve_hidden,
        follow_symlinks: args.follow_symlinks,
        headers: args.headers.into_iter().flat_map(|lines| lines.0).collect(),
        security_headers: args.security_headers,
        cors: args.cors,
        fallback: args.fallback.map(|file| twinserve::docroot::Fallback {
            file,
            all: args.fallback_all,
        }),
        access_log: args
            .access_log
            .map(|destination| twinserve::access_log::Settings {
                destination: if destination.as_os_str() == "-" {
                    twinserve::access_log::Destination::Stdout
                } else {
                    twinserve::access_log::Destination::File(destination)
                },
                format: args.log_format,
                trusted_proxies: args.trust_proxy,
            }),
        compress: args.compress,
    };
    config.limits.shutdown_grace = Duration::from_secs_f64(args.shutdown_grace);
    config.once = args.once;
    config.print_requests = args.print_requests;
    config.hyper = hyper;
    let root = if root_given {
        twinserve::serve::Root::Given
    } else {
        twinserve::serve::Root::Default
    };
    Ok(twinserve::serve::run(args.backend, config, root)?)
}

/// `--host`: an IP address (`::1`, `[::1]`, `0.0.0.0`) or a name, which is
/// looked up and its first address taken (`localhost`: what the system lists first).
fn resolve_host(host: &str, port: u16) -> Result<SocketAddr, String> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    use std::net::ToSocketAddrs;
    let found = (bare, port).to_socket_addrs().map_err(|e| {
        format!("--host {host:?} is neither an IP address nor a name this system can look up ({e})")
    })?;
    found
        .into_iter()
        .next()
        .ok_or_else(|| format!("--host {host:?} has no address"))
}

/// The fields of one `--header` value or of `TWINSERVE_HEADER`, one per line.
/// Blank lines (spaces and tabs only, the blanks a value is trimmed of) are
/// skipped: a block written in YAML or a file ends with a newline. A value
/// without any field is refused: an empty `--header` is a value lost to the
/// shell.
#[derive(Debug, Clone)]
pub struct HeaderLines(Vec<(http::HeaderName, http::HeaderValue)>);

fn parse_headers(text: &str) -> Result<HeaderLines, String> {
    let fields = text
        .lines()
        .filter(|line| !twinserve::docroot::trim_field_value(line).is_empty())
        .map(parse_header)
        .collect::<Result<Vec<_>, _>>()?;
    if fields.is_empty() {
        return Err(NO_FIELD.into());
    }
    Ok(HeaderLines(fields))
}

const NO_FIELD: &str = "expected 'Name: value', e.g. 'X-Robots-Tag: noindex'";

fn parse_header(text: &str) -> Result<(http::HeaderName, http::HeaderValue), String> {
    let (name, value) = text.split_once(':').ok_or(NO_FIELD)?;
    let name = http::HeaderName::from_bytes(name.trim().as_bytes())
        .map_err(|_| format!("{:?} is not a valid header name", name.trim()))?;
    twinserve::docroot::check_added_header(&name)?;
    let value = twinserve::docroot::trim_field_value(value);
    // An empty field is almost never what was meant (a `Name:` with its value
    // lost to the shell); the one this is asked for most has its own flag.
    if value.is_empty() {
        let hint = if name == http::header::CACHE_CONTROL {
            "; --cache-control '' sends no Cache-Control"
        } else {
            ""
        };
        return Err(format!("{name} has no value{hint}"));
    }
    let value = http::HeaderValue::from_str(value)
        .map_err(|_| format!("{value:?} is not a valid header value"))?;
    Ok((name, value))
}

fn parse_cors(text: &str) -> Result<twinserve::docroot::Cors, String> {
    twinserve::docroot::Cors::parse(text)
}

fn parse_cidr(text: &str) -> Result<twinserve::access_log::Cidr, String> {
    text.trim().parse()
}

fn parse_grace(text: &str) -> Result<f64, String> {
    let secs: f64 = text.parse().map_err(|e| format!("{e}"))?;
    if secs.is_finite() && (0.0..=86_400.0).contains(&secs) {
        Ok(secs)
    } else {
        Err("must be a number of seconds from 0 to 86400".into())
    }
}

/// `twinserve client`: with `--backend`, starts that backend here (the client
/// itself only knows addresses) and stops it after the run; with several,
/// one after another.
pub fn client(args: ClientArgs, quiet: bool) -> anyhow::Result<ExitCode> {
    match (args.backend.len(), args.target.as_slice()) {
        (0, [_] | [_, _, _]) | (1, [_]) => {}
        (0, _) => client_usage_error(
            "give HOST PORT FILE, an http:// URL, or --backend raw|hyper and FILE".into(),
        ),
        (_, [_]) => return side_by_side(args),
        (_, _) => client_usage_error("with --backend, give only FILE".into()),
    }
    let (server, target) = match (args.backend.first(), args.target.as_slice()) {
        (Some(&backend), [file]) => {
            let (handle, target) = start_backend(&args, backend, file)?;
            (Some(handle), target)
        }
        (None, [url]) => (
            None,
            Target::from_url(url).unwrap_or_else(|e| client_usage_error(e)),
        ),
        (None, [host, port, file]) => (
            None,
            Target::from_parts(host, port, file).unwrap_or_else(|e| client_usage_error(e)),
        ),
        _ => unreachable!("the shapes are checked above"),
    };
    let code = if is_load(&args) {
        let addr = reachable(&target, args.timeout)?;
        let load = load_config(&args, addr, &target);
        twinserve::client::command::run_load(&load, &load_run(&args, &target))?
    } else {
        let addrs = twinserve::client::resolve_all(&target.host, target.port)?;
        // One address keeps the seed run's own report of a refused server;
        // several (`localhost`) are tried in turn for one that answers.
        let addr = match addrs.as_slice() {
            [one] => *one,
            _ => reachable(&target, args.timeout)?,
        };
        let config = ClientConfig {
            addr,
            host: Some(target.host_header()),
            path: target.path.clone(),
            threads: args.threads.unwrap_or(10) as usize,
            keep_alive: args.keep_alive,
            timeout: args.timeout,
        };
        let output = twinserve::client::command::Output {
            quiet,
            json: args.json,
        };
        twinserve::client::command::run(&config, output)?
    };
    if let Some(server) = server {
        server.shutdown().context("in-process server failed")?;
    }
    Ok(code)
}

/// `client --backend raw,hyper FILE`: the same load against each backend in
/// turn, each started alone so they never share the machine.
fn side_by_side(args: ClientArgs) -> anyhow::Result<ExitCode> {
    let file = &args.target[0];
    let mut runs = Vec::new();
    let mut last = None;
    for &backend in &args.backend {
        let (server, target) = start_backend(&args, backend, file)?;
        let load = load_config(&args, server.local_addr(), &target);
        let report = twinserve::client::command::measure(&load, false)?;
        server.shutdown().context("in-process server failed")?;
        let url = load_run(&args, &target).url;
        runs.push((backend.to_string(), url, report));
        last = Some((load, target));
    }
    let (load, target) = last.expect("at least two backends");
    let mut run = load_run(&args, &target);
    run.url = format!(
        "{file} on {}",
        args.backend
            .iter()
            .map(|b| b.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(twinserve::client::command::side_by_side(
        &load, &run, &runs,
    )?)
}

fn start_backend(
    args: &ClientArgs,
    backend: Backend,
    file: &str,
) -> anyhow::Result<(twinserve::ServerHandle, Target)> {
    let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
    let handle = twinserve::serve::start(
        backend,
        config(args.root.clone(), loopback, args.server_threads),
        twinserve::serve::Root::Given,
    )?;
    let addr = handle.local_addr();
    tracing::info!(target: twinserve::STATUS, "started the {backend} backend on http://{addr}/");
    let target = Target {
        host: addr.ip().to_string(),
        port: addr.port(),
        path: file.to_string(),
    };
    Ok((handle, target))
}

/// Any load flag makes a load run; without one, the seed run sends ten
/// requests at once and prints every answer, as the exercise does. Several
/// backends side by side are always a load run.
fn is_load(args: &ClientArgs) -> bool {
    args.connections.is_some()
        || args.requests.is_some()
        || args.duration.is_some()
        || args.pipeline.is_some()
        || args.rate.is_some()
        || args.warmup.is_some()
        || !args.fail_if.is_empty()
        || args.html.is_some()
        || args.no_keepalive
        || args.backend.len() > 1
}

/// The first address of the target that accepts a connection.
fn reachable(target: &Target, timeout: Duration) -> anyhow::Result<SocketAddr> {
    let addrs = twinserve::client::resolve_all(&target.host, target.port)?;
    Ok(twinserve::client::connect_any(
        &target.authority(),
        &addrs,
        timeout,
    )?)
}

fn load_config(args: &ClientArgs, addr: SocketAddr, target: &Target) -> LoadConfig {
    let connections = args.connections.unwrap_or(50) as usize;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let request = twinserve::client::request_bytes(&ClientConfig {
        host: Some(target.host_header()),
        keep_alive: !args.no_keepalive,
        ..ClientConfig::new(addr, target.path.clone())
    });
    // No bound given: five seconds side by side, else one request per connection.
    let default_duration = (args.backend.len() > 1).then(|| Duration::from_secs(5));
    let duration = args.duration.or(if args.requests.is_none() {
        default_duration
    } else {
        None
    });
    LoadConfig {
        addr,
        request,
        connections,
        threads: args.threads.map_or(cores, |t| t as usize).min(connections),
        pipeline: args.pipeline.unwrap_or(1) as usize,
        requests: args.requests.or(match duration {
            Some(_) => None,
            None => Some(connections as u64),
        }),
        duration,
        warmup: args.warmup.unwrap_or_default(),
        rate: args.rate,
        timeout: args.timeout,
        keep_alive: !args.no_keepalive,
    }
}

fn load_run(args: &ClientArgs, target: &Target) -> LoadRun {
    let path = if target.path.starts_with('/') {
        target.path.clone()
    } else {
        format!("/{}", target.path)
    };
    LoadRun {
        url: format!("http://{}{path}", target.host_header()),
        thresholds: args.fail_if.clone(),
        json: args.json,
        print_responses: args.print_responses && !args.json,
        html: args.html.clone(),
    }
}

/// `twinserve compare`.
pub fn compare(args: CompareArgs) -> anyhow::Result<ExitCode> {
    let options = twinserve::compare::Options {
        cases: args.cases,
        root: args.root,
        case: args.case,
        format: args.format,
        out: args.out,
        check: args.check,
        targets: args
            .targets
            .into_iter()
            .map(|(name, host, port)| twinserve::compare::Target { name, host, port })
            .collect(),
        load: args.load.then(|| twinserve::compare::LoadSettings {
            path: args.file,
            threads: args.threads as usize,
            requests: usize::try_from(args.requests).unwrap_or(usize::MAX),
            keep_alive: args.keep_alive,
        }),
        fixture: args.fixture,
    };
    Ok(twinserve::compare::run(&options)?)
}

/// Exits 2 with the client's usage, as a flag clap refused would.
fn client_usage_error(message: String) -> ! {
    subcommand_usage_error("client", message)
}

/// Exits 2 with `serve`'s usage, as a flag clap refused would.
fn usage_error(message: String) -> ! {
    subcommand_usage_error("serve", message)
}

fn subcommand_usage_error(name: &str, message: String) -> ! {
    let mut cli = Cli::command();
    cli.build();
    let subcommand = cli
        .find_subcommand_mut(name)
        .expect("every subcommand named here is defined");
    subcommand
        .error(clap::error::ErrorKind::ValueValidation, message)
        .exit()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_serve_flag_has_its_environment_variable() {
        let cli = Cli::command();
        let serve = cli.find_subcommand("serve").unwrap();
        for arg in serve.get_arguments() {
            let Some(long) = arg.get_long() else {
                continue; // DIR, the positional folder
            };
            if arg.is_global_set() || ["help", "verbose", "quiet"].contains(&long) {
                continue;
            }
            let expected = format!("TWINSERVE_{}", long.to_uppercase().replace('-', "_"));
            assert_eq!(
                arg.get_env().and_then(|e| e.to_str()),
                Some(expected.as_str()),
                "--{long}"
            );
        }
    }

    #[test]
    fn definitions_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_binds_loopback_by_default() {
        let cli = Cli::try_parse_from(["twinserve", "serve"]).unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("serve")
        };
        assert_eq!(args.host, "127.0.0.1");
        assert_eq!(args.port, 12000);
        assert!(!args.list_dirs && !args.serve_hidden && !args.follow_symlinks);
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(Cli::try_parse_from(["twinserve", "serve", "--port", "70000"]).is_err());
        assert!(Cli::try_parse_from(["twinserve", "serve", "--chunk-size", "0"]).is_err());
        assert!(Cli::try_parse_from(["twinserve", "serve", "--threads", "0"]).is_err());
        assert!(
            Cli::try_parse_from(["twinserve", "client", "a", "1", "f", "--timeout", "-1"]).is_err()
        );
        assert!(Cli::try_parse_from(["twinserve", "client", "a", "1", "f", "x"]).is_err());
    }
}

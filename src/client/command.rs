//! `twinserve client` from a configuration to an exit code: the seed run
//! ([`run`]) shows each answer as it comes; a load run ([`run_load`]) shows a
//! live progress line on a terminal, then its report or the JSON one, and
//! checks the `--fail-if` thresholds. Starting a server is not its job.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::load::{LoadConfig, Progress};
use super::{
    Attempt, ClientConfig, ClientError, Report, ResponseSummary, Threshold, show_duration,
};

/// How the run shows itself on stdout.
#[derive(Debug, Clone, Copy, Default)]
pub struct Output {
    /// Only the summary; a progress bar on stderr instead of per-response lines.
    pub quiet: bool,
    /// The report as JSON, and nothing else on stdout.
    pub json: bool,
}

/// Runs `config` and prints what came back. Exit code 1 when any request went
/// unanswered.
pub fn run(config: &ClientConfig, output: Output) -> Result<ExitCode, ClientError> {
    // JSON owns stdout: no per-response lines beside it.
    let quiet = output.quiet || output.json;
    let total = config.threads as u64;
    // Per-response lines and a bar would fight over the terminal: the bar only when quiet.
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
    let report = super::run(config, &print_attempt)?;
    progress_done.finish_and_clear();
    if output.json {
        let mut json = report.to_json();
        json["mode"] = "seed".into();
        let _ = writeln!(std::io::stdout(), "{json}");
    } else {
        let _ = writeln!(std::io::stdout(), "{}", report.summary());
    }
    Ok(if report.all_answered() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// What a load run is pointed at and told to check, beside its [`LoadConfig`].
#[derive(Debug, Clone, Default)]
pub struct LoadRun {
    /// `http://host:port/path`, for the report.
    pub url: String,
    pub thresholds: Vec<Threshold>,
    pub json: bool,
    /// Print each response's status line as it comes.
    pub print_responses: bool,
    /// Write the page of charts here.
    pub html: Option<std::path::PathBuf>,
}

/// Runs the load engine and reports. Exit code 1 when a `--fail-if`
/// threshold is crossed or nothing at all was answered.
pub fn run_load(config: &LoadConfig, run: &LoadRun) -> Result<ExitCode, ClientError> {
    let report = measure(config, run.print_responses)?;
    let checked: Vec<_> = run.thresholds.iter().map(|t| t.check(&report)).collect();
    let crossed = checked.iter().any(|c| c.crossed);
    let out = if run.json {
        format!("{}\n", json_of(config, run, &report, &checked))
    } else {
        text_of(config, run, &report, &checked)
    };
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    if let Some(path) = &run.html {
        write_html(path, &run.url, &[(run.url.clone(), &report)])?;
    }
    for c in checked.iter().filter(|c| c.crossed) {
        tracing::error!("{c}");
    }
    Ok(if crossed || report.responses == 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The same load against several servers in turn, each run its name, the
/// URL it loaded and its report, as one table with each run's ratio to the
/// first (or one JSON object with a report per run).
/// Exit code 1 when any run crossed a threshold or got no answer.
pub fn side_by_side(
    config: &LoadConfig,
    run: &LoadRun,
    runs: &[(String, String, Report)],
) -> Result<ExitCode, ClientError> {
    let mut failed = false;
    let mut out = String::new();
    let mut json_runs = Vec::new();
    for (name, url, report) in runs {
        let checked: Vec<_> = run.thresholds.iter().map(|t| t.check(report)).collect();
        for c in checked.iter().filter(|c| c.crossed) {
            tracing::error!("{name}: {c}");
        }
        failed |= report.responses == 0 || checked.iter().any(|c| c.crossed);
        let mut json = json_of(config, run, report, &checked);
        json["name"] = name.clone().into();
        json["target"] = url.clone().into();
        json_runs.push(json);
    }
    if run.json {
        out = format!("{}\n", serde_json::json!({"schema": 1, "runs": json_runs}));
    } else {
        let named: Vec<(String, &Report)> = runs.iter().map(|(n, _, r)| (n.clone(), r)).collect();
        out.push_str(&comparison_table(&named));
    }
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    if let Some(path) = &run.html {
        let named: Vec<(String, &Report)> = runs.iter().map(|(n, _, r)| (n.clone(), r)).collect();
        write_html(path, &run.url, &named)?;
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Latency at quantile `q` in ms: corrected when the run had a schedule.
fn latency(r: &Report, q: f64) -> f64 {
    let h = r.corrected.as_ref().unwrap_or(&r.latency);
    h.value_at_quantile(q) as f64 / 1000.0
}

/// One row per figure, one column per run, then each later run's ratio to the first.
fn comparison_table(runs: &[(String, &Report)]) -> String {
    type Figure = fn(&Report) -> f64;
    let rows: [(&str, Figure); 9] = [
        ("requests/s", |r| {
            r.responses as f64 / r.elapsed.as_secs_f64().max(1e-9)
        }),
        ("MB/s", |r| {
            r.bytes_read as f64 / r.elapsed.as_secs_f64().max(1e-9) / 1e6
        }),
        ("responses", |r| r.responses as f64),
        ("errors", |r| r.failures.values().sum::<u64>() as f64),
        ("p50 ms", |r| latency(r, 0.5)),
        ("p90 ms", |r| latency(r, 0.9)),
        ("p99 ms", |r| latency(r, 0.99)),
        ("p99.9 ms", |r| latency(r, 0.999)),
        ("max ms", |r| {
            r.corrected.as_ref().unwrap_or(&r.latency).max() as f64 / 1000.0
        }),
    ];
    let mut out = format!("{:<12}", "");
    for (name, _) in runs {
        out.push_str(&format!("{name:>12}"));
    }
    for (name, _) in runs.iter().skip(1) {
        out.push_str(&format!("{:>14}", format!("{name}/{}", runs[0].0)));
    }
    out.push('\n');
    for (label, figure) in rows {
        out.push_str(&format!("{label:<12}"));
        for (_, report) in runs {
            out.push_str(&format!("{:>12.2}", figure(report)));
        }
        let base = figure(runs[0].1);
        for (_, report) in runs.iter().skip(1) {
            let ratio = if base > 0.0 {
                format!("{:.2}×", figure(report) / base)
            } else {
                "–".into()
            };
            out.push_str(&format!("{ratio:>14}"));
        }
        out.push('\n');
    }
    out
}

fn write_html(
    path: &std::path::Path,
    target: &str,
    runs: &[(String, &Report)],
) -> Result<(), ClientError> {
    std::fs::write(path, super::chart::page(target, runs)).map_err(|e| ClientError::Write {
        path: path.to_path_buf(),
        cause: e.to_string(),
    })
}

/// Runs the load engine, with a live progress line on stderr when it is a
/// terminal (and responses are not being printed).
pub fn measure(config: &LoadConfig, print_responses: bool) -> Result<Report, ClientError> {
    super::load::make_room(config.connections, config.threads)?;
    let progress = Progress::default();
    let done = AtomicBool::new(false);
    let print = |summary: &ResponseSummary| {
        let line = format!("Response from server:\n{}\n", summary.status_line);
        let _ = std::io::stdout().lock().write_all(line.as_bytes());
    };
    let on_response: Option<&(dyn Fn(&ResponseSummary) + Sync)> = print_responses.then_some(&print);
    std::thread::scope(|scope| {
        if std::io::stderr().is_terminal() && !print_responses {
            scope.spawn(|| progress_line(config, &progress, &done));
        }
        let report = super::load::run(config, &progress, on_response);
        done.store(true, Ordering::Relaxed);
        report
    })
    .map_err(ClientError::Threads)
}

fn json_of(
    config: &LoadConfig,
    run: &LoadRun,
    report: &Report,
    checked: &[super::Checked],
) -> serde_json::Value {
    let mut json = report.to_json();
    json["mode"] = if config.rate.is_some() {
        "open"
    } else {
        "closed"
    }
    .into();
    json["target"] = run.url.clone().into();
    json["settings"] = serde_json::json!({
        "connections": config.connections,
        "threads": config.threads,
        "pipeline": config.pipeline,
        "requests": config.requests,
        "duration_s": config.duration.map(|d| d.as_secs_f64()),
        "warmup_s": config.warmup.as_secs_f64(),
        "rate": config.rate,
        "timeout_s": config.timeout.as_secs_f64(),
        "keep_alive": config.keep_alive,
    });
    json["thresholds"] = checked
        .iter()
        .map(|c| serde_json::json!({"condition": c.threshold.text, "value": c.value, "crossed": c.crossed}))
        .collect::<Vec<_>>()
        .into();
    json
}

fn text_of(
    config: &LoadConfig,
    run: &LoadRun,
    report: &Report,
    checked: &[super::Checked],
) -> String {
    let mode = match config.rate {
        Some(rate) => format!("open loop at {rate} req/s"),
        None => "closed loop".into(),
    };
    let reuse = if config.keep_alive {
        format!("pipeline {}", config.pipeline)
    } else {
        "a new connection per request".into()
    };
    let mut text = format!(
        "{}: {} connections on {} thread{}, {mode}, {reuse}{}\n",
        run.url,
        config.connections,
        config.threads.min(config.connections),
        if config.threads.min(config.connections) == 1 {
            ""
        } else {
            "s"
        },
        if config.warmup.is_zero() {
            String::new()
        } else {
            format!(", after {} of warmup", show_duration(config.warmup))
        },
    );
    text.push_str(&report.summary());
    text.push('\n');
    let secs = report.elapsed.as_secs_f64().max(1e-9);
    text.push_str(&format!(
        "{:.2} MB read, {:.2} MB/s",
        report.bytes_read as f64 / 1e6,
        report.bytes_read as f64 / secs / 1e6
    ));
    text.push('\n');
    text.push_str(&report.latency_table());
    for c in checked {
        text.push_str(&format!("{c}\n"));
    }
    text
}

/// A line on stderr, redrawn four times a second: time, requests/s over the
/// last quarter second, responses and errors so far.
fn progress_line(config: &LoadConfig, progress: &Progress, done: &AtomicBool) {
    let bar = indicatif::ProgressBar::new_spinner();
    let started = Instant::now();
    let mut last = (Instant::now(), 0u64);
    while !done.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(250));
        // In the warmup its own responses show the load going, since the
        // measured count has not begun.
        let warming = !config.warmup.is_zero() && !progress.measuring.load(Ordering::Relaxed);
        let responses = if warming {
            progress.warmup_responses.load(Ordering::Relaxed)
        } else {
            progress.responses.load(Ordering::Relaxed)
        };
        let failures = progress.failures.load(Ordering::Relaxed);
        let now = Instant::now();
        let rate =
            responses.saturating_sub(last.1) as f64 / now.duration_since(last.0).as_secs_f64();
        last = (now, responses);
        let phase = if warming { " (warmup)" } else { "" };
        bar.set_message(format!(
            "{:>6.1} s{phase}  {rate:>9.0} req/s  {responses} responses  {failures} errors",
            started.elapsed().as_secs_f64()
        ));
        bar.tick();
    }
    bar.finish_and_clear();
}

/// A progress bar on stderr; indicatif hides it when stderr is not a terminal.
pub(crate) fn progress_bar(len: u64, prefix: &'static str) -> indicatif::ProgressBar {
    let style =
        indicatif::ProgressStyle::with_template("{prefix:>12} [{bar:32}] {pos}/{len} {elapsed}")
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    indicatif::ProgressBar::new(len)
        .with_style(style)
        .with_prefix(prefix)
}

//! `twinserve client` from a [`ClientConfig`] to an exit code: run the load,
//! show each answer as it comes (or a progress bar when quiet), then the
//! summary or the JSON report on stdout. Starting a server is not its job.

use std::io::Write;
use std::process::ExitCode;

use super::{Attempt, ClientConfig, ClientError};

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
    let total = (config.threads as u64).saturating_mul(config.requests as u64);
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
        println!("{}", report.to_json());
    } else {
        println!("{}", report.summary());
    }
    Ok(if report.all_answered() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
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

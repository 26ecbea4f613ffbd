//! `twinserve compare` from its options to an exit code: load and filter the
//! corpus, start the fixture, run the cases (and the slowloris and load runs
//! when asked), render the chosen format, and hold the pins for `--check`.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use super::{
    CompareError, Comparison, Consequence, Fixture, LoadSettings, Server, case, check, report,
};
use crate::client::{self, progress_bar};

/// The report formats. `Table` is one line per case (or the whole story of
/// one, with `case`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Markdown,
    Json,
    Html,
    /// JUnit XML: a test suite per server (only the `--target`s when there are any).
    Junit,
}

/// An extra server to run the corpus against, as its own column.
#[derive(Debug, Clone)]
pub struct Target {
    pub name: String,
    pub host: String,
    pub port: u16,
}

/// What `twinserve compare` was asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// Folder of case files.
    pub cases: PathBuf,
    /// Site copied into the fixture's root.
    pub root: PathBuf,
    /// Run only this case, and show it in full.
    pub case: Option<String>,
    pub format: Format,
    /// Write the report here instead of stdout.
    pub out: Option<PathBuf>,
    /// Fail when an outcome left its pin.
    pub check: bool,
    pub targets: Vec<Target>,
    /// The load run, when one was asked for.
    pub load: Option<LoadSettings>,
    /// Write the sandbox here for a student's server and run nothing.
    pub fixture: Option<PathBuf>,
}

/// Runs the comparison the options describe: the report on stdout (or in
/// `out`), progress and `--check`'s verdicts on stderr. Exit code 1 when a
/// pin no longer holds, or when a `--target` leaked the secret or a system
/// file, or refused the baseline case (nothing listening).
pub fn run(options: &Options) -> Result<ExitCode, CompareError> {
    if let Some(dir) = &options.fixture {
        let root =
            super::sandbox::write_fixture(&options.root, dir).map_err(CompareError::Sandbox)?;
        print!("{}", super::sandbox::instructions(&root));
        return Ok(ExitCode::SUCCESS);
    }
    let mut cases = case::load_dir(&options.cases).map_err(CompareError::Corpus)?;
    if let Some(id) = &options.case {
        cases.retain(|c| &c.id == id);
        if cases.is_empty() {
            return Err(CompareError::NoSuchCase {
                id: id.clone(),
                dir: options.cases.clone(),
            });
        }
    }
    let mut targets = Vec::new();
    for target in &options.targets {
        targets.push((
            target.name.clone(),
            client::resolve(&target.host, target.port)?,
        ));
    }
    let fixture = Fixture::start(&options.root).map_err(CompareError::Fixture)?;
    let total = cases.len();
    let bar = progress_bar(total as u64, "cases");
    let mut comparison = super::run_corpus(cases, &fixture, &targets, &|_| bar.inc(1));
    bar.finish_and_clear();
    // One case is a close look at it, not a survey: no slowloris run.
    if options.case.is_none() {
        comparison.slow_clients = super::slow_clients(&fixture, &comparison.columns);
    }
    if let Some(settings) = &options.load {
        // The textbook server is a lesson, not a server to measure: it has no
        // limits (a thread per connection) and moves when it is restarted.
        let loaded: Vec<_> = comparison
            .columns
            .iter()
            .filter(|c| c.server != super::Server::Textbook)
            .cloned()
            .collect();
        let per_column = settings.threads as u64 * settings.requests as u64;
        let bar = progress_bar(per_column * loaded.len() as u64, "load");
        comparison.load = super::run_load(&loaded, settings, &|index, column, ended| {
            bar.set_prefix(format!("load {}", column.name));
            bar.set_position(index as u64 * per_column + ended);
        })?;
        bar.finish_and_clear();
    }
    let colour = options.out.is_none()
        && std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let text = match (&options.case, options.format) {
        (Some(_), Format::Table) => comparison
            .results
            .iter()
            .map(|r| report::case_detail(&comparison, r, colour))
            .collect(),
        (_, Format::Table) => report::terminal(&comparison, colour),
        (_, Format::Markdown) => report::markdown(&comparison),
        (_, Format::Json) => report::json(&comparison),
        (_, Format::Html) => report::html(&comparison),
        (_, Format::Junit) => report::junit(&comparison),
    };
    match &options.out {
        Some(path) => std::fs::write(path, &text).map_err(|source| CompareError::Write {
            path: path.clone(),
            source,
        })?,
        None => print!("{text}"),
    }
    let mut failed = false;
    for lesson in report::lessons(&comparison)
        .iter()
        .filter(|l| comparison.columns[l.column].server == Server::Target)
    {
        eprintln!("grade: {}", lesson.grade());
    }
    let target_failures = target_failures(&comparison);
    if !target_failures.is_empty() {
        tracing::error!("--target failed: {}", target_failures.join("; "));
        failed = true;
    }
    if options.check {
        let mismatches = check(&comparison);
        for m in &mismatches {
            tracing::error!(
                "{} on {}: pinned {:?}, observed {:?}",
                m.case_id,
                m.column,
                m.expected,
                m.observed
            );
        }
        if !mismatches.is_empty() {
            tracing::error!("{} outcomes left their pins", mismatches.len());
            return Ok(ExitCode::FAILURE);
        }
        tracing::info!(target: crate::STATUS, "all {total} cases match their pins on raw, hyper and textbook");
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// What went wrong on each `--target` column, one phrase per column: it
/// leaked the secret or a system file, crashed, or could not be reached
/// (refused the baseline case or any later one).
fn target_failures(c: &Comparison) -> Vec<String> {
    c.columns
        .iter()
        .enumerate()
        .filter(|(_, column)| column.server == Server::Target)
        .filter_map(|(i, column)| {
            let with = |wanted: Consequence| -> Vec<&str> {
                c.results
                    .iter()
                    .filter(|r| r.consequences.get(i) == Some(&wanted))
                    .map(|r| r.case_id.as_str())
                    .collect()
            };
            let mut problems = Vec::new();
            let leaks = with(Consequence::Leak);
            if !leaks.is_empty() {
                problems.push(format!(
                    "leaked the secret or a system file in {} ({})",
                    report::lesson::cases(leaks.len()),
                    leaks.join(", ")
                ));
            }
            let crashes = with(Consequence::Crash);
            if !crashes.is_empty() {
                problems.push(format!(
                    "died on {} (first: {})",
                    report::lesson::cases(crashes.len()),
                    crashes[0]
                ));
            }
            let refused = with(Consequence::Refused);
            if let Some(first) = refused.first() {
                let note = c
                    .results
                    .iter()
                    .find(|r| r.case_id == *first)
                    .and_then(|r| r.outcomes.get(i))
                    .and_then(|o| o.note.as_deref())
                    .unwrap_or("nothing listening");
                problems.push(format!(
                    "could not be reached on {} (first: {first}: {note})",
                    report::lesson::cases(refused.len())
                ));
            }
            (!problems.is_empty()).then(|| format!("{} {}", column.name, problems.join("; ")))
        })
        .collect()
}

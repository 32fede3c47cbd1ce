//! `flakewatch revision REV`: Mozilla's per-revision view of the stored test results (chunks
//! expected / executed / repeated / missing per suite, scheduled tests never reported,
//! totals, and the tests whose results differ on the revision), as text, JSON or Markdown.
//!
//! Exit status: 0 when the revision is complete and clean, 1 when the view has findings (a
//! missing chunk or test, a flaky test, an unexpected failure), 3 when the store cannot be
//! read or holds no run of the revision.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use flakewatch_results::{ResultsStore, Schedule, analyze, render};

use crate::store::StoreArgs;

/// Arguments of `flakewatch revision`.
#[derive(Debug, Args)]
pub(crate) struct RevisionArgs {
    /// The revision (commit, push head, payload) whose stored runs to show.
    #[arg(value_name = "REVISION")]
    pub revision: String,
    /// Only this suite.
    #[arg(long, value_name = "SUITE")]
    pub suite: Option<String>,
    /// Expected chunk counts per suite, a JSON object (`{"mochitest-plain": 4}`); without it,
    /// the runs' own chunk counts (`--run-meta chunks=N` at ingest) are used.
    #[arg(long, value_name = "FILE")]
    pub schedule: Option<PathBuf>,
    /// Print the view as one JSON document.
    #[arg(long, conflicts_with = "md")]
    pub json: bool,
    /// Print the view as Markdown.
    #[arg(long)]
    pub md: bool,
    /// List every execution, too (text output).
    #[arg(long)]
    pub executions: bool,
    /// Where the results are stored.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// Runs `flakewatch revision`.
pub(crate) fn run(args: &RevisionArgs) -> anyhow::Result<ExitCode> {
    let mut schedule = match &args.schedule {
        Some(path) => {
            let text = flakewatch_core::bounded::read_to_string(
                path,
                flakewatch_core::bounded::CONFIG_LIMIT,
            )
            .with_context(|| format!("reading the schedule {}", path.display()))?;
            Schedule::from_json(&text).with_context(|| path.display().to_string())?
        }
        None => Schedule::default(),
    };
    if let Some(suite) = &args.suite {
        schedule = schedule.only(suite);
    }
    let store = args.store.open()?;
    let runs = store
        .revision_runs(&args.revision, args.suite.as_deref())
        .with_context(|| format!("reading the runs of revision {}", args.revision))?;
    if runs.is_empty() {
        anyhow::bail!(
            "the store {:?} holds no run of revision {}{}",
            store.name(),
            args.revision,
            args.suite
                .as_deref()
                .map_or_else(String::new, |s| format!(" in suite {s}"))
        );
    }
    let report = analyze(&args.revision, &runs, &schedule);
    let mut out = crate::stdout();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else if args.md {
        out.write_all(render::markdown(&report).as_bytes())?;
    } else {
        out.write_all(render::text(&report, args.executions).as_bytes())?;
    }
    out.flush()?;
    Ok(if report.has_findings() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

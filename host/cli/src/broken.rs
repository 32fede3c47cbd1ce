//! `flakewatch broken-builders`: one issue per builder whose newest builds all fail, updated
//! rather than duplicated (docs/triage.md, "Broken builders"). A dry run by default;
//! `--apply` creates, comments, reopens and closes under the tracker's cycle lock.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use flakewatch_triage::backend::IssueTracker;
use flakewatch_triage::broken::{BrokenUpdate, apply_broken, plan_broken};
use serde::Serialize;

use crate::triage::{BackendArgs, take_cycle_lock};

/// Arguments of `flakewatch broken-builders`.
#[derive(Debug, Args)]
pub(crate) struct BrokenArgs {
    /// Where issues and builds come from.
    #[command(flatten)]
    pub backend: BackendArgs,
    /// Perform the updates. Without it nothing is written.
    #[arg(long)]
    pub apply: bool,
    /// Print the updates (and with --apply, the result) as one JSON document
    /// (schema flakewatch.broken-builders/1).
    #[arg(long)]
    pub json: bool,
    /// With --apply: how long to wait for another run that holds the tracker's cycle lock.
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    pub lock_wait: u64,
}

#[derive(Serialize)]
struct Document<'a> {
    schema: &'static str,
    mode: &'static str,
    updates: Vec<UpdateDoc<'a>>,
    result: Option<ResultDoc>,
}

#[derive(Serialize)]
struct UpdateDoc<'a> {
    builder: &'a str,
    issue: Option<u64>,
    title: &'a str,
    action: &'static str,
    builds: Vec<&'a str>,
    body: Option<&'a str>,
    comment: &'a str,
}

#[derive(Serialize)]
struct ResultDoc {
    created: Vec<u64>,
    commented: Vec<u64>,
    reopened: Vec<u64>,
    closed: Vec<u64>,
    failures: Vec<String>,
}

fn update_doc(u: &BrokenUpdate) -> UpdateDoc<'_> {
    UpdateDoc {
        builder: &u.builder,
        issue: u.issue,
        title: &u.title,
        action: u.action.name(),
        builds: u.builds.iter().map(|b| b.url.as_str()).collect(),
        body: u.body.as_deref(),
        comment: &u.comment,
    }
}

/// Runs `flakewatch broken-builders`.
pub(crate) fn run(args: &BrokenArgs) -> anyhow::Result<ExitCode> {
    let options = args.backend.options()?;
    let now = crate::now_or_clock(args.backend.now.as_deref())?;
    let backends = args.backend.resolve(true)?;
    let tracker = backends
        .tracker
        .as_deref()
        .context("no issue tracker resolved")?;
    if args.apply {
        take_cycle_lock(tracker, args.lock_wait)?;
    }
    let updates = plan_broken(tracker, &*backends.source, &options)?;
    let report = args
        .apply
        .then(|| apply_broken(&updates, tracker, &options, now));
    if args.apply {
        tracker.end_cycle()?;
    }
    let mut out = crate::stdout();
    if args.json {
        let doc = Document {
            schema: "flakewatch.broken-builders/1",
            mode: if args.apply { "apply" } else { "dry_run" },
            updates: updates.iter().map(update_doc).collect(),
            result: report.as_ref().map(|r| ResultDoc {
                created: r.created.iter().map(|(_, n)| *n).collect(),
                commented: r.commented.clone(),
                reopened: r.reopened.clone(),
                closed: r.closed.clone(),
                failures: r
                    .failures
                    .iter()
                    .map(|f| format!("{} on {}: {}", f.operation, f.target, f.message))
                    .collect(),
            }),
        };
        serde_json::to_writer_pretty(&mut out, &doc)?;
        writeln!(out)?;
    } else {
        for u in &updates {
            let issue = u.issue.map_or("new issue".to_owned(), |n| format!("#{n}"));
            writeln!(
                out,
                " - {} {issue} {} ({} new failing builds)",
                u.action.name(),
                u.title,
                u.builds.len()
            )?;
        }
        writeln!(out, "broken builders: {} updates", updates.len())?;
    }
    out.flush()?;
    if let Some(r) = &report {
        for f in &r.failures {
            eprintln!(
                "flakewatch broken-builders: FAILED: {} on {}: {}",
                f.operation, f.target, f.message
            );
        }
        if !r.failures.is_empty() {
            return Ok(ExitCode::from(crate::EXIT_FAILURE));
        }
    }
    Ok(ExitCode::SUCCESS)
}

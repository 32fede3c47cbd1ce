//! `flakewatch close`: upstream's automatic closing of quiet issues (docs/triage.md,
//! "Automatic closing"). A dry run by default (prints each decision); `--apply` posts the
//! signed closing comments and closes, under the tracker's cycle lock.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use flakewatch_core::Timestamp;
use flakewatch_triage::backend::IssueTracker;
use flakewatch_triage::close::{CloseAction, CloseDecision, CloseReport, apply_close, plan_close};
use flakewatch_triage::run;
use serde::Serialize;

use crate::triage::{BackendArgs, take_cycle_lock};

/// Arguments of `flakewatch close`.
#[derive(Debug, Args)]
pub(crate) struct CloseArgs {
    /// Where issues and failures come from.
    #[command(flatten)]
    pub backend: BackendArgs,
    /// Post the closing comments and close the issues. Without it nothing is written.
    #[arg(long)]
    pub apply: bool,
    /// Print the decisions (and with --apply, the result) as one JSON document
    /// (schema flakewatch.close/1).
    #[arg(long)]
    pub json: bool,
    /// With --apply: how long to wait for another run that holds the tracker's cycle lock.
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    pub lock_wait: u64,
}

/// The JSON document.
#[derive(Serialize)]
struct CloseDocument<'a> {
    schema: &'static str,
    mode: &'static str,
    now: String,
    decisions: Vec<DecisionDoc<'a>>,
    result: Option<ResultDoc>,
}

#[derive(Serialize)]
struct DecisionDoc<'a> {
    issue: u64,
    title: &'a str,
    action: &'static str,
    kind: Option<&'static str>,
    reason: Option<&'a str>,
    stats: Option<StatsDoc>,
    comment: Option<&'a str>,
}

#[derive(Serialize)]
struct StatsDoc {
    failures: usize,
    first: String,
    last: String,
    span_seconds: i64,
    silence_seconds: i64,
    max_gap_seconds: i64,
    p: f64,
    builders: Vec<String>,
    builds_since: usize,
    last_build: Option<String>,
}

#[derive(Serialize)]
struct ResultDoc {
    closed: Vec<u64>,
    failures: Vec<FailureDoc>,
}

#[derive(Serialize)]
struct FailureDoc {
    issue: String,
    operation: &'static str,
    message: String,
}

fn decision_doc(d: &CloseDecision) -> DecisionDoc<'_> {
    DecisionDoc {
        issue: d.issue,
        title: &d.title,
        action: d.action.name(),
        kind: d.kind.map(|k| k.name()),
        reason: d.reason.as_deref(),
        stats: d.stats.as_ref().map(|s| StatsDoc {
            failures: s.n,
            first: s.first.format_rfc3339(),
            last: s.last.format_rfc3339(),
            span_seconds: s.span,
            silence_seconds: s.silence,
            max_gap_seconds: s.max_gap,
            p: s.p,
            builders: s.builders.clone(),
            builds_since: s.builds,
            last_build: s.last_build.map(Timestamp::format_rfc3339),
        }),
        comment: d.comment.as_deref(),
    }
}

/// Runs `flakewatch close`; `verbose` above 0 also lists the issues kept and why.
pub(crate) fn run(args: &CloseArgs, verbose: u8) -> anyhow::Result<ExitCode> {
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
    let plan = run::plan(tracker, &*backends.source, &options)?;
    let decisions = plan_close(tracker, &*backends.source, &plan, &options, now)?;
    let report = args.apply.then(|| apply_close(&decisions, tracker, now));
    if args.apply {
        tracker.end_cycle()?;
    }
    let mut out = crate::stdout();
    if args.json {
        let doc = CloseDocument {
            schema: "flakewatch.close/1",
            mode: if args.apply { "apply" } else { "dry_run" },
            now: now.format_rfc3339(),
            decisions: decisions.iter().map(decision_doc).collect(),
            result: report.as_ref().map(|r| ResultDoc {
                closed: r.closed.clone(),
                failures: r
                    .failures
                    .iter()
                    .map(|f| FailureDoc {
                        issue: f.target.to_string(),
                        operation: f.operation,
                        message: f.message.clone(),
                    })
                    .collect(),
            }),
        };
        serde_json::to_writer_pretty(&mut out, &doc)?;
        writeln!(out)?;
    } else {
        write_text(
            &mut out,
            &decisions,
            report.as_ref(),
            args.apply,
            verbose > 0,
        )?;
    }
    out.flush()?;
    Ok(match &report {
        Some(r) if !r.failures.is_empty() => ExitCode::from(crate::EXIT_FAILURE),
        _ => ExitCode::SUCCESS,
    })
}

fn write_text(
    out: &mut impl Write,
    decisions: &[CloseDecision],
    report: Option<&CloseReport>,
    apply: bool,
    every: bool,
) -> std::io::Result<()> {
    if apply {
        writeln!(out, "flakewatch close: applying")?;
    } else {
        writeln!(
            out,
            "flakewatch close: dry run (nothing is written; --apply closes)"
        )?;
    }
    for d in decisions {
        match (&d.action, &d.stats) {
            (CloseAction::Keep, _) => {
                if every {
                    writeln!(
                        out,
                        " - keep #{} {}: {}",
                        d.issue,
                        d.title,
                        d.reason.as_deref().unwrap_or("")
                    )?;
                }
            }
            (action, Some(s)) => {
                let verb = if *action == CloseAction::FinishClose {
                    "finish closing"
                } else {
                    "close"
                };
                writeln!(
                    out,
                    " - {verb} #{} {} ({}): {} failures to {}, quiet {} days, p={:.2e}, {} \
                     builds since on {}",
                    d.issue,
                    d.title,
                    d.kind.map_or("", |k| k.name()),
                    s.n,
                    &s.last.format_rfc3339()[..10],
                    s.silence / 86_400,
                    s.p,
                    s.builds,
                    s.builders.join(", ")
                )?;
            }
            (_, None) => {}
        }
    }
    let closing = decisions
        .iter()
        .filter(|d| d.action != CloseAction::Keep)
        .count();
    writeln!(
        out,
        "close pass: {} {closing} of {} open issues",
        if apply { "closing" } else { "would close" },
        decisions.len()
    )?;
    if let Some(r) = report {
        for f in &r.failures {
            eprintln!(
                "flakewatch close: FAILED: {} on {}: {}",
                f.operation, f.target, f.message
            );
        }
        writeln!(
            out,
            "applied: {} closed, {} failed writes",
            r.closed.len(),
            r.failures.len()
        )?;
    }
    Ok(())
}

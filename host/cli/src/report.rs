//! `flakewatch report`: every tracked issue ranked by recent impact, and the failures no
//! issue owns, from triage's own assignment over the last 60 days (`docs/report.md`). Reads
//! only; writes the HTML page to `--html FILE`, and prints Markdown (`--md`), JSON (`--json`)
//! or a short text summary.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use flakewatch_report::{Report, build_report, render_html, render_markdown};

use crate::triage::BackendArgs;

/// Arguments of `flakewatch report`.
#[derive(Debug, Args)]
pub(crate) struct ReportArgs {
    /// Where issues and failures come from.
    #[command(flatten)]
    pub backend: BackendArgs,
    /// Write the report as a self-contained HTML page (inline SVG plots, sortable tables,
    /// nothing fetched when viewed) to FILE.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Print the report as GitHub Markdown (for a pinned issue).
    #[arg(long, conflicts_with = "json")]
    pub md: bool,
    /// Print the report as one JSON document (schema flakewatch.report/1).
    #[arg(long)]
    pub json: bool,
}

/// Runs `flakewatch report`.
pub(crate) fn run(args: &ReportArgs) -> anyhow::Result<ExitCode> {
    let options = args.backend.options()?;
    let now = crate::now_or_clock(args.backend.now.as_deref())?;
    let backends = args.backend.resolve(true)?;
    let tracker = backends
        .tracker
        .as_deref()
        .context("no issue tracker resolved")?;
    let progress = crate::progress::bar(args.json);
    progress.set_message("reading issues and builds, matching failures");
    let report = build_report(tracker, &*backends.source, &options, now);
    progress.finish_and_clear();
    let report = report?;
    if let Some(path) = &args.html {
        std::fs::write(path, render_html(&report))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    let mut out = crate::stdout();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else if args.md {
        out.write_all(render_markdown(&report).as_bytes())?;
    } else {
        write_text(&mut out, &report)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The text summary: totals, then one line per issue with failures in the last 30 days and
/// per unowned group.
fn write_text(out: &mut impl Write, report: &Report) -> std::io::Result<()> {
    let t = &report.totals;
    writeln!(
        out,
        "flakewatch report as of {}: {} failures in the last 30 days ({} in the last 7, {} in \
         the 7 before); {} owned by {} of {} issues, {} unowned",
        report.now,
        t.last_30d,
        t.last_7d,
        t.prev_7d,
        t.owned_30d,
        t.issues_active_30d,
        t.issues,
        t.unowned_30d
    )?;
    writeln!(out, "rank  issue   7d  30d  share  trend    title")?;
    for i in report.issues.iter().filter(|i| i.impact.last_30d > 0) {
        writeln!(
            out,
            "{:>4}  #{:<5} {:>3} {:>4} {:>5.1}%  {:<8} {}{}",
            i.rank,
            i.number,
            i.impact.last_7d,
            i.impact.last_30d,
            i.impact.share_30d * 100.0,
            i.impact.trend,
            i.title,
            if i.state == "closed" { " (closed)" } else { "" }
        )?;
    }
    let quiet = report.issues.len() - t.issues_active_30d;
    writeln!(out, "({quiet} issues without failures in the last 30 days)")?;
    for g in &report.unowned {
        writeln!(
            out,
            "unowned  {:>3} {:>4} {:>5.1}%  {:<8} {}",
            g.impact.last_7d,
            g.impact.last_30d,
            g.impact.share_30d * 100.0,
            g.impact.trend,
            g.title
        )?;
    }
    Ok(())
}

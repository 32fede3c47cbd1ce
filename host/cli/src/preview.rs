//! `flakewatch preview FILE [--issue N]`: what a script (or an edited issue body) would do on
//! the failure history: the failures the issue would get, those it would take from other
//! issues, and those its current version gets that it would release, with where they go.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use flakewatch_authoring::preview::{Change, preview};
use flakewatch_dsl::{Extracted, Field, Record, find_script};

use crate::authoring_input::AuthoringInput;
use crate::explain::issue_body;

/// Failures listed per group unless `--all`.
const LISTED: usize = 10;

/// Arguments of `flakewatch preview`.
#[derive(Debug, Args)]
pub(crate) struct PreviewArgs {
    /// The new script, or the whole new issue body (`-` reads standard input).
    #[arg(value_name = "SCRIPT|ISSUE-BODY")]
    pub file: String,
    /// The issue whose body it replaces (default: a new issue after the last).
    #[arg(long, value_name = "N")]
    pub issue: Option<u64>,
    /// Issues and failures (the failures are required: --failures FILE, or a backend).
    #[command(flatten)]
    pub input: AuthoringInput,
    /// List every changed failure, not the first few per group.
    #[arg(long)]
    pub all: bool,
    /// Print one JSON document.
    #[arg(long)]
    pub json: bool,
}

/// Runs `flakewatch preview`.
pub(crate) fn run(args: &PreviewArgs) -> anyhow::Result<ExitCode> {
    let text = crate::script_file::read_input(&args.file)?;
    let body = match find_script(&text) {
        Ok(Extracted::Script(_)) => text,
        _ => issue_body(&text),
    };
    let input = args.input.read()?;
    let failures = input
        .failures
        .context("preview needs the failure history: --failures FILE, or a backend")?;
    let number = args
        .issue
        .unwrap_or_else(|| input.issues.iter().map(|(n, _)| *n).max().unwrap_or(0) + 1);
    let result = preview(&input.issues, number, &body, &failures.records)?;
    let mut out = crate::stdout();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &result)?;
        writeln!(out)?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    writeln!(
        out,
        "issue #{number} ({}): gets {} of {} failures with this script ({} today)",
        if result.existing { "edited" } else { "new" },
        result.owned_after,
        result.failures,
        result.owned_before
    )?;
    let groups: [(&str, &Vec<Change>, Vec<String>); 3] = [
        (
            "takes",
            &result.taken,
            result
                .taken_from
                .iter()
                .map(|(who, n)| {
                    if who.starts_with("shared with") {
                        format!("{n} {who}")
                    } else {
                        format!("{n} from {who}")
                    }
                })
                .collect(),
        ),
        (
            "releases",
            &result.released,
            result
                .released_to
                .iter()
                .map(|(who, n)| format!("{n} to {who}"))
                .collect(),
        ),
        ("also changes", &result.other, Vec::new()),
    ];
    for (what, changes, summary) in groups {
        if changes.is_empty() {
            continue;
        }
        let mut head = format!("{what} {}", changes.len());
        if !summary.is_empty() {
            head.push_str(&format!(": {}", summary.join(", ")));
        }
        writeln!(out, "{head}")?;
        let shown = if args.all { changes.len() } else { LISTED };
        for change in changes.iter().take(shown) {
            writeln!(
                out,
                "  {}   {} -> {}",
                label(
                    &failures.records[change.failure],
                    &failures.urls[change.failure]
                ),
                change.before.describe(),
                change.after.describe()
            )?;
        }
        if changes.len() > shown {
            writeln!(
                out,
                "  ... {} more (--all lists them)",
                changes.len() - shown
            )?;
        }
    }
    if result.taken.is_empty() && result.released.is_empty() && result.other.is_empty() {
        writeln!(out, "no failure changes owner")?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `pkg.Test on builder at date (url)`.
fn label(record: &Record, url: &str) -> String {
    let mut name = record.get(Field::Pkg).to_owned();
    let test = record.get(Field::Test);
    if !test.is_empty() {
        if !name.is_empty() {
            name.push('.');
        }
        name.push_str(test);
    }
    if name.is_empty() {
        name.push_str("(build failure)");
    }
    let mut text = format!(
        "{name} on {} at {}",
        record.get(Field::Builder),
        record.get(Field::Date)
    );
    if !url.is_empty() {
        text.push_str(&format!(" ({url})"));
    }
    text
}

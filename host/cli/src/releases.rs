//! `flakewatch create-releases` and `flakewatch upload-releases`: the job-run-aggregator's
//! four release tables (`ReleaseTags`, `ReleaseJobRuns`, `ReleaseRepositories`,
//! `ReleasePullRequests`). `create-releases` creates them in the store; `upload-releases`
//! stores the release data of a file, never of a live service: a JSON document with the
//! tables' rows in upstream's column names,
//! `{"tags": [..], "jobRuns": [..], "repositories": [..], "pullRequests": [..]}`. Only tags in
//! phase `Accepted` or `Rejected` that are not stored yet are written, with the rows of the
//! other tables that belong to them (by `releaseTag`).

use std::collections::BTreeSet;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use flakewatch_plugin_sdk::model::{AggregatorTable, ReadRowsRequest, Row};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::upload::TablesArgs;

/// Arguments of `flakewatch create-releases`.
#[derive(Debug, Args)]
pub(crate) struct CreateArgs {
    /// Where the tables go.
    #[command(flatten)]
    pub tables: TablesArgs,
}

/// Arguments of `flakewatch upload-releases`.
#[derive(Debug, Args)]
pub(crate) struct UploadArgs {
    /// The release data: `{"tags", "jobRuns", "repositories", "pullRequests"}`, each a list of
    /// rows in the tables' columns.
    #[arg(long, value_name = "FILE")]
    pub file: PathBuf,
    /// Print the rows that would be written (JSON lines) and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Where the tables are.
    #[command(flatten)]
    pub tables: TablesArgs,
}

/// The release data file.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ReleaseData {
    #[serde(default)]
    tags: Vec<Row>,
    #[serde(default)]
    job_runs: Vec<Row>,
    #[serde(default)]
    repositories: Vec<Row>,
    #[serde(default)]
    pull_requests: Vec<Row>,
}

/// Runs `flakewatch create-releases`.
pub(crate) fn run_create(args: &CreateArgs) -> anyhow::Result<ExitCode> {
    let tables = args.tables.open()?;
    tables
        .create_tables()
        .context("creating the release tables")?;
    writeln!(
        crate::stdout(),
        "create-releases: the release tables exist in {:?}",
        tables.name()
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `flakewatch upload-releases`.
pub(crate) fn run_upload(args: &UploadArgs) -> anyhow::Result<ExitCode> {
    let path = &args.file;
    let text = flakewatch_core::bounded::read_to_string(path, flakewatch_core::bounded::DATA_LIMIT)
        .with_context(|| format!("reading {}", path.display()))?;
    let data: ReleaseData = serde_json::from_str(&text)
        .with_context(|| format!("{}: not release data", path.display()))?;
    let parts = [
        (AggregatorTable::ReleaseTags, "tags", &data.tags),
        (AggregatorTable::ReleaseJobRuns, "jobRuns", &data.job_runs),
        (
            AggregatorTable::ReleaseRepositories,
            "repositories",
            &data.repositories,
        ),
        (
            AggregatorTable::ReleasePullRequests,
            "pullRequests",
            &data.pull_requests,
        ),
    ];
    for (table, field, rows) in parts {
        for (i, row) in rows.iter().enumerate() {
            table
                .check_row(row)
                .map_err(|e| anyhow::anyhow!("{}: {field}[{i}]: {e}", path.display()))?;
        }
    }
    let tables = args.tables.open()?;
    let stored: BTreeSet<String> = tables
        .read_all(&ReadRowsRequest {
            table: AggregatorTable::ReleaseTags,
            job: None,
            since: None,
            until: None,
            cursor: None,
        })
        .context("reading the ReleaseTags table")?
        .iter()
        .filter_map(|r| {
            r.get("releaseTag")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .collect();
    let wanted: BTreeSet<String> = data
        .tags
        .iter()
        .filter(|t| {
            matches!(
                t.get("phase").and_then(Value::as_str),
                Some("Accepted" | "Rejected")
            )
        })
        .filter_map(|t| {
            t.get("releaseTag")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .filter(|tag| !stored.contains(tag))
        .collect();
    let mut out = crate::stdout();
    let mut summary = Vec::new();
    for (table, _, rows) in parts {
        let rows: Vec<Row> = rows
            .iter()
            .filter(|r| {
                r.get("releaseTag")
                    .and_then(Value::as_str)
                    .is_some_and(|t| wanted.contains(t))
            })
            .cloned()
            .collect();
        if args.dry_run {
            for row in &rows {
                serde_json::to_writer(&mut out, &json!({"table": table.name(), "row": row}))?;
                writeln!(out)?;
            }
            summary.push(format!("{} {}", rows.len(), table.name()));
            continue;
        }
        let done = tables
            .insert(table, &rows)
            .with_context(|| format!("writing {}", table.name()))?;
        summary.push(format!("{} {}", done.inserted, table.name()));
    }
    let skipped = data.tags.len() - wanted.len();
    if args.dry_run {
        out.flush()?;
        eprintln!(
            "upload-releases: dry run: would write {} ({skipped} tags stored already or not Accepted/Rejected)",
            summary.join(", ")
        );
    } else {
        writeln!(
            out,
            "upload-releases: wrote {} to {:?} ({skipped} tags stored already or not Accepted/Rejected)",
            summary.join(", "),
            tables.name()
        )?;
        out.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}

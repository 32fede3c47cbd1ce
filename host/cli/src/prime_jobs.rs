//! `flakewatch prime-job-table`: the job-run-aggregator's `Jobs` table from the release
//! controller's configuration files (`release-ocp-4.16.json`: every `verify` job's
//! `prowJob.name`) and periodic job definitions (Prow's `periodics:` YAML: every job whose
//! name carries an OCP release at or above `--min-release`), given as files or directories.
//! Insert-only: names stored already are skipped (and counted).
//!
//! The YAML reader takes the block style Prow's job files are written in (`periodics:` at the
//! top level, one `- ` item per job, the job's `name:` at the item's own indentation); a
//! file it cannot read that way is an error naming the file and line.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use flakewatch_plugin_sdk::model::{AggregatorTable, InsertedRows, ReadRowsRequest, Row};
use serde_json::{Value, json};

use crate::upload::TablesArgs;

/// The bucket upstream's job rows name.
const BUCKET: &str = "test-platform-results";

/// Arguments of `flakewatch prime-job-table`.
#[derive(Debug, Args)]
pub(crate) struct PrimeArgs {
    /// Release controller configuration files (`release-ocp-X.Y[-ci|-arm64|…].json`), or
    /// directories of them (repeatable).
    #[arg(long = "release-config", value_name = "FILE|DIR")]
    pub release_configs: Vec<PathBuf>,
    /// Periodic job definitions (Prow YAML), or directories of `.yaml` files (repeatable).
    #[arg(long = "periodics", value_name = "FILE|DIR")]
    pub periodics: Vec<PathBuf>,
    /// The oldest OCP release whose periodic jobs are taken.
    #[arg(long, value_name = "X.Y", default_value = "4.15")]
    pub min_release: String,
    /// Print the rows that would be written (JSON lines) and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Where the table is.
    #[command(flatten)]
    pub tables: TablesArgs,
}

/// The files under `paths` (directories listed, sorted) whose name ends in one of `exts`.
pub(crate) fn files(paths: &[PathBuf], exts: &[&str]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut found = Vec::new();
            for entry in
                std::fs::read_dir(path).with_context(|| format!("listing {}", path.display()))?
            {
                let entry = entry.with_context(|| format!("listing {}", path.display()))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if exts.iter().any(|e| name.ends_with(e)) && entry.path().is_file() {
                    found.push(entry.path());
                }
            }
            found.sort();
            out.extend(found);
        } else {
            out.push(path.clone());
        }
    }
    Ok(out)
}

/// The `verify` jobs of a release controller configuration.
pub(crate) fn release_config_jobs(path: &Path, text: &str) -> anyhow::Result<Vec<String>> {
    let doc: Value =
        serde_json::from_str(text).with_context(|| format!("{}: invalid JSON", path.display()))?;
    let Some(verify) = doc.get("verify") else {
        return Ok(Vec::new());
    };
    let verify = verify
        .as_object()
        .with_context(|| format!("{}: verify is not an object", path.display()))?;
    let mut jobs = Vec::new();
    for (name, job) in verify {
        match job["prowJob"]["name"].as_str() {
            Some(job) if !job.is_empty() => jobs.push(job.to_owned()),
            _ => bail!("{}: verify.{name} has no prowJob.name", path.display()),
        }
    }
    Ok(jobs)
}

/// The job names of Prow's `periodics:` list in block-style YAML.
pub(crate) fn periodic_jobs(path: &Path, text: &str) -> anyhow::Result<Vec<String>> {
    let mut jobs = Vec::new();
    let mut in_periodics = false;
    let mut item_indent: Option<usize> = None;
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let indent = line.len() - trimmed.len();
        if line.contains('\t') && indent > 0 && line[..indent].contains('\t') {
            bail!("{}:{}: a tab in the indentation", path.display(), n + 1);
        }
        if indent == 0 && !trimmed.starts_with("- ") {
            in_periodics = trimmed.trim_end() == "periodics:";
            item_indent = None;
            if trimmed.starts_with("periodics:") && !in_periodics {
                bail!(
                    "{}:{}: periodics is not a block list (flow style is not read)",
                    path.display(),
                    n + 1
                );
            }
            continue;
        }
        if !in_periodics {
            continue;
        }
        let key_line = if let Some(rest) = trimmed.strip_prefix("- ") {
            let item = *item_indent.get_or_insert(indent);
            if indent != item {
                continue;
            }
            rest
        } else {
            match item_indent {
                Some(item) if indent == item + 2 => trimmed,
                Some(_) => continue,
                None => bail!(
                    "{}:{}: periodics holds no list item before this line",
                    path.display(),
                    n + 1
                ),
            }
        };
        if let Some(value) = key_line.strip_prefix("name:") {
            let value = value.split(" #").next().unwrap_or("").trim();
            let value = value.trim_matches(|c| c == '"' || c == '\'');
            if value.is_empty() {
                bail!("{}:{}: a job without a name", path.display(), n + 1);
            }
            jobs.push(value.to_owned());
        }
    }
    Ok(jobs)
}

/// The OCP releases a job name carries (`…-nightly-4.16-e2e…` carries 4.16), as (major, minor).
fn releases_in(name: &str) -> Vec<(u32, u32)> {
    name.split(['-', '_'])
        .filter_map(|part| {
            let (major, minor) = part.split_once('.')?;
            Some((major.parse().ok()?, minor.parse().ok()?))
        })
        .collect()
}

fn parse_release(text: &str) -> anyhow::Result<(u32, u32)> {
    text.split_once('.')
        .and_then(|(a, b)| Some((a.parse().ok()?, b.parse().ok()?)))
        .ok_or_else(|| crate::UsageError(format!("--min-release {text:?} is not X.Y")).into())
}

/// A `Jobs` row as upstream's primer writes it.
fn job_row(name: &str) -> Row {
    [
        ("JobName", json!(name)),
        ("GCSBucketName", json!(BUCKET)),
        ("GCSJobHistoryLocationPrefix", json!(format!("logs/{name}"))),
        ("CollectDisruption", json!(true)),
        ("CollectTestRuns", json!(true)),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect()
}

/// Runs `flakewatch prime-job-table`.
pub(crate) fn run(args: &PrimeArgs) -> anyhow::Result<ExitCode> {
    if args.release_configs.is_empty() && args.periodics.is_empty() {
        return Err(crate::UsageError(
            "give --release-config or --periodics files (or directories)".to_owned(),
        )
        .into());
    }
    let min = parse_release(&args.min_release)?;
    let mut names = BTreeSet::new();
    let read = |path: &Path| {
        flakewatch_core::bounded::read_to_string(path, flakewatch_core::bounded::DATA_LIMIT)
            .with_context(|| format!("reading {}", path.display()))
    };
    for path in files(&args.release_configs, &[".json"])? {
        names.extend(release_config_jobs(&path, &read(&path)?)?);
    }
    for path in files(&args.periodics, &[".yaml", ".yml"])? {
        for job in periodic_jobs(&path, &read(&path)?)? {
            if releases_in(&job).iter().any(|r| *r >= min) {
                names.insert(job);
            }
        }
    }
    let tables = args.tables.open()?;
    let stored: BTreeSet<String> = tables
        .read_all(&ReadRowsRequest {
            table: AggregatorTable::Jobs,
            job: None,
            since: None,
            until: None,
            cursor: None,
        })
        .context("reading the Jobs table")?
        .iter()
        .filter_map(|r| r.get("JobName").and_then(Value::as_str).map(str::to_owned))
        .collect();
    let rows: Vec<Row> = names
        .iter()
        .filter(|n| !stored.contains(*n))
        .map(|n| job_row(n))
        .collect();
    let mut out = crate::stdout();
    if args.dry_run {
        for row in &rows {
            serde_json::to_writer(&mut out, &json!({"table": "Jobs", "row": row}))?;
            writeln!(out)?;
        }
        out.flush()?;
        eprintln!(
            "prime-job-table: dry run: {} jobs found, {} would be written, {} stored already",
            names.len(),
            rows.len(),
            names.len() - rows.len()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let InsertedRows { inserted, skipped } = tables
        .insert(AggregatorTable::Jobs, &rows)
        .context("writing the Jobs table")?;
    writeln!(
        out,
        "prime-job-table: {} jobs found, {inserted} written to Jobs in {:?}, {} stored already",
        names.len(),
        tables.name(),
        (names.len() - rows.len()) as u64 + skipped
    )?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periodic_names_are_the_items_own() {
        let yaml = "\
# generated
periodics:
- agent: kubernetes
  cluster: build05
  labels:
    name: not-a-job
  name: periodic-ci-openshift-release-master-nightly-4.16-e2e-aws # comment
  spec:
    containers:
    - name: test
- name: \"periodic-ci-openshift-release-master-ci-4.14-upgrade\"
presubmits:
- name: pull-ci-x
";
        let jobs = periodic_jobs(Path::new("p.yaml"), yaml).expect("read");
        assert_eq!(
            jobs,
            [
                "periodic-ci-openshift-release-master-nightly-4.16-e2e-aws",
                "periodic-ci-openshift-release-master-ci-4.14-upgrade"
            ]
        );
        assert_eq!(releases_in(&jobs[0]), [(4, 16)]);
        let err = periodic_jobs(Path::new("f.yaml"), "periodics: []\n").expect_err("flow");
        assert!(err.to_string().contains("f.yaml:1"), "{err}");
    }

    #[test]
    fn release_configs_name_their_verify_jobs() {
        let text = r#"{"name": "4.16.0-0.nightly", "verify": {
            "aws": {"prowJob": {"name": "periodic-ci-openshift-release-master-nightly-4.16-e2e-aws-ovn"}},
            "upgrade": {"optional": true, "prowJob": {"name": "periodic-ci-openshift-release-master-nightly-4.16-upgrade"}}}}"#;
        let jobs = release_config_jobs(Path::new("release-ocp-4.16.json"), text).expect("read");
        assert_eq!(jobs.len(), 2);
        let err = release_config_jobs(Path::new("r.json"), r#"{"verify": {"x": {}}}"#)
            .expect_err("no prowJob");
        assert!(err.to_string().contains("verify.x"), "{err}");
    }
}

//! `flakewatch upload-disruptions` and `flakewatch upload-alerts`: the job-run-aggregator's
//! uploaders. They read the disruption or alert side-car files of a directory of job runs
//! (laid out as `aggregate --runs` reads it) and insert one row per backend or alert and run
//! into a store with the `aggregator_tables` capability (`--store NAME`). Alerts get
//! upstream's zero injection: every alert known for the run's release that did not fire gets
//! a row of 0 seconds, so that percentiles are not computed over "runs where it fired" only.
//!
//! As upstream: runs that finished before the de-duplication window (the last uploaded end
//! time minus 30 minutes, or 14 days before now on an empty table) are not considered, runs
//! whose id is uploaded in the window are skipped, and when the `Jobs` table lists jobs, only
//! their runs are uploaded (for disruption, only jobs with `CollectDisruption`). Every insert
//! is idempotent by the table's row key, so the same upload twice leaves one copy.
//!
//! Exit status: 0 uploaded (or nothing to upload), 3 a store, plugin or input error (the
//! message names the plugin), 2 a usage error.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;
use flakewatch_aggregate::runs::{
    FoundRun, Selection, SidecarMatch, find_runs, master_nodes_updated, read_disruption, sidecars,
};
use flakewatch_core::time::Timestamp;
use flakewatch_plugin_host::PluginTables;
use flakewatch_plugin_sdk::model::{
    AggregatorTable, InsertedRows, ReadRowsRequest, Row, UploadWindowRequest,
};
use serde_json::{Value, json};

use crate::plugin_options::PluginOptions;

/// The store used when none is named: the files backend's `aggregator.sqlite`.
pub(crate) const DEFAULT_TABLES: &str = "files";

/// Upstream's look-back for the last uploaded run: two weeks.
const LOOKBACK_DAYS: u32 = 14;

/// Upstream's margin before the last uploaded end time: 30 minutes.
const MARGIN_SECONDS: u64 = 30 * 60;

/// Where the aggregator's tables are kept.
#[derive(Debug, Args)]
pub(crate) struct TablesArgs {
    /// The store of the aggregator's tables: a plugin providing `aggregator_tables` (`files`:
    /// SQLite in --data DIR; `bigquery`: --opt bigquery:project=P --opt bigquery:dataset=D and
    /// a token) [default: files].
    #[arg(long = "store", value_name = "NAME")]
    pub store: Option<String>,
    /// Plugin libraries and their options.
    #[command(flatten)]
    pub plugin: PluginOptions,
}

impl TablesArgs {
    /// Loads the store's plugin and creates an instance.
    pub(crate) fn open(&self) -> anyhow::Result<PluginTables> {
        let name = self.store.as_deref().unwrap_or(DEFAULT_TABLES);
        self.plugin.check_option_targets(&[name])?;
        let library = self.plugin.registry()?.find(name)?;
        let config = self.plugin.config(name)?;
        PluginTables::new(&library, &config)
            .with_context(|| format!("opening the aggregator tables of {name:?}"))
    }
}

/// Arguments of `upload-disruptions` and `upload-alerts`.
#[derive(Debug, Args)]
pub(crate) struct UploadArgs {
    /// The directory of job runs, one directory per run (`aggregate --runs`).
    #[arg(long, value_name = "DIR")]
    pub runs: PathBuf,
    /// Only the runs of this job (the prowjob's `prow.k8s.io/job`); a run without a prowjob
    /// is taken as this job's.
    #[arg(long, value_name = "JOB")]
    pub job: Option<String>,
    /// Print the rows that would be written (JSON lines) and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// "Now" for the de-duplication window (RFC 3339) [default: the clock].
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// Where the rows go.
    #[command(flatten)]
    pub tables: TablesArgs,
}

/// Arguments of `upload-alerts`.
#[derive(Debug, Args)]
pub(crate) struct AlertArgs {
    /// The runs, the store and the window.
    #[command(flatten)]
    pub upload: UploadArgs,
    /// The release of the runs (`4.16`) whose known alerts get zero rows [default: from each
    /// run's payload tag].
    #[arg(long, value_name = "RELEASE")]
    pub release: Option<String>,
    /// Known alerts, rows shaped like upstream's `Alerts_AllKnown` (`AlertName`,
    /// `AlertNamespace`, `AlertLevel`, `Release`), in addition to those stored already.
    #[arg(long, value_name = "FILE")]
    pub known_alerts: Option<PathBuf>,
}

/// What a run directory says about its run beyond `FoundRun`.
#[derive(Clone, Debug, Default)]
pub(crate) struct RunInfo {
    job: Option<String>,
    cluster: Option<String>,
    end: Option<Timestamp>,
}

fn read_json(path: &Path) -> Option<Value> {
    let bytes = flakewatch_core::bounded::read(path, flakewatch_core::bounded::DATA_LIMIT).ok()?;
    serde_json::from_slice(&bytes).ok()
}

fn time_of(v: &Value) -> Option<Timestamp> {
    match v {
        Value::Number(n) => n.as_i64().and_then(|s| Timestamp::from_unix(s, 0)),
        Value::String(s) => Timestamp::parse_rfc3339(s).ok(),
        _ => None,
    }
}

fn run_info(run: &FoundRun) -> RunInfo {
    let prowjob = read_json(&run.dir.join("prowjob.json"));
    let finished = read_json(&run.dir.join("finished.json"));
    let pj = |f: &dyn Fn(&Value) -> Option<String>| prowjob.as_ref().and_then(f);
    RunInfo {
        job: pj(&|p| {
            p["metadata"]["annotations"]["prow.k8s.io/job"]
                .as_str()
                .or_else(|| p["spec"]["job"].as_str())
                .map(str::to_owned)
        }),
        cluster: pj(&|p| p["spec"]["cluster"].as_str().map(str::to_owned)),
        end: prowjob
            .as_ref()
            .and_then(|p| time_of(&p["status"]["completionTime"]))
            .or_else(|| finished.as_ref().and_then(|f| time_of(&f["timestamp"]))),
    }
}

/// A run ready to upload: its id and the job-run columns every row of it carries.
#[derive(Clone, Debug)]
pub(crate) struct JobRun {
    /// The run id (`JobRunName`).
    pub id: String,
    /// The job.
    pub job: String,
    /// The payload tag, when the prowjob names one.
    pub release_tag: Option<String>,
    /// The job-run columns (`JobName` … `JobRunStatus`).
    pub columns: Row,
}

/// Major.minor of a payload tag: `4.16.0-0.nightly-…` is `4.16`.
pub(crate) fn release_of(tag: &str) -> Option<String> {
    let mut parts = tag.split('.');
    let major = parts
        .next()
        .filter(|p| p.bytes().all(|b| b.is_ascii_digit()))?;
    let minor: String = parts
        .next()?
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    (!major.is_empty() && !minor.is_empty()).then(|| format!("{major}.{minor}"))
}

/// The finished runs under `dir` (of `job` when given), with their job-run columns; the
/// unfinished ones and those without a job or an end time are counted in `skipped`.
fn job_runs(
    dir: &Path,
    job: Option<&str>,
    skipped: &mut BTreeMap<&'static str, usize>,
) -> anyhow::Result<Vec<(FoundRun, JobRun)>> {
    let found = find_runs(dir, job.unwrap_or(""), &Selection::All)
        .with_context(|| format!("reading the runs under {}", dir.display()))?;
    let mut out = Vec::new();
    for run in found {
        let info = run_info(&run);
        let Some(run_job) = info.job.clone().or_else(|| job.map(str::to_owned)) else {
            *skipped
                .entry("without a job name (give --job)")
                .or_default() += 1;
            continue;
        };
        if job.is_some_and(|j| j != run_job) {
            continue;
        }
        if !run.finished {
            *skipped.entry("unfinished").or_default() += 1;
            continue;
        }
        let Some(end) = info.end else {
            *skipped.entry("without an end time").or_default() += 1;
            continue;
        };
        let start = run.start.unwrap_or(end);
        let columns: Row = [
            ("JobName", json!(run_job)),
            ("JobRunName", json!(run.id)),
            ("JobRunStartTime", json!(start.format_rfc3339())),
            ("JobRunEndTime", json!(end.format_rfc3339())),
            ("Cluster", json!(info.cluster)),
            ("ReleaseTag", json!(run.payload_tag)),
            (
                "MasterNodesUpdated",
                json!(master_nodes_updated(&run, SidecarMatch::BaseName)),
            ),
            ("JobRunStatus", json!(run.state)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        out.push((
            run.clone(),
            JobRun {
                id: run.id.clone(),
                job: run_job,
                release_tag: run.payload_tag.clone(),
                columns,
            },
        ));
    }
    Ok(out)
}

/// The runs to upload into `table`: inside upstream's window, not uploaded yet, of a job the
/// `Jobs` table lists (when it lists any).
fn runs_to_upload(
    args: &UploadArgs,
    tables: &PluginTables,
    table: AggregatorTable,
    skipped: &mut BTreeMap<&'static str, usize>,
) -> anyhow::Result<Vec<(FoundRun, JobRun)>> {
    let now = crate::now_or_clock(args.now.as_deref())?;
    let runs = job_runs(&args.runs, args.job.as_deref(), skipped)?;
    let window = tables
        .upload_window(&UploadWindowRequest {
            table,
            started_after: now.days_before(LOOKBACK_DAYS).format_rfc3339(),
            since: None,
            margin_seconds: MARGIN_SECONDS,
        })
        .with_context(|| format!("reading the upload window of {}", table.name()))?;
    let since = Timestamp::parse_rfc3339(&window.since).map_err(|e| {
        anyhow::anyhow!(
            "plugin {}: upload_window answered since {:?}: {e}",
            tables.name(),
            window.since
        )
    })?;
    let uploaded: BTreeSet<&str> = window.run_ids.iter().map(String::as_str).collect();
    let jobs = tables
        .read_all(&ReadRowsRequest {
            table: AggregatorTable::Jobs,
            job: None,
            since: None,
            until: None,
            cursor: None,
        })
        .context("reading the Jobs table")?;
    let collected: Option<BTreeSet<String>> = (!jobs.is_empty()).then(|| {
        jobs.iter()
            .filter(|r| {
                table != AggregatorTable::BackendDisruption
                    || r.get("CollectDisruption") == Some(&Value::Bool(true))
            })
            .filter_map(|r| r.get("JobName").and_then(Value::as_str).map(str::to_owned))
            .collect()
    });
    let mut out = Vec::new();
    for (run, job_run) in runs {
        let end = job_run.columns["JobRunEndTime"]
            .as_str()
            .and_then(|t| Timestamp::parse_rfc3339(t).ok());
        if end.is_some_and(|end| end < since) {
            *skipped
                .entry("finished before the upload window")
                .or_default() += 1;
        } else if uploaded.contains(job_run.id.as_str()) {
            *skipped.entry("uploaded already").or_default() += 1;
        } else if collected
            .as_ref()
            .is_some_and(|c| !c.contains(&job_run.job))
        {
            *skipped
                .entry("of a job the Jobs table does not collect")
                .or_default() += 1;
        } else {
            out.push((run, job_run));
        }
    }
    Ok(out)
}

/// Writes the rows (or prints them, with `--dry-run`) and the summary.
fn finish(
    command: &str,
    args: &UploadArgs,
    tables: &PluginTables,
    table: AggregatorTable,
    runs: usize,
    rows: &[Row],
    skipped: &BTreeMap<&'static str, usize>,
) -> anyhow::Result<ExitCode> {
    let mut out = crate::stdout();
    let skipped_text: Vec<String> = skipped
        .iter()
        .map(|(why, n)| format!("{n} {why}"))
        .collect();
    let skipped_text = if skipped_text.is_empty() {
        String::new()
    } else {
        format!(" (runs skipped: {})", skipped_text.join(", "))
    };
    if args.dry_run {
        for row in rows {
            serde_json::to_writer(&mut out, &json!({"table": table.name(), "row": row}))?;
            writeln!(out)?;
        }
        out.flush()?;
        eprintln!(
            "{command}: dry run: {} rows of {runs} runs would be written to {} in {:?}{skipped_text}",
            rows.len(),
            table.name(),
            tables.name()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let InsertedRows {
        inserted,
        skipped: stored,
    } = tables
        .insert(table, rows)
        .with_context(|| format!("writing {} rows to {}", rows.len(), table.name()))?;
    writeln!(
        out,
        "{command}: {runs} runs, {} rows: {inserted} written to {} in {:?}, {stored} stored already{skipped_text}",
        rows.len(),
        table.name(),
        tables.name()
    )?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Runs `flakewatch upload-disruptions`.
pub(crate) fn run_disruptions(args: &UploadArgs) -> anyhow::Result<ExitCode> {
    let table = AggregatorTable::BackendDisruption;
    let tables = args.tables.open()?;
    let mut skipped = BTreeMap::new();
    let runs = runs_to_upload(args, &tables, table, &mut skipped)?;
    let mut rows = Vec::new();
    let mut uploaded = 0;
    for (run, job_run) in &runs {
        let Some(backends) =
            read_disruption(run, SidecarMatch::BaseName).map_err(|e| anyhow::anyhow!(e))?
        else {
            *skipped.entry("without disruption data").or_default() += 1;
            continue;
        };
        uploaded += 1;
        for (backend, seconds) in backends {
            let mut row = job_run.columns.clone();
            row.insert("BackendName".to_owned(), json!(backend));
            row.insert("DisruptionSeconds".to_owned(), json!(seconds));
            rows.push(row);
        }
    }
    finish(
        "upload-disruptions",
        args,
        &tables,
        table,
        uploaded,
        &rows,
        &skipped,
    )
}

/// An alert's identity: name, namespace, level.
pub(crate) type AlertKey = (String, String, String);

/// The alerts of one run: every `alert*.json` side-car's `Alerts` summed per (name,
/// namespace, level), seconds rounded up, sorted by key. `Ok(None)` when the run has no alert
/// file.
pub(crate) fn read_alerts(run: &FoundRun) -> anyhow::Result<Option<Vec<(AlertKey, i64)>>> {
    let files: Vec<&str> = sidecars(run, "alert", SidecarMatch::BaseName)
        .into_iter()
        .filter(|rel| rel.ends_with(".json"))
        .collect();
    if files.is_empty() {
        return Ok(None);
    }
    let mut sums: BTreeMap<AlertKey, i64> = BTreeMap::new();
    for rel in files {
        let path = run.dir.join(rel);
        let bytes = flakewatch_core::bounded::read(&path, flakewatch_core::bounded::DATA_LIMIT)
            .with_context(|| format!("reading {}", path.display()))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let doc: Value = serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: invalid JSON", path.display()))?;
        let Some(alerts) = doc["Alerts"].as_array() else {
            continue;
        };
        for (i, alert) in alerts.iter().enumerate() {
            let text = |k: &str| alert[k].as_str().unwrap_or("").to_owned();
            let duration = alert["Duration"].as_str().unwrap_or("0s");
            let ns = flakewatch_aggregate::godur::parse(duration).with_context(|| {
                format!(
                    "{}: alert {}: Duration {duration:?} is not a Go duration",
                    path.display(),
                    i + 1
                )
            })?;
            *sums
                .entry((text("Name"), text("Namespace"), text("Level")))
                .or_default() += ns;
        }
    }
    Ok(Some(
        sums.into_iter()
            .map(|(key, ns)| {
                (
                    key,
                    ns.div_euclid(1_000_000_000) + i64::from(ns.rem_euclid(1_000_000_000) != 0),
                )
            })
            .collect(),
    ))
}

/// Upstream's zero injection (`populateZeros`): the observed rows, then for every known alert
/// (in the order given) not observed with the same name, namespace and level, a row of 0
/// seconds with the run's columns.
pub(crate) fn populate_zeros(
    observed: Vec<Row>,
    known: &[AlertKey],
    run_columns: &Row,
) -> Vec<Row> {
    let seen: BTreeSet<(&str, &str, &str)> = observed
        .iter()
        .map(|r| {
            let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("");
            (s("Name"), s("Namespace"), s("Level"))
        })
        .collect();
    let mut injected = Vec::new();
    for (name, namespace, level) in known {
        if seen.contains(&(name.as_str(), namespace.as_str(), level.as_str())) {
            continue;
        }
        let mut row = run_columns.clone();
        row.insert("Name".to_owned(), json!(name));
        row.insert("Namespace".to_owned(), json!(namespace));
        row.insert("Level".to_owned(), json!(level));
        row.insert("AlertSeconds".to_owned(), json!(0));
        injected.push(row);
    }
    let mut rows = observed;
    rows.extend(injected);
    rows
}

/// The known alerts per release: the `--known-alerts` file's rows, then every alert stored
/// for a payload tag of the release, each once, in that order.
fn known_alerts(
    args: &AlertArgs,
    stored: &[Row],
) -> anyhow::Result<BTreeMap<String, Vec<AlertKey>>> {
    let mut known: BTreeMap<String, Vec<AlertKey>> = BTreeMap::new();
    let mut add = |release: String, key: AlertKey| {
        let list = known.entry(release).or_default();
        if !list.contains(&key) {
            list.push(key);
        }
    };
    if let Some(path) = &args.known_alerts {
        let text =
            flakewatch_core::bounded::read_to_string(path, flakewatch_core::bounded::DATA_LIMIT)
                .with_context(|| format!("reading the known alerts {}", path.display()))?;
        let rows: Vec<Value> = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a JSON array of rows", path.display()))?;
        for (i, r) in rows.iter().enumerate() {
            let s = |k: &str| r[k].as_str().map(str::to_owned);
            let (Some(name), Some(release)) = (s("AlertName"), s("Release")) else {
                bail!(
                    "{}: row {}: AlertName and Release are needed",
                    path.display(),
                    i + 1
                );
            };
            add(
                release,
                (
                    name,
                    s("AlertNamespace").unwrap_or_default(),
                    s("AlertLevel").unwrap_or_default(),
                ),
            );
        }
    }
    for r in stored {
        let s = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        if let Some(release) = release_of(&s("ReleaseTag")) {
            add(release, (s("Name"), s("Namespace"), s("Level")));
        }
    }
    Ok(known)
}

/// Runs `flakewatch upload-alerts`.
pub(crate) fn run_alerts(args: &AlertArgs) -> anyhow::Result<ExitCode> {
    let table = AggregatorTable::Alerts;
    let upload = &args.upload;
    let tables = upload.tables.open()?;
    let mut skipped = BTreeMap::new();
    let runs = runs_to_upload(upload, &tables, table, &mut skipped)?;
    let stored = if runs.is_empty() {
        Vec::new()
    } else {
        tables
            .read_all(&ReadRowsRequest {
                table,
                job: None,
                since: None,
                until: None,
                cursor: None,
            })
            .context("reading the known alerts from the Alerts table")?
    };
    let known = known_alerts(args, &stored)?;
    let mut rows = Vec::new();
    let mut uploaded = 0;
    let mut injected = 0;
    for (run, job_run) in &runs {
        let Some(alerts) = read_alerts(run)? else {
            *skipped.entry("without alert data").or_default() += 1;
            continue;
        };
        uploaded += 1;
        let observed: Vec<Row> = alerts
            .into_iter()
            .map(|((name, namespace, level), seconds)| {
                let mut row = job_run.columns.clone();
                row.insert("Name".to_owned(), json!(name));
                row.insert("Namespace".to_owned(), json!(namespace));
                row.insert("Level".to_owned(), json!(level));
                row.insert("AlertSeconds".to_owned(), json!(seconds));
                row
            })
            .collect();
        let release = args
            .release
            .clone()
            .or_else(|| job_run.release_tag.as_deref().and_then(release_of));
        let known_here = release
            .as_ref()
            .and_then(|r| known.get(r))
            .map_or(&[][..], Vec::as_slice);
        let before = observed.len();
        let all = populate_zeros(observed, known_here, &job_run.columns);
        injected += all.len() - before;
        rows.extend(all);
    }
    if injected > 0 {
        eprintln!(
            "upload-alerts: {injected} zero rows injected for known alerts that did not fire"
        );
    }
    finish(
        "upload-alerts",
        upload,
        &tables,
        table,
        uploaded,
        &rows,
        &skipped,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Upstream's `TestPopulateZeros` vectors (`testdata/jra/extracted`).
    #[test]
    fn zero_injection_reproduces_upstreams_vectors() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata/jra/extracted/alert_populate_zeros_cases.json");
        let doc: Value =
            serde_json::from_slice(&std::fs::read(&path).expect("the vectors")).expect("JSON");
        let release = doc["release"].as_str().expect("release");
        let known: Vec<AlertKey> = doc["knownAlerts"]
            .as_array()
            .expect("known alerts")
            .iter()
            .filter(|k| k["Release"] == release)
            .map(|k| {
                let s = |f: &str| k[f].as_str().expect("text").to_owned();
                (s("AlertName"), s("AlertNamespace"), s("AlertLevel"))
            })
            .collect();
        assert_eq!(known.len(), 3);
        let run: Row = [("JobRunName".to_owned(), doc["jobRun"]["Name"].clone())]
            .into_iter()
            .collect();
        let cases = doc["cases"].as_array().expect("cases");
        assert_eq!(cases.len(), 4);
        for case in cases {
            let observed: Vec<Row> =
                serde_json::from_value(case["observed"].clone()).expect("rows");
            let expected: Vec<Row> =
                serde_json::from_value(case["expected"].clone()).expect("rows");
            let got = populate_zeros(observed, &known, &run);
            assert_eq!(got, expected, "{}", case["name"]);
        }
    }

    #[test]
    fn releases_of_payload_tags() {
        assert_eq!(
            release_of("4.16.0-0.nightly-2024-03-01-000000").as_deref(),
            Some("4.16")
        );
        assert_eq!(release_of("4.9.0-0.ci").as_deref(), Some("4.9"));
        assert_eq!(release_of("nightly"), None);
        assert_eq!(release_of(""), None);
    }
}

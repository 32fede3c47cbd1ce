//! `flakewatch create-releases` and `flakewatch upload-releases`: the job-run-aggregator's
//! four release tables (`ReleaseTags`, `ReleaseJobRuns`, `ReleaseRepositories`,
//! `ReleasePullRequests`). `create-releases` creates them in the store; `upload-releases`
//! stores release data read from files, never from a live service, in one of two forms:
//!
//! * `--file`: a JSON document with the tables' rows in upstream's column names,
//!   `{"tags": [..], "jobRuns": [..], "repositories": [..], "pullRequests": [..]}`;
//! * `--release-controller`: saved answers of the release controller's API, a release
//!   stream's tag list (`/api/v1/releasestream/STREAM/tags`) and releases' details
//!   (`/api/v1/releasestream/STREAM/release/TAG`), turned into rows as upstream's
//!   `releasebigqueryloader` does: the tag's stream, release and time from its name, job runs
//!   from the blocking and informing results (upgrades marked from the upgrade history), and
//!   the repositories and pull requests read from the HTML change log.
//!
//! Only tags in phase `Accepted` or `Rejected` that are not stored yet are written, with the
//! rows of the other tables that belong to them; the tag row is written last, so an upload
//! cut short is completed by the next one.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{ArgGroup, Args};
use flakewatch_core::time::Timestamp;
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
#[command(group(
    ArgGroup::new("input")
        .required(true)
        .multiple(false)
        .args(["file", "release_controller"])
))]
pub(crate) struct UploadArgs {
    /// The release data: `{"tags", "jobRuns", "repositories", "pullRequests"}`, each a list of
    /// rows in the tables' columns.
    #[arg(long, value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// Saved release controller answers: release streams' tag lists
    /// (`/api/v1/releasestream/STREAM/tags`) and releases' details
    /// (`/api/v1/releasestream/STREAM/release/TAG`), as files or directories of `.json` files
    /// (repeatable).
    #[arg(long = "release-controller", value_name = "FILE|DIR")]
    pub release_controller: Vec<PathBuf>,
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

/// The rows of one release tag in the four tables.
#[derive(Debug, Default)]
struct ReleaseRows {
    tag: Row,
    job_runs: Vec<Row>,
    repositories: Vec<Row>,
    pull_requests: Vec<Row>,
}

/// What the input says about one release tag.
#[derive(Debug)]
enum Outcome {
    /// Accepted or Rejected, with its rows.
    Rows(Box<ReleaseRows>),
    /// In another phase (`Ready`, `Failed`, …): not written, as upstream.
    NotFinal,
    /// Listed Accepted or Rejected in a stream's tags, but no release details were given.
    NoDetails,
    /// Its details have no change log (or one without sections): not fully baked, skipped as
    /// upstream does.
    NoChangelog,
}

/// One release tag of the input.
#[derive(Debug)]
struct Release {
    tag: String,
    phase: String,
    outcome: Outcome,
}

/// The zero `time.Time` upstream writes when a tag's name carries no time or a job result
/// no transition time.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// The architectures a release stream's name ends in (`4.16.0-0.nightly-arm64`); `amd64`
/// streams carry none.
const ARCHITECTURES: [&str; 4] = ["arm64", "ppc64le", "s390x", "multi"];

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

fn is_final(phase: &str) -> bool {
    matches!(phase, "Accepted" | "Rejected")
}

/// The tables in the order they are written: a tag's own row last.
const WRITE_ORDER: [AggregatorTable; 4] = [
    AggregatorTable::ReleaseJobRuns,
    AggregatorTable::ReleaseRepositories,
    AggregatorTable::ReleasePullRequests,
    AggregatorTable::ReleaseTags,
];

/// Runs `flakewatch upload-releases`.
pub(crate) fn run_upload(args: &UploadArgs) -> anyhow::Result<ExitCode> {
    let releases = match &args.file {
        Some(path) => read_release_file(path)?,
        None => read_release_controller(&args.release_controller)?,
    };
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
    let mut rows: BTreeMap<AggregatorTable, Vec<Row>> = BTreeMap::new();
    let (mut already, mut not_final, mut no_details, mut no_changelog) = (0, 0, 0, 0);
    let mut seen = BTreeSet::new();
    for release in releases {
        if !seen.insert(release.tag.clone()) {
            continue;
        }
        if stored.contains(&release.tag) {
            already += 1;
            continue;
        }
        match release.outcome {
            Outcome::Rows(r) => {
                rows.entry(AggregatorTable::ReleaseTags)
                    .or_default()
                    .push(r.tag);
                for (table, part) in [
                    (AggregatorTable::ReleaseJobRuns, r.job_runs),
                    (AggregatorTable::ReleaseRepositories, r.repositories),
                    (AggregatorTable::ReleasePullRequests, r.pull_requests),
                ] {
                    rows.entry(table).or_default().extend(part);
                }
            }
            Outcome::NotFinal => not_final += 1,
            Outcome::NoDetails => {
                tracing::info!(tag = %release.tag, phase = %release.phase, "no release details among the inputs");
                no_details += 1;
            }
            Outcome::NoChangelog => {
                tracing::info!(tag = %release.tag, "no change log: not fully baked");
                no_changelog += 1;
            }
        }
    }
    let mut out = crate::stdout();
    let mut written = BTreeMap::new();
    for table in WRITE_ORDER {
        let rows = rows.remove(&table).unwrap_or_default();
        if args.dry_run {
            for row in &rows {
                serde_json::to_writer(&mut out, &json!({"table": table.name(), "row": row}))?;
                writeln!(out)?;
            }
            written.insert(table, rows.len() as u64);
            continue;
        }
        let done = tables
            .insert(table, &rows)
            .with_context(|| format!("writing {}", table.name()))?;
        written.insert(table, done.inserted);
    }
    let summary: Vec<String> = AggregatorTable::ALL
        .into_iter()
        .filter_map(|t| written.get(&t).map(|n| format!("{n} {}", t.name())))
        .collect();
    let mut skipped = format!("{already} tags stored already, {not_final} not Accepted/Rejected");
    if no_details > 0 {
        skipped.push_str(&format!(", {no_details} without release details"));
    }
    if no_changelog > 0 {
        skipped.push_str(&format!(", {no_changelog} without a change log"));
    }
    if args.dry_run {
        out.flush()?;
        eprintln!(
            "upload-releases: dry run: would write {} ({skipped})",
            summary.join(", ")
        );
    } else {
        writeln!(
            out,
            "upload-releases: wrote {} to {:?} ({skipped})",
            summary.join(", "),
            tables.name()
        )?;
        out.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}

fn read_input(path: &Path) -> anyhow::Result<String> {
    flakewatch_core::bounded::read_to_string(path, flakewatch_core::bounded::DATA_LIMIT)
        .with_context(|| format!("reading {}", path.display()))
}

fn text_of<'a>(row: &'a Row, column: &str) -> Option<&'a str> {
    row.get(column).and_then(Value::as_str)
}

/// The releases of a `--file` document: every row checked against its table, the rows of
/// the other tables grouped under their tag.
fn read_release_file(path: &Path) -> anyhow::Result<Vec<Release>> {
    let data: ReleaseData = serde_json::from_str(&read_input(path)?)
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
    let mut by_tag: BTreeMap<&str, ReleaseRows> = BTreeMap::new();
    for row in &data.tags {
        if let Some(tag) = text_of(row, "releaseTag") {
            by_tag.entry(tag).or_insert_with(|| ReleaseRows {
                tag: row.clone(),
                ..ReleaseRows::default()
            });
        }
    }
    for row in &data.job_runs {
        if let Some(r) = text_of(row, "releaseTag").and_then(|t| by_tag.get_mut(t)) {
            r.job_runs.push(row.clone());
        }
    }
    for row in &data.repositories {
        if let Some(r) = text_of(row, "releaseTag").and_then(|t| by_tag.get_mut(t)) {
            r.repositories.push(row.clone());
        }
    }
    for row in &data.pull_requests {
        if let Some(r) = text_of(row, "releaseTag").and_then(|t| by_tag.get_mut(t)) {
            r.pull_requests.push(row.clone());
        }
    }
    let mut releases = Vec::new();
    for row in &data.tags {
        let Some(tag) = text_of(row, "releaseTag") else {
            continue;
        };
        let phase = text_of(row, "phase").unwrap_or("").to_owned();
        let outcome = match by_tag.remove(tag) {
            Some(rows) if is_final(&phase) => Outcome::Rows(Box::new(rows)),
            _ => Outcome::NotFinal,
        };
        releases.push(Release {
            tag: tag.to_owned(),
            phase,
            outcome,
        });
    }
    Ok(releases)
}

// ---------------------------------------------------------------------------------------
// The release controller's API documents.

/// `/api/v1/releasestream/STREAM/tags`: a stream and its tags.
#[derive(Debug, Deserialize)]
struct ApiTags {
    /// The stream (`4.16.0-0.nightly`, `4.16.0-0.nightly-arm64`).
    name: String,
    /// Not in the API's answer; upstream's loader sets it from the controller it asked.
    #[serde(default)]
    architecture: Option<String>,
    tags: Vec<ApiTag>,
}

/// One tag of a stream (`pullSpec`, `downloadURL` are not used).
#[derive(Debug, Deserialize)]
struct ApiTag {
    name: String,
    phase: String,
}

/// `/api/v1/releasestream/STREAM/release/TAG`: a release's verification results, upgrade
/// history and change log (HTML, base64 as Go encodes bytes in JSON).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiReleaseInfo {
    name: String,
    #[serde(default)]
    phase: String,
    #[serde(default)]
    results: Option<ApiResults>,
    #[serde(default)]
    upgrades_to: Option<Vec<ApiUpgrade>>,
    #[serde(default)]
    upgrades_from: Option<Vec<ApiUpgrade>>,
    #[serde(default)]
    change_log: Option<String>,
}

/// The verification jobs' results by kind (`pendingJobs` is not used).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiResults {
    #[serde(default)]
    blocking_jobs: Option<BTreeMap<String, Option<ApiJobResult>>>,
    #[serde(default)]
    informing_jobs: Option<BTreeMap<String, Option<ApiJobResult>>>,
}

/// One verification job's result.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiJobResult {
    #[serde(default)]
    state: String,
    #[serde(default)]
    url: String,
    #[serde(default)]
    retries: i64,
    #[serde(default)]
    transition_time: Option<String>,
}

/// An upgrade history entry (Go field names; Go's decoder also takes them in lower case).
#[derive(Debug, Deserialize)]
struct ApiUpgrade {
    #[serde(rename = "From", alias = "from", default)]
    from: String,
    #[serde(rename = "To", alias = "to", default)]
    to: String,
    #[serde(rename = "History", alias = "history", default)]
    history: Option<BTreeMap<String, ApiUpgradeRun>>,
}

/// One run of an upgrade history.
#[derive(Debug, Deserialize)]
struct ApiUpgradeRun {
    #[serde(default)]
    url: String,
}

/// Which API document a file holds.
#[derive(Deserialize)]
struct Probe {
    #[serde(default)]
    tags: Option<serde::de::IgnoredAny>,
}

/// The `.json` files under `paths` (directories listed, not descended, sorted).
fn json_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    crate::prime_jobs::files(paths, &[".json"])
}

/// The architecture a stream or tag name carries (`…-arm64…`), else `amd64`.
fn architecture_of(name: &str) -> String {
    name.split('-')
        .find(|part| ARCHITECTURES.contains(part))
        .unwrap_or("amd64")
        .to_owned()
}

/// The releases of saved release controller answers: every stream tag list's tags, joined
/// with the release details given for them by name; details of a tag no list names are
/// taken with their own phase.
fn read_release_controller(paths: &[PathBuf]) -> anyhow::Result<Vec<Release>> {
    let mut streams: Vec<ApiTags> = Vec::new();
    let mut details: BTreeMap<String, (PathBuf, ApiReleaseInfo)> = BTreeMap::new();
    let files = json_files(paths)?;
    if files.is_empty() {
        return Err(crate::UsageError(format!(
            "--release-controller: no .json files in {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into());
    }
    for path in files {
        let text = read_input(&path)?;
        let probe: Probe = serde_json::from_str(&text)
            .with_context(|| format!("{}: not a release controller answer", path.display()))?;
        if probe.tags.is_some() {
            let tags: ApiTags = serde_json::from_str(&text).with_context(|| {
                format!(
                    "{}: not a release stream's tags (/api/v1/releasestream/STREAM/tags)",
                    path.display()
                )
            })?;
            streams.push(tags);
        } else {
            let info: ApiReleaseInfo = serde_json::from_str(&text).with_context(|| {
                format!(
                    "{}: not a release's details (/api/v1/releasestream/STREAM/release/TAG)",
                    path.display()
                )
            })?;
            if let Some((first, _)) = details.get(&info.name) {
                bail!(
                    "{}: the details of {} are given twice (also in {})",
                    path.display(),
                    info.name,
                    first.display()
                );
            }
            details.insert(info.name.clone(), (path, info));
        }
    }
    let mut releases = Vec::new();
    for stream in &streams {
        let architecture = stream
            .architecture
            .clone()
            .unwrap_or_else(|| architecture_of(&stream.name));
        for tag in &stream.tags {
            let outcome = if !is_final(&tag.phase) {
                Outcome::NotFinal
            } else {
                match details.remove(&tag.name) {
                    Some((path, info)) => {
                        convert(&path, &architecture, &tag.name, &tag.phase, &info)?
                    }
                    None => Outcome::NoDetails,
                }
            };
            releases.push(Release {
                tag: tag.name.clone(),
                phase: tag.phase.clone(),
                outcome,
            });
        }
    }
    for (name, (path, info)) in details {
        let outcome = if is_final(&info.phase) {
            convert(&path, &architecture_of(&name), &name, &info.phase, &info)?
        } else {
            Outcome::NotFinal
        };
        releases.push(Release {
            tag: name,
            phase: info.phase.clone(),
            outcome,
        });
    }
    Ok(releases)
}

/// One Accepted or Rejected release as upstream's loader turns it into rows.
fn convert(
    path: &Path,
    architecture: &str,
    tag: &str,
    phase: &str,
    info: &ApiReleaseInfo,
) -> anyhow::Result<Outcome> {
    let html = match info.change_log.as_deref() {
        Some(encoded) if !encoded.is_empty() => {
            let bytes = decode_base64(encoded).map_err(|e| {
                anyhow::anyhow!(
                    "{}: changeLog of {}: not base64 (the API's encoding of the HTML change log): {e}",
                    path.display(),
                    info.name
                )
            })?;
            String::from_utf8_lossy(&bytes).into_owned()
        }
        _ => String::new(),
    };
    let mut row = tag_row(architecture, tag, phase, &info.name);
    if html.is_empty() {
        return Ok(Outcome::NoChangelog);
    }
    let changelog = Changelog::parse(&html);
    let Some(repositories) = changelog.repositories(tag) else {
        return Ok(Outcome::NoChangelog);
    };
    let set = |row: &mut Row, column: &str, value: &str| {
        row.insert(column.to_owned(), json!(value));
    };
    set(
        &mut row,
        "kubernetesVersion",
        &changelog.kubernetes_version(),
    );
    let os = changelog.coreos_version();
    set(&mut row, "currentOSURL", &os.current_url);
    set(&mut row, "currentOSVersion", &os.current_version);
    set(&mut row, "previousOSURL", &os.previous_url);
    set(&mut row, "previousOSVersion", &os.previous_version);
    set(&mut row, "osDiffURL", &os.diff_url);
    set(
        &mut row,
        "previousReleaseTag",
        &changelog.previous_release_tag(),
    );
    let rows = ReleaseRows {
        tag: row,
        job_runs: job_run_rows(path, info)?,
        repositories,
        pull_requests: changelog.pull_requests(tag),
    };
    for (table, list) in [
        (
            AggregatorTable::ReleaseTags,
            std::slice::from_ref(&rows.tag),
        ),
        (AggregatorTable::ReleaseJobRuns, &rows.job_runs[..]),
        (AggregatorTable::ReleaseRepositories, &rows.repositories[..]),
        (
            AggregatorTable::ReleasePullRequests,
            &rows.pull_requests[..],
        ),
    ] {
        for row in list {
            table
                .check_row(row)
                .map_err(|e| anyhow::anyhow!("{}: {}: {e}", path.display(), info.name))?;
        }
    }
    Ok(Outcome::Rows(Box::new(rows)))
}

/// The `ReleaseTags` row of a tag, before its change log is read: the release (`4.16`) and
/// stream (`nightly`) from the details' name, the time from the tag's name
/// (`…-2025-06-01-021512`, else the zero time), every other column empty.
fn tag_row(architecture: &str, tag: &str, phase: &str, name: &str) -> Row {
    let parts: Vec<&str> = name.split('.').collect();
    let release = if parts.len() >= 2 {
        format!("{}.{}", parts[0], parts[1])
    } else {
        String::new()
    };
    let stream = parts
        .get(3)
        .map(|p| p.split('-').collect::<Vec<_>>())
        .filter(|s| s.len() >= 2)
        .map(|s| s[0].to_owned())
        .unwrap_or_default();
    let mut row: Row = [
        "previousReleaseTag",
        "kubernetesVersion",
        "currentOSVersion",
        "previousOSVersion",
        "currentOSURL",
        "previousOSURL",
        "osDiffURL",
    ]
    .into_iter()
    .map(|c| (c.to_owned(), json!("")))
    .collect();
    for (column, value) in [
        ("phase", json!(phase)),
        ("release", json!(release)),
        ("stream", json!(stream)),
        ("architecture", json!(architecture)),
        ("releaseTag", json!(name)),
        ("releaseTime", json!(release_time(tag))),
    ] {
        row.insert(column.to_owned(), value);
    }
    row
}

/// The time of the last `YYYY-MM-DD-HHMMSS` in a tag's name, in UTC; the zero time when
/// there is none or it is not a valid time.
fn release_time(tag: &str) -> String {
    let b = tag.as_bytes();
    let shape = |w: &[u8]| {
        w.iter().enumerate().all(|(i, c)| match i {
            4 | 7 | 10 => *c == b'-',
            _ => c.is_ascii_digit(),
        })
    };
    const LEN: usize = 17;
    let Some(start) = (0..=b.len().saturating_sub(LEN))
        .rev()
        .find(|&i| b.len() >= LEN && shape(&b[i..i + LEN]))
    else {
        return ZERO_TIME.to_owned();
    };
    let w = &tag[start..start + LEN];
    let text = format!("{}T{}:{}:{}Z", &w[..10], &w[11..13], &w[13..15], &w[15..17]);
    Timestamp::parse_rfc3339(&text)
        .map(Timestamp::format_rfc3339)
        .unwrap_or_else(|_| ZERO_TIME.to_owned())
}

/// The last element of a URL's path (a Prow job run's id), as Go's `path.Base`.
fn id_from_url(url: &str) -> String {
    let url = url.split('#').next().unwrap_or("");
    let url = url.split('?').next().unwrap_or("");
    let path = match url.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("", |i| &rest[i..]),
        None => url,
    };
    if path.is_empty() {
        return ".".to_owned();
    }
    let trimmed = path.trim_end_matches('/');
    if trimmed.is_empty() {
        return "/".to_owned();
    }
    trimmed.rsplit('/').next().unwrap_or(trimmed).to_owned()
}

/// The `ReleaseJobRuns` rows of a release: its blocking and informing jobs (one row per run
/// id; an informing result replaces a blocking one with the same id), with upgrades marked
/// from the `upgradesTo` and `upgradesFrom` histories.
fn job_run_rows(path: &Path, info: &ApiReleaseInfo) -> anyhow::Result<Vec<Row>> {
    let mut runs: BTreeMap<String, Row> = BTreeMap::new();
    let results = info.results.as_ref();
    for (kind, field, jobs) in [
        (
            "Blocking",
            "blockingJobs",
            results.and_then(|r| r.blocking_jobs.as_ref()),
        ),
        (
            "Informing",
            "informingJobs",
            results.and_then(|r| r.informing_jobs.as_ref()),
        ),
    ] {
        for (job, result) in jobs.into_iter().flatten() {
            let default = ApiJobResult::default();
            let result = result.as_ref().unwrap_or(&default);
            let transition = match result.transition_time.as_deref() {
                None => ZERO_TIME.to_owned(),
                Some(text) => Timestamp::parse_rfc3339(text)
                    .map(Timestamp::format_rfc3339)
                    .map_err(|e| {
                        anyhow::anyhow!(
                            "{}: results.{field}.{job}.transitionTime: {e}",
                            path.display()
                        )
                    })?,
            };
            let id = id_from_url(&result.url);
            let row: Row = [
                ("name", json!(id)),
                ("releaseTag", json!(info.name)),
                ("jobName", json!(job)),
                ("kind", json!(kind)),
                ("state", json!(result.state)),
                ("url", json!(result.url)),
                ("transitionTime", json!(transition)),
                ("retries", json!(result.retries)),
                ("upgradesFrom", json!("")),
                ("upgradesTo", json!("")),
                ("upgrade", json!(false)),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
            runs.insert(id, row);
        }
    }
    let upgrades = info.upgrades_to.iter().chain(info.upgrades_from.iter());
    for upgrade in upgrades.flatten() {
        for run in upgrade.history.iter().flat_map(BTreeMap::values) {
            if let Some(row) = runs.get_mut(&id_from_url(&run.url)) {
                row.insert("upgrade".to_owned(), json!(true));
                row.insert("upgradesFrom".to_owned(), json!(upgrade.from));
                row.insert("upgradesTo".to_owned(), json!(upgrade.to));
            }
        }
    }
    Ok(runs.into_values().collect())
}

// ---------------------------------------------------------------------------------------
// The change log: the release controller renders it as HTML; upstream reads it with an HTML
// parser and these rules, which this follows.

/// The machine OS of a change log's components (upstream's assignment: when the OS was
/// upgraded, the version named first, the one upgraded *from*, is stored as current).
#[derive(Debug, Default, PartialEq, Eq)]
struct OsVersion {
    current_url: String,
    current_version: String,
    previous_url: String,
    previous_version: String,
    diff_url: String,
}

/// A parsed change log.
struct Changelog {
    dom: Dom,
}

impl Changelog {
    fn parse(html: &str) -> Changelog {
        Changelog {
            dom: Dom::parse(html),
        }
    }

    /// The tag of the first `<h2>` saying "Changes from" that has a link.
    fn previous_release_tag(&self) -> String {
        let dom = &self.dom;
        dom.find_all(ROOT, "h2")
            .into_iter()
            .filter(|&h| dom.text(h).contains("Changes from"))
            .find_map(|h| dom.find(h, "a"))
            .map(|a| dom.text(a).to_owned())
            .unwrap_or_default()
    }

    /// The first item of the "Components" list whose text contains `name`.
    fn component(&self, name: &str) -> Option<usize> {
        let dom = &self.dom;
        for h in dom.find_all(ROOT, "h3") {
            if dom.text(h) == "Components" {
                let list = dom.next_element_sibling(h)?;
                if let Some(item) = dom
                    .find_all(list, "li")
                    .into_iter()
                    .find(|&li| dom.text(li).contains(name))
                {
                    return Some(item);
                }
            }
        }
        None
    }

    /// The last word of the "Kubernetes X.Y.Z" component.
    fn kubernetes_version(&self) -> String {
        let Some(item) = self.component("Kubernetes") else {
            return String::new();
        };
        let parts: Vec<&str> = self.dom.text(item).split(' ').collect();
        if parts.len() > 1 {
            parts[parts.len() - 1].to_owned()
        } else {
            String::new()
        }
    }

    /// The CoreOS component's links.
    fn coreos_version(&self) -> OsVersion {
        let dom = &self.dom;
        let mut os = OsVersion::default();
        let Some(item) = self.component("CoreOS") else {
            return os;
        };
        let anchor = |a: usize| (dom.href(a).to_owned(), dom.text(a).to_owned());
        if dom.text(item).contains("upgraded from") {
            let anchors = dom.find_all(item, "a");
            if let [a, b, c] = anchors[..] {
                (os.current_url, os.current_version) = anchor(a);
                (os.previous_url, os.previous_version) = anchor(b);
                os.diff_url = dom.href(c).to_owned();
            }
        } else if let Some(a) = dom.find(item, "a") {
            (os.current_url, os.current_version) = anchor(a);
        }
        os
    }

    /// Each `<h3>` with a link followed by a list with items is a repository: its name and
    /// head from the link, its full change log from an item's "Full changelog" link. `None`
    /// when the change log has no `<h3>` at all.
    fn repositories(&self, tag: &str) -> Option<Vec<Row>> {
        let dom = &self.dom;
        let sections = dom.find_all(ROOT, "h3");
        if sections.is_empty() {
            return None;
        }
        let mut rows = Vec::new();
        for h in sections {
            let Some(a) = dom.find(h, "a") else { continue };
            let Some(list) = dom.next_element_sibling(h) else {
                continue;
            };
            let items = dom.find_all(list, "li");
            if items.is_empty() {
                continue;
            }
            let full = items
                .iter()
                .rev()
                .filter_map(|&li| dom.find(li, "a"))
                .find(|&link| dom.text(link).contains("Full changelog"))
                .map(|link| dom.href(link))
                .unwrap_or("");
            let row: Row = [
                ("name", dom.text(a)),
                ("releaseTag", tag),
                ("repositoryHead", dom.href(a)),
                ("fullChangeLog", full),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), json!(v)))
            .collect();
            rows.push(row);
        }
        Some(rows)
    }

    /// Each item with text of a repository's list is a pull request: the text as its
    /// description, the last GitHub link as its URL and number, a Bugzilla link as its bug.
    fn pull_requests(&self, tag: &str) -> Vec<Row> {
        let dom = &self.dom;
        let mut rows = Vec::new();
        for h in dom.find_all(ROOT, "h3") {
            let Some(a) = dom.find(h, "a") else { continue };
            let Some(list) = dom.next_element_sibling(h) else {
                continue;
            };
            for li in dom.find_all(list, "li") {
                let text = dom.text(li);
                if text.is_empty() {
                    continue;
                }
                let description = text.strip_prefix(": ").unwrap_or(text).trim_matches(' ');
                let (mut url, mut id, mut bug) = ("", String::new(), "");
                for link in dom.find_all(li, "a") {
                    let href = dom.href(link);
                    if href.contains("github.com") {
                        url = href;
                        id = dom.text(link).replace('#', "");
                    }
                    if href.contains("bugzilla.redhat.com") {
                        bug = href;
                    }
                }
                let row: Row = [
                    ("pullRequestID", json!(id)),
                    ("releaseTag", json!(tag)),
                    ("name", json!(dom.text(a))),
                    ("description", json!(description)),
                    ("url", json!(url)),
                    ("bugURL", json!(bug)),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
                rows.push(row);
            }
        }
        rows
    }
}

/// The root node of a [`Dom`].
const ROOT: usize = 0;

/// A node of a [`Dom`].
#[derive(Debug)]
enum Node {
    /// The document.
    Root,
    /// An element: its lower-case name and its `href` attribute.
    Element { name: String, href: Option<String> },
    /// Text, entities decoded.
    Text(String),
}

/// A small HTML tree: what the change log's queries need (elements, their `href`, text),
/// built with HTML's implied end tags for `li`, `p` and headings, and void elements.
#[derive(Debug)]
struct Dom {
    nodes: Vec<Node>,
    children: Vec<Vec<usize>>,
    parent: Vec<usize>,
}

const VOID: [&str; 14] = [
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source",
    "track", "wbr",
];

/// Elements whose start closes an open `<p>`.
const CLOSES_P: [&str; 22] = [
    "address",
    "article",
    "aside",
    "blockquote",
    "div",
    "dl",
    "fieldset",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "main",
    "nav",
    "ol",
    "p",
    "ul",
];

const HEADINGS: [&str; 6] = ["h1", "h2", "h3", "h4", "h5", "h6"];

impl Dom {
    fn parse(html: &str) -> Dom {
        let mut dom = Dom {
            nodes: vec![Node::Root],
            children: vec![Vec::new()],
            parent: vec![ROOT],
        };
        let mut stack = vec![ROOT];
        let mut rest = html;
        while !rest.is_empty() {
            let Some(lt) = rest.find('<') else {
                dom.push_text(&stack, &decode_entities(rest));
                break;
            };
            if lt > 0 {
                dom.push_text(&stack, &decode_entities(&rest[..lt]));
                rest = &rest[lt..];
                continue;
            }
            if let Some(comment) = rest.strip_prefix("<!--") {
                rest = comment.find("-->").map_or("", |i| &comment[i + 3..]);
            } else if rest.starts_with("<!") || rest.starts_with("<?") {
                rest = rest.find('>').map_or("", |i| &rest[i + 1..]);
            } else if let Some(close) = rest.strip_prefix("</") {
                let end = close.find('>').unwrap_or(close.len());
                let name = close[..end]
                    .split(|c: char| c.is_ascii_whitespace() || c == '/')
                    .next()
                    .unwrap_or("")
                    .to_ascii_lowercase();
                if let Some(at) = stack
                    .iter()
                    .rposition(|&n| at_element(&dom.nodes[n], &name))
                    .filter(|&at| at > 0)
                {
                    stack.truncate(at);
                }
                rest = close.get(end + 1..).unwrap_or("");
            } else if rest[1..].starts_with(|c: char| c.is_ascii_alphabetic()) {
                rest = dom.start_tag(&mut stack, &rest[1..]);
            } else {
                dom.push_text(&stack, "<");
                rest = &rest[1..];
            }
        }
        dom
    }

    /// Reads a start tag after its `<`; returns the text after it.
    fn start_tag<'a>(&mut self, stack: &mut Vec<usize>, text: &'a str) -> &'a str {
        let end = text
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(text.len());
        let name = text[..end].to_ascii_lowercase();
        let mut rest = &text[end..];
        let mut href = None;
        let mut self_closing = false;
        loop {
            rest = rest.trim_start_matches(|c: char| c.is_ascii_whitespace());
            if rest.is_empty() {
                break;
            }
            if let Some(after) = rest.strip_prefix('>') {
                rest = after;
                break;
            }
            if let Some(after) = rest.strip_prefix("/>") {
                self_closing = true;
                rest = after;
                break;
            }
            if let Some(after) = rest.strip_prefix('/') {
                rest = after;
                continue;
            }
            let name_end = rest
                .find(|c: char| c.is_ascii_whitespace() || matches!(c, '=' | '>' | '/'))
                .unwrap_or(rest.len());
            let attr = rest[..name_end.max(1)].to_ascii_lowercase();
            rest = rest[name_end.max(1)..].trim_start_matches(|c: char| c.is_ascii_whitespace());
            let mut value = String::new();
            if let Some(after) = rest.strip_prefix('=') {
                let after = after.trim_start_matches(|c: char| c.is_ascii_whitespace());
                let (raw, next) = match after.chars().next() {
                    Some(q @ ('"' | '\'')) => {
                        let body = &after[1..];
                        match body.find(q) {
                            Some(i) => (&body[..i], &body[i + 1..]),
                            None => (body, ""),
                        }
                    }
                    _ => {
                        let i = after
                            .find(|c: char| c.is_ascii_whitespace() || c == '>')
                            .unwrap_or(after.len());
                        (&after[..i], &after[i..])
                    }
                };
                value = decode_entities(raw);
                rest = next;
            }
            if attr == "href" && href.is_none() {
                href = Some(value);
            }
        }
        // HTML's implied end tags.
        if name == "li" {
            self.close_open(stack, &["li"], &["ul", "ol"]);
        }
        if CLOSES_P.contains(&name.as_str()) {
            self.close_open(stack, &["p"], &["ul", "ol", "div", "table"]);
        }
        if HEADINGS.contains(&name.as_str())
            && let Some(&top) = stack.last()
            && HEADINGS.iter().any(|h| at_element(&self.nodes[top], h))
        {
            stack.pop();
        }
        let node = self.push(
            stack,
            Node::Element {
                name: name.clone(),
                href,
            },
        );
        if name == "script" || name == "style" {
            let close = format!("</{name}");
            let lower = rest.to_ascii_lowercase();
            let end = lower.find(&close).unwrap_or(rest.len());
            rest = &rest[end..];
            return rest;
        }
        if !self_closing && !VOID.contains(&name.as_str()) {
            stack.push(node);
        }
        rest
    }

    /// Closes the innermost open element named in `names`, unless an element named in
    /// `barriers` is opened after it.
    fn close_open(&self, stack: &mut Vec<usize>, names: &[&str], barriers: &[&str]) {
        for at in (1..stack.len()).rev() {
            let node = &self.nodes[stack[at]];
            if names.iter().any(|n| at_element(node, n)) {
                stack.truncate(at);
                return;
            }
            if barriers.iter().any(|n| at_element(node, n)) {
                return;
            }
        }
    }

    fn push(&mut self, stack: &[usize], node: Node) -> usize {
        let parent = *stack.last().unwrap_or(&ROOT);
        let id = self.nodes.len();
        self.nodes.push(node);
        self.children.push(Vec::new());
        self.parent.push(parent);
        self.children[parent].push(id);
        id
    }

    fn push_text(&mut self, stack: &[usize], text: &str) {
        if text.is_empty() {
            return;
        }
        let parent = *stack.last().unwrap_or(&ROOT);
        if let Some(&last) = self.children[parent].last()
            && let Node::Text(existing) = &mut self.nodes[last]
        {
            existing.push_str(text);
            return;
        }
        self.push(stack, Node::Text(text.to_owned()));
    }

    /// Every element named `name` below `node`, in document order.
    fn find_all(&self, node: usize, name: &str) -> Vec<usize> {
        let mut found = Vec::new();
        let mut todo: Vec<usize> = self.children[node].iter().rev().copied().collect();
        while let Some(n) = todo.pop() {
            if at_element(&self.nodes[n], name) {
                found.push(n);
            }
            todo.extend(self.children[n].iter().rev());
        }
        found
    }

    /// The first element named `name` below `node`.
    fn find(&self, node: usize, name: &str) -> Option<usize> {
        self.find_all(node, name).into_iter().next()
    }

    /// The element's own text: its first child text that is not only white space (as
    /// upstream's HTML library reads an element's text), else empty.
    fn text(&self, node: usize) -> &str {
        self.children[node]
            .iter()
            .find_map(|&c| match &self.nodes[c] {
                Node::Text(t) if !t.chars().all(|c| " \t\n\r\x0c".contains(c)) => Some(t.as_str()),
                _ => None,
            })
            .unwrap_or("")
    }

    /// The element's `href`, else empty.
    fn href(&self, node: usize) -> &str {
        match &self.nodes[node] {
            Node::Element { href: Some(h), .. } => h,
            _ => "",
        }
    }

    /// The next sibling that is an element.
    fn next_element_sibling(&self, node: usize) -> Option<usize> {
        if node == ROOT {
            return None;
        }
        let siblings = &self.children[self.parent[node]];
        let at = siblings.iter().position(|&s| s == node)?;
        siblings[at + 1..]
            .iter()
            .copied()
            .find(|&s| matches!(self.nodes[s], Node::Element { .. }))
    }
}

fn at_element(node: &Node, want: &str) -> bool {
    matches!(node, Node::Element { name, .. } if name == want)
}

/// HTML character references: the named ones a change log uses and numeric ones; anything
/// else is left as written.
fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        let end = rest[1..]
            .find(|c: char| !c.is_ascii_alphanumeric() && c != '#')
            .map(|i| i + 1)
            .unwrap_or(rest.len());
        let name = &rest[1..end];
        let decoded = match name {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some('\u{a0}'),
            _ => name.strip_prefix('#').and_then(|n| {
                let code = match n.strip_prefix(['x', 'X']) {
                    Some(hex) => u32::from_str_radix(hex, 16).ok(),
                    None => n.parse().ok(),
                };
                code.and_then(char::from_u32)
            }),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &rest[end..];
                rest = rest.strip_prefix(';').unwrap_or(rest);
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Standard base64 (`+/`, padded or not; line breaks ignored), as Go writes a `[]byte` in
/// JSON.
fn decode_base64(text: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let (mut acc, mut bits) = (0u32, 0u32);
    let mut padding = 0;
    for (i, c) in text.bytes().enumerate() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'\r' | b'\n' => continue,
            b'=' => {
                padding += 1;
                continue;
            }
            _ => return Err(format!("byte {i} is {:?}", char::from(c))),
        };
        if padding > 0 {
            return Err(format!("byte {i} follows the padding"));
        }
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    if bits >= 6 || padding > 2 {
        return Err("truncated".to_owned());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A change log in the release controller's HTML (own content, the controller's shape).
    const CHANGELOG: &str = r#"
<h2>Changes from <a target="_blank" href="/releasetag/4.16.0-0.nightly-2025-05-30-101500">4.16.0-0.nightly-2025-05-30-101500</a></h2>

<p>Created: 2025-06-01 02:15:12 +0000 UTC</p>

<h3>Components</h3>

<ul>
<li>Kubernetes 1.29.5</li>
<li>Red Hat Enterprise Linux CoreOS upgraded from <a target="_blank" href="https://rhcos.example/?release=416.94.1&amp;stream=rhcos-4.16">416.94.1</a> to <a target="_blank" href="https://rhcos.example/?release=416.94.2&amp;stream=rhcos-4.16">416.94.2</a> (<a target="_blank" href="https://rhcos.example/diff.html?first=416.94.1&amp;second=416.94.2">diff</a>)</li>
</ul>

<h3>Rebuilt images without code change</h3>

<ul>
<li><a target="_blank" href="https://github.com/openshift/router">router</a> git <a href="https://github.com/openshift/router/commit/abc">abc</a></li>
</ul>

<h3><a target="_blank" href="https://github.com/openshift/installer/tree/1111">installer</a></h3>

<ul>
<li><a target="_blank" href="https://bugzilla.redhat.com/show_bug.cgi?id=42">Bug 42</a>: Retry the bootstrap &amp; wait <a target="_blank" href="https://github.com/openshift/installer/pull/9001">#9001</a></li>
<li>Bump the base image <a href="https://github.com/openshift/installer/pull/9002">#9002</a>
<li><a target="_blank" href="https://github.com/openshift/installer/compare/0000...1111">Full changelog</a></li>
</ul>

<h3><a target="_blank" href="https://github.com/openshift/console/tree/2222">console, console-operator</a></h3>
<hr>
<p class="small">Source code for this page located on <a href="https://github.com/openshift/release-controller">github</a></p>
"#;

    #[test]
    fn changelog_reads_as_upstream() {
        let c = Changelog::parse(CHANGELOG);
        assert_eq!(
            c.previous_release_tag(),
            "4.16.0-0.nightly-2025-05-30-101500"
        );
        assert_eq!(c.kubernetes_version(), "1.29.5");
        assert_eq!(
            c.coreos_version(),
            OsVersion {
                current_url: "https://rhcos.example/?release=416.94.1&stream=rhcos-4.16".into(),
                current_version: "416.94.1".into(),
                previous_url: "https://rhcos.example/?release=416.94.2&stream=rhcos-4.16".into(),
                previous_version: "416.94.2".into(),
                diff_url: "https://rhcos.example/diff.html?first=416.94.1&second=416.94.2".into(),
            }
        );
        let repos = c.repositories("T").expect("sections");
        // The console section has no list after it: not a repository.
        assert_eq!(repos.len(), 1, "{repos:?}");
        assert_eq!(repos[0]["name"], "installer");
        assert_eq!(
            repos[0]["repositoryHead"],
            "https://github.com/openshift/installer/tree/1111"
        );
        assert_eq!(
            repos[0]["fullChangeLog"],
            "https://github.com/openshift/installer/compare/0000...1111"
        );
        let prs = c.pull_requests("T");
        assert_eq!(prs.len(), 2, "{prs:?}");
        assert_eq!(prs[0]["description"], "Retry the bootstrap & wait");
        assert_eq!(prs[0]["pullRequestID"], "9001");
        assert_eq!(
            prs[0]["bugURL"],
            "https://bugzilla.redhat.com/show_bug.cgi?id=42"
        );
        // An item left open is closed by the next one.
        assert_eq!(prs[1]["description"], "Bump the base image");
        assert_eq!(prs[1]["pullRequestID"], "9002");
        assert_eq!(prs[1]["bugURL"], "");
        assert_eq!(prs[1]["name"], "installer");

        let plain = Changelog::parse(
            "<h3>Components</h3><ul><li>Kubernetes 1.30.1</li>\
             <li>Red Hat Enterprise Linux CoreOS <a href=\"u\">417.1</a></li></ul>",
        );
        let os = plain.coreos_version();
        assert_eq!(
            (os.current_url.as_str(), os.current_version.as_str()),
            ("u", "417.1")
        );
        assert_eq!(os.previous_version, "");
        assert_eq!(plain.repositories("T").expect("an h3"), Vec::<Row>::new());
        assert!(
            Changelog::parse("<p>no sections</p>")
                .repositories("T")
                .is_none()
        );
    }

    #[test]
    fn tag_names_give_release_stream_and_time() {
        let row = tag_row(
            "arm64",
            "4.16.0-0.nightly-arm64-2025-06-01-021512",
            "Accepted",
            "4.16.0-0.nightly-arm64-2025-06-01-021512",
        );
        assert_eq!(row["release"], "4.16");
        assert_eq!(row["stream"], "nightly");
        assert_eq!(row["releaseTime"], "2025-06-01T02:15:12Z");
        assert_eq!(row["architecture"], "arm64");
        assert_eq!(row["kubernetesVersion"], "");
        assert_eq!(release_time("4.16.0-rc.1"), ZERO_TIME);
        assert_eq!(release_time("4.16.0-0.ci-2025-02-30-000000"), ZERO_TIME);
        assert_eq!(
            tag_row("amd64", "4.16.3", "Accepted", "4.16.3")["stream"],
            ""
        );
        assert_eq!(architecture_of("4.16.0-0.nightly-ppc64le"), "ppc64le");
        assert_eq!(architecture_of("4.16.0-0.nightly"), "amd64");
    }

    #[test]
    fn job_runs_are_keyed_by_prow_id_and_marked_as_upgrades() {
        let info: ApiReleaseInfo = serde_json::from_value(json!({
            "name": "4.16.0-0.nightly-2025-06-01-021512",
            "phase": "Accepted",
            "results": {
                "blockingJobs": {
                    "aws": {"state": "Succeeded", "url": "https://prow.example/view/gs/b/logs/job-a/101", "transitionTime": "2025-06-01T04:00:00+02:00"},
                    "upgrade": {"state": "Failed", "url": "https://prow.example/view/gs/b/logs/job-u/102/", "retries": 2},
                },
                "informingJobs": {
                    "aws-again": {"state": "Succeeded", "url": "https://prow.example/view/gs/b/logs/job-a/101?x=1"},
                    "gcp": null,
                },
                "pendingJobs": {"metal": {"state": "Pending", "url": ""}},
            },
            "upgradesTo": [{"From": "4.15.9", "To": "4.16.0-0.nightly-2025-06-01-021512", "Success": 0, "Failure": 1, "Total": 1,
                "History": {"https://prow.example/view/gs/b/logs/job-u/102": {"state": "Failed", "url": "https://prow.example/view/gs/b/logs/job-u/102"}}}],
        }))
        .expect("details");
        let rows = job_run_rows(Path::new("r.json"), &info).expect("rows");
        let by_name: BTreeMap<&str, &Row> = rows
            .iter()
            .map(|r| (r["name"].as_str().expect("name"), r))
            .collect();
        assert_eq!(
            by_name.keys().copied().collect::<Vec<_>>(),
            [".", "101", "102"]
        );
        assert_eq!(by_name["101"]["kind"], "Informing");
        assert_eq!(by_name["101"]["jobName"], "aws-again");
        assert_eq!(by_name["101"]["transitionTime"], ZERO_TIME);
        assert_eq!(by_name["102"]["retries"], 2);
        assert_eq!(by_name["102"]["upgrade"], true);
        assert_eq!(by_name["102"]["upgradesFrom"], "4.15.9");
        assert_eq!(by_name["."]["jobName"], "gcp");
        assert_eq!(id_from_url(""), ".");

        let bad: ApiReleaseInfo = serde_json::from_value(json!({"name": "x", "results": {
            "blockingJobs": {"aws": {"url": "u", "transitionTime": "yesterday"}}}}))
        .expect("details");
        let err = job_run_rows(Path::new("r.json"), &bad).expect_err("a bad time");
        assert!(
            err.to_string()
                .contains("r.json: results.blockingJobs.aws.transitionTime"),
            "{err}"
        );
        let ok: ApiReleaseInfo = serde_json::from_value(json!({"name": "x", "results": {
            "blockingJobs": {"aws": {"url": "u", "transitionTime": "2025-06-01T04:00:00+02:00"}}}}))
        .expect("details");
        assert_eq!(
            job_run_rows(Path::new("r.json"), &ok).expect("rows")[0]["transitionTime"],
            "2025-06-01T02:00:00Z"
        );
    }

    proptest::proptest! {
        /// Any text reads as a change log without a panic, into a consistent tree (every
        /// node listed by its parent, no empty text), and every query answers.
        #[test]
        fn any_text_reads_as_a_change_log(
            html in "(<[/!?]?[a-zA-Z0-9]{0,3}( [a-z]{1,4}(=(\"[^\"]{0,6}\"|'[^']{0,6}'|[^ >]{0,6}))?){0,2} ?/?>?|&#?[a-zA-Z0-9]{0,4};?|[^<&]{0,8}|<|&|<!--|-->){0,60}",
            tag in "[0-9a-z.\\-]{0,40}",
        ) {
            let c = Changelog::parse(&html);
            for node in 1..c.dom.nodes.len() {
                proptest::prop_assert!(c.dom.children[c.dom.parent[node]].contains(&node));
                if let Node::Text(t) = &c.dom.nodes[node] {
                    proptest::prop_assert!(!t.is_empty());
                }
            }
            let _ = (c.previous_release_tag(), c.kubernetes_version(), c.coreos_version());
            if let Some(rows) = c.repositories("t") {
                for row in &rows {
                    proptest::prop_assert!(
                        AggregatorTable::ReleaseRepositories.check_row(row).is_ok()
                    );
                }
            }
            for row in c.pull_requests("t") {
                proptest::prop_assert!(AggregatorTable::ReleasePullRequests.check_row(&row).is_ok());
            }
            proptest::prop_assert!(Timestamp::parse_rfc3339(&release_time(&tag)).is_ok());
            let _ = decode_base64(&html);
        }
    }

    #[test]
    fn base64_and_entities_decode() {
        assert_eq!(decode_base64("PGgzPg==").expect("padded"), b"<h3>");
        assert_eq!(decode_base64("PGgzPg").expect("unpadded"), b"<h3>");
        assert_eq!(decode_base64("PGgz\nPg==").expect("wrapped"), b"<h3>");
        assert!(decode_base64("<h3>").is_err());
        assert!(decode_base64("PGgzP").is_err());
        assert!(decode_base64("PG==gz").is_err());
        assert_eq!(
            decode_entities("a &amp; b &#35;1 &#x41; &bogus; &"),
            "a & b #1 A &bogus; &"
        );
    }
}

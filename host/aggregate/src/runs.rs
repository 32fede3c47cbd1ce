//! The files backend: runs stored on disk in the layout of the CI bucket
//! (`<dir>/<run-id>/{prowjob.json,started.json,finished.json,artifacts/...}`), located,
//! matched to a payload or aggregation ID, and read (JUnit through [`flakewatch_ingest`], the
//! disruption and cluster-data side-car files).

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value as Json;

use super::combine::{Combined, EntryRule};
use super::error::AggregateError;
use super::godur;
use flakewatch_core::time::Timestamp;
use flakewatch_ingest::{self as ingest, Format, Limits, RunMeta, WarningKind};

/// Which runs belong to the aggregation (docs/aggregate.md, "Where the runs come from").
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selection {
    /// Payload mode: the prow job annotation equals the job and `release.openshift.io/tag`
    /// equals this tag (an empty tag never matches).
    Payload(String),
    /// PR mode: `releaseJobName` equals the job and the label
    /// `release.openshift.io/aggregation-id` equals this ID.
    Aggregation(String),
    /// Every run directory (static run info): no `prowjob.json` matching.
    All,
}

impl Selection {
    /// The tag or ID the messages name.
    pub fn label(&self) -> &str {
        match self {
            Selection::Payload(t) | Selection::Aggregation(t) => t,
            Selection::All => "",
        }
    }
}

/// One run found on disk.
#[derive(Clone, Debug)]
pub struct FoundRun {
    /// Run ID (the directory name).
    pub id: String,
    /// Its directory.
    pub dir: PathBuf,
    /// `finished.json` is there and non-empty, and the prowjob (when there is one) has a
    /// completion time.
    pub finished: bool,
    /// The prowjob state (`success`, `failure`, ...), else `finished.json`'s result.
    pub state: String,
    /// The payload tag annotation, if any.
    pub payload_tag: Option<String>,
    /// Start time: `started.json`, else the prowjob's, else `finished.json`'s timestamp.
    pub start: Option<Timestamp>,
    /// Files under the run, relative, `/`-separated, sorted as a bucket lists them.
    pub files: Vec<String>,
}

/// Lists the run directories under `dir` that match `job` and `selection`, sorted by ID.
pub fn find_runs(
    dir: &Path,
    job: &str,
    selection: &Selection,
) -> Result<Vec<FoundRun>, AggregateError> {
    let io = |source| AggregateError::Io {
        path: dir.display().to_string(),
        source,
    };
    let mut runs = Vec::new();
    for entry in fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        if !entry.file_type().map_err(io)?.is_dir() {
            continue;
        }
        let id = entry.file_name().to_string_lossy().into_owned();
        let run_dir = entry.path();
        let prowjob = read_json(&run_dir.join("prowjob.json"));
        if !matches(prowjob.as_ref(), job, selection) {
            continue;
        }
        runs.push(load_run(id, run_dir, prowjob.as_ref())?);
    }
    runs.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(runs)
}

/// Loads the given run IDs under `dir` (static run info): missing directories are unfinished
/// runs.
pub fn static_runs(dir: &Path, ids: &[String]) -> Result<Vec<FoundRun>, AggregateError> {
    let mut runs = Vec::new();
    for id in ids {
        let run_dir = dir.join(id);
        if !run_dir.is_dir() {
            runs.push(FoundRun {
                id: id.clone(),
                dir: run_dir,
                finished: false,
                state: "unknown".into(),
                payload_tag: None,
                start: None,
                files: Vec::new(),
            });
            continue;
        }
        let prowjob = read_json(&run_dir.join("prowjob.json"));
        runs.push(load_run(id.clone(), run_dir, prowjob.as_ref())?);
    }
    runs.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(runs)
}

fn matches(prowjob: Option<&Json>, job: &str, selection: &Selection) -> bool {
    let Some(pj) = prowjob else {
        return true;
    };
    let annotation = |k: &str| pj["metadata"]["annotations"][k].as_str();
    let label = |k: &str| pj["metadata"]["labels"][k].as_str();
    match selection {
        Selection::All => true,
        Selection::Payload(tag) => {
            !tag.is_empty()
                && annotation("prow.k8s.io/job") == Some(job)
                && annotation("release.openshift.io/tag") == Some(tag.as_str())
        }
        Selection::Aggregation(id) => {
            annotation("releaseJobName") == Some(job)
                && label("release.openshift.io/aggregation-id") == Some(id.as_str())
        }
    }
}

fn read_json(path: &Path) -> Option<Json> {
    let text = flakewatch_core::bounded::read(path, flakewatch_core::bounded::DATA_LIMIT).ok()?;
    serde_json::from_slice(&text).ok()
}

fn timestamp_of(v: &Json) -> Option<Timestamp> {
    match v {
        Json::Number(n) => n.as_i64().and_then(|s| Timestamp::from_unix(s, 0)),
        Json::String(s) => Timestamp::parse_rfc3339(s).ok(),
        _ => None,
    }
}

fn load_run(id: String, dir: PathBuf, prowjob: Option<&Json>) -> Result<FoundRun, AggregateError> {
    let finished_path = dir.join("finished.json");
    let finished_bytes =
        flakewatch_core::bounded::read(&finished_path, flakewatch_core::bounded::DATA_LIMIT)
            .unwrap_or_default();
    let finished_json: Option<Json> = serde_json::from_slice(&finished_bytes).ok();
    let mut finished = !finished_bytes.iter().all(u8::is_ascii_whitespace);
    let mut state = finished_json
        .as_ref()
        .and_then(|f| f["result"].as_str().map(str::to_ascii_lowercase))
        .or_else(|| {
            finished_json.as_ref().and_then(|f| {
                f["passed"]
                    .as_bool()
                    .map(|p| if p { "success" } else { "failure" }.to_owned())
            })
        })
        .unwrap_or_else(|| "unknown".into());
    let mut payload_tag = None;
    let mut start =
        read_json(&dir.join("started.json")).and_then(|s| timestamp_of(&s["timestamp"]));
    if let Some(pj) = prowjob {
        finished &= !pj["status"]["completionTime"].is_null();
        if let Some(s) = pj["status"]["state"].as_str() {
            state = s.to_owned();
        }
        payload_tag = pj["metadata"]["annotations"]["release.openshift.io/tag"]
            .as_str()
            .map(str::to_owned);
        if start.is_none() {
            start = timestamp_of(&pj["status"]["startTime"]);
        }
    }
    if start.is_none() {
        start = finished_json
            .as_ref()
            .and_then(|f| timestamp_of(&f["timestamp"]));
    }
    let mut files = Vec::new();
    list_files(&dir, "", &mut files).map_err(|source| AggregateError::Io {
        path: dir.display().to_string(),
        source,
    })?;
    files.sort();
    Ok(FoundRun {
        id,
        dir,
        finished,
        state,
        payload_tag,
        start,
        files,
    })
}

fn list_files(dir: &Path, prefix: &str, out: &mut Vec<String>) -> std::io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let rel = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        if entry.file_type()?.is_dir() {
            list_files(&entry.path(), &rel, out)?;
        } else {
            out.push(rel);
        }
    }
    Ok(())
}

/// Upstream's JUnit file rule: the object name ends in `.xml` and contains `/junit`.
pub fn is_junit(rel: &str) -> bool {
    rel.ends_with(".xml") && format!("/{rel}").contains("/junit")
}

/// How side-car files are matched (B13).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SidecarMatch {
    /// Upstream: `/<prefix>[^/]*` anywhere in the path (a directory named so matches too).
    Path,
    /// The file's base name starts with the prefix.
    BaseName,
}

/// The run's files whose path matches a side-car `prefix` (`backend-disruption`, ...).
pub fn sidecars<'a>(run: &'a FoundRun, prefix: &str, how: SidecarMatch) -> Vec<&'a str> {
    run.files
        .iter()
        .filter(|rel| match how {
            SidecarMatch::Path => format!("/{rel}").contains(&format!("/{prefix}")),
            SidecarMatch::BaseName => rel
                .rsplit('/')
                .next()
                .is_some_and(|base| base.starts_with(prefix)),
        })
        .map(String::as_str)
        .collect()
}

/// A JUnit file left out of the aggregation, and why.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DroppedFile {
    /// Run ID.
    pub run: String,
    /// The file, relative to the run.
    pub file: String,
    /// Why.
    pub reason: String,
}

/// Reads the JUnit files of `run` (sorted by path) and adds them to `combined` as run `index`.
/// Empty files are skipped. With `drop_bad_numbers` (upstream, B10) a file whose `time` does
/// not parse as a number is dropped whole; otherwise it is kept (the attribute is ignored) and
/// reported. Unreadable files are always dropped and reported.
pub fn add_junit(
    run: &FoundRun,
    index: u32,
    combined: &mut Combined,
    rule: EntryRule,
    drop_bad_numbers: bool,
    dropped: &mut Vec<DroppedFile>,
) {
    let limits = Limits::default();
    for rel in run.files.iter().filter(|f| is_junit(f)) {
        let path = run.dir.join(rel);
        let Ok(bytes) = flakewatch_core::bounded::read(&path, flakewatch_core::bounded::DATA_LIMIT)
        else {
            dropped.push(DroppedFile {
                run: run.id.clone(),
                file: rel.clone(),
                reason: "cannot read".into(),
            });
            continue;
        };
        if bytes.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let source = path.display().to_string();
        match ingest::read_bytes(
            &bytes,
            &source,
            Some(Format::Junit),
            RunMeta::default(),
            &limits,
        ) {
            Ok(file) => {
                let bad_time = file.warnings.iter().find_map(|w| match &w.kind {
                    WarningKind::BadNumber { attribute, value } if *attribute == "time" => {
                        Some(value.clone())
                    }
                    _ => None,
                });
                if let Some(value) = bad_time {
                    dropped.push(DroppedFile {
                        run: run.id.clone(),
                        file: rel.clone(),
                        reason: format!(
                            "time={value:?} is not a number{}",
                            if drop_bad_numbers {
                                ""
                            } else {
                                " (attribute ignored, file kept)"
                            }
                        ),
                    });
                    if drop_bad_numbers {
                        continue;
                    }
                }
                combined.add_file(&file, index, rule);
            }
            Err(err) => dropped.push(DroppedFile {
                run: run.id.clone(),
                file: rel.clone(),
                reason: err.to_string(),
            }),
        }
    }
}

/// Seconds of disruption per backend in one run: `ceil(DisruptedDuration)` summed over every
/// `backend-disruption*` file (the phases add up). `Ok(None)` when the run has no such file.
pub fn read_disruption(
    run: &FoundRun,
    how: SidecarMatch,
) -> Result<Option<BTreeMap<String, i64>>, String> {
    let files = sidecars(run, "backend-disruption", how);
    let mut any = false;
    let mut out: BTreeMap<String, i64> = BTreeMap::new();
    for rel in files {
        if !rel.ends_with(".json") {
            continue;
        }
        let path = run.dir.join(rel);
        let bytes = flakewatch_core::bounded::read(&path, flakewatch_core::bounded::DATA_LIMIT)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let json: Json = serde_json::from_slice(&bytes)
            .map_err(|e| format!("{}: invalid JSON: {e}", path.display()))?;
        let Some(map) = json["BackendDisruptions"].as_object() else {
            continue;
        };
        any = true;
        for (name, d) in map {
            let ns = d["DisruptedDuration"]
                .as_str()
                .and_then(godur::parse)
                .unwrap_or(0);
            let secs = (ns as f64 / 1e9).ceil() as i64;
            *out.entry(name.clone()).or_default() += secs;
        }
    }
    Ok(any.then_some(out))
}

/// The run's `MasterNodesUpdated` from its `cluster-data*` files: a file saying Y (any case)
/// wins, else the first non-empty value.
pub fn master_nodes_updated(run: &FoundRun, how: SidecarMatch) -> Option<String> {
    let values: Vec<String> = sidecars(run, "cluster-data", how)
        .into_iter()
        .filter(|rel| rel.ends_with(".json"))
        .filter_map(|rel| read_json(&run.dir.join(rel)))
        .filter_map(|j| j["MasterNodesUpdated"].as_str().map(str::to_owned))
        .filter(|s| !s.is_empty())
        .collect();
    values
        .iter()
        .find(|v| v.eq_ignore_ascii_case("Y"))
        .or(values.first())
        .cloned()
}

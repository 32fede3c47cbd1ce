//! The `BackendDisruption` suite: which backends, their history, the P70/P85 checks with
//! grace seconds and the mean-plus-five-sigma check with its mulligan, and the testcases
//! upstream writes for them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::error::AggregateError;
use super::stats::{RequiredPasses, with_pity};
use super::verdict::CheckStatus;
use flakewatch_core::time::Timestamp;

/// The backends every job must report, exactly as upstream's `RequiredDisruptionTests` names
/// them: two carry its typo `-used-connections`, so they never match a real backend and are
/// always reported as having no history (compat).
pub const REQUIRED_BACKENDS: [&str; 12] = [
    "image-registry-reused-connections",
    "ingress-to-console-new-connections",
    "ingress-to-console-used-connections",
    "ingress-to-oauth-server-new-connections",
    "ingress-to-oauth-server-used-connections",
    "kube-api-new-connections",
    "kube-api-reused-connections",
    "oauth-api-new-connections",
    "oauth-api-reused-connections",
    "openshift-api-new-connections",
    "openshift-api-reused-connections",
    "service-load-balancer-with-pdb-reused-connections",
];

/// Backend name fragments that are never checked.
pub const EXCLUDED_FRAGMENTS: [&str; 8] = [
    "-network-liveness",
    "kube-api-http1-external-lb",
    "kube-api-http2-external-lb",
    "openshift-api-http2-external-lb",
    "host-to-",
    "pod-to-",
    "-localhost-",
    "-internal-lb-",
];

/// Historical statistics of one backend: `P1..P99`, mean and standard deviation.
#[derive(Clone, Debug, PartialEq)]
pub struct BackendStats {
    /// `percentiles[p]` for `p` in `1..=99` (index 0 unused).
    pub percentiles: [f64; 100],
    /// Mean seconds.
    pub mean: f64,
    /// Standard deviation (sample) of the seconds.
    pub std_dev: f64,
}

/// One raw `BackendDisruption` table row (the files backend computes the statistics).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DisruptionRow {
    /// The backend.
    pub backend_name: String,
    /// Whole seconds of disruption in the run.
    pub disruption_seconds: i64,
    /// The job.
    #[serde(default)]
    pub job_name: String,
    /// The run ID.
    #[serde(default)]
    pub job_run_name: String,
    /// RFC 3339 start time of the run.
    #[serde(default)]
    pub job_run_start_time: String,
    /// `Y` or `N`.
    #[serde(default)]
    pub master_nodes_updated: String,
}

/// Historical disruption for one job, by backend.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DisruptionHistory {
    /// Statistics by backend.
    pub backends: BTreeMap<String, BackendStats>,
    /// The job whose history was used instead of this one's (previous release fallback).
    pub fallback_job: Option<String>,
}

/// `PERCENTILE_CONT`: linear interpolation between the closest ranks of sorted values.
pub fn percentile_cont(sorted: &[f64], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let pos = fraction * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Statistics of one backend from its samples.
pub fn stats_of(samples: &[f64]) -> BackendStats {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mut percentiles = [0.0; 100];
    for (p, slot) in percentiles.iter_mut().enumerate().skip(1) {
        *slot = percentile_cont(&sorted, p as f64 / 100.0);
    }
    let n = samples.len() as f64;
    let mean = if samples.is_empty() {
        0.0
    } else {
        samples.iter().sum::<f64>() / n
    };
    let std_dev = if samples.len() < 2 {
        0.0
    } else {
        (samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt()
    };
    BackendStats {
        percentiles,
        mean,
        std_dev,
    }
}

/// The history window of the disruption query: runs started between `now − 10 d` and
/// `now − 3 d`, optionally with the given `MasterNodesUpdated`.
pub fn history_from_rows(
    rows: &[DisruptionRow],
    job: &str,
    now: Timestamp,
    master_nodes_updated: Option<&str>,
) -> BTreeMap<String, BackendStats> {
    let (from, to) = (
        now.unix_seconds() - 10 * 86_400,
        now.unix_seconds() - 3 * 86_400,
    );
    let mut samples: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for row in rows {
        if row.job_name != job {
            continue;
        }
        if let Some(m) = master_nodes_updated
            && row.master_nodes_updated != m
        {
            continue;
        }
        let Ok(start) = Timestamp::parse_rfc3339(&row.job_run_start_time) else {
            continue;
        };
        if start.unix_seconds() < from || start.unix_seconds() > to {
            continue;
        }
        samples
            .entry(&row.backend_name)
            .or_default()
            .push(row.disruption_seconds as f64);
    }
    samples
        .into_iter()
        .map(|(name, s)| (name.to_owned(), stats_of(&s)))
        .collect()
}

/// Distinct runs of `job` older than three days (the fallback decision counts these).
pub fn runs_older_than_three_days(rows: &[DisruptionRow], job: &str, now: Timestamp) -> usize {
    let to = now.unix_seconds() - 3 * 86_400;
    rows.iter()
        .filter(|r| r.job_name == job)
        .filter(|r| {
            Timestamp::parse_rfc3339(&r.job_run_start_time).is_ok_and(|t| t.unix_seconds() < to)
        })
        .map(|r| r.job_run_name.as_str())
        .collect::<BTreeSet<_>>()
        .len()
}

/// Reads a disruption history file: either raw `BackendDisruption` rows (with
/// `DisruptionSeconds`) or precomputed statistics rows (`BackendName`, `Mean`,
/// `StandardDeviation`, `P1`..`P99`).
pub fn read_history_file(path: &Path) -> Result<HistoryFile, AggregateError> {
    let json: Json = super::error::read_json(path)?;
    let rows = json.as_array().cloned().unwrap_or_default();
    if rows.iter().any(|r| r.get("DisruptionSeconds").is_some()) {
        let raw: Vec<DisruptionRow> =
            serde_json::from_value(Json::Array(rows)).map_err(|source| AggregateError::Json {
                path: path.display().to_string(),
                source,
            })?;
        return Ok(HistoryFile::Raw(raw));
    }
    let mut stats = BTreeMap::new();
    for row in rows {
        let Some(name) = row["BackendName"].as_str() else {
            continue;
        };
        let num = |k: &str| row[k].as_f64().unwrap_or(0.0);
        let mut percentiles = [0.0; 100];
        for (p, slot) in percentiles.iter_mut().enumerate().skip(1) {
            *slot = num(&format!("P{p}"));
        }
        stats.insert(
            name.to_owned(),
            BackendStats {
                percentiles,
                mean: num("Mean"),
                std_dev: num("StandardDeviation"),
            },
        );
    }
    Ok(HistoryFile::Stats(stats))
}

/// The content of a disruption history file.
#[derive(Clone, Debug, PartialEq)]
pub enum HistoryFile {
    /// Raw rows: statistics are computed per job and window.
    Raw(Vec<DisruptionRow>),
    /// Statistics already computed for the job.
    Stats(BTreeMap<String, BackendStats>),
}

/// The outcome of one disruption check.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CheckResult {
    /// Passed, failed or skipped.
    pub status: CheckStatus,
    /// Upstream's message.
    pub message: String,
    /// Runs that failed the check (every run when skipped), sorted.
    pub failures: Vec<String>,
    /// Runs that passed it, sorted.
    pub successes: Vec<String>,
    /// The required passes of the deciding evaluation (percentile checks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required: Option<i64>,
}

/// Formats like Go's `%v` of a `[]string`.
fn go_list(items: &[String]) -> String {
    format!("[{}]", items.join(" "))
}

/// Runs split at a threshold: over it fail, the rest pass; with upstream's `id=Ns` texts.
struct Split {
    failures: Vec<String>,
    successes: Vec<String>,
    failure_runs: Vec<String>,
    success_runs: Vec<String>,
}

fn split(runs: &[(String, i64)], threshold: f64) -> Split {
    let mut s = Split {
        failures: Vec::new(),
        successes: Vec::new(),
        failure_runs: Vec::new(),
        success_runs: Vec::new(),
    };
    for (id, secs) in runs {
        if *secs as f64 > threshold {
            s.failures.push(id.clone());
            s.failure_runs.push(format!("{id}={secs}s"));
        } else {
            s.successes.push(id.clone());
            s.success_runs.push(format!("{id}={secs}s"));
        }
    }
    s
}

/// Parameters of the percentile checks.
#[derive(Clone, Debug)]
pub struct PercentilePolicy {
    /// The required-passes lookup.
    pub required: RequiredPasses,
    /// Failures forgiven by the pity factor.
    pub pity_allowance: u32,
}

/// One evaluation of a percentile check at `threshold` (upstream
/// `innerCheckPercentileDisruptionWithGrace`). `runs` are `(run ID, seconds)` sorted by ID.
pub fn inner_percentile(
    policy: &PercentilePolicy,
    runs: &[(String, i64)],
    threshold: f64,
    percentile: u32,
    grace: u32,
) -> CheckResult {
    let Split {
        failures,
        successes,
        failure_runs,
        success_runs,
    } = split(runs, threshold);
    let attempts = runs.len() as u32;
    let passes = successes.len() as i64;
    let failed = failures.len();
    let strict = policy.required.strict(attempts, percentile);
    let pitied = with_pity(strict, attempts, policy.pity_allowance);
    let pity_applied = pitied < strict;
    let required = if pity_applied {
        i64::from(pitied)
    } else {
        i64::from(pitied) - 1
    };
    let result = |status, message| CheckResult {
        status,
        message,
        failures: failures.clone(),
        successes: successes.clone(),
        required: Some(required),
    };
    if required <= 0 {
        let mut all: Vec<String> = runs.iter().map(|(id, _)| id.clone()).collect();
        all.sort();
        return CheckResult {
            status: CheckStatus::Skipped,
            message: format!(
                "Current percentile is so low that we cannot latch, skipping (P{percentile}={threshold:.2}s successes={} failures={})",
                go_list(&success_runs),
                go_list(&failure_runs)
            ),
            failures: all,
            successes: successes.clone(),
            required: Some(required),
        };
    }
    if passes == 0 {
        return result(
            CheckStatus::Failed,
            format!(
                "Zero successful runs, we require at least one success to pass  (P{percentile}={threshold:.2}s failures={})",
                go_list(&failure_runs)
            ),
        );
    }
    if attempts < 3 {
        return result(
            CheckStatus::Failed,
            format!(
                "We require at least three attempts to pass  (P{percentile}={threshold:.2}s successes={} failures={})",
                go_list(&success_runs),
                go_list(&failure_runs)
            ),
        );
    }
    let grace_added = if grace > 0 {
        format!("(grace={grace}) ")
    } else {
        String::new()
    };
    let (word, status) = if passes < required {
        ("Failed", CheckStatus::Failed)
    } else {
        ("Passed", CheckStatus::Passed)
    };
    let pity_note = if status == CheckStatus::Passed && pity_applied && passes < i64::from(strict) {
        format!(
            " (strict required number of passes is {strict} but {} failures are allowed as pity factor)",
            policy.pity_allowance
        )
    } else {
        String::new()
    };
    result(
        status,
        format!(
            "{word}: Passed {passes} times, failed {failed} times.  (P{percentile}={threshold:.2}s {grace_added}requiredPasses={required}{pity_note} successes={} failures={})",
            go_list(&success_runs),
            go_list(&failure_runs)
        ),
    )
}

/// The percentile check: first without grace; if that misses the requirement, again with
/// `historical + grace`, and that result is final.
pub fn check_percentile(
    policy: &PercentilePolicy,
    runs: &[(String, i64)],
    stats: &BackendStats,
    percentile: u32,
    grace: u32,
) -> CheckResult {
    let historical = stats.percentiles[percentile.clamp(1, 99) as usize];
    let first = inner_percentile(policy, runs, historical, percentile, 0);
    if first.successes.len() as i64 >= first.required.unwrap_or(0) {
        return first;
    }
    inner_percentile(
        policy,
        runs,
        historical + f64::from(grace),
        percentile,
        grace,
    )
}

/// The mean check: threshold `max(1, mean + 5σ)`; the worst run is dropped once if it exceeds
/// the historical P95 (the mulligan); fails when the remaining mean exceeds the threshold.
pub fn check_mean(
    runs: &[(String, i64)],
    stats: &BackendStats,
    backend: &str,
    prefix: &str,
) -> CheckResult {
    let threshold = (stats.mean + 5.0 * stats.std_dev).max(1.0);
    let p95 = stats.percentiles[95];
    let mut total_runs = runs.len() as i64;
    let mut total: i64 = runs.iter().map(|(_, s)| *s).sum();
    let max = runs.iter().map(|(_, s)| *s).max().unwrap_or(0).max(0);
    let Split {
        failures,
        successes,
        failure_runs,
        success_runs,
    } = split(runs, threshold);
    if max as f64 > p95 {
        total_runs -= 1;
        total -= max;
    }
    let mean = total as f64 / total_runs as f64;
    let historical = format!(
        "historicalMean={:.2}s standardDeviation={:.2}s failureThreshold={threshold:.2}s historicalP95={p95:.2}s successes={} failures={}",
        stats.mean,
        stats.std_dev,
        go_list(&success_runs),
        go_list(&failure_runs)
    );
    let (status, message) = if mean > threshold {
        (
            CheckStatus::Failed,
            format!(
                "{prefix}\nFailed: Mean disruption of {backend} is {mean:.2} seconds is more than the failureThreshold of the weekly historical mean from 10 days ago: {historical}"
            ),
        )
    } else {
        (
            CheckStatus::Passed,
            format!(
                "{prefix}\nPassed: Mean disruption of {backend} is {mean:.2} seconds is less than failureThreshold of the weekly historical mean from 10 days ago: {historical}"
            ),
        )
    };
    CheckResult {
        status,
        message,
        failures,
        successes,
        required: None,
    }
}

/// The checked backends: the required ones plus every one seen, minus the excluded fragments.
pub fn backends(
    seen: impl IntoIterator<Item = String>,
    required: &[String],
    excluded: &[String],
) -> Vec<String> {
    let mut all: BTreeSet<String> = required.iter().cloned().collect();
    all.extend(seen);
    all.into_iter()
        .filter(|b| !excluded.iter().any(|f| b.contains(f.as_str())))
        .collect()
}

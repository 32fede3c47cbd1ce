//! Historical pass rates per test: rows shaped like BigQuery's `TestRuns_Summary_Last200Runs`,
//! read from a JSON file or computed from stored runs by the view chain upstream used (last N
//! runs within D days per job, one result per run and test, sums and percentages).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::combine::{Combined, EntryKind};
use super::error::AggregateError;
use flakewatch_core::time::Timestamp;

/// One row of `TestRuns_Summary_Last200Runs`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HistoryRow {
    /// The test name.
    pub test_name: String,
    /// The suite path joined with `|||` (nullable upstream: read as `""`).
    #[serde(default, deserialize_with = "null_as_empty")]
    pub test_suite_name: String,
    /// The job.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub job_name: String,
    /// Runs where the test passed.
    #[serde(default)]
    pub pass_count: u64,
    /// Runs where it failed.
    #[serde(default)]
    pub fail_count: u64,
    /// Runs where it failed and passed.
    #[serde(default)]
    pub flake_count: u64,
    /// `pass / (pass + fail + flake) · 100`.
    #[serde(default)]
    pub pass_percentage: f64,
    /// `(pass + flake) / (pass + fail + flake) · 100`.
    #[serde(default)]
    pub working_percentage: f64,
    /// Start of the window the row covers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregation_start_date: Option<String>,
    /// Cluster most runs ran on.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub dominant_cluster: String,
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// Reads history rows from a JSON array file.
pub fn read_rows(path: &Path) -> Result<Vec<HistoryRow>, AggregateError> {
    super::error::read_json(path)
}

/// History of one job, indexed by (suite path, test name).
#[derive(Clone, Debug, Default)]
pub struct HistoryIndex {
    rows: HashMap<(String, String), HistoryRow>,
}

impl HistoryIndex {
    /// Indexes the rows of `job` (rows with an empty `JobName` count for every job). A later
    /// row with the same key wins, as upstream's map does.
    pub fn new(rows: Vec<HistoryRow>, job: &str) -> HistoryIndex {
        let mut map = HashMap::with_capacity(rows.len());
        for row in rows {
            if !row.job_name.is_empty() && row.job_name != job {
                continue;
            }
            map.insert((row.test_suite_name.clone(), row.test_name.clone()), row);
        }
        HistoryIndex { rows: map }
    }

    /// The row of a test.
    pub fn get(&self, suite: &str, name: &str) -> Option<&HistoryRow> {
        self.rows.get(&(suite.to_owned(), name.to_owned()))
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// One stored run of a job, for computing history.
#[derive(Clone, Debug)]
pub struct StoredRun {
    /// Run ID (Prow build ID; sorts in time order).
    pub id: String,
    /// When it started.
    pub start: Option<Timestamp>,
}

/// The view chain's window: the last `max_runs` runs (by run ID, descending) that started
/// within `max_days` days before `now`.
pub fn select_window(
    runs: &[StoredRun],
    now: Timestamp,
    max_runs: usize,
    max_days: u32,
) -> Vec<usize> {
    let oldest = now.unix_seconds() - i64::from(max_days) * 86_400;
    let mut picked: Vec<usize> = (0..runs.len())
        .filter(|&i| {
            runs[i]
                .start
                .is_some_and(|t| t.unix_seconds() >= oldest && t <= now)
        })
        .collect();
    picked.sort_by(|&a, &b| run_id_order(&runs[b].id, &runs[a].id));
    picked.truncate(max_runs);
    picked
}

/// Orders run IDs numerically when both are numbers, else as strings.
fn run_id_order(a: &str, b: &str) -> std::cmp::Ordering {
    match (a.parse::<u128>(), b.parse::<u128>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => a.cmp(b),
    }
}

/// Computes `TestRuns_Summary_Last200Runs` rows for `job` from stored runs already combined
/// (entry run indices are positions in the window): one result per (run, suite, test) —
/// flaked (a pass and a failure), passed, or failed — then sums and percentages. Skips do not
/// count.
pub fn summarize(combined: &Combined, job: &str) -> Vec<HistoryRow> {
    let mut out = Vec::new();
    combined.walk(|path, test| {
        let mut per_run: BTreeMap<u32, (bool, bool)> = BTreeMap::new();
        for e in &test.entries {
            let slot = per_run.entry(e.run).or_default();
            match e.kind {
                EntryKind::Pass => slot.0 = true,
                EntryKind::Failure => slot.1 = true,
                EntryKind::Skip => {}
            }
        }
        let (mut pass, mut fail, mut flake) = (0u64, 0u64, 0u64);
        for (passed, failed) in per_run.values() {
            match (passed, failed) {
                (true, true) => flake += 1,
                (true, false) => pass += 1,
                (false, true) => fail += 1,
                (false, false) => {}
            }
        }
        if let Some(row) = row_from_counts(path, &test.name, job, pass, fail, flake) {
            out.push(row);
        }
    });
    out
}

/// The history row of a test from its per-run counts, with the view's percentages; `None`
/// when no run counted.
pub fn row_from_counts<S: std::borrow::Borrow<str>>(
    suite: &[S],
    name: &str,
    job: &str,
    pass: u64,
    fail: u64,
    flake: u64,
) -> Option<HistoryRow> {
    let total = pass + fail + flake;
    if total == 0 {
        return None;
    }
    Some(HistoryRow {
        test_name: name.to_owned(),
        test_suite_name: suite.join(super::combine::SUITE_SEPARATOR),
        job_name: job.to_owned(),
        pass_count: pass,
        fail_count: fail,
        flake_count: flake,
        pass_percentage: pass as f64 / total as f64 * 100.0,
        working_percentage: (pass + flake) as f64 / total as f64 * 100.0,
        aggregation_start_date: None,
        dominant_cluster: String::new(),
    })
}

#[cfg(test)]
mod float_tests {
    use super::*;

    /// A working percentage just under 98 stays under 98: with serde_json's default float
    /// parsing it read as 98.0 and changed verdicts at the boundary.
    #[test]
    fn percentages_read_exactly() {
        let row: HistoryRow = serde_json::from_str(
            r#"{"TestName":"t","TestSuiteName":"s","JobName":"j","PassCount":1,"FailCount":0,
                "FlakeCount":0,"PassPercentage":97.99999999999999,"WorkingPercentage":97.99999999999999}"#,
        )
        .expect("row");
        assert_eq!(row.working_percentage, 97.999_999_999_999_99);
        assert!(row.working_percentage < 98.0);
    }
}

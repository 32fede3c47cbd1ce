//! `analyze-historical-data --data-type tests`: test pass-rate rows in upstream's shape
//! (`GenericTestSummaryByPeriodRow`: per release and test, runs, failures and flakes over the
//! last 30 days). Upstream writes the refreshed rows as they are; flakewatch also compares
//! them with the current rows (pass rates that fell or rose by more than the leeway, tests
//! added and removed).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize, Serializer};

use crate::analyze_historical::go_html_escape;
use crate::error::AggregateError;

/// The suite upstream summarizes.
pub const SUITE: &str = "openshift-tests";
/// Days of history upstream's query covers.
pub const DAYS_BACK: u32 = 30;
/// Upstream's query keeps tests with more than this many executions.
pub const MIN_TEST_COUNT: i64 = 100;
/// The output is replaced only when at least one test has this many days of data.
pub const MIN_DAYS_WITH_DATA: i64 = 10;

/// One row (`GenericTestSummaryByPeriodRow`), in upstream's field order; dates as
/// `YYYY-MM-DD` (Go's `civil.Date`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TestSummaryRow {
    /// The release (`4.16`).
    pub release: String,
    /// The test.
    pub test_name: String,
    /// Executions in the period.
    pub total_test_count: i64,
    /// Failed executions.
    pub total_failure_count: i64,
    /// Flaked executions.
    pub total_flake_count: i64,
    /// The failure rate the query computed (kept as it is).
    #[serde(serialize_with = "go_float")]
    pub failure_rate: f64,
    /// Mean duration, milliseconds.
    #[serde(serialize_with = "go_float")]
    pub avg_duration_ms: f64,
    /// First day of the period.
    pub period_start: String,
    /// Last day of the period.
    pub period_end: String,
    /// Days with at least one execution.
    pub days_with_data: i64,
}

impl TestSummaryRow {
    /// The pass rate in percent: executions that did not fail over all executions (`None`
    /// without executions).
    pub fn pass_rate(&self) -> Option<f64> {
        (self.total_test_count > 0).then(|| {
            (self.total_test_count - self.total_failure_count) as f64 / self.total_test_count as f64
                * 100.0
        })
    }
}

/// Go's `encoding/json` writes a whole float without a fraction (`12`, not `12.0`).
fn go_float<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        s.serialize_i64(*v as i64)
    } else {
        s.serialize_f64(*v)
    }
}

/// Reads rows from JSON text (`source` names the file in errors).
pub fn parse_rows(text: &str, source: &str) -> Result<Vec<TestSummaryRow>, AggregateError> {
    serde_json::from_str(text).map_err(|e| AggregateError::Json {
        path: source.to_owned(),
        source: e,
    })
}

/// A test whose pass rate moved by more than the leeway.
#[derive(Clone, Debug, PartialEq)]
pub struct RateChange {
    /// The test.
    pub test_name: String,
    /// Its executions in the new rows.
    pub runs: i64,
    /// The current pass rate, percent.
    pub old_rate: f64,
    /// The new pass rate, percent.
    pub new_rate: f64,
}

/// The refreshed rows and how they compare with the current ones.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TestsAnalysis {
    /// The rows written: the target release's tests with more than [`MIN_TEST_COUNT`]
    /// executions, by release, failures (most first), name.
    pub rows: Vec<TestSummaryRow>,
    /// New rows left out (another release, or too few executions).
    pub dropped: usize,
    /// Whether any row has [`MIN_DAYS_WITH_DATA`] days of data (else the output is kept).
    pub enough_days: bool,
    /// Pass rates that fell by more than the leeway (percentage points), biggest fall first.
    pub decreased: Vec<RateChange>,
    /// Pass rates that rose by more than the leeway.
    pub increased: Vec<RateChange>,
    /// Tests only in the new rows.
    pub added: Vec<String>,
    /// Tests of the target release only in the current rows.
    pub removed: Vec<String>,
}

/// Filters and sorts the new rows as upstream's query and output do, and compares them with
/// `current` (rows of the target release, by test name): a pass rate that changed by more
/// than `leeway` percentage points is listed.
pub fn analyze(
    current: &[TestSummaryRow],
    new: &[TestSummaryRow],
    target_release: &str,
    leeway: f64,
) -> Result<TestsAnalysis, AggregateError> {
    let mut rows: Vec<TestSummaryRow> = new
        .iter()
        .filter(|r| r.release == target_release && r.total_test_count > MIN_TEST_COUNT)
        .cloned()
        .collect();
    if rows.is_empty() {
        return Err(AggregateError::EmptyData(format!(
            "no test data found for suite {SUITE}, release {target_release}"
        )));
    }
    let dropped = new.len() - rows.len();
    rows.sort_by(|a, b| {
        a.release
            .cmp(&b.release)
            .then(b.total_failure_count.cmp(&a.total_failure_count))
            .then(a.test_name.cmp(&b.test_name))
    });
    let enough_days = rows.iter().any(|r| r.days_with_data >= MIN_DAYS_WITH_DATA);
    let old: BTreeMap<&str, &TestSummaryRow> = current
        .iter()
        .filter(|r| r.release == target_release)
        .map(|r| (r.test_name.as_str(), r))
        .collect();
    let mut analysis = TestsAnalysis {
        dropped,
        enough_days,
        ..TestsAnalysis::default()
    };
    for row in &rows {
        let Some(before) = old.get(row.test_name.as_str()) else {
            analysis.added.push(row.test_name.clone());
            continue;
        };
        let (Some(old_rate), Some(new_rate)) = (before.pass_rate(), row.pass_rate()) else {
            continue;
        };
        let change = RateChange {
            test_name: row.test_name.clone(),
            runs: row.total_test_count,
            old_rate,
            new_rate,
        };
        if old_rate - new_rate > leeway {
            analysis.decreased.push(change);
        } else if new_rate - old_rate > leeway {
            analysis.increased.push(change);
        }
    }
    let fall = |c: &RateChange| c.old_rate - c.new_rate;
    analysis.decreased.sort_by(|a, b| {
        fall(b)
            .total_cmp(&fall(a))
            .then(a.test_name.cmp(&b.test_name))
    });
    analysis.increased.sort_by(|a, b| {
        fall(a)
            .total_cmp(&fall(b))
            .then(a.test_name.cmp(&b.test_name))
    });
    let kept: std::collections::HashSet<&str> = rows.iter().map(|r| r.test_name.as_str()).collect();
    analysis.removed = old
        .keys()
        .filter(|name| !kept.contains(*name))
        .map(|name| (*name).to_owned())
        .collect();
    analysis.rows = rows;
    Ok(analysis)
}

/// The output file: the rows as Go's `json.MarshalIndent(rows, "", "  ")` writes them.
pub fn results_json(analysis: &TestsAnalysis) -> String {
    let text = serde_json::to_string_pretty(&analysis.rows).unwrap_or_default();
    go_html_escape(&text)
}

/// The comparison for `pr_message.md` (flakewatch's; upstream writes none for tests).
pub fn pr_message(analysis: &TestsAnalysis, leeway: f64) -> String {
    use std::fmt::Write as _;
    let mut out = String::from("## tests Information\n\n");
    let _ = writeln!(
        out,
        "There were (`{}`) added tests and (`{}`) were removed.\n",
        analysis.added.len(),
        analysis.removed.len()
    );
    let _ = writeln!(
        out,
        "Pass rates that fell by more than {leeway:.2} points: ({}); rose: ({}).\n",
        analysis.decreased.len(),
        analysis.increased.len()
    );
    if !analysis.decreased.is_empty() {
        out.push_str("| Test | Runs | Pass % before | Pass % now | Change |\n");
        out.push_str("| ---- | ---- | ------------- | ---------- | ------ |\n");
        for c in &analysis.decreased {
            let _ = writeln!(
                out,
                "| {} | {} | {:.2}% | {:.2}% | {:.2} |",
                c.test_name.replace('|', "\\|"),
                c.runs,
                c.old_rate,
                c.new_rate,
                c.new_rate - c.old_rate
            );
        }
        out.push('\n');
    }
    out
}

/// The `require_review` line when pass rates fell (empty otherwise).
pub fn require_review(analysis: &TestsAnalysis, leeway: f64) -> String {
    if analysis.decreased.is_empty() {
        return String::new();
    }
    format!(
        "(tests) had ({}) results with pass rates decreased beyond specified leeway of {leeway:.2}%\n",
        analysis.decreased.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(release: &str, name: &str, runs: i64, failures: i64, days: i64) -> TestSummaryRow {
        TestSummaryRow {
            release: release.into(),
            test_name: name.into(),
            total_test_count: runs,
            total_failure_count: failures,
            total_flake_count: 0,
            failure_rate: failures as f64 / runs as f64,
            avg_duration_ms: 1500.0,
            period_start: "2024-02-01".into(),
            period_end: "2024-03-01".into(),
            days_with_data: days,
        }
    }

    /// Worked by hand, leeway 5 points:
    /// * a: 200 runs, 2 → 30 failures: 99 % → 85 %, fell 14 points → decreased;
    /// * b: 200 runs, 20 → 18 failures: 90 % → 91 %, rose 1 point → unchanged;
    /// * c: 150 runs, 30 → 0 failures: 80 % → 100 %, rose 20 points → increased;
    /// * d: only new → added; e: only current → removed;
    /// * f: 100 runs (not more than 100) and g (release 4.15) are dropped.
    #[test]
    fn rows_are_filtered_sorted_and_compared() {
        let current = vec![
            row("4.16", "a", 200, 2, 30),
            row("4.16", "b", 200, 20, 30),
            row("4.16", "c", 150, 30, 30),
            row("4.16", "e", 300, 0, 30),
            row("4.15", "x", 300, 0, 30),
        ];
        let new = vec![
            row("4.16", "a", 200, 30, 30),
            row("4.16", "b", 200, 18, 30),
            row("4.16", "c", 150, 0, 30),
            row("4.16", "d", 101, 1, 3),
            row("4.16", "f", 100, 50, 30),
            row("4.15", "g", 500, 5, 30),
        ];
        let a = analyze(&current, &new, "4.16", 5.0).unwrap();
        let names: Vec<&str> = a.rows.iter().map(|r| r.test_name.as_str()).collect();
        // By failures, most first: a 30, b 18, d 1, c 0.
        assert_eq!(names, ["a", "b", "d", "c"]);
        assert_eq!(a.dropped, 2);
        assert!(a.enough_days);
        assert_eq!(a.decreased.len(), 1);
        assert_eq!(a.decreased[0].test_name, "a");
        assert_eq!(
            (a.decreased[0].old_rate, a.decreased[0].new_rate),
            (99.0, 85.0)
        );
        assert_eq!(a.increased.len(), 1);
        assert_eq!(a.increased[0].test_name, "c");
        assert_eq!(a.added, ["d"]);
        assert_eq!(a.removed, ["e"]);
        assert_eq!(
            require_review(&a, 5.0),
            "(tests) had (1) results with pass rates decreased beyond specified leeway of 5.00%\n"
        );
        assert!(pr_message(&a, 5.0).contains("| a | 200 | 99.00% | 85.00% | -14.00 |"));
        let json = results_json(&a);
        assert!(json.starts_with("[\n  {\n    \"Release\": \"4.16\",\n    \"TestName\": \"a\","));
        assert!(json.contains("\"AvgDurationMs\": 1500,"), "{json}");
        assert!(json.contains("\"FailureRate\": 0.15,"), "{json}");
    }

    #[test]
    fn no_row_of_the_release_is_upstreams_error() {
        let err = analyze(&[], &[row("4.15", "a", 200, 0, 30)], "4.16", 0.0).unwrap_err();
        assert_eq!(
            err.to_string(),
            "no test data found for suite openshift-tests, release 4.16"
        );
        let a = analyze(&[], &[row("4.16", "a", 200, 0, 9)], "4.16", 0.0).unwrap();
        assert!(!a.enough_days);
    }
}

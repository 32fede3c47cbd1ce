//! The job-run-aggregator fixtures (`testdata/jra`, copied from `shared/jra_fixtures`):
//! upstream's table and unit-test vectors in compat mode, the analyzer scenarios upstream's Go
//! tests build and the synthetic aggregation, through the library (the CLI's tests run the
//! real binary on them).

use std::fs;
use std::path::{Path, PathBuf};

use flakewatch_aggregate::combine::RunCounts;
use flakewatch_aggregate::disruption::{BackendStats, PercentilePolicy, inner_percentile};
use flakewatch_aggregate::runs::Selection;
use flakewatch_aggregate::stats::{
    FisherParams, RequiredPasses, TableSource, compat_table, fisher_required,
};
use flakewatch_aggregate::verdict::{CheckStatus, History, Policy};
use flakewatch_aggregate::{
    AggregateError, HistoryInput, Mode, Outcome, Request, Settings, aggregate,
};
use flakewatch_core::time::Timestamp;
use serde_json::Value;

fn jra(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/jra")
        .join(rel)
}

fn json(rel: &str) -> Value {
    serde_json::from_str(&fs::read_to_string(jra(rel)).expect("fixture")).expect("JSON")
}

fn status_of(name: &str) -> CheckStatus {
    match name {
        "passed" => CheckStatus::Passed,
        "failed" => CheckStatus::Failed,
        "skipped" => CheckStatus::Skipped,
        other => panic!("unknown status {other}"),
    }
}

fn policy(mode: Mode, min_attempts: u32) -> Policy {
    let mut s = Settings::profile(mode);
    s.min_attempts = min_attempts;
    Policy::from_settings(&s)
}

/// The report of the test whose name starts with `prefix`.
fn test_named<'a>(
    report: &'a flakewatch_aggregate::Report,
    prefix: &str,
) -> &'a flakewatch_aggregate::pipeline::TestReport {
    report
        .tests
        .iter()
        .find(|t| t.name.starts_with(prefix))
        .unwrap_or_else(|| panic!("{prefix} not aggregated"))
}

fn counts(passes: u32, failures: u32) -> RunCounts {
    RunCounts {
        attempts: passes + failures,
        passes,
        failures,
        flakes: 0,
        skips: 0,
        pass_entries: passes,
        failure_entries: failures,
    }
}

#[test]
fn the_compat_table_is_upstreams() {
    let table = json("derived/required_passes_table.json");
    let rows = table["table"].as_array().expect("table");
    assert_eq!(rows.len(), 13);
    let lookup = RequiredPasses::new(FisherParams::default(), TableSource::Compat);
    for (n, row) in rows.iter().enumerate() {
        let row = row.as_array().expect("row");
        assert_eq!(row.len(), 101);
        for (w, value) in row.iter().enumerate() {
            let expected = value.as_u64().expect("number") as u32;
            assert_eq!(
                compat_table(n as u32, w as u32),
                Some(expected),
                "T[{n}][{w}]"
            );
            assert_eq!(lookup.strict(n as u32, w as u32), expected, "T[{n}][{w}]");
        }
    }
}

#[test]
fn check_failed_vectors_with_the_pity_factor() {
    let vectors = json("derived/pass_fail_test_vectors.json");
    let (_, cases) = vectors
        .as_object()
        .expect("object")
        .iter()
        .find(|(k, _)| k.starts_with("CheckFailed"))
        .expect("CheckFailed vectors");
    let cases = cases.as_array().expect("array");
    assert_eq!(cases.len(), 14);
    // Upstream's unit tests build the analyzer with a minimum of 0 attempts.
    let policy = policy(Mode::Compat, 0);
    for case in cases {
        let p = case["passes"].as_u64().expect("passes") as u32;
        let f = case["failures"].as_u64().expect("failures") as u32;
        let w = case["workingPercentage"].as_f64().expect("w");
        let verdict = policy.check("job", "suite", "test", &counts(p, f), || History::Row(w));
        assert_eq!(
            verdict.status,
            status_of(case["expected"].as_str().expect("expected")),
            "{case}: {}",
            verdict.summary
        );
    }
}

fn runs_of(disruptions: &[i64]) -> Vec<(String, i64)> {
    disruptions
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("run_{i}"), *s))
        .collect()
}

fn flat_stats(value: f64) -> BackendStats {
    let mut percentiles = [value; 100];
    percentiles[0] = 0.0;
    BackendStats {
        percentiles,
        mean: value,
        std_dev: 0.0,
    }
}

#[test]
fn percentile_disruption_vectors() {
    let vectors = json("derived/pass_fail_test_vectors.json");
    let object = vectors.as_object().expect("object");
    let pick = |prefix: &str| {
        object
            .iter()
            .find(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v.as_array().expect("array").clone())
            .expect("vectors")
    };
    let s = Settings::profile(Mode::Compat);
    let policy = PercentilePolicy {
        required: RequiredPasses::new(s.fisher(), s.table_source()),
        pity_allowance: s.pity_allowance,
    };

    let cases = pick("checkPercentileDisruption");
    assert_eq!(cases.len(), 15);
    for case in &cases {
        let disruptions: Vec<i64> = serde_json::from_value(case["disruptions"].clone()).unwrap();
        let runs = runs_of(&disruptions);
        let stats = flat_stats(case["historicalPercentileValue"].as_f64().unwrap());
        let percentile = case["thresholdPercentile"].as_u64().unwrap() as u32;
        let grace = case["graceSeconds"].as_u64().unwrap() as u32;
        let result = flakewatch_aggregate::disruption::check_percentile(
            &policy, &runs, &stats, percentile, grace,
        );
        assert_eq!(
            result.status,
            status_of(case["expectedStatus"].as_str().unwrap()),
            "{case}: {}",
            result.message
        );
        assert_eq!(
            result.failures.len() as u64,
            case["failedCount"].as_u64().unwrap(),
            "{case}"
        );
        assert_eq!(
            result.successes.len() as u64,
            case["successCount"].as_u64().unwrap(),
            "{case}"
        );
    }

    let cases = pick("innerCheckPercentileDisruption");
    assert_eq!(cases.len(), 4);
    for case in &cases {
        let disruptions: Vec<i64> = serde_json::from_value(case["disruptions"].clone()).unwrap();
        let result = inner_percentile(
            &policy,
            &runs_of(&disruptions),
            case["threshold"].as_f64().unwrap(),
            case["percentile"].as_u64().unwrap() as u32,
            0,
        );
        assert_eq!(
            result.status,
            status_of(case["expectedStatus"].as_str().unwrap()),
            "{case}: {}",
            result.message
        );
        assert_eq!(
            result.required,
            case["expectedRequiredPasses"].as_i64(),
            "{case}"
        );
    }
}

/// More than 12 attempts crash upstream; here they take the Fisher rule, in both modes.
#[test]
fn thirteen_twenty_and_fifty_attempts_follow_the_fisher_rule() {
    let params = FisherParams::default();
    for mode in [Mode::Compat, Mode::Improved] {
        let policy = policy(mode, 6);
        for n in [13u32, 20, 50] {
            for w in [50u32, 70, 90, 95, 99, 100] {
                let strict = fisher_required(&params, n, w);
                let required = strict.min(n - 2);
                assert!(required <= n);
                for p in [required.saturating_sub(1), required] {
                    let v = policy.check("j", "s", "t", &counts(p, n - p), || {
                        History::Row(f64::from(w))
                    });
                    assert_eq!(v.strict_required, Some(strict), "n={n} w={w}");
                    assert_eq!(v.required, Some(required), "n={n} w={w}");
                    let expect = if p >= required && p > 0 {
                        CheckStatus::Passed
                    } else {
                        CheckStatus::Failed
                    };
                    assert_eq!(v.status, expect, "n={n} w={w} p={p}: {}", v.summary);
                }
            }
        }
    }
    // Spot values of the rule beyond the table: more runs, stricter requirements.
    assert!(fisher_required(&params, 50, 99) > fisher_required(&params, 20, 99));
    assert!(fisher_required(&params, 20, 99) > fisher_required(&params, 13, 99));
}

const SYNTH_JOB: &str = "periodic-ci-openshift-release-master-ci-4.16-e2e-aws-ovn-upgrade";
const SYNTH_TAG: &str = "4.16.0-0.ci-2024-03-01-000000";

fn synthetic_request(working_dir: Option<PathBuf>) -> Request {
    Request {
        job: SYNTH_JOB.into(),
        selection: Selection::Payload(SYNTH_TAG.into()),
        runs_dir: jra("synthetic/aggregation/runs"),
        run_ids: None,
        gcs_prefix: None,
        label: None,
        history: HistoryInput::Rows(jra(
            "synthetic/aggregation/historical_TestRuns_Summary_Last200Runs.json",
        )),
        disruption_history: None,
        topology: Some("single".into()),
        variants: None,
        now: Timestamp::parse_rfc3339("2024-03-01T12:00:00Z").unwrap(),
        working_dir,
    }
}

#[test]
fn the_synthetic_aggregation_gives_the_expected_verdicts() {
    let expected = json("synthetic/aggregation/expected_results.json");
    let ids: Vec<&str> = expected["inputs"]["jobRunIDs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    // The runs carry no prowjob.json: select them as static run info.
    let mut request = synthetic_request(None);
    request.run_ids = Some(ids.iter().map(|s| (*s).to_owned()).collect());
    request.selection = Selection::All;
    request.label = Some(SYNTH_TAG.into());
    let result = aggregate(&request, &Settings::profile(Mode::Compat)).expect("aggregation");
    let report = &result.report;
    assert_eq!(report.runs.len(), 10);
    for t in expected["tests"].as_array().unwrap() {
        let name = t["name"].as_str().unwrap();
        let got = report
            .tests
            .iter()
            .find(|r| r.name == name)
            .unwrap_or_else(|| panic!("{name} not aggregated"));
        assert_eq!(got.suite, t["suite"].as_str().unwrap(), "{name}");
        assert_eq!(
            got.verdict.summary,
            t["summary"].as_str().unwrap(),
            "{name}"
        );
        assert_eq!(
            got.verdict.status,
            status_of(t["status"].as_str().unwrap()),
            "{name}"
        );
        assert_eq!(got.blocking, t["blocking"].as_bool().unwrap(), "{name}");
        if got.verdict.rule != flakewatch_aggregate::verdict::Rule::AlwaysPass {
            assert_eq!(
                u64::from(got.verdict.passes),
                t["passes"].as_u64().unwrap(),
                "{name}"
            );
            assert_eq!(
                u64::from(got.verdict.skips),
                t["skips"].as_u64().unwrap(),
                "{name}"
            );
        }
    }
    for (suite, count) in expected["suiteFailureCounts"].as_object().unwrap() {
        assert_eq!(
            report.suite_failures.get(suite).copied(),
            Some(count.as_u64().unwrap() as usize),
            "{suite}"
        );
    }
    let overall = &expected["overall"];
    assert_eq!(result.outcome, Outcome::Regression);
    assert_eq!(
        u64::from(result.outcome.exit_code()),
        overall["exitCode"].as_u64().unwrap()
    );
    assert_eq!(report.error.as_deref(), overall["error"].as_str());
    let mut blocking: Vec<&str> = report
        .tests
        .iter()
        .filter(|t| t.blocking && t.verdict.status == CheckStatus::Failed)
        .map(|t| t.name.as_str())
        .collect();
    blocking.sort_unstable();
    let mut want: Vec<&str> = overall["blockingFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| {
            expected["tests"]
                .as_array()
                .unwrap()
                .iter()
                .find(|t| t["id"] == *id)
                .unwrap()["name"]
                .as_str()
                .unwrap()
        })
        .collect();
    want.sort_unstable();
    assert_eq!(blocking, want);
    // Upstream's shape: no declaration, no indentation, tests="0", the YAML in system-out.
    assert!(result.junit_xml.starts_with("<testsuites><testsuite name="));
    assert!(result.junit_xml.contains(r#"tests="0""#));
    assert!(!result.junit_xml.contains('\n') || result.junit_xml.contains("<system-out>"));
    assert!(
        result
            .console
            .contains("Test Failed! suite=[root    openshift-tests], testCase=")
    );
}

/// The files backend computes history from stored runs, as the view chain does: here the
/// ten synthetic runs are their own history.
#[test]
fn history_computed_from_stored_runs() {
    let mut request = synthetic_request(None);
    request.history = HistoryInput::Runs(jra("synthetic/aggregation/runs"));
    let result = aggregate(&request, &Settings::profile(Mode::Compat)).expect("aggregation");
    assert!(
        result
            .report
            .history
            .contains("computed from 10 of 10 stored runs"),
        "{}",
        result.report.history
    );
    // 7 passing runs of 10: working 70 %, so 7 passes are enough.
    let t2 = test_named(&result.report, "[sig-b] fails three times");
    assert_eq!(t2.verdict.working_percentage, Some(70));
    assert_eq!(
        t2.verdict.status,
        CheckStatus::Passed,
        "{}",
        t2.verdict.summary
    );
    // Flakes count as working: 100 %.
    let t3 = test_named(&result.report, "[sig-c] flakes in three runs");
    assert_eq!(t3.verdict.working_percentage, Some(100));
    // Outside the window (21 days later) nothing is history: the new-test default.
    let mut late = synthetic_request(None);
    late.history = HistoryInput::Runs(jra("synthetic/aggregation/runs"));
    late.now = Timestamp::parse_rfc3339("2024-03-25T00:00:00Z").unwrap();
    let result = aggregate(&late, &Settings::profile(Mode::Compat)).expect("aggregation");
    let t2 = test_named(&result.report, "[sig-b] fails three times");
    assert_eq!(t2.verdict.working_percentage, Some(70));
    assert_eq!(
        t2.verdict.history,
        Some(flakewatch_aggregate::verdict::HistorySource::NewTestDefault)
    );
}

/// A history read that fails is upstream's "assume 99% pass", stated in the report.
#[test]
fn an_unreadable_history_assumes_99_percent() {
    let mut request = synthetic_request(None);
    request.history = HistoryInput::Rows(jra("synthetic/aggregation/no-such-history.json"));
    let result = aggregate(&request, &Settings::profile(Mode::Compat)).expect("aggregation");
    assert!(
        result
            .report
            .history
            .starts_with("error getting past reliability data, assume 99% pass: "),
        "{}",
        result.report.history
    );
    let judged: Vec<_> = result
        .report
        .tests
        .iter()
        .filter(|t| t.verdict.rule == flakewatch_aggregate::verdict::Rule::RequiredPasses)
        .collect();
    assert!(!judged.is_empty());
    for t in judged {
        assert_eq!(t.verdict.working_percentage, Some(99), "{}", t.name);
        assert_eq!(
            t.verdict.history,
            Some(flakewatch_aggregate::verdict::HistorySource::ErrorDefault)
        );
    }
}

#[test]
fn the_aggregated_junit_reads_back_with_one_case_per_test() {
    let result = aggregate(&synthetic_request(None), &Settings::profile(Mode::Compat));
    // The synthetic runs have no prowjob.json, so payload matching keeps every directory.
    let result = result.expect("aggregation");
    let run = flakewatch_ingest::read(
        result.junit_xml.as_bytes(),
        "junit-aggregated.xml",
        Some(flakewatch_ingest::Format::Junit),
        flakewatch_ingest::RunMeta::default(),
        &flakewatch_ingest::Limits::default(),
    )
    .expect("our own output parses");
    let total: usize = run.tests.len();
    assert_eq!(total, result.report.tests.len());
    let failed = run
        .tests
        .iter()
        .filter(|t| t.attempts.iter().any(|a| a.status.is_failure()))
        .count();
    assert_eq!(
        failed,
        result
            .report
            .tests
            .iter()
            .filter(|t| t.verdict.status == CheckStatus::Failed)
            .count()
    );
}

/// Ten runs as upstream's `TestAnalyzer` builds them: the BackendDisruption-only JUnit plus
/// one disruption file each; `finished` says whether `finished.json` is written.
fn analyzer_runs(disruption: &str, finished: bool) -> (tempfile::TempDir, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let junit = fs::read(jra("extracted/junit_backenddisruption_only.xml")).unwrap();
    let data = fs::read(jra(&format!("extracted/{disruption}"))).unwrap();
    let ids: Vec<String> = (0..10)
        .map(|i| format!("17000000000000000{i:02}"))
        .collect();
    for id in &ids {
        let run = dir.path().join(id);
        let artifacts = run.join("artifacts/e2e/openshift-e2e-test/artifacts");
        fs::create_dir_all(artifacts.join("junit")).unwrap();
        fs::write(artifacts.join("junit/junit_e2e.xml"), &junit).unwrap();
        fs::write(
            artifacts.join("junit/backend-disruption_20230101.json"),
            &data,
        )
        .unwrap();
        if finished {
            fs::write(
                run.join("finished.json"),
                r#"{"timestamp": 1672531200, "passed": true, "result": "SUCCESS"}"#,
            )
            .unwrap();
        }
    }
    (dir, ids)
}

/// The historical mock's durations as statistics rows: every percentile and the mean equal
/// the duration. Upstream's test mocks the mean check to always pass; a spread of one
/// duration (threshold mean + 5σ = 6× the duration) keeps it passing on these data, so the
/// percentile checks decide, as there.
fn mock_history(dir: &Path) -> PathBuf {
    let mock = json("extracted/backend-disruption_historical_mock.json");
    let rows: Vec<Value> = mock["BackendDisruptions"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, d)| {
            let secs: f64 = d["DisruptedDuration"]
                .as_str()
                .unwrap()
                .trim_end_matches('s')
                .parse()
                .unwrap();
            let mut row = serde_json::Map::new();
            row.insert("BackendName".into(), name.clone().into());
            row.insert("Mean".into(), secs.into());
            row.insert("StandardDeviation".into(), secs.into());
            for p in 1..=99 {
                row.insert(format!("P{p}"), secs.into());
            }
            Value::Object(row)
        })
        .collect();
    let path = dir.join("history.json");
    fs::write(&path, serde_json::to_string(&rows).unwrap()).unwrap();
    path
}

fn analyzer_request(dir: &Path, ids: Vec<String>) -> Request {
    Request {
        job: "periodic-ci-openshift-release-master-ci-4.14-e2e-gcp-ovn-upgrade".into(),
        selection: Selection::All,
        runs_dir: dir.to_path_buf(),
        run_ids: Some(ids),
        gcs_prefix: None,
        label: Some("4.14.0-0.ci-2023-06-18-131345".into()),
        history: HistoryInput::None,
        disruption_history: Some(mock_history(dir)),
        topology: None,
        variants: None,
        now: Timestamp::parse_rfc3339("2023-06-18T20:00:00Z").unwrap(),
        working_dir: None,
    }
}

#[test]
fn upstream_analyzer_scenarios() {
    let settings = Settings::profile(Mode::Compat);

    let (dir, ids) = analyzer_runs("backend-disruption_all_jobs_finished.json", true);
    let result = aggregate(&analyzer_request(dir.path(), ids), &settings).unwrap();
    assert_eq!(result.outcome, Outcome::Pass, "{}", result.console);

    let (dir, ids) = analyzer_runs("backend-disruption_too_much_disruption.json", true);
    let result = aggregate(&analyzer_request(dir.path(), ids), &settings).unwrap();
    assert_eq!(result.outcome, Outcome::Regression);
    assert!(
        result
            .report
            .error
            .as_deref()
            .unwrap()
            .contains("Some tests failed aggregation")
    );
    let failed: Vec<&str> = result
        .report
        .disruption
        .as_ref()
        .unwrap()
        .iter()
        .filter(|d| d.result.status == CheckStatus::Failed)
        .map(|d| d.name.as_str())
        .collect();
    assert!(
        failed.contains(&"cache-kube-api-reused-connections disruption P70 should not be worse"),
        "{failed:?}"
    );

    let (dir, ids) = analyzer_runs("backend-disruption_ignore_localhost.json", true);
    let result = aggregate(&analyzer_request(dir.path(), ids), &settings).unwrap();
    assert_eq!(result.outcome, Outcome::Pass, "{}", result.console);
    assert!(
        !result
            .report
            .disruption
            .as_ref()
            .unwrap()
            .iter()
            .any(|d| d.name.contains("-localhost-"))
    );

    let (dir, ids) = analyzer_runs("backend-disruption_all_jobs_finished.json", false);
    let err = aggregate(&analyzer_request(dir.path(), ids), &settings).unwrap_err();
    assert!(matches!(
        err,
        AggregateError::TooManyUnfinished { count: 10, .. }
    ));
    assert!(
        err.to_string()
            .contains("found 10 unfinished related jobRuns"),
        "{err}"
    );
}

#[test]
fn an_informing_failure_does_not_fail_the_aggregation() {
    let dir = tempfile::tempdir().unwrap();
    let junit = fs::read(jra("extracted/junit_informing_test.xml")).unwrap();
    let ids: Vec<String> = (0..10).map(|i| format!("{}", 100 + i)).collect();
    // The test fails in every run (upstream mocks the calculator to always fail).
    let failing = String::from_utf8(junit)
        .unwrap()
        .replace(
            r#"<testcase name="informing-test" lifecycle="informing"/>"#,
            r#"<testcase name="informing-test" lifecycle="informing"><failure message="boom">boom</failure></testcase>"#,
        );
    for id in &ids {
        let run = dir.path().join(id);
        fs::create_dir_all(run.join("artifacts/junit")).unwrap();
        fs::write(run.join("artifacts/junit/junit_e2e.xml"), &failing).unwrap();
        fs::write(run.join("finished.json"), r#"{"timestamp": 1}"#).unwrap();
    }
    let mut request = analyzer_request(dir.path(), ids);
    request.disruption_history = None;
    request.topology = Some("single".into());
    let result = aggregate(&request, &Settings::profile(Mode::Compat)).unwrap();
    let test = result
        .report
        .tests
        .iter()
        .find(|t| t.name == "informing-test")
        .unwrap();
    assert_eq!(test.verdict.status, CheckStatus::Failed);
    assert!(!test.blocking);
    let message = test.failure_message.as_deref().unwrap();
    assert!(
        message.starts_with("*** NON-BLOCKING FAILURE:"),
        "{message}"
    );
    assert!(message.contains("lifecycle is 'informing'"));
    assert_eq!(result.report.suite_failures.get("e2e-tests"), Some(&1));
    assert_eq!(result.outcome, Outcome::Pass);
}

/// Copies a directory tree, rewriting every `.xml` file's text with `edit`.
fn copy_tree(from: &Path, to: &Path, edit: &dyn Fn(String) -> String) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_tree(&path, &target, edit);
        } else if path.extension().is_some_and(|e| e == "xml") {
            fs::write(&target, edit(fs::read_to_string(&path).unwrap())).unwrap();
        } else {
            fs::copy(&path, &target).unwrap();
        }
    }
}

/// A blocking test that really failed decides the outcome even when no expected suite ran:
/// regression (exit 1), not insufficient data (2), as upstream's analyzer checks failures
/// first.
#[test]
fn a_real_failure_wins_over_no_expected_suite() {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&jra("synthetic/aggregation/runs"), dir.path(), &|text| {
        text.replace("name=\"openshift-tests\"", "name=\"renamed-suite\"")
    });
    let mut request = synthetic_request(None);
    request.runs_dir = dir.path().to_path_buf();
    for mode in [Mode::Compat, Mode::Improved] {
        let settings = Settings::profile(mode);
        let result = aggregate(&request, &settings).expect("aggregates");
        assert!(
            result.report.tests.iter().any(|t| t.blocking
                && t.verdict.status == CheckStatus::Failed
                && t.verdict.rule != flakewatch_aggregate::verdict::Rule::TooFewAttempts),
            "{mode:?}: the fixture has a real blocking failure"
        );
        assert_eq!(result.outcome, Outcome::Regression, "{mode:?}");
        assert_eq!(result.outcome.exit_code(), 1);
    }
}

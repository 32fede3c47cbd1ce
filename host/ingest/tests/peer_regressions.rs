//! Regressions found by running other projects' fixtures (with the counts those projects
//! expect) through the readers; the reproducers are in `testdata/corpus` with their sources.

use std::path::Path;

use flakewatch_ingest::{self as ingest, Limits, Run, RunMeta, Status, Verdict};

fn read(rel: &str) -> Run {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/corpus")
        .join(rel);
    ingest::read_path(&path, None, RunMeta::default(), &Limits::default())
        .unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn failing(run: &Run) -> Vec<&str> {
    run.tests
        .iter()
        .filter(|t| t.attempts.iter().any(|a| a.status.is_failure()))
        .map(|t| t.name.as_str())
        .collect()
}

/// JENKINS-6700: a `<testsuite>` whose class failed to start has an `<error>` and no
/// `<testcase>`; it is one failing test, not a green suite.
#[test]
fn a_suite_level_error_is_a_failing_test() {
    let run = read("junit/jenkins/junit-report-6700.xml");
    assert_eq!(failing(&run), ["<init>"]);
    assert_eq!(run.counts().failed, 1);
    let nested = read("junit/jenkins/junit-report-nested-testsuites.xml");
    assert_eq!(nested.counts().attempts, 3);
    assert_eq!(nested.counts().failed, 1);
}

/// `<testcase status="disabled">` was not run (mikepenz/action-junit-report's 10 skipped).
#[test]
fn disabled_cases_are_skipped() {
    let run = read("junit/mikepenz/testDisabled.xml");
    assert_eq!(run.counts().skipped, 10);
    assert!(
        run.tests
            .iter()
            .filter(|t| t.name.contains("disabled"))
            .all(|t| t.attempts[0].status == Status::Skip)
    );
}

/// `go tool test2json` without `-p` writes no `Package`: the events are read, not rejected
/// (gotestsum's 5 test runs, 1 failing).
#[test]
fn events_without_a_package_are_read() {
    let run = read("go-test-json/gotestsum/go-test-json-misattributed.jsonl");
    assert_eq!(run.counts().tests, 5);
    assert_eq!(run.counts().failed_attempts, 1);
    assert_eq!(failing(&run), ["TestOutputWithSubtest"]);
    assert!(run.tests.iter().all(|t| t.suite.is_empty()));
}

/// Subtests of a passing parent in a passing package whose end events are missing passed;
/// tests of a failed or crashed run stay failures.
#[test]
fn subtests_of_a_passing_parent_are_not_crashes() {
    let run = read("go-test-json/gotestsum/go-test-json-missing-test-events.jsonl");
    let mut names = failing(&run);
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "TestFailed",
            "TestFailed/a",
            "TestFailed/a/sub",
            "TestMissing",
            "TestMissing/a",
            "TestMissingEvent"
        ]
    );
    let nested = run
        .tests
        .iter()
        .find(|t| t.name == "TestNestedSuccess/b/sub")
        .expect("the subtest");
    assert_eq!(nested.verdict(), Verdict::Pass);
}

/// jest-junit repeats a `<testcase>` for every test sharing a title (dorny/test-reporter counts
/// each element): in the Jest dialect each element is its own test, never an attempt.
#[test]
fn jest_same_titled_tests_are_separate_tests() {
    let run = read("junit/jest/jest-same-titles.xml");
    assert_eq!(run.dialect, ingest::Dialect::Jest);
    assert_eq!(run.counts().tests, 21);
    assert_eq!(run.counts().attempts, 21);
    assert_eq!(run.counts().failed_attempts, 0);
    assert!(run.tests.iter().all(|t| t.attempts.len() == 1));
    let same = run
        .tests
        .iter()
        .filter(|t| t.name == "should add 1 to number")
        .count();
    assert_eq!(same, 3);
}

/// The decision is per dialect: one failing and one passing element with the same title are
/// two tests under Jest (one failed, none flaky) and one flaky test with two attempts
/// elsewhere, where repeated elements are how retries are written.
#[test]
fn repeated_testcases_are_attempts_except_under_jest() {
    let doc = |root: &str| {
        format!(
            "<testsuites{root}><testsuite name=\"s\">\
             <testcase classname=\"c\" name=\"t\"><failure message=\"boom\"/></testcase>\
             <testcase classname=\"c\" name=\"t\"/>\
             </testsuite></testsuites>"
        )
    };
    let jest = ingest::read_bytes(
        doc(" name=\"jest tests\"").as_bytes(),
        "jest.xml",
        None,
        RunMeta::default(),
        &Limits::default(),
    )
    .expect("reads");
    let verdicts: Vec<Verdict> = jest.tests.iter().map(|t| t.verdict()).collect();
    assert_eq!(verdicts, [Verdict::Fail, Verdict::Pass]);
    let generic = ingest::read_bytes(
        doc("").as_bytes(),
        "generic.xml",
        None,
        RunMeta::default(),
        &Limits::default(),
    )
    .expect("reads");
    assert_eq!(generic.tests.len(), 1);
    assert_eq!(generic.tests[0].verdict(), Verdict::Flaky);
    assert_eq!(generic.tests[0].attempts.len(), 2);
}

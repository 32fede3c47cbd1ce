//! Every file of the sample corpus (`testdata/corpus`, sources in its SOURCES.md) read through
//! format detection, against counts written by hand from reading each file.
//!
//! Columns: tests (distinct identities), attempts, failing attempts, tests whose verdict is
//! fail, flaky, skip, failing suite-level entries, and `--failures` records.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use flakewatch_ingest::{
    self as ingest, Dialect, FailureOptions, Format, IngestError, Limits, RunMeta, Status, Verdict,
};

struct Expect {
    path: &'static str,
    format: Format,
    tests: usize,
    attempts: usize,
    failed_attempts: usize,
    failed: usize,
    flaky: usize,
    skipped: usize,
    suite_failures: usize,
    records: usize,
}

const fn e(
    path: &'static str,
    format: Format,
    [
        tests,
        attempts,
        failed_attempts,
        failed,
        flaky,
        skipped,
        suite_failures,
        records,
    ]: [usize; 8],
) -> Expect {
    Expect {
        path,
        format,
        tests,
        attempts,
        failed_attempts,
        failed,
        flaky,
        skipped,
        suite_failures,
        records,
    }
}

use Format::{GoTest, Junit, MozlogErrorSummary as Summary, MozlogRaw as Raw};

/// `[tests, attempts, failed_attempts, failed, flaky, skipped, suite_failures, records]`.
const EXPECTED: &[Expect] = &[
    // Reproducers from other projects' fixtures (SOURCES.md): a suite-level <error> is one
    // failing test; disabled cases are skipped; events without Package are read; subtests of
    // a passing parent that lost their end events passed.
    e(
        "junit/jenkins/junit-report-6700.xml",
        Junit,
        [1, 1, 1, 1, 0, 0, 0, 1],
    ),
    e(
        "junit/jenkins/junit-report-nested-testsuites.xml",
        Junit,
        [3, 3, 1, 1, 0, 0, 0, 1],
    ),
    e(
        "junit/jest/jest-same-titles.xml",
        Junit,
        [21, 21, 0, 0, 0, 0, 0, 0],
    ),
    e(
        "junit/mikepenz/testDisabled.xml",
        Junit,
        [22, 22, 6, 6, 0, 10, 0, 6],
    ),
    e(
        "go-test-json/gotestsum/go-test-json-misattributed.jsonl",
        GoTest,
        [5, 5, 1, 1, 0, 0, 1, 1],
    ),
    e(
        "go-test-json/gotestsum/go-test-json-missing-test-events.jsonl",
        GoTest,
        [12, 12, 6, 6, 0, 0, 0, 6],
    ),
    // test_cwd; test_failure_assert = failure + 2 rerunFailure; test_flaky_mod_4 = 3
    // flakyFailure then the pass.
    e(
        "junit/nextest/fixture-project-junit.xml",
        Junit,
        [3, 8, 6, 1, 1, 0, 0, 6],
    ),
    // testcase0..7: 4 = flakyFailure+flakyError+pass, 5 = failure+rerunFailure+rerunError,
    // 7 = flaky-fail (policy failure) + flakyFailure + flakyError + pass.
    e(
        "junit/nextest/quick-junit-basic_report.xml",
        Junit,
        [8, 14, 9, 3, 2, 1, 0, 9],
    ),
    // two always-failing tests with 3 reruns each, two flaky with one failed attempt each.
    e(
        "junit/surefire/surefire-3.0-rerun-flaky.xml",
        Junit,
        [4, 12, 10, 2, 2, 0, 0, 10],
    ),
    // 8 distinct tests; test_flaky_passes_on_third_try written 3 times (2 inferred reruns).
    e(
        "junit/pytest/generated-pytest9.2-xunit1.xml",
        Junit,
        [8, 10, 5, 3, 1, 2, 0, 5],
    ),
    e(
        "junit/pytest/generated-pytest9.2-xunit2-rerunfailures16.7.xml",
        Junit,
        [8, 10, 5, 3, 1, 2, 0, 5],
    ),
    e(
        "junit/pytest/horovod-junit.fail.xml",
        Junit,
        [5, 5, 1, 1, 0, 1, 0, 1],
    ),
    e(
        "junit/pytest/horovod-junit.gloo.elastic.xml",
        Junit,
        [14, 14, 0, 0, 0, 4, 0, 0],
    ),
    e("junit/jest/jest-junit.xml", Junit, [2, 2, 0, 0, 0, 0, 0, 0]),
    e(
        "junit/bazel/bazel-generated-test.xml",
        Junit,
        [1, 1, 1, 1, 0, 0, 0, 1],
    ),
    e(
        "junit/edge-cases/junit.multiresult.xml",
        Junit,
        [4, 4, 2, 2, 0, 1, 0, 2],
    ),
    // 109 test cases, 8 of them repeat a (classname, name) seen before.
    e(
        "junit/edge-cases/mocha-latex-utensils.xml",
        Junit,
        [101, 109, 0, 0, 0, 0, 0, 0],
    ),
    // four nameless cases: each is its own test.
    e(
        "junit/edge-cases/no-attributes.xml",
        Junit,
        [4, 4, 2, 2, 0, 1, 0, 2],
    ),
    e(
        "junit/edge-cases/testsuite-in-testsuite.xml",
        Junit,
        [5, 5, 0, 0, 0, 0, 0, 0],
    ),
    e(
        "junit/edge-cases/testsuite-root.xml",
        Junit,
        [5, 5, 0, 0, 0, 0, 0, 0],
    ),
    e(
        "junit/edge-cases/unsupported-unicode.xml",
        Junit,
        [7, 7, 4, 4, 0, 2, 0, 4],
    ),
    e(
        "junit/edge-cases/with-xml-entities.xml",
        Junit,
        [4, 4, 2, 2, 0, 2, 0, 2],
    ),
    e(
        "junit/go-junit-report/012-report.xml",
        Junit,
        [11, 11, 4, 4, 0, 1, 0, 4],
    ),
    e(
        "junit/go-junit-report/101-report.xml",
        Junit,
        [2, 2, 1, 1, 0, 0, 0, 1],
    ),
    e(
        "junit/go-junit-report/103-report.xml",
        Junit,
        [4, 4, 2, 2, 0, 0, 0, 2],
    ),
    e(
        "junit/go-junit-report/105-report.xml",
        Junit,
        [1, 1, 1, 1, 0, 0, 0, 1],
    ),
    e(
        "junit/go-junit-report/107-report.xml",
        Junit,
        [2, 2, 0, 0, 0, 2, 0, 0],
    ),
    // badmain 1 + empty 0 + good 18 + parallelfails 12 + withfails 29.
    e(
        "junit/gotestsum/junitxml-report.golden.xml",
        Junit,
        [60, 60, 13, 13, 0, 5, 0, 13],
    ),
    e(
        "go-test-json/go-junit-report/101-fail.gojson.txt",
        GoTest,
        [2, 2, 1, 1, 0, 0, 1, 1],
    ),
    e(
        "go-test-json/go-junit-report/103-subtests.gojson.txt",
        GoTest,
        [4, 4, 2, 2, 0, 0, 1, 2],
    ),
    // a panic in init: no test, one package failure.
    e(
        "go-test-json/go-junit-report/105-panic.gojson.txt",
        GoTest,
        [0, 0, 0, 0, 0, 0, 1, 1],
    ),
    e(
        "go-test-json/go-junit-report/107-skip.gojson.txt",
        GoTest,
        [2, 2, 0, 0, 0, 2, 0, 0],
    ),
    // TestOne passes, then TestMain panics: a package-level failure record.
    e(
        "go-test-json/go-junit-report/108-paniclate.gojson.txt",
        GoTest,
        [1, 1, 0, 0, 0, 0, 1, 1],
    ),
    e(
        "go-test-json/go-junit-report/113-race.gojson.txt",
        GoTest,
        [2, 2, 0, 0, 0, 0, 0, 0],
    ),
    e(
        "go-test-json/gotestsum/go-test-build-failed.jsonl",
        GoTest,
        [0, 0, 0, 0, 0, 0, 1, 1],
    ),
    // four package runs (the first three fail): FailsRarely F P, FailsSometimes F F P,
    // FailsOften F F F P, three tests pass once.
    e(
        "go-test-json/gotestsum/go-test-json-flaky-rerun.jsonl",
        GoTest,
        [6, 12, 6, 0, 3, 0, 3, 6],
    ),
    // the test never ends: a crash.
    e(
        "go-test-json/gotestsum/go-test-json-missing-test-fail.jsonl",
        GoTest,
        [1, 1, 1, 1, 0, 0, 1, 1],
    ),
    e(
        "go-test-json/gotestsum/go-test-json-with-attributes.jsonl",
        GoTest,
        [1, 1, 0, 0, 0, 0, 0, 0],
    ),
    e(
        "go-test-json/gotestsum/go-test-json-with-nonjson-stdout.jsonl",
        GoTest,
        [1, 1, 0, 0, 0, 0, 0, 0],
    ),
    e(
        "go-test-json/gotestsum/go-test-json-with-parallel-fails.jsonl",
        GoTest,
        [12, 12, 8, 8, 0, 0, 1, 8],
    ),
    // -count=3: Stable PPP, Flaky FPF, Table FFF, Table/one PPP, Table/two FFF, Skipped SSS.
    e(
        "go-test-json/generated/go1.19-count3-flaky.jsonl",
        GoTest,
        [6, 18, 8, 2, 1, 1, 1, 8],
    ),
    e(
        "go-test-json/generated/go1.19-buildfail.stdout.jsonl",
        GoTest,
        [0, 0, 0, 0, 0, 0, 1, 1],
    ),
    // tests a (ok), b (unexpected subtest FAIL), c (unexpected TIMEOUT), d (expected FAIL),
    // e (SKIP).
    e(
        "mozlog/generated/mochitest-raw.log",
        Raw,
        [5, 5, 2, 2, 0, 1, 0, 2],
    ),
    // test_b and test_c; both groups ERROR, each with a failing test.
    e(
        "mozlog/generated/mochitest-errorsummary.log",
        Summary,
        [2, 2, 2, 2, 0, 0, 2, 2],
    ),
    // two tests with 2 and 3 failing subtests; 29 groups, 2 ERROR, one of them without a
    // failing test of its own.
    e(
        "mozlog/treeherder-errorsummary/mochitest-browser-chrome_2_errorsummary.log",
        Summary,
        [2, 2, 2, 2, 0, 0, 2, 3],
    ),
    e(
        "mozlog/treeherder-errorsummary/mochitest-browser-chrome_infra_errorsummary.log",
        Summary,
        [1, 1, 1, 1, 0, 0, 0, 1],
    ),
    e(
        "mozlog/treeherder-errorsummary/mochitest-browser-chrome_pass_errorsummary.log",
        Summary,
        [0, 0, 0, 0, 0, 0, 0, 0],
    ),
    e(
        "mozlog/treeherder-errorsummary/plain-chunked_errorsummary.log",
        Summary,
        [1, 1, 1, 1, 0, 0, 0, 1],
    ),
    e(
        "mozlog/treeherder-errorsummary/xpcshell-errorsummary-with-colon.log",
        Summary,
        [0, 0, 0, 0, 0, 0, 0, 0],
    ),
];

/// Files of the corpus that are not test results in a format we read.
const NOT_RESULTS: &[&str] = &[
    // plain `go test -v` text (go-junit-report's input), and Go 1.19's compiler errors on
    // stderr: neither is XML nor JSON lines.
    "junit/go-junit-report/012-subtests.go-test-v.txt",
    "go-test-json/generated/go1.19-buildfail.stderr.txt",
    // The licences of copied reproducers.
    "junit/jenkins/LICENSE",
    "junit/jest/LICENSE-dorny",
    "junit/mikepenz/LICENSE",
];

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/corpus")
}

fn files(dir: &Path, out: &mut BTreeSet<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files(&path, out);
        } else {
            let rel = path.strip_prefix(corpus()).unwrap();
            out.insert(rel.to_string_lossy().replace('\\', "/"));
        }
    }
}

fn read(rel: &str) -> Result<ingest::Run, IngestError> {
    ingest::read_path(
        &corpus().join(rel),
        None,
        RunMeta::default(),
        &Limits::default(),
    )
}

fn find<'r>(run: &'r ingest::Run, name: &str) -> &'r ingest::Test {
    run.tests
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("{}: no test {name:?}", run.source))
}

#[test]
fn every_corpus_file_is_covered() {
    let mut all = BTreeSet::new();
    files(&corpus(), &mut all);
    let mut covered: BTreeSet<String> = EXPECTED.iter().map(|e| e.path.to_owned()).collect();
    covered.extend(NOT_RESULTS.iter().map(|s| (*s).to_owned()));
    covered.insert("SOURCES.md".to_owned());
    assert_eq!(all, covered, "corpus files and expectations differ");
    assert_eq!(all.len(), 55);
}

/// `read_path` parses files from memory (JUnit without copying); the streaming reader must
/// give the very same runs, warnings included.
#[test]
fn in_memory_and_streaming_reads_agree() {
    let mut all = BTreeSet::new();
    files(&corpus(), &mut all);
    let mut junit = 0;
    for rel in all.iter().filter(|r| !r.ends_with("SOURCES.md")) {
        let path = corpus().join(rel);
        let file = std::fs::File::open(&path).unwrap();
        let source = path.display().to_string();
        let streamed = ingest::read(file, &source, None, RunMeta::default(), &Limits::default());
        match (streamed, read(rel)) {
            (Ok(a), Ok(b)) => {
                junit += usize::from(a.format == ingest::Format::Junit);
                assert!(a == b, "{rel}: the two paths disagree");
            }
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string(), "{rel}"),
            (a, b) => panic!("{rel}: streamed {a:?}, in memory {b:?}"),
        }
    }
    assert!(junit >= 20, "only {junit} JUnit files compared");
}

#[test]
fn corpus_counts_match_hand_counts() {
    let mut mismatches = Vec::new();
    for exp in EXPECTED {
        let run = match read(exp.path) {
            Ok(run) => run,
            Err(err) => {
                mismatches.push(format!("{}: {err}", exp.path));
                continue;
            }
        };
        let c = run.counts();
        let records = ingest::failure_records(&run, &FailureOptions::default()).len();
        let got = [
            c.tests,
            c.attempts,
            c.failed_attempts,
            c.failed,
            c.flaky,
            c.skipped,
            c.suite_failures,
            records,
        ];
        let want = [
            exp.tests,
            exp.attempts,
            exp.failed_attempts,
            exp.failed,
            exp.flaky,
            exp.skipped,
            exp.suite_failures,
            exp.records,
        ];
        if got != want || run.format != exp.format {
            mismatches.push(format!(
                "{}: got {:?} {got:?}, want {:?} {want:?}",
                exp.path, run.format, exp.format
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn non_result_files_are_refused_clearly() {
    for rel in NOT_RESULTS {
        let err = read(rel).unwrap_err();
        assert!(
            matches!(err, IngestError::UnknownFormat { .. }),
            "{rel}: {err}"
        );
        let text = err.to_string();
        assert!(text.contains(rel) && text.contains("--format"), "{text}");
    }
}

#[test]
fn dialects_are_recognised() {
    let cases = [
        ("junit/nextest/fixture-project-junit.xml", Dialect::Nextest),
        (
            "junit/surefire/surefire-3.0-rerun-flaky.xml",
            Dialect::Surefire,
        ),
        ("junit/pytest/horovod-junit.fail.xml", Dialect::Pytest),
        ("junit/jest/jest-junit.xml", Dialect::Jest),
        ("junit/bazel/bazel-generated-test.xml", Dialect::Bazel),
        ("junit/gotestsum/junitxml-report.golden.xml", Dialect::Go),
        ("junit/go-junit-report/101-report.xml", Dialect::Go),
        ("junit/edge-cases/mocha-latex-utensils.xml", Dialect::Mocha),
        ("junit/edge-cases/testsuite-root.xml", Dialect::Generic),
    ];
    for (rel, dialect) in cases {
        assert_eq!(read(rel).unwrap().dialect, dialect, "{rel}");
    }
}

#[test]
fn nextest_attempts_keep_their_own_output_and_times() {
    let run = read("junit/nextest/fixture-project-junit.xml").unwrap();
    let flaky = find(&run, "test_flaky_mod_4");
    assert_eq!(flaky.verdict(), Verdict::Flaky);
    let third = &flaky.attempts[2];
    assert_eq!(third.duration, Some(0.005));
    assert_eq!(third.timestamp(), Some("2024-01-09T07:50:12.676+00:00"));
    assert!(
        third
            .trace()
            .unwrap()
            .starts_with("thread 'test_flaky_mod_4' panicked at tests/basic.rs:43:9:\nFailed because attempt 3 % 4 != 0")
    );
    assert!(
        third
            .stdout()
            .unwrap()
            .contains("test test_flaky_mod_4 ... FAILED")
    );
    assert!(third.stderr().unwrap().contains("attempt 3 % 4"));
    assert_eq!(flaky.attempts[3].status, Status::Pass);
}

#[test]
fn flaky_fail_policy_is_kept_apart_from_attempts() {
    let run = read("junit/nextest/quick-junit-basic_report.xml").unwrap();
    let t7 = find(&run, "testcase7");
    let reported = t7.reported.as_ref().unwrap();
    assert_eq!(reported.status, Status::Fail);
    assert_eq!(
        reported.message.as_deref(),
        Some("test passed on attempt 4/4 but is configured to fail when flaky")
    );
    let statuses: Vec<_> = t7.attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [Status::Fail, Status::Error, Status::Pass]);
    assert_eq!(t7.attempts[1].stdout(), Some("prior flaky error output"));
    let t6 = find(&run, "testcase6");
    assert_eq!(t6.properties, [("step".to_owned(), "foobar".to_owned())]);
    let t4 = find(&run, "testcase4");
    assert_eq!(
        t4.attempts[1].trace(),
        Some("flaky error description\nflaky stack trace")
    );
}

#[test]
fn surefire_stack_traces_and_entity_messages() {
    let run = read("junit/surefire/surefire-3.0-rerun-flaky.xml").unwrap();
    let t = find(&run, "failsAssertionAlways");
    assert_eq!(t.attempts.len(), 4);
    assert_eq!(
        t.attempts[3].message(),
        Some("Always fails assertion ==> expected: <1> but was: <2>")
    );
    assert!(
        t.attempts[3]
            .trace()
            .unwrap()
            .contains("\tat example.ExampleTests")
    );
    assert_eq!(t.classname.as_deref(), Some("example.ExampleTests"));
}

#[test]
fn pytest_reruns_are_inferred_only_for_duplicates() {
    let run = read("junit/pytest/generated-pytest9.2-xunit2-rerunfailures16.7.xml").unwrap();
    let flaky = find(&run, "test_flaky_passes_on_third_try");
    let origins: Vec<_> = flaky.attempts.iter().map(|a| a.origin).collect();
    use ingest::Origin::{InferredRerun, Testcase};
    assert_eq!(origins, [InferredRerun, InferredRerun, Testcase]);
    let xfail = find(&run, "test_xfail");
    assert_eq!(xfail.attempts[0].raw_status(), Some("pytest.xfail"));
    let skipped = find(&run, "test_skipped");
    assert_eq!(skipped.attempts.len(), 1);
    assert_eq!(
        skipped.attempts[0]
            .stdout()
            .map(|s| s.matches("Captured Out").count()),
        Some(2)
    );
    let setup = find(&run, "test_setup_error");
    assert_eq!(setup.attempts[0].status, Status::Error);
    assert_eq!(
        setup.attempts[0].message(),
        Some("failed on setup with \"RuntimeError: database unavailable\"")
    );
    let fails = find(&run, "test_fails");
    assert!(
        fails.attempts[0]
            .message()
            .unwrap()
            .contains("dict mismatch\nassert")
    );
}

#[test]
fn entities_and_unicode_survive() {
    let run = read("junit/edge-cases/with-xml-entities.xml").unwrap();
    let names: Vec<_> = run.tests.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "Test with \"quotes\" in the test name",
            "Test with 'apostrophe' in the test name",
            "Test with & in the test name",
            "Test with < and > in the test name",
        ]
    );
    assert_eq!(
        run.tests[3].attempts[0].trace(),
        Some("Content with < and >")
    );
    assert_eq!(run.tests[2].attempts[0].message(), Some("A message with &"));
    let run = read("junit/edge-cases/unsupported-unicode.xml").unwrap();
    assert!(
        run.tests[0]
            .name
            .ends_with("\u{1237a}\u{214ff}\u{20109}\u{3993}")
    );
    assert!(run.warnings.is_empty(), "{:?}", run.warnings);
    let run = read("junit/edge-cases/mocha-latex-utensils.xml").unwrap();
    assert!(
        run.tests
            .iter()
            .any(|t| t.name == "parse Sch\\\"onbrunner Schlo\\ss{} Stra\\ss e")
    );
}

#[test]
fn nested_suites_give_paths() {
    for rel in [
        "junit/edge-cases/testsuite-in-testsuite.xml",
        "junit/edge-cases/testsuite-root.xml",
    ] {
        let run = read(rel).unwrap();
        let t3 = find(&run, "TestCase3");
        assert_eq!(
            &*t3.suite,
            ["Project Test Suite", "TestSuite2", "TestSuite2.1"],
            "{rel}"
        );
        assert_eq!(
            &*find(&run, "TestCase5").suite,
            ["Project Test Suite"],
            "{rel}"
        );
        assert_eq!(t3.attempts[0].duration, Some(1.08817));
    }
}

#[test]
fn bazel_log_lives_in_the_suite() {
    let run = read("junit/bazel/bazel-generated-test.xml").unwrap();
    let out = run.suites[0].stdout.as_deref().unwrap();
    assert!(out.contains("ModuleNotFoundError: No module named 'non_existent_package'"));
    let records = ingest::failure_records(&run, &FailureOptions::default());
    use flakewatch_dsl::Field;
    assert_eq!(records[0].record.get(Field::Status), "ERROR");
    assert_eq!(
        records[0].record.get(Field::Output),
        "exited with error code 1"
    );
    assert!(
        records[0]
            .record
            .get(Field::Log)
            .contains("ModuleNotFoundError")
    );
}

#[test]
fn go_streams_attribute_output_by_test() {
    let run = read("go-test-json/gotestsum/go-test-json-with-parallel-fails.jsonl").unwrap();
    let a = find(&run, "TestNestedParallelFailures/a");
    assert_eq!(
        a.attempts[0].stdout(),
        Some(
            "=== RUN   TestNestedParallelFailures/a\n=== PAUSE TestNestedParallelFailures/a\n\
             === CONT  TestNestedParallelFailures/a\n    TestNestedParallelFailures/a: \
             fails_test.go:50: failed sub a\n    --- FAIL: TestNestedParallelFailures/a (0.00s)\n"
        )
    );
    let parent = find(&run, "TestNestedParallelFailures");
    let out = parent.attempts[0].stdout().unwrap();
    for sub in [
        "failed sub a",
        "failed sub b",
        "failed sub c",
        "failed sub d",
    ] {
        assert!(out.contains(sub), "{out}");
    }
    assert!(!out.contains("failed the first"));
}

#[test]
fn go_count_repeats_and_reruns_keep_order() {
    let run = read("go-test-json/generated/go1.19-count3-flaky.jsonl").unwrap();
    let flaky = find(&run, "TestFlaky");
    let statuses: Vec<_> = flaky.attempts.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [Status::Fail, Status::Pass, Status::Fail]);
    assert!(flaky.attempts[2].stdout().unwrap().contains("(attempt 3)"));
    let run = read("go-test-json/gotestsum/go-test-json-flaky-rerun.jsonl").unwrap();
    let often = find(&run, "TestFailsOften");
    let statuses: Vec<_> = often.attempts.iter().map(|a| a.status).collect();
    assert_eq!(
        statuses,
        [Status::Fail, Status::Fail, Status::Fail, Status::Pass]
    );
    let attempts: Vec<_> = run.suites.iter().map(|s| s.attempt).collect();
    assert_eq!(attempts, [1, 2, 3, 4]);
}

#[test]
fn go_build_failures_and_attributes() {
    let run = read("go-test-json/gotestsum/go-test-build-failed.jsonl").unwrap();
    let pkg = &run.suites[0];
    assert!(pkg.build_failed);
    assert_eq!(&*pkg.path, ["example.com/internal/cacher"]);
    assert!(
        pkg.stderr
            .as_deref()
            .unwrap()
            .contains("undefined: assert.foo")
    );
    let run = read("go-test-json/generated/go1.19-buildfail.stdout.jsonl").unwrap();
    assert!(run.suites[0].build_failed);
    assert_eq!(&*run.suites[0].path, ["example.com/buildfail"]);
    let run = read("go-test-json/gotestsum/go-test-json-with-attributes.jsonl").unwrap();
    assert_eq!(
        run.tests[0].attempts[0].properties(),
        [
            ("hello".into(), "world".into()),
            ("other".into(), "side".into())
        ]
    );
    let run = read("go-test-json/gotestsum/go-test-json-with-nonjson-stdout.jsonl").unwrap();
    assert_eq!(run.warnings.len(), 1);
    assert_eq!(run.warnings[0].line, 2);
}

#[test]
fn mozlog_expectations_and_crashes() {
    let run = read("mozlog/generated/mochitest-raw.log").unwrap();
    assert_eq!(run.name.as_deref(), Some("mochitest-plain"));
    assert_eq!(run.meta.variant["fission"], "true");
    let c = find(&run, "dom/events/test/test_c.html");
    assert_eq!(c.attempts[0].status, Status::Error);
    assert_eq!(c.attempts[0].raw_status(), Some("TIMEOUT"));
    assert!(
        c.attempts[0].subtests()[0].expected,
        "TIMEOUT is a known intermittent"
    );
    assert!(
        c.attempts[0].extra[0]
            .message
            .as_deref()
            .unwrap()
            .contains("Document::Destroy")
    );
    let d = find(&run, "dom/events/test/test_d.html");
    assert_eq!(d.verdict(), Verdict::Pass, "an expected FAIL subtest");
    let b = find(&run, "dom/base/test/test_b.html");
    assert!(b.attempts[0].stdout().unwrap().contains("NS_ENSURE_TRUE"));
    assert_eq!(&*b.suite, ["dom/base/test/mochitest.toml"]);
    assert!(
        run.log
            .as_deref()
            .unwrap()
            .contains("ERROR Automation Error")
    );
}

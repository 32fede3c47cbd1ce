//! The aggregator's remaining commands through the real binary: `aggregate` waiting for runs
//! (`--timeout`, `--job-start-time`), `analyze-test-case` on a hand-built set of jobs and
//! runs, and `analyze-historical-data --data-type tests`. Expected outputs are worked out by
//! hand in each test's comment.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

const SYNTH_JOB: &str = "periodic-ci-openshift-release-master-ci-4.16-e2e-aws-ovn-upgrade";
const SYNTH_TAG: &str = "4.16.0-0.ci-2024-03-01-000000";

fn jra(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/jra")
        .join(rel)
}

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_flakewatch"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Copies a tree, leaving out the `finished.json` of the runs named in `unfinished`.
fn copy_runs(from: &Path, to: &Path, unfinished: &[&str]) {
    for entry in fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            fs::create_dir_all(&target).unwrap();
            copy_runs(&path, &target, unfinished);
        } else {
            let run = path
                .parent()
                .unwrap()
                .file_name()
                .unwrap()
                .to_string_lossy();
            if path.file_name().unwrap() == "finished.json" && unfinished.contains(&&*run) {
                continue;
            }
            fs::copy(&path, &target).unwrap();
        }
    }
}

fn aggregate_waiting(runs: &Path, out: &Path) -> Output {
    bin()
        .args([
            "aggregate",
            "--job",
            SYNTH_JOB,
            "--payload-tag",
            SYNTH_TAG,
            "--runs",
        ])
        .arg(runs)
        .arg("--history")
        .arg(jra(
            "synthetic/aggregation/historical_TestRuns_Summary_Last200Runs.json",
        ))
        // Started long ago with a 1h timeout: the stop time (start + 40m) has passed, so the
        // runs are read once, at once.
        .args([
            "--topology",
            "single",
            "--job-start-time",
            "2024-03-01T00:00:00Z",
            "--timeout",
            "1h",
            "--working-dir",
        ])
        .arg(out)
        .output()
        .unwrap()
}

/// Two runs unfinished when the stop time has passed: the eight others are judged (the
/// synthetic fixture's regression, exit 1) and the two are listed as upstream lists them in
/// compat mode (under `finishedjobs`, status `unknown`). Four unfinished: upstream's error,
/// exit 2 (insufficient data).
#[test]
fn aggregate_waits_then_judges_what_finished() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    fs::create_dir_all(&runs).unwrap();
    copy_runs(&jra("synthetic/aggregation/runs"), &runs, &["1004", "1009"]);
    let out = aggregate_waiting(&runs, &dir.path().join("out"));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("waited long enough. Ready or not, here I come."),
        "{stderr}"
    );
    let written = dir.path().join("out").join(SYNTH_JOB).join(SYNTH_TAG);
    let summary: Value =
        serde_json::from_slice(&fs::read(written.join("aggregation-summary.json")).unwrap())
            .unwrap();
    assert_eq!(summary["wait"]["polls"], 1);
    assert_eq!(summary["wait"]["timedOut"], true);
    assert_eq!(summary["wait"]["unfinished"], json!(["1004", "1009"]));
    assert_eq!(summary["wait"]["stopAt"], "2024-03-01T00:40:00Z");
    let finished: Vec<&Value> = summary["runs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["finished"] == true)
        .collect();
    assert_eq!(finished.len(), 8);
    let config = fs::read_to_string(written.join("aggregation-config.yaml")).unwrap();
    assert!(config.starts_with("unfinishedjobs: []\nfinishedjobs:\n"));
    assert_eq!(config.matches("status: unknown").count(), 2, "{config}");

    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    fs::create_dir_all(&runs).unwrap();
    copy_runs(
        &jra("synthetic/aggregation/runs"),
        &runs,
        &["1001", "1002", "1004", "1009"],
    );
    let out = aggregate_waiting(&runs, &dir.path().join("out"));
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{SYNTH_JOB} for {SYNTH_TAG}: found 4 unfinished related jobRuns: 1001, 1002, 1004, 1009"
        )),
        "{stderr}"
    );
    // A bad duration is a configuration error (3 for aggregate).
    let out = bin()
        .args([
            "aggregate",
            "--job",
            "j",
            "--payload-tag",
            "t",
            "--timeout",
            "soon",
            "--runs",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("not a duration"));
}

const TAG: &str = "4.16.0-0.nightly-2024-03-01-000000";
const AWS: &str = "periodic-ci-openshift-release-master-nightly-4.16-e2e-aws-ovn";
const AWS_UPI: &str = "periodic-ci-openshift-release-master-nightly-4.16-e2e-aws-ovn-upi";
const GCP: &str = "periodic-ci-openshift-release-master-nightly-4.16-e2e-gcp-ovn";

/// One run: `prowjob.json` (payload tag or PR labels), `finished.json` when finished, and the
/// install JUnit when `install` says how it went.
fn run(
    root: &Path,
    job: &str,
    id: &str,
    tag: Option<&str>,
    pr: Option<&str>,
    finished: bool,
    install: Option<bool>,
) {
    let dir = root.join(job).join(id);
    fs::create_dir_all(dir.join("artifacts")).unwrap();
    let mut annotations = json!({"prow.k8s.io/job": job});
    let mut labels = json!({});
    if let Some(tag) = tag {
        annotations["release.openshift.io/tag"] = json!(tag);
    }
    if let Some(id) = pr {
        annotations["releaseJobName"] = json!(job);
        labels["release.openshift.io/aggregation-id"] = json!(id);
    }
    let mut status = json!({"state": if finished { "success" } else { "pending" }});
    if finished {
        status["completionTime"] = json!("2024-03-01T03:00:00Z");
        fs::write(
            dir.join("finished.json"),
            r#"{"timestamp": 1709262000, "result": "SUCCESS"}"#,
        )
        .unwrap();
    }
    let prowjob =
        json!({"metadata": {"annotations": annotations, "labels": labels}, "status": status});
    fs::write(dir.join("prowjob.json"), prowjob.to_string()).unwrap();
    if let Some(passed) = install {
        let failure = if passed {
            ""
        } else {
            "<failure message=\"install failed\">bootstrap timed out</failure>"
        };
        fs::write(
            dir.join("artifacts/junit_install.xml"),
            format!(
                "<testsuites><testsuite name=\"cluster install\" tests=\"1\" failures=\"{}\">\
                 <testcase name=\"install should succeed: overall\" time=\"1800\">{failure}</testcase>\
                 </testsuite></testsuites>",
                u8::from(!passed)
            ),
        )
        .unwrap();
    }
}

/// The jobs and runs of the analyze-test-case tests.
///
/// * AWS (aws, ovn, ipi): 101 install passed, 102 failed, 103 unfinished without install
///   JUnit (skipped), 104 passed but for another payload (not matched);
/// * AWS_UPI (aws, ovn, upi): 201 passed;
/// * GCP (gcp, ovn, ipi): 301 passed (payload), 302 passed (PR payload `pr-77` only).
fn jobs(root: &Path) -> PathBuf {
    run(root, AWS, "101", Some(TAG), None, true, Some(true));
    run(root, AWS, "102", Some(TAG), None, true, Some(false));
    run(root, AWS, "103", Some(TAG), None, false, None);
    run(
        root,
        AWS,
        "104",
        Some("4.16.0-0.nightly-2024-02-28-000000"),
        None,
        true,
        Some(true),
    );
    run(root, AWS_UPI, "201", Some(TAG), None, true, Some(true));
    run(root, GCP, "301", Some(TAG), None, true, Some(true));
    run(root, GCP, "302", None, Some("pr-77"), true, Some(true));
    let registry = root.join("variants.json");
    let row = |job: &str, platform: &str| json!({"JobName": job, "Platform": platform, "Network": "ovn", "Release": "4.16", "Topology": "ha"});
    fs::write(
        &registry,
        json!([row(AWS, "aws"), row(AWS_UPI, "aws"), row(GCP, "gcp")]).to_string(),
    )
    .unwrap();
    registry
}

fn analyze_test_case(root: &Path, out: &Path, extra: &[&str]) -> Output {
    bin()
        .args(["analyze-test-case", "--runs"])
        .arg(root)
        .arg("--variants")
        .arg(root.join("variants.json"))
        .arg("--working-dir")
        .arg(out)
        // Long past: the wait's stop time has passed, the runs are read once.
        .args(["--job-start-time", "2024-03-01T00:00:00Z"])
        .args(extra)
        .output()
        .unwrap()
}

/// aws + ovn + ipi selects AWS only: 3 runs of the payload (104 is another payload's), one
/// pass (101), one failure (102), one skip (103, unfinished and without the test). Two
/// successes required, one found: upstream's failure message, its stdout block and exit 1.
#[test]
fn analyze_test_case_fails_with_too_few_successful_installs() {
    let dir = tempfile::tempdir().unwrap();
    jobs(dir.path());
    let out_dir = dir.path().join("out");
    let out = analyze_test_case(
        dir.path(),
        &out_dir,
        &[
            "--payload-tag",
            TAG,
            "--test-group",
            "install",
            "--platform",
            "aws",
            "--network",
            "ovn",
            "--infrastructure",
            "ipi",
            "--minimum-successful-count",
            "2",
        ],
    );
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    let case = "test 'install should succeed: overall' has required number of successful passes across payload jobs for platform:aws network:ovn infrastructure:ipi";
    assert!(
        stdout.starts_with(&format!(
            "Test Failed! suite=[root  payload-cross-jobs  minimum-required-passes-checker  cluster install], testCase={case}\nMessage: required minimum successful count 2, got 1\nname: 'install should succeed: overall'\ntestsuitename: cluster install\nsummary: 'Total job runs: 3, passes: 1, failures: 1, skips 1'\npasses:\n- jobrunid: \"101\"\n  humanurl: https://prow.ci.openshift.org/view/gs/test-platform-results/logs/{AWS}/101\n"
        )),
        "{stdout}"
    );
    assert!(stdout.ends_with("some test checker failed,  see above for details\n"));
    let xml = fs::read_to_string(out_dir.join(TAG).join("junit-test-case-analysis.xml")).unwrap();
    assert!(xml.starts_with(
        "<testsuite name=\"payload-cross-jobs\" tests=\"1\" skipped=\"0\" failures=\"1\" time=\"0\">\
         <testsuite name=\"minimum-required-passes-checker\" tests=\"1\" skipped=\"0\" failures=\"1\" time=\"0\">\
         <testsuite name=\"cluster install\" tests=\"1\" skipped=\"0\" failures=\"1\" time=\"0\">"
    ));
    assert!(
        xml.contains("<failure message=\"required minimum successful count 2, got 1\"></failure>")
    );
    assert!(xml.contains("- jobrunid: &#34;102&#34;"), "{xml}");

    // aws alone: AWS and AWS_UPI, two passes (101, 201): enough.
    let out = analyze_test_case(
        dir.path(),
        &out_dir,
        &[
            "--payload-tag",
            TAG,
            "--platform",
            "aws",
            "--minimum-successful-count",
            "2",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(text(&out.stdout).starts_with(
        "2 jobs, 4 runs: the test passed in 2, failed in 1, did not run in 1; 2 required\n"
    ));
    let xml = fs::read_to_string(out_dir.join(TAG).join("junit-test-case-analysis.xml")).unwrap();
    assert!(!xml.contains("<failure"));

    // Name filters: include "aws", exclude "upi": AWS only again.
    let out = analyze_test_case(
        dir.path(),
        &out_dir,
        &[
            "--payload-tag",
            TAG,
            "--include-job-names",
            "aws",
            "--exclude-job-names",
            "upi",
            "--minimum-successful-count",
            "2",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stdout).contains("for including:aws excluding:upi\n"));
}

/// PR mode: only GCP (named by --explicit-gcs-prefixes), only its run labelled with the
/// invocation ID (302); result URLs use the explicit prefix.
#[test]
fn analyze_test_case_in_pr_mode_uses_the_explicit_prefixes() {
    let dir = tempfile::tempdir().unwrap();
    jobs(dir.path());
    let out_dir = dir.path().join("out");
    let out = analyze_test_case(
        dir.path(),
        &out_dir,
        &[
            "--payload-invocation-id",
            "pr-77",
            "--explicit-gcs-prefixes",
            &format!("{GCP}=logs/openshift-origin-77-{GCP}"),
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).starts_with("1 jobs, 1 runs: the test passed in 1"));
    let xml =
        fs::read_to_string(out_dir.join("pr-77").join("junit-test-case-analysis.xml")).unwrap();
    assert!(
        xml.contains(&format!(
            "humanurl: https://prow.ci.openshift.org/view/gs/test-platform-results/logs/openshift-origin-77-{GCP}/302"
        )),
        "{xml}"
    );
}

/// Flags upstream refuses: its messages, exit 2.
#[test]
fn analyze_test_case_refuses_upstreams_bad_flags() {
    let dir = tempfile::tempdir().unwrap();
    jobs(dir.path());
    for (flags, message) in [
        (
            &["--payload-tag", TAG, "--timeout", "5h"][..],
            "timeout value of 5h0m0s is out of range, valid value should be less than 4h35m0s",
        ),
        (
            &["--payload-tag", TAG, "--network", "calico"][..],
            "unknown network calico, valid values are: [\"ovn\" \"sdn\"]",
        ),
        (
            &["--payload-invocation-id", "x"][..],
            "if --payload-invocation-id is specified, you must specify --explicit-gcs-prefixes",
        ),
        (
            &["--payload-tag", TAG, "--test-group", "smoke"][..],
            "unknown test group: smoke",
        ),
        (
            &[][..],
            "exactly one of --payload-tag or --payload-invocation-id must be specified",
        ),
    ] {
        let out = analyze_test_case(dir.path(), &dir.path().join("out"), flags);
        assert_eq!(out.status.code(), Some(2), "{flags:?}");
        assert!(
            text(&out.stderr).contains(message),
            "{flags:?}: {}",
            text(&out.stderr)
        );
    }
}

fn test_row(release: &str, name: &str, runs: i64, failures: i64, days: i64) -> Value {
    json!({
        "Release": release, "TestName": name, "TotalTestCount": runs,
        "TotalFailureCount": failures, "TotalFlakeCount": 1,
        "FailureRate": failures as f64 / runs as f64, "AvgDurationMs": 2500.5,
        "PeriodStart": "2024-01-31", "PeriodEnd": "2024-03-01", "DaysWithData": days
    })
}

/// `--data-type tests`, leeway 5 points, target 4.16 (the highest release in the new rows):
/// * `[sig-a] a`: 200 runs, failures 4 → 40: 98 % → 80 %, fell 18 points;
/// * `[sig-b] b <x>`: 400 runs, 0 → 0 failures: unchanged;
/// * `[sig-c] c`: only in the new rows (added); `[sig-d] d`: only current (removed);
/// * a 4.15 row and a 4.16 row with 90 runs are left out.
///
/// The output holds the two 4.16 tests with more than 100 runs, most failures first, Go's
/// JSON (`<` as `\u003c`, `2500.5`).
#[test]
fn analyze_historical_tests_writes_and_compares_pass_rates() {
    let dir = tempfile::tempdir().unwrap();
    let current = dir.path().join("current.json");
    let new = dir.path().join("new.json");
    fs::write(
        &current,
        json!([
            test_row("4.16", "[sig-a] a", 200, 4, 30),
            test_row("4.16", "[sig-b] b <x>", 400, 0, 30),
            test_row("4.16", "[sig-d] d", 400, 0, 30)
        ])
        .to_string(),
    )
    .unwrap();
    fs::write(
        &new,
        json!([
            test_row("4.16", "[sig-b] b <x>", 400, 0, 30),
            test_row("4.16", "[sig-a] a", 200, 40, 30),
            test_row("4.16", "[sig-c] c", 150, 3, 12),
            test_row("4.16", "[sig-e] e", 90, 3, 30),
            test_row("4.15", "[sig-a] a", 500, 0, 30)
        ])
        .to_string(),
    )
    .unwrap();
    let output = dir.path().join("results_tests.json");
    let analyze = |mode: &str| {
        bin()
            .args([
                "analyze-historical-data",
                "--data-type",
                "tests",
                "--leeway",
                "5",
                "--mode",
                mode,
            ])
            .arg("--current")
            .arg(&current)
            .arg("--new")
            .arg(&new)
            .arg("--output-file")
            .arg(&output)
            .arg("--working-dir")
            .arg(dir.path())
            .output()
            .unwrap()
    };
    let out = analyze("compat");
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(stdout.starts_with("Using target release: 4.16\nFetching test data for release 4.16, suite openshift-tests, last 30 days, min 100 test runs\nSuccessfully fetched 3 test results and wrote to "), "{stdout}");
    assert!(stdout.contains(
        "tests: 1 pass rates fell and 0 rose by more than 5.00 points, 1 added, 1 removed"
    ));
    // Compat: no pr_message.md for tests, as upstream.
    assert!(!dir.path().join("pr_message.md").exists());
    let written = fs::read_to_string(&output).unwrap();
    let names: Vec<String> = serde_json::from_str::<Vec<Value>>(&written)
        .unwrap()
        .iter()
        .map(|r| r["TestName"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["[sig-a] a", "[sig-c] c", "[sig-b] b <x>"]);
    assert!(
        written.contains("\"TestName\": \"[sig-b] b \\u003cx\\u003e\","),
        "{written}"
    );
    assert!(written.starts_with("[\n  {\n    \"Release\": \"4.16\",\n    \"TestName\": \"[sig-a] a\",\n    \"TotalTestCount\": 200,\n    \"TotalFailureCount\": 40,\n    \"TotalFlakeCount\": 1,\n    \"FailureRate\": 0.2,\n    \"AvgDurationMs\": 2500.5,\n    \"PeriodStart\": \"2024-01-31\",\n    \"PeriodEnd\": \"2024-03-01\",\n    \"DaysWithData\": 30\n  },"), "{written}");

    // Improved: the comparison is also appended to pr_message.md and require_review.
    let out = analyze("improved");
    assert_eq!(out.status.code(), Some(0));
    let message = fs::read_to_string(dir.path().join("pr_message.md")).unwrap();
    assert!(
        message.contains("| [sig-a] a | 200 | 98.00% | 80.00% | -18.00 |"),
        "{message}"
    );
    assert_eq!(
        fs::read_to_string(dir.path().join("require_review")).unwrap(),
        "(tests) had (1) results with pass rates decreased beyond specified leeway of 5.00%\n"
    );

    // No row with 10 days of data: the existing output is kept.
    fs::write(
        &new,
        json!([test_row("4.16", "[sig-a] a", 200, 40, 9)]).to_string(),
    )
    .unwrap();
    let out = analyze("compat");
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("none with 10 days of data: kept"));
    assert_eq!(fs::read_to_string(&output).unwrap(), written);
    // No row of the release: upstream's error, exit 3.
    fs::write(
        &new,
        json!([test_row("4.16", "[sig-a] a", 50, 0, 30)]).to_string(),
    )
    .unwrap();
    let out = analyze("compat");
    assert_eq!(out.status.code(), Some(3));
    assert!(
        text(&out.stderr).contains("no test data found for suite openshift-tests, release 4.16")
    );
}

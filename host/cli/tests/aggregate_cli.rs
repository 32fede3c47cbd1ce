//! The `aggregate` and `analyze-historical-data` commands of the real binary on the
//! job-run-aggregator fixtures (`testdata/jra`): upstream's files, exit codes, and the
//! synthetic `analyze-historical-data` runs byte for byte.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

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

#[test]
fn the_cli_writes_upstreams_files_and_exits_1_on_a_regression() {
    let dir = tempfile::tempdir().unwrap();
    let out = bin()
        .args([
            "aggregate",
            "--job",
            SYNTH_JOB,
            "--payload-tag",
            SYNTH_TAG,
            "--runs",
        ])
        .arg(jra("synthetic/aggregation/runs"))
        .arg("--history")
        .arg(jra(
            "synthetic/aggregation/historical_TestRuns_Summary_Last200Runs.json",
        ))
        .args(["--topology", "single", "--working-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("Some tests failed aggregation.  See above for details."));
    let written = dir.path().join(SYNTH_JOB).join(SYNTH_TAG);
    for file in [
        "junit-aggregated.xml",
        "aggregation-config.yaml",
        "aggregation-summary.json",
        "aggregation-summary.md",
    ] {
        assert!(written.join(file).is_file(), "{file} missing");
    }
    let summary: Value = serde_json::from_str(
        &fs::read_to_string(written.join("aggregation-summary.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(summary["outcome"], "regression");
    assert_eq!(summary["exitCode"], 1);
    let config = fs::read_to_string(written.join("aggregation-config.yaml")).unwrap();
    assert!(config.starts_with("unfinishedjobs: []\nfinishedjobs:\n- jobname: "));

    // A usage error is a configuration error here (2 means insufficient data).
    let out = bin().args(["aggregate", "--bogus"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3));
    // A bad setting names itself.
    let out = bin()
        .args([
            "aggregate",
            "--job",
            "j",
            "--payload-tag",
            "t",
            "--alpha",
            "2",
            "--runs",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("alpha"));
}

fn historical_scenario(kind: &str) {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join(format!("results_{kind}.json"));
    let out = bin()
        .args(["analyze-historical-data", "--data-type", kind, "--current"])
        .arg(jra(&format!("synthetic/historical/{kind}_current.json")))
        .arg("--new")
        .arg(jra(&format!("synthetic/historical/{kind}_new.json")))
        .args([
            "--leeway",
            "30",
            "--target-release",
            "4.16",
            "--previous-release",
            "4.15",
            "--output-file",
        ])
        .arg(&output)
        .arg("--working-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = jra(&format!("synthetic/historical/expected_{kind}"));
    // A file the fixture does not have must not be written either.
    let read = |p: PathBuf| fs::read_to_string(&p).ok();
    assert!(
        read(expected.join(format!("results_{kind}.json"))).is_some(),
        "the fixture has its expected results"
    );
    assert_eq!(
        read(output.clone()),
        read(expected.join(format!("results_{kind}.json"))),
        "results_{kind}.json"
    );
    assert_eq!(
        read(dir.path().join("pr_message.md")),
        read(expected.join("pr_message.md")),
        "pr_message.md"
    );
    assert_eq!(
        read(dir.path().join("require_review")),
        read(expected.join("require_review")),
        "require_review"
    );
}

#[test]
fn analyze_historical_disruptions_as_upstream() {
    historical_scenario("disruptions");
}

#[test]
fn analyze_historical_alerts_as_upstream() {
    historical_scenario("alerts");
}

/// `--static-run-info-json '[]'` names no run: insufficient data (exit 2), as documented.
#[test]
fn no_static_run_is_insufficient_data() {
    let out = bin()
        .args([
            "aggregate",
            "--job",
            SYNTH_JOB,
            "--payload-tag",
            SYNTH_TAG,
            "--no-write",
            "--runs",
        ])
        .arg(jra("synthetic/aggregation/runs"))
        .args(["--static-run-info-json", "[]"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

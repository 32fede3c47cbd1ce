//! Rendered output pinned as golden files (insta snapshots in `tests/snapshots/`): `check`'s
//! one-line diagnostics, the `debug` dumps, the triage text plan, and the job-run
//! aggregator's `aggregation-summary.md`. A change to any of them shows up as a snapshot diff.

mod support;

use std::path::{Path, PathBuf};

use support::{DEMO_NOW, demo_copy, flakewatch};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs the binary in the workspace root and returns stdout (and the exit status).
fn stdout(args: &[&str]) -> (String, Option<i32>) {
    let out = flakewatch()
        .current_dir(root())
        .args(args)
        .output()
        .expect("run flakewatch");
    (
        String::from_utf8(out.stdout).expect("UTF-8"),
        out.status.code(),
    )
}

#[test]
fn check_one_line_diagnostics() {
    let (text, code) = stdout(&["check", "--color", "never", "examples/broken-script.txt"]);
    assert_eq!(code, Some(1));
    insta::assert_snapshot!(text);
}

#[test]
fn debug_dumps() {
    for form in ["tokens", "ast", "ir"] {
        let (text, code) = stdout(&["debug", form, "examples/issue-body.md"]);
        assert_eq!(code, Some(0), "{form}");
        insta::assert_snapshot!(format!("debug_{form}"), text);
    }
}

#[test]
fn triage_text_plan() {
    let data = demo_copy();
    let out = flakewatch()
        .args(["triage", "--now", DEMO_NOW, "--data"])
        .arg(data.path())
        .output()
        .expect("run flakewatch");
    assert_eq!(out.status.code(), Some(0));
    insta::assert_snapshot!(String::from_utf8(out.stdout).expect("UTF-8"));
}

#[test]
fn aggregation_summary_markdown() {
    // Relative paths: the summary names the history file.
    let jra = Path::new("testdata/jra/synthetic/aggregation");
    let dir = tempfile::tempdir().expect("temp dir");
    let job = "periodic-ci-openshift-release-master-ci-4.16-e2e-aws-ovn-upgrade";
    let tag = "4.16.0-0.ci-2024-03-01-000000";
    let out = flakewatch()
        .current_dir(root())
        .args(["aggregate", "--job", job, "--payload-tag", tag, "--runs"])
        .arg(jra.join("runs"))
        .arg("--history")
        .arg(jra.join("historical_TestRuns_Summary_Last200Runs.json"))
        .args(["--topology", "single", "--working-dir"])
        .arg(dir.path())
        .output()
        .expect("run flakewatch");
    assert_eq!(
        out.status.code(),
        Some(1),
        "the synthetic run has a regression"
    );
    let summary = std::fs::read_to_string(
        dir.path()
            .join(job)
            .join(tag)
            .join("aggregation-summary.md"),
    )
    .expect("aggregation-summary.md");
    insta::assert_snapshot!(summary);
}

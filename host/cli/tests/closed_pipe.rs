//! Every subcommand, run once with standard output read to the end and once with it closed
//! before the command writes anything (`flakewatch … | head -0`): the exit status must be the
//! same, and a closed pipe is never reported as an error.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use support::{DEMO_NOW, demo_copy, flakewatch};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("root")
}

/// The exit status with stdout read, and with stdout already closed; stderr of the second.
fn both(make: impl Fn() -> Command) -> (Option<i32>, Option<i32>, String) {
    let open = make().stdout(Stdio::piped()).output().expect("runs");
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let closed = make()
        .stdout(writer)
        .stderr(Stdio::piped())
        .output()
        .expect("runs");
    (
        open.status.code(),
        closed.status.code(),
        String::from_utf8_lossy(&closed.stderr).into_owned(),
    )
}

fn at_root(args: &[&str]) -> impl Fn() -> Command {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    move || {
        let mut cmd = flakewatch();
        cmd.current_dir(root()).args(&args);
        cmd
    }
}

#[test]
fn a_closed_pipe_keeps_every_commands_status() {
    let work = tempfile::tempdir().expect("temp dir");
    let records = work.path().join("records.jsonl");
    std::fs::write(
        &records,
        "{\"pkg\":\"net\"}\n\n{\"pkg\":1}\n{\"pkg\":\"os\"}\n",
    )
    .expect("write");
    let issues = work.path().join("issues.jsonl");
    std::fs::write(
        &issues,
        "{\"number\":1,\"body\":\"#!watchflakes\\npost <- pkg == \\\"net\\\"\\n\"}\n",
    )
    .expect("write");
    let (records, issues) = (records.to_str().unwrap(), issues.to_str().unwrap());
    let agg = "testdata/jra/synthetic/aggregation";
    let hist = "testdata/jra/synthetic/historical";
    let agg_out = work.path().join("agg");
    let hist_out = work.path().join("hist");
    std::fs::create_dir_all(&hist_out).expect("mkdir");
    let aggregate = |json: bool| -> Vec<String> {
        let mut args = vec!["aggregate".to_owned()];
        if json {
            args.push("--json".to_owned());
        }
        args.extend([
            "--job".to_owned(),
            "periodic-ci-openshift-release-master-ci-4.16-e2e-aws-ovn-upgrade".to_owned(),
            "--payload-tag".to_owned(),
            "4.16.0-0.ci-2024-03-01-000000".to_owned(),
            "--runs".to_owned(),
            format!("{agg}/runs"),
            "--history".to_owned(),
            format!("{agg}/historical_TestRuns_Summary_Last200Runs.json"),
            "--topology".to_owned(),
            "single".to_owned(),
            "--working-dir".to_owned(),
            agg_out.display().to_string(),
        ]);
        args
    };
    let cases: Vec<(&str, Vec<String>, i32)> = vec![
        (
            "check ok",
            vec!["check".into(), "examples/issue-body.md".into()],
            0,
        ),
        (
            "check errors",
            vec!["check".into(), "examples/broken-script.txt".into()],
            1,
        ),
        (
            "check --json",
            vec![
                "check".into(),
                "--json".into(),
                "examples/broken-script.txt".into(),
            ],
            1,
        ),
        (
            "eval bad lines",
            vec![
                "eval".into(),
                "--script".into(),
                "examples/issue-body.md".into(),
                "--records".into(),
                records.into(),
            ],
            1,
        ),
        (
            "debug",
            vec!["debug".into(), "ir".into(), "examples/issue-body.md".into()],
            0,
        ),
        (
            "match bad lines",
            vec![
                "match".into(),
                "--issues".into(),
                issues.into(),
                "--failures".into(),
                records.into(),
            ],
            1,
        ),
        (
            "bench",
            vec![
                "bench".into(),
                "--issues".into(),
                issues.into(),
                "--failures".into(),
                "examples/failures.jsonl".into(),
                "--compile-passes".into(),
                "1".into(),
            ],
            0,
        ),
        (
            "ingest",
            vec![
                "ingest".into(),
                "testdata/corpus/junit/pytest/generated-pytest9.2-xunit1.xml".into(),
            ],
            0,
        ),
        (
            "ingest --failures",
            vec![
                "ingest".into(),
                "--failures".into(),
                "testdata/corpus/junit/pytest/generated-pytest9.2-xunit1.xml".into(),
            ],
            0,
        ),
        ("aggregate regression", aggregate(false), 1),
        ("aggregate --json", aggregate(true), 1),
        (
            "analyze-historical-data",
            vec![
                "analyze-historical-data".into(),
                "--data-type".into(),
                "disruptions".into(),
                "--leeway".into(),
                "30".into(),
                "--target-release".into(),
                "4.16".into(),
                "--previous-release".into(),
                "4.15".into(),
                "--working-dir".into(),
                hist_out.display().to_string(),
                "--current".into(),
                format!("{hist}/disruptions_current.json"),
                "--new".into(),
                format!("{hist}/disruptions_new.json"),
                "--output-file".into(),
                hist_out.join("r.json").display().to_string(),
            ],
            0,
        ),
    ];
    // The commands that read the demo data and write nothing.
    let demo = |args: &[&str]| -> Vec<String> {
        let mut all: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        all.extend(["--now", DEMO_NOW, "--data", "demo"].map(str::to_owned));
        all
    };
    let explain_failure = r#"{"pkg":"net/http","test":"TestServerTimeouts"}"#;
    let store = work.path().join("store");
    let mut cases = cases;
    cases.extend([
        ("lint", demo(&["lint"]), 1),
        ("lint --json", demo(&["lint", "--json"]), 1),
        (
            "explain",
            demo(&[
                "explain",
                "--backend",
                "files",
                "--script",
                "examples/issue-body.md",
                "--failure",
                explain_failure,
            ]),
            0,
        ),
        ("preview", demo(&["preview", "examples/issue-body.md"]), 0),
        ("report", demo(&["report"]), 0),
        ("report --json", demo(&["report", "--json"]), 0),
        ("report --md", demo(&["report", "--md"]), 0),
        ("close (dry run)", demo(&["close"]), 0),
        ("broken-builders (dry run)", demo(&["broken-builders"]), 0),
        (
            "ingest --store",
            vec![
                "ingest".into(),
                "--store".into(),
                "files".into(),
                "--data".into(),
                store.display().to_string(),
                "--manifest".into(),
                "testdata/pushes/push.json".into(),
            ],
            0,
        ),
        (
            "revision (findings)",
            vec![
                "revision".into(),
                "5f3a9c1e0b7d4e2a8c6b1d9f0e3a7c5b2d4f6a8e".into(),
                "--data".into(),
                store.display().to_string(),
            ],
            1,
        ),
    ]);
    let mut problems = Vec::new();
    for (name, args, want) in &cases {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (open, closed, stderr) = both(at_root(&args));
        if open != Some(*want) || closed != Some(*want) {
            problems.push(format!(
                "{name}: open {open:?}, closed {closed:?}, want {want}: {stderr}"
            ));
        }
        if stderr.contains("Broken pipe") {
            problems.push(format!("{name}: reports the closed pipe: {stderr}"));
        }
    }
    // Triage, query and the guard rail, on copies of the demo data.
    for (name, extra, want) in [
        ("triage", vec![], 0),
        ("triage --json", vec!["--json"], 0),
        ("triage -v", vec!["-v"], 0),
        (
            "triage guard rail",
            vec!["--apply", "--max-new-issues", "1"],
            4,
        ),
        (
            "triage --json guard rail",
            vec!["--json", "--apply", "--max-new-issues", "1"],
            4,
        ),
    ] {
        // A fresh copy of the demo data for each run (--apply writes), removed at the end.
        let copies = std::cell::RefCell::new(Vec::new());
        let (open, closed, stderr) = both(|| {
            let data = demo_copy();
            let mut cmd = flakewatch();
            cmd.args(["triage", "--now", DEMO_NOW, "--data"])
                .arg(data.path())
                .args(&extra);
            copies.borrow_mut().push(data);
            cmd
        });
        if open != Some(want) || closed != Some(want) {
            problems.push(format!(
                "{name}: open {open:?}, closed {closed:?}, want {want}: {stderr}"
            ));
        }
    }
    let (open, closed, stderr) = both(|| {
        let mut cmd = flakewatch();
        cmd.current_dir(root()).args([
            "query",
            "post <- pkg == \"sync\"",
            "--now",
            DEMO_NOW,
            "--data",
            "demo",
        ]);
        cmd
    });
    if open != Some(0) || closed != Some(0) {
        problems.push(format!("query: open {open:?}, closed {closed:?}: {stderr}"));
    }
    let (open, closed, stderr) = both(|| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_flakewatch-conformance"));
        cmd.current_dir(root())
            .arg("testdata/watchflakes/cases.json");
        cmd
    });
    if open != Some(0) || closed != Some(0) {
        problems.push(format!(
            "flakewatch-conformance: open {open:?}, closed {closed:?}: {stderr}"
        ));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn version_names_the_commit_and_help_shows_examples() {
    let out = flakewatch().arg("--version").output().expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.starts_with("flakewatch "), "{text}");
    assert!(
        text.contains('(') && text.trim_end().ends_with(')'),
        "{text}"
    );
    let help = flakewatch().arg("--help").output().expect("runs");
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains("Examples:") && help.contains("Exit status:"),
        "{help}"
    );
}

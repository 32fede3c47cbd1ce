//! Hostile inputs: every file a command reads given as `/dev/zero` (endless, no newline) or
//! fed an endless pipe on standard input, under a 4 GB address-space limit: each command
//! ends in seconds with an error that names the input, never by running out of memory or
//! being killed.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use support::DEMO_NOW;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("root")
}

/// Runs flakewatch with `args` under `ulimit -v 4000000`, stdin from `/dev/zero` when
/// `endless_stdin`; returns (exit code, stderr). Fails the test if it runs over two minutes.
fn run(args: &[String], endless_stdin: bool) -> (Option<i32>, String) {
    let exe = env!("CARGO_BIN_EXE_flakewatch");
    let mut script = format!("ulimit -v 4000000; exec '{exe}'");
    for a in args {
        script.push_str(&format!(" '{}'", a.replace('\'', "'\\''")));
    }
    let stdin = if endless_stdin {
        Stdio::from(std::fs::File::open("/dev/zero").expect("/dev/zero"))
    } else {
        Stdio::null()
    };
    let mut child = Command::new("sh")
        .args(["-c", &script])
        .current_dir(root())
        .stdin(stdin)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let mut stderr = String::new();
            std::io::Read::read_to_string(&mut child.stderr.take().expect("stderr"), &mut stderr)
                .expect("read stderr");
            return (status.code(), stderr);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{args:?} still running after two minutes");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn dev_zero_and_endless_pipes_end_with_a_clear_error() {
    let work = tempfile::tempdir().expect("temp dir");
    let issues = work.path().join("issues.jsonl");
    std::fs::write(
        &issues,
        "{\"number\":1,\"body\":\"#!watchflakes\\npost <- pkg == \\\"x\\\"\\n\"}\n",
    )
    .unwrap();
    let data = work.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::os::unix::fs::symlink("/dev/zero", data.join("issues.jsonl")).unwrap();
    let issues = issues.display().to_string();
    let data = data.display().to_string();
    let z = "/dev/zero".to_owned();
    let agg = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = [
            "aggregate",
            "--job",
            "j",
            "--payload-tag",
            "t",
            "--no-write",
            "--runs",
            "testdata/jra/synthetic/aggregation/runs",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        v.extend(extra.iter().map(|s| (*s).to_owned()));
        v
    };
    let s = |v: &[&str]| -> Vec<String> { v.iter().map(|s| (*s).to_owned()).collect() };
    let cases: Vec<(Vec<String>, bool)> = vec![
        (s(&["check", &z]), false),
        (s(&["check", "-"]), true),
        (
            s(&[
                "eval",
                "--script",
                &z,
                "--records",
                "examples/failures.jsonl",
            ]),
            false,
        ),
        (
            s(&[
                "eval",
                "--script",
                "examples/issue-body.md",
                "--records",
                &z,
            ]),
            false,
        ),
        (
            s(&[
                "eval",
                "--script",
                "examples/issue-body.md",
                "--records",
                "-",
            ]),
            true,
        ),
        (
            s(&[
                "match",
                "--issues",
                &z,
                "--failures",
                "examples/failures.jsonl",
            ]),
            false,
        ),
        (s(&["match", "--issues", &issues, "--failures", &z]), false),
        (s(&["match", "--issues", &issues, "--failures", "-"]), true),
        (s(&["bench", "--issues", &issues, "--failures", &z]), false),
        (s(&["ingest", &z]), false),
        (s(&["ingest", "-"]), true),
        (s(&["ingest", "--format", "junit", &z]), false),
        (s(&["ingest", "--format", "gotest", &z]), false),
        (s(&["ingest", "--format", "mozlog", &z]), false),
        (s(&["ingest", "--format", "gotest", "-"]), true),
        (s(&["triage", "--now", DEMO_NOW, "--data", &data]), false),
        (agg(&["--history", &z]), false),
        (agg(&["--config", &z]), false),
        (agg(&["--variants", &z]), false),
        (agg(&["--static-run-info-path", &z]), false),
        (agg(&["--disruption-history", &z]), false),
        (
            s(&[
                "analyze-historical-data",
                "--data-type",
                "disruptions",
                "--current",
                &z,
                "--new",
                &z,
                "--leeway",
                "30",
                "--target-release",
                "4.16",
                "--previous-release",
                "4.15",
                "--output-file",
                "/dev/null",
            ]),
            false,
        ),
    ];
    let mut problems = Vec::new();
    for (args, endless_stdin) in &cases {
        let (code, stderr) = run(args, *endless_stdin);
        let named = stderr.contains("/dev/zero")
            || stderr.contains("standard input")
            || (*endless_stdin && stderr.contains("-:"))
            || stderr.contains(&data);
        let clean_error = matches!(code, Some(1..=3));
        if !clean_error
            || !named
            || stderr.contains("panicked")
            || stderr.contains("memory allocation")
        {
            problems.push(format!(
                "{args:?} (stdin endless: {endless_stdin}): exit {code:?}: {stderr}"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n---\n"));
}

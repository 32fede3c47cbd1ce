//! `triage --repeat`, `triage --build` and progress through the real binary and files
//! plugin, on demo data where one build has three unclaimed failures, so that each of three
//! cycles files one new issue (upstream's one new issue per build per cycle, so these tests
//! run with `--new-issues upstream`; `clustered_cli.rs` covers the default).
//!
//! `--repeat`: the test takes the tracker's cycle lock between cycles 2 and 3, sends SIGTERM
//! while cycle 3 waits for the lock, then releases it: cycle 3 must still run to the end, no
//! fourth cycle may start, and the tracker must equal that of three plain `triage --apply`
//! runs.

mod support;

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;

use serde_json::Value;
use support::{DEMO_NOW, demo_copy, flakewatch, lines, tracker_state};

const TESTS: [&str; 3] = ["TestRepeatOne", "TestRepeatTwo", "TestRepeatThree"];

fn write_lines(dir: &Path, file: &str, values: &[Value]) {
    let text: String = values.iter().map(|v| format!("{v}\n")).collect();
    std::fs::write(dir.join(file), text).expect("write");
}

/// Turns a passing build of gotip-linux-amd64 whose neighbours pass too into a failure with
/// three failed tests no issue claims; returns its URL.
fn add_triple_failure(dir: &Path) -> String {
    let mut builds = lines(dir, "builds.jsonl");
    let failed: Vec<String> = lines(dir, "failures.jsonl")
        .iter()
        .map(|f| f["url"].as_str().expect("url").to_owned())
        .collect();
    let mut row: Vec<usize> = (0..builds.len())
        .filter(|&i| builds[i]["builder"] == "gotip-linux-amd64")
        .collect();
    row.sort_by_key(|&i| builds[i]["date"].as_str().expect("date").to_owned());
    let clean = |i: usize| {
        builds[i]["status"] == "SUCCESS"
            && !failed.contains(&builds[i]["url"].as_str().expect("url").to_owned())
    };
    let at = (1..row.len() - 1)
        .rev()
        .find(|&k| (k - 1..=k + 1).all(|j| clean(row[j])))
        .expect("a passing build between passing builds");
    let i = row[at];
    builds[i]["status"] = Value::from("FAILURE");
    let build = builds[i].clone();
    write_lines(dir, "builds.jsonl", &builds);
    let mut failures = lines(dir, "failures.jsonl");
    for test in TESTS {
        failures.push(serde_json::json!({
            "url": build["url"], "test_id": format!("example.com/repeat.{test}"),
            "pkg": "example.com/repeat", "test": test, "builder": build["builder"],
            "repo": "go", "goos": "linux", "goarch": "amd64", "date": build["date"],
            "status": "FAIL", "output": format!("--- FAIL: {test}\n"),
        }));
    }
    write_lines(dir, "failures.jsonl", &failures);
    build["url"].as_str().expect("url").to_owned()
}

fn triage(dir: &Path, extra: &[&str]) -> Output {
    let output = flakewatch()
        .args([
            "triage",
            "--new-issues",
            "upstream",
            "--now",
            DEMO_NOW,
            "--data",
        ])
        .arg(dir)
        .args(extra)
        .output()
        .expect("run flakewatch");
    assert!(
        output.status.success(),
        "{extra:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn new_titles(dir: &Path) -> Vec<String> {
    lines(dir, "issues.jsonl")
        .iter()
        .filter_map(|i| i["title"].as_str())
        .filter(|t| t.contains("TestRepeat"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn three_plain_cycles_file_one_issue_each() {
    let demo = demo_copy();
    add_triple_failure(demo.path());
    for cycle in 1..=3 {
        triage(demo.path(), &["--apply"]);
        assert_eq!(new_titles(demo.path()).len(), cycle, "after cycle {cycle}");
    }
    triage(demo.path(), &["--apply"]);
    assert_eq!(new_titles(demo.path()).len(), 3);
}

#[test]
fn build_triages_one_build_without_the_rest_of_the_window() {
    let demo = demo_copy();
    let url = add_triple_failure(demo.path());
    let plan: Value =
        serde_json::from_slice(&triage(demo.path(), &["--json", "--build", &url]).stdout)
            .expect("JSON plan");
    let failures = plan["failures"].as_array().expect("failures");
    assert_eq!(failures.len(), 3, "{failures:?}");
    assert!(failures.iter().all(|f| f["url"] == url.as_str()));
    assert_eq!(plan["stats"]["dashboards"], 1);
    assert_eq!(plan["updates"].as_array().expect("updates").len(), 1);
    // By ID, too; and a build that is not there is an error.
    let id = url.rsplit('/').next().expect("id");
    let by_id: Value =
        serde_json::from_slice(&triage(demo.path(), &["--json", "--build", id]).stdout)
            .expect("JSON plan");
    assert_eq!(by_id["failures"], plan["failures"]);
    let missing = flakewatch()
        .args(["triage", "--now", DEMO_NOW, "--build", "42", "--data"])
        .arg(demo.path())
        .output()
        .expect("run");
    assert_eq!(missing.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("build 42"));
}

#[test]
fn repeat_finishes_the_cycle_in_flight_on_sigterm() {
    let plain = demo_copy();
    add_triple_failure(plain.path());
    for _ in 0..3 {
        triage(plain.path(), &["--apply"]);
    }

    let looped = demo_copy();
    add_triple_failure(looped.path());
    let mut child = flakewatch()
        .args([
            "triage",
            "--new-issues",
            "upstream",
            "--now",
            DEMO_NOW,
            "--apply",
            "--repeat",
            "5s",
            "--data",
        ])
        .arg(looped.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        for line in BufReader::new(stderr).lines() {
            let line = line.expect("stderr line");
            all.push(line.clone());
            let _ = tx.send(line);
        }
        all
    });
    let wait_for = |what: &str| loop {
        let line = rx
            .recv()
            .unwrap_or_else(|_| panic!("stderr ended before {what:?}"));
        if line.contains(what) {
            break;
        }
    };

    // Take the cycle lock once cycle 2 has let go of it (its "done" line comes after that),
    // in the 5 s before cycle 3 starts, so that cycle 3 has to wait for it.
    wait_for("cycle 2 done");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(looped.path().join(".flakewatch.cycle.lock"))
        .expect("lock file");
    lock.try_lock()
        .expect("the cycle lock is free between cycles 2 and 3");
    wait_for("cycle 3 started");
    wait_for("holds the cycle lock");
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    lock.unlock().expect("unlock");

    let exit = child.wait().expect("wait");
    let log = reader.join().expect("reader");
    assert!(exit.success(), "{exit:?}\n{}", log.join("\n"));
    assert!(
        log.iter().any(|l| l.contains("cycle 3 done")),
        "{}",
        log.join("\n")
    );
    assert!(
        log.iter()
            .any(|l| l.contains("SIGTERM received; stopped after 3 cycles")),
        "{}",
        log.join("\n")
    );
    assert!(!log.iter().any(|l| l.contains("cycle 4")));
    assert_eq!(new_titles(looped.path()).len(), 3);
    let (a, b): (BTreeMap<_, _>, BTreeMap<_, _>) = (
        tracker_state(looped.path())
            .0
            .into_iter()
            .map(|i| (i.0, i))
            .collect(),
        tracker_state(plain.path())
            .0
            .into_iter()
            .map(|i| (i.0, i))
            .collect(),
    );
    assert_eq!(a, b);
    assert_eq!(
        tracker_state(looped.path()).1,
        tracker_state(plain.path()).1
    );
}

/// Progress is drawn only on a terminal: with standard error a pipe, `triage --apply` (text
/// and `--json`) and `report` write nothing to it but what they always write.
#[test]
fn progress_is_silent_in_pipes() {
    let demo = demo_copy();
    add_triple_failure(demo.path());
    for extra in [&["--apply"][..], &["--apply", "--json"][..]] {
        let output = triage(demo.path(), extra);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !stderr.contains('\r') && !stderr.contains("posting") && !stderr.contains("matching"),
            "{extra:?}: {stderr:?}"
        );
    }
    let report = flakewatch()
        .args(["report", "--json", "--now", DEMO_NOW, "--data"])
        .arg(demo.path())
        .output()
        .expect("run");
    assert!(report.status.success());
    assert_eq!(String::from_utf8_lossy(&report.stderr), "");
}

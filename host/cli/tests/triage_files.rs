//! End to end: the real `flakewatch` binary on a copy of the demo data, with the real files
//! plugin found beside the executable. Dry runs write nothing; `--apply` twice posts nothing
//! the second time; a run killed at any write and run again ends in the same state as an
//! uninterrupted run (every failure posted exactly once, no duplicate issue); the guard rail
//! stops posting; query mode shows owners.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use serde_json::Value;
use support::{DEMO_NOW, demo_copy, flakewatch, lines, tracker_state};

fn triage(dir: &Path, extra: &[&str], crash_at: Option<usize>) -> Output {
    let mut cmd = flakewatch();
    cmd.current_dir(dir)
        .args(["triage", "--now", DEMO_NOW, "--data"])
        .arg(dir)
        .args(extra);
    if let Some(n) = crash_at {
        cmd.env("FLAKEWATCH_FILES_CRASH_AT", n.to_string());
    }
    cmd.output().expect("run flakewatch")
}

fn json_run(dir: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["--json"];
    args.extend_from_slice(extra);
    let output = triage(dir, &args, None);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON plan")
}

/// Every file of the data directory, by name.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| {
            let e = e.expect("entry");
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("read"),
            )
        })
        .collect()
}

/// Checks the invariants of a converged tracker: no build URL in two signed comments of one
/// issue, no two issues with the same script.
fn assert_no_duplicates(dir: &Path) {
    let (issues, comments) = tracker_state(dir);
    let mut seen = BTreeMap::new();
    for (issue, body) in &comments {
        for url in body
            .split("<a href=\"")
            .skip(1)
            .filter_map(|s| s.split('"').next())
        {
            let previous = seen.insert((*issue, url.to_owned()), body.clone());
            if let Some(previous) = previous {
                assert_eq!(&previous, body, "{url} posted twice on #{issue}");
            }
        }
    }
    let mut scripts = BTreeMap::new();
    for (number, _, _, body) in &issues {
        let script = body.split("```").nth(1).unwrap_or(body).to_owned();
        if let Some(other) = scripts.insert(script, number) {
            panic!("issues #{other} and #{number} have the same script");
        }
    }
}

#[test]
fn a_dry_run_prints_the_plan_and_writes_nothing() {
    let data = demo_copy();
    let before = snapshot(data.path());
    let output = triage(data.path(), &[], None);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.starts_with("flakewatch triage: dry run"), "{stdout}");
    assert!(
        stdout.contains(" - #112 script error (parse errors)"),
        "{stdout}"
    );
    assert!(
        stdout.contains(" - new for #104 os/signal: TestNohup failures (closed; reopen)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("runtime: TestVDSO failures [consistent failure]"),
        "{stdout}"
    );
    assert!(stdout.contains("\nplan: "), "{stdout}");
    assert_eq!(snapshot(data.path()), before, "a dry run must not write");

    let plan = json_run(data.path(), &[]);
    assert_eq!(plan["schema"], "flakewatch.triage/1");
    assert_eq!(plan["mode"], "dry_run");
    assert_eq!(plan["result"], Value::Null);
    assert_eq!(plan["since"], "2025-08-17T00:00:00Z");
    assert_eq!(plan["guard_rail"]["tripped"], false);
    let updates = plan["updates"].as_array().expect("updates");
    assert!(
        updates
            .iter()
            .any(|u| u["new_issue"].is_u64() && u["body"].is_string())
    );
    for u in updates {
        let comment = u["comment"].as_str().expect("comment");
        assert!(comment.starts_with("Found new dashboard test flakes for:\n\n"));
        assert!(comment.ends_with("\n\n\u{2014} [watchflakes](https://go.dev/wiki/Watchflakes)\n"));
    }
    assert_eq!(snapshot(data.path()), before, "a dry run must not write");
}

#[test]
fn applying_twice_posts_nothing_the_second_time() {
    let data = demo_copy();
    let first = json_run(data.path(), &["--apply"]);
    let result = &first["result"];
    let updates = first["updates"].as_array().expect("updates").len();
    assert!(updates > 20, "the demo has work to do");
    assert_eq!(
        result["commented"].as_array().expect("commented").len(),
        updates
    );
    assert_eq!(result["failures"], Value::Array(Vec::new()));
    assert_eq!(result["reopened"], serde_json::json!([104]));
    assert_eq!(result["error_comments"], serde_json::json!([112, 114, 115]));
    let after_first = snapshot(data.path());

    let second = json_run(data.path(), &["--apply"]);
    assert_eq!(second["updates"], Value::Array(Vec::new()));
    assert_eq!(second["script_errors"], Value::Array(Vec::new()));
    assert_eq!(second["result"]["commented"], Value::Array(Vec::new()));
    assert_eq!(second["result"]["created"], Value::Array(Vec::new()));
    assert!(
        second["failures"]
            .as_array()
            .expect("failures")
            .iter()
            .all(|f| f["decision"] == "skip"
                || !f["already_mentioned"].as_array().expect("list").is_empty()),
        "every failure is skipped or already posted"
    );
    let mut after_second = snapshot(data.path());
    after_second.remove(".flakewatch.lock");
    let mut after_first = after_first;
    after_first.remove(".flakewatch.lock");
    assert_eq!(after_second, after_first, "the second run must not write");
    assert_no_duplicates(data.path());
}

#[test]
fn a_run_killed_at_any_write_and_run_again_posts_everything_exactly_once() {
    // The reference: one uninterrupted run.
    let reference = demo_copy();
    let output = triage(reference.path(), &["--apply"], None);
    assert!(output.status.success());
    let expected = tracker_state(reference.path());
    assert_no_duplicates(reference.path());

    let mut crash_at = 1;
    loop {
        let data = demo_copy();
        let crashed = triage(data.path(), &["--apply"], Some(crash_at));
        if crashed.status.success() {
            // The run has fewer write steps than `crash_at`: every point was tried.
            assert!(crash_at > 50, "only {crash_at} crash points");
            break;
        }
        assert_ne!(
            crashed.status.code(),
            Some(3),
            "crash point {crash_at}: the run failed instead of crashing: {}",
            String::from_utf8_lossy(&crashed.stderr)
        );
        let rerun = triage(data.path(), &["--apply"], None);
        assert!(
            rerun.status.success(),
            "crash point {crash_at}: {}",
            String::from_utf8_lossy(&rerun.stderr)
        );
        assert_eq!(
            tracker_state(data.path()),
            expected,
            "crash point {crash_at}: the tracker differs from an uninterrupted run"
        );
        let leftovers: Vec<String> = snapshot(data.path())
            .into_keys()
            .filter(|name| name.contains(".tmp-"))
            .collect();
        assert!(
            leftovers.is_empty(),
            "crash point {crash_at}: {leftovers:?}"
        );
        crash_at += 1;
    }
}

#[test]
fn the_guard_rail_stops_the_run_with_its_own_exit_code() {
    let data = demo_copy();
    let issues_before = lines(data.path(), "issues.jsonl").len();
    let comments_before = lines(data.path(), "comments.jsonl").len();
    let output = triage(data.path(), &["--apply", "--max-new-issues", "5"], None);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(4), "{stdout}");
    assert!(
        stdout.contains("guard rail: 10 new issues pending"),
        "{stdout}"
    );
    assert!(stdout.contains("stopped by the guard rail"), "{stdout}");
    assert_eq!(lines(data.path(), "issues.jsonl").len(), issues_before);
    // Only the three script-error comments went out.
    assert_eq!(
        lines(data.path(), "comments.jsonl").len(),
        comments_before + 3
    );
}

#[test]
fn query_shows_captured_failures_and_their_owners() {
    let data = demo_copy();
    let run = |extra: &[&str]| {
        let output = flakewatch()
            .args(["query", "--now", DEMO_NOW, "--data"])
            .arg(data.path())
            .args(extra)
            .output()
            .expect("run flakewatch");
        (
            output.status.code(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };
    let (code, stdout, stderr) = run(&["post <- pkg == \"sync\""]);
    assert_eq!(code, Some(0), "{stderr}");
    let blocks: Vec<&str> = stdout.split("\n\n").collect();
    assert!(blocks.len() >= 2, "{stdout}");
    for block in &blocks {
        let lines: Vec<&str> = block.lines().collect();
        assert!(lines[0].contains(" sync.TestMutexFairness"), "{block}");
        assert!(
            lines[1].starts_with("https://ci.chromium.org/b/"),
            "{block}"
        );
        // #107 collects them by default, unless #120 (killed on windows) posts them.
        let owner = lines.last().copied().unwrap_or("");
        assert!(
            owner == "owner: default #107" || owner == "owner: post #120",
            "{block}"
        );
    }
    assert!(stdout.contains("owner: default #107"), "{stdout}");
    assert!(stderr.contains("failures match"), "{stderr}");

    let (code, stdout, _) = run(&["--md", "--no-owners", "default <- test == \"TestVDSO\""]);
    assert_eq!(code, Some(0));
    assert!(stdout.starts_with("<details><summary>"), "{stdout}");
    assert!(stdout.ends_with("\u{2014} [watchflakes](https://go.dev/wiki/Watchflakes)\n"));
    assert_eq!(stdout.matches("<details>").count(), 5, "{stdout}");

    let (code, stdout, _) = run(&["--json", "post <- test == \"TestVDSO\""]);
    assert_eq!(code, Some(0));
    for line in stdout.lines() {
        let v: Value = serde_json::from_str(line).expect("JSON line");
        assert_eq!(v["action"], "post");
        assert_eq!(v["owner"]["action"], "new_issue");
    }

    let (code, _, stderr) = run(&["post <- pkg =="]);
    assert_eq!(code, Some(1));
    assert!(
        stderr.contains("script:1.15: == requires quoted string"),
        "{stderr}"
    );
}

/// Two `--apply` runs started at once on one data directory: the cycle lock lets one read,
/// plan and write while the other waits (and says so), then the other finds everything
/// posted. The tracker ends as one run leaves it: no duplicate issue, no duplicate post.
#[test]
fn two_concurrent_applies_end_with_the_tracker_of_one_run() {
    let reference = demo_copy();
    let out = triage(reference.path(), &["--apply"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for round in 0..3 {
        let shared = demo_copy();
        let spawn = || {
            let mut cmd = flakewatch();
            cmd.args(["triage", "--now", DEMO_NOW, "--apply", "--data"])
                .arg(shared.path())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn flakewatch")
        };
        let (first, second) = (spawn(), spawn());
        let outputs = [
            first.wait_with_output().unwrap(),
            second.wait_with_output().unwrap(),
        ];
        for out in &outputs {
            assert_eq!(
                out.status.code(),
                Some(0),
                "round {round}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert_no_duplicates(shared.path());
        assert_eq!(
            tracker_state(shared.path()),
            tracker_state(reference.path()),
            "round {round}: two concurrent runs differ from one run"
        );
    }
}

/// A run that cannot get the cycle lock in time says who holds it and does nothing.
#[test]
fn a_held_cycle_lock_is_reported_and_waited_on_with_a_bound() {
    let data = demo_copy();
    let before = snapshot(data.path());
    let lock_path = data.path().join(".flakewatch.cycle.lock");
    let holder = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .expect("lock file");
    holder.lock().expect("hold the lock");
    std::fs::write(&lock_path, "pid 4242").expect("name the holder");
    let out = triage(data.path(), &["--apply", "--lock-wait", "1"], None);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("another triage run holds the cycle lock"),
        "{stderr}"
    );
    assert!(stderr.contains("pid 4242"), "{stderr}");
    assert!(stderr.contains("still held"), "{stderr}");
    let mut after = snapshot(data.path());
    after.remove(".flakewatch.cycle.lock");
    let mut before = before;
    before.remove(".flakewatch.cycle.lock");
    assert_eq!(before, after, "nothing was written");
    drop(holder);
}

#[test]
fn apply_appends_comments_and_leaves_the_existing_bytes_alone() {
    let data = demo_copy();
    let path = data.path().join("comments.jsonl");
    let before = std::fs::read(&path).unwrap();
    let output = triage(data.path(), &["--apply"], None);
    assert!(output.status.success());
    let after = std::fs::read(&path).unwrap();
    assert!(after.len() > before.len(), "the demo run posts comments");
    assert_eq!(
        after[..before.len()],
        before[..],
        "the comments already there must be untouched, byte for byte"
    );
    assert!(after.ends_with(b"\n"));
}

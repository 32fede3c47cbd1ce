//! Sharded triage through the real binary (docs/triage.md, "Sharding"): N workers run
//! `triage --shard I/N --examined-out FILE`, one merger runs `triage --merge FILE...`. The
//! merged plan of N = 1, 2, 3 shares is byte-identical to the unsharded plan (text, `-v` and
//! `--json`) on the demo data and on a generated workload; `--apply` after a merge leaves the
//! tracker as an unsharded `--apply` does; shares that do not make one cycle, or no longer fit
//! the tracker, are refused with exit status 3 and a message saying why.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::{DEMO_NOW, demo_copy, flakewatch, tracker_state};

/// `flakewatch [global] triage --data DIR [--now NOW] ARGS...`.
fn triage(dir: &Path, now: Option<&str>, global: &[&str], args: &[&str]) -> Output {
    let mut cmd = flakewatch();
    cmd.args(global).arg("triage").arg("--data").arg(dir);
    if let Some(now) = now {
        cmd.args(["--now", now]);
    }
    cmd.args(args).output().expect("run flakewatch")
}

fn ok(output: &Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what}: exit {:?}\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).expect("UTF-8 output")
}

/// Runs the `n` workers of a sharded cycle; their files go to `out`.
fn shards(dir: &Path, now: &str, n: u32, out: &Path, extra: &[&str]) -> Vec<PathBuf> {
    (1..=n)
        .map(|i| {
            let file = out.join(format!("shard-{i}-of-{n}.jsonl"));
            let spec = format!("{i}/{n}");
            let mut args = vec!["--shard", spec.as_str(), "--examined-out"];
            let path = file.to_str().expect("UTF-8 path");
            args.push(path);
            args.extend_from_slice(extra);
            let output = triage(dir, Some(now), &[], &args);
            ok(&output, &format!("worker {spec}"));
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(
                stderr.contains(&format!("share {spec}: ")),
                "worker {spec}: {stderr}"
            );
            file
        })
        .collect()
}

/// `triage --merge FILES... ARGS...`.
fn merge(
    dir: &Path,
    now: Option<&str>,
    global: &[&str],
    files: &[PathBuf],
    args: &[&str],
) -> Output {
    let mut all: Vec<&str> = vec!["--merge"];
    all.extend(files.iter().map(|f| f.to_str().expect("UTF-8 path")));
    all.extend_from_slice(args);
    triage(dir, now, global, &all)
}

/// Every data file of a directory, by name (not the files backend's empty lock files).
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry"))
        .filter(|e| !e.file_name().to_string_lossy().ends_with(".lock"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("read"),
            )
        })
        .collect()
}

/// Asserts that a directory's data files are as they were (naming the files that differ).
fn assert_unchanged(dir: &Path, before: &BTreeMap<String, Vec<u8>>, what: &str) {
    let after = snapshot(dir);
    let changed: Vec<&String> = before
        .keys()
        .chain(after.keys())
        .filter(|name| before.get(*name) != after.get(*name))
        .collect();
    assert!(changed.is_empty(), "{what}: {changed:?} changed");
}

/// Checks, for N = 1, 2, 3, that the merged plan equals the unsharded one byte for byte, in
/// every output form; `extra` goes to the unsharded run, the workers and the merger.
fn assert_merges_equal_one_run(dir: &Path, now: &str, extra: &[&str]) {
    let before = snapshot(dir);
    let forms: [(&[&str], &[&str]); 3] = [(&[], &[]), (&["-v"], &[]), (&[], &["--json"])];
    let unsharded: Vec<String> = forms
        .iter()
        .map(|(global, args)| {
            let args: Vec<&str> = args.iter().chain(extra).copied().collect();
            ok(&triage(dir, Some(now), global, &args), "unsharded")
        })
        .collect();
    assert!(unsharded[0].contains(" - new for "), "{}", unsharded[0]);
    for n in 1..=3 {
        let out = tempfile::tempdir().expect("temp dir");
        let files = shards(dir, now, n, out.path(), extra);
        for (k, (global, args)) in forms.iter().enumerate() {
            let args: Vec<&str> = args.iter().chain(extra).copied().collect();
            // The merger without --now takes the shards' window; with it, it must agree.
            let now = (k != 0).then_some(now);
            let merged = ok(&merge(dir, now, global, &files, &args), "merge");
            assert!(
                merged == unsharded[k],
                "{n} shards, {global:?} {args:?}: the merged plan differs\n--- unsharded\n{}\n--- merged\n{merged}",
                unsharded[k]
            );
        }
    }
    assert_unchanged(dir, &before, "workers and dry runs must not write");
}

#[test]
fn merged_shares_plan_exactly_as_one_run_on_the_demo() {
    let data = demo_copy();
    assert_merges_equal_one_run(data.path(), DEMO_NOW, &[]);
    assert_merges_equal_one_run(data.path(), DEMO_NOW, &["--new-issues", "upstream"]);
}

/// The `small` workload (50 issues, 1,000 failures) as a files-backend data directory: every
/// failure is examined (none is filtered), and the plan posts, skips, defaults and files new
/// issues.
fn small_workload_files() -> PathBuf {
    // Tests of this binary run in parallel and share the data: one generates it.
    static GENERATING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = GENERATING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let workload = tmp.join("shard-workload-small-seed1");
    let files = tmp.join("shard-workload-small-seed1-files");
    if !files.join("builds.jsonl").exists() {
        for (script, args) in [
            (
                "gen_workload.py",
                vec![
                    "--shape".into(),
                    "small".into(),
                    "--seed".into(),
                    "1".into(),
                    "--out".into(),
                    workload.clone().into_os_string(),
                ],
            ),
            (
                "to_files.py",
                vec![
                    workload.clone().into_os_string(),
                    files.clone().into_os_string(),
                ],
            ),
        ] {
            let out = Command::new("python3")
                .arg(root.join("benches/workload").join(script))
                .args(args)
                .output()
                .expect("python3 runs the workload scripts");
            assert!(
                out.status.success(),
                "{script}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    files
}

#[test]
fn merged_shares_plan_exactly_as_one_run_on_a_generated_workload() {
    let data = small_workload_files();
    let now = "2026-09-01T00:00:00Z";
    let plan = ok(&triage(&data, Some(now), &[], &["--json"]), "unsharded");
    let plan: serde_json::Value = serde_json::from_str(&plan).expect("JSON plan");
    let failures = plan["failures"].as_array().expect("failures");
    assert!(failures.len() >= 800, "{} failures", failures.len());
    for decision in ["post", "skip", "new_issue"] {
        assert!(
            failures.iter().any(|f| f["decision"] == decision),
            "no {decision} decision in the workload's plan"
        );
    }
    assert_merges_equal_one_run(&data, now, &[]);
}

#[test]
fn apply_after_a_merge_leaves_the_tracker_as_one_apply() {
    let one = demo_copy();
    let sharded = demo_copy();
    let expected = ok(
        &triage(one.path(), Some(DEMO_NOW), &[], &["--apply"]),
        "apply",
    );
    assert!(expected.contains("issues created"), "{expected}");

    let out = tempfile::tempdir().expect("temp dir");
    let files = shards(sharded.path(), DEMO_NOW, 3, out.path(), &[]);
    let applied = ok(
        &merge(sharded.path(), None, &[], &files, &["--apply"]),
        "merge --apply",
    );
    assert_eq!(applied, expected);
    assert_eq!(tracker_state(sharded.path()), tracker_state(one.path()));

    // The applied cycle created issues: the same shard files no longer fit the tracker.
    let before = snapshot(sharded.path());
    let stale = merge(sharded.path(), None, &[], &files, &["--apply"]);
    assert_eq!(stale.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&stale.stderr);
    assert!(
        stderr.contains("the issues changed since the shards were examined: issue #")
            && stderr.contains(" is new; re-run every share"),
        "{stderr}"
    );
    assert_unchanged(sharded.path(), &before, "a refused merge writes nothing");

    // Fresh shares of the next cycle post what an unsharded second run posts: nothing.
    let again = ok(
        &triage(one.path(), Some(DEMO_NOW), &[], &["--apply"]),
        "apply",
    );
    let files = shards(sharded.path(), DEMO_NOW, 2, out.path(), &[]);
    let merged = ok(
        &merge(sharded.path(), None, &[], &files, &["--apply"]),
        "merge --apply",
    );
    assert_eq!(merged, again);
    assert!(
        merged.contains("applied: 0 comments posted, 0 issues created"),
        "{merged}"
    );
    assert_eq!(tracker_state(sharded.path()), tracker_state(one.path()));
}

/// Runs a merge expected to be refused with exit status 3; returns its stderr.
fn refused(dir: &Path, now: Option<&str>, files: &[PathBuf], args: &[&str]) -> String {
    let before = snapshot(dir);
    let output = merge(dir, now, &[], files, args);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(output.stdout.is_empty(), "a refused merge prints no plan");
    assert_unchanged(dir, &before, "a refused merge writes nothing");
    stderr
}

#[test]
fn shares_that_are_not_one_cycle_are_refused() {
    let data = demo_copy();
    let out = tempfile::tempdir().expect("temp dir");
    let three = shards(data.path(), DEMO_NOW, 3, out.path(), &[]);
    let two = shards(data.path(), DEMO_NOW, 2, out.path(), &[]);

    let stderr = refused(
        data.path(),
        None,
        &[three[0].clone(), three[2].clone()],
        &["--apply"],
    );
    assert!(
        stderr.contains("share 2 of 3 missing: a merge needs every share"),
        "{stderr}"
    );
    let stderr = refused(data.path(), None, &[three[0].clone()], &[]);
    assert!(stderr.contains("shares 2 and 3 of 3 missing"), "{stderr}");
    let stderr = refused(
        data.path(),
        None,
        &[
            three[0].clone(),
            three[1].clone(),
            three[1].clone(),
            three[2].clone(),
        ],
        &[],
    );
    assert!(stderr.contains("are both share 2/3"), "{stderr}");
    let stderr = refused(data.path(), None, &[three[0].clone(), two[1].clone()], &[]);
    assert!(
        stderr.contains("is share 2/2 but") && stderr.contains("is share 1/3"),
        "{stderr}"
    );

    // The merger's window and engine must be the workers'.
    let stderr = refused(data.path(), Some("2025-10-02T00:00:00Z"), &three, &[]);
    assert!(
        stderr.contains(
            "window since 2025-08-17T00:00:00Z, the merger's --now gives 2025-08-18T00:00:00Z"
        ),
        "{stderr}"
    );
    let stderr = refused(data.path(), None, &three, &["--engine", "interp"]);
    assert!(
        stderr.contains("examined with --engine jit, the merger runs with --engine interp"),
        "{stderr}"
    );

    // Workers of different windows do not make one cycle.
    let later = tempfile::tempdir().expect("temp dir");
    let other = shards(data.path(), "2025-10-02T00:00:00Z", 3, later.path(), &[]);
    let stderr = refused(
        data.path(),
        None,
        &[three[0].clone(), other[1].clone(), three[2].clone()],
        &[],
    );
    assert!(
        stderr.contains("were examined with different windows (--now): re-run every share"),
        "{stderr}"
    );

    // A file cut short, a file that is not a shard file, a file that is not there.
    let cut = out.path().join("cut.jsonl");
    let text = std::fs::read_to_string(&three[1]).expect("read shard");
    let kept: Vec<&str> = text.lines().collect();
    assert!(kept.len() > 2, "share 2/3 holds builds");
    std::fs::write(&cut, kept[..kept.len() - 1].join("\n") + "\n").expect("write");
    let stderr = refused(
        data.path(),
        None,
        &[three[0].clone(), cut, three[2].clone()],
        &[],
    );
    assert!(
        stderr.contains("cut.jsonl: ") && stderr.contains("the file is cut short"),
        "{stderr}"
    );
    let stderr = refused(data.path(), None, &[data.path().join("issues.jsonl")], &[]);
    assert!(
        stderr.contains("issues.jsonl:1: not a triage shard file"),
        "{stderr}"
    );
    let stderr = refused(data.path(), None, &[out.path().join("none.jsonl")], &[]);
    assert!(
        stderr.contains("opening ") && stderr.contains("none.jsonl"),
        "{stderr}"
    );
}

#[test]
fn shares_of_changed_issues_are_refused() {
    let data = demo_copy();
    let out = tempfile::tempdir().expect("temp dir");
    let files = shards(data.path(), DEMO_NOW, 2, out.path(), &[]);
    // Edit one issue's script after the workers ran.
    let issues = data.path().join("issues.jsonl");
    let text = std::fs::read_to_string(&issues).expect("issues");
    let mut edited = String::new();
    let mut changed = None;
    for line in text.lines() {
        let mut issue: serde_json::Value = serde_json::from_str(line).expect("issue");
        if changed.is_none()
            && issue["body"]
                .as_str()
                .is_some_and(|b| b.contains("#!watchflakes"))
        {
            let body = issue["body"].as_str().expect("body").to_owned();
            issue["body"] = (body + "\nedited\n").into();
            changed = issue["number"].as_u64();
        }
        edited.push_str(&issue.to_string());
        edited.push('\n');
    }
    let changed = changed.expect("an issue with a script");
    std::fs::write(&issues, edited).expect("write issues");
    let stderr = refused(data.path(), None, &files, &["--apply"]);
    assert!(
        stderr.contains(&format!(
            "the issues changed since the shards were examined: the body of issue #{changed} \
             was edited; re-run every share"
        )),
        "{stderr}"
    );
    // A worker that ran after the edit and one that ran before are not one cycle.
    let after = tempfile::tempdir().expect("temp dir");
    let fresh = shards(data.path(), DEMO_NOW, 2, after.path(), &[]);
    let stderr = refused(
        data.path(),
        None,
        &[files[0].clone(), fresh[1].clone()],
        &[],
    );
    assert!(
        stderr.contains("were examined with different issues (the tracker changed between them)"),
        "{stderr}"
    );
    // Fresh shares merge.
    ok(
        &merge(data.path(), None, &[], &fresh, &[]),
        "merge of fresh shares",
    );
}

#[test]
fn sharding_flags_are_checked_before_any_work() {
    let data = demo_copy();
    for args in [
        &["--shard", "4/3", "--examined-out", "x.jsonl"][..],
        &["--shard", "0/3", "--examined-out", "x.jsonl"],
        &["--shard", "1/3"],
        &["--examined-out", "x.jsonl"],
        &["--shard", "1/3", "--examined-out", "x.jsonl", "--apply"],
        &["--shard", "1/3", "--examined-out", "x.jsonl", "--json"],
        &[
            "--shard",
            "1/3",
            "--examined-out",
            "x.jsonl",
            "--merge",
            "y.jsonl",
        ],
        &["--merge", "y.jsonl", "--build", "12"],
        &["--merge", "y.jsonl", "--repeat", "1h"],
    ] {
        let output = triage(data.path(), Some(DEMO_NOW), &[], args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    assert!(!data.path().join("x.jsonl").exists());
}

/// A worker writes into a pipe (or a device such as `/dev/null`) in place: renaming a
/// finished file over it would replace it with a regular file.
#[test]
fn a_worker_writes_into_a_pipe_in_place() {
    use std::os::unix::fs::FileTypeExt;
    let data = demo_copy();
    let dir = tempfile::tempdir().expect("temp dir");
    let fifo = dir.path().join("shard.fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success(), "mkfifo failed");
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).expect("read the pipe"))
    };
    let output = triage(
        data.path(),
        Some(DEMO_NOW),
        &[],
        &[
            "--shard",
            "1/1",
            "--examined-out",
            fifo.to_str().expect("UTF-8 path"),
        ],
    );
    let is_fifo = std::fs::symlink_metadata(&fifo).is_ok_and(|m| m.file_type().is_fifo());
    // (When the pipe was replaced the reader never returns: it is left behind.)
    assert!(is_fifo, "the worker replaced the pipe");
    if !output.status.success() {
        // Let the reader go before failing.
        drop(std::fs::OpenOptions::new().write(true).open(&fifo));
    }
    let piped = reader.join().expect("reader");
    ok(&output, "worker into a pipe");
    let file = shards(data.path(), DEMO_NOW, 1, dir.path(), &[]);
    assert_eq!(piped, std::fs::read(&file[0]).expect("shard file"));
    assert!(piped.starts_with(b"{\"schema\":\"flakewatch.triage-shard/1\""));
}

/// Rewrites a shard file line by line (0 is the first line).
fn edit(from: &Path, to: &Path, change: impl Fn(usize, &mut serde_json::Value)) {
    let text = std::fs::read_to_string(from).expect("shard file");
    let mut out = String::new();
    for (k, line) in text.lines().enumerate() {
        let mut value: serde_json::Value = serde_json::from_str(line).expect("JSON line");
        change(k, &mut value);
        out.push_str(&value.to_string());
        out.push('\n');
    }
    std::fs::write(to, out).expect("write");
}

#[test]
fn edited_shard_files_are_refused() {
    let data = demo_copy();
    let out = tempfile::tempdir().expect("temp dir");
    let two = shards(data.path(), DEMO_NOW, 2, out.path(), &[]);
    let (a, b) = (out.path().join("a.jsonl"), out.path().join("b.jsonl"));

    // The shares swapped: every build is in the other share.
    edit(&two[0], &a, |k, v| {
        if k == 0 {
            v["shard"] = serde_json::json!([2, 2]);
        }
    });
    edit(&two[1], &b, |k, v| {
        if k == 0 {
            v["shard"] = serde_json::json!([1, 2]);
        }
    });
    let stderr = refused(data.path(), None, &[a.clone(), b.clone()], &[]);
    assert!(
        stderr.contains("a.jsonl:2: build https://ci.chromium.org/b/")
            && stderr.contains(" is in share 1/2, not 2/2"),
        "{stderr}"
    );

    // Two builds at one position.
    let first_index = std::fs::read_to_string(&two[0]).expect("shard file");
    let first_index: serde_json::Value =
        serde_json::from_str(first_index.lines().nth(1).expect("a build line")).expect("JSON");
    edit(&two[0], &a, |k, v| {
        if k == 2 {
            v["index"] = first_index["index"].clone();
        }
    });
    let stderr = refused(data.path(), None, &[a.clone(), two[1].clone()], &[]);
    assert!(
        stderr.contains("a.jsonl:3: position ") && stderr.contains(" is taken twice"),
        "{stderr}"
    );

    // Two builds of a file swap positions: every position is filled once, but the order is
    // not the announced one.
    let second_index: serde_json::Value = serde_json::from_str(
        std::fs::read_to_string(&two[0])
            .expect("shard file")
            .lines()
            .nth(2)
            .expect("two build lines"),
    )
    .expect("JSON");
    edit(&two[0], &a, |k, v| match k {
        1 => v["index"] = second_index["index"].clone(),
        2 => v["index"] = first_index["index"].clone(),
        _ => {}
    });
    let stderr = refused(data.path(), None, &[a.clone(), two[1].clone()], &[]);
    assert!(
        stderr.contains(
            "the builds of the shares do not make the cycle's processing order of 126 failed \
             builds that their first lines announce"
        ),
        "{stderr}"
    );
}

//! Shared by the CLI's integration tests: the plugin builds of the plugin-host tests, and the
//! real `flakewatch` binary with the files plugin beside it.

#![allow(
    dead_code,
    unused_imports,
    reason = "each test binary uses a different part of this module"
)]

#[path = "../../../plugin-host/tests/plugin_support/mod.rs"]
mod plugin_support;

use std::path::PathBuf;
use std::process::Command;

pub(crate) use plugin_support::{DEMO_NOW, demo_copy, plugin, workspace};

/// The `flakewatch` binary, with the files plugin built beside it.
pub(crate) fn flakewatch() -> Command {
    let files = plugin("flakewatch-plugin-files");
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_flakewatch"));
    assert_eq!(
        files.parent(),
        exe.parent(),
        "the files plugin must sit beside the flakewatch executable"
    );
    let mut cmd = Command::new(exe);
    cmd.env_remove("FLAKEWATCH_PLUGIN_PATH")
        .env_remove("FLAKEWATCH_FILES_CRASH_AT");
    cmd
}

/// The JSON lines of a data directory's file (none when it does not exist).
pub(crate) fn lines(dir: &std::path::Path, file: &str) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join(file))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

/// An issue without times: number, title, state, body.
pub(crate) type IssueState = (u64, String, String, String);

/// A files tracker's state without times: the issues, and the sorted (issue, body) of every
/// comment.
pub(crate) type TrackerState = (Vec<IssueState>, Vec<(u64, String)>);

/// The tracker state of a files-backend data directory.
pub(crate) fn tracker_state(dir: &std::path::Path) -> TrackerState {
    let text = |v: &serde_json::Value, key: &str| v[key].as_str().unwrap_or("").to_owned();
    let issues = lines(dir, "issues.jsonl")
        .iter()
        .map(|i| {
            (
                i["number"].as_u64().expect("number"),
                text(i, "title"),
                text(i, "state"),
                text(i, "body"),
            )
        })
        .collect();
    let mut comments: Vec<(u64, String)> = lines(dir, "comments.jsonl")
        .iter()
        .map(|c| (c["issue"].as_u64().expect("issue"), text(c, "body")))
        .collect();
    comments.sort();
    (issues, comments)
}

/// The `small` workload (seed 1), generated once by the project's workload generator into the
/// build's temporary directory `name`. Tests run in parallel: the generator writes into a
/// directory of this process's own that is renamed into place whole, so no test reads a
/// half-written workload.
pub(crate) fn small_workload(name: &str) -> PathBuf {
    static GENERATING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = GENERATING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    if !dir.join("failures.jsonl").exists() {
        let partial = dir.with_extension(format!("partial-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&partial);
        let out = Command::new("python3")
            .arg(root.join("benches/workload/gen_workload.py"))
            .args(["--shape", "small", "--seed", "1", "--out"])
            .arg(&partial)
            .output()
            .expect("python3 runs the workload generator");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        if let Err(error) = std::fs::rename(&partial, &dir) {
            // Another test binary put the same workload in place first.
            assert!(dir.join("failures.jsonl").exists(), "{error}");
            let _ = std::fs::remove_dir_all(&partial);
        }
    }
    dir
}

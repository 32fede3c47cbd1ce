//! `flakewatch close` end to end: the real binary and files plugin on a copy of the demo
//! data after one applied triage cycle, 19 days later. The dry run writes nothing; `--apply`
//! closes what the dry run named, each with one signed comment; a second `--apply` and a
//! triage cycle change nothing.

mod support;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Output;

use serde_json::Value;
use support::{DEMO_NOW, demo_copy, flakewatch};

const LATER: &str = "2025-10-20T00:00:00Z";

fn run(dir: &Path, args: &[&str], now: &str) -> Output {
    let output = flakewatch()
        .args(args)
        .args(["--now", now, "--data"])
        .arg(dir)
        .output()
        .expect("run flakewatch");
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry"))
        .filter(|e| e.file_name().to_string_lossy().ends_with(".jsonl"))
        .map(|e| {
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).expect("read"),
            )
        })
        .collect()
}

fn issue_states(dir: &Path) -> BTreeMap<u64, String> {
    std::fs::read_to_string(dir.join("issues.jsonl"))
        .expect("issues")
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).expect("JSON"))
        .map(|i| {
            (
                i["number"].as_u64().expect("number"),
                i["state"].as_str().expect("state").to_owned(),
            )
        })
        .collect()
}

#[test]
fn close_dry_run_apply_and_rerun() {
    let demo = demo_copy();
    let dir = demo.path();
    run(dir, &["triage", "--apply"], DEMO_NOW);
    let before = files(dir);

    let dry: Value =
        serde_json::from_slice(&run(dir, &["close", "--json"], LATER).stdout).expect("JSON");
    assert_eq!(dry["schema"], "flakewatch.close/1");
    assert_eq!(dry["mode"], "dry_run");
    assert_eq!(files(dir), before, "the dry run wrote something");
    let closing: Vec<u64> = dry["decisions"]
        .as_array()
        .expect("decisions")
        .iter()
        .filter(|d| d["action"] == "close")
        .map(|d| {
            let comment = d["comment"].as_str().expect("comment");
            assert!(comment.starts_with("Closing automatically: "), "{comment}");
            assert!(d["stats"]["p"].as_f64().expect("p") < 0.01 || d["kind"] != "statistical");
            assert!(d["stats"]["builds_since"].as_u64().expect("builds") >= 20);
            d["issue"].as_u64().expect("issue")
        })
        .collect();
    assert!(
        !closing.is_empty(),
        "nothing to close in the demo 19 days on"
    );
    // Issues failing in the cycle's window stay open, with their reason.
    assert!(
        dry["decisions"]
            .as_array()
            .expect("decisions")
            .iter()
            .any(|d| d["reason"] == "not an issue watchflakes filed")
    );

    let applied: Value =
        serde_json::from_slice(&run(dir, &["close", "--apply", "--json"], LATER).stdout)
            .expect("JSON");
    let closed: Vec<u64> = applied["result"]["closed"]
        .as_array()
        .expect("closed")
        .iter()
        .map(|n| n.as_u64().expect("number"))
        .collect();
    assert_eq!(closed, closing);
    let states = issue_states(dir);
    for n in &closing {
        assert_eq!(states[n], "closed", "#{n}");
    }
    let comments = std::fs::read_to_string(dir.join("comments.jsonl")).expect("comments");
    assert_eq!(
        comments.matches("Closing automatically: ").count(),
        closing.len()
    );

    // Again: nothing to close, nothing written; a triage cycle posts and reopens nothing.
    let after = files(dir);
    let again: Value =
        serde_json::from_slice(&run(dir, &["close", "--apply", "--json"], LATER).stdout)
            .expect("JSON");
    assert_eq!(again["result"]["closed"], Value::Array(Vec::new()));
    assert_eq!(files(dir), after);
    let triage: Value =
        serde_json::from_slice(&run(dir, &["triage", "--apply", "--json"], LATER).stdout)
            .expect("JSON");
    assert_eq!(triage["result"]["reopened"], Value::Array(Vec::new()));
    assert_eq!(issue_states(dir), states);
}

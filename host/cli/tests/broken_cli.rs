//! `flakewatch broken-builders` end to end on a copy of the demo data (which holds a builder
//! failing at its newest builds): the dry run writes nothing, `--apply` files one issue, a
//! second `--apply` writes nothing, and triage asks that issue for no script.

mod support;

use std::path::Path;
use std::process::Output;

use serde_json::Value;
use support::{DEMO_NOW, demo_copy, flakewatch};

fn run(dir: &Path, args: &[&str]) -> Output {
    let output = flakewatch()
        .args(args)
        .args(["--now", DEMO_NOW, "--data"])
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

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).expect("JSON")
}

#[test]
fn the_demos_broken_builder_gets_one_issue() {
    let demo = demo_copy();
    let dir = demo.path();
    let read = |f: &str| std::fs::read(dir.join(f)).unwrap_or_default();
    let before = (read("issues.jsonl"), read("comments.jsonl"));

    let dry = json(&run(dir, &["broken-builders", "--json"]));
    assert_eq!(dry["schema"], "flakewatch.broken-builders/1");
    assert_eq!((read("issues.jsonl"), read("comments.jsonl")), before);
    let updates = dry["updates"].as_array().expect("updates");
    assert_eq!(updates.len(), 1, "{updates:?}");
    assert_eq!(updates[0]["action"], "create");
    assert_eq!(
        updates[0]["title"],
        "x/build: gotip-linux-riscv64 reported as broken"
    );
    assert!(updates[0]["builds"].as_array().expect("builds").len() >= 4);

    let applied = json(&run(dir, &["broken-builders", "--apply", "--json"]));
    let created = applied["result"]["created"].as_array().expect("created");
    assert_eq!(created.len(), 1);
    let number = created[0].as_u64().expect("number");
    let after = (read("issues.jsonl"), read("comments.jsonl"));

    let again = json(&run(dir, &["broken-builders", "--apply", "--json"]));
    assert_eq!(again["updates"], Value::Array(Vec::new()));
    assert_eq!((read("issues.jsonl"), read("comments.jsonl")), after);

    let plan = json(&run(dir, &["triage", "--json"]));
    assert!(
        !plan["script_errors"]
            .as_array()
            .expect("script_errors")
            .iter()
            .any(|e| e["issue"] == number),
        "triage complains about the broken-builder issue"
    );
}

//! Clustering before filing (`triage --new-issues clustered`, the default) through the real
//! binary and files plugin on the demo data: fewer new issues than upstream's one per test
//! or builder, every failure with exactly one owner, each generated pattern checked with
//! `flakewatch query` against what it captures, and a second cycle that files nothing and
//! moves no failure to another issue.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;
use support::{DEMO_NOW, demo_copy, flakewatch};

fn run(dir: &Path, args: &[&str]) -> Value {
    let output = flakewatch()
        .args(args)
        .args(["--now", DEMO_NOW, "--json", "--data"])
        .arg(dir)
        .output()
        .expect("run flakewatch");
    assert!(
        output.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON")
}

fn plan(dir: &Path, mode: &str, apply: bool) -> Value {
    let mut args = vec!["triage", "--new-issues", mode];
    if apply {
        args.push("--apply");
    }
    run(dir, &args)
}

/// A failure's identity within a cycle.
fn id(failure: &Value) -> String {
    format!("{} {}", failure["url"], failure["header"])
}

fn array(value: &Value) -> &Vec<Value> {
    value.as_array().expect("an array")
}

/// Whether a failure is queued for a new issue.
fn for_new_issue(failure: &Value) -> bool {
    array(&failure["queued"])
        .iter()
        .any(|r| r["new_issue"].is_u64())
}

/// The new issues of a plan.
fn new_issues(plan: &Value) -> Vec<&Value> {
    array(&plan["updates"])
        .iter()
        .filter(|u| u["new_issue"].is_u64())
        .collect()
}

#[test]
fn clusters_file_fewer_issues_and_every_failure_has_one_owner() {
    let data = demo_copy();
    let upstream = plan(data.path(), "upstream", false);
    let clustered = plan(data.path(), "clustered", false);
    // Upstream: one issue per test and per builder's build failures; clustered: the seven
    // builders whose builds failed with one out-of-memory error share one.
    assert_eq!(new_issues(&upstream).len(), 16);
    assert_eq!(new_issues(&clustered).len(), 10);

    // What existing issues own is the same in both modes; only the unowned failures (those
    // queued for a new issue: the first of an issue decided `new_issue`, the others `default`
    // on the issue being prepared) differ.
    let owned = |plan: &Value| -> Vec<(String, Value, Value)> {
        array(&plan["failures"])
            .iter()
            .filter(|f| !for_new_issue(f))
            .map(|f| (id(f), f["decision"].clone(), f["queued"].clone()))
            .collect()
    };
    assert_eq!(owned(&upstream), owned(&clustered));

    // Each unowned failure is queued for exactly one new issue, and is among that issue's
    // failures; no new issue holds anything else.
    let mut unowned: BTreeMap<String, u64> = BTreeMap::new();
    for f in array(&clustered["failures"]) {
        if for_new_issue(f) {
            let queued = array(&f["queued"]);
            assert_eq!(queued.len(), 1, "{f}");
            let k = queued[0]["new_issue"].as_u64().expect("a new issue");
            assert!(unowned.insert(id(f), k).is_none(), "{f}");
        }
    }
    let mut held: BTreeMap<String, u64> = BTreeMap::new();
    for update in new_issues(&clustered) {
        let k = update["new_issue"].as_u64().expect("k");
        for f in array(&update["failures"]) {
            assert!(held.insert(id(f), k).is_none(), "{f} in two new issues");
        }
    }
    assert_eq!(held, unowned);
    assert_eq!(unowned.len(), 39);

    // Each generated pattern, as a rule of its own: among the failures no issue owns today
    // it captures exactly its issue's failures (it may capture failures other issues own:
    // its rule is a `default` in a later issue, which the next test shows takes none).
    for update in new_issues(&clustered) {
        let pattern = update["pattern"].as_str().expect("pattern");
        let body = update["body"].as_str().expect("body");
        assert!(
            body.contains(&format!("#!watchflakes\ndefault <- {pattern}\n")),
            "{body}"
        );
        let output = flakewatch()
            .args(["query", &format!("post <- {pattern}"), "--json"])
            .args(["--now", DEMO_NOW, "--data"])
            .arg(data.path())
            .output()
            .expect("run flakewatch query");
        assert!(output.status.success(), "{pattern}");
        let captured: BTreeSet<String> = String::from_utf8(output.stdout)
            .expect("UTF-8")
            .lines()
            .map(|line| serde_json::from_str::<Value>(line).expect("JSON line"))
            .filter(|f| f["owner"]["action"] == "new_issue")
            .map(|f| id(&f))
            .collect();
        let members: BTreeSet<String> = array(&update["failures"]).iter().map(id).collect();
        assert_eq!(captured, members, "{pattern}");
    }
}

#[test]
fn the_next_cycle_files_nothing_and_moves_no_failure() {
    let data = demo_copy();
    let first = plan(data.path(), "clustered", true);
    let created: BTreeMap<u64, u64> = array(&first["result"]["created"])
        .iter()
        .map(|c| {
            (
                c["new_issue"].as_u64().expect("k"),
                c["issue"].as_u64().expect("number"),
            )
        })
        .collect();
    assert_eq!(created.len(), 10);
    let second = plan(data.path(), "clustered", false);
    assert!(new_issues(&second).is_empty(), "{}", second["updates"]);

    // Every failure's owner: the issues it is queued for or was mentioned on.
    let owners = |plan: &Value| -> BTreeMap<String, BTreeSet<u64>> {
        array(&plan["failures"])
            .iter()
            .filter(|f| f["decision"] != "skip")
            .map(|f| {
                let queued = array(&f["queued"])
                    .iter()
                    .map(|r| match r["issue"].as_u64() {
                        Some(n) => n,
                        None => created[&r["new_issue"].as_u64().expect("a reference")],
                    });
                let mentioned = array(&f["already_mentioned"])
                    .iter()
                    .map(|n| n.as_u64().expect("an issue number"));
                let refs = queued.chain(mentioned).collect();
                (id(f), refs)
            })
            .collect()
    };
    let before = owners(&first);
    assert_eq!(before.len(), 178);
    assert_eq!(owners(&second), before);
}

//! Runs every triage-pipeline case of `testdata/watchflakes/cases.json` through the
//! conformance runner and requires all of them to pass, with the expected number per kind.

use std::collections::BTreeMap;

use flakewatch::conformance::{Outcome, check_case};
use serde_json::Value;

/// The pipeline kinds and how many cases of each the vector file holds.
const KINDS: [(&str, usize); 7] = [
    ("snippet", 10),
    ("split_test_id", 10),
    ("coalesce", 6),
    ("dashboard", 8),
    ("new_issue", 5),
    ("post_format", 3),
    ("mentions", 3),
];

#[test]
fn every_pipeline_case_passes() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/testdata/watchflakes/cases.json"
    );
    let text = std::fs::read_to_string(path).expect("read cases.json");
    let doc: Value = serde_json::from_str(&text).expect("cases.json is JSON");
    let cases = doc["cases"].as_array().expect("a cases array");

    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for case in cases {
        let kind = case["kind"].as_str().expect("every case has a kind");
        if !KINDS.iter().any(|(k, _)| *k == kind) {
            continue;
        }
        *seen.entry(kind).or_default() += 1;
        let id = case["id"].as_str().unwrap_or("<no id>");
        match check_case(kind, case) {
            Outcome::Pass => {}
            other => failures.push(format!("{id}: {other:?}")),
        }
    }

    assert!(
        failures.is_empty(),
        "{} pipeline case(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    for (kind, count) in KINDS {
        assert_eq!(seen.get(kind).copied(), Some(count), "cases of kind {kind}");
        assert_eq!(
            doc["counts"][kind].as_u64(),
            Some(count as u64),
            "`counts` of kind {kind}"
        );
    }
}

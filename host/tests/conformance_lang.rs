//! Runs the rule-language conformance vectors (lex, parse, extract, run) through the runner.

use std::collections::BTreeMap;
use std::path::Path;

use flakewatch::conformance::{Outcome, check_case};
use serde_json::Value;

#[test]
fn every_language_case_passes() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/watchflakes/cases.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for case in doc["cases"].as_array().unwrap() {
        let kind = case["kind"].as_str().unwrap();
        if !matches!(kind, "lex" | "parse" | "extract" | "run") {
            continue;
        }
        *seen.entry(kind).or_default() += 1;
        match check_case(kind, case) {
            Outcome::Pass => {}
            other => failures.push(format!("{}: {other:?}", case["id"].as_str().unwrap())),
        }
    }
    assert_eq!(
        seen,
        BTreeMap::from([("extract", 14), ("lex", 38), ("parse", 127), ("run", 5)])
    );
    assert!(
        failures.is_empty(),
        "{} failing cases:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

//! The mozlog push of `testdata/pushes` (see its `generate.py`) through ingest, the stored
//! document and the per-revision view: chunk 2 re-run, chunk 4 missing, test_g.html scheduled
//! and never reported, test_c.html passing in one execution and timing out in the other.

use std::path::{Path, PathBuf};

use flakewatch_ingest::{Limits, RunMeta, read_path};
use flakewatch_plugin_sdk::model::ResultsRun;
use flakewatch_results::revision::{MissingTest, RepeatedChunk};
use flakewatch_results::{DocumentOptions, Schedule, analyze, render, run_document};

fn push_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/pushes")
}

fn push() -> (String, Vec<ResultsRun>) {
    let manifest: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(push_dir().join("push.json")).expect("push.json"),
    )
    .expect("JSON");
    let mut docs = Vec::new();
    for execution in manifest["executions"].as_array().expect("executions") {
        let mut meta = RunMeta::default();
        for (k, v) in execution["meta"].as_object().expect("meta") {
            meta.set(k, v.as_str().expect("string"));
        }
        let path = push_dir().join(execution["file"].as_str().expect("file"));
        let run = read_path(&path, None, meta, &Limits::default()).expect("reads");
        docs.push(run_document(&run, DocumentOptions::default()).expect("document"));
    }
    (
        manifest["revision"].as_str().expect("revision").to_owned(),
        docs,
    )
}

#[test]
fn the_push_reports_exactly_its_re_run_missing_chunk_missing_test_and_flaky_test() {
    let (revision, runs) = push();
    let report = analyze(&revision, &runs, &Schedule::default());
    assert_eq!(report.runs, 6);
    let names: Vec<_> = report.suites.iter().map(|s| s.suite.as_deref()).collect();
    assert_eq!(names, [Some("mochitest-plain"), Some("xpcshell")]);

    let plain = &report.suites[0];
    assert_eq!(plain.chunks_expected, Some(4));
    assert_eq!(plain.chunks_expected_from, "runs");
    assert_eq!(plain.chunks_executed, [1, 2, 3]);
    assert_eq!(
        plain.chunks_repeated,
        [RepeatedChunk {
            chunk: 2,
            executions: 2
        }]
    );
    assert_eq!(plain.chunks_missing, [4]);
    assert_eq!(
        plain.missing_tests,
        [MissingTest {
            chunk: Some(3),
            group: "layout/test/mochitest.toml".to_owned(),
            test: "layout/test/test_g.html".to_owned(),
        }]
    );
    assert_eq!(plain.flaky.len(), 1);
    let flaky = &plain.flaky[0];
    assert_eq!(flaky.name, "dom/events/test/test_c.html");
    assert_eq!(flaky.chunks, [2]);
    assert!(flaky.known_intermittent);
    let words: Vec<String> = flaky.results.iter().map(|o| o.word()).collect();
    assert_eq!(words, ["OK", "TIMEOUT"]);
    // test_a, test_b; test_c, test_d twice; test_f: 7 results, none unexpected (test_d
    // fails as expected, test_c's TIMEOUT is a known intermittent).
    assert_eq!(
        (plain.totals.tests, plain.totals.passed, plain.totals.failed),
        (7, 7, 0)
    );

    let xpcshell = &report.suites[1];
    assert_eq!(xpcshell.chunks_executed, [1, 2]);
    assert!(xpcshell.chunks_missing.is_empty() && xpcshell.flaky.is_empty());
    assert!(report.has_findings());
}

#[test]
fn a_schedule_names_the_expected_chunks_and_suites_that_never_ran() {
    let (revision, runs) = push();
    let schedule =
        Schedule::from_json(r#"{"mochitest-plain": 5, "reftest": 2}"#).expect("schedule");
    let report = analyze(&revision, &runs, &schedule);
    let plain = &report.suites[0];
    assert_eq!(plain.chunks_expected_from, "schedule");
    assert_eq!(plain.chunks_missing, [4, 5]);
    let reftest = report
        .suites
        .iter()
        .find(|s| s.suite.as_deref() == Some("reftest"))
        .expect("a scheduled suite without runs is reported");
    assert_eq!(reftest.chunks_missing, [1, 2]);
    assert!(reftest.executions.is_empty());
    assert!(Schedule::from_json(r#"{"x": 0}"#).is_err());
    assert!(Schedule::from_json("[]").is_err());
}

#[test]
fn the_text_and_markdown_name_every_finding() {
    let (revision, runs) = push();
    let report = analyze(&revision, &runs, &Schedule::default());
    let text = render::text(&report, false);
    for needle in [
        "chunks:   4 expected (runs), executed 1, 2, 3, repeated 2 ×2, MISSING 4",
        "layout/test/test_g.html (layout/test/mochitest.toml)",
        "dom/events/test/mochitest.toml dom/events/test/test_c.html (chunk 2) [known intermittent]",
        "OK in Gr3oY8zAR2rBcDeFgHiJkL/0 #1; TIMEOUT (known intermittent) in Gr3oY8zAR2rBcDeFgHiJkL/1 #1",
    ] {
        assert!(text.contains(needle), "{needle:?} not in\n{text}");
    }
    let md = render::markdown(&report);
    assert!(
        md.contains("| mochitest-plain | 4 | 1, 2, 3 | 2 (×2) | 4 | 7 | 0 | 0 | 1 |"),
        "{md}"
    );
}

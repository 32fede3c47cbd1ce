//! `flakewatch ingest` end to end: the real binary on corpus files, its results JSON lines,
//! its failure records (keyed by `Field::name()`, readable by `flakewatch eval`), its exit codes.

use std::path::PathBuf;
use std::process::{Command, Output};

use flakewatch_dsl::Field;
use flakewatch_ingest::records::{FailureRecord, parse_record};
use serde_json::Value;

fn corpus(rel: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/corpus")
        .join(rel)
        .display()
        .to_string()
}

fn ingest(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_flakewatch"))
        .arg("ingest")
        .args(args)
        .output()
        .expect("flakewatch runs")
}

fn lines(out: &Output) -> Vec<serde_json::Map<String, Value>> {
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(|l| match serde_json::from_str(l).unwrap() {
            Value::Object(o) => o,
            other => panic!("not an object: {other}"),
        })
        .collect()
}

#[test]
fn results_follow_the_schema() {
    let nextest = corpus("junit/nextest/fixture-project-junit.xml");
    let go = corpus("go-test-json/generated/go1.19-count3-flaky.jsonl");
    let out = ingest(&[
        &nextest,
        &go,
        "--run-meta",
        "revision=abc123",
        "--run-meta",
        "os=linux",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines = lines(&out);
    let types: Vec<_> = lines.iter().map(|l| l["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        [
            "run", "suite", "test", "test", "test", // nextest: 1 suite, 3 tests
            "run", "suite", "test", "test", "test", "test", "test",
            "test", // go: 1 package, 6 tests
        ]
    );
    let run = &lines[0];
    assert_eq!(run["schema"], 1);
    assert_eq!(run["format"], "junit");
    assert_eq!(run["dialect"], "nextest");
    assert_eq!(run["meta"]["revision"], "abc123");
    assert_eq!(run["meta"]["os"], "linux");
    assert_eq!(run["counts"]["flaky"], 1);
    let flaky = lines
        .iter()
        .find(|l| l.get("name").is_some_and(|n| n == "test_flaky_mod_4"))
        .unwrap();
    assert_eq!(flaky["verdict"], "flaky");
    assert_eq!(
        flaky["id"],
        "fixture-project::basic::fixture-project::basic::test_flaky_mod_4"
    );
    let attempts = flaky["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 4);
    assert_eq!(attempts[0]["origin"], "flakyFailure");
    assert_eq!(attempts[0]["status"], "fail");
    assert_eq!(attempts[0]["expected"], false);
    assert_eq!(attempts[3]["status"], "pass");
    assert_eq!(attempts[3]["index"], 4);
    let go_run = &lines[5];
    assert_eq!(go_run["format"], "gotest");
    assert!(go_run.get("dialect").is_none());
}

#[test]
fn failure_records_use_the_field_names() {
    let out = ingest(&[
        &corpus("go-test-json/generated/go1.19-count3-flaky.jsonl"),
        &corpus("go-test-json/gotestsum/go-test-build-failed.jsonl"),
        &corpus("go-test-json/gotestsum/go-test-json-missing-test-fail.jsonl"),
        "--failures",
        "--run-meta",
        "builder=linux-amd64",
        "--run-meta",
        "url=https://ci.example/run/1",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    let records = lines(&out);
    assert_eq!(records.len(), 8 + 1 + 1);
    for (line, object) in text.lines().zip(&records) {
        for field in Field::ALL {
            assert!(
                object.contains_key(field.name()),
                "{} missing in {line}",
                field.name()
            );
        }
        let FailureRecord { record, extra } = parse_record(line).expect("eval can read it");
        assert_eq!(record.get(Field::Builder), "linux-amd64");
        assert_eq!(extra["url"], "https://ci.example/run/1");
    }
    let flaky: Vec<_> = records
        .iter()
        .filter(|r| r["test"] == "TestFlaky")
        .collect();
    assert_eq!(flaky.len(), 2);
    assert_eq!(flaky[0]["pkg"], "example.com/flakydemo");
    assert_eq!(flaky[0]["status"], "FAIL");
    assert_eq!(flaky[0]["mode"], "");
    assert_eq!(flaky[0]["verdict"], "flaky");
    assert_eq!(flaky[0]["attempt"], 1);
    assert_eq!(flaky[1]["attempt"], 3);
    assert!(
        flaky[0]["output"]
            .as_str()
            .unwrap()
            .contains("connection reset by peer (attempt 1)")
    );
    assert!(
        flaky[0]["snippet"]
            .as_str()
            .unwrap()
            .contains("--- FAIL: TestFlaky")
    );
    let build = records.iter().find(|r| r["mode"] == "build").unwrap();
    assert_eq!(build["pkg"], "example.com/internal/cacher");
    assert_eq!(build["test"], "");
    assert!(
        build["output"]
            .as_str()
            .unwrap()
            .contains("undefined: assert.foo")
    );
    let crash = records.iter().find(|r| r["status"] == "CRASH").unwrap();
    assert_eq!(crash["test"], "TestWaitOn_WithCompare");
    assert!(
        crash["output"]
            .as_str()
            .unwrap()
            .contains("panic: runtime error")
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("10 failure record(s)"));
}

#[test]
fn bad_inputs_are_reported_and_the_rest_still_read() {
    let dir = std::env::temp_dir().join(format!("flakewatch-ingest-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let broken = dir.join("broken.xml");
    std::fs::write(
        &broken,
        "<testsuites>\n<testsuite name=\"s\">\n<testcase name=\"t\">",
    )
    .unwrap();
    let out_file = dir.join("results.jsonl");
    let out = ingest(&[
        broken.to_str().unwrap(),
        &corpus("junit/jest/jest-junit.xml"),
        "--out",
        out_file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "flakewatch: {}:3:1: truncated XML: <testcase> opened here is never closed",
            broken.display()
        )),
        "{stderr}"
    );
    assert!(stderr.contains("1 input(s) could not be read"), "{stderr}");
    let written = std::fs::read_to_string(&out_file).unwrap();
    assert_eq!(written.lines().count(), 1 + 1 + 2);
    std::fs::remove_dir_all(&dir).unwrap();

    let out = ingest(&[&corpus("junit/jest/jest-junit.xml"), "--run-meta", "oops"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected KEY=VALUE"));
    let out = ingest(&[&corpus("junit/jest/jest-junit.xml"), "--format", "gotest"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no gotest records found"));
}

#[test]
fn format_can_be_forced_and_warnings_are_shown() {
    let out = ingest(&[
        &corpus("go-test-json/gotestsum/go-test-json-with-nonjson-stdout.jsonl"),
        "--format",
        "gotest",
    ]);
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("go-test-json-with-nonjson-stdout.jsonl:2: line is not JSON"),
        "{stderr}"
    );
    let out = ingest(&[
        &corpus("mozlog/generated/mochitest-errorsummary.log"),
        "--format",
        "mozlog",
        "--failures",
    ]);
    assert!(out.status.success());
    let records = lines(&out);
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["pkg"], "dom/base/test/mochitest.toml");
    assert_eq!(records[1]["status"], "TIMEOUT");
}

/// Many files are read on several threads and written in the order given, exactly as one
/// file at a time (a broken file in the middle is reported and the rest still read).
#[test]
fn many_files_come_out_in_the_order_given() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/corpus/junit");
    let mut files: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let sub = entry.unwrap().path();
        if sub.is_dir() {
            for file in std::fs::read_dir(&sub).unwrap() {
                let file = file.unwrap().path();
                if file.extension().is_some_and(|e| e == "xml") {
                    files.push(file.display().to_string());
                }
            }
        }
    }
    files.sort();
    files.truncate(24);
    assert!(files.len() >= 8, "only {} corpus files", files.len());
    // Twice over, with a file that does not exist in the middle.
    let mut args: Vec<String> = files.iter().chain(&files).cloned().collect();
    args.insert(files.len(), "/nonexistent/junit.xml".to_owned());
    let all = ingest(&args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(all.status.code(), Some(1), "one input could not be read");
    let stderr = String::from_utf8_lossy(&all.stderr);
    assert!(stderr.contains("/nonexistent/junit.xml"), "{stderr}");
    let mut one_by_one = Vec::new();
    for file in files.iter().chain(&files) {
        let out = ingest(&[file]);
        one_by_one.extend_from_slice(&out.stdout);
    }
    assert!(!one_by_one.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&all.stdout),
        String::from_utf8_lossy(&one_by_one)
    );
}

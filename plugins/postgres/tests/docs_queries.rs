//! The three queries of `docs/storage.md`, run as they are written there against runs the
//! plugin stored, with the answers worked out by hand.

mod common;

use flakewatch_plugin_sdk::Plugin;
use flakewatch_plugin_sdk::model::{AttemptResult, ResultsRun, StoreRunRequest, TestResult};

/// The SQL block that follows `<!-- query: NAME -->` in docs/storage.md.
fn query(name: &str) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/storage.md");
    let doc = std::fs::read_to_string(path).expect("docs/storage.md");
    let marker = format!("<!-- query: {name} -->\n```sql\n");
    let start = doc.find(&marker).expect("query marker") + marker.len();
    let end = start + doc[start..].find("```").expect("end of the block");
    doc[start..end].to_owned()
}

fn attempt(status: &str, failure: bool) -> AttemptResult {
    AttemptResult {
        status: status.to_owned(),
        failure,
        expected: !failure,
        ..AttemptResult::default()
    }
}

fn test(name: &str, attempts: Vec<AttemptResult>) -> TestResult {
    TestResult {
        suite: vec!["dom".to_owned()],
        classname: None,
        name: name.to_owned(),
        attempts,
    }
}

fn run(
    key: &str,
    revision: &str,
    suite: &str,
    chunk: u32,
    chunks: u32,
    tests: Vec<TestResult>,
) -> ResultsRun {
    ResultsRun {
        key: key.to_owned(),
        revision: Some(revision.to_owned()),
        suite: Some(suite.to_owned()),
        chunk: Some(chunk),
        chunks: Some(chunks),
        tests,
        ..ResultsRun::default()
    }
}

/// Revision `rev1`: mochitest in 3 chunks, of which chunk 1 ran twice (t2 failed, then
/// passed on the re-run), chunk 2 once (t4 failed, then passed on a retry) and chunk 3 never;
/// xpcshell in 2 chunks, both ran (chunk 2 with nothing passing). Revision `rev2` has a
/// flaky test of its own that must not show for `rev1`.
fn runs() -> Vec<ResultsRun> {
    let (pass, fail, skip) = (
        || attempt("pass", false),
        || attempt("fail", true),
        || attempt("skip", false),
    );
    vec![
        run(
            "a",
            "rev1",
            "mochitest",
            1,
            3,
            vec![
                test("t1", vec![pass()]),
                test("t2", vec![fail()]),
                test("t3", vec![skip()]),
            ],
        ),
        run(
            "b",
            "rev1",
            "mochitest",
            1,
            3,
            vec![test("t1", vec![pass()]), test("t2", vec![pass()])],
        ),
        run(
            "c",
            "rev1",
            "mochitest",
            2,
            3,
            vec![
                test("t4", vec![fail(), pass()]),
                test("t5", vec![pass()]),
                test("t6", vec![]),
            ],
        ),
        run(
            "d",
            "rev1",
            "xpcshell",
            1,
            2,
            vec![test("x1", vec![pass()])],
        ),
        run(
            "e",
            "rev1",
            "xpcshell",
            2,
            2,
            vec![test("x2", vec![fail()]), test("x3", vec![skip()])],
        ),
        run(
            "f",
            "rev2",
            "mochitest",
            1,
            3,
            vec![test("t1", vec![fail(), pass()])],
        ),
    ]
}

/// A row of query (c): revision, suite, chunk, suite path, name, executions, passed, failed,
/// mixed.
type FlakyRow = (String, String, i64, String, String, i64, i64, i64, i64);

#[test]
fn the_documented_queries_answer_as_worked_out_by_hand() {
    let Some(db) = common::fresh() else { return };
    let backend = db.backend(None);
    for run in runs() {
        assert!(backend.store_run(&StoreRunRequest { run }).unwrap().stored);
    }
    let mut client = db.client();

    let rows = client
        .query(&query("passed-per-chunk"), &[&"rev1"])
        .expect("query (a)");
    let got: Vec<(String, i64, i64)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    let want = [
        ("mochitest", 1, 2),
        ("mochitest", 2, 2),
        ("xpcshell", 1, 1),
        ("xpcshell", 2, 0),
    ];
    assert_eq!(got, want.map(|(s, c, n)| (s.to_owned(), c, n)));

    let rows = client
        .query(&query("chunks-per-suite"), &[&"rev1"])
        .expect("query (b)");
    let got: Vec<(String, i64, i32, Vec<i64>)> = rows
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
        .collect();
    assert_eq!(
        got,
        vec![
            ("mochitest".to_owned(), 3, 2, vec![3]),
            ("xpcshell".to_owned(), 2, 2, vec![]),
        ]
    );

    let rows = client
        .query(&query("flaky-per-chunk"), &[&"rev1"])
        .expect("query (c)");
    let got: Vec<FlakyRow> = rows
        .iter()
        .map(|r| {
            (
                r.get(0),
                r.get(1),
                r.get(2),
                r.get(3),
                r.get(4),
                r.get(5),
                r.get(6),
                r.get(7),
                r.get(8),
            )
        })
        .collect();
    let flaky = |chunk, name: &str, executions, passed, failed, mixed| {
        (
            "rev1".to_owned(),
            "mochitest".to_owned(),
            chunk,
            "[\"dom\"]".to_owned(),
            name.to_owned(),
            executions,
            passed,
            failed,
            mixed,
        )
    };
    // t2: failed in run a, passed in its re-run b; t4: failed then passed within run c.
    assert_eq!(
        got,
        vec![flaky(1, "t2", 2, 1, 1, 0), flaky(2, "t4", 1, 0, 0, 1)]
    );
}

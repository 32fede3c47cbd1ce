//! The workload shared by the `results_sqlite` and `results_postgres` benches: 1,000 runs ×
//! 1,000 tests, one attempt each (one million test results), generated run by run.
#![allow(clippy::print_stdout, reason = "a bench binary reports its figures")]

use std::time::{Duration, Instant};

use flakewatch_plugin_sdk::model::{AttemptResult, ResultsRun, TestResult};

pub(crate) const RUNS: usize = 1_000;
pub(crate) const TESTS: usize = 1_000;
pub(crate) const ROWS: usize = RUNS * TESTS;

/// Run `r` of the workload: 1,000 tests in 20 suites, 3 % failing with a message.
pub(crate) fn run(r: usize) -> ResultsRun {
    let tests = (0..TESTS)
        .map(|t| {
            let failed = (r * 31 + t * 17) % 100 < 3;
            TestResult {
                suite: vec![format!("suite-{}", t % 20), "group".to_owned()],
                classname: Some(format!("pkg.Class{}", t % 50)),
                name: format!("test_case_number_{t}"),
                attempts: vec![AttemptResult {
                    status: if failed { "fail" } else { "pass" }.to_owned(),
                    failure: failed,
                    expected: !failed,
                    raw_status: None,
                    duration: Some((t % 97) as f64 * 0.013),
                    message: failed
                        .then(|| format!("assertion failed at line {t}\nexpected 1, got 2\n")),
                    known_intermittent: Vec::new(),
                }],
            }
        })
        .collect();
    ResultsRun {
        key: format!("bench-run-{r}"),
        job: Some("bench-job".to_owned()),
        revision: Some(format!("rev-{}", r / 10)),
        suite: Some(format!("suite-{}", r % 7)),
        chunk: Some((r % 4) as u32 + 1),
        chunks: Some(4),
        started_at: Some(format!(
            "2025-06-{:02}T{:02}:{:02}:00Z",
            1 + r / 100,
            (r / 4) % 24,
            r % 60
        )),
        url: Some(format!("https://ci.example/runs/{r}")),
        source: "results.xml".to_owned(),
        format: "junit".to_owned(),
        properties: [("platform".to_owned(), "linux64".to_owned())].into(),
        scheduled: Vec::new(),
        tests,
    }
}

/// Stores every run through `store`, timing only the stores.
pub(crate) fn time_stores(mut store: impl FnMut(&ResultsRun)) -> Duration {
    let mut total = Duration::ZERO;
    for r in 0..RUNS {
        let run = run(r);
        let start = Instant::now();
        store(&run);
        total += start.elapsed();
    }
    total
}

pub(crate) fn report(what: &str, took: Duration) -> f64 {
    let rate = ROWS as f64 / took.as_secs_f64();
    println!(
        "{what:<58} {ROWS} rows in {:>7.2} s = {:>10.0} rows/s",
        took.as_secs_f64(),
        rate
    );
    rate
}

//! Storing one million test results (1,000 runs × 1,000 tests, one attempt each) into the
//! files backend's SQLite database through its Rust API, one `store_run` (one transaction) per
//! run. `cargo bench -p flakewatch-benches --bench results_sqlite`; one measured pass (a
//! throughput over a million rows: criterion's repetitions would only multiply the minutes).
//! `results_postgres` is the same workload on PostgreSQL (the two plugins cannot link into
//! one binary: each exports the plugin entry symbol).
#![allow(clippy::print_stdout, reason = "a bench binary reports its figures")]

mod results_common;

use flakewatch_plugin_files::FilesBackend;
use flakewatch_plugin_sdk::Plugin;
use flakewatch_plugin_sdk::model::StoreRunRequest;
use results_common::{ROWS, RUNS, TESTS, report, time_stores};

fn sqlite() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let files = FilesBackend::open_any(dir.path(), 100);
    let took = time_stores(|run| {
        let stored = files
            .store_run(&StoreRunRequest { run: run.clone() })
            .expect("store_run");
        assert!(stored.stored);
    });
    report("sqlite (files plugin, store_run per run)", took);
}

fn main() {
    // `cargo test --benches` runs bench binaries without `--bench`: do nothing then.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    println!("storing {RUNS} runs x {TESTS} tests = {ROWS} test results");
    sqlite();
}

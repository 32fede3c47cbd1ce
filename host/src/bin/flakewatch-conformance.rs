//! `flakewatch-conformance PATH...`: runs conformance case files (the format of
//! `testdata/watchflakes/cases.json`), prints one line per failing case with expected and
//! actual values, and ends with `N passed, M failed, K skipped`. Exits 1 on any failure.

use std::path::Path;
use std::process::ExitCode;

use flakewatch::conformance::{Report, run_file};

fn main() -> ExitCode {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() || paths.iter().any(|p| p == "-h" || p == "--help") {
        eprintln!("usage: flakewatch-conformance CASES.json...");
        return ExitCode::from(2);
    }
    let mut report = Report::default();
    for path in &paths {
        if let Err(err) = run_file(Path::new(path), &mut report) {
            eprintln!("flakewatch-conformance: {err}");
            return ExitCode::from(3);
        }
    }
    for (id, why) in &report.failed {
        println!("FAIL {id}: {why}");
    }
    if !report.skipped.is_empty() {
        let kinds: Vec<String> = report
            .skipped
            .iter()
            .map(|(kind, n)| format!("{kind} ({n})"))
            .collect();
        println!("skipped kinds: {}", kinds.join(", "));
    }
    println!("{}", report.summary());
    if report.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

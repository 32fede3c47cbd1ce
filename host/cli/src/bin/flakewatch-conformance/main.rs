//! `flakewatch-conformance PATH...`: runs conformance case files (the format of
//! `testdata/watchflakes/cases.json`), prints one line per failing case with expected and
//! actual values, and ends with `N passed, M failed, K skipped`. Exits 1 on any failure.
//!
//! One runner, many kinds: `lang` handles the rule-language kinds (`lex`, `parse`, `extract`,
//! `run`, the last on every engine), `pipeline` the triage kinds (`snippet`, `split_test_id`,
//! `coalesce`, `dashboard`, `new_issue`, `post_format`, `mentions`). A kind nobody handles is
//! reported as skipped.

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "the command line is the one place that prints"
)]

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use flakewatch_conformance::{Case, CaseFile, CaseFileError};
use serde_json::Value;

mod language_kinds;
mod triage_kinds;

/// The verdict on one case.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    /// Every field the case specifies matched.
    Pass,
    /// A field differed; the text names it with expected and actual values.
    Fail(String),
    /// No handler for this case kind.
    Skip,
}

/// Builds a failure message naming the field, the expected and the actual value.
fn mismatch(field: &str, expected: impl fmt::Debug, actual: impl fmt::Debug) -> Outcome {
    Outcome::Fail(format!("{field}: expected {expected:?}, got {actual:?}"))
}

/// Compares two values; a mismatch becomes `Err(Outcome::Fail)`, to chain with `?`.
fn expect_eq<T: PartialEq + fmt::Debug>(
    field: &str,
    expected: T,
    actual: T,
) -> Result<(), Outcome> {
    if expected == actual {
        Ok(())
    } else {
        Err(mismatch(field, expected, actual))
    }
}

/// Reads a string field of a case or of a value inside it, failing the case if it is missing.
fn str_field<'a>(case: &'a Value, name: &str) -> Result<&'a str, Outcome> {
    case.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| Outcome::Fail(format!("case has no string field {name:?}")))
}

/// The totals of a run over one or more case files.
#[derive(Debug, Default)]
struct Report {
    /// Cases that passed, per kind.
    passed: BTreeMap<String, usize>,
    /// Failing cases: (case id, explanation).
    failed: Vec<(String, String)>,
    /// Skipped cases per kind.
    skipped: BTreeMap<String, usize>,
}

impl Report {
    /// The closing line: `N passed, M failed, K skipped`.
    fn summary(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped",
            self.passed.values().sum::<usize>(),
            self.failed.len(),
            self.skipped.values().sum::<usize>()
        )
    }
}

/// Runs every case of one file and adds the outcomes to `report`.
fn run_file(path: &Path, report: &mut Report) -> Result<(), CaseFileError> {
    let file = CaseFile::load(path)?;
    for case in &file.cases {
        match check_case(case) {
            Outcome::Pass => *report.passed.entry(case.kind.clone()).or_default() += 1,
            Outcome::Fail(why) => report.failed.push((case.id.clone(), why)),
            Outcome::Skip => *report.skipped.entry(case.kind.clone()).or_default() += 1,
        }
    }
    Ok(())
}

/// Dispatches one case to the handler of its kind.
fn check_case(case: &Case) -> Outcome {
    let fields = Value::Object(case.fields.clone());
    let result = match case.kind.as_str() {
        "lex" => language_kinds::check_lex(&fields),
        "parse" => language_kinds::check_parse(&fields),
        "extract" => language_kinds::check_extract(&fields),
        "run" => language_kinds::check_run(&fields),
        other => match triage_kinds::check(other, &fields) {
            Some(result) => result,
            None => return Outcome::Skip,
        },
    };
    match result {
        Ok(()) => Outcome::Pass,
        Err(outcome) => outcome,
    }
}

fn main() -> ExitCode {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() || paths.iter().any(|p| p == "-h" || p == "--help") {
        let _ = writeln!(
            std::io::stderr(),
            "usage: flakewatch-conformance CASES.json..."
        );
        return ExitCode::from(2);
    }
    let mut report = Report::default();
    for path in &paths {
        if let Err(err) = run_file(Path::new(path), &mut report) {
            let _ = writeln!(std::io::stderr(), "flakewatch-conformance: {err}");
            return ExitCode::from(3);
        }
    }
    let mut out = std::io::stdout().lock();
    let mut lines: Vec<String> = report
        .failed
        .iter()
        .map(|(id, why)| format!("FAIL {id}: {why}"))
        .collect();
    if !report.skipped.is_empty() {
        let kinds: Vec<String> = report
            .skipped
            .iter()
            .map(|(kind, n)| format!("{kind} ({n})"))
            .collect();
        lines.push(format!("skipped kinds: {}", kinds.join(", ")));
    }
    lines.push(report.summary());
    // A closed pipe ends the output, not the verdict.
    for line in lines {
        if writeln!(out, "{line}").is_err() {
            break;
        }
    }
    if report.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every upstream vector passes, and every kind the file counts was run (none skipped).
    #[test]
    fn every_upstream_case_passes() {
        let file = CaseFile::upstream();
        let mut report = Report::default();
        run_file(&flakewatch_conformance::upstream_path(), &mut report).expect("runs");
        let failed: Vec<String> = report
            .failed
            .iter()
            .map(|(id, why)| format!("{id}: {why}"))
            .collect();
        assert!(
            failed.is_empty(),
            "{} failing:\n{}",
            failed.len(),
            failed.join("\n")
        );
        assert!(report.skipped.is_empty(), "skipped: {:?}", report.skipped);
        assert_eq!(report.passed, file.counts);
        assert_eq!(
            report.summary(),
            format!("{} passed, 0 failed, 0 skipped", file.cases.len())
        );
    }

    /// A case whose expectation is wrong fails with both values named.
    #[test]
    fn a_wrong_expectation_fails_naming_both_values() {
        let case: Case =
            serde_json::from_str(r#"{"id":"x","kind":"snippet","input":"a\n","output":"b\n"}"#)
                .expect("case");
        assert_eq!(
            check_case(&case),
            Outcome::Fail("output: expected \"b\\n\", got \"a\\n\"".to_owned())
        );
        let unknown: Case = serde_json::from_str(r#"{"id":"y","kind":"nope"}"#).expect("case");
        assert_eq!(check_case(&unknown), Outcome::Skip);
    }
}

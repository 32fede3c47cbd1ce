//! The conformance runner: executes case files in the format of `testdata/watchflakes/cases.json`
//! (vectors produced by the upstream Go implementation) and reports every disagreement.
//!
//! One runner, many kinds: `lang` handles the rule-language kinds (`lex`, `parse`, `extract`,
//! `run`), `pipeline` the triage kinds (`snippet`, `split_test_id`, `coalesce`, `dashboard`,
//! `new_issue`, `post_format`, `mentions`). A kind nobody handles is reported as skipped.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde_json::Value;

mod lang;
mod pipeline;

/// The verdict on one case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Every field the case specifies matched.
    Pass,
    /// A field differed; the text names it with expected and actual values.
    Fail(String),
    /// No handler for this case kind.
    Skip,
}

/// Builds a failure message naming the field, the expected and the actual value.
pub(crate) fn mismatch(field: &str, expected: impl fmt::Debug, actual: impl fmt::Debug) -> Outcome {
    Outcome::Fail(format!("{field}: expected {expected:?}, got {actual:?}"))
}

/// Compares two values; a mismatch becomes `Err(Outcome::Fail)`, to chain with `?`.
pub(crate) fn expect_eq<T: PartialEq + fmt::Debug>(
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

/// Reads a string field of a case, failing the case if it is missing.
pub(crate) fn str_field<'a>(case: &'a Value, name: &str) -> Result<&'a str, Outcome> {
    case.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| Outcome::Fail(format!("case has no string field {name:?}")))
}

/// The totals of a run over one or more case files.
#[derive(Debug, Default)]
pub struct Report {
    /// Cases that passed.
    pub passed: usize,
    /// Failing cases: (case id, explanation).
    pub failed: Vec<(String, String)>,
    /// Skipped cases per kind.
    pub skipped: BTreeMap<String, usize>,
}

impl Report {
    /// Total number of skipped cases.
    pub fn skipped_total(&self) -> usize {
        self.skipped.values().sum()
    }

    /// The closing line: `N passed, M failed, K skipped`.
    pub fn summary(&self) -> String {
        format!(
            "{} passed, {} failed, {} skipped",
            self.passed,
            self.failed.len(),
            self.skipped_total()
        )
    }
}

/// Errors reading a case file.
#[derive(Debug, thiserror::Error)]
pub enum CaseFileError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The case file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not JSON of the expected shape.
    #[error("{path}: {message}")]
    Format {
        /// The case file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// Runs every case of one file and adds the outcomes to `report`.
pub fn run_file(path: &Path, report: &mut Report) -> Result<(), CaseFileError> {
    let display = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|source| CaseFileError::Io {
        path: display.clone(),
        source,
    })?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| CaseFileError::Format {
        path: display.clone(),
        message: e.to_string(),
    })?;
    let cases =
        doc.get("cases")
            .and_then(Value::as_array)
            .ok_or_else(|| CaseFileError::Format {
                path: display.clone(),
                message: "no \"cases\" array".to_owned(),
            })?;
    for case in cases {
        let id = case.get("id").and_then(Value::as_str).unwrap_or("<no id>");
        let kind = case.get("kind").and_then(Value::as_str).unwrap_or("");
        match check_case(kind, case) {
            Outcome::Pass => report.passed += 1,
            Outcome::Fail(why) => report.failed.push((id.to_owned(), why)),
            Outcome::Skip => *report.skipped.entry(kind.to_owned()).or_default() += 1,
        }
    }
    Ok(())
}

/// Dispatches one case to the handler of its kind.
pub fn check_case(kind: &str, case: &Value) -> Outcome {
    let result = match kind {
        "lex" => lang::check_lex(case),
        "parse" => lang::check_parse(case),
        "extract" => lang::check_extract(case),
        "run" => lang::check_run(case),
        other => match pipeline::check(other, case) {
            Some(result) => result,
            None => return Outcome::Skip,
        },
    };
    match result {
        Ok(()) => Outcome::Pass,
        Err(outcome) => outcome,
    }
}

//! The one typed loader of the conformance vectors produced by the upstream Go watchflakes
//! (`testdata/watchflakes/cases.json`), for every crate's tests and for the
//! `flakewatch-conformance` runner.
//!
//! A [`CaseFile`] holds [`Case`]s: an id, a kind and the kind's fields. The kinds that several
//! crates test have typed views ([`Case::run`], [`Case::parse`]); the others are read field
//! by field. [`CaseFile::of_kind`] checks the file's own `counts`, so a loop over the cases
//! of a kind can never pass vacuously.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{Map, Value};

/// Why a case file could not be used.
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

/// A case file: every case, and how many of each kind it says it holds.
#[derive(Clone, Debug, Deserialize)]
pub struct CaseFile {
    /// What the file is.
    #[serde(default)]
    pub description: String,
    /// Cases per kind, as the generator counted them (absent in hand-written files).
    #[serde(default)]
    pub counts: BTreeMap<String, usize>,
    /// The cases, in file order.
    pub cases: Vec<Case>,
}

/// One conformance case.
#[derive(Clone, Debug, Deserialize)]
pub struct Case {
    /// Unique id, for messages.
    #[serde(default)]
    pub id: String,
    /// What is checked (`lex`, `parse`, `extract`, `run`, `snippet`, ...).
    pub kind: String,
    /// Where upstream the vector comes from.
    #[serde(default)]
    pub source: String,
    /// The kind's fields.
    #[serde(flatten)]
    pub fields: Map<String, Value>,
}

/// A `run` case: issues with scripts, and records with the assignment upstream made.
#[derive(Clone, Debug, Deserialize)]
pub struct RunCase {
    /// The issues, in the order upstream lists them.
    pub issues: Vec<RunIssue>,
    /// The records and their expected assignments.
    #[serde(default)]
    pub records: Vec<RunRecord>,
}

/// An issue of a [`RunCase`].
#[derive(Clone, Debug, Deserialize)]
pub struct RunIssue {
    /// Issue number.
    pub number: u64,
    /// Its `#!watchflakes` script.
    pub script: String,
}

/// A record of a [`RunCase`].
#[derive(Clone, Debug, Deserialize)]
pub struct RunRecord {
    /// Name for messages.
    #[serde(default)]
    pub name: String,
    /// Field values by field name (`""` is `output`).
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// The action upstream took (`skip`, `post`, `default`, `none`).
    pub want_action: String,
    /// The issues it went to.
    #[serde(default)]
    pub want_targets: Vec<u64>,
}

/// A `parse` case: a script, its diagnostics and rules, and records with the action taken.
#[derive(Clone, Debug, Deserialize)]
pub struct ParseCase {
    /// The script text.
    pub script: String,
    /// Every diagnostic as `script:LINE.COL: MSG`, when the case states them.
    #[serde(default)]
    pub errors: Option<Vec<String>>,
    /// The records and the script's action on each.
    #[serde(default)]
    pub records: Vec<ParseRecord>,
}

/// A record of a [`ParseCase`].
#[derive(Clone, Debug, Deserialize)]
pub struct ParseRecord {
    /// Name for messages.
    #[serde(default)]
    pub name: String,
    /// Field values by field name.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// The action of the script on this record (`none` when no rule matched).
    pub want: String,
}

impl Case {
    /// A field of the case.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.fields.get(name)
    }

    /// A string field of the case; the error names the field.
    pub fn str(&self, name: &str) -> Result<&str, String> {
        self.get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("case {} has no string field {name:?}", self.id))
    }

    /// The case as a `run` case; `None` for other kinds, an error when its fields are not
    /// of the `run` shape.
    pub fn run(&self) -> Option<Result<RunCase, String>> {
        (self.kind == "run").then(|| self.typed())
    }

    /// The case as a `parse` case; `None` for other kinds, an error when its fields are not
    /// of the `parse` shape.
    pub fn parse(&self) -> Option<Result<ParseCase, String>> {
        (self.kind == "parse").then(|| self.typed())
    }

    /// The whole case as the JSON object it was read from.
    pub fn to_value(&self) -> Value {
        let mut object = self.fields.clone();
        object.insert("id".to_owned(), Value::String(self.id.clone()));
        object.insert("kind".to_owned(), Value::String(self.kind.clone()));
        object.insert("source".to_owned(), Value::String(self.source.clone()));
        Value::Object(object)
    }

    fn typed<T: serde::de::DeserializeOwned>(&self) -> Result<T, String> {
        serde_json::from_value(Value::Object(self.fields.clone()))
            .map_err(|e| format!("case {}: {e}", self.id))
    }
}

impl CaseFile {
    /// Reads a case file.
    pub fn load(path: &Path) -> Result<CaseFile, CaseFileError> {
        let display = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| CaseFileError::Io {
            path: display.clone(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|e| CaseFileError::Format {
            path: display,
            message: e.to_string(),
        })
    }

    /// The upstream vectors of this repository, `testdata/watchflakes/cases.json`. Panics
    /// when they cannot be read: for tests.
    pub fn upstream() -> CaseFile {
        let path = upstream_path();
        CaseFile::load(&path).unwrap_or_else(|e| panic!("{e}"))
    }

    /// The cases of one kind. Panics (for tests) when the file holds none of that kind, or
    /// not as many as its `counts` say.
    pub fn of_kind(&self, kind: &str) -> Vec<&Case> {
        let cases: Vec<&Case> = self.cases.iter().filter(|c| c.kind == kind).collect();
        assert!(!cases.is_empty(), "no {kind} cases in the case file");
        if let Some(&count) = self.counts.get(kind) {
            assert_eq!(cases.len(), count, "{kind} cases against the file's counts");
        }
        cases
    }

    /// Every `run` case, typed. Panics (for tests) on a malformed one or when there is none.
    pub fn run_cases(&self) -> Vec<RunCase> {
        self.of_kind("run")
            .into_iter()
            .map(|c| c.typed().unwrap_or_else(|e| panic!("{e}")))
            .collect()
    }

    /// Every `parse` case, typed. Panics (for tests) on a malformed one or when there is none.
    pub fn parse_cases(&self) -> Vec<ParseCase> {
        self.of_kind("parse")
            .into_iter()
            .map(|c| c.typed().unwrap_or_else(|e| panic!("{e}")))
            .collect()
    }
}

/// Where the upstream vectors live: `testdata/watchflakes/cases.json` at the workspace root.
pub fn upstream_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/watchflakes/cases.json")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_upstream_file_loads_typed_and_counted() {
        let file = CaseFile::upstream();
        let total: usize = file.counts.values().sum();
        assert_eq!(file.cases.len(), total);
        let runs = file.run_cases();
        assert_eq!(runs.len(), 5);
        assert!(
            runs.iter()
                .all(|r| !r.issues.is_empty() && !r.records.is_empty())
        );
        let parses = file.parse_cases();
        assert_eq!(parses.len(), 127);
        assert!(parses.iter().any(|p| !p.records.is_empty()));
        assert!(file.cases.iter().all(|c| !c.id.is_empty()));
    }

    #[test]
    fn a_missing_field_is_named() {
        let case: Case = serde_json::from_str(r#"{"id":"x","kind":"lex","input":"a"}"#).unwrap();
        assert_eq!(case.str("input"), Ok("a"));
        assert_eq!(
            case.str("tokens"),
            Err("case x has no string field \"tokens\"".to_owned())
        );
        assert!(case.run().is_none());
    }
}

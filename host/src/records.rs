//! Reading failure records from JSON lines: one object per line, field names as keys, string
//! values. Unknown keys are kept aside (a build URL, a test ID); `""` is ignored (it is `output`).

use std::io::BufRead;

use flakewatch_dsl::{Field, Record};
use serde_json::{Map, Value};

/// A record line that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The stream failed.
    #[error("{file}: {source}")]
    Io {
        /// The input's name.
        file: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A line is not a JSON object of strings.
    #[error("{file}:{line}: {message}")]
    Invalid {
        /// The input's name.
        file: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
}

impl RecordError {
    /// Whether reading can go on after this error (a bad line, not a broken stream).
    pub fn is_recoverable(&self) -> bool {
        matches!(self, RecordError::Invalid { .. })
    }
}

/// A record with the extra keys of its line.
#[derive(Clone, Debug, Default)]
pub struct RecordLine {
    /// 1-based line number in the input.
    pub line: usize,
    /// The watchflakes fields.
    pub record: Record,
    /// Other string-valued keys (`url`, `test_id`, ...).
    pub extra: Map<String, Value>,
}

/// Parses one JSON line into a record.
pub fn parse_record(text: &str) -> Result<(Record, Map<String, Value>), String> {
    let value: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let Value::Object(object) = value else {
        return Err("expected a JSON object".to_owned());
    };
    let mut record = Record::new();
    let mut extra = Map::new();
    for (key, value) in object {
        match Field::from_name(&key) {
            Some(field) => match value {
                Value::String(s) => record.set(field, s),
                Value::Null => {}
                other => return Err(format!("field {key:?} must be a string, not {other}")),
            },
            None if key.is_empty() => {}
            None => {
                extra.insert(key, value);
            }
        }
    }
    Ok((record, extra))
}

/// Streams the records of a JSON-lines input; blank lines are skipped.
pub fn read_records<R: BufRead>(
    input: R,
    file: &str,
) -> impl Iterator<Item = Result<RecordLine, RecordError>> {
    let file = file.to_owned();
    input.lines().enumerate().filter_map(move |(i, line)| {
        let line_no = i + 1;
        let text = match line {
            Ok(text) => text,
            Err(source) => {
                return Some(Err(RecordError::Io {
                    file: file.clone(),
                    source,
                }));
            }
        };
        if text.trim().is_empty() {
            return None;
        }
        Some(
            parse_record(&text)
                .map(|(record, extra)| RecordLine {
                    line: line_no,
                    record,
                    extra,
                })
                .map_err(|message| RecordError::Invalid {
                    file: file.clone(),
                    line: line_no,
                    message,
                }),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_and_reports_bad_lines() {
        let input =
            "{\"pkg\":\"net\",\"url\":\"u\",\"\":\"ignored\"}\n\n{\"pkg\":1}\n{\"pkg\":\"x\"";
        let results: Vec<_> = read_records(input.as_bytes(), "in.jsonl").collect();
        assert_eq!(results.len(), 3);
        let first = results[0].as_ref().unwrap();
        assert_eq!(first.record.get(Field::Pkg), "net");
        assert_eq!(first.record.get(Field::Output), "");
        assert_eq!(first.extra["url"], "u");
        let second = results[1].as_ref().unwrap_err().to_string();
        assert!(
            second.starts_with("in.jsonl:3: field \"pkg\" must be a string"),
            "{second}"
        );
        let third = results[2].as_ref().unwrap_err().to_string();
        assert!(
            third.starts_with("in.jsonl:4: EOF while parsing"),
            "{third}"
        );
    }
}

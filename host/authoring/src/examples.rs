//! Examples in rules: failures an issue body says its script must and must not match.
//!
//! Anywhere in the body, after the script, a fenced (or indented) block whose first line is
//! `#!watchflakes-examples` lists one example per line:
//!
//! ```text
//! #!watchflakes-examples
//! # a comment
//! match   {"pkg": "net/http", "test": "TestFoo", "output": "i/o timeout"}
//! nomatch {"pkg": "net/http", "test": "TestBar"}
//! match   https://ci.chromium.org/b/8790000000000000001
//! ```
//!
//! A record is a JSON object with watchflakes' field names (`pkg`, `test`, `output`,
//! `builder`, `goos`, ...; absent fields are empty). A URL stands for the failures of that
//! build in the triage window (checked only where failures are at hand). `match` means some
//! rule of the script matches (its first matching rule gives the action); `nomatch` means no
//! rule does. Upstream ignores the block: it is not the script.

use flakewatch_dsl::Record;
use flakewatch_ingest::records::parse_record_fields;

/// The header line of an examples block.
pub const HEADER: &str = "#!watchflakes-examples";

/// What an example says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// The script must match.
    Match,
    /// The script must not match.
    NoMatch,
}

impl Expect {
    /// The keyword as written.
    pub fn keyword(self) -> &'static str {
        match self {
            Expect::Match => "match",
            Expect::NoMatch => "nomatch",
        }
    }
}

/// The failure an example names.
#[derive(Clone, Debug, PartialEq)]
pub enum Subject {
    /// A record written out.
    Record(Box<Record>),
    /// The failures of a build.
    Url(String),
}

/// One example.
#[derive(Clone, Debug, PartialEq)]
pub struct Example {
    /// The 1-based line in the issue body.
    pub line: usize,
    /// What it expects.
    pub expect: Expect,
    /// The failure.
    pub subject: Subject,
}

/// A line of the block that is not an example.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct ExampleError {
    /// The 1-based line in the issue body.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// The examples of an issue body: none when it has no examples block.
pub fn examples(body: &str) -> Vec<Result<Example, ExampleError>> {
    let body = body.replace("\r\n", "\n");
    let lines: Vec<&str> = body.lines().collect();
    let Some((first, block)) = find_block(&lines) else {
        return Vec::new();
    };
    block
        .iter()
        .enumerate()
        .filter_map(|(k, raw)| {
            let line = first + k + 1;
            let text = raw.trim();
            if text.is_empty() || text.starts_with('#') {
                return None;
            }
            Some(parse_line(line, text))
        })
        .collect()
}

/// The 1-based line of the block's header and the lines after it, up to the block's end.
fn find_block<'a>(lines: &[&'a str]) -> Option<(usize, Vec<&'a str>)> {
    for (i, line) in lines.iter().enumerate() {
        if line.trim() != HEADER {
            continue;
        }
        let indented = line.starts_with('\t') || line.starts_with("    ");
        let fenced = i > 0 && lines[i - 1].trim_start().starts_with("```");
        let rest = &lines[i + 1..];
        let end = if fenced {
            rest.iter()
                .position(|l| l.trim_start().starts_with("```"))
                .unwrap_or(rest.len())
        } else if indented {
            rest.iter()
                .position(|l| {
                    !(l.starts_with('\t') || l.starts_with("    ") || l.trim().is_empty())
                })
                .unwrap_or(rest.len())
        } else {
            continue;
        };
        return Some((i + 1, rest[..end].to_vec()));
    }
    None
}

fn parse_line(line: usize, text: &str) -> Result<Example, ExampleError> {
    let (word, rest) = text.split_once(char::is_whitespace).unwrap_or((text, ""));
    let expect = match word {
        "match" => Expect::Match,
        "nomatch" => Expect::NoMatch,
        other => {
            return Err(ExampleError {
                line,
                message: format!("expected `match` or `nomatch`, found {other:?}"),
            });
        }
    };
    let rest = rest.trim();
    let subject = if rest.starts_with('{') {
        Subject::Record(Box::new(parse_record_fields(rest).map_err(|e| {
            ExampleError {
                line,
                message: format!("the record: {e}"),
            }
        })?))
    } else if rest.starts_with("https://") || rest.starts_with("http://") {
        Subject::Url(rest.to_owned())
    } else {
        return Err(ExampleError {
            line,
            message: "expected a JSON record or a build URL after the keyword".to_owned(),
        });
    };
    Ok(Example {
        line,
        expect,
        subject,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use flakewatch_dsl::Field;

    #[test]
    fn a_fenced_block_after_the_script_is_read_line_by_line() {
        let body = "```\n#!watchflakes\npost <- pkg == \"x\"\n```\n\nprose\n\n```\n#!watchflakes-examples\n# why\nmatch {\"pkg\": \"x\"}\nnomatch   {\"pkg\": \"y\", \"test\": \"T\"}\nmatch https://ci.chromium.org/b/1\nmaybe {}\n```\n";
        let found = examples(body);
        assert_eq!(found.len(), 4);
        let first = found[0].as_ref().expect("example");
        assert_eq!((first.line, first.expect), (11, Expect::Match));
        match &first.subject {
            Subject::Record(r) => assert_eq!(r.get(Field::Pkg), "x"),
            Subject::Url(_) => panic!("a record"),
        }
        assert_eq!(found[1].as_ref().expect("example").expect, Expect::NoMatch);
        assert_eq!(
            found[2].as_ref().expect("example").subject,
            Subject::Url("https://ci.chromium.org/b/1".to_owned())
        );
        assert_eq!(
            found[3].as_ref().expect_err("bad line").to_string(),
            "line 14: expected `match` or `nomatch`, found \"maybe\""
        );
    }

    #[test]
    fn no_block_no_examples_and_a_bad_record_is_named() {
        assert!(examples("```\n#!watchflakes\npost <- pkg == \"x\"\n```\n").is_empty());
        let body = "    #!watchflakes-examples\n    match {\"pkg\": 3}\n";
        let found = examples(body);
        let err = found[0].as_ref().expect_err("bad record");
        assert_eq!(err.line, 2);
        assert!(err.message.starts_with("the record: "), "{err}");
    }
}

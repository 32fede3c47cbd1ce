//! Diagnostics as data: what went wrong ([`ErrorKind`], whose `Display` is upstream's exact
//! message) and where ([`Diagnostic`], with Go's `LINE.COL` where COL is a 1-based byte offset).

use std::fmt;

use crate::goregex;

/// Everything that can be wrong with a script. `Display` gives upstream's message verbatim,
/// except for the flakewatch-only limits, which upstream does not have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// A lone `&`, `|` or `=`.
    InvalidOperator(char),
    /// Any other unexpected character: its Go `%q` quoting and the character.
    InvalidCharacter(String, char),
    /// A backquoted regexp that runs into a newline.
    NewlineInRegexp,
    /// A backquoted regexp with no closing backquote.
    UnterminatedRegexp,
    /// A quoted string that runs into a newline.
    NewlineInString,
    /// A quoted string with no closing quote.
    UnterminatedString,
    /// A quoted string whose escapes do not decode.
    InvalidQuotedString,
    /// A `'`.
    SingleQuote,
    /// A token where the grammar does not allow it; the text names it (`identifier x`,
    /// `end of line`, `&&`, ...).
    Unexpected(String),
    /// A comparison on a name that is not a field.
    UnknownField(String),
    /// A comparison operator not followed by a quoted string.
    RequiresString(&'static str),
    /// `~` or `!~` not followed by a backquoted regexp.
    RequiresRegexp(&'static str),
    /// A regexp that Go's `regexp` package rejects.
    InvalidRegexp(goregex::Error),
    /// Something other than `)` where `)` is expected.
    MissingCloseParen,
    /// flakewatch limit: the script is larger than [`crate::limits::Limits::max_script_bytes`].
    ScriptTooLarge {
        /// The script's size in bytes.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// flakewatch limit: a rule has more operators than [`crate::limits::Limits::max_rule_operators`].
    RuleTooComplex {
        /// The limit.
        limit: usize,
    },
}

impl ErrorKind {
    /// A stable code for the diagnostic, documented in `docs/diagnostics.md`.
    pub fn code(&self) -> &'static str {
        match self {
            ErrorKind::InvalidOperator(_) | ErrorKind::InvalidCharacter(..) => "E0001",
            ErrorKind::NewlineInRegexp => "E0002",
            ErrorKind::UnterminatedRegexp => "E0003",
            ErrorKind::NewlineInString => "E0004",
            ErrorKind::UnterminatedString => "E0005",
            ErrorKind::InvalidQuotedString => "E0006",
            ErrorKind::SingleQuote => "E0007",
            ErrorKind::Unexpected(_) => "E0010",
            ErrorKind::UnknownField(_) => "E0011",
            ErrorKind::RequiresString(_) => "E0012",
            ErrorKind::RequiresRegexp(_) => "E0013",
            ErrorKind::InvalidRegexp(_) => "E0014",
            ErrorKind::MissingCloseParen => "E0015",
            ErrorKind::ScriptTooLarge { .. } => "L0001",
            ErrorKind::RuleTooComplex { .. } => "L0002",
        }
    }

    /// A hint for a person, shown by the rich renderer; `None` when the message says it all.
    pub fn help(&self) -> Option<String> {
        Some(match self {
            ErrorKind::InvalidOperator(c) => format!("operators are `&&`, `||` and `==`; a lone `{c}` is not one"),
            ErrorKind::InvalidCharacter(_, '\r') => "the script has Windows line endings (CRLF); use plain newlines".to_owned(),
            ErrorKind::InvalidCharacter(..) => "identifiers are ASCII letters, digits and `_`, and must not start with a digit".to_owned(),
            ErrorKind::NewlineInRegexp | ErrorKind::NewlineInString => "a rule continues on the next line only after `( && || == != ~ !~ ! <-`".to_owned(),
            ErrorKind::SingleQuote => "write strings in double quotes: \"text\"".to_owned(),
            ErrorKind::UnknownField(_) => format!(
                "fields are: {}",
                crate::Field::ALL.map(crate::Field::name).join(", ")
            ),
            ErrorKind::RequiresString(op) => format!("write `field {op} \"text\"`"),
            ErrorKind::RequiresRegexp(op) => format!("write `field {op} `regexp`` with backquotes"),
            ErrorKind::MissingCloseParen => "parentheses do not continue a rule onto the next line; end the line with `&&` or `||` instead".to_owned(),
            ErrorKind::InvalidRegexp(_) => "patterns use Go's RE2 syntax and are compiled as (?m) + pattern".to_owned(),
            _ => return None,
        })
    }

    /// Whether this is a flakewatch limit rather than an upstream error.
    pub fn is_limit(&self) -> bool {
        matches!(
            self,
            ErrorKind::ScriptTooLarge { .. } | ErrorKind::RuleTooComplex { .. }
        )
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorKind::InvalidOperator(c) => write!(f, "invalid syntax at {c}"),
            ErrorKind::InvalidCharacter(quoted, c) => {
                write!(f, "invalid syntax at {quoted} (U+{:04x})", u32::from(*c))
            }
            ErrorKind::NewlineInRegexp => f.write_str("newline in backquoted regexp"),
            ErrorKind::UnterminatedRegexp => f.write_str("unterminated backquoted regexp"),
            ErrorKind::NewlineInString => f.write_str("newline in quoted string"),
            ErrorKind::UnterminatedString => f.write_str("unterminated quoted string"),
            ErrorKind::InvalidQuotedString => f.write_str("invalid quoted string: invalid syntax"),
            ErrorKind::SingleQuote => f.write_str("single-quoted strings not allowed"),
            ErrorKind::Unexpected(what) => write!(f, "unexpected {what}"),
            ErrorKind::UnknownField(name) => write!(f, "unknown field {name}"),
            ErrorKind::RequiresString(op) => write!(f, "{op} requires quoted string"),
            ErrorKind::RequiresRegexp(op) => write!(f, "{op} requires backquoted regexp"),
            ErrorKind::InvalidRegexp(err) => write!(f, "invalid regexp: {err}"),
            ErrorKind::MissingCloseParen => f.write_str("missing close paren"),
            ErrorKind::ScriptTooLarge { size, limit } => {
                write!(f, "script too large: {size} bytes (limit {limit})")
            }
            ErrorKind::RuleTooComplex { limit } => {
                write!(f, "rule too complex: more than {limit} operators")
            }
        }
    }
}

/// One error in a script, located by byte offset and by Go's line and column.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// What went wrong.
    pub kind: ErrorKind,
    /// Byte offset in the script.
    pub offset: usize,
    /// Byte offset just past the offending token (at least `offset`).
    pub end: usize,
    /// 1-based line.
    pub line: usize,
    /// 1-based byte offset within the line (a tab counts 1, `é` counts 2).
    pub column: usize,
}

impl Diagnostic {
    /// Locates `kind` at byte `offset` of `src`.
    pub fn new(src: &str, offset: usize, kind: ErrorKind) -> Diagnostic {
        Diagnostic::at(kind, offset, position(src, offset))
    }

    /// Locates `kind` at byte `offset` of the text `lines` indexes.
    pub fn located(lines: &LineStarts, offset: usize, kind: ErrorKind) -> Diagnostic {
        Diagnostic::at(kind, offset, lines.position(offset))
    }

    fn at(kind: ErrorKind, offset: usize, (line, column): (usize, usize)) -> Diagnostic {
        Diagnostic {
            kind,
            offset,
            end: offset,
            line,
            column,
        }
    }

    /// The same diagnostic, covering the token up to byte `end`.
    pub fn ending_at(mut self, end: usize) -> Diagnostic {
        self.end = end.max(self.offset);
        self
    }

    /// Upstream's one-line form, `FILE:LINE.COL: MSG`.
    pub fn render_line(&self, file: &str) -> String {
        format!("{file}:{}.{}: {}", self.line, self.column, self.kind)
    }
}

impl fmt::Display for Diagnostic {
    /// The one-line form with upstream's file name for issue scripts, `script`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render_line("script"))
    }
}

/// Where each line of a text starts, to locate many diagnostics in one text in O(log n) each
/// (locating each by counting from the start made a script with many errors quadratic).
#[derive(Clone, Debug)]
pub struct LineStarts {
    starts: Vec<usize>,
    len: usize,
}

impl LineStarts {
    /// The line starts of `src`.
    pub fn new(src: &str) -> LineStarts {
        let mut starts = vec![0];
        starts.extend(
            src.bytes()
                .enumerate()
                .filter(|&(_, b)| b == b'\n')
                .map(|(i, _)| i + 1),
        );
        LineStarts {
            starts,
            len: src.len(),
        }
    }

    /// As [`position`]: 1-based line and 1-based byte column of `offset`.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.len);
        // The line starts at the last start at or before `offset`; a start equal to `offset`
        // after a newline belongs to the next line, as in `position`.
        let line = self.starts.partition_point(|&s| s <= offset);
        (line, offset - self.starts[line - 1] + 1)
    }
}

/// Go's position of byte `offset` in `src`: 1-based line, and 1-based byte column in that line.
pub fn position(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = &src.as_bytes()[..offset];
    let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    (line, offset - line_start + 1)
}

/// Joins diagnostics as upstream does for a whole script: one-line forms separated by `\n`.
pub fn join(diagnostics: &[Diagnostic]) -> String {
    diagnostics
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod line_tests {
    use super::*;

    #[test]
    fn line_starts_locate_like_counting_from_the_start() {
        for src in ["", "a", "\n", "ab\ncd\n\nef", "\n\nx"] {
            let lines = LineStarts::new(src);
            for offset in 0..=src.len() + 2 {
                assert_eq!(
                    lines.position(offset),
                    position(src, offset),
                    "{src:?} {offset}"
                );
            }
        }
    }
}

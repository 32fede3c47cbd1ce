//! Typed ingestion errors and warnings; every one names the file and, where it has one, the
//! line and column (1-based; columns count bytes).

use std::fmt;
use std::io;

use super::model::Format;

/// An input that could not be read. Each variant names the file; most name a position.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IngestError {
    /// The file could not be opened or read.
    #[error("{file}: cannot read: {source}")]
    Io {
        /// The input's name.
        file: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// The XML is not well-formed (quick-xml's diagnosis).
    #[error("{file}:{line}:{column}: malformed XML: {source}")]
    Xml {
        /// The input's name.
        file: String,
        /// Line of the markup at fault.
        line: u64,
        /// Column of the markup at fault.
        column: u64,
        /// quick-xml's error.
        #[source]
        source: quick_xml::Error,
    },
    /// The document ended while elements were still open (a truncated file).
    #[error("{file}:{line}:{column}: truncated XML: <{element}> opened here is never closed")]
    Unclosed {
        /// The input's name.
        file: String,
        /// Line of the open tag.
        line: u64,
        /// Column of the open tag.
        column: u64,
        /// The element left open (the outermost one).
        element: String,
    },
    /// Elements nest deeper than the limit.
    #[error("{file}:{line}:{column}: elements nested deeper than {limit}")]
    TooDeep {
        /// The input's name.
        file: String,
        /// Line of the element that went too deep.
        line: u64,
        /// Its column.
        column: u64,
        /// The limit.
        limit: usize,
    },
    /// A single XML token (one text run, tag or CDATA section) is longer than the limit.
    #[error("{file}:{line}:{column}: one XML token is longer than {limit} bytes")]
    TokenTooLarge {
        /// The input's name.
        file: String,
        /// Line where the token starts.
        line: u64,
        /// Its column.
        column: u64,
        /// The limit.
        limit: u64,
    },
    /// A line of a JSON-lines input is longer than the limit.
    #[error("{file}:{line}: line is longer than {limit} bytes")]
    LineTooLong {
        /// The input's name.
        file: String,
        /// The line.
        line: u64,
        /// The limit.
        limit: usize,
    },
    /// The input is in an encoding we do not read.
    #[error("{file}: {encoding} input is not supported; convert it to UTF-8")]
    UnsupportedEncoding {
        /// The input's name.
        file: String,
        /// The encoding seen (from the byte order mark).
        encoding: &'static str,
    },
    /// The XML root is not a JUnit element.
    #[error("{file}:{line}:{column}: root element <{found}> is not <testsuites> or <testsuite>")]
    NotJunit {
        /// The input's name.
        file: String,
        /// Line of the root element.
        line: u64,
        /// Its column.
        column: u64,
        /// The root element's name.
        found: String,
    },
    /// The input holds no data at all.
    #[error("{file}: empty input")]
    Empty {
        /// The input's name.
        file: String,
    },
    /// Format detection could not decide.
    #[error("{file}: cannot tell the format: {reason}; pass --format")]
    UnknownFormat {
        /// The input's name.
        file: String,
        /// What was seen.
        reason: &'static str,
    },
    /// The input has no record of the format it was read as.
    #[error("{file}: no {format} records found")]
    NoRecords {
        /// The input's name.
        file: String,
        /// The format asked for.
        format: Format,
    },
}

impl IngestError {
    /// The file the error is about.
    pub fn file(&self) -> &str {
        match self {
            IngestError::Io { file, .. }
            | IngestError::Xml { file, .. }
            | IngestError::Unclosed { file, .. }
            | IngestError::TooDeep { file, .. }
            | IngestError::TokenTooLarge { file, .. }
            | IngestError::LineTooLong { file, .. }
            | IngestError::UnsupportedEncoding { file, .. }
            | IngestError::NotJunit { file, .. }
            | IngestError::Empty { file }
            | IngestError::UnknownFormat { file, .. }
            | IngestError::NoRecords { file, .. } => file,
        }
    }
}

/// A problem the reader recovered from.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WarningKind {
    /// Bytes that are not UTF-8 were replaced by U+FFFD.
    #[error("invalid UTF-8 replaced by U+FFFD")]
    InvalidUtf8,
    /// An entity reference other than the five XML ones; kept as literal text.
    #[error("unknown entity `&{0};` kept as text")]
    UnknownEntity(String),
    /// A character reference to a character that cannot exist; replaced by U+FFFD.
    #[error("invalid character reference `&{0};` replaced by U+FFFD")]
    InvalidCharRef(String),
    /// A numeric attribute that does not parse; ignored.
    #[error("{attribute}=\"{value}\" is not a number; ignored")]
    BadNumber {
        /// The attribute or field.
        attribute: &'static str,
        /// Its value (cut to 64 bytes).
        value: String,
    },
    /// A numeric attribute that is negative (a duration cannot be); ignored.
    #[error("{attribute}=\"{value}\" is negative; ignored")]
    NegativeNumber {
        /// The attribute or field.
        attribute: &'static str,
        /// Its value (cut to 64 bytes).
        value: String,
    },
    /// Attributes of a tag that do not parse; the rest of the tag's attributes are ignored.
    #[error("malformed attributes in <{0}>; rest of the tag ignored")]
    BadAttributes(String),
    /// A text longer than the limit was cut, keeping its start and end.
    #[error("text of {0} bytes cut to the size limit")]
    Truncated(usize),
    /// A line that is not JSON, kept as log text.
    #[error("line is not JSON; kept as log text")]
    NonJson,
    /// A JSON line that is not a record of the format; skipped.
    #[error("line is not a {0} record; skipped")]
    NotARecord(Format),
    /// A test that never got its terminal event.
    #[error("test {0} never finished; counted as crashed")]
    Unfinished(String),
    /// An event for a test that was never started; a start was assumed.
    #[error("event for test {0} that was not started")]
    NotStarted(String),
    /// The input ended in the middle of a line.
    #[error("input ends in the middle of a line")]
    PartialLastLine,
}

/// A recovered problem at a position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// 1-based line.
    pub line: u64,
    /// 1-based byte column, 0 when unknown.
    pub column: u64,
    /// What happened.
    pub kind: WarningKind,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.column > 0 {
            write!(f, "{}:{}: {}", self.line, self.column, self.kind)
        } else {
            write!(f, "{}: {}", self.line, self.kind)
        }
    }
}

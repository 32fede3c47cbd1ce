//! Go's regexp syntax (RE2, `regexp/syntax`, Go 1.25): validation with Go's exact errors and
//! translation into `regex-syntax` HIR that matches what Go matches.
//!
//! [`parse`] accepts exactly what Go's `regexp.Compile` accepts and fails with Go's error text
//! otherwise. It mirrors Go's parser closely because Go's limits on size and
//! nesting depend on the shape of Go's own parse tree. The tree is then lowered to HIR: Perl
//! classes and `\b` are ASCII, `(?m)` anchors are line anchors at `\n`, `$` without `(?m)`
//! is the end of text, and `(?i)` uses Unicode simple case folding. Unicode classes use the
//! Unicode 15.0 data of Go 1.25.
//!
//! Go's quirks are kept on purpose: multi-word script names (`\p{Old_Italic}`) are rejected,
//! as Go 1.25 looks them up by a canonical name its tables do not use; and Go's alternation
//! factoring compares leading literals without their `(?i)` flag, so `A\d|(?i:a)\d` does not
//! match `a1`.
//!
//! Some patterns Go accepts (`\pL{1000}`) need a larger NFA than `regex-automata`'s default
//! size limit allows; callers choose that limit.

use regex_syntax::hir::Hir;

mod lower;
mod parser;
mod tables;
#[cfg(test)]
mod tests;

/// Parses Go regexp source (callers pass `"(?m)"` + pattern text) into HIR.
///
/// The HIR only contains UTF-8 classes and literals, has no capture groups, and matches (in
/// an unanchored search) exactly the texts Go's `regexp.MatchString` matches.
pub fn parse(source: &str) -> Result<Hir, Error> {
    let tree = parser::parse_tree(source, parser::flags::PERL)?;
    Ok(lower::lower(&tree))
}

/// Parses a script's regexp: `parse("(?m)" + pattern)`, scripts' multi-line mode. Plain text
/// (no metacharacter, as most patterns are) is the literal it spells without a parse.
pub fn parse_pattern(pattern: &str) -> Result<Hir, Error> {
    if is_plain(pattern) {
        return Ok(Hir::literal(pattern.as_bytes()));
    }
    parse(&format!("(?m){pattern}"))
}

/// Longest text [`parse_pattern`] takes as plain without parsing (far below Go's limits).
const MAX_PLAIN: usize = 4096;

/// Whether Go's parser reads all of `pattern` as literal characters: non-empty, not too
/// long, and without a byte Go's syntax gives a meaning (`}` and `]` alone are literals in
/// Go, but are left to the parser).
pub(crate) fn is_plain(pattern: &str) -> bool {
    !pattern.is_empty()
        && pattern.len() <= MAX_PLAIN
        && !pattern.bytes().any(|b| {
            matches!(
                b,
                b'\\'
                    | b'.'
                    | b'+'
                    | b'*'
                    | b'?'
                    | b'('
                    | b')'
                    | b'|'
                    | b'['
                    | b']'
                    | b'{'
                    | b'}'
                    | b'^'
                    | b'$'
            )
        })
}

/// A Go regexp syntax error.
///
/// Its `Display` is exactly Go's `*syntax.Error` text:
/// ``error parsing regexp: CODE: `EXPR` ``.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("error parsing regexp: {code}: `{expr}`")]
pub struct Error {
    /// What went wrong.
    pub code: ErrorCode,
    /// The fragment of the source Go reports.
    pub expr: String,
}

/// Go's `syntax.ErrorCode`: the kind of a regexp syntax error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ErrorCode {
    /// An unexpected internal error.
    #[error("regexp/syntax: internal error")]
    InternalError,
    /// An invalid character class.
    #[error("invalid character class")]
    InvalidCharClass,
    /// An invalid character class range.
    #[error("invalid character class range")]
    InvalidCharRange,
    /// An invalid escape sequence.
    #[error("invalid escape sequence")]
    InvalidEscape,
    /// An invalid named capture.
    #[error("invalid named capture")]
    InvalidNamedCapture,
    /// Invalid or unsupported Perl syntax.
    #[error("invalid or unsupported Perl syntax")]
    InvalidPerlOp,
    /// An invalid nested repetition operator.
    #[error("invalid nested repetition operator")]
    InvalidRepeatOp,
    /// An invalid repeat count.
    #[error("invalid repeat count")]
    InvalidRepeatSize,
    /// Invalid UTF-8.
    #[error("invalid UTF-8")]
    InvalidUtf8,
    /// A missing closing `]`.
    #[error("missing closing ]")]
    MissingBracket,
    /// A missing closing `)`.
    #[error("missing closing )")]
    MissingParen,
    /// A repetition operator without an argument.
    #[error("missing argument to repetition operator")]
    MissingRepeatArgument,
    /// A trailing backslash.
    #[error("trailing backslash at end of expression")]
    TrailingBackslash,
    /// An unexpected `)`.
    #[error("unexpected )")]
    UnexpectedParen,
    /// The expression nests too deeply.
    #[error("expression nests too deeply")]
    NestingDepth,
    /// The expression is too large.
    #[error("expression too large")]
    Large,
}

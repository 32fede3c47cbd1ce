//! SQL pushdown: a whole watchflakes pattern set, compiled from its IR into one SQL query that
//! assigns every failure of a table exactly as the engines do (`skip` wins, every `post`, the
//! first `default`, else a new issue), so that the assignment of billions of historical
//! failures runs inside the warehouse (`docs/sql.md`).
//!
//! [`compile`] takes a [`PatternSet`] and [`Options`] and returns the query text. Regexps are
//! written from their parsed form (the `regex` module); every literal goes through
//! the dialect's escaping ([`dialect`]). The query's size is linear in the pattern set: each
//! rule's expression is written once, each issue's decision once.
#![forbid(unsafe_code)]

pub mod dialect;
mod query;
mod regex;

use std::fmt;

use flakewatch_dsl::PatternSet;

pub use dialect::{ColumnName, Dialect, NameError, TableName};

/// A construct a dialect cannot express with the same meaning, so the rule using it is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Unsupported {
    /// A repetition bound PostgreSQL does not accept (its limit is 255; Go's is 1000).
    #[error("repetition count {0} (PostgreSQL allows at most 255)")]
    RepeatCount(u32),
    /// A NUL character: PostgreSQL text cannot hold one.
    #[error("a NUL character (PostgreSQL text cannot hold one)")]
    NulInText,
    /// A character class that matches no character, inside a regexp that can match.
    #[error("a character class that matches no character")]
    EmptyClass,
    /// An assertion the Go parser does not make (only `^ $ \A \z \b \B` are written).
    #[error("the assertion {0}")]
    Assertion(String),
    /// A byte class reaching beyond ASCII (the Go parser makes none).
    #[error("a byte class beyond ASCII")]
    ByteClass,
    /// A literal that is not UTF-8 (the Go parser makes none).
    #[error("a literal that is not UTF-8")]
    NonUtf8Literal,
}

/// Where a refused construct is: which issue, which rule, which part of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    /// The issue number.
    pub issue: u64,
    /// The rule, 1-based, in the issue's script.
    pub rule: usize,
    /// What the construct is in: a regexp's source text (without `(?m)`), or a field
    /// comparison.
    pub context: RefusalContext,
    /// The construct.
    pub construct: Unsupported,
}

/// The part of a rule a refusal is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RefusalContext {
    /// The regexp with this source text, searched in this field.
    Regex {
        /// The field searched.
        field: &'static str,
        /// The pattern as written.
        pattern: String,
    },
    /// A comparison of this field with a literal.
    Comparison {
        /// The field compared.
        field: &'static str,
    },
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "issue #{}, rule {}: ", self.issue, self.rule)?;
        match &self.context {
            RefusalContext::Regex { field, pattern } => {
                write!(f, "{field} ~ `{pattern}`")?;
            }
            RefusalContext::Comparison { field } => write!(f, "the literal compared with {field}")?,
        }
        write!(f, " has {}", self.construct)
    }
}

/// What went wrong compiling a pattern set to SQL.
#[derive(Debug, thiserror::Error)]
pub enum SqlError {
    /// Rules use constructs the dialect cannot express with the same meaning.
    #[error(
        "{} rule(s) cannot be written in {dialect} with the same meaning:\n{}",
        refusals.len(),
        refusals.iter().map(|r| format!("  {r}")).collect::<Vec<_>>().join("\n")
    )]
    Refused {
        /// The dialect.
        dialect: Dialect,
        /// Every refused rule (the first refused construct of each).
        refusals: Vec<Refusal>,
    },
    /// An issue number larger than a signed 64-bit integer.
    #[error("issue number {0} does not fit a signed 64-bit integer")]
    IssueNumber(u64),
}

/// What to write.
#[derive(Clone, Debug)]
pub struct Options {
    /// The dialect.
    pub dialect: Dialect,
    /// The table of failure records.
    pub table: TableName,
    /// The column that identifies a failure (a line number, a row id); the output carries it.
    pub key: ColumnName,
    /// Leave out every issue with a refused rule (it then never matches) instead of failing.
    pub omit_refused: bool,
}

/// A query and what went into it.
#[derive(Clone, Debug)]
pub struct Compiled {
    /// The query: one `SELECT` statement, without a trailing `;`, so that it can be wrapped
    /// (`CREATE TABLE … AS`, `INSERT … SELECT`, an outer `ORDER BY`).
    pub sql: String,
    /// The columns the query reads, besides the key (the fields some rule reads).
    pub fields: Vec<&'static str>,
    /// Issues whose scripts decide something (a rule with `post`, `default` or `skip`).
    pub acting_issues: usize,
    /// With [`Options::omit_refused`]: the refused rules, whose issues were left out.
    pub refused: Vec<Refusal>,
}

impl Compiled {
    /// The issue numbers left out, ascending, without repeats.
    pub fn omitted_issues(&self) -> Vec<u64> {
        let mut issues: Vec<u64> = self.refused.iter().map(|r| r.issue).collect();
        issues.sort_unstable();
        issues.dedup();
        issues
    }
}

/// Compiles `set` (issues in assignment order, as the engines take it) into one query over
/// `options.table`.
pub fn compile(set: &PatternSet, options: &Options) -> Result<Compiled, SqlError> {
    query::build(set, options)
}

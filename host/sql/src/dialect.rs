//! The SQL dialects: how each writes identifiers, string literals and the few functions the
//! query uses. Every piece of user text that reaches the query goes through this module.

use std::fmt::{self, Write};

use crate::Unsupported;

/// A SQL dialect the compiler writes.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// GoogleSQL (BigQuery): `REGEXP_CONTAINS` (RE2), backquoted identifiers.
    BigQuery,
    /// DuckDB: `regexp_matches` (RE2), double-quoted identifiers.
    DuckDb,
    /// PostgreSQL: `~` (Spencer's ARE, not RE2: only provably identical regexps translate),
    /// `COLLATE "C"` comparisons.
    Postgres,
}

impl Dialect {
    /// Every dialect, in the order the command line lists them.
    pub const ALL: [Dialect; 3] = [Dialect::BigQuery, Dialect::DuckDb, Dialect::Postgres];

    /// The name used on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            Dialect::BigQuery => "bigquery",
            Dialect::DuckDb => "duckdb",
            Dialect::Postgres => "postgres",
        }
    }

    /// Looks a dialect up by its command-line name.
    pub fn from_name(name: &str) -> Option<Dialect> {
        Dialect::ALL.into_iter().find(|d| d.name() == name)
    }

    /// Writes `name` (already checked to be a plain identifier) as a quoted identifier.
    pub(crate) fn ident(self, name: &str) -> String {
        match self {
            Dialect::BigQuery => format!("`{name}`"),
            Dialect::DuckDb | Dialect::Postgres => format!("\"{name}\""),
        }
    }

    /// The 64-bit integer type.
    pub(crate) fn int_type(self) -> &'static str {
        match self {
            Dialect::BigQuery => "INT64",
            Dialect::DuckDb | Dialect::Postgres => "BIGINT",
        }
    }

    /// A string literal holding exactly `text`, or why this dialect cannot hold it.
    ///
    /// * DuckDB: `'…'` with `'` doubled (backslashes are not special); control characters
    ///   as `chr(N)` concatenated, so the query text has no raw control character.
    /// * PostgreSQL: `E'…'` (independent of `standard_conforming_strings`), `\\`, `\'`,
    ///   and every character outside printable ASCII as `\uXXXX`/`\UXXXXXXXX` (the database
    ///   encoding must be UTF-8). A NUL cannot be in PostgreSQL text at all: refused.
    /// * BigQuery: `'…'` with `\\` and `\'`, control characters as `\n`, `\t`, `\r` or
    ///   `\xHH`; other characters as they are (the query is UTF-8).
    pub(crate) fn string(self, text: &str) -> Result<String, Unsupported> {
        let mut out = String::with_capacity(text.len() + 2);
        match self {
            Dialect::DuckDb => {
                let mut open = false;
                let mut pieces = 0usize;
                for c in text.chars() {
                    if c.is_ascii_control() {
                        if open {
                            out.push('\'');
                            open = false;
                        }
                        if pieces > 0 {
                            out.push_str(" || ");
                        }
                        write!(out, "chr({})", c as u32).expect("writing to a String");
                        pieces += 1;
                        continue;
                    }
                    if !open {
                        if pieces > 0 {
                            out.push_str(" || ");
                        }
                        out.push('\'');
                        open = true;
                        pieces += 1;
                    }
                    if c == '\'' {
                        out.push_str("''");
                    } else {
                        out.push(c);
                    }
                }
                if open {
                    out.push('\'');
                }
                if pieces == 0 {
                    out.push_str("''");
                } else if pieces > 1 {
                    out = format!("({out})");
                }
            }
            Dialect::Postgres => {
                out.push_str("E'");
                for c in text.chars() {
                    match c {
                        '\0' => return Err(Unsupported::NulInText),
                        '\\' => out.push_str("\\\\"),
                        '\'' => out.push_str("\\'"),
                        ' '..='~' => out.push(c),
                        _ => push_pg_escape(&mut out, c),
                    }
                }
                out.push('\'');
            }
            Dialect::BigQuery => {
                out.push('\'');
                for c in text.chars() {
                    match c {
                        '\\' => out.push_str("\\\\"),
                        '\'' => out.push_str("\\'"),
                        '\n' => out.push_str("\\n"),
                        '\t' => out.push_str("\\t"),
                        '\r' => out.push_str("\\r"),
                        c if c.is_ascii_control() => {
                            write!(out, "\\x{:02x}", c as u32).expect("writing to a String");
                        }
                        c => out.push(c),
                    }
                }
                out.push('\'');
            }
        }
        Ok(out)
    }
}

/// `\uXXXX` or `\UXXXXXXXX`: PostgreSQL's escape for one character, in `E''` strings and in
/// regexps alike.
pub(crate) fn push_pg_escape(out: &mut String, c: char) {
    let code = c as u32;
    if code <= 0xFFFF {
        write!(out, "\\u{code:04X}").expect("writing to a String");
    } else {
        write!(out, "\\U{code:08X}").expect("writing to a String");
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A table name, checked: dot-separated parts of ASCII letters, digits, `_` and `-` (BigQuery
/// project IDs have dashes), each quoted as an identifier in the query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableName {
    parts: Vec<String>,
}

/// A name the query cannot use as given.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{what} {name:?}: {reason}")]
pub struct NameError {
    /// What the name is for (`table`, `key column`).
    pub what: &'static str,
    /// The name as given.
    pub name: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl TableName {
    /// Checks `name` (`table`, `schema.table`, `project.dataset.table`).
    pub fn parse(name: &str) -> Result<TableName, NameError> {
        let error = |reason| NameError {
            what: "table",
            name: name.to_owned(),
            reason,
        };
        let parts: Vec<String> = name.split('.').map(str::to_owned).collect();
        if parts.len() > 3 {
            return Err(error("at most three dot-separated parts"));
        }
        for part in &parts {
            if part.is_empty() {
                return Err(error("an empty part"));
            }
            if part.len() > 128 {
                return Err(error("a part longer than 128 bytes"));
            }
            if !part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            {
                return Err(error(
                    "only ASCII letters, digits, '_' and '-' are allowed in each part",
                ));
            }
        }
        Ok(TableName { parts })
    }

    /// The name as the dialect writes it: one backquoted path in BigQuery, each part
    /// double-quoted elsewhere.
    pub(crate) fn quoted(&self, dialect: Dialect) -> String {
        match dialect {
            Dialect::BigQuery => dialect.ident(&self.parts.join(".")),
            Dialect::DuckDb | Dialect::Postgres => self
                .parts
                .iter()
                .map(|p| dialect.ident(p))
                .collect::<Vec<_>>()
                .join("."),
        }
    }
}

/// A column name, checked: an ASCII letter or `_`, then letters, digits and `_`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnName(String);

impl ColumnName {
    /// Checks `name`.
    pub fn parse(name: &str) -> Result<ColumnName, NameError> {
        let ok = name.len() <= 128
            && name
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if ok {
            Ok(ColumnName(name.to_owned()))
        } else {
            Err(NameError {
                what: "key column",
                name: name.to_owned(),
                reason: "expected an ASCII letter or '_' followed by letters, digits and '_'",
            })
        }
    }

    /// The name as the dialect quotes it.
    pub(crate) fn quoted(&self, dialect: Dialect) -> String {
        dialect.ident(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_escape_every_special_character() {
        let text = "it's a \\ back\nslash é \u{1F600}\u{7}";
        assert_eq!(
            Dialect::DuckDb.string(text).unwrap(),
            "('it''s a \\ back' || chr(10) || 'slash é \u{1F600}' || chr(7))"
        );
        assert_eq!(
            Dialect::Postgres.string(text).unwrap(),
            "E'it\\'s a \\\\ back\\u000Aslash \\u00E9 \\U0001F600\\u0007'"
        );
        assert_eq!(
            Dialect::BigQuery.string(text).unwrap(),
            "'it\\'s a \\\\ back\\nslash é \u{1F600}\\x07'"
        );
        for dialect in Dialect::ALL {
            let empty = dialect.string("").unwrap();
            assert!(empty == "''" || empty == "E''", "{dialect}: {empty}");
        }
        assert_eq!(Dialect::DuckDb.string("\0").unwrap(), "chr(0)");
        assert_eq!(Dialect::Postgres.string("a\0"), Err(Unsupported::NulInText));
    }

    #[test]
    fn names_are_checked_and_quoted() {
        let t = TableName::parse("my-proj.ci.failures").unwrap();
        assert_eq!(t.quoted(Dialect::BigQuery), "`my-proj.ci.failures`");
        assert_eq!(
            t.quoted(Dialect::Postgres),
            "\"my-proj\".\"ci\".\"failures\""
        );
        for bad in ["", "a..b", "a.b.c.d", "x\"y", "t`", "a b", "é"] {
            assert!(TableName::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            ColumnName::parse("line").unwrap().quoted(Dialect::BigQuery),
            "`line`"
        );
        assert!(ColumnName::parse("1x").is_err());
        assert!(ColumnName::parse("a\"b").is_err());
    }
}

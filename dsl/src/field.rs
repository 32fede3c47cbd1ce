//! The one schema of a failure record: the `Field` enum and the `Record` it indexes.
//!
//! The parser's field check, the record type, the JIT's field slots and the plugins' encoding
//! all derive from [`Field::ALL`]; there is no second list.

use std::fmt;

/// A field of a failure record, as named in watchflakes scripts.
///
/// The bare-regexp form (`` `text` `` with no field) reads [`Field::Output`]: upstream keeps a
/// separate `""` field that always holds the same text as `output`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Field {
    /// all.bash section; accepted by the parser, never set by watchflakes.
    Section,
    /// Go package path (`net/http`), empty for a build failure.
    Pkg,
    /// Test name including subtests (`TestFoo/sub`), empty for a package-level failure.
    Test,
    /// `build` for the dummy build failure, otherwise empty.
    Mode,
    /// The test's output (also what a bare regexp searches).
    Output,
    /// The interesting lines of the output, or of the log.
    Snippet,
    /// Commit time, RFC 3339 in UTC.
    Date,
    /// Builder name.
    Builder,
    /// Repository (`go`, `tools`, ...).
    Repo,
    /// Target operating system.
    Goos,
    /// Target architecture.
    Goarch,
    /// The whole build log (can be megabytes).
    Log,
    /// ResultDB status name (`FAIL`, `CRASH`, ...).
    Status,
}

impl Field {
    /// Number of fields, and so of slots in a [`Record`].
    pub const COUNT: usize = 13;

    /// Every field, in upstream's order (`section pkg test mode output snippet date builder repo
    /// goos goarch log status`). `ALL[f.index()] == f`.
    pub const ALL: [Field; Field::COUNT] = [
        Field::Section,
        Field::Pkg,
        Field::Test,
        Field::Mode,
        Field::Output,
        Field::Snippet,
        Field::Date,
        Field::Builder,
        Field::Repo,
        Field::Goos,
        Field::Goarch,
        Field::Log,
        Field::Status,
    ];

    /// The name scripts and records use.
    pub const fn name(self) -> &'static str {
        match self {
            Field::Section => "section",
            Field::Pkg => "pkg",
            Field::Test => "test",
            Field::Mode => "mode",
            Field::Output => "output",
            Field::Snippet => "snippet",
            Field::Date => "date",
            Field::Builder => "builder",
            Field::Repo => "repo",
            Field::Goos => "goos",
            Field::Goarch => "goarch",
            Field::Log => "log",
            Field::Status => "status",
        }
    }

    /// Looks a field up by its exact (case-sensitive) name.
    pub fn from_name(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The field's slot number, `0..Field::COUNT`.
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A failure record: one string per [`Field`]; a field never set reads as `""`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Record {
    values: [String; Field::COUNT],
}

impl Record {
    /// An empty record (every field `""`).
    pub fn new() -> Record {
        Record::default()
    }

    /// The value of `field`.
    pub fn get(&self, field: Field) -> &str {
        &self.values[field.index()]
    }

    /// Sets `field` to `value`.
    pub fn set(&mut self, field: Field, value: impl Into<String>) {
        self.values[field.index()] = value.into();
    }

    /// The value of `field`, to change in place (a reader that reuses one record for many
    /// lines keeps the strings' memory).
    pub fn value_mut(&mut self, field: Field) -> &mut String {
        &mut self.values[field.index()]
    }

    /// Builds a record from `(name, value)` pairs. Names that are not fields (including the
    /// internal `""`, which always equals `output`) are ignored.
    pub fn from_pairs<'a, I>(pairs: I) -> Record
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut record = Record::new();
        for (name, value) in pairs {
            if let Some(field) = Field::from_name(name) {
                record.set(field, value);
            }
        }
        record
    }

    /// Iterates over `(field, value)` for every field, set or not.
    pub fn iter(&self) -> impl Iterator<Item = (Field, &str)> {
        Field::ALL.into_iter().map(|f| (f, self.get(f)))
    }
}

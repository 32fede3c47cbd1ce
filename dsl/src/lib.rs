//! The watchflakes rule language, exactly as Go's watchflakes defines it.
//!
//! Pipeline: text → [`lexer`] tokens → LALRPOP grammar ([`parser`]) → [`ast`] with spans →
//! [`ir`] for a whole pattern set → [`interp`], the reference interpreter that defines the
//! semantics. Regexps use Go's RE2 dialect via [`goregex`], which produces `regex-syntax` HIR.
//! Diagnostics are data ([`diag`]); their one-line form is upstream's byte for byte.
#![forbid(unsafe_code)]

pub mod ast;
pub mod diag;
pub mod extract;
pub mod field;
pub mod goregex;
pub mod interp;
pub mod ir;
pub mod lexer;
pub mod limits;
pub mod parallel;
pub mod parser;
pub mod printer;
pub mod quote;

pub use diag::{Diagnostic, ErrorKind};
pub use extract::{ExtractError, Extracted, find_script};
pub use field::{Field, Record};
pub use interp::{Assignment, AssignmentBuilder, Interpreter};
pub use ir::{PatternSet, PatternSetBuilder};
pub use limits::Limits;
pub use parser::{Parsed, RegexpMemo, parse_script, parse_script_memo, parse_script_with};

//! The shared vocabulary of flakewatch's host crates, with nothing internal below it: instants
//! and their text forms ([`time`]), watchflakes' failure snippets ([`snippet`]), and reading
//! JSON-lines inputs with bounded lines and errors that name the file and line ([`jsonl`]),
//! on several threads in input order ([`chunked`]), and whole files read with a bound
//! ([`bounded`]).

pub mod bounded;
pub mod chunked;
pub mod jsonl;
pub mod snippet;
pub mod time;

pub use jsonl::LineError;
pub use time::{Timestamp, TimestampError};

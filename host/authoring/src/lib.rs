//! Rule authoring: fast, honest feedback on a watchflakes rule before it goes live.
//!
//! * [`explain`]: one script on one failure, predicate by predicate, in the rule's own syntax,
//!   and the owner of the failure across a pattern set with the reason.
//! * [`examples`]: failures an issue body says its rule must and must not match.
//! * [`lint`]: findings over a whole pattern set (rules that can never match or never own a
//!   failure, duplicates, costly regexps, over-broad rules, failing examples), each with a
//!   stable code, a location and a suggested fix.
//! * [`preview`]: what an edited or new script would capture on the failure history, and what
//!   it would take from other issues or release.
#![forbid(unsafe_code)]

pub mod examples;
pub mod explain;
pub mod lint;
pub mod preview;

//! The watchflakes triage pipeline: obvious-flake filter, coalescing, snippets, assignment,
//! new-issue and comment text, de-duplication by mentioned build URLs.
//!
//! Everything here is data in, data out: no I/O. The run loop and the plugins that talk to
//! CI systems and issue trackers drive these pieces.
//!
//! | module | spec | what |
//! |---|---|---|
//! | [`time`] | §6.5, §7.2 | [`Timestamp`]: commit times and their two text forms |
//! | [`dashboard`] | §6.3, §4.4 | [`Dashboard`], [`BuildResult`], the broken-commit and broken-builder passes |
//! | [`testid`] | §6.4 | [`split_test_id`] |
//! | [`snippet`] | §6.7 | [`snippet()`](snippet::snippet) |
//! | [`coalesce`] | §6.6 | [`coalesce_failures`] |
//! | [`failure`] | §6.5, §7.2 | [`Failure`], [`FailurePost`]: record, header, Markdown |
//! | [`text`] | §5.3, §7.1, §7.2 | new-issue text, comments, error comments, cap and signature |
//! | [`mentions`] | §7.3 | signed comments and the build URLs they mention |

pub mod coalesce;
pub mod dashboard;
pub mod failure;
pub mod mentions;
pub mod snippet;
pub mod testid;
pub mod text;
pub mod time;

pub use coalesce::{MAX_FAIL_PER_BUILD, coalesce_failures};
pub use dashboard::{
    BuildResult, BuildStatus, Builder, Commit, Dashboard, SkipEvent, skip_broken_builders,
    skip_broken_commits,
};
pub use failure::{Failure, FailurePost, TestStatus, build_posts};
pub use mentions::{Mentions, build_url_mentions, is_signed, scan_comments};
pub use testid::split_test_id;
pub use text::{
    NO_SCRIPT_COMMENT, NewIssue, SIGNATURE, failures_comment, parse_errors_comment, sign_comment,
    sign_issue_body,
};
pub use time::Timestamp;

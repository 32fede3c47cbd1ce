//! The watchflakes triage pipeline: obvious-flake filter, coalescing, snippets, assignment,
//! new-issue and comment text, de-duplication by mentioned build URLs.
//!
//! The building blocks are data in, data out: no I/O. [`run`] and [`query`] drive them over
//! the [backends](crate::backend) that talk to CI systems and issue trackers; [`engine`] and
//! [`patterns`] turn issue bodies into a compiled pattern set.
//!
//! | module | what |
//! |---|---|
//! | [`dashboard`] | [`Dashboard`], [`BuildResult`], the broken-commit and broken-builder passes |
//! | [`testid`] | [`split_test_id`] |
//! | [`coalesce`] | [`coalesce_failures`] |
//! | [`failure`] | [`Failure`], [`TestStatus`]: a failed test as ResultDB reports it |
//! | [`post`] | [`FailurePost`]: record, header, Markdown |
//! | [`text`] | new-issue text, comments, error comments, cap and signature |
//! | [`mentions`] | signed comments and the build URLs they mention |
//! | [`source`] | dashboards assembled from a failure source's build results |
//! | [`run`] | one triage cycle: [`plan`](run::plan) and [`apply`](run::apply) |
//! | [`shard`] | sharded cycles: workers examine shares of the failed builds, a merger plans from them |
//! | [`prepared`] | the engines of the issues a cycle prepares, in power-of-two groups |
//! | [`query`] | query mode: the failures a script captures, and who owns them |
//! | [`close`] | automatic closing of quiet issues, by upstream's rules |
//! | [`cluster`] | clustering unclaimed failures into new issues, with checked patterns |
//! | [`broken`] | one issue per broken builder, updated rather than duplicated |
//! | [`backend`] | the capabilities triage needs: [`IssueTracker`](backend::IssueTracker), [`FailureSource`](backend::FailureSource) |
//! | [`engine`] | one interface over the three engines (`interp`, `plan`, `jit`) |
//! | [`patterns`] | issues → scripts extracted and parsed → compiled engine |
//! | [`cache`] | the compiled-set cache: an unchanged issue set read back lowered (`--cache DIR`) |

pub mod backend;
pub mod broken;
pub mod cache;
pub mod close;
pub mod cluster;
pub mod coalesce;
pub mod dashboard;
pub mod engine;
pub mod failure;
pub mod mentions;
pub mod patterns;
pub mod post;
pub mod prepared;
pub mod query;
pub mod run;
pub mod shard;
pub mod source;
pub mod testid;
pub mod text;

pub use coalesce::{MAX_FAIL_PER_BUILD, coalesce_failures};
pub use dashboard::{
    BuildResult, BuildStatus, Builder, Commit, Dashboard, SkipEvent, skip_broken_builders,
    skip_broken_commits,
};
pub use failure::{Failure, TestStatus};
pub use mentions::{Mentions, build_url_mentions, is_signed, scan_comments};
pub use post::{FailurePost, build_posts};
pub use testid::split_test_id;
pub use text::{
    NO_SCRIPT_COMMENT, NewIssue, SIGNATURE, failures_comment, parse_errors_comment, sign_comment,
    sign_issue_body,
};

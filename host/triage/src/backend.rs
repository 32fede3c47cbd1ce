//! Backend capabilities the triage pipeline uses: an [`IssueTracker`] (the rule store and
//! the record of what was posted) and a [`FailureSource`] (build results and their test
//! failures). Plugins provide them through the plugin host; [`memory`] is an in-process
//! implementation for tests and embedding.

use std::fmt;

use crate::dashboard::{BuildResult, Builder};
use flakewatch_core::time::Timestamp;

/// An issue as triage reads it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Issue {
    /// Issue number (positive, unique).
    pub number: u64,
    /// Title.
    pub title: String,
    /// Whether the issue is closed.
    pub closed: bool,
    /// When it was closed, if the tracker says.
    pub closed_at: Option<Timestamp>,
    /// The Markdown body holding the `#!watchflakes` script.
    pub body: String,
    /// When the body was last edited; `None` if it never was.
    pub body_edited_at: Option<Timestamp>,
}

/// An issue comment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssueComment {
    /// When it was created.
    pub created_at: Timestamp,
    /// Its Markdown body.
    pub body: String,
}

/// Build results in the time window: the dashboards' raw material.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BuildSet {
    /// Builders on the dashboards (also those without builds in the window).
    pub builders: Vec<Builder>,
    /// Build results, successes included, each with its failed tests sorted by TestID.
    pub builds: Vec<BuildResult>,
}

/// A backend operation that failed.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// A backend outside this crate (a plugin) failed, panicked, or could not be called; its
    /// own error says which and why.
    #[error(transparent)]
    External(Box<dyn std::error::Error + Send + Sync>),
    /// The backend returned data that does not make sense.
    #[error("backend {backend}: invalid data: {message}")]
    InvalidData {
        /// The backend's name.
        backend: String,
        /// What is wrong.
        message: String,
    },
    /// The issue listing is incomplete: fewer issues arrived than the tracker counts.
    /// Triage stops rather than file duplicates of the issues it did not see
    /// (golang/go#72731).
    #[error(
        "backend {backend}: partial issue listing: received {received} issues, \
         but the tracker counts {total}"
    )]
    PartialListing {
        /// The backend's name.
        backend: String,
        /// Issues received.
        received: usize,
        /// Issues the tracker says there are.
        total: u64,
    },
    /// An operation of an in-process backend failed.
    #[error("backend {backend}: {operation} failed: {message}")]
    Failed {
        /// The backend's name.
        backend: String,
        /// The operation.
        operation: &'static str,
        /// Why.
        message: String,
    },
}

/// An issue tracker: the rule store (issue bodies) and the record of what was posted
/// (comments). Triage keeps no other state.
pub trait IssueTracker {
    /// The backend's name, for messages.
    fn name(&self) -> &str;

    /// Every tracked issue, open or closed. Must fail rather than return a partial list.
    fn list_issues(&self) -> Result<Vec<Issue>, BackendError>;

    /// The comments of one issue, oldest first. Only signed comments matter to triage.
    fn comments(&self, issue: u64) -> Result<Vec<IssueComment>, BackendError>;

    /// Creates an issue (the body is already capped and signed) and returns its number.
    fn create_issue(&self, title: &str, body: &str, labels: &[String])
    -> Result<u64, BackendError>;

    /// Adds a comment (already capped and signed).
    fn add_comment(&self, issue: u64, body: &str) -> Result<(), BackendError>;

    /// Reopens a closed issue.
    fn reopen_issue(&self, issue: u64) -> Result<(), BackendError>;

    /// Closes an open issue at `at`.
    fn close_issue(&self, issue: u64, at: Timestamp) -> Result<(), BackendError>;

    /// Takes the tracker's cycle lock, waiting up to `wait` for a run that holds it: one
    /// triage cycle at a time reads, plans and writes. [`CycleLock::Unsupported`] when the
    /// tracker has no such lock.
    fn begin_cycle(&self, wait: std::time::Duration) -> Result<CycleLock, BackendError> {
        let _ = wait;
        Ok(CycleLock::Unsupported)
    }

    /// Releases the cycle lock (also released when the tracker is dropped).
    fn end_cycle(&self) -> Result<(), BackendError> {
        Ok(())
    }
}

/// The answer to [`IssueTracker::begin_cycle`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CycleLock {
    /// This run holds the lock.
    Acquired,
    /// Another run holds it (who, when the tracker can tell).
    Held(Option<String>),
    /// The tracker has no cycle lock: concurrent runs are not kept apart.
    Unsupported,
}

/// A source of build results and test failures.
pub trait FailureSource {
    /// The backend's name, for messages.
    fn name(&self) -> &str;

    /// Build results whose commit time is at or after `since` (older ones may be included;
    /// triage drops them).
    fn builds(&self, since: Timestamp) -> Result<BuildSet, BackendError>;

    /// The same builds and builders as [`FailureSource::builds`], handed to `sink` one at a
    /// time, so that a caller keeps only what it needs of each (triage keeps the whole result
    /// of failed builds only). A builder may come before or after the builds that name it.
    /// By default, [`FailureSource::builds`]' builders and then its builds.
    fn each_build(&self, since: Timestamp, sink: &mut dyn BuildSink) -> Result<(), BackendError> {
        let set = self.builds(since)?;
        for builder in set.builders {
            sink.builder(builder);
        }
        for build in set.builds {
            sink.build(build);
        }
        Ok(())
    }
}

/// What [`FailureSource::each_build`] hands its results to.
pub trait BuildSink {
    /// A builder of the dashboards (also one without builds in the window).
    fn builder(&mut self, builder: Builder);
    /// A build result, its failed tests sorted by TestID.
    fn build(&mut self, build: BuildResult);
}

/// A [`BuildSink`] that keeps everything, as [`FailureSource::builds`] returns it.
impl BuildSink for BuildSet {
    fn builder(&mut self, builder: Builder) {
        self.builders.push(builder);
    }

    fn build(&mut self, build: BuildResult) {
        self.builds.push(build);
    }
}

impl fmt::Debug for dyn IssueTracker + '_ {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "IssueTracker({})", self.name())
    }
}

impl fmt::Debug for dyn FailureSource + '_ {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FailureSource({})", self.name())
    }
}

pub mod memory {
    //! An in-process backend holding everything in memory: for tests, and for embedding
    //! flakewatch where the data is already at hand.

    use std::sync::{Mutex, MutexGuard};

    use super::{BackendError, BuildSet, FailureSource, Issue, IssueComment, IssueTracker};
    use flakewatch_core::time::Timestamp;

    /// The state of a [`MemoryBackend`].
    #[derive(Clone, Debug, Default)]
    pub struct MemoryState {
        /// Issues, in any order.
        pub issues: Vec<Issue>,
        /// Comments: (issue number, comment), oldest first.
        pub comments: Vec<(u64, IssueComment)>,
        /// Build results.
        pub builds: BuildSet,
        /// The time stamped on new comments.
        pub now: Timestamp,
        /// Injected failures: `(operation, issue)` pairs (`create_issue` checks the number
        /// it would assign).
        pub fail_on: Vec<(&'static str, u64)>,
        /// Every write, in order: `create N`, `comment N`, `reopen N`.
        pub log: Vec<String>,
    }

    /// An issue tracker and failure source in memory.
    #[derive(Debug, Default)]
    pub struct MemoryBackend {
        state: Mutex<MemoryState>,
    }

    impl MemoryBackend {
        /// A backend with the given state.
        pub fn new(state: MemoryState) -> MemoryBackend {
            MemoryBackend {
                state: Mutex::new(state),
            }
        }

        /// The state (a poisoned lock is taken over: tests want to look after a panic).
        pub fn state(&self) -> MutexGuard<'_, MemoryState> {
            self.state.lock().unwrap_or_else(|e| e.into_inner())
        }

        fn check(
            state: &MemoryState,
            operation: &'static str,
            issue: u64,
        ) -> Result<(), BackendError> {
            if state.fail_on.contains(&(operation, issue)) {
                return Err(BackendError::Failed {
                    backend: "memory".to_owned(),
                    operation,
                    message: format!("injected failure on #{issue}"),
                });
            }
            if operation != "create_issue" && !state.issues.iter().any(|i| i.number == issue) {
                return Err(BackendError::Failed {
                    backend: "memory".to_owned(),
                    operation,
                    message: format!("no issue #{issue}"),
                });
            }
            Ok(())
        }
    }

    impl IssueTracker for MemoryBackend {
        fn name(&self) -> &str {
            "memory"
        }

        fn list_issues(&self) -> Result<Vec<Issue>, BackendError> {
            Ok(self.state().issues.clone())
        }

        fn comments(&self, issue: u64) -> Result<Vec<IssueComment>, BackendError> {
            Ok(self
                .state()
                .comments
                .iter()
                .filter(|(n, _)| *n == issue)
                .map(|(_, c)| c.clone())
                .collect())
        }

        fn create_issue(
            &self,
            title: &str,
            body: &str,
            _labels: &[String],
        ) -> Result<u64, BackendError> {
            let mut state = self.state();
            let number = state.issues.iter().map(|i| i.number).max().unwrap_or(0) + 1;
            Self::check(&state, "create_issue", number)?;
            state.issues.push(Issue {
                number,
                title: title.to_owned(),
                body: body.to_owned(),
                ..Issue::default()
            });
            state.log.push(format!("create {number}"));
            Ok(number)
        }

        fn add_comment(&self, issue: u64, body: &str) -> Result<(), BackendError> {
            let mut state = self.state();
            Self::check(&state, "add_comment", issue)?;
            let created_at = state.now;
            state.comments.push((
                issue,
                IssueComment {
                    created_at,
                    body: body.to_owned(),
                },
            ));
            state.log.push(format!("comment {issue}"));
            Ok(())
        }

        fn reopen_issue(&self, issue: u64) -> Result<(), BackendError> {
            let mut state = self.state();
            Self::check(&state, "reopen_issue", issue)?;
            if let Some(i) = state.issues.iter_mut().find(|i| i.number == issue) {
                i.closed = false;
                i.closed_at = None;
            }
            state.log.push(format!("reopen {issue}"));
            Ok(())
        }

        fn close_issue(&self, issue: u64, at: Timestamp) -> Result<(), BackendError> {
            let mut state = self.state();
            Self::check(&state, "close_issue", issue)?;
            if let Some(i) = state.issues.iter_mut().find(|i| i.number == issue) {
                i.closed = true;
                i.closed_at = Some(at);
            }
            state.log.push(format!("close {issue}"));
            Ok(())
        }
    }

    impl FailureSource for MemoryBackend {
        fn name(&self) -> &str {
            "memory"
        }

        fn builds(&self, _since: Timestamp) -> Result<BuildSet, BackendError> {
            Ok(self.state().builds.clone())
        }
    }
}

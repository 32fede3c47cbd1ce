//! The safe side of the contract: the [`Plugin`] trait plugin authors implement, and the
//! [`PluginError`] their methods return.

use crate::model::{
    AddCommentRequest, BeginCycleRequest, BuildPage, CloseIssueRequest, CommentPage,
    CommentsRequest, Config, CreateIssueRequest, CreatedIssue, CycleLock, EndCycleRequest,
    InsertRowsRequest, InsertedRows, IssuePage, ListBuildsRequest, ListIssuesRequest, PluginInfo,
    ReadRowsRequest, ReopenIssueRequest, RevisionRunsRequest, RowPage, RunPage, StoreRunRequest,
    StoredRun, TestHistory, TestHistoryRequest, UploadWindow, UploadWindowRequest,
};

/// What kind of failure a [`PluginError`] is; it decides the status code on the wire.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ErrorKind {
    /// The operation failed (I/O, remote error, bad data).
    Failed,
    /// The plugin does not implement the operation.
    Unsupported,
    /// The request or the configuration is invalid.
    BadRequest,
}

/// An error returned by a plugin method; crosses the boundary as a status code and a message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PluginError {
    /// The kind of failure.
    pub kind: ErrorKind,
    /// A message for people. Never put credentials in it.
    pub message: String,
}

impl PluginError {
    /// An operation that failed.
    pub fn failed(message: impl Into<String>) -> PluginError {
        PluginError {
            kind: ErrorKind::Failed,
            message: message.into(),
        }
    }

    /// An operation this plugin does not implement.
    pub fn unsupported(operation: &str) -> PluginError {
        PluginError {
            kind: ErrorKind::Unsupported,
            message: format!("{operation} is not supported by this plugin"),
        }
    }

    /// An invalid request or configuration.
    pub fn bad_request(message: impl Into<String>) -> PluginError {
        PluginError {
            kind: ErrorKind::BadRequest,
            message: message.into(),
        }
    }
}

/// A flakewatch plugin. Implement the methods of the capabilities you declare in
/// [`Plugin::info`]; the others keep their default, which reports "unsupported".
///
/// An instance is shared: the host may call it from any thread, so it must be
/// `Send + Sync`. A panic in any method is caught by the SDK and reported to the host as an
/// error naming the operation; it never unwinds into the host.
///
/// Export the type with [`export_plugin!`](crate::export_plugin).
pub trait Plugin: Send + Sync + Sized + 'static {
    /// Name, version, description and capabilities. The SDK fills in `sdk_version`.
    fn info() -> PluginInfo;

    /// Creates an instance from its configuration.
    fn create(config: &Config) -> Result<Self, PluginError>;

    /// Issue tracker: one page of issues, every issue in the tracked set, open or closed.
    fn list_issues(&self, request: &ListIssuesRequest) -> Result<IssuePage, PluginError> {
        let _ = request;
        Err(PluginError::unsupported("list_issues"))
    }

    /// Issue tracker: one page of an issue's comments, oldest first. A plugin may return
    /// only the comments flakewatch signed; the host ignores the others.
    fn issue_comments(&self, request: &CommentsRequest) -> Result<CommentPage, PluginError> {
        let _ = request;
        Err(PluginError::unsupported("issue_comments"))
    }

    /// Issue tracker: creates an issue and returns its number. Once this returns, the issue
    /// must show up in [`Plugin::list_issues`].
    fn create_issue(&self, request: &CreateIssueRequest) -> Result<CreatedIssue, PluginError> {
        let _ = request;
        Err(PluginError::unsupported("create_issue"))
    }

    /// Issue tracker: adds a comment. Once this returns, the comment must show up in
    /// [`Plugin::issue_comments`].
    fn add_comment(&self, request: &AddCommentRequest) -> Result<(), PluginError> {
        let _ = request;
        Err(PluginError::unsupported("add_comment"))
    }

    /// Issue tracker: reopens a closed issue.
    fn reopen_issue(&self, request: &ReopenIssueRequest) -> Result<(), PluginError> {
        let _ = request;
        Err(PluginError::unsupported("reopen_issue"))
    }

    /// Issue tracker: closes an open issue (optional; a plugin built before SDK 0.2 has no
    /// such entry, and the host treats the operation as not supported).
    fn close_issue(&self, request: &CloseIssueRequest) -> Result<(), PluginError> {
        let _ = request;
        Err(PluginError::unsupported("close_issue"))
    }

    /// Issue tracker: takes the tracker's cycle lock (optional). While an instance holds it,
    /// no other triage run plans or writes against the same tracker; it is released by
    /// [`Plugin::end_cycle`] or when the instance is destroyed. A tracker without such a lock
    /// leaves this unsupported, and the host warns that concurrent runs can duplicate.
    fn begin_cycle(&self, request: &BeginCycleRequest) -> Result<CycleLock, PluginError> {
        let _ = request;
        Err(PluginError::unsupported("begin_cycle"))
    }

    /// Issue tracker: releases the cycle lock (optional).
    fn end_cycle(&self, request: &EndCycleRequest) -> Result<(), PluginError> {
        let _ = request;
        Err(PluginError::unsupported("end_cycle"))
    }

    /// Failure source: one page of build results in the time window, successes included.
    fn list_builds(&self, request: &ListBuildsRequest) -> Result<BuildPage, PluginError> {
        let _ = request;
        Err(PluginError::unsupported("list_builds"))
    }

    /// Test results: stores one run, all of it or nothing (optional, SDK 0.3). A run whose
    /// [`key`](crate::model::ResultsRun::key) is stored already is left as it is and
    /// `stored: false` is returned, so ingesting the same file twice, or again after a crash,
    /// stores it once. Once this returns, the run must show up in
    /// [`Plugin::revision_runs`] and [`Plugin::test_history`].
    fn store_run(&self, request: &StoreRunRequest) -> Result<StoredRun, PluginError> {
        let _ = request;
        Err(PluginError::unsupported("store_run"))
    }

    /// Test results: one page of the runs of a revision, each whole, in the order they were
    /// stored (optional, SDK 0.3).
    fn revision_runs(&self, request: &RevisionRunsRequest) -> Result<RunPage, PluginError> {
        let _ = request;
        Err(PluginError::unsupported("revision_runs"))
    }

    /// Test results: a job's per-test pass, fail and flake counts over its recent runs, as
    /// [`TestHistoryRequest`] defines them (optional, SDK 0.3).
    fn test_history(&self, request: &TestHistoryRequest) -> Result<TestHistory, PluginError> {
        let _ = request;
        Err(PluginError::unsupported("test_history"))
    }

    /// Aggregator tables: inserts rows, skipping every row whose key
    /// ([`AggregatorTable::key`](crate::model::AggregatorTable::key)) is stored already or
    /// came earlier in the request (optional, SDK 0.4). Inserting the same rows twice leaves
    /// one copy. A row that does not fit the table ([`AggregatorTable::check_row`](crate::model::AggregatorTable::check_row))
    /// refuses the whole request as a bad request, before anything is written. A request
    /// without rows creates the store's tables when they are missing.
    fn insert_rows(&self, request: &InsertRowsRequest) -> Result<InsertedRows, PluginError> {
        let _ = request;
        Err(PluginError::unsupported("insert_rows"))
    }

    /// Aggregator tables: upstream's de-duplication window of a job-run table, the last end
    /// time and the run ids uploaded since (optional, SDK 0.4).
    fn upload_window(&self, request: &UploadWindowRequest) -> Result<UploadWindow, PluginError> {
        let _ = request;
        Err(PluginError::unsupported("upload_window"))
    }

    /// Aggregator tables: one page of a table's rows, one per key, in key order (optional,
    /// SDK 0.4).
    fn read_rows(&self, request: &ReadRowsRequest) -> Result<RowPage, PluginError> {
        let _ = request;
        Err(PluginError::unsupported("read_rows"))
    }
}

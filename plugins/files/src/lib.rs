//! The `files` backend: flakewatch's issue tracker and failure source in a directory of
//! JSON-lines files, so that triage runs locally with no service and no credentials.
//!
//! | file | one line per | fields |
//! |---|---|---|
//! | `issues.jsonl` | issue | GitHub's issue shape: `number`, `title`, `state` (`open`/`closed`), `closed_at`, `body`, `created_at`, `body_edited_at`; other keys are kept untouched |
//! | `comments.jsonl` | comment | `issue`, `id`, `created_at`, `body` |
//! | `builds.jsonl` | build result (successes too: the obvious-flake filter needs them) | `url`, `builder`, `repo`, `go_branch`, `goos`, `goarch`, `commit`, `go_commit`, `date` (commit time), `build_time`, `status` (`SUCCESS`, `FAILURE`, …), `log`, `step_log` |
//! | `failures.jsonl` | failed test | the watchflakes field names (`pkg`, `test`, `output`, `status`, `mode`, `builder`, `repo`, `goos`, `goarch`, `date`, `log`) plus `url` (the build), and optionally `test_id`, `commit`, `go_commit`, `go_branch` |
//! | `builders.jsonl` (optional) | builder | `name`, `repo`, `go_branch`, `goos`, `goarch` |
//!
//! A failure line whose `url` is not in `builds.jsonl` describes a failed build by itself
//! (it then needs `commit`). A line with `mode` `build`, or with neither `pkg` nor `test`, is
//! a build failure without test failures: its `output` is the failed step's log.
//!
//! Every write takes a lock on the directory, re-reads the file, and replaces it atomically,
//! so a crash never leaves a half-written file and concurrent runs never lose updates.
//!
//! Test results (capability `test_results`) live in an SQLite database, `results.sqlite`, in
//! the same directory ([`results`]). A results store works in an empty or not yet existing
//! directory (`store_run` creates it); the issue-tracker and failure-source operations still
//! refuse a directory that holds none of the JSON-lines files. The job-run-aggregator's
//! tables (capability `aggregator_tables`) live in `aggregator.sqlite` beside it ([`tables`]).

pub mod builds;
pub mod results;
mod sqlite;
pub mod store;
pub mod tables;

use std::path::{Path, PathBuf};

use flakewatch_plugin_sdk::model::{
    AddCommentRequest, BeginCycleRequest, BuildPage, Capability, CloseIssueRequest, Comment,
    CommentPage, CommentsRequest, Config, CreateIssueRequest, CreatedIssue, CycleLock,
    EndCycleRequest, Issue, IssuePage, ListBuildsRequest, ListIssuesRequest, PluginInfo,
    ReopenIssueRequest, RevisionRunsRequest, RunPage, StoreRunRequest, StoredRun, TestHistory,
    TestHistoryRequest,
};
use flakewatch_plugin_sdk::model::{
    InsertRowsRequest, InsertedRows, ReadRowsRequest, RowPage, UploadWindow, UploadWindowRequest,
};
use flakewatch_plugin_sdk::{Plugin, PluginError, export_plugin};
use serde_json::{Map, Value};

use store::{CRASH_AT_ENV, DirLock, Tail, append_object, read_objects, write_objects};

/// Issue file name.
pub const ISSUES_FILE: &str = "issues.jsonl";
/// Comment file name.
pub const COMMENTS_FILE: &str = "comments.jsonl";
/// Build-result file name.
pub const BUILDS_FILE: &str = "builds.jsonl";
/// Test-failure file name.
pub const FAILURES_FILE: &str = "failures.jsonl";
/// Builder file name (optional).
pub const BUILDERS_FILE: &str = "builders.jsonl";

/// The backend over one data directory.
#[derive(Debug)]
pub struct FilesBackend {
    dir: PathBuf,
    crash_at: Option<u64>,
    /// The cycle lock while this instance holds it.
    cycle: std::sync::Mutex<Option<store::CycleLock>>,
    /// The test-results database.
    results: results::ResultsStore,
    /// The aggregator tables' database.
    tables: tables::TablesStore,
    /// The build listing in progress (`list_builds` pages).
    listings: builds::Listings,
}

impl FilesBackend {
    /// A backend over `dir`, which must exist and hold at least one of the JSON-lines files.
    pub fn open(dir: impl Into<PathBuf>) -> Result<FilesBackend, PluginError> {
        let dir = dir.into();
        Self::check_tracker_dir(&dir)?;
        Ok(Self::open_any(dir, results::DEFAULT_PAGE_RUNS))
    }

    /// A backend over `dir`, which need not exist: its results store works there at once,
    /// and the issue-tracker and failure-source operations refuse it as [`FilesBackend::open`]
    /// does until it holds one of the JSON-lines files. `page_runs` is the number of runs per
    /// `revision_runs` page.
    pub fn open_any(dir: impl Into<PathBuf>, page_runs: usize) -> FilesBackend {
        let dir = dir.into();
        let crash_at = std::env::var(CRASH_AT_ENV)
            .ok()
            .and_then(|v| v.trim().parse().ok());
        FilesBackend {
            results: results::ResultsStore::new(dir.clone(), crash_at, page_runs),
            tables: tables::TablesStore::new(dir.clone(), tables::DEFAULT_PAGE_ROWS),
            dir,
            crash_at,
            cycle: std::sync::Mutex::new(None),
            listings: builds::Listings::default(),
        }
    }

    /// The results store.
    pub fn results(&self) -> &results::ResultsStore {
        &self.results
    }

    /// The issue tracker's and failure source's check of the data directory.
    fn tracker_ready(&self) -> Result<(), PluginError> {
        Self::check_tracker_dir(&self.dir)
    }

    /// Refuses a directory that does not exist or holds none of the JSON-lines files.
    fn check_tracker_dir(dir: &Path) -> Result<(), PluginError> {
        if !dir.is_dir() {
            return Err(PluginError::bad_request(format!(
                "data directory {} does not exist",
                dir.display()
            )));
        }
        // A directory with none of the data files is a mistake (a wrong path), not an empty
        // tracker: say so rather than succeed on nothing.
        if ![
            ISSUES_FILE,
            BUILDS_FILE,
            COMMENTS_FILE,
            FAILURES_FILE,
            BUILDERS_FILE,
        ]
        .iter()
        .any(|name| dir.join(name).exists())
        {
            return Err(PluginError::bad_request(format!(
                "data directory {} holds none of {ISSUES_FILE}, {BUILDS_FILE}, {COMMENTS_FILE}, \
                 {FAILURES_FILE}, {BUILDERS_FILE}; create {ISSUES_FILE} (it may be empty) to start \
                 a new tracker there",
                dir.display()
            )));
        }
        Ok(())
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn read(&self, name: &str) -> Result<store::Lines, PluginError> {
        // Comments grow by appends; every other file is replaced whole.
        let tail = if name == COMMENTS_FILE {
            Tail::Torn
        } else {
            Tail::Strict
        };
        read_objects(&self.path(name), tail).map_err(PluginError::failed)
    }

    fn write(&self, name: &str, lines: &store::Lines) -> Result<(), PluginError> {
        write_objects(
            &self.path(name),
            lines.iter().map(|(_, o)| o),
            self.crash_at,
        )
        .map_err(PluginError::failed)
    }

    fn issues(&self) -> Result<Vec<Issue>, PluginError> {
        self.read(ISSUES_FILE)?
            .into_iter()
            .map(|(line, object)| {
                serde_json::from_value(Value::Object(object)).map_err(|e| {
                    PluginError::failed(format!("{}:{line}: {e}", self.path(ISSUES_FILE).display()))
                })
            })
            .collect()
    }

    /// Finds an issue line by number.
    fn find_issue<'a>(
        &self,
        lines: &'a mut store::Lines,
        number: u64,
    ) -> Result<&'a mut Map<String, Value>, PluginError> {
        lines
            .iter_mut()
            .map(|(_, o)| o)
            .find(|o| o.get("number").and_then(Value::as_u64) == Some(number))
            .ok_or_else(|| PluginError::bad_request(format!("no issue #{number}")))
    }
}

/// The current time in RFC 3339, UTC, whole seconds.
fn now() -> String {
    humantime::format_rfc3339_seconds(std::time::SystemTime::now()).to_string()
}

/// A string field of a line, `""` when absent or null.
fn text<'a>(object: &'a Map<String, Value>, key: &str) -> &'a str {
    object.get(key).and_then(Value::as_str).unwrap_or("")
}

impl Plugin for FilesBackend {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "files".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            description: "issues, comments and failures in JSON-lines files, test results in \
                          SQLite (option data=DIR)"
                .to_owned(),
            capabilities: vec![
                Capability::IssueTracker,
                Capability::FailureSource,
                Capability::TestResults,
                Capability::AggregatorTables,
            ],
            sdk_version: String::new(),
        }
    }

    fn create(config: &Config) -> Result<Self, PluginError> {
        let dir = config.get("data").ok_or_else(|| {
            PluginError::bad_request("the files backend needs a data directory (--data DIR)")
        })?;
        let page_runs = match config.get("page_runs") {
            None => results::DEFAULT_PAGE_RUNS,
            Some(text) => text.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                PluginError::bad_request(format!(
                    "the files backend's page_runs must be a positive number, not {text:?}"
                ))
            })?,
        };
        let mut backend = FilesBackend::open_any(Path::new(dir), page_runs);
        if let Some(text) = config.get("page_rows") {
            let rows = text.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                PluginError::bad_request(format!(
                    "the files backend's page_rows must be a positive number, not {text:?}"
                ))
            })?;
            backend.tables = tables::TablesStore::new(Path::new(dir).to_path_buf(), rows);
        }
        Ok(backend)
    }

    fn insert_rows(&self, request: &InsertRowsRequest) -> Result<InsertedRows, PluginError> {
        self.tables.insert_rows(request)
    }

    fn upload_window(&self, request: &UploadWindowRequest) -> Result<UploadWindow, PluginError> {
        self.tables.upload_window(request)
    }

    fn read_rows(&self, request: &ReadRowsRequest) -> Result<RowPage, PluginError> {
        self.tables.read_rows(request)
    }

    fn store_run(&self, request: &StoreRunRequest) -> Result<StoredRun, PluginError> {
        self.results.store_run(request)
    }

    fn revision_runs(&self, request: &RevisionRunsRequest) -> Result<RunPage, PluginError> {
        self.results.revision_runs(request)
    }

    fn test_history(&self, request: &TestHistoryRequest) -> Result<TestHistory, PluginError> {
        self.results.test_history(request)
    }

    fn list_issues(&self, _request: &ListIssuesRequest) -> Result<IssuePage, PluginError> {
        self.tracker_ready()?;
        let issues = self.issues()?;
        Ok(IssuePage {
            total_count: Some(issues.len() as u64),
            issues,
            next_cursor: None,
        })
    }

    fn issue_comments(&self, request: &CommentsRequest) -> Result<CommentPage, PluginError> {
        self.tracker_ready()?;
        let comments = self
            .read(COMMENTS_FILE)?
            .into_iter()
            .filter(|(_, o)| o.get("issue").and_then(Value::as_u64) == Some(request.issue))
            .map(|(_, o)| Comment {
                created_at: text(&o, "created_at").to_owned(),
                body: text(&o, "body").to_owned(),
            })
            .collect();
        Ok(CommentPage {
            comments,
            next_cursor: None,
        })
    }

    fn create_issue(&self, request: &CreateIssueRequest) -> Result<CreatedIssue, PluginError> {
        self.tracker_ready()?;
        let _lock = DirLock::acquire(&self.dir).map_err(PluginError::failed)?;
        let mut lines = self.read(ISSUES_FILE)?;
        let number = lines
            .iter()
            .filter_map(|(_, o)| o.get("number").and_then(Value::as_u64))
            .max()
            .unwrap_or(0)
            + 1;
        let object = Map::from_iter([
            ("number".to_owned(), Value::from(number)),
            ("title".to_owned(), Value::from(request.title.as_str())),
            ("state".to_owned(), Value::from("open")),
            ("closed_at".to_owned(), Value::Null),
            ("body".to_owned(), Value::from(request.body.as_str())),
            ("created_at".to_owned(), Value::from(now())),
            ("body_edited_at".to_owned(), Value::Null),
            ("labels".to_owned(), Value::from(request.labels.clone())),
        ]);
        lines.push((0, object));
        self.write(ISSUES_FILE, &lines)?;
        Ok(CreatedIssue { number })
    }

    fn add_comment(&self, request: &AddCommentRequest) -> Result<(), PluginError> {
        self.tracker_ready()?;
        let _lock = DirLock::acquire(&self.dir).map_err(PluginError::failed)?;
        let mut issues = self.read(ISSUES_FILE)?;
        self.find_issue(&mut issues, request.issue)?;
        let lines = self.read(COMMENTS_FILE)?;
        let id = lines
            .iter()
            .filter_map(|(_, o)| o.get("id").and_then(Value::as_u64))
            .max()
            .unwrap_or(0)
            + 1;
        let object = Map::from_iter([
            ("issue".to_owned(), Value::from(request.issue)),
            ("id".to_owned(), Value::from(id)),
            ("created_at".to_owned(), Value::from(now())),
            ("body".to_owned(), Value::from(request.body.as_str())),
        ]);
        append_object(&self.path(COMMENTS_FILE), &object, self.crash_at)
            .map_err(PluginError::failed)
    }

    fn reopen_issue(&self, request: &ReopenIssueRequest) -> Result<(), PluginError> {
        self.tracker_ready()?;
        let _lock = DirLock::acquire(&self.dir).map_err(PluginError::failed)?;
        let mut lines = self.read(ISSUES_FILE)?;
        let issue = self.find_issue(&mut lines, request.issue)?;
        issue.insert("state".to_owned(), Value::from("open"));
        issue.insert("closed_at".to_owned(), Value::Null);
        self.write(ISSUES_FILE, &lines)
    }

    fn begin_cycle(&self, request: &BeginCycleRequest) -> Result<CycleLock, PluginError> {
        self.tracker_ready()?;
        let mut held = self
            .cycle
            .lock()
            .map_err(|_| PluginError::failed("cycle lock state poisoned"))?;
        if held.is_some() {
            return Ok(CycleLock {
                acquired: true,
                holder: None,
            });
        }
        let wait = std::time::Duration::from_secs(request.wait_seconds);
        match store::CycleLock::try_acquire(&self.dir, wait).map_err(PluginError::failed)? {
            Ok(lock) => {
                *held = Some(lock);
                Ok(CycleLock {
                    acquired: true,
                    holder: None,
                })
            }
            Err(holder) => Ok(CycleLock {
                acquired: false,
                holder: (!holder.is_empty()).then_some(holder),
            }),
        }
    }

    fn end_cycle(&self, _request: &EndCycleRequest) -> Result<(), PluginError> {
        let mut held = self
            .cycle
            .lock()
            .map_err(|_| PluginError::failed("cycle lock state poisoned"))?;
        *held = None;
        Ok(())
    }

    fn close_issue(&self, request: &CloseIssueRequest) -> Result<(), PluginError> {
        self.tracker_ready()?;
        let _lock = DirLock::acquire(&self.dir).map_err(PluginError::failed)?;
        let mut lines = self.read(ISSUES_FILE)?;
        let issue = self.find_issue(&mut lines, request.issue)?;
        issue.insert("state".to_owned(), Value::from("closed"));
        issue.insert(
            "closed_at".to_owned(),
            Value::from(request.closed_at.clone()),
        );
        self.write(ISSUES_FILE, &lines)
    }

    fn list_builds(&self, request: &ListBuildsRequest) -> Result<BuildPage, PluginError> {
        self.tracker_ready()?;
        // Builds and failures are the large files: a page of builds at a time (builds.rs).
        self.listings.page(&self.dir, request.cursor.as_deref())
    }
}

/// The TestID for a `pkg` and `test` pair: `pkg.test`, `pkg` for a package-level failure,
/// `.test` for a test without a package, empty for neither.
pub fn join_test_id(pkg: &str, test: &str) -> String {
    match (pkg.is_empty(), test.is_empty()) {
        (_, true) => pkg.to_owned(),
        (true, false) => format!(".{test}"),
        (false, false) => format!("{pkg}.{test}"),
    }
}

export_plugin!(FilesBackend);

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn backend() -> (tempfile::TempDir, FilesBackend) {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(ISSUES_FILE), "").unwrap();
        let backend = FilesBackend::open(dir.path()).unwrap();
        (dir, backend)
    }

    /// An empty directory is a wrong path, not an empty tracker.
    #[test]
    fn an_empty_data_directory_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let err = FilesBackend::open(dir.path()).unwrap_err();
        assert_eq!(err.kind, flakewatch_plugin_sdk::ErrorKind::BadRequest);
        assert!(
            err.message.contains("holds none of issues.jsonl"),
            "{}",
            err.message
        );
        fs::write(dir.path().join(ISSUES_FILE), "").unwrap();
        assert!(FilesBackend::open(dir.path()).is_ok());
    }

    #[test]
    fn create_comment_reopen_round_trip() {
        let (dir, files) = backend();
        fs::write(
            dir.path().join(ISSUES_FILE),
            "{\"number\":4,\"title\":\"old\",\"state\":\"closed\",\"closed_at\":\"2025-01-01T00:00:00Z\",\"body\":\"b\",\"user\":{\"login\":\"x\"}}\n",
        )
        .unwrap();
        let created = files
            .create_issue(&CreateIssueRequest {
                title: "new".into(),
                body: "body".into(),
                labels: vec!["Automation".into()],
            })
            .unwrap();
        assert_eq!(created.number, 5);
        files
            .add_comment(&AddCommentRequest {
                issue: 5,
                body: "hello".into(),
            })
            .unwrap();
        files
            .reopen_issue(&ReopenIssueRequest { issue: 4 })
            .unwrap();
        let page = files.list_issues(&ListIssuesRequest::default()).unwrap();
        assert_eq!(page.total_count, Some(2));
        assert_eq!(
            page.issues[0].state,
            flakewatch_plugin_sdk::model::IssueState::Open
        );
        assert_eq!(page.issues[0].closed_at, None);
        assert_eq!(page.issues[1].title, "new");
        // Unknown keys survive a rewrite.
        let raw = fs::read_to_string(dir.path().join(ISSUES_FILE)).unwrap();
        assert!(raw.contains("\"login\":\"x\""), "{raw}");
        let comments = files
            .issue_comments(&CommentsRequest {
                issue: 5,
                cursor: None,
            })
            .unwrap();
        assert_eq!(comments.comments.len(), 1);
        assert_eq!(comments.comments[0].body, "hello");
        let err = files
            .add_comment(&AddCommentRequest {
                issue: 99,
                body: "x".into(),
            })
            .unwrap_err();
        assert_eq!(err.message, "no issue #99");
    }

    #[test]
    fn builds_and_failures_are_assembled() {
        let (dir, files) = backend();
        fs::write(
            dir.path().join(BUILDS_FILE),
            concat!(
                "{\"url\":\"https://ci.chromium.org/b/1\",\"builder\":\"b1\",\"repo\":\"go\",\"goos\":\"linux\",\"goarch\":\"amd64\",\"commit\":\"c1\",\"date\":\"2025-09-01T00:00:00Z\",\"status\":\"FAILURE\",\"log\":\"L\"}\n",
                "{\"url\":\"https://ci.chromium.org/b/2\",\"builder\":\"b2\",\"repo\":\"go\",\"commit\":\"c1\",\"date\":\"2025-09-01T00:00:00Z\",\"status\":\"SUCCESS\"}\n",
            ),
        )
        .unwrap();
        fs::write(
            dir.path().join(FAILURES_FILE),
            concat!(
                "{\"url\":\"https://ci.chromium.org/b/1\",\"pkg\":\"net\",\"test\":\"TestA\",\"output\":\"o\"}\n",
                "{\"url\":\"https://ci.chromium.org/b/3\",\"builder\":\"b3\",\"repo\":\"tools\",\"commit\":\"c9\",\"date\":\"2025-09-02T00:00:00Z\",\"mode\":\"build\",\"output\":\"step\",\"status\":\"FAIL\"}\n",
            ),
        )
        .unwrap();
        let page = builds::tests::all_pages(&files).unwrap();
        assert_eq!(
            page.builders
                .iter()
                .map(|b| b.name.as_str())
                .collect::<Vec<_>>(),
            ["b1", "b2", "b3"]
        );
        assert_eq!(page.builds.len(), 3);
        assert_eq!(page.builds[0].failures[0].test_id, "net.TestA");
        assert_eq!(page.builds[0].failures[0].status, "FAIL");
        assert_eq!(page.builds[0].log, "L");
        assert_eq!(page.builds[2].step_log, "step");
        assert!(page.builds[2].failures.is_empty());
        assert_eq!(page.builders[2].go_branch, "master");

        fs::write(
            dir.path().join(FAILURES_FILE),
            "{\"url\":\"https://ci.chromium.org/b/2\",\"pkg\":\"net\",\"test\":\"TestA\"}\n",
        )
        .unwrap();
        let err = builds::tests::all_pages(&files).unwrap_err();
        assert!(err.message.ends_with("failures.jsonl:1: a failure of build https://ci.chromium.org/b/2, whose status is SUCCESS"), "{}", err.message);
    }

    /// The SDK's conformance kit, on a copy of the demo data set.
    #[test]
    fn passes_the_conformance_kit() {
        let dir = tempfile::tempdir().unwrap();
        let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../demo");
        for entry in fs::read_dir(&demo).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "jsonl") {
                fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
            }
        }
        let config = Config {
            options: [("data".to_owned(), dir.path().display().to_string())].into(),
        };
        let report = flakewatch_plugin_sdk::kit::assert_conforms::<FilesBackend>(&config);
        for op in [
            "list_issues",
            "create_issue",
            "add_comment",
            "issue_comments",
            "close_issue",
            "reopen_issue",
            "list_builds",
        ] {
            assert!(report.checked.contains(&op), "{op} not checked");
        }
    }

    #[test]
    fn test_ids_join_like_watchflakes_splits_them() {
        assert_eq!(join_test_id("net/http", "TestX/sub"), "net/http.TestX/sub");
        assert_eq!(join_test_id("cmd/go", ""), "cmd/go");
        assert_eq!(join_test_id("", "TestX"), ".TestX");
        assert_eq!(join_test_id("", ""), "");
    }

    #[test]
    fn missing_data_directory_is_a_bad_request() {
        let err = FilesBackend::create(&Config::default()).unwrap_err();
        assert!(err.message.contains("--data DIR"));
        let mut config = Config::default();
        config
            .options
            .insert("data".into(), "/nonexistent/flakewatch".into());
        // The instance is made (a results store may create the directory), but the tracker
        // refuses the missing directory.
        let files = FilesBackend::create(&config).unwrap();
        let err = files
            .list_issues(&ListIssuesRequest::default())
            .unwrap_err();
        assert_eq!(err.kind, flakewatch_plugin_sdk::ErrorKind::BadRequest);
        assert!(err.message.contains("does not exist"), "{}", err.message);
    }
}

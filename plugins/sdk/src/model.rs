//! The documents that cross the plugin boundary (JSON, [`encoding::JSON`](crate::abi::encoding::JSON)):
//! requests, responses, and the data model of issues and build results.
//!
//! Compatibility: fields are only added, always with a default, and unknown fields are
//! ignored on both sides, so a newer host and an older plugin (or the reverse) still agree.
//! Times are RFC 3339 text (`2025-09-01T12:00:00Z`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// What a plugin can do.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Capability {
    /// Lists issues and their comments, creates issues, adds comments, reopens issues.
    IssueTracker,
    /// Lists build results with their test failures.
    FailureSource,
    /// Stores test results (runs with their tests and attempts, as ingested) and answers the
    /// per-revision and history queries on them. Appended in SDK 0.3.
    TestResults,
}

impl Capability {
    /// The capability's name in documents and messages (`issue_tracker`, `failure_source`,
    /// `test_results`).
    pub fn name(self) -> &'static str {
        match self {
            Capability::IssueTracker => "issue_tracker",
            Capability::FailureSource => "failure_source",
            Capability::TestResults => "test_results",
        }
    }
}

/// A plugin's self-description, returned by `describe`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginInfo {
    /// Short name used to select the plugin (`--backend NAME`).
    pub name: String,
    /// The plugin's own version.
    #[serde(default)]
    pub version: String,
    /// One line about what it connects to.
    #[serde(default)]
    pub description: String,
    /// What it implements.
    #[serde(default)]
    pub capabilities: Vec<Capability>,
    /// The SDK version it was built with (filled in by the SDK).
    #[serde(default)]
    pub sdk_version: String,
}

/// Configuration of a plugin instance: `key=value` options from the command line.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// The options, by key.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
}

impl Config {
    /// The value of an option.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.options.get(key).map(String::as_str)
    }
}

/// Whether an issue is open.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IssueState {
    /// Open.
    #[default]
    Open,
    /// Closed.
    Closed,
}

/// An issue, in the shape of GitHub's REST API (the fields triage reads).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issue {
    /// Issue number (positive, unique).
    pub number: u64,
    /// Title.
    #[serde(default)]
    pub title: String,
    /// Open or closed.
    #[serde(default)]
    pub state: IssueState,
    /// When it was last closed, if it is closed.
    #[serde(default)]
    pub closed_at: Option<String>,
    /// The Markdown body, which holds the `#!watchflakes` script.
    #[serde(default)]
    pub body: String,
    /// When it was created.
    #[serde(default)]
    pub created_at: Option<String>,
    /// When the body was last edited; `None` if never (GitHub GraphQL `lastEditedAt`).
    #[serde(default)]
    pub body_edited_at: Option<String>,
}

/// An issue comment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Comment {
    /// When it was created.
    pub created_at: String,
    /// Its Markdown body.
    pub body: String,
}

/// Request for one page of issues.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListIssuesRequest {
    /// The `next_cursor` of the previous page; `None` for the first page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// One page of issues.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuePage {
    /// The issues of this page.
    #[serde(default)]
    pub issues: Vec<Issue>,
    /// Where the next page starts; `None` on the last page.
    #[serde(default)]
    pub next_cursor: Option<String>,
    /// How many issues the whole listing holds, when the tracker says so. The host checks it
    /// against what it received and refuses a partial listing (golang/go#72731).
    #[serde(default)]
    pub total_count: Option<u64>,
}

/// Request for the comments of one issue.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommentsRequest {
    /// The issue number.
    pub issue: u64,
    /// The `next_cursor` of the previous page; `None` for the first page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// One page of comments, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommentPage {
    /// The comments of this page.
    #[serde(default)]
    pub comments: Vec<Comment>,
    /// Where the next page starts; `None` on the last page.
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// Request to create an issue.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateIssueRequest {
    /// Title.
    pub title: String,
    /// Body, already capped and signed.
    pub body: String,
    /// Labels to set when the tracker has them (`Automation`).
    #[serde(default)]
    pub labels: Vec<String>,
}

/// The issue that was created.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatedIssue {
    /// Its number.
    pub number: u64,
}

/// Request to add a comment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddCommentRequest {
    /// The issue number.
    pub issue: u64,
    /// The comment, already capped and signed.
    pub body: String,
}

/// Request to reopen a closed issue.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReopenIssueRequest {
    /// The issue number.
    pub issue: u64,
}

/// Request to close an issue.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CloseIssueRequest {
    /// The issue number.
    pub issue: u64,
    /// When it is closed (RFC 3339, the host's clock), for trackers that record it.
    pub closed_at: String,
}

/// Request to take the tracker's cycle lock: one triage cycle at a time reads, plans and
/// writes. The plugin tries for up to `wait_seconds` (0: once) and answers whether it got it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BeginCycleRequest {
    /// How long to wait for a lock another run holds, in seconds.
    #[serde(default)]
    pub wait_seconds: u64,
}

/// The answer to [`BeginCycleRequest`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CycleLock {
    /// Whether this instance now holds the lock (until `end_cycle` or until it is destroyed).
    pub acquired: bool,
    /// Who holds it, when another run does and the tracker can tell (`pid 1234`).
    #[serde(default)]
    pub holder: Option<String>,
}

/// Request to release the cycle lock.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndCycleRequest {}

/// Request for one page of build results.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListBuildsRequest {
    /// The start of the time window (commit time); older builds may be left out. The host
    /// drops them anyway.
    pub since: String,
    /// The `next_cursor` of the previous page; `None` for the first page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// A builder and the configuration properties the failure records use.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Builder {
    /// Builder name (`gotip-linux-amd64`).
    pub name: String,
    /// The repository it tests (`go`, `tools`, …): the record's `repo`.
    pub repo: String,
    /// The Go branch (`master`, `release-branch.go1.25`).
    #[serde(default)]
    pub go_branch: String,
    /// Target OS: the record's `goos`.
    #[serde(default)]
    pub goos: String,
    /// Target architecture: the record's `goarch`.
    #[serde(default)]
    pub goarch: String,
}

/// One build result: a cell of a dashboard (builder × commit).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Build {
    /// The build's page, `https://ci.chromium.org/b/ID` (the de-duplication key).
    pub url: String,
    /// Builder name; its configuration is in [`BuildPage::builders`].
    pub builder: String,
    /// The commit built (of the builder's repository).
    pub commit: String,
    /// For a subrepo build, the Go commit used; otherwise empty.
    #[serde(default)]
    pub go_commit: String,
    /// Commit time: the record's `date`.
    pub commit_time: String,
    /// When the build ended; of two builds of one commit on one builder the later counts.
    #[serde(default)]
    pub build_time: Option<String>,
    /// Buildbucket status: `SUCCESS`, `FAILURE`, `INFRA_FAILURE`, `CANCELED`, `STARTED`,
    /// `SCHEDULED` or `STATUS_UNSPECIFIED`.
    pub status: String,
    /// The whole-build log: the record's `log`.
    #[serde(default)]
    pub log: String,
    /// The log of the last failed step (the output of a build failure without test failures).
    #[serde(default)]
    pub step_log: String,
    /// The failed tests of a `FAILURE` build.
    #[serde(default)]
    pub failures: Vec<TestFailure>,
}

/// One failed test of a build.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestFailure {
    /// The test ID (`net/http.TestFoo/sub`); split into `pkg` and `test` by the host.
    pub test_id: String,
    /// ResultDB status: `FAIL`, `CRASH`, `ABORT`, `PASS`, `SKIP`, `STATUS_UNSPECIFIED`.
    #[serde(default = "fail_status")]
    pub status: String,
    /// The test's output: the record's `output`.
    #[serde(default)]
    pub output: String,
}

fn fail_status() -> String {
    "FAIL".to_owned()
}

/// One page of build results.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BuildPage {
    /// Builders on the dashboards, including those without builds in the window (they count
    /// in the broken-commit threshold). Builders named only by builds are added by the host.
    #[serde(default)]
    pub builders: Vec<Builder>,
    /// Build results of this page.
    #[serde(default)]
    pub builds: Vec<Build>,
    /// Where the next page starts; `None` on the last page.
    #[serde(default)]
    pub next_cursor: Option<String>,
}

// ---- Test results (capability `test_results`, SDK 0.3) ----

/// One CI run's test results as ingested from one file: the unit a store writes, whole or
/// not at all.
///
/// Mozilla's model maps onto it directly: a run is one execution of one chunk of one suite on
/// one revision (a re-run or retry of the chunk is another run with the same `revision`,
/// `suite` and `chunk`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ResultsRun {
    /// The run's identity. Storing a run whose key is stored already changes nothing.
    pub key: String,
    /// The CI job (OpenShift's job name, a Taskcluster task label).
    #[serde(default)]
    pub job: Option<String>,
    /// The revision (commit, payload) under test.
    #[serde(default)]
    pub revision: Option<String>,
    /// The suite the run executes (`mochitest-plain`), when the run is one suite's chunk.
    #[serde(default)]
    pub suite: Option<String>,
    /// The chunk number, 1-based.
    #[serde(default)]
    pub chunk: Option<u32>,
    /// How many chunks the suite is split into (the chunk count expected on the revision).
    #[serde(default)]
    pub chunks: Option<u32>,
    /// When the run started (RFC 3339); history windows count back over it.
    #[serde(default)]
    pub started_at: Option<String>,
    /// A link to the run.
    #[serde(default)]
    pub url: Option<String>,
    /// Where the results were read from (a file name).
    #[serde(default)]
    pub source: String,
    /// The format they were read as (`junit`, `gotest`, `mozlog-raw`, ...).
    #[serde(default)]
    pub format: String,
    /// Every other run property (platform, build type, variant fields).
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    /// The tests the harness announced it would run (mozlog `suite_start`), by group: a test
    /// listed here and reported by no execution of the chunk is missing.
    #[serde(default)]
    pub scheduled: Vec<ScheduledTest>,
    /// The tests with results, in the order the run reported them.
    #[serde(default)]
    pub tests: Vec<TestResult>,
}

/// A test a harness announced before running it.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ScheduledTest {
    /// Its group (the mozlog manifest), empty when none.
    #[serde(default)]
    pub group: String,
    /// The test.
    pub test: String,
}

/// One test of a run with its attempts. Tests are not unique within a run (a Jest title
/// used twice, nameless JUnit cases): a store keeps them by position.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TestResult {
    /// The suite path, outermost first (JUnit `<testsuite>` names, the go package, the mozlog
    /// group); empty when none.
    #[serde(default)]
    pub suite: Vec<String>,
    /// The class name, when the format has one.
    #[serde(default)]
    pub classname: Option<String>,
    /// The test name.
    pub name: String,
    /// Its attempts in execution order (several when retried or re-run within the run).
    #[serde(default)]
    pub attempts: Vec<AttemptResult>,
}

/// One attempt of a test.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct AttemptResult {
    /// `pass`, `fail`, `error` or `skip`.
    pub status: String,
    /// Whether the attempt counts as a failure: a failing status that was not expected.
    #[serde(default)]
    pub failure: bool,
    /// Whether the result was expected (mozlog `expected`, `known_intermittent`).
    #[serde(default = "yes")]
    pub expected: bool,
    /// The producer's own status word when it says more (`TIMEOUT`, `CRASH`).
    #[serde(default)]
    pub raw_status: Option<String>,
    /// Duration in seconds.
    #[serde(default)]
    pub duration: Option<f64>,
    /// The failure or skip message, capped by the host.
    #[serde(default)]
    pub message: Option<String>,
    /// The statuses the test's metadata marks as known intermittent (mozlog
    /// `known_intermittent`); empty when none.
    #[serde(default)]
    pub known_intermittent: Vec<String>,
}

fn yes() -> bool {
    true
}

/// Request to store one run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StoreRunRequest {
    /// The run, whole.
    pub run: ResultsRun,
}

/// The answer to [`StoreRunRequest`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredRun {
    /// `true` when the run was written now, `false` when a run with its key was stored
    /// already (nothing was written).
    pub stored: bool,
}

/// Request for one page of the runs of a revision.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevisionRunsRequest {
    /// The revision.
    pub revision: String,
    /// Only the runs of this suite, when given.
    #[serde(default)]
    pub suite: Option<String>,
    /// The `next_cursor` of the previous page; `None` for the first page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// One page of runs, each whole, in the order they were stored.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RunPage {
    /// The runs of this page.
    #[serde(default)]
    pub runs: Vec<ResultsRun>,
    /// Where the next page starts; `None` on the last page.
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// Request for a job's per-test history, as the job-run-aggregator's
/// `TestRuns_Summary_Last200Runs` view computes it: the job's last `max_runs` runs that
/// started within `max_days` days before `now` (newest first by start time, then by key),
/// one result per run and test (flaked when it both failed and passed in the run, else
/// passed or failed; a test only skipped in a run does not count for it), summed per test.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestHistoryRequest {
    /// The job.
    pub job: String,
    /// At most this many runs, the newest.
    pub max_runs: u32,
    /// Only runs that started at most this many days before `now`.
    pub max_days: u32,
    /// The end of the window (RFC 3339); runs that started after it do not count.
    pub now: String,
}

/// The answer to [`TestHistoryRequest`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestHistory {
    /// How many runs the window holds.
    pub runs: u64,
    /// One row per test that passed, failed or flaked in at least one run of the window.
    #[serde(default)]
    pub rows: Vec<TestHistoryRow>,
}

/// One test's history over the window.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestHistoryRow {
    /// The suite path, as stored.
    #[serde(default)]
    pub suite: Vec<String>,
    /// The test name.
    pub name: String,
    /// Runs in which it only passed.
    pub pass_count: u64,
    /// Runs in which it only failed.
    pub fail_count: u64,
    /// Runs in which it failed and passed.
    pub flake_count: u64,
}

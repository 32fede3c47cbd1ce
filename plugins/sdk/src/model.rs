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
    /// Keeps the job-run-aggregator's tables (disruption, alerts, jobs, releases): idempotent
    /// inserts by a row key, the uploaders' de-duplication window, and reads of the rows.
    /// Appended in SDK 0.4.
    AggregatorTables,
}

impl Capability {
    /// The capability's name in documents and messages (`issue_tracker`, `failure_source`,
    /// `test_results`, `aggregator_tables`).
    pub fn name(self) -> &'static str {
        match self {
            Capability::IssueTracker => "issue_tracker",
            Capability::FailureSource => "failure_source",
            Capability::TestResults => "test_results",
            Capability::AggregatorTables => "aggregator_tables",
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

// ---- Aggregator tables (capability `aggregator_tables`, SDK 0.4) ----

/// One row of an aggregator table: column name to value, in the column types of
/// [`AggregatorTable::columns`] (`STRING` a JSON string, `INT64` a JSON integer, `BOOL` a JSON
/// boolean, `TIMESTAMP` RFC 3339 text; a missing column or `null` is SQL `NULL`).
pub type Row = serde_json::Map<String, serde_json::Value>;

/// The type of a column of an aggregator table (BigQuery's names).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ColumnType {
    /// Text.
    String,
    /// A 64-bit integer.
    Int64,
    /// A boolean.
    Bool,
    /// An instant, RFC 3339 text in documents.
    Timestamp,
}

impl ColumnType {
    /// BigQuery's name of the type.
    pub fn name(self) -> &'static str {
        match self {
            ColumnType::String => "STRING",
            ColumnType::Int64 => "INT64",
            ColumnType::Bool => "BOOL",
            ColumnType::Timestamp => "TIMESTAMP",
        }
    }
}

/// A column of an aggregator table.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Column {
    /// Its name, as upstream's table spells it.
    pub name: &'static str,
    /// Its type.
    pub kind: ColumnType,
}

const fn col(name: &'static str, kind: ColumnType) -> Column {
    Column { name, kind }
}

use ColumnType::{Bool as B, Int64 as I, String as S, Timestamp as T};

/// The job-run columns the disruption and alert tables share (upstream's `JobRunRow` copy).
macro_rules! job_run_columns {
    () => {
        [
            col("JobName", S),
            col("JobRunName", S),
            col("JobRunStartTime", T),
            col("JobRunEndTime", T),
            col("Cluster", S),
            col("ReleaseTag", S),
            col("MasterNodesUpdated", S),
            col("JobRunStatus", S),
        ]
    };
}

const fn concat<const X: usize, const Y: usize, const N: usize>(
    a: [Column; X],
    b: [Column; Y],
) -> [Column; N] {
    assert!(X + Y == N);
    let mut out = [col("", S); N];
    let mut i = 0;
    while i < X {
        out[i] = a[i];
        i += 1;
    }
    while i < N {
        out[i] = b[i - X];
        i += 1;
    }
    out
}

const DISRUPTION_COLUMNS: [Column; 10] = concat(
    [col("BackendName", S), col("DisruptionSeconds", I)],
    job_run_columns!(),
);
const ALERT_COLUMNS: [Column; 12] = concat(
    [
        col("Name", S),
        col("Namespace", S),
        col("Level", S),
        col("AlertSeconds", I),
    ],
    job_run_columns!(),
);
const JOB_COLUMNS: [Column; 5] = [
    col("JobName", S),
    col("GCSBucketName", S),
    col("GCSJobHistoryLocationPrefix", S),
    col("CollectDisruption", B),
    col("CollectTestRuns", B),
];
const RELEASE_TAG_COLUMNS: [Column; 13] = [
    col("phase", S),
    col("release", S),
    col("stream", S),
    col("architecture", S),
    col("releaseTag", S),
    col("releaseTime", T),
    col("previousReleaseTag", S),
    col("kubernetesVersion", S),
    col("currentOSVersion", S),
    col("previousOSVersion", S),
    col("currentOSURL", S),
    col("previousOSURL", S),
    col("osDiffURL", S),
];
const RELEASE_JOB_RUN_COLUMNS: [Column; 11] = [
    col("name", S),
    col("releaseTag", S),
    col("jobName", S),
    col("kind", S),
    col("state", S),
    col("url", S),
    col("transitionTime", T),
    col("retries", I),
    col("upgradesFrom", S),
    col("upgradesTo", S),
    col("upgrade", B),
];
const RELEASE_REPOSITORY_COLUMNS: [Column; 4] = [
    col("name", S),
    col("releaseTag", S),
    col("repositoryHead", S),
    col("fullChangeLog", S),
];
const RELEASE_PULL_REQUEST_COLUMNS: [Column; 6] = [
    col("pullRequestID", S),
    col("releaseTag", S),
    col("name", S),
    col("description", S),
    col("url", S),
    col("bugURL", S),
];

/// The job-run-aggregator's tables (`docs/aggregate.md`), with upstream's names and columns.
/// BigQuery has no unique keys; flakewatch gives each table one ([`AggregatorTable::key`]), so
/// that uploading the same rows twice leaves one copy.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum AggregatorTable {
    /// Seconds of disruption per backend and job run (`upload-disruptions`).
    BackendDisruption,
    /// Seconds an alert fired per job run (`upload-alerts`), zero rows for known alerts that
    /// did not fire.
    Alerts,
    /// The jobs whose runs are collected (`prime-job-table`).
    Jobs,
    /// Release payload tags (`upload-releases`).
    ReleaseTags,
    /// The release controller's job runs of a tag.
    ReleaseJobRuns,
    /// The repositories of a tag's change log.
    ReleaseRepositories,
    /// The pull requests of a tag's change log.
    ReleasePullRequests,
}

impl AggregatorTable {
    /// Every table.
    pub const ALL: [AggregatorTable; 7] = [
        AggregatorTable::BackendDisruption,
        AggregatorTable::Alerts,
        AggregatorTable::Jobs,
        AggregatorTable::ReleaseTags,
        AggregatorTable::ReleaseJobRuns,
        AggregatorTable::ReleaseRepositories,
        AggregatorTable::ReleasePullRequests,
    ];

    /// The table's name (upstream's).
    pub fn name(self) -> &'static str {
        match self {
            AggregatorTable::BackendDisruption => "BackendDisruption",
            AggregatorTable::Alerts => "Alerts",
            AggregatorTable::Jobs => "Jobs",
            AggregatorTable::ReleaseTags => "ReleaseTags",
            AggregatorTable::ReleaseJobRuns => "ReleaseJobRuns",
            AggregatorTable::ReleaseRepositories => "ReleaseRepositories",
            AggregatorTable::ReleasePullRequests => "ReleasePullRequests",
        }
    }

    /// The table of a name.
    pub fn from_name(name: &str) -> Option<AggregatorTable> {
        AggregatorTable::ALL.into_iter().find(|t| t.name() == name)
    }

    /// The columns, in upstream's order.
    pub fn columns(self) -> &'static [Column] {
        match self {
            AggregatorTable::BackendDisruption => &DISRUPTION_COLUMNS,
            AggregatorTable::Alerts => &ALERT_COLUMNS,
            AggregatorTable::Jobs => &JOB_COLUMNS,
            AggregatorTable::ReleaseTags => &RELEASE_TAG_COLUMNS,
            AggregatorTable::ReleaseJobRuns => &RELEASE_JOB_RUN_COLUMNS,
            AggregatorTable::ReleaseRepositories => &RELEASE_REPOSITORY_COLUMNS,
            AggregatorTable::ReleasePullRequests => &RELEASE_PULL_REQUEST_COLUMNS,
        }
    }

    /// The row key: the columns that identify a row. A store keeps one row per key; a row
    /// whose key is stored already is skipped. Key columns are `STRING`s and never `NULL`.
    pub fn key(self) -> &'static [&'static str] {
        match self {
            AggregatorTable::BackendDisruption => &["JobRunName", "BackendName"],
            AggregatorTable::Alerts => &["JobRunName", "Name", "Namespace", "Level"],
            AggregatorTable::Jobs => &["JobName"],
            AggregatorTable::ReleaseTags => &["releaseTag"],
            AggregatorTable::ReleaseJobRuns => &["releaseTag", "name"],
            AggregatorTable::ReleaseRepositories => &["releaseTag", "name"],
            AggregatorTable::ReleasePullRequests => &["releaseTag", "name", "pullRequestID"],
        }
    }

    /// The time column windows are read over (`since`/`until` of [`ReadRowsRequest`]):
    /// `JobRunStartTime` (BigQuery's partition column of the job-run tables), `releaseTime`,
    /// `transitionTime`; `None` for tables without one.
    pub fn time_column(self) -> Option<&'static str> {
        match self {
            AggregatorTable::BackendDisruption | AggregatorTable::Alerts => Some("JobRunStartTime"),
            AggregatorTable::ReleaseTags => Some("releaseTime"),
            AggregatorTable::ReleaseJobRuns => Some("transitionTime"),
            AggregatorTable::Jobs
            | AggregatorTable::ReleaseRepositories
            | AggregatorTable::ReleasePullRequests => None,
        }
    }

    /// The column naming the job: `JobName`, or `jobName` in `ReleaseJobRuns`.
    pub fn job_column(self) -> Option<&'static str> {
        match self {
            AggregatorTable::BackendDisruption
            | AggregatorTable::Alerts
            | AggregatorTable::Jobs => Some("JobName"),
            AggregatorTable::ReleaseJobRuns => Some("jobName"),
            AggregatorTable::ReleaseTags
            | AggregatorTable::ReleaseRepositories
            | AggregatorTable::ReleasePullRequests => None,
        }
    }

    /// Whether the table holds job-run rows (`JobRunName`, `JobRunStartTime`,
    /// `JobRunEndTime`): the tables [`UploadWindowRequest`] works on.
    pub fn is_job_run_table(self) -> bool {
        matches!(
            self,
            AggregatorTable::BackendDisruption | AggregatorTable::Alerts
        )
    }

    /// The column named `name`.
    pub fn column(self, name: &str) -> Option<&'static Column> {
        self.columns().iter().find(|c| c.name == name)
    }

    /// Checks a row against the table: every column known and of its type, every key
    /// column a string, times RFC 3339. The message names the column.
    pub fn check_row(self, row: &Row) -> Result<(), String> {
        use serde_json::Value;
        for (name, value) in row {
            let Some(column) = self.column(name) else {
                return Err(format!("{}: unknown column {name:?}", self.name()));
            };
            let ok = match (column.kind, value) {
                (_, Value::Null) => true,
                (ColumnType::String, Value::String(_)) => true,
                (ColumnType::Int64, Value::Number(n)) => n.is_i64(),
                (ColumnType::Bool, Value::Bool(_)) => true,
                (ColumnType::Timestamp, Value::String(s)) => is_rfc3339(s),
                _ => false,
            };
            if !ok {
                return Err(format!(
                    "{}: column {name} is {}, not {value}",
                    self.name(),
                    column.kind.name()
                ));
            }
        }
        for key in self.key() {
            if !matches!(row.get(*key), Some(serde_json::Value::String(_))) {
                return Err(format!(
                    "{}: key column {key} is missing or null",
                    self.name()
                ));
            }
        }
        Ok(())
    }

    /// A row's key values, in [`AggregatorTable::key`] order (empty for a missing one).
    pub fn key_of(self, row: &Row) -> Vec<String> {
        self.key()
            .iter()
            .map(|k| {
                row.get(*k)
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_owned()
            })
            .collect()
    }
}

/// Request to insert rows into an aggregator table, idempotently: a row whose key
/// ([`AggregatorTable::key`]) is stored already, or repeats an earlier row of the request, is
/// skipped; the others are stored. Once this returns, [`Plugin::read_rows`](crate::Plugin::read_rows)
/// shows them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InsertRowsRequest {
    /// The table.
    pub table: AggregatorTable,
    /// The rows.
    #[serde(default)]
    pub rows: Vec<Row>,
}

/// The answer to [`InsertRowsRequest`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InsertedRows {
    /// Rows written now.
    pub inserted: u64,
    /// Rows skipped because their key was stored already (or came twice in the request).
    pub skipped: u64,
}

/// Request for upstream's de-duplication window of a job-run table
/// (`GetLastJobRunEndTimeFromTable`, `ListUploadedJobRunIDsSinceFromTable`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadWindowRequest {
    /// `BackendDisruption` or `Alerts`.
    pub table: AggregatorTable,
    /// Only runs that started after this instant count for the last end time (upstream: two
    /// weeks before now).
    pub started_after: String,
    /// The run ids to list are those of runs that ended at or after this instant (the
    /// uploader compares them with the runs that finished since then); `None`:
    /// the last end time minus `margin_seconds`, or `started_after` when the table holds no run
    /// after it.
    #[serde(default)]
    pub since: Option<String>,
    /// Subtracted from the last end time (upstream: 30 minutes).
    #[serde(default)]
    pub margin_seconds: u64,
}

/// The answer to [`UploadWindowRequest`].
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UploadWindow {
    /// The latest `JobRunEndTime` of a run that started after `started_after`; `None` when
    /// there is none.
    #[serde(default)]
    pub last_end_time: Option<String>,
    /// The start of the window the run ids were listed from.
    pub since: String,
    /// The distinct `JobRunName`s of the runs whose `JobRunEndTime` is at or after `since`,
    /// sorted.
    #[serde(default)]
    pub run_ids: Vec<String>,
}

/// Request for one page of an aggregator table's rows, one per key, in key order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadRowsRequest {
    /// The table.
    pub table: AggregatorTable,
    /// Only rows of this job (the [job column](AggregatorTable::job_column); refused for a
    /// table without one).
    #[serde(default)]
    pub job: Option<String>,
    /// Only rows whose [time column](AggregatorTable::time_column) is at or after this.
    #[serde(default)]
    pub since: Option<String>,
    /// Only rows whose time column is before this.
    #[serde(default)]
    pub until: Option<String>,
    /// The `next_cursor` of the previous page; `None` for the first page.
    #[serde(default)]
    pub cursor: Option<String>,
}

/// One page of rows.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RowPage {
    /// The rows of this page, one per key, ordered by key.
    #[serde(default)]
    pub rows: Vec<Row>,
    /// Where the next page starts; `None` on the last page.
    #[serde(default)]
    pub next_cursor: Option<String>,
}

/// Whether `text` has the shape of RFC 3339 (`YYYY-MM-DDTHH:MM:SS`, optional fraction, `Z`
/// or `±HH:MM`).
pub fn is_rfc3339(text: &str) -> bool {
    let b = text.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    if b.len() < 20
        || !digits(0..4)
        || b[4] != b'-'
        || !digits(5..7)
        || b[7] != b'-'
        || !digits(8..10)
        || b[10] != b'T'
        || !digits(11..13)
        || b[13] != b':'
        || !digits(14..16)
        || b[16] != b':'
        || !digits(17..19)
    {
        return false;
    }
    let mut rest = &b[19..];
    if let Some(frac) = rest.strip_prefix(b".") {
        let n = frac.iter().take_while(|d| d.is_ascii_digit()).count();
        if n == 0 {
            return false;
        }
        rest = &frac[n..];
    }
    match rest {
        b"Z" => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|d| d.is_ascii_digit()),
        _ => false,
    }
}

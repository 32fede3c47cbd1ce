//! The one test-result model every input format maps onto: run → suite path → test → attempts.
//!
//! Every retry encoding (Surefire/Gradle/nextest flaky and rerun elements, repeated
//! `<testcase>` elements, Flank's `flaky="true"`, `go test -count=N` repeats and reruns, mozlog
//! retries) ends up as a list of [`Attempt`]s of one [`Test`]. Flakiness within a run is then
//! simply "a test with a failing and a non-failing attempt" ([`Verdict::Flaky`]).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// The input format a [`Run`] was read from.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// JUnit XML, any dialect.
    Junit,
    /// `go test -json` (test2json) events, one JSON object per line.
    GoTest,
    /// mozlog raw structured log (`JSONFormatter`), one JSON object per line.
    MozlogRaw,
    /// mozlog `ErrorSummaryFormatter` output (what Treeherder ingests).
    MozlogErrorSummary,
}

impl Format {
    /// The name used in the JSONL output and on the command line.
    pub const fn name(self) -> &'static str {
        match self {
            Format::Junit => "junit",
            Format::GoTest => "gotest",
            Format::MozlogRaw => "mozlog",
            Format::MozlogErrorSummary => "mozlog-errorsummary",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The producer of a JUnit file, as far as the content tells.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum Dialect {
    /// No recognisable producer.
    #[default]
    Generic,
    /// Maven Surefire / Failsafe (`version="3.0"`, the Surefire XSD reference).
    Surefire,
    /// cargo-nextest or another quick-junit writer (`uuid` on the root, `nextest-run`).
    Nextest,
    /// pytest's junitxml plugin (suite `pytest`, root `pytest tests`).
    Pytest,
    /// jest-junit (root `jest tests`).
    Jest,
    /// go-junit-report or gotestsum (`go.version` property).
    Go,
    /// Bazel's synthesised `test.xml` (`status="run"` with `duration`).
    Bazel,
    /// googletest (`result=` on test cases, root `AllTests`).
    Googletest,
    /// OpenShift / Prow (`lifecycle=` on test cases).
    Openshift,
    /// Flank / Firebase Test Lab (`flaky="true"`, suite `flakes=`).
    Flank,
    /// mocha-junit-reporter (suite `Mocha Tests`).
    Mocha,
    /// Not JUnit: the stream formats have no dialects.
    None,
}

impl Dialect {
    /// The name used in the JSONL output.
    pub const fn name(self) -> &'static str {
        match self {
            Dialect::Generic => "generic",
            Dialect::Surefire => "surefire",
            Dialect::Nextest => "nextest",
            Dialect::Pytest => "pytest",
            Dialect::Jest => "jest",
            Dialect::Go => "go",
            Dialect::Bazel => "bazel",
            Dialect::Googletest => "googletest",
            Dialect::Openshift => "openshift",
            Dialect::Flank => "flank",
            Dialect::Mocha => "mocha",
            Dialect::None => "none",
        }
    }
}

/// The outcome of one attempt.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// Passed (also mozlog `OK`).
    Pass,
    /// An assertion failure (`<failure>`, go `fail`, mozlog `FAIL`).
    Fail,
    /// An error: unexpected exception, crash, timeout, setup/teardown error. A failure for flake
    /// purposes.
    Error,
    /// Skipped or not run.
    Skip,
}

impl Status {
    /// `pass`, `fail`, `error` or `skip`.
    pub const fn name(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
            Status::Error => "error",
            Status::Skip => "skip",
        }
    }

    /// Whether this status is a failure (`fail` or `error`).
    pub const fn is_failure(self) -> bool {
        matches!(self, Status::Fail | Status::Error)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the attempts of one test add up to within one run.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// At least one non-failing attempt that was not skipped, and no failing attempt.
    Pass,
    /// Every attempt that ran failed.
    Fail,
    /// Failing and non-failing attempts (or marked flaky by the producer).
    Flaky,
    /// Every attempt was skipped.
    Skip,
}

impl Verdict {
    /// `pass`, `fail`, `flaky` or `skip`.
    pub const fn name(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Flaky => "flaky",
            Verdict::Skip => "skip",
        }
    }
}

/// How an attempt was encoded in its input.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Origin {
    /// The `<testcase>` element's own result (each repeated `<testcase>` is one attempt).
    Testcase,
    /// A `<flakyFailure>` child: a failed attempt of a test that later passed.
    FlakyFailure,
    /// A `<flakyError>` child.
    FlakyError,
    /// A `<rerunFailure>` child: a later failed attempt of a test that failed every time.
    RerunFailure,
    /// A `<rerunError>` child.
    RerunError,
    /// A repeated pytest `<testcase>` that looks passed but was re-run by
    /// pytest-rerunfailures, which records no failure details for such attempts.
    InferredRerun,
    /// One `run` … `pass`/`fail`/`skip` span of `go test -json`.
    GoRun,
    /// One `test_start` … `test_end` span of a mozlog raw log.
    MozlogTest,
    /// One or more `test_result` lines of a mozlog errorsummary.
    ErrorSummary,
}

impl Origin {
    /// The name used in the JSONL output.
    pub const fn name(self) -> &'static str {
        match self {
            Origin::Testcase => "testcase",
            Origin::FlakyFailure => "flakyFailure",
            Origin::FlakyError => "flakyError",
            Origin::RerunFailure => "rerunFailure",
            Origin::RerunError => "rerunError",
            Origin::InferredRerun => "inferredRerun",
            Origin::GoRun => "goRun",
            Origin::MozlogTest => "mozlogTest",
            Origin::ErrorSummary => "errorSummary",
        }
    }
}

/// A result element that did not decide an attempt's status but is kept (a `<testcase>` with
/// `<failure>` and `<error>` and `<skipped>` at once).
#[derive(Clone, Debug, PartialEq)]
pub struct Detail {
    /// The status this element alone would give.
    pub status: Status,
    /// `message` attribute.
    pub message: Option<String>,
    /// `type` attribute.
    pub kind: Option<String>,
    /// Element text.
    pub text: Option<String>,
}

/// One subtest result inside an attempt (mozlog `test_status`).
#[derive(Clone, Debug, PartialEq)]
pub struct Subtest {
    /// Subtest name.
    pub name: String,
    /// Normalised status.
    pub status: Status,
    /// The producer's status word (`PASS`, `FAIL`, `TIMEOUT`, ...).
    pub raw_status: String,
    /// Whether the result was expected (mozlog `expected` / `known_intermittent`).
    pub expected: bool,
    /// Message, if any.
    pub message: Option<String>,
    /// Stack, if any.
    pub stack: Option<String>,
}

/// One execution of one test.
///
/// Small on purpose (most attempts of a run are plain passes): what every attempt has is inline,
/// its texts, subtests and properties live in an [`AttemptInfo`] that is allocated only when the
/// attempt has one of them. Read them through the accessors ([`Attempt::message`], ...), write
/// them through [`Attempt::info_mut`].
#[derive(Clone, Debug)]
pub struct Attempt {
    /// 1-based position among the test's attempts, in execution order.
    pub index: u32,
    /// Normalised status.
    pub status: Status,
    /// Whether the result was expected. JUnit and go: every non-failure is expected; mozlog:
    /// from `expected` and `known_intermittent`.
    pub expected: bool,
    /// How the attempt was encoded.
    pub origin: Origin,
    /// Duration in seconds.
    pub duration: Option<f64>,
    /// Further result elements of the same attempt.
    pub extra: Vec<Detail>,
    /// Texts, subtests and properties; `None` when the attempt has none.
    pub info: Option<Box<AttemptInfo>>,
}

/// The parts of an [`Attempt`] that a plain passing attempt does not have.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AttemptInfo {
    /// The producer's own status word when it says more than [`Status`] (`TIMEOUT`, `CRASH`,
    /// `pytest.xfail`, ...).
    pub raw_status: Option<String>,
    /// Start time as written by the producer.
    pub timestamp: Option<String>,
    /// Failure/skip message.
    pub message: Option<String>,
    /// Failure type (`type` attribute, exception class).
    pub kind: Option<String>,
    /// Failure body: element text, `<stackTrace>`, mozlog stack.
    pub trace: Option<String>,
    /// Captured standard output (go: the test's whole output, subtests included).
    pub stdout: Option<String>,
    /// Captured standard error.
    pub stderr: Option<String>,
    /// Subtest results (mozlog).
    pub subtests: Vec<Subtest>,
    /// Key/value attributes of the attempt (go `attr` events).
    pub properties: Vec<(String, String)>,
    /// The statuses the test's metadata lists as known intermittent (mozlog
    /// `known_intermittent` on `test_end`).
    pub known_intermittent: Vec<String>,
}

/// What an attempt without an [`AttemptInfo`] reads as.
static NO_INFO: AttemptInfo = AttemptInfo {
    raw_status: None,
    timestamp: None,
    message: None,
    kind: None,
    trace: None,
    stdout: None,
    stderr: None,
    subtests: Vec::new(),
    properties: Vec::new(),
    known_intermittent: Vec::new(),
};

impl AttemptInfo {
    /// Whether every field is empty (what an attempt without an `AttemptInfo` reads as).
    pub fn is_empty(&self) -> bool {
        *self == NO_INFO
    }
}

/// Attempts are equal when their contents are: no [`AttemptInfo`] equals an empty one.
impl PartialEq for Attempt {
    fn eq(&self, other: &Attempt) -> bool {
        self.index == other.index
            && self.status == other.status
            && self.expected == other.expected
            && self.origin == other.origin
            && self.duration == other.duration
            && self.extra == other.extra
            && self.info() == other.info()
    }
}

impl Attempt {
    /// A new attempt with only a status; every other field empty.
    pub fn new(status: Status, origin: Origin) -> Attempt {
        Attempt {
            index: 0,
            status,
            expected: !status.is_failure(),
            origin,
            duration: None,
            extra: Vec::new(),
            info: None,
        }
    }

    /// The attempt's texts, subtests and properties (all empty when it has none).
    pub fn info(&self) -> &AttemptInfo {
        self.info.as_deref().unwrap_or(&NO_INFO)
    }

    /// The attempt's texts, subtests and properties, for writing (allocated on first use).
    pub fn info_mut(&mut self) -> &mut AttemptInfo {
        self.info.get_or_insert_default()
    }

    /// The producer's own status word ([`AttemptInfo::raw_status`]).
    pub fn raw_status(&self) -> Option<&str> {
        self.info().raw_status.as_deref()
    }

    /// Start time as written by the producer ([`AttemptInfo::timestamp`]).
    pub fn timestamp(&self) -> Option<&str> {
        self.info().timestamp.as_deref()
    }

    /// Failure/skip message ([`AttemptInfo::message`]).
    pub fn message(&self) -> Option<&str> {
        self.info().message.as_deref()
    }

    /// Failure type ([`AttemptInfo::kind`]).
    pub fn kind(&self) -> Option<&str> {
        self.info().kind.as_deref()
    }

    /// Failure body ([`AttemptInfo::trace`]).
    pub fn trace(&self) -> Option<&str> {
        self.info().trace.as_deref()
    }

    /// Captured standard output ([`AttemptInfo::stdout`]).
    pub fn stdout(&self) -> Option<&str> {
        self.info().stdout.as_deref()
    }

    /// Captured standard error ([`AttemptInfo::stderr`]).
    pub fn stderr(&self) -> Option<&str> {
        self.info().stderr.as_deref()
    }

    /// Subtest results ([`AttemptInfo::subtests`]).
    pub fn subtests(&self) -> &[Subtest] {
        &self.info().subtests
    }

    /// Key/value attributes ([`AttemptInfo::properties`]).
    pub fn properties(&self) -> &[(String, String)] {
        &self.info().properties
    }

    /// Known-intermittent statuses ([`AttemptInfo::known_intermittent`]).
    pub fn known_intermittent(&self) -> &[String] {
        &self.info().known_intermittent
    }

    /// Whether this attempt counts as a failure: a failing status that was not expected.
    pub fn is_failure(&self) -> bool {
        self.status.is_failure() && !self.expected
    }

    /// The text a failure record's `output` holds: message (unless the body repeats it), body,
    /// standard output and standard error, each once, separated by newlines.
    pub fn combined_output(&self) -> String {
        let mut out = String::new();
        let mut push = |part: &str| {
            if part.trim().is_empty() {
                return;
            }
            if !out.is_empty() && !out.ends_with('\n') {
                out.push('\n');
            }
            out.push_str(part);
        };
        let info = self.info();
        let trace = info.trace.as_deref().unwrap_or("");
        if let Some(message) = info.message.as_deref()
            && !trace.contains(message.trim())
        {
            push(message);
        }
        push(trace);
        for sub in &info.subtests {
            if sub.status.is_failure() && !sub.expected {
                let mut line = format!("{} | {}", sub.raw_status, sub.name);
                if let Some(m) = &sub.message {
                    line.push_str(" - ");
                    line.push_str(m);
                }
                push(&line);
                if let Some(stack) = &sub.stack {
                    push(stack);
                }
            }
        }
        for detail in &self.extra {
            if let Some(m) = &detail.message {
                push(m);
            }
            if let Some(t) = &detail.text {
                push(t);
            }
        }
        if let Some(s) = &info.stdout {
            push(s);
        }
        if let Some(s) = &info.stderr {
            push(s);
        }
        out
    }
}

/// A verdict forced by the producer's policy, separate from what the attempts show (nextest's
/// `flaky-result = "fail"`: a `<failure>` next to `<flakyFailure>`s).
#[derive(Clone, Debug, PartialEq)]
pub struct Reported {
    /// The status the producer reported for the test as a whole.
    pub status: Status,
    /// Its message.
    pub message: Option<String>,
}

/// One test of a run with all its attempts.
#[derive(Clone, Debug, PartialEq)]
pub struct Test {
    /// Enclosing suite names, outermost first (JUnit nested `<testsuite>`s, the go package, the
    /// mozlog suite and manifest group).
    pub suite: Arc<[String]>,
    /// JUnit `classname`; `None` when absent or empty.
    pub classname: Option<String>,
    /// Test name (go: `TestX/sub`; mozlog: the test path).
    pub name: String,
    /// Source file, if given.
    pub file: Option<String>,
    /// Source line, if given.
    pub line: Option<u32>,
    /// Test-level properties (JUnit `<properties>` inside `<testcase>`, other known attributes
    /// such as `lifecycle`).
    pub properties: Vec<(String, String)>,
    /// The producer marked the test flaky without giving attempts (Flank `flaky="true"`).
    pub flaky_marked: bool,
    /// A verdict forced by the producer, if any.
    pub reported: Option<Reported>,
    /// Attempts in execution order; never empty.
    pub attempts: Vec<Attempt>,
}

impl Test {
    /// The verdict of the attempts (see [`Verdict`]).
    pub fn verdict(&self) -> Verdict {
        let failing = self.attempts.iter().any(Attempt::is_failure);
        let passing = self
            .attempts
            .iter()
            .any(|a| !a.is_failure() && a.status != Status::Skip);
        match (failing, passing) {
            (true, true) => Verdict::Flaky,
            _ if self.flaky_marked => Verdict::Flaky,
            (true, false) => Verdict::Fail,
            (false, true) => Verdict::Pass,
            (false, false) => Verdict::Skip,
        }
    }

    /// A stable identifier: suite path, classname and name joined by `::` (empty parts kept out).
    pub fn id(&self) -> String {
        let mut id = String::new();
        let parts = self
            .suite
            .iter()
            .map(String::as_str)
            .chain(self.classname.as_deref())
            .chain(std::iter::once(self.name.as_str()));
        for part in parts {
            if part.is_empty() {
                continue;
            }
            if !id.is_empty() {
                id.push_str("::");
            }
            id.push_str(part);
        }
        id
    }
}

/// What a suite-level entry stands for.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum SuiteKind {
    /// A JUnit `<testsuite>` element.
    Suite,
    /// One run of a go package (a package-level `pass`/`fail`/`skip`).
    Package,
    /// A mozlog manifest group (`group_result`).
    Group,
    /// A crash not attached to any test (mozlog `crash` without `test`).
    Crash,
}

impl SuiteKind {
    /// The name used in the JSONL output.
    pub const fn name(self) -> &'static str {
        match self {
            SuiteKind::Suite => "suite",
            SuiteKind::Package => "package",
            SuiteKind::Group => "group",
            SuiteKind::Crash => "crash",
        }
    }
}

/// A suite-level entry: a JUnit suite with its properties and output, a go package result
/// (TestMain failures, build failures), a mozlog group result or a stray crash.
#[derive(Clone, Debug, PartialEq)]
pub struct SuiteResult {
    /// What this entry is.
    pub kind: SuiteKind,
    /// Suite path, outermost first.
    pub path: Arc<[String]>,
    /// 1-based count of this path's entries so far (a go package run again by a rerun).
    pub attempt: u32,
    /// Suite-level outcome when the format has one (go packages, mozlog groups).
    pub status: Option<Status>,
    /// The producer's status word.
    pub raw_status: Option<String>,
    /// The suite failed to build (go `[build failed]`, `FailedBuild`, `build-fail`).
    pub build_failed: bool,
    /// Duration in seconds.
    pub duration: Option<f64>,
    /// Start time as written by the producer.
    pub timestamp: Option<String>,
    /// Host name (JUnit `hostname`).
    pub hostname: Option<String>,
    /// Message (crash signature, ...).
    pub message: Option<String>,
    /// Suite properties (`<properties>`, go `attr` without a test).
    pub properties: Vec<(String, String)>,
    /// Suite-level standard output (JUnit `<system-out>`, go package output).
    pub stdout: Option<String>,
    /// Suite-level standard error (JUnit `<system-err>`, go build output).
    pub stderr: Option<String>,
    /// Whether at least one test of this suite entry failed (go: decides whether a package
    /// failure needs its own failure record).
    pub has_failing_test: bool,
}

impl SuiteResult {
    /// An empty entry of `kind` at `path`.
    pub fn new(kind: SuiteKind, path: Arc<[String]>) -> SuiteResult {
        SuiteResult {
            kind,
            path,
            attempt: 1,
            status: None,
            raw_status: None,
            build_failed: false,
            duration: None,
            timestamp: None,
            hostname: None,
            message: None,
            properties: Vec::new(),
            stdout: None,
            stderr: None,
            has_failing_test: false,
        }
    }
}

/// Run metadata that is mostly not in the file: given on the command line or by the caller.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunMeta {
    /// Revision or payload under test.
    pub revision: Option<String>,
    /// CI job name.
    pub job: Option<String>,
    /// CI run / build / task id.
    pub run_id: Option<String>,
    /// Chunk or shard.
    pub chunk: Option<String>,
    /// Builder name.
    pub builder: Option<String>,
    /// Repository.
    pub repo: Option<String>,
    /// Target OS.
    pub goos: Option<String>,
    /// Target architecture.
    pub goarch: Option<String>,
    /// Commit time, RFC 3339.
    pub date: Option<String>,
    /// Link to the CI run.
    pub url: Option<String>,
    /// Every other key: variant fields (mozlog `run_info` lands here too).
    pub variant: BTreeMap<String, String>,
}

impl RunMeta {
    /// The keys with a field of their own (`payload` is an alias of `revision`).
    pub const KNOWN_KEYS: [&'static str; 10] = [
        "revision", "job", "run_id", "chunk", "builder", "repo", "goos", "goarch", "date", "url",
    ];

    /// Sets `key` (a known key, `payload`, or a variant key) to `value`.
    pub fn set(&mut self, key: &str, value: impl Into<String>) {
        let value = Some(value.into());
        match key {
            "revision" | "payload" => self.revision = value,
            "job" => self.job = value,
            "run_id" => self.run_id = value,
            "chunk" => self.chunk = value,
            "builder" => self.builder = value,
            "repo" => self.repo = value,
            "goos" => self.goos = value,
            "goarch" => self.goarch = value,
            "date" => self.date = value,
            "url" => self.url = value,
            other => {
                if let Some(v) = value {
                    self.variant.insert(other.to_owned(), v);
                }
            }
        }
    }

    /// Every set key and value, known keys first, then variant keys in order.
    pub fn pairs(&self) -> Vec<(&str, &str)> {
        let known = [
            ("revision", &self.revision),
            ("job", &self.job),
            ("run_id", &self.run_id),
            ("chunk", &self.chunk),
            ("builder", &self.builder),
            ("repo", &self.repo),
            ("goos", &self.goos),
            ("goarch", &self.goarch),
            ("date", &self.date),
            ("url", &self.url),
        ];
        let mut out: Vec<(&str, &str)> = known
            .into_iter()
            .filter_map(|(k, v)| v.as_deref().map(|v| (k, v)))
            .collect();
        out.extend(self.variant.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        out
    }
}

/// Totals over one run, the numbers the corpus tests pin.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Distinct tests.
    pub tests: usize,
    /// Attempts over all tests.
    pub attempts: usize,
    /// Attempts that are failures ([`Attempt::is_failure`]).
    pub failed_attempts: usize,
    /// Tests whose verdict is [`Verdict::Fail`].
    pub failed: usize,
    /// Tests whose verdict is [`Verdict::Flaky`].
    pub flaky: usize,
    /// Tests whose verdict is [`Verdict::Skip`].
    pub skipped: usize,
    /// Suite-level entries whose status is a failure (go package failures, mozlog group
    /// errors, stray crashes).
    pub suite_failures: usize,
}

/// One ingested file.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    /// Where the data came from (the file path as given, or `-`).
    pub source: String,
    /// The format it was read as.
    pub format: Format,
    /// The JUnit dialect, [`Dialect::None`] for the stream formats.
    pub dialect: Dialect,
    /// The run's own name (`<testsuites name>`, mozlog suite name).
    pub name: Option<String>,
    /// Metadata given by the caller, completed from the file where it has some.
    pub meta: RunMeta,
    /// Suite-level entries in input order.
    pub suites: Vec<SuiteResult>,
    /// Tests in order of first appearance.
    pub tests: Vec<Test>,
    /// The tests the harness announced before running them, as (group, test): mozlog
    /// `suite_start`'s `tests` map. Empty for formats that announce nothing.
    pub scheduled: Vec<(String, String)>,
    /// Text that belongs to no test or suite (go non-JSON lines, mozlog `log` messages).
    pub log: Option<String>,
    /// Problems recovered from, with their positions.
    pub warnings: Vec<crate::Warning>,
    /// Warnings not kept because there were too many.
    pub warnings_dropped: u64,
}

impl Run {
    /// An empty run.
    pub fn new(source: impl Into<String>, format: Format, meta: RunMeta) -> Run {
        Run {
            source: source.into(),
            format,
            dialect: if format == Format::Junit {
                Dialect::Generic
            } else {
                Dialect::None
            },
            name: None,
            meta,
            suites: Vec::new(),
            tests: Vec::new(),
            scheduled: Vec::new(),
            log: None,
            warnings: Vec::new(),
            warnings_dropped: 0,
        }
    }

    /// Totals over the run.
    pub fn counts(&self) -> Counts {
        let mut c = Counts {
            tests: self.tests.len(),
            ..Counts::default()
        };
        for test in &self.tests {
            c.attempts += test.attempts.len();
            c.failed_attempts += test.attempts.iter().filter(|a| a.is_failure()).count();
            match test.verdict() {
                Verdict::Fail => c.failed += 1,
                Verdict::Flaky => c.flaky += 1,
                Verdict::Skip => c.skipped += 1,
                Verdict::Pass => {}
            }
        }
        c.suite_failures = self
            .suites
            .iter()
            .filter(|s| s.status.is_some_and(Status::is_failure))
            .count();
        c
    }
}

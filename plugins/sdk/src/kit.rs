//! The conformance kit: drives a plugin through every operation of the capabilities it
//! declares, the way the host uses them, and checks the documents it answers with.
//!
//! Call it from your plugin's tests with a configuration pointing at a throwaway store:
//!
//! ```text
//! #[test]
//! fn conforms() {
//!     let config = Config { options: [("data".into(), tempdir.into())].into() };
//!     flakewatch_plugin_sdk::kit::assert_conforms::<MyTracker>(&config);
//! }
//! ```
//!
//! An issue tracker must list every issue over its pages (no number twice, `total_count`
//! equal to what arrived), create an issue that the next listing shows with its title and
//! body, add a comment that the issue's comments then show, and, when it implements them,
//! close and reopen. A failure source must page its builds with build URLs of the form
//! `https://ci.chromium.org/b/ID` and RFC 3339 times. A test-results store must store a run
//! once (`stored: false` the second time), give it back field for field, page a revision's
//! runs in the order stored, and answer the history of [`history_fixture`] with the counts
//! worked out there by hand. An aggregator-tables store must insert [`tables_fixture`]'s rows
//! of every table once (the same rows again: all skipped; a key twice in one request: once),
//! refuse a row that does not fit its table before writing anything, read the rows back one
//! per key in key order with every column, filter them by job and time window, and answer
//! the uploaders' window worked out by hand. Every response goes through its JSON encoding and back, as it
//! does across the ABI. The kit writes to the store: never point it at a real tracker.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::model::{
    AddCommentRequest, BuildPage, Capability, CloseIssueRequest, CommentPage, CommentsRequest,
    Config, CreateIssueRequest, CreatedIssue, Issue, IssuePage, IssueState, ListBuildsRequest,
    ListIssuesRequest, ReopenIssueRequest, ResultsRun, RevisionRunsRequest, RunPage, ScheduledTest,
    StoreRunRequest, StoredRun, TestHistory, TestHistoryRequest, TestHistoryRow, TestResult,
};
use crate::model::{
    AggregatorTable, InsertRowsRequest, InsertedRows, ReadRowsRequest, Row, RowPage, UploadWindow,
    UploadWindowRequest,
};
use crate::plugin::{ErrorKind, Plugin, PluginError};

/// Most pages the kit follows before it calls a listing endless.
const MAX_PAGES: usize = 10_000;

/// What the kit found wrong, per operation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// Operations that were run.
    pub checked: Vec<&'static str>,
    /// Problems: (operation, what is wrong).
    pub problems: Vec<(&'static str, String)>,
}

impl Report {
    fn fail(&mut self, operation: &'static str, message: impl Into<String>) {
        self.problems.push((operation, message.into()));
    }

    /// Whether nothing was found wrong.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Runs the kit and panics with every problem found (for tests).
pub fn assert_conforms<P: Plugin>(config: &Config) -> Report {
    let report = check::<P>(config);
    assert!(
        report.is_ok(),
        "plugin {} does not conform:\n{}",
        P::info().name,
        report
            .problems
            .iter()
            .map(|(op, why)| format!("  {op}: {why}"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    report
}

/// Runs the kit: every operation of the declared capabilities.
pub fn check<P: Plugin>(config: &Config) -> Report {
    let mut report = Report::default();
    let info = P::info();
    if info.name.is_empty() {
        report.fail("describe", "the plugin has no name");
    }
    if info.capabilities.is_empty() {
        report.fail("describe", "the plugin declares no capability");
    }
    let plugin = match P::create(config) {
        Ok(plugin) => plugin,
        Err(err) => {
            report.fail("create", format!("{err:?}"));
            return report;
        }
    };
    report.checked.push("create");
    if info.capabilities.contains(&Capability::IssueTracker) {
        check_tracker(&plugin, &mut report);
    }
    if info.capabilities.contains(&Capability::FailureSource) {
        check_source(&plugin, &mut report);
    }
    if info.capabilities.contains(&Capability::TestResults) {
        check_results(&plugin, &mut report);
    }
    if info.capabilities.contains(&Capability::AggregatorTables) {
        check_tables(&plugin, &mut report);
    }
    report
}

/// Sends `value` through its JSON encoding and back, as the ABI does.
fn wire<T: Serialize + DeserializeOwned>(value: T) -> Result<T, String> {
    let bytes = serde_json::to_vec(&value).map_err(|e| format!("cannot encode: {e}"))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("cannot decode its own answer: {e}"))
}

fn call<T: Serialize + DeserializeOwned>(
    report: &mut Report,
    operation: &'static str,
    result: Result<T, PluginError>,
) -> Option<T> {
    report.checked.push(operation);
    match result.map_err(|e| format!("{e:?}")).and_then(wire) {
        Ok(value) => Some(value),
        Err(why) => {
            report.fail(operation, why);
            None
        }
    }
}

/// Whether `text` has the shape of RFC 3339 (kept here for plugins that call it from the kit).
pub use crate::model::is_rfc3339;

fn list_issues<P: Plugin>(plugin: &P, report: &mut Report) -> Option<Vec<Issue>> {
    let mut issues = Vec::new();
    let mut cursor = None;
    for _ in 0..MAX_PAGES {
        let page: IssuePage = call(
            report,
            "list_issues",
            plugin.list_issues(&ListIssuesRequest {
                cursor: cursor.clone(),
            }),
        )?;
        issues.extend(page.issues);
        if let Some(total) = page.total_count
            && page.next_cursor.is_none()
            && total != issues.len() as u64
        {
            report.fail(
                "list_issues",
                format!("total_count says {total}, {} issues arrived", issues.len()),
            );
        }
        match page.next_cursor {
            Some(next) if Some(&next) == cursor.as_ref() => {
                report.fail("list_issues", "next_cursor repeats the cursor asked for");
                return None;
            }
            Some(next) => cursor = Some(next),
            None => return Some(issues),
        }
    }
    report.fail("list_issues", format!("more than {MAX_PAGES} pages"));
    None
}

fn check_issues(issues: &[Issue], report: &mut Report) {
    let mut numbers: Vec<u64> = issues.iter().map(|i| i.number).collect();
    numbers.sort_unstable();
    if numbers.windows(2).any(|w| w[0] == w[1]) {
        report.fail("list_issues", "an issue number is listed twice");
    }
    if numbers.first() == Some(&0) {
        report.fail("list_issues", "issue number 0");
    }
    for issue in issues {
        for (name, time) in [
            ("closed_at", &issue.closed_at),
            ("created_at", &issue.created_at),
            ("body_edited_at", &issue.body_edited_at),
        ] {
            if let Some(time) = time
                && !is_rfc3339(time)
            {
                report.fail(
                    "list_issues",
                    format!("issue {}: {name} {time:?} is not RFC 3339", issue.number),
                );
            }
        }
    }
}

fn comments<P: Plugin>(plugin: &P, issue: u64, report: &mut Report) -> Option<Vec<String>> {
    let mut bodies = Vec::new();
    let mut cursor = None;
    let mut last_time = String::new();
    for _ in 0..MAX_PAGES {
        let page: CommentPage = call(
            report,
            "issue_comments",
            plugin.issue_comments(&CommentsRequest {
                issue,
                cursor: cursor.clone(),
            }),
        )?;
        for comment in page.comments {
            if !is_rfc3339(&comment.created_at) {
                report.fail(
                    "issue_comments",
                    format!("created_at {:?} is not RFC 3339", comment.created_at),
                );
            } else if comment.created_at < last_time {
                report.fail("issue_comments", "comments are not oldest first");
            } else {
                last_time = comment.created_at.clone();
            }
            bodies.push(comment.body);
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Some(bodies),
        }
    }
    report.fail("issue_comments", format!("more than {MAX_PAGES} pages"));
    None
}

fn state_of<P: Plugin>(plugin: &P, number: u64, report: &mut Report) -> Option<IssueState> {
    let issues = list_issues(plugin, report)?;
    issues.iter().find(|i| i.number == number).map(|i| i.state)
}

fn check_tracker<P: Plugin>(plugin: &P, report: &mut Report) {
    let Some(before) = list_issues(plugin, report) else {
        return;
    };
    check_issues(&before, report);
    let title = "flakewatch conformance kit: an issue";
    let body = "#!watchflakes\npost <- pkg == \"flakewatch/kit\"\n";
    let Some(created) = call::<CreatedIssue>(
        report,
        "create_issue",
        plugin.create_issue(&CreateIssueRequest {
            title: title.to_owned(),
            body: body.to_owned(),
            labels: vec!["Automation".to_owned()],
        }),
    ) else {
        return;
    };
    let number = created.number;
    if number == 0 || before.iter().any(|i| i.number == number) {
        report.fail(
            "create_issue",
            format!("number {number} is 0 or already taken"),
        );
    }
    let Some(after) = list_issues(plugin, report) else {
        return;
    };
    check_issues(&after, report);
    match after.iter().find(|i| i.number == number) {
        None => report.fail(
            "create_issue",
            format!("issue {number} is not listed afterwards"),
        ),
        Some(issue) => {
            if issue.title != title || issue.body != body || issue.state != IssueState::Open {
                report.fail(
                    "create_issue",
                    format!("issue {number} is listed as {issue:?}"),
                );
            }
        }
    }
    if after.len() != before.len() + 1 {
        report.fail(
            "create_issue",
            format!(
                "{} issues before, {} after one was created",
                before.len(),
                after.len()
            ),
        );
    }
    let comment = "flakewatch conformance kit: a comment\n\n— [watchflakes](https://go.dev/wiki/Watchflakes)\n";
    if call::<()>(
        report,
        "add_comment",
        plugin.add_comment(&AddCommentRequest {
            issue: number,
            body: comment.to_owned(),
        }),
    )
    .is_some()
        && let Some(bodies) = comments(plugin, number, report)
        && !bodies.iter().any(|b| b == comment)
    {
        report.fail(
            "add_comment",
            format!("the comment is not among issue {number}'s comments"),
        );
    }
    // Optional operations: checked when implemented.
    let closed = plugin.close_issue(&CloseIssueRequest {
        issue: number,
        closed_at: "2025-01-02T03:04:05Z".to_owned(),
    });
    match closed {
        Err(e) if e.kind == ErrorKind::Unsupported => {}
        other => {
            if call(report, "close_issue", other).is_some()
                && state_of(plugin, number, report) != Some(IssueState::Closed)
            {
                report.fail(
                    "close_issue",
                    format!("issue {number} is not closed afterwards"),
                );
            }
        }
    }
    match plugin.reopen_issue(&ReopenIssueRequest { issue: number }) {
        Err(e) if e.kind == ErrorKind::Unsupported => {}
        other => {
            if call(report, "reopen_issue", other).is_some()
                && state_of(plugin, number, report) != Some(IssueState::Open)
            {
                report.fail(
                    "reopen_issue",
                    format!("issue {number} is not open afterwards"),
                );
            }
        }
    }
}

fn check_source<P: Plugin>(plugin: &P, report: &mut Report) {
    let mut cursor = None;
    for _ in 0..MAX_PAGES {
        let Some(page) = call::<BuildPage>(
            report,
            "list_builds",
            plugin.list_builds(&ListBuildsRequest {
                since: "1970-01-01T00:00:00Z".to_owned(),
                cursor: cursor.clone(),
            }),
        ) else {
            return;
        };
        for build in &page.builds {
            let id = build.url.strip_prefix("https://ci.chromium.org/b/");
            if !id.is_some_and(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit())) {
                report.fail(
                    "list_builds",
                    format!(
                        "build URL {:?} is not https://ci.chromium.org/b/ID",
                        build.url
                    ),
                );
            }
            if !is_rfc3339(&build.commit_time) {
                report.fail(
                    "list_builds",
                    format!(
                        "{}: commit_time {:?} is not RFC 3339",
                        build.url, build.commit_time
                    ),
                );
            }
            if build.status.is_empty()
                || !build
                    .status
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b == b'_')
            {
                report.fail(
                    "list_builds",
                    format!(
                        "{}: status {:?} is not a status name",
                        build.url, build.status
                    ),
                );
            }
            if build.failures.iter().any(|f| f.test_id.is_empty()) {
                report.fail(
                    "list_builds",
                    format!("{}: a failure without a test_id", build.url),
                );
            }
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return,
        }
    }
    report.fail("list_builds", format!("more than {MAX_PAGES} pages"));
}

// ---- Test results ----

/// A run that uses every field: `None` next to empty values, a test twice, a test without
/// attempts, a retried test, properties and scheduled tests.
pub fn sample_run(key: &str, revision: &str, suite: Option<&str>) -> ResultsRun {
    use crate::model::AttemptResult;
    let attempt = |status: &str, failure: bool| AttemptResult {
        status: status.to_owned(),
        failure,
        expected: !failure,
        raw_status: None,
        duration: None,
        message: None,
        known_intermittent: Vec::new(),
    };
    ResultsRun {
        key: key.to_owned(),
        job: Some("kit-job".to_owned()),
        revision: Some(revision.to_owned()),
        suite: suite.map(str::to_owned),
        chunk: Some(2),
        chunks: Some(4),
        started_at: Some("2025-06-09T12:00:00.25+02:00".to_owned()),
        url: None,
        source: "results/kit.xml".to_owned(),
        format: "junit".to_owned(),
        properties: [
            ("platform".to_owned(), "linux64".to_owned()),
            ("empty".to_owned(), String::new()),
        ]
        .into(),
        scheduled: vec![
            ScheduledTest {
                group: "dom/a.toml".to_owned(),
                test: "test_a.html".to_owned(),
            },
            ScheduledTest {
                group: String::new(),
                test: "test_\u{e9}\u{1F600}".to_owned(),
            },
        ],
        tests: vec![
            TestResult {
                suite: vec!["outer".to_owned(), "inner".to_owned()],
                classname: Some("pkg.Class".to_owned()),
                name: "same title".to_owned(),
                attempts: vec![
                    AttemptResult {
                        status: "fail".to_owned(),
                        failure: true,
                        expected: false,
                        raw_status: Some("TIMEOUT".to_owned()),
                        duration: Some(0.1 + 0.2),
                        message: Some("line 1\nline 2\t\"quoted\" \\ back".to_owned()),
                        known_intermittent: vec!["TIMEOUT".to_owned(), "FAIL".to_owned()],
                    },
                    attempt("pass", false),
                ],
            },
            TestResult {
                suite: vec!["outer".to_owned(), "inner".to_owned()],
                classname: Some("pkg.Class".to_owned()),
                name: "same title".to_owned(),
                attempts: vec![attempt("pass", false)],
            },
            TestResult {
                suite: Vec::new(),
                classname: None,
                name: String::new(),
                attempts: Vec::new(),
            },
            TestResult {
                suite: vec![String::new()],
                classname: Some(String::new()),
                name: "skipped".to_owned(),
                attempts: vec![AttemptResult {
                    message: Some(String::new()),
                    duration: Some(0.0),
                    ..attempt("skip", false)
                }],
            },
        ],
    }
}

/// The kit's history data set and the answers worked out by hand: runs of the job
/// `history-job` (and of others), and for each request the expected answer.
///
/// Runs (all of `history-job` unless said), `now` = 2025-06-10T00:00:00Z:
///
/// | key | started | tests (attempts) |
/// |---|---|---|
/// | h1 | 06-09T00:00Z (written +02:00) | A pass; B fail; C fail then pass; D skip; E skip then fail; F `fail` but not a failure (expected) |
/// | h2 | 06-08 | A fail; B fail; C pass; D skip |
/// | h3 | 06-07 | A pass, A pass again (one test twice); B in suite `other` pass |
/// | h4 | 06-06 | A fail |
/// | h5 | 06-01 (9 days back) | A fail |
/// | h6 | 06-11 (after now) | A fail |
/// | h7 | 06-09, job `other-job` | A fail |
/// | h8 | no start time | A fail |
/// | h9a, h9b | both 06-05T12:00Z | A pass (h9a), A fail (h9b) |
pub fn history_fixture() -> (Vec<ResultsRun>, Vec<(TestHistoryRequest, TestHistory)>) {
    use crate::model::AttemptResult;
    let a = |status: &str, failure: bool| AttemptResult {
        status: status.to_owned(),
        failure,
        expected: !failure,
        ..AttemptResult::default()
    };
    let t = |suite: &str, name: &str, attempts: Vec<AttemptResult>| TestResult {
        suite: vec![suite.to_owned()],
        classname: None,
        name: name.to_owned(),
        attempts,
    };
    let run = |key: &str, job: &str, started: Option<&str>, tests: Vec<TestResult>| ResultsRun {
        key: key.to_owned(),
        job: Some(job.to_owned()),
        revision: Some(format!("rev-{key}")),
        started_at: started.map(str::to_owned),
        tests,
        ..ResultsRun::default()
    };
    let (pass, fail, skip) = (|| a("pass", false), || a("fail", true), || a("skip", false));
    let j = "history-job";
    let runs = vec![
        run(
            "h1",
            j,
            Some("2025-06-09T02:00:00+02:00"),
            vec![
                t("s", "A", vec![pass()]),
                t("s", "B", vec![fail()]),
                t("s", "C", vec![fail(), pass()]),
                t("s", "D", vec![skip()]),
                t("s", "E", vec![skip(), fail()]),
                t("s", "F", vec![a("fail", false)]),
            ],
        ),
        run(
            "h2",
            j,
            Some("2025-06-08T00:00:00Z"),
            vec![
                t("s", "A", vec![fail()]),
                t("s", "B", vec![fail()]),
                t("s", "C", vec![pass()]),
                t("s", "D", vec![skip()]),
            ],
        ),
        run(
            "h3",
            j,
            Some("2025-06-07T00:00:00Z"),
            vec![
                t("s", "A", vec![pass()]),
                t("s", "A", vec![pass()]),
                t("other", "B", vec![pass()]),
            ],
        ),
        run(
            "h4",
            j,
            Some("2025-06-06T00:00:00Z"),
            vec![t("s", "A", vec![fail()])],
        ),
        run(
            "h5",
            j,
            Some("2025-06-01T00:00:00Z"),
            vec![t("s", "A", vec![fail()])],
        ),
        run(
            "h6",
            j,
            Some("2025-06-11T00:00:00Z"),
            vec![t("s", "A", vec![fail()])],
        ),
        run(
            "h7",
            "other-job",
            Some("2025-06-09T00:00:00Z"),
            vec![t("s", "A", vec![fail()])],
        ),
        run("h8", j, None, vec![t("s", "A", vec![fail()])]),
        run(
            "h9a",
            j,
            Some("2025-06-05T12:00:00Z"),
            vec![t("s", "A", vec![pass()])],
        ),
        run(
            "h9b",
            j,
            Some("2025-06-05T12:00:00Z"),
            vec![t("s", "A", vec![fail()])],
        ),
    ];
    let row = |suite: &str, name: &str, pass_count, fail_count, flake_count| TestHistoryRow {
        suite: vec![suite.to_owned()],
        name: name.to_owned(),
        pass_count,
        fail_count,
        flake_count,
    };
    let request = |max_runs, max_days| TestHistoryRequest {
        job: j.to_owned(),
        max_runs,
        max_days,
        now: "2025-06-10T00:00:00Z".to_owned(),
    };
    let expected = vec![
        // The 3 newest of the 7-day window: h1, h2, h3.
        (
            request(3, 7),
            TestHistory {
                runs: 3,
                rows: vec![
                    row("other", "B", 1, 0, 0),
                    row("s", "A", 2, 1, 0),
                    row("s", "B", 0, 2, 0),
                    row("s", "C", 1, 0, 1),
                    row("s", "E", 0, 1, 0),
                    row("s", "F", 1, 0, 0),
                ],
            },
        ),
        // One day back from now reaches h1 exactly (its start is the window's first instant).
        (
            request(200, 1),
            TestHistory {
                runs: 1,
                rows: vec![
                    row("s", "A", 1, 0, 0),
                    row("s", "B", 0, 1, 0),
                    row("s", "C", 0, 0, 1),
                    row("s", "E", 0, 1, 0),
                    row("s", "F", 1, 0, 0),
                ],
            },
        ),
        // Seven days: h1, h2, h3, h4, h9a, h9b (h5 is 9 days back, h6 after now).
        (
            request(200, 7),
            TestHistory {
                runs: 6,
                rows: vec![
                    row("other", "B", 1, 0, 0),
                    row("s", "A", 3, 3, 0),
                    row("s", "B", 0, 2, 0),
                    row("s", "C", 1, 0, 1),
                    row("s", "E", 0, 1, 0),
                    row("s", "F", 1, 0, 0),
                ],
            },
        ),
        // Five runs: h9a and h9b start together; the later key (h9b) is the newer.
        (
            request(5, 7),
            TestHistory {
                runs: 5,
                rows: vec![
                    row("other", "B", 1, 0, 0),
                    row("s", "A", 2, 3, 0),
                    row("s", "B", 0, 2, 0),
                    row("s", "C", 1, 0, 1),
                    row("s", "E", 0, 1, 0),
                    row("s", "F", 1, 0, 0),
                ],
            },
        ),
        // No run of the job at all.
        (
            TestHistoryRequest {
                job: "no-such-job".to_owned(),
                ..request(200, 7)
            },
            TestHistory::default(),
        ),
    ];
    (runs, expected)
}

/// Every run of a revision, following the pages.
fn all_revision_runs<P: Plugin>(
    plugin: &P,
    report: &mut Report,
    revision: &str,
    suite: Option<&str>,
) -> Option<(Vec<ResultsRun>, usize)> {
    let mut runs = Vec::new();
    let mut cursor = None;
    for page in 1..=MAX_PAGES {
        let RunPage {
            runs: got,
            next_cursor,
        } = call::<RunPage>(
            report,
            "revision_runs",
            plugin.revision_runs(&RevisionRunsRequest {
                revision: revision.to_owned(),
                suite: suite.map(str::to_owned),
                cursor: cursor.clone(),
            }),
        )?;
        runs.extend(got);
        match next_cursor {
            None => return Some((runs, page)),
            Some(next) if Some(&next) == cursor.as_ref() => {
                report.fail("revision_runs", format!("cursor {next:?} repeats"));
                return None;
            }
            Some(next) => cursor = Some(next),
        }
    }
    report.fail("revision_runs", format!("more than {MAX_PAGES} pages"));
    None
}

fn check_results<P: Plugin>(plugin: &P, report: &mut Report) {
    // Store, store again, read back field for field.
    let run = sample_run("kit-run-1", "kit-rev", Some("kit-suite"));
    let request = StoreRunRequest { run: run.clone() };
    match call::<StoredRun>(report, "store_run", plugin.store_run(&request)) {
        Some(StoredRun { stored: true }) => {}
        Some(_) => report.fail("store_run", "a new run was answered stored: false"),
        None => return,
    }
    match call::<StoredRun>(report, "store_run", plugin.store_run(&request)) {
        Some(StoredRun { stored: false }) => {}
        Some(_) => report.fail("store_run", "a run stored twice was answered stored: true"),
        None => return,
    }
    let Some((got, _)) = all_revision_runs(plugin, report, "kit-rev", None) else {
        return;
    };
    if got != [run.clone()] {
        report.fail(
            "revision_runs",
            format!("stored {run:?}\nread back {got:?}"),
        );
    }
    // Several runs, in the order stored, filtered by suite.
    let keys = ["kit-p3", "kit-p1", "kit-p5", "kit-p2", "kit-p4"];
    let mut stored = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        let suite = if i % 2 == 0 { "even" } else { "odd" };
        let run = sample_run(key, "kit-rev-pages", Some(suite));
        if call::<StoredRun>(
            report,
            "store_run",
            plugin.store_run(&StoreRunRequest { run: run.clone() }),
        )
        .is_none()
        {
            return;
        }
        stored.push(run);
    }
    if let Some((got, _)) = all_revision_runs(plugin, report, "kit-rev-pages", None) {
        let got: Vec<&str> = got.iter().map(|r| r.key.as_str()).collect();
        if got != keys {
            report.fail("revision_runs", format!("stored {keys:?}, listed {got:?}"));
        }
    }
    if let Some((got, _)) = all_revision_runs(plugin, report, "kit-rev-pages", Some("even")) {
        let want: Vec<&ResultsRun> = stored
            .iter()
            .filter(|r| r.suite.as_deref() == Some("even"))
            .collect();
        if got.iter().collect::<Vec<_>>() != want {
            report.fail("revision_runs", "the suite filter lists other runs");
        }
    }
    if let Some((got, _)) = all_revision_runs(plugin, report, "kit-no-such-revision", None)
        && !got.is_empty()
    {
        report.fail("revision_runs", "an unknown revision lists runs");
    }
    // History.
    let (runs, expected) = history_fixture();
    for run in runs {
        if call::<StoredRun>(
            report,
            "store_run",
            plugin.store_run(&StoreRunRequest { run }),
        )
        .is_none()
        {
            return;
        }
    }
    for (request, want) in expected {
        if let Some(got) =
            call::<TestHistory>(report, "test_history", plugin.test_history(&request))
            && got != want
        {
            report.fail(
                "test_history",
                format!("for {request:?}\nexpected {want:?}\nanswered {got:?}"),
            );
        }
    }
}

// ---- Aggregator tables ----

/// A row from `(column, value)` pairs.
pub fn row(pairs: &[(&str, serde_json::Value)]) -> Row {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// A disruption or alert row's job-run columns for run `run` of job `job`.
fn job_run(job: &str, run: &str, start: &str, end: &str) -> Vec<(&'static str, serde_json::Value)> {
    use serde_json::json;
    vec![
        ("JobName", json!(job)),
        ("JobRunName", json!(run)),
        ("JobRunStartTime", json!(start)),
        ("JobRunEndTime", json!(end)),
        ("Cluster", json!("build01")),
        ("ReleaseTag", json!("4.16.0-0.nightly-2025-06-09-000000")),
        ("MasterNodesUpdated", json!("N")),
        ("JobRunStatus", json!("success")),
    ]
}

/// The kit's rows for every aggregator table: values of every column type, `NULL`s, quotes,
/// newlines and non-ASCII text, runs of two jobs on three days. Times are whole seconds in
/// UTC (`…Z`), the form stores answer in.
pub fn tables_fixture() -> Vec<(AggregatorTable, Vec<Row>)> {
    use serde_json::{Value, json};
    let with = |base: Vec<(&'static str, Value)>, extra: &[(&'static str, Value)]| {
        let mut r = row(&base);
        for (k, v) in extra {
            r.insert((*k).to_owned(), v.clone());
        }
        r
    };
    let d = |job: &str, run: &str, day: u32, backend: &str, seconds: i64| {
        with(
            job_run(
                job,
                run,
                &format!("2025-06-{day:02}T01:00:00Z"),
                &format!("2025-06-{day:02}T03:30:00Z"),
            ),
            &[
                ("BackendName", json!(backend)),
                ("DisruptionSeconds", json!(seconds)),
            ],
        )
    };
    let a = |run: &str, day: u32, name: &str, namespace: &str, seconds: i64| {
        with(
            job_run(
                "kit-job",
                run,
                &format!("2025-06-{day:02}T01:00:00Z"),
                &format!("2025-06-{day:02}T03:30:00Z"),
            ),
            &[
                ("Name", json!(name)),
                ("Namespace", json!(namespace)),
                ("Level", json!("Warning")),
                ("AlertSeconds", json!(seconds)),
            ],
        )
    };
    vec![
        (
            AggregatorTable::BackendDisruption,
            vec![
                d("kit-job", "1001", 7, "kube-api-new-connections", 3),
                d(
                    "kit-job",
                    "1001",
                    7,
                    "ingress-to-console-reused-connections",
                    0,
                ),
                d("kit-job", "1002", 8, "kube-api-new-connections", 12),
                d("other-job", "2001", 9, "kube-api-new-connections", 1),
                {
                    let mut r = d("kit-job", "1003", 9, "cache-\"quoted\"\n\u{e9}", -1);
                    r.insert("MasterNodesUpdated".to_owned(), Value::Null);
                    r.remove("Cluster");
                    r
                },
            ],
        ),
        (
            AggregatorTable::Alerts,
            vec![
                a("1001", 7, "etcdMembersDown", "", 10),
                a("1001", 7, "TargetDown", "kube-system", 200),
                a("1002", 8, "TargetDown", "kube-system", 0),
            ],
        ),
        (
            AggregatorTable::Jobs,
            vec![
                row(&[
                    ("JobName", json!("kit-job")),
                    ("GCSBucketName", json!("test-platform-results")),
                    ("GCSJobHistoryLocationPrefix", json!("logs/kit-job")),
                    ("CollectDisruption", json!(true)),
                    ("CollectTestRuns", json!(false)),
                ]),
                row(&[("JobName", json!("bare-job"))]),
            ],
        ),
        (
            AggregatorTable::ReleaseTags,
            vec![row(&[
                ("phase", json!("Accepted")),
                ("release", json!("4.16")),
                ("stream", json!("nightly")),
                ("architecture", json!("amd64")),
                ("releaseTag", json!("4.16.0-0.nightly-2025-06-09-000000")),
                ("releaseTime", json!("2025-06-09T00:00:00Z")),
                (
                    "previousReleaseTag",
                    json!("4.16.0-0.nightly-2025-06-08-000000"),
                ),
                ("kubernetesVersion", json!("1.29.1")),
            ])],
        ),
        (
            AggregatorTable::ReleaseJobRuns,
            vec![row(&[
                ("name", json!("1790000000000000001")),
                ("releaseTag", json!("4.16.0-0.nightly-2025-06-09-000000")),
                ("jobName", json!("aws-serial")),
                ("kind", json!("Blocking")),
                ("state", json!("Succeeded")),
                ("url", json!("https://prow.ci.openshift.org/view/gs/x/1")),
                ("transitionTime", json!("2025-06-09T02:00:00Z")),
                ("retries", json!(2)),
                ("upgrade", json!(false)),
            ])],
        ),
        (
            AggregatorTable::ReleaseRepositories,
            vec![row(&[
                ("name", json!("installer")),
                ("releaseTag", json!("4.16.0-0.nightly-2025-06-09-000000")),
                (
                    "repositoryHead",
                    json!("https://github.com/openshift/installer/commit/abc"),
                ),
                (
                    "fullChangeLog",
                    json!("https://github.com/openshift/installer/compare/a...b"),
                ),
            ])],
        ),
        (
            AggregatorTable::ReleasePullRequests,
            vec![
                row(&[
                    ("pullRequestID", json!("7001")),
                    ("releaseTag", json!("4.16.0-0.nightly-2025-06-09-000000")),
                    ("name", json!("installer")),
                    (
                        "description",
                        json!("Fix \"quotes\" and\nnewlines \u{1F600}"),
                    ),
                    (
                        "url",
                        json!("https://github.com/openshift/installer/pull/7001"),
                    ),
                ]),
                row(&[
                    ("pullRequestID", json!("7002")),
                    ("releaseTag", json!("4.16.0-0.nightly-2025-06-09-000000")),
                    ("name", json!("installer")),
                ]),
            ],
        ),
    ]
}

/// A row with every column of `table`: the absent ones `null`, as stores answer.
pub fn full_row(table: AggregatorTable, row: &Row) -> Row {
    table
        .columns()
        .iter()
        .map(|c| {
            (
                c.name.to_owned(),
                row.get(c.name).cloned().unwrap_or(serde_json::Value::Null),
            )
        })
        .collect()
}

/// Every row of a table that `request` selects, following the pages.
fn all_rows<P: Plugin>(
    plugin: &P,
    report: &mut Report,
    request: &ReadRowsRequest,
) -> Option<Vec<Row>> {
    let mut rows = Vec::new();
    let mut cursor = None;
    for _ in 0..MAX_PAGES {
        let page: RowPage = call(
            report,
            "read_rows",
            plugin.read_rows(&ReadRowsRequest {
                cursor: cursor.clone(),
                ..request.clone()
            }),
        )?;
        rows.extend(page.rows);
        match page.next_cursor {
            None => return Some(rows),
            Some(next) if Some(&next) == cursor.as_ref() => {
                report.fail("read_rows", format!("cursor {next:?} repeats"));
                return None;
            }
            Some(next) => cursor = Some(next),
        }
    }
    report.fail("read_rows", format!("more than {MAX_PAGES} pages"));
    None
}

/// `rows` as stores answer them: every column, sorted by key.
fn expected_rows(table: AggregatorTable, rows: &[&Row]) -> Vec<Row> {
    let mut out: Vec<Row> = rows.iter().map(|r| full_row(table, r)).collect();
    out.sort_by_key(|r| table.key_of(r));
    out
}

fn check_tables<P: Plugin>(plugin: &P, report: &mut Report) {
    use serde_json::json;
    let fixture = tables_fixture();
    for (table, rows) in &fixture {
        let table = *table;
        let request = InsertRowsRequest {
            table,
            rows: rows.clone(),
        };
        let n = rows.len() as u64;
        match call::<InsertedRows>(report, "insert_rows", plugin.insert_rows(&request)) {
            Some(got)
                if got
                    == InsertedRows {
                        inserted: n,
                        skipped: 0,
                    } => {}
            Some(got) => report.fail(
                "insert_rows",
                format!("{}: {n} new rows answered {got:?}", table.name()),
            ),
            None => return,
        }
        match call::<InsertedRows>(report, "insert_rows", plugin.insert_rows(&request)) {
            Some(got)
                if got
                    == InsertedRows {
                        inserted: 0,
                        skipped: n,
                    } => {}
            Some(got) => report.fail(
                "insert_rows",
                format!(
                    "{}: the same {n} rows again answered {got:?} (every one is stored)",
                    table.name()
                ),
            ),
            None => return,
        }
        let Some(got) = all_rows(
            plugin,
            report,
            &ReadRowsRequest {
                table,
                job: None,
                since: None,
                until: None,
                cursor: None,
            },
        ) else {
            return;
        };
        let want = expected_rows(table, &rows.iter().collect::<Vec<_>>());
        if got != want {
            report.fail(
                "read_rows",
                format!("{}: stored {want:?}\nread back {got:?}", table.name()),
            );
        }
    }
    // A request repeating a key, with one new row and one stored.
    let (table, rows) = &fixture[2];
    let new = row(&[("JobName", json!("kit-job-3"))]);
    let request = InsertRowsRequest {
        table: *table,
        rows: vec![new.clone(), rows[0].clone(), new],
    };
    match call::<InsertedRows>(report, "insert_rows", plugin.insert_rows(&request)) {
        Some(InsertedRows {
            inserted: 1,
            skipped: 2,
        }) => {}
        Some(got) => report.fail(
            "insert_rows",
            format!("Jobs: one new row given twice and one stored row answered {got:?}"),
        ),
        None => return,
    }
    // A row that does not fit refuses the request, and nothing of it is written.
    let bad = InsertRowsRequest {
        table: AggregatorTable::Jobs,
        rows: vec![
            row(&[("JobName", json!("kit-never-written"))]),
            row(&[
                ("JobName", json!("kit-bad")),
                ("CollectDisruption", json!("yes")),
            ]),
        ],
    };
    match plugin.insert_rows(&bad) {
        Err(e) if e.kind == ErrorKind::BadRequest => {}
        other => report.fail(
            "insert_rows",
            format!("a BOOL column holding a string was answered {other:?}"),
        ),
    }
    // Windows and the job filter.
    let disruption = &fixture[0].1;
    let read = |job: Option<&str>, since: Option<&str>, until: Option<&str>| ReadRowsRequest {
        table: AggregatorTable::BackendDisruption,
        job: job.map(str::to_owned),
        since: since.map(str::to_owned),
        until: until.map(str::to_owned),
        cursor: None,
    };
    let cases: [(ReadRowsRequest, Vec<&Row>); 3] = [
        (
            read(Some("kit-job"), None, None),
            disruption
                .iter()
                .filter(|r| r["JobName"] == json!("kit-job"))
                .collect(),
        ),
        (
            read(
                None,
                Some("2025-06-08T01:00:00Z"),
                Some("2025-06-09T01:00:00Z"),
            ),
            vec![&disruption[2]],
        ),
        (read(Some("no-such-job"), None, None), Vec::new()),
    ];
    for (request, want) in cases {
        if let Some(got) = all_rows(plugin, report, &request) {
            let want = expected_rows(AggregatorTable::BackendDisruption, &want);
            if got != want {
                report.fail(
                    "read_rows",
                    format!("for {request:?}\nexpected {want:?}\nanswered {got:?}"),
                );
            }
        }
    }
    let no_job = ReadRowsRequest {
        table: AggregatorTable::ReleaseTags,
        job: Some("kit-job".to_owned()),
        since: None,
        until: None,
        cursor: None,
    };
    match plugin.read_rows(&no_job) {
        Err(e) if e.kind == ErrorKind::BadRequest => {}
        other => report.fail(
            "read_rows",
            format!("a job filter on ReleaseTags (no job column) was answered {other:?}"),
        ),
    }
    // The uploaders' window: runs 1001 (ends 06-07 03:30), 1002 (06-08), 1003 and 2001 (06-09).
    let window = |started_after: &str, since: Option<&str>| UploadWindowRequest {
        table: AggregatorTable::BackendDisruption,
        started_after: started_after.to_owned(),
        since: since.map(str::to_owned),
        margin_seconds: 1800,
    };
    let cases = [
        (
            window("2025-06-01T00:00:00Z", None),
            UploadWindow {
                last_end_time: Some("2025-06-09T03:30:00Z".to_owned()),
                since: "2025-06-09T03:00:00Z".to_owned(),
                run_ids: vec!["1003".to_owned(), "2001".to_owned()],
            },
        ),
        (
            window("2025-06-01T00:00:00Z", Some("2025-06-08T01:00:00Z")),
            UploadWindow {
                last_end_time: Some("2025-06-09T03:30:00Z".to_owned()),
                since: "2025-06-08T01:00:00Z".to_owned(),
                run_ids: vec!["1002".to_owned(), "1003".to_owned(), "2001".to_owned()],
            },
        ),
        (
            window("2025-06-10T00:00:00Z", None),
            UploadWindow {
                last_end_time: None,
                since: "2025-06-10T00:00:00Z".to_owned(),
                run_ids: Vec::new(),
            },
        ),
    ];
    for (request, want) in cases {
        if let Some(got) =
            call::<UploadWindow>(report, "upload_window", plugin.upload_window(&request))
            && got != want
        {
            report.fail(
                "upload_window",
                format!("for {request:?}\nexpected {want:?}\nanswered {got:?}"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_shapes() {
        for good in [
            "2025-01-02T03:04:05Z",
            "2025-01-02T03:04:05.5+01:00",
            "2025-01-02T03:04:05-08:00",
        ] {
            assert!(is_rfc3339(good), "{good}");
        }
        for bad in [
            "",
            "2025-01-02",
            "2025-01-02 03:04:05Z",
            "2025-01-02T03:04:05",
            "2025-01-02T03:04:05.Z",
        ] {
            assert!(!is_rfc3339(bad), "{bad}");
        }
    }

    /// A tracker that forgets what it creates: the kit must say so.
    struct Forgetful;

    impl Plugin for Forgetful {
        fn info() -> crate::model::PluginInfo {
            crate::model::PluginInfo {
                name: "forgetful".into(),
                capabilities: vec![Capability::IssueTracker],
                ..Default::default()
            }
        }
        fn create(_config: &Config) -> Result<Self, PluginError> {
            Ok(Forgetful)
        }
        fn list_issues(&self, _request: &ListIssuesRequest) -> Result<IssuePage, PluginError> {
            Ok(IssuePage {
                issues: Vec::new(),
                next_cursor: None,
                total_count: Some(3),
            })
        }
        fn create_issue(&self, _request: &CreateIssueRequest) -> Result<CreatedIssue, PluginError> {
            Ok(CreatedIssue { number: 7 })
        }
    }

    #[test]
    fn a_forgetful_tracker_fails_the_kit() {
        let report = check::<Forgetful>(&Config::default());
        let ops: Vec<&str> = report.problems.iter().map(|(op, _)| *op).collect();
        assert!(ops.contains(&"list_issues"), "{report:?}");
        assert!(ops.contains(&"create_issue"), "{report:?}");
        assert!(ops.contains(&"add_comment"), "{report:?}");
        assert!(!report.is_ok());
    }
}

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
//! `https://ci.chromium.org/b/ID` and RFC 3339 times. Every response goes through its JSON
//! encoding and back, as it does across the ABI. The kit writes to the store: never point it
//! at a real tracker.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::model::{
    AddCommentRequest, BuildPage, Capability, CloseIssueRequest, CommentPage, CommentsRequest,
    Config, CreateIssueRequest, CreatedIssue, Issue, IssuePage, IssueState, ListBuildsRequest,
    ListIssuesRequest, ReopenIssueRequest,
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

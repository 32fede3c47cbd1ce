//! Automatic closing on a generated history (in memory): issues quiet long enough close (by
//! the statistics, on the 90-day cap, for retired builders), noisy and ineligible ones stay
//! open, a second pass changes nothing, a pass stopped between comment and close is finished
//! without a second comment, and a failure after the close reopens the issue exactly once,
//! after which the issue stays open.

use std::sync::Arc;

use flakewatch_core::time::Timestamp;
use flakewatch_triage::backend::memory::{MemoryBackend, MemoryState};
use flakewatch_triage::backend::{BuildSet, Issue, IssueComment, IssueTracker};
use flakewatch_triage::close::{
    CLOSE_PREFIX, CloseAction, CloseDecision, CloseKind, apply_close, plan_close,
};
use flakewatch_triage::dashboard::{BuildResult, BuildStatus, Builder};
use flakewatch_triage::failure::{Failure, TestStatus};
use flakewatch_triage::run::{self, TriageOptions};
use flakewatch_triage::text::{NEW_ISSUE_MARKER, sign_comment};

const DAY: i64 = 86_400;
/// 2025-10-01T00:00:00Z.
const NOW: i64 = 1_759_276_800;
const BUILDERS: usize = 4;
/// A build every 12 hours on every builder over the 45-day window.
const SLOTS: i64 = 90;

fn t(secs: i64) -> Timestamp {
    Timestamp::from_unix(secs, 0).expect("valid time")
}

fn builder(b: usize) -> Builder {
    Builder {
        name: format!("gotip-linux-b{b}"),
        repo: "go".to_owned(),
        go_branch: "master".to_owned(),
        goos: "linux".to_owned(),
        goarch: "amd64".to_owned(),
    }
}

fn slot_time(slot: i64) -> i64 {
    NOW - DAY / 4 - slot * DAY / 2
}

/// Every builder passes at every slot (slot 0 is the newest).
fn builds() -> BuildSet {
    let builders: Vec<Builder> = (0..BUILDERS).map(builder).collect();
    let mut out = Vec::new();
    for (b, config) in builders.iter().enumerate() {
        for slot in 0..SLOTS {
            let mut r = BuildResult::for_builder(
                config,
                1_000_000 + b as i64 * 1000 + slot,
                BuildStatus::Success,
            );
            r.commit = format!("{:040x}", slot + 1);
            r.time = t(slot_time(slot));
            r.build_time = r.time;
            out.push(r);
        }
    }
    BuildSet {
        builders,
        builds: out,
    }
}

/// A body as triage files it (with the marker sentence), or a human's without it.
fn issue(number: u64, rule: &str, marker: bool) -> Issue {
    let marker = if marker {
        NEW_ISSUE_MARKER
    } else {
        "Seen on the dashboard."
    };
    Issue {
        number,
        title: format!("issue {number}"),
        body: format!("```\n#!watchflakes\n{rule}\n```\n\n{marker}\n"),
        ..Issue::default()
    }
}

fn test_rule(test: &str) -> String {
    format!("default <- pkg == \"example.com/p\" && test == \"{test}\"")
}

/// A signed failures comment listing failures `(seconds before NOW, builder, commit)`.
fn history(issue: u64, failures: &[(i64, &str, String)]) -> (u64, IssueComment) {
    let mut body = "Found new dashboard test flakes for:\n\n    default <- x\n".to_owned();
    for (ago, builder, commit) in failures {
        body.push_str(&format!(
            "\n<details><summary>{} {builder} go@{commit} p.Test (<a href=\"https://ci.chromium.org/b/{}\">log</a>)</summary>\n\n    output\n</details>\n",
            t(NOW - ago).format_minute(),
            9_000_000 + ago,
        ));
    }
    (
        issue,
        IssueComment {
            created_at: t(NOW - failures.iter().map(|f| f.0).min().unwrap_or(0)),
            body: sign_comment(&body),
        },
    )
}

fn hash(k: i64) -> String {
    format!("{:08x}", 0xabc0_0000_i64 + k)
}

/// The world: seven issues.
///
/// | issue | history | expected |
/// |---|---|---|
/// | 1 | 10 failures every 2 days, the last 40 days ago | closes (statistics) |
/// | 2 | a failure a day, the last 2 days ago | stays (noisy) |
/// | 3 | like 1, but filed by a person (no marker) | stays |
/// | 4 | failures on a builder that no longer exists | closes (retired) |
/// | 5 | like 1, but its script has a `skip` rule | stays |
/// | 6 | 2 failures, 100 and 95 days ago | closes (90-day cap) |
/// | 7 | 3 failures in one day, 20 days ago | stays (no rate, under the cap) |
fn world() -> MemoryBackend {
    let b0 = "gotip-linux-b0";
    let b1 = "gotip-linux-b1";
    let quiet: Vec<(i64, &str, String)> = (0..10)
        .map(|k| {
            (
                (40 + 2 * k) * DAY,
                if k % 2 == 0 { b0 } else { b1 },
                hash(k),
            )
        })
        .collect();
    let noisy: Vec<(i64, &str, String)> = (0..30)
        .map(|k| ((2 + k) * DAY, b1, hash(100 + k)))
        .collect();
    let retired: Vec<(i64, &str, String)> = (0..5)
        .map(|k| ((50 + k) * DAY, "gotip-plan9-gone", hash(200 + k)))
        .collect();
    let sparse = vec![(100 * DAY, b1, hash(300)), (95 * DAY, b1, hash(301))];
    let burst: Vec<(i64, &str, String)> = (0..3)
        .map(|k| (20 * DAY + k * 3600, b0, hash(400 + k)))
        .collect();
    let issues = vec![
        issue(1, &test_rule("TestQuiet"), true),
        issue(2, &test_rule("TestNoisy"), true),
        issue(3, &test_rule("TestHuman"), false),
        issue(4, &test_rule("TestRetired"), true),
        issue(
            5,
            &format!("skip <- builder == \"x\"\n{}", test_rule("TestSkip")),
            true,
        ),
        issue(6, &test_rule("TestSparse"), true),
        issue(7, &test_rule("TestBurst"), true),
    ];
    let comments = vec![
        history(1, &quiet),
        history(2, &noisy),
        history(3, &quiet),
        history(4, &retired),
        history(5, &quiet),
        history(6, &sparse),
        history(7, &burst),
    ];
    MemoryBackend::new(MemoryState {
        issues,
        comments,
        builds: builds(),
        now: t(NOW),
        ..MemoryState::default()
    })
}

fn options(now: i64) -> TriageOptions {
    TriageOptions::new(t(now))
}

fn close_pass(b: &MemoryBackend, now: i64, apply: bool) -> Vec<CloseDecision> {
    let options = options(now);
    let plan = run::plan(b, b, &options).expect("triage plan");
    let decisions = plan_close(b, b, &plan, &options, t(now)).expect("close plan");
    if apply {
        let report = apply_close(&decisions, b, t(now));
        assert!(report.failures.is_empty(), "{:?}", report.failures);
    }
    decisions
}

fn closing(decisions: &[CloseDecision]) -> Vec<(u64, CloseKind)> {
    decisions
        .iter()
        .filter(|d| d.action != CloseAction::Keep)
        .map(|d| (d.issue, d.kind.expect("kind")))
        .collect()
}

fn open_issues(b: &MemoryBackend) -> Vec<u64> {
    let mut open: Vec<u64> = b
        .state()
        .issues
        .iter()
        .filter(|i| !i.closed)
        .map(|i| i.number)
        .collect();
    open.sort_unstable();
    open
}

#[test]
fn quiet_issues_close_and_noisy_ones_stay_open() {
    let b = world();
    // The dry run decides and writes nothing.
    let decisions = close_pass(&b, NOW, false);
    assert!(b.state().log.is_empty());
    assert_eq!(
        closing(&decisions),
        [
            (1, CloseKind::Statistical),
            (4, CloseKind::Retired),
            (6, CloseKind::Capped)
        ]
    );
    let reason = |n: u64| {
        decisions
            .iter()
            .find(|d| d.issue == n)
            .and_then(|d| d.reason.clone())
            .unwrap_or_default()
    };
    assert!(reason(2).starts_with("p="), "{}", reason(2));
    assert_eq!(reason(3), "not an issue watchflakes filed");
    assert_eq!(reason(5), "script skips its failures");
    assert!(
        reason(7).starts_with("3 failures inside a day"),
        "{}",
        reason(7)
    );
    let one = decisions.iter().find(|d| d.issue == 1).expect("#1");
    let stats = one.stats.as_ref().expect("stats");
    assert_eq!(stats.n, 10);
    assert_eq!(stats.silence, 40 * DAY);
    assert_eq!(stats.max_gap, 2 * DAY);
    assert!(stats.p < 0.01, "{}", stats.p);
    // Builds after the last failure: slots newer than 40 days, on both builders.
    assert_eq!(stats.builds, 2 * 80);

    // Applied: a signed comment saying why, then the close.
    close_pass(&b, NOW, true);
    assert_eq!(open_issues(&b), [2, 3, 5, 7]);
    assert_eq!(
        b.state().log,
        [
            "comment 1",
            "close 1",
            "comment 4",
            "close 4",
            "comment 6",
            "close 6"
        ]
    );
    for n in [1, 4, 6] {
        let comments = b.comments(n).expect("comments");
        let last = comments.last().expect("closing comment");
        assert!(last.body.starts_with(CLOSE_PREFIX), "{}", last.body);
        assert!(flakewatch_triage::is_signed(&last.body));
    }
    let retired = b.comments(4).expect("comments");
    assert!(
        retired
            .last()
            .expect("comment")
            .body
            .contains("gotip-plan9-gone")
    );

    // A second pass changes nothing.
    let again = close_pass(&b, NOW, true);
    assert!(closing(&again).is_empty());
    assert_eq!(b.state().log.len(), 6);
}

#[test]
fn a_pass_stopped_between_comment_and_close_finishes_without_a_second_comment() {
    let b = world();
    b.state().fail_on.push(("close_issue", 4));
    let options = options(NOW);
    let plan = run::plan(&b, &b, &options).expect("plan");
    let decisions = plan_close(&b, &b, &plan, &options, t(NOW)).expect("close plan");
    let report = apply_close(&decisions, &b, t(NOW));
    assert_eq!(report.closed, [1, 6]);
    assert_eq!(report.failures.len(), 1);
    assert_eq!(report.failures[0].operation, "close_issue");
    b.state().fail_on.clear();

    let decisions = close_pass(&b, NOW + 3600, true);
    let finish: Vec<&CloseDecision> = decisions
        .iter()
        .filter(|d| d.action != CloseAction::Keep)
        .collect();
    assert_eq!(finish.len(), 1);
    assert_eq!(finish[0].issue, 4);
    assert_eq!(finish[0].action, CloseAction::FinishClose);
    let closes = b.comments(4).expect("comments");
    assert_eq!(
        closes
            .iter()
            .filter(|c| c.body.starts_with(CLOSE_PREFIX))
            .count(),
        1
    );
    assert_eq!(open_issues(&b), [2, 3, 5, 7]);
}

#[test]
fn a_failure_after_the_close_reopens_the_issue_exactly_once() {
    let b = world();
    close_pass(&b, NOW, true);
    assert!(!open_issues(&b).contains(&1));

    // A day later #1's test fails on b0 (before b0's newest build, which passes).
    let later = NOW + DAY;
    {
        let mut state = b.state();
        state.now = t(later);
        let config = builder(0);
        for (k, status) in [(0, BuildStatus::Success), (1, BuildStatus::Failure)] {
            for b in 0..BUILDERS {
                let failed = b == 0 && status == BuildStatus::Failure;
                let mut r = BuildResult::for_builder(
                    if b == 0 {
                        &config
                    } else {
                        &state.builds.builders[b]
                    },
                    2_000_000 + b as i64 * 10 + k,
                    if failed {
                        BuildStatus::Failure
                    } else {
                        BuildStatus::Success
                    },
                );
                r.commit = format!("{:040x}", 5000 + k);
                r.time = t(later - 3600 - k * 6 * 3600);
                r.build_time = r.time;
                if failed {
                    r.log_text = Arc::from("log\n");
                    r.failures = vec![Failure {
                        test_id: "example.com/p.TestQuiet".to_owned(),
                        status: TestStatus::Fail,
                        log_text: "quiet_test.go:12: timeout\n".to_owned(),
                    }];
                }
                state.builds.builds.push(r);
            }
        }
    }
    let writes = b.state().log.len();
    let options = options(later);
    let plan = run::plan(&b, &b, &options).expect("plan");
    let report = run::apply(&plan, &b, &options);
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    assert_eq!(report.reopened, [1]);
    assert_eq!(b.state().log[writes..], ["reopen 1", "comment 1"]);
    assert!(open_issues(&b).contains(&1));
    let issue = b
        .list_issues()
        .expect("issues")
        .into_iter()
        .find(|i| i.number == 1)
        .expect("#1");
    assert_eq!(issue.closed_at, None);

    // The next cycles: nothing to post, nothing to reopen, and #1 stays open (its new
    // failure is hours old).
    let plan = run::plan(&b, &b, &options).expect("plan");
    let report = run::apply(&plan, &b, &options);
    assert!(report.reopened.is_empty() && report.commented.is_empty());
    let decisions = close_pass(&b, later, true);
    assert!(closing(&decisions).is_empty(), "{:?}", closing(&decisions));
    assert_eq!(b.state().log[writes..], ["reopen 1", "comment 1"]);
    let one = decisions.iter().find(|d| d.issue == 1).expect("#1");
    assert!(
        one.reason.as_deref().is_some_and(|r| r.starts_with("p=")),
        "{:?}",
        one.reason
    );
}

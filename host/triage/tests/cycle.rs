//! The triage cycle (docs/triage.md, "One cycle") over the in-memory backend: assignment
//! across issues, new issues, de-duplication, reopening, error comments, the guard rail, and
//! what a failed write leaves for the next run.

use std::sync::Arc;

use flakewatch_core::time::Timestamp;
use flakewatch_dsl::parse_script;
use flakewatch_triage::backend::memory::{MemoryBackend, MemoryState};
use flakewatch_triage::backend::{BuildSet, Issue, IssueComment};
use flakewatch_triage::cluster::NewIssueMode;
use flakewatch_triage::dashboard::{BuildResult, BuildStatus, Builder};
use flakewatch_triage::failure::{Failure, TestStatus};
use flakewatch_triage::run::{self, Decision, IssueRef, TriageOptions, TriagePlan};
use flakewatch_triage::text::{
    NO_SCRIPT_COMMENT, NewIssue, SIGNATURE, failures_comment, parse_errors_comment, sign_comment,
    sign_issue_body,
};

const DAY: i64 = 86_400;
/// 2025-09-01T00:00:00Z.
const T0: i64 = 1_756_684_800;
const BUILDERS: usize = 8;
const COMMITS: usize = 10;

fn t(secs: i64) -> Timestamp {
    Timestamp::from_unix(secs, 0).expect("valid time")
}

/// The commit time of column `c` (0 is the newest).
fn commit_time(c: usize) -> Timestamp {
    t(T0 - c as i64 * DAY)
}

fn url(builder: usize, commit: usize) -> String {
    format!(
        "https://ci.chromium.org/b/{}",
        1000 + builder * 100 + commit
    )
}

/// A world of 8 builders × 10 commits where every build succeeds except `failed`:
/// `(builder, commit, [(test_id, output)])`; no tests means a build failure.
/// A failed build of the fixture: builder, commit, and its failed tests `(test_id, output)`.
type FailedBuild<'a> = (usize, usize, &'a [(&'a str, &'a str)]);

fn builds(failed: &[FailedBuild<'_>]) -> BuildSet {
    let builders: Vec<Builder> = (0..BUILDERS)
        .map(|b| Builder {
            name: format!("gotip-linux-b{b}"),
            repo: "go".to_owned(),
            go_branch: "master".to_owned(),
            goos: "linux".to_owned(),
            goarch: "amd64".to_owned(),
        })
        .collect();
    let mut out = Vec::new();
    for (b, builder) in builders.iter().enumerate() {
        for c in 0..COMMITS {
            let failure = failed.iter().find(|(fb, fc, _)| *fb == b && *fc == c);
            let status = if failure.is_some() {
                BuildStatus::Failure
            } else {
                BuildStatus::Success
            };
            let mut r = BuildResult::for_builder(builder, (1000 + b * 100 + c) as i64, status);
            r.commit = format!("{:040x}", c + 1);
            r.time = commit_time(c);
            r.build_time = commit_time(c);
            if let Some((_, _, tests)) = failure {
                r.log_text = Arc::from("whole log\n");
                r.step_log_text = "step log: build failed\n".to_owned();
                r.failures = tests
                    .iter()
                    .map(|(id, output)| Failure {
                        test_id: (*id).to_owned(),
                        status: TestStatus::Fail,
                        log_text: (*output).to_owned(),
                    })
                    .collect();
            }
            out.push(r);
        }
    }
    BuildSet {
        builders,
        builds: out,
    }
}

fn issue(number: u64, rules: &str) -> Issue {
    Issue {
        number,
        title: format!("issue {number}"),
        body: format!("```\n#!watchflakes\n{rules}\n```\n"),
        ..Issue::default()
    }
}

fn backend(issues: Vec<Issue>, set: BuildSet) -> MemoryBackend {
    MemoryBackend::new(MemoryState {
        issues,
        builds: set,
        now: t(T0 + 30 * DAY),
        ..MemoryState::default()
    })
}

/// Upstream's cycle, which most tests here pin (`--new-issues upstream`); the clustered
/// default has its own tests at the end.
fn options() -> TriageOptions {
    let mut options = TriageOptions::new(t(T0 + DAY));
    options.new_issues = NewIssueMode::Upstream;
    options
}

fn clustered_options() -> TriageOptions {
    TriageOptions::new(t(T0 + DAY))
}

fn plan(b: &MemoryBackend) -> TriagePlan {
    run::plan(b, b, &options()).expect("plan")
}

/// (issue, [urls]) for each update, in posting order.
fn targets(plan: &TriagePlan) -> Vec<(IssueRef, Vec<String>)> {
    plan.updates
        .iter()
        .map(|u| (u.target, u.posts.iter().map(|p| p.url.clone()).collect()))
        .collect()
}

#[test]
fn skip_wins_post_goes_to_all_default_to_the_first() {
    let b = backend(
        vec![
            issue(1, "post <- pkg == \"a\""),
            issue(2, "post <- pkg == \"a\"\ndefault <- pkg == \"b\""),
            issue(3, "default <- pkg == \"b\""),
            issue(4, "post <- test == \"TestS\""),
            issue(5, "skip <- test == \"TestS\""),
            issue(6, "default <- pkg == \"a\""),
        ],
        builds(&[
            (0, 2, &[("a.TestX", "x\n")]),
            (1, 3, &[("b.TestY", "y\n")]),
            (2, 4, &[("s.TestS", "s\n")]),
        ]),
    );
    let p = plan(&b);
    assert_eq!(
        targets(&p),
        [
            (IssueRef::Existing(1), vec![url(0, 2)]),
            (IssueRef::Existing(2), vec![url(1, 3), url(0, 2)]),
        ]
    );
    let decisions: Vec<(String, &str)> = p
        .outcomes
        .iter()
        .map(|o| (o.post.url.clone(), o.decision.name()))
        .collect();
    // Oldest commit first.
    assert_eq!(
        decisions,
        [
            (url(2, 4), "skip"),
            (url(1, 3), "default"),
            (url(0, 2), "post")
        ]
    );
    assert_eq!(
        p.outcomes[0].decision,
        Decision::Skip(IssueRef::Existing(5))
    );
    assert_eq!(p.new_issues(), 0);
}

#[test]
fn new_issues_collect_later_failures_and_comments_have_upstream_text() {
    let b = backend(
        vec![issue(7, "post <- pkg == \"other\"")],
        builds(&[
            (0, 5, &[("net/http.TestZ", "--- FAIL: TestZ\n")]),
            (1, 2, &[("net/http.TestZ", "--- FAIL: TestZ again\n")]),
        ]),
    );
    let p = plan(&b);
    assert_eq!(p.new_issues(), 1);
    let update = &p.updates[0];
    assert_eq!(update.target, IssueRef::New(0));
    assert_eq!(update.title, "net/http: TestZ failures");
    assert_eq!(update.posts.len(), 2);
    assert_eq!(p.outcomes[1].decision, Decision::Default);
    let expected = NewIssue::for_failure(&update.posts[0]);
    assert_eq!(update.new_issue.as_ref(), Some(&expected));
    assert_eq!(
        update.script_text,
        "#!watchflakes\ndefault <- pkg == \"net/http\" && test == \"TestZ\"\n"
    );

    let report = run::apply(&p, &b, &options());
    assert_eq!(report.created, [(0, 8)]);
    assert_eq!(report.commented, [8]);
    let state = b.state();
    assert_eq!(state.log, ["create 8", "comment 8"]);
    let created = state
        .issues
        .iter()
        .find(|i| i.number == 8)
        .expect("created");
    assert_eq!(created.body, sign_issue_body(&expected.body));
    assert_eq!(
        state.comments[0].1.body,
        sign_comment(&failures_comment(&update.script_text, &update.posts))
    );
    assert!(state.comments[0].1.body.ends_with(SIGNATURE));
}

#[test]
fn one_new_issue_per_build_per_run_then_it_converges() {
    let b = backend(
        Vec::new(),
        builds(&[(3, 4, &[("e.TestA", "a\n"), ("f.TestB", "b\n")])]),
    );
    let first = plan(&b);
    let decisions: Vec<&str> = first.outcomes.iter().map(|o| o.decision.name()).collect();
    assert_eq!(decisions, ["new_issue", "deferred"]);
    run::apply(&first, &b, &options());
    let second = plan(&b);
    let decisions: Vec<&str> = second.outcomes.iter().map(|o| o.decision.name()).collect();
    assert_eq!(decisions, ["default", "new_issue"]);
    // The first failure's URL is mentioned on issue 1 now, so only the new issue posts.
    assert_eq!(second.outcomes[0].already_mentioned, [1]);
    assert_eq!(targets(&second), [(IssueRef::New(0), vec![url(3, 4)])]);
    run::apply(&second, &b, &options());
    let third = plan(&b);
    assert!(third.updates.is_empty());
    assert!(third.script_errors.is_empty());
}

#[test]
fn dedupe_counts_only_signed_comments_and_old_url_forms() {
    let mut tracked = issue(1, "post <- pkg == \"p\"");
    tracked.body_edited_at = None;
    let b = backend(
        vec![tracked],
        builds(&[
            (0, 2, &[("p.TestA", "a\n")]),
            (1, 3, &[("p.TestA", "a\n")]),
            (2, 4, &[("p.TestA", "a\n")]),
        ]),
    );
    {
        let mut state = b.state();
        let comment = |body: String| IssueComment {
            created_at: t(T0),
            body,
        };
        state.comments.push((
            1,
            comment(format!(
                "<a href=\"{}\">log</a> and ({}){SIGNATURE}",
                url(0, 2),
                url(1, 3).replace("/b/", "/ui/b/")
            )),
        ));
        state
            .comments
            .push((1, comment(format!("unsigned: ({})", url(2, 4)))));
    }
    let p = plan(&b);
    assert_eq!(targets(&p), [(IssueRef::Existing(1), vec![url(2, 4)])]);
    let mentioned: Vec<&[u64]> = p
        .outcomes
        .iter()
        .map(|o| o.already_mentioned.as_slice())
        .collect();
    assert_eq!(mentioned, [&[][..], &[1][..], &[1][..]]);
}

#[test]
fn closed_issues_reopen_only_for_failures_after_the_close() {
    let mut before = issue(1, "post <- pkg == \"old\"");
    before.closed = true;
    before.closed_at = Some(commit_time(3));
    let mut after = issue(2, "post <- pkg == \"new\"");
    after.closed = true;
    after.closed_at = Some(commit_time(3));
    let b = backend(
        vec![before, after],
        builds(&[
            (0, 5, &[("old.TestA", "a\n")]),
            (1, 5, &[("new.TestB", "b\n")]),
            (2, 2, &[("new.TestB", "b\n")]),
        ]),
    );
    let p = plan(&b);
    let reopen: Vec<(IssueRef, bool)> = p.updates.iter().map(|u| (u.target, u.reopen)).collect();
    assert_eq!(
        reopen,
        [
            (IssueRef::Existing(1), false),
            (IssueRef::Existing(2), true)
        ]
    );
    let report = run::apply(&p, &b, &options());
    assert_eq!(report.reopened, [2]);
    let state = b.state();
    assert_eq!(state.log, ["comment 1", "reopen 2", "comment 2"]);
    assert!(
        state
            .issues
            .iter()
            .find(|i| i.number == 1)
            .expect("#1")
            .closed
    );
    assert!(
        !state
            .issues
            .iter()
            .find(|i| i.number == 2)
            .expect("#2")
            .closed
    );
}

#[test]
fn broken_scripts_get_one_comment_per_edit() {
    let broken = issue(1, "post <- pkg ==");
    let prose = Issue {
        number: 2,
        title: "prose".to_owned(),
        body: "Just words.\n".to_owned(),
        ..Issue::default()
    };
    let empty = Issue {
        number: 3,
        title: "empty".to_owned(),
        body: " \n".to_owned(),
        ..Issue::default()
    };
    let b = backend(vec![broken, prose, empty], builds(&[]));
    let p = plan(&b);
    let problems: Vec<(u64, &str)> = p
        .script_errors
        .iter()
        .map(|e| (e.issue, e.problem.name()))
        .collect();
    assert_eq!(
        problems,
        [(1, "parse_errors"), (2, "no_script"), (3, "empty_body")]
    );
    let parsed = parse_script("#!watchflakes\npost <- pkg ==\n");
    assert_eq!(
        p.script_errors[0].body,
        parse_errors_comment(
            "#!watchflakes\npost <- pkg ==\n",
            parsed.diagnostics.iter().map(ToString::to_string)
        )
    );
    assert_eq!(p.script_errors[1].body, NO_SCRIPT_COMMENT);
    assert_eq!(p.script_errors[2].body, NO_SCRIPT_COMMENT);
    let report = run::apply(&p, &b, &options());
    assert_eq!(report.error_comments, [1, 2, 3]);
    assert!(plan(&b).script_errors.is_empty());

    // Editing the body after the complaint makes it new again.
    b.state().issues[0].body_edited_at = Some(t(T0 + 31 * DAY));
    let again = plan(&b);
    assert_eq!(again.script_errors.len(), 1);
    assert_eq!(again.script_errors[0].issue, 1);
}

#[test]
fn the_guard_rail_stops_posting_but_not_error_comments() {
    let b = backend(
        vec![Issue {
            number: 1,
            body: "no script\n".to_owned(),
            ..Issue::default()
        }],
        builds(&[(0, 2, &[("x.TestA", "a\n")]), (1, 3, &[("y.TestB", "b\n")])]),
    );
    let mut opts = options();
    opts.max_new_issues = 2;
    let p = run::plan(&b, &b, &opts).expect("plan");
    assert_eq!(p.new_issues(), 2);
    assert!(p.guard_rail_tripped());
    let report = run::apply(&p, &b, &opts);
    assert!(report.stopped_by_guard_rail);
    assert_eq!(report.error_comments, [1]);
    assert!(report.created.is_empty());
    assert_eq!(b.state().log, ["comment 1"]);
    // One below the threshold posts.
    opts.max_new_issues = 3;
    let p = run::plan(&b, &b, &opts).expect("plan");
    assert!(!p.guard_rail_tripped());
    assert_eq!(run::apply(&p, &b, &opts).created.len(), 2);
}

#[test]
fn a_consistent_failure_at_the_tip_is_marked_in_the_title() {
    let fail: &[(&str, &str)] = &[("r.TestTip", "--- FAIL: TestTip\n")];
    let b = backend(
        Vec::new(),
        builds(&[(5, 0, fail), (5, 1, fail), (5, 2, fail), (5, 3, fail)]),
    );
    let p = plan(&b);
    assert_eq!(p.updates.len(), 1);
    assert_eq!(
        p.updates[0].title,
        "r: TestTip failures [consistent failure]"
    );
    assert!(p.updates[0].posts.iter().all(|f| f.top));
    // Three failures at the tip are too early to tell: skipped.
    let b = backend(
        Vec::new(),
        builds(&[(5, 0, fail), (5, 1, fail), (5, 2, fail)]),
    );
    assert!(plan(&b).updates.is_empty());
}

#[test]
fn a_crash_between_create_and_comment_leaves_no_duplicate() {
    let b = backend(Vec::new(), builds(&[(0, 3, &[])]));
    // Creating works, but the first comment fails (as if the process died there).
    b.state().fail_on.push(("add_comment", 1));
    let p = plan(&b);
    assert_eq!(p.updates[0].title, "build: build failure on gotip-linux-b0");
    let report = run::apply(&p, &b, &options());
    assert_eq!(report.created, [(0, 1)]);
    assert_eq!(report.failures.len(), 1);
    assert_eq!(report.failures[0].operation, "add_comment");
    b.state().fail_on.clear();
    // The next run finds the created issue through its script and posts the failure there.
    let again = plan(&b);
    assert_eq!(again.new_issues(), 0);
    assert_eq!(targets(&again), [(IssueRef::Existing(1), vec![url(0, 3)])]);
    run::apply(&again, &b, &options());
    assert!(plan(&b).updates.is_empty());
    assert_eq!(b.state().issues.len(), 1);
}

#[test]
fn builds_before_the_window_are_ignored() {
    let b = backend(Vec::new(), builds(&[(0, 2, &[("a.TestOld", "x\n")])]));
    let mut opts = options();
    opts.since = commit_time(1);
    let p = run::plan(&b, &b, &opts).expect("plan");
    assert!(p.updates.is_empty());
    assert_eq!(p.stats.builds.too_old, BUILDERS * (COMMITS - 2));
}

#[test]
fn clustered_subtests_of_one_parent_get_one_issue_and_the_next_cycle_files_nothing() {
    let b = backend(
        vec![issue(7, "post <- pkg == \"other\"")],
        builds(&[
            (
                0,
                5,
                &[
                    ("net/http.TestServe/h1", "--- FAIL: TestServe/h1\n"),
                    ("os.TestRead", "r\n"),
                ],
            ),
            (
                1,
                2,
                &[("net/http.TestServe/h2", "--- FAIL: TestServe/h2\n")],
            ),
            (
                2,
                3,
                &[("net/http.TestServe/h1", "--- FAIL: TestServe/h1\n")],
            ),
        ]),
    );
    let options = clustered_options();
    let p = run::plan(&b, &b, &options).expect("plan");
    // Upstream would file TestServe/h1 now, defer os.TestRead, and file TestServe/h2 now.
    assert_eq!(p.new_issues(), 2);
    // Every unclaimed failure has exactly one owner, in this cycle.
    for o in &p.outcomes {
        assert_eq!(o.decision, Decision::NewIssue);
        assert_eq!(o.queued.len(), 1, "{:?}", o.post.test_id);
    }
    let serve = &p.updates[0];
    assert_eq!(serve.title, "net/http: TestServe (2 subtests) failures");
    assert_eq!(
        serve.script_text,
        "#!watchflakes\ndefault <- pkg == \"net/http\" && test ~ `^TestServe(/|$)`\n"
    );
    assert_eq!(serve.posts.len(), 3);
    assert_eq!(p.updates[1].title, "os: TestRead failures");

    let report = run::apply(&p, &b, &options);
    assert_eq!(report.created.len(), 2);
    let next = run::plan(&b, &b, &options).expect("plan");
    assert_eq!(next.new_issues(), 0);
    assert!(next.updates.is_empty(), "{:?}", targets(&next));
    assert!(
        next.outcomes
            .iter()
            .all(|o| o.decision == Decision::Default)
    );
}

#[test]
fn clustered_and_upstream_agree_when_nothing_is_related() {
    let b = backend(
        Vec::new(),
        builds(&[(0, 5, &[("e.TestA", "a\n")]), (1, 2, &[("f.TestB", "b\n")])]),
    );
    let upstream = plan(&b);
    let clustered = run::plan(&b, &b, &clustered_options()).expect("plan");
    let texts = |p: &TriagePlan| -> Vec<NewIssue> {
        p.updates
            .iter()
            .filter_map(|u| u.new_issue.clone())
            .collect()
    };
    assert_eq!(texts(&upstream), texts(&clustered));
    assert_eq!(targets(&upstream), targets(&clustered));
}

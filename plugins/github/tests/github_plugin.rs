//! The github plugin through its Rust API against the stateful local GitHub server: the
//! listing (pages, labels, projects, pull requests left out, `lastEditedAt`), writes,
//! conditional requests, every injected fault, the partial-read rules, and the token kept out
//! of every message.

use std::time::Duration;

use flakewatch_plugin_github::GitHubTracker;
use flakewatch_plugin_sdk::model::{
    AddCommentRequest, CloseIssueRequest, CommentsRequest, Config, CreateIssueRequest, IssuePage,
    IssueState, ListIssuesRequest, ReopenIssueRequest,
};
use flakewatch_plugin_sdk::{ErrorKind, Plugin, PluginError};
use flakewatch_test_github_server::{Fault, FaultKind, GitHubServer, SeedIssue};

const TOKEN: &str = "ghp_TESTSECRET0123456789abcdefghijklmnop";
const REPO: &str = "golang/go";

fn server(issues: u64) -> GitHubServer {
    let server = GitHubServer::start(REPO);
    server.require_token(TOKEN);
    for n in 1..=issues {
        let mut issue = SeedIssue::new(n, &format!("issue {n}"), &format!("body {n}"));
        if n % 7 == 0 {
            issue.open = false;
            issue.closed_at = Some("2025-07-01T00:00:00Z".to_owned());
        }
        if n % 11 == 0 {
            issue.last_edited_at = Some("2025-08-01T09:00:00Z".to_owned());
        }
        server.seed_issue(issue);
    }
    server
}

fn config(server: &GitHubServer, extra: &[(&str, &str)]) -> Config {
    let mut options: Vec<(String, String)> = [
        ("repo", REPO),
        ("api", server.url()),
        ("token", TOKEN),
        ("max-wait", "5"),
        ("retry-base-ms", "5"),
        ("timeout", "2"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    for (k, v) in extra {
        options.retain(|(key, _)| key != k);
        options.push(((*k).to_owned(), (*v).to_owned()));
    }
    Config {
        options: options.into_iter().collect(),
    }
}

fn tracker(server: &GitHubServer, extra: &[(&str, &str)]) -> GitHubTracker {
    GitHubTracker::from_config(&config(server, extra), |_| None).expect("create")
}

fn list(tracker: &GitHubTracker) -> Result<IssuePage, PluginError> {
    tracker.list_issues(&ListIssuesRequest { cursor: None })
}

fn numbers(page: &IssuePage) -> Vec<u64> {
    page.issues.iter().map(|i| i.number).collect()
}

/// Checks an error: its kind, that it names `needles`, and that it holds no token.
fn assert_error(err: &PluginError, needles: &[&str]) {
    assert_eq!(err.kind, ErrorKind::Failed, "{err:?}");
    for needle in needles {
        assert!(
            err.message.contains(needle),
            "{needle:?} not in {:?}",
            err.message
        );
    }
    assert!(
        !err.message.contains(TOKEN),
        "the token leaked: {}",
        err.message
    );
    assert!(!format!("{err:?}").contains(TOKEN));
}

fn requests_for(server: &GitHubServer, method: &str, fragment: &str) -> usize {
    server
        .requests()
        .iter()
        .filter(|r| r.method == method && r.url.contains(fragment))
        .count()
}

#[test]
fn the_plugin_passes_the_sdk_conformance_kit() {
    let server = server(3);
    flakewatch_plugin_sdk::kit::assert_conforms::<GitHubTracker>(&config(&server, &[]));
}

#[test]
fn lists_every_issue_of_every_page_open_and_closed_without_pull_requests() {
    let server = server(250);
    for n in [251, 252] {
        let mut pr = SeedIssue::new(n, "a pull request", "");
        pr.pull_request = true;
        server.seed_issue(pr);
    }
    let tracker = tracker(&server, &[("per-page", "30")]);
    let page = list(&tracker).expect("list");
    assert_eq!(numbers(&page), (1..=250).collect::<Vec<_>>());
    assert_eq!(page.total_count, Some(250));
    assert_eq!(page.next_cursor, None);
    let issue = &page.issues[6];
    assert_eq!((issue.number, issue.state), (7, IssueState::Closed));
    assert_eq!(issue.closed_at.as_deref(), Some("2025-07-01T00:00:00Z"));
    assert_eq!(
        page.issues[10].body_edited_at.as_deref(),
        Some("2025-08-01T09:00:00Z")
    );
    assert_eq!(page.issues[9].body_edited_at, None);
    assert_eq!(page.issues[0].body, "body 1");
    // 252 items at 30 a page: 9 pages, each asked for once, with state=all.
    let gets: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.method == "GET")
        .collect();
    assert_eq!(gets.len(), 9);
    assert!(gets.iter().all(|r| r.url.contains("state=all")));
    assert!(
        gets.iter()
            .all(|r| r.authorization.as_deref() == Some(&*format!("Bearer {TOKEN}")))
    );
}

#[test]
fn selects_by_label_and_created_issues_carry_the_label() {
    let server = server(0);
    for n in 1..=5 {
        let mut issue = SeedIssue::new(n, "t", "b");
        if n % 2 == 1 {
            issue.labels = vec!["Test Flakes".to_owned()];
        }
        server.seed_issue(issue);
    }
    let tracker = tracker(&server, &[("label", "Test Flakes")]);
    assert_eq!(numbers(&list(&tracker).expect("list")), vec![1, 3, 5]);
    let created = tracker
        .create_issue(&CreateIssueRequest {
            title: "new".into(),
            body: "body".into(),
            labels: vec!["Automation".into()],
        })
        .expect("create");
    assert_eq!(created.number, 6);
    let view = &server.issues()[5];
    assert_eq!(
        view.labels,
        vec!["Automation".to_owned(), "Test Flakes".to_owned()]
    );
    assert_eq!(numbers(&list(&tracker).expect("list")), vec![1, 3, 5, 6]);
}

#[test]
fn selects_by_project_through_graphql_and_adds_created_issues_to_it() {
    let server = server(6);
    let mut pr = SeedIssue::new(7, "a pull request", "");
    pr.pull_request = true;
    server.seed_issue(pr);
    for n in [2, 4, 7] {
        server.add_to_project(5, n);
    }
    server.add_to_project(6, 5);
    let tracker = tracker(&server, &[("project", "5"), ("per-page", "2")]);
    let page = list(&tracker).expect("list");
    assert_eq!(numbers(&page), vec![2, 4]);
    let created = tracker
        .create_issue(&CreateIssueRequest {
            title: "new".into(),
            body: "body".into(),
            labels: vec![],
        })
        .expect("create");
    assert_eq!(
        server.issues()[created.number as usize - 1].projects,
        vec![5]
    );
    assert_eq!(
        numbers(&list(&tracker).expect("list")),
        vec![2, 4, created.number]
    );
    // A project that does not exist is an error, never an empty listing.
    let missing = tracker_for_project(&server, "9");
    assert_error(
        &list(&missing).expect_err("no project"),
        &["list_issues", "number 9"],
    );
}

fn tracker_for_project(server: &GitHubServer, project: &str) -> GitHubTracker {
    tracker(server, &[("project", project)])
}

#[test]
fn writes_show_up_in_later_reads() {
    let server = server(2);
    let tracker = tracker(&server, &[("per-page", "2")]);
    for i in 0..5 {
        tracker
            .add_comment(&AddCommentRequest {
                issue: 2,
                body: format!("comment {i}"),
            })
            .expect("comment");
    }
    let comments = tracker
        .issue_comments(&CommentsRequest {
            issue: 2,
            cursor: None,
        })
        .expect("comments");
    let bodies: Vec<_> = comments.comments.iter().map(|c| c.body.as_str()).collect();
    assert_eq!(
        bodies,
        [
            "comment 0",
            "comment 1",
            "comment 2",
            "comment 3",
            "comment 4"
        ]
    );
    assert!(
        comments
            .comments
            .iter()
            .all(|c| c.created_at.ends_with('Z'))
    );
    tracker
        .close_issue(&CloseIssueRequest {
            issue: 1,
            closed_at: "2025-09-01T00:00:00Z".into(),
        })
        .expect("close");
    assert_eq!(server.issues()[0].state, "closed");
    assert!(server.issues()[0].closed_at.is_some());
    tracker
        .reopen_issue(&ReopenIssueRequest { issue: 1 })
        .expect("reopen");
    assert_eq!(
        (
            server.issues()[0].state.as_str(),
            server.issues()[0].closed_at.clone()
        ),
        ("open", None)
    );
    let missing = tracker
        .add_comment(&AddCommentRequest {
            issue: 99,
            body: "x".into(),
        })
        .expect_err("no issue 99");
    assert_error(&missing, &["add_comment", "issue #99", "HTTP 404"]);
}

#[test]
fn an_unchanged_listing_is_answered_by_304s_that_cost_no_rest_quota() {
    let server = server(50);
    let tracker = tracker(&server, &[("per-page", "20"), ("edited-at", "none")]);
    let first = list(&tracker).expect("list");
    let before = server.rate_limit_remaining();
    let second = list(&tracker).expect("list");
    assert_eq!(first, second);
    assert_eq!(server.rate_limit_remaining(), before, "304s cost no quota");
    let log = server.requests();
    let again = &log[3..];
    assert_eq!(again.len(), 3);
    assert!(
        again
            .iter()
            .all(|r| r.status == 304 && r.if_none_match.is_some())
    );
    // A change is seen: the first page's ETag no longer matches.
    server.seed_issue(SeedIssue::new(51, "new", "b"));
    assert_eq!(list(&tracker).expect("list").issues.len(), 51);
}

#[test]
fn a_500_once_is_retried_and_the_listing_is_whole() {
    let server = server(80);
    server.inject(Fault::new(FaultKind::Status(500)).method("GET").page(2));
    server.inject(
        Fault::new(FaultKind::Status(502))
            .method("POST")
            .path("/graphql"),
    );
    let tracker = tracker(&server, &[("per-page", "10")]);
    assert_eq!(list(&tracker).expect("list").issues.len(), 80);
    assert_eq!(requests_for(&server, "GET", "page=2"), 2);
    assert_eq!(requests_for(&server, "POST", "/graphql"), 2);
}

#[test]
fn a_500_that_persists_on_page_3_of_8_fails_the_whole_listing() {
    let server = server(80);
    server.inject(
        Fault::new(FaultKind::Status(500))
            .method("GET")
            .page(3)
            .persistent(),
    );
    let tracker = tracker(&server, &[("per-page", "10"), ("max-wait", "0.5")]);
    let err = list(&tracker).expect_err("page 3 fails");
    assert_error(
        &err,
        &[
            "list_issues on golang/go",
            "page=3",
            "HTTP 500",
            "gave up after",
        ],
    );
    assert!(requests_for(&server, "GET", "page=3") >= 2, "retried");
    assert_eq!(
        requests_for(&server, "GET", "page=4"),
        0,
        "never read past the failure"
    );
}

#[test]
fn a_page_cut_short_is_an_incomplete_listing() {
    let server = server(80);
    server.inject(
        Fault::new(FaultKind::ShortPage(3))
            .method("GET")
            .page(3)
            .persistent(),
    );
    let tracker = tracker(&server, &[("per-page", "10")]);
    let err = list(&tracker).expect_err("short page");
    assert_error(&err, &["incomplete listing", "page 3 of 8 held 7 items"]);
}

#[test]
fn truncated_json_is_retried_and_fails_when_it_persists() {
    let server = server(30);
    server.inject(Fault::new(FaultKind::TruncatedJson).method("GET").page(2));
    let tracker = tracker(&server, &[("per-page", "10")]);
    assert_eq!(list(&tracker).expect("list").issues.len(), 30);
    server.inject(
        Fault::new(FaultKind::TruncatedJson)
            .method("GET")
            .page(2)
            .persistent(),
    );
    let fresh = self::tracker(&server, &[("per-page", "10"), ("max-wait", "0.3")]);
    assert_error(
        &list(&fresh).expect_err("truncated"),
        &["not JSON", "page=2"],
    );
}

#[test]
fn a_connection_cut_mid_page_and_a_slow_answer_are_retried() {
    let server = server(30);
    server.inject(Fault::new(FaultKind::CutMidBody).method("GET").page(2));
    server.inject(
        Fault::new(FaultKind::Delay(Duration::from_millis(1500)))
            .method("GET")
            .page(3),
    );
    let tracker = tracker(&server, &[("per-page", "10"), ("timeout", "0.5")]);
    assert_eq!(list(&tracker).expect("list").issues.len(), 30);
    assert_eq!(
        requests_for(&server, "GET", "page=2"),
        2,
        "{:#?}",
        server.requests()
    );
    assert_eq!(requests_for(&server, "GET", "page=3"), 2);
}

#[test]
fn client_errors_fail_at_once_naming_the_operation() {
    for (status, needle) in [
        (401, "Bad credentials"),
        (404, "Not Found"),
        (403, "not accessible"),
    ] {
        let server = server(5);
        server.inject(
            Fault::new(FaultKind::Status(status))
                .method("GET")
                .persistent(),
        );
        let tracker = tracker(&server, &[]);
        let err = list(&tracker).expect_err("client error");
        assert_error(&err, &["list_issues", &format!("HTTP {status}"), needle]);
        assert_eq!(server.requests().len(), 1, "{status} is not retried");
    }
    let server = server(1);
    server.inject(Fault::new(FaultKind::Status(422)).method("POST"));
    let err = tracker(&server, &[])
        .create_issue(&CreateIssueRequest {
            title: "t".into(),
            body: "b".into(),
            labels: vec![],
        })
        .expect_err("422");
    assert_error(&err, &["create_issue", "HTTP 422", "Validation Failed"]);
    assert_eq!(server.issues().len(), 1);
}

#[test]
fn a_wrong_token_is_a_401_that_does_not_name_the_token() {
    let server = server(2);
    let wrong = "ghp_WRONGTOKEN_ALSO_SECRET_999";
    let tracker = tracker(&server, &[("token", wrong)]);
    let err = list(&tracker).expect_err("401");
    assert_error(&err, &["HTTP 401", "Bad credentials"]);
    assert!(!err.message.contains(wrong));
    assert!(!format!("{tracker:?}").contains(wrong));
    assert!(!format!("{tracker:?}").contains(TOKEN));
}

#[test]
fn rate_limits_are_waited_out_within_the_budget() {
    // Secondary limit with retry-after: waited, then done.
    let server = server(5);
    server.inject(
        Fault::new(FaultKind::SecondaryRateLimit {
            status: 403,
            retry_after: Some(1),
        })
        .method("GET"),
    );
    server.inject(
        Fault::new(FaultKind::SecondaryRateLimit {
            status: 429,
            retry_after: Some(0),
        })
        .method("POST"),
    );
    let tracker = tracker(&server, &[]);
    assert_eq!(list(&tracker).expect("list").issues.len(), 5);
    // The 429 came on the GraphQL POST; the create below is not refused either.
    let log = server.requests();
    assert_eq!(
        log.iter()
            .filter(|r| r.status == 403 || r.status == 429)
            .count(),
        2
    );
    // Primary limit: x-ratelimit-remaining 0 and a reset 1 s ahead.
    server.inject(Fault::new(FaultKind::PrimaryRateLimit { reset_in: 1 }).method("POST"));
    tracker
        .create_issue(&CreateIssueRequest {
            title: "t".into(),
            body: "b".into(),
            labels: vec![],
        })
        .expect("created after the reset");
    assert_eq!(
        server.issues().len(),
        6,
        "the refused POST was sent again once, not twice"
    );
}

#[test]
fn a_rate_limit_longer_than_the_budget_fails_at_once() {
    let server = server(5);
    server.inject(
        Fault::new(FaultKind::SecondaryRateLimit {
            status: 403,
            retry_after: None,
        })
        .method("GET")
        .persistent(),
    );
    let tracker = tracker(&server, &[("max-wait", "2")]);
    let err = list(&tracker).expect_err("rate limited");
    assert_error(
        &err,
        &["secondary rate limit", "rate limited", "max-wait=2"],
    );
    assert_eq!(server.requests().len(), 1);
    let server = self::server(5);
    server.inject(Fault::new(FaultKind::PrimaryRateLimit { reset_in: 3600 }).method("GET"));
    let err = list(&self::tracker(&server, &[])).expect_err("primary limit");
    assert_error(&err, &["API rate limit exceeded", "max-wait=5"]);
}

#[test]
fn writes_that_may_have_happened_are_not_sent_again() {
    let server = server(2);
    let tracker = tracker(&server, &[]);
    server.inject(Fault::new(FaultKind::AfterWrite(502)).method("POST"));
    let err = tracker
        .create_issue(&CreateIssueRequest {
            title: "t".into(),
            body: "b".into(),
            labels: vec![],
        })
        .expect_err("502");
    assert_error(
        &err,
        &[
            "create_issue",
            "HTTP 502",
            "not sent again",
            "next cycle lists it",
        ],
    );
    assert_eq!(server.issues().len(), 3, "created once, never twice");
    assert_eq!(
        list(&tracker).expect("list").issues.len(),
        3,
        "and listed afterwards"
    );
    server.inject(Fault::new(FaultKind::Status(500)).method("POST"));
    let err = tracker
        .add_comment(&AddCommentRequest {
            issue: 1,
            body: "c".into(),
        })
        .expect_err("500");
    assert_error(&err, &["add_comment", "issue #1", "HTTP 500"]);
    assert_eq!(requests_for(&server, "POST", "/comments"), 1);
    // PATCH is idempotent: retried.
    server.inject(Fault::new(FaultKind::Status(503)).method("PATCH"));
    tracker
        .close_issue(&CloseIssueRequest {
            issue: 1,
            closed_at: "2025-09-01T00:00:00Z".into(),
        })
        .expect("close after a retry");
    assert_eq!(requests_for(&server, "PATCH", "/issues/1"), 2);
}

#[test]
fn a_listing_smaller_than_the_last_complete_one_is_refused() {
    let state = tempfile::tempdir().expect("temp dir");
    let dir = state.path().to_str().expect("utf-8");
    let server = server(12);
    assert_eq!(
        list(&tracker(&server, &[("state-dir", dir)]))
            .expect("list")
            .issues
            .len(),
        12
    );
    // The same repository answering fewer issues (a server that lost some, a cut listing
    // whose pages all look whole).
    let smaller = self::server(9);
    let err = list(&tracker(&smaller, &[("state-dir", dir)])).expect_err("fewer");
    assert_error(
        &err,
        &[
            "incomplete listing",
            "9 issues, fewer than the 12",
            "github-golang_go.json",
        ],
    );
    // More is fine and recorded.
    let larger = self::server(14);
    list(&tracker(&larger, &[("state-dir", dir)])).expect("list");
    let err = list(&tracker(&server, &[("state-dir", dir)])).expect_err("now 12 < 14");
    assert_error(&err, &["fewer than the 14"]);
}

#[test]
fn options_are_checked_and_the_token_never_shows() {
    let server = server(0);
    let err = GitHubTracker::from_config(&config(&server, &[("lable", "x")]), |_| None)
        .expect_err("typo");
    assert!(
        err.message.contains("unknown option \"lable\""),
        "{}",
        err.message
    );
    let err = GitHubTracker::from_config(&config(&server, &[("repo", "nope")]), |_| None)
        .expect_err("repo");
    assert!(err.message.contains("not OWNER/NAME"));
    // The token from a file and from the environment.
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{TOKEN}\n")).expect("write");
    let mut options = config(&server, &[("token-file", file.to_str().expect("utf-8"))]);
    options.options.remove("token");
    let from_file = GitHubTracker::from_config(&options, |_| None).expect("create");
    assert!(list(&from_file).is_ok());
    options.options.remove("token-file");
    let from_env = GitHubTracker::from_config(&options, |k| {
        (k == "GITHUB_TOKEN").then(|| TOKEN.to_owned())
    })
    .expect("create");
    assert!(list(&from_env).is_ok());
    assert!(!format!("{from_env:?}").contains(TOKEN));
    let missing = dir.path().join("missing");
    options
        .options
        .insert("token-file".into(), missing.display().to_string());
    let err = GitHubTracker::from_config(&options, |_| None).expect_err("no file");
    assert!(err.message.contains("token-file") && !err.message.contains(TOKEN));
    // A cursor is refused (the listing is one page).
    let tracker = tracker(&server, &[]);
    let err = tracker
        .list_issues(&ListIssuesRequest {
            cursor: Some("2".into()),
        })
        .expect_err("cursor");
    assert_eq!(err.kind, ErrorKind::BadRequest);
}

#[test]
fn a_server_that_refuses_connections_is_retried_within_the_budget() {
    // A port that was just free: nothing listens on it.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let config = Config {
        options: [
            ("repo", REPO.to_owned()),
            ("api", format!("http://127.0.0.1:{port}")),
            ("token", TOKEN.to_owned()),
            ("max-wait", "0.3".to_owned()),
            ("retry-base-ms", "20".to_owned()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect(),
    };
    let tracker = GitHubTracker::from_config(&config, |_| None).expect("create");
    let err = list(&tracker).expect_err("nothing listens");
    assert_error(
        &err,
        &[
            "list_issues on golang/go",
            "GET /repos/golang/go/issues",
            "gave up after",
        ],
    );
    let attempts: u32 = err
        .message
        .split("gave up after ")
        .nth(1)
        .and_then(|s| s.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("an attempt count");
    assert!(attempts >= 2, "retried: {}", err.message);
}

#[test]
fn a_cache_directory_makes_an_unchanged_listing_free_for_a_new_instance() {
    let cache = tempfile::tempdir().expect("temp dir");
    let dir = cache.path().join("etags");
    let dir = dir.to_str().expect("utf-8");
    let server = server(45);
    let options = [
        ("per-page", "20"),
        ("edited-at", "none"),
        ("cache-dir", dir),
    ];
    let first = list(&tracker(&server, &options)).expect("list");
    let before = server.rate_limit_remaining();
    // A new instance (a new process) with the same cache directory.
    let second = list(&tracker(&server, &options)).expect("list");
    assert_eq!(first, second);
    assert_eq!(server.rate_limit_remaining(), before);
    assert!(server.requests()[3..].iter().all(|r| r.status == 304));
    // A cache file that is not JSON is a miss, not an error.
    for entry in std::fs::read_dir(dir).expect("cache dir") {
        std::fs::write(entry.expect("entry").path(), "{").expect("spoil");
    }
    assert_eq!(list(&tracker(&server, &options)).expect("list"), first);
    assert!(server.requests()[6..].iter().all(|r| r.status == 200));
}

//! End to end with the GitHub tracker: the real `flakewatch` binary loads the real github
//! plugin (`.so`) against the stateful local GitHub server, holding the demo's issues and
//! comments, with the demo's failures from the files backend (`--issues github --failures
//! files`). The plan and the state after `--apply` are those of the files backend on the same
//! data; a listing made incomplete on purpose creates and posts nothing; a run killed in the
//! middle of `--apply` and run again posts every failure once; the token shows nowhere.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use flakewatch_test_github_server::{Fault, FaultKind, GitHubServer, SeedIssue};
use serde_json::Value;
use support::{DEMO_NOW, TrackerState, demo_copy, flakewatch, lines, tracker_state, workspace};

const TOKEN: &str = "ghp_CLITESTSECRET_0123456789abcdefghij";

/// The github plugin's library, built once per test process.
fn github_plugin() -> &'static PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let output = Command::new(env!("CARGO"))
            .current_dir(workspace())
            .args([
                "build",
                "--message-format=json-render-diagnostics",
                "-p",
                "flakewatch-plugin-github",
            ])
            .output()
            .expect("run cargo build");
        assert!(
            output.status.success(),
            "cargo build of the github plugin failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|m| {
                m["reason"] == "compiler-artifact"
                    && m["target"]["name"] == "flakewatch_plugin_github"
            })
            .flat_map(|m| m["filenames"].as_array().cloned().unwrap_or_default())
            .map(|f| PathBuf::from(f.as_str().unwrap_or("")))
            .find(|f| f.to_string_lossy().ends_with(std::env::consts::DLL_SUFFIX))
            .expect("the github plugin's dynamic library")
    })
}

fn text(value: &Value, key: &str) -> String {
    value[key].as_str().unwrap_or("").to_owned()
}

/// A server holding the issues and comments of the data directory `dir`.
fn seeded_server(dir: &Path) -> GitHubServer {
    let server = GitHubServer::start("golang/go");
    server.require_token(TOKEN);
    for issue in lines(dir, "issues.jsonl") {
        server.seed_issue(SeedIssue {
            number: issue["number"].as_u64().expect("number"),
            title: text(&issue, "title"),
            body: text(&issue, "body"),
            open: issue["state"] != "closed",
            closed_at: issue["closed_at"].as_str().map(str::to_owned),
            created_at: text(&issue, "created_at"),
            last_edited_at: issue["body_edited_at"].as_str().map(str::to_owned),
            labels: Vec::new(),
            pull_request: false,
        });
    }
    for comment in lines(dir, "comments.jsonl") {
        server.seed_comment(
            comment["issue"].as_u64().expect("issue"),
            &text(&comment, "body"),
            &text(&comment, "created_at"),
        );
    }
    server
}

fn files_command(dir: &Path, extra: &[&str]) -> Command {
    let mut cmd = flakewatch();
    cmd.current_dir(dir)
        .args(["triage", "--now", DEMO_NOW, "--data"])
        .arg(dir)
        .args(extra);
    cmd
}

fn github_command(dir: &Path, server: &GitHubServer, extra: &[&str]) -> Command {
    let mut cmd = flakewatch();
    cmd.current_dir(dir)
        .env("GITHUB_TOKEN", TOKEN)
        .args([
            "triage",
            "--now",
            DEMO_NOW,
            "--issues",
            "github",
            "--failures",
            "files",
            "--data",
        ])
        .arg(dir)
        .arg("--plugin")
        .arg(github_plugin())
        .args(["--opt", "github:repo=golang/go", "--opt"])
        .arg(format!("github:api={}", server.url()))
        .args([
            "--opt",
            "github:retry-base-ms=5",
            "--opt",
            "github:max-wait=2",
        ])
        .args(extra);
    cmd
}

fn run(mut cmd: Command) -> Output {
    cmd.output().expect("run flakewatch")
}

fn json_of(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("JSON plan")
}

/// The tracker's state without times, as `support::tracker_state` gives the files backend's.
type Tracker = TrackerState;

fn github_state(server: &GitHubServer) -> Tracker {
    let issues = server
        .issues()
        .into_iter()
        .map(|i| (i.number, i.title, i.state, i.body))
        .collect();
    let mut comments: Vec<(u64, String)> = server
        .comments()
        .into_iter()
        .map(|c| (c.issue, c.body))
        .collect();
    comments.sort();
    (issues, comments)
}

fn assert_no_token(output: &Output) {
    for stream in [&output.stdout, &output.stderr] {
        assert!(
            !String::from_utf8_lossy(stream).contains(TOKEN),
            "the token was printed"
        );
    }
}

#[test]
fn the_github_tracker_plans_and_applies_exactly_as_the_files_backend() {
    let files = demo_copy();
    let github = demo_copy();
    let server = seeded_server(github.path());
    assert_eq!(github_state(&server), tracker_state(files.path()));

    let files_plan = json_of(&run(files_command(files.path(), &["--json"])));
    let output = run(github_command(github.path(), &server, &["--json"]));
    assert_no_token(&output);
    let github_plan = json_of(&output);
    assert!(
        !files_plan["updates"]
            .as_array()
            .expect("updates")
            .is_empty()
    );
    assert_eq!(github_plan, files_plan, "the same plan");
    assert_eq!(
        github_state(&server),
        tracker_state(files.path()),
        "a dry run writes nothing"
    );

    let files_applied = json_of(&run(files_command(files.path(), &["--json", "--apply"])));
    let output = run(github_command(
        github.path(),
        &server,
        &["--json", "--apply", "-vv"],
    ));
    assert_no_token(&output);
    let github_applied = json_of(&output);
    assert_eq!(github_applied["result"], files_applied["result"]);
    assert!(
        !github_applied["result"]["created"]
            .as_array()
            .expect("created")
            .is_empty(),
        "the demo creates issues"
    );
    assert_eq!(
        github_state(&server),
        tracker_state(files.path()),
        "the same issues and comments after --apply"
    );
    // Every request carried the token, and nothing else did.
    assert!(
        server
            .requests()
            .iter()
            .all(|r| r.authorization.as_deref() == Some(&*format!("Bearer {TOKEN}")))
    );

    // A second run posts nothing.
    let again = json_of(&run(github_command(
        github.path(),
        &server,
        &["--json", "--apply"],
    )));
    assert_eq!(again["updates"], Value::Array(Vec::new()));
    assert_eq!(again["result"]["created"], Value::Array(Vec::new()));
    assert_eq!(github_state(&server), tracker_state(files.path()));
}

#[test]
fn a_listing_made_incomplete_creates_and_posts_nothing() {
    let faults = [
        (
            "a 500 on page 3 of 8 that persists",
            Fault::new(FaultKind::Status(500))
                .method("GET")
                .path("/issues")
                .page(3)
                .persistent(),
            "HTTP 500",
        ),
        (
            "page 3 of 8 cut short",
            Fault::new(FaultKind::ShortPage(1))
                .method("GET")
                .path("/issues")
                .page(3)
                .persistent(),
            "incomplete listing",
        ),
    ];
    for (what, fault, cause) in faults {
        let data = demo_copy();
        let server = seeded_server(data.path());
        let before = github_state(&server);
        server.inject(fault);
        // 30 issues at 4 a page: 8 pages.
        let output = run(github_command(
            data.path(),
            &server,
            &[
                "--apply",
                "--opt",
                "github:per-page=4",
                "--opt",
                "github:max-wait=0.5",
            ],
        ));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(3), "{what}: {stderr}");
        assert!(
            stderr.contains("github") && stderr.contains("list_issues") && stderr.contains(cause),
            "{what}: {stderr}"
        );
        assert_no_token(&output);
        assert_eq!(github_state(&server), before, "{what}: nothing written");
        assert!(
            server.requests().iter().all(|r| r.method == "GET"),
            "{what}: no write was even tried"
        );
    }
}

#[test]
fn a_wrong_token_fails_with_a_message_that_does_not_show_either_token() {
    let data = demo_copy();
    let server = seeded_server(data.path());
    let wrong = "ghp_WRONG_BUT_STILL_SECRET_42";
    let mut cmd = github_command(data.path(), &server, &["--apply", "-vvv"]);
    cmd.env("GITHUB_TOKEN", wrong);
    let output = run(cmd);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("HTTP 401") && stderr.contains("Bad credentials"),
        "{stderr}"
    );
    assert_no_token(&output);
    assert!(!stderr.contains(wrong) && !String::from_utf8_lossy(&output.stdout).contains(wrong));
}

#[test]
fn a_run_killed_mid_apply_and_run_again_posts_every_failure_once() {
    // The converged state, from the files backend.
    let files = demo_copy();
    json_of(&run(files_command(files.path(), &["--json", "--apply"])));
    let want = tracker_state(files.path());
    let writes = |server: &GitHubServer| {
        server
            .requests()
            .iter()
            .filter(|r| r.method != "GET" && !r.url.starts_with("/graphql"))
            .count()
    };
    for kill_after in [1, 4, 9, 15] {
        let data = demo_copy();
        let server = seeded_server(data.path());
        // Writes are slowed so the run is killed while it is writing.
        server.inject(
            Fault::new(FaultKind::Delay(Duration::from_millis(40)))
                .method("POST")
                .path("/repos/")
                .persistent(),
        );
        let mut child = github_command(data.path(), &server, &["--apply"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn flakewatch");
        let deadline = Instant::now() + Duration::from_secs(60);
        while writes(&server) < kill_after && Instant::now() < deadline {
            if child.try_wait().expect("wait").is_some() {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let still_running = child.try_wait().expect("wait").is_none();
        let _ = child.kill();
        child.wait().expect("reap");
        assert!(
            still_running,
            "the run ended before {kill_after} writes were seen"
        );
        assert!(
            writes(&server) >= kill_after,
            "the run wrote {kill_after} times before it was killed"
        );
        server.clear_faults();
        let output = run(github_command(data.path(), &server, &["--apply"]));
        assert!(
            output.status.success(),
            "killed after {kill_after} writes, the next run: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(
            github_state(&server),
            want,
            "killed after {kill_after} writes: every failure posted once, no duplicate issue"
        );
    }
}

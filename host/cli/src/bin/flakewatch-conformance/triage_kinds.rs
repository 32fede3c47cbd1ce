//! Conformance handlers for the triage-pipeline kinds (snippet, split_test_id, coalesce,
//! dashboard, new_issue, post_format, mentions).

use std::sync::Arc;

use serde_json::Value;

use crate::{Outcome, expect_eq, str_field};
use flakewatch_core::snippet::snippet;
use flakewatch_core::time::Timestamp;
use flakewatch_triage::dashboard::{BuildResult, BuildStatus, Builder, Commit, Dashboard};
use flakewatch_triage::failure::{Failure, TestStatus};
use flakewatch_triage::mentions::{Mentions, is_signed};
use flakewatch_triage::post::FailurePost;
use flakewatch_triage::text::{NewIssue, failures_comment, sign_comment};
use flakewatch_triage::{coalesce_failures, split_test_id};

/// Checks one case of a pipeline kind; `None` when the kind is not handled here.
pub(crate) fn check(kind: &str, case: &Value) -> Option<Result<(), Outcome>> {
    Some(match kind {
        "snippet" => check_snippet(case),
        "split_test_id" => check_split_test_id(case),
        "coalesce" => check_coalesce(case),
        "dashboard" => check_dashboard(case),
        "new_issue" => check_new_issue(case),
        "post_format" => check_post_format(case),
        "mentions" => check_mentions(case),
        _ => return None,
    })
}

fn fail(message: impl Into<String>) -> Outcome {
    Outcome::Fail(message.into())
}

/// Reads an array field of a case.
fn array_field<'a>(value: &'a Value, name: &str) -> Result<&'a [Value], Outcome> {
    value
        .get(name)
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .ok_or_else(|| fail(format!("case has no array field {name:?}")))
}

/// Reads an array of strings.
fn str_list<'a>(value: &'a Value, name: &str) -> Result<Vec<&'a str>, Outcome> {
    array_field(value, name)?
        .iter()
        .map(|v| {
            v.as_str()
                .ok_or_else(|| fail(format!("{name}: not a list of strings")))
        })
        .collect()
}

/// Reads a boolean field; a missing one is `false`.
fn bool_field(value: &Value, name: &str) -> Result<bool, Outcome> {
    match value.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(v) => v
            .as_bool()
            .ok_or_else(|| fail(format!("field {name:?} is not a boolean"))),
    }
}

fn check_snippet(case: &Value) -> Result<(), Outcome> {
    let input = str_field(case, "input")?;
    expect_eq(
        "output",
        str_field(case, "output")?,
        snippet(input).as_str(),
    )
}

fn check_split_test_id(case: &Value) -> Result<(), Outcome> {
    let (pkg, test) = split_test_id(str_field(case, "input")?);
    expect_eq("pkg", str_field(case, "pkg")?, pkg)?;
    expect_eq("test", str_field(case, "test")?, test)
}

/// Reads a list of `{test_id, log}` failures.
fn failures(case: &Value, name: &str) -> Result<Vec<Failure>, Outcome> {
    array_field(case, name)?
        .iter()
        .map(|f| {
            Ok(Failure {
                test_id: str_field(f, "test_id")?.to_owned(),
                status: TestStatus::Fail,
                log_text: str_field(f, "log")?.to_owned(),
            })
        })
        .collect()
}

fn check_coalesce(case: &Value) -> Result<(), Outcome> {
    let input = failures(case, "failures")?;
    let expected = failures(case, "result")?;
    let pairs = |fs: &[Failure]| -> Vec<(String, String)> {
        fs.iter()
            .map(|f| (f.test_id.clone(), f.log_text.clone()))
            .collect()
    };
    expect_eq("result", pairs(&expected), pairs(&coalesce_failures(input)))
}

fn check_dashboard(case: &Value) -> Result<(), Outcome> {
    let names = str_list(case, "builders")?;
    let grid = str_list(case, "grid")?;
    if grid.len() != names.len() {
        return Err(fail("grid: one row per builder expected"));
    }
    let width = grid.first().map_or(0, |row| row.len());
    let builders: Vec<Builder> = names
        .iter()
        .map(|name| Builder {
            name: (*name).to_owned(),
            ..Builder::default()
        })
        .collect();
    let commits = (0..width)
        .map(|i| Commit {
            hash: format!("commit{i}"),
            time: Timestamp::UNIX_EPOCH,
        })
        .collect();
    let mut dash = Dashboard::new("go", "master", builders.clone(), commits);
    for (b, row) in grid.iter().enumerate() {
        if row.len() != width {
            return Err(fail(format!("grid: row {b} is not {width} wide")));
        }
        for (c, cell) in row.chars().enumerate() {
            let status = match cell {
                'S' => BuildStatus::Success,
                'F' => BuildStatus::Failure,
                'I' => BuildStatus::InfraFailure,
                '.' => continue,
                other => return Err(fail(format!("grid: unknown cell {other:?}"))),
            };
            let id = i64::try_from(b * width + c).unwrap_or(i64::MAX);
            let result = BuildResult::for_builder(&builders[b], id, status);
            dash.set(b, c, Some(result))
                .map_err(|e| fail(e.to_string()))?;
        }
    }
    flakewatch_triage::skip_broken_commits(&mut dash);
    expect_eq(
        "after_skip_broken_commits",
        str_list(case, "after_skip_broken_commits")?,
        render(&dash).iter().map(String::as_str).collect(),
    )?;
    flakewatch_triage::skip_broken_builders(&mut dash);
    expect_eq(
        "after_both",
        str_list(case, "after_both")?,
        render(&dash).iter().map(String::as_str).collect(),
    )
}

/// Renders a dashboard in the vectors' notation: `S`/`I`/`.` as they were, `x` skipped,
/// `F` a kept failure, `T` a kept failure marked Top.
fn render(dash: &Dashboard) -> Vec<String> {
    (0..dash.builders().len())
        .map(|b| {
            dash.row(b)
                .unwrap_or_default()
                .iter()
                .map(|cell| match cell {
                    None => '.',
                    Some(r) => match r.status {
                        BuildStatus::Success => 'S',
                        BuildStatus::Failure if r.top => 'T',
                        BuildStatus::Failure => 'F',
                        BuildStatus::Skipped => 'x',
                        _ => 'I',
                    },
                })
                .collect()
        })
        .collect()
}

fn check_new_issue(case: &Value) -> Result<(), Outcome> {
    let f = case
        .get("failure")
        .ok_or_else(|| fail("case has no field \"failure\""))?;
    let pkg = str_field(f, "pkg")?;
    let test = str_field(f, "test")?;
    // Only whether the TestID is empty matters to the text; pkg and test are given as is.
    let test_id = if bool_field(f, "build_failure")? {
        String::new()
    } else {
        format!("{pkg}.{test}")
    };
    let post = FailurePost {
        pkg: pkg.to_owned(),
        test: test.to_owned(),
        repo: str_field(f, "repo")?.to_owned(),
        builder: str_field(f, "builder")?.to_owned(),
        snippet: str_field(f, "snippet")?.to_owned(),
        url: str_field(f, "url")?.to_owned(),
        test_id,
        ..FailurePost::default()
    };
    let issue = NewIssue::for_failure(&post);
    expect_eq("title", str_field(case, "title")?, issue.title.as_str())?;
    expect_eq(
        "pattern",
        str_field(case, "pattern")?,
        issue.pattern.as_str(),
    )?;
    expect_eq("body", str_field(case, "body")?, issue.body.as_str())?;
    let script_ok = issue.verify_script();
    expect_eq(
        "body_script_ok",
        bool_field(case, "body_script_ok")?,
        script_ok.is_ok(),
    )
}

/// Reads one `posts[]` entry of a `post_format` case.
fn failure_post(p: &Value) -> Result<FailurePost, Outcome> {
    let text = |name| str_field(p, name).map(str::to_owned);
    let time = str_field(p, "time")?;
    let status = str_field(p, "status")?;
    Ok(FailurePost {
        time: Timestamp::parse_rfc3339(time).map_err(|e| fail(e.to_string()))?,
        builder: text("builder")?,
        repo: text("repo")?,
        go_branch: text("go_branch")?,
        commit: text("commit")?,
        go_commit: text("go_commit")?,
        test_id: text("test_id")?,
        pkg: text("pkg")?,
        test: text("test")?,
        status: TestStatus::from_name(status)
            .ok_or_else(|| fail(format!("unknown test status {status:?}")))?,
        url: text("url")?,
        snippet: text("snippet")?,
        output: String::new(),
        log: Arc::from(""),
        ..FailurePost::default()
    })
}

fn check_post_format(case: &Value) -> Result<(), Outcome> {
    let posts = array_field(case, "posts")?
        .iter()
        .map(failure_post)
        .collect::<Result<Vec<_>, _>>()?;
    let headers: Vec<String> = posts.iter().map(FailurePost::header).collect();
    expect_eq(
        "headers",
        str_list(case, "headers")?,
        headers.iter().map(String::as_str).collect(),
    )?;
    let body = sign_comment(&failures_comment(str_field(case, "script_text")?, &posts));
    expect_eq(
        "comment_body",
        str_field(case, "comment_body")?,
        body.as_str(),
    )
}

fn check_mentions(case: &Value) -> Result<(), Outcome> {
    let input = str_field(case, "input")?;
    expect_eq("signed", bool_field(case, "signed")?, is_signed(input))?;
    let mut mentions = Mentions::new();
    mentions.add_comment(input);
    // Upstream keeps a set; compare sorted and without duplicates.
    let mut expected = str_list(case, "urls")?;
    expected.sort_unstable();
    expected.dedup();
    expect_eq("urls", expected, mentions.iter().collect())
}

//! Broken-builder issues (docs/triage.md, "Broken builders"): a builder whose newest builds
//! all failed — at least [`TOO_MANY_TO_BE_FLAKES`] failures in a row at the tip of its row,
//! the run the obvious-flake filter skips as "not flakes" — gets one issue, titled
//! `x/build: BUILDER reported as broken` like upstream's broken-bot issues. The issue is
//! updated, never duplicated: it is found again by the marker line in its body, new failing
//! builds are posted on it in one signed comment (the build URLs signed comments mention are
//! never posted twice), it is reopened when the builder breaks again after it was closed, and
//! closed with a signed comment once the builder's newest build passes (a pass stopped
//! between that comment and the close only closes next time).
//!
//! The body holds no watchflakes script, and triage leaves such bodies alone (no "can't find
//! a watchflakes script" comment): the issue collects builds, not test failures.

use std::collections::BTreeMap;

use flakewatch_core::Timestamp;

use crate::backend::{FailureSource, Issue, IssueTracker};
use crate::dashboard::{BuildStatus, Dashboard, TOO_MANY_TO_BE_FLAKES};
use crate::failure::{build_url, short_hash};
use crate::mentions::{Comment, is_signed, scan_comments};
use crate::run::{ApplyFailure, IssueRef, TriageError, TriageOptions};
use crate::source::dashboards;
use crate::text::{BROKEN_BUILDER_MARKER, sign_comment, sign_issue_body};

/// What the closing comment says; a pass that finds it last on an open issue only closes.
const PASSES_AGAIN: &str = "passes again";

/// The builder a broken-builder issue body is about, if it is one.
pub fn broken_builder_of(body: &str) -> Option<&str> {
    let start = body.find(BROKEN_BUILDER_MARKER)? + BROKEN_BUILDER_MARKER.len();
    let rest = &body[start..];
    let end = rest.find(" -->")?;
    Some(&rest[..end])
}

/// One failed build of a broken run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokenBuild {
    /// The build's page.
    pub url: String,
    /// Its commit (short hash).
    pub commit: String,
    /// Its commit time.
    pub time: Timestamp,
}

/// A builder and the state of its newest builds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BuilderState {
    /// The builder.
    pub builder: String,
    /// Its dashboard's repository and Go branch.
    pub repo: String,
    /// Go branch.
    pub go_branch: String,
    /// The failures in a row at the tip, newest first (builds of other statuses are passed
    /// over, as the filter does); broken when there are at least
    /// [`TOO_MANY_TO_BE_FLAKES`].
    pub tip_failures: Vec<BrokenBuild>,
    /// Whether its newest build (of status success or failure) passed.
    pub passing: bool,
}

impl BuilderState {
    /// Whether the builder is broken.
    pub fn broken(&self) -> bool {
        self.tip_failures.len() >= TOO_MANY_TO_BE_FLAKES
    }
}

/// Every builder of the dashboards with its newest builds.
pub fn builder_states(boards: &[Dashboard]) -> Vec<BuilderState> {
    let mut states = Vec::new();
    for board in boards {
        for (b, builder) in board.builders().iter().enumerate() {
            let mut state = BuilderState {
                builder: builder.name.clone(),
                repo: board.repo.clone(),
                go_branch: board.go_branch.clone(),
                tip_failures: Vec::new(),
                passing: false,
            };
            for result in board.row(b).into_iter().flatten().flatten() {
                match result.status {
                    BuildStatus::Success => {
                        state.passing = state.tip_failures.is_empty();
                        break;
                    }
                    BuildStatus::Failure => state.tip_failures.push(BrokenBuild {
                        url: build_url(result.id),
                        commit: short_hash(&result.commit).to_owned(),
                        time: result.time,
                    }),
                    _ => {}
                }
            }
            states.push(state);
        }
    }
    states
}

/// The title of a builder's issue.
pub fn broken_title(builder: &str) -> String {
    format!("x/build: {builder} reported as broken")
}

/// The body of a builder's new issue, before cap and signature.
pub fn broken_body(state: &BuilderState) -> String {
    format!(
        "{BROKEN_BUILDER_MARKER}{} -->\n\nThe builder `{}` ({}, {}) failed on its newest {} \
         builds in a row, too many to be flakes: its failures are left out of flake triage \
         while this lasts. flakewatch posts the failing builds here, closes this issue when \
         the builder passes again, and reopens it if it breaks again.\n",
        state.builder,
        state.builder,
        state.repo,
        state.go_branch,
        state.tip_failures.len()
    )
}

/// What to do about one builder's issue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BrokenAction {
    /// Create the issue, then comment.
    Create,
    /// Comment on the open issue.
    Comment,
    /// Reopen the closed issue, then comment.
    Reopen,
    /// Comment that the builder passes again, then close.
    Close,
    /// Close only: the comment is there (a pass stopped between it and the close).
    FinishClose,
}

impl BrokenAction {
    /// `create`, `comment`, `reopen`, `close`.
    pub fn name(&self) -> &'static str {
        match self {
            BrokenAction::Create => "create",
            BrokenAction::Comment => "comment",
            BrokenAction::Reopen => "reopen",
            BrokenAction::Close => "close",
            BrokenAction::FinishClose => "finish_close",
        }
    }
}

/// One write to make about a builder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokenUpdate {
    /// The builder.
    pub builder: String,
    /// Its issue, when there is one.
    pub issue: Option<u64>,
    /// The title (of the issue to create, or of the existing one).
    pub title: String,
    /// What happens.
    pub action: BrokenAction,
    /// For `Create`: the body.
    pub body: Option<String>,
    /// The failing builds no signed comment mentions yet, newest first.
    pub builds: Vec<BrokenBuild>,
    /// The comment, before cap and signature.
    pub comment: String,
}

fn builds_comment(state: &BuilderState, builds: &[BrokenBuild]) -> String {
    let mut text = format!(
        "`{}` is still failing: {} failures in a row at its newest builds. New failing builds:\n\n",
        state.builder,
        state.tip_failures.len()
    );
    for b in builds {
        text.push_str(&format!(
            "- {} {}@{} ([log]({}))\n",
            b.time.format_minute(),
            state.repo,
            b.commit,
            b.url
        ));
    }
    text
}

/// Plans the broken-builder updates from the tracker and the failure source. Reads only.
pub fn plan_broken(
    tracker: &dyn IssueTracker,
    source: &dyn FailureSource,
    options: &TriageOptions,
) -> Result<Vec<BrokenUpdate>, TriageError> {
    let (boards, _) = dashboards(source.builds(options.since)?, options.since);
    let states = builder_states(&boards);
    let mut issues = tracker.list_issues()?;
    issues.sort_by_key(|i| i.number);
    // The newest issue per builder (a person may have filed a duplicate by hand).
    let mut by_builder: BTreeMap<String, Issue> = BTreeMap::new();
    for issue in issues {
        if let Some(builder) = broken_builder_of(&issue.body) {
            by_builder.insert(builder.to_owned(), issue);
        }
    }
    let mut updates = Vec::new();
    for state in states {
        let issue = by_builder.get(&state.builder);
        if !state.broken() {
            if let Some(issue) = issue.filter(|i| !i.closed && state.passing) {
                let comments = tracker.comments(issue.number)?;
                let commented = comments
                    .last()
                    .is_some_and(|c| is_signed(&c.body) && c.body.contains(PASSES_AGAIN));
                updates.push(BrokenUpdate {
                    builder: state.builder.clone(),
                    issue: Some(issue.number),
                    title: issue.title.clone(),
                    action: if commented {
                        BrokenAction::FinishClose
                    } else {
                        BrokenAction::Close
                    },
                    body: None,
                    builds: Vec::new(),
                    comment: format!(
                        "`{}` {PASSES_AGAIN}: its newest build succeeded. Closing; a new run of \
                         failures reopens this issue.\n",
                        state.builder
                    ),
                });
            }
            continue;
        }
        let mentions = match issue {
            Some(issue) => {
                let comments = tracker.comments(issue.number)?;
                scan_comments(
                    issue.body_edited_at,
                    comments.iter().map(|c| Comment {
                        created: c.created_at,
                        body: &c.body,
                    }),
                )
                .mentions
            }
            None => Default::default(),
        };
        let new: Vec<BrokenBuild> = state
            .tip_failures
            .iter()
            .filter(|b| !mentions.contains(&b.url))
            .cloned()
            .collect();
        if new.is_empty() {
            continue;
        }
        let (action, number, title, body) = match issue {
            None => (
                BrokenAction::Create,
                None,
                broken_title(&state.builder),
                Some(broken_body(&state)),
            ),
            Some(issue) if issue.closed => {
                let after_close = new
                    .iter()
                    .any(|b| issue.closed_at.is_none_or(|closed| b.time > closed));
                if !after_close {
                    continue;
                }
                (
                    BrokenAction::Reopen,
                    Some(issue.number),
                    issue.title.clone(),
                    None,
                )
            }
            Some(issue) => (
                BrokenAction::Comment,
                Some(issue.number),
                issue.title.clone(),
                None,
            ),
        };
        updates.push(BrokenUpdate {
            builder: state.builder.clone(),
            issue: number,
            title,
            action,
            body,
            comment: builds_comment(&state, &new),
            builds: new,
        });
    }
    Ok(updates)
}

/// What applying the broken-builder updates did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BrokenReport {
    /// Issues created: (builder, number).
    pub created: Vec<(String, u64)>,
    /// Issues commented on (after creating or reopening them, too).
    pub commented: Vec<u64>,
    /// Issues reopened.
    pub reopened: Vec<u64>,
    /// Issues closed.
    pub closed: Vec<u64>,
    /// Writes that failed (the pass goes on).
    pub failures: Vec<ApplyFailure>,
}

/// Performs the updates in order; `now` is the close time.
pub fn apply_broken(
    updates: &[BrokenUpdate],
    tracker: &dyn IssueTracker,
    options: &TriageOptions,
    now: Timestamp,
) -> BrokenReport {
    let mut report = BrokenReport::default();
    for (k, u) in updates.iter().enumerate() {
        let target = u.issue.map_or(IssueRef::New(k), IssueRef::Existing);
        let fail = |report: &mut BrokenReport, operation, err: crate::backend::BackendError| {
            report.failures.push(ApplyFailure {
                target,
                operation,
                message: err.to_string(),
            });
        };
        let number = match (&u.action, u.issue) {
            (BrokenAction::Create, _) => {
                let body = sign_issue_body(u.body.as_deref().unwrap_or(""));
                match tracker.create_issue(&u.title, &body, &options.labels) {
                    Ok(number) => {
                        report.created.push((u.builder.clone(), number));
                        number
                    }
                    Err(err) => {
                        fail(&mut report, "create_issue", err);
                        continue;
                    }
                }
            }
            (_, Some(number)) => number,
            (_, None) => continue,
        };
        if u.action == BrokenAction::Reopen {
            if let Err(err) = tracker.reopen_issue(number) {
                fail(&mut report, "reopen_issue", err);
                continue;
            }
            report.reopened.push(number);
        }
        if u.action != BrokenAction::FinishClose
            && let Err(err) = tracker.add_comment(number, &sign_comment(&u.comment))
        {
            fail(&mut report, "add_comment", err);
            continue;
        }
        if matches!(u.action, BrokenAction::Close | BrokenAction::FinishClose) {
            match tracker.close_issue(number, now) {
                Ok(()) => report.closed.push(number),
                Err(err) => fail(&mut report, "close_issue", err),
            }
        } else {
            report.commented.push(number);
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_names_the_builder() {
        let state = BuilderState {
            builder: "gotip-linux-arm".to_owned(),
            repo: "go".to_owned(),
            go_branch: "master".to_owned(),
            tip_failures: Vec::new(),
            passing: false,
        };
        assert_eq!(
            broken_builder_of(&broken_body(&state)),
            Some("gotip-linux-arm")
        );
        assert_eq!(broken_builder_of("no marker"), None);
    }
}

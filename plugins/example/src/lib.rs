//! An example flakewatch plugin, meant to be copied: an issue tracker that keeps its issues
//! in memory for the life of the instance.
//!
//! To start your own plugin:
//!
//! 1. Copy this crate. Keep `crate-type = ["cdylib", ...]` and depend only on
//!    `flakewatch-plugin-sdk`.
//! 2. Implement [`Plugin`]: `info` names the plugin and lists its capabilities; `create`
//!    reads the `--opt KEY=VALUE` options; implement the methods of your capabilities and
//!    leave the others to their defaults ("unsupported").
//! 3. Call [`export_plugin!`] once.
//! 4. Build with `cargo build --release` and put `libflakewatch_plugin_NAME.so` beside the
//!    `flakewatch` executable, in a directory listed in `FLAKEWATCH_PLUGIN_PATH`, or pass it
//!    with `--plugin PATH`. Select it with `--backend NAME`.
//!
//! Rules that keep plugins safe to load: never panic on purpose (a panic is caught and
//! becomes an error, but your state may be half-updated); never put credentials in error
//! messages; make `create_issue` and `add_comment` durable before returning, because the
//! host treats the tracker as the only record of what was posted.
//!
//! Options: `script` sets the `#!watchflakes` rule of issue #1 (default `post <- pkg == "example"`).

use std::sync::Mutex;

use flakewatch_plugin_sdk::model::{
    AddCommentRequest, Capability, Comment, CommentPage, CommentsRequest, Config,
    CreateIssueRequest, CreatedIssue, Issue, IssuePage, IssueState, ListIssuesRequest, PluginInfo,
    ReopenIssueRequest,
};
use flakewatch_plugin_sdk::{Plugin, PluginError, export_plugin};

/// The fixed time stamped on everything this example creates (it has no clock).
const CREATED_AT: &str = "2025-01-01T00:00:00Z";

/// An in-memory issue tracker. The `Mutex` makes it `Sync`, as [`Plugin`] requires.
#[derive(Debug)]
pub struct MemoryTracker {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    issues: Vec<Issue>,
    comments: Vec<(u64, Comment)>,
}

impl MemoryTracker {
    fn state(&self) -> Result<std::sync::MutexGuard<'_, State>, PluginError> {
        // A poisoned lock means an earlier call panicked half-way; refuse to go on.
        self.state
            .lock()
            .map_err(|_| PluginError::failed("state poisoned by an earlier panic"))
    }
}

impl Plugin for MemoryTracker {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "example".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            description: "example: an in-memory issue tracker".to_owned(),
            capabilities: vec![Capability::IssueTracker],
            ..PluginInfo::default()
        }
    }

    fn create(config: &Config) -> Result<Self, PluginError> {
        let rule = config.get("script").unwrap_or("post <- pkg == \"example\"");
        if rule.contains('\n') {
            return Err(PluginError::bad_request("option script must be one line"));
        }
        let first = Issue {
            number: 1,
            title: "example: all failures of package example".to_owned(),
            state: IssueState::Open,
            body: format!("```\n#!watchflakes\n{rule}\n```\n"),
            created_at: Some(CREATED_AT.to_owned()),
            ..Issue::default()
        };
        Ok(MemoryTracker {
            state: Mutex::new(State {
                issues: vec![first],
                comments: Vec::new(),
            }),
        })
    }

    fn list_issues(&self, _request: &ListIssuesRequest) -> Result<IssuePage, PluginError> {
        let state = self.state()?;
        Ok(IssuePage {
            issues: state.issues.clone(),
            next_cursor: None,
            // Saying how many issues there are lets the host detect a partial listing.
            total_count: Some(state.issues.len() as u64),
        })
    }

    fn issue_comments(&self, request: &CommentsRequest) -> Result<CommentPage, PluginError> {
        let state = self.state()?;
        Ok(CommentPage {
            comments: state
                .comments
                .iter()
                .filter(|(issue, _)| *issue == request.issue)
                .map(|(_, comment)| comment.clone())
                .collect(),
            next_cursor: None,
        })
    }

    fn create_issue(&self, request: &CreateIssueRequest) -> Result<CreatedIssue, PluginError> {
        let mut state = self.state()?;
        let number = state.issues.iter().map(|i| i.number).max().unwrap_or(0) + 1;
        state.issues.push(Issue {
            number,
            title: request.title.clone(),
            body: request.body.clone(),
            created_at: Some(CREATED_AT.to_owned()),
            ..Issue::default()
        });
        Ok(CreatedIssue { number })
    }

    fn add_comment(&self, request: &AddCommentRequest) -> Result<(), PluginError> {
        let mut state = self.state()?;
        if !state.issues.iter().any(|i| i.number == request.issue) {
            return Err(PluginError::bad_request(format!(
                "no issue #{}",
                request.issue
            )));
        }
        state.comments.push((
            request.issue,
            Comment {
                created_at: CREATED_AT.to_owned(),
                body: request.body.clone(),
            },
        ));
        Ok(())
    }

    fn reopen_issue(&self, request: &ReopenIssueRequest) -> Result<(), PluginError> {
        let mut state = self.state()?;
        let issue = state
            .issues
            .iter_mut()
            .find(|i| i.number == request.issue)
            .ok_or_else(|| PluginError::bad_request(format!("no issue #{}", request.issue)))?;
        issue.state = IssueState::Open;
        issue.closed_at = None;
        Ok(())
    }
}

export_plugin!(MemoryTracker);

#[cfg(test)]
mod tests {
    use super::*;

    /// The SDK's conformance kit: every operation of an issue tracker.
    #[test]
    fn passes_the_conformance_kit() {
        let report =
            flakewatch_plugin_sdk::kit::assert_conforms::<MemoryTracker>(&Config::default());
        assert!(report.checked.contains(&"add_comment"));
    }

    #[test]
    fn creates_and_comments() {
        let tracker = MemoryTracker::create(&Config::default()).unwrap();
        let created = tracker
            .create_issue(&CreateIssueRequest {
                title: "t".into(),
                body: "b".into(),
                labels: Vec::new(),
            })
            .unwrap();
        assert_eq!(created.number, 2);
        tracker
            .add_comment(&AddCommentRequest {
                issue: 2,
                body: "c".into(),
            })
            .unwrap();
        let comments = tracker
            .issue_comments(&CommentsRequest {
                issue: 2,
                cursor: None,
            })
            .unwrap();
        assert_eq!(comments.comments.len(), 1);
        let page = tracker.list_issues(&ListIssuesRequest::default()).unwrap();
        assert_eq!(page.total_count, Some(2));
        assert!(page.issues[0].body.contains("post <- pkg == \"example\""));
    }
}

//! The `github` backend: flakewatch's issue tracker over GitHub's REST API (issues, comments,
//! labels) and GraphQL API (project membership, `lastEditedAt`). See `docs/github.md`.
//!
//! | option | meaning |
//! |---|---|
//! | `repo` | `owner/name` (required) |
//! | `label` | list only issues with this label; created issues get it |
//! | `project` | list only issues of the owner organization's project number N (GraphQL `projectV2`); created issues are added to it |
//! | `api` | REST base URL (default `https://api.github.com`; GitHub Enterprise: `https://HOST/api/v3`) |
//! | `graphql` | GraphQL URL (default: `API/graphql`, or `https://HOST/api/graphql` for an `/api/v3` base) |
//! | `token`, `token-file` | the token (else the environment variable `GITHUB_TOKEN`) |
//! | `state-dir` | where the size of the last complete listing is kept (no check without it) |
//! | `cache-dir` | where answers with an `ETag` are kept between runs (default: memory only) |
//! | `max-wait` | seconds one request may take in all, retries and rate-limit waits included (60) |
//! | `retry-base-ms` | the first retry backoff in milliseconds, doubling to at most 30 s (500) |
//! | `timeout` | seconds one attempt may take (30) |
//! | `per-page` | items per page, 1 to 100 (100) |
//! | `edited-at` | `graphql` (default): `body_edited_at` is GraphQL's `lastEditedAt`; `none`: never set |
//!
//! A listing is returned whole or not at all ([`listing`]).

pub mod http;
pub mod link;
pub mod listing;
pub mod token;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use flakewatch_plugin_sdk::model::{
    AddCommentRequest, Capability, CloseIssueRequest, Comment, CommentPage, CommentsRequest,
    Config, CreateIssueRequest, CreatedIssue, Issue, IssuePage, IssueState, ListIssuesRequest,
    PluginInfo, ReopenIssueRequest,
};
use flakewatch_plugin_sdk::{Plugin, PluginError, export_plugin};
use serde_json::{Value, json};

use http::{Client, Method, Policy};
use listing::StateFile;
pub use token::Token;

/// The environment variable the token is read from when no option gives it.
pub const TOKEN_ENV: &str = "GITHUB_TOKEN";

/// The options this plugin knows (`data` is the host's `--data`, given to every plugin).
const KNOWN_OPTIONS: &[&str] = &[
    "repo",
    "label",
    "project",
    "api",
    "graphql",
    "token",
    "token-file",
    "state-dir",
    "cache-dir",
    "max-wait",
    "retry-base-ms",
    "timeout",
    "per-page",
    "edited-at",
    "data",
];

/// The GitHub issue tracker of one repository.
#[derive(Debug)]
pub struct GitHubTracker {
    owner: String,
    repo: String,
    label: Option<String>,
    project: Option<u64>,
    api: String,
    graphql: String,
    per_page: usize,
    edited_at: bool,
    state: Option<StateFile>,
    client: Client,
    /// The project's node id, once known.
    project_id: Mutex<Option<String>>,
}

fn bad(message: impl Into<String>) -> PluginError {
    PluginError::bad_request(message)
}

fn seconds(config: &Config, key: &str, default: f64) -> Result<Duration, PluginError> {
    match config.get(key) {
        None => Ok(Duration::from_secs_f64(default)),
        Some(text) => text
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0 && *s < 1e9)
            .map(Duration::from_secs_f64)
            .ok_or_else(|| bad(format!("option {key}: {text:?} is not a number of seconds"))),
    }
}

impl GitHubTracker {
    /// An instance from its options, reading the environment through `env` (the token's
    /// variable).
    pub fn from_config(
        config: &Config,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<GitHubTracker, PluginError> {
        if let Some(unknown) = config
            .options
            .keys()
            .find(|k| !KNOWN_OPTIONS.contains(&k.as_str()))
        {
            return Err(bad(format!(
                "unknown option {unknown:?} (the github plugin knows {})",
                KNOWN_OPTIONS[..KNOWN_OPTIONS.len() - 1].join(", ")
            )));
        }
        let repository = config.get("repo").ok_or_else(|| {
            bad("the github plugin needs the repository: --opt github:repo=OWNER/NAME")
        })?;
        let (owner, repo) = repository
            .split_once('/')
            .filter(|(o, r)| {
                let ok = |s: &str| {
                    !s.is_empty()
                        && s.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                };
                ok(o) && ok(r)
            })
            .ok_or_else(|| bad(format!("option repo: {repository:?} is not OWNER/NAME")))?;
        let label = config
            .get("label")
            .filter(|l| !l.is_empty())
            .map(str::to_owned);
        let project = match config.get("project") {
            None => None,
            Some(text) => Some(
                text.trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| {
                        bad(format!("option project: {text:?} is not a project number"))
                    })?,
            ),
        };
        let api = config
            .get("api")
            .unwrap_or("https://api.github.com")
            .trim_end_matches('/')
            .to_owned();
        if !(api.starts_with("https://") || api.starts_with("http://")) {
            return Err(bad(format!("option api: {api:?} is not an http(s) URL")));
        }
        let graphql = match config.get("graphql") {
            Some(url) => url.to_owned(),
            None => match api.strip_suffix("/api/v3") {
                Some(host) => format!("{host}/api/graphql"),
                None => format!("{api}/graphql"),
            },
        };
        let token = match (config.get("token"), config.get("token-file")) {
            (Some(text), _) => {
                Some(Token::new(text).ok_or_else(|| bad("option token: the token is empty"))?)
            }
            (None, Some(path)) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| bad(format!("option token-file: reading {path}: {}", e.kind())))?;
                Some(
                    Token::new(&text)
                        .ok_or_else(|| bad(format!("option token-file: {path} is empty")))?,
                )
            }
            (None, None) => env(TOKEN_ENV).and_then(|t| Token::new(&t)),
        };
        let per_page = match config.get("per-page") {
            None => 100,
            Some(text) => text
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=100).contains(n))
                .ok_or_else(|| bad(format!("option per-page: {text:?} is not 1 to 100")))?,
        };
        let edited_at = match config.get("edited-at").unwrap_or("graphql") {
            "graphql" => true,
            "none" => false,
            other => {
                return Err(bad(format!(
                    "option edited-at: {other:?} is neither graphql nor none"
                )));
            }
        };
        let policy = Policy {
            max_wait: seconds(config, "max-wait", 60.0)?,
            retry_base: match config.get("retry-base-ms") {
                None => Duration::from_millis(500),
                Some(text) => {
                    Duration::from_millis(text.trim().parse::<u64>().map_err(|_| {
                        bad(format!("option retry-base-ms: {text:?} is not a number"))
                    })?)
                }
            },
            retry_cap: Duration::from_secs(30),
            timeout: seconds(config, "timeout", 30.0)?,
        };
        let selection = format!(
            "{owner}_{repo}{}{}",
            label
                .as_deref()
                .map(|l| format!("-label-{l}"))
                .unwrap_or_default(),
            project.map(|p| format!("-project-{p}")).unwrap_or_default()
        );
        let state = match config.get("state-dir") {
            None => None,
            Some(dir) => {
                let dir = PathBuf::from(dir);
                if !dir.is_dir() {
                    return Err(bad(format!(
                        "option state-dir: {} is not a directory",
                        dir.display()
                    )));
                }
                Some(StateFile::new(&dir, &selection))
            }
        };
        let cache_dir = match config.get("cache-dir") {
            None => None,
            Some(dir) => {
                let dir = PathBuf::from(dir);
                std::fs::create_dir_all(&dir).map_err(|e| {
                    bad(format!("option cache-dir: {}: {}", dir.display(), e.kind()))
                })?;
                Some(dir)
            }
        };
        let loopback = ["http://127.0.0.1", "http://localhost", "http://[::1]"]
            .iter()
            .any(|p| api.starts_with(p));
        Ok(GitHubTracker {
            owner: owner.to_owned(),
            repo: repo.to_owned(),
            label,
            project,
            api,
            graphql,
            per_page,
            edited_at,
            state,
            client: match cache_dir {
                Some(dir) => Client::new(token, policy, loopback).with_cache_dir(dir),
                None => Client::new(token, policy, loopback),
            },
            project_id: Mutex::new(None),
        })
    }

    fn issues_url(&self) -> String {
        format!("{}/repos/{}/{}/issues", self.api, self.owner, self.repo)
    }

    /// A failure of `operation`, token scrubbed.
    fn failed(&self, operation: &str, message: &str) -> PluginError {
        PluginError::failed(self.client.scrub(&format!(
            "{operation} on {}/{}: {message}",
            self.owner, self.repo
        )))
    }

    /// Every tracked issue, checked complete.
    fn all_issues(&self) -> Result<Vec<Issue>, String> {
        let issues = match self.project {
            Some(project) => self.project_issues(project)?,
            None => self.repository_issues()?,
        };
        listing::distinct_numbers(issues.iter().map(|i| &i.number))?;
        if let Some(state) = &self.state {
            state.check_and_record(issues.len() as u64)?;
        }
        Ok(issues)
    }

    /// The repository's issues (label-selected when `label` is set) over REST, pull requests
    /// left out, `body_edited_at` from GraphQL.
    fn repository_issues(&self) -> Result<Vec<Issue>, String> {
        let mut url = format!(
            "{}?state=all&sort=created&direction=asc&per_page={}",
            self.issues_url(),
            self.per_page
        );
        if let Some(label) = &self.label {
            url.push_str("&labels=");
            url.push_str(&percent_encode(label));
        }
        let items = listing::rest_pages(&self.client, &url, self.per_page, &self.api)?;
        let mut issues = Vec::new();
        let mut node_ids = Vec::new();
        let mut numbers = Vec::new();
        for item in &items {
            let number = item["number"]
                .as_u64()
                .ok_or("an item of the listing has no number")?;
            numbers.push(number);
            if item.get("pull_request").is_some() {
                continue;
            }
            node_ids.push(item["node_id"].as_str().unwrap_or("").to_owned());
            issues.push(Issue {
                number,
                title: text(item, "title"),
                state: match item["state"].as_str() {
                    Some("closed") => IssueState::Closed,
                    _ => IssueState::Open,
                },
                closed_at: item["closed_at"].as_str().map(str::to_owned),
                body: text(item, "body"),
                created_at: item["created_at"].as_str().map(str::to_owned),
                body_edited_at: None,
            });
        }
        // Duplicates among the raw items (pull requests included) mean the listing moved.
        listing::distinct_numbers(numbers.iter())?;
        if self.edited_at && !node_ids.is_empty() {
            let edited = listing::last_edited(&self.client, &self.graphql, &node_ids)?;
            for (issue, edited) in issues.iter_mut().zip(edited) {
                issue.body_edited_at = edited;
            }
        }
        Ok(issues)
    }

    /// The issues of this repository in the project, over GraphQL.
    fn project_issues(&self, project: u64) -> Result<Vec<Issue>, String> {
        let (contents, project_id) = listing::project_items(
            &self.client,
            &self.graphql,
            &self.owner,
            project,
            self.per_page,
        )?;
        *self.project_id.lock().unwrap_or_else(|e| e.into_inner()) = Some(project_id);
        let full_name = format!("{}/{}", self.owner, self.repo);
        let mut issues = Vec::new();
        for content in contents {
            if content["__typename"].as_str() != Some("Issue")
                || !content["repository"]["nameWithOwner"]
                    .as_str()
                    .is_some_and(|n| n.eq_ignore_ascii_case(&full_name))
            {
                continue;
            }
            if let Some(label) = &self.label {
                let has = content["labels"]["nodes"]
                    .as_array()
                    .is_some_and(|l| l.iter().any(|n| n["name"].as_str() == Some(label)));
                if !has {
                    continue;
                }
            }
            issues.push(Issue {
                number: content["number"]
                    .as_u64()
                    .ok_or("a project item's issue has no number")?,
                title: text(&content, "title"),
                state: match content["state"].as_str() {
                    Some("CLOSED") => IssueState::Closed,
                    _ => IssueState::Open,
                },
                closed_at: content["closedAt"].as_str().map(str::to_owned),
                body: text(&content, "body"),
                created_at: content["createdAt"].as_str().map(str::to_owned),
                body_edited_at: if self.edited_at {
                    content["lastEditedAt"].as_str().map(str::to_owned)
                } else {
                    None
                },
            });
        }
        issues.sort_by_key(|i| i.number);
        Ok(issues)
    }

    /// The project's node id (read once).
    fn project_node(&self, project: u64) -> Result<String, String> {
        if let Some(id) = self
            .project_id
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
        {
            return Ok(id);
        }
        let data = listing::graphql_call(
            &self.client,
            &self.graphql,
            "query($owner: String!, $number: Int!) { organization(login: $owner) { projectV2(number: $number) { id } } }",
            json!({"owner": self.owner, "number": project}),
        )?;
        let id = data["organization"]["projectV2"]["id"]
            .as_str()
            .ok_or_else(|| {
                format!(
                    "organization {} has no project number {project}",
                    self.owner
                )
            })?
            .to_owned();
        *self.project_id.lock().unwrap_or_else(|e| e.into_inner()) = Some(id.clone());
        Ok(id)
    }

    fn set_state(&self, operation: &str, issue: u64, state: &str) -> Result<(), PluginError> {
        let url = format!("{}/{issue}", self.issues_url());
        let mut body = json!({"state": state});
        if state == "closed" {
            body["state_reason"] = json!("completed");
        }
        self.client
            .request(Method::Patch, &url, Some(&body), true)
            .map(|_| ())
            .map_err(|e| self.failed(operation, &format!("issue #{issue}: {e}")))
    }
}

/// A string field, `""` when absent or null.
fn text(value: &Value, key: &str) -> String {
    value[key].as_str().unwrap_or("").to_owned()
}

/// Percent-encodes a query value (RFC 3986 unreserved characters stay).
fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl Plugin for GitHubTracker {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "github".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            description: "GitHub issues of one repository, by label and/or project \
                          (options repo=OWNER/NAME, label, project; token from GITHUB_TOKEN)"
                .to_owned(),
            capabilities: vec![Capability::IssueTracker],
            sdk_version: String::new(),
        }
    }

    fn create(config: &Config) -> Result<Self, PluginError> {
        GitHubTracker::from_config(config, |name| std::env::var(name).ok())
    }

    fn list_issues(&self, request: &ListIssuesRequest) -> Result<IssuePage, PluginError> {
        if request.cursor.is_some() {
            return Err(bad(
                "list_issues: this plugin answers the whole listing in one page",
            ));
        }
        let issues = self
            .all_issues()
            .map_err(|e| self.failed("list_issues", &e))?;
        Ok(IssuePage {
            total_count: Some(issues.len() as u64),
            issues,
            next_cursor: None,
        })
    }

    fn issue_comments(&self, request: &CommentsRequest) -> Result<CommentPage, PluginError> {
        if request.cursor.is_some() {
            return Err(bad(
                "issue_comments: this plugin answers all comments in one page",
            ));
        }
        let url = format!(
            "{}/{}/comments?per_page={}",
            self.issues_url(),
            request.issue,
            self.per_page
        );
        let items =
            listing::rest_pages(&self.client, &url, self.per_page, &self.api).map_err(|e| {
                self.failed("issue_comments", &format!("issue #{}: {e}", request.issue))
            })?;
        let mut ids = BTreeSet::new();
        let mut comments = Vec::new();
        for item in items {
            if let Some(id) = item["id"].as_u64()
                && !ids.insert(id)
            {
                return Err(self.failed(
                    "issue_comments",
                    &format!(
                        "issue #{}: comment {id} listed twice (the listing moved while it was read)",
                        request.issue
                    ),
                ));
            }
            comments.push(Comment {
                created_at: text(&item, "created_at"),
                body: text(&item, "body"),
            });
        }
        Ok(CommentPage {
            comments,
            next_cursor: None,
        })
    }

    fn create_issue(&self, request: &CreateIssueRequest) -> Result<CreatedIssue, PluginError> {
        let mut labels = request.labels.clone();
        if let Some(label) = &self.label
            && !labels.contains(label)
        {
            // Without the label the new issue would not be listed next time.
            labels.push(label.clone());
        }
        let body = json!({"title": request.title, "body": request.body, "labels": labels});
        let reply = self
            .client
            .request(Method::Post, &self.issues_url(), Some(&body), false)
            .map_err(|e| {
                self.failed(
                    "create_issue",
                    &format!(
                        "{e}. If GitHub created the issue anyway, the next cycle lists it and \
                         posts to it instead of creating another"
                    ),
                )
            })?;
        let number = reply.json["number"]
            .as_u64()
            .ok_or_else(|| self.failed("create_issue", "the answer has no issue number"))?;
        if let Some(project) = self.project {
            let node = reply.json["node_id"].as_str().unwrap_or("").to_owned();
            let added = self.project_node(project).and_then(|project_id| {
                listing::graphql_call(
                    &self.client,
                    &self.graphql,
                    "mutation($projectId: ID!, $contentId: ID!) { addProjectV2ItemById(input: {projectId: $projectId, contentId: $contentId}) { item { id } } }",
                    json!({"projectId": project_id, "contentId": node}),
                )
            });
            if let Err(e) = added {
                return Err(self.failed(
                    "create_issue",
                    &format!(
                        "issue #{number} was created but not added to project {project} ({e}); \
                         add it to the project by hand, or the next cycle, which lists the \
                         project, files its failures again"
                    ),
                ));
            }
        }
        Ok(CreatedIssue { number })
    }

    fn add_comment(&self, request: &AddCommentRequest) -> Result<(), PluginError> {
        let url = format!("{}/{}/comments", self.issues_url(), request.issue);
        self.client
            .request(
                Method::Post,
                &url,
                Some(&json!({"body": request.body})),
                false,
            )
            .map(|_| ())
            .map_err(|e| self.failed("add_comment", &format!("issue #{}: {e}", request.issue)))
    }

    fn reopen_issue(&self, request: &ReopenIssueRequest) -> Result<(), PluginError> {
        self.set_state("reopen_issue", request.issue, "open")
    }

    fn close_issue(&self, request: &CloseIssueRequest) -> Result<(), PluginError> {
        // GitHub records its own closing time; request.closed_at is the host's clock.
        self.set_state("close_issue", request.issue, "closed")
    }
}

export_plugin!(GitHubTracker);

#[cfg(test)]
mod tests {
    use super::*;

    fn config(options: &[(&str, &str)]) -> Config {
        Config {
            options: options
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn the_graphql_url_follows_the_api_base() {
        let public =
            GitHubTracker::from_config(&config(&[("repo", "a/b")]), |_| None).expect("create");
        assert_eq!(public.graphql, "https://api.github.com/graphql");
        let enterprise = GitHubTracker::from_config(
            &config(&[("repo", "a/b"), ("api", "https://ghe.example/api/v3/")]),
            |_| None,
        )
        .expect("create");
        assert_eq!(enterprise.api, "https://ghe.example/api/v3");
        assert_eq!(enterprise.graphql, "https://ghe.example/api/graphql");
        for (key, value) in [
            ("per-page", "0"),
            ("per-page", "101"),
            ("max-wait", "-1"),
            ("project", "x"),
            ("edited-at", "rest"),
            ("api", "ftp://x"),
        ] {
            let err =
                GitHubTracker::from_config(&config(&[("repo", "a/b"), (key, value)]), |_| None)
                    .expect_err(key);
            assert!(err.message.contains(key), "{}", err.message);
        }
    }

    #[test]
    fn labels_are_percent_encoded() {
        assert_eq!(percent_encode("Test Flakes/x,y"), "Test%20Flakes%2Fx%2Cy");
    }
}

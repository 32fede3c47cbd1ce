//! A stateful GitHub server for tests: the REST endpoints and GraphQL queries the `github`
//! plugin uses, on loopback (`127.0.0.1`, a port the system picks), with faults the test
//! injects.
//!
//! The shapes follow GitHub's REST reference: "List repository issues"
//! (`GET /repos/{owner}/{repo}/issues`, `state`, `labels`, `per_page`, `page`; pull requests
//! are listed too, with a `pull_request` key), "Create an issue" (`POST`, `title`, `body`,
//! `labels`, `201`), "Update an issue" (`PATCH`, `state`, `state_reason`), "List issue
//! comments" and "Create an issue comment" (`/issues/{issue_number}/comments`); pagination
//! through the `Link` header (`rel="next"`, `"last"`, `"first"`, `"prev"`); the rate-limit
//! headers (`x-ratelimit-limit`, `-remaining`, `-used`, `-reset`, `-resource`) and
//! `retry-after`; `ETag` and `If-None-Match` (a `304` costs no quota). GraphQL
//! (`POST /graphql`, `{"query", "variables"}`) answers three operations, recognised by the
//! field they ask for: `organization.projectV2(number:).items` (the project's items, their
//! `content` an `Issue`), `nodes(ids:)` (an issue's `lastEditedAt`) and the mutation
//! `addProjectV2ItemById(input: {projectId, contentId})`.
//!
//! The server runs on one thread and is stopped when the [`GitHubServer`] is dropped.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

/// An issue (or pull request) put into the server before a test runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedIssue {
    /// Its number.
    pub number: u64,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// Whether it is open.
    pub open: bool,
    /// When it was closed (RFC 3339), for a closed issue.
    pub closed_at: Option<String>,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// When its body was last edited (GraphQL `lastEditedAt`).
    pub last_edited_at: Option<String>,
    /// Label names.
    pub labels: Vec<String>,
    /// Whether it is a pull request (the issues endpoint lists those too).
    pub pull_request: bool,
}

impl SeedIssue {
    /// An open issue with a title and a body, created on 2025-06-01.
    pub fn new(number: u64, title: &str, body: &str) -> SeedIssue {
        SeedIssue {
            number,
            title: title.to_owned(),
            body: body.to_owned(),
            open: true,
            closed_at: None,
            created_at: "2025-06-01T00:00:00Z".to_owned(),
            last_edited_at: None,
            labels: Vec::new(),
            pull_request: false,
        }
    }
}

/// An issue as the server holds it, for assertions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssueView {
    /// Its number.
    pub number: u64,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// `open` or `closed`.
    pub state: String,
    /// When it was closed.
    pub closed_at: Option<String>,
    /// Label names.
    pub labels: Vec<String>,
    /// Whether it is a pull request.
    pub pull_request: bool,
    /// The numbers of the projects it is an item of.
    pub projects: Vec<u64>,
}

/// A comment as the server holds it, for assertions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommentView {
    /// The issue it is on.
    pub issue: u64,
    /// Its id.
    pub id: u64,
    /// Body.
    pub body: String,
    /// When it was created.
    pub created_at: String,
}

/// One request the server received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestLog {
    /// `GET`, `POST`, `PATCH`.
    pub method: String,
    /// The path and query.
    pub url: String,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The `If-None-Match` header, if any.
    pub if_none_match: Option<String>,
    /// The status code answered.
    pub status: u16,
}

/// What an injected fault does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// Answer this status with GitHub's error document (`{"message", "documentation_url"}`)
    /// and do nothing else (401, 403 without rate-limit headers, 404, 422, 500, 502, ...).
    Status(u16),
    /// The primary rate limit: `403`, `x-ratelimit-remaining: 0`, `x-ratelimit-reset` this
    /// many seconds from now.
    PrimaryRateLimit {
        /// Seconds until the reset.
        reset_in: u64,
    },
    /// A secondary rate limit: `status` (403 or 429) with GitHub's secondary-limit message and
    /// a `retry-after` header when given.
    SecondaryRateLimit {
        /// 403 or 429.
        status: u16,
        /// The `retry-after` value in seconds, if sent.
        retry_after: Option<u64>,
    },
    /// Answer normally, but with the body cut in half (`200`, valid HTTP, invalid JSON).
    TruncatedJson,
    /// Wait this long, then answer normally.
    Delay(Duration),
    /// Send the headers (announcing the whole body) and half the body, then nothing more:
    /// the client's read times out in the middle of the page.
    CutMidBody,
    /// Answer a listing page with this many items removed from its end (the headers, `Link`
    /// included, unchanged).
    ShortPage(usize),
    /// Perform the request, then answer this status instead of the result (a write that
    /// happened although the client saw an error).
    AfterWrite(u16),
}

/// A fault: which requests it hits and how often.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    kind: FaultKind,
    method: Option<String>,
    path_contains: Option<String>,
    page: Option<u32>,
    /// `None`: every matching request.
    remaining: Option<u32>,
}

impl Fault {
    /// A fault hitting the next request (once).
    pub fn new(kind: FaultKind) -> Fault {
        Fault {
            kind,
            method: None,
            path_contains: None,
            page: None,
            remaining: Some(1),
        }
    }

    /// Only requests with this method.
    pub fn method(mut self, method: &str) -> Fault {
        self.method = Some(method.to_owned());
        self
    }

    /// Only requests whose path contains this text.
    pub fn path(mut self, text: &str) -> Fault {
        self.path_contains = Some(text.to_owned());
        self
    }

    /// Only requests for this page (`page=` of the query; no `page` is page 1).
    pub fn page(mut self, page: u32) -> Fault {
        self.page = Some(page);
        self
    }

    /// The next `n` matching requests.
    pub fn times(mut self, n: u32) -> Fault {
        self.remaining = Some(n);
        self
    }

    /// Every matching request, until [`GitHubServer::clear_faults`].
    pub fn persistent(mut self) -> Fault {
        self.remaining = None;
        self
    }

    fn matches(&self, method: &str, path: &str, page: u32) -> bool {
        self.remaining != Some(0)
            && self.method.as_deref().is_none_or(|m| m == method)
            && self
                .path_contains
                .as_deref()
                .is_none_or(|p| path.contains(p))
            && self.page.is_none_or(|p| p == page)
    }
}

struct StoredIssue {
    number: u64,
    title: String,
    body: String,
    open: bool,
    state_reason: Option<String>,
    closed_at: Option<String>,
    created_at: String,
    updated_at: String,
    last_edited_at: Option<String>,
    labels: Vec<String>,
    pull_request: bool,
}

struct StoredComment {
    id: u64,
    issue: u64,
    body: String,
    created_at: String,
}

struct State {
    base: String,
    owner: String,
    repo: String,
    token: Option<String>,
    issues: BTreeMap<u64, StoredIssue>,
    comments: Vec<StoredComment>,
    projects: BTreeMap<u64, Vec<u64>>,
    faults: Vec<Fault>,
    log: Vec<RequestLog>,
    limit: u64,
    remaining: u64,
    reset: u64,
}

/// A running server. Dropping it stops the server and joins its thread.
pub struct GitHubServer {
    state: Arc<Mutex<State>>,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    url: String,
}

impl std::fmt::Debug for GitHubServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubServer")
            .field("url", &self.url)
            .finish()
    }
}

/// What one request is answered with.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    delay: Option<Duration>,
    cut: bool,
}

impl Reply {
    fn json(status: u16, value: &Value) -> Reply {
        Reply {
            status,
            headers: vec![(
                "content-type".into(),
                "application/json; charset=utf-8".into(),
            )],
            body: serde_json::to_vec(value).unwrap_or_default(),
            delay: None,
            cut: false,
        }
    }

    fn error(status: u16, message: &str) -> Reply {
        Reply::json(
            status,
            &json!({
                "message": message,
                "documentation_url": "https://docs.github.com/rest",
                "status": status.to_string(),
            }),
        )
    }
}

fn now_rfc3339() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

fn epoch_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Decodes `%XX` and `+` of a query component.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match u8::from_str_radix(&text[i + 1..i + 3], 16) {
                Ok(b) => {
                    out.push(b);
                    i += 2;
                }
                Err(_) => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_query(query: &str) -> BTreeMap<String, String> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (percent_decode(k), percent_decode(v)),
            None => (percent_decode(p), String::new()),
        })
        .collect()
}

fn etag_of(body: &[u8]) -> String {
    // FNV-1a: stable across runs, enough to tell bodies apart.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in body {
        hash ^= u64::from(*b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("W/\"{hash:016x}\"")
}

impl GitHubServer {
    /// Starts a server for the repository `owner/name` on `127.0.0.1`, port chosen by the
    /// system.
    pub fn start(repository: &str) -> GitHubServer {
        let (owner, repo) = repository
            .split_once('/')
            .expect("the repository is owner/name");
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind 127.0.0.1:0"));
        let port = server.server_addr().to_ip().expect("an IP listener").port();
        let url = format!("http://127.0.0.1:{port}");
        let state = Arc::new(Mutex::new(State {
            base: url.clone(),
            owner: owner.to_owned(),
            repo: repo.to_owned(),
            token: None,
            issues: BTreeMap::new(),
            comments: Vec::new(),
            projects: BTreeMap::new(),
            faults: Vec::new(),
            log: Vec::new(),
            limit: 5000,
            remaining: 5000,
            reset: epoch_seconds() + 3600,
        }));
        let thread = {
            let server = Arc::clone(&server);
            let state = Arc::clone(&state);
            std::thread::spawn(move || {
                while let Ok(request) = server.recv() {
                    serve(&state, request);
                }
            })
        };
        GitHubServer {
            state,
            server,
            thread: Some(thread),
            url,
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The base URL (`http://127.0.0.1:PORT`): the plugin's `api` option.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Requires `Authorization: Bearer TOKEN` (or `token TOKEN`) on every request.
    pub fn require_token(&self, token: &str) {
        self.lock().token = Some(token.to_owned());
    }

    /// Adds an issue.
    pub fn seed_issue(&self, issue: SeedIssue) {
        let updated = issue
            .last_edited_at
            .clone()
            .unwrap_or_else(|| issue.created_at.clone());
        self.lock().issues.insert(
            issue.number,
            StoredIssue {
                number: issue.number,
                title: issue.title,
                body: issue.body,
                open: issue.open,
                state_reason: (!issue.open).then(|| "completed".to_owned()),
                closed_at: issue.closed_at,
                created_at: issue.created_at,
                updated_at: updated,
                last_edited_at: issue.last_edited_at,
                labels: issue.labels,
                pull_request: issue.pull_request,
            },
        );
    }

    /// Adds a comment to an issue.
    pub fn seed_comment(&self, issue: u64, body: &str, created_at: &str) {
        let mut state = self.lock();
        let id = state.comments.len() as u64 + 1;
        state.comments.push(StoredComment {
            id,
            issue,
            body: body.to_owned(),
            created_at: created_at.to_owned(),
        });
    }

    /// Makes an issue an item of the organization's project `project`.
    pub fn add_to_project(&self, project: u64, issue: u64) {
        self.lock().projects.entry(project).or_default().push(issue);
    }

    /// Creates an empty project.
    pub fn create_project(&self, project: u64) {
        self.lock().projects.entry(project).or_default();
    }

    /// Queues a fault; faults are tried in the order they were added.
    pub fn inject(&self, fault: Fault) {
        self.lock().faults.push(fault);
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Sets the primary rate limit's remaining requests.
    pub fn set_rate_limit_remaining(&self, remaining: u64) {
        self.lock().remaining = remaining;
    }

    /// The primary rate limit's remaining requests (a `304` costs none).
    pub fn rate_limit_remaining(&self) -> u64 {
        self.lock().remaining
    }

    /// Every issue and pull request, by number.
    pub fn issues(&self) -> Vec<IssueView> {
        let state = self.lock();
        state
            .issues
            .values()
            .map(|i| IssueView {
                number: i.number,
                title: i.title.clone(),
                body: i.body.clone(),
                state: if i.open { "open" } else { "closed" }.to_owned(),
                closed_at: i.closed_at.clone(),
                labels: i.labels.clone(),
                pull_request: i.pull_request,
                projects: state
                    .projects
                    .iter()
                    .filter(|(_, items)| items.contains(&i.number))
                    .map(|(p, _)| *p)
                    .collect(),
            })
            .collect()
    }

    /// Every comment, in the order they were made.
    pub fn comments(&self) -> Vec<CommentView> {
        self.lock()
            .comments
            .iter()
            .map(|c| CommentView {
                issue: c.issue,
                id: c.id,
                body: c.body.clone(),
                created_at: c.created_at.clone(),
            })
            .collect()
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<RequestLog> {
        self.lock().log.clone()
    }
}

impl Drop for GitHubServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn header(request: &tiny_http::Request, name: &'static str) -> Option<String> {
    request
        .headers()
        .iter()
        .find(|h| h.field.equiv(name))
        .map(|h| h.value.as_str().to_owned())
}

fn serve(state: &Mutex<State>, mut request: tiny_http::Request) {
    let method = request.method().as_str().to_owned();
    let url = request.url().to_owned();
    let authorization = header(&request, "Authorization");
    let if_none_match = header(&request, "If-None-Match");
    let mut body = Vec::new();
    let _ = std::io::Read::read_to_end(request.as_reader(), &mut body);
    let reply = {
        let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
        let mut reply = state.handle(
            &method,
            &url,
            authorization.as_deref(),
            if_none_match.as_deref(),
            &body,
        );
        if reply.status != 304 {
            state.remaining = state.remaining.saturating_sub(1);
        }
        let resource = if url.starts_with("/graphql") {
            "graphql"
        } else {
            "core"
        };
        let limit_headers = [
            ("x-ratelimit-limit", state.limit.to_string()),
            (
                "x-ratelimit-used",
                (state.limit - state.remaining).to_string(),
            ),
            ("x-ratelimit-resource", resource.to_owned()),
        ];
        for (name, value) in limit_headers {
            reply.headers.push((name.to_owned(), value));
        }
        // A fault may have set its own remaining/reset.
        if !reply
            .headers
            .iter()
            .any(|(n, _)| n == "x-ratelimit-remaining")
        {
            reply
                .headers
                .push(("x-ratelimit-remaining".into(), state.remaining.to_string()));
            reply
                .headers
                .push(("x-ratelimit-reset".into(), state.reset.to_string()));
        }
        state.log.push(RequestLog {
            method,
            url,
            authorization,
            if_none_match,
            status: reply.status,
        });
        reply
    };
    match reply.delay {
        // A slow answer does not hold up the requests behind it (a retry is served at once).
        Some(delay) => {
            std::thread::spawn(move || {
                std::thread::sleep(delay);
                respond(request, reply);
            });
        }
        None => respond(request, reply),
    }
}

fn respond(request: tiny_http::Request, reply: Reply) {
    let headers: Vec<tiny_http::Header> = reply
        .headers
        .iter()
        .filter_map(|(n, v)| tiny_http::Header::from_bytes(n.as_bytes(), v.as_bytes()).ok())
        .collect();
    let length = reply.body.len();
    let sent = if reply.cut {
        reply.body[..length / 2].to_vec()
    } else {
        reply.body
    };
    let response = tiny_http::Response::new(
        tiny_http::StatusCode(reply.status),
        headers,
        std::io::Cursor::new(sent),
        Some(length),
        None,
    );
    let _ = request.respond(response);
}

impl State {
    fn handle(
        &mut self,
        method: &str,
        url: &str,
        authorization: Option<&str>,
        if_none_match: Option<&str>,
        body: &[u8],
    ) -> Reply {
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let query = parse_query(query);
        if let Some(token) = &self.token {
            let given = authorization.and_then(|a| {
                a.strip_prefix("Bearer ")
                    .or_else(|| a.strip_prefix("token "))
            });
            if given != Some(token.as_str()) {
                return Reply::error(401, "Bad credentials");
            }
        }
        let page: u32 = query.get("page").and_then(|p| p.parse().ok()).unwrap_or(1);
        let fault = self
            .faults
            .iter_mut()
            .find(|f| f.matches(method, path, page))
            .map(|f| {
                if let Some(n) = &mut f.remaining {
                    *n -= 1;
                }
                f.kind.clone()
            });
        match fault {
            None => self.route(method, path, &query, if_none_match, body),
            Some(FaultKind::Status(status)) => Reply::error(status, fault_message(status)),
            Some(FaultKind::PrimaryRateLimit { reset_in }) => {
                let mut reply = Reply::error(403, "API rate limit exceeded for user ID 1.");
                reply
                    .headers
                    .push(("x-ratelimit-remaining".into(), "0".into()));
                reply.headers.push((
                    "x-ratelimit-reset".into(),
                    (epoch_seconds() + reset_in).to_string(),
                ));
                reply
            }
            Some(FaultKind::SecondaryRateLimit {
                status,
                retry_after,
            }) => {
                let mut reply = Reply::error(
                    status,
                    "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.",
                );
                if let Some(seconds) = retry_after {
                    reply
                        .headers
                        .push(("retry-after".into(), seconds.to_string()));
                }
                reply
            }
            Some(FaultKind::TruncatedJson) => {
                let mut reply = self.route(method, path, &query, if_none_match, body);
                let half = reply.body.len() / 2;
                reply.body.truncate(half);
                reply.headers.retain(|(n, _)| n != "etag");
                reply
            }
            Some(FaultKind::Delay(delay)) => {
                let mut reply = self.route(method, path, &query, if_none_match, body);
                reply.delay = Some(delay);
                reply
            }
            Some(FaultKind::CutMidBody) => {
                let mut reply = self.route(method, path, &query, if_none_match, body);
                reply.cut = true;
                reply
            }
            Some(FaultKind::ShortPage(n)) => {
                let mut reply = self.route(method, path, &query, None, body);
                if let Ok(Value::Array(mut items)) = serde_json::from_slice::<Value>(&reply.body) {
                    let keep = items.len().saturating_sub(n);
                    items.truncate(keep);
                    reply.body = serde_json::to_vec(&items).unwrap_or_default();
                    reply.headers.retain(|(n, _)| n != "etag");
                    let etag = etag_of(&reply.body);
                    reply.headers.push(("etag".into(), etag));
                }
                reply
            }
            Some(FaultKind::AfterWrite(status)) => {
                let _done = self.route(method, path, &query, if_none_match, body);
                Reply::error(status, fault_message(status))
            }
        }
    }

    fn route(
        &mut self,
        method: &str,
        path: &str,
        query: &BTreeMap<String, String>,
        if_none_match: Option<&str>,
        body: &[u8],
    ) -> Reply {
        if path == "/graphql" {
            return match method {
                "POST" => self.graphql(body),
                _ => Reply::error(404, "Not Found"),
            };
        }
        let prefix = format!("/repos/{}/{}/issues", self.owner, self.repo);
        let Some(rest) = path.strip_prefix(&prefix) else {
            return Reply::error(404, "Not Found");
        };
        let parts: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        let body: Value = if body.is_empty() {
            Value::Null
        } else {
            match serde_json::from_slice(body) {
                Ok(v) => v,
                Err(_) => return Reply::error(400, "Problems parsing JSON"),
            }
        };
        let reply = match (method, parts.as_slice()) {
            ("GET", []) => self.list_issues(path, query),
            ("POST", []) => self.create_issue(&body),
            ("PATCH", [n]) => match n.parse() {
                Ok(n) => self.update_issue(n, &body),
                Err(_) => Reply::error(404, "Not Found"),
            },
            ("GET", [n, "comments"]) => match n.parse() {
                Ok(n) => self.list_comments(path, n, query),
                Err(_) => Reply::error(404, "Not Found"),
            },
            ("POST", [n, "comments"]) => match n.parse() {
                Ok(n) => self.create_comment(n, &body),
                Err(_) => Reply::error(404, "Not Found"),
            },
            _ => Reply::error(404, "Not Found"),
        };
        if method == "GET" && reply.status == 200 {
            let etag = etag_of(&reply.body);
            if if_none_match == Some(etag.as_str()) {
                let mut not_modified = Reply {
                    status: 304,
                    headers: Vec::new(),
                    body: Vec::new(),
                    delay: None,
                    cut: false,
                };
                not_modified.headers.push(("etag".into(), etag));
                return not_modified;
            }
            let mut reply = reply;
            reply.headers.push(("etag".into(), etag));
            return reply;
        }
        reply
    }

    fn issue_json(&self, issue: &StoredIssue) -> Value {
        let api = format!(
            "{}/repos/{}/{}/issues/{}",
            self.base, self.owner, self.repo, issue.number
        );
        let html = format!(
            "https://github.com/{}/{}/issues/{}",
            self.owner, self.repo, issue.number
        );
        let mut value = json!({
            "id": 1_000_000 + issue.number,
            "node_id": node_id(issue.number),
            "url": api,
            "repository_url": format!("{}/repos/{}/{}", self.base, self.owner, self.repo),
            "comments_url": format!("{api}/comments"),
            "html_url": html,
            "number": issue.number,
            "state": if issue.open { "open" } else { "closed" },
            "state_reason": issue.state_reason,
            "title": issue.title,
            "body": issue.body,
            "user": {"login": "flakewatch-bot", "id": 1, "type": "User"},
            "labels": issue.labels.iter().enumerate().map(|(i, name)| json!({
                "id": 100 + i, "node_id": format!("LA_{i}"), "name": name,
                "color": "ededed", "default": false, "description": null,
            })).collect::<Vec<_>>(),
            "locked": false,
            "comments": self.comments.iter().filter(|c| c.issue == issue.number).count(),
            "created_at": issue.created_at,
            "updated_at": issue.updated_at,
            "closed_at": issue.closed_at,
            "author_association": "OWNER",
        });
        if issue.pull_request {
            value["pull_request"] = json!({
                "url": format!("{}/repos/{}/{}/pulls/{}", self.base, self.owner, self.repo, issue.number),
                "html_url": format!("https://github.com/{}/{}/pull/{}", self.owner, self.repo, issue.number),
                "merged_at": null,
            });
        }
        value
    }

    fn list_issues(&self, path: &str, query: &BTreeMap<String, String>) -> Reply {
        let state = query.get("state").map(String::as_str).unwrap_or("open");
        let labels: Vec<&str> = query
            .get("labels")
            .map(|l| l.split(',').filter(|s| !s.is_empty()).collect())
            .unwrap_or_default();
        let ascending = query.get("direction").map(String::as_str) == Some("asc");
        let mut selected: Vec<&StoredIssue> = self
            .issues
            .values()
            .filter(|i| match state {
                "all" => true,
                "closed" => !i.open,
                _ => i.open,
            })
            .filter(|i| labels.iter().all(|l| i.labels.iter().any(|m| m == l)))
            .collect();
        if !ascending {
            selected.reverse();
        }
        let items: Vec<Value> = selected.iter().map(|i| self.issue_json(i)).collect();
        self.paged(path, query, items)
    }

    /// One page of `items` with GitHub's `Link` header.
    fn paged(&self, path: &str, query: &BTreeMap<String, String>, items: Vec<Value>) -> Reply {
        let per_page: usize = query
            .get("per_page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(30)
            .clamp(1, 100);
        let page: usize = query
            .get("page")
            .and_then(|p| p.parse().ok())
            .unwrap_or(1)
            .max(1);
        let last = items.len().div_ceil(per_page).max(1);
        let page_items: Vec<Value> = items
            .into_iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .collect();
        let link_to = |n: usize| {
            let mut q = query.clone();
            q.insert("page".into(), n.to_string());
            let q: Vec<String> = q.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("<{}{}?{}>", self.base, path, q.join("&"))
        };
        let mut links = Vec::new();
        if page < last {
            links.push(format!("{}; rel=\"next\"", link_to(page + 1)));
            links.push(format!("{}; rel=\"last\"", link_to(last)));
        }
        if page > 1 {
            links.push(format!("{}; rel=\"first\"", link_to(1)));
            links.push(format!("{}; rel=\"prev\"", link_to(page - 1)));
        }
        let mut reply = Reply::json(200, &Value::Array(page_items));
        if !links.is_empty() {
            reply.headers.push(("link".into(), links.join(", ")));
        }
        reply
    }

    fn create_issue(&mut self, body: &Value) -> Reply {
        let Some(title) = body.get("title").and_then(Value::as_str) else {
            return Reply::json(
                422,
                &json!({"message": "Validation Failed", "errors": [{"resource": "Issue", "code": "missing_field", "field": "title"}], "documentation_url": "https://docs.github.com/rest/issues/issues#create-an-issue", "status": "422"}),
            );
        };
        let number = self.issues.keys().next_back().copied().unwrap_or(0) + 1;
        let now = now_rfc3339();
        let labels = body
            .get("labels")
            .and_then(Value::as_array)
            .map(|l| {
                l.iter()
                    .filter_map(|v| {
                        v.as_str()
                            .or_else(|| v.get("name").and_then(Value::as_str))
                            .map(str::to_owned)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let issue = StoredIssue {
            number,
            title: title.to_owned(),
            body: body
                .get("body")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_owned(),
            open: true,
            state_reason: None,
            closed_at: None,
            created_at: now.clone(),
            updated_at: now,
            last_edited_at: None,
            labels,
            pull_request: false,
        };
        let value = self.issue_json(&issue);
        self.issues.insert(number, issue);
        Reply::json(201, &value)
    }

    fn update_issue(&mut self, number: u64, body: &Value) -> Reply {
        let now = now_rfc3339();
        let Some(issue) = self.issues.get_mut(&number) else {
            return Reply::error(404, "Not Found");
        };
        match body.get("state").and_then(Value::as_str) {
            Some("open") => {
                issue.open = true;
                issue.closed_at = None;
                issue.state_reason = Some("reopened".into());
            }
            Some("closed") => {
                if issue.open {
                    issue.closed_at = Some(now.clone());
                }
                issue.open = false;
                issue.state_reason = Some(
                    body.get("state_reason")
                        .and_then(Value::as_str)
                        .unwrap_or("completed")
                        .to_owned(),
                );
            }
            Some(_) => {
                return Reply::json(
                    422,
                    &json!({"message": "Validation Failed", "errors": [{"resource": "Issue", "code": "invalid", "field": "state"}], "status": "422"}),
                );
            }
            None => {}
        }
        if let Some(title) = body.get("title").and_then(Value::as_str) {
            issue.title = title.to_owned();
        }
        if let Some(text) = body.get("body").and_then(Value::as_str) {
            issue.body = text.to_owned();
            issue.last_edited_at = Some(now.clone());
        }
        issue.updated_at = now;
        let issue = &self.issues[&number];
        Reply::json(200, &self.issue_json(issue))
    }

    fn comment_json(&self, comment: &StoredComment) -> Value {
        let issue = format!(
            "{}/repos/{}/{}/issues/{}",
            self.base, self.owner, self.repo, comment.issue
        );
        json!({
            "id": comment.id,
            "node_id": format!("IC_{}", comment.id),
            "url": format!("{}/repos/{}/{}/issues/comments/{}", self.base, self.owner, self.repo, comment.id),
            "html_url": format!("https://github.com/{}/{}/issues/{}#issuecomment-{}", self.owner, self.repo, comment.issue, comment.id),
            "issue_url": issue,
            "body": comment.body,
            "user": {"login": "flakewatch-bot", "id": 1, "type": "User"},
            "created_at": comment.created_at,
            "updated_at": comment.created_at,
            "author_association": "OWNER",
        })
    }

    fn list_comments(&self, path: &str, issue: u64, query: &BTreeMap<String, String>) -> Reply {
        if !self.issues.contains_key(&issue) {
            return Reply::error(404, "Not Found");
        }
        let items = self
            .comments
            .iter()
            .filter(|c| c.issue == issue)
            .map(|c| self.comment_json(c))
            .collect();
        self.paged(path, query, items)
    }

    fn create_comment(&mut self, issue: u64, body: &Value) -> Reply {
        let Some(text) = body.get("body").and_then(Value::as_str) else {
            return Reply::json(
                422,
                &json!({"message": "Validation Failed", "errors": [{"resource": "IssueComment", "code": "missing_field", "field": "body"}], "status": "422"}),
            );
        };
        let now = now_rfc3339();
        let Some(stored) = self.issues.get_mut(&issue) else {
            return Reply::error(404, "Not Found");
        };
        stored.updated_at = now.clone();
        let comment = StoredComment {
            id: self.comments.len() as u64 + 1,
            issue,
            body: text.to_owned(),
            created_at: now,
        };
        let value = self.comment_json(&comment);
        self.comments.push(comment);
        Reply::json(201, &value)
    }

    fn graphql(&mut self, body: &[u8]) -> Reply {
        let Ok(request) = serde_json::from_slice::<Value>(body) else {
            return Reply::error(400, "Problems parsing JSON");
        };
        let query = request["query"].as_str().unwrap_or("");
        let vars = &request["variables"];
        if query.contains("addProjectV2ItemById") {
            let project = vars["projectId"].as_str().unwrap_or("");
            let content = vars["contentId"].as_str().unwrap_or("");
            let project = project
                .strip_prefix("PVT_")
                .and_then(|n| n.parse::<u64>().ok());
            let issue = issue_of_node(content);
            return match (project, issue) {
                (Some(p), Some(i))
                    if self.projects.contains_key(&p) && self.issues.contains_key(&i) =>
                {
                    let items = self.projects.entry(p).or_default();
                    if !items.contains(&i) {
                        items.push(i);
                    }
                    Reply::json(
                        200,
                        &json!({"data": {"addProjectV2ItemById": {"item": {"id": format!("PVTI_{p}_{i}")}}}}),
                    )
                }
                _ => Reply::json(
                    200,
                    &json!({"data": {"addProjectV2ItemById": null}, "errors": [{"type": "NOT_FOUND", "message": "Could not resolve to a node with the global id."}]}),
                ),
            };
        }
        if query.contains("nodes(ids:") {
            let nodes: Vec<Value> = vars["ids"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|id| {
                    let id = id.as_str().unwrap_or("");
                    match issue_of_node(id).and_then(|n| self.issues.get(&n)) {
                        Some(issue) => json!({"__typename": "Issue", "id": id, "number": issue.number, "lastEditedAt": issue.last_edited_at}),
                        None => Value::Null,
                    }
                })
                .collect();
            return Reply::json(200, &json!({"data": {"nodes": nodes}}));
        }
        if query.contains("projectV2(number:") {
            return self.project_items(vars);
        }
        Reply::json(
            200,
            &json!({"errors": [{"message": "this test server does not know the query"}]}),
        )
    }

    fn project_items(&self, vars: &Value) -> Reply {
        let owner = vars["owner"].as_str().unwrap_or("");
        let number = vars["number"].as_u64().unwrap_or(0);
        let (Some(items), true) = (self.projects.get(&number), owner == self.owner) else {
            return Reply::json(
                200,
                &json!({"data": {"organization": {"projectV2": null}}, "errors": [{"type": "NOT_FOUND", "path": ["organization", "projectV2"], "message": format!("Could not resolve to a ProjectV2 with the number {number}.")}]}),
            );
        };
        let first = vars["first"].as_u64().unwrap_or(100).clamp(1, 100) as usize;
        let start = vars["after"]
            .as_str()
            .and_then(|c| c.strip_prefix("cursor:"))
            .and_then(|c| c.parse::<usize>().ok())
            .unwrap_or(0);
        let nodes: Vec<Value> = items
            .iter()
            .skip(start)
            .take(first)
            .map(|n| match self.issues.get(n) {
                Some(issue) => json!({"content": {
                    "__typename": if issue.pull_request { "PullRequest" } else { "Issue" },
                    "id": node_id(issue.number),
                    "number": issue.number,
                    "title": issue.title,
                    "state": if issue.open { "OPEN" } else { "CLOSED" },
                    "closedAt": issue.closed_at,
                    "body": issue.body,
                    "createdAt": issue.created_at,
                    "lastEditedAt": issue.last_edited_at,
                    "repository": {"nameWithOwner": format!("{}/{}", self.owner, self.repo)},
                    "labels": {"nodes": issue.labels.iter().map(|l| json!({"name": l})).collect::<Vec<_>>()},
                }}),
                None => json!({"content": null}),
            })
            .collect();
        let end = start + nodes.len();
        Reply::json(
            200,
            &json!({"data": {"organization": {"projectV2": {
                "id": format!("PVT_{number}"),
                "items": {
                    "totalCount": items.len(),
                    "pageInfo": {"hasNextPage": end < items.len(), "endCursor": format!("cursor:{end}")},
                    "nodes": nodes,
                }
            }}}}),
        )
    }
}

fn node_id(number: u64) -> String {
    format!("I_kwTest{number}")
}

fn issue_of_node(id: &str) -> Option<u64> {
    id.strip_prefix("I_kwTest")?.parse().ok()
}

fn fault_message(status: u16) -> &'static str {
    match status {
        401 => "Bad credentials",
        403 => "Resource not accessible by personal access token",
        404 => "Not Found",
        410 => "Gone",
        422 => "Validation Failed",
        500 => "Internal Server Error",
        502 => "Server Error",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

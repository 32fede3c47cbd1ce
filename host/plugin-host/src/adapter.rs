//! A plugin instance as a backend: pages through listings, checks for partial listings,
//! and turns the wire documents of `flakewatch-plugin-sdk` into the host's types (parsed
//! times, build IDs, statuses).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use flakewatch_plugin_sdk::model::{
    self as wire, AddCommentRequest, BeginCycleRequest, BuildPage, Capability, CloseIssueRequest,
    CommentPage, CommentsRequest, Config, CreateIssueRequest, CreatedIssue, EndCycleRequest,
    IssuePage, IssueState, ListBuildsRequest, ListIssuesRequest, ReopenIssueRequest,
};

use super::{
    CallFailure, HostError, InstanceOperation as Operation, PluginInstance, PluginLibrary,
};
use flakewatch_core::time::Timestamp;
use flakewatch_triage::backend::{
    BackendError, BuildSet, BuildSink, CycleLock, FailureSource, Issue, IssueComment, IssueTracker,
};
use flakewatch_triage::dashboard::{BuildResult, BuildStatus, Builder};
use flakewatch_triage::failure::{Failure, TestStatus};

/// Most pages a listing may have before the host decides the plugin is looping.
const MAX_PAGES: usize = 100_000;

/// A plugin instance used as an issue tracker and/or failure source.
#[derive(Debug)]
pub struct PluginBackend {
    instance: PluginInstance,
    name: String,
}

impl PluginBackend {
    /// Creates an instance of `library` with `config`.
    pub fn new(library: &Arc<PluginLibrary>, config: &Config) -> Result<PluginBackend, HostError> {
        let instance = library.instantiate(config)?;
        Ok(PluginBackend {
            name: library.info().name.clone(),
            instance,
        })
    }

    /// Fails unless the plugin declares `capability`.
    pub fn require(&self, capability: Capability) -> Result<(), HostError> {
        let library = self.instance.library();
        let info = library.info();
        if info.capabilities.contains(&capability) {
            return Ok(());
        }
        Err(super::missing_capability(library, capability))
    }

    fn invalid(&self, message: impl Into<String>) -> BackendError {
        BackendError::InvalidData {
            backend: self.name.clone(),
            message: message.into(),
        }
    }

    /// Follows `next_cursor` until the last page.
    fn pages<P>(
        &self,
        mut fetch: impl FnMut(Option<String>) -> Result<P, BackendError>,
        next: impl Fn(&P) -> Option<String>,
    ) -> Result<Vec<P>, BackendError> {
        let mut pages = Vec::new();
        let mut seen = BTreeSet::new();
        let mut cursor = None;
        loop {
            let page = fetch(cursor)?;
            cursor = next(&page);
            pages.push(page);
            match &cursor {
                None => return Ok(pages),
                Some(c) if !seen.insert(c.clone()) || pages.len() >= MAX_PAGES => {
                    return Err(self.invalid(format!("the listing does not end (cursor {c:?})")));
                }
                Some(_) => {}
            }
        }
    }
}

/// Parses an optional RFC 3339 time.
fn time(text: Option<&str>, what: &str) -> Result<Option<Timestamp>, String> {
    match text {
        None | Some("") => Ok(None),
        Some(text) => Timestamp::parse_rfc3339(text)
            .map(Some)
            .map_err(|e| format!("{what}: {e}")),
    }
}

/// Converts a wire issue.
pub fn issue_from_wire(issue: wire::Issue) -> Result<Issue, String> {
    if issue.number == 0 {
        return Err(format!("issue {:?} has number 0", issue.title));
    }
    let what = |field: &str| format!("issue #{} {field}", issue.number);
    Ok(Issue {
        number: issue.number,
        closed: issue.state == IssueState::Closed,
        closed_at: time(issue.closed_at.as_deref(), &what("closed_at"))?,
        body_edited_at: time(issue.body_edited_at.as_deref(), &what("body_edited_at"))?,
        title: issue.title,
        body: issue.body,
    })
}

/// The build ID of a LUCI build URL, `https://ci.chromium.org/b/ID` (or the older
/// `https://ci.chromium.org/ui/b/ID`). Other URLs are refused: de-duplication finds build
/// URLs of exactly this form in comments.
pub fn build_id(url: &str) -> Result<i64, String> {
    let id = url
        .strip_prefix("https://ci.chromium.org/b/")
        .or_else(|| url.strip_prefix("https://ci.chromium.org/ui/b/"))
        .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()));
    id.and_then(|id| id.parse().ok()).ok_or_else(|| {
        format!(
            "build URL {url:?} is not https://ci.chromium.org/b/ID, the form de-duplication \
             reads back from comments"
        )
    })
}

/// A Buildbucket status name.
pub fn build_status(name: &str) -> Option<BuildStatus> {
    Some(match name {
        "STATUS_UNSPECIFIED" => BuildStatus::Unspecified,
        "SCHEDULED" => BuildStatus::Scheduled,
        "STARTED" => BuildStatus::Started,
        "SUCCESS" => BuildStatus::Success,
        "FAILURE" => BuildStatus::Failure,
        "INFRA_FAILURE" => BuildStatus::InfraFailure,
        "CANCELED" => BuildStatus::Canceled,
        _ => return None,
    })
}

/// Converts a wire builder.
pub fn builder_from_wire(builder: wire::Builder) -> Builder {
    Builder {
        name: builder.name,
        repo: builder.repo,
        go_branch: if builder.go_branch.is_empty() {
            "master".to_owned()
        } else {
            builder.go_branch
        },
        goos: builder.goos,
        goarch: builder.goarch,
    }
}

/// Converts a wire build, taking the builder's configuration from `builders`.
pub fn build_from_wire(
    builders: &BTreeMap<String, Builder>,
    build: wire::Build,
) -> Result<BuildResult, String> {
    let id = build_id(&build.url)?;
    let builder = builders.get(&build.builder).ok_or_else(|| {
        format!(
            "build {} names unknown builder {:?}",
            build.url, build.builder
        )
    })?;
    let status = build_status(&build.status)
        .ok_or_else(|| format!("build {}: unknown status {:?}", build.url, build.status))?;
    let commit_time = time(
        Some(&build.commit_time),
        &format!("build {} commit_time", build.url),
    )?
    .ok_or_else(|| format!("build {}: missing commit_time", build.url))?;
    let build_time = time(
        build.build_time.as_deref(),
        &format!("build {} build_time", build.url),
    )?
    .unwrap_or(commit_time);
    let mut failures = build
        .failures
        .into_iter()
        .map(|f| {
            let status = TestStatus::from_name(&f.status).ok_or_else(|| {
                format!(
                    "build {}: test {}: unknown status {:?}",
                    build.url, f.test_id, f.status
                )
            })?;
            Ok(Failure {
                test_id: f.test_id,
                status,
                log_text: f.output,
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    failures.sort_by(|a, b| a.test_id.cmp(&b.test_id));
    let mut result = BuildResult::for_builder(builder, id, status);
    result.commit = build.commit;
    result.go_commit = build.go_commit;
    result.time = commit_time;
    result.build_time = build_time;
    result.log_text = Arc::from(build.log);
    result.step_log_text = build.step_log;
    result.failures = failures;
    Ok(result)
}

impl IssueTracker for PluginBackend {
    fn name(&self) -> &str {
        &self.name
    }

    fn list_issues(&self) -> Result<Vec<Issue>, BackendError> {
        let pages = self.pages(
            |cursor| {
                Ok(self
                    .instance
                    .call::<_, IssuePage>(Operation::ListIssues, &ListIssuesRequest { cursor })?)
            },
            |page| page.next_cursor.clone(),
        )?;
        let total = pages.iter().rev().find_map(|p| p.total_count);
        let mut issues = Vec::new();
        let mut numbers = BTreeSet::new();
        for issue in pages.into_iter().flat_map(|p| p.issues) {
            let issue = issue_from_wire(issue).map_err(|e| self.invalid(e))?;
            if !numbers.insert(issue.number) {
                return Err(self.invalid(format!("issue #{} listed twice", issue.number)));
            }
            issues.push(issue);
        }
        if let Some(total) = total
            && total != issues.len() as u64
        {
            return Err(BackendError::PartialListing {
                backend: self.name.clone(),
                received: issues.len(),
                total,
            });
        }
        Ok(issues)
    }

    fn comments(&self, issue: u64) -> Result<Vec<IssueComment>, BackendError> {
        let pages = self.pages(
            |cursor| {
                Ok(self.instance.call::<_, CommentPage>(
                    Operation::IssueComments,
                    &CommentsRequest { issue, cursor },
                )?)
            },
            |page| page.next_cursor.clone(),
        )?;
        pages
            .into_iter()
            .flat_map(|p| p.comments)
            .map(|c| {
                let created_at = Timestamp::parse_rfc3339(&c.created_at)
                    .map_err(|e| self.invalid(format!("comment on #{issue}: {e}")))?;
                Ok(IssueComment {
                    created_at,
                    body: c.body,
                })
            })
            .collect()
    }

    fn create_issue(
        &self,
        title: &str,
        body: &str,
        labels: &[String],
    ) -> Result<u64, BackendError> {
        let created: CreatedIssue = self.instance.call(
            Operation::CreateIssue,
            &CreateIssueRequest {
                title: title.to_owned(),
                body: body.to_owned(),
                labels: labels.to_vec(),
            },
        )?;
        if created.number == 0 {
            return Err(self.invalid("create_issue returned issue number 0"));
        }
        Ok(created.number)
    }

    fn add_comment(&self, issue: u64, body: &str) -> Result<(), BackendError> {
        let () = self.instance.call(
            Operation::AddComment,
            &AddCommentRequest {
                issue,
                body: body.to_owned(),
            },
        )?;
        Ok(())
    }

    fn reopen_issue(&self, issue: u64) -> Result<(), BackendError> {
        let () = self
            .instance
            .call(Operation::ReopenIssue, &ReopenIssueRequest { issue })?;
        Ok(())
    }

    fn begin_cycle(&self, wait: std::time::Duration) -> Result<CycleLock, BackendError> {
        if !self.instance.library().has_entry(Operation::BeginCycle) {
            return Ok(CycleLock::Unsupported);
        }
        let request = BeginCycleRequest {
            wait_seconds: wait.as_secs(),
        };
        match self
            .instance
            .call::<_, wire::CycleLock>(Operation::BeginCycle, &request)
        {
            Ok(lock) if lock.acquired => Ok(CycleLock::Acquired),
            Ok(lock) => Ok(CycleLock::Held(lock.holder)),
            Err(HostError::Call {
                failure: CallFailure::Unsupported,
                ..
            }) => Ok(CycleLock::Unsupported),
            Err(err) => Err(err.into()),
        }
    }

    fn end_cycle(&self) -> Result<(), BackendError> {
        if !self.instance.library().has_entry(Operation::EndCycle) {
            return Ok(());
        }
        match self
            .instance
            .call::<_, ()>(Operation::EndCycle, &EndCycleRequest {})
        {
            Ok(())
            | Err(HostError::Call {
                failure: CallFailure::Unsupported,
                ..
            }) => Ok(()),
            Err(err) => Err(err.into()),
        }
    }

    fn close_issue(&self, issue: u64, at: Timestamp) -> Result<(), BackendError> {
        let () = self.instance.call(
            Operation::CloseIssue,
            &CloseIssueRequest {
                issue,
                closed_at: at.format_rfc3339(),
            },
        )?;
        Ok(())
    }
}

impl FailureSource for PluginBackend {
    fn name(&self) -> &str {
        &self.name
    }

    fn builds(&self, since: Timestamp) -> Result<BuildSet, BackendError> {
        let mut set = BuildSet::default();
        self.each_build(since, &mut set)?;
        // Each builder came once (its first configuration); listed by name.
        set.builders.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(set)
    }

    /// Converts and hands over one page of builds at a time: never more than a page of the
    /// plugin's answer in memory. A build naming a builder no page has declared yet waits
    /// (with every build after it, so the order stays the plugin's) until the listing ends.
    fn each_build(&self, since: Timestamp, sink: &mut dyn BuildSink) -> Result<(), BackendError> {
        let mut builders: BTreeMap<String, Builder> = BTreeMap::new();
        let mut waiting: Vec<wire::Build> = Vec::new();
        let mut seen = BTreeSet::new();
        let mut cursor = None;
        for pages in 1.. {
            let page: BuildPage = self.instance.call(
                Operation::ListBuilds,
                &ListBuildsRequest {
                    since: since.format_rfc3339(),
                    cursor,
                },
            )?;
            for builder in page.builders {
                let builder = builder_from_wire(builder);
                if !builders.contains_key(&builder.name) {
                    builders.insert(builder.name.clone(), builder.clone());
                    sink.builder(builder);
                }
            }
            for build in page.builds {
                if waiting.is_empty() && builders.contains_key(&build.builder) {
                    sink.build(build_from_wire(&builders, build).map_err(|e| self.invalid(e))?);
                } else {
                    waiting.push(build);
                }
            }
            match page.next_cursor {
                None => break,
                Some(c) if !seen.insert(c.clone()) || pages >= MAX_PAGES => {
                    return Err(self.invalid(format!("the listing does not end (cursor {c:?})")));
                }
                Some(c) => cursor = Some(c),
            }
        }
        for build in waiting {
            sink.build(build_from_wire(&builders, build).map_err(|e| self.invalid(e))?);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_urls() {
        assert_eq!(
            build_id("https://ci.chromium.org/b/8790000000000000001"),
            Ok(8_790_000_000_000_000_001)
        );
        assert_eq!(build_id("https://ci.chromium.org/ui/b/12"), Ok(12));
        assert!(build_id("https://ci.chromium.org/b/").is_err());
        assert!(build_id("https://ci.chromium.org/b/12x").is_err());
        assert!(build_id("https://example.com/b/12").is_err());
        assert!(build_id("https://ci.chromium.org/b/99999999999999999999").is_err());
    }

    #[test]
    fn wire_builds_convert() {
        let builders = BTreeMap::from([(
            "b".to_owned(),
            builder_from_wire(wire::Builder {
                name: "b".into(),
                repo: "go".into(),
                go_branch: String::new(),
                goos: "linux".into(),
                goarch: "arm64".into(),
            }),
        )]);
        let build = build_from_wire(
            &builders,
            wire::Build {
                url: "https://ci.chromium.org/b/5".into(),
                builder: "b".into(),
                commit: "c".into(),
                commit_time: "2025-09-01T10:00:00+02:00".into(),
                status: "FAILURE".into(),
                failures: vec![
                    wire::TestFailure {
                        test_id: "z.TestZ".into(),
                        status: "CRASH".into(),
                        output: String::new(),
                    },
                    wire::TestFailure {
                        test_id: "a.TestA".into(),
                        status: "FAIL".into(),
                        output: "o".into(),
                    },
                ],
                ..wire::Build::default()
            },
        )
        .expect("valid");
        assert_eq!(build.id, 5);
        assert_eq!(build.go_branch, "master");
        assert_eq!(build.goarch, "arm64");
        assert_eq!(build.time.format_rfc3339(), "2025-09-01T08:00:00Z");
        assert_eq!(build.build_time, build.time);
        assert_eq!(build.failures[0].test_id, "a.TestA");
        assert_eq!(build.failures[1].status, TestStatus::Crash);

        let unknown = build_from_wire(
            &builders,
            wire::Build {
                url: "https://ci.chromium.org/b/6".into(),
                builder: "nope".into(),
                ..wire::Build::default()
            },
        );
        assert_eq!(
            unknown.unwrap_err(),
            "build https://ci.chromium.org/b/6 names unknown builder \"nope\""
        );
    }

    #[test]
    fn wire_issues_convert() {
        let issue = issue_from_wire(wire::Issue {
            number: 3,
            state: IssueState::Closed,
            closed_at: Some("2025-09-01T00:00:00Z".into()),
            body_edited_at: Some(String::new()),
            ..wire::Issue::default()
        })
        .expect("valid");
        assert!(issue.closed);
        assert!(issue.closed_at.is_some());
        assert_eq!(issue.body_edited_at, None);
        let bad = issue_from_wire(wire::Issue {
            number: 4,
            closed_at: Some("yesterday".into()),
            ..wire::Issue::default()
        });
        assert!(
            bad.unwrap_err()
                .starts_with("issue #4 closed_at: invalid RFC 3339")
        );
    }
}

//! The machine-readable documents the command line prints, as typed, versioned structs: the
//! one place their shapes are defined (`docs/triage.md` and `docs/cli.md` describe them).
//!
//! Fields are declared in alphabetical order, the order in which they are written, so that a
//! document's bytes do not depend on how it was built. A field is only ever added; a changed
//! or removed field bumps the schema's version (`flakewatch.triage/2`).

use flakewatch_triage::post::FailurePost;
use flakewatch_triage::run::{ApplyReport, Decision, IssueRef, TriageOptions, TriagePlan};
use flakewatch_triage::text::{sign_comment, sign_issue_body};
use serde::Serialize;

/// The schema name and version of [`TriageDocument`].
pub(crate) const TRIAGE_SCHEMA: &str = "flakewatch.triage/1";

/// `triage --json`: the plan and, with `--apply`, what was done.
#[derive(Debug, Serialize)]
pub(crate) struct TriageDocument {
    engine: &'static str,
    failures: Vec<FailureEntry>,
    filtered: Vec<FilteredEntry>,
    guard_rail: GuardRail,
    mode: &'static str,
    over_limits: Vec<OverLimit>,
    result: Option<ApplyResult>,
    schema: &'static str,
    script_errors: Vec<ScriptError>,
    since: String,
    stats: Stats,
    updates: Vec<Update>,
}

/// An issue reference: `{"issue": N}` or `{"new_issue": K}` (1-based creation index).
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum Ref {
    Existing { issue: u64 },
    New { new_issue: usize },
}

impl From<IssueRef> for Ref {
    fn from(r: IssueRef) -> Ref {
        match r {
            IssueRef::Existing(issue) => Ref::Existing { issue },
            IssueRef::New(k) => Ref::New { new_issue: k + 1 },
        }
    }
}

/// One failure as the plan shows it.
#[derive(Debug, Serialize)]
struct Failure {
    builder: String,
    date: String,
    header: String,
    pkg: String,
    repo: String,
    status: String,
    test: String,
    test_id: String,
    top: bool,
    url: String,
}

impl From<&FailurePost> for Failure {
    fn from(p: &FailurePost) -> Failure {
        Failure {
            builder: p.builder.clone(),
            date: p.time.format_rfc3339(),
            header: p.header(),
            pkg: p.pkg.clone(),
            repo: p.repo.clone(),
            status: p.status.name(),
            test: p.test.clone(),
            test_id: p.test_id.clone(),
            top: p.top,
            url: p.url.clone(),
        }
    }
}

/// A failure examined and the decision about it.
#[derive(Debug, Serialize)]
struct FailureEntry {
    already_mentioned: Vec<u64>,
    builder: String,
    date: String,
    decision: &'static str,
    header: String,
    pkg: String,
    queued: Vec<Ref>,
    repo: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    skipped_by: Option<Ref>,
    status: String,
    test: String,
    test_id: String,
    top: bool,
    url: String,
}

/// A failed build the obvious-flake filter skipped.
#[derive(Debug, Serialize)]
struct FilteredEntry {
    builder: String,
    commit: String,
    rule: String,
    url: String,
}

#[derive(Debug, Serialize)]
struct GuardRail {
    new_issues: usize,
    threshold: usize,
    tripped: bool,
}

#[derive(Debug, Serialize)]
struct OverLimit {
    issue: u64,
    message: String,
}

#[derive(Debug, Serialize)]
struct ScriptError {
    comment: String,
    issue: u64,
    problem: &'static str,
    title: String,
}

#[derive(Debug, Serialize)]
struct Stats {
    builds_placed: usize,
    builds_superseded: usize,
    builds_too_old: usize,
    dashboards: usize,
    failed_builds: usize,
    failed_builds_before_filter: usize,
    failures: usize,
    issues: usize,
    skipped_by_filter: usize,
    usable_scripts: usize,
}

/// A comment to post, on an existing issue or a new one.
#[derive(Debug, Serialize)]
struct Update {
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<String>,
    closed: bool,
    comment: String,
    failures: Vec<Failure>,
    #[serde(skip_serializing_if = "Option::is_none")]
    issue: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    new_issue: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pattern: Option<String>,
    reopen: bool,
    title: String,
}

/// What `--apply` did.
#[derive(Debug, Serialize)]
struct ApplyResult {
    commented: Vec<u64>,
    created: Vec<Created>,
    error_comments: Vec<u64>,
    failures: Vec<WriteFailure>,
    reopened: Vec<u64>,
    stopped_by_guard_rail: bool,
}

#[derive(Debug, Serialize)]
struct Created {
    issue: u64,
    new_issue: usize,
}

#[derive(Debug, Serialize)]
struct WriteFailure {
    #[serde(skip_serializing_if = "Option::is_none")]
    issue: Option<u64>,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    new_issue: Option<usize>,
    operation: String,
}

/// The `issue`/`new_issue` pair of a reference, for documents that carry it inline.
fn ref_fields(r: IssueRef) -> (Option<u64>, Option<usize>) {
    match r {
        IssueRef::Existing(n) => (Some(n), None),
        IssueRef::New(k) => (None, Some(k + 1)),
    }
}

impl TriageDocument {
    /// The document of a plan and, after `--apply`, its report.
    pub(crate) fn new(
        plan: &TriagePlan,
        report: Option<&ApplyReport>,
        options: &TriageOptions,
        apply: bool,
    ) -> TriageDocument {
        let s = &plan.stats;
        TriageDocument {
            engine: options.engine.name(),
            failures: plan
                .outcomes
                .iter()
                .map(|o| {
                    let f = Failure::from(&o.post);
                    FailureEntry {
                        already_mentioned: o.already_mentioned.clone(),
                        builder: f.builder,
                        date: f.date,
                        decision: o.decision.name(),
                        header: f.header,
                        pkg: f.pkg,
                        queued: o.queued.iter().map(|r| Ref::from(*r)).collect(),
                        repo: f.repo,
                        skipped_by: match o.decision {
                            Decision::Skip(by) => Some(by.into()),
                            _ => None,
                        },
                        status: f.status,
                        test: f.test,
                        test_id: f.test_id,
                        top: f.top,
                        url: f.url,
                    }
                })
                .collect(),
            filtered: plan
                .filtered
                .iter()
                .map(|f| FilteredEntry {
                    builder: f.builder.clone(),
                    commit: f.commit.clone(),
                    rule: f.rule.clone(),
                    url: f.url.clone(),
                })
                .collect(),
            guard_rail: GuardRail {
                new_issues: plan.new_issues(),
                threshold: plan.max_new_issues,
                tripped: plan.guard_rail_tripped(),
            },
            mode: if apply { "apply" } else { "dry_run" },
            over_limits: plan
                .over_limits
                .iter()
                .map(|(issue, message)| OverLimit {
                    issue: *issue,
                    message: message.clone(),
                })
                .collect(),
            result: report.map(|r| ApplyResult {
                commented: r.commented.clone(),
                created: r
                    .created
                    .iter()
                    .map(|&(k, issue)| Created {
                        issue,
                        new_issue: k + 1,
                    })
                    .collect(),
                error_comments: r.error_comments.clone(),
                failures: r
                    .failures
                    .iter()
                    .map(|f| {
                        let (issue, new_issue) = ref_fields(f.target);
                        WriteFailure {
                            issue,
                            message: f.message.clone(),
                            new_issue,
                            operation: f.operation.to_string(),
                        }
                    })
                    .collect(),
                reopened: r.reopened.clone(),
                stopped_by_guard_rail: r.stopped_by_guard_rail,
            }),
            schema: TRIAGE_SCHEMA,
            script_errors: plan
                .script_errors
                .iter()
                .map(|e| ScriptError {
                    comment: sign_comment(&e.body),
                    issue: e.issue,
                    problem: e.problem.name(),
                    title: e.title.clone(),
                })
                .collect(),
            since: options.since.format_rfc3339(),
            stats: Stats {
                builds_placed: s.builds.placed,
                builds_superseded: s.builds.superseded,
                builds_too_old: s.builds.too_old,
                dashboards: s.dashboards,
                failed_builds: s.failed_builds,
                failed_builds_before_filter: s.failed_builds_before_filter,
                failures: s.failures,
                issues: s.issues,
                skipped_by_filter: s.skipped_by_filter,
                usable_scripts: s.usable_scripts,
            },
            updates: plan
                .updates
                .iter()
                .map(|u| {
                    let (issue, new_issue) = ref_fields(u.target);
                    Update {
                        body: u.new_issue.as_ref().map(|n| sign_issue_body(&n.body)),
                        closed: u.closed,
                        comment: sign_comment(&u.comment()),
                        failures: u.posts.iter().map(Failure::from).collect(),
                        issue,
                        new_issue,
                        pattern: u.new_issue.as_ref().map(|n| n.pattern.clone()),
                        reopen: u.reopen,
                        title: u.title.clone(),
                    }
                })
                .collect(),
        }
    }
}

/// `check --json`: one entry per diagnostic.
#[derive(Debug, Serialize)]
pub(crate) struct CheckFinding {
    /// Stable diagnostic code (`docs/diagnostics.md`).
    pub code: &'static str,
    /// 1-based column (Go's rune count).
    pub column: usize,
    /// 1-based line.
    pub line: usize,
    /// The message, as upstream words it.
    pub message: String,
    /// Byte offset of the diagnostic in the script.
    pub offset: usize,
    /// Upstream's one-line form, `script:LINE.COL: MSG`.
    pub text: String,
}

//! One triage cycle, as watchflakes runs it (docs/triage.md, "One cycle"): read the issues
//! and their scripts, complain once about broken scripts, read the failures, drop the obvious
//! non-flakes, assign every failure across the issues, prepare new issues, de-duplicate
//! against the build URLs signed comments already mention, then post.
//!
//! [`plan`] computes everything and changes nothing; [`apply`] performs a plan. The tracker
//! is the only state: a crash at any point followed by another run posts every failure
//! exactly once (see `docs/triage.md`, "Idempotence and crash safety").

use std::collections::{BTreeMap, HashMap};
use std::fmt;

use flakewatch_dsl::{
    Assignment, AssignmentBuilder, Diagnostic, Extracted, Limits, find_script, parse_script_with,
};
use flakewatch_jit::JitError;

use super::dashboard::{BuildResult, BuildStatus, Cell, Dashboard, SkipEvent, build_order};
use super::mentions::{Comment, CommentScan, scan_comments};
use super::source::{Assembler, AssemblyStats};
use super::text::{
    BROKEN_BUILDER_MARKER, NO_SCRIPT_COMMENT, NewIssue, NewIssueError, failures_comment,
    parse_errors_comment, sign_comment, sign_issue_body,
};
use crate::backend::{BackendError, FailureSource, Issue, IssueTracker};
use crate::cache::SetCache;
use crate::cluster::{ClusterError, NewIssueMode, cluster};
use crate::engine::{Engine, EngineKind};
use crate::failure::{build_url, short_hash};
use crate::patterns::{CompiledIssues, IssueStatus};
use crate::post::{FailurePost, build_posts};
use crate::prepared::PreparedEngines;
use flakewatch_core::Timestamp;

/// Upstream's guard rail: with this many new issues pending, nothing is posted.
pub const DEFAULT_MAX_NEW_ISSUES: usize = 100;

/// The time window, in days.
pub const WINDOW_DAYS: i64 = 45;

/// The window never starts before this (2025-06-01T00:00:00Z; golang/go#73921).
pub const WINDOW_FLOOR_UNIX: i64 = 1_748_736_000;

/// A prepared issue's title gets this suffix when it is a consistent failure.
pub const CONSISTENT_SUFFIX: &str = " [consistent failure]";

/// The label new issues get when the tracker has it.
pub const NEW_ISSUE_LABEL: &str = "Automation";

/// The start of the time window for a cycle starting at `now`: 45 days back, but never
/// before 2025-06-01.
pub fn window_start(now: Timestamp) -> Timestamp {
    let start = now.unix_seconds().saturating_sub(WINDOW_DAYS * 86_400);
    Timestamp::from_unix(start.max(WINDOW_FLOOR_UNIX), 0).unwrap_or(now)
}

/// How a triage cycle runs.
#[derive(Clone, Debug)]
pub struct TriageOptions {
    /// The engine that evaluates the scripts.
    pub engine: EngineKind,
    /// Limits on what scripts may build.
    pub limits: Limits,
    /// The start of the time window (commit time).
    pub since: Timestamp,
    /// The guard rail: posting stops when this many new issues or more are pending.
    pub max_new_issues: usize,
    /// Labels for new issues.
    pub labels: Vec<String>,
    /// Triage only this build (`--build`): its failures as those of a one-entry dashboard,
    /// without the obvious-flake filter (upstream's `-build`).
    pub build: Option<i64>,
    /// How unclaimed failures become new issues (`--new-issues`).
    pub new_issues: NewIssueMode,
    /// Where compiled issue sets are cached (`--cache`); `None` compiles every time.
    pub cache: Option<SetCache>,
}

impl TriageOptions {
    /// Compiles the scripts of `(number, body)` issues with these options' engine and limits,
    /// through the cache when there is one.
    pub fn compile<'a>(
        &self,
        issues: impl IntoIterator<Item = (u64, &'a str)>,
    ) -> Result<CompiledIssues, JitError> {
        match &self.cache {
            Some(cache) => cache
                .compile(issues, self.engine, self.limits)
                .map(|(compiled, _)| compiled),
            None => CompiledIssues::compile(issues, self.engine, self.limits),
        }
    }

    /// Upstream's settings for a cycle starting at `now`.
    pub fn new(now: Timestamp) -> TriageOptions {
        TriageOptions {
            engine: EngineKind::default(),
            limits: Limits::DEFAULT,
            since: window_start(now),
            max_new_issues: DEFAULT_MAX_NEW_ISSUES,
            labels: vec![NEW_ISSUE_LABEL.to_owned()],
            build: None,
            new_issues: NewIssueMode::default(),
            cache: None,
        }
    }
}

/// A triage cycle that could not be planned or carried out.
#[derive(Debug, thiserror::Error)]
pub enum TriageError {
    /// The tracker or the failure source failed.
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The pattern set could not be compiled.
    #[error("compiling the issue scripts: {0}")]
    Engine(#[from] JitError),
    /// `--build` names a build the failure source does not have in the window.
    #[error("build {build} is not among the builds of the failure source since {since}")]
    BuildNotFound {
        /// The build ID.
        build: i64,
        /// The start of the window.
        since: Timestamp,
    },
    /// A generated issue body does not give back its script (a flakewatch bug; upstream
    /// aborts too).
    #[error("new issue for {url}: {source}")]
    NewIssue {
        /// The failure's build.
        url: String,
        /// What went wrong.
        source: NewIssueError,
    },
    /// The examined failures do not fit together (a sharded cycle's plan files).
    #[error("the failures to plan are inconsistent: {0}")]
    Examined(String),
    /// The unclaimed failures could not be clustered.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
}

/// An issue the plan refers to: an existing one by number, or the k-th new one (0-based,
/// in creation order).
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IssueRef {
    /// An existing issue.
    Existing(u64),
    /// A new issue, by creation order.
    New(usize),
}

impl fmt::Display for IssueRef {
    /// `#12`, or `new issue 1` (1-based, as people count).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IssueRef::Existing(number) => write!(f, "#{number}"),
            IssueRef::New(k) => write!(f, "new issue {}", k + 1),
        }
    }
}

/// Why an issue's script is unusable.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ScriptProblem {
    /// No `#!watchflakes` script at the start of the body.
    NoScript,
    /// The body is empty (upstream crashes; here it is treated as no script).
    EmptyBody,
    /// The script has parse errors.
    ParseErrors,
}

impl ScriptProblem {
    /// The name in machine output: `no_script`, `empty_body`, `parse_errors`.
    pub fn name(self) -> &'static str {
        match self {
            ScriptProblem::NoScript => "no_script",
            ScriptProblem::EmptyBody => "empty_body",
            ScriptProblem::ParseErrors => "parse_errors",
        }
    }
}

/// An error comment to post on an issue whose script is unusable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScriptErrorComment {
    /// The issue.
    pub issue: u64,
    /// Its title.
    pub title: String,
    /// What is wrong.
    pub problem: ScriptProblem,
    /// The comment, before the cap and signature.
    pub body: String,
}

/// What happened to one failure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// An issue's script said `skip`.
    Skip(IssueRef),
    /// Posted to every issue whose script said `post`.
    Post,
    /// Posted to the first issue whose script said `default`.
    Default,
    /// No script claimed it; a new issue was prepared for it.
    NewIssue,
    /// No script claimed it, but a new issue was already prepared for its build in this
    /// cycle; it waits for the next cycle.
    Deferred,
}

impl Decision {
    /// The name in machine output: `skip`, `post`, `default`, `new_issue`, `deferred`.
    pub fn name(&self) -> &'static str {
        match self {
            Decision::Skip(_) => "skip",
            Decision::Post => "post",
            Decision::Default => "default",
            Decision::NewIssue => "new_issue",
            Decision::Deferred => "deferred",
        }
    }
}

/// One failure and what the cycle does with it.
#[derive(Clone, Debug)]
pub struct FailureOutcome {
    /// The failure.
    pub post: FailurePost,
    /// The decision.
    pub decision: Decision,
    /// Issues it is queued on (to be posted).
    pub queued: Vec<IssueRef>,
    /// Issues it was assigned to that already mention its build URL.
    pub already_mentioned: Vec<u64>,
}

/// A comment to post on one issue: on an existing issue (reopened first if needed), or on
/// a new issue right after creating it.
#[derive(Clone, Debug)]
pub struct IssueUpdate {
    /// The issue.
    pub target: IssueRef,
    /// Its title (for a new issue, the title it is created with).
    pub title: String,
    /// For a new issue: its text (body before cap and signature).
    pub new_issue: Option<NewIssue>,
    /// Whether the issue is closed now.
    pub closed: bool,
    /// Whether it is reopened before posting: closed, and a queued failure's commit time is
    /// after the close.
    pub reopen: bool,
    /// The issue's script text, quoted in the comment.
    pub script_text: String,
    /// The failures of the comment, in queue order.
    pub posts: Vec<FailurePost>,
}

impl IssueUpdate {
    /// The comment, before the cap and signature.
    pub fn comment(&self) -> String {
        failures_comment(&self.script_text, &self.posts)
    }
}

/// Counts of what a plan read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PlanStats {
    /// Issues listed.
    pub issues: usize,
    /// Issues with a usable script.
    pub usable_scripts: usize,
    /// Dashboards assembled.
    pub dashboards: usize,
    /// What happened to the builds while assembling the dashboards.
    pub builds: AssemblyStats,
    /// Failed builds before the obvious-flake filter.
    pub failed_builds_before_filter: usize,
    /// Failed builds the filter skipped.
    pub skipped_by_filter: usize,
    /// Failed builds examined.
    pub failed_builds: usize,
    /// Failures examined (after coalescing, dummy build failures included).
    pub failures: usize,
}

/// A failed build the obvious-flake filter skipped, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilteredBuild {
    /// The build's URL.
    pub url: String,
    /// Its builder.
    pub builder: String,
    /// Its commit (short hash).
    pub commit: String,
    /// The rule that skipped it, in words.
    pub rule: String,
}

/// Everything one cycle would do, computed without changing anything.
#[derive(Clone, Debug)]
pub struct TriagePlan {
    /// What was read.
    pub stats: PlanStats,
    /// The failed builds the obvious-flake filter skipped, with the rule that skipped each.
    pub filtered: Vec<FilteredBuild>,
    /// Issues whose script exceeds a flakewatch limit (usable upstream; here unusable, and
    /// no comment is posted about it).
    pub over_limits: Vec<(u64, String)>,
    /// Error comments, in issue order.
    pub script_errors: Vec<ScriptErrorComment>,
    /// Every failure examined, in processing order.
    pub outcomes: Vec<FailureOutcome>,
    /// Comments to post: existing issues in number order, then new issues in creation order.
    pub updates: Vec<IssueUpdate>,
    /// The guard-rail threshold in force.
    pub max_new_issues: usize,
}

impl TriagePlan {
    /// New issues to create.
    pub fn new_issues(&self) -> usize {
        self.updates
            .iter()
            .filter(|u| u.new_issue.is_some())
            .count()
    }

    /// Whether the guard rail stops posting.
    pub fn guard_rail_tripped(&self) -> bool {
        self.new_issues() >= self.max_new_issues
    }

    /// Issues reopened.
    pub fn reopens(&self) -> usize {
        self.updates.iter().filter(|u| u.reopen).count()
    }
}

/// The issues of the tracker with their scripts, compiled.
pub(crate) struct Issues {
    /// The issues, sorted by number.
    pub(crate) list: Vec<Issue>,
    /// Their scripts, compiled.
    pub(crate) compiled: CompiledIssues,
}

/// A new issue being prepared in this cycle.
struct Prepared {
    new: NewIssue,
    script_text: String,
    posts: Vec<FailurePost>,
}

/// The lazily loaded comment scans of the issues, by number.
struct CommentCache<'a> {
    tracker: &'a dyn IssueTracker,
    scans: HashMap<u64, CommentScan>,
}

impl CommentCache<'_> {
    fn scan(&mut self, issue: &Issue) -> Result<&CommentScan, BackendError> {
        if !self.scans.contains_key(&issue.number) {
            let comments = self.tracker.comments(issue.number)?;
            let scan = scan_comments(
                issue.body_edited_at,
                comments.iter().map(|c| Comment {
                    created: c.created_at,
                    body: &c.body,
                }),
            );
            self.scans.insert(issue.number, scan);
        }
        Ok(&self.scans[&issue.number])
    }
}

/// Reads the issues, sorts them by number, and compiles their scripts.
pub(crate) fn load_issues(
    tracker: &dyn IssueTracker,
    options: &TriageOptions,
) -> Result<Issues, TriageError> {
    let mut list = tracker.list_issues()?;
    list.sort_by_key(|i| i.number);
    let compiled = options.compile(list.iter().map(|i| (i.number, i.body.as_str())))?;
    Ok(Issues { list, compiled })
}

/// The extracted script text of a body (what comments quote).
fn script_text(body: &str) -> String {
    match find_script(body) {
        Ok(Extracted::Script(text)) => text,
        _ => String::new(),
    }
}

/// The comment for an unusable script, if the status is one.
fn error_comment(status: &IssueStatus) -> Option<(ScriptProblem, String)> {
    match status {
        IssueStatus::NoScript => Some((ScriptProblem::NoScript, NO_SCRIPT_COMMENT.to_owned())),
        IssueStatus::EmptyBody => Some((ScriptProblem::EmptyBody, NO_SCRIPT_COMMENT.to_owned())),
        IssueStatus::Errors { text, diagnostics } => Some((
            ScriptProblem::ParseErrors,
            parse_errors_comment(text, diagnostics.iter().map(Diagnostic::to_string)),
        )),
        IssueStatus::Usable | IssueStatus::TooLarge(_) => None,
    }
}

/// Combines the assignment over the existing issues with the assignments of the prepared
/// issues' engines (each with the prepared index its issues count from), which come after
/// them in assignment order: the first `skip` wins, then every `post`, then the first
/// `default`.
fn combine(existing: Assignment, prepared: &[(usize, Assignment)], offset: usize) -> Assignment {
    let mut decision = AssignmentBuilder::new();
    decision.absorb(&existing, |i| i);
    for (first, assignment) in prepared {
        decision.absorb(assignment, |i| offset + first + i);
    }
    decision.finish()
}

/// The failures of the cycle, one list per failed build, in processing order: dashboards
/// assembled, the obvious-flake filter applied, failed builds sorted, each build's failures
/// coalesced (or a dummy build failure).
pub fn collect_failures(
    source: &dyn FailureSource,
    since: Timestamp,
    stats: &mut PlanStats,
    filtered: &mut Vec<FilteredBuild>,
) -> Result<Vec<Vec<FailurePost>>, TriageError> {
    let failed = failed_builds(source, since, stats, filtered)?;
    let builds: Vec<Vec<FailurePost>> = failed.iter().map(build_posts).collect();
    stats.failures = builds.iter().map(Vec::len).sum();
    Ok(builds)
}

/// The failed builds of the cycle in processing order: dashboards assembled from the
/// source's builds one at a time (holding whole results of the failed builds only), the
/// obvious-flake filter applied, failed builds sorted.
pub fn failed_builds(
    source: &dyn FailureSource,
    since: Timestamp,
    stats: &mut PlanStats,
    filtered: &mut Vec<FilteredBuild>,
) -> Result<Vec<BuildResult>, TriageError> {
    let mut assembler = Assembler::new(since);
    source.each_build(since, &mut assembler)?;
    let mut lean = assembler.finish();
    stats.dashboards = lean.boards.len();
    stats.builds = lean.stats;
    stats.failed_builds_before_filter = lean.boards.iter().flat_map(|b| b.failed_builds()).count();
    for board in &mut lean.boards {
        // The failed builds as they were before the filter (the filter's events name cells
        // whose status it changes).
        let failed = failed_cells(board);
        let builders = board.builders().len();
        for event in board.filter_obvious_flakes() {
            filtered.extend(explain_skip(&failed, builders, &event));
        }
    }
    let mut failed = Vec::new();
    for k in 0..lean.boards.len() {
        let board = &lean.boards[k];
        let cells: Vec<(usize, usize)> = (0..board.builders().len())
            .flat_map(|b| (0..board.commits().len()).map(move |c| (b, c)))
            .filter(|&(b, c)| {
                board
                    .result(b, c)
                    .is_some_and(|s| s.status == BuildStatus::Failure)
            })
            .collect();
        failed.extend(cells.into_iter().filter_map(|(b, c)| lean.take(k, b, c)));
    }
    drop(lean);
    failed.sort_by(build_order);
    stats.failed_builds = failed.len();
    stats.skipped_by_filter = stats.failed_builds_before_filter - failed.len();
    for skip in filtered.iter() {
        tracing::debug!(build = %skip.url, builder = %skip.builder, commit = %skip.commit, rule = %skip.rule, "skipped as an obvious non-flake");
    }
    tracing::info!(
        dashboards = stats.dashboards,
        failed_builds = stats.failed_builds_before_filter,
        skipped = stats.skipped_by_filter,
        "obvious-flake filter"
    );
    Ok(failed)
}

/// The failures of one build (`--build`), as a one-entry dashboard: no obvious-flake filter,
/// nothing else in the window. A build that did not fail has none.
pub fn one_build_failures(
    source: &dyn FailureSource,
    since: Timestamp,
    id: i64,
    stats: &mut PlanStats,
) -> Result<Vec<Vec<FailurePost>>, TriageError> {
    let set = source.builds(since)?;
    let build = set
        .builds
        .into_iter()
        .filter(|b| b.id == id)
        .max_by_key(|b| b.build_time)
        .ok_or(TriageError::BuildNotFound { build: id, since })?;
    stats.dashboards = 1;
    let failed = build.status == BuildStatus::Failure;
    stats.failed_builds_before_filter = usize::from(failed);
    stats.failed_builds = usize::from(failed);
    let builds: Vec<Vec<FailurePost>> = if failed {
        vec![build_posts(&build)]
    } else {
        Vec::new()
    };
    stats.failures = builds.iter().map(Vec::len).sum();
    Ok(builds)
}

/// The failed builds one filter event skipped (on the dashboard as it was before the
/// filter), with the rule in words.
/// A failed build of a dashboard, by (builder, commit) cell: what a skip explanation names.
type FailedCells = HashMap<(usize, usize), (i64, String, String)>;

/// The failed builds of `board`: (build ID, builder, commit) by cell.
fn failed_cells<C: Cell>(board: &Dashboard<C>) -> FailedCells {
    let mut cells = HashMap::new();
    for (b, builder) in board.builders().iter().enumerate() {
        for (c, commit) in board.commits().iter().enumerate() {
            if let Some(r) = board.result(b, c)
                && r.status() == BuildStatus::Failure
            {
                cells.insert((b, c), (r.id(), builder.name.clone(), commit.hash.clone()));
            }
        }
    }
    cells
}

fn explain_skip(failed: &FailedCells, builders: usize, event: &SkipEvent) -> Vec<FilteredBuild> {
    let (cells, rule): (Vec<(usize, usize)>, String) = match *event {
        SkipEvent::BrokenCommit { commit, good, bad } => {
            ((0..builders).map(|b| (b, commit)).collect(), {
                format!(
                    "broken commit: {bad} of {builders} builders failed and {good} passed; a \
                     commit counts with at most {q} failing and at least {q} passing",
                    q = builders / 4
                )
            })
        }
        SkipEvent::BrokenBuilder { builder, commit } => (
            vec![(builder, commit)],
            "broken builder: part of a run of failures at the builder's newest commits, or \
             between a failure and its first later success"
                .to_owned(),
        ),
    };
    cells
        .into_iter()
        .filter_map(|cell| failed.get(&cell))
        .map(|(id, builder, commit)| FilteredBuild {
            url: build_url(*id),
            builder: builder.clone(),
            commit: short_hash(commit).to_owned(),
            rule: rule.clone(),
        })
        .collect()
}

/// Plans one triage cycle: reads the tracker and the failure source, changes nothing.
pub fn plan(
    tracker: &dyn IssueTracker,
    source: &dyn FailureSource,
    options: &TriageOptions,
) -> Result<TriagePlan, TriageError> {
    plan_with(tracker, options, &mut |_, engine| {
        let mut examined = Examined::default();
        examined.builds = match options.build {
            Some(id) => one_build_failures(source, options.since, id, &mut examined.stats)?,
            None => collect_failures(
                source,
                options.since,
                &mut examined.stats,
                &mut examined.filtered,
            )?,
        };
        examined.mains = assign_existing(engine, &examined.builds);
        Ok(examined)
    })
}

/// The failures a cycle examines, and each one's assignment over the existing issues: the
/// part of a cycle that can be split between workers (`crate::shard`).
#[derive(Debug, Default)]
pub struct Examined {
    /// What was read (the issue counts are filled in by the plan).
    pub stats: PlanStats,
    /// The failed builds the obvious-flake filter skipped.
    pub filtered: Vec<FilteredBuild>,
    /// The failures, one list per failed build, in processing order.
    pub builds: Vec<Vec<FailurePost>>,
    /// Each failure's assignment over the existing issues (indices into the issues sorted
    /// by number), in the same order, flattened.
    pub mains: Vec<Assignment>,
}

/// Assigns every failure across the existing issues, on every core: the engines are
/// `Send + Sync` and a failure's assignment over them depends on nothing else, so the
/// failures are cut into one contiguous part per thread and the results kept in order.
pub fn assign_existing(engine: &Engine, builds: &[Vec<FailurePost>]) -> Vec<Assignment> {
    let posts: Vec<&FailurePost> = builds.iter().flatten().collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(posts.len() / 512)
        .max(1);
    let part = posts.len().div_ceil(threads).max(1);
    let run = |chunk: &[&FailurePost]| {
        let mut scratch = engine.scratch();
        chunk
            .iter()
            .map(|post| engine.assign(&post.record(), &mut scratch))
            .collect::<Vec<_>>()
    };
    if threads == 1 {
        return run(&posts);
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = posts
            .chunks(part)
            .map(|chunk| scope.spawn(move || run(chunk)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| match h.join() {
                Ok(part) => part,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    })
}

/// What [`plan_with`] asks of its caller once the issues are read: the failures and their
/// assignment over the existing issues (sorted by number; the engine compiled over them).
/// `E` is the caller's error type, which holds every [`TriageError`] (`crate::shard` refuses
/// shard files with its own).
pub type Examine<'a, E = TriageError> = dyn FnMut(&[Issue], &Engine) -> Result<Examined, E> + 'a;

/// Plans one cycle whose failures come from `examine` (a failure source, or the shards of
/// a sharded cycle): reads the tracker, changes nothing.
pub fn plan_with<E: From<TriageError>>(
    tracker: &dyn IssueTracker,
    options: &TriageOptions,
    examine: &mut Examine<'_, E>,
) -> Result<TriagePlan, E> {
    let issues = load_issues(tracker, options)?;
    let statuses = &issues.compiled.statuses;
    let issue_stats = PlanStats {
        issues: issues.list.len(),
        usable_scripts: statuses.iter().filter(|s| s.is_usable()).count(),
        ..PlanStats::default()
    };
    let over_limits = issues
        .list
        .iter()
        .zip(statuses)
        .filter_map(|(issue, status)| match status {
            IssueStatus::TooLarge(err) => Some((issue.number, err.to_string())),
            _ => None,
        })
        .collect();

    // Script errors: one comment per edit of the body.
    let mut cache = CommentCache {
        tracker,
        scans: HashMap::new(),
    };
    let mut script_errors = Vec::new();
    for (issue, status) in issues.list.iter().zip(statuses) {
        if let Some((problem, body)) = error_comment(status)
            && !issue.body.contains(BROKEN_BUILDER_MARKER)
            && cache.scan(issue).map_err(TriageError::from)?.new_body
        {
            script_errors.push(ScriptErrorComment {
                issue: issue.number,
                title: issue.title.clone(),
                problem,
                body,
            });
        }
    }

    // Assignment (docs/triage.md, "One cycle", steps 5 to 8).
    let engine = &issues.compiled.engine;
    let Examined {
        mut stats,
        filtered,
        builds,
        mains,
    } = examine(&issues.list, engine)?;
    stats.issues = issue_stats.issues;
    stats.usable_scripts = issue_stats.usable_scripts;
    let failures: usize = builds.iter().map(Vec::len).sum();
    if mains.len() != failures {
        return Err(TriageError::Examined(format!(
            "{} assignments for {failures} failures",
            mains.len()
        ))
        .into());
    }
    let mut mains = mains.into_iter();
    let existing = issues.list.len();
    let mut prepared: Vec<Prepared> = Vec::new();
    // Upstream mode: the prepared issues' engines, for the rest of the cycle's failures.
    let mut engines = PreparedEngines::new(options.engine, options.limits);
    let mut queued_existing: BTreeMap<usize, Vec<FailurePost>> = BTreeMap::new();
    let mut outcomes: Vec<FailureOutcome> = Vec::with_capacity(stats.failures);
    let clustered = options.new_issues == NewIssueMode::Clustered;
    let mut unclaimed: Vec<usize> = Vec::new();
    let as_ref = |index: usize| {
        if index < existing {
            IssueRef::Existing(issues.list[index].number)
        } else {
            IssueRef::New(index - existing)
        }
    };
    for posts in builds {
        let mut opened_for_build = false;
        for post in posts {
            let record = post.record();
            let main = mains.next().unwrap_or(Assignment::NewIssue);
            let extra = engines.assign(&record);
            let assignment = combine(main, &extra, existing);
            let mut outcome = FailureOutcome {
                decision: Decision::Post,
                queued: Vec::new(),
                already_mentioned: Vec::new(),
                post,
            };
            match assignment {
                Assignment::Skip(i) => outcome.decision = Decision::Skip(as_ref(i)),
                // Clustered: every unclaimed failure gets its cluster's issue after the loop.
                Assignment::NewIssue if clustered => {
                    outcome.decision = Decision::NewIssue;
                    unclaimed.push(outcomes.len());
                }
                Assignment::NewIssue if opened_for_build => outcome.decision = Decision::Deferred,
                Assignment::NewIssue => {
                    let new = NewIssue::prepare(&outcome.post).map_err(|source| {
                        TriageError::NewIssue {
                            url: outcome.post.url.clone(),
                            source,
                        }
                    })?;
                    let text = script_text(&new.body);
                    let parsed = parse_script_with(&text, &options.limits);
                    engines
                        .push(Some(parsed.script))
                        .map_err(TriageError::from)?;
                    outcome.decision = Decision::NewIssue;
                    outcome.queued.push(IssueRef::New(prepared.len()));
                    prepared.push(Prepared {
                        new,
                        script_text: text,
                        posts: vec![outcome.post.clone()],
                    });
                    opened_for_build = true;
                }
                Assignment::Post(_) | Assignment::Default(_) => {
                    if let Assignment::Default(_) = assignment {
                        outcome.decision = Decision::Default;
                    }
                    for &target in assignment.targets() {
                        if target >= existing {
                            prepared[target - existing].posts.push(outcome.post.clone());
                            outcome.queued.push(as_ref(target));
                            continue;
                        }
                        let issue = &issues.list[target];
                        let scan = cache.scan(issue).map_err(TriageError::from)?;
                        if scan.mentions.contains(&outcome.post.url) {
                            outcome.already_mentioned.push(issue.number);
                        } else {
                            queued_existing
                                .entry(target)
                                .or_default()
                                .push(outcome.post.clone());
                            outcome.queued.push(as_ref(target));
                        }
                    }
                }
            }
            outcomes.push(outcome);
        }
    }

    if !unclaimed.is_empty() {
        let all: Vec<&FailurePost> = outcomes.iter().map(|o| &o.post).collect();
        let clusters =
            cluster(&all, &unclaimed, options.engine, options.limits).map_err(TriageError::from)?;
        for c in clusters {
            let k = prepared.len();
            for &m in &c.members {
                outcomes[m].queued.push(IssueRef::New(k));
            }
            prepared.push(Prepared {
                script_text: script_text(&c.new.body),
                posts: c
                    .members
                    .iter()
                    .map(|&m| outcomes[m].post.clone())
                    .collect(),
                new: c.new,
            });
        }
    }

    // Consistent failures at the tip get a marked title (docs/triage.md, "One cycle", step 9).
    for p in &mut prepared {
        let top = p.posts.iter().filter(|f| f.top).count();
        if p.posts.len() >= 4 && p.posts[0].top && top >= 4 {
            p.new.title.push_str(CONSISTENT_SUFFIX);
        }
    }

    let mut updates = Vec::new();
    for (index, posts) in queued_existing {
        let issue = &issues.list[index];
        let reopen = issue.closed
            && posts
                .iter()
                .any(|p| issue.closed_at.is_none_or(|closed| p.time > closed));
        updates.push(IssueUpdate {
            target: IssueRef::Existing(issue.number),
            title: issue.title.clone(),
            new_issue: None,
            closed: issue.closed,
            reopen,
            script_text: script_text(&issue.body),
            posts,
        });
    }
    for (k, p) in prepared.into_iter().enumerate() {
        updates.push(IssueUpdate {
            target: IssueRef::New(k),
            title: p.new.title.clone(),
            closed: false,
            reopen: false,
            script_text: p.script_text,
            posts: p.posts,
            new_issue: Some(p.new),
        });
    }
    Ok(TriagePlan {
        stats,
        filtered,
        over_limits,
        script_errors,
        outcomes,
        updates,
        max_new_issues: options.max_new_issues,
    })
}

/// A write that failed while applying a plan (logged; the run goes on, as upstream's does).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplyFailure {
    /// The issue concerned.
    pub target: IssueRef,
    /// The operation: `create_issue`, `reopen_issue` or `add_comment`.
    pub operation: &'static str,
    /// The error.
    pub message: String,
}

/// What applying a plan did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApplyReport {
    /// Issues that got a script-error comment.
    pub error_comments: Vec<u64>,
    /// Whether the guard rail stopped posting (after the error comments, as upstream).
    pub stopped_by_guard_rail: bool,
    /// New issues created: (creation index, number).
    pub created: Vec<(usize, u64)>,
    /// Issues reopened.
    pub reopened: Vec<u64>,
    /// Issues that got a failure comment.
    pub commented: Vec<u64>,
    /// Writes that failed.
    pub failures: Vec<ApplyFailure>,
}

/// Performs a plan against the tracker: script-error comments, then (unless the guard rail
/// trips) for each update in order: create the issue if new, reopen it if needed, post its
/// comment. A failed write is recorded and the run goes on.
pub fn apply(
    plan: &TriagePlan,
    tracker: &dyn IssueTracker,
    options: &TriageOptions,
) -> ApplyReport {
    apply_with_progress(plan, tracker, options, &mut || {})
}

/// [`apply`], calling `step` before each update (for a progress bar: one step per entry of
/// [`TriagePlan::updates`]).
pub fn apply_with_progress(
    plan: &TriagePlan,
    tracker: &dyn IssueTracker,
    options: &TriageOptions,
    step: &mut dyn FnMut(),
) -> ApplyReport {
    let mut report = ApplyReport::default();
    for e in &plan.script_errors {
        match tracker.add_comment(e.issue, &sign_comment(&e.body)) {
            Ok(()) => report.error_comments.push(e.issue),
            Err(err) => report.failures.push(ApplyFailure {
                target: IssueRef::Existing(e.issue),
                operation: "add_comment",
                message: err.to_string(),
            }),
        }
    }
    if plan.guard_rail_tripped() {
        report.stopped_by_guard_rail = true;
        return report;
    }
    for update in &plan.updates {
        step();
        let number = match (&update.new_issue, update.target) {
            (Some(new), IssueRef::New(k)) => {
                match tracker.create_issue(
                    &update.title,
                    &sign_issue_body(&new.body),
                    &options.labels,
                ) {
                    Ok(number) => {
                        report.created.push((k, number));
                        number
                    }
                    Err(err) => {
                        report.failures.push(ApplyFailure {
                            target: update.target,
                            operation: "create_issue",
                            message: err.to_string(),
                        });
                        continue;
                    }
                }
            }
            (_, IssueRef::Existing(number)) => number,
            (None, IssueRef::New(_)) => continue,
        };
        if update.reopen {
            if let Err(err) = tracker.reopen_issue(number) {
                report.failures.push(ApplyFailure {
                    target: update.target,
                    operation: "reopen_issue",
                    message: err.to_string(),
                });
                continue;
            }
            report.reopened.push(number);
        }
        match tracker.add_comment(number, &sign_comment(&update.comment())) {
            Ok(()) => report.commented.push(number),
            Err(err) => report.failures.push(ApplyFailure {
                target: update.target,
                operation: "add_comment",
                message: err.to_string(),
            }),
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use flakewatch_dsl::ast::Script;
    use flakewatch_dsl::{Record, parse_script};

    use crate::engine::Engine;

    use super::*;

    fn usable(p: &flakewatch_dsl::Parsed) -> Option<&Script> {
        p.is_ok().then_some(&p.script)
    }

    /// Assigning over existing issues plus single-issue engines for the prepared ones, then
    /// combining, must equal one engine over all of them: checked on every `run` vector,
    /// with every split of its issue list into "existing" and "prepared".
    #[test]
    fn combine_matches_one_engine_over_all_issues() {
        let mut checked = 0;
        for case in flakewatch_conformance::CaseFile::upstream().run_cases() {
            let scripts: Vec<(u64, flakewatch_dsl::Parsed)> = case
                .issues
                .iter()
                .map(|i| (i.number, parse_script(&i.script)))
                .collect();
            let (whole, _) = Engine::build(
                EngineKind::Interp,
                scripts.iter().map(|(n, p)| (*n, usable(p))),
                Limits::DEFAULT,
            )
            .expect("engine");
            for record in &case.records {
                let r =
                    Record::from_pairs(record.fields.iter().map(|(k, v)| (k.as_str(), v.as_str())));
                let expected = whole.assign(&r, &mut whole.scratch());
                for split in 0..=scripts.len() {
                    let (head, tail) = scripts.split_at(split);
                    let (main, _) = Engine::build(
                        EngineKind::Interp,
                        head.iter().map(|(n, p)| (*n, usable(p))),
                        Limits::DEFAULT,
                    )
                    .expect("engine");
                    let extra: Vec<(usize, Assignment)> = tail
                        .iter()
                        .enumerate()
                        .map(|(k, (n, p))| {
                            let (one, _) = Engine::build(
                                EngineKind::Interp,
                                [(*n, usable(p))],
                                Limits::DEFAULT,
                            )
                            .expect("engine");
                            (k, one.assign(&r, &mut one.scratch()))
                        })
                        .collect();
                    let combined = combine(main.assign(&r, &mut main.scratch()), &extra, split);
                    assert_eq!(combined, expected, "{} split {split}", record.name);
                    checked += 1;
                }
            }
        }
        assert!(checked > 20, "only {checked} combinations checked");
    }

    #[test]
    fn the_window_starts_45_days_back_but_not_before_june_2025() {
        let now = Timestamp::parse_rfc3339("2025-10-01T12:00:00Z").expect("valid");
        assert_eq!(window_start(now).format_rfc3339(), "2025-08-17T12:00:00Z");
        let early = Timestamp::parse_rfc3339("2025-06-20T00:00:00Z").expect("valid");
        assert_eq!(window_start(early).format_rfc3339(), "2025-06-01T00:00:00Z");
    }
}

//! Query mode (docs/triage.md, "`flakewatch query SCRIPT`"): the failures of the window that
//! a script captures (its first matching rule says `post` or `default`), after the same
//! filtering and coalescing as a triage cycle, and, when an issue tracker is at hand, which
//! issue owns each one today. Nothing is created or posted.

use flakewatch_dsl::Assignment;
use flakewatch_dsl::ast::Script;

use super::run::{PlanStats, TriageError, TriageOptions, collect_failures};
use crate::backend::{FailureSource, IssueTracker};
use crate::engine::Engine;
use crate::post::FailurePost;

/// Who owns a failure among the tracker's issues, by the real assignment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    /// An issue's script skips it.
    Skip(u64),
    /// Posted to these issues.
    Post(Vec<u64>),
    /// Posted to this issue by its `default` rule.
    Default(u64),
    /// No issue claims it: triage would open a new issue.
    Unclaimed,
}

impl Owner {
    /// The action name: `skip`, `post`, `default` or `new_issue`.
    pub fn action(&self) -> &'static str {
        match self {
            Owner::Skip(_) => "skip",
            Owner::Post(_) => "post",
            Owner::Default(_) => "default",
            Owner::Unclaimed => "new_issue",
        }
    }

    /// The issues concerned.
    pub fn issues(&self) -> Vec<u64> {
        match self {
            Owner::Skip(n) | Owner::Default(n) => vec![*n],
            Owner::Post(ns) => ns.clone(),
            Owner::Unclaimed => Vec::new(),
        }
    }
}

/// A failure the query script captures.
#[derive(Clone, Debug)]
pub struct QueryMatch {
    /// The failure.
    pub post: FailurePost,
    /// The query's action for it: `post` or `default`.
    pub action: &'static str,
    /// Its owner among the tracker's issues, when a tracker was given.
    pub owner: Option<Owner>,
}

/// Runs a query script over the window's failures.
pub fn query(
    script: &Script,
    source: &dyn FailureSource,
    tracker: Option<&dyn IssueTracker>,
    options: &TriageOptions,
) -> Result<(Vec<QueryMatch>, PlanStats), TriageError> {
    let mut stats = PlanStats::default();
    let builds = collect_failures(source, options.since, &mut stats, &mut Vec::new())?;
    let (engine, _) = Engine::build(options.engine, [(0, Some(script))], options.limits)?;
    let mut scratch = engine.scratch();
    let owners = match tracker {
        Some(tracker) => {
            let mut issues = tracker.list_issues()?;
            issues.sort_by_key(|i| i.number);
            stats.issues = issues.len();
            let compiled = options.compile(issues.iter().map(|i| (i.number, i.body.as_str())))?;
            stats.usable_scripts = compiled.statuses.iter().filter(|s| s.is_usable()).count();
            Some(compiled)
        }
        None => None,
    };
    let mut owner_scratch = owners.as_ref().map(|o| o.engine.scratch());
    let mut matches = Vec::new();
    for post in builds.into_iter().flatten() {
        let record = post.record();
        let action = match engine.assign(&record, &mut scratch) {
            Assignment::Post(_) => "post",
            Assignment::Default(_) => "default",
            Assignment::Skip(_) | Assignment::NewIssue => continue,
        };
        let owner = match (&owners, owner_scratch.as_mut()) {
            (Some(compiled), Some(scratch)) => {
                let number = |i: usize| compiled.numbers[i];
                Some(match compiled.engine.assign(&record, scratch) {
                    Assignment::Skip(i) => Owner::Skip(number(i)),
                    Assignment::Post(targets) => {
                        Owner::Post(targets.into_iter().map(number).collect())
                    }
                    Assignment::Default(i) => Owner::Default(number(i)),
                    Assignment::NewIssue => Owner::Unclaimed,
                })
            }
            _ => None,
        };
        matches.push(QueryMatch {
            post,
            action,
            owner,
        });
    }
    Ok((matches, stats))
}

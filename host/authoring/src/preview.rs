//! What a script would do on the failure history before it goes live: the failures an issue
//! would own with it, those it would take from other issues, and those its current version
//! owns that the new one would release (and where they would go).
//!
//! Both sides are whole assignments by the engine (skip wins, every post, the first default,
//! else a new issue), the issue set once as it is and once with the issue's body replaced (or
//! the issue added), so a preview is exactly the difference triage would make.

use std::collections::BTreeMap;

use flakewatch_dsl::{Assignment, Limits, Record};
use flakewatch_jit::JitError;
use flakewatch_triage::engine::EngineKind;
use flakewatch_triage::patterns::CompiledIssues;
use serde::Serialize;

/// Who owns a failure: the assignment's action and issues.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Owner {
    /// `skip`, `post`, `default` or `new_issue`.
    pub action: &'static str,
    /// The issues concerned.
    pub issues: Vec<u64>,
}

impl Owner {
    fn of(assignment: &Assignment, numbers: &[u64]) -> Owner {
        Owner {
            action: assignment.action_name(),
            issues: assignment.targets().iter().map(|&i| numbers[i]).collect(),
        }
    }

    /// Whether `issue` gets the failure (posted to it, or its default).
    pub fn gives_to(&self, issue: u64) -> bool {
        matches!(self.action, "post" | "default") && self.issues.contains(&issue)
    }

    /// The owner in words: `#12`, `#3, #7`, `skip by #5`, `a new issue`.
    pub fn describe(&self) -> String {
        let list = self
            .issues
            .iter()
            .map(|n| format!("#{n}"))
            .collect::<Vec<_>>()
            .join(", ");
        match self.action {
            "skip" => format!("skip by {list}"),
            "new_issue" => "a new issue".to_owned(),
            _ => list,
        }
    }
}

/// One failure whose owner changes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    /// Its index in the failures given.
    pub failure: usize,
    /// Its owner today.
    pub before: Owner,
    /// Its owner with the new script.
    pub after: Owner,
}

/// The preview of one issue's new script.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Preview {
    /// The issue.
    pub issue: u64,
    /// Whether the issue exists today (else the script is previewed as a new issue).
    pub existing: bool,
    /// Failures read.
    pub failures: usize,
    /// Failures the issue would get (posted to it or its default).
    pub owned_after: usize,
    /// Failures it gets today.
    pub owned_before: usize,
    /// Failures it would get that other issues (or a new issue, or a skip) have today.
    pub taken: Vec<Change>,
    /// Failures it gets today that would go elsewhere.
    pub released: Vec<Change>,
    /// Other failures whose owner changes (its new script now skips them, or stops skipping).
    pub other: Vec<Change>,
    /// Owners losing failures to it, with counts.
    pub taken_from: BTreeMap<String, usize>,
    /// Where released failures go, with counts.
    pub released_to: BTreeMap<String, usize>,
}

/// Previews `body` as issue `issue`'s body among `issues` on `records`.
pub fn preview(
    issues: &[(u64, String)],
    issue: u64,
    body: &str,
    records: &[Record],
) -> Result<Preview, JitError> {
    let existing = issues.iter().any(|(n, _)| *n == issue);
    let before_set: Vec<(u64, &str)> = issues.iter().map(|(n, b)| (*n, b.as_str())).collect();
    let mut after_set: Vec<(u64, &str)> = before_set
        .iter()
        .filter(|(n, _)| *n != issue)
        .copied()
        .collect();
    after_set.push((issue, body));
    let before = CompiledIssues::compile(before_set, EngineKind::Jit, Limits::DEFAULT)?;
    let after = CompiledIssues::compile(after_set, EngineKind::Jit, Limits::DEFAULT)?;
    let mut scratch_before = before.engine.scratch();
    let mut scratch_after = after.engine.scratch();
    let mut result = Preview {
        issue,
        existing,
        failures: records.len(),
        owned_after: 0,
        owned_before: 0,
        taken: Vec::new(),
        released: Vec::new(),
        other: Vec::new(),
        taken_from: BTreeMap::new(),
        released_to: BTreeMap::new(),
    };
    for (i, record) in records.iter().enumerate() {
        let was = Owner::of(
            &before.engine.assign(record, &mut scratch_before),
            &before.numbers,
        );
        let will = Owner::of(
            &after.engine.assign(record, &mut scratch_after),
            &after.numbers,
        );
        let (had, gets) = (was.gives_to(issue), will.gives_to(issue));
        result.owned_before += usize::from(had);
        result.owned_after += usize::from(gets);
        if was == will {
            continue;
        }
        let change = Change {
            failure: i,
            before: was,
            after: will,
        };
        match (had, gets) {
            (false, true) => {
                // Posted alongside the issues that keep it, or taken from its owner.
                let shared = change.before.action == "post"
                    && change
                        .before
                        .issues
                        .iter()
                        .all(|n| change.after.issues.contains(n));
                let from = if shared {
                    format!("shared with {}", change.before.describe())
                } else {
                    change.before.describe()
                };
                *result.taken_from.entry(from).or_default() += 1;
                result.taken.push(change);
            }
            (true, false) => {
                *result
                    .released_to
                    .entry(change.after.describe())
                    .or_default() += 1;
                result.released.push(change);
            }
            _ => result.other.push(change),
        }
    }
    Ok(result)
}

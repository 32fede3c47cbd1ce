//! Combining the JUnit of several runs into one tree of suites and tests, as upstream's
//! `combineTestSuites` does: suites merge by name at each level, a test is keyed by its suite
//! path and name (the classname is ignored), and every `<testcase>` occurrence adds one pass,
//! failure or skip entry for its run.
//!
//! The JUnit itself is read by [`flakewatch_ingest::junit`]; this module only derives the
//! aggregator's entries from the ingested attempts ([`EntryRule`]).

use std::collections::HashMap;
use std::sync::Arc;

use flakewatch_ingest::{Attempt, Origin, Run, Status, Test};
use serde::{Deserialize, Serialize};

/// The separator of suite names in a test key (`openshift-tests|||child`).
pub const SUITE_SEPARATOR: &str = "|||";

/// What one occurrence of a test in one run was.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// Neither `<failure>` nor `<skipped>`.
    Pass,
    /// A `<failure>`.
    Failure,
    /// A `<skipped>`.
    Skip,
}

/// One occurrence of a test: the run (an index into the aggregation's runs) and its outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Index of the run.
    pub run: u32,
    /// What happened.
    pub kind: EntryKind,
}

/// How ingested attempts become entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryRule {
    /// Upstream: one entry per `<testcase>` element; `<failure>` → failure, else `<skipped>` →
    /// skip, else pass. `<error>` and retry elements (`flakyFailure`, `rerunFailure`) are not
    /// understood, so a test with only an `<error>` counts as a pass (B9).
    Upstream,
    /// Every ingested attempt is an entry; a failure is any unexpected `fail` or `error`
    /// (`<error>`, retry elements, crashes).
    Attempts,
}

impl EntryRule {
    /// Appends the entries of `test` (read from run `run`) to `out`.
    pub fn entries(self, test: &Test, run: u32, out: &mut Vec<Entry>) {
        match self {
            EntryRule::Upstream => {
                let forced_failure = test
                    .reported
                    .as_ref()
                    .is_some_and(|r| r.status == Status::Fail);
                for attempt in &test.attempts {
                    let kind = match attempt.origin {
                        Origin::Testcase | Origin::InferredRerun => {
                            upstream_kind(attempt, forced_failure)
                        }
                        _ => continue,
                    };
                    out.push(Entry { run, kind });
                }
            }
            EntryRule::Attempts => {
                for attempt in &test.attempts {
                    let kind = if attempt.is_failure() {
                        EntryKind::Failure
                    } else if attempt.status == Status::Skip {
                        EntryKind::Skip
                    } else {
                        EntryKind::Pass
                    };
                    out.push(Entry { run, kind });
                }
            }
        }
    }
}

/// Upstream's reading of one `<testcase>` element, rebuilt from the ingested attempt: the
/// reader ranks `failure` > `error` > `skipped`, upstream only knows `failure` and `skipped`.
fn upstream_kind(attempt: &Attempt, forced_failure: bool) -> EntryKind {
    let has = |status: Status| attempt.extra.iter().any(|d| d.status == status);
    match attempt.status {
        Status::Fail => EntryKind::Failure,
        Status::Error if has(Status::Skip) => EntryKind::Skip,
        Status::Error => EntryKind::Pass,
        Status::Skip => EntryKind::Skip,
        // nextest's flaky-fail policy: the `<failure>` element is still there.
        Status::Pass if forced_failure && attempt.origin == Origin::Testcase => EntryKind::Failure,
        Status::Pass => EntryKind::Pass,
    }
}

/// One test of the combined tree.
#[derive(Clone, Debug, PartialEq)]
pub struct AggTest {
    /// The testcase name.
    pub name: String,
    /// The `lifecycle` attribute of the first occurrence that has one (`informing`, `blocking`).
    pub lifecycle: Option<String>,
    /// `<properties>` of the first occurrence that has any.
    pub properties: Vec<(String, String)>,
    /// Every occurrence, in run order then document order.
    pub entries: Vec<Entry>,
}

/// One suite of the combined tree.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AggSuite {
    /// The suite name.
    pub name: String,
    /// Tests in order of first appearance.
    pub tests: Vec<AggTest>,
    /// Child suites in order of first appearance.
    pub children: Vec<AggSuite>,
    tests_by_name: HashMap<String, usize>,
    children_by_name: HashMap<String, usize>,
}

impl AggSuite {
    /// An empty suite.
    pub fn new(name: impl Into<String>) -> AggSuite {
        AggSuite {
            name: name.into(),
            ..AggSuite::default()
        }
    }

    fn child_index(&mut self, name: &str) -> usize {
        if let Some(&i) = self.children_by_name.get(name) {
            return i;
        }
        let i = self.children.len();
        self.children.push(AggSuite::new(name));
        self.children_by_name.insert(name.to_owned(), i);
        i
    }

    fn test_mut(&mut self, name: &str) -> &mut AggTest {
        let i = match self.tests_by_name.get(name) {
            Some(&i) => i,
            None => {
                let i = self.tests.len();
                self.tests.push(AggTest {
                    name: name.to_owned(),
                    lifecycle: None,
                    properties: Vec::new(),
                    entries: Vec::new(),
                });
                self.tests_by_name.insert(name.to_owned(), i);
                i
            }
        };
        &mut self.tests[i]
    }

    /// Number of tests in this suite and its children.
    pub fn test_count(&self) -> usize {
        self.tests.len()
            + self
                .children
                .iter()
                .map(AggSuite::test_count)
                .sum::<usize>()
    }
}

/// The combined tree of one aggregation.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Combined {
    /// Top-level suites in order of first appearance.
    pub suites: Vec<AggSuite>,
    by_name: HashMap<String, usize>,
}

impl Combined {
    /// An empty tree.
    pub fn new() -> Combined {
        Combined::default()
    }

    fn top_index(&mut self, name: &str) -> usize {
        if let Some(&i) = self.by_name.get(name) {
            return i;
        }
        let i = self.suites.len();
        self.suites.push(AggSuite::new(name));
        self.by_name.insert(name.to_owned(), i);
        i
    }

    /// The indices leading to the suite at `path` (created as needed); empty for an empty path.
    fn resolve(&mut self, path: &[String]) -> Vec<usize> {
        let Some((first, rest)) = path.split_first() else {
            return Vec::new();
        };
        let mut indices = Vec::with_capacity(path.len());
        let top = self.top_index(first);
        indices.push(top);
        let mut node = &mut self.suites[top];
        for name in rest {
            let i = node.child_index(name);
            indices.push(i);
            node = &mut node.children[i];
        }
        indices
    }

    fn node(&mut self, indices: &[usize]) -> &mut AggSuite {
        let mut node = &mut self.suites[indices[0]];
        for &i in &indices[1..] {
            node = &mut node.children[i];
        }
        node
    }

    /// Adds one ingested JUnit file of run `run`. Suites are created in document order; tests
    /// directly under `<testsuites>` (no suite) are ignored, as upstream ignores them.
    pub fn add_file(&mut self, file: &Run, run: u32, rule: EntryRule) {
        for suite in &file.suites {
            if !suite.path.is_empty() {
                self.resolve(&suite.path);
            }
        }
        let mut last: Option<(Arc<[String]>, Vec<usize>)> = None;
        let mut scratch = Vec::new();
        for test in &file.tests {
            if test.suite.is_empty() {
                continue;
            }
            let indices = match &last {
                Some((path, indices)) if Arc::ptr_eq(path, &test.suite) => indices.clone(),
                _ => {
                    let indices = self.resolve(&test.suite);
                    last = Some((test.suite.clone(), indices.clone()));
                    indices
                }
            };
            scratch.clear();
            rule.entries(test, run, &mut scratch);
            let agg = self.node(&indices).test_mut(&test.name);
            agg.entries.extend_from_slice(&scratch);
            if agg.lifecycle.is_none() {
                agg.lifecycle = test
                    .properties
                    .iter()
                    .find(|(k, _)| k == "lifecycle")
                    .map(|(_, v)| v.clone())
                    .filter(|v| !v.is_empty());
            }
            if agg.properties.is_empty() {
                agg.properties = test
                    .properties
                    .iter()
                    .filter(|(k, _)| k != "lifecycle" && k != "url")
                    .cloned()
                    .collect();
            }
        }
    }

    /// Every test with its suite path, depth first (a suite's tests before its children).
    pub fn walk<'a>(&'a self, mut f: impl FnMut(&[&'a str], &'a AggTest)) {
        fn go<'a>(
            suite: &'a AggSuite,
            path: &mut Vec<&'a str>,
            f: &mut dyn FnMut(&[&'a str], &'a AggTest),
        ) {
            path.push(&suite.name);
            for test in &suite.tests {
                f(path, test);
            }
            for child in &suite.children {
                go(child, path, f);
            }
            path.pop();
        }
        let mut path = Vec::new();
        for suite in &self.suites {
            go(suite, &mut path, &mut f);
        }
    }

    /// Number of tests.
    pub fn test_count(&self) -> usize {
        self.suites.iter().map(AggSuite::test_count).sum()
    }
}

/// What a run counts as when a test both failed and passed in it (a retried test that
/// passed on a retry): upstream counts it as a pass (B15's default); the profile can count it
/// as a failure, or apply a k-of-n retry rule (docs/aggregate.md, "Flakes").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "rule", deny_unknown_fields)]
pub enum FlakeRule {
    /// Upstream: any pass in the run makes the run a pass.
    #[default]
    #[serde(rename = "pass_wins")]
    PassWins,
    /// Any failure in the run makes the run a failure.
    #[serde(rename = "flake_is_failure")]
    FlakeIsFailure,
    /// A run with a failure is a pass only when at least `min_passes` of its attempts passed
    /// and at most `max_failures` failed (no bound when absent); a run without any failure
    /// is a pass whatever its number of attempts.
    #[serde(rename = "k_of_n")]
    KOfN {
        /// Passing attempts a retried run needs (k, at least 1).
        #[serde(default = "one")]
        min_passes: u32,
        /// Failing attempts a retried run may have and still pass.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_failures: Option<u32>,
    },
}

fn one() -> u32 {
    1
}

impl FlakeRule {
    /// Whether a run with `passes` passing and `failures` failing attempts counts as a pass.
    pub fn run_passes(self, passes: u32, failures: u32) -> bool {
        if passes == 0 {
            return false;
        }
        if failures == 0 {
            return true;
        }
        match self {
            FlakeRule::PassWins => true,
            FlakeRule::FlakeIsFailure => false,
            FlakeRule::KOfN {
                min_passes,
                max_failures,
            } => passes >= min_passes && max_failures.is_none_or(|m| failures <= m),
        }
    }

    /// One line for summaries: `pass wins`, `a flake is a failure`, `k of n: ...`.
    pub fn describe(self) -> String {
        match self {
            FlakeRule::PassWins => "a flaked run is a pass".to_owned(),
            FlakeRule::FlakeIsFailure => "a flaked run is a failure".to_owned(),
            FlakeRule::KOfN {
                min_passes,
                max_failures,
            } => match max_failures {
                Some(m) => format!(
                    "a flaked run is a pass with at least {min_passes} passing and at most {m} failing attempts"
                ),
                None => {
                    format!("a flaked run is a pass with at least {min_passes} passing attempts")
                }
            },
        }
    }
}

/// Per-test counts over distinct runs, as upstream's `CheckFailed` counts them, with the
/// flake rule deciding what a run with both a pass and a failure is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunCounts {
    /// Runs with at least one pass or failure entry.
    pub attempts: u32,
    /// Runs counted as passed (with upstream's rule: runs with at least one pass entry).
    pub passes: u32,
    /// Runs counted as failed (with upstream's rule: a failure entry and no pass entry).
    pub failures: u32,
    /// Runs with both a pass and a failure entry (flakes; counted in `passes` or `failures`
    /// as the flake rule says).
    pub flakes: u32,
    /// Skip entries (not runs).
    pub skips: u32,
    /// Pass entries.
    pub pass_entries: u32,
    /// Failure entries.
    pub failure_entries: u32,
}

impl RunCounts {
    /// Counts the entries of one test with upstream's rule (a pass wins within a run).
    pub fn of(entries: &[Entry]) -> RunCounts {
        RunCounts::with_rule(entries, FlakeRule::PassWins)
    }

    /// Counts the entries of one test; `rule` decides the runs with both a pass and a failure.
    pub fn with_rule(entries: &[Entry], rule: FlakeRule) -> RunCounts {
        let mut c = RunCounts::default();
        // (run, passing attempts, failing attempts), sorted by run.
        let mut per_run: Vec<(u32, u32, u32)> = Vec::with_capacity(entries.len());
        for e in entries {
            let slot = match per_run.binary_search_by_key(&e.run, |r| r.0) {
                Ok(i) => i,
                Err(i) => {
                    per_run.insert(i, (e.run, 0, 0));
                    i
                }
            };
            match e.kind {
                EntryKind::Pass => {
                    c.pass_entries += 1;
                    per_run[slot].1 += 1;
                }
                EntryKind::Failure => {
                    c.failure_entries += 1;
                    per_run[slot].2 += 1;
                }
                EntryKind::Skip => c.skips += 1,
            }
        }
        for &(_, passed, failed) in &per_run {
            if passed == 0 && failed == 0 {
                continue;
            }
            if passed > 0 && failed > 0 {
                c.flakes += 1;
            }
            if rule.run_passes(passed, failed) {
                c.passes += 1;
            } else {
                c.failures += 1;
            }
        }
        c.attempts = c.passes + c.failures;
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(run: u32, kind: EntryKind) -> Entry {
        Entry { run, kind }
    }

    #[test]
    fn a_flake_counts_as_a_pass() {
        let c = RunCounts::of(&[
            e(0, EntryKind::Failure),
            e(0, EntryKind::Pass),
            e(1, EntryKind::Failure),
            e(2, EntryKind::Skip),
            e(3, EntryKind::Pass),
            e(3, EntryKind::Pass),
        ]);
        assert_eq!(
            (c.attempts, c.passes, c.failures, c.flakes, c.skips),
            (3, 2, 1, 1, 1)
        );
    }

    /// Three runs retried: run 0 failed once then passed, run 1 failed twice then passed,
    /// run 2 passed on its third try after two failures and one pass; run 3 passed at once.
    fn retried() -> Vec<Entry> {
        vec![
            e(0, EntryKind::Failure),
            e(0, EntryKind::Pass),
            e(1, EntryKind::Failure),
            e(1, EntryKind::Failure),
            e(1, EntryKind::Pass),
            e(2, EntryKind::Failure),
            e(2, EntryKind::Pass),
            e(2, EntryKind::Failure),
            e(2, EntryKind::Pass),
            e(3, EntryKind::Pass),
            e(4, EntryKind::Failure),
        ]
    }

    fn counted(rule: FlakeRule) -> (u32, u32, u32, u32) {
        let c = RunCounts::with_rule(&retried(), rule);
        (c.attempts, c.passes, c.failures, c.flakes)
    }

    #[test]
    fn the_flake_rule_decides_retried_runs() {
        // Upstream: runs 0..=3 pass, run 4 fails; three flakes.
        assert_eq!(counted(FlakeRule::PassWins), (5, 4, 1, 3));
        // Every flaked run is a failure: only run 3 passes.
        assert_eq!(counted(FlakeRule::FlakeIsFailure), (5, 1, 4, 3));
        // At most one failing attempt: run 0 passes, runs 1 and 2 (two failures) fail.
        let one_failure = FlakeRule::KOfN {
            min_passes: 1,
            max_failures: Some(1),
        };
        assert_eq!(counted(one_failure), (5, 2, 3, 3));
        // Two passing attempts needed: only run 2 among the retried runs; run 3 had no
        // failure, so its single pass stands.
        let two_passes = FlakeRule::KOfN {
            min_passes: 2,
            max_failures: None,
        };
        assert_eq!(counted(two_passes), (5, 2, 3, 3));
        // Entry totals do not depend on the rule.
        let c = RunCounts::with_rule(&retried(), two_passes);
        assert_eq!((c.pass_entries, c.failure_entries, c.skips), (5, 6, 0));
    }

    #[test]
    fn the_flake_rule_reads_from_toml() {
        #[derive(serde::Deserialize)]
        struct Doc {
            flake: FlakeRule,
        }
        let doc: Doc = toml::from_str("[flake]\nrule = \"k_of_n\"\nmax_failures = 2\n").unwrap();
        assert_eq!(
            doc.flake,
            FlakeRule::KOfN {
                min_passes: 1,
                max_failures: Some(2)
            }
        );
        let doc: Doc = toml::from_str("[flake]\nrule = \"flake_is_failure\"\n").unwrap();
        assert_eq!(doc.flake, FlakeRule::FlakeIsFailure);
        let err = toml::from_str::<Doc>("[flake]\nrule = \"sometimes\"\n")
            .err()
            .expect("an unknown rule is refused");
        assert!(err.to_string().contains("sometimes"), "{err}");
    }
}

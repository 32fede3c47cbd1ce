//! Mozilla's per-revision view of stored runs (bug 1337243's questions for every push): did
//! every scheduled chunk of every suite run, which chunks ran more than once, which scheduled
//! tests were never reported, and which tests gave different results on the same code.
//!
//! The model: a revision has suites; a suite is split into an expected number of chunks (from
//! a schedule, else from the runs' own `chunks`); each chunk has executions (several when
//! re-run or retried), each a stored run; an execution has test results. Tests are identified
//! within a suite by suite path (the mozlog group), class name and name; they need not be
//! unique, nor ordered.
//!
//! * A chunk is **missing** when it is expected and no execution of it is stored, and
//!   **repeated** when more than one is.
//! * A scheduled test (mozlog `suite_start`'s lists) that no execution of its chunk reported is
//!   a **missing test**.
//! * A test is **flaky** on the revision when one of its attempts passed (status `pass`) and
//!   another failed (status `fail` or `error`), whatever was expected: in one execution
//!   (retried within the run) or across executions. It is marked known intermittent when
//!   every non-passing result was listed in that attempt's `known_intermittent`.
//! * Totals count one result per execution and test: passed when no attempt was an
//!   unexpected failure, failed when every attempt that ran was one, flaky when both, skipped
//!   when nothing ran.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use flakewatch_plugin_sdk::model::{AttemptResult, ResultsRun, TestResult};
use serde::Serialize;

/// Expected chunk counts per suite, from a schedule file (`{"mochitest-plain": 4, ...}`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Schedule {
    chunks: BTreeMap<String, u32>,
}

/// A schedule that cannot be read.
#[derive(Debug, thiserror::Error)]
#[error("schedule: {0}")]
pub struct ScheduleError(String);

impl Schedule {
    /// Reads a JSON object of suite names to positive chunk counts.
    pub fn from_json(text: &str) -> Result<Schedule, ScheduleError> {
        let map: BTreeMap<String, serde_json::Value> = serde_json::from_str(text).map_err(|e| {
            ScheduleError(format!("expected an object of suite → chunk count: {e}"))
        })?;
        let mut chunks = BTreeMap::new();
        for (suite, value) in map {
            let n = value
                .as_u64()
                .filter(|n| (1..=u64::from(u32::MAX)).contains(n))
                .ok_or_else(|| {
                    ScheduleError(format!(
                        "suite {suite:?}: {value} is not a positive chunk count"
                    ))
                })?;
            chunks.insert(suite, n as u32);
        }
        Ok(Schedule { chunks })
    }

    /// The expected chunk count of `suite`.
    pub fn chunks(&self, suite: &str) -> Option<u32> {
        self.chunks.get(suite).copied()
    }

    /// The schedule of `suite` alone.
    pub fn only(&self, suite: &str) -> Schedule {
        Schedule {
            chunks: self
                .chunks
                .iter()
                .filter(|(s, _)| s.as_str() == suite)
                .map(|(s, n)| (s.clone(), *n))
                .collect(),
        }
    }

    /// The suites it names.
    pub fn suites(&self) -> impl Iterator<Item = &str> {
        self.chunks.keys().map(String::as_str)
    }
}

/// The view of one revision.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RevisionReport {
    /// The revision.
    pub revision: String,
    /// Stored runs of the revision that the view covers.
    pub runs: usize,
    /// Per suite, by name (runs without a suite last).
    pub suites: Vec<SuiteReport>,
}

impl RevisionReport {
    /// Whether anything is wrong: a missing chunk, a missing test, a flaky test or a failure.
    pub fn has_findings(&self) -> bool {
        self.suites.iter().any(|s| {
            !s.chunks_missing.is_empty()
                || !s.missing_tests.is_empty()
                || !s.flaky.is_empty()
                || s.totals.failed > 0
        })
    }
}

/// One suite of a revision.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct SuiteReport {
    /// The suite (`None`: runs stored without one).
    pub suite: Option<String>,
    /// How many chunks the suite is split into, when known.
    pub chunks_expected: Option<u32>,
    /// Where that count comes from: `schedule`, `runs` or `unknown`.
    pub chunks_expected_from: &'static str,
    /// The chunk numbers with at least one execution.
    pub chunks_executed: Vec<u32>,
    /// Chunks with more than one execution.
    pub chunks_repeated: Vec<RepeatedChunk>,
    /// Expected chunks without an execution.
    pub chunks_missing: Vec<u32>,
    /// Every execution (stored run) of the suite, by chunk, then in the order stored.
    pub executions: Vec<Execution>,
    /// Results over all executions.
    pub totals: Totals,
    /// Scheduled tests that no execution of their chunk reported.
    pub missing_tests: Vec<MissingTest>,
    /// Tests whose results differ on the revision.
    pub flaky: Vec<FlakyTest>,
}

/// A chunk that ran more than once.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct RepeatedChunk {
    /// The chunk number.
    pub chunk: u32,
    /// How many executions are stored.
    pub executions: usize,
}

/// One execution of a chunk: a stored run.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Execution {
    /// The run's key.
    pub key: String,
    /// Its chunk, when it has one.
    pub chunk: Option<u32>,
    /// Where it was read from.
    pub source: String,
    /// Its link, when stored.
    pub url: Option<String>,
    /// When it started, when known.
    pub started_at: Option<String>,
    /// Its results.
    pub totals: Totals,
}

/// Result counts: one result per execution and test.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Totals {
    /// Tests with results.
    pub tests: usize,
    /// Passed (no unexpected failure).
    pub passed: usize,
    /// Failed (every attempt that ran failed unexpectedly).
    pub failed: usize,
    /// Passed and failed within the execution (retried).
    pub flaky: usize,
    /// Nothing ran.
    pub skipped: usize,
}

impl Totals {
    fn add(&mut self, other: Totals) {
        self.tests += other.tests;
        self.passed += other.passed;
        self.failed += other.failed;
        self.flaky += other.flaky;
        self.skipped += other.skipped;
    }

    fn count(&mut self, test: &TestResult) {
        self.tests += 1;
        let ran: Vec<&AttemptResult> = test
            .attempts
            .iter()
            .filter(|a| a.status != "skip")
            .collect();
        let failed = ran.iter().any(|a| a.failure);
        let ok = ran.iter().any(|a| !a.failure);
        match (ok, failed) {
            (false, false) => self.skipped += 1,
            (true, false) => self.passed += 1,
            (false, true) => self.failed += 1,
            (true, true) => self.flaky += 1,
        }
    }
}

/// A scheduled test never reported.
#[derive(Clone, Debug, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct MissingTest {
    /// The chunk whose executions did not report it.
    pub chunk: Option<u32>,
    /// Its group (manifest).
    pub group: String,
    /// The test.
    pub test: String,
}

/// A test with different results on the revision.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct FlakyTest {
    /// Its suite path (the mozlog group).
    pub path: Vec<String>,
    /// Its class name, when the format has one.
    pub classname: Option<String>,
    /// Its name.
    pub name: String,
    /// The chunks it ran in.
    pub chunks: Vec<u32>,
    /// Whether every non-passing result was listed as known intermittent.
    pub known_intermittent: bool,
    /// Every attempt, by execution.
    pub results: Vec<Observation>,
}

/// One attempt of a flaky test.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Observation {
    /// The execution's key.
    pub run: String,
    /// The execution's chunk.
    pub chunk: Option<u32>,
    /// 1-based attempt within the execution.
    pub attempt: usize,
    /// `pass`, `fail`, `error` or `skip`.
    pub status: String,
    /// The producer's word (`TIMEOUT`, `CRASH`), when it says more.
    pub raw_status: Option<String>,
    /// Whether it was expected.
    pub expected: bool,
    /// The statuses listed as known intermittent for it.
    pub known_intermittent: Vec<String>,
}

impl Observation {
    /// The status word as the harness wrote it (`TIMEOUT`), else the status in capitals.
    pub fn word(&self) -> String {
        self.raw_status
            .clone()
            .unwrap_or_else(|| self.status.to_ascii_uppercase())
    }

    fn is_known_intermittent(&self) -> bool {
        let word = self.word();
        self.known_intermittent.contains(&word)
    }
}

/// The view of `revision` over its stored `runs`, with expected chunk counts from `schedule`
/// (which wins over the runs' own counts).
pub fn analyze(revision: &str, runs: &[ResultsRun], schedule: &Schedule) -> RevisionReport {
    let mut by_suite: BTreeMap<Option<&str>, Vec<&ResultsRun>> = BTreeMap::new();
    for run in runs {
        by_suite.entry(run.suite.as_deref()).or_default().push(run);
    }
    // Suites in the schedule with no run at all are wholly missing.
    for suite in schedule.suites() {
        by_suite.entry(Some(suite)).or_default();
    }
    let mut suites: Vec<SuiteReport> = by_suite
        .into_iter()
        .map(|(suite, runs)| suite_report(suite, &runs, schedule))
        .collect();
    // `None` sorts first in a BTreeMap; runs without a suite go last.
    suites.sort_by_key(|s| s.suite.is_none());
    RevisionReport {
        revision: revision.to_owned(),
        runs: runs.len(),
        suites,
    }
}

fn suite_report(suite: Option<&str>, runs: &[&ResultsRun], schedule: &Schedule) -> SuiteReport {
    let (chunks_expected, chunks_expected_from) = match suite.and_then(|s| schedule.chunks(s)) {
        Some(n) => (Some(n), "schedule"),
        None => match runs.iter().filter_map(|r| r.chunks).max() {
            Some(n) => (Some(n), "runs"),
            None => (None, "unknown"),
        },
    };
    let mut per_chunk: BTreeMap<u32, usize> = BTreeMap::new();
    for run in runs {
        if let Some(chunk) = run.chunk {
            *per_chunk.entry(chunk).or_default() += 1;
        }
    }
    let chunks_missing = match chunks_expected {
        Some(n) => (1..=n).filter(|c| !per_chunk.contains_key(c)).collect(),
        None => Vec::new(),
    };
    let chunks_repeated = per_chunk
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(&chunk, &executions)| RepeatedChunk { chunk, executions })
        .collect();

    let mut ordered: Vec<&ResultsRun> = runs.to_vec();
    // Stable: executions of one chunk keep the order they were stored in.
    ordered.sort_by_key(|r| (r.chunk.is_none(), r.chunk));
    let mut totals = Totals::default();
    let executions: Vec<Execution> = ordered
        .iter()
        .map(|run| {
            let mut t = Totals::default();
            for test in &run.tests {
                t.count(test);
            }
            totals.add(t);
            Execution {
                key: run.key.clone(),
                chunk: run.chunk,
                source: run.source.clone(),
                url: run.url.clone(),
                started_at: run.started_at.clone(),
                totals: t,
            }
        })
        .collect();

    SuiteReport {
        suite: suite.map(str::to_owned),
        chunks_expected,
        chunks_expected_from,
        chunks_executed: per_chunk.keys().copied().collect(),
        chunks_repeated,
        chunks_missing,
        executions,
        totals,
        missing_tests: missing_tests(&ordered),
        flaky: flaky_tests(&ordered),
    }
}

/// A test's identity within a suite: path, class name, name.
type Identity = (Vec<String>, Option<String>, String);

fn missing_tests(runs: &[&ResultsRun]) -> Vec<MissingTest> {
    // Executions of one chunk together; runs without a chunk each on their own.
    let mut groups: BTreeMap<(Option<u32>, usize), Vec<&ResultsRun>> = BTreeMap::new();
    for (i, run) in runs.iter().enumerate() {
        let alone = if run.chunk.is_some() { 0 } else { i };
        groups.entry((run.chunk, alone)).or_default().push(run);
    }
    let mut missing = BTreeSet::new();
    for ((chunk, _), executions) in groups {
        let reported: HashSet<(&str, &str)> = executions
            .iter()
            .flat_map(|r| &r.tests)
            .filter(|t| t.suite.len() <= 1)
            .map(|t| (t.suite.first().map_or("", String::as_str), t.name.as_str()))
            .collect();
        for run in executions {
            for s in &run.scheduled {
                if !reported.contains(&(s.group.as_str(), s.test.as_str())) {
                    missing.insert(MissingTest {
                        chunk,
                        group: s.group.clone(),
                        test: s.test.clone(),
                    });
                }
            }
        }
    }
    missing.into_iter().collect()
}

fn flaky_tests(runs: &[&ResultsRun]) -> Vec<FlakyTest> {
    let mut seen: BTreeMap<Identity, (BTreeSet<u32>, Vec<Observation>)> = BTreeMap::new();
    for run in runs {
        for test in &run.tests {
            let identity = (
                test.suite.clone(),
                test.classname.clone(),
                test.name.clone(),
            );
            let entry = seen.entry(identity).or_default();
            if let Some(chunk) = run.chunk {
                entry.0.insert(chunk);
            }
            for (i, a) in test.attempts.iter().enumerate() {
                entry.1.push(Observation {
                    run: run.key.clone(),
                    chunk: run.chunk,
                    attempt: i + 1,
                    status: a.status.clone(),
                    raw_status: a.raw_status.clone(),
                    expected: a.expected,
                    known_intermittent: a.known_intermittent.clone(),
                });
            }
        }
    }
    seen.into_iter()
        .filter(|(_, (_, results))| {
            results.iter().any(|o| o.status == "pass")
                && results
                    .iter()
                    .any(|o| o.status == "fail" || o.status == "error")
        })
        .map(|((path, classname, name), (chunks, results))| FlakyTest {
            known_intermittent: results
                .iter()
                .filter(|o| o.status == "fail" || o.status == "error")
                .all(Observation::is_known_intermittent),
            path,
            classname,
            name,
            chunks: chunks.into_iter().collect(),
            results,
        })
        .collect()
}

//! One aggregation end to end: locate the runs, wait-state check, combine their JUnit, judge
//! every test against history, add the disruption suite, write the outputs, and decide the
//! overall outcome.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value as Json;

use super::combine::{AggSuite, Combined, Counts, EntryKind, EntryRule, SUITE_SEPARATOR};
use super::config::{Mode, Settings};
use super::disruption::{self, BackendStats, CheckResult, HistoryFile, PercentilePolicy};
use super::error::AggregateError;
use super::history::{self, HistoryIndex, StoredRun};
use super::output::{
    self, ConfigRun, Details, OutCase, OutSuite, RunRef, aggregation_config_yaml, artifact_url,
    details_yaml, human_url,
};
use super::runs::{self, DroppedFile, FoundRun, Selection, SidecarMatch};
use super::stats::RequiredPasses;
use super::verdict::{History, HistorySource, INFORMING_PREFIX, Policy, Rule, Status, Verdict};
use flakewatch_core::time::Timestamp;

/// Where the historical pass rates come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HistoryInput {
    /// None at all: every test gets the new-test default.
    None,
    /// Rows shaped like `TestRuns_Summary_Last200Runs`, in a JSON file.
    Rows(PathBuf),
    /// Stored runs of the job (`<dir>/<run-id>/...`): the files backend computes the rows.
    Runs(PathBuf),
}

/// What to aggregate and where.
#[derive(Clone, Debug)]
pub struct Request {
    /// The job name.
    pub job: String,
    /// Which runs belong to the aggregation.
    pub selection: Selection,
    /// The directory holding one directory per run.
    pub runs_dir: PathBuf,
    /// Exactly these run IDs (static run info) instead of matching `prowjob.json`.
    pub run_ids: Option<Vec<String>>,
    /// The bucket prefix of the runs (`--explicit-gcs-prefix`); default `logs/<job>`.
    pub gcs_prefix: Option<String>,
    /// The payload tag naming the output directory when the selection has none.
    pub label: Option<String>,
    /// Historical pass rates.
    pub history: HistoryInput,
    /// Historical disruption (raw rows or statistics).
    pub disruption_history: Option<PathBuf>,
    /// The job's topology (`single` skips the disruption suite).
    pub topology: Option<String>,
    /// The variant registry (`JobsWithVariants` rows as a JSON array).
    pub variants: Option<PathBuf>,
    /// "Now", for the history windows.
    pub now: Timestamp,
    /// Where the files go (`<dir>/<job>/<tag>/...`); `None` writes nothing.
    pub working_dir: Option<PathBuf>,
}

/// The overall outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every blocking test passed.
    Pass,
    /// At least one blocking test failed aggregation.
    Regression,
    /// Not enough data to judge (improved mode: every blocking failure is "too few attempts";
    /// both modes: no expected suite ran).
    InsufficientData,
}

impl Outcome {
    /// The exit code `flakewatch aggregate` documents: 0, 1, 2.
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Pass => 0,
            Outcome::Regression => 1,
            Outcome::InsufficientData => 2,
        }
    }
}

/// One test in the JSON summary.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TestReport {
    /// Suite path joined with `|||`.
    pub suite: String,
    /// Test name.
    pub name: String,
    /// The lifecycle attribute.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<String>,
    /// Whether a failure fails the aggregation (not `informing`).
    pub blocking: bool,
    /// The verdict with its numbers.
    #[serde(flatten)]
    pub verdict: Verdict,
    /// The `<failure message>` (with the informing prefix).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_message: Option<String>,
    /// The exemption's raw outcome when an always-pass rule decided (R2).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exempted: Option<Exemption>,
    /// Runs where the test is absent (improved mode, B11).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub absent_runs: Vec<String>,
}

/// What an exemption hid.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Exemption {
    /// The rule's reason.
    pub reason: String,
    /// Runs with a pass.
    pub passes: u32,
    /// Runs with only failures.
    pub failures: u32,
}

/// One run in the summary.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunReport {
    /// Run ID.
    pub id: String,
    /// Finished (aggregated) or not (ignored).
    pub finished: bool,
    /// Prow state.
    pub state: String,
    /// Prow page.
    pub human_url: String,
}

/// One disruption testcase in the summary.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DisruptionReport {
    /// Testcase name.
    pub name: String,
    /// The result.
    #[serde(flatten)]
    pub result: CheckResult,
}

/// The JSON summary (`aggregation-summary.json`, schema 1).
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Schema version.
    pub schema: u32,
    /// The job.
    pub job: String,
    /// Payload tag or aggregation ID.
    pub label: String,
    /// The mode.
    pub mode: Mode,
    /// The outcome.
    pub outcome: Outcome,
    /// The exit code.
    pub exit_code: u8,
    /// Upstream's overall error message, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Every threshold used.
    pub settings: Settings,
    /// Where history came from and how many rows it had.
    pub history: String,
    /// Runs, finished and not.
    pub runs: Vec<RunReport>,
    /// JUnit files left out.
    pub dropped_files: Vec<DroppedFile>,
    /// Every test.
    pub tests: Vec<TestReport>,
    /// Failed testcases per top-level suite.
    pub suite_failures: BTreeMap<String, usize>,
    /// The disruption testcases (absent when the suite was skipped).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disruption: Option<Vec<DisruptionReport>>,
    /// Why the disruption suite was skipped, if it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disruption_skipped: Option<String>,
}

/// The result of an aggregation.
#[derive(Clone, Debug)]
pub struct Aggregation {
    /// The outcome.
    pub outcome: Outcome,
    /// The JSON summary.
    pub report: Report,
    /// `junit-aggregated.xml`.
    pub junit_xml: String,
    /// `aggregation-config.yaml`.
    pub config_yaml: String,
    /// The Markdown summary.
    pub markdown: String,
    /// Upstream's stdout lines for failed testcases (`Test Failed! ...`).
    pub console: String,
    /// The directory the files were written to.
    pub output_dir: Option<PathBuf>,
}

const OVERALL_ERROR: &str = "Some tests failed aggregation.  See above for details.";

/// Runs one aggregation.
pub fn aggregate(request: &Request, settings: &Settings) -> Result<Aggregation, AggregateError> {
    settings.validate()?;
    let label = match (&request.selection, &request.label) {
        (Selection::Payload(t) | Selection::Aggregation(t), _) => t.clone(),
        (Selection::All, Some(l)) => l.clone(),
        (Selection::All, None) => String::new(),
    };
    let found = match &request.run_ids {
        Some(ids) => runs::static_runs(&request.runs_dir, ids)?,
        None => runs::find_runs(&request.runs_dir, &request.job, &request.selection)?,
    };
    if found.is_empty() {
        return Err(AggregateError::NoRuns {
            job: request.job.clone(),
            tag: label,
        });
    }
    let (finished, unfinished): (Vec<FoundRun>, Vec<FoundRun>) =
        found.into_iter().partition(|r| r.finished);
    if unfinished.len() > settings.max_unfinished {
        return Err(AggregateError::TooManyUnfinished {
            job: request.job.clone(),
            tag: label,
            count: unfinished.len(),
            ids: unfinished
                .iter()
                .map(|r| r.id.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let bucket = settings.url_bucket().to_owned();
    let prefix = request
        .gcs_prefix
        .clone()
        .unwrap_or_else(|| format!("logs/{}", request.job));
    let run_ref = |id: &str| {
        let root = format!("{prefix}/{id}");
        RunRef::new(
            id.to_owned(),
            human_url(&bucket, &root),
            artifact_url(&bucket, &root),
        )
    };
    let refs: Vec<RunRef> = finished.iter().map(|r| run_ref(&r.id)).collect();

    // Combine.
    let rule = match settings.mode {
        Mode::Compat => EntryRule::Upstream,
        Mode::Improved => EntryRule::Attempts,
    };
    let mut combined = Combined::new();
    let mut dropped = Vec::new();
    for (i, run) in finished.iter().enumerate() {
        runs::add_junit(
            run,
            i as u32,
            &mut combined,
            rule,
            settings.mode == Mode::Compat,
            &mut dropped,
        );
    }

    // History.
    let (history, history_note) = load_history(request, settings)?;

    // Verdicts.
    let policy = Policy::from_settings(settings);
    let mut tests = Vec::with_capacity(combined.test_count());
    let mut out_suites: Vec<OutSuite> = combined
        .suites
        .iter()
        .map(|s| {
            judge_suite(
                s,
                &mut Vec::new(),
                &request.job,
                settings,
                &policy,
                &history,
                &refs,
                &mut tests,
            )
        })
        .collect();

    // Variants and disruption.
    let registry = match &request.variants {
        Some(path) => Some(read_registry(path)?),
        None => None,
    };
    let job_row = registry.as_ref().and_then(|rows| {
        rows.iter()
            .find(|r| r["JobName"].as_str() == Some(&request.job))
    });
    let topology = request
        .topology
        .clone()
        .or_else(|| job_row.and_then(|r| r["Topology"].as_str().map(str::to_owned)));
    let mut disruption_cases = None;
    let mut disruption_skipped = None;
    if topology.as_deref() == Some("single") {
        disruption_skipped = Some("single-node topology".to_owned());
    } else {
        let (suite, cases) = disruption_suite(
            request,
            settings,
            &policy.required,
            &finished,
            &run_ref,
            registry.as_deref(),
        )?;
        out_suites.push(suite);
        disruption_cases = Some(cases);
    }

    // Overall.
    let expected_ran = out_suites.iter().any(suite_matches_expected);
    let blocking_failures: Vec<&TestReport> = tests
        .iter()
        .filter(|t| t.blocking && t.verdict.status == Status::Failed)
        .collect();
    let disruption_failed = disruption_cases
        .as_ref()
        .is_some_and(|c: &Vec<DisruptionReport>| {
            c.iter().any(|d| d.result.status == Status::Failed)
        });
    let any_failed = !blocking_failures.is_empty() || disruption_failed;
    let (outcome, error) = if !expected_ran {
        (
            Outcome::InsufficientData,
            Some(AggregateError::NoExpectedSuite.to_string()),
        )
    } else if !any_failed {
        (Outcome::Pass, None)
    } else if settings.mode == Mode::Improved
        && !disruption_failed
        && blocking_failures
            .iter()
            .all(|t| t.verdict.rule == Rule::TooFewAttempts)
    {
        (Outcome::InsufficientData, Some(OVERALL_ERROR.to_owned()))
    } else {
        (Outcome::Regression, Some(OVERALL_ERROR.to_owned()))
    };

    let mut suite_failures = BTreeMap::new();
    for s in &out_suites {
        suite_failures.insert(s.name.clone(), s.failures);
    }
    let junit_xml = output::junit_xml(&out_suites);
    let mut console = String::new();
    for s in &out_suites {
        // Upstream wraps the suites in a nameless suite under "root": `root    <suite>`.
        console_failures(&mut vec!["root".to_owned(), String::new()], s, &mut console);
    }

    let config_run = |r: &FoundRun, status: &str| {
        let rr = run_ref(&r.id);
        ConfigRun {
            job: request.job.clone(),
            id: r.id.clone(),
            human_url: rr.human_url,
            gcs_bucket_url: rr.gcs_artifact_url,
            status: status.to_owned(),
        }
    };
    let mut finished_cfg: Vec<ConfigRun> = Vec::new();
    let mut unfinished_cfg: Vec<ConfigRun> = Vec::new();
    for r in &unfinished {
        match settings.mode {
            Mode::Compat => finished_cfg.push(config_run(r, "unknown")),
            Mode::Improved => unfinished_cfg.push(config_run(r, "unknown")),
        }
    }
    for r in &finished {
        finished_cfg.push(config_run(r, &r.state));
    }
    let config_yaml = aggregation_config_yaml(&unfinished_cfg, &finished_cfg);

    let mut run_reports: Vec<RunReport> = finished
        .iter()
        .chain(&unfinished)
        .map(|r| RunReport {
            id: r.id.clone(),
            finished: r.finished,
            state: r.state.clone(),
            human_url: run_ref(&r.id).human_url,
        })
        .collect();
    run_reports.sort_by(|a, b| a.id.cmp(&b.id));

    if let Some(rows) = &registry
        && job_row.is_none()
        && !rows.is_empty()
    {
        return Err(AggregateError::UnknownVariant(request.job.clone()));
    }

    let report = Report {
        schema: 1,
        job: request.job.clone(),
        label: label.clone(),
        mode: settings.mode,
        outcome,
        exit_code: outcome.exit_code(),
        error,
        settings: settings.clone(),
        history: history_note,
        runs: run_reports,
        dropped_files: dropped,
        tests,
        suite_failures,
        disruption: disruption_cases,
        disruption_skipped,
    };
    let markdown = markdown_summary(&report);
    let mut output_dir = None;
    if let Some(dir) = &request.working_dir {
        let out = dir.join(&request.job).join(&label);
        write_all(&out, &junit_xml, &config_yaml, &report, &markdown)?;
        output_dir = Some(out);
    }
    Ok(Aggregation {
        outcome,
        report,
        junit_xml,
        config_yaml,
        markdown,
        console,
        output_dir,
    })
}

fn write_all(
    out: &Path,
    junit: &str,
    config: &str,
    report: &Report,
    markdown: &str,
) -> Result<(), AggregateError> {
    let io = |path: &Path| {
        let path = path.display().to_string();
        move |source| AggregateError::Io { path, source }
    };
    fs::create_dir_all(out).map_err(io(out))?;
    let write = |name: &str, data: &[u8]| {
        let path = out.join(name);
        fs::write(&path, data).map_err(io(&path))
    };
    write("junit-aggregated.xml", junit.as_bytes())?;
    write("aggregation-config.yaml", config.as_bytes())?;
    let json = serde_json::to_vec_pretty(report).map_err(|source| AggregateError::Json {
        path: out.join("aggregation-summary.json").display().to_string(),
        source,
    })?;
    write("aggregation-summary.json", &json)?;
    write("aggregation-summary.md", markdown.as_bytes())
}

/// History lookup for the verdicts.
enum HistoryState {
    None,
    Index(HistoryIndex),
    /// The read failed: every test takes the history-error default (upstream's 99 %).
    Error,
}

fn load_history(
    request: &Request,
    settings: &Settings,
) -> Result<(HistoryState, String), AggregateError> {
    Ok(match &request.history {
        HistoryInput::None => (
            HistoryState::None,
            "none: every test uses the new-test default".to_owned(),
        ),
        HistoryInput::Rows(path) => match history::read_rows(path) {
            Ok(rows) => {
                let index = HistoryIndex::new(rows, &request.job);
                let note = format!("{} rows from {}", index.len(), path.display());
                (HistoryState::Index(index), note)
            }
            Err(err) => (HistoryState::Error, history_error_note(settings, &err)),
        },
        HistoryInput::Runs(dir) => {
            let stored = match runs::find_runs(dir, &request.job, &Selection::All) {
                Ok(stored) => stored,
                Err(err) => return Ok((HistoryState::Error, history_error_note(settings, &err))),
            };
            let stored_refs: Vec<StoredRun> = stored
                .iter()
                .map(|r| StoredRun {
                    id: r.id.clone(),
                    start: r.start,
                })
                .collect();
            let window = history::select_window(
                &stored_refs,
                request.now,
                settings.history_max_runs,
                settings.history_max_days,
            );
            let mut combined = Combined::new();
            let mut dropped = Vec::new();
            for (i, &idx) in window.iter().enumerate() {
                runs::add_junit(
                    &stored[idx],
                    i as u32,
                    &mut combined,
                    EntryRule::Upstream,
                    true,
                    &mut dropped,
                );
            }
            let rows = history::summarize(&combined, &request.job);
            let note = format!(
                "{} rows computed from {} of {} stored runs in {} (last {} runs within {} days)",
                rows.len(),
                window.len(),
                stored.len(),
                dir.display(),
                settings.history_max_runs,
                settings.history_max_days
            );
            (
                HistoryState::Index(HistoryIndex::new(rows, &request.job)),
                note,
            )
        }
    })
}

/// Upstream's message when the history query fails (the verdicts then use the default).
fn history_error_note(settings: &Settings, err: &AggregateError) -> String {
    format!(
        "error getting past reliability data, assume {}% pass: {err}",
        settings.history_error_pass_rate
    )
}

#[allow(
    clippy::too_many_arguments,
    reason = "one recursive walk over the combined tree"
)]
fn judge_suite(
    suite: &AggSuite,
    path: &mut Vec<String>,
    job: &str,
    settings: &Settings,
    policy: &Policy,
    history: &HistoryState,
    refs: &[RunRef],
    tests: &mut Vec<TestReport>,
) -> OutSuite {
    path.push(suite.name.clone());
    let suite_path = path.join(SUITE_SEPARATOR);
    let mut out = OutSuite {
        name: suite.name.clone(),
        ..OutSuite::default()
    };
    for child in &suite.children {
        let c = judge_suite(child, path, job, settings, policy, history, refs, tests);
        out.failures += c.failures;
        out.children.push(c);
    }
    let improved = settings.mode == Mode::Improved;
    for test in &suite.tests {
        let counts = Counts::of(&test.entries);
        let verdict = policy.check(job, &suite_path, &test.name, &counts, || match history {
            HistoryState::None => History::Missing,
            HistoryState::Error => History::Error,
            HistoryState::Index(index) => match index.get(&suite_path, &test.name) {
                Some(row) => History::Row(row.working_percentage),
                None => History::Missing,
            },
        });
        let pick = |kind: EntryKind| -> Vec<&RunRef> {
            test.entries
                .iter()
                .filter(|e| e.kind == kind)
                .map(|e| &refs[e.run as usize])
                .collect()
        };
        let absent: Vec<&RunRef> = if improved {
            let present: HashSet<u32> = test.entries.iter().map(|e| e.run).collect();
            refs.iter()
                .enumerate()
                .filter(|(i, _)| !present.contains(&(*i as u32)))
                .map(|(_, r)| r)
                .collect()
        } else {
            Vec::new()
        };
        let yaml = details_yaml(&Details {
            name: &test.name,
            suite: &suite_path,
            summary: &verdict.summary,
            passes: pick(EntryKind::Pass),
            failures: pick(EntryKind::Failure),
            skips: pick(EntryKind::Skip),
            lifecycle: test.lifecycle.as_deref().filter(|_| improved),
            absent: improved.then(|| absent.clone()),
        });
        let informing = test.lifecycle.as_deref() == Some("informing");
        let failure_message = (verdict.status == Status::Failed).then(|| {
            if informing {
                format!("{INFORMING_PREFIX}{}", verdict.summary)
            } else {
                verdict.summary.clone()
            }
        });
        if verdict.status == Status::Failed {
            out.failures += 1;
        }
        out.cases.push(OutCase {
            name: test.name.clone(),
            lifecycle: test.lifecycle.clone(),
            properties: test.properties.clone(),
            status: verdict.status,
            message: failure_message.clone().unwrap_or_default(),
            system_out: yaml,
        });
        let exempted = (verdict.rule == Rule::AlwaysPass).then(|| Exemption {
            reason: verdict.summary.trim_end().to_owned(),
            passes: counts.passes,
            failures: counts.failures,
        });
        tests.push(TestReport {
            suite: suite_path.clone(),
            name: test.name.clone(),
            lifecycle: test.lifecycle.clone(),
            blocking: !informing,
            verdict,
            failure_message,
            exempted,
            absent_runs: absent.iter().map(|r| r.id.clone()).collect(),
        });
    }
    if improved {
        out.tests = out.cases.len() + out.children.iter().map(|c| c.tests).sum::<usize>();
    }
    // Upstream writes a suite's test cases before its child suites.
    path.pop();
    out
}

fn suite_matches_expected(suite: &OutSuite) -> bool {
    ["openshift-tests", "e2e", "E2E", "BackendDisruption"]
        .iter()
        .any(|p| suite.name.contains(p))
        || suite.children.iter().any(suite_matches_expected)
}

fn console_failures(path: &mut Vec<String>, suite: &OutSuite, out: &mut String) {
    path.push(suite.name.clone());
    for case in &suite.cases {
        if case.status != Status::Failed || (case.message.is_empty() && case.system_out.is_empty())
        {
            continue;
        }
        out.push_str(&format!(
            "Test Failed! suite=[{}], testCase={}\nMessage: {}\n{}\n\n",
            path.join("  "),
            case.name,
            case.message,
            case.system_out
        ));
    }
    for child in &suite.children {
        console_failures(path, child, out);
    }
    path.pop();
}

fn read_registry(path: &Path) -> Result<Vec<Json>, AggregateError> {
    Ok(match super::error::read_json(path)? {
        Json::Array(rows) => rows,
        other => vec![other],
    })
}

/// The same job one release earlier (same variants, releases decremented, same name once the
/// release strings are removed), as upstream's disruption fallback finds it.
fn previous_release_job(registry: &[Json], job: &str) -> Option<String> {
    let row = registry
        .iter()
        .find(|r| r["JobName"].as_str() == Some(job))?;
    let s = |r: &Json, k: &str| r[k].as_str().unwrap_or("").to_owned();
    let decrement = |v: &str| -> Option<String> {
        if v.is_empty() {
            return Some(String::new());
        }
        let (major, minor) = v.split_once('.')?;
        let minor: i64 = minor.split('.').next()?.parse().ok()?;
        Some(format!("{major}.{}", minor - 1))
    };
    let normalize = |name: &str, from: &str, to: &str| {
        let mut n = name.to_owned();
        if !to.is_empty() {
            n = n.replace(to, "");
        }
        if !from.is_empty() {
            n = n.replace(from, "");
        }
        n
    };
    let from = s(row, "FromRelease");
    let to = s(row, "Release");
    let target_from = decrement(&from)?;
    let target_to = decrement(&to)?;
    let normalized = normalize(job, &from, &to);
    registry
        .iter()
        .find(|j| {
            ["Architecture", "Topology", "Network", "Platform", "IPMode"]
                .iter()
                .all(|k| s(j, k) == s(row, k))
                && s(j, "FromRelease") == target_from
                && s(j, "Release") == target_to
                && normalize(&s(j, "JobName"), &s(j, "FromRelease"), &s(j, "Release")) == normalized
        })
        .map(|j| s(j, "JobName"))
}

type RunRefFn<'a> = dyn Fn(&str) -> RunRef + 'a;

fn disruption_suite(
    request: &Request,
    settings: &Settings,
    required: &RequiredPasses,
    finished: &[FoundRun],
    run_ref: &RunRefFn<'_>,
    registry: Option<&[Json]>,
) -> Result<(OutSuite, Vec<DisruptionReport>), AggregateError> {
    let how = match settings.mode {
        Mode::Compat => SidecarMatch::Path,
        Mode::Improved => SidecarMatch::BaseName,
    };
    let mut data: BTreeMap<String, BTreeMap<String, i64>> = BTreeMap::new();
    let mut errors = Vec::new();
    for run in finished {
        match runs::read_disruption(run, how) {
            Ok(Some(m)) => {
                data.insert(run.id.clone(), m);
            }
            Ok(None) => {}
            Err(e) => errors.push(e),
        }
    }
    let mut suite = OutSuite {
        name: "BackendDisruption".into(),
        ..OutSuite::default()
    };
    let mut reports = Vec::new();
    let collect_out = match settings.mode {
        // Upstream keeps the raw data only when marshalling it fails (B3): never.
        Mode::Compat => String::new(),
        Mode::Improved => raw_disruption_yaml(&data),
    };
    if data.len() < 3 {
        if !errors.is_empty() {
            return Err(AggregateError::Disruption(errors.join("; ")));
        }
        suite.failures = 1;
        suite.cases.push(OutCase {
            name: "should collect disruption data".into(),
            lifecycle: None,
            properties: Vec::new(),
            status: Status::Failed,
            message: "not enough data to aggregate".into(),
            system_out: collect_out,
        });
        reports.push(DisruptionReport {
            name: "should collect disruption data".into(),
            result: CheckResult {
                status: Status::Failed,
                message: "not enough data to aggregate".into(),
                failures: Vec::new(),
                successes: data.keys().cloned().collect(),
                required: None,
            },
        });
        return Ok((suite, reports));
    }
    suite.cases.push(OutCase {
        name: "should collect disruption data".into(),
        lifecycle: None,
        properties: Vec::new(),
        status: Status::Passed,
        message: String::new(),
        system_out: collect_out,
    });

    // History.
    // Upstream reads the runs in order until one says Y (any case); otherwise the last run
    // that says anything decides.
    let mut master: Option<String> = None;
    for run in finished {
        if master
            .as_deref()
            .is_some_and(|m| m.eq_ignore_ascii_case("Y"))
        {
            break;
        }
        if let Some(flag) = runs::master_nodes_updated(run, how) {
            master = Some(flag);
        }
    }
    let mut fallback = None;
    let history: Result<BTreeMap<String, BackendStats>, String> = match &request.disruption_history
    {
        None => Ok(BTreeMap::new()),
        Some(path) => match disruption::read_history_file(path) {
            Err(e) => Err(e.to_string()),
            Ok(HistoryFile::Stats(stats)) => Ok(stats),
            Ok(HistoryFile::Raw(rows)) => {
                let mut job = request.job.clone();
                if disruption::runs_older_than_three_days(&rows, &job, request.now) < 100 {
                    // Upstream falls back to the same job when no earlier one matches, and
                    // still says so (compat); improved mode says so only for another job.
                    match registry.and_then(|r| previous_release_job(r, &job)) {
                        Some(prev) => {
                            fallback = Some(prev.clone());
                            job = prev;
                        }
                        None if settings.mode == Mode::Compat => fallback = Some(job.clone()),
                        None => {}
                    }
                }
                Ok(disruption::history_from_rows(
                    &rows,
                    &job,
                    request.now,
                    master.as_deref(),
                ))
            }
        },
    };
    let prefix = fallback
        .as_ref()
        .map(|j| format!("(Using previous release historical data from job: {j})\n"))
        .unwrap_or_default();
    let backends = disruption::backends(
        data.values().flat_map(|m| m.keys().cloned()),
        &settings.required_backends,
        &settings.excluded_backend_fragments,
    );
    let policy = PercentilePolicy {
        required: required.clone(),
        pity_allowance: settings.pity_allowance,
    };
    let checks: [(&str, Option<(u32, u32)>); 3] = [
        (
            "{} disruption P70 should not be worse",
            Some((70, settings.p70_grace)),
        ),
        (
            "{} disruption P85 should not be worse",
            Some((85, settings.p85_grace)),
        ),
        (
            "{} mean disruption should be less than historical plus five standard deviations",
            None,
        ),
    ];
    for (pattern, percentile) in checks {
        for backend in &backends {
            let runs_for: Vec<(String, i64)> = data
                .iter()
                .filter_map(|(id, m)| m.get(backend).map(|s| (id.clone(), *s)))
                .collect();
            let mut all_ids: Vec<String> = runs_for.iter().map(|(id, _)| id.clone()).collect();
            all_ids.sort();
            let result = match &history {
                Err(e) => CheckResult {
                    status: Status::Skipped,
                    message: format!("error getting historical disruption data, skipping: {e}\n"),
                    failures: all_ids,
                    successes: Vec::new(),
                    required: None,
                },
                Ok(h) => match h.get(backend) {
                    None => CheckResult {
                        status: Status::Skipped,
                        message: "We have no historical data.".into(),
                        failures: all_ids,
                        successes: Vec::new(),
                        required: None,
                    },
                    Some(stats) => match percentile {
                        Some((p, grace)) => {
                            let mut r =
                                disruption::check_percentile(&policy, &runs_for, stats, p, grace);
                            r.message = format!("{prefix}{}", r.message);
                            r
                        }
                        None => disruption::check_mean(&runs_for, stats, backend, &prefix),
                    },
                },
            };
            let name = pattern.replace("{}", backend);
            let refs = |ids: &[String]| ids.iter().map(|id| run_ref(id)).collect::<Vec<_>>();
            let passes = refs(&result.successes);
            let failures = refs(&result.failures);
            let yaml = details_yaml(&Details {
                name: &name,
                suite: "aggregated-disruption",
                summary: &result.message,
                passes: passes.iter().collect(),
                failures: failures.iter().collect(),
                skips: Vec::new(),
                lifecycle: None,
                absent: None,
            });
            if result.status == Status::Failed {
                suite.failures += 1;
            }
            suite.cases.push(OutCase {
                name: name.clone(),
                lifecycle: None,
                properties: Vec::new(),
                status: result.status,
                message: if result.status == Status::Passed {
                    String::new()
                } else {
                    result.message.clone()
                },
                system_out: yaml,
            });
            reports.push(DisruptionReport { name, result });
        }
    }
    if settings.mode == Mode::Improved {
        suite.tests = suite.cases.len();
    }
    Ok((suite, reports))
}

fn raw_disruption_yaml(data: &BTreeMap<String, BTreeMap<String, i64>>) -> String {
    use super::yaml::Value;
    let doc = Value::Map(
        data.iter()
            .map(|(run, backends)| {
                (
                    run.clone(),
                    Value::Map(
                        backends
                            .iter()
                            .map(|(b, s)| {
                                (
                                    b.clone(),
                                    Value::Map(vec![
                                        ("servername".into(), Value::Str(b.clone())),
                                        (
                                            "secondsunavailable".into(),
                                            Value::Int((*s).max(0) as u64),
                                        ),
                                    ]),
                                )
                            })
                            .collect(),
                    ),
                )
            })
            .collect(),
    );
    super::yaml::to_string(&doc)
}

fn markdown_summary(report: &Report) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Aggregation of `{}` for `{}`\n",
        report.job, report.label
    );
    let _ = writeln!(
        out,
        "**Outcome: {}** (exit code {}, mode `{}`){}\n",
        match report.outcome {
            Outcome::Pass => "pass",
            Outcome::Regression => "regression",
            Outcome::InsufficientData => "insufficient data",
        },
        report.exit_code,
        report.mode.name(),
        report
            .error
            .as_ref()
            .map(|e| format!(": {e}"))
            .unwrap_or_default()
    );
    let finished = report.runs.iter().filter(|r| r.finished).count();
    let _ = writeln!(
        out,
        "Runs: {finished} aggregated, {} unfinished and ignored. History: {}.\n",
        report.runs.len() - finished,
        report.history
    );
    let s = &report.settings;
    let _ = writeln!(
        out,
        "Rule: one-sided Fisher exact test (α = {}, corpus {} runs, leniency {}), pity factor {} failures, minimum {} attempts; new tests {} %, history errors {} %.\n",
        s.alpha,
        s.corpus_size,
        s.leniency,
        s.pity_allowance,
        s.min_attempts,
        s.new_test_pass_rate,
        s.history_error_pass_rate
    );
    let failed: Vec<Vec<String>> = report
        .tests
        .iter()
        .filter(|t| t.verdict.status == Status::Failed)
        .map(test_row)
        .collect();
    md_section(
        &mut out,
        &format!("Failed tests ({})", failed.len()),
        &TEST_COLUMNS,
        &failed,
    );
    let flaked: Vec<Vec<String>> = report
        .tests
        .iter()
        .filter(|t| t.verdict.status == Status::Passed && t.verdict.flakes > 0)
        .map(test_row)
        .collect();
    md_section(
        &mut out,
        &format!("Passed with flakes ({})", flaked.len()),
        &TEST_COLUMNS,
        &flaked,
    );
    let exempted: Vec<Vec<String>> = report
        .tests
        .iter()
        .filter_map(|t| {
            t.exempted.as_ref().filter(|e| e.failures > 0).map(|e| {
                vec![
                    t.suite.clone(),
                    t.name.clone(),
                    e.passes.to_string(),
                    e.failures.to_string(),
                    e.reason.clone(),
                ]
            })
        })
        .collect();
    md_section(
        &mut out,
        &format!("Exemptions that hid failures ({})", exempted.len()),
        &["suite", "test", "passes", "failures", "rule"],
        &exempted,
    );
    if let Some(cases) = &report.disruption {
        let rows: Vec<Vec<String>> = cases
            .iter()
            .filter(|c| c.result.status != Status::Passed)
            .map(|c| {
                vec![
                    c.name.clone(),
                    format!("{:?}", c.result.status).to_lowercase(),
                    c.result.message.trim().to_owned(),
                ]
            })
            .collect();
        md_section(
            &mut out,
            &format!(
                "Disruption ({} checks, {} not passed)",
                cases.len(),
                rows.len()
            ),
            &["check", "status", "message"],
            &rows,
        );
    } else if let Some(why) = &report.disruption_skipped {
        let _ = writeln!(out, "## Disruption\n\nSkipped: {why}.\n");
    }
    if !report.dropped_files.is_empty() {
        let rows: Vec<Vec<String>> = report
            .dropped_files
            .iter()
            .map(|d| vec![d.run.clone(), d.file.clone(), d.reason.clone()])
            .collect();
        md_section(
            &mut out,
            &format!("JUnit files not used ({})", rows.len()),
            &["run", "file", "reason"],
            &rows,
        );
    }
    out
}

/// A Markdown section: the heading, then the table when there are rows.
fn md_section(out: &mut String, heading: &str, header: &[&str], rows: &[Vec<String>]) {
    out.push_str("## ");
    out.push_str(heading);
    out.push_str("\n\n");
    if !rows.is_empty() {
        output::md_table(out, header, rows);
        out.push('\n');
    }
}

/// The columns of [`test_row`].
const TEST_COLUMNS: [&str; 8] = [
    "suite",
    "test",
    "blocking",
    "passes",
    "failures",
    "history %",
    "required",
    "summary",
];

fn test_row(t: &TestReport) -> Vec<String> {
    vec![
        t.suite.clone(),
        t.name.clone(),
        if t.blocking { "yes" } else { "no" }.to_owned(),
        t.verdict.passes.to_string(),
        t.verdict.failures.to_string(),
        match (t.verdict.working_percentage, t.verdict.history) {
            (Some(w), Some(HistorySource::Row)) => w.to_string(),
            (Some(w), Some(_)) => format!("{w} (default)"),
            _ => String::new(),
        },
        t.verdict
            .required
            .map(|r| r.to_string())
            .unwrap_or_default(),
        t.verdict.summary.trim_end().to_owned(),
    ]
}

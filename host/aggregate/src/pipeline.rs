//! One aggregation end to end: locate the runs, wait-state check, combine their JUnit, judge
//! every test against history, add the disruption suite, write the outputs, and decide the
//! overall outcome.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};

use super::combine::{
    AggSuite, Combined, EntryKind, EntryRule, FlakeRule, RunCounts, SUITE_SEPARATOR,
};
use super::config::{Mode, Settings};
use super::error::AggregateError;
use super::history::{self, HistoryIndex, StoredRun};
use super::output::{
    self, ConfigRun, Details, OutCase, OutSuite, RunRef, aggregation_config_yaml, artifact_url,
    details_yaml, human_url,
};
use super::runs::{self, FoundRun, Selection};
use super::verdict::{CheckStatus, History, INFORMING_PREFIX, Policy, Rule};
use crate::disruption_suite::disruption_suite;
use crate::registry::Registry;
pub use crate::request::{HistoryInput, Request};
pub use crate::summary::{DisruptionReport, Exemption, Outcome, Report, RunReport, TestReport};
use crate::wait::{self, Clock, WaitPolicy, WaitReport};

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

/// Runs one aggregation on the runs as they are now.
pub fn aggregate(request: &Request, settings: &Settings) -> Result<Aggregation, AggregateError> {
    settings.validate()?;
    let registry = read_registry(request)?;
    let found = locate_runs(request)?;
    aggregate_found(request, settings, registry.as_ref(), found, None)
}

/// Runs one aggregation after waiting for its runs as `analyze-job-runs` does
/// ([`wait::wait_for_runs`]): the runs are re-read (the directory listed again, every run's
/// state read again) until none is unfinished or the policy's stop time passes, then
/// judged; runs still unfinished are treated as [`aggregate`] treats them. `event` receives
/// the wait's progress lines.
pub fn aggregate_waiting(
    request: &Request,
    settings: &Settings,
    clock: &mut dyn Clock,
    policy: &WaitPolicy,
    event: &mut dyn FnMut(&str),
) -> Result<Aggregation, AggregateError> {
    settings.validate()?;
    let registry = read_registry(request)?;
    let waited = wait::wait_for_runs(
        clock,
        policy,
        || locate_runs(request),
        |r: &FoundRun| r.finished,
        |r: &FoundRun| r.id.clone(),
        event,
    )?;
    aggregate_found(
        request,
        settings,
        registry.as_ref(),
        waited.runs,
        Some(waited.report),
    )
}

/// The variant registry, read and checked before anything else: a registry that does not
/// list the job fails the aggregation (upstream's message).
fn read_registry(request: &Request) -> Result<Option<Registry>, AggregateError> {
    let registry = request
        .variants
        .as_deref()
        .map(Registry::read)
        .transpose()?;
    if let Some(registry) = &registry
        && !registry.is_empty()
        && registry.job(&request.job).is_none()
    {
        return Err(AggregateError::UnknownVariant(request.job.clone()));
    }
    Ok(registry)
}

/// The runs of the request as they are on disk now: the static run IDs, or the run
/// directories matching the job and selection.
pub fn locate_runs(request: &Request) -> Result<Vec<FoundRun>, AggregateError> {
    match &request.run_ids {
        Some(ids) => runs::static_runs(&request.runs_dir, ids),
        None => runs::find_runs(&request.runs_dir, &request.job, &request.selection),
    }
}

fn aggregate_found(
    request: &Request,
    settings: &Settings,
    registry: Option<&Registry>,
    found: Vec<FoundRun>,
    wait: Option<WaitReport>,
) -> Result<Aggregation, AggregateError> {
    let label = match (&request.selection, &request.label) {
        (Selection::Payload(t) | Selection::Aggregation(t), _) => t.clone(),
        (Selection::All, Some(l)) => l.clone(),
        (Selection::All, None) => String::new(),
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
    let topology = request.topology.clone().or_else(|| {
        registry
            .and_then(|r| r.job(&request.job))
            .map(|j| j.topology.clone())
            .filter(|t| !t.is_empty())
    });
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
            registry,
        )?;
        out_suites.push(suite);
        disruption_cases = Some(cases);
    }

    // Overall.
    let expected_ran = out_suites.iter().any(suite_matches_expected);
    let blocking_failures: Vec<&TestReport> = tests
        .iter()
        .filter(|t| t.blocking && t.verdict.status == CheckStatus::Failed)
        .collect();
    let disruption_failed = disruption_cases
        .as_ref()
        .is_some_and(|c: &Vec<DisruptionReport>| {
            c.iter().any(|d| d.result.status == CheckStatus::Failed)
        });
    let any_failed = !blocking_failures.is_empty() || disruption_failed;
    // Improved mode: failures that are only "too few attempts" are a lack of data.
    let only_too_few = settings.mode == Mode::Improved
        && !disruption_failed
        && blocking_failures
            .iter()
            .all(|t| t.verdict.rule == Rule::TooFewAttempts);
    // A real failure wins over everything, as upstream's analyzer checks failures first.
    let (outcome, error) = if any_failed && !only_too_few {
        (Outcome::Regression, Some(OVERALL_ERROR.to_owned()))
    } else if !expected_ran {
        (
            Outcome::InsufficientData,
            Some(AggregateError::NoExpectedSuite.to_string()),
        )
    } else if any_failed {
        (Outcome::InsufficientData, Some(OVERALL_ERROR.to_owned()))
    } else {
        (Outcome::Pass, None)
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
        wait,
    };
    let markdown = output::markdown_summary(&report);
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
        HistoryInput::Provided { source, rows } => match rows {
            Ok(rows) => {
                let index = HistoryIndex::new(rows.clone(), &request.job);
                let note = format!("{} rows from {source}", index.len());
                (HistoryState::Index(index), note)
            }
            Err(err) => (HistoryState::Error, history_error_note(settings, err)),
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
fn history_error_note(settings: &Settings, err: &dyn std::fmt::Display) -> String {
    let note = format!(
        "error getting past reliability data, assume {}% pass: {err}",
        settings.history_error_pass_rate
    );
    // Upstream goes on with the default; say so where people look, not only in the summary.
    tracing::warn!("{note}");
    note
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
        let counts = RunCounts::with_rule(&test.entries, settings.flake);
        let verdict = policy.check(job, &suite_path, &test.name, &counts, || match history {
            HistoryState::None => History::Missing,
            HistoryState::Error => History::Error,
            HistoryState::Index(index) => match index.get(&suite_path, &test.name) {
                // A flaked historical run is a failure too when flakes fail today.
                Some(row) if settings.flake == FlakeRule::FlakeIsFailure => {
                    History::Row(row.pass_percentage)
                }
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
        let failure_message = (verdict.status == CheckStatus::Failed).then(|| {
            if informing {
                format!("{INFORMING_PREFIX}{}", verdict.summary)
            } else {
                verdict.summary.clone()
            }
        });
        if verdict.status == CheckStatus::Failed {
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
        if case.status != CheckStatus::Failed
            || (case.message.is_empty() && case.system_out.is_empty())
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

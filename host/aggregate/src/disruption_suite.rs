//! The disruption suite of an aggregation: each run's disruption side-car checked against
//! historical percentiles (with upstream's fallback to the previous release's job), as
//! test cases of a `BackendDisruption` suite.

use std::collections::BTreeMap;

use crate::config::{Mode, Settings};
use crate::disruption::{self, BackendStats, CheckResult, HistoryFile, PercentilePolicy};
use crate::error::AggregateError;
use crate::output::{Details, OutCase, OutSuite, RunRef, details_yaml};
use crate::registry::Registry;
use crate::request::Request;
use crate::runs::{self, FoundRun, SidecarMatch};
use crate::stats::RequiredPasses;
use crate::summary::DisruptionReport;
use crate::verdict::CheckStatus;

/// How a run ID becomes its links.
pub(crate) type RunRefFn<'a> = dyn Fn(&str) -> RunRef + 'a;

/// The disruption suite of one aggregation: every finished run's disruption side-car checked
/// against the history's percentiles, one test case per backend.
pub(crate) fn disruption_suite(
    request: &Request,
    settings: &Settings,
    required: &RequiredPasses,
    finished: &[FoundRun],
    run_ref: &RunRefFn<'_>,
    registry: Option<&Registry>,
) -> Result<(OutSuite, Vec<DisruptionReport>), AggregateError> {
    let how = match settings.mode {
        Mode::Compat => SidecarMatch::Path,
        Mode::Improved => SidecarMatch::BaseName,
    };
    // The history file is read first: an unreadable one is a configuration error (exit 3)
    // whatever the runs hold.
    let history_file = request
        .disruption_history
        .as_deref()
        .map(disruption::read_history_file)
        .transpose()?;
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
            status: CheckStatus::Failed,
            message: "not enough data to aggregate".into(),
            system_out: collect_out,
        });
        reports.push(DisruptionReport {
            name: "should collect disruption data".into(),
            result: CheckResult {
                status: CheckStatus::Failed,
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
        status: CheckStatus::Passed,
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
    let history: Result<BTreeMap<String, BackendStats>, String> = match history_file {
        None => Ok(BTreeMap::new()),
        Some(file) => match file {
            HistoryFile::Stats(stats) => Ok(stats),
            HistoryFile::Raw(rows) => {
                let mut job = request.job.clone();
                if disruption::runs_older_than_three_days(&rows, &job, request.now) < 100 {
                    // Upstream falls back to the same job when no earlier one matches, and
                    // still says so (compat); improved mode says so only for another job.
                    match registry
                        .and_then(|r| r.previous_release_job(&job))
                        .map(str::to_owned)
                    {
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
                    status: CheckStatus::Skipped,
                    message: format!("error getting historical disruption data, skipping: {e}\n"),
                    failures: all_ids,
                    successes: Vec::new(),
                    required: None,
                },
                Ok(h) => match h.get(backend) {
                    None => CheckResult {
                        status: CheckStatus::Skipped,
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
            if result.status == CheckStatus::Failed {
                suite.failures += 1;
            }
            suite.cases.push(OutCase {
                name: name.clone(),
                lifecycle: None,
                properties: Vec::new(),
                status: result.status,
                message: if result.status == CheckStatus::Passed {
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
    use crate::yaml::Value;
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
    crate::yaml::to_string(&doc)
}

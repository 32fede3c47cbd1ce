//! `flakewatch aggregate`: judge the parallel runs of one job for one payload (or aggregation
//! ID) against each test's history, as OpenShift's `job-run-aggregator analyze-job-runs`
//! does, and write `junit-aggregated.xml` and the summaries (`docs/aggregate.md`).
//!
//! Exit codes: 0 every blocking test passed, 1 regression, 2 insufficient data (too many
//! unfinished runs, no run found, no expected suite ran, improved mode: only too-few-attempts
//! failures), 3 configuration or infrastructure error (usage errors included).

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};
use serde_json::Value as Json;

use flakewatch_aggregate::history::row_from_counts;
use flakewatch_aggregate::runs::Selection;
use flakewatch_plugin_sdk::model::TestHistoryRequest;
use flakewatch_results::ResultsStore;

use crate::plugin_options::PluginOptions;
use flakewatch_aggregate::wait::{SystemClock, WaitPolicy};
use flakewatch_aggregate::{
    AggregateError, ConfigFile, HistoryInput, Mode, Request, Settings, aggregate, aggregate_waiting,
};
use flakewatch_core::time::Timestamp;

/// Exit code for insufficient data.
pub(crate) const EXIT_INSUFFICIENT: u8 = 2;
/// Exit code for configuration and infrastructure errors.
pub(crate) const EXIT_CONFIG: u8 = 3;

/// The `--mode` choices.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// Upstream's behaviour and outputs, bugs that change outputs included.
    Compat,
    /// Upstream's known bugs fixed (see docs/aggregate.md).
    Improved,
}

impl From<ModeArg> for Mode {
    fn from(m: ModeArg) -> Mode {
        match m {
            ModeArg::Compat => Mode::Compat,
            ModeArg::Improved => Mode::Improved,
        }
    }
}

/// Arguments of `flakewatch aggregate`.
#[derive(Debug, Args)]
pub(crate) struct AggregateArgs {
    /// The job whose runs are aggregated.
    #[arg(long)]
    pub job: String,
    /// Payload mode: runs whose `release.openshift.io/tag` annotation is this tag.
    #[arg(long, conflicts_with = "aggregation_id")]
    pub payload_tag: Option<String>,
    /// PR mode: runs labelled `release.openshift.io/aggregation-id` with this ID.
    #[arg(long)]
    pub aggregation_id: Option<String>,
    /// The directory holding one directory per run (`<id>/prowjob.json`, `finished.json`,
    /// `artifacts/...`), laid out as the CI bucket is.
    #[arg(long, value_name = "DIR")]
    pub runs: PathBuf,
    /// A JSON array of `{JobName, JobRunID}`: aggregate exactly these runs (keys match
    /// case-insensitively, as upstream's).
    #[arg(long, value_name = "FILE", conflicts_with = "static_run_info_json")]
    pub static_run_info_path: Option<PathBuf>,
    /// The same as `--static-run-info-path`, inline.
    #[arg(long, value_name = "JSON")]
    pub static_run_info_json: Option<String>,
    /// The bucket prefix of the runs in result URLs (default `logs/<job>`).
    #[arg(long, value_name = "PREFIX")]
    pub explicit_gcs_prefix: Option<String>,
    /// Historical pass rates: a JSON array of `TestRuns_Summary_Last200Runs` rows.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["history_runs", "history_from"])]
    pub history: Option<PathBuf>,
    /// Historical pass rates computed from stored runs of the job (one directory per run):
    /// its last runs within the window (`history_max_runs`, `history_max_days`).
    #[arg(long, value_name = "DIR", conflicts_with = "history_from")]
    pub history_runs: Option<PathBuf>,
    /// Historical pass rates computed by a test-results store (a plugin providing
    /// `test_results`, e.g. `files` with --data DIR, or `postgres`) from the job's runs stored
    /// with `ingest --store`, over the same window as --history-runs.
    #[arg(long, value_name = "STORE")]
    pub history_from: Option<String>,
    /// The store's plugin libraries and options (with --history-from).
    #[command(flatten)]
    pub plugin: PluginOptions,
    /// Historical disruption: raw `BackendDisruption` rows or per-backend statistics rows.
    #[arg(long, value_name = "FILE")]
    pub disruption_history: Option<PathBuf>,
    /// The variant registry (`JobsWithVariants` rows, a JSON array).
    #[arg(long, value_name = "FILE")]
    pub variants: Option<PathBuf>,
    /// The job's topology, overriding the registry (`single` skips the disruption suite).
    #[arg(long)]
    pub topology: Option<String>,
    /// The profile: compat (default) or improved.
    #[arg(long, value_enum)]
    pub mode: Option<ModeArg>,
    /// A TOML file of settings (every key optional; see docs/aggregate.md).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Significance level of the Fisher rule.
    #[arg(long)]
    pub alpha: Option<f64>,
    /// Modelled historical corpus size of the Fisher rule.
    #[arg(long)]
    pub corpus_size: Option<u32>,
    /// Minimum attempts for a verdict.
    #[arg(long)]
    pub min_attempts: Option<u32>,
    /// Working percentage given to tests without history.
    #[arg(long)]
    pub new_test_pass_rate: Option<u32>,
    /// Failures forgiven by the pity factor.
    #[arg(long)]
    pub pity_factor: Option<u32>,
    /// Unfinished runs tolerated before the aggregation fails.
    #[arg(long)]
    pub max_unfinished: Option<usize>,
    /// Where the outputs go: `<DIR>/<job>/<payload tag>/`.
    #[arg(long, value_name = "DIR", default_value = "job-aggregator-working-dir")]
    pub working_dir: PathBuf,
    /// Write nothing; only print.
    #[arg(long)]
    pub no_write: bool,
    /// "Now" for the history windows (RFC 3339; default the clock).
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// Print the JSON summary instead of upstream's console output.
    #[arg(long)]
    pub json: bool,
    /// Wait for the runs as `analyze-job-runs` does, for at most this long (a Go duration:
    /// `7h`, `5h30m`; default 5h30m when only --job-start-time is given): re-read the runs
    /// every --poll-interval from --job-start-time + 10m until none is unfinished, stopping
    /// at --job-start-time + min(timeout − 20m, 7h15m). Without --timeout and
    /// --job-start-time the runs are judged as they are.
    #[arg(long, value_name = "DURATION", value_parser = go_duration)]
    pub timeout: Option<i64>,
    /// When the runs started (RFC 3339; default now); turns waiting on.
    #[arg(long, value_name = "TIME")]
    pub job_start_time: Option<String>,
    /// Time between two reads of the runs while waiting (Go duration; upstream's 10m).
    #[arg(long, value_name = "DURATION", value_parser = go_duration, default_value = "10m")]
    pub poll_interval: i64,
}

/// Upstream's default `--timeout` of `analyze-job-runs`.
const DEFAULT_TIMEOUT_SECS: i64 = 5 * 3600 + 30 * 60;

/// A Go duration (`7h`, `5h30m`, `90s`) in whole seconds, positive.
pub(crate) fn go_duration(text: &str) -> Result<i64, String> {
    let ns = flakewatch_aggregate::godur::parse(text)
        .ok_or_else(|| format!("{text:?} is not a duration such as 5h30m, 45m or 90s"))?;
    if ns < 1_000_000_000 {
        return Err(format!("{text:?}: the duration must be at least 1s"));
    }
    Ok(ns / 1_000_000_000)
}

/// The wait's start and policy, when `--timeout` or `--job-start-time` asks for one.
fn wait_policy(args: &AggregateArgs) -> anyhow::Result<Option<WaitPolicy>> {
    if args.timeout.is_none() && args.job_start_time.is_none() {
        return Ok(None);
    }
    let start = match &args.job_start_time {
        Some(text) => Timestamp::parse_rfc3339(text)
            .map_err(|e| anyhow::anyhow!("--job-start-time {text:?}: {e}"))?,
        None => Timestamp::now().context("the system clock is before 1970")?,
    };
    let mut policy =
        WaitPolicy::analyze_job_runs(start, args.timeout.unwrap_or(DEFAULT_TIMEOUT_SECS));
    policy.poll_every_secs = args.poll_interval;
    policy.validate()?;
    Ok(Some(policy))
}

/// Reads static run info: the run IDs of `job` (a row without `JobName` counts as `job`'s).
fn static_ids(text: &str, source: &str, job: &str) -> anyhow::Result<Vec<String>> {
    Ok(static_pairs(text, source)?
        .into_iter()
        .filter(|(name, _)| name.as_deref().is_none_or(|name| name == job))
        .map(|(_, id)| id)
        .collect())
}

/// Reads static run info: `(JobName, JobRunID)` pairs; keys match case-insensitively, as
/// upstream's Go decoder matches them.
pub(crate) fn static_pairs(
    text: &str,
    source: &str,
) -> anyhow::Result<Vec<(Option<String>, String)>> {
    let json: Json =
        serde_json::from_str(text).with_context(|| format!("{source}: invalid JSON"))?;
    let rows = json
        .as_array()
        .with_context(|| format!("{source}: expected a JSON array of {{JobName, JobRunID}}"))?;
    let get = |row: &Json, key: &str| -> Option<String> {
        row.as_object()?
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .and_then(|(_, v)| match v {
                Json::String(s) => Some(s.clone()),
                Json::Number(n) => Some(n.to_string()),
                _ => None,
            })
    };
    let mut pairs = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let id = get(row, "JobRunID")
            .with_context(|| format!("{source}: entry {} has no JobRunID", i + 1))?;
        pairs.push((get(row, "JobName"), id));
    }
    // No run of the job is "no runs found": insufficient data (exit 2), as documented.
    Ok(pairs)
}

/// Reads `--static-run-info-path` or `--static-run-info-json`, if given.
pub(crate) fn read_static(
    path: Option<&std::path::Path>,
    json: Option<&str>,
) -> anyhow::Result<Option<(String, String)>> {
    Ok(match (path, json) {
        (Some(path), _) => Some((
            flakewatch_core::bounded::read_to_string(path, flakewatch_core::bounded::DATA_LIMIT)
                .with_context(|| format!("reading {}", path.display()))?,
            path.display().to_string(),
        )),
        (None, Some(text)) => Some((text.to_owned(), "--static-run-info-json".to_owned())),
        (None, None) => None,
    })
}

/// The settings of `--mode` and `--config FILE`: the mode's profile (`--mode`, else the
/// file's, else compat) with the file's settings over it.
pub(crate) fn settings(
    config: Option<&std::path::Path>,
    mode: Option<ModeArg>,
) -> Result<Settings, AggregateError> {
    let file = config.map(ConfigFile::read).transpose()?;
    let mode = mode
        .map(Mode::from)
        .or(file.as_ref().and_then(|f| f.mode))
        .unwrap_or(Mode::Compat);
    let mut settings = Settings::profile(mode);
    if let Some(file) = file {
        settings.apply(file);
    }
    Ok(settings)
}

fn resolve(args: &AggregateArgs) -> anyhow::Result<(Request, Settings, Option<WaitPolicy>)> {
    let mut settings = settings(args.config.as_deref(), args.mode)?;
    macro_rules! flag {
        ($($arg:ident => $field:ident),*) => { $( if let Some(v) = args.$arg { settings.$field = v; } )* };
    }
    flag!(
        alpha => alpha,
        corpus_size => corpus_size,
        min_attempts => min_attempts,
        new_test_pass_rate => new_test_pass_rate,
        pity_factor => pity_allowance,
        max_unfinished => max_unfinished
    );
    settings.validate()?;

    let run_ids = match read_static(
        args.static_run_info_path.as_deref(),
        args.static_run_info_json.as_deref(),
    )? {
        Some((text, source)) => Some(static_ids(&text, &source, &args.job)?),
        None => None,
    };
    let selection = match (&args.payload_tag, &args.aggregation_id) {
        (Some(tag), _) => Selection::Payload(tag.clone()),
        (None, Some(id)) => Selection::Aggregation(id.clone()),
        (None, None) if run_ids.is_some() => Selection::All,
        (None, None) => anyhow::bail!(
            "say which runs: --payload-tag, --aggregation-id or --static-run-info-path"
        ),
    };
    let now = match &args.now {
        Some(text) => {
            Timestamp::parse_rfc3339(text).map_err(|e| anyhow::anyhow!("--now {text:?}: {e}"))?
        }
        None => Timestamp::now().context("the system clock is before 1970")?,
    };
    let history = match (&args.history, &args.history_runs, &args.history_from) {
        (Some(file), _, _) => HistoryInput::Rows(file.clone()),
        (None, Some(dir), _) => HistoryInput::Runs(dir.clone()),
        (None, None, Some(store)) => store_history(args, store, &settings, now)?,
        (None, None, None) => HistoryInput::None,
    };
    let request = Request {
        job: args.job.clone(),
        selection,
        runs_dir: args.runs.clone(),
        run_ids,
        gcs_prefix: args.explicit_gcs_prefix.clone(),
        label: None,
        history,
        disruption_history: args.disruption_history.clone(),
        topology: args.topology.clone(),
        variants: args.variants.clone(),
        now,
        working_dir: (!args.no_write).then(|| args.working_dir.clone()),
    };
    Ok((request, settings, wait_policy(args)?))
}

/// History from a test-results store. A store that cannot be opened is a configuration
/// error; a store that fails to answer is what upstream's failed history query is: every test
/// takes the history-error default, with a warning.
fn store_history(
    args: &AggregateArgs,
    store: &str,
    settings: &Settings,
    now: Timestamp,
) -> anyhow::Result<HistoryInput> {
    let opened = args.plugin.open_store(store)?;
    let request = TestHistoryRequest {
        job: args.job.clone(),
        max_runs: u32::try_from(settings.history_max_runs).unwrap_or(u32::MAX),
        max_days: settings.history_max_days,
        now: now.format_rfc3339(),
    };
    let (rows, runs) = match opened.test_history(&request) {
        Ok(history) => {
            let rows = history
                .rows
                .iter()
                .filter_map(|r| {
                    row_from_counts(
                        &r.suite,
                        &r.name,
                        &args.job,
                        r.pass_count,
                        r.fail_count,
                        r.flake_count,
                    )
                })
                .collect();
            (Ok(rows), history.runs)
        }
        Err(err) => (Err(err.to_string()), 0),
    };
    Ok(HistoryInput::Provided {
        source: format!(
            "the store {store:?}: {runs} runs of the job (last {} runs within {} days)",
            settings.history_max_runs, settings.history_max_days
        ),
        rows,
    })
}

/// Runs `flakewatch aggregate`.
pub(crate) fn run(args: &AggregateArgs) -> anyhow::Result<ExitCode> {
    let (request, settings, policy) = match resolve(args) {
        Ok(resolved) => resolved,
        Err(err) => {
            let _ = writeln!(io::stderr(), "flakewatch: {err:#}");
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
    };
    let aggregated = match &policy {
        Some(policy) => {
            let label = request.selection.label().to_owned();
            let job = request.job.clone();
            let mut event = |line: &str| {
                let _ = writeln!(io::stderr(), "{job:?} for {label:?}: {line}");
            };
            aggregate_waiting(&request, &settings, &mut SystemClock, policy, &mut event)
        }
        None => aggregate(&request, &settings),
    };
    let result = match aggregated {
        Ok(result) => result,
        Err(err) => {
            let code = match err {
                AggregateError::TooManyUnfinished { .. } | AggregateError::NoRuns { .. } => {
                    EXIT_INSUFFICIENT
                }
                _ => EXIT_CONFIG,
            };
            let _ = writeln!(io::stderr(), "flakewatch: {err}");
            return Ok(ExitCode::from(code));
        }
    };
    let mut out = crate::stdout();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &result.report)?;
        writeln!(out)?;
    } else {
        out.write_all(result.console.as_bytes())?;
        let failed = result
            .report
            .tests
            .iter()
            .filter(|t| t.failure_message.is_some())
            .count();
        writeln!(
            out,
            "{} tests aggregated over {} runs: {failed} failed; outcome {}",
            result.report.tests.len(),
            result.report.runs.iter().filter(|r| r.finished).count(),
            serde_json::to_value(result.outcome)?
                .as_str()
                .unwrap_or_default()
        )?;
        writeln!(out, "history: {}", result.report.history)?;
        if let Some(error) = &result.report.error {
            writeln!(out, "{error}")?;
        }
        if let Some(dir) = &result.output_dir {
            writeln!(out, "wrote {}", dir.display())?;
        }
    }
    out.flush()?;
    Ok(ExitCode::from(result.outcome.exit_code()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_run_info_keys_match_case_insensitively() {
        let text =
            r#"[{"JobName":"j","JobRunId":"1"},{"jobname":"k","JOBRUNID":"2"},{"JobRunID":3}]"#;
        assert_eq!(static_ids(text, "f", "j").unwrap(), ["1", "3"]);
        let err = static_ids(r#"[{"JobName":"j"}]"#, "f", "j").unwrap_err();
        assert_eq!(err.to_string(), "f: entry 1 has no JobRunID");
        // No run of the job: the aggregation finds no runs (insufficient data, exit 2).
        assert!(static_ids("[]", "f", "j").unwrap().is_empty());
        assert!(
            static_ids(r#"[{"JobName":"k","JobRunID":"9"}]"#, "f", "j")
                .unwrap()
                .is_empty()
        );
    }
}

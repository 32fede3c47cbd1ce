//! `flakewatch analyze-test-case`: upstream's cross-job gate (`job-run-aggregator
//! analyze-test-case`): one test of a group must have passed in at least
//! `--minimum-successful-count` runs across every job the selection names; writes
//! `junit-test-case-analysis.xml` (`docs/aggregate.md`).
//!
//! Exit codes: 0 the test passed often enough, 1 it did not, 2 usage error (flags upstream
//! refuses included), 3 a file could not be read or written.

use std::io::{self, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;

use super::aggregate::{EXIT_CONFIG, ModeArg, go_duration, read_static, settings, static_pairs};
use flakewatch_aggregate::test_case::{
    self, CaseOptions, FAILED_ERROR, Matching, TestGroup, parse_prefixes,
};
use flakewatch_aggregate::wait::SystemClock;
use flakewatch_aggregate::{AggregateError, Mode};
use flakewatch_core::time::Timestamp;

/// Exit code for flags upstream refuses.
const EXIT_USAGE: u8 = 2;

/// Arguments of `flakewatch analyze-test-case`.
#[derive(Debug, Args)]
pub(crate) struct TestCaseArgs {
    /// The test checked: install (`cluster install` / `install should succeed: overall`),
    /// overall (`step graph` / `Run multi-stage test test phase`) or upgrade
    /// (`openshift-tests-upgrade` / `... Cluster should be upgradeable after finishing upgrade ...`).
    #[arg(long, default_value = "install", value_name = "GROUP")]
    pub test_group: String,
    /// Release-controller payload: runs whose `release.openshift.io/tag` annotation is this.
    #[arg(long, conflicts_with = "payload_invocation_id")]
    pub payload_tag: Option<String>,
    /// PR payload: runs labelled `release.openshift.io/aggregation-id` with this ID (needs
    /// --explicit-gcs-prefixes).
    #[arg(long)]
    pub payload_invocation_id: Option<String>,
    /// PR payload: the jobs, as `job=prefix,job=prefix` (the prefix names the runs in result
    /// URLs).
    #[arg(long, value_name = "JOB=PREFIX,...")]
    pub explicit_gcs_prefixes: Option<String>,
    /// Jobs on this platform (aws, azure, gcp, libvirt, metal, ovirt, vsphere).
    #[arg(long)]
    pub platform: Option<String>,
    /// Jobs on this network (ovn, sdn).
    #[arg(long)]
    pub network: Option<String>,
    /// upi (the job name contains `upi`) or ipi.
    #[arg(long)]
    pub infrastructure: Option<String>,
    /// Only jobs whose name contains this (repeatable: every one must occur).
    #[arg(long, value_name = "TEXT")]
    pub include_job_names: Vec<String>,
    /// No job whose name contains this (repeatable).
    #[arg(long, value_name = "TEXT")]
    pub exclude_job_names: Vec<String>,
    /// Runs that must have passed the test.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub minimum_successful_count: u32,
    /// When the runs started (RFC 3339; default now): the runs are read from 2h after it,
    /// every --poll-interval, until all finished or start + timeout − 20m.
    #[arg(long, value_name = "TIME")]
    pub job_start_time: Option<String>,
    /// The whole command's limit (a Go duration, at most 4h35m).
    #[arg(long, value_name = "DURATION", value_parser = go_duration, default_value = "3h30m")]
    pub timeout: i64,
    /// Time between two reads of the runs while waiting (Go duration; upstream's 10m).
    #[arg(long, value_name = "DURATION", value_parser = go_duration, default_value = "10m")]
    pub poll_interval: i64,
    /// One directory per job (`DIR/<job>/<run id>/...`), each laid out as `aggregate --runs`
    /// reads it.
    #[arg(long, value_name = "DIR")]
    pub runs: PathBuf,
    /// The variant registry (`JobsWithVariants` rows, a JSON array): where the jobs and their
    /// platform and network come from.
    #[arg(long, value_name = "FILE")]
    pub variants: Option<PathBuf>,
    /// A JSON array of `{JobName, JobRunID}`: exactly these runs (no job selection).
    #[arg(long, value_name = "FILE", conflicts_with = "static_run_info_json")]
    pub static_run_info_path: Option<PathBuf>,
    /// The same as `--static-run-info-path`, inline.
    #[arg(long, value_name = "JSON")]
    pub static_run_info_json: Option<String>,
    /// The bucket named in result URLs (improved mode; compat names test-platform-results).
    #[arg(long, default_value = "test-platform-results", value_name = "BUCKET")]
    pub google_storage_bucket: String,
    /// Where the output goes: `<DIR>/<payload tag or invocation ID>/junit-test-case-analysis.xml`.
    #[arg(
        long,
        value_name = "DIR",
        default_value = "test-case-analyzer-working-dir"
    )]
    pub working_dir: PathBuf,
    /// Write nothing; only print.
    #[arg(long)]
    pub no_write: bool,
    /// compat (default: upstream's reading of a run) or improved (`<error>` fails, a skip is
    /// no pass, the flake rule decides retried runs).
    #[arg(long, value_enum)]
    pub mode: Option<ModeArg>,
    /// A TOML file of settings (`mode`, the `[flake]` rule; see docs/aggregate.md).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

fn options(args: &TestCaseArgs) -> Result<(CaseOptions, Timestamp), AggregateError> {
    let settings = settings(args.config.as_deref(), args.mode)?;
    let mode = settings.mode;
    let matching = match (&args.payload_tag, &args.payload_invocation_id) {
        (Some(tag), _) => Matching::PayloadTag(tag.clone()),
        (None, Some(id)) => Matching::InvocationId(id.clone()),
        (None, None) => {
            return Err(AggregateError::Config(
                "exactly one of --payload-tag or --payload-invocation-id must be specified".into(),
            ));
        }
    };
    let static_runs = read_static(
        args.static_run_info_path.as_deref(),
        args.static_run_info_json.as_deref(),
    )
    .and_then(|text| {
        text.map(|(text, source)| {
            static_pairs(&text, &source)?
                .into_iter()
                .map(|(job, id)| {
                    job.map(|job| (job, id))
                        .with_context(|| format!("{source}: every entry needs a JobName here"))
                })
                .collect::<anyhow::Result<Vec<_>>>()
        })
        .transpose()
    })
    .map_err(|e| AggregateError::Config(format!("{e:#}")))?;
    let start = match &args.job_start_time {
        Some(text) => Timestamp::parse_rfc3339(text)
            .map_err(|e| AggregateError::Config(format!("--job-start-time {text:?}: {e}")))?,
        None => Timestamp::now()
            .ok_or_else(|| AggregateError::Config("the system clock is before 1970".into()))?,
    };
    let opts = CaseOptions {
        group: TestGroup::parse(&args.test_group)?,
        matching,
        platform: args.platform.clone(),
        network: args.network.clone(),
        infrastructure: args.infrastructure.clone(),
        include_job_names: args.include_job_names.clone(),
        exclude_job_names: args.exclude_job_names.clone(),
        prefixes: parse_prefixes(args.explicit_gcs_prefixes.as_deref().unwrap_or(""))?,
        minimum_successful: args.minimum_successful_count,
        timeout_secs: args.timeout,
        static_runs,
        runs_dir: args.runs.clone(),
        variants: args.variants.clone(),
        bucket: match mode {
            Mode::Compat => "test-platform-results".to_owned(),
            Mode::Improved => args.google_storage_bucket.clone(),
        },
        mode,
        flake: settings.flake,
        working_dir: (!args.no_write).then(|| args.working_dir.clone()),
    };
    opts.validate()?;
    Ok((opts, start))
}

/// Runs `flakewatch analyze-test-case`.
pub(crate) fn run(args: &TestCaseArgs) -> anyhow::Result<ExitCode> {
    let (opts, start) = match options(args) {
        Ok(resolved) => resolved,
        Err(err) => {
            let _ = writeln!(io::stderr(), "flakewatch: {err}");
            let code = match err {
                AggregateError::Config(_) => EXIT_USAGE,
                _ => EXIT_CONFIG,
            };
            return Ok(ExitCode::from(code));
        }
    };
    let match_id = opts.match_id().to_owned();
    let mut event = |line: &str| {
        let _ = writeln!(io::stderr(), "{match_id:?}: {line}");
    };
    let analysis = match test_case::analyze(&opts, &mut SystemClock, start, &mut event) {
        Ok(analysis) => analysis,
        Err(err) => {
            let _ = writeln!(io::stderr(), "flakewatch: {err}");
            return Ok(ExitCode::from(EXIT_CONFIG));
        }
    };
    let mut out = crate::stdout();
    out.write_all(analysis.console.as_bytes())?;
    writeln!(
        out,
        "{} jobs, {} runs: the test passed in {}, failed in {}, did not run in {}; {} required",
        analysis.jobs.len(),
        analysis.runs,
        analysis.successes,
        analysis.failures,
        analysis.skips,
        opts.minimum_successful
    )?;
    if let Some(dir) = &analysis.output_dir {
        writeln!(out, "wrote {}", dir.join(test_case::OUTPUT_FILE).display())?;
    }
    if !analysis.passed {
        writeln!(out, "{FAILED_ERROR}")?;
    }
    out.flush()?;
    Ok(if analysis.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use flakewatch_aggregate::test_case::DEFAULT_TIMEOUT_SECS;

    #[test]
    fn the_default_timeout_is_upstreams() {
        assert_eq!(go_duration("3h30m"), Ok(DEFAULT_TIMEOUT_SECS));
        assert!(go_duration("soon").unwrap_err().contains("not a duration"));
    }
}

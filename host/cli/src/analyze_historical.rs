//! `flakewatch analyze-historical-data`: compare refreshed disruption or alert percentile rows
//! with the current ones and write the new rows, `pr_message.md` and `require_review`, as
//! upstream's `job-run-aggregator analyze-historical-data` does (`docs/aggregate.md`); for
//! `--data-type tests`, write the target release's test pass-rate rows (and compare them with
//! `--current` when given).
//!
//! Exit codes: 0 done (increases do not change it), 3 a file could not be read, parsed or
//! written, or the flags are inconsistent.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, ValueEnum};

use super::aggregate::{EXIT_CONFIG, ModeArg};
use flakewatch_aggregate::analyze_historical::{
    self, AnalysisOptions, DataType, pr_message, require_review, results_json,
};
use flakewatch_aggregate::test_summary::{self, TestSummaryRow};
use flakewatch_aggregate::{AggregateError, Mode};

/// The `--data-type` choices.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum DataTypeArg {
    /// Allowed backend disruption (`BackendDisruptionPercentilesByDate`).
    Disruptions,
    /// Allowed alert durations (`Alerts_Unified_LastWeek_P95`).
    Alerts,
    /// Test pass-rate rows (`GenericTestSummaryByPeriodRow`): written for the target release;
    /// compared with --current when given.
    Tests,
}

/// Arguments of `flakewatch analyze-historical-data`.
#[derive(Debug, Args)]
pub(crate) struct HistoricalArgs {
    /// Which table.
    #[arg(long, value_enum)]
    pub data_type: DataTypeArg,
    /// The current rows (origin's `query_results.json`; optional for tests).
    #[arg(long, value_name = "FILE", required_if_eq_any = [("data_type", "disruptions"), ("data_type", "alerts")])]
    pub current: Option<PathBuf>,
    /// The refreshed rows.
    #[arg(long, value_name = "FILE")]
    pub new: Option<PathBuf>,
    /// Percent of P99 growth tolerated before it counts as an increase (≥ 0).
    #[arg(long, value_name = "PCT", default_value_t = 0.0)]
    pub leeway: f64,
    /// Where the new rows go (default `results_<type>.json`).
    #[arg(long, value_name = "FILE")]
    pub output_file: Option<PathBuf>,
    /// The target release (with `--previous-release`, except for tests); default: the
    /// highest release in the new rows.
    #[arg(long)]
    pub target_release: Option<String>,
    /// The release before the target (with `--target-release`, except for tests); default:
    /// the next lower release in the new rows.
    #[arg(long, requires = "target_release")]
    pub previous_release: Option<String>,
    /// Where `pr_message.md` and `require_review` are appended.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub working_dir: PathBuf,
    /// compat (default: upstream's counts, bugs included) or improved.
    #[arg(long, value_enum, default_value_t = ModeArg::Compat)]
    pub mode: ModeArg,
}

/// A release string as `(major, minor)` for ordering (`4.16` → `(4, 16)`).
fn release_order(release: &str) -> Option<(u64, u64)> {
    let (major, rest) = release.split_once('.')?;
    let minor = rest.split(|c: char| !c.is_ascii_digit()).next()?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// The two highest releases named in `rows`, upstream's default pair (which it asks Sippy for).
fn default_releases(rows: &[analyze_historical::Row]) -> Option<(String, String)> {
    let mut releases: Vec<(u64, u64, &str)> = rows
        .iter()
        .filter_map(|r| release_order(&r.release).map(|(a, b)| (a, b, r.release.as_str())))
        .filter(|(major, _, _)| *major >= 4)
        .collect();
    releases.sort_unstable();
    releases.dedup_by_key(|r| (r.0, r.1));
    let target = releases.pop()?;
    let previous = releases.pop()?;
    Some((target.2.to_owned(), previous.2.to_owned()))
}

fn read_rows(path: &Path, data_type: DataType) -> anyhow::Result<Vec<analyze_historical::Row>> {
    let text = flakewatch_core::bounded::read_to_string(path, flakewatch_core::bounded::DATA_LIMIT)
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(analyze_historical::parse_rows(
        &text,
        data_type,
        &path.display().to_string(),
    )?)
}

fn append(path: &Path, text: &str) -> anyhow::Result<()> {
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("writing {}", path.display()))
}

/// Carries out the analysis and returns the one-line report.
fn analyze(args: &HistoricalArgs) -> anyhow::Result<String> {
    anyhow::ensure!(
        args.leeway >= 0.0 && args.leeway.is_finite(),
        "--leeway must be a non-negative number of percent"
    );
    let data_type = match args.data_type {
        DataTypeArg::Disruptions => DataType::Disruptions,
        DataTypeArg::Alerts => DataType::Alerts,
        DataTypeArg::Tests => return analyze_tests(args),
    };
    anyhow::ensure!(
        args.target_release.is_none() || args.previous_release.is_some(),
        "must specify --previous-release with --target-release"
    );
    let Some(current_path) = &args.current else {
        anyhow::bail!("must provide --current [file_path] flag to compare against");
    };
    let Some(new_path) = &args.new else {
        anyhow::bail!(
            "--new is required: querying the new rows from storage needs a storage backend"
        );
    };
    let current = read_rows(current_path, data_type)?;
    let new = read_rows(new_path, data_type)?;
    let (target_release, previous_release) =
        match (&args.target_release, &args.previous_release) {
            (Some(t), Some(p)) => (t.clone(), p.clone()),
            _ => default_releases(&new).with_context(|| {
                format!(
                    "{}: cannot tell the target and previous release; pass --target-release and --previous-release",
                    new_path.display()
                )
            })?,
        };
    let opts = AnalysisOptions {
        data_type,
        leeway: args.leeway,
        target_release,
        previous_release,
        mode: Mode::from(args.mode),
    };
    let analysis = analyze_historical::analyze(&current, &new, &opts).map_err(|e| match e {
        AggregateError::EmptyData(m) => anyhow::anyhow!(m),
        other => other.into(),
    })?;
    let output = args
        .output_file
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("results_{}.json", data_type.name())));
    fs::write(&output, results_json(&analysis))
        .with_context(|| format!("writing {}", output.display()))?;
    fs::create_dir_all(&args.working_dir)
        .with_context(|| format!("creating {}", args.working_dir.display()))?;
    append(
        &args.working_dir.join("pr_message.md"),
        &pr_message(&analysis, &opts),
    )?;
    let review = require_review(&analysis, &opts);
    if !review.is_empty() {
        append(&args.working_dir.join("require_review"), &review)?;
    }
    Ok(format!(
        "{}: {} increased, {} decreased, {} added, {} removed (releases {} and {}); wrote {}",
        data_type.name(),
        analysis.increased,
        analysis.decreased,
        analysis.added.len(),
        analysis.missing.len(),
        opts.previous_release,
        opts.target_release,
        output.display()
    ))
}

/// `--data-type tests`: upstream writes the target release's rows as they are; with
/// `--current` they are also compared (stdout; `pr_message.md` and `require_review` in
/// improved mode, since upstream writes neither for tests).
fn analyze_tests(args: &HistoricalArgs) -> anyhow::Result<String> {
    let Some(new_path) = &args.new else {
        anyhow::bail!(
            "--new is required: querying the new rows from storage needs a storage backend"
        );
    };
    let read = |path: &Path| -> anyhow::Result<Vec<TestSummaryRow>> {
        let text =
            flakewatch_core::bounded::read_to_string(path, flakewatch_core::bounded::DATA_LIMIT)
                .with_context(|| format!("reading {}", path.display()))?;
        Ok(test_summary::parse_rows(
            &text,
            &path.display().to_string(),
        )?)
    };
    let new = read(new_path)?;
    let current = match &args.current {
        Some(path) => Some(read(path)?),
        None => None,
    };
    let target = match &args.target_release {
        Some(t) => t.clone(),
        None => {
            let mut releases: Vec<(u64, u64, &str)> = new
                .iter()
                .filter_map(|r| release_order(&r.release).map(|(a, b)| (a, b, r.release.as_str())))
                .filter(|(major, _, _)| *major >= 4)
                .collect();
            releases.sort_unstable();
            releases.last().map(|r| r.2.to_owned()).with_context(|| {
                format!(
                    "{}: cannot tell the target release; pass --target-release",
                    new_path.display()
                )
            })?
        }
    };
    let mut report = format!(
        "Using target release: {target}\nFetching test data for release {target}, suite {}, last {} days, min {} test runs\n",
        test_summary::SUITE,
        test_summary::DAYS_BACK,
        test_summary::MIN_TEST_COUNT
    );
    let analysis = test_summary::analyze(
        current.as_deref().unwrap_or_default(),
        &new,
        &target,
        args.leeway,
    )
    .map_err(|e| match e {
        AggregateError::EmptyData(m) => anyhow::anyhow!(m),
        other => other.into(),
    })?;
    let output = args
        .output_file
        .clone()
        .unwrap_or_else(|| PathBuf::from("results_tests.json"));
    if analysis.enough_days {
        fs::write(&output, test_summary::results_json(&analysis))
            .with_context(|| format!("writing {}", output.display()))?;
        report.push_str(&format!(
            "Successfully fetched {} test results and wrote to {}",
            analysis.rows.len(),
            output.display()
        ));
    } else {
        report.push_str(&format!(
            "{} test results, none with {} days of data: kept {}",
            analysis.rows.len(),
            test_summary::MIN_DAYS_WITH_DATA,
            output.display()
        ));
    }
    if analysis.dropped > 0 {
        report.push_str(&format!(
            "\n{} rows of other releases or with at most {} runs left out",
            analysis.dropped,
            test_summary::MIN_TEST_COUNT
        ));
    }
    if current.is_some() {
        report.push_str(&format!(
            "\ntests: {} pass rates fell and {} rose by more than {:.2} points, {} added, {} removed",
            analysis.decreased.len(),
            analysis.increased.len(),
            args.leeway,
            analysis.added.len(),
            analysis.removed.len()
        ));
        if Mode::from(args.mode) == Mode::Improved {
            fs::create_dir_all(&args.working_dir)
                .with_context(|| format!("creating {}", args.working_dir.display()))?;
            append(
                &args.working_dir.join("pr_message.md"),
                &test_summary::pr_message(&analysis, args.leeway),
            )?;
            let review = test_summary::require_review(&analysis, args.leeway);
            if !review.is_empty() {
                append(&args.working_dir.join("require_review"), &review)?;
            }
        }
    }
    Ok(report)
}

/// Runs `flakewatch analyze-historical-data`.
pub(crate) fn run(args: &HistoricalArgs) -> anyhow::Result<ExitCode> {
    match analyze(args) {
        Ok(report) => {
            writeln!(crate::stdout(), "{report}")?;
            Ok(ExitCode::SUCCESS)
        }
        Err(err) => {
            let _ = writeln!(io::stderr(), "flakewatch: {err:#}");
            Ok(ExitCode::from(EXIT_CONFIG))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn releases_order_numerically() {
        assert_eq!(release_order("4.16"), Some((4, 16)));
        assert_eq!(release_order("4.9"), Some((4, 9)));
        assert!(release_order("4.9") < release_order("4.16"));
        assert_eq!(release_order("main"), None);
    }
}

//! Aggregation settings: the `compat` and `improved` profiles, the TOML configuration file
//! and their resolution into one [`Settings`] before any work starts.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::combine::FlakeRule;
use super::error::AggregateError;
use super::stats::{FisherParams, TableSource};
use super::verdict::{TestRule, upstream_always_pass, upstream_never_fail};

/// Compat reproduces upstream (bugs that change outputs included); improved fixes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Upstream's behaviour and outputs (docs/aggregate.md, "Compat and improved").
    Compat,
    /// The fixes listed in docs/aggregate.md, "Compat and improved".
    Improved,
}

impl Mode {
    /// `compat` or `improved`.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Compat => "compat",
            Mode::Improved => "improved",
        }
    }
}

/// Every threshold and list the aggregation uses.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Settings {
    /// The mode.
    pub mode: Mode,
    /// Significance level of the Fisher rule.
    pub alpha: f64,
    /// Modelled corpus size of the Fisher rule.
    pub corpus_size: u32,
    /// Passes subtracted from the first non-significant count.
    pub leniency: u32,
    /// Failures forgiven by the pity factor.
    pub pity_allowance: u32,
    /// Minimum attempts for a verdict.
    pub min_attempts: u32,
    /// Working percentage of a test without history.
    pub new_test_pass_rate: u32,
    /// Working percentage when the history read failed.
    pub history_error_pass_rate: u32,
    /// Unfinished runs tolerated (more fails the aggregation).
    pub max_unfinished: usize,
    /// History window: runs per job.
    pub history_max_runs: usize,
    /// History window: days.
    pub history_max_days: u32,
    /// Grace seconds of the P70 check.
    pub p70_grace: u32,
    /// Grace seconds of the P85 check.
    pub p85_grace: u32,
    /// Bucket named in result URLs (compat: always `test-platform-results`, B7).
    pub bucket: String,
    /// Tests that always pass.
    pub always_pass: Vec<TestRule>,
    /// Tests that must never fail.
    pub never_fail: Vec<TestRule>,
    /// Backends every job must report.
    pub required_backends: Vec<String>,
    /// Backend name fragments never checked.
    pub excluded_backend_fragments: Vec<String>,
    /// What a run with both a pass and a failure of a test counts as (B15).
    pub flake: FlakeRule,
}

impl Settings {
    /// The defaults of a profile.
    pub fn profile(mode: Mode) -> Settings {
        Settings {
            mode,
            alpha: 0.05,
            corpus_size: 250,
            leniency: 1,
            pity_allowance: 2,
            min_attempts: 6,
            new_test_pass_rate: 70,
            history_error_pass_rate: 99,
            max_unfinished: 3,
            history_max_runs: 200,
            history_max_days: 21,
            p70_grace: 3,
            p85_grace: 7,
            bucket: "test-platform-results".into(),
            always_pass: upstream_always_pass(),
            never_fail: upstream_never_fail(),
            required_backends: super::disruption::REQUIRED_BACKENDS
                .iter()
                .map(|s| match mode {
                    Mode::Compat => (*s).to_owned(),
                    // Upstream's typo fixed: the backends origin really reports.
                    Mode::Improved => s.replace("-used-connections", "-reused-connections"),
                })
                .collect(),
            excluded_backend_fragments: super::disruption::EXCLUDED_FRAGMENTS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            flake: FlakeRule::PassWins,
        }
    }

    /// The Fisher parameters.
    pub fn fisher(&self) -> FisherParams {
        FisherParams {
            alpha: self.alpha,
            corpus_size: self.corpus_size,
            leniency: self.leniency,
        }
    }

    /// Compat answers `n ≤ 12` from upstream's table (with the default parameters).
    pub fn table_source(&self) -> TableSource {
        match self.mode {
            Mode::Compat => TableSource::Compat,
            Mode::Improved => TableSource::Computed,
        }
    }

    /// The bucket result URLs name.
    pub fn url_bucket(&self) -> &str {
        match self.mode {
            Mode::Compat => "test-platform-results",
            Mode::Improved => &self.bucket,
        }
    }

    /// Checks the values.
    pub fn validate(&self) -> Result<(), AggregateError> {
        let bad = |m: &str| Err(AggregateError::Config(m.to_owned()));
        if !(self.alpha > 0.0 && self.alpha < 1.0) {
            return bad("alpha must be between 0 and 1");
        }
        if self.corpus_size == 0 {
            return bad("corpus_size must be positive");
        }
        if self.new_test_pass_rate > 100 || self.history_error_pass_rate > 100 {
            return bad("pass rates are percentages (0..=100)");
        }
        if let FlakeRule::KOfN { min_passes: 0, .. } = self.flake {
            return bad(
                "flake: min_passes must be at least 1 (a run with no passing attempt never passes)",
            );
        }
        if self.always_pass.iter().chain(&self.never_fail).any(|r| {
            r.job.is_none()
                && r.suite.is_none()
                && r.name.is_none()
                && r.name_contains.is_none()
                && r.name_suffix.is_none()
        }) {
            return bad(
                "a test rule must match on at least one of job, suite, name, name_contains, name_suffix",
            );
        }
        Ok(())
    }

    /// Applies a configuration file's values.
    pub fn apply(&mut self, file: ConfigFile) {
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(v) = file.$f { self.$f = v; } )* };
        }
        set!(
            alpha,
            corpus_size,
            leniency,
            pity_allowance,
            min_attempts,
            new_test_pass_rate,
            history_error_pass_rate,
            max_unfinished,
            history_max_runs,
            history_max_days,
            p70_grace,
            p85_grace,
            bucket,
            always_pass,
            never_fail,
            required_backends,
            excluded_backend_fragments,
            flake
        );
    }
}

/// The TOML configuration file: every key optional; lists replace the profile's lists.
///
/// ```toml
/// mode = "improved"
/// alpha = 0.05
/// min_attempts = 6
/// [[always_pass]]
/// suite = "step graph"
/// reason = "step graph tests are added by ci and are not useful for aggregation"
/// ```
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// `compat` or `improved`.
    pub mode: Option<Mode>,
    /// See [`Settings::alpha`].
    pub alpha: Option<f64>,
    /// See [`Settings::corpus_size`].
    pub corpus_size: Option<u32>,
    /// See [`Settings::leniency`].
    pub leniency: Option<u32>,
    /// See [`Settings::pity_allowance`].
    pub pity_allowance: Option<u32>,
    /// See [`Settings::min_attempts`].
    pub min_attempts: Option<u32>,
    /// See [`Settings::new_test_pass_rate`].
    pub new_test_pass_rate: Option<u32>,
    /// See [`Settings::history_error_pass_rate`].
    pub history_error_pass_rate: Option<u32>,
    /// See [`Settings::max_unfinished`].
    pub max_unfinished: Option<usize>,
    /// See [`Settings::history_max_runs`].
    pub history_max_runs: Option<usize>,
    /// See [`Settings::history_max_days`].
    pub history_max_days: Option<u32>,
    /// See [`Settings::p70_grace`].
    pub p70_grace: Option<u32>,
    /// See [`Settings::p85_grace`].
    pub p85_grace: Option<u32>,
    /// See [`Settings::bucket`].
    pub bucket: Option<String>,
    /// See [`Settings::always_pass`].
    pub always_pass: Option<Vec<TestRule>>,
    /// See [`Settings::never_fail`].
    pub never_fail: Option<Vec<TestRule>>,
    /// See [`Settings::required_backends`].
    pub required_backends: Option<Vec<String>>,
    /// See [`Settings::excluded_backend_fragments`].
    pub excluded_backend_fragments: Option<Vec<String>>,
    /// See [`Settings::flake`]: a `[flake]` table with `rule = "pass_wins"`,
    /// `"flake_is_failure"` or `"k_of_n"` (with `min_passes`, `max_failures`).
    pub flake: Option<FlakeRule>,
}

impl ConfigFile {
    /// Reads and parses a TOML file.
    pub fn read(path: &Path) -> Result<ConfigFile, AggregateError> {
        let text =
            flakewatch_core::bounded::read_to_string(path, flakewatch_core::bounded::CONFIG_LIMIT)
                .map_err(|source| AggregateError::Io {
                    path: path.display().to_string(),
                    source,
                })?;
        toml::from_str(&text).map_err(|e| AggregateError::Toml {
            path: path.display().to_string(),
            message: e.to_string(),
        })
    }
}

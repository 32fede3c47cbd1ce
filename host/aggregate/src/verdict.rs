//! The per-test verdict (upstream's `CheckFailed`): exemptions, the hard gates, the
//! historical working percentage and the required number of passes with the pity factor.
//! Messages are upstream's, byte for byte; downstream tools parse them.

use serde::{Deserialize, Serialize};

use super::combine::RunCounts;
use super::stats::{RequiredPasses, with_pity};

/// The prefix upstream puts before the failure message of a failed `informing` test.
pub const INFORMING_PREFIX: &str = "*** NON-BLOCKING FAILURE: This test failure is not considered terminal because its lifecycle is 'informing' and will not prevent the overall suite from passing.\n";

/// What a verdict says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    /// The test passed aggregation.
    Passed,
    /// The test failed aggregation.
    Failed,
    /// The check was skipped (disruption checks only).
    Skipped,
}

/// Which rule decided the verdict (structured form of the message).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rule {
    /// An always-pass exemption (check 1).
    AlwaysPass,
    /// No pass and no failure entries (check 2).
    DidNotRun,
    /// A never-fail rule with a failure entry (check 3).
    NeverFail,
    /// No passes and more skips than failures (check 4).
    ProbablySkip,
    /// Fewer attempts than the minimum (check 5).
    TooFewAttempts,
    /// No passes (check 6).
    NoPass,
    /// The required-passes comparison (check 9).
    RequiredPasses,
}

/// Where the working percentage came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistorySource {
    /// A history row for the test.
    Row,
    /// No row: the new-test default.
    NewTestDefault,
    /// The history query failed: the history-error default.
    ErrorDefault,
}

/// A pattern that exempts tests from aggregation (always passing) or forbids any failure
/// (never failing). Every given field must match; `reason` is the message.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestRule {
    /// The job name equals this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<String>,
    /// The suite path (joined with `|||`) equals this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suite: Option<String>,
    /// The test name equals this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The test name contains this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_contains: Option<String>,
    /// The test name ends with this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_suffix: Option<String>,
    /// Why (the message).
    pub reason: String,
}

impl TestRule {
    /// Whether the rule applies to this test.
    pub fn matches(&self, job: &str, suite: &str, name: &str) -> bool {
        self.job.as_deref().is_none_or(|j| j == job)
            && self.suite.as_deref().is_none_or(|s| s == suite)
            && self.name.as_deref().is_none_or(|n| n == name)
            && self
                .name_contains
                .as_deref()
                .is_none_or(|n| name.contains(n))
            && self
                .name_suffix
                .as_deref()
                .is_none_or(|n| name.ends_with(n))
    }
}

/// Upstream's hard-coded always-pass list, in upstream's order of checks.
pub fn upstream_always_pass() -> Vec<TestRule> {
    vec![
        TestRule {
            job: Some(
                "periodic-ci-openshift-release-master-ci-4.10-upgrade-from-stable-4.9-e2e-aws-ovn-upgrade"
                    .into(),
            ),
            suite: Some("openshift-tests-upgrade".into()),
            name: Some("[sig-network] pods should successfully create sandboxes by other".into()),
            reason: "Test has been failing for a longtime but went undetected".into(),
            ..TestRule::default()
        },
        TestRule {
            suite: Some("step graph".into()),
            reason: "step graph tests are added by ci and are not useful for aggregation".into(),
            ..TestRule::default()
        },
        TestRule {
            name_contains: Some("Cluster should remain functional during upgrade".into()),
            reason: "this test is a side-effect of other tests".into(),
            ..TestRule::default()
        },
        TestRule {
            name_suffix: Some("-gather-azure-cli container test".into()),
            reason: "used only to collect artifacts".into(),
            ..TestRule::default()
        },
        TestRule {
            name: Some("initialize".into()),
            reason: "ignore initialize".into(),
            ..TestRule::default()
        },
    ]
}

/// Upstream's never-fail list.
pub fn upstream_never_fail() -> Vec<TestRule> {
    vec![TestRule {
        name: Some("Undiagnosed panic detected in pod".into()),
        reason: "Pods must not panic".into(),
        ..TestRule::default()
    }]
}

/// Everything a verdict depends on besides the test.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Tests that always pass, with the reason.
    pub always_pass: Vec<TestRule>,
    /// Tests that must never fail.
    pub never_fail: Vec<TestRule>,
    /// Minimum attempts (upstream 6).
    pub min_attempts: u32,
    /// Working percentage of a test without history (upstream 70).
    pub new_test_pass_rate: u32,
    /// Working percentage when the history query failed (upstream 99).
    pub history_error_pass_rate: u32,
    /// Failures forgiven by the pity factor (upstream 2).
    pub pity_allowance: u32,
    /// The strict requirement lookup.
    pub required: RequiredPasses,
}

/// What history says about one test.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum History {
    /// A row with this working percentage (0..=100, not yet truncated).
    Row(f64),
    /// No row for the test.
    Missing,
    /// The history read failed.
    Error,
}

/// The verdict on one test.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Judgement {
    /// Passed or failed.
    pub status: CheckStatus,
    /// The deciding rule.
    pub rule: Rule,
    /// Upstream's summary message.
    pub summary: String,
    /// The counts it was decided on.
    pub attempts: u32,
    /// Runs with a pass.
    pub passes: u32,
    /// Runs with only failures.
    pub failures: u32,
    /// Runs with a pass and a failure.
    pub flakes: u32,
    /// Skip entries.
    pub skips: u32,
    /// The working percentage used (checks 7–9 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_percentage: Option<u32>,
    /// Where it came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<HistorySource>,
    /// The required number of passes after the pity factor.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required: Option<u32>,
    /// The strict required number of passes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strict_required: Option<u32>,
}

impl Policy {
    /// The policy `settings` describe.
    pub fn from_settings(settings: &super::Settings) -> Policy {
        Policy {
            always_pass: settings.always_pass.clone(),
            never_fail: settings.never_fail.clone(),
            min_attempts: settings.min_attempts,
            new_test_pass_rate: settings.new_test_pass_rate,
            history_error_pass_rate: settings.history_error_pass_rate,
            pity_allowance: settings.pity_allowance,
            required: RequiredPasses::new(settings.fisher(), settings.table_source()),
        }
    }

    /// Decides one test (`job` and the `|||`-joined `suite` select exemptions and history).
    pub fn check(
        &self,
        job: &str,
        suite: &str,
        name: &str,
        counts: &RunCounts,
        history: impl FnOnce() -> History,
    ) -> Judgement {
        let mut v = Judgement {
            status: CheckStatus::Passed,
            rule: Rule::AlwaysPass,
            summary: String::new(),
            attempts: counts.attempts,
            passes: counts.passes,
            failures: counts.failures,
            flakes: counts.flakes,
            skips: counts.skips,
            working_percentage: None,
            history: None,
            required: None,
            strict_required: None,
        };
        if let Some(rule) = self
            .always_pass
            .iter()
            .find(|r| r.matches(job, suite, name))
        {
            v.summary = format!(
                "always passing {}: {}\n",
                flakewatch_dsl::quote::quote(name.as_bytes()),
                rule.reason
            );
            return v;
        }
        if counts.pass_entries == 0 && counts.failure_entries == 0 {
            v.rule = Rule::DidNotRun;
            v.summary = "did not run".into();
            return v;
        }
        if counts.failure_entries > 0
            && let Some(rule) = self.never_fail.iter().find(|r| r.matches(job, suite, name))
        {
            v.status = CheckStatus::Failed;
            v.rule = Rule::NeverFail;
            v.summary = rule.reason.clone();
            return v;
        }
        if counts.pass_entries == 0 && counts.skips > counts.failure_entries {
            v.rule = Rule::ProbablySkip;
            v.summary = "probably intended to skip".into();
            return v;
        }
        if counts.attempts < self.min_attempts {
            v.status = CheckStatus::Failed;
            v.rule = Rule::TooFewAttempts;
            v.summary = format!(
                "Passed {} times, failed {} times, skipped {} times: we require at least {} attempts to have a chance at success",
                counts.passes, counts.failures, counts.skips, self.min_attempts
            );
            return v;
        }
        // Upstream asks for a pass entry; with its flake rule that is a run counted as passed,
        // and with the others a run that only flaked is no pass either.
        if counts.passes == 0 {
            v.status = CheckStatus::Failed;
            v.rule = Rule::NoPass;
            v.summary = format!(
                "Passed {} times, failed {} times, skipped {} times: we require at least one pass to consider it a success",
                counts.passes, counts.failures, counts.skips
            );
            return v;
        }
        let (w, source) = match history() {
            History::Row(pct) => (truncate_percent(pct), HistorySource::Row),
            History::Missing => (self.new_test_pass_rate, HistorySource::NewTestDefault),
            History::Error => (self.history_error_pass_rate, HistorySource::ErrorDefault),
        };
        let strict = self.required.strict(counts.attempts, w);
        let required = with_pity(strict, counts.attempts, self.pity_allowance);
        v.rule = Rule::RequiredPasses;
        v.working_percentage = Some(w);
        v.history = Some(source);
        v.required = Some(required);
        v.strict_required = Some(strict);
        let (word, status) = if counts.passes < required {
            ("Failed", CheckStatus::Failed)
        } else {
            ("Passed", CheckStatus::Passed)
        };
        v.status = status;
        let mut summary = format!(
            "{word}: Passed {} times, failed {} times.  The historical pass rate is {w}%.  The required number of passes is {required}",
            counts.passes, counts.failures
        );
        if status == CheckStatus::Passed && counts.passes < strict {
            summary.push_str(&format!(
                " (strict required number of passes is {strict} but {} failures are allowed as pity factor)",
                self.pity_allowance
            ));
        }
        summary.push('.');
        v.summary = summary;
        v
    }
}

/// `int(WorkingPercentage)`: truncation, clamped to 0..=100.
pub fn truncate_percent(pct: f64) -> u32 {
    if pct.is_nan() || pct <= 0.0 {
        0
    } else if pct >= 100.0 {
        100
    } else {
        pct.trunc() as u32
    }
}

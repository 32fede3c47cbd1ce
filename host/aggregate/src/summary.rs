//! The JSON summary of one aggregation (`aggregation-summary.json`, schema 1): the overall
//! outcome, every test's judgement, the runs, and the disruption checks.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::config::{Mode, Settings};
use crate::disruption::CheckResult;
use crate::runs::DroppedFile;
use crate::verdict::Judgement;
use crate::wait::WaitReport;

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
    pub verdict: Judgement,
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
    /// How the wait for the runs went (`--timeout`/`--job-start-time`), if there was one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wait: Option<WaitReport>,
}

//! What one aggregation is asked to do: the job, its runs, where history comes from, and
//! where the files go.

use std::path::PathBuf;

use flakewatch_core::time::Timestamp;

use crate::history::HistoryRow;
use crate::runs::Selection;

/// Where the historical pass rates come from.
#[derive(Clone, Debug, PartialEq)]
pub enum HistoryInput {
    /// None at all: every test gets the new-test default.
    None,
    /// Rows shaped like `TestRuns_Summary_Last200Runs`, in a JSON file.
    Rows(PathBuf),
    /// Stored runs of the job (`<dir>/<run-id>/...`): the files backend computes the rows.
    Runs(PathBuf),
    /// Rows a test-results store computed (`--history-from`), or why it could not.
    Provided {
        /// Where they come from, for the summary's note (`store "postgres": 12 runs`).
        source: String,
        /// The rows, or the store's error.
        rows: Result<Vec<HistoryRow>, String>,
    },
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

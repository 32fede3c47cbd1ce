//! What the host asks of a test-results store (the `test_results` capability), independent of
//! how the store is reached: the plugin host implements [`ResultsStore`] for plugins.

use flakewatch_plugin_sdk::model::{ResultsRun, TestHistory, TestHistoryRequest};

/// A store's failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store (a plugin) failed, panicked or could not be called; its own error says which
    /// store, which operation and why.
    #[error(transparent)]
    External(Box<dyn std::error::Error + Send + Sync>),
    /// The store answered with data that does not make sense.
    #[error("store {store}: {operation}: invalid data: {message}")]
    InvalidData {
        /// The store's name.
        store: String,
        /// The operation.
        operation: &'static str,
        /// What is wrong.
        message: String,
    },
}

/// A test-results store.
pub trait ResultsStore {
    /// The store's name, for messages.
    fn name(&self) -> &str;

    /// Stores `run` whole; `Ok(false)` when a run with its key is stored already (then
    /// nothing was written).
    fn store_run(&self, run: &ResultsRun) -> Result<bool, StoreError>;

    /// Every stored run of `revision` (of `suite` only, when given), in the order stored.
    fn revision_runs(
        &self,
        revision: &str,
        suite: Option<&str>,
    ) -> Result<Vec<ResultsRun>, StoreError>;

    /// A job's per-test history over its recent runs.
    fn test_history(&self, request: &TestHistoryRequest) -> Result<TestHistory, StoreError>;
}

//! A plugin instance as a test-results store ([`ResultsStore`]): pages through a revision's
//! runs and checks what comes back.

use std::collections::BTreeSet;
use std::sync::Arc;

use flakewatch_plugin_sdk::model::{
    Capability, Config, ResultsRun, RevisionRunsRequest, RunPage, StoreRunRequest, StoredRun,
    TestHistory, TestHistoryRequest,
};
use flakewatch_results::{ResultsStore, StoreError};

use super::{HostError, InstanceOperation as Operation, PluginInstance, PluginLibrary};

/// Most pages a listing may have before the host decides the plugin is looping.
const MAX_PAGES: usize = 1_000_000;

/// A plugin instance used as a test-results store.
#[derive(Debug)]
pub struct PluginStore {
    instance: PluginInstance,
    name: String,
}

impl PluginStore {
    /// Creates an instance of `library` with `config`; fails unless the plugin declares the
    /// `test_results` capability.
    pub fn new(library: &Arc<PluginLibrary>, config: &Config) -> Result<PluginStore, HostError> {
        let info = library.info();
        if !info.capabilities.contains(&Capability::TestResults) {
            return Err(super::missing_capability(library, Capability::TestResults));
        }
        Ok(PluginStore {
            name: info.name.clone(),
            instance: library.instantiate(config)?,
        })
    }

    fn invalid(&self, operation: &'static str, message: impl Into<String>) -> StoreError {
        StoreError::InvalidData {
            store: self.name.clone(),
            operation,
            message: message.into(),
        }
    }
}

impl From<HostError> for StoreError {
    fn from(err: HostError) -> StoreError {
        StoreError::External(Box::new(err))
    }
}

impl ResultsStore for PluginStore {
    fn name(&self) -> &str {
        &self.name
    }

    fn store_run(&self, run: &ResultsRun) -> Result<bool, StoreError> {
        let request = StoreRunRequest { run: run.clone() };
        let stored: StoredRun = self.instance.call(Operation::StoreRun, &request)?;
        Ok(stored.stored)
    }

    fn revision_runs(
        &self,
        revision: &str,
        suite: Option<&str>,
    ) -> Result<Vec<ResultsRun>, StoreError> {
        let operation = Operation::RevisionRuns.name();
        let mut runs = Vec::new();
        let mut keys = BTreeSet::new();
        let mut cursors = BTreeSet::new();
        let mut cursor = None;
        for _ in 0..MAX_PAGES {
            let page: RunPage = self.instance.call(
                Operation::RevisionRuns,
                &RevisionRunsRequest {
                    revision: revision.to_owned(),
                    suite: suite.map(str::to_owned),
                    cursor,
                },
            )?;
            for run in page.runs {
                if run.revision.as_deref() != Some(revision) {
                    return Err(self.invalid(
                        operation,
                        format!("run {} is of revision {:?}", run.key, run.revision),
                    ));
                }
                if suite.is_some() && run.suite.as_deref() != suite {
                    return Err(self.invalid(
                        operation,
                        format!("run {} is of suite {:?}", run.key, run.suite),
                    ));
                }
                if !keys.insert(run.key.clone()) {
                    return Err(self.invalid(operation, format!("run {} listed twice", run.key)));
                }
                runs.push(run);
            }
            match page.next_cursor {
                None => return Ok(runs),
                Some(next) if !cursors.insert(next.clone()) => {
                    return Err(self.invalid(
                        operation,
                        format!("the listing does not end (cursor {next:?} again)"),
                    ));
                }
                Some(next) => cursor = Some(next),
            }
        }
        Err(self.invalid(operation, format!("more than {MAX_PAGES} pages")))
    }

    fn test_history(&self, request: &TestHistoryRequest) -> Result<TestHistory, StoreError> {
        let history: TestHistory = self.instance.call(Operation::TestHistory, request)?;
        if !history.rows.is_empty() && history.runs == 0 {
            return Err(self.invalid(
                Operation::TestHistory.name(),
                "rows of history over a window of no runs",
            ));
        }
        Ok(history)
    }
}

//! The test-results store a command uses: `--store NAME` (a plugin with the `test_results`
//! capability; `files` keeps an embedded SQLite database in `--data DIR`) and its options.

use clap::Args;
use flakewatch_plugin_host::PluginStore;

use crate::plugin_options::PluginOptions;

/// The store used when none is named: the files backend's embedded SQLite database.
pub(crate) const DEFAULT_STORE: &str = "files";

/// Where test results are kept.
#[derive(Debug, Args)]
pub(crate) struct StoreArgs {
    /// The test-results store: a plugin providing `test_results` (`files`: SQLite in --data
    /// DIR; `postgres`: --opt postgres:url=... or FLAKEWATCH_POSTGRES_URL; `bigquery`:
    /// --opt bigquery:project=P --opt bigquery:dataset=D and a token) [default: files].
    #[arg(long = "store", value_name = "NAME")]
    pub store: Option<String>,
    /// Plugin libraries and their options.
    #[command(flatten)]
    pub plugin: PluginOptions,
}

impl StoreArgs {
    /// The store's name.
    pub(crate) fn name(&self) -> &str {
        self.store.as_deref().unwrap_or(DEFAULT_STORE)
    }

    /// Loads the store's plugin and creates an instance.
    pub(crate) fn open(&self) -> anyhow::Result<PluginStore> {
        self.plugin.open_store(self.name())
    }
}

//! Plugins: finding plugin libraries, loading them through the C ABI of
//! `flakewatch-plugin-sdk`, and using them as [backends](flakewatch_triage::backend).
//!
//! | module | what |
//! |---|---|
//! | [`loader`] | `dlopen`, ABI checks, calls through the table (the host's only `unsafe`) |
//! | [`discover`] | where plugins are looked for: `--plugin PATH`, `FLAKEWATCH_PLUGIN_PATH`, beside the executable |
//! | [`adapter`] | a plugin instance as an [`IssueTracker`](flakewatch_triage::backend::IssueTracker) and [`FailureSource`](flakewatch_triage::backend::FailureSource) |
//! | [`results`] | a plugin instance as a [`ResultsStore`](flakewatch_results::ResultsStore) |
//! | [`tables`] | a plugin instance as the job-run-aggregator's tables |
//!
//! Every error names the plugin (its path, and its name once known); a plugin that panics,
//! has the wrong ABI version or lacks the entry symbol gives an error, never a crash.

pub mod adapter;
pub mod discover;
pub mod loader;
pub mod results;
pub mod tables;

use std::fmt;
use std::path::PathBuf;

use flakewatch_triage::backend::BackendError;

pub use adapter::PluginBackend;
pub use discover::{PLUGIN_PATH_ENV, PluginRegistry, PluginSearch};
pub use loader::{PluginInstance, PluginLibrary};
pub use results::PluginStore;
pub use tables::PluginTables;

pub use flakewatch_plugin_sdk::abi::{InstanceOperation, LibraryOperation};

/// How a call into a plugin failed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CallFailure {
    /// The plugin reported an error.
    Failed,
    /// The plugin does not implement the operation.
    Unsupported,
    /// The plugin panicked (caught by the SDK at the boundary).
    Panicked,
    /// The plugin rejected the request or its configuration.
    BadRequest,
    /// The plugin returned a status code this host does not know.
    UnknownStatus(i32),
    /// The response could not be decoded.
    BadResponse,
}

impl fmt::Display for CallFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallFailure::Failed => f.write_str("failed"),
            CallFailure::Unsupported => f.write_str("is not supported"),
            CallFailure::Panicked => f.write_str("panicked"),
            CallFailure::BadRequest => f.write_str("rejected the request"),
            CallFailure::UnknownStatus(code) => write!(f, "returned unknown status {code}"),
            CallFailure::BadResponse => f.write_str("returned an invalid response"),
        }
    }
}

/// Why a plugin could not be found, loaded or used.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The file is not a whole shared library (checked before the dynamic loader maps it).
    #[error("plugin {}: cannot load it: {reason}", path.display())]
    NotALibrary {
        /// The library's path.
        path: PathBuf,
        /// What is wrong with the file.
        reason: String,
    },
    /// The dynamic loader refused the file.
    #[error("plugin {}: cannot load it: {source}", path.display())]
    Open {
        /// The library's path.
        path: PathBuf,
        /// The loader's error.
        source: libloading::Error,
    },
    /// The library has no entry symbol: it is not a flakewatch plugin.
    #[error("plugin {}: not a flakewatch plugin: it has no `{symbol}` symbol", path.display())]
    MissingEntry {
        /// The library's path.
        path: PathBuf,
        /// The symbol looked for.
        symbol: &'static str,
        /// The loader's error.
        source: libloading::Error,
    },
    /// The entry function returned a null or misaligned table.
    #[error("plugin {}: its entry function returned no usable table", path.display())]
    BadTable {
        /// The library's path.
        path: PathBuf,
    },
    /// A required (version-1) entry of the table is null.
    #[error("plugin {}: its table has no `{entry}` function (version-1 entries are required)", path.display())]
    NullEntry {
        /// The library's path.
        path: PathBuf,
        /// The entry's name.
        entry: &'static str,
    },
    /// The plugin speaks another ABI version.
    #[error(
        "plugin {}: it speaks plugin ABI version {found}, but this flakewatch speaks version \
         {expected}; rebuild it against flakewatch-plugin-sdk {}",
        path.display(),
        flakewatch_plugin_sdk::SDK_VERSION
    )]
    AbiVersion {
        /// The library's path.
        path: PathBuf,
        /// The version in its table.
        found: u32,
        /// The version this host speaks.
        expected: u32,
    },
    /// The table is smaller than a version-1 table.
    #[error(
        "plugin {}: its function table has {found} bytes, fewer than the {expected} of ABI \
         version 1",
        path.display()
    )]
    TableTooSmall {
        /// The library's path.
        path: PathBuf,
        /// The size it states.
        found: u32,
        /// The size expected at least.
        expected: u32,
    },
    /// A call into the plugin failed.
    #[error("plugin {plugin} ({}): {operation} {failure}: {message}", path.display())]
    Call {
        /// The plugin's name.
        plugin: String,
        /// The library's path.
        path: PathBuf,
        /// The operation called.
        operation: &'static str,
        /// How it failed.
        failure: CallFailure,
        /// The plugin's message.
        message: String,
    },
    /// No plugin of that name was found.
    #[error(
        "no plugin named {name:?}: looked for {file} in {}{hint}",
        if searched.is_empty() { "no directory".to_owned() } else {
            searched.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
        }
    )]
    NotFound {
        /// The name asked for.
        name: String,
        /// The file name looked for.
        file: String,
        /// The directories searched.
        searched: Vec<PathBuf>,
        /// A suggestion.
        hint: String,
    },
    /// The plugin lacks a capability the command needs.
    #[error("plugin {plugin} ({}) does not provide {capability}; it provides: {provides}", path.display())]
    MissingCapability {
        /// The plugin's name.
        plugin: String,
        /// The library's path.
        path: PathBuf,
        /// The capability needed.
        capability: &'static str,
        /// What it provides.
        provides: String,
    },
}

impl From<HostError> for BackendError {
    fn from(err: HostError) -> BackendError {
        BackendError::External(Box::new(err))
    }
}

/// The error for a plugin that lacks `capability`, naming what it provides.
pub(crate) fn missing_capability(
    library: &PluginLibrary,
    capability: flakewatch_plugin_sdk::model::Capability,
) -> HostError {
    let info = library.info();
    HostError::MissingCapability {
        plugin: info.name.clone(),
        path: library.path().to_path_buf(),
        capability: capability.name(),
        provides: if info.capabilities.is_empty() {
            "nothing".to_owned()
        } else {
            info.capabilities
                .iter()
                .map(|c| c.name())
                .collect::<Vec<_>>()
                .join(", ")
        },
    }
}

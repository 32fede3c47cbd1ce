//! The flakewatch plugin SDK: everything a plugin author needs, and nothing of flakewatch's
//! internals.
//!
//! A plugin is a `cdylib` that implements [`Plugin`] and exports it with
//! [`export_plugin!`]. flakewatch loads it at run time (`--plugin PATH`,
//! `FLAKEWATCH_PLUGIN_PATH`, or beside the `flakewatch` executable), checks the ABI version,
//! and talks to it through a small C ABI ([`abi`]) whose payloads are JSON documents
//! ([`model`]).
//!
//! ```
//! use flakewatch_plugin_sdk::model::{Capability, Config, IssuePage, ListIssuesRequest, PluginInfo};
//! use flakewatch_plugin_sdk::{Plugin, PluginError, export_plugin};
//!
//! /// A tracker with no issues.
//! struct Empty;
//!
//! impl Plugin for Empty {
//!     fn info() -> PluginInfo {
//!         PluginInfo {
//!             name: "empty".into(),
//!             capabilities: vec![Capability::IssueTracker],
//!             ..PluginInfo::default()
//!         }
//!     }
//!     fn create(_config: &Config) -> Result<Self, PluginError> {
//!         Ok(Empty)
//!     }
//!     fn list_issues(&self, _request: &ListIssuesRequest) -> Result<IssuePage, PluginError> {
//!         Ok(IssuePage::default())
//!     }
//! }
//!
//! export_plugin!(Empty);
//! ```
//!
//! `docs/plugin-abi.md` describes the ABI for authors in other languages.

pub mod abi;
pub mod ffi;
pub mod kit;
pub mod model;
pub mod plugin;

pub use plugin::{ErrorKind, Plugin, PluginError};

/// This SDK's version (a plugin reports the one it was built with in `describe`).
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");

/// Exports a [`Plugin`] type: defines the entry symbol
/// ([`ENTRY_SYMBOL`](abi::ENTRY_SYMBOL)) that returns the plugin's static table.
///
/// Use it once, at the root of a `cdylib` crate. The expansion needs `#[unsafe(no_mangle)]`,
/// which it allows locally, so the crate may `deny(unsafe_code)` but not `forbid` it.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ty) => {
        /// The flakewatch plugin entry point: the plugin's static function table.
        #[allow(unsafe_code, reason = "the exported, unmangled plugin entry symbol")]
        #[unsafe(no_mangle)]
        pub extern "C" fn flakewatch_plugin_v1() -> *const $crate::abi::PluginTable {
            static TABLE: $crate::abi::PluginTable = $crate::ffi::table::<$plugin>();
            &TABLE
        }
    };
}

//! Test fixture: a plugin built against a future ABI. Its table states version 999, so the
//! host must refuse it before calling anything.

use flakewatch_plugin_sdk::abi::PluginTable;
use flakewatch_plugin_sdk::model::{Config, PluginInfo};
use flakewatch_plugin_sdk::{Plugin, PluginError};

/// A plugin that does nothing.
pub struct Future;

impl Plugin for Future {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "future".to_owned(),
            ..PluginInfo::default()
        }
    }

    fn create(_config: &Config) -> Result<Self, PluginError> {
        Ok(Future)
    }
}

/// The entry point, returning a table with a wrong version.
#[allow(
    unsafe_code,
    reason = "test fixture: a hand-written plugin entry symbol"
)]
#[unsafe(no_mangle)]
pub extern "C" fn flakewatch_plugin_v1() -> *const PluginTable {
    static TABLE: PluginTable = {
        let mut table = flakewatch_plugin_sdk::ffi::table::<Future>();
        table.abi_version = 999;
        table
    };
    &TABLE
}

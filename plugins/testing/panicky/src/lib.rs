//! Test fixture: a plugin that panics. `create` panics when the option `panic_in_create` is
//! set; `list_issues` and `list_builds` always panic. The SDK must turn every panic into an
//! error, and the host must survive it.

use flakewatch_plugin_sdk::model::{
    BuildPage, Capability, Config, IssuePage, ListBuildsRequest, ListIssuesRequest, PluginInfo,
};
use flakewatch_plugin_sdk::{Plugin, PluginError, export_plugin};

/// A plugin that panics.
pub struct Panicky;

impl Plugin for Panicky {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "panicky".to_owned(),
            capabilities: vec![Capability::IssueTracker, Capability::FailureSource],
            ..PluginInfo::default()
        }
    }

    fn create(config: &Config) -> Result<Self, PluginError> {
        if config.get("panic_in_create").is_some() {
            panic!("panicky: create was told to panic");
        }
        Ok(Panicky)
    }

    fn list_issues(&self, _request: &ListIssuesRequest) -> Result<IssuePage, PluginError> {
        panic!("panicky: list_issues always panics");
    }

    fn list_builds(&self, _request: &ListBuildsRequest) -> Result<BuildPage, PluginError> {
        let empty: Vec<u8> = Vec::new();
        // An index out of bounds, as a real bug would panic.
        let _ = empty[3];
        Ok(BuildPage::default())
    }
}

export_plugin!(Panicky);

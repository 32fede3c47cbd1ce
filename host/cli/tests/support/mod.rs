//! Shared by the CLI's integration tests: the plugin builds of the plugin-host tests, and the
//! real `flakewatch` binary with the files plugin beside it.

#![allow(
    dead_code,
    unused_imports,
    reason = "each test binary uses a different part of this module"
)]

#[path = "../../../plugin-host/tests/plugin_support/mod.rs"]
mod plugin_support;

use std::path::PathBuf;
use std::process::Command;

pub(crate) use plugin_support::{DEMO_NOW, demo_copy, plugin, workspace};

/// The `flakewatch` binary, with the files plugin built beside it.
pub(crate) fn flakewatch() -> Command {
    let files = plugin("flakewatch-plugin-files");
    let exe = PathBuf::from(env!("CARGO_BIN_EXE_flakewatch"));
    assert_eq!(
        files.parent(),
        exe.parent(),
        "the files plugin must sit beside the flakewatch executable"
    );
    let mut cmd = Command::new(exe);
    cmd.env_remove("FLAKEWATCH_PLUGIN_PATH")
        .env_remove("FLAKEWATCH_FILES_CRASH_AT");
    cmd
}

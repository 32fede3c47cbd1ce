//! `flakewatch plugin info PATH|NAME`: loads a plugin through the real loader and says what it
//! is: name, version, the SDK and ABI it was built with, its capabilities and operations, and
//! the file name under which it is found by name.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use flakewatch_plugin_host::{InstanceOperation, PluginLibrary, PluginRegistry, PluginSearch};
use flakewatch_plugin_sdk::abi::{ABI_VERSION, TABLE_SIZE, TABLE_SIZE_V1};

/// Arguments of `flakewatch plugin`.
#[derive(Debug, Args)]
pub(crate) struct PluginArgs {
    #[command(subcommand)]
    command: PluginCommand,
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// Load a plugin and print its name, versions, ABI, capabilities and operations.
    Info {
        /// A plugin library (a path: it contains a `/` or names an existing file) or a plugin
        /// name, looked up as `--backend NAME` is.
        plugin: String,
    },
}

/// Runs `flakewatch plugin`.
pub(crate) fn run(args: &PluginArgs) -> anyhow::Result<ExitCode> {
    let PluginCommand::Info { plugin } = &args.command;
    let as_path = PathBuf::from(plugin);
    let library = if plugin.contains(std::path::MAIN_SEPARATOR) || as_path.is_file() {
        PluginLibrary::load(&as_path)?
    } else {
        PluginRegistry::open(PluginSearch::from_environment(Vec::new()))?.find(plugin)?
    };
    let info = library.info();
    let mut out = crate::stdout();
    let capabilities: Vec<&str> = info.capabilities.iter().map(|c| c.name()).collect();
    let operations: Vec<&str> = InstanceOperation::ALL
        .into_iter()
        .filter(|op| library.has_entry(*op))
        .map(InstanceOperation::name)
        .collect();
    let missing: Vec<&str> = InstanceOperation::ALL
        .into_iter()
        .filter(|op| !library.has_entry(*op))
        .map(InstanceOperation::name)
        .collect();
    writeln!(out, "name:         {}", info.name)?;
    writeln!(out, "version:      {}", info.version)?;
    if !info.description.is_empty() {
        writeln!(out, "description:  {}", info.description)?;
    }
    writeln!(out, "path:         {}", library.path().display())?;
    writeln!(
        out,
        "found by name as {} (beside flakewatch, or in a directory of FLAKEWATCH_PLUGIN_PATH)",
        PluginSearch::file_name(&info.name)
    )?;
    writeln!(
        out,
        "built with:   flakewatch-plugin-sdk {}",
        info.sdk_version
    )?;
    writeln!(
        out,
        "ABI:          version {ABI_VERSION}, table of {} bytes (version 1: {TABLE_SIZE_V1}; this \
         flakewatch: {TABLE_SIZE})",
        library.table_size()
    )?;
    writeln!(out, "capabilities: {}", capabilities.join(", "))?;
    writeln!(out, "operations:   {}", operations.join(", "))?;
    if !missing.is_empty() {
        writeln!(
            out,
            "not in its table (built with an older SDK): {}",
            missing.join(", ")
        )?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

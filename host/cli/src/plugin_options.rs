//! The options every command that loads plugins shares: which libraries to load and the
//! options each plugin instance gets (`--data`, `--opt`, `--opt-env`, `--opt-file`).
//!
//! Secrets never pass through here as text on the command line when the user follows the
//! docs: `--opt-env` and `--opt-file` read them, and a malformed option is reported by its
//! flag and position, never by its text.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Args;
use flakewatch_plugin_host::{PluginRegistry, PluginSearch, PluginStore};
use flakewatch_plugin_sdk::model::Config;

/// Plugin libraries and their options.
#[derive(Debug, Args)]
pub(crate) struct PluginOptions {
    /// Load a plugin library (repeatable). Plugins are also found through
    /// FLAKEWATCH_PLUGIN_PATH and beside the flakewatch executable.
    #[arg(long = "plugin", value_name = "PATH")]
    pub plugins: Vec<PathBuf>,
    /// The data directory of the files backend (the same as --opt data=DIR).
    #[arg(long, value_name = "DIR")]
    pub data: Option<PathBuf>,
    /// A plugin option, KEY=VALUE for every plugin or PLUGIN:KEY=VALUE for one (repeatable).
    /// Not for secrets: command lines are visible to other users; use --opt-env or
    /// --opt-file.
    #[arg(long = "opt", value_name = "KEY=VALUE")]
    pub opts: Vec<String>,
    /// A plugin option whose value is an environment variable's: KEY=VARIABLE, or
    /// PLUGIN:KEY=VARIABLE for one plugin (repeatable). For tokens and passwords.
    #[arg(long = "opt-env", value_name = "KEY=VARIABLE")]
    pub opts_env: Vec<String>,
    /// A plugin option whose value is a file's content (trailing newline removed, at most
    /// 64 KiB): KEY=PATH, or PLUGIN:KEY=PATH for one plugin (repeatable). For tokens and
    /// passwords.
    #[arg(long = "opt-file", value_name = "KEY=PATH")]
    pub opts_file: Vec<String>,
}

impl PluginOptions {
    /// Every plugin option: (flag, plugin it is for or `None` for all, key, value). A
    /// malformed option is an error that shows its flag and position, never its text (it may
    /// hold a secret).
    fn options_given(&self) -> anyhow::Result<Vec<GivenOption>> {
        let mut all = Vec::new();
        let sources: [(&'static str, &Vec<String>); 3] = [
            ("--opt", &self.opts),
            ("--opt-env", &self.opts_env),
            ("--opt-file", &self.opts_file),
        ];
        for (flag, given) in sources {
            for (n, opt) in given.iter().enumerate() {
                let Some((key, value)) = opt.split_once('=') else {
                    return Err(crate::UsageError(format!(
                        "{flag} number {}: expected KEY=VALUE or PLUGIN:KEY=VALUE (its text is \
                         not shown: it may hold a secret)",
                        n + 1
                    ))
                    .into());
                };
                let (plugin, key) = match key.split_once(':') {
                    Some((plugin, key)) => (Some(plugin.to_owned()), key),
                    None => (None, key),
                };
                if key.is_empty() {
                    return Err(crate::UsageError(format!(
                        "{flag} number {}: the option has no name",
                        n + 1
                    ))
                    .into());
                }
                let value = match flag {
                    "--opt-env" => std::env::var(value).map_err(|_| {
                        anyhow::anyhow!(
                            "{flag} {key}: the environment variable {value} is not set (or not UTF-8)"
                        )
                    })?,
                    "--opt-file" => read_secret_file(Path::new(value))
                        .with_context(|| format!("{flag} {key}: reading {value}"))?,
                    _ => value.to_owned(),
                };
                all.push((flag, plugin, key.to_owned(), value));
            }
        }
        Ok(all)
    }

    /// The options for plugin `name`.
    pub(crate) fn config(&self, name: &str) -> anyhow::Result<Config> {
        let mut options = BTreeMap::new();
        if let Some(dir) = &self.data {
            options.insert("data".to_owned(), dir.display().to_string());
        }
        for (_, plugin, key, value) in self.options_given()? {
            if plugin.is_none() || plugin.as_deref() == Some(name) {
                options.insert(key, value);
            }
        }
        Ok(Config { options })
    }

    /// Refuses an option for a plugin this run does not use (a typo would go unnoticed).
    pub(crate) fn check_option_targets(&self, used: &[&str]) -> anyhow::Result<()> {
        for (flag, plugin, key, _) in self.options_given()? {
            if let Some(plugin) = plugin
                && !used.contains(&plugin.as_str())
            {
                return Err(crate::UsageError(format!(
                    "{flag} {plugin}:{key}: this run uses no plugin named {plugin:?} (it uses {})",
                    used.join(", ")
                ))
                .into());
            }
        }
        Ok(())
    }

    /// Loads the test-results store `name` (a plugin with the `test_results` capability) and
    /// creates an instance with its options.
    pub(crate) fn open_store(&self, name: &str) -> anyhow::Result<PluginStore> {
        self.check_option_targets(&[name])?;
        let library = self.registry()?.find(name)?;
        let config = self.config(name)?;
        PluginStore::new(&library, &config)
            .with_context(|| format!("opening the test-results store {name:?}"))
    }

    /// Opens the plugin registry: the `--plugin` libraries, `FLAKEWATCH_PLUGIN_PATH` and the
    /// directory of the executable.
    pub(crate) fn registry(&self) -> anyhow::Result<PluginRegistry> {
        Ok(PluginRegistry::open(PluginSearch::from_environment(
            self.plugins.clone(),
        ))?)
    }
}

/// A plugin option as given: (flag, the plugin it is for or `None` for all, key, value).
type GivenOption = (&'static str, Option<String>, String, String);

/// Reads a secret from a file: at most 64 KiB, one trailing newline removed.
fn read_secret_file(path: &Path) -> anyhow::Result<String> {
    use std::io::Read as _;
    const LIMIT: u64 = 64 * 1024;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(LIMIT + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > LIMIT {
        bail!("larger than {LIMIT} bytes");
    }
    let trimmed = text.strip_suffix('\n').unwrap_or(&text);
    Ok(trimmed.strip_suffix('\r').unwrap_or(trimmed).to_owned())
}

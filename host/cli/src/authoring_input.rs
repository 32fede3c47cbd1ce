//! Where the authoring commands (`lint`, `explain`, `preview`) take issues and failures from:
//! files (`--issues`, `--failures`), or a backend's tracker and the failures of its triage
//! window (after the same filtering and coalescing as a triage cycle).

use std::io::BufReader;
use std::path::PathBuf;

use clap::Args;
use flakewatch_authoring::lint::Failures;
use flakewatch_ingest::records::read_records;
use flakewatch_triage::backend::IssueTracker;
use flakewatch_triage::patterns::read_issues;
use flakewatch_triage::run::{PlanStats, collect_failures, window_start};

use flakewatch_plugin_host::PluginBackend;
use flakewatch_plugin_sdk::model::Capability;

use crate::plugin_options::PluginOptions;

/// Issues and failures for an authoring command.
#[derive(Debug, Args)]
pub(crate) struct AuthoringInput {
    /// Issues in GitHub's JSON shape, one per line (`-` reads standard input); without it, the
    /// backend's issue tracker.
    #[arg(long, value_name = "FILE")]
    pub issues: Option<PathBuf>,
    /// Failure records, one JSON object per line (watchflakes field names; `url` names the
    /// build); without it and without --issues, the failures of the backend's triage window.
    #[arg(long, value_name = "FILE")]
    pub failures: Option<PathBuf>,
    /// The plugin providing the issue tracker and the failure source when they come from a
    /// backend [default: files].
    #[arg(long, value_name = "NAME")]
    pub backend: Option<String>,
    /// The time the 45-day window counts back from (RFC 3339) [default: now].
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// The backend's plugin libraries and options.
    #[command(flatten)]
    pub plugin: PluginOptions,
}

/// What was read.
pub(crate) struct Input {
    /// (number, body) of every issue.
    pub issues: Vec<(u64, String)>,
    /// The failures, when any source of them was given.
    pub failures: Option<Failures>,
    /// The start of the triage window, as a record's `date` value.
    pub window_start: String,
}

impl AuthoringInput {
    /// Reads the issues and failures.
    pub(crate) fn read(&self) -> anyhow::Result<Input> {
        let now = crate::now_or_clock(self.now.as_deref())?;
        let since = window_start(now);
        let issues = match &self.issues {
            Some(path) => {
                let file = crate::open_input(path)?;
                read_issues(BufReader::new(file), &path.display().to_string())?
                    .into_iter()
                    .map(|i| (i.number, i.body.unwrap_or_default()))
                    .collect()
            }
            None => self
                .open(Capability::IssueTracker)?
                .list_issues()?
                .into_iter()
                .map(|i| (i.number, i.body))
                .collect(),
        };
        let failures = match (&self.failures, &self.issues) {
            (Some(path), _) => Some(read_failure_file(path)?),
            (None, Some(_)) if self.backend.is_none() => None,
            (None, _) => {
                let source = self.open(Capability::FailureSource)?;
                let builds =
                    collect_failures(&source, since, &mut PlanStats::default(), &mut Vec::new())?;
                let mut failures = Failures::default();
                for post in builds.iter().flatten() {
                    failures.records.push(post.record());
                    failures.urls.push(post.url.clone());
                }
                Some(failures)
            }
        };
        Ok(Input {
            issues,
            failures,
            window_start: since.format_rfc3339(),
        })
    }

    /// The backend's plugin, checked for `capability`.
    fn open(&self, capability: Capability) -> anyhow::Result<PluginBackend> {
        let name = self
            .backend
            .as_deref()
            .unwrap_or(crate::triage::DEFAULT_BACKEND);
        self.plugin.check_option_targets(&[name])?;
        let library = self.plugin.registry()?.find(name)?;
        let backend = PluginBackend::new(&library, &self.plugin.config(name)?)?;
        backend.require(capability)?;
        Ok(backend)
    }
}

/// Reads failure records; a bad line stops the command, naming the file and line.
pub(crate) fn read_failure_file(path: &std::path::Path) -> anyhow::Result<Failures> {
    let file = crate::open_input(path)?;
    let name = path.display().to_string();
    let mut failures = Failures::default();
    for line in read_records(BufReader::new(file), &name) {
        let line = line?;
        failures.urls.push(
            line.extra
                .get("url")
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned(),
        );
        failures.records.push(line.record);
    }
    Ok(failures)
}

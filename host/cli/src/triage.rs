//! `flakewatch triage`: one watchflakes triage cycle over plugin backends. A dry run by
//! default (prints the plan); `--apply` performs it. See `docs/triage.md`.
//!
//! Sharded cycles (docs/triage.md, "Sharding"): `--shard I/N --examined-out FILE` examines
//! one share of the failed builds and writes it; `--merge FILE...` plans (and with `--apply`
//! performs) the cycle from every share's file.
//!
//! Also home of the backend options shared with `flakewatch query`.

use std::fs::File;
use std::io::{self, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use crate::plugin_options::PluginOptions;
use crate::schema::TriageDocument;
use anyhow::Context;
use clap::Args;
use flakewatch_plugin_sdk::model::Capability;

use flakewatch_plugin_host::{PluginBackend, PluginLibrary};
use flakewatch_triage::backend::{CycleLock, IssueTracker};
use flakewatch_triage::cache::SetCache;
use flakewatch_triage::cluster::NewIssueMode;
use flakewatch_triage::engine::EngineKind;
use flakewatch_triage::run::{
    self, ApplyReport, DEFAULT_MAX_NEW_ISSUES, Decision, IssueRef, TriageOptions, TriagePlan,
};
use flakewatch_triage::shard::{self, Merged, Shard, ShardPart};

/// Exit code when the guard rail stopped `--apply` (too many new issues pending).
pub(crate) const EXIT_GUARD_RAIL: u8 = 4;

/// The backend used when none is named.
pub(crate) const DEFAULT_BACKEND: &str = "files";

/// Where failures and issues come from (shared by `triage` and `query`).
#[derive(Debug, Args)]
pub(crate) struct BackendArgs {
    /// The plugin providing both the issue tracker and the failure source [default: the
    /// first --plugin, else "files"].
    #[arg(long, value_name = "NAME")]
    pub backend: Option<String>,
    /// The plugin providing the issue tracker, if not --backend.
    #[arg(long, value_name = "NAME")]
    pub issues: Option<String>,
    /// The plugin providing the failure source, if not --backend.
    #[arg(long, value_name = "NAME")]
    pub failures: Option<String>,
    /// Plugin libraries and their options.
    #[command(flatten)]
    pub plugin: PluginOptions,
    /// The time the 45-day window counts back from (RFC 3339) [default: now].
    #[arg(long, value_name = "TIME")]
    pub now: Option<String>,
    /// The engine that evaluates the scripts.
    #[arg(long, value_parser = crate::engine_parser(), default_value = "jit")]
    pub engine: EngineKind,
}

/// The backends of a run, resolved from [`BackendArgs`].
#[derive(Debug)]
pub(crate) struct Backends {
    /// The issue tracker, when one was asked for.
    pub tracker: Option<Arc<PluginBackend>>,
    /// The failure source.
    pub source: Arc<PluginBackend>,
}

impl BackendArgs {
    /// The start of the time window.
    pub(crate) fn options(&self) -> anyhow::Result<TriageOptions> {
        let now = crate::now_or_clock(self.now.as_deref())?;
        let mut options = TriageOptions::new(now);
        options.engine = self.engine;
        Ok(options)
    }

    /// The names of the tracker's and the failure source's plugins.
    fn names(&self, registry: &flakewatch_plugin_host::PluginRegistry) -> (String, String) {
        let default = match (&self.backend, registry.explicit().first()) {
            (Some(name), _) => name.clone(),
            (None, Some(first)) => first.info().name.clone(),
            (None, None) => DEFAULT_BACKEND.to_owned(),
        };
        let tracker_name = self.issues.clone().unwrap_or_else(|| default.clone());
        (tracker_name, self.failures.clone().unwrap_or(default))
    }

    /// Loads the plugins and creates the issue tracker only (the merger of a sharded cycle
    /// reads no failure source; options naming the source's plugin are still accepted, so
    /// that workers and merger can share their backend options).
    pub(crate) fn resolve_tracker(&self) -> anyhow::Result<Arc<PluginBackend>> {
        let mut registry = self.plugin.registry()?;
        let (tracker_name, source_name) = self.names(&registry);
        self.plugin
            .check_option_targets(&[tracker_name.as_str(), source_name.as_str()])?;
        let tracker = Arc::new(self.instantiate(&registry.find(&tracker_name)?)?);
        tracker.require(Capability::IssueTracker)?;
        Ok(tracker)
    }

    /// Loads the plugins and creates the instances: the failure source, and the issue
    /// tracker if `with_tracker`.
    pub(crate) fn resolve(&self, with_tracker: bool) -> anyhow::Result<Backends> {
        let mut registry = self.plugin.registry()?;
        let (tracker_name, source_name) = self.names(&registry);
        let mut used = vec![source_name.as_str()];
        if with_tracker && tracker_name != source_name {
            used.push(tracker_name.as_str());
        }
        self.plugin.check_option_targets(&used)?;
        let source_lib = registry.find(&source_name)?;
        let source = Arc::new(self.instantiate(&source_lib)?);
        source.require(Capability::FailureSource)?;
        let tracker = if with_tracker {
            let tracker_lib = registry.find(&tracker_name)?;
            let tracker = if Arc::ptr_eq(&tracker_lib, &source_lib) {
                Arc::clone(&source)
            } else {
                Arc::new(self.instantiate(&tracker_lib)?)
            };
            tracker.require(Capability::IssueTracker)?;
            Some(tracker)
        } else {
            None
        };
        Ok(Backends { tracker, source })
    }

    fn instantiate(&self, library: &Arc<PluginLibrary>) -> anyhow::Result<PluginBackend> {
        let config = self.plugin.config(&library.info().name)?;
        Ok(PluginBackend::new(library, &config)?)
    }
}

/// Arguments of `flakewatch triage`.
#[derive(Debug, Args)]
pub(crate) struct TriageArgs {
    /// Where issues and failures come from.
    #[command(flatten)]
    pub backend: BackendArgs,
    /// Perform the plan: post script-error comments, create issues, reopen, comment.
    /// Without it nothing is written.
    #[arg(long)]
    pub apply: bool,
    /// Print the plan (and with --apply, the result) as one JSON document.
    #[arg(long)]
    pub json: bool,
    /// The guard rail: with this many new issues pending or more, nothing is posted.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_NEW_ISSUES)]
    pub max_new_issues: usize,
    /// With --apply: how long to wait for another run that holds the tracker's cycle lock.
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    pub lock_wait: u64,
    /// Triage only this build (its ID, or a URL ending in it) as a one-entry dashboard,
    /// without the obvious-flake filter: for filing on demand.
    #[arg(long, value_name = "URL|ID", value_parser = crate::repeat::parse_build)]
    pub build: Option<i64>,
    /// How failures no script claims become new issues: `clustered` (one issue per cluster
    /// of related failures, with a generated pattern the engine re-checks) or `upstream`
    /// (watchflakes' one issue per test, at most one per build and cycle).
    #[arg(long, value_name = "MODE", value_parser = new_issues_parser(), default_value = "clustered")]
    pub new_issues: NewIssueMode,
    /// Cache the tracker's compiled issue set in DIR (created if missing): an issue set
    /// compiled before with the same engine is read back instead of being parsed and lowered
    /// again (as `match --cache`).
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    /// Run a cycle every DURATION (`30m`, `1h`) until SIGINT or SIGTERM, which end the run
    /// after the cycle in flight; one log line per cycle on stderr.
    #[arg(long, value_name = "DURATION", value_parser = crate::repeat::parse_interval)]
    pub repeat: Option<Duration>,
    /// Examine one share of the cycle's failed builds (`I/N`, 1-based; a stable hash of the
    /// build's URL picks its share) and write it to --examined-out: a worker of a sharded
    /// cycle. Reads the tracker's issues and the whole failure source; writes nothing to the
    /// tracker.
    #[arg(
        long,
        value_name = "I/N",
        value_parser = parse_shard,
        requires = "examined_out",
        conflicts_with_all = ["apply", "json", "build", "repeat", "merge"]
    )]
    pub shard: Option<Shard>,
    /// With --shard: the shard file to write (`-`: standard output).
    #[arg(long, value_name = "FILE", requires = "shard")]
    pub examined_out: Option<PathBuf>,
    /// Plan the cycle from the shard files of every share (the merger of a sharded cycle),
    /// then print or --apply the plan exactly as an unsharded run does.
    #[arg(
        long,
        value_name = "FILE",
        num_args = 1..,
        conflicts_with_all = ["build", "repeat"]
    )]
    pub merge: Vec<PathBuf>,
}

/// The values of `--shard`.
fn parse_shard(text: &str) -> Result<Shard, String> {
    text.parse().map_err(|e: shard::ShardError| e.to_string())
}

/// The values of `--new-issues`.
fn new_issues_parser() -> impl clap::builder::TypedValueParser<Value = NewIssueMode> {
    use clap::builder::TypedValueParser as _;
    let names = NewIssueMode::ALL.map(NewIssueMode::name);
    clap::builder::PossibleValuesParser::new(names)
        .map(|name| NewIssueMode::from_name(&name).unwrap_or_default())
}

/// Takes the tracker's cycle lock for `--apply`, so that one run at a time reads, plans and
/// writes: at once if it is free; else says who holds it and waits up to `wait_seconds`.
pub(crate) fn take_cycle_lock(tracker: &dyn IssueTracker, wait_seconds: u64) -> anyhow::Result<()> {
    match tracker.begin_cycle(Duration::ZERO)? {
        CycleLock::Acquired => Ok(()),
        CycleLock::Unsupported => {
            eprintln!(
                "flakewatch triage: warning: the tracker {} has no cycle lock; another --apply \
                 run at the same time could post the same failures twice",
                tracker.name()
            );
            Ok(())
        }
        CycleLock::Held(holder) => {
            let holder = holder.map(|h| format!(" ({h})")).unwrap_or_default();
            eprintln!(
                "flakewatch triage: another triage run holds the cycle lock of {}{holder}; \
                 waiting up to {wait_seconds} s (--lock-wait)",
                tracker.name()
            );
            match tracker.begin_cycle(Duration::from_secs(wait_seconds))? {
                CycleLock::Acquired | CycleLock::Unsupported => Ok(()),
                CycleLock::Held(holder) => {
                    let holder = holder.map(|h| format!(" ({h})")).unwrap_or_default();
                    anyhow::bail!(
                        "the cycle lock of {} is still held{holder} after {wait_seconds} s; \
                         nothing was read or written",
                        tracker.name()
                    )
                }
            }
        }
    }
}

/// Runs `flakewatch triage`.
/// `verbose` (the global `-v` count) above 0 lists every failure examined and the decision
/// about it.
pub(crate) fn run(args: &TriageArgs, verbose: u8) -> anyhow::Result<ExitCode> {
    if let (Some(shard), Some(out)) = (args.shard, &args.examined_out) {
        return run_shard(args, shard, out);
    }
    if !args.merge.is_empty() {
        return run_merge(args, verbose);
    }
    let backends = args.backend.resolve(true)?;
    match args.repeat {
        Some(interval) => crate::repeat::run(interval, &mut || run_cycle(args, verbose, &backends)),
        None => run_cycle(args, verbose, &backends),
    }
}

/// The options of a cycle, from the command line.
fn cycle_options(args: &TriageArgs) -> anyhow::Result<TriageOptions> {
    let mut options = args.backend.options()?;
    options.max_new_issues = args.max_new_issues;
    options.build = args.build;
    options.new_issues = args.new_issues;
    options.cache = args.cache.as_ref().map(SetCache::new);
    Ok(options)
}

/// One triage cycle over resolved backends, printing its plan and result.
fn run_cycle(args: &TriageArgs, verbose: u8, backends: &Backends) -> anyhow::Result<ExitCode> {
    let options = cycle_options(args)?;
    let tracker = backends
        .tracker
        .as_deref()
        .context("no issue tracker resolved")?;
    let source = &*backends.source;
    plan_and_apply(args, verbose, tracker, &options, |options| {
        Ok(run::plan(tracker, source, options)?)
    })
}

/// A worker of a sharded cycle: examines one share and writes its shard file (written beside
/// the target and renamed over it, so that a reader never sees half a file).
fn run_shard(args: &TriageArgs, shard: Shard, out: &Path) -> anyhow::Result<ExitCode> {
    let backends = args.backend.resolve(true)?;
    let options = cycle_options(args)?;
    let tracker = backends
        .tracker
        .as_deref()
        .context("no issue tracker resolved")?;
    let progress = crate::progress::bar(false);
    progress.set_message(format!("examining share {shard}"));
    let part = shard::examine(tracker, &*backends.source, &options, shard)?;
    progress.finish_and_clear();
    if out.as_os_str() == "-" {
        let mut stdout = crate::stdout();
        part.write(&mut stdout)?;
        stdout.flush()?;
    } else {
        write_shard_file(out, &part)?;
    }
    eprintln!(
        "flakewatch triage: share {shard}: {} of {} failed builds, {} failures, written to {}",
        part.builds(),
        part.cycle_builds(),
        part.failures(),
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Writes the shard file. A regular file (or a new one) is written beside `path` and renamed
/// over it, so that a reader never sees half of it; anything else (a pipe, a device such as
/// `/dev/null`) is written in place: renaming over it would replace it.
fn write_shard_file(path: &Path, part: &ShardPart) -> anyhow::Result<()> {
    let context = || format!("writing {}", path.display());
    let write = |file: File| -> io::Result<File> {
        let mut out = BufWriter::new(file);
        part.write(&mut out)?;
        out.into_inner().map_err(io::IntoInnerError::into_error)
    };
    match std::fs::metadata(path) {
        Ok(meta) if !meta.is_file() => {
            let file = std::fs::OpenOptions::new().write(true).open(path);
            file.and_then(write).map(drop).with_context(context)
        }
        _ => {
            let mut name = path.file_name().unwrap_or_default().to_owned();
            name.push(format!(".tmp{}", std::process::id()));
            let temp = path.with_file_name(name);
            let written = File::create(&temp)
                .and_then(write)
                .and_then(|file| file.sync_all())
                .and_then(|()| std::fs::rename(&temp, path));
            if written.is_err() {
                let _ = std::fs::remove_file(&temp);
            }
            written.with_context(context)
        }
    }
}

/// The merger of a sharded cycle: reads every share's file, checks them against each other,
/// then plans (and with --apply performs) the cycle as an unsharded run, under the cycle
/// lock. Without --now the window is the shards'.
fn run_merge(args: &TriageArgs, verbose: u8) -> anyhow::Result<ExitCode> {
    let mut parts = Vec::with_capacity(args.merge.len());
    for path in &args.merge {
        let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
        parts.push(ShardPart::read(
            BufReader::new(file),
            &path.display().to_string(),
        )?);
    }
    let merged = Merged::new(parts)?;
    let tracker = args.backend.resolve_tracker()?;
    let mut options = cycle_options(args)?;
    if args.backend.now.is_none() {
        options.since = merged.since();
    }
    plan_and_apply(args, verbose, &*tracker, &options, |options| {
        Ok(shard::plan_merged(&*tracker, merged, options)?)
    })
}

/// Plans a cycle with `plan` (under the tracker's cycle lock with --apply), applies it with
/// --apply, and prints the plan and result.
fn plan_and_apply(
    args: &TriageArgs,
    verbose: u8,
    tracker: &dyn IssueTracker,
    options: &TriageOptions,
    plan: impl FnOnce(&TriageOptions) -> anyhow::Result<TriagePlan>,
) -> anyhow::Result<ExitCode> {
    if args.apply {
        take_cycle_lock(tracker, args.lock_wait)?;
    }
    let progress = crate::progress::bar(args.json);
    progress.set_message("reading issues and builds, matching failures");
    let plan = plan(options)?;
    if plan.stats.failed_builds_before_filter > 0 && plan.stats.failed_builds == 0 {
        eprintln!(
            "flakewatch triage: warning: the obvious-flake filter skipped all {} failed builds \
             (-v lists each and the rule that skipped it). A failure source without passing \
             builds makes every commit look broken; see \"Failures without passing builds\" in \
             docs/triage.md.",
            plan.stats.failed_builds_before_filter
        );
    }
    let report = args.apply.then(|| {
        progress.set_message("posting");
        progress.set_length(plan.updates.len() as u64);
        progress.set_style(crate::progress::bar_style());
        run::apply_with_progress(&plan, tracker, options, &mut || progress.inc(1))
    });
    progress.finish_and_clear();
    if args.apply {
        tracker.end_cycle()?;
    }
    let mut out = crate::stdout();
    if args.json {
        let doc = TriageDocument::new(&plan, report.as_ref(), options, args.apply);
        serde_json::to_writer_pretty(&mut out, &doc)?;
        writeln!(out)?;
    } else {
        write_plan(&mut out, &plan, options, args, verbose > 0)?;
        if let Some(report) = &report {
            write_report(&mut out, &plan, report)?;
        }
    }
    out.flush()?;
    Ok(match &report {
        Some(r) if r.stopped_by_guard_rail => ExitCode::from(EXIT_GUARD_RAIL),
        Some(r) if !r.failures.is_empty() => ExitCode::from(super::EXIT_FAILURE),
        _ => ExitCode::SUCCESS,
    })
}

fn write_plan(
    out: &mut impl Write,
    plan: &TriagePlan,
    options: &TriageOptions,
    args: &TriageArgs,
    every_failure: bool,
) -> io::Result<()> {
    let s = &plan.stats;
    if args.apply {
        writeln!(out, "flakewatch triage: applying")?;
    } else {
        writeln!(
            out,
            "flakewatch triage: dry run (nothing is written; --apply performs the plan)"
        )?;
    }
    writeln!(
        out,
        "read {} issues ({} with usable scripts); {} dashboards since {}, {} failed builds, \
         {} skipped as obvious non-flakes; {} failures examined",
        s.issues,
        s.usable_scripts,
        s.dashboards,
        options.since,
        s.failed_builds_before_filter,
        s.skipped_by_filter,
        s.failures
    )?;
    if every_failure {
        for f in &plan.filtered {
            writeln!(
                out,
                " - skipped {} {} {}: {}",
                f.url, f.builder, f.commit, f.rule
            )?;
        }
    }
    for (issue, message) in &plan.over_limits {
        writeln!(out, " - #{issue} script unusable: {message}")?;
    }
    for e in &plan.script_errors {
        writeln!(
            out,
            " - #{} script error ({}): {}",
            e.issue,
            e.problem.name().replace('_', " "),
            e.title
        )?;
    }
    if every_failure {
        for o in &plan.outcomes {
            write!(
                out,
                " * {} {} {}",
                o.decision.name(),
                o.post.url,
                o.post.header()
            )?;
            if let Decision::Skip(by) = &o.decision {
                write!(out, " (by {by})")?;
            }
            if !o.queued.is_empty() {
                let to: Vec<String> = o.queued.iter().map(IssueRef::to_string).collect();
                write!(out, " -> {}", to.join(", "))?;
            }
            if !o.already_mentioned.is_empty() {
                let on: Vec<String> = o
                    .already_mentioned
                    .iter()
                    .map(|n| format!("#{n}"))
                    .collect();
                write!(out, " (already on {})", on.join(", "))?;
            }
            writeln!(out)?;
        }
    }
    for u in &plan.updates {
        let state = match (u.closed, u.reopen) {
            (true, true) => " (closed; reopen)",
            (true, false) => " (closed)",
            _ => "",
        };
        writeln!(out, " - new for {} {}{state}", u.target, u.title)?;
        for p in &u.posts {
            writeln!(out, "    - {}\n      {}", p.header(), p.url)?;
        }
    }
    writeln!(
        out,
        "plan: {} comments on existing issues ({} reopening), {} new issues, {} script-error comments",
        plan.updates.len() - plan.new_issues(),
        plan.reopens(),
        plan.new_issues(),
        plan.script_errors.len()
    )?;
    if plan.guard_rail_tripped() {
        writeln!(
            out,
            "guard rail: {} new issues pending, at or above the limit of {}; might be a \
             recurrence of go.dev/issue/72731 (a partial issue listing); --apply posts nothing",
            plan.new_issues(),
            plan.max_new_issues
        )?;
    }
    Ok(())
}

fn write_report(out: &mut impl Write, plan: &TriagePlan, report: &ApplyReport) -> io::Result<()> {
    for (k, number) in &report.created {
        writeln!(out, "created #{number} ({})", IssueRef::New(*k))?;
    }
    // Failed writes are errors: standard error, so standard output stays the plan.
    for f in &report.failures {
        eprintln!(
            "flakewatch triage: FAILED: {} on {}: {}",
            f.operation, f.target, f.message
        );
    }
    if report.stopped_by_guard_rail {
        writeln!(
            out,
            "stopped by the guard rail: {} new issues pending (limit {}); only the {} \
             script-error comments were posted",
            plan.new_issues(),
            plan.max_new_issues,
            report.error_comments.len()
        )?;
    } else {
        writeln!(
            out,
            "applied: {} comments posted, {} issues created, {} reopened, {} script-error \
             comments, {} failed writes",
            report.commented.len(),
            report.created.len(),
            report.reopened.len(),
            report.error_comments.len(),
            report.failures.len()
        )?;
    }
    Ok(())
}

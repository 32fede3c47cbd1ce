//! `flakewatch ingest`: read JUnit XML, `go test -json` and mozlog files into results JSON
//! lines (`docs/ingest.md`), or into watchflakes failure records with `--failures`.
//!
//! Every input is read even when an earlier one fails; each failure is printed as
//! `flakewatch: FILE:LINE:COL: message`. Exit code 1 when any input could not be read.
//! Files are read on the machine's cores and written in the order given.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, PoisonError, mpsc};

use anyhow::Context;
use clap::{Args, ValueEnum};

use flakewatch_ingest::{self as ingest, FailureOptions, Format, Limits, RunMeta};
use flakewatch_plugin_sdk::model::ResultsRun;
use flakewatch_results::{DocumentOptions, ResultsStore, run_document};

use crate::store::StoreArgs;

/// Warnings printed per input before the rest are only counted.
const WARNINGS_SHOWN: usize = 10;

/// The `--format` choices.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub(crate) enum FormatArg {
    /// Decide from the content.
    Auto,
    /// JUnit XML, any dialect.
    Junit,
    /// `go test -json` output.
    Gotest,
    /// mozlog: raw log or errorsummary (told apart by content).
    Mozlog,
    /// mozlog raw log.
    MozlogRaw,
    /// mozlog errorsummary.
    MozlogErrorsummary,
}

/// Arguments of `flakewatch ingest`.
#[derive(Debug, Args)]
pub(crate) struct IngestArgs {
    /// Input files (`-` reads standard input).
    #[arg(required_unless_present = "manifest", value_name = "FILES")]
    pub files: Vec<PathBuf>,
    /// With --store: a JSON manifest of a push's executions, each stored as one run:
    /// `{"executions": [{"file": "chunk-1.log", "meta": {"run_id": "...", "chunk": "1"}}]}`
    /// (`files` for several files of one run; paths relative to the manifest; `meta` is added
    /// to --run-meta). `testdata/pushes/push.json` is one.
    #[arg(long, value_name = "FILE", requires = "store")]
    pub manifest: Option<PathBuf>,
    /// Input format.
    #[arg(long, value_enum, default_value_t = FormatArg::Auto)]
    pub format: FormatArg,
    /// Run metadata as KEY=VALUE, repeatable: revision (or payload), job, run_id, chunk,
    /// builder, repo, goos, goarch, date, url; any other key is a variant field.
    #[arg(long = "run-meta", value_name = "KEY=VALUE")]
    pub run_meta: Vec<String>,
    /// Write watchflakes failure records (one per failing attempt) instead of test results.
    #[arg(long, conflicts_with = "store")]
    pub failures: bool,
    /// Output file; standard output when absent.
    #[arg(long, short, value_name = "FILE", conflicts_with = "store")]
    pub out: Option<PathBuf>,
    /// Bytes kept of one text field (output, message, trace).
    #[arg(long, value_name = "BYTES", default_value_t = Limits::default().max_text)]
    pub max_text_bytes: usize,
    /// Bytes of `log` kept per failure record (0: none).
    #[arg(long, value_name = "BYTES", default_value_t = FailureOptions::default().max_log)]
    pub max_log_bytes: usize,
    /// With --store NAME: store each file's results as one run in that test-results store
    /// instead of printing them (a run already stored is left as it is).
    #[command(flatten)]
    pub store: StoreArgs,
}

/// The resolved configuration of one `ingest` invocation.
#[derive(Clone)]
struct Config {
    format: Option<Format>,
    mozlog_any: bool,
    meta: RunMeta,
    limits: Limits,
    failures: Option<FailureOptions>,
}

fn resolve(args: &IngestArgs) -> anyhow::Result<Config> {
    let mut meta = RunMeta::default();
    for pair in &args.run_meta {
        let (key, value) = pair
            .split_once('=')
            .filter(|(k, _)| !k.trim().is_empty())
            .with_context(|| format!("--run-meta {pair:?}: expected KEY=VALUE"))?;
        meta.set(key.trim(), value);
    }
    let (format, mozlog_any) = match args.format {
        FormatArg::Auto => (None, false),
        FormatArg::Junit => (Some(Format::Junit), false),
        FormatArg::Gotest => (Some(Format::GoTest), false),
        FormatArg::Mozlog => (None, true),
        FormatArg::MozlogRaw => (Some(Format::MozlogRaw), false),
        FormatArg::MozlogErrorsummary => (Some(Format::MozlogErrorSummary), false),
    };
    let limits = Limits {
        max_text: args.max_text_bytes.max(64),
        // A single large JUnit file is read on all of them; several files are read one per
        // thread (`read_in_order`).
        threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
        ..Limits::default()
    };
    let failures = args.failures.then_some(FailureOptions {
        max_output: limits.max_text,
        max_log: args.max_log_bytes,
    });
    Ok(Config {
        format,
        mozlog_any,
        meta,
        limits,
        failures,
    })
}

fn read_one(path: &Path, config: &Config) -> Result<ingest::Run, ingest::IngestError> {
    read_with(path, config, &config.meta)
}

fn read_with(
    path: &Path,
    config: &Config,
    meta: &RunMeta,
) -> Result<ingest::Run, ingest::IngestError> {
    let read = |format: Option<Format>| {
        if path.as_os_str() == "-" {
            ingest::read(
                io::stdin().lock(),
                "-",
                format,
                meta.clone(),
                &config.limits,
            )
        } else {
            ingest::read_path(path, format, meta.clone(), &config.limits)
        }
    };
    let run = read(config.format)?;
    if config.mozlog_any && !matches!(run.format, Format::MozlogRaw | Format::MozlogErrorSummary) {
        return Err(ingest::IngestError::NoRecords {
            file: run.source,
            format: Format::MozlogRaw,
        });
    }
    Ok(run)
}

/// Runs `flakewatch ingest`.
pub(crate) fn run(args: &IngestArgs) -> anyhow::Result<ExitCode> {
    let config = resolve(args)?;
    if args.store.store.is_some() {
        return store(args, &config);
    }
    let sink: Box<dyn Write> = match &args.out {
        Some(path) => {
            Box::new(File::create(path).with_context(|| format!("creating {}", path.display()))?)
        }
        None => Box::new(crate::stdout()),
    };
    let mut out = BufWriter::new(sink);
    let mut failed_inputs = 0usize;
    let mut records = 0usize;
    read_in_order(&args.files, &config, |read| {
        let run = match read {
            Ok(run) => run,
            Err(err) => {
                eprintln!("flakewatch: {err}");
                failed_inputs += 1;
                return Ok(());
            }
        };
        warn(&run);
        match &config.failures {
            Some(opts) => records += ingest::write_failures(&run, opts, &mut out)?,
            None => ingest::write_results(&run, &mut out)?,
        }
        Ok(())
    })?;
    out.flush()?;
    if config.failures.is_some() {
        eprintln!("flakewatch: {records} failure record(s)");
    }
    if failed_inputs > 0 {
        eprintln!("flakewatch: {failed_inputs} input(s) could not be read");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// Files each reading thread may read beyond the oldest one not handed on yet (bounds the
/// runs held in memory while one large file is still being read).
const FILES_AHEAD_PER_THREAD: usize = 4;

/// Reads `paths` on the machine's cores and hands each file's run (or error) to `each` in
/// the order of `paths`, on the calling thread; stops at `each`'s first error. Standard input
/// and a single file are read on the calling thread.
fn read_in_order(
    paths: &[PathBuf],
    config: &Config,
    mut each: impl FnMut(Result<ingest::Run, ingest::IngestError>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(paths.len());
    if threads <= 1 || paths.iter().any(|p| p.as_os_str() == "-") {
        for path in paths {
            each(read_one(path, config))?;
        }
        return Ok(());
    }
    let ahead = threads * FILES_AHEAD_PER_THREAD;
    // The files already take the cores: each is read on one thread.
    let mut one_each = config.clone();
    one_each.limits.threads = 1;
    let config = &one_each;
    let next = AtomicUsize::new(0);
    // Files below this were handed on; `true` once the caller stopped.
    let handed = (Mutex::new((0usize, false)), Condvar::new());
    std::thread::scope(|scope| {
        let (tx, rx) = mpsc::channel();
        for _ in 0..threads {
            let (tx, next, handed) = (tx.clone(), &next, &handed);
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= paths.len() {
                        return;
                    }
                    let (lock, moved) = handed;
                    let mut state = lock.lock().unwrap_or_else(PoisonError::into_inner);
                    while !state.1 && i >= state.0 + ahead {
                        state = moved.wait(state).unwrap_or_else(PoisonError::into_inner);
                    }
                    if state.1 {
                        return;
                    }
                    drop(state);
                    if tx.send((i, read_one(&paths[i], config))).is_err() {
                        return;
                    }
                }
            });
        }
        drop(tx);
        let mut waiting = BTreeMap::new();
        let mut want = 0;
        for (i, read) in rx {
            waiting.insert(i, read);
            while let Some(read) = waiting.remove(&want) {
                let outcome = each(read);
                want += 1;
                // Waiting readers go on, or stop if the caller did.
                let (lock, moved) = &handed;
                let mut state = lock.lock().unwrap_or_else(PoisonError::into_inner);
                *state = (want, outcome.is_err());
                drop(state);
                moved.notify_all();
                outcome?;
            }
        }
        Ok(())
    })
}

/// Prints a run's warnings, the first few of them.
fn warn(run: &ingest::Run) {
    for warning in run.warnings.iter().take(WARNINGS_SHOWN) {
        eprintln!("flakewatch: {}:{warning} (warning)", run.source);
    }
    let more = run.warnings.len().saturating_sub(WARNINGS_SHOWN) as u64 + run.warnings_dropped;
    if more > 0 {
        eprintln!("flakewatch: {}: {more} more warning(s)", run.source);
    }
}

/// `ingest --store NAME`: each file is one run, or, with `--run-meta run_id=ID`, all the
/// files together are the one run `ID` (a CI run's several JUnit files), or each execution
/// of a `--manifest`. A run is stored whole or not at all, once. An unreadable file is
/// reported and the other runs are still stored (exit 1), but a run is never stored without
/// one of its files; a store that fails stops the command (exit 3), and what was stored before
/// stays stored.
fn store(args: &IngestArgs, config: &Config) -> anyhow::Result<ExitCode> {
    let groups = run_groups(args, config)?;
    let store = args.store.open()?;
    let mut failed_inputs = 0usize;
    let mut documents = Vec::new();
    for (files, meta) in &groups {
        let mut parts = Vec::new();
        let mut failed = 0usize;
        for path in files {
            let document = read_with(path, config, meta)
                .map_err(|e| e.to_string())
                .and_then(|run| {
                    warn(&run);
                    run_document(&run, DocumentOptions::default()).map_err(|e| e.to_string())
                });
            match document {
                Ok(document) => parts.push(document),
                Err(err) => {
                    eprintln!("flakewatch: {err}");
                    failed += 1;
                }
            }
        }
        failed_inputs += failed;
        if failed > 0 && files.len() > 1 {
            eprintln!(
                "flakewatch: run {} not stored: {failed} of its {} files could not be read",
                meta.run_id.as_deref().unwrap_or("?"),
                files.len()
            );
            continue;
        }
        documents.extend(merge(parts));
    }
    let mut out = crate::stdout();
    let (mut stored, mut known) = (0usize, 0usize);
    for document in &documents {
        let written = store
            .store_run(document)
            .with_context(|| format!("storing {} in {:?}", document.source, store.name()))?;
        let attempts: usize = document.tests.iter().map(|t| t.attempts.len()).sum();
        if written {
            stored += 1;
            writeln!(
                out,
                "stored {}: run {} ({} tests, {attempts} attempts)",
                document.source,
                document.key,
                document.tests.len()
            )?;
        } else {
            known += 1;
            writeln!(
                out,
                "already stored {}: run {}",
                document.source, document.key
            )?;
        }
    }
    out.flush()?;
    eprintln!(
        "flakewatch: {stored} run(s) stored, {known} already stored, in {:?}",
        store.name()
    );
    if failed_inputs > 0 {
        eprintln!("flakewatch: {failed_inputs} input(s) could not be read");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// The runs to store: (files, metadata) each. Without a manifest, one run per file, or one
/// run of every file when `run_id` names it.
fn run_groups(args: &IngestArgs, config: &Config) -> anyhow::Result<Vec<(Vec<PathBuf>, RunMeta)>> {
    let mut groups: Vec<(Vec<PathBuf>, RunMeta)> = if config.meta.run_id.is_some() {
        if args.files.is_empty() {
            Vec::new()
        } else {
            vec![(args.files.clone(), config.meta.clone())]
        }
    } else {
        args.files
            .iter()
            .map(|f| (vec![f.clone()], config.meta.clone()))
            .collect()
    };
    let Some(path) = &args.manifest else {
        return Ok(groups);
    };
    if config.meta.run_id.is_some() {
        return Err(crate::UsageError(
            "--run-meta run_id with --manifest would give every execution one identity: \
             give each execution its run_id in the manifest's meta"
                .to_owned(),
        )
        .into());
    }
    #[derive(serde::Deserialize)]
    struct Manifest {
        executions: Vec<Execution>,
    }
    #[derive(serde::Deserialize)]
    struct Execution {
        #[serde(default)]
        file: Option<PathBuf>,
        #[serde(default)]
        files: Vec<PathBuf>,
        #[serde(default)]
        meta: std::collections::BTreeMap<String, String>,
    }
    let text =
        flakewatch_core::bounded::read_to_string(path, flakewatch_core::bounded::CONFIG_LIMIT)
            .with_context(|| format!("reading the manifest {}", path.display()))?;
    let manifest: Manifest = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a manifest of executions", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    for (i, execution) in manifest.executions.into_iter().enumerate() {
        let files: Vec<PathBuf> = execution
            .file
            .into_iter()
            .chain(execution.files)
            .map(|f| base.join(f))
            .collect();
        if files.is_empty() {
            anyhow::bail!("{}: execution {} names no file", path.display(), i + 1);
        }
        let mut meta = config.meta.clone();
        for (key, value) in execution.meta {
            meta.set(&key, value);
        }
        groups.push((files, meta));
    }
    Ok(groups)
}

/// The documents of one run's files as one document: tests and scheduled tests in file
/// order, the sources and formats listed, the earliest start.
fn merge(documents: Vec<ResultsRun>) -> Option<ResultsRun> {
    let mut documents = documents.into_iter();
    let mut run = documents.next()?;
    for other in documents {
        run.source = format!("{}, {}", run.source, other.source);
        if !run.format.split(", ").any(|f| f == other.format) {
            run.format = format!("{}, {}", run.format, other.format);
        }
        run.started_at = match (run.started_at.take(), other.started_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        run.suite = run.suite.or(other.suite);
        run.scheduled.extend(other.scheduled);
        run.tests.extend(other.tests);
        for (k, v) in other.properties {
            run.properties.entry(k).or_insert(v);
        }
    }
    Some(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(extra: &[&str]) -> IngestArgs {
        use clap::Parser;
        #[derive(Parser)]
        struct Wrap {
            #[command(flatten)]
            args: IngestArgs,
        }
        let mut argv = vec!["ingest"];
        argv.extend_from_slice(extra);
        Wrap::parse_from(argv).args
    }

    #[test]
    fn run_meta_is_resolved_before_work() {
        let config = resolve(&args(&[
            "x.xml",
            "--run-meta",
            "payload=abc",
            "--run-meta",
            "arch=arm64",
            "--format",
            "gotest",
        ]))
        .unwrap();
        assert_eq!(config.meta.revision.as_deref(), Some("abc"));
        assert_eq!(config.meta.variant["arch"], "arm64");
        assert_eq!(config.format, Some(Format::GoTest));
        assert!(resolve(&args(&["x.xml", "--run-meta", "novalue"])).is_err());
    }
}

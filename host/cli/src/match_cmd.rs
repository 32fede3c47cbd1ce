//! `flakewatch match`: assign every failure of a JSON-lines file across the issues of a pattern
//! set, streaming, on several threads, writing one JSON line per failure in input order.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use flakewatch_dsl::{Assignment, Field, Limits, Record};
use serde_json::json;

use flakewatch_core::LineError;
use flakewatch_core::jsonl::every_line;
use flakewatch_ingest::records::{MAX_RECORD_LINE, parse_record_fields};
use flakewatch_triage::engine::{EngineKind, EngineScratch};
use flakewatch_triage::patterns::{CompiledIssues, ScriptStatus, read_issues};

/// Lines read and assigned per batch (bounds memory: a batch is held at once).
const BATCH: usize = 1024;

/// Arguments of `flakewatch match`.
#[derive(Debug, Args)]
pub(crate) struct MatchArgs {
    /// Issues in GitHub's JSON shape, one per line (`number`, `body`, ...); `-` reads
    /// standard input.
    #[arg(long)]
    pub issues: PathBuf,
    /// Failure records, one JSON object per line (watchflakes field names); `-` reads
    /// standard input.
    #[arg(long)]
    pub failures: PathBuf,
    /// The engine.
    #[arg(long, value_parser = crate::engine_parser(), default_value = "jit")]
    pub engine: EngineKind,
    /// Worker threads (default: the number of CPUs).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Where to write the results (default: standard output).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Take only share I of N (1-based) of the failures, partitioned by build (a stable hash of
    /// builder, repo and date): N workers, each given the same input and its own I, together
    /// assign every failure once. Each output line then carries its input `line`, so the
    /// shards' outputs merge (sorted by `line`) into one run's.
    #[arg(long, value_name = "I/N", value_parser = parse_shard)]
    pub shard: Option<Shard>,
}

/// A share of the failures: `index` of `count`, 1-based.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Shard {
    index: u64,
    count: u64,
}

fn parse_shard(text: &str) -> Result<Shard, String> {
    let (i, n) = text
        .split_once('/')
        .ok_or_else(|| format!("{text:?}: expected I/N, such as 2/8"))?;
    let parse = |s: &str| s.trim().parse::<u64>().ok().filter(|&v| v > 0);
    match (parse(i), parse(n)) {
        (Some(index), Some(count)) if index <= count => Ok(Shard { index, count }),
        _ => Err(format!("{text:?}: expected I/N with 1 <= I <= N")),
    }
}

impl Shard {
    /// Whether this share holds `record`: every failure of one build (builder, repo, date)
    /// lands in the same share. FNV-1a, stable across runs, machines and versions.
    fn holds(self, record: &Record) -> bool {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for field in [Field::Builder, Field::Repo, Field::Date] {
            for &byte in record.get(field).as_bytes().iter().chain([&0xff]) {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        self.holds_hash(hash)
    }

    /// Whether this share holds a line that is not a record (by its line number).
    fn holds_line(self, line: usize) -> bool {
        self.holds_hash(line as u64)
    }

    fn holds_hash(self, hash: u64) -> bool {
        hash % self.count == self.index - 1
    }
}

/// Loads and compiles the issues of a file (shared by `match` and `bench`).
pub(crate) fn compile_issue_file(
    path: &std::path::Path,
    engine: EngineKind,
) -> anyhow::Result<CompiledIssues> {
    let file = crate::open_input(path)?;
    let issues = read_issues(BufReader::new(file), &path.display().to_string())?;
    let compiled = CompiledIssues::compile(
        issues
            .iter()
            .map(|i| (i.number, i.body.as_deref().unwrap_or(""))),
        engine,
        Limits::DEFAULT,
    )?;
    Ok(compiled)
}

/// One output line for an assignment: `{"action":...,"targets":[issue numbers ascending]}`.
pub(crate) fn result_line(assignment: &Assignment, numbers: &[u64]) -> String {
    let targets: Vec<u64> = assignment.targets().iter().map(|&i| numbers[i]).collect();
    json!({ "action": assignment.action_name(), "targets": targets }).to_string()
}

/// Runs `flakewatch match`.
pub(crate) fn run(args: &MatchArgs) -> anyhow::Result<ExitCode> {
    let compiled = compile_issue_file(&args.issues, args.engine)?;
    let unusable = compiled.statuses.iter().filter(|s| !s.is_usable()).count();
    for (number, status) in compiled.numbers.iter().zip(&compiled.statuses) {
        if let ScriptStatus::TooLarge(err) = status {
            eprintln!("flakewatch: issue {number}: {err}; it matches nothing");
        }
    }
    if unusable > 0 {
        let named: Vec<String> = compiled
            .numbers
            .iter()
            .zip(&compiled.statuses)
            .filter(|(_, status)| !status.is_usable())
            .map(|(number, _)| format!("#{number}"))
            .collect();
        let shown = named
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        let more = named.len().saturating_sub(20);
        eprintln!(
            "flakewatch: {unusable} issue(s) have no usable script and match nothing: {shown}{}",
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
    }
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let input = crate::open_input(&args.failures)?;
    let name = args.failures.display().to_string();
    let mut out: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(BufWriter::new(
            File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(BufWriter::new(crate::stdout())),
    };
    let mut scratches: Vec<EngineScratch> =
        (0..threads).map(|_| compiled.engine.scratch()).collect();
    // Lines carry whole build logs (tens of KB): with the default 8 KiB buffer each line took
    // several reads; 256 KiB took end to end from ~1.3-1.5 s to ~1.0-1.3 s (one thread,
    // default workload, six alternating runs).
    // Every input line gets one output line: a blank line, a line that is not UTF-8 or one
    // longer than the limit is a bad line in place, like a malformed record.
    let mut lines = every_line(
        BufReader::with_capacity(256 << 10, input),
        &name,
        MAX_RECORD_LINE,
    );
    let mut bad = 0usize;
    loop {
        let mut batch: Vec<(usize, Result<String, String>)> = Vec::with_capacity(BATCH);
        for line in lines.by_ref().take(BATCH) {
            match line {
                Ok((line_no, text)) if text.is_empty() => {
                    batch.push((
                        line_no,
                        Err(format!("{name}:{line_no}: a blank line is not a record")),
                    ));
                }
                Ok((line_no, text)) => batch.push((line_no, Ok(text))),
                Err(err @ LineError::Io { .. }) => {
                    return Err(anyhow::Error::new(err).context(format!("reading {name}")));
                }
                Err(err @ (LineError::Invalid { line, .. } | LineError::TooLong { line, .. })) => {
                    batch.push((line, Err(err.to_string())));
                }
            }
        }
        if batch.is_empty() {
            break;
        }
        let results = assign_batch(&compiled, &batch, &mut scratches, &name, args.shard);
        for (line_no, result) in results {
            match (result, args.shard) {
                (Ok(line), None) => writeln!(out, "{line}")?,
                (Ok(line), Some(_)) => {
                    // `{"line":N,` then the assignment's own keys.
                    writeln!(out, "{{\"line\":{line_no},{}", &line[1..])?;
                }
                (Err(message), shard) => {
                    eprintln!("flakewatch: {message}");
                    let doc = match shard {
                        None => json!({ "error": message }),
                        Some(_) => json!({ "line": line_no, "error": message }),
                    };
                    writeln!(out, "{doc}")?;
                    bad += 1;
                }
            }
        }
    }
    out.flush()?;
    let fallbacks: u64 = scratches.iter().map(EngineScratch::fallbacks).sum();
    if fallbacks > 0 {
        eprintln!(
            "flakewatch: internal error: the JIT failed on {fallbacks} record(s); the interpreter decided them"
        );
    }
    Ok(if bad > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Parses and assigns a batch, splitting it into contiguous runs, one per thread.
fn assign_batch(
    compiled: &CompiledIssues,
    batch: &[(usize, Result<String, String>)],
    scratches: &mut [EngineScratch],
    name: &str,
    shard: Option<Shard>,
) -> Vec<(usize, Result<String, String>)> {
    let per_thread = batch.len().div_ceil(scratches.len());
    let work = |part: &[(usize, Result<String, String>)],
                scratch: &mut EngineScratch|
     -> Vec<(usize, Result<String, String>)> {
        part.iter()
            .filter_map(|(line, text)| {
                let decided = (|| {
                    let text = text.as_ref().map_err(Clone::clone)?;
                    let record =
                        parse_record_fields(text).map_err(|e| format!("{name}:{line}: {e}"))?;
                    if let Some(shard) = shard
                        && !shard.holds(&record)
                    {
                        return Ok(None);
                    }
                    let assignment = compiled.engine.assign(&record, scratch);
                    Ok(Some(result_line(&assignment, &compiled.numbers)))
                })();
                match decided {
                    Ok(Some(result)) => Some((*line, Ok(result))),
                    Ok(None) => None,
                    Err(message) => shard
                        .is_none_or(|s| s.holds_line(*line))
                        .then_some((*line, Err(message))),
                }
            })
            .collect()
    };
    if scratches.len() == 1 || batch.len() < 2 {
        return work(batch, &mut scratches[0]);
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = batch
            .chunks(per_thread)
            .zip(scratches.iter_mut())
            .map(|(part, scratch)| scope.spawn(move || work(part, scratch)))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a matching thread panicked"))
            .collect()
    })
}

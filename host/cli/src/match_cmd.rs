//! `flakewatch match`: assign every failure of a JSON-lines file across the issues of a pattern
//! set, streaming, on several threads, writing one JSON line per failure in input order.
//!
//! Each thread takes line-aligned chunks of the input in turn ([`for_each_line`], or
//! [`for_each_line_in`] for a file mapped into memory, which copies nothing), splits
//! them into lines, decodes the fields some rule reads into a record it reuses, assigns it
//! and writes the result line into the chunk's output; the chunks' outputs are written in
//! input order, line numbers (for `--shard` and errors) filled in then.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use flakewatch_dsl::{Assignment, Field, Limits, Record};
use serde_json::json;

use flakewatch_core::LineError;
use flakewatch_core::chunked::{ChunkError, Line, Options, for_each_line, for_each_line_in};
use flakewatch_ingest::records::{FieldSet, MAX_RECORD_LINE, decode_record_fields};
use flakewatch_triage::cache::{CacheOutcome, SetCache};
use flakewatch_triage::engine::{EngineKind, EngineScratch};
use flakewatch_triage::patterns::{CompiledIssues, IssueStatus, read_issues};

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
    /// Read the failures file with read calls instead of mapping it into memory (mapping
    /// saves copying every byte; a mapped file must not be truncated while it is read).
    #[arg(long)]
    pub no_mmap: bool,
    /// Cache compiled issue sets in DIR (created if missing): an issue set compiled before
    /// with the same engine is read back instead of being parsed and lowered again.
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
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

/// Loads and compiles the issues of a file, through `cache` when given (shared by `match` and
/// `bench`); the cache's outcome comes back with the set.
pub(crate) fn compile_issue_file(
    path: &std::path::Path,
    engine: EngineKind,
    cache: Option<&SetCache>,
) -> anyhow::Result<(CompiledIssues, Option<CacheOutcome>)> {
    let file = crate::open_input(path)?;
    let issues = read_issues(
        BufReader::with_capacity(1 << 18, file),
        &path.display().to_string(),
    )?;
    let issues = issues
        .iter()
        .map(|i| (i.number, i.body.as_deref().unwrap_or("")));
    Ok(match cache {
        Some(cache) => {
            let (compiled, outcome) = cache.compile(issues, engine, Limits::DEFAULT)?;
            (compiled, Some(outcome))
        }
        None => (
            CompiledIssues::compile(issues, engine, Limits::DEFAULT)?,
            None,
        ),
    })
}

/// Writes the output line of an assignment, `{"action":...,"targets":[issue numbers
/// ascending]}` and its newline, to `out`; with `line_first`, the line starts after the
/// `{"line":N` the caller writes (`,"action":...`).
fn write_assignment(out: &mut Vec<u8>, assignment: &Assignment, numbers: &[u64], line_first: bool) {
    out.extend_from_slice(if line_first { b"," } else { b"{" });
    out.extend_from_slice(b"\"action\":\"");
    out.extend_from_slice(assignment.action_name().as_bytes());
    out.extend_from_slice(b"\",\"targets\":[");
    let mut digits = itoa::Buffer::new();
    for (k, &target) in assignment.targets().iter().enumerate() {
        if k > 0 {
            out.push(b',');
        }
        out.extend_from_slice(digits.format(numbers[target]).as_bytes());
    }
    out.extend_from_slice(b"]}\n");
}

/// The input of `match`: a file, or standard input for `-` (either can be read from the
/// reading threads).
fn open_failures(path: &std::path::Path) -> anyhow::Result<Box<dyn Read + Send>> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(std::io::stdin()));
    }
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    Ok(Box::new(file))
}

/// The failures file mapped into memory, when it is a non-empty regular file (`-` and pipes
/// are read).
#[allow(
    unsafe_code,
    reason = "mapping a file is unsafe: its bytes may change under the mapping"
)]
fn map_failures(path: &std::path::Path) -> anyhow::Result<Option<memmap2::Mmap>> {
    if path.as_os_str() == "-" {
        return Ok(None);
    }
    let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let metadata = file
        .metadata()
        .with_context(|| format!("reading the metadata of {}", path.display()))?;
    if !metadata.is_file() || metadata.len() == 0 {
        return Ok(None);
    }
    // SAFETY: the mapping is only read, as bytes; another process truncating the file while
    // `match` runs would fault the process (documented with `--no-mmap`, which avoids it).
    let map = unsafe { memmap2::Mmap::map(&file) }
        .with_context(|| format!("mapping {}", path.display()))?;
    // Read ahead aggressively; a failed hint changes nothing but speed.
    let _ = map.advise(memmap2::Advice::Sequential);
    Ok(Some(map))
}

/// Bytes of a mapped input dropped from memory at a time.
const RELEASE_BYTES: usize = 16 << 20;

/// Drops the pages of `map` from `from` to `to` (page-aligned inward) from the process's
/// memory; returns where the dropped range ends.
#[allow(
    unsafe_code,
    reason = "madvise(MADV_DONTNEED) on a read-only file mapping"
)]
fn release_mapped(map: &memmap2::Mmap, from: usize, to: usize) -> usize {
    const PAGE: usize = 4096;
    let start = from.next_multiple_of(PAGE);
    let end = to / PAGE * PAGE;
    if end <= start {
        return from;
    }
    // SAFETY: the mapping is a read-only view of a file, so dropping pages loses nothing: a
    // later read faults them in again from the file. No worker reads below `to` any more.
    let dropped = unsafe {
        map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, start, end - start)
    };
    // A refused hint only keeps the pages resident.
    if dropped.is_ok() { end } else { from }
}

/// What a reading thread keeps from line to line: its engine scratch and the record every
/// line is decoded into (no allocation per record once its strings have grown).
struct Worker {
    scratch: EngineScratch,
    record: Record,
}

/// The output of one chunk of the input: its result lines, and where the line numbers and
/// the errors go that only the writer knows (a chunk does not know its first line's number).
#[derive(Default)]
struct ChunkOutput {
    bytes: Vec<u8>,
    marks: Vec<Mark>,
}

/// Something the writer inserts at byte `at` of a chunk's output, for the chunk's line
/// `index` (0-based).
struct Mark {
    at: usize,
    index: usize,
    kind: MarkKind,
}

enum MarkKind {
    /// `{"line":N` (with `--shard`; the result line's own keys follow).
    LineNumber,
    /// A line that is not a record: the error's message after `FILE:LINE: `.
    Invalid(String),
    /// A line longer than the limit (the last one read).
    TooLong,
}

/// Runs `flakewatch match`.
pub(crate) fn run(args: &MatchArgs) -> anyhow::Result<ExitCode> {
    let cache = args.cache.as_ref().map(SetCache::new);
    let (compiled, _) = compile_issue_file(&args.issues, args.engine, cache.as_ref())?;
    let unusable = compiled.statuses.iter().filter(|s| !s.is_usable()).count();
    for (number, status) in compiled.numbers.iter().zip(&compiled.statuses) {
        if let IssueStatus::TooLarge(err) = status {
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
    let mapped = if args.no_mmap {
        None
    } else {
        map_failures(&args.failures)?
    };
    let name = args.failures.display().to_string();
    let mut out: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(BufWriter::with_capacity(
            256 << 10,
            File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(BufWriter::with_capacity(256 << 10, crate::stdout())),
    };
    // Only the fields some rule reads are decoded (and those a shard is chosen by); the
    // others are checked as JSON and skipped.
    let mut fields: FieldSet = compiled
        .engine
        .set()
        .preds
        .iter()
        .map(|p| p.field())
        .collect();
    if args.shard.is_some() {
        fields = fields
            .with(Field::Builder)
            .with(Field::Repo)
            .with(Field::Date);
    }
    let mut workers: Vec<Worker> = (0..threads)
        .map(|_| Worker {
            scratch: compiled.engine.scratch(),
            record: Record::new(),
        })
        .collect();
    let shard = args.shard;
    // Every input line gets one output line: a blank line, a line that is not UTF-8 or one
    // longer than the limit is a bad line in place, like a malformed record. Each thread
    // reads, splits, decodes and assigns chunks of the input by itself; the results are
    // written in input order.
    let assign_line =
        |worker: &mut Worker, output: &mut ChunkOutput, index: usize, line: Line<'_>| {
            let kind = match line {
                Line::Text(text) => match decode_record_fields(text, fields, &mut worker.record) {
                    Ok(()) => {
                        if shard.is_some_and(|shard| !shard.holds(&worker.record)) {
                            return;
                        }
                        let assignment =
                            compiled.engine.assign(&worker.record, &mut worker.scratch);
                        if shard.is_some() {
                            output.marks.push(Mark {
                                at: output.bytes.len(),
                                index,
                                kind: MarkKind::LineNumber,
                            });
                        }
                        write_assignment(
                            &mut output.bytes,
                            &assignment,
                            &compiled.numbers,
                            shard.is_some(),
                        );
                        return;
                    }
                    Err(message) => MarkKind::Invalid(message),
                },
                Line::Blank => MarkKind::Invalid("a blank line is not a record".to_owned()),
                Line::NotUtf8 => MarkKind::Invalid("line is not valid UTF-8".to_owned()),
                Line::TooLong => MarkKind::TooLong,
            };
            output.marks.push(Mark {
                at: output.bytes.len(),
                index,
                kind,
            });
        };
    let mut bad = 0usize;
    let write_chunk = |first_line: usize, output: ChunkOutput| -> std::io::Result<()> {
        let mut at = 0;
        for mark in output.marks {
            out.write_all(&output.bytes[at..mark.at])?;
            at = mark.at;
            let line = first_line + mark.index;
            let message = match mark.kind {
                MarkKind::LineNumber => {
                    write!(out, "{{\"line\":{line}")?;
                    continue;
                }
                MarkKind::Invalid(message) => LineError::invalid(&name, line, message),
                MarkKind::TooLong => LineError::TooLong {
                    file: name.clone(),
                    line,
                    limit: MAX_RECORD_LINE,
                },
            };
            if shard.is_some_and(|shard| !shard.holds_line(line)) {
                continue;
            }
            let message = message.to_string();
            eprintln!("flakewatch: {message}");
            let doc = match shard {
                None => json!({ "error": message }),
                Some(_) => json!({ "line": line, "error": message }),
            };
            writeln!(out, "{doc}")?;
            bad += 1;
        }
        out.write_all(&output.bytes[at..])
    };
    let options = Options {
        chunk_size: if mapped.is_some() {
            Options::MAPPED_CHUNK
        } else {
            Options::DEFAULT_CHUNK
        },
        max_line: MAX_RECORD_LINE,
    };
    let outcome = match &mapped {
        Some(map) => {
            let mut dropped = 0;
            // Pages the workers are done with leave the process's memory every 16 MiB
            // (they stay in the page cache), so memory is bounded by the pattern set, not
            // the file.
            let consumed = |end: usize| {
                if end - dropped >= RELEASE_BYTES {
                    dropped = release_mapped(map, dropped, end);
                }
            };
            for_each_line_in(
                map,
                options,
                &mut workers,
                assign_line,
                write_chunk,
                consumed,
            )
        }
        None => {
            let input = open_failures(&args.failures)?;
            for_each_line(input, options, &mut workers, assign_line, write_chunk)
        }
    };
    match outcome {
        Ok(()) => {}
        Err(ChunkError::Read(source)) => {
            let err = LineError::Io {
                file: name.clone(),
                source,
            };
            return Err(anyhow::Error::new(err).context(format!("reading {name}")));
        }
        Err(ChunkError::Emit(err)) => return Err(err.into()),
    }
    out.flush()?;
    let fallbacks: u64 = workers.iter().map(|w| w.scratch.fallbacks()).sum();
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-written result line is serde_json's rendering of the same object.
    #[test]
    fn result_lines_are_the_json_of_the_assignment() {
        let numbers = [101, 7, 55123];
        for assignment in [
            Assignment::NewIssue,
            Assignment::Skip(2),
            Assignment::Default(0),
            Assignment::Post(vec![0]),
            Assignment::Post(vec![0, 1, 2]),
        ] {
            let targets: Vec<u64> = assignment.targets().iter().map(|&i| numbers[i]).collect();
            let expected =
                json!({ "action": assignment.action_name(), "targets": targets }).to_string();
            let mut line = Vec::new();
            write_assignment(&mut line, &assignment, &numbers, false);
            assert_eq!(String::from_utf8(line).unwrap(), format!("{expected}\n"));
            let mut line = b"{\"line\":3".to_vec();
            write_assignment(&mut line, &assignment, &numbers, true);
            assert_eq!(
                String::from_utf8(line).unwrap(),
                format!("{{\"line\":3,{}\n", &expected[1..])
            );
        }
    }
}

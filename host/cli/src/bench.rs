//! `flakewatch bench`: measures a user's own pattern set on their own failures — compile time,
//! failures/s and MB/s per engine, the interpreter/JIT ratio, thread scaling and peak memory —
//! and checks that every engine made the same assignments.

use std::io::{BufReader, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use flakewatch_dsl::{Assignment, Field, Record};

use crate::match_cmd::compile_issue_file;
use flakewatch_ingest::records::{MAX_RECORD_LINE, parse_record_fields};
use flakewatch_triage::cache::SetCache;
use flakewatch_triage::engine::{Engine, EngineKind};

/// Arguments of `flakewatch bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Issues in GitHub's JSON shape, one per line.
    #[arg(long)]
    pub issues: PathBuf,
    /// Failure records, one JSON object per line.
    #[arg(long)]
    pub failures: PathBuf,
    /// Engines to measure, in order (the first is the reference for agreement).
    #[arg(long, value_parser = crate::engine_parser(), value_delimiter = ',', default_value = "interp,plan,jit")]
    pub engines: Vec<EngineKind>,
    /// Thread counts to measure the JIT with (besides one thread).
    #[arg(long, value_delimiter = ',', default_values_t = [2])]
    pub threads: Vec<usize>,
    /// Use at most this many failures (all by default).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Compile passes to time (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub compile_passes: usize,
    /// Compile through the compiled-set cache in DIR (as `match --cache`): an untimed pass
    /// fills it, and the timed passes read it back ("compile (cached)").
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
}

/// Runs `flakewatch bench`.
pub(crate) fn run(args: &BenchArgs) -> anyhow::Result<ExitCode> {
    // A spinner on stderr while it measures; indicatif draws nothing when stderr is no
    // terminal, so pipes and CI logs stay clean.
    let progress = indicatif::ProgressBar::new_spinner();
    progress.enable_steady_tick(Duration::from_millis(120));
    progress.set_message(format!("reading {}", args.failures.display()));
    let result = measure(args, &progress);
    progress.finish_and_clear();
    result
}

fn measure(args: &BenchArgs, progress: &indicatif::ProgressBar) -> anyhow::Result<ExitCode> {
    let records = load_records(&args.failures, args.limit)?;
    if records.is_empty() {
        // Rates and ratios of nothing are not figures.
        anyhow::bail!(
            "{}: no failure records to measure{}",
            args.failures.display(),
            if args.limit == Some(0) {
                " (--limit 0)"
            } else {
                ""
            }
        );
    }
    let output_bytes: usize = records.iter().map(|r| r.get(Field::Output).len()).sum();
    let log_bytes: usize = records.iter().map(|r| r.get(Field::Log).len()).sum();
    let mut out = crate::stdout();
    writeln!(
        out,
        "{} failures, {:.1} MB output, {:.1} MB log",
        records.len(),
        mb(output_bytes),
        mb(log_bytes)
    )?;
    let mut compiled = Vec::with_capacity(args.engines.len());
    let mut described = false;
    let cache = args.cache.as_ref().map(SetCache::new);
    for &kind in &args.engines {
        progress.set_message(format!(
            "compiling the issues for the {} engine",
            kind.name()
        ));
        // An untimed pass fills the cache (or finds the entry), so that the timed passes are
        // hits; when the entry cannot be written (a warning says why), they compile as without
        // a cache, and the warning is not repeated for every pass.
        let mut cache = cache.as_ref();
        if let Some(dir) = cache {
            let (_, outcome) = compile_issue_file(&args.issues, kind, Some(dir))?;
            if outcome.is_none_or(|o| !o.hit && !o.stored) {
                cache = None;
            }
        }
        let mut compile_times = Vec::new();
        let mut every_pass_hit = cache.is_some();
        let mut last = None;
        for _ in 0..args.compile_passes.max(1) {
            let start = Instant::now();
            let (issues, outcome) = compile_issue_file(&args.issues, kind, cache)?;
            compile_times.push(start.elapsed());
            every_pass_hit &= outcome.is_some_and(|o| o.hit);
            // The previous pass's set is freed outside the timed span.
            last = Some(issues);
        }
        let engine = last.expect("at least one compile pass").engine;
        if let Some(plan) = engine.plan().filter(|_| !described) {
            described = true;
            describe_plan(&mut out, plan)?;
        }
        compiled.push((kind, median(&mut compile_times), every_pass_hit, engine));
    }
    // The engines' passes alternate, so that the machine's drift (other tenants, frequency)
    // falls on all of them alike and their ratios hold.
    let engines: Vec<&Engine> = compiled.iter().map(|(_, _, _, engine)| engine).collect();
    let (times, results) = alternating_passes(&engines, &records, 1, progress);
    let mut single_thread = Vec::new();
    let mut disagreements = 0usize;
    for (((kind, compile_time, cached, engine), elapsed), assignments) in
        compiled.iter().zip(times).zip(&results)
    {
        let rate = records.len() as f64 / elapsed.as_secs_f64();
        writeln!(
            out,
            "{:<6} compile{} {:>7.2} ms | 1 thread: {:>10.0} failures/s {:>8.1} MB/s output {:>8.1} MB/s output+log",
            kind.name(),
            if *cached { " (cached)" } else { "" },
            compile_time.as_secs_f64() * 1e3,
            rate,
            mb(output_bytes) / elapsed.as_secs_f64(),
            mb(output_bytes + log_bytes) / elapsed.as_secs_f64(),
        )?;
        single_thread.push((*kind, rate));
        let differ = results[0]
            .iter()
            .zip(assignments)
            .filter(|(a, b)| a != b)
            .count();
        if differ > 0 {
            writeln!(
                out,
                "  DISAGREES with {} on {differ} failures",
                args.engines[0].name()
            )?;
            disagreements += differ;
        }
        if *kind == EngineKind::Jit {
            for &threads in args.threads.iter().filter(|&&t| t > 1) {
                let elapsed = alternating_passes(&[engine], &records, threads, progress).0[0];
                let scaled = records.len() as f64 / elapsed.as_secs_f64();
                writeln!(
                    out,
                    "       {threads} threads: {scaled:>10.0} failures/s ({:.2}x one thread)",
                    scaled / rate
                )?;
            }
        }
    }
    let rate_of = |kind| {
        single_thread
            .iter()
            .find(|(k, _)| *k == kind)
            .map(|(_, r)| *r)
    };
    if let (Some(interp), Some(jit)) = (rate_of(EngineKind::Interp), rate_of(EngineKind::Jit)) {
        writeln!(out, "jit/interp speed ratio: {:.1}x", jit / interp)?;
    }
    if let (Some(plan), Some(jit)) = (rate_of(EngineKind::Plan), rate_of(EngineKind::Jit)) {
        writeln!(out, "jit/plan speed ratio: {:.2}x", jit / plan)?;
    }
    if let Some(peak) = peak_memory_kib() {
        writeln!(
            out,
            "peak memory: {:.0} MiB (includes the loaded failures)",
            peak as f64 / 1024.0
        )?;
    }
    if disagreements > 0 {
        anyhow::bail!("engines disagreed on {disagreements} assignments");
    }
    Ok(ExitCode::SUCCESS)
}

/// What the plan makes of the pattern set: how many issues run for every failure, how many
/// only for failures with one of their guard's values, how many regexps a prefilter gates.
fn describe_plan(out: &mut impl Write, plan: &flakewatch_jit::Plan) -> anyhow::Result<()> {
    let dispatch = plan.dispatch();
    let mut guarded: Vec<u32> = dispatch.groups.iter().flatten().copied().collect();
    guarded.sort_unstable();
    guarded.dedup();
    let names = |fields: &[flakewatch_dsl::Field]| {
        if fields.is_empty() {
            "no field".to_owned()
        } else {
            let names: Vec<&str> = fields.iter().map(|f| f.name()).collect();
            names.join(", ")
        }
    };
    let by_regex: usize = dispatch.regex_groups.iter().map(|g| g.len()).sum();
    writeln!(
        out,
        "plan: {} issues run for every failure, {} only for their guard's values ({} groups on {}), {} only when a prefilter finds their regexp's literal ({} groups on {}); {} regexp predicates gated by literal prefilters",
        dispatch.always.len(),
        guarded.len(),
        dispatch.groups.len(),
        names(&dispatch.fields),
        by_regex,
        dispatch.regex_groups.len(),
        names(&dispatch.regex_fields),
        plan.gated_regexes(),
    )?;
    let prefilters: Vec<String> = plan
        .prefilters()
        .iter()
        .map(|(field, literals, stride)| {
            format!(
                "{} ({literals} literals, every {stride}. byte)",
                field.name()
            )
        })
        .collect();
    if !prefilters.is_empty() {
        writeln!(out, "prefilters: {}", prefilters.join(", "))?;
    }
    Ok(())
}

/// The failure records of `path` (`-`: standard input), every line bounded; a bad line is an
/// error (a benchmark measures what it was given, or nothing).
fn load_records(path: &std::path::Path, limit: Option<usize>) -> anyhow::Result<Vec<Record>> {
    let input = crate::open_input(path)?;
    let name = path.display().to_string();
    let mut records = Vec::new();
    for line in flakewatch_core::jsonl::lines(BufReader::new(input), &name, MAX_RECORD_LINE) {
        if limit.is_some_and(|n| records.len() >= n) {
            break;
        }
        let (n, text) = line?;
        let record = parse_record_fields(&text).map_err(|e| anyhow::anyhow!("{name}:{n}: {e}"))?;
        records.push(record);
    }
    Ok(records)
}

/// Fewest matching passes per figure, and the least time they must add up to: one pass over a
/// small workload takes milliseconds, too short to be told from noise.
const MIN_PASSES: usize = 3;
const MIN_MEASURED: Duration = Duration::from_secs(1);

/// Per engine, the median time of a pass over `records` on `threads` threads and its first
/// pass's results. Passes go round the engines until each has had at least [`MIN_PASSES`]
/// adding up to [`MIN_MEASURED`].
fn alternating_passes(
    engines: &[&Engine],
    records: &[Record],
    threads: usize,
    progress: &indicatif::ProgressBar,
) -> (Vec<Duration>, Vec<Vec<Assignment>>) {
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); engines.len()];
    let mut results = Vec::with_capacity(engines.len());
    loop {
        for (engine, times) in engines.iter().zip(&mut times) {
            progress.set_message(format!(
                "matching {} failures with the {} engine on {threads} thread(s), pass {}",
                records.len(),
                engine.kind().name(),
                times.len() + 1
            ));
            let (elapsed, assignments) = time_matching(engine, records, threads);
            if results.len() < engines.len() {
                results.push(assignments);
            }
            times.push(elapsed);
        }
        let enough = |times: &Vec<Duration>| {
            times.len() >= MIN_PASSES && times.iter().sum::<Duration>() >= MIN_MEASURED
        };
        if times.iter().all(enough) {
            break;
        }
    }
    let medians = times.iter_mut().map(|times| median(times)).collect();
    (medians, results)
}

/// Assigns every record with `threads` threads (contiguous runs); returns the time and results.
fn time_matching(
    engine: &Engine,
    records: &[Record],
    threads: usize,
) -> (Duration, Vec<Assignment>) {
    let per_thread = records.len().div_ceil(threads.max(1)).max(1);
    let start = Instant::now();
    let results: Vec<Assignment> = std::thread::scope(|scope| {
        let handles: Vec<_> = records
            .chunks(per_thread)
            .map(|part| {
                // Named so that profilers can tell matching from loading (`perf report --comms`).
                std::thread::Builder::new()
                    .name("fw-match".to_owned())
                    .spawn_scoped(scope, move || {
                        let mut scratch = engine.scratch();
                        part.iter()
                            .map(|r| engine.assign(r, &mut scratch))
                            .collect::<Vec<_>>()
                    })
                    .expect("spawning a matching thread")
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("bench thread panicked"))
            .collect()
    });
    (start.elapsed(), results)
}

fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    times[times.len() / 2]
}

fn mb(bytes: usize) -> f64 {
    bytes as f64 / 1e6
}

/// Peak resident memory of this process (Linux `VmHWM`), in KiB.
fn peak_memory_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

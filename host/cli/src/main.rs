//! The `flakewatch` command line: one module per subcommand, resolved into a config before work.
//!
//! Exit codes (see `docs/cli.md`): 0 success, 1 the input has errors (diagnostics printed),
//! 2 usage error (clap), 3 an I/O or other operational failure; `aggregate` has its own
//! (0 pass, 1 regression, 2 insufficient data, 3 configuration or infrastructure error).

#![allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "the command line is the one place that prints"
)]

use std::io::{self, Write};
use std::process::ExitCode;

/// mimalloc instead of glibc's malloc: triage moves millions of short strings across the
/// plugin boundary, and glibc spent about a third of a dry run consolidating its free lists
/// (`perf`, 320,000-build data set). Built without transparent huge pages (`no_thp`): with
/// them, `match` on the 10,000-issue set zeroed 2 MiB pages on every refault (6 % of the
/// run) and peaked at 143 MB instead of 100 MB, at the same speed. Plugins keep the system
/// allocator: the files plugin built with mimalloc crashed the loader's tests (`SIGSEGV`) once
/// its library was unloaded.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::builder::TypedValueParser as _;
use clap::{Parser, Subcommand};
use flakewatch_triage::engine::EngineKind;

mod aggregate;
mod analyze_historical;
mod analyze_test_case;
mod authoring_input;
mod bench;
mod broken;
mod check;
mod close;
mod completions;
mod debug;
mod eval;
mod explain;
mod ingest;
mod lint;
mod logging;
pub(crate) mod match_cmd;
mod plugin;
mod plugin_options;
mod preview;
mod prime_jobs;
mod progress;
mod query;
mod releases;
mod repeat;
mod report;
mod revision;
mod schema;
mod script_file;
mod sql;
mod store;
mod triage;
mod upload;

/// The `--engine` values: every [`EngineKind`] by name, with its description in `--help`.
fn engine_parser() -> impl clap::builder::TypedValueParser<Value = EngineKind> {
    let values = EngineKind::ALL
        .map(|kind| clap::builder::PossibleValue::new(kind.name()).help(kind.about()));
    clap::builder::PossibleValuesParser::new(values)
        .map(|name| EngineKind::from_name(&name).unwrap_or_default())
}

/// When output is colored (`--color`).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Color {
    /// On a terminal only.
    #[default]
    Auto,
    /// Always, also in pipes and files.
    Always,
    /// Never.
    Never,
}

impl Color {
    /// Whether output going to a stream that `is_terminal` or not is colored.
    pub(crate) fn enabled(self, is_terminal: bool) -> bool {
        match self {
            Color::Auto => is_terminal && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
            Color::Always => true,
            Color::Never => false,
        }
    }
}

/// Standard output as every command writes it: a closed pipe (`flakewatch … | head`) ends
/// the output quietly, and the command goes on to its real exit status.
pub(crate) struct Stdout {
    inner: io::StdoutLock<'static>,
    closed: bool,
}

/// The command's standard output (see [`Stdout`]).
pub(crate) fn stdout() -> Stdout {
    Stdout {
        inner: io::stdout().lock(),
        closed: false,
    }
}

impl Stdout {
    fn quiet<T>(&mut self, result: io::Result<T>, done: T) -> io::Result<T> {
        match result {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(done)
            }
            other => other,
        }
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.closed {
            return Ok(buf.len());
        }
        let result = self.inner.write(buf);
        self.quiet(result, buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.closed {
            return Ok(());
        }
        let result = self.inner.flush();
        self.quiet(result, ())
    }
}

/// Opens an input file, or standard input for `-`.
pub(crate) fn open_input(path: &std::path::Path) -> anyhow::Result<Box<dyn io::Read>> {
    use anyhow::Context as _;
    if path.as_os_str() == "-" {
        return Ok(Box::new(io::stdin().lock()));
    }
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    Ok(Box::new(file))
}

/// A mistake in the command line found after parsing (a malformed `--opt`, a bad `--now`):
/// exit status 2, like clap's own usage errors.
#[derive(Debug)]
pub(crate) struct UsageError(pub(crate) String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// "Now" for a command's time window: `--now TIME` (RFC 3339; a bad one is a usage error),
/// else the clock.
pub(crate) fn now_or_clock(text: Option<&str>) -> anyhow::Result<flakewatch_core::time::Timestamp> {
    use anyhow::Context as _;
    match text {
        Some(text) => flakewatch_core::time::Timestamp::parse_rfc3339(text)
            .map_err(|e| UsageError(format!("--now: {e}")).into()),
        None => flakewatch_core::time::Timestamp::now().context("the system clock is before 1970"),
    }
}

/// Exit code for usage errors.
pub(crate) const EXIT_USAGE: u8 = 2;

/// Exit code for operational failures (I/O, unreadable input).
pub const EXIT_FAILURE: u8 = 3;

/// flakewatch: triage CI test failures at high volume.
#[derive(Debug, Parser)]
#[command(
    name = "flakewatch",
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("FLAKEWATCH_COMMIT"), ")"),
    about,
    long_about = None,
    after_help = "Examples:\n  \
      flakewatch triage --data demo/ --now 2025-10-01T00:00:00Z      the plan for the demo data\n  \
      flakewatch check examples/issue-body.md                        check a watchflakes script\n  \
      flakewatch match --issues issues.jsonl --failures -            assign failures read from a pipe\n\n\
      Exit status: 0 success, 1 the input has errors, 2 usage error, 3 operational failure, \
      4 triage's guard rail; aggregate has its own (docs/cli.md)."
)]
pub struct Cli {
    /// More detail: -v lists every decision and logs progress to stderr; -vv and -vvv log
    /// debug and trace events.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,
    /// How log events are written to stderr.
    #[arg(
        long,
        value_enum,
        default_value_t,
        global = true,
        value_name = "FORMAT"
    )]
    log_format: logging::LogFormat,
    /// When to use colors and rich rendering: auto (on a terminal), always, never.
    #[arg(long, value_enum, default_value_t, global = true, value_name = "WHEN")]
    color: Color,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
#[allow(
    clippy::large_enum_variant,
    reason = "parsed once per process; boxing the argument structs gains nothing"
)]
enum Command {
    /// Check a watchflakes script (or a whole issue body) and print its diagnostics.
    Check(check::CheckArgs),
    /// Evaluate a script against JSON-lines records: the first matching rule's action per record.
    Eval(eval::EvalArgs),
    /// Show an intermediate form: tokens, AST, IR or Cranelift IR.
    Debug(debug::DebugArgs),
    /// Assign failures across the issues of a pattern set (one JSON line per failure).
    Match(match_cmd::MatchArgs),
    /// Measure a pattern set on failures: compile time, throughput per engine, memory.
    Bench(bench::BenchArgs),
    /// Compile a pattern set into one SQL query (BigQuery, DuckDB, PostgreSQL) that assigns
    /// every failure of a table as `match` does.
    Sql(sql::SqlArgs),
    /// Read JUnit XML, go test -json and mozlog files into results JSON lines or failure records.
    Ingest(ingest::IngestArgs),
    /// Triage failures into tracking issues, as watchflakes does: a dry run that prints the
    /// plan, or --apply to post it.
    Triage(triage::TriageArgs),
    /// Lint a pattern set: rules that can never match or never own a failure, duplicates,
    /// costly regexps, over-broad rules, failing examples; exit 1 when any is an error.
    Lint(lint::LintArgs),
    /// Explain one script on one failure, predicate by predicate, and who owns the failure.
    Explain(explain::ExplainArgs),
    /// Preview a new or edited script on the failure history: what it would take and release.
    Preview(preview::PreviewArgs),
    /// Show the failures a script captures, and which issue owns each (upstream's query mode).
    Query(query::QueryArgs),
    /// Close quiet issues as upstream's closing pass does: a dry run that prints each decision,
    /// or --apply to post the signed closing comments and close.
    Close(close::CloseArgs),
    /// File one issue per builder whose newest builds all fail, and keep it updated: a dry
    /// run, or --apply to create, comment, reopen and close.
    BrokenBuilders(broken::BrokenArgs),
    /// Rank every tracked issue by recent impact and list the failures no issue owns: HTML
    /// (--html FILE), Markdown (--md), JSON (--json) or text.
    Report(report::ReportArgs),
    /// Judge the parallel runs of one job for one payload against each test's history
    /// (OpenShift's job-run-aggregator); exit 0 pass, 1 regression, 2 insufficient data,
    /// 3 configuration or infrastructure error.
    Aggregate(aggregate::AggregateArgs),
    /// Show a revision's stored test results the way Mozilla asks of every push: chunks
    /// expected, executed, repeated and missing per suite, scheduled tests never reported,
    /// and the tests whose results differ on the revision.
    Revision(revision::RevisionArgs),
    /// Inspect a plugin: `flakewatch plugin info PATH|NAME`.
    Plugin(plugin::PluginArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions::CompletionsArgs),
    /// Print the man page (roff): `flakewatch man > flakewatch.1`.
    Man,
    /// Compare refreshed disruption or alert percentiles with the current ones and write the
    /// new rows, pr_message.md and require_review.
    AnalyzeHistoricalData(analyze_historical::HistoricalArgs),
    /// Check that one test (install, overall or upgrade) passed in enough runs across the jobs
    /// of a payload (OpenShift's cross-job gate); exit 0 pass, 1 too few passes.
    AnalyzeTestCase(analyze_test_case::TestCaseArgs),
    /// Upload the disruption side-car data of a directory of job runs into the aggregator's
    /// BackendDisruption table (idempotent; --dry-run prints the rows).
    UploadDisruptions(upload::UploadArgs),
    /// Upload the alert side-car data of a directory of job runs into the aggregator's Alerts
    /// table, with zero rows for known alerts that did not fire (idempotent; --dry-run).
    UploadAlerts(upload::AlertArgs),
    /// Insert the jobs of release controller configs and periodic job files into the
    /// aggregator's Jobs table (names stored already are skipped).
    PrimeJobTable(prime_jobs::PrimeArgs),
    /// Create the aggregator's four release tables in a store.
    CreateReleases(releases::CreateArgs),
    /// Store the Accepted and Rejected release tags of a file (and their job runs,
    /// repositories and pull requests) that are not stored yet.
    UploadReleases(releases::UploadArgs),
}

/// Parses the arguments, runs the subcommand and maps the outcome to an exit code.
fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(&err),
    };
    logging::init(
        cli.verbose,
        cli.log_format,
        cli.color
            .enabled(std::io::IsTerminal::is_terminal(&std::io::stderr())),
    );
    let result = match &cli.command {
        Command::Check(args) => check::run(args, cli.color),
        Command::Eval(args) => eval::run(args),
        Command::Debug(args) => debug::run(args),
        Command::Match(args) => match_cmd::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Sql(args) => sql::run(args),
        Command::Ingest(args) => ingest::run(args),
        Command::Triage(args) => triage::run(args, cli.verbose),
        Command::Query(args) => query::run(args),
        Command::Lint(args) => lint::run(args),
        Command::Explain(args) => explain::run(args, cli.color),
        Command::Preview(args) => preview::run(args),
        Command::Report(args) => report::run(args),
        Command::Close(args) => close::run(args, cli.verbose),
        Command::BrokenBuilders(args) => broken::run(args),
        Command::Aggregate(args) => aggregate::run(args),
        Command::AnalyzeHistoricalData(args) => analyze_historical::run(args),
        Command::AnalyzeTestCase(args) => analyze_test_case::run(args),
        Command::UploadDisruptions(args) => upload::run_disruptions(args),
        Command::UploadAlerts(args) => upload::run_alerts(args),
        Command::PrimeJobTable(args) => prime_jobs::run(args),
        Command::CreateReleases(args) => releases::run_create(args),
        Command::UploadReleases(args) => releases::run_upload(args),
        Command::Revision(args) => revision::run(args),
        Command::Plugin(args) => plugin::run(args),
        Command::Completions(args) => completions::completions(args),
        Command::Man => completions::man(),
    };
    match result {
        Ok(code) => code,
        Err(err) if err.downcast_ref::<UsageError>().is_some() => {
            let _ = writeln!(io::stderr(), "flakewatch: {err:#}");
            // `aggregate`'s 2 means "insufficient data": its usage errors are 3 (see docs).
            let aggregating = matches!(cli.command, Command::Aggregate(_));
            ExitCode::from(if aggregating {
                EXIT_FAILURE
            } else {
                EXIT_USAGE
            })
        }
        Err(err) => {
            let _ = writeln!(io::stderr(), "flakewatch: {err:#}");
            ExitCode::from(EXIT_FAILURE)
        }
    }
}

/// Prints a clap error (or the help it asked for). A usage error exits 2, except for
/// `aggregate`, whose 2 means "insufficient data": there it is a configuration error (3).
fn usage_error(err: &clap::Error) -> ExitCode {
    let _ = err.print();
    let code = err.exit_code();
    let aggregating = std::env::args().nth(1).as_deref() == Some("aggregate");
    if code == 2 && aggregating {
        return ExitCode::from(aggregate::EXIT_CONFIG);
    }
    ExitCode::from(u8::try_from(code).unwrap_or(2))
}

//! `flakewatch eval`: the first matching rule's action for each record of a JSON-lines file.

use std::io::{BufReader, BufWriter, Write};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use flakewatch_dsl::ir::PatternSetBuilder;
use flakewatch_dsl::{Interpreter, Limits};
use serde_json::json;

use crate::script_file;
use flakewatch_core::LineError;
use flakewatch_ingest::records::read_records;

/// Arguments of `flakewatch eval`.
#[derive(Debug, Args)]
pub(crate) struct EvalArgs {
    /// The script or issue body (`-` for standard input).
    #[arg(long)]
    pub script: String,
    /// Failure records, one JSON object per line (watchflakes field names, string values);
    /// `-` reads standard input.
    #[arg(long)]
    pub records: String,
}

/// Runs `flakewatch eval`: prints `{"action":"NAME"}` (or `null` when no rule matches) per record.
pub(crate) fn run(args: &EvalArgs) -> anyhow::Result<ExitCode> {
    let file = script_file::load(&args.script)?;
    if !file.parsed.is_ok() {
        for diagnostic in &file.parsed.diagnostics {
            eprintln!("{diagnostic}");
        }
        anyhow::bail!("{}: the script has errors", args.script);
    }
    let mut builder = PatternSetBuilder::new(Limits::DEFAULT);
    builder
        .add_issue(0, &file.parsed.script)
        .with_context(|| format!("compiling {}", args.script))?;
    let set = builder.finish();
    let interp = Interpreter::new(&set);
    let mut scratch = interp.scratch();
    let input = crate::open_input(std::path::Path::new(&args.records))?;
    let mut out = BufWriter::new(crate::stdout());
    let mut bad_lines = 0usize;
    for item in read_records(BufReader::new(input), &args.records) {
        let line = match item {
            Ok(line) => line,
            // A bad line is reported and skipped; an over-long one ends the input (both make
            // the exit status 1, as in `match`).
            Err(err @ (LineError::Invalid { .. } | LineError::TooLong { .. })) => {
                eprintln!("flakewatch: {err}");
                bad_lines += 1;
                continue;
            }
            Err(err) => return Err(err.into()),
        };
        let action = interp
            .script_action(0, &line.record, &mut scratch)
            .map(|id| set.actions[id as usize].as_str());
        writeln!(out, "{}", json!({ "action": action }))?;
    }
    out.flush()?;
    if bad_lines > 0 {
        eprintln!("flakewatch: {bad_lines} record line(s) skipped");
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

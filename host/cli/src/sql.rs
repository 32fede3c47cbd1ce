//! `flakewatch sql`: the issues of a pattern set compiled, from their IR, into one SQL query
//! that assigns every failure of a table as `match` does (`docs/sql.md`).

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use clap::builder::TypedValueParser as _;
use flakewatch_dsl::{Limits, PatternSet, RegexpMemo};
use flakewatch_sql::{ColumnName, Dialect, Options, SqlError, TableName};
use flakewatch_triage::patterns::{ScriptStatus, read_issues};

use crate::UsageError;

/// The `--dialect` values.
fn dialect_parser() -> impl clap::builder::TypedValueParser<Value = Dialect> {
    clap::builder::PossibleValuesParser::new(Dialect::ALL.map(Dialect::name))
        .map(|name| Dialect::from_name(&name).unwrap_or(Dialect::DuckDb))
}

/// Arguments of `flakewatch sql`.
#[derive(Debug, Args)]
pub(crate) struct SqlArgs {
    /// Issues in GitHub's JSON shape, one per line (`number`, `body`); `-` reads standard
    /// input.
    pub issues: PathBuf,
    /// The SQL dialect to write.
    #[arg(long, value_parser = dialect_parser())]
    pub dialect: Dialect,
    /// The table of failure records: one string column per field the rules read, and the
    /// key column (`table`, `schema.table`, `project.dataset.table`).
    #[arg(long, default_value = "failures")]
    pub table: String,
    /// The column that identifies a failure; the result carries it.
    #[arg(long, default_value = "line")]
    pub key: String,
    /// Leave out every issue with a rule the dialect cannot express with the same meaning
    /// (listed on standard error; it then never matches) instead of failing.
    #[arg(long)]
    pub omit_refused: bool,
    /// Where to write the query (default: standard output).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Runs `flakewatch sql`.
pub(crate) fn run(args: &SqlArgs) -> anyhow::Result<ExitCode> {
    let table = TableName::parse(&args.table).map_err(|e| UsageError(format!("--table: {e}")))?;
    let key = ColumnName::parse(&args.key).map_err(|e| UsageError(format!("--key: {e}")))?;
    let set = pattern_set(&args.issues)?;
    let options = Options {
        dialect: args.dialect,
        table,
        key,
        omit_refused: args.omit_refused,
    };
    let compiled = match flakewatch_sql::compile(&set, &options) {
        Ok(compiled) => compiled,
        Err(err @ SqlError::Refused { .. }) => {
            eprintln!("flakewatch: {err}");
            eprintln!(
                "flakewatch: no query written; --omit-refused leaves these issues out instead"
            );
            return Ok(ExitCode::from(1));
        }
        Err(err) => return Err(err.into()),
    };
    for refusal in &compiled.refused {
        eprintln!("flakewatch: left out: {refusal}");
    }
    let omitted = compiled.omitted_issues();
    if !omitted.is_empty() {
        eprintln!(
            "flakewatch: {} issue(s) left out of the {} query (they match nothing there): {}",
            omitted.len(),
            args.dialect,
            omitted
                .iter()
                .map(|n| format!("#{n}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let mut out: Box<dyn Write> = match &args.out {
        Some(path) => Box::new(BufWriter::new(
            File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => Box::new(BufWriter::new(crate::stdout())),
    };
    out.write_all(compiled.sql.as_bytes())?;
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// The issues of a file as the engines take them: ascending number, each script extracted and
/// parsed as upstream does, lowered together; an issue without a usable script matches nothing
/// (reported on standard error, as `match` reports it).
fn pattern_set(path: &std::path::Path) -> anyhow::Result<PatternSet> {
    let file = crate::open_input(path)?;
    let name = path.display().to_string();
    let mut issues = read_issues(BufReader::new(file), &name)?;
    issues.sort_by_key(|issue| issue.number);
    let limits = Limits::DEFAULT;
    let mut memo = RegexpMemo::default();
    let statuses: Vec<ScriptStatus> = issues
        .iter()
        .map(|issue| {
            ScriptStatus::of_body_memo(issue.body.as_deref().unwrap_or(""), &limits, &mut memo)
        })
        .collect();
    let scripts = issues.iter().zip(&statuses).map(|(issue, status)| {
        let script = match status {
            ScriptStatus::Ok(parsed) => Some(&parsed.script),
            _ => None,
        };
        (issue.number, script)
    });
    let (set, errors) = PatternSet::from_scripts(scripts, limits);
    for (number, err) in &errors {
        eprintln!("flakewatch: issue {number}: {err}; it matches nothing");
    }
    let unusable: Vec<String> = issues
        .iter()
        .zip(&statuses)
        .filter(|(_, status)| !status.is_usable())
        .map(|(issue, _)| format!("#{}", issue.number))
        .collect();
    if !unusable.is_empty() {
        let more = unusable.len().saturating_sub(20);
        eprintln!(
            "flakewatch: {} issue(s) have no usable script and match nothing: {}{}",
            unusable.len(),
            unusable[..unusable.len().min(20)].join(", "),
            if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            }
        );
    }
    Ok(set)
}

//! `flakewatch query SCRIPT`: upstream's query mode. Shows the failures of the window that
//! the script captures (after the same filtering and coalescing as triage) and, unless
//! `--no-owners`, which issue of the tracker owns each one today. Writes nothing.

use std::io::{self, Write};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use flakewatch_dsl::parse_script;
use serde_json::json;

use super::triage::BackendArgs;
use crate::script_file;
use flakewatch_triage::backend::IssueTracker;
use flakewatch_triage::cache::SetCache;
use flakewatch_triage::query::{Owner, query};
use flakewatch_triage::text::SIGNATURE;

/// Arguments of `flakewatch query`.
#[derive(Debug, Args)]
pub(crate) struct QueryArgs {
    /// The script text, e.g. 'post <- pkg == "net/http" && `i/o timeout`'.
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    pub script: Option<String>,
    /// Read the script from a file instead (a bare script or an issue body; `-` for stdin).
    #[arg(long, value_name = "FILE")]
    pub file: Option<String>,
    /// Where failures (and issues) come from.
    #[command(flatten)]
    pub backend: BackendArgs,
    /// Print each failure as the Markdown a comment holds, then the signature (upstream's -md).
    #[arg(long)]
    pub md: bool,
    /// Print one JSON object per failure.
    #[arg(long, conflicts_with = "md")]
    pub json: bool,
    /// Do not look up the issue that owns each failure (no issue tracker needed).
    #[arg(long)]
    pub no_owners: bool,
    /// Cache the tracker's compiled issue set in DIR (as `triage --cache`).
    #[arg(long, value_name = "DIR")]
    pub cache: Option<std::path::PathBuf>,
}

fn owner_text(owner: &Owner) -> String {
    let issues: Vec<String> = owner.issues().iter().map(|n| format!("#{n}")).collect();
    match owner {
        Owner::Unclaimed => "owner: none (triage would open a new issue)".to_owned(),
        _ => format!("owner: {} {}", owner.action(), issues.join(", ")),
    }
}

/// Runs `flakewatch query`.
pub(crate) fn run(args: &QueryArgs) -> anyhow::Result<ExitCode> {
    let (name, parsed) = match (&args.script, &args.file) {
        (_, Some(path)) => (path.clone(), script_file::load(path)?.parsed),
        (Some(text), None) => ("script".to_owned(), parse_script(text)),
        (None, None) => anyhow::bail!("no script given"),
    };
    if !parsed.is_ok() {
        let mut err = io::stderr().lock();
        writeln!(err, "flakewatch: parsing query {name}:")?;
        for d in &parsed.diagnostics {
            writeln!(err, "{d}")?;
        }
        return Ok(ExitCode::from(1));
    }
    let mut options = args.backend.options()?;
    options.cache = args.cache.as_ref().map(SetCache::new);
    let backends = args.backend.resolve(!args.no_owners)?;
    let tracker = backends.tracker.as_deref().map(|t| t as &dyn IssueTracker);
    let (matches, stats) =
        query(&parsed.script, &*backends.source, tracker, &options).context("running the query")?;
    let mut out = crate::stdout();
    for (i, m) in matches.iter().enumerate() {
        if args.json {
            let mut v = json!({
                "url": m.post.url,
                "header": m.post.header(),
                "action": m.action,
                "test_id": m.post.test_id,
                "pkg": m.post.pkg,
                "test": m.post.test,
                "builder": m.post.builder,
                "repo": m.post.repo,
                "date": m.post.time.format_rfc3339(),
                "snippet": m.post.snippet,
            });
            if let Some(owner) = &m.owner {
                v["owner"] = json!({ "action": owner.action(), "issues": owner.issues() });
            }
            writeln!(out, "{v}")?;
            continue;
        }
        if i > 0 {
            writeln!(out)?;
        }
        if args.md {
            out.write_all(m.post.markdown().as_bytes())?;
        } else {
            out.write_all(m.post.text().as_bytes())?;
            if let Some(owner) = &m.owner {
                writeln!(out, "{}", owner_text(owner))?;
            }
        }
    }
    if args.md {
        out.write_all(SIGNATURE.as_bytes())?;
    }
    out.flush()?;
    eprintln!(
        "flakewatch query: {} of {} failures match",
        matches.len(),
        stats.failures
    );
    Ok(ExitCode::SUCCESS)
}

//! `flakewatch lint`: findings over a whole pattern set (docs/authoring.md), each with a
//! stable code, the rule's place and a suggested fix. Exit status 1 when any finding is an
//! error, else 0.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use flakewatch_authoring::lint::{Finding, Issues, LintOptions, Severity, has_errors, lint};

use crate::authoring_input::AuthoringInput;

/// Arguments of `flakewatch lint`.
#[derive(Debug, Args)]
pub(crate) struct LintArgs {
    /// Issues and failures.
    #[command(flatten)]
    pub input: AuthoringInput,
    /// A rule capturing more than this share of the window's failures is reported as broad.
    #[arg(long, value_name = "SHARE", default_value_t = LintOptions::default().broad_share)]
    pub broad_share: f64,
    /// Print the findings as one JSON document.
    #[arg(long)]
    pub json: bool,
}

/// Runs `flakewatch lint`.
pub(crate) fn run(args: &LintArgs) -> anyhow::Result<ExitCode> {
    if !(0.0..=1.0).contains(&args.broad_share) {
        return Err(crate::UsageError(format!(
            "--broad-share {}: expected a share between 0 and 1",
            args.broad_share
        ))
        .into());
    }
    let input = args.input.read()?;
    let issues = Issues::parse(input.issues);
    let options = LintOptions {
        broad_share: args.broad_share,
        window_start: Some(input.window_start),
        ..LintOptions::default()
    };
    let findings = lint(&issues, input.failures.as_ref(), &options);
    let mut out = crate::stdout();
    if args.json {
        serde_json::to_writer_pretty(
            &mut out,
            &serde_json::json!({
                "issues": issues.numbers.len(),
                "failures": input.failures.as_ref().map(|f| f.records.len()),
                "findings": findings,
            }),
        )?;
        writeln!(out)?;
    } else {
        for f in &findings {
            writeln!(out, "{}", line(f))?;
            writeln!(out, "    fix: {}", f.suggestion)?;
        }
        let count = |s: Severity| findings.iter().filter(|f| f.severity == s).count();
        writeln!(
            out,
            "{} errors, {} warnings, {} notes over {} issues{}",
            count(Severity::Error),
            count(Severity::Warning),
            count(Severity::Info),
            issues.numbers.len(),
            match &input.failures {
                Some(f) => format!(" and {} failures", f.records.len()),
                None => " (no failures given: the checks that need them did not run)".to_owned(),
            }
        )?;
    }
    out.flush()?;
    Ok(if has_errors(&findings) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `#12 rule 2 (script 3.5): warning FW-L008 never-owns: ...`
fn line(f: &Finding) -> String {
    let severity = match f.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Info => "note",
    };
    let mut place = format!("#{}", f.issue);
    if let Some(rule) = f.rule {
        place.push_str(&format!(" rule {rule}"));
    }
    match (f.line, f.column, f.rule) {
        (Some(line), Some(column), _) => place.push_str(&format!(" (script {line}.{column})")),
        (Some(line), None, None) => place.push_str(&format!(" (body line {line})")),
        _ => {}
    }
    format!("{place}: {severity} {} {}: {}", f.code, f.name, f.message)
}

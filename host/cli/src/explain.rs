//! `flakewatch explain --script FILE --failure RECORD|URL|FILE`: each rule of the script on
//! one failure, predicate by predicate in the rule's own syntax (the deciding ones
//! highlighted on a terminal), the script's action, and, given the issues, which issue owns
//! the failure and why.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use flakewatch_authoring::explain::{Explainer, Explanation, Trace, owner, source};
use flakewatch_authoring::lint::Issues;
use flakewatch_dsl::Record;
use flakewatch_ingest::records::parse_record_fields;

use crate::Color;
use crate::authoring_input::AuthoringInput;

/// Arguments of `flakewatch explain`.
#[derive(Debug, Args)]
pub(crate) struct ExplainArgs {
    /// The script, or an issue body holding it (`-` reads standard input).
    #[arg(long, value_name = "FILE")]
    pub script: String,
    /// The failure: a JSON record (`{"pkg": ..., "test": ...}`), a build URL (its failures in
    /// the window, from --failures or the backend), or a file holding one JSON record.
    #[arg(long, value_name = "RECORD|URL|FILE")]
    pub failure: String,
    /// The number of the issue the script belongs to, to explain ownership with the script
    /// in its place (default: the issues as they are).
    #[arg(long, value_name = "N")]
    pub issue: Option<u64>,
    /// Issues and failures for ownership and URL look-ups (ownership needs --issues or
    /// --backend).
    #[command(flatten)]
    pub input: AuthoringInput,
    /// Print one JSON document.
    #[arg(long)]
    pub json: bool,
}

/// Runs `flakewatch explain`.
pub(crate) fn run(args: &ExplainArgs, color: Color) -> anyhow::Result<ExitCode> {
    let script = crate::script_file::load(&args.script)?;
    if !script.parsed.is_ok() {
        let first = &script.parsed.diagnostics[0];
        anyhow::bail!(
            "{}: the script has {} error(s), first at {}.{}: {} (`flakewatch check` shows them all)",
            script.path,
            script.parsed.diagnostics.len(),
            first.line,
            first.column,
            first.kind
        );
    }
    let wants_issues = args.input.issues.is_some() || args.input.backend.is_some();
    let is_url = args.failure.starts_with("https://") || args.failure.starts_with("http://");
    let input = if wants_issues || is_url || args.input.failures.is_some() {
        Some(args.input.read()?)
    } else {
        None
    };
    let records: Vec<Record> = if args.failure.trim_start().starts_with('{') {
        vec![parse_record_fields(&args.failure).map_err(|e| anyhow::anyhow!("--failure: {e}"))?]
    } else if is_url {
        let failures = input
            .as_ref()
            .and_then(|i| i.failures.as_ref())
            .context("--failure URL needs failures: --failures FILE or a backend")?;
        let found: Vec<Record> = failures
            .records
            .iter()
            .zip(&failures.urls)
            .filter(|(_, url)| **url == args.failure)
            .map(|(r, _)| r.clone())
            .collect();
        if found.is_empty() {
            anyhow::bail!("no failure of build {} in the window", args.failure);
        }
        found
    } else {
        let path = PathBuf::from(&args.failure);
        let text = flakewatch_core::bounded::read_to_string(
            &path,
            flakewatch_ingest::records::MAX_RECORD_LINE as u64,
        )
        .with_context(|| format!("reading {}", path.display()))?;
        vec![
            parse_record_fields(text.trim())
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?,
        ]
    };
    let color = color.enabled(std::io::IsTerminal::is_terminal(&std::io::stdout()));
    let mut explainer = Explainer::new();
    let mut out = crate::stdout();
    let mut documents = Vec::new();
    for (k, record) in records.iter().enumerate() {
        let explanation = explainer.explain(&script.parsed.script, record)?;
        let ownership = match &input {
            Some(input) if wants_issues => {
                let mut issues = input.issues.clone();
                if let Some(n) = args.issue {
                    let body = issue_body(&script.text);
                    match issues.iter_mut().find(|(number, _)| *number == n) {
                        Some(slot) => slot.1 = body,
                        None => issues.push((n, body)),
                    }
                }
                let parsed = Issues::parse(issues);
                let mut actions = Vec::new();
                for i in 0..parsed.numbers.len() {
                    actions.push(match parsed.script(i) {
                        Some((_, s)) => explainer.action(s, record)?.map(str::to_owned),
                        None => None,
                    });
                }
                Some(owner(&parsed.numbers, &actions))
            }
            _ => None,
        };
        if args.json {
            documents.push(serde_json::json!({
                "explanation": explanation,
                "owner": ownership,
            }));
            continue;
        }
        if records.len() > 1 {
            writeln!(out, "failure {} of {}:", k + 1, records.len())?;
        }
        write_text(&mut out, &script.text, &explanation, color)?;
        if let Some(o) = &ownership {
            writeln!(
                out,
                "owner: {} {}",
                o.action,
                o.issues
                    .iter()
                    .map(|n| format!("#{n}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )?;
            writeln!(out, "  because {}", o.reason)?;
        }
    }
    if args.json {
        serde_json::to_writer_pretty(&mut out, &documents)?;
        writeln!(out)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn write_text(
    out: &mut impl Write,
    text: &str,
    explanation: &Explanation,
    color: bool,
) -> std::io::Result<()> {
    for rule in &explanation.rules {
        let verdict = match rule.matched {
            Some(true) => format!("MATCH: {}", rule.action),
            Some(false) => "no match".to_owned(),
            None => "not tried (an earlier rule matched)".to_owned(),
        };
        let shown = match (&rule.trace, color) {
            (Some(trace), true) => highlight(text, rule.span, trace),
            _ => source(text, rule.span).to_owned(),
        };
        writeln!(out, "rule {}: {}", rule.index, one_line(&shown))?;
        writeln!(out, "  -> {verdict}")?;
        if let Some(trace) = &rule.trace {
            let mut leaves = Vec::new();
            collect_leaves(trace, &mut leaves);
            for leaf in leaves {
                let mark = match leaf.value {
                    Some(true) => "yes",
                    Some(false) => "no ",
                    None => " - ",
                };
                let mut line = format!("     {mark} {}", one_line(source(text, leaf.span)));
                match (&leaf.field, leaf.value) {
                    (_, None) => line.push_str("   (not evaluated)"),
                    (Some(f), Some(_)) => {
                        line.push_str(&format!("   ({} is {:?}", f.name, f.value));
                        if let Some(m) = &f.matched {
                            line.push_str(&format!(", matched {m:?}"));
                        }
                        line.push(')');
                    }
                    (None, Some(_)) => {}
                }
                if leaf.deciding {
                    line.push_str("   <- decides");
                }
                writeln!(out, "{line}")?;
            }
        }
    }
    match explanation.action() {
        Some(action) => writeln!(
            out,
            "script: {action} (rule {})",
            explanation.first_match.unwrap_or(0)
        ),
        None => writeln!(out, "script: no rule matches"),
    }
}

fn collect_leaves<'t>(trace: &'t Trace, out: &mut Vec<&'t Trace>) {
    if trace.children.is_empty() {
        out.push(trace);
    }
    for child in &trace.children {
        collect_leaves(child, out);
    }
}

/// The rule's text with its deciding predicates in color: green when they held, red when not.
fn highlight(text: &str, span: (usize, usize), trace: &Trace) -> String {
    let mut leaves = Vec::new();
    collect_leaves(trace, &mut leaves);
    let mut deciding: Vec<&Trace> = leaves.into_iter().filter(|l| l.deciding).collect();
    deciding.sort_by_key(|l| l.span.0);
    let mut out = String::new();
    let mut at = span.0;
    for leaf in deciding {
        if leaf.span.0 < at || leaf.span.1 > span.1 {
            continue;
        }
        out.push_str(source(text, (at, leaf.span.0)));
        let code = if leaf.value == Some(true) {
            "1;32"
        } else {
            "1;31"
        };
        out.push_str(&format!("\x1b[{code}m{}\x1b[0m", source(text, leaf.span)));
        at = leaf.span.1;
    }
    out.push_str(source(text, (at, span.1)));
    out
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// An issue body holding `script` (a fenced block opening with `#!watchflakes`).
pub(crate) fn issue_body(script: &str) -> String {
    let header = if script.trim_start().starts_with("#!watchflakes") {
        ""
    } else {
        "#!watchflakes\n"
    };
    let newline = if script.ends_with('\n') { "" } else { "\n" };
    format!("```\n{header}{script}{newline}```\n")
}

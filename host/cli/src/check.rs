//! `flakewatch check`: parse a script (or an issue body) and print its diagnostics.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use crate::schema::CheckFinding;
use clap::Args;
use codespan_reporting::diagnostic::{Diagnostic as Report, Label};
use codespan_reporting::files::SimpleFile;
use codespan_reporting::term::{self, termcolor};
use flakewatch_dsl::ir::PatternSetBuilder;
use flakewatch_dsl::{Diagnostic, Limits};

use crate::script_file::{self, ScriptFile};

/// Arguments of `flakewatch check`.
#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// The script or issue body to check (`-` for standard input).
    pub file: String,
    /// Print the diagnostics as a JSON array instead of text.
    #[arg(long)]
    pub json: bool,
}

/// A diagnostic with the limits found while compiling (regexps too large for flakewatch).
struct Finding {
    line: String,
    offset: usize,
    end: usize,
    code: &'static str,
    message: String,
    help: Option<String>,
    position: (usize, usize),
}

impl Finding {
    fn from_diagnostic(d: &Diagnostic) -> Finding {
        Finding {
            line: d.to_string(),
            offset: d.offset,
            end: d.end,
            code: d.kind.code(),
            message: d.kind.to_string(),
            help: d.kind.help(),
            position: (d.line, d.column),
        }
    }
}

/// Runs `flakewatch check`: diagnostics rendered with source snippets on a terminal (or with
/// `--color always`), upstream's one-line form otherwise.
pub(crate) fn run(args: &CheckArgs, color: crate::Color) -> anyhow::Result<ExitCode> {
    let file = script_file::load(&args.file)?;
    let findings = findings(&file);
    let mut stdout = crate::stdout();
    if args.json {
        let items: Vec<CheckFinding> = findings
            .iter()
            .map(|f| CheckFinding {
                code: f.code,
                column: f.position.1,
                line: f.position.0,
                message: f.message.clone(),
                offset: f.offset,
                text: f.line.clone(),
            })
            .collect();
        writeln!(stdout, "{}", serde_json::to_string_pretty(&items)?)?;
    } else if color != crate::Color::Never
        && (color == crate::Color::Always || std::io::stdout().is_terminal())
    {
        let mut buffer = if color.enabled(std::io::stdout().is_terminal()) {
            termcolor::Buffer::ansi()
        } else {
            termcolor::Buffer::no_color()
        };
        render_rich(&mut buffer, &file, &findings)?;
        stdout.write_all(buffer.as_slice())?;
    } else {
        for finding in &findings {
            writeln!(stdout, "{}", finding.line)?;
        }
    }
    if findings.is_empty() {
        if !args.json {
            let rules = file.parsed.script.rules.len();
            eprintln!(
                "{}: ok, {rules} rule{}",
                file.path,
                if rules == 1 { "" } else { "s" }
            );
        }
        Ok(ExitCode::SUCCESS)
    } else {
        Ok(ExitCode::from(1))
    }
}

/// Parse diagnostics, then (for a script that parsed) what compiling it within limits finds.
fn findings(file: &ScriptFile) -> Vec<Finding> {
    let mut findings: Vec<Finding> = file
        .parsed
        .diagnostics
        .iter()
        .map(Finding::from_diagnostic)
        .collect();
    if findings.is_empty() {
        let mut builder = PatternSetBuilder::new(Limits::DEFAULT);
        if let Err(err) = builder.add_issue(0, &file.parsed.script) {
            let flakewatch_dsl::ir::LowerError::RegexTooLarge { span, .. } = &err;
            let (line, column) = flakewatch_dsl::diag::position(&file.text, span.start);
            findings.push(Finding {
                line: format!("script:{line}.{column}: {err}"),
                offset: span.start,
                end: span.end,
                code: "L0003",
                message: err.to_string(),
                help: Some("simplify the pattern or split it into several rules".to_owned()),
                position: (line, column),
            });
        }
    }
    findings
}

fn render_rich(
    out: &mut impl termcolor::WriteColor,
    file: &ScriptFile,
    findings: &[Finding],
) -> anyhow::Result<()> {
    let name = if file.from_issue_body {
        format!("{} (script in issue body)", file.path)
    } else {
        file.path.clone()
    };
    let source = SimpleFile::new(name, file.text.as_str());
    let config = term::Config::default();
    for finding in findings {
        let end = next_char_boundary(&file.text, finding.end.max(finding.offset + 1));
        let mut report = Report::error()
            .with_message(&finding.message)
            .with_code(finding.code)
            .with_labels(vec![
                Label::primary((), finding.offset..end).with_message(&finding.line),
            ]);
        if let Some(help) = &finding.help {
            report = report.with_notes(vec![format!("help: {help}")]);
        }
        term::emit_to_write_style(out, &config, &source, &report)?;
    }
    Ok(())
}

/// The first char boundary at or after `at`, clamped to the text.
fn next_char_boundary(text: &str, at: usize) -> usize {
    (at.min(text.len())..=text.len())
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The rich rendering of every diagnostic of the broken example, without colors.
    #[test]
    fn rich_diagnostics_are_pinned() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../examples/broken-script.txt"
        );
        let mut file = script_file::load(path).expect("example");
        file.path = "examples/broken-script.txt".to_owned();
        let findings = findings(&file);
        assert!(findings.len() >= 2);
        let mut out = termcolor::NoColor::new(Vec::new());
        render_rich(&mut out, &file, &findings).expect("renders");
        let text = String::from_utf8(out.into_inner()).expect("UTF-8");
        insta::assert_snapshot!(text);
    }
}

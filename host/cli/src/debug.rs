//! `flakewatch debug tokens|ast|ir|clif FILE`: show an intermediate form of a script.

use std::fmt::Write as _;
use std::io::Write;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use flakewatch_dsl::Limits;
use flakewatch_dsl::ast::{Expr, ExprKind};
use flakewatch_dsl::diag::position;
use flakewatch_dsl::ir::PatternSetBuilder;
use flakewatch_dsl::lexer::Lexer;
use flakewatch_dsl::quote::quote;

use crate::script_file;

/// Which form to show.
#[derive(Copy, Clone, Debug, ValueEnum)]
pub(crate) enum Form {
    /// The token stream, one token per line with its position.
    Tokens,
    /// The syntax tree of each rule, with positions.
    Ast,
    /// The pattern-set IR the engines run.
    Ir,
    /// The Cranelift IR the JIT generates for the script.
    Clif,
}

/// Arguments of `flakewatch debug`.
#[derive(Debug, Args)]
pub(crate) struct DebugArgs {
    /// The form to show.
    pub form: Form,
    /// The script or issue body (`-` for standard input).
    pub file: String,
}

/// Runs `flakewatch debug`.
pub(crate) fn run(args: &DebugArgs) -> anyhow::Result<ExitCode> {
    let file = script_file::load(&args.file)?;
    let mut out = String::new();
    let mut failed = false;
    match args.form {
        Form::Tokens => {
            let mut lexer = Lexer::new(&file.text);
            loop {
                match lexer.next_token() {
                    Ok(Some(tok)) => {
                        let (line, column) = position(&file.text, tok.start);
                        let text = &file.text[tok.start..tok.end];
                        writeln!(
                            out,
                            "{line}.{column}\t{:?}\t{:?}",
                            tok.token.kind_str(),
                            text
                        )?;
                    }
                    Ok(None) => break,
                    Err(err) => {
                        let (line, column) = position(&file.text, err.offset);
                        writeln!(out, "{line}.{column}\terror\t{}", err.kind)?;
                        failed = true;
                        break;
                    }
                }
            }
        }
        Form::Ast => {
            for (i, rule) in file.parsed.script.rules.iter().enumerate() {
                writeln!(out, "rule {i}: {rule}")?;
                writeln!(
                    out,
                    "  action {:?} @{}",
                    rule.action,
                    at(&file.text, rule.action_span.start)
                )?;
                write_tree(&mut out, &file.text, &rule.expr, 1)?;
            }
        }
        Form::Ir | Form::Clif => {
            if file.parsed.is_ok() {
                let mut builder = PatternSetBuilder::new(Limits::DEFAULT);
                builder.add_issue(0, &file.parsed.script)?;
                let set = builder.finish();
                match args.form {
                    Form::Ir => out.push_str(&set.dump()),
                    _ => out.push_str(&flakewatch_jit::CompiledSet::clif(
                        set,
                        flakewatch_jit::DEFAULT_CHUNK,
                    )?),
                }
            }
        }
    }
    for diagnostic in &file.parsed.diagnostics {
        eprintln!("{diagnostic}");
        failed = true;
    }
    crate::stdout().write_all(out.as_bytes())?;
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn at(text: &str, offset: usize) -> String {
    let (line, column) = position(text, offset);
    format!("{line}.{column}")
}

fn write_tree(out: &mut String, text: &str, expr: &Expr, depth: usize) -> std::fmt::Result {
    let indent = "  ".repeat(depth);
    let span = format!("@{}-{}", at(text, expr.span.start), at(text, expr.span.end));
    match &expr.kind {
        ExprKind::And(x, y) | ExprKind::Or(x, y) => {
            let op = if matches!(expr.kind, ExprKind::And(..)) {
                "and"
            } else {
                "or"
            };
            writeln!(out, "{indent}{op} {span}")?;
            write_tree(out, text, x, depth + 1)?;
            write_tree(out, text, y, depth + 1)
        }
        ExprKind::Not(x) => {
            writeln!(out, "{indent}not {span}")?;
            write_tree(out, text, x, depth + 1)
        }
        ExprKind::Cmp(cmp) => writeln!(
            out,
            "{indent}cmp {} {} {} {span}",
            cmp.field,
            cmp.op.as_str(),
            quote(&cmp.literal)
        ),
        ExprKind::Regex(re) => {
            let field = re
                .field
                .map_or("(bare: output)".to_owned(), |f| f.to_string());
            let op = if re.negated { "!~" } else { "~" };
            writeln!(
                out,
                "{indent}regexp {field} {op} `{}` {span}",
                re.regex.source()
            )
        }
    }
}

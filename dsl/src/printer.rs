//! Printers: [`go_string`] reproduces upstream's `Expr.String()` (regexps with their `(?m)`
//! prefix); the `Display` impls print the canonical form, which parses back to the same tree.

use std::fmt::{self, Write};

use crate::ast::{Expr, ExprKind, Rule, Script};
use crate::quote::quote;

/// Upstream's `Expr.String()`: `!x` as `!(x)`, an `||` operand of `&&` (and an `&&` operand of
/// `||`) parenthesised, regexps as backquoted `(?m)`-prefixed source with `` ` `` as `\x60`.
pub fn go_string(expr: &Expr) -> String {
    let mut out = String::new();
    write_expr(&mut out, expr, Style::Go).expect("writing to a String cannot fail");
    out
}

#[derive(Copy, Clone, PartialEq, Eq)]
enum Style {
    /// Upstream's printer.
    Go,
    /// Canonical: regexps without the prefix; a right operand of the same operator
    /// parenthesised, so that the tree survives a round trip.
    Canonical,
}

fn write_expr(out: &mut impl Write, expr: &Expr, style: Style) -> fmt::Result {
    match &expr.kind {
        ExprKind::And(x, y) | ExprKind::Or(x, y) => {
            let is_and = matches!(expr.kind, ExprKind::And(..));
            let needs_parens = |operand: &Expr, right: bool| match operand.kind {
                ExprKind::Or(..) => is_and || (right && style == Style::Canonical),
                ExprKind::And(..) => !is_and || (right && style == Style::Canonical),
                _ => false,
            };
            write_operand(out, x, needs_parens(x, false), style)?;
            out.write_str(if is_and { " && " } else { " || " })?;
            write_operand(out, y, needs_parens(y, true), style)
        }
        ExprKind::Not(x) => {
            out.write_str("!(")?;
            write_expr(out, x, style)?;
            out.write_char(')')
        }
        ExprKind::Cmp(cmp) => write!(
            out,
            "{} {} {}",
            cmp.field,
            cmp.op.as_str(),
            quote(&cmp.literal)
        ),
        ExprKind::Regex(re) => {
            if let Some(field) = re.field {
                write!(out, "{field} {} ", if re.negated { "!~" } else { "~" })?;
            }
            let prefix = if style == Style::Go { "(?m)" } else { "" };
            write!(out, "`{prefix}{}`", re.regex.pattern.replace('`', r"\x60"))
        }
    }
}

fn write_operand(out: &mut impl Write, expr: &Expr, parens: bool, style: Style) -> fmt::Result {
    if parens {
        out.write_char('(')?;
        write_expr(out, expr, style)?;
        out.write_char(')')
    } else {
        write_expr(out, expr, style)
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_expr(f, self, Style::Canonical)
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} <- {}", self.action, self.expr)
    }
}

impl fmt::Display for Script {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.rules.iter().try_for_each(|rule| writeln!(f, "{rule}"))
    }
}

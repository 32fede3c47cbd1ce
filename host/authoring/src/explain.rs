//! One script on one failure, predicate by predicate: which held, which did not, which were
//! never evaluated (`&&` and `||` short-circuit as in every engine), which decided the rule's
//! result, and the first matching rule, whose action is the script's. Across a pattern set,
//! [`owner`] says which issue finally owns the failure and why.
//!
//! The evaluation walks the syntax tree with the regexps compiled as the IR compiles them
//! (`flakewatch_dsl::ir::compile_regex`), so its verdicts are the engines'; the tests check
//! that on every upstream `run` vector.

use std::collections::HashMap;
use std::sync::Arc;

use flakewatch_dsl::ast::{Expr, ExprKind, Script, Span};
use flakewatch_dsl::ir::compile_regex;
use flakewatch_dsl::{Assignment, Field, Limits, Record};
use regex_automata::meta;
use regex_syntax::hir::Hir;
use serde::Serialize;

/// A regexp that cannot be compiled under the limits (the engines refuse it too).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("regexp `{pattern}`: {message}")]
pub struct ExplainError {
    /// The pattern.
    pub pattern: String,
    /// Why.
    pub message: String,
}

/// What one node of a rule did.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Trace {
    /// Where the node is in the script.
    pub span: (usize, usize),
    /// `and`, `or`, `not`, `cmp` or `regex`.
    pub kind: &'static str,
    /// Its value, or `None` when short-circuiting never evaluated it.
    pub value: Option<bool>,
    /// Whether it decided its parent's value (and so, up the tree, the rule's).
    pub deciding: bool,
    /// For a comparison or regexp: the field and what the failure has there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<FieldValue>,
    /// The operands, in order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<Trace>,
}

/// A field a predicate read and its value in the failure (cut for display).
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct FieldValue {
    /// The field's name.
    pub name: &'static str,
    /// The value, at most [`SHOWN_VALUE`] characters.
    pub value: String,
    /// For a regexp that matched: the text it matched (cut likewise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched: Option<String>,
}

/// Characters of a field value shown.
pub const SHOWN_VALUE: usize = 120;

/// One rule on the failure.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct RuleTrace {
    /// 1-based position in the script.
    pub index: usize,
    /// The rule's action.
    pub action: String,
    /// Where the rule is.
    pub span: (usize, usize),
    /// Whether its pattern matched; `None` when an earlier rule matched first (never tried).
    pub matched: Option<bool>,
    /// Its pattern's evaluation (absent when not tried).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trace: Option<Trace>,
}

/// A script on one failure.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Explanation {
    /// Every rule, in order.
    pub rules: Vec<RuleTrace>,
    /// The 1-based index of the first matching rule, whose action is the script's.
    pub first_match: Option<usize>,
}

impl Explanation {
    /// The script's action for the failure: the first matching rule's.
    pub fn action(&self) -> Option<&str> {
        self.first_match.map(|i| self.rules[i - 1].action.as_str())
    }
}

/// Evaluates scripts on records the way the engines do, with a trace.
#[derive(Default)]
pub struct Explainer {
    regexes: HashMap<String, Arc<meta::Regex>>,
    limits: Limits,
}

impl std::fmt::Debug for Explainer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Explainer")
            .field("regexes", &self.regexes.len())
            .finish()
    }
}

impl Explainer {
    /// An explainer with the default limits.
    pub fn new() -> Explainer {
        Explainer {
            regexes: HashMap::new(),
            limits: Limits::DEFAULT,
        }
    }

    /// Explains `script` on `record`: every rule up to the first that matches.
    pub fn explain(
        &mut self,
        script: &Script,
        record: &Record,
    ) -> Result<Explanation, ExplainError> {
        let mut rules = Vec::with_capacity(script.rules.len());
        let mut first_match = None;
        for (i, rule) in script.rules.iter().enumerate() {
            let (matched, trace) = if first_match.is_some() {
                (None, None)
            } else {
                let mut trace = self.eval(&rule.expr, record)?;
                mark_deciding(&mut trace);
                let value = trace.value == Some(true);
                if value {
                    first_match = Some(i + 1);
                }
                (Some(value), Some(trace))
            };
            rules.push(RuleTrace {
                index: i + 1,
                action: rule.action.clone(),
                span: (rule.span.start, rule.span.end),
                matched,
                trace,
            });
        }
        Ok(Explanation { rules, first_match })
    }

    /// The script's action on `record` (no trace kept).
    pub fn action<'s>(
        &mut self,
        script: &'s Script,
        record: &Record,
    ) -> Result<Option<&'s str>, ExplainError> {
        for rule in &script.rules {
            if self.eval(&rule.expr, record)?.value == Some(true) {
                return Ok(Some(rule.action.as_str()));
            }
        }
        Ok(None)
    }

    fn regex(&mut self, pattern: &str, hir: &Hir) -> Result<Arc<meta::Regex>, ExplainError> {
        if let Some(regex) = self.regexes.get(pattern) {
            return Ok(Arc::clone(regex));
        }
        let regex = Arc::new(
            compile_regex(hir, &self.limits).map_err(|message| ExplainError {
                pattern: pattern.to_owned(),
                message,
            })?,
        );
        self.regexes.insert(pattern.to_owned(), Arc::clone(&regex));
        Ok(regex)
    }

    fn eval(&mut self, expr: &Expr, record: &Record) -> Result<Trace, ExplainError> {
        let span = (expr.span.start, expr.span.end);
        let node = |kind, value, field, children| Trace {
            span,
            kind,
            value,
            deciding: false,
            field,
            children,
        };
        Ok(match &expr.kind {
            ExprKind::And(a, b) => {
                let left = self.eval(a, record)?;
                if left.value == Some(true) {
                    let right = self.eval(b, record)?;
                    let value = right.value;
                    node("and", value, None, vec![left, right])
                } else {
                    let right = unevaluated(b);
                    node("and", Some(false), None, vec![left, right])
                }
            }
            ExprKind::Or(a, b) => {
                let left = self.eval(a, record)?;
                if left.value == Some(true) {
                    let right = unevaluated(b);
                    node("or", Some(true), None, vec![left, right])
                } else {
                    let right = self.eval(b, record)?;
                    let value = right.value;
                    node("or", value, None, vec![left, right])
                }
            }
            ExprKind::Not(inner) => {
                let inner = self.eval(inner, record)?;
                let value = inner.value.map(|v| !v);
                node("not", value, None, vec![inner])
            }
            ExprKind::Cmp(cmp) => {
                let value = record.get(cmp.field);
                let held = cmp.op.eval(value.as_bytes(), &cmp.literal);
                node(
                    "cmp",
                    Some(held),
                    Some(shown(cmp.field, value, None)),
                    Vec::new(),
                )
            }
            ExprKind::Regex(m) => {
                let field = m.searched_field();
                let value = record.get(field);
                let regex = self.regex(&m.regex.pattern, &m.regex.hir)?;
                let found = regex
                    .find(value.as_bytes())
                    .map(|found| &value[found.range()]);
                let held = found.is_some() != m.negated;
                node(
                    "regex",
                    Some(held),
                    Some(shown(field, value, found)),
                    Vec::new(),
                )
            }
        })
    }
}

/// A node short-circuiting passed over, with its operands likewise.
fn unevaluated(expr: &Expr) -> Trace {
    let children = match &expr.kind {
        ExprKind::And(a, b) | ExprKind::Or(a, b) => vec![unevaluated(a), unevaluated(b)],
        ExprKind::Not(inner) => vec![unevaluated(inner)],
        ExprKind::Cmp(_) | ExprKind::Regex(_) => Vec::new(),
    };
    Trace {
        span: (expr.span.start, expr.span.end),
        kind: match &expr.kind {
            ExprKind::And(..) => "and",
            ExprKind::Or(..) => "or",
            ExprKind::Not(_) => "not",
            ExprKind::Cmp(_) => "cmp",
            ExprKind::Regex(_) => "regex",
        },
        value: None,
        deciding: false,
        field: None,
        children,
    }
}

/// Marks the root as deciding and, below every deciding node, the operands that decided it: a
/// false `&&` by its first false operand, a true `||` by its first true operand, otherwise
/// by every operand.
fn mark_deciding(trace: &mut Trace) {
    trace.deciding = true;
    let value = trace.value;
    let pick = match (trace.kind, value) {
        ("and", Some(false)) => trace.children.iter().position(|c| c.value == Some(false)),
        ("or", Some(true)) => trace.children.iter().position(|c| c.value == Some(true)),
        _ => None,
    };
    match pick {
        Some(i) => mark_deciding(&mut trace.children[i]),
        None => {
            for child in &mut trace.children {
                if child.value.is_some() {
                    mark_deciding(child);
                }
            }
        }
    }
}

fn shown(field: Field, value: &str, matched: Option<&str>) -> FieldValue {
    FieldValue {
        name: field.name(),
        value: cut(value),
        matched: matched.map(cut),
    }
}

fn cut(text: &str) -> String {
    let mut out: String = text.chars().take(SHOWN_VALUE).collect();
    if out.len() < text.len() {
        out.push('…');
    }
    out
}

/// Who owns a failure across a pattern set, and why, in words.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct OwnerExplanation {
    /// `skip`, `post`, `default` or `new_issue`.
    pub action: &'static str,
    /// The issues concerned.
    pub issues: Vec<u64>,
    /// Why, in one sentence.
    pub reason: String,
    /// Every issue whose script took an action on the failure: (number, action).
    pub offers: Vec<(u64, String)>,
}

/// The owner of a failure from each issue's action on it (`actions[i]` is issue `numbers[i]`'s
/// script's action, `None` when no rule matched or the issue has no usable script), by the
/// cross-issue rule every engine uses.
pub fn owner(numbers: &[u64], actions: &[Option<String>]) -> OwnerExplanation {
    use flakewatch_dsl::AssignmentBuilder;
    use flakewatch_dsl::ir::ActionKind;
    let mut builder = AssignmentBuilder::new();
    let mut offers = Vec::new();
    for (i, action) in actions.iter().enumerate() {
        if let Some(action) = action {
            builder.offer(i, ActionKind::of(action));
            offers.push((numbers[i], action.clone()));
        }
    }
    let list = |issues: &[u64]| {
        issues
            .iter()
            .map(|n| format!("#{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    match builder.finish() {
        Assignment::Skip(i) => OwnerExplanation {
            action: "skip",
            issues: vec![numbers[i]],
            reason: format!(
                "#{} says skip, and the lowest issue that says skip wins over every post and default",
                numbers[i]
            ),
            offers,
        },
        Assignment::Post(targets) => {
            let issues: Vec<u64> = targets.iter().map(|&i| numbers[i]).collect();
            OwnerExplanation {
                action: "post",
                reason: format!(
                    "no issue says skip, so every issue that says post gets it: {}",
                    list(&issues)
                ),
                issues,
                offers,
            }
        }
        Assignment::Default(i) => OwnerExplanation {
            action: "default",
            issues: vec![numbers[i]],
            reason: format!(
                "no issue says skip or post; #{} is the lowest issue that says default",
                numbers[i]
            ),
            offers,
        },
        Assignment::NewIssue => OwnerExplanation {
            action: "new_issue",
            issues: Vec::new(),
            reason: "no issue's script matches with skip, post or default: triage would open a new issue"
                .to_owned(),
            offers,
        },
    }
}

/// The script text of a span.
pub fn source(script: &str, span: (usize, usize)) -> &str {
    script.get(span.0..span.1).unwrap_or("")
}

/// A span of the syntax tree as a pair.
pub fn span_pair(span: Span) -> (usize, usize) {
    (span.start, span.end)
}

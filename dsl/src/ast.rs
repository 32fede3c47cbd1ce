//! The syntax tree of a script, with byte spans on every node.

use regex_syntax::hir::Hir;

use crate::field::Field;

/// A byte range `start..end` in the script text.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// The span `start..end`.
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }
}

/// A parsed script: its rules in order.
#[derive(Clone, Debug, Default)]
pub struct Script {
    /// The rules; the first whose pattern matches a record gives the action.
    pub rules: Vec<Rule>,
}

/// One `ACTION <- PATTERN` rule.
#[derive(Clone, Debug)]
pub struct Rule {
    /// The action name, verbatim (any identifier is accepted).
    pub action: String,
    /// Where the action name is.
    pub action_span: Span,
    /// The pattern.
    pub expr: Expr,
    /// The whole rule.
    pub span: Span,
}

/// A pattern expression with its span.
#[derive(Clone, Debug)]
pub struct Expr {
    /// What the expression is.
    pub kind: ExprKind,
    /// Where it is.
    pub span: Span,
}

/// The kinds of pattern expression.
#[derive(Clone, Debug)]
pub enum ExprKind {
    /// `X && Y`
    And(Box<Expr>, Box<Expr>),
    /// `X || Y`
    Or(Box<Expr>, Box<Expr>),
    /// `!X` (X is a parenthesised expression or a bare regexp)
    Not(Box<Expr>),
    /// `FIELD OP "literal"`
    Cmp(Cmp),
    /// `FIELD ~ `re``, `FIELD !~ `re`` or a bare `` `re` ``.
    Regex(RegexMatch),
}

/// A string comparison.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cmp {
    /// The field compared.
    pub field: Field,
    /// The operator.
    pub op: CmpOp,
    /// The decoded literal (Go strings may hold any bytes).
    pub literal: Vec<u8>,
}

/// A comparison operator; comparisons are Go's byte-wise string comparisons.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CmpOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// Applies the operator to a field value and a literal.
    pub fn eval(self, value: &[u8], literal: &[u8]) -> bool {
        match self {
            CmpOp::Eq => value == literal,
            CmpOp::Ne => value != literal,
            CmpOp::Lt => value < literal,
            CmpOp::Le => value <= literal,
            CmpOp::Gt => value > literal,
            CmpOp::Ge => value >= literal,
        }
    }
}

/// A regexp test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegexMatch {
    /// The field searched; `None` for the bare form, which searches `output`.
    pub field: Option<Field>,
    /// `!~`
    pub negated: bool,
    /// The regexp.
    pub regex: Regex,
}

impl RegexMatch {
    /// The field actually searched (`output` for the bare form).
    pub fn searched_field(&self) -> Field {
        self.field.unwrap_or(Field::Output)
    }
}

/// A regexp as written and as parsed by the Go-dialect front end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Regex {
    /// The text between the backquotes.
    pub pattern: String,
    /// The syntax tree of `(?m)` + pattern, in Go semantics.
    pub hir: Hir,
}

impl Regex {
    /// The source Go compiles: `(?m)` + pattern.
    pub fn source(&self) -> String {
        format!("(?m){}", self.pattern)
    }
}

impl Expr {
    /// Structural equality, ignoring spans.
    pub fn same_as(&self, other: &Expr) -> bool {
        match (&self.kind, &other.kind) {
            (ExprKind::And(a, b), ExprKind::And(c, d))
            | (ExprKind::Or(a, b), ExprKind::Or(c, d)) => a.same_as(c) && b.same_as(d),
            (ExprKind::Not(a), ExprKind::Not(b)) => a.same_as(b),
            (ExprKind::Cmp(a), ExprKind::Cmp(b)) => a == b,
            (ExprKind::Regex(a), ExprKind::Regex(b)) => {
                a.field == b.field && a.negated == b.negated && a.regex.pattern == b.regex.pattern
            }
            _ => false,
        }
    }

    /// The depth of the tree (a leaf has depth 1).
    pub fn depth(&self) -> usize {
        match &self.kind {
            ExprKind::And(a, b) | ExprKind::Or(a, b) => 1 + a.depth().max(b.depth()),
            ExprKind::Not(a) => 1 + a.depth(),
            ExprKind::Cmp(_) | ExprKind::Regex(_) => 1,
        }
    }
}

impl Script {
    /// Structural equality, ignoring spans.
    pub fn same_as(&self, other: &Script) -> bool {
        self.rules.len() == other.rules.len()
            && self
                .rules
                .iter()
                .zip(&other.rules)
                .all(|(a, b)| a.action == b.action && a.expr.same_as(&b.expr))
    }
}

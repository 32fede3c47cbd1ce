//! The IR of a whole pattern set: every issue's script lowered together, with predicates
//! deduplicated across rules and issues, so that engines evaluate each distinct test once.
//!
//! Shape: issues → rules → expression nodes (n-ary `And`/`Or`, `Not`) → predicates. Predicates
//! are of two kinds, field comparisons and regexp searches. Comparisons are canonical: only
//! `==`, `<` and `<=` exist; `!=`, `>=` and `>` lower to `Not` of them. A regexp predicate is
//! the unnegated search; `!~` lowers to `Not`. Nodes are hash-consed: an expression that occurs
//! in many issues is one node.

use std::fmt::{self, Write};
use std::sync::{Arc, OnceLock};

use regex_automata::meta;
use regex_syntax::hir::Hir;
use rustc_hash::FxHashMap;

use crate::ast::{CmpOp, Expr, ExprKind, Script, Span};
use crate::field::Field;
use crate::limits::Limits;
use crate::quote::quote;

/// Index of a node in [`PatternSet::nodes`].
pub type NodeId = u32;
/// Index of a predicate in [`PatternSet::preds`].
pub type PredId = u32;
/// Index of a regexp in [`PatternSet::regexes`].
pub type RegexId = u32;
/// Index of an action name in [`PatternSet::actions`].
pub type ActionId = u32;

/// A canonical comparison operator.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum CmpKind {
    /// `value == literal`
    Eq,
    /// `value < literal`
    Lt,
    /// `value <= literal`
    Le,
}

impl CmpKind {
    /// Applies the comparison (Go's byte-wise string order).
    pub fn eval(self, value: &[u8], literal: &[u8]) -> bool {
        match self {
            CmpKind::Eq => value == literal,
            CmpKind::Lt => value < literal,
            CmpKind::Le => value <= literal,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            CmpKind::Eq => "==",
            CmpKind::Lt => "<",
            CmpKind::Le => "<=",
        }
    }
}

/// An atomic test on one field of a record.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Pred {
    /// `field OP literal`.
    Cmp {
        /// The field.
        field: Field,
        /// The canonical operator.
        op: CmpKind,
        /// The literal bytes.
        literal: Box<[u8]>,
    },
    /// An unanchored search of `field` with a regexp.
    Regex {
        /// The field searched.
        field: Field,
        /// The regexp.
        regex: RegexId,
    },
}

impl Pred {
    /// The field the predicate reads.
    pub fn field(&self) -> Field {
        match self {
            Pred::Cmp { field, .. } | Pred::Regex { field, .. } => *field,
        }
    }
}

/// An expression node.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Node {
    /// True when every operand is (evaluated left to right, short-circuit).
    And(Box<[NodeId]>),
    /// True when some operand is.
    Or(Box<[NodeId]>),
    /// Negation.
    Not(NodeId),
    /// A predicate.
    Pred(PredId),
}

/// A regexp, shared by every predicate that uses the same pattern. Lowering checks that it
/// fits flakewatch's limits; the matcher is compiled the first time it is needed (most
/// regexps of a large set are settled by prefilters and never run), once for all clones of
/// the set and all threads.
#[derive(Clone, Debug)]
pub struct RegexEntry {
    /// The pattern as written (without the `(?m)` prefix).
    pub pattern: String,
    /// Its syntax tree, in Go semantics.
    pub hir: Hir,
    limits: Limits,
    compiled: LazyRegex,
}

impl RegexEntry {
    /// An entry for a regexp that [`check_regex`] accepted with `limits`, with the matcher
    /// cell it returned.
    pub fn new(pattern: String, hir: Hir, limits: Limits, compiled: LazyRegex) -> RegexEntry {
        RegexEntry {
            pattern,
            hir,
            limits,
            compiled,
        }
    }

    /// The compiled matcher (`Send + Sync`; each thread gets its own cache from a pool),
    /// compiled on first use.
    ///
    /// # Panics
    /// If regex-automata refuses a regexp that [`check_regex`] accepted (a flakewatch bug:
    /// the check builds the same automata with the same limits).
    pub fn regex(&self) -> &meta::Regex {
        self.compiled.get_or_init(|| {
            compile_regex(&self.hir, &self.limits).unwrap_or_else(|message| {
                panic!(
                    "regexp `{}` passed the size check but failed to compile: {message}",
                    self.pattern
                )
            })
        })
    }

    /// Whether the matcher has been compiled yet.
    pub fn is_compiled(&self) -> bool {
        self.compiled.get().is_some()
    }
}

/// What a rule's action means to the assignment across issues.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ActionKind {
    /// `post`: the failure goes to every issue that says post.
    Post,
    /// `default`: the failure goes to the first such issue if nobody said post.
    Default,
    /// `skip`: the failure is dropped everywhere.
    Skip,
    /// Any other name (`take`, `POST`, ...): ends the script's scan, ignored by the assignment.
    Other,
}

impl ActionKind {
    /// Classifies an action name (case-sensitive).
    pub fn of(name: &str) -> ActionKind {
        match name {
            "post" => ActionKind::Post,
            "default" => ActionKind::Default,
            "skip" => ActionKind::Skip,
            _ => ActionKind::Other,
        }
    }
}

/// One rule: if `expr` holds, the script's action is `action`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct RuleIr {
    /// The action name.
    pub action: ActionId,
    /// The pattern.
    pub expr: NodeId,
}

/// One issue's script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssueIr {
    /// The issue number (0 for an issue prepared in this cycle).
    pub number: u64,
    /// Its rules, in order.
    pub rules: Vec<RuleIr>,
}

/// Lowering failures: a flakewatch limit exceeded by a regexp.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LowerError {
    /// regex-automata refused to build the regexp within the configured limits.
    #[error("regexp too large for flakewatch's limits: {message}")]
    RegexTooLarge {
        /// Where the regexp is in its script.
        span: Span,
        /// regex-automata's explanation.
        message: String,
    },
}

/// A whole pattern set in IR form: the input of every engine.
#[derive(Clone, Debug, Default)]
pub struct PatternSet {
    /// Issues in assignment order (ascending number, prepared issues last).
    pub issues: Vec<IssueIr>,
    /// Expression nodes.
    pub nodes: Vec<Node>,
    /// Distinct predicates.
    pub preds: Vec<Pred>,
    /// Distinct regexps.
    pub regexes: Vec<RegexEntry>,
    /// Distinct action names.
    pub actions: Vec<String>,
    /// The kind of each action, parallel to `actions`.
    pub action_kinds: Vec<ActionKind>,
}

/// Builds a [`PatternSet`] issue by issue, sharing predicates and nodes.
#[derive(Debug, Default)]
pub struct PatternSetBuilder {
    set: PatternSet,
    limits: Limits,
    node_ids: FxHashMap<Node, NodeId>,
    pred_ids: FxHashMap<Pred, PredId>,
    regex_ids: FxHashMap<String, RegexId>,
    action_ids: FxHashMap<String, ActionId>,
    /// Regexps checked ahead of lowering ([`PatternSetBuilder::precompile`]).
    precompiled: FxHashMap<String, Result<LazyRegex, String>>,
}

/// Fewest distinct regexps worth checking on several threads.
const MIN_PARALLEL_REGEXES: usize = 64;

impl PatternSetBuilder {
    /// A builder with the given limits.
    pub fn new(limits: Limits) -> PatternSetBuilder {
        PatternSetBuilder {
            limits,
            ..PatternSetBuilder::default()
        }
    }

    /// Checks the regexps of `scripts` against the limits ahead of
    /// [`PatternSetBuilder::add_issue`], on the machine's cores when there are many (checking
    /// is most of lowering). Lowering gives the same results with or without this.
    pub fn precompile(&mut self, scripts: &[&Script]) {
        fn collect<'s>(expr: &'s Expr, out: &mut Vec<(&'s str, &'s Hir)>) {
            match &expr.kind {
                ExprKind::And(x, y) | ExprKind::Or(x, y) => {
                    collect(x, out);
                    collect(y, out);
                }
                ExprKind::Not(x) => collect(x, out),
                ExprKind::Cmp(_) => {}
                ExprKind::Regex(re) => out.push((&re.regex.pattern, &re.regex.hir)),
            }
        }
        let mut regexes = Vec::new();
        for script in scripts {
            for rule in &script.rules {
                collect(&rule.expr, &mut regexes);
            }
        }
        let mut seen = rustc_hash::FxHashSet::default();
        regexes.retain(|(pattern, _)| {
            !self.regex_ids.contains_key(*pattern)
                && !self.precompiled.contains_key(*pattern)
                && seen.insert(*pattern)
        });
        let threads = crate::parallel::threads_for(regexes.len(), MIN_PARALLEL_REGEXES, usize::MAX);
        let limits = &self.limits;
        let compiled = crate::parallel::map_parts(&regexes, threads, |part| {
            part.iter()
                .map(|(pattern, hir)| ((*pattern).to_owned(), check_regex(hir, limits)))
                .collect::<Vec<_>>()
        });
        self.precompiled.extend(compiled);
    }

    /// Adds an issue whose script parsed without errors. Issues are matched in the order added.
    /// On error nothing of the issue is added.
    pub fn add_issue(&mut self, number: u64, script: &Script) -> Result<(), LowerError> {
        let mut rules = Vec::with_capacity(script.rules.len());
        for rule in &script.rules {
            let expr = self.lower(&rule.expr, false)?;
            let action = self.action(&rule.action);
            rules.push(RuleIr { action, expr });
        }
        self.set.issues.push(IssueIr { number, rules });
        Ok(())
    }

    /// Adds an issue that has no usable script: it never matches.
    pub fn add_unusable_issue(&mut self, number: u64) {
        self.set.issues.push(IssueIr {
            number,
            rules: Vec::new(),
        });
    }

    /// The finished pattern set.
    pub fn finish(self) -> PatternSet {
        self.set
    }

    fn action(&mut self, name: &str) -> ActionId {
        if let Some(&id) = self.action_ids.get(name) {
            return id;
        }
        let id = to_id(self.set.actions.len());
        self.set.actions.push(name.to_owned());
        self.set.action_kinds.push(ActionKind::of(name));
        self.action_ids.insert(name.to_owned(), id);
        id
    }

    /// Lowers `expr`, negated if `negate`, pushing negations down only through `Not`.
    fn lower(&mut self, expr: &Expr, negate: bool) -> Result<NodeId, LowerError> {
        let node = match &expr.kind {
            ExprKind::Not(x) => return self.lower(x, !negate),
            ExprKind::And(..) | ExprKind::Or(..) => {
                let is_and = matches!(expr.kind, ExprKind::And(..));
                let mut operands = Vec::new();
                self.flatten(expr, is_and, &mut operands)?;
                let node = if is_and {
                    Node::And(operands.into())
                } else {
                    Node::Or(operands.into())
                };
                return Ok(self.negated(node, negate));
            }
            ExprKind::Cmp(cmp) => {
                let (op, flip) = match cmp.op {
                    CmpOp::Eq => (CmpKind::Eq, false),
                    CmpOp::Ne => (CmpKind::Eq, true),
                    CmpOp::Lt => (CmpKind::Lt, false),
                    CmpOp::Ge => (CmpKind::Lt, true),
                    CmpOp::Le => (CmpKind::Le, false),
                    CmpOp::Gt => (CmpKind::Le, true),
                };
                let pred = self.pred(Pred::Cmp {
                    field: cmp.field,
                    op,
                    literal: cmp.literal.clone().into(),
                });
                return Ok(self.negated(Node::Pred(pred), negate != flip));
            }
            ExprKind::Regex(re) => {
                let regex = self.regex(&re.regex.pattern, &re.regex.hir, expr.span)?;
                let pred = self.pred(Pred::Regex {
                    field: re.searched_field(),
                    regex,
                });
                (Node::Pred(pred), negate != re.negated)
            }
        };
        Ok(self.negated(node.0, node.1))
    }

    fn flatten(
        &mut self,
        expr: &Expr,
        is_and: bool,
        out: &mut Vec<NodeId>,
    ) -> Result<(), LowerError> {
        match &expr.kind {
            ExprKind::And(x, y) if is_and => {
                self.flatten(x, is_and, out)?;
                self.flatten(y, is_and, out)
            }
            ExprKind::Or(x, y) if !is_and => {
                self.flatten(x, is_and, out)?;
                self.flatten(y, is_and, out)
            }
            _ => {
                out.push(self.lower(expr, false)?);
                Ok(())
            }
        }
    }

    fn negated(&mut self, node: Node, negate: bool) -> NodeId {
        let id = self.node(node);
        if negate { self.node(Node::Not(id)) } else { id }
    }

    fn node(&mut self, node: Node) -> NodeId {
        if let Some(&id) = self.node_ids.get(&node) {
            return id;
        }
        let id = to_id(self.set.nodes.len());
        self.set.nodes.push(node.clone());
        self.node_ids.insert(node, id);
        id
    }

    fn pred(&mut self, pred: Pred) -> PredId {
        if let Some(&id) = self.pred_ids.get(&pred) {
            return id;
        }
        let id = to_id(self.set.preds.len());
        self.set.preds.push(pred.clone());
        self.pred_ids.insert(pred, id);
        id
    }

    fn regex(&mut self, pattern: &str, hir: &Hir, span: Span) -> Result<RegexId, LowerError> {
        if let Some(&id) = self.regex_ids.get(pattern) {
            return Ok(id);
        }
        let compiled = match self.precompiled.get(pattern) {
            Some(checked) => checked.clone(),
            None => check_regex(hir, &self.limits),
        }
        .map_err(|message| LowerError::RegexTooLarge { span, message })?;
        let id = to_id(self.set.regexes.len());
        self.set.regexes.push(RegexEntry::new(
            pattern.to_owned(),
            hir.clone(),
            self.limits,
            compiled,
        ));
        self.regex_ids.insert(pattern.to_owned(), id);
        Ok(id)
    }
}

/// A regexp's matcher: compiled once, on first use, unless lowering compiled it already.
pub type LazyRegex = Arc<OnceLock<meta::Regex>>;

/// Checks that regex-automata compiles `hir` within `limits`, mostly without compiling it:
/// [`compile_regex`] fails on size only when one of the two automata it builds from the syntax
/// tree (the forward and the reverse Thompson NFA, with the same configuration as here)
/// exceeds the limit, and building those two is a fraction of the whole compilation. When they
/// do exceed it, the regexp is compiled in full, so that the verdict and the error are
/// exactly [`compile_regex`]'s (a literal alternation, for one, needs no NFA at all).
///
/// Most regexps in scripts are far below the limit, and building even their NFAs dominated
/// compiling a pattern set (a Unicode class allocates the UTF-8 compiler's suffix map): a
/// regexp whose [`nfa_bytes_bound`] is below a quarter of the limit is accepted without any
/// automaton, since neither NFA can exceed that bound.
pub fn check_regex(hir: &Hir, limits: &Limits) -> Result<LazyRegex, String> {
    if nfa_bytes_bound(hir) <= limits.max_regex_bytes as u64 / 4 {
        return Ok(LazyRegex::default());
    }
    let cell = LazyRegex::default();
    if !nfas_fit(hir, limits.max_regex_bytes) {
        let regex = compile_regex(hir, limits)?;
        cell.set(regex)
            .unwrap_or_else(|_| unreachable!("a new cell is empty"));
    }
    Ok(cell)
}

/// Whether both Thompson NFAs regex-automata builds for `hir` (forward with every capture,
/// reverse with none, as [`compile_regex`] configures them) fit in `limit` bytes.
fn nfas_fit(hir: &Hir, limit: usize) -> bool {
    use regex_automata::nfa::thompson::{self, WhichCaptures};
    [false, true].into_iter().all(|reverse| {
        thompson::Compiler::new()
            .configure(
                thompson::Config::new()
                    .nfa_size_limit(Some(limit))
                    .shrink(false)
                    .reverse(reverse)
                    .which_captures(if reverse {
                        WhichCaptures::None
                    } else {
                        WhichCaptures::All
                    }),
            )
            .build_from_hir(hir)
            .is_ok()
    })
}

/// An upper bound on the memory either Thompson NFA of `hir` (forward or reverse) takes in
/// regex-automata's builder, which is what its size limit counts: states at 64 bytes each
/// (a builder state is 32) and transitions at 16 (a builder transition is 8), every count
/// generous. A non-ASCII Unicode class is counted as 256 states and transitions per range
/// (one range is at most about twenty UTF-8 sequences of at most four byte ranges); a counted
/// repetition as its maximum (or minimum plus one) copies of its operand.
pub fn nfa_bytes_bound(hir: &Hir) -> u64 {
    let (states, transitions) = nfa_counts(hir);
    // The unanchored prefix and the start, match and capture states around the pattern.
    (states.saturating_add(64))
        .saturating_mul(STATE_BYTES)
        .saturating_add(
            transitions
                .saturating_add(64)
                .saturating_mul(TRANSITION_BYTES),
        )
}

/// Bytes counted per NFA state by [`nfa_bytes_bound`] (a builder state is 32 bytes).
const STATE_BYTES: u64 = 64;
/// Bytes counted per transition by [`nfa_bytes_bound`] (a builder transition is 8 bytes).
const TRANSITION_BYTES: u64 = 16;
/// States and transitions counted per range of a non-ASCII Unicode class.
const STATES_PER_UNICODE_RANGE: u64 = 256;

/// Upper bounds on the states and transitions of `hir`'s NFA.
fn nfa_counts(hir: &Hir) -> (u64, u64) {
    use regex_syntax::hir::{Class, HirKind};
    let add =
        |(s1, t1): (u64, u64), (s2, t2): (u64, u64)| (s1.saturating_add(s2), t1.saturating_add(t2));
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => (2, 2),
        HirKind::Literal(literal) => {
            let n = literal.0.len() as u64;
            (n + 1, n + 1)
        }
        HirKind::Class(Class::Bytes(class)) => {
            let ranges = class.ranges().len() as u64;
            (2, ranges + 1)
        }
        HirKind::Class(Class::Unicode(class)) => {
            let ranges = class.ranges().len() as u64;
            if class.is_ascii() {
                (2, ranges + 1)
            } else {
                let n = ranges
                    .saturating_mul(STATES_PER_UNICODE_RANGE)
                    .saturating_add(2);
                (n, n)
            }
        }
        HirKind::Capture(capture) => add(nfa_counts(&capture.sub), (4, 4)),
        HirKind::Repetition(repetition) => {
            let copies = u64::from(repetition.max.unwrap_or(repetition.min)) + 1;
            let (s, t) = nfa_counts(&repetition.sub);
            (
                s.saturating_add(2).saturating_mul(copies),
                t.saturating_add(2).saturating_mul(copies),
            )
        }
        HirKind::Concat(subs) | HirKind::Alternation(subs) => {
            subs.iter().fold((2, subs.len() as u64 + 2), |total, sub| {
                add(add(total, nfa_counts(sub)), (1, 1))
            })
        }
    }
}

/// Compiles Go-semantics HIR with regex-automata within `limits`.
pub fn compile_regex(hir: &Hir, limits: &Limits) -> Result<meta::Regex, String> {
    meta::Regex::builder()
        .configure(
            meta::Config::new()
                .nfa_size_limit(Some(limits.max_regex_bytes))
                .onepass(false)
                .hybrid_cache_capacity(limits.max_dfa_cache_bytes),
        )
        .build_from_hir(hir)
        .map_err(|e| e.to_string())
}

fn to_id(len: usize) -> u32 {
    u32::try_from(len).expect("pattern set larger than 2^32 items")
}

impl PatternSet {
    /// Lowers `(number, script)` pairs in order; a script that fails to lower is unusable.
    pub fn from_scripts<'a>(
        scripts: impl IntoIterator<Item = (u64, Option<&'a Script>)>,
        limits: Limits,
    ) -> (PatternSet, Vec<(u64, LowerError)>) {
        let scripts: Vec<(u64, Option<&Script>)> = scripts.into_iter().collect();
        let mut builder = PatternSetBuilder::new(limits);
        let parsed: Vec<&Script> = scripts.iter().filter_map(|&(_, s)| s).collect();
        builder.precompile(&parsed);
        let mut errors = Vec::new();
        for (number, script) in scripts {
            match script {
                Some(script) => {
                    if let Err(err) = builder.add_issue(number, script) {
                        builder.add_unusable_issue(number);
                        errors.push((number, err));
                    }
                }
                None => builder.add_unusable_issue(number),
            }
        }
        (builder.finish(), errors)
    }

    /// Writes the IR in a readable text form (`flakewatch debug ir`).
    pub fn dump(&self) -> String {
        let mut out = String::new();
        self.write_dump(&mut out)
            .expect("writing to a String cannot fail");
        out
    }

    fn write_dump(&self, out: &mut String) -> fmt::Result {
        writeln!(
            out,
            "; {} issues, {} nodes, {} predicates, {} regexps",
            self.issues.len(),
            self.nodes.len(),
            self.preds.len(),
            self.regexes.len()
        )?;
        for (i, re) in self.regexes.iter().enumerate() {
            writeln!(out, "re{i} = `(?m){}`", re.pattern)?;
        }
        for (i, pred) in self.preds.iter().enumerate() {
            match pred {
                Pred::Cmp { field, op, literal } => {
                    writeln!(out, "p{i} = {field} {} {}", op.as_str(), quote(literal))?
                }
                Pred::Regex { field, regex } => writeln!(out, "p{i} = {field} ~ re{regex}")?,
            }
        }
        for (i, node) in self.nodes.iter().enumerate() {
            let list = |ids: &[NodeId]| {
                ids.iter()
                    .map(|id| format!("n{id}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            match node {
                Node::And(ids) => writeln!(out, "n{i} = and({})", list(ids))?,
                Node::Or(ids) => writeln!(out, "n{i} = or({})", list(ids))?,
                Node::Not(id) => writeln!(out, "n{i} = not(n{id})")?,
                Node::Pred(p) => writeln!(out, "n{i} = p{p}")?,
            }
        }
        for issue in &self.issues {
            writeln!(out, "issue {}:", issue.number)?;
            for rule in &issue.rules {
                writeln!(
                    out,
                    "  {} <- n{}",
                    self.actions[rule.action as usize], rule.expr
                )?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size check accepts and refuses exactly what compiling does, with the same error.
    #[test]
    fn the_size_check_agrees_with_compiling() {
        let tiny = Limits {
            max_regex_bytes: 2000,
            ..Limits::DEFAULT
        };
        let patterns = [
            "panic: test timed out",
            "a{200}",
            r"\pL{20}",
            "(x|y|z){100}",
            "^--- FAIL: Test[A-Z]\\w*",
            // A literal alternation: compiled without any NFA, so never too large.
            &(0..300)
                .map(|i| format!("lit{i}"))
                .collect::<Vec<_>>()
                .join("|"),
        ];
        let mut refused = 0;
        for pattern in patterns {
            let hir = crate::goregex::parse(&format!("(?m){pattern}")).expect("parses");
            for limits in [tiny, Limits::DEFAULT] {
                let checked = check_regex(&hir, &limits);
                let compiled = compile_regex(&hir, &limits);
                assert_eq!(
                    checked.as_ref().err(),
                    compiled.as_ref().err(),
                    "{pattern} with {limits:?}"
                );
                refused += usize::from(checked.is_err());
                if let Ok(cell) = checked {
                    let entry = RegexEntry::new(pattern.to_owned(), hir.clone(), limits, cell);
                    let compiled = compiled.expect("compiles");
                    for text in ["", "lit299", "xyz", "panic: test timed out\n"] {
                        assert_eq!(entry.regex().is_match(text), compiled.is_match(text));
                    }
                    assert!(entry.is_compiled());
                }
            }
        }
        // The tiny limit refuses four of the six, the default none.
        assert_eq!(refused, 4);
    }

    /// Both automata of a regexp fit in its size bound, on regexps of every HIR kind (Unicode
    /// classes, counted and nested repetitions, alternations, captures, looks), so the check
    /// never lets through without automata what building them would refuse.
    #[test]
    fn the_size_bound_never_accepts_what_the_automata_refuse() {
        let patterns = [
            "panic: test timed out",
            ".",
            ".*",
            "(?s).{3}",
            r"\pL",
            r"\pL{5}",
            r"(?i)straße",
            r"[^a]",
            r"[\x{80}-\x{10FFFF}]",
            "a{200}",
            "(x|y|z){100}",
            "((a|b){3}c){4}",
            r"^--- FAIL: Test[A-Z]\w*\b",
            r"(?i)fatal error: .* (timeout|deadline)",
            "lookup proxy\\.golang\\.org.*: no such host",
            "(a*)*",
            r"[\p{Greek}\p{Cyrillic}]+x{2,7}",
        ];
        for pattern in patterns {
            let hir = crate::goregex::parse(&format!("(?m){pattern}")).expect("parses");
            let bound = nfa_bytes_bound(&hir);
            // The bound holds by itself; the check adds a factor of four on top.
            assert!(nfas_fit(&hir, bound as usize), "{pattern}: bound {bound}");
            let limits = Limits {
                max_regex_bytes: bound as usize * 4,
                ..Limits::DEFAULT
            };
            assert!(check_regex(&hir, &limits).is_ok_and(|cell| cell.get().is_none()));
        }
        // Everyday patterns are far inside the default limit.
        let everyday =
            crate::goregex::parse(r"(?m)^--- FAIL: Test[A-Z]\w*: .* timed out").expect("parses");
        assert!(nfa_bytes_bound(&everyday) < Limits::DEFAULT.max_regex_bytes as u64 / 16);
    }
}

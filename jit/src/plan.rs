//! The evaluation plan of a pattern set, shared by the JIT and the plan interpreter: the
//! structures that make one record cheap to evaluate against thousands of rules.
//!
//! * **Equality index.** Per field, a hash map from literal to its `==` predicate: one lookup
//!   per field decides every equality predicate on it (a value equals at most one literal).
//! * **Regexp prefilter.** Per field, one Aho-Corasick automaton over the literals that every
//!   match of a regexp must contain (its prefix literals, when finite), for fields with
//!   enough regexps. One scan of the text, when the field's first gated regexp is reached,
//!   tells which regexps can possibly match; the others are settled false in the memo.
//! * **Cost order.** `And`/`Or` operands are evaluated cheapest first (predicates are pure, so
//!   the order does not change results): comparisons, then regexps on short fields, then
//!   `output`, then `log`.
//! * **Result reuse.** A lazy predicate's result is carried over to the next record while its
//!   field's value stays the same (failures of one build share their log). The field is compared
//!   only when such a predicate is actually reached.

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use flakewatch_dsl::ir::{Node, NodeId, PatternSet, Pred, PredId};
use flakewatch_dsl::{Field, Record};
use regex_automata::meta;
use regex_syntax::hir::literal::{ExtractKind, Extractor};
use rustc_hash::FxHashMap;

/// No predicate (in [`Scratch::eq_true`]).
pub const NO_PRED: u32 = u32::MAX;

/// Shortest prefilter literal worth scanning for; shorter ones match almost everywhere.
const MIN_PREFILTER_LITERAL: usize = 3;

/// Fewest gated regexps on a field for its shared prefilter to pay off; below this, each
/// regexp's own literal search (inside regex-automata) is cheaper than one multi-pattern scan.
const MIN_PREFILTERED_REGEXES: usize = 16;

/// The same for the long-text fields (`output`, `log`), where one scan costs the most: on the
/// small workload (50 issues) a prefilter over a few dozen `output` regexps made the JIT
/// slower than the interpreter; without it they are even (`flakewatch bench`, one run).
const MIN_PREFILTERED_REGEXES_LONG_TEXT: usize = 64;

/// How a predicate is evaluated.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum PredClass {
    /// `field == literal`: true exactly when the equality index maps the field's value to it.
    Eq(Field),
    /// Anything else: computed on demand and memoised.
    Lazy,
}

/// A field's regexp prefilter.
#[derive(Debug)]
struct Prefilter {
    /// Leftmost-longest automaton over the literals (prefilter-accelerated search).
    automaton: AhoCorasick,
    /// For each literal: the regexps made possible when it occurs at a position where it is the
    /// longest literal — its own and those of every literal that is a prefix of it.
    regexes_implied: Vec<Box<[u32]>>,
    /// Every regexp this prefilter gates, with the (one) predicate that uses it.
    gated: Box<[(u32, PredId)]>,
}

/// The plan of one pattern set.
#[derive(Debug)]
pub struct Plan {
    set: PatternSet,
    classes: Vec<PredClass>,
    eq_index: Vec<Option<FxHashMap<Box<[u8]>, PredId>>>,
    prefilters: Vec<Option<Prefilter>>,
    /// Per regexp: whether it is gated by its field's prefilter.
    gated: Vec<bool>,
    /// Lazy predicates per field (to forget when the field's value changes).
    lazy_preds_of_field: Vec<Vec<PredId>>,
    /// Operand order of each node, cheapest first.
    ordered: Vec<Box<[NodeId]>>,
    costs: Vec<u32>,
}

impl Plan {
    /// Builds the plan of `set`.
    pub fn new(set: PatternSet) -> Plan {
        let mut classes = Vec::with_capacity(set.preds.len());
        let mut eq_index: Vec<Option<FxHashMap<Box<[u8]>, PredId>>> =
            (0..Field::COUNT).map(|_| None).collect();
        let mut lazy_preds_of_field = vec![Vec::new(); Field::COUNT];
        for (id, pred) in set.preds.iter().enumerate() {
            let id = id as PredId;
            match pred {
                Pred::Cmp {
                    field,
                    op: flakewatch_dsl::ir::CmpKind::Eq,
                    literal,
                } => {
                    eq_index[field.index()]
                        .get_or_insert_with(FxHashMap::default)
                        .insert(literal.clone(), id);
                    classes.push(PredClass::Eq(*field));
                }
                other => {
                    lazy_preds_of_field[other.field().index()].push(id);
                    classes.push(PredClass::Lazy);
                }
            }
        }
        let (prefilters, gated) = build_prefilters(&set);
        let costs = node_costs(&set);
        let ordered = set
            .nodes
            .iter()
            .map(|node| match node {
                Node::And(ops) | Node::Or(ops) => {
                    let mut ops = ops.to_vec();
                    ops.sort_by_key(|&op| costs[op as usize]);
                    ops.into_boxed_slice()
                }
                Node::Not(x) => Box::new([*x]) as Box<[NodeId]>,
                Node::Pred(_) => Box::new([]) as Box<[NodeId]>,
            })
            .collect();
        Plan {
            set,
            classes,
            eq_index,
            prefilters,
            gated,
            lazy_preds_of_field,
            ordered,
            costs,
        }
    }

    /// The pattern set.
    pub fn set(&self) -> &PatternSet {
        &self.set
    }

    /// How predicate `pred` is evaluated.
    pub fn class(&self, pred: PredId) -> PredClass {
        self.classes[pred as usize]
    }

    /// The operands of node `node`, cheapest first.
    pub fn operands(&self, node: NodeId) -> &[NodeId] {
        &self.ordered[node as usize]
    }

    /// The estimated cost of evaluating node `node`.
    pub fn cost(&self, node: NodeId) -> u32 {
        self.costs[node as usize]
    }

    /// Number of regexps gated by a literal prefilter.
    pub fn gated_regexes(&self) -> usize {
        self.gated.iter().filter(|&&g| g).count()
    }

    /// Fresh per-thread scratch space.
    pub fn scratch(&self) -> Scratch {
        Scratch {
            eq_true: [NO_PRED; Field::COUNT],
            memo: vec![0; self.set.preds.len()],
            carried: vec![0; self.set.preds.len()],
            checked: [false; Field::COUNT],
            previous: vec![Vec::new(); Field::COUNT],
            possible: vec![false; self.set.regexes.len()],
            prefiltered: [false; Field::COUNT],
            caches: self
                .set
                .regexes
                .iter()
                .map(|re| re.regex.create_cache())
                .collect(),
        }
    }

    /// Prepares `scratch` for `record`: decides the equality predicates and forgets the lazy
    /// results of the previous record (carried results are revalidated on first use).
    pub fn begin(&self, record: &Record, scratch: &mut Scratch) {
        for (i, index) in self.eq_index.iter().enumerate() {
            scratch.eq_true[i] = match index {
                Some(index) => index
                    .get(record.get(Field::ALL[i]).as_bytes())
                    .copied()
                    .unwrap_or(NO_PRED),
                None => NO_PRED,
            };
        }
        scratch.memo.fill(0);
        scratch.checked = [false; Field::COUNT];
    }

    /// Makes the carried results of `field` valid for `record`: kept if the value is the same
    /// as in the record they were computed for, forgotten otherwise.
    fn revalidate(&self, field: Field, record: &Record, scratch: &mut Scratch) {
        let i = field.index();
        scratch.checked[i] = true;
        let value = record.get(field).as_bytes();
        if scratch.previous[i] == value {
            return;
        }
        for &pred in &self.lazy_preds_of_field[i] {
            scratch.carried[pred as usize] = 0;
        }
        scratch.prefiltered[i] = false;
        scratch.previous[i].clear();
        scratch.previous[i].extend_from_slice(value);
    }

    /// Evaluates predicate `pred` for `record` (memoised in `scratch`).
    pub fn pred(&self, pred: PredId, record: &Record, scratch: &mut Scratch) -> bool {
        match self.classes[pred as usize] {
            PredClass::Eq(field) => scratch.eq_true[field.index()] == pred,
            PredClass::Lazy => {
                let slot = scratch.memo[pred as usize];
                if slot != 0 {
                    return slot == 2;
                }
                let result = self.compute(pred, record, scratch);
                scratch.memo[pred as usize] = if result { 2 } else { 1 };
                result
            }
        }
    }

    /// Computes a lazy predicate, reusing a carried result when its field is unchanged.
    pub fn compute(&self, pred: PredId, record: &Record, scratch: &mut Scratch) -> bool {
        let field = self.set.preds[pred as usize].field();
        if !scratch.checked[field.index()] {
            self.revalidate(field, record, scratch);
        }
        let carried = scratch.carried[pred as usize];
        if carried != 0 {
            return carried == 2;
        }
        let result = self.evaluate(pred, record, scratch);
        scratch.carried[pred as usize] = if result { 2 } else { 1 };
        result
    }

    /// Evaluates a lazy predicate from scratch.
    fn evaluate(&self, pred: PredId, record: &Record, scratch: &mut Scratch) -> bool {
        match &self.set.preds[pred as usize] {
            Pred::Cmp { field, op, literal } => op.eval(record.get(*field).as_bytes(), literal),
            Pred::Regex { field, regex } => {
                let text = record.get(*field);
                let regex = *regex as usize;
                if self.gated[regex] {
                    let i = field.index();
                    if !scratch.prefiltered[i] {
                        self.run_prefilter(*field, text, scratch);
                    }
                    if !scratch.possible[regex] {
                        return false;
                    }
                }
                let input = regex_automata::Input::new(text).earliest(true);
                let compiled: &meta::Regex = &self.set.regexes[regex].regex;
                compiled
                    .search_with(&mut scratch.caches[regex], &input)
                    .is_some()
            }
        }
    }

    /// Marks which gated regexps of `field` can match `text`: those with a literal in it; the
    /// others are settled false in the memo, so engines decide them without a call.
    ///
    /// It runs when the first gated regexp of the field is reached, not in [`Plan::begin`]: a
    /// record whose rules never reach one (cheaper conjuncts failed) costs no scan. Measured
    /// on the small workload, an eager scan per record made the JIT slower than the
    /// interpreter.
    ///
    /// Finds every literal occurring in the text without an overlapping scan: each search
    /// reports the leftmost-longest match at or after `from`, and the next search starts one
    /// byte after that match's start, so no start position is skipped; at a reported position,
    /// every other literal occurring there is a prefix of the reported (longest) one, and
    /// `regexes_implied` covers those.
    fn run_prefilter(&self, field: Field, text: &str, scratch: &mut Scratch) {
        let i = field.index();
        scratch.prefiltered[i] = true;
        let Some(prefilter) = &self.prefilters[i] else {
            return;
        };
        for &(r, _) in &prefilter.gated {
            scratch.possible[r as usize] = false;
        }
        let mut from = 0;
        while from < text.len() {
            let input = aho_corasick::Input::new(text).span(from..text.len());
            let Some(hit) = prefilter.automaton.find(input) else {
                break;
            };
            for &r in &prefilter.regexes_implied[hit.pattern().as_usize()] {
                scratch.possible[r as usize] = true;
            }
            from = hit.start() + 1;
        }
        for &(r, pred) in &prefilter.gated {
            if !scratch.possible[r as usize] {
                scratch.memo[pred as usize] = 1;
            }
        }
    }
}

/// Per-thread working memory for evaluating records against a [`Plan`].
#[derive(Debug, Clone)]
pub struct Scratch {
    /// Per field, the equality predicate that holds for the current record, or [`NO_PRED`].
    pub eq_true: [u32; Field::COUNT],
    /// Lazy predicate results for the current record: 0 unknown, 1 false, 2 true.
    pub memo: Vec<u8>,
    /// Lazy predicate results carried across records while their field is unchanged.
    carried: Vec<u8>,
    /// Per field: compared with the previous value during this record yet?
    checked: [bool; Field::COUNT],
    previous: Vec<Vec<u8>>,
    possible: Vec<bool>,
    prefiltered: [bool; Field::COUNT],
    caches: Vec<meta::Cache>,
}

/// Builds each field's prefilter from the regexps' required literals. A gated regexp is used
/// on exactly one field, so it has exactly one predicate.
fn build_prefilters(set: &PatternSet) -> (Vec<Option<Prefilter>>, Vec<bool>) {
    let mut gated = vec![false; set.regexes.len()];
    let mut per_field: Vec<Vec<(Vec<u8>, u32)>> = vec![Vec::new(); Field::COUNT];
    let mut field_of_regex: Vec<Option<Field>> = vec![None; set.regexes.len()];
    let mut pred_of_regex: Vec<PredId> = vec![0; set.regexes.len()];
    for (id, pred) in set.preds.iter().enumerate() {
        if let Pred::Regex { field, regex } = pred {
            pred_of_regex[*regex as usize] = id as PredId;
            match field_of_regex[*regex as usize] {
                None => field_of_regex[*regex as usize] = Some(*field),
                // The same regexp on several fields: no prefilter (kept simple and correct).
                Some(f) if f != *field => field_of_regex[*regex as usize] = Some(Field::Section),
                Some(_) => {}
            }
        }
    }
    for (r, field) in field_of_regex.iter().enumerate() {
        let Some(field) = *field else { continue };
        if field == Field::Section {
            continue;
        }
        if let Some(literals) = required_literals(&set.regexes[r].hir) {
            gated[r] = true;
            for literal in literals {
                per_field[field.index()].push((literal, r as u32));
            }
        }
    }
    let prefilters = per_field
        .into_iter()
        .enumerate()
        .map(|(field, entries)| {
            let mut regexes: Vec<u32> = entries.iter().map(|&(_, r)| r).collect();
            regexes.dedup();
            let long_text = matches!(Field::ALL[field], Field::Output | Field::Log);
            let min = if long_text {
                MIN_PREFILTERED_REGEXES_LONG_TEXT
            } else {
                MIN_PREFILTERED_REGEXES
            };
            if regexes.len() < min {
                for r in regexes {
                    gated[r as usize] = false;
                }
                return None;
            }
            let mut ids: FxHashMap<Vec<u8>, usize> = FxHashMap::default();
            let mut literals: Vec<Vec<u8>> = Vec::new();
            let mut regexes_of_literal: Vec<Vec<u32>> = Vec::new();
            for (literal, regex) in entries {
                let id = *ids.entry(literal.clone()).or_insert_with(|| {
                    literals.push(literal);
                    regexes_of_literal.push(Vec::new());
                    literals.len() - 1
                });
                regexes_of_literal[id].push(regex);
            }
            match AhoCorasick::builder()
                .match_kind(MatchKind::LeftmostLongest)
                .kind(Some(AhoCorasickKind::DFA))
                .build(&literals)
            {
                Ok(automaton) => {
                    let regexes_implied = literals
                        .iter()
                        .map(|literal| {
                            let mut implied: Vec<u32> = literals
                                .iter()
                                .zip(&regexes_of_literal)
                                .filter(|(other, _)| literal.starts_with(other))
                                .flat_map(|(_, regexes)| regexes.iter().copied())
                                .collect();
                            implied.sort_unstable();
                            implied.dedup();
                            implied.into_boxed_slice()
                        })
                        .collect();
                    let mut all: Vec<u32> = regexes_of_literal.iter().flatten().copied().collect();
                    all.sort_unstable();
                    all.dedup();
                    let all: Vec<(u32, PredId)> = all
                        .into_iter()
                        .map(|r| (r, pred_of_regex[r as usize]))
                        .collect();
                    Some(Prefilter {
                        automaton,
                        regexes_implied,
                        gated: all.into_boxed_slice(),
                    })
                }
                Err(_) => {
                    // Too large to build: leave this field's regexps ungated.
                    for regexes in &regexes_of_literal {
                        for &r in regexes {
                            gated[r as usize] = false;
                        }
                    }
                    None
                }
            }
        })
        .collect();
    (prefilters, gated)
}

/// Literals of which every match contains at least one, if a useful finite set exists.
fn required_literals(hir: &regex_syntax::hir::Hir) -> Option<Vec<Vec<u8>>> {
    let mut best: Option<Vec<Vec<u8>>> = None;
    for kind in [ExtractKind::Prefix, ExtractKind::Suffix] {
        let mut extractor = Extractor::new();
        extractor.kind(kind).limit_total(64);
        let mut seq = extractor.extract(hir);
        seq.optimize_for_prefix_by_preference();
        let Some(lits) = seq.literals() else { continue };
        if lits.is_empty()
            || lits
                .iter()
                .any(|l| l.as_bytes().len() < MIN_PREFILTER_LITERAL)
        {
            continue;
        }
        let candidate: Vec<Vec<u8>> = lits.iter().map(|l| l.as_bytes().to_vec()).collect();
        let better = match &best {
            None => true,
            Some(b) => min_len(&candidate) > min_len(b),
        };
        if better {
            best = Some(candidate);
        }
    }
    best
}

fn min_len(lits: &[Vec<u8>]) -> usize {
    lits.iter().map(Vec::len).min().unwrap_or(0)
}

/// Estimated evaluation cost of every node (nodes only refer to earlier nodes).
fn node_costs(set: &PatternSet) -> Vec<u32> {
    let mut costs: Vec<u32> = Vec::with_capacity(set.nodes.len());
    for node in &set.nodes {
        let cost = match node {
            Node::And(ops) | Node::Or(ops) => ops
                .iter()
                .map(|&op| costs[op as usize])
                .fold(0u32, u32::saturating_add),
            Node::Not(x) => costs[*x as usize],
            Node::Pred(p) => pred_cost(&set.preds[*p as usize]),
        };
        costs.push(cost.max(1));
    }
    costs
}

fn pred_cost(pred: &Pred) -> u32 {
    match pred {
        Pred::Cmp {
            op: flakewatch_dsl::ir::CmpKind::Eq,
            ..
        } => 1,
        Pred::Cmp { .. } => 2,
        Pred::Regex { field, .. } => match field {
            Field::Log => 10_000,
            Field::Output | Field::Snippet => 1_000,
            _ => 20,
        },
    }
}

//! The evaluation plan of a pattern set, shared by the JIT and the plan interpreter: the
//! structures that make one record cheap to evaluate against thousands of rules.
//!
//! * **Equality index.** Per field, a hash map from literal to its `==` predicate: one lookup
//!   per field decides every equality predicate on it (a value equals at most one literal).
//! * **Order index.** Per field, its `<`/`<=` literals sorted: two binary searches per record
//!   give the bounds that decide every order comparison on it (`date < "2026-07-23"` caps):
//!   a predicate holds when its literal's rank reaches the bound, one compare.
//! * **Regexp prefilter.** Per field, one q-gram filter over the literals that every match of
//!   a regexp must contain (its prefix or suffix literals, when finite), for fields with
//!   enough regexps. One scan of the text, when the field's first gated regexp is reached,
//!   tells which regexps can possibly match; the others are settled false in the memo.
//! * **Dispatch.** Issues whose acting rules all require one of a few literals of a field
//!   (`pkg == "net/http" && …`) run only for records whose value is one of them, and issues
//!   whose acting rules all require one prefiltered regexp only for records in which the
//!   prefilter finds its literal ([`crate::dispatch`]).
//! * **Cost order.** `And`/`Or` operands are evaluated cheapest first (predicates are pure, so
//!   the order does not change results): comparisons, then regexps on short fields, then
//!   `output`, then `log`.
//! * **Result reuse** (`Reuse`). A `log` regexp's result is carried over to the next record
//!   while the log stays the same (failures of one build share their log); on the short fields
//!   results are remembered per value seen (a package's records recur between others'); on
//!   `output` and `snippet`, which differ from failure to failure, nothing is kept (keeping
//!   the previous value to compare with cost a copy of every output). The field is looked at
//!   only when such a predicate is actually reached.

use flakewatch_dsl::ir::{CmpKind, Node, NodeId, PatternSet, Pred, PredId};
use flakewatch_dsl::{Field, Record};
use regex_automata::meta;
use rustc_hash::FxHashMap;

use crate::dispatch::Dispatch;

mod cost;
mod grams;
mod order;
mod reuse;

pub use crate::class::PredClass;
use cost::node_costs;
use grams::{Prefilter, build_prefilters};
use order::OrderIndex;
use reuse::{Reuse, SeenValues};

/// No predicate (in [`Scratch::eq_true`]).
pub const NO_PRED: u32 = u32::MAX;

/// The plan of one pattern set.
#[derive(Debug)]
pub struct Plan {
    set: PatternSet,
    classes: Vec<PredClass>,
    eq_index: Vec<Option<FxHashMap<Box<[u8]>, PredId>>>,
    order_index: Vec<Option<OrderIndex>>,
    prefilters: Vec<Option<Prefilter>>,
    /// Per predicate: whether it is a regexp gated by its field's prefilter.
    gated: Vec<bool>,
    /// Lazy predicates per field (to forget when the field's value changes).
    lazy_preds_of_field: Vec<Vec<PredId>>,
    /// How each field's regexp results are reused.
    reuse: [Reuse; Field::COUNT],
    /// Per predicate on a [`Reuse::PerValue`] field: its position among the field's lazy
    /// predicates (where its result is in a remembered value's results).
    position_in_field: Vec<u32>,
    /// Operand order of each node, cheapest first.
    ordered: Vec<Box<[NodeId]>>,
    costs: Vec<u32>,
    dispatch: Dispatch,
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
                    op: CmpKind::Eq,
                    literal,
                } => {
                    eq_index[field.index()]
                        .get_or_insert_with(FxHashMap::default)
                        .insert(literal.clone(), id);
                    classes.push(PredClass::Eq(*field));
                }
                Pred::Cmp { field, op, .. } => {
                    // The rank is filled in once the field's literals are sorted.
                    classes.push(PredClass::Order {
                        field: *field,
                        inclusive: *op == CmpKind::Le,
                        rank: 0,
                    });
                }
                Pred::Regex { field, .. } => {
                    lazy_preds_of_field[field.index()].push(id);
                    classes.push(PredClass::Lazy);
                }
            }
        }
        let mut ordered: Vec<Vec<(CmpKind, &[u8], PredId)>> = vec![Vec::new(); Field::COUNT];
        for (id, pred) in set.preds.iter().enumerate() {
            if let Pred::Cmp { field, op, literal } = pred
                && *op != CmpKind::Eq
            {
                ordered[field.index()].push((*op, literal, id as PredId));
            }
        }
        let order_index: Vec<Option<OrderIndex>> = ordered
            .into_iter()
            .map(|preds| (!preds.is_empty()).then(|| OrderIndex::new(preds)))
            .collect();
        for index in order_index.iter().flatten() {
            for &(rank, pred) in index.lt.iter().chain(&index.le) {
                if let PredClass::Order { rank: r, .. } = &mut classes[pred as usize] {
                    *r = rank;
                }
            }
        }
        let eq_literals: Vec<usize> = eq_index
            .iter()
            .map(|index| index.as_ref().map_or(0, |index| index.len()))
            .collect();
        let (prefilters, gated) = build_prefilters(&set);
        let dispatch = Dispatch::new(&set, &classes, &eq_literals, &gated);
        let reuse = Field::ALL.map(|field| match field {
            Field::Log => Reuse::Carried,
            Field::Output | Field::Snippet => Reuse::PerRecord,
            _ => Reuse::PerValue,
        });
        let mut position_in_field = vec![u32::MAX; set.preds.len()];
        for preds in &lazy_preds_of_field {
            for (position, &pred) in preds.iter().enumerate() {
                position_in_field[pred as usize] = position as u32;
            }
        }
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
            order_index,
            prefilters,
            gated,
            lazy_preds_of_field,
            reuse,
            position_in_field,
            ordered,
            costs,
            dispatch,
        }
    }

    /// Which issues run for a record: the unguarded ones and the groups of its equalities.
    pub fn dispatch(&self) -> &Dispatch {
        &self.dispatch
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

    /// Number of regexp predicates gated by a literal prefilter.
    pub fn gated_regexes(&self) -> usize {
        self.gated.iter().filter(|&&g| g).count()
    }

    /// Per field with a literal prefilter: the field, how many literals it looks for and the
    /// stride of its scan (it tests every `stride`-th position of the text).
    pub fn prefilters(&self) -> Vec<(Field, usize, usize)> {
        Field::ALL
            .iter()
            .zip(&self.prefilters)
            .filter_map(|(&field, prefilter)| {
                let grams = &prefilter.as_ref()?.grams;
                Some((field, grams.literals.len(), grams.stride))
            })
            .collect()
    }

    /// Fresh per-thread scratch space.
    pub fn scratch(&self) -> Scratch {
        Scratch {
            eq_true: [NO_PRED; Field::COUNT],
            order_bound: [0; 2 * Field::COUNT],
            memo: vec![0; self.set.preds.len()],
            carried: vec![0; self.set.preds.len()],
            checked: [false; Field::COUNT],
            previous: vec![Vec::new(); Field::COUNT],
            possible: vec![false; self.set.preds.len()],
            found: vec![Vec::new(); Field::COUNT],
            prefiltered: [false; Field::COUNT],
            seen: (0..Field::COUNT).map(|_| SeenValues::default()).collect(),
            // Created on first use, as the regexps are compiled.
            caches: (0..self.set.regexes.len()).map(|_| None).collect(),
        }
    }

    /// Prepares `scratch` for `record`: decides the equality and order predicates and forgets
    /// the lazy results of the previous record (carried results are revalidated on first use).
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
        for (i, index) in self.order_index.iter().enumerate() {
            if let Some(index) = index {
                let field = Field::ALL[i];
                let (lt, le) = index.bounds(record.get(field).as_bytes());
                scratch.order_bound[PredClass::order_slot(field, false)] = lt;
                scratch.order_bound[PredClass::order_slot(field, true)] = le;
            }
        }
        scratch.checked = [false; Field::COUNT];
    }

    /// Makes the reused results of `field` valid for `record` (see [`Reuse`]), the first time
    /// one of its lazy predicates is reached during the record.
    fn revalidate(&self, field: Field, record: &Record, scratch: &mut Scratch) {
        let i = field.index();
        scratch.checked[i] = true;
        let value = record.get(field).as_bytes();
        match self.reuse[i] {
            Reuse::PerRecord => scratch.prefiltered[i] = false,
            Reuse::Carried => {
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
            Reuse::PerValue => {
                let width = self.lazy_preds_of_field[i].len();
                if scratch.seen[i].select(value, width) {
                    scratch.prefiltered[i] = false;
                }
            }
        }
    }

    /// Evaluates predicate `pred` for `record` (memoised in `scratch`).
    pub fn pred(&self, pred: PredId, record: &Record, scratch: &mut Scratch) -> bool {
        match self.classes[pred as usize] {
            PredClass::Eq(field) => scratch.eq_true[field.index()] == pred,
            PredClass::Order {
                field,
                inclusive,
                rank,
            } => rank >= scratch.order_bound[PredClass::order_slot(field, inclusive)],
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

    /// Computes a lazy predicate, reusing an earlier result where its field allows.
    pub fn compute(&self, pred: PredId, record: &Record, scratch: &mut Scratch) -> bool {
        let field = self.set.preds[pred as usize].field();
        let i = field.index();
        if !scratch.checked[i] {
            self.revalidate(field, record, scratch);
        }
        match self.reused(pred, i, scratch) {
            None => return self.evaluate(pred, record, scratch),
            Some(&mut known) if known != 0 => return known == 2,
            Some(_) => {}
        }
        let result = self.evaluate(pred, record, scratch);
        if let Some(known) = self.reused(pred, i, scratch) {
            *known = if result { 2 } else { 1 };
        }
        result
    }

    /// Where the reused result of `pred` (on field `i`) is kept for the current value (0
    /// unknown, 1 false, 2 true), if its field keeps any.
    fn reused<'s>(&self, pred: PredId, i: usize, scratch: &'s mut Scratch) -> Option<&'s mut u8> {
        match self.reuse[i] {
            Reuse::PerRecord => None,
            Reuse::Carried => Some(&mut scratch.carried[pred as usize]),
            Reuse::PerValue => {
                let seen = &mut scratch.seen[i];
                let slot = seen.slot(self.position_in_field[pred as usize]);
                Some(&mut seen.results[slot])
            }
        }
    }

    /// Evaluates a lazy predicate from scratch.
    fn evaluate(&self, pred: PredId, record: &Record, scratch: &mut Scratch) -> bool {
        match &self.set.preds[pred as usize] {
            Pred::Cmp { field, op, literal } => op.eval(record.get(*field).as_bytes(), literal),
            Pred::Regex { field, regex } => {
                let text = record.get(*field);
                let regex = *regex as usize;
                if self.gated[pred as usize] {
                    let i = field.index();
                    if !scratch.prefiltered[i] {
                        self.run_prefilter(*field, text, scratch);
                    }
                    if !scratch.possible[pred as usize] {
                        return false;
                    }
                }
                // Whether it matches, not where: a half search stops at the first match end
                // (a full search would also run the reverse DFA to find the start).
                let input = regex_automata::Input::new(text).earliest(true);
                let compiled: &meta::Regex = self.set.regexes[regex].regex();
                let cache = scratch.caches[regex].get_or_insert_with(|| compiled.create_cache());
                compiled.search_half_with(cache, &input).is_some()
            }
        }
    }

    /// Appends to `groups` the [regexp groups](Dispatch::regex_groups) to run for `record`
    /// (after [`Plan::begin`]): those whose regexp's literal the field's prefilter finds,
    /// scanning each dispatching field now unless its value was scanned already.
    pub fn select_regex_groups(
        &self,
        record: &Record,
        scratch: &mut Scratch,
        groups: &mut Vec<u32>,
    ) {
        for &field in &self.dispatch.regex_fields {
            let i = field.index();
            if !scratch.checked[i] {
                self.revalidate(field, record, scratch);
            }
            if !scratch.prefiltered[i] {
                self.run_prefilter(field, record.get(field), scratch);
            }
            groups.extend(scratch.found[i].iter().filter_map(|&pred| {
                let group = self.dispatch.regex_group_of_pred[pred as usize];
                (group != crate::dispatch::NO_GROUP).then_some(group)
            }));
        }
    }

    /// Marks which gated regexps of `field` can match `text`: those with a literal in it; the
    /// others are settled false in the memo, so engines decide them without a call.
    ///
    /// It runs when the first gated regexp of the field is reached, not in [`Plan::begin`]: a
    /// record whose rules never reach one (cheaper conjuncts failed) costs no scan. Measured
    /// on the small workload, an eager scan per record made the JIT slower than the
    /// interpreter. Only a field with enough regexp groups to select is scanned before the
    /// issues run ([`Plan::select_regex_groups`]).
    fn run_prefilter(&self, field: Field, text: &str, scratch: &mut Scratch) {
        let i = field.index();
        scratch.prefiltered[i] = true;
        let Some(prefilter) = &self.prefilters[i] else {
            return;
        };
        for &pred in &prefilter.gated {
            scratch.possible[pred as usize] = false;
        }
        let possible = &mut scratch.possible;
        let found = &mut scratch.found[i];
        found.clear();
        prefilter.grams.scan(text.as_bytes(), &mut |literal| {
            for &pred in &prefilter.preds_of_literal[literal as usize] {
                if !possible[pred as usize] {
                    possible[pred as usize] = true;
                    found.push(pred);
                }
            }
        });
        for &pred in &prefilter.gated {
            if !scratch.possible[pred as usize] {
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
    /// Per field and order kind ([`PredClass::order_slot`]): the rank an order literal needs
    /// for its predicate to hold for the current record.
    pub order_bound: [u32; 2 * Field::COUNT],
    /// Lazy predicate results for the current record: 0 unknown, 1 false, 2 true.
    pub memo: Vec<u8>,
    /// Lazy predicate results carried across records while their field is unchanged.
    carried: Vec<u8>,
    /// Per field: compared with the previous value during this record yet?
    checked: [bool; Field::COUNT],
    previous: Vec<Vec<u8>>,
    possible: Vec<bool>,
    /// Per field: the gated regexps its last prefilter scan found possible.
    found: Vec<Vec<PredId>>,
    prefiltered: [bool; Field::COUNT],
    /// Per field: the results of its lazy predicates for each value seen
    /// ([`Reuse::PerValue`] fields).
    seen: Vec<SeenValues>,
    /// Per regexp, its matcher's cache, once it has run.
    caches: Vec<Option<meta::Cache>>,
}

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
//!   (`pkg == "net/http" && …`) run only for records whose value is one of them
//!   ([`crate::dispatch`]).
//! * **Cost order.** `And`/`Or` operands are evaluated cheapest first (predicates are pure, so
//!   the order does not change results): comparisons, then regexps on short fields, then
//!   `output`, then `log`.
//! * **Result reuse** ([`Reuse`]). A `log` regexp's result is carried over to the next record
//!   while the log stays the same (failures of one build share their log); on the short fields
//!   results are remembered per value seen (a package's records recur between others'); on
//!   `output` and `snippet`, which differ from failure to failure, nothing is kept (keeping
//!   the previous value to compare with cost a copy of every output). The field is looked at
//!   only when such a predicate is actually reached.

use flakewatch_dsl::ir::{CmpKind, Node, NodeId, PatternSet, Pred, PredId};
use flakewatch_dsl::{Field, Record};
use regex_automata::meta;
use regex_syntax::hir::literal::{ExtractKind, Extractor};
use rustc_hash::FxHashMap;

use crate::dispatch::Dispatch;

/// No predicate (in [`Scratch::eq_true`]).
pub const NO_PRED: u32 = u32::MAX;

/// Shortest prefilter literal: the q-gram filter hashes four-byte grams (and shorter literals
/// match almost everywhere).
const MIN_PREFILTER_LITERAL: usize = 4;

/// Longest stride of the q-gram scan (each literal has one table entry per stride position).
const MAX_GRAM_STRIDE: usize = 16;

/// On the long-text fields (`output`, `log`) the filter tests every `shortest literal - 3`-th
/// position, so a regexp with a short required literal (`panic`) makes the whole scan
/// slower; it can instead search for its literal itself (regex-automata's SIMD literal
/// search, far cheaper per byte than one position of the scan). [`long_text_threshold`]
/// weighs the two: one ungated regexp costs about this fraction of a scan at stride 1.
const UNGATED_REGEX_COST: f64 = 1.0 / 40.0;

fn is_long_text(field: Field) -> bool {
    matches!(field, Field::Output | Field::Log)
}

/// Fewest gated regexps on a field for its shared prefilter to pay off; below this, each
/// regexp's own literal search (inside regex-automata) is cheaper than one multi-pattern scan.
const MIN_PREFILTERED_REGEXES: usize = 16;

/// The same for the long-text fields (`output`, `log`). With the Aho-Corasick prefilter this
/// had to be 64 (on the small workload a scan for a few dozen `output` regexps cost more than
/// it saved); the strided q-gram scan is cheap enough that the default workload's 26 `log`
/// regexps share one: 8 instead of 64 took it from ~40k to ~48k failures/s, the small
/// workload unchanged (`flakewatch bench`, one thread).
const MIN_PREFILTERED_REGEXES_LONG_TEXT: usize = 8;

/// Most values per field whose regexp results a thread remembers (then it starts over): a
/// byte per predicate on the field each, so memory stays bounded by the pattern set.
const MAX_REMEMBERED_VALUES: usize = 4096;

/// How the lazy results of a field's predicates are reused across records.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Reuse {
    /// Not at all: the values differ from record to record (`output`, `snippet`).
    PerRecord,
    /// While the value stays the same as in the previous record where it was looked at
    /// (`log`: failures of one build share it, and it is too long to keep many).
    Carried,
    /// For every value seen, up to [`MAX_REMEMBERED_VALUES`] (`pkg`, `test`, `builder`, …).
    PerValue,
}

/// The results remembered for the values of one [`Reuse::PerValue`] field.
#[derive(Debug, Clone, Default)]
struct SeenValues {
    /// Each value seen and its row in `results`.
    rows: FxHashMap<Box<[u8]>, u32>,
    /// Rows of `width` results (0 unknown, 1 false, 2 true), one per value.
    results: Vec<u8>,
    width: usize,
    /// The current record's row.
    current: u32,
}

impl SeenValues {
    /// Makes `value`'s row current (a new row of unknowns if it was not seen); says whether
    /// the row changed.
    fn select(&mut self, value: &[u8], width: usize) -> bool {
        let row = match self.rows.get(value) {
            Some(&row) => row,
            None => {
                if self.rows.len() >= MAX_REMEMBERED_VALUES {
                    self.rows.clear();
                    self.results.clear();
                }
                let row = self.rows.len() as u32;
                self.rows.insert(value.into(), row);
                self.width = width;
                self.results.resize(self.results.len() + width, 0);
                // Rows are reused after a clear: the caller must treat this as a change.
                self.current = u32::MAX;
                row
            }
        };
        let changed = row != self.current;
        self.current = row;
        changed
    }

    /// Where the result at `position` of the current row is in `results`.
    fn slot(&self, position: u32) -> usize {
        self.current as usize * self.width + position as usize
    }
}

/// How a predicate is evaluated.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum PredClass {
    /// `field == literal`: true exactly when the equality index maps the field's value to it.
    Eq(Field),
    /// `field < literal` (or `<=` when `inclusive`): true exactly when the literal's rank
    /// among the field's sorted order literals is at least the bound [`Plan::begin`] found
    /// for the value ([`Scratch::order_bound`]).
    Order {
        /// The field compared.
        field: Field,
        /// `<=` rather than `<`.
        inclusive: bool,
        /// The literal's rank in the field's [`OrderIndex`].
        rank: u32,
    },
    /// A regexp match: read from the memo, computed on demand when unknown.
    Lazy,
}

impl PredClass {
    /// The slot of [`Scratch::order_bound`] an order predicate reads.
    pub fn order_slot(field: Field, inclusive: bool) -> usize {
        field.index() * 2 + usize::from(inclusive)
    }
}

/// A field's regexp prefilter: which of its gated regexps have a required literal in the text.
#[derive(Debug)]
struct Prefilter {
    grams: GramFilter,
    /// For each literal of `grams`: the regexp predicates it makes possible.
    preds_of_literal: Vec<Box<[PredId]>>,
    /// Every regexp predicate this prefilter gates.
    gated: Box<[PredId]>,
}

/// Bits of the q-gram hash: a 131,072-bit (16 KiB) table, small enough to stay in L1.
const GRAM_BITS: u32 = 17;

/// 64-bit words of the q-gram table.
const GRAM_WORDS: usize = 1 << (GRAM_BITS - 6);

/// Finds every occurrence of a set of literals (each at least [`MIN_PREFILTER_LITERAL`]
/// bytes) in one pass over the text that looks at every `stride`-th position only.
///
/// With a stride `k` of at most the shortest literal's length minus three, the scanned
/// positions are `k` apart, so any `k` consecutive gram offsets of an occurrence hold exactly
/// one of them. Each literal is entered in the table with `k` consecutive four-byte grams
/// (the window least likely in CI output, [`gram_weight`]), and each of its occurrences is
/// found exactly once, at the scanned position that falls in that window.
/// The table keeps a bit per gram hash; a set bit is verified against the literals behind it.
/// Cheaper per byte than an Aho-Corasick DFA over hundreds of literals that share their first
/// bytes (`fatal error: …`, `--- FAIL: …`), whose scan of `output` was ~40 % of matching, and
/// nothing to determinise at compile time.
#[derive(Debug)]
struct GramFilter {
    stride: usize,
    bits: Box<[u64; GRAM_WORDS]>,
    /// Per 64-bit word of `bits`: the number of set bits before it (to rank a set bit).
    rank: Box<[u32]>,
    /// Per set bit, in order: where its entries start in `entries` (plus an end marker).
    starts: Box<[u32]>,
    /// Per entry, grouped by gram hash: the literal and where the gram is in it.
    entries: Box<[GramEntry]>,
    literals: Vec<Box<[u8]>>,
}

impl GramFilter {
    fn new(literals: Vec<Box<[u8]>>) -> GramFilter {
        let shortest = literals.iter().map(|l| l.len()).min().unwrap_or(4);
        let stride = (shortest.max(4) - 3).min(MAX_GRAM_STRIDE);
        let mut keyed: Vec<(u32, GramEntry)> = Vec::with_capacity(literals.len() * stride);
        for (id, literal) in literals.iter().enumerate() {
            let window = rarest_window(literal, stride);
            for offset in window..window + stride {
                let h = gram_hash(gram(literal, offset));
                keyed.push((h, GramEntry::new(id as u32, offset, literal)));
            }
        }
        keyed.sort_unstable();
        keyed.dedup();
        let mut bits = Box::new([0u64; GRAM_WORDS]);
        for &(h, _) in &keyed {
            bits[(h >> 6) as usize] |= 1 << (h & 63);
        }
        let mut rank = Vec::with_capacity(bits.len());
        let mut total = 0;
        for word in bits.iter() {
            rank.push(total);
            total += word.count_ones();
        }
        let mut starts = Vec::with_capacity(total as usize + 1);
        for (i, &(h, _)) in keyed.iter().enumerate() {
            if i == 0 || keyed[i - 1].0 != h {
                starts.push(i as u32);
            }
        }
        starts.push(keyed.len() as u32);
        GramFilter {
            stride,
            bits,
            rank: rank.into_boxed_slice(),
            starts: starts.into_boxed_slice(),
            entries: keyed.iter().map(|&(_, entry)| entry).collect(),
            literals,
        }
    }

    /// Calls `found(literal id)` for every occurrence of every literal in `text` (a literal
    /// occurring twice may be reported twice).
    #[inline]
    fn scan(&self, text: &[u8], found: &mut dyn FnMut(u32)) {
        // Four-byte windows and a fixed-size table with a masked index: no bounds checks in
        // the loop.
        for (k, window) in text.windows(4).step_by(self.stride).enumerate() {
            let h = gram_hash(u32::from_le_bytes([
                window[0], window[1], window[2], window[3],
            ]));
            let word = self.bits[(h >> 6) as usize % GRAM_WORDS];
            if word & (1 << (h & 63)) != 0 {
                self.verify(text, k * self.stride, h, word, found);
            }
        }
    }

    /// Checks the literals with a gram hashing to `h` against the text around `at`.
    #[inline(never)]
    fn verify(&self, text: &[u8], at: usize, h: u32, word: u64, found: &mut dyn FnMut(u32)) {
        let below = word & ((1u64 << (h & 63)) - 1);
        let slot = (self.rank[(h >> 6) as usize] + below.count_ones()) as usize;
        let (first, end) = (self.starts[slot] as usize, self.starts[slot + 1] as usize);
        // The eight bytes from the scanned position, zero-padded at the end of the text.
        let mut window = [0u8; 8];
        let available = text.len().saturating_sub(at).min(8);
        window[..available].copy_from_slice(&text[at..at + available]);
        let window = u64::from_le_bytes(window);
        for entry in &self.entries[first..end] {
            if window & entry.head_mask != entry.head {
                continue;
            }
            let Some(start) = at.checked_sub(entry.offset as usize) else {
                continue;
            };
            if text[start..].starts_with(&self.literals[entry.literal as usize]) {
                found(entry.literal);
            }
        }
    }
}

/// One literal behind a gram of a [`GramFilter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct GramEntry {
    literal: u32,
    /// Offset of the gram in the literal.
    offset: u32,
    /// Up to eight bytes of the literal from the gram on (little-endian) and which of them
    /// are the literal's: one compare rejects a text that only shares the gram.
    head: u64,
    head_mask: u64,
}

impl GramEntry {
    fn new(literal: u32, offset: usize, bytes: &[u8]) -> GramEntry {
        let mut head = [0u8; 8];
        let mut mask = [0u8; 8];
        for (k, &b) in bytes[offset..].iter().take(8).enumerate() {
            head[k] = b;
            mask[k] = 0xff;
        }
        GramEntry {
            literal,
            offset: offset as u32,
            head: u64::from_le_bytes(head),
            head_mask: u64::from_le_bytes(mask),
        }
    }
}

/// Where the `stride` consecutive four-byte grams of `literal` least likely in CI output
/// start: the lowest sum of [`gram_weight`]s, the later window on a tie (families of literals
/// share their start).
fn rarest_window(literal: &[u8], stride: usize) -> usize {
    let weight = |at: usize| -> u32 { literal[at..at + 4].iter().map(|&b| gram_weight(b)).sum() };
    (0..=literal.len() - 3 - stride)
        .min_by_key(|&start| {
            let total: u32 = (start..start + stride).map(weight).sum();
            (total, usize::MAX - start)
        })
        .expect("literals are longer than the stride plus three")
}

/// A rough frequency class of a byte in test output and logs (higher is more common).
fn gram_weight(b: u8) -> u32 {
    match b {
        b' ' | b'e' | b't' | b'a' | b'o' | b'i' | b'n' | b's' | b'r' => 10,
        b'\n' | b'\t' | b'h' | b'l' | b'd' | b'c' | b'u' | b'm' | b'p' | b'g' | b'f' => 7,
        b'.' | b'/' | b':' | b'_' | b'-' | b'=' | b'0'..=b'9' => 6,
        b'a'..=b'z' => 4,
        b'A'..=b'Z' => 4,
        _ => 2,
    }
}

/// The four bytes at `at` (the caller guarantees they exist).
#[inline(always)]
fn gram(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

#[inline(always)]
fn gram_hash(gram: u32) -> u32 {
    gram.wrapping_mul(0x9E37_79B1) >> (32 - GRAM_BITS)
}

/// A field's order comparisons (`<`, `<=`; the others lower to these under `Not`): its
/// literals sorted, so that two binary searches per record decide all of them.
#[derive(Debug, Default)]
struct OrderIndex {
    /// The distinct literals, ascending (Go's byte-wise order).
    literals: Vec<Box<[u8]>>,
    /// `value < literal` predicates with their literal's rank.
    lt: Vec<(u32, PredId)>,
    /// `value <= literal` predicates with their literal's rank.
    le: Vec<(u32, PredId)>,
}

impl OrderIndex {
    fn new(preds: Vec<(CmpKind, &[u8], PredId)>) -> OrderIndex {
        let mut literals: Vec<Box<[u8]>> = preds.iter().map(|&(_, l, _)| l.into()).collect();
        literals.sort_unstable();
        literals.dedup();
        let mut index = OrderIndex::default();
        for (op, literal, pred) in preds {
            let rank = literals.partition_point(|l| &**l < literal) as u32;
            match op {
                CmpKind::Lt => index.lt.push((rank, pred)),
                _ => index.le.push((rank, pred)),
            }
        }
        index.literals = literals;
        index
    }

    /// The bounds that decide every predicate for `value`: `value < literal` holds exactly
    /// when the literal's rank is at least the first, `value <= literal` the second.
    fn bounds(&self, value: &[u8]) -> (u32, u32) {
        // value < literal  ⟺  literal ranks at or above the literals ≤ value.
        let above = self.literals.partition_point(|l| **l <= *value) as u32;
        // value <= literal ⟺  literal ranks at or above the literals < value.
        let at_or_above = self.literals.partition_point(|l| **l < *value) as u32;
        (above, at_or_above)
    }
}

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
        let dispatch = Dispatch::new(&set, &classes, &eq_literals);
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
            prefiltered: [false; Field::COUNT],
            seen: (0..Field::COUNT).map(|_| SeenValues::default()).collect(),
            caches: self
                .set
                .regexes
                .iter()
                .map(|re| re.regex.create_cache())
                .collect(),
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
                let compiled: &meta::Regex = &self.set.regexes[regex].regex;
                compiled
                    .search_half_with(&mut scratch.caches[regex], &input)
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
        prefilter.grams.scan(text.as_bytes(), &mut |literal| {
            for &pred in &prefilter.preds_of_literal[literal as usize] {
                possible[pred as usize] = true;
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
    prefiltered: [bool; Field::COUNT],
    /// Per field: the results of its lazy predicates for each value seen
    /// ([`Reuse::PerValue`] fields).
    seen: Vec<SeenValues>,
    caches: Vec<meta::Cache>,
}

/// Builds each field's prefilter from the required literals of the regexps used on it. Gating
/// is per predicate (regexp and field): a regexp used on `output` and on `log` is gated on
/// both, by each field's own scan.
fn build_prefilters(set: &PatternSet) -> (Vec<Option<Prefilter>>, Vec<bool>) {
    let mut gated = vec![false; set.preds.len()];
    // Per field: (required literals, predicate), and the shortest literal of each.
    let mut candidates: Vec<Vec<(Vec<Vec<u8>>, PredId)>> = vec![Vec::new(); Field::COUNT];
    for (id, pred) in set.preds.iter().enumerate() {
        let Pred::Regex { field, regex } = pred else {
            continue;
        };
        if let Some(literals) = required_literals(&set.regexes[*regex as usize].hir) {
            candidates[field.index()].push((literals, id as PredId));
        }
    }
    let mut per_field: Vec<Vec<(Vec<u8>, PredId)>> = vec![Vec::new(); Field::COUNT];
    for (field, candidates) in candidates.into_iter().enumerate() {
        let shortest: Vec<usize> = candidates.iter().map(|(l, _)| min_len(l)).collect();
        let min = if is_long_text(Field::ALL[field]) {
            long_text_threshold(&shortest)
        } else {
            MIN_PREFILTER_LITERAL
        };
        for ((literals, pred), shortest) in candidates.into_iter().zip(shortest) {
            if shortest >= min {
                gated[pred as usize] = true;
                per_field[field].extend(literals.into_iter().map(|l| (l, pred)));
            }
        }
    }
    let prefilters = per_field
        .into_iter()
        .enumerate()
        .map(|(field, entries)| {
            let mut preds: Vec<PredId> = entries.iter().map(|&(_, p)| p).collect();
            preds.sort_unstable();
            preds.dedup();
            let min = if is_long_text(Field::ALL[field]) {
                MIN_PREFILTERED_REGEXES_LONG_TEXT
            } else {
                MIN_PREFILTERED_REGEXES
            };
            if preds.len() < min {
                for p in preds {
                    gated[p as usize] = false;
                }
                return None;
            }
            let mut ids: FxHashMap<Vec<u8>, usize> = FxHashMap::default();
            let mut literals: Vec<Vec<u8>> = Vec::new();
            let mut preds_of_literal: Vec<Vec<PredId>> = Vec::new();
            for (literal, pred) in entries {
                let id = *ids.entry(literal.clone()).or_insert_with(|| {
                    literals.push(literal);
                    preds_of_literal.push(Vec::new());
                    literals.len() - 1
                });
                preds_of_literal[id].push(pred);
            }
            Some(Prefilter {
                grams: GramFilter::new(literals.into_iter().map(Vec::into_boxed_slice).collect()),
                preds_of_literal: preds_of_literal
                    .into_iter()
                    .map(|mut preds| {
                        preds.sort_unstable();
                        preds.dedup();
                        preds.into_boxed_slice()
                    })
                    .collect(),
                gated: preds.into_boxed_slice(),
            })
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

/// The shortest literal a long-text field's filter takes, given the shortest required
/// literal of each of its regexps: the cheapest mix of scan stride and ungated regexps.
fn long_text_threshold(shortest: &[usize]) -> usize {
    let cost = |min: usize| {
        let stride = (min - 3).min(MAX_GRAM_STRIDE) as f64;
        let ungated = shortest.iter().filter(|&&s| s < min).count() as f64;
        1.0 / stride + UNGATED_REGEX_COST * ungated
    };
    (MIN_PREFILTER_LITERAL..=MAX_GRAM_STRIDE + 3)
        .min_by(|&a, &b| cost(a).total_cmp(&cost(b)))
        .unwrap_or(MIN_PREFILTER_LITERAL)
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
            op: CmpKind::Eq, ..
        } => 1,
        Pred::Cmp { .. } => 2,
        Pred::Regex { field, .. } => match field {
            Field::Log => 10_000,
            Field::Output | Field::Snippet => 1_000,
            _ => 20,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// The q-gram filter reports each occurrence of each literal exactly once, whatever the
        /// stride the shortest literal allows (a small alphabet makes overlaps and repeats).
        #[test]
        fn gram_filter_finds_every_occurrence_once(
            literals in proptest::collection::btree_set("[ab c]{4,14}", 1..12),
            text in "[ab c]{0,300}",
        ) {
            let literals: Vec<Box<[u8]>> =
                literals.into_iter().map(|l| l.into_bytes().into_boxed_slice()).collect();
            let filter = GramFilter::new(literals.clone());
            let mut found = vec![0usize; literals.len()];
            filter.scan(text.as_bytes(), &mut |id| found[id as usize] += 1);
            for (id, literal) in literals.iter().enumerate() {
                let expected = text
                    .as_bytes()
                    .windows(literal.len())
                    .filter(|w| w == &&literal[..])
                    .count();
                prop_assert_eq!(found[id], expected, "literal {:?}", literal);
            }
        }
    }

    /// Two binary searches give what comparing with each literal gives, at and between
    /// literals, for prefixes and the empty value.
    #[test]
    fn order_index_decides_like_comparing() {
        let literals: [&[u8]; 6] = [b"2026-07-23", b"2026-07-23", b"2026-08", b"", b"b", b"ab"];
        let mut preds = Vec::new();
        for (i, literal) in literals.iter().enumerate() {
            let op = if i % 2 == 0 { CmpKind::Lt } else { CmpKind::Le };
            preds.push((op, *literal, i as PredId));
        }
        let index = OrderIndex::new(preds.clone());
        let values: [&[u8]; 9] = [
            b"",
            b"a",
            b"ab",
            b"abc",
            b"b",
            b"2026-07-22T",
            b"2026-07-23",
            b"2026-07-23T00",
            b"z",
        ];
        for value in values {
            let (lt, le) = index.bounds(value);
            for &(op, literal, pred) in &preds {
                let (rank, bound) = match op {
                    CmpKind::Lt => (index.lt.iter().find(|&&(_, p)| p == pred), lt),
                    _ => (index.le.iter().find(|&&(_, p)| p == pred), le),
                };
                let rank = rank.expect("every predicate is indexed").0;
                assert_eq!(
                    rank >= bound,
                    op.eval(value, literal),
                    "{value:?} {op:?} {literal:?}"
                );
            }
        }
    }

    /// Results stay with their value, and a full table starts over with unknowns (a row
    /// number reused after the reset still counts as a change).
    #[test]
    fn seen_values_keep_results_per_value_and_start_over_when_full() {
        let mut seen = SeenValues::default();
        assert!(seen.select(b"a", 2));
        let slot = seen.slot(1);
        seen.results[slot] = 2;
        assert!(seen.select(b"b", 2));
        assert_eq!(seen.results[seen.slot(1)], 0);
        assert!(seen.select(b"a", 2));
        assert!(!seen.select(b"a", 2));
        assert_eq!(seen.results[seen.slot(1)], 2);
        for v in 0..MAX_REMEMBERED_VALUES {
            seen.select(v.to_string().as_bytes(), 2);
        }
        assert!(seen.rows.len() <= MAX_REMEMBERED_VALUES);
        assert!(seen.select(b"a", 2));
        assert_eq!(seen.results[seen.slot(1)], 0);
    }

    #[test]
    fn long_text_threshold_ungates_only_a_few_short_literals() {
        let mut one_short = vec![30; 50];
        one_short.push(5);
        assert_eq!(long_text_threshold(&one_short), MAX_GRAM_STRIDE + 3);
        let mut many_short = vec![5; 40];
        many_short.extend([30; 10]);
        assert_eq!(long_text_threshold(&many_short), 5);
        assert_eq!(long_text_threshold(&[]), MAX_GRAM_STRIDE + 3);
    }

    #[test]
    fn stride_follows_the_shortest_literal() {
        let set = |ls: &[&str]| GramFilter::new(ls.iter().map(|l| l.as_bytes().into()).collect());
        assert_eq!(set(&["abcd", "fatal error"]).stride, 1);
        assert_eq!(set(&["fatal error", "i/o timeout"]).stride, 8);
        assert_eq!(set(&["SIGSEGV: x"]).stride, 7);
    }
}

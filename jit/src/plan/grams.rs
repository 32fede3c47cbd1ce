//! The regexp prefilter: the literals every match of a regexp must contain, and a strided
//! q-gram filter that finds all of a field's literals in one scan of its text.

use flakewatch_dsl::Field;
use flakewatch_dsl::ir::{PatternSet, Pred, PredId};
use regex_syntax::hir::literal::{ExtractKind, Extractor};
use rustc_hash::FxHashMap;

/// Shortest prefilter literal: the q-gram filter hashes four-byte grams (and shorter literals
/// match almost everywhere).
pub(super) const MIN_PREFILTER_LITERAL: usize = 4;

/// Longest stride of the q-gram scan (each literal has one table entry per stride position).
pub(super) const MAX_GRAM_STRIDE: usize = 16;

/// On the long-text fields (`output`, `log`) the filter tests every `shortest literal - 3`-th
/// position, so a regexp with a short required literal (`panic`) makes the whole scan
/// slower; it can instead search for its literal itself (regex-automata's SIMD literal
/// search, far cheaper per byte than one position of the scan). [`long_text_threshold`]
/// weighs the two: one ungated regexp costs about this fraction of a scan at stride 1.
pub(super) const UNGATED_REGEX_COST: f64 = 1.0 / 40.0;

pub(super) fn is_long_text(field: Field) -> bool {
    matches!(field, Field::Output | Field::Log)
}

/// Fewest gated regexps on a field for its shared prefilter to pay off; below this, each
/// regexp's own literal search (inside regex-automata) is cheaper than one multi-pattern scan.
pub(super) const MIN_PREFILTERED_REGEXES: usize = 16;

/// The same for the long-text fields (`output`, `log`). With the Aho-Corasick prefilter this
/// had to be 64 (on the small workload a scan for a few dozen `output` regexps cost more than
/// it saved); the strided q-gram scan is cheap enough that the default workload's 26 `log`
/// regexps share one: 8 instead of 64 took it from ~40k to ~48k failures/s, the small
/// workload unchanged (`flakewatch bench`, one thread).
pub(super) const MIN_PREFILTERED_REGEXES_LONG_TEXT: usize = 8;

/// A field's regexp prefilter: which of its gated regexps have a required literal in the text.
#[derive(Debug)]
pub(super) struct Prefilter {
    pub(super) grams: GramFilter,
    /// For each literal of `grams`: the regexp predicates it makes possible.
    pub(super) preds_of_literal: Vec<Box<[PredId]>>,
    /// Every regexp predicate this prefilter gates.
    pub(super) gated: Box<[PredId]>,
}

/// Bits of the q-gram hash: a 131,072-bit (16 KiB) table, small enough to stay in L1.
pub(super) const GRAM_BITS: u32 = 17;

/// 64-bit words of the q-gram table.
pub(super) const GRAM_WORDS: usize = 1 << (GRAM_BITS - 6);

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
pub(super) struct GramFilter {
    pub(super) stride: usize,
    pub(super) bits: Box<[u64; GRAM_WORDS]>,
    /// Per 64-bit word of `bits`: the number of set bits before it (to rank a set bit).
    pub(super) rank: Box<[u32]>,
    /// Per set bit, in order: where its entries start in `entries` (plus an end marker).
    pub(super) starts: Box<[u32]>,
    /// Per entry, grouped by gram hash: the literal and where the gram is in it.
    pub(super) entries: Box<[GramEntry]>,
    pub(super) literals: Vec<Box<[u8]>>,
}

impl GramFilter {
    pub(super) fn new(literals: Vec<Box<[u8]>>) -> GramFilter {
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
    pub(super) fn scan(&self, text: &[u8], found: &mut dyn FnMut(u32)) {
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
    pub(super) fn verify(
        &self,
        text: &[u8],
        at: usize,
        h: u32,
        word: u64,
        found: &mut dyn FnMut(u32),
    ) {
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
pub(super) struct GramEntry {
    pub(super) literal: u32,
    /// Offset of the gram in the literal.
    pub(super) offset: u32,
    /// Up to eight bytes of the literal from the gram on (little-endian) and which of them
    /// are the literal's: one compare rejects a text that only shares the gram.
    pub(super) head: u64,
    pub(super) head_mask: u64,
}

impl GramEntry {
    pub(super) fn new(literal: u32, offset: usize, bytes: &[u8]) -> GramEntry {
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
pub(super) fn rarest_window(literal: &[u8], stride: usize) -> usize {
    let weight = |at: usize| -> u32 { literal[at..at + 4].iter().map(|&b| gram_weight(b)).sum() };
    (0..=literal.len() - 3 - stride)
        .min_by_key(|&start| {
            let total: u32 = (start..start + stride).map(weight).sum();
            (total, usize::MAX - start)
        })
        .expect("literals are longer than the stride plus three")
}

/// A rough frequency class of a byte in test output and logs (higher is more common).
pub(super) fn gram_weight(b: u8) -> u32 {
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
pub(super) fn gram(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

#[inline(always)]
pub(super) fn gram_hash(gram: u32) -> u32 {
    gram.wrapping_mul(0x9E37_79B1) >> (32 - GRAM_BITS)
}

/// Builds each field's prefilter from the required literals of the regexps used on it. Gating
/// is per predicate (regexp and field): a regexp used on `output` and on `log` is gated on
/// both, by each field's own scan.
pub(super) fn build_prefilters(set: &PatternSet) -> (Vec<Option<Prefilter>>, Vec<bool>) {
    let mut gated = vec![false; set.preds.len()];
    // The required literals of each regexp (once per regexp, on the machine's cores for many:
    // extracting them was most of building a plan).
    let threads = flakewatch_dsl::parallel::threads_for(
        set.regexes.len(),
        MIN_PARALLEL_EXTRACTIONS,
        usize::MAX,
    );
    let mut required = flakewatch_dsl::parallel::map_parts(&set.regexes, threads, |part| {
        part.iter()
            .map(|regex| required_literals(&regex.hir))
            .collect()
    });
    // Predicates per regexp still to come (a regexp used on two fields is copied once).
    let mut uses = vec![0u32; set.regexes.len()];
    for pred in &set.preds {
        if let Pred::Regex { regex, .. } = pred {
            uses[*regex as usize] += 1;
        }
    }
    // Per field: (required literals, predicate), and the shortest literal of each.
    let mut candidates: Vec<Vec<(Vec<Vec<u8>>, PredId)>> = vec![Vec::new(); Field::COUNT];
    for (id, pred) in set.preds.iter().enumerate() {
        let Pred::Regex { field, regex } = pred else {
            continue;
        };
        let regex = *regex as usize;
        uses[regex] -= 1;
        let literals = if uses[regex] > 0 {
            required[regex].clone()
        } else {
            required[regex].take()
        };
        if let Some(literals) = literals {
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

/// Fewest regexps worth extracting literals from on several threads.
const MIN_PARALLEL_EXTRACTIONS: usize = 256;

/// Longest literal the extractor keeps (`regex-syntax`'s default; longer ones are cut).
const MAX_EXTRACTED_LITERAL: usize = 100;

/// Literals of which every match contains at least one, if a useful finite set exists.
pub(super) fn required_literals(hir: &regex_syntax::hir::Hir) -> Option<Vec<Vec<u8>>> {
    // A plain literal (most patterns) is its own requirement: what extraction would find
    // (`extracted_literals`), without its cost.
    if let regex_syntax::hir::HirKind::Literal(regex_syntax::hir::Literal(bytes)) = hir.kind() {
        return (bytes.len() >= MIN_PREFILTER_LITERAL)
            .then(|| vec![bytes[..bytes.len().min(MAX_EXTRACTED_LITERAL)].to_vec()]);
    }
    extracted_literals(hir)
}

/// [`required_literals`] by prefix and suffix extraction: the set whose shortest literal is
/// longer.
fn extracted_literals(hir: &regex_syntax::hir::Hir) -> Option<Vec<Vec<u8>>> {
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
pub(super) fn long_text_threshold(shortest: &[usize]) -> usize {
    let cost = |min: usize| {
        let stride = (min - 3).min(MAX_GRAM_STRIDE) as f64;
        let ungated = shortest.iter().filter(|&&s| s < min).count() as f64;
        1.0 / stride + UNGATED_REGEX_COST * ungated
    };
    (MIN_PREFILTER_LITERAL..=MAX_GRAM_STRIDE + 3)
        .min_by(|&a, &b| cost(a).total_cmp(&cost(b)))
        .unwrap_or(MIN_PREFILTER_LITERAL)
}

pub(super) fn min_len(lits: &[Vec<u8>]) -> usize {
    lits.iter().map(Vec::len).min().unwrap_or(0)
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

    #[test]
    fn a_plain_literal_requires_what_extraction_finds() {
        let long = "0123456789".repeat(15);
        for literal in [
            "",
            "a",
            "   ",
            "abcd",
            "    ",
            "\u{e9}t\u{e9}",
            "panic: ",
            &long,
        ] {
            let hir = regex_syntax::hir::Hir::literal(literal.as_bytes());
            assert!(matches!(
                hir.kind(),
                regex_syntax::hir::HirKind::Literal(_) | regex_syntax::hir::HirKind::Empty
            ));
            assert_eq!(
                required_literals(&hir),
                extracted_literals(&hir),
                "{literal:?}"
            );
        }
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

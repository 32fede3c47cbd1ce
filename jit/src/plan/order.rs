//! The order index: a field's `<`/`<=` literals sorted, so that two binary searches per record
//! decide every order comparison on it.

use flakewatch_dsl::ir::{CmpKind, PredId};

/// A field's order comparisons (`<`, `<=`; the others lower to these under `Not`): its
/// literals sorted, so that two binary searches per record decide all of them.
#[derive(Debug, Default)]
pub(super) struct OrderIndex {
    /// The distinct literals, ascending (Go's byte-wise order).
    pub(super) literals: Vec<Box<[u8]>>,
    /// `value < literal` predicates with their literal's rank.
    pub(super) lt: Vec<(u32, PredId)>,
    /// `value <= literal` predicates with their literal's rank.
    pub(super) le: Vec<(u32, PredId)>,
}

impl OrderIndex {
    pub(super) fn new(preds: Vec<(CmpKind, &[u8], PredId)>) -> OrderIndex {
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
    pub(super) fn bounds(&self, value: &[u8]) -> (u32, u32) {
        // value < literal  ⟺  literal ranks at or above the literals ≤ value.
        let above = self.literals.partition_point(|l| **l <= *value) as u32;
        // value <= literal ⟺  literal ranks at or above the literals < value.
        let at_or_above = self.literals.partition_point(|l| **l < *value) as u32;
        (above, at_or_above)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}

//! Result reuse across records: how each field's regexp results are kept ([`Reuse`]) and the
//! bounded table of results per value seen on the short fields ([`SeenValues`]).

use rustc_hash::FxHashMap;

/// Most values per field whose regexp results a thread remembers (then it starts over): a
/// byte per predicate on the field each, so memory stays bounded by the pattern set.
pub(super) const MAX_REMEMBERED_VALUES: usize = 4096;

/// How the lazy results of a field's predicates are reused across records.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(super) enum Reuse {
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
pub(super) struct SeenValues {
    /// Each value seen and its row in `results`.
    pub(super) rows: FxHashMap<Box<[u8]>, u32>,
    /// Rows of `width` results (0 unknown, 1 false, 2 true), one per value.
    pub(super) results: Vec<u8>,
    pub(super) width: usize,
    /// The current record's row.
    pub(super) current: u32,
}

impl SeenValues {
    /// Makes `value`'s row current (a new row of unknowns if it was not seen); says whether
    /// the row changed.
    pub(super) fn select(&mut self, value: &[u8], width: usize) -> bool {
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
    pub(super) fn slot(&self, position: u32) -> usize {
        self.current as usize * self.width + position as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}

//! The required-passes rule: how many of `n` attempts must pass for a test whose historical
//! working percentage is `w`, from a one-sided Fisher exact test.
//!
//! Upstream hard-codes a table for `n ≤ 12` (rows 1 and 2 edited by hand) and panics beyond
//! it. [`RequiredPasses`] holds either that table ([`TableSource::Compat`], computed beyond
//! row 12) or the rule computed with statrs for any `n` and any parameters.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use statrs::distribution::{DiscreteCDF, Hypergeometric};

/// Parameters of the Fisher rule.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FisherParams {
    /// Significance level: a pass count whose p-value is at most `alpha` is significantly worse
    /// than history (upstream 0.05).
    pub alpha: f64,
    /// Size of the modelled historical corpus (upstream 250 runs).
    pub corpus_size: u32,
    /// Passes subtracted from the first non-significant pass count (upstream 1: "one pass fewer
    /// than not significantly worse").
    pub leniency: u32,
}

impl Default for FisherParams {
    fn default() -> Self {
        FisherParams {
            alpha: 0.05,
            corpus_size: 250,
            leniency: 1,
        }
    }
}

/// The one-sided ("greater") Fisher exact p-value of the 2×2 table
/// `[[corpus_pos, test_pos], [corpus_neg, test_neg]]`: `P(X ≥ corpus_pos)` with
/// `X ~ Hypergeometric(population = total, successes = corpus_pos + test_pos, draws = corpus_pos + corpus_neg)`,
/// as scipy's `fisher_exact(..., alternative="greater")` computes it.
pub fn fisher_greater(corpus_pos: u64, corpus_neg: u64, test_pos: u64, test_neg: u64) -> f64 {
    if corpus_pos == 0 {
        return 1.0;
    }
    let population = corpus_pos + corpus_neg + test_pos + test_neg;
    let successes = corpus_pos + test_pos;
    let draws = corpus_pos + corpus_neg;
    match Hypergeometric::new(population, successes, draws) {
        Ok(dist) => dist.sf(corpus_pos - 1),
        // Unreachable with consistent counts; "not significant" is the safe answer.
        Err(_) => 1.0,
    }
}

/// `round(corpus · w / 100)` with Python's round-half-to-even, in exact integer arithmetic.
pub fn corpus_positive_count(corpus_size: u32, percent: u32) -> u64 {
    let x = u64::from(corpus_size) * u64::from(percent);
    let (q, r) = (x / 100, x % 100);
    match r.cmp(&50) {
        std::cmp::Ordering::Less => q,
        std::cmp::Ordering::Greater => q + 1,
        std::cmp::Ordering::Equal => q + (q & 1),
    }
}

/// The strict required number of passes for `attempts` runs and a historical working
/// percentage `percent` (clamped to 100), by upstream's `required-pass-rate.py`: the smallest
/// pass count `k` whose p-value exceeds α, minus the leniency (never below 0). When no `k`
/// qualifies, 100 % takes the value of 98 % and anything else 0, as the script does.
pub fn fisher_required(params: &FisherParams, attempts: u32, percent: u32) -> u32 {
    let percent = percent.min(100);
    match first_not_significant(params, attempts, percent) {
        Some(k) => k.saturating_sub(params.leniency),
        None if percent == 100 => first_not_significant(params, attempts, 98)
            .map_or(0, |k| k.saturating_sub(params.leniency)),
        None => 0,
    }
}

fn first_not_significant(params: &FisherParams, attempts: u32, percent: u32) -> Option<u32> {
    let corpus_pos = corpus_positive_count(params.corpus_size, percent);
    let corpus_neg = u64::from(params.corpus_size) - corpus_pos.min(u64::from(params.corpus_size));
    (0..=attempts).find(|&k| {
        let p = fisher_greater(
            corpus_pos,
            corpus_neg,
            u64::from(k),
            u64::from(attempts - k),
        );
        p > params.alpha
    })
}

/// Upstream's hard-coded table (`pass_fail.go`), rows 0..=12, as breakpoints: each row lists
/// `(first percent, value)` where the value changes; the value is 0 before the first one.
/// Rows 0 and 3–12 equal the Fisher rule with the default parameters; rows 1 and 2 were
/// edited by hand upstream (1 pass from 96 % and from 79 %).
const COMPAT_ROWS: [&[(u8, u8)]; 13] = [
    &[],
    &[(96, 1)],
    &[(79, 1)],
    &[(87, 1), (99, 2)],
    &[(76, 1), (91, 2), (99, 3)],
    &[(67, 1), (82, 2), (94, 3), (100, 4)],
    &[(59, 1), (74, 2), (86, 3), (95, 4), (100, 5)],
    &[(53, 1), (67, 2), (79, 3), (88, 4), (95, 5), (100, 6)],
    &[
        (48, 1),
        (61, 2),
        (72, 3),
        (82, 4),
        (90, 5),
        (96, 6),
        (100, 7),
    ],
    &[
        (44, 1),
        (56, 2),
        (67, 3),
        (76, 4),
        (84, 5),
        (91, 6),
        (97, 7),
        (100, 8),
    ],
    &[
        (41, 1),
        (52, 2),
        (62, 3),
        (71, 4),
        (79, 5),
        (86, 6),
        (92, 7),
        (98, 8),
        (100, 9),
    ],
    &[
        (38, 1),
        (48, 2),
        (58, 3),
        (66, 4),
        (74, 5),
        (81, 6),
        (87, 7),
        (93, 8),
        (98, 9),
        (100, 10),
    ],
    &[
        (35, 1),
        (45, 2),
        (54, 3),
        (62, 4),
        (70, 5),
        (77, 6),
        (83, 7),
        (89, 8),
        (94, 9),
        (98, 10),
        (100, 11),
    ],
];

/// The largest attempt count upstream's table covers.
pub const COMPAT_TABLE_MAX_ATTEMPTS: u32 = 12;

/// Upstream's table value `T[attempts][percent]` for `attempts ≤ 12`.
pub fn compat_table(attempts: u32, percent: u32) -> Option<u32> {
    let row = COMPAT_ROWS.get(attempts as usize)?;
    let percent = percent.min(100);
    Some(
        row.iter()
            .take_while(|&&(from, _)| u32::from(from) <= percent)
            .last()
            .map_or(0, |&(_, v)| u32::from(v)),
    )
}

/// Where strict requirements come from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableSource {
    /// Upstream's table for `n ≤ 12` (used only with the default parameters, which it was built
    /// with), the Fisher rule beyond.
    Compat,
    /// The Fisher rule for every `n`.
    Computed,
}

/// The strict required-passes lookup, with computed rows cached (`Send + Sync`).
#[derive(Clone, Debug)]
pub struct RequiredPasses {
    params: FisherParams,
    source: TableSource,
    rows: Arc<Mutex<BTreeMap<u32, Arc<[u32; 101]>>>>,
}

impl RequiredPasses {
    /// A lookup with these parameters and source.
    pub fn new(params: FisherParams, source: TableSource) -> RequiredPasses {
        RequiredPasses {
            params,
            source,
            rows: Arc::default(),
        }
    }

    /// The parameters.
    pub fn params(&self) -> &FisherParams {
        &self.params
    }

    /// The source.
    pub fn source(&self) -> TableSource {
        self.source
    }

    /// Whether `(attempts, ·)` is answered from upstream's stored table.
    pub fn uses_table(&self, attempts: u32) -> bool {
        self.source == TableSource::Compat
            && attempts <= COMPAT_TABLE_MAX_ATTEMPTS
            && self.params == FisherParams::default()
    }

    /// `T[attempts][percent]`: the strict required number of passes.
    pub fn strict(&self, attempts: u32, percent: u32) -> u32 {
        if self.uses_table(attempts)
            && let Some(v) = compat_table(attempts, percent)
        {
            return v;
        }
        self.row(attempts)[percent.min(100) as usize]
    }

    /// The whole computed row for `attempts` (cached).
    pub fn row(&self, attempts: u32) -> Arc<[u32; 101]> {
        let mut rows = match self.rows.lock() {
            Ok(rows) => rows,
            Err(poisoned) => poisoned.into_inner(),
        };
        rows.entry(attempts)
            .or_insert_with(|| {
                let mut row = [0u32; 101];
                for (w, slot) in row.iter_mut().enumerate() {
                    *slot = fisher_required(&self.params, attempts, w as u32);
                }
                Arc::new(row)
            })
            .clone()
    }
}

/// The pity factor (TRT-2487): `min(strict, max(0, attempts − allowance))`.
pub fn with_pity(strict: u32, attempts: u32, allowance: u32) -> u32 {
    strict.min(attempts.saturating_sub(allowance))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_is_half_even() {
        assert_eq!(corpus_positive_count(250, 1), 2);
        assert_eq!(corpus_positive_count(250, 3), 8);
        assert_eq!(corpus_positive_count(250, 5), 12);
        assert_eq!(corpus_positive_count(250, 100), 250);
    }

    #[test]
    fn fisher_reproduces_rows_0_and_3_to_12() {
        let params = FisherParams::default();
        for n in [0u32, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12] {
            for w in 0..=100 {
                assert_eq!(
                    fisher_required(&params, n, w),
                    compat_table(n, w).unwrap(),
                    "n={n} w={w}"
                );
            }
        }
        // Rows 1 and 2 were hand-edited upstream: the rule gives 0 there.
        assert_eq!(fisher_required(&params, 1, 100), 0);
        assert_eq!(compat_table(1, 96), Some(1));
        assert_eq!(compat_table(2, 79), Some(1));
    }

    #[test]
    fn beyond_the_table_the_rule_is_computed() {
        let rp = RequiredPasses::new(FisherParams::default(), TableSource::Compat);
        assert!(!rp.uses_table(13));
        let r13 = rp.strict(13, 95);
        let r50 = rp.strict(50, 95);
        assert!(r13 > 0 && r13 <= 13);
        assert!(r50 > r13 && r50 <= 50);
        assert_eq!(
            rp.strict(13, 95),
            fisher_required(&FisherParams::default(), 13, 95)
        );
    }
}

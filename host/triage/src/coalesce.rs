//! Coalescing the test failures of one build to at most [`MAX_FAIL_PER_BUILD`].

use super::failure::Failure;
use super::testid::split_test_id;

/// The most failures reported for one build (`maxFailPerBuild` upstream).
pub const MAX_FAIL_PER_BUILD: usize = 3;

/// Reduces the failures of one build, given sorted by TestID, to the ones worth reporting.
///
/// 1. A failure replaces the previously kept one when that one is package-level and this
///    TestID starts with `pkg.`, or when this TestID starts with the previous TestID plus `/`
///    (so a package-level `net` is replaced by `net/http.TestA`, as upstream does).
/// 2. With more than [`MAX_FAIL_PER_BUILD`] left, sibling subtests (same package, same parent
///    test, both with a `/`) merge into one: the first member, replaced by a later sibling
///    that is [more likely useful](more_likely_useful).
/// 3. With still too many, consecutive failures of the same non-empty package merge the same
///    way.
/// 4. The first [`MAX_FAIL_PER_BUILD`] are kept.
pub fn coalesce_failures(failures: Vec<Failure>) -> Vec<Failure> {
    // 1. Chains of parent → child.
    let mut kept: Vec<Failure> = Vec::with_capacity(failures.len());
    for f in failures {
        if let Some(last) = kept.last_mut()
            && replaces(&f.test_id, &last.test_id)
        {
            *last = f;
            continue;
        }
        kept.push(f);
    }
    if kept.len() <= MAX_FAIL_PER_BUILD {
        return kept;
    }

    // 2. Sibling subtests, grouped on the group's first member.
    let mut merged: Vec<Failure> = Vec::with_capacity(kept.len());
    let mut anchor: Option<(String, String)> = None;
    for f in kept {
        let key = subtest_parent(&f.test_id);
        if merged.last().is_some() && key.is_some() && key == anchor {
            merge_into(&mut merged, f);
            continue;
        }
        anchor = key;
        merged.push(f);
    }
    if merged.len() <= MAX_FAIL_PER_BUILD {
        return merged;
    }

    // 3. Consecutive failures of one package.
    let mut by_pkg: Vec<Failure> = Vec::with_capacity(merged.len());
    let mut current_pkg = String::new();
    for f in merged {
        let pkg = split_test_id(&f.test_id).0;
        if !current_pkg.is_empty() && current_pkg == pkg {
            merge_into(&mut by_pkg, f);
            continue;
        }
        current_pkg = pkg.to_owned();
        by_pkg.push(f);
    }

    // 4. The first few.
    by_pkg.truncate(MAX_FAIL_PER_BUILD);
    by_pkg
}

/// Whether failure `id` consumes the previously kept failure `prev` in step 1.
fn replaces(id: &str, prev: &str) -> bool {
    let (prev_pkg, prev_test) = split_test_id(prev);
    let child_of = |parent: &str, sep: char| {
        id.strip_prefix(parent)
            .is_some_and(|rest| rest.starts_with(sep))
    };
    (prev_test.is_empty() && child_of(prev_pkg, '.')) || child_of(prev, '/')
}

/// The (package, parent test) of a subtest's TestID; `None` when the test has no `/`.
fn subtest_parent(test_id: &str) -> Option<(String, String)> {
    let (pkg, test) = split_test_id(test_id);
    let (parent, _) = test.split_once('/')?;
    Some((pkg.to_owned(), parent.to_owned()))
}

/// Replaces the last kept failure by `f` when `f` is more likely useful.
fn merge_into(kept: &mut [Failure], f: Failure) {
    if let Some(last) = kept.last_mut()
        && more_likely_useful(&f, last)
    {
        *last = f;
    }
}

/// Whether `f` is a better representative than `kept`: its log has `--- FAIL` and either
/// `kept`'s has not, or `f`'s is longer.
pub fn more_likely_useful(f: &Failure, kept: &Failure) -> bool {
    f.log_text.contains("--- FAIL")
        && (!kept.log_text.contains("--- FAIL") || f.log_text.len() > kept.log_text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(test_id: &str, log: &str) -> Failure {
        Failure {
            test_id: test_id.to_owned(),
            log_text: log.to_owned(),
            ..Failure::default()
        }
    }

    fn ids(fs: &[Failure]) -> Vec<&str> {
        fs.iter().map(|f| f.test_id.as_str()).collect()
    }

    #[test]
    fn empty_and_single() {
        assert!(coalesce_failures(Vec::new()).is_empty());
        assert_eq!(ids(&coalesce_failures(vec![f("p.TestA", "")])), ["p.TestA"]);
    }

    #[test]
    fn chains_follow_the_last_replacement() {
        // p → p.TestA → p.TestA/x → p.TestA/x/y: one failure, the deepest.
        let out = coalesce_failures(vec![
            f("p", ""),
            f("p.TestA", ""),
            f("p.TestA/x", ""),
            f("p.TestA/x/y", "deep"),
            f("p.TestB", ""),
        ]);
        assert_eq!(ids(&out), ["p.TestA/x/y", "p.TestB"]);
        assert_eq!(out[0].log_text, "deep");
    }

    #[test]
    fn no_chain_without_separator() {
        // `p.TestAB` is not a subtest of `p.TestA`; `pkg` is not a parent of `pkgx.TestA`.
        let out = coalesce_failures(vec![f("p.TestA", ""), f("p.TestAB", "")]);
        assert_eq!(ids(&out), ["p.TestA", "p.TestAB"]);
        let out = coalesce_failures(vec![f("pkg", ""), f("pkgx.TestA", "")]);
        assert_eq!(ids(&out), ["pkg", "pkgx.TestA"]);
    }

    #[test]
    fn siblings_merge_only_when_over_the_limit() {
        let three = vec![f("p.TestA/x", ""), f("p.TestA/y", ""), f("p.TestA/z", "")];
        assert_eq!(coalesce_failures(three).len(), 3);
        let four = vec![
            f("p.TestA/x", "--- FAIL: long one"),
            f("p.TestA/y", "--- FAIL: short"),
            f("p.TestA/z", "no marker but very long text"),
            f("q.TestA/x", ""),
        ];
        let out = coalesce_failures(four);
        assert_eq!(ids(&out), ["p.TestA/x", "q.TestA/x"]);
    }

    #[test]
    fn package_merge_skips_empty_packages() {
        let out = coalesce_failures(vec![
            f(".TestA", ""),
            f(".TestB", ""),
            f("a.TestA", ""),
            f("a.TestB", "--- FAIL"),
            f("b.TestA", ""),
        ]);
        // The empty package never merges, so `a` merges and the first three are kept.
        assert_eq!(ids(&out), [".TestA", ".TestB", "a.TestB"]);
    }

    #[test]
    fn usefulness_preference() {
        let marked = f("a", "--- FAIL: x");
        let longer = f("a", "--- FAIL: xyz");
        let plain = f("a", "something much longer without the marker");
        assert!(more_likely_useful(&marked, &plain));
        assert!(!more_likely_useful(&plain, &marked));
        assert!(more_likely_useful(&longer, &marked));
        assert!(!more_likely_useful(&marked, &longer));
        assert!(!more_likely_useful(&marked, &marked.clone()));
    }
}

//! Splitting a ResultDB TestID into the `pkg` and `test` record fields.

/// The markers that start a test name inside a TestID, tried in this order.
const TEST_MARKERS: [&str; 3] = [".Test", ".Example", ".Benchmark"];

/// Splits a TestID such as `net/http.TestFoo/sub` into package and test name.
///
/// The cut is at the first `.Test`, else the first `.Example`, else the first `.Benchmark`;
/// the test keeps its prefix word. Without any of them the whole ID is the package and the
/// test is empty (a package-level failure such as `cmd/cgo/internal/test:auto-pie`).
pub fn split_test_id(test_id: &str) -> (&str, &str) {
    for marker in TEST_MARKERS {
        if let Some(at) = test_id.find(marker) {
            return (&test_id[..at], &test_id[at + 1..]);
        }
    }
    (test_id, "")
}

#[cfg(test)]
mod tests {
    use super::split_test_id;

    #[test]
    fn marker_priority_is_by_kind_not_position() {
        // `.Example` comes first in the text, but `.Test` is tried first.
        assert_eq!(split_test_id("p.ExampleA.TestB"), ("p.ExampleA", "TestB"));
        assert_eq!(
            split_test_id("p.BenchmarkA.ExampleB"),
            ("p.BenchmarkA", "ExampleB")
        );
    }

    #[test]
    fn package_level_and_edge_ids() {
        assert_eq!(split_test_id(""), ("", ""));
        assert_eq!(split_test_id("net"), ("net", ""));
        assert_eq!(split_test_id("p.FuzzX"), ("p.FuzzX", ""));
        assert_eq!(split_test_id("p.Test"), ("p", "Test"));
        assert_eq!(split_test_id("Test.TestX"), ("Test", "TestX"));
        assert_eq!(split_test_id("p.testX"), ("p.testX", ""));
        assert_eq!(split_test_id("é.Testé/ü"), ("é", "Testé/ü"));
    }

    proptest::proptest! {
        #[test]
        fn split_loses_only_the_separator_dot(id in "[a-zA-Z./:_]{0,24}") {
            let (pkg, test) = split_test_id(&id);
            if test.is_empty() {
                proptest::prop_assert_eq!(pkg, id.as_str());
            } else {
                proptest::prop_assert_eq!(format!("{pkg}.{test}"), id.clone());
                proptest::prop_assert!(
                    ["Test", "Example", "Benchmark"].iter().any(|p| test.starts_with(p))
                );
            }
        }
    }
}

//! Test failures as ResultDB reports them ([`Failure`], [`TestStatus`]) and the short forms
//! of their build's data that records and comments show.

use std::fmt;

/// A ResultDB test status (`rdbpb.TestStatus`); its name is the record's `status` field.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum TestStatus {
    /// `STATUS_UNSPECIFIED` (0).
    Unspecified,
    /// `PASS` (1).
    Pass,
    /// `FAIL` (2); the usual status, and the one the comment header leaves out.
    #[default]
    Fail,
    /// `CRASH` (3).
    Crash,
    /// `ABORT` (4).
    Abort,
    /// `SKIP` (5).
    Skip,
    /// A value this build does not know; named by its number, as Go's protobuf enums print.
    Other(i32),
}

impl TestStatus {
    /// The status for a protobuf enum number.
    pub fn from_number(n: i32) -> TestStatus {
        match n {
            0 => TestStatus::Unspecified,
            1 => TestStatus::Pass,
            2 => TestStatus::Fail,
            3 => TestStatus::Crash,
            4 => TestStatus::Abort,
            5 => TestStatus::Skip,
            other => TestStatus::Other(other),
        }
    }

    /// The status for its protobuf name (`FAIL`, `CRASH`, …) or, for [`TestStatus::Other`],
    /// its decimal number.
    pub fn from_name(name: &str) -> Option<TestStatus> {
        Some(match name {
            "STATUS_UNSPECIFIED" => TestStatus::Unspecified,
            "PASS" => TestStatus::Pass,
            "FAIL" => TestStatus::Fail,
            "CRASH" => TestStatus::Crash,
            "ABORT" => TestStatus::Abort,
            "SKIP" => TestStatus::Skip,
            other => TestStatus::from_number(other.parse().ok()?),
        })
    }

    /// The name Go's protobuf `String()` gives it.
    pub fn name(self) -> String {
        match self {
            TestStatus::Unspecified => "STATUS_UNSPECIFIED".to_owned(),
            TestStatus::Pass => "PASS".to_owned(),
            TestStatus::Fail => "FAIL".to_owned(),
            TestStatus::Crash => "CRASH".to_owned(),
            TestStatus::Abort => "ABORT".to_owned(),
            TestStatus::Skip => "SKIP".to_owned(),
            TestStatus::Other(n) => n.to_string(),
        }
    }
}

impl fmt::Display for TestStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// One failed test of a build, as ResultDB reports it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Failure {
    /// The ResultDB TestID (`net/http.TestFoo/sub`); empty for the dummy build failure.
    pub test_id: String,
    /// The test's status.
    pub status: TestStatus,
    /// The test's `output` artifact.
    pub log_text: String,
}

impl Failure {
    /// The dummy failure standing for a failed build without test failures: no TestID,
    /// status `FAIL`, and the log of the last failed step as its output.
    pub fn build_failure(step_log: &str) -> Failure {
        Failure {
            test_id: String::new(),
            status: TestStatus::Fail,
            log_text: step_log.to_owned(),
        }
    }
}

/// The LUCI page of a build, as watchflakes writes it (`https://ci.chromium.org/b/ID`).
pub fn build_url(build_id: i64) -> String {
    format!("https://ci.chromium.org/b/{build_id}")
}

/// The first 8 bytes of a commit hash, or all of it when shorter. (A hash is hex; should one
/// ever hold multi-byte characters, the cut moves back to a character boundary.)
pub fn short_hash(hash: &str) -> &str {
    &hash[..hash.floor_char_boundary(8)]
}

/// The package path without one leading `golang.org/` (`x/tools/gopls`).
pub fn short_pkg(pkg: &str) -> &str {
    pkg.strip_prefix("golang.org/").unwrap_or(pkg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_names_round_trip() {
        for n in -1..8 {
            let status = TestStatus::from_number(n);
            assert_eq!(TestStatus::from_name(&status.name()), Some(status));
        }
        assert_eq!(TestStatus::from_name("fail"), None);
        assert_eq!(short_hash("é1234567890"), "é123456");
        assert_eq!(short_hash("1234567é90"), "1234567");
        assert_eq!(short_pkg("golang.org/golang.org/x"), "golang.org/x");
    }
}

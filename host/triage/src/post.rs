//! The failure posts built from a failed build's failures: the record a script is matched
//! against (docs/language.md, "Fields") and the header and Markdown that comments show.

use std::fmt;
use std::sync::Arc;

use flakewatch_core::Timestamp;
use flakewatch_core::snippet::snippet;
use flakewatch_dsl::{Field, Record};

use crate::coalesce::coalesce_failures;
use crate::dashboard::BuildResult;
use crate::failure::{Failure, TestStatus, build_url, short_hash, short_pkg};
use crate::testid::split_test_id;

/// A failure to be matched against the issue scripts and possibly posted: the build's data
/// and the failure's, with the derived `pkg`, `test`, snippet and build URL.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FailurePost {
    /// Commit time.
    pub time: Timestamp,
    /// Builder name.
    pub builder: String,
    /// Repository of the builder (`go`, `tools`, …).
    pub repo: String,
    /// Go branch of the builder (`master`, `release-branch.go1.24`, …).
    pub go_branch: String,
    /// Target operating system.
    pub goos: String,
    /// Target architecture.
    pub goarch: String,
    /// The commit built (of `repo`).
    pub commit: String,
    /// For a subrepo build, the Go commit it used; otherwise empty.
    pub go_commit: String,
    /// The failure's TestID; empty for the dummy build failure.
    pub test_id: String,
    /// The failure's test status.
    pub status: TestStatus,
    /// The build's page (the de-duplication key).
    pub url: String,
    /// Package, from the TestID.
    pub pkg: String,
    /// Test name, from the TestID.
    pub test: String,
    /// The snippet of the output, or of the build log when that is empty.
    pub snippet: String,
    /// The test's output (the record's `output` and `""` fields).
    pub output: String,
    /// The whole-build log (the record's `log` field), shared by the build's failures.
    pub log: Arc<str>,
    /// Whether the build is a consistent failure at the tip of its builder.
    pub top: bool,
}

impl FailurePost {
    /// Builds the post for `failure` of `build` (`NewFailurePost` upstream).
    pub fn new(build: &BuildResult, failure: Failure) -> FailurePost {
        let (pkg, test) = split_test_id(&failure.test_id);
        let (pkg, test) = (pkg.to_owned(), test.to_owned());
        let mut snip = snippet(&failure.log_text);
        if snip.is_empty() {
            snip = snippet(&build.log_text);
        }
        FailurePost {
            time: build.time,
            builder: build.builder.clone(),
            repo: build.repo.clone(),
            go_branch: build.go_branch.clone(),
            goos: build.goos.clone(),
            goarch: build.goarch.clone(),
            commit: build.commit.clone(),
            go_commit: build.go_commit.clone(),
            test_id: failure.test_id,
            status: failure.status,
            url: build_url(build.id),
            pkg,
            test,
            snippet: snip,
            output: failure.log_text,
            log: Arc::clone(&build.log_text),
            top: build.top,
        }
    }

    /// Whether this is the dummy build failure (no TestID).
    pub fn is_build_failure(&self) -> bool {
        self.test_id.is_empty()
    }

    /// The record scripts are matched against. The bare-regexp field `""` is the `output`
    /// field itself in [`Record`]; `mode` is `build` only for the dummy build failure, and
    /// `section` is never set.
    pub fn record(&self) -> Record {
        let mut r = Record::new();
        r.set(Field::Pkg, self.pkg.as_str());
        r.set(Field::Test, self.test.as_str());
        r.set(Field::Output, self.output.as_str());
        r.set(Field::Snippet, self.snippet.as_str());
        r.set(Field::Date, self.time.format_rfc3339());
        r.set(Field::Builder, self.builder.as_str());
        r.set(Field::Repo, self.repo.as_str());
        r.set(Field::Goos, self.goos.as_str());
        r.set(Field::Goarch, self.goarch.as_str());
        r.set(Field::Log, &*self.log);
        r.set(Field::Status, self.status.name());
        if self.is_build_failure() {
            r.set(Field::Mode, "build");
        }
        r
    }

    /// The header identifying the failure in comments (`FailurePost.String` upstream):
    /// `YYYY-MM-DD HH:MM BUILDER REPO@HASH8[ go@GOHASH8][ SHORTPKG[.]TEST][ [build]][ [STATUS]]`.
    pub fn header(&self) -> String {
        let mut repo = self.repo.as_str();
        let mut go_sep = if self.go_commit.is_empty() {
            String::new()
        } else {
            " go@".to_owned()
        };
        if !self.go_branch.is_empty() && self.go_branch != "master" {
            // Upstream trims " release-branch." (with the leading space), which never applies.
            let branch = self
                .go_branch
                .strip_prefix(" release-branch.")
                .unwrap_or(&self.go_branch);
            if repo == "go" {
                repo = branch;
            }
            if !go_sep.is_empty() {
                go_sep = format!(" {branch}@");
            }
        }
        let mut s = format!(
            "{} {} {}@{}{}{}",
            self.time.format_minute(),
            self.builder,
            repo,
            short_hash(&self.commit),
            go_sep,
            short_hash(&self.go_commit)
        );
        if !self.pkg.is_empty() || !self.test.is_empty() {
            s.push(' ');
            s.push_str(short_pkg(&self.pkg));
            if !self.pkg.is_empty() && !self.test.is_empty() {
                s.push('.');
            }
            s.push_str(&self.test);
        }
        if self.is_build_failure() {
            s.push_str(" [build]");
        }
        if self.status != TestStatus::Fail {
            s.push_str(&format!(" [{}]", self.status));
        }
        s
    }

    /// The collapsible Markdown block a comment holds for this failure.
    pub fn markdown(&self) -> String {
        format!(
            "<details><summary>{} (<a href=\"{}\">log</a>)</summary>\n\n{}</details>\n",
            self.header(),
            self.url,
            indent("    ", &self.snippet)
        )
    }

    /// Plain text for interactive use: header, URL and snippet, each on its own line.
    pub fn text(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.header(),
            self.url,
            self.snippet.trim_end_matches('\n')
        )
    }
}

impl fmt::Display for FailurePost {
    /// Writes [`FailurePost::header`].
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.header())
    }
}

/// The posts of one failed build (docs/triage.md, "One cycle", step 5): its failures
/// coalesced to at most [`MAX_FAIL_PER_BUILD`](crate::coalesce::MAX_FAIL_PER_BUILD), or, when
/// it has none, one dummy build failure carrying the step log.
pub fn build_posts(build: &BuildResult) -> Vec<FailurePost> {
    let mut failures = coalesce_failures(build.failures.clone());
    if failures.is_empty() {
        failures.push(Failure::build_failure(&build.step_log_text));
    }
    failures
        .into_iter()
        .map(|f| FailurePost::new(build, f))
        .collect()
}

/// Indents every line of `text` by `prefix` (`indent` upstream).
///
/// Empty text stays empty. Otherwise trailing newlines are trimmed, every line gets the
/// prefix (blank lines too), and one `\n` ends the result.
pub fn indent(prefix: &str, text: &str) -> String {
    if text.is_empty() {
        return String::new();
    }
    let text = text.trim_end_matches('\n');
    let mut out = String::with_capacity(text.len() + prefix.len() * 4 + 1);
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(prefix);
        out.push_str(line);
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dashboard::BuildStatus;

    fn build() -> BuildResult {
        BuildResult {
            id: 8_700_000_000_000_000_001,
            status: BuildStatus::Failure,
            builder: "x_tools-gotip-linux-amd64".to_owned(),
            repo: "tools".to_owned(),
            go_branch: "master".to_owned(),
            goos: "linux".to_owned(),
            goarch: "amd64".to_owned(),
            commit: "0123456789abcdef".to_owned(),
            go_commit: "fedcba9876543210".to_owned(),
            time: Timestamp::parse_rfc3339("2025-03-04T05:06:07Z").expect("valid"),
            log_text: Arc::from("whole build log\n"),
            step_log_text: "step log\n".to_owned(),
            ..BuildResult::default()
        }
    }

    #[test]
    fn record_holds_every_field() {
        let post = FailurePost::new(
            &build(),
            Failure {
                test_id: "golang.org/x/tools/gopls.TestX/sub".to_owned(),
                status: TestStatus::Crash,
                log_text: "\n\n--- FAIL: TestX\n".to_owned(),
            },
        );
        let r = post.record();
        assert_eq!(r.get(Field::Pkg), "golang.org/x/tools/gopls");
        assert_eq!(r.get(Field::Test), "TestX/sub");
        assert_eq!(r.get(Field::Output), "\n\n--- FAIL: TestX\n");
        assert_eq!(r.get(Field::Snippet), "--- FAIL: TestX\n");
        assert_eq!(r.get(Field::Date), "2025-03-04T05:06:07Z");
        assert_eq!(r.get(Field::Builder), "x_tools-gotip-linux-amd64");
        assert_eq!(r.get(Field::Repo), "tools");
        assert_eq!(r.get(Field::Goos), "linux");
        assert_eq!(r.get(Field::Goarch), "amd64");
        assert_eq!(r.get(Field::Log), "whole build log\n");
        assert_eq!(r.get(Field::Status), "CRASH");
        assert_eq!(r.get(Field::Mode), "");
        assert_eq!(r.get(Field::Section), "");
        assert_eq!(post.url, "https://ci.chromium.org/b/8700000000000000001");
        assert_eq!(
            post.header(),
            "2025-03-04 05:06 x_tools-gotip-linux-amd64 tools@01234567 go@fedcba98 \
             x/tools/gopls.TestX/sub [CRASH]"
        );
    }

    #[test]
    fn build_without_failures_gets_a_dummy_post() {
        let posts = build_posts(&build());
        assert_eq!(posts.len(), 1);
        let post = &posts[0];
        assert!(post.is_build_failure());
        assert_eq!(post.output, "step log\n");
        assert_eq!(post.snippet, "step log\n");
        assert_eq!(post.record().get(Field::Mode), "build");
        assert_eq!(post.record().get(Field::Status), "FAIL");
        assert!(
            post.header()
                .ends_with("tools@01234567 go@fedcba98 [build]")
        );
    }

    #[test]
    fn snippet_falls_back_to_the_build_log() {
        let post = FailurePost::new(
            &build(),
            Failure {
                test_id: "p.TestA".to_owned(),
                status: TestStatus::Fail,
                log_text: " \n".to_owned(),
            },
        );
        assert_eq!(post.snippet, "whole build log\n");
        assert_eq!(
            post.text(),
            "2025-03-04 05:06 x_tools-gotip-linux-amd64 tools@01234567 go@fedcba98 p.TestA\n\
             https://ci.chromium.org/b/8700000000000000001\nwhole build log\n"
        );
    }

    #[test]
    fn header_branch_rules() {
        let mut post = FailurePost {
            time: Timestamp::UNIX_EPOCH,
            builder: "b".to_owned(),
            repo: "go".to_owned(),
            go_branch: "release-branch.go1.24".to_owned(),
            commit: "abc".to_owned(),
            test_id: ".TestX".to_owned(),
            test: "TestX".to_owned(),
            status: TestStatus::Other(9),
            ..FailurePost::default()
        };
        // Main repo on a branch: the repo becomes the branch; a short hash stays whole.
        assert_eq!(
            post.header(),
            "1970-01-01 00:00 b release-branch.go1.24@abc TestX [9]"
        );
        // Subrepo on a branch: the Go commit is tagged with the branch.
        post.repo = "net".to_owned();
        post.go_commit = "123456789".to_owned();
        post.status = TestStatus::Fail;
        assert_eq!(
            post.header(),
            "1970-01-01 00:00 b net@abc release-branch.go1.24@12345678 TestX"
        );
        // An empty branch counts as master.
        post.go_branch.clear();
        assert_eq!(
            post.header(),
            "1970-01-01 00:00 b net@abc go@12345678 TestX"
        );
    }
}

//! Clustering before filing: the failures no script claimed, grouped into one new issue per
//! cluster instead of upstream's one per test, each cluster with a generated pattern that the
//! engine re-checks against every failure of the cycle (docs/triage.md, "New issues").
//!
//! Upstream files one issue per *key* (a test, a package-level failure, a builder's build
//! failure; the rows of [`NewIssue::for_failure`]). Keys are merged into a cluster when
//!
//! * they are tests of one **family**: the same top-level test (`TestFoo`, `TestFoo/a`,
//!   `TestFoo/b/c`) in one package or in its `go test -cpu` variants (`runtime`,
//!   `runtime:cpu1,2,4`): upstream files one issue per subtest (golang/go#76587);
//! * they are **build failures with one reason**: the first line of the failed step's output
//!   that reads as an error, with numbers, hexadecimal and hashes masked, on any builder.
//!
//! A cluster of several keys gets a pattern built from its members (`pkg == … && test ~
//! ^TestFoo(/|$)`, or `mode == "build" && output ~ …`). Before it is used, every generated
//! pattern is run by the engine over **every** failure of the cycle, owned or not: it must
//! match each member and nothing else. A cluster whose pattern does not is split back into
//! its keys, which get upstream's patterns, so the result is never less exact than upstream's.

use std::collections::{BTreeMap, HashMap};

use flakewatch_dsl::{Limits, parse_script_with};

use crate::engine::{Engine, EngineKind};
use crate::failure::short_pkg;
use crate::post::{FailurePost, indent};
use crate::text::{NEW_ISSUE_MARKER, NewIssue, NewIssueError, go_quote};
use flakewatch_jit::JitError;

/// How failures no script claims become new issues (`triage --new-issues`).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum NewIssueMode {
    /// One issue per cluster of related failures, with a pattern checked by the engine.
    #[default]
    Clustered,
    /// Upstream's behaviour: one issue per test, package or builder, at most one per build
    /// and cycle (the build's other unclaimed failures wait for the next cycle).
    Upstream,
}

impl NewIssueMode {
    /// Every mode, in documentation order.
    pub const ALL: [NewIssueMode; 2] = [NewIssueMode::Clustered, NewIssueMode::Upstream];

    /// The name on the command line: `clustered`, `upstream`.
    pub fn name(self) -> &'static str {
        match self {
            NewIssueMode::Clustered => "clustered",
            NewIssueMode::Upstream => "upstream",
        }
    }

    /// The mode called `name`.
    pub fn from_name(name: &str) -> Option<NewIssueMode> {
        NewIssueMode::ALL.into_iter().find(|m| m.name() == name)
    }
}

/// The unit upstream files one issue for (the case split of [`NewIssue::for_failure`]).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Key {
    /// A failure with a package: its package and test (empty for a package-level failure).
    Test {
        /// Package.
        pkg: String,
        /// Test, with subtests.
        test: String,
    },
    /// A test without a package, in a repository.
    RepoTest {
        /// Repository.
        repo: String,
        /// Test.
        test: String,
    },
    /// A build failure, or an unrecognised failure, of a builder in a repository.
    Builder {
        /// Builder.
        builder: String,
        /// Repository.
        repo: String,
        /// Whether it is a build failure (`mode == "build"`).
        build: bool,
    },
}

impl Key {
    /// The key of a failure.
    pub fn of(post: &FailurePost) -> Key {
        if !post.pkg.is_empty() {
            Key::Test {
                pkg: post.pkg.clone(),
                test: post.test.clone(),
            }
        } else if !post.test.is_empty() {
            Key::RepoTest {
                repo: post.repo.clone(),
                test: post.test.clone(),
            }
        } else {
            Key::Builder {
                builder: post.builder.clone(),
                repo: post.repo.clone(),
                build: post.is_build_failure(),
            }
        }
    }
}

/// What merges keys into one cluster.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Family {
    /// Tests of one top-level test in one package (up to `-cpu` variants).
    Tests { base_pkg: String, parent: String },
    /// Build failures with one masked reason.
    BuildReason(String),
    /// Not merged with anything: the key alone.
    Alone(Key),
}

/// The longest reason line a build-failure cluster is made from, in bytes.
const MAX_REASON_BYTES: usize = 240;

/// The family of a failure.
fn family(post: &FailurePost, key: &Key) -> Family {
    match key {
        Key::Test { pkg, test } if !test.is_empty() => Family::Tests {
            base_pkg: base_package(pkg).to_owned(),
            parent: parent_test(test).to_owned(),
        },
        Key::Builder { build: true, .. } => match reason_line(&post.output) {
            Some(line) => Family::BuildReason(Masked::of(line).signature),
            None => Family::Alone(key.clone()),
        },
        _ => Family::Alone(key.clone()),
    }
}

/// The package without the `go test -cpu` variant suffix the Go dashboard adds
/// (`runtime:cpu1,2,4` → `runtime`).
pub fn base_package(pkg: &str) -> &str {
    pkg.split_once(':').map_or(pkg, |(base, _)| base)
}

/// The top-level test of a (sub)test name (`TestFoo/a/b` → `TestFoo`).
pub fn parent_test(test: &str) -> &str {
    test.split_once('/').map_or(test, |(parent, _)| parent)
}

/// Words that make a line of a failed step's output read as its reason.
const REASON_WORDS: [&str; 11] = [
    "error",
    "Error",
    "ERROR",
    "FAILED",
    "failed",
    "fatal",
    "panic:",
    "killed",
    "timed out",
    "cannot ",
    "undefined:",
];

/// The reason of a failed step: its first line that reads as an error (not a `#` header),
/// trimmed; `None` when there is none or it is too long to make a pattern of.
pub fn reason_line(output: &str) -> Option<&str> {
    output
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .find(|line| REASON_WORDS.iter().any(|w| line.contains(w)))
        .filter(|line| line.len() <= MAX_REASON_BYTES)
}

/// A line with its variable parts masked: numbers, `0x` hexadecimal, and long hex words
/// (hashes, addresses). `signature` groups lines; `regexp` matches every line of the group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Masked {
    /// The line with `N`, `0xH` and `H` for the masked parts.
    pub signature: String,
    /// A Go (RE2) regexp, without anchors, matching the line and every line with the same
    /// signature.
    pub regexp: String,
}

impl Masked {
    /// Masks `line`.
    pub fn of(line: &str) -> Masked {
        let bytes = line.as_bytes();
        let mut signature = String::new();
        let mut regexp = String::new();
        let mut i = 0;
        while i < line.len() {
            let rest = &line[i..];
            let word_start = i == 0 || !is_word_byte(bytes[i - 1]);
            if word_start && rest.starts_with("0x") && hex_len(&rest[2..]) > 0 {
                let n = 2 + hex_len(&rest[2..]);
                signature.push_str("0xH");
                regexp.push_str("0x[0-9a-fA-F]+");
                i += n;
            } else if word_start && is_hash_word(rest) {
                let n = hex_len(rest);
                signature.push('H');
                regexp.push_str("[0-9a-f]+");
                i += n;
            } else if bytes[i].is_ascii_digit() {
                let n = rest.bytes().take_while(u8::is_ascii_digit).count();
                signature.push('N');
                regexp.push_str("[0-9]+");
                i += n;
            } else {
                let c = rest.chars().next().unwrap_or_default();
                signature.push(c);
                push_literal(&mut regexp, c);
                i += c.len_utf8();
            }
        }
        Masked { signature, regexp }
    }
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn hex_len(s: &str) -> usize {
    s.bytes().take_while(u8::is_ascii_hexdigit).count()
}

/// A run of at least 8 lowercase hex digits with a digit and a letter, ending a word.
fn is_hash_word(s: &str) -> bool {
    let n = s
        .bytes()
        .take_while(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b))
        .count();
    n >= 8
        && s.as_bytes().get(n).is_none_or(|&b| !is_word_byte(b))
        && s[..n].bytes().any(|b| b.is_ascii_digit())
        && s[..n].bytes().any(|b| b.is_ascii_alphabetic())
}

/// Appends `c` to a Go regexp inside a backquoted literal, matching itself: ASCII
/// punctuation escaped (Go accepts `\` before any), the backquote and control characters as
/// `\x{…}` (a backquoted literal cannot hold them).
fn push_literal(out: &mut String, c: char) {
    if c == '`' || c.is_control() {
        out.push_str(&format!("\\x{{{:x}}}", u32::from(c)));
    } else if c.is_ascii_punctuation() {
        out.push('\\');
        out.push(c);
    } else {
        out.push(c);
    }
}

/// `s` as a Go regexp matching exactly itself.
pub fn quote_meta(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        push_literal(&mut out, c);
    }
    out
}

/// One new issue of a clustered cycle.
#[derive(Clone, Debug)]
pub struct Cluster {
    /// Its text.
    pub new: NewIssue,
    /// The keys it stands for (one for an upstream-style issue).
    pub keys: Vec<Key>,
    /// Its failures: indices into the failures given to [`cluster`], in order.
    pub members: Vec<usize>,
}

/// What went wrong while clustering.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The generated patterns could not be compiled (a flakewatch bug).
    #[error("compiling the generated cluster patterns: {0}")]
    Engine(#[from] JitError),
    /// A generated issue body does not give back its script (a flakewatch bug).
    #[error("new issue {title:?}: {source}")]
    NewIssue {
        /// The issue's title.
        title: String,
        /// What went wrong.
        source: NewIssueError,
    },
}

/// Groups the failures at `unowned` (indices into `all`, every failure of the cycle in
/// processing order) into clusters, one new issue each, in order of their first failure.
/// Every unowned failure is in exactly one cluster; each cluster's pattern matches all its
/// members and no other unowned failure. It may match failures that existing issues own:
/// its rule is a `default` in an issue numbered after all of them, so it takes none of those
/// (a `post` anywhere, or an earlier `default`, wins over it).
pub fn cluster(
    all: &[&FailurePost],
    unowned: &[usize],
    engine: EngineKind,
    limits: Limits,
) -> Result<Vec<Cluster>, ClusterError> {
    // Keys in order of first failure, grouped by family.
    let mut key_members: BTreeMap<Key, Vec<usize>> = BTreeMap::new();
    let mut key_order: Vec<Key> = Vec::new();
    for &i in unowned {
        let key = Key::of(all[i]);
        let members = key_members.entry(key.clone()).or_default();
        if members.is_empty() {
            key_order.push(key);
        }
        members.push(i);
    }
    let mut families: Vec<(Family, Vec<Key>)> = Vec::new();
    let mut family_index: HashMap<Family, usize> = HashMap::new();
    for key in key_order {
        let first = all[key_members[&key][0]];
        let fam = family(first, &key);
        let at = *family_index.entry(fam.clone()).or_insert_with(|| {
            families.push((fam, Vec::new()));
            families.len() - 1
        });
        families[at].1.push(key);
    }

    // Candidates: a generated pattern for every family of several keys.
    let mut candidates: Vec<(Vec<Key>, NewIssue)> = Vec::new();
    let mut clusters: Vec<Cluster> = Vec::new();
    for (fam, keys) in families {
        let members = merged_members(&keys, &key_members);
        let generated = match (&fam, keys.len()) {
            (_, 1) | (Family::Alone(_), _) => None,
            (Family::Tests { base_pkg, parent }, _) => {
                Some(tests_issue(all, &members, base_pkg, parent))
            }
            (Family::BuildReason(_), _) => build_issue(all, &members),
        };
        match generated {
            Some(new) => candidates.push((keys, new)),
            None => clusters.extend(upstream_issues(all, &keys, &key_members)?),
        }
    }

    // Re-check every generated pattern over every failure of the cycle: among the unowned
    // ones it must match exactly its members (what existing issues own stays theirs, see
    // above; `post` here only makes the checker report every pattern that matches).
    let scripts: Vec<String> = candidates
        .iter()
        .map(|(_, new)| format!("post <- {}\n", new.pattern))
        .collect();
    let parsed: Vec<_> = scripts
        .iter()
        .map(|s| parse_script_with(s, &limits))
        .collect();
    let (checker, _) = Engine::build(
        engine,
        parsed
            .iter()
            .enumerate()
            .map(|(n, p)| (n as u64, p.is_ok().then_some(&p.script))),
        limits,
    )?;
    let mut matched: Vec<Vec<usize>> = vec![Vec::new(); candidates.len()];
    if !candidates.is_empty() {
        let mut is_unowned = vec![false; all.len()];
        for &i in unowned {
            is_unowned[i] = true;
        }
        let mut scratch = checker.scratch();
        for (i, post) in all.iter().enumerate() {
            if !is_unowned[i] {
                continue;
            }
            if let flakewatch_dsl::Assignment::Post(targets) =
                checker.assign(&post.record(), &mut scratch)
            {
                for t in targets {
                    matched[t].push(i);
                }
            }
        }
    }
    for ((keys, new), matched) in candidates.into_iter().zip(matched) {
        let members = merged_members(&keys, &key_members);
        if matched == members && new.verify_script().is_ok() {
            clusters.push(Cluster { new, keys, members });
        } else {
            clusters.extend(upstream_issues(all, &keys, &key_members)?);
        }
    }
    clusters.sort_by_key(|c| c.members[0]);
    Ok(clusters)
}

/// The failures of `keys`, in processing order.
fn merged_members(keys: &[Key], key_members: &BTreeMap<Key, Vec<usize>>) -> Vec<usize> {
    let mut members: Vec<usize> = keys.iter().flat_map(|k| &key_members[k]).copied().collect();
    members.sort_unstable();
    members
}

/// Upstream's issue for each key.
fn upstream_issues(
    all: &[&FailurePost],
    keys: &[Key],
    key_members: &BTreeMap<Key, Vec<usize>>,
) -> Result<Vec<Cluster>, ClusterError> {
    keys.iter()
        .map(|key| {
            let members = key_members[key].clone();
            let new =
                NewIssue::prepare(all[members[0]]).map_err(|source| ClusterError::NewIssue {
                    title: NewIssue::for_failure(all[members[0]]).title,
                    source,
                })?;
            Ok(Cluster {
                new,
                keys: vec![key.clone()],
                members,
            })
        })
        .collect()
}

/// Distinct values in first-seen order.
fn distinct<'a>(values: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut out: Vec<&str> = Vec::new();
    for v in values {
        if !out.contains(&v) {
            out.push(v);
        }
    }
    out
}

/// `field == "a"`, or `(field == "a" || field == "b")`.
fn any_of(field: &str, values: &[&str]) -> String {
    let terms: Vec<String> = values
        .iter()
        .map(|v| format!("{field} == {}", go_quote(v)))
        .collect();
    if terms.len() == 1 {
        terms.into_iter().next().unwrap_or_default()
    } else {
        format!("({})", terms.join(" || "))
    }
}

/// The issue of a test family.
fn tests_issue(all: &[&FailurePost], members: &[usize], base_pkg: &str, parent: &str) -> NewIssue {
    let mut pkgs = distinct(members.iter().map(|&i| all[i].pkg.as_str()));
    pkgs.sort_unstable();
    let tests = distinct(members.iter().map(|&i| all[i].test.as_str()));
    let test_term = if tests.len() == 1 {
        format!("test == {}", go_quote(tests[0]))
    } else {
        format!("test ~ `^{}(/|$)`", quote_meta(parent))
    };
    let pattern = format!("{} && {test_term}", any_of("pkg", &pkgs));
    let what = if tests.len() == 1 {
        parent.to_owned()
    } else {
        format!("{parent} ({} subtests)", tests.len())
    };
    let title = format!("{}: {what} failures", short_pkg(base_pkg));
    let extent = format!(
        "This issue collects {} failures of {} tests: {}.",
        members.len(),
        tests.len(),
        list(&tests)
    );
    issue(all[members[0]], title, pattern, &extent)
}

/// The issue of build failures with one reason, or `None` when the members' reasons do
/// not give one regexp.
fn build_issue(all: &[&FailurePost], members: &[usize]) -> Option<NewIssue> {
    let reason = reason_line(&all[members[0]].output)?;
    let masked = Masked::of(reason);
    let mut repos = distinct(members.iter().map(|&i| all[i].repo.as_str()));
    repos.sort_unstable();
    let builders = distinct(members.iter().map(|&i| all[i].builder.as_str()));
    let pattern = format!(
        "{} && mode == \"build\" && output ~ `{}`",
        any_of("repo", &repos),
        masked.regexp
    );
    let shown: String = masked.signature.chars().take(80).collect();
    let title = format!("build: {shown} on {} builders", builders.len());
    let extent = format!(
        "This issue collects {} build failures of {} builders: {}.",
        members.len(),
        builders.len(),
        list(&builders)
    );
    Some(issue(all[members[0]], title, pattern, &extent))
}

/// At most 10 names, in backquotes.
fn list(names: &[&str]) -> String {
    let mut shown: Vec<String> = names.iter().take(10).map(|n| format!("`{n}`")).collect();
    if names.len() > 10 {
        shown.push(format!("and {} more", names.len() - 10));
    }
    shown.join(", ")
}

/// A body in upstream's layout (script, marker sentence, example), with a line on what the
/// cluster holds.
fn issue(example: &FailurePost, title: String, pattern: String, extent: &str) -> NewIssue {
    let body = format!(
        "```\n#!watchflakes\ndefault <- {pattern}\n```\n\n{NEW_ISSUE_MARKER}\n\n{extent}\n\n\
         Example ([log]({})):\n\n{}",
        example.url,
        indent("    ", &example.snippet)
    );
    NewIssue {
        title,
        pattern,
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_failure(pkg: &str, test: &str, url: &str) -> FailurePost {
        FailurePost {
            builder: "gotip-linux-amd64".into(),
            repo: "go".into(),
            test_id: format!("{pkg}.{test}"),
            pkg: pkg.into(),
            test: test.into(),
            url: url.into(),
            output: format!("--- FAIL: {test}\n"),
            snippet: format!("--- FAIL: {test}\n"),
            ..FailurePost::default()
        }
    }

    fn build_failure(builder: &str, repo: &str, output: &str) -> FailurePost {
        FailurePost {
            builder: builder.into(),
            repo: repo.into(),
            url: format!("https://ci.chromium.org/b/{}", builder.len()),
            output: output.into(),
            snippet: output.into(),
            ..FailurePost::default()
        }
    }

    fn run(all: &[FailurePost], unowned: &[usize]) -> Vec<Cluster> {
        let refs: Vec<&FailurePost> = all.iter().collect();
        cluster(&refs, unowned, EngineKind::Jit, Limits::DEFAULT).expect("clusters")
    }

    #[test]
    fn masking_keeps_words_and_hides_numbers_and_hashes() {
        let m = Masked::of("alloc 4194304 bytes at 0xc000123 in 3f9a1c2be0 (v1.2)");
        assert_eq!(m.signature, "alloc N bytes at 0xH in H (vN.N)");
        assert_eq!(
            m.regexp,
            "alloc [0-9]+ bytes at 0x[0-9a-fA-F]+ in [0-9a-f]+ \\(v[0-9]+\\.[0-9]+\\)"
        );
        assert_eq!(quote_meta("a`b.c"), "a\\x{60}b\\.c");
    }

    #[test]
    fn subtests_of_one_parent_and_its_cpu_variants_are_one_issue() {
        let all = vec![
            test_failure("net/http", "TestServe/h1", "u1"),
            test_failure("net/http", "TestServe/h2", "u2"),
            test_failure("net/http:cpu1,2", "TestServe", "u3"),
            test_failure("net/http", "TestServeFile", "u4"),
            test_failure("net/http", "TestOther", "u5"),
        ];
        let clusters = run(&all, &[0, 1, 2, 3]);
        assert_eq!(clusters.len(), 2, "{clusters:#?}");
        assert_eq!(clusters[0].members, vec![0, 1, 2]);
        assert_eq!(
            clusters[0].new.pattern,
            "(pkg == \"net/http\" || pkg == \"net/http:cpu1,2\") && test ~ `^TestServe(/|$)`"
        );
        assert_eq!(
            clusters[0].new.title,
            "net/http: TestServe (3 subtests) failures"
        );
        // TestServeFile is its own family: the pattern's `(/|$)` keeps it out.
        assert_eq!(clusters[1].members, vec![3]);
        assert_eq!(
            clusters[1].new.pattern,
            "pkg == \"net/http\" && test == \"TestServeFile\""
        );
    }

    #[test]
    fn a_family_pattern_may_match_owned_failures_but_not_other_unowned_ones() {
        // u3 is owned (not in `unowned`) and a subtest of the same parent: the family's
        // `default` rule matches it, but its owner keeps it, so the family is one issue.
        let all = vec![
            test_failure("os", "TestRead/a", "u1"),
            test_failure("os", "TestRead/b", "u2"),
            test_failure("os", "TestRead/c", "u3"),
        ];
        let clusters = run(&all, &[0, 1]);
        assert_eq!(clusters.len(), 1, "{clusters:#?}");
        assert_eq!(clusters[0].members, [0, 1]);
        assert_eq!(
            clusters[0].new.pattern,
            "pkg == \"os\" && test ~ `^TestRead(/|$)`"
        );
        // A build reason whose regexp also matches another family's unowned failure (one
        // whose first reason line is another) is split back into upstream's issues.
        let oom = "compile: internal error: out of memory allocating 12 bytes\n";
        let all = vec![
            build_failure("gotip-linux-386", "go", oom),
            build_failure("gotip-linux-arm64", "go", oom),
            build_failure(
                "gotip-linux-amd64",
                "go",
                &format!("link: fatal error: bad relocation\n{oom}"),
            ),
        ];
        let clusters = run(&all, &[0, 1, 2]);
        let patterns: Vec<&str> = clusters.iter().map(|c| c.new.pattern.as_str()).collect();
        assert_eq!(
            patterns,
            [
                "builder == \"gotip-linux-386\" && repo == \"go\" && mode == \"build\"",
                "builder == \"gotip-linux-arm64\" && repo == \"go\" && mode == \"build\"",
                "builder == \"gotip-linux-amd64\" && repo == \"go\" && mode == \"build\"",
            ]
        );
    }

    #[test]
    fn build_failures_with_one_reason_on_several_builders_are_one_issue() {
        let oom = |n: u32| {
            format!(
                "# b\ncompile: internal error: out of memory allocating {n} bytes\nbuild failed\n"
            )
        };
        let all = vec![
            build_failure("gotip-linux-386", "go", &oom(4194304)),
            build_failure("gotip-openbsd-amd64", "go", &oom(8192)),
            build_failure("x_tools-gotip-linux-amd64", "tools", &oom(12)),
            build_failure(
                "gotip-windows-arm64",
                "go",
                "link: fatal error: bad relocation\n",
            ),
        ];
        let clusters = run(&all, &[0, 1, 2, 3]);
        assert_eq!(clusters.len(), 2, "{clusters:#?}");
        assert_eq!(clusters[0].members, vec![0, 1, 2]);
        assert_eq!(
            clusters[0].new.pattern,
            "(repo == \"go\" || repo == \"tools\") && mode == \"build\" && output ~ \
             `compile\\: internal error\\: out of memory allocating [0-9]+ bytes`"
        );
        assert!(clusters[0].new.title.starts_with(
            "build: compile: internal error: out of memory allocating N bytes on 3 builders"
        ));
        assert_eq!(
            clusters[1].new.pattern,
            "builder == \"gotip-windows-arm64\" && repo == \"go\" && mode == \"build\""
        );
        for c in &clusters {
            c.new
                .verify_script()
                .expect("the body gives back its script");
        }
    }

    #[test]
    fn modes_have_names() {
        for mode in NewIssueMode::ALL {
            assert_eq!(NewIssueMode::from_name(mode.name()), Some(mode));
        }
        assert_eq!(NewIssueMode::default(), NewIssueMode::Clustered);
    }
}

//! Sharded triage cycles (docs/triage.md, "Sharding"): N stateless workers each examine one
//! share of a cycle's failed builds ([`examine`]) and write it as a shard file; one merger
//! reads the files back ([`ShardPart::read`]), checks that they are the whole cycle and still
//! fit the tracker ([`Merged`]), and plans the cycle from them exactly as an unsharded run
//! would ([`plan_merged`]).
//!
//! A share is chosen per failed build by a stable hash of its URL, after the obvious-flake
//! filter has seen every dashboard whole: each worker reads the whole failure source (the
//! filter needs the passing builds around a failure), then coalesces, builds the records of,
//! and assigns over the existing issues only the failures of its own builds. Each build
//! carries its position in the cycle's processing order, so the merger puts the builds back
//! in that order without re-sorting anything.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, BufRead, Write};
use std::str::FromStr;
use std::sync::Arc;

use flakewatch_core::Timestamp;
use flakewatch_core::jsonl::{LineError, lines};
use flakewatch_dsl::{Assignment, Limits};
use serde::{Deserialize, Serialize};

use crate::backend::{FailureSource, Issue, IssueTracker};
use crate::engine::EngineKind;
use crate::failure::{TestStatus, build_url};
use crate::post::{FailurePost, build_posts};
use crate::run::{
    self, Examined, FilteredBuild, PlanStats, TriageError, TriageOptions, TriagePlan,
};
use crate::source::AssemblyStats;

/// The schema name of a shard file's first line.
pub const SCHEMA: &str = "flakewatch.triage-shard/1";

/// The longest line a shard file may hold (a build line carries the build's log and the
/// outputs of up to three failures).
pub const MAX_LINE: usize = 1 << 30;

/// The flakewatch version that writes and reads shard files: the examination may change
/// between versions, so a merger reads only files of its own version.
const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Why shard files cannot be written, read or merged.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    /// `I/N` text that is not a share.
    #[error("{text:?}: expected I/N with 1 <= I <= N, such as 2/8")]
    Spec {
        /// The text given.
        text: String,
    },
    /// A line of a shard file could not be read.
    #[error(transparent)]
    Line(#[from] LineError),
    /// The file is not a shard file of this schema.
    #[error("{file}:1: not a triage shard file (schema {found:?}; expected {SCHEMA:?})")]
    Schema {
        /// The file.
        file: String,
        /// The schema it names (empty when none).
        found: String,
    },
    /// The file was written by another flakewatch version.
    #[error(
        "{file}: written by flakewatch {found}, read by {VERSION}; examine the shares with the \
         merger's version"
    )]
    Version {
        /// The file.
        file: String,
        /// The version that wrote it.
        found: String,
    },
    /// The file ends before all the builds its first line announces.
    #[error("{file}: {expected} builds announced, {found} read: the file is cut short")]
    Truncated {
        /// The file.
        file: String,
        /// Builds announced.
        expected: usize,
        /// Builds read.
        found: usize,
    },
    /// No shard file was given.
    #[error("no shard files to merge")]
    NoFiles,
    /// Two files are shares of different partitions.
    #[error(
        "{file} is share {shard} but {first} is share {first_shard}: all shares must be of one partition"
    )]
    Partition {
        /// The file.
        file: String,
        /// Its share.
        shard: Shard,
        /// The first file.
        first: String,
        /// The first file's share.
        first_shard: Shard,
    },
    /// Two files are the same share.
    #[error("{file} and {first} are both share {shard}")]
    Duplicate {
        /// The file.
        file: String,
        /// The other file.
        first: String,
        /// The share.
        shard: Shard,
    },
    /// Shares are missing.
    #[error("share{} {} of {count} missing: a merge needs every share", if missing.len() > 1 { "s" } else { "" }, join(missing))]
    Missing {
        /// The missing share indices (1-based).
        missing: Vec<u32>,
        /// The number of shares.
        count: u32,
    },
    /// Two files were examined in different cycles (another window, engine, limits, issue
    /// set or failure source).
    #[error("{file} and {first} were examined with different {what}: re-run every share")]
    Inconsistent {
        /// The file.
        file: String,
        /// The first file.
        first: String,
        /// What differs.
        what: &'static str,
    },
    /// A build line of a file is not a build of the file's share, or not one of the cycle.
    #[error("{file}:{line}: {message}")]
    BadBuild {
        /// The file.
        file: String,
        /// The line (1-based).
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The builds of the shares, each in its place, are not the processing order the files
    /// announce (a file was edited or put together from others).
    #[error(
        "the builds of the shares do not make the cycle's processing order of {total} failed \
         builds that their first lines announce"
    )]
    Order {
        /// The failed builds of the cycle.
        total: usize,
    },
    /// The merger's window is not the shards'.
    #[error(
        "the shards were examined for the window since {shards}, the merger's --now gives {merger}; \
         give the merger the workers' --now (or none)"
    )]
    Window {
        /// The shards' window start.
        shards: String,
        /// The merger's.
        merger: String,
    },
    /// The merger's engine or limits are not the shards'.
    #[error("the shards were examined with {shards}, the merger runs with {merger}")]
    Options {
        /// The shards' setting.
        shards: String,
        /// The merger's.
        merger: String,
    },
    /// The tracker's issues are no longer those the shards were examined against.
    #[error("the issues changed since the shards were examined: {change}; re-run every share")]
    IssuesChanged {
        /// The first difference, in words (`issue #105 was edited`).
        change: String,
    },
    /// A single build (`--build`) is not sharded.
    #[error("a cycle of one build (--build) is not sharded")]
    OneBuild,
    /// The cycle itself failed (a backend, the scripts' compilation, a new issue).
    #[error(transparent)]
    Triage(#[from] TriageError),
}

/// `a, b and c`.
fn join(items: &[u32]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => {
            let rest: Vec<String> = rest.iter().map(u32::to_string).collect();
            format!("{} and {last}", rest.join(", "))
        }
    }
}

/// One share of a sharded cycle: `index` of `count`, 1-based.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Shard {
    index: u32,
    count: u32,
}

impl Shard {
    /// Share `index` of `count` (1 <= index <= count).
    pub fn new(index: u32, count: u32) -> Result<Shard, ShardError> {
        if index == 0 || index > count {
            return Err(ShardError::Spec {
                text: format!("{index}/{count}"),
            });
        }
        Ok(Shard { index, count })
    }

    /// The share's index, 1-based.
    pub fn index(self) -> u32 {
        self.index
    }

    /// The number of shares.
    pub fn count(self) -> u32 {
        self.count
    }

    /// Whether the failed build at `url` belongs to this share.
    pub fn holds(self, url: &str) -> bool {
        share_of(url, self.count) == self.index
    }
}

impl fmt::Display for Shard {
    /// `I/N`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = ShardError;

    /// Parses `I/N` (`2/8`).
    fn from_str(text: &str) -> Result<Shard, ShardError> {
        let spec = || ShardError::Spec {
            text: text.to_owned(),
        };
        let (i, n) = text.split_once('/').ok_or_else(spec)?;
        let index = i.trim().parse().map_err(|_| spec())?;
        let count = n.trim().parse().map_err(|_| spec())?;
        Shard::new(index, count).map_err(|_| spec())
    }
}

/// The share (1-based, of `count`) of the failed build at `url`: FNV-1a (64-bit) of the URL's
/// bytes, modulo `count`, plus one. Stable across runs, machines and versions.
pub fn share_of(url: &str, count: u32) -> u32 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in url.as_bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    // The remainder is below `count`, a u32.
    (hash % u64::from(count.max(1))) as u32 + 1
}

/// FNV-1a (128-bit): the digests of issue bodies and of the processing order. They detect
/// accidental differences between shards and the tracker; they are no defence against
/// someone forging a shard file.
#[derive(Clone, Copy)]
struct Fnv128(u128);

impl Fnv128 {
    fn new() -> Fnv128 {
        Fnv128(0x6c62_272e_07bb_0142_62b8_2175_6295_c58d)
    }

    fn bytes(&mut self, bytes: &[u8]) -> &mut Fnv128 {
        for &byte in bytes {
            self.0 ^= u128::from(byte);
            self.0 = self
                .0
                .wrapping_mul(0x0000_0000_0100_0000_0000_0000_0000_013b);
        }
        self
    }

    /// A string followed by a byte no UTF-8 text holds, so that `("ab","c")` and
    /// `("a","bc")` differ.
    fn text(&mut self, text: &str) -> &mut Fnv128 {
        self.bytes(text.as_bytes()).bytes(&[0xff])
    }

    fn hex(self) -> String {
        format!("{:032x}", self.0)
    }
}

/// The issues a cycle assigns over: number and body digest of each, sorted by number.
fn issue_fingerprint(issues: &[Issue]) -> Vec<(u64, String)> {
    issues
        .iter()
        .map(|i| (i.number, Fnv128::new().text(&i.body).hex()))
        .collect()
}

/// The first difference between the shards' issues and the tracker's, in words.
fn issue_change(shards: &[(u64, String)], tracker: &[(u64, String)]) -> Option<String> {
    let old: BTreeMap<u64, &str> = shards.iter().map(|(n, d)| (*n, d.as_str())).collect();
    let new: BTreeMap<u64, &str> = tracker.iter().map(|(n, d)| (*n, d.as_str())).collect();
    for (number, digest) in &new {
        match old.get(number) {
            None => return Some(format!("issue #{number} is new")),
            Some(before) if before != digest => {
                return Some(format!("the body of issue #{number} was edited"));
            }
            Some(_) => {}
        }
    }
    old.keys()
        .find(|n| !new.contains_key(n))
        .map(|n| format!("issue #{n} is gone"))
}

/// The digest of the processing order: every failed build's URL, in order.
fn order_digest<'a>(urls: impl IntoIterator<Item = &'a str>) -> String {
    let mut h = Fnv128::new();
    for url in urls {
        h.text(url);
    }
    h.hex()
}

/// What makes two examinations the same cycle: every shard of a merge must agree on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Cycle {
    /// The flakewatch version.
    flakewatch: String,
    /// The window start: Unix seconds and nanoseconds.
    since: (i64, u32),
    /// The engine's name.
    engine: String,
    /// The script limits.
    limits: LimitsLine,
    /// The issues assigned over: (number, body digest), by number.
    issues: Vec<(u64, String)>,
    /// The counts of the whole cycle (dashboards, builds, the filter).
    stats: StatsLine,
    /// The digest of the processing order of every failed build.
    order: String,
    /// The failed builds the obvious-flake filter skipped.
    filtered: Vec<FilteredLine>,
}

/// [`Limits`] in a shard file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct LimitsLine {
    max_script_bytes: usize,
    max_rule_operators: usize,
    max_regex_bytes: usize,
    max_dfa_cache_bytes: usize,
}

impl From<Limits> for LimitsLine {
    fn from(l: Limits) -> LimitsLine {
        LimitsLine {
            max_script_bytes: l.max_script_bytes,
            max_rule_operators: l.max_rule_operators,
            max_regex_bytes: l.max_regex_bytes,
            max_dfa_cache_bytes: l.max_dfa_cache_bytes,
        }
    }
}

/// The cycle-wide counts of [`PlanStats`] (the failure count is per share).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct StatsLine {
    dashboards: usize,
    builds_placed: usize,
    builds_superseded: usize,
    builds_too_old: usize,
    failed_builds_before_filter: usize,
    skipped_by_filter: usize,
    failed_builds: usize,
}

impl StatsLine {
    fn of(s: &PlanStats) -> StatsLine {
        StatsLine {
            dashboards: s.dashboards,
            builds_placed: s.builds.placed,
            builds_superseded: s.builds.superseded,
            builds_too_old: s.builds.too_old,
            failed_builds_before_filter: s.failed_builds_before_filter,
            skipped_by_filter: s.skipped_by_filter,
            failed_builds: s.failed_builds,
        }
    }

    fn plan_stats(self, failures: usize) -> PlanStats {
        PlanStats {
            dashboards: self.dashboards,
            builds: AssemblyStats {
                placed: self.builds_placed,
                superseded: self.builds_superseded,
                too_old: self.builds_too_old,
            },
            failed_builds_before_filter: self.failed_builds_before_filter,
            skipped_by_filter: self.skipped_by_filter,
            failed_builds: self.failed_builds,
            failures,
            ..PlanStats::default()
        }
    }
}

/// A [`FilteredBuild`] in a shard file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct FilteredLine {
    url: String,
    builder: String,
    commit: String,
    rule: String,
}

/// The first line of a shard file.
#[derive(Debug, Serialize, Deserialize)]
struct Header {
    schema: String,
    /// The share: index (1-based) and count.
    shard: (u32, u32),
    /// Failed builds in this file (the lines after this one).
    builds: usize,
    /// Failures in this file.
    failures: usize,
    #[serde(flatten)]
    cycle: Cycle,
}

/// Only the schema of a first line, read before the rest so that another file says what it
/// is rather than which field it lacks.
#[derive(Deserialize)]
struct Probe {
    #[serde(default)]
    schema: String,
    #[serde(default)]
    flakewatch: String,
}

/// One failed build of a share and its failures, each with its assignment over the existing
/// issues: one line of a shard file after the first.
#[derive(Debug, Serialize, Deserialize)]
struct BuildLine<'a> {
    /// The build's position in the cycle's processing order (0-based).
    index: usize,
    url: Cow<'a, str>,
    /// Commit time: Unix seconds and nanoseconds.
    time: (i64, u32),
    builder: Cow<'a, str>,
    repo: Cow<'a, str>,
    go_branch: Cow<'a, str>,
    goos: Cow<'a, str>,
    goarch: Cow<'a, str>,
    commit: Cow<'a, str>,
    go_commit: Cow<'a, str>,
    log: Cow<'a, str>,
    top: bool,
    failures: Vec<FailureLine<'a>>,
}

/// One failure of a [`BuildLine`].
#[derive(Debug, Serialize, Deserialize)]
struct FailureLine<'a> {
    test_id: Cow<'a, str>,
    status: Cow<'a, str>,
    pkg: Cow<'a, str>,
    test: Cow<'a, str>,
    snippet: Cow<'a, str>,
    output: Cow<'a, str>,
    /// `skip`, `post`, `default` or `new_issue`.
    action: Cow<'a, str>,
    /// The issue numbers of the action (none for `new_issue`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    targets: Vec<u64>,
}

/// A failed build of a share: its position in the processing order, its failures, and each
/// failure's assignment over the existing issues (indices into the issues sorted by number).
#[derive(Clone, Debug)]
struct ShardBuild {
    index: usize,
    posts: Vec<FailurePost>,
    mains: Vec<Assignment>,
    /// The line it was read from (0 when examined here).
    line: usize,
}

/// One share of a cycle, examined: what a worker writes and a merger reads.
#[derive(Clone, Debug)]
pub struct ShardPart {
    name: String,
    shard: Shard,
    cycle: Cycle,
    builds: Vec<ShardBuild>,
}

impl ShardPart {
    /// The share.
    pub fn shard(&self) -> Shard {
        self.shard
    }

    /// Where it came from: the file it was read from, or `share I/N`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The failed builds of this share.
    pub fn builds(&self) -> usize {
        self.builds.len()
    }

    /// The failures of this share.
    pub fn failures(&self) -> usize {
        self.builds.iter().map(|b| b.posts.len()).sum()
    }

    /// The failed builds of the whole cycle (after the filter).
    pub fn cycle_builds(&self) -> usize {
        self.cycle.stats.failed_builds
    }

    /// Writes the part as a shard file: a first line describing the cycle and the share,
    /// then one line per failed build.
    pub fn write(&self, out: &mut dyn Write) -> io::Result<()> {
        let header = Header {
            schema: SCHEMA.to_owned(),
            shard: (self.shard.index, self.shard.count),
            builds: self.builds.len(),
            failures: self.failures(),
            cycle: self.cycle.clone(),
        };
        serde_json::to_writer(&mut *out, &header)?;
        out.write_all(b"\n")?;
        for build in &self.builds {
            serde_json::to_writer(&mut *out, &self.build_line(build))?;
            out.write_all(b"\n")?;
        }
        Ok(())
    }

    fn build_line<'a>(&self, build: &'a ShardBuild) -> BuildLine<'a> {
        // Every build has at least one post (a dummy build failure when no test failed), and
        // all its posts carry the build's data.
        let first = &build.posts[0];
        let b = |s: &'a String| Cow::Borrowed(s.as_str());
        BuildLine {
            index: build.index,
            url: b(&first.url),
            time: (first.time.unix_seconds(), first.time.subsec_nanos()),
            builder: b(&first.builder),
            repo: b(&first.repo),
            go_branch: b(&first.go_branch),
            goos: b(&first.goos),
            goarch: b(&first.goarch),
            commit: b(&first.commit),
            go_commit: b(&first.go_commit),
            log: Cow::Borrowed(&first.log),
            top: first.top,
            failures: build
                .posts
                .iter()
                .zip(&build.mains)
                .map(|(p, main)| {
                    let number = |i: &usize| self.cycle.issues[*i].0;
                    let (action, targets) = match main {
                        Assignment::Skip(i) => ("skip", vec![number(i)]),
                        Assignment::Post(is) => ("post", is.iter().map(number).collect()),
                        Assignment::Default(i) => ("default", vec![number(i)]),
                        Assignment::NewIssue => ("new_issue", Vec::new()),
                    };
                    FailureLine {
                        test_id: b(&p.test_id),
                        status: Cow::Owned(p.status.name()),
                        pkg: b(&p.pkg),
                        test: b(&p.test),
                        snippet: b(&p.snippet),
                        output: b(&p.output),
                        action: Cow::Borrowed(action),
                        targets,
                    }
                })
                .collect(),
        }
    }

    /// Reads a shard file; `name` (the file's path) names it in errors.
    pub fn read(input: impl BufRead, name: &str) -> Result<ShardPart, ShardError> {
        let mut input = lines(input, name, MAX_LINE);
        let invalid =
            |line: usize, e: serde_json::Error| LineError::invalid(name, line, e.to_string());
        let (_, first) = input
            .next()
            .transpose()?
            .ok_or_else(|| ShardError::Schema {
                file: name.to_owned(),
                found: String::new(),
            })?;
        let probe: Probe = serde_json::from_str(&first).map_err(|_| ShardError::Schema {
            file: name.to_owned(),
            found: String::new(),
        })?;
        if probe.schema != SCHEMA {
            return Err(ShardError::Schema {
                file: name.to_owned(),
                found: probe.schema,
            });
        }
        if probe.flakewatch != VERSION {
            return Err(ShardError::Version {
                file: name.to_owned(),
                found: probe.flakewatch,
            });
        }
        let header: Header = serde_json::from_str(&first).map_err(|e| invalid(1, e))?;
        let shard = Shard::new(header.shard.0, header.shard.1)
            .map_err(|e| LineError::invalid(name, 1, e.to_string()))?;
        let (secs, nanos) = header.cycle.since;
        if Timestamp::from_unix(secs, nanos).is_none() {
            let message = format!("window start {:?} out of range", header.cycle.since);
            return Err(LineError::invalid(name, 1, message).into());
        }
        let issues = &header.cycle.issues;
        let index_of: BTreeMap<u64, usize> = issues
            .iter()
            .enumerate()
            .map(|(k, (n, _))| (*n, k))
            .collect();
        let mut builds = Vec::with_capacity(header.builds);
        for item in input {
            let (line, text) = item?;
            let build: BuildLine<'_> = serde_json::from_str(&text).map_err(|e| invalid(line, e))?;
            builds.push(shard_build(build, line, &index_of).map_err(|message| {
                ShardError::BadBuild {
                    file: name.to_owned(),
                    line,
                    message,
                }
            })?);
        }
        if builds.len() != header.builds {
            return Err(ShardError::Truncated {
                file: name.to_owned(),
                expected: header.builds,
                found: builds.len(),
            });
        }
        let part = ShardPart {
            name: name.to_owned(),
            shard,
            cycle: header.cycle,
            builds,
        };
        if part.failures() != header.failures {
            return Err(ShardError::Truncated {
                file: name.to_owned(),
                expected: header.failures,
                found: part.failures(),
            });
        }
        Ok(part)
    }
}

/// A build line back as a [`ShardBuild`]; the error says what is wrong with it.
fn shard_build(
    line: BuildLine<'_>,
    at: usize,
    index_of: &BTreeMap<u64, usize>,
) -> Result<ShardBuild, String> {
    if line.failures.is_empty() {
        return Err("a failed build without failures".to_owned());
    }
    let time = Timestamp::from_unix(line.time.0, line.time.1)
        .ok_or_else(|| format!("time {:?} out of range", line.time))?;
    let log: Arc<str> = Arc::from(line.log.into_owned());
    let mut posts = Vec::with_capacity(line.failures.len());
    let mut mains = Vec::with_capacity(line.failures.len());
    for f in line.failures {
        let issue = |n: &u64| {
            index_of
                .get(n)
                .copied()
                .ok_or_else(|| format!("issue #{n} is not among the file's issues"))
        };
        let one = |targets: &[u64]| match targets {
            [n] => issue(n),
            _ => Err(format!(
                "{} needs one issue, not {}",
                f.action,
                targets.len()
            )),
        };
        mains.push(match &*f.action {
            "skip" => Assignment::Skip(one(&f.targets)?),
            "default" => Assignment::Default(one(&f.targets)?),
            "post" if !f.targets.is_empty() => {
                Assignment::Post(f.targets.iter().map(issue).collect::<Result<_, _>>()?)
            }
            "new_issue" if f.targets.is_empty() => Assignment::NewIssue,
            other => return Err(format!("action {other:?} with {} issues", f.targets.len())),
        });
        posts.push(FailurePost {
            time,
            builder: line.builder.to_string(),
            repo: line.repo.to_string(),
            go_branch: line.go_branch.to_string(),
            goos: line.goos.to_string(),
            goarch: line.goarch.to_string(),
            commit: line.commit.to_string(),
            go_commit: line.go_commit.to_string(),
            test_id: f.test_id.into_owned(),
            status: TestStatus::from_name(&f.status)
                .ok_or_else(|| format!("unknown test status {:?}", f.status))?,
            url: line.url.to_string(),
            pkg: f.pkg.into_owned(),
            test: f.test.into_owned(),
            snippet: f.snippet.into_owned(),
            output: f.output.into_owned(),
            log: Arc::clone(&log),
            top: line.top,
        });
    }
    Ok(ShardBuild {
        index: line.index,
        posts,
        mains,
        line: at,
    })
}

/// Examines one share of a cycle (a worker): reads the tracker's issues and compiles them,
/// reads the whole failure source and applies the obvious-flake filter to every dashboard,
/// then coalesces and assigns over the existing issues the failures of this share's failed
/// builds only. Writes nothing to the tracker, reads no comments.
pub fn examine(
    tracker: &dyn IssueTracker,
    source: &dyn FailureSource,
    options: &TriageOptions,
    shard: Shard,
) -> Result<ShardPart, ShardError> {
    if options.build.is_some() {
        return Err(ShardError::OneBuild);
    }
    let issues = run::load_issues(tracker, options)?;
    let mut stats = PlanStats::default();
    let mut filtered = Vec::new();
    let failed = run::failed_builds(source, options.since, &mut stats, &mut filtered)?;
    let urls: Vec<String> = failed.iter().map(|b| build_url(b.id)).collect();
    let order = order_digest(urls.iter().map(String::as_str));
    let (indices, posts): (Vec<usize>, Vec<Vec<FailurePost>>) = failed
        .iter()
        .enumerate()
        .filter(|(k, _)| shard.holds(&urls[*k]))
        .map(|(k, build)| (k, build_posts(build)))
        .unzip();
    drop(failed);
    let mut mains = run::assign_existing(&issues.compiled.engine, &posts).into_iter();
    let builds = indices
        .into_iter()
        .zip(posts)
        .map(|(index, posts)| ShardBuild {
            index,
            mains: mains.by_ref().take(posts.len()).collect(),
            posts,
            line: 0,
        })
        .collect();
    Ok(ShardPart {
        name: format!("share {shard}"),
        shard,
        cycle: Cycle {
            flakewatch: VERSION.to_owned(),
            since: (options.since.unix_seconds(), options.since.subsec_nanos()),
            engine: options.engine.name().to_owned(),
            limits: options.limits.into(),
            issues: issue_fingerprint(&issues.list),
            stats: StatsLine::of(&stats),
            order,
            filtered: filtered
                .into_iter()
                .map(|f| FilteredLine {
                    url: f.url,
                    builder: f.builder,
                    commit: f.commit,
                    rule: f.rule,
                })
                .collect(),
        },
        builds,
    })
}

/// Every share of one cycle, checked against each other and put back in processing order:
/// what a merger plans from.
#[derive(Debug)]
pub struct Merged {
    first: String,
    cycle: Cycle,
    builds: Vec<ShardBuild>,
}

impl Merged {
    /// Merges the shares: all of one partition (same N), each exactly once, examined in one
    /// cycle (same version, window, engine, limits, issues, failure source and filter), every
    /// build in its own share and every position of the processing order filled once.
    pub fn new(parts: Vec<ShardPart>) -> Result<Merged, ShardError> {
        let first = parts.first().ok_or(ShardError::NoFiles)?;
        let (first_name, first_shard) = (first.name.clone(), first.shard);
        let count = first_shard.count;
        let mut seen: BTreeMap<u32, &str> = BTreeMap::new();
        for p in &parts {
            if p.shard.count != count {
                return Err(ShardError::Partition {
                    file: p.name.clone(),
                    shard: p.shard,
                    first: first_name,
                    first_shard,
                });
            }
            if let Some(other) = seen.insert(p.shard.index, &p.name) {
                return Err(ShardError::Duplicate {
                    file: p.name.clone(),
                    first: other.to_owned(),
                    shard: p.shard,
                });
            }
            let differs = [
                (
                    p.cycle.flakewatch != first.cycle.flakewatch,
                    "flakewatch versions",
                ),
                (p.cycle.since != first.cycle.since, "windows (--now)"),
                (p.cycle.engine != first.cycle.engine, "engines (--engine)"),
                (p.cycle.limits != first.cycle.limits, "script limits"),
                (
                    p.cycle.issues != first.cycle.issues,
                    "issues (the tracker changed between them)",
                ),
                (
                    p.cycle.stats != first.cycle.stats || p.cycle.order != first.cycle.order,
                    "builds (the failure source changed between them)",
                ),
                (
                    p.cycle.filtered != first.cycle.filtered,
                    "obvious-flake filter results",
                ),
            ];
            if let Some((_, what)) = differs.iter().find(|(d, _)| *d) {
                return Err(ShardError::Inconsistent {
                    file: p.name.clone(),
                    first: first_name,
                    what,
                });
            }
        }
        let missing: Vec<u32> = (1..=count).filter(|i| !seen.contains_key(i)).collect();
        if !missing.is_empty() {
            return Err(ShardError::Missing { missing, count });
        }
        let mut parts = parts;
        let cycle = parts[0].cycle.clone();
        let total = cycle.stats.failed_builds;
        let mut slots: Vec<Option<ShardBuild>> = vec![None; total];
        for p in &mut parts {
            let bad = |build: &ShardBuild, message: String| ShardError::BadBuild {
                file: p.name.clone(),
                line: build.line,
                message,
            };
            for build in std::mem::take(&mut p.builds) {
                let url = &build.posts[0].url;
                if !p.shard.holds(url) {
                    return Err(bad(
                        &build,
                        format!(
                            "build {url} is in share {}/{count}, not {}",
                            share_of(url, count),
                            p.shard
                        ),
                    ));
                }
                match slots.get_mut(build.index) {
                    None => {
                        return Err(bad(
                            &build,
                            format!(
                                "position {} is beyond the cycle's {total} failed builds",
                                build.index
                            ),
                        ));
                    }
                    Some(Some(_)) => {
                        return Err(bad(
                            &build,
                            format!("position {} is taken twice", build.index),
                        ));
                    }
                    Some(slot) => *slot = Some(build),
                }
            }
        }
        let builds: Vec<ShardBuild> = slots.into_iter().flatten().collect();
        let order = order_digest(builds.iter().map(|b| b.posts[0].url.as_str()));
        if builds.len() != total || order != cycle.order {
            return Err(ShardError::Order { total });
        }
        Ok(Merged {
            first: first_name,
            cycle,
            builds,
        })
    }

    /// The window start the shares were examined for (checked when each file was read).
    pub fn since(&self) -> Timestamp {
        let (secs, nanos) = self.cycle.since;
        Timestamp::from_unix(secs, nanos).unwrap_or_default()
    }

    /// The engine the shares were examined with.
    pub fn engine(&self) -> Option<EngineKind> {
        EngineKind::from_name(&self.cycle.engine)
    }

    /// The cycle's failures, as an unsharded cycle examines them, for `issues` (the tracker's,
    /// sorted by number): refused when the issues are not those the shares were examined
    /// against, or the options differ from the shares'.
    pub fn into_examined(
        self,
        issues: &[Issue],
        options: &TriageOptions,
    ) -> Result<Examined, ShardError> {
        if options.build.is_some() {
            return Err(ShardError::OneBuild);
        }
        let since = (options.since.unix_seconds(), options.since.subsec_nanos());
        if since != self.cycle.since {
            return Err(ShardError::Window {
                shards: self.since().format_rfc3339(),
                merger: options.since.format_rfc3339(),
            });
        }
        if options.engine.name() != self.cycle.engine {
            return Err(ShardError::Options {
                shards: format!("--engine {}", self.cycle.engine),
                merger: format!("--engine {}", options.engine.name()),
            });
        }
        if LimitsLine::from(options.limits) != self.cycle.limits {
            return Err(ShardError::Options {
                shards: format!("limits {:?}", self.cycle.limits),
                merger: format!("limits {:?}", LimitsLine::from(options.limits)),
            });
        }
        let tracker = issue_fingerprint(issues);
        if tracker != self.cycle.issues {
            let change = issue_change(&self.cycle.issues, &tracker)
                .unwrap_or_else(|| "the issue order differs".to_owned());
            return Err(ShardError::IssuesChanged { change });
        }
        tracing::info!(
            shards = %self.first,
            failed_builds = self.builds.len(),
            "merged the shares"
        );
        let mut examined = Examined {
            filtered: self
                .cycle
                .filtered
                .into_iter()
                .map(|f| FilteredBuild {
                    url: f.url,
                    builder: f.builder,
                    commit: f.commit,
                    rule: f.rule,
                })
                .collect(),
            ..Examined::default()
        };
        for build in self.builds {
            examined.mains.extend(build.mains);
            examined.builds.push(build.posts);
        }
        examined.stats = self.cycle.stats.plan_stats(examined.mains.len());
        Ok(examined)
    }
}

/// Plans a cycle from merged shares (the merger): reads the tracker (issues, and comments as
/// an unsharded plan does), changes nothing. The plan is the one [`run::plan`] would make
/// from the same tracker and failure source.
pub fn plan_merged(
    tracker: &dyn IssueTracker,
    merged: Merged,
    options: &TriageOptions,
) -> Result<TriagePlan, ShardError> {
    let mut merged = Some(merged);
    run::plan_with(tracker, options, &mut |issues, _| {
        let merged = merged
            .take()
            .ok_or_else(|| TriageError::Examined("the shares were planned twice".to_owned()))?;
        merged.into_examined(issues, options)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_parse_and_print() {
        let s: Shard = "2/8".parse().expect("share");
        assert_eq!((s.index(), s.count()), (2, 8));
        assert_eq!(s.to_string(), "2/8");
        for bad in ["0/3", "4/3", "3", "a/3", "1/0", "", "1/2/3"] {
            let err = bad.parse::<Shard>().expect_err(bad).to_string();
            assert!(err.contains("expected I/N"), "{bad}: {err}");
        }
    }

    /// The hash is part of the interface (workers of different builds must agree): pinned.
    #[test]
    fn the_share_of_a_url_is_stable() {
        let url = "https://ci.chromium.org/b/8790000000000000001";
        let shares: Vec<u32> = (1..=5).map(|n| share_of(url, n)).collect();
        // Computed independently (Python's integers, the same FNV-1a constants).
        assert_eq!(shares, vec![1, 2, 2, 2, 2]);
        assert_eq!(share_of("", 7), 3);
        // Every URL has exactly one share.
        for k in 0..200 {
            let url = build_url(k);
            let holders = (1..=3)
                .filter(|&i| Shard::new(i, 3).expect("share").holds(&url))
                .count();
            assert_eq!(holders, 1, "{url}");
        }
    }

    #[test]
    fn missing_shares_are_listed() {
        let err = ShardError::Missing {
            missing: vec![2, 4, 5],
            count: 5,
        };
        assert_eq!(
            err.to_string(),
            "shares 2, 4 and 5 of 5 missing: a merge needs every share"
        );
    }

    #[test]
    fn issue_changes_are_named() {
        let old = vec![(1, "a".to_owned()), (2, "b".to_owned())];
        let edited = vec![(1, "a".to_owned()), (2, "c".to_owned())];
        let added = vec![
            (1, "a".to_owned()),
            (2, "b".to_owned()),
            (3, "d".to_owned()),
        ];
        let removed = vec![(2, "b".to_owned())];
        assert_eq!(
            issue_change(&old, &edited).as_deref(),
            Some("the body of issue #2 was edited")
        );
        assert_eq!(
            issue_change(&old, &added).as_deref(),
            Some("issue #3 is new")
        );
        assert_eq!(
            issue_change(&old, &removed).as_deref(),
            Some("issue #1 is gone")
        );
        assert_eq!(issue_change(&old, &old), None);
    }
}

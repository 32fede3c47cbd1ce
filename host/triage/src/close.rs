//! Automatic closing of quiet issues, by upstream's rules (golang/build `cmd/watchflakes`,
//! `close.go`; docs/triage.md, "Automatic closing"): an issue watchflakes filed closes when
//! the builders its failures came from stopped running, or when its silence since the last
//! failure is too long to be chance given its past rate (`P = (span/(span+silence))^(N−1) <
//! 0.01`) and longer than any earlier gap, or after 90 days of silence regardless; in the
//! last two cases only once at least 20 builds ran on those builders since.
//!
//! The history is read back from the issue's signed comments, as upstream does. Each close
//! posts a signed comment starting with [`CLOSE_PREFIX`], then closes: a second pass finds
//! the issue closed, and a pass interrupted between the two finishes the close without a
//! second comment. Triage reopens a closed issue when a failure newer than the close arrives,
//! and that failure's comment restarts the history; an issue that was closed once and came
//! back needs silence longer than every gap it has shown (the one that ended the close
//! included) before it closes again, on the cap as well: the hysteresis that keeps an issue
//! from flapping.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use flakewatch_core::Timestamp;
use flakewatch_dsl::{Extracted, find_script, parse_script_with};

use crate::backend::{FailureSource, Issue, IssueTracker};
use crate::dashboard::Dashboard;
use crate::mentions::is_signed;
use crate::run::{ApplyFailure, IssueRef, TriageError, TriageOptions, TriagePlan};
use crate::source::dashboards;
use crate::text::{NEW_ISSUE_MARKER, sign_comment};

/// The significance: the largest chance of the observed silence, at the old rate, that is
/// taken as evidence the failures stopped.
pub const CLOSE_ALPHA: f64 = 0.01;

/// Silence after which an issue closes whatever the statistics say, in seconds (90 days).
pub const CLOSE_MAX_SILENCE: i64 = 90 * DAY;

/// The shortest span of failures that gives a rate, in seconds (24 hours).
pub const CLOSE_MIN_SPAN: i64 = DAY;

/// Builds that must have run on the issue's builders since its last failure.
pub const CLOSE_MIN_BUILDS: usize = 20;

/// How long the issue's builders must have run nothing to count as retired, in seconds
/// (30 days).
pub const CLOSE_RETIRED_QUIET: i64 = 30 * DAY;

/// How every closing comment starts.
pub const CLOSE_PREFIX: &str = "Closing automatically: ";

const DAY: i64 = 86_400;

/// One failure reported on an issue, read back from a signed comment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlakeEvent {
    /// Its commit time, to the minute.
    pub time: Timestamp,
    /// The builder.
    pub builder: String,
    /// The commit (as short as the header gives it).
    pub commit: String,
}

/// Whether `c` is a lower-case hexadecimal digit.
fn is_hex(c: u8) -> bool {
    c.is_ascii_digit() || (b'a'..=b'f').contains(&c)
}

/// The `YYYY-MM-DD HH:MM` at the start of `s`, if there is one.
fn minute_at(s: &[u8]) -> Option<Timestamp> {
    const SHAPE: &[u8] = b"dddd-dd-dd dd:dd";
    if s.len() < SHAPE.len() {
        return None;
    }
    let fits = SHAPE.iter().zip(s).all(|(&shape, &c)| match shape {
        b'd' => c.is_ascii_digit(),
        other => c == other,
    });
    if !fits {
        return None;
    }
    let text = std::str::from_utf8(&s[..SHAPE.len()]).ok()?;
    Timestamp::parse_rfc3339(&format!("{}T{}:00Z", &text[..10], &text[11..])).ok()
}

/// The failure headers of one comment (`YYYY-MM-DD HH:MM BUILDER REPO@HASH`), left to right,
/// without overlaps: upstream's `(\d{4}-\d\d-\d\d \d\d:\d\d) (\S+) \S+@([0-9a-f]+)`.
fn headers(comment: &str) -> Vec<FlakeEvent> {
    let bytes = comment.as_bytes();
    let not_space = |c: u8| !c.is_ascii_whitespace();
    let mut events = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let Some(time) = minute_at(&bytes[at..]) else {
            at += 1;
            continue;
        };
        let builder_start = at + 17;
        let builder_end = builder_start
            + bytes[builder_start.min(bytes.len())..]
                .iter()
                .take_while(|&&c| not_space(c))
                .count();
        if builder_end == builder_start
            || bytes.get(builder_start - 1) != Some(&b' ')
            || bytes.get(builder_end) != Some(&b' ')
        {
            at += 1;
            continue;
        }
        let token_start = builder_end + 1;
        let token_end = token_start
            + bytes[token_start..]
                .iter()
                .take_while(|&&c| not_space(c))
                .count();
        let token = &bytes[token_start..token_end];
        // The greedy `\S+@` backs off to the last `@` that a hex digit follows, with at least
        // one character before it.
        let found = (1..token.len())
            .rev()
            .find(|&i| token[i] == b'@' && token.get(i + 1).is_some_and(|&c| is_hex(c)));
        let Some(sign) = found else {
            at += 1;
            continue;
        };
        let hash_start = token_start + sign + 1;
        let hash_end = hash_start
            + bytes[hash_start..]
                .iter()
                .take_while(|&&c| is_hex(c))
                .count();
        events.push(FlakeEvent {
            time,
            builder: comment[builder_start..builder_end].to_owned(),
            commit: comment[hash_start..hash_end].to_owned(),
        });
        at = hash_end;
    }
    events
}

/// The failures watchflakes reported on an issue, oldest first: the headers of its signed
/// comments, each commit counted once (a bad commit failing on many builders is one event).
pub fn flake_history<'a>(comments: impl IntoIterator<Item = &'a str>) -> Vec<FlakeEvent> {
    let mut seen = HashSet::new();
    let mut events: Vec<FlakeEvent> = comments
        .into_iter()
        .filter(|c| is_signed(c) && !is_close_comment(c))
        .flat_map(headers)
        .filter(|e| seen.insert(e.commit.clone()))
        .collect();
    events.sort_by_key(|e| e.time);
    events
}

/// Whether a comment is a closing comment of this pass.
pub fn is_close_comment(comment: &str) -> bool {
    is_signed(comment) && comment.starts_with(CLOSE_PREFIX)
}

/// When each builder ran (any status), from the dashboards, and which builders exist.
#[derive(Clone, Debug, Default)]
pub struct BuilderActivity {
    /// The oldest build time seen: how far back the dashboards reach.
    pub since: Option<Timestamp>,
    builds: BTreeMap<String, Vec<Timestamp>>,
    known: BTreeSet<String>,
}

impl BuilderActivity {
    /// The build times on `boards`; every builder of a dashboard is known.
    pub fn from_dashboards(boards: &[Dashboard]) -> BuilderActivity {
        let mut act = BuilderActivity::default();
        for board in boards {
            for (b, builder) in board.builders().iter().enumerate() {
                act.known.insert(builder.name.clone());
                for result in board.row(b).into_iter().flatten().flatten() {
                    act.builds
                        .entry(builder.name.clone())
                        .or_default()
                        .push(result.time);
                    if act.since.is_none_or(|s| result.time < s) {
                        act.since = Some(result.time);
                    }
                }
            }
        }
        act
    }

    /// Builds on `builders` after `t`.
    pub fn count_since(&self, builders: &[String], t: Timestamp) -> usize {
        builders
            .iter()
            .flat_map(|b| self.builds.get(b).into_iter().flatten())
            .filter(|&&bt| bt > t)
            .count()
    }

    /// Whether any of `builders` is still configured.
    pub fn exists(&self, builders: &[String]) -> bool {
        builders.iter().any(|b| self.known.contains(b))
    }

    /// Whether any of `builders` has a build on the dashboards.
    pub fn seen(&self, builders: &[String]) -> bool {
        builders
            .iter()
            .any(|b| self.builds.get(b).is_some_and(|v| !v.is_empty()))
    }

    /// The newest build on any of `builders`.
    pub fn last_build(&self, builders: &[String]) -> Option<Timestamp> {
        builders
            .iter()
            .flat_map(|b| self.builds.get(b).into_iter().flatten())
            .copied()
            .max()
    }
}

/// How an issue closes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum CloseKind {
    /// The silence is too long for the old rate (and longer than every earlier gap).
    Statistical,
    /// Quiet for [`CLOSE_MAX_SILENCE`], whatever the statistics say.
    Capped,
    /// The builders stopped running.
    Retired,
}

impl CloseKind {
    /// `statistical`, `capped`, `retired`.
    pub fn name(self) -> &'static str {
        match self {
            CloseKind::Statistical => "statistical",
            CloseKind::Capped => "capped",
            CloseKind::Retired => "retired",
        }
    }
}

/// The evidence about one issue.
#[derive(Clone, Debug, PartialEq)]
pub struct CloseStats {
    /// Failures recorded (one per commit).
    pub n: usize,
    /// The first.
    pub first: Timestamp,
    /// The last.
    pub last: Timestamp,
    /// Seconds from the first to the last.
    pub span: i64,
    /// Seconds from the last to now.
    pub silence: i64,
    /// The longest stretch between consecutive failures, in seconds.
    pub max_gap: i64,
    /// The chance of this silence at the old rate.
    pub p: f64,
    /// The builders the failures came from, sorted.
    pub builders: Vec<String>,
    /// Builds on them since the last failure.
    pub builds: usize,
    /// Their newest build.
    pub last_build: Option<Timestamp>,
    /// How far back the dashboards reach.
    pub since: Option<Timestamp>,
    /// Whether the issue was closed automatically before (and came back).
    pub closed_before: bool,
}

/// The chance that no failure arrived in `silence` seconds after `n` failures over `span`
/// seconds, at an unchanged rate: the `n − 1` later arrivals of a Poisson process are uniform
/// over `span + silence` given their number, so all fall in the span with probability
/// `(span/(span+silence))^(n−1)`. 1 without a rate (fewer than 2 failures, no span).
pub fn silence_p(n: usize, span: i64, silence: i64) -> f64 {
    if n < 2 || span <= 0 {
        return 1.0;
    }
    let exponent = i32::try_from(n - 1).unwrap_or(i32::MAX);
    (span as f64 / (span + silence.max(0)) as f64).powi(exponent)
}

/// Whole days.
fn days(seconds: i64) -> String {
    match seconds / DAY {
        1 => "1 day".to_owned(),
        n => format!("{n} days"),
    }
}

/// A small probability as a percentage with two significant digits.
fn percent(p: f64) -> String {
    if p < 0.0001 {
        return "under 0.01%".to_owned();
    }
    let pct = p * 100.0;
    let decimals = (1 - pct.log10().floor() as i32).max(0) as usize;
    format!("{pct:.decimals$}%")
}

fn date(t: Timestamp) -> String {
    t.format_rfc3339()[..10].to_owned()
}

/// Builders for a comment: at most five named.
fn builder_list(builders: &[String]) -> String {
    if builders.len() <= 5 {
        builders.join(", ")
    } else {
        format!(
            "{}, and {} more",
            builders[..5].join(", "),
            builders.len() - 5
        )
    }
}

/// Decides about one issue from its history: `Ok` with how it closes, or `Err` with why it
/// stays open. Upstream's `shouldClose`, plus the re-close hysteresis (module docs).
pub fn should_close(
    events: &[FlakeEvent],
    activity: &BuilderActivity,
    now: Timestamp,
    closed_before: bool,
) -> Result<(CloseKind, CloseStats), String> {
    let (Some(first), Some(last)) = (events.first(), events.last()) else {
        return Err("no failure history in its signed comments".to_owned());
    };
    let (first, last) = (first.time, last.time);
    let max_gap = events
        .windows(2)
        .map(|w| w[1].time.unix_seconds() - w[0].time.unix_seconds())
        .max()
        .unwrap_or(0);
    let builders: Vec<String> = events
        .iter()
        .map(|e| e.builder.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let span = last.unix_seconds() - first.unix_seconds();
    let silence = now.unix_seconds() - last.unix_seconds();
    let stats = CloseStats {
        n: events.len(),
        first,
        last,
        span,
        silence,
        max_gap,
        p: silence_p(events.len(), span, silence),
        builds: activity.count_since(&builders, last),
        last_build: activity.last_build(&builders),
        since: activity.since,
        closed_before,
        builders,
    };
    if !activity.exists(&stats.builders) {
        return Ok((CloseKind::Retired, stats));
    }
    if !activity.seen(&stats.builders) {
        return Err(format!(
            "{} not on the dashboards",
            stats.builders.join(", ")
        ));
    }
    if stats
        .last_build
        .is_some_and(|b| now.unix_seconds() - b.unix_seconds() > CLOSE_RETIRED_QUIET)
    {
        return Ok((CloseKind::Retired, stats));
    }
    let why = if stats.n < 2 {
        Some("a single failure".to_owned())
    } else if stats.span < CLOSE_MIN_SPAN {
        Some(format!("{} failures inside a day", stats.n))
    } else if stats.p >= CLOSE_ALPHA {
        Some(format!("p={:.2}, not yet below {CLOSE_ALPHA}", stats.p))
    } else if stats.silence <= stats.max_gap {
        Some(format!("it has been quiet {} before", days(stats.max_gap)))
    } else {
        None
    };
    let kind = match why {
        None => CloseKind::Statistical,
        Some(why) if stats.silence < CLOSE_MAX_SILENCE => {
            return Err(format!(
                "{why}; quiet {} of the {} that close anything",
                days(stats.silence),
                days(CLOSE_MAX_SILENCE)
            ));
        }
        Some(_) if closed_before && stats.silence <= stats.max_gap => {
            return Err(format!(
                "closed automatically before and came back after {}; quiet {} so far",
                days(stats.max_gap),
                days(stats.silence)
            ));
        }
        Some(_) => CloseKind::Capped,
    };
    if stats.builds < CLOSE_MIN_BUILDS {
        return Err(format!(
            "only {} builds on {} since the last failure (at least {CLOSE_MIN_BUILDS} needed)",
            stats.builds,
            stats.builders.join(", ")
        ));
    }
    Ok((kind, stats))
}

/// The closing comment, before the signature: starts with [`CLOSE_PREFIX`] and says why.
pub fn close_text(kind: CloseKind, s: &CloseStats) -> String {
    let recorded = if s.n == 1 {
        format!("- One failure recorded, on {}.\n", date(s.first))
    } else {
        format!(
            "- {} failures recorded, from {} to {}.\n",
            s.n,
            date(s.first),
            date(s.last)
        )
    };
    if kind == CloseKind::Retired {
        let last = match (s.last_build, s.since) {
            (Some(t), _) => format!("- The last build on them was on {}.\n", date(t)),
            (None, Some(since)) => format!(
                "- No build on them since {}, as far back as the dashboards reach.\n",
                date(since)
            ),
            (None, None) => "- No build on them on the dashboards.\n".to_owned(),
        };
        return format!(
            "{CLOSE_PREFIX}every failure of this issue came from {} — no longer running.\n\n\
             {last}{recorded}\nNothing can fail under {} while it does not run; this says \
             nothing about a fix. A new matching failure reopens this issue.\n",
            builder_list(&s.builders),
            if s.builders.len() == 1 {
                "that name"
            } else {
                "those names"
            }
        );
    }
    let mut text = if kind == CloseKind::Capped {
        format!(
            "{CLOSE_PREFIX}no matching failure for {}.\n\n",
            days(s.silence)
        )
    } else {
        format!("{CLOSE_PREFIX}the failures of this issue look to have stopped.\n\n")
    };
    text.push_str(&recorded);
    text.push_str(&format!("- Quiet for {}.", days(s.silence)));
    if s.max_gap > 0 {
        text.push_str(&format!(
            " The longest quiet stretch before was {}.",
            days(s.max_gap)
        ));
    }
    text.push_str(&format!(
        "\n- {} builds ran since, on {}.\n",
        s.builds,
        builder_list(&s.builders)
    ));
    if kind == CloseKind::Statistical {
        text.push_str(&format!(
            "\nAt the old rate, a silence this long had a chance of about {}. That is evidence \
             the failures stopped, not proof of a fix. A new matching failure reopens this \
             issue.\n",
            percent(s.p)
        ));
    } else {
        text.push_str(&format!(
            "\nThe history cannot settle it ({}); any issue quiet for {} is closed, so this \
             is a timeout, not evidence of a fix. A new matching failure reopens this issue.\n",
            if s.n < 2 {
                "one failure gives no rate".to_owned()
            } else if s.span < CLOSE_MIN_SPAN {
                "failures inside one day give no rate".to_owned()
            } else if s.max_gap >= s.silence {
                format!("it was quiet for {} before and came back", days(s.max_gap))
            } else {
                "too few failures, too far apart".to_owned()
            },
            days(CLOSE_MAX_SILENCE)
        ));
    }
    text
}

/// What the pass does with one issue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloseAction {
    /// Stays open.
    Keep,
    /// Comment, then close.
    Close,
    /// The closing comment is there (a pass stopped between it and the close): close only.
    FinishClose,
}

impl CloseAction {
    /// `keep`, `close`, `finish_close`.
    pub fn name(&self) -> &'static str {
        match self {
            CloseAction::Keep => "keep",
            CloseAction::Close => "close",
            CloseAction::FinishClose => "finish_close",
        }
    }
}

/// The decision about one issue.
#[derive(Clone, Debug)]
pub struct CloseDecision {
    /// The issue.
    pub issue: u64,
    /// Its title.
    pub title: String,
    /// What happens.
    pub action: CloseAction,
    /// How it closes (for `Close` and `FinishClose`).
    pub kind: Option<CloseKind>,
    /// Why it stays open.
    pub reason: Option<String>,
    /// The evidence, when the history was read.
    pub stats: Option<CloseStats>,
    /// The comment to post (for `Close`), before the signature.
    pub comment: Option<String>,
}

/// Why an issue can never be closed by this pass, from what the listing and the plan say.
fn not_candidate(
    issue: &Issue,
    queued: &BTreeSet<u64>,
    options: &TriageOptions,
) -> Option<&'static str> {
    if issue.closed {
        return Some("not an open issue");
    }
    if queued.contains(&issue.number) {
        return Some("failing right now");
    }
    if !issue.body.contains(NEW_ISSUE_MARKER) {
        return Some("not an issue watchflakes filed");
    }
    let Ok(Extracted::Script(text)) = find_script(&issue.body) else {
        return Some("script is not usable");
    };
    let parsed = parse_script_with(&text, &options.limits);
    if !parsed.is_ok() {
        return Some("script is not usable");
    }
    if parsed.script.rules.iter().any(|r| r.action == "skip") {
        return Some("script skips its failures");
    }
    None
}

/// The close pass over the tracker: for every open issue, whether it closes. Reads only.
/// `plan` is this cycle's triage plan (issues with failures queued in it are failing now).
pub fn plan_close(
    tracker: &dyn IssueTracker,
    source: &dyn FailureSource,
    plan: &TriagePlan,
    options: &TriageOptions,
    now: Timestamp,
) -> Result<Vec<CloseDecision>, TriageError> {
    let queued: BTreeSet<u64> = plan
        .updates
        .iter()
        .filter(|u| !u.posts.is_empty())
        .filter_map(|u| match u.target {
            IssueRef::Existing(n) => Some(n),
            IssueRef::New(_) => None,
        })
        .collect();
    let (boards, _) = dashboards(source.builds(options.since)?, options.since);
    let activity = BuilderActivity::from_dashboards(&boards);
    let mut issues = tracker.list_issues()?;
    issues.sort_by_key(|i| i.number);
    let mut decisions = Vec::new();
    for issue in issues {
        let keep = |reason: String, stats: Option<CloseStats>| CloseDecision {
            issue: issue.number,
            title: issue.title.clone(),
            action: CloseAction::Keep,
            kind: None,
            reason: Some(reason),
            stats,
            comment: None,
        };
        if let Some(why) = not_candidate(&issue, &queued, options) {
            if !issue.closed {
                decisions.push(keep(why.to_owned(), None));
            }
            continue;
        }
        let comments = tracker.comments(issue.number)?;
        let bodies: Vec<&str> = comments.iter().map(|c| c.body.as_str()).collect();
        let events = flake_history(bodies.iter().copied());
        let closed_before = bodies.iter().any(|b| is_close_comment(b));
        let interrupted = bodies.last().is_some_and(|b| is_close_comment(b));
        match should_close(&events, &activity, now, closed_before && !interrupted) {
            Err(why) => decisions.push(keep(why, None)),
            Ok((kind, stats)) => decisions.push(CloseDecision {
                issue: issue.number,
                title: issue.title.clone(),
                action: if interrupted {
                    CloseAction::FinishClose
                } else {
                    CloseAction::Close
                },
                kind: Some(kind),
                reason: None,
                comment: (!interrupted).then(|| close_text(kind, &stats)),
                stats: Some(stats),
            }),
        }
    }
    let closing = decisions
        .iter()
        .filter(|d| d.action != CloseAction::Keep)
        .count();
    tracing::info!(considered = decisions.len(), closing, "close pass");
    Ok(decisions)
}

/// What applying the close pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CloseReport {
    /// Issues closed.
    pub closed: Vec<u64>,
    /// Writes that failed (the pass goes on).
    pub failures: Vec<ApplyFailure>,
}

/// Performs the close decisions: the signed comment first, then the close (so the reason is
/// there when the close is seen); a failed comment leaves the issue open.
pub fn apply_close(
    decisions: &[CloseDecision],
    tracker: &dyn IssueTracker,
    now: Timestamp,
) -> CloseReport {
    let mut report = CloseReport::default();
    for d in decisions {
        if d.action == CloseAction::Keep {
            continue;
        }
        let target = IssueRef::Existing(d.issue);
        if let Some(comment) = &d.comment
            && let Err(err) = tracker.add_comment(d.issue, &sign_comment(comment))
        {
            report.failures.push(ApplyFailure {
                target,
                operation: "add_comment",
                message: err.to_string(),
            });
            continue;
        }
        match tracker.close_issue(d.issue, now) {
            Ok(()) => report.closed.push(d.issue),
            Err(err) => report.failures.push(ApplyFailure {
                target,
                operation: "close_issue",
                message: err.to_string(),
            }),
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).expect("time")
    }

    #[test]
    fn headers_are_read_as_upstreams_pattern_reads_them() {
        let comment = "Found new dashboard test flakes for:\n\n    default <- x\n\n\
            <details><summary>2025-09-01 10:20 gotip-linux-amd64 go@4941862e net/http.TestX \
            (<a href=\"https://ci.chromium.org/b/1\">log</a>)</summary>\n\n</details>\n\
            <details><summary>2025-09-02 11:00 x_tools-gotip-linux tools@0123abcd go@ffff0000 \
            pkg.Test</summary></details>\n\u{2014} [watchflakes](https://go.dev/wiki/Watchflakes)\n";
        let events = headers(comment);
        assert_eq!(events.len(), 2);
        assert_eq!(events[0].time, at("2025-09-01T10:20:00Z"));
        assert_eq!(events[0].builder, "gotip-linux-amd64");
        assert_eq!(events[0].commit, "4941862e");
        assert_eq!(events[1].builder, "x_tools-gotip-linux");
        assert_eq!(events[1].commit, "0123abcd");
        // `a@b@c1` backs off to the last `@` before a hex digit.
        assert_eq!(headers("2025-09-01 10:20 b r@x@c1")[0].commit, "c1");
        assert!(headers("2025-09-01 10:20 b nohash").is_empty());
        assert!(headers("2025-09-01 10:20  b r@c1").is_empty());
    }

    #[test]
    fn history_counts_a_commit_once_and_reads_only_signed_comments() {
        let sig = "\n\n\u{2014} [watchflakes](https://go.dev/wiki/Watchflakes)\n";
        let a = format!("2025-09-02 10:00 b1 go@aaaa\n2025-09-01 10:00 b2 go@bbbb{sig}");
        let b = format!("2025-09-03 10:00 b3 go@aaaa{sig}");
        let human = "2025-09-04 10:00 b4 go@cccc".to_owned();
        let events = flake_history([a.as_str(), b.as_str(), human.as_str()]);
        let commits: Vec<&str> = events.iter().map(|e| e.commit.as_str()).collect();
        assert_eq!(commits, ["bbbb", "aaaa"]);
    }

    #[test]
    fn the_silence_probability() {
        assert_eq!(silence_p(1, 100, 100), 1.0);
        assert_eq!(silence_p(3, 0, 100), 1.0);
        assert!((silence_p(3, 100, 100) - 0.25).abs() < 1e-12);
        // Solved for silence: span * (alpha^(-1/(n-1)) - 1) is where P reaches alpha.
        let span = 10 * DAY;
        let need = (span as f64 * (CLOSE_ALPHA.powf(-1.0 / 4.0) - 1.0)) as i64;
        assert!(silence_p(5, span, need + 60) < CLOSE_ALPHA);
        assert!(silence_p(5, span, need - 60) > CLOSE_ALPHA);
        assert_eq!(percent(0.0025), "0.25%");
        assert_eq!(percent(0.5), "50%");
        assert_eq!(percent(0.00001), "under 0.01%");
    }
}

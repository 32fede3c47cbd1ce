//! The report as data: every failure of the history window attributed to the issues that own
//! it by triage's own assignment ([`flakewatch_triage::run::plan`]), counted per issue, per
//! builder and per day, and ranked. The renderers only format this.

use std::collections::{BTreeMap, BTreeSet};

use flakewatch_core::Timestamp;
use flakewatch_triage::backend::Issue;
use flakewatch_triage::post::FailurePost;
use flakewatch_triage::run::{Decision, FailureOutcome, IssueRef, TriagePlan};
use flakewatch_triage::text::NewIssue;
use serde::Serialize;

/// The schema name of the JSON document.
pub const SCHEMA: &str = "flakewatch.report/1";

/// The recent window, in days.
pub const RECENT_DAYS: usize = 7;

/// The long window, in days.
pub const LONG_DAYS: usize = 30;

/// The history read: the long window and the one before it (for its trend).
pub const HISTORY_DAYS: usize = 2 * LONG_DAYS;

const DAY: i64 = 86_400;

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// [`SCHEMA`].
    pub schema: &'static str,
    /// The time the windows count back from (RFC 3339).
    pub now: String,
    /// The start of the history window (RFC 3339).
    pub since: String,
    /// The window lengths in days.
    pub windows: Windows,
    /// Totals over all failures.
    pub totals: Totals,
    /// Every tracked issue, ranked (see [`rank`]).
    pub issues: Vec<IssueImpact>,
    /// Failures no existing issue owns, grouped by the issue triage would open for them.
    pub unowned: Vec<UnownedGroup>,
    /// Failures per builder and day over the long window.
    pub heatmap: Heatmap,
}

/// The window lengths.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Windows {
    /// [`RECENT_DAYS`].
    pub recent_days: usize,
    /// [`LONG_DAYS`].
    pub long_days: usize,
    /// [`HISTORY_DAYS`].
    pub history_days: usize,
}

/// Counts over all failures.
#[derive(Clone, Copy, Debug, Default, Serialize, PartialEq, Eq)]
pub struct Totals {
    /// Failures examined in the history window (after the obvious-flake filter and
    /// coalescing, as triage examines them).
    pub failures: usize,
    /// Of them, in the last 7 days.
    pub last_7d: usize,
    /// In the 7 days before.
    pub prev_7d: usize,
    /// In the last 30 days.
    pub last_30d: usize,
    /// In the 30 days before.
    pub prev_30d: usize,
    /// Failures in the last 30 days owned by at least one existing issue.
    pub owned_30d: usize,
    /// Failures in the last 30 days no existing issue owns.
    pub unowned_30d: usize,
    /// Failed builds the obvious-flake filter skipped (not counted anywhere else).
    pub filtered_builds: usize,
    /// Tracked issues.
    pub issues: usize,
    /// Issues with a failure in the last 30 days.
    pub issues_active_30d: usize,
}

/// Counts shared by issues and unowned groups.
#[derive(Clone, Debug, Default, Serialize, PartialEq)]
pub struct Impact {
    /// Failures in the last 7 days.
    pub last_7d: usize,
    /// Failures in the 7 days before.
    pub prev_7d: usize,
    /// Failures in the last 30 days.
    pub last_30d: usize,
    /// Failures in the 30 days before.
    pub prev_30d: usize,
    /// The last 7 days against the 7 before: `rising`, `falling`, `steady`, `new` (none
    /// before), `quiet` (none in either).
    pub trend: &'static str,
    /// Share of all failures of the last 30 days (0 to 1; a failure posted to two issues
    /// counts for both).
    pub share_30d: f64,
    /// Builders with a failure in the last 30 days, sorted.
    pub builders: Vec<String>,
    /// Branches (`repo@go_branch`) with a failure in the last 30 days, sorted.
    pub branches: Vec<String>,
    /// The oldest failure of the history window (RFC 3339).
    pub first_seen: Option<String>,
    /// The newest failure of the history window (RFC 3339).
    pub last_seen: Option<String>,
    /// The newest failure's build.
    pub last_url: Option<String>,
    /// Failures per day, oldest first, [`HISTORY_DAYS`] days ending today.
    pub daily: Vec<usize>,
}

/// One tracked issue and its impact.
#[derive(Clone, Debug, Serialize)]
pub struct IssueImpact {
    /// 1-based rank.
    pub rank: usize,
    /// Issue number.
    pub number: u64,
    /// Title.
    pub title: String,
    /// `open` or `closed`.
    pub state: &'static str,
    /// The counts.
    #[serde(flatten)]
    pub impact: Impact,
}

/// Failures no existing issue owns, under the title of the issue triage would open.
#[derive(Clone, Debug, Serialize)]
pub struct UnownedGroup {
    /// The new issue's title.
    pub title: String,
    /// Failures in the group over the history window.
    pub failures: usize,
    /// The counts.
    #[serde(flatten)]
    pub impact: Impact,
}

/// Failures per builder and day.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Heatmap {
    /// The days (`YYYY-MM-DD`, UTC), oldest first: the long window.
    pub days: Vec<String>,
    /// One row per builder with a failure in the window: most failures first.
    pub rows: Vec<HeatmapRow>,
}

/// One builder's failures per day.
#[derive(Clone, Debug, Serialize)]
pub struct HeatmapRow {
    /// The builder.
    pub builder: String,
    /// Failures in the window.
    pub total: usize,
    /// Failures per day, as [`Heatmap::days`].
    pub counts: Vec<usize>,
}

/// The existing issues that own a failure: the issue whose `skip` dropped it, the issues it
/// is queued on, and those already mentioning it. Sorted, without duplicates.
pub fn owners(outcome: &FailureOutcome) -> Vec<u64> {
    let mut owners: Vec<u64> = outcome.already_mentioned.clone();
    if let Decision::Skip(IssueRef::Existing(n)) = outcome.decision {
        owners.push(n);
    }
    owners.extend(outcome.queued.iter().filter_map(|r| match r {
        IssueRef::Existing(n) => Some(*n),
        IssueRef::New(_) => None,
    }));
    owners.sort_unstable();
    owners.dedup();
    owners
}

/// The start of the history window for `now`.
pub fn history_start(now: Timestamp) -> Timestamp {
    Timestamp::from_unix(now.unix_seconds() - HISTORY_DAYS as i64 * DAY, 0).unwrap_or(now)
}

/// How many whole days before `now` a failure at `time` is; `None` outside the history
/// window (also after `now`).
fn age_days(now: Timestamp, time: Timestamp) -> Option<usize> {
    let age = now.unix_seconds() - time.unix_seconds();
    if age < 0 {
        return None;
    }
    let days = usize::try_from(age / DAY).ok()?;
    (days < HISTORY_DAYS).then_some(days)
}

/// The label of day `age`, the 24 hours ending `age` days before `now`: the date
/// (`YYYY-MM-DD`, UTC) of its last second (with `now` at midnight, the calendar day).
fn day_label(now: Timestamp, age: usize) -> String {
    let t = Timestamp::from_unix(now.unix_seconds() - age as i64 * DAY - 1, 0).unwrap_or(now);
    t.format_rfc3339().chars().take(10).collect()
}

/// The trend of `last` against `prev`.
fn trend(last: usize, prev: usize) -> &'static str {
    match (last, prev) {
        (0, 0) => "quiet",
        (_, 0) => "new",
        _ if 2 * last >= 3 * prev => "rising",
        _ if 3 * last <= 2 * prev => "falling",
        _ => "steady",
    }
}

/// Accumulates one group's failures.
#[derive(Default)]
struct Tally {
    daily: Vec<usize>,
    builders: BTreeSet<String>,
    branches: BTreeSet<String>,
    first: Option<Timestamp>,
    last: Option<(Timestamp, String)>,
    count: usize,
}

impl Tally {
    fn add(&mut self, post: &FailurePost, age: usize) {
        if self.daily.is_empty() {
            self.daily = vec![0; HISTORY_DAYS];
        }
        self.daily[HISTORY_DAYS - 1 - age] += 1;
        self.count += 1;
        if age < LONG_DAYS {
            self.builders.insert(post.builder.clone());
            self.branches.insert(branch(post));
        }
        if self.first.is_none_or(|t| post.time < t) {
            self.first = Some(post.time);
        }
        if self.last.as_ref().is_none_or(|(t, _)| post.time >= *t) {
            self.last = Some((post.time, post.url.clone()));
        }
    }

    fn impact(self, total_30d: usize) -> Impact {
        let daily = if self.daily.is_empty() {
            vec![0; HISTORY_DAYS]
        } else {
            self.daily
        };
        // daily[HISTORY_DAYS - 1] is today; ages count back from there.
        let sum = |ages: std::ops::Range<usize>| -> usize {
            ages.map(|a| daily[HISTORY_DAYS - 1 - a]).sum()
        };
        let last_7d = sum(0..RECENT_DAYS);
        let prev_7d = sum(RECENT_DAYS..2 * RECENT_DAYS);
        let last_30d = sum(0..LONG_DAYS);
        let prev_30d = sum(LONG_DAYS..HISTORY_DAYS);
        Impact {
            last_7d,
            prev_7d,
            last_30d,
            prev_30d,
            trend: trend(last_7d, prev_7d),
            share_30d: if total_30d == 0 {
                0.0
            } else {
                last_30d as f64 / total_30d as f64
            },
            builders: self.builders.into_iter().collect(),
            branches: self.branches.into_iter().collect(),
            first_seen: self.first.map(Timestamp::format_rfc3339),
            last_seen: self.last.as_ref().map(|(t, _)| t.format_rfc3339()),
            last_url: self.last.map(|(_, url)| url),
            daily,
        }
    }
}

/// `repo@go_branch` (just `repo` without a branch).
fn branch(post: &FailurePost) -> String {
    if post.go_branch.is_empty() {
        post.repo.clone()
    } else {
        format!("{}@{}", post.repo, post.go_branch)
    }
}

/// The ranking: failures in the last 7 days, then in the last 30, then the newest failure,
/// most first; ties by issue number.
pub fn rank(issues: &mut [IssueImpact]) {
    issues.sort_by(|a, b| {
        (b.impact.last_7d, b.impact.last_30d, &b.impact.last_seen)
            .cmp(&(a.impact.last_7d, a.impact.last_30d, &a.impact.last_seen))
            .then(a.number.cmp(&b.number))
    });
    for (i, issue) in issues.iter_mut().enumerate() {
        issue.rank = i + 1;
    }
}

/// The report of a triage plan computed over the history window ([`history_start`]) of
/// `now`: `issues` is the tracker's listing, `plan` the plan over it.
pub fn report_from_plan(issues: &[Issue], plan: &TriagePlan, now: Timestamp) -> Report {
    let mut totals = Totals {
        filtered_builds: plan.filtered.len(),
        issues: issues.len(),
        ..Totals::default()
    };
    let mut by_issue: BTreeMap<u64, Tally> = BTreeMap::new();
    let mut unowned: BTreeMap<String, Tally> = BTreeMap::new();
    let mut heat: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for outcome in &plan.outcomes {
        let post = &outcome.post;
        let Some(age) = age_days(now, post.time) else {
            continue;
        };
        totals.failures += 1;
        let recent = age < RECENT_DAYS;
        let long = age < LONG_DAYS;
        totals.last_7d += usize::from(recent);
        totals.prev_7d += usize::from((RECENT_DAYS..2 * RECENT_DAYS).contains(&age));
        totals.last_30d += usize::from(long);
        totals.prev_30d += usize::from(!long);
        let owners = owners(outcome);
        if long {
            if owners.is_empty() {
                totals.unowned_30d += 1;
            } else {
                totals.owned_30d += 1;
            }
            heat.entry(post.builder.clone())
                .or_insert_with(|| vec![0; LONG_DAYS])[LONG_DAYS - 1 - age] += 1;
        }
        if owners.is_empty() {
            let title = NewIssue::for_failure(post).title;
            unowned.entry(title).or_default().add(post, age);
        }
        for n in owners {
            by_issue.entry(n).or_default().add(post, age);
        }
    }
    let total_30d = totals.last_30d;
    let mut ranked: Vec<IssueImpact> = issues
        .iter()
        .map(|issue| IssueImpact {
            rank: 0,
            number: issue.number,
            title: issue.title.clone(),
            state: if issue.closed { "closed" } else { "open" },
            impact: by_issue
                .remove(&issue.number)
                .unwrap_or_default()
                .impact(total_30d),
        })
        .collect();
    rank(&mut ranked);
    totals.issues_active_30d = ranked.iter().filter(|i| i.impact.last_30d > 0).count();
    let mut unowned: Vec<UnownedGroup> = unowned
        .into_iter()
        .map(|(title, tally)| UnownedGroup {
            title,
            failures: tally.count,
            impact: tally.impact(total_30d),
        })
        .collect();
    unowned.sort_by(|a, b| {
        (b.impact.last_7d, b.impact.last_30d, b.failures)
            .cmp(&(a.impact.last_7d, a.impact.last_30d, a.failures))
            .then_with(|| a.title.cmp(&b.title))
    });
    let mut rows: Vec<HeatmapRow> = heat
        .into_iter()
        .map(|(builder, counts)| HeatmapRow {
            builder,
            total: counts.iter().sum(),
            counts,
        })
        .collect();
    rows.sort_by(|a, b| {
        b.total
            .cmp(&a.total)
            .then_with(|| a.builder.cmp(&b.builder))
    });
    Report {
        schema: SCHEMA,
        now: now.format_rfc3339(),
        since: history_start(now).format_rfc3339(),
        windows: Windows {
            recent_days: RECENT_DAYS,
            long_days: LONG_DAYS,
            history_days: HISTORY_DAYS,
        },
        totals,
        issues: ranked,
        unowned,
        heatmap: Heatmap {
            days: (0..LONG_DAYS)
                .rev()
                .map(|age| day_label(now, age))
                .collect(),
            rows,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trends() {
        assert_eq!(trend(0, 0), "quiet");
        assert_eq!(trend(3, 0), "new");
        assert_eq!(trend(3, 2), "rising");
        assert_eq!(trend(2, 3), "falling");
        assert_eq!(trend(5, 4), "steady");
        assert_eq!(trend(0, 4), "falling");
    }

    #[test]
    fn ages_count_whole_days_back_and_stop_at_the_window() {
        let now = Timestamp::parse_rfc3339("2025-10-01T00:00:00Z").expect("time");
        let at = |s: &str| Timestamp::parse_rfc3339(s).expect("time");
        assert_eq!(age_days(now, at("2025-09-30T23:59:59Z")), Some(0));
        assert_eq!(age_days(now, at("2025-09-30T00:00:00Z")), Some(1));
        assert_eq!(age_days(now, at("2025-10-01T00:00:01Z")), None);
        assert_eq!(age_days(now, at("2025-08-02T00:00:01Z")), Some(59));
        assert_eq!(age_days(now, at("2025-08-02T00:00:00Z")), None);
        assert_eq!(day_label(now, 0), "2025-09-30");
        assert_eq!(day_label(now, 1), "2025-09-29");
    }

    fn post(time: &str, builder: &str, test: &str) -> FailurePost {
        FailurePost {
            time: Timestamp::parse_rfc3339(time).expect("time"),
            builder: builder.to_owned(),
            repo: "go".to_owned(),
            go_branch: "master".to_owned(),
            pkg: "net/http".to_owned(),
            test: test.to_owned(),
            url: format!("https://ci/{builder}/{time}"),
            ..FailurePost::default()
        }
    }

    fn outcome(post: FailurePost, decision: Decision, queued: Vec<IssueRef>) -> FailureOutcome {
        FailureOutcome {
            post,
            decision,
            queued,
            already_mentioned: Vec::new(),
        }
    }

    /// A hand-worked plan: issue 1 owns three failures (two this week, one 10 days back),
    /// issue 2 one by `skip` 40 days back, issue 3 none; one failure goes to a new issue.
    #[test]
    fn a_hand_worked_report() {
        let now = Timestamp::parse_rfc3339("2025-10-01T00:00:00Z").expect("time");
        let outcomes = vec![
            outcome(
                post("2025-08-22T10:00:00Z", "b", "TestB"),
                Decision::Skip(IssueRef::Existing(2)),
                vec![],
            ),
            outcome(
                post("2025-09-21T10:00:00Z", "a", "TestA"),
                Decision::Post,
                vec![IssueRef::Existing(1)],
            ),
            outcome(
                post("2025-09-28T10:00:00Z", "a", "TestA"),
                Decision::Default,
                vec![IssueRef::Existing(1)],
            ),
            FailureOutcome {
                already_mentioned: vec![1],
                ..outcome(
                    post("2025-09-30T10:00:00Z", "c", "TestA"),
                    Decision::Default,
                    vec![],
                )
            },
            outcome(
                post("2025-09-29T10:00:00Z", "c", "TestNew"),
                Decision::NewIssue,
                vec![IssueRef::New(0)],
            ),
        ];
        let plan = TriagePlan {
            stats: Default::default(),
            filtered: Vec::new(),
            over_limits: Vec::new(),
            script_errors: Vec::new(),
            outcomes,
            updates: Vec::new(),
            max_new_issues: 100,
        };
        let issues: Vec<Issue> = (1..=3)
            .map(|n| Issue {
                number: n,
                title: format!("issue {n}"),
                closed: n == 3,
                ..Issue::default()
            })
            .collect();
        let report = report_from_plan(&issues, &plan, now);
        assert_eq!(report.totals.failures, 5);
        assert_eq!(report.totals.last_7d, 3);
        assert_eq!(report.totals.prev_7d, 1);
        assert_eq!(report.totals.last_30d, 4);
        assert_eq!(report.totals.prev_30d, 1);
        assert_eq!(report.totals.owned_30d, 3);
        assert_eq!(report.totals.unowned_30d, 1);
        assert_eq!(report.totals.issues_active_30d, 1);
        let order: Vec<u64> = report.issues.iter().map(|i| i.number).collect();
        assert_eq!(order, [1, 2, 3]);
        let first = &report.issues[0].impact;
        assert_eq!((first.last_7d, first.prev_7d, first.last_30d), (2, 1, 3));
        assert_eq!(first.trend, "rising");
        assert_eq!(first.builders, ["a", "c"]);
        assert_eq!(first.branches, ["go@master"]);
        assert_eq!(first.first_seen.as_deref(), Some("2025-09-21T10:00:00Z"));
        assert_eq!(first.last_seen.as_deref(), Some("2025-09-30T10:00:00Z"));
        assert!((first.share_30d - 0.75).abs() < 1e-9);
        assert_eq!(first.daily.iter().sum::<usize>(), 3);
        assert_eq!(first.daily[HISTORY_DAYS - 1], 1, "the last day");
        assert_eq!(first.daily[HISTORY_DAYS - 3], 1, "two days before");
        let second = &report.issues[1];
        assert_eq!((second.impact.last_30d, second.impact.prev_30d), (0, 1));
        assert!(second.impact.builders.is_empty(), "only the last 30 days");
        assert_eq!(report.issues[2].state, "closed");
        assert_eq!(report.issues[2].impact.trend, "quiet");
        assert_eq!(report.unowned.len(), 1);
        assert_eq!(report.unowned[0].title, "net/http: TestNew failures");
        assert_eq!(report.heatmap.days.len(), LONG_DAYS);
        assert_eq!(report.heatmap.days[LONG_DAYS - 1], "2025-09-30");
        assert_eq!(report.heatmap.rows[0].builder, "a");
        assert_eq!(report.heatmap.rows[0].total, 2);
        assert_eq!(
            report.heatmap.rows.iter().map(|r| r.total).sum::<usize>(),
            4
        );
    }
}

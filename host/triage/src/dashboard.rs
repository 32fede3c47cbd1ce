//! Dashboards (builders × commits of one repo and Go branch) and the "obvious flake" filter
//! that runs on them before any matching: broken commits, then broken builders
//! (docs/triage.md, "Failures without passing builds").

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use super::failure::Failure;
use flakewatch_core::Timestamp;

/// The number of consecutive failures from which a run is not a flake (`tooManyToBeFlakes`).
pub const TOO_MANY_TO_BE_FLAKES: usize = 4;

/// A Buildbucket build status, plus the mark the filter leaves on the results it removes.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum BuildStatus {
    /// `STATUS_UNSPECIFIED`.
    #[default]
    Unspecified,
    /// `SCHEDULED`.
    Scheduled,
    /// `STARTED`.
    Started,
    /// `SUCCESS`.
    Success,
    /// `FAILURE`: the only status whose builds are examined for flakes.
    Failure,
    /// `INFRA_FAILURE`.
    InfraFailure,
    /// `CANCELED`.
    Canceled,
    /// Removed by the obvious-flake filter. Upstream smashes the status to
    /// `STATUS_UNSPECIFIED`; like that, it counts as "other status" everywhere.
    Skipped,
}

/// A builder of a dashboard, with the builder-config properties the records use.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Builder {
    /// Builder name (`gotip-linux-amd64`).
    pub name: String,
    /// Config `project`: the repository it tests (`go`, `tools`, …).
    pub repo: String,
    /// Config `go_branch` (`master`, `release-branch.go1.24`, …).
    pub go_branch: String,
    /// Config `target.goos`.
    pub goos: String,
    /// Config `target.goarch`.
    pub goarch: String,
}

/// A commit of the dashboard's repository.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Commit {
    /// Full commit hash.
    pub hash: String,
    /// Commit time.
    pub time: Timestamp,
}

/// The result of one build: one cell of a dashboard.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BuildResult {
    /// Buildbucket build ID.
    pub id: i64,
    /// Build status (changed to [`BuildStatus::Skipped`] by the filter).
    pub status: BuildStatus,
    /// Builder name.
    pub builder: String,
    /// The builder's repository.
    pub repo: String,
    /// The builder's Go branch.
    pub go_branch: String,
    /// The builder's target OS.
    pub goos: String,
    /// The builder's target architecture.
    pub goarch: String,
    /// The commit built (of `repo`).
    pub commit: String,
    /// For a subrepo build, the Go commit; otherwise empty.
    pub go_commit: String,
    /// Commit time (filled in from the dashboard's commit list).
    pub time: Timestamp,
    /// When the build ended; of two builds of one commit on one builder the later one counts.
    pub build_time: Timestamp,
    /// The whole-build log (shared with the posts made from this build).
    pub log_text: Arc<str>,
    /// The log of the last failed step.
    pub step_log_text: String,
    /// The failed tests, sorted by TestID.
    pub failures: Vec<Failure>,
    /// Whether this is a consistent failure at the tip of its builder (still reported).
    pub top: bool,
}

impl BuildResult {
    /// A result for `builder` with its config properties copied in.
    pub fn for_builder(builder: &Builder, id: i64, status: BuildStatus) -> BuildResult {
        BuildResult {
            id,
            status,
            builder: builder.name.clone(),
            repo: builder.repo.clone(),
            go_branch: builder.go_branch.clone(),
            goos: builder.goos.clone(),
            goarch: builder.goarch.clone(),
            ..BuildResult::default()
        }
    }
}

/// What the obvious-flake filter reads and writes of a dashboard cell: a whole
/// [`BuildResult`], or a [`Slot`] that holds only that.
pub trait Cell {
    /// The build ID.
    fn id(&self) -> i64;
    /// The status (as the filter has left it so far).
    fn status(&self) -> BuildStatus;
    /// Sets the status (the filter sets [`BuildStatus::Skipped`]).
    fn set_status(&mut self, status: BuildStatus);
    /// Marks a consistent failure at the tip of its builder.
    fn set_top(&mut self);
}

impl Cell for BuildResult {
    fn id(&self) -> i64 {
        self.id
    }

    fn status(&self) -> BuildStatus {
        self.status
    }

    fn set_status(&mut self, status: BuildStatus) {
        self.status = status;
    }

    fn set_top(&mut self) {
        self.top = true;
    }
}

/// A cell that holds only what the filter and the placement of builds read: the build's ID,
/// status, end time and `top` mark, and where its whole result is kept (for failed builds;
/// see [`crate::source::LeanDashboards`]). A dashboard of slots costs a few dozen bytes per
/// build instead of a whole result with its strings.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Slot {
    /// Buildbucket build ID.
    pub id: i64,
    /// Build status (changed to [`BuildStatus::Skipped`] by the filter).
    pub status: BuildStatus,
    /// Whether the filter marked it a consistent failure at the tip of its builder.
    pub top: bool,
    /// When the build ended.
    pub build_time: Timestamp,
    /// The index of its whole result among the kept ones, if it was kept.
    pub kept: Option<u32>,
}

impl Cell for Slot {
    fn id(&self) -> i64 {
        self.id
    }

    fn status(&self) -> BuildStatus {
        self.status
    }

    fn set_status(&mut self, status: BuildStatus) {
        self.status = status;
    }

    fn set_top(&mut self) {
        self.top = true;
    }
}

/// The order in which failed builds are processed: commit time, then repo, builder and
/// commit hash.
pub fn build_order(a: &BuildResult, b: &BuildResult) -> Ordering {
    a.time
        .cmp(&b.time)
        .then_with(|| a.repo.cmp(&b.repo))
        .then_with(|| a.builder.cmp(&b.builder))
        .then_with(|| a.commit.cmp(&b.commit))
}

/// A cell index outside the dashboard.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DashboardError {
    /// No builder with this index.
    #[error("builder index {index} out of range (dashboard has {len} builders)")]
    Builder {
        /// The index asked for.
        index: usize,
        /// The number of builders.
        len: usize,
    },
    /// No commit with this index.
    #[error("commit index {index} out of range (dashboard has {len} commits)")]
    Commit {
        /// The index asked for.
        index: usize,
        /// The number of commits.
        len: usize,
    },
}

/// What [`Dashboard::place`] did with a build.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Placement {
    /// The cell was empty; the build fills it.
    Placed,
    /// The cell held a build that ended no later; this one replaces it.
    Replaced,
    /// The cell holds a build that ended later; this one is dropped.
    Older,
    /// The build's commit is not in the dashboard's window; it is dropped.
    OutsideWindow,
}

/// One dashboard: the builders of one (repo, Go branch) × the commits in the time window,
/// newest commit first. A cell holds the build that counts for that builder and commit, or
/// nothing (a gap): by default its whole [`BuildResult`], or any other [`Cell`] (a [`Slot`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dashboard<C = BuildResult> {
    /// The repository (`go`, `tools`, …).
    pub repo: String,
    /// The Go branch.
    pub go_branch: String,
    builders: Vec<Builder>,
    commits: Vec<Commit>,
    /// Column of each commit hash (its first column when a hash repeats), so placing a build
    /// is one lookup, not a scan of the window's commits.
    columns: HashMap<String, usize>,
    results: Vec<Vec<Option<C>>>,
}

impl Dashboard {
    /// An empty dashboard (every cell a gap). `commits` are newest first.
    pub fn new(
        repo: impl Into<String>,
        go_branch: impl Into<String>,
        builders: Vec<Builder>,
        commits: Vec<Commit>,
    ) -> Dashboard {
        Dashboard::with_cells(repo, go_branch, builders, commits)
    }

    /// Puts a build of `builder` into the column of its commit, as upstream assembles a
    /// dashboard: of two builds of one commit the one that ended later wins (on a tie, the
    /// one placed last), a build of a commit outside the window is dropped, and the result
    /// takes the commit's time.
    pub fn place(
        &mut self,
        builder: usize,
        mut result: BuildResult,
    ) -> Result<Placement, DashboardError> {
        let Some(commit) = self.column(&result.commit) else {
            if builder >= self.builders.len() {
                return Err(DashboardError::Builder {
                    index: builder,
                    len: self.builders.len(),
                });
            }
            return Ok(Placement::OutsideWindow);
        };
        result.time = self.commits[commit].time;
        let build_time = result.build_time;
        self.place_at(builder, commit, result, build_time, |old| old.build_time)
    }
}

impl<C> Dashboard<C> {
    /// An empty dashboard of any cell type (every cell a gap). `commits` are newest first.
    pub fn with_cells(
        repo: impl Into<String>,
        go_branch: impl Into<String>,
        builders: Vec<Builder>,
        commits: Vec<Commit>,
    ) -> Dashboard<C> {
        let results = (0..builders.len())
            .map(|_| (0..commits.len()).map(|_| None).collect())
            .collect();
        let mut columns = HashMap::with_capacity(commits.len());
        for (i, commit) in commits.iter().enumerate() {
            columns.entry(commit.hash.clone()).or_insert(i);
        }
        Dashboard {
            repo: repo.into(),
            go_branch: go_branch.into(),
            builders,
            commits,
            columns,
            results,
        }
    }

    /// The builders (rows).
    pub fn builders(&self) -> &[Builder] {
        &self.builders
    }

    /// The commits (columns), newest first.
    pub fn commits(&self) -> &[Commit] {
        &self.commits
    }

    /// The column of a commit hash (its first, should the hash repeat).
    pub fn column(&self, hash: &str) -> Option<usize> {
        self.columns.get(hash).copied()
    }

    /// The results of one builder, newest commit first.
    pub fn row(&self, builder: usize) -> Option<&[Option<C>]> {
        self.results.get(builder).map(Vec::as_slice)
    }

    /// The result in one cell, if there is a build there.
    pub fn result(&self, builder: usize, commit: usize) -> Option<&C> {
        self.results.get(builder)?.get(commit)?.as_ref()
    }

    /// Sets one cell (`None` makes it a gap).
    pub fn set(
        &mut self,
        builder: usize,
        commit: usize,
        result: Option<C>,
    ) -> Result<(), DashboardError> {
        *self.cell_mut(builder, commit)? = result;
        Ok(())
    }

    /// Places `cell`, which ended at `build_time`, in one cell by [`Dashboard::place`]'s rule
    /// (the later build wins; on a tie, this one); `ended` tells when a held cell's build
    /// ended. A cell this one replaces, or this one when it loses, is given back.
    pub fn place_cell(
        &mut self,
        builder: usize,
        commit: usize,
        cell: C,
        build_time: Timestamp,
        ended: impl Fn(&C) -> Timestamp,
    ) -> Result<(Placement, Option<C>), DashboardError> {
        let slot = self.cell_mut(builder, commit)?;
        match slot {
            Some(old) if build_time < ended(old) => Ok((Placement::Older, Some(cell))),
            Some(_) => Ok((Placement::Replaced, slot.replace(cell))),
            None => {
                *slot = Some(cell);
                Ok((Placement::Placed, None))
            }
        }
    }

    fn place_at(
        &mut self,
        builder: usize,
        commit: usize,
        cell: C,
        build_time: Timestamp,
        ended: impl Fn(&C) -> Timestamp,
    ) -> Result<Placement, DashboardError> {
        self.place_cell(builder, commit, cell, build_time, ended)
            .map(|(placement, _)| placement)
    }

    fn cell_mut(
        &mut self,
        builder: usize,
        commit: usize,
    ) -> Result<&mut Option<C>, DashboardError> {
        let (builders, commits) = (self.builders.len(), self.commits.len());
        let row = self
            .results
            .get_mut(builder)
            .ok_or(DashboardError::Builder {
                index: builder,
                len: builders,
            })?;
        row.get_mut(commit).ok_or(DashboardError::Commit {
            index: commit,
            len: commits,
        })
    }
}

impl<C: Cell> Dashboard<C> {
    /// The builds still marked [`BuildStatus::Failure`], row by row.
    pub fn failed_builds(&self) -> impl Iterator<Item = &C> {
        self.results
            .iter()
            .flatten()
            .flatten()
            .filter(|r| r.status() == BuildStatus::Failure)
    }

    /// Runs both passes of the obvious-flake filter: [`skip_broken_commits`] then
    /// [`skip_broken_builders`].
    pub fn filter_obvious_flakes(&mut self) -> Vec<SkipEvent> {
        let mut events = skip_broken_commits(self);
        events.extend(skip_broken_builders(self));
        events
    }
}

/// What the filter skipped, for logging (upstream prints one `skip:` line per event).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SkipEvent {
    /// Every result of this commit was skipped (pass 1).
    BrokenCommit {
        /// Column of the commit.
        commit: usize,
        /// Successful builds of the commit.
        good: usize,
        /// Failed builds of the commit.
        bad: usize,
    },
    /// This result was skipped as part of a broken run of its builder (pass 2).
    BrokenBuilder {
        /// Row of the builder.
        builder: usize,
        /// Column of the commit.
        commit: usize,
    },
}

/// Pass 1: skips every result of each commit that failed on more than ⌊builders/4⌋ builders
/// or succeeded on fewer than that (so with fewer than 4 builders any failure skips its
/// commit, and so does too little coverage).
pub fn skip_broken_commits<C: Cell>(dash: &mut Dashboard<C>) -> Vec<SkipEvent> {
    let threshold = dash.builders.len() / 4;
    let mut events = Vec::new();
    for commit in 0..dash.commits.len() {
        let (mut good, mut bad) = (0, 0);
        for r in dash.results.iter().filter_map(|row| row[commit].as_ref()) {
            match r.status() {
                BuildStatus::Success => good += 1,
                BuildStatus::Failure => bad += 1,
                _ => {}
            }
        }
        if bad > threshold || good < threshold {
            events.push(SkipEvent::BrokenCommit { commit, good, bad });
            for r in dash
                .results
                .iter_mut()
                .filter_map(|row| row[commit].as_mut())
            {
                r.set_status(BuildStatus::Skipped);
            }
        }
    }
    events
}

/// Pass 2: scans each builder from the newest commit to the oldest, counting consecutive
/// failures (gaps and other statuses neither count nor break a run).
///
/// * The run at the top (before the first success): fewer than [`TOO_MANY_TO_BE_FLAKES`]
///   failures skip every result before that success; more are kept and marked `top`.
/// * An inner run of [`TOO_MANY_TO_BE_FLAKES`] or more is skipped whole.
/// * A run still open at the oldest commit is skipped from its first failure to the end of
///   the row (for a top run: the whole row), whatever its length.
pub fn skip_broken_builders<C: Cell>(dash: &mut Dashboard<C>) -> Vec<SkipEvent> {
    let mut events = Vec::new();
    for (builder, row) in dash.results.iter_mut().enumerate() {
        let mut skip = |row: &mut [Option<C>], commit: usize| {
            if let Some(r) = row[commit].as_mut() {
                r.set_status(BuildStatus::Skipped);
                events.push(SkipEvent::BrokenBuilder { builder, commit });
            }
        };
        let mut bad = 0;
        let mut bad_start = 0;
        let mut top = true;
        for i in 0..row.len() {
            let Some(r) = row[i].as_mut() else { continue };
            match r.status() {
                BuildStatus::Success => {
                    if top && bad < TOO_MANY_TO_BE_FLAKES {
                        // Too few to tell a flake from a fresh breakage.
                        for j in 0..i {
                            skip(row, j);
                        }
                    }
                    top = false;
                    bad = 0;
                    continue;
                }
                BuildStatus::Failure => {
                    bad += 1;
                    if top {
                        r.set_top();
                        continue;
                    }
                }
                _ => continue,
            }
            if bad == 1 {
                bad_start = i;
            } else if bad == TOO_MANY_TO_BE_FLAKES {
                for j in bad_start..i {
                    skip(row, j);
                }
            }
            if bad >= TOO_MANY_TO_BE_FLAKES {
                skip(row, i);
            }
        }
        // A run reaching the window's cutoff may go on long before it: not a flake.
        if bad > 0 {
            for j in bad_start..row.len() {
                skip(row, j);
            }
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a dashboard from a grid of `S F I .` (rows = builders, newest commit first).
    fn grid(rows: &[&str]) -> Dashboard {
        let width = rows.first().map_or(0, |r| r.len());
        let builders: Vec<Builder> = (0..rows.len())
            .map(|i| Builder {
                name: format!("b{i}"),
                ..Builder::default()
            })
            .collect();
        let commits = (0..width)
            .map(|i| Commit {
                hash: format!("c{i}"),
                ..Commit::default()
            })
            .collect();
        let mut dash = Dashboard::new("go", "master", builders.clone(), commits);
        for (b, row) in rows.iter().enumerate() {
            for (c, ch) in row.chars().enumerate() {
                let status = match ch {
                    'S' => BuildStatus::Success,
                    'F' => BuildStatus::Failure,
                    'I' => BuildStatus::InfraFailure,
                    _ => continue,
                };
                let r = BuildResult::for_builder(&builders[b], 0, status);
                dash.set(b, c, Some(r)).expect("in range");
            }
        }
        dash
    }

    fn render(dash: &Dashboard) -> Vec<String> {
        (0..dash.builders().len())
            .map(|b| {
                dash.row(b)
                    .expect("row")
                    .iter()
                    .map(|cell| match cell {
                        None => '.',
                        Some(r) => match r.status {
                            BuildStatus::Success => 'S',
                            BuildStatus::Failure if r.top => 'T',
                            BuildStatus::Failure => 'F',
                            BuildStatus::Skipped => 'x',
                            _ => 'I',
                        },
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn top_run_of_four_is_kept_and_marked() {
        let mut dash = grid(&["FFFFSSSS", "SSSSSSSS", "SSSSSSSS", "SSSSSSSS"]);
        let events = dash.filter_obvious_flakes();
        assert!(events.is_empty(), "{events:?}");
        assert_eq!(render(&dash)[0], "TTTTSSSS");
        assert_eq!(dash.failed_builds().count(), 4);
    }

    #[test]
    fn short_top_run_skips_everything_before_the_success() {
        let mut dash = grid(&["FIF.SFSS", "SSSSSSSS", "SSSSSSSS", "SSSSSSSS"]);
        skip_broken_builders(&mut dash);
        // The infra failure before the first success is skipped too; the gap stays.
        assert_eq!(render(&dash)[0], "xxx.SFSS");
    }

    #[test]
    fn gaps_and_other_statuses_do_not_break_runs() {
        let mut dash = grid(&["SF.FIFFS", "SSSSSSSS", "SSSSSSSS", "SSSSSSSS"]);
        skip_broken_builders(&mut dash);
        // A run of four skips everything from its first failure, other statuses included.
        assert_eq!(render(&dash)[0], "Sx.xxxxS");
        let mut dash = grid(&["SFF.IFSS"]);
        skip_broken_builders(&mut dash);
        assert_eq!(render(&dash)[0], "SFF.IFSS");
    }

    #[test]
    fn run_open_at_the_cutoff_is_skipped_from_its_start() {
        let mut dash = grid(&["SFSF.I"]);
        let events = skip_broken_builders(&mut dash);
        assert_eq!(render(&dash)[0], "SFSx.x");
        assert_eq!(
            events,
            [
                SkipEvent::BrokenBuilder {
                    builder: 0,
                    commit: 3
                },
                SkipEvent::BrokenBuilder {
                    builder: 0,
                    commit: 5
                },
            ]
        );
    }

    #[test]
    fn broken_commit_thresholds() {
        // 8 builders: t = 2. Two failures are fine, three are not; so is too little coverage.
        let mut dash = grid(&["FFS", "FF.", "SF.", "S..", "S..", "S..", "S..", "S.."]);
        let events = skip_broken_commits(&mut dash);
        assert_eq!(
            events,
            [
                SkipEvent::BrokenCommit {
                    commit: 1,
                    good: 0,
                    bad: 3
                },
                SkipEvent::BrokenCommit {
                    commit: 2,
                    good: 1,
                    bad: 0
                },
            ]
        );
        assert_eq!(render(&dash)[0], "Fxx");
        assert_eq!(render(&dash)[3], "S..");
        // With no builders nothing happens; with no commits neither.
        assert!(skip_broken_commits(&mut Dashboard::<Slot>::default()).is_empty());
        assert!(skip_broken_builders(&mut grid(&["", ""])).is_empty());
    }

    #[test]
    fn place_keeps_the_later_build() {
        let builder = Builder {
            name: "b".to_owned(),
            repo: "go".to_owned(),
            ..Builder::default()
        };
        let t = |s| Timestamp::from_unix(s, 0).expect("valid");
        let commits = vec![
            Commit {
                hash: "new".to_owned(),
                time: t(200),
            },
            Commit {
                hash: "old".to_owned(),
                time: t(100),
            },
        ];
        let mut dash = Dashboard::new("go", "master", vec![builder.clone()], commits);
        let build = |id, commit: &str, end| BuildResult {
            commit: commit.to_owned(),
            build_time: t(end),
            ..BuildResult::for_builder(&builder, id, BuildStatus::Failure)
        };
        assert_eq!(dash.place(0, build(1, "old", 50)), Ok(Placement::Placed));
        assert_eq!(dash.place(0, build(2, "old", 40)), Ok(Placement::Older));
        assert_eq!(dash.place(0, build(3, "old", 50)), Ok(Placement::Replaced));
        assert_eq!(
            dash.place(0, build(4, "gone", 60)),
            Ok(Placement::OutsideWindow)
        );
        assert_eq!(
            dash.place(1, build(5, "new", 60)),
            Err(DashboardError::Builder { index: 1, len: 1 })
        );
        let cell = dash.result(0, 1).expect("placed");
        assert_eq!((cell.id, cell.time), (3, t(100)));
        assert!(dash.result(0, 0).is_none());
        assert_eq!(
            dash.set(0, 2, None),
            Err(DashboardError::Commit { index: 2, len: 2 })
        );
    }

    #[test]
    fn builds_are_ordered_by_time_repo_builder_commit() {
        let t = |s| Timestamp::from_unix(s, 0).expect("valid");
        let mk = |time, repo: &str, builder: &str, commit: &str| BuildResult {
            time: t(time),
            repo: repo.to_owned(),
            builder: builder.to_owned(),
            commit: commit.to_owned(),
            ..BuildResult::default()
        };
        let mut builds = [
            mk(2, "go", "a", "x"),
            mk(1, "tools", "a", "x"),
            mk(1, "go", "b", "x"),
            mk(1, "go", "a", "y"),
            mk(1, "go", "a", "x"),
        ];
        builds.sort_by(build_order);
        let keys: Vec<_> = builds
            .iter()
            .map(|b| {
                (
                    b.time.unix_seconds(),
                    b.repo.as_str(),
                    b.builder.as_str(),
                    b.commit.as_str(),
                )
            })
            .collect();
        assert_eq!(
            keys,
            [
                (1, "go", "a", "x"),
                (1, "go", "a", "y"),
                (1, "go", "b", "x"),
                (1, "tools", "a", "x"),
                (2, "go", "a", "x"),
            ]
        );
    }
}

//! Assembling dashboards from a failure source's build results (docs/triage.md, "One cycle",
//! step 3): one dashboard per (repo, Go branch), builders as rows, the commits of the time
//! window as columns (newest first), one build per cell (the one that ended last).

use std::collections::{BTreeMap, HashMap};

use super::dashboard::{BuildResult, BuildStatus, Builder, Commit, Dashboard, Placement, Slot};
use crate::backend::{BuildSet, BuildSink};
use flakewatch_core::Timestamp;

/// What happened to the builds while assembling.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AssemblyStats {
    /// Builds placed in a cell.
    pub placed: usize,
    /// Builds replaced by a later build of the same builder and commit.
    pub superseded: usize,
    /// Builds whose commit is older than the window.
    pub too_old: usize,
}

/// Builds the dashboards of `set`, dropping builds whose commit time is before `since`.
/// Builders named only by builds are added with the builds' configuration.
pub fn dashboards(set: BuildSet, since: Timestamp) -> (Vec<Dashboard>, AssemblyStats) {
    let mut stats = AssemblyStats::default();
    let mut builders: BTreeMap<String, Builder> = set
        .builders
        .into_iter()
        .map(|b| (b.name.clone(), b))
        .collect();
    let mut builds = Vec::with_capacity(set.builds.len());
    for build in set.builds {
        if build.time < since {
            stats.too_old += 1;
            continue;
        }
        builders
            .entry(build.builder.clone())
            .or_insert_with(|| Builder {
                name: build.builder.clone(),
                repo: build.repo.clone(),
                go_branch: build.go_branch.clone(),
                goos: build.goos.clone(),
                goarch: build.goarch.clone(),
            });
        builds.push(build);
    }

    // Rows: builders grouped by dashboard, in name order.
    type Key = (String, String);
    let mut rows: BTreeMap<Key, Vec<Builder>> = BTreeMap::new();
    for builder in builders.into_values() {
        rows.entry((builder.repo.clone(), builder.go_branch.clone()))
            .or_default()
            .push(builder);
    }
    // Columns: the commits built on each dashboard, newest first.
    let mut commits: BTreeMap<Key, BTreeMap<String, Timestamp>> = BTreeMap::new();
    let mut row_of: BTreeMap<&str, (Key, usize)> = BTreeMap::new();
    for (key, list) in &rows {
        for (i, b) in list.iter().enumerate() {
            row_of.insert(b.name.as_str(), (key.clone(), i));
        }
    }
    let mut placed: Vec<(Key, usize, BuildResult)> = Vec::with_capacity(builds.len());
    for build in builds {
        let Some((key, row)) = row_of.get(build.builder.as_str()).cloned() else {
            continue;
        };
        commits
            .entry(key.clone())
            .or_default()
            .entry(build.commit.clone())
            .or_insert(build.time);
        placed.push((key, row, build));
    }
    let mut boards: BTreeMap<Key, Dashboard> = rows
        .into_iter()
        .map(|(key, list)| {
            let mut columns: Vec<Commit> = commits
                .remove(&key)
                .unwrap_or_default()
                .into_iter()
                .map(|(hash, time)| Commit { hash, time })
                .collect();
            columns.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| a.hash.cmp(&b.hash)));
            let board = Dashboard::new(key.0.clone(), key.1.clone(), list, columns);
            (key, board)
        })
        .collect();
    for (key, row, build) in placed {
        let Some(board) = boards.get_mut(&key) else {
            continue;
        };
        match board.place(row, build) {
            Ok(Placement::Placed) => stats.placed += 1,
            Ok(Placement::Replaced) => {
                stats.superseded += 1;
            }
            Ok(Placement::Older) => stats.superseded += 1,
            // Every commit of the board's builds is a column, and rows come from the board.
            Ok(Placement::OutsideWindow) | Err(_) => stats.too_old += 1,
        }
    }
    (boards.into_values().collect(), stats)
}

/// Dashboards of [`Slot`]s, and the whole results of the failed builds among them: what the
/// triage cycle needs of a window's builds, a few dozen bytes per passing build.
#[derive(Debug, Default)]
pub struct LeanDashboards {
    /// One dashboard per (repo, Go branch), as [`dashboards`] assembles them.
    pub boards: Vec<Dashboard<Slot>>,
    /// The whole results of the builds that failed, by [`Slot::kept`] (taken out as they are
    /// used; a result whose build lost its cell is dropped at once).
    pub kept: Vec<Option<BuildResult>>,
    /// What happened to the builds while assembling.
    pub stats: AssemblyStats,
}

impl LeanDashboards {
    /// The whole result of a failed cell, as [`Dashboard::place`] would have left it there
    /// (the commit's time, the filter's status and `top` mark). Each is given out once.
    pub fn take(&mut self, board: usize, builder: usize, commit: usize) -> Option<BuildResult> {
        let dash = self.boards.get(board)?;
        let slot = *dash.result(builder, commit)?;
        let mut result = self.kept.get_mut(slot.kept? as usize)?.take()?;
        result.time = dash.commits()[commit].time;
        result.status = slot.status;
        result.top = slot.top;
        Some(result)
    }
}

/// A build waiting for the dashboards' rows and columns, which are known only once every
/// builder has been seen.
#[derive(Debug)]
struct Pending {
    builder: u32,
    commit: u32,
    time: Timestamp,
    slot: Slot,
}

/// Assembles [`LeanDashboards`] from builds handed over one at a time
/// ([`FailureSource::each_build`](crate::backend::FailureSource::each_build)), exactly as
/// [`dashboards`] assembles whole ones: the same rows, columns, placements and counts.
#[derive(Debug)]
pub struct Assembler {
    since: Timestamp,
    stats: AssemblyStats,
    /// Builders by name, and whether the source declared each (rather than a build naming it).
    builders: BTreeMap<String, (Builder, bool)>,
    builder_names: Vec<String>,
    builder_ids: HashMap<String, u32>,
    commit_hashes: Vec<String>,
    commit_ids: HashMap<String, u32>,
    pending: Vec<Pending>,
    kept: Vec<Option<BuildResult>>,
}

impl Assembler {
    /// An assembler dropping builds whose commit time is before `since`.
    pub fn new(since: Timestamp) -> Assembler {
        Assembler {
            since,
            stats: AssemblyStats::default(),
            builders: BTreeMap::new(),
            builder_names: Vec::new(),
            builder_ids: HashMap::new(),
            commit_hashes: Vec::new(),
            commit_ids: HashMap::new(),
            pending: Vec::new(),
            kept: Vec::new(),
        }
    }

    fn intern(names: &mut Vec<String>, ids: &mut HashMap<String, u32>, name: &str) -> u32 {
        if let Some(&id) = ids.get(name) {
            return id;
        }
        let id = u32::try_from(names.len()).unwrap_or(u32::MAX);
        names.push(name.to_owned());
        ids.insert(name.to_owned(), id);
        id
    }

    /// The dashboards.
    pub fn finish(self) -> LeanDashboards {
        let Assembler {
            mut stats,
            builders,
            builder_names,
            commit_hashes,
            pending,
            mut kept,
            ..
        } = self;
        // Rows: builders grouped by dashboard, in name order.
        type Key = (String, String);
        let mut rows: BTreeMap<Key, Vec<Builder>> = BTreeMap::new();
        for (builder, _) in builders.into_values() {
            rows.entry((builder.repo.clone(), builder.go_branch.clone()))
                .or_default()
                .push(builder);
        }
        let keys: Vec<&Key> = rows.keys().collect();
        let mut row_of: HashMap<&str, (usize, usize)> = HashMap::new();
        for (k, list) in rows.values().enumerate() {
            for (i, b) in list.iter().enumerate() {
                row_of.insert(b.name.as_str(), (k, i));
            }
        }
        // The row of each interned builder name (every build's builder has one).
        let rows_by_id: Vec<Option<(usize, usize)>> = builder_names
            .iter()
            .map(|name| row_of.get(name.as_str()).copied())
            .collect();
        // Columns: the commits built on each dashboard (the first build's time), newest first.
        let mut columns: Vec<HashMap<u32, Timestamp>> = vec![HashMap::new(); keys.len()];
        let mut order: Vec<Vec<u32>> = vec![Vec::new(); keys.len()];
        for p in &pending {
            if let Some((k, _)) = rows_by_id[p.builder as usize] {
                columns[k].entry(p.commit).or_insert_with(|| {
                    order[k].push(p.commit);
                    p.time
                });
            }
        }
        let mut boards: Vec<Dashboard<Slot>> = rows
            .iter()
            .enumerate()
            .map(|(k, ((repo, go_branch), list))| {
                let mut commits: Vec<Commit> = order[k]
                    .iter()
                    .map(|c| Commit {
                        hash: commit_hashes[*c as usize].clone(),
                        time: columns[k][c],
                    })
                    .collect();
                commits.sort_by(|a, b| b.time.cmp(&a.time).then_with(|| a.hash.cmp(&b.hash)));
                Dashboard::with_cells(repo.clone(), go_branch.clone(), list.clone(), commits)
            })
            .collect();
        drop(columns);
        for p in pending {
            let Some((k, row)) = rows_by_id[p.builder as usize] else {
                continue;
            };
            let board = &mut boards[k];
            let Some(column) = board.column(&commit_hashes[p.commit as usize]) else {
                stats.too_old += 1;
                continue;
            };
            let placed = board.place_cell(row, column, p.slot, p.slot.build_time, |s| s.build_time);
            let dropped = match placed {
                Ok((Placement::Placed, dropped)) => {
                    stats.placed += 1;
                    dropped
                }
                Ok((Placement::Replaced | Placement::Older, dropped)) => {
                    stats.superseded += 1;
                    dropped
                }
                Ok((Placement::OutsideWindow, dropped)) => {
                    stats.too_old += 1;
                    dropped
                }
                Err(_) => {
                    stats.too_old += 1;
                    Some(p.slot)
                }
            };
            // A build that lost its cell is never looked at again.
            if let Some(k) = dropped.and_then(|s| s.kept) {
                kept[k as usize] = None;
            }
        }
        LeanDashboards {
            boards,
            kept,
            stats,
        }
    }
}

impl BuildSink for Assembler {
    fn builder(&mut self, builder: Builder) {
        // A declared builder's configuration wins over one taken from a build (as when all
        // builders come first); of two declarations, the later.
        self.builders.insert(builder.name.clone(), (builder, true));
    }

    fn build(&mut self, build: BuildResult) {
        if build.time < self.since {
            self.stats.too_old += 1;
            return;
        }
        if !self.builders.contains_key(&build.builder) {
            let builder = Builder {
                name: build.builder.clone(),
                repo: build.repo.clone(),
                go_branch: build.go_branch.clone(),
                goos: build.goos.clone(),
                goarch: build.goarch.clone(),
            };
            self.builders
                .insert(build.builder.clone(), (builder, false));
        }
        let builder = Self::intern(
            &mut self.builder_names,
            &mut self.builder_ids,
            &build.builder,
        );
        let commit = Self::intern(&mut self.commit_hashes, &mut self.commit_ids, &build.commit);
        let kept = (build.status == BuildStatus::Failure).then(|| {
            self.kept.push(None);
            u32::try_from(self.kept.len() - 1).unwrap_or(u32::MAX)
        });
        let slot = Slot {
            id: build.id,
            status: build.status,
            top: false,
            build_time: build.build_time,
            kept,
        };
        let time = build.time;
        if let Some(k) = kept {
            self.kept[k as usize] = Some(build);
        }
        self.pending.push(Pending {
            builder,
            commit,
            time,
            slot,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builder(name: &str, repo: &str) -> Builder {
        Builder {
            name: name.to_owned(),
            repo: repo.to_owned(),
            go_branch: "master".to_owned(),
            ..Builder::default()
        }
    }

    fn build(id: i64, b: &Builder, commit: &str, secs: i64, status: BuildStatus) -> BuildResult {
        let mut r = BuildResult::for_builder(b, id, status);
        r.commit = commit.to_owned();
        r.time = Timestamp::from_unix(secs, 0).expect("valid");
        r.build_time = Timestamp::from_unix(secs + id, 0).expect("valid");
        r
    }

    #[test]
    fn groups_by_repo_and_orders_commits_newest_first() {
        let (a, b, t) = (
            builder("a", "go"),
            builder("b", "go"),
            builder("t", "tools"),
        );
        let set = BuildSet {
            builders: vec![a.clone(), b.clone(), t.clone()],
            builds: vec![
                build(1, &a, "c1", 100, BuildStatus::Success),
                build(2, &a, "c2", 200, BuildStatus::Failure),
                build(3, &b, "c2", 200, BuildStatus::Success),
                build(4, &a, "c2", 200, BuildStatus::Success),
                build(5, &t, "x", 50, BuildStatus::Failure),
            ],
        };
        let since = Timestamp::from_unix(60, 0).expect("valid");
        let (boards, stats) = dashboards(set, since);
        assert_eq!(boards.len(), 2);
        let go = &boards[0];
        assert_eq!(go.repo, "go");
        assert_eq!(
            go.commits()
                .iter()
                .map(|c| c.hash.as_str())
                .collect::<Vec<_>>(),
            ["c2", "c1"]
        );
        // Build 4 ended after build 2 on the same cell, so it counts.
        assert_eq!(go.result(0, 0).map(|r| r.id), Some(4));
        assert_eq!(go.result(1, 0).map(|r| r.id), Some(3));
        assert_eq!(go.result(1, 1), None);
        // The tools build is older than the window; its builder still has a row.
        assert_eq!(boards[1].builders().len(), 1);
        assert!(boards[1].commits().is_empty());
        assert_eq!(
            stats,
            AssemblyStats {
                placed: 3,
                superseded: 1,
                too_old: 1
            }
        );
    }

    /// A window of builds on two repositories with every kind of cell: repeated builds of
    /// one cell (later, earlier and tied end times), builds older than the window, builders
    /// only builds name, every status.
    fn random_set(seed: u64) -> BuildSet {
        let mut state = seed;
        let mut next = move |n: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) % n
        };
        let builders: Vec<Builder> = (0..7)
            .map(|i| builder(&format!("b{i}"), if i < 5 { "go" } else { "tools" }))
            .collect();
        let statuses = [
            BuildStatus::Success,
            BuildStatus::Success,
            BuildStatus::Success,
            BuildStatus::Failure,
            BuildStatus::InfraFailure,
            BuildStatus::Canceled,
        ];
        let mut builds = Vec::new();
        for id in 0..600 {
            let k = next(9) as usize;
            let b = if k < 7 {
                builders[k].clone()
            } else {
                builder(&format!("extra{k}"), "go")
            };
            let commit = next(40);
            let mut r = build(
                id,
                &b,
                &format!("c{commit}"),
                1000 + commit as i64 * 10,
                statuses[next(6) as usize],
            );
            r.build_time = Timestamp::from_unix(5000 + next(5) as i64, 0).expect("valid");
            if r.status == BuildStatus::Failure {
                r.log_text = format!("log {id}").into();
            }
            builds.push(r);
        }
        BuildSet {
            builders: builders[..6].to_vec(),
            builds,
        }
    }

    /// The lean assembly (slots, builds handed over one at a time, builders declared after
    /// the builds that name them) gives the plain one's placements, counts, filter events and
    /// failed builds.
    #[test]
    fn lean_assembly_matches_the_plain_one() {
        let since = Timestamp::from_unix(1100, 0).expect("valid");
        for seed in 0..30 {
            let set = random_set(seed);
            let (mut plain, plain_stats) = dashboards(set.clone(), since);
            let mut assembler = Assembler::new(since);
            for b in set.builds.iter().cloned() {
                assembler.build(b);
            }
            for b in set.builders.iter().cloned() {
                assembler.builder(b);
            }
            let mut lean = assembler.finish();
            assert_eq!(lean.stats, plain_stats, "seed {seed}");
            assert_eq!(lean.boards.len(), plain.len());
            for (p, l) in plain.iter_mut().zip(lean.boards.iter_mut()) {
                assert_eq!(p.builders(), l.builders(), "seed {seed}");
                assert_eq!(p.commits(), l.commits(), "seed {seed}");
                assert_eq!(
                    p.filter_obvious_flakes(),
                    l.filter_obvious_flakes(),
                    "seed {seed}"
                );
            }
            for (k, board) in plain.iter().enumerate() {
                for b in 0..board.builders().len() {
                    for c in 0..board.commits().len() {
                        let p = board.result(b, c);
                        let l = lean.boards[k].result(b, c).copied();
                        assert_eq!(
                            p.map(|r| (r.id, r.status, r.top)),
                            l.map(|s| (s.id, s.status, s.top))
                        );
                        if p.is_some_and(|r| r.status == BuildStatus::Failure) {
                            assert_eq!(lean.take(k, b, c).as_ref(), p, "seed {seed}");
                        }
                    }
                }
            }
        }
    }
}

//! Assembling dashboards from a failure source's build results (docs/triage.md, "One cycle",
//! step 3): one dashboard per (repo, Go branch), builders as rows, the commits of the time
//! window as columns (newest first), one build per cell (the one that ended last).

use std::collections::BTreeMap;

use super::dashboard::{BuildResult, Builder, Commit, Dashboard, Placement};
use crate::backend::BuildSet;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dashboard::BuildStatus;

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
}

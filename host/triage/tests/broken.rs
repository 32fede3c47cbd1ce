//! Broken-builder issues over the in-memory backend: a builder failing at its newest builds
//! gets one issue; later failures are posted on it, never as a second issue; it closes when
//! the builder passes and reopens when it breaks again; triage asks its body for no script.

use flakewatch_core::time::Timestamp;
use flakewatch_triage::backend::memory::{MemoryBackend, MemoryState};
use flakewatch_triage::backend::{BuildSet, IssueTracker};
use flakewatch_triage::broken::{BrokenAction, BrokenUpdate, apply_broken, plan_broken};
use flakewatch_triage::dashboard::{BuildResult, BuildStatus, Builder};
use flakewatch_triage::run::{self, TriageOptions};

const HOUR: i64 = 3600;
/// 2025-10-01T00:00:00Z.
const NOW: i64 = 1_759_276_800;
const BUILDERS: usize = 4;
const BROKEN: usize = 3;

fn t(secs: i64) -> Timestamp {
    Timestamp::from_unix(secs, 0).expect("valid time")
}

fn builder(b: usize) -> Builder {
    Builder {
        name: format!("gotip-linux-b{b}"),
        repo: "go".to_owned(),
        go_branch: "master".to_owned(),
        goos: "linux".to_owned(),
        goarch: "amd64".to_owned(),
    }
}

/// One commit at `time` built on every builder; builder 3 has `status`, the others pass.
fn slot(set: &mut BuildSet, k: i64, time: i64, status: BuildStatus) {
    for b in 0..BUILDERS {
        let status = if b == BROKEN {
            status
        } else {
            BuildStatus::Success
        };
        let mut r = BuildResult::for_builder(&builder(b), 10_000 + k * 10 + b as i64, status);
        r.commit = format!("{:040x}", 1000 + k);
        r.time = t(time);
        r.build_time = r.time;
        r.step_log_text = "make.bash failed\n".to_owned();
        set.builds.push(r);
    }
}

/// 20 commits 12 hours apart before NOW; builder 3 fails at the newest 4.
fn world() -> MemoryBackend {
    let mut set = BuildSet {
        builders: (0..BUILDERS).map(builder).collect(),
        builds: Vec::new(),
    };
    for k in 0..20 {
        let status = if k < 4 {
            BuildStatus::Failure
        } else {
            BuildStatus::Success
        };
        slot(&mut set, k, NOW - HOUR - k * 12 * HOUR, status);
    }
    MemoryBackend::new(MemoryState {
        builds: set,
        now: t(NOW),
        ..MemoryState::default()
    })
}

fn pass(b: &MemoryBackend, now: i64) -> Vec<BrokenUpdate> {
    b.state().now = t(now);
    let options = TriageOptions::new(t(now));
    let updates = plan_broken(b, b, &options).expect("plan");
    let report = apply_broken(&updates, b, &options, t(now));
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    updates
}

fn actions(updates: &[BrokenUpdate]) -> Vec<(BrokenAction, Option<u64>, usize)> {
    updates
        .iter()
        .map(|u| (u.action.clone(), u.issue, u.builds.len()))
        .collect()
}

#[test]
fn one_issue_per_broken_builder_updated_not_duplicated() {
    let b = world();

    // The broken builder gets an issue, its four failing builds in the first comment.
    let first = pass(&b, NOW);
    assert_eq!(actions(&first), [(BrokenAction::Create, None, 4)]);
    assert_eq!(first[0].title, "x/build: gotip-linux-b3 reported as broken");
    assert_eq!(b.state().log, ["create 1", "comment 1"]);
    let comments = b.comments(1).expect("comments");
    for build in &first[0].builds {
        assert!(comments[0].body.contains(&build.url));
    }

    // Triage neither complains about its body nor matches failures to it.
    let plan = run::plan(&b, &b, &TriageOptions::new(t(NOW))).expect("triage plan");
    assert!(plan.script_errors.is_empty(), "{:?}", plan.script_errors);

    // Nothing new: nothing written.
    assert!(pass(&b, NOW).is_empty());
    assert_eq!(b.state().log.len(), 2);

    // Another failure: a comment on the same issue with just that build.
    slot(
        &mut b.state().builds,
        100,
        NOW + 11 * HOUR,
        BuildStatus::Failure,
    );
    let more = pass(&b, NOW + 12 * HOUR);
    assert_eq!(actions(&more), [(BrokenAction::Comment, Some(1), 1)]);
    assert_eq!(b.state().log[2..], ["comment 1"]);

    // It passes again: closed, with a signed comment.
    slot(
        &mut b.state().builds,
        101,
        NOW + 23 * HOUR,
        BuildStatus::Success,
    );
    let fixed = pass(&b, NOW + 24 * HOUR);
    assert_eq!(actions(&fixed), [(BrokenAction::Close, Some(1), 0)]);
    assert_eq!(b.state().log[3..], ["comment 1", "close 1"]);
    assert!(pass(&b, NOW + 24 * HOUR).is_empty());

    // Broken again: the same issue is reopened, never a second one.
    for k in 0..4 {
        slot(
            &mut b.state().builds,
            102 + k,
            NOW + (30 + k) * HOUR,
            BuildStatus::Failure,
        );
    }
    let again = pass(&b, NOW + 36 * HOUR);
    assert_eq!(actions(&again), [(BrokenAction::Reopen, Some(1), 4)]);
    assert_eq!(b.state().log[5..], ["reopen 1", "comment 1"]);
    assert_eq!(b.list_issues().expect("issues").len(), 1);
    assert!(pass(&b, NOW + 36 * HOUR).is_empty());
}

#[test]
fn fewer_than_four_failures_at_the_tip_are_not_broken() {
    let b = world();
    // A newer pass leaves no run at the tip; then three failures are still flakes' territory.
    slot(&mut b.state().builds, 100, NOW + HOUR, BuildStatus::Success);
    for k in 0..3 {
        slot(
            &mut b.state().builds,
            101 + k,
            NOW + (2 + k) * HOUR,
            BuildStatus::Failure,
        );
    }
    assert!(pass(&b, NOW + 6 * HOUR).is_empty());
    assert!(b.state().log.is_empty());
}

#[test]
fn a_close_stopped_after_its_comment_is_finished_without_a_second_comment() {
    let b = world();
    pass(&b, NOW);
    slot(&mut b.state().builds, 100, NOW + HOUR, BuildStatus::Success);
    b.state().fail_on.push(("close_issue", 1));
    let options = TriageOptions::new(t(NOW + 2 * HOUR));
    let updates = plan_broken(&b, &b, &options).expect("plan");
    let report = apply_broken(&updates, &b, &options, t(NOW + 2 * HOUR));
    assert_eq!(report.failures.len(), 1);
    b.state().fail_on.clear();
    let finish = pass(&b, NOW + 3 * HOUR);
    assert_eq!(actions(&finish), [(BrokenAction::FinishClose, Some(1), 0)]);
    let passes = b
        .comments(1)
        .expect("comments")
        .iter()
        .filter(|c| c.body.contains("passes again"))
        .count();
    assert_eq!(passes, 1);
    assert!(b.list_issues().expect("issues")[0].closed);
}

//! The flake rule (B15) and the wait for runs on the synthetic aggregation
//! (`testdata/jra/synthetic/aggregation`), through the library: expected verdicts worked out
//! by hand from the fixture's history rows and upstream's required-passes table, and a fake
//! clock whose sleeps play the CI (runs appear and finish between two reads).

use std::fs;
use std::path::{Path, PathBuf};

use flakewatch_aggregate::combine::FlakeRule;
use flakewatch_aggregate::runs::Selection;
use flakewatch_aggregate::verdict::CheckStatus;
use flakewatch_aggregate::wait::{Clock, WaitPolicy};
use flakewatch_aggregate::{
    AggregateError, ConfigFile, HistoryInput, Mode, Outcome, Request, Settings, aggregate,
    aggregate_waiting,
};
use flakewatch_core::time::Timestamp;

const SYNTH_JOB: &str = "periodic-ci-openshift-release-master-ci-4.16-e2e-aws-ovn-upgrade";
const SYNTH_TAG: &str = "4.16.0-0.ci-2024-03-01-000000";
const FLAKY: &str = "[sig-c] flakes in three runs [Suite:openshift/conformance/parallel]";

fn jra(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../testdata/jra")
        .join(rel)
}

fn request(runs: PathBuf, working_dir: Option<PathBuf>) -> Request {
    Request {
        job: SYNTH_JOB.into(),
        selection: Selection::Payload(SYNTH_TAG.into()),
        runs_dir: runs,
        run_ids: None,
        gcs_prefix: None,
        label: None,
        history: HistoryInput::Rows(jra(
            "synthetic/aggregation/historical_TestRuns_Summary_Last200Runs.json",
        )),
        disruption_history: None,
        topology: Some("single".into()),
        variants: None,
        now: Timestamp::parse_rfc3339("2024-03-01T12:00:00Z").unwrap(),
        working_dir,
    }
}

fn summary_of(result: &flakewatch_aggregate::Aggregation, name: &str) -> (CheckStatus, String) {
    let t = result
        .report
        .tests
        .iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("{name} not aggregated"));
    (t.verdict.status, t.verdict.summary.clone())
}

/// `[sig-c]` failed then passed in three of the ten runs. Its history row: 180 passes, 10
/// failures, 10 flakes (PassPercentage 90, WorkingPercentage 95).
///
/// * pass wins (upstream): 10 passes, 0 failures; w = 95, T[10][95] = 7 → passed.
/// * a flake is a failure: 7 passes, 3 failures; the history's flakes fail too, w =
///   PassPercentage = 90, T[10][90] = 6 → passed with 7 ≥ 6.
/// * k of n needing two passing attempts: each flaked run passed once, so again 7 and 3.
#[test]
fn the_flake_rule_changes_the_counts_and_the_history_used() {
    let req = request(jra("synthetic/aggregation/runs"), None);
    let mut settings = Settings::profile(Mode::Compat);
    let upstream = aggregate(&req, &settings).unwrap();
    assert_eq!(
        summary_of(&upstream, FLAKY),
        (
            CheckStatus::Passed,
            "Passed: Passed 10 times, failed 0 times.  The historical pass rate is 95%.  The required number of passes is 7."
                .into()
        )
    );
    settings.flake = FlakeRule::FlakeIsFailure;
    let strict = aggregate(&req, &settings).unwrap();
    let expected = (
        CheckStatus::Passed,
        "Passed: Passed 7 times, failed 3 times.  The historical pass rate is 90%.  The required number of passes is 6."
            .to_owned(),
    );
    assert_eq!(summary_of(&strict, FLAKY), expected);
    let flaky = strict
        .report
        .tests
        .iter()
        .find(|t| t.name == FLAKY)
        .unwrap();
    assert_eq!((flaky.verdict.flakes, flaky.verdict.attempts), (3, 10));
    assert!(
        strict
            .markdown
            .contains("Flakes: a flaked run is a failure.")
    );
    assert!(!upstream.markdown.contains("Flakes:"));

    // The same through a configuration file.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("profile.toml");
    fs::write(&config, "[flake]\nrule = \"k_of_n\"\nmin_passes = 2\n").unwrap();
    let mut from_file = Settings::profile(Mode::Compat);
    from_file.apply(ConfigFile::read(&config).unwrap());
    assert_eq!(
        from_file.flake,
        FlakeRule::KOfN {
            min_passes: 2,
            max_failures: None
        }
    );
    let k_of_n = aggregate(&req, &from_file).unwrap();
    let (status, summary) = summary_of(&k_of_n, FLAKY);
    assert_eq!(status, CheckStatus::Passed);
    // k of n keeps the history's working percentage (rows carry no attempt counts).
    assert_eq!(
        summary,
        "Passed: Passed 7 times, failed 3 times.  The historical pass rate is 95%.  The required number of passes is 7."
    );
    // The report's settings carry the rule.
    let json = serde_json::to_value(&k_of_n.report).unwrap();
    assert_eq!(json["settings"]["flake"]["rule"], "k_of_n");
    assert_eq!(json["settings"]["flake"]["min_passes"], 2);

    // min_passes 0 is refused, naming the key.
    fs::write(&config, "[flake]\nrule = \"k_of_n\"\nmin_passes = 0\n").unwrap();
    let mut bad = Settings::profile(Mode::Compat);
    bad.apply(ConfigFile::read(&config).unwrap());
    let err = aggregate(&req, &bad).unwrap_err();
    assert!(err.to_string().contains("min_passes"), "{err}");
}

/// Copies the synthetic runs; `keep` decides which runs are copied, and `finished.json` is
/// left out of the runs `unfinished` names.
fn copy_runs(to: &Path, keep: &dyn Fn(&str) -> bool, unfinished: &[&str]) {
    for id in 1001..=1010 {
        let id = id.to_string();
        if keep(&id) {
            copy_run(&id, to, !unfinished.contains(&id.as_str()));
        }
    }
}

fn copy_run(id: &str, to: &Path, finished: bool) {
    fn copy(from: &Path, to: &Path, finished: bool) {
        fs::create_dir_all(to).unwrap();
        for entry in fs::read_dir(from).unwrap() {
            let path = entry.unwrap().path();
            let target = to.join(path.file_name().unwrap());
            if path.is_dir() {
                copy(&path, &target, finished);
            } else if finished || path.file_name().unwrap() != "finished.json" {
                fs::copy(&path, &target).unwrap();
            }
        }
    }
    copy(
        &jra("synthetic/aggregation/runs").join(id),
        &to.join(id),
        finished,
    );
}

/// A clock that jumps instead of sleeping; every sleep first lets `ci` change the runs
/// directory at the new time (minutes after the job start).
struct CiClock<'a> {
    now: i64,
    start: i64,
    ci: &'a mut dyn FnMut(i64),
    reads_at: Vec<i64>,
}

impl Clock for CiClock<'_> {
    fn now(&mut self) -> Timestamp {
        Timestamp::from_unix(self.now, 0).unwrap()
    }
    fn sleep_until(&mut self, until: Timestamp) {
        self.now = self.now.max(until.unix_seconds());
        let minutes = (self.now - self.start) / 60;
        self.reads_at.push(minutes);
        (self.ci)(minutes);
    }
}

const START: &str = "2024-03-01T00:00:00Z";

/// At the start six runs finished, 1007 and 1008 are running, 1009 and 1010 do not exist.
/// After 15 minutes 1009 and 1010 appear (running); after 25 minutes 1007–1010 finish. The
/// reads at 10 and 20 minutes find runs unfinished, the read at 30 finds all ten finished,
/// and the verdicts are those of the ten runs judged at once.
#[test]
fn runs_appearing_and_finishing_between_reads_are_aggregated() {
    let dir = tempfile::tempdir().unwrap();
    let runs = dir.path().join("runs");
    copy_runs(&runs, &|id| id < "1009", &["1007", "1008"]);
    let start = Timestamp::parse_rfc3339(START).unwrap().unix_seconds();
    let mut ci = |minutes: i64| {
        if minutes >= 15 && !runs.join("1009").exists() {
            copy_runs(&runs, &|id| id >= "1009", &["1009", "1010"]);
        }
        if minutes >= 25 {
            for id in ["1007", "1008", "1009", "1010"] {
                fs::copy(
                    jra("synthetic/aggregation/runs")
                        .join(id)
                        .join("finished.json"),
                    runs.join(id).join("finished.json"),
                )
                .unwrap();
            }
        }
    };
    let mut clock = CiClock {
        now: start,
        start,
        ci: &mut ci,
        reads_at: Vec::new(),
    };
    let req = request(runs.clone(), Some(dir.path().join("out")));
    let settings = Settings::profile(Mode::Compat);
    let policy = WaitPolicy::analyze_job_runs(Timestamp::from_unix(start, 0).unwrap(), 7 * 3600);
    let mut events = Vec::new();
    let waited = aggregate_waiting(&req, &settings, &mut clock, &policy, &mut |e| {
        events.push(e.to_owned())
    })
    .unwrap();
    // Sleeps to 10 (ready), 20 and 30 minutes; reads at each.
    assert_eq!(clock.reads_at, [10, 20, 30]);
    assert!(
        events.contains(&"found 2 unfinished related jobRuns: 1007, 1008".to_owned()),
        "{events:?}"
    );
    assert!(
        events.contains(&"found 4 unfinished related jobRuns: 1007, 1008, 1009, 1010".to_owned()),
        "{events:?}"
    );
    let wait = waited.report.wait.as_ref().unwrap();
    assert_eq!((wait.polls, wait.timed_out), (3, false));
    assert_eq!(waited.report.runs.len(), 10);
    assert!(waited.report.runs.iter().all(|r| r.finished));
    // The same verdicts as the ten finished runs judged at once.
    let at_once = aggregate(&request(jra("synthetic/aggregation/runs"), None), &settings).unwrap();
    assert_eq!(waited.outcome, Outcome::Regression);
    assert_eq!(waited.junit_xml, at_once.junit_xml);
    let summary: serde_json::Value = serde_json::from_slice(
        &fs::read(
            dir.path()
                .join("out")
                .join(SYNTH_JOB)
                .join(SYNTH_TAG)
                .join("aggregation-summary.json"),
        )
        .unwrap(),
    )
    .unwrap();
    assert_eq!(summary["wait"]["polls"], 3);
    assert_eq!(summary["wait"]["stopAt"], "2024-03-01T06:40:00Z");
}

/// The stop time passes with runs unfinished. With two (≤ 3) the eight finished runs are
/// judged and the two listed as unfinished: under `finishedjobs` with status `unknown` in
/// compat mode (upstream's bug), under `unfinishedjobs` in improved mode (B2). With four the
/// aggregation fails with upstream's message.
#[test]
fn the_timeout_with_runs_unfinished() {
    let start = Timestamp::parse_rfc3339(START).unwrap().unix_seconds();
    // Timeout 1h: stop at 40 minutes; reads at 10, 20, 30, 40.
    let policy = WaitPolicy::analyze_job_runs(Timestamp::from_unix(start, 0).unwrap(), 3600);
    for (unfinished, mode) in [
        (&["1003", "1008"][..], Mode::Compat),
        (&["1003", "1008"][..], Mode::Improved),
        (&["1002", "1003", "1005", "1008"][..], Mode::Compat),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let runs = dir.path().join("runs");
        copy_runs(&runs, &|_| true, unfinished);
        let mut nothing = |_: i64| {};
        let mut clock = CiClock {
            now: start,
            start,
            ci: &mut nothing,
            reads_at: Vec::new(),
        };
        let req = request(runs, None);
        let settings = Settings::profile(mode);
        let result = aggregate_waiting(&req, &settings, &mut clock, &policy, &mut |_| {});
        assert_eq!(clock.reads_at, [10, 20, 30, 40]);
        if unfinished.len() > 3 {
            let err = result.unwrap_err();
            assert!(matches!(
                err,
                AggregateError::TooManyUnfinished { count: 4, .. }
            ));
            assert_eq!(
                err.to_string(),
                format!(
                    "{SYNTH_JOB} for {SYNTH_TAG}: found 4 unfinished related jobRuns: 1002, 1003, 1005, 1008"
                )
            );
            continue;
        }
        let result = result.unwrap();
        let wait = result.report.wait.as_ref().unwrap();
        assert!(wait.timed_out);
        assert_eq!(wait.unfinished, ["1003", "1008"]);
        assert_eq!(result.report.runs.iter().filter(|r| r.finished).count(), 8);
        // The run IDs under a top-level key of aggregation-config.yaml.
        let listed = |section: &str| -> Vec<String> {
            let mut current = "";
            let mut ids = Vec::new();
            for line in result.config_yaml.lines() {
                if !line.starts_with([' ', '-']) {
                    current = line.split(':').next().unwrap();
                } else if let Some(id) = line
                    .trim_start_matches("- ")
                    .trim()
                    .strip_prefix("jobrunid: ")
                    && current == section
                {
                    ids.push(id.trim_matches('"').to_owned());
                }
            }
            ids
        };
        match mode {
            Mode::Compat => {
                assert!(result.config_yaml.starts_with("unfinishedjobs: []\n"));
                assert!(listed("finishedjobs").contains(&"1003".to_owned()));
                assert!(result.config_yaml.contains("status: unknown"));
            }
            Mode::Improved => {
                assert_eq!(listed("unfinishedjobs"), ["1003", "1008"]);
            }
        }
        assert!(
            result
                .markdown
                .contains("the stop time passed with 2 runs unfinished"),
            "{}",
            result.markdown
        );
    }
}

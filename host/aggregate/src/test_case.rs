//! `analyze-test-case`: upstream's cross-job gate (`jobruntestcaseanalyzer`). Across the runs
//! of every job the selection names (variants from the registry, name filters, or the jobs of
//! `--explicit-gcs-prefixes`), one test of a group must have passed in at least
//! `--minimum-successful-count` runs; the verdict is `junit-test-case-analysis.xml` in
//! upstream's shape.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use crate::combine::{Combined, EntryKind, EntryRule, FlakeRule};
use crate::config::Mode;
use crate::error::AggregateError;
use crate::godur;
use crate::output::{self, Details, RunRef, artifact_url, details_yaml, human_url};
use crate::registry::Registry;
use crate::runs::{self, FoundRun, Selection};
use crate::wait::{self, Clock, WaitPolicy, WaitReport};

/// The longest `--timeout` upstream accepts (its guess of a job run's longest duration).
pub const MAX_TIMEOUT_SECS: i64 = 4 * 3600 + 35 * 60;
/// Upstream's default `--timeout`.
pub const DEFAULT_TIMEOUT_SECS: i64 = 3 * 3600 + 30 * 60;
/// Upstream's known `--platform` values.
pub const KNOWN_PLATFORMS: [&str; 7] = [
    "aws", "azure", "gcp", "libvirt", "metal", "ovirt", "vsphere",
];
/// Upstream's known `--network` values.
pub const KNOWN_NETWORKS: [&str; 2] = ["ovn", "sdn"];
/// Upstream's known `--infrastructure` values.
pub const KNOWN_INFRASTRUCTURES: [&str; 2] = ["ipi", "upi"];
/// The file the verdict is written to, under `<working dir>/<payload tag or invocation ID>/`.
pub const OUTPUT_FILE: &str = "junit-test-case-analysis.xml";
/// Upstream's overall error when the check failed.
pub const FAILED_ERROR: &str = "some test checker failed,  see above for details";

/// The test a group checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestGroup {
    /// `cluster install` / `install should succeed: overall`.
    Install,
    /// `step graph` / `Run multi-stage test test phase`.
    Overall,
    /// `openshift-tests-upgrade` / the upgrade's "upgradeable after finishing" test.
    Upgrade,
}

impl TestGroup {
    /// Reads `install`, `overall` or `upgrade` (upstream's message otherwise).
    pub fn parse(name: &str) -> Result<TestGroup, AggregateError> {
        match name {
            "install" => Ok(TestGroup::Install),
            "overall" => Ok(TestGroup::Overall),
            "upgrade" => Ok(TestGroup::Upgrade),
            other => Err(AggregateError::Config(format!(
                "unknown test group: {other}"
            ))),
        }
    }

    /// The suite path of the test, top first.
    pub fn suites(self) -> &'static [&'static str] {
        match self {
            TestGroup::Install => &["cluster install"],
            TestGroup::Overall => &["step graph"],
            TestGroup::Upgrade => &["openshift-tests-upgrade"],
        }
    }

    /// The test name.
    pub fn test(self) -> &'static str {
        match self {
            TestGroup::Install => "install should succeed: overall",
            TestGroup::Overall => "Run multi-stage test test phase",
            TestGroup::Upgrade => {
                "[sig-arch][Feature:ClusterUpgrade] Cluster should be upgradeable after finishing upgrade [Late][Suite:upgrade]"
            }
        }
    }
}

/// How the runs of the selected jobs are matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Matching {
    /// Release-controller payloads: `release.openshift.io/tag` equals this tag.
    PayloadTag(String),
    /// PR payloads: the label `release.openshift.io/aggregation-id` equals this ID.
    InvocationId(String),
}

/// One `job=prefix` pair of `--explicit-gcs-prefixes`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JobPrefix {
    /// The job name.
    pub job: String,
    /// Its runs' prefix in the bucket.
    pub prefix: String,
}

/// Reads `--explicit-gcs-prefixes` (`job=prefix,job=prefix`), with upstream's message for a
/// pair without exactly one `=`.
pub fn parse_prefixes(value: &str) -> Result<Vec<JobPrefix>, AggregateError> {
    if value.is_empty() {
        return Ok(Vec::new());
    }
    value
        .split(',')
        .map(|pair| {
            let parts: Vec<&str> = pair.split('=').collect();
            match parts[..] {
                [job, prefix] => Ok(JobPrefix {
                    job: job.to_owned(),
                    prefix: prefix.to_owned(),
                }),
                _ => Err(AggregateError::Config(
                    "GCS prefix should consist of job name and GCS prefix separated by '='".into(),
                )),
            }
        })
        .collect()
}

/// Everything one `analyze-test-case` needs.
#[derive(Clone, Debug)]
pub struct CaseOptions {
    /// The group whose test is checked.
    pub group: TestGroup,
    /// Which runs of each job count.
    pub matching: Matching,
    /// Jobs on this platform (the registry's `Platform`).
    pub platform: Option<String>,
    /// Jobs on this network (the registry's `Network`).
    pub network: Option<String>,
    /// `upi` (the job name contains `upi`) or `ipi` (it does not).
    pub infrastructure: Option<String>,
    /// Every string must occur in the job name.
    pub include_job_names: Vec<String>,
    /// No string may occur in the job name.
    pub exclude_job_names: Vec<String>,
    /// PR mode: exactly these jobs, with their runs' bucket prefixes.
    pub prefixes: Vec<JobPrefix>,
    /// Runs that must have passed the test.
    pub minimum_successful: u32,
    /// `--timeout`, seconds.
    pub timeout_secs: i64,
    /// Static run info: exactly these `(job, run ID)` pairs, no selection.
    pub static_runs: Option<Vec<(String, String)>>,
    /// `DIR/<job>/<run id>/...`, each job's directory laid out as `aggregate --runs` reads.
    pub runs_dir: PathBuf,
    /// The variant registry (`JobsWithVariants` rows), where the jobs come from.
    pub variants: Option<PathBuf>,
    /// The bucket named in result URLs.
    pub bucket: String,
    /// Compat (upstream's reading of a run) or improved.
    pub mode: Mode,
    /// Improved mode: what a run where the test failed and passed counts as.
    pub flake: FlakeRule,
    /// Where the output goes (`<dir>/<match id>/junit-test-case-analysis.xml`); `None`
    /// writes nothing.
    pub working_dir: Option<PathBuf>,
}

impl CaseOptions {
    /// Upstream's flag checks, with its messages.
    pub fn validate(&self) -> Result<(), AggregateError> {
        let bad = |m: String| Err(AggregateError::Config(m));
        let id = match &self.matching {
            Matching::PayloadTag(tag) => tag,
            Matching::InvocationId(id) => id,
        };
        if id.is_empty() {
            return bad(
                "exactly one of --payload-tag or --payload-invocation-id must be specified".into(),
            );
        }
        if let Matching::InvocationId(_) = self.matching {
            if self.prefixes.is_empty() && self.static_runs.is_none() {
                return bad(
                    "if --payload-invocation-id is specified, you must specify --explicit-gcs-prefixes"
                        .into(),
                );
            }
            if self.platform.is_some() || self.network.is_some() || self.infrastructure.is_some() {
                return bad("if --payload-invocation-id is specified, --platform, --network or --infrastructure cannot be specified".into());
            }
        }
        let known = |flag: &str, value: &Option<String>, list: &[&str]| match value {
            Some(v) if !list.contains(&v.as_str()) => Err(AggregateError::Config(format!(
                "unknown {flag} {v}, valid values are: [{}]",
                list.iter()
                    .map(|s| format!("{s:?}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            ))),
            _ => Ok(()),
        };
        known("platform", &self.platform, &KNOWN_PLATFORMS)?;
        known("network", &self.network, &KNOWN_NETWORKS)?;
        known(
            "infrastructure",
            &self.infrastructure,
            &KNOWN_INFRASTRUCTURES,
        )?;
        if self.timeout_secs > MAX_TIMEOUT_SECS {
            return bad(format!(
                "timeout value of {} is out of range, valid value should be less than {}",
                godur::format(self.timeout_secs * 1_000_000_000),
                godur::format(MAX_TIMEOUT_SECS * 1_000_000_000)
            ));
        }
        if self.timeout_secs <= 0 {
            return bad("--timeout must be positive".into());
        }
        if let FlakeRule::KOfN { min_passes: 0, .. } = self.flake {
            return bad("flake: min_passes must be at least 1".into());
        }
        Ok(())
    }

    /// The payload tag or invocation ID: the output directory's name.
    pub fn match_id(&self) -> &str {
        match &self.matching {
            Matching::PayloadTag(t) | Matching::InvocationId(t) => t,
        }
    }

    /// Upstream's suffix of the testcase name: the selection flags, space-separated.
    pub fn test_name_suffix(&self) -> String {
        let mut parts = Vec::new();
        if let Some(p) = &self.platform {
            parts.push(format!("platform:{p}"));
        }
        if let Some(n) = &self.network {
            parts.push(format!("network:{n}"));
        }
        if let Some(i) = &self.infrastructure {
            parts.push(format!("infrastructure:{i}"));
        }
        if !self.include_job_names.is_empty() {
            parts.push(format!("including:{}", self.include_job_names.join(",")));
        }
        if !self.exclude_job_names.is_empty() {
            parts.push(format!("excluding:{}", self.exclude_job_names.join(",")));
        }
        parts.join(" ")
    }

    /// The testcase name.
    pub fn testcase_name(&self) -> String {
        let mut name = format!(
            "test '{}' has required number of successful passes across payload jobs",
            self.group.test()
        );
        let suffix = self.test_name_suffix();
        if !suffix.is_empty() {
            name.push_str(" for ");
            name.push_str(&suffix);
        }
        name
    }

    fn selection(&self) -> Selection {
        match &self.matching {
            Matching::PayloadTag(t) => Selection::Payload(t.clone()),
            Matching::InvocationId(id) => Selection::Aggregation(id.clone()),
        }
    }

    /// The bucket prefix of a job's runs: its explicit prefix, else `logs/<job>`.
    fn prefix_of(&self, job: &str) -> String {
        self.prefixes
            .iter()
            .find(|p| p.job == job)
            .map(|p| p.prefix.trim_matches('/').to_owned())
            .unwrap_or_else(|| format!("logs/{job}"))
    }
}

/// `upi` when the job name says so, else `ipi` (upstream's guess).
pub fn job_infrastructure(job: &str) -> &'static str {
    if job.contains("upi") { "upi" } else { "ipi" }
}

/// The jobs to look at: the static run info's jobs; in PR mode the registry's jobs named by
/// `--explicit-gcs-prefixes`; else the registry's jobs that pass the variant and name filters.
pub fn select_jobs(opts: &CaseOptions, registry: Option<&Registry>) -> Vec<String> {
    if let Some(runs) = &opts.static_runs {
        let mut jobs: Vec<String> = Vec::new();
        for (job, _) in runs {
            if !jobs.contains(job) {
                jobs.push(job.clone());
            }
        }
        return jobs;
    }
    let Some(registry) = registry else {
        return Vec::new();
    };
    if !opts.prefixes.is_empty() {
        return registry
            .jobs()
            .iter()
            .filter(|j| opts.prefixes.iter().any(|p| p.job == j.job_name))
            .map(|j| j.job_name.clone())
            .collect();
    }
    registry
        .jobs()
        .iter()
        .filter(|j| {
            opts.platform.as_deref().is_none_or(|p| j.platform == p)
                && opts.network.as_deref().is_none_or(|n| j.network == n)
                && opts
                    .infrastructure
                    .as_deref()
                    .is_none_or(|i| job_infrastructure(&j.job_name) == i)
                && opts
                    .include_job_names
                    .iter()
                    .all(|s| j.job_name.contains(s.as_str()))
                && !opts
                    .exclude_job_names
                    .iter()
                    .any(|s| j.job_name.contains(s.as_str()))
        })
        .map(|j| j.job_name.clone())
        .collect()
}

/// One run of one of the selected jobs.
#[derive(Clone, Debug)]
pub struct CaseRun {
    /// The job.
    pub job: String,
    /// The run.
    pub run: FoundRun,
}

/// The runs of `jobs` on disk now (`<runs dir>/<job>/<run id>`); a job without a directory
/// has no run yet.
pub fn locate(opts: &CaseOptions, jobs: &[String]) -> Result<Vec<CaseRun>, AggregateError> {
    let mut out = Vec::new();
    for job in jobs {
        let dir = opts.runs_dir.join(job);
        let found = match &opts.static_runs {
            Some(runs) => {
                let ids: Vec<String> = runs
                    .iter()
                    .filter(|(j, _)| j == job)
                    .map(|(_, id)| id.clone())
                    .collect();
                runs::static_runs(&dir, &ids)?
            }
            None if !dir.is_dir() => Vec::new(),
            None => runs::find_runs(&dir, job, &opts.selection())?,
        };
        out.extend(found.into_iter().map(|run| CaseRun {
            job: job.clone(),
            run,
        }));
    }
    Ok(out)
}

/// What the test did in one run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunStatus {
    /// It passed.
    Passed,
    /// It failed.
    Failed,
    /// It is not there (or, improved mode, only skipped).
    Skipped,
}

/// The test's status in one run. Compat (upstream's `getTestStatus`): the first occurrence
/// under the group's suite path decides, and an occurrence without `<failure>` is a pass
/// (a skipped or errored test too). Improved: `<error>` is a failure, skips are not passes,
/// and a run with passes and failures is decided by the flake rule.
pub fn run_status(opts: &CaseOptions, run: &FoundRun) -> RunStatus {
    let (rule, compat) = match opts.mode {
        Mode::Compat => (EntryRule::Upstream, true),
        Mode::Improved => (EntryRule::Attempts, false),
    };
    let mut combined = Combined::new();
    runs::add_junit(run, 0, &mut combined, rule, compat, &mut Vec::new());
    let suites = opts.group.suites();
    let Some(mut suite) = combined.suites.iter().find(|s| s.name == suites[0]) else {
        return RunStatus::Skipped;
    };
    for name in &suites[1..] {
        match suite.children.iter().find(|c| c.name == *name) {
            Some(child) => suite = child,
            None => return RunStatus::Skipped,
        }
    }
    let Some(test) = suite.tests.iter().find(|t| t.name == opts.group.test()) else {
        return RunStatus::Skipped;
    };
    if compat {
        return match test.entries.first().map(|e| e.kind) {
            Some(EntryKind::Failure) => RunStatus::Failed,
            Some(_) => RunStatus::Passed,
            None => RunStatus::Skipped,
        };
    }
    let count = |kind| test.entries.iter().filter(|e| e.kind == kind).count() as u32;
    let (passes, failures) = (count(EntryKind::Pass), count(EntryKind::Failure));
    if passes == 0 && failures == 0 {
        RunStatus::Skipped
    } else if opts.flake.run_passes(passes, failures) {
        RunStatus::Passed
    } else {
        RunStatus::Failed
    }
}

/// The verdict of one `analyze-test-case`.
#[derive(Clone, Debug)]
pub struct CaseAnalysis {
    /// At least the minimum number of runs passed.
    pub passed: bool,
    /// The jobs looked at.
    pub jobs: Vec<String>,
    /// Runs looked at (finished or not).
    pub runs: usize,
    /// Runs where the test passed.
    pub successes: usize,
    /// Runs where it failed.
    pub failures: usize,
    /// Runs where it is not there.
    pub skips: usize,
    /// The failure message (`required minimum successful count N, got M`), if it failed.
    pub message: Option<String>,
    /// `junit-test-case-analysis.xml`.
    pub junit_xml: String,
    /// Upstream's stdout block for the failed testcase.
    pub console: String,
    /// The directory written to.
    pub output_dir: Option<PathBuf>,
    /// How the wait went.
    pub wait: Option<WaitReport>,
}

/// Runs `analyze-test-case`: checks the options, reads the registry, selects the jobs, waits
/// for their runs as upstream does ([`WaitPolicy::analyze_test_case`], re-reading the runs
/// every poll), then checks the test over every run found, finished or not (upstream reads
/// the unfinished runs' JUnit too).
pub fn analyze(
    opts: &CaseOptions,
    clock: &mut dyn Clock,
    job_start: flakewatch_core::time::Timestamp,
    event: &mut dyn FnMut(&str),
) -> Result<CaseAnalysis, AggregateError> {
    opts.validate()?;
    let registry = match (&opts.variants, &opts.static_runs) {
        (Some(path), _) => Some(Registry::read(path)?),
        (None, Some(_)) => None,
        (None, None) => {
            return Err(AggregateError::Config(
                "the jobs come from the variant registry: pass --variants (or static run info)"
                    .into(),
            ));
        }
    };
    let jobs = select_jobs(opts, registry.as_ref());
    for p in &opts.prefixes {
        if !jobs.contains(&p.job) {
            event(&format!(
                "{}: not in the variant registry, so not analyzed (upstream lists jobs from JobsWithVariants)",
                p.job
            ));
        }
    }
    if jobs.is_empty() {
        event("no job matches the selection");
    }
    for job in &jobs {
        event(&format!("  looking for runs of {job:?}"));
    }
    let policy = WaitPolicy::analyze_test_case(job_start, opts.timeout_secs);
    let waited = wait::wait_for_runs(
        clock,
        &policy,
        || locate(opts, &jobs),
        |r: &CaseRun| r.run.finished,
        |r: &CaseRun| r.run.id.clone(),
        event,
    )?;
    check(opts, jobs, &waited.runs, Some(waited.report))
}

/// Checks the test over `runs` and writes the output (upstream's
/// `minimumRequiredPassesTestCaseChecker`).
pub fn check(
    opts: &CaseOptions,
    jobs: Vec<String>,
    runs: &[CaseRun],
    wait: Option<WaitReport>,
) -> Result<CaseAnalysis, AggregateError> {
    let mut sorted: Vec<&CaseRun> = runs.iter().collect();
    sorted.sort_by(|a, b| (&a.job, &a.run.id).cmp(&(&b.job, &b.run.id)));
    let mut passes = Vec::new();
    let mut failures = Vec::new();
    let mut skips = Vec::new();
    let mut prefixes: HashMap<&str, String> = HashMap::new();
    for r in sorted {
        let prefix = prefixes
            .entry(r.job.as_str())
            .or_insert_with(|| opts.prefix_of(&r.job));
        let root = format!("{prefix}/{}", r.run.id);
        let reference = RunRef::new(
            r.run.id.clone(),
            human_url(&opts.bucket, &root),
            artifact_url(&opts.bucket, &root),
        );
        match run_status(opts, &r.run) {
            RunStatus::Passed => passes.push(reference),
            RunStatus::Failed => failures.push(reference),
            RunStatus::Skipped => skips.push(reference),
        }
    }
    let summary = format!(
        "Total job runs: {}, passes: {}, failures: {}, skips {}",
        runs.len(),
        passes.len(),
        failures.len(),
        skips.len()
    );
    let suite_path = opts.group.suites().join(crate::combine::SUITE_SEPARATOR);
    let yaml = details_yaml(&Details {
        name: opts.group.test(),
        suite: &suite_path,
        summary: &summary,
        passes: passes.iter().collect(),
        failures: failures.iter().collect(),
        skips: skips.iter().collect(),
        lifecycle: None,
        absent: None,
    });
    let passed = passes.len() >= opts.minimum_successful as usize;
    let message = (!passed).then(|| {
        format!(
            "required minimum successful count {}, got {}",
            opts.minimum_successful,
            passes.len()
        )
    });
    let mut chain = vec!["payload-cross-jobs", "minimum-required-passes-checker"];
    chain.extend_from_slice(opts.group.suites());
    let case_name = opts.testcase_name();
    let junit_xml = junit_xml(&chain, &case_name, message.as_deref(), &yaml);
    let mut console = String::new();
    if let Some(message) = &message {
        let mut path = vec!["root"];
        path.extend_from_slice(&chain);
        console = format!(
            "Test Failed! suite=[{}], testCase={case_name}\nMessage: {message}\n{yaml}\n\n",
            path.join("  ")
        );
    }
    let mut output_dir = None;
    if let Some(dir) = &opts.working_dir {
        let out = dir.join(opts.match_id());
        write(&out, &junit_xml)?;
        output_dir = Some(out);
    }
    Ok(CaseAnalysis {
        passed,
        jobs,
        runs: runs.len(),
        successes: passes.len(),
        failures: failures.len(),
        skips: skips.len(),
        message,
        junit_xml,
        console,
        output_dir,
        wait,
    })
}

fn write(out: &Path, xml: &str) -> Result<(), AggregateError> {
    fs::create_dir_all(out).map_err(|source| AggregateError::Io {
        path: out.display().to_string(),
        source,
    })?;
    let path = out.join(OUTPUT_FILE);
    fs::write(&path, xml).map_err(|source| AggregateError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// The nested suites of `chain`, each counting the one testcase (upstream fills `tests` and
/// `failures` here), as Go's `xml.Marshal` writes a `junit.TestSuite`: no declaration, no
/// indentation, `<failure>` with a message and no text.
fn junit_xml(chain: &[&str], case: &str, failure: Option<&str>, yaml: &str) -> String {
    let mut out = String::with_capacity(yaml.len() * 2 + 512);
    let attr = |out: &mut String, name: &str, value: &str| {
        out.push(' ');
        out.push_str(name);
        out.push_str("=\"");
        output::go_escape(value, out);
        out.push('"');
    };
    let failed = if failure.is_some() { "1" } else { "0" };
    for name in chain {
        out.push_str("<testsuite");
        attr(&mut out, "name", name);
        attr(&mut out, "tests", "1");
        attr(&mut out, "skipped", "0");
        attr(&mut out, "failures", failed);
        attr(&mut out, "time", "0");
        out.push('>');
    }
    out.push_str("<testcase");
    attr(&mut out, "name", case);
    attr(&mut out, "time", "0");
    out.push('>');
    if let Some(message) = failure {
        out.push_str("<failure");
        attr(&mut out, "message", message);
        out.push_str("></failure>");
    }
    out.push_str("<system-out>");
    output::go_escape(yaml, &mut out);
    out.push_str("</system-out></testcase>");
    for _ in chain {
        out.push_str("</testsuite>");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::JobVariants;

    fn options() -> CaseOptions {
        CaseOptions {
            group: TestGroup::Install,
            matching: Matching::PayloadTag("4.16.0-0.nightly-2024-03-01-000000".into()),
            platform: None,
            network: None,
            infrastructure: None,
            include_job_names: Vec::new(),
            exclude_job_names: Vec::new(),
            prefixes: Vec::new(),
            minimum_successful: 1,
            timeout_secs: DEFAULT_TIMEOUT_SECS,
            static_runs: None,
            runs_dir: PathBuf::from("runs"),
            variants: None,
            bucket: "test-platform-results".into(),
            mode: Mode::Compat,
            flake: FlakeRule::PassWins,
            working_dir: None,
        }
    }

    fn job(name: &str, platform: &str, network: &str) -> JobVariants {
        JobVariants {
            job_name: name.into(),
            platform: platform.into(),
            network: network.into(),
            ..JobVariants::default()
        }
    }

    #[test]
    fn jobs_are_selected_as_upstream_selects_them() {
        let registry = Registry::new(vec![
            job("e2e-aws-ovn", "aws", "ovn"),
            job("e2e-aws-ovn-upgrade", "aws", "ovn"),
            job("e2e-aws-upi-ovn", "aws", "ovn"),
            job("e2e-gcp-ovn", "gcp", "ovn"),
            job("e2e-aws-sdn", "aws", "sdn"),
        ]);
        let mut o = options();
        o.platform = Some("aws".into());
        o.network = Some("ovn".into());
        assert_eq!(
            select_jobs(&o, Some(&registry)),
            ["e2e-aws-ovn", "e2e-aws-ovn-upgrade", "e2e-aws-upi-ovn"]
        );
        o.infrastructure = Some("ipi".into());
        o.exclude_job_names = vec!["upgrade".into()];
        assert_eq!(select_jobs(&o, Some(&registry)), ["e2e-aws-ovn"]);
        o.infrastructure = Some("upi".into());
        o.exclude_job_names.clear();
        assert_eq!(select_jobs(&o, Some(&registry)), ["e2e-aws-upi-ovn"]);
        // Include filters must all match.
        let mut o = options();
        o.include_job_names = vec!["aws".into(), "ovn".into(), "upgrade".into()];
        assert_eq!(select_jobs(&o, Some(&registry)), ["e2e-aws-ovn-upgrade"]);
        assert_eq!(
            o.testcase_name(),
            "test 'install should succeed: overall' has required number of successful passes across payload jobs for including:aws,ovn,upgrade"
        );
        // PR mode: the registry's jobs named by the prefixes, in the registry's order.
        let mut o = options();
        o.matching = Matching::InvocationId("abc".into());
        o.prefixes =
            parse_prefixes("e2e-gcp-ovn=logs/pr-1-gcp,e2e-aws-sdn=logs/pr-1-sdn,nope=x").unwrap();
        assert_eq!(
            select_jobs(&o, Some(&registry)),
            ["e2e-gcp-ovn", "e2e-aws-sdn"]
        );
        assert_eq!(o.prefix_of("e2e-aws-sdn"), "logs/pr-1-sdn");
        assert_eq!(o.prefix_of("other"), "logs/other");
    }

    #[test]
    fn flags_are_checked_with_upstreams_messages() {
        let err = |o: CaseOptions| o.validate().unwrap_err().to_string();
        let mut o = options();
        o.timeout_secs = 5 * 3600;
        assert_eq!(
            err(o),
            "configuration: timeout value of 5h0m0s is out of range, valid value should be less than 4h35m0s"
        );
        let mut o = options();
        o.platform = Some("mars".into());
        assert_eq!(
            err(o),
            "configuration: unknown platform mars, valid values are: [\"aws\" \"azure\" \"gcp\" \"libvirt\" \"metal\" \"ovirt\" \"vsphere\"]"
        );
        let mut o = options();
        o.matching = Matching::InvocationId("abc".into());
        assert_eq!(
            err(o.clone()),
            "configuration: if --payload-invocation-id is specified, you must specify --explicit-gcs-prefixes"
        );
        o.prefixes = parse_prefixes("j=p").unwrap();
        o.network = Some("ovn".into());
        assert!(err(o).contains("--platform, --network or --infrastructure cannot be specified"));
        assert_eq!(
            parse_prefixes("a=b=c").unwrap_err().to_string(),
            "configuration: GCS prefix should consist of job name and GCS prefix separated by '='"
        );
        assert_eq!(
            TestGroup::parse("smoke").unwrap_err().to_string(),
            "configuration: unknown test group: smoke"
        );
        let mut o = options();
        o.timeout_secs = MAX_TIMEOUT_SECS;
        assert!(o.validate().is_ok());
    }

    #[test]
    fn the_output_is_upstreams_shape() {
        let xml = junit_xml(
            &[
                "payload-cross-jobs",
                "minimum-required-passes-checker",
                "cluster install",
            ],
            "test 'x' has",
            Some("required minimum successful count 2, got 1"),
            "name: x\n",
        );
        assert_eq!(
            xml,
            "<testsuite name=\"payload-cross-jobs\" tests=\"1\" skipped=\"0\" failures=\"1\" time=\"0\">\
             <testsuite name=\"minimum-required-passes-checker\" tests=\"1\" skipped=\"0\" failures=\"1\" time=\"0\">\
             <testsuite name=\"cluster install\" tests=\"1\" skipped=\"0\" failures=\"1\" time=\"0\">\
             <testcase name=\"test &#39;x&#39; has\" time=\"0\">\
             <failure message=\"required minimum successful count 2, got 1\"></failure>\
             <system-out>name: x&#xA;</system-out></testcase>\
             </testsuite></testsuite></testsuite>"
        );
    }
}

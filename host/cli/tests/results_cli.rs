//! Test results through the real binary and the real store plugins (the files plugin's
//! SQLite, PostgreSQL, the BigQuery emulator): `ingest --store` of the mozlog push in
//! `testdata/pushes`, `revision` on it, re-ingesting and crashed ingests, and
//! `aggregate --history-from` against the history the same runs give as run directories.

mod support;

// The emulator's start-up, shared with the plugin's own tests (the module allows what this
// file leaves unused, such as its fault proxy).
#[path = "../../../plugins/bigquery/tests/support/mod.rs"]
mod bigquery_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use flakewatch_core::time::Timestamp;
use serde_json::Value;
use support::{flakewatch, workspace};

const REVISION: &str = "5f3a9c1e0b7d4e2a8c6b1d9f0e3a7c5b2d4f6a8e";

fn pushes() -> PathBuf {
    workspace().join("testdata/pushes")
}

/// The executions of the push: file and `--run-meta` pairs.
fn executions() -> Vec<(PathBuf, Vec<String>)> {
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(pushes().join("push.json")).expect("push.json"),
    )
    .expect("JSON");
    manifest["executions"]
        .as_array()
        .expect("executions")
        .iter()
        .map(|e| {
            let meta = e["meta"]
                .as_object()
                .expect("meta")
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().expect("string")))
                .collect();
            (pushes().join(e["file"].as_str().expect("file")), meta)
        })
        .collect()
}

fn ingest(data: &Path, file: &Path, meta: &[String], crash_at: Option<usize>) -> Output {
    let mut cmd = flakewatch();
    cmd.args(["ingest", "--store", "files", "--data"])
        .arg(data)
        .arg(file);
    for pair in meta {
        cmd.args(["--run-meta", pair]);
    }
    if let Some(n) = crash_at {
        cmd.env("FLAKEWATCH_FILES_CRASH_AT", n.to_string());
    }
    cmd.output().expect("run flakewatch")
}

fn ingest_push(data: &Path) -> Vec<String> {
    executions()
        .iter()
        .map(|(file, meta)| {
            let out = ingest(data, file, meta, None);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).into_owned()
        })
        .collect()
}

fn revision(data: &Path, extra: &[&str]) -> Output {
    flakewatch()
        .args(["revision", REVISION, "--data"])
        .arg(data)
        .args(extra)
        .output()
        .expect("run flakewatch")
}

/// The view without where each execution was read from (the same runs ingested from other
/// paths, or through a manifest, name other sources).
fn without_sources(view: &mut Value) {
    for suite in view["suites"].as_array_mut().expect("suites") {
        for e in suite["executions"].as_array_mut().expect("executions") {
            e["source"] = Value::Null;
        }
    }
}

fn revision_json(data: &Path) -> Value {
    let out = revision(data, &["--json"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "the push has findings: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON view")
}

#[test]
fn the_push_is_stored_once_and_its_view_names_exactly_its_findings() {
    let data = tempfile::tempdir().expect("temp dir");
    let first = ingest_push(data.path());
    assert!(
        first.iter().all(|out| out.starts_with("stored ")),
        "{first:?}"
    );
    let view = revision_json(data.path());

    // The same push again: nothing is written, the state is the same.
    let again = ingest_push(data.path());
    assert!(
        again.iter().all(|out| out.starts_with("already stored ")),
        "{again:?}"
    );
    assert_eq!(revision_json(data.path()), view);

    let plain = &view["suites"][0];
    assert_eq!(plain["suite"], "mochitest-plain");
    assert_eq!(plain["chunks_expected"], 4);
    assert_eq!(plain["chunks_executed"], serde_json::json!([1, 2, 3]));
    assert_eq!(
        plain["chunks_repeated"],
        serde_json::json!([{"chunk": 2, "executions": 2}])
    );
    assert_eq!(plain["chunks_missing"], serde_json::json!([4]));
    assert_eq!(plain["missing_tests"][0]["test"], "layout/test/test_g.html");
    assert_eq!(plain["missing_tests"].as_array().map(Vec::len), Some(1));
    let flaky = plain["flaky"].as_array().expect("flaky");
    assert_eq!(flaky.len(), 1);
    assert_eq!(flaky[0]["name"], "dom/events/test/test_c.html");
    assert_eq!(flaky[0]["known_intermittent"], true);
    let statuses: Vec<&str> = flaky[0]["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["raw_status"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(statuses, ["OK", "TIMEOUT"]);

    // Text and Markdown say the same; one suite alone is clean.
    let text = revision(data.path(), &[]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("MISSING 4"), "{text}");
    let md = revision(data.path(), &["--md"]);
    assert!(String::from_utf8_lossy(&md.stdout).contains("### Flaky on this revision"));
    let xpcshell = revision(data.path(), &["--suite", "xpcshell"]);
    assert_eq!(
        xpcshell.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&xpcshell.stdout)
    );
}

#[test]
fn a_manifest_stores_the_push_as_file_by_file_ingests_do() {
    let by_file = tempfile::tempdir().expect("temp dir");
    ingest_push(by_file.path());
    let by_manifest = tempfile::tempdir().expect("temp dir");
    let out = flakewatch()
        .args(["ingest", "--store", "files", "--data"])
        .arg(by_manifest.path())
        .arg("--manifest")
        .arg(pushes().join("push.json"))
        .output()
        .expect("run flakewatch");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("stored ")).count(),
        6,
        "{stdout}"
    );
    let mut want = revision_json(by_file.path());
    let mut got = revision_json(by_manifest.path());
    without_sources(&mut want);
    without_sources(&mut got);
    assert_eq!(got, want);
}

#[test]
fn an_ingest_killed_while_storing_loses_nothing_and_duplicates_nothing() {
    let reference = tempfile::tempdir().expect("temp dir");
    ingest_push(reference.path());
    let expected = revision_json(reference.path());

    let (file, meta) = &executions()[1];
    let mut crash_at = 1;
    loop {
        let data = tempfile::tempdir().expect("temp dir");
        let crashed = ingest(data.path(), file, meta, Some(crash_at));
        if crashed.status.success() {
            assert!(crash_at > 1, "the store passes no crash point");
            break;
        }
        assert_ne!(
            crashed.status.code(),
            Some(3),
            "crash point {crash_at}: failed instead of crashing: {}",
            String::from_utf8_lossy(&crashed.stderr)
        );
        // The killed run is there whole (killed after its commit) or not at all.
        let partial = revision(data.path(), &["--json"]);
        if partial.status.code() != Some(3) {
            let view: Value = serde_json::from_slice(&partial.stdout).expect("JSON view");
            assert_eq!(view["runs"], 1, "crash point {crash_at}");
            let execution = &view["suites"][0]["executions"][0];
            assert_eq!(execution["totals"]["tests"], 2, "crash point {crash_at}");
        }
        ingest_push(data.path());
        assert_eq!(
            revision_json(data.path()),
            expected,
            "crash point {crash_at}"
        );
        crash_at += 1;
    }
}

#[test]
fn a_store_without_the_capability_or_runs_is_a_clear_error() {
    let data = tempfile::tempdir().expect("temp dir");
    let empty = revision(data.path(), &[]);
    assert_eq!(empty.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&empty.stderr);
    assert!(
        stderr.contains(&format!("holds no run of revision {REVISION}")),
        "{stderr}"
    );

    let example = support::plugin("flakewatch-plugin-example");
    let out = flakewatch()
        .args(["revision", REVISION, "--store", "example", "--plugin"])
        .arg(&example)
        .output()
        .expect("run flakewatch");
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("does not provide test_results"), "{stderr}");

    let (file, meta) = &executions()[0];
    let mut cmd = flakewatch();
    cmd.args(["ingest", "--store", "files", "--data"])
        .arg(data.path())
        .arg(file)
        .arg(file);
    for pair in meta {
        cmd.args(["--run-meta", pair]);
    }
    let out = cmd.output().expect("run flakewatch");
    // Two files under one run_id are one run.
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("(4 tests, 4 attempts)"), "{stdout}");
}

const SYNTH_JOB: &str = "periodic-ci-openshift-release-master-ci-4.16-e2e-aws-ovn-upgrade";
const SYNTH_TAG: &str = "4.16.0-0.ci-2024-03-01-000000";

fn synthetic_runs() -> PathBuf {
    workspace().join("testdata/jra/synthetic/aggregation/runs")
}

fn xml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            xml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "xml") {
            out.push(path);
        }
    }
}

/// Every test's judgement: name, working percentage, status, where its history came from,
/// and the summary sentence (which states the historical pass rate), by name.
fn verdicts(summary: &Value) -> Vec<(String, Value, Value, Value, Value)> {
    let mut all: Vec<_> = summary["tests"]
        .as_array()
        .expect("tests")
        .iter()
        .map(|t| {
            (
                t["name"].as_str().expect("name").to_owned(),
                t["workingPercentage"].clone(),
                t["status"].clone(),
                t["history"].clone(),
                t["summary"].clone(),
            )
        })
        .collect();
    all.sort_by(|a, b| a.0.cmp(&b.0));
    all
}

/// `aggregate` of the synthetic job with history to be given, judged at its time, JSON out.
fn aggregate_command() -> Command {
    let mut cmd = flakewatch();
    cmd.args([
        "aggregate",
        "--job",
        SYNTH_JOB,
        "--payload-tag",
        SYNTH_TAG,
        "--topology",
        "single",
        "--no-write",
        "--json",
        "--now",
        "2024-03-01T12:00:00Z",
        "--runs",
    ])
    .arg(synthetic_runs());
    cmd
}

fn summary(mut cmd: Command) -> Value {
    let out = cmd.output().expect("run flakewatch");
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON summary")
}

/// Where a test keeps its results: the files store in a directory, PostgreSQL, or the
/// BigQuery emulator (its REST URL and a dataset).
enum Store<'a> {
    Files(&'a Path),
    Postgres(&'a str),
    BigQuery(&'a str, &'a str),
}

impl Store<'_> {
    fn args(&self, cmd: &mut Command, flag: &str) {
        match self {
            Store::Files(dir) => {
                cmd.args([flag, "files", "--data"]).arg(dir);
            }
            Store::Postgres(url) => {
                cmd.args([flag, "postgres", "--opt-env", "postgres:url=FW_RESULTS_URL"])
                    .env("FW_RESULTS_URL", url);
            }
            Store::BigQuery(api, dataset) => {
                cmd.args([flag, "bigquery"])
                    .args(["--opt", &format!("bigquery:api={api}")])
                    .args(["--opt", "bigquery:project=flakewatch-test"])
                    .args(["--opt", &format!("bigquery:dataset={dataset}")])
                    .env("FLAKEWATCH_BIGQUERY_TOKEN", "emulator-accepts-any-token");
            }
        }
    }
}

impl Store<'_> {
    /// `ingest` of one execution of the push into the store, with a crash point armed.
    fn ingest(&self, execution: &(PathBuf, Vec<String>), crash: Option<(&str, usize)>) -> Output {
        let mut cmd = flakewatch();
        cmd.arg("ingest");
        self.args(&mut cmd, "--store");
        cmd.arg(&execution.0);
        for pair in &execution.1 {
            cmd.args(["--run-meta", pair]);
        }
        if let Some((variable, n)) = crash {
            cmd.env(variable, n.to_string());
        }
        cmd.output().expect("run flakewatch")
    }

    /// `revision --json` of the push: the exit status and the document.
    fn view(&self) -> (Option<i32>, Vec<u8>) {
        let mut cmd = flakewatch();
        cmd.args(["revision", REVISION, "--json"]);
        self.args(&mut cmd, "--store");
        let out = cmd.output().expect("run flakewatch");
        (out.status.code(), out.stdout)
    }

    /// Stores the push through its manifest twice (the second time nothing is written) and
    /// checks that the view is the files store's.
    fn holds_the_push_as_sqlite_does(&self) {
        let sqlite = tempfile::tempdir().expect("temp dir");
        ingest_push(sqlite.path());
        let mut expected = revision_json(sqlite.path());
        for round in ["stored ", "already stored "] {
            let mut cmd = flakewatch();
            cmd.arg("ingest");
            self.args(&mut cmd, "--store");
            let out = cmd
                .arg("--manifest")
                .arg(pushes().join("push.json"))
                .output()
                .expect("run flakewatch");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert_eq!(
                stdout.lines().filter(|l| l.starts_with(round)).count(),
                6,
                "{stdout}"
            );
        }
        let (code, stdout) = self.view();
        assert_eq!(code, Some(1));
        let mut got: Value = serde_json::from_slice(&stdout).expect("JSON view");
        without_sources(&mut got);
        without_sources(&mut expected);
        assert_eq!(got, expected);
    }
}

/// Stores the ten synthetic aggregation runs (each run's JUnit files as one run) and checks
/// that `aggregate --history-from` judges every test as `--history-runs` does.
fn history_from_store_equals_history_from_runs(store: &Store<'_>, name: &str) {
    for entry in std::fs::read_dir(synthetic_runs()).expect("runs") {
        let run = entry.expect("entry").path();
        let id = run
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let finished: Value = serde_json::from_str(
            &std::fs::read_to_string(run.join("finished.json")).expect("finished.json"),
        )
        .expect("JSON");
        let started = Timestamp::from_unix(finished["timestamp"].as_i64().expect("time"), 0)
            .expect("time")
            .format_rfc3339();
        let mut files = Vec::new();
        xml_files(&run, &mut files);
        files.sort();
        let mut cmd = flakewatch();
        cmd.arg("ingest");
        store.args(&mut cmd, "--store");
        let out = cmd
            .args(&files)
            .args(["--run-meta", &format!("run_id={id}")])
            .args(["--run-meta", &format!("job={SYNTH_JOB}")])
            .args(["--run-meta", &format!("started_at={started}")])
            .output()
            .expect("run flakewatch");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let mut from_dirs = aggregate_command();
    from_dirs.arg("--history-runs").arg(synthetic_runs());
    let from_dirs = summary(from_dirs);
    let mut cmd = aggregate_command();
    store.args(&mut cmd, "--history-from");
    let from_store = summary(cmd);
    assert!(
        from_store["history"]
            .as_str()
            .is_some_and(|h| h.contains(&format!("from the store \"{name}\": 10 runs of the job"))),
        "{}",
        from_store["history"]
    );
    let judged = verdicts(&from_store);
    assert_eq!(judged, verdicts(&from_dirs));
    let t2 = judged
        .iter()
        .find(|t| t.0.starts_with("[sig-b] fails three times"))
        .expect("test");
    assert_eq!((&t2.1, &t2.3), (&Value::from(70), &Value::from("row")));
    let with_rows = judged.iter().filter(|t| t.3 == "row").count();
    assert!(with_rows >= 3, "{judged:?}");
}

#[test]
fn history_from_the_store_judges_as_history_from_run_directories() {
    let data = tempfile::tempdir().expect("temp dir");
    history_from_store_equals_history_from_runs(&Store::Files(data.path()), "files");
}

/// The variable `scripts/test` sets to its throwaway PostgreSQL server.
const POSTGRES_ENV: &str = "FLAKEWATCH_TEST_POSTGRES_URL";

/// A database of its own on the test server, dropped at the end; `None` (after saying so)
/// when no server is configured outside CI.
struct TestDb {
    admin: String,
    name: String,
    url: String,
}

impl TestDb {
    #[allow(
        clippy::print_stderr,
        reason = "a test without a server says why it did not run"
    )]
    fn new() -> Option<TestDb> {
        let admin = match std::env::var(POSTGRES_ENV) {
            Ok(url) if !url.is_empty() => url,
            _ => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "{POSTGRES_ENV} is not set: CI runs the tests through scripts/test"
                );
                eprintln!("skipped: {POSTGRES_ENV} is unset (scripts/test starts a server)");
                return None;
            }
        };
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("flakewatch_cli_{}_{n}", std::process::id());
        let mut client = postgres::Client::connect(&admin, postgres::NoTls).expect("connect");
        // One statement each: a multi-statement string runs as one transaction, and
        // neither statement may.
        client
            .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .expect("drop an old database");
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create database");
        let (base, query) = admin.split_once('?').unwrap_or((&admin, ""));
        let cut = base[base.find("://").map_or(0, |i| i + 3)..]
            .find('/')
            .map_or(base.len(), |i| i + base.find("://").map_or(0, |j| j + 3));
        let url = format!(
            "{}/{name}{}",
            &base[..cut],
            if query.is_empty() {
                String::new()
            } else {
                format!("?{query}")
            }
        );
        Some(TestDb { admin, name, url })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut client) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = client.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

#[test]
fn postgres_holds_the_push_as_sqlite_does() {
    let Some(db) = TestDb::new() else { return };
    Store::Postgres(&db.url).holds_the_push_as_sqlite_does();
}

#[test]
fn history_from_postgres_judges_as_history_from_run_directories() {
    let Some(db) = TestDb::new() else { return };
    history_from_store_equals_history_from_runs(&Store::Postgres(&db.url), "postgres");
}

#[test]
fn an_ingest_into_postgres_killed_while_storing_loses_nothing_and_duplicates_nothing() {
    let Some(db) = TestDb::new() else { return };
    let sqlite = tempfile::tempdir().expect("temp dir");
    ingest_push(sqlite.path());
    let mut expected = revision_json(sqlite.path());
    let store = Store::Postgres(&db.url);
    let ingest_pg = |execution: &(PathBuf, Vec<String>), crash_at: Option<usize>| {
        store.ingest(
            execution,
            crash_at.map(|n| ("FLAKEWATCH_POSTGRES_CRASH_AT", n)),
        )
    };
    let view = || store.view();
    let executions = executions();
    // Crash point 1: in the middle of the first execution's COPY; 2: after its commit.
    for crash_at in [1, 2] {
        let crashed = ingest_pg(&executions[0], Some(crash_at));
        assert!(
            !crashed.status.success(),
            "crash point {crash_at} was not reached"
        );
        assert_ne!(
            crashed.status.code(),
            Some(3),
            "crash point {crash_at}: failed, not crashed"
        );
        let (code, stdout) = view();
        if crash_at == 1 {
            assert_eq!(
                code,
                Some(3),
                "nothing of a run killed before its commit is stored"
            );
        } else {
            let partial: Value = serde_json::from_slice(&stdout).expect("JSON view");
            assert_eq!(
                partial["runs"], 1,
                "a run killed after its commit is stored whole"
            );
            assert_eq!(partial["suites"][0]["executions"][0]["totals"]["tests"], 2);
        }
    }
    for execution in &executions {
        let out = ingest_pg(execution, None);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let (code, stdout) = view();
    assert_eq!(code, Some(1));
    let mut got: Value = serde_json::from_slice(&stdout).expect("JSON view");
    without_sources(&mut got);
    without_sources(&mut expected);
    assert_eq!(got, expected);
}

#[test]
fn history_from_bigquery_judges_as_history_from_run_directories() {
    let Some(emulator) = bigquery_support::emulator("history_from_bigquery") else {
        return;
    };
    history_from_store_equals_history_from_runs(
        &Store::BigQuery(&emulator.url, "history"),
        "bigquery",
    );
}

#[test]
fn bigquery_holds_the_push_as_sqlite_does() {
    let Some(emulator) = bigquery_support::emulator("bigquery_push") else {
        return;
    };
    Store::BigQuery(&emulator.url, "push").holds_the_push_as_sqlite_does();
}

#[test]
fn a_postgres_server_that_is_down_is_a_clear_error_without_the_password() {
    let (file, meta) = &executions()[0];
    let mut cmd = flakewatch();
    cmd.args([
        "ingest",
        "--store",
        "postgres",
        "--opt-env",
        "postgres:url=FW_DOWN_URL",
    ])
    .env(
        "FW_DOWN_URL",
        "postgres://flakewatch:hunter2-secret@127.0.0.1:9/results",
    )
    .arg(file);
    for pair in meta {
        cmd.args(["--run-meta", pair]);
    }
    let out = cmd.output().expect("run flakewatch");
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("postgres"), "{stderr}");
    assert!(stderr.contains("127.0.0.1:9"), "{stderr}");
    assert!(!stderr.contains("hunter2-secret"), "{stderr}");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("hunter2-secret"));
}

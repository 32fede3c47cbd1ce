//! The aggregator's uploaders through the real binary and the real plugin libraries: the
//! files backend's SQLite and the BigQuery emulator. The same upload twice leaves one copy;
//! alerts get zero rows for known alerts that did not fire; a refused token or an unreadable
//! key is a clear error naming the plugin, exit 3.

mod support;

#[path = "../../../plugins/bigquery/tests/support/mod.rs"]
mod bigquery_support;

use std::path::Path;
use std::process::{Command, Output};

use flakewatch_plugin_host::{PluginLibrary, PluginTables};
use flakewatch_plugin_sdk::model::{AggregatorTable, Config, ReadRowsRequest, Row};
use serde_json::{Value, json};
use support::{flakewatch, plugin, workspace};

const JOB: &str = "periodic-ci-openshift-release-master-ci-4.16-e2e-aws-ovn-upgrade";
const NOW: &str = "2025-06-10T00:00:00Z";

/// Writes one finished run: prowjob, start, finish, and the given side-car files.
fn write_run(runs: &Path, id: &str, day: u32, sidecars: &[(&str, &str)]) {
    let dir = runs.join(id);
    let artifacts = dir.join("artifacts/e2e-aws/openshift-e2e-test/artifacts/junit");
    std::fs::create_dir_all(&artifacts).expect("run dir");
    let prowjob = json!({
        "metadata": {"annotations": {
            "prow.k8s.io/job": JOB,
            "release.openshift.io/tag": "4.16.0-0.ci-2025-06-01-000000",
        }},
        "spec": {"cluster": "build05"},
        "status": {
            "state": "success",
            "startTime": format!("2025-06-{day:02}T01:00:00Z"),
            "completionTime": format!("2025-06-{day:02}T04:00:00Z"),
        },
    });
    std::fs::write(dir.join("prowjob.json"), prowjob.to_string()).expect("prowjob");
    std::fs::write(
        dir.join("finished.json"),
        json!({"result": "SUCCESS"}).to_string(),
    )
    .expect("finished");
    for (name, content) in sidecars {
        std::fs::write(artifacts.join(name), content).expect("side-car");
    }
}

fn disruption_file() -> String {
    std::fs::read_to_string(
        workspace().join("testdata/jra/extracted/backend-disruption_too_much_disruption.json"),
    )
    .expect("disruption fixture")
}

/// Three runs with disruption data (two backends each) and alert data, one unfinished run.
fn runs() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    let disruption = disruption_file();
    let alerts = |seconds: &str| {
        json!({"Alerts": [
            {"Name": "TargetDown", "Namespace": "kube-system", "Level": "Critical", "Duration": seconds},
            {"Name": "TargetDown", "Namespace": "kube-system", "Level": "Critical", "Duration": "500ms"},
        ]})
        .to_string()
    };
    for (id, day) in [("1001", 7), ("1002", 8), ("1003", 9)] {
        write_run(
            dir.path(),
            id,
            day,
            &[
                ("backend-disruption_20250607-010000.json", &disruption),
                ("alerts_20250607-010000.json", &alerts("1m30s")),
            ],
        );
    }
    std::fs::create_dir_all(dir.path().join("1004")).expect("unfinished run");
    dir
}

fn upload(command: &str, runs: &Path, store: &[&str], extra: &[&str]) -> Output {
    let mut cmd = flakewatch();
    cmd.args([command, "--runs"])
        .arg(runs)
        .args(["--job", JOB, "--now", NOW])
        .args(store)
        .args(extra);
    cmd.output().expect("run flakewatch")
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every row of a table, read through the real plugin library and the host's loader.
fn rows(package: &str, options: &[(&str, &str)], table: AggregatorTable) -> Vec<Row> {
    let library = PluginLibrary::load(&plugin(package)).expect("load the plugin");
    let config = Config {
        options: options
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    };
    PluginTables::new(&library, &config)
        .expect("instance")
        .read_all(&ReadRowsRequest {
            table,
            job: None,
            since: None,
            until: None,
            cursor: None,
        })
        .expect("read the table")
}

/// Uploads disruptions and alerts twice into one store and checks one copy of each row.
fn twice_leaves_one_copy(store: &[&str], package: &str, options: &[(&str, &str)]) {
    let runs = runs();
    let first = upload("upload-disruptions", runs.path(), store, &[]);
    let (stdout, stderr) = text(&first);
    assert!(first.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("3 runs, 6 rows: 6 written to BackendDisruption"),
        "{stdout}"
    );
    assert!(stdout.contains("1 unfinished"), "{stdout}");
    let second = upload("upload-disruptions", runs.path(), store, &[]);
    let (stdout, stderr) = text(&second);
    assert!(second.status.success(), "{stdout}{stderr}");
    assert!(stdout.contains("0 runs, 0 rows: 0 written"), "{stdout}");
    // As upstream: the runs that finished before the last upload's end time minus 30 minutes
    // are outside the window, the one inside it is uploaded already.
    assert!(
        stdout.contains("2 finished before the upload window")
            && stdout.contains("1 uploaded already"),
        "{stdout}"
    );
    let stored = rows(package, options, AggregatorTable::BackendDisruption);
    assert_eq!(stored.len(), 6, "{stored:?}");
    let row = &stored[0];
    assert_eq!(row["JobRunName"], "1001");
    assert_eq!(row["BackendName"], "cache-kube-api-new-connections");
    assert_eq!(row["JobName"], JOB);
    assert_eq!(row["JobRunStartTime"], "2025-06-07T01:00:00Z");
    assert_eq!(row["JobRunEndTime"], "2025-06-07T04:00:00Z");
    assert_eq!(row["Cluster"], "build05");
    assert_eq!(row["ReleaseTag"], "4.16.0-0.ci-2025-06-01-000000");
    assert_eq!(row["JobRunStatus"], "success");

    // Alerts: the known alerts of 4.16 that did not fire get zero rows.
    let known = tempfile::NamedTempFile::new().expect("known alerts");
    std::fs::write(
        known.path(),
        json!([
            {"AlertName": "TargetDown", "AlertNamespace": "kube-system", "AlertLevel": "Critical", "Release": "4.16"},
            {"AlertName": "etcdMembersDown", "AlertNamespace": "", "AlertLevel": "Critical", "Release": "4.16"},
            {"AlertName": "KubeAPIDown", "AlertNamespace": "", "AlertLevel": "Critical", "Release": "4.15"},
        ])
        .to_string(),
    )
    .expect("write");
    let known_arg = known.path().display().to_string();
    let dry = upload(
        "upload-alerts",
        runs.path(),
        store,
        &["--known-alerts", &known_arg, "--dry-run"],
    );
    let (stdout, stderr) = text(&dry);
    assert!(dry.status.success(), "{stdout}{stderr}");
    let printed: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(printed.len(), 6, "{stdout}");
    assert_eq!(printed[0]["table"], "Alerts");
    assert_eq!(printed[0]["row"]["Name"], "TargetDown");
    assert_eq!(
        printed[0]["row"]["AlertSeconds"], 91,
        "1m30s + 500ms, rounded up"
    );
    assert_eq!(printed[1]["row"]["Name"], "etcdMembersDown");
    assert_eq!(printed[1]["row"]["AlertSeconds"], 0);
    assert!(stderr.contains("3 zero rows injected"), "{stderr}");
    assert!(
        rows(package, options, AggregatorTable::Alerts).is_empty(),
        "a dry run writes nothing"
    );
    for round in 0..2 {
        let out = upload(
            "upload-alerts",
            runs.path(),
            store,
            &["--known-alerts", &known_arg],
        );
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stdout}{stderr}");
        let want = if round == 0 {
            "6 rows: 6 written"
        } else {
            "0 rows: 0 written"
        };
        assert!(stdout.contains(want), "round {round}: {stdout}");
    }
    let alerts = rows(package, options, AggregatorTable::Alerts);
    assert_eq!(alerts.len(), 6, "{alerts:?}");
    let zeros: Vec<&Row> = alerts
        .iter()
        .filter(|r| r["Name"] == "etcdMembersDown")
        .collect();
    assert_eq!(zeros.len(), 3);
    assert!(zeros.iter().all(|r| r["AlertSeconds"] == 0));
}

#[test]
fn files_backend_upload_twice_leaves_one_copy_with_zero_injection() {
    let data = tempfile::tempdir().expect("data dir");
    let dir = data.path().display().to_string();
    twice_leaves_one_copy(
        &["--store", "files", "--data", &dir],
        "flakewatch-plugin-files",
        &[("data", &dir)],
    );
}

#[test]
fn bigquery_upload_twice_leaves_one_copy_with_zero_injection() {
    let Some(emulator) = bigquery_support::emulator("upload_bigquery") else {
        return;
    };
    let bigquery = plugin("flakewatch-plugin-bigquery").display().to_string();
    let api = format!("bigquery:api={}", emulator.url);
    twice_leaves_one_copy(
        &[
            "--store",
            "bigquery",
            "--plugin",
            &bigquery,
            "--opt",
            &api,
            "--opt",
            "bigquery:project=flakewatch-test",
            "--opt",
            "bigquery:dataset=uploads",
        ],
        "flakewatch-plugin-bigquery",
        &[
            ("api", &emulator.url),
            ("project", "flakewatch-test"),
            ("dataset", "uploads"),
        ],
    );
}

/// A server that refuses every request with HTTP 401, as BigQuery refuses an expired token.
fn refusing_server() -> (String, std::thread::JoinHandle<()>) {
    let server = tiny_http::Server::http("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", server.server_addr());
    let handle = std::thread::spawn(move || {
        for _ in 0..20 {
            let Ok(Some(request)) = server.recv_timeout(std::time::Duration::from_secs(20)) else {
                return;
            };
            let body = r#"{"error":{"code":401,"message":"Request had invalid authentication credentials.","status":"UNAUTHENTICATED"}}"#;
            let _ = request.respond(tiny_http::Response::from_string(body).with_status_code(401));
        }
    });
    (url, handle)
}

#[test]
fn an_expired_token_or_a_bad_key_is_exit_3_naming_the_plugin() {
    let runs = runs();
    let bigquery = plugin("flakewatch-plugin-bigquery").display().to_string();
    let (url, _server) = refusing_server();
    let api = format!("bigquery:api={url}");
    let mut cmd = flakewatch();
    cmd.args(["upload-disruptions", "--runs"])
        .arg(runs.path())
        .args(["--now", NOW, "--store", "bigquery", "--plugin", &bigquery])
        .args(["--opt", &api, "--opt", "bigquery:project=p"])
        .args(["--opt-env", "bigquery:token=FW_EXPIRED"])
        .env("FW_EXPIRED", "ya29.expired-secret-token");
    let out = cmd.output().expect("run flakewatch");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stdout}{stderr}");
    assert!(stderr.contains("plugin bigquery"), "{stderr}");
    assert!(stderr.contains("authentication failed"), "{stderr}");
    assert!(stderr.contains("HTTP 401"), "{stderr}");
    assert!(!stderr.contains("expired-secret-token"), "{stderr}");
    assert!(!stdout.contains("expired-secret-token"), "{stdout}");

    let missing = runs.path().join("no-such-key.json").display().to_string();
    let key = format!("bigquery:key-file={missing}");
    let out = Command::new(env!("CARGO_BIN_EXE_flakewatch"))
        .args(["upload-alerts", "--runs"])
        .arg(runs.path())
        .args(["--now", NOW, "--store", "bigquery", "--plugin", &bigquery])
        .args(["--opt", "bigquery:project=p", "--opt", &key])
        .output()
        .expect("run flakewatch");
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stdout}{stderr}");
    assert!(stderr.contains("plugin bigquery"), "{stderr}");
    assert!(stderr.contains("no-such-key.json"), "{stderr}");
}

#[test]
fn a_store_without_the_capability_is_named() {
    let runs = runs();
    let example = plugin("flakewatch-plugin-example").display().to_string();
    let out = upload(
        "upload-disruptions",
        runs.path(),
        &["--store", "example", "--plugin", &example],
        &[],
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stdout}{stderr}");
    assert!(
        stderr.contains("does not provide aggregator_tables"),
        "{stderr}"
    );
}

/// Primes the Jobs table twice from a release controller config and a periodics file: the
/// second run writes nothing.
fn prime_twice(store: &[&str], package: &str, options: &[(&str, &str)]) {
    let inputs = tempfile::tempdir().expect("inputs");
    std::fs::write(
        inputs.path().join("release-ocp-4.16.json"),
        json!({"name": "4.16.0-0.nightly", "verify": {
            "aws": {"prowJob": {"name": "periodic-ci-openshift-release-master-nightly-4.16-e2e-aws-ovn"}},
            "upgrade": {"prowJob": {"name": JOB}},
        }})
        .to_string(),
    )
    .expect("config");
    let periodics = inputs.path().join("periodics.yaml");
    std::fs::write(
        &periodics,
        format!(
            "periodics:\n- agent: kubernetes\n  name: {JOB}\n  spec:\n    containers:\n    - name: test\n\
             - name: periodic-ci-openshift-release-master-nightly-4.14-e2e-aws\n\
             - name: periodic-ci-openshift-release-master-nightly-4.17-e2e-gcp\n"
        ),
    )
    .expect("periodics");
    let prime = || {
        flakewatch()
            .args(["prime-job-table", "--release-config"])
            .arg(inputs.path())
            .arg("--periodics")
            .arg(&periodics)
            .args(store)
            .output()
            .expect("run flakewatch")
    };
    for want in [
        "3 jobs found, 3 written to Jobs",
        "3 jobs found, 0 written to Jobs in",
    ] {
        let out = prime();
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stdout}{stderr}");
        assert!(stdout.contains(want), "{stdout}");
        if want.contains(", 0 written") {
            assert!(stdout.contains("3 stored already"), "{stdout}");
        }
    }
    let jobs = rows(package, options, AggregatorTable::Jobs);
    let mut names: Vec<&str> = jobs.iter().filter_map(|r| r["JobName"].as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            JOB,
            "periodic-ci-openshift-release-master-nightly-4.16-e2e-aws-ovn",
            "periodic-ci-openshift-release-master-nightly-4.17-e2e-gcp",
        ]
    );
    let row = jobs
        .iter()
        .find(|r| r["JobName"] == JOB)
        .expect("the job's row");
    assert_eq!(row["GCSJobHistoryLocationPrefix"], format!("logs/{JOB}"));
    assert_eq!(row["GCSBucketName"], "test-platform-results");
    assert_eq!(row["CollectDisruption"], true);
}

#[test]
fn prime_job_table_and_upload_releases_twice_leave_one_copy() {
    let data = tempfile::tempdir().expect("data dir");
    let dir = data.path().display().to_string();
    let store = ["--store", "files", "--data", &dir];
    prime_twice(&store, "flakewatch-plugin-files", &[("data", &dir)]);
    let inputs = tempfile::tempdir().expect("inputs");
    let created = flakewatch()
        .arg("create-releases")
        .args(store)
        .output()
        .expect("run flakewatch");
    assert!(created.status.success(), "{}", text(&created).1);
    let releases = inputs.path().join("releases.json");
    let tag = |name: &str, phase: &str| {
        json!({"releaseTag": name, "phase": phase, "release": "4.16", "stream": "nightly",
               "architecture": "amd64", "releaseTime": "2025-06-09T00:00:00Z"})
    };
    std::fs::write(
        &releases,
        json!({
            "tags": [tag("4.16.0-a", "Accepted"), tag("4.16.0-r", "Rejected"), tag("4.16.0-p", "Ready")],
            "jobRuns": [
                {"releaseTag": "4.16.0-a", "name": "1", "jobName": "aws", "kind": "Blocking", "retries": 1, "upgrade": false},
                {"releaseTag": "4.16.0-p", "name": "2", "jobName": "aws"},
            ],
            "pullRequests": [{"releaseTag": "4.16.0-r", "name": "installer", "pullRequestID": "7"}],
        })
        .to_string(),
    )
    .expect("releases");
    for want in [
        "wrote 2 ReleaseTags, 1 ReleaseJobRuns, 0 ReleaseRepositories, 1 ReleasePullRequests",
        "wrote 0 ReleaseTags, 0 ReleaseJobRuns, 0 ReleaseRepositories, 0 ReleasePullRequests",
    ] {
        let out = flakewatch()
            .args(["upload-releases", "--file"])
            .arg(&releases)
            .args(store)
            .output()
            .expect("run flakewatch");
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stdout}{stderr}");
        assert!(stdout.contains(want), "{stdout}");
    }
    let tags = rows(
        "flakewatch-plugin-files",
        &[("data", &dir)],
        AggregatorTable::ReleaseTags,
    );
    assert_eq!(tags.len(), 2);
    assert_eq!(tags[0]["releaseTag"], "4.16.0-a");
    let bad = inputs.path().join("bad.json");
    std::fs::write(
        &bad,
        json!({"tags": [{"releaseTag": "x", "retries": "many"}]}).to_string(),
    )
    .expect("bad");
    let out = flakewatch()
        .args(["upload-releases", "--file"])
        .arg(&bad)
        .args(store)
        .output()
        .expect("run flakewatch");
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("bad.json: tags[0]"), "{stderr}");
}

/// The saved release controller answers of `host/testdata/jra/release-controller`.
fn release_controller_dir() -> std::path::PathBuf {
    workspace().join("host/testdata/jra/release-controller")
}

fn upload_releases(store: &[&str], input: &Path, extra: &[&str]) -> Output {
    flakewatch()
        .args(["upload-releases", "--release-controller"])
        .arg(input)
        .args(store)
        .args(extra)
        .output()
        .expect("run flakewatch")
}

/// The row of `rows` whose `column` is `value`.
fn row_where<'a>(rows: &'a [Row], column: &str, value: &str) -> &'a Row {
    rows.iter()
        .find(|r| r[column] == value)
        .unwrap_or_else(|| panic!("no row with {column} = {value}: {rows:?}"))
}

/// Uploads the saved release controller answers twice: the first run writes the Accepted and
/// Rejected tags that have details and a change log, with their rows; the second nothing.
fn release_controller_twice(store: &[&str], package: &str, options: &[(&str, &str)]) {
    let created = flakewatch()
        .arg("create-releases")
        .args(store)
        .output()
        .expect("run flakewatch");
    let (stdout, stderr) = text(&created);
    assert!(created.status.success(), "{stdout}{stderr}");
    assert!(
        stdout.contains("create-releases: the release tables exist"),
        "{stdout}"
    );
    let input = release_controller_dir();
    let dry = upload_releases(store, &input, &["--dry-run"]);
    let (stdout, stderr) = text(&dry);
    assert!(dry.status.success(), "{stdout}{stderr}");
    let printed: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(printed.len(), 3 + 7 + 4 + 4, "{stdout}");
    assert_eq!(
        printed.last().expect("rows")["table"],
        "ReleaseTags",
        "tags are written last"
    );
    assert!(
        stderr.contains("would write 3 ReleaseTags, 7 ReleaseJobRuns, 4 ReleaseRepositories, 4 ReleasePullRequests"),
        "{stderr}"
    );
    assert!(
        rows(package, options, AggregatorTable::ReleaseTags).is_empty(),
        "a dry run writes nothing"
    );
    for (round, want) in [
        "wrote 3 ReleaseTags, 7 ReleaseJobRuns, 4 ReleaseRepositories, 4 ReleasePullRequests",
        "wrote 0 ReleaseTags, 0 ReleaseJobRuns, 0 ReleaseRepositories, 0 ReleasePullRequests",
    ]
    .into_iter()
    .enumerate()
    {
        let out = upload_releases(store, &input, &[]);
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stdout}{stderr}");
        assert!(stdout.contains(want), "round {round}: {stdout}");
        let stored = if round == 0 { 0 } else { 3 };
        assert!(
            stdout.contains(&format!(
                "({stored} tags stored already, 2 not Accepted/Rejected"
            )),
            "round {round}: {stdout}"
        );
        if round == 0 {
            assert!(
                stdout.contains("1 without release details, 1 without a change log"),
                "{stdout}"
            );
        }
    }

    let tags = rows(package, options, AggregatorTable::ReleaseTags);
    assert_eq!(tags.len(), 3, "{tags:?}");
    assert!(
        tags.iter()
            .all(|t| t["phase"] == "Accepted" || t["phase"] == "Rejected"),
        "{tags:?}"
    );
    let rejected = row_where(&tags, "releaseTag", "4.16.0-0.nightly-2025-06-08-091045");
    assert_eq!(rejected["phase"], "Rejected");
    assert_eq!(rejected["release"], "4.16");
    assert_eq!(rejected["stream"], "nightly");
    assert_eq!(rejected["architecture"], "amd64");
    assert_eq!(rejected["releaseTime"], "2025-06-08T09:10:45Z");
    assert_eq!(
        rejected["previousReleaseTag"],
        "4.16.0-0.nightly-2025-06-06-000000"
    );
    assert_eq!(rejected["kubernetesVersion"], "1.29.5");
    // Upstream's assignment: the version the OS was upgraded from is stored as current.
    assert_eq!(rejected["currentOSVersion"], "416.94.202506061500-0");
    assert_eq!(rejected["previousOSVersion"], "416.94.202506072200-0");
    assert!(
        rejected["osDiffURL"]
            .as_str()
            .is_some_and(|u| u.contains("diff.html")),
        "{rejected:?}"
    );
    let arm = row_where(
        &tags,
        "releaseTag",
        "4.16.0-0.nightly-arm64-2025-06-08-190000",
    );
    assert_eq!(arm["architecture"], "arm64");

    let runs = rows(package, options, AggregatorTable::ReleaseJobRuns);
    assert_eq!(runs.len(), 7, "{runs:?}");
    let upgrade = row_where(&runs, "name", "1931768000000000002");
    assert_eq!(upgrade["jobName"], "upgrade-minor");
    assert_eq!(upgrade["kind"], "Blocking");
    assert_eq!(upgrade["retries"], 1);
    assert_eq!(upgrade["upgrade"], true);
    assert_eq!(upgrade["upgradesFrom"], "4.15.16");
    assert_eq!(upgrade["transitionTime"], "2025-06-08T21:02:44Z");
    let failed = row_where(&runs, "name", "1931620000000000011");
    assert_eq!(failed["state"], "Failed");
    assert_eq!(failed["retries"], 2);
    assert_eq!(failed["upgrade"], false);
    assert_eq!(
        row_where(&runs, "name", "1931768000000000003")["kind"],
        "Informing"
    );

    let repositories = rows(package, options, AggregatorTable::ReleaseRepositories);
    assert_eq!(repositories.len(), 4, "{repositories:?}");
    let etcd = row_where(&repositories, "name", "cluster-etcd-operator");
    assert!(
        etcd["fullChangeLog"]
            .as_str()
            .is_some_and(|u| u.contains("/compare/")),
        "{etcd:?}"
    );
    let prs = rows(package, options, AggregatorTable::ReleasePullRequests);
    assert_eq!(prs.len(), 4, "{prs:?}");
    let pr = row_where(&prs, "pullRequestID", "8617");
    assert_eq!(
        pr["description"],
        "gcp: wait for the internal load balancer & its health check"
    );
    assert_eq!(
        pr["url"],
        "https://github.com/openshift/installer/pull/8617"
    );
    assert_eq!(
        pr["bugURL"], "",
        "only Bugzilla links are bugs, as upstream"
    );
    assert_eq!(
        row_where(&prs, "pullRequestID", "4402")["bugURL"],
        "https://bugzilla.redhat.com/show_bug.cgi?id=2290457"
    );
}

#[test]
fn release_controller_answers_upload_once_to_the_files_backend() {
    let data = tempfile::tempdir().expect("data dir");
    let dir = data.path().display().to_string();
    release_controller_twice(
        &["--store", "files", "--data", &dir],
        "flakewatch-plugin-files",
        &[("data", &dir)],
    );
}

#[test]
fn a_malformed_release_controller_answer_is_named() {
    let data = tempfile::tempdir().expect("data dir");
    let dir = data.path().display().to_string();
    let store = ["--store", "files", "--data", &dir];
    let inputs = tempfile::tempdir().expect("inputs");
    let source = release_controller_dir();
    let copy = |name: &str| {
        std::fs::copy(source.join(name), inputs.path().join(name)).expect("copy");
    };
    copy("4.16.0-0.nightly-tags.json");
    let details = "release-4.16.0-0.nightly-2025-06-08-181500.json";
    let mut doc: Value =
        serde_json::from_str(&std::fs::read_to_string(source.join(details)).expect("details"))
            .expect("JSON");
    // The change log as raw HTML instead of the API's base64.
    doc["changeLog"] = json!("<h3>Components</h3>");
    std::fs::write(inputs.path().join(details), doc.to_string()).expect("write");
    let out = upload_releases(&store, inputs.path(), &[]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stdout}{stderr}");
    assert!(stderr.contains(details), "{stderr}");
    assert!(stderr.contains("changeLog"), "{stderr}");
    assert!(stderr.contains("not base64"), "{stderr}");

    let broken = inputs.path().join("release-cut-short.json");
    std::fs::write(
        &broken,
        r#"{"name": "4.16.0-0.nightly-2025-06-08-181500", "results": {"#,
    )
    .expect("write");
    let out = upload_releases(&store, &broken, &[]);
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stdout}{stderr}");
    assert!(stderr.contains("release-cut-short.json"), "{stderr}");
    assert!(stderr.contains("line 1"), "{stderr}");

    let tags = inputs.path().join("tags-wrong.json");
    std::fs::write(
        &tags,
        r#"{"name": "4.16.0-0.nightly", "tags": [{"name": 7}]}"#,
    )
    .expect("write");
    let out = upload_releases(&store, &tags, &[]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("tags-wrong.json: not a release stream's tags"),
        "{stderr}"
    );
    assert!(
        rows(
            "flakewatch-plugin-files",
            &[("data", &dir)],
            AggregatorTable::ReleaseTags
        )
        .is_empty(),
        "nothing is written from bad input"
    );

    let both = flakewatch()
        .args([
            "upload-releases",
            "--file",
            "x.json",
            "--release-controller",
        ])
        .arg(inputs.path())
        .args(store)
        .output()
        .expect("run flakewatch");
    assert_eq!(both.status.code(), Some(2), "{}", text(&both).1);
}

#[test]
fn bigquery_prime_job_table_and_upload_releases_leave_one_copy() {
    let Some(emulator) = bigquery_support::emulator("releases_bigquery") else {
        return;
    };
    let bigquery = plugin("flakewatch-plugin-bigquery").display().to_string();
    let api = format!("bigquery:api={}", emulator.url);
    let store = [
        "--store",
        "bigquery",
        "--plugin",
        &bigquery,
        "--opt",
        &api,
        "--opt",
        "bigquery:project=flakewatch-test",
        "--opt",
        "bigquery:dataset=releases",
    ];
    let options = [
        ("api", emulator.url.as_str()),
        ("project", "flakewatch-test"),
        ("dataset", "releases"),
    ];
    prime_twice(&store, "flakewatch-plugin-bigquery", &options);
    release_controller_twice(&store, "flakewatch-plugin-bigquery", &options);
}

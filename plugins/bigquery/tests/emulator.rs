//! The plugin against `bqemulator` (a DuckDB-backed BigQuery REST emulator) started on
//! loopback by each test: the SDK's conformance kit, paging of a large result, history
//! computed in BigQuery against the files backend's SQLite history, idempotent stores, builds
//! listed in a window.

mod support;

use flakewatch_plugin_bigquery::BigQuery;
use flakewatch_plugin_bigquery::client::{Error, Param};
use flakewatch_plugin_bigquery::results::insert_id;
use flakewatch_plugin_files::results::ResultsStore;
use flakewatch_plugin_sdk::Plugin;
use flakewatch_plugin_sdk::kit;
use flakewatch_plugin_sdk::model::{
    AttemptResult, Build, Builder, ListBuildsRequest, ResultsRun, RevisionRunsRequest,
    StoreRunRequest, TestFailure, TestHistoryRequest, TestResult,
};
use serde_json::json;

#[test]
fn conforms_to_the_sdk_kit() {
    let Some(emulator) = support::emulator("conforms_to_the_sdk_kit") else {
        return;
    };
    // Small pages, so that the kit's listings and every query result span several.
    let config = emulator.config("kit", &[("page-runs", "2"), ("max-results", "3")]);
    let report = kit::assert_conforms::<BigQuery>(&config);
    assert!(report.checked.contains(&"test_history"), "{report:?}");
    assert!(report.checked.contains(&"revision_runs"), "{report:?}");
}

#[test]
fn a_100000_row_result_read_in_pages_of_1000_is_complete_and_in_order() {
    let Some(emulator) = support::emulator("paging") else {
        return;
    };
    let plugin = BigQuery::from_config(&emulator.config("paging", &[]), |_| None).expect("plugin");
    let mut pages = 0;
    let mut next = 1i64;
    let read = plugin
        .store()
        .client()
        .query_pages(
            "SELECT x, CONCAT('row ', CAST(x AS STRING)) AS label \
             FROM UNNEST(GENERATE_ARRAY(1, @n)) AS x ORDER BY x",
            &[Param::int("n", Some(100_000))],
            Some(1000),
            |fields, rows| {
                assert_eq!(fields, ["x", "label"]);
                assert!(rows.len() <= 1000, "a page of {} rows", rows.len());
                pages += 1;
                for row in rows {
                    assert_eq!(row[0], json!(next.to_string()), "page {pages}");
                    assert_eq!(row[1], json!(format!("row {next}")));
                    next += 1;
                }
                Ok(())
            },
        )
        .expect("query");
    assert_eq!(read, 100_000);
    assert_eq!(next, 100_001, "every row arrived, in order");
    assert_eq!(pages, 100, "read in pages of 1,000");
}

#[test]
fn a_failed_query_answered_with_http_200_is_an_error() {
    let Some(emulator) = support::emulator("query_errors") else {
        return;
    };
    let plugin = BigQuery::from_config(&emulator.config("errors", &[]), |_| None).expect("plugin");
    let err = plugin
        .store()
        .client()
        .query("SELECT no_such_column FROM UNNEST([1]) AS x", &[], None)
        .expect_err("the emulator answers HTTP 200 with errors[]");
    assert!(
        matches!(&err, Error::Refused(m) if m.contains("the query failed")),
        "{err:?}"
    );
}

/// A small deterministic generator (no randomness crate needed for data).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// Runs of two jobs over ten days: tests that pass, fail, flake, skip, repeat within a run.
fn generated_runs() -> Vec<ResultsRun> {
    let mut rng = Lcg(42);
    let mut runs = Vec::new();
    for i in 0..40u64 {
        let job = if i % 5 == 4 { "gen-other" } else { "gen-job" };
        let day = 1 + i / 4;
        let hour = (i * 7) % 24;
        let mut tests = Vec::new();
        for t in 0..8u64 {
            let attempts = (0..1 + rng.next(3))
                .map(|_| {
                    let (status, failure) = match rng.next(6) {
                        0..=2 => ("pass", false),
                        3 => ("fail", true),
                        4 => ("skip", false),
                        _ => ("error", true),
                    };
                    AttemptResult {
                        status: status.to_owned(),
                        failure,
                        expected: !failure,
                        ..AttemptResult::default()
                    }
                })
                .collect();
            tests.push(TestResult {
                suite: vec![format!("suite-{}", t % 3), "inner".to_owned()],
                classname: None,
                name: format!("Test{t}"),
                attempts,
            });
        }
        // The same test twice in a run, now and then.
        if i % 3 == 0 {
            let again = tests[0].clone();
            tests.push(again);
        }
        runs.push(ResultsRun {
            key: format!("gen-{i:02}"),
            job: Some(job.to_owned()),
            revision: Some(format!("rev-{}", i % 4)),
            started_at: Some(format!("2025-07-{day:02}T{hour:02}:30:00Z")),
            tests,
            ..ResultsRun::default()
        });
    }
    runs
}

#[test]
fn history_computed_in_bigquery_equals_the_files_backends() {
    let Some(emulator) = support::emulator("history") else {
        return;
    };
    let bigquery =
        BigQuery::from_config(&emulator.config("history", &[]), |_| None).expect("plugin");
    let dir = tempfile::tempdir().expect("temporary directory");
    // The files backend's SQLite store, through its Rust API (its plugin type would bring a
    // second plugin entry symbol into this test binary).
    let files = ResultsStore::new(dir.path().to_path_buf(), None, 100);
    let (fixture, expected) = kit::history_fixture();
    let runs: Vec<ResultsRun> = fixture.into_iter().chain(generated_runs()).collect();
    for run in &runs {
        let request = StoreRunRequest { run: run.clone() };
        assert!(bigquery.store_run(&request).expect("bigquery store").stored);
        assert!(files.store_run(&request).expect("files store").stored);
    }
    let mut requests: Vec<TestHistoryRequest> = expected.iter().map(|(r, _)| r.clone()).collect();
    for job in ["gen-job", "gen-other", "nobody"] {
        for (max_runs, max_days, now) in [
            (200, 30, "2025-07-11T00:00:00Z"),
            (5, 30, "2025-07-11T00:00:00Z"),
            (12, 3, "2025-07-08T12:00:00Z"),
            (1, 1, "2025-07-05T00:00:00Z"),
            (200, 2, "2025-07-03T05:30:00Z"),
            (7, 0, "2025-07-04T14:30:00+02:00"),
        ] {
            requests.push(TestHistoryRequest {
                job: job.to_owned(),
                max_runs,
                max_days,
                now: now.to_owned(),
            });
        }
    }
    let mut nonempty = 0;
    for request in &requests {
        let in_bigquery = bigquery.test_history(request).expect("bigquery history");
        let in_sqlite = files.test_history(request).expect("files history");
        assert_eq!(in_bigquery, in_sqlite, "for {request:?}");
        if !in_bigquery.rows.is_empty() {
            nonempty += 1;
        }
    }
    assert!(nonempty >= 15, "only {nonempty} requests had rows");
    // And the kit's hand-worked answers.
    for (request, want) in expected {
        assert_eq!(bigquery.test_history(&request).expect("history"), want);
    }
}

#[test]
fn a_run_stored_twice_or_retried_leaves_one_copy() {
    let Some(emulator) = support::emulator("idempotence") else {
        return;
    };
    let plugin = BigQuery::from_config(&emulator.config("idem", &[]), |_| None).expect("plugin");
    let run = kit::sample_run("idem-1", "idem-rev", Some("s"));
    let request = StoreRunRequest { run: run.clone() };
    assert!(plugin.store_run(&request).expect("first").stored);
    assert!(!plugin.store_run(&request).expect("second").stored);
    let count = |table: &str| -> i64 {
        let rows = plugin
            .store()
            .client()
            .query(
                &format!("SELECT COUNT(*) AS n FROM `flakewatch-test.idem.{table}`"),
                &[],
                None,
            )
            .expect("count");
        rows.rows[0][0]
            .as_str()
            .expect("n")
            .parse()
            .expect("number")
    };
    let attempts: usize = run.tests.iter().map(|t| t.attempts.len().max(1)).sum();
    assert_eq!(count("runs"), 1);
    assert_eq!(count("test_results"), attempts as i64);
    assert_eq!(count("scheduled_tests"), run.scheduled.len() as i64);

    // A retried insertAll request that BigQuery would drop by its insertIds: the emulator
    // keeps it, and reads still see one run with its rows once.
    let client = plugin.store().client();
    client
        .insert_all(
            "idem",
            "runs",
            &[(
                insert_id("idem-1", "runs", 0, 0),
                json!({"key": "idem-1", "job": "kit-job", "revision": "idem-rev", "suite": "s",
                       "source": "retry", "format": "junit", "properties": "{}",
                       "started": "2025-06-09T10:00:00.25Z",
                       "stored_at": "2030-01-01T00:00:00Z"}),
            )],
        )
        .expect("duplicate run row");
    client
        .insert_all(
            "idem",
            "test_results",
            &[(
                insert_id("idem-1", "test_results", 1, 0),
                json!({"run_key": "idem-1", "test_position": 1, "attempt": 0,
                       "suite_path": "[\"outer\",\"inner\"]", "classname": "pkg.Class",
                       "name": "same title", "status": "pass", "failure": false,
                       "expected": true, "known_intermittent": "[]"}),
            )],
        )
        .expect("duplicate attempt row");
    assert_eq!(
        count("runs"),
        2,
        "the emulator does not de-duplicate insertIds"
    );
    let page = plugin
        .revision_runs(&RevisionRunsRequest {
            revision: "idem-rev".to_owned(),
            suite: None,
            cursor: None,
        })
        .expect("runs");
    assert_eq!(page.runs, [run], "one copy, as first stored");
    assert!(!plugin.store_run(&request).expect("third").stored);
    let history = plugin
        .test_history(&TestHistoryRequest {
            job: "kit-job".to_owned(),
            max_runs: 200,
            max_days: 7,
            now: "2025-06-10T00:00:00Z".to_owned(),
        })
        .expect("history");
    assert_eq!(history.runs, 1, "{history:?}");
    let same_title = history
        .rows
        .iter()
        .find(|r| r.name == "same title")
        .expect("row");
    // One run: the test flaked (fail then pass in its first occurrence).
    assert_eq!(
        (
            same_title.pass_count,
            same_title.fail_count,
            same_title.flake_count
        ),
        (0, 0, 1),
        "{history:?}\n{}",
        emulator.log()
    );
}

/// Three builders and 20 builds over ten days of August 2025, with failures whose output
/// has quotes, newlines and non-ASCII text. Times are written as they read back (RFC 3339,
/// UTC, no trailing zeros).
fn sample_builds() -> (Vec<Builder>, Vec<Build>) {
    let builders: Vec<Builder> = [
        "gotip-linux-amd64",
        "gotip-darwin-arm64",
        "x_tools-gotip-windows-386",
    ]
    .iter()
    .map(|name| Builder {
        name: (*name).to_owned(),
        repo: if name.starts_with("x_") {
            "tools"
        } else {
            "go"
        }
        .to_owned(),
        go_branch: "master".to_owned(),
        goos: name.split('-').nth(1).unwrap_or("").to_owned(),
        goarch: name.rsplit('-').next().unwrap_or("").to_owned(),
    })
    .collect();
    let builds = (0..20u32)
        .map(|i| {
            let failed = i % 3 != 0;
            Build {
                url: format!("https://ci.chromium.org/b/{}", 8_000_000 + i * 7),
                builder: builders[i as usize % 3].name.clone(),
                commit: format!("{i:040x}"),
                go_commit: if i % 3 == 2 {
                    format!("{:040x}", i + 100)
                } else {
                    String::new()
                },
                // Two builds share each commit time (ordered by URL then).
                commit_time: format!(
                    "2025-08-{:02}T{:02}:00:00{}Z",
                    1 + i / 2,
                    (i / 2) % 24,
                    if i % 4 == 1 { ".5" } else { "" }
                ),
                build_time: (i % 2 == 0).then(|| format!("2025-08-{:02}T23:59:59Z", 1 + i / 2)),
                status: if failed { "FAILURE" } else { "SUCCESS" }.to_owned(),
                log: format!("build {i} log\nline 2"),
                step_log: if failed {
                    format!("step log of {i}")
                } else {
                    String::new()
                },
                failures: if failed {
                    (0..1 + i % 3)
                        .map(|k| TestFailure {
                            test_id: format!("golang.org/x/pkg{k}.TestThing{i}/sub"),
                            status: if k == 1 { "CRASH" } else { "FAIL" }.to_owned(),
                            output: format!("--- FAIL: \"quoted\" été 🙂\n\tat {i}.{k}"),
                        })
                        .collect()
                } else {
                    Vec::new()
                },
            }
        })
        .collect();
    (builders, builds)
}

#[test]
fn builds_are_listed_in_the_window_with_their_failures_over_pages() {
    let Some(emulator) = support::emulator("builds") else {
        return;
    };
    let config = emulator.config("builds", &[("page-builds", "3")]);
    let plugin = BigQuery::from_config(&config, |_| None).expect("plugin");
    let (builders, builds) = sample_builds();
    assert_eq!(
        plugin
            .store()
            .load_builds(&builders, &builds)
            .expect("load"),
        20
    );
    assert_eq!(
        plugin
            .store()
            .load_builds(&builders, &builds)
            .expect("load again"),
        0,
        "loading the same builds twice writes nothing"
    );
    let since = "2025-08-05T00:00:00Z";
    let mut listed = Vec::new();
    let mut listed_builders = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        pages += 1;
        assert!(pages <= 20, "endless listing");
        let page = plugin
            .list_builds(&ListBuildsRequest {
                since: since.to_owned(),
                cursor: cursor.clone(),
            })
            .expect("list_builds");
        assert!(page.builds.len() <= 3);
        listed_builders.extend(page.builders);
        listed.extend(page.builds);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let time = |text: &str| text.parse::<jiff::Timestamp>().expect("RFC 3339");
    let mut want: Vec<Build> = builds
        .into_iter()
        .filter(|b| time(&b.commit_time) >= time(since))
        .collect();
    want.sort_by(|a, b| (time(&a.commit_time), &a.url).cmp(&(time(&b.commit_time), &b.url)));
    assert_eq!(want.len(), 12);
    assert_eq!(listed, want, "the window's builds, whole, oldest first");
    assert_eq!(pages, 4);
    let mut want_builders = builders;
    want_builders.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(
        listed_builders, want_builders,
        "builders once, on the first page"
    );
    // The kit, on the loaded builds (and its own results).
    kit::assert_conforms::<BigQuery>(&config);
}

#[test]
fn through_a_faulty_network_runs_are_stored_once_and_read_whole() {
    use support::{Fault, Proxy};
    let Some(emulator) = support::emulator("faulty_network") else {
        return;
    };
    // The first answer to every insertAll into a table is lost after the rows reached the
    // emulator (so the retry sends them a second time, and the emulator keeps both), and the
    // first request for every further result page fails before it arrives.
    let proxy = Proxy::start(&emulator.url, |seen| {
        if seen.path.ends_with("/insertAll") && seen.nth % 2 == 0 {
            Fault::FailAfter
        } else if seen.method == "GET" && seen.query.contains("pageToken=") && seen.nth % 2 == 0 {
            Fault::FailBefore
        } else {
            Fault::None
        }
    });
    let through_proxy = emulator.config(
        "faulty",
        &[
            ("api", proxy.url.as_str()),
            ("retry-base-ms", "5"),
            ("page-runs", "2"),
            ("max-results", "2"),
        ],
    );
    let plugin = BigQuery::from_config(&through_proxy, |_| None).expect("plugin");
    let runs: Vec<ResultsRun> = (1..=5)
        .map(|i| kit::sample_run(&format!("net-{i}"), "net-rev", Some("s")))
        .collect();
    for run in &runs {
        let request = StoreRunRequest { run: run.clone() };
        assert!(plugin.store_run(&request).expect("store").stored);
    }
    let injected = proxy.injected.load(std::sync::atomic::Ordering::SeqCst);
    assert!(injected >= 15, "{injected} faults injected");
    // The emulator holds every row twice ...
    let direct = BigQuery::from_config(&emulator.config("faulty", &[]), |_| None).expect("plugin");
    let rows = direct
        .store()
        .client()
        .query(
            "SELECT COUNT(*) AS n FROM `flakewatch-test.faulty.runs`",
            &[],
            None,
        )
        .expect("count");
    assert_eq!(rows.rows[0][0], json!("10"));
    // ... and every read sees each run once, whole, in the order stored, over pages whose
    // first requests failed.
    let mut listed = Vec::new();
    let mut cursor = None;
    for _ in 0..10 {
        let page = plugin
            .revision_runs(&RevisionRunsRequest {
                revision: "net-rev".to_owned(),
                suite: None,
                cursor: cursor.clone(),
            })
            .expect("revision_runs");
        listed.extend(page.runs);
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(listed, runs);
    for run in &runs {
        let request = StoreRunRequest { run: run.clone() };
        assert!(!plugin.store_run(&request).expect("store again").stored);
    }
    let history = plugin
        .test_history(&TestHistoryRequest {
            job: "kit-job".to_owned(),
            max_runs: 200,
            max_days: 7,
            now: "2025-06-10T00:00:00Z".to_owned(),
        })
        .expect("history");
    assert_eq!(history.runs, 5);
    let same_title = history
        .rows
        .iter()
        .find(|r| r.name == "same title")
        .expect("row");
    assert_eq!(same_title.flake_count, 5, "{history:?}");
}

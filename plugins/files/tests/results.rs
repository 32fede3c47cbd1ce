//! The files backend's test-results store (`results.sqlite`): idempotence, round trip,
//! paging, history, schema versions, concurrent ingests and a killed ingest.

use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Barrier};

use flakewatch_plugin_files::FilesBackend;
use flakewatch_plugin_files::results::{RESULTS_FILE, SCHEMA_VERSION, table_counts};
use flakewatch_plugin_files::store::CRASH_AT_ENV;
use flakewatch_plugin_sdk::kit::{assert_conforms, history_fixture, sample_run};
use flakewatch_plugin_sdk::model::{
    Config, ListIssuesRequest, ResultsRun, RevisionRunsRequest, StoreRunRequest, StoredRun,
    TestHistoryRequest,
};
use flakewatch_plugin_sdk::{ErrorKind, Plugin};

fn config(dir: &Path, page_runs: Option<usize>) -> Config {
    let mut options = vec![("data".to_owned(), dir.display().to_string())];
    if let Some(n) = page_runs {
        options.push(("page_runs".to_owned(), n.to_string()));
    }
    Config {
        options: options.into_iter().collect(),
    }
}

fn backend(dir: &Path, page_runs: Option<usize>) -> FilesBackend {
    FilesBackend::create(&config(dir, page_runs)).expect("create")
}

fn store(files: &FilesBackend, run: &ResultsRun) -> bool {
    files
        .store_run(&StoreRunRequest { run: run.clone() })
        .expect("store_run")
        .stored
}

/// Every run of a revision over all pages, and the number of pages.
fn all_runs(files: &FilesBackend, revision: &str, suite: Option<&str>) -> (Vec<ResultsRun>, usize) {
    let mut runs = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        pages += 1;
        let page = files
            .revision_runs(&RevisionRunsRequest {
                revision: revision.to_owned(),
                suite: suite.map(str::to_owned),
                cursor,
            })
            .expect("revision_runs");
        runs.extend(page.runs);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return (runs, pages),
        }
        assert!(pages < 1000, "endless paging");
    }
}

fn counts(files: &FilesBackend) -> Vec<i64> {
    table_counts(files.results())
        .expect("counts")
        .into_values()
        .collect()
}

/// The SDK's kit, with pages of two runs so its listings span several pages.
#[test]
fn passes_the_conformance_kit_with_small_pages() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("issues.jsonl"), "").unwrap();
    let report = assert_conforms::<FilesBackend>(&config(dir.path(), Some(2)));
    for op in ["store_run", "revision_runs", "test_history"] {
        assert!(report.checked.contains(&op), "{op} not checked");
    }
}

#[test]
fn a_results_store_works_in_a_directory_that_does_not_exist_yet() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("not/yet");
    let files = backend(&dir, None);
    // Queries on a missing database answer with nothing and create nothing.
    let page = files
        .revision_runs(&RevisionRunsRequest {
            revision: "r".into(),
            ..RevisionRunsRequest::default()
        })
        .unwrap();
    assert!(page.runs.is_empty() && page.next_cursor.is_none());
    let history = files
        .test_history(&TestHistoryRequest {
            job: "j".into(),
            max_runs: 10,
            max_days: 10,
            now: "2025-06-10T00:00:00Z".into(),
        })
        .unwrap();
    assert_eq!(history.runs, 0);
    assert!(history.rows.is_empty());
    assert!(!dir.exists());
    // The tracker refuses the directory, before and after the results store made it.
    let err = files
        .list_issues(&ListIssuesRequest::default())
        .unwrap_err();
    assert!(err.message.contains("does not exist"), "{}", err.message);
    assert!(store(&files, &sample_run("k", "rev", None)));
    assert!(dir.join(RESULTS_FILE).is_file());
    let err = files
        .list_issues(&ListIssuesRequest::default())
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadRequest);
    assert!(err.message.contains("holds none of"), "{}", err.message);
    assert_eq!(
        files.results().schema_version().unwrap(),
        Some(SCHEMA_VERSION)
    );
}

#[test]
fn storing_a_run_twice_stores_it_once() {
    let dir = tempfile::tempdir().unwrap();
    let files = backend(dir.path(), None);
    let run = sample_run("twice", "rev", Some("suite"));
    assert!(store(&files, &run));
    let counts_once = counts(&files);
    let runs_once = all_runs(&files, "rev", None).0;
    // Another instance, as a second ingest would be; a changed body under the same key
    // changes nothing either.
    let again = backend(dir.path(), None);
    assert!(!store(&again, &run));
    let mut changed = run.clone();
    changed.tests.truncate(1);
    changed.job = Some("another".into());
    assert!(!store(&again, &changed));
    assert_eq!(counts(&again), counts_once);
    // One run, two scheduled tests, five rows: 2 + 1 attempts, a test without attempts, 1.
    assert_eq!(counts_once, vec![1, 2, 5]);
    assert_eq!(all_runs(&again, "rev", None).0, runs_once);
    assert_eq!(runs_once, vec![run]);
}

#[test]
fn runs_come_back_field_for_field() {
    let dir = tempfile::tempdir().unwrap();
    let files = backend(dir.path(), None);
    let full = sample_run("full", "rev", Some("suite"));
    // Everything optional absent or empty.
    let bare = ResultsRun {
        key: "bare".into(),
        revision: Some("rev".into()),
        ..ResultsRun::default()
    };
    assert!(store(&files, &full));
    assert!(store(&files, &bare));
    // Read back by a fresh instance, through the JSON the ABI uses.
    let fresh = backend(dir.path(), None);
    let (runs, _) = all_runs(&fresh, "rev", None);
    let json = serde_json::to_string(&runs).unwrap();
    let decoded: Vec<ResultsRun> = serde_json::from_str(&json).unwrap();
    assert_eq!(decoded, vec![full.clone(), bare]);
    assert_eq!(all_runs(&fresh, "rev", Some("suite")).0, vec![full]);
    assert_eq!(all_runs(&fresh, "other", None).0, vec![]);
}

#[test]
fn revision_runs_pages_in_the_order_stored() {
    let dir = tempfile::tempdir().unwrap();
    let files = backend(dir.path(), Some(3));
    let keys: Vec<String> = (0..7).map(|i| format!("run-{}", (i * 5) % 7)).collect();
    for key in &keys {
        assert!(store(&files, &sample_run(key, "paged", None)));
        // A run of another revision in between.
        assert!(store(
            &files,
            &sample_run(&format!("x{key}"), "elsewhere", None)
        ));
    }
    let (runs, pages) = all_runs(&files, "paged", None);
    assert_eq!(pages, 3);
    let got: Vec<&String> = runs.iter().map(|r| &r.key).collect();
    assert_eq!(got, keys.iter().collect::<Vec<_>>());
    let first = files
        .revision_runs(&RevisionRunsRequest {
            revision: "paged".into(),
            ..RevisionRunsRequest::default()
        })
        .unwrap();
    assert_eq!(first.runs.len(), 3);
    assert!(first.next_cursor.is_some());
    let err = files
        .revision_runs(&RevisionRunsRequest {
            revision: "paged".into(),
            suite: None,
            cursor: Some("not a cursor".into()),
        })
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadRequest);
}

#[test]
fn test_history_counts_as_worked_out_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let files = backend(dir.path(), None);
    let (runs, expected) = history_fixture();
    for run in &runs {
        assert!(store(&files, run));
    }
    assert_eq!(expected.len(), 5);
    for (request, want) in expected {
        let got = files.test_history(&request).unwrap();
        assert_eq!(got, want, "{request:?}");
    }
    let err = files
        .test_history(&TestHistoryRequest {
            job: "j".into(),
            max_runs: 1,
            max_days: 1,
            now: "yesterday".into(),
        })
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadRequest);
}

#[test]
fn an_unreadable_start_time_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let files = backend(dir.path(), None);
    let mut run = sample_run("bad-time", "rev", None);
    run.started_at = Some("2025-13-01".into());
    let err = files.store_run(&StoreRunRequest { run }).unwrap_err();
    assert_eq!(err.kind, ErrorKind::BadRequest);
    assert!(err.message.contains("bad-time"), "{}", err.message);
    assert!(all_runs(&files, "rev", None).0.is_empty());
}

#[test]
fn a_newer_schema_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    assert!(store(
        &backend(dir.path(), None),
        &sample_run("first", "rev", None)
    ));
    let db = rusqlite::Connection::open(dir.path().join(RESULTS_FILE)).unwrap();
    db.execute(
        "INSERT INTO flakewatch_schema (version, applied_at) VALUES (?1, 'later')",
        [SCHEMA_VERSION + 98],
    )
    .unwrap();
    let files = backend(dir.path(), None);
    let err = files
        .store_run(&StoreRunRequest {
            run: sample_run("second", "rev", None),
        })
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Failed);
    assert!(
        err.message.contains("files backend: store_run")
            && err
                .message
                .contains(&format!("schema is version {}", SCHEMA_VERSION + 98))
            && err.message.contains("newer than this plugin knows"),
        "{}",
        err.message
    );
    let err = files
        .revision_runs(&RevisionRunsRequest {
            revision: "rev".into(),
            ..RevisionRunsRequest::default()
        })
        .unwrap_err();
    assert!(
        err.message.contains("newer than this plugin knows"),
        "{}",
        err.message
    );
    let runs: i64 = db
        .query_row("SELECT count(*) FROM runs", [], |r| r.get(0))
        .unwrap();
    let keys: Vec<String> = db
        .prepare("SELECT key FROM runs")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!((runs, keys), (1, vec!["first".to_owned()]));
}

/// Two ingests at once, each with its own connection, as two processes would have.
#[test]
fn concurrent_stores_of_one_key_keep_one_copy() {
    let dir = tempfile::tempdir().unwrap();
    // The database does not exist yet: both also race to create it.
    let dir = Arc::new(dir.path().join("fresh"));
    for round in 0..5 {
        let barrier = Arc::new(Barrier::new(2));
        let run = sample_run(&format!("same-{round}"), "rev", None);
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (dir, barrier, run) = (dir.clone(), barrier.clone(), run.clone());
                std::thread::spawn(move || {
                    let files = backend(&dir, None);
                    barrier.wait();
                    files.store_run(&StoreRunRequest { run })
                })
            })
            .collect();
        let results: Vec<StoredRun> = threads
            .into_iter()
            .map(|t| t.join().unwrap().expect("both ingests succeed"))
            .collect();
        assert_eq!(
            results.iter().filter(|r| r.stored).count(),
            1,
            "round {round}: {results:?}"
        );
    }
    let files = backend(&dir, None);
    assert_eq!(counts(&files), vec![5, 10, 25]);
}

#[test]
fn concurrent_ingests_of_different_runs_both_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let dir = Arc::new(dir.path().to_path_buf());
    let barrier = Arc::new(Barrier::new(2));
    let threads: Vec<_> = (0..2)
        .map(|t| {
            let (dir, barrier) = (dir.clone(), barrier.clone());
            std::thread::spawn(move || {
                let files = backend(&dir, None);
                barrier.wait();
                for i in 0..20 {
                    let run = sample_run(&format!("t{t}-{i}"), "rev", None);
                    assert!(files.store_run(&StoreRunRequest { run }).unwrap().stored);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(all_runs(&backend(&dir, None), "rev", None).0.len(), 40);
}

/// The environment variable that makes this test binary the child that ingests and is
/// killed.
const CHILD_DIR: &str = "FLAKEWATCH_TEST_RESULTS_CHILD_DIR";

/// Runs this test in a child process with the crash point `at`; returns whether the child
/// was killed.
fn ingest_in_child(test: &str, dir: &Path, at: u64) -> bool {
    let status = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir)
        .env(CRASH_AT_ENV, at.to_string())
        .status()
        .unwrap();
    !status.success()
}

/// A killed ingest leaves nothing of its run: crash point 1 is in the middle of the run's
/// rows (half the tests written, nothing committed), 2 is right after the commit.
#[test]
fn a_killed_ingest_leaves_nothing_partial() {
    let run = sample_run("killed", "rev", None);
    if let Some(dir) = std::env::var_os(CHILD_DIR) {
        // The child: the backend reads the crash point from the environment.
        let files = backend(Path::new(&dir), None);
        let _ = files.store_run(&StoreRunRequest { run });
        return;
    }
    let name = "a_killed_ingest_leaves_nothing_partial";
    let root = tempfile::tempdir().unwrap();
    let mid = root.path().join("mid");
    assert!(ingest_in_child(name, &mid, 1), "the child was not killed");
    assert!(mid.join(RESULTS_FILE).exists());
    let files = backend(&mid, None);
    assert!(all_runs(&files, "rev", None).0.is_empty());
    assert_eq!(counts(&files), vec![0, 0, 0]);
    assert!(
        store(&files, &run),
        "the run is stored again after the crash"
    );
    assert_eq!(all_runs(&files, "rev", None).0, vec![run.clone()]);

    let after = root.path().join("after");
    assert!(ingest_in_child(name, &after, 2), "the child was not killed");
    let files = backend(&after, None);
    assert_eq!(all_runs(&files, "rev", None).0, vec![run.clone()]);
    assert!(!store(&files, &run), "the committed run is there once");

    // Without a crash point the child ends normally.
    let clean = root.path().join("clean");
    assert!(!ingest_in_child(name, &clean, 0));
    assert_eq!(all_runs(&backend(&clean, None), "rev", None).0, vec![run]);
}

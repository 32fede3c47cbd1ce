//! The `postgres` backend against a real server: `FLAKEWATCH_TEST_POSTGRES_URL` names it
//! (`scripts/test` starts a throwaway one). Each test makes its own database and drops it.
#![allow(
    clippy::print_stderr,
    reason = "a test without a server says why it did not run"
)]

mod common;

use std::net::TcpListener;
use std::sync::{Arc, Barrier};

use common::{fresh, with_dbname};

use flakewatch_plugin_postgres::{PostgresBackend, SCHEMA_VERSION};
use flakewatch_plugin_sdk::kit::{assert_conforms, history_fixture, sample_run};
use flakewatch_plugin_sdk::model::{
    Config, ResultsRun, RevisionRunsRequest, StoreRunRequest, StoredRun,
};
use flakewatch_plugin_sdk::{ErrorKind, Plugin};

fn store(backend: &PostgresBackend, run: &ResultsRun) -> bool {
    backend
        .store_run(&StoreRunRequest { run: run.clone() })
        .expect("store_run")
        .stored
}

fn all_runs(
    backend: &PostgresBackend,
    revision: &str,
    suite: Option<&str>,
) -> (Vec<ResultsRun>, usize) {
    let mut runs = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        pages += 1;
        let page = backend
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

#[test]
fn passes_the_conformance_kit_with_small_pages() {
    let Some(db) = fresh() else { return };
    let report = assert_conforms::<PostgresBackend>(&db.config(Some(2)));
    for op in ["store_run", "revision_runs", "test_history"] {
        assert!(report.checked.contains(&op), "{op} not checked");
    }
}

#[test]
fn storing_a_run_twice_stores_it_once() {
    let Some(db) = fresh() else { return };
    let backend = db.backend(None);
    let run = sample_run("twice", "rev", Some("suite"));
    assert!(store(&backend, &run));
    let counts_once = db.counts();
    let runs_once = all_runs(&backend, "rev", None).0;
    let again = db.backend(None);
    assert!(!store(&again, &run));
    let mut changed = run.clone();
    changed.tests.truncate(1);
    changed.job = Some("another".into());
    assert!(!store(&again, &changed));
    // One run, two scheduled tests, five rows: 2 + 1 attempts, a test without attempts, 1.
    assert_eq!(counts_once, vec![1, 2, 5]);
    assert_eq!(db.counts(), counts_once);
    assert_eq!(all_runs(&again, "rev", None).0, runs_once);
    assert_eq!(runs_once, vec![run]);
    assert_eq!(again.schema_version().unwrap(), SCHEMA_VERSION);
}

#[test]
fn runs_come_back_field_for_field() {
    let Some(db) = fresh() else { return };
    let backend = db.backend(None);
    let full = sample_run("full", "rev", Some("suite"));
    let bare = ResultsRun {
        key: "bare".into(),
        revision: Some("rev".into()),
        ..ResultsRun::default()
    };
    let mut large = sample_run("large", "rev", Some("big"));
    large.chunk = Some(u32::MAX);
    large.tests = (0..2500)
        .map(|i| {
            let mut t = large.tests[i % 4].clone();
            t.name = format!("{} #{i}", t.name);
            t
        })
        .collect();
    for run in [&full, &bare, &large] {
        assert!(store(&backend, run));
    }
    let fresh = db.backend(None);
    let (runs, _) = all_runs(&fresh, "rev", None);
    let json = serde_json::to_string(&runs).unwrap();
    let decoded: Vec<ResultsRun> = serde_json::from_str(&json).unwrap();
    assert_eq!(decoded, vec![full.clone(), bare, large]);
    assert_eq!(all_runs(&fresh, "rev", Some("suite")).0, vec![full]);
    assert!(all_runs(&fresh, "other", None).0.is_empty());
}

#[test]
fn revision_runs_pages_in_the_order_stored() {
    let Some(db) = fresh() else { return };
    let backend = db.backend(Some(3));
    let keys: Vec<String> = (0..7).map(|i| format!("run-{}", (i * 5) % 7)).collect();
    for key in &keys {
        assert!(store(&backend, &sample_run(key, "paged", None)));
        assert!(store(
            &backend,
            &sample_run(&format!("x{key}"), "elsewhere", None)
        ));
    }
    let (runs, pages) = all_runs(&backend, "paged", None);
    assert_eq!(pages, 3);
    let got: Vec<&String> = runs.iter().map(|r| &r.key).collect();
    assert_eq!(got, keys.iter().collect::<Vec<_>>());
    let err = backend
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
    let Some(db) = fresh() else { return };
    let backend = db.backend(None);
    let (runs, expected) = history_fixture();
    for run in &runs {
        assert!(store(&backend, run));
    }
    assert_eq!(expected.len(), 5);
    for (request, want) in expected {
        assert_eq!(backend.test_history(&request).unwrap(), want, "{request:?}");
    }
}

#[test]
fn a_newer_schema_is_refused_and_nothing_is_written() {
    let Some(db) = fresh() else { return };
    assert!(store(&db.backend(None), &sample_run("first", "rev", None)));
    db.client()
        .execute(
            "INSERT INTO flakewatch_schema (version) VALUES ($1)",
            &[&(SCHEMA_VERSION + 98)],
        )
        .unwrap();
    let backend = db.backend(None);
    let err = backend
        .store_run(&StoreRunRequest {
            run: sample_run("second", "rev", None),
        })
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Failed);
    assert!(
        err.message.starts_with("postgres: store_run: ")
            && err.message.contains(&format!(
                "results schema is version {}",
                SCHEMA_VERSION + 98
            ))
            && err.message.contains("newer than this plugin knows"),
        "{}",
        err.message
    );
    assert_eq!(db.counts(), vec![1, 2, 5]);
    let keys: Vec<String> = db
        .client()
        .query("SELECT key FROM runs", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(keys, vec!["first".to_owned()]);
}

/// Two ingests at once, each with its own connection; the first connections also race to
/// migrate the empty database.
#[test]
fn concurrent_stores_of_one_key_keep_one_copy() {
    let Some(db) = fresh() else { return };
    let db = Arc::new(db);
    for round in 0..5 {
        let barrier = Arc::new(Barrier::new(2));
        let run = sample_run(&format!("same-{round}"), "rev", None);
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let (db, barrier, run) = (db.clone(), barrier.clone(), run.clone());
                std::thread::spawn(move || {
                    let backend = db.backend(None);
                    barrier.wait();
                    backend.store_run(&StoreRunRequest { run })
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
    assert_eq!(db.counts(), vec![5, 10, 25]);
}

/// A port on 127.0.0.1 that nothing listens on: the error names the backend, the operation
/// and where it tried, never the password. Needs no server.
#[test]
fn a_server_that_is_down_is_an_error_that_says_so() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let secret = "pw-Unreachable-7f3a";
    let config = Config {
        options: [(
            "url".to_owned(),
            format!("postgres://flakewatch:{secret}@127.0.0.1:{port}/results"),
        )]
        .into(),
    };
    let backend = PostgresBackend::create(&config).expect("create connects lazily");
    assert!(!format!("{backend:?}").contains(secret));
    let err = backend
        .store_run(&StoreRunRequest {
            run: sample_run("k", "r", None),
        })
        .unwrap_err();
    assert!(
        err.message.starts_with(&format!(
            "postgres: store_run: could not connect to 127.0.0.1:{port}: "
        )),
        "{}",
        err.message
    );
    assert!(!err.message.contains(secret), "{}", err.message);
    // What the system said is kept (the driver's own text leaves it out).
    assert!(
        err.message.contains("error connecting to server: ")
            && err.message.len() > "error connecting to server: ".len() + 40,
        "{}",
        err.message
    );
    let err = backend
        .test_history(&flakewatch_plugin_sdk::model::TestHistoryRequest {
            job: "j".into(),
            max_runs: 1,
            max_days: 1,
            now: "2025-01-01T00:00:00Z".into(),
        })
        .unwrap_err();
    assert!(
        err.message
            .starts_with("postgres: test_history: could not connect to"),
        "{}",
        err.message
    );
}

/// A wrong password: the server refuses, and neither the wrong password nor the right one
/// shows in the message.
#[test]
fn a_wrong_password_is_not_in_the_error() {
    let Some(db) = fresh() else { return };
    let wrong = "Wrong-Secret-91c2";
    let right = password_of(&db.url);
    let Some(authority_end) = db.url.rfind('@') else {
        eprintln!("skipped: the test server URL has no user part to put a password in");
        return;
    };
    let scheme_end = db.url.find("://").map_or(0, |i| i + 3);
    let user = db.url[scheme_end..authority_end]
        .split(':')
        .next()
        .unwrap_or("");
    let url = format!(
        "{}{user}:{wrong}{}",
        &db.url[..scheme_end],
        &db.url[authority_end..]
    );
    let backend = PostgresBackend::create(&Config {
        options: [("url".to_owned(), url)].into(),
    })
    .unwrap();
    match backend.store_run(&StoreRunRequest {
        run: sample_run("k", "r", None),
    }) {
        Ok(_) => eprintln!(
            "note: the test server accepts any password (trust authentication); scripts/test \
             starts one that does not"
        ),
        Err(err) => {
            assert!(
                err.message
                    .starts_with("postgres: store_run: could not connect to "),
                "{}",
                err.message
            );
            assert!(!err.message.contains(wrong), "{}", err.message);
            assert!(
                err.message.contains("password authentication failed"),
                "{}",
                err.message
            );
            if let Some(password) = right {
                assert!(!err.message.contains(&password), "{}", err.message);
            }
        }
    }
}

/// The password of a URL, as the driver reads it.
fn password_of(url: &str) -> Option<String> {
    let config: postgres::Config = url.parse().ok()?;
    config
        .get_password()
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .filter(|p| !p.is_empty())
}

#[test]
fn with_dbname_replaces_the_database() {
    assert_eq!(
        with_dbname("postgres://u:p@127.0.0.1:5/postgres", "x"),
        "postgres://u:p@127.0.0.1:5/x"
    );
    assert_eq!(
        with_dbname("postgres://u@h:5/postgres?sslmode=disable", "x"),
        "postgres://u@h:5/x?sslmode=disable"
    );
    assert_eq!(with_dbname("postgres://u@h:5", "x"), "postgres://u@h:5/x");
}

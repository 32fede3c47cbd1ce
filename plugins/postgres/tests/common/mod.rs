//! The test server and a database of its own per test, shared by the PostgreSQL tests.
#![allow(
    clippy::print_stderr,
    dead_code,
    reason = "a test without a server says why it did not run; each test file uses a part"
)]

use std::sync::atomic::{AtomicU64, Ordering};

use flakewatch_plugin_postgres::PostgresBackend;
use flakewatch_plugin_sdk::Plugin;
use flakewatch_plugin_sdk::model::Config;

/// The variable naming the test server.
pub(crate) const SERVER_ENV: &str = "FLAKEWATCH_TEST_POSTGRES_URL";

/// The test server's URL; `None` (after saying so) when none is configured outside CI.
pub(crate) fn server() -> Option<String> {
    match std::env::var(SERVER_ENV) {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "{SERVER_ENV} is not set: PostgreSQL was not started (CI must run the tests \
                 through scripts/test, which starts one)"
            );
            eprintln!(
                "skipped: no PostgreSQL server is configured ({SERVER_ENV} is unset); run \
                 scripts/test to run the tests against a throwaway server"
            );
            None
        }
    }
}

/// `url` with its database name replaced.
pub(crate) fn with_dbname(url: &str, db: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, format!("?{query}")),
        None => (url, String::new()),
    };
    let after_scheme = base.find("://").map_or(0, |i| i + 3);
    let path = base[after_scheme..]
        .find('/')
        .map_or(base.len(), |i| after_scheme + i);
    format!("{}/{db}{query}", &base[..path])
}

/// A database of its own for one test, dropped at the end.
pub(crate) struct TestDb {
    admin: String,
    name: String,
    /// The URL of the test's database.
    pub(crate) url: String,
}

impl TestDb {
    pub(crate) fn new(admin: String) -> TestDb {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!(
            "flakewatch_test_{}_{}_{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        );
        let mut client = postgres::Client::connect(&admin, postgres::NoTls).expect("connect");
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .expect("create database");
        let url = with_dbname(&admin, &name);
        TestDb { admin, name, url }
    }

    pub(crate) fn backend(&self, page_runs: Option<usize>) -> PostgresBackend {
        PostgresBackend::create(&self.config(page_runs)).expect("create")
    }

    pub(crate) fn config(&self, page_runs: Option<usize>) -> Config {
        let mut options = vec![("url".to_owned(), self.url.clone())];
        if let Some(n) = page_runs {
            options.push(("page_runs".to_owned(), n.to_string()));
        }
        Config {
            options: options.into_iter().collect(),
        }
    }

    pub(crate) fn client(&self) -> postgres::Client {
        postgres::Client::connect(&self.url, postgres::NoTls).expect("connect")
    }

    /// Rows in runs, scheduled_tests, test_results.
    pub(crate) fn counts(&self) -> Vec<i64> {
        let mut client = self.client();
        ["runs", "scheduled_tests", "test_results"]
            .iter()
            .map(|t| {
                client
                    .query_one(&format!("SELECT count(*) FROM {t}"), &[])
                    .unwrap()
                    .get(0)
            })
            .collect()
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

/// A fresh database, or `None` when there is no server (outside CI).
pub(crate) fn fresh() -> Option<TestDb> {
    server().map(TestDb::new)
}

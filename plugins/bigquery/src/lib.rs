//! The `bigquery` backend: flakewatch's test-results store (capability `test_results`), a
//! failure source (capability `failure_source`, builds read from tables) and the
//! job-run-aggregator's tables (capability `aggregator_tables`, [`tables`]) over BigQuery's
//! REST API v2. See `docs/bigquery.md`.
//!
//! | option | meaning |
//! |---|---|
//! | `project` | the Google Cloud project (required) |
//! | `dataset` | the dataset of the tables (default `flakewatch`); created with them on the first `store_run` |
//! | `api` | base URL (default `https://bigquery.googleapis.com`; an emulator's URL) |
//! | `location` | where the dataset is created and jobs run (`US`, `EU`, `europe-west1`, …) |
//! | `token` | an OAuth access token (else `FLAKEWATCH_BIGQUERY_TOKEN`); `--opt-env bigquery:token=VAR` |
//! | `key-file` | a service-account JSON key: tokens are obtained with a signed JWT and renewed |
//! | `max-wait` | seconds one request may take in all, retries included (60) |
//! | `retry-base-ms` | the first retry backoff in milliseconds, doubling to at most 8 s (250) |
//! | `timeout` | seconds one HTTP attempt may take (60) |
//! | `query-timeout` | seconds a query job is waited for (600) |
//! | `max-results` | rows per result page asked of BigQuery (default: BigQuery's choice) |
//! | `page-runs` | runs per `revision_runs` page (100) |
//! | `page-builds` | builds per `list_builds` page (500) |
//! | `page-rows` | rows per `read_rows` page of the aggregator tables (1000) |
//! | `load-rows` | rows from which an aggregator-table insert is a load job instead of `insertAll` (500) |
//!
//! Credentials are never printed: not in messages, not in `Debug` output.

pub mod auth;
pub mod builds;
pub mod client;
pub mod results;
pub mod schema;
pub mod secret;
pub mod tables;
pub mod value;

use std::path::Path;
use std::time::Duration;

use flakewatch_plugin_sdk::model::{
    BuildPage, Capability, Config, ListBuildsRequest, PluginInfo, RevisionRunsRequest, RunPage,
    StoreRunRequest, StoredRun, TestHistory, TestHistoryRequest,
};
use flakewatch_plugin_sdk::model::{
    InsertRowsRequest, InsertedRows, ReadRowsRequest, RowPage, UploadWindow, UploadWindowRequest,
};
use flakewatch_plugin_sdk::{Plugin, PluginError, export_plugin};

use auth::{Credentials, ServiceAccount};
use client::{Client, Error, Policy};
use results::{Store, StoreError};
use secret::Secret;

/// The environment variable an access token is read from when no option gives one.
pub const TOKEN_ENV: &str = "FLAKEWATCH_BIGQUERY_TOKEN";

/// BigQuery's API.
pub const DEFAULT_API: &str = "https://bigquery.googleapis.com";

/// The options this plugin knows (`data` is the host's `--data`, given to every plugin).
const KNOWN_OPTIONS: &[&str] = &[
    "project",
    "dataset",
    "api",
    "location",
    "token",
    "key-file",
    "max-wait",
    "retry-base-ms",
    "timeout",
    "query-timeout",
    "max-results",
    "page-runs",
    "page-builds",
    "page-rows",
    "load-rows",
    "data",
];

/// The BigQuery backend of one dataset.
#[derive(Debug)]
pub struct BigQuery {
    store: Store,
    page_builds: usize,
    tables: tables::Tables,
}

fn bad(message: impl std::fmt::Display) -> PluginError {
    PluginError::bad_request(format!("bigquery plugin: {message}"))
}

fn seconds(config: &Config, key: &str, default: f64) -> Result<Duration, PluginError> {
    match config.get(key) {
        None => Ok(Duration::from_secs_f64(default)),
        Some(text) => text
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s >= 0.0 && *s < 1e9)
            .map(Duration::from_secs_f64)
            .ok_or_else(|| bad(format!("option {key}: {text:?} is not a number of seconds"))),
    }
}

fn count(config: &Config, key: &str) -> Result<Option<u32>, PluginError> {
    config
        .get(key)
        .map(|text| {
            text.trim()
                .parse::<u32>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| bad(format!("option {key}: {text:?} is not a positive number")))
        })
        .transpose()
}

/// Whether `project` is a Google Cloud project id (`my-project`, `example.com:my-project`).
fn valid_project(project: &str) -> bool {
    !project.is_empty()
        && project.len() <= 128
        && project
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-.:".contains(&b))
}

/// Whether `dataset` is a BigQuery dataset id (letters, digits, underscores).
fn valid_dataset(dataset: &str) -> bool {
    !dataset.is_empty()
        && dataset.len() <= 1024
        && dataset
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Whether a URL's host is the loopback interface (no proxy is used for it).
fn is_loopback(api: &str) -> bool {
    let rest = api.split_once("://").map_or(api, |(_, rest)| rest);
    let host = rest.split(['/', '?']).next().unwrap_or("");
    let host = match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    matches!(host, "127.0.0.1" | "localhost" | "[::1]")
}

impl BigQuery {
    /// An instance from its options, reading the environment through `env` (the token's
    /// variable).
    pub fn from_config(
        config: &Config,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<BigQuery, PluginError> {
        if let Some(unknown) = config
            .options
            .keys()
            .find(|k| !KNOWN_OPTIONS.contains(&k.as_str()))
        {
            return Err(bad(format!(
                "unknown option {unknown:?} (it knows {})",
                KNOWN_OPTIONS[..KNOWN_OPTIONS.len() - 1].join(", ")
            )));
        }
        let project = config
            .get("project")
            .ok_or_else(|| bad("the project is needed: --opt bigquery:project=PROJECT"))?;
        if !valid_project(project) {
            return Err(bad(format!(
                "option project: {project:?} is not a project id"
            )));
        }
        let dataset = config.get("dataset").unwrap_or("flakewatch");
        if !valid_dataset(dataset) {
            return Err(bad(format!(
                "option dataset: {dataset:?} is not a dataset id (letters, digits, _)"
            )));
        }
        let api = config
            .get("api")
            .unwrap_or(DEFAULT_API)
            .trim_end_matches('/');
        if !(api.starts_with("https://") || api.starts_with("http://")) {
            return Err(bad(format!("option api: {api:?} is not an http(s) URL")));
        }
        let location = config
            .get("location")
            .filter(|l| !l.is_empty())
            .map(str::to_owned);
        let credentials = match (config.get("token"), config.get("key-file")) {
            (Some(_), Some(_)) => {
                return Err(bad("options token and key-file: give one of them"));
            }
            (Some(text), None) => Credentials::Token(
                Secret::new(text).ok_or_else(|| bad("option token: the token is empty"))?,
            ),
            (None, Some(path)) => Credentials::ServiceAccount(Box::new(
                ServiceAccount::from_file(Path::new(path))
                    .map_err(|why| bad(format!("option {why}")))?,
            )),
            (None, None) => match env(TOKEN_ENV).and_then(|t| Secret::new(&t)) {
                Some(token) => Credentials::Token(token),
                None if api == DEFAULT_API => {
                    return Err(bad(format!(
                        "no credentials: give an access token ({TOKEN_ENV}, or --opt-env bigquery:token=VAR) or a service-account key (--opt bigquery:key-file=FILE)"
                    )));
                }
                // An emulator takes requests without credentials.
                None => Credentials::None,
            },
        };
        let policy = Policy {
            max_wait: seconds(config, "max-wait", 60.0)?,
            retry_base: match config.get("retry-base-ms") {
                None => Duration::from_millis(250),
                Some(text) => {
                    Duration::from_millis(text.trim().parse::<u64>().map_err(|_| {
                        bad(format!("option retry-base-ms: {text:?} is not a number"))
                    })?)
                }
            },
            retry_cap: Duration::from_secs(8),
            timeout: seconds(config, "timeout", 60.0)?,
            query_timeout: seconds(config, "query-timeout", 600.0)?,
        };
        let client = Client::new(
            api,
            project,
            location,
            credentials,
            policy,
            is_loopback(api),
        );
        let page_runs = count(config, "page-runs")?.unwrap_or(100) as usize;
        let max_results = count(config, "max-results")?;
        let page_builds = count(config, "page-builds")?.unwrap_or(500) as usize;
        let page_rows = count(config, "page-rows")?.unwrap_or(1000) as usize;
        let load_rows = count(config, "load-rows")?.unwrap_or(500) as usize;
        Ok(BigQuery {
            store: Store::new(client, dataset.to_owned(), page_runs, max_results),
            page_builds,
            tables: tables::Tables::new(load_rows, page_rows),
        })
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }
}

/// A store error as the plugin's error: the plugin and the operation named, no credential.
fn plugin_error(op: &str, e: StoreError) -> PluginError {
    match e {
        StoreError::BadRequest(m) => bad(format!("{op}: {m}")),
        StoreError::Client(e) => {
            let kind = match &e {
                Error::Auth(_) => "authentication failed: ",
                _ => "",
            };
            PluginError::failed(format!("bigquery plugin: {op}: {kind}{e}"))
        }
    }
}

impl Plugin for BigQuery {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "bigquery".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            description:
                "test results and their history, and build failures, in BigQuery (REST API v2)"
                    .to_owned(),
            capabilities: vec![
                Capability::TestResults,
                Capability::FailureSource,
                Capability::AggregatorTables,
            ],
            ..PluginInfo::default()
        }
    }

    fn create(config: &Config) -> Result<Self, PluginError> {
        BigQuery::from_config(config, |name| std::env::var(name).ok())
    }

    fn list_builds(&self, request: &ListBuildsRequest) -> Result<BuildPage, PluginError> {
        self.store
            .list_builds(request, self.page_builds)
            .map_err(|e| plugin_error("list_builds", e))
    }

    fn store_run(&self, request: &StoreRunRequest) -> Result<StoredRun, PluginError> {
        self.store
            .store_run(request)
            .map_err(|e| plugin_error("store_run", e))
    }

    fn revision_runs(&self, request: &RevisionRunsRequest) -> Result<RunPage, PluginError> {
        self.store
            .revision_runs(request)
            .map_err(|e| plugin_error("revision_runs", e))
    }

    fn test_history(&self, request: &TestHistoryRequest) -> Result<TestHistory, PluginError> {
        self.store
            .test_history(request)
            .map_err(|e| plugin_error("test_history", e))
    }

    fn insert_rows(&self, request: &InsertRowsRequest) -> Result<InsertedRows, PluginError> {
        self.tables
            .insert_rows(&self.store, request)
            .map_err(|e| plugin_error("insert_rows", e))
    }

    fn upload_window(&self, request: &UploadWindowRequest) -> Result<UploadWindow, PluginError> {
        self.tables
            .upload_window(&self.store, request)
            .map_err(|e| plugin_error("upload_window", e))
    }

    fn read_rows(&self, request: &ReadRowsRequest) -> Result<RowPage, PluginError> {
        self.tables
            .read_rows(&self.store, request)
            .map_err(|e| plugin_error("read_rows", e))
    }
}

export_plugin!(BigQuery);

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> Config {
        Config {
            options: pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        }
    }

    #[test]
    fn options_are_checked() {
        let none = |_: &str| None;
        let err = BigQuery::from_config(&config(&[]), none).expect_err("no project");
        assert!(err.message.contains("project"), "{err}");
        let err = BigQuery::from_config(&config(&[("project", "p"), ("dataset", "a-b")]), none)
            .expect_err("bad dataset");
        assert!(err.message.contains("dataset"), "{err}");
        let err = BigQuery::from_config(&config(&[("project", "p"), ("nope", "1")]), none)
            .expect_err("unknown");
        assert!(err.message.contains("unknown option"), "{err}");
        let err = BigQuery::from_config(&config(&[("project", "p")]), none)
            .expect_err("no credentials for the real service");
        assert!(err.message.contains("no credentials"), "{err}");
        let ok = BigQuery::from_config(&config(&[("project", "p")]), |name| {
            (name == TOKEN_ENV).then(|| "ya29.from-the-environment".to_owned())
        })
        .expect("token from the environment");
        assert!(!format!("{ok:?}").contains("ya29"), "{ok:?}");
        assert!(is_loopback("http://127.0.0.1:9050"));
        assert!(is_loopback("http://localhost/x"));
        assert!(!is_loopback("https://bigquery.googleapis.com"));
    }
}

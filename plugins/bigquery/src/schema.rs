//! The tables this plugin writes: the logical schema of the files backend's SQLite store
//! (`plugins/files/src/results.rs`, `docs/storage.md`) in BigQuery types, keyed by the run's
//! key instead of a row id (BigQuery has no sequences and no unique keys).
//!
//! | table | one row per | columns |
//! |---|---|---|
//! | `runs` | run | `key`, `job`, `revision`, `suite`, `chunk`, `chunks`, `started_at` (as written), `started` (`TIMESTAMP`, the history window), `url`, `source`, `format`, `properties` (JSON object text), `stored_at` (`TIMESTAMP`, the order stored) |
//! | `scheduled_tests` | scheduled test | `run_key`, `position`, `grp`, `test` |
//! | `test_results` | attempt (a test without attempts: one row with `NULL` attempt columns) | `run_key`, `test_position`, `attempt`, `suite_path` (JSON list text), `classname`, `name`, `status`, `failure`, `expected`, `raw_status`, `duration`, `message`, `known_intermittent` (JSON list text) |

//!
//! The failure source reads three more tables, written by `Store::load_builds` (or by
//! anything that writes the same columns):
//!
//! | table | one row per | columns |
//! |---|---|---|
//! | `builders` | builder | `name`, `repo`, `go_branch`, `goos`, `goarch` |
//! | `builds` | build | `url`, `builder`, `commit`, `go_commit`, `commit_time` (`TIMESTAMP`, the window), `build_time` (`TIMESTAMP`), `status`, `log`, `step_log` |
//! | `build_failures` | failed test of a build | `build_url`, `position`, `test_id`, `status`, `output` |

use serde_json::{Value, json};

/// The runs table.
pub const RUNS: &str = "runs";
/// The scheduled-tests table.
pub const SCHEDULED: &str = "scheduled_tests";
/// The test-results table (one row per attempt).
pub const RESULTS: &str = "test_results";
/// The builders table.
pub const BUILDERS: &str = "builders";
/// The builds table.
pub const BUILDS: &str = "builds";
/// The build-failures table (one row per failed test of a build).
pub const BUILD_FAILURES: &str = "build_failures";

fn field(name: &str, kind: &str, required: bool) -> Value {
    json!({"name": name, "type": kind, "mode": if required { "REQUIRED" } else { "NULLABLE" }})
}

/// Every table: name, schema fields, clustering columns.
pub fn tables() -> Vec<(&'static str, Value, &'static [&'static str])> {
    vec![
        (
            RUNS,
            Value::Array(vec![
                field("key", "STRING", true),
                field("job", "STRING", false),
                field("revision", "STRING", false),
                field("suite", "STRING", false),
                field("chunk", "INT64", false),
                field("chunks", "INT64", false),
                field("started_at", "STRING", false),
                field("started", "TIMESTAMP", false),
                field("url", "STRING", false),
                field("source", "STRING", true),
                field("format", "STRING", true),
                field("properties", "STRING", true),
                field("stored_at", "TIMESTAMP", true),
            ]),
            &["job", "revision", "key"],
        ),
        (
            SCHEDULED,
            Value::Array(vec![
                field("run_key", "STRING", true),
                field("position", "INT64", true),
                field("grp", "STRING", true),
                field("test", "STRING", true),
            ]),
            &["run_key"],
        ),
        (
            RESULTS,
            Value::Array(vec![
                field("run_key", "STRING", true),
                field("test_position", "INT64", true),
                field("attempt", "INT64", true),
                field("suite_path", "STRING", true),
                field("classname", "STRING", false),
                field("name", "STRING", true),
                field("status", "STRING", false),
                field("failure", "BOOL", false),
                field("expected", "BOOL", false),
                field("raw_status", "STRING", false),
                field("duration", "FLOAT64", false),
                field("message", "STRING", false),
                field("known_intermittent", "STRING", false),
            ]),
            &["run_key"],
        ),
    ]
}

/// The failure source's tables: name, schema fields, clustering columns.
pub fn build_tables() -> Vec<(&'static str, Value, &'static [&'static str])> {
    vec![
        (
            BUILDERS,
            Value::Array(vec![
                field("name", "STRING", true),
                field("repo", "STRING", true),
                field("go_branch", "STRING", true),
                field("goos", "STRING", true),
                field("goarch", "STRING", true),
            ]),
            &[],
        ),
        (
            BUILDS,
            Value::Array(vec![
                field("url", "STRING", true),
                field("builder", "STRING", true),
                field("commit", "STRING", true),
                field("go_commit", "STRING", true),
                field("commit_time", "TIMESTAMP", true),
                field("build_time", "TIMESTAMP", false),
                field("status", "STRING", true),
                field("log", "STRING", true),
                field("step_log", "STRING", true),
            ]),
            &["builder", "url"],
        ),
        (
            BUILD_FAILURES,
            Value::Array(vec![
                field("build_url", "STRING", true),
                field("position", "INT64", true),
                field("test_id", "STRING", true),
                field("status", "STRING", true),
                field("output", "STRING", true),
            ]),
            &["build_url"],
        ),
    ]
}

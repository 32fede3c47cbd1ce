//! The tables this plugin writes: the logical schema of the files backend's SQLite store
//! (`plugins/files/src/results.rs`, `docs/storage.md`) in BigQuery types, keyed by the run's
//! key instead of a row id (BigQuery has no sequences and no unique keys).
//!
//! | table | one row per | columns |
//! |---|---|---|
//! | `runs` | run | `key`, `job`, `revision`, `suite`, `chunk`, `chunks`, `started_at` (as written), `started` (`TIMESTAMP`, the history window), `url`, `source`, `format`, `properties` (JSON object text), `stored_at` (`TIMESTAMP`, the order stored) |
//! | `scheduled_tests` | scheduled test | `run_key`, `position`, `grp`, `test` |
//! | `test_results` | attempt (a test without attempts: one row with `NULL` attempt columns) | `run_key`, `test_position`, `attempt`, `suite_path` (JSON list text), `classname`, `name`, `status`, `failure`, `expected`, `raw_status`, `duration`, `message`, `known_intermittent` (JSON list text) |

use serde_json::{Value, json};

/// The runs table.
pub const RUNS: &str = "runs";
/// The scheduled-tests table.
pub const SCHEDULED: &str = "scheduled_tests";
/// The test-results table (one row per attempt).
pub const RESULTS: &str = "test_results";

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

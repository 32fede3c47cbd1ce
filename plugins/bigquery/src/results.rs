//! The `test_results` capability over BigQuery: runs written with `tabledata.insertAll`,
//! read back and summed by parameterized queries.
//!
//! **Idempotence.** `store_run` first asks whether a run with the key is stored (one
//! parameterized query) and writes nothing when it is. Otherwise it streams the scheduled
//! tests and the attempts, then the run's row last: readers find runs through the `runs`
//! table, so a run whose write was cut short is not seen, and storing it again completes it.
//! Every row has a deterministic `insertId` (a SHA-256 of the run key, the table and the
//! row's position), so BigQuery drops a retried request's rows as duplicates. BigQuery's
//! de-duplication is best effort (about a minute) and emulators do not do it, so every read
//! also keeps one copy per key (`ROW_NUMBER() OVER (PARTITION BY …) = 1`): a run stored twice
//! is read once, whatever reached the tables.
//!
//! **History** is one query computed in BigQuery, as the job-run-aggregator's
//! `TestRuns_Summary_Last200Runs` view chain does (see [`TestHistoryRequest`]).

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, Ordering};

use flakewatch_plugin_sdk::model::{
    AttemptResult, ResultsRun, RevisionRunsRequest, RunPage, ScheduledTest, StoreRunRequest,
    StoredRun, TestHistory, TestHistoryRequest, TestHistoryRow, TestResult,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::client::{Client, Error, Param, Rows};
use crate::schema::{self, RESULTS, RUNS, SCHEDULED};
use crate::value;

/// The results store in one dataset.
#[derive(Debug)]
pub struct Store {
    client: Client,
    dataset: String,
    page_runs: usize,
    max_results: Option<u32>,
    /// Whether the dataset and the results tables are known to exist.
    ready: Mutex<bool>,
    /// Whether the dataset and the failure-source tables are known to exist.
    builds_ready: Mutex<bool>,
    /// The last `stored_at` this instance wrote (µs), so that runs stored one after the
    /// other by one instance keep their order even within a clock tick.
    last_stored: AtomicI64,
}

/// Why a store operation failed: a bad request, or the client's error.
#[derive(Debug)]
pub enum StoreError {
    /// The request is invalid (an unreadable time, a bad cursor).
    BadRequest(String),
    /// BigQuery or the way to it failed.
    Client(Error),
}

impl From<Error> for StoreError {
    fn from(e: Error) -> StoreError {
        StoreError::Client(e)
    }
}

/// A deterministic `insertId`: the same row of the same run always gets the same one.
pub fn insert_id(run_key: &str, table: &str, position: u64, attempt: u64) -> String {
    let mut hash = Sha256::new();
    for part in [
        run_key.as_bytes(),
        table.as_bytes(),
        &position.to_be_bytes(),
        &attempt.to_be_bytes(),
    ] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    hash.finalize()
        .iter()
        .take(24)
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(crate) fn to_json<T: serde::Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Client(Error::BadAnswer(format!("encoding: {e}"))))
}

fn from_json<T: serde::de::DeserializeOwned>(column: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| {
        StoreError::Client(Error::BadAnswer(format!(
            "column {column}: bad JSON in a row: {e}"
        )))
    })
}

/// An RFC 3339 text in microseconds since the epoch.
pub(crate) fn micros(what: &str, text: &str) -> Result<i64, StoreError> {
    text.parse::<jiff::Timestamp>()
        .map(|t| t.as_microsecond())
        .map_err(|e| StoreError::BadRequest(format!("{what} {text:?} is not RFC 3339: {e}")))
}

/// Microseconds since the epoch as the RFC 3339 text `insertAll` takes for a `TIMESTAMP`.
pub(crate) fn timestamp_text(us: i64) -> Result<String, StoreError> {
    jiff::Timestamp::from_microsecond(us)
        .map(|t| t.to_string())
        .map_err(|e| StoreError::BadRequest(format!("time out of range: {e}")))
}

impl Store {
    /// A store in `dataset` (validated by the caller). `page_runs` is the page size of
    /// `revision_runs`; `max_results` the rows per result page asked of BigQuery.
    pub fn new(
        client: Client,
        dataset: String,
        page_runs: usize,
        max_results: Option<u32>,
    ) -> Store {
        Store {
            client,
            dataset,
            page_runs: page_runs.max(1),
            max_results,
            ready: Mutex::new(false),
            builds_ready: Mutex::new(false),
            last_stored: AtomicI64::new(0),
        }
    }

    /// The client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// A table's name for SQL: `` `project.dataset.table` `` (project and dataset are
    /// validated identifiers; everything else reaches a query as a parameter).
    pub(crate) fn table(&self, table: &str) -> String {
        format!("`{}.{}.{table}`", self.client.project(), self.dataset)
    }

    pub(crate) fn query(&self, sql: &str, params: &[Param]) -> Result<Rows, Error> {
        self.client.query(sql, params, self.max_results)
    }

    /// The dataset.
    pub fn dataset(&self) -> &str {
        &self.dataset
    }

    /// Makes sure the dataset and the results tables exist; with `create` false, only tells
    /// whether they do (reads do not create anything).
    pub fn ensure_schema(&self, create: bool) -> Result<bool, Error> {
        self.ensure_tables(schema::tables(), &self.ready, create)
    }

    /// Makes sure the dataset and the failure-source tables exist (see
    /// [`Store::ensure_schema`]).
    pub fn ensure_build_schema(&self, create: bool) -> Result<bool, Error> {
        self.ensure_tables(schema::build_tables(), &self.builds_ready, create)
    }

    fn ensure_tables(
        &self,
        tables: Vec<(&'static str, Value, &'static [&'static str])>,
        ready: &Mutex<bool>,
        create: bool,
    ) -> Result<bool, Error> {
        let mut ready = ready.lock().unwrap_or_else(|e| e.into_inner());
        if *ready {
            return Ok(true);
        }
        if !self.client.dataset_exists(&self.dataset)? {
            if !create {
                return Ok(false);
            }
            self.client.create_dataset(&self.dataset)?;
        }
        for (table, fields, clustering) in tables {
            if !self.client.table_exists(&self.dataset, table)? {
                if !create {
                    return Ok(false);
                }
                self.client
                    .create_table(&self.dataset, table, fields, clustering)?;
            }
        }
        *ready = true;
        Ok(true)
    }

    /// Whether a run with this key is stored.
    fn is_stored(&self, key: &str) -> Result<bool, Error> {
        let rows = self.query(
            &format!(
                "SELECT COUNT(*) AS n FROM {} WHERE key = @key",
                self.table(RUNS)
            ),
            &[Param::string("key", Some(key))],
        )?;
        let n = match rows.rows.first().and_then(|r| r.first()) {
            Some(cell) => value::int("n", cell)?.unwrap_or(0),
            None => 0,
        };
        Ok(n > 0)
    }

    /// A `stored_at` later than every one this instance wrote before.
    fn next_stored_at(&self) -> i64 {
        let now = jiff::Timestamp::now().as_microsecond();
        let mut last = self.last_stored.load(Ordering::SeqCst);
        loop {
            let next = now.max(last + 1);
            match self
                .last_stored
                .compare_exchange(last, next, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return next,
                Err(current) => last = current,
            }
        }
    }

    /// Stores one run unless its key is stored already.
    pub fn store_run(&self, request: &StoreRunRequest) -> Result<StoredRun, StoreError> {
        let run = &request.run;
        let started = match &run.started_at {
            Some(text) => Some(micros(&format!("run {}: started_at", run.key), text)?),
            None => None,
        };
        self.ensure_schema(true)?;
        if self.is_stored(&run.key)? {
            return Ok(StoredRun { stored: false });
        }
        let key = run.key.as_str();
        let scheduled: Vec<(String, Value)> = run
            .scheduled
            .iter()
            .enumerate()
            .map(|(position, s)| {
                (
                    insert_id(key, SCHEDULED, position as u64, 0),
                    json!({"run_key": key, "position": position, "grp": s.group, "test": s.test}),
                )
            })
            .collect();
        let mut results = Vec::new();
        for (position, test) in run.tests.iter().enumerate() {
            let suite_path = to_json(&test.suite)?;
            if test.attempts.is_empty() {
                results.push((
                    insert_id(key, RESULTS, position as u64, 0),
                    json!({
                        "run_key": key, "test_position": position, "attempt": 0,
                        "suite_path": suite_path, "classname": test.classname, "name": test.name,
                    }),
                ));
            }
            for (index, a) in test.attempts.iter().enumerate() {
                results.push((
                    insert_id(key, RESULTS, position as u64, index as u64),
                    json!({
                        "run_key": key, "test_position": position, "attempt": index,
                        "suite_path": suite_path, "classname": test.classname, "name": test.name,
                        "status": a.status, "failure": a.failure, "expected": a.expected,
                        "raw_status": a.raw_status, "duration": a.duration, "message": a.message,
                        "known_intermittent": to_json(&a.known_intermittent)?,
                    }),
                ));
            }
        }
        let run_row = json!({
            "key": key,
            "job": run.job,
            "revision": run.revision,
            "suite": run.suite,
            "chunk": run.chunk,
            "chunks": run.chunks,
            "started_at": run.started_at,
            "started": started.map(timestamp_text).transpose()?,
            "url": run.url,
            "source": run.source,
            "format": run.format,
            "properties": to_json(&run.properties)?,
            "stored_at": timestamp_text(self.next_stored_at())?,
        });
        // The run's row last: until it is written, no read sees the run.
        self.client
            .insert_all(&self.dataset, SCHEDULED, &scheduled)?;
        self.client.insert_all(&self.dataset, RESULTS, &results)?;
        self.client.insert_all(
            &self.dataset,
            RUNS,
            &[(insert_id(key, RUNS, 0, 0), run_row)],
        )?;
        Ok(StoredRun { stored: true })
    }

    /// One page of a revision's runs, in the order stored (`stored_at`, then key).
    pub fn revision_runs(&self, request: &RevisionRunsRequest) -> Result<RunPage, StoreError> {
        let after = match &request.cursor {
            None => None,
            Some(cursor) => {
                let (us, key) = cursor
                    .split_once(':')
                    .and_then(|(us, key)| Some((us.parse::<i64>().ok()?, key)))
                    .ok_or_else(|| StoreError::BadRequest(format!("bad cursor {cursor:?}")))?;
                Some((us, key.to_owned()))
            }
        };
        if !self.ensure_schema(false)? {
            return Ok(RunPage::default());
        }
        let rows = self.query(
            &format!(
                "WITH r AS (
                   SELECT *, ROW_NUMBER() OVER (PARTITION BY key ORDER BY stored_at) AS copy
                   FROM {runs}
                   WHERE revision = @revision AND (@suite IS NULL OR suite = @suite)
                 )
                 , after_cursor AS (
                   SELECT key, job, revision, suite, chunk, chunks, started_at, url, source,
                          format, properties, stored_at,
                          ROW_NUMBER() OVER (ORDER BY stored_at, key) AS n
                   FROM r
                   WHERE copy = 1
                     AND (@after_us IS NULL
                          OR stored_at > TIMESTAMP_MICROS(@after_us)
                          OR (stored_at = TIMESTAMP_MICROS(@after_us) AND key > @after_key))
                 )
                 SELECT key, job, revision, suite, chunk, chunks, started_at, url, source, format,
                        properties, stored_at
                 FROM after_cursor
                 WHERE n <= @page
                 ORDER BY n",
                runs = self.table(RUNS)
            ),
            &[
                Param::string("revision", Some(&request.revision)),
                Param::string("suite", request.suite.as_deref()),
                Param::int("after_us", after.as_ref().map(|(us, _)| *us)),
                Param::string("after_key", after.as_ref().map(|(_, key)| key.as_str())),
                Param::int("page", Some(self.page_runs as i64 + 1)),
            ],
        )?;
        let mut runs: Vec<(i64, ResultsRun)> = Vec::new();
        let c = |name: &str| rows.column(name);
        let (ck, cj, cr, cs, cc, ccs, csa, cu, cso, cf, cp, cst) = (
            c("key")?,
            c("job")?,
            c("revision")?,
            c("suite")?,
            c("chunk")?,
            c("chunks")?,
            c("started_at")?,
            c("url")?,
            c("source")?,
            c("format")?,
            c("properties")?,
            c("stored_at")?,
        );
        let small = |column: &str, v: &Value| -> Result<Option<u32>, StoreError> {
            value::int(column, v)?
                .map(|n| {
                    u32::try_from(n).map_err(|_| {
                        StoreError::Client(Error::BadAnswer(format!("column {column}: {n}")))
                    })
                })
                .transpose()
        };
        for row in &rows.rows {
            let stored_at = value::timestamp_micros("stored_at", &row[cst])?.ok_or_else(|| {
                StoreError::Client(Error::BadAnswer("a run without stored_at".to_owned()))
            })?;
            runs.push((
                stored_at,
                ResultsRun {
                    key: value::required_string("key", &row[ck])?,
                    job: value::string("job", &row[cj])?,
                    revision: value::string("revision", &row[cr])?,
                    suite: value::string("suite", &row[cs])?,
                    chunk: small("chunk", &row[cc])?,
                    chunks: small("chunks", &row[ccs])?,
                    started_at: value::string("started_at", &row[csa])?,
                    url: value::string("url", &row[cu])?,
                    source: value::required_string("source", &row[cso])?,
                    format: value::required_string("format", &row[cf])?,
                    properties: from_json(
                        "properties",
                        &value::required_string("properties", &row[cp])?,
                    )?,
                    scheduled: Vec::new(),
                    tests: Vec::new(),
                },
            ));
        }
        let next_cursor = if runs.len() > self.page_runs {
            runs.truncate(self.page_runs);
            runs.last().map(|(us, run)| format!("{us}:{}", run.key))
        } else {
            None
        };
        if runs.is_empty() {
            return Ok(RunPage {
                runs: Vec::new(),
                next_cursor,
            });
        }
        let keys: Vec<&str> = runs.iter().map(|(_, r)| r.key.as_str()).collect();
        let index = |key: &str| runs.iter().position(|(_, r)| r.key == key);
        let scheduled = self.query(
            &format!(
                "SELECT run_key, position, grp, test FROM {}
                 WHERE run_key IN UNNEST(@keys)
                 QUALIFY ROW_NUMBER() OVER (PARTITION BY run_key, position) = 1
                 ORDER BY run_key, position",
                self.table(SCHEDULED)
            ),
            &[Param::strings("keys", &keys)],
        )?;
        let results = self.query(
            &format!(
                "SELECT run_key, test_position, attempt, suite_path, classname, name, status,
                        failure, expected, raw_status, duration, message, known_intermittent
                 FROM {}
                 WHERE run_key IN UNNEST(@keys)
                 QUALIFY ROW_NUMBER() OVER (PARTITION BY run_key, test_position, attempt) = 1
                 ORDER BY run_key, test_position, attempt",
                self.table(RESULTS)
            ),
            &[Param::strings("keys", &keys)],
        )?;
        let mut filled: Vec<Vec<ScheduledTest>> = vec![Vec::new(); runs.len()];
        for row in &scheduled.rows {
            let key = value::required_string("run_key", &row[0])?;
            if let Some(i) = index(&key) {
                filled[i].push(ScheduledTest {
                    group: value::required_string("grp", &row[2])?,
                    test: value::required_string("test", &row[3])?,
                });
            }
        }
        let mut tests: Vec<Vec<TestResult>> = vec![Vec::new(); runs.len()];
        let mut last: Option<(usize, i64)> = None;
        for row in &results.rows {
            let key = value::required_string("run_key", &row[0])?;
            let Some(i) = index(&key) else { continue };
            let position = value::int("test_position", &row[1])?.unwrap_or(0);
            if last != Some((i, position)) {
                last = Some((i, position));
                tests[i].push(TestResult {
                    suite: from_json(
                        "suite_path",
                        &value::required_string("suite_path", &row[3])?,
                    )?,
                    classname: value::string("classname", &row[4])?,
                    name: value::required_string("name", &row[5])?,
                    attempts: Vec::new(),
                });
            }
            let Some(status) = value::string("status", &row[6])? else {
                continue;
            };
            let attempt = AttemptResult {
                status,
                failure: value::boolean("failure", &row[7])?.unwrap_or(false),
                expected: value::boolean("expected", &row[8])?.unwrap_or(true),
                raw_status: value::string("raw_status", &row[9])?,
                duration: value::float("duration", &row[10])?,
                message: value::string("message", &row[11])?,
                known_intermittent: match value::string("known_intermittent", &row[12])? {
                    Some(text) => from_json("known_intermittent", &text)?,
                    None => Vec::new(),
                },
            };
            if let Some(test) = tests[i].last_mut() {
                test.attempts.push(attempt);
            }
        }
        let runs = runs
            .into_iter()
            .zip(filled)
            .zip(tests)
            .map(|(((_, mut run), scheduled), tests)| {
                run.scheduled = scheduled;
                run.tests = tests;
                run
            })
            .collect();
        Ok(RunPage { runs, next_cursor })
    }

    /// A job's per-test history, computed in BigQuery by one query.
    pub fn test_history(&self, request: &TestHistoryRequest) -> Result<TestHistory, StoreError> {
        let now = micros("now", &request.now)?;
        // Whole seconds `max_days` days before now's second, to now (as the files backend).
        let from = (now.div_euclid(1_000_000) - i64::from(request.max_days) * 86_400) * 1_000_000;
        if !self.ensure_schema(false)? {
            return Ok(TestHistory::default());
        }
        let rows = self.query(
            &format!(
                "WITH runs_once AS (
                   SELECT key, started,
                          ROW_NUMBER() OVER (PARTITION BY key ORDER BY stored_at) AS copy
                   FROM {runs}
                   WHERE job = @job AND started IS NOT NULL
                     AND started >= TIMESTAMP_MICROS(@from_us)
                     AND started <= TIMESTAMP_MICROS(@to_us)
                 ),
                 window_runs AS (
                   SELECT key FROM (
                     SELECT key, ROW_NUMBER() OVER (ORDER BY started DESC, key DESC) AS n
                     FROM runs_once WHERE copy = 1
                   ) WHERE n <= @max_runs
                 ),
                 results_once AS (
                   SELECT run_key, suite_path, name, status, failure
                   FROM {results}
                   WHERE run_key IN (SELECT key FROM window_runs) AND status IS NOT NULL
                   QUALIFY ROW_NUMBER() OVER (PARTITION BY run_key, test_position, attempt) = 1
                 ),
                 per_run AS (
                   SELECT run_key, suite_path, name,
                          LOGICAL_OR(status <> 'skip' AND NOT failure) AS passed,
                          LOGICAL_OR(failure) AS failed
                   FROM results_once
                   GROUP BY run_key, suite_path, name
                 ),
                 per_test AS (
                   SELECT suite_path, name,
                          COUNTIF(passed AND NOT failed) AS pass_count,
                          COUNTIF(failed AND NOT passed) AS fail_count,
                          COUNTIF(passed AND failed) AS flake_count
                   FROM per_run
                   WHERE passed OR failed
                   GROUP BY suite_path, name
                 )
                 SELECT c.runs, t.suite_path, t.name, t.pass_count, t.fail_count, t.flake_count
                 FROM (SELECT COUNT(*) AS runs FROM window_runs) AS c
                 LEFT JOIN per_test AS t ON TRUE
                 ORDER BY t.suite_path, t.name",
                runs = self.table(RUNS),
                results = self.table(RESULTS)
            ),
            &[
                Param::string("job", Some(&request.job)),
                Param::int("from_us", Some(from)),
                Param::int("to_us", Some(now)),
                Param::int("max_runs", Some(i64::from(request.max_runs))),
            ],
        )?;
        let count = |column: &str, v: &Value| -> Result<u64, StoreError> {
            Ok(value::int(column, v)?.unwrap_or(0).max(0) as u64)
        };
        let mut history = TestHistory::default();
        for row in &rows.rows {
            history.runs = count("runs", &row[0])?;
            let Some(suite_path) = value::string("suite_path", &row[1])? else {
                continue;
            };
            history.rows.push(TestHistoryRow {
                suite: from_json("suite_path", &suite_path)?,
                name: value::required_string("name", &row[2])?,
                pass_count: count("pass_count", &row[3])?,
                fail_count: count("fail_count", &row[4])?,
                flake_count: count("flake_count", &row[5])?,
            });
        }
        history
            .rows
            .sort_by(|a, b| (&a.suite, &a.name).cmp(&(&b.suite, &b.name)));
        Ok(history)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_ids_are_deterministic_and_distinct() {
        let a = insert_id("run-1", RESULTS, 3, 0);
        assert_eq!(a, insert_id("run-1", RESULTS, 3, 0));
        assert_eq!(a.len(), 48);
        assert_ne!(a, insert_id("run-1", RESULTS, 3, 1));
        assert_ne!(a, insert_id("run-1", SCHEDULED, 3, 0));
        assert_ne!(a, insert_id("run-2", RESULTS, 3, 0));
        // Length-prefixed parts: moving a byte between key and table changes the id.
        assert_ne!(insert_id("ab", "c", 0, 0), insert_id("a", "bc", 0, 0));
    }
}

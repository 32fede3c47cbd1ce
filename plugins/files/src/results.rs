//! The files backend's test-results store: one SQLite database, `results.sqlite`, in the data
//! directory (capability `test_results`). The schema is the one `docs/storage.md` explains,
//! shared with the `postgres` plugin.
//!
//! A run is written in one `BEGIN IMMEDIATE` transaction (the write lock is taken first, so two
//! concurrent ingests queue behind the busy timeout instead of failing on a lock upgrade);
//! the run row goes first with `ON CONFLICT (key) DO NOTHING`, and when it was there already
//! nothing else is written. The database is in WAL mode with `synchronous = FULL`: a run is
//! durable once `store_run` returns. A crash before the commit leaves nothing of the run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use flakewatch_plugin_sdk::PluginError;
use flakewatch_plugin_sdk::model::{
    AttemptResult, ResultsRun, RevisionRunsRequest, RunPage, ScheduledTest, StoreRunRequest,
    StoredRun, TestHistory, TestHistoryRequest, TestHistoryRow, TestResult,
};
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, params};

use crate::sqlite::failed;
use crate::store::crash_point;

/// The database file in the data directory.
pub const RESULTS_FILE: &str = "results.sqlite";

/// The schema version this plugin writes and reads. A database with a newer version is
/// refused before anything is written.
pub const SCHEMA_VERSION: i64 = 1;

/// Runs per `revision_runs` page unless the option `page_runs` says otherwise.
pub const DEFAULT_PAGE_RUNS: usize = 100;

/// The migrations, in order: entry `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // Version 1: runs, scheduled tests, one row per attempt.
    "CREATE TABLE runs (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        key         TEXT NOT NULL UNIQUE,
        job         TEXT,
        revision    TEXT,
        suite       TEXT,
        chunk       INTEGER,
        chunks      INTEGER,
        started_at  TEXT,
        started_us  INTEGER,
        url         TEXT,
        source      TEXT NOT NULL,
        format      TEXT NOT NULL,
        properties  TEXT NOT NULL
    );
    CREATE INDEX runs_revision_suite ON runs (revision, suite, id);
    CREATE INDEX runs_job_started ON runs (job, started_us);
    CREATE TABLE scheduled_tests (
        run_id      INTEGER NOT NULL,
        position    INTEGER NOT NULL,
        grp         TEXT NOT NULL,
        test        TEXT NOT NULL,
        PRIMARY KEY (run_id, position)
    );
    CREATE TABLE test_results (
        run_id             INTEGER NOT NULL,
        test_position      INTEGER NOT NULL,
        attempt            INTEGER NOT NULL,
        suite_path         TEXT NOT NULL,
        classname          TEXT,
        name               TEXT NOT NULL,
        status             TEXT,
        failure            INTEGER,
        expected           INTEGER,
        raw_status         TEXT,
        duration           REAL,
        message            TEXT,
        known_intermittent TEXT,
        PRIMARY KEY (run_id, test_position, attempt)
    );",
];

/// The schema-version table, created before any migration.
const SCHEMA_TABLE: &str = "CREATE TABLE IF NOT EXISTS flakewatch_schema (
    version    INTEGER PRIMARY KEY,
    applied_at TEXT NOT NULL
)";

/// The results store over one data directory. The database is opened on first use; until
/// `store_run` creates it, queries answer with nothing.
#[derive(Debug)]
pub struct ResultsStore {
    dir: PathBuf,
    crash_at: Option<u64>,
    page_runs: usize,
    conn: Mutex<Option<Connection>>,
}

/// An error of operation `op`, naming the backend and the database.
impl ResultsStore {
    /// A store in `dir` (which need not exist yet). `page_runs` is the page size of
    /// `revision_runs` (at least 1).
    pub fn new(dir: PathBuf, crash_at: Option<u64>, page_runs: usize) -> ResultsStore {
        ResultsStore {
            dir,
            crash_at,
            page_runs: page_runs.max(1),
            conn: Mutex::new(None),
        }
    }

    /// The database file.
    pub fn path(&self) -> PathBuf {
        self.dir.join(RESULTS_FILE)
    }

    /// The open connection, opening (and, with `create`, creating) the database first. `None`
    /// when the database does not exist and `create` is false.
    fn connection(
        &self,
        op: &str,
        create: bool,
    ) -> Result<Option<MutexGuard<'_, Option<Connection>>>, PluginError> {
        let path = self.path();
        crate::sqlite::connection(&self.conn, &self.dir, &path, op, create, |conn| {
            migrate(conn).map_err(|e| match e {
                Migration::Newer(found) => failed(
                    op,
                    &path,
                    format!(
                        "the results schema is version {found}, newer than this plugin knows \
                     ({SCHEMA_VERSION}); use a newer flakewatch-plugin-files (nothing was written)"
                    ),
                ),
                Migration::Sql(e) => failed(op, &path, format!("schema migration: {e}")),
            })
        })
    }

    /// Stores one run, whole or not at all.
    pub fn store_run(&self, request: &StoreRunRequest) -> Result<StoredRun, PluginError> {
        const OP: &str = "store_run";
        let run = &request.run;
        let started_us = started_micros(run)?;
        let path = self.path();
        let err = |e: rusqlite::Error| failed(OP, &path, e);
        let Some(mut guard) = self.connection(OP, true)? else {
            return Err(failed(OP, &path, "the database could not be created"));
        };
        let Some(conn) = guard.as_mut() else {
            return Err(failed(OP, &path, "no connection"));
        };
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;
        let inserted = tx
            .execute(
                "INSERT INTO runs (key, job, revision, suite, chunk, chunks, started_at, started_us,
                                   url, source, format, properties)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                 ON CONFLICT (key) DO NOTHING",
                params![
                    run.key,
                    run.job,
                    run.revision,
                    run.suite,
                    run.chunk,
                    run.chunks,
                    run.started_at,
                    started_us,
                    run.url,
                    run.source,
                    run.format,
                    json(&run.properties)?,
                ],
            )
            .map_err(err)?;
        if inserted == 0 {
            tx.rollback().map_err(err)?;
            return Ok(StoredRun { stored: false });
        }
        let run_id = tx.last_insert_rowid();
        {
            let mut scheduled = tx
                .prepare(
                    "INSERT INTO scheduled_tests (run_id, position, grp, test)
                     VALUES (?1, ?2, ?3, ?4)",
                )
                .map_err(err)?;
            for (position, s) in run.scheduled.iter().enumerate() {
                scheduled
                    .execute(params![run_id, position as i64, s.group, s.test])
                    .map_err(err)?;
            }
            let mut results = tx
                .prepare(
                    "INSERT INTO test_results (run_id, test_position, attempt, suite_path,
                         classname, name, status, failure, expected, raw_status, duration,
                         message, known_intermittent)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
                )
                .map_err(err)?;
            let half = run.tests.len() / 2;
            for (position, test) in run.tests.iter().enumerate() {
                if position == half {
                    // Half of the rows are written, nothing is committed.
                    crash_point(self.crash_at);
                }
                let suite_path = json(&test.suite)?;
                if test.attempts.is_empty() {
                    // A test without attempts is one row whose attempt columns are NULL.
                    results
                        .execute(params![
                            run_id,
                            position as i64,
                            0i64,
                            suite_path,
                            test.classname,
                            test.name,
                            None::<String>,
                            None::<bool>,
                            None::<bool>,
                            None::<String>,
                            None::<f64>,
                            None::<String>,
                            None::<String>,
                        ])
                        .map_err(err)?;
                }
                for (index, a) in test.attempts.iter().enumerate() {
                    results
                        .execute(params![
                            run_id,
                            position as i64,
                            index as i64,
                            suite_path,
                            test.classname,
                            test.name,
                            a.status,
                            a.failure,
                            a.expected,
                            a.raw_status,
                            a.duration,
                            a.message,
                            json(&a.known_intermittent)?,
                        ])
                        .map_err(err)?;
                }
            }
            if run.tests.is_empty() {
                crash_point(self.crash_at);
            }
        }
        tx.commit().map_err(err)?;
        crash_point(self.crash_at);
        Ok(StoredRun { stored: true })
    }

    /// One page of a revision's runs, in the order they were stored.
    pub fn revision_runs(&self, request: &RevisionRunsRequest) -> Result<RunPage, PluginError> {
        const OP: &str = "revision_runs";
        let after = parse_cursor(OP, request.cursor.as_deref())?;
        let path = self.path();
        let err = |e: rusqlite::Error| failed(OP, &path, e);
        let Some(mut guard) = self.connection(OP, false)? else {
            return Ok(RunPage::default());
        };
        let Some(conn) = guard.as_mut() else {
            return Ok(RunPage::default());
        };
        let tx = conn.transaction().map_err(err)?;
        let mut runs: Vec<(i64, ResultsRun)> = {
            let mut stmt = tx
                .prepare(
                    "SELECT id, key, job, revision, suite, chunk, chunks, started_at, url, source,
                            format, properties
                     FROM runs
                     WHERE revision = ?1 AND (?2 IS NULL OR suite = ?2) AND id > ?3
                     ORDER BY id
                     LIMIT ?4",
                )
                .map_err(err)?;
            let rows = stmt
                .query_map(
                    params![
                        request.revision,
                        request.suite,
                        after,
                        (self.page_runs + 1) as i64
                    ],
                    |row| {
                        Ok((
                            row.get::<_, i64>(0)?,
                            row.get::<_, String>(11)?,
                            ResultsRun {
                                key: row.get(1)?,
                                job: row.get(2)?,
                                revision: row.get(3)?,
                                suite: row.get(4)?,
                                chunk: row.get(5)?,
                                chunks: row.get(6)?,
                                started_at: row.get(7)?,
                                url: row.get(8)?,
                                source: row.get(9)?,
                                format: row.get(10)?,
                                ..ResultsRun::default()
                            },
                        ))
                    },
                )
                .map_err(err)?;
            let mut out = Vec::new();
            for row in rows {
                let (id, properties, mut run) = row.map_err(err)?;
                run.properties = from_json(OP, &path, &properties)?;
                out.push((id, run));
            }
            out
        };
        let next_cursor = if runs.len() > self.page_runs {
            runs.truncate(self.page_runs);
            runs.last().map(|(id, _)| id.to_string())
        } else {
            None
        };
        {
            let mut scheduled = tx
                .prepare(
                    "SELECT grp, test FROM scheduled_tests WHERE run_id = ?1 ORDER BY position",
                )
                .map_err(err)?;
            let mut results = tx
                .prepare(
                    "SELECT test_position, suite_path, classname, name, status, failure,
                            expected, raw_status, duration, message, known_intermittent
                     FROM test_results WHERE run_id = ?1 ORDER BY test_position, attempt",
                )
                .map_err(err)?;
            for (id, run) in &mut runs {
                let rows = scheduled
                    .query_map([*id], |row| {
                        Ok(ScheduledTest {
                            group: row.get(0)?,
                            test: row.get(1)?,
                        })
                    })
                    .map_err(err)?;
                for row in rows {
                    run.scheduled.push(row.map_err(err)?);
                }
                let mut rows = results.query([*id]).map_err(err)?;
                let mut last_position = None;
                while let Some(row) = rows.next().map_err(err)? {
                    let position: i64 = row.get(0).map_err(err)?;
                    if last_position != Some(position) {
                        last_position = Some(position);
                        run.tests.push(TestResult {
                            suite: from_json(OP, &path, &row.get::<_, String>(1).map_err(err)?)?,
                            classname: row.get(2).map_err(err)?,
                            name: row.get(3).map_err(err)?,
                            attempts: Vec::new(),
                        });
                    }
                    let Some(status) = row.get::<_, Option<String>>(4).map_err(err)? else {
                        continue;
                    };
                    let known: Option<String> = row.get(10).map_err(err)?;
                    let attempt = AttemptResult {
                        status,
                        failure: row.get::<_, Option<bool>>(5).map_err(err)?.unwrap_or(false),
                        expected: row.get::<_, Option<bool>>(6).map_err(err)?.unwrap_or(true),
                        raw_status: row.get(7).map_err(err)?,
                        duration: row.get(8).map_err(err)?,
                        message: row.get(9).map_err(err)?,
                        known_intermittent: match known {
                            Some(text) => from_json(OP, &path, &text)?,
                            None => Vec::new(),
                        },
                    };
                    if let Some(test) = run.tests.last_mut() {
                        test.attempts.push(attempt);
                    }
                }
            }
        }
        tx.commit().map_err(err)?;
        Ok(RunPage {
            runs: runs.into_iter().map(|(_, run)| run).collect(),
            next_cursor,
        })
    }

    /// A job's per-test history, as [`TestHistoryRequest`] defines it.
    pub fn test_history(&self, request: &TestHistoryRequest) -> Result<TestHistory, PluginError> {
        const OP: &str = "test_history";
        let (from_us, to_us) = history_window(request)?;
        let path = self.path();
        let err = |e: rusqlite::Error| failed(OP, &path, e);
        let Some(mut guard) = self.connection(OP, false)? else {
            return Ok(TestHistory::default());
        };
        let Some(conn) = guard.as_mut() else {
            return Ok(TestHistory::default());
        };
        let tx = conn.transaction().map_err(err)?;
        let window = "SELECT id FROM runs
                      WHERE job = ?1 AND started_us >= ?2 AND started_us <= ?3
                      ORDER BY started_us DESC, key DESC
                      LIMIT ?4";
        let args = params![request.job, from_us, to_us, i64::from(request.max_runs)];
        let runs: i64 = tx
            .query_row(&format!("SELECT count(*) FROM ({window})"), args, |row| {
                row.get(0)
            })
            .map_err(err)?;
        let mut rows = Vec::new();
        {
            let mut stmt = tx
                .prepare(&format!(
                    "WITH w AS ({window}),
                     per_run AS (
                         SELECT r.run_id, r.suite_path, r.name,
                                max(r.status <> 'skip' AND NOT r.failure) AS passed,
                                max(r.failure) AS failed
                         FROM test_results r JOIN w ON r.run_id = w.id
                         WHERE r.status IS NOT NULL
                         GROUP BY r.run_id, r.suite_path, r.name
                     )
                     SELECT suite_path, name,
                            sum(passed AND NOT failed),
                            sum(failed AND NOT passed),
                            sum(passed AND failed)
                     FROM per_run
                     WHERE passed OR failed
                     GROUP BY suite_path, name"
                ))
                .map_err(err)?;
            let mut found = stmt.query(args).map_err(err)?;
            while let Some(row) = found.next().map_err(err)? {
                let count = |i: usize| -> Result<u64, PluginError> {
                    let n: i64 = row.get(i).map_err(err)?;
                    Ok(n.max(0) as u64)
                };
                rows.push(TestHistoryRow {
                    suite: from_json(OP, &path, &row.get::<_, String>(0).map_err(err)?)?,
                    name: row.get(1).map_err(err)?,
                    pass_count: count(2)?,
                    fail_count: count(3)?,
                    flake_count: count(4)?,
                });
            }
        }
        tx.commit().map_err(err)?;
        sort_rows(&mut rows);
        Ok(TestHistory {
            runs: runs.max(0) as u64,
            rows,
        })
    }

    /// The schema version recorded in the database, `None` when there is no database.
    pub fn schema_version(&self) -> Result<Option<i64>, PluginError> {
        let path = self.path();
        if !path.exists() {
            return Ok(None);
        }
        let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| failed("schema_version", &path, e))?;
        conn.query_row("SELECT max(version) FROM flakewatch_schema", [], |row| {
            row.get(0)
        })
        .optional()
        .map(Option::flatten)
        .map_err(|e| failed("schema_version", &path, e))
    }
}

/// Why a migration did not happen.
enum Migration {
    /// The database's schema is newer than this plugin.
    Newer(i64),
    /// SQLite said no.
    Sql(rusqlite::Error),
}

impl From<rusqlite::Error> for Migration {
    fn from(e: rusqlite::Error) -> Migration {
        Migration::Sql(e)
    }
}

/// Brings the schema to [`SCHEMA_VERSION`] in one immediate transaction; refuses a newer one
/// without writing.
fn migrate(conn: &mut Connection) -> Result<(), Migration> {
    // Read first: a current schema needs no write lock.
    let current: Option<i64> = conn
        .query_row("SELECT max(version) FROM flakewatch_schema", [], |row| {
            row.get(0)
        })
        .unwrap_or(None);
    if let Some(found) = current {
        if found > SCHEMA_VERSION {
            return Err(Migration::Newer(found));
        }
        if found == SCHEMA_VERSION {
            return Ok(());
        }
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(SCHEMA_TABLE)?;
    let found: i64 = tx.query_row(
        "SELECT coalesce(max(version), 0) FROM flakewatch_schema",
        [],
        |row| row.get(0),
    )?;
    if found > SCHEMA_VERSION {
        tx.rollback()?;
        return Err(Migration::Newer(found));
    }
    for (from, sql) in MIGRATIONS.iter().enumerate().skip(found.max(0) as usize) {
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO flakewatch_schema (version, applied_at)
             VALUES (?1, strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))",
            [from as i64 + 1],
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// `value` as JSON text.
fn json<T: serde::Serialize>(value: &T) -> Result<String, PluginError> {
    serde_json::to_string(value)
        .map_err(|e| PluginError::failed(format!("files backend: store_run: encoding: {e}")))
}

/// JSON text read back.
fn from_json<T: serde::de::DeserializeOwned>(
    op: &str,
    path: &Path,
    text: &str,
) -> Result<T, PluginError> {
    serde_json::from_str(text).map_err(|e| failed(op, path, format!("bad JSON in a row: {e}")))
}

/// The run's start in microseconds since the epoch; an unreadable time is a bad request.
fn started_micros(run: &ResultsRun) -> Result<Option<i64>, PluginError> {
    run.started_at
        .as_deref()
        .map(|text| {
            text.parse::<jiff::Timestamp>()
                .map(|t| t.as_microsecond())
                .map_err(|e| {
                    PluginError::bad_request(format!(
                        "files backend: store_run: run {}: started_at {text:?} is not RFC 3339: {e}",
                        run.key
                    ))
                })
        })
        .transpose()
}

/// The window of a history request in microseconds since the epoch, both ends included:
/// from whole seconds `max_days` days before `now`'s second to `now`.
fn history_window(request: &TestHistoryRequest) -> Result<(i64, i64), PluginError> {
    let now: jiff::Timestamp = request.now.parse().map_err(|e| {
        PluginError::bad_request(format!(
            "files backend: test_history: now {:?} is not RFC 3339: {e}",
            request.now
        ))
    })?;
    let from = (now.as_second() - i64::from(request.max_days) * 86_400) * 1_000_000;
    Ok((from, now.as_microsecond()))
}

/// A `revision_runs` cursor: the id of the last run of the previous page.
fn parse_cursor(op: &str, cursor: Option<&str>) -> Result<i64, PluginError> {
    match cursor {
        None => Ok(0),
        Some(text) => text.parse().map_err(|_| {
            PluginError::bad_request(format!("files backend: {op}: bad cursor {text:?}"))
        }),
    }
}

/// History rows in one order on every store: by suite path, then name.
fn sort_rows(rows: &mut [TestHistoryRow]) {
    rows.sort_by(|a, b| (&a.suite, &a.name).cmp(&(&b.suite, &b.name)));
}

/// Counts rows per table, for tests and tools.
pub fn table_counts(store: &ResultsStore) -> Result<BTreeMap<&'static str, i64>, PluginError> {
    let mut out = BTreeMap::new();
    let path = store.path();
    let Some(guard) = store.connection("table_counts", false)? else {
        return Ok(out);
    };
    let Some(conn) = guard.as_ref() else {
        return Ok(out);
    };
    for table in ["runs", "scheduled_tests", "test_results"] {
        let n: i64 = conn
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
                row.get(0)
            })
            .map_err(|e| failed("table_counts", &path, e))?;
        out.insert(table, n);
    }
    Ok(out)
}

//! The `postgres` backend: flakewatch's test results (capability `test_results`) in a
//! PostgreSQL database, with the schema `docs/storage.md` explains (the same one the files
//! backend keeps in SQLite).
//!
//! Options: `url` (`--opt postgres:url=postgres://USER@HOST:PORT/DB`), else the environment
//! variable [`URL_ENV`]; `page_runs`, the runs per `revision_runs` page. The password never
//! appears in an error message or in `Debug` output.
//!
//! The schema is migrated when a connection is made, in one transaction under an advisory
//! lock, so processes starting together migrate once; a database whose schema is newer than
//! this plugin knows is refused before anything is written. A run is written in one
//! transaction: the run row with `INSERT ... ON CONFLICT (key) DO NOTHING` (when the key is
//! there already, nothing else is written), then its scheduled tests and attempt rows with
//! binary `COPY`.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use flakewatch_plugin_sdk::model::{
    AttemptResult, Capability, Config, PluginInfo, ResultsRun, RevisionRunsRequest, RunPage,
    ScheduledTest, StoreRunRequest, StoredRun, TestHistory, TestHistoryRequest, TestHistoryRow,
    TestResult,
};
use flakewatch_plugin_sdk::{Plugin, PluginError, export_plugin};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::config::Host;
use postgres::types::{ToSql, Type};
use postgres::{Client, IsolationLevel, NoTls};

/// The environment variable read for the server URL when the option `url` is not given.
pub const URL_ENV: &str = "FLAKEWATCH_POSTGRES_URL";

/// The schema version this plugin writes and reads.
pub const SCHEMA_VERSION: i32 = 1;

/// Runs per `revision_runs` page unless the option `page_runs` says otherwise.
pub const DEFAULT_PAGE_RUNS: usize = 100;

/// How long a connection attempt may take unless the URL says (`connect_timeout`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The advisory-lock key that serialises migrations (per database): "flakewatch" in ASCII.
const MIGRATION_LOCK: i64 = 0x666c_616b_6577_6174;

/// The schema-version table, created before any migration.
const SCHEMA_TABLE: &str = "CREATE TABLE IF NOT EXISTS flakewatch_schema (
    version    integer PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
)";

/// The migrations, in order: entry `i` takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // Version 1: runs, scheduled tests, one row per attempt.
    "CREATE TABLE runs (
        id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        key         text NOT NULL UNIQUE,
        job         text,
        revision    text,
        suite       text,
        chunk       bigint,
        chunks      bigint,
        started_at  text,
        started_us  bigint,
        url         text,
        source      text NOT NULL,
        format      text NOT NULL,
        properties  text NOT NULL
    );
    CREATE INDEX runs_revision_suite ON runs (revision, suite, id);
    CREATE INDEX runs_job_started ON runs (job, started_us);
    CREATE TABLE scheduled_tests (
        run_id      bigint NOT NULL,
        position    integer NOT NULL,
        grp         text NOT NULL,
        test        text NOT NULL,
        PRIMARY KEY (run_id, position)
    );
    CREATE TABLE test_results (
        run_id             bigint NOT NULL,
        test_position      integer NOT NULL,
        attempt            integer NOT NULL,
        suite_path         text NOT NULL,
        classname          text,
        name               text NOT NULL,
        status             text,
        failure            boolean,
        expected           boolean,
        raw_status         text,
        duration           double precision,
        message            text,
        known_intermittent text,
        PRIMARY KEY (run_id, test_position, attempt)
    );",
];

/// The column types of the `COPY` into `test_results`, in column order.
const RESULT_TYPES: [Type; 13] = [
    Type::INT8,
    Type::INT4,
    Type::INT4,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::TEXT,
    Type::BOOL,
    Type::BOOL,
    Type::TEXT,
    Type::FLOAT8,
    Type::TEXT,
    Type::TEXT,
];

/// The backend: one server, one lazily made connection.
pub struct PostgresBackend {
    config: postgres::Config,
    /// `host:port` for messages.
    target: String,
    /// The password, to take out of every message (empty when none).
    password: String,
    page_runs: usize,
    client: Mutex<Option<Client>>,
}

/// The environment variable that makes the plugin abort the process at the N-th crash point
/// (1-based, counted across the process): each newly stored run with tests passes two, one
/// in the middle of its `COPY` (nothing committed) and one just after its commit. For
/// crash-safety tests only.
pub const CRASH_AT_ENV: &str = "FLAKEWATCH_POSTGRES_CRASH_AT";

/// Counts one crash point and aborts the process when it is the one [`CRASH_AT_ENV`] names.
fn crash_point() {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static AT: OnceLock<Option<u64>> = OnceLock::new();
    static PASSED: AtomicU64 = AtomicU64::new(0);
    let at = *AT.get_or_init(|| {
        std::env::var(CRASH_AT_ENV)
            .ok()
            .and_then(|v| v.parse().ok())
    });
    let n = PASSED.fetch_add(1, Ordering::SeqCst) + 1;
    if at == Some(n) {
        // A simulated power cut: no destructors, no goodbye to the server.
        std::process::abort();
    }
}

impl fmt::Debug for PostgresBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresBackend")
            .field("target", &self.target)
            .field("user", &self.config.get_user())
            .field("dbname", &self.config.get_dbname())
            .field("page_runs", &self.page_runs)
            .finish_non_exhaustive()
    }
}

impl PostgresBackend {
    /// A backend for the server at `url` (`postgres://USER:PASSWORD@HOST:PORT/DB` or a
    /// `key=value` connection string). Nothing is connected until the first operation.
    pub fn open(url: &str, page_runs: usize) -> Result<PostgresBackend, PluginError> {
        let mut config: postgres::Config = url.parse().map_err(|e| {
            PluginError::bad_request(redact(
                &format!("postgres: the server URL is not valid: {e}"),
                &password_in_url(url),
            ))
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let password = config
            .get_password()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .unwrap_or_default();
        let target = target_of(&config);
        Ok(PostgresBackend {
            config,
            target,
            password,
            page_runs: page_runs.max(1),
            client: Mutex::new(None),
        })
    }

    /// `host:port` of the server.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// An error of operation `op`, the password taken out.
    fn error(&self, op: &str, e: impl fmt::Display) -> PluginError {
        PluginError::failed(redact(&format!("postgres: {op}: {e}"), &self.password))
    }

    /// The connection, made (and the schema migrated) on first use or after it broke.
    fn client(&self, op: &str) -> Result<MutexGuard<'_, Option<Client>>, PluginError> {
        let mut guard = self
            .client
            .lock()
            .map_err(|_| self.error(op, "connection state poisoned"))?;
        if guard.as_ref().is_none_or(Client::is_closed) {
            *guard = None;
            let mut client = self.config.connect(NoTls).map_err(|e| {
                self.error(
                    op,
                    format!("could not connect to {}: {}", self.target, Pg(&e)),
                )
            })?;
            self.migrate(op, &mut client)?;
            *guard = Some(client);
        }
        Ok(guard)
    }

    /// Brings the schema to [`SCHEMA_VERSION`] in one transaction under the advisory lock;
    /// refuses a newer schema without writing.
    fn migrate(&self, op: &str, client: &mut Client) -> Result<(), PluginError> {
        let err = |e: postgres::Error| self.error(op, format!("schema migration: {}", Pg(&e)));
        let mut tx = client.transaction().map_err(err)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .map_err(err)?;
        tx.batch_execute(SCHEMA_TABLE).map_err(err)?;
        let found: i32 = tx
            .query_one(
                "SELECT coalesce(max(version), 0) FROM flakewatch_schema",
                &[],
            )
            .map_err(err)?
            .get(0);
        if found > SCHEMA_VERSION {
            tx.rollback().map_err(err)?;
            return Err(self.error(
                op,
                format!(
                    "the database's results schema is version {found}, newer than this plugin \
                     knows ({SCHEMA_VERSION}); use a newer flakewatch-plugin-postgres (nothing \
                     was written)"
                ),
            ));
        }
        for (from, sql) in MIGRATIONS.iter().enumerate().skip(found.max(0) as usize) {
            tx.batch_execute(sql).map_err(err)?;
            let version = i32::try_from(from + 1).map_err(|e| self.error(op, e))?;
            tx.execute(
                "INSERT INTO flakewatch_schema (version) VALUES ($1)",
                &[&version],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    /// The schema version recorded in the database.
    pub fn schema_version(&self) -> Result<i32, PluginError> {
        let mut guard = self.client("schema_version")?;
        let client = guard
            .as_mut()
            .ok_or_else(|| self.error("schema_version", "no connection"))?;
        let row = client
            .query_one("SELECT max(version) FROM flakewatch_schema", &[])
            .map_err(|e| self.error("schema_version", Pg(&e)))?;
        Ok(row.get(0))
    }

    fn store(&self, run: &ResultsRun) -> Result<bool, PluginError> {
        const OP: &str = "store_run";
        let err = |e: postgres::Error| self.error(OP, Pg(&e));
        let started_us = started_micros(run)?;
        let properties = json(&run.properties)?;
        let (chunk, chunks) = (run.chunk.map(i64::from), run.chunks.map(i64::from));
        let mut guard = self.client(OP)?;
        let client = guard
            .as_mut()
            .ok_or_else(|| self.error(OP, "no connection"))?;
        let mut tx = client.transaction().map_err(err)?;
        let inserted = tx
            .query_opt(
                "INSERT INTO runs (key, job, revision, suite, chunk, chunks, started_at,
                                   started_us, url, source, format, properties)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
                 ON CONFLICT (key) DO NOTHING
                 RETURNING id",
                &[
                    &run.key,
                    &run.job,
                    &run.revision,
                    &run.suite,
                    &chunk,
                    &chunks,
                    &run.started_at,
                    &started_us,
                    &run.url,
                    &run.source,
                    &run.format,
                    &properties,
                ],
            )
            .map_err(err)?;
        let Some(row) = inserted else {
            tx.rollback().map_err(err)?;
            return Ok(false);
        };
        let run_id: i64 = row.get(0);
        if !run.scheduled.is_empty() {
            let sink = tx
                .copy_in("COPY scheduled_tests (run_id, position, grp, test) FROM STDIN BINARY")
                .map_err(err)?;
            let mut writer =
                BinaryCopyInWriter::new(sink, &[Type::INT8, Type::INT4, Type::TEXT, Type::TEXT]);
            for (position, s) in run.scheduled.iter().enumerate() {
                let position = index(position).map_err(|e| self.error(OP, e))?;
                writer
                    .write(&[&run_id, &position, &s.group, &s.test])
                    .map_err(err)?;
            }
            writer.finish().map_err(err)?;
        }
        if !run.tests.is_empty() {
            let sink = tx
                .copy_in(
                    "COPY test_results (run_id, test_position, attempt, suite_path, classname,
                         name, status, failure, expected, raw_status, duration, message,
                         known_intermittent) FROM STDIN BINARY",
                )
                .map_err(err)?;
            let mut writer = BinaryCopyInWriter::new(sink, &RESULT_TYPES);
            let none_text: Option<&str> = None;
            let none_bool: Option<bool> = None;
            let none_f64: Option<f64> = None;
            for (position, test) in run.tests.iter().enumerate() {
                let position = index(position).map_err(|e| self.error(OP, e))?;
                let suite_path = json(&test.suite)?;
                if test.attempts.is_empty() {
                    // A test without attempts is one row whose attempt columns are NULL.
                    let row: [&(dyn ToSql + Sync); 13] = [
                        &run_id,
                        &position,
                        &0i32,
                        &suite_path,
                        &test.classname,
                        &test.name,
                        &none_text,
                        &none_bool,
                        &none_bool,
                        &none_text,
                        &none_f64,
                        &none_text,
                        &none_text,
                    ];
                    writer.write(&row).map_err(err)?;
                }
                for (attempt, a) in test.attempts.iter().enumerate() {
                    let attempt = index(attempt).map_err(|e| self.error(OP, e))?;
                    let known = json(&a.known_intermittent)?;
                    let row: [&(dyn ToSql + Sync); 13] = [
                        &run_id,
                        &position,
                        &attempt,
                        &suite_path,
                        &test.classname,
                        &test.name,
                        &a.status,
                        &a.failure,
                        &a.expected,
                        &a.raw_status,
                        &a.duration,
                        &a.message,
                        &known,
                    ];
                    writer.write(&row).map_err(err)?;
                }
                if position == 0 {
                    // Rows are on their way, nothing is committed.
                    crash_point();
                }
            }
            writer.finish().map_err(err)?;
        }
        tx.commit().map_err(err)?;
        crash_point();
        Ok(true)
    }

    fn runs_of_revision(&self, request: &RevisionRunsRequest) -> Result<RunPage, PluginError> {
        const OP: &str = "revision_runs";
        let err = |e: postgres::Error| self.error(OP, Pg(&e));
        let after: i64 = match &request.cursor {
            None => 0,
            Some(text) => text.parse().map_err(|_| {
                PluginError::bad_request(format!("postgres: {OP}: bad cursor {text:?}"))
            })?,
        };
        let limit = i64::try_from(self.page_runs + 1).unwrap_or(i64::MAX);
        let mut guard = self.client(OP)?;
        let client = guard
            .as_mut()
            .ok_or_else(|| self.error(OP, "no connection"))?;
        let mut tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(err)?;
        let rows = tx
            .query(
                "SELECT id, key, job, revision, suite, chunk, chunks, started_at, url, source,
                        format, properties
                 FROM runs
                 WHERE revision = $1 AND ($2::text IS NULL OR suite = $2) AND id > $3
                 ORDER BY id
                 LIMIT $4",
                &[&request.revision, &request.suite, &after, &limit],
            )
            .map_err(err)?;
        let mut ids = Vec::with_capacity(rows.len());
        let mut runs = Vec::with_capacity(rows.len());
        for row in rows.iter().take(self.page_runs) {
            ids.push(row.get::<_, i64>(0));
            let properties: String = row.get(11);
            runs.push(ResultsRun {
                key: row.get(1),
                job: row.get(2),
                revision: row.get(3),
                suite: row.get(4),
                chunk: u32_column(OP, row.get(5))?,
                chunks: u32_column(OP, row.get(6))?,
                started_at: row.get(7),
                url: row.get(8),
                source: row.get(9),
                format: row.get(10),
                properties: from_json(OP, &properties)?,
                scheduled: Vec::new(),
                tests: Vec::new(),
            });
        }
        let next_cursor = (rows.len() > self.page_runs)
            .then(|| ids.last().map(i64::to_string))
            .flatten();
        let slot: HashMap<i64, usize> = ids.iter().enumerate().map(|(i, &id)| (id, i)).collect();
        if !ids.is_empty() {
            for row in tx
                .query(
                    "SELECT run_id, grp, test FROM scheduled_tests
                     WHERE run_id = ANY($1) ORDER BY run_id, position",
                    &[&ids],
                )
                .map_err(err)?
            {
                if let Some(&i) = slot.get(&row.get::<_, i64>(0)) {
                    runs[i].scheduled.push(ScheduledTest {
                        group: row.get(1),
                        test: row.get(2),
                    });
                }
            }
            let mut last: Option<(i64, i32)> = None;
            for row in tx
                .query(
                    "SELECT run_id, test_position, suite_path, classname, name, status, failure,
                            expected, raw_status, duration, message, known_intermittent
                     FROM test_results
                     WHERE run_id = ANY($1)
                     ORDER BY run_id, test_position, attempt",
                    &[&ids],
                )
                .map_err(err)?
            {
                let run_id: i64 = row.get(0);
                let position: i32 = row.get(1);
                let Some(&i) = slot.get(&run_id) else {
                    continue;
                };
                let run = &mut runs[i];
                if last != Some((run_id, position)) {
                    last = Some((run_id, position));
                    let suite: String = row.get(2);
                    run.tests.push(TestResult {
                        suite: from_json(OP, &suite)?,
                        classname: row.get(3),
                        name: row.get(4),
                        attempts: Vec::new(),
                    });
                }
                let Some(status) = row.get::<_, Option<String>>(5) else {
                    continue;
                };
                let known: Option<String> = row.get(11);
                let attempt = AttemptResult {
                    status,
                    failure: row.get::<_, Option<bool>>(6).unwrap_or(false),
                    expected: row.get::<_, Option<bool>>(7).unwrap_or(true),
                    raw_status: row.get(8),
                    duration: row.get(9),
                    message: row.get(10),
                    known_intermittent: match known {
                        Some(text) => from_json(OP, &text)?,
                        None => Vec::new(),
                    },
                };
                if let Some(test) = run.tests.last_mut() {
                    test.attempts.push(attempt);
                }
            }
        }
        tx.commit().map_err(err)?;
        Ok(RunPage { runs, next_cursor })
    }

    fn history(&self, request: &TestHistoryRequest) -> Result<TestHistory, PluginError> {
        const OP: &str = "test_history";
        let err = |e: postgres::Error| self.error(OP, Pg(&e));
        let now: jiff::Timestamp = request.now.parse().map_err(|e| {
            PluginError::bad_request(format!(
                "postgres: {OP}: now {:?} is not RFC 3339: {e}",
                request.now
            ))
        })?;
        let from_us = (now.as_second() - i64::from(request.max_days) * 86_400) * 1_000_000;
        let to_us = now.as_microsecond();
        let max_runs = i64::from(request.max_runs);
        let window = "SELECT id FROM runs
                      WHERE job = $1 AND started_us >= $2 AND started_us <= $3
                      ORDER BY started_us DESC, key COLLATE \"C\" DESC
                      LIMIT $4";
        let mut guard = self.client(OP)?;
        let client = guard
            .as_mut()
            .ok_or_else(|| self.error(OP, "no connection"))?;
        let mut tx = client
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(err)?;
        let params: [&(dyn ToSql + Sync); 4] = [&request.job, &from_us, &to_us, &max_runs];
        let runs: i64 = tx
            .query_one(&format!("SELECT count(*) FROM ({window}) w"), &params)
            .map_err(err)?
            .get(0);
        let found = tx
            .query(
                &format!(
                    "WITH w AS ({window}),
                     per_run AS (
                         SELECT r.run_id, r.suite_path, r.name,
                                bool_or(r.status <> 'skip' AND NOT r.failure) AS passed,
                                bool_or(r.failure) AS failed
                         FROM test_results r JOIN w ON r.run_id = w.id
                         WHERE r.status IS NOT NULL
                         GROUP BY r.run_id, r.suite_path, r.name
                     )
                     SELECT suite_path, name,
                            count(*) FILTER (WHERE passed AND NOT failed),
                            count(*) FILTER (WHERE failed AND NOT passed),
                            count(*) FILTER (WHERE passed AND failed)
                     FROM per_run
                     WHERE passed OR failed
                     GROUP BY suite_path, name"
                ),
                &params,
            )
            .map_err(err)?;
        tx.commit().map_err(err)?;
        let mut rows = Vec::with_capacity(found.len());
        for row in found {
            let suite: String = row.get(0);
            let count = |i: usize| row.get::<_, i64>(i).max(0) as u64;
            rows.push(TestHistoryRow {
                suite: from_json(OP, &suite)?,
                name: row.get(1),
                pass_count: count(2),
                fail_count: count(3),
                flake_count: count(4),
            });
        }
        rows.sort_by(|a, b| (&a.suite, &a.name).cmp(&(&b.suite, &b.name)));
        Ok(TestHistory {
            runs: runs.max(0) as u64,
            rows,
        })
    }
}

impl Plugin for PostgresBackend {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "postgres".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            description: format!(
                "test results in PostgreSQL (option url=postgres://..., or {URL_ENV})"
            ),
            capabilities: vec![Capability::TestResults],
            sdk_version: String::new(),
        }
    }

    fn create(config: &Config) -> Result<Self, PluginError> {
        let page_runs = match config.get("page_runs") {
            None => DEFAULT_PAGE_RUNS,
            Some(text) => text.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                PluginError::bad_request(format!(
                    "postgres: page_runs must be a positive number, not {text:?}"
                ))
            })?,
        };
        match config.get("url") {
            Some(url) => PostgresBackend::open(url, page_runs),
            None => match std::env::var(URL_ENV) {
                Ok(url) if !url.is_empty() => PostgresBackend::open(&url, page_runs),
                _ => Err(PluginError::bad_request(format!(
                    "postgres: no server given: set the option url (--opt postgres:url=..., \
                     --opt-env or --opt-file keep the password off the command line) or the \
                     environment variable {URL_ENV}"
                ))),
            },
        }
    }

    fn store_run(&self, request: &StoreRunRequest) -> Result<StoredRun, PluginError> {
        Ok(StoredRun {
            stored: self.store(&request.run)?,
        })
    }

    fn revision_runs(&self, request: &RevisionRunsRequest) -> Result<RunPage, PluginError> {
        self.runs_of_revision(request)
    }

    fn test_history(&self, request: &TestHistoryRequest) -> Result<TestHistory, PluginError> {
        self.history(request)
    }
}

export_plugin!(PostgresBackend);

/// A driver error with what it wraps: the server's message (severity, SQLSTATE code, text,
/// detail) or the I/O error under a connection failure, which the driver's own `Display`
/// leaves out.
struct Pg<'a>(&'a postgres::Error);

impl fmt::Display for Pg<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(db) = self.0.as_db_error() {
            write!(
                f,
                "{} {}: {}",
                db.severity(),
                db.code().code(),
                db.message()
            )?;
            if let Some(detail) = db.detail() {
                write!(f, " ({detail})")?;
            }
            return Ok(());
        }
        write!(f, "{}", self.0)?;
        let mut source = std::error::Error::source(self.0);
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

/// `host:port` of the first server of a configuration (all of them, comma-separated, when
/// there are several).
fn target_of(config: &postgres::Config) -> String {
    let ports = config.get_ports();
    let hosts = config.get_hosts();
    if hosts.is_empty() {
        return format!("localhost:{}", ports.first().copied().unwrap_or(5432));
    }
    hosts
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let port = ports
                .get(i)
                .or_else(|| ports.first())
                .copied()
                .unwrap_or(5432);
            match host {
                Host::Tcp(name) => format!("{name}:{port}"),
                Host::Unix(path) => format!("{}:{port}", path.display()),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The password of a `postgres://` URL as written, for taking it out of a parse error.
fn password_in_url(url: &str) -> String {
    let Some(rest) = url.split_once("://").map(|(_, rest)| rest) else {
        return String::new();
    };
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    match authority.rsplit_once('@') {
        Some((userinfo, _)) => userinfo
            .split_once(':')
            .map(|(_, password)| password.to_owned())
            .unwrap_or_default(),
        None => String::new(),
    }
}

/// `message` with every occurrence of `password` replaced.
fn redact(message: &str, password: &str) -> String {
    if password.is_empty() {
        message.to_owned()
    } else {
        message.replace(password, "***")
    }
}

/// A position as the `integer` column holds it.
fn index(i: usize) -> Result<i32, String> {
    i32::try_from(i).map_err(|_| format!("position {i} does not fit the schema"))
}

/// A `bigint` column read back as the `u32` it was stored from.
fn u32_column(op: &str, value: Option<i64>) -> Result<Option<u32>, PluginError> {
    value
        .map(|v| {
            u32::try_from(v)
                .map_err(|_| PluginError::failed(format!("postgres: {op}: bad chunk number {v}")))
        })
        .transpose()
}

/// `value` as JSON text.
fn json<T: serde::Serialize>(value: &T) -> Result<String, PluginError> {
    serde_json::to_string(value)
        .map_err(|e| PluginError::failed(format!("postgres: store_run: encoding: {e}")))
}

/// JSON text read back.
fn from_json<T: serde::de::DeserializeOwned>(op: &str, text: &str) -> Result<T, PluginError> {
    serde_json::from_str(text)
        .map_err(|e| PluginError::failed(format!("postgres: {op}: bad JSON in a row: {e}")))
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
                        "postgres: store_run: run {}: started_at {text:?} is not RFC 3339: {e}",
                        run.key
                    ))
                })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_of_a_url_is_found_and_taken_out() {
        assert_eq!(password_in_url("postgres://u:s3cret@h:1/db"), "s3cret");
        assert_eq!(password_in_url("postgres://u@h:1/db"), "");
        assert_eq!(password_in_url("host=h"), "");
        assert_eq!(redact("a s3cret b s3cret", "s3cret"), "a *** b ***");
        assert_eq!(redact("nothing", ""), "nothing");
    }

    #[test]
    fn debug_and_errors_never_show_the_password() {
        let backend =
            PostgresBackend::open("postgres://me:hunter2-XYZ@db.example:6543/results", 10).unwrap();
        let debug = format!("{backend:?}");
        assert!(!debug.contains("hunter2-XYZ"), "{debug}");
        assert!(debug.contains("db.example:6543"), "{debug}");
        assert_eq!(backend.target(), "db.example:6543");
        let err = PostgresBackend::open("postgres://me:hunter2-XYZ@db.example:notaport/x", 1)
            .unwrap_err();
        assert!(!err.message.contains("hunter2-XYZ"), "{}", err.message);
        assert!(err.message.starts_with("postgres: "), "{}", err.message);
    }

    #[test]
    fn no_server_is_a_bad_request_that_says_how_to_give_one() {
        if std::env::var_os(URL_ENV).is_some() {
            // The variable is the other way to give a server; it is set, so nothing to check.
            assert!(PostgresBackend::create(&Config::default()).is_ok());
            return;
        }
        let err = PostgresBackend::create(&Config::default()).unwrap_err();
        assert_eq!(err.kind, flakewatch_plugin_sdk::ErrorKind::BadRequest);
        assert!(err.message.contains(URL_ENV), "{}", err.message);
    }
}

//! The files backend's aggregator tables (capability `aggregator_tables`): the
//! job-run-aggregator's seven tables in one SQLite database, `aggregator.sqlite`, in the data
//! directory, created from the SDK's column lists ([`AggregatorTable::columns`]).
//!
//! Each table has its row key ([`AggregatorTable::key`]) as its primary key, so an insert is
//! `INSERT … ON CONFLICT DO NOTHING` and the same rows twice leave one copy. A request is one
//! `BEGIN IMMEDIATE` transaction: every row of it is written or none. Column types: `STRING`
//! is `TEXT`, `INT64` and `BOOL` are `INTEGER`, `TIMESTAMP` is `INTEGER` microseconds since the
//! epoch (read back as RFC 3339 UTC text). Rows are read one page at a time in key order
//! (SQLite's `BINARY` collation is the byte order of UTF-8, as Rust's string order is), the
//! cursor being the last key as a JSON list.

use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

use flakewatch_plugin_sdk::PluginError;
use flakewatch_plugin_sdk::model::{
    AggregatorTable, ColumnType, InsertRowsRequest, InsertedRows, ReadRowsRequest, Row, RowPage,
    UploadWindow, UploadWindowRequest,
};
use rusqlite::types::{Value as Sql, ValueRef};
use rusqlite::{Connection, TransactionBehavior, params_from_iter};
use serde_json::Value;

use crate::sqlite::failed;

/// The database file in the data directory.
pub const TABLES_FILE: &str = "aggregator.sqlite";

/// Rows per `read_rows` page unless the option `page_rows` says otherwise.
pub const DEFAULT_PAGE_ROWS: usize = 1000;

/// The aggregator tables of one data directory. The database is created by the first
/// insert; until then reads answer nothing.
#[derive(Debug)]
pub struct TablesStore {
    dir: PathBuf,
    page_rows: usize,
    conn: Mutex<Option<Connection>>,
}

fn bad(op: &str, e: impl std::fmt::Display) -> PluginError {
    PluginError::bad_request(format!("files backend: {op}: {e}"))
}

/// `"name"`: a column or table name from the SDK's lists (letters only) as an SQL identifier.
fn ident(name: &str) -> String {
    format!("\"{name}\"")
}

fn sql_type(kind: ColumnType) -> &'static str {
    match kind {
        ColumnType::String => "TEXT",
        ColumnType::Int64 | ColumnType::Bool | ColumnType::Timestamp => "INTEGER",
    }
}

/// The `CREATE TABLE` of a table.
fn create_sql(table: AggregatorTable) -> String {
    let columns: Vec<String> = table
        .columns()
        .iter()
        .map(|c| {
            let not_null = if table.key().contains(&c.name) {
                " NOT NULL"
            } else {
                ""
            };
            format!("{} {}{not_null}", ident(c.name), sql_type(c.kind))
        })
        .collect();
    let key: Vec<String> = table.key().iter().map(|k| ident(k)).collect();
    let mut sql = format!(
        "CREATE TABLE IF NOT EXISTS {} ({}, PRIMARY KEY ({}))",
        ident(table.name()),
        columns.join(", "),
        key.join(", ")
    );
    if let Some(time) = table.time_column() {
        sql.push_str(&format!(
            "; CREATE INDEX IF NOT EXISTS {} ON {} ({})",
            ident(&format!("{}_{time}", table.name())),
            ident(table.name()),
            ident(time)
        ));
    }
    if table.is_job_run_table() {
        sql.push_str(&format!(
            "; CREATE INDEX IF NOT EXISTS {} ON {} (\"JobRunEndTime\")",
            ident(&format!("{}_JobRunEndTime", table.name())),
            ident(table.name()),
        ));
    }
    sql
}

/// RFC 3339 text as microseconds.
fn micros(what: &str, text: &str) -> Result<i64, String> {
    text.parse::<jiff::Timestamp>()
        .map(|t| t.as_microsecond())
        .map_err(|e| format!("{what} {text:?} is not RFC 3339: {e}"))
}

/// Microseconds as the RFC 3339 UTC text every store answers with.
fn rfc3339(us: i64) -> Result<String, String> {
    jiff::Timestamp::from_microsecond(us)
        .map(|t| t.to_string())
        .map_err(|e| format!("time {us} µs is out of range: {e}"))
}

/// A JSON cell (already checked against its column) as an SQL value.
fn to_sql(kind: ColumnType, column: &str, value: Option<&Value>) -> Result<Sql, String> {
    Ok(match (kind, value) {
        (_, None | Some(Value::Null)) => Sql::Null,
        (ColumnType::String, Some(Value::String(s))) => Sql::Text(s.clone()),
        (ColumnType::Int64, Some(Value::Number(n))) => Sql::Integer(
            n.as_i64()
                .ok_or_else(|| format!("{column}: {n} is not INT64"))?,
        ),
        (ColumnType::Bool, Some(Value::Bool(b))) => Sql::Integer(i64::from(*b)),
        (ColumnType::Timestamp, Some(Value::String(s))) => Sql::Integer(micros(column, s)?),
        (_, Some(other)) => return Err(format!("{column}: {other} is not {}", kind.name())),
    })
}

/// An SQL cell as the JSON value of its column.
fn from_sql(kind: ColumnType, column: &str, value: ValueRef<'_>) -> Result<Value, String> {
    Ok(match (kind, value) {
        (_, ValueRef::Null) => Value::Null,
        (ColumnType::String, ValueRef::Text(t)) => Value::String(
            std::str::from_utf8(t)
                .map_err(|e| format!("{column}: not UTF-8: {e}"))?
                .to_owned(),
        ),
        (ColumnType::Int64, ValueRef::Integer(n)) => Value::from(n),
        (ColumnType::Bool, ValueRef::Integer(n)) => Value::Bool(n != 0),
        (ColumnType::Timestamp, ValueRef::Integer(n)) => Value::String(rfc3339(n)?),
        (_, other) => {
            return Err(format!(
                "{column}: a stored {:?} value where {} belongs",
                other.data_type(),
                kind.name()
            ));
        }
    })
}

impl TablesStore {
    /// The store of `dir` (which need not exist yet); `page_rows` rows per `read_rows` page.
    pub fn new(dir: PathBuf, page_rows: usize) -> TablesStore {
        TablesStore {
            dir,
            page_rows: page_rows.max(1),
            conn: Mutex::new(None),
        }
    }

    /// The database file.
    pub fn path(&self) -> PathBuf {
        self.dir.join(TABLES_FILE)
    }

    /// The connection, opening the database (and with `create`, creating it and its tables)
    /// first. `None` when it does not exist and `create` is false.
    fn connection(
        &self,
        op: &str,
        create: bool,
    ) -> Result<Option<MutexGuard<'_, Option<Connection>>>, PluginError> {
        let path = self.path();
        crate::sqlite::connection(&self.conn, &self.dir, &path, op, create, |conn| {
            let mut schema = String::new();
            for table in AggregatorTable::ALL {
                schema.push_str(&create_sql(table));
                schema.push(';');
            }
            conn.execute_batch(&schema)
                .map_err(|e| failed(op, &path, format!("creating the tables: {e}")))
        })
    }

    /// Inserts the rows whose key is not stored yet, in one transaction.
    pub fn insert_rows(&self, request: &InsertRowsRequest) -> Result<InsertedRows, PluginError> {
        const OP: &str = "insert_rows";
        let table = request.table;
        let columns = table.columns();
        let mut values = Vec::with_capacity(request.rows.len());
        for (i, row) in request.rows.iter().enumerate() {
            table
                .check_row(row)
                .map_err(|e| bad(OP, format!("row {}: {e}", i + 1)))?;
            let cells = columns
                .iter()
                .map(|c| to_sql(c.kind, c.name, row.get(c.name)))
                .collect::<Result<Vec<Sql>, String>>()
                .map_err(|e| bad(OP, format!("row {}: {}: {e}", i + 1, table.name())))?;
            values.push(cells);
        }
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
        let mut inserted = 0u64;
        {
            let names: Vec<String> = columns.iter().map(|c| ident(c.name)).collect();
            let marks: Vec<String> = (1..=columns.len()).map(|i| format!("?{i}")).collect();
            let mut stmt = tx
                .prepare(&format!(
                    "INSERT INTO {} ({}) VALUES ({}) ON CONFLICT DO NOTHING",
                    ident(table.name()),
                    names.join(", "),
                    marks.join(", ")
                ))
                .map_err(err)?;
            for cells in &values {
                inserted += stmt.execute(params_from_iter(cells.iter())).map_err(err)? as u64;
            }
        }
        tx.commit().map_err(err)?;
        Ok(InsertedRows {
            inserted,
            skipped: values.len() as u64 - inserted,
        })
    }

    /// The uploaders' window of a job-run table.
    pub fn upload_window(
        &self,
        request: &UploadWindowRequest,
    ) -> Result<UploadWindow, PluginError> {
        const OP: &str = "upload_window";
        let table = request.table;
        if !table.is_job_run_table() {
            return Err(bad(OP, format!("{} is not a job-run table", table.name())));
        }
        let after = micros("started_after", &request.started_after).map_err(|e| bad(OP, e))?;
        let given_since = request
            .since
            .as_deref()
            .map(|s| micros("since", s))
            .transpose()
            .map_err(|e| bad(OP, e))?;
        let path = self.path();
        let err = |e: rusqlite::Error| failed(OP, &path, e);
        let Some(guard) = self.connection(OP, false)? else {
            let since = given_since.unwrap_or(after);
            return Ok(UploadWindow {
                last_end_time: None,
                since: rfc3339(since).map_err(|e| bad(OP, e))?,
                run_ids: Vec::new(),
            });
        };
        let Some(conn) = guard.as_ref() else {
            return Err(failed(OP, &path, "no connection"));
        };
        let name = ident(table.name());
        let last: Option<i64> = conn
            .query_row(
                &format!(
                    "SELECT max(\"JobRunEndTime\") FROM {name} WHERE \"JobRunStartTime\" > ?1"
                ),
                [after],
                |row| row.get(0),
            )
            .map_err(err)?;
        let margin = i64::try_from(request.margin_seconds)
            .unwrap_or(i64::MAX / 2_000_000)
            .saturating_mul(1_000_000);
        let since = given_since.unwrap_or(match last {
            Some(last) => last.saturating_sub(margin),
            None => after,
        });
        let mut stmt = conn
            .prepare(&format!(
                "SELECT DISTINCT \"JobRunName\" FROM {name} WHERE \"JobRunEndTime\" >= ?1
                 ORDER BY 1"
            ))
            .map_err(err)?;
        let run_ids = stmt
            .query_map([since], |row| row.get::<_, String>(0))
            .map_err(err)?
            .collect::<Result<Vec<String>, _>>()
            .map_err(err)?;
        Ok(UploadWindow {
            last_end_time: last
                .map(rfc3339)
                .transpose()
                .map_err(|e| failed(OP, &path, e))?,
            since: rfc3339(since).map_err(|e| bad(OP, e))?,
            run_ids,
        })
    }

    /// One page of a table's rows in key order.
    pub fn read_rows(&self, request: &ReadRowsRequest) -> Result<RowPage, PluginError> {
        const OP: &str = "read_rows";
        let table = request.table;
        let mut filters = Vec::new();
        let mut params: Vec<Sql> = Vec::new();
        if let Some(job) = &request.job {
            let column = table.job_column().ok_or_else(|| {
                bad(
                    OP,
                    format!("{} has no job column to filter on", table.name()),
                )
            })?;
            params.push(Sql::Text(job.clone()));
            filters.push(format!("{} = ?{}", ident(column), params.len()));
        }
        for (bound, op) in [(&request.since, ">="), (&request.until, "<")] {
            let Some(text) = bound else { continue };
            let column = table
                .time_column()
                .ok_or_else(|| bad(OP, format!("{} has no time column to window", table.name())))?;
            params.push(Sql::Integer(
                micros("the window", text).map_err(|e| bad(OP, e))?,
            ));
            filters.push(format!("{} {op} ?{}", ident(column), params.len()));
        }
        let key = table.key();
        if let Some(cursor) = &request.cursor {
            let after: Vec<String> = serde_json::from_str(cursor)
                .ok()
                .filter(|k: &Vec<String>| k.len() == key.len())
                .ok_or_else(|| bad(OP, format!("bad cursor {cursor:?}")))?;
            let first = params.len() + 1;
            params.extend(after.into_iter().map(Sql::Text));
            let marks: Vec<String> = (first..first + key.len())
                .map(|i| format!("?{i}"))
                .collect();
            let names: Vec<String> = key.iter().map(|k| ident(k)).collect();
            filters.push(format!("({}) > ({})", names.join(", "), marks.join(", ")));
        }
        let path = self.path();
        let err = |e: rusqlite::Error| failed(OP, &path, e);
        let Some(guard) = self.connection(OP, false)? else {
            return Ok(RowPage::default());
        };
        let Some(conn) = guard.as_ref() else {
            return Err(failed(OP, &path, "no connection"));
        };
        let columns = table.columns();
        let names: Vec<String> = columns.iter().map(|c| ident(c.name)).collect();
        let order: Vec<String> = key.iter().map(|k| ident(k)).collect();
        params.push(Sql::Integer(self.page_rows as i64 + 1));
        let sql = format!(
            "SELECT {} FROM {} {} ORDER BY {} LIMIT ?{}",
            names.join(", "),
            ident(table.name()),
            if filters.is_empty() {
                String::new()
            } else {
                format!("WHERE {}", filters.join(" AND "))
            },
            order.join(", "),
            params.len()
        );
        let mut stmt = conn.prepare(&sql).map_err(err)?;
        let mut result = stmt.query(params_from_iter(params.iter())).map_err(err)?;
        let mut rows = Vec::new();
        while let Some(sql_row) = result.next().map_err(err)? {
            let mut row = Row::new();
            for (i, c) in columns.iter().enumerate() {
                let cell = sql_row.get_ref(i).map_err(err)?;
                let value = from_sql(c.kind, c.name, cell)
                    .map_err(|e| failed(OP, &path, format!("{}: {e}", table.name())))?;
                row.insert(c.name.to_owned(), value);
            }
            rows.push(row);
        }
        let next_cursor = if rows.len() > self.page_rows {
            rows.truncate(self.page_rows);
            let last = rows.last().map(|r| table.key_of(r)).unwrap_or_default();
            Some(serde_json::to_string(&last).map_err(|e| failed(OP, &path, e))?)
        } else {
            None
        };
        Ok(RowPage { rows, next_cursor })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_table_is_created_with_its_key() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = TablesStore::new(dir.path().to_path_buf(), 2);
        let request = ReadRowsRequest {
            table: AggregatorTable::Jobs,
            job: None,
            since: None,
            until: None,
            cursor: None,
        };
        assert_eq!(
            store.read_rows(&request).expect("no database yet"),
            RowPage::default()
        );
        for table in AggregatorTable::ALL {
            let sql = create_sql(table);
            for key in table.key() {
                assert!(sql.contains(&format!("\"{key}\" TEXT NOT NULL")), "{sql}");
            }
        }
        let rows: Vec<Row> = ["c", "a", "b"]
            .iter()
            .map(|n| flakewatch_plugin_sdk::kit::row(&[("JobName", Value::from(*n))]))
            .collect();
        let inserted = store
            .insert_rows(&InsertRowsRequest {
                table: AggregatorTable::Jobs,
                rows,
            })
            .expect("insert");
        assert_eq!(inserted.inserted, 3);
        let first = store.read_rows(&request).expect("page 1");
        assert_eq!(first.rows.len(), 2);
        assert_eq!(first.rows[0]["JobName"], "a");
        assert_eq!(first.next_cursor.as_deref(), Some("[\"b\"]"));
        let second = store
            .read_rows(&ReadRowsRequest {
                cursor: first.next_cursor,
                ..request
            })
            .expect("page 2");
        assert_eq!(second.rows.len(), 1);
        assert_eq!(second.rows[0]["JobName"], "c");
        assert_eq!(second.next_cursor, None);
    }
}

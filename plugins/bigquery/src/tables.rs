//! The job-run-aggregator's tables over BigQuery (capability `aggregator_tables`): the seven
//! tables with upstream's names and columns (the SDK's [`AggregatorTable::columns`]), created
//! when missing, `BackendDisruption` and `Alerts` partitioned by day of `JobRunStartTime` as
//! upstream's are.
//!
//! **Writes.** BigQuery has no unique keys. An insert first asks which of the rows' keys are
//! stored (one parameterized query per 10,000 keys, the key as one string, see [`key_sql`]),
//! drops those and repeats within the request, and writes the rest: with a **load job**
//! (`jobs.insert` through the upload endpoint, the rows as newline-delimited JSON, a job id
//! derived from the rows so that a retried request runs once) when there are at least
//! `load-rows` of them (500), else with `tabledata.insertAll` and an `insertId` derived from
//! the table and the key. Load jobs are free and atomic; streaming is quick for a few rows.
//!
//! **Reads** keep one copy per key (`ROW_NUMBER() OVER (PARTITION BY key) = 1`), as the
//! results tables' do: two uploads racing past the key check, or a streamed row BigQuery did
//! not de-duplicate (the emulator never does), are still read once. Pages are cut by key
//! (`ROW_NUMBER() OVER (ORDER BY key) <= @page` after the cursor's `WHERE`).

use std::collections::BTreeSet;
use std::sync::Mutex;

use flakewatch_plugin_sdk::model::{
    AggregatorTable, ColumnType, InsertRowsRequest, InsertedRows, ReadRowsRequest, Row, RowPage,
    UploadWindow, UploadWindowRequest,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::client::{Error, Param};
use crate::results::{Store, StoreError, micros, timestamp_text};
use crate::value;

/// Keys asked about per query.
const KEYS_PER_QUERY: usize = 10_000;

/// Names of the cursor's parameters, one per key column (at most four).
const CURSOR_PARAMS: [&str; 4] = ["c0", "c1", "c2", "c3"];

/// A table's schema fields in BigQuery's form (key columns `REQUIRED`).
pub fn fields(table: AggregatorTable) -> Value {
    Value::Array(
        table
            .columns()
            .iter()
            .map(|c| {
                json!({
                    "name": c.name,
                    "type": c.kind.name(),
                    "mode": if table.key().contains(&c.name) { "REQUIRED" } else { "NULLABLE" },
                })
            })
            .collect(),
    )
}

/// The key of a row as one string, the same in Rust and in SQL: each key column as its length
/// in characters, `:`, and its text, the columns joined (so no two keys share a string).
pub fn key_string(parts: &[String]) -> String {
    parts
        .iter()
        .map(|p| format!("{}:{p}", p.chars().count()))
        .collect()
}

/// [`key_string`] in SQL over the key columns of `table`.
pub fn key_sql(table: AggregatorTable) -> String {
    let parts: Vec<String> = table
        .key()
        .iter()
        .map(|k| format!("CAST(CHAR_LENGTH({k}) AS STRING), ':', {k}"))
        .collect();
    format!("CONCAT({})", parts.join(", "))
}

fn sha_hex(parts: &[&[u8]], n: usize) -> String {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part);
    }
    hash.finalize()
        .iter()
        .take(n)
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn bad(message: impl Into<String>) -> StoreError {
    StoreError::BadRequest(message.into())
}

/// The aggregator tables of a store's dataset.
#[derive(Debug)]
pub struct Tables {
    /// Whether the dataset and the tables are known to exist.
    ready: Mutex<bool>,
    /// Rows from which a load job is used instead of streaming.
    load_rows: usize,
    /// Rows per `read_rows` page.
    page_rows: usize,
}

impl Tables {
    /// The tables; loads from `load_rows` rows on, pages of `page_rows`.
    pub fn new(load_rows: usize, page_rows: usize) -> Tables {
        Tables {
            ready: Mutex::new(false),
            load_rows: load_rows.max(1),
            page_rows: page_rows.max(1),
        }
    }

    /// Makes sure the dataset and every table exist; with `create` false only tells whether
    /// they do.
    fn ensure(&self, store: &Store, create: bool) -> Result<bool, Error> {
        let mut ready = self.ready.lock().unwrap_or_else(|e| e.into_inner());
        if *ready {
            return Ok(true);
        }
        let client = store.client();
        let dataset = store.dataset();
        if !client.dataset_exists(dataset)? {
            if !create {
                return Ok(false);
            }
            client.create_dataset(dataset)?;
        }
        for table in AggregatorTable::ALL {
            if client.table_exists(dataset, table.name())? {
                continue;
            }
            if !create {
                return Ok(false);
            }
            let mut body = json!({
                "tableReference": {
                    "projectId": client.project(), "datasetId": dataset, "tableId": table.name()
                },
                "schema": {"fields": fields(table)},
            });
            if table.is_job_run_table() {
                body["timePartitioning"] = json!({"type": "DAY", "field": "JobRunStartTime"});
            }
            client.create_table_body(dataset, &body)?;
        }
        *ready = true;
        Ok(true)
    }

    /// The keys among `keys` (key strings) that the table holds.
    fn stored_keys(
        &self,
        store: &Store,
        table: AggregatorTable,
        keys: &[String],
    ) -> Result<BTreeSet<String>, Error> {
        let mut found = BTreeSet::new();
        for chunk in keys.chunks(KEYS_PER_QUERY) {
            let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
            let rows = store.query(
                &format!(
                    "SELECT DISTINCT k FROM (SELECT {key} AS k FROM {t}) WHERE k IN UNNEST(@keys)",
                    key = key_sql(table),
                    t = store.table(table.name()),
                ),
                &[Param::strings("keys", &refs)],
            )?;
            for row in &rows.rows {
                if let Some(k) = row.first().map(|c| value::required_string("k", c)) {
                    found.insert(k?);
                }
            }
        }
        Ok(found)
    }

    /// Inserts the rows whose key is not stored.
    pub fn insert_rows(
        &self,
        store: &Store,
        request: &InsertRowsRequest,
    ) -> Result<InsertedRows, StoreError> {
        let table = request.table;
        for (i, row) in request.rows.iter().enumerate() {
            table
                .check_row(row)
                .map_err(|e| bad(format!("row {}: {e}", i + 1)))?;
        }
        // No rows: the tables are created (`create-releases`), nothing else.
        self.ensure(store, true)?;
        if request.rows.is_empty() {
            return Ok(InsertedRows::default());
        }
        let keyed: Vec<(String, &Row)> = request
            .rows
            .iter()
            .map(|r| (key_string(&table.key_of(r)), r))
            .collect();
        let mut keys: Vec<String> = keyed.iter().map(|(k, _)| k.clone()).collect();
        keys.sort();
        keys.dedup();
        let stored = self.stored_keys(store, table, &keys)?;
        let mut seen = BTreeSet::new();
        let new: Vec<(&String, &Row)> = keyed
            .iter()
            .filter(|(k, _)| !stored.contains(k) && seen.insert(k.clone()))
            .map(|(k, r)| (k, *r))
            .collect();
        let client = store.client();
        if new.len() >= self.load_rows {
            let mut ndjson = Vec::new();
            for (_, row) in &new {
                serde_json::to_writer(&mut ndjson, row)
                    .map_err(|e| StoreError::Client(Error::BadAnswer(format!("encoding: {e}"))))?;
                ndjson.push(b'\n');
            }
            let job_id = format!(
                "flakewatch_load_{}",
                sha_hex(&[table.name().as_bytes(), &ndjson], 20)
            );
            client.load_json(
                store.dataset(),
                table.name(),
                &fields(table),
                &job_id,
                &ndjson,
            )?;
        } else if !new.is_empty() {
            let rows: Vec<(String, Value)> = new
                .iter()
                .map(|(k, r)| {
                    (
                        sha_hex(&[table.name().as_bytes(), k.as_bytes()], 24),
                        Value::Object((*r).clone()),
                    )
                })
                .collect();
            client.insert_all(store.dataset(), table.name(), &rows)?;
        }
        Ok(InsertedRows {
            inserted: new.len() as u64,
            skipped: (request.rows.len() - new.len()) as u64,
        })
    }

    /// Upstream's window of a job-run table.
    pub fn upload_window(
        &self,
        store: &Store,
        request: &UploadWindowRequest,
    ) -> Result<UploadWindow, StoreError> {
        let table = request.table;
        if !table.is_job_run_table() {
            return Err(bad(format!("{} is not a job-run table", table.name())));
        }
        let after = micros("started_after", &request.started_after)?;
        let given = request
            .since
            .as_deref()
            .map(|s| micros("since", s))
            .transpose()?;
        if !self.ensure(store, false)? {
            return Ok(UploadWindow {
                last_end_time: None,
                since: timestamp_text(given.unwrap_or(after))?,
                run_ids: Vec::new(),
            });
        }
        let t = store.table(table.name());
        let rows = store.query(
            &format!(
                "SELECT MAX(JobRunEndTime) AS last FROM {t}
                 WHERE JobRunStartTime > TIMESTAMP_MICROS(@after_us)"
            ),
            &[Param::int("after_us", Some(after))],
        )?;
        let last = match rows.rows.first().and_then(|r| r.first()) {
            Some(cell) => value::timestamp_micros("last", cell)?,
            None => None,
        };
        let margin = i64::try_from(request.margin_seconds)
            .unwrap_or(i64::MAX / 2_000_000)
            .saturating_mul(1_000_000);
        let since = given.unwrap_or(match last {
            Some(last) => last.saturating_sub(margin),
            None => after,
        });
        let rows = store.query(
            &format!(
                "SELECT DISTINCT JobRunName FROM {t}
                 WHERE JobRunEndTime >= TIMESTAMP_MICROS(@since_us) ORDER BY JobRunName"
            ),
            &[Param::int("since_us", Some(since))],
        )?;
        let run_ids = rows
            .rows
            .iter()
            .filter_map(|r| r.first())
            .map(|c| value::required_string("JobRunName", c))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(UploadWindow {
            last_end_time: last.map(timestamp_text).transpose()?,
            since: timestamp_text(since)?,
            run_ids,
        })
    }

    /// One page of a table's rows, one per key, in key order.
    pub fn read_rows(
        &self,
        store: &Store,
        request: &ReadRowsRequest,
    ) -> Result<RowPage, StoreError> {
        let table = request.table;
        let key = table.key();
        let mut params = vec![Param::int("page", Some(self.page_rows as i64 + 1))];
        let mut filters = vec!["TRUE".to_owned()];
        if let Some(job) = &request.job {
            let column = table
                .job_column()
                .ok_or_else(|| bad(format!("{} has no job column to filter on", table.name())))?;
            params.push(Param::string("job", Some(job)));
            filters.push(format!("{column} = @job"));
        }
        for (name, bound, op) in [
            ("since_us", &request.since, ">="),
            ("until_us", &request.until, "<"),
        ] {
            let Some(text) = bound else { continue };
            let column = table
                .time_column()
                .ok_or_else(|| bad(format!("{} has no time column to window", table.name())))?;
            params.push(Param::int(name, Some(micros("the window", text)?)));
            filters.push(format!("{column} {op} TIMESTAMP_MICROS(@{name})"));
        }
        let mut after = "TRUE".to_owned();
        if let Some(cursor) = &request.cursor {
            let parts: Vec<String> = serde_json::from_str(cursor)
                .ok()
                .filter(|k: &Vec<String>| k.len() == key.len() && k.len() <= CURSOR_PARAMS.len())
                .ok_or_else(|| bad(format!("bad cursor {cursor:?}")))?;
            // (k0, k1, …) > (@c0, @c1, …), spelled out.
            let mut expr = String::from("FALSE");
            for i in (0..key.len()).rev() {
                let equal: Vec<String> = (0..i)
                    .map(|j| format!("{} = @{}", key[j], CURSOR_PARAMS[j]))
                    .chain(std::iter::once(format!(
                        "{} > @{}",
                        key[i], CURSOR_PARAMS[i]
                    )))
                    .collect();
                expr = format!("({}) OR {expr}", equal.join(" AND "));
            }
            after = expr;
            for (i, part) in parts.iter().enumerate() {
                params.push(Param::string(CURSOR_PARAMS[i], Some(part)));
            }
        }
        if !self.ensure(store, false)? {
            return Ok(RowPage::default());
        }
        let columns = table.columns();
        let names: Vec<&str> = columns.iter().map(|c| c.name).collect();
        let order = key.join(", ");
        let sql = format!(
            "WITH one AS (
               SELECT * FROM (
                 SELECT {cols}, ROW_NUMBER() OVER (PARTITION BY {order}) AS copy
                 FROM {t} WHERE {filters}
               ) WHERE copy = 1 AND ({after})
             ), paged AS (
               SELECT {cols}, ROW_NUMBER() OVER (ORDER BY {order}) AS n FROM one
             )
             SELECT {cols} FROM paged WHERE n <= @page ORDER BY n",
            cols = names.join(", "),
            t = store.table(table.name()),
            filters = filters.join(" AND "),
        );
        let result = store.query(&sql, &params)?;
        let mut rows = Vec::with_capacity(result.rows.len());
        for cells in &result.rows {
            let mut row = Row::new();
            for (c, cell) in columns.iter().zip(cells) {
                let v = match c.kind {
                    ColumnType::String => value::string(c.name, cell)?.map(Value::String),
                    ColumnType::Int64 => value::int(c.name, cell)?.map(Value::from),
                    ColumnType::Bool => value::boolean(c.name, cell)?.map(Value::Bool),
                    ColumnType::Timestamp => value::timestamp_micros(c.name, cell)?
                        .map(timestamp_text)
                        .transpose()?
                        .map(Value::String),
                };
                row.insert(c.name.to_owned(), v.unwrap_or(Value::Null));
            }
            rows.push(row);
        }
        let next_cursor = if rows.len() > self.page_rows {
            rows.truncate(self.page_rows);
            let last = rows.last().map(|r| table.key_of(r)).unwrap_or_default();
            Some(
                serde_json::to_string(&last)
                    .map_err(|e| StoreError::Client(Error::BadAnswer(format!("encoding: {e}"))))?,
            )
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
    fn key_strings_never_collide() {
        let a = key_string(&["ab".to_owned(), "c".to_owned()]);
        let b = key_string(&["a".to_owned(), "bc".to_owned()]);
        assert_ne!(a, b);
        assert_eq!(a, "2:ab1:c");
        assert_eq!(key_string(&["\u{e9}".to_owned()]), "1:\u{e9}");
        assert!(key_sql(AggregatorTable::Jobs).contains("CHAR_LENGTH(JobName)"));
    }
}

//! A plugin instance as the job-run-aggregator's tables (capability `aggregator_tables`):
//! inserts in bounded batches, the uploaders' window, and whole listings over the pages,
//! checked (rows of the table asked for, keys in order and never twice, no cursor twice).

use std::collections::BTreeSet;
use std::sync::Arc;

use flakewatch_plugin_sdk::model::{
    AggregatorTable, Capability, Config, InsertRowsRequest, InsertedRows, ReadRowsRequest, Row,
    RowPage, UploadWindow, UploadWindowRequest,
};

use super::{
    CallFailure, HostError, InstanceOperation as Operation, PluginInstance, PluginLibrary,
};

/// Rows sent per `insert_rows` call.
pub const INSERT_BATCH: usize = 5_000;

/// Most pages a listing may have before the host decides the plugin is looping.
const MAX_PAGES: usize = 1_000_000;

/// A plugin instance used as the aggregator's tables.
#[derive(Debug)]
pub struct PluginTables {
    instance: PluginInstance,
    name: String,
}

impl PluginTables {
    /// Creates an instance of `library` with `config`; fails unless the plugin declares the
    /// `aggregator_tables` capability.
    pub fn new(library: &Arc<PluginLibrary>, config: &Config) -> Result<PluginTables, HostError> {
        let info = library.info();
        if !info.capabilities.contains(&Capability::AggregatorTables) {
            return Err(super::missing_capability(
                library,
                Capability::AggregatorTables,
            ));
        }
        Ok(PluginTables {
            name: info.name.clone(),
            instance: library.instantiate(config)?,
        })
    }

    /// The plugin's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn invalid(&self, operation: Operation, message: impl Into<String>) -> HostError {
        HostError::Call {
            plugin: self.name.clone(),
            path: self.instance.library().path().to_path_buf(),
            operation: operation.name(),
            failure: CallFailure::BadResponse,
            message: message.into(),
        }
    }

    /// Inserts `rows` into `table` in batches of [`INSERT_BATCH`]; rows whose key is stored
    /// already are skipped by the plugin. The counts are summed over the batches.
    pub fn insert(&self, table: AggregatorTable, rows: &[Row]) -> Result<InsertedRows, HostError> {
        let mut total = InsertedRows::default();
        for batch in rows.chunks(INSERT_BATCH) {
            let answer: InsertedRows = self.instance.call(
                Operation::InsertRows,
                &InsertRowsRequest {
                    table,
                    rows: batch.to_vec(),
                },
            )?;
            if answer.inserted + answer.skipped != batch.len() as u64 {
                return Err(self.invalid(
                    Operation::InsertRows,
                    format!(
                        "{} rows sent, {} inserted and {} skipped",
                        batch.len(),
                        answer.inserted,
                        answer.skipped
                    ),
                ));
            }
            total.inserted += answer.inserted;
            total.skipped += answer.skipped;
        }
        Ok(total)
    }

    /// Creates the store's tables when they are missing (an insert of no rows).
    pub fn create_tables(&self) -> Result<(), HostError> {
        let _: InsertedRows = self.instance.call(
            Operation::InsertRows,
            &InsertRowsRequest {
                table: AggregatorTable::ReleaseTags,
                rows: Vec::new(),
            },
        )?;
        Ok(())
    }

    /// The uploaders' de-duplication window of a job-run table.
    pub fn upload_window(&self, request: &UploadWindowRequest) -> Result<UploadWindow, HostError> {
        self.instance.call(Operation::UploadWindow, request)
    }

    /// Every row `request` selects (its cursor is ignored), following the pages.
    pub fn read_all(&self, request: &ReadRowsRequest) -> Result<Vec<Row>, HostError> {
        let table = request.table;
        let mut rows = Vec::new();
        let mut last_key: Option<Vec<String>> = None;
        let mut cursors = BTreeSet::new();
        let mut cursor = None;
        for _ in 0..MAX_PAGES {
            let page: RowPage = self.instance.call(
                Operation::ReadRows,
                &ReadRowsRequest {
                    cursor,
                    ..request.clone()
                },
            )?;
            for row in page.rows {
                table
                    .check_row(&row)
                    .map_err(|e| self.invalid(Operation::ReadRows, e))?;
                let key = table.key_of(&row);
                if last_key.as_ref().is_some_and(|last| *last >= key) {
                    return Err(self.invalid(
                        Operation::ReadRows,
                        format!(
                            "{}: row {key:?} is out of key order or listed twice",
                            table.name()
                        ),
                    ));
                }
                last_key = Some(key);
                rows.push(row);
            }
            match page.next_cursor {
                None => return Ok(rows),
                Some(next) if !cursors.insert(next.clone()) => {
                    return Err(self.invalid(
                        Operation::ReadRows,
                        format!("the listing does not end (cursor {next:?} again)"),
                    ));
                }
                Some(next) => cursor = Some(next),
            }
        }
        Err(self.invalid(Operation::ReadRows, format!("more than {MAX_PAGES} pages")))
    }

    /// The stored `BackendDisruption` rows, of `job` when given: the raw history that
    /// `aggregate --disruption-history` computes its statistics from.
    pub fn disruption_rows(&self, job: Option<&str>) -> Result<Vec<Row>, HostError> {
        self.read_all(&ReadRowsRequest {
            table: AggregatorTable::BackendDisruption,
            job: job.map(str::to_owned),
            since: None,
            until: None,
            cursor: None,
        })
    }
}

//! The SQLite databases of a data directory (`results.sqlite`, `aggregator.sqlite`): one
//! connection per store, opened on first use in WAL mode with full sync, the directory lock
//! serialising first opens, and the store's own schema step run once.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use flakewatch_plugin_sdk::PluginError;
use rusqlite::{Connection, OpenFlags};

use crate::store::DirLock;

/// How long a writer waits for another process's transaction.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// A failed operation on the database at `path`.
pub(crate) fn failed(op: &str, path: &Path, e: impl std::fmt::Display) -> PluginError {
    PluginError::failed(format!("files backend: {op}: {}: {e}", path.display()))
}

/// The connection in `conn`, opening the database at `path` in `dir` first when there is none:
/// with `create`, creating the directory and the file; then `schema` runs on the new
/// connection (creating or migrating the store's tables; its error is reported as is).
/// `None` when the database does not exist and `create` is false.
pub(crate) fn connection<'c>(
    conn: &'c Mutex<Option<Connection>>,
    dir: &Path,
    path: &Path,
    op: &str,
    create: bool,
    schema: impl FnOnce(&mut Connection) -> Result<(), PluginError>,
) -> Result<Option<MutexGuard<'c, Option<Connection>>>, PluginError> {
    let mut guard = conn
        .lock()
        .map_err(|_| failed(op, path, "connection state poisoned"))?;
    if guard.is_some() {
        return Ok(Some(guard));
    }
    if !path.exists() {
        if !create {
            return Ok(None);
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| failed(op, path, format!("creating the data directory: {e}")))?;
    }
    // Opening switches the database to WAL and creates or migrates its tables: steps SQLite
    // answers "locked" to at once, without waiting, when another connection does them at the
    // same time. The directory lock serialises first opens (a reader that cannot take it goes
    // on without).
    let _lock = match DirLock::acquire(dir) {
        Ok(lock) => Some(lock),
        Err(e) if create => return Err(failed(op, path, e)),
        Err(_) => None,
    };
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let mut db = Connection::open_with_flags(path, flags).map_err(|e| failed(op, path, e))?;
    db.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| failed(op, path, e))?;
    let mode: String = db
        .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
        .map_err(|e| failed(op, path, e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(failed(
            op,
            path,
            format!("cannot switch to WAL mode (journal mode is {mode})"),
        ));
    }
    db.execute_batch("PRAGMA synchronous = FULL")
        .map_err(|e| failed(op, path, e))?;
    schema(&mut db)?;
    *guard = Some(db);
    Ok(Some(guard))
}

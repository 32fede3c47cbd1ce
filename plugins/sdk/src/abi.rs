//! The C ABI between the flakewatch host and a plugin library: one exported entry symbol that
//! returns a static, versioned `#[repr(C)]` table of `extern "C"` functions.
//!
//! Rules of the contract (see `docs/plugin-abi.md`):
//!
//! * The host reads [`PluginTable::abi_version`] first and stops unless it equals
//!   [`ABI_VERSION`]. Then it reads [`PluginTable::table_size`] and stops if it is below
//!   [`TABLE_SIZE_V1`], the frozen size of the version-1 table. Only then does it touch the
//!   function pointers, at the offsets pinned below.
//! * The version-1 entries are required: none may be null. Entries are only ever appended,
//!   after them, as nullable [`OptionalCallFn`]s; the host reads an appended entry only when
//!   the plugin's `table_size` covers it ([`InstanceOperation::entry_end`]), so a plugin built
//!   against an older SDK keeps loading, and its missing entries are "not supported". A new
//!   entry bumps nothing; a changed entry bumps [`ABI_VERSION`] and the entry symbol's suffix.
//! * Data crosses as byte buffers with an encoding tag ([`encoding`]). Requests are borrowed
//!   from the host ([`FfiSlice`]); responses are allocated by the plugin ([`FfiBuffer`]) and
//!   handed back to the plugin's own [`PluginTable::free_buffer`].
//! * Every function returns a [`status`] code. On an error the response buffer holds a UTF-8
//!   message. No panic crosses the boundary: the SDK's glue catches it and reports
//!   [`status::PANIC`].

use std::ffi::c_void;

/// The ABI version this SDK speaks. The host refuses any other.
pub const ABI_VERSION: u32 = 1;

/// [`ENTRY_SYMBOL`] with a trailing NUL, as dynamic loaders want it; the one place the name
/// is written (the export macro's function carries the same name, checked by a test).
pub const ENTRY_SYMBOL_NUL: &[u8] = b"flakewatch_plugin_v1\0";

/// The name of the exported entry function (without a trailing NUL).
pub const ENTRY_SYMBOL: &str =
    match std::str::from_utf8(ENTRY_SYMBOL_NUL.split_last().expect("not empty").1) {
        Ok(name) => name,
        Err(_) => panic!("the entry symbol is ASCII"),
    };

/// Encoding tags of the payloads.
pub mod encoding {
    /// Plain UTF-8 text (error messages).
    pub const UTF8: u32 = 0;
    /// A JSON document (UTF-8) of the types in [`crate::model`].
    pub const JSON: u32 = 1;
}

/// Status codes returned by every function of the table.
pub mod status {
    /// Success; the response buffer holds the result.
    pub const OK: i32 = 0;
    /// The operation failed; the response buffer holds a UTF-8 message.
    pub const ERROR: i32 = 1;
    /// The plugin does not implement this operation.
    pub const UNSUPPORTED: i32 = 2;
    /// The plugin panicked; the panic was caught, the message is in the response buffer.
    pub const PANIC: i32 = 3;
    /// The request could not be decoded (wrong encoding, malformed document).
    pub const BAD_REQUEST: i32 = 4;
}

/// Bytes borrowed from the caller for the duration of one call.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct FfiSlice {
    /// Start of the bytes; may be null when `len` is 0.
    pub ptr: *const u8,
    /// Number of bytes.
    pub len: usize,
    /// How the bytes are encoded ([`encoding`]).
    pub encoding: u32,
}

impl FfiSlice {
    /// A slice over `bytes` (which must outlive the call it is passed to).
    pub fn new(bytes: &[u8], encoding: u32) -> FfiSlice {
        FfiSlice {
            ptr: bytes.as_ptr(),
            len: bytes.len(),
            encoding,
        }
    }
}

/// Bytes allocated by the plugin and owned by the caller until it passes them to the
/// plugin's [`PluginTable::free_buffer`]. An empty buffer has a null pointer.
#[repr(C)]
#[derive(Debug)]
pub struct FfiBuffer {
    /// Start of the bytes, or null.
    pub ptr: *mut u8,
    /// Number of bytes.
    pub len: usize,
    /// Allocated capacity (for the plugin's deallocation).
    pub capacity: usize,
    /// How the bytes are encoded ([`encoding`]).
    pub encoding: u32,
}

impl FfiBuffer {
    /// The empty buffer: nothing to free.
    pub const EMPTY: FfiBuffer = FfiBuffer {
        ptr: std::ptr::null_mut(),
        len: 0,
        capacity: 0,
        encoding: encoding::UTF8,
    };
}

/// The exported entry function: returns the plugin's static table (never null in a
/// well-formed plugin). It must not panic.
pub type EntryFn = unsafe extern "C" fn() -> *const PluginTable;

/// Writes the plugin's [`PluginInfo`](crate::model::PluginInfo) (JSON) into `out`.
pub type DescribeFn = unsafe extern "C" fn(out: *mut FfiBuffer) -> i32;

/// Creates an instance from a [`Config`](crate::model::Config) (JSON). On success the
/// instance handle is written to `instance`; on failure `out` holds the message.
pub type CreateFn =
    unsafe extern "C" fn(config: FfiSlice, instance: *mut *mut c_void, out: *mut FfiBuffer) -> i32;

/// Destroys an instance made by [`CreateFn`]. Called exactly once per instance.
pub type DestroyFn = unsafe extern "C" fn(instance: *mut c_void);

/// Frees a buffer the plugin allocated.
pub type FreeFn = unsafe extern "C" fn(buffer: FfiBuffer);

/// One operation on an instance: a request document in, a response document (or an error
/// message) out.
pub type CallFn =
    unsafe extern "C" fn(instance: *mut c_void, request: FfiSlice, out: *mut FfiBuffer) -> i32;

/// An entry appended after version 1: a [`CallFn`] or null (C's `NULL` function pointer)
/// when the plugin does not implement it. Same size and layout as [`CallFn`].
pub type OptionalCallFn = Option<CallFn>;

/// The table a plugin exports. Version 1 layout up to `list_builds` (frozen:
/// [`TABLE_SIZE_V1`], offsets pinned by const asserts), then the entries appended since, each
/// optional.
#[repr(C)]
#[derive(Debug)]
pub struct PluginTable {
    /// Must equal [`ABI_VERSION`]. Read before anything else.
    pub abi_version: u32,
    /// The size of the table the plugin exports, in bytes: at least [`TABLE_SIZE_V1`]; the
    /// host reads no entry beyond it. Read second.
    pub table_size: u32,
    /// Describes the plugin: name, version, capabilities.
    pub describe: DescribeFn,
    /// Creates an instance.
    pub create: CreateFn,
    /// Destroys an instance.
    pub destroy: DestroyFn,
    /// Frees a response buffer.
    pub free_buffer: FreeFn,
    /// Issue tracker: one page of issues ([`ListIssuesRequest`](crate::model::ListIssuesRequest)
    /// → [`IssuePage`](crate::model::IssuePage)).
    pub list_issues: CallFn,
    /// Issue tracker: the comments of one issue ([`CommentsRequest`](crate::model::CommentsRequest)
    /// → [`CommentPage`](crate::model::CommentPage)).
    pub issue_comments: CallFn,
    /// Issue tracker: create an issue ([`CreateIssueRequest`](crate::model::CreateIssueRequest)
    /// → [`CreatedIssue`](crate::model::CreatedIssue)).
    pub create_issue: CallFn,
    /// Issue tracker: add a comment ([`AddCommentRequest`](crate::model::AddCommentRequest) → `null`).
    pub add_comment: CallFn,
    /// Issue tracker: reopen a closed issue ([`ReopenIssueRequest`](crate::model::ReopenIssueRequest) → `null`).
    pub reopen_issue: CallFn,
    /// Failure source: one page of build results ([`ListBuildsRequest`](crate::model::ListBuildsRequest)
    /// → [`BuildPage`](crate::model::BuildPage)).
    pub list_builds: CallFn,
    // ---- Appended after version 1: optional, read only when `table_size` covers them. ----
    /// Issue tracker: close an open issue ([`CloseIssueRequest`](crate::model::CloseIssueRequest)
    /// → `null`). Appended in SDK 0.2.
    pub close_issue: OptionalCallFn,
    /// Issue tracker: take the tracker's cycle lock, so that one triage cycle at a time plans
    /// and applies against it ([`BeginCycleRequest`](crate::model::BeginCycleRequest) →
    /// [`CycleLock`](crate::model::CycleLock)). Appended in SDK 0.2.
    pub begin_cycle: OptionalCallFn,
    /// Issue tracker: release the cycle lock ([`EndCycleRequest`](crate::model::EndCycleRequest)
    /// → `null`). Appended in SDK 0.2.
    pub end_cycle: OptionalCallFn,
    /// Test results: store one run, idempotently by its key
    /// ([`StoreRunRequest`](crate::model::StoreRunRequest) →
    /// [`StoredRun`](crate::model::StoredRun)). Appended in SDK 0.3.
    pub store_run: OptionalCallFn,
    /// Test results: one page of a revision's runs
    /// ([`RevisionRunsRequest`](crate::model::RevisionRunsRequest) →
    /// [`RunPage`](crate::model::RunPage)). Appended in SDK 0.3.
    pub revision_runs: OptionalCallFn,
    /// Test results: a job's per-test history
    /// ([`TestHistoryRequest`](crate::model::TestHistoryRequest) →
    /// [`TestHistory`](crate::model::TestHistory)). Appended in SDK 0.3.
    pub test_history: OptionalCallFn,
    /// Aggregator tables: insert rows idempotently by their key
    /// ([`InsertRowsRequest`](crate::model::InsertRowsRequest) →
    /// [`InsertedRows`](crate::model::InsertedRows)). Appended in SDK 0.4.
    pub insert_rows: OptionalCallFn,
    /// Aggregator tables: the uploaders' de-duplication window of a job-run table
    /// ([`UploadWindowRequest`](crate::model::UploadWindowRequest) →
    /// [`UploadWindow`](crate::model::UploadWindow)). Appended in SDK 0.4.
    pub upload_window: OptionalCallFn,
    /// Aggregator tables: one page of a table's rows
    /// ([`ReadRowsRequest`](crate::model::ReadRowsRequest) →
    /// [`RowPage`](crate::model::RowPage)). Appended in SDK 0.4.
    pub read_rows: OptionalCallFn,
}

/// The size of a function pointer in the table.
const PTR: usize = std::mem::size_of::<CallFn>();

/// The size of the version-1 table, frozen: the two `u32` header fields and ten function
/// pointers (88 bytes on 64-bit targets). [`PluginTable::table_size`] must state at least this.
pub const TABLE_SIZE_V1: u32 = (8 + 10 * PTR) as u32;

/// The size of the table this SDK exports (every entry it knows).
pub const TABLE_SIZE: u32 = {
    let size = std::mem::size_of::<PluginTable>();
    assert!(size <= u32::MAX as usize);
    size as u32
};

// The version-1 layout is frozen: every entry where it has always been, and the optional
// entries only after it.
const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(size_of::<OptionalCallFn>() == PTR);
    assert!(offset_of!(PluginTable, abi_version) == 0);
    assert!(offset_of!(PluginTable, table_size) == 4);
    assert!(offset_of!(PluginTable, describe) == 8);
    assert!(offset_of!(PluginTable, create) == 8 + PTR);
    assert!(offset_of!(PluginTable, destroy) == 8 + 2 * PTR);
    assert!(offset_of!(PluginTable, free_buffer) == 8 + 3 * PTR);
    assert!(offset_of!(PluginTable, list_issues) == 8 + 4 * PTR);
    assert!(offset_of!(PluginTable, issue_comments) == 8 + 5 * PTR);
    assert!(offset_of!(PluginTable, create_issue) == 8 + 6 * PTR);
    assert!(offset_of!(PluginTable, add_comment) == 8 + 7 * PTR);
    assert!(offset_of!(PluginTable, reopen_issue) == 8 + 8 * PTR);
    assert!(offset_of!(PluginTable, list_builds) == 8 + 9 * PTR);
    assert!(offset_of!(PluginTable, close_issue) == TABLE_SIZE_V1 as usize);
    assert!(offset_of!(PluginTable, begin_cycle) == TABLE_SIZE_V1 as usize + PTR);
    assert!(offset_of!(PluginTable, end_cycle) == TABLE_SIZE_V1 as usize + 2 * PTR);
    assert!(offset_of!(PluginTable, store_run) == TABLE_SIZE_V1 as usize + 3 * PTR);
    assert!(offset_of!(PluginTable, revision_runs) == TABLE_SIZE_V1 as usize + 4 * PTR);
    assert!(offset_of!(PluginTable, test_history) == TABLE_SIZE_V1 as usize + 5 * PTR);
    assert!(offset_of!(PluginTable, insert_rows) == TABLE_SIZE_V1 as usize + 6 * PTR);
    assert!(offset_of!(PluginTable, upload_window) == TABLE_SIZE_V1 as usize + 7 * PTR);
    assert!(offset_of!(PluginTable, read_rows) == TABLE_SIZE_V1 as usize + 8 * PTR);
    assert!(TABLE_SIZE as usize == TABLE_SIZE_V1 as usize + 9 * PTR);
};

/// The operations of the library itself (not of an instance), in table order.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum LibraryOperation {
    /// `describe`.
    Describe,
    /// `create`.
    Create,
    /// `destroy`.
    Destroy,
    /// `free_buffer`.
    FreeBuffer,
}

impl LibraryOperation {
    /// The table entry's name.
    pub fn name(self) -> &'static str {
        match self {
            LibraryOperation::Describe => "describe",
            LibraryOperation::Create => "create",
            LibraryOperation::Destroy => "destroy",
            LibraryOperation::FreeBuffer => "free_buffer",
        }
    }
}

/// The operations on an instance: each a [`CallFn`] entry of the table, a request document
/// in and a response document out. The one list of them.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum InstanceOperation {
    /// `list_issues`.
    ListIssues,
    /// `issue_comments`.
    IssueComments,
    /// `create_issue`.
    CreateIssue,
    /// `add_comment`.
    AddComment,
    /// `reopen_issue`.
    ReopenIssue,
    /// `list_builds`.
    ListBuilds,
    /// `close_issue` (optional, appended after version 1).
    CloseIssue,
    /// `begin_cycle` (optional, appended after version 1).
    BeginCycle,
    /// `end_cycle` (optional, appended after version 1).
    EndCycle,
    /// `store_run` (optional, appended after version 1).
    StoreRun,
    /// `revision_runs` (optional, appended after version 1).
    RevisionRuns,
    /// `test_history` (optional, appended after version 1).
    TestHistory,
    /// `insert_rows` (optional, appended after version 1).
    InsertRows,
    /// `upload_window` (optional, appended after version 1).
    UploadWindow,
    /// `read_rows` (optional, appended after version 1).
    ReadRows,
}

impl InstanceOperation {
    /// Every instance operation, in table order.
    pub const ALL: [InstanceOperation; 15] = [
        InstanceOperation::ListIssues,
        InstanceOperation::IssueComments,
        InstanceOperation::CreateIssue,
        InstanceOperation::AddComment,
        InstanceOperation::ReopenIssue,
        InstanceOperation::ListBuilds,
        InstanceOperation::CloseIssue,
        InstanceOperation::BeginCycle,
        InstanceOperation::EndCycle,
        InstanceOperation::StoreRun,
        InstanceOperation::RevisionRuns,
        InstanceOperation::TestHistory,
        InstanceOperation::InsertRows,
        InstanceOperation::UploadWindow,
        InstanceOperation::ReadRows,
    ];

    /// The table entry's name.
    pub fn name(self) -> &'static str {
        match self {
            InstanceOperation::ListIssues => "list_issues",
            InstanceOperation::IssueComments => "issue_comments",
            InstanceOperation::CreateIssue => "create_issue",
            InstanceOperation::AddComment => "add_comment",
            InstanceOperation::ReopenIssue => "reopen_issue",
            InstanceOperation::ListBuilds => "list_builds",
            InstanceOperation::CloseIssue => "close_issue",
            InstanceOperation::BeginCycle => "begin_cycle",
            InstanceOperation::EndCycle => "end_cycle",
            InstanceOperation::StoreRun => "store_run",
            InstanceOperation::RevisionRuns => "revision_runs",
            InstanceOperation::TestHistory => "test_history",
            InstanceOperation::InsertRows => "insert_rows",
            InstanceOperation::UploadWindow => "upload_window",
            InstanceOperation::ReadRows => "read_rows",
        }
    }

    /// Where the entry is in the table, in bytes.
    pub const fn offset(self) -> usize {
        use std::mem::offset_of;
        match self {
            InstanceOperation::ListIssues => offset_of!(PluginTable, list_issues),
            InstanceOperation::IssueComments => offset_of!(PluginTable, issue_comments),
            InstanceOperation::CreateIssue => offset_of!(PluginTable, create_issue),
            InstanceOperation::AddComment => offset_of!(PluginTable, add_comment),
            InstanceOperation::ReopenIssue => offset_of!(PluginTable, reopen_issue),
            InstanceOperation::ListBuilds => offset_of!(PluginTable, list_builds),
            InstanceOperation::CloseIssue => offset_of!(PluginTable, close_issue),
            InstanceOperation::BeginCycle => offset_of!(PluginTable, begin_cycle),
            InstanceOperation::EndCycle => offset_of!(PluginTable, end_cycle),
            InstanceOperation::StoreRun => offset_of!(PluginTable, store_run),
            InstanceOperation::RevisionRuns => offset_of!(PluginTable, revision_runs),
            InstanceOperation::TestHistory => offset_of!(PluginTable, test_history),
            InstanceOperation::InsertRows => offset_of!(PluginTable, insert_rows),
            InstanceOperation::UploadWindow => offset_of!(PluginTable, upload_window),
            InstanceOperation::ReadRows => offset_of!(PluginTable, read_rows),
        }
    }

    /// The table size a plugin must state for the host to read this entry.
    pub const fn entry_end(self) -> usize {
        self.offset() + PTR
    }

    /// Whether the entry belongs to the version-1 table (required, never null).
    pub const fn is_v1(self) -> bool {
        self.entry_end() <= TABLE_SIZE_V1 as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_know_their_entries() {
        let v1: Vec<&str> = InstanceOperation::ALL
            .iter()
            .filter(|op| op.is_v1())
            .map(|op| op.name())
            .collect();
        assert_eq!(
            v1,
            [
                "list_issues",
                "issue_comments",
                "create_issue",
                "add_comment",
                "reopen_issue",
                "list_builds"
            ]
        );
        assert!(!InstanceOperation::CloseIssue.is_v1());
        assert_eq!(InstanceOperation::ReadRows.entry_end(), TABLE_SIZE as usize);
        let mut offsets: Vec<usize> = InstanceOperation::ALL
            .iter()
            .map(|op| op.offset())
            .collect();
        offsets.dedup();
        assert_eq!(offsets.len(), InstanceOperation::ALL.len());
        assert_eq!(ENTRY_SYMBOL, "flakewatch_plugin_v1");
    }
}

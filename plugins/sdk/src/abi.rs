//! The C ABI between the flakewatch host and a plugin library: one exported entry symbol that
//! returns a static, versioned `#[repr(C)]` table of `extern "C"` functions.
//!
//! Rules of the contract (see `docs/plugin-abi.md`):
//!
//! * The host reads [`PluginTable::abi_version`] first and stops unless it equals
//!   [`ABI_VERSION`]. Then it reads [`PluginTable::table_size`] and stops if the table is
//!   smaller than the one it knows. Only then does it touch the function pointers.
//! * Fields are only ever appended. A new field bumps nothing; a changed field bumps
//!   [`ABI_VERSION`] and the entry symbol's suffix.
//! * Data crosses as byte buffers with an encoding tag ([`encoding`]). Requests are borrowed
//!   from the host ([`FfiSlice`]); responses are allocated by the plugin ([`FfiBuffer`]) and
//!   handed back to the plugin's own [`PluginTable::free_buffer`].
//! * Every function returns a [`status`] code. On an error the response buffer holds a UTF-8
//!   message. No panic crosses the boundary: the SDK's glue catches it and reports
//!   [`status::PANIC`].

use std::ffi::c_void;

/// The ABI version this SDK speaks. The host refuses any other.
pub const ABI_VERSION: u32 = 1;

/// The name of the exported entry function (without a trailing NUL).
pub const ENTRY_SYMBOL: &str = "flakewatch_plugin_v1";

/// [`ENTRY_SYMBOL`] with a trailing NUL, as dynamic loaders want it.
pub const ENTRY_SYMBOL_NUL: &[u8] = b"flakewatch_plugin_v1\0";

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

/// The table a plugin exports. Version 1 layout; fields are only ever appended.
#[repr(C)]
#[derive(Debug)]
pub struct PluginTable {
    /// Must equal [`ABI_VERSION`]. Read before anything else.
    pub abi_version: u32,
    /// `size_of::<PluginTable>()` as the plugin was built; read second.
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
}

/// The size of the version-1 table, as [`PluginTable::table_size`] must state at least.
pub const TABLE_SIZE_V1: u32 = {
    let size = std::mem::size_of::<PluginTable>();
    assert!(size <= u32::MAX as usize);
    size as u32
};

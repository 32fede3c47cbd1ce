//! Test fixture: a plugin built as if against the first SDK. It exports a table of exactly
//! the frozen version-1 layout ([`V1Table`], [`TABLE_SIZE_V1`] bytes, no appended entry), so
//! the host must load it without reading past its end and report the appended operations as
//! not supported.
//!
//! It also counts what the host does with it, for the leak tests: instances alive
//! (`create` minus `destroy`) and buffers freed. With the option `bad_encoding` set, a
//! successful `create` answers with a buffer of an unknown encoding tag: the host must then
//! free that buffer and destroy the instance it was handed.

#![allow(
    unsafe_code,
    reason = "test fixture: a hand-written entry symbol and table that wrap the SDK's glue"
)]

use std::ffi::c_void;
use std::sync::atomic::{AtomicI64, Ordering};

use flakewatch_plugin_sdk::abi::{
    ABI_VERSION, CallFn, CreateFn, DescribeFn, DestroyFn, FfiBuffer, FfiSlice, FreeFn, PluginTable,
    TABLE_SIZE_V1, status,
};
use flakewatch_plugin_sdk::model::{
    Capability, Config, Issue, IssuePage, ListIssuesRequest, PluginInfo,
};
use flakewatch_plugin_sdk::{Plugin, PluginError, ffi};

/// A tracker with one issue.
pub struct Old;

impl Plugin for Old {
    fn info() -> PluginInfo {
        PluginInfo {
            name: "v1-table".to_owned(),
            capabilities: vec![Capability::IssueTracker],
            ..PluginInfo::default()
        }
    }

    fn create(_config: &Config) -> Result<Self, PluginError> {
        Ok(Old)
    }

    fn list_issues(&self, _request: &ListIssuesRequest) -> Result<IssuePage, PluginError> {
        Ok(IssuePage {
            issues: vec![Issue {
                number: 1,
                title: "old".to_owned(),
                ..Issue::default()
            }],
            ..IssuePage::default()
        })
    }
}

/// The version-1 table, as the first SDK defined it: nothing after `list_builds`.
#[repr(C)]
pub struct V1Table {
    abi_version: u32,
    table_size: u32,
    describe: DescribeFn,
    create: CreateFn,
    destroy: DestroyFn,
    free_buffer: FreeFn,
    list_issues: CallFn,
    issue_comments: CallFn,
    create_issue: CallFn,
    add_comment: CallFn,
    reopen_issue: CallFn,
    list_builds: CallFn,
}

const _: () = assert!(std::mem::size_of::<V1Table>() == TABLE_SIZE_V1 as usize);

/// The SDK's glue for [`Old`], whose entries the v1 table reuses.
const FULL: PluginTable = ffi::table::<Old>();

static LIVE: AtomicI64 = AtomicI64::new(0);
static FREED: AtomicI64 = AtomicI64::new(0);

unsafe extern "C" fn create(
    config: FfiSlice,
    instance: *mut *mut c_void,
    out: *mut FfiBuffer,
) -> i32 {
    // SAFETY: forwarded from the caller, who upholds `CreateFn`'s contract.
    let code = unsafe { (FULL.create)(config, instance, out) };
    if code != status::OK {
        return code;
    }
    LIVE.fetch_add(1, Ordering::SeqCst);
    let bytes = if config.ptr.is_null() {
        &[][..]
    } else {
        // SAFETY: the host's request bytes, live for this call.
        unsafe { std::slice::from_raw_parts(config.ptr, config.len) }
    };
    if bytes.windows(12).any(|w| w == b"bad_encoding") && !out.is_null() {
        // An answer of an unknown encoding, in a buffer `free_buffer` can free.
        let mut answer = std::mem::ManuallyDrop::new(b"???".to_vec());
        // SAFETY: `out` is valid for a write (the caller's contract); the SDK's `create`
        // left it empty, so nothing is overwritten that needed freeing.
        unsafe {
            out.write(FfiBuffer {
                ptr: answer.as_mut_ptr(),
                len: answer.len(),
                capacity: answer.capacity(),
                encoding: 77,
            });
        }
    }
    code
}

unsafe extern "C" fn destroy(instance: *mut c_void) {
    if !instance.is_null() {
        LIVE.fetch_sub(1, Ordering::SeqCst);
    }
    // SAFETY: forwarded from the caller.
    unsafe { (FULL.destroy)(instance) }
}

unsafe extern "C" fn free_buffer(buffer: FfiBuffer) {
    if !buffer.ptr.is_null() {
        FREED.fetch_add(1, Ordering::SeqCst);
    }
    // SAFETY: forwarded from the caller.
    unsafe { (FULL.free_buffer)(buffer) }
}

/// The entry point: the frozen version-1 table.
#[unsafe(no_mangle)]
pub extern "C" fn flakewatch_plugin_v1() -> *const V1Table {
    static TABLE: V1Table = V1Table {
        abi_version: ABI_VERSION,
        table_size: TABLE_SIZE_V1,
        describe: FULL.describe,
        create,
        destroy,
        free_buffer,
        list_issues: FULL.list_issues,
        issue_comments: FULL.issue_comments,
        create_issue: FULL.create_issue,
        add_comment: FULL.add_comment,
        reopen_issue: FULL.reopen_issue,
        list_builds: FULL.list_builds,
    };
    &TABLE
}

/// For the tests: instances alive and non-empty buffers freed so far.
///
/// # Safety
/// `live` and `freed` must each be null or valid for one write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn flakewatch_test_counts(live: *mut i64, freed: *mut i64) {
    if !live.is_null() && !freed.is_null() {
        // SAFETY: the caller passes two valid pointers.
        unsafe {
            live.write(LIVE.load(Ordering::SeqCst));
            freed.write(FREED.load(Ordering::SeqCst));
        }
    }
}

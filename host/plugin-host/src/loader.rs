//! Loading plugin libraries and calling through their C table: `dlopen` via libloading, the
//! entry symbol, the ABI checks (version first, then table size), and every call into the
//! plugin. This is the only `unsafe` code of the host (one of flakewatch's three islands).
//!
//! Lifetimes: a [`PluginLibrary`] owns the loaded library; every [`PluginInstance`] holds an
//! `Arc` of it, so the code and the table stay mapped until the last instance is destroyed.
#![allow(
    unsafe_code,
    reason = "the plugin loader: dlopen, the entry symbol, and calls through the C table"
)]

use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::Arc;

use flakewatch_plugin_sdk::abi::{
    ABI_VERSION, CallFn, ENTRY_SYMBOL, ENTRY_SYMBOL_NUL, EntryFn, FfiBuffer, FfiSlice, PluginTable,
    TABLE_SIZE_V1, encoding, status,
};
use flakewatch_plugin_sdk::model::{Config, PluginInfo};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{CallFailure, Operation, PluginError};

/// A loaded plugin library whose table passed the ABI checks.
#[derive(Debug)]
pub struct PluginLibrary {
    path: PathBuf,
    info: PluginInfo,
    /// Points into `library`'s static data; valid as long as `library` is loaded.
    table: NonNull<PluginTable>,
    /// The loaded library: never used after loading, but declared last so that it is
    /// dropped (unloaded) last.
    _library: libloading::Library,
}

// SAFETY: the table is immutable static data of the loaded library, and the ABI contract
// makes `describe`, `create`, `free_buffer` and the instance calls safe to use from any
// thread (the SDK requires plugin types to be `Send + Sync`).
unsafe impl Send for PluginLibrary {}
// SAFETY: as for `Send`: nothing in the library handle or the table is mutated through `&self`.
unsafe impl Sync for PluginLibrary {}

impl PluginLibrary {
    /// Loads the library at `path`, finds the entry symbol, checks the ABI version and the
    /// table size, and asks the plugin to describe itself.
    pub fn load(path: &Path) -> Result<Arc<PluginLibrary>, PluginError> {
        let path_buf = path.to_path_buf();
        // SAFETY: loading a library runs its initialisers. We only load files the user named
        // (`--plugin`, `FLAKEWATCH_PLUGIN_PATH`) or that carry the plugin naming convention
        // beside the executable; running their code is what loading a plugin means.
        let library =
            unsafe { libloading::Library::new(path) }.map_err(|source| PluginError::Open {
                path: path_buf.clone(),
                source,
            })?;
        // SAFETY: the symbol is declared with the SDK's `EntryFn` type; a library that
        // exports this name under another type breaks the contract the name stands for.
        let entry: EntryFn = unsafe { library.get::<EntryFn>(ENTRY_SYMBOL_NUL) }
            .map(|symbol| *symbol)
            .map_err(|source| PluginError::MissingEntry {
                path: path_buf.clone(),
                symbol: ENTRY_SYMBOL,
                source,
            })?;
        // SAFETY: the entry function takes no arguments and, per the contract, returns a
        // pointer to a static table and does not unwind.
        let raw = unsafe { entry() };
        let table = NonNull::new(raw.cast_mut())
            .filter(|p| p.as_ptr().is_aligned())
            .ok_or_else(|| PluginError::BadTable {
                path: path_buf.clone(),
            })?;
        // SAFETY: every ABI version starts its table with the `u32` version; the pointer is
        // non-null and aligned for the table, hence for a `u32`. Nothing else is read yet.
        let version = unsafe { table.cast::<u32>().read() };
        if version != ABI_VERSION {
            return Err(PluginError::AbiVersion {
                path: path_buf,
                found: version,
                expected: ABI_VERSION,
            });
        }
        // SAFETY: version 1 tables have the `u32` size right after the version.
        let size = unsafe { table.cast::<u32>().add(1).read() };
        if size < TABLE_SIZE_V1 {
            return Err(PluginError::TableTooSmall {
                path: path_buf,
                found: size,
                expected: TABLE_SIZE_V1,
            });
        }
        let mut library = PluginLibrary {
            path: path_buf,
            info: PluginInfo::default(),
            table,
            _library: library,
        };
        let mut out = FfiBuffer::EMPTY;
        // SAFETY: the table passed the version and size checks; `out` is a valid local.
        let code = unsafe { (library.table().describe)(&mut out) };
        let bytes = library.take(out, Operation::Describe)?;
        // Until it has described itself, the plugin is named by its file.
        let file_name = library
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        library.info = library.decode(code, &bytes, Operation::Describe, &file_name)?;
        Ok(Arc::new(library))
    }

    /// Where the library was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The plugin's self-description.
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    fn table(&self) -> &PluginTable {
        // SAFETY: checked non-null, aligned, of ABI version 1 and at least the size of a
        // version-1 table in `load`; it lives in `self.library`, which outlives `&self`.
        unsafe { self.table.as_ref() }
    }

    /// Copies a response buffer and hands it back to the plugin's allocator.
    fn take(&self, buffer: FfiBuffer, operation: Operation) -> Result<(u32, Vec<u8>), PluginError> {
        let encoding = buffer.encoding;
        let bytes = if buffer.ptr.is_null() || buffer.len == 0 {
            Vec::new()
        } else {
            // SAFETY: the plugin returned this buffer for us to read: `len` initialised bytes
            // at `ptr`, untouched until we free it below.
            unsafe { std::slice::from_raw_parts(buffer.ptr, buffer.len) }.to_vec()
        };
        // SAFETY: the buffer came from this plugin's table and is freed exactly once.
        unsafe { (self.table().free_buffer)(buffer) };
        if !bytes.is_empty() && encoding != encoding::JSON && encoding != encoding::UTF8 {
            return Err(self.call_error(
                operation,
                CallFailure::BadResponse,
                format!("unknown encoding tag {encoding}"),
            ));
        }
        Ok((encoding, bytes))
    }

    /// Interprets a status code and response: the decoded document, or a typed error.
    fn decode<R: DeserializeOwned>(
        &self,
        code: i32,
        response: &(u32, Vec<u8>),
        operation: Operation,
        plugin: &str,
    ) -> Result<R, PluginError> {
        let (encoding, bytes) = response;
        let text = || String::from_utf8_lossy(bytes).into_owned();
        let failure = match code {
            status::OK => {
                if *encoding != encoding::JSON {
                    return Err(self.call_error_named(
                        plugin,
                        operation,
                        CallFailure::BadResponse,
                        format!("response encoding {encoding} is not JSON"),
                    ));
                }
                return serde_json::from_slice(bytes).map_err(|e| {
                    self.call_error_named(
                        plugin,
                        operation,
                        CallFailure::BadResponse,
                        e.to_string(),
                    )
                });
            }
            status::ERROR => CallFailure::Failed,
            status::UNSUPPORTED => CallFailure::Unsupported,
            status::PANIC => CallFailure::Panicked,
            status::BAD_REQUEST => CallFailure::BadRequest,
            other => CallFailure::UnknownStatus(other),
        };
        Err(self.call_error_named(plugin, operation, failure, text()))
    }

    fn call_error(
        &self,
        operation: Operation,
        failure: CallFailure,
        message: String,
    ) -> PluginError {
        self.call_error_named(&self.info.name, operation, failure, message)
    }

    fn call_error_named(
        &self,
        plugin: &str,
        operation: Operation,
        failure: CallFailure,
        message: String,
    ) -> PluginError {
        PluginError::Call {
            plugin: if plugin.is_empty() {
                "?".to_owned()
            } else {
                plugin.to_owned()
            },
            path: self.path.clone(),
            operation: operation.name(),
            failure,
            message,
        }
    }

    /// Creates an instance with `config`.
    pub fn instantiate(self: &Arc<Self>, config: &Config) -> Result<PluginInstance, PluginError> {
        let request = serde_json::to_vec(config).map_err(|e| {
            self.call_error(Operation::Create, CallFailure::BadRequest, e.to_string())
        })?;
        let mut handle: *mut c_void = std::ptr::null_mut();
        let mut out = FfiBuffer::EMPTY;
        // SAFETY: `request` outlives the call; `handle` and `out` are valid locals.
        let code = unsafe {
            (self.table().create)(
                FfiSlice::new(&request, encoding::JSON),
                &mut handle,
                &mut out,
            )
        };
        let response = self.take(out, Operation::Create)?;
        if code != status::OK {
            let error = self.decode::<serde::de::IgnoredAny>(
                code,
                &response,
                Operation::Create,
                &self.info.name,
            );
            return Err(error.err().unwrap_or_else(|| {
                self.call_error(Operation::Create, CallFailure::BadResponse, String::new())
            }));
        }
        let handle = NonNull::new(handle).ok_or_else(|| {
            self.call_error(
                Operation::Create,
                CallFailure::BadResponse,
                "create succeeded but returned no instance".to_owned(),
            )
        })?;
        Ok(PluginInstance {
            library: Arc::clone(self),
            handle,
        })
    }
}

/// One instance of a plugin. Keeps its library loaded; destroyed on drop.
#[derive(Debug)]
pub struct PluginInstance {
    library: Arc<PluginLibrary>,
    handle: NonNull<c_void>,
}

// SAFETY: the SDK requires plugin types to be `Send + Sync`, so the instance behind the
// handle may be used from any thread; the library is `Send + Sync` itself.
unsafe impl Send for PluginInstance {}
// SAFETY: calls only pass the handle by value; the plugin synchronises its own state.
unsafe impl Sync for PluginInstance {}

impl PluginInstance {
    /// The library this instance came from.
    pub fn library(&self) -> &Arc<PluginLibrary> {
        &self.library
    }

    /// Calls one operation: encodes `request`, calls the table entry, decodes the response.
    pub fn call<Q: Serialize, R: DeserializeOwned>(
        &self,
        operation: Operation,
        request: &Q,
    ) -> Result<R, PluginError> {
        let library = &self.library;
        let entry: CallFn = match operation {
            Operation::ListIssues => library.table().list_issues,
            Operation::IssueComments => library.table().issue_comments,
            Operation::CreateIssue => library.table().create_issue,
            Operation::AddComment => library.table().add_comment,
            Operation::ReopenIssue => library.table().reopen_issue,
            Operation::ListBuilds => library.table().list_builds,
            Operation::Describe | Operation::Create => {
                return Err(library.call_error(
                    operation,
                    CallFailure::BadRequest,
                    "not an instance operation".to_owned(),
                ));
            }
        };
        let request = serde_json::to_vec(request)
            .map_err(|e| library.call_error(operation, CallFailure::BadRequest, e.to_string()))?;
        let mut out = FfiBuffer::EMPTY;
        // SAFETY: the handle is a live instance of this library (destroyed only in `Drop`);
        // `request` outlives the call; `out` is a valid local.
        let code = unsafe {
            entry(
                self.handle.as_ptr(),
                FfiSlice::new(&request, encoding::JSON),
                &mut out,
            )
        };
        let response = library.take(out, operation)?;
        library.decode(code, &response, operation, &library.info.name)
    }
}

impl Drop for PluginInstance {
    fn drop(&mut self) {
        // SAFETY: the handle was made by this library's `create` and is destroyed once, here;
        // the library stays loaded because `self.library` is dropped after this body.
        unsafe { (self.library.table().destroy)(self.handle.as_ptr()) };
    }
}

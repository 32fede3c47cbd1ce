//! The plugin side of the ABI: `extern "C"` functions, generic over the [`Plugin`] type,
//! that [`export_plugin!`](crate::export_plugin) puts into the plugin's table. They decode
//! requests, call the safe trait, encode responses, and catch every panic.
//!
//! This is one of the three `unsafe` islands of flakewatch.
#![allow(
    unsafe_code,
    reason = "the plugin side of the C ABI: raw pointers from the host, boxed instances"
)]

use std::any::Any;
use std::ffi::c_void;
use std::panic::{AssertUnwindSafe, catch_unwind};

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::abi::{ABI_VERSION, FfiBuffer, FfiSlice, PluginTable, TABLE_SIZE, encoding, status};
use crate::model::{Config, PluginInfo};
use crate::plugin::{ErrorKind, Plugin, PluginError};

/// The table for plugin type `T` (used by [`export_plugin!`](crate::export_plugin)).
pub const fn table<T: Plugin>() -> PluginTable {
    PluginTable {
        abi_version: ABI_VERSION,
        table_size: TABLE_SIZE,
        describe: describe::<T>,
        create: create::<T>,
        destroy: destroy::<T>,
        free_buffer,
        list_issues: list_issues::<T>,
        issue_comments: issue_comments::<T>,
        create_issue: create_issue::<T>,
        add_comment: add_comment::<T>,
        reopen_issue: reopen_issue::<T>,
        list_builds: list_builds::<T>,
        close_issue: Some(close_issue::<T>),
        begin_cycle: Some(begin_cycle::<T>),
        end_cycle: Some(end_cycle::<T>),
        store_run: Some(store_run::<T>),
        revision_runs: Some(revision_runs::<T>),
        test_history: Some(test_history::<T>),
        insert_rows: Some(insert_rows::<T>),
        upload_window: Some(upload_window::<T>),
        read_rows: Some(read_rows::<T>),
    }
}

/// What a glue function produces before it is written out.
enum Outcome {
    Ok(Vec<u8>),
    Err(PluginError),
    Panic(String),
}

/// The message of a caught panic.
fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}

thread_local! {
    /// Whether this thread is inside a call from the host (its panics are reported, not printed).
    static IN_CALL: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Installs, once per plugin library, a panic hook that stays quiet for panics inside calls
/// from the host: the host reports them in one line naming the plugin and the operation,
/// instead of Rust's raw panic text on its stderr. Panics elsewhere print as before.
fn quiet_panics_in_calls() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !IN_CALL.with(std::cell::Cell::get) {
                previous(info);
            }
        }));
    });
}

/// Runs `f`, catching panics.
fn guarded(f: impl FnOnce() -> Result<Vec<u8>, PluginError>) -> Outcome {
    quiet_panics_in_calls();
    let was = IN_CALL.with(|c| c.replace(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    IN_CALL.with(|c| c.set(was));
    match result {
        Ok(Ok(bytes)) => Outcome::Ok(bytes),
        Ok(Err(err)) => Outcome::Err(err),
        Err(payload) => {
            let message = panic_message(payload.as_ref());
            // Dropping the payload can itself panic; never let that unwind.
            let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
            Outcome::Panic(message)
        }
    }
}

/// Turns `bytes` into a buffer the host will hand back to [`free_buffer`].
fn into_buffer(bytes: Vec<u8>, encoding: u32) -> FfiBuffer {
    if bytes.is_empty() {
        return FfiBuffer {
            encoding,
            ..FfiBuffer::EMPTY
        };
    }
    let mut bytes = std::mem::ManuallyDrop::new(bytes);
    FfiBuffer {
        ptr: bytes.as_mut_ptr(),
        len: bytes.len(),
        capacity: bytes.capacity(),
        encoding,
    }
}

/// Writes an outcome to `out` and returns its status code.
///
/// # Safety
/// `out` must be null or valid for writing one [`FfiBuffer`].
unsafe fn finish(outcome: Outcome, out: *mut FfiBuffer) -> i32 {
    let (code, buffer) = match outcome {
        Outcome::Ok(bytes) => (status::OK, into_buffer(bytes, encoding::JSON)),
        Outcome::Err(err) => {
            let code = match err.kind {
                ErrorKind::Failed => status::ERROR,
                ErrorKind::Unsupported => status::UNSUPPORTED,
                ErrorKind::BadRequest => status::BAD_REQUEST,
            };
            (code, into_buffer(err.message.into_bytes(), encoding::UTF8))
        }
        Outcome::Panic(message) => (
            status::PANIC,
            into_buffer(message.into_bytes(), encoding::UTF8),
        ),
    };
    if out.is_null() {
        // SAFETY: the buffer came from `into_buffer` and nobody else holds it.
        unsafe { free_buffer(buffer) };
        return code;
    }
    // SAFETY: the caller guarantees `out` is valid for a write; `write` does not drop the
    // (uninitialised or stale) previous contents.
    unsafe { out.write(buffer) };
    code
}

/// Encodes a response document.
fn encode<R: Serialize>(value: &R) -> Result<Vec<u8>, PluginError> {
    serde_json::to_vec(value)
        .map_err(|e| PluginError::failed(format!("encoding the response: {e}")))
}

/// Decodes a request document.
///
/// # Safety
/// `request.ptr` must be valid for reading `request.len` bytes (or `len` is 0).
unsafe fn decode<Q: DeserializeOwned>(request: FfiSlice) -> Result<Q, PluginError> {
    if request.encoding != encoding::JSON {
        return Err(PluginError::bad_request(format!(
            "request encoding {} is not JSON ({})",
            request.encoding,
            encoding::JSON
        )));
    }
    let bytes: &[u8] = if request.len == 0 || request.ptr.is_null() {
        &[]
    } else {
        // SAFETY: the caller guarantees the pointer and length describe live bytes that stay
        // untouched for the duration of this call.
        unsafe { std::slice::from_raw_parts(request.ptr, request.len) }
    };
    serde_json::from_slice(bytes)
        .map_err(|e| PluginError::bad_request(format!("decoding the request: {e}")))
}

/// The describe entry: the plugin's info, with the SDK version filled in.
///
/// # Safety
/// `out` must be null or valid for writing one [`FfiBuffer`].
pub unsafe extern "C" fn describe<T: Plugin>(out: *mut FfiBuffer) -> i32 {
    let outcome = guarded(|| {
        let info = PluginInfo {
            sdk_version: crate::SDK_VERSION.to_owned(),
            ..T::info()
        };
        encode(&info)
    });
    // SAFETY: forwarded from this function's contract.
    unsafe { finish(outcome, out) }
}

/// The create entry: decodes the config, builds the instance and boxes it.
///
/// # Safety
/// `config` must describe readable bytes; `instance` and `out` must be null or valid for
/// one write each.
pub unsafe extern "C" fn create<T: Plugin>(
    config: FfiSlice,
    instance: *mut *mut c_void,
    out: *mut FfiBuffer,
) -> i32 {
    let outcome = guarded(|| {
        if instance.is_null() {
            return Err(PluginError::bad_request("null instance pointer"));
        }
        // SAFETY: forwarded from this function's contract.
        let config: Config = unsafe { decode(config)? };
        let plugin = T::create(&config)?;
        let raw = Box::into_raw(Box::new(plugin)).cast::<c_void>();
        // SAFETY: `instance` is non-null and valid for a write (this function's contract).
        unsafe { instance.write(raw) };
        Ok(Vec::new())
    });
    // SAFETY: forwarded from this function's contract.
    unsafe { finish(outcome, out) }
}

/// The destroy entry: drops the instance. A panic in `Drop` is caught and ignored.
///
/// # Safety
/// `instance` must be null or a handle made by [`create`] for the same `T`, not yet destroyed.
pub unsafe extern "C" fn destroy<T: Plugin>(instance: *mut c_void) {
    if instance.is_null() {
        return;
    }
    // SAFETY: the handle came from `Box::into_raw` of a `Box<T>` in `create::<T>` and is
    // destroyed once (this function's contract).
    let boxed = unsafe { Box::from_raw(instance.cast::<T>()) };
    let _ = catch_unwind(AssertUnwindSafe(move || drop(boxed)));
}

/// Frees a buffer made by this SDK.
///
/// # Safety
/// `buffer` must have been returned by a function of this plugin's table and not freed yet.
pub unsafe extern "C" fn free_buffer(buffer: FfiBuffer) {
    if buffer.ptr.is_null() {
        return;
    }
    // SAFETY: the pointer, length and capacity come from a `Vec<u8>` leaked by
    // `into_buffer` in this same library, so they are reassembled with its allocator.
    drop(unsafe { Vec::from_raw_parts(buffer.ptr, buffer.len, buffer.capacity) });
}

/// Decodes a request, calls `method` on the instance, encodes the response.
///
/// # Safety
/// `instance` must be a live handle made by [`create`] for `T`; `request` must describe
/// readable bytes; `out` must be null or valid for one write.
unsafe fn call<T, Q, R>(
    instance: *mut c_void,
    request: FfiSlice,
    out: *mut FfiBuffer,
    method: impl FnOnce(&T, &Q) -> Result<R, PluginError>,
) -> i32
where
    T: Plugin,
    Q: DeserializeOwned,
    R: Serialize,
{
    let outcome = guarded(|| {
        if instance.is_null() {
            return Err(PluginError::bad_request("null instance handle"));
        }
        // SAFETY: the handle points to a live `T` made by `create::<T>`; the host only
        // shares it, never mutates it, and `T: Sync`.
        let plugin = unsafe { &*instance.cast::<T>() };
        // SAFETY: forwarded from this function's contract.
        let request: Q = unsafe { decode(request)? };
        encode(&method(plugin, &request)?)
    });
    // SAFETY: forwarded from this function's contract.
    unsafe { finish(outcome, out) }
}

macro_rules! call_entry {
    ($(#[$doc:meta])* $name:ident => $method:ident) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// `instance` must be a live handle made by [`create`] for `T`; `request` must
        /// describe readable bytes; `out` must be null or valid for one write.
        pub unsafe extern "C" fn $name<T: Plugin>(
            instance: *mut c_void,
            request: FfiSlice,
            out: *mut FfiBuffer,
        ) -> i32 {
            // SAFETY: forwarded from this function's contract.
            unsafe { call(instance, request, out, |p: &T, q| p.$method(q)) }
        }
    };
}

call_entry!(
    /// The `list_issues` entry.
    list_issues => list_issues
);
call_entry!(
    /// The `issue_comments` entry.
    issue_comments => issue_comments
);
call_entry!(
    /// The `create_issue` entry.
    create_issue => create_issue
);
call_entry!(
    /// The `add_comment` entry.
    add_comment => add_comment
);
call_entry!(
    /// The `reopen_issue` entry.
    reopen_issue => reopen_issue
);
call_entry!(
    /// The `list_builds` entry.
    list_builds => list_builds
);
call_entry!(
    /// The `close_issue` entry (appended after version 1).
    close_issue => close_issue
);
call_entry!(
    /// The `begin_cycle` entry (appended after version 1).
    begin_cycle => begin_cycle
);
call_entry!(
    /// The `end_cycle` entry (appended after version 1).
    end_cycle => end_cycle
);
call_entry!(
    /// The `store_run` entry (appended after version 1).
    store_run => store_run
);
call_entry!(
    /// The `revision_runs` entry (appended after version 1).
    revision_runs => revision_runs
);
call_entry!(
    /// The `test_history` entry (appended after version 1).
    test_history => test_history
);
call_entry!(
    /// The `insert_rows` entry (appended after version 1).
    insert_rows => insert_rows
);
call_entry!(
    /// The `upload_window` entry (appended after version 1).
    upload_window => upload_window
);
call_entry!(
    /// The `read_rows` entry (appended after version 1).
    read_rows => read_rows
);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CreateIssueRequest, CreatedIssue, ListIssuesRequest};

    struct Probe;

    impl Plugin for Probe {
        fn info() -> PluginInfo {
            PluginInfo {
                name: "probe".to_owned(),
                ..PluginInfo::default()
            }
        }
        fn create(config: &Config) -> Result<Self, PluginError> {
            match config.get("fail") {
                Some(message) => Err(PluginError::bad_request(message)),
                None => Ok(Probe),
            }
        }
        fn create_issue(&self, request: &CreateIssueRequest) -> Result<CreatedIssue, PluginError> {
            if request.title == "panic" {
                panic!("asked to panic");
            }
            Ok(CreatedIssue { number: 7 })
        }
    }

    /// Calls one table entry the way the host does and frees the response.
    fn take(buffer: FfiBuffer) -> (u32, Vec<u8>) {
        let bytes = if buffer.ptr.is_null() {
            Vec::new()
        } else {
            // SAFETY: a buffer just returned by the glue; read before freeing.
            unsafe { std::slice::from_raw_parts(buffer.ptr, buffer.len) }.to_vec()
        };
        let encoding = buffer.encoding;
        // SAFETY: returned by the glue above, freed once.
        unsafe { free_buffer(buffer) };
        (encoding, bytes)
    }

    /// The symbol `export_plugin!` defines is the one the host looks for.
    #[test]
    fn the_export_macro_defines_the_entry_symbol() {
        #[allow(
            unreachable_pub,
            reason = "the macro exports its entry from a test module"
        )]
        mod exported {
            crate::export_plugin!(super::Probe);
        }
        let name = std::any::type_name_of_val(&exported::flakewatch_plugin_v1);
        assert!(
            name.ends_with(&format!("::{}", crate::abi::ENTRY_SYMBOL)),
            "{name}"
        );
        let table = exported::flakewatch_plugin_v1();
        // SAFETY: the exported function returns a pointer to a static table.
        assert_eq!(unsafe { (*table).table_size }, TABLE_SIZE);
    }

    #[test]
    fn round_trip_through_the_table() {
        let table = table::<Probe>();
        assert_eq!(table.abi_version, ABI_VERSION);
        assert_eq!(table.table_size, TABLE_SIZE);

        let mut out = FfiBuffer::EMPTY;
        // SAFETY: `out` is a valid local.
        let code = unsafe { (table.describe)(&mut out) };
        assert_eq!(code, status::OK);
        let (enc, bytes) = take(out);
        assert_eq!(enc, encoding::JSON);
        let info: PluginInfo = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(info.name, "probe");
        assert_eq!(info.sdk_version, env!("CARGO_PKG_VERSION"));

        let config = serde_json::to_vec(&Config::default()).unwrap();
        let mut instance = std::ptr::null_mut();
        let mut out = FfiBuffer::EMPTY;
        // SAFETY: valid locals; the slice outlives the call.
        let code = unsafe {
            (table.create)(
                FfiSlice::new(&config, encoding::JSON),
                &mut instance,
                &mut out,
            )
        };
        assert_eq!(code, status::OK);
        assert!(!instance.is_null());
        take(out);

        let request = serde_json::to_vec(&CreateIssueRequest {
            title: "panic".to_owned(),
            ..CreateIssueRequest::default()
        })
        .unwrap();
        let mut out = FfiBuffer::EMPTY;
        // SAFETY: live instance, valid locals.
        let code = unsafe {
            (table.create_issue)(instance, FfiSlice::new(&request, encoding::JSON), &mut out)
        };
        assert_eq!(code, status::PANIC);
        assert_eq!(take(out), (encoding::UTF8, b"asked to panic".to_vec()));

        let request = serde_json::to_vec(&ListIssuesRequest::default()).unwrap();
        let mut out = FfiBuffer::EMPTY;
        // SAFETY: live instance, valid locals.
        let code = unsafe {
            (table.list_issues)(instance, FfiSlice::new(&request, encoding::JSON), &mut out)
        };
        assert_eq!(code, status::UNSUPPORTED);
        let (_, message) = take(out);
        assert_eq!(message, b"list_issues is not supported by this plugin");

        let mut out = FfiBuffer::EMPTY;
        // SAFETY: live instance, valid locals; the bytes are not JSON-tagged.
        let code = unsafe {
            (table.list_issues)(instance, FfiSlice::new(b"{}", encoding::UTF8), &mut out)
        };
        assert_eq!(code, status::BAD_REQUEST);
        take(out);

        // SAFETY: destroyed once.
        unsafe { (table.destroy)(instance) };
    }

    #[test]
    fn create_errors_carry_the_message() {
        let table = table::<Probe>();
        let mut config = Config::default();
        config
            .options
            .insert("fail".to_owned(), "no data directory".to_owned());
        let config = serde_json::to_vec(&config).unwrap();
        let mut instance = std::ptr::null_mut();
        let mut out = FfiBuffer::EMPTY;
        // SAFETY: valid locals.
        let code = unsafe {
            (table.create)(
                FfiSlice::new(&config, encoding::JSON),
                &mut instance,
                &mut out,
            )
        };
        assert_eq!(code, status::BAD_REQUEST);
        assert!(instance.is_null());
        assert_eq!(take(out).1, b"no data directory");
    }
}

//! Loading plugin libraries and calling through their C table: `dlopen` via libloading, the
//! entry symbol, the ABI checks (version first, then table size, then the required entries),
//! and every call into the plugin. This is the only `unsafe` code of the host (one of
//! flakewatch's three islands).
//!
//! The table is read once, at load: each entry by its pinned offset, the entries appended
//! after version 1 only when the plugin's `table_size` covers them. No reference to the whole
//! table is ever made, so a plugin built against an older, shorter table is never read past
//! its end.
//!
//! Lifetimes: a [`PluginLibrary`] owns the loaded library; every [`PluginInstance`] holds an
//! `Arc` of it, so the code stays mapped until the last instance is destroyed. Response
//! buffers are freed by a guard on every path, and an instance is owned (destroyed on drop)
//! from the moment `create` hands it over.
#![allow(
    unsafe_code,
    reason = "the plugin loader: dlopen, the entry symbol, and calls through the C table"
)]

use std::ffi::c_void;
use std::mem::offset_of;
use std::path::{Path, PathBuf};
use std::ptr::NonNull;
use std::sync::Arc;

use flakewatch_plugin_sdk::abi::{
    ABI_VERSION, CallFn, CreateFn, DescribeFn, DestroyFn, ENTRY_SYMBOL, ENTRY_SYMBOL_NUL, EntryFn,
    FfiBuffer, FfiSlice, FreeFn, PluginTable, TABLE_SIZE_V1, encoding, status,
};
use flakewatch_plugin_sdk::model::{Config, PluginInfo};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{CallFailure, HostError, InstanceOperation, LibraryOperation};

/// The entries of a plugin's table, read once at load.
#[derive(Debug, Clone, Copy)]
struct Entries {
    describe: DescribeFn,
    create: CreateFn,
    destroy: DestroyFn,
    free_buffer: FreeFn,
    /// Per [`InstanceOperation`] (in [`InstanceOperation::ALL`] order); `None` when the
    /// plugin's table is too short for it or the optional entry is null.
    calls: [Option<CallFn>; InstanceOperation::ALL.len()],
}

/// A loaded plugin library whose table passed the ABI checks.
#[derive(Debug)]
pub struct PluginLibrary {
    path: PathBuf,
    info: PluginInfo,
    table_size: u32,
    entries: Entries,
    /// The loaded library: never used after loading, but declared last so that it is
    /// dropped (unloaded) last.
    _library: libloading::Library,
}

/// Reads the entry at `offset` of a table the plugin says is `size` bytes long: `None` when
/// the table ends before it, or when it is null.
///
/// # Safety
/// `table` must point to at least `size` readable bytes of a plugin table whose entries are
/// function pointers of type `F` at pointer-aligned offsets.
unsafe fn read_entry<F: Copy>(table: NonNull<PluginTable>, size: u32, offset: usize) -> Option<F> {
    if offset + size_of::<Option<F>>() > size as usize {
        return None;
    }
    // SAFETY: inside the `size` bytes the caller vouches for, aligned (offsets are multiples
    // of the pointer size from an aligned table); `Option<F>` of a function pointer is valid
    // for every bit pattern a C function pointer can have (null is `None`).
    unsafe { table.cast::<u8>().add(offset).cast::<Option<F>>().read() }
}

/// Checks that `path` is a whole shared library before the dynamic loader maps it: a file
/// cut short (a copy interrupted, a full disk) would be mapped past its end and kill the
/// process with `SIGBUS` when touched. ELF files are checked against their own headers (every
/// loaded segment and the section table inside the file); Mach-O and PE files by their magic.
fn check_library_file(path: &Path) -> Result<(), String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path).map_err(|e| format!("cannot open it: {e}"))?;
    let len = file
        .metadata()
        .map_err(|e| format!("cannot read its size: {e}"))?
        .len();
    if !file.metadata().is_ok_and(|m| m.is_file()) {
        return Err("it is not a regular file".to_owned());
    }
    let mut head = [0u8; 64];
    let got = file
        .read(&mut head)
        .map_err(|e| format!("cannot read it: {e}"))?;
    let head = &head[..got];
    match head {
        [0x7f, b'E', b'L', b'F', ..] => {}
        [0xcf, 0xfa, 0xed, 0xfe, ..]
        | [0xfe, 0xed, 0xfa, 0xcf, ..]
        | [0xca, 0xfe, 0xba, 0xbe, ..] => {
            return if len >= 32 {
                Ok(())
            } else {
                Err("its Mach-O header is cut short".to_owned())
            };
        }
        [b'M', b'Z', ..] => {
            return if len >= 64 {
                Ok(())
            } else {
                Err("its PE header is cut short".to_owned())
            };
        }
        _ => return Err("it is not a shared library (no ELF, Mach-O or PE header)".to_owned()),
    }
    if head.len() < 64 {
        return Err(format!("its ELF header is cut short ({len} bytes)"));
    }
    let is64 = head[4] == 2;
    let little = head[5] == 1;
    let u16_at = |b: &[u8], at: usize| -> u64 {
        let v = [b[at], b[at + 1]];
        u64::from(if little {
            u16::from_le_bytes(v)
        } else {
            u16::from_be_bytes(v)
        })
    };
    let u32_at = |b: &[u8], at: usize| -> u64 {
        let v = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        u64::from(if little {
            u32::from_le_bytes(v)
        } else {
            u32::from_be_bytes(v)
        })
    };
    let u64_at = |b: &[u8], at: usize| -> u64 {
        let mut v = [0u8; 8];
        v.copy_from_slice(&b[at..at + 8]);
        if little {
            u64::from_le_bytes(v)
        } else {
            u64::from_be_bytes(v)
        }
    };
    let word = |b: &[u8], at: usize| if is64 { u64_at(b, at) } else { u32_at(b, at) };
    let (phoff, shoff) = if is64 {
        (word(head, 32), word(head, 40))
    } else {
        (word(head, 28), word(head, 32))
    };
    let (phentsize, phnum, shentsize, shnum) = if is64 {
        (
            u16_at(head, 54),
            u16_at(head, 56),
            u16_at(head, 58),
            u16_at(head, 60),
        )
    } else {
        (
            u16_at(head, 42),
            u16_at(head, 44),
            u16_at(head, 46),
            u16_at(head, 48),
        )
    };
    let within = |offset: u64, size: u64| offset.checked_add(size).is_some_and(|end| end <= len);
    if !within(phoff, phentsize * phnum) || !within(shoff, shentsize * shnum) {
        return Err(format!(
            "it is cut short: its headers describe more than its {len} bytes"
        ));
    }
    let min_entry = if is64 { 56 } else { 32 };
    if phnum > 4096 || (phnum > 0 && phentsize < min_entry) {
        return Err("its ELF program headers are malformed".to_owned());
    }
    let mut table = vec![0u8; (phentsize * phnum) as usize];
    file.seek(SeekFrom::Start(phoff))
        .and_then(|_| file.read_exact(&mut table))
        .map_err(|e| format!("cannot read its program headers: {e}"))?;
    for entry in table.chunks_exact(phentsize as usize) {
        const PT_LOAD: u64 = 1;
        if u32_at(entry, 0) != PT_LOAD {
            continue;
        }
        let (offset, filesz) = if is64 {
            (u64_at(entry, 8), u64_at(entry, 32))
        } else {
            (u32_at(entry, 4), u32_at(entry, 16))
        };
        if !within(offset, filesz) {
            return Err(format!(
                "it is cut short: a loaded segment ends at byte {} of a {len}-byte file",
                offset.saturating_add(filesz)
            ));
        }
    }
    Ok(())
}

/// A response buffer from the plugin, handed back to the plugin's allocator when dropped:
/// on every path, early returns included.
struct Response {
    buffer: FfiBuffer,
    free: FreeFn,
}

impl Response {
    fn bytes(&self) -> &[u8] {
        if self.buffer.ptr.is_null() || self.buffer.len == 0 {
            return &[];
        }
        // SAFETY: the plugin returned this buffer for us to read: `len` initialised bytes at
        // `ptr`, untouched until we free it in `drop`.
        unsafe { std::slice::from_raw_parts(self.buffer.ptr, self.buffer.len) }
    }
}

impl Drop for Response {
    fn drop(&mut self) {
        let buffer = std::mem::replace(&mut self.buffer, FfiBuffer::EMPTY);
        // SAFETY: the buffer came from this plugin's table and is freed exactly once, here.
        unsafe { (self.free)(buffer) };
    }
}

impl PluginLibrary {
    /// Loads the library at `path`, finds the entry symbol, checks the ABI version, the
    /// table size and the required entries, and asks the plugin to describe itself.
    pub fn load(path: &Path) -> Result<Arc<PluginLibrary>, HostError> {
        // A bare file name is a file in the current directory, never a name for the system's
        // library search path.
        let path_buf = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        check_library_file(&path_buf).map_err(|reason| HostError::NotALibrary {
            path: path_buf.clone(),
            reason,
        })?;
        let path = path_buf.as_path();
        // SAFETY: loading a library runs its initialisers. We only load files the user named
        // (`--plugin`, `FLAKEWATCH_PLUGIN_PATH`) or that carry the plugin naming convention
        // beside the executable; running their code is what loading a plugin means.
        let library =
            unsafe { libloading::Library::new(path) }.map_err(|source| HostError::Open {
                path: path_buf.clone(),
                source,
            })?;
        // SAFETY: the symbol is declared with the SDK's `EntryFn` type; a library that
        // exports this name under another type breaks the contract the name stands for.
        let entry: EntryFn = unsafe { library.get::<EntryFn>(ENTRY_SYMBOL_NUL) }
            .map(|symbol| *symbol)
            .map_err(|source| HostError::MissingEntry {
                path: path_buf.clone(),
                symbol: ENTRY_SYMBOL,
                source,
            })?;
        // SAFETY: the entry function takes no arguments and, per the contract, returns a
        // pointer to a static table and does not unwind.
        let raw = unsafe { entry() };
        let table = NonNull::new(raw.cast_mut())
            .filter(|p| p.as_ptr().is_aligned())
            .ok_or_else(|| HostError::BadTable {
                path: path_buf.clone(),
            })?;
        // SAFETY: every ABI version starts its table with the `u32` version; the pointer is
        // non-null and aligned for the table, hence for a `u32`. Nothing else is read yet.
        let version = unsafe { table.cast::<u32>().read() };
        if version != ABI_VERSION {
            return Err(HostError::AbiVersion {
                path: path_buf,
                found: version,
                expected: ABI_VERSION,
            });
        }
        // SAFETY: version 1 tables have the `u32` size right after the version.
        let size = unsafe { table.cast::<u32>().add(1).read() };
        if size < TABLE_SIZE_V1 {
            return Err(HostError::TableTooSmall {
                path: path_buf,
                found: size,
                expected: TABLE_SIZE_V1,
            });
        }
        let entries = Self::read_entries(table, size, &path_buf)?;
        let mut library = PluginLibrary {
            path: path_buf,
            info: PluginInfo::default(),
            table_size: size,
            entries,
            _library: library,
        };
        let mut out = FfiBuffer::EMPTY;
        // SAFETY: the entry was read from a checked table; `out` is a valid local.
        let code = unsafe { (library.entries.describe)(&mut out) };
        let response = library.response(out);
        // Until it has described itself, the plugin is named by its file.
        let file_name = library
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let info = library.decode(
            code,
            &response,
            LibraryOperation::Describe.name(),
            &file_name,
        )?;
        drop(response);
        library.info = info;
        tracing::info!(
            plugin = %library.info.name,
            version = %library.info.version,
            sdk = %library.info.sdk_version,
            path = %library.path.display(),
            table_size = library.table_size,
            "plugin loaded"
        );
        Ok(Arc::new(library))
    }

    /// Reads every entry of a table that passed the version and size checks.
    fn read_entries(
        table: NonNull<PluginTable>,
        size: u32,
        path: &Path,
    ) -> Result<Entries, HostError> {
        fn required<F>(entry: Option<F>, name: &'static str, path: &Path) -> Result<F, HostError> {
            entry.ok_or_else(|| HostError::NullEntry {
                path: path.to_path_buf(),
                entry: name,
            })
        }
        // The table is at least `size` bytes (the plugin states it, and it is at least the
        // version-1 size), and each offset is that entry's.
        // SAFETY: as just said, for `describe`.
        let describe = unsafe { read_entry(table, size, offset_of!(PluginTable, describe)) };
        // SAFETY: as just said, for `create`.
        let create = unsafe { read_entry(table, size, offset_of!(PluginTable, create)) };
        // SAFETY: as just said, for `destroy`.
        let destroy = unsafe { read_entry(table, size, offset_of!(PluginTable, destroy)) };
        // SAFETY: as just said, for `free_buffer`.
        let free_buffer = unsafe { read_entry(table, size, offset_of!(PluginTable, free_buffer)) };
        let mut calls = [None; InstanceOperation::ALL.len()];
        for (slot, op) in calls.iter_mut().zip(InstanceOperation::ALL) {
            // SAFETY: as above; the read is skipped when the table ends before the entry.
            *slot = unsafe { read_entry::<CallFn>(table, size, op.offset()) };
            if op.is_v1() && slot.is_none() {
                return Err(HostError::NullEntry {
                    path: path.to_path_buf(),
                    entry: op.name(),
                });
            }
        }
        Ok(Entries {
            describe: required(describe, LibraryOperation::Describe.name(), path)?,
            create: required(create, LibraryOperation::Create.name(), path)?,
            destroy: required(destroy, LibraryOperation::Destroy.name(), path)?,
            free_buffer: required(free_buffer, LibraryOperation::FreeBuffer.name(), path)?,
            calls,
        })
    }

    /// Where the library was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The plugin's self-description.
    pub fn info(&self) -> &PluginInfo {
        &self.info
    }

    /// The size of the table the plugin exports, in bytes.
    pub fn table_size(&self) -> u32 {
        self.table_size
    }

    /// Whether the plugin's table has an entry for `operation` (every version-1 operation;
    /// an appended one only when the plugin was built with it).
    pub fn has_entry(&self, operation: InstanceOperation) -> bool {
        self.call_entry(operation).is_some()
    }

    fn call_entry(&self, operation: InstanceOperation) -> Option<CallFn> {
        let index = InstanceOperation::ALL
            .iter()
            .position(|op| *op == operation)?;
        self.entries.calls[index]
    }

    /// Takes ownership of a response buffer: freed when the guard drops.
    fn response(&self, buffer: FfiBuffer) -> Response {
        Response {
            buffer,
            free: self.entries.free_buffer,
        }
    }

    /// Interprets a status code and response: the decoded document, or a typed error.
    fn decode<R: DeserializeOwned>(
        &self,
        code: i32,
        response: &Response,
        operation: &'static str,
        plugin: &str,
    ) -> Result<R, HostError> {
        let (encoding, bytes) = (response.buffer.encoding, response.bytes());
        if !bytes.is_empty() && encoding != encoding::JSON && encoding != encoding::UTF8 {
            return Err(self.call_error_named(
                plugin,
                operation,
                CallFailure::BadResponse,
                format!("unknown encoding tag {encoding}"),
            ));
        }
        let text = || String::from_utf8_lossy(bytes).into_owned();
        let failure = match code {
            status::OK => {
                if encoding != encoding::JSON {
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
        operation: &'static str,
        failure: CallFailure,
        message: String,
    ) -> HostError {
        self.call_error_named(&self.info.name, operation, failure, message)
    }

    fn call_error_named(
        &self,
        plugin: &str,
        operation: &'static str,
        failure: CallFailure,
        message: String,
    ) -> HostError {
        HostError::Call {
            plugin: if plugin.is_empty() {
                "?".to_owned()
            } else {
                plugin.to_owned()
            },
            path: self.path.clone(),
            operation,
            failure,
            message,
        }
    }

    /// Creates an instance with `config`.
    pub fn instantiate(self: &Arc<Self>, config: &Config) -> Result<PluginInstance, HostError> {
        let create = LibraryOperation::Create.name();
        // Option names only: values may be credentials.
        let keys: Vec<&str> = config.options.keys().map(String::as_str).collect();
        tracing::debug!(plugin = %self.info.name, options = ?keys, "creating an instance");
        let request = serde_json::to_vec(config)
            .map_err(|e| self.call_error(create, CallFailure::BadRequest, e.to_string()))?;
        let mut handle: *mut c_void = std::ptr::null_mut();
        let mut out = FfiBuffer::EMPTY;
        // SAFETY: `request` outlives the call; `handle` and `out` are valid locals.
        let code = unsafe {
            (self.entries.create)(
                FfiSlice::new(&request, encoding::JSON),
                &mut handle,
                &mut out,
            )
        };
        let response = self.response(out);
        // Own the instance before anything else can fail: an error below destroys it.
        let instance = NonNull::new(handle).map(|handle| PluginInstance {
            library: Arc::clone(self),
            handle,
        });
        if code != status::OK {
            let error =
                self.decode::<serde::de::IgnoredAny>(code, &response, create, &self.info.name);
            return Err(error.err().unwrap_or_else(|| {
                self.call_error(create, CallFailure::BadResponse, String::new())
            }));
        }
        if !response.bytes().is_empty()
            && response.buffer.encoding != encoding::JSON
            && response.buffer.encoding != encoding::UTF8
        {
            return Err(self.call_error(
                create,
                CallFailure::BadResponse,
                format!("unknown encoding tag {}", response.buffer.encoding),
            ));
        }
        instance.ok_or_else(|| {
            self.call_error(
                create,
                CallFailure::BadResponse,
                "create succeeded but returned no instance".to_owned(),
            )
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
    /// An operation the plugin's table has no entry for (an optional entry appended after
    /// the SDK it was built with) is [`CallFailure::Unsupported`], without calling anything.
    pub fn call<Q: Serialize, R: DeserializeOwned>(
        &self,
        operation: InstanceOperation,
        request: &Q,
    ) -> Result<R, HostError> {
        let library = &self.library;
        let name = operation.name();
        let Some(entry) = library.call_entry(operation) else {
            return Err(library.call_error(
                name,
                CallFailure::Unsupported,
                format!(
                    "the plugin's table ({} bytes) has no {name} entry; rebuild it with a newer \
                     flakewatch-plugin-sdk to support it",
                    library.table_size
                ),
            ));
        };
        let request = serde_json::to_vec(request)
            .map_err(|e| library.call_error(name, CallFailure::BadRequest, e.to_string()))?;
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
        let response = library.response(out);
        tracing::debug!(
            plugin = %library.info.name,
            operation = name,
            status = code,
            request_bytes = request.len(),
            response_bytes = response.bytes().len(),
            "plugin call"
        );
        library.decode(code, &response, name, &library.info.name)
    }
}

impl Drop for PluginInstance {
    fn drop(&mut self) {
        // SAFETY: the handle was made by this library's `create` and is destroyed once, here;
        // the library stays loaded because `self.library` is dropped after this body.
        unsafe { (self.library.entries.destroy)(self.handle.as_ptr()) };
    }
}

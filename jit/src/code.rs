//! Ownership of the generated machine code: the `JITModule`s are kept until the compiled set
//! is dropped, then their memory is freed (a `JITModule` does not free code on drop).
#![allow(unsafe_code, reason = "owning and freeing JIT code memory")]

use std::mem::ManuallyDrop;

use cranelift_jit::JITModule;
use cranelift_module::FuncId;

use crate::runtime::ChunkFn;

/// The code memory of one compiled set: the modules its chunk functions were generated in.
pub(crate) struct CodeMemory {
    modules: Vec<ManuallyDrop<JITModule>>,
}

impl CodeMemory {
    /// Takes ownership of finalized modules and returns the entry points of the functions
    /// they hold, ordered by function index.
    pub(crate) fn new(
        modules: Vec<(JITModule, Vec<(usize, FuncId)>)>,
    ) -> (CodeMemory, Vec<ChunkFn>) {
        let mut chunks = Vec::new();
        let mut owned = Vec::with_capacity(modules.len());
        for (module, ids) in modules {
            for &(n, id) in &ids {
                let address = module.get_finalized_function(id);
                // SAFETY: `id` was defined by `ChunkDefiner::define` with the signature
                // `fn(*mut Ctx, u32) -> i32` in the platform's default calling convention, which is
                // the C convention, or from `x64::emit_function`'s bytes, which follow the System
                // V convention for that signature (the C convention where that backend runs);
                // the module has been finalized.
                chunks.push((n, unsafe {
                    std::mem::transmute::<*const u8, ChunkFn>(address)
                }));
            }
            owned.push(ManuallyDrop::new(module));
        }
        chunks.sort_unstable_by_key(|&(n, _)| n);
        let chunks = chunks.into_iter().map(|(_, f)| f).collect();
        (CodeMemory { modules: owned }, chunks)
    }
}

impl CodeMemory {
    /// Frees the memory of a module whose definition failed part way (nothing of it runs).
    pub(crate) fn discard(module: JITModule) {
        // SAFETY: no function of the module was handed out: the caller failed before
        // `CodeMemory::new`, so no pointer into its memory exists.
        unsafe { module.free_memory() };
    }
}

impl Drop for CodeMemory {
    fn drop(&mut self) {
        for module in &mut self.modules {
            // SAFETY: each module is taken exactly once, here; the function pointers into it
            // live in the `CompiledSet` that owns this `CodeMemory` and are dropped with it,
            // so no code of this module can run afterwards.
            let module = unsafe { ManuallyDrop::take(module) };
            // SAFETY: as above: nothing refers to this code any more.
            unsafe { module.free_memory() };
        }
    }
}

// SAFETY: after finalization the module is never used again except to free it on drop; the
// code memory is immutable and executable, so sharing entry points between threads is sound.
unsafe impl Send for CodeMemory {}
// SAFETY: as above; `&CodeMemory` gives no access to the module at all.
unsafe impl Sync for CodeMemory {}

//! Ownership of the generated machine code: the `JITModule` is kept until the compiled set is
//! dropped, then its memory is freed (a `JITModule` does not free code on drop).
#![allow(unsafe_code, reason = "owning and freeing JIT code memory")]

use std::mem::ManuallyDrop;

use cranelift_jit::JITModule;
use cranelift_module::FuncId;

use crate::runtime::ChunkFn;

/// The code memory of one compiled set.
pub(crate) struct CodeMemory {
    module: ManuallyDrop<JITModule>,
}

impl CodeMemory {
    /// Takes ownership of a finalized module and returns the entry points of `ids`.
    pub(crate) fn new(module: JITModule, ids: &[FuncId]) -> (CodeMemory, Vec<ChunkFn>) {
        let chunks = ids
            .iter()
            .map(|&id| {
                let address = module.get_finalized_function(id);
                // SAFETY: `id` was defined by `define_chunks` with the signature
                // `fn(*mut Ctx) -> i32` in the platform's default calling convention, which is
                // the C convention, and the module has been finalized.
                unsafe { std::mem::transmute::<*const u8, ChunkFn>(address) }
            })
            .collect();
        (
            CodeMemory {
                module: ManuallyDrop::new(module),
            },
            chunks,
        )
    }
}

impl Drop for CodeMemory {
    fn drop(&mut self) {
        // SAFETY: the module is taken exactly once, here; the function pointers into it live
        // in the `CompiledSet` that owns this `CodeMemory` and are dropped with it, so no code
        // of this module can run afterwards.
        let module = unsafe { ManuallyDrop::take(&mut self.module) };
        // SAFETY: as above: nothing refers to this code any more.
        unsafe { module.free_memory() };
    }
}

// SAFETY: after finalization the module is never used again except to free it on drop; the
// code memory is immutable and executable, so sharing entry points between threads is sound.
unsafe impl Send for CodeMemory {}
// SAFETY: as above; `&CodeMemory` gives no access to the module at all.
unsafe impl Sync for CodeMemory {}

//! Compiles a whole flakewatch pattern set to native code with Cranelift.
//!
//! [`CompiledSet::compile`] takes the IR of every issue's script ([`PatternSet`]), builds its
//! [`Plan`] (equality index, regexp prefilter, cost order) and generates one function per
//! chunk of issues. [`CompiledSet::assign`] then decides a record across all issues the way
//! the reference interpreter does: the first `skip` wins, else every `post`, else the first
//! `default`, else a new issue. Compiled sets are immutable and `Send + Sync`; each thread
//! owns a [`Scratch`]. [`PlanInterpreter`] walks the same plan without generating code.

use std::fmt;

use cranelift_codegen::binemit::Reloc;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{FuncId, Module, ModuleReloc, ModuleRelocTarget};
use flakewatch_dsl::ir::{ActionKind, PatternSet};
use flakewatch_dsl::{Assignment, AssignmentBuilder, Record};

mod class;
mod code;
pub mod codegen;
pub mod dispatch;
pub mod plan;
mod runtime;
mod x64;

pub use plan::Plan;

use code::CodeMemory;
use runtime::ChunkFn;

/// Issues per generated function: keeps each function small for the register allocator.
pub const DEFAULT_CHUNK: usize = 128;

/// Most threads one compilation uses (each generates a share of the chunk functions).
pub const COMPILE_THREADS: usize = 4;

/// Fewest chunk functions worth a compile thread of their own.
const MIN_CHUNKS_PER_THREAD: usize = 4;

/// Why a pattern set could not be compiled.
#[derive(Debug, thiserror::Error)]
pub enum JitError {
    /// The host machine is not supported by Cranelift.
    #[error("cannot generate code for this machine: {0}")]
    Unsupported(String),
    /// Cranelift rejected the generated code.
    #[error("code generation failed: {0}")]
    Codegen(String),
    /// A predicate callback panicked while evaluating a record (a flakewatch bug).
    #[error("internal error while evaluating a record: a predicate panicked")]
    Panicked,
}

/// How the chunk functions become machine code.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// Cranelift, on any machine it supports.
    Cranelift,
    /// flakewatch's own x86-64 code templates (`x64.rs`; x86-64 with the System V calling
    /// convention only): the same control flow, generated in a small fraction of the time.
    Direct,
}

impl Backend {
    /// The backend used by default: [`Backend::Direct`] where it runs, else Cranelift.
    pub const fn host() -> Backend {
        if Backend::Direct.runs_here() {
            Backend::Direct
        } else {
            Backend::Cranelift
        }
    }

    /// Whether this backend can generate code for the machine flakewatch runs on.
    pub const fn runs_here(self) -> bool {
        match self {
            Backend::Cranelift => true,
            Backend::Direct => cfg!(all(target_arch = "x86_64", unix)),
        }
    }
}

/// A pattern set compiled to native code.
pub struct CompiledSet {
    plan: Plan,
    /// The generated functions, in [`codegen::Layout`] order.
    functions: Vec<ChunkFn>,
    /// How to run them for a record.
    entries: runtime::Entries,
    /// Owns the code the chunk pointers point into; declared last so it is dropped last.
    _code: CodeMemory,
}

impl fmt::Debug for CompiledSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompiledSet")
            .field("issues", &self.plan.set().issues.len())
            .field("functions", &self.functions.len())
            .finish_non_exhaustive()
    }
}

/// Per-thread working memory of a [`CompiledSet`] or a [`PlanInterpreter`].
#[derive(Debug, Clone)]
pub struct Scratch {
    plan: plan::Scratch,
    posts: Vec<u32>,
    /// The regexp groups selected for the current record.
    regex_groups: Vec<u32>,
}

impl CompiledSet {
    /// Compiles `set` with the default chunk size.
    pub fn compile(set: PatternSet) -> Result<CompiledSet, JitError> {
        CompiledSet::compile_with(set, DEFAULT_CHUNK)
    }

    /// Compiles `set` with the [host](Backend::host) backend, generating one function per
    /// `chunk_size` issues.
    pub fn compile_with(set: PatternSet, chunk_size: usize) -> Result<CompiledSet, JitError> {
        CompiledSet::compile_with_backend(set, chunk_size, Backend::host())
    }

    /// Compiles `set` with `backend`, generating one function per `chunk_size` issues. Large
    /// sets are compiled on up to [`COMPILE_THREADS`] threads.
    pub fn compile_with_backend(
        set: PatternSet,
        chunk_size: usize,
        backend: Backend,
    ) -> Result<CompiledSet, JitError> {
        let plan = Plan::new(set);
        let layout = codegen::Layout::new(&plan, chunk_size);
        let (code, functions) = match backend {
            Backend::Cranelift => compile_cranelift(&plan, &layout)?,
            Backend::Direct => compile_direct(&plan, &layout)?,
        };
        let entries = layout.entries();
        Ok(CompiledSet {
            plan,
            functions,
            entries,
            _code: code,
        })
    }

    /// The Cranelift IR of the chunk functions for `set` (what `compile` would generate).
    pub fn clif(set: PatternSet, chunk_size: usize) -> Result<String, JitError> {
        let plan = Plan::new(set);
        Ok(codegen::clif_text(
            &plan,
            chunk_size,
            host_isa()?.frontend_config(),
        ))
    }

    /// The plan (and through it the pattern set).
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Fresh scratch space for one thread.
    pub fn scratch(&self) -> Scratch {
        new_scratch(&self.plan)
    }

    /// Decides `record` across all issues. Targets are issue indices in assignment order.
    #[allow(unsafe_code, reason = "calls the generated code")]
    pub fn assign(&self, record: &Record, scratch: &mut Scratch) -> Result<Assignment, JitError> {
        self.plan.begin(record, &mut scratch.plan);
        // SAFETY: `functions` were generated for `self.plan` with the layout `entries`
        // describes, and `_code` keeps them alive.
        let outcome = unsafe {
            runtime::run_functions(
                &self.functions,
                &self.entries,
                &self.plan,
                record,
                &mut scratch.plan,
                &mut scratch.posts,
                &mut scratch.regex_groups,
            )
        };
        if outcome.panicked {
            return Err(JitError::Panicked);
        }
        let posts = &scratch.posts[..outcome.posts];
        Ok(decide(outcome.skip, posts, outcome.default_issue))
    }
}

/// Generates the functions of `layout` with Cranelift on up to [`COMPILE_THREADS`] threads
/// (one module each).
fn compile_cranelift(
    plan: &Plan,
    layout: &codegen::Layout,
) -> Result<(CodeMemory, Vec<ChunkFn>), JitError> {
    let count = layout.functions.len();
    let threads =
        flakewatch_dsl::parallel::threads_for(count, MIN_CHUNKS_PER_THREAD, COMPILE_THREADS);
    // Threads take the next chunk as they finish one (chunks differ in size).
    let next = std::sync::atomic::AtomicUsize::new(0);
    let modules: Vec<Result<CompiledChunks, JitError>> = if threads == 1 {
        vec![compile_chunks(plan, layout, &next)]
    } else {
        std::thread::scope(|scope| {
            let next = &next;
            let handles: Vec<_> = (0..threads)
                .map(|_| scope.spawn(move || compile_chunks(plan, layout, next)))
                .collect();
            handles
                .into_iter()
                .map(|h| match h.join() {
                    Ok(result) => result,
                    Err(_) => Err(JitError::Codegen("the code generator panicked".into())),
                })
                .collect()
        })
    };
    // The modules that were generated are owned (and so freed) even when another failed.
    let mut generated = Vec::with_capacity(modules.len());
    let mut failure = None;
    for module in modules {
        match module {
            Ok(module) => generated.push(module),
            Err(err) => {
                failure.get_or_insert(err);
            }
        }
    }
    let (code, functions) = CodeMemory::new(generated);
    match failure {
        Some(err) => Err(err),
        None => Ok((code, functions)),
    }
}

/// Fewest functions worth a thread of their own for the direct backend (a function of 128
/// issues takes tens of microseconds).
const MIN_DIRECT_FUNCTIONS_PER_THREAD: usize = 32;

/// Generates the functions of `layout` with the direct x86-64 backend, on several threads for
/// large sets, and loads them.
fn compile_direct(
    plan: &Plan,
    layout: &codegen::Layout,
) -> Result<(CodeMemory, Vec<ChunkFn>), JitError> {
    if !Backend::Direct.runs_here() {
        return Err(JitError::Unsupported(
            "the direct backend generates x86-64 System V code only".into(),
        ));
    }
    let count = layout.functions.len();
    let threads = flakewatch_dsl::parallel::threads_for(
        count,
        MIN_DIRECT_FUNCTIONS_PER_THREAD,
        COMPILE_THREADS,
    );
    let code = flakewatch_dsl::parallel::map_parts(&layout.functions, threads, |part| {
        part.iter()
            .map(|lists| x64::emit_function(plan, lists))
            .collect()
    });
    load_machine_code(&code)
}

/// Copies machine code into executable memory (one module), filling in the callback's
/// address, and returns the entry points in order.
fn load_machine_code(code: &[x64::MachineCode]) -> Result<(CodeMemory, Vec<ChunkFn>), JitError> {
    let mut builder = JITBuilder::with_isa(host_isa()?, cranelift_module::default_libcall_names());
    builder.symbol(runtime::EVAL_PRED_SYMBOL, runtime::eval_pred as *const u8);
    let mut module = JITModule::new(builder);
    let mut ids = Vec::with_capacity(code.len());
    let defined = (|| {
        let helper = codegen::declare_callback(&mut module)?;
        let signature = codegen::chunk_signature(&module);
        for (n, function) in code.iter().enumerate() {
            let id = module
                .declare_anonymous_function(&signature)
                .map_err(|e| JitError::Codegen(e.to_string()))?;
            let relocs: Vec<ModuleReloc> = function
                .callback_slots
                .iter()
                .map(|&offset| ModuleReloc {
                    offset,
                    kind: Reloc::Abs8,
                    name: ModuleRelocTarget::from(helper),
                    addend: 0,
                })
                .collect();
            module
                .define_function_bytes(id, 16, &function.bytes, &relocs)
                .map_err(|e| JitError::Codegen(e.to_string()))?;
            ids.push((n, id));
        }
        module
            .finalize_definitions()
            .map_err(|e| JitError::Codegen(e.to_string()))
    })();
    match defined {
        Ok(()) => Ok(CodeMemory::new(vec![(module, ids)])),
        Err(err) => {
            CodeMemory::discard(module);
            Err(err)
        }
    }
}

/// A finalized module and the chunk functions it holds: (chunk index, function).
type CompiledChunks = (JITModule, Vec<(usize, FuncId)>);

/// Generates functions of `layout` in a module of its own, taking function indices from `next`
/// until all are taken, and finalizes it.
fn compile_chunks(
    plan: &Plan,
    layout: &codegen::Layout,
    next: &std::sync::atomic::AtomicUsize,
) -> Result<CompiledChunks, JitError> {
    let count = layout.functions.len();
    let isa = host_isa()?;
    let mut builder = JITBuilder::with_isa(isa, cranelift_module::default_libcall_names());
    builder.symbol(runtime::EVAL_PRED_SYMBOL, runtime::eval_pred as *const u8);
    let mut module = JITModule::new(builder);
    let mut functions = Vec::new();
    let mut definer = codegen::ChunkDefiner::new(&mut module)?;
    loop {
        let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if n >= count {
            break;
        }
        functions.push((
            n,
            definer.define(&mut module, plan, &layout.functions[n], n)?,
        ));
    }
    module
        .finalize_definitions()
        .map_err(|e| JitError::Codegen(e.to_string()))?;
    Ok((module, functions))
}

/// The Cranelift ISA of this machine, with flakewatch's code-generation settings.
fn host_isa() -> Result<std::sync::Arc<dyn cranelift_codegen::isa::TargetIsa>, JitError> {
    let mut flags = settings::builder();
    // Cranelift's IR verifier runs in debug builds (so every test verifies the generated IR)
    // and not in release builds, where it was about a tenth of compile time.
    let verify = if cfg!(debug_assertions) {
        "true"
    } else {
        "false"
    };
    for (name, value) in [
        ("opt_level", "none"),
        ("regalloc_algorithm", "single_pass"),
        ("is_pic", "false"),
        ("use_colocated_libcalls", "false"),
        ("enable_verifier", verify),
        // Nothing unwinds through generated code (the callback catches panics), so no unwind
        // tables are generated or registered.
        ("unwind_info", "false"),
    ] {
        flags
            .set(name, value)
            .map_err(|e| JitError::Codegen(format!("setting {name}: {e}")))?;
    }
    cranelift_native::builder()
        .map_err(|e| JitError::Unsupported(e.to_string()))?
        .finish(settings::Flags::new(flags))
        .map_err(|e| JitError::Unsupported(e.to_string()))
}

fn new_scratch(plan: &Plan) -> Scratch {
    Scratch {
        plan: plan.scratch(),
        // An issue in several selected groups posts once per group (the decision drops
        // repeats).
        posts: vec![0; plan.dispatch().max_runs()],
        regex_groups: Vec::new(),
    }
}

/// The decision from what the issues said, through the one cross-issue rule
/// ([`AssignmentBuilder`]).
fn decide(skip: Option<u32>, posts: &[u32], default_issue: u32) -> Assignment {
    let mut decision = AssignmentBuilder::new();
    if let Some(issue) = skip {
        decision.offer(issue as usize, ActionKind::Skip);
    }
    for &issue in posts {
        decision.offer(issue as usize, ActionKind::Post);
    }
    if default_issue != u32::MAX {
        decision.offer(default_issue as usize, ActionKind::Default);
    }
    decision.finish()
}

/// What the issues run so far decided (the lowest skip and default, posts in `Scratch`).
struct Outcome {
    skip: u32,
    posts: usize,
    default_issue: u32,
}

/// Walks the [`Plan`] without generating code: the same equality index, prefilter, memo and
/// cost order as the JIT, interpreted.
#[derive(Debug)]
pub struct PlanInterpreter {
    plan: Plan,
}

impl PlanInterpreter {
    /// Plans `set`.
    pub fn new(set: PatternSet) -> PlanInterpreter {
        PlanInterpreter {
            plan: Plan::new(set),
        }
    }

    /// The plan.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// Fresh scratch space for one thread.
    pub fn scratch(&self) -> Scratch {
        new_scratch(&self.plan)
    }

    /// Decides `record` across all issues: the groups its equalities and its prefiltered
    /// literals select, then the always-run issues, combined as the JIT does.
    pub fn assign(&self, record: &Record, scratch: &mut Scratch) -> Assignment {
        let plan = &self.plan;
        plan.begin(record, &mut scratch.plan);
        let dispatch = plan.dispatch();
        let mut outcome = Outcome {
            skip: u32::MAX,
            posts: 0,
            default_issue: u32::MAX,
        };
        let winners = scratch.plan.eq_true;
        for group in dispatch.selected(&winners) {
            self.run_list(
                &dispatch.groups[group as usize],
                record,
                scratch,
                &mut outcome,
            );
        }
        let mut selected = std::mem::take(&mut scratch.regex_groups);
        selected.clear();
        plan.select_regex_groups(record, &mut scratch.plan, &mut selected);
        for &group in &selected {
            self.run_list(
                &dispatch.regex_groups[group as usize],
                record,
                scratch,
                &mut outcome,
            );
        }
        scratch.regex_groups = selected;
        self.run_list(&dispatch.always, record, scratch, &mut outcome);
        let skip = (outcome.skip != u32::MAX).then_some(outcome.skip);
        decide(skip, &scratch.posts[..outcome.posts], outcome.default_issue)
    }

    /// Runs the issues of `list` (ascending) up to the first `skip` or one above a skip found
    /// before.
    fn run_list(&self, list: &[u32], record: &Record, scratch: &mut Scratch, out: &mut Outcome) {
        let plan = &self.plan;
        for &i in list {
            if i > out.skip {
                return;
            }
            let Some(rule) = plan.set().issues[i as usize]
                .rules
                .iter()
                .find(|rule| self.node(rule.expr, record, &mut scratch.plan))
            else {
                continue;
            };
            match plan.set().action_kinds[rule.action as usize] {
                ActionKind::Skip => {
                    out.skip = i;
                    return;
                }
                ActionKind::Post => {
                    scratch.posts[out.posts] = i;
                    out.posts += 1;
                }
                ActionKind::Default => out.default_issue = out.default_issue.min(i),
                ActionKind::Other => {}
            }
        }
    }

    fn node(
        &self,
        node: flakewatch_dsl::ir::NodeId,
        record: &Record,
        scratch: &mut plan::Scratch,
    ) -> bool {
        use flakewatch_dsl::ir::Node;
        match &self.plan.set().nodes[node as usize] {
            Node::And(_) => self
                .plan
                .operands(node)
                .iter()
                .all(|&x| self.node(x, record, scratch)),
            Node::Or(_) => self
                .plan
                .operands(node)
                .iter()
                .any(|&x| self.node(x, record, scratch)),
            Node::Not(x) => !self.node(*x, record, scratch),
            Node::Pred(p) => self.plan.pred(*p, record, scratch),
        }
    }
}

//! Engine selection: one interface over the reference interpreter, the plan interpreter and the
//! JIT, so that the triage pipeline and the CLI do not care which engine runs.

use flakewatch_dsl::ast::Script;
use flakewatch_dsl::interp::{Interpreter, Scratch as InterpScratch};
use flakewatch_dsl::ir::{LowerError, PatternSet};
use flakewatch_dsl::{Assignment, Limits, Record};
use flakewatch_jit::{CompiledSet, JitError, PlanInterpreter, Scratch as PlanScratch};

/// Which engine evaluates the pattern set.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub enum EngineKind {
    /// The reference interpreter: walks every rule of every issue (the semantics oracle).
    Interp,
    /// The plan interpreter: equality index, regexp prefilter and cost order, interpreted.
    Plan,
    /// The plan compiled to native code with Cranelift.
    #[default]
    Jit,
}

impl EngineKind {
    /// Every engine, the reference first.
    pub const ALL: [EngineKind; 3] = [EngineKind::Interp, EngineKind::Plan, EngineKind::Jit];

    /// The engine of a [`name`](EngineKind::name).
    pub fn from_name(name: &str) -> Option<EngineKind> {
        EngineKind::ALL.into_iter().find(|kind| kind.name() == name)
    }

    /// What the engine is, in one line.
    pub fn about(self) -> &'static str {
        match self {
            EngineKind::Interp => {
                "the reference interpreter: walks every rule of every issue (the semantics oracle)"
            }
            EngineKind::Plan => {
                "the plan interpreter: equality index, regexp prefilter and cost order, interpreted"
            }
            EngineKind::Jit => "the plan compiled to native code with Cranelift",
        }
    }

    /// The name used on the command line and in reports.
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Interp => "interp",
            EngineKind::Plan => "plan",
            EngineKind::Jit => "jit",
        }
    }
}

#[derive(Debug)]
enum Inner {
    Interp(PatternSet),
    Plan(Box<PlanInterpreter>),
    Jit(Box<CompiledSet>),
}

/// A compiled pattern set ready to assign records; `Send + Sync`, one [`EngineScratch`] per thread.
#[derive(Debug)]
pub struct Engine {
    inner: Inner,
}

/// Per-thread working memory of an [`Engine`].
#[derive(Debug)]
pub struct EngineScratch {
    interp: Option<InterpScratch>,
    plan: Option<PlanScratch>,
    fallbacks: u64,
}

impl EngineScratch {
    /// Records for which the JIT hit an internal error and the reference interpreter decided
    /// instead (always 0 unless flakewatch has a bug).
    pub fn fallbacks(&self) -> u64 {
        self.fallbacks
    }
}

impl Engine {
    /// Builds an engine over issues in assignment order; `None` scripts never match. Scripts
    /// that exceed a flakewatch limit are unusable and come back with their error.
    pub fn build<'a>(
        kind: EngineKind,
        scripts: impl IntoIterator<Item = (u64, Option<&'a Script>)>,
        limits: Limits,
    ) -> Result<(Engine, Vec<(u64, LowerError)>), JitError> {
        let (set, errors) = PatternSet::from_scripts(scripts, limits);
        Ok((Engine::from_set(kind, set)?, errors))
    }

    /// Wraps an already lowered pattern set.
    pub fn from_set(kind: EngineKind, set: PatternSet) -> Result<Engine, JitError> {
        let inner = match kind {
            EngineKind::Interp => Inner::Interp(set),
            EngineKind::Plan => Inner::Plan(Box::new(PlanInterpreter::new(set))),
            EngineKind::Jit => Inner::Jit(Box::new(CompiledSet::compile(set)?)),
        };
        Ok(Engine { inner })
    }

    /// The engine in use.
    pub fn kind(&self) -> EngineKind {
        match self.inner {
            Inner::Interp(_) => EngineKind::Interp,
            Inner::Plan(_) => EngineKind::Plan,
            Inner::Jit(_) => EngineKind::Jit,
        }
    }

    /// The evaluation plan (the plan interpreter's and the JIT's; the reference interpreter
    /// has none).
    pub fn plan(&self) -> Option<&flakewatch_jit::Plan> {
        match &self.inner {
            Inner::Interp(_) => None,
            Inner::Plan(plan) => Some(plan.plan()),
            Inner::Jit(jit) => Some(jit.plan()),
        }
    }

    /// The pattern set.
    pub fn set(&self) -> &PatternSet {
        match &self.inner {
            Inner::Interp(set) => set,
            Inner::Plan(plan) => plan.plan().set(),
            Inner::Jit(jit) => jit.plan().set(),
        }
    }

    /// Fresh scratch space for one thread.
    pub fn scratch(&self) -> EngineScratch {
        let (interp, plan) = match &self.inner {
            Inner::Interp(set) => (Some(Interpreter::new(set).scratch()), None),
            Inner::Plan(plan) => (None, Some(plan.scratch())),
            Inner::Jit(jit) => (None, Some(jit.scratch())),
        };
        EngineScratch {
            interp,
            plan,
            fallbacks: 0,
        }
    }

    /// Assigns one record across all issues. Targets are indices into the issue order.
    pub fn assign(&self, record: &Record, scratch: &mut EngineScratch) -> Assignment {
        match &self.inner {
            Inner::Interp(set) => {
                let interp = Interpreter::new(set);
                let state = scratch.interp.get_or_insert_with(|| interp.scratch());
                interp.assign(record, state)
            }
            Inner::Plan(plan) => {
                let state = scratch.plan.get_or_insert_with(|| plan.scratch());
                plan.assign(record, state)
            }
            Inner::Jit(jit) => {
                let state = scratch.plan.get_or_insert_with(|| jit.scratch());
                match jit.assign(record, state) {
                    Ok(assignment) => assignment,
                    Err(_) => {
                        // A predicate callback panicked: a flakewatch bug. The oracle decides.
                        scratch.fallbacks += 1;
                        *state = jit.scratch();
                        let interp = Interpreter::new(jit.plan().set());
                        let fallback = scratch.interp.get_or_insert_with(|| interp.scratch());
                        interp.assign(record, fallback)
                    }
                }
            }
        }
    }
}

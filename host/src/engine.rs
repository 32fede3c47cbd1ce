//! Engine selection: one interface over the reference interpreter and the JIT, so that the
//! triage pipeline and the CLI do not care which engine runs.

use flakewatch_dsl::ast::Script;
use flakewatch_dsl::interp::{Interpreter, Scratch as InterpScratch};
use flakewatch_dsl::ir::{LowerError, PatternSet};
use flakewatch_dsl::{Assignment, Limits, Record};

/// Which engine evaluates the pattern set.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineKind {
    /// The reference interpreter (the semantics oracle).
    #[default]
    Interp,
}

/// A compiled pattern set ready to assign records; `Send + Sync`, one [`EngineScratch`] per thread.
#[derive(Debug)]
pub struct Engine {
    kind: EngineKind,
    set: PatternSet,
}

/// Per-thread working memory of an [`Engine`].
#[derive(Debug)]
pub struct EngineScratch {
    interp: InterpScratch,
}

impl Engine {
    /// Builds an engine over issues in assignment order; `None` scripts never match.
    pub fn build<'a>(
        kind: EngineKind,
        scripts: impl IntoIterator<Item = (u64, Option<&'a Script>)>,
        limits: Limits,
    ) -> (Engine, Vec<(u64, LowerError)>) {
        let (set, errors) = PatternSet::from_scripts(scripts, limits);
        (Engine { kind, set }, errors)
    }

    /// The engine in use.
    pub fn kind(&self) -> EngineKind {
        self.kind
    }

    /// The pattern set.
    pub fn set(&self) -> &PatternSet {
        &self.set
    }

    /// Fresh scratch space for one thread.
    pub fn scratch(&self) -> EngineScratch {
        EngineScratch {
            interp: Interpreter::new(&self.set).scratch(),
        }
    }

    /// Assigns one record across all issues. Targets are indices into the issue order.
    pub fn assign(&self, record: &Record, scratch: &mut EngineScratch) -> Assignment {
        Interpreter::new(&self.set).assign(record, &mut scratch.interp)
    }
}

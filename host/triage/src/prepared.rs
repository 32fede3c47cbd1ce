//! The engines of the issues a cycle prepares (upstream's new issues, which take part in the
//! assignment of the cycle's later failures), in groups instead of one engine per issue.
//!
//! With one engine per prepared issue every later failure ran every one of them: 372 new
//! issues on the 320,000-build data set made 4.7 million engine calls, each paying a record's
//! `begin`. Here the prepared issues are kept in groups of power-of-two sizes, like the runs
//! of a log-structured merge: a new issue is a group of one, and two groups of one size are
//! compiled into one of twice that size. A failure then runs at most ⌈log₂ n⌉ + 1 engines,
//! each compiled once per doubling (n log n issue compilations in all), and the dispatch of
//! a group's engine runs only the issues whose guards a record meets.
//!
//! Group engines give every prepared issue's decision by its index, so combining them by
//! [`AssignmentBuilder`](flakewatch_dsl::AssignmentBuilder) gives exactly what one engine per
//! issue gives (tested).

use flakewatch_dsl::ast::Script;
use flakewatch_dsl::{Assignment, Limits, Record};
use flakewatch_jit::JitError;

use crate::engine::{Engine, EngineKind, EngineScratch};

/// One compiled group: prepared issues `first..first + len`.
#[derive(Debug)]
struct Group {
    first: usize,
    len: usize,
    engine: Engine,
    scratch: EngineScratch,
}

/// The engines of the issues prepared so far in a cycle.
#[derive(Debug)]
pub struct PreparedEngines {
    kind: EngineKind,
    limits: Limits,
    /// The scripts, by prepared index (`None`: the issue never matches).
    scripts: Vec<Option<Script>>,
    /// Groups in index order, sizes strictly decreasing.
    groups: Vec<Group>,
}

impl PreparedEngines {
    /// No prepared issues yet; engines of `kind`.
    pub fn new(kind: EngineKind, limits: Limits) -> PreparedEngines {
        PreparedEngines {
            kind,
            limits,
            scripts: Vec::new(),
            groups: Vec::new(),
        }
    }

    /// The number of prepared issues.
    pub fn len(&self) -> usize {
        self.scripts.len()
    }

    /// Whether no issue is prepared.
    pub fn is_empty(&self) -> bool {
        self.scripts.is_empty()
    }

    /// Adds the next prepared issue's script (`None`: it never matches).
    pub fn push(&mut self, script: Option<Script>) -> Result<(), JitError> {
        self.scripts.push(script);
        let mut group = self.compile(self.scripts.len() - 1, 1)?;
        while let Some(last) = self.groups.last()
            && last.len == group.len
        {
            let first = last.first;
            self.groups.pop();
            group = self.compile(first, group.len * 2)?;
        }
        self.groups.push(group);
        Ok(())
    }

    fn compile(&self, first: usize, len: usize) -> Result<Group, JitError> {
        let scripts = self.scripts[first..first + len]
            .iter()
            .enumerate()
            .map(|(i, s)| (i as u64, s.as_ref()));
        let (engine, _) = Engine::build(self.kind, scripts, self.limits)?;
        let scratch = engine.scratch();
        Ok(Group {
            first,
            len,
            engine,
            scratch,
        })
    }

    /// The assignment of `record` by each group, with the prepared index of its first issue
    /// (the group's indices count from it).
    pub fn assign(&mut self, record: &Record) -> Vec<(usize, Assignment)> {
        self.groups
            .iter_mut()
            .map(|g| (g.first, g.engine.assign(record, &mut g.scratch)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use flakewatch_dsl::{AssignmentBuilder, parse_script};

    use super::*;

    /// Groups merged at every size give, issue by issue, what one engine per issue gives.
    #[test]
    fn groups_decide_as_one_engine_per_issue() {
        let scripts = [
            "post <- pkg == \"net\"",
            "default <- test == \"TestA\"",
            "skip <- pkg == \"os\" && test == \"TestB\"",
            "post <- `timeout`",
            "default <- pkg == \"net\" && test == \"TestA\"",
            "post <- goos == \"linux\"",
            "default <- pkg == \"os\"",
        ];
        let records = [
            [
                ("pkg", "net"),
                ("test", "TestA"),
                ("goos", "linux"),
                ("output", ""),
            ],
            [
                ("pkg", "os"),
                ("test", "TestB"),
                ("goos", "darwin"),
                ("output", ""),
            ],
            [
                ("pkg", "os"),
                ("test", "TestC"),
                ("goos", "linux"),
                ("output", "timeout"),
            ],
            [
                ("pkg", "io"),
                ("test", "TestA"),
                ("goos", "plan9"),
                ("output", ""),
            ],
            [
                ("pkg", "io"),
                ("test", "TestZ"),
                ("goos", "plan9"),
                ("output", ""),
            ],
        ];
        for kind in EngineKind::ALL {
            let mut prepared = PreparedEngines::new(kind, Limits::DEFAULT);
            let mut singles = Vec::new();
            let mut checked = 0;
            for (n, text) in scripts.iter().enumerate() {
                let parsed = parse_script(text);
                assert!(parsed.is_ok(), "{text}");
                let (one, _) =
                    Engine::build(kind, [(0, Some(&parsed.script))], Limits::DEFAULT).expect("one");
                singles.push(one);
                prepared.push(Some(parsed.script)).expect("push");
                assert_eq!(prepared.len(), n + 1);
                assert!(prepared.groups.len() <= (n + 1).count_ones() as usize);
                for pairs in &records {
                    let record = Record::from_pairs(pairs.iter().copied());
                    let mut want = AssignmentBuilder::new();
                    for (k, one) in singles.iter().enumerate() {
                        want.absorb(&one.assign(&record, &mut one.scratch()), |_| k);
                    }
                    let mut got = AssignmentBuilder::new();
                    for (first, a) in prepared.assign(&record) {
                        got.absorb(&a, |i| first + i);
                    }
                    assert_eq!(got.finish(), want.finish(), "{kind:?} after {n}: {pairs:?}");
                    checked += 1;
                }
            }
            assert_eq!(checked, scripts.len() * records.len());
        }
    }
}

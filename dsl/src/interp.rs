//! The reference interpreter over the IR: the definition of flakewatch's semantics, against
//! which every other engine is checked. It walks the nodes with short-circuit evaluation and
//! remembers each predicate's result for the current record (predicates are pure).

use crate::field::Record;
use crate::ir::{ActionId, ActionKind, Node, NodeId, PatternSet, Pred, PredId};

/// The decision for one failure across all issues (upstream's `run`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Assignment {
    /// Some issue said `skip`: the failure is dropped. Holds that issue's index.
    Skip(usize),
    /// Post to every issue that said `post`, in order. Holds their indices.
    Post(Vec<usize>),
    /// Nobody said post or skip; the first issue that said `default` gets it.
    Default(usize),
    /// No issue claimed the failure: a new issue is needed.
    NewIssue,
}

/// The cross-issue rule, written once for every engine and for triage: issues offer their
/// actions in any order; the lowest issue that said `skip` wins; otherwise every issue that
/// said `post`, ascending; otherwise the lowest issue that said `default`; otherwise a new
/// issue.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AssignmentBuilder {
    skip: Option<usize>,
    posts: Vec<usize>,
    default: Option<usize>,
}

impl AssignmentBuilder {
    /// No issue has said anything yet.
    pub fn new() -> AssignmentBuilder {
        AssignmentBuilder::default()
    }

    /// Issue `issue` took an action of `kind` (an `Other` action takes no part).
    pub fn offer(&mut self, issue: usize, kind: ActionKind) {
        match kind {
            ActionKind::Skip => self.skip = Some(self.skip.map_or(issue, |s| s.min(issue))),
            ActionKind::Post => self.posts.push(issue),
            ActionKind::Default => {
                self.default = Some(self.default.map_or(issue, |d| d.min(issue)));
            }
            ActionKind::Other => {}
        }
    }

    /// Takes in an assignment decided over some of the issues, whose indices are `issue(i)`
    /// for its index `i` (the identity, or an offset for a later part of the issue order).
    pub fn absorb(&mut self, assignment: &Assignment, issue: impl Fn(usize) -> usize) {
        match assignment {
            Assignment::Skip(i) => self.offer(issue(*i), ActionKind::Skip),
            Assignment::Post(targets) => {
                for &i in targets {
                    self.offer(issue(i), ActionKind::Post);
                }
            }
            Assignment::Default(i) => self.offer(issue(*i), ActionKind::Default),
            Assignment::NewIssue => {}
        }
    }

    /// The lowest issue that said `skip` so far: nothing after it can change the result.
    pub fn skipped(&self) -> Option<usize> {
        self.skip
    }

    /// The decision.
    pub fn finish(mut self) -> Assignment {
        if let Some(issue) = self.skip {
            return Assignment::Skip(issue);
        }
        if !self.posts.is_empty() {
            self.posts.sort_unstable();
            self.posts.dedup();
            return Assignment::Post(self.posts);
        }
        match self.default {
            Some(issue) => Assignment::Default(issue),
            None => Assignment::NewIssue,
        }
    }
}

impl Assignment {
    /// The action name used in machine output: `skip`, `post`, `default` or `new_issue`.
    pub fn action_name(&self) -> &'static str {
        match self {
            Assignment::Skip(_) => "skip",
            Assignment::Post(_) => "post",
            Assignment::Default(_) => "default",
            Assignment::NewIssue => "new_issue",
        }
    }

    /// The issue indices concerned (empty for a new issue).
    pub fn targets(&self) -> &[usize] {
        match self {
            Assignment::Skip(i) | Assignment::Default(i) => std::slice::from_ref(i),
            Assignment::Post(issues) => issues,
            Assignment::NewIssue => &[],
        }
    }
}

/// Per-thread working memory of the interpreter (predicate results for the current record).
#[derive(Clone, Debug, Default)]
pub struct Scratch {
    /// 0 unknown, 1 false, 2 true; indexed by predicate.
    memo: Vec<u8>,
}

/// The reference interpreter for one pattern set.
#[derive(Clone, Copy, Debug)]
pub struct Interpreter<'p> {
    set: &'p PatternSet,
}

impl<'p> Interpreter<'p> {
    /// An interpreter for `set`.
    pub fn new(set: &'p PatternSet) -> Interpreter<'p> {
        Interpreter { set }
    }

    /// Fresh scratch space for one thread.
    pub fn scratch(&self) -> Scratch {
        Scratch {
            memo: vec![0; self.set.preds.len()],
        }
    }

    /// Starts a new record: forgets the predicate results of the previous one.
    fn reset(&self, scratch: &mut Scratch) {
        scratch.memo.clear();
        scratch.memo.resize(self.set.preds.len(), 0);
    }

    /// The action of issue `issue`'s script for `record`: the first matching rule's action.
    pub fn script_action(
        &self,
        issue: usize,
        record: &Record,
        scratch: &mut Scratch,
    ) -> Option<ActionId> {
        self.reset(scratch);
        self.first_match(issue, record, scratch)
    }

    /// The 0-based index of issue `issue`'s first rule that matches `record`, if any: which
    /// rule gave [`Interpreter::script_action`]'s action (for explanations and lint).
    pub fn first_rule(
        &self,
        issue: usize,
        record: &Record,
        scratch: &mut Scratch,
    ) -> Option<usize> {
        self.reset(scratch);
        self.set.issues[issue]
            .rules
            .iter()
            .position(|rule| self.node(rule.expr, record, scratch))
    }

    /// [`Interpreter::first_rule`] of every issue, in order, with the predicate results shared
    /// across issues (the record is read once).
    pub fn first_rules(&self, record: &Record, scratch: &mut Scratch) -> Vec<Option<usize>> {
        self.reset(scratch);
        self.set
            .issues
            .iter()
            .map(|issue| {
                issue
                    .rules
                    .iter()
                    .position(|rule| self.node(rule.expr, record, scratch))
            })
            .collect()
    }

    fn first_match(
        &self,
        issue: usize,
        record: &Record,
        scratch: &mut Scratch,
    ) -> Option<ActionId> {
        self.set.issues[issue]
            .rules
            .iter()
            .find(|rule| self.node(rule.expr, record, scratch))
            .map(|rule| rule.action)
    }

    /// Assigns `record` across all issues, in order: the first `skip` wins; otherwise every
    /// `post`; otherwise the first `default`; otherwise a new issue.
    pub fn assign(&self, record: &Record, scratch: &mut Scratch) -> Assignment {
        self.reset(scratch);
        let mut decision = AssignmentBuilder::new();
        for issue in 0..self.set.issues.len() {
            let Some(action) = self.first_match(issue, record, scratch) else {
                continue;
            };
            decision.offer(issue, self.set.action_kinds[action as usize]);
            if decision.skipped().is_some() {
                break;
            }
        }
        decision.finish()
    }

    fn node(&self, id: NodeId, record: &Record, scratch: &mut Scratch) -> bool {
        match &self.set.nodes[id as usize] {
            Node::And(operands) => operands.iter().all(|&x| self.node(x, record, scratch)),
            Node::Or(operands) => operands.iter().any(|&x| self.node(x, record, scratch)),
            Node::Not(x) => !self.node(*x, record, scratch),
            Node::Pred(p) => self.pred(*p, record, scratch),
        }
    }

    fn pred(&self, id: PredId, record: &Record, scratch: &mut Scratch) -> bool {
        let slot = &mut scratch.memo[id as usize];
        if *slot != 0 {
            return *slot == 2;
        }
        let result = match &self.set.preds[id as usize] {
            Pred::Cmp { field, op, literal } => op.eval(record.get(*field).as_bytes(), literal),
            Pred::Regex { field, regex } => self.set.regexes[*regex as usize]
                .regex()
                .is_match(record.get(*field)),
        };
        *slot = if result { 2 } else { 1 };
        result
    }
}

#[cfg(test)]
mod builder_tests {
    use super::*;

    #[test]
    fn skip_wins_then_posts_then_the_first_default() {
        let decide = |offers: &[(usize, ActionKind)]| {
            let mut b = AssignmentBuilder::new();
            for &(issue, kind) in offers {
                b.offer(issue, kind);
            }
            b.finish()
        };
        use ActionKind::{Default, Other, Post, Skip};
        assert_eq!(decide(&[]), Assignment::NewIssue);
        assert_eq!(decide(&[(3, Other)]), Assignment::NewIssue);
        assert_eq!(
            decide(&[(5, Default), (2, Default)]),
            Assignment::Default(2)
        );
        assert_eq!(
            decide(&[(5, Default), (7, Post), (1, Post)]),
            Assignment::Post(vec![1, 7])
        );
        assert_eq!(
            decide(&[(1, Post), (9, Skip), (4, Skip), (0, Default)]),
            Assignment::Skip(4)
        );
        let mut b = AssignmentBuilder::new();
        b.absorb(&Assignment::Post(vec![0, 2]), |i| i);
        b.absorb(&Assignment::Default(0), |i| i + 10);
        b.absorb(&Assignment::Post(vec![0]), |i| i + 11);
        assert_eq!(b.finish(), Assignment::Post(vec![0, 2, 11]));
    }
}

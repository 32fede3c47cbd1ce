//! Issue dispatch by mandatory equality: most scripts only act on failures of one package or
//! test (`pkg == "net/http" && …`), so evaluating every issue for every record wastes most of
//! the work. An issue's *guard* is a set of equality predicates on one field of which one must
//! hold for any of its acting rules to match; the equality index already tells, per field,
//! which single predicate holds for a record, so only the issues guarded by that predicate
//! (and the unguarded ones) need to run.
//!
//! Issues with no such guard whose every acting rule requires one regexp that a field's literal
//! prefilter gates (`` `lookup .*: no such host` && … ``) run only for records in which the
//! prefilter finds one of that regexp's literals: a *regexp group*. Without them, a set of
//! 10,000 issues ran 2,300 issues for every failure, almost all to find their regexp settled
//! false.
//!
//! An issue with neither, whose acting rules each require an equality or a prefiltered regexp
//! of their own, is in the groups of every rule's guard; it can then run more than once for a
//! record (once per selected group), which changes nothing: repeated posts are dropped and a
//! repeated skip or default is the same one.
//!
//! The groups run out of issue order, so engines combine their outcomes order-independently:
//! the lowest-numbered `skip`, the `post` issues sorted, the lowest-numbered `default`.

use flakewatch_dsl::Field;
use flakewatch_dsl::ir::{ActionKind, Node, PatternSet, PredId};

use crate::class::PredClass;

/// No group (in [`Dispatch::group_of_pred`]).
pub const NO_GROUP: u32 = u32::MAX;

/// Largest guard kept: an issue whose rules allow more literals of its best field than this
/// (`pkg == "a" || pkg == "b" || …`) is cheaper to evaluate for every record than to copy into
/// that many groups.
const MAX_GUARD_PREDS: usize = 8;

/// Fewest issues a field's regexp groups must hold for the field to dispatch by regexp: its
/// prefilter then scans every record's value before the issues run (else only when an issue
/// reaches one of its regexps), which costs more than it saves for a handful of issues.
const MIN_REGEX_DISPATCH_ISSUES: usize = 16;

/// Constraint keys from this on are regexp guards: `REGEX_KEY + field index`, the predicate a
/// gated regexp (equality guards use the field index itself).
const REGEX_KEY: u8 = Field::COUNT as u8;

/// Which issues run for a record.
#[derive(Debug, Default)]
pub struct Dispatch {
    /// Issues evaluated for every record, ascending.
    pub always: Vec<u32>,
    /// Per group: the issues its predicate guards, ascending.
    pub groups: Vec<Box<[u32]>>,
    /// Per group: its predicate (true whenever the group runs).
    pub group_preds: Vec<PredId>,
    /// Per predicate: its group, or [`NO_GROUP`].
    pub group_of_pred: Vec<u32>,
    /// The fields whose equality predicates have groups (each looked up once per record).
    pub fields: Vec<Field>,
    /// Per regexp group: the issues that run when its regexp's literal is found, ascending.
    pub regex_groups: Vec<Box<[u32]>>,
    /// Per regexp group: its regexp predicate (possible, not known to hold, when it runs).
    pub regex_group_preds: Vec<PredId>,
    /// Per predicate: its regexp group, or [`NO_GROUP`].
    pub regex_group_of_pred: Vec<u32>,
    /// The fields whose prefilters select regexp groups (each scanned once per value).
    pub regex_fields: Vec<Field>,
}

/// What makes an issue run.
enum Guard {
    /// Every record.
    Always,
    /// The records that select one of these groups: an equality predicate that holds (key
    /// below [`REGEX_KEY`]) or a regexp predicate the prefilter of its field finds possible.
    Groups(Vec<(u8, PredId)>),
}

impl Dispatch {
    /// Lays out the issues of `set`: each guarded issue in the groups of its guard's
    /// predicates, the others in `always`. Issues with no acting rule are left out (they
    /// cannot change an assignment). `gated` tells, per predicate, whether it is a regexp its
    /// field's prefilter gates.
    ///
    /// An issue's guard is, in this order of preference: one field all its acting rules
    /// require an equality on (the union of their literals); one prefiltered regexp they all
    /// require; else, rule by rule, an equality or prefiltered regexp each requires. In the
    /// last case an issue can be in several groups selected for the same record and run
    /// more than once: engines keep room for [`Dispatch::max_runs`] posts and the decision
    /// drops repeated ones (a repeated skip or default changes nothing).
    pub fn new(
        set: &PatternSet,
        classes: &[PredClass],
        eq_literals: &[usize],
        gated: &[bool],
    ) -> Dispatch {
        let constraints = node_constraints(set, classes, gated);
        // The best equality guard of a constraint list: the most literals in the set per
        // literal allowed.
        let best_eq = |required: &Constraints| -> Option<Vec<(u8, PredId)>> {
            let (key, preds) = required
                .iter()
                .filter(|(key, preds)| *key < REGEX_KEY && preds.len() <= MAX_GUARD_PREDS)
                .max_by_key(|(key, preds)| {
                    (
                        eq_literals[*key as usize] / preds.len(),
                        usize::MAX - preds.len(),
                    )
                })?;
            Some(preds.iter().map(|&pred| (*key, pred)).collect())
        };
        // The best regexp guard of at most `max` predicates: on `output` (scanned for nearly
        // every record anyway), then `log`, then the short fields.
        let best_regex = |required: &Constraints, max: usize| -> Option<Vec<(u8, PredId)>> {
            let (key, preds) = required
                .iter()
                .filter(|(key, preds)| *key >= REGEX_KEY && preds.len() <= max)
                .min_by_key(|(key, _)| match Field::ALL[(key - REGEX_KEY) as usize] {
                    Field::Output => 0,
                    Field::Log => 1,
                    other => 2 + other.index(),
                })?;
            Some(preds.iter().map(|&pred| (*key, pred)).collect())
        };
        let mut guards: Vec<Option<Guard>> = Vec::with_capacity(set.issues.len());
        let mut regex_issues = [0usize; Field::COUNT];
        for issue in &set.issues {
            let acting: Vec<&Constraints> = issue
                .rules
                .iter()
                .filter(|rule| set.action_kinds[rule.action as usize] != ActionKind::Other)
                .map(|rule| &constraints[rule.expr as usize])
                .collect();
            let Some((first, rest)) = acting.split_first() else {
                guards.push(None);
                continue;
            };
            // A key guards the issue when every acting rule requires one of its predicates;
            // the guard is the union of those predicates.
            let required = any_of(first, rest.iter().copied());
            let memberships = best_eq(&required)
                .or_else(|| best_regex(&required, 1))
                .or_else(|| {
                    let mut each: Vec<(u8, PredId)> = Vec::new();
                    for rule in &acting {
                        each.extend(best_eq(rule).or_else(|| best_regex(rule, MAX_GUARD_PREDS))?);
                    }
                    each.sort_unstable();
                    each.dedup();
                    Some(each)
                });
            let guard = match memberships {
                Some(memberships) => {
                    let mut fields: Vec<u8> = memberships
                        .iter()
                        .filter(|(key, _)| *key >= REGEX_KEY)
                        .map(|(key, _)| key - REGEX_KEY)
                        .collect();
                    fields.dedup();
                    for field in fields {
                        regex_issues[field as usize] += 1;
                    }
                    Guard::Groups(memberships)
                }
                None => Guard::Always,
            };
            guards.push(Some(guard));
        }
        let dispatching = |key: u8| {
            key < REGEX_KEY || regex_issues[(key - REGEX_KEY) as usize] >= MIN_REGEX_DISPATCH_ISSUES
        };
        let mut dispatch = Dispatch {
            group_of_pred: vec![NO_GROUP; set.preds.len()],
            regex_group_of_pred: vec![NO_GROUP; set.preds.len()],
            ..Dispatch::default()
        };
        let mut members: Vec<Vec<u32>> = Vec::new();
        let mut regex_members: Vec<Vec<u32>> = Vec::new();
        for (index, guard) in guards.into_iter().enumerate() {
            let index = index as u32;
            match guard {
                None => {}
                Some(Guard::Groups(memberships))
                    if memberships.iter().all(|&(key, _)| dispatching(key)) =>
                {
                    for (key, pred) in memberships {
                        let (group_of_pred, members, preds) = if key < REGEX_KEY {
                            (
                                &mut dispatch.group_of_pred,
                                &mut members,
                                &mut dispatch.group_preds,
                            )
                        } else {
                            (
                                &mut dispatch.regex_group_of_pred,
                                &mut regex_members,
                                &mut dispatch.regex_group_preds,
                            )
                        };
                        let group = &mut group_of_pred[pred as usize];
                        if *group == NO_GROUP {
                            *group = members.len() as u32;
                            members.push(Vec::new());
                            preds.push(pred);
                        }
                        members[*group as usize].push(index);
                    }
                }
                Some(_) => dispatch.always.push(index),
            }
        }
        dispatch.groups = members.into_iter().map(Vec::into_boxed_slice).collect();
        dispatch.regex_groups = regex_members
            .into_iter()
            .map(Vec::into_boxed_slice)
            .collect();
        for field in Field::ALL {
            let guards_field = set.preds.iter().enumerate().any(|(id, _)| {
                classes[id] == PredClass::Eq(field) && dispatch.group_of_pred[id] != NO_GROUP
            });
            if guards_field {
                dispatch.fields.push(field);
            }
            let by_regex = dispatch
                .regex_group_preds
                .iter()
                .any(|&pred| set.preds[pred as usize].field() == field);
            if by_regex {
                dispatch.regex_fields.push(field);
            }
        }
        dispatch
    }

    /// The most issue runs one record can take: every always-run issue and every group
    /// membership (an issue in several selected groups runs once per group).
    pub fn max_runs(&self) -> usize {
        self.always.len()
            + self
                .groups
                .iter()
                .chain(&self.regex_groups)
                .map(|group| group.len())
                .sum::<usize>()
    }

    /// The groups to run for a record whose equality winners (per field, the predicate that
    /// holds, or `NO_PRED`) are `eq_true`: at most one per field.
    #[inline]
    pub fn selected<'a>(
        &'a self,
        eq_true: &'a [u32; Field::COUNT],
    ) -> impl Iterator<Item = u32> + 'a {
        self.fields.iter().filter_map(|field| {
            let group = *self.group_of_pred.get(eq_true[field.index()] as usize)?;
            (group != NO_GROUP).then_some(group)
        })
    }
}

/// Per node: for each field it constrains (ascending key: field index for equalities,
/// [`REGEX_KEY`] plus field index for gated regexps), the predicates of which one must hold
/// for the node to hold.
type Constraints = Vec<(u8, Vec<PredId>)>;

fn constraint(constraints: &Constraints, field: u8) -> Option<&[PredId]> {
    constraints
        .iter()
        .find(|(f, _)| *f == field)
        .map(|(_, preds)| preds.as_slice())
}

/// The constraints that hold when one of several alternatives holds: a field only if every
/// alternative constrains it, to the union of their sets.
fn any_of<'a>(
    first: &Constraints,
    rest: impl Iterator<Item = &'a Constraints> + Clone,
) -> Constraints {
    first
        .iter()
        .filter_map(|(field, preds)| {
            let mut union = preds.clone();
            for other in rest.clone() {
                union.extend_from_slice(constraint(other, *field)?);
            }
            union.sort_unstable();
            union.dedup();
            Some((*field, union))
        })
        .collect()
}

/// The constraints of every node, bottom-up (nodes only refer to earlier nodes).
fn node_constraints(set: &PatternSet, classes: &[PredClass], gated: &[bool]) -> Vec<Constraints> {
    let mut all: Vec<Constraints> = Vec::with_capacity(set.nodes.len());
    for node in &set.nodes {
        let constraints = match node {
            Node::Pred(pred) => match classes[*pred as usize] {
                PredClass::Eq(field) => vec![(field.index() as u8, vec![*pred])],
                PredClass::Lazy if gated[*pred as usize] => {
                    let field = set.preds[*pred as usize].field();
                    vec![(REGEX_KEY + field.index() as u8, vec![*pred])]
                }
                PredClass::Order { .. } | PredClass::Lazy => Vec::new(),
            },
            // Every operand must hold: each operand's constraint applies; of two on one
            // field, the smaller set is the tighter (both are sound).
            Node::And(ops) => {
                let mut merged: Constraints = Vec::new();
                for &op in ops.iter() {
                    for (field, preds) in &all[op as usize] {
                        match merged.iter_mut().find(|(f, _)| f == field) {
                            Some((_, kept)) if kept.len() <= preds.len() => {}
                            Some((_, kept)) => kept.clone_from(preds),
                            None => merged.push((*field, preds.clone())),
                        }
                    }
                }
                merged.sort_unstable_by_key(|(f, _)| *f);
                merged
            }
            // One operand must hold: a field is constrained only if every operand constrains
            // it, to the union of their sets.
            Node::Or(ops) => {
                let (first, rest) = ops.split_first().expect("n-ary nodes have operands");
                any_of(
                    &all[*first as usize],
                    rest.iter().map(|&op| &all[op as usize]),
                )
            }
            Node::Not(_) => Vec::new(),
        };
        all.push(constraints);
    }
    all
}

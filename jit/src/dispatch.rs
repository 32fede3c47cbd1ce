//! Issue dispatch by mandatory equality: most scripts only act on failures of one package or
//! test (`pkg == "net/http" && …`), so evaluating every issue for every record wastes most of
//! the work. An issue's *guard* is a set of equality predicates on one field of which one must
//! hold for any of its acting rules to match; the equality index already tells, per field,
//! which single predicate holds for a record, so only the issues guarded by that predicate
//! (and the unguarded ones) need to run.
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
}

impl Dispatch {
    /// Lays out the issues of `set`: each guarded issue in the groups of its guard's
    /// predicates, the others in `always`. Issues with no acting rule are left out (they
    /// cannot change an assignment).
    pub fn new(set: &PatternSet, classes: &[PredClass], eq_literals: &[usize]) -> Dispatch {
        let constraints = node_constraints(set, classes);
        let mut dispatch = Dispatch {
            group_of_pred: vec![NO_GROUP; set.preds.len()],
            ..Dispatch::default()
        };
        let mut members: Vec<Vec<u32>> = Vec::new();
        for (index, issue) in set.issues.iter().enumerate() {
            let acting: Vec<&Constraints> = issue
                .rules
                .iter()
                .filter(|rule| set.action_kinds[rule.action as usize] != ActionKind::Other)
                .map(|rule| &constraints[rule.expr as usize])
                .collect();
            let Some((first, rest)) = acting.split_first() else {
                continue;
            };
            // A field guards the issue when every acting rule requires one of its literals;
            // the guard is the union of those literals.
            let guard = any_of(first, rest.iter().copied())
                .into_iter()
                .filter(|(_, preds)| preds.len() <= MAX_GUARD_PREDS)
                // The most selective: the most literals in the set per literal allowed.
                .max_by_key(|(field, preds)| {
                    (
                        eq_literals[*field as usize] / preds.len(),
                        usize::MAX - preds.len(),
                    )
                });
            let index = index as u32;
            match guard {
                None => dispatch.always.push(index),
                Some((_, preds)) => {
                    for pred in preds {
                        let group = &mut dispatch.group_of_pred[pred as usize];
                        if *group == NO_GROUP {
                            *group = members.len() as u32;
                            members.push(Vec::new());
                            dispatch.group_preds.push(pred);
                        }
                        members[*group as usize].push(index);
                    }
                }
            }
        }
        dispatch.groups = members.into_iter().map(Vec::into_boxed_slice).collect();
        for field in Field::ALL {
            let guards_field = set.preds.iter().enumerate().any(|(id, _)| {
                classes[id] == PredClass::Eq(field) && dispatch.group_of_pred[id] != NO_GROUP
            });
            if guards_field {
                dispatch.fields.push(field);
            }
        }
        dispatch
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

/// Per node: for each field it constrains (ascending field index), the equality predicates
/// of which one must hold for the node to hold.
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
fn node_constraints(set: &PatternSet, classes: &[PredClass]) -> Vec<Constraints> {
    let mut all: Vec<Constraints> = Vec::with_capacity(set.nodes.len());
    for node in &set.nodes {
        let constraints = match node {
            Node::Pred(pred) => match classes[*pred as usize] {
                PredClass::Eq(field) => vec![(field.index() as u8, vec![*pred])],
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

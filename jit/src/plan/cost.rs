//! The cost model: an estimate of each node's evaluation cost, so that `And`/`Or` operands
//! are evaluated cheapest first.

use flakewatch_dsl::Field;
use flakewatch_dsl::ir::{CmpKind, Node, PatternSet, Pred};

/// Estimated evaluation cost of every node (nodes only refer to earlier nodes).
pub(super) fn node_costs(set: &PatternSet) -> Vec<u32> {
    let mut costs: Vec<u32> = Vec::with_capacity(set.nodes.len());
    for node in &set.nodes {
        let cost = match node {
            Node::And(ops) | Node::Or(ops) => ops
                .iter()
                .map(|&op| costs[op as usize])
                .fold(0u32, u32::saturating_add),
            Node::Not(x) => costs[*x as usize],
            Node::Pred(p) => pred_cost(&set.preds[*p as usize]),
        };
        costs.push(cost.max(1));
    }
    costs
}

pub(super) fn pred_cost(pred: &Pred) -> u32 {
    match pred {
        Pred::Cmp {
            op: CmpKind::Eq, ..
        } => 1,
        Pred::Cmp { .. } => 2,
        Pred::Regex { field, .. } => match field {
            Field::Log => 10_000,
            Field::Output | Field::Snippet => 1_000,
            _ => 20,
        },
    }
}

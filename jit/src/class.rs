//! How each predicate of a plan is evaluated ([`PredClass`]); shared by the plan, dispatch and
//! code generation.

use flakewatch_dsl::Field;

/// How a predicate is evaluated.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum PredClass {
    /// `field == literal`: true exactly when the equality index maps the field's value to it.
    Eq(Field),
    /// `field < literal` (or `<=` when `inclusive`): true exactly when the literal's rank
    /// among the field's sorted order literals is at least the bound [`Plan::begin`](crate::Plan::begin) found
    /// for the value ([`Scratch::order_bound`](crate::plan::Scratch::order_bound)).
    Order {
        /// The field compared.
        field: Field,
        /// `<=` rather than `<`.
        inclusive: bool,
        /// The literal's rank in the field's order index.
        rank: u32,
    },
    /// A regexp match: read from the memo, computed on demand when unknown.
    Lazy,
}

impl PredClass {
    /// The slot of [`Scratch::order_bound`](crate::plan::Scratch::order_bound) an order predicate reads.
    pub fn order_slot(field: Field, inclusive: bool) -> usize {
        field.index() * 2 + usize::from(inclusive)
    }
}

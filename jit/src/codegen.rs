//! Lowers a [`Plan`] to Cranelift IR: functions that, for the current record, run the rules of
//! a list of issues in order with short-circuit control flow and record the cross-issue
//! decision in the `Ctx` (`runtime.rs`). A function holds either a chunk of the issues that
//! run for every record or several dispatch groups behind a `br_table` ([`crate::dispatch`]).
//!
//! Leaves: an equality predicate is one load and compare against the per-field winner the host
//! computed with the equality index; an order comparison one load and compare of its literal's
//! rank against the record's bound; a regexp reads its memo byte inline and calls back into
//! `runtime::eval_pred` only when the result is not known yet.

use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{
    AbiParam, Block, BlockCall, FuncRef, InstBuilder, JumpTableData, MemFlagsData, Value, types,
};
use cranelift_codegen::isa::TargetFrontendConfig;
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_module::{FuncId, Linkage, Module};
use flakewatch_dsl::ir::{ActionKind, Node, NodeId, PredId};

use crate::JitError;
use crate::class::PredClass;
use crate::plan::Plan;
use crate::runtime::{
    CTX_DEFAULT, CTX_EQ_TRUE, CTX_MEMO, CTX_ORDER_BOUND, CTX_POST_COUNT, CTX_POSTS, CTX_SKIP,
    Entries,
};

/// Values every block of a chunk function can use (defined in the entry block), and what is
/// known while emitting one issue list.
#[derive(Clone, Copy)]
struct Env {
    ctx: Value,
    eq_true: Value,
    memo: Value,
    order_bound: Value,
    eval_pred: FuncRef,
    /// The equality predicate of the dispatch group being emitted: it holds, and every other
    /// equality on its field fails (a value equals one literal), so neither is tested.
    known: Option<PredId>,
}

/// Emits a function that evaluates issue lists: `lists[arg]` for its second argument (a
/// `br_table`), or the only list. Each list is in ascending issue order, so the first `skip`
/// reached is the list's lowest; the function stores it and returns 1, else returns 0.
pub(crate) fn emit_function(
    builder: &mut FunctionBuilder<'_>,
    plan: &Plan,
    lists: &[IssueList],
    eval_pred: FuncRef,
) {
    let entry = builder.create_block();
    builder.append_block_params_for_function_params(entry);
    builder.switch_to_block(entry);
    let ctx = builder.block_params(entry)[0];
    let selector = builder.block_params(entry)[1];
    let flags = MemFlagsData::trusted();
    let eq_true = builder.ins().load(types::I64, flags, ctx, CTX_EQ_TRUE);
    let memo = builder.ins().load(types::I64, flags, ctx, CTX_MEMO);
    let order_bound = builder.ins().load(types::I64, flags, ctx, CTX_ORDER_BOUND);
    let env = Env {
        ctx,
        eq_true,
        memo,
        order_bound,
        eval_pred,
        known: None,
    };
    let done = builder.create_block();
    if let [list] = lists {
        let env = Env {
            known: list.known,
            ..env
        };
        emit_issues(builder, plan, &env, &list.issues, done);
    } else {
        let starts: Vec<Block> = lists.iter().map(|_| builder.create_block()).collect();
        let default = builder.func.dfg.block_call(done, &[]);
        let table: Vec<BlockCall> = starts
            .iter()
            .map(|&block| builder.func.dfg.block_call(block, &[]))
            .collect();
        let table = builder.create_jump_table(JumpTableData::new(default, &table));
        builder.ins().br_table(selector, table);
        for (list, start) in lists.iter().zip(starts) {
            builder.switch_to_block(start);
            let env = Env {
                known: list.known,
                ..env
            };
            emit_issues(builder, plan, &env, &list.issues, done);
        }
    }
    builder.switch_to_block(done);
    let zero = builder.ins().iconst(types::I32, 0);
    builder.ins().return_(&[zero]);
    builder.seal_all_blocks();
}

/// Emits the rules of `issues` in order, then a jump to `after`.
fn emit_issues(
    builder: &mut FunctionBuilder<'_>,
    plan: &Plan,
    env: &Env,
    issues: &[u32],
    after: Block,
) {
    let flags = MemFlagsData::trusted();
    let ctx = env.ctx;
    for &issue in issues {
        let index = i64::from(issue);
        let next_issue = builder.create_block();
        for rule in &plan.set().issues[issue as usize].rules {
            let matched = builder.create_block();
            let next_rule = builder.create_block();
            emit_cond(builder, plan, env, rule.expr, matched, next_rule);
            builder.switch_to_block(matched);
            match plan.set().action_kinds[rule.action as usize] {
                ActionKind::Skip => {
                    let value = builder.ins().iconst(types::I32, index);
                    builder.ins().store(flags, value, ctx, CTX_SKIP);
                    let one = builder.ins().iconst(types::I32, 1);
                    builder.ins().return_(&[one]);
                }
                ActionKind::Post => {
                    let count = builder.ins().load(types::I32, flags, ctx, CTX_POST_COUNT);
                    let posts = builder.ins().load(types::I64, flags, ctx, CTX_POSTS);
                    let wide = builder.ins().uextend(types::I64, count);
                    let byte_offset = builder.ins().ishl_imm_u(wide, 2);
                    let slot = builder.ins().iadd(posts, byte_offset);
                    let value = builder.ins().iconst(types::I32, index);
                    builder.ins().store(flags, value, slot, 0);
                    let bumped = builder.ins().iadd_imm_u(count, 1);
                    builder.ins().store(flags, bumped, ctx, CTX_POST_COUNT);
                    builder.ins().jump(next_issue, &[]);
                }
                ActionKind::Default => {
                    // Lists run out of issue order: keep the lowest (unset is u32::MAX).
                    let current = builder.ins().load(types::I32, flags, ctx, CTX_DEFAULT);
                    let lower = builder
                        .ins()
                        .icmp_imm_u(IntCC::UnsignedLessThan, current, index);
                    let value = builder.ins().iconst(types::I32, index);
                    let chosen = builder.ins().select(lower, current, value);
                    builder.ins().store(flags, chosen, ctx, CTX_DEFAULT);
                    builder.ins().jump(next_issue, &[]);
                }
                ActionKind::Other => {
                    builder.ins().jump(next_issue, &[]);
                }
            }
            builder.switch_to_block(next_rule);
        }
        builder.ins().jump(next_issue, &[]);
        builder.switch_to_block(next_issue);
    }
    builder.ins().jump(after, &[]);
}

/// Emits control flow that goes to `yes` when `node` holds and to `no` otherwise. Ends with the
/// builder in a terminated block.
fn emit_cond(
    builder: &mut FunctionBuilder<'_>,
    plan: &Plan,
    env: &Env,
    node: NodeId,
    yes: Block,
    no: Block,
) {
    match &plan.set().nodes[node as usize] {
        Node::And(_) | Node::Or(_) => {
            let is_and = matches!(plan.set().nodes[node as usize], Node::And(_));
            let operands = plan.operands(node);
            let (last, rest) = operands.split_last().expect("n-ary nodes have operands");
            for &operand in rest {
                let next = builder.create_block();
                if is_and {
                    emit_cond(builder, plan, env, operand, next, no);
                } else {
                    emit_cond(builder, plan, env, operand, yes, next);
                }
                builder.switch_to_block(next);
            }
            emit_cond(builder, plan, env, *last, yes, no);
        }
        Node::Not(x) => emit_cond(builder, plan, env, *x, no, yes),
        Node::Pred(pred) => {
            let flags = MemFlagsData::trusted();
            if let (Some(known), PredClass::Eq(field)) = (env.known, plan.class(*pred))
                && plan.class(known) == PredClass::Eq(field)
            {
                builder
                    .ins()
                    .jump(if *pred == known { yes } else { no }, &[]);
                return;
            }
            match plan.class(*pred) {
                PredClass::Eq(field) => {
                    let offset = i32::try_from(field.index() * 4).expect("field offset fits");
                    let winner = builder.ins().load(types::I32, flags, env.eq_true, offset);
                    let holds = builder
                        .ins()
                        .icmp_imm_u(IntCC::Equal, winner, i64::from(*pred));
                    builder.ins().brif(holds, yes, &[], no, &[]);
                }
                PredClass::Order {
                    field,
                    inclusive,
                    rank,
                } => {
                    let slot = PredClass::order_slot(field, inclusive);
                    let offset = i32::try_from(slot * 4).expect("order slot offset fits");
                    let bound = builder
                        .ins()
                        .load(types::I32, flags, env.order_bound, offset);
                    let holds = builder.ins().icmp_imm_u(
                        IntCC::UnsignedLessThanOrEqual,
                        bound,
                        i64::from(rank),
                    );
                    builder.ins().brif(holds, yes, &[], no, &[]);
                }
                PredClass::Lazy => {
                    let offset = i32::try_from(*pred).expect("predicate count fits i32");
                    let memo = builder.ins().load(types::I8, flags, env.memo, offset);
                    let known = builder.create_block();
                    let unknown = builder.create_block();
                    builder.ins().brif(memo, known, &[], unknown, &[]);
                    builder.switch_to_block(known);
                    let holds = builder.ins().icmp_imm_u(IntCC::Equal, memo, 2);
                    builder.ins().brif(holds, yes, &[], no, &[]);
                    builder.switch_to_block(unknown);
                    let id = builder.ins().iconst(types::I32, i64::from(*pred));
                    let call = builder.ins().call(env.eval_pred, &[env.ctx, id]);
                    let result = builder.inst_results(call)[0];
                    builder.ins().brif(result, yes, &[], no, &[]);
                }
            }
        }
    }
}

/// Declares and defines chunk functions in one module, reusing its contexts between them.
pub(crate) struct ChunkDefiner {
    helper: FuncId,
    chunk_sig: cranelift_codegen::ir::Signature,
    ctx: cranelift_codegen::Context,
    builder_ctx: FunctionBuilderContext,
}

/// Declares the predicate callback (`fn(*mut Ctx, u32) -> u8`) as an import of `module`.
pub(crate) fn declare_callback<M: Module>(module: &mut M) -> Result<FuncId, JitError> {
    let pointer = module.target_config().pointer_type();
    let mut helper_sig = module.make_signature();
    helper_sig.params.push(AbiParam::new(pointer));
    helper_sig.params.push(AbiParam::new(types::I32));
    helper_sig.returns.push(AbiParam::new(types::I8));
    module
        .declare_function(
            crate::runtime::EVAL_PRED_SYMBOL,
            Linkage::Import,
            &helper_sig,
        )
        .map_err(codegen_error)
}

/// The signature of a generated function: `fn(*mut Ctx, u32) -> i32`.
pub(crate) fn chunk_signature<M: Module>(module: &M) -> cranelift_codegen::ir::Signature {
    let mut chunk_sig = module.make_signature();
    chunk_sig
        .params
        .push(AbiParam::new(module.target_config().pointer_type()));
    chunk_sig.params.push(AbiParam::new(types::I32));
    chunk_sig.returns.push(AbiParam::new(types::I32));
    chunk_sig
}

impl ChunkDefiner {
    /// Declares the predicate callback in `module`.
    pub(crate) fn new<M: Module>(module: &mut M) -> Result<ChunkDefiner, JitError> {
        let helper = declare_callback(module)?;
        let chunk_sig = chunk_signature(module);
        Ok(ChunkDefiner {
            helper,
            chunk_sig,
            ctx: module.make_context(),
            builder_ctx: FunctionBuilderContext::new(),
        })
    }

    /// Declares and defines function `n`, which evaluates `lists`.
    pub(crate) fn define<M: Module>(
        &mut self,
        module: &mut M,
        plan: &Plan,
        lists: &[IssueList],
        n: usize,
    ) -> Result<FuncId, JitError> {
        let id = module
            .declare_function(
                &format!("flakewatch_chunk_{n}"),
                Linkage::Local,
                &self.chunk_sig,
            )
            .map_err(codegen_error)?;
        self.ctx.func.signature = self.chunk_sig.clone();
        {
            let mut builder = FunctionBuilder::new(&mut self.ctx.func, &mut self.builder_ctx);
            let eval_pred = module.declare_func_in_func(self.helper, builder.func);
            emit_function(&mut builder, plan, lists, eval_pred);
            builder.finalize(module.target_config());
        }
        module
            .define_function(id, &mut self.ctx)
            .map_err(codegen_error)?;
        module.clear_context(&mut self.ctx);
        Ok(id)
    }
}

fn codegen_error(e: cranelift_module::ModuleError) -> JitError {
    JitError::Codegen(e.to_string())
}

/// The Cranelift IR text of every generated function (`flakewatch debug clif`), for a target.
pub fn clif_text(plan: &Plan, chunk_size: usize, target: TargetFrontendConfig) -> String {
    use cranelift_codegen::ir::{Function, Signature, UserExternalName, UserFuncName};

    let mut out = String::new();
    let mut builder_ctx = FunctionBuilderContext::new();
    let mut helper_sig = Signature::new(target.default_call_conv);
    helper_sig.params.push(AbiParam::new(target.pointer_type()));
    helper_sig.params.push(AbiParam::new(types::I32));
    helper_sig.returns.push(AbiParam::new(types::I8));
    let mut chunk_sig = Signature::new(target.default_call_conv);
    chunk_sig.params.push(AbiParam::new(target.pointer_type()));
    chunk_sig.params.push(AbiParam::new(types::I32));
    chunk_sig.returns.push(AbiParam::new(types::I32));
    for (n, lists) in Layout::new(plan, chunk_size).functions.iter().enumerate() {
        let mut func =
            Function::with_name_signature(UserFuncName::user(0, n as u32), chunk_sig.clone());
        // The callback is declared as a user function of its own (`u0:4294967295`; the
        // generated functions are `u0:0`, `u0:1`, …) so that the text form can name it.
        let callback = func.declare_imported_user_function(UserExternalName::new(0, u32::MAX));
        let mut builder = FunctionBuilder::new(&mut func, &mut builder_ctx);
        let sig_ref = builder.import_signature(helper_sig.clone());
        let eval_pred = builder.import_function(cranelift_codegen::ir::ExtFuncData {
            name: cranelift_codegen::ir::ExternalName::user(callback),
            signature: sig_ref,
            colocated: false,
            patchable: false,
        });
        emit_function(&mut builder, plan, lists, eval_pred);
        builder.finalize(target);
        out.push_str(&func.display().to_string());
        out.push('\n');
    }
    out
}

/// Issues one generated function evaluates in order, and the equality known to hold for them.
#[derive(Clone, Debug)]
pub(crate) struct IssueList {
    pub known: Option<PredId>,
    pub issues: Box<[u32]>,
}

/// How a plan's issues are split into generated functions.
pub(crate) struct Layout {
    /// Per function, the issue lists it evaluates (selected by its argument).
    pub functions: Vec<Vec<IssueList>>,
    /// The functions `0..always` hold the always-run issues, one list each.
    pub always: usize,
    /// Per dispatch group: (function, argument).
    pub group_entry: Vec<(u32, u32)>,
    /// Per regexp group: (function, argument).
    pub regex_group_entry: Vec<(u32, u32)>,
}

impl Layout {
    /// How to run the functions of this layout for a record.
    pub(crate) fn entries(&self) -> Entries {
        Entries {
            always_first: self.functions[..self.always]
                .iter()
                .map(|lists| lists[0].issues[0])
                .collect(),
            group_entry: self.group_entry.clone(),
            regex_group_entry: self.regex_group_entry.clone(),
        }
    }

    /// Chunks the always-run issues and packs the dispatch groups into functions of about
    /// `chunk_size` issues each (small functions keep register allocation cheap).
    pub(crate) fn new(plan: &Plan, chunk_size: usize) -> Layout {
        let chunk_size = chunk_size.max(1);
        let dispatch = plan.dispatch();
        let mut functions: Vec<Vec<IssueList>> = dispatch
            .always
            .chunks(chunk_size)
            .map(|chunk| {
                vec![IssueList {
                    known: None,
                    issues: chunk.into(),
                }]
            })
            .collect();
        let always = functions.len();
        let mut issues_in_last = chunk_size;
        let mut pack = |known: Option<PredId>, group: &[u32]| {
            if issues_in_last + group.len() > chunk_size {
                functions.push(Vec::new());
                issues_in_last = 0;
            }
            let function = (functions.len() - 1) as u32;
            let last = functions.last_mut().expect("a function was just pushed");
            let entry = (function, last.len() as u32);
            last.push(IssueList {
                known,
                issues: group.into(),
            });
            issues_in_last += group.len();
            entry
        };
        let group_entry = dispatch
            .groups
            .iter()
            .zip(&dispatch.group_preds)
            .map(|(group, &pred)| pack(Some(pred), group))
            .collect();
        // A regexp group's predicate is only possible when the group runs, not known.
        let regex_group_entry = dispatch
            .regex_groups
            .iter()
            .map(|group| pack(None, group))
            .collect();
        Layout {
            functions,
            always,
            group_entry,
            regex_group_entry,
        }
    }
}

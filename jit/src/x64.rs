//! The direct x86-64 code generator: writes the machine code of a [`Layout`] function
//! straight from the plan, without Cranelift. The code is branches, loads, compares and calls,
//! the same control flow `codegen.rs` builds in Cranelift IR, so templates with fixed registers
//! do as well as a register allocator, at a small fraction of the compile time (Cranelift was
//! ~85 % of compiling 10,000 issues).
//!
//! Calling convention: System V (`extern "C" fn(*mut Ctx, u32) -> i32`). Registers for the
//! whole function (callee-saved, pushed in the prologue): `rbx` = the `Ctx`, `r12` = its
//! `eq_true`, `r13` = its `memo`, `r14` = its `order_bound`, `r15` = the address of the
//! predicate callback (an absolute relocation, so the bytes are position-independent
//! otherwise: every jump is relative and within the function).
//!
//! Leaves: an equality is one compare of the field's winning predicate with an immediate; an
//! order comparison one compare of the field's bound with the literal's rank; a regexp reads its
//! memo byte and calls back only when it is 0. Jumps to the next instruction are dropped, and a
//! conditional jump over an unconditional one is inverted.

use flakewatch_dsl::ir::{ActionKind, Node, NodeId};

use crate::class::PredClass;
use crate::codegen::IssueList;
use crate::plan::Plan;
use crate::runtime::{
    CTX_DEFAULT, CTX_EQ_TRUE, CTX_MEMO, CTX_ORDER_BOUND, CTX_POST_COUNT, CTX_POSTS, CTX_SKIP,
};

/// The machine code of one function and where it needs the callback's address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MachineCode {
    /// The code.
    pub bytes: Vec<u8>,
    /// Offsets of 8-byte absolute slots to fill with the callback's address.
    pub callback_slots: Vec<u32>,
}

/// Offset of the callback's 8-byte address in every function (after the prologue's pushes and
/// loads; see [`Emitter::prologue`]).
const CALLBACK_SLOT: u32 = 26;

/// Condition codes (the low nibble of `0F 8x` jumps).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Cond(u8);

const EQUAL: Cond = Cond(0x4);
const NOT_EQUAL: Cond = Cond(0x5);
const BELOW: Cond = Cond(0x2);
const BELOW_OR_EQUAL: Cond = Cond(0x6);
const ABOVE_OR_EQUAL: Cond = Cond(0x3);

impl Cond {
    fn inverse(self) -> Cond {
        Cond(self.0 ^ 1)
    }
}

/// A jump target within the function being emitted.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct Label(u32);

/// A jump emitted last, which binding a label right after it may drop or invert.
#[derive(Copy, Clone, Debug)]
struct Jump {
    start: usize,
    cond: Option<Cond>,
    target: Label,
}

struct Emitter<'p> {
    plan: &'p Plan,
    code: Vec<u8>,
    /// Per label, its offset once bound.
    labels: Vec<Option<u32>>,
    /// (offset of a rel32 field, its label): resolved at the end.
    fixups: Vec<(usize, Label)>,
    /// The jumps at the very end of `code`, oldest first (emptied by any other instruction).
    tail: Vec<Jump>,
    /// (offset of the jump table, the label of each entry).
    tables: Vec<(usize, Vec<Label>)>,
}

/// Generates the function that evaluates `lists` (the only list, or `lists[argument]`).
pub(crate) fn emit_function(plan: &Plan, lists: &[IssueList]) -> MachineCode {
    let mut e = Emitter {
        plan,
        code: Vec::with_capacity(64 + 48 * lists.iter().map(|l| l.issues.len()).sum::<usize>()),
        labels: Vec::new(),
        fixups: Vec::new(),
        tail: Vec::new(),
        tables: Vec::new(),
    };
    e.prologue();
    let done = e.label();
    let epilogue = e.label();
    if let [list] = lists {
        e.issues(list, done, epilogue);
    } else {
        let starts: Vec<Label> = lists.iter().map(|_| e.label()).collect();
        let count = u32::try_from(lists.len()).expect("lists per function fit u32");
        // mov eax, esi (zero-extends the argument); cmp eax, count; jae done
        e.bytes(&[0x89, 0xF0, 0x3D]);
        e.imm32(count);
        e.jump(Some(ABOVE_OR_EQUAL), done);
        // lea rcx, [rip + table]; movsxd rax, dword [rcx + rax*4]; add rax, rcx; jmp rax
        e.bytes(&[0x48, 0x8D, 0x0D]);
        let lea_disp = e.code.len();
        e.imm32(0);
        e.bytes(&[0x48, 0x63, 0x04, 0x81, 0x48, 0x01, 0xC8, 0xFF, 0xE0]);
        let table = e.code.len();
        let disp = u32::try_from(table - (lea_disp + 4)).expect("small displacement");
        e.code[lea_disp..lea_disp + 4].copy_from_slice(&disp.to_le_bytes());
        e.code.resize(table + 4 * lists.len(), 0);
        e.tables.push((table, starts.clone()));
        for (list, start) in lists.iter().zip(starts) {
            e.bind(start);
            e.issues(list, done, epilogue);
        }
    }
    e.bind(done);
    // xor eax, eax
    e.bytes(&[0x31, 0xC0]);
    e.bind(epilogue);
    // pop r15; pop r14; pop r13; pop r12; pop rbx; ret
    e.bytes(&[0x41, 0x5F, 0x41, 0x5E, 0x41, 0x5D, 0x41, 0x5C, 0x5B, 0xC3]);
    e.finish()
}

impl Emitter<'_> {
    /// Saves the callee-saved registers (five pushes keep the stack 16-byte aligned for calls)
    /// and loads the function-wide values.
    fn prologue(&mut self) {
        // push rbx; push r12; push r13; push r14; push r15; mov rbx, rdi
        self.bytes(&[0x53, 0x41, 0x54, 0x41, 0x55, 0x41, 0x56, 0x41, 0x57]);
        self.bytes(&[0x48, 0x89, 0xFB]);
        // mov r12, [rbx + eq_true]; mov r13, [rbx + memo]; mov r14, [rbx + order_bound]
        self.bytes(&[0x4C, 0x8B, 0x63, disp8(CTX_EQ_TRUE)]);
        self.bytes(&[0x4C, 0x8B, 0x6B, disp8(CTX_MEMO)]);
        self.bytes(&[0x4C, 0x8B, 0x73, disp8(CTX_ORDER_BOUND)]);
        // mov r15, imm64 (the callback's address, filled in by relocation)
        self.bytes(&[0x49, 0xBF]);
        debug_assert_eq!(self.code.len(), CALLBACK_SLOT as usize);
        self.code.extend_from_slice(&[0; 8]);
    }

    /// The rules of `list`'s issues in order; then a jump to `after`.
    fn issues(&mut self, list: &IssueList, after: Label, epilogue: Label) {
        let plan = self.plan;
        for &issue in list.issues.iter() {
            let next_issue = self.label();
            for rule in &plan.set().issues[issue as usize].rules {
                let matched = self.label();
                let next_rule = self.label();
                self.cond(rule.expr, list, matched, next_rule);
                self.bind(matched);
                match plan.set().action_kinds[rule.action as usize] {
                    ActionKind::Skip => {
                        // mov dword [rbx + skip], issue; mov eax, 1; jmp epilogue
                        self.bytes(&[0xC7, 0x43, disp8(CTX_SKIP)]);
                        self.imm32(issue);
                        self.bytes(&[0xB8]);
                        self.imm32(1);
                        self.jump(None, epilogue);
                    }
                    ActionKind::Post => {
                        // mov eax, [rbx + post_count]; mov rcx, [rbx + posts]
                        self.bytes(&[0x8B, 0x43, disp8(CTX_POST_COUNT)]);
                        self.bytes(&[0x48, 0x8B, 0x4B, disp8(CTX_POSTS)]);
                        // mov dword [rcx + rax*4], issue; add dword [rbx + post_count], 1
                        self.bytes(&[0xC7, 0x04, 0x81]);
                        self.imm32(issue);
                        self.bytes(&[0x83, 0x43, disp8(CTX_POST_COUNT), 0x01]);
                        self.jump(None, next_issue);
                    }
                    ActionKind::Default => {
                        // Lists run out of issue order: keep the lowest (unset is u32::MAX).
                        // cmp dword [rbx + default], issue; jb next_issue
                        self.bytes(&[0x81, 0x7B, disp8(CTX_DEFAULT)]);
                        self.imm32(issue);
                        self.jump(Some(BELOW), next_issue);
                        // mov dword [rbx + default], issue
                        self.bytes(&[0xC7, 0x43, disp8(CTX_DEFAULT)]);
                        self.imm32(issue);
                        self.jump(None, next_issue);
                    }
                    ActionKind::Other => self.jump(None, next_issue),
                }
                self.bind(next_rule);
            }
            self.bind(next_issue);
        }
        self.jump(None, after);
    }

    /// Control flow that goes to `yes` when `node` holds and to `no` otherwise.
    fn cond(&mut self, node: NodeId, list: &IssueList, yes: Label, no: Label) {
        let plan = self.plan;
        match &plan.set().nodes[node as usize] {
            Node::And(_) | Node::Or(_) => {
                let is_and = matches!(plan.set().nodes[node as usize], Node::And(_));
                let operands = plan.operands(node);
                let (last, rest) = operands.split_last().expect("n-ary nodes have operands");
                for &operand in rest {
                    let next = self.label();
                    if is_and {
                        self.cond(operand, list, next, no);
                    } else {
                        self.cond(operand, list, yes, next);
                    }
                    self.bind(next);
                }
                self.cond(*last, list, yes, no);
            }
            Node::Not(x) => self.cond(*x, list, no, yes),
            &Node::Pred(pred) => {
                // In a dispatch group its equality holds and every other on its field fails.
                if let (Some(known), PredClass::Eq(field)) = (list.known, plan.class(pred))
                    && plan.class(known) == PredClass::Eq(field)
                {
                    self.jump(None, if pred == known { yes } else { no });
                    return;
                }
                match plan.class(pred) {
                    PredClass::Eq(field) => {
                        // cmp dword [r12 + field*4], pred
                        let offset = i32::try_from(field.index() * 4).expect("small offset");
                        self.bytes(&[0x41, 0x81, 0x7C, 0x24, disp8(offset)]);
                        self.imm32(pred);
                        self.jump(Some(EQUAL), yes);
                        self.jump(None, no);
                    }
                    PredClass::Order {
                        field,
                        inclusive,
                        rank,
                    } => {
                        // cmp dword [r14 + slot*4], rank; jbe yes (holds when bound <= rank)
                        let slot = PredClass::order_slot(field, inclusive);
                        let offset = i32::try_from(slot * 4).expect("small offset");
                        self.bytes(&[0x41, 0x81, 0x7E, disp8(offset)]);
                        self.imm32(rank);
                        self.jump(Some(BELOW_OR_EQUAL), yes);
                        self.jump(None, no);
                    }
                    PredClass::Lazy => {
                        let unknown = self.label();
                        // movzx eax, byte [r13 + pred]; test eax, eax; jz unknown
                        self.bytes(&[0x41, 0x0F, 0xB6, 0x85]);
                        self.imm32(pred);
                        self.bytes(&[0x85, 0xC0]);
                        self.jump(Some(EQUAL), unknown);
                        // cmp eax, 2; je yes; jmp no
                        self.bytes(&[0x83, 0xF8, 0x02]);
                        self.jump(Some(EQUAL), yes);
                        self.jump(None, no);
                        self.bind(unknown);
                        // mov rdi, rbx; mov esi, pred; call r15; test al, al; jne yes; jmp no
                        self.bytes(&[0x48, 0x89, 0xDF, 0xBE]);
                        self.imm32(pred);
                        self.bytes(&[0x41, 0xFF, 0xD7, 0x84, 0xC0]);
                        self.jump(Some(NOT_EQUAL), yes);
                        self.jump(None, no);
                    }
                }
            }
        }
    }

    fn label(&mut self) -> Label {
        self.labels.push(None);
        Label(u32::try_from(self.labels.len() - 1).expect("labels fit u32"))
    }

    /// Appends instruction bytes that are not jumps.
    fn bytes(&mut self, bytes: &[u8]) {
        self.tail.clear();
        self.code.extend_from_slice(bytes);
    }

    fn imm32(&mut self, value: u32) {
        self.code.extend_from_slice(&value.to_le_bytes());
    }

    /// `jmp target` or `jCC target`, with a 32-bit displacement.
    fn jump(&mut self, cond: Option<Cond>, target: Label) {
        let start = self.code.len();
        match cond {
            None => self.code.push(0xE9),
            Some(Cond(cc)) => self.code.extend_from_slice(&[0x0F, 0x80 | cc]),
        }
        self.fixups.push((self.code.len(), target));
        self.code.extend_from_slice(&[0; 4]);
        self.tail.push(Jump {
            start,
            cond,
            target,
        });
    }

    /// Removes the last jump (its fixup is the last one).
    fn drop_last_jump(&mut self) -> Jump {
        let jump = self.tail.pop().expect("a jump to drop");
        self.code.truncate(jump.start);
        self.fixups.pop();
        jump
    }

    /// Binds `label` here: jumps to here at the end of the code are dropped, and
    /// `jCC here; jmp other` becomes `jNCC other`.
    fn bind(&mut self, label: Label) {
        loop {
            match self.tail.as_slice() {
                [.., last] if last.target == label => {
                    self.drop_last_jump();
                }
                [.., before, last] if last.cond.is_none() && before.target == label => {
                    let last = self.drop_last_jump();
                    let before = self.drop_last_jump();
                    let cond = before.cond.expect("a conditional jump").inverse();
                    self.jump(Some(cond), last.target);
                }
                _ => break,
            }
        }
        self.labels[label.0 as usize] =
            Some(u32::try_from(self.code.len()).expect("function fits 4 GiB"));
        // A jump before a bound label can no longer be dropped: the label would move.
        self.tail.clear();
    }

    fn finish(mut self) -> MachineCode {
        let position = |labels: &[Option<u32>], label: Label| -> i64 {
            i64::from(labels[label.0 as usize].expect("every label is bound"))
        };
        for &(at, label) in &self.fixups {
            let rel = position(&self.labels, label) - (at as i64 + 4);
            let rel = i32::try_from(rel).expect("functions are smaller than 2 GiB");
            self.code[at..at + 4].copy_from_slice(&rel.to_le_bytes());
        }
        for (table, entries) in &self.tables {
            for (i, &label) in entries.iter().enumerate() {
                let rel = i32::try_from(position(&self.labels, label) - *table as i64)
                    .expect("functions are smaller than 2 GiB");
                let at = table + 4 * i;
                self.code[at..at + 4].copy_from_slice(&rel.to_le_bytes());
            }
        }
        MachineCode {
            bytes: self.code,
            callback_slots: vec![CALLBACK_SLOT],
        }
    }
}

/// A `Ctx` or table offset as an 8-bit displacement.
fn disp8(offset: i32) -> u8 {
    let byte = i8::try_from(offset).expect("offset fits a displacement byte");
    byte as u8
}

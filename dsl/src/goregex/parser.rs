//! Go's `regexp/syntax` parser, step for step: the same parse stack, incremental
//! concatenation, alternation factoring, node recycling and size, height and repeat limits, so
//! that the errors and the tree shape (which the limits depend on) are Go's.
//!
//! Go's recursive helpers (size, height, repeat validity, structural equality, alternation
//! factoring) run here on explicit stacks, so hostile input cannot overflow the Rust stack.

use super::tables::{self, Group, MAX_FOLD, MAX_RUNE, MIN_FOLD};
use super::{Error, ErrorCode};

/// Index of a node in [`Tree::nodes`].
pub(super) type NodeId = usize;

/// Go's `syntax.Op`, in Go's order (the parser compares ops).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum Op {
    NoMatch = 1,
    EmptyMatch,
    Literal,
    CharClass,
    AnyCharNotNl,
    AnyChar,
    BeginLine,
    EndLine,
    BeginText,
    EndText,
    WordBoundary,
    NoWordBoundary,
    Capture,
    Star,
    Plus,
    Quest,
    Repeat,
    Concat,
    Alternate,
    /// Pseudo-op: an open parenthesis on the parse stack.
    LeftParen = 128,
    /// Pseudo-op: a `|` on the parse stack.
    VerticalBar,
}

impl Op {
    fn is_pseudo(self) -> bool {
        self >= Op::LeftParen
    }
}

/// Go's parse flags (`syntax.Flags`), as bits.
pub(super) mod flags {
    /// Case-insensitive matching.
    pub(crate) const FOLD_CASE: u16 = 1;
    /// `[^a]` and `[[:space:]]` may match a newline.
    pub(crate) const CLASS_NL: u16 = 1 << 2;
    /// `.` matches a newline.
    pub(crate) const DOT_NL: u16 = 1 << 3;
    /// `^` and `$` match only at the beginning and end of text.
    pub(crate) const ONE_LINE: u16 = 1 << 4;
    /// Repetitions are non-greedy by default.
    pub(crate) const NON_GREEDY: u16 = 1 << 5;
    /// Perl extensions.
    pub(crate) const PERL_X: u16 = 1 << 6;
    /// `\p{Han}` and friends.
    pub(crate) const UNICODE_GROUPS: u16 = 1 << 7;
    /// An end-of-text node came from `$`.
    pub(crate) const WAS_DOLLAR: u16 = 1 << 8;
    /// Go's `syntax.Perl`, the flags `regexp.Compile` uses.
    pub(crate) const PERL: u16 = CLASS_NL | ONE_LINE | PERL_X | UNICODE_GROUPS;
}
use flags::*;

/// Go's `maxHeight`.
const MAX_HEIGHT: u32 = 1000;
/// Go's `maxSize`: 128 MB of 40-byte instructions.
const MAX_SIZE: i64 = (128 << 20) / 40;
/// Go's `maxRunes`: 128 MB of 4-byte runes.
const MAX_RUNES: usize = (128 << 20) / 4;
/// Go's `maxRepeat`.
const MAX_REPEAT: i32 = 1000;

/// One node of Go's `syntax.Regexp` tree.
#[derive(Debug, Clone)]
pub(super) struct Node {
    pub op: Op,
    pub flags: u16,
    pub subs: Vec<NodeId>,
    /// Runes of a literal, or range pairs of a class.
    pub runes: Vec<u32>,
    pub min: i32,
    pub max: i32,
    pub cap: u32,
    pub name: String,
    /// Go's `parser.size` entry. Like Go's map, it survives recycling of the node.
    size_memo: Option<i64>,
    /// Go's `parser.height` entry.
    height_memo: Option<u32>,
}

impl Node {
    fn new(op: Op) -> Node {
        Node {
            op,
            flags: 0,
            subs: Vec::new(),
            runes: Vec::new(),
            min: 0,
            max: 0,
            cap: 0,
            name: String::new(),
            size_memo: None,
            height_memo: None,
        }
    }
}

/// A parsed regexp: the node arena and the root.
#[derive(Debug)]
pub(super) struct Tree {
    pub nodes: Vec<Node>,
    pub root: NodeId,
}

fn error(code: ErrorCode, expr: &str) -> Error {
    Error {
        code,
        expr: expr.to_owned(),
    }
}

fn internal() -> Error {
    error(ErrorCode::InternalError, "")
}

/// Decodes the first character of `s`; an empty `s` gives U+FFFD and length 0, as Go's
/// `utf8.DecodeRuneInString` does.
fn next_rune(s: &str) -> (u32, usize) {
    match s.chars().next() {
        Some(c) => (u32::from(c), c.len_utf8()),
        None => (0xFFFD, 0),
    }
}

fn is_alnum(c: u32) -> bool {
    char::from_u32(c).is_some_and(|c| c.is_ascii_alphanumeric())
}

fn unhex(c: u32) -> Option<u32> {
    char::from_u32(c).and_then(|c| c.to_digit(16))
}

/// Parses `src` with Go's parse `flags` into Go's tree.
pub(super) fn parse_tree(src: &str, flags: u16) -> Result<Tree, Error> {
    let mut p = Parser {
        src,
        flags,
        stack: Vec::new(),
        nodes: Vec::new(),
        free: Vec::new(),
        num_cap: 0,
        num_regexp: 0,
        num_runes: 0,
        repeats: 0,
        size_on: false,
        height_on: false,
    };
    let root = p.run()?;
    Ok(Tree {
        nodes: p.nodes,
        root,
    })
}

struct Parser<'s> {
    src: &'s str,
    flags: u16,
    stack: Vec<NodeId>,
    nodes: Vec<Node>,
    /// Go's free list of recycled nodes (last in, first out).
    free: Vec<NodeId>,
    num_cap: u32,
    /// Nodes allocated fresh (not recycled), Go's `numRegexp`.
    num_regexp: usize,
    num_runes: usize,
    repeats: i64,
    /// Go's `p.size != nil`.
    size_on: bool,
    /// Go's `p.height != nil`.
    height_on: bool,
}

/// The start of a collapse into an alternation.
enum Begun {
    /// Nothing to factor: the collapsed node.
    Done(NodeId),
    /// The alternatives must be factored first.
    Factor(Box<Factor>),
}

/// What the factoring state machine needs next.
enum Step {
    /// Collapse these alternatives into one alternation and hand the result back.
    Call(Vec<NodeId>),
    /// Factoring is complete; these are the new alternatives.
    Done(Vec<NodeId>),
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Round {
    /// Common literal prefixes.
    Strings,
    /// Common leading simple pieces.
    Pieces,
}

/// One suspended `factor` call of Go's (the alternation node `re` is being built).
struct Factor {
    re: NodeId,
    sub: Vec<NodeId>,
    out: Vec<NodeId>,
    round: Round,
    i: usize,
    start: usize,
    /// Round 1: the common prefix, as (literal node, length).
    str_: Option<(NodeId, usize)>,
    str_flags: u16,
    /// Round 1: the leading string of `sub[i]`, kept while a run is being collapsed.
    next_str: Option<(NodeId, usize)>,
    next_flags: u16,
    /// Round 2: the common leading piece.
    first: Option<NodeId>,
    next_first: Option<NodeId>,
    /// The prefix node of the run being collapsed.
    prefix: NodeId,
}

impl Factor {
    fn new(re: NodeId, sub: Vec<NodeId>) -> Factor {
        Factor {
            re,
            sub,
            out: Vec::new(),
            round: Round::Strings,
            i: 0,
            start: 0,
            str_: None,
            str_flags: 0,
            next_str: None,
            next_flags: 0,
            first: None,
            next_first: None,
            prefix: 0,
        }
    }
}

impl<'s> Parser<'s> {
    fn byte(&self, pos: usize) -> Option<u8> {
        self.src.as_bytes().get(pos).copied()
    }

    fn limit(&self, code: ErrorCode) -> Error {
        error(code, self.src)
    }

    // ----- node allocation -----

    fn new_node(&mut self, op: Op) -> NodeId {
        match self.free.pop() {
            Some(id) => {
                // The recycled node's buffers are kept (emptied): a literal is built one rune
                // at a time, each in a node that is merged and recycled at once.
                let old = &mut self.nodes[id];
                let (size_memo, mut subs, mut runes) = (
                    old.size_memo,
                    std::mem::take(&mut old.subs),
                    std::mem::take(&mut old.runes),
                );
                subs.clear();
                runes.clear();
                self.nodes[id] = Node {
                    subs,
                    runes,
                    size_memo,
                    ..Node::new(op)
                };
                id
            }
            None => {
                self.nodes.push(Node::new(op));
                self.num_regexp += 1;
                self.nodes.len() - 1
            }
        }
    }

    fn reuse(&mut self, id: NodeId) {
        if self.height_on {
            self.nodes[id].height_memo = None;
        }
        self.free.push(id);
    }

    // ----- limits -----

    fn check_limits(&mut self, re: NodeId) -> Result<(), Error> {
        if self.num_runes > MAX_RUNES {
            return Err(self.limit(ErrorCode::Large));
        }
        self.check_size(re)?;
        self.check_height(re)
    }

    fn check_size(&mut self, re: NodeId) -> Result<(), Error> {
        if !self.size_on {
            if self.repeats == 0 {
                self.repeats = 1;
            }
            let node = &self.nodes[re];
            if node.op == Op::Repeat {
                let mut n = i64::from(node.max);
                if n == -1 {
                    n = i64::from(node.min);
                }
                if n <= 0 {
                    n = 1;
                }
                if n > MAX_SIZE / self.repeats {
                    self.repeats = MAX_SIZE;
                } else {
                    self.repeats *= n;
                }
            }
            if (self.num_regexp as i64) < MAX_SIZE / self.repeats {
                return Ok(());
            }
            self.size_on = true;
            for k in 0..self.stack.len() {
                let id = self.stack[k];
                self.check_size(id)?;
            }
        }
        if self.calc_size(re, true) > MAX_SIZE {
            return Err(self.limit(ErrorCode::Large));
        }
        Ok(())
    }

    fn size_of(&self, id: NodeId) -> i64 {
        let node = &self.nodes[id];
        let sub = |k: usize| {
            node.subs
                .get(k)
                .and_then(|&s| self.nodes[s].size_memo)
                .unwrap_or(1)
        };
        let size = match node.op {
            Op::Literal => node.runes.len() as i64,
            Op::Capture | Op::Star => 2 + sub(0),
            Op::Plus | Op::Quest => 1 + sub(0),
            Op::Concat => (0..node.subs.len()).map(sub).sum(),
            Op::Alternate => {
                let n = node.subs.len();
                let sum: i64 = (0..n).map(sub).sum();
                if n > 1 { sum + n as i64 - 1 } else { sum }
            }
            Op::Repeat => {
                let s = sub(0);
                let (min, max) = (i64::from(node.min), i64::from(node.max));
                if max == -1 {
                    if min == 0 {
                        2 + s
                    } else {
                        1 + min.saturating_mul(s)
                    }
                } else {
                    max.saturating_mul(s).saturating_add(max - min)
                }
            }
            _ => 0,
        };
        size.max(1)
    }

    /// Go's `calcSize`: the compiled size estimate of `root`, using remembered sizes of
    /// descendants (even stale ones, as Go does) and recomputing `root` when `force`.
    fn calc_size(&mut self, root: NodeId, force: bool) -> i64 {
        if !force && let Some(size) = self.nodes[root].size_memo {
            return size;
        }
        let mut work = vec![(root, false)];
        while let Some((id, ready)) = work.pop() {
            if ready {
                let size = self.size_of(id);
                self.nodes[id].size_memo = Some(size);
                continue;
            }
            work.push((id, true));
            for &sub in &self.nodes[id].subs {
                if self.nodes[sub].size_memo.is_none() {
                    work.push((sub, false));
                }
            }
        }
        self.nodes[root].size_memo.unwrap_or(1)
    }

    fn check_height(&mut self, re: NodeId) -> Result<(), Error> {
        if self.num_regexp < MAX_HEIGHT as usize {
            return Ok(());
        }
        if !self.height_on {
            self.height_on = true;
            for k in 0..self.stack.len() {
                let id = self.stack[k];
                self.check_height(id)?;
            }
        }
        if self.calc_height(re, true) > MAX_HEIGHT {
            return Err(self.limit(ErrorCode::NestingDepth));
        }
        Ok(())
    }

    /// Go's `calcHeight`, with the same use of remembered heights as [`Self::calc_size`].
    fn calc_height(&mut self, root: NodeId, force: bool) -> u32 {
        if !force && let Some(h) = self.nodes[root].height_memo {
            return h;
        }
        let mut work = vec![(root, false)];
        while let Some((id, ready)) = work.pop() {
            if ready {
                let h = self.nodes[id]
                    .subs
                    .iter()
                    .map(|&s| 1 + self.nodes[s].height_memo.unwrap_or(1))
                    .max()
                    .unwrap_or(1)
                    .max(1);
                self.nodes[id].height_memo = Some(h);
                continue;
            }
            work.push((id, true));
            for &sub in &self.nodes[id].subs {
                if self.nodes[sub].height_memo.is_none() {
                    work.push((sub, false));
                }
            }
        }
        self.nodes[root].height_memo.unwrap_or(1)
    }

    /// Go's `repeatIsValid`: nested counted repetitions multiply to at most `n`.
    fn repeat_is_valid(&self, re: NodeId, n: i32) -> bool {
        let mut work = vec![(re, n)];
        while let Some((id, mut n)) = work.pop() {
            let node = &self.nodes[id];
            if node.op == Op::Repeat {
                let mut m = node.max;
                if m == 0 {
                    continue;
                }
                if m < 0 {
                    m = node.min;
                }
                if m > n {
                    return false;
                }
                if m > 0 {
                    n /= m;
                }
            }
            work.extend(node.subs.iter().map(|&s| (s, n)));
        }
        true
    }

    // ----- the parse stack -----

    /// Go's `push`; `None` when the node was merged into the literal below it.
    fn push(&mut self, re: NodeId) -> Result<Option<NodeId>, Error> {
        self.num_runes += self.nodes[re].runes.len();
        let node = &self.nodes[re];
        let r = &node.runes;
        if node.op == Op::CharClass && r.len() == 2 && r[0] == r[1] {
            let r0 = r[0];
            if self.maybe_concat(Some(r0), self.flags & !FOLD_CASE) {
                return Ok(None);
            }
            let node = &mut self.nodes[re];
            node.op = Op::Literal;
            node.runes.truncate(1);
            node.flags = self.flags & !FOLD_CASE;
        } else if node.op == Op::CharClass
            && ((r.len() == 4
                && r[0] == r[1]
                && r[2] == r[3]
                && tables::simple_fold(r[0]) == r[2]
                && tables::simple_fold(r[2]) == r[0])
                || (r.len() == 2
                    && r[0].checked_add(1) == Some(r[1])
                    && tables::simple_fold(r[0]) == r[1]
                    && tables::simple_fold(r[1]) == r[0]))
        {
            let r0 = r[0];
            if self.maybe_concat(Some(r0), self.flags | FOLD_CASE) {
                return Ok(None);
            }
            let node = &mut self.nodes[re];
            node.op = Op::Literal;
            node.runes.truncate(1);
            node.flags = self.flags | FOLD_CASE;
        } else {
            self.maybe_concat(None, 0);
        }
        self.stack.push(re);
        self.check_limits(re)?;
        Ok(Some(re))
    }

    /// Go's `maybeConcat`: merges the two literals on top of the stack, then reuses the
    /// freed top node for `r` if given. Reports whether `r` was pushed.
    fn maybe_concat(&mut self, r: Option<u32>, flags: u16) -> bool {
        let n = self.stack.len();
        if n < 2 {
            return false;
        }
        let (re1, re2) = (self.stack[n - 1], self.stack[n - 2]);
        let (a, b) = (&self.nodes[re1], &self.nodes[re2]);
        if a.op != Op::Literal || b.op != Op::Literal || a.flags & FOLD_CASE != b.flags & FOLD_CASE
        {
            return false;
        }
        let mut moved = std::mem::take(&mut self.nodes[re1].runes);
        self.nodes[re2].runes.extend_from_slice(&moved);
        moved.clear();
        self.nodes[re1].runes = moved;
        if let Some(r) = r {
            let node = &mut self.nodes[re1];
            node.runes.push(r);
            node.flags = flags;
            return true;
        }
        self.stack.pop();
        self.reuse(re1);
        false
    }

    /// Go's `literal`: pushes a one-rune literal.
    fn literal(&mut self, mut r: u32) -> Result<(), Error> {
        let re = self.new_node(Op::Literal);
        self.nodes[re].flags = self.flags;
        if self.flags & FOLD_CASE != 0 {
            r = min_fold_rune(r);
        }
        self.nodes[re].runes.push(r);
        self.push(re)?;
        Ok(())
    }

    /// Go's `op`: pushes a node with the current flags.
    fn op(&mut self, op: Op) -> Result<NodeId, Error> {
        let re = self.new_node(op);
        self.nodes[re].flags = self.flags;
        self.push(re)?;
        Ok(re)
    }

    /// Go's `repeat`. `before` is where the operator starts, `after` just past it. Returns the
    /// position after an optional `?`.
    fn repeat(
        &mut self,
        op: Op,
        min: i32,
        max: i32,
        before: usize,
        mut after: usize,
        last_repeat: Option<usize>,
    ) -> Result<usize, Error> {
        let mut flags = self.flags;
        if self.flags & PERL_X != 0 {
            if self.byte(after) == Some(b'?') {
                after += 1;
                flags ^= NON_GREEDY;
            }
            if let Some(last) = last_repeat {
                return Err(error(ErrorCode::InvalidRepeatOp, &self.src[last..after]));
            }
        }
        let Some(&sub) = self.stack.last() else {
            return Err(error(
                ErrorCode::MissingRepeatArgument,
                &self.src[before..after],
            ));
        };
        if self.nodes[sub].op.is_pseudo() {
            return Err(error(
                ErrorCode::MissingRepeatArgument,
                &self.src[before..after],
            ));
        }
        let re = self.new_node(op);
        let node = &mut self.nodes[re];
        node.min = min;
        node.max = max;
        node.flags = flags;
        node.subs = vec![sub];
        let n = self.stack.len();
        self.stack[n - 1] = re;
        self.check_limits(re)?;
        if op == Op::Repeat && (min >= 2 || max >= 2) && !self.repeat_is_valid(re, MAX_REPEAT) {
            return Err(error(
                ErrorCode::InvalidRepeatSize,
                &self.src[before..after],
            ));
        }
        Ok(after)
    }

    /// The start of the run of non-pseudo nodes on top of the stack.
    fn top_run_start(&self) -> usize {
        let mut i = self.stack.len();
        while i > 0 && !self.nodes[self.stack[i - 1]].op.is_pseudo() {
            i -= 1;
        }
        i
    }

    /// Go's `concat`.
    fn concat(&mut self) -> Result<(), Error> {
        self.maybe_concat(None, 0);
        let i = self.top_run_start();
        let subs = self.stack.split_off(i);
        let re = if subs.is_empty() {
            self.new_node(Op::EmptyMatch)
        } else {
            self.collapse_concat(subs)
        };
        self.push(re)?;
        Ok(())
    }

    /// Go's `alternate`.
    fn alternate(&mut self) -> Result<(), Error> {
        let i = self.top_run_start();
        let subs = self.stack.split_off(i);
        if let Some(&last) = subs.last() {
            self.clean_alt(last);
        }
        let re = if subs.is_empty() {
            self.new_node(Op::NoMatch)
        } else {
            self.collapse_alternate(subs)?
        };
        self.push(re)?;
        Ok(())
    }

    /// Go's `cleanAlt`.
    fn clean_alt(&mut self, re: NodeId) {
        let node = &mut self.nodes[re];
        if node.op != Op::CharClass {
            return;
        }
        clean_class(&mut node.runes);
        if node.runes == [0, MAX_RUNE] {
            node.runes.clear();
            node.op = Op::AnyChar;
        } else if node.runes == [0, 0x09, 0x0B, MAX_RUNE] {
            node.runes.clear();
            node.op = Op::AnyCharNotNl;
        }
    }

    /// Go's `collapse(subs, OpConcat)`.
    fn collapse_concat(&mut self, subs: Vec<NodeId>) -> NodeId {
        if subs.len() == 1 {
            return subs[0];
        }
        let re = self.new_node(Op::Concat);
        let mut list = Vec::with_capacity(subs.len());
        for sub in subs {
            if self.nodes[sub].op == Op::Concat {
                list.extend_from_slice(&self.nodes[sub].subs);
                self.reuse(sub);
            } else {
                list.push(sub);
            }
        }
        self.nodes[re].subs = list;
        re
    }

    /// The first half of Go's `collapse(subs, OpAlternate)`: the flattened alternation node
    /// and the list to factor, or the finished result.
    fn begin_alternate(&mut self, subs: Vec<NodeId>) -> Begun {
        if subs.len() == 1 {
            return Begun::Done(subs[0]);
        }
        let re = self.new_node(Op::Alternate);
        let mut list = Vec::with_capacity(subs.len());
        for sub in subs {
            if self.nodes[sub].op == Op::Alternate {
                list.extend_from_slice(&self.nodes[sub].subs);
                self.reuse(sub);
            } else {
                list.push(sub);
            }
        }
        if list.len() < 2 {
            return Begun::Done(self.finish_alternate(re, list));
        }
        Begun::Factor(Box::new(Factor::new(re, list)))
    }

    /// The second half of Go's `collapse(subs, OpAlternate)`.
    fn finish_alternate(&mut self, re: NodeId, list: Vec<NodeId>) -> NodeId {
        if list.len() == 1 {
            let only = list[0];
            self.reuse(re);
            return only;
        }
        self.nodes[re].subs = list;
        re
    }

    /// Go's `collapse(subs, OpAlternate)` with its recursion through `factor` run on an
    /// explicit stack of suspended `factor` calls.
    fn collapse_alternate(&mut self, subs: Vec<NodeId>) -> Result<NodeId, Error> {
        let mut frames = match self.begin_alternate(subs) {
            Begun::Done(done) => return Ok(done),
            Begun::Factor(frame) => vec![frame],
        };
        let mut returned = None;
        loop {
            let Some(frame) = frames.last_mut() else {
                return Err(internal());
            };
            match self.factor_step(frame, returned.take())? {
                Step::Call(run) => match self.begin_alternate(run) {
                    Begun::Done(done) => returned = Some(done),
                    Begun::Factor(frame) => frames.push(frame),
                },
                Step::Done(list) => {
                    let Some(frame) = frames.pop() else {
                        return Err(internal());
                    };
                    let result = self.finish_alternate(frame.re, list);
                    if frames.is_empty() {
                        return Ok(result);
                    }
                    returned = Some(result);
                }
            }
        }
    }

    /// Runs Go's `factor` until it needs a recursive collapse or finishes. `returned` is the
    /// result of the collapse it last asked for.
    fn factor_step(&mut self, st: &mut Factor, returned: Option<NodeId>) -> Result<Step, Error> {
        if let Some(suffix) = returned {
            let re = self.new_node(Op::Concat);
            self.nodes[re].subs = vec![st.prefix, suffix];
            st.out.push(re);
            st.start = st.i;
            match st.round {
                Round::Strings => {
                    st.str_ = st.next_str;
                    st.str_flags = st.next_flags;
                }
                Round::Pieces => st.first = st.next_first,
            }
            st.i += 1;
        }
        loop {
            match st.round {
                Round::Strings => {
                    if st.i > st.sub.len() {
                        st.sub = std::mem::take(&mut st.out);
                        st.round = Round::Pieces;
                        st.i = 0;
                        st.start = 0;
                        st.first = None;
                        continue;
                    }
                    let i = st.i;
                    let (istr, iflags) = if i < st.sub.len() {
                        self.leading_string(st.sub[i])
                    } else {
                        (None, 0)
                    };
                    if i < st.sub.len() && iflags == st.str_flags {
                        let same = self.common_prefix(st.str_, istr);
                        if same > 0 {
                            if let Some((lit, _)) = st.str_ {
                                st.str_ = Some((lit, same));
                            }
                            st.i += 1;
                            continue;
                        }
                    }
                    if i == st.start + 1 {
                        st.out.push(st.sub[st.start]);
                    } else if i > st.start + 1 {
                        let (text, n) = match st.str_ {
                            Some((lit, n)) => match self.nodes[lit].runes.get(..n) {
                                Some(text) => (text.to_vec(), n),
                                None => return Err(internal()),
                            },
                            None => (Vec::new(), 0),
                        };
                        let prefix = self.new_node(Op::Literal);
                        self.nodes[prefix].flags = st.str_flags;
                        self.nodes[prefix].runes = text;
                        for j in st.start..i {
                            st.sub[j] = self.remove_leading_string(st.sub[j], n);
                            self.check_limits(st.sub[j])?;
                        }
                        st.prefix = prefix;
                        st.next_str = istr;
                        st.next_flags = iflags;
                        return Ok(Step::Call(st.sub[st.start..i].to_vec()));
                    }
                    st.start = i;
                    st.str_ = istr;
                    st.str_flags = iflags;
                    st.i += 1;
                }
                Round::Pieces => {
                    if st.i > st.sub.len() {
                        let sub = std::mem::take(&mut st.out);
                        let merged = self.merge_classes(sub);
                        return Ok(Step::Done(self.merge_empties(merged)));
                    }
                    let i = st.i;
                    let mut ifirst = None;
                    if i < st.sub.len() {
                        ifirst = self.leading_regexp(st.sub[i]);
                        if let Some(first) = st.first
                            && ifirst.is_some_and(|f| self.equal(first, f))
                            && self.factorable_piece(first)
                        {
                            st.i += 1;
                            continue;
                        }
                    }
                    if i == st.start + 1 {
                        st.out.push(st.sub[st.start]);
                    } else if i > st.start + 1 {
                        let Some(prefix) = st.first else {
                            return Err(internal());
                        };
                        for j in st.start..i {
                            st.sub[j] = self.remove_leading_regexp(st.sub[j], j != st.start);
                            self.check_limits(st.sub[j])?;
                        }
                        st.prefix = prefix;
                        st.next_first = ifirst;
                        return Ok(Step::Call(st.sub[st.start..i].to_vec()));
                    }
                    st.start = i;
                    st.first = ifirst;
                    st.i += 1;
                }
            }
        }
    }

    /// Round 2's condition: a character class, or a fixed repeat of one.
    fn factorable_piece(&self, first: NodeId) -> bool {
        let node = &self.nodes[first];
        self.is_char_class(first)
            || (node.op == Op::Repeat
                && node.min == node.max
                && node.subs.first().is_some_and(|&s| self.is_char_class(s)))
    }

    /// Length of the common prefix of two leading strings.
    fn common_prefix(&self, a: Option<(NodeId, usize)>, b: Option<(NodeId, usize)>) -> usize {
        let (Some((la, na)), Some((lb, nb))) = (a, b) else {
            return 0;
        };
        let (Some(ra), Some(rb)) = (
            self.nodes[la].runes.get(..na),
            self.nodes[lb].runes.get(..nb),
        ) else {
            return 0;
        };
        ra.iter().zip(rb).take_while(|(x, y)| x == y).count()
    }

    /// Round 3 of Go's `factor`: runs of single characters and classes become one class.
    fn merge_classes(&mut self, mut sub: Vec<NodeId>) -> Vec<NodeId> {
        let mut out = Vec::with_capacity(sub.len());
        let mut start = 0;
        for i in 0..=sub.len() {
            if i < sub.len() && self.is_char_class(sub[i]) {
                continue;
            }
            if i == start + 1 {
                out.push(sub[start]);
            } else if i > start + 1 {
                let mut max = start;
                for j in start + 1..i {
                    let (a, b) = (&self.nodes[sub[max]], &self.nodes[sub[j]]);
                    if a.op < b.op || (a.op == b.op && a.runes.len() < b.runes.len()) {
                        max = j;
                    }
                }
                sub.swap(start, max);
                for j in start + 1..i {
                    self.merge_char_class(sub[start], sub[j]);
                    self.reuse(sub[j]);
                }
                self.clean_alt(sub[start]);
                out.push(sub[start]);
            }
            if i < sub.len() {
                out.push(sub[i]);
            }
            start = i + 1;
        }
        out
    }

    /// Round 4 of Go's `factor`: runs of empty matches become one.
    fn merge_empties(&self, sub: Vec<NodeId>) -> Vec<NodeId> {
        let mut out = Vec::with_capacity(sub.len());
        for (i, &id) in sub.iter().enumerate() {
            let empty = |k: usize| self.nodes[sub[k]].op == Op::EmptyMatch;
            if i + 1 < sub.len() && empty(i) && empty(i + 1) {
                continue;
            }
            out.push(id);
        }
        out
    }

    /// Go's `leadingString`: the literal node that `re` begins with, and its fold flag.
    fn leading_string(&self, mut re: NodeId) -> (Option<(NodeId, usize)>, u16) {
        if self.nodes[re].op == Op::Concat
            && let Some(&first) = self.nodes[re].subs.first()
        {
            re = first;
        }
        let node = &self.nodes[re];
        if node.op != Op::Literal {
            return (None, 0);
        }
        (Some((re, node.runes.len())), node.flags & FOLD_CASE)
    }

    /// Go's `removeLeadingString`.
    fn remove_leading_string(&mut self, re: NodeId, n: usize) -> NodeId {
        if self.nodes[re].op == Op::Concat && !self.nodes[re].subs.is_empty() {
            let sub = self.nodes[re].subs[0];
            let sub = self.remove_leading_literal(sub, n);
            self.nodes[re].subs[0] = sub;
            if self.nodes[sub].op == Op::EmptyMatch {
                self.reuse(sub);
                match self.nodes[re].subs.len() {
                    0 | 1 => {
                        self.nodes[re].op = Op::EmptyMatch;
                        self.nodes[re].subs.clear();
                    }
                    2 => {
                        let second = self.nodes[re].subs[1];
                        self.reuse(re);
                        return second;
                    }
                    _ => {
                        self.nodes[re].subs.remove(0);
                    }
                }
            }
            return re;
        }
        self.remove_leading_literal(re, n)
    }

    /// The non-concatenation half of Go's `removeLeadingString`. The first element of a
    /// concatenation is never itself a concatenation, so Go's recursion stops here.
    fn remove_leading_literal(&mut self, re: NodeId, n: usize) -> NodeId {
        let node = &mut self.nodes[re];
        if node.op == Op::Literal {
            node.runes.drain(..n.min(node.runes.len()));
            if node.runes.is_empty() {
                node.op = Op::EmptyMatch;
            }
        }
        re
    }

    /// Go's `leadingRegexp`.
    fn leading_regexp(&self, re: NodeId) -> Option<NodeId> {
        let node = &self.nodes[re];
        if node.op == Op::EmptyMatch {
            return None;
        }
        if node.op == Op::Concat
            && let Some(&sub) = node.subs.first()
        {
            if self.nodes[sub].op == Op::EmptyMatch {
                return None;
            }
            return Some(sub);
        }
        Some(re)
    }

    /// Go's `removeLeadingRegexp`.
    fn remove_leading_regexp(&mut self, re: NodeId, reuse: bool) -> NodeId {
        if self.nodes[re].op == Op::Concat && !self.nodes[re].subs.is_empty() {
            if reuse {
                let first = self.nodes[re].subs[0];
                self.reuse(first);
            }
            self.nodes[re].subs.remove(0);
            match self.nodes[re].subs.len() {
                0 => {
                    self.nodes[re].op = Op::EmptyMatch;
                    self.nodes[re].subs.clear();
                }
                1 => {
                    let only = self.nodes[re].subs[0];
                    self.reuse(re);
                    return only;
                }
                _ => {}
            }
            return re;
        }
        if reuse {
            self.reuse(re);
        }
        self.new_node(Op::EmptyMatch)
    }

    /// Go's `Regexp.Equal` (which ignores the flags of literals and classes).
    fn equal(&self, x: NodeId, y: NodeId) -> bool {
        let mut work = vec![(x, y)];
        while let Some((x, y)) = work.pop() {
            let (a, b) = (&self.nodes[x], &self.nodes[y]);
            if a.op != b.op {
                return false;
            }
            let greedy_same = a.flags & NON_GREEDY == b.flags & NON_GREEDY;
            match a.op {
                Op::EndText if a.flags & WAS_DOLLAR != b.flags & WAS_DOLLAR => return false,
                Op::Literal | Op::CharClass if a.runes != b.runes => return false,
                Op::Alternate | Op::Concat => {
                    if a.subs.len() != b.subs.len() {
                        return false;
                    }
                    work.extend(a.subs.iter().copied().zip(b.subs.iter().copied()));
                }
                Op::Star | Op::Plus | Op::Quest => {
                    if !greedy_same {
                        return false;
                    }
                    work.extend(a.subs.iter().copied().zip(b.subs.iter().copied()).take(1));
                }
                Op::Repeat => {
                    if !greedy_same || a.min != b.min || a.max != b.max {
                        return false;
                    }
                    work.extend(a.subs.iter().copied().zip(b.subs.iter().copied()).take(1));
                }
                Op::Capture => {
                    if a.cap != b.cap || a.name != b.name {
                        return false;
                    }
                    work.extend(a.subs.iter().copied().zip(b.subs.iter().copied()).take(1));
                }
                _ => {}
            }
        }
        true
    }

    /// Go's `isCharClass`.
    fn is_char_class(&self, re: NodeId) -> bool {
        let node = &self.nodes[re];
        (node.op == Op::Literal && node.runes.len() == 1)
            || matches!(node.op, Op::CharClass | Op::AnyCharNotNl | Op::AnyChar)
    }

    /// Go's `matchRune`.
    fn match_rune(&self, re: NodeId, r: u32) -> bool {
        let node = &self.nodes[re];
        match node.op {
            Op::Literal => node.runes.len() == 1 && node.runes[0] == r,
            Op::CharClass => node
                .runes
                .chunks_exact(2)
                .any(|pair| pair[0] <= r && r <= pair[1]),
            Op::AnyCharNotNl => r != u32::from(b'\n'),
            Op::AnyChar => true,
            _ => false,
        }
    }

    /// Go's `mergeCharClass`: `dst |= src`, where `dst` is at least as complex as `src`.
    fn merge_char_class(&mut self, dst: NodeId, src: NodeId) {
        match self.nodes[dst].op {
            Op::AnyChar => {}
            Op::AnyCharNotNl if self.match_rune(src, u32::from(b'\n')) => {
                self.nodes[dst].op = Op::AnyChar;
            }
            Op::CharClass => {
                let src_node = &self.nodes[src];
                let (src_op, src_flags, src_runes) =
                    (src_node.op, src_node.flags, src_node.runes.clone());
                let runes = &mut self.nodes[dst].runes;
                if src_op == Op::Literal {
                    if let Some(&r) = src_runes.first() {
                        append_literal(runes, r, src_flags);
                    }
                } else {
                    append_class(runes, &src_runes);
                }
            }
            Op::Literal => {
                let (sr, sf) = (
                    self.nodes[src].runes.first().copied(),
                    self.nodes[src].flags,
                );
                let node = &mut self.nodes[dst];
                let (Some(sr), Some(&dr)) = (sr, node.runes.first()) else {
                    return;
                };
                if sr == dr && sf == node.flags {
                    return;
                }
                let df = node.flags;
                node.op = Op::CharClass;
                node.runes.clear();
                append_literal(&mut node.runes, dr, df);
                append_literal(&mut node.runes, sr, sf);
            }
            _ => {}
        }
    }

    /// Go's `swapVerticalBar`.
    fn swap_vertical_bar(&mut self) -> bool {
        let n = self.stack.len();
        if n >= 3
            && self.nodes[self.stack[n - 2]].op == Op::VerticalBar
            && self.is_char_class(self.stack[n - 1])
            && self.is_char_class(self.stack[n - 3])
        {
            let mut re1 = self.stack[n - 1];
            let mut re3 = self.stack[n - 3];
            if self.nodes[re1].op > self.nodes[re3].op {
                std::mem::swap(&mut re1, &mut re3);
                self.stack[n - 3] = re3;
            }
            self.merge_char_class(re3, re1);
            self.reuse(re1);
            self.stack.truncate(n - 1);
            return true;
        }
        if n >= 2 {
            let (re1, re2) = (self.stack[n - 1], self.stack[n - 2]);
            if self.nodes[re2].op == Op::VerticalBar {
                if n >= 3 {
                    self.clean_alt(self.stack[n - 3]);
                }
                self.stack[n - 2] = re1;
                self.stack[n - 1] = re2;
                return true;
            }
        }
        false
    }

    fn parse_vertical_bar(&mut self) -> Result<(), Error> {
        self.concat()?;
        if !self.swap_vertical_bar() {
            self.op(Op::VerticalBar)?;
        }
        Ok(())
    }

    fn parse_right_paren(&mut self) -> Result<(), Error> {
        self.concat()?;
        if self.swap_vertical_bar() {
            self.stack.pop();
        }
        self.alternate()?;
        let n = self.stack.len();
        if n < 2 {
            return Err(error(ErrorCode::UnexpectedParen, self.src));
        }
        let (re1, re2) = (self.stack[n - 1], self.stack[n - 2]);
        self.stack.truncate(n - 2);
        if self.nodes[re2].op != Op::LeftParen {
            return Err(error(ErrorCode::UnexpectedParen, self.src));
        }
        self.flags = self.nodes[re2].flags;
        if self.nodes[re2].cap == 0 {
            self.push(re1)?;
        } else {
            let node = &mut self.nodes[re2];
            node.op = Op::Capture;
            node.subs = vec![re1];
            self.push(re2)?;
        }
        Ok(())
    }

    // ----- the main loop -----

    fn run(&mut self) -> Result<NodeId, Error> {
        let len = self.src.len();
        let mut pos = 0;
        let mut last_repeat: Option<usize> = None;
        while pos < len {
            let mut repeat = None;
            let b = self.src.as_bytes()[pos];
            match b {
                b'(' => {
                    if self.flags & PERL_X != 0 && self.byte(pos + 1) == Some(b'?') {
                        pos = self.parse_perl_flags(pos)?;
                    } else {
                        self.num_cap += 1;
                        let re = self.op(Op::LeftParen)?;
                        self.nodes[re].cap = self.num_cap;
                        pos += 1;
                    }
                }
                b'|' => {
                    self.parse_vertical_bar()?;
                    pos += 1;
                }
                b')' => {
                    self.parse_right_paren()?;
                    pos += 1;
                }
                b'^' => {
                    self.op(if self.flags & ONE_LINE != 0 {
                        Op::BeginText
                    } else {
                        Op::BeginLine
                    })?;
                    pos += 1;
                }
                b'$' => {
                    if self.flags & ONE_LINE != 0 {
                        let re = self.op(Op::EndText)?;
                        self.nodes[re].flags |= WAS_DOLLAR;
                    } else {
                        self.op(Op::EndLine)?;
                    }
                    pos += 1;
                }
                b'.' => {
                    self.op(if self.flags & DOT_NL != 0 {
                        Op::AnyChar
                    } else {
                        Op::AnyCharNotNl
                    })?;
                    pos += 1;
                }
                b'[' => pos = self.parse_class(pos)?,
                b'*' | b'+' | b'?' => {
                    let op = match b {
                        b'*' => Op::Star,
                        b'+' => Op::Plus,
                        _ => Op::Quest,
                    };
                    let after = self.repeat(op, 0, 0, pos, pos + 1, last_repeat)?;
                    repeat = Some(pos);
                    pos = after;
                }
                b'{' => match parse_repeat(&self.src[pos..]) {
                    None => {
                        self.literal(u32::from(b'{'))?;
                        pos += 1;
                    }
                    Some((min, max, used)) => {
                        let after = pos + used;
                        let counts_ok = (0..=MAX_REPEAT).contains(&min)
                            && max <= MAX_REPEAT
                            && (max < 0 || min <= max);
                        if !counts_ok {
                            return Err(error(ErrorCode::InvalidRepeatSize, &self.src[pos..after]));
                        }
                        let after = self.repeat(Op::Repeat, min, max, pos, after, last_repeat)?;
                        repeat = Some(pos);
                        pos = after;
                    }
                },
                b'\\' => pos = self.parse_backslash(pos)?,
                _ => {
                    let (c, size) = next_rune(&self.src[pos..]);
                    self.literal(c)?;
                    pos += size;
                }
            }
            last_repeat = repeat;
        }
        self.concat()?;
        if self.swap_vertical_bar() {
            self.stack.pop();
        }
        self.alternate()?;
        match self.stack.as_slice() {
            &[root] => Ok(root),
            _ => Err(error(ErrorCode::MissingParen, self.src)),
        }
    }

    /// A backslash outside a class.
    fn parse_backslash(&mut self, pos: usize) -> Result<usize, Error> {
        if self.flags & PERL_X != 0 {
            match self.byte(pos + 1) {
                Some(b'A') => {
                    self.op(Op::BeginText)?;
                    return Ok(pos + 2);
                }
                Some(b'b') => {
                    self.op(Op::WordBoundary)?;
                    return Ok(pos + 2);
                }
                Some(b'B') => {
                    self.op(Op::NoWordBoundary)?;
                    return Ok(pos + 2);
                }
                Some(b'C') => {
                    return Err(error(ErrorCode::InvalidEscape, &self.src[pos..pos + 2]));
                }
                Some(b'Q') => {
                    let body = pos + 2;
                    let (end, next) = match self.src[body..].find(r"\E") {
                        Some(k) => (body + k, body + k + 2),
                        None => (self.src.len(), self.src.len()),
                    };
                    let src = self.src;
                    for c in src[body..end].chars() {
                        self.literal(u32::from(c))?;
                    }
                    return Ok(next);
                }
                Some(b'z') => {
                    self.op(Op::EndText)?;
                    return Ok(pos + 2);
                }
                _ => {}
            }
        }
        let re = self.new_node(Op::CharClass);
        self.nodes[re].flags = self.flags;
        let rest = &self.src[pos..];
        if matches!(self.byte(pos + 1), Some(b'p' | b'P')) {
            let mut class = Vec::new();
            if let Some(used) = self.parse_unicode_class(rest, &mut class)? {
                self.nodes[re].runes = class;
                self.push(re)?;
                return Ok(pos + used);
            }
        }
        let mut class = Vec::new();
        if let Some(used) = self.parse_perl_class_escape(rest, &mut class) {
            self.nodes[re].runes = class;
            self.push(re)?;
            return Ok(pos + used);
        }
        self.reuse(re);
        let (c, next) = self.parse_escape(pos)?;
        self.literal(c)?;
        Ok(next)
    }

    /// Go's `parsePerlFlags`, for `(?` at `pos`.
    fn parse_perl_flags(&mut self, pos: usize) -> Result<usize, Error> {
        let t = &self.src[pos..];
        let tb = t.as_bytes();
        let starts_with_p = tb.len() > 4 && tb[2] == b'P' && tb[3] == b'<';
        let starts_with_name = tb.len() > 3 && tb[2] == b'<';
        if starts_with_p || starts_with_name {
            let expr_start = if starts_with_name { 3 } else { 4 };
            let Some(end) = t.find('>') else {
                return Err(error(ErrorCode::InvalidNamedCapture, t));
            };
            let capture = &t[..=end];
            let name = &t[expr_start..end];
            if name.is_empty() || !name.chars().all(|c| c == '_' || c.is_ascii_alphanumeric()) {
                return Err(error(ErrorCode::InvalidNamedCapture, capture));
            }
            self.num_cap += 1;
            let re = self.op(Op::LeftParen)?;
            self.nodes[re].cap = self.num_cap;
            self.nodes[re].name = name.to_owned();
            return Ok(pos + end + 1);
        }
        let mut i = pos + 2;
        let mut flags = self.flags;
        let mut negative = false;
        let mut saw_flag = false;
        while i < self.src.len() {
            let (c, size) = next_rune(&self.src[i..]);
            i += size;
            match char::from_u32(c) {
                Some('i') => {
                    flags |= FOLD_CASE;
                    saw_flag = true;
                }
                Some('m') => {
                    flags &= !ONE_LINE;
                    saw_flag = true;
                }
                Some('s') => {
                    flags |= DOT_NL;
                    saw_flag = true;
                }
                Some('U') => {
                    flags |= NON_GREEDY;
                    saw_flag = true;
                }
                Some('-') => {
                    if negative {
                        break;
                    }
                    negative = true;
                    flags = !flags;
                    saw_flag = false;
                }
                Some(c @ (':' | ')')) => {
                    if negative {
                        if !saw_flag {
                            break;
                        }
                        flags = !flags;
                    }
                    if c == ':' {
                        self.op(Op::LeftParen)?;
                    }
                    self.flags = flags;
                    return Ok(i);
                }
                _ => break,
            }
        }
        Err(error(ErrorCode::InvalidPerlOp, &self.src[pos..i]))
    }

    /// Go's `parseEscape`, for the backslash at `pos`: the rune and the position after it.
    fn parse_escape(&self, pos: usize) -> Result<(u32, usize), Error> {
        let src = self.src;
        let mut t = pos + 1;
        if t >= src.len() {
            return Err(error(ErrorCode::TrailingBackslash, ""));
        }
        let (c, size) = next_rune(&src[t..]);
        t += size;
        let is_octal = |p: usize| matches!(src.as_bytes().get(p), Some(b'0'..=b'7'));
        let bad = |t: usize| Err(error(ErrorCode::InvalidEscape, &src[pos..t]));
        match char::from_u32(c) {
            Some('1'..='7') if !is_octal(t) => bad(t),
            Some(d @ '0'..='7') => {
                let mut r = u32::from(d) - u32::from('0');
                for _ in 1..3 {
                    if !is_octal(t) {
                        break;
                    }
                    r = r * 8 + u32::from(src.as_bytes()[t] - b'0');
                    t += 1;
                }
                Ok((r, t))
            }
            Some('x') => {
                if t >= src.len() {
                    return bad(t);
                }
                let (c, size) = next_rune(&src[t..]);
                t += size;
                if c == u32::from('{') {
                    let mut nhex = 0;
                    let mut r: u32 = 0;
                    loop {
                        if t >= src.len() {
                            return bad(t);
                        }
                        let (c, size) = next_rune(&src[t..]);
                        t += size;
                        if c == u32::from('}') {
                            break;
                        }
                        let Some(v) = unhex(c) else {
                            return bad(t);
                        };
                        r = r * 16 + v;
                        if r > MAX_RUNE {
                            return bad(t);
                        }
                        nhex += 1;
                    }
                    if nhex == 0 {
                        return bad(t);
                    }
                    return Ok((r, t));
                }
                let x = unhex(c);
                let (c, size) = next_rune(&src[t..]);
                t += size;
                match (x, unhex(c)) {
                    (Some(x), Some(y)) => Ok((x * 16 + y, t)),
                    _ => bad(t),
                }
            }
            Some('a') => Ok((0x07, t)),
            Some('f') => Ok((0x0C, t)),
            Some('n') => Ok((0x0A, t)),
            Some('r') => Ok((0x0D, t)),
            Some('t') => Ok((0x09, t)),
            Some('v') => Ok((0x0B, t)),
            _ if c < 0x80 && !is_alnum(c) => Ok((c, t)),
            _ => bad(t),
        }
    }

    /// Go's `parseClassChar`: one character of a class at `t`.
    fn parse_class_char(&self, t: usize, whole_class: &str) -> Result<(u32, usize), Error> {
        if t >= self.src.len() {
            return Err(error(ErrorCode::MissingBracket, whole_class));
        }
        if self.byte(t) == Some(b'\\') {
            return self.parse_escape(t);
        }
        let (c, size) = next_rune(&self.src[t..]);
        Ok((c, t + size))
    }

    /// Go's `parsePerlClassEscape`: `\d` and friends at the start of `s`.
    fn parse_perl_class_escape(&self, s: &str, class: &mut Vec<u32>) -> Option<usize> {
        let b = s.as_bytes();
        if self.flags & PERL_X == 0 || b.len() < 2 || b[0] != b'\\' {
            return None;
        }
        let group = tables::perl_group(b[1])?;
        self.append_group(class, group);
        Some(2)
    }

    /// Go's `parseNamedClass`: `[:alpha:]` and friends at the start of `s`.
    fn parse_named_class(&self, s: &str, class: &mut Vec<u32>) -> Result<Option<usize>, Error> {
        if !s.starts_with("[:") {
            return Ok(None);
        }
        let Some(i) = s[2..].find(":]") else {
            return Ok(None);
        };
        let name = &s[..i + 4];
        let Some(group) = tables::posix_group(name) else {
            return Err(error(ErrorCode::InvalidCharRange, name));
        };
        self.append_group(class, group);
        Ok(Some(name.len()))
    }

    /// Go's `appendGroup`.
    fn append_group(&self, class: &mut Vec<u32>, group: Group) {
        let flat: Vec<u32> = group.class.iter().flat_map(|&(lo, hi)| [lo, hi]).collect();
        if self.flags & FOLD_CASE == 0 {
            if group.negated {
                append_negated_class(class, &flat);
            } else {
                append_class(class, &flat);
            }
        } else {
            let mut tmp = Vec::new();
            for pair in flat.chunks_exact(2) {
                append_folded_range(&mut tmp, pair[0], pair[1]);
            }
            clean_class(&mut tmp);
            if group.negated {
                append_negated_class(class, &tmp);
            } else {
                append_class(class, &tmp);
            }
        }
    }

    /// Go's `parseUnicodeClass`: `\p{Greek}` and friends at the start of `s`.
    fn parse_unicode_class(&self, s: &str, class: &mut Vec<u32>) -> Result<Option<usize>, Error> {
        let b = s.as_bytes();
        if self.flags & UNICODE_GROUPS == 0
            || b.len() < 2
            || b[0] != b'\\'
            || (b[1] != b'p' && b[1] != b'P')
        {
            return Ok(None);
        }
        let mut negate = b[1] == b'P';
        let (c, size) = next_rune(&s[2..]);
        let (seq, mut name) = if c != u32::from('{') {
            let seq = &s[..2 + size];
            (seq, &seq[2..])
        } else {
            let Some(end) = s.find('}') else {
                return Err(error(ErrorCode::InvalidCharRange, s));
            };
            (&s[..=end], &s[3..end])
        };
        if let Some(rest) = name.strip_prefix('^') {
            negate = !negate;
            name = rest;
        }
        let Some(table) = tables::unicode_table(name) else {
            return Err(error(ErrorCode::InvalidCharRange, seq));
        };
        if table.negated {
            negate = !negate;
        }
        let folded = if self.flags & FOLD_CASE != 0 {
            table.folded.as_ref()
        } else {
            None
        };
        let ranges: Vec<u32> = folded
            .unwrap_or(&table.ranges)
            .iter()
            .flat_map(|&(lo, hi)| [lo, hi])
            .collect();
        if negate {
            append_negated_class(class, &ranges);
        } else {
            append_class(class, &ranges);
        }
        Ok(Some(seq.len()))
    }

    /// Go's `parseClass`, for the `[` at `pos`.
    fn parse_class(&mut self, pos: usize) -> Result<usize, Error> {
        let src = self.src;
        let whole_class = &src[pos..];
        let mut t = pos + 1;
        let re = self.new_node(Op::CharClass);
        self.nodes[re].flags = self.flags;
        let mut class: Vec<u32> = Vec::new();
        let mut negated = false;
        if self.byte(t) == Some(b'^') {
            negated = true;
            t += 1;
            if self.flags & CLASS_NL == 0 {
                class.extend([0x0A, 0x0A]);
            }
        }
        let mut first = true;
        while t >= src.len() || self.byte(t) != Some(b']') || first {
            if self.byte(t) == Some(b'-')
                && self.flags & PERL_X == 0
                && !first
                && self.byte(t + 1) != Some(b']')
            {
                let (_, size) = next_rune(&src[t + 1..]);
                return Err(error(ErrorCode::InvalidCharRange, &src[t..t + 1 + size]));
            }
            first = false;
            let rest = &src[t.min(src.len())..];
            if rest.len() > 2
                && rest.starts_with("[:")
                && let Some(used) = self.parse_named_class(rest, &mut class)?
            {
                t += used;
                continue;
            }
            if let Some(used) = self.parse_unicode_class(rest, &mut class)? {
                t += used;
                continue;
            }
            if let Some(used) = self.parse_perl_class_escape(rest, &mut class) {
                t += used;
                continue;
            }
            let range_start = t;
            let (lo, next) = self.parse_class_char(t, whole_class)?;
            t = next;
            let mut hi = lo;
            if src.len() >= t + 2 && self.byte(t) == Some(b'-') && self.byte(t + 1) != Some(b']') {
                t += 1;
                let (h, next) = self.parse_class_char(t, whole_class)?;
                hi = h;
                t = next;
                if hi < lo {
                    return Err(error(ErrorCode::InvalidCharRange, &src[range_start..t]));
                }
            }
            if self.flags & FOLD_CASE == 0 {
                append_range(&mut class, lo, hi);
            } else {
                append_folded_range(&mut class, lo, hi);
            }
        }
        t += 1;
        clean_class(&mut class);
        if negated {
            negate_class(&mut class);
        }
        self.nodes[re].runes = class;
        self.push(re)?;
        Ok(t)
    }
}

/// Go's `parseRepeat`: `{min}`, `{min,}` or `{min,max}` at the start of `s`, with the number
/// of bytes used. `max` is -1 for no maximum; a number too big gives `min` -1.
fn parse_repeat(s: &str) -> Option<(i32, i32, usize)> {
    let b = s.as_bytes();
    if b.first() != Some(&b'{') {
        return None;
    }
    let mut i = 1;
    let (mut min, used) = parse_int(&b[i..])?;
    i += used;
    let max;
    match b.get(i) {
        None => return None,
        Some(b',') => {
            i += 1;
            match b.get(i) {
                None => return None,
                Some(b'}') => max = -1,
                Some(_) => {
                    let (m, used) = parse_int(&b[i..])?;
                    i += used;
                    max = m;
                    if max < 0 {
                        min = -1;
                    }
                }
            }
        }
        Some(_) => max = min,
    }
    if b.get(i) != Some(&b'}') {
        return None;
    }
    Some((min, max, i + 1))
}

/// Go's `parseInt`: a decimal number without leading zeros; -1 when it is 10^8 or more.
fn parse_int(b: &[u8]) -> Option<(i32, usize)> {
    if !b.first()?.is_ascii_digit() {
        return None;
    }
    if b.len() >= 2 && b[0] == b'0' && b[1].is_ascii_digit() {
        return None;
    }
    let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    let mut n: i32 = 0;
    for &d in &b[..digits] {
        if n >= 100_000_000 {
            n = -1;
            break;
        }
        n = n * 10 + i32::from(d - b'0');
    }
    Some((n, digits))
}

/// Go's `minFoldRune`: the smallest rune case-equivalent to `r`.
fn min_fold_rune(r: u32) -> u32 {
    if !(MIN_FOLD..=MAX_FOLD).contains(&r) {
        return r;
    }
    let mut m = r;
    let mut f = tables::simple_fold(r);
    while f != r {
        m = m.min(f);
        f = tables::simple_fold(f);
    }
    m
}

/// Go's `cleanClass`: sorts the range pairs and merges overlapping and adjacent ones.
pub(super) fn clean_class(r: &mut Vec<u32>) {
    let mut pairs: Vec<(u32, u32)> = r.chunks_exact(2).map(|p| (p[0], p[1])).collect();
    pairs.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
    r.clear();
    for (lo, hi) in pairs {
        let n = r.len();
        if n >= 2 && lo <= r[n - 1].saturating_add(1) {
            if hi > r[n - 1] {
                r[n - 1] = hi;
            }
            continue;
        }
        r.extend([lo, hi]);
    }
}

/// Go's `appendLiteral`.
fn append_literal(r: &mut Vec<u32>, x: u32, flags: u16) {
    if flags & FOLD_CASE != 0 {
        append_folded_range(r, x, x);
    } else {
        append_range(r, x, x);
    }
}

/// Go's `appendRange`: appends `lo-hi`, widening one of the last two ranges when it overlaps
/// or abuts.
fn append_range(r: &mut Vec<u32>, lo: u32, hi: u32) {
    let n = r.len();
    for i in [2, 4] {
        if n >= i {
            let (rlo, rhi) = (r[n - i], r[n - i + 1]);
            if lo <= rhi.saturating_add(1) && rlo <= hi.saturating_add(1) {
                if lo < rlo {
                    r[n - i] = lo;
                }
                if hi > rhi {
                    r[n - i + 1] = hi;
                }
                return;
            }
        }
    }
    r.extend([lo, hi]);
}

/// Go's `appendFoldedRange`: `lo-hi` and everything case folding relates to it. Only the
/// code points that have an orbit are visited (Go tries every code point of the range; the
/// set is the same).
fn append_folded_range(r: &mut Vec<u32>, lo: u32, hi: u32) {
    if lo <= MIN_FOLD && hi >= MAX_FOLD {
        append_range(r, lo, hi);
        return;
    }
    if hi < MIN_FOLD || lo > MAX_FOLD {
        append_range(r, lo, hi);
        return;
    }
    append_range(r, lo, hi);
    for &(c, _) in tables::orbit_entries(lo.max(MIN_FOLD), hi.min(MAX_FOLD)) {
        let mut f = tables::simple_fold(c);
        while f != c {
            append_range(r, f, f);
            f = tables::simple_fold(f);
        }
    }
}

/// Go's `appendClass`.
fn append_class(r: &mut Vec<u32>, x: &[u32]) {
    for pair in x.chunks_exact(2) {
        append_range(r, pair[0], pair[1]);
    }
}

/// Go's `appendNegatedClass`: appends the complement of the clean class `x`.
fn append_negated_class(r: &mut Vec<u32>, x: &[u32]) {
    let mut next_lo = 0u32;
    for pair in x.chunks_exact(2) {
        let (lo, hi) = (pair[0], pair[1]);
        if lo > next_lo {
            append_range(r, next_lo, lo - 1);
        }
        next_lo = hi.saturating_add(1);
    }
    if next_lo <= MAX_RUNE {
        append_range(r, next_lo, MAX_RUNE);
    }
}

/// Go's `negateClass`, for a clean class.
fn negate_class(r: &mut Vec<u32>) {
    let mut out = Vec::with_capacity(r.len() + 2);
    append_negated_class(&mut out, r);
    *r = out;
}

//! Lowers Go's parse tree to `regex-syntax` HIR that matches what Go matches on UTF-8 text.
//!
//! Capture groups are dropped (only whether a pattern matches is used), so duplicate group
//! names, which Go accepts, are harmless. Runes that cannot occur in UTF-8 text (surrogates)
//! match nothing, as in Go, where such bytes decode to U+FFFD.

use regex_syntax::hir::{Class, ClassUnicode, ClassUnicodeRange, Dot, Hir, Look, Repetition};

use super::parser::{Op, Tree, flags};
use super::tables;

/// Builds the HIR for the whole tree, bottom-up on an explicit stack.
pub(super) fn lower(tree: &Tree) -> Hir {
    let mut done: Vec<Option<Hir>> = vec![None; tree.nodes.len()];
    let mut work = vec![(tree.root, false)];
    while let Some((id, ready)) = work.pop() {
        let node = &tree.nodes[id];
        if !ready {
            work.push((id, true));
            work.extend(node.subs.iter().map(|&s| (s, false)));
            continue;
        }
        let mut sub = |k: usize| {
            node.subs
                .get(k)
                .and_then(|&s| done[s].take())
                .unwrap_or_else(Hir::fail)
        };
        let hir = match node.op {
            Op::NoMatch => Hir::fail(),
            Op::EmptyMatch => Hir::empty(),
            Op::Literal => literal(&node.runes, node.flags & flags::FOLD_CASE != 0),
            Op::CharClass => class(&node.runes),
            Op::AnyCharNotNl => Hir::dot(Dot::AnyCharExceptLF),
            Op::AnyChar => Hir::dot(Dot::AnyChar),
            Op::BeginLine => Hir::look(Look::StartLF),
            Op::EndLine => Hir::look(Look::EndLF),
            Op::BeginText => Hir::look(Look::Start),
            Op::EndText => Hir::look(Look::End),
            Op::WordBoundary => Hir::look(Look::WordAscii),
            Op::NoWordBoundary => Hir::look(Look::WordAsciiNegate),
            Op::Capture => sub(0),
            Op::Star | Op::Plus | Op::Quest | Op::Repeat => {
                let (min, max) = match node.op {
                    Op::Star => (0, None),
                    Op::Plus => (1, None),
                    Op::Quest => (0, Some(1)),
                    _ => (
                        u32::try_from(node.min).unwrap_or(0),
                        u32::try_from(node.max).ok(),
                    ),
                };
                Hir::repetition(Repetition {
                    min,
                    max,
                    greedy: node.flags & flags::NON_GREEDY == 0,
                    sub: Box::new(sub(0)),
                })
            }
            Op::Concat => Hir::concat((0..node.subs.len()).map(sub).collect()),
            Op::Alternate => Hir::alternation((0..node.subs.len()).map(sub).collect()),
            Op::LeftParen | Op::VerticalBar => Hir::fail(),
        };
        done[id] = Some(hir);
    }
    done[tree.root].take().unwrap_or_else(Hir::fail)
}

/// A literal string; with `fold`, each rune matches its whole case folding orbit.
fn literal(runes: &[u32], fold: bool) -> Hir {
    let mut pieces = Vec::new();
    let mut text = String::new();
    for &r in runes {
        let Some(c) = char::from_u32(r) else {
            return Hir::fail();
        };
        let next = if fold { tables::simple_fold(r) } else { r };
        if next == r {
            text.push(c);
            continue;
        }
        if !text.is_empty() {
            pieces.push(Hir::literal(std::mem::take(&mut text).into_bytes()));
        }
        let mut orbit = vec![r, next];
        let mut f = tables::simple_fold(next);
        while f != r {
            orbit.push(f);
            f = tables::simple_fold(f);
        }
        let pairs: Vec<u32> = orbit.iter().flat_map(|&m| [m, m]).collect();
        pieces.push(class(&pairs));
    }
    if !text.is_empty() {
        pieces.push(Hir::literal(text.into_bytes()));
    }
    Hir::concat(pieces)
}

/// A class from Go's range pairs, without the surrogate code points.
fn class(pairs: &[u32]) -> Hir {
    let ranges = pairs.chunks_exact(2).filter_map(|pair| {
        let (mut lo, mut hi) = (pair[0], pair[1].min(tables::MAX_RUNE));
        if (0xD800..=0xDFFF).contains(&lo) {
            lo = 0xE000;
        }
        if (0xD800..=0xDFFF).contains(&hi) {
            hi = 0xD7FF;
        }
        let (lo, hi) = (char::from_u32(lo)?, char::from_u32(hi)?);
        (lo <= hi).then(|| ClassUnicodeRange::new(lo, hi))
    });
    Hir::class(Class::Unicode(ClassUnicode::new(ranges)))
}

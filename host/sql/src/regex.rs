//! Regexps written from their parsed form (the Go-semantics HIR the IR holds), never from the
//! source text: every class is a list of explicit code-point ranges (so `(?i)`, `\d`, `\pL`
//! and `.` carry Go's tables, not the engine's), every assertion is explicit (`(?m)` is already
//! applied), and every character outside ASCII letters and digits is an escape, so the pattern
//! text is printable ASCII without a quote in it.
//!
//! Two writers: RE2 (BigQuery's `REGEXP_CONTAINS`, DuckDB's `regexp_matches`), where each HIR
//! construct has a construct of identical meaning, and PostgreSQL's ARE, where only the
//! constructs with a provably identical meaning are written and the rest is refused.

use std::fmt::Write;

use regex_syntax::hir::literal::{ExtractKind, Extractor};
use regex_syntax::hir::{Class, Hir, HirKind, Look, Repetition};

use crate::Unsupported;
use crate::dialect::push_pg_escape;

/// PostgreSQL's largest repetition bound (`RE_DUP_MAX`); Go allows 1000.
const PG_MAX_REPEAT: u32 = 255;

/// The ASCII word characters of Go's `\b`, as a PostgreSQL bracket expression.
const PG_WORD: &str = "[\\u0030-\\u0039\\u0041-\\u005A\\u005F\\u0061-\\u007A]";

/// Whether the regexp can match anything at all (a class of no character, such as a lone
/// surrogate, cannot). A regexp that cannot match is written as the constant `FALSE`.
pub(crate) fn can_match(hir: &Hir) -> bool {
    hir.properties().minimum_len().is_some()
}

/// Most literals in a required set: more would cost more than the search they spare.
const MAX_REQUIRED_LITERALS: usize = 8;

/// A set of texts one of which every match contains, when there is a useful one: the prefix
/// or suffix literals of regex-syntax's extractor (whose contract is that every match starts,
/// or ends, with one of them), cut to whole characters, at least 2 bytes each. A search for
/// them is a necessary condition, so `contains(one of them) AND regexp` is the regexp.
pub(crate) fn required_literals(hir: &Hir) -> Option<Vec<String>> {
    let mut best: Option<(usize, Vec<String>)> = None;
    for kind in [ExtractKind::Prefix, ExtractKind::Suffix] {
        let seq = Extractor::new().kind(kind.clone()).extract(hir);
        let Some(literals) = seq.literals() else {
            continue;
        };
        if literals.is_empty() {
            continue;
        }
        let texts: Option<Vec<String>> = literals
            .iter()
            .map(|lit| whole_chars(lit.as_bytes(), kind.is_prefix()))
            .collect();
        let Some(mut texts) = texts else { continue };
        texts.sort();
        texts.dedup();
        // Too many: shorten them all (a prefix of a required prefix is required too, and a
        // suffix of a required suffix), which merges some, until few enough are left.
        let mut keep = texts.iter().map(String::len).max().unwrap_or(0);
        while texts.len() > MAX_REQUIRED_LITERALS && keep > 2 {
            keep -= 1;
            for text in &mut texts {
                shorten(text, keep, kind.is_prefix());
            }
            texts.sort();
            texts.dedup();
        }
        if texts.len() > MAX_REQUIRED_LITERALS {
            continue;
        }
        let shortest = texts.iter().map(String::len).min().unwrap_or(0);
        if shortest >= 2 && best.as_ref().is_none_or(|(len, _)| shortest > *len) {
            best = Some((shortest, texts));
        }
    }
    best.map(|(_, texts)| texts)
}

/// Cuts `text` to at most `len` bytes of whole characters, keeping its start (`prefix`) or
/// its end.
fn shorten(text: &mut String, len: usize, prefix: bool) {
    if text.len() <= len {
        return;
    }
    if prefix {
        let mut end = len;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    } else {
        let mut start = text.len() - len;
        while !text.is_char_boundary(start) {
            start += 1;
        }
        *text = text[start..].to_owned();
    }
}

/// The longest run of whole UTF-8 characters at the start (`prefix`) or the end of `bytes`
/// (a literal may be cut inside a character); `None` when that is not text.
fn whole_chars(bytes: &[u8], prefix: bool) -> Option<String> {
    let text = if prefix {
        match std::str::from_utf8(bytes) {
            Ok(text) => text,
            Err(e) => std::str::from_utf8(&bytes[..e.valid_up_to()]).ok()?,
        }
    } else {
        let start = bytes
            .iter()
            .position(|&b| !(0x80..0xC0).contains(&b))
            .unwrap_or(bytes.len());
        std::str::from_utf8(&bytes[start..]).ok()?
    };
    (!text.contains('\0')).then(|| text.to_owned())
}

/// The pattern in RE2 syntax, for an unanchored search.
pub(crate) fn re2(hir: &Hir) -> Result<String, Unsupported> {
    let mut out = String::new();
    write_re2(hir, &mut out)?;
    Ok(out)
}

fn write_re2(hir: &Hir, out: &mut String) -> Result<(), Unsupported> {
    match hir.kind() {
        HirKind::Empty => out.push_str("(?:)"),
        HirKind::Literal(lit) => {
            let text = std::str::from_utf8(&lit.0).map_err(|_| Unsupported::NonUtf8Literal)?;
            for c in text.chars() {
                push_re2_char(out, c);
            }
        }
        HirKind::Class(class) => {
            let ranges = unicode_ranges(class)?;
            if ranges.is_empty() {
                // No character: RE2 has no empty bracket, but the complement of everything is
                // one (checked: it never matches).
                out.push_str("[^\\x{0}-\\x{10FFFF}]");
            } else {
                out.push('[');
                for (lo, hi) in ranges {
                    push_re2_char(out, lo);
                    if hi != lo {
                        out.push('-');
                        push_re2_char(out, hi);
                    }
                }
                out.push(']');
            }
        }
        HirKind::Look(look) => out.push_str(match look {
            Look::Start => "\\A",
            Look::End => "\\z",
            Look::StartLF => "(?m:^)",
            Look::EndLF => "(?m:$)",
            Look::WordAscii => "\\b",
            Look::WordAsciiNegate => "\\B",
            other => return Err(Unsupported::Assertion(format!("{other:?}"))),
        }),
        HirKind::Repetition(rep) => {
            out.push_str("(?:");
            write_re2(&rep.sub, out)?;
            out.push(')');
            push_quantifier(out, rep);
        }
        HirKind::Capture(cap) => {
            out.push_str("(?:");
            write_re2(&cap.sub, out)?;
            out.push(')');
        }
        HirKind::Concat(subs) => {
            for sub in subs {
                write_re2(sub, out)?;
            }
        }
        HirKind::Alternation(subs) => {
            out.push_str("(?:");
            for (i, sub) in subs.iter().enumerate() {
                if i > 0 {
                    out.push('|');
                }
                write_re2(sub, out)?;
            }
            out.push(')');
        }
    }
    Ok(())
}

/// One character in RE2 syntax: ASCII letters and digits as they are, anything else as
/// `\x{HEX}` (a code point in RE2's UTF-8 mode; valid inside and outside brackets).
fn push_re2_char(out: &mut String, c: char) {
    if c.is_ascii_alphanumeric() {
        out.push(c);
    } else {
        write!(out, "\\x{{{:X}}}", c as u32).expect("writing to a String");
    }
}

fn push_quantifier(out: &mut String, rep: &Repetition) {
    // Greediness is left out: it changes which match is found, never whether one is.
    match (rep.min, rep.max) {
        (0, None) => out.push('*'),
        (1, None) => out.push('+'),
        (0, Some(1)) => out.push('?'),
        (min, None) => write!(out, "{{{min},}}").expect("writing to a String"),
        (min, Some(max)) if min == max => write!(out, "{{{min}}}").expect("writing to a String"),
        (min, Some(max)) => write!(out, "{{{min},{max}}}").expect("writing to a String"),
    }
}

/// A class as code-point ranges. The HIR Go's parser makes is Unicode; a byte class is taken
/// only when it is ASCII (where bytes and code points coincide).
fn unicode_ranges(class: &Class) -> Result<Vec<(char, char)>, Unsupported> {
    match class {
        Class::Unicode(cls) => Ok(cls.ranges().iter().map(|r| (r.start(), r.end())).collect()),
        Class::Bytes(cls) => cls
            .ranges()
            .iter()
            .map(|r| {
                if r.end() < 0x80 {
                    Ok((char::from(r.start()), char::from(r.end())))
                } else {
                    Err(Unsupported::ByteClass)
                }
            })
            .collect(),
    }
}

/// The pattern as a PostgreSQL ARE, prefixed with `(?w)` so that `^` and `$` match at line
/// boundaries (Go's `(?m)`) while brackets still match a newline (every `.` is a bracket here).
///
/// Written: literals (`\uXXXX` escapes outside letters and digits), bracket expressions of
/// explicit ranges, `(?:…)`, alternation, repetition up to 255, `^`/`$` at lines, `\A`, `\Z`
/// (end of text: Go's `\z`), and Go's ASCII `\b`/`\B` as lookaround over `[0-9A-Za-z_]`.
/// Refused: a repetition bound above 255, a NUL (PostgreSQL text cannot hold one, so the
/// two engines could not even be compared), a class of no character inside a pattern that
/// can match, anything else the HIR could hold.
pub(crate) fn postgres(hir: &Hir) -> Result<String, Unsupported> {
    let mut out = String::from("(?w)");
    write_pg(hir, &mut out)?;
    Ok(out)
}

fn write_pg(hir: &Hir, out: &mut String) -> Result<(), Unsupported> {
    match hir.kind() {
        HirKind::Empty => out.push_str("(?:)"),
        HirKind::Literal(lit) => {
            let text = std::str::from_utf8(&lit.0).map_err(|_| Unsupported::NonUtf8Literal)?;
            for c in text.chars() {
                push_pg_char(out, c)?;
            }
        }
        HirKind::Class(class) => {
            let mut ranges = unicode_ranges(class)?;
            // PostgreSQL text never holds NUL: a range starting there loses nothing.
            ranges.retain_mut(|(lo, hi)| {
                if *lo == '\0' {
                    if *hi == '\0' {
                        return false;
                    }
                    *lo = '\u{1}';
                }
                true
            });
            if ranges.is_empty() {
                return Err(Unsupported::EmptyClass);
            }
            out.push('[');
            for (lo, hi) in ranges {
                push_pg_escape(out, lo);
                if hi != lo {
                    out.push('-');
                    push_pg_escape(out, hi);
                }
            }
            out.push(']');
        }
        HirKind::Look(look) => {
            let w = PG_WORD;
            match look {
                Look::Start => out.push_str("\\A"),
                Look::End => out.push_str("\\Z"),
                Look::StartLF => out.push('^'),
                Look::EndLF => out.push('$'),
                Look::WordAscii => {
                    write!(out, "(?:(?<={w})(?!{w})|(?<!{w})(?={w}))").expect("writing")
                }
                Look::WordAsciiNegate => {
                    write!(out, "(?:(?<={w})(?={w})|(?<!{w})(?!{w}))").expect("writing")
                }
                other => return Err(Unsupported::Assertion(format!("{other:?}"))),
            }
        }
        HirKind::Repetition(rep) => {
            let bound = rep.max.unwrap_or(rep.min);
            if bound > PG_MAX_REPEAT {
                return Err(Unsupported::RepeatCount(bound));
            }
            out.push_str("(?:");
            write_pg(&rep.sub, out)?;
            out.push(')');
            push_quantifier(out, rep);
        }
        HirKind::Capture(cap) => {
            out.push_str("(?:");
            write_pg(&cap.sub, out)?;
            out.push(')');
        }
        HirKind::Concat(subs) => {
            for sub in subs {
                write_pg(sub, out)?;
            }
        }
        HirKind::Alternation(subs) => {
            out.push_str("(?:");
            for (i, sub) in subs.iter().enumerate() {
                if i > 0 {
                    out.push('|');
                }
                write_pg(sub, out)?;
            }
            out.push(')');
        }
    }
    Ok(())
}

fn push_pg_char(out: &mut String, c: char) -> Result<(), Unsupported> {
    if c == '\0' {
        return Err(Unsupported::NulInText);
    }
    if c.is_ascii_alphanumeric() {
        out.push(c);
    } else {
        push_pg_escape(out, c);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hir(pattern: &str) -> Hir {
        flakewatch_dsl::goregex::parse(&format!("(?m){pattern}")).expect("a Go regexp")
    }

    #[test]
    fn re2_is_written_from_the_parsed_form() {
        assert_eq!(
            re2(&hir("a.b")).unwrap(),
            "a[\\x{0}-\\x{9}\\x{B}-\\x{10FFFF}]b"
        );
        assert_eq!(re2(&hir("^x$")).unwrap(), "(?m:^)x(?m:$)");
        assert_eq!(re2(&hir("\\Ax\\z")).unwrap(), "\\Ax\\z");
        assert_eq!(re2(&hir("\\bgo\\B")).unwrap(), "\\bgo\\B");
        assert_eq!(re2(&hir("\\d{2,3}")).unwrap(), "(?:[0-9]){2,3}");
        // (?i)k folds to k, K and the Kelvin sign, as Go does.
        assert_eq!(re2(&hir("(?i)k")).unwrap(), "[Kk\\x{212A}]");
        assert_eq!(re2(&hir("a|b'c")).unwrap(), "(?:a|b\\x{27}c)");
        assert_eq!(re2(&hir("")).unwrap(), "(?:)");
        assert!(!can_match(&hir("\\x{D800}")));
        assert!(can_match(&hir("x*")));
    }

    #[test]
    fn postgres_writes_only_what_means_the_same() {
        assert_eq!(postgres(&hir("^x$")).unwrap(), "(?w)^x$");
        assert_eq!(postgres(&hir("\\Ax\\z")).unwrap(), "(?w)\\Ax\\Z");
        assert_eq!(
            postgres(&hir("a.b")).unwrap(),
            "(?w)a[\\u0001-\\u0009\\u000B-\\U0010FFFF]b"
        );
        assert_eq!(postgres(&hir("a{255}")).unwrap(), "(?w)(?:a){255}");
        assert_eq!(postgres(&hir("a{256}")), Err(Unsupported::RepeatCount(256)));
        assert_eq!(
            postgres(&hir("(?:a{2,}){1,300}")),
            Err(Unsupported::RepeatCount(300))
        );
        assert_eq!(postgres(&hir("a\\x00")), Err(Unsupported::NulInText));
        assert!(postgres(&hir("\\bx")).unwrap().contains("(?<="));
    }

    #[test]
    fn required_literals_are_a_necessary_condition() {
        assert_eq!(
            required_literals(&hir("i/o timeout")),
            Some(vec!["i/o timeout".to_owned()])
        );
        assert_eq!(
            required_literals(&hir("(?:foo|barx)\\d+")),
            Some(vec!["bar".to_owned(), "foo".to_owned()])
        );
        // Nothing required before `.*`, but every match ends with `panic`.
        assert_eq!(
            required_literals(&hir(".*panic")),
            Some(vec!["panic".to_owned()])
        );
        assert_eq!(required_literals(&hir("[a-z]+")), None);
        assert_eq!(required_literals(&hir("x|")), None);
        // Cut to whole characters.
        assert_eq!(
            whole_chars("aé".as_bytes()[..2].as_ref(), true),
            Some("a".to_owned())
        );
        assert_eq!(
            whole_chars(&"éa".as_bytes()[1..], false),
            Some("a".to_owned())
        );
    }
}

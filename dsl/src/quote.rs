//! Go's string quoting rules: `strconv.Unquote` for double-quoted literals, `strconv.Quote` and
//! `strconv.QuoteRune` for printing, with Go's notion of a printable rune.

use std::sync::OnceLock;

use regex_syntax::hir::{Class, ClassUnicode, HirKind};

/// Decodes a double-quoted Go string literal (quotes included) into bytes, as
/// `strconv.Unquote` does; `None` is Go's `invalid syntax`.
pub fn unquote(literal: &str) -> Option<Vec<u8>> {
    let inner = literal.strip_prefix('"')?.strip_suffix('"')?;
    if !inner.contains(['\\', '\n', '"']) {
        return Some(inner.as_bytes().to_vec());
    }
    let mut out = Vec::with_capacity(inner.len());
    let mut rest = inner;
    while let Some(c) = rest.chars().next() {
        if c == '\n' || c == '"' {
            return None;
        }
        if c != '\\' {
            let mut buf = [0; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            rest = &rest[c.len_utf8()..];
            continue;
        }
        let escape = *rest.as_bytes().get(1)?;
        if !escape.is_ascii() {
            // Go: a backslash before a non-ASCII character is not an escape.
            return None;
        }
        rest = &rest[2..];
        let simple = match escape {
            b'a' => Some(0x07),
            b'b' => Some(0x08),
            b'f' => Some(0x0c),
            b'n' => Some(b'\n'),
            b'r' => Some(b'\r'),
            b't' => Some(b'\t'),
            b'v' => Some(0x0b),
            b'\\' => Some(b'\\'),
            b'"' => Some(b'"'),
            _ => None,
        };
        if let Some(byte) = simple {
            out.push(byte);
            continue;
        }
        match escape {
            b'x' | b'u' | b'U' => {
                let n = match escape {
                    b'x' => 2,
                    b'u' => 4,
                    _ => 8,
                };
                let digits = rest.get(..n)?;
                let value = digits
                    .chars()
                    .try_fold(0u32, |acc, d| Some(acc * 16 + d.to_digit(16)?))?;
                rest = &rest[n..];
                if escape == b'x' {
                    out.push(u8::try_from(value).ok()?);
                } else {
                    let ch = char::from_u32(value)?;
                    let mut buf = [0; 4];
                    out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                }
            }
            b'0'..=b'7' => {
                let digits = rest.get(..2)?;
                let mut value = u32::from(escape - b'0');
                for d in digits.bytes() {
                    if !(b'0'..=b'7').contains(&d) {
                        return None;
                    }
                    value = value * 8 + u32::from(d - b'0');
                }
                rest = &rest[2..];
                out.push(u8::try_from(value).ok()?);
            }
            _ => return None,
        }
    }
    Some(out)
}

/// Quotes bytes as Go's `strconv.Quote` does (invalid UTF-8 bytes become `\xNN`).
pub fn quote(value: &[u8]) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for chunk in value.utf8_chunks() {
        for c in chunk.valid().chars() {
            escape_rune(&mut out, c, '"');
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out.push('"');
    out
}

/// Quotes one rune as Go's `strconv.QuoteRune` (`%q` of a rune) does: `'\r'`, `'é'`, `'\u00a0'`.
pub fn quote_rune(c: char) -> String {
    let mut out = String::from("'");
    escape_rune(&mut out, c, '\'');
    out.push('\'');
    out
}

fn escape_rune(out: &mut String, c: char, quote: char) {
    if c == quote || c == '\\' {
        out.push('\\');
        out.push(c);
        return;
    }
    if is_print(c) {
        out.push(c);
        return;
    }
    match c {
        '\x07' => out.push_str("\\a"),
        '\x08' => out.push_str("\\b"),
        '\x0c' => out.push_str("\\f"),
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        '\x0b' => out.push_str("\\v"),
        c if c < ' ' || c == '\x7f' => out.push_str(&format!("\\x{:02x}", u32::from(c))),
        c if u32::from(c) < 0x10000 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
        c => out.push_str(&format!("\\U{:08x}", u32::from(c))),
    }
}

/// Go's `strconv.IsPrint`: letters, marks, numbers, punctuation, symbols and the ASCII space.
pub fn is_print(c: char) -> bool {
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    static GRAPHIC: OnceLock<ClassUnicode> = OnceLock::new();
    let class = GRAPHIC.get_or_init(|| {
        let hir = regex_syntax::Parser::new()
            .parse(r"[\p{L}\p{M}\p{N}\p{P}\p{S}]")
            .expect("static Unicode class parses");
        match hir.into_kind() {
            HirKind::Class(Class::Unicode(class)) => class,
            other => unreachable!("a bracket class parses to a Unicode class, got {other:?}"),
        }
    });
    let ranges = class.ranges();
    ranges
        .binary_search_by(|r| {
            if r.end() < c {
                std::cmp::Ordering::Less
            } else if r.start() > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unquote_follows_go() {
        assert_eq!(unquote(r#""abc""#).unwrap(), b"abc");
        assert_eq!(unquote(r#""x\"y""#).unwrap(), b"x\"y");
        assert_eq!(unquote(r#""\u00e9""#).unwrap(), "é".as_bytes());
        assert_eq!(unquote(r#""\x41\101\t""#).unwrap(), b"AA\t");
        assert_eq!(unquote(r#""\xff""#).unwrap(), [0xff]);
        assert_eq!(unquote(r#""\U0001F600""#).unwrap(), "😀".as_bytes());
        assert_eq!(unquote(r#""\q""#), None);
        assert_eq!(unquote(r#""\'""#), None);
        assert_eq!(unquote(r#""\400""#), None);
        assert_eq!(unquote(r#""\ud800""#), None);
        assert_eq!(unquote(r#""\x4""#), None);
        assert_eq!(unquote("\"\\é\""), None);
        assert_eq!(unquote("\"\\x4é\""), None);
    }

    #[test]
    fn quote_follows_go() {
        assert_eq!(quote(b"net/http"), r#""net/http""#);
        assert_eq!(
            quote("a\"b\\c\n\té\u{a0}\u{7f}".as_bytes()),
            r#""a\"b\\c\n\té\u00a0\x7f""#
        );
        assert_eq!(quote(&[0x61, 0xff]), r#""a\xff""#);
        assert_eq!(quote("\u{e0001}".as_bytes()), r#""\U000e0001""#);
        assert_eq!(quote_rune('\r'), r"'\r'");
        assert_eq!(quote_rune('é'), "'é'");
        assert_eq!(quote_rune('\u{a0}'), r"'\u00a0'");
        assert_eq!(quote_rune('\''), r"'\''");
        assert_eq!(quote_rune('"'), "'\"'");
    }
}

//! A writer for the few YAML documents upstream marshals with `gopkg.in/yaml.v2`, byte for
//! byte: scalar style selection (plain, single-quoted, double-quoted, literal) as libyaml's
//! emitter does it, line folding at 80 columns, block sequences not indented under their key,
//! empty sequences as `[]`.
//!
//! Only what those documents need is here: mappings of scalars and sequences of such mappings.

/// libyaml's preferred line width (yaml.v2 never changes it).
const BEST_WIDTH: usize = 80;

/// A YAML value of the shapes upstream writes.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A string scalar.
    Str(String),
    /// An unsigned integer.
    Int(u64),
    /// A block mapping, keys in order.
    Map(Vec<(String, Value)>),
    /// A block sequence.
    Seq(Vec<Value>),
}

/// Marshals `value` (a mapping) as yaml.v2 does: no document marker, a final newline.
pub fn to_string(value: &Value) -> String {
    let mut w = Writer {
        out: String::new(),
        column: 0,
    };
    match value {
        Value::Map(entries) => w.map(entries, 0),
        Value::Seq(items) => w.seq(items, 0),
        scalar => {
            w.scalar_value(scalar, 0);
            w.newline();
        }
    }
    w.out
}

struct Writer {
    out: String,
    column: usize,
}

impl Writer {
    fn push(&mut self, s: &str) {
        self.out.push_str(s);
        self.column += s.chars().count();
    }

    fn newline(&mut self) {
        self.out.push('\n');
        self.column = 0;
    }

    fn pad(&mut self, indent: usize) {
        for _ in 0..indent {
            self.out.push(' ');
        }
        self.column = indent;
    }

    /// A mapping whose keys start at column `indent`; the first key is written at the current
    /// position (after `- ` in a sequence).
    fn map(&mut self, entries: &[(String, Value)], indent: usize) {
        if entries.is_empty() {
            self.push("{}");
            self.newline();
            return;
        }
        for (i, (key, value)) in entries.iter().enumerate() {
            if i > 0 {
                self.pad(indent);
            }
            self.push(key);
            self.push(":");
            match value {
                Value::Seq(items) if !items.is_empty() => {
                    self.newline();
                    self.pad(indent);
                    self.seq(items, indent);
                }
                Value::Map(inner) if !inner.is_empty() => {
                    self.newline();
                    self.pad(indent + 2);
                    self.map(inner, indent + 2);
                }
                Value::Seq(_) => {
                    self.push(" []");
                    self.newline();
                }
                Value::Map(_) => {
                    self.push(" {}");
                    self.newline();
                }
                scalar => {
                    self.scalar_value(scalar, indent + 2);
                    self.newline_unless_done();
                }
            }
        }
    }

    fn newline_unless_done(&mut self) {
        if !self.out.ends_with('\n') || self.column != 0 {
            self.newline();
        }
    }

    /// A block sequence whose `- ` starts at column `indent` (already padded for the first).
    fn seq(&mut self, items: &[Value], indent: usize) {
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.pad(indent);
            }
            self.push("- ");
            match item {
                Value::Map(inner) if !inner.is_empty() => self.map(inner, indent + 2),
                Value::Seq(inner) if !inner.is_empty() => self.seq(inner, indent + 2),
                other => {
                    // Written after "- ": no leading space of its own.
                    self.out.pop();
                    self.column -= 1;
                    self.scalar_value(other, indent + 2);
                    self.newline_unless_done();
                }
            }
        }
    }

    /// A scalar after `key:` (no space written yet); `indent` is where folded lines continue.
    fn scalar_value(&mut self, value: &Value, indent: usize) {
        match value {
            Value::Int(n) => self.push(&format!(" {n}")),
            Value::Str(s) => self.string(s, indent),
            Value::Map(_) | Value::Seq(_) => {}
        }
    }

    fn string(&mut self, s: &str, indent: usize) {
        let style = select_style(s);
        match style {
            Style::Plain => {
                self.push(" ");
                self.folded(s, indent, false);
            }
            Style::Single => {
                self.push(" '");
                self.folded(s, indent, true);
                self.push("'");
            }
            Style::Double => {
                self.push(" \"");
                self.double_quoted(s, indent);
                self.push("\"");
            }
            Style::Literal => self.literal(s, indent),
        }
    }

    /// Plain or single-quoted text: a space may become a line break once past the width.
    fn folded(&mut self, s: &str, indent: usize, quoted: bool) {
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == ' ' {
                let next_is_space = chars.get(i + 1) == Some(&' ');
                let edge = quoted && (i == 0 || i + 1 == chars.len());
                if !spaces && self.column > BEST_WIDTH && !edge && !next_is_space {
                    self.newline();
                    self.pad(indent);
                } else {
                    self.push(" ");
                }
                spaces = true;
            } else {
                if quoted && c == '\'' {
                    self.push("''");
                } else {
                    let mut buf = [0u8; 4];
                    self.push(c.encode_utf8(&mut buf));
                }
                spaces = false;
            }
            i += 1;
        }
    }

    fn double_quoted(&mut self, s: &str, indent: usize) {
        let chars: Vec<char> = s.chars().collect();
        let mut spaces = false;
        for (i, &c) in chars.iter().enumerate() {
            if c == ' ' {
                if !spaces && self.column > BEST_WIDTH && i != 0 && i + 1 != chars.len() {
                    self.newline();
                    self.pad(indent);
                    if chars.get(i + 1) == Some(&' ') {
                        self.push("\\");
                    }
                } else {
                    self.push(" ");
                }
                spaces = true;
                continue;
            }
            spaces = false;
            let escaped = match c {
                '\0' => "\\0".to_owned(),
                '\u{7}' => "\\a".to_owned(),
                '\u{8}' => "\\b".to_owned(),
                '\t' => "\\t".to_owned(),
                '\n' => "\\n".to_owned(),
                '\u{b}' => "\\v".to_owned(),
                '\u{c}' => "\\f".to_owned(),
                '\r' => "\\r".to_owned(),
                '\u{1b}' => "\\e".to_owned(),
                '"' => "\\\"".to_owned(),
                '\\' => "\\\\".to_owned(),
                '\u{85}' => "\\N".to_owned(),
                '\u{a0}' => "\\_".to_owned(),
                '\u{2028}' => "\\L".to_owned(),
                '\u{2029}' => "\\P".to_owned(),
                c if !is_printable(c) || c == '\u{feff}' => {
                    let v = c as u32;
                    if v <= 0xFF {
                        format!("\\x{v:02X}")
                    } else if v <= 0xFFFF {
                        format!("\\u{v:04X}")
                    } else {
                        format!("\\U{v:08X}")
                    }
                }
                c => c.to_string(),
            };
            self.push(&escaped);
        }
    }

    fn literal(&mut self, s: &str, indent: usize) {
        self.push(" |");
        let first = s.chars().next();
        if matches!(first, Some(' ' | '\n')) {
            self.push("2");
        }
        let chomp = if !s.ends_with('\n') {
            "-"
        } else if s.len() == 1 || s[..s.len() - 1].ends_with('\n') {
            "+"
        } else {
            ""
        };
        self.push(chomp);
        self.newline();
        let mut at_line_start = true;
        for c in s.chars() {
            if c == '\n' {
                self.newline();
                at_line_start = true;
            } else {
                if at_line_start {
                    self.pad(indent);
                    at_line_start = false;
                }
                let mut buf = [0u8; 4];
                self.push(c.encode_utf8(&mut buf));
            }
        }
        if chomp == "-" {
            self.newline();
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
    Literal,
}

/// yaml.v2's `stringv` then libyaml's `select_scalar_style` for a block mapping value.
fn select_style(s: &str) -> Style {
    let can_use_plain = resolves_to_string(s);
    let requested = if s.contains('\n') {
        Style::Literal
    } else if can_use_plain {
        Style::Plain
    } else {
        Style::Double
    };
    let a = analyze(s);
    match requested {
        Style::Plain if !a.block_plain_allowed => {
            if a.single_quoted_allowed {
                Style::Single
            } else {
                Style::Double
            }
        }
        Style::Literal if !a.block_allowed => Style::Double,
        other => other,
    }
}

struct Analysis {
    block_plain_allowed: bool,
    single_quoted_allowed: bool,
    block_allowed: bool,
}

fn is_printable(c: char) -> bool {
    let v = c as u32;
    v == 0x0A
        || (0x20..=0x7E).contains(&v)
        || v == 0x85
        || (0xA0..=0xD7FF).contains(&v)
        || ((0xE000..=0xFFFD).contains(&v) && v != 0xFEFF)
        || (0x10000..=0x10FFFF).contains(&v)
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// libyaml's `yaml_emitter_analyze_scalar` (the parts that decide block-context styles).
fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis {
            block_plain_allowed: true,
            single_quoted_allowed: true,
            block_allowed: false,
        };
    }
    let chars: Vec<char> = s.chars().collect();
    let mut block_indicators = s.starts_with("---") || s.starts_with("...");
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break, mut previous_space, mut previous_break) =
        (false, false, false, false);
    let mut line_breaks = false;
    let mut special = false;
    let mut preceded_by_whitespace = true;
    let blankz = |i: usize| match chars.get(i) {
        None => true,
        Some(&c) => c == ' ' || c == '\t' || is_break(c) || c == '\0',
    };
    for (i, &c) in chars.iter().enumerate() {
        let followed_by_whitespace = blankz(i + 1);
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => block_indicators = true,
                '?' | ':' if followed_by_whitespace => block_indicators = true,
                '-' if followed_by_whitespace => block_indicators = true,
                _ => {}
            }
        } else {
            match c {
                ':' if followed_by_whitespace => block_indicators = true,
                '#' if preceded_by_whitespace => block_indicators = true,
                _ => {}
            }
        }
        if !is_printable(c) {
            special = true;
        }
        if is_break(c) {
            line_breaks = true;
        }
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if i + 1 == chars.len() {
                trailing_space = true;
            }
            if previous_break {
                break_space = true;
            }
            previous_space = true;
            previous_break = false;
        } else if is_break(c) {
            if i == 0 {
                leading_break = true;
            }
            if i + 1 == chars.len() {
                trailing_break = true;
            }
            if previous_space {
                space_break = true;
            }
            previous_break = true;
            previous_space = false;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = blankz(i);
    }
    let mut a = Analysis {
        block_plain_allowed: true,
        single_quoted_allowed: true,
        block_allowed: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.block_plain_allowed = false;
    }
    if trailing_space {
        a.block_allowed = false;
    }
    if break_space {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
    }
    if space_break || special {
        a.block_plain_allowed = false;
        a.single_quoted_allowed = false;
        a.block_allowed = false;
    }
    if line_breaks || block_indicators {
        a.block_plain_allowed = false;
    }
    a
}

/// Whether yaml.v2 would read `s` back as a string when written plain (otherwise it quotes
/// it): not null, bool, int, float or timestamp.
fn resolves_to_string(s: &str) -> bool {
    const WORDS: &[&str] = &[
        "", "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
        "true", "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
        ".nan", ".NaN", ".NAN", ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf",
        "-.Inf", "-.INF", "<<",
    ];
    if WORDS.contains(&s) {
        return false;
    }
    let Some(first) = s.bytes().next() else {
        return false;
    };
    match first {
        b'.' => s.parse::<f64>().is_err() || !looks_like_float(s),
        b'+' | b'-' | b'0'..=b'9' => {
            if is_timestamp(s) {
                return false;
            }
            let plain: String = s.chars().filter(|&c| c != '_').collect();
            !(is_go_int(&plain) || looks_like_float(&plain) || is_binary_int(&plain))
        }
        _ => true,
    }
}

fn is_go_int(s: &str) -> bool {
    let body = s.strip_prefix(['+', '-']).unwrap_or(s);
    if body.is_empty() {
        return false;
    }
    let (digits, radix) = if let Some(h) = body.strip_prefix("0x").or(body.strip_prefix("0X")) {
        (h, 16)
    } else if let Some(o) = body.strip_prefix("0o").or(body.strip_prefix("0O")) {
        (o, 8)
    } else if let Some(b) = body.strip_prefix("0b").or(body.strip_prefix("0B")) {
        (b, 2)
    } else if body.len() > 1 && body.starts_with('0') {
        (&body[1..], 8)
    } else {
        (body, 10)
    };
    !digits.is_empty() && digits.chars().all(|c| c.is_digit(radix))
}

fn is_binary_int(s: &str) -> bool {
    let body = s.strip_prefix('-').unwrap_or(s);
    body.strip_prefix("0b")
        .is_some_and(|d| !d.is_empty() && d.chars().all(|c| c == '0' || c == '1'))
}

/// yaml.v2's float pattern `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`.
fn looks_like_float(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'+' | b'-')) {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if b.get(i) == Some(&b'.') {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            digits(&mut i);
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// The timestamp forms yaml.v2 recognises: `YYYY-M-D`, optionally followed by a time.
fn is_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() < 8 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return false;
    }
    let rest = &s[5..];
    let mut parts = rest.splitn(2, '-');
    let month = parts.next().unwrap_or("");
    let Some(tail) = parts.next() else {
        return false;
    };
    let day_len = tail.bytes().take_while(u8::is_ascii_digit).count();
    let ok_num = |p: &str| (1..=2).contains(&p.len()) && p.bytes().all(|c| c.is_ascii_digit());
    if !ok_num(month) || !(1..=2).contains(&day_len) {
        return false;
    }
    let after = &tail[day_len..];
    after.is_empty() || after.starts_with(['T', 't', ' ', '\t'])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(pairs: &[(&str, &str)]) -> String {
        to_string(&Value::Map(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), Value::Str((*v).to_owned())))
                .collect(),
        ))
    }

    #[test]
    fn styles_follow_yaml_v2() {
        assert_eq!(doc(&[("a", "plain text")]), "a: plain text\n");
        assert_eq!(doc(&[("a", "1001")]), "a: \"1001\"\n");
        assert_eq!(doc(&[("a", "")]), "a: \"\"\n");
        assert_eq!(doc(&[("a", "[sig-a] x")]), "a: '[sig-a] x'\n");
        assert_eq!(doc(&[("a", "it's: here")]), "a: 'it''s: here'\n");
        assert_eq!(doc(&[("a", "https://x/y")]), "a: https://x/y\n");
        assert_eq!(doc(&[("a", "line\n")]), "a: |\n  line\n");
        assert_eq!(doc(&[("a", "line")]), "a: line\n");
        assert_eq!(doc(&[("a", "two\nlines")]), "a: |-\n  two\n  lines\n");
        assert_eq!(doc(&[("a", "tab\there")]), "a: \"tab\\there\"\n");
        assert_eq!(doc(&[("a", "true")]), "a: \"true\"\n");
        assert_eq!(doc(&[("a", "2024-03-01")]), "a: \"2024-03-01\"\n");
        assert_eq!(doc(&[("a", "1.5")]), "a: \"1.5\"\n");
        assert_eq!(doc(&[("a", "4.16.0-0.ci")]), "a: 4.16.0-0.ci\n");
    }

    #[test]
    fn long_values_fold_at_80_columns() {
        let s = "Passed: Passed 10 times, failed 0 times.  The historical pass rate is 99%.  \
                 The required number of passes is 8.";
        assert_eq!(
            doc(&[("summary", s)]),
            "summary: 'Passed: Passed 10 times, failed 0 times.  The historical pass rate is 99%.  The\n  required number of passes is 8.'\n"
        );
    }

    #[test]
    fn sequences_are_not_indented_under_their_key() {
        let v = Value::Map(vec![
            (
                "passes".into(),
                Value::Seq(vec![Value::Map(vec![
                    ("jobrunid".into(), Value::Str("1".into())),
                    ("humanurl".into(), Value::Str("u".into())),
                ])]),
            ),
            ("skips".into(), Value::Seq(vec![])),
        ]);
        assert_eq!(
            to_string(&v),
            "passes:\n- jobrunid: \"1\"\n  humanurl: u\nskips: []\n"
        );
    }
}

//! Reading failure records from JSON lines: one object per line, field names as keys, string
//! values. Unknown keys are kept aside (a build URL, a test ID); `""` is ignored (it is `output`).

use std::fmt;
use std::io::BufRead;

use flakewatch_core::LineError;
use flakewatch_dsl::{Field, Record};
use serde::Deserializer;
use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};

/// The longest failure-record line read (records carry bounded logs and outputs; a line
/// longer than this is reported and skipped unread).
pub const MAX_RECORD_LINE: usize = 64 << 20;

/// Keys a failure record line carries besides the [`Field`] names.
pub const EXTRA_KEYS: [&str; 12] = [
    "url", "test_id", "attempt", "attempts", "verdict", "source", "format", "revision", "job",
    "run_id", "chunk", "variant",
];

/// A watchflakes record with the extra keys of its JSON line.
#[derive(Clone, Debug, PartialEq)]
pub struct FailureRecord {
    /// The watchflakes fields.
    pub record: Record,
    /// Extra keys ([`EXTRA_KEYS`]); absent ones are left out.
    pub extra: Map<String, Value>,
}

impl FailureRecord {
    /// The JSON object of this record: every field by [`Field::name`] (unset ones as `""`),
    /// then the extra keys.
    pub fn to_json(&self) -> Map<String, Value> {
        let mut object = Map::new();
        for (field, value) in self.record.iter() {
            object.insert(field.name().to_owned(), Value::String(value.to_owned()));
        }
        for (k, v) in &self.extra {
            object.insert(k.clone(), v.clone());
        }
        object
    }
}

/// A record with the extra keys of its line.
#[derive(Clone, Debug, Default)]
pub struct RecordLine {
    /// 1-based line number in the input.
    pub line: usize,
    /// The watchflakes fields.
    pub record: Record,
    /// Other string-valued keys (`url`, `test_id`, ...).
    pub extra: Map<String, Value>,
}

/// Parses one JSON line into a record.
pub fn parse_record(text: &str) -> Result<FailureRecord, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let Value::Object(object) = value else {
        return Err("expected a JSON object".to_owned());
    };
    let mut record = Record::new();
    let mut extra = Map::new();
    for (key, value) in object {
        match Field::from_name(&key) {
            Some(field) => match value {
                Value::String(s) => record.set(field, s),
                Value::Null => {}
                other => return Err(format!("field {key:?} must be a string, not {other}")),
            },
            None if key.is_empty() => {}
            None => {
                extra.insert(key, value);
            }
        }
    }
    Ok(FailureRecord { record, extra })
}

/// Parses one JSON line into a record, ignoring keys that are not fields. This is the fast
/// path for matching: values go straight into the record's slots, nothing else is kept.
///
/// Lines of the usual shape (a flat object whose values are strings or `null`, plain keys,
/// strings with the short escapes) are read by a flat-object reader, a few times faster than
/// serde_json on escape-heavy logs; anything else, and every malformed line, goes through
/// serde_json, so results and error messages are serde_json's.
pub fn parse_record_fields(text: &str) -> Result<Record, String> {
    if let Some(record) = flat_record(text) {
        return Ok(record);
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let record = de
        .deserialize_map(RecordVisitor)
        .map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(record)
}

/// Reads a flat JSON object of string (or `null`) values into a record, or says `None` when
/// the line is anything else: another value type, a key with an escape, a `\u` escape, a
/// control character, trailing text, malformed JSON. It accepts only what serde_json accepts,
/// and reads it the same way (the last of duplicate keys wins).
fn flat_record(text: &str) -> Option<Record> {
    let b = text.as_bytes();
    let ws = |mut i: usize| {
        while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
            i += 1;
        }
        i
    };
    let mut record = Record::new();
    let mut i = ws(0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = ws(i + 1);
    if b.get(i) == Some(&b'}') {
        return (ws(i + 1) == b.len()).then_some(record);
    }
    let mut value = String::new();
    loop {
        // A key: a plain string (no escape, no control character).
        if b.get(i) != Some(&b'"') {
            return None;
        }
        let end = i + 1 + memchr::memchr2(b'"', b'\\', &b[i + 1..])?;
        if b[end] != b'"' {
            return None;
        }
        let key = &text[i + 1..end];
        if key.bytes().any(|c| c < 0x20) {
            return None;
        }
        i = ws(end + 1);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = ws(i + 1);
        match b.get(i)? {
            b'"' => {
                value.clear();
                i = json_string(text, i + 1, &mut value)?;
                if let Some(field) = Field::from_name(key) {
                    record.set(field, std::mem::take(&mut value));
                }
            }
            b'n' if b[i..].starts_with(b"null") => i += 4,
            _ => return None,
        }
        i = ws(i);
        match b.get(i)? {
            b',' => i = ws(i + 1),
            b'}' => return (ws(i + 1) == b.len()).then_some(record),
            _ => return None,
        }
    }
}

/// Decodes the JSON string whose content starts at `i` into `out`; returns the index after
/// its closing quote, or `None` for a `\u` escape, a control character or an unterminated
/// string (left to serde_json).
fn json_string(text: &str, mut i: usize, out: &mut String) -> Option<usize> {
    let b = text.as_bytes();
    loop {
        // One pass finds the end of the plain run and rejects control characters, eight
        // bytes at a time; the lowest flagged byte of a word is exactly the first special
        // one. Runs are short in logs (an escaped newline every line), where this beats
        // memchr.
        let mut stop = i;
        loop {
            let Some(chunk) = b.get(stop..stop + 8) else {
                while let Some(&c) = b.get(stop) {
                    if c == b'"' || c == b'\\' || c < 0x20 {
                        break;
                    }
                    stop += 1;
                }
                break;
            };
            let special = special_bytes(u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8])));
            if special != 0 {
                stop += (special.trailing_zeros() / 8) as usize;
                break;
            }
            stop += 8;
        }
        if *b.get(stop)? < 0x20 {
            return None;
        }
        out.push_str(&text[i..stop]);
        if b[stop] == b'"' {
            return Some(stop + 1);
        }
        out.push(match b.get(stop + 1)? {
            b'n' => '\n',
            b't' => '\t',
            b'r' => '\r',
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            _ => return None,
        });
        i = stop + 2;
    }
}

/// The bytes of `x` that are `"`, `\\` or below 0x20, as the high bit of each (the classic
/// SWAR zero-byte tests): the lowest set bit is exact, a borrow may flag bytes above it.
fn special_bytes(x: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero_in = |v: u64| v.wrapping_sub(ONES) & !v & HIGHS;
    let quote = zero_in(x ^ (ONES * u64::from(b'"')));
    let backslash = zero_in(x ^ (ONES * u64::from(b'\\')));
    let control = x.wrapping_sub(ONES * 0x20) & !x & HIGHS;
    quote | backslash | control
}

struct RecordVisitor;

impl<'de> Visitor<'de> for RecordVisitor {
    type Value = Record;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object of watchflakes fields")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Record, A::Error> {
        let mut record = Record::new();
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match Field::from_name(&key) {
                Some(field) => {
                    // A syntax error keeps its own message (a control character, a broken
                    // escape); a value of another type gets the same message as
                    // `parse_record`'s, so `eval` and `match` report a line alike.
                    let value: Value = map.next_value()?;
                    let value = match value {
                        Value::String(s) => Some(s),
                        Value::Null => None,
                        other => {
                            return Err(serde::de::Error::custom(format!(
                                "field {key:?} must be a string, not {other}"
                            )));
                        }
                    };
                    if let Some(value) = value {
                        record.set(field, value);
                    }
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(record)
    }
}

/// Streams the records of a JSON-lines input; a bad line (blank, not a record, not UTF-8,
/// longer than [`MAX_RECORD_LINE`]) is a recoverable error, as `match` treats it.
pub fn read_records<R: BufRead>(
    input: R,
    file: &str,
) -> impl Iterator<Item = Result<RecordLine, LineError>> {
    let file = file.to_owned();
    flakewatch_core::jsonl::every_line(input, &file, MAX_RECORD_LINE).map(move |line| {
        let (line_no, text) = line?;
        if text.is_empty() {
            return Err(LineError::invalid(
                &file,
                line_no,
                "a blank line is not a record",
            ));
        }
        parse_record(&text)
            .map(|FailureRecord { record, extra }| RecordLine {
                line: line_no,
                record,
                extra,
            })
            .map_err(|message| LineError::invalid(&file, line_no, message))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_and_reports_bad_lines() {
        let input =
            "{\"pkg\":\"net\",\"url\":\"u\",\"\":\"ignored\"}\n\n{\"pkg\":1}\n{\"pkg\":\"x\"";
        let results: Vec<_> = read_records(input.as_bytes(), "in.jsonl").collect();
        assert_eq!(results.len(), 4);
        let first = results[0].as_ref().unwrap();
        assert_eq!(first.record.get(Field::Pkg), "net");
        assert_eq!(first.record.get(Field::Output), "");
        assert_eq!(first.extra["url"], "u");
        let blank = results[1].as_ref().unwrap_err().to_string();
        assert_eq!(blank, "in.jsonl:2: a blank line is not a record");
        let second = results[2].as_ref().unwrap_err().to_string();
        assert!(
            second.starts_with("in.jsonl:3: field \"pkg\" must be a string"),
            "{second}"
        );
        let third = results[3].as_ref().unwrap_err().to_string();
        assert!(
            third.starts_with("in.jsonl:4: EOF while parsing"),
            "{third}"
        );
    }

    /// Both readers report a line alike: the syntax error's own message for a control
    /// character, the same words for a value of another type.
    #[test]
    fn both_readers_word_bad_lines_alike() {
        let control = "{\"pkg\":\"a\u{1}b\"}";
        let fast = parse_record_fields(control).unwrap_err();
        let full = parse_record(control).unwrap_err();
        assert!(fast.starts_with("control character"), "{fast}");
        assert!(full.starts_with("control character"), "{full}");
        let number = "{\"pkg\":1}";
        assert!(
            parse_record_fields(number)
                .unwrap_err()
                .starts_with("field \"pkg\" must be a string, not 1")
        );
        assert!(
            parse_record(number)
                .unwrap_err()
                .starts_with("field \"pkg\" must be a string, not 1")
        );
    }

    #[test]
    fn fast_path_agrees_with_the_full_reader() {
        let line = r#"{"pkg":"net\u00e9","log":"a\nb","build_url":{"x":[1,2]},"":"o","mode":null}"#;
        let fast = parse_record_fields(line).unwrap();
        let FailureRecord {
            record: full,
            extra,
        } = parse_record(line).unwrap();
        assert_eq!(fast, full);
        assert_eq!(fast.get(Field::Pkg), "neté");
        assert_eq!(fast.get(Field::Log), "a\nb");
        assert!(extra.contains_key("build_url"));
        let wrong = parse_record_fields(r#"{"pkg":1}"#).unwrap_err();
        assert!(wrong.contains("must be a string"), "{wrong}");
        assert!(parse_record_fields(r#"{"pkg":"x"} trailing"#).is_err());
        assert!(parse_record_fields("[1]").is_err());
    }

    /// serde_json's reading of a line (the reference for the flat reader).
    fn via_serde(line: &str) -> Result<Record, String> {
        let mut de = serde_json::Deserializer::from_str(line);
        let record = de
            .deserialize_map(RecordVisitor)
            .map_err(|e| e.to_string())?;
        de.end().map_err(|e| e.to_string())?;
        Ok(record)
    }

    #[test]
    fn the_flat_reader_reads_what_serde_reads_and_leaves_the_rest_to_it() {
        let lines = [
            r#"{}"#,
            r#" { } "#,
            r#"{"pkg":"net","test":"TestX","output":"a\nb\t\"c\" \\ \/ \b\f\r"}"#,
            r#"{"pkg" : "a" , "pkg":"b"}"#,
            r#"{"pkg":"a","pkg":null}"#,
            r#"{"build_url":"https://x","mode":null,"":"o","log":"µ…"}"#,
            r#"{"log":"ends with escape\n"}"#,
            "{\"pkg\":\"net\"}\r",
            // Left to serde_json: \u escapes, other values, escaped keys, bad JSON.
            r#"{"pkg":"\u00e9"}"#,
            r#"{"pkg":"\ud83d\ude00"}"#,
            r#"{"n":1,"pkg":"x"}"#,
            r#"{"o":{"a":[1]},"pkg":"x"}"#,
            r#"{"p\u006bg":"x"}"#,
            r#"{"pkg":1}"#,
            r#"{"pkg":"x"} trailing"#,
            r#"{"pkg":"x",}"#,
            r#"{"pkg":"x""#,
            r#"{"pkg":"a\qb"}"#,
            "{\"pkg\":\"tab\there\"}",
            r#"{"pkg":nul}"#,
            r#"{"pkg":nullx}"#,
            r#"[1]"#,
            r#""#,
        ];
        for line in lines {
            let fast = flat_record(line);
            let reference = via_serde(line);
            if let Some(fast) = &fast {
                assert_eq!(Ok(fast), reference.as_ref(), "{line}");
            }
            assert_eq!(parse_record_fields(line), reference, "{line}");
        }
        assert!(flat_record(r#"{"pkg":"a","log":"x\ny"}"#).is_some());
        assert!(flat_record(r#"{"pkg":"\u00e9"}"#).is_none());
    }

    #[test]
    fn special_bytes_are_found_in_every_position() {
        // The lowest flagged byte is the first special one, whatever follows it.
        for special in [b'"', b'\\', 0x00, 0x01, 0x1f, b'\n'] {
            for pos in 0..8 {
                for after in [b'a', 0x00, 0x01, b'"', 0xff] {
                    let mut bytes = *b"abcdefgh";
                    bytes[pos] = special;
                    if pos < 7 {
                        bytes[pos + 1] = after;
                    }
                    let found = special_bytes(u64::from_le_bytes(bytes));
                    assert_eq!(found.trailing_zeros() / 8, pos as u32, "{special} at {pos}");
                }
            }
        }
        for plain in [
            *b"abcdefgh",
            *b"        ",
            [0x7f, 0x80, 0xff, 0x20, 0x21, 0x5b, 0x5d, 0xc3],
        ] {
            assert_eq!(special_bytes(u64::from_le_bytes(plain)), 0, "{plain:?}");
        }
    }
}

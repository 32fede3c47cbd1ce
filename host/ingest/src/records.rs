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

/// A set of record fields, such as the fields some rule of a pattern set reads.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct FieldSet(u16);

impl FieldSet {
    /// Every field.
    pub const ALL: FieldSet = FieldSet((1 << Field::COUNT) - 1);

    /// No field.
    pub const EMPTY: FieldSet = FieldSet(0);

    /// This set and `field`.
    pub const fn with(self, field: Field) -> FieldSet {
        FieldSet(self.0 | 1 << field as u16)
    }

    /// Whether `field` is in the set.
    pub const fn contains(self, field: Field) -> bool {
        self.0 & 1 << field as u16 != 0
    }

    /// The fields of the set, in [`Field::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Field> {
        Field::ALL.into_iter().filter(move |&f| self.contains(f))
    }
}

impl FromIterator<Field> for FieldSet {
    fn from_iter<I: IntoIterator<Item = Field>>(fields: I) -> FieldSet {
        fields.into_iter().fold(FieldSet::EMPTY, FieldSet::with)
    }
}

/// Parses one JSON line into a record, ignoring keys that are not fields. This is the fast
/// path for matching: values go straight into the record's slots, nothing else is kept.
///
/// Lines of the usual shape (a flat object whose values are strings or `null`, plain keys,
/// strings with the short escapes and `\u` escapes outside the surrogates) are read by a
/// flat-object reader, a few times faster than serde_json on escape-heavy logs; anything else,
/// and every malformed line, goes through serde_json, so results and error messages are
/// serde_json's.
pub fn parse_record_fields(text: &str) -> Result<Record, String> {
    let mut record = Record::new();
    if flat_fields(text, FieldSet::ALL, &mut record).is_some() {
        return Ok(record);
    }
    serde_record(text)
}

/// As [`parse_record_fields`], but into a reused `record` and decoding only the fields of
/// `fields`: each of them gets the line's value (`""` when the line has none); the values of
/// the other fields are checked as JSON but not decoded, and their slots are not touched (a
/// reader that decodes every line with the same set keeps them empty). Accepts and rejects
/// exactly the lines [`parse_record_fields`] does, with the same messages; no allocation once
/// the slots have grown to the values' sizes.
pub fn decode_record_fields(
    text: &str,
    fields: FieldSet,
    record: &mut Record,
) -> Result<(), String> {
    for field in fields.iter() {
        record.value_mut(field).clear();
    }
    if flat_fields(text, fields, record).is_some() {
        return Ok(());
    }
    let full = serde_record(text)?;
    for field in fields.iter() {
        let slot = record.value_mut(field);
        slot.clear();
        slot.push_str(full.get(field));
    }
    Ok(())
}

/// serde_json's reading of a line: the reference, and every error message.
fn serde_record(text: &str) -> Result<Record, String> {
    let mut de = serde_json::Deserializer::from_str(text);
    let record = de
        .deserialize_map(RecordVisitor)
        .map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(record)
}

/// Reads a flat JSON object of string (or `null`) values into the `fields` of `record`
/// (skipping the other values without decoding them), or says `None` when the line is
/// anything else: another value type, a key with an escape, a surrogate `\u` escape, a control
/// character, trailing text, malformed JSON. It accepts only what serde_json accepts, and
/// reads it the same way (the last of duplicate keys wins). After `None`, the fields' slots
/// hold anything.
fn flat_fields(text: &str, fields: FieldSet, record: &mut Record) -> Option<()> {
    let b = text.as_bytes();
    let ws = |mut i: usize| {
        while i < b.len() && matches!(b[i], b' ' | b'\t' | b'\n' | b'\r') {
            i += 1;
        }
        i
    };
    let mut i = ws(0);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = ws(i + 1);
    if b.get(i) == Some(&b'}') {
        return (ws(i + 1) == b.len()).then_some(());
    }
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
                i = match Field::from_name(key).filter(|&f| fields.contains(f)) {
                    Some(field) => {
                        let slot = record.value_mut(field);
                        slot.clear();
                        json_string(text, i + 1, slot)?
                    }
                    None => skip_string(b, i + 1)?,
                };
            }
            b'n' if b[i..].starts_with(b"null") => i += 4,
            _ => return None,
        }
        i = ws(i);
        match b.get(i)? {
            b',' => i = ws(i + 1),
            b'}' => return (ws(i + 1) == b.len()).then_some(()),
            _ => return None,
        }
    }
}

/// The index of the first `"`, `\\` or control character of `b` at or after `i` (`b.len()`
/// if none).
///
/// One pass finds the end of the plain run and any control character, 32 bytes at a time as
/// a bit mask (which the compiler turns into vector compares); runs are short in logs (an
/// escaped newline every line), where this beats memchr, and three times faster than testing
/// eight bytes at a time in a word (`decode_record_fields` on the moonshot's records: ~1.4 to
/// ~1.8 GB/s, best of 30 passes, busy machine).
fn next_special(b: &[u8], i: usize) -> usize {
    let mut stop = i;
    while let Some(block) = b.get(stop..stop + 32) {
        let mut mask = 0u32;
        for (k, &c) in block.iter().enumerate() {
            mask |= u32::from((c == b'"') | (c == b'\\') | (c < 0x20)) << k;
        }
        if mask != 0 {
            return stop + mask.trailing_zeros() as usize;
        }
        stop += 32;
    }
    while let Some(&c) = b.get(stop) {
        if c == b'"' || c == b'\\' || c < 0x20 {
            break;
        }
        stop += 1;
    }
    stop
}

/// The code of the `\u` escape whose hex digits start at `i`, when it is not a surrogate
/// (serde_json reads those in pairs, with errors of its own: left to it).
fn unicode_escape(b: &[u8], i: usize) -> Option<char> {
    let digits = b.get(i..i + 4)?;
    let mut code = 0u32;
    for &d in digits {
        code = code * 16 + char::from(d).to_digit(16)?;
    }
    char::from_u32(code)
}

/// Decodes the JSON string whose content starts at `i` into `out`; returns the index after
/// its closing quote, or `None` for a surrogate `\u` escape, a control character or an
/// unterminated string (left to serde_json).
fn json_string(text: &str, mut i: usize, out: &mut String) -> Option<usize> {
    let b = text.as_bytes();
    loop {
        let stop = next_special(b, i);
        if *b.get(stop)? < 0x20 {
            return None;
        }
        out.push_str(&text[i..stop]);
        if b[stop] == b'"' {
            return Some(stop + 1);
        }
        let (decoded, length) = match b.get(stop + 1)? {
            b'n' => ('\n', 2),
            b't' => ('\t', 2),
            b'r' => ('\r', 2),
            b'"' => ('"', 2),
            b'\\' => ('\\', 2),
            b'/' => ('/', 2),
            b'b' => ('\u{8}', 2),
            b'f' => ('\u{c}', 2),
            b'u' => (unicode_escape(b, stop + 2)?, 6),
            _ => return None,
        };
        out.push(decoded);
        i = stop + length;
    }
}

/// Checks the JSON string whose content starts at `i` without decoding it, as
/// [`json_string`] would read it; returns the index after its closing quote.
fn skip_string(b: &[u8], mut i: usize) -> Option<usize> {
    loop {
        let stop = next_special(b, i);
        match *b.get(stop)? {
            b'"' => return Some(stop + 1),
            b'\\' => {}
            _ => return None,
        }
        i = match b.get(stop + 1)? {
            b'n' | b't' | b'r' | b'"' | b'\\' | b'/' | b'b' | b'f' => stop + 2,
            b'u' => {
                unicode_escape(b, stop + 2)?;
                stop + 6
            }
            _ => return None,
        };
    }
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

    /// The flat reader's record of a line, every field decoded.
    fn flat_record(line: &str) -> Option<Record> {
        let mut record = Record::new();
        flat_fields(line, FieldSet::ALL, &mut record).map(|()| record)
    }

    /// Lines the flat reader must read as serde_json does, or leave to it.
    const LINES: [&str; 30] = [
        r#"{}"#,
        r#" { } "#,
        r#"{"pkg":"net","test":"TestX","output":"a\nb\t\"c\" \\ \/ \b\f\r"}"#,
        r#"{"pkg" : "a" , "pkg":"b"}"#,
        r#"{"pkg":"a","pkg":null}"#,
        r#"{"build_url":"https://x","mode":null,"":"o","log":"µ…"}"#,
        r#"{"log":"ends with escape\n"}"#,
        "{\"pkg\":\"net\"}\r",
        r#"{"pkg":"\u00e9\u0000\u20AC","url":"\u00E9x","log":"\u"}"#,
        r#"{"pkg":"\u00e9","snippet":"\u00zz"}"#,
        r#"{"snippet":"\u00e9","pkg":"\u12"}"#,
        // Left to serde_json: surrogate escapes, other values, escaped keys, bad JSON.
        r#"{"pkg":"\ud83d\ude00"}"#,
        r#"{"snippet":"\ud83d\ude00","pkg":"x"}"#,
        r#"{"snippet":"\ud83d","pkg":"x"}"#,
        r#"{"url":"\udc00","pkg":"x"}"#,
        r#"{"n":1,"pkg":"x"}"#,
        r#"{"o":{"a":[1]},"pkg":"x"}"#,
        r#"{"p\u006bg":"x"}"#,
        r#"{"pkg":1}"#,
        r#"{"snippet":1}"#,
        r#"{"pkg":"x"} trailing"#,
        r#"{"pkg":"x",}"#,
        r#"{"pkg":"x""#,
        r#"{"pkg":"a\qb"}"#,
        r#"{"snippet":"a\qb","pkg":"x"}"#,
        "{\"pkg\":\"tab\there\"}",
        "{\"snippet\":\"tab\there\",\"pkg\":\"x\"}",
        r#"{"pkg":nul}"#,
        r#"{"pkg":nullx}"#,
        r#"[1]"#,
    ];

    #[test]
    fn the_flat_reader_reads_what_serde_reads_and_leaves_the_rest_to_it() {
        for line in LINES.into_iter().chain([""]) {
            let fast = flat_record(line);
            let reference = serde_record(line);
            if let Some(fast) = &fast {
                assert_eq!(Ok(fast), reference.as_ref(), "{line}");
            }
            assert_eq!(parse_record_fields(line), reference, "{line}");
        }
        assert!(flat_record(r#"{"pkg":"a","log":"x\ny"}"#).is_some());
        assert!(flat_record(r#"{"pkg":"\u00e9"}"#).is_some());
        assert!(flat_record(r#"{"pkg":"\ud83d\ude00"}"#).is_none());
    }

    /// Decoding some fields into a reused record gives those fields of the full reading, the
    /// same errors, and leaves the other slots alone.
    #[test]
    fn decoding_some_fields_agrees_with_the_full_reader() {
        let sets = [
            FieldSet::EMPTY,
            FieldSet::ALL,
            [Field::Pkg].into_iter().collect(),
            [Field::Pkg, Field::Log, Field::Output]
                .into_iter()
                .collect(),
            [Field::Snippet, Field::Status].into_iter().collect(),
        ];
        for fields in sets {
            let mut record = Record::new();
            // Each line decoded after the others, so that stale values would show.
            for line in LINES.into_iter().chain([""]).chain(LINES) {
                let reference = parse_record_fields(line);
                let decoded = decode_record_fields(line, fields, &mut record);
                match &reference {
                    Ok(full) => {
                        assert_eq!(decoded, Ok(()), "{line}");
                        for field in Field::ALL {
                            let expected = if fields.contains(field) {
                                full.get(field)
                            } else {
                                ""
                            };
                            assert_eq!(record.get(field), expected, "{field} of {line}");
                        }
                    }
                    Err(message) => assert_eq!(decoded.as_ref(), Err(message), "{line}"),
                }
            }
        }
    }

    #[test]
    fn field_sets_hold_what_was_put_in() {
        let set: FieldSet = [Field::Log, Field::Section, Field::Status]
            .into_iter()
            .collect();
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            vec![Field::Section, Field::Log, Field::Status]
        );
        assert!(!set.contains(Field::Pkg));
        assert_eq!(FieldSet::ALL.iter().count(), Field::COUNT);
        assert_eq!(FieldSet::EMPTY.iter().count(), 0);
    }

    #[test]
    fn special_bytes_are_found_in_every_position() {
        // The first special byte is found wherever it is (in a block, across blocks, in the
        // tail), whatever follows it, and from any start.
        for special in [b'"', b'\\', 0x00, 0x01, 0x1f, b'\n'] {
            for len in [1, 7, 31, 32, 33, 64, 70] {
                for pos in 0..len {
                    for after in [b'a', 0x00, b'"', 0xff] {
                        let mut bytes = vec![b'x'; len];
                        bytes[pos] = special;
                        if pos + 1 < len {
                            bytes[pos + 1] = after;
                        }
                        for start in [0, pos / 2, pos] {
                            assert_eq!(next_special(&bytes, start), pos, "{special} at {pos}");
                        }
                    }
                }
            }
        }
        let plain: Vec<u8> = (0x20..=0xff).filter(|&c| c != b'"' && c != b'\\').collect();
        assert_eq!(next_special(&plain, 0), plain.len());
        assert_eq!(next_special(&plain, 5), plain.len());
        assert_eq!(next_special(b"", 0), 0);
    }
}

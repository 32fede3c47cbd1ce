//! A streaming, lenient JUnit XML reader on quick-xml that normalises every retry encoding into
//! attempts (docs/ingest.md, "JUnit XML").
//!
//! * Roots: `<testsuites>` or a bare `<testsuite>`; suites nest to any depth (up to
//!   [`Limits::max_depth`]); the suite path is the list of enclosing suite names.
//! * One `<testcase>` is one attempt, whose status follows `failure` > `error` > `skipped` >
//!   pass; losing result elements are kept as [`Detail`]s. `<error>` is a failure.
//! * `<flakyFailure>`/`<flakyError>` are failed attempts before the final (passing) one;
//!   `<rerunFailure>`/`<rerunError>` are failed attempts after the first. A `<failure>` next to
//!   flaky elements is nextest's "flaky-fail" policy verdict: kept as [`Reported`], the final
//!   attempt still passed. A repeated `<testcase>` (same suite path, classname and name) adds
//!   attempts. Flank's `flaky="true"` marks the test flaky.
//! * pytest-rerunfailures writes re-run attempts as passing duplicates: in the pytest dialect
//!   every passing attempt but the last of a repeated test becomes an inferred failure.
//! * Counts on suites are never read. Numbers are lenient (`1,234.5`, `0.5s`); a bad number is
//!   a warning. Invalid UTF-8 is replaced, unknown entities are kept as text.
//! * quick-xml 0.42 delivers `&lt;`/`&#65;` as separate `GeneralRef` events; they are resolved
//!   here and appended to the surrounding text.

use std::borrow::Cow;
use std::io::Read;
use std::sync::Arc;

use quick_xml::Reader;
use quick_xml::events::{BytesRef, BytesStart, Event};

use super::error::{IngestError, Warning, WarningKind};
use super::input::{Fault, Input, Limits, Pos, TextBuf};
use super::model::{
    Attempt, AttemptInfo, Detail, Dialect, Format, Origin, Reported, Run, RunMeta, Status,
    SuiteKind, SuiteResult, Test,
};
use crate::index::TestIndex;

/// Reads one JUnit XML document from `input`; `source` names it in errors and in the run.
pub fn read<R: Read>(
    input: R,
    source: &str,
    meta: RunMeta,
    limits: &Limits,
) -> Result<Run, IngestError> {
    let mut reader = Reader::from_reader(Input::new(input, limits.max_token));
    configure(&mut reader);
    let mut parser = Parser::new(source, meta, limits);
    let mut buf = Vec::with_capacity(8 * 1024);
    loop {
        reader.get_mut().mark();
        let event = match reader.read_event_into(&mut buf) {
            Ok(event) => event,
            Err(err) => return Err(xml_error(err, &reader, source, limits)),
        };
        // Positions are resolved only when something needs one (they cost a scan).
        if !parser.handle(event, &Streamed(reader.get_ref()))? {
            break;
        }
        buf.clear();
    }
    let (invalid, total) = reader.get_mut().take_invalid();
    let shown = invalid.len() as u64;
    for pos in invalid {
        parser.warn_at(pos, WarningKind::InvalidUtf8);
    }
    parser.run.warnings_dropped += total - shown;
    parser.finish(&Streamed(reader.get_ref()))
}

/// Reads one JUnit XML document held in memory, as [`read`] does and with the same result,
/// warnings and errors, but without copying: quick-xml borrows from `bytes`.
///
/// The borrowed path takes the common case (valid UTF-8, well-formed, tokens within
/// [`Limits::max_token`]); any input it does not take, or any error, is read again by the
/// streaming path, which repairs what can be repaired and words the error.
pub fn read_slice(
    bytes: &[u8],
    source: &str,
    meta: RunMeta,
    limits: &Limits,
) -> Result<Run, IngestError> {
    match read_borrowed(bytes, source, meta.clone(), limits) {
        Some(run) => Ok(run),
        None => read(bytes, source, meta, limits),
    }
}

/// The borrowed path of [`read_slice`]; `None` hands the input to the streaming path.
fn read_borrowed(bytes: &[u8], source: &str, meta: RunMeta, limits: &Limits) -> Option<Run> {
    // What the byte layer refuses or repairs goes the streaming way.
    if [[0xFF, 0xFE], [b'<', 0], [0xFE, 0xFF], [0, b'<']]
        .iter()
        .any(|m| bytes.starts_with(m))
    {
        return None;
    }
    let bytes = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
    // SIMD validation of the whole document (std's check was 5 % of reading one).
    let text = simdutf8::basic::from_utf8(bytes).ok()?;
    if limits.threads > 1
        && text.len() >= SPLIT_MIN
        && let Some((cut, close)) = halves(text)
        && let Some(run) = read_halves(text, cut, close, source, meta.clone(), limits)
    {
        return Some(run);
    }
    let lines = LineIndex::new(bytes);
    let mut parser = Parser::new(source, meta, limits);
    parser.reserve(count_cases(text));
    let mut reader = Reader::from_str(text);
    configure(&mut reader);
    if !feed(&mut parser, &mut reader, 0, &lines, |_| false)? {
        return None;
    }
    parser.finish(&At(&lines, 0)).ok()
}

/// Documents below this size are read on one thread.
const SPLIT_MIN: usize = 1 << 20;

/// `<testcase` start tags in `text`, to size the tests and their index up front (growing them
/// by doubling moved every test several times). One memmem pass: a few ms per 100 MB.
fn count_cases(text: &str) -> usize {
    memchr::memmem::find_iter(text.as_bytes(), b"<testcase").count()
}

/// Hands `parser` the events of `reader`, whose input starts at byte `base` of the document,
/// until the end (`Some(true)`) or until `stop` says so after an event (`Some(false)`).
/// `None` for what the borrowed path does not take: an XML error, a token over the limit,
/// an error of the parser.
fn feed(
    parser: &mut Parser<'_>,
    reader: &mut Reader<&[u8]>,
    base: u64,
    lines: &LineIndex<'_>,
    mut stop: impl FnMut(&Parser<'_>) -> bool,
) -> Option<bool> {
    loop {
        let start = reader.buffer_position();
        let event = reader.read_event().ok()?;
        if reader.buffer_position() - start > parser.limits.max_token {
            return None;
        }
        if !parser.handle(event, &At(lines, base + start)).ok()? {
            return Some(true);
        }
        if stop(parser) {
            return Some(false);
        }
    }
}

/// Where a document can be cut in two for [`read_halves`]: just after the first
/// `</testsuite>` past its middle (47 % of it, as the first half does more), and where the
/// root's closing `</testsuites>` starts (only whitespace may follow it). `None` when there is
/// no such cut, or when it would leave the second half under an eighth of the document (a
/// document of one big suite).
///
/// Whether the cut falls between two suites of the root (and not in a nested suite, a
/// comment or a CDATA section) is only known once the first half is read.
fn halves(text: &str) -> Option<(usize, usize)> {
    const END: &[u8] = b"</testsuite>";
    let close = text
        .trim_end_matches([' ', '\t', '\r', '\n'])
        .strip_suffix("</testsuites>")?
        .len();
    // A little before the middle: the first half also takes in the second and joins repeats.
    let middle = text.len() / 100 * 47;
    if middle >= close {
        return None;
    }
    let cut = memchr::memmem::find(&text.as_bytes()[middle..close], END)? + middle + END.len();
    (close - cut >= text.len() / 8).then_some((cut, close))
}

/// Reads a document on two threads: the calling thread reads `text[..cut]`, a second thread
/// `text[cut..close]` as the rest of the root's children, and the second half's tests join
/// the first's (see [`Parser::absorb`]). The result is the one reading the whole document on
/// one thread gives. `None` (read it on one thread) when the root is not a plain
/// `<testsuites>`, when the cut is not between two of the root's children, or when either half
/// has an error (the one-thread read words it).
fn read_halves(
    text: &str,
    cut: usize,
    close: usize,
    source: &str,
    meta: RunMeta,
    limits: &Limits,
) -> Option<Run> {
    let lines = LineIndex::new(text.as_bytes());
    let mut first = Parser::new(source, meta, limits);
    let mut reader = Reader::from_str(&text[..cut]);
    configure(&mut reader);
    // The prologue and the root's start tag, on this thread: the second half starts inside
    // the root, under the dialect the root names (it decides whether repeated cases join).
    let ended = feed(&mut first, &mut reader, 0, &lines, |p| !p.stack.is_empty())?;
    // `</testsuites>` closes it: the second half never sees that end tag, so its name must be
    // the root's as written (no prefix).
    if ended || !first.root_plain {
        return None;
    }
    let dialect = first.run.dialect;
    std::thread::scope(|scope| {
        let (counted, second_count) = std::sync::mpsc::channel();
        let second = scope.spawn(move || {
            let lines = LineIndex::new(text.as_bytes());
            let mut second = Parser::new(source, RunMeta::default(), limits);
            second.root_seen = true;
            second.run.dialect = dialect;
            second.stack.push(Frame {
                kind: Kind::Testsuites,
                name: Box::from(""),
                text: TextBuf::default(),
                at: Mark::Offset(0),
            });
            let second_cases = count_cases(&text[cut..close]);
            // The first half makes room for both halves' tests before it files one.
            let _ = counted.send(second_cases);
            second.reserve(second_cases);
            let mut reader = Reader::from_str(&text[cut..close]);
            configure(&mut reader);
            let ended = feed(&mut second, &mut reader, cut as u64, &lines, |_| false)?;
            (ended && second.stack.len() == 1).then_some(second)
        });
        // Room for both halves' tests: the second's are appended with one copy.
        let first_cases = count_cases(&text[..cut]);
        first.reserve(first_cases + second_count.recv().unwrap_or(0));
        let first_ok = feed(&mut first, &mut reader, 0, &lines, |_| false) == Some(true)
            && first.stack.len() == 1;
        let second = match second.join() {
            Ok(second) => second,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        if !first_ok {
            return None;
        }
        first.absorb(second?);
        // The root's end tag; only whitespace follows it.
        first.end();
        first.finish(&At(&lines, 0)).ok()
    })
}

/// Where an element starts, as kept until an error needs it: a byte offset when the whole
/// input is at hand (resolved to a line only then), else the position itself.
#[derive(Clone, Copy, Debug)]
enum Mark {
    Offset(u64),
    Pos(Pos),
}

/// The position of the event being handled, and of earlier [`Mark`]s.
trait Locate {
    /// The position of the current event.
    fn here(&self) -> Pos;
    /// A cheap mark of the current event, for [`Locate::resolve`] later.
    fn mark(&self) -> Mark;
    fn resolve(&self, mark: Mark) -> Pos;
}

/// The streaming reader's current event: positions are resolved at once (the text before is
/// gone later).
struct Streamed<'a, R>(&'a Input<R>);

impl<R: Read> Locate for Streamed<'_, R> {
    fn here(&self) -> Pos {
        self.0.mark_pos()
    }
    fn mark(&self) -> Mark {
        Mark::Pos(self.here())
    }
    fn resolve(&self, mark: Mark) -> Pos {
        match mark {
            Mark::Pos(pos) => pos,
            Mark::Offset(_) => self.here(),
        }
    }
}

/// An event at a byte offset of an in-memory input.
struct At<'a, 'b>(&'a LineIndex<'b>, u64);

impl Locate for At<'_, '_> {
    fn here(&self) -> Pos {
        self.0.pos(self.1)
    }
    fn mark(&self) -> Mark {
        Mark::Offset(self.1)
    }
    fn resolve(&self, mark: Mark) -> Pos {
        match mark {
            Mark::Pos(pos) => pos,
            Mark::Offset(offset) => self.0.pos(offset),
        }
    }
}

/// Line and column of byte offsets in an in-memory input, for the few events that need one.
/// Queries mostly move forward, so the last answer is kept and the scan resumes from it.
struct LineIndex<'a> {
    bytes: &'a [u8],
    /// Offset scanned to, the line there and the offset that line starts at.
    cursor: std::cell::Cell<(u64, u64, u64)>,
}

impl<'a> LineIndex<'a> {
    fn new(bytes: &'a [u8]) -> LineIndex<'a> {
        LineIndex {
            bytes,
            cursor: std::cell::Cell::new((0, 1, 0)),
        }
    }

    fn pos(&self, offset: u64) -> Pos {
        let (mut at, mut line, mut line_start) = self.cursor.get();
        if offset < at {
            (at, line, line_start) = (0, 1, 0);
        }
        let seen = &self.bytes[at as usize..(offset as usize).min(self.bytes.len())];
        for nl in memchr::memchr_iter(b'\n', seen) {
            line += 1;
            line_start = at + nl as u64 + 1;
        }
        self.cursor.set((offset, line, line_start));
        Pos {
            line,
            column: offset - line_start + 1,
        }
    }
}

fn configure<R>(reader: &mut Reader<R>) {
    let config = reader.config_mut();
    config.allow_dangling_amp = true;
    config.check_end_names = true;
    config.expand_empty_elements = false;
    config.trim_text(false);
}

/// Puts the position of the event at fault into an error raised while handling it.
fn placed(mut err: IngestError, pos: Pos) -> IngestError {
    if let IngestError::TooDeep { line, column, .. } | IngestError::NotJunit { line, column, .. } =
        &mut err
    {
        *line = pos.line;
        *column = pos.column;
    }
    err
}

fn xml_error<R: Read>(
    err: quick_xml::Error,
    reader: &Reader<Input<R>>,
    source: &str,
    limits: &Limits,
) -> IngestError {
    let input = reader.get_ref();
    match input.fault() {
        Some(Fault::Utf16(encoding)) => {
            return IngestError::UnsupportedEncoding {
                file: source.to_owned(),
                encoding,
            };
        }
        Some(Fault::TokenTooLarge) => {
            let pos = input.mark_pos();
            return IngestError::TokenTooLarge {
                file: source.to_owned(),
                line: pos.line,
                column: pos.column,
                limit: limits.max_token,
            };
        }
        None => {}
    }
    if let quick_xml::Error::Io(io) = &err {
        return IngestError::Io {
            file: source.to_owned(),
            source: std::io::Error::new(io.kind(), io.to_string()),
        };
    }
    let pos = input.pos_of(reader.error_position());
    IngestError::Xml {
        file: source.to_owned(),
        line: pos.line,
        column: pos.column,
        source: err,
    }
}

/// What an open element is, for routing its text and its end.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Kind {
    Testsuites,
    Testsuite,
    Testcase,
    Result,
    /// A `<failure>` or `<error>` directly inside a `<testsuite>`: a test class that failed
    /// to start. It is its own failing test, `<init>` of the suite, as Jenkins reports it.
    SuiteResult,
    Retry,
    SystemOut,
    SystemErr,
    StackTrace,
    Property,
    Other,
}

impl Kind {
    fn collects_text(self) -> bool {
        matches!(
            self,
            Kind::Result
                | Kind::SuiteResult
                | Kind::Retry
                | Kind::SystemOut
                | Kind::SystemErr
                | Kind::StackTrace
                | Kind::Property
        )
    }
}

struct Frame {
    kind: Kind,
    name: Box<str>,
    text: TextBuf,
    /// Where the element starts.
    at: Mark,
}

struct SuiteCtx {
    index: usize,
    path: Arc<[String]>,
    path_id: u32,
    /// What the suite's `tests=`, `failures=` and `errors=` attributes declare.
    declared: DeclaredCounts,
    /// Cases read when the suite started (to tell whether it holds any case).
    cases_before: u64,
}

/// A suite's count attributes. Ignored while the suite holds cases (the cases are the
/// truth); a suite without any case is judged by them, so that a failure it reports without
/// listing cases does not vanish.
#[derive(Clone, Copy, Debug, Default)]
struct DeclaredCounts {
    tests: u64,
    failures: u64,
}

#[derive(Default)]
struct Case {
    name: Option<String>,
    classname: Option<String>,
    file: Option<String>,
    line: Option<u32>,
    time: Option<f64>,
    timestamp: Option<String>,
    flaky_attr: bool,
    skip_attr: bool,
    properties: Vec<(String, String)>,
    results: Vec<Detail>,
    retries: Vec<Attempt>,
    stdout: Option<String>,
    stderr: Option<String>,
}

struct RetryCtx {
    attempt: Attempt,
    stack: Option<String>,
}

struct Parser<'l> {
    limits: &'l Limits,
    source: String,
    run: Run,
    /// Warnings raised by the current event, placed at its position after it.
    pending: Vec<WarningKind>,
    stack: Vec<Frame>,
    suites: Vec<SuiteCtx>,
    case: Option<Case>,
    result: Option<Detail>,
    retry: Option<RetryCtx>,
    property: Option<(String, Option<String>)>,
    root_path: Arc<[String]>,
    /// Tests by suite path, class name and name.
    index: TestIndex,
    /// Suite entries seen per path id.
    suite_count: Vec<u32>,
    /// Test cases read (a repeated case counts again).
    cases: u64,
    root_seen: bool,
    /// The root is `<testsuites>` written without a prefix.
    root_plain: bool,
}

impl<'l> Parser<'l> {
    fn new(source: &str, meta: RunMeta, limits: &'l Limits) -> Parser<'l> {
        let index = TestIndex::new();
        let root_path = index.root();
        Parser {
            limits,
            source: source.to_owned(),
            run: Run::new(source, Format::Junit, meta),
            pending: Vec::new(),
            stack: Vec::new(),
            suites: Vec::new(),
            case: None,
            result: None,
            retry: None,
            property: None,
            root_path,
            index,
            suite_count: vec![0],
            cases: 0,
            root_seen: false,
            root_plain: false,
        }
    }

    /// Room for `cases` more tests.
    fn reserve(&mut self, cases: usize) {
        self.run.tests.reserve(cases);
        self.index.reserve(cases);
    }

    /// Takes one event; `loc` says where it starts. `Ok(false)` at the end.
    fn handle(&mut self, event: Event<'_>, loc: &impl Locate) -> Result<bool, IngestError> {
        match event {
            Event::Start(e) => {
                self.start(&e).map_err(|err| placed(err, loc.here()))?;
                if let Some(frame) = self.stack.last_mut() {
                    frame.at = loc.mark();
                }
            }
            Event::Empty(e) => {
                self.start(&e).map_err(|err| placed(err, loc.here()))?;
                self.end();
            }
            Event::End(_) => self.end(),
            Event::Text(t) => {
                if self.collecting() {
                    self.push_text(&t.xml10_content());
                }
            }
            Event::CData(c) => {
                if self.collecting() {
                    self.push_text(&c.xml10_content());
                }
            }
            Event::GeneralRef(r) => self.entity(&r),
            Event::Eof => return Ok(false),
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) | Event::DocType(_) => {}
        }
        if !self.pending.is_empty() {
            let pos = loc.here();
            for kind in std::mem::take(&mut self.pending) {
                self.warn_at(pos, kind);
            }
        }
        Ok(true)
    }

    fn warn_at(&mut self, pos: Pos, kind: WarningKind) {
        if self.run.warnings.len() < self.limits.max_warnings {
            self.run.warnings.push(Warning {
                line: pos.line,
                column: pos.column,
                kind,
            });
        } else {
            self.run.warnings_dropped += 1;
        }
    }

    fn warn(&mut self, kind: WarningKind) {
        self.pending.push(kind);
    }

    fn collecting(&self) -> bool {
        self.stack.last().is_some_and(|f| f.kind.collects_text())
    }

    fn push_text(&mut self, text: &str) {
        let limit = self.limits.max_text;
        if let Some(frame) = self.stack.last_mut()
            && frame.kind.collects_text()
        {
            frame.text.push(text, limit);
        }
    }

    fn entity(&mut self, r: &BytesRef<'_>) {
        let mut tmp = [0u8; 4];
        let text: Cow<'_, str> = if r.is_char_ref() {
            match r.resolve_char_ref() {
                Ok(Some(c)) => Cow::Borrowed(c.encode_utf8(&mut tmp)),
                _ => {
                    self.warn(WarningKind::InvalidCharRef(truncate(r, 32)));
                    Cow::Borrowed("\u{FFFD}")
                }
            }
        } else {
            match predefined(r) {
                Some(s) => Cow::Borrowed(s),
                None => {
                    self.warn(WarningKind::UnknownEntity(truncate(r, 32)));
                    Cow::Owned(format!("&{};", &**r))
                }
            }
        };
        self.push_text(&text);
    }

    fn start(&mut self, e: &BytesStart<'_>) -> Result<(), IngestError> {
        if self.stack.len() >= self.limits.max_depth {
            return Err(IngestError::TooDeep {
                file: self.source.clone(),
                line: 0,
                column: 0,
                limit: self.limits.max_depth,
            });
        }
        let local = e.local_name();
        let name: &str = local.as_ref();
        if !self.root_seen {
            self.root_seen = true;
            self.root_plain = AsRef::<str>::as_ref(&e.name()) == "testsuites";
            if name != "testsuites" && name != "testsuite" {
                return Err(IngestError::NotJunit {
                    file: self.source.clone(),
                    line: 0,
                    column: 0,
                    found: name.chars().take(64).collect(),
                });
            }
        }
        let kind = match name {
            "testsuites" => {
                self.start_testsuites(e);
                Kind::Testsuites
            }
            "testsuite" => {
                self.start_testsuite(e);
                Kind::Testsuite
            }
            "testcase" if self.case.is_none() => {
                self.start_testcase(e);
                Kind::Testcase
            }
            "failure" | "error"
                if self.case.is_none()
                    && self.retry.is_none()
                    && self.result.is_none()
                    && self.stack.last().is_some_and(|f| f.kind == Kind::Testsuite) =>
            {
                let detail = self.result_detail(e, name);
                let classname = self
                    .suites
                    .last()
                    .and_then(|s| s.path.last())
                    .filter(|n| !n.is_empty())
                    .cloned();
                self.case = Some(Case {
                    name: Some("<init>".to_owned()),
                    classname,
                    ..Case::default()
                });
                self.result = Some(detail);
                Kind::SuiteResult
            }
            "failure" | "error" | "skipped"
                if self.case.is_some() && self.retry.is_none() && self.result.is_none() =>
            {
                self.result = Some(self.result_detail(e, name));
                Kind::Result
            }
            "flakyFailure" | "flakyError" | "rerunFailure" | "rerunError"
                if self.case.is_some() && self.retry.is_none() && self.result.is_none() =>
            {
                let (status, origin) = match name {
                    "flakyFailure" => (Status::Fail, Origin::FlakyFailure),
                    "flakyError" => (Status::Error, Origin::FlakyError),
                    "rerunFailure" => (Status::Fail, Origin::RerunFailure),
                    _ => (Status::Error, Origin::RerunError),
                };
                let mut attempt = Attempt::new(status, origin);
                let mut bad_time = None;
                self.attributes(e, |key, value| match key {
                    "message" => attempt.info_mut().message = Some(value.into_owned()),
                    "type" => attempt.info_mut().kind = Some(value.into_owned()),
                    "timestamp" => attempt.info_mut().timestamp = Some(value.into_owned()),
                    "time" => match parse_seconds(&value) {
                        Some(t) => attempt.duration = Some(t),
                        None => bad_time = Some(value.into_owned()),
                    },
                    _ => {}
                });
                if let Some(value) = bad_time {
                    self.bad_number("time", &value);
                }
                self.retry = Some(RetryCtx {
                    attempt,
                    stack: None,
                });
                Kind::Retry
            }
            "system-out" => Kind::SystemOut,
            "system-err" => Kind::SystemErr,
            "stackTrace" if self.retry.is_some() || self.result.is_some() => Kind::StackTrace,
            "property" => {
                let mut prop = (String::new(), None);
                self.attributes(e, |key, value| match key {
                    "name" => prop.0 = value.into_owned(),
                    "value" => prop.1 = Some(value.into_owned()),
                    _ => {}
                });
                self.property = Some(prop);
                Kind::Property
            }
            _ => Kind::Other,
        };
        let name: Box<str> = if kind == Kind::Other {
            name.chars().take(64).collect::<String>().into()
        } else {
            Box::from("")
        };
        self.stack.push(Frame {
            kind,
            name,
            text: TextBuf::default(),
            at: Mark::Offset(0),
        });
        Ok(())
    }

    /// Calls `f(local name, unescaped value)` for each attribute; a malformed attribute stops
    /// the walk with a warning.
    fn attributes<'e>(&mut self, e: &'e BytesStart<'_>, mut f: impl FnMut(&str, Cow<'e, str>)) {
        let mut bad = false;
        for attr in e.attributes().with_checks(false) {
            match attr {
                Ok(attr) => {
                    let key = attr.key.local_name();
                    f(key.as_ref(), unescape_attr(attr.value));
                }
                Err(_) => {
                    bad = true;
                    break;
                }
            }
        }
        if bad {
            let name = e.local_name().as_ref().chars().take(64).collect();
            self.warn(WarningKind::BadAttributes(name));
        }
    }

    /// The detail of a `<failure>`, `<error>` or `<skipped>` element: its status, `message`
    /// and `type` (the body comes with the element's end).
    fn result_detail(&mut self, e: &BytesStart<'_>, element: &str) -> Detail {
        let status = match element {
            "failure" => Status::Fail,
            "error" => Status::Error,
            _ => Status::Skip,
        };
        let mut detail = Detail {
            status,
            message: None,
            kind: None,
            text: None,
        };
        self.attributes(e, |key, value| match key {
            "message" => detail.message = Some(value.into_owned()),
            "type" => detail.kind = Some(value.into_owned()),
            _ => {}
        });
        detail
    }

    fn bad_number(&mut self, attribute: &'static str, value: &str) {
        let negative = value
            .trim()
            .strip_prefix('-')
            .and_then(parse_seconds)
            .is_some_and(|v| v > 0.0);
        let value = value.chars().take(64).collect();
        self.warn(if negative {
            WarningKind::NegativeNumber { attribute, value }
        } else {
            WarningKind::BadNumber { attribute, value }
        });
    }

    fn set_dialect(&mut self, dialect: Dialect) {
        if self.run.dialect == Dialect::Generic {
            self.run.dialect = dialect;
        }
    }

    fn start_testsuites(&mut self, e: &BytesStart<'_>) {
        let mut name = None;
        let mut uuid = false;
        self.attributes(e, |key, value| match key {
            "name" => name = Some(value.into_owned()),
            "uuid" => uuid = true,
            _ => {}
        });
        match name.as_deref() {
            Some("nextest-run") => self.set_dialect(Dialect::Nextest),
            Some("pytest tests") => self.set_dialect(Dialect::Pytest),
            Some("jest tests") => self.set_dialect(Dialect::Jest),
            Some("AllTests") => self.set_dialect(Dialect::Googletest),
            _ if uuid => self.set_dialect(Dialect::Nextest),
            _ => {}
        }
        if self.run.name.is_none() {
            self.run.name = name;
        }
    }

    fn intern(&mut self, path: Vec<String>) -> (Arc<[String]>, u32) {
        self.index.intern(&path)
    }

    fn start_testsuite(&mut self, e: &BytesStart<'_>) {
        let mut name = String::new();
        let mut result = SuiteResult::new(SuiteKind::Suite, self.root_path.clone());
        let mut dialect = None;
        let mut bad_time = None;
        let mut declared = DeclaredCounts::default();
        self.attributes(e, |key, value| match key {
            "name" => name = value.into_owned(),
            "tests" => declared.tests = value.trim().parse().unwrap_or(0),
            "failures" | "errors" => {
                declared.failures += value.trim().parse::<u64>().unwrap_or(0);
            }
            "timestamp" => result.timestamp = Some(value.into_owned()),
            "hostname" => result.hostname = Some(value.into_owned()),
            "time" => match parse_seconds(&value) {
                Some(t) => result.duration = Some(t),
                None => bad_time = Some(value.into_owned()),
            },
            "version" if value == "3.0" => dialect = Some(Dialect::Surefire),
            "noNamespaceSchemaLocation" if value.contains("surefire") => {
                dialect = Some(Dialect::Surefire);
            }
            "flakes" => dialect = Some(Dialect::Flank),
            _ => {}
        });
        if let Some(value) = bad_time {
            self.bad_number("time", &value);
        }
        match name.as_str() {
            "pytest" => self.set_dialect(Dialect::Pytest),
            "Mocha Tests" => self.set_dialect(Dialect::Mocha),
            _ => {}
        }
        if let Some(d) = dialect {
            self.set_dialect(d);
        }
        let parent = self
            .suites
            .last()
            .map_or(&self.root_path, |s| &s.path)
            .clone();
        let mut path = Vec::with_capacity(parent.len() + 1);
        path.extend(parent.iter().cloned());
        path.push(name);
        let (path, path_id) = self.intern(path);
        let slot = path_id as usize;
        if self.suite_count.len() <= slot {
            self.suite_count.resize(slot + 1, 0);
        }
        self.suite_count[slot] += 1;
        result.path = path.clone();
        result.attempt = self.suite_count[slot];
        self.suites.push(SuiteCtx {
            index: self.run.suites.len(),
            path,
            path_id,
            declared,
            cases_before: self.cases,
        });
        self.run.suites.push(result);
    }

    fn start_testcase(&mut self, e: &BytesStart<'_>) {
        let mut case = Case::default();
        let mut dialect = None;
        let mut bad: Vec<(&'static str, String)> = Vec::new();
        let mut has_duration = false;
        let mut status_run = false;
        self.attributes(e, |key, value| match key {
            "name" => case.name = Some(value.into_owned()),
            "classname" => case.classname = Some(value.into_owned()),
            "file" => case.file = Some(value.into_owned()),
            "line" => match value.trim().parse::<u32>() {
                Ok(n) => case.line = Some(n),
                Err(_) => bad.push(("line", value.into_owned())),
            },
            "time" => match parse_seconds(&value) {
                Some(t) => case.time = Some(t),
                None => bad.push(("time", value.into_owned())),
            },
            "duration" => has_duration = true,
            "timestamp" => case.timestamp = Some(value.into_owned()),
            "flaky" => {
                case.flaky_attr = value.trim().eq_ignore_ascii_case("true");
                dialect = Some(Dialect::Flank);
            }
            "status" => {
                status_run = value == "run";
                // `notrun` (googletest), `disabled` (Catch2, googletest's XML, NUnit's
                // `<test-case executed="False">` converters), `skipped`: not run.
                if matches!(&*value, "notrun" | "disabled" | "skipped") {
                    case.skip_attr = true;
                }
            }
            "result" => {
                if value == "skipped" || value == "suppressed" {
                    case.skip_attr = true;
                }
                dialect = Some(Dialect::Googletest);
            }
            "lifecycle" => {
                case.properties
                    .push(("lifecycle".to_owned(), value.into_owned()));
                dialect = Some(Dialect::Openshift);
            }
            "url" => case.properties.push(("url".to_owned(), value.into_owned())),
            _ => {}
        });
        for (attribute, value) in bad {
            self.bad_number(attribute, &value);
        }
        if status_run && has_duration && dialect.is_none() {
            dialect = Some(Dialect::Bazel);
        }
        if let Some(d) = dialect {
            self.set_dialect(d);
        }
        self.case = Some(case);
    }

    fn end(&mut self) {
        let Some(frame) = self.stack.pop() else {
            return;
        };
        let limit = self.limits.max_text;
        let text = |frame: Frame, this: &mut Parser<'_>| -> Option<String> {
            if frame.text.is_empty() {
                return None;
            }
            let total = frame.text.total();
            let (text, cut) = frame.text.finish(limit);
            if cut > 0 {
                this.warn(WarningKind::Truncated(total));
            }
            Some(text)
        };
        match frame.kind {
            Kind::Testsuites | Kind::Other => {}
            Kind::Testsuite => {
                if let Some(suite) = self.suites.pop()
                    && self.cases == suite.cases_before
                {
                    let DeclaredCounts { tests, failures } = suite.declared;
                    let result = &mut self.run.suites[suite.index];
                    if failures > 0 {
                        result.status = Some(Status::Fail);
                        result.message = Some(format!(
                            "the suite declares {failures} failure(s) or error(s) of {tests} \
                             test(s) and lists no test case"
                        ));
                    } else if tests > 0 && result.status.is_none() {
                        result.status = Some(Status::Pass);
                    }
                }
            }
            Kind::Testcase => {
                if let Some(case) = self.case.take() {
                    self.finish_case(case);
                }
            }
            Kind::Result | Kind::SuiteResult => {
                let suite_level = frame.kind == Kind::SuiteResult;
                let body = text(frame, self).map(trim_body).filter(|s| !s.is_empty());
                if let (Some(mut detail), Some(case)) = (self.result.take(), self.case.as_mut()) {
                    detail.text = match (detail.text.take(), body) {
                        (Some(stack), Some(body)) => Some(format!("{body}\n{stack}")),
                        (a, b) => a.or(b),
                    };
                    case.results.push(detail);
                }
                if suite_level && let Some(case) = self.case.take() {
                    self.finish_case(case);
                }
            }
            Kind::Retry => {
                let body = text(frame, self).map(trim_body).filter(|s| !s.is_empty());
                if let (Some(mut retry), Some(case)) = (self.retry.take(), self.case.as_mut()) {
                    let trace = match (body, retry.stack) {
                        (Some(body), Some(stack)) => Some(format!("{body}\n{stack}")),
                        (a, b) => a.or(b),
                    };
                    if trace.is_some() {
                        retry.attempt.info_mut().trace = trace;
                    }
                    case.retries.push(retry.attempt);
                }
            }
            Kind::StackTrace => {
                let Some(body) = text(frame, self).map(trim_body) else {
                    return;
                };
                if let Some(retry) = self.retry.as_mut() {
                    append(&mut retry.stack, body);
                } else if let Some(result) = self.result.as_mut() {
                    append(&mut result.text, body);
                }
            }
            Kind::SystemOut | Kind::SystemErr => {
                let out = frame.kind == Kind::SystemOut;
                let Some(body) = text(frame, self) else {
                    return;
                };
                let slot = if let Some(retry) = self.retry.as_mut() {
                    let info = retry.attempt.info_mut();
                    if out {
                        &mut info.stdout
                    } else {
                        &mut info.stderr
                    }
                } else if let Some(case) = self.case.as_mut() {
                    if out {
                        &mut case.stdout
                    } else {
                        &mut case.stderr
                    }
                } else if let Some(suite) = self.suites.last() {
                    let result = &mut self.run.suites[suite.index];
                    if out {
                        &mut result.stdout
                    } else {
                        &mut result.stderr
                    }
                } else {
                    return;
                };
                append(slot, body);
            }
            Kind::Property => {
                let body = text(frame, self);
                let Some((name, value)) = self.property.take() else {
                    return;
                };
                let value = value.or(body).unwrap_or_default();
                if name == "go.version" {
                    self.set_dialect(Dialect::Go);
                }
                if let Some(case) = self.case.as_mut() {
                    case.properties.push((name, value));
                } else if let Some(suite) = self.suites.last() {
                    self.run.suites[suite.index].properties.push((name, value));
                }
            }
        }
    }

    fn finish_case(&mut self, case: Case) {
        self.cases += 1;
        let primary = [Status::Fail, Status::Error, Status::Skip]
            .into_iter()
            .find_map(|s| case.results.iter().position(|d| d.status == s));
        let has_flaky = case
            .retries
            .iter()
            .any(|a| matches!(a.origin, Origin::FlakyFailure | Origin::FlakyError));
        let has_rerun = case
            .retries
            .iter()
            .any(|a| matches!(a.origin, Origin::RerunFailure | Origin::RerunError));
        let main_last = has_flaky && !has_rerun;
        let mut reported = None;
        let mut main = Attempt::new(
            if case.skip_attr {
                Status::Skip
            } else {
                Status::Pass
            },
            Origin::Testcase,
        );
        main.duration = case.time;
        // Most cases pass with nothing to say: no details to gather.
        if primary.is_some()
            || case.timestamp.is_some()
            || case.stdout.is_some()
            || case.stderr.is_some()
        {
            let mut results = case.results;
            let mut info = match primary {
                Some(i) => {
                    let detail = results.remove(i);
                    main.status = detail.status;
                    main.expected = !detail.status.is_failure();
                    AttemptInfo {
                        message: detail.message,
                        kind: detail.kind,
                        trace: detail.text,
                        ..AttemptInfo::default()
                    }
                }
                None => AttemptInfo::default(),
            };
            main.extra = results;
            info.timestamp = case.timestamp;
            info.stdout = case.stdout;
            info.stderr = case.stderr;
            if main.status == Status::Skip
                && let Some(kind) = &info.kind
                && kind.starts_with("pytest.")
            {
                info.raw_status = Some(kind.clone());
            }
            if main_last && main.status.is_failure() {
                // nextest flaky-fail: the failure is a policy verdict, the last try passed.
                reported = Some(Reported {
                    status: main.status,
                    message: info.message.take(),
                });
                main.status = Status::Pass;
                main.expected = true;
                info.kind = None;
                info.trace = None;
            }
            if !info.is_empty() {
                main.info = Some(Box::new(info));
            }
        }
        let mut retries = case.retries;
        let retry_count = retries.len();

        let (suite, path_id) = match self.suites.last() {
            Some(s) => (s.path.clone(), s.path_id),
            None => (self.root_path.clone(), 0),
        };
        // A test case without a name is its own test: nameless cases are not retries. Nor
        // are jest-junit's repeated elements: Jest allows two tests with one title, and
        // jest-junit reports only a test's final result, never its retries.
        let named = case.name.is_some();
        let merges = named && self.run.dialect != Dialect::Jest;
        let name = case.name.unwrap_or_default();
        let classname = case.classname.filter(|c| !c.is_empty());
        // Every case is filed as a test of its own; the repeated ones join the first with
        // their key once the input ended (`join_repeats`): no lookup per case.
        self.index
            .note(path_id, classname.as_deref(), &name, merges);
        let i = self.run.tests.len();
        self.run.tests.push(Test {
            suite,
            classname,
            name,
            file: case.file,
            line: case.line,
            properties: case.properties,
            flaky_marked: case.flaky_attr,
            reported,
            attempts: Vec::with_capacity(retry_count + 1),
        });
        let test = &mut self.run.tests[i];
        // Attempts go straight into the test (an attempt is large: no temporary vector).
        if retry_count == 0 {
            test.attempts.push(main);
        } else if main_last {
            test.attempts.append(&mut retries);
            test.attempts.push(main);
        } else {
            test.attempts.reserve(retry_count + 1);
            test.attempts.push(main);
            let is_rerun =
                |a: &Attempt| matches!(a.origin, Origin::RerunFailure | Origin::RerunError);
            test.attempts
                .extend(retries.extract_if(.., |a| is_rerun(a)));
            test.attempts.append(&mut retries);
        }
        number_attempts(test, 0);
    }

    /// Joins every test filed again (same suite path, class name and name, both findable) to
    /// the first test with its key, in the order they were filed, as if each case had been
    /// looked up when it was read: the first test gains their attempts, Flank marks, a
    /// verdict if it has none, and the properties it lacks; its name, file and line stay.
    fn join_repeats(&mut self) {
        let pairs = self.index.repeats(&self.run.tests);
        if pairs.is_empty() {
            return;
        }
        for &(later, first) in &pairs {
            let (earlier, rest) = self.run.tests.split_at_mut(later);
            let (t, repeat) = (&mut earlier[first], &mut rest[0]);
            join_marks(
                t,
                repeat.flaky_marked,
                repeat.reported.take(),
                std::mem::take(&mut repeat.properties),
            );
            let from = t.attempts.len();
            t.attempts.append(&mut repeat.attempts);
            number_attempts(t, from);
        }
        let mut joined = pairs.iter().map(|&(later, _)| later).peekable();
        let mut i = 0;
        self.run.tests.retain(|_| {
            let gone = joined.next_if_eq(&i).is_some();
            i += 1;
            !gone
        });
    }

    /// Takes what `later` read of the rest of the document (see [`read_halves`]) as if this
    /// parser had read it itself: its suites, its tests (joined to this half's by
    /// [`Parser::finish`] like any repeat), its warnings, and the run's name and dialect if
    /// this half found none.
    fn absorb(&mut self, later: Parser<'_>) {
        let Parser {
            run: other,
            index: other_index,
            cases: other_cases,
            ..
        } = later;
        if self.run.dialect == Dialect::Generic {
            self.run.dialect = other.dialect;
        }
        if self.run.name.is_none() {
            self.run.name = other.name;
        }
        for warning in other.warnings {
            if self.run.warnings.len() < self.limits.max_warnings {
                self.run.warnings.push(warning);
            } else {
                self.run.warnings_dropped += 1;
            }
        }
        self.run.warnings_dropped += other.warnings_dropped;
        for mut suite in other.suites {
            let (path, id) = self.index.intern_shared(&suite.path);
            let slot = id as usize;
            if self.suite_count.len() <= slot {
                self.suite_count.resize(slot + 1, 0);
            }
            self.suite_count[slot] += 1;
            suite.attempt = self.suite_count[slot];
            suite.path = path;
            self.run.suites.push(suite);
        }
        // The later half's tests go in with one copy and take this half's copy of their path;
        // repeated tests of both halves are joined at the end, as one parser's are.
        let base = self.run.tests.len();
        let mut later_tests = other.tests;
        self.run.tests.append(&mut later_tests);
        let mut paths: Vec<Option<(Arc<[String]>, u32)>> = Vec::new();
        for i in base..self.run.tests.len() {
            let (local, _) = other_index.entry(i - base);
            let local = local as usize;
            if paths.len() <= local {
                paths.resize(local + 1, None);
            }
            let test = &mut self.run.tests[i];
            let (path, _) =
                paths[local].get_or_insert_with(|| self.index.intern_shared(&test.suite));
            if !Arc::ptr_eq(&test.suite, path) {
                test.suite = path.clone();
            }
        }
        self.index.extend_noted(&other_index, |local| {
            paths[local as usize].as_ref().map_or(local, |(_, id)| *id)
        });
        self.cases += other_cases;
    }

    /// The run, once the input ended; `loc` resolves where an element left open starts.
    fn finish(mut self, loc: &impl Locate) -> Result<Run, IngestError> {
        // A file cut short: name the innermost element left open, where it starts.
        if let Some(frame) = self.stack.last() {
            let element = match frame.kind {
                Kind::Testsuites => "testsuites",
                Kind::Testsuite => "testsuite",
                Kind::Testcase => "testcase",
                Kind::Result | Kind::SuiteResult => "failure",
                Kind::Retry => "flakyFailure",
                Kind::SystemOut => "system-out",
                Kind::SystemErr => "system-err",
                Kind::StackTrace => "stackTrace",
                Kind::Property => "property",
                Kind::Other => &frame.name,
            };
            let pos = loc.resolve(frame.at);
            return Err(IngestError::Unclosed {
                file: self.source.clone(),
                line: pos.line,
                column: pos.column,
                element: element.to_owned(),
            });
        }
        if !self.root_seen {
            return Err(IngestError::NoRecords {
                file: self.source.clone(),
                format: Format::Junit,
            });
        }
        self.join_repeats();
        if self.run.dialect == Dialect::Pytest {
            infer_pytest_reruns(&mut self.run.tests);
        }
        Ok(self.run)
    }
}

/// pytest-rerunfailures records re-run attempts as passing `<testcase>` duplicates: every
/// passing attempt but the last of a repeated test was in fact a failure.
fn infer_pytest_reruns(tests: &mut [Test]) {
    for test in tests.iter_mut().filter(|t| t.attempts.len() > 1) {
        let last = test.attempts.len() - 1;
        for attempt in &mut test.attempts[..last] {
            if attempt.status == Status::Pass && attempt.origin == Origin::Testcase {
                attempt.status = Status::Fail;
                attempt.expected = false;
                attempt.origin = Origin::InferredRerun;
                attempt.info_mut().message = Some(
                    "re-run by pytest-rerunfailures, which records no failure details".to_owned(),
                );
            }
        }
    }
}

/// What one more record of an existing test adds besides attempts: Flank's flaky mark, a
/// verdict if the test has none yet, and the properties it does not have yet.
fn join_marks(
    test: &mut Test,
    flaky: bool,
    reported: Option<Reported>,
    properties: Vec<(String, String)>,
) {
    test.flaky_marked |= flaky;
    if test.reported.is_none() {
        test.reported = reported;
    }
    for (k, v) in properties {
        if !test.properties.iter().any(|(k2, v2)| *k2 == k && *v2 == v) {
            test.properties.push((k, v));
        }
    }
}

/// Numbers the attempts from `first` on by their position (1-based).
fn number_attempts(test: &mut Test, first: usize) {
    for (k, attempt) in test.attempts[first..].iter_mut().enumerate() {
        attempt.index = (first + k) as u32 + 1;
    }
}

fn append(slot: &mut Option<String>, text: String) {
    match slot {
        Some(existing) => {
            if !existing.ends_with('\n') {
                existing.push('\n');
            }
            existing.push_str(&text);
        }
        None => *slot = Some(text),
    }
}

fn trim_body(text: String) -> String {
    let trimmed = text.trim();
    if trimmed.len() == text.len() {
        text
    } else {
        trimmed.to_owned()
    }
}

fn truncate(s: &str, n: usize) -> String {
    s.chars().take(n).collect()
}

fn predefined(name: &str) -> Option<&'static str> {
    Some(match name {
        "lt" => "<",
        "gt" => ">",
        "amp" => "&",
        "apos" => "'",
        "quot" => "\"",
        _ => return None,
    })
}

/// Unescapes an attribute value leniently: the five XML entities and character references are
/// resolved; anything else (unknown entities, a lone `&`) is kept as written, and a reference
/// to an impossible character becomes U+FFFD.
pub(crate) fn unescape_attr(raw: Cow<'_, str>) -> Cow<'_, str> {
    if !raw.contains('&') {
        return raw;
    }
    let mut out = String::with_capacity(raw.len());
    let mut rest: &str = &raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let end = after
            .char_indices()
            .take(12)
            .find(|&(_, c)| c == ';')
            .map(|(i, _)| i);
        let Some(end) = end else {
            out.push('&');
            rest = after;
            continue;
        };
        let name = &after[..end];
        if let Some(num) = name.strip_prefix('#') {
            let code = match num.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok(),
                None => num.parse::<u32>().ok(),
            };
            match code {
                Some(0) | None => out.push('\u{FFFD}'),
                Some(c) => out.push(char::from_u32(c).unwrap_or('\u{FFFD}')),
            }
        } else if let Some(s) = predefined(name) {
            out.push_str(s);
        } else {
            out.push('&');
            out.push_str(name);
            out.push(';');
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Parses a duration in seconds leniently: surrounding spaces, a trailing `s`, thousands
/// separators (`1,234.5`) and a decimal comma (`0,5`) are accepted; negative, infinite and
/// non-numeric values are not.
pub(crate) fn parse_seconds(value: &str) -> Option<f64> {
    if let Some(seconds) = plain_decimal(value) {
        return Some(seconds);
    }
    let v = value.trim();
    let v = v.strip_suffix('s').unwrap_or(v).trim_end();
    if v.is_empty() {
        return None;
    }
    let parsed = if v.contains(',') {
        let cleaned: String = if v.contains('.') {
            v.chars().filter(|&c| c != ',').collect()
        } else {
            // A single comma followed by exactly three digits after a non-zero integer part is
            // a thousands separator; otherwise it is a decimal comma.
            let (int, frac) = v.rsplit_once(',')?;
            let thousands = frac.len() == 3 && int.trim_start_matches('0').chars().count() > 0;
            if thousands {
                v.chars().filter(|&c| c != ',').collect()
            } else if int.contains(',') {
                return None;
            } else {
                format!("{int}.{frac}")
            }
        };
        cleaned.parse::<f64>().ok()?
    } else {
        v.parse::<f64>().ok()?
    };
    (parsed.is_finite() && parsed >= 0.0).then_some(parsed)
}

/// The value of `digits.digits` (or plain digits) with at most 15 digits, the way nearly every
/// producer writes a time. Both the integer made of all the digits and the power of ten are
/// exact in an `f64`, and IEEE division rounds correctly, so this is exactly what
/// `str::parse` gives, without its general machinery.
fn plain_decimal(value: &str) -> Option<f64> {
    const POW10: [f64; 16] = [
        1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
    ];
    let bytes = value.as_bytes();
    if bytes.is_empty() || bytes.len() > 16 {
        return None;
    }
    let mut n: u64 = 0;
    let mut digits = 0usize;
    let mut point = None;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'0'..=b'9' => {
                n = n * 10 + u64::from(b - b'0');
                digits += 1;
            }
            b'.' if point.is_none() && i > 0 && i + 1 < bytes.len() => point = Some(i),
            _ => return None,
        }
    }
    if digits > 15 {
        return None;
    }
    let scale = point.map_or(0, |p| bytes.len() - p - 1);
    Some(n as f64 / POW10[scale])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_decimals_parse_as_std_does() {
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng
        };
        for _ in 0..200_000 {
            let digits = (next() % 15 + 1) as usize;
            let mut text: String = (0..digits)
                .map(|_| char::from(b'0' + (next() % 10) as u8))
                .collect();
            if digits > 1 && next() % 4 != 0 {
                let at = 1 + (next() as usize) % (digits - 1);
                text.insert(at, '.');
            }
            let expected = text.parse::<f64>().expect("a decimal");
            assert_eq!(plain_decimal(&text), Some(expected), "{text}");
            assert_eq!(parse_seconds(&text), Some(expected), "{text}");
        }
        for other in [
            "",
            ".5",
            "5.",
            "1.2.3",
            "1e3",
            " 1",
            "1,5",
            "0.5s",
            "1234567890123456",
        ] {
            assert_eq!(plain_decimal(other), None, "{other:?}");
        }
    }

    /// A document over [`SPLIT_MIN`] with what crosses a cut: suite paths and test keys in
    /// both halves, repeated and nameless cases, retries, Flank marks, properties, bad numbers
    /// (warnings with positions), a suite without cases that declares a failure, and a suite
    /// whose cases all repeat earlier ones. `root` is the root's start tag, `late_suite` the
    /// name of one suite in the second half.
    fn big_document(root: &str, late_suite: &str) -> String {
        use std::fmt::Write as _;
        let mut out = format!("<?xml version=\"1.0\"?>\n{root}\n");
        for s in 0..64 {
            let name = if s == 50 {
                late_suite.to_owned()
            } else {
                format!("pkg.suite{}", s % 24)
            };
            if s == 40 {
                out.push_str(
                    "  <testsuite name=\"empty\" tests=\"2\" failures=\"1\"></testsuite>\n",
                );
            }
            let _ = writeln!(out, "  <testsuite name=\"{name}\" tests=\"3\">");
            for c in 0..160 {
                let test = if s == 45 { c % 7 } else { (c * 7 + s) % 150 };
                let time = if c % 97 == 5 {
                    "n/a".to_owned()
                } else {
                    format!("{}.{:03}", c % 3, c)
                };
                let name = if c % 131 == 9 {
                    String::new()
                } else {
                    format!(" name=\"t{test}\"")
                };
                let flaky = if c % 89 == 3 { " flaky=\"true\"" } else { "" };
                let _ = write!(
                    out,
                    "    <testcase{name} classname=\"C{}\" time=\"{time}\"{flaky}",
                    test % 5
                );
                match c % 11 {
                    0 => out.push_str("><failure message=\"boom\">trace &lt;here&gt;</failure></testcase>\n"),
                    1 => out.push_str("><flakyFailure message=\"once\"><stackTrace>st</stackTrace></flakyFailure></testcase>\n"),
                    2 => out.push_str("><properties><property name=\"k\" value=\"v\"/><property name=\"k\" value=\"w\"/></properties><system-out><![CDATA[out <b>&</b> text]]></system-out></testcase>\n"),
                    3 => out.push_str("><skipped/></testcase>\n"),
                    _ => out.push_str("/>\n"),
                }
            }
            let _ = writeln!(
                out,
                "    <system-out>suite {s} output {}</system-out>\n  </testsuite>",
                "x".repeat(3_000)
            );
        }
        out.push_str("</testsuites>\n");
        assert!(out.len() > SPLIT_MIN, "{} bytes", out.len());
        out
    }

    fn read_threads(xml: &str, threads: usize, max_warnings: usize) -> Result<Run, IngestError> {
        let limits = Limits {
            threads,
            max_warnings,
            ..Limits::default()
        };
        read_slice(xml.as_bytes(), "t.xml", RunMeta::default(), &limits)
    }

    #[test]
    fn two_halves_read_as_one_thread_does() {
        for (root, late) in [
            ("<testsuites name=\"x\">", "pkg.suite3"),
            ("<testsuites>", "pytest"),
            ("<testsuites name=\"jest tests\">", "pkg.suite3"),
            ("<testsuites name=\"pytest tests\">", "pkg.suite0"),
        ] {
            let xml = big_document(root, late);
            let (cut, close) = halves(&xml).expect("a cut between two suites");
            for max_warnings in [1000, 3] {
                let limits = Limits {
                    max_warnings,
                    ..Limits::default()
                };
                let two = read_halves(&xml, cut, close, "t.xml", RunMeta::default(), &limits)
                    .expect("the halves are read");
                let one = read_threads(&xml, 1, max_warnings).expect("one thread reads it");
                assert_eq!(two, one, "{root} {late} {max_warnings}");
                assert_eq!(read_threads(&xml, 2, max_warnings).expect("read"), one);
                let streamed = read(xml.as_bytes(), "t.xml", RunMeta::default(), &limits);
                assert_eq!(streamed.expect("streamed"), one);
                assert!(one.warnings.len() + one.warnings_dropped as usize > 3);
            }
            let one = read_threads(&xml, 1, 1000).expect("read");
            // What the check is about: tests of both halves joined, suites counted over both.
            let jest = one.dialect == Dialect::Jest;
            assert_eq!(
                one.tests.iter().any(|t| t.attempts.len() > 3),
                !jest,
                "{root}"
            );
            assert!(one.suites.iter().any(|s| s.attempt > 2));
            assert!(one.suites.iter().any(|s| s.status == Some(Status::Fail)));
        }
    }

    /// Repeated cases join the first test with their key once the input ended; this checks
    /// the result against joining them case by case as they are read (the Jest dialect files
    /// every case as its own test, in order).
    #[test]
    fn repeats_join_as_if_looked_up_case_by_case() {
        let joined =
            read_threads(&big_document("<testsuites>", "pkg.suite3"), 1, 1000).expect("read");
        let each = read_threads(
            &big_document("<testsuites name=\"jest tests\">", "pkg.suite3"),
            1,
            1000,
        )
        .expect("read");
        let cases = each.tests.len();
        let mut expected: Vec<Test> = Vec::new();
        let mut seen = std::collections::HashMap::new();
        for test in each.tests {
            let key = (
                test.suite.clone(),
                test.classname.clone(),
                test.name.clone(),
            );
            match seen.get(&key) {
                Some(&i) if !test.name.is_empty() => {
                    let t: &mut Test = &mut expected[i];
                    t.flaky_marked |= test.flaky_marked;
                    if t.reported.is_none() {
                        t.reported = test.reported;
                    }
                    for p in test.properties {
                        if !t.properties.contains(&p) {
                            t.properties.push(p);
                        }
                    }
                    t.attempts.extend(test.attempts);
                    for (k, a) in t.attempts.iter_mut().enumerate() {
                        a.index = k as u32 + 1;
                    }
                }
                _ => {
                    if !test.name.is_empty() {
                        seen.insert(key, expected.len());
                    }
                    expected.push(test);
                }
            }
        }
        assert!(expected.len() < cases / 2, "{} of {cases}", expected.len());
        assert!(expected.iter().any(|t| t.attempts.len() > 3));
        assert_eq!(joined.tests, expected);
        assert_eq!(joined.suites, each.suites);
    }

    #[test]
    fn cuts_that_are_not_between_suites_read_on_one_thread() {
        let xml = big_document("<testsuites>", "late");
        // The first `</testsuite>` past the middle inside a CDATA section (put into the long
        // suite output the middle falls in), then closing a nested suite: the first half does
        // not end at the root's level.
        let middle = xml.len() / 100 * 47;
        let end = middle + xml[middle..].find("</testsuite>").expect("a suite's end");
        let at = xml[..end]
            .rfind("</system-out>")
            .expect("the suite's output");
        assert!(at > middle + 20);
        let in_cdata = format!("{}<![CDATA[</testsuite>]]>{}", &xml[..at], &xml[at..]);
        let open = xml[..middle].rfind("  <testsuite name=").expect("a suite");
        let close = end + "</testsuite>".len();
        let nested = format!(
            "{}<testsuite name=\"outer\">{}</testsuite>{}",
            &xml[..open],
            &xml[open..close],
            &xml[close..]
        );
        for xml in [in_cdata, nested] {
            let (cut, close) = halves(&xml).expect("a candidate cut");
            let limits = Limits::default();
            assert!(read_halves(&xml, cut, close, "t.xml", RunMeta::default(), &limits).is_none());
            assert_eq!(
                read_threads(&xml, 2, 1000).expect("read"),
                read_threads(&xml, 1, 1000).expect("read")
            );
        }
        // A prefixed root closed without its prefix is an error either way.
        let mismatched = xml.replacen("<testsuites>", "<x:testsuites>", 1);
        let (cut, close) = halves(&mismatched).expect("a candidate cut");
        assert!(
            read_halves(
                &mismatched,
                cut,
                close,
                "t.xml",
                RunMeta::default(),
                &Limits::default()
            )
            .is_none()
        );
        let (two, one) = (
            read_threads(&mismatched, 2, 1000),
            read_threads(&mismatched, 1, 1000),
        );
        assert!(one.is_err());
        assert_eq!(format!("{two:?}"), format!("{one:?}"));
        // One big suite: no cut.
        let one_suite = format!(
            "<testsuites><testsuite name=\"s\">{}</testsuite></testsuites>",
            "<testcase name=\"t\"/>".repeat(60_000)
        );
        assert_eq!(halves(&one_suite), None);
    }

    fn parse(xml: &str) -> Result<Run, IngestError> {
        read(
            xml.as_bytes(),
            "t.xml",
            RunMeta::default(),
            &Limits::default(),
        )
    }

    #[test]
    fn lenient_numbers() {
        assert_eq!(parse_seconds("1,234.5"), Some(1234.5));
        assert_eq!(parse_seconds(" 0.25 "), Some(0.25));
        assert_eq!(parse_seconds("0,5"), Some(0.5));
        assert_eq!(parse_seconds("1,234"), Some(1234.0));
        assert_eq!(parse_seconds("3s"), Some(3.0));
        assert_eq!(parse_seconds("whatever"), None);
        assert_eq!(parse_seconds("-1"), None);
        assert_eq!(parse_seconds("NaN"), None);
        assert_eq!(parse_seconds(""), None);
    }

    #[test]
    fn attribute_unescaping_is_lenient() {
        let u = |s: &str| unescape_attr(Cow::Borrowed(s)).into_owned();
        assert_eq!(
            u("a &lt;b&gt; &amp; &quot;c&quot; &apos;"),
            "a <b> & \"c\" '"
        );
        assert_eq!(u("&#65;&#x42;&#10;"), "AB\n");
        assert_eq!(u("AT&T &nbsp; &#0;"), "AT&T &nbsp; \u{FFFD}");
    }

    /// quick-xml 0.42 splits `&lt;` and `&#65;` out of text as `GeneralRef` events; a reader
    /// that ignored them would lose those characters.
    #[test]
    fn entity_references_in_text_are_kept() {
        let run = parse(
            "<testsuite name=\"s\"><testcase name=\"t\"><failure>a &lt; b &amp;&amp; \
             &#65;&#x42; &quot;q&quot; &apos;x&apos; &gt; &unknown; AT&T</failure>\
             </testcase></testsuite>",
        )
        .unwrap();
        let attempt = &run.tests[0].attempts[0];
        assert_eq!(
            attempt.trace(),
            Some("a < b && AB \"q\" 'x' > &unknown; AT&T")
        );
        assert!(
            run.warnings
                .iter()
                .any(|w| w.kind == WarningKind::UnknownEntity("unknown".into()))
        );
    }

    #[test]
    fn error_is_a_failure_and_all_results_are_kept() {
        let run = parse(
            "<testsuite name=\"s\"><testcase name=\"t\"><skipped/><error message=\"e\"/>\
             <failure message=\"f\"/></testcase></testsuite>",
        )
        .unwrap();
        let a = &run.tests[0].attempts[0];
        assert_eq!(a.status, Status::Fail);
        assert_eq!(a.message(), Some("f"));
        assert_eq!(a.extra.len(), 2);
        let run = parse("<testsuite><testcase name=\"t\"><error/></testcase></testsuite>").unwrap();
        assert_eq!(run.tests[0].attempts[0].status, Status::Error);
        assert!(run.tests[0].attempts[0].is_failure());
    }

    #[test]
    fn flaky_and_rerun_elements_become_attempts() {
        let run = parse(
            "<testsuite name=\"s\">\
             <testcase name=\"flaky\" time=\"2\"><flakyFailure time=\"1\" message=\"m1\">\
             <stackTrace>st</stackTrace><system-out>o</system-out></flakyFailure>\
             <flakyError/></testcase>\
             <testcase name=\"broken\"><failure/><rerunFailure/><rerunError/></testcase>\
             </testsuite>",
        )
        .unwrap();
        let flaky = &run.tests[0];
        let statuses: Vec<_> = flaky.attempts.iter().map(|a| a.status).collect();
        assert_eq!(statuses, [Status::Fail, Status::Error, Status::Pass]);
        assert_eq!(flaky.attempts[0].trace(), Some("st"));
        assert_eq!(flaky.attempts[0].stdout(), Some("o"));
        assert_eq!(flaky.attempts[0].duration, Some(1.0));
        assert_eq!(flaky.attempts[2].duration, Some(2.0));
        assert_eq!(flaky.verdict(), crate::Verdict::Flaky);
        let broken = &run.tests[1];
        let statuses: Vec<_> = broken.attempts.iter().map(|a| a.status).collect();
        assert_eq!(statuses, [Status::Fail, Status::Fail, Status::Error]);
        assert_eq!(broken.verdict(), crate::Verdict::Fail);
        let indexes: Vec<_> = broken.attempts.iter().map(|a| a.index).collect();
        assert_eq!(indexes, [1, 2, 3]);
    }

    #[test]
    fn duplicates_merge_and_nested_suites_make_paths() {
        let run = parse(
            "<testsuites><testsuite name=\"a\"><testsuite name=\"b\">\
             <testcase classname=\"c\" name=\"t\"><failure/></testcase>\
             <testcase classname=\"c\" name=\"t\"/></testsuite>\
             <testcase classname=\"c\" name=\"t\"/></testsuite></testsuites>",
        )
        .unwrap();
        assert_eq!(run.tests.len(), 2);
        assert_eq!(&*run.tests[0].suite, ["a".to_owned(), "b".to_owned()]);
        assert_eq!(run.tests[0].attempts.len(), 2);
        assert_eq!(run.tests[0].id(), "a::b::c::t");
        assert_eq!(&*run.tests[1].suite, ["a".to_owned()]);
    }

    /// A suite that lists no case is judged by its count attributes: a failure it declares
    /// is a failing suite entry, not a green suite; with cases, the cases decide.
    #[test]
    fn count_attributes_judge_a_suite_without_cases() {
        let run = parse(
            "<testsuites><testsuite name=\"a\" tests=\"3\" failures=\"1\"/>\
             <testsuite name=\"b\" tests=\"2\" failures=\"0\"/>\
             <testsuite name=\"c\" tests=\"1\" failures=\"1\"><testcase name=\"t\"/></testsuite>\
             </testsuites>",
        )
        .unwrap();
        assert_eq!(run.suites[0].status, Some(Status::Fail));
        assert!(
            run.suites[0]
                .message
                .as_deref()
                .unwrap()
                .contains("declares 1 failure")
        );
        assert_eq!(run.suites[1].status, Some(Status::Pass));
        assert_eq!(run.suites[2].status, None, "cases decide");
        assert_eq!(run.counts().suite_failures, 1);
    }

    /// A negative duration is "negative", not "not a number", and it drops nothing.
    #[test]
    fn negative_times_are_named_as_such() {
        let run = parse(
            "<testsuite name=\"s\"><testcase name=\"a\" time=\"-1.5\"/>\
             <testcase name=\"b\" time=\"abc\"/></testsuite>",
        )
        .unwrap();
        let texts: Vec<String> = run.warnings.iter().map(|w| w.kind.to_string()).collect();
        assert!(
            texts.contains(&"time=\"-1.5\" is negative; ignored".to_owned()),
            "{texts:?}"
        );
        assert!(
            texts.contains(&"time=\"abc\" is not a number; ignored".to_owned()),
            "{texts:?}"
        );
        assert_eq!(run.tests.len(), 2);
    }

    /// A `<failure>`/`<error>` directly inside a `<testsuite>` (a test class that failed to
    /// start, JENKINS-6700) is a failing test `<init>` of that suite, never dropped; a
    /// `status="disabled"` case was not run.
    #[test]
    fn suite_level_failures_and_disabled_cases() {
        let run = parse(
            "<testsuite name=\"S\" tests=\"1\" errors=\"1\"><properties/>\
             <error message=\"boom\" type=\"NoClassDefFoundError\">trace</error></testsuite>",
        )
        .unwrap();
        assert_eq!(run.tests.len(), 1);
        let t = &run.tests[0];
        assert_eq!(
            (t.name.as_str(), t.classname.as_deref()),
            ("<init>", Some("S"))
        );
        assert_eq!(t.attempts[0].status, Status::Error);
        assert_eq!(t.verdict(), crate::Verdict::Fail);
        let run = parse(
            "<testsuite name=\"S\"><testcase name=\"a\" status=\"disabled\"/>\
             <testcase name=\"b\"/></testsuite>",
        )
        .unwrap();
        assert_eq!(run.tests[0].attempts[0].status, Status::Skip);
        assert_eq!(run.tests[1].attempts[0].status, Status::Pass);
    }

    #[test]
    fn broken_documents_give_positioned_errors() {
        let err =
            parse("<testsuites>\n  <testsuite name=\"x\">\n    <testcase name=\"t\">").unwrap_err();
        match &err {
            IngestError::Unclosed { line, element, .. } => {
                // The innermost element left open, where it starts.
                assert_eq!((*line, element.as_str()), (3, "testcase"));
            }
            other => panic!("unexpected {other:?}"),
        }
        let err = parse("<testsuite>\n<testcase></testsuite>").unwrap_err();
        assert!(matches!(err, IngestError::Xml { line: 2, .. }), "{err}");
        assert!(err.to_string().starts_with("t.xml:2:"), "{err}");
        let err = parse("<html/>").unwrap_err();
        assert!(matches!(err, IngestError::NotJunit { .. }));
        let deep = "<testsuite>".repeat(10_000);
        let err = parse(&deep).unwrap_err();
        assert!(
            matches!(err, IngestError::TooDeep { limit: 256, .. }),
            "{err}"
        );
    }
}

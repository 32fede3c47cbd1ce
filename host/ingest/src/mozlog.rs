//! mozlog readers: the raw structured log (`suite_start` … `suite_end`) and the errorsummary
//! form Treeherder ingests (docs/ingest.md, "mozlog").
//!
//! * A test's suite path is its manifest `group` (when given); `test_start` … `test_end` is
//!   one attempt, a test started again is another attempt.
//! * `test_status` lines are [`Subtest`]s. An attempt fails when its harness status is an
//!   unexpected failure or when one of its subtests failed unexpectedly.
//! * Expectedness: `expected` is omitted when it equals the status; a status listed in
//!   `known_intermittent` is expected.
//! * `crash` attaches to its test's latest attempt (making it a `CRASH` error unless it already
//!   failed), or becomes a [`SuiteKind::Crash`] entry; `group_result` is a
//!   [`SuiteKind::Group`] entry; `log` and `process_output` go to the run log.
//! * errorsummary lists only unexpected results, so each test there has one attempt made of
//!   all its `test_result` lines.
//! * Lines that are not JSON (harness noise, a cut final line) are skipped with a warning.

use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use super::error::{IngestError, Warning, WarningKind};
use super::input::{Fault, Input, Limits, LineRead, TextBuf, bound_text};
use super::model::{
    Attempt, Detail, Format, Origin, Run, RunMeta, Status, Subtest, SuiteKind, SuiteResult,
};
use crate::index::TestIndex;

#[derive(Deserialize, Default)]
#[serde(default)]
struct Line {
    action: Option<String>,
    time: Option<f64>,
    test: Option<Value>,
    subtest: Option<String>,
    status: Option<String>,
    expected: Option<String>,
    known_intermittent: Option<Vec<String>>,
    /// `suite_start`'s scheduled tests: `{group: [test, ...]}`, or a plain list.
    tests: Option<Value>,
    message: Option<String>,
    stack: Option<String>,
    group: Option<String>,
    name: Option<String>,
    run_info: Option<serde_json::Map<String, Value>>,
    signature: Option<String>,
    reason: Option<String>,
    stackwalk_stdout: Option<String>,
    data: Option<String>,
    level: Option<String>,
    duration: Option<f64>,
}

/// Maps a mozlog status word onto [`Status`].
pub fn status_of(word: &str) -> Status {
    match word {
        "PASS" | "OK" => Status::Pass,
        "FAIL" | "ASSERT" | "PRECONDITION_FAILED" => Status::Fail,
        "SKIP" | "NOTRUN" => Status::Skip,
        _ => Status::Error,
    }
}

fn is_expected(status: &str, expected: Option<&str>, known: Option<&[String]>) -> bool {
    match expected {
        None => true,
        Some(e) => e == status || known.is_some_and(|k| k.iter().any(|s| s == status)),
    }
}

/// Adds `suite_start`'s `tests` to `out` as (group, test): a map of groups to test lists,
/// or one list of tests without a group. Entries that are not tests are passed over.
fn scheduled(tests: &Value, out: &mut Vec<(String, String)>) {
    match tests {
        Value::Object(groups) => {
            for (group, list) in groups {
                for test in list.as_array().into_iter().flatten().filter_map(test_id) {
                    out.push((group.clone(), test));
                }
            }
        }
        Value::Array(list) => {
            out.extend(list.iter().filter_map(test_id).map(|t| (String::new(), t)))
        }
        _ => {}
    }
}

/// A test id: a string, or a list (reftest `[url, "==", ref]`) joined by spaces.
fn test_id(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => Some(
            items
                .iter()
                .map(|v| match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect::<Vec<_>>()
                .join(" "),
        ),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// Formats milliseconds since the epoch as RFC 3339 UTC with milliseconds.
fn rfc3339_ms(ms: f64) -> Option<String> {
    if !ms.is_finite() || !(0.0..=253_402_300_799_000.0).contains(&ms) {
        return None;
    }
    let ms = ms as i64;
    let (secs, milli) = (ms.div_euclid(1000), ms.rem_euclid(1000));
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{milli:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    ))
}

struct Open {
    attempt: Attempt,
    start_ms: Option<f64>,
    end: Option<(String, bool)>,
    output: TextBuf,
}

struct Reader<'l> {
    limits: &'l Limits,
    run: Run,
    line: u64,
    paths: HashMap<String, Arc<[String]>>,
    index: TestIndex,
    /// Raw log: open tests by id, with their suite path.
    open: HashMap<String, (Arc<[String]>, Open)>,
    /// Tests in order of start; names closed since stay and are skipped at the end.
    open_order: Vec<String>,
    /// Group entries seen per group.
    groups_seen: HashMap<Arc<[String]>, u32>,
    /// errorsummary: the one attempt per test, built from its lines.
    summary: HashMap<(Arc<[String]>, String), Open>,
    summary_order: Vec<(Arc<[String]>, String)>,
    log: TextBuf,
    records: u64,
}

/// Reads a mozlog raw log (`format` = [`Format::MozlogRaw`]) or errorsummary
/// ([`Format::MozlogErrorSummary`]) from `input`.
pub fn read<R: Read>(
    input: R,
    source: &str,
    meta: RunMeta,
    limits: &Limits,
    format: Format,
) -> Result<Run, IngestError> {
    let summary = format == Format::MozlogErrorSummary;
    let format = if summary {
        Format::MozlogErrorSummary
    } else {
        Format::MozlogRaw
    };
    let mut input = Input::new(input, u64::MAX);
    let mut r = Reader {
        limits,
        run: Run::new(source, format, meta),
        line: 0,
        paths: HashMap::new(),
        index: TestIndex::new(),
        open: HashMap::new(),
        open_order: Vec::new(),
        groups_seen: HashMap::new(),
        summary: HashMap::new(),
        summary_order: Vec::new(),
        log: TextBuf::default(),
        records: 0,
    };
    let mut buf = Vec::new();
    let mut lines = 0u64;
    loop {
        let got = input
            .read_line(&mut buf, limits.max_line)
            .map_err(|e| match input.fault() {
                Some(Fault::Utf16(encoding)) => IngestError::UnsupportedEncoding {
                    file: source.to_owned(),
                    encoding,
                },
                _ => IngestError::Io {
                    file: source.to_owned(),
                    source: e,
                },
            })?;
        r.line += 1;
        match got {
            LineRead::Eof => break,
            LineRead::TooLong => {
                return Err(IngestError::LineTooLong {
                    file: source.to_owned(),
                    line: r.line,
                    limit: limits.max_line,
                });
            }
            LineRead::Line | LineRead::Partial => {}
        }
        lines += 1;
        let text = String::from_utf8_lossy(&buf);
        if text.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<Line>(&text) {
            Ok(line) if line.action.is_some() => {
                r.records += 1;
                if summary {
                    r.summary_line(line);
                } else {
                    r.raw_line(line);
                }
            }
            Ok(_) => r.warn(WarningKind::NotARecord(format)),
            Err(_) if got == LineRead::Partial => r.warn(WarningKind::PartialLastLine),
            Err(_) => r.warn(WarningKind::NonJson),
        }
    }
    let (invalid, total) = input.take_invalid();
    let shown = invalid.len() as u64;
    for pos in invalid {
        r.warn_at(pos.line, pos.column, WarningKind::InvalidUtf8);
    }
    r.run.warnings_dropped += total - shown;
    if r.records == 0 {
        return Err(if lines == 0 {
            IngestError::Empty {
                file: source.to_owned(),
            }
        } else {
            IngestError::NoRecords {
                file: source.to_owned(),
                format,
            }
        });
    }
    Ok(r.finish())
}

impl Reader<'_> {
    fn warn_at(&mut self, line: u64, column: u64, kind: WarningKind) {
        if self.run.warnings.len() < self.limits.max_warnings {
            self.run.warnings.push(Warning { line, column, kind });
        } else {
            self.run.warnings_dropped += 1;
        }
    }

    fn warn(&mut self, kind: WarningKind) {
        self.warn_at(self.line, 0, kind);
    }

    fn path(&mut self, group: Option<&str>) -> Arc<[String]> {
        let group = group.unwrap_or("");
        if let Some(p) = self.paths.get(group) {
            return p.clone();
        }
        let p: Arc<[String]> = if group.is_empty() {
            Arc::from(Vec::new())
        } else {
            Arc::from(vec![group.to_owned()])
        };
        self.paths.insert(group.to_owned(), p.clone());
        p
    }

    fn log_line(&mut self, text: &str) {
        let limit = self.limits.max_text;
        self.log.push(text, limit);
        if !text.ends_with('\n') {
            self.log.push("\n", limit);
        }
    }

    fn raw_line(&mut self, line: Line) {
        let limit = self.limits.max_text;
        let action = line.action.as_deref().unwrap_or("");
        let test = line.test.as_ref().and_then(test_id);
        match action {
            "suite_start" => {
                if self.run.name.is_none() {
                    self.run.name = line.name.clone();
                }
                if let Some(tests) = &line.tests {
                    scheduled(tests, &mut self.run.scheduled);
                }
                for (k, v) in line.run_info.iter().flatten() {
                    if !self.run.meta.variant.contains_key(k) {
                        let v = match v {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        self.run.meta.variant.insert(k.clone(), v);
                    }
                }
            }
            "test_start" => {
                let Some(test) = test else { return };
                if let Some((path, prev)) = self.open.remove(&test) {
                    self.warn(WarningKind::Unfinished(test.clone()));
                    self.close(path, &test, prev, true);
                }
                let path = self.path(line.group.as_deref());
                let mut attempt = Attempt::new(Status::Pass, Origin::MozlogTest);
                attempt.info_mut().timestamp = line.time.and_then(rfc3339_ms);
                self.open.insert(
                    test.clone(),
                    (
                        path,
                        Open {
                            attempt,
                            start_ms: line.time,
                            end: None,
                            output: TextBuf::default(),
                        },
                    ),
                );
                self.open_order.push(test);
            }
            "test_status" => {
                let Some(test) = test else { return };
                let Some(open) = self.open_test(&test, line.group.as_deref()) else {
                    return;
                };
                let raw = line.status.clone().unwrap_or_default();
                open.attempt.info_mut().subtests.push(Subtest {
                    name: line.subtest.clone().unwrap_or_default(),
                    status: status_of(&raw),
                    expected: is_expected(
                        &raw,
                        line.expected.as_deref(),
                        line.known_intermittent.as_deref(),
                    ),
                    raw_status: raw,
                    message: line.message.clone().filter(|m| !m.is_empty()),
                    stack: line.stack.clone().filter(|m| !m.is_empty()),
                });
            }
            "test_end" => {
                let Some(test) = test else { return };
                if self.open_test(&test, line.group.as_deref()).is_none() {
                    return;
                }
                let Some((path, mut open)) = self.open.remove(&test) else {
                    return;
                };
                let raw = line.status.clone().unwrap_or_default();
                let expected = is_expected(
                    &raw,
                    line.expected.as_deref(),
                    line.known_intermittent.as_deref(),
                );
                if let Some(known) = line.known_intermittent.clone().filter(|k| !k.is_empty()) {
                    open.attempt.info_mut().known_intermittent = known;
                }
                open.attempt.info_mut().message = line.message.clone().filter(|m| !m.is_empty());
                open.attempt.info_mut().trace = line.stack.clone().filter(|m| !m.is_empty());
                if let (Some(t0), Some(t1)) = (open.start_ms, line.time)
                    && t1.is_finite()
                    && t0.is_finite()
                {
                    open.attempt.duration = Some(((t1 - t0) / 1000.0).max(0.0));
                }
                open.end = Some((raw, expected));
                self.close(path, &test, open, false);
            }
            "process_output" => {
                let Some(data) = line.data.as_deref() else {
                    return;
                };
                self.log_line(data);
                if let Some(test) = test
                    && let Some((_, open)) = self.open.get_mut(&test)
                {
                    open.output.push(data, limit);
                    open.output.push("\n", limit);
                }
            }
            "log" => {
                let text = format!(
                    "{} {}",
                    line.level.as_deref().unwrap_or("INFO"),
                    line.message.as_deref().unwrap_or("")
                );
                self.log_line(&text);
            }
            "crash" => self.crash(test, &line),
            _ => {}
        }
    }

    fn open_test(&mut self, test: &str, group: Option<&str>) -> Option<&mut Open> {
        if !self.open.contains_key(test) {
            self.warn(WarningKind::NotStarted(test.to_owned()));
            let path = self.path(group);
            self.open.insert(
                test.to_owned(),
                (
                    path,
                    Open {
                        attempt: Attempt::new(Status::Pass, Origin::MozlogTest),
                        start_ms: None,
                        end: None,
                        output: TextBuf::default(),
                    },
                ),
            );
            self.open_order.push(test.to_owned());
        }
        self.open.get_mut(test).map(|(_, o)| o)
    }

    /// Settles an attempt's status from its harness status and subtests, then files it.
    fn close(&mut self, path: Arc<[String]>, test: &str, open: Open, cut_off: bool) {
        let limit = self.limits.max_text;
        let mut attempt = settle(open.attempt, open.end, cut_off);
        if !open.output.is_empty() {
            attempt.info_mut().stdout = Some(open.output.finish(limit).0);
        }
        self.file(path, test, attempt);
    }

    fn file(&mut self, path: Arc<[String]>, test: &str, mut attempt: Attempt) {
        let i = self.index.test_of(&mut self.run.tests, &path, test);
        let t = &mut self.run.tests[i];
        attempt.index = t.attempts.len() as u32 + 1;
        t.attempts.push(attempt);
    }

    fn crash(&mut self, test: Option<String>, line: &Line) {
        let limit = self.limits.max_text;
        let signature = line
            .signature
            .clone()
            .unwrap_or_else(|| "[Unknown]".to_owned());
        let detail = Detail {
            status: Status::Error,
            message: Some(format!("CRASH {signature}")),
            kind: line.reason.clone(),
            text: line
                .stackwalk_stdout
                .clone()
                .map(|s| bound_text(s, limit).0)
                .filter(|s| !s.is_empty()),
        };
        self.log_line(&format!("CRASH {signature}"));
        if let Some(test) = &test {
            // An open test (raw log), a summary attempt, or the latest filed attempt.
            if let Some((_, open)) = self.open.get_mut(test) {
                open.attempt.extra.push(detail);
                open.attempt.info_mut().raw_status = Some("CRASH".to_owned());
                return;
            }
            let path = self.path(line.group.as_deref());
            if let Some(open) = self.summary.get_mut(&(path.clone(), test.clone())) {
                open.attempt.extra.push(detail);
                return;
            }
            let (_, path_id) = self.index.intern(&path);
            if let Some(i) = self.index.find(&self.run.tests, path_id, None, test)
                && let Some(attempt) = self.run.tests[i].attempts.last_mut()
            {
                if !attempt.is_failure() {
                    attempt.status = Status::Error;
                    attempt.expected = false;
                    attempt.info_mut().raw_status = Some("CRASH".to_owned());
                }
                attempt.extra.push(detail);
                return;
            }
            if let Some(i) = self.run.tests.iter().rposition(|t| t.name == *test)
                && let Some(attempt) = self.run.tests[i].attempts.last_mut()
            {
                if !attempt.is_failure() {
                    attempt.status = Status::Error;
                    attempt.expected = false;
                    attempt.info_mut().raw_status = Some("CRASH".to_owned());
                }
                attempt.extra.push(detail);
                return;
            }
        }
        let mut suite = SuiteResult::new(SuiteKind::Crash, self.path(None));
        suite.status = Some(Status::Error);
        suite.raw_status = Some("CRASH".to_owned());
        suite.message = detail.message;
        suite.stdout = detail.text;
        if let Some(test) = test {
            suite.properties.push(("test".to_owned(), test));
        }
        self.run.suites.push(suite);
    }

    fn summary_line(&mut self, line: Line) {
        let action = line.action.as_deref().unwrap_or("");
        let test = line.test.as_ref().and_then(test_id);
        match action {
            "test_result" => {
                let Some(test) = test else { return };
                let path = self.path(line.group.as_deref());
                let key = (path, test);
                if !self.summary.contains_key(&key) {
                    self.summary.insert(
                        key.clone(),
                        Open {
                            attempt: Attempt::new(Status::Pass, Origin::ErrorSummary),
                            start_ms: None,
                            end: None,
                            output: TextBuf::default(),
                        },
                    );
                    self.summary_order.push(key.clone());
                }
                let open = self.summary.get_mut(&key).expect("inserted above");
                let raw = line.status.clone().unwrap_or_default();
                let expected = is_expected(
                    &raw,
                    line.expected.as_deref(),
                    line.known_intermittent.as_deref(),
                );
                match line.subtest.clone() {
                    Some(name) => open.attempt.info_mut().subtests.push(Subtest {
                        name,
                        status: status_of(&raw),
                        raw_status: raw,
                        expected,
                        message: line.message.clone().filter(|m| !m.is_empty()),
                        stack: line.stack.clone().filter(|m| !m.is_empty()),
                    }),
                    None => {
                        open.attempt.info_mut().message =
                            line.message.clone().filter(|m| !m.is_empty());
                        open.attempt.info_mut().trace =
                            line.stack.clone().filter(|m| !m.is_empty());
                        open.end = Some((raw, expected));
                    }
                }
            }
            "group_result" => {
                let path = self.path(line.group.as_deref());
                let mut suite = SuiteResult::new(SuiteKind::Group, path.clone());
                let seen = self.groups_seen.entry(path.clone()).or_insert(0);
                *seen += 1;
                suite.attempt = *seen;
                let raw = line.status.clone().unwrap_or_default();
                suite.status = Some(status_of(&raw));
                suite.raw_status = Some(raw);
                suite.duration = line
                    .duration
                    .filter(|d| d.is_finite() && *d >= 0.0)
                    .map(|ms| ms / 1000.0);
                self.run.suites.push(suite);
            }
            "log" => {
                let text = format!(
                    "{} {}",
                    line.level.as_deref().unwrap_or("INFO"),
                    line.message.as_deref().unwrap_or("")
                );
                self.log_line(&text);
            }
            "crash" => self.crash(test, &line),
            _ => {}
        }
    }

    fn finish(mut self) -> Run {
        let limit = self.limits.max_text;
        // Raw log: tests never ended were cut off (a crashed or killed harness).
        for test in std::mem::take(&mut self.open_order) {
            if let Some((path, open)) = self.open.remove(&test) {
                self.warn(WarningKind::Unfinished(test.clone()));
                self.close(path, &test, open, true);
            }
        }
        for key in std::mem::take(&mut self.summary_order) {
            if let Some(open) = self.summary.remove(&key) {
                let attempt = settle(open.attempt, open.end, false);
                self.file(key.0, &key.1, attempt);
            }
        }
        if !self.log.is_empty() {
            self.run.log = Some(self.log.finish(limit).0);
        }
        self.run
    }
}

/// An attempt's status: an unexpected harness failure wins, then an unexpected subtest
/// failure; otherwise the harness status as given. `cut_off` marks a test that never ended.
fn settle(mut attempt: Attempt, end: Option<(String, bool)>, cut_off: bool) -> Attempt {
    let crashed = attempt.raw_status() == Some("CRASH");
    let sub_failed = attempt
        .subtests()
        .iter()
        .any(|s| s.status.is_failure() && !s.expected);
    match end {
        Some((raw, expected)) => {
            let status = status_of(&raw);
            if status.is_failure() && !expected {
                attempt.status = status;
                attempt.expected = false;
            } else if sub_failed || crashed {
                attempt.status = if crashed { Status::Error } else { Status::Fail };
                attempt.expected = false;
            } else {
                attempt.status = status;
                attempt.expected = expected || !status.is_failure();
            }
            if !crashed {
                attempt.info_mut().raw_status = Some(raw);
            }
        }
        None if cut_off || crashed => {
            attempt.status = Status::Error;
            attempt.expected = false;
            attempt.info_mut().raw_status = Some("CRASH".to_owned());
            if cut_off && attempt.message().is_none() {
                attempt.info_mut().message =
                    Some("test never ended (harness crashed or log cut)".into());
            }
        }
        None => {
            // errorsummary with subtest lines only: the harness status was as expected.
            attempt.status = if sub_failed {
                Status::Fail
            } else {
                Status::Pass
            };
            attempt.expected = !sub_failed;
        }
    }
    attempt
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_millis_format_as_rfc3339() {
        assert_eq!(rfc3339_ms(0.0).as_deref(), Some("1970-01-01T00:00:00.000Z"));
        assert_eq!(
            rfc3339_ms(1_795_317_604_730.0).as_deref(),
            Some("2026-11-22T03:20:04.730Z")
        );
        assert_eq!(rfc3339_ms(-1.0), None);
    }

    #[test]
    fn expectedness_follows_mozlog_rules() {
        assert!(is_expected("FAIL", None, None));
        assert!(!is_expected("FAIL", Some("PASS"), None));
        assert!(is_expected(
            "TIMEOUT",
            Some("PASS"),
            Some(&["TIMEOUT".to_owned()])
        ));
        assert!(!is_expected("PASS", Some("FAIL"), None));
    }

    #[test]
    fn retries_and_cut_off_tests() {
        let log = concat!(
            r#"{"action":"suite_start","time":0,"tests":{},"run_info":{"os":"linux","debug":true}}"#,
            "\n",
            r#"{"action":"test_start","time":0,"test":"a"}"#,
            "\n",
            r#"{"action":"test_end","time":5,"test":"a","status":"FAIL","expected":"PASS"}"#,
            "\n",
            r#"{"action":"test_start","time":6,"test":"a"}"#,
            "\n",
            r#"{"action":"test_end","time":9,"test":"a","status":"PASS"}"#,
            "\n",
            r#"{"action":"test_start","time":10,"test":["x.html","==","y.html"]}"#,
            "\n",
            "not json\n",
            r#"{"action":"test_sta"#,
        );
        let run = read(
            log.as_bytes(),
            "raw.log",
            RunMeta::default(),
            &Limits::default(),
            Format::MozlogRaw,
        )
        .unwrap();
        assert_eq!(run.meta.variant["os"], "linux");
        assert_eq!(run.meta.variant["debug"], "true");
        assert_eq!(run.tests.len(), 2);
        assert_eq!(run.tests[0].verdict(), crate::Verdict::Flaky);
        let cut = &run.tests[1];
        assert_eq!(cut.name, "x.html == y.html");
        assert_eq!(cut.attempts[0].raw_status(), Some("CRASH"));
        assert!(
            run.warnings
                .iter()
                .any(|w| w.kind == WarningKind::NonJson && w.line == 7)
        );
        assert!(
            run.warnings
                .iter()
                .any(|w| w.kind == WarningKind::PartialLastLine)
        );
    }
}

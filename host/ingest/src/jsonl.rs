//! The results JSON-lines schema (version [`SCHEMA_VERSION`], documented in `docs/ingest.md`):
//! per input one `run` line, then its `suite` lines, then its `test` lines. Empty and absent
//! values are left out.

use std::io::{self, Write};

use serde::Serialize;

use super::model::{Attempt, Detail, Run, Subtest, SuiteResult, Test};

/// Version of the results schema; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Serialize)]
struct CountsLine {
    tests: usize,
    attempts: usize,
    failed_attempts: usize,
    failed: usize,
    flaky: usize,
    skipped: usize,
    suite_failures: usize,
}

#[derive(Serialize)]
struct WarningLine {
    line: u64,
    #[serde(skip_serializing_if = "is_zero")]
    column: u64,
    message: String,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Serialize)]
struct RunLine<'a> {
    r#type: &'static str,
    schema: u32,
    source: &'a str,
    format: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    dialect: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    meta: serde_json::Map<String, serde_json::Value>,
    counts: CountsLine,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    warnings: Vec<WarningLine>,
    #[serde(skip_serializing_if = "is_zero")]
    warnings_dropped: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    log: Option<&'a str>,
}

#[derive(Serialize)]
struct SuiteLine<'a> {
    r#type: &'static str,
    source: &'a str,
    kind: &'static str,
    path: &'a [String],
    attempt: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    raw_status: Option<&'a str>,
    #[serde(skip_serializing_if = "is_false")]
    build_failed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    hostname: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    properties: &'a [(String, String)],
    #[serde(skip_serializing_if = "Option::is_none")]
    stdout: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stderr: Option<&'a str>,
}

#[derive(Serialize)]
struct ReportedLine<'a> {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
}

#[derive(Serialize)]
struct DetailLine<'a> {
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
}

#[derive(Serialize)]
struct SubtestLine<'a> {
    name: &'a str,
    status: &'static str,
    raw_status: &'a str,
    expected: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stack: Option<&'a str>,
}

#[derive(Serialize)]
struct AttemptLine<'a> {
    index: u32,
    status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    raw_status: Option<&'a str>,
    expected: bool,
    origin: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    duration: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trace: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stdout: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stderr: Option<&'a str>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    extra: Vec<DetailLine<'a>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    subtests: Vec<SubtestLine<'a>>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    properties: &'a [(String, String)],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    known_intermittent: &'a [String],
}

#[derive(Serialize)]
struct TestLine<'a> {
    r#type: &'static str,
    source: &'a str,
    id: String,
    suite: &'a [String],
    #[serde(skip_serializing_if = "Option::is_none")]
    classname: Option<&'a str>,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    line: Option<u32>,
    verdict: &'static str,
    #[serde(skip_serializing_if = "is_false")]
    flaky_marked: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    reported: Option<ReportedLine<'a>>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    properties: &'a [(String, String)],
    attempts: Vec<AttemptLine<'a>>,
}

fn detail(d: &Detail) -> DetailLine<'_> {
    DetailLine {
        status: d.status.name(),
        message: d.message.as_deref(),
        kind: d.kind.as_deref(),
        text: d.text.as_deref(),
    }
}

fn subtest(s: &Subtest) -> SubtestLine<'_> {
    SubtestLine {
        name: &s.name,
        status: s.status.name(),
        raw_status: &s.raw_status,
        expected: s.expected,
        message: s.message.as_deref(),
        stack: s.stack.as_deref(),
    }
}

fn attempt(a: &Attempt) -> AttemptLine<'_> {
    AttemptLine {
        index: a.index,
        status: a.status.name(),
        raw_status: a.raw_status(),
        expected: a.expected,
        origin: a.origin.name(),
        duration: a.duration,
        timestamp: a.timestamp(),
        message: a.message(),
        kind: a.kind(),
        trace: a.trace(),
        stdout: a.stdout(),
        stderr: a.stderr(),
        extra: a.extra.iter().map(detail).collect(),
        subtests: a.subtests().iter().map(subtest).collect(),
        properties: a.properties(),
        known_intermittent: a.known_intermittent(),
    }
}

fn suite_line<'a>(run: &'a Run, s: &'a SuiteResult) -> SuiteLine<'a> {
    SuiteLine {
        r#type: "suite",
        source: &run.source,
        kind: s.kind.name(),
        path: &s.path,
        attempt: s.attempt,
        status: s.status.map(|st| st.name()),
        raw_status: s.raw_status.as_deref(),
        build_failed: s.build_failed,
        duration: s.duration,
        timestamp: s.timestamp.as_deref(),
        hostname: s.hostname.as_deref(),
        message: s.message.as_deref(),
        properties: &s.properties,
        stdout: s.stdout.as_deref(),
        stderr: s.stderr.as_deref(),
    }
}

fn test_line<'a>(run: &'a Run, t: &'a Test) -> TestLine<'a> {
    TestLine {
        r#type: "test",
        source: &run.source,
        id: t.id(),
        suite: &t.suite,
        classname: t.classname.as_deref(),
        name: &t.name,
        file: t.file.as_deref(),
        line: t.line,
        verdict: t.verdict().name(),
        flaky_marked: t.flaky_marked,
        reported: t.reported.as_ref().map(|r| ReportedLine {
            status: r.status.name(),
            message: r.message.as_deref(),
        }),
        properties: &t.properties,
        attempts: t.attempts.iter().map(attempt).collect(),
    }
}

/// Writes `run` as results JSON lines: the `run` line, its `suite` lines, its `test` lines.
pub fn write_results<W: Write>(run: &Run, out: &mut W) -> io::Result<()> {
    let counts = run.counts();
    let meta = run
        .meta
        .pairs()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), serde_json::Value::String(v.to_owned())))
        .collect();
    let line = RunLine {
        r#type: "run",
        schema: SCHEMA_VERSION,
        source: &run.source,
        format: run.format.name(),
        dialect: (run.dialect != super::model::Dialect::None).then(|| run.dialect.name()),
        name: run.name.as_deref(),
        meta,
        counts: CountsLine {
            tests: counts.tests,
            attempts: counts.attempts,
            failed_attempts: counts.failed_attempts,
            failed: counts.failed,
            flaky: counts.flaky,
            skipped: counts.skipped,
            suite_failures: counts.suite_failures,
        },
        warnings: run
            .warnings
            .iter()
            .map(|w| WarningLine {
                line: w.line,
                column: w.column,
                message: w.kind.to_string(),
            })
            .collect(),
        warnings_dropped: run.warnings_dropped,
        log: run.log.as_deref(),
    };
    serde_json::to_writer(&mut *out, &line)?;
    out.write_all(b"\n")?;
    for suite in &run.suites {
        serde_json::to_writer(&mut *out, &suite_line(run, suite))?;
        out.write_all(b"\n")?;
    }
    for test in &run.tests {
        serde_json::to_writer(&mut *out, &test_line(run, test))?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

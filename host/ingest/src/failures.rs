//! From test results to watchflakes failure records (docs/ingest.md, "Failure records
//! (`--failures`)"): one record per failing attempt, plus one per failing suite entry that no
//! failing test accounts for (a TestMain panic, a build failure, a mozlog group error, a stray
//! crash). Field names come from [`Field`]; extra keys are listed in
//! [`EXTRA_KEYS`](crate::records::EXTRA_KEYS).

use std::io::{self, Write};

use flakewatch_dsl::{Field, Record};
use serde_json::{Map, Value};

use crate::input::bound_text;
use crate::model::{Attempt, Format, Run, Status, SuiteKind, SuiteResult, Test, Verdict};
use crate::records::FailureRecord;
use flakewatch_core::snippet::snippet;

/// How failure records are built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FailureOptions {
    /// Bytes of `output` kept (start and end).
    pub max_output: usize,
    /// Bytes of `log` kept (start and end); 0 leaves `log` empty.
    pub max_log: usize,
}

impl Default for FailureOptions {
    fn default() -> FailureOptions {
        FailureOptions {
            max_output: 1 << 20,
            max_log: 64 * 1024,
        }
    }
}

/// The ResultDB-style status word of a failing attempt: `FAIL`; a JUnit `<error>` is `ERROR`;
/// a producer's own word (`CRASH`, `TIMEOUT`, `ASSERT`) when it has one.
fn status_word(status: Status, raw: Option<&str>) -> String {
    let own = raw.filter(|r| {
        !r.is_empty()
            && r.bytes().all(|b| b.is_ascii_uppercase() || b == b'_')
            && !matches!(*r, "OK" | "PASS")
    });
    match (status, own) {
        (_, Some(word)) => word.to_owned(),
        (Status::Error, None) => "ERROR".to_owned(),
        _ => "FAIL".to_owned(),
    }
}

/// The run's `log` for records of `path`: the suite's own output for JUnit (Bazel keeps the
/// whole test log there), else the run log.
fn log_for(run: &Run, path: &[String], opts: &FailureOptions) -> String {
    if opts.max_log == 0 {
        return String::new();
    }
    let mut log = String::new();
    if run.format == Format::Junit {
        for suite in run.suites.iter().filter(|s| &*s.path == path) {
            for part in [&suite.stdout, &suite.stderr].into_iter().flatten() {
                log.push_str(part);
                if !log.ends_with('\n') {
                    log.push('\n');
                }
            }
        }
    }
    if log.is_empty()
        && let Some(run_log) = &run.log
    {
        log.push_str(run_log);
    }
    bound_text(log, opts.max_log).0
}

fn base_record(run: &Run) -> (Record, Map<String, Value>) {
    let mut record = Record::new();
    let meta = &run.meta;
    for (field, value) in [
        (Field::Date, &meta.date),
        (Field::Builder, &meta.builder),
        (Field::Repo, &meta.repo),
        (Field::Goos, &meta.goos),
        (Field::Goarch, &meta.goarch),
    ] {
        if let Some(v) = value {
            record.set(field, v.clone());
        }
    }
    let mut extra = Map::new();
    let s = |v: &str| Value::String(v.to_owned());
    if let Some(url) = &meta.url {
        extra.insert("url".into(), s(url));
    }
    extra.insert("source".into(), s(&run.source));
    extra.insert("format".into(), s(run.format.name()));
    for (key, value) in [
        ("revision", &meta.revision),
        ("job", &meta.job),
        ("run_id", &meta.run_id),
        ("chunk", &meta.chunk),
    ] {
        if let Some(v) = value {
            extra.insert(key.into(), s(v));
        }
    }
    if !meta.variant.is_empty() {
        let variant = meta
            .variant
            .iter()
            .map(|(k, v)| (k.clone(), s(v)))
            .collect::<Map<_, _>>();
        extra.insert("variant".into(), Value::Object(variant));
    }
    (record, extra)
}

/// `pkg` of a test: the go package, the JUnit classname (else the innermost suite name), the
/// mozlog manifest group (else the run's suite name).
fn pkg_of(run: &Run, test: &Test) -> String {
    match run.format {
        Format::Junit => test
            .classname
            .clone()
            .or_else(|| test.suite.last().cloned())
            .unwrap_or_default(),
        _ => test
            .suite
            .first()
            .cloned()
            .or_else(|| run.name.clone())
            .unwrap_or_default(),
    }
}

fn set_output(record: &mut Record, output: String, log: String, opts: &FailureOptions) {
    let output = bound_text(output, opts.max_output).0;
    let snip = if output.trim().is_empty() {
        snippet(&log)
    } else {
        snippet(&output)
    };
    record.set(Field::Snippet, snip);
    record.set(Field::Output, output);
    record.set(Field::Log, log);
}

fn attempt_record(
    run: &Run,
    test: &Test,
    attempt: &Attempt,
    verdict: Verdict,
    opts: &FailureOptions,
) -> FailureRecord {
    let (mut record, mut extra) = base_record(run);
    record.set(Field::Pkg, pkg_of(run, test));
    record.set(Field::Test, test.name.clone());
    record.set(
        Field::Status,
        status_word(attempt.status, attempt.raw_status()),
    );
    set_output(
        &mut record,
        attempt.combined_output(),
        log_for(run, &test.suite, opts),
        opts,
    );
    extra.insert("test_id".into(), Value::String(test.id()));
    extra.insert("attempt".into(), Value::from(attempt.index));
    extra.insert("attempts".into(), Value::from(test.attempts.len()));
    extra.insert("verdict".into(), Value::String(verdict.name().to_owned()));
    FailureRecord { record, extra }
}

fn suite_record(run: &Run, suite: &SuiteResult, opts: &FailureOptions) -> FailureRecord {
    let (mut record, mut extra) = base_record(run);
    let pkg = suite.path.first().cloned().unwrap_or_default();
    let test = suite
        .properties
        .iter()
        .find(|(k, _)| k == "test" && suite.kind == SuiteKind::Crash)
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    if suite.build_failed {
        record.set(Field::Mode, "build");
    }
    let status = suite.status.unwrap_or(Status::Error);
    record.set(Field::Pkg, pkg.clone());
    record.set(Field::Test, test);
    record.set(
        Field::Status,
        status_word(
            status,
            suite.raw_status.as_deref().filter(|r| !r.contains(' ')),
        ),
    );
    let mut output = String::new();
    for part in [&suite.message, &suite.stdout, &suite.stderr]
        .into_iter()
        .flatten()
    {
        if !output.is_empty() && !output.ends_with('\n') {
            output.push('\n');
        }
        output.push_str(part);
    }
    set_output(&mut record, output, log_for(run, &suite.path, opts), opts);
    extra.insert("test_id".into(), Value::String(pkg));
    extra.insert("attempt".into(), Value::from(suite.attempt));
    FailureRecord { record, extra }
}

/// The failure records of one run, tests first (in run order, attempts in order), then suite
/// entries.
pub fn failure_records(run: &Run, opts: &FailureOptions) -> Vec<FailureRecord> {
    let mut out = Vec::new();
    for test in &run.tests {
        let verdict = test.verdict();
        for attempt in test.attempts.iter().filter(|a| a.is_failure()) {
            out.push(attempt_record(run, test, attempt, verdict, opts));
        }
    }
    for suite in &run.suites {
        if !suite.status.is_some_and(Status::is_failure) {
            continue;
        }
        let accounted = match suite.kind {
            SuiteKind::Package => suite.has_failing_test && !suite.build_failed,
            SuiteKind::Group => run
                .tests
                .iter()
                .any(|t| t.suite == suite.path && t.attempts.iter().any(Attempt::is_failure)),
            SuiteKind::Crash => false,
            SuiteKind::Suite => true,
        };
        if !accounted {
            out.push(suite_record(run, suite, opts));
        }
    }
    out
}

/// Writes the failure records of `run` as JSON lines; returns how many were written.
pub fn write_failures<W: Write>(
    run: &Run,
    opts: &FailureOptions,
    out: &mut W,
) -> io::Result<usize> {
    let records = failure_records(run, opts);
    for record in &records {
        serde_json::to_writer(&mut *out, &record.to_json())?;
        out.write_all(b"\n")?;
    }
    Ok(records.len())
}

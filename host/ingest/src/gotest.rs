//! A `go test -json` (test2json) reader for Go 1.19 through current.
//!
//! * Each `run` … `pass`/`fail`/`skip` span of a test is one attempt; `-count=N` repeats and
//!   reruns (several package runs in one stream) add attempts in order of appearance.
//! * Output is attributed by the `Test` field, never by position (parallel tests interleave);
//!   a test's output includes that of its subtests, as a watchflakes record's `output` does.
//! * A package-level `fail` is a [`SuiteKind::Package`] entry; tests still open when their
//!   package ends (a crashed binary) become `error` attempts with raw status `CRASH`.
//! * Build failures: Go ≥ 1.24 `build-output`/`build-fail` events and `FailedBuild`, and the
//!   older non-JSON `FAIL\t<pkg> [build failed]` line (with the non-JSON lines before it as
//!   its output). Other non-JSON lines are kept in the run log with a warning.
//! * Go ≥ 1.25 `attr` events become attempt (or package) properties.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;

use serde::Deserialize;

use super::error::{IngestError, Warning, WarningKind};
use super::input::{Input, Limits, LineRead, TextBuf};
use super::model::{Attempt, Format, Origin, Run, RunMeta, Status, SuiteKind, SuiteResult};
use crate::index::TestIndex;

#[derive(Deserialize)]
struct Event<'a> {
    #[serde(rename = "Time", borrow, default)]
    time: Option<Cow<'a, str>>,
    #[serde(rename = "Action", borrow, default)]
    action: Option<Cow<'a, str>>,
    #[serde(rename = "Package", borrow, default)]
    package: Option<Cow<'a, str>>,
    #[serde(rename = "Test", borrow, default)]
    test: Option<Cow<'a, str>>,
    #[serde(rename = "Elapsed", default)]
    elapsed: Option<f64>,
    #[serde(rename = "Output", borrow, default)]
    output: Option<Cow<'a, str>>,
    #[serde(rename = "FailedBuild", borrow, default)]
    failed_build: Option<Cow<'a, str>>,
    #[serde(rename = "ImportPath", borrow, default)]
    import_path: Option<Cow<'a, str>>,
    #[serde(rename = "Key", borrow, default)]
    key: Option<Cow<'a, str>>,
    #[serde(rename = "Value", borrow, default)]
    value: Option<Cow<'a, str>>,
}

struct OpenTest {
    attempt: Attempt,
    output: TextBuf,
}

/// One run of a package: from its first event to its package-level terminal event.
struct PkgRun {
    suite: usize,
    path: Arc<[String]>,
    output: TextBuf,
    open: HashMap<String, OpenTest>,
    /// Test names in order of `run`, to close leftovers deterministically (names closed since
    /// stay and are skipped).
    order: Vec<String>,
}

struct Reader<'l> {
    limits: &'l Limits,
    source: String,
    run: Run,
    line: u64,
    pkgs: HashMap<String, PkgRun>,
    paths: HashMap<String, Arc<[String]>>,
    /// Package runs seen per package, for their attempt numbers.
    runs_of: HashMap<Arc<[String]>, u32>,
    index: TestIndex,
    build_output: HashMap<String, TextBuf>,
    failed_builds: Vec<String>,
    /// Non-JSON lines since the last JSON event (the text before a `[build failed]` line).
    loose: TextBuf,
    log: TextBuf,
    saw_record: bool,
}

/// Reads a `go test -json` stream from `input`; `source` names it in errors and in the run.
pub fn read<R: Read>(
    input: R,
    source: &str,
    meta: RunMeta,
    limits: &Limits,
) -> Result<Run, IngestError> {
    let mut input = Input::new(input, u64::MAX);
    let mut reader = Reader {
        limits,
        source: source.to_owned(),
        run: Run::new(source, Format::GoTest, meta),
        line: 0,
        pkgs: HashMap::new(),
        paths: HashMap::new(),
        runs_of: HashMap::new(),
        index: TestIndex::new(),
        build_output: HashMap::new(),
        failed_builds: Vec::new(),
        loose: TextBuf::default(),
        log: TextBuf::default(),
        saw_record: false,
    };
    let mut line = Vec::new();
    loop {
        let got = input
            .read_line(&mut line, limits.max_line)
            .map_err(|source| io_error(&input, &reader.source, source))?;
        reader.line += 1;
        match got {
            LineRead::Eof => break,
            LineRead::TooLong => {
                return Err(IngestError::LineTooLong {
                    file: reader.source.clone(),
                    line: reader.line,
                    limit: limits.max_line,
                });
            }
            LineRead::Line | LineRead::Partial => {}
        }
        // Input repairs invalid UTF-8, so this cannot fail; stay safe anyway.
        let text = String::from_utf8_lossy(&line);
        reader.line_text(&text);
    }
    let (invalid, total) = input.take_invalid();
    let shown = invalid.len() as u64;
    for pos in invalid {
        reader.warn(pos.line, pos.column, WarningKind::InvalidUtf8);
    }
    reader.run.warnings_dropped += total - shown;
    reader.finish()
}

fn io_error<R: Read>(input: &Input<R>, source: &str, err: std::io::Error) -> IngestError {
    match input.fault() {
        Some(super::input::Fault::Utf16(encoding)) => IngestError::UnsupportedEncoding {
            file: source.to_owned(),
            encoding,
        },
        _ => IngestError::Io {
            file: source.to_owned(),
            source: err,
        },
    }
}

impl Reader<'_> {
    fn warn(&mut self, line: u64, column: u64, kind: WarningKind) {
        if self.run.warnings.len() < self.limits.max_warnings {
            self.run.warnings.push(Warning { line, column, kind });
        } else {
            self.run.warnings_dropped += 1;
        }
    }

    fn line_text(&mut self, text: &str) {
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return;
        }
        if trimmed.starts_with('{')
            && let Ok(event) = serde_json::from_str::<Event<'_>>(trimmed)
            && (event.action.is_some())
        {
            self.loose = TextBuf::default();
            self.event(event);
            return;
        }
        self.non_json(text);
    }

    fn non_json(&mut self, text: &str) {
        let limit = self.limits.max_text;
        self.log.push(text, limit);
        self.log.push("\n", limit);
        self.loose.push(text, limit);
        self.loose.push("\n", limit);
        // Before Go 1.24 a build failure is only this line: `FAIL\t<pkg> [build failed]`.
        if let Some(rest) = text.strip_prefix("FAIL\t")
            && let Some((pkg, why)) = rest.trim_end().split_once(" [")
            && let Some(why) = why.strip_suffix(']')
            && why.ends_with(" failed")
        {
            self.saw_record = true;
            let path = self.path(pkg.trim());
            let mut suite = SuiteResult::new(SuiteKind::Package, path.clone());
            suite.attempt = self.next_attempt(&path);
            suite.status = Some(Status::Fail);
            suite.raw_status = Some(why.to_owned());
            suite.build_failed = true;
            let (out, _) = std::mem::take(&mut self.loose).finish(limit);
            suite.stdout = Some(out);
            self.run.suites.push(suite);
            return;
        }
        self.warn(self.line, 0, WarningKind::NonJson);
    }

    fn path(&mut self, pkg: &str) -> Arc<[String]> {
        if let Some(p) = self.paths.get(pkg) {
            return p.clone();
        }
        // The unnamed package (no `Package` in the stream) is the root: no suite.
        let parts = if pkg.is_empty() {
            Vec::new()
        } else {
            vec![pkg.to_owned()]
        };
        let p: Arc<[String]> = Arc::from(parts);
        self.paths.insert(pkg.to_owned(), p.clone());
        p
    }

    fn next_attempt(&mut self, path: &Arc<[String]>) -> u32 {
        let n = self.runs_of.entry(path.clone()).or_insert(0);
        *n += 1;
        *n
    }

    fn pkg_run(&mut self, pkg: &str) -> &mut PkgRun {
        if !self.pkgs.contains_key(pkg) {
            let path = self.path(pkg);
            let mut suite = SuiteResult::new(SuiteKind::Package, path.clone());
            suite.attempt = self.next_attempt(&path);
            self.run.suites.push(suite);
            self.pkgs.insert(
                pkg.to_owned(),
                PkgRun {
                    suite: self.run.suites.len() - 1,
                    path,
                    output: TextBuf::default(),
                    open: HashMap::new(),
                    order: Vec::new(),
                },
            );
        }
        self.pkgs.get_mut(pkg).expect("inserted above")
    }

    fn event(&mut self, e: Event<'_>) {
        self.saw_record = true;
        let limit = self.limits.max_text;
        let action = e.action.as_deref().unwrap_or("");
        match action {
            "build-output" => {
                if let (Some(path), Some(out)) = (e.import_path.as_deref(), e.output.as_deref()) {
                    self.build_output
                        .entry(path.to_owned())
                        .or_default()
                        .push(out, limit);
                    self.log.push(out, limit);
                }
                return;
            }
            "build-fail" => {
                if let Some(path) = e.import_path.as_deref() {
                    self.failed_builds.push(path.to_owned());
                }
                return;
            }
            _ => {}
        }
        // `go tool test2json` without `-p` writes no `Package`: the events belong to the one
        // unnamed package (tests at the root, no suite). A line with neither an action nor a
        // package is not an event.
        if e.package.is_none() && e.action.is_none() {
            self.warn(self.line, 0, WarningKind::NotARecord(Format::GoTest));
            return;
        }
        let pkg = e.package.as_deref().unwrap_or("").to_owned();
        if let Some(out) = e.output.as_deref() {
            self.log.push(out, limit);
        }
        match e.test.as_deref() {
            Some(test) => self.test_event(&pkg, test, action, &e),
            None => self.package_event(&pkg, action, &e),
        }
    }

    fn test_event(&mut self, pkg: &str, test: &str, action: &str, e: &Event<'_>) {
        let limit = self.limits.max_text;
        let line = self.line;
        let mut unfinished = None;
        let mut not_started = false;
        {
            let run = self.pkg_run(pkg);
            if action == "run" {
                if let Some(prev) = run.open.remove(test) {
                    unfinished = Some(prev);
                }
                let mut attempt = Attempt::new(Status::Pass, Origin::GoRun);
                if let Some(time) = e.time.as_deref() {
                    attempt.info_mut().timestamp = Some(time.to_owned());
                }
                run.open.insert(
                    test.to_owned(),
                    OpenTest {
                        attempt,
                        output: TextBuf::default(),
                    },
                );
                run.order.push(test.to_owned());
            } else if !run.open.contains_key(test)
                && matches!(action, "output" | "pass" | "fail" | "skip" | "attr")
            {
                not_started = true;
                run.open.insert(
                    test.to_owned(),
                    OpenTest {
                        attempt: Attempt::new(Status::Pass, Origin::GoRun),
                        output: TextBuf::default(),
                    },
                );
                run.order.push(test.to_owned());
            }
        }
        if let Some(prev) = unfinished {
            self.warn(line, 0, WarningKind::Unfinished(test.to_owned()));
            self.close(pkg, test, prev, crash_status());
        }
        if not_started {
            self.warn(line, 0, WarningKind::NotStarted(test.to_owned()));
        }
        match action {
            "output" | "bench" => {
                if let Some(out) = e.output.as_deref() {
                    let run = self.pkgs.get_mut(pkg).expect("package run exists");
                    // The test itself and every open ancestor (`A/B/C` → `A/B`, `A`).
                    let mut name = test;
                    loop {
                        if let Some(open) = run.open.get_mut(name) {
                            open.output.push(out, limit);
                        }
                        match name.rfind('/') {
                            Some(i) => name = &name[..i],
                            None => break,
                        }
                    }
                }
            }
            "attr" => {
                if let (Some(k), Some(v)) = (e.key.as_deref(), e.value.as_deref()) {
                    let run = self.pkgs.get_mut(pkg).expect("package run exists");
                    if let Some(open) = run.open.get_mut(test) {
                        open.attempt
                            .info_mut()
                            .properties
                            .push((k.to_owned(), v.to_owned()));
                    }
                }
            }
            "pass" | "fail" | "skip" => {
                let run = self.pkgs.get_mut(pkg).expect("package run exists");
                // `order` keeps the name; closing leftovers skips names no longer open.
                if let Some(mut open) = run.open.remove(test) {
                    open.attempt.duration = e.elapsed.filter(|d| d.is_finite() && *d >= 0.0);
                    let status = match action {
                        "pass" => (Status::Pass, None),
                        "fail" => (Status::Fail, None),
                        _ => (Status::Skip, None),
                    };
                    self.close(pkg, test, open, status);
                }
            }
            _ => {}
        }
    }

    /// Records a finished attempt of `test` in `pkg`.
    fn close(
        &mut self,
        pkg: &str,
        test: &str,
        open: OpenTest,
        (status, raw): (Status, Option<&'static str>),
    ) {
        let limit = self.limits.max_text;
        let mut attempt = open.attempt;
        attempt.status = status;
        attempt.expected = !status.is_failure();
        if let Some(raw) = raw {
            let info = attempt.info_mut();
            info.raw_status = Some(raw.to_owned());
            info.message = Some(
                "test did not finish: the test binary exited (panic, timeout, os.Exit) or the \
                 stream was cut"
                    .to_owned(),
            );
        }
        if !open.output.is_empty() {
            let total = open.output.total();
            let (out, cut) = open.output.finish(limit);
            if cut > 0 {
                self.warn(self.line, 0, WarningKind::Truncated(total));
            }
            attempt.info_mut().stdout = Some(out);
        }
        let path = self.path(pkg);
        if attempt.is_failure()
            && let Some(run) = self.pkgs.get(pkg)
        {
            self.run.suites[run.suite].has_failing_test = true;
        }
        let i = self.index.test_of(&mut self.run.tests, &path, test);
        let t = &mut self.run.tests[i];
        attempt.index = t.attempts.len() as u32 + 1;
        t.attempts.push(attempt);
    }

    fn package_event(&mut self, pkg: &str, action: &str, e: &Event<'_>) {
        let limit = self.limits.max_text;
        match action {
            "output" => {
                if let Some(out) = e.output.as_deref() {
                    self.pkg_run(pkg).output.push(out, limit);
                }
            }
            "attr" => {
                if let (Some(k), Some(v)) = (e.key.as_deref(), e.value.as_deref()) {
                    let suite = self.pkg_run(pkg).suite;
                    self.run.suites[suite]
                        .properties
                        .push((k.to_owned(), v.to_owned()));
                }
            }
            "start" => {
                self.pkg_run(pkg);
            }
            "pass" | "fail" | "skip" => {
                self.pkg_run(pkg);
                let run = self.pkgs.remove(pkg).expect("package run exists");
                let status = match action {
                    "pass" => Status::Pass,
                    "fail" => Status::Fail,
                    _ => Status::Skip,
                };
                self.end_package(run, Some(status), e);
            }
            _ => {}
        }
    }

    /// Whether a parent test of `name` (`T` of `T/a/b`, or `T/a`) has a passing last attempt
    /// in `path`.
    fn an_ancestor_passed(&mut self, path: &Arc<[String]>, name: &str) -> bool {
        let (_, path_id) = self.index.intern(path);
        let mut parent = name;
        while let Some((up, _)) = parent.rsplit_once('/') {
            parent = up;
            if let Some(i) = self.index.find(&self.run.tests, path_id, None, parent) {
                return self.run.tests[i]
                    .attempts
                    .last()
                    .is_some_and(|a| a.status == Status::Pass);
            }
        }
        false
    }

    fn end_package(&mut self, mut run: PkgRun, status: Option<Status>, e: &Event<'_>) {
        let limit = self.limits.max_text;
        // Tests still open when their package ends were cut off by a crash.
        let order = std::mem::take(&mut run.order);
        let pkg = run.path.first().cloned().unwrap_or_default();
        let mut crashed = false;
        for name in order {
            if let Some(open) = run.open.remove(&name) {
                self.warn(self.line, 0, WarningKind::Unfinished(name.clone()));
                // A subtest whose parent passed, in a package that passed, lost only its end
                // event (test2json drops them in some interleavings): it passed too. Anything
                // else still open when its package ends was cut off by a crash.
                if status == Some(Status::Pass) && self.an_ancestor_passed(&run.path, &name) {
                    self.close(&pkg, &name, open, (Status::Pass, None));
                } else {
                    self.close(&pkg, &name, open, crash_status());
                    crashed = true;
                }
            }
        }
        let suite = &mut self.run.suites[run.suite];
        suite.has_failing_test |= crashed;
        suite.status = status;
        suite.duration = e.elapsed.filter(|d| d.is_finite() && *d >= 0.0);
        suite.timestamp = e.time.as_deref().map(str::to_owned);
        if !run.output.is_empty() {
            suite.stdout = Some(run.output.finish(limit).0);
        }
        if let Some(failed) = e.failed_build.as_deref() {
            suite.build_failed = true;
            suite.raw_status = Some("build failed".to_owned());
            if let Some(out) = self.build_output.remove(failed) {
                suite.stderr = Some(out.finish(limit).0);
            }
            self.failed_builds.retain(|p| p != failed);
        }
    }

    fn finish(mut self) -> Result<Run, IngestError> {
        let limit = self.limits.max_text;
        // Packages whose stream was cut before their terminal event.
        let mut pending: Vec<PkgRun> = self.pkgs.drain().map(|(_, r)| r).collect();
        pending.sort_by_key(|r| r.suite);
        let none = Event {
            time: None,
            action: None,
            package: None,
            test: None,
            elapsed: None,
            output: None,
            failed_build: None,
            import_path: None,
            key: None,
            value: None,
        };
        for run in pending {
            self.end_package(run, None, &none);
        }
        // `build-fail` events that no package `fail` claimed (Go ≥ 1.24).
        for import_path in std::mem::take(&mut self.failed_builds) {
            let pkg = import_path
                .split_once(" [")
                .map_or(import_path.as_str(), |(p, _)| p)
                .to_owned();
            let path = self.path(&pkg);
            let mut suite = SuiteResult::new(SuiteKind::Package, path.clone());
            suite.attempt = self.next_attempt(&path);
            suite.status = Some(Status::Fail);
            suite.build_failed = true;
            suite.raw_status = Some("build failed".to_owned());
            if let Some(out) = self.build_output.remove(&import_path) {
                suite.stderr = Some(out.finish(limit).0);
            }
            self.run.suites.push(suite);
        }
        if !self.saw_record {
            return Err(if self.line <= 1 && self.log.is_empty() {
                IngestError::Empty { file: self.source }
            } else {
                IngestError::NoRecords {
                    file: self.source,
                    format: Format::GoTest,
                }
            });
        }
        if !self.log.is_empty() {
            self.run.log = Some(self.log.finish(limit).0);
        }
        Ok(self.run)
    }
}

fn crash_status() -> (Status, Option<&'static str>) {
    (Status::Error, Some("CRASH"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Verdict;

    fn parse(text: &str) -> Run {
        read(
            text.as_bytes(),
            "t.jsonl",
            RunMeta::default(),
            &Limits::default(),
        )
        .unwrap()
    }

    #[test]
    fn repeats_become_attempts_and_output_goes_by_test() {
        let run = parse(concat!(
            r#"{"Action":"run","Package":"p","Test":"TestA"}"#,
            "\n",
            r#"{"Action":"run","Package":"p","Test":"TestB"}"#,
            "\n",
            r#"{"Action":"output","Package":"p","Test":"TestA","Output":"a1\n"}"#,
            "\n",
            r#"{"Action":"output","Package":"p","Test":"TestB","Output":"b1\n"}"#,
            "\n",
            r#"{"Action":"fail","Package":"p","Test":"TestA","Elapsed":0.5}"#,
            "\n",
            r#"{"Action":"pass","Package":"p","Test":"TestB"}"#,
            "\n",
            r#"{"Action":"run","Package":"p","Test":"TestA"}"#,
            "\n",
            r#"{"Action":"pass","Package":"p","Test":"TestA"}"#,
            "\n",
            r#"{"Action":"fail","Package":"p","Elapsed":1}"#,
            "\n",
        ));
        assert_eq!(run.tests.len(), 2);
        let a = &run.tests[0];
        assert_eq!(a.name, "TestA");
        assert_eq!(a.attempts.len(), 2);
        assert_eq!(a.attempts[0].stdout(), Some("a1\n"));
        assert_eq!(a.attempts[0].duration, Some(0.5));
        assert_eq!(a.verdict(), Verdict::Flaky);
        assert_eq!(run.tests[1].attempts[0].stdout(), Some("b1\n"));
        assert_eq!(run.suites[0].status, Some(Status::Fail));
        assert!(run.suites[0].has_failing_test);
    }

    #[test]
    fn subtest_output_is_part_of_the_parent() {
        let run = parse(concat!(
            r#"{"Action":"run","Package":"p","Test":"T"}"#,
            "\n",
            r#"{"Action":"run","Package":"p","Test":"T/s"}"#,
            "\n",
            r#"{"Action":"output","Package":"p","Test":"T/s","Output":"sub\n"}"#,
            "\n",
            r#"{"Action":"fail","Package":"p","Test":"T/s"}"#,
            "\n",
            r#"{"Action":"fail","Package":"p","Test":"T"}"#,
            "\n",
        ));
        let parent = run.tests.iter().find(|t| t.name == "T").unwrap();
        assert_eq!(parent.attempts[0].stdout(), Some("sub\n"));
        // No package terminal event: the package's status stays unknown.
        assert_eq!(run.suites[0].status, None);
    }

    #[test]
    fn unfinished_tests_crash_and_build_lines_are_failures() {
        let run = parse(concat!(
            "garbage\n",
            r#"{"Action":"run","Package":"p","Test":"T"}"#,
            "\n",
            r#"{"Action":"fail","Package":"p"}"#,
            "\n",
            "# q\n",
            "FAIL\tq [build failed]\n",
        ));
        let attempt = &run.tests[0].attempts[0];
        assert_eq!(attempt.status, Status::Error);
        assert_eq!(attempt.raw_status(), Some("CRASH"));
        let build = run.suites.iter().find(|s| s.build_failed).unwrap();
        assert_eq!(&*build.path, ["q".to_owned()]);
        assert_eq!(
            build.stdout.as_deref(),
            Some("# q\nFAIL\tq [build failed]\n")
        );
        assert!(
            run.warnings
                .iter()
                .any(|w| w.kind == WarningKind::NonJson && w.line == 1)
        );
    }

    #[test]
    fn errors_name_the_line() {
        let long = format!("{}\n", "x".repeat(100));
        let limits = Limits {
            max_line: 10,
            ..Limits::default()
        };
        let err = read(long.as_bytes(), "f", RunMeta::default(), &limits).unwrap_err();
        assert_eq!(err.to_string(), "f:1: line is longer than 10 bytes");
        let err = read(&b""[..], "f", RunMeta::default(), &Limits::default()).unwrap_err();
        assert!(matches!(err, IngestError::Empty { .. }));
        let err = read(&b"hello\n"[..], "f", RunMeta::default(), &Limits::default()).unwrap_err();
        assert!(matches!(err, IngestError::NoRecords { .. }));
    }
}

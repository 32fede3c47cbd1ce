//! `flakewatch sql` through the real binary: the queries it writes for DuckDB and BigQuery,
//! run in an embedded DuckDB (`sql_duckdb.py`, with the Python of the BigQuery emulator's
//! virtual environment; a BigQuery query is first translated by the emulator's translator),
//! assign the `small`, `default` and `regex-heavy` workloads and a set of hand-made edge cases
//! byte for byte as `flakewatch match` does; PostgreSQL refuses, with the issue and rule named,
//! what its regexps cannot say with the same meaning, and a real server (when one is
//! configured) assigns the `small` workload as `match` does.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

/// The variable naming the Python of the BigQuery emulator's virtual environment (it has the
/// `duckdb` module); `scripts/test` exports it.
const PYTHON_ENV: &str = "FLAKEWATCH_BQEMULATOR_PYTHON";

/// The variable `scripts/test` sets to its throwaway PostgreSQL server.
const POSTGRES_ENV: &str = "FLAKEWATCH_TEST_POSTGRES_URL";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Runs the real `flakewatch` binary.
fn flakewatch<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    Command::new(env!("CARGO_BIN_EXE_flakewatch"))
        .args(args)
        .output()
        .expect("run flakewatch")
}

/// The Python that has `duckdb` and bqemulator, or `None` (after saying why) when none is
/// configured outside CI; under CI its absence fails the test.
#[allow(clippy::print_stderr, reason = "a skipped test says why")]
fn python(test: &str) -> Option<PathBuf> {
    match std::env::var_os(PYTHON_ENV).filter(|p| !p.is_empty()) {
        Some(python) => Some(PathBuf::from(python)),
        None => {
            assert!(
                std::env::var_os("CI").is_none(),
                "{test}: {PYTHON_ENV} is not set (scripts/test installs bqemulator, which \
                 brings duckdb, into a virtual environment and sets it)"
            );
            eprintln!(
                "{test}: skipped: {PYTHON_ENV} is not set, so there is no Python with duckdb \
                 (run scripts/test, or install bqemulator==1.4.0 and numpy into a venv and \
                 point {PYTHON_ENV} at its python)"
            );
            None
        }
    }
}

/// A workload of `benches/workload/gen_workload.py` (seed 1) with `failures` failure records
/// (the shape's own count when `None`), generated once per build directory: into a temporary
/// directory first, renamed when complete, so that an interrupted run leaves nothing half
/// written behind.
fn workload(shape: &str, failures: Option<u32>) -> PathBuf {
    let name = match failures {
        Some(n) => format!("sql-workload-{shape}-seed1-{n}"),
        None => format!("sql-workload-{shape}-seed1"),
    };
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let dir = tmp.join(&name);
    // Tests of this binary run in parallel and share workloads: one generates at a time.
    static GENERATING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = GENERATING
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if dir.join("failures.jsonl").exists() {
        return dir;
    }
    let partial = tmp.join(format!("{name}.partial"));
    let _ = std::fs::remove_dir_all(&partial);
    let mut cmd = Command::new("python3");
    cmd.arg(workspace().join("benches/workload/gen_workload.py"))
        .args(["--shape", shape, "--seed", "1"]);
    if let Some(n) = failures {
        cmd.args(["--failures", &n.to_string()]);
    }
    let out = cmd
        .arg("--out")
        .arg(&partial)
        .output()
        .expect("python3 runs the workload generator");
    assert!(
        out.status.success(),
        "gen_workload.py --shape {shape}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::rename(&partial, &dir).expect("rename the generated workload into place");
    dir
}

/// `flakewatch match`'s output for a workload directory (checked to succeed).
fn match_output(dir: &Path) -> Vec<u8> {
    let out = flakewatch([
        "match".into(),
        "--issues".into(),
        dir.join("issues.jsonl").into_os_string(),
        "--failures".into(),
        dir.join("failures.jsonl").into_os_string(),
    ] as [std::ffi::OsString; 5]);
    assert!(
        out.status.success(),
        "match on {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Writes the `dialect` query for `dir`'s issues to `dir/query.DIALECT.sql` (checked to
/// succeed) and returns its path.
fn write_query(dir: &Path, dialect: &str) -> PathBuf {
    write_query_with(dir, dialect, &[])
}

/// [`write_query`] with more arguments (`--table`, `--omit-refused`).
fn write_query_with(dir: &Path, dialect: &str, args: &[&str]) -> PathBuf {
    let path = dir.join(format!("query.{dialect}.sql"));
    let out = flakewatch(
        [
            "sql".into(),
            "--dialect".into(),
            dialect.into(),
            "--out".into(),
            path.clone().into_os_string(),
            dir.join("issues.jsonl").into_os_string(),
        ]
        .into_iter()
        .chain(args.iter().map(Into::into))
        .collect::<Vec<std::ffi::OsString>>(),
    );
    assert!(
        out.status.success(),
        "sql --dialect {dialect} on {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.stdout.is_empty(), "--out leaves standard output empty");
    path
}

/// Asserts that the DuckDB and BigQuery queries for `dir`, run in DuckDB over its failures,
/// assign every failure byte for byte as `match` does; returns `match`'s output.
fn assert_queries_assign_as_match(python: &Path, dir: &Path) -> Vec<u8> {
    let expected = match_output(dir);
    let failures = expected.iter().filter(|&&b| b == b'\n').count();
    let duckdb_sql = write_query(dir, "duckdb");
    let bigquery_sql = write_query(dir, "bigquery");
    let duckdb_out = dir.join("assigned.duckdb.jsonl");
    let bigquery_out = dir.join("assigned.bigquery.jsonl");
    let run = Command::new(python)
        .arg(workspace().join("host/cli/tests/sql_duckdb.py"))
        .arg("--failures")
        .arg(dir.join("failures.jsonl"))
        .args(["--limit", &failures.to_string(), "--duckdb"])
        .arg(&duckdb_sql)
        .arg(&duckdb_out)
        .arg("--bigquery")
        .arg(&bigquery_sql)
        .arg(&bigquery_out)
        .output()
        .expect("run sql_duckdb.py");
    assert!(
        run.status.success(),
        "sql_duckdb.py on {}: {}",
        dir.display(),
        String::from_utf8_lossy(&run.stderr)
    );
    for (dialect, path) in [("duckdb", &duckdb_out), ("bigquery", &bigquery_out)] {
        let got = std::fs::read(path).expect("read the query's assignment");
        if got != expected {
            let first = got
                .split(|&b| b == b'\n')
                .zip(expected.split(|&b| b == b'\n'))
                .position(|(g, e)| g != e);
            panic!(
                "{dialect} on {}: the query's assignment differs from match's ({} vs {} bytes; \
                 first differing failure: line {:?})",
                dir.display(),
                got.len(),
                expected.len(),
                first.map(|i| i + 1)
            );
        }
    }
    expected
}

/// How many failures of a `match` output got each action.
fn action_counts(output: &[u8]) -> [usize; 4] {
    let mut counts = [0; 4];
    for line in output.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let v: Value = serde_json::from_slice(line).expect("a match line");
        let i = ["skip", "post", "default", "new_issue"]
            .iter()
            .position(|a| v["action"] == *a)
            .expect("a known action");
        counts[i] += 1;
    }
    counts
}

/// Asserts that a workload assignment exercises every outcome: skip, post, default, new
/// issue, and posts to more than one issue when `multi_post`.
fn assert_every_outcome(name: &str, output: &[u8], multi_post: bool) {
    let counts = action_counts(output);
    assert!(
        counts.iter().all(|&c| c > 0),
        "{name}: skip/post/default/new_issue counts {counts:?}"
    );
    if multi_post {
        let text = String::from_utf8_lossy(output);
        assert!(
            text.lines()
                .any(|l| l.contains(r#""targets":["#) && l.contains(',')),
            "{name}: no failure posted to two issues"
        );
    }
}

#[test]
fn duckdb_and_bigquery_queries_assign_the_small_workload_as_match() {
    let Some(python) = python("small") else {
        return;
    };
    let dir = workload("small", None);
    let out = assert_queries_assign_as_match(&python, &dir);
    assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1000);
    assert_every_outcome("small", &out, false);
}

#[test]
fn duckdb_and_bigquery_queries_assign_the_default_workload_as_match() {
    let Some(python) = python("default") else {
        return;
    };
    let dir = workload("default", Some(3000));
    let out = assert_queries_assign_as_match(&python, &dir);
    assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 3000);
    assert_every_outcome("default", &out, true);
}

#[test]
fn duckdb_and_bigquery_queries_assign_the_regex_heavy_workload_as_match() {
    let Some(python) = python("regex-heavy") else {
        return;
    };
    let dir = workload("regex-heavy", Some(2000));
    let out = assert_queries_assign_as_match(&python, &dir);
    assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 2000);
    assert_every_outcome("regex-heavy", &out, true);
}

/// Hand-made issues (number, script) aimed at the places where SQL engines and Go's regexp
/// package could differ, with failures that fall on both sides of each.
fn edge_cases() -> (Vec<(u64, &'static str)>, Vec<Value>) {
    let issues = vec![
        // Go's simple case folding: (?i)k is k, K and the Kelvin sign.
        (101, "post <- `(?i)k` && pkg == \"fold\""),
        // `.` matches anything but \n (\r included).
        (102, "post <- `a.b` && pkg == \"dot\""),
        // (?m): ^ and $ at \n only, so FAIL\r is not a whole line.
        (103, "post <- `^FAIL$`"),
        // ASCII \b: é is not a word character.
        (104, "post <- `\\bgo\\b`"),
        // ASCII \d: Arabic-Indic digits are not digits.
        (105, "post <- `^\\d+$`"),
        // \s is [\t\n\f\r ]: no vertical tab, no non-breaking space.
        (106, "post <- `x\\sy`"),
        // Byte order (UTF-8), not a locale's collation.
        (107, "post <- pkg == \"cmp\" && test < \"é\""),
        (108, "post <- pkg == \"cmp\" && test <= \"Ω\""),
        // Quotes and backslashes in regexps and literals.
        (109, "post <- `it's \\\\ ok`"),
        (110, "post <- pkg == \"a'b\\\\c\""),
        // Control characters in literals and text.
        (111, "post <- pkg == \"a\\tb\""),
        (112, "post <- `\\x00`"),
        // The empty regexp matches everything, empty and missing output too (the highest
        // number: every other default comes first).
        (199, "default <- ``"),
        // $ at the very end, \z only at the very end.
        (114, "post <- `x$` && pkg == \"end\""),
        (115, "post <- `x\\z` && pkg == \"end\""),
        // An action that means nothing still hides the rules after it.
        (116, "take <- pkg == \"hide\"\npost <- pkg == \"hide\""),
        // A missing field reads as "".
        (117, "post <- goos != \"windows\" && pkg == \"nogoos\""),
        // skip wins over every post and default, whatever the numbers.
        (118, "skip <- pkg == \"skipme\""),
        // Unicode classes with Go's tables.
        (119, "post <- `\\pL\\pN` && pkg == \"uni\""),
        (120, "post <- `(?s)a.b` && pkg == \"dotall\""),
        (121, "default <- date < \"2025-01-01\" && pkg == \"old\""),
        (122, "post <- `\\B-\\B` && pkg == \"nb\""),
        // A class of no character (a lone surrogate): never matches.
        (123, "post <- `\\x{D800}`"),
        (124, "post <- `\\x{10FFFF}|🙂`"),
        (125, "post <- `(?:ab){2,3}c` && pkg == \"rep\""),
        (126, "post <- `[^a]` && pkg == \"neg\""),
        (127, "post <- `\\Q.*\\E`"),
        (128, "skip <- pkg == \"skip2\"\npost <- pkg == \"skipme\""),
        (129, "post <- `(?i)straße`"),
        // The first rule that matches decides: default before post.
        (
            130,
            "default <- pkg == \"order\" || pkg == \"order2\"\npost <- pkg == \"order\"",
        ),
        (131, "post <- pkg == \"order\" || pkg == \"skipme\""),
    ];
    let failures = vec![
        json!({"pkg": "fold", "output": "\u{212a}"}),
        json!({"pkg": "fold", "output": "K"}),
        json!({"pkg": "fold", "output": "x"}),
        json!({"pkg": "dot", "output": "a\nb"}),
        json!({"pkg": "dot", "output": "a\rb"}),
        json!({"output": "x\nFAIL\r\n"}),
        json!({"output": "x\nFAIL\ny"}),
        json!({"output": "FAIL"}),
        json!({"output": "go-lang"}),
        json!({"output": "gopher"}),
        json!({"output": "é go"}),
        json!({"output": "ago"}),
        json!({"output": "٣"}),
        json!({"output": "123\n"}),
        json!({"output": "x\u{b}y"}),
        json!({"output": "x\u{c}y"}),
        json!({"output": "x\u{a0}y"}),
        json!({"pkg": "cmp", "test": "z"}),
        json!({"pkg": "cmp", "test": "é"}),
        json!({"pkg": "cmp", "test": "ê"}),
        json!({"pkg": "cmp", "test": "Ω"}),
        json!({"pkg": "cmp", "test": "ꭥ"}),
        json!({"pkg": "cmp", "test": "\u{1F600}"}),
        json!({"pkg": "cmp"}),
        json!({"output": "it's \\ ok"}),
        json!({"pkg": "a'b\\c"}),
        json!({"pkg": "a\tb"}),
        json!({"output": "nul\u{0}here"}),
        json!({}),
        json!({"output": ""}),
        json!({"pkg": "end", "output": "x"}),
        json!({"pkg": "end", "output": "x\n"}),
        json!({"pkg": "hide"}),
        json!({"pkg": "nogoos"}),
        json!({"pkg": "nogoos", "goos": "windows"}),
        json!({"pkg": "nogoos", "goos": ""}),
        json!({"pkg": "skipme", "output": "go"}),
        json!({"pkg": "skip2"}),
        json!({"pkg": "uni", "output": "ǅ٣"}),
        json!({"pkg": "uni", "output": "a_1"}),
        json!({"pkg": "uni", "output": "ᏸ𝟘"}),
        json!({"pkg": "dotall", "output": "a\nb"}),
        json!({"pkg": "old", "date": "2024-12-31T23:59:59Z"}),
        json!({"pkg": "old", "date": "2025-01-01"}),
        json!({"pkg": "nb", "output": "--"}),
        json!({"pkg": "nb", "output": "a-b"}),
        json!({"output": "\u{10FFFF}"}),
        json!({"output": "🙂"}),
        json!({"pkg": "rep", "output": "ababc"}),
        json!({"pkg": "rep", "output": "abc"}),
        json!({"pkg": "neg", "output": "a"}),
        json!({"pkg": "neg", "output": "aé"}),
        json!({"pkg": "neg", "output": ""}),
        json!({"output": "x.*y"}),
        json!({"output": "STRASSE"}),
        json!({"output": "STRAẞE"}),
        json!({"pkg": "order"}),
        json!({"pkg": "order2"}),
    ];
    (issues, failures)
}

/// Writes issues (in descending number, as a tracker may list them) and failures as JSON
/// lines into a fresh directory `name` under the build's temporary directory.
fn write_set(name: &str, issues: &[(u64, &str)], failures: &[Value]) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the test directory");
    let mut text = String::new();
    for (number, script) in issues.iter().rev() {
        let body = format!("```\n#!watchflakes\n{script}\n```\n");
        text.push_str(&json!({"number": number, "body": body}).to_string());
        text.push('\n');
    }
    std::fs::write(dir.join("issues.jsonl"), text).expect("write issues");
    let mut text = String::new();
    for failure in failures {
        text.push_str(&failure.to_string());
        text.push('\n');
    }
    std::fs::write(dir.join("failures.jsonl"), text).expect("write failures");
    dir
}

#[test]
fn duckdb_and_bigquery_queries_assign_the_edge_cases_as_match() {
    let Some(python) = python("edge cases") else {
        return;
    };
    let (issues, failures) = edge_cases();
    let dir = write_set("sql-edge-cases", &issues, &failures);
    let out = assert_queries_assign_as_match(&python, &dir);
    let out = String::from_utf8(out).expect("UTF-8 output");
    assert_eq!(out.lines().count(), failures.len());
    // Each case decides something for some failure (so the comparison above covers it),
    // except the rule hidden by `take` and the regexp that matches no text.
    let mut seen = BTreeSet::new();
    for line in out.lines() {
        let v: Value = serde_json::from_str(line).expect("a match line");
        for t in v["targets"].as_array().expect("targets") {
            seen.insert(t.as_u64().expect("an issue number"));
        }
    }
    let expected: BTreeSet<u64> = issues
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| ![116, 123].contains(n))
        .collect();
    assert_eq!(seen, expected);
    // A few of the assignments spelled out: Go's meaning, which both queries reproduced.
    let assigned = |failure: Value| -> &str {
        let i = failures
            .iter()
            .position(|f| *f == failure)
            .expect("a failure of the set");
        out.lines().nth(i).expect("a line per failure")
    };
    for (failure, expected, why) in [
        (
            json!({"pkg": "fold", "output": "\u{212a}"}),
            r#"{"action":"post","targets":[101]}"#,
            "(?i)k matches the Kelvin sign",
        ),
        (
            json!({"output": "x\nFAIL\r\n"}),
            r#"{"action":"default","targets":[199]}"#,
            "^FAIL$ does not match FAIL\\r",
        ),
        (
            json!({"output": "٣"}),
            r#"{"action":"default","targets":[199]}"#,
            "\\d is ASCII",
        ),
        (
            json!({"pkg": "old", "date": "2024-12-31T23:59:59Z"}),
            r#"{"action":"default","targets":[121]}"#,
            "the lowest default",
        ),
        (
            json!({"pkg": "skipme", "output": "go"}),
            r#"{"action":"skip","targets":[118]}"#,
            "skip wins over post",
        ),
        (
            json!({"pkg": "order"}),
            r#"{"action":"post","targets":[131]}"#,
            "post wins over a lower default",
        ),
        (
            json!({"pkg": "order2"}),
            r#"{"action":"default","targets":[130]}"#,
            "the lowest default",
        ),
    ] {
        assert_eq!(assigned(failure), expected, "{why}");
    }
}

/// Runs `flakewatch sql` on `issues` (written to a fresh directory `name`) with `args`.
fn sql_on(name: &str, issues: &[(u64, &str)], args: &[&str]) -> Output {
    let dir = write_set(name, issues, &[]);
    let mut all: Vec<std::ffi::OsString> = vec!["sql".into()];
    all.extend(args.iter().map(Into::into));
    all.push(dir.join("issues.jsonl").into_os_string());
    flakewatch(all)
}

#[test]
fn postgres_refuses_rules_it_cannot_say_and_names_issue_and_rule() {
    let issues = [
        (7, "post <- pkg == \"net\""),
        (8, "post <- pkg == \"os\"\ndefault <- `a{256}`"),
        (9, "post <- pkg == \"a\\x00b\""),
        (10, "post <- `x{255}`"),
    ];
    let out = sql_on("sql-pg-refusals", &issues, &["--dialect", "postgres"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(out.stdout.is_empty(), "no query is written");
    assert!(
        stderr.contains("2 rule(s) cannot be written in postgres with the same meaning"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "issue #8, rule 2: output ~ `a{256}` has repetition count 256 \
             (PostgreSQL allows at most 255)"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "issue #9, rule 1: the literal compared with pkg has a NUL character \
             (PostgreSQL text cannot hold one)"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("issue #7") && !stderr.contains("issue #10"));
    assert!(stderr.contains("--omit-refused"), "{stderr}");

    // With --omit-refused: the query, without #8 and #9, and the issues named.
    let out = sql_on(
        "sql-pg-omit",
        &issues,
        &["--dialect", "postgres", "--omit-refused"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(
            "2 issue(s) left out of the postgres query (they match nothing there): #8, #9"
        ),
        "{stderr}"
    );
    let query = String::from_utf8(out.stdout).expect("UTF-8 query");
    assert!(query.contains("-- left out (rules postgres cannot express): #8, #9"));
    assert!(
        query.contains("THEN 7 END") && query.contains("(?:x){255}"),
        "{query}"
    );
    assert!(
        !query.contains("THEN 8 ") && !query.contains("THEN 9 "),
        "{query}"
    );

    // The same rules in DuckDB and BigQuery (RE2 allows 1000 repetitions; a NUL is text there).
    for dialect in ["duckdb", "bigquery"] {
        let out = sql_on("sql-pg-others", &issues, &["--dialect", dialect]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{dialect}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let query = String::from_utf8(out.stdout).expect("UTF-8 query");
        assert!(query.contains("{256}"), "{dialect}: {query}");
    }
}

#[test]
fn postgres_accepts_what_means_the_same() {
    let issues = [
        (
            3,
            "post <- `(?i)timeout` && pkg ~ `^net/` && test < \"TestZ\"",
        ),
        (4, "skip <- `\\bpanic\\b` || `^FAIL$`"),
        (5, "default <- `\\Ax\\z` || `\\pL+\\d{2,255}`"),
    ];
    let out = sql_on("sql-pg-accepts", &issues, &["--dialect", "postgres"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let query = String::from_utf8(out.stdout).expect("UTF-8 query");
    assert!(query.starts_with("-- flakewatch sql (postgres): 3 issues, 3 deciding"));
    assert!(query.contains("COLLATE \"C\" ~ E'(?w)"), "{query}");
    assert!(query.contains("\"failures\""), "{query}");
}

#[test]
fn bad_names_are_usage_errors() {
    let issues = [(7, "post <- pkg == \"net\"")];
    for (flag, value) in [
        ("--table", "a;drop"),
        ("--key", "1line"),
        ("--table", "a.b.c.d"),
    ] {
        let out = sql_on(
            "sql-bad-names",
            &issues,
            &["--dialect", "duckdb", flag, value],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{flag} {value}: {stderr}");
        assert!(stderr.contains(flag), "{stderr}");
        assert!(out.stdout.is_empty());
    }
    let out = sql_on(
        "sql-good-names",
        &issues,
        &[
            "--dialect",
            "bigquery",
            "--table",
            "my-proj.ci.failures",
            "--key",
            "row_id",
        ],
    );
    assert!(out.status.success());
    let query = String::from_utf8(out.stdout).expect("UTF-8 query");
    assert!(query.contains("FROM `my-proj.ci.failures`"), "{query}");
    assert!(query.contains("SELECT `row_id` AS k"), "{query}");
}

/// The fields of a failure record, in the order of the PostgreSQL table's columns.
const FIELDS: [&str; 13] = [
    "section", "pkg", "test", "mode", "output", "snippet", "date", "builder", "repo", "goos",
    "goarch", "log", "status",
];

/// A schema of its own on the test server (`FLAKEWATCH_TEST_POSTGRES_URL`), dropped at the
/// end; `None` (after saying so) when no server is configured outside CI.
struct TestSchema {
    client: postgres::Client,
    name: String,
}

impl TestSchema {
    #[allow(clippy::print_stderr, reason = "a test without a server says why")]
    fn new(test: &str) -> Option<TestSchema> {
        let url = match std::env::var(POSTGRES_ENV) {
            Ok(url) if !url.is_empty() => url,
            _ => {
                assert!(
                    std::env::var_os("CI").is_none(),
                    "{test}: {POSTGRES_ENV} is not set: CI runs the tests through scripts/test"
                );
                eprintln!(
                    "{test}: skipped: {POSTGRES_ENV} is unset (scripts/test starts a server)"
                );
                return None;
            }
        };
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let name = format!("flakewatch_sql_{}_{n}", std::process::id());
        let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
        client
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}"
            ))
            .expect("create a schema");
        Some(TestSchema { client, name })
    }

    /// Loads `dir`'s failures into `SCHEMA.failures` (`line` 1-based, a text column per
    /// field, NULL when the record has none), runs `dir`'s PostgreSQL query over them, and
    /// returns its assignment in `match`'s format.
    fn assign(&mut self, dir: &Path, extra: &[&str]) -> Vec<u8> {
        let table = format!("{}.failures", self.name);
        let columns: Vec<String> = FIELDS.iter().map(|f| format!("{f} TEXT")).collect();
        self.client
            .batch_execute(&format!(
                "CREATE TABLE {table} (line BIGINT PRIMARY KEY, {})",
                columns.join(", ")
            ))
            .expect("create the failures table");
        let placeholders: Vec<String> = (1..=FIELDS.len() + 1).map(|i| format!("${i}")).collect();
        let text = std::fs::read_to_string(dir.join("failures.jsonl")).expect("read failures");
        let mut tx = self.client.transaction().expect("begin");
        let insert = tx
            .prepare(&format!(
                "INSERT INTO {table} VALUES ({})",
                placeholders.join(", ")
            ))
            .expect("prepare the insert");
        let mut count = 0i64;
        for line in text.lines() {
            count += 1;
            let record: Value = serde_json::from_str(line).expect("a failure record");
            let values: Vec<Option<String>> = FIELDS
                .iter()
                .map(|f| record[*f].as_str().map(str::to_owned))
                .collect();
            let mut params: Vec<&(dyn postgres::types::ToSql + Sync)> = vec![&count];
            params.extend(
                values
                    .iter()
                    .map(|v| v as &(dyn postgres::types::ToSql + Sync)),
            );
            tx.execute(&insert, &params).expect("insert a failure");
        }
        tx.commit().expect("commit");
        let mut args = vec!["--table", &table];
        args.extend_from_slice(extra);
        let query = std::fs::read_to_string(write_query_with(dir, "postgres", &args))
            .expect("read the query");
        // As the query's header says: with JIT on, PostgreSQL compiles the large expression
        // with LLVM for longer than the query runs (minutes, without answering a cancel).
        assert!(query.contains("SET jit = off"), "{query}");
        self.client
            .batch_execute("SET jit = off")
            .expect("turn JIT off");
        let rows = self
            .client
            .query(&format!("SELECT * FROM ({query}) AS q ORDER BY 1"), &[])
            .expect("run the PostgreSQL query");
        assert_eq!(rows.len(), usize::try_from(count).expect("a count"));
        let mut out = String::new();
        for (i, row) in rows.iter().enumerate() {
            let line: i64 = row.get(0);
            assert_eq!(line, i64::try_from(i).expect("an index") + 1);
            let action: String = row.get(1);
            let targets: Vec<i64> = row.get(2);
            let targets: Vec<String> = targets.iter().map(i64::to_string).collect();
            out.push_str(&format!(
                "{{\"action\":\"{action}\",\"targets\":[{}]}}\n",
                targets.join(",")
            ));
        }
        out.into_bytes()
    }
}

impl Drop for TestSchema {
    fn drop(&mut self) {
        let _ = self
            .client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name));
    }
}

#[test]
fn a_postgres_server_assigns_the_small_workload_as_match() {
    let Some(mut schema) = TestSchema::new("postgres small") else {
        return;
    };
    let dir = workload("small", None);
    let expected = match_output(&dir);
    let got = schema.assign(&dir, &[]);
    assert!(
        got == expected,
        "the PostgreSQL query's assignment differs from match's"
    );
    assert_every_outcome("small", &got, false);
}

#[test]
fn a_postgres_server_assigns_the_edge_cases_as_match() {
    let Some(mut schema) = TestSchema::new("postgres edge cases") else {
        return;
    };
    // Without what PostgreSQL cannot hold: the issue searching for a NUL (refused) and the
    // failure holding one.
    let (issues, failures) = edge_cases();
    let issues: Vec<(u64, &str)> = issues.into_iter().filter(|(n, _)| *n != 112).collect();
    let failures: Vec<Value> = failures
        .into_iter()
        .filter(|f| !f.to_string().contains("\\u0000"))
        .collect();
    let dir = write_set("sql-edge-cases-postgres", &issues, &failures);
    let expected = match_output(&dir);
    let got = schema.assign(&dir, &[]);
    assert_eq!(
        String::from_utf8(got).expect("UTF-8"),
        String::from_utf8(expected).expect("UTF-8")
    );
}

#[test]
fn a_postgres_server_assigns_the_default_workload_as_match() {
    let Some(mut schema) = TestSchema::new("postgres default") else {
        return;
    };
    let dir = workload("default", Some(3000));
    let expected = match_output(&dir);
    let got = schema.assign(&dir, &[]);
    assert!(
        got == expected,
        "default: the PostgreSQL query's assignment differs from match's"
    );
}

#[test]
fn a_postgres_server_assigns_the_regex_heavy_workload_as_match() {
    let Some(mut schema) = TestSchema::new("postgres regex-heavy") else {
        return;
    };
    let dir = workload("regex-heavy", Some(2000));
    let expected = match_output(&dir);
    let got = schema.assign(&dir, &[]);
    assert!(
        got == expected,
        "regex-heavy: the PostgreSQL query's assignment differs from match's"
    );
}

#[test]
fn an_order_comparison_with_a_non_utf8_literal_is_refused_in_every_dialect() {
    // Go compares bytes, and no SQL text literal holds "\xff"; equality with it is FALSE.
    let issues = [
        (5, "post <- test < \"\\xff\""),
        (6, "post <- test == \"\\xff\" || pkg == \"x\""),
    ];
    for dialect in ["duckdb", "bigquery", "postgres"] {
        let out = sql_on("sql-non-utf8", &issues, &["--dialect", dialect]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{dialect}: {stderr}");
        assert!(
            stderr.contains(&format!(
                "1 rule(s) cannot be written in {dialect} with the same meaning"
            )) && stderr.contains("issue #5, rule 1: the literal compared with test"),
            "{dialect}: {stderr}"
        );
        let out = sql_on(
            "sql-non-utf8",
            &issues,
            &["--dialect", dialect, "--omit-refused"],
        );
        assert_eq!(out.status.code(), Some(0), "{dialect}");
        let query = String::from_utf8(out.stdout).expect("UTF-8 query");
        assert!(query.contains("WHEN (FALSE OR "), "{dialect}: {query}");
    }
}

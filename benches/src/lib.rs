//! Input generators for the flakewatch benchmarks: JUnit documents (`benches/ingest.rs`) and
//! watchflakes workloads ([`workload`], for `benches/matching.rs`).
//!
//! The generated JUnit document mixes what real files carry: passing cases, failures and
//! errors with multi-line bodies, skips, captured output in CDATA, entity references,
//! Surefire/nextest flaky and rerun elements, and several suites.

use std::fmt::Write;

/// A deterministic pseudo-random sequence (64-bit LCG), so every run benchmarks the same bytes.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
}

/// A JUnit XML document with `suites` suites of `cases` test cases each.
pub fn junit_document(suites: usize, cases: usize) -> String {
    let mut rng = Lcg(0x5eed);
    let mut out = String::with_capacity(suites * cases * 260);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"bench-run\" tests=\"{}\" failures=\"0\" errors=\"0\" time=\"12.5\">",
        suites * cases
    );
    for s in 0..suites {
        let _ = writeln!(
            out,
            "  <testsuite name=\"pkg{s}.module\" tests=\"{cases}\" failures=\"0\" errors=\"0\" \
             skipped=\"0\" time=\"3.25\" timestamp=\"2026-01-01T00:00:00Z\" hostname=\"ci-7\">"
        );
        out.push_str(
            "    <properties>\n      <property name=\"java.version\" value=\"21\"/>\n    \
             </properties>\n",
        );
        for c in 0..cases {
            let class = format!("pkg{s}.module.Class{}", c % 17);
            let time = format!("{}.{:03}", rng.next() % 3, rng.next() % 1000);
            let roll = rng.next() % 100;
            let _ = write!(
                out,
                "    <testcase name=\"test_case_{c}[param-{}]\" classname=\"{class}\" time=\"{time}\"",
                c % 5
            );
            match roll {
                0..=69 => out.push_str("/>\n"),
                70..=79 => {
                    out.push_str(">\n      <system-out><![CDATA[starting\nconnected to db on port 5432\ndone in 12ms\n]]></system-out>\n    </testcase>\n");
                }
                80..=87 => {
                    let _ = write!(
                        out,
                        ">\n      <failure message=\"assertion failed: left &lt; right (3 &gt; 2) &amp; more\" type=\"AssertionError\">Traceback (most recent call last):\n  File &quot;tests/test_{c}.py&quot;, line 42, in test_case_{c}\n    assert left &lt; right\nAssertionError: 3 &lt; 2 is false\n</failure>\n      <system-out><![CDATA[log line one\nlog line two <with> markup\n]]></system-out>\n      <system-err>warning: deprecated API</system-err>\n    </testcase>\n"
                    );
                }
                88..=91 => {
                    out.push_str(">\n      <error message=\"RuntimeError: connection reset\" type=\"RuntimeError\">java.lang.RuntimeException: connection reset\n\tat pkg.Class.method(Class.java:10)\n\tat pkg.Class.run(Class.java:20)\n</error>\n    </testcase>\n");
                }
                92..=95 => {
                    out.push_str(">\n      <skipped message=\"requires network\" type=\"pytest.skip\"/>\n    </testcase>\n");
                }
                96..=98 => {
                    out.push_str(">\n      <flakyFailure message=\"timeout after 30s\" type=\"java.util.concurrent.TimeoutException\" time=\"30.001\">\n        <stackTrace><![CDATA[java.util.concurrent.TimeoutException: timeout\n\tat pkg.Waiter.await(Waiter.java:77)\n]]></stackTrace>\n        <system-out>attempt 1 output</system-out>\n      </flakyFailure>\n      <flakyError message=\"NPE\" type=\"java.lang.NullPointerException\">\n        <stackTrace>java.lang.NullPointerException\n\tat pkg.X.y(X.java:1)</stackTrace>\n      </flakyError>\n    </testcase>\n");
                }
                _ => {
                    out.push_str(">\n      <failure message=\"always fails\" type=\"AssertionError\">first attempt</failure>\n      <rerunFailure message=\"always fails\" type=\"AssertionError\">\n        <stackTrace>second attempt</stackTrace>\n      </rerunFailure>\n    </testcase>\n");
                }
            }
        }
        out.push_str("    <system-out><![CDATA[suite output\n]]></system-out>\n  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// The aggregation of the runs [`aggregation_runs`] wrote in `dir`: static run info, the
/// generated history, single-node topology (no disruption suite), nothing written.
pub fn aggregation_request(
    dir: &std::path::Path,
    ids: Vec<String>,
) -> flakewatch_aggregate::Request {
    flakewatch_aggregate::Request {
        job: "bench-job".into(),
        selection: flakewatch_aggregate::runs::Selection::All,
        runs_dir: dir.to_path_buf(),
        run_ids: Some(ids),
        gcs_prefix: None,
        label: Some("4.22.0-0.ci-2026-01-01-000000".into()),
        history: flakewatch_aggregate::HistoryInput::Rows(dir.join("history.json")),
        disruption_history: None,
        topology: Some("single".into()),
        variants: None,
        now: flakewatch_core::time::Timestamp::UNIX_EPOCH,
        working_dir: None,
    }
}

/// Writes `runs` OpenShift-style runs of one job (`<dir>/<id>/finished.json` and
/// `artifacts/.../junit/junit_e2e.xml`, a bare `openshift-tests` suite of `tests` cases) and a
/// `history.json` of `TestRuns_Summary_Last200Runs` rows for them; returns the run IDs.
///
/// Most tests pass everywhere; a few fail now and then, flake (a failing then a passing
/// occurrence in one run, as openshift-tests retries), are skipped, or miss some runs, so every
/// verdict rule and the YAML of every entry kind are exercised.
pub fn aggregation_runs(
    dir: &std::path::Path,
    runs: usize,
    tests: usize,
) -> std::io::Result<Vec<String>> {
    let mut rng = Lcg(0xa66);
    let ids: Vec<String> = (0..runs)
        .map(|i| format!("{}", 1_900_000_000_000_000_000u64 + i as u64))
        .collect();
    let kinds: Vec<u64> = (0..tests).map(|_| rng.next() % 100).collect();
    for id in &ids {
        let run = dir.join(id);
        let junit = run.join("artifacts/e2e-aws-ovn/openshift-e2e-test/artifacts/junit");
        std::fs::create_dir_all(&junit)?;
        let mut xml = String::with_capacity(tests * 120);
        let _ = writeln!(
            xml,
            "<testsuite name=\"openshift-tests\" tests=\"{tests}\" skipped=\"0\" failures=\"0\" time=\"3600\">"
        );
        for (t, kind) in kinds.iter().enumerate() {
            let name = format!(
                "[sig-bench{}] test {t} should work [Suite:openshift/conformance/parallel]",
                t % 40
            );
            let roll = rng.next() % 100;
            let body = match kind {
                0..=89 => "",
                90..=93 if roll < 20 => {
                    "<failure message=\"timeout\">fail: timed out waiting</failure>"
                }
                90..=93 => "",
                94..=95 if roll < 30 => {
                    // A retry: failed, then passed, in the same run.
                    let _ = writeln!(
                        xml,
                        "<testcase name=\"{name}\" time=\"1\"><failure message=\"flake\">first try</failure></testcase>"
                    );
                    ""
                }
                94..=95 => "",
                96..=97 => "<skipped message=\"not on this platform\"/>",
                _ if roll < 40 => continue,
                _ => "",
            };
            if body.is_empty() {
                let _ = writeln!(xml, "<testcase name=\"{name}\" time=\"2.5\"/>");
            } else {
                let _ = writeln!(
                    xml,
                    "<testcase name=\"{name}\" time=\"2.5\">{body}</testcase>"
                );
            }
        }
        xml.push_str("</testsuite>\n");
        std::fs::write(junit.join("junit_e2e__20260101-000000.xml"), xml)?;
        std::fs::write(
            run.join("finished.json"),
            "{\"timestamp\": 1767225600, \"passed\": true, \"result\": \"SUCCESS\"}",
        )?;
    }
    let mut history = String::from("[");
    for t in 0..tests {
        if t % 50 == 49 {
            continue; // new tests: no history row
        }
        let pct = 90.0 + (rng.next() % 1000) as f64 / 100.0;
        let _ = write!(
            history,
            "{}{{\"TestName\":\"[sig-bench{}] test {t} should work [Suite:openshift/conformance/parallel]\",\"TestSuiteName\":\"openshift-tests\",\"JobName\":\"bench-job\",\"PassCount\":180,\"FailCount\":10,\"FlakeCount\":10,\"PassPercentage\":{pct},\"WorkingPercentage\":{pct}}}",
            if history.len() > 1 { "," } else { "" },
            t % 40
        );
    }
    history.push(']');
    std::fs::write(dir.join("history.json"), history)?;
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;
    use flakewatch_ingest::{self as ingest, Limits, RunMeta};

    #[test]
    fn generated_document_reads_back() {
        let doc = junit_document(3, 200);
        let run = ingest::junit::read(
            doc.as_bytes(),
            "gen.xml",
            RunMeta::default(),
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(run.suites.len(), 3);
        // `test_case_{c}[param-{c % 5}]` names repeat across classes but never within one.
        assert_eq!(run.tests.len(), 600);
        let counts = run.counts();
        assert!(counts.failed > 0 && counts.flaky > 0 && counts.skipped > 0);
        assert!(run.warnings.is_empty());
        assert!(doc.starts_with("<?xml"));
    }

    /// The comparison is only fair if every reader accepts the same document.
    #[test]
    fn other_readers_accept_the_document() {
        let doc = junit_document(2, 100);
        let report = quick_junit::Report::deserialize_from_str(&doc).unwrap();
        assert_eq!(report.test_suites.len(), 2);
        let suites = junit_parser::from_reader(std::io::Cursor::new(doc.as_bytes())).unwrap();
        assert_eq!(suites.suites.len(), 2);
    }

    /// The aggregation benchmark's runs aggregate, with every verdict kind present.
    #[test]
    fn generated_runs_aggregate() {
        use flakewatch_aggregate::verdict::Rule;
        use flakewatch_aggregate::{Mode, Settings, aggregate};

        let dir = tempfile::tempdir().unwrap();
        let ids = aggregation_runs(dir.path(), 10, 400).unwrap();
        let request = aggregation_request(dir.path(), ids);
        let result = aggregate(&request, &Settings::profile(Mode::Compat)).unwrap();
        let tests = &result.report.tests;
        assert_eq!(tests.len(), 400);
        assert!(tests.iter().any(|t| t.verdict.flakes > 0));
        assert!(tests.iter().any(|t| t.verdict.rule == Rule::DidNotRun));
        assert!(tests.iter().any(|t| t.verdict.rule == Rule::RequiredPasses));
        assert!(result.report.runs.iter().all(|r| r.finished));
    }
}

pub mod workload;

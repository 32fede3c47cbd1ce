//! The output files: `junit-aggregated.xml` (as Go's `xml.Marshal` writes upstream's JUnit
//! types: no declaration, no indentation, Go's escapes), the per-test YAML details,
//! `aggregation-config.yaml`, and the readable Markdown summary.

use std::fmt::Write as _;

use super::verdict::{CheckStatus, HistorySource};
use super::yaml::{self, Value};
use crate::summary::{Outcome, Report, TestReport};

/// A testcase of the output.
#[derive(Clone, Debug, PartialEq)]
pub struct OutCase {
    /// Name.
    pub name: String,
    /// `lifecycle` attribute.
    pub lifecycle: Option<String>,
    /// `<properties>`.
    pub properties: Vec<(String, String)>,
    /// Judgement.
    pub status: CheckStatus,
    /// The `<failure message>` (failed) or `<skipped message>` (skipped).
    pub message: String,
    /// The YAML details (`<system-out>`, and the failure's text); empty means none.
    pub system_out: String,
}

/// A suite of the output.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OutSuite {
    /// Name.
    pub name: String,
    /// The `tests` attribute (upstream never fills it: 0).
    pub tests: usize,
    /// Failed testcases here and in children.
    pub failures: usize,
    /// Testcases.
    pub cases: Vec<OutCase>,
    /// Child suites.
    pub children: Vec<OutSuite>,
}

/// Escapes as Go's `xml.EscapeText`/`EscapeString` do. Runs of characters that need no
/// escape are copied whole (the YAML in every `<system-out>` is mostly such runs).
pub fn go_escape(s: &str, out: &mut String) {
    /// Bytes copied as they are: printable ASCII but for the five XML specials.
    const PLAIN: [bool; 256] = {
        let mut t = [false; 256];
        let mut b = 0x20;
        while b < 0x80 {
            t[b] = !matches!(b as u8, b'"' | b'\'' | b'&' | b'<' | b'>');
            b += 1;
        }
        t
    };
    let bytes = s.as_bytes();
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        while i < bytes.len() && PLAIN[bytes[i] as usize] {
            i += 1;
        }
        let Some(&b) = bytes.get(i) else { break };
        let replacement = match b {
            b'"' => "&#34;",
            b'\'' => "&#39;",
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'\t' => "&#x9;",
            b'\n' => "&#xA;",
            b'\r' => "&#xD;",
            0x20..=0x7f => {
                i += 1;
                continue;
            }
            0x80.. => {
                let c = s[i..].chars().next().unwrap_or('\u{FFFD}');
                if in_xml_range(c) {
                    i += c.len_utf8();
                    continue;
                }
                "\u{FFFD}"
            }
            // Other control characters are not XML characters.
            _ => "\u{FFFD}",
        };
        out.push_str(&s[copied..i]);
        out.push_str(replacement);
        i += s[i..].chars().next().map_or(1, char::len_utf8);
        copied = i;
    }
    out.push_str(&s[copied..]);
}

fn in_xml_range(c: char) -> bool {
    matches!(c as u32, 0x09 | 0x0A | 0x0D | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

fn attr(out: &mut String, name: &str, value: &str) {
    out.push(' ');
    out.push_str(name);
    out.push_str("=\"");
    go_escape(value, out);
    out.push('"');
}

/// Writes `<testsuites>` with the suites, as upstream's `xml.Marshal` of `junit.TestSuites`.
pub fn junit_xml(suites: &[OutSuite]) -> String {
    /// The unescaped text a suite carries (escaping adds about a fifth: `&#xA;` per line).
    fn text_len(suite: &OutSuite) -> usize {
        let cases: usize = suite
            .cases
            .iter()
            .map(|c| {
                let failure = if c.status == CheckStatus::Failed {
                    c.message.len() * 2 + c.system_out.len()
                } else {
                    0
                };
                c.name.len() + c.system_out.len() + failure + 128
            })
            .sum();
        cases + suite.children.iter().map(text_len).sum::<usize>()
    }
    let text: usize = suites.iter().map(text_len).sum();
    let mut out = String::with_capacity(text + text / 4 + 64);
    out.push_str("<testsuites>");
    for suite in suites {
        write_suite(&mut out, suite);
    }
    out.push_str("</testsuites>");
    out
}

fn write_suite(out: &mut String, suite: &OutSuite) {
    out.push_str("<testsuite");
    attr(out, "name", &suite.name);
    attr(out, "tests", &suite.tests.to_string());
    attr(out, "skipped", "0");
    attr(out, "failures", &suite.failures.to_string());
    attr(out, "time", "0");
    out.push('>');
    for case in &suite.cases {
        out.push_str("<testcase");
        attr(out, "name", &case.name);
        attr(out, "time", "0");
        if let Some(l) = case.lifecycle.as_deref().filter(|l| !l.is_empty()) {
            attr(out, "lifecycle", l);
        }
        out.push('>');
        if !case.properties.is_empty() {
            out.push_str("<properties>");
            for (k, v) in &case.properties {
                out.push_str("<property");
                attr(out, "name", k);
                attr(out, "value", v);
                out.push_str("></property>");
            }
            out.push_str("</properties>");
        }
        match case.status {
            CheckStatus::Skipped => {
                out.push_str("<skipped");
                if !case.message.is_empty() {
                    attr(out, "message", &case.message);
                }
                out.push_str("></skipped>");
            }
            CheckStatus::Failed => {
                out.push_str("<failure");
                attr(out, "message", &case.message);
                out.push('>');
                go_escape(&case.system_out, out);
                out.push_str("</failure>");
            }
            CheckStatus::Passed => {}
        }
        if !case.system_out.is_empty() {
            out.push_str("<system-out>");
            go_escape(&case.system_out, out);
            out.push_str("</system-out>");
        }
        out.push_str("</testcase>");
    }
    for child in &suite.children {
        write_suite(out, child);
    }
    out.push_str("</testsuite>");
}

/// One run reference in the details, with its YAML sequence item rendered once (every test
/// of an aggregation lists the same few runs).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunRef {
    /// Run ID.
    pub id: String,
    /// The Prow page.
    pub human_url: String,
    /// The artifacts page.
    pub gcs_artifact_url: String,
    /// `- jobrunid: …` as a top-level block sequence item.
    yaml_item: String,
}

impl RunRef {
    /// A run reference.
    pub fn new(id: String, human_url: String, gcs_artifact_url: String) -> RunRef {
        let item = Value::Seq(vec![run_value(&id, &human_url, &gcs_artifact_url)]);
        RunRef {
            yaml_item: yaml::to_string(&item),
            id,
            human_url,
            gcs_artifact_url,
        }
    }
}

fn run_value(id: &str, human_url: &str, gcs_artifact_url: &str) -> Value {
    Value::Map(vec![
        ("jobrunid".into(), Value::Str(id.to_owned())),
        ("humanurl".into(), Value::Str(human_url.to_owned())),
        (
            "gcsartifacturl".into(),
            Value::Str(gcs_artifact_url.to_owned()),
        ),
    ])
}

/// The Prow page of a run at `root` (`logs/<job>/<id>`) in `bucket`.
pub fn human_url(bucket: &str, root: &str) -> String {
    format!("https://prow.ci.openshift.org/view/gs/{bucket}/{root}")
}

/// The artifacts page of a run.
pub fn artifact_url(bucket: &str, root: &str) -> String {
    format!("https://gcsweb-ci.apps.ci.l2s4.p1.openshiftapps.com/gcs/{bucket}/{root}/artifacts")
}

/// What the per-test YAML holds.
#[derive(Clone, Debug, Default)]
pub struct Details<'a> {
    /// Test name.
    pub name: &'a str,
    /// Suite path joined with `|||`.
    pub suite: &'a str,
    /// The verdict message.
    pub summary: &'a str,
    /// Pass entries.
    pub passes: Vec<&'a RunRef>,
    /// Failure entries.
    pub failures: Vec<&'a RunRef>,
    /// Skip entries.
    pub skips: Vec<&'a RunRef>,
    /// The lifecycle, when the test has one (improved mode; upstream's details have no such
    /// field).
    pub lifecycle: Option<&'a str>,
    /// Runs where the test is absent (improved mode only, B11).
    pub absent: Option<Vec<&'a RunRef>>,
}

/// The details as yaml.v2 marshals upstream's `TestCaseDetails`.
///
/// A top-level block mapping is its entries one after the other, and a sequence under a
/// top-level key is not indented, so the run lists are the runs' pre-rendered items
/// concatenated; only the scalars are rendered here. `details_yaml_via_tree` (tests) renders
/// the whole tree and must give the same bytes.
pub fn details_yaml(d: &Details<'_>) -> String {
    let mut out = yaml::to_string(&Value::Map(vec![
        ("name".to_owned(), Value::Str(d.name.to_owned())),
        ("testsuitename".to_owned(), Value::Str(d.suite.to_owned())),
        ("summary".to_owned(), Value::Str(d.summary.to_owned())),
    ]));
    let list = |out: &mut String, key: &str, refs: &[&RunRef]| {
        out.push_str(key);
        if refs.is_empty() {
            out.push_str(": []\n");
            return;
        }
        out.push_str(":\n");
        for r in refs {
            out.push_str(&r.yaml_item);
        }
    };
    list(&mut out, "passes", &d.passes);
    list(&mut out, "failures", &d.failures);
    list(&mut out, "skips", &d.skips);
    if let Some(l) = d.lifecycle {
        out.push_str(&yaml::to_string(&Value::Map(vec![(
            "lifecycle".into(),
            Value::Str(l.to_owned()),
        )])));
    }
    if let Some(absent) = &d.absent {
        list(&mut out, "absent", absent);
    }
    out
}

/// One run listed in `aggregation-config.yaml`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigRun {
    /// Job.
    pub job: String,
    /// Run ID.
    pub id: String,
    /// Prow page.
    pub human_url: String,
    /// Artifacts page.
    pub gcs_bucket_url: String,
    /// Prow state or `unknown`.
    pub status: String,
}

/// `aggregation-config.yaml`: `{unfinishedjobs, finishedjobs}`.
pub fn aggregation_config_yaml(unfinished: &[ConfigRun], finished: &[ConfigRun]) -> String {
    let list = |runs: &[ConfigRun]| {
        Value::Seq(
            runs.iter()
                .map(|r| {
                    Value::Map(vec![
                        ("jobname".into(), Value::Str(r.job.clone())),
                        ("jobrunid".into(), Value::Str(r.id.clone())),
                        ("humanurl".into(), Value::Str(r.human_url.clone())),
                        ("gcsbucketurl".into(), Value::Str(r.gcs_bucket_url.clone())),
                        ("status".into(), Value::Str(r.status.clone())),
                    ])
                })
                .collect(),
        )
    };
    yaml::to_string(&Value::Map(vec![
        ("unfinishedjobs".into(), list(unfinished)),
        ("finishedjobs".into(), list(finished)),
    ]))
}

/// Escapes a Markdown table cell.
pub fn md_cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.trim_end().chars() {
        match c {
            '|' => out.push_str("\\|"),
            '\n' => out.push_str("<br>"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

/// Writes a Markdown table.
pub fn md_table(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(
        out,
        "|{}",
        header.iter().map(|_| "---|").collect::<String>()
    );
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| md_cell(c)).collect();
        let _ = writeln!(out, "| {} |", cells.join(" | "));
    }
}

/// `aggregation-summary.md`: the outcome, the failed and exempted tests, the disruption checks
/// and the runs, as Markdown tables.
pub fn markdown_summary(report: &Report) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Aggregation of `{}` for `{}`\n",
        report.job, report.label
    );
    let _ = writeln!(
        out,
        "**Outcome: {}** (exit code {}, mode `{}`){}\n",
        match report.outcome {
            Outcome::Pass => "pass",
            Outcome::Regression => "regression",
            Outcome::InsufficientData => "insufficient data",
        },
        report.exit_code,
        report.mode.name(),
        report
            .error
            .as_ref()
            .map(|e| format!(": {e}"))
            .unwrap_or_default()
    );
    let finished = report.runs.iter().filter(|r| r.finished).count();
    let _ = writeln!(
        out,
        "Runs: {finished} aggregated, {} unfinished and ignored. History: {}.\n",
        report.runs.len() - finished,
        report.history
    );
    if let Some(w) = &report.wait {
        let _ = writeln!(
            out,
            "Waited for the runs: first read {}, stop time {}, {} reads; {}.\n",
            w.ready_at.format_rfc3339(),
            w.stop_at.format_rfc3339(),
            w.polls,
            if w.timed_out {
                format!(
                    "the stop time passed with {} runs unfinished",
                    w.unfinished.len()
                )
            } else {
                "every run finished".to_owned()
            }
        );
    }
    let s = &report.settings;
    let _ = writeln!(
        out,
        "Rule: one-sided Fisher exact test (α = {}, corpus {} runs, leniency {}), pity factor {} failures, minimum {} attempts; new tests {} %, history errors {} %.\n",
        s.alpha,
        s.corpus_size,
        s.leniency,
        s.pity_allowance,
        s.min_attempts,
        s.new_test_pass_rate,
        s.history_error_pass_rate
    );
    if s.flake != crate::combine::FlakeRule::PassWins {
        let _ = writeln!(out, "Flakes: {}.\n", s.flake.describe());
    }
    let failed: Vec<Vec<String>> = report
        .tests
        .iter()
        .filter(|t| t.verdict.status == CheckStatus::Failed)
        .map(test_row)
        .collect();
    md_section(
        &mut out,
        &format!("Failed tests ({})", failed.len()),
        &TEST_COLUMNS,
        &failed,
    );
    let flaked: Vec<Vec<String>> = report
        .tests
        .iter()
        .filter(|t| t.verdict.status == CheckStatus::Passed && t.verdict.flakes > 0)
        .map(test_row)
        .collect();
    md_section(
        &mut out,
        &format!("Passed with flakes ({})", flaked.len()),
        &TEST_COLUMNS,
        &flaked,
    );
    let exempted: Vec<Vec<String>> = report
        .tests
        .iter()
        .filter_map(|t| {
            t.exempted.as_ref().filter(|e| e.failures > 0).map(|e| {
                vec![
                    t.suite.clone(),
                    t.name.clone(),
                    e.passes.to_string(),
                    e.failures.to_string(),
                    e.reason.clone(),
                ]
            })
        })
        .collect();
    md_section(
        &mut out,
        &format!("Exemptions that hid failures ({})", exempted.len()),
        &["suite", "test", "passes", "failures", "rule"],
        &exempted,
    );
    if let Some(cases) = &report.disruption {
        let rows: Vec<Vec<String>> = cases
            .iter()
            .filter(|c| c.result.status != CheckStatus::Passed)
            .map(|c| {
                vec![
                    c.name.clone(),
                    format!("{:?}", c.result.status).to_lowercase(),
                    c.result.message.trim().to_owned(),
                ]
            })
            .collect();
        md_section(
            &mut out,
            &format!(
                "Disruption ({} checks, {} not passed)",
                cases.len(),
                rows.len()
            ),
            &["check", "status", "message"],
            &rows,
        );
    } else if let Some(why) = &report.disruption_skipped {
        let _ = writeln!(out, "## Disruption\n\nSkipped: {why}.\n");
    }
    if !report.dropped_files.is_empty() {
        let rows: Vec<Vec<String>> = report
            .dropped_files
            .iter()
            .map(|d| vec![d.run.clone(), d.file.clone(), d.reason.clone()])
            .collect();
        md_section(
            &mut out,
            &format!("JUnit files not used ({})", rows.len()),
            &["run", "file", "reason"],
            &rows,
        );
    }
    out
}

/// A Markdown section: the heading, then the table when there are rows.
fn md_section(out: &mut String, heading: &str, header: &[&str], rows: &[Vec<String>]) {
    out.push_str("## ");
    out.push_str(heading);
    out.push_str("\n\n");
    if !rows.is_empty() {
        md_table(out, header, rows);
        out.push('\n');
    }
}

/// The columns of [`test_row`].
const TEST_COLUMNS: [&str; 8] = [
    "suite",
    "test",
    "blocking",
    "passes",
    "failures",
    "history %",
    "required",
    "summary",
];

fn test_row(t: &TestReport) -> Vec<String> {
    vec![
        t.suite.clone(),
        t.name.clone(),
        if t.blocking { "yes" } else { "no" }.to_owned(),
        t.verdict.passes.to_string(),
        t.verdict.failures.to_string(),
        match (t.verdict.working_percentage, t.verdict.history) {
            (Some(w), Some(HistorySource::Row)) => w.to_string(),
            (Some(w), Some(_)) => format!("{w} (default)"),
            _ => String::new(),
        },
        t.verdict
            .required
            .map(|r| r.to_string())
            .unwrap_or_default(),
        t.verdict.summary.trim_end().to_owned(),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_is_go_shaped() {
        let suite = OutSuite {
            name: "s".into(),
            tests: 0,
            failures: 1,
            cases: vec![OutCase {
                name: "t \"q\"".into(),
                lifecycle: Some("informing".into()),
                properties: vec![],
                status: CheckStatus::Failed,
                message: "m\n".into(),
                system_out: "a: b\n".into(),
            }],
            children: vec![],
        };
        assert_eq!(
            junit_xml(&[suite]),
            "<testsuites><testsuite name=\"s\" tests=\"0\" skipped=\"0\" failures=\"1\" time=\"0\">\
             <testcase name=\"t &#34;q&#34;\" time=\"0\" lifecycle=\"informing\">\
             <failure message=\"m&#xA;\">a: b&#xA;</failure><system-out>a: b&#xA;</system-out>\
             </testcase></testsuite></testsuites>"
        );
    }

    /// The tree the details stand for, rendered whole: the oracle of the fast path.
    fn details_yaml_via_tree(d: &Details<'_>) -> String {
        let list = |refs: &[&RunRef]| {
            Value::Seq(
                refs.iter()
                    .map(|r| run_value(&r.id, &r.human_url, &r.gcs_artifact_url))
                    .collect(),
            )
        };
        let mut map = vec![
            ("name".to_owned(), Value::Str(d.name.to_owned())),
            ("testsuitename".to_owned(), Value::Str(d.suite.to_owned())),
            ("summary".to_owned(), Value::Str(d.summary.to_owned())),
            ("passes".to_owned(), list(&d.passes)),
            ("failures".to_owned(), list(&d.failures)),
            ("skips".to_owned(), list(&d.skips)),
        ];
        if let Some(l) = d.lifecycle {
            map.push(("lifecycle".into(), Value::Str(l.to_owned())));
        }
        if let Some(absent) = &d.absent {
            map.push(("absent".into(), list(absent)));
        }
        yaml::to_string(&Value::Map(map))
    }

    #[test]
    fn details_equal_the_whole_tree_rendered() {
        let long = "x ".repeat(70);
        let refs: Vec<RunRef> = [
            "1001",
            "0042",
            "1e3",
            "run with a space and a very long name that goes past eighty columns",
        ]
        .iter()
        .map(|id| {
            let root = format!("logs/job/{id}");
            RunRef::new(
                (*id).to_owned(),
                human_url("test-platform-results", &root),
                artifact_url("test-platform-results", &root),
            )
        })
        .collect();
        let all: Vec<&RunRef> = refs.iter().collect();
        for (name, summary) in [
            (
                "[sig-a] test: with colon",
                "Passed: Passed 1 times, failed 0 times.  The historical pass rate is 99%.",
            ),
            ("plain", "always passing \"x\": reason\n"),
            (long.as_str(), "multi\nline\n\nsummary"),
            ("'quoted'", ""),
        ] {
            for lifecycle in [None, Some("informing")] {
                for absent in [None, Some(vec![]), Some(all[..1].to_vec())] {
                    let d = Details {
                        name,
                        suite: "openshift-tests|||child",
                        summary,
                        passes: all.clone(),
                        failures: all[1..3].to_vec(),
                        skips: vec![],
                        lifecycle,
                        absent,
                    };
                    assert_eq!(details_yaml(&d), details_yaml_via_tree(&d), "{name:?}");
                }
            }
        }
    }

    #[test]
    fn escaping_copies_runs_and_replaces_what_go_replaces() {
        let reference = |s: &str| {
            let mut out = String::new();
            for c in s.chars() {
                match c {
                    '"' => out.push_str("&#34;"),
                    '\'' => out.push_str("&#39;"),
                    '&' => out.push_str("&amp;"),
                    '<' => out.push_str("&lt;"),
                    '>' => out.push_str("&gt;"),
                    '\t' => out.push_str("&#x9;"),
                    '\n' => out.push_str("&#xA;"),
                    '\r' => out.push_str("&#xD;"),
                    c if !in_xml_range(c) => out.push('\u{FFFD}'),
                    c => out.push(c),
                }
            }
            out
        };
        for s in [
            "",
            "plain text",
            "a<b>&\"c\"'d'\t\n\r",
            "µ… \u{1}\u{8}\u{B}\u{1F}\u{7F} \u{FFFE}\u{FFFF}\u{10000} end",
            "<<<",
            "\u{FFFE}",
        ] {
            let mut out = String::new();
            go_escape(s, &mut out);
            assert_eq!(out, reference(s), "{s:?}");
        }
    }
}

//! The output files: `junit-aggregated.xml` (as Go's `xml.Marshal` writes upstream's JUnit
//! types: no declaration, no indentation, Go's escapes), the per-test YAML details,
//! `aggregation-config.yaml`, and the readable Markdown summary.

use std::fmt::Write as _;

use super::verdict::Status;
use super::yaml::{self, Value};

/// A testcase of the output.
#[derive(Clone, Debug, PartialEq)]
pub struct OutCase {
    /// Name.
    pub name: String,
    /// `lifecycle` attribute.
    pub lifecycle: Option<String>,
    /// `<properties>`.
    pub properties: Vec<(String, String)>,
    /// Verdict.
    pub status: Status,
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

/// Escapes as Go's `xml.EscapeText`/`EscapeString` do.
pub fn go_escape(s: &str, out: &mut String) {
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
    let mut out = String::with_capacity(1 << 16);
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
            Status::Skipped => {
                out.push_str("<skipped");
                if !case.message.is_empty() {
                    attr(out, "message", &case.message);
                }
                out.push_str("></skipped>");
            }
            Status::Failed => {
                out.push_str("<failure");
                attr(out, "message", &case.message);
                out.push('>');
                go_escape(&case.system_out, out);
                out.push_str("</failure>");
            }
            Status::Passed => {}
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

/// One run reference in the details.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunRef {
    /// Run ID.
    pub id: String,
    /// The Prow page.
    pub human_url: String,
    /// The artifacts page.
    pub gcs_artifact_url: String,
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
pub fn details_yaml(d: &Details<'_>) -> String {
    let list = |refs: &[&RunRef]| {
        Value::Seq(
            refs.iter()
                .map(|r| {
                    Value::Map(vec![
                        ("jobrunid".into(), Value::Str(r.id.clone())),
                        ("humanurl".into(), Value::Str(r.human_url.clone())),
                        (
                            "gcsartifacturl".into(),
                            Value::Str(r.gcs_artifact_url.clone()),
                        ),
                    ])
                })
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
                status: Status::Failed,
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
}

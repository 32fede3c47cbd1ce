//! `analyze-historical-data`: compare refreshed disruption or alert percentile rows with the
//! current ones, write the new rows, `pr_message.md` and `require_review`.
//!
//! Compat mode reproduces upstream, bugs included: `MasterNodesUpdated` is not part of the key
//! (B8), P99 growth from 0 is never flagged (B5), missing keys are counted once per release
//! pass, i.e. doubled (B4). Improved mode fixes all three.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::{Map, Value as Json};

use super::config::Mode;
use super::error::AggregateError;
use super::godur;
use flakewatch_core::time::Timestamp;

/// Which table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DataType {
    /// Allowed backend disruption.
    Disruptions,
    /// Allowed alert durations.
    Alerts,
}

impl DataType {
    /// `disruptions` or `alerts`.
    pub fn name(self) -> &'static str {
        match self {
            DataType::Disruptions => "disruptions",
            DataType::Alerts => "alerts",
        }
    }
}

/// One row, in upstream's field order (alert-only fields are `None` for disruptions).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Row {
    /// Disruptions: the backend.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backend_name: Option<String>,
    /// Alerts: the alert.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert_name: Option<String>,
    /// Alerts: its namespace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert_namespace: Option<String>,
    /// Alerts: its level.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert_level: Option<String>,
    /// Alerts: first seen (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_observed: Option<String>,
    /// Alerts: last seen (RFC 3339).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_observed: Option<String>,
    /// Release.
    pub release: String,
    /// Upgrade source release (`""`: not an upgrade job).
    pub from_release: String,
    /// Platform.
    pub platform: String,
    /// Architecture.
    pub architecture: String,
    /// Network.
    pub network: String,
    /// Topology.
    pub topology: String,
    /// `Y`, `N` or null.
    pub master_nodes_updated: Option<String>,
    /// Runs behind the percentiles.
    pub job_runs: i64,
    /// P95 seconds, as a decimal string.
    #[serde(rename = "P95")]
    pub p95: String,
    /// P99.
    #[serde(rename = "P99")]
    pub p99: String,
    /// P75.
    #[serde(rename = "P75")]
    pub p75: String,
    /// P50.
    #[serde(rename = "P50")]
    pub p50: String,
}

impl Row {
    /// The comparison key (with `MasterNodesUpdated` when `with_master` is set).
    pub fn key(&self, with_master: bool) -> String {
        let mut key = match (&self.backend_name, &self.alert_name) {
            (Some(b), _) => format!(
                "{b}_{}_{}_{}_{}_{}_{}",
                self.from_release,
                self.release,
                self.architecture,
                self.platform,
                self.network,
                self.topology
            ),
            (None, a) => format!(
                "{}_{}_{}_{}_{}_{}_{}_{}_{}",
                a.as_deref().unwrap_or(""),
                self.alert_namespace.as_deref().unwrap_or(""),
                self.alert_level.as_deref().unwrap_or(""),
                self.from_release,
                self.release,
                self.architecture,
                self.platform,
                self.network,
                self.topology
            ),
        };
        if with_master {
            key.push('_');
            key.push_str(self.master_nodes_updated.as_deref().unwrap_or("null"));
        }
        key
    }

    /// The table's Name column.
    pub fn display_name(&self) -> String {
        match &self.backend_name {
            Some(b) => b.clone(),
            None => format!(
                "{} {} {}",
                self.alert_name.as_deref().unwrap_or(""),
                self.alert_namespace.as_deref().unwrap_or(""),
                self.alert_level.as_deref().unwrap_or("")
            ),
        }
    }
}

/// Looks a key up as Go's JSON decoder does: exact name first, then case-insensitively.
fn field<'a>(obj: &'a Map<String, Json>, name: &str) -> Option<&'a Json> {
    obj.get(name).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

fn string_field(obj: &Map<String, Json>, name: &str, at: &str) -> Result<String, AggregateError> {
    match field(obj, name) {
        None | Some(Json::Null) => Ok(String::new()),
        Some(Json::String(s)) => Ok(s.clone()),
        Some(other) => Err(AggregateError::Config(format!(
            "{at}: {name} must be a string, not {other}"
        ))),
    }
}

/// Go's `time.Time` JSON round trip: RFC 3339 in, RFC 3339 with trailing fraction zeros
/// trimmed out; absent or null is the zero time.
fn time_field(obj: &Map<String, Json>, name: &str, at: &str) -> Result<String, AggregateError> {
    let s = string_field(obj, name, at)?;
    if s.is_empty() && !matches!(field(obj, name), Some(Json::String(_))) {
        return Ok("0001-01-01T00:00:00Z".into());
    }
    Timestamp::parse_rfc3339(&s)
        .map_err(|e| AggregateError::Config(format!("{at}: {name}: {e}")))?;
    Ok(trim_fraction(&s))
}

fn trim_fraction(s: &str) -> String {
    let Some(dot) = s.find('.') else {
        return s.to_owned();
    };
    let digits_end = s[dot + 1..]
        .find(|c: char| !c.is_ascii_digit())
        .map_or(s.len(), |i| dot + 1 + i);
    let frac = s[dot + 1..digits_end].trim_end_matches('0');
    if frac.is_empty() {
        format!("{}{}", &s[..dot], &s[digits_end..])
    } else {
        format!("{}.{frac}{}", &s[..dot], &s[digits_end..])
    }
}

/// Parses a JSON array of rows of `data_type`; `source` names it in errors.
pub fn parse_rows(
    text: &str,
    data_type: DataType,
    source: &str,
) -> Result<Vec<Row>, AggregateError> {
    let json: Json = serde_json::from_str(text).map_err(|e| AggregateError::Json {
        path: source.to_owned(),
        source: e,
    })?;
    let items = match json {
        Json::Array(items) => items,
        Json::Null => Vec::new(),
        _ => {
            return Err(AggregateError::Config(format!(
                "{source}: expected a JSON array of rows"
            )));
        }
    };
    let mut rows = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = format!("{source}: row {}", i + 1);
        let Some(obj) = item.as_object() else {
            return Err(AggregateError::Config(format!("{at}: not an object")));
        };
        let s = |name: &str| string_field(obj, name, &at);
        // A percentile that is not a number would be read as 0 and written out as given:
        // refuse it, naming the row.
        let percentile = |name: &str| -> Result<String, AggregateError> {
            let text = s(name)?;
            let trimmed = text.trim();
            if !trimmed.is_empty() && !trimmed.parse::<f64>().is_ok_and(f64::is_finite) {
                return Err(AggregateError::Config(format!(
                    "{at}: {name} {text:?} is not a number"
                )));
            }
            Ok(text)
        };
        let master = match field(obj, "MasterNodesUpdated") {
            None | Some(Json::Null) => None,
            Some(Json::String(v)) => Some(v.clone()),
            Some(other) => {
                return Err(AggregateError::Config(format!(
                    "{at}: MasterNodesUpdated must be a string or null, not {other}"
                )));
            }
        };
        let job_runs = match field(obj, "JobRuns") {
            None | Some(Json::Null) => 0,
            Some(v) => v.as_i64().ok_or_else(|| {
                AggregateError::Config(format!("{at}: JobRuns must be an integer"))
            })?,
        };
        let alerts = data_type == DataType::Alerts;
        rows.push(Row {
            backend_name: (!alerts).then(|| s("BackendName")).transpose()?,
            alert_name: alerts.then(|| s("AlertName")).transpose()?,
            alert_namespace: alerts.then(|| s("AlertNamespace")).transpose()?,
            alert_level: alerts.then(|| s("AlertLevel")).transpose()?,
            first_observed: alerts
                .then(|| time_field(obj, "FirstObserved", &at))
                .transpose()?,
            last_observed: alerts
                .then(|| time_field(obj, "LastObserved", &at))
                .transpose()?,
            release: s("Release")?,
            from_release: s("FromRelease")?,
            platform: s("Platform")?,
            architecture: s("Architecture")?,
            network: s("Network")?,
            topology: s("Topology")?,
            master_nodes_updated: master,
            job_runs,
            p95: percentile("P95")?,
            p99: percentile("P99")?,
            p75: percentile("P75")?,
            p50: percentile("P50")?,
        });
    }
    Ok(rows)
}

/// A percentile string as upstream reads it: float → `%.3fs` → Go duration (ns); 0 when
/// unparsable.
pub fn duration_of(s: &str) -> i64 {
    match s.trim().parse::<f64>() {
        Ok(f) if f.is_finite() => godur::parse(&format!("{f:.3}s")).unwrap_or(0),
        _ => 0,
    }
}

/// Options of one analysis.
#[derive(Clone, Debug)]
pub struct AnalysisOptions {
    /// Which table.
    pub data_type: DataType,
    /// Percent of growth tolerated before a P99 increase counts.
    pub leeway: f64,
    /// The target release.
    pub target_release: String,
    /// The previous release.
    pub previous_release: String,
    /// Compat or improved.
    pub mode: Mode,
}

/// One compared or added row.
#[derive(Clone, Debug)]
pub struct Compared {
    /// The new row.
    pub row: Row,
    /// Its key.
    pub key: String,
    /// Runs, set only when the key was in the current data.
    pub job_results: i64,
    /// New P95 (ns).
    pub p95: i64,
    /// New P99 (ns).
    pub p99: i64,
    /// P95 growth beyond the leeway (ns), else 0.
    pub diff_p95: i64,
    /// Its percentage.
    pub percent_p95: f64,
    /// P99 growth beyond the leeway (ns), else 0.
    pub diff_p99: i64,
    /// Its percentage.
    pub percent_p99: f64,
}

/// The result of a comparison.
#[derive(Clone, Debug, Default)]
pub struct Analysis {
    /// P99 increases beyond the leeway.
    pub increased: usize,
    /// P99 decreases.
    pub decreased: usize,
    /// Keys only in the new data.
    pub added: Vec<String>,
    /// Keys only in the current data (compat: once per release pass).
    pub missing: Vec<String>,
    /// Compared and added rows.
    pub rows: Vec<Compared>,
}

/// Compares `new` against `current` for the previous and the target release.
pub fn analyze(
    current: &[Row],
    new: &[Row],
    opts: &AnalysisOptions,
) -> Result<Analysis, AggregateError> {
    if current.is_empty() {
        return Err(AggregateError::EmptyData(
            "current historical data is empty, can not compare".into(),
        ));
    }
    if new.is_empty() {
        return Err(AggregateError::EmptyData(match opts.mode {
            Mode::Compat => "new historical data is empty, can not compare %!w(<nil>)".into(),
            Mode::Improved => "new historical data is empty, can not compare".into(),
        }));
    }
    let with_master = opts.mode == Mode::Improved;
    let to_map = |rows: &[Row]| -> BTreeMap<String, Row> {
        rows.iter()
            .map(|r| (r.key(with_master), r.clone()))
            .collect()
    };
    let new_map = to_map(new);
    let current_map = to_map(current);
    let mut analysis = Analysis::default();
    for (pass, release) in [&opts.previous_release, &opts.target_release]
        .into_iter()
        .enumerate()
    {
        for (key, row) in &new_map {
            if &row.release != release {
                continue;
            }
            let mut c = Compared {
                row: row.clone(),
                key: key.clone(),
                job_results: 0,
                p95: duration_of(&row.p95),
                p99: duration_of(&row.p99),
                diff_p95: 0,
                percent_p95: 0.0,
                diff_p99: 0,
                percent_p99: 0.0,
            };
            match current_map.get(key) {
                Some(old) => {
                    c.job_results = row.job_runs;
                    let (old95, old99) = (duration_of(&old.p95), duration_of(&old.p99));
                    let (d95, d99) = (c.p95 - old95, c.p99 - old99);
                    let pct = |d: i64, old: i64| {
                        if old != 0 {
                            d as f64 / old as f64 * 100.0
                        } else if with_master && d > 0 {
                            f64::INFINITY
                        } else {
                            0.0
                        }
                    };
                    let (p95, p99) = (pct(d95, old95), pct(d99, old99));
                    if c.p95 > old95 && p95 > opts.leeway {
                        c.diff_p95 = d95;
                        c.percent_p95 = p95;
                    }
                    if c.p99 > old99 && p99 > opts.leeway {
                        analysis.increased += 1;
                        c.diff_p99 = d99;
                        c.percent_p99 = p99;
                    }
                    if c.p99 < old99 {
                        analysis.decreased += 1;
                    }
                }
                None => analysis.added.push(key.clone()),
            }
            analysis.rows.push(c);
        }
        if pass == 0 || opts.mode == Mode::Compat {
            for key in current_map.keys() {
                if !new_map.contains_key(key) {
                    analysis.missing.push(key.clone());
                }
            }
        }
    }
    Ok(analysis)
}

/// `formatTableOutput(jobs, true)`: rows with ≥ 100 runs and a P99 increase, by P95 growth.
pub fn table(analysis: &Analysis) -> String {
    let mut rows: Vec<&Compared> = analysis.rows.iter().collect();
    rows.sort_by(|a, b| b.diff_p95.cmp(&a.diff_p95).then_with(|| a.key.cmp(&b.key)));
    let mut out = String::new();
    out.push_str("| Name | Release | From | Arch | Network | Platform | Topology | Job Results | P95 | P95 % Increase | P99 | P99 % Increase |\n");
    out.push_str("| ---- | ------- | ---- | ---- | ------- | -------- |--------- | ----------- | --- | -------------- | --- | -------------- |\n");
    for c in rows {
        if c.job_results < 100 || c.diff_p99 == 0 {
            continue;
        }
        let r = &c.row;
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {}| {:.2}% | {} | {:.2}% ",
            r.display_name(),
            r.release,
            r.from_release,
            r.architecture,
            r.network,
            r.platform,
            r.topology,
            c.job_results,
            godur::format(c.p95),
            finite(c.percent_p95),
            godur::format(c.p99),
            finite(c.percent_p99),
        );
    }
    out
}

fn finite(v: f64) -> f64 {
    if v.is_finite() { v } else { 100.0 }
}

/// The text appended to `pr_message.md`.
pub fn pr_message(analysis: &Analysis, opts: &AnalysisOptions) -> String {
    let mut out = format!(
        "## {} Information\n\nThere were (`{}`) added jobs and (`{}`) were removed.",
        opts.data_type.name(),
        analysis.added.len(),
        analysis.missing.len()
    );
    if analysis.increased > 0 {
        let _ = write!(
            out,
            "\n\n### Comparisons were above allowed leeway of `{:.2}%`\n\nNote: For P99, {} had `{}` jobs increased and `{}` jobs decreased.\n\n<details>\n  <summary>Click To Show Table</summary>\n\n{}\n\n</details>\n",
            opts.leeway,
            opts.data_type.name(),
            analysis.increased,
            analysis.decreased,
            table(analysis)
        );
    }
    out.push('\n');
    out
}

/// The lines appended to `require_review` (empty when nothing changed).
pub fn require_review(analysis: &Analysis, opts: &AnalysisOptions) -> String {
    let mut out = String::new();
    for (count, word) in [
        (analysis.increased, "increased"),
        (analysis.decreased, "decreased"),
    ] {
        if count > 0 {
            let _ = writeln!(
                out,
                "({}) had ({count}) results {word} in duration beyond specified leeway of {:.2}%",
                opts.data_type.name(),
                opts.leeway
            );
        }
    }
    out
}

/// The new `query_results.json`: the rows sorted by key, 2-space indented, Go's HTML escapes;
/// empty when there are none.
pub fn results_json(analysis: &Analysis) -> String {
    if analysis.rows.is_empty() {
        return String::new();
    }
    let mut rows: Vec<&Compared> = analysis.rows.iter().collect();
    rows.sort_by(|a, b| {
        a.row
            .key(false)
            .cmp(&b.row.key(false))
            .then(a.key.cmp(&b.key))
    });
    let values: Vec<&Row> = rows.iter().map(|c| &c.row).collect();
    let text = serde_json::to_string_pretty(&values).unwrap_or_default();
    go_html_escape(&text)
}

/// Go's `encoding/json` escapes `<`, `>`, `&`, U+2028 and U+2029 (only strings hold them).
pub(crate) fn go_html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_percentile_that_is_not_a_number_is_refused() {
        let rows = r#"[{"BackendName":"b","Release":"4.16","FromRelease":"","Platform":"aws",
            "Architecture":"amd64","Network":"ovn","Topology":"ha","JobRuns":100,
            "P95":"1.5","P99":"abc","P75":"1","P50":"0.5"}]"#;
        let err = parse_rows(rows, DataType::Disruptions, "new.json")
            .unwrap_err()
            .to_string();
        assert!(err.contains("row 1: P99 \"abc\" is not a number"), "{err}");
        let ok = rows.replace("\"abc\"", "\"2.5\"");
        assert_eq!(
            parse_rows(&ok, DataType::Disruptions, "new.json")
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn durations_round_to_milliseconds() {
        assert_eq!(duration_of("87.56"), 87_560_000_000);
        assert_eq!(duration_of("0.0"), 0);
        assert_eq!(duration_of("1.23456"), 1_235_000_000);
        assert_eq!(duration_of("junk"), 0);
    }

    #[test]
    fn fractions_are_trimmed_like_go() {
        assert_eq!(
            trim_fraction("2024-01-01T00:00:00.500Z"),
            "2024-01-01T00:00:00.5Z"
        );
        assert_eq!(
            trim_fraction("2024-01-01T00:00:00.000Z"),
            "2024-01-01T00:00:00Z"
        );
        assert_eq!(
            trim_fraction("2024-01-01T00:00:00Z"),
            "2024-01-01T00:00:00Z"
        );
    }
}

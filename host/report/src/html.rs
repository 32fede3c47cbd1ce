//! The report as one self-contained HTML file: inline CSS, inline SVG plots, a few lines of
//! inline script that make the tables sortable. A Content-Security-Policy forbids every
//! load from anywhere, so the page makes no network request when it is viewed.

use std::fmt::Write;

use crate::escape::html;
use crate::impact::{Impact, Report};
use crate::svg::{heatmap, sparkline};

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5em;color:#1f2328}\
table{border-collapse:collapse;margin:0.5em 0 1.5em}\
th,td{padding:3px 8px;border-bottom:1px solid #d0d7de;text-align:left;vertical-align:middle}\
th{cursor:pointer;background:#f6f8fa;user-select:none}\
th[aria-sort=ascending]::after{content:\" \\25B2\"}\
th[aria-sort=descending]::after{content:\" \\25BC\"}\
td.n{text-align:right;font-variant-numeric:tabular-nums}\
.rising{color:#cf222e}.falling{color:#1a7f37}.new{color:#9a6700}\
.closed{color:#8250df}\
svg.spark rect{fill:#cf222e}svg.spark path{stroke:#8c959f;stroke-width:1}\
.muted{color:#656d76}";

/// Sorts a table by a column on a click on its header (numbers by `data-sort`), and at load
/// by `#sort=TABLE-ID:COLUMN` (`-COLUMN` descending) in the address, for links to a view.
const SCRIPT: &str = r#"(function () {
  "use strict";
  function sortBy(table, col, asc) {
    var body = table.tBodies[0];
    var heads = table.tHead.rows[0].cells;
    var num = heads[col].getAttribute("data-type") === "num";
    var key = function (row) {
      var cell = row.cells[col];
      var v = cell.hasAttribute("data-sort") ? cell.getAttribute("data-sort") : cell.textContent;
      return num ? Number(v) : v.toLowerCase();
    };
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a), y = key(b);
      var c = x < y ? -1 : x > y ? 1 : 0;
      return asc ? c : -c;
    });
    rows.forEach(function (r) { body.appendChild(r); });
    for (var i = 0; i < heads.length; i++) { heads[i].removeAttribute("aria-sort"); }
    heads[col].setAttribute("aria-sort", asc ? "ascending" : "descending");
  }
  var tables = document.querySelectorAll("table.sortable");
  Array.prototype.forEach.call(tables, function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      th.addEventListener("click", function () {
        sortBy(table, col, th.getAttribute("aria-sort") !== "ascending");
      });
    });
  });
  var m = /^#sort=([\w-]+):(-?)(\d+)$/.exec(window.location.hash);
  var target = m && document.getElementById(m[1]);
  if (target && Number(m[3]) < target.tHead.rows[0].cells.length) {
    sortBy(target, Number(m[3]), m[2] !== "-");
  }
  document.documentElement.setAttribute("data-sortable", "ready");
})();"#;

/// Content-Security-Policy: nothing may be loaded; inline style and script only.
const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; \
                   img-src data:; base-uri 'none'; form-action 'none'";

fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

/// The date part of an RFC 3339 time.
fn date(time: &Option<String>) -> &str {
    time.as_deref().map_or("", |t| t.get(..10).unwrap_or(t))
}

/// The history days' labels (oldest first), for the sparklines.
fn history_days(report: &Report) -> Vec<String> {
    // The heat map labels the long window; the days before it are counted back from there.
    let long = &report.heatmap.days;
    let before = report.windows.history_days - long.len();
    let mut days: Vec<String> = (1..=before)
        .rev()
        .map(|back| {
            format!(
                "{back} days before {}",
                long.first().map_or("", String::as_str)
            )
        })
        .collect();
    days.extend(long.iter().cloned());
    days
}

/// The cells shared by the issue and unowned tables: counts, trend, share, sparkline.
fn impact_cells(out: &mut String, impact: &Impact, days: &[String]) {
    let _ = write!(
        out,
        "<td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"{}\" data-sort=\"{}\">{}</td>\
         <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\" data-sort=\"{}\">{}</td>\
         <td class=\"n\" data-sort=\"{}\" title=\"{}\">{}</td><td>{}</td>\
         <td>{}</td><td>{}</td><td>{}</td>",
        impact.last_7d,
        impact.prev_7d,
        impact.trend,
        impact.trend,
        impact.trend,
        impact.last_30d,
        impact.prev_30d,
        impact.share_30d,
        percent(impact.share_30d),
        impact.builders.len(),
        html(&impact.builders.join(", ")),
        impact.builders.len(),
        html(&impact.branches.join(", ")),
        date(&impact.first_seen),
        match (&impact.last_url, &impact.last_seen) {
            (Some(url), seen) => format!("<a href=\"{}\">{}</a>", html(url), date(seen)),
            (None, _) => String::new(),
        },
        sparkline(&impact.daily, days),
    );
}

const IMPACT_HEADS: &str = "<th data-type=\"num\">7 d</th><th data-type=\"num\">prev 7 d</th>\
<th>trend</th><th data-type=\"num\">30 d</th><th data-type=\"num\">prev 30 d</th>\
<th data-type=\"num\">share 30 d</th><th data-type=\"num\">builders</th><th>branches</th>\
<th>first seen</th><th>last seen</th><th>per day</th>";

/// The report as a self-contained HTML page.
pub fn render_html(report: &Report) -> String {
    let t = &report.totals;
    let days = history_days(report);
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>flakewatch flake report {now}</title><style>{STYLE}</style></head><body>\
         <h1>Flake report</h1><p class=\"muted\">As of {now}; failures since {since} as \
         triage examines them (after the obvious-flake filter, at most 3 per build), \
         attributed to issues by triage's own assignment.</p>\
         <p>{last30} failures in the last {long} days ({last7} in the last {recent}; {prev7} \
         in the {recent} before), {owned} owned by {active} of {issues} tracked issues, \
         {unowned} unowned. {filtered} failed builds were skipped as obvious non-flakes.</p>",
        now = html(&report.now),
        since = html(&report.since),
        last30 = t.last_30d,
        long = report.windows.long_days,
        last7 = t.last_7d,
        recent = report.windows.recent_days,
        prev7 = t.prev_7d,
        owned = t.owned_30d,
        active = t.issues_active_30d,
        issues = t.issues,
        unowned = t.unowned_30d,
        filtered = t.filtered_builds,
    );
    let _ = write!(
        out,
        "<h2>Tracked issues by recent impact</h2><table class=\"sortable\" id=\"issues\">\
         <thead><tr><th data-type=\"num\">rank</th><th data-type=\"num\">issue</th>\
         <th>title</th><th>state</th>{IMPACT_HEADS}</tr></thead><tbody>"
    );
    for issue in &report.issues {
        let _ = write!(
            out,
            "<tr data-issue=\"{n}\"><td class=\"n\">{}</td><td class=\"n\" data-sort=\"{n}\">#{n}</td>\
             <td>{}</td><td class=\"{state}\">{state}</td>",
            issue.rank,
            html(&issue.title),
            n = issue.number,
            state = issue.state,
        );
        impact_cells(&mut out, &issue.impact, &days);
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    let _ = write!(
        out,
        "<h2>Unowned failures</h2><p class=\"muted\">Failures no existing issue claims, under \
         the title of the issue triage would open for them.</p>\
         <table class=\"sortable\" id=\"unowned\"><thead><tr><th>would open</th>\
         <th data-type=\"num\">failures</th>{IMPACT_HEADS}</tr></thead><tbody>"
    );
    for group in &report.unowned {
        let _ = write!(
            out,
            "<tr><td>{}</td><td class=\"n\">{}</td>",
            html(&group.title),
            group.failures
        );
        impact_cells(&mut out, &group.impact, &days);
        out.push_str("</tr>");
    }
    if report.unowned.is_empty() {
        out.push_str("<tr><td colspan=\"13\">none</td></tr>");
    }
    out.push_str("</tbody></table>");
    let rows: Vec<(&str, &[usize])> = report
        .heatmap
        .rows
        .iter()
        .map(|r| (r.builder.as_str(), r.counts.as_slice()))
        .collect();
    let _ = write!(
        out,
        "<h2>Failures per builder and day</h2><p class=\"muted\">The last {} days; darker is \
         more (the darkest: the busiest builder-day).</p><figure>{}</figure>",
        report.windows.long_days,
        heatmap(&rows, &report.heatmap.days)
    );
    let _ = writeln!(
        out,
        "<p class=\"muted\">flakewatch report, schema {}.</p><script>{SCRIPT}</script>\
         </body></html>",
        report.schema
    );
    out
}

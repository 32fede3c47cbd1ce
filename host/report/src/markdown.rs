//! The report as GitHub Markdown (for a pinned issue): the summary, the ranked issues, the
//! unowned failures and the builders, with sparklines as block characters (GitHub strips
//! SVG from comments).

use std::fmt::Write;

use crate::escape::markdown_cell;
use crate::impact::{Impact, Report};

const BLOCKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// `daily` as block characters: a space for no failure, then eight heights scaled to the
/// largest day.
pub fn sparkline_text(daily: &[usize]) -> String {
    let max = daily.iter().copied().max().unwrap_or(0);
    daily
        .iter()
        .map(|&c| {
            if c == 0 || max == 0 {
                '·'
            } else {
                BLOCKS[((c * 8).div_ceil(max) - 1).min(7)]
            }
        })
        .collect()
}

fn trend_mark(trend: &str) -> &'static str {
    match trend {
        "rising" => "↑ rising",
        "falling" => "↓ falling",
        "new" => "✱ new",
        "steady" => "→ steady",
        _ => "quiet",
    }
}

fn date(time: &Option<String>) -> &str {
    time.as_deref().map_or("", |t| t.get(..10).unwrap_or(t))
}

fn impact_cells(out: &mut String, impact: &Impact, long_days: usize) {
    let last = &impact.daily[impact.daily.len().saturating_sub(long_days)..];
    let _ = write!(
        out,
        " {} | {} | {} | {} | {:.1}% | {} | {} | {} | {} | `{}` |",
        impact.last_7d,
        impact.prev_7d,
        trend_mark(impact.trend),
        impact.last_30d,
        impact.share_30d * 100.0,
        impact.builders.len(),
        markdown_cell(&impact.branches.join(", ")),
        date(&impact.first_seen),
        date(&impact.last_seen),
        sparkline_text(last),
    );
}

const IMPACT_HEADS: &str = " 7 d | prev 7 d | trend | 30 d | share | builders | branches | \
first seen | last seen | last 30 days |";
const IMPACT_ALIGN: &str = "---:|---:|---|---:|---:|---:|---|---|---|---|";

/// The report as GitHub Markdown.
pub fn render_markdown(report: &Report) -> String {
    let t = &report.totals;
    let long = report.windows.long_days;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Flake report\n\nAs of {} (failures since {}). {} failures in the last {long} days \
         ({} in the last {} days, {} in the {} before); {} owned by {} of {} tracked issues, \
         {} unowned; {} failed builds skipped as obvious non-flakes.\n",
        report.now,
        report.since,
        t.last_30d,
        t.last_7d,
        report.windows.recent_days,
        t.prev_7d,
        report.windows.recent_days,
        t.owned_30d,
        t.issues_active_30d,
        t.issues,
        t.unowned_30d,
        t.filtered_builds,
    );
    let _ = writeln!(
        out,
        "## Tracked issues by recent impact\n\n| rank | issue |{IMPACT_HEADS}\n|---:|---|{IMPACT_ALIGN}"
    );
    for issue in &report.issues {
        let closed = if issue.state == "closed" {
            " (closed)"
        } else {
            ""
        };
        let _ = write!(
            out,
            "| {} | #{} {}{closed} |",
            issue.rank,
            issue.number,
            markdown_cell(&issue.title)
        );
        impact_cells(&mut out, &issue.impact, long);
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "\n## Unowned failures\n\nFailures no existing issue claims, under the title of the \
         issue triage would open for them.\n"
    );
    if report.unowned.is_empty() {
        out.push_str("None.\n");
    } else {
        let _ = writeln!(
            out,
            "| would open | failures |{IMPACT_HEADS}\n|---|---:|{IMPACT_ALIGN}"
        );
        for group in &report.unowned {
            let _ = write!(
                out,
                "| {} | {} |",
                markdown_cell(&group.title),
                group.failures
            );
            impact_cells(&mut out, &group.impact, long);
            out.push('\n');
        }
    }
    let _ = writeln!(
        out,
        "\n## Builders\n\n| builder | {long} d | per day, last {long} days |\n|---|---:|---|"
    );
    for row in &report.heatmap.rows {
        let _ = writeln!(
            out,
            "| {} | {} | `{}` |",
            markdown_cell(&row.builder),
            row.total,
            sparkline_text(&row.counts)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sparkline_heights() {
        assert_eq!(sparkline_text(&[0, 1, 2, 4, 8]), "·▁▂▄█");
        assert_eq!(sparkline_text(&[0, 0]), "··");
    }
}

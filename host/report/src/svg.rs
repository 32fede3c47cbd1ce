//! The report's plots as inline SVG, drawn here (no script, no fonts or images fetched):
//! sparklines of failures per day and the builders × days heat map. Every day with failures
//! is a `<rect>` carrying `data-day` and `data-count`, so a test (or a reader's tool) can
//! check what a plot shows without looking at it.

use std::fmt::Write;

use crate::escape::html;

/// Width of one day in a sparkline, in pixels.
const SPARK_STEP: usize = 3;
/// Height of a sparkline.
const SPARK_HEIGHT: usize = 24;
/// Side of one heat map cell.
const CELL: usize = 12;
/// Width of the builder labels left of the heat map.
const LABEL_WIDTH: usize = 220;
/// Height of the date labels above the heat map.
const HEADER_HEIGHT: usize = 18;
/// Room right of the heat map for the last date label, centred on the last column.
const RIGHT_MARGIN: usize = 20;

/// A sparkline of `daily` (oldest first; `days[i]` labels `daily[i]`): a bar per day with
/// failures, scaled to the largest day, over a baseline.
pub fn sparkline(daily: &[usize], days: &[String]) -> String {
    let width = daily.len() * SPARK_STEP;
    let max = daily.iter().copied().max().unwrap_or(0).max(1);
    let total: usize = daily.iter().sum();
    let mut svg = format!(
        "<svg class=\"spark\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" \
         height=\"{SPARK_HEIGHT}\" viewBox=\"0 0 {width} {SPARK_HEIGHT}\" role=\"img\" \
         data-total=\"{total}\"><title>{total} failures in {} days</title>\
         <path class=\"base\" d=\"M0 {y}.5H{width}\"/>",
        daily.len(),
        y = SPARK_HEIGHT - 1
    );
    for (i, &count) in daily.iter().enumerate().filter(|(_, c)| **c > 0) {
        let height = (count * (SPARK_HEIGHT - 2)).div_ceil(max).max(2);
        let day = days.get(i).map(String::as_str).unwrap_or("");
        let _ = write!(
            svg,
            "<rect class=\"day\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{height}\" \
             data-day=\"{day}\" data-count=\"{count}\"><title>{day}: {count}</title></rect>",
            i * SPARK_STEP,
            SPARK_HEIGHT - 1 - height,
            SPARK_STEP - 1,
        );
    }
    svg.push_str("</svg>");
    svg
}

/// The fill of a heat map cell: grey for none, then four shades by share of the largest.
fn shade(count: usize, max: usize) -> &'static str {
    if count == 0 {
        return "#ebedf0";
    }
    match (4 * count).div_ceil(max.max(1)) {
        0 | 1 => "#fdd0a2",
        2 => "#fdae6b",
        3 => "#e6550d",
        _ => "#a63603",
    }
}

/// The heat map: one row per builder (`rows`: name and counts per day), one column per day
/// (`days`, oldest first), a date label every 7 days counted back from the newest.
pub fn heatmap(rows: &[(&str, &[usize])], days: &[String]) -> String {
    let width = LABEL_WIDTH + days.len() * CELL + RIGHT_MARGIN;
    let height = HEADER_HEIGHT + rows.len() * CELL;
    let max = rows
        .iter()
        .flat_map(|(_, counts)| counts.iter().copied())
        .max()
        .unwrap_or(0);
    let mut svg = format!(
        "<svg class=\"heatmap\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" \
         height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" \
         font-family=\"sans-serif\" font-size=\"10\"><title>failures per builder and day</title>"
    );
    for (i, day) in days.iter().enumerate() {
        if (days.len() - 1 - i).is_multiple_of(7) {
            let _ = write!(
                svg,
                "<text x=\"{}\" y=\"12\" text-anchor=\"middle\">{}</text>",
                LABEL_WIDTH + i * CELL + CELL / 2,
                html(day.get(5..).unwrap_or(day))
            );
        }
    }
    for (r, (builder, counts)) in rows.iter().enumerate() {
        let y = HEADER_HEIGHT + r * CELL;
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            LABEL_WIDTH - 4,
            y + CELL - 2,
            html(builder)
        );
        for (i, &count) in counts.iter().enumerate() {
            let day = days.get(i).map(String::as_str).unwrap_or("");
            let _ = write!(
                svg,
                "<rect class=\"cell\" x=\"{}\" y=\"{y}\" width=\"{}\" height=\"{}\" \
                 fill=\"{}\" data-builder=\"{}\" data-day=\"{day}\" data-count=\"{count}\">\
                 <title>{} {day}: {count}</title></rect>",
                LABEL_WIDTH + i * CELL,
                CELL - 1,
                CELL - 1,
                shade(count, max),
                html(builder),
                html(builder),
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sparkline_has_a_bar_per_day_with_failures() {
        let days: Vec<String> = (1..=4).map(|d| format!("2025-09-0{d}")).collect();
        let svg = sparkline(&[0, 2, 0, 4], &days);
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(
            svg.contains("data-day=\"2025-09-02\" data-count=\"2\""),
            "{svg}"
        );
        // The largest day fills the height; half of it half.
        assert!(svg.contains("y=\"1\" width=\"2\" height=\"22\""), "{svg}");
        assert!(svg.contains("height=\"11\""), "{svg}");
        assert!(svg.contains("data-total=\"6\""));
    }

    #[test]
    fn an_empty_sparkline_is_only_its_baseline() {
        let svg = sparkline(&[0, 0], &[]);
        assert!(!svg.contains("<rect"));
        assert!(svg.contains("<path"));
    }

    #[test]
    fn heat_map_cells_are_escaped_and_shaded() {
        let days = vec!["2025-09-01".to_owned(), "2025-09-02".to_owned()];
        let counts = [0, 8];
        let svg = heatmap(&[("a<b", &counts)], &days);
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(svg.contains("a&lt;b"));
        assert!(!svg.contains("a<b"));
        assert!(svg.contains("fill=\"#a63603\""));
        assert!(svg.contains("fill=\"#ebedf0\""));
    }
}

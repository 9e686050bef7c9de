//! The usage report drawn as an SVG chart on the server, so the browser bundle carries no
//! plotting code: tokens per day as columns, per agent, model or room as bars, each split into
//! input and output tokens. Text and axes take the page's text colour (`currentColor`), so the
//! chart reads in both themes; the SVG names itself for screen readers, and the table beside it
//! carries the same numbers.

use domain::usage::{UsageGroup, UsageTotal};
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

use super::{accessible, label, legend, top_down_label, BLUE_INK, ORANGE_INK, WIDTH};
use crate::usage::UsageReport;

/// Input tokens' colour and output tokens' colour.
const INPUT: RGBColor = BLUE_INK;
const OUTPUT: RGBColor = ORANGE_INK;
/// The most bars one chart draws; the table lists every row.
pub const MAX_BARS: usize = 20;

/// The report as an SVG document (an empty string when there is nothing to draw).
pub fn usage_chart_svg(report: &UsageReport) -> String {
    if report.rows.is_empty() {
        return String::new();
    }
    let rows: Vec<&UsageTotal> = report.rows.iter().take(MAX_BARS).collect();
    let labels: Vec<String> = rows.iter().map(|row| label(&row.label)).collect();
    let title = format!("Tokens by {}", report.group_by.as_str());
    let mut svg = String::new();
    let drawn = match report.group_by {
        UsageGroup::Day => columns(&mut svg, &rows, &labels),
        _ => bars(&mut svg, &rows, &labels),
    };
    if let Err(error) = drawn {
        tracing::warn!(%error, "the usage chart could not be drawn");
        return String::new();
    }
    let summary = rows
        .iter()
        .take(5)
        .map(|row| format!("{}: {} tokens", label(&row.label), row.tokens()))
        .collect::<Vec<_>>()
        .join("; ");
    accessible(svg, &title, &format!("{title}. {summary}."))
}

/// Days left to right, a column each.
fn columns(svg: &mut String, rows: &[&UsageTotal], labels: &[String]) -> Result<(), String> {
    let height = 320;
    let max = rows.iter().map(|row| row.tokens()).max().unwrap_or(0).max(1);
    let root = SVGBackend::with_string(svg, (WIDTH, height)).into_drawing_area();
    let mut chart = ChartBuilder::on(&root)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(64)
        .build_cartesian_2d((0..rows.len() as i32).into_segmented(), 0..max + max / 10 + 1)
        .map_err(|e| e.to_string())?;
    let every = rows.len().div_ceil(8).max(1);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .max_light_lines(1)
        .y_labels(6)
        .x_labels(rows.len())
        .x_label_formatter(&|value| match value {
            // Days as "11-28": the year is in the range above the chart.
            SegmentValue::CenterOf(i) if usize::try_from(*i).is_ok_and(|i| i % every == 0) => usize::try_from(*i)
                .ok()
                .and_then(|i| labels.get(i))
                .map(|l| l.get(5..).unwrap_or(l).to_owned())
                .unwrap_or_default(),
            _ => String::new(),
        })
        .y_desc("tokens")
        .axis_desc_style(("sans-serif", 16))
        .label_style(("sans-serif", 15))
        .draw()
        .map_err(|e| e.to_string())?;
    // Column `i` spans segment i..i+1 across, tokens up.
    let column = |i: usize, (from, to): (i64, i64)| {
        let i = i as i32;
        [(SegmentValue::Exact(i), from), (SegmentValue::Exact(i + 1), to)]
    };
    stacked(&mut chart, rows, column, (0, 0, 4, 4))?;
    root.present().map_err(|e| e.to_string())
}

/// Keys top to bottom, the largest first, a bar each.
fn bars(svg: &mut String, rows: &[&UsageTotal], labels: &[String]) -> Result<(), String> {
    let height = 60 + 28 * rows.len() as u32;
    let max = rows.iter().map(|row| row.tokens()).max().unwrap_or(0).max(1);
    let root = SVGBackend::with_string(svg, (WIDTH, height)).into_drawing_area();
    let mut chart = ChartBuilder::on(&root)
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(190)
        .build_cartesian_2d(0..max + max / 10 + 1, (0..rows.len() as i32).into_segmented())
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .max_light_lines(1)
        .x_labels(6)
        .y_labels(rows.len())
        .y_label_formatter(&|value| top_down_label(labels, value))
        .x_desc("tokens")
        .axis_desc_style(("sans-serif", 16))
        .label_style(("sans-serif", 15))
        .draw()
        .map_err(|e| e.to_string())?;
    // The largest first: row `i` is drawn in the segment counted from the top.
    let bar = |i: usize, (from, to): (i64, i64)| {
        let i = (rows.len() - 1 - i) as i32;
        [(from, SegmentValue::Exact(i)), (to, SegmentValue::Exact(i + 1))]
    };
    stacked(&mut chart, rows, bar, (4, 4, 0, 0))?;
    root.present().map_err(|e| e.to_string())
}

/// Each row's input tokens and, on top of them, its output tokens, as two labelled series with
/// their legend. `place` turns a row's index and token span into the bar's corners; `margin`
/// (top, bottom, left, right) keeps bars apart.
fn stacked<'a, X, Y>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>,
    rows: &[&UsageTotal],
    place: impl Fn(usize, (i64, i64)) -> [(X::ValueType, Y::ValueType); 2],
    margin: (u32, u32, u32, u32),
) -> Result<(), String>
where
    X: plotters::coord::ranged1d::Ranged,
    Y: plotters::coord::ranged1d::Ranged,
{
    for (name, colour, output) in [("input", INPUT, false), ("output", OUTPUT, true)] {
        let series = rows.iter().enumerate().map(|(i, row)| {
            let span = if output { (row.input_tokens, row.tokens()) } else { (0, row.input_tokens) };
            let mut bar = Rectangle::new(place(i, span), colour.filled());
            bar.set_margin(margin.0, margin.1, margin.2, margin.3);
            bar
        });
        chart
            .draw_series(series)
            .map_err(|e| e.to_string())?
            .label(name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled()));
    }
    legend(chart)
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    fn report(group_by: UsageGroup, rows: Vec<(&str, i64, i64)>) -> UsageReport {
        UsageReport {
            group_by,
            from: Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(),
            to: Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap(),
            rows: rows
                .into_iter()
                .map(|(label, input, output)| UsageTotal {
                    key: label.to_owned(),
                    label: label.to_owned(),
                    input_tokens: input,
                    output_tokens: output,
                    cost: 0.0,
                })
                .collect(),
        }
    }

    #[test]
    fn charts_are_svg_with_their_labels_and_a_name() {
        let by_agent = report(UsageGroup::Agent, vec![("Ada (Tea)", 1200, 300), ("Bo <script> (Tea)", 10, 5)]);
        let svg = usage_chart_svg(&by_agent);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{svg}");
        assert!(
            svg.contains("role=\"img\" aria-label=\"Tokens by agent. Ada (Tea): 1500 tokens; Bo script (Tea): 15"),
            "{svg}"
        );
        assert!(svg.contains("\nAda (Tea)\n</text>"), "{svg}");
        assert!(!svg.contains("<script"), "labels carry no markup: {svg}");
        assert!(!svg.contains("#000000"), "text and axes take the page's colour");
        assert!(svg.matches("<rect").count() >= 4, "two stacked bars per row: {svg}");

        let by_day = report(
            UsageGroup::Day,
            (1..=30).map(|d| (if d < 10 { "2026-11-0x" } else { "2026-11-xx" }, d, d)).collect(),
        );
        let svg = usage_chart_svg(&by_day);
        assert!(svg.contains("Tokens by day"), "{svg}");
        assert!(usage_chart_svg(&report(UsageGroup::Model, Vec::new())).is_empty());
    }
}

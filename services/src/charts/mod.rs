//! Charts drawn as SVG on the server with `plotters`, so the browser bundle carries no plotting
//! code: the usage report's ([`usage`]) and a run's timeline ([`runs`]). Text and axes take the
//! page's text colour (`currentColor`), so a chart reads in both themes; each names and
//! describes itself for screen readers, and the page shows a table with the same numbers.

mod runs;
mod usage;

use plotters::prelude::*;

pub use runs::run_chart_svg;
pub use usage::usage_chart_svg;

const WIDTH: u32 = 720;
/// Colours readable on the light and the dark theme alike.
const BLUE_INK: RGBColor = RGBColor(0x3b, 0x5b, 0xdb);
const ORANGE_INK: RGBColor = RGBColor(0xd9, 0x48, 0x0f);
/// Labels longer than this are cut, with an ellipsis.
const LABEL_CHARS: usize = 28;

pub(super) fn legend<'a, X, Y>(chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<X, Y>>) -> Result<(), String>
where
    X: plotters::coord::ranged1d::Ranged,
    Y: plotters::coord::ranged1d::Ranged,
{
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.0))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 15))
        .draw()
        .map_err(|e| e.to_string())
}

/// The label of a bar in a chart drawn top down: the first of `labels` in the top row, which
/// is the last segment of the axis.
pub(super) fn top_down_label(labels: &[String], value: &plotters::coord::ranged1d::SegmentValue<i32>) -> String {
    match value {
        plotters::coord::ranged1d::SegmentValue::CenterOf(i) => usize::try_from(*i)
            .ok()
            .and_then(|i| labels.len().checked_sub(i + 1))
            .and_then(|k| labels.get(k).cloned())
            .unwrap_or_default(),
        _ => String::new(),
    }
}

/// Text as the chart carries it: one line, without the characters markup is made of.
pub(super) fn plain(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .filter(|c| !matches!(c, '<' | '>' | '&' | '"' | '\''))
        .collect();
    clean.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A label as the chart shows it: [`plain`], at most [`LABEL_CHARS`].
pub(super) fn label(text: &str) -> String {
    let clean = plain(text);
    if clean.chars().count() > LABEL_CHARS {
        format!("{}…", clean.chars().take(LABEL_CHARS - 1).collect::<String>())
    } else {
        clean
    }
}

/// Gives the chart a name and a description for screen readers, and the page's text colour.
pub(super) fn accessible(svg: String, title: &str, description: &str) -> String {
    let svg = svg.replace("#000000", "currentColor").replace("#FFFFFF", "none");
    match svg.find('>') {
        Some(end) if svg.starts_with("<svg") => format!(
            "{} role=\"img\" aria-label=\"{}\"><title>{}</title>{}",
            &svg[..end],
            plain(description),
            plain(title),
            &svg[end + 1..]
        ),
        _ => svg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_labels_are_cut() {
        assert_eq!(label("a\nb"), "a b");
        assert_eq!(label(&"x".repeat(40)).chars().count(), LABEL_CHARS);
    }
}

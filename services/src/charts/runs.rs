//! A run's timeline: a row per speaker, time since the run began across, and a bar per turn,
//! split into the wait for the provider's first token and the writing after it.

use domain::runs::{RunTimeline, RunTurn};
use plotters::coord::ranged1d::SegmentValue;
use plotters::prelude::*;

use super::{accessible, label, legend, top_down_label, BLUE_INK, ORANGE_INK, WIDTH};

/// Waiting for the first token, then writing.
const WAITING: RGBColor = ORANGE_INK;
const WRITING: RGBColor = BLUE_INK;
/// The most speakers the chart gives a row; the table lists every turn.
const MAX_ROWS: usize = 12;
/// A turn still being written is drawn this long, so it shows.
const MIN_BAR_MS: i64 = 200;

/// The timeline as an SVG document (an empty string when the run has no turns yet). `now_ms`,
/// milliseconds after the run began, is where unfinished turns end.
pub fn run_chart_svg(timeline: &RunTimeline, now_ms: i64) -> String {
    if timeline.turns.is_empty() {
        return String::new();
    }
    let mut speakers: Vec<&str> = Vec::new();
    for turn in &timeline.turns {
        if !speakers.contains(&turn.speaker.as_str()) && speakers.len() < MAX_ROWS {
            speakers.push(&turn.speaker);
        }
    }
    let labels: Vec<String> = speakers.iter().map(|s| label(s)).collect();
    let mut svg = String::new();
    if let Err(error) = draw(&mut svg, timeline, &speakers, &labels, now_ms) {
        tracing::warn!(%error, "the run chart could not be drawn");
        return String::new();
    }
    let turns = timeline.turns.len();
    let title = "Turns of the run";
    let description = format!(
        "{title}: {turns} turn{} by {} over {} seconds.",
        if turns == 1 { "" } else { "s" },
        labels.join(", "),
        seconds(end_ms(timeline, now_ms))
    );
    accessible(svg, title, &description)
}

fn draw(
    svg: &mut String,
    timeline: &RunTimeline,
    speakers: &[&str],
    labels: &[String],
    now_ms: i64,
) -> Result<(), String> {
    let height = 90 + 34 * speakers.len() as u32;
    let end = end_ms(timeline, now_ms);
    let root = SVGBackend::with_string(svg, (WIDTH, height)).into_drawing_area();
    let mut chart = ChartBuilder::on(&root)
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(150)
        .build_cartesian_2d(0..end + end / 10 + 1, (0..speakers.len() as i32).into_segmented())
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .max_light_lines(1)
        .x_labels(8)
        .x_label_formatter(&|ms| seconds(*ms))
        .y_labels(speakers.len())
        .y_label_formatter(&|value| top_down_label(labels, value))
        .x_desc("seconds since the run began")
        .axis_desc_style(("sans-serif", 16))
        .label_style(("sans-serif", 15))
        .draw()
        .map_err(|e| e.to_string())?;
    let row =
        |turn: &RunTurn| speakers.iter().position(|s| *s == turn.speaker).map(|i| (speakers.len() - 1 - i) as i32);
    for (name, colour, writing) in [("waiting for the first token", WAITING, false), ("writing", WRITING, true)] {
        let bars = timeline.turns.iter().filter_map(|turn| {
            let row = row(turn)?;
            let (waited, finished) = span(turn, now_ms);
            let (from, to) = if writing {
                (turn.started_ms + waited, turn.started_ms + finished)
            } else {
                (turn.started_ms, turn.started_ms + waited)
            };
            let mut bar =
                Rectangle::new([(from, SegmentValue::Exact(row)), (to, SegmentValue::Exact(row + 1))], colour.filled());
            bar.set_margin(6, 6, 0, 0);
            Some(bar)
        });
        chart
            .draw_series(bars)
            .map_err(|e| e.to_string())?
            .label(name)
            .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 10, y + 5)], colour.filled()));
    }
    legend(&mut chart)?;
    root.present().map_err(|e| e.to_string())
}

/// How long a turn waited for its first token and how long it took in all, in milliseconds;
/// a turn still going lasts until `now_ms`.
fn span(turn: &RunTurn, now_ms: i64) -> (i64, i64) {
    let total = turn.duration_ms.unwrap_or_else(|| (now_ms - turn.started_ms).max(MIN_BAR_MS)).max(0);
    let waited = turn.first_token_ms.unwrap_or(if turn.duration_ms.is_some() { 0 } else { total }).clamp(0, total);
    (waited, total)
}

/// Where the time axis ends: the run's elapsed time or its last turn's end, whichever is later.
fn end_ms(timeline: &RunTimeline, now_ms: i64) -> i64 {
    let last = timeline.turns.iter().map(|turn| turn.started_ms + span(turn, now_ms).1).max().unwrap_or(0);
    last.max(timeline.run.elapsed_ms).max(1)
}

/// Milliseconds as seconds with one decimal, as the axis shows them.
fn seconds(ms: i64) -> String {
    let tenths = ms / 100;
    format!("{}.{}", tenths / 10, tenths % 10)
}

#[cfg(test)]
mod tests {
    use chrono::Utc;
    use domain::rooms::MessageStatus;
    use domain::runs::{RunStatus, RunStatusEvent};
    use uuid::Uuid;

    use super::*;

    fn turn(speaker: &str, started_ms: i64, first_token_ms: Option<i64>, duration_ms: Option<i64>) -> RunTurn {
        RunTurn {
            message_id: Uuid::now_v7(),
            agent_id: Some(Uuid::now_v7()),
            speaker: speaker.to_owned(),
            status: if duration_ms.is_some() { MessageStatus::Complete } else { MessageStatus::Streaming },
            started_ms,
            first_token_ms,
            duration_ms,
            tokens_in: Some(10),
            tokens_out: Some(20),
            model: Some("demo".to_owned()),
        }
    }

    fn timeline(turns: Vec<RunTurn>) -> RunTimeline {
        RunTimeline {
            run: RunStatusEvent {
                run_id: Uuid::now_v7(),
                status: RunStatus::Running,
                step: turns.len() as i64,
                max_steps: 10,
                elapsed_ms: 3_000,
                max_seconds: 60,
                tokens_used: 60,
                budget_tokens: None,
                stop_reason: None,
                cost: 0.0,
            },
            started_at: Utc::now(),
            turns,
        }
    }

    #[test]
    fn a_row_per_speaker_and_two_parts_per_turn() {
        let run = timeline(vec![
            turn("Ada", 0, Some(300), Some(1_200)),
            turn("Bo <b>", 1_250, Some(250), Some(900)),
            turn("Ada", 2_200, None, None),
        ]);
        let svg = run_chart_svg(&run, 2_500);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{svg}");
        assert!(svg.contains("aria-label=\"Turns of the run: 3 turns by Ada, Bo b over 3.0 seconds.\""), "{svg}");
        assert!(svg.contains("\nAda\n</text>") && svg.contains("\nBo b\n</text>"), "{svg}");
        assert!(!svg.contains("<b>"), "names carry no markup");
        // Three turns, each drawn waiting and writing, plus two legend swatches and the frame.
        assert!(svg.matches("<rect").count() >= 8, "{svg}");
        assert!(svg.contains("waiting for the first token") && svg.contains("writing"), "{svg}");
        assert!(run_chart_svg(&timeline(Vec::new()), 0).is_empty());
    }

    #[test]
    fn unfinished_turns_last_until_now() {
        let going = turn("Ada", 1_000, None, None);
        assert_eq!(span(&going, 1_600), (600, 600), "no first token yet: all of it is waiting");
        assert_eq!(span(&going, 1_050), (MIN_BAR_MS, MIN_BAR_MS));
        let done = turn("Ada", 0, Some(400), Some(1_000));
        assert_eq!(span(&done, 99_999), (400, 1_000));
        assert_eq!(seconds(12_345), "12.3");
    }
}

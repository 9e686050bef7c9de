//! The run report as HTML, rendered on the server only.

use domain::rooms::MessageStatus;
use domain::runs::{Run, RunStatus, RunStatusEvent, RunTimeline, RunTurn};
use leptos::prelude::*;
use uuid::Uuid;

use crate::numbers::decimal;
use crate::rooms::run_controls::{capitalized, reason_label};

/// The report: the run's state, its meters as progress bars against its limits, the chart of
/// its turns, the table behind the chart and links to the room's other runs.
pub fn render(room_id: Uuid, timeline: &RunTimeline, chart_svg: &str, runs: &[Run]) -> String {
    let run = &timeline.run;
    let state = match (run.status, run.stop_reason) {
        (RunStatus::Running, _) => "Running".to_owned(),
        (status, Some(reason)) => format!("{} — {}", capitalized(status.as_str()), reason_label(reason)),
        (status, None) => capitalized(status.as_str()),
    };
    let turns = timeline.turns.clone();
    let chart = (!chart_svg.is_empty()).then(|| chart_svg.to_owned());
    let others: Vec<Run> = runs.iter().filter(|other| other.id != run.run_id).take(20).cloned().collect();
    view! {
        <p class="run-state-line" data-run-status=run.status.as_str()>
            <strong>{state}</strong>
            {format!(" · started {} UTC · ${}", crate::time::date_time(&timeline.started_at), decimal(run.cost, 4))}
        </p>
        <RunMeters run=run.clone() />
        <section class="card run-chart" aria-labelledby="run-turns-heading">
            <h2 id="run-turns-heading">"Turns"</h2>
            {match chart {
                Some(svg) => view! {
                    <figure class="usage-chart" inner_html=svg></figure>
                    <TurnTable turns />
                }.into_any(),
                None => view! { <p class="empty">"No turns yet."</p> }.into_any(),
            }}
        </section>
        {(!others.is_empty()).then(|| view! { <OtherRuns room_id runs=others /> })}
    }
    .to_html()
}

/// Steps, seconds and tokens as progress bars against the run's limits.
#[component]
fn RunMeters(run: RunStatusEvent) -> impl IntoView {
    let seconds = (run.elapsed_ms / 1000).min(run.max_seconds);
    let meter = |id: &'static str, name: &'static str, value: i64, max: Option<i64>| {
        let label_id = format!("{id}-label");
        let text = match max {
            Some(max) => format!("{value} of {max}"),
            None => format!("{value}, no limit"),
        };
        view! {
            <div class="run-meter" data-meter=id>
                <span id=label_id.clone()>{name}</span>
                {max.map(|max| view! {
                    <progress id=id aria-labelledby=label_id.clone() max=max value=value.min(max)>{text.clone()}</progress>
                })}
                <span class="run-meter-value">{text.clone()}</span>
            </div>
        }
    };
    view! {
        <section class="card run-meters-card" aria-label="Meters">
            {meter("run-steps", "Steps", run.step, Some(run.max_steps))}
            {meter("run-seconds", "Seconds", seconds, Some(run.max_seconds))}
            {meter("run-tokens", "Tokens", run.tokens_used, run.budget_tokens)}
        </section>
    }
}

#[component]
fn TurnTable(turns: Vec<RunTurn>) -> impl IntoView {
    let ms = |value: Option<i64>| {
        value.map(|ms| format!("{} s", decimal(ms as f64 / 1000.0, 2))).unwrap_or_else(|| "–".to_owned())
    };
    let count = |value: Option<i64>| value.map(|n| n.to_string()).unwrap_or_else(|| "–".to_owned());
    view! {
        <div class="table-scroll" tabindex="0" role="region" aria-label="Turns of the run">
        <table class="data-table run-turns">
            <caption class="visually-hidden">"Turns of the run, in order"</caption>
            <thead>
                <tr>
                    <th scope="col" class="number">"#"</th>
                    <th scope="col">"Speaker"</th>
                    <th scope="col" class="number">"Began at"</th>
                    <th scope="col" class="number">"First token"</th>
                    <th scope="col" class="number">"Duration"</th>
                    <th scope="col" class="number">"Tokens in"</th>
                    <th scope="col" class="number">"Tokens out"</th>
                    <th scope="col">"Model"</th>
                </tr>
            </thead>
            <tbody>
                {turns
                    .into_iter()
                    .enumerate()
                    .map(|(i, turn)| {
                        let speaker = match turn.status {
                            MessageStatus::Complete => turn.speaker.clone(),
                            status => format!("{} ({})", turn.speaker, status.as_str()),
                        };
                        view! {
                            <tr data-message=turn.message_id.to_string()>
                                <td class="number">{i + 1}</td>
                                <th scope="row">{speaker}</th>
                                <td class="number">{ms(Some(turn.started_ms))}</td>
                                <td class="number">{ms(turn.first_token_ms)}</td>
                                <td class="number">{ms(turn.duration_ms)}</td>
                                <td class="number">{count(turn.tokens_in)}</td>
                                <td class="number">{count(turn.tokens_out)}</td>
                                <td>{turn.model.unwrap_or_default()}</td>
                            </tr>
                        }
                    })
                    .collect_view()}
            </tbody>
        </table>
        </div>
    }
}

#[component]
fn OtherRuns(room_id: Uuid, runs: Vec<Run>) -> impl IntoView {
    view! {
        <nav class="card run-list" aria-labelledby="other-runs-heading">
            <h2 id="other-runs-heading">"The room's other runs"</h2>
            <ul>
                {runs
                    .into_iter()
                    .map(|run| {
                        let href = format!("/rooms/{room_id}/runs/{}", run.id);
                        let text = format!(
                            "{} UTC · {} · {} steps · {} tokens",
                            crate::time::date_time(&run.started_at),
                            run.status.as_str(),
                            run.steps,
                            run.tokens_used
                        );
                        view! { <li><a href=href>{text}</a></li> }
                    })
                    .collect_view()}
            </ul>
        </nav>
    }
}

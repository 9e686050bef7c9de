//! The task a confirm wrote, with its state kept live while it is watched.

use domain::control_plane::ConfirmResponse;
use leptos::prelude::*;

use super::state::PanelState;

#[component]
pub fn TaskCard(state: PanelState, task: ConfirmResponse) -> impl IntoView {
    let task_state = move || state.watched.with(|w| w.as_ref().map(|p| p.state)).unwrap_or(task.state);
    let summary = move || state.watched.with(|w| w.as_ref().and_then(|p| p.result_summary.clone()));

    view! {
        <section class="card task-card" aria-label="Confirmed task">
            <h2>"Task written"</h2>
            <p>{task.ack.clone()}</p>
            <dl class="facts">
                <dt>"Task id"</dt>
                <dd><code class="task-id">{task.task_id.clone()}</code></dd>
                <dt>"Path written"</dt>
                <dd><code class="path-written">{task.path_written.clone()}</code></dd>
                <dt>"State"</dt>
                <dd>
                    <span class=move || format!("badge state state--{}", task_state().as_str()) data-state=move || task_state().as_str()>
                        {move || task_state().as_str()}
                    </span>
                </dd>
                <Show when=move || summary().is_some()>
                    <dt>"Result"</dt>
                    <dd class="result-summary">{summary}</dd>
                </Show>
            </dl>
        </section>
    }
}

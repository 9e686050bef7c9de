//! The tasks this tab's session confirmed, newest first.

use leptos::prelude::*;

use super::preview_card::RiskBadge;
use super::state::PanelState;
use crate::time::clock_seconds;

#[component]
pub fn TaskList(state: PanelState) -> impl IntoView {
    view! {
        <section class="recent-tasks">
            <h2>"This session's tasks"</h2>
            <Show
                when=move || !state.tasks.with(Vec::is_empty)
                fallback=|| view! { <p class="empty">"No tasks confirmed in this session yet."</p> }
            >
                <table class="tasks-table">
                    <thead>
                        <tr><th>"Task"</th><th>"Command"</th><th>"Risk"</th><th>"Lane"</th><th>"State"</th><th>"Updated"</th></tr>
                    </thead>
                    <tbody>
                        <For each=move || state.tasks.get() key=|t| (t.task_id.clone(), t.state) let:task>
                            <tr>
                                <td><code>{task.task_id.clone()}</code></td>
                                <td>{task.raw_input.clone()}</td>
                                <td><RiskBadge risk=task.risk /></td>
                                <td>{task.lane.as_str()}</td>
                                <td><span class=format!("badge state state--{}", task.state.as_str())>{task.state.as_str()}</span></td>
                                <td><time datetime=task.updated_at.to_rfc3339()>{clock_seconds(&task.updated_at)}</time></td>
                            </tr>
                        </For>
                    </tbody>
                </table>
            </Show>
        </section>
    }
}

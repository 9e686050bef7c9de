use domain::control_plane::{
    Channel, ConfirmResponse, Lane, PreviewResponse, Risk, SessionTask, StructuredOverride, TaskState,
};
use leptos::prelude::*;
use leptos::task::spawn_local;
use leptos_meta::Title;

use crate::control_plane::api::{confirm_preview, preview_command, session_tasks};
use crate::control_plane::session::tab_session_id;

/// The governance panel: a command becomes a previewed task, written only when confirmed, then
/// watched until the execution plane reports it done or failed.
#[component]
pub fn ControlPlanePage() -> impl IntoView {
    view! {
        <Title text="Control plane" />
        <div class="page-head">
            <h1>"Control plane"</h1>
            <p class="lede">
                "Type a command in plain language. You see the structured task, its risk and its lane first; "
                "nothing is written until you confirm. The gateway never executes anything, and every step is logged."
            </p>
        </div>
        <ControlPanel />
    }
}

/// The panel itself, interactive from end to end.
#[island]
fn ControlPanel() -> impl IntoView {
    let session = RwSignal::new(String::new());
    let command = RwSignal::new(String::new());
    let channel = RwSignal::new(Channel::Web);
    let preview = RwSignal::new(None::<PreviewResponse>);
    let override_json = RwSignal::new(String::new());
    let confirmed = RwSignal::new(None::<ConfirmResponse>);
    let watched = RwSignal::new(None::<(TaskState, Option<String>)>);
    let tasks = RwSignal::new(Vec::<SessionTask>::new());
    let error = RwSignal::new(None::<String>);
    let busy = RwSignal::new(false);

    let refresh_tasks = move || {
        let session_id = session.get_untracked();
        if session_id.is_empty() {
            return;
        }
        spawn_local(async move {
            if let Ok(list) = session_tasks(session_id).await {
                tasks.set(list.tasks);
            }
        });
    };

    // The session lives in the tab; the server cannot know it.
    Effect::new(move |_| {
        session.set(tab_session_id());
        refresh_tasks();
    });

    let on_preview = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let raw_input = command.get_untracked();
        if raw_input.trim().is_empty() {
            error.set(Some("Type a command first.".into()));
            return;
        }
        busy.set(true);
        confirmed.set(None);
        watched.set(None);
        spawn_local(async move {
            match preview_command(raw_input, channel.get_untracked(), session.get_untracked()).await {
                Ok(response) => {
                    error.set(None);
                    override_json.set(String::new());
                    preview.set(Some(response));
                }
                Err(e) => error.set(Some(format!("{}: {}", e.code, e.message))),
            }
            busy.set(false);
        });
    };

    let on_confirm = move |_| {
        let Some(current) = preview.get_untracked() else { return };
        let structured_override = if current.requires_structured_override {
            match serde_json::from_str::<StructuredOverride>(&override_json.get_untracked()) {
                Ok(parsed) => Some(parsed),
                Err(_) if override_json.get_untracked().trim().is_empty() => None,
                Err(e) => {
                    error.set(Some(format!("The structured override is not valid JSON for a task: {e}")));
                    return;
                }
            }
        } else {
            None
        };
        busy.set(true);
        spawn_local(async move {
            match confirm_preview(current.preview_id.clone(), session.get_untracked(), structured_override).await {
                Ok(response) => {
                    error.set(None);
                    preview.set(None);
                    command.set(String::new());
                    watched.set(Some((response.state, None)));
                    confirmed.set(Some(response));
                    refresh_tasks();
                }
                Err(e) => error.set(Some(format!("{}: {}", e.code, e.message))),
            }
            busy.set(false);
        });
    };

    // Keep the confirmed task's state live until it is final.
    #[cfg(feature = "hydrate")]
    watch_until_final(confirmed, watched, session, refresh_tasks);

    view! {
        <form class="command-form" on:submit=on_preview>
            <div class="field command-field">
                <label for="cp-command">"Command"</label>
                <input
                    id="cp-command"
                    name="raw_input"
                    autocomplete="off"
                    placeholder="e.g. liam check status · lisa run backup_db · show inbox"
                    prop:value=move || command.get()
                    on:input:target=move |ev| command.set(ev.target().value())
                />
            </div>
            <div class="field">
                <label for="cp-channel">"Channel"</label>
                <select
                    id="cp-channel"
                    name="channel"
                    on:change:target=move |ev| {
                        if let Ok(parsed) = ev.target().value().parse::<Channel>() {
                            channel.set(parsed);
                        }
                    }
                >
                    {Channel::ALL
                        .iter()
                        .map(|c| view! { <option value=c.as_str() selected=*c == Channel::Web>{c.as_str()}</option> })
                        .collect_view()}
                </select>
            </div>
            <button type="submit" class="primary" disabled=move || busy.get() || session.with(String::is_empty)>
                "Preview"
            </button>
        </form>
        <p class="hint session-line">
            "Session "
            <code>{move || { let s = session.get(); if s.is_empty() { "starting…".to_owned() } else { s } }}</code>
            " · kept for this tab"
        </p>
        {move || error.get().map(|e| view! { <p class="error-banner" role="alert">{e}</p> })}
        {move || {
            preview
                .get()
                .map(|p| {
                    view! {
                        <PreviewCard
                            preview=p
                            override_json
                            busy
                            on_confirm=Callback::new(on_confirm)
                            on_cancel=Callback::new(move |_| preview.set(None))
                        />
                    }
                })
        }}
        {move || {
            confirmed
                .get()
                .map(|task| {
                    let state = move || watched.get().map(|(s, _)| s).unwrap_or(task.state);
                    let summary = move || watched.get().and_then(|(_, summary)| summary);
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
                                    <span class=move || format!("badge state state--{}", state().as_str()) data-state=move || state().as_str()>
                                        {move || state().as_str()}
                                    </span>
                                </dd>
                                <Show when=move || summary().is_some()>
                                    <dt>"Result"</dt>
                                    <dd class="result-summary">{summary}</dd>
                                </Show>
                            </dl>
                        </section>
                    }
                })
        }}
        <section class="recent-tasks">
            <h2>"This session's tasks"</h2>
            <Show
                when=move || !tasks.with(Vec::is_empty)
                fallback=|| view! { <p class="empty">"No tasks confirmed in this session yet."</p> }
            >
                <table class="tasks-table">
                    <thead>
                        <tr><th>"Task"</th><th>"Command"</th><th>"Risk"</th><th>"Lane"</th><th>"State"</th><th>"Updated"</th></tr>
                    </thead>
                    <tbody>
                        <For each=move || tasks.get() key=|t| (t.task_id.clone(), t.state) let:task>
                            <tr>
                                <td><code>{task.task_id.clone()}</code></td>
                                <td>{task.raw_input.clone()}</td>
                                <td><RiskBadge risk=task.risk /></td>
                                <td>{task.lane.as_str()}</td>
                                <td><span class=format!("badge state state--{}", task.state.as_str())>{task.state.as_str()}</span></td>
                                <td><time datetime=task.updated_at.to_rfc3339()>{crate::time::clock_seconds(&task.updated_at)}</time></td>
                            </tr>
                        </For>
                    </tbody>
                </table>
            </Show>
        </section>
    }
}

#[component]
fn RiskBadge(risk: Risk) -> impl IntoView {
    view! { <span class=format!("badge risk risk--{}", risk.as_str())>{format!("{} risk", risk.as_str())}</span> }
}

#[component]
fn PreviewCard(
    preview: PreviewResponse,
    override_json: RwSignal<String>,
    busy: RwSignal<bool>,
    on_confirm: Callback<()>,
    on_cancel: Callback<()>,
) -> impl IntoView {
    let task = preview.normalized_task.clone();
    // A live countdown to the preview's expiry, from the TTL the server gave.
    let remaining = RwSignal::new(preview.ttl_seconds as i64);
    #[cfg(feature = "hydrate")]
    {
        let started = js_sys::Date::now();
        let ttl = preview.ttl_seconds as f64;
        let handle = set_interval_with_handle(
            move || remaining.set((ttl - (js_sys::Date::now() - started) / 1000.0).ceil().max(0.0) as i64),
            std::time::Duration::from_millis(250),
        );
        if let Ok(handle) = handle {
            on_cleanup(move || handle.clear());
        }
    }
    let countdown = move || {
        let left = remaining.get();
        if left <= 0 {
            "expired".to_owned()
        } else {
            format!("expires in {}:{:02}", left / 60, left % 60)
        }
    };
    let lane_label = match task.lane {
        Lane::Fast => "fast — written to the inbox",
        Lane::Approval => "approval — written to pending approval",
    };
    let needs_override = preview.requires_structured_override;

    view! {
        <section class="card preview-card" aria-label="Preview">
            <header class="preview-head">
                <h2>{task.intent.clone()}</h2>
                <RiskBadge risk=task.risk />
                <span class="ttl" role="timer">{countdown}</span>
            </header>
            <dl class="facts">
                <dt>"Intent"</dt>
                <dd class="intent">{task.intent.clone()}</dd>
                <dt>"Operations"</dt>
                <dd>
                    <ul class="operations">
                        {task
                            .operations
                            .iter()
                            .map(|op| {
                                let args = op.args.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(", ");
                                view! { <li><code>{op.tool.clone()}</code>{(!args.is_empty()).then(|| format!(" ({args})"))}</li> }
                            })
                            .collect_view()}
                    </ul>
                </dd>
                <dt>"Risk"</dt>
                <dd class="risk-reason">{preview.risk_reason.clone()}</dd>
                <dt>"Lane"</dt>
                <dd class="lane">{lane_label}</dd>
                <dt>"Matched rule"</dt>
                <dd><code class="rule-id">{preview.rule_id.clone()}</code>" (rules " {preview.rules_version.clone()} ")"</dd>
                <dt>"Proposed task id"</dt>
                <dd><code>{task.task_id.clone()}</code></dd>
            </dl>
            <Show when=move || needs_override>
                <div class="field">
                    <label for="cp-override">"Structured override (JSON)"</label>
                    <textarea
                        id="cp-override"
                        rows="4"
                        placeholder=r#"{"intent": "task_execution", "operations": [{"tool": "task_runner", "args": {"task": "backup_db"}}]}"#
                        prop:value=move || override_json.get()
                        on:input:target=move |ev| override_json.set(ev.target().value())
                    ></textarea>
                    <p class="hint">"The command was not recognised: confirming needs a structured task. Its risk stays high."</p>
                </div>
            </Show>
            <div class="form-actions">
                <button type="button" class="primary" on:click=move |_| on_confirm.run(()) disabled=move || busy.get() || remaining.get() <= 0>
                    "Confirm"
                </button>
                <button type="button" on:click=move |_| on_cancel.run(())>"Cancel"</button>
            </div>
        </section>
    }
}

/// Polls the confirmed task's state every second until the execution plane reports it final.
#[cfg(feature = "hydrate")]
fn watch_until_final(
    confirmed: RwSignal<Option<ConfirmResponse>>,
    watched: RwSignal<Option<(TaskState, Option<String>)>>,
    session: RwSignal<String>,
    refresh_tasks: impl Fn() + Copy + 'static,
) {
    use crate::control_plane::api::watch_task;

    let handle = set_interval_with_handle(
        move || {
            let Some(task) = confirmed.get_untracked() else { return };
            if watched.get_untracked().is_some_and(|(state, _)| state.is_final()) {
                return;
            }
            let session_id = session.get_untracked();
            spawn_local(async move {
                if let Ok(update) = watch_task(task.task_id.clone(), session_id).await {
                    let changed = watched.get_untracked().map(|(s, _)| s) != Some(update.state);
                    watched.set(Some((update.state, update.result_summary)));
                    if changed {
                        refresh_tasks();
                    }
                }
            });
        },
        std::time::Duration::from_secs(1),
    );
    if let Ok(handle) = handle {
        on_cleanup(move || handle.clear());
    }
}

//! The preview of a command: the structured task, its risk and its lane, confirmable until its
//! time runs out. Confirm and Cancel are plain forms until the island hydrates.

use domain::control_plane::{Lane, PreviewResponse, Risk};
use leptos::prelude::*;
use leptos::task::spawn_local;

use leptos::server_fn::ServerFn;

use super::api::confirm_preview;
use super::api::plain::ConfirmPreviewForm;
use super::state::PanelState;
use super::watch::refresh_tasks;
use crate::forms::typed_value;

#[component]
pub fn PreviewCard(state: PanelState, preview: PreviewResponse) -> impl IntoView {
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
    if let Some(typed) = typed_value("cp-override") {
        state.override_json.set(typed);
    }
    // Where the browser itself posts, before hydration: this preview of this session.
    let session_id = state.session.get_untracked();
    let preview_id = preview.preview_id.clone();

    let confirm = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let Some(current) = state.preview.get_untracked() else { return };
        let structured_override = match state.structured_override(&current) {
            Ok(structured_override) => structured_override,
            Err(message) => {
                state.show_error(message);
                return;
            }
        };
        state.busy.set(true);
        spawn_local(async move {
            match confirm_preview(current.preview_id, state.session.get_untracked(), structured_override).await {
                Ok(task) => {
                    state.task_confirmed(task);
                    refresh_tasks(state);
                }
                Err(error) => state.request_failed(error),
            }
            state.busy.set(false);
        });
    };

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
            <form class="confirm-form" method="post" action=ConfirmPreviewForm::url() on:submit=confirm>
                <input type="hidden" name="session_id" value=session_id.clone() />
                <input type="hidden" name="preview_id" value=preview_id />
                <Show when=move || needs_override>
                    <div class="field">
                        <label for="cp-override">"Structured override (JSON)"</label>
                        <textarea
                            id="cp-override"
                            name="structured_override"
                            rows="4"
                            placeholder=r#"{"intent": "task_execution", "operations": [{"tool": "task_runner", "args": {"task": "backup_db"}}]}"#
                            prop:value=move || state.override_json.get()
                            on:input:target=move |ev| state.override_json.set(ev.target().value())
                        ></textarea>
                        <p class="hint">"The command was not recognised: confirming needs a structured task. Its risk stays high."</p>
                    </div>
                </Show>
                <div class="form-actions">
                    <button type="submit" class="primary" disabled=move || state.busy.get() || remaining.get() <= 0>
                        "Confirm"
                    </button>
                    // Belongs to the form below: without the island it goes back to the panel.
                    <button
                        type="submit"
                        form="cp-cancel"
                        on:click=move |ev| {
                            ev.prevent_default();
                            state.preview_cancelled();
                        }
                    >
                        "Cancel"
                    </button>
                </div>
            </form>
            <form id="cp-cancel" method="get" action="/control-plane" hidden>
                <input type="hidden" name="session_id" value=session_id />
            </form>
        </section>
    }
}

#[component]
pub fn RiskBadge(risk: Risk) -> impl IntoView {
    view! { <span class=format!("badge risk risk--{}", risk.as_str())>{format!("{} risk", risk.as_str())}</span> }
}

//! The command line of the panel: what to do and through which channel. Preview asks the
//! gateway what the command would become; nothing is written yet. Before the island hydrates it
//! is a plain form, and the page comes back showing the preview.

use domain::control_plane::Channel;
use leptos::prelude::*;
use leptos::task::spawn_local;

use leptos::server_fn::ServerFn;

use super::api::plain::PreviewCommandForm;
use super::api::preview_command;
use super::state::PanelState;
use crate::forms::typed_value;

#[component]
pub fn CommandForm(state: PanelState) -> impl IntoView {
    // What was typed and chosen while the page loaded counts.
    if let Some(typed) = typed_value("cp-command") {
        state.command.set(typed);
    }
    if let Some(channel) = typed_value("cp-channel").and_then(|c| c.parse::<Channel>().ok()) {
        state.channel.set(channel);
    }

    let on_preview = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let raw_input = state.command.get_untracked();
        if raw_input.trim().is_empty() {
            state.show_error("Type a command first.");
            return;
        }
        state.preview_requested();
        spawn_local(async move {
            match preview_command(raw_input, state.channel.get_untracked(), state.session.get_untracked()).await {
                Ok(preview) => state.preview_received(preview),
                Err(error) => state.request_failed(error),
            }
            state.busy.set(false);
        });
    };

    view! {
        <form class="command-form" method="post" action=PreviewCommandForm::url() on:submit=on_preview>
            <input type="hidden" name="session_id" value=state.session.get_untracked() />
            <div class="field command-field">
                <label for="cp-command">"Command"</label>
                <input
                    id="cp-command"
                    name="raw_input"
                    autocomplete="off"
                    placeholder="e.g. liam check status · lisa run backup_db · show inbox"
                    required
                    prop:value=move || state.command.get()
                    on:input:target=move |ev| state.command.set(ev.target().value())
                />
            </div>
            <div class="field">
                <label for="cp-channel">"Channel"</label>
                <select
                    id="cp-channel"
                    name="channel"
                    on:change:target=move |ev| {
                        if let Ok(parsed) = ev.target().value().parse::<Channel>() {
                            state.channel.set(parsed);
                        }
                    }
                >
                    {Channel::FOR_CLIENTS
                        .iter()
                        .map(|c| view! { <option value=c.as_str() selected=*c == state.channel.get_untracked()>{c.as_str()}</option> })
                        .collect_view()}
                </select>
            </div>
            <button type="submit" class="primary" disabled=move || state.busy.get() || state.session.with(String::is_empty)>
                "Preview"
            </button>
        </form>
    }
}

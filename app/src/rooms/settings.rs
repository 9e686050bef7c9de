//! A room's settings, for its owners: name, mode, the limits of auto-mode runs, visibility, and deleting the room, which
//! asks first. Plain forms: the page comes back after each change.

use domain::rooms::{limits, Room, RoomMode, RoomVisibility};
use domain::runs;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;

use super::api::{form, DeleteRoom, UpdateRoom};
use super::labels::{mode_choice, visibility_choice};
use crate::forms::error_for;

#[component]
pub fn RoomSettings(room: Room) -> impl IntoView {
    let room_id = room.id.to_string();
    let limits_now = room.run_limits;
    view! {
        <section class="card room-settings" id="settings" aria-labelledby="settings-title">
            <h2 id="settings-title">"Room settings"</h2>
            <form method="post" action=UpdateRoom::url() class="settings-form">
                <input type="hidden" name="room_id" value=room_id.clone() />
                <div class="field">
                    <label for="settings-name">"Room name"</label>
                    <input id="settings-name" name="name" required maxlength=limits::NAME_MAX_CHARS value=room.name.clone() />
                </div>
                <div class="field">
                    <label for="settings-mode">"Mode"</label>
                    <select id="settings-mode" name="mode">
                        {RoomMode::ALL
                            .iter()
                            .map(|mode| view! { <option value=mode.as_str() selected=*mode == room.mode>{mode_choice(*mode)}</option> })
                            .collect_view()}
                    </select>
                </div>
                <fieldset class="field run-limits">
                    <legend>"Runs in auto mode"</legend>
                    <p class="hint">"In auto mode, a member's message starts a run with these limits; the Start button offers them too."</p>
                    <label for="settings-max-steps">"Steps per run"</label>
                    <input id="settings-max-steps" name="max_steps" type="number" min="1" max=runs::limits::MAX_STEPS required
                        value=limits_now.max_steps.to_string() />
                    <label for="settings-max-seconds">"Seconds per run"</label>
                    <input id="settings-max-seconds" name="max_seconds" type="number" min="1" max=runs::limits::MAX_SECONDS required
                        value=limits_now.max_seconds.to_string() />
                    <label for="settings-budget">"Tokens per run"</label>
                    <input id="settings-budget" name="budget_tokens" type="number" min="1" placeholder="no limit"
                        value=limits_now.budget_tokens.map(|b| b.to_string()).unwrap_or_default() />
                </fieldset>
                <div class="field">
                    <label for="settings-visibility">"Visibility"</label>
                    <select id="settings-visibility" name="visibility">
                        {RoomVisibility::ALL
                            .iter()
                            .map(|v| view! { <option value=v.as_str() selected=*v == room.visibility>{visibility_choice(*v)}</option> })
                            .collect_view()}
                    </select>
                </div>
                <button type="submit" class="primary">"Save settings"</button>
            </form>
            {error_for(form::SETTINGS).map(|e| view! { <p class="error-banner" role="alert">{e}</p> })}
            <details class="danger-zone">
                <summary>"Delete room…"</summary>
                <p>"This deletes the room with its agents, messages and runs, for everyone. It cannot be undone."</p>
                <form method="post" action=DeleteRoom::url()>
                    <input type="hidden" name="room_id" value=room_id />
                    <button type="submit" class="danger">"Delete this room for good"</button>
                </form>
            </details>
            {error_for(form::DELETE_ROOM).map(|e| view! { <p class="error-banner" role="alert">{e}</p> })}
        </section>
    }
}

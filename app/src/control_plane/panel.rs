//! The governance panel: a command becomes a previewed task, written only when confirmed, then
//! watched until the execution plane reports it done or failed.

use leptos::prelude::*;

use super::command_form::CommandForm;
use super::preview_card::PreviewCard;
use super::session::tab_session_id;
use super::state::PanelState;
use super::task_card::TaskCard;
use super::task_list::TaskList;
use super::watch::refresh_tasks;

/// Everything on the panel is interactive, so it is one island.
#[island]
pub fn ControlPanel() -> impl IntoView {
    let state = PanelState::new();

    // The session lives in the tab; the server cannot know it.
    Effect::new(move |_| {
        state.session.set(tab_session_id());
        refresh_tasks(state);
    });

    #[cfg(feature = "hydrate")]
    super::watch::watch_until_final(state);

    let session_label = move || {
        let session = state.session.get();
        if session.is_empty() {
            "starting…".to_owned()
        } else {
            session
        }
    };

    view! {
        <CommandForm state />
        <p class="hint session-line">"Session " <code>{session_label}</code> " · kept for this tab"</p>
        {move || state.error.get().map(|e| view! { <p class="error-banner" role="alert">{e}</p> })}
        {move || state.preview.get().map(|preview| view! { <PreviewCard state preview /> })}
        {move || state.confirmed.get().map(|task| view! { <TaskCard state task /> })}
        <TaskList state />
    }
}

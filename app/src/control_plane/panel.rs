//! The governance panel: a command becomes a previewed task, written only when confirmed, then
//! watched until the execution plane reports it done or failed.

use leptos::prelude::*;

use leptos::server_fn::ServerFn;

use super::api::plain::{form, EndSessionForm};
use super::api::PanelStart;
use super::command_form::CommandForm;
use super::preview_card::PreviewCard;
use super::session::{adopt_session, tab_session_id};
use super::state::{PanelState, TaskProgress};
use super::task_card::TaskCard;
use super::task_list::TaskList;
use super::watch::refresh_tasks;
use crate::forms::Notice;

/// Everything on the panel is interactive, so it is one island. Until it hydrates its forms are
/// plain forms posting with `start`'s session; `notice` is what such a post left: a refusal, or
/// the task a confirm wrote.
#[island]
pub fn ControlPanel(start: PanelStart, notice: Option<Notice>) -> impl IntoView {
    let state = PanelState::new();
    let PanelStart { session_id, session_from_address, preview, tasks } = start;
    let notice = notice.filter(|n| [form::COMMAND, form::CONFIRM, form::SESSION].contains(&n.form.as_str()));
    let info = notice.as_ref().and_then(|n| n.info.clone());
    state.session.set(session_id.clone());
    state.preview.set(preview);
    state.tasks.set(tasks);
    state.error.set(notice.as_ref().and_then(|n| n.error.clone()));
    if let Some(task) = notice.and_then(|n| n.task) {
        state.watched.set(Some(TaskProgress { state: task.state, result_summary: None }));
        state.confirmed.set(Some(task));
    }

    // The tab keeps its session; one named by the address (a plain post's) becomes the tab's.
    Effect::new(move |_| {
        if session_from_address {
            adopt_session(&session_id);
        }
        state.session.set(tab_session_id());
        refresh_tasks(state);
    });

    #[cfg(feature = "hydrate")]
    super::watch::watch_until_final(state);

    view! {
        <CommandForm state />
        // Ending the session is always a plain post: the page comes back in a new session.
        <form class="session-line" method="post" action=EndSessionForm::url()>
            <p class="hint">"Session " <code>{move || state.session.get()}</code> " · kept for this tab"</p>
            <input type="hidden" name="session_id" value=state.session.get_untracked() prop:value=move || state.session.get() />
            <button type="submit" class="link" disabled=move || state.busy.get()
                title="Ends this session on the server: previews waiting for a confirm are dropped. Tasks already written go on.">
                "End session"
            </button>
        </form>
        {info.map(|info| view! { <p class="info-banner" role="status">{info}</p> })}
        {move || state.error.get().map(|e| view! { <p class="error-banner" role="alert">{e}</p> })}
        {move || state.preview.get().map(|preview| view! { <PreviewCard state preview /> })}
        {move || state.confirmed.get().map(|task| view! { <TaskCard state task /> })}
        <TaskList state />
    }
}

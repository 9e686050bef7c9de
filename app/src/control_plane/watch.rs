//! Keeps the panel current: the session's task list, and the confirmed task's state until the
//! execution plane reports it final.

use leptos::prelude::*;
use leptos::task::spawn_local;

use super::api::session_tasks;
use super::state::PanelState;

/// Reloads the session's task list; nothing to load before the tab has its session.
pub fn refresh_tasks(state: PanelState) {
    let session_id = state.session.get_untracked();
    if session_id.is_empty() {
        return;
    }
    spawn_local(async move {
        if let Ok(list) = session_tasks(session_id).await {
            state.tasks.set(list.tasks);
        }
    });
}

/// Polls the confirmed task's state every second until it is final.
#[cfg(feature = "hydrate")]
pub fn watch_until_final(state: PanelState) {
    use super::api::watch_task;

    let handle = set_interval_with_handle(
        move || {
            let Some(task) = state.confirmed.get_untracked() else { return };
            if state.watch_is_over() {
                return;
            }
            let session_id = state.session.get_untracked();
            spawn_local(async move {
                if let Ok(update) = watch_task(task.task_id.clone(), session_id).await {
                    if state.task_watched(update) {
                        refresh_tasks(state);
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

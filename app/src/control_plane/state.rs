//! The panel's state: the command being typed, its preview, the confirmed task and the session's
//! task list. The components read these signals; the transitions below are the only writers of
//! more than one of them at a time.

use domain::control_plane::{
    Channel, ConfirmResponse, PreviewResponse, SessionTask, StructuredOverride, TaskState, WatchResponse,
};
use leptos::prelude::*;

use crate::error::AppError;

/// What the execution plane last reported about the confirmed task.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskProgress {
    pub state: TaskState,
    pub result_summary: Option<String>,
}

#[derive(Debug, Clone, Copy)]
pub struct PanelState {
    /// The tab's session id; empty until the browser has made it.
    pub session: RwSignal<String>,
    pub command: RwSignal<String>,
    pub channel: RwSignal<Channel>,
    pub preview: RwSignal<Option<PreviewResponse>>,
    pub override_json: RwSignal<String>,
    pub confirmed: RwSignal<Option<ConfirmResponse>>,
    pub watched: RwSignal<Option<TaskProgress>>,
    pub tasks: RwSignal<Vec<SessionTask>>,
    pub error: RwSignal<Option<String>>,
    /// A preview or a confirm is on its way.
    pub busy: RwSignal<bool>,
}

impl PanelState {
    pub fn new() -> Self {
        PanelState {
            session: RwSignal::new(String::new()),
            command: RwSignal::new(String::new()),
            channel: RwSignal::new(Channel::Web),
            preview: RwSignal::new(None),
            override_json: RwSignal::new(String::new()),
            confirmed: RwSignal::new(None),
            watched: RwSignal::new(None),
            tasks: RwSignal::new(Vec::new()),
            error: RwSignal::new(None),
            busy: RwSignal::new(false),
        }
    }

    /// A new preview is asked for: the last confirmed task's card gives way to it.
    pub fn preview_requested(&self) {
        self.busy.set(true);
        self.confirmed.set(None);
        self.watched.set(None);
    }

    /// A fresh preview starts with an empty override.
    pub fn preview_received(&self, preview: PreviewResponse) {
        self.error.set(None);
        self.override_json.set(String::new());
        self.preview.set(Some(preview));
    }

    pub fn preview_cancelled(&self) {
        self.preview.set(None);
    }

    /// The task is written: the preview and the command are spent, and watching starts from the
    /// state the gateway gave.
    pub fn task_confirmed(&self, task: ConfirmResponse) {
        self.error.set(None);
        self.preview.set(None);
        self.command.set(String::new());
        self.watched.set(Some(TaskProgress { state: task.state, result_summary: None }));
        self.confirmed.set(Some(task));
    }

    /// Records what the execution plane reports; true when the task's state changed.
    pub fn task_watched(&self, update: WatchResponse) -> bool {
        let changed = self.watched.with_untracked(|w| w.as_ref().map(|p| p.state)) != Some(update.state);
        self.watched.set(Some(TaskProgress { state: update.state, result_summary: update.result_summary }));
        changed
    }

    /// True once the watched task can change no more.
    pub fn watch_is_over(&self) -> bool {
        self.watched.with_untracked(|w| w.as_ref().is_some_and(|p| p.state.is_final()))
    }

    pub fn show_error(&self, message: impl Into<String>) {
        self.error.set(Some(message.into()));
    }

    pub fn request_failed(&self, error: AppError) {
        self.show_error(format!("{}: {}", error.code, error.message));
    }

    /// The structured override to confirm `preview` with. Only an unrecognised command takes one;
    /// an empty field sends none, so the gateway answers with its own reason.
    pub fn structured_override(&self, preview: &PreviewResponse) -> Result<Option<StructuredOverride>, String> {
        if !preview.requires_structured_override {
            return Ok(None);
        }
        self.override_json.with_untracked(|text| parse_structured_override(text))
    }
}

impl Default for PanelState {
    fn default() -> Self {
        Self::new()
    }
}

/// The override typed for an unrecognised command: none when empty, refused when not a task.
pub fn parse_structured_override(text: &str) -> Result<Option<StructuredOverride>, String> {
    match serde_json::from_str::<StructuredOverride>(text) {
        Ok(parsed) => Ok(Some(parsed)),
        Err(_) if text.trim().is_empty() => Ok(None),
        Err(e) => Err(format!("The structured override is not valid JSON for a task: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_override_sends_none_and_a_broken_one_is_refused() {
        assert_eq!(parse_structured_override("  "), Ok(None));
        let parsed = parse_structured_override(r#"{"intent": "task_execution", "operations": []}"#).unwrap();
        assert_eq!(parsed.map(|o| o.intent), Some("task_execution".to_owned()));
        let refused = parse_structured_override("{not json").unwrap_err();
        assert!(refused.starts_with("The structured override is not valid JSON for a task: "), "{refused}");
    }
}

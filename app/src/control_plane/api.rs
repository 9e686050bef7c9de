//! Server functions of the governance panel. They call the same gateway operations as
//! `/api/v1/chat/*`, so every rule, limit and telemetry line applies to them too.

use domain::control_plane::{
    Channel, ConfirmResponse, PreviewResponse, SessionTask, SessionTasksResponse, StructuredOverride, WatchResponse,
};
use leptos::prelude::*;
use leptos::server_fn::codec::Json;

use crate::error::AppError;

#[cfg(feature = "ssr")]
mod ssr {
    use std::net::IpAddr;
    use std::sync::Arc;

    use crate::error::AppError;

    /// The gateway and the person calling it, for operators and admins only: the same rule the
    /// REST routes apply.
    pub async fn gateway() -> Result<(Arc<gateway::Gateway>, gateway::Operator), AppError> {
        let actor = crate::caller::actor().await;
        let person = actor.require_role(domain::accounts::Role::may_operate, "operators and admins")?;
        let operator = gateway::Operator::new(person.id);
        Ok((leptos::prelude::expect_context::<Arc<gateway::Gateway>>(), operator))
    }

    /// `text` when it is a session id the gateway takes (a UUIDv4), in its canonical spelling.
    pub fn session_id(text: &str) -> Option<String> {
        uuid::Uuid::parse_str(text).ok().filter(|id| id.get_version_num() == 4).map(|id| id.to_string())
    }

    /// The panel's page in `session_id`, at `preview_id` when given.
    pub fn panel_page(session: &str, preview_id: Option<&str>) -> String {
        let session = session_id(session).map(|id| format!("?session_id={id}")).unwrap_or_default();
        let preview = preview_id.and_then(|id| uuid::Uuid::parse_str(id).ok());
        match (session.is_empty(), preview) {
            (false, Some(preview)) => format!("/control-plane{session}&preview_id={preview}"),
            _ => format!("/control-plane{session}"),
        }
    }

    /// The caller's address, for the per-address rate limit.
    pub async fn client() -> Option<IpAddr> {
        crate::caller::client_address().await
    }
}

/// What the panel starts from when the page is rendered: its session, and what a plain form
/// post (before the page hydrated, or without JavaScript) left to show.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PanelStart {
    /// The session the page's forms post with: the one in the address, or a new one.
    pub session_id: String,
    /// Whether it came from the address, so the tab takes it on instead of its own.
    pub session_from_address: bool,
    /// The preview the address names, while it waits for its confirm.
    pub preview: Option<PreviewResponse>,
    /// The session's confirmed tasks, newest first.
    pub tasks: Vec<SessionTask>,
}

/// Whether the caller may use the panel (the same rule every operation of the gateway applies),
/// and what it starts from: `session_id` and `preview_id` are the address's, if any.
#[server(prefix = "/api/fn", endpoint = "control-plane/access", output = crate::codec::JsonText)]
pub async fn panel_access(session_id: Option<String>, preview_id: Option<String>) -> Result<PanelStart, AppError> {
    let (gateway, operator) = ssr::gateway().await?;
    let client = ssr::client().await;
    let Some(session_id) = session_id.as_deref().and_then(ssr::session_id) else {
        let fresh = uuid::Uuid::new_v4().to_string();
        return Ok(PanelStart { session_id: fresh, session_from_address: false, preview: None, tasks: Vec::new() });
    };
    // A preview that expired or was confirmed meanwhile is simply not shown again.
    let preview = match preview_id {
        Some(preview_id) => gateway.pending_preview(&preview_id, &session_id, operator, client).await.ok(),
        None => None,
    };
    let tasks = gateway.session_tasks(&session_id, operator, client).await.map_err(AppError::from)?.tasks;
    Ok(PanelStart { session_id, session_from_address: true, preview, tasks })
}

#[server(prefix = "/api/fn", endpoint = "control-plane/preview", input = Json, output = crate::codec::JsonText)]
pub async fn preview_command(
    raw_input: String,
    channel: Channel,
    session_id: String,
) -> Result<PreviewResponse, AppError> {
    let request = domain::control_plane::PreviewRequest { raw_input, channel, session_id };
    let (gateway, operator) = ssr::gateway().await?;
    gateway.preview(request, operator, ssr::client().await).await.map_err(AppError::from)
}

#[server(prefix = "/api/fn", endpoint = "control-plane/confirm", input = Json, output = crate::codec::JsonText)]
pub async fn confirm_preview(
    preview_id: String,
    session_id: String,
    structured_override: Option<StructuredOverride>,
) -> Result<ConfirmResponse, AppError> {
    let request = domain::control_plane::ConfirmRequest { preview_id, session_id, structured_override };
    let (gateway, operator) = ssr::gateway().await?;
    gateway.confirm(request, operator, ssr::client().await).await.map_err(AppError::from)
}

#[server(prefix = "/api/fn", endpoint = "control-plane/watch", input = Json, output = crate::codec::JsonText)]
pub async fn watch_task(task_id: String, session_id: String) -> Result<WatchResponse, AppError> {
    let (gateway, operator) = ssr::gateway().await?;
    gateway.watch(&task_id, &session_id, operator, ssr::client().await).await.map_err(AppError::from)
}

#[server(prefix = "/api/fn", endpoint = "control-plane/tasks", input = Json, output = crate::codec::JsonText)]
pub async fn session_tasks(session_id: String) -> Result<SessionTasksResponse, AppError> {
    let (gateway, operator) = ssr::gateway().await?;
    gateway.session_tasks(&session_id, operator, ssr::client().await).await.map_err(AppError::from)
}

/// The panel's forms as the browser itself posts them: before the page's island has hydrated, or
/// with JavaScript off. Same gateway operations as above; the browser is sent back to the panel,
/// at the new preview or with the written task, and a refusal is shown next to the form.
pub mod plain {
    use domain::control_plane::Channel;
    use leptos::prelude::*;

    use crate::error::AppError;

    /// The names of the panel's forms, so a refusal is shown next to the one that was sent.
    pub mod form {
        pub const COMMAND: &str = "command";
        pub const CONFIRM: &str = "confirm";
        pub const SESSION: &str = "session";
    }

    /// Ends the panel's session with its unconfirmed previews (logged like every gateway call),
    /// then opens the panel in a new session, which the tab takes on.
    #[server(prefix = "/api/fn", endpoint = "forms/control-plane/end-session")]
    pub async fn end_session_form(session_id: String) -> Result<(), AppError> {
        use super::ssr::{client, gateway, panel_page};
        use crate::forms::{refused, with_notice, Notice};

        let (gateway, operator) = gateway().await?;
        match gateway.end_session(&session_id, operator, client().await).await {
            Ok(ended) => {
                let dropped = match ended.dropped_previews {
                    0 => String::new(),
                    1 => " The preview waiting for a confirm was dropped.".to_owned(),
                    n => format!(" The {n} previews waiting for a confirm were dropped."),
                };
                let info = format!("Session ended.{dropped} This is a new session.");
                let notice = Notice { form: form::SESSION.to_owned(), info: Some(info), ..Notice::default() };
                with_notice(&panel_page(&uuid::Uuid::new_v4().to_string(), None), notice);
                Ok(())
            }
            Err(error) => Err(refused(form::SESSION, &panel_page(&session_id, None), AppError::from(error))),
        }
    }

    #[server(prefix = "/api/fn", endpoint = "forms/control-plane/preview")]
    pub async fn preview_command_form(
        session_id: String,
        raw_input: String,
        channel: Option<Channel>,
    ) -> Result<(), AppError> {
        use super::ssr::{client, gateway, panel_page};
        use crate::forms::{done, refused};

        let request = domain::control_plane::PreviewRequest {
            raw_input,
            channel: channel.unwrap_or(Channel::Web),
            session_id: session_id.clone(),
        };
        let (gateway, operator) = gateway().await?;
        match gateway.preview(request, operator, client().await).await {
            Ok(preview) => {
                done(&panel_page(&session_id, Some(&preview.preview_id)));
                Ok(())
            }
            Err(error) => Err(refused(form::COMMAND, &panel_page(&session_id, None), AppError::from(error))),
        }
    }

    /// `structured_override` is the JSON typed for an unrecognised command; empty sends none.
    #[server(prefix = "/api/fn", endpoint = "forms/control-plane/confirm")]
    pub async fn confirm_preview_form(
        session_id: String,
        preview_id: String,
        structured_override: Option<String>,
    ) -> Result<(), AppError> {
        use super::ssr::{client, gateway, panel_page};
        use crate::control_plane::state::parse_structured_override;
        use crate::forms::{refused, with_notice, Notice};
        use domain::ErrorCode;

        let back = panel_page(&session_id, Some(&preview_id));
        let structured_override = parse_structured_override(structured_override.as_deref().unwrap_or_default())
            .map_err(|message| refused(form::CONFIRM, &back, AppError::new(ErrorCode::ValidationFailed, message)))?;
        let request =
            domain::control_plane::ConfirmRequest { preview_id, session_id: session_id.clone(), structured_override };
        let (gateway, operator) = gateway().await?;
        match gateway.confirm(request, operator, client().await).await {
            Ok(task) => {
                let notice = Notice { form: form::CONFIRM.to_owned(), task: Some(task), ..Notice::default() };
                with_notice(&panel_page(&session_id, None), notice);
                Ok(())
            }
            Err(error) => Err(refused(form::CONFIRM, &back, AppError::from(error))),
        }
    }
}

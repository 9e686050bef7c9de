//! Typed server functions for the rooms UI. Each one calls the same service function as the
//! matching REST endpoint, so no rule is written twice.

use domain::accounts::Member;
use domain::proposals::Proposal;
use domain::rooms::{Agent, MemberRole, Message, MessagePage, Room, RoomMode, RoomSummary, RoomVisibility};
use domain::snapshot::RoomSnapshot;
use leptos::prelude::*;
use leptos::server_fn::codec::Json;
use uuid::Uuid;

use crate::error::AppError;

#[cfg(feature = "ssr")]
use crate::caller::{actor, client_address, services};
#[cfg(feature = "ssr")]
use crate::forms::{done, refused};

/// The names of the rooms' plain forms, so a refusal is shown next to the one that was sent.
pub mod form {
    pub const CREATE_ROOM: &str = "create-room";
    pub const SETTINGS: &str = "room-settings";
    pub const DELETE_ROOM: &str = "delete-room";
    pub const MEMBERS: &str = "members";
    pub const ADD_MEMBER: &str = "add-member";
}

/// The room's page, at its members when that is what changed.
pub fn room_page(room_id: Uuid) -> String {
    format!("/rooms/{room_id}")
}

#[cfg(feature = "ssr")]
fn members_section(room_id: Uuid) -> String {
    format!("/rooms/{room_id}#members")
}

/// A page of the rooms one may see whose name contains `q`, the most recently active first.
#[server(prefix = "/api/fn", endpoint = "rooms/list", output = crate::codec::JsonText)]
pub async fn list_rooms(q: Option<String>, page: Option<i64>) -> Result<RoomList, AppError> {
    let search = services::rooms::RoomSearch { name: q, page, per_page: None };
    let listed = services::rooms::search_rooms(&services(), &actor().await, &search).await?;
    Ok(RoomList { rooms: listed.rooms, total: listed.total, page: listed.page, per_page: listed.per_page })
}

/// A page of the room list.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RoomList {
    pub rooms: Vec<RoomSummary>,
    /// How many rooms match, on every page.
    pub total: usize,
    pub page: i64,
    pub per_page: i64,
}

/// Creates a room from the rooms page's form; private unless the form says otherwise. Without
/// JavaScript the browser goes into the new room, as it does with it.
#[server(prefix = "/api/fn", endpoint = "rooms/create", output = crate::codec::JsonText)]
pub async fn create_room(name: String, visibility: Option<RoomVisibility>) -> Result<RoomSummary, AppError> {
    let visibility = visibility.unwrap_or(RoomVisibility::Private);
    let input = domain::rooms::CreateRoom { name, mode: RoomMode::Manual, visibility, run_limits: Default::default() };
    match services::rooms::create_room(&services(), &actor().await, input).await {
        Ok(room) => {
            done(&room_page(room.id));
            Ok(room)
        }
        Err(error) => Err(refused(form::CREATE_ROOM, "/rooms", error)),
    }
}

/// Renames the room, or changes its mode, visibility or the limits of the runs its `auto` mode
/// starts. Limits come as the form's text; an empty token budget means none.
#[server(prefix = "/api/fn", endpoint = "rooms/update", output = crate::codec::JsonText)]
pub async fn update_room(
    room_id: Uuid,
    name: String,
    mode: RoomMode,
    visibility: RoomVisibility,
    max_steps: String,
    max_seconds: String,
    budget_tokens: Option<String>,
) -> Result<Room, AppError> {
    let outcome = async {
        let budget_tokens = budget_tokens.filter(|text| !text.trim().is_empty());
        let run_limits = domain::runs::RunLimits {
            max_steps: plain::whole_number(&max_steps, "Max steps")?,
            max_seconds: plain::whole_number(&max_seconds, "Max seconds")?,
            budget_tokens: budget_tokens.map(|text| plain::whole_number(&text, "Token budget")).transpose()?,
        };
        let input = domain::rooms::UpdateRoom {
            name: Some(name),
            mode: Some(mode),
            visibility: Some(visibility),
            run_limits: Some(run_limits),
        };
        Ok::<_, AppError>(services::rooms::update_room(&services(), &actor().await, room_id, input).await?)
    };
    match outcome.await {
        Ok(room) => {
            done(&room_page(room_id));
            Ok(room)
        }
        Err(error) => Err(refused(form::SETTINGS, &room_page(room_id), error)),
    }
}

/// Deletes the room with everything in it, then goes to the rooms.
#[server(prefix = "/api/fn", endpoint = "rooms/delete", output = crate::codec::JsonText)]
pub async fn delete_room(room_id: Uuid) -> Result<(), AppError> {
    match services::rooms::delete_room(&services(), &actor().await, room_id).await {
        Ok(()) => {
            done("/rooms");
            Ok(())
        }
        Err(error) => Err(refused(form::DELETE_ROOM, &room_page(room_id), error)),
    }
}

#[server(prefix = "/api/fn", endpoint = "members/list", input = Json, output = crate::codec::JsonText)]
pub async fn room_members(room_id: Uuid) -> Result<Vec<Member>, AppError> {
    Ok(services::members::list_members(&services(), &actor().await, room_id).await?)
}

/// Adds the person with this email, who must have an account, with a role in the room.
#[server(prefix = "/api/fn", endpoint = "members/add", output = crate::codec::JsonText)]
pub async fn add_room_member(room_id: Uuid, email: String, role: MemberRole) -> Result<Member, AppError> {
    let input = domain::accounts::AddMember { email, role };
    match services::members::add_member(&services(), &actor().await, room_id, input).await {
        Ok(member) => {
            done(&members_section(room_id));
            Ok(member)
        }
        Err(error) => Err(refused(form::ADD_MEMBER, &members_section(room_id), error)),
    }
}

#[server(prefix = "/api/fn", endpoint = "members/role", output = crate::codec::JsonText)]
pub async fn change_member_role(room_id: Uuid, user_id: Uuid, role: MemberRole) -> Result<Member, AppError> {
    let input = domain::accounts::UpdateMember { role };
    match services::members::update_member(&services(), &actor().await, room_id, user_id, input).await {
        Ok(member) => {
            done(&members_section(room_id));
            Ok(member)
        }
        Err(error) => Err(refused(form::MEMBERS, &members_section(room_id), error)),
    }
}

/// Removes a member; someone leaving goes to the rooms, an owner removing someone stays.
#[server(prefix = "/api/fn", endpoint = "members/remove", output = crate::codec::JsonText)]
pub async fn remove_room_member(room_id: Uuid, user_id: Uuid) -> Result<(), AppError> {
    let actor = actor().await;
    let leaving = actor.user_id() == Some(user_id);
    match services::members::remove_member(&services(), &actor, room_id, user_id).await {
        Ok(()) => {
            done(&if leaving { "/rooms".to_owned() } else { members_section(room_id) });
            Ok(())
        }
        Err(error) => Err(refused(form::MEMBERS, &members_section(room_id), error)),
    }
}

#[server(prefix = "/api/fn", endpoint = "rooms/snapshot", input = Json, output = crate::codec::JsonText)]
pub async fn load_room(room_id: Uuid) -> Result<RoomSnapshot, AppError> {
    Ok(services::snapshot::room_snapshot(&services(), &actor().await, room_id).await?)
}

#[server(prefix = "/api/fn", endpoint = "rooms/messages", input = Json, output = crate::codec::JsonText)]
pub async fn older_messages(room_id: Uuid, cursor: Uuid) -> Result<MessagePage, AppError> {
    Ok(services::rooms::list_messages(&services(), &actor().await, room_id, Some(cursor), None).await?)
}

#[server(prefix = "/api/fn", endpoint = "rooms/post", input = Json, output = crate::codec::JsonText)]
pub async fn send_message(room_id: Uuid, content: String) -> Result<Message, AppError> {
    let input = domain::rooms::PostMessage { content };
    Ok(services::rooms::post_message(&services(), &actor().await, room_id, input).await?)
}

#[server(prefix = "/api/fn", endpoint = "agents/create", input = Json, output = crate::codec::JsonText)]
pub async fn add_agent(room_id: Uuid, input: domain::rooms::CreateAgent) -> Result<Agent, AppError> {
    Ok(services::rooms::create_agent(&services(), &actor().await, room_id, input).await?)
}

#[server(prefix = "/api/fn", endpoint = "agents/update", input = Json, output = crate::codec::JsonText)]
pub async fn edit_agent(room_id: Uuid, agent_id: Uuid, input: domain::rooms::UpdateAgent) -> Result<Agent, AppError> {
    Ok(services::rooms::update_agent(&services(), &actor().await, room_id, agent_id, input).await?)
}

#[server(prefix = "/api/fn", endpoint = "runs/start", input = Json, output = crate::codec::JsonText)]
pub async fn start_auto(room_id: Uuid, input: domain::runs::StartRun) -> Result<domain::runs::RunStarted, AppError> {
    Ok(services::runs::start(&services(), &actor().await, room_id, input).await?)
}

#[server(prefix = "/api/fn", endpoint = "runs/stop", input = Json, output = crate::codec::JsonText)]
pub async fn stop_auto(room_id: Uuid) -> Result<domain::runs::RunStopped, AppError> {
    Ok(services::runs::stop(&services(), &actor().await, room_id).await?)
}

/// Stops the reply an agent is writing outside a run, as Escape and a streaming reply's Stop do.
#[server(prefix = "/api/fn", endpoint = "replies/stop", input = Json, output = crate::codec::JsonText)]
pub async fn stop_replies(room_id: Uuid) -> Result<(), AppError> {
    Ok(services::rooms::stop_replies(&services(), &actor().await, room_id).await?)
}

/// What a person does to a message already in the timeline; one function for all of them keeps
/// the page's script small, and each is decided by the service layer's rule for it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum MessageAction {
    Regenerate,
    Retry,
    Select { index: i64 },
    Edit { content: String },
    Delete,
}

/// Regenerates or retries a reply, shows another of its versions, edits or removes a message;
/// answers the message as it now is (every open tab hears of it as `message.updated`).
#[server(prefix = "/api/fn", endpoint = "messages/change", input = Json, output = crate::codec::JsonText)]
pub async fn change_message(room_id: Uuid, message_id: Uuid, change: MessageAction) -> Result<Message, AppError> {
    use services::message_changes as changes;
    let (services, actor) = (services(), actor().await);
    Ok(match change {
        MessageAction::Regenerate => changes::regenerate(&services, &actor, room_id, message_id).await?,
        MessageAction::Retry => changes::retry(&services, &actor, room_id, message_id).await?,
        MessageAction::Select { index } => {
            changes::select_alternative(&services, &actor, room_id, message_id, index).await?
        }
        MessageAction::Edit { content } => {
            let input = domain::rooms::EditMessage { content };
            changes::edit(&services, &actor, room_id, message_id, input).await?
        }
        MessageAction::Delete => changes::delete(&services, &actor, room_id, message_id).await?,
    })
}

/// Confirms an agent's proposal: the gateway writes its task, as a confirm in the control panel
/// does. Answers the proposal as it now is.
#[server(prefix = "/api/fn", endpoint = "proposals/confirm", input = Json, output = crate::codec::JsonText)]
pub async fn confirm_proposal(room_id: Uuid, proposal_id: Uuid) -> Result<Proposal, AppError> {
    let client = client_address().await;
    Ok(services::proposals::confirm(&services(), &actor().await, room_id, proposal_id, client).await?)
}

/// Rejects an agent's proposal: nothing is written. Answers the proposal as it now is.
#[server(prefix = "/api/fn", endpoint = "proposals/reject", input = Json, output = crate::codec::JsonText)]
pub async fn reject_proposal(room_id: Uuid, proposal_id: Uuid) -> Result<Proposal, AppError> {
    let client = client_address().await;
    Ok(services::proposals::reject(&services(), &actor().await, room_id, proposal_id, client).await?)
}

/// The room's forms as the browser itself posts them: before the page's island has hydrated,
/// or with JavaScript off. Each calls the same service as the island's typed function, then
/// sends the browser back to the room, with a refusal shown next to the form that was sent.
/// Once hydrated, the island handles the same forms itself and never calls these.
pub mod plain {
    // A plain form's fields arrive as its function's arguments, one each, however many it has.
    #![allow(clippy::too_many_arguments)]

    use leptos::prelude::*;
    use uuid::Uuid;

    use crate::error::AppError;
    #[cfg(feature = "ssr")]
    use {
        super::room_page,
        crate::caller::{actor, client_address, services},
        crate::forms::{done, refused},
        domain::ErrorCode,
    };

    /// The names of the room's own forms, so a refusal is shown next to the one that was sent.
    pub mod form {
        pub const COMPOSER: &str = "composer";
        pub const RUN: &str = "run";
        pub const NEW_AGENT: &str = "new-agent";
        pub const IMPORT_AGENT: &str = "import-agent";
        pub const STARTERS: &str = "starters";

        /// The form that edits, activates or deactivates one agent.
        pub fn agent(agent_id: uuid::Uuid) -> String {
            format!("agent-{agent_id}")
        }

        /// The form that confirms or rejects one proposal.
        pub fn proposal(proposal_id: uuid::Uuid) -> String {
            format!("proposal-{proposal_id}")
        }
    }

    /// A whole number typed into a form field, or a refusal that names the field.
    #[cfg(feature = "ssr")]
    pub(super) fn whole_number(text: &str, field: &str) -> Result<i64, AppError> {
        text.trim()
            .parse()
            .map_err(|_| AppError::new(ErrorCode::ValidationFailed, format!("{field} must be a whole number.")))
    }

    /// The tools a persona form asks for: its "May propose tasks" checkbox is sent only when ticked.
    #[cfg(feature = "ssr")]
    fn tools_from_form(may_propose_tasks: Option<String>) -> Vec<domain::proposals::AgentTool> {
        match may_propose_tasks {
            Some(_) => vec![domain::proposals::AgentTool::ProposeTask],
            None => Vec::new(),
        }
    }

    #[cfg(feature = "ssr")]
    fn temperature(text: &str) -> Result<f64, AppError> {
        text.trim()
            .parse()
            .map_err(|_| AppError::new(ErrorCode::ValidationFailed, "Temperature must be a number from 0 to 2."))
    }

    /// Back to the room after `outcome`, or back with the refusal next to `form`.
    #[cfg(feature = "ssr")]
    fn answer<T>(room_id: Uuid, form: &str, outcome: Result<T, AppError>) -> Result<(), AppError> {
        match outcome {
            Ok(_) => {
                done(&room_page(room_id));
                Ok(())
            }
            Err(error) => Err(refused(form, &room_page(room_id), error)),
        }
    }

    #[server(prefix = "/api/fn", endpoint = "forms/rooms/post")]
    pub async fn post_message_form(room_id: Uuid, content: String) -> Result<(), AppError> {
        let input = domain::rooms::PostMessage { content };
        let outcome = services::rooms::post_message(&services(), &actor().await, room_id, input).await;
        answer(room_id, form::COMPOSER, outcome.map_err(AppError::from))
    }

    #[server(prefix = "/api/fn", endpoint = "forms/agents/create")]
    pub async fn add_agent_form(
        room_id: Uuid,
        name: String,
        model: String,
        system_prompt: Option<String>,
        temperature: String,
        may_propose_tasks: Option<String>,
    ) -> Result<(), AppError> {
        let outcome = async {
            let input = domain::rooms::CreateAgent {
                name,
                model,
                system_prompt: system_prompt.unwrap_or_default(),
                temperature: self::temperature(&temperature)?,
                tools: tools_from_form(may_propose_tasks),
            };
            Ok::<_, AppError>(services::rooms::create_agent(&services(), &actor().await, room_id, input).await?)
        };
        answer(room_id, form::NEW_AGENT, outcome.await)
    }

    /// Adds an agent from a Character Card V2 persona card pasted into the form.
    #[server(prefix = "/api/fn", endpoint = "forms/agents/import")]
    pub async fn import_agent_form(room_id: Uuid, card: String, model: Option<String>) -> Result<(), AppError> {
        let outcome = async {
            let card: domain::persona_cards::CharacterCard = serde_json::from_str(&card).map_err(|error| {
                AppError::new(
                    ErrorCode::ValidationFailed,
                    format!("The card is not a Character Card V2 document: {error}."),
                )
            })?;
            let model = model.map(|m| m.trim().to_owned()).filter(|m| !m.is_empty());
            Ok::<_, AppError>(
                services::persona_cards::import_agent(&services(), &actor().await, room_id, card, model).await?,
            )
        };
        answer(room_id, form::IMPORT_AGENT, outcome.await)
    }

    /// Adds a pair of starter personas from the gallery.
    #[server(prefix = "/api/fn", endpoint = "forms/agents/starters")]
    pub async fn add_starters_form(room_id: Uuid, starter: String) -> Result<(), AppError> {
        let outcome = services::persona_cards::add_starter_pair(&services(), &actor().await, room_id, &starter).await;
        answer(room_id, form::STARTERS, outcome.map_err(AppError::from))
    }

    /// Edits an agent's persona, or only activates or deactivates it: what the form leaves out
    /// stays as it is.
    // Each argument is one field of the plain form.
    #[allow(clippy::too_many_arguments)]
    #[server(prefix = "/api/fn", endpoint = "forms/agents/update")]
    pub async fn edit_agent_form(
        room_id: Uuid,
        agent_id: Uuid,
        name: Option<String>,
        model: Option<String>,
        system_prompt: Option<String>,
        temperature: Option<String>,
        is_active: Option<bool>,
        tools_field: Option<String>,
        may_propose_tasks: Option<String>,
    ) -> Result<(), AppError> {
        let outcome = async {
            let input = domain::rooms::UpdateAgent {
                name,
                model,
                system_prompt,
                temperature: temperature.as_deref().map(self::temperature).transpose()?,
                is_active,
                // Only the persona form carries the checkbox; an activate toggle leaves tools alone.
                tools: tools_field.map(|_| tools_from_form(may_propose_tasks)),
            };
            Ok::<_, AppError>(
                services::rooms::update_agent(&services(), &actor().await, room_id, agent_id, input).await?,
            )
        };
        answer(room_id, &form::agent(agent_id), outcome.await)
    }

    #[server(prefix = "/api/fn", endpoint = "forms/runs/start")]
    pub async fn start_run_form(
        room_id: Uuid,
        max_steps: String,
        max_seconds: String,
        budget_tokens: Option<String>,
    ) -> Result<(), AppError> {
        let outcome = async {
            let budget_tokens = budget_tokens.filter(|text| !text.trim().is_empty());
            let input = domain::runs::StartRun {
                max_steps: whole_number(&max_steps, "Max steps")?,
                max_seconds: whole_number(&max_seconds, "Max seconds")?,
                budget_tokens: budget_tokens.map(|text| whole_number(&text, "Token budget")).transpose()?,
            };
            Ok::<_, AppError>(services::runs::start(&services(), &actor().await, room_id, input).await?)
        };
        answer(room_id, form::RUN, outcome.await)
    }

    #[server(prefix = "/api/fn", endpoint = "forms/runs/stop")]
    pub async fn stop_run_form(room_id: Uuid) -> Result<(), AppError> {
        let outcome = services::runs::stop(&services(), &actor().await, room_id).await;
        answer(room_id, form::RUN, outcome.map_err(AppError::from))
    }

    #[server(prefix = "/api/fn", endpoint = "forms/proposals/confirm")]
    pub async fn confirm_proposal_form(room_id: Uuid, proposal_id: Uuid) -> Result<(), AppError> {
        let client = client_address().await;
        let outcome = services::proposals::confirm(&services(), &actor().await, room_id, proposal_id, client).await;
        answer(room_id, &form::proposal(proposal_id), outcome.map_err(AppError::from))
    }

    #[server(prefix = "/api/fn", endpoint = "forms/proposals/reject")]
    pub async fn reject_proposal_form(room_id: Uuid, proposal_id: Uuid) -> Result<(), AppError> {
        let client = client_address().await;
        let outcome = services::proposals::reject(&services(), &actor().await, room_id, proposal_id, client).await;
        answer(room_id, &form::proposal(proposal_id), outcome.map_err(AppError::from))
    }
}

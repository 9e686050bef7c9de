//! The content type each server function reads its arguments in, so the server can refuse a
//! body in any other encoding before the function runs (server functions decode whatever they
//! are sent). A test checks that every registered server function is listed here.

use leptos::server_fn::{ContentType, Http, ServerFn};

use crate::accounts::api::{
    ChangeRole, CreateToken, DeleteToken, Invite, ListTokens, ListUsers, LoadSignupState, SignIn, SignOut, SignUp,
};
use crate::control_plane::api::plain::{ConfirmPreviewForm, EndSessionForm, PreviewCommandForm};
use crate::control_plane::api::{ConfirmPreview, PanelAccess, PreviewCommand, SessionTasks, WatchTask};
use crate::rooms::api::plain::{
    AddAgentForm, AddStartersForm, ConfirmProposalForm, EditAgentForm, ImportAgentForm, PostMessageForm,
    RejectProposalForm, StartRunForm, StopRunForm,
};
use crate::rooms::api::{
    AddAgent, AddRoomMember, ChangeMemberRole, ChangeMessage, ConfirmProposal, CreateRoom, DeleteRoom, EditAgent,
    ListRooms, LoadRoom, OlderMessages, RejectProposal, RemoveRoomMember, RoomMembers, SendMessage, StartAuto,
    StopAuto, UpdateRoom,
};
use crate::telegram::api::{CreateTelegramLinkCode, LoadTelegramSettings, UnlinkTelegramChat};

/// The encoding a server function's protocol reads its arguments in.
trait ReadsArguments {
    const CONTENT_TYPE: &'static str;
}

impl<Input: ContentType, Output> ReadsArguments for Http<Input, Output> {
    const CONTENT_TYPE: &'static str = Input::CONTENT_TYPE;
}

fn entry<F>() -> (&'static str, &'static str)
where
    F: ServerFn,
    F::Protocol: ReadsArguments,
{
    (F::PATH, <F::Protocol as ReadsArguments>::CONTENT_TYPE)
}

/// Every server function's path, and the content type of the arguments it reads.
pub fn argument_content_types() -> Vec<(&'static str, &'static str)> {
    vec![
        entry::<ListRooms>(),
        entry::<CreateRoom>(),
        entry::<LoadRoom>(),
        entry::<OlderMessages>(),
        entry::<SendMessage>(),
        entry::<ChangeMessage>(),
        entry::<AddAgent>(),
        entry::<EditAgent>(),
        entry::<ImportAgentForm>(),
        entry::<AddStartersForm>(),
        entry::<StartAuto>(),
        entry::<StopAuto>(),
        entry::<crate::rooms::api::StopReplies>(),
        entry::<crate::runs::LoadRun>(),
        entry::<ConfirmProposal>(),
        entry::<RejectProposal>(),
        entry::<PreviewCommand>(),
        entry::<ConfirmPreview>(),
        entry::<WatchTask>(),
        entry::<SessionTasks>(),
        entry::<PanelAccess>(),
        entry::<EndSessionForm>(),
        entry::<UpdateRoom>(),
        entry::<DeleteRoom>(),
        entry::<RoomMembers>(),
        entry::<AddRoomMember>(),
        entry::<ChangeMemberRole>(),
        entry::<RemoveRoomMember>(),
        entry::<LoadSignupState>(),
        entry::<SignIn>(),
        entry::<SignUp>(),
        entry::<SignOut>(),
        entry::<ListTokens>(),
        entry::<CreateToken>(),
        entry::<DeleteToken>(),
        entry::<ListUsers>(),
        entry::<ChangeRole>(),
        entry::<Invite>(),
        entry::<PostMessageForm>(),
        entry::<AddAgentForm>(),
        entry::<EditAgentForm>(),
        entry::<StartRunForm>(),
        entry::<StopRunForm>(),
        entry::<ConfirmProposalForm>(),
        entry::<RejectProposalForm>(),
        entry::<PreviewCommandForm>(),
        entry::<ConfirmPreviewForm>(),
        entry::<LoadTelegramSettings>(),
        entry::<CreateTelegramLinkCode>(),
        entry::<UnlinkTelegramChat>(),
        entry::<crate::usage::LoadUsage>(),
    ]
}

//! A room's members, below the live room: everyone who may see the list sees it; owners add
//! people by email, change roles and remove people; any member may leave. Plain forms: the page
//! comes back at the list after each change, with or without JavaScript.

use domain::accounts::{limits, Member};
use domain::rooms::MemberRole;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use uuid::Uuid;

use super::api::{form, AddRoomMember, ChangeMemberRole, RemoveRoomMember};
use super::labels::member_role_choice;
use crate::forms::error_for;

#[component]
pub fn MembersPanel(room_id: Uuid, members: Vec<Member>, manage: bool, me: Option<Uuid>) -> impl IntoView {
    let is_member = me.is_some_and(|me| members.iter().any(|m| m.user_id == me));
    view! {
        <section class="card members" id="members" aria-labelledby="members-title">
            <h2 id="members-title">"Members"</h2>
            <p class="hint">"Owners manage the room, members write and start runs, viewers read."</p>
            {error_for(form::MEMBERS).map(|e| view! { <p class="error-banner" role="alert">{e}</p> })}
            // Someone who may not add people sees why an attempt was refused all the same.
            {(!manage)
                .then(|| error_for(form::ADD_MEMBER))
                .flatten()
                .map(|e| view! { <p class="error-banner" role="alert">{e}</p> })}
            <ul class="member-list">
                {members
                    .into_iter()
                    .map(|member| {
                        let is_me = me == Some(member.user_id);
                        view! { <MemberRow room_id member manage is_me /> }
                    })
                    .collect_view()}
            </ul>
            {manage.then(|| view! { <AddMemberForm room_id /> })}
            {me.filter(|_| is_member).map(|me| view! { <LeaveForm room_id me /> })}
        </section>
    }
}

#[component]
fn MemberRow(room_id: Uuid, member: Member, manage: bool, is_me: bool) -> impl IntoView {
    let who = if is_me { format!("{} (you)", member.name) } else { member.name.clone() };
    let actions = manage.then(|| {
        let select_id = format!("member-role-{}", member.user_id);
        view! {
            <form method="post" action=ChangeMemberRole::url() class="row-form">
                <input type="hidden" name="room_id" value=room_id.to_string() />
                <input type="hidden" name="user_id" value=member.user_id.to_string() />
                <label for=select_id.clone() class="visually-hidden">{format!("Role of {}", member.name)}</label>
                <select id=select_id name="role">
                    {MemberRole::ALL
                        .iter()
                        .map(|role| view! { <option value=role.as_str() selected=*role == member.role>{role.as_str()}</option> })
                        .collect_view()}
                </select>
                <button type="submit">"Change role"</button>
            </form>
            <form method="post" action=RemoveRoomMember::url() class="row-form">
                <input type="hidden" name="room_id" value=room_id.to_string() />
                <input type="hidden" name="user_id" value=member.user_id.to_string() />
                <button type="submit" class="danger" aria-label=format!("Remove {}", member.name)>"Remove"</button>
            </form>
        }
    });
    view! {
        <li class="member" data-email=member.email.clone()>
            <div class="member-who">
                <span class="member-name">{who}</span>
                <span class="hint">{member.email.clone()}</span>
            </div>
            {match actions {
                Some(actions) => actions.into_any(),
                None => view! { <span class="badge member-role">{member.role.as_str()}</span> }.into_any(),
            }}
        </li>
    }
}

#[component]
fn AddMemberForm(room_id: Uuid) -> impl IntoView {
    view! {
        <form method="post" action=AddRoomMember::url() class="inline-form add-member" aria-label="Add a member">
            <input type="hidden" name="room_id" value=room_id.to_string() />
            <div class="field">
                <label for="member-email">"Email"</label>
                <input id="member-email" name="email" type="email" required maxlength=limits::EMAIL_MAX_CHARS
                    placeholder="someone with an account here" />
            </div>
            <div class="field">
                <label for="member-role">"Role"</label>
                <select id="member-role" name="role">
                    {MemberRole::ALL
                        .iter()
                        .map(|role| view! { <option value=role.as_str() selected=*role == MemberRole::Member>{member_role_choice(*role)}</option> })
                        .collect_view()}
                </select>
            </div>
            <button type="submit" class="primary">"Add member"</button>
        </form>
        {error_for(form::ADD_MEMBER).map(|e| view! { <p class="error-banner" role="alert">{e}</p> })}
    }
}

#[component]
fn LeaveForm(room_id: Uuid, me: Uuid) -> impl IntoView {
    view! {
        <form method="post" action=RemoveRoomMember::url() class="leave-room">
            <input type="hidden" name="room_id" value=room_id.to_string() />
            <input type="hidden" name="user_id" value=me.to_string() />
            <button type="submit">"Leave room"</button>
        </form>
    }
}

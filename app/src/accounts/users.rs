//! The admins' list of people: each one's role, which admins change here, and invitations for
//! servers where signing up needs one. Plain forms: the page comes back after each change.

use domain::accounts::{limits, Role, SignupState, UserSummary};
use leptos::prelude::*;
use leptos::server_fn::ServerFn;

use super::api::{form, ChangeRole, Invite};
use crate::forms::{error_for, notice_for};
use crate::time::date_time;

#[component]
pub fn UsersTable(users: Vec<UserSummary>) -> impl IntoView {
    view! {
        {error_for(form::ROLES).map(|e| view! { <p class="error-banner" role="alert">{e}</p> })}
        <div class="table-scroll" tabindex="0" role="region" aria-label="People">
        <table class="data-table users-table">
            <thead>
                <tr><th scope="col">"Name"</th><th scope="col">"Email"</th><th scope="col">"Role"</th><th scope="col">"Joined"</th></tr>
            </thead>
            <tbody>
                {users.into_iter().map(|user| view! { <UserRow user /> }).collect_view()}
            </tbody>
        </table>
        </div>
    }
}

#[component]
fn UserRow(user: UserSummary) -> impl IntoView {
    let select_id = format!("role-{}", user.id);
    view! {
        <tr data-email=user.email.clone()>
            <td>{user.name.clone()}</td>
            <td>{user.email.clone()}</td>
            <td>
                <form method="post" action=ChangeRole::url() class="row-form">
                    <input type="hidden" name="user_id" value=user.id.to_string() />
                    <label for=select_id.clone() class="visually-hidden">{format!("Role of {}", user.name)}</label>
                    <select id=select_id name="role">
                        {Role::ALL
                            .iter()
                            .map(|role| view! { <option value=role.as_str() selected=*role == user.role>{role.as_str()}</option> })
                            .collect_view()}
                    </select>
                    <button type="submit">"Change role"</button>
                </form>
            </td>
            <td><time datetime=user.created_at.to_rfc3339()>{date_time(&user.created_at)}</time></td>
        </tr>
    }
}

/// Invites an address. Where anyone may sign up, the invitation is kept for when that changes.
#[component]
pub fn InviteForm(signup: SignupState) -> impl IntoView {
    let policy = match signup {
        SignupState::Invite => "Only invited addresses can create an account on this server.",
        SignupState::Open | SignupState::FirstAccount => {
            "Anyone can create an account on this server; invitations count once sign-up needs one (SIGNUP=invite)."
        }
        SignupState::Closed => "This server takes no new accounts (SIGNUP=closed); invitations count once it does.",
    };
    let notice = notice_for(form::INVITE);
    let info = notice.as_ref().and_then(|n| n.info.clone());
    let error = notice.and_then(|n| n.error);
    view! {
        <section class="invite" aria-labelledby="invite-title">
            <h2 id="invite-title">"Invite someone"</h2>
            <p class="hint">{policy}</p>
            <form method="post" action=Invite::url() class="inline-form">
                <div class="field">
                    <label for="invite-email">"Email"</label>
                    <input id="invite-email" name="email" type="email" required maxlength=limits::EMAIL_MAX_CHARS />
                </div>
                <button type="submit" class="primary">"Invite"</button>
            </form>
            {info.map(|i| view! { <p class="info-banner" role="status">{i}</p> })}
            {error.map(|e| view! { <p class="error-banner" role="alert">{e}</p> })}
        </section>
    }
}

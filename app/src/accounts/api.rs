//! Server functions for accounts: signing up, in and out, personal API tokens, and what admins
//! do with people. Each one calls the service layer, which decides; the forms that post to them
//! work without JavaScript (see [`crate::forms`]).

use domain::accounts::{ApiToken, CreatedToken, Role, SignupState, UserSummary};
use leptos::prelude::*;
use uuid::Uuid;

use crate::error::AppError;

#[cfg(feature = "ssr")]
use crate::caller::{actor, services};
#[cfg(feature = "ssr")]
use crate::forms::{done, refused, with_notice, Notice};

/// The names of the forms, so a refusal is shown next to the one that was sent.
pub mod form {
    pub const SIGN_IN: &str = "sign-in";
    pub const SIGN_UP: &str = "sign-up";
    pub const NEW_TOKEN: &str = "new-token";
    pub const TOKENS: &str = "tokens";
    pub const ROLES: &str = "roles";
    pub const INVITE: &str = "invite";
}

/// Where the pages of this module live.
pub mod page {
    pub const TOKENS: &str = "/tokens";
    pub const USERS: &str = "/admin/users";
}

#[cfg(feature = "ssr")]
async fn auth_session() -> Result<crate::accounts::session::AuthSession, AppError> {
    leptos_axum::extract::<crate::accounts::session::AuthSession>().await.map_err(|error| {
        AppError::from(services::ServiceError::Internal(format!("the session layer is missing: {error}")))
    })
}

#[server(prefix = "/api/fn", endpoint = "auth/signup-state", output = crate::codec::JsonText)]
pub async fn load_signup_state() -> Result<SignupState, AppError> {
    Ok(services::accounts::signup_state(&services()).await?)
}

/// Where a sign-in or sign-up form goes next: on to `asked` (when it is a page of this site) or
/// the rooms; when refused, back to the form (`form_page`, keeping the way back it had) with the
/// refusal and the email typed.
#[cfg(feature = "ssr")]
fn after_account_form<T>(
    form: &str,
    form_page: fn(&str) -> String,
    asked: Option<String>,
    email: String,
    outcome: services::ServiceResult<T>,
) -> Result<(), AppError> {
    match outcome {
        Ok(_) => {
            leptos_axum::redirect(crate::accounts::next::after_sign_in(asked.as_deref()));
            Ok(())
        }
        Err(error) => {
            let error = AppError::from(error);
            let notice = Notice {
                form: form.to_owned(),
                error: Some(error.message.clone()),
                email: Some(email),
                ..Notice::default()
            };
            with_notice(&form_page(asked.as_deref().unwrap_or_default()), notice);
            Err(error)
        }
    }
}

/// Signs in, then goes to `next` (a page of this site) or the rooms.
#[server(prefix = "/api/fn", endpoint = "auth/sign-in", output = crate::codec::JsonText)]
pub async fn sign_in(email: String, password: String, next: Option<String>) -> Result<(), AppError> {
    let client = leptos_axum::extract::<gateway::ClientAddr>().await.ok().and_then(|address| address.0);
    let login = domain::accounts::Login { email: email.clone(), password };
    let mut auth = auth_session().await?;
    let outcome = crate::accounts::session::sign_in(&mut auth, login, client).await;
    after_account_form(form::SIGN_IN, crate::accounts::next::sign_in_url, next, email, outcome)
}

/// Creates an account and signs its owner in, then goes to `next` or the rooms.
#[server(prefix = "/api/fn", endpoint = "auth/sign-up", output = crate::codec::JsonText)]
pub async fn sign_up(name: String, email: String, password: String, next: Option<String>) -> Result<(), AppError> {
    let input = domain::accounts::Signup { email: email.clone(), password, name };
    let mut auth = auth_session().await?;
    let outcome = crate::accounts::session::sign_up(&mut auth, input).await;
    after_account_form(form::SIGN_UP, crate::accounts::next::sign_up_url, next, email, outcome)
}

/// Ends the session and goes to the start page.
#[server(prefix = "/api/fn", endpoint = "auth/sign-out", output = crate::codec::JsonText)]
pub async fn sign_out() -> Result<(), AppError> {
    let mut auth = auth_session().await?;
    crate::accounts::session::sign_out(&mut auth).await?;
    leptos_axum::redirect("/");
    Ok(())
}

#[server(prefix = "/api/fn", endpoint = "tokens/list", output = crate::codec::JsonText)]
pub async fn list_tokens() -> Result<Vec<ApiToken>, AppError> {
    Ok(services::accounts::list_tokens(&services(), &actor().await).await?)
}

/// Creates a personal API token. After a plain post the tokens page shows its secret, once.
#[server(prefix = "/api/fn", endpoint = "tokens/create", output = crate::codec::JsonText)]
pub async fn create_token(name: String) -> Result<CreatedToken, AppError> {
    let input = domain::accounts::NewToken { name };
    match services::accounts::create_token(&services(), &actor().await, input).await {
        Ok(created) => {
            let notice =
                Notice { form: form::NEW_TOKEN.to_owned(), secret: Some(created.secret.clone()), ..Notice::default() };
            with_notice(page::TOKENS, notice);
            Ok(created)
        }
        Err(error) => Err(refused(form::NEW_TOKEN, page::TOKENS, error)),
    }
}

#[server(prefix = "/api/fn", endpoint = "tokens/delete", output = crate::codec::JsonText)]
pub async fn delete_token(token_id: Uuid) -> Result<(), AppError> {
    match services::accounts::delete_token(&services(), &actor().await, token_id).await {
        Ok(()) => {
            done(page::TOKENS);
            Ok(())
        }
        Err(error) => Err(refused(form::TOKENS, page::TOKENS, error)),
    }
}

#[server(prefix = "/api/fn", endpoint = "users/list", output = crate::codec::JsonText)]
pub async fn list_users() -> Result<Vec<UserSummary>, AppError> {
    Ok(services::accounts::list_users(&services(), &actor().await).await?)
}

#[server(prefix = "/api/fn", endpoint = "users/role", output = crate::codec::JsonText)]
pub async fn change_role(user_id: Uuid, role: Role) -> Result<UserSummary, AppError> {
    let input = domain::accounts::SetRole { role };
    match services::accounts::set_role(&services(), &actor().await, user_id, input).await {
        Ok(user) => {
            done(page::USERS);
            Ok(user)
        }
        Err(error) => Err(refused(form::ROLES, page::USERS, error)),
    }
}

/// Lets an address create an account when sign-up is by invitation.
#[server(prefix = "/api/fn", endpoint = "users/invite", output = crate::codec::JsonText)]
pub async fn invite(email: String) -> Result<(), AppError> {
    match services::accounts::invite(&services(), &actor().await, &email).await {
        Ok(()) => {
            let info = format!("{} may now create an account.", email.trim());
            let notice = Notice { form: form::INVITE.to_owned(), info: Some(info), ..Notice::default() };
            with_notice(page::USERS, notice);
            Ok(())
        }
        Err(error) => Err(refused(form::INVITE, page::USERS, error)),
    }
}

//! Accounts: creating one (the first becomes the admin), signing in with limits on attempts,
//! personal API tokens, and what admins do with people. Passwords are hashed with argon2 on the
//! blocking pool; tokens are stored only as their SHA-256.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::OnceLock;

use domain::accounts::{
    limits, validate_email, validate_password, ApiToken, CreatedToken, Login, Me, NewToken, Role, SetRole, Signup,
    SignupState, UserSummary,
};
use domain::rooms::validate_name;
use governor::Quota;
use sha2::{Digest, Sha256};
use storage::{NewUser, StorageError, User};
use uuid::Uuid;

use crate::access::{Actor, Principal};
use crate::config::SignupPolicy;
use crate::write_limits::{keyed, refusal, KeyedLimiter, RateClock};
use crate::{ServiceError, ServiceResult, Services};

/// Prefix of every personal API token, so a leaked one is recognisable in logs and scanners.
pub const TOKEN_PREFIX: &str = "aisc_";
/// Most people an admin's list shows.
const USER_LIST_LIMIT: i64 = 1000;

impl From<&User> for Principal {
    fn from(user: &User) -> Self {
        Principal { id: user.id, email: user.email.clone(), name: user.name.clone(), role: user.role }
    }
}

pub fn me(person: &Principal) -> Me {
    Me { id: person.id, email: person.email.clone(), name: person.name.clone(), role: person.role }
}

fn summary(user: User) -> UserSummary {
    UserSummary { id: user.id, email: user.email, name: user.name, role: user.role, created_at: user.created_at }
}

/// Limits on sign-in attempts, per client address and per account, so passwords cannot be
/// guessed at speed from one place or spread over many.
pub struct SignInLimits {
    by_address: KeyedLimiter<IpAddr>,
    by_account: KeyedLimiter<String>,
    clock: RateClock,
}

impl SignInLimits {
    pub fn new(clock: RateClock) -> Self {
        let per_minute = |n: u32| Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
        Self { by_address: keyed(per_minute(30), &clock), by_account: keyed(per_minute(10), &clock), clock }
    }

    fn check(&self, address: Option<IpAddr>, email: &str) -> ServiceResult<()> {
        let refused =
            |not_until: governor::NotUntil<_>| refusal("Too many sign-in attempts".to_owned(), &not_until, &self.clock);
        if let Some(address) = address {
            self.by_address.check_key(&crate::rate_key(address)).map_err(refused)?;
        }
        self.by_account.check_key(&email.to_owned()).map_err(refused)
    }

    /// Forgets keys that are back to a full allowance, so the maps do not grow without bound.
    pub fn forget_idle(&self) {
        self.by_address.retain_recent();
        self.by_account.retain_recent();
    }
}

/// Creates an account. The very first one becomes the admin and may always be created, so a new
/// installation needs no set-up; after that, `SIGNUP` decides.
pub async fn signup(services: &Services, input: Signup) -> ServiceResult<User> {
    // Nobody is signed in yet: only the client address limits how fast accounts are made.
    services.write_limits.check(&Actor::Guest)?;
    let email = validate_email(&input.email)?;
    validate_password(&input.password)?;
    let name = validate_name("name", "Name", &input.name)?;
    let first = services.store.count_users().await? == 0;
    if !first {
        match services.config.access.signup {
            SignupPolicy::Open => {}
            SignupPolicy::Invite if services.store.is_invited(&email).await? => {}
            SignupPolicy::Invite => {
                return Err(ServiceError::Forbidden("New accounts need an invitation from an admin.".to_owned()));
            }
            SignupPolicy::Closed => {
                return Err(ServiceError::Forbidden("This server does not take new accounts.".to_owned()));
            }
        }
    }
    let password_hash = hash_password(input.password).await?;
    let role = if first { Role::Admin } else { Role::User };
    let user = services
        .store
        .create_user(NewUser { email, name, password_hash: Some(password_hash), role })
        .await
        .map_err(|error| match error {
            StorageError::Conflict(_) => ServiceError::Conflict("An account with this email already exists.".into()),
            other => other.into(),
        })?;
    tracing::info!(user_id = %user.id, role = user.role.as_str(), "account created");
    Ok(user)
}

/// Who may create an account now: anyone when none exists yet, otherwise as `SIGNUP` says.
pub async fn signup_state(services: &Services) -> ServiceResult<SignupState> {
    if services.store.count_users().await? == 0 {
        return Ok(SignupState::FirstAccount);
    }
    Ok(match services.config.access.signup {
        SignupPolicy::Open => SignupState::Open,
        SignupPolicy::Invite => SignupState::Invite,
        SignupPolicy::Closed => SignupState::Closed,
    })
}

/// Checks an email and password. Unknown addresses and wrong passwords get the same answer,
/// after the same work.
pub async fn sign_in(services: &Services, input: Login, client: Option<IpAddr>) -> ServiceResult<User> {
    let email = input.email.trim().to_lowercase();
    services.sign_in_limits.check(client, &email)?;
    if input.password.len() > limits::PASSWORD_MAX_BYTES {
        return Err(ServiceError::WrongCredentials);
    }
    let user = services.store.find_user_by_email(&email).await?;
    let stored_hash = user.as_ref().and_then(|u| u.password_hash.clone());
    let matches = verify_password(input.password, stored_hash).await?;
    match user {
        Some(user) if matches => Ok(user),
        _ => Err(ServiceError::WrongCredentials),
    }
}

async fn hash_password(password: String) -> ServiceResult<String> {
    tokio::task::spawn_blocking(move || password_auth::generate_hash(password))
        .await
        .map_err(|e| ServiceError::Internal(format!("the password hashing worker stopped: {e}")))
}

/// Verifies on the blocking pool. Without a stored hash the password is checked against a
/// fixed one, so an unknown address costs as much time as a known one.
async fn verify_password(password: String, stored_hash: Option<String>) -> ServiceResult<bool> {
    static DECOY: OnceLock<String> = OnceLock::new();
    let known = stored_hash.is_some();
    tokio::task::spawn_blocking(move || {
        let hash = stored_hash
            .unwrap_or_else(|| DECOY.get_or_init(|| password_auth::generate_hash("a password nobody has")).clone());
        known && password_auth::verify_password(password, &hash).is_ok()
    })
    .await
    .map_err(|e| ServiceError::Internal(format!("the password checking worker stopped: {e}")))
}

/// The SHA-256 of a token secret, as stored.
fn token_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The person a personal API token belongs to, if the token is real.
pub async fn token_holder(services: &Services, secret: &str) -> ServiceResult<Option<User>> {
    if !secret.starts_with(TOKEN_PREFIX) || secret.len() > 128 {
        return Ok(None);
    }
    Ok(services.store.user_by_token_hash(&token_hash(secret)).await?)
}

pub async fn create_token(services: &Services, actor: &Actor, input: NewToken) -> ServiceResult<CreatedToken> {
    let person = actor.require_person()?;
    let name = validate_name("name", "Token name", &input.name)?;
    let secret = format!("{TOKEN_PREFIX}{}", hex::encode(rand::random::<[u8; 32]>()));
    let token = services
        .store
        .create_token(person.id, &name, &token_hash(&secret), limits::MAX_TOKENS_PER_USER)
        .await
        .map_err(|error| match error {
            StorageError::LimitReached(_) => ServiceError::LimitReached(format!(
                "You hold {} tokens, the most allowed; delete one first.",
                limits::MAX_TOKENS_PER_USER
            )),
            other => other.into(),
        })?;
    tracing::info!(user_id = %person.id, token_id = %token.id, "API token created");
    Ok(CreatedToken { token, secret })
}

pub async fn list_tokens(services: &Services, actor: &Actor) -> ServiceResult<Vec<ApiToken>> {
    let person = actor.require_person()?;
    Ok(services.store.list_tokens(person.id).await?)
}

pub async fn delete_token(services: &Services, actor: &Actor, token_id: Uuid) -> ServiceResult<()> {
    let person = actor.require_person()?;
    services.store.delete_token(person.id, token_id).await?;
    tracing::info!(user_id = %person.id, %token_id, "API token deleted");
    Ok(())
}

fn require_admin(actor: &Actor) -> ServiceResult<&Principal> {
    actor.require_role(Role::may_manage_people, "admins")
}

pub async fn list_users(services: &Services, actor: &Actor) -> ServiceResult<Vec<UserSummary>> {
    require_admin(actor)?;
    Ok(services.store.list_users(USER_LIST_LIMIT).await?.into_iter().map(summary).collect())
}

pub async fn set_role(services: &Services, actor: &Actor, user_id: Uuid, input: SetRole) -> ServiceResult<UserSummary> {
    let admin = require_admin(actor)?;
    let user = services.store.set_user_role(user_id, input.role).await.map_err(|error| match error {
        StorageError::Conflict(_) => {
            ServiceError::Conflict("Someone must stay admin; make another admin first.".into())
        }
        other => other.into(),
    })?;
    tracing::info!(admin_id = %admin.id, %user_id, role = input.role.as_str(), "role changed");
    Ok(summary(user))
}

/// Lets an address sign up when `SIGNUP=invite`.
pub async fn invite(services: &Services, actor: &Actor, email: &str) -> ServiceResult<()> {
    let admin = require_admin(actor)?;
    let email = validate_email(email)?;
    services.store.invite(&email, admin.id).await.map_err(|error| match error {
        StorageError::Conflict(_) => ServiceError::Conflict("This address is already invited.".into()),
        other => other.into(),
    })?;
    Ok(())
}

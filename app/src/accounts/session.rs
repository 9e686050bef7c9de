//! Sign-in sessions: the accounts `axum-login` signs people in against (the service layer's own),
//! and the one way a session starts and ends. The REST handlers and the server functions both
//! call [`sign_up`], [`sign_in`] and [`sign_out`], so a browser form and a script get the same
//! session.

use std::net::IpAddr;

use domain::accounts::{Login, Me, Signup};
use services::{accounts, Principal, ServiceError, ServiceResult, Services};
use uuid::Uuid;

/// The session of the request, as the server's session layer left it in the request.
pub type AuthSession = axum_login::AuthSession<AccountsBackend>;

/// A signed-in person as the session layer keeps them. The password hash is the session's
/// check value: changing the password ends every other session.
#[derive(Clone)]
pub struct SignedIn {
    pub principal: Principal,
    session_check: Vec<u8>,
}

impl std::fmt::Debug for SignedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedIn").field("id", &self.principal.id).finish_non_exhaustive()
    }
}

impl From<storage::User> for SignedIn {
    fn from(user: storage::User) -> Self {
        let principal = Principal::from(&user);
        Self { principal, session_check: user.password_hash.unwrap_or_default().into_bytes() }
    }
}

impl axum_login::AuthUser for SignedIn {
    type Id = Uuid;

    fn id(&self) -> Uuid {
        self.principal.id
    }

    fn session_auth_hash(&self) -> &[u8] {
        &self.session_check
    }
}

/// An email and password, with the address they came from for the attempt limits.
pub struct Credentials {
    pub login: Login,
    pub client: Option<IpAddr>,
}

#[derive(Clone)]
pub struct AccountsBackend {
    services: Services,
}

impl AccountsBackend {
    pub fn new(services: Services) -> Self {
        Self { services }
    }
}

impl axum_login::AuthnBackend for AccountsBackend {
    type User = SignedIn;
    type Credentials = Credentials;
    type Error = ServiceError;

    async fn authenticate(&self, credentials: Credentials) -> Result<Option<SignedIn>, ServiceError> {
        match accounts::sign_in(&self.services, credentials.login, credentials.client).await {
            Ok(user) => Ok(Some(user.into())),
            Err(ServiceError::WrongCredentials) => Ok(None),
            Err(other) => Err(other),
        }
    }

    async fn get_user(&self, user_id: &Uuid) -> Result<Option<SignedIn>, ServiceError> {
        Ok(self.services.store.get_user(*user_id).await?.map(SignedIn::from))
    }
}

/// Creates an account and signs its owner in.
pub async fn sign_up(auth: &mut AuthSession, input: Signup) -> ServiceResult<Me> {
    let user = SignedIn::from(accounts::signup(&auth.backend.services, input).await?);
    start(auth, &user).await?;
    Ok(accounts::me(&user.principal))
}

/// Checks an email and password and signs their owner in.
pub async fn sign_in(auth: &mut AuthSession, login: Login, client: Option<IpAddr>) -> ServiceResult<Me> {
    // Checked here rather than through the login layer's `authenticate`, which logs every
    // refusal (a wrong password, a rate limit) as an error of the server.
    let user = SignedIn::from(accounts::sign_in(&auth.backend.services, login, client).await?);
    start(auth, &user).await?;
    Ok(accounts::me(&user.principal))
}

/// Ends the session; signing out twice is not an error.
pub async fn sign_out(auth: &mut AuthSession) -> ServiceResult<()> {
    auth.logout().await.map_err(|error| ServiceError::Internal(format!("ending a session: {error}")))?;
    Ok(())
}

/// Starts a session for `user` under a new session id, so an id planted earlier is worth
/// nothing. The login layer changes the id only for a session nobody is signed in to; a person
/// signing in over someone else's session would otherwise take it over, and the old cookie with
/// it. So whatever the session held is dropped first and the id is always changed here.
async fn start(auth: &mut AuthSession, user: &SignedIn) -> ServiceResult<()> {
    let failed = |error: &dyn std::fmt::Display| ServiceError::Internal(format!("starting a session: {error}"));
    if auth.user.is_some() {
        auth.logout().await.map_err(|error| failed(&error))?;
    }
    auth.session.cycle_id().await.map_err(|error| failed(&error))?;
    auth.login(user).await.map_err(|error| failed(&error))
}

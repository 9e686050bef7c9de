//! The accounts `axum-login` signs people in against: the service layer's own.

use std::net::IpAddr;

use domain::accounts::Login;
use services::{accounts, Principal, ServiceError, Services};
use uuid::Uuid;

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

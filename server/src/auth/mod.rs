//! Who is asking: sign-in sessions kept in the database, personal API tokens, and the `Actor`
//! every handler and server function hands to the service layer.
//!
//! Sessions are `axum-login` over `tower-sessions`, stored in the product's own database. A
//! request is identified once, by [`identify`]: a bearer token wins over the session cookie; with
//! neither, the actor is a guest. What an actor may do is decided by the service layer alone.

mod identify;
mod session_records;

// The accounts backend and the code that starts a session live with the server functions that
// use them too; the REST handlers share them.
pub use app::accounts::session::{AccountsBackend, AuthSession, SignedIn};
pub use identify::{identify, Caller};
pub use session_records::SessionRecords;

/// The cookie that carries the session id.
pub const SESSION_COOKIE: &str = "ais_session";

/// The sign-in layers: sessions in the database (HttpOnly, SameSite=Lax, Secure when the app is
/// served over https, expiring after two weeks without use) and the accounts behind them.
pub fn session_layer(
    records: SessionRecords,
    services: services::Services,
    secure_cookie: bool,
) -> axum_login::AuthManagerLayer<AccountsBackend, SessionRecords> {
    use tower_sessions::cookie::time::Duration;
    use tower_sessions::cookie::SameSite;
    use tower_sessions::{Expiry, SessionManagerLayer};

    let sessions = SessionManagerLayer::new(records)
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(secure_cookie)
        .with_expiry(Expiry::OnInactivity(Duration::days(14)));
    axum_login::AuthManagerLayerBuilder::new(AccountsBackend::new(services), sessions).build()
}

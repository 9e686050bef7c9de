//! Who is asking, as the server identified the request: server functions and pages hand this
//! to the service layer, which decides what they may do.

use domain::accounts::Me;

/// The actor the server's identifying middleware left in the request; a guest without one.
#[cfg(feature = "ssr")]
pub async fn actor() -> services::Actor {
    leptos_axum::extract::<axum::Extension<services::Actor>>()
        .await
        .map(|axum::Extension(actor)| actor)
        .unwrap_or(services::Actor::Guest)
}

#[cfg(feature = "ssr")]
pub fn services() -> services::Services {
    leptos::prelude::expect_context::<services::Services>()
}

/// The caller's address as the server resolved it (trusting only `TRUSTED_PROXIES`), the same
/// one the REST routes see, for the control plane's per-address rate limit.
#[cfg(feature = "ssr")]
pub async fn client_address() -> Option<std::net::IpAddr> {
    leptos_axum::extract::<gateway::ClientAddr>().await.ok().and_then(|gateway::ClientAddr(address)| address)
}

/// The person a page is being rendered for, `None` for a guest. Pages are rendered on the
/// server only: in the browser there is no one to ask, and islands get what they need as props.
pub fn viewer() -> Option<Me> {
    #[cfg(feature = "ssr")]
    {
        let parts = leptos::prelude::use_context::<http::request::Parts>()?;
        let person = parts.extensions.get::<services::Actor>()?.person()?.clone();
        Some(services::accounts::me(&person))
    }
    #[cfg(not(feature = "ssr"))]
    {
        None
    }
}

/// Whether this server lets people create accounts (`SIGNUP` is not `closed`), so pages only
/// offer "Create account" where it can work. Asked while a page is rendered on the server.
pub fn signup_offered() -> bool {
    #[cfg(feature = "ssr")]
    {
        use services::config::SignupPolicy;
        leptos::prelude::use_context::<services::Services>()
            .is_none_or(|services| services.config.access.signup != SignupPolicy::Closed)
    }
    #[cfg(not(feature = "ssr"))]
    {
        true
    }
}

//! Who is asking, as the server identified the request: server functions and pages hand this
//! to the service layer, which decides what they may do.

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

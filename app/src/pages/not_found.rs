use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

/// Shown for any unknown path, with a real 404 status when rendered on the server.
#[component]
pub fn NotFoundPage() -> impl IntoView {
    #[cfg(feature = "ssr")]
    {
        if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
            response.set_status(http::StatusCode::NOT_FOUND);
        }
    }

    view! {
        <Title text="Page not found" />
        <section class="not-found">
            <h1>"Page not found"</h1>
            <p>"There is nothing at this address. It may have moved, or the link may be mistyped."</p>
            <p><A href="/">"Go to the start page"</A></p>
        </section>
    }
}

//! What a page shows in place of what the service layer refused it: a guest is sent to sign in
//! and comes back afterwards; anyone else reads why.

use domain::ErrorCode;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_location;

use super::next::sign_in_url;
use crate::error::AppError;

/// Sends the browser to `path` instead of showing this page (a `302` from the server). Pages
/// are rendered on the server only, so in the browser there is nothing to do.
pub fn go_to(path: &str) {
    #[cfg(feature = "ssr")]
    leptos_axum::redirect(path);
    #[cfg(not(feature = "ssr"))]
    let _ = path;
}

/// This page's path and query, to come back to.
pub fn current_path() -> String {
    let location = use_location();
    let (path, query) = (location.pathname.get_untracked(), location.search.get_untracked());
    if query.is_empty() {
        path
    } else {
        format!("{path}?{query}")
    }
}

/// The page for a refusal. Its status is already on the response: the server function that
/// refused set it.
#[component]
pub fn Refusal(error: AppError) -> impl IntoView {
    if error.code == ErrorCode::Unauthenticated {
        let sign_in = sign_in_url(&current_path());
        go_to(&sign_in);
        return view! {
            <Title text="Sign in" />
            <section class="notice-page">
                <h1>"Sign in to continue"</h1>
                <p>"This page needs an account. " <a href=sign_in>"Sign in"</a> " and you will come back here."</p>
            </section>
        }
        .into_any();
    }
    let title = match error.code {
        ErrorCode::Forbidden => "Not for your account",
        ErrorCode::NotFound => "Not found",
        _ => "This page cannot be shown right now",
    };
    view! {
        <Title text=title />
        <section class="notice-page">
            <h1>{title}</h1>
            <p role="alert">{error.message}</p>
            <p><a href="/">"Go to the start page"</a></p>
        </section>
    }
    .into_any()
}

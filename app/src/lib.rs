//! The AIS Chatrooms web application: rendered on the server (`ssr`); its interactive parts —
//! the islands (`#[island]`) — are hydrated in the browser (`hydrate`). Everything else is plain
//! server-rendered HTML and ships no code. Server-only code is behind `#[cfg(feature = "ssr")]`.

pub mod accounts;
pub mod bundle;
pub mod caller;
pub mod codec;
pub mod control_plane;
pub mod error;
pub mod forms;
pub mod layout;
pub mod numbers;
pub mod pages;
pub mod rooms;
pub mod runs;
#[cfg(feature = "ssr")]
pub mod server_fns;
pub mod telegram;
pub mod time;
pub mod usage;

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Title};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{path, SsrMode};

use crate::layout::{AppFooter, AppHeader};
use crate::pages::{
    control_plane::ControlPlanePage, home::HomePage, not_found::NotFoundPage, room::RoomPage, rooms::RoomsPage,
    run::RunPage, sign_in::SignInPage, sign_up::SignUpPage, telegram::TelegramPage, tokens::TokensPage,
    usage::UsagePage, users::UsersPage,
};

/// The HTML document around the application, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    let stylesheet = bundle::stylesheet_href(&options);
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="color-scheme" content="light dark" />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <link rel="stylesheet" id="leptos" href=stylesheet />
                <AutoReload options=options.clone() />
                // Only the interactive parts of a page (its islands) load code in the browser.
                <HydrationScripts options islands=true />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // What a plain form post left for this page view, for the form it is about.
    #[cfg(feature = "ssr")]
    provide_context(forms::take_notice());

    view! {
        <Title formatter=|page: String| {
            if page.is_empty() { "AIS Chatrooms".to_owned() } else { format!("{page} · AIS Chatrooms") }
        } />
        <Router>
            <div class="app">
                <AppHeader />
                <main class="app-main" id="main">
                    // Pages that load data are rendered in full before sending, so a missing room answers
                    // with a real 404 and a visitor who must sign in first is redirected.
                    <Routes fallback=NotFoundPage>
                        <Route path=path!("") view=HomePage ssr=SsrMode::Async />
                        <Route path=path!("/signin") view=SignInPage ssr=SsrMode::Async />
                        <Route path=path!("/signup") view=SignUpPage ssr=SsrMode::Async />
                        <Route path=path!("/rooms") view=RoomsPage ssr=SsrMode::Async />
                        <Route path=path!("/rooms/:id") view=RoomPage ssr=SsrMode::Async />
                        <Route path=path!("/rooms/:id/runs/:run_id") view=RunPage ssr=SsrMode::Async />
                        <Route path=path!("/tokens") view=TokensPage ssr=SsrMode::Async />
                        <Route path=path!("/usage") view=UsagePage ssr=SsrMode::Async />
                        <Route path=path!("/admin/users") view=UsersPage ssr=SsrMode::Async />
                        <Route path=path!("/control-plane") view=ControlPlanePage ssr=SsrMode::Async />
                        <Route path=path!("/control-plane/telegram") view=TelegramPage ssr=SsrMode::Async />
                    </Routes>
                </main>
                <AppFooter />
            </div>
        </Router>
    }
}

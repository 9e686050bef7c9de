//! The frame around every page: header with navigation, footer with the version.

mod theme_toggle;

use leptos::prelude::*;
use leptos_router::components::A;

pub use theme_toggle::ThemeToggle;

#[component]
pub fn AppHeader() -> impl IntoView {
    view! {
        <header class="app-header">
            <a class="skip-link" href="#main">"Skip to content"</a>
            <A href="/" attr:class="brand">
                <span class="brand-mark" aria-hidden="true">"◆"</span>
                " AIS Chatrooms"
            </A>
            <nav class="app-nav" aria-label="Main">
                <A href="/rooms">"Rooms"</A>
                <A href="/control-plane">"Control plane"</A>
            </nav>
            <ThemeToggle />
        </header>
    }
}

#[component]
pub fn AppFooter() -> impl IntoView {
    view! {
        <footer class="app-footer">
            <span>"AIS Chatrooms"</span>
            <span class="version">"v" {domain::VERSION}</span>
        </footer>
    }
}

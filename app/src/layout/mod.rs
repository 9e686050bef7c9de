//! The frame around every page: header with navigation and who is signed in, footer with the
//! version.

mod theme_toggle;

use domain::accounts::Me;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use leptos_router::components::A;

pub use theme_toggle::ThemeToggle;

use crate::accounts::api::SignOut;
use crate::accounts::next::{sign_in_url, sign_up_url};
use crate::accounts::refusal::current_path;
use crate::caller::{signup_offered, viewer};

/// The navigation offers what the signed-in person's role opens; the server still decides.
#[component]
pub fn AppHeader() -> impl IntoView {
    let me = viewer();
    let role = me.as_ref().map(|me| me.role);
    view! {
        <header class="app-header">
            <a class="skip-link" href="#main">"Skip to content"</a>
            <A href="/" attr:class="brand">
                <span class="brand-mark" aria-hidden="true">"◆"</span>
                " AIS Chatrooms"
            </A>
            <nav class="app-nav" aria-label="Main">
                <A href="/rooms">"Rooms"</A>
                {role.filter(|r| r.may_operate()).map(|_| view! { <A href="/control-plane">"Control plane"</A> })}
                {role.filter(|r| r.may_manage_people()).map(|_| view! { <A href="/admin/users">"Users"</A> })}
                {role.map(|_| view! { <A href="/usage">"Usage"</A> })}
                {role.map(|_| view! { <A href="/tokens">"API tokens"</A> })}
            </nav>
            {match me {
                Some(me) => view! { <SignedIn me /> }.into_any(),
                None => view! { <GuestLinks /> }.into_any(),
            }}
            <ThemeToggle />
        </header>
    }
}

#[component]
fn SignedIn(me: Me) -> impl IntoView {
    view! {
        <div class="account-menu">
            <span class="who" title=format!("{} · {}", me.email, me.role)>{me.name}</span>
            // A plain form: signing out works before, and without, JavaScript.
            <form method="post" action=SignOut::url()>
                <button type="submit" class="link">"Sign out"</button>
            </form>
        </div>
    }
}

/// Links that come back to this page after signing in or up.
#[component]
fn GuestLinks() -> impl IntoView {
    let here = current_path();
    view! {
        <div class="account-menu">
            <a href=sign_in_url(&here)>"Sign in"</a>
            {signup_offered().then(|| view! { <a href=sign_up_url(&here) class="button primary">"Create account"</a> })}
        </div>
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

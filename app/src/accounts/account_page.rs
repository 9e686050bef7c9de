//! The frame the sign-in and sign-up pages share: the way back (`?next=`) both carry on, a
//! visitor who is already signed in sent straight there, and — before anyone has an account —
//! the offer to create the first one instead.

use domain::accounts::SignupState;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use super::api::load_signup_state;
use super::first_account::FirstAccount;
use super::next::{after_sign_in, local_path};
use super::refusal::{go_to, Refusal};
use crate::caller::viewer;

/// `card` shows the page's own form, given the way back and what this server's `SIGNUP` allows.
#[component]
pub fn AccountPage(title: &'static str, card: fn(String, SignupState) -> AnyView) -> impl IntoView {
    // The way back as the page was asked for it (the form carries it on, and a refusal returns
    // here with it); where a signed-in visitor goes is the checked version of it.
    let next = use_query_map()
        .with_untracked(|query| query.get("next").filter(|next| local_path(next).is_some()).unwrap_or_default());
    if viewer().is_some() {
        go_to(after_sign_in(Some(&next)));
    }
    let signup = Resource::new(|| (), |_| load_signup_state());

    view! {
        <Title text=title />
        <div class="account-page">
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || {
                    let next = next.clone();
                    Suspend::new(async move {
                        match signup.await {
                            Ok(SignupState::FirstAccount) => view! { <FirstAccount next /> }.into_any(),
                            Ok(state) => card(next, state),
                            Err(error) => view! { <Refusal error /> }.into_any(),
                        }
                    })
                }}
            </Suspense>
        </div>
    }
}

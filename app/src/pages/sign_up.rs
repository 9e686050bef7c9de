use domain::accounts::SignupState;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::accounts::api::{form, load_signup_state};
use crate::accounts::first_account::FirstAccount;
use crate::accounts::next::{after_sign_in, local_path, sign_in_url};
use crate::accounts::refusal::{go_to, Refusal};
use crate::accounts::sign_up_form::SignUpForm;
use crate::caller::viewer;
use crate::forms::notice_for;

/// Creating an account, as far as the server's `SIGNUP` allows, then on to `?next=`.
#[component]
pub fn SignUpPage() -> impl IntoView {
    // The way back as the page was asked for it (the form carries it on, and a refusal returns
    // here with it); where a signed-in visitor goes is the checked version of it.
    let next = use_query_map()
        .with_untracked(|query| query.get("next").filter(|next| local_path(next).is_some()).unwrap_or_default());
    if viewer().is_some() {
        go_to(after_sign_in(Some(&next)));
    }
    let signup = Resource::new(|| (), |_| load_signup_state());

    view! {
        <Title text="Create account" />
        <div class="account-page">
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || {
                    let next = next.clone();
                    Suspend::new(async move {
                        match signup.await {
                            Ok(SignupState::FirstAccount) => view! { <FirstAccount next /> }.into_any(),
                            Ok(state) => view! { <SignUpCard next state /> }.into_any(),
                            Err(error) => view! { <Refusal error /> }.into_any(),
                        }
                    })
                }}
            </Suspense>
        </div>
    }
}

#[component]
fn SignUpCard(next: String, state: SignupState) -> impl IntoView {
    let sign_in = sign_in_url(&next);
    if state == SignupState::Closed {
        return view! {
            <section class="card account-card">
                <h1>"Create account"</h1>
                <p>"This server does not take new accounts. Ask its admin for one."</p>
                <p class="hint">"Have an account? " <a href=sign_in>"Sign in"</a></p>
            </section>
        }
        .into_any();
    }
    let notice = notice_for(form::SIGN_UP);
    let error = notice.as_ref().and_then(|n| n.error.clone());
    let email = notice.and_then(|n| n.email);
    view! {
        <section class="card account-card" aria-labelledby="sign-up-title">
            <h1 id="sign-up-title">"Create account"</h1>
            {(state == SignupState::Invite)
                .then(|| view! { <p class="hint">"Only addresses an admin invited can create an account here."</p> })}
            <SignUpForm next error email />
            <p class="hint">"Have an account? " <a href=sign_in>"Sign in"</a></p>
        </section>
    }
    .into_any()
}

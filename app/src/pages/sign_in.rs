use domain::accounts::SignupState;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

use crate::accounts::api::{form, load_signup_state};
use crate::accounts::first_account::FirstAccount;
use crate::accounts::next::{after_sign_in, local_path, sign_up_url};
use crate::accounts::refusal::{go_to, Refusal};
use crate::accounts::sign_in_form::SignInForm;
use crate::caller::viewer;
use crate::forms::notice_for;

/// Signing in, then back to the page that asked for it (`?next=`). Before anyone has an account,
/// it offers to create the first one instead.
#[component]
pub fn SignInPage() -> impl IntoView {
    // The way back as the page was asked for it (the form carries it on, and a refusal returns
    // here with it); where a signed-in visitor goes is the checked version of it.
    let next = use_query_map()
        .with_untracked(|query| query.get("next").filter(|next| local_path(next).is_some()).unwrap_or_default());
    if viewer().is_some() {
        go_to(after_sign_in(Some(&next)));
    }
    let signup = Resource::new(|| (), |_| load_signup_state());

    view! {
        <Title text="Sign in" />
        <div class="account-page">
            <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || {
                    let next = next.clone();
                    Suspend::new(async move {
                        match signup.await {
                            Ok(SignupState::FirstAccount) => view! { <FirstAccount next /> }.into_any(),
                            Ok(state) => view! { <SignInCard next offer_sign_up=state != SignupState::Closed /> }.into_any(),
                            Err(error) => view! { <Refusal error /> }.into_any(),
                        }
                    })
                }}
            </Suspense>
        </div>
    }
}

#[component]
fn SignInCard(next: String, offer_sign_up: bool) -> impl IntoView {
    let notice = notice_for(form::SIGN_IN);
    let error = notice.as_ref().and_then(|n| n.error.clone());
    let email = notice.and_then(|n| n.email);
    let sign_up = sign_up_url(&next);
    view! {
        <section class="card account-card" aria-labelledby="sign-in-title">
            <h1 id="sign-in-title">"Sign in"</h1>
            <SignInForm next error email />
            {offer_sign_up.then(|| view! { <p class="hint">"No account yet? " <a href=sign_up>"Create account"</a></p> })}
        </section>
    }
}

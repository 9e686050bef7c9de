use domain::accounts::SignupState;
use leptos::prelude::*;

use crate::accounts::account_page::AccountPage;
use crate::accounts::api::form;
use crate::accounts::next::sign_in_url;
use crate::accounts::sign_up_form::SignUpForm;
use crate::forms::notice_for;

/// Creating an account, as far as the server's `SIGNUP` allows, then on to `?next=`.
#[component]
pub fn SignUpPage() -> impl IntoView {
    let card = |next, state| view! { <SignUpCard next state /> }.into_any();
    view! { <AccountPage title="Create account" card /> }
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

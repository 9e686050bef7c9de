use domain::accounts::SignupState;
use leptos::prelude::*;

use crate::accounts::account_page::AccountPage;
use crate::accounts::api::form;
use crate::accounts::next::sign_up_url;
use crate::accounts::sign_in_form::SignInForm;
use crate::forms::notice_for;

/// Signing in, then back to the page that asked for it (`?next=`). Before anyone has an account,
/// it offers to create the first one instead.
#[component]
pub fn SignInPage() -> impl IntoView {
    let card = |next, state| view! { <SignInCard next offer_sign_up=state != SignupState::Closed /> }.into_any();
    view! { <AccountPage title="Sign in" card /> }
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

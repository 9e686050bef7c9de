//! The offer a new installation makes: create the first account, which becomes the admin, and
//! be signed in with it at once.

use leptos::prelude::*;

use super::api::form;
use super::sign_up_form::SignUpForm;
use crate::forms::notice_for;

#[component]
pub fn FirstAccount(next: String) -> impl IntoView {
    let notice = notice_for(form::SIGN_UP);
    let error = notice.as_ref().and_then(|n| n.error.clone());
    let email = notice.and_then(|n| n.email);
    view! {
        <section class="card account-card first-account" aria-labelledby="first-account-title">
            <h2 id="first-account-title">"Create the first account"</h2>
            <p>
                "No one has an account here yet. The first account becomes the admin: it manages people and their "
                "roles, sees every room and may use the control plane."
            </p>
            <SignUpForm next error email />
        </section>
    }
}

//! The sign-in form. Without JavaScript it posts and the server sends the browser on, or back
//! here with the refusal; with it, the refusal appears without leaving the page.

use leptos::prelude::*;

use super::api::SignIn;

/// `error` and `email` are what a plain post that was refused left for this page view.
#[island]
pub fn SignInForm(next: String, error: Option<String>, email: Option<String>) -> impl IntoView {
    let action = ServerAction::<SignIn>::new();
    let signed_in = move || matches!(action.value().get(), Some(Ok(())));
    let refusal = move || match action.value().get() {
        Some(Err(refused)) => Some(refused.message),
        Some(Ok(())) => None,
        None => error.clone(),
    };

    view! {
        <ActionForm action attr:class="account-form">
            <input type="hidden" name="next" value=next />
            <div class="field">
                <label for="sign-in-email">"Email"</label>
                <input id="sign-in-email" name="email" type="email" autocomplete="username" required value=email />
            </div>
            <div class="field">
                <label for="sign-in-password">"Password"</label>
                <input id="sign-in-password" name="password" type="password" autocomplete="current-password" required />
            </div>
            {move || refusal().map(|message| view! { <p class="error-banner" role="alert">{message}</p> })}
            <button type="submit" class="primary" disabled=move || action.pending().get() || signed_in()>
                "Sign in"
            </button>
        </ActionForm>
    }
}

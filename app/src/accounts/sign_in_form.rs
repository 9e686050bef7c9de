//! The sign-in form, a plain post: the server sends the browser on, or back here with the
//! refusal. It needs no JavaScript, so none of it is in the browser bundle.

use leptos::prelude::*;
use leptos::server_fn::ServerFn;

use super::api::SignIn;

/// `error` and `email` are what a plain post that was refused left for this page view.
#[component]
pub fn SignInForm(next: String, error: Option<String>, email: Option<String>) -> impl IntoView {
    view! {
        <form method="post" action=SignIn::url() class="account-form">
            <input type="hidden" name="next" value=next />
            <div class="field">
                <label for="sign-in-email">"Email"</label>
                <input id="sign-in-email" name="email" type="email" autocomplete="username" required value=email />
            </div>
            <div class="field">
                <label for="sign-in-password">"Password"</label>
                <input id="sign-in-password" name="password" type="password" autocomplete="current-password" required />
            </div>
            {error.map(|message| view! { <p class="error-banner" role="alert">{message}</p> })}
            <button type="submit" class="primary">
                "Sign in"
            </button>
        </form>
    }
}

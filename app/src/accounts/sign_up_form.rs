//! The form that creates an account and signs its owner in; the very first one makes the admin.
//! A plain post, like the sign-in form: none of it is in the browser bundle.

use domain::accounts::limits;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;

use super::api::SignUp;

/// `error` and `email` are what a plain post that was refused left for this page view.
#[component]
pub fn SignUpForm(next: String, error: Option<String>, email: Option<String>) -> impl IntoView {
    view! {
        <form method="post" action=SignUp::url() class="account-form">
            <input type="hidden" name="next" value=next />
            <div class="field">
                <label for="sign-up-name">"Name"</label>
                <input id="sign-up-name" name="name" autocomplete="name" required maxlength=limits::NAME_MAX_CHARS />
            </div>
            <div class="field">
                <label for="sign-up-email">"Email"</label>
                <input id="sign-up-email" name="email" type="email" autocomplete="email" required
                    maxlength=limits::EMAIL_MAX_CHARS value=email />
            </div>
            <div class="field">
                <label for="sign-up-password">"Password"</label>
                <input id="sign-up-password" name="password" type="password" autocomplete="new-password" required
                    minlength=limits::PASSWORD_MIN_CHARS aria-describedby="sign-up-password-hint" />
                <p class="hint" id="sign-up-password-hint">
                    {format!("At least {} characters.", limits::PASSWORD_MIN_CHARS)}
                </p>
            </div>
            {error.map(|message| view! { <p class="error-banner" role="alert">{message}</p> })}
            <button type="submit" class="primary">
                "Create account"
            </button>
        </form>
    }
}

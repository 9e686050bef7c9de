//! Personal API tokens: a new token's secret, shown once; the form for another; the list, with
//! when each was last used, and a button to delete each. Plain forms: the page comes back after
//! each change, with or without JavaScript.

use domain::accounts::{limits, ApiToken};
use leptos::prelude::*;
use leptos::server_fn::ServerFn;

use super::api::{form, CreateToken, DeleteToken};
use super::copy_button::CopyButton;
use crate::forms::{error_for, notice_for};
use crate::time::date_time;

#[component]
pub fn TokensPanel(tokens: Vec<ApiToken>) -> impl IntoView {
    let secret = notice_for(form::NEW_TOKEN).and_then(|notice| notice.secret);
    view! {
        {secret.map(|secret| view! { <NewSecret secret /> })}
        <NewTokenForm />
        <TokenList tokens />
    }
}

/// The secret of the token just created. The server keeps only its hash, so this is the one
/// time anyone sees it.
#[component]
fn NewSecret(secret: String) -> impl IntoView {
    view! {
        <section class="card new-secret" aria-labelledby="new-secret-title">
            <h2 id="new-secret-title">"Your new token"</h2>
            <p>"Copy it now: it will not be shown again."</p>
            <div class="secret-row">
                <code class="secret">{secret.clone()}</code>
                <CopyButton text=secret label="Copy".to_owned() />
            </div>
            <p class="hint">"Send it as " <code>"Authorization: Bearer <token>"</code> "; it acts as you."</p>
        </section>
    }
}

#[component]
fn NewTokenForm() -> impl IntoView {
    view! {
        <form method="post" action=CreateToken::url() class="inline-form" aria-label="New token">
            <div class="field">
                <label for="token-name">"Token name"</label>
                <input id="token-name" name="name" required maxlength=limits::TOKEN_NAME_MAX_CHARS
                    placeholder="e.g. deploy script" />
            </div>
            <button type="submit" class="primary">"Create token"</button>
        </form>
        {error_for(form::NEW_TOKEN).map(|e| view! { <p class="error-banner" role="alert">{e}</p> })}
    }
}

#[component]
fn TokenList(tokens: Vec<ApiToken>) -> impl IntoView {
    let error = error_for(form::TOKENS).map(|e| view! { <p class="error-banner" role="alert">{e}</p> });
    if tokens.is_empty() {
        return view! { {error} <p class="empty">"No tokens yet."</p> }.into_any();
    }
    view! {
        {error}
        <div class="table-scroll" tabindex="0" role="region" aria-label="API tokens">
        <table class="data-table tokens-table">
            <thead>
                <tr><th scope="col">"Name"</th><th scope="col">"Created"</th><th scope="col">"Last used"</th><th></th></tr>
            </thead>
            <tbody>
                {tokens.into_iter().map(|token| view! { <TokenRow token /> }).collect_view()}
            </tbody>
        </table>
        </div>
    }
    .into_any()
}

#[component]
fn TokenRow(token: ApiToken) -> impl IntoView {
    let last_used = token.last_used_at.as_ref().map(date_time).unwrap_or_else(|| "never".to_owned());
    view! {
        <tr>
            <td class="token-name">{token.name.clone()}</td>
            <td><time datetime=token.created_at.to_rfc3339()>{date_time(&token.created_at)}</time></td>
            <td>{last_used}</td>
            <td class="row-actions">
                <form method="post" action=DeleteToken::url()>
                    <input type="hidden" name="token_id" value=token.id.to_string() />
                    <button type="submit" class="danger" aria-label=format!("Delete token {}", token.name)>"Delete"</button>
                </form>
            </td>
        </tr>
    }
}

//! The Telegram page's parts: how linking works, a new code (shown once), and the linked chats.

use domain::telegram::{TelegramLink, LINK_CODE_TTL_SECONDS};
use leptos::prelude::*;
use leptos::server_fn::ServerFn;

use super::api::{form, CreateTelegramLinkCode, TelegramSettings, UnlinkTelegramChat};
use crate::forms::{error_for, notice_for};
use crate::time::date_time;

#[component]
pub fn TelegramPanel(settings: TelegramSettings) -> impl IntoView {
    if !settings.bot_enabled {
        return view! {
            <section class="card" aria-labelledby="telegram-off">
                <h2 id="telegram-off">"No bot on this server"</h2>
                <p>"This server runs no Telegram bot. An administrator turns it on by setting "
                    <code>"TELEGRAM_BOT_TOKEN"</code> " to the token @BotFather gives."</p>
            </section>
            <LinkedChats links=settings.links />
        }
        .into_any();
    }
    let code = notice_for(form::LINK_CODE).and_then(|notice| notice.secret.map(|code| (code, notice.info)));
    view! {
        <section class="card" aria-labelledby="telegram-how">
            <h2 id="telegram-how">"Link a chat"</h2>
            <ol class="steps">
                <li>"Get a link code below. It works once, for "{LINK_CODE_TTL_SECONDS / 60}" minutes."</li>
                <li>"In Telegram, open a private chat with this server's bot and send " <code>"/link CODE"</code> "."</li>
                <li>"Send commands in plain words, e.g. " <code>"lisa run backup_db"</code>
                    ". The bot answers with a preview — intent, risk, lane, rule and expiry — and buttons: "
                    "press Confirm, or reply " <code>"confirm"</code> " to the preview. Nothing is written before that."</li>
                <li>"The chat is then told of each state the task reaches, with its result at the end. "
                    "Send " <code>"/unlink"</code> " in the chat, or use the list below, to stop."</li>
            </ol>
            {code.map(|(code, until)| view! { <NewCode code until /> })}
            <form method="post" action=CreateTelegramLinkCode::url() class="inline-form" aria-label="New link code">
                <button type="submit" class="primary">"Get a link code"</button>
            </form>
            {error_for(form::LINK_CODE).map(|e| view! { <p class="error-banner" role="alert">{e}</p> })}
        </section>
        <LinkedChats links=settings.links />
    }
    .into_any()
}

/// The code just made. The server keeps only its hash, so this is the one time anyone sees it.
#[component]
fn NewCode(code: String, until: Option<String>) -> impl IntoView {
    let until = until
        .and_then(|at| chrono::DateTime::parse_from_rfc3339(&at).ok())
        .map(|at| date_time(&at.with_timezone(&chrono::Utc)));
    view! {
        <div class="new-secret" role="status">
            <p>"Send this to the bot:"</p>
            <code class="secret link-code">{format!("/link {code}")}</code>
            {until.map(|until| view! { <p class="hint">"Valid once, until " {until} "."</p> })}
        </div>
    }
}

#[component]
fn LinkedChats(links: Vec<TelegramLink>) -> impl IntoView {
    let error = error_for(form::LINKS).map(|e| view! { <p class="error-banner" role="alert">{e}</p> });
    let body = if links.is_empty() {
        view! { <p class="empty">"No chat is linked to your account."</p> }.into_any()
    } else {
        view! {
            <div class="table-scroll" tabindex="0" role="region" aria-label="Linked chats">
            <table class="data-table telegram-links">
                <thead>
                    <tr><th scope="col">"Chat"</th><th scope="col">"Chat id"</th><th scope="col">"Linked"</th><th></th></tr>
                </thead>
                <tbody>
                    {links.into_iter().map(|link| view! { <LinkedChat link /> }).collect_view()}
                </tbody>
            </table>
            </div>
        }
        .into_any()
    };
    view! {
        <section aria-labelledby="telegram-linked">
            <h2 id="telegram-linked">"Linked chats"</h2>
            {error}
            {body}
        </section>
    }
}

#[component]
fn LinkedChat(link: TelegramLink) -> impl IntoView {
    view! {
        <tr>
            <td>{link.chat_title.clone()}</td>
            <td><code>{link.chat_id}</code></td>
            <td><time datetime=link.linked_at.to_rfc3339()>{date_time(&link.linked_at)}</time></td>
            <td class="row-actions">
                <form method="post" action=UnlinkTelegramChat::url()>
                    <input type="hidden" name="chat_id" value=link.chat_id.to_string() />
                    <button type="submit" class="danger" aria-label=format!("Unlink {}", link.chat_title)>"Unlink"</button>
                </form>
            </td>
        </tr>
    }
}

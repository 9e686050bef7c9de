use leptos::prelude::*;
use leptos_meta::Title;

use crate::accounts::refusal::Refusal;
use crate::telegram::api::load_telegram_settings;
use crate::telegram::TelegramPanel;

/// The control plane's Telegram channel: linking chats, for operators and admins.
#[component]
pub fn TelegramPage() -> impl IntoView {
    let settings = Resource::new(|| (), |_| load_telegram_settings());
    view! {
        <Title text="Telegram" />
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match settings.await {
                    Ok(settings) => view! {
                        <div class="page-head">
                            <h1>"Telegram"</h1>
                            <p class="lede">
                                "Send control-plane commands from a Telegram chat linked to your account, "
                                "and confirm them there. The same rules, limits and log apply as in the "
                                <a href="/control-plane">"control panel"</a> "."
                            </p>
                        </div>
                        <TelegramPanel settings />
                    }
                    .into_any(),
                    Err(error) => view! { <Refusal error /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

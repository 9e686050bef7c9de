use leptos::prelude::*;
use leptos_meta::Title;

use crate::accounts::api::list_tokens;
use crate::accounts::refusal::Refusal;
use crate::accounts::tokens::TokensPanel;

/// One's personal API tokens: for scripts and tools that act as oneself.
#[component]
pub fn TokensPage() -> impl IntoView {
    let tokens = Resource::new(|| (), |_| list_tokens());

    view! {
        <Title text="API tokens" />
        <Suspense fallback=|| view! { <p class="loading">"Loading tokens…"</p> }>
            {move || Suspend::new(async move {
                match tokens.await {
                    Ok(tokens) => view! {
                        <div class="page-head">
                            <h1>"API tokens"</h1>
                            <p class="lede">
                                "A token lets a script or tool use the API as you, with your rights. "
                                "Delete one as soon as it is no longer needed."
                            </p>
                        </div>
                        <TokensPanel tokens />
                    }
                    .into_any(),
                    Err(error) => view! { <Refusal error /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

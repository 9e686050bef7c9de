use leptos::prelude::*;
use leptos_meta::Title;

use crate::accounts::refusal::Refusal;
use crate::control_plane::api::panel_access;
use crate::control_plane::panel::ControlPanel;

/// The control plane, for operators and admins: what the panel does, then the panel.
#[component]
pub fn ControlPlanePage() -> impl IntoView {
    let access = Resource::new(|| (), |_| panel_access());

    view! {
        <Suspense fallback=|| view! { <p class="loading">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match access.await {
                    Ok(()) => view! {
                        <Title text="Control plane" />
                        <div class="page-head">
                            <h1>"Control plane"</h1>
                            <p class="lede">
                                "Type a command in plain language. You see the structured task, its risk and its lane first; "
                                "nothing is written until you confirm. The gateway never executes anything, and every step is logged."
                            </p>
                        </div>
                        <ControlPanel />
                    }
                    .into_any(),
                    Err(error) => view! { <Refusal error /> }.into_any(),
                }
            })}
        </Suspense>
    }
}

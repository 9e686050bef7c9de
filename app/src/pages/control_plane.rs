use leptos::prelude::*;
use leptos_meta::Title;

use crate::control_plane::panel::ControlPanel;

/// The control plane: what the panel does, then the panel.
#[component]
pub fn ControlPlanePage() -> impl IntoView {
    view! {
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
}

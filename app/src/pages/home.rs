use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

/// The landing page: what the two halves of the product do, and where to find them.
#[component]
pub fn HomePage() -> impl IntoView {
    view! {
        <Title text="" />
        <section class="hero">
            <h1>"Rooms where AI agents talk — with you, and with each other."</h1>
            <p class="lede">
                "Create a room, give it agents with their own personas, and watch their replies stream in. "
                "Let them take turns on their own within hard limits, and cut in whenever you like."
            </p>
        </section>
        <div class="cards">
            <article class="card">
                <h2><A href="/rooms">"Rooms"</A></h2>
                <p>
                    "Multi-agent chat rooms. Each agent has a name, a system prompt, a model and a temperature. "
                    "Everything is kept: reload and the room is there."
                </p>
            </article>
            <article class="card">
                <h2><A href="/control-plane">"Control plane"</A></h2>
                <p>
                    "Type a command in plain language, see the structured task with its risk and lane, and "
                    "confirm it before anything is written. The gateway never executes anything and logs everything."
                </p>
            </article>
        </div>
    }
}

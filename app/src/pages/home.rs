use domain::accounts::SignupState;
use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::A;

use crate::accounts::api::load_signup_state;
use crate::accounts::first_account::FirstAccount;
use crate::accounts::next::AFTER_SIGN_IN;
use crate::caller::{signup_offered, viewer};

/// The landing page: what the two halves of the product do, and where to find them. On a new
/// installation it offers to create the first account right here.
#[component]
pub fn HomePage() -> impl IntoView {
    let me = viewer();
    let signed_in = me.is_some();
    // People signed in without the right see what the control plane is, but no way into it.
    let may_operate = me.as_ref().is_none_or(|me| me.role.may_operate());
    let first_run = Resource::new(
        || (),
        move |_| async move {
            Ok::<_, crate::error::AppError>(!signed_in && load_signup_state().await? == SignupState::FirstAccount)
        },
    );

    view! {
        <Title text="" />
        <section class="hero">
            <h1>"Rooms where AI agents talk — with you, and with each other."</h1>
            <p class="lede">
                "Create a room, give it agents with their own personas, and watch their replies stream in. "
                "Let them take turns on their own within hard limits, and cut in whenever you like."
            </p>
        </section>
        <Suspense fallback=|| ()>
            {move || Suspend::new(async move {
                match first_run.await {
                    Ok(true) => view! { <FirstAccount next=AFTER_SIGN_IN.to_owned() /> }.into_any(),
                    _ if signed_in => ().into_any(),
                    _ => view! {
                        <p class="hero-actions">
                            <a class="button primary" href="/signin">"Sign in"</a>
                            {signup_offered().then(|| view! { <a class="button" href="/signup">"Create account"</a> })}
                        </p>
                    }
                    .into_any(),
                }
            })}
        </Suspense>
        <div class="cards">
            <article class="card">
                <h2><A href="/rooms">"Rooms"</A></h2>
                <p>
                    "Multi-agent chat rooms. Each agent has a name, a system prompt, a model and a temperature. "
                    "Share a room with people as members or viewers. Everything is kept: reload and the room is there."
                </p>
            </article>
            <article class="card">
                <h2>
                    {if may_operate {
                        view! { <A href="/control-plane">"Control plane"</A> }.into_any()
                    } else {
                        "Control plane".into_any()
                    }}
                </h2>
                <p>
                    "For operators: type a command in plain language, see the structured task with its risk and "
                    "lane, and confirm it before anything is written. The gateway never executes anything and logs everything."
                </p>
                {(!may_operate).then(|| view! { <p class="hint">"Your account is not an operator's; an admin can make it one."</p> })}
            </article>
        </div>
    }
}

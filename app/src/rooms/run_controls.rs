//! Auto mode in the room header: limits, Start and Stop, and live meters of the running run.
//! Start and Stop are plain form posts until the island hydrates, then act in place.

use domain::rooms::RoomMode;
use domain::runs::RunStatusEvent;
use domain::runs::{limits, RunStatus, StartRun, StopReason};
use leptos::prelude::*;
use leptos::task::spawn_local;

use leptos::server_fn::ServerFn;

use super::api::plain::{StartRunForm, StopRunForm};
use super::api::{start_auto, stop_auto};
use super::state::RoomState;
use crate::forms::typed_value;

pub(crate) fn reason_label(reason: StopReason) -> &'static str {
    match reason {
        StopReason::MaxSteps => "step limit reached",
        StopReason::MaxSeconds => "time limit reached",
        StopReason::BudgetTokens => "token budget used up",
        StopReason::UserStop => "stopped by you",
        StopReason::Error => "stopped after an error",
        StopReason::ServerShutdown => "the server shut down",
        StopReason::ServerRestart => "the server restarted",
    }
}

/// `refusal` is what a plain post of Start or Stop was answered.
#[component]
pub fn RunControls(state: RoomState, refusal: Option<String>) -> impl IntoView {
    let typed = |id: &str, default: &str| RwSignal::new(typed_value(id).unwrap_or_else(|| default.to_owned()));
    // The room's own run limits come first; they are also the fields' `value`s below, which the
    // server renders.
    let defaults = state.room.with_untracked(|room| room.run_limits);
    let (steps_text, seconds_text) = (defaults.max_steps.to_string(), defaults.max_seconds.to_string());
    let budget_text = defaults.budget_tokens.map(|b| b.to_string()).unwrap_or_default();
    let max_steps = typed("run-max-steps", &steps_text);
    let max_seconds = typed("run-max-seconds", &seconds_text);
    let budget = typed("run-budget", &budget_text);
    let busy = RwSignal::new(false);
    let error = RwSignal::new(refusal);
    let running = move || state.run.with(|r| r.as_ref().is_some_and(|r| r.status == RunStatus::Running));

    // Seconds tick between events while a run is going.
    let now_ms = RwSignal::new(0.0_f64);
    let received_ms = RwSignal::new(0.0_f64);
    Effect::new(move |_| {
        state.run.track();
        received_ms.set(clock_ms());
        now_ms.set(clock_ms());
    });
    #[cfg(feature = "hydrate")]
    {
        let ticker = set_interval_with_handle(move || now_ms.set(clock_ms()), std::time::Duration::from_millis(250));
        if let Ok(ticker) = ticker {
            on_cleanup(move || ticker.clear());
        }
    }

    let start = move |ev: leptos::ev::MouseEvent| {
        ev.prevent_default();
        let parse = |value: String, what: &str| -> Result<i64, String> {
            value.trim().parse::<i64>().map_err(|_| format!("{what} must be a whole number."))
        };
        let input = (|| -> Result<StartRun, String> {
            let budget_text = budget.get_untracked();
            Ok(StartRun {
                max_steps: parse(max_steps.get_untracked(), "Max steps")?,
                max_seconds: parse(max_seconds.get_untracked(), "Max seconds")?,
                budget_tokens: if budget_text.trim().is_empty() {
                    None
                } else {
                    Some(parse(budget_text, "Token budget")?)
                },
            })
        })();
        let input = match input {
            Ok(input) => input,
            Err(message) => {
                error.set(Some(message));
                return;
            }
        };
        busy.set(true);
        spawn_local(async move {
            match start_auto(state.room_id, input).await {
                Ok(_) => error.set(None),
                Err(e) => error.set(Some(e.message)),
            }
            busy.set(false);
        });
    };
    let stop = move |ev: leptos::ev::MouseEvent| {
        ev.prevent_default();
        busy.set(true);
        spawn_local(async move {
            match stop_auto(state.room_id).await {
                Ok(_) => error.set(None),
                Err(e) => error.set(Some(e.message)),
            }
            busy.set(false);
        });
    };

    let meters = move || {
        state.run.get().map(|run| {
            let live = run.status == RunStatus::Running;
            let elapsed_ms =
                run.elapsed_ms as f64 + if live { (now_ms.get() - received_ms.get()).max(0.0) } else { 0.0 };
            let seconds = (elapsed_ms / 1000.0).min(run.max_seconds as f64);
            view! { <RunMeters room_id=state.room_id run seconds /> }
        })
    };

    let may_run = move || state.access.with(|access| access.run);

    view! {
        <section class="run-controls" aria-label="Auto mode">
            <Show when=may_run fallback=|| view! { <p class="hint">"Auto mode: only the room's members start and stop runs."</p> }>
            // One form: Start posts it, Stop posts it elsewhere (`formaction`); once hydrated,
            // both buttons act in place instead.
            <form class="run-fields" method="post" action=StartRunForm::url()>
                <input type="hidden" name="room_id" value=state.room_id.to_string() />
                <div class="field">
                    <label for="run-max-steps">"Max steps"</label>
                    <input id="run-max-steps" name="max_steps" type="number" min="1" required value=steps_text.clone() max=limits::MAX_STEPS prop:value=move || max_steps.get()
                        on:input:target=move |ev| max_steps.set(ev.target().value()) />
                </div>
                <div class="field">
                    <label for="run-max-seconds">"Max seconds"</label>
                    <input id="run-max-seconds" name="max_seconds" type="number" min="1" required value=seconds_text.clone() max=limits::MAX_SECONDS prop:value=move || max_seconds.get()
                        on:input:target=move |ev| max_seconds.set(ev.target().value()) />
                </div>
                <div class="field">
                    <label for="run-budget">"Token budget"</label>
                    <input id="run-budget" name="budget_tokens" type="number" min="1" placeholder="no limit" value=budget_text.clone() prop:value=move || budget.get()
                        on:input:target=move |ev| budget.set(ev.target().value()) />
                </div>
                <div class="run-buttons">
                    <button type="submit" class="primary" on:click=start disabled=move || busy.get() || running()>
                        "Start auto"
                    </button>
                    <button type="submit" class="danger" formaction=StopRunForm::url() formnovalidate
                        on:click=stop disabled=move || busy.get() || !running()>
                        "Stop"
                    </button>
                </div>
            </form>
            {move || (state.room.with(|room| room.mode) == RoomMode::Auto).then(|| view! {
                <p class="hint auto-hint">"This room is in auto mode: a message you send starts a run with the room's limits, or joins the run going on."</p>
            })}
            </Show>
            {meters}
            {move || error.get().map(|e| view! { <p class="error-banner" role="alert">{e}</p> })}
        </section>
    }
}

#[component]
fn RunMeters(room_id: uuid::Uuid, run: RunStatusEvent, seconds: f64) -> impl IntoView {
    let state_label = match (run.status, run.stop_reason) {
        (RunStatus::Running, _) => "Running".to_owned(),
        (status, Some(reason)) => format!("{} — {}", capitalized(status.as_str()), reason_label(reason)),
        (status, None) => capitalized(status.as_str()),
    };
    let tokens = match run.budget_tokens {
        Some(budget) => format!("{} / {budget} tokens", run.tokens_used),
        None => format!("{} tokens", run.tokens_used),
    };
    view! {
        <div class="run-meters" data-run-status=run.status.as_str() role="status" aria-label="Run status">
            <span class="run-state">{state_label}</span>
            <span class="meter">{format!("steps {}/{}", run.step, run.max_steps)}</span>
            <span class="meter">{format!("{}/{} s", crate::numbers::decimal(seconds.floor(), 0), run.max_seconds)}</span>
            <span class="meter">{tokens}</span>
            <span class="meter">{format!("${}", crate::numbers::decimal(run.cost, 4))}</span>
            <a class="run-details" href=format!("/rooms/{room_id}/runs/{}", run.run_id)>"Run details"</a>
        </div>
    }
}

pub(crate) fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

/// Milliseconds on the browser's clock; zero on the server, where nothing ticks.
fn clock_ms() -> f64 {
    #[cfg(feature = "hydrate")]
    {
        js_sys::Date::now()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        0.0
    }
}

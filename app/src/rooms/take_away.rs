//! What people take out of a room and bring into it as files: the transcript (Markdown or JSON)
//! and persona cards (Character Card V2), with a form to import one for those who add agents.
//! Plain links and a plain form rendered on the server, so none of it ships to the browser.

use domain::rooms::Agent;
use leptos::prelude::*;
use leptos::server_fn::ServerFn;
use uuid::Uuid;

use super::api::plain::{form, AddStartersForm, ImportAgentForm};
use super::card_file::CardFilePicker;
use crate::forms::error_for;

#[component]
pub fn TakeAway(room_id: Uuid, agents: Vec<Agent>, manage: bool) -> impl IntoView {
    let transcript = move |format: &str| format!("/api/rooms/{room_id}/export?format={format}");
    let cards = (!agents.is_empty()).then(|| {
        let links = agents
            .into_iter()
            .map(|agent| {
                let href = format!("/api/rooms/{room_id}/agents/{}/card", agent.id);
                view! { " " <a href=href download="">{agent.name}</a> }
            })
            .collect_view();
        view! { <p>"Persona cards (Character Card V2):" {links}</p> }
    });
    view! {
        <section class="take-away" aria-label="Files">
            <p>
                "Download the transcript: "
                <a href=transcript("md") download="">"Markdown"</a>
                " · "
                <a href=transcript("json") download="">"JSON"</a>
            </p>
            {cards}
            {manage.then(|| view! {
                <details class="import-card">
                    <summary>"Import a persona card…"</summary>
                    <form method="post" action=ImportAgentForm::url()>
                        <input type="hidden" name="room_id" value=room_id.to_string() />
                        <CardFilePicker />
                        <div class="field">
                            <label for="import-card">"Or paste the card: Character Card V2 (JSON), as SillyTavern and other tools export it"</label>
                            <textarea id="import-card" name="card" rows="6" required spellcheck="false"></textarea>
                        </div>
                        <div class="field">
                            <label for="import-model">"Model"</label>
                            <input id="import-model" name="model" placeholder="the card's own, else demo" />
                        </div>
                        <button type="submit">"Import as an agent"</button>
                    </form>
                </details>
            })}
            {error_for(form::IMPORT_AGENT).map(|e| view! { <p class="error-banner" role="alert">{e}</p> })}
            {manage.then(|| view! { <StarterGallery room_id /> })}
            {error_for(form::STARTERS).map(|e| view! { <p class="error-banner" role="alert">{e}</p> })}
        </section>
    }
}

/// The built-in gallery: pairs of starter personas, each added in one click (a plain form).
#[component]
fn StarterGallery(room_id: Uuid) -> impl IntoView {
    let pairs = domain::persona_cards::STARTER_PAIRS
        .iter()
        .map(|pair| {
            let names = format!("{} and {}", pair.personas[0].name, pair.personas[1].name);
            view! {
                <li class="starter" data-starter=pair.id>
                    <form method="post" action=AddStartersForm::url()>
                        <input type="hidden" name="room_id" value=room_id.to_string() />
                        <input type="hidden" name="starter" value=pair.id />
                        <strong>{pair.title}</strong>
                        " — "
                        {names.clone()}
                        <p class="hint">{pair.blurb}</p>
                        <button type="submit" aria-label=format!("Add {names}")>"Add both"</button>
                    </form>
                </li>
            }
        })
        .collect_view();
    view! {
        <details class="starter-gallery">
            <summary>"Add starter personas…"</summary>
            <ul class="starters">{pairs}</ul>
        </details>
    }
}

//! Picking a persona card's file instead of pasting it: the file is read in the browser into the
//! import form's box, where the person sees what will be imported before sending it. The box
//! still takes a pasted card, and the form works without the page's script.

use leptos::prelude::*;

/// The largest card file read; the server refuses larger bodies anyway.
const MAX_CARD_BYTES: f64 = 256.0 * 1024.0;

#[island]
pub fn CardFilePicker() -> impl IntoView {
    let hydrated = crate::forms::hydrated();
    let said = RwSignal::new(String::new());
    let picked = move |ev: leptos::ev::Event| {
        #[cfg(feature = "hydrate")]
        {
            use wasm_bindgen::JsCast;
            let Some(file) = ev
                .target()
                .and_then(|target| target.dyn_into::<web_sys::HtmlInputElement>().ok())
                .and_then(|input| input.files())
                .and_then(|files| files.item(0))
            else {
                return;
            };
            if file.size() > MAX_CARD_BYTES {
                said.set(format!("{} is larger than 256 KB: it cannot be a persona card.", file.name()));
                return;
            }
            leptos::task::spawn_local(async move {
                let text = wasm_bindgen_futures::JsFuture::from(file.text()).await.ok().and_then(|t| t.as_string());
                let card_box = document()
                    .get_element_by_id("import-card")
                    .and_then(|element| element.dyn_into::<web_sys::HtmlTextAreaElement>().ok());
                match (text, card_box) {
                    (Some(text), Some(card_box)) => {
                        card_box.set_value(&text);
                        said.set(format!("Read {}: check it below, then import it.", file.name()));
                    }
                    _ => said.set(format!("{} could not be read as text.", file.name())),
                }
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = (ev, MAX_CARD_BYTES);
    };
    view! {
        <div class="field">
            <label for="import-card-file">"Card file (.json)"</label>
            <input
                id="import-card-file"
                type="file"
                accept=".json,application/json"
                disabled=move || !hydrated.get()
                on:change=picked
            />
            <p class="hint" role="status" aria-live="polite">{move || said.get()}</p>
        </div>
    }
}

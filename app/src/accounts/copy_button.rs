//! A button that copies a text to the clipboard. It needs JavaScript, so it appears only once
//! the page is hydrated; without it, the text stays there to select.

use leptos::prelude::*;

#[island]
pub fn CopyButton(text: String, label: String) -> impl IntoView {
    let (text, label) = (StoredValue::new(text), StoredValue::new(label));
    let ready = RwSignal::new(false);
    let copied = RwSignal::new(false);
    Effect::new(move |_| ready.set(true));

    let copy = move |_| {
        #[cfg(feature = "hydrate")]
        {
            let written = text.with_value(|text| window().navigator().clipboard().write_text(text));
            leptos::task::spawn_local(async move {
                if wasm_bindgen_futures::JsFuture::from(written).await.is_ok() {
                    copied.set(true);
                }
            });
        }
        #[cfg(not(feature = "hydrate"))]
        let _ = text;
    };

    view! {
        <Show when=move || ready.get()>
            <button type="button" class="copy-button" on:click=copy>
                {move || if copied.get() { "Copied".to_owned() } else { label.get_value() }}
            </button>
        </Show>
    }
}

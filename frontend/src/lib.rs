//! The wasm entry point. It must stay free of server crates (tokio, sqlx, axum, reqwest).

// The application's view types are deeply nested; hydrating them needs a deeper limit.
#![recursion_limit = "256"]

// Links the app crate, whose islands export their hydration functions to the browser.
#[allow(unused_imports)]
use app::*;

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Hydrates every island of the page; the rest is server-rendered HTML.
    leptos::mount::hydrate_islands();
    // Marks the moment the page became interactive, so browser tests wait for it instead of guessing.
    if let Some(body) = web_sys::window().and_then(|w| w.document()).and_then(|d| d.body()) {
        let _ = body.set_attribute("data-hydrated", "true");
    }
}

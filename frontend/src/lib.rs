//! The wasm entry point. It must stay free of server crates (tokio, sqlx, axum, reqwest).

// The application's view types are deeply nested; hydrating them needs a deeper limit.
#![recursion_limit = "256"]

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}

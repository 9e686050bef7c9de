use leptos::prelude::*;

const STORAGE_KEY: &str = "ais-chatrooms.theme";

/// Switches between the light and dark themes and remembers the choice in the browser.
#[island]
pub fn ThemeToggle() -> impl IntoView {
    // The server cannot know the stored choice, so it renders the light theme and the browser
    // applies the stored one after hydration.
    let dark = RwSignal::new(false);

    Effect::new(move |_| {
        let stored = window().local_storage().ok().flatten().and_then(|s| s.get_item(STORAGE_KEY).ok().flatten());
        if stored.as_deref() == Some("dark") {
            dark.set(true);
        }
    });

    Effect::new(move |_| {
        let theme = if dark.get() { "dark" } else { "light" };
        if let Some(root) = document().document_element() {
            let _ = root.set_attribute("data-theme", theme);
        }
        if let Some(storage) = window().local_storage().ok().flatten() {
            let _ = storage.set_item(STORAGE_KEY, theme);
        }
    });

    // The switch needs the island; until it has hydrated it says so instead of swallowing the click.
    let hydrated = crate::forms::hydrated();

    view! {
        <button
            type="button"
            class="theme-toggle"
            disabled=move || !hydrated.get()
            class:waiting-for-script=move || !hydrated.get()
            aria-busy=move || (!hydrated.get()).to_string()
            title=move || (!hydrated.get()).then_some("Available once the page has finished loading")
            aria-pressed=move || dark.get().to_string()
            on:click=move |_| dark.update(|d| *d = !*d)
        >
            {move || if dark.get() { "Light theme" } else { "Dark theme" }}
        </button>
    }
}

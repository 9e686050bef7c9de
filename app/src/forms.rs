//! Forms that work without JavaScript. Every form is a real `<form>` posting to a server
//! function. A hydrated form gets the function's answer directly; a plain post (the browser's
//! own, asking for HTML) is sent back to a page instead, and what the page should show about it
//! — a refusal, what was done, the email to type again, a secret shown once — travels there in a cookie that
//! lives for one page view.

use serde::{Deserialize, Serialize};

/// The cookie that carries a [`Notice`] from a plain post to the page it returns to.
pub const NOTICE_COOKIE: &str = "ais_notice";

/// What a plain form post left for the next page view.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// The form it is about, so a page with several forms shows it next to the right one.
    pub form: String,
    pub error: Option<String>,
    /// What was done, when it is worth saying.
    pub info: Option<String>,
    /// The email that was typed, so it need not be typed again.
    pub email: Option<String>,
    /// A secret shown once: a new API token.
    pub secret: Option<String>,
    /// The task a confirm of the control panel just wrote.
    pub task: Option<domain::control_plane::ConfirmResponse>,
}

/// The notice of this page view, if a plain post left one. Read while the page is rendered on
/// the server; the browser never renders pages, only islands, which get it as a prop.
#[derive(Debug, Clone, Default)]
pub struct PageNotice(pub Option<Notice>);

/// The notice for `form`, if this page view has one.
pub fn notice_for(form: &str) -> Option<Notice> {
    leptos::prelude::use_context::<PageNotice>().and_then(|PageNotice(notice)| notice).filter(|n| n.form == form)
}

/// The refusal shown next to `form`, if this page view has one.
pub fn error_for(form: &str) -> Option<String> {
    notice_for(form).and_then(|notice| notice.error)
}

/// What the person already typed or chose in the server-rendered field `id` while the page was
/// still loading. Hydration sets every bound field from its signal, so an island that did not
/// start from this would wipe what was typed. Read only while the page's islands hydrate; a
/// component rendered later in the browser starts from its own values.
/// Whether the checkbox `id` is ticked now (never in the server's render).
pub fn is_checked(id: &str) -> bool {
    #[cfg(feature = "hydrate")]
    {
        use wasm_bindgen::JsCast;
        let element = leptos::prelude::document().get_element_by_id(id);
        element
            .and_then(|element| element.dyn_into::<web_sys::HtmlInputElement>().ok())
            .is_some_and(|input| input.checked())
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = id;
        false
    }
}

pub fn typed_value(id: &str) -> Option<String> {
    #[cfg(feature = "hydrate")]
    {
        use std::cell::Cell;
        use wasm_bindgen::JsCast;
        thread_local! {
            static HYDRATION_OVER: Cell<bool> = const { Cell::new(false) };
        }
        if HYDRATION_OVER.get() {
            return None;
        }
        // Every island of the page hydrates in one go; what runs after it is rendered anew.
        leptos::task::spawn_local(async { HYDRATION_OVER.set(true) });
        let element = leptos::prelude::document().get_element_by_id(id)?;
        if let Some(input) = element.dyn_ref::<web_sys::HtmlInputElement>() {
            return Some(input.value());
        }
        if let Some(text) = element.dyn_ref::<web_sys::HtmlTextAreaElement>() {
            return Some(text.value());
        }
        element.dyn_ref::<web_sys::HtmlSelectElement>().map(|select| select.value())
    }
    #[cfg(not(feature = "hydrate"))]
    {
        let _ = id;
        None
    }
}

/// Whether this component runs in the hydrated browser, as a signal: `false` while rendered on
/// the server, so buttons that need the island (an empty composer's Send) are only disabled
/// once the island can enable them again.
pub fn hydrated() -> leptos::prelude::ReadSignal<bool> {
    use leptos::prelude::*;
    let (hydrated, set_hydrated) = signal(false);
    Effect::new(move |_| set_hydrated.set(true));
    hydrated
}

/// Whether cookies set by the app must only travel over https; the server provides it.
#[derive(Debug, Clone, Copy, Default)]
pub struct SecureCookies(pub bool);

#[cfg(feature = "ssr")]
pub use ssr::{done, refused, take_notice, with_notice};

#[cfg(feature = "ssr")]
mod ssr {
    use http::header::{ACCEPT, COOKIE, SET_COOKIE};
    use http::{HeaderValue, StatusCode};
    use leptos::prelude::use_context;
    use leptos_axum::ResponseOptions;
    use percent_encoding::{percent_decode_str, utf8_percent_encode, NON_ALPHANUMERIC};

    use super::{Notice, PageNotice, SecureCookies, NOTICE_COOKIE};
    use crate::error::AppError;

    /// A post made by the browser itself, not by a hydrated form: it asks for an HTML page.
    fn is_plain_post() -> bool {
        use_context::<http::request::Parts>().is_some_and(|parts| {
            parts.headers.get(ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/html"))
        })
    }

    /// After a plain post succeeded, the browser goes to `page`. Hydrated forms get the value.
    pub fn done(page: &str) {
        if is_plain_post() {
            leptos_axum::redirect(page);
        }
    }

    /// After a plain post was refused, the browser goes back to `page`, which shows the refusal
    /// next to `form`. Hydrated forms get the error itself.
    pub fn refused(form: &str, page: &str, error: impl Into<AppError>) -> AppError {
        let error = error.into();
        let notice = Notice { form: form.to_owned(), error: Some(error.message.clone()), ..Notice::default() };
        with_notice(page, notice);
        error
    }

    /// Sends a plain post on to `page` with `notice`; `303` so the browser fetches the page.
    pub fn with_notice(page: &str, notice: Notice) {
        if !is_plain_post() {
            return;
        }
        let Some(response) = use_context::<ResponseOptions>() else { return };
        let value = serde_json::to_string(&notice).unwrap_or_default();
        let value = utf8_percent_encode(&value, NON_ALPHANUMERIC);
        let secure = if use_context::<SecureCookies>().unwrap_or_default().0 { "; Secure" } else { "" };
        let cookie = format!("{NOTICE_COOKIE}={value}; Path=/; Max-Age=60; HttpOnly; SameSite=Lax{secure}");
        if let Ok(cookie) = HeaderValue::from_str(&cookie) {
            response.append_header(SET_COOKIE, cookie);
        }
        leptos_axum::redirect(page);
        response.set_status(StatusCode::SEE_OTHER);
    }

    /// The notice a plain post left for this page view, removed so a reload does not show it
    /// again.
    pub fn take_notice() -> PageNotice {
        let Some(parts) = use_context::<http::request::Parts>() else { return PageNotice(None) };
        let value = parts
            .headers
            .get_all(COOKIE)
            .iter()
            .filter_map(|header| header.to_str().ok())
            .flat_map(|header| header.split(';'))
            .find_map(|pair| pair.trim().strip_prefix(NOTICE_COOKIE)?.strip_prefix('=').map(str::to_owned));
        let Some(value) = value else { return PageNotice(None) };
        if let Some(response) = use_context::<ResponseOptions>() {
            let expired = format!("{NOTICE_COOKIE}=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax");
            if let Ok(expired) = HeaderValue::from_str(&expired) {
                response.append_header(SET_COOKIE, expired);
            }
        }
        let decoded = percent_decode_str(&value).decode_utf8_lossy();
        PageNotice(serde_json::from_str(&decoded).ok())
    }
}

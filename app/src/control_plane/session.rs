//! The panel's session id: a UUIDv4 kept for the tab (sessionStorage), made by the browser — or
//! by the server for a page whose forms post before the browser could, in which case the tab
//! takes on the one in the address. The gateway ties every preview to the session that made it.

const STORAGE_KEY: &str = "ais-chatrooms.control-plane-session";

/// The tab's session id, created on first use. Browser only.
#[cfg(feature = "hydrate")]
pub fn tab_session_id() -> String {
    let storage = web_sys::window().and_then(|w| w.session_storage().ok().flatten());
    if let Some(existing) = storage.as_ref().and_then(|s| s.get_item(STORAGE_KEY).ok().flatten()) {
        if uuid::Uuid::parse_str(&existing).is_ok_and(|id| id.get_version_num() == 4) {
            return existing;
        }
    }
    let fresh = uuid::Uuid::new_v4().to_string();
    if let Some(storage) = storage {
        let _ = storage.set_item(STORAGE_KEY, &fresh);
    }
    fresh
}

/// On the server there is no tab: the page renders without a session and the browser adds it.
#[cfg(not(feature = "hydrate"))]
pub fn tab_session_id() -> String {
    let _ = STORAGE_KEY;
    String::new()
}

/// Makes `session_id` the tab's, when it is one the gateway takes. Browser only.
#[cfg(feature = "hydrate")]
pub fn adopt_session(session_id: &str) {
    if !uuid::Uuid::parse_str(session_id).is_ok_and(|id| id.get_version_num() == 4) {
        return;
    }
    if let Some(storage) = web_sys::window().and_then(|w| w.session_storage().ok().flatten()) {
        let _ = storage.set_item(STORAGE_KEY, session_id);
    }
}

#[cfg(not(feature = "hydrate"))]
pub fn adopt_session(session_id: &str) {
    let _ = session_id;
}

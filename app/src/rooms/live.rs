//! The browser side of a room's live stream: an `EventSource` that applies events to the room
//! state, shows the connection state, resumes from the last event after a drop, and reloads the
//! room when the server says the missed events are gone.

use leptos::prelude::*;

use super::state::RoomState;

/// Connects the room page to its live stream for as long as the page is shown.
/// Does nothing on the server: effects only run in the browser.
pub fn follow_room(state: RoomState) {
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        browser::start(state);
        #[cfg(not(feature = "hydrate"))]
        let _ = state;
    });
}

#[cfg(feature = "hydrate")]
mod browser {
    use std::time::Duration;

    use domain::events::{names, RoomEvent};
    use leptos::prelude::*;
    use leptos::task::spawn_local;
    use wasm_bindgen::closure::Closure;
    use wasm_bindgen::JsCast;
    use web_sys::{EventSource, MessageEvent};

    use crate::rooms::api::load_room;
    use crate::rooms::state::{Connection, RoomState};

    const EVENT_NAMES: [&str; 7] = [
        names::MESSAGE_NEW,
        names::MESSAGE_DELTA,
        names::MESSAGE_DONE,
        names::MESSAGE_UPDATED,
        names::RUN_STATUS,
        names::PROPOSAL_NEW,
        names::PROPOSAL_UPDATED,
    ];
    const RETRY_AFTER: Duration = Duration::from_secs(3);

    type Listener = Closure<dyn FnMut(MessageEvent)>;
    type Handler = Closure<dyn FnMut(web_sys::Event)>;

    /// The open connection and the callbacks it holds, kept in the browser thread.
    struct Live {
        source: EventSource,
        _listeners: Vec<Listener>,
        _handlers: Vec<Handler>,
    }

    pub fn start(state: RoomState) {
        let live = StoredValue::new_local(None::<Live>);
        let closed = StoredValue::new(false);
        connect(state, live, closed);
        on_cleanup(move || {
            closed.set_value(true);
            live.update_value(|live| {
                if let Some(live) = live.take() {
                    live.source.close();
                }
            });
        });
    }

    fn connect(state: RoomState, live: StoredValue<Option<Live>, LocalStorage>, closed: StoredValue<bool>) {
        if closed.get_value() {
            return;
        }
        live.update_value(|old| {
            if let Some(old) = old.take() {
                old.source.close();
            }
        });
        let last = state.last_event_id.get_untracked();
        let last = percent_encoding::utf8_percent_encode(&last, percent_encoding::NON_ALPHANUMERIC);
        let url = format!("/api/rooms/{}/stream?last_event_id={last}", state.room_id);
        let Ok(source) = EventSource::new(&url) else {
            state.connection.set(Connection::Offline);
            return;
        };
        state.connection.set(Connection::Connecting);

        let mut listeners = Vec::new();
        for name in EVENT_NAMES {
            let listener = Listener::new(move |event: MessageEvent| {
                let id = event.last_event_id();
                if !id.is_empty() {
                    state.last_event_id.set(id);
                }
                let data = event.data().as_string().unwrap_or_default();
                if let Some(decoded) = RoomEvent::decode(name, &data) {
                    state.apply(decoded);
                }
            });
            let _ = source.add_event_listener_with_callback(name, listener.as_ref().unchecked_ref());
            listeners.push(listener);
        }
        let reset = Listener::new(move |_event: MessageEvent| reload(state, live, closed));
        let _ = source.add_event_listener_with_callback(names::STREAM_RESET, reset.as_ref().unchecked_ref());
        listeners.push(reset);

        let on_open = Handler::new(move |_| state.connection.set(Connection::Live));
        source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        let on_error = Handler::new(move |_| {
            let gone = live.with_value(|l| l.as_ref().map(|l| l.source.ready_state() == EventSource::CLOSED));
            if gone == Some(true) {
                // The browser gave up (e.g. the server answered with an error): retry ourselves,
                // resuming from the last event we applied.
                state.connection.set(Connection::Offline);
                set_timeout(move || connect(state, live, closed), RETRY_AFTER);
            } else {
                // The browser retries by itself and sends Last-Event-ID.
                state.connection.set(Connection::Reconnecting);
            }
        });
        source.set_onerror(Some(on_error.as_ref().unchecked_ref()));

        live.set_value(Some(Live { source, _listeners: listeners, _handlers: vec![on_open, on_error] }));
    }

    /// The server no longer holds the events we missed: fetch the room again, then reconnect.
    fn reload(state: RoomState, live: StoredValue<Option<Live>, LocalStorage>, closed: StoredValue<bool>) {
        live.update_value(|l| {
            if let Some(l) = l.take() {
                l.source.close();
            }
        });
        state.connection.set(Connection::Reconnecting);
        spawn_local(async move {
            match load_room(state.room_id).await {
                Ok(snapshot) => {
                    state.replace(snapshot);
                    connect(state, live, closed);
                }
                Err(_) => {
                    state.connection.set(Connection::Offline);
                    set_timeout(move || reload(state, live, closed), RETRY_AFTER);
                }
            }
        });
    }
}

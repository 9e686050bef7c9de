//! The full text so far of messages being streamed.

use std::collections::HashMap;
use std::sync::Mutex;

use uuid::Uuid;

use crate::lock;

/// The text so far of every message being streamed, so a page rendered mid-stream shows it all
/// (the database copy is only saved every half second).
#[derive(Default)]
pub struct LiveTexts {
    texts: Mutex<HashMap<Uuid, String>>,
}

impl LiveTexts {
    pub(crate) fn append(&self, message_id: Uuid, delta: &str) {
        lock(&self.texts).entry(message_id).or_default().push_str(delta);
    }

    pub(crate) fn remove(&self, message_id: Uuid) {
        lock(&self.texts).remove(&message_id);
    }

    /// The current text of a streaming message, if it is still streaming here.
    pub fn get(&self, message_id: Uuid) -> Option<String> {
        lock(&self.texts).get(&message_id).cloned()
    }
}

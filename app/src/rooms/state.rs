//! The room page's state: the room, its agents and its timeline, kept current by live events.

use domain::events::{MessageDelta, RoomEvent};
use domain::proposals::Proposal;
use domain::rooms::{Agent, Message, MessagePage, MessageStatus, Room, SenderType};
use domain::runs::RunStatusEvent;
use domain::snapshot::{RoomAccess, RoomSnapshot};
use leptos::prelude::*;
use uuid::Uuid;

/// The state of the live connection, shown in the room header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    Connecting,
    Live,
    Reconnecting,
    Offline,
}

impl Connection {
    pub fn label(self) -> &'static str {
        match self {
            Connection::Connecting => "Connecting…",
            Connection::Live => "Live",
            Connection::Reconnecting => "Reconnecting…",
            Connection::Offline => "Offline",
        }
    }

    pub fn css(self) -> &'static str {
        match self {
            Connection::Connecting => "connecting",
            Connection::Live => "live",
            Connection::Reconnecting => "reconnecting",
            Connection::Offline => "offline",
        }
    }
}

/// A timeline entry: each message has its own signal, so a streamed token re-renders one message.
#[derive(Debug, Clone, Copy)]
pub struct MessageEntry {
    pub id: Uuid,
    pub message: RwSignal<Message>,
}

#[derive(Debug, Clone, Copy)]
pub struct RoomState {
    pub room_id: Uuid,
    pub room: RwSignal<Room>,
    pub agents: RwSignal<Vec<Agent>>,
    pub messages: RwSignal<Vec<MessageEntry>>,
    pub older_cursor: RwSignal<Option<Uuid>>,
    pub connection: RwSignal<Connection>,
    pub last_event_id: RwSignal<String>,
    pub demo_mode: RwSignal<bool>,
    pub run: RwSignal<Option<RunStatusEvent>>,
    /// What the reader may do here, as the server decided.
    pub access: RwSignal<RoomAccess>,
    /// Agents' proposals of control-plane tasks, oldest first; each shows under its message.
    pub proposals: RwSignal<Vec<Proposal>>,
    /// The reader's own message being edited, if one is.
    pub editing: RwSignal<Option<Uuid>>,
    /// Why the server refused the last change to a message, and which.
    pub action_error: RwSignal<Option<(Uuid, String)>>,
    /// What screen readers are told last, politely: a reply that ended, another person's message.
    pub announcement: RwSignal<String>,
}

impl RoomState {
    pub fn from_snapshot(snapshot: RoomSnapshot) -> Self {
        let state = RoomState {
            room_id: snapshot.room.id,
            room: RwSignal::new(snapshot.room.clone()),
            agents: RwSignal::new(Vec::new()),
            messages: RwSignal::new(Vec::new()),
            older_cursor: RwSignal::new(None),
            connection: RwSignal::new(Connection::Connecting),
            last_event_id: RwSignal::new(String::new()),
            demo_mode: RwSignal::new(snapshot.demo_mode),
            run: RwSignal::new(snapshot.latest_run.clone()),
            access: RwSignal::new(snapshot.access),
            proposals: RwSignal::new(Vec::new()),
            editing: RwSignal::new(None),
            action_error: RwSignal::new(None),
            announcement: RwSignal::new(String::new()),
        };
        state.replace(snapshot);
        state
    }

    /// Replaces everything with a fresh snapshot (after the stream asked for a reload).
    pub fn replace(&self, snapshot: RoomSnapshot) {
        self.room.set(snapshot.room);
        self.agents.set(snapshot.agents);
        self.messages.set(snapshot.page.messages.into_iter().map(entry).collect());
        self.older_cursor.set(snapshot.page.next_cursor);
        self.last_event_id.set(snapshot.last_event_id);
        self.demo_mode.set(snapshot.demo_mode);
        self.run.set(snapshot.latest_run);
        self.access.set(snapshot.access);
        self.proposals.set(snapshot.proposals);
    }

    /// Applies one live event.
    pub fn apply(&self, event: RoomEvent) {
        match event {
            RoomEvent::MessageNew(message) => {
                self.announce_new(&message);
                self.upsert(message, false)
            }
            RoomEvent::MessageDone(message) => {
                self.announce_done(&message);
                self.upsert(message, true)
            }
            RoomEvent::MessageUpdated(message) => self.upsert(message, true),
            RoomEvent::MessageDelta(delta) => self.apply_delta(delta),
            RoomEvent::RunStatus(status) => self.run.set(Some(status)),
            RoomEvent::ProposalNew(proposal) | RoomEvent::ProposalUpdated(proposal) => self.upsert_proposal(proposal),
        }
    }

    /// Another person's message, when it first arrives (not a replay of one already shown).
    fn announce_new(&self, message: &Message) {
        let me = self.access.with_untracked(|access| access.user_id);
        if message.sender_type != SenderType::Human
            || (me.is_some() && message.sender_id == me)
            || self.knows(message.id)
        {
            return;
        }
        self.announcement.set(format!("{} wrote: {}", message.sender_name, gist(&message.content)));
    }

    /// A reply that ends while the reader watches it being written.
    fn announce_done(&self, message: &Message) {
        let was_streaming = self.messages.with_untracked(|list| {
            list.iter()
                .find(|e| e.id == message.id)
                .is_some_and(|e| e.message.with_untracked(|known| known.status == MessageStatus::Streaming))
        });
        if message.sender_type != SenderType::Agent || !was_streaming {
            return;
        }
        let name = &message.sender_name;
        self.announcement.set(match message.status {
            MessageStatus::Complete => format!("{name} replied: {}", gist(&message.content)),
            MessageStatus::Failed => format!("{name}'s reply failed: {}", message.error.clone().unwrap_or_default()),
            status => format!("{name}'s reply was {}.", status.as_str()),
        });
    }

    fn knows(&self, id: Uuid) -> bool {
        self.messages.with_untracked(|list| list.iter().any(|e| e.id == id))
    }

    /// Adds a proposal or replaces it with a newer version of itself; an older event that
    /// arrives late (a replay after a reconnect) never undoes a newer one.
    pub fn upsert_proposal(&self, proposal: Proposal) {
        self.proposals.update(|list| match list.iter_mut().find(|known| known.id == proposal.id) {
            Some(known) if known.updated_at <= proposal.updated_at => *known = proposal,
            Some(_) => {}
            None => {
                let at = list.iter().rposition(|known| known.id < proposal.id).map(|i| i + 1).unwrap_or(0);
                list.insert(at, proposal);
            }
        });
    }

    /// Adds a message, or updates it when known. A `message.new` never overwrites text that
    /// deltas already brought; a `message.done` is final and always wins.
    pub fn upsert(&self, message: Message, is_final: bool) {
        let existing = self.messages.with_untracked(|list| list.iter().find(|e| e.id == message.id).copied());
        match existing {
            Some(entry) => {
                if is_final {
                    entry.message.set(message);
                } else {
                    entry.message.update(|current| {
                        if message.content.len() > current.content.len() {
                            current.content = message.content;
                        }
                        if current.status == MessageStatus::Streaming {
                            current.status = message.status;
                        }
                    });
                }
            }
            None => self.messages.update(|list| {
                let at = list.iter().rposition(|e| e.id < message.id).map(|i| i + 1).unwrap_or(0);
                list.insert(at, entry(message));
            }),
        }
    }

    fn apply_delta(&self, delta: MessageDelta) {
        let existing = self.messages.with_untracked(|list| list.iter().find(|e| e.id == delta.message_id).copied());
        if let Some(entry) = existing {
            entry.message.update(|message| {
                merge_delta(&mut message.content, delta.offset, &delta.delta);
            });
        }
    }

    /// Puts an older page in front of the timeline.
    pub fn prepend_older(&self, page: MessagePage) {
        self.messages.update(|list| {
            let known: std::collections::HashSet<Uuid> = list.iter().map(|e| e.id).collect();
            let older: Vec<MessageEntry> =
                page.messages.into_iter().filter(|m| !known.contains(&m.id)).map(entry).collect();
            list.splice(0..0, older);
        });
        self.older_cursor.set(page.next_cursor);
    }

    pub fn upsert_agent(&self, agent: Agent) {
        self.agents.update(|agents| match agents.iter_mut().find(|a| a.id == agent.id) {
            Some(existing) => *existing = agent,
            None => agents.push(agent),
        });
    }
}

fn entry(message: Message) -> MessageEntry {
    MessageEntry { id: message.id, message: RwSignal::new(message) }
}

/// What applying a delta did.
#[derive(Debug, PartialEq, Eq)]
pub enum Merge {
    Appended,
    /// The text already held this delta (it came with a snapshot); nothing changed.
    AlreadyHad,
    /// Text before this delta is missing; the final `message.done` will bring it.
    Gap,
}

/// Appends the part of `delta` (which starts at byte `offset` of the full text) that `content`
/// does not have yet.
pub fn merge_delta(content: &mut String, offset: usize, delta: &str) -> Merge {
    let have = content.len();
    if have < offset {
        return Merge::Gap;
    }
    let end = offset + delta.len();
    if have >= end {
        return Merge::AlreadyHad;
    }
    let skip = have - offset;
    match delta.get(skip..) {
        Some(rest) => {
            content.push_str(rest);
            Merge::Appended
        }
        None => Merge::Gap,
    }
}

/// The start of a message as it is read aloud: one line, at most 200 characters.
fn gist(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > 200 {
        format!("{}…", line.chars().take(199).collect::<String>())
    } else {
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_gist_is_one_short_line() {
        assert_eq!(gist("Hello\n\n  world"), "Hello world");
        let long = gist(&"word ".repeat(100));
        assert_eq!(long.chars().count(), 200);
        assert!(long.ends_with('…'));
    }

    #[test]
    fn deltas_append_exactly_once() {
        let mut text = String::new();
        assert_eq!(merge_delta(&mut text, 0, "Hel"), Merge::Appended);
        assert_eq!(merge_delta(&mut text, 3, "lo"), Merge::Appended);
        assert_eq!(merge_delta(&mut text, 3, "lo"), Merge::AlreadyHad, "a replayed delta is skipped");
        assert_eq!(text, "Hello");
    }

    #[test]
    fn a_snapshot_ahead_of_the_stream_takes_only_the_new_part() {
        // The page was rendered with "Hello wo"; the stream replays "wor" + "ld" from offset 6.
        let mut text = "Hello wo".to_owned();
        assert_eq!(merge_delta(&mut text, 6, "wor"), Merge::Appended);
        assert_eq!(merge_delta(&mut text, 9, "ld"), Merge::Appended);
        assert_eq!(text, "Hello world");
    }

    #[test]
    fn gaps_are_detected_and_multibyte_text_is_safe() {
        let mut text = "ab".to_owned();
        assert_eq!(merge_delta(&mut text, 5, "x"), Merge::Gap);
        let mut text = "é".to_owned(); // two bytes
        assert_eq!(merge_delta(&mut text, 0, "éà"), Merge::Appended);
        assert_eq!(text, "éà");
    }
}

//! The room page's first paint: the room, its agents, its latest messages and its latest run,
//! with the live-stream position they match.

use domain::rooms::{limits, MessagePage, MessageStatus};
use domain::snapshot::RoomSnapshot;
use uuid::Uuid;

use crate::access::{room_access, Actor};
use crate::markdown::with_html;
use crate::{ServiceResult, Services};

/// The room, its agents and its latest messages, with the live-stream position they match, and
/// what `actor` may do there.
pub async fn room_snapshot(services: &Services, actor: &Actor, room_id: Uuid) -> ServiceResult<RoomSnapshot> {
    let (room, access) = room_access(services, actor, room_id).await?;
    // Read the stream position first: anything published later is replayed to the client, and
    // message deltas carry offsets, so text already in the snapshot is never applied twice.
    let last_event_id = services.events.current_id(room_id).await;
    let agents = services.store.list_agents(room_id).await?;
    let stored = services.store.list_messages(room_id, None, limits::PAGE_DEFAULT).await?;
    let mut messages = Vec::with_capacity(stored.messages.len());
    for mut message in stored.messages {
        if message.status == MessageStatus::Streaming {
            // Streaming here, or (with several instances) on another instance.
            let live = match services.live_texts.get(message.id) {
                Some(text) => Some(text),
                None => services.events.shared_live_text(room_id, message.id).await,
            };
            if let Some(text) = live.filter(|text| text.len() >= message.content.len()) {
                message.content = text;
            }
        }
        messages.push(with_html(message));
    }
    let page = MessagePage { messages, next_cursor: stored.next_cursor };
    let latest_run = crate::runs::latest_status(services, room_id).await?;
    let proposals = services.store.list_proposals(room_id, crate::proposals::RECENT).await?;
    Ok(RoomSnapshot {
        room,
        agents,
        page,
        last_event_id,
        demo_mode: services.models.demo_only(),
        latest_run,
        access,
        proposals,
    })
}

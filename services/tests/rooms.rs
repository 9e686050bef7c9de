//! Rooms, agents and messages through the service layer alone: the rules, and a posted message
//! that is stored, announced and answered.

mod common;

use std::time::Duration;

use common::{agent, next_event, room, services, Db};
use domain::events::RoomEvent;
use domain::rooms::{
    limits, CreateAgent, CreateRoom, MessageStatus, PostMessage, RoomMode, RoomVisibility, SenderType, UpdateAgent,
};
use domain::{ErrorCode, PublicError};
use fake_llm::{FakeLlm, Reply};
use services::{markdown, rooms, snapshot, ServiceError};
use storage::NewMessage;
use uuid::Uuid;

on_both_databases!(
    rooms_and_agents_keep_their_rules,
    a_posted_message_is_stored_announced_and_answered,
    pages_of_messages_are_bounded_and_ordered,
    the_snapshot_matches_the_stream_position,
    messages_are_rendered_once_and_bounded,
    starter_pairs_from_the_gallery_join_in_one_call,
);

fn agent_input(name: &str) -> CreateAgent {
    CreateAgent {
        name: name.into(),
        model: "gpt-4o-mini".into(),
        system_prompt: String::new(),
        temperature: 0.7,
        tools: Vec::new(),
    }
}

async fn rooms_and_agents_keep_their_rules(db: Db) {
    let fake = FakeLlm::start(Reply::words("ok")).await;
    let services = services(db, &fake, &[]).await;

    let blank = rooms::create_room(
        &services,
        &services.admin,
        CreateRoom {
            name: "   ".into(),
            mode: RoomMode::Manual,
            visibility: RoomVisibility::Private,
            run_limits: Default::default(),
        },
    )
    .await;
    assert!(matches!(blank, Err(ServiceError::Invalid { field: "name", .. })), "{blank:?}");
    let missing = rooms::get_room(&services, &services.admin, Uuid::now_v7()).await.unwrap_err();
    assert_eq!(missing.code(), ErrorCode::NotFound);
    assert_eq!(
        rooms::list_agents(&services, &services.admin, Uuid::now_v7()).await.unwrap_err().code(),
        ErrorCode::NotFound
    );

    let room_id = room(&services, "Rules").await;
    let ada = rooms::create_agent(&services, &services.admin, room_id, agent_input("Ada")).await.unwrap();
    let duplicate = rooms::create_agent(&services, &services.admin, room_id, agent_input("ADA")).await.unwrap_err();
    assert_eq!(duplicate.code(), ErrorCode::Conflict);
    assert!(duplicate.public_message().contains("ADA"), "{}", duplicate.public_message());

    let hot = CreateAgent { temperature: 2.5, ..agent_input("Hot") };
    let refused = rooms::create_agent(&services, &services.admin, room_id, hot).await.unwrap_err();
    assert!(matches!(refused, ServiceError::Invalid { field: "temperature", .. }), "{refused:?}");

    for n in 1..limits::MAX_ACTIVE_AGENTS {
        rooms::create_agent(&services, &services.admin, room_id, agent_input(&format!("Agent {n}"))).await.unwrap();
    }
    let full = rooms::create_agent(&services, &services.admin, room_id, agent_input("One too many")).await.unwrap_err();
    assert_eq!(full.code(), ErrorCode::LimitReached);

    // Deactivating frees a place; renaming onto a taken name is refused.
    let patch = UpdateAgent { is_active: Some(false), ..UpdateAgent::default() };
    let resting = rooms::update_agent(&services, &services.admin, room_id, ada.id, patch).await.unwrap();
    assert!(!resting.is_active);
    rooms::create_agent(&services, &services.admin, room_id, agent_input("Newcomer")).await.unwrap();
    let clash = UpdateAgent { name: Some("newcomer".into()), ..UpdateAgent::default() };
    assert_eq!(
        rooms::update_agent(&services, &services.admin, room_id, ada.id, clash).await.unwrap_err().code(),
        ErrorCode::Conflict
    );
    assert_eq!(
        rooms::list_agents(&services, &services.admin, room_id).await.unwrap().len() as i64,
        limits::MAX_ACTIVE_AGENTS + 1
    );
}

async fn a_posted_message_is_stored_announced_and_answered(db: Db) {
    let fake = FakeLlm::start(Reply::words("Hello there, Guest!")).await;
    let services = services(db, &fake, &[]).await;
    let room_id = room(&services, "Chat").await;
    let ada = agent(&services, room_id, "Ada").await;
    let mut live = services.events.subscribe(room_id, None).await.unwrap();

    let empty = rooms::post_message(&services, &services.admin, room_id, PostMessage { content: "  ".into() })
        .await
        .unwrap_err();
    assert_eq!(empty.code(), ErrorCode::ValidationFailed);
    let posted = rooms::post_message(&services, &services.admin, room_id, PostMessage { content: "Hi **Ada**".into() })
        .await
        .unwrap();
    assert_eq!(posted.sender_type, SenderType::Human);
    assert!(posted.content_html.as_deref().unwrap().contains("<strong>Ada</strong>"));

    let wait = Duration::from_secs(10);
    assert!(matches!(next_event(&mut live, wait).await, RoomEvent::MessageNew(m) if m.id == posted.id));
    let RoomEvent::MessageNew(started) = next_event(&mut live, wait).await else { panic!("the reply starts") };
    assert_eq!((started.sender_id, started.status), (Some(ada.id), MessageStatus::Streaming));
    let mut streamed = String::new();
    let done = loop {
        match next_event(&mut live, wait).await {
            RoomEvent::MessageDelta(delta) => {
                assert_eq!(delta.offset, streamed.len(), "deltas carry their offset");
                streamed.push_str(&delta.delta);
            }
            RoomEvent::MessageDone(done) => break done,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!(streamed, "Hello there, Guest!");
    assert_eq!(done.status, MessageStatus::Complete);
    assert_eq!((done.tokens_in, done.tokens_out), (Some(17), Some(3)));

    let page = rooms::list_messages(&services, &services.admin, room_id, None, None).await.unwrap();
    let stored: Vec<_> = page.messages.iter().map(|m| (m.sender_name.as_str(), m.content.as_str())).collect();
    assert_eq!(stored, vec![("Ada Admin", "Hi **Ada**"), ("Ada", "Hello there, Guest!")]);
    assert_eq!(page.messages[0].sender_id, services.admin.user_id(), "a person's message names its author");
    let prompt = &fake.requests()[0].body["messages"];
    assert_eq!(prompt[0]["role"], "system");
    assert!(prompt.to_string().contains("Hi **Ada**"), "{prompt}");
}

async fn pages_of_messages_are_bounded_and_ordered(db: Db) {
    let fake = FakeLlm::start(Reply::words("ok")).await;
    let services = services(db, &fake, &[]).await;
    // No agents: nobody answers, so the room holds exactly what is posted.
    let room_id = room(&services, "Quiet").await;
    for n in 0..7 {
        rooms::post_message(&services, &services.admin, room_id, PostMessage { content: format!("message {n}") })
            .await
            .unwrap();
    }
    for limit in [0, limits::PAGE_MAX + 1] {
        let refused = rooms::list_messages(&services, &services.admin, room_id, None, Some(limit)).await.unwrap_err();
        assert!(matches!(refused, ServiceError::Invalid { field: "limit", .. }), "{limit}");
    }
    let newest = rooms::list_messages(&services, &services.admin, room_id, None, Some(5)).await.unwrap();
    let texts: Vec<_> = newest.messages.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(texts, ["message 2", "message 3", "message 4", "message 5", "message 6"]);
    let older = rooms::list_messages(&services, &services.admin, room_id, newest.next_cursor, Some(5)).await.unwrap();
    let texts: Vec<_> = older.messages.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(texts, ["message 0", "message 1"]);
    assert_eq!(older.next_cursor, None);
}

async fn the_snapshot_matches_the_stream_position(db: Db) {
    let fake = FakeLlm::start(Reply::words("ok")).await;
    let services = services(db, &fake, &[]).await;
    let room_id = room(&services, "Snap").await;
    rooms::post_message(&services, &services.admin, room_id, PostMessage { content: "before".into() }).await.unwrap();
    let snapshot = snapshot::room_snapshot(&services, &services.admin, room_id).await.unwrap();
    assert_eq!(snapshot.room.id, room_id);
    assert_eq!(snapshot.page.messages.len(), 1);
    assert!(!snapshot.demo_mode, "a provider is configured");
    assert_eq!(snapshot.latest_run, None);
    // Resuming from the snapshot's position replays exactly what came after it.
    let after = rooms::post_message(&services, &services.admin, room_id, PostMessage { content: "after".into() })
        .await
        .unwrap();
    let resumed = services.events.subscribe(room_id, Some(&snapshot.last_event_id)).await.unwrap();
    let services::events::Resume::Replay(missed) = resumed.resume else { panic!("a replay") };
    assert_eq!(missed.len(), 1);
    assert!(missed[0].data.contains(&after.id.to_string()));
    assert_eq!(
        snapshot::room_snapshot(&services, &services.admin, Uuid::now_v7()).await.unwrap_err().code(),
        ErrorCode::NotFound
    );
}

async fn messages_are_rendered_once_and_bounded(db: Db) {
    let fake = FakeLlm::start(Reply::words("ok")).await;
    let services = services(db, &fake, &[]).await;
    let room_id = room(&services, "Rendering").await;

    // A posted message is stored with its HTML.
    let posted = rooms::post_message(&services, &services.admin, room_id, PostMessage { content: "**hi**".into() })
        .await
        .unwrap();
    let stored = services.store.get_message(posted.id).await.unwrap().unwrap();
    assert_eq!(stored.content_html.as_deref(), Some("<p><strong>hi</strong></p>\n"));

    // What is stored is what readers get: it is not rendered again.
    let kept = services
        .store
        .insert_message(NewMessage {
            room_id,
            sender_type: SenderType::Human,
            sender_id: None,
            sender_name: "Kept".into(),
            content: "**not rendered again**".into(),
            content_html: Some("<p>rendered once</p>".into()),
            status: MessageStatus::Complete,
            model: None,
            selection_reason: None,
            run_id: None,
        })
        .await
        .unwrap();
    let page = rooms::list_messages(&services, &services.admin, room_id, None, None).await.unwrap();
    let read = page.messages.iter().find(|m| m.id == kept.id).unwrap();
    assert_eq!(read.content_html.as_deref(), Some("<p>rendered once</p>"));
    let snapshot = snapshot::room_snapshot(&services, &services.admin, room_id).await.unwrap();
    let shown = snapshot.page.messages.iter().find(|m| m.id == kept.id).unwrap();
    assert_eq!(shown.content_html.as_deref(), Some("<p>rendered once</p>"));

    // A Markdown bomb — eight 512-column tables of 500 short rows, under the 32,000 characters a
    // message may have — is stored small.
    let table = format!("{}|\n{}|\n{}\n", "|a".repeat(512), "|-".repeat(512), "|x\n".repeat(500));
    let bomb = table.repeat(8);
    let posted =
        rooms::post_message(&services, &services.admin, room_id, PostMessage { content: bomb.clone() }).await.unwrap();
    let html = services.store.get_message(posted.id).await.unwrap().unwrap().content_html.unwrap();
    assert!(html.len() <= markdown::MAX_RENDERED_BYTES && html.len() < 4 * bomb.len(), "{} bytes", html.len());
    assert!(!html.contains("<table"));
}

async fn starter_pairs_from_the_gallery_join_in_one_call(db: Db) {
    let fake = FakeLlm::start(Reply::words("ok")).await;
    let services = services(db, &fake, &[]).await;
    let room_id = room(&services, "Gallery").await;
    for pair in domain::persona_cards::STARTER_PAIRS {
        let added =
            services::persona_cards::add_starter_pair(&services, &services.admin, room_id, pair.id).await.unwrap();
        let names: Vec<&str> = added.iter().map(|agent| agent.name.as_str()).collect();
        assert_eq!(names, [pair.personas[0].name, pair.personas[1].name]);
        assert!(added.iter().all(|agent| agent.model == "demo" && agent.is_active));
    }
    assert_eq!(rooms::list_agents(&services, &services.admin, room_id).await.unwrap().len(), 6);
    let again = services::persona_cards::add_starter_pair(&services, &services.admin, room_id, "debate").await;
    assert_eq!(again.unwrap_err().code(), ErrorCode::Conflict, "names stay unique in a room");
    let unknown = services::persona_cards::add_starter_pair(&services, &services.admin, room_id, "chess").await;
    assert!(matches!(unknown, Err(ServiceError::Invalid { field: "starter", .. })), "{unknown:?}");
    let guest = services::persona_cards::add_starter_pair(&services, &services::Actor::Guest, room_id, "debate").await;
    assert!(guest.is_err());
}

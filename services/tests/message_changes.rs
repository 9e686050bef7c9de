//! Changing what was said, through the service layer: replies regenerated (versions kept and
//! switchable) and retried, messages edited and removed, and the usage report.

mod common;

use std::time::Duration;

use common::{agent, next_event, person, room, services, Db, TestServices};
use domain::accounts::AddMember;
use domain::events::RoomEvent;
use domain::rooms::{EditMessage, MemberRole, Message, MessageStatus, PostMessage, SenderType};
use domain::{ErrorCode, PublicError};
use fake_llm::{FakeLlm, Gate, Reply};
use services::usage::{self, UsageQuery};
use services::{message_changes, rooms, Actor, ServiceError};
use uuid::Uuid;

on_both_databases!(
    a_regenerated_reply_keeps_its_versions_and_switches_between_them,
    a_failed_reply_is_retried_in_place,
    edits_and_removals_follow_their_rules,
    the_usage_report_sums_what_the_person_may_see,
);

const WAIT: Duration = Duration::from_secs(10);

/// Polls `look` every 20 ms until it finds something, or panics after [`WAIT`].
async fn poll<T, F, Fut>(what: &str, mut look: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(found) = look().await {
            return found;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits for the agent reply `id` to end, and returns it.
async fn ended(services: &TestServices, id: Uuid) -> Message {
    poll("the reply to end", || async {
        let message = services.store.get_message(id).await.unwrap().unwrap();
        (message.status != MessageStatus::Streaming).then_some(message)
    })
    .await
}

/// Posts as the admin and waits for an agent's reply to it to end.
async fn ask(services: &TestServices, room_id: Uuid, text: &str) -> Message {
    let posted =
        rooms::post_message(services, &services.admin, room_id, PostMessage { content: text.into() }).await.unwrap();
    poll("a reply", || async {
        let page = services.store.list_messages(room_id, None, 50).await.unwrap();
        page.messages
            .into_iter()
            .find(|m| m.sender_type == SenderType::Agent && m.id > posted.id)
            .filter(|m| m.status != MessageStatus::Streaming)
    })
    .await
}

/// The texts of the conversation a provider request carried.
fn prompt_texts(body: &serde_json::Value) -> Vec<String> {
    body["messages"].as_array().unwrap().iter().map(|m| m["content"].as_str().unwrap_or("").to_owned()).collect()
}

async fn a_regenerated_reply_keeps_its_versions_and_switches_between_them(db: Db) {
    let fake = FakeLlm::start(Reply::words("unused")).await;
    fake.script([Reply::words("First take on tea"), Reply::words("Second take on tea")]);
    let services = services(db, &fake, &[]).await;
    let room_id = room(&services, "Tea").await;
    agent(&services, room_id, "Ada").await;
    let first = ask(&services, room_id, "Tell me about tea").await;
    assert_eq!((first.content.as_str(), first.alternatives, first.alternative_index), ("First take on tea", 1, 0));
    // Said after the reply: not part of the context it is written again from.
    let later = storage::NewMessage {
        room_id,
        sender_type: SenderType::Human,
        sender_id: None,
        sender_name: "Guest".into(),
        content: "A later remark".into(),
        content_html: None,
        status: MessageStatus::Complete,
        model: None,
        selection_reason: None,
        run_id: None,
    };
    services.store.insert_message(later).await.unwrap();

    let mut live = services.events.subscribe(room_id, None).await.unwrap();
    let restarted = message_changes::regenerate(&services, &services.admin, room_id, first.id).await.unwrap();
    assert_eq!((restarted.id, restarted.status, restarted.content.as_str()), (first.id, MessageStatus::Streaming, ""));
    assert_eq!((restarted.alternatives, restarted.alternative_index), (2, 1));
    assert!(
        matches!(next_event(&mut live, WAIT).await, RoomEvent::MessageUpdated(m) if m.id == first.id && m.content.is_empty())
    );
    let mut streamed = String::new();
    let done = loop {
        match next_event(&mut live, WAIT).await {
            RoomEvent::MessageDelta(delta) => {
                assert_eq!((delta.message_id, delta.offset), (first.id, streamed.len()));
                streamed.push_str(&delta.delta);
            }
            RoomEvent::MessageDone(done) => break done,
            other => panic!("unexpected {other:?}"),
        }
    };
    assert_eq!((streamed.as_str(), done.content.as_str()), ("Second take on tea", "Second take on tea"));
    assert_eq!((done.status, done.alternatives, done.alternative_index), (MessageStatus::Complete, 2, 1));
    let prompt = prompt_texts(&fake.requests().last().unwrap().body);
    assert!(prompt.iter().any(|text| text.contains("Tell me about tea")), "{prompt:?}");
    assert!(!prompt.iter().any(|text| text.contains("A later remark") || text.contains("First take")), "{prompt:?}");
    let usage = services.store.list_usage_events(room_id).await.unwrap();
    assert_eq!(usage.iter().filter(|u| u.message_id == Some(first.id)).count(), 2, "each version is counted");

    // Flipping between the versions, announced to every tab.
    let shown = message_changes::select_alternative(&services, &services.admin, room_id, first.id, 0).await.unwrap();
    assert_eq!((shown.content.as_str(), shown.alternative_index), ("First take on tea", 0));
    assert!(shown.content_html.as_deref().unwrap().contains("First take on tea"));
    assert!(matches!(next_event(&mut live, WAIT).await, RoomEvent::MessageUpdated(m) if m.alternative_index == 0));
    let back = message_changes::select_alternative(&services, &services.admin, room_id, first.id, 1).await.unwrap();
    assert_eq!(back.content, "Second take on tea");
    for index in [2, -1] {
        let refused = message_changes::select_alternative(&services, &services.admin, room_id, first.id, index).await;
        assert!(matches!(refused, Err(ServiceError::Invalid { field: "index", .. })), "{refused:?}");
    }

    // A person's message is not regenerated; a reply being written is not changed.
    let asked = services.store.list_messages(room_id, None, 10).await.unwrap().messages[0].clone();
    let refused = message_changes::regenerate(&services, &services.admin, room_id, asked.id).await.unwrap_err();
    assert_eq!(refused.code(), ErrorCode::Conflict);
    let gate = Gate::new();
    fake.script([Reply::words("Third take").held_by(&gate)]);
    message_changes::regenerate(&services, &services.admin, room_id, first.id).await.unwrap();
    for refused in [
        message_changes::regenerate(&services, &services.admin, room_id, first.id).await,
        message_changes::select_alternative(&services, &services.admin, room_id, first.id, 0).await,
        message_changes::delete(&services, &services.admin, room_id, first.id).await,
    ] {
        let error = refused.unwrap_err();
        assert_eq!(error.code(), ErrorCode::Conflict);
        assert!(error.public_message().contains("still being written"), "{}", error.public_message());
    }
    gate.open();
    let third = ended(&services, first.id).await;
    assert_eq!((third.content.as_str(), third.alternatives, third.alternative_index), ("Third take", 3, 2));
    let missing = message_changes::regenerate(&services, &services.admin, room_id, Uuid::now_v7()).await.unwrap_err();
    assert_eq!(missing.code(), ErrorCode::NotFound);
    let other_room = room(&services, "Coffee").await;
    let elsewhere = message_changes::regenerate(&services, &services.admin, other_room, first.id).await.unwrap_err();
    assert_eq!(elsewhere.code(), ErrorCode::NotFound, "a message is found only in its own room");
}

async fn a_failed_reply_is_retried_in_place(db: Db) {
    let fake = FakeLlm::start(Reply::words("unused")).await;
    fake.script([
        Reply::Status { status: 500, message: "the provider is down".into(), retry_after: None },
        Reply::words("Back again"),
    ]);
    let services = services(db, &fake, &[]).await;
    let room_id = room(&services, "Flaky").await;
    agent(&services, room_id, "Ada").await;
    let failed = ask(&services, room_id, "Hello?").await;
    assert_eq!(failed.status, MessageStatus::Failed);
    let regenerate_instead = message_changes::retry(&services, &services.admin, room_id, failed.id).await.unwrap();
    assert_eq!((regenerate_instead.status, regenerate_instead.error), (MessageStatus::Streaming, None));
    let retried = ended(&services, failed.id).await;
    assert_eq!((retried.status, retried.content.as_str()), (MessageStatus::Complete, "Back again"));
    assert_eq!((retried.alternatives, retried.alternative_index), (1, 0), "the failure is not kept as a version");
    let again = message_changes::retry(&services, &services.admin, room_id, failed.id).await.unwrap_err();
    assert_eq!(again.code(), ErrorCode::Conflict, "a complete reply is regenerated, not retried");
}

async fn edits_and_removals_follow_their_rules(db: Db) {
    let fake = FakeLlm::start(Reply::words("Noted")).await;
    let services = services(db, &fake, &[]).await;
    let room_id = room(&services, "Edits").await;
    let milo = person(&services, "Milo Member").await;
    let vera = person(&services, "Vera Viewer").await;
    for (email, role) in
        [("milo.member@example.com", MemberRole::Member), ("vera.viewer@example.com", MemberRole::Viewer)]
    {
        let add = AddMember { email: email.into(), role };
        services::members::add_member(&services, &services.admin, room_id, add).await.unwrap();
    }
    // No agent yet: nothing answers.
    let post = |actor: Actor, text: &str| {
        let services = services.services.clone();
        let content = text.to_owned();
        async move { rooms::post_message(&services, &actor, room_id, PostMessage { content }).await.unwrap() }
    };
    let admins = post(services.admin.clone(), "The secret word is teapot").await;
    let milos = post(milo.clone(), "Milo was here").await;
    let edit = |text: &str| EditMessage { content: text.into() };

    let mut live = services.events.subscribe(room_id, None).await.unwrap();
    let edited = message_changes::edit(&services, &milo, room_id, milos.id, edit("Milo was **here**")).await.unwrap();
    assert!(edited.edited_at.is_some());
    assert!(edited.content_html.as_deref().unwrap().contains("<strong>here</strong>"));
    assert!(matches!(next_event(&mut live, WAIT).await, RoomEvent::MessageUpdated(m) if m.id == milos.id));
    let blank = message_changes::edit(&services, &milo, room_id, milos.id, edit("   ")).await.unwrap_err();
    assert!(matches!(blank, ServiceError::Invalid { field: "content", .. }), "{blank:?}");
    for (who, message) in [(&milo, admins.id), (&services.admin, milos.id)] {
        let refused = message_changes::edit(&services, who, room_id, message, edit("changed")).await.unwrap_err();
        assert_eq!(refused.code(), ErrorCode::Forbidden, "only the author edits, admins included");
    }
    let viewer = message_changes::delete(&services, &vera, room_id, milos.id).await.unwrap_err();
    assert_eq!(viewer.code(), ErrorCode::Forbidden);
    let member = message_changes::delete(&services, &milo, room_id, admins.id).await.unwrap_err();
    assert_eq!(member.code(), ErrorCode::Forbidden, "a member removes only their own words");

    let removed = message_changes::delete(&services, &services.admin, room_id, admins.id).await.unwrap();
    assert!(removed.deleted_at.is_some());
    assert_eq!(removed.content, "");
    assert!(matches!(next_event(&mut live, WAIT).await, RoomEvent::MessageUpdated(m) if m.deleted_at.is_some()));
    let twice = message_changes::delete(&services, &services.admin, room_id, admins.id).await.unwrap();
    assert_eq!(twice.deleted_at, removed.deleted_at, "removing again changes nothing");
    let gone = message_changes::edit(&services, &services.admin, room_id, admins.id, edit("back")).await.unwrap_err();
    assert_eq!(gone.code(), ErrorCode::Conflict);
    let own = message_changes::delete(&services, &milo, room_id, milos.id).await.unwrap();
    assert!(own.deleted_at.is_some(), "a member removes their own message");

    // Agents no longer see what was removed.
    agent(&services, room_id, "Ada").await;
    ask(&services, room_id, "What was the secret word?").await;
    let prompt = prompt_texts(&fake.requests().last().unwrap().body).join("\n");
    assert!(prompt.contains("What was the secret word?"));
    assert!(!prompt.contains("teapot") && !prompt.contains("Milo was"), "{prompt}");
    let page = rooms::list_messages(&services, &services.admin, room_id, None, None).await.unwrap();
    assert_eq!(page.messages.iter().filter(|m| m.deleted_at.is_some()).count(), 2, "removed messages keep their place");
}

async fn the_usage_report_sums_what_the_person_may_see(db: Db) {
    let fake = FakeLlm::start(Reply::words("One two three")).await;
    let services = services(db, &fake, &[]).await;
    let mine = room(&services, "Admin's room").await;
    agent(&services, mine, "Ada").await;
    ask(&services, mine, "Hi").await;
    ask(&services, mine, "Again").await;
    let outsider = person(&services, "Otto Other").await;

    let query = |group_by: &str| UsageQuery { group_by: Some(group_by.into()), ..UsageQuery::default() };
    let by_room = usage::usage_report(&services, &services.admin, &query("room")).await.unwrap();
    assert_eq!(by_room.rows.len(), 1);
    let events = services.store.list_usage_events(mine).await.unwrap();
    let input: i64 = events.iter().map(|e| e.input_tokens).sum();
    let output: i64 = events.iter().map(|e| e.output_tokens).sum();
    let cost: f64 = events.iter().map(|e| e.cost).sum();
    let row = &by_room.rows[0];
    assert_eq!((row.label.as_str(), row.input_tokens, row.output_tokens), ("Admin's room", input, output));
    assert!((row.cost - cost).abs() < 1e-9 && cost > 0.0, "{} vs {cost}", row.cost);
    let by_day = usage::usage_report(&services, &services.admin, &query("day")).await.unwrap();
    assert_eq!(by_day.rows.len(), 1);
    assert_eq!(by_day.rows[0].key, services.clock.now().format("%Y-%m-%d").to_string());
    let csv = usage::to_csv(&by_room);
    assert_eq!(csv.lines().next(), Some("room,key,input_tokens,output_tokens,cost"));
    assert!(csv.contains(&format!("Admin's room,{mine},{input},{output},{cost:.6}")), "{csv}");

    assert!(usage::usage_report(&services, &outsider, &query("room")).await.unwrap().rows.is_empty());
    let guest = usage::usage_report(&services, &Actor::Guest, &query("day")).await.unwrap_err();
    assert_eq!(guest.code(), ErrorCode::Unauthenticated);
    let refusals = [
        (UsageQuery { group_by: Some("week".into()), ..UsageQuery::default() }, "group_by"),
        (UsageQuery { from: Some("2026-13-01".into()), ..UsageQuery::default() }, "from"),
        (UsageQuery { from: Some("2026-02-02".into()), to: Some("2026-02-01".into()), ..UsageQuery::default() }, "to"),
        (
            UsageQuery { from: Some("1900-01-01".into()), to: Some("2026-02-01".into()), ..UsageQuery::default() },
            "from",
        ),
    ];
    for (query, field) in refusals {
        let refused = usage::usage_report(&services, &services.admin, &query).await.unwrap_err();
        assert!(matches!(refused, ServiceError::Invalid { field: f, .. } if f == field), "{query:?}: {refused:?}");
    }
}

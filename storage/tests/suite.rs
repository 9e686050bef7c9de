//! The storage suite: every test runs once on a fresh SQLite file and once on a fresh
//! PostgreSQL database, so both implementations are held to the same behaviour.

use domain::accounts::Role;
use domain::rooms::{MemberRole, MessageStatus, RoomMode, RoomVisibility, SenderType};
use domain::runs::{RunLimits, RunStatus, StopReason};
use domain::usage::{UsageGroup, UsageTotal};
use storage::{
    AgentLimits, AgentPatch, DynStore, MessageOutcome, NewAgent, NewMessage, NewProposal, NewRoom, NewRun,
    NewUsageEvent, NewUser, PoolLimits, ProposalDecisionRecord, Rewrite, RoomPatch, RoomViewer, StorageError,
    UsageScope, User,
};
use uuid::Uuid;

macro_rules! on_both_backends {
    ($($test:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let db = storage::testing::fresh_sqlite().await;
                    super::$test(&db.store, &db.url).await;
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    let db = storage::testing::fresh_postgres().await;
                    super::$test(&db.store, &db.url).await;
                }
            )+
        }
    };
}

on_both_backends!(
    rooms_are_stored_and_listed_newest_first,
    agents_are_limited_per_room_and_patched,
    concurrent_agent_creation_never_exceeds_the_limit,
    agent_names_are_unique_in_a_room,
    messages_page_backwards_in_chronological_pages,
    streaming_messages_are_flushed_finished_and_interrupted,
    one_running_run_per_room,
    crashed_runs_are_closed,
    usage_events_sum_to_the_run_cost,
    users_and_members_are_unique,
    the_last_admin_and_the_last_owner_stay,
    tokens_are_found_by_their_hash_and_capped,
    rooms_are_listed_by_who_may_see_them,
    rooms_are_changed_and_deleted_with_their_contents,
    usage_and_runs_count_per_person,
    reopening_keeps_the_data_and_migrations_are_idempotent,
    ping_answers,
    proposals_are_decided_once_expired_on_time_and_followed,
    link_codes_are_spent_once_and_chats_bound_to_one_person,
    chat_previews_settle_once_and_notices_are_claimed_once,
    a_lease_has_one_holder_until_it_lapses,
    abandoned_work_is_found_by_its_lapsed_lease,
    a_takeover_interrupts_only_what_the_dead_owner_was_writing,
    replies_keep_their_versions_and_switch_between_them,
    messages_are_edited_and_removed_in_place,
    usage_is_summed_per_day_agent_model_and_room,
    a_deleted_room_takes_everything_with_it,
);

fn new_room(name: &str) -> NewRoom {
    NewRoom {
        name: name.to_owned(),
        mode: RoomMode::Manual,
        visibility: RoomVisibility::Private,
        run_limits: Default::default(),
        owner_id: None,
    }
}

async fn user(store: &DynStore, name: &str, role: Role) -> User {
    let email = format!("{}@example.com", name.to_lowercase());
    store.create_user(NewUser { email, name: name.into(), password_hash: None, role }).await.unwrap()
}

/// At most `max_active` active agents in a room, and more than any test makes in all.
fn active(max_active: i64) -> AgentLimits {
    AgentLimits { max_active, max_total: 100 }
}

fn agent(room_id: Uuid, name: &str) -> NewAgent {
    NewAgent {
        room_id,
        name: name.to_owned(),
        model: "demo".to_owned(),
        system_prompt: format!("You are {name}."),
        temperature: 0.7,
        tools: Vec::new(),
    }
}

fn human_message(room_id: Uuid, content: &str) -> NewMessage {
    NewMessage {
        room_id,
        sender_type: SenderType::Human,
        sender_id: None,
        sender_name: "You".to_owned(),
        content: content.to_owned(),
        content_html: Some(format!("<p>{content}</p>")),
        status: MessageStatus::Complete,
        model: None,
        selection_reason: None,
        run_id: None,
    }
}

async fn rooms_are_stored_and_listed_newest_first(store: &DynStore, _url: &str) {
    let first = store.create_room(new_room("first")).await.unwrap();
    let second = store.create_room(NewRoom { mode: RoomMode::Auto, ..new_room("second") }).await.unwrap();
    assert_eq!(second.mode, RoomMode::Auto);

    let fetched = store.get_room(first.id).await.unwrap().unwrap();
    assert_eq!(fetched, first);
    assert!(store.get_room(Uuid::now_v7()).await.unwrap().is_none());

    let listed = store.list_rooms(RoomViewer::Everything, 10).await.unwrap();
    assert_eq!(listed.iter().map(|r| r.id).collect::<Vec<_>>(), vec![second.id, first.id]);
    assert_eq!(store.list_rooms(RoomViewer::Everything, 1).await.unwrap().len(), 1);
}

async fn agents_are_limited_per_room_and_patched(store: &DynStore, _url: &str) {
    let room = store.create_room(new_room("agents")).await.unwrap();
    let mut created = Vec::new();
    for i in 0..3 {
        created.push(store.create_agent(agent(room.id, &format!("agent-{i}")), active(3)).await.unwrap());
    }
    let refused = store.create_agent(agent(room.id, "one too many"), active(3)).await.unwrap_err();
    assert!(matches!(refused, StorageError::LimitReached(storage::TOO_MANY_ACTIVE_AGENTS)), "{refused:?}");
    // The refused request lost nothing and added nothing.
    let listed = store.list_agents(room.id).await.unwrap();
    assert_eq!(listed, created);

    // Deactivating frees a place; reactivating into a full room is refused.
    let deactivated = store
        .update_agent(room.id, created[0].id, AgentPatch { is_active: Some(false), ..Default::default() }, 3)
        .await
        .unwrap();
    assert!(!deactivated.is_active);
    store.create_agent(agent(room.id, "newcomer"), active(3)).await.unwrap();
    let refused = store
        .update_agent(room.id, created[0].id, AgentPatch { is_active: Some(true), ..Default::default() }, 3)
        .await
        .unwrap_err();
    assert!(matches!(refused, StorageError::LimitReached(_)), "{refused:?}");

    let patched = store
        .update_agent(
            room.id,
            created[1].id,
            AgentPatch {
                name: Some("Renamed".into()),
                temperature: Some(1.5),
                system_prompt: Some("New prompt".into()),
                ..Default::default()
            },
            3,
        )
        .await
        .unwrap();
    assert_eq!(patched.name, "Renamed");
    assert_eq!(patched.temperature, 1.5);
    assert_eq!(patched.system_prompt, "New prompt");
    assert_eq!(patched.model, created[1].model, "fields left out of the patch are kept");
    assert!(patched.is_active);

    // Inactive agents count towards the room's total: with four held, a fifth is refused even
    // though only three are active.
    let total = AgentLimits { max_active: 3, max_total: 4 };
    let refused = store.create_agent(agent(room.id, "fifth"), total).await.unwrap_err();
    assert!(matches!(refused, StorageError::LimitReached(storage::TOO_MANY_AGENTS)), "{refused:?}");
    store
        .update_agent(room.id, created[1].id, AgentPatch { is_active: Some(false), ..Default::default() }, 3)
        .await
        .unwrap();
    let refused = store.create_agent(agent(room.id, "fifth"), total).await.unwrap_err();
    assert!(matches!(refused, StorageError::LimitReached(storage::TOO_MANY_AGENTS)), "{refused:?}");
    assert_eq!(store.list_agents(room.id).await.unwrap().len(), 4);

    let missing = store.update_agent(room.id, Uuid::now_v7(), AgentPatch::default(), 3).await.unwrap_err();
    assert!(matches!(missing, StorageError::NotFound("agent")), "{missing:?}");
    let missing = store.create_agent(agent(Uuid::now_v7(), "orphan"), active(3)).await.unwrap_err();
    assert!(matches!(missing, StorageError::NotFound("room")), "{missing:?}");
    assert!(store.get_agent(room.id, created[2].id).await.unwrap().is_some());
    let other_room = store.create_room(new_room("other")).await.unwrap();
    assert!(store.get_agent(other_room.id, created[2].id).await.unwrap().is_none(), "agents are scoped to their room");
}

async fn concurrent_agent_creation_never_exceeds_the_limit(store: &DynStore, _url: &str) {
    let room = store.create_room(new_room("race")).await.unwrap();
    let attempts = (0..20).map(|i| {
        let store = store.clone();
        tokio::spawn(async move { store.create_agent(agent(room.id, &format!("racer-{i}")), active(12)).await })
    });
    let results: Vec<_> =
        futures::future::join_all(attempts).await.into_iter().map(|r| r.expect("the attempt ran")).collect();
    let succeeded = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(succeeded, 12);
    // Every other attempt met the limit, not some other failure.
    for refused in results.iter().filter_map(|r| r.as_ref().err()) {
        assert!(matches!(refused, StorageError::LimitReached(_)), "{refused:?}");
    }
    assert_eq!(store.list_agents(room.id).await.unwrap().len(), 12);
}

async fn agent_names_are_unique_in_a_room(store: &DynStore, _url: &str) {
    let room = store.create_room(new_room("names")).await.unwrap();
    let other = store.create_room(new_room("elsewhere")).await.unwrap();
    store.create_agent(agent(room.id, "Ada"), active(12)).await.unwrap();
    let bob = store.create_agent(agent(room.id, "Bob"), active(12)).await.unwrap();
    let duplicate = store.create_agent(agent(room.id, "ADA"), active(12)).await.unwrap_err();
    assert!(matches!(duplicate, StorageError::Conflict(_)), "{duplicate:?}");
    let rename = AgentPatch { name: Some("ada".into()), ..Default::default() };
    let renamed = store.update_agent(room.id, bob.id, rename, 12).await.unwrap_err();
    assert!(matches!(renamed, StorageError::Conflict(_)), "{renamed:?}");
    assert_eq!(
        store.get_agent(room.id, bob.id).await.unwrap().unwrap().name,
        "Bob",
        "the refused rename changed nothing"
    );
    store.create_agent(agent(other.id, "Ada"), active(12)).await.expect("another room may use the name");
    let keep = AgentPatch { name: Some("Bob".into()), temperature: Some(1.0), ..Default::default() };
    store.update_agent(room.id, bob.id, keep, 12).await.expect("an agent keeps its own name");
}

async fn messages_page_backwards_in_chronological_pages(store: &DynStore, _url: &str) {
    let room = store.create_room(new_room("timeline")).await.unwrap();
    let other = store.create_room(new_room("elsewhere")).await.unwrap();
    let mut ids = Vec::new();
    for i in 0..25 {
        ids.push(store.insert_message(human_message(room.id, &format!("message {i}"))).await.unwrap().id);
        store.insert_message(human_message(other.id, "noise")).await.unwrap();
    }

    let newest = store.list_messages(room.id, None, 10).await.unwrap();
    assert_eq!(newest.messages.iter().map(|m| m.id).collect::<Vec<_>>(), ids[15..25]);
    assert_eq!(newest.next_cursor, Some(ids[15]));

    let middle = store.list_messages(room.id, newest.next_cursor, 10).await.unwrap();
    assert_eq!(middle.messages.iter().map(|m| m.id).collect::<Vec<_>>(), ids[5..15]);

    let oldest = store.list_messages(room.id, middle.next_cursor, 10).await.unwrap();
    assert_eq!(oldest.messages.iter().map(|m| m.id).collect::<Vec<_>>(), ids[0..5]);
    assert_eq!(oldest.next_cursor, None);
    assert_eq!(oldest.messages[0].content, "message 0");

    let exact = store.list_messages(other.id, None, 25).await.unwrap();
    assert_eq!(exact.messages.len(), 25);
    assert_eq!(exact.next_cursor, None, "no older page when the page holds the first message");
}

async fn streaming_messages_are_flushed_finished_and_interrupted(store: &DynStore, _url: &str) {
    let room = store.create_room(new_room("stream")).await.unwrap();
    let speaker = store.create_agent(agent(room.id, "Ada"), active(12)).await.unwrap();
    let start = |content: &str| NewMessage {
        room_id: room.id,
        sender_type: SenderType::Agent,
        sender_id: Some(speaker.id),
        sender_name: speaker.name.clone(),
        content: content.to_owned(),
        content_html: None,
        status: MessageStatus::Streaming,
        model: Some("demo".into()),
        selection_reason: Some("round-robin".into()),
        run_id: None,
    };

    assert_eq!(store.last_agent_speaker(room.id).await.unwrap(), None);
    let finished = store.insert_message(start("")).await.unwrap();
    store.insert_message(human_message(room.id, "a human spoke after")).await.unwrap();
    assert_eq!(store.last_agent_speaker(room.id).await.unwrap(), Some(speaker.id));
    store.save_streaming_text(finished.id, "Hello, wor").await.unwrap();
    assert_eq!(store.get_message(finished.id).await.unwrap().unwrap().content, "Hello, wor");
    let done = store
        .finish_message(
            finished.id,
            MessageOutcome {
                status: MessageStatus::Complete,
                content: "Hello, world".into(),
                content_html: Some("<p>Hello, world</p>".into()),
                tokens_in: Some(42),
                tokens_out: Some(3),
                usage_estimated: false,
                latency_ms: Some(812),
                first_token_ms: Some(120),
                error: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(done.status, MessageStatus::Complete);
    assert_eq!(
        (done.tokens_in, done.tokens_out, done.latency_ms, done.first_token_ms),
        (Some(42), Some(3), Some(812), Some(120))
    );
    assert_eq!(done.selection_reason.as_deref(), Some("round-robin"));
    assert_eq!(done.content_html.as_deref(), Some("<p>Hello, world</p>"), "the HTML is stored with the final text");
    let stored = store.get_message(done.id).await.unwrap().unwrap();
    assert_eq!(stored.content_html.as_deref(), Some("<p>Hello, world</p>"));
    // A finished message is no longer overwritten by a late flush.
    store.save_streaming_text(done.id, "late").await.unwrap();
    assert_eq!(store.get_message(done.id).await.unwrap().unwrap().content, "Hello, world");

    let cut = store.insert_message(start("")).await.unwrap();
    store.save_streaming_text(cut.id, "Half a thou").await.unwrap();
    assert_eq!(store.interrupt_streaming_messages().await.unwrap(), 1);
    let cut = store.get_message(cut.id).await.unwrap().unwrap();
    assert_eq!(cut.status, MessageStatus::Interrupted);
    assert_eq!(cut.content, "Half a thou", "the text so far is kept");
    assert!(cut.error.is_some());
    assert_eq!(store.interrupt_streaming_messages().await.unwrap(), 0);

    let missing = store
        .finish_message(
            Uuid::now_v7(),
            MessageOutcome {
                status: MessageStatus::Failed,
                content: String::new(),
                content_html: None,
                tokens_in: None,
                tokens_out: None,
                usage_estimated: true,
                latency_ms: None,
                first_token_ms: None,
                error: Some("x".into()),
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(missing, StorageError::NotFound("message")));
}

async fn one_running_run_per_room(store: &DynStore, _url: &str) {
    let room = store.create_room(new_room("runs")).await.unwrap();
    let other = store.create_room(new_room("other runs")).await.unwrap();
    let new_run =
        |room_id| NewRun { room_id, max_steps: 10, max_seconds: 60, budget_tokens: Some(5_000), started_by: None };

    let run = store.create_run(new_run(room.id)).await.unwrap();
    assert_eq!(run.status, RunStatus::Running);
    let refused = store.create_run(new_run(room.id)).await.unwrap_err();
    assert!(matches!(refused, StorageError::Conflict(_)), "{refused:?}");
    store.create_run(new_run(other.id)).await.expect("rooms do not share the limit");

    store.record_run_progress(run.id, 3, 1_234).await.unwrap();
    assert_eq!(store.running_run(room.id).await.unwrap().unwrap().id, run.id);

    let stopped = store.finish_run(run.id, RunStatus::Stopped, StopReason::UserStop).await.unwrap().unwrap();
    assert_eq!((stopped.status, stopped.stop_reason), (RunStatus::Stopped, Some(StopReason::UserStop)));
    assert_eq!((stopped.steps, stopped.tokens_used), (3, 1_234));
    assert!(stopped.stopped_at.is_some());
    assert!(store.finish_run(run.id, RunStatus::Completed, StopReason::MaxSteps).await.unwrap().is_none(), "ends once");
    assert!(store.running_run(room.id).await.unwrap().is_none());

    let next = store.create_run(new_run(room.id)).await.expect("a new run once the last one ended");
    let listed = store.list_runs(room.id, 10).await.unwrap();
    assert_eq!(listed.iter().map(|r| r.id).collect::<Vec<_>>(), vec![next.id, run.id]);
    assert_eq!(store.get_run(room.id, run.id).await.unwrap().unwrap().stop_reason, Some(StopReason::UserStop));
    assert!(store.get_run(other.id, run.id).await.unwrap().is_none());

    // A run's messages, oldest first, and only its own room's.
    let said = |content: &str, run_id| NewMessage { run_id, ..human_message(room.id, content) };
    let first = store.insert_message(said("first", Some(run.id))).await.unwrap();
    store.insert_message(said("outside any run", None)).await.unwrap();
    store.insert_message(said("in the next run", Some(next.id))).await.unwrap();
    let second = store.insert_message(said("second", Some(run.id))).await.unwrap();
    let of_run = store.run_messages(room.id, run.id, 10).await.unwrap();
    assert_eq!(of_run.iter().map(|m| m.id).collect::<Vec<_>>(), vec![first.id, second.id]);
    assert_eq!(store.run_messages(room.id, run.id, 1).await.unwrap().len(), 1);
    assert!(store.run_messages(other.id, run.id, 10).await.unwrap().is_empty());
}

async fn crashed_runs_are_closed(store: &DynStore, _url: &str) {
    let a = store.create_room(new_room("a")).await.unwrap();
    let b = store.create_room(new_room("b")).await.unwrap();
    for room_id in [a.id, b.id] {
        store
            .create_run(NewRun { room_id, max_steps: 5, max_seconds: 5, budget_tokens: None, started_by: None })
            .await
            .unwrap();
    }
    let closed = store.close_running_runs(RunStatus::Stopped, StopReason::ServerRestart).await.unwrap();
    assert_eq!(closed.len(), 2);
    assert!(closed.iter().all(|r| r.stop_reason == Some(StopReason::ServerRestart) && r.status == RunStatus::Stopped));
    assert!(store.close_running_runs(RunStatus::Stopped, StopReason::ServerRestart).await.unwrap().is_empty());
}

async fn usage_events_sum_to_the_run_cost(store: &DynStore, _url: &str) {
    let room = store.create_room(new_room("usage")).await.unwrap();
    let speaker = store.create_agent(agent(room.id, "Ada"), active(12)).await.unwrap();
    let run = store
        .create_run(NewRun { room_id: room.id, max_steps: 5, max_seconds: 5, budget_tokens: None, started_by: None })
        .await
        .unwrap();
    assert_eq!(store.run_cost(run.id).await.unwrap(), 0.0);
    for cost in [0.25, 0.5] {
        store
            .insert_usage_event(NewUsageEvent {
                room_id: room.id,
                agent_id: Some(speaker.id),
                message_id: None,
                run_id: Some(run.id),
                provider: "openai".into(),
                model: "gpt-4o-mini".into(),
                input_tokens: 100,
                output_tokens: 20,
                estimated: false,
                cost,
                user_id: None,
                created_at: storage::now(),
            })
            .await
            .unwrap();
    }
    assert_eq!(store.run_cost(run.id).await.unwrap(), 0.75);
    let events = store.list_usage_events(room.id).await.unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[0].agent_id, Some(speaker.id));
    assert_eq!(events[0].input_tokens, 100);
}

async fn users_and_members_are_unique(store: &DynStore, _url: &str) {
    assert_eq!(store.count_users().await.unwrap(), 0);
    let ada = user(store, "Ada", Role::Admin).await;
    let dup = store
        .create_user(NewUser {
            email: "ada@example.com".into(),
            name: "Other".into(),
            password_hash: None,
            role: Role::User,
        })
        .await
        .unwrap_err();
    assert!(matches!(dup, StorageError::Conflict(_)), "{dup:?}");
    assert_eq!(store.find_user_by_email("ada@example.com").await.unwrap().unwrap(), ada);
    assert_eq!(store.get_user(ada.id).await.unwrap().unwrap(), ada);
    assert!(store.find_user_by_email("nobody@example.com").await.unwrap().is_none());
    assert_eq!(store.count_users().await.unwrap(), 1);

    // The creator of a room is its first owner, in the same transaction.
    let room = store.create_room(NewRoom { owner_id: Some(ada.id), ..new_room("owned") }).await.unwrap();
    assert_eq!(room.owner_id, Some(ada.id));
    assert_eq!(store.membership(room.id, ada.id).await.unwrap(), Some(MemberRole::Owner));
    let dup = store.add_member(room.id, ada.id, MemberRole::Member).await.unwrap_err();
    assert!(matches!(dup, StorageError::Conflict(_)), "{dup:?}");
    let bob = user(store, "Bob", Role::User).await;
    store.add_member(room.id, bob.id, MemberRole::Viewer).await.unwrap();
    let members = store.list_members(room.id).await.unwrap();
    let listed: Vec<_> = members.iter().map(|m| (m.name.as_str(), m.email.as_str(), m.role)).collect();
    assert_eq!(listed, [("Ada", "ada@example.com", MemberRole::Owner), ("Bob", "bob@example.com", MemberRole::Viewer)]);
    assert_eq!(store.membership(room.id, Uuid::now_v7()).await.unwrap(), None);
}

async fn the_last_admin_and_the_last_owner_stay(store: &DynStore, _url: &str) {
    let ada = user(store, "Ada", Role::Admin).await;
    let bob = user(store, "Bob", Role::User).await;
    let refused = store.set_user_role(ada.id, Role::User).await.unwrap_err();
    assert!(matches!(refused, StorageError::Conflict(_)), "{refused:?}");
    assert_eq!(store.set_user_role(bob.id, Role::Admin).await.unwrap().role, Role::Admin);
    assert_eq!(store.set_user_role(ada.id, Role::Operator).await.unwrap().role, Role::Operator);
    assert!(matches!(store.set_user_role(Uuid::now_v7(), Role::User).await, Err(StorageError::NotFound(_))));
    let listed: Vec<_> = store.list_users(10).await.unwrap().into_iter().map(|u| (u.name, u.role)).collect();
    assert_eq!(listed, [("Ada".to_owned(), Role::Operator), ("Bob".to_owned(), Role::Admin)]);

    let room = store.create_room(NewRoom { owner_id: Some(ada.id), ..new_room("kept") }).await.unwrap();
    let refused = store.set_member_role(room.id, ada.id, MemberRole::Member).await.unwrap_err();
    assert!(matches!(refused, StorageError::Conflict(_)), "{refused:?}");
    assert!(matches!(store.remove_member(room.id, ada.id).await, Err(StorageError::Conflict(_))));
    store.add_member(room.id, bob.id, MemberRole::Owner).await.unwrap();
    store.set_member_role(room.id, ada.id, MemberRole::Viewer).await.unwrap();
    assert_eq!(store.membership(room.id, ada.id).await.unwrap(), Some(MemberRole::Viewer));
    assert!(matches!(store.remove_member(room.id, bob.id).await, Err(StorageError::Conflict(_))));
    store.remove_member(room.id, ada.id).await.unwrap();
    assert_eq!(store.membership(room.id, ada.id).await.unwrap(), None);
    assert!(matches!(store.remove_member(room.id, ada.id).await, Err(StorageError::NotFound(_))));
}

async fn tokens_are_found_by_their_hash_and_capped(store: &DynStore, _url: &str) {
    let ada = user(store, "Ada", Role::User).await;
    let bob = user(store, "Bob", Role::User).await;
    let token = store.create_token(ada.id, "laptop", "hash-1", 2).await.unwrap();
    assert_eq!(token.name, "laptop");
    assert_eq!(token.last_used_at, None);
    store.create_token(ada.id, "ci", "hash-2", 2).await.unwrap();
    let full = store.create_token(ada.id, "third", "hash-3", 2).await.unwrap_err();
    assert!(matches!(full, StorageError::LimitReached(_)), "{full:?}");

    assert_eq!(store.user_by_token_hash("hash-1").await.unwrap().unwrap().id, ada.id);
    assert!(store.user_by_token_hash("nope").await.unwrap().is_none());
    let listed = store.list_tokens(ada.id).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed[0].last_used_at.is_some(), "use is noted");
    // Only the owner deletes a token; another person's is as good as missing.
    assert!(matches!(store.delete_token(bob.id, token.id).await, Err(StorageError::NotFound(_))));
    store.delete_token(ada.id, token.id).await.unwrap();
    assert!(store.user_by_token_hash("hash-1").await.unwrap().is_none());

    store.invite("carol@example.com", ada.id).await.unwrap();
    assert!(store.is_invited("carol@example.com").await.unwrap());
    assert!(!store.is_invited("dave@example.com").await.unwrap());
    assert!(matches!(store.invite("carol@example.com", ada.id).await, Err(StorageError::Conflict(_))));
}

async fn rooms_are_listed_by_who_may_see_them(store: &DynStore, _url: &str) {
    let ada = user(store, "Ada", Role::User).await;
    let bob = user(store, "Bob", Role::User).await;
    let room =
        |name: &str, visibility, owner: &User| NewRoom { visibility, owner_id: Some(owner.id), ..new_room(name) };
    let private = store.create_room(room("private", RoomVisibility::Private, &ada)).await.unwrap();
    let public = store.create_room(room("public", RoomVisibility::Public, &ada)).await.unwrap();
    let demo = store.create_room(room("demo", RoomVisibility::Demo, &ada)).await.unwrap();
    let shared = store.create_room(room("shared", RoomVisibility::Private, &ada)).await.unwrap();
    store.add_member(shared.id, bob.id, MemberRole::Viewer).await.unwrap();

    let names = |rooms: Vec<domain::rooms::Room>| rooms.into_iter().map(|r| r.name).collect::<Vec<_>>();
    assert_eq!(
        names(store.list_rooms(RoomViewer::Person(ada.id), 10).await.unwrap()),
        ["shared", "demo", "public", "private"]
    );
    assert_eq!(names(store.list_rooms(RoomViewer::Person(bob.id), 10).await.unwrap()), ["shared", "demo", "public"]);
    assert_eq!(names(store.list_rooms(RoomViewer::Guest, 10).await.unwrap()), ["demo"]);
    assert_eq!(store.list_rooms(RoomViewer::Everything, 10).await.unwrap().len(), 4);
    assert_eq!(private.visibility, RoomVisibility::Private);
    assert_eq!(public.visibility, RoomVisibility::Public);
    assert_eq!(demo.visibility, RoomVisibility::Demo);
}

async fn rooms_are_changed_and_deleted_with_their_contents(store: &DynStore, _url: &str) {
    let room = store.create_room(new_room("before")).await.unwrap();
    let changed = store
        .update_room(
            room.id,
            RoomPatch { name: Some("after".into()), mode: Some(RoomMode::Auto), ..RoomPatch::default() },
        )
        .await
        .unwrap();
    assert_eq!(
        (changed.name.as_str(), changed.mode, changed.visibility),
        ("after", RoomMode::Auto, RoomVisibility::Private)
    );
    let public = store
        .update_room(room.id, RoomPatch { visibility: Some(RoomVisibility::Public), ..RoomPatch::default() })
        .await
        .unwrap();
    assert_eq!((public.name.as_str(), public.visibility), ("after", RoomVisibility::Public));
    assert_eq!(public.run_limits, RunLimits::default(), "a new room keeps the default run limits");
    let limits = RunLimits { max_steps: 3, max_seconds: 60, budget_tokens: Some(900) };
    let limited =
        store.update_room(room.id, RoomPatch { run_limits: Some(limits), ..RoomPatch::default() }).await.unwrap();
    assert_eq!((limited.run_limits, limited.mode), (limits, RoomMode::Auto));
    let unbudgeted = RunLimits { budget_tokens: None, ..limits };
    let changed =
        store.update_room(room.id, RoomPatch { run_limits: Some(unbudgeted), ..RoomPatch::default() }).await.unwrap();
    assert_eq!(changed.run_limits.budget_tokens, None, "a budget can be removed");
    assert_eq!(store.get_room(room.id).await.unwrap().unwrap().run_limits, unbudgeted);
    assert!(matches!(store.update_room(Uuid::now_v7(), RoomPatch::default()).await, Err(StorageError::NotFound(_))));

    store.create_agent(agent(room.id, "Ada"), active(12)).await.unwrap();
    let message = store.insert_message(human_message(room.id, "gone soon")).await.unwrap();
    store.delete_room(room.id).await.unwrap();
    assert!(store.get_room(room.id).await.unwrap().is_none());
    assert!(store.get_message(message.id).await.unwrap().is_none(), "its messages went with it");
    assert!(store.list_agents(room.id).await.unwrap().is_empty());
    assert!(matches!(store.delete_room(room.id).await, Err(StorageError::NotFound(_))));
}

async fn usage_and_runs_count_per_person(store: &DynStore, _url: &str) {
    let ada = user(store, "Ada", Role::User).await;
    let bob = user(store, "Bob", Role::User).await;
    let rooms = [store.create_room(new_room("one")).await.unwrap(), store.create_room(new_room("two")).await.unwrap()];
    for room in &rooms {
        let run =
            NewRun { room_id: room.id, max_steps: 5, max_seconds: 5, budget_tokens: None, started_by: Some(ada.id) };
        store.create_run(run).await.unwrap();
    }
    assert_eq!(store.count_running_runs_started_by(ada.id).await.unwrap(), 2);
    assert_eq!(store.count_running_runs_started_by(bob.id).await.unwrap(), 0);
    store.close_running_runs(RunStatus::Stopped, StopReason::ServerRestart).await.unwrap();
    assert_eq!(store.count_running_runs_started_by(ada.id).await.unwrap(), 0);

    // A day of usage, stamped as the service layer stamps it, plus one event a moment before it.
    let day: chrono::DateTime<chrono::Utc> = "2030-01-02T00:00:00Z".parse().unwrap();
    let during = day + chrono::Duration::hours(9);
    // The demo model's generations are free: they count against nobody's budget.
    for (who, tokens, provider, at) in [
        (Some(ada.id), 100, "openai", during),
        (Some(ada.id), 50, "azure", day),
        (Some(ada.id), 5000, "demo", during),
        (Some(ada.id), 70, "openai", day - chrono::Duration::milliseconds(1)),
        (Some(bob.id), 7, "qwen", during),
        (None, 1000, "openai", during),
        (None, 3000, "demo", during),
        (None, 400, "openai", day - chrono::Duration::hours(1)),
    ] {
        let event = store
            .insert_usage_event(NewUsageEvent {
                room_id: rooms[0].id,
                agent_id: None,
                message_id: None,
                run_id: None,
                provider: provider.into(),
                model: provider.into(),
                input_tokens: tokens,
                output_tokens: 1,
                estimated: true,
                cost: 0.0,
                user_id: who,
                created_at: at,
            })
            .await
            .unwrap();
        assert_eq!(event.created_at, at, "stored at the time it was given");
    }
    assert_eq!(store.tokens_used_by_since(ada.id, day).await.unwrap(), 152);
    assert_eq!(store.tokens_used_by_since(bob.id, day).await.unwrap(), 8);
    assert_eq!(store.tokens_used_by_guests_since(day).await.unwrap(), 1001);
    let yesterday = day - chrono::Duration::days(1);
    assert_eq!(store.tokens_used_by_since(ada.id, yesterday).await.unwrap(), 223);
    assert_eq!(store.tokens_used_by_guests_since(yesterday).await.unwrap(), 1402);
    let next_day = day + chrono::Duration::days(1);
    assert_eq!(store.tokens_used_by_since(ada.id, next_day).await.unwrap(), 0);
    assert_eq!(store.tokens_used_by_guests_since(next_day).await.unwrap(), 0);
}

async fn reopening_keeps_the_data_and_migrations_are_idempotent(store: &DynStore, url: &str) {
    let room = store.create_room(new_room("durable")).await.unwrap();
    store.insert_message(human_message(room.id, "still here")).await.unwrap();
    let reopened = storage::open(url, PoolLimits::default()).await.expect("reopen and re-run migrations");
    assert_eq!(reopened.backend(), store.backend());
    let page = reopened.list_messages(room.id, None, 50).await.unwrap();
    assert_eq!(page.messages.len(), 1);
    assert_eq!(page.messages[0].content, "still here");
    reopened.close().await;
}

async fn ping_answers(store: &DynStore, _url: &str) {
    store.ping().await.expect("an open database answers");
    // Readiness relies on a ping that reaches the database: once it is closed, the ping fails.
    store.close().await;
    let refused = store.ping().await.unwrap_err();
    assert!(matches!(refused, StorageError::Unavailable(_)), "{refused:?}");
}

/// Production databases take TLS only (`sslmode=require`); the private test server refuses plain
/// connections over TCP, and every pooled connection reports that it is encrypted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connections_are_encrypted() {
    let db = storage::testing::fresh_postgres().await;
    assert!(db.url.contains("sslmode=require"), "the test server is reached with sslmode=require: {}", db.url);
    let storage::DatabasePool::Postgres(pool) = db.store.pool() else { panic!("a PostgreSQL store") };
    let (encrypted, version): (bool, String) =
        sqlx::query_as("SELECT ssl, version FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(&pool)
            .await
            .expect("read the connection's TLS state");
    assert!(encrypted, "the connection is encrypted");
    assert!(version.starts_with("TLSv1."), "{version}");
    let plain = db.url.replace("sslmode=require", "sslmode=disable");
    let refused = storage::PostgresStore::open(&plain, PoolLimits::default()).await;
    assert!(refused.is_err(), "a connection without TLS is refused");
}

fn proposal(room_id: Uuid, command: &str, expires_in: chrono::Duration) -> NewProposal {
    use domain::control_plane::{Lane, Operation, Risk};
    NewProposal {
        room_id,
        message_id: None,
        agent_id: Some(Uuid::now_v7()),
        agent_name: "Ops".into(),
        run_id: None,
        command: command.into(),
        reason: "due".into(),
        preview_id: Some(Uuid::new_v4().to_string()),
        intent: Some("task_execution".into()),
        operations: vec![Operation {
            tool: "task_runner".into(),
            args: [("task".to_owned(), "backup_db".to_owned())].into(),
        }],
        risk: Some(Risk::High),
        lane: Some(Lane::Approval),
        rule_id: Some("lisa_run".into()),
        risk_reason: Some("runs a task".into()),
        requires_structured_override: false,
        expires_at: Some(chrono::Utc::now() + expires_in),
        state: domain::proposals::ProposalState::Pending,
        error: None,
    }
}

async fn proposals_are_decided_once_expired_on_time_and_followed(store: &DynStore, _url: &str) {
    use domain::control_plane::TaskState;
    use domain::proposals::{AgentTool, ProposalState};
    let room = store.create_room(new_room("Ops")).await.unwrap();
    let decider = user(store, "Dora", Role::Operator).await;
    // An agent's tools round-trip.
    let agent = store
        .create_agent(NewAgent { tools: vec![AgentTool::ProposeTask], ..agent(room.id, "Ops") }, active(3))
        .await
        .unwrap();
    assert_eq!(store.get_agent(room.id, agent.id).await.unwrap().unwrap().tools, vec![AgentTool::ProposeTask]);
    let cleared = AgentPatch { tools: Some(Vec::new()), ..Default::default() };
    assert!(store.update_agent(room.id, agent.id, cleared, 3).await.unwrap().tools.is_empty());

    let open =
        store.insert_proposal(proposal(room.id, "lisa run backup_db", chrono::Duration::minutes(5))).await.unwrap();
    let soon =
        store.insert_proposal(proposal(room.id, "show tasks", chrono::Duration::milliseconds(-1))).await.unwrap();
    assert_eq!(open.operations[0].args["task"], "backup_db");
    assert_eq!(
        store.count_open_proposals(room.id, chrono::Utc::now()).await.unwrap(),
        1,
        "the expired one is not open"
    );

    // Two decisions at once: exactly one lands.
    let decision = |state| ProposalDecisionRecord {
        state,
        decided_by: decider.id,
        decided_by_name: decider.name.clone(),
        task_id: (state == ProposalState::Confirmed).then(|| "task_20260101T000000_0123456789ab".to_owned()),
        task_state: (state == ProposalState::Confirmed).then_some(TaskState::PendingApproval),
        path_written: None,
    };
    let (confirmed, rejected) = tokio::join!(
        store.decide_proposal(open.id, decision(ProposalState::Confirmed)),
        store.decide_proposal(open.id, decision(ProposalState::Rejected)),
    );
    let landed: Vec<_> = [confirmed.unwrap(), rejected.unwrap()].into_iter().flatten().collect();
    assert_eq!(landed.len(), 1, "one decision lands");
    assert_eq!(landed[0].decided_by_name.as_deref(), Some("Dora"));

    let expired = store.expire_proposals(chrono::Utc::now()).await.unwrap();
    assert_eq!(expired.iter().map(|p| p.id).collect::<Vec<_>>(), vec![soon.id]);
    assert_eq!(expired[0].state, ProposalState::Expired);
    assert!(store.expire_proposal(soon.id).await.unwrap().is_none(), "already ended");
    // A rejection never lands on an expired proposal.
    assert!(store.decide_proposal(soon.id, decision(ProposalState::Rejected)).await.unwrap().is_none());

    if landed[0].state == ProposalState::Confirmed {
        let followed = store.proposals_to_follow(10).await.unwrap();
        assert_eq!(followed.iter().map(|p| p.id).collect::<Vec<_>>(), vec![open.id]);
        let done = store.record_proposal_task(open.id, TaskState::Done, Some("ok".into())).await.unwrap();
        assert_eq!((done.task_state, done.result_summary.as_deref()), (Some(TaskState::Done), Some("ok")));
        assert!(store.proposals_to_follow(10).await.unwrap().is_empty(), "a final task is no longer followed");
    }
    let listed = store.list_proposals(room.id, 10).await.unwrap();
    assert_eq!(listed.iter().map(|p| p.id).collect::<Vec<_>>(), vec![open.id, soon.id], "oldest first");

    store.delete_room(room.id).await.unwrap();
    assert!(store.get_proposal(room.id, open.id).await.unwrap().is_none(), "deleted with the room");
}

async fn link_codes_are_spent_once_and_chats_bound_to_one_person(store: &DynStore, _url: &str) {
    let (alice, bob) = (user(store, "Alice", Role::Operator).await, user(store, "Bob", Role::Operator).await);
    let later = storage::now() + chrono::Duration::minutes(10);
    store.create_link_code(alice.id, "hash-a1", later).await.unwrap();
    // A new code replaces the person's last one.
    store.create_link_code(alice.id, "hash-a2", later).await.unwrap();
    assert_eq!(store.redeem_link_code("hash-a1", chrono::Utc::now()).await.unwrap(), None);
    assert_eq!(store.redeem_link_code("hash-a2", chrono::Utc::now()).await.unwrap(), Some(alice.id));
    assert_eq!(store.redeem_link_code("hash-a2", chrono::Utc::now()).await.unwrap(), None, "spent");
    // An expired code is refused.
    store.create_link_code(bob.id, "hash-b", storage::now() - chrono::Duration::seconds(1)).await.unwrap();
    assert_eq!(store.redeem_link_code("hash-b", chrono::Utc::now()).await.unwrap(), None);

    let link = store.link_chat(-100, alice.id, "Alice's phone").await.unwrap();
    assert_eq!((link.chat_id, link.chat_title.as_str()), (-100, "Alice's phone"));
    assert_eq!(store.chat_user(-100).await.unwrap(), Some(alice.id));
    // Linking again binds the chat to the new person only.
    store.link_chat(-100, bob.id, "Bob now").await.unwrap();
    assert_eq!(store.chat_user(-100).await.unwrap(), Some(bob.id));
    assert!(store.list_chats(alice.id).await.unwrap().is_empty());
    assert!(!store.unlink_chat(-100, Some(alice.id)).await.unwrap(), "not Alice's to unlink");
    assert!(store.unlink_chat(-100, Some(bob.id)).await.unwrap());
    assert!(!store.unlink_chat(-100, None).await.unwrap());
    assert_eq!(store.chat_user(-100).await.unwrap(), None);
}

async fn chat_previews_settle_once_and_notices_are_claimed_once(store: &DynStore, _url: &str) {
    use domain::control_plane::TaskState;
    use domain::telegram::{ChatPreview, ChatPreviewState};
    use storage::ChatPreviewSettlement;

    let alice = user(store, "Alice", Role::Operator).await;
    let shown = |message_id: i64, expires_in: i64| ChatPreview {
        chat_id: 7,
        message_id,
        preview_id: format!("preview-{message_id}"),
        user_id: alice.id,
        session_id: "session".into(),
        summary: "Preview".into(),
        expires_at: storage::now() + chrono::Duration::seconds(expires_in),
        state: ChatPreviewState::Pending,
        task_id: None,
        notified_state: None,
    };
    store.insert_chat_preview(&shown(1, 300)).await.unwrap();
    store.insert_chat_preview(&shown(2, -1)).await.unwrap();
    assert!(matches!(store.insert_chat_preview(&shown(1, 300)).await, Err(StorageError::Conflict(_))));

    // Only the expired pending one is due.
    let due = store.expired_chat_previews(storage::now(), 10).await.unwrap();
    assert_eq!(due.iter().map(|p| p.message_id).collect::<Vec<_>>(), [2]);

    let confirm = ChatPreviewSettlement {
        state: ChatPreviewState::Confirmed,
        task_id: Some("task_1".into()),
        notified_state: Some(TaskState::Accepted),
    };
    assert!(store.settle_chat_preview(7, 1, confirm.clone()).await.unwrap());
    let cancel = ChatPreviewSettlement { state: ChatPreviewState::Cancelled, task_id: None, notified_state: None };
    assert!(!store.settle_chat_preview(7, 1, cancel).await.unwrap(), "settled once");
    let stored = store.chat_preview(7, 1).await.unwrap().unwrap();
    assert_eq!((stored.state, stored.task_id.as_deref()), (ChatPreviewState::Confirmed, Some("task_1")));

    // A notice is claimed by whoever last knew the told state; a stale claim loses.
    assert!(store.record_chat_notice(7, 1, Some(TaskState::Accepted), TaskState::Running).await.unwrap());
    assert!(!store.record_chat_notice(7, 1, Some(TaskState::Accepted), TaskState::Running).await.unwrap());
    assert!(store.record_chat_notice(7, 1, Some(TaskState::Running), TaskState::Done).await.unwrap());
    let due = store.chat_tasks_to_follow((i64::MIN, i64::MIN), 10).await.unwrap();
    assert!(due.is_empty(), "a final task is no longer followed: {due:?}");

    // Tasks are followed page by page after a cursor, so those that never finish cannot crowd out
    // the rest.
    for message_id in 10..15 {
        store.insert_chat_preview(&shown(message_id, 300)).await.unwrap();
        store.settle_chat_preview(7, message_id, confirm.clone()).await.unwrap();
    }
    let first = store.chat_tasks_to_follow((i64::MIN, i64::MIN), 2).await.unwrap();
    assert_eq!(first.iter().map(|p| p.message_id).collect::<Vec<_>>(), [10, 11]);
    let next = store.chat_tasks_to_follow((7, 11), 10).await.unwrap();
    assert_eq!(next.iter().map(|p| p.message_id).collect::<Vec<_>>(), [12, 13, 14]);

    // Settled previews and finished tasks are forgotten once old; open ones are kept.
    let later = storage::now() + chrono::Duration::seconds(1);
    assert_eq!(store.forget_chat_previews(later).await.unwrap(), 1, "the finished task; a pending one stays");
    assert!(store.chat_preview(7, 1).await.unwrap().is_none());
    assert!(store.chat_preview(7, 10).await.unwrap().is_some());
}

async fn a_lease_has_one_holder_until_it_lapses(store: &DynStore, _url: &str) {
    use std::time::Duration;
    let first = store.acquire_lease("poller", "a", Duration::from_secs(30)).await.unwrap().expect("free");
    assert_eq!(store.acquire_lease("poller", "b", Duration::from_secs(30)).await.unwrap(), None, "held by a");
    // Renewing keeps the token; another lease is independent.
    assert_eq!(store.acquire_lease("poller", "a", Duration::from_secs(30)).await.unwrap(), Some(first));
    assert!(store.acquire_lease("other", "b", Duration::from_secs(30)).await.unwrap().is_some());
    // Given back, it changes hands at once, with a higher fencing token.
    store.release_lease("poller", "a").await.unwrap();
    let second = store.acquire_lease("poller", "b", Duration::from_millis(200)).await.unwrap().expect("released");
    assert!(second > first);
    // Lapsed, it changes hands too.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let third = store.acquire_lease("poller", "a", Duration::from_secs(30)).await.unwrap().expect("lapsed");
    assert!(third > second);
    // Contenders at the same moment: exactly one wins.
    store.release_lease("poller", "a").await.unwrap();
    let contenders = (0..8).map(|n| {
        let store = store.clone();
        async move { store.acquire_lease("poller", &format!("c{n}"), Duration::from_secs(30)).await.unwrap() }
    });
    let won = futures::future::join_all(contenders).await.into_iter().flatten().count();
    assert_eq!(won, 1);
}

async fn abandoned_work_is_found_by_its_lapsed_lease(store: &DynStore, _url: &str) {
    use std::time::Duration;
    store.acquire_lease("reply:live", "a", Duration::from_secs(30)).await.unwrap().unwrap();
    store.acquire_lease("reply:lapsed", "a", Duration::from_millis(100)).await.unwrap().unwrap();
    store.acquire_lease("reply:done", "a", Duration::from_millis(100)).await.unwrap().unwrap();
    store.acquire_lease("run:lapsed", "a", Duration::from_millis(100)).await.unwrap().unwrap();
    // Renewal extends only a live lease with its own token, and never takes one back.
    let live = store.acquire_lease("reply:renewed", "a", Duration::from_millis(300)).await.unwrap().unwrap();
    assert!(store.renew_lease("reply:renewed", "a", live, Duration::from_secs(30)).await.unwrap());
    assert!(!store.renew_lease("reply:renewed", "a", live + 1, Duration::from_secs(30)).await.unwrap());
    assert!(!store.renew_lease("reply:renewed", "b", live, Duration::from_secs(30)).await.unwrap());
    assert!(!store.renew_lease("reply:missing", "a", 1, Duration::from_secs(30)).await.unwrap());
    // A finished job's lease is deleted, by its holder only.
    store.forget_lease("reply:done", "b").await.unwrap();
    store.forget_lease("reply:done", "a").await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(store.expired_leases("reply:", 10).await.unwrap(), vec!["reply:lapsed".to_owned()]);
    assert_eq!(store.expired_leases("run:", 10).await.unwrap(), vec!["run:lapsed".to_owned()]);
    assert!(store.expired_leases("re%", 10).await.unwrap().is_empty(), "the prefix is taken literally");
    assert!(
        !store.renew_lease("reply:lapsed", "a", 1, Duration::from_secs(30)).await.unwrap(),
        "a lapsed lease is not renewed"
    );
    // Taken over, it is no longer abandoned.
    store.acquire_lease("reply:lapsed", "b", Duration::from_secs(30)).await.unwrap().unwrap();
    assert!(store.expired_leases("reply:", 10).await.unwrap().is_empty());
}

async fn a_takeover_interrupts_only_what_the_dead_owner_was_writing(store: &DynStore, _url: &str) {
    let room = store.create_room(new_room("takeover")).await.unwrap();
    let other = store.create_room(new_room("elsewhere")).await.unwrap();
    let starter = user(store, "Starter", Role::User).await;
    let speaker = store.create_agent(agent(room.id, "Ada"), active(12)).await.unwrap();
    let run = store
        .create_run(NewRun {
            room_id: room.id,
            max_steps: 5,
            max_seconds: 60,
            budget_tokens: None,
            started_by: Some(starter.id),
        })
        .await
        .unwrap();
    store
        .create_run(NewRun { room_id: other.id, max_steps: 5, max_seconds: 60, budget_tokens: None, started_by: None })
        .await
        .unwrap();
    assert_eq!(store.run_started_by(run.id).await.unwrap(), Some(starter.id));
    let running = store.list_running_runs(10).await.unwrap();
    assert_eq!(running.len(), 2);
    assert_eq!(running[0].id, run.id, "oldest first");
    let streaming = |run_id| NewMessage {
        room_id: room.id,
        sender_type: SenderType::Agent,
        sender_id: Some(speaker.id),
        sender_name: speaker.name.clone(),
        content: String::new(),
        content_html: None,
        status: MessageStatus::Streaming,
        model: Some("demo".into()),
        selection_reason: None,
        run_id,
    };
    assert!(store.rooms_with_streaming_messages(10).await.unwrap().is_empty());
    let in_run = store.insert_message(streaming(Some(run.id))).await.unwrap();
    let reply = store.insert_message(streaming(None)).await.unwrap();
    assert_eq!(store.rooms_with_streaming_messages(10).await.unwrap(), [room.id], "each room once");
    store.save_streaming_text(in_run.id, "Half").await.unwrap();

    // The run's own message only...
    let cut = store.interrupt_streaming_messages_of(room.id, Some(run.id)).await.unwrap();
    assert_eq!(
        cut.iter().map(|m| (m.id, m.status, m.content.as_str())).collect::<Vec<_>>(),
        [(in_run.id, MessageStatus::Interrupted, "Half")]
    );
    assert_eq!(store.get_message(reply.id).await.unwrap().unwrap().status, MessageStatus::Streaming);
    // ...or every one left in the room.
    let again = store.insert_message(streaming(Some(run.id))).await.unwrap();
    let cut = store.interrupt_streaming_messages_of(room.id, None).await.unwrap();
    let mut cut: Vec<_> = cut.iter().map(|m| m.id).collect();
    let mut expected = vec![reply.id, again.id];
    cut.sort();
    expected.sort();
    assert_eq!(cut, expected);
    assert!(store.interrupt_streaming_messages_of(room.id, None).await.unwrap().is_empty());
    assert!(store.rooms_with_streaming_messages(10).await.unwrap().is_empty());
    assert!(store.interrupt_streaming_messages_of(other.id, Some(run.id)).await.unwrap().is_empty());
}

/// An agent's reply, written and ended with `status`.
async fn reply(
    store: &DynStore,
    room_id: Uuid,
    agent: &domain::rooms::Agent,
    text: &str,
    status: MessageStatus,
) -> Uuid {
    let started = store
        .insert_message(NewMessage {
            room_id,
            sender_type: SenderType::Agent,
            sender_id: Some(agent.id),
            sender_name: agent.name.clone(),
            content: String::new(),
            content_html: None,
            status: MessageStatus::Streaming,
            model: Some("demo".into()),
            selection_reason: None,
            run_id: None,
        })
        .await
        .unwrap();
    store.finish_message(started.id, written(text, status)).await.unwrap().id
}

fn written(text: &str, status: MessageStatus) -> MessageOutcome {
    MessageOutcome {
        status,
        content: text.to_owned(),
        content_html: Some(format!("<p>{text}</p>")),
        tokens_in: Some(10),
        tokens_out: Some(text.len() as i64),
        usage_estimated: false,
        latency_ms: Some(20),
        first_token_ms: Some(5),
        error: (status == MessageStatus::Failed).then(|| "the provider failed".to_owned()),
    }
}

async fn replies_keep_their_versions_and_switch_between_them(store: &DynStore, _url: &str) {
    let room = store.create_room(new_room("versions")).await.unwrap();
    let ada = store.create_agent(agent(room.id, "Ada"), active(12)).await.unwrap();
    let id = reply(store, room.id, &ada, "first answer", MessageStatus::Complete).await;
    let fresh = store.get_message(id).await.unwrap().unwrap();
    assert_eq!((fresh.alternatives, fresh.alternative_index), (1, 0));

    let restarted = store.restart_message(id, Rewrite::Regenerate, Some("gpt-4o".into())).await.unwrap();
    assert_eq!((restarted.alternatives, restarted.alternative_index), (2, 1));
    assert_eq!((restarted.content.as_str(), restarted.status), ("", MessageStatus::Streaming));
    assert_eq!((restarted.tokens_out, restarted.error.as_deref()), (None, None));
    assert_eq!(restarted.model.as_deref(), Some("gpt-4o"));
    // While it is written, nothing else may change it.
    for refused in [
        store.restart_message(id, Rewrite::Regenerate, None).await,
        store.select_alternative(id, 0).await,
        store.edit_message(id, "x", "<p>x</p>").await,
        store.delete_message(id).await,
    ] {
        assert!(matches!(refused, Err(StorageError::Conflict(storage::MESSAGE_STREAMING))), "{refused:?}");
    }
    store.finish_message(id, written("second answer", MessageStatus::Complete)).await.unwrap();

    let first = store.select_alternative(id, 0).await.unwrap();
    assert_eq!((first.content.as_str(), first.alternative_index, first.alternatives), ("first answer", 0, 2));
    assert_eq!((first.model.as_deref(), first.tokens_out), (Some("demo"), Some(12)));
    assert_eq!(first.content_html.as_deref(), Some("<p>first answer</p>"));
    let second = store.select_alternative(id, 1).await.unwrap();
    assert_eq!((second.content.as_str(), second.model.as_deref()), ("second answer", Some("gpt-4o")));
    assert!(matches!(store.select_alternative(id, 2).await, Err(StorageError::NotFound("alternative"))));
    assert!(matches!(store.select_alternative(Uuid::now_v7(), 0).await, Err(StorageError::NotFound("message"))));

    // Regenerating from an earlier version adds a third and keeps both others.
    store.select_alternative(id, 0).await.unwrap();
    let third = store.restart_message(id, Rewrite::Regenerate, None).await.unwrap();
    assert_eq!((third.alternatives, third.alternative_index, third.model.as_deref()), (3, 2, Some("demo")));
    store.finish_message(id, written("third answer fails", MessageStatus::Failed)).await.unwrap();
    // A retry replaces the failed version in place.
    let retried = store.restart_message(id, Rewrite::Retry, None).await.unwrap();
    assert_eq!((retried.alternatives, retried.alternative_index, retried.status), (3, 2, MessageStatus::Streaming));
    store.finish_message(id, written("third answer", MessageStatus::Complete)).await.unwrap();
    let texts = [
        store.select_alternative(id, 0).await.unwrap().content,
        store.select_alternative(id, 1).await.unwrap().content,
        store.select_alternative(id, 2).await.unwrap().content,
    ];
    assert_eq!(texts, ["first answer", "second answer", "third answer"]);
    let listed = store.list_messages(room.id, None, 10).await.unwrap().messages;
    assert_eq!(listed.len(), 1, "versions are not messages of their own");
    assert_eq!((listed[0].content.as_str(), listed[0].alternative_index), ("third answer", 2));
}

async fn messages_are_edited_and_removed_in_place(store: &DynStore, _url: &str) {
    let room = store.create_room(new_room("edits")).await.unwrap();
    let ada = store.create_agent(agent(room.id, "Ada"), active(12)).await.unwrap();
    let asked = store.insert_message(human_message(room.id, "What is tea?")).await.unwrap();
    let answer = reply(store, room.id, &ada, "A drink", MessageStatus::Complete).await;
    store.restart_message(answer, Rewrite::Regenerate, None).await.unwrap();
    store.finish_message(answer, written("A hot drink", MessageStatus::Complete)).await.unwrap();
    let after = store.insert_message(human_message(room.id, "Thanks")).await.unwrap();
    assert_eq!(asked.edited_at, None);

    let edited = store.edit_message(asked.id, "What is green tea?", "<p>What is green tea?</p>").await.unwrap();
    assert_eq!(edited.content, "What is green tea?");
    assert_eq!(edited.content_html.as_deref(), Some("<p>What is green tea?</p>"));
    assert!(edited.edited_at.is_some_and(|at| at >= asked.created_at));
    assert_eq!((edited.id, edited.created_at), (asked.id, asked.created_at), "an edit stays in its place");

    let removed = store.delete_message(answer).await.unwrap();
    assert!(removed.deleted_at.is_some());
    assert_eq!((removed.content.as_str(), removed.content_html.as_deref()), ("", None));
    assert_eq!((removed.alternatives, removed.alternative_index), (1, 0), "no version of it is kept");
    for refused in [
        store.select_alternative(answer, 0).await,
        store.edit_message(answer, "back", "<p>back</p>").await,
        store.delete_message(answer).await,
        store.restart_message(answer, Rewrite::Regenerate, None).await,
    ] {
        assert!(matches!(refused, Err(StorageError::Conflict(storage::MESSAGE_REMOVED))), "{refused:?}");
    }
    let ids: Vec<Uuid> = store.list_messages(room.id, None, 10).await.unwrap().messages.iter().map(|m| m.id).collect();
    assert_eq!(ids, [asked.id, answer, after.id], "a removed message keeps its place");
    assert!(matches!(store.edit_message(Uuid::now_v7(), "x", "x").await, Err(StorageError::NotFound("message"))));
}

async fn usage_is_summed_per_day_agent_model_and_room(store: &DynStore, _url: &str) {
    let ada_person = user(store, "Ada", Role::User).await;
    let mut tea_room = new_room("Tea");
    tea_room.owner_id = Some(ada_person.id);
    let tea = store.create_room(tea_room).await.unwrap();
    let coffee = store.create_room(new_room("Coffee")).await.unwrap();
    let lu = store.create_agent(agent(tea.id, "Lu"), active(12)).await.unwrap();
    let yu = store.create_agent(agent(tea.id, "Yu"), active(12)).await.unwrap();
    let mo = store.create_agent(agent(coffee.id, "Mo"), active(12)).await.unwrap();
    let day =
        |d: u32, h: u32| -> chrono::DateTime<chrono::Utc> { format!("2030-03-{d:02}T{h:02}:00:00Z").parse().unwrap() };
    // (room, agent, provider, model, input, output, cost, when)
    let events = [
        (tea.id, Some(lu.id), "openai", "gpt-4o", 100, 10, 0.5, day(1, 9)),
        (tea.id, Some(lu.id), "openai", "gpt-4o", 200, 20, 1.0, day(1, 23)),
        (tea.id, Some(yu.id), "demo", "demo", 30, 3, 0.0, day(2, 0)),
        (tea.id, None, "openai", "gpt-4o-mini", 7, 1, 0.25, day(2, 12)),
        (coffee.id, Some(mo.id), "openai", "gpt-4o", 1000, 100, 2.0, day(2, 13)),
        // Outside the range asked below, on both sides.
        (tea.id, Some(lu.id), "openai", "gpt-4o", 9000, 900, 9.0, day(3, 0)),
        (coffee.id, Some(mo.id), "openai", "gpt-4o", 9000, 900, 9.0, day(1, 0) - chrono::Duration::seconds(1)),
    ];
    for (room_id, agent_id, provider, model, input, output, cost, at) in events {
        store
            .insert_usage_event(NewUsageEvent {
                room_id,
                agent_id,
                message_id: None,
                run_id: None,
                provider: provider.into(),
                model: model.into(),
                input_tokens: input,
                output_tokens: output,
                estimated: false,
                cost,
                user_id: None,
                created_at: at,
            })
            .await
            .unwrap();
    }
    let range = (day(1, 0), day(3, 0));
    let sums = |rows: Vec<UsageTotal>| -> Vec<(String, String, i64, i64, f64)> {
        rows.into_iter().map(|r| (r.key, r.label, r.input_tokens, r.output_tokens, r.cost)).collect()
    };
    let t = |key: &str, label: &str, input, output, cost| (key.to_owned(), label.to_owned(), input, output, cost);

    let by_day = sums(store.usage_report(UsageScope::Everything, UsageGroup::Day, range).await.unwrap());
    assert_eq!(by_day, [t("2030-03-01", "2030-03-01", 300, 30, 1.5), t("2030-03-02", "2030-03-02", 1037, 104, 2.25)]);
    let mut by_room = sums(store.usage_report(UsageScope::Everything, UsageGroup::Room, range).await.unwrap());
    by_room.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(
        by_room,
        [t(&coffee.id.to_string(), "Coffee", 1000, 100, 2.0), t(&tea.id.to_string(), "Tea", 337, 34, 1.75)]
    );
    let mut by_agent = sums(store.usage_report(UsageScope::Everything, UsageGroup::Agent, range).await.unwrap());
    by_agent.sort_by(|a, b| a.1.cmp(&b.1));
    assert_eq!(
        by_agent,
        [
            t(&lu.id.to_string(), "Lu (Tea)", 300, 30, 1.5),
            t(&mo.id.to_string(), "Mo (Coffee)", 1000, 100, 2.0),
            t("none", "No agent (Tea)", 7, 1, 0.25),
            t(&yu.id.to_string(), "Yu (Tea)", 30, 3, 0.0),
        ]
    );
    let mut by_model = sums(store.usage_report(UsageScope::Everything, UsageGroup::Model, range).await.unwrap());
    by_model.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        by_model,
        [
            t("demo/demo", "demo", 30, 3, 0.0),
            t("openai/gpt-4o", "gpt-4o", 1300, 130, 3.5),
            t("openai/gpt-4o-mini", "gpt-4o-mini", 7, 1, 0.25),
        ]
    );
    // A person sees only the rooms they belong to.
    let mine = sums(store.usage_report(UsageScope::Person(ada_person.id), UsageGroup::Room, range).await.unwrap());
    assert_eq!(mine, [t(&tea.id.to_string(), "Tea", 337, 34, 1.75)]);
    let nobody = user(store, "Nobody", Role::User).await;
    assert!(store.usage_report(UsageScope::Person(nobody.id), UsageGroup::Day, range).await.unwrap().is_empty());
}

async fn a_deleted_room_takes_everything_with_it(store: &DynStore, _url: &str) {
    let owner = user(store, "Owner", Role::User).await;
    let mut doomed = new_room("doomed");
    doomed.owner_id = Some(owner.id);
    let room = store.create_room(doomed).await.unwrap();
    let kept = store.create_room(new_room("kept")).await.unwrap();
    for room_id in [room.id, kept.id] {
        let ada = store.create_agent(agent(room_id, "Ada"), active(12)).await.unwrap();
        store.insert_message(human_message(room_id, "hello")).await.unwrap();
        let answer = reply(store, room_id, &ada, "hi", MessageStatus::Complete).await;
        store.restart_message(answer, Rewrite::Regenerate, None).await.unwrap();
        store.finish_message(answer, written("hello", MessageStatus::Complete)).await.unwrap();
        let run = store
            .create_run(NewRun { room_id, max_steps: 5, max_seconds: 5, budget_tokens: None, started_by: None })
            .await
            .unwrap();
        store
            .insert_usage_event(NewUsageEvent {
                room_id,
                agent_id: Some(ada.id),
                message_id: Some(answer),
                run_id: Some(run.id),
                provider: "openai".into(),
                model: "gpt-4o".into(),
                input_tokens: 10,
                output_tokens: 2,
                estimated: false,
                cost: 0.1,
                user_id: None,
                created_at: storage::now(),
            })
            .await
            .unwrap();
        store.insert_proposal(proposal(room_id, "liam check status", chrono::Duration::minutes(5))).await.unwrap();
    }
    let counts = |room_id: Uuid| async move {
        let mut counts = Vec::new();
        for table in ["agents", "messages", "runs", "usage_events", "proposals", "room_members"] {
            counts.push(count_rows(store, &format!("SELECT COUNT(*) FROM {table} WHERE room_id = $1"), room_id).await);
        }
        counts.push(
            count_rows(
                store,
                "SELECT COUNT(*) FROM message_alternatives WHERE message_id IN \
                 (SELECT id FROM messages WHERE room_id = $1)",
                room_id,
            )
            .await,
        );
        counts
    };
    assert_eq!(counts(room.id).await, [1, 2, 1, 1, 1, 1, 1]);
    let all_versions =
        count_rows(store, "SELECT COUNT(*) FROM message_alternatives WHERE $1 IS NOT NULL", room.id).await;
    assert_eq!(all_versions, 2);
    store.delete_room(room.id).await.unwrap();
    assert_eq!(counts(room.id).await, [0; 7], "nothing of the room is left");
    assert_eq!(count_rows(store, "SELECT COUNT(*) FROM message_alternatives WHERE $1 IS NOT NULL", room.id).await, 1);
    assert_eq!(counts(kept.id).await, [1, 2, 1, 1, 1, 0, 1], "another room keeps everything");
}

/// Counts rows with a query taking one id.
async fn count_rows(store: &DynStore, sql: &str, id: Uuid) -> i64 {
    match store.pool() {
        storage::DatabasePool::Sqlite(pool) => {
            sqlx::query_scalar::<_, i64>(sql).bind(id).fetch_one(&pool).await.unwrap()
        }
        storage::DatabasePool::Postgres(pool) => {
            sqlx::query_scalar::<_, i64>(sql).bind(id).fetch_one(&pool).await.unwrap()
        }
    }
}

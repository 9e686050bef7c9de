//! One agent turn through the service layer alone: streaming, usage and cost, provider failures
//! and stopping, against a fake provider over real HTTP.

mod common;

use std::time::Duration;

use common::{agent, eventually, next_event, room, services, Db};
use domain::events::RoomEvent;
use domain::rooms::MessageStatus;
use fake_llm::{FakeLlm, Reply};
use services::replies::{run_turn, StopSignal, Turn, TurnContext, TurnOutcome};
use services::Services;
use uuid::Uuid;

on_both_databases!(
    a_turn_streams_its_reply_and_records_usage_and_cost,
    a_provider_failure_ends_the_message_failed_with_a_readable_error,
    a_stopped_turn_keeps_its_partial_text_and_hangs_up,
    a_turn_that_cannot_fit_its_allowance_writes_nothing,
    a_final_write_the_database_refuses_for_a_while_is_retried_until_the_reply_ends,
);

async fn turn(services: &Services, room_id: Uuid, allowance: Option<i64>) -> Turn {
    let context = TurnContext::load(services, room_id).await.unwrap();
    let agent = context.agents[0].clone();
    let billed_to = services.store.list_users(1).await.unwrap().first().map(|user| user.id);
    Turn {
        room_id,
        context,
        agent,
        selection_reason: "test".into(),
        run_id: None,
        token_allowance: allowance,
        billed_to,
        into: None,
    }
}

async fn a_turn_streams_its_reply_and_records_usage_and_cost(db: Db) {
    let fake = FakeLlm::start(Reply::words("Tea is ready").with_token_delay(Duration::from_millis(5))).await;
    let services = services(db, &fake, &[]).await;
    let room_id = room(&services, "Tea").await;
    let ada = agent(&services, room_id, "Ada").await;
    let mut live = services.events.subscribe(room_id, None).await.unwrap();

    let outcome = run_turn(&services, turn(&services, room_id, None).await, &StopSignal::new()).await.unwrap();
    let TurnOutcome::Spoke(result) = outcome else { panic!("the agent spoke") };
    assert_eq!(result.message.content, "Tea is ready");
    assert_eq!(result.message.status, MessageStatus::Complete);
    assert_eq!((result.tokens_in, result.tokens_out), (17, 3));
    // gpt-4o-mini: $0.15 in and $0.60 out per million tokens.
    let expected_cost = (17.0 * 0.15 + 3.0 * 0.60) / 1_000_000.0;
    assert!((result.cost - expected_cost).abs() < 1e-12, "{}", result.cost);
    assert!(result.message.first_token_ms.is_some() && result.message.latency_ms.is_some());
    assert!(result.message.content_html.is_some(), "the final message is rendered");

    // The turn has ended, so every event it published is already waiting.
    let mut names = Vec::new();
    while let Ok(Some(services::events::Feed::Event(event))) = tokio::time::timeout(Duration::ZERO, live.next()).await {
        names.push(event.name.clone());
    }
    assert_eq!(names, ["message.new", "message.delta", "message.delta", "message.delta", "message.done"]);

    let usage = services.store.list_usage_events(room_id).await.unwrap();
    assert_eq!(usage.len(), 1);
    assert_eq!((usage[0].agent_id, usage[0].message_id), (Some(ada.id), Some(result.message.id)));
    assert_eq!((usage[0].provider.as_str(), usage[0].model.as_str()), ("openai", "gpt-4o-mini"));
    assert!(!usage[0].estimated);
    assert!(services.live_texts.get(result.message.id).is_none(), "nothing is left streaming");
}

async fn a_provider_failure_ends_the_message_failed_with_a_readable_error(db: Db) {
    let fake =
        FakeLlm::start(Reply::Status { status: 401, message: "bad key sk-live-123".into(), retry_after: None }).await;
    let services = services(db, &fake, &[("OPENAI_API_KEY", "sk-live-123")]).await;
    let room_id = room(&services, "Broken").await;
    agent(&services, room_id, "Ada").await;

    let outcome = run_turn(&services, turn(&services, room_id, None).await, &StopSignal::new()).await.unwrap();
    let TurnOutcome::Spoke(result) = outcome else { panic!("the turn ended") };
    assert_eq!(result.message.status, MessageStatus::Failed);
    let error = result.message.error.clone().unwrap();
    assert!(error.contains("401"), "{error}");
    let stored = services.store.get_message(result.message.id).await.unwrap().unwrap();
    assert_eq!(stored.status, MessageStatus::Failed);
    assert_eq!(fake.request_count(), 1, "a 401 is not retried");
}

async fn a_stopped_turn_keeps_its_partial_text_and_hangs_up(db: Db) {
    // After the first word the others are held back: a stop can only cut the reply short.
    let slow = Reply::words("one two three four five six seven eight").with_token_delay(Duration::from_secs(5));
    let fake = FakeLlm::start(slow).await;
    let services = services(db, &fake, &[]).await;
    let room_id = room(&services, "Slow").await;
    agent(&services, room_id, "Ada").await;
    let mut live = services.events.subscribe(room_id, None).await.unwrap();

    let stop = StopSignal::new();
    let turn = turn(&services, room_id, None).await;
    let running = tokio::spawn({
        let (services, stop) = (services.services.clone(), stop.clone());
        async move { run_turn(&services, turn, &stop).await }
    });
    assert!(matches!(next_event(&mut live, Duration::from_secs(5)).await, RoomEvent::MessageNew(_)));
    assert!(matches!(next_event(&mut live, Duration::from_secs(5)).await, RoomEvent::MessageDelta(_)));
    stop.stop(MessageStatus::Stopped);
    let TurnOutcome::Spoke(result) = running.await.unwrap().unwrap() else { panic!("the turn ended") };
    assert_eq!(result.message.status, MessageStatus::Stopped);
    assert!(result.message.content.starts_with("one"), "{}", result.message.content);
    assert!(!result.message.content.contains("eight"));
    assert!(fake.wait_for_hang_ups(1, Duration::from_secs(10)).await, "the provider saw the hang-up");
    eventually(Duration::from_secs(10), "the usage row", || async {
        services.store.list_usage_events(room_id).await.unwrap().len() == 1
    })
    .await;
}

async fn a_turn_that_cannot_fit_its_allowance_writes_nothing(db: Db) {
    let fake = FakeLlm::start(Reply::words("never")).await;
    let services = services(db, &fake, &[]).await;
    let room_id = room(&services, "Tight").await;
    agent(&services, room_id, "Ada").await;
    let outcome = run_turn(&services, turn(&services, room_id, Some(3)).await, &StopSignal::new()).await.unwrap();
    assert!(matches!(outcome, TurnOutcome::OverBudget));
    assert_eq!(fake.request_count(), 0);
    assert!(services.store.list_messages(room_id, None, 10).await.unwrap().messages.is_empty());
}

/// Makes the database refuse (or accept again) every write that ends a streaming message, as a
/// failing disk or a lost connection would, while other writes go through.
async fn refuse_final_writes(pool: &storage::DatabasePool, refuse: bool) {
    match (pool, refuse) {
        (storage::DatabasePool::Sqlite(pool), true) => {
            sqlx::query(
                "CREATE TRIGGER refuse_final_writes BEFORE UPDATE OF status ON messages \
                 WHEN NEW.status <> 'streaming' BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END",
            )
            .execute(pool)
            .await
            .unwrap();
        }
        (storage::DatabasePool::Sqlite(pool), false) => {
            sqlx::query("DROP TRIGGER refuse_final_writes").execute(pool).await.unwrap();
        }
        (storage::DatabasePool::Postgres(pool), true) => {
            sqlx::query(
                "CREATE FUNCTION refuse_final_writes() RETURNS trigger AS $$ \
                 BEGIN RAISE EXCEPTION 'could not write block: disk I/O error'; END $$ LANGUAGE plpgsql",
            )
            .execute(pool)
            .await
            .unwrap();
            sqlx::query(
                "CREATE TRIGGER refuse_final_writes BEFORE UPDATE OF status ON messages FOR EACH ROW \
                 WHEN (NEW.status <> 'streaming') EXECUTE FUNCTION refuse_final_writes()",
            )
            .execute(pool)
            .await
            .unwrap();
        }
        (storage::DatabasePool::Postgres(pool), false) => {
            sqlx::query("DROP TRIGGER refuse_final_writes ON messages").execute(pool).await.unwrap();
        }
    }
}

async fn a_final_write_the_database_refuses_for_a_while_is_retried_until_the_reply_ends(db: Db) {
    let fake = FakeLlm::start(Reply::words("Tea is ready")).await;
    let services = services(db, &fake, &[]).await;
    let room_id = room(&services, "Flaky disk").await;
    agent(&services, room_id, "Ada").await;
    let pool = services.store.pool();
    refuse_final_writes(&pool, true).await;

    let running = {
        let services: Services = (*services).clone();
        let turn = turn(&services, room_id, None).await;
        tokio::spawn(async move { run_turn(&services, turn, &StopSignal::new()).await })
    };
    // The reply has streamed in full and its final write is being refused.
    eventually(Duration::from_secs(10), "the provider to have answered", || async { fake.request_count() == 1 }).await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    let messages = services.store.list_messages(room_id, None, 10).await.unwrap();
    let streaming = messages.messages.iter().find(|m| m.sender_type == domain::rooms::SenderType::Agent).unwrap();
    assert_eq!(streaming.status, MessageStatus::Streaming, "the final write was refused so far");
    assert!(!running.is_finished(), "the turn keeps trying");

    refuse_final_writes(&pool, false).await;
    let outcome = tokio::time::timeout(Duration::from_secs(10), running).await.unwrap().unwrap().unwrap();
    let TurnOutcome::Spoke(result) = outcome else { panic!("the agent spoke") };
    assert_eq!((result.message.status, result.message.content.as_str()), (MessageStatus::Complete, "Tea is ready"));
    let stored = services.store.get_message(result.message.id).await.unwrap().unwrap();
    assert_eq!(stored.status, MessageStatus::Complete, "nothing is left streaming");
}

//! Auto-dialogue runs through the service layer alone: turn-taking to a limit, stopping at
//! once, refusals, and recovering what a crash left behind.

mod common;

use std::time::Duration;

use common::{agent, eventually, room, services, Db, TestServices};
use domain::rooms::{MessageStatus, SenderType};
use domain::runs::{RunStatus, StartRun, StopReason};
use domain::{ErrorCode, PublicError};
use fake_llm::{FakeLlm, Reply};
use services::{runs, Recovered};
use storage::{NewMessage, NewRun};
use uuid::Uuid;

on_both_databases!(
    a_run_alternates_its_agents_until_the_step_limit,
    stop_ends_a_run_at_once_even_mid_reply,
    bad_or_second_starts_are_refused,
    recovery_closes_what_a_crash_left,
);

fn limits(max_steps: i64, max_seconds: i64) -> StartRun {
    StartRun { max_steps, max_seconds, budget_tokens: None }
}

async fn run_status(services: &TestServices, room_id: Uuid, run_id: Uuid) -> RunStatus {
    runs::get_run(services, &services.admin, room_id, run_id).await.unwrap().status
}

async fn a_run_alternates_its_agents_until_the_step_limit(db: Db) {
    let fake = FakeLlm::start(Reply::words("my turn")).await;
    let services = services(db, &fake, &[]).await;
    let room_id = room(&services, "Debate").await;
    agent(&services, room_id, "Ada").await;
    agent(&services, room_id, "Bob").await;

    let started = runs::start(&services, &services.admin, room_id, limits(4, 30)).await.unwrap();
    eventually(Duration::from_secs(15), "the run to end", || async {
        run_status(&services, room_id, started.run_id).await != RunStatus::Running
    })
    .await;
    let run = runs::get_run(&services, &services.admin, room_id, started.run_id).await.unwrap();
    assert_eq!((run.status, run.stop_reason, run.steps), (RunStatus::Completed, Some(StopReason::MaxSteps), 4));
    assert_eq!(run.tokens_used, 4 * (17 + 2));
    let page = services.store.list_messages(room_id, None, 50).await.unwrap();
    let speakers: Vec<_> = page.messages.iter().map(|m| m.sender_name.as_str()).collect();
    assert_eq!(speakers, ["Ada", "Bob", "Ada", "Bob"]);
    assert!(page.messages.iter().all(|m| m.run_id == Some(run.id)));
    assert!(!services.runs.is_running(room_id));
    let latest = runs::latest_status(&services, room_id).await.unwrap().unwrap();
    assert_eq!((latest.status, latest.step), (RunStatus::Completed, 4));
}

async fn stop_ends_a_run_at_once_even_mid_reply(db: Db) {
    // Two hundred words, a second apart: a reply that would take minutes to finish.
    let words = "word ".repeat(200);
    let endless = Reply::words(&words).with_token_delay(Duration::from_secs(1));
    let fake = FakeLlm::start(endless).await;
    let services = services(db, &fake, &[]).await;
    let room_id = room(&services, "Stoppable").await;
    agent(&services, room_id, "Ada").await;
    agent(&services, room_id, "Bob").await;

    let started = runs::start(&services, &services.admin, room_id, limits(50, 600)).await.unwrap();
    eventually(Duration::from_secs(10), "the first tokens", || async {
        fake.requests().first().is_some_and(|r| !r.tokens_sent_at.is_empty())
    })
    .await;
    let stopped = runs::stop(&services, &services.admin, room_id).await.unwrap();
    // `stop` reports the run's own final status once its driver has ended.
    assert_eq!((stopped.run_id, stopped.status), (started.run_id, RunStatus::Stopped));
    assert!(!services.runs.is_running(room_id));
    let run = runs::get_run(&services, &services.admin, room_id, started.run_id).await.unwrap();
    assert_eq!(run.stop_reason, Some(StopReason::UserStop));
    let page = services.store.list_messages(room_id, None, 50).await.unwrap();
    let partial = page.messages.last().unwrap();
    assert_eq!(partial.status, MessageStatus::Stopped);
    assert!(partial.content.starts_with("word"), "the partial text is kept");
    // At once: the reply was cut off mid-stream, not waited for.
    assert!(partial.content.len() < words.trim_end().len(), "{}", partial.content);
    assert!(fake.wait_for_hang_ups(1, Duration::from_secs(10)).await, "the provider request was closed");
    assert!(fake.requests()[0].finished_at.is_none());
    assert_eq!(runs::stop(&services, &services.admin, room_id).await.unwrap_err().code(), ErrorCode::Conflict);
}

async fn bad_or_second_starts_are_refused(db: Db) {
    // A first turn that holds its second word back: the run is still going when started again.
    let fake = FakeLlm::start(Reply::words("hm hm").with_token_delay(Duration::from_secs(60))).await;
    let services = services(db, &fake, &[]).await;
    let room_id = room(&services, "Strict").await;
    agent(&services, room_id, "Ada").await;
    let lonely = runs::start(&services, &services.admin, room_id, limits(3, 10)).await.unwrap_err();
    assert_eq!(lonely.code(), ErrorCode::ValidationFailed);
    assert!(lonely.public_message().contains("at least 2 active agents"), "{}", lonely.public_message());
    agent(&services, room_id, "Bob").await;

    for bad in [limits(0, 10), limits(501, 10), limits(3, 0), limits(3, 3601)] {
        assert_eq!(
            runs::start(&services, &services.admin, room_id, bad).await.unwrap_err().code(),
            ErrorCode::ValidationFailed
        );
    }
    let broke = StartRun { budget_tokens: Some(0), ..limits(3, 10) };
    assert_eq!(
        runs::start(&services, &services.admin, room_id, broke).await.unwrap_err().code(),
        ErrorCode::ValidationFailed
    );
    assert_eq!(
        runs::start(&services, &services.admin, Uuid::now_v7(), limits(3, 10)).await.unwrap_err().code(),
        ErrorCode::NotFound
    );

    runs::start(&services, &services.admin, room_id, limits(3, 10)).await.unwrap();
    assert_eq!(
        runs::start(&services, &services.admin, room_id, limits(3, 10)).await.unwrap_err().code(),
        ErrorCode::Conflict
    );
    runs::stop(&services, &services.admin, room_id).await.unwrap();
}

async fn recovery_closes_what_a_crash_left(db: Db) {
    let fake = FakeLlm::start(Reply::words("ok")).await;
    let services = services(db, &fake, &[]).await;
    let room_id = room(&services, "Crashed").await;
    let ada = agent(&services, room_id, "Ada").await;
    // What a process killed mid-run leaves: a run marked running and a message mid-stream.
    let run = services
        .store
        .create_run(NewRun { room_id, max_steps: 5, max_seconds: 60, budget_tokens: None, started_by: None })
        .await
        .unwrap();
    let streaming = services
        .store
        .insert_message(NewMessage {
            room_id,
            sender_type: SenderType::Agent,
            sender_id: Some(ada.id),
            sender_name: ada.name.clone(),
            content: String::new(),
            content_html: None,
            status: MessageStatus::Streaming,
            model: Some("gpt-4o-mini".into()),
            selection_reason: None,
            run_id: Some(run.id),
        })
        .await
        .unwrap();
    services.store.save_streaming_text(streaming.id, "half a thou").await.unwrap();

    let recovered = services::recovery::recover(&services).await.unwrap();
    assert_eq!(recovered, Recovered { interrupted_messages: 1, closed_runs: 1 });
    let message = services.store.get_message(streaming.id).await.unwrap().unwrap();
    assert_eq!((message.status, message.content.as_str()), (MessageStatus::Interrupted, "half a thou"));
    let closed = runs::get_run(&services, &services.admin, room_id, run.id).await.unwrap();
    assert_eq!((closed.status, closed.stop_reason), (RunStatus::Stopped, Some(StopReason::ServerRestart)));
    assert_eq!(
        services::recovery::recover(&services).await.unwrap(),
        Recovered::default(),
        "a second recovery finds nothing"
    );
}

//! The limits on spending, through the service layer alone: allowed models, generations in
//! flight, runs per person, one waiting reply per room, agents per room, daily token budgets and
//! write rates, against a fake provider over real HTTP.

mod common;

use std::net::IpAddr;
use std::time::Duration;

use chrono::{Days, Utc};
use common::{agent, eventually, person, room, services, Db};
use domain::accounts::Signup;
use domain::events::RoomEvent;
use domain::rooms::{
    CreateAgent, CreateRoom, Message, MessageStatus, PostMessage, RoomMode, RoomVisibility, SenderType, UpdateAgent,
    UpdateRoom,
};
use domain::runs::{RunStatus, StartRun, StopReason};
use domain::{ErrorCode, PublicError};
use fake_llm::{FakeLlm, Gate, Reply};
use services::client::with_client;
use services::{accounts, rooms, runs, Actor, Services, ServicesConfig};
use settings::Env;
use uuid::Uuid;

on_both_databases!(
    models_off_the_list_are_refused_and_fail_their_turn,
    at_most_the_configured_generations_are_in_flight,
    a_turn_waiting_for_a_slot_stops_at_once_and_the_demo_model_never_waits,
    a_person_may_have_only_so_many_runs_going,
    a_burst_of_posts_is_answered_once_after_the_newest,
    a_waiting_reply_gives_up_at_stop_and_at_shutdown,
    inactive_agents_count_towards_the_room_cap,
    the_daily_budget_stops_replies_and_runs_until_the_day_turns,
    guests_share_one_daily_budget,
    writes_are_limited_per_person,
    writes_are_limited_per_address,
);

const WAIT: Duration = Duration::from_secs(20);

fn post(content: &str) -> PostMessage {
    PostMessage { content: content.to_owned() }
}

fn agent_input(name: &str, model: &str) -> CreateAgent {
    CreateAgent {
        name: name.to_owned(),
        model: model.to_owned(),
        system_prompt: String::new(),
        temperature: 0.5,
        tools: Vec::new(),
    }
}

fn run_limits(max_steps: i64) -> StartRun {
    StartRun { max_steps, max_seconds: 60, budget_tokens: None }
}

async fn messages(services: &Services, room_id: Uuid) -> Vec<Message> {
    services.store.list_messages(room_id, None, 200).await.unwrap().messages
}

/// Waits until the room holds `count` agent messages that are no longer streaming; returns the
/// agents' messages.
async fn finished_agent_messages(services: &Services, room_id: Uuid, count: usize) -> Vec<Message> {
    eventually(WAIT, "the agents' replies", || async {
        let finished = messages(services, room_id)
            .await
            .into_iter()
            .filter(|m| m.sender_type == SenderType::Agent && m.status != MessageStatus::Streaming)
            .count();
        finished >= count
    })
    .await;
    messages(services, room_id).await.into_iter().filter(|m| m.sender_type == SenderType::Agent).collect()
}

/// Waits until no reply or run is left working in the background.
async fn settled(services: &Services) {
    eventually(WAIT, "background work to finish", || async { services.tasks.is_empty() }).await;
}

async fn models_off_the_list_are_refused_and_fail_their_turn(db: Db) {
    let fake = FakeLlm::start(Reply::words("never sent")).await;
    let services = services(db, &fake, &[("LLM_ALLOWED_MODELS", "demo, gpt-4o-mini, azure:*")]).await;
    let admin = &services.admin;
    let room_id = room(&services, "Models").await;

    let refused = rooms::create_agent(&services, admin, room_id, agent_input("Opus", "gpt-4o")).await.unwrap_err();
    assert_eq!((refused.code(), refused.http_status()), (ErrorCode::ModelNotAllowed, 422));
    let message = refused.public_message();
    assert!(message.contains("gpt-4o ") && message.contains("demo,gpt-4o-mini,azure:*"), "{message}");
    assert!(message.contains("LLM_ALLOWED_MODELS"), "{message}");
    // Another spelling of the same model is the same model.
    let respelled = rooms::create_agent(&services, admin, room_id, agent_input("Opus", "openai:gpt-4o")).await;
    assert_eq!(respelled.unwrap_err().code(), ErrorCode::ModelNotAllowed);

    let ada = rooms::create_agent(&services, admin, room_id, agent_input("Ada", "gpt-4o-mini")).await.unwrap();
    let change = UpdateAgent { model: Some("gpt-4.1".into()), ..UpdateAgent::default() };
    let refused = rooms::update_agent(&services, admin, room_id, ada.id, change).await.unwrap_err();
    assert_eq!(refused.code(), ErrorCode::ModelNotAllowed);
    let rename = UpdateAgent { name: Some("Ada Lovelace".into()), ..UpdateAgent::default() };
    rooms::update_agent(&services, admin, room_id, ada.id, rename).await.expect("other edits need no model check");
    assert_eq!(services.store.list_agents(room_id).await.unwrap()[0].model, "gpt-4o-mini");

    // The operator narrows the list and restarts: the agent made under the old list fails its
    // turn with a readable error, and the provider is never asked.
    let base = fake.base_url();
    let vars = [("OPENAI_BASE_URL", base.as_str()), ("LLM_ALLOWED_MODELS", "demo")];
    let narrower = ServicesConfig::from_env(&Env::from_pairs(&vars)).unwrap();
    let restarted = Services::new(narrower, services.store.clone()).unwrap();
    rooms::post_message(&restarted, admin, room_id, post("Anyone there?")).await.unwrap();
    let replies = finished_agent_messages(&restarted, room_id, 1).await;
    assert_eq!(replies[0].status, MessageStatus::Failed);
    let error = replies[0].error.clone().unwrap_or_default();
    assert!(error.contains("gpt-4o-mini") && error.contains("not allowed"), "{error}");
    settled(&restarted).await;
    assert_eq!(fake.request_count(), 0);
    assert!(services.store.list_usage_events(room_id).await.unwrap().is_empty());
}

async fn at_most_the_configured_generations_are_in_flight(db: Db) {
    // Every reply is held back until the gate opens, so replies asked for together overlap.
    let gate = Gate::new();
    let fake = FakeLlm::start(Reply::words("one two three").held_by(&gate)).await;
    let services = services(db, &fake, &[("LLM_MAX_CONCURRENT", "2")]).await;
    let mut room_ids = Vec::new();
    for i in 0..5 {
        let room_id = room(&services, &format!("Room {i}")).await;
        agent(&services, room_id, "Ada").await;
        room_ids.push(room_id);
    }
    for room_id in &room_ids {
        rooms::post_message(&services, &services.admin, *room_id, post("Go")).await.unwrap();
    }
    // Every turn has begun (its message is written), but only two reached the provider; the
    // other three wait for a slot.
    eventually(WAIT, "every turn to begin", || async {
        let mut begun = 0;
        for room_id in &room_ids {
            begun += messages(&services, *room_id).await.iter().filter(|m| m.sender_type == SenderType::Agent).count();
        }
        begun == 5
    })
    .await;
    eventually(WAIT, "two requests", || async { fake.request_count() == 2 }).await;
    assert_eq!(services.models.free_generation_slots(), 0);
    assert_eq!(fake.request_count(), 2, "the slots are taken: no third request");

    gate.open();
    for room_id in &room_ids {
        let replies = finished_agent_messages(&services, *room_id, 1).await;
        assert_eq!(replies[0].status, MessageStatus::Complete);
    }
    let requests = fake.requests();
    assert_eq!(requests.len(), 5);
    // By the provider's own record: when each request arrived, how many were begun and unfinished.
    let in_flight_at_arrivals: Vec<usize> = requests
        .iter()
        .map(|arrival| {
            requests
                .iter()
                .filter(|r| {
                    r.received_at <= arrival.received_at && r.finished_at.expect("finished") > arrival.received_at
                })
                .count()
        })
        .collect();
    assert_eq!(in_flight_at_arrivals.iter().max(), Some(&2), "{in_flight_at_arrivals:?}");
    settled(&services).await;
    assert_eq!(services.models.free_generation_slots(), 2, "every slot was given back");
}

async fn a_turn_waiting_for_a_slot_stops_at_once_and_the_demo_model_never_waits(db: Db) {
    let fake = FakeLlm::start(Reply::Hang).await;
    let services = services(db, &fake, &[("LLM_MAX_CONCURRENT", "1"), ("DEMO_TOKEN_DELAY_MS", "0")]).await;
    let admin = &services.admin;
    // A reply that never ends holds the only slot.
    let busy = room(&services, "Busy").await;
    agent(&services, busy, "Ada").await;
    rooms::post_message(&services, admin, busy, post("Take your time")).await.unwrap();
    eventually(WAIT, "the slot to be taken", || async { fake.request_count() == 1 }).await;
    assert_eq!(services.models.free_generation_slots(), 0);

    // The demo model costs nothing and needs no slot.
    let free = room(&services, "Free").await;
    rooms::create_agent(&services, admin, free, agent_input("Dee", "demo")).await.unwrap();
    rooms::post_message(&services, admin, free, post("Hello")).await.unwrap();
    let replies = finished_agent_messages(&services, free, 1).await;
    assert_eq!((replies[0].status, replies[0].model.as_deref()), (MessageStatus::Complete, Some("demo")));

    // A run's turn waits for the slot; stopping the run ends the wait at once.
    let waiting = room(&services, "Waiting").await;
    agent(&services, waiting, "Bob").await;
    agent(&services, waiting, "Cy").await;
    let started = runs::start(&services, admin, waiting, run_limits(5)).await.unwrap();
    eventually(WAIT, "the run's turn to wait", || async {
        messages(&services, waiting).await.iter().any(|m| m.status == MessageStatus::Streaming)
    })
    .await;
    let stopped = runs::stop(&services, admin, waiting).await.unwrap();
    assert_eq!(stopped.status, RunStatus::Stopped);
    let run = runs::get_run(&services, admin, waiting, started.run_id).await.unwrap();
    assert_eq!(run.stop_reason, Some(StopReason::UserStop));
    let turn = finished_agent_messages(&services, waiting, 1).await;
    assert_eq!((turn[0].status, turn[0].tokens_in), (MessageStatus::Stopped, None), "nothing was used");
    assert_eq!(fake.request_count(), 1, "the provider was never asked");
    assert!(services.store.list_usage_events(waiting).await.unwrap().is_empty());
}

async fn a_person_may_have_only_so_many_runs_going(db: Db) {
    // Turns never end, so runs stay going until stopped.
    let fake = FakeLlm::start(Reply::Hang).await;
    let services = services(db, &fake, &[("RUNS_MAX_PER_USER", "1")]).await;
    let admin = &services.admin;
    let mut room_ids = Vec::new();
    for name in ["First", "Second"] {
        let room_id = room(&services, name).await;
        agent(&services, room_id, "Ada").await;
        agent(&services, room_id, "Bob").await;
        room_ids.push(room_id);
    }
    runs::start(&services, admin, room_ids[0], run_limits(5)).await.unwrap();
    let refused = runs::start(&services, admin, room_ids[1], run_limits(5)).await.unwrap_err();
    assert_eq!((refused.code(), refused.http_status()), (ErrorCode::QuotaExceeded, 429));
    assert!(refused.public_message().contains("RUNS_MAX_PER_USER"), "{}", refused.public_message());
    assert!(services.store.running_run(room_ids[1]).await.unwrap().is_none(), "nothing was recorded");

    // Someone else has an allowance of their own.
    let bob = person(&services, "Bob Builder").await;
    let input = CreateRoom {
        name: "Bob's".into(),
        mode: RoomMode::Auto,
        visibility: RoomVisibility::Private,
        run_limits: Default::default(),
    };
    let bobs = rooms::create_room(&services, &bob, input).await.unwrap().id;
    for name in ["Dee", "Eve"] {
        rooms::create_agent(&services, &bob, bobs, agent_input(name, "gpt-4o-mini")).await.unwrap();
    }
    runs::start(&services, &bob, bobs, run_limits(5)).await.unwrap();

    // Once the first run is stopped, another may start.
    runs::stop(&services, admin, room_ids[0]).await.unwrap();
    runs::start(&services, admin, room_ids[1], run_limits(5)).await.unwrap();
}

async fn a_burst_of_posts_is_answered_once_after_the_newest(db: Db) {
    let fake = FakeLlm::start(Reply::words("Got it")).await;
    // The first answer is held back: the burst arrives while it is being written.
    let gate = Gate::new();
    fake.script([Reply::words("First answer").held_by(&gate)]);
    let services = services(db, &fake, &[]).await;
    let room_id = room(&services, "Busy").await;
    agent(&services, room_id, "Ada").await;

    rooms::post_message(&services, &services.admin, room_id, post("message 1")).await.unwrap();
    eventually(WAIT, "the first answer to begin", || async { fake.request_count() == 1 }).await;
    for n in 2..=5 {
        rooms::post_message(&services, &services.admin, room_id, post(&format!("message {n}"))).await.unwrap();
    }
    assert!(services.queued_replies.is_queued(room_id), "one reply waits for its turn");
    gate.open();

    let replies = finished_agent_messages(&services, room_id, 2).await;
    settled(&services).await;
    let requests = fake.requests();
    assert_eq!(requests.len(), 2, "five posts, two answers");
    let contents: Vec<&str> = replies.iter().map(|m| m.content.as_str()).collect();
    assert_eq!(contents, ["First answer", "Got it"]);
    // The second answer was asked for after the newest post.
    let said = requests[1].body["messages"].as_array().unwrap().last().unwrap()["content"].as_str().unwrap().to_owned();
    assert!(said.ends_with("message 5"), "{said}");
    assert!(!services.queued_replies.is_queued(room_id));
}

async fn a_waiting_reply_gives_up_at_stop_and_at_shutdown(db: Db) {
    let fake = FakeLlm::start(Reply::words("Never needed")).await;
    let first = Gate::new();
    fake.script([Reply::words("Slow answer").held_by(&first)]);
    let services = services(db, &fake, &[]).await;
    let admin = &services.admin;
    let room_id = room(&services, "Stoppable").await;
    agent(&services, room_id, "Ada").await;
    agent(&services, room_id, "Bob").await;

    rooms::post_message(&services, admin, room_id, post("first")).await.unwrap();
    eventually(WAIT, "the first answer to begin", || async { fake.request_count() == 1 }).await;
    rooms::post_message(&services, admin, room_id, post("second")).await.unwrap();
    assert!(services.queued_replies.is_queued(room_id));
    // A run started now waits behind them; stopping it quiets the room, the waiting reply too.
    let started = runs::start(&services, admin, room_id, run_limits(5)).await.unwrap();
    runs::stop(&services, admin, room_id).await.unwrap();
    assert!(!services.queued_replies.is_queued(room_id));
    first.open();
    finished_agent_messages(&services, room_id, 1).await;
    settled(&services).await;
    assert_eq!(fake.request_count(), 1, "neither the waiting reply nor the run spoke");
    let run = runs::get_run(&services, admin, room_id, started.run_id).await.unwrap();
    assert_eq!((run.stop_reason, run.steps), (Some(StopReason::UserStop), 0));

    // Stop answers that no run is going, yet still drops a reply waiting for its turn.
    let second = Gate::new();
    fake.script([Reply::words("Held again").held_by(&second)]);
    rooms::post_message(&services, admin, room_id, post("third")).await.unwrap();
    eventually(WAIT, "the next answer to begin", || async { fake.request_count() == 2 }).await;
    rooms::post_message(&services, admin, room_id, post("fourth")).await.unwrap();
    assert!(services.queued_replies.is_queued(room_id));
    let no_run = runs::stop(&services, admin, room_id).await.unwrap_err();
    assert_eq!(no_run.code(), ErrorCode::Conflict);
    assert!(!services.queued_replies.is_queued(room_id));
    second.open();
    finished_agent_messages(&services, room_id, 2).await;
    settled(&services).await;
    assert_eq!(fake.request_count(), 2, "the dropped reply never asked");

    // At shutdown a waiting reply gives up as well.
    fake.script([Reply::words("Cut short").held_by(&Gate::new())]);
    rooms::post_message(&services, admin, room_id, post("fifth")).await.unwrap();
    eventually(WAIT, "the next answer to begin", || async { fake.request_count() == 3 }).await;
    rooms::post_message(&services, admin, room_id, post("sixth")).await.unwrap();
    assert!(services.queued_replies.is_queued(room_id));
    services.shutdown.cancel();
    settled(&services).await;
    assert_eq!(fake.request_count(), 3, "the waiting reply never asked");
    let cut = finished_agent_messages(&services, room_id, 3).await.pop().unwrap();
    assert_eq!((cut.content.as_str(), cut.status), ("", MessageStatus::Interrupted));
}

async fn inactive_agents_count_towards_the_room_cap(db: Db) {
    let fake = FakeLlm::start(Reply::words("ok")).await;
    let services = services(db, &fake, &[("MAX_AGENTS_PER_ROOM", "3")]).await;
    let admin = &services.admin;
    let room_id = room(&services, "Crowded").await;
    let ada = agent(&services, room_id, "Ada").await;
    agent(&services, room_id, "Bob").await;
    agent(&services, room_id, "Cy").await;
    let retire = UpdateAgent { is_active: Some(false), ..UpdateAgent::default() };
    rooms::update_agent(&services, admin, room_id, ada.id, retire).await.unwrap();

    let refused = rooms::create_agent(&services, admin, room_id, agent_input("Dee", "gpt-4o-mini")).await.unwrap_err();
    assert_eq!((refused.code(), refused.http_status()), (ErrorCode::LimitReached, 422));
    let message = refused.public_message();
    assert!(message.contains("at most 3 agents") && message.contains("MAX_AGENTS_PER_ROOM"), "{message}");
    assert_eq!(services.store.list_agents(room_id).await.unwrap().len(), 3);
    // The cap is per room.
    let other = room(&services, "Quiet").await;
    agent(&services, other, "Dee").await;
}

async fn the_daily_budget_stops_replies_and_runs_until_the_day_turns(db: Db) {
    // Every reply reports 17 prompt and 3 reply tokens: one reply spends a budget of 20.
    let fake = FakeLlm::start(Reply::words("one two three")).await;
    let services = services(db, &fake, &[("USER_DAILY_TOKENS", "20")]).await;
    let admin = &services.admin;
    let today = Utc::now();
    services.clock.set(Some(today));
    let room_id = room(&services, "Budget").await;
    agent(&services, room_id, "Ada").await;
    agent(&services, room_id, "Bob").await;

    rooms::post_message(&services, admin, room_id, post("first")).await.unwrap();
    finished_agent_messages(&services, room_id, 1).await;
    settled(&services).await;
    // With the budget spent, a post an agent would answer is refused, and nothing is stored.
    let refused = rooms::post_message(&services, admin, room_id, post("second")).await.unwrap_err();
    assert_eq!((refused.code(), refused.http_status()), (ErrorCode::QuotaExceeded, 429));
    assert!(refused.retry_after().is_some_and(|s| (1..=86_400).contains(&s)), "{:?}", refused.retry_after());
    let message = refused.public_message();
    assert!(message.contains("USER_DAILY_TOKENS") && message.contains("resets at 00:00 UTC"), "{message}");
    assert_eq!(messages(&services, room_id).await.len(), 2);
    assert_eq!(fake.request_count(), 1, "a spent budget sends nothing");
    // Nor may a run start on a spent budget.
    let refused = runs::start(&services, admin, room_id, run_limits(5)).await.unwrap_err();
    assert_eq!((refused.code(), refused.http_status()), (ErrorCode::QuotaExceeded, 429));
    assert!(refused.public_message().contains("USER_DAILY_TOKENS"), "{}", refused.public_message());
    // Agents on the demo model cost nothing: a room of them still answers.
    let free = room(&services, "Free").await;
    rooms::create_agent(&services, admin, free, agent_input("Dee", "demo")).await.unwrap();
    rooms::post_message(&services, admin, free, post("still here?")).await.unwrap();
    assert_eq!(finished_agent_messages(&services, free, 1).await[0].model.as_deref(), Some("demo"));

    // A new UTC day, a new budget. A reply is held back while a second post waits for its
    // turn; the first reply spends the day's budget, so the waiting one is not made and the
    // room is told why, live.
    services.clock.set(Some(today.checked_add_days(Days::new(1)).unwrap()));
    let gate = Gate::new();
    fake.script([Reply::words("one two three").held_by(&gate)]);
    rooms::post_message(&services, admin, room_id, post("third")).await.unwrap();
    eventually(WAIT, "the answer to begin", || async { fake.request_count() == 2 }).await;
    rooms::post_message(&services, admin, room_id, post("fourth")).await.unwrap();
    let mut live = services.events.subscribe(room_id, None).await.unwrap();
    gate.open();
    finished_agent_messages(&services, room_id, 2).await;
    settled(&services).await;
    assert_eq!(fake.request_count(), 2, "the waiting reply was not made");
    let notice = messages(&services, room_id).await.pop().unwrap();
    assert_eq!((notice.sender_type, notice.sender_name.as_str()), (SenderType::System, "System"));
    for part in ["Ada Admin's daily token budget", "20 tokens a day, USER_DAILY_TOKENS", "resets at 00:00 UTC"] {
        assert!(notice.content.contains(part), "{part}: {}", notice.content);
    }
    let mut announced = false;
    while let Ok(Some(services::events::Feed::Event(event))) = tokio::time::timeout(Duration::ZERO, live.next()).await {
        if let Some(RoomEvent::MessageNew(message)) = RoomEvent::decode(&event.name, &event.data) {
            announced |= message.id == notice.id;
        }
    }
    assert!(announced, "the notice was announced live");

    // A run's turns count against whoever started it: its first turn spends the day's budget and
    // the run ends before a second, saying why.
    services.clock.set(Some(today.checked_add_days(Days::new(2)).unwrap()));
    let started = runs::start(&services, admin, room_id, run_limits(5)).await.unwrap();
    settled(&services).await;
    let run = runs::get_run(&services, admin, room_id, started.run_id).await.unwrap();
    assert_eq!((run.stop_reason, run.steps), (Some(StopReason::BudgetTokens), 1));
    assert_eq!(fake.request_count(), 3);
    let notice = messages(&services, room_id).await.pop().unwrap();
    assert_eq!((notice.sender_type, notice.run_id), (SenderType::System, Some(started.run_id)));
    let usage = services.store.list_usage_events(room_id).await.unwrap();
    assert_eq!(usage.len(), 3);
    assert!(usage.iter().all(|u| u.user_id == admin.user_id()), "{usage:?}");
}

async fn guests_share_one_daily_budget(db: Db) {
    // Two words: 17 prompt and 2 reply tokens.
    let fake = FakeLlm::start(Reply::words("hello guest")).await;
    let services = services(db, &fake, &[("GUEST_ACCESS", "send"), ("GUEST_DAILY_TOKENS", "19")]).await;
    let room_id = room(&services, "Demo").await;
    let demo = UpdateRoom { visibility: Some(RoomVisibility::Demo), ..UpdateRoom::default() };
    rooms::update_room(&services, &services.admin, room_id, demo).await.unwrap();
    agent(&services, room_id, "Ada").await;

    rooms::post_message(&services, &Actor::Guest, room_id, post("hi")).await.unwrap();
    finished_agent_messages(&services, room_id, 1).await;
    settled(&services).await;
    assert_eq!(services.store.list_usage_events(room_id).await.unwrap()[0].user_id, None, "billed to the guests");
    let refused = rooms::post_message(&services, &Actor::Guest, room_id, post("again")).await.unwrap_err();
    assert_eq!((refused.code(), refused.http_status()), (ErrorCode::QuotaExceeded, 429));
    let message = refused.public_message();
    assert!(message.contains("guests share") && message.contains("GUEST_DAILY_TOKENS"), "{message}");
    assert_eq!(fake.request_count(), 1);

    // A signed-in person in the same room pays from their own budget.
    rooms::post_message(&services, &services.admin, room_id, post("my turn")).await.unwrap();
    finished_agent_messages(&services, room_id, 2).await;
    assert_eq!(fake.request_count(), 2);
}

async fn writes_are_limited_per_person(db: Db) {
    let fake = FakeLlm::start(Reply::words("ok")).await;
    let services = services(db, &fake, &[("WRITE_RATE_PER_MINUTE", "3")]).await;
    let admin = &services.admin;
    let room_id = room(&services, "One").await;
    let ada = agent(&services, room_id, "Ada").await;
    rooms::post_message(&services, admin, room_id, post("three writes")).await.unwrap();

    let fourth = rooms::post_message(&services, admin, room_id, post("a fourth")).await.unwrap_err();
    assert_eq!((fourth.code(), fourth.http_status()), (ErrorCode::RateLimited, 429));
    assert_eq!(fourth.retry_after(), Some(20), "three a minute: one more after 20 seconds");
    assert!(fourth.public_message().contains("WRITE_RATE_PER_MINUTE"), "{}", fourth.public_message());
    let input = CreateRoom {
        name: "Two".into(),
        mode: RoomMode::Manual,
        visibility: RoomVisibility::Private,
        run_limits: Default::default(),
    };
    assert_eq!(rooms::create_room(&services, admin, input.clone()).await.unwrap_err().code(), ErrorCode::RateLimited);
    let refused = rooms::create_agent(&services, admin, room_id, agent_input("Bob", "gpt-4o-mini")).await;
    assert_eq!(refused.unwrap_err().code(), ErrorCode::RateLimited);
    assert_eq!(runs::start(&services, admin, room_id, run_limits(1)).await.unwrap_err().code(), ErrorCode::RateLimited);
    let rename = UpdateAgent { name: Some("Ada Lovelace".into()), ..UpdateAgent::default() };
    let refused = rooms::update_agent(&services, admin, room_id, ada.id, rename).await;
    assert_eq!(refused.unwrap_err().code(), ErrorCode::RateLimited);
    let rename = UpdateRoom { name: Some("Uno".into()), ..UpdateRoom::default() };
    assert_eq!(rooms::update_room(&services, admin, room_id, rename).await.unwrap_err().code(), ErrorCode::RateLimited);
    // Reading is not writing.
    rooms::list_messages(&services, admin, room_id, None, None).await.unwrap();
    // Waiting as told is enough.
    services.rate_clock.advance(Duration::from_secs(20));
    rooms::post_message(&services, admin, room_id, post("after a wait")).await.unwrap();

    // Someone else writes on their own allowance.
    let bob = person(&services, "Bob Builder").await;
    rooms::create_room(&services, &bob, input).await.unwrap();
}

async fn writes_are_limited_per_address(db: Db) {
    let fake = FakeLlm::start(Reply::words("ok")).await;
    let services = services(db, &fake, &[("WRITE_RATE_PER_ADDRESS_PER_MINUTE", "2")]).await;
    let signup = |name: &str| Signup {
        email: format!("{}@example.com", name.to_lowercase()),
        password: "correct horse battery".into(),
        name: name.into(),
    };
    let from = |address: &str| Some(address.parse::<IpAddr>().unwrap());

    with_client(from("192.0.2.1"), accounts::signup(&services, signup("One"))).await.unwrap();
    with_client(from("192.0.2.1"), accounts::signup(&services, signup("Two"))).await.unwrap();
    let refused = with_client(from("192.0.2.1"), accounts::signup(&services, signup("Three"))).await.unwrap_err();
    assert_eq!((refused.code(), refused.http_status()), (ErrorCode::RateLimited, 429));
    assert!(refused.public_message().contains("WRITE_RATE_PER_ADDRESS_PER_MINUTE"), "{}", refused.public_message());
    with_client(from("192.0.2.2"), accounts::signup(&services, signup("Three"))).await.unwrap();

    // A signed-in person's writes count against their address as well.
    let admin = &services.admin;
    let input = || CreateRoom {
        name: "Room".into(),
        mode: RoomMode::Manual,
        visibility: RoomVisibility::Private,
        run_limits: Default::default(),
    };
    with_client(from("192.0.2.2"), rooms::create_room(&services, admin, input())).await.unwrap();
    let refused = with_client(from("192.0.2.2"), rooms::create_room(&services, admin, input())).await.unwrap_err();
    assert_eq!(refused.code(), ErrorCode::RateLimited);

    // IPv6 clients are counted by their /64.
    with_client(from("2001:db8:7:1::1"), accounts::signup(&services, signup("Four"))).await.unwrap();
    with_client(from("2001:db8:7:1::2"), accounts::signup(&services, signup("Five"))).await.unwrap();
    let refused = with_client(from("2001:db8:7:1:ffff::3"), accounts::signup(&services, signup("Six"))).await;
    assert_eq!(refused.unwrap_err().code(), ErrorCode::RateLimited);
    with_client(from("2001:db8:7:2::1"), accounts::signup(&services, signup("Six"))).await.unwrap();
}

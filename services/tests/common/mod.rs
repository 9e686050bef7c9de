//! Shared set-up for the service layer's tests: the services on a fresh database of either
//! backend, speaking to a fake provider over real HTTP, with no web layer and no control plane.
#![allow(dead_code)]

use std::time::Duration;

use domain::accounts::Signup;
use domain::events::RoomEvent;
use domain::rooms::{Agent, CreateAgent, CreateRoom, RoomMode, RoomVisibility};
use fake_llm::FakeLlm;
use services::events::{Feed, Subscription};
use services::{rooms, Actor, Principal, Services, ServicesConfig};
use settings::Env;
use storage::testing::TestDatabase;
use uuid::Uuid;

#[derive(Clone, Copy, Debug)]
pub enum Db {
    Sqlite,
    Postgres,
}

pub struct TestServices {
    pub services: Services,
    /// The first account: an admin, who may do anything in any room.
    pub admin: Actor,
    _database: TestDatabase,
}

impl std::ops::Deref for TestServices {
    type Target = Services;

    fn deref(&self) -> &Services {
        &self.services
    }
}

impl Drop for TestServices {
    fn drop(&mut self) {
        // Background replies and runs end with their test.
        self.services.shutdown.cancel();
    }
}

/// The service layer on a fresh database, its OpenAI-compatible provider being `fake`.
pub async fn services(db: Db, fake: &FakeLlm, extra: &[(&str, &str)]) -> TestServices {
    let database = match db {
        Db::Sqlite => storage::testing::fresh_sqlite().await,
        Db::Postgres => storage::testing::fresh_postgres().await,
    };
    let base = fake.base_url();
    let mut vars = vec![("OPENAI_BASE_URL", base.as_str()), ("LLM_MAX_RETRIES", "0")];
    vars.extend_from_slice(extra);
    let config = ServicesConfig::from_env(&Env::from_pairs(&vars)).expect("test configuration");
    let services = Services::new(config, database.store.clone()).expect("the services");
    // No rate-limit allowance refills while a test runs, however slowly it runs.
    services.rate_clock.pause();
    let admin = person(&services, "Ada Admin").await;
    TestServices { services, admin, _database: database }
}

/// A new account; the first one made on a database is its admin.
pub async fn person(services: &Services, name: &str) -> Actor {
    let signup = Signup {
        email: format!("{}@example.com", name.to_lowercase().replace(' ', ".")),
        password: "correct horse battery".into(),
        name: name.into(),
    };
    let user = services::accounts::signup(services, signup).await.expect("an account");
    Actor::Person(Principal::from(&user))
}

pub async fn room(services: &TestServices, name: &str) -> Uuid {
    let input = CreateRoom {
        name: name.to_owned(),
        mode: RoomMode::Manual,
        visibility: RoomVisibility::Private,
        run_limits: Default::default(),
    };
    rooms::create_room(services, &services.admin, input).await.expect("a room").id
}

pub async fn agent(services: &TestServices, room_id: Uuid, name: &str) -> Agent {
    let input = CreateAgent {
        name: name.to_owned(),
        model: "gpt-4o-mini".to_owned(),
        system_prompt: format!("You are {name}."),
        temperature: 0.5,
        tools: Vec::new(),
    };
    rooms::create_agent(services, &services.admin, room_id, input).await.expect("an agent")
}

/// The next live event of a subscription, or a panic after `within`.
pub async fn next_event(subscription: &mut Subscription, within: Duration) -> RoomEvent {
    match tokio::time::timeout(within, subscription.next()).await {
        Ok(Some(Feed::Event(event))) => RoomEvent::decode(&event.name, &event.data).expect("a known event"),
        other => panic!("no event within {within:?}: {other:?}"),
    }
}

/// Waits until `check` holds, polling every 20 ms, or panics after `timeout`.
pub async fn eventually<F, Fut>(timeout: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Declares each test twice: on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! on_both_databases {
    ($($test:ident),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() { super::$test($crate::common::Db::Sqlite).await; }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() { super::$test($crate::common::Db::Postgres).await; }
            )+
        }
    };
}

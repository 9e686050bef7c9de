//! Two gateway instances on one control-plane folder and one Redis, as two server processes
//! behind a load balancer: a preview made on one is confirmed on the other, a confirm is
//! single-use across both, and a session, its pending cap and its rate limit are the same on
//! both. A Redis that does not answer fails the call closed.

use std::sync::Arc;
use std::time::Duration;

use domain::control_plane::{
    Channel, ConfirmRequest, PreviewRequest, PreviewResponse, MAX_PENDING_PREVIEWS_PER_SESSION,
};
use domain::PublicError;
use futures::future::join_all;
use gateway::{Gateway, GatewayConfig, GatewayError, Operator, RateLimit};
use uuid::Uuid;

const OPERATOR: Uuid = Uuid::from_u128(0x0ada);

/// The Redis server of the test run (`make test` starts a private one).
fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").expect(
        "TEST_REDIS_URL is not set: run the tests with `make test`, which starts a private Redis \
         (scripts/with-redis.sh), or point TEST_REDIS_URL at a Redis server",
    )
}

struct Pair {
    dir: tempfile::TempDir,
    a: Arc<Gateway>,
    b: Arc<Gateway>,
}

fn pair_with(configure: impl Fn(GatewayConfig) -> GatewayConfig, redis_url: &str) -> Pair {
    let dir = tempfile::tempdir().unwrap();
    let instance = |name: &str| {
        let config = configure(GatewayConfig {
            session_rate: RateLimit::new(100_000, 100_000),
            address_rate: RateLimit::new(100_000, 100_000),
            log_name: format!("gateway-{name}"),
            ..GatewayConfig::with_root(dir.path())
        });
        let client = redis::Client::open(redis_url).unwrap();
        Arc::new(Gateway::new(config).unwrap().share_sessions(client))
    };
    let (a, b) = (instance("a"), instance("b"));
    Pair { dir, a, b }
}

fn pair() -> Pair {
    pair_with(|config| config, &redis_url())
}

fn session() -> String {
    Uuid::new_v4().to_string()
}

async fn preview(gateway: &Gateway, session: &str, raw_input: &str) -> Result<PreviewResponse, GatewayError> {
    let request = PreviewRequest { raw_input: raw_input.into(), channel: Channel::Web, session_id: session.into() };
    gateway.preview(request, Operator::new(OPERATOR), None).await
}

fn confirm_request(session: &str, preview_id: &str) -> ConfirmRequest {
    ConfirmRequest { preview_id: preview_id.into(), session_id: session.into(), structured_override: None }
}

fn task_files(pair: &Pair) -> Vec<String> {
    let mut files = Vec::new();
    for folder in ["interface/inbox", "interface/pending_approval"] {
        let Ok(entries) = std::fs::read_dir(pair.dir.path().join(folder)) else { continue };
        files.extend(entries.map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned()));
    }
    files
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preview_made_on_one_instance_is_confirmed_on_the_other_once() {
    let pair = pair();
    let session = session();
    let previewed = preview(&pair.a, &session, "lisa run backup_db").await.unwrap();
    let operator = Operator::new(OPERATOR);

    // Instance b shows the same pending preview, with its time left.
    let shown = pair.b.pending_preview(&previewed.preview_id, &session, operator, None).await.unwrap();
    assert_eq!(shown.preview_id, previewed.preview_id);
    assert_eq!(shown.normalized_task, previewed.normalized_task);
    assert!(shown.ttl_seconds > 0 && shown.ttl_seconds <= previewed.ttl_seconds);

    let confirmed = pair.b.confirm(confirm_request(&session, &previewed.preview_id), operator, None).await.unwrap();
    let again = pair.a.confirm(confirm_request(&session, &previewed.preview_id), operator, None).await.unwrap_err();
    assert_eq!(again.code().as_str(), "PREVIEW_ALREADY_CONFIRMED");
    assert!(matches!(&again, GatewayError::PreviewAlreadyConfirmed { task_id: Some(id) } if *id == confirmed.task_id));
    // The task is the session's on both instances.
    let watched = pair.a.watch(&confirmed.task_id, &session, operator, None).await.unwrap();
    assert_eq!(watched.task_id, confirmed.task_id);
    let listed = pair.a.session_tasks(&session, operator, None).await.unwrap();
    assert_eq!(listed.tasks.iter().map(|t| t.task_id.as_str()).collect::<Vec<_>>(), [confirmed.task_id.as_str()]);
    assert_eq!(task_files(&pair), [format!("{}.yaml", confirmed.task_id)]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn simultaneous_confirms_on_both_instances_write_one_file() {
    let pair = pair();
    for round in 0..10 {
        let session = session();
        let raw_input = if round % 2 == 0 { "liam check status" } else { "lisa run nightly_report" };
        let previewed = preview(&pair.a, &session, raw_input).await.unwrap();
        let attempts = (0..8).map(|n| {
            let gateway = if n % 2 == 0 { pair.a.clone() } else { pair.b.clone() };
            let request = confirm_request(&session, &previewed.preview_id);
            tokio::spawn(async move { gateway.confirm(request, Operator::new(OPERATOR), None).await })
        });
        let results: Vec<_> = join_all(attempts).await.into_iter().map(Result::unwrap).collect();
        let won = results.iter().filter(|r| r.is_ok()).count();
        assert_eq!(won, 1, "round {round}: {results:?}");
        for refused in results.iter().filter_map(|r| r.as_ref().err()) {
            assert_eq!(refused.code().as_str(), "PREVIEW_ALREADY_CONFIRMED", "round {round}");
        }
    }
    assert_eq!(task_files(&pair).len(), 10, "one file per preview");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_its_pending_cap_and_its_end_are_the_same_on_both_instances() {
    let pair = pair();
    let session = session();
    let mut previews = Vec::new();
    for n in 0..MAX_PENDING_PREVIEWS_PER_SESSION {
        let gateway = if n % 2 == 0 { &pair.a } else { &pair.b };
        previews.push(preview(gateway, &session, "show pending").await.unwrap());
    }
    for gateway in [&pair.a, &pair.b] {
        let refused = preview(gateway, &session, "show pending").await.unwrap_err();
        assert_eq!(refused.code().as_str(), "TOO_MANY_PREVIEWS");
    }
    // Another person cannot use the session on either instance.
    let stranger = Operator::new(Uuid::new_v4());
    let request =
        PreviewRequest { raw_input: "show pending".into(), channel: Channel::Web, session_id: session.clone() };
    let refused = pair.b.preview(request, stranger, None).await.unwrap_err();
    assert_eq!(refused.code().as_str(), "SESSION_MISMATCH");

    // Ended on b, its previews are expired on a.
    let ended = pair.b.end_session(&session, Operator::new(OPERATOR), None).await.unwrap();
    assert_eq!((ended.ended, ended.dropped_previews), (true, MAX_PENDING_PREVIEWS_PER_SESSION));
    let late = pair.a.confirm(confirm_request(&session, &previews[0].preview_id), Operator::new(OPERATOR), None).await;
    assert_eq!(late.unwrap_err().code().as_str(), "PREVIEW_EXPIRED");
    assert!(task_files(&pair).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preview_expires_on_every_instance() {
    let pair = pair_with(|config| GatewayConfig { preview_ttl: Duration::from_secs(1), ..config }, &redis_url());
    let session = session();
    let previewed = preview(&pair.a, &session, "show pending").await.unwrap();
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    let late = pair.b.confirm(confirm_request(&session, &previewed.preview_id), Operator::new(OPERATOR), None).await;
    assert_eq!(late.unwrap_err().code().as_str(), "PREVIEW_EXPIRED");
    // An unknown preview is still told apart from an expired one.
    let unknown = Uuid::new_v4().to_string();
    let missing = pair.a.confirm(confirm_request(&session, &unknown), Operator::new(OPERATOR), None).await;
    assert_eq!(missing.unwrap_err().code().as_str(), "PREVIEW_NOT_FOUND");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_of_a_session_holds_across_instances() {
    let pair = pair_with(|config| GatewayConfig { session_rate: RateLimit::new(1, 6), ..config }, &redis_url());
    let session = session();
    let operator = Operator::new(OPERATOR);
    let mut outcomes = Vec::new();
    for n in 0..10 {
        let gateway = if n % 2 == 0 { &pair.a } else { &pair.b };
        outcomes.push(gateway.session_tasks(&session, operator, None).await.map(|_| ()));
    }
    let admitted = outcomes.iter().filter(|o| o.is_ok()).count();
    // A burst of 6 in all, whichever instance (each alone would admit 6): one more if the calls
    // took over a second, as a slow machine's may.
    assert!((6..=7).contains(&admitted), "{admitted} admitted: {outcomes:?}");
    let refused = outcomes.iter().find_map(|o| o.as_ref().err()).unwrap();
    assert!(matches!(refused, GatewayError::RateLimited { retry_after_seconds: 1 }), "{refused:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_redis_a_call_fails_closed_and_writes_nothing() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let pair = pair_with(|config| config, &format!("redis://127.0.0.1:{closed}"));
    let session = session();
    let refused = preview(&pair.a, &session, "lisa run backup_db").await.unwrap_err();
    assert_eq!(refused.code().as_str(), "STORAGE_UNAVAILABLE");
    assert!(!refused.public_message().contains("127.0.0.1"), "no internal detail reaches a client");
    assert!(task_files(&pair).is_empty());
}

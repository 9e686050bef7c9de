//! Live events shared through Redis by several instances: two hubs on one Redis server stand for
//! two instances. An event published on one reaches subscribers of the other; its id resumes a
//! client on either; what cannot be replayed resets the client; Redis lost and back interrupts
//! subscribers, who then resume on a working feed.

use std::time::Duration;

use domain::events::{MessageDelta, RoomEvent};
use services::events::{EventHub, Feed, Resume, Retention, Subscription};
use services::testing::{redis_server_url, PrivateRedis};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

async fn hub(url: &str, instance: &str, retention: Retention) -> EventHub {
    let client = redis::Client::open(url).unwrap();
    EventHub::redis(retention, client, instance, CancellationToken::new()).await.expect("a hub on Redis")
}

async fn two_instances() -> (EventHub, EventHub) {
    let url = redis_server_url();
    let suffix = Uuid::new_v4().simple().to_string();
    (
        hub(&url, &format!("a-{suffix}"), Retention::default()).await,
        hub(&url, &format!("b-{suffix}"), Retention::default()).await,
    )
}

fn delta(message_id: Uuid, n: usize) -> RoomEvent {
    RoomEvent::MessageDelta(MessageDelta { message_id, delta: format!("t{n} "), offset: n })
}

async fn next_event(subscription: &mut Subscription) -> Feed {
    tokio::time::timeout(Duration::from_secs(10), subscription.next())
        .await
        .expect("an event within 10 s")
        .expect("the hub is alive")
}

async fn next_offsets(subscription: &mut Subscription, count: usize) -> Vec<(String, u64)> {
    let mut seen = Vec::new();
    while seen.len() < count {
        match next_event(subscription).await {
            Feed::Event(event) => {
                let data: serde_json::Value = serde_json::from_str(&event.data).unwrap();
                seen.push((event.id.clone(), data["offset"].as_u64().unwrap()));
            }
            Feed::Reset(reason) => panic!("unexpected reset: {reason}"),
        }
    }
    seen
}

fn replayed(subscription: &Subscription) -> Vec<u64> {
    match &subscription.resume {
        Resume::Replay(events) => events
            .iter()
            .map(|e| serde_json::from_str::<serde_json::Value>(&e.data).unwrap()["offset"].as_u64().unwrap())
            .collect(),
        Resume::Reset(reason) => panic!("expected a replay, got a reset: {reason}"),
    }
}

#[tokio::test]
async fn an_event_published_on_one_instance_reaches_subscribers_of_both() {
    let (a, b) = two_instances().await;
    let room = Uuid::now_v7();
    let message = Uuid::now_v7();
    let mut on_a = a.subscribe(room, None).await.unwrap();
    let mut on_b = b.subscribe(room, None).await.unwrap();
    for n in 0..50 {
        a.publish(room, &delta(message, n));
    }
    let seen_a = next_offsets(&mut on_a, 50).await;
    let seen_b = next_offsets(&mut on_b, 50).await;
    assert_eq!(seen_a, seen_b, "the same events, with the same ids, in the same order");
    assert_eq!(seen_b.iter().map(|(_, offset)| *offset).collect::<Vec<_>>(), (0..50).collect::<Vec<_>>());
    // Either instance names the same position.
    assert_eq!(a.current_id(room).await, b.current_id(room).await);
    assert_eq!(b.current_id(room).await, seen_b.last().unwrap().0);
}

#[tokio::test]
async fn a_client_moving_to_the_other_instance_misses_nothing_and_sees_nothing_twice() {
    let (a, b) = two_instances().await;
    let room = Uuid::now_v7();
    let message = Uuid::now_v7();
    let mut on_a = a.subscribe(room, None).await.unwrap();
    for n in 0..20 {
        a.publish(room, &delta(message, n));
    }
    a.flush(Duration::from_secs(5)).await;
    let first_part = next_offsets(&mut on_a, 10).await;
    let (last_id, _) = first_part.last().unwrap().clone();
    drop(on_a);
    // Published while the client is between instances.
    for n in 20..30 {
        b.publish(room, &delta(message, n));
    }
    b.flush(Duration::from_secs(5)).await;
    let mut on_b = b.subscribe(room, Some(&last_id)).await.unwrap();
    let missed = replayed(&on_b);
    assert_eq!(missed, (10..30).collect::<Vec<_>>(), "exactly the events after the last one seen");
    for n in 30..40 {
        a.publish(room, &delta(message, n));
    }
    let live: Vec<u64> = next_offsets(&mut on_b, 10).await.into_iter().map(|(_, offset)| offset).collect();
    assert_eq!(live, (30..40).collect::<Vec<_>>(), "then the live feed, with no repeat and no gap");
}

#[tokio::test]
async fn a_room_with_no_events_yet_resumes_from_its_start() {
    let (a, b) = two_instances().await;
    let room = Uuid::now_v7();
    let start = b.current_id(room).await;
    assert_eq!(start, "0-0");
    for n in 0..3 {
        a.publish(room, &delta(Uuid::nil(), n));
    }
    a.flush(Duration::from_secs(5)).await;
    let resumed = b.subscribe(room, Some(&start)).await.unwrap();
    assert_eq!(replayed(&resumed), vec![0, 1, 2]);
}

#[tokio::test]
async fn ids_that_cannot_be_replayed_reset_the_client() {
    let url = redis_server_url();
    let suffix = Uuid::new_v4().simple().to_string();
    let small = Retention { max_events: 10, ..Retention::default() };
    let a = hub(&url, &format!("a-{suffix}"), small).await;
    let b = hub(&url, &format!("b-{suffix}"), small).await;
    let room = Uuid::now_v7();
    a.publish(room, &delta(Uuid::nil(), 0));
    a.flush(Duration::from_secs(5)).await;
    let first = a.current_id(room).await;
    // Trimming is approximate in Redis (whole nodes of 100 entries go at once).
    for n in 1..1000 {
        a.publish(room, &delta(Uuid::nil(), n));
    }
    a.flush(Duration::from_secs(5)).await;
    for (id, why) in [
        (first.as_str(), "trimmed away"),
        ("0-0", "the room's first events are gone"),
        ("garbage", "not an id"),
        ("18c3f2a-5", "an id of a single-instance server"),
        ("99999999999999-0", "from the future"),
    ] {
        let resumed = b.subscribe(room, Some(id)).await.unwrap();
        assert!(matches!(resumed.resume, Resume::Reset(_)), "{why}: {id}");
    }
}

#[tokio::test]
async fn a_streaming_message_text_is_readable_on_every_instance_until_done() {
    let (a, b) = two_instances().await;
    let room = Uuid::now_v7();
    let message = Uuid::now_v7();
    for n in 0..3 {
        a.publish(room, &delta(message, n));
    }
    a.flush(Duration::from_secs(5)).await;
    assert_eq!(b.shared_live_text(room, message).await.as_deref(), Some("t0 t1 t2 "));
    let done = domain::rooms::Message {
        id: message,
        room_id: room,
        sender_type: domain::rooms::SenderType::Agent,
        sender_id: None,
        sender_name: "Ada".into(),
        content: "t0 t1 t2 ".into(),
        content_html: None,
        status: domain::rooms::MessageStatus::Complete,
        tokens_in: None,
        tokens_out: None,
        usage_estimated: false,
        latency_ms: None,
        first_token_ms: None,
        model: None,
        error: None,
        selection_reason: None,
        run_id: None,
        created_at: chrono::Utc::now(),
        alternatives: 1,
        alternative_index: 0,
        edited_at: None,
        deleted_at: None,
    };
    a.publish(room, &RoomEvent::MessageDone(done));
    a.flush(Duration::from_secs(5)).await;
    assert_eq!(b.shared_live_text(room, message).await, None, "gone once the message is done");
}

#[tokio::test]
async fn redis_lost_and_back_interrupts_subscribers_who_then_resume() {
    let mut redis = PrivateRedis::start().await;
    let suffix = Uuid::new_v4().simple().to_string();
    let a = hub(&redis.url(), &format!("a-{suffix}"), Retention::default()).await;
    let b = hub(&redis.url(), &format!("b-{suffix}"), Retention::default()).await;
    let room = Uuid::now_v7();
    let mut on_b = b.subscribe(room, None).await.unwrap();
    a.publish(room, &delta(Uuid::nil(), 0));
    let seen = next_offsets(&mut on_b, 1).await;

    redis.stop();
    assert!(matches!(next_event(&mut on_b).await, Feed::Reset(_)), "the subscriber learns the feed broke");
    assert!(b.ping_shared().await.is_some_and(|ping| ping.is_err()), "readiness sees Redis gone");
    assert!(b.subscribe(room, Some(&seen[0].0)).await.is_err(), "no subscription without Redis");

    redis.restart().await;
    // The restarted Redis holds nothing: the old id cannot be replayed, so the client reloads.
    let resumed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Ok(subscription) = b.subscribe(room, Some(&seen[0].0)).await {
                return subscription;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("subscribing works again once Redis is back");
    assert!(matches!(resumed.resume, Resume::Reset(_)));
    // A reloaded client subscribes afresh and gets what is published from then on, from either.
    let mut fresh = b.subscribe(room, None).await.unwrap();
    let mut published = 1;
    let got = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            a.publish(room, &delta(Uuid::nil(), published));
            published += 1;
            if let Ok(Some(Feed::Event(event))) = tokio::time::timeout(Duration::from_millis(500), fresh.next()).await {
                return event;
            }
        }
    })
    .await
    .expect("live events flow again after Redis is back");
    assert_eq!(got.name, "message.delta");
}

//! Connections as the internet makes them, over real loopback TCP: a client that never finishes
//! its request headers is cut off, at most `MAX_CONNECTIONS` are served at once, and one address
//! holds a bounded number of live streams. None of it depends on the database: SQLite only.

mod common;

use std::time::Duration;

use common::{eventually, Db, TestApp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const HEALTH: &[u8] = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";

async fn served(vars: &[(&str, &str)]) -> (TestApp, String) {
    let app = TestApp::with_env(Db::Sqlite, vars).await;
    let base = app.spawn().await;
    (app, base)
}

fn address(base: &str) -> String {
    base.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes the connection; what it sent.
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("the connection closes cleanly or with a reset");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_cut_off() {
    let (_app, base) = served(&[("HTTP_HEADER_READ_TIMEOUT_SECONDS", "1")]).await;
    let mut slow = TcpStream::connect(address(&base)).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ").await.unwrap();
    // Bounded: the server must close it long before this.
    let closed = tokio::time::timeout(Duration::from_secs(20), read_to_close(&mut slow)).await;
    let answer = closed.expect("the server closed a connection whose headers never ended");
    assert!(!answer.contains("200 OK"), "nothing was served: {answer}");

    // A client that sends its headers is served as ever.
    let mut quick = TcpStream::connect(address(&base)).await.unwrap();
    quick.write_all(HEALTH).await.unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(20), read_to_close(&mut quick)).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_request_whose_body_never_comes_is_answered_408_and_frees_its_place() {
    let vars = [("HTTP_REQUEST_TIMEOUT_SECONDS", "1"), ("MAX_CONNECTIONS", "1")];
    let (app, base) = served(&vars).await;
    let mut stalled = TcpStream::connect(address(&base)).await.unwrap();
    let head = format!(
        "POST /api/rooms HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"name\":",
        app.token
    );
    stalled.write_all(head.as_bytes()).await.unwrap();
    let mut answer = vec![0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(20), stalled.read(&mut answer)).await.unwrap().unwrap();
    let answer = String::from_utf8_lossy(&answer[..read]).into_owned();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    drop(stalled);
    // The one place it held is free again.
    let mut next = TcpStream::connect(address(&base)).await.unwrap();
    next.write_all(HEALTH).await.unwrap();
    let answer = tokio::time::timeout(Duration::from_secs(20), read_to_close(&mut next)).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let (_, rooms) = app.get_json("/api/rooms").await;
    assert_eq!(rooms.as_array().unwrap().len(), 0, "nothing was created from half a body");
}

#[tokio::test]
async fn past_the_connection_cap_new_connections_wait_their_turn() {
    let (_app, base) = served(&[("MAX_CONNECTIONS", "2"), ("HTTP_HEADER_READ_TIMEOUT_SECONDS", "60")]).await;
    let idle_one = TcpStream::connect(address(&base)).await.unwrap();
    let _idle_two = TcpStream::connect(address(&base)).await.unwrap();
    let mut waiting = TcpStream::connect(address(&base)).await.unwrap();
    waiting.write_all(HEALTH).await.unwrap();
    let mut first = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(700), waiting.read(&mut first)).await;
    assert!(early.is_err(), "a third connection is not served while two are open");

    drop(idle_one);
    let answer = tokio::time::timeout(Duration::from_secs(20), read_to_close(&mut waiting)).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "served once a place is free: {answer}");
}

#[tokio::test]
async fn one_address_holds_a_bounded_number_of_live_streams() {
    let (app, base) = served(&[("SSE_MAX_STREAMS_PER_ADDRESS", "2"), ("SSE_KEEPALIVE_SECONDS", "1")]).await;
    let (_, room) = app.send_json("POST", "/api/rooms", r#"{"name": "Watched"}"#).await;
    let url = format!("{base}/api/rooms/{}/stream", room["id"].as_str().unwrap());
    let client = common::client_with_token(&app.token);
    let first = client.get(&url).send().await.unwrap();
    let second = client.get(&url).send().await.unwrap();
    assert_eq!((first.status().as_u16(), second.status().as_u16()), (200, 200));

    let refused = client.get(&url).send().await.unwrap();
    assert_eq!(refused.status().as_u16(), 429);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "QUOTA_EXCEEDED");
    assert!(body["error"]["message"].as_str().unwrap().contains("SSE_MAX_STREAMS_PER_ADDRESS"), "{body}");

    // Closing one gives its place back (the server notices at the next keep-alive).
    drop(first);
    eventually(Duration::from_secs(20), "a place to free up", || async {
        client.get(&url).send().await.unwrap().status() == 200
    })
    .await;
    drop(second);
    eventually(Duration::from_secs(20), "every place to be given back", || async {
        app.state.stream_slots.addresses() == 0
    })
    .await;
}

//! The wire format seen from a plain HTTP client: status codes and bodies as Telegram sends them.

use std::time::Duration;

use fake_telegram::FakeTelegram;
use serde_json::{json, Value};

const TOKEN: &str = "42:secret";

async fn post(url: String, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new().post(url).json(&body).send().await.unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

#[tokio::test]
async fn wrong_tokens_and_unknown_methods_answer_like_telegram() {
    let fake = FakeTelegram::start(TOKEN).await;
    let base = fake.api_url();
    assert_eq!(
        post(format!("{base}/bot1:other/getMe"), json!({})).await,
        (401, json!({"ok": false, "error_code": 401, "description": "Unauthorized"}))
    );
    assert_eq!(
        post(format!("{base}/bot{TOKEN}/noSuchMethod"), json!({})).await,
        (404, json!({"ok": false, "error_code": 404, "description": "Not Found"}))
    );
    let (status, me) = post(format!("{base}/bot{TOKEN}/GETME"), json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(me["ok"], json!(true));
    assert_eq!(me["result"]["id"], json!(42));
    assert_eq!(fake.calls("getMe").len(), 2, "calls are counted in any case and with any token");
}

#[tokio::test]
async fn form_and_query_parameters_work_like_json() {
    let fake = FakeTelegram::start(TOKEN).await;
    fake.send_text(7, "hi");
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{}/bot{TOKEN}/sendMessage?chat_id=7", fake.api_url()))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("text=hello+world&reply_markup=%7B%22inline_keyboard%22%3A%5B%5B%7B%22text%22%3A%22Go%22%2C%22callback_data%22%3A%22go%22%7D%5D%5D%7D")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["result"]["text"], json!("hello world"));
    assert_eq!(body["result"]["message_id"], json!(2));
    let messages = fake.bot_messages(7);
    assert_eq!(messages[0].buttons, [("Go".to_owned(), "go".to_owned())]);

    let updates: Value = client
        .get(format!("{}/bot{TOKEN}/getUpdates?offset=0&limit=1", fake.api_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(updates["result"][0]["message"]["text"], json!("hi"));
}

#[tokio::test]
async fn bodies_over_a_mebibyte_are_refused() {
    let fake = FakeTelegram::start(TOKEN).await;
    let big = json!({"chat_id": 1, "text": "x".repeat(1024 * 1024 + 1)});
    let (status, body) = post(format!("{}/bot{TOKEN}/sendMessage", fake.api_url()), big).await;
    assert_eq!(status, 413);
    assert_eq!(body["description"], json!("Request Entity Too Large"));
}

#[tokio::test]
async fn a_rate_limit_carries_retry_after() {
    let fake = FakeTelegram::start(TOKEN).await;
    fake.rate_limit_next("getMe", 7);
    let (status, body) = post(format!("{}/bot{TOKEN}/getMe", fake.api_url()), json!({})).await;
    assert_eq!(status, 429);
    assert_eq!(
        body,
        json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 7", "parameters": {"retry_after": 7}})
    );
    let (status, _) = post(format!("{}/bot{TOKEN}/getMe", fake.api_url()), json!({})).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn an_outage_answers_502_with_an_html_page() {
    let fake = FakeTelegram::start(TOKEN).await;
    fake.set_outage(true);
    let response = reqwest::Client::new().post(format!("{}/bot{TOKEN}/getMe", fake.api_url())).send().await.unwrap();
    assert_eq!(response.status(), 502);
    assert_eq!(response.headers()["content-type"], "text/html");
    assert!(response.text().await.unwrap().contains("<h1>502 Bad Gateway</h1>"));
}

#[tokio::test]
async fn wait_for_message_panics_with_the_transcript() {
    let fake = FakeTelegram::start(TOKEN).await;
    fake.send_text(3, "anyone there?");
    let waited = tokio::spawn(async move {
        fake.wait_for_message(3, Duration::from_millis(100), |_| true).await;
    })
    .await;
    let panic = waited.unwrap_err().into_panic();
    let text = panic.downcast_ref::<String>().unwrap();
    assert!(text.contains("#1 user: \"anyone there?\""), "{text}");
}

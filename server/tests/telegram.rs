//! The control plane's Telegram channel, end to end: the bot talks over real HTTP to a fake Bot
//! API on loopback, previews and confirms through the real gateway folder, and keeps its chats
//! in a real database, on both databases. The last test runs two server processes on one
//! database and kills the one that polls.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::process::ServerProcess;
use common::{eventually, person, Db, TestApp};
use domain::accounts::Role;
use fake_llm::FakeLlm;
use fake_telegram::{BotMessage, FakeTelegram};
use serde_json::Value;

on_both_databases!(
    a_linked_chat_previews_confirms_cancels_and_follows_its_tasks,
    unlinked_chats_and_bad_input_get_short_answers_and_nothing_else,
    an_unconfirmed_preview_expires_on_its_message,
    the_bot_rides_out_an_outage_and_honours_retry_after,
    in_webhook_mode_telegram_delivers_and_nobody_else_can,
);

const TOKEN: &str = "424242:fake-telegram-token";
const CHAT: i64 = 5_550_001;
/// Long enough for a poll round and a reply on a busy machine.
const WAIT: Duration = Duration::from_secs(20);

/// An app with the bot running against `fake`, polling in short rounds.
async fn app_with_bot(db: Db, fake: &FakeTelegram, extra: &[(&str, &str)]) -> TestApp {
    let api_url = fake.api_url();
    let mut env = vec![
        ("TELEGRAM_BOT_TOKEN", TOKEN),
        ("TELEGRAM_API_URL", api_url.as_str()),
        ("TELEGRAM_POLL_SECONDS", "1"),
        ("TELEGRAM_LEASE_SECONDS", "5"),
        ("INSTANCE_ID", "telegram-test"),
    ];
    env.extend_from_slice(extra);
    let app = TestApp::with_env(db, &env).await;
    let state = &app.state;
    let bot = state.config.telegram.clone().expect("the bot's configuration");
    state.telegram_bot.fill(telegram::spawn(
        &state.services,
        state.gateway.clone(),
        bot,
        state.config.instance_id.clone(),
    ));
    app
}

/// A fresh link code for the app's admin, over the REST API.
async fn link_code(app: &TestApp) -> String {
    let (status, body) = app.send_json("POST", "/api/telegram/link-code", "").await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["code"].as_str().unwrap().len(), 10, "{body}");
    body["code"].as_str().unwrap().to_owned()
}

/// Sends `text` and waits for the bot's reply to it.
async fn ask(fake: &FakeTelegram, chat: i64, text: &str) -> BotMessage {
    let sent = fake.send_text(chat, text);
    fake.wait_for_message(chat, WAIT, |m| m.reply_to == Some(sent)).await
}

async fn reply(fake: &FakeTelegram, chat: i64, text: &str, to: i32) -> BotMessage {
    let sent = fake.send_reply(chat, text, to);
    fake.wait_for_message(chat, WAIT, |m| m.reply_to == Some(sent)).await
}

async fn linked_chat(app: &TestApp, fake: &FakeTelegram, chat: i64) {
    let code = link_code(app).await;
    let answer = ask(fake, chat, &format!("/link {code}")).await;
    assert!(answer.text.starts_with("Linked to"), "{}", fake.transcript(chat));
}

fn task_files(root: &Path) -> Vec<std::path::PathBuf> {
    ["interface/inbox", "interface/pending_approval"]
        .iter()
        .filter_map(|sub| std::fs::read_dir(root.join(sub)).ok())
        .flat_map(|entries| entries.filter_map(Result::ok).map(|entry| entry.path()))
        .collect()
}

fn telemetry(app: &TestApp) -> Vec<Value> {
    let log = std::fs::read_to_string(app.state.gateway.telemetry_path()).unwrap_or_default();
    log.lines().filter_map(|line| serde_json::from_str(line).ok()).collect()
}

async fn a_linked_chat_previews_confirms_cancels_and_follows_its_tasks(db: Db) {
    let fake = FakeTelegram::start(TOKEN).await;
    let app = app_with_bot(db, &fake, &[]).await;
    linked_chat(&app, &fake, CHAT).await;
    let (status, links) = app.get_json("/api/telegram/links").await;
    assert_eq!(status, 200);
    assert_eq!(links[0]["chat_id"], CHAT, "{links}");

    // A command → a preview with what the panel shows, and two buttons.
    let preview = ask(&fake, CHAT, "lisa run backup_db").await;
    for shown in ["Intent: ", "Risk: ", "Lane: ", "Rule: ", "Expires: "] {
        assert!(preview.text.contains(shown), "{shown} missing from {}", preview.text);
    }
    let labels: Vec<&str> = preview.buttons.iter().map(|(label, _)| label.as_str()).collect();
    assert_eq!(labels, ["Confirm", "Cancel"]);
    assert!(task_files(app.gateway_root.path()).is_empty(), "a preview writes nothing");

    // The button confirms: one task file, the message edited to say so, the press answered.
    let press = fake.press_button(CHAT, preview.message_id, &preview.buttons[0].1);
    let answer = fake.wait_for_callback_answer(&press, WAIT).await;
    assert!(answer.text.as_deref().unwrap_or_default().starts_with("Confirmed: task "), "{answer:?}");
    let confirmed =
        fake.wait_for_message(CHAT, WAIT, |m| m.message_id == preview.message_id && m.text.contains("✅")).await;
    assert!(confirmed.buttons.is_empty(), "the buttons go: {confirmed:?}");
    assert_eq!(task_files(app.gateway_root.path()).len(), 1);
    let task_id = answer.text.unwrap().trim_start_matches("Confirmed: task ").trim_end_matches(" written.").to_owned();

    // Confirming it again answers as the gateway does, and writes nothing more.
    let again = reply(&fake, CHAT, "confirm", preview.message_id).await;
    assert!(again.text.contains("PREVIEW_ALREADY_CONFIRMED"), "{}", again.text);
    assert_eq!(task_files(app.gateway_root.path()).len(), 1);

    // "confirm" in reply to a preview confirms it too.
    let second = ask(&fake, CHAT, "liam check status").await;
    let done = reply(&fake, CHAT, "Confirm", second.message_id).await;
    assert!(done.text.starts_with("Confirmed: task "), "{}", fake.transcript(CHAT));
    assert_eq!(task_files(app.gateway_root.path()).len(), 2);

    // Cancel withdraws a preview; a later confirm of it is refused as expired.
    let third = ask(&fake, CHAT, "lisa run backup_db").await;
    let press = fake.press_button(CHAT, third.message_id, &third.buttons[1].1);
    let answer = fake.wait_for_callback_answer(&press, WAIT).await;
    assert_eq!(answer.text.as_deref(), Some("Cancelled. Nothing was written."));
    fake.wait_for_message(CHAT, WAIT, |m| m.message_id == third.message_id && m.text.contains("✖ Cancelled")).await;
    let late = reply(&fake, CHAT, "confirm", third.message_id).await;
    assert!(late.text.contains("PREVIEW_EXPIRED"), "{}", late.text);
    assert_eq!(task_files(app.gateway_root.path()).len(), 2);

    // The execution plane reports; the chat is told of each state once, the result last.
    let reports = app.gateway_root.path().join("observability/telemetry/executor.jsonl");
    std::fs::write(&reports, format!("{{\"task_id\":\"{task_id}\",\"state\":\"running\"}}\n")).unwrap();
    fake.wait_for_message(CHAT, WAIT, |m| m.text == format!("Task {task_id} is running.")).await;
    let done_line = format!("{{\"task_id\":\"{task_id}\",\"state\":\"done\",\"result_summary\":\"4 tables saved\"}}\n");
    std::fs::write(&reports, format!("{{\"task_id\":\"{task_id}\",\"state\":\"running\"}}\n{done_line}")).unwrap();
    let news = fake.wait_for_message(CHAT, WAIT, |m| m.text.starts_with(&format!("Task {task_id} is done."))).await;
    assert_eq!(news.text, format!("Task {task_id} is done.\nResult: 4 tables saved"));
    assert_eq!(news.reply_to, Some(preview.message_id), "the news answers the preview");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let told = fake.bot_messages(CHAT).iter().filter(|m| m.text.starts_with(&format!("Task {task_id} "))).count();
    assert_eq!(told, 2, "one message per change: {}", fake.transcript(CHAT));

    // Every step is in the gateway's log, in the telegram channel, as the person.
    let lines = telemetry(&app);
    let telegram_lines: Vec<&Value> = lines.iter().filter(|line| line["channel"] == "telegram").collect();
    for event in ["preview", "confirm", "reject"] {
        assert!(
            telegram_lines.iter().any(|line| line["event"] == event && line["outcome"] == "ok"),
            "no {event} line: {lines:#?}"
        );
    }

    // /unlink ends it: the chat speaks for nobody again, and the web page's list is empty.
    let unlinked = ask(&fake, CHAT, "/unlink").await;
    assert!(unlinked.text.starts_with("Unlinked"), "{}", unlinked.text);
    let refused = ask(&fake, CHAT, "lisa run backup_db").await;
    assert!(refused.text.contains("not linked"), "{}", refused.text);
    assert_eq!(app.get_json("/api/telegram/links").await.1, serde_json::json!([]));
    assert_eq!(task_files(app.gateway_root.path()).len(), 2);
}

async fn unlinked_chats_and_bad_input_get_short_answers_and_nothing_else(db: Db) {
    let fake = FakeTelegram::start(TOKEN).await;
    let app = app_with_bot(db, &fake, &[]).await;
    let stranger = CHAT + 1;

    // An unlinked chat is refused, whatever it sends, and reaches no gateway session.
    for text in ["lisa run backup_db", "confirm", "/link NOTACODE00", "/link"] {
        let answer = ask(&fake, stranger, text).await;
        assert!(answer.buttons.is_empty(), "{answer:?}");
    }
    let transcript = fake.transcript(stranger);
    assert!(transcript.contains("not linked"), "{transcript}");
    assert!(transcript.contains("unknown, used or expired"), "{transcript}");
    assert!(transcript.contains("/link CODE"), "{transcript}");
    let sticker = fake.send_sticker(stranger);
    fake.wait_for_message(stranger, WAIT, |m| m.reply_to == Some(sticker) && m.text.contains("not linked")).await;
    assert!(telemetry(&app).iter().all(|line| line["channel"] != "telegram"), "nothing reached the gateway");

    // A code works once: a second chat cannot reuse it.
    let code = link_code(&app).await;
    assert!(ask(&fake, CHAT, &format!("/link {}", code.to_lowercase())).await.text.starts_with("Linked to"));
    let reused = ask(&fake, stranger, &format!("/link {code}")).await;
    assert!(reused.text.contains("unknown, used or expired"), "{}", reused.text);

    // Stickers, photos, unknown commands, replies to nothing and huge texts: short answers.
    let sticker = fake.send_sticker(CHAT);
    let answer = fake.wait_for_message(CHAT, WAIT, |m| m.reply_to == Some(sticker)).await;
    assert!(answer.text.starts_with("I only read text"), "{}", answer.text);
    let photo = fake.send_photo(CHAT);
    fake.wait_for_message(CHAT, WAIT, |m| m.reply_to == Some(photo) && m.text.starts_with("I only read text")).await;
    assert!(ask(&fake, CHAT, "/selfdestruct now").await.text.starts_with("I don't know that command"));
    assert!(ask(&fake, CHAT, "confirm").await.text.starts_with("Reply \"confirm\""));
    let huge = ask(&fake, CHAT, &"lisa run backup_db ".repeat(300)).await;
    assert!(huge.text.contains("INVALID_INPUT"), "{}", huge.text);
    assert!(huge.buttons.is_empty());

    // A person whose operator role is taken away is refused, though the chat stays linked.
    let admin = app.state.services.store.list_users(10).await.unwrap().remove(0);
    person(&app.state.services, "Second Admin", Role::Admin).await;
    app.state.services.store.set_user_role(admin.id, Role::User).await.unwrap();
    let demoted = ask(&fake, CHAT, "lisa run backup_db").await;
    assert!(demoted.text.contains("may not use the control plane"), "{}", demoted.text);
    app.state.services.store.set_user_role(admin.id, Role::Admin).await.unwrap();

    // A flood: the bot answers the first few, drops the rest, and keeps working for others.
    let flood = CHAT + 2;
    let before = fake.calls("sendMessage").len();
    for n in 0..40 {
        fake.send_text(flood, &format!("spam {n}"));
    }
    let probe = ask(&fake, stranger, "/help").await;
    assert!(probe.text.contains("/link CODE"));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let answered = fake.bot_messages(flood).len();
    assert!((1..=18).contains(&answered), "{answered} answers to 40 flood messages");
    assert!(fake.calls("sendMessage").len() - before <= 20);
    assert_eq!(task_files(app.gateway_root.path()).len(), 0);
}

async fn an_unconfirmed_preview_expires_on_its_message(db: Db) {
    let fake = FakeTelegram::start(TOKEN).await;
    let app = app_with_bot(db, &fake, &[("GATEWAY_PREVIEW_TTL_SECONDS", "2")]).await;
    linked_chat(&app, &fake, CHAT).await;
    let preview = ask(&fake, CHAT, "lisa run backup_db").await;
    assert!(preview.text.contains("Expires: "), "{}", preview.text);
    let expired = fake
        .wait_for_message(CHAT, WAIT, |m| m.message_id == preview.message_id && m.text.contains("⌛ Expired"))
        .await;
    assert!(expired.buttons.is_empty(), "{expired:?}");
    let late = reply(&fake, CHAT, "confirm", preview.message_id).await;
    assert!(late.text.contains("PREVIEW_EXPIRED") || late.text.contains("PREVIEW_NOT_FOUND"), "{}", late.text);
    assert!(task_files(app.gateway_root.path()).is_empty());
}

async fn the_bot_rides_out_an_outage_and_honours_retry_after(db: Db) {
    let fake = FakeTelegram::start(TOKEN).await;
    let app = app_with_bot(db, &fake, &[]).await;
    linked_chat(&app, &fake, CHAT).await;

    // Telegram cannot be reached, then answers 502 for a while: a message sent meanwhile is
    // answered once it is back, exactly once.
    fake.set_unreachable(true);
    let during = fake.send_text(CHAT, "liam check status");
    tokio::time::sleep(Duration::from_secs(2)).await;
    fake.set_unreachable(false);
    assert!(fake.bot_messages(CHAT).iter().all(|m| m.reply_to != Some(during)), "no answer while unreachable");
    fake.set_outage(true);
    tokio::time::sleep(Duration::from_secs(1)).await;
    fake.set_outage(false);
    let back = Instant::now();
    let answer = fake.wait_for_message(CHAT, Duration::from_secs(40), |m| m.reply_to == Some(during)).await;
    assert!(answer.sent_at >= back, "answered only once Telegram was back");
    assert_eq!(answer.buttons.len(), 2, "{answer:?}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(fake.bot_messages(CHAT).iter().filter(|m| m.reply_to == Some(during)).count(), 1);

    // 429 with retry_after: the bot waits that long, then sends once.
    fake.rate_limit_next("sendMessage", 2);
    let calls_before = fake.calls("sendMessage").len();
    let started = Instant::now();
    let answer = ask(&fake, CHAT, "lisa run backup_db").await;
    let calls = fake.calls("sendMessage");
    assert_eq!(calls.len() - calls_before, 2, "one refused call, one that went through");
    let waited = calls[calls.len() - 1].duration_since(calls[calls.len() - 2]);
    assert!(waited >= Duration::from_secs(2), "waited only {waited:?}");
    assert!(answer.sent_at.duration_since(started) >= Duration::from_secs(2));
    assert_eq!(answer.buttons.len(), 2);
}

async fn in_webhook_mode_telegram_delivers_and_nobody_else_can(db: Db) {
    let fake = FakeTelegram::start(TOKEN).await;
    let api_url = fake.api_url();
    let env = [("TELEGRAM_BOT_TOKEN", TOKEN), ("TELEGRAM_API_URL", api_url.as_str()), ("INSTANCE_ID", "hook")];
    let app = TestApp::with_env(db, &env).await;
    let base = app.spawn().await;
    let endpoint = format!("{base}/api/telegram/webhook");
    let state = &app.state;
    let mut bot = state.config.telegram.clone().unwrap();
    let secret = "hook-secret_1";
    bot.webhook = Some(telegram::Webhook { url: endpoint.parse().unwrap(), secret: secret.into() });
    state.telegram_bot.fill(telegram::spawn(&state.services, state.gateway.clone(), bot, "hook".into()));

    // The lease holder registers the webhook with its secret; Telegram then delivers every update.
    eventually(WAIT, "the webhook to be registered", || async { fake.webhook().is_some() }).await;
    let registered = fake.webhook().unwrap();
    assert_eq!(registered.url, endpoint);
    assert_eq!(registered.secret.as_deref(), Some(secret));
    linked_chat(&app, &fake, CHAT).await;
    let preview = ask(&fake, CHAT, "lisa run backup_db").await;
    let press = fake.press_button(CHAT, preview.message_id, &preview.buttons[0].1);
    let answer = fake.wait_for_callback_answer(&press, WAIT).await;
    assert!(answer.text.as_deref().unwrap_or_default().starts_with("Confirmed: task "), "{answer:?}");
    assert_eq!(task_files(app.gateway_root.path()).len(), 1);
    assert!(fake.calls("getUpdates").is_empty(), "nothing polls in webhook mode");

    // Anyone else posting an update is refused, whatever credentials they carry, and nothing happens.
    let forged = serde_json::json!({
        "update_id": 900_001,
        "message": {
            "message_id": 9_999, "date": 1_700_000_000,
            "chat": {"id": CHAT, "type": "private", "first_name": "Mallory"},
            "from": {"id": CHAT, "is_bot": false, "first_name": "Mallory"},
            "text": "lisa run backup_db",
        },
    });
    let client = reqwest::Client::new();
    let before = fake.bot_messages(CHAT).len();
    for given in [None, Some("hook-secret_2"), Some("")] {
        let mut request = client.post(&endpoint).bearer_auth(&app.token).json(&forged);
        if let Some(given) = given {
            request = request.header(telegram::SECRET_HEADER, given);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 401, "secret {given:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "UNAUTHENTICATED", "{body}");
    }
    let garbage = client.post(&endpoint).header(telegram::SECRET_HEADER, secret).body("{\"update_id\": \"x\"}");
    let response = garbage.header("content-type", "application/json").send().await.unwrap();
    assert_eq!(response.status(), 200, "a body that is not an update is taken, so Telegram does not resend it");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(fake.bot_messages(CHAT).len(), before, "{}", fake.transcript(CHAT));
    assert_eq!(task_files(app.gateway_root.path()).len(), 1);
}

/// Two server processes on one database: only one polls, and when it is killed the other takes
/// over within the lease's lifetime; no message is answered twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_instance_polls_and_another_takes_over_when_it_dies() {
    let database = common::process::fresh_database(Db::Sqlite).await;
    let provider = FakeLlm::start(fake_llm::Reply::words("unused")).await;
    let fake = FakeTelegram::start(TOKEN).await;
    let root = tempfile::tempdir().unwrap();
    let api_url = fake.api_url();
    let root_path = root.path().display().to_string();
    let env = |id: &'static str| {
        vec![
            ("TELEGRAM_BOT_TOKEN", TOKEN.to_owned()),
            ("TELEGRAM_API_URL", api_url.clone()),
            ("TELEGRAM_POLL_SECONDS", "1".to_owned()),
            ("TELEGRAM_LEASE_SECONDS", "3".to_owned()),
            ("INSTANCE_ID", id.to_owned()),
            ("GATEWAY_ROOT", root_path.clone()),
        ]
    };
    let start = |id: &'static str| {
        let vars = env(id);
        let vars: Vec<(&str, &str)> = vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        ServerProcess::start_with(&database.url, &provider, None, &vars)
    };
    let first = start("first");
    first.wait_ready().await;
    let second = start("second");
    second.wait_ready().await;

    let store = database.store.clone();
    let poller = || async {
        let holder: Option<(String, chrono::DateTime<chrono::Utc>)> = match store.pool() {
            storage::DatabasePool::Sqlite(pool) => {
                sqlx::query_as("SELECT holder, expires_at FROM leases WHERE name = 'telegram-poller'")
                    .fetch_optional(&pool)
                    .await
                    .unwrap()
            }
            storage::DatabasePool::Postgres(_) => unreachable!("this drill runs on SQLite"),
        };
        holder.filter(|(_, until)| *until > chrono::Utc::now()).map(|(holder, _)| holder)
    };
    eventually(Duration::from_secs(20), "an instance to poll", || async { poller().await.is_some() }).await;
    let holder = poller().await.unwrap();

    for n in 0..5 {
        ask(&fake, CHAT + n, "/help").await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    for n in 0..5 {
        assert_eq!(fake.bot_messages(CHAT + n).len(), 1, "answered once: {}", fake.transcript(CHAT + n));
    }

    // SIGKILL the poller: it cannot give the lease back, so the other waits out its lifetime.
    let (dead, survivor) = if holder == "first" { (first, second) } else { (second, first) };
    dead.kill();
    let killed = Instant::now();
    let answer = ask(&fake, CHAT, "/help").await;
    let took = answer.sent_at.duration_since(killed);
    assert!(took < Duration::from_secs(15), "took over after {took:?}");
    eprintln!("the surviving instance answered {took:?} after the poller was killed (lease 3 s)");
    let new_holder = poller().await.unwrap();
    assert_ne!(new_holder, holder, "the survivor polls now");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(fake.bot_messages(CHAT).len(), 2, "{}", fake.transcript(CHAT));
    survivor.terminate();
}

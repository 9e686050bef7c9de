//! The fake driven by a real teloxide `Bot`: every update and answer must parse in teloxide's
//! types, and every fault must surface as the error teloxide gives for the real thing.

use std::time::{Duration, Instant};

use fake_telegram::FakeTelegram;
use teloxide::dispatching::{Dispatcher, UpdateFilterExt};
use teloxide::error_handlers::LoggingErrorHandler;
use teloxide::payloads::{AnswerCallbackQuerySetters, EditMessageTextSetters, GetUpdatesSetters, SendMessageSetters};
use teloxide::requests::{Requester, ResponseResult};
use teloxide::types::{
    BotCommand, ChatId, InlineKeyboardButton, InlineKeyboardMarkup, MediaKind, Message, MessageEntityKind, MessageId,
    MessageKind, ParseMode, ReplyParameters, Update, UpdateKind,
};
use teloxide::update_listeners::Polling;
use teloxide::{ApiError, Bot, RequestError};

const TOKEN: &str = "123456789:AAF-fake-token";
const CHAT: i64 = 4242;

async fn fake_and_bot() -> (FakeTelegram, Bot) {
    let fake = FakeTelegram::start(TOKEN).await;
    let bot = Bot::new(TOKEN).set_api_url(fake.api_url().parse().unwrap());
    (fake, bot)
}

/// Gets the pending updates and confirms them with the next call's offset, as a polling bot does.
async fn updates(bot: &Bot, offset: &mut i32) -> Vec<Update> {
    let updates = bot.get_updates().offset(*offset).timeout(5).await.expect("getUpdates");
    if let Some(last) = updates.last() {
        *offset = last.id.0 as i32 + 1;
    }
    updates
}

fn message(update: &Update) -> &Message {
    match &update.kind {
        UpdateKind::Message(message) => message,
        other => panic!("expected a message update, got {other:?}"),
    }
}

#[tokio::test]
async fn get_me_describes_the_bot() {
    let (fake, bot) = fake_and_bot().await;
    let me = bot.get_me().await.unwrap();
    assert!(me.is_bot);
    assert_eq!(me.id.0 as i64, fake.bot_user_id());
    assert_eq!(me.username(), fake.bot_username());
}

#[tokio::test]
async fn user_texts_commands_stickers_photos_and_replies_parse_in_teloxide() {
    let (fake, bot) = fake_and_bot().await;
    fake.set_user(CHAT, "Ada", Some("ada"), Some("de"));
    let start = fake.send_text(CHAT, "/start@fake_test_bot now");
    let sticker = fake.send_sticker(CHAT);
    let photo = fake.send_photo(CHAT);
    let reply = fake.send_reply(CHAT, "about that", start);
    assert_eq!((start, sticker, photo, reply), (1, 2, 3, 4));

    let mut offset = 0;
    let got = updates(&bot, &mut offset).await;
    assert_eq!(got.len(), 4);
    assert!(got.windows(2).all(|w| w[0].id.0 < w[1].id.0), "update ids increase");

    let text = message(&got[0]);
    assert_eq!(text.id, MessageId(start));
    assert_eq!(text.chat.id, ChatId(CHAT));
    assert!(text.chat.is_private());
    assert_eq!(text.text(), Some("/start@fake_test_bot now"));
    let from = text.from.as_ref().unwrap();
    assert_eq!(
        (from.first_name.as_str(), from.username.as_deref(), from.language_code.as_deref()),
        ("Ada", Some("ada"), Some("de"))
    );
    let entities = text.entities().unwrap();
    assert_eq!(entities.len(), 1);
    assert_eq!(entities[0].kind, MessageEntityKind::BotCommand);
    assert_eq!((entities[0].offset, entities[0].length), (0, "/start@fake_test_bot".len()));

    let sticker_message = message(&got[1]);
    let parsed = sticker_message.sticker().expect("a sticker");
    assert!(parsed.is_regular() && parsed.is_static());
    assert_eq!((parsed.width, parsed.height), (512, 512));

    let photo_message = message(&got[2]);
    let sizes = photo_message.photo().expect("a photo");
    assert!(sizes.len() > 1);
    assert!(matches!(&photo_message.kind, MessageKind::Common(c) if matches!(c.media_kind, MediaKind::Photo(_))));

    let reply_message = message(&got[3]);
    let replied = reply_message.reply_to_message().expect("the replied-to message");
    assert_eq!(replied.id, MessageId(start));
    assert_eq!(replied.text(), Some("/start@fake_test_bot now"));

    // Confirmed updates are gone for good.
    assert!(bot.get_updates().offset(offset).await.unwrap().is_empty());
    assert_eq!(fake.pending_updates(), 0);
}

#[tokio::test]
async fn limit_and_negative_offset() {
    let (fake, bot) = fake_and_bot().await;
    for n in 0..5 {
        fake.send_text(CHAT, &format!("m{n}"));
    }
    let two = bot.get_updates().limit(2).await.unwrap();
    assert_eq!(two.iter().map(|u| message(u).text().unwrap()).collect::<Vec<_>>(), ["m0", "m1"]);
    let last = bot.get_updates().offset(-1).await.unwrap();
    assert_eq!(last.iter().map(|u| message(u).text().unwrap()).collect::<Vec<_>>(), ["m4"]);
    assert_eq!(fake.pending_updates(), 1);
}

#[tokio::test]
async fn a_long_poll_answers_as_soon_as_an_update_arrives() {
    let (fake, bot) = fake_and_bot().await;
    let started = Instant::now();
    let poll = tokio::spawn(async move { bot.get_updates().timeout(10).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    fake.send_text(CHAT, "hello");
    let got = tokio::time::timeout(Duration::from_secs(3), poll).await.expect("answered").unwrap().unwrap();
    assert_eq!(got.len(), 1);
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[tokio::test]
async fn an_empty_long_poll_waits_for_its_timeout() {
    let (_fake, bot) = fake_and_bot().await;
    let started = Instant::now();
    let got = bot.get_updates().timeout(1).await.unwrap();
    assert!(got.is_empty());
    assert!(started.elapsed() >= Duration::from_millis(900));
}

#[tokio::test]
async fn a_second_poller_ends_the_first_with_a_conflict() {
    let (fake, bot) = fake_and_bot().await;
    let first = tokio::spawn({
        let bot = bot.clone();
        async move { bot.get_updates().timeout(5).await }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second = tokio::spawn(async move { bot.get_updates().timeout(5).await });
    let first = first.await.unwrap();
    assert!(matches!(first, Err(RequestError::Api(ApiError::TerminatedByOtherGetUpdates))), "{first:?}");
    fake.send_text(CHAT, "hi");
    assert_eq!(second.await.unwrap().unwrap().len(), 1);
}

#[tokio::test]
async fn dropping_the_fake_ends_a_long_poll() {
    let (fake, bot) = fake_and_bot().await;
    let poll = tokio::spawn(async move { bot.get_updates().timeout(30).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    drop(fake);
    let result = tokio::time::timeout(Duration::from_secs(5), poll).await.expect("the poll ended").unwrap();
    assert!(matches!(result, Err(RequestError::Network(_))), "{result:?}");
}

#[tokio::test]
async fn buttons_edits_and_callback_answers() {
    let (fake, bot) = fake_and_bot().await;
    let question = fake.send_text(CHAT, "Shall we?");
    let keyboard = InlineKeyboardMarkup::new([[
        InlineKeyboardButton::callback("Yes", "answer:yes"),
        InlineKeyboardButton::callback("No", "answer:no"),
    ]]);
    let sent = bot
        .send_message(ChatId(CHAT), "Pick one")
        .reply_markup(keyboard.clone())
        .reply_parameters(ReplyParameters::new(MessageId(question)))
        .await
        .unwrap();
    assert_eq!(sent.id, MessageId(question + 1), "ids are shared by user and bot messages");
    assert_eq!(sent.text(), Some("Pick one"));
    assert_eq!(sent.reply_markup(), Some(&keyboard));
    assert_eq!(sent.reply_to_message().map(|m| m.id), Some(MessageId(question)));
    assert!(sent.from.as_ref().unwrap().is_bot);

    let recorded = fake.bot_messages(CHAT);
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].message_id, sent.id.0);
    assert_eq!(recorded[0].reply_to, Some(question));
    assert_eq!(
        recorded[0].buttons,
        [("Yes".to_owned(), "answer:yes".to_owned()), ("No".to_owned(), "answer:no".to_owned())]
    );

    let query_id = fake.press_button(CHAT, sent.id.0, "answer:yes");
    let mut offset = 0;
    let got = updates(&bot, &mut offset).await;
    let UpdateKind::CallbackQuery(query) = &got.last().unwrap().kind else { panic!("a callback query: {got:?}") };
    assert_eq!(query.id.0, query_id);
    assert_eq!(query.data.as_deref(), Some("answer:yes"));
    assert_eq!(query.from.id.0 as i64, CHAT);
    let pressed_on = query.regular_message().expect("the message the button is on");
    assert_eq!(pressed_on.id, sent.id);
    assert_eq!(pressed_on.reply_markup(), Some(&keyboard));

    bot.answer_callback_query(query.id.clone()).text("Noted").await.unwrap();
    let answer = fake.wait_for_callback_answer(&query_id, Duration::from_secs(1)).await;
    assert_eq!(answer.text.as_deref(), Some("Noted"));
    let again = bot.answer_callback_query(query.id.clone()).await;
    assert!(matches!(again, Err(RequestError::Api(ApiError::InvalidQueryId))), "{again:?}");

    let edited =
        bot.edit_message_text(ChatId(CHAT), sent.id, "You said <b>yes</b>").parse_mode(ParseMode::Html).await.unwrap();
    assert_eq!(edited.text(), Some("You said yes"));
    assert!(edited.edit_date().is_some());
    assert_eq!(edited.reply_markup(), None, "leaving out reply_markup removes the keyboard");
    let now = fake.wait_for_message(CHAT, Duration::from_secs(1), |m| m.edits == 1).await;
    assert_eq!(now.text, "You said yes");
    assert_eq!(now.raw_text, "You said <b>yes</b>");
    assert!(now.buttons.is_empty());

    let same = bot.edit_message_text(ChatId(CHAT), sent.id, "You said <b>yes</b>").parse_mode(ParseMode::Html).await;
    assert!(matches!(same, Err(RequestError::Api(ApiError::MessageNotModified))), "{same:?}");
    let missing = bot.edit_message_text(ChatId(CHAT), MessageId(999), "x").await;
    assert!(matches!(missing, Err(RequestError::Api(ApiError::MessageToEditNotFound))), "{missing:?}");
    let users = bot.edit_message_text(ChatId(CHAT), MessageId(question), "x").await;
    assert!(matches!(users, Err(RequestError::Api(ApiError::MessageCantBeEdited))), "{users:?}");
    assert_eq!(fake.calls("editMessageText").len(), 4);
}

#[tokio::test]
async fn texts_are_checked_as_telegram_checks_them() {
    let (fake, bot) = fake_and_bot().await;
    fake.send_text(CHAT, "hi");
    let bad_html = bot.send_message(ChatId(CHAT), "1 < 2").parse_mode(ParseMode::Html).await;
    assert!(matches!(bad_html, Err(RequestError::Api(ApiError::CantParseEntities(_)))), "{bad_html:?}");
    let unescaped = bot.send_message(ChatId(CHAT), "Done.").parse_mode(ParseMode::MarkdownV2).await;
    assert!(matches!(unescaped, Err(RequestError::Api(ApiError::CantParseEntities(_)))), "{unescaped:?}");
    let long = bot.send_message(ChatId(CHAT), "x".repeat(4097)).await;
    assert!(matches!(long, Err(RequestError::Api(ApiError::MessageIsTooLong))), "{long:?}");
    let empty = bot.send_message(ChatId(CHAT), " \n").await;
    assert!(matches!(empty, Err(RequestError::Api(ApiError::MessageTextIsEmpty))), "{empty:?}");
    let long_data = InlineKeyboardMarkup::new([[InlineKeyboardButton::callback("b", "d".repeat(65))]]);
    let bad_button = bot.send_message(ChatId(CHAT), "x").reply_markup(long_data).await;
    assert!(matches!(bad_button, Err(RequestError::Api(ApiError::ButtonDataInvalid))), "{bad_button:?}");
    let no_such = bot.send_message(ChatId(CHAT), "x").reply_parameters(ReplyParameters::new(MessageId(77))).await;
    assert!(matches!(no_such, Err(RequestError::Api(ApiError::MessageToReplyNotFound))), "{no_such:?}");

    let formatted =
        bot.send_message(ChatId(CHAT), "*Bold* and `code`\\!").parse_mode(ParseMode::MarkdownV2).await.unwrap();
    assert_eq!(formatted.text(), Some("Bold and code!"));
    let kinds: Vec<_> = formatted.entities().unwrap().iter().map(|e| e.kind.clone()).collect();
    assert_eq!(kinds, [MessageEntityKind::Bold, MessageEntityKind::Code]);
    assert_eq!(fake.bot_messages(CHAT).len(), 1, "refused messages are not sent");
}

#[tokio::test]
async fn chats_the_user_never_opened_or_blocked_are_refused() {
    let (fake, bot) = fake_and_bot().await;
    // Telegram now says "Forbidden: …" where teloxide still expects "Unauthorized: …", so this one
    // reaches teloxide as an unknown error.
    let unopened = bot.send_message(ChatId(CHAT), "hello?").await;
    assert!(
        matches!(&unopened, Err(RequestError::Api(ApiError::Unknown(text))) if text == "Forbidden: bot can't initiate conversation with a user"),
        "{unopened:?}"
    );
    fake.send_text(CHAT, "/start");
    fake.set_blocked(CHAT, true);
    let blocked = bot.send_message(ChatId(CHAT), "hello?").await;
    assert!(matches!(blocked, Err(RequestError::Api(ApiError::BotBlocked))), "{blocked:?}");
    fake.set_blocked(CHAT, false);
    bot.send_message(ChatId(CHAT), "hello!").await.unwrap();
}

#[tokio::test]
async fn a_rate_limit_becomes_retry_after() {
    let (fake, bot) = fake_and_bot().await;
    fake.send_text(CHAT, "hi");
    fake.rate_limit_next("sendMessage", 3);
    let limited = bot.send_message(ChatId(CHAT), "one").await;
    match limited {
        Err(RequestError::RetryAfter(after)) => assert_eq!(after.seconds(), 3),
        other => panic!("expected RetryAfter, got {other:?}"),
    }
    bot.send_message(ChatId(CHAT), "one").await.unwrap();
    assert_eq!(fake.calls("sendmessage").len(), 2);
    assert_eq!(fake.bot_messages(CHAT).len(), 1);
}

#[tokio::test]
async fn an_outage_becomes_invalid_json_after_teloxides_pause() {
    let (fake, bot) = fake_and_bot().await;
    fake.send_text(CHAT, "hi");
    fake.set_outage(true);
    let started = Instant::now();
    let down = bot.send_message(ChatId(CHAT), "anyone?").await;
    // teloxide sleeps 10 s on any 5xx answer before reading its body.
    assert!(started.elapsed() >= Duration::from_secs(10));
    match down {
        Err(RequestError::InvalidJson { raw, .. }) => assert!(raw.contains("502 Bad Gateway"), "{raw}"),
        other => panic!("expected InvalidJson, got {other:?}"),
    }
    fake.set_outage(false);
    bot.send_message(ChatId(CHAT), "back").await.unwrap();
    assert_eq!(fake.calls("sendMessage").len(), 2);
}

#[tokio::test]
async fn an_unreachable_server_is_a_network_error_at_once() {
    let (fake, bot) = fake_and_bot().await;
    bot.get_me().await.unwrap();
    fake.set_unreachable(true);
    let started = Instant::now();
    let result = bot.get_me().await;
    assert!(matches!(result, Err(RequestError::Network(_))), "{result:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
    fake.set_unreachable(false);
    bot.get_me().await.unwrap();
}

#[tokio::test]
async fn a_wrong_token_is_an_invalid_token() {
    let (fake, _bot) = fake_and_bot().await;
    let stranger = Bot::new("1:wrong").set_api_url(fake.api_url().parse().unwrap());
    let result = stranger.get_me().await;
    assert!(matches!(result, Err(RequestError::Api(ApiError::InvalidToken))), "{result:?}");
}

#[tokio::test]
async fn commands_webhook_and_chat_actions() {
    let (fake, bot) = fake_and_bot().await;
    bot.delete_webhook().await.unwrap();
    let webhook = bot.get_webhook_info().await.unwrap();
    assert_eq!(webhook.url, None);
    bot.set_my_commands([BotCommand::new("start", "Begin"), BotCommand::new("help", "What I can do")]).await.unwrap();
    assert_eq!(
        fake.commands(),
        [("start".to_owned(), "Begin".to_owned()), ("help".to_owned(), "What I can do".to_owned())]
    );
    assert_eq!(bot.get_my_commands().await.unwrap().len(), 2);
    fake.send_text(CHAT, "hi");
    bot.send_chat_action(ChatId(CHAT), teloxide::types::ChatAction::Typing).await.unwrap();
    let sent = bot.send_message(ChatId(CHAT), "bye").await.unwrap();
    bot.delete_message(ChatId(CHAT), sent.id).await.unwrap();
    assert!(fake.bot_messages(CHAT).is_empty());
}

/// A whole teloxide dispatcher polling the fake: `deleteWebhook`, `getMe`, long polls with
/// offsets, a handler's reply, and a clean shutdown.
#[tokio::test]
async fn a_teloxide_dispatcher_runs_against_the_fake() {
    let (fake, bot) = fake_and_bot().await;
    let handler = Update::filter_message().endpoint(|bot: Bot, message: Message| async move {
        let text = message.text().unwrap_or("something");
        bot.send_message(message.chat.id, format!("You wrote: {text}")).await?;
        ResponseResult::Ok(())
    });
    let mut dispatcher = Dispatcher::builder(bot.clone(), handler).build();
    let shutdown = dispatcher.shutdown_token();
    let listener = Polling::builder(bot).timeout(Duration::from_secs(2)).delete_webhook().await.build();
    let run = dispatcher.dispatch_with_listener(listener, LoggingErrorHandler::new());
    let script = async {
        fake.send_text(CHAT, "first");
        fake.wait_for_message(CHAT, Duration::from_secs(5), |m| m.text == "You wrote: first").await;
        fake.send_text(CHAT, "second");
        fake.wait_for_message(CHAT, Duration::from_secs(5), |m| m.text == "You wrote: second").await;
        loop {
            match shutdown.shutdown() {
                Ok(done) => break done.await,
                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), async { tokio::join!(run, script) })
        .await
        .expect("the dispatcher stops");
    assert_eq!(fake.bot_messages(CHAT).len(), 2, "each update is handled once: {}", fake.transcript(CHAT));
    assert_eq!(fake.pending_updates(), 0);
    // teloxide's polling asks for the webhook and deletes it only if one is set.
    assert_eq!(fake.calls("getWebhookInfo").len(), 1);
    assert!(fake.calls("deleteWebhook").is_empty());
    assert_eq!(fake.calls("getMe").len(), 1);
}

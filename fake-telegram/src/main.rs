//! Runs the fake Bot API by hand: `fake-telegram --listen 127.0.0.1:PORT --token TOKEN`.
//! Point the bot's API URL at the printed address. Each line typed on stdin is a message from
//! the user of chat `--chat` (default 1); `!sticker`, `!photo`, `!reply ID TEXT` and
//! `!press ID DATA` do the rest. The bot's messages and edits are printed as they happen.
//! With `--control HOST:PORT`, a JSON control API on that second port plays the users of any
//! chat over HTTP (see [`fake_telegram::serve_control`]; `GET /healthz` answers once it is up).
//! Serves until killed.

use std::io::BufRead;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use fake_telegram::FakeTelegram;

const USAGE: &str =
    "usage: fake-telegram [--listen 127.0.0.1:8081] [--token 123456:TEST] [--chat 1] [--control 127.0.0.1:8082]";

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut listen: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 8081));
    let mut token = "123456:TEST".to_owned();
    let mut chat_id: i64 = 1;
    let mut control: Option<SocketAddr> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| fail(&format!("{arg} needs a value")));
        match arg.as_str() {
            "--listen" => listen = value().parse().unwrap_or_else(|_| fail("--listen takes HOST:PORT")),
            "--token" => token = value(),
            "--control" => control = Some(value().parse().unwrap_or_else(|_| fail("--control takes HOST:PORT"))),
            "--chat" => chat_id = value().parse().unwrap_or_else(|_| fail("--chat takes a number")),
            "-h" | "--help" => {
                println!("{USAGE}");
                return;
            }
            other => fail(&format!("unknown argument {other}")),
        }
    }
    let fake = match FakeTelegram::bind(listen, &token).await {
        Ok(fake) => Arc::new(fake),
        Err(error) => fail(&format!("cannot listen on {listen}: {error}")),
    };
    println!(
        "fake-telegram: API URL {} (token {token}); typing here writes as the user of chat {chat_id}",
        fake.api_url()
    );
    if let Some(control) = control {
        let listener = match tokio::net::TcpListener::bind(control).await {
            Ok(listener) => listener,
            Err(error) => fail(&format!("cannot listen on {control}: {error}")),
        };
        let address = listener.local_addr().unwrap_or(control);
        tokio::spawn(fake_telegram::serve_control(fake.clone(), listener));
        println!("fake-telegram: control API http://{address}");
    }

    let typist = fake.clone();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            if let Err(error) = user_line(&typist, chat_id, &line) {
                eprintln!("({error})");
            }
        }
    });

    // Print the bot's messages as they appear or change.
    let mut seen: Vec<(i32, usize)> = Vec::new();
    loop {
        for message in fake.bot_messages(chat_id) {
            let key = (message.message_id, message.edits);
            if !seen.contains(&key) {
                seen.push(key);
                let edited = if message.edits > 0 { " (edited)" } else { "" };
                println!("bot #{}{edited}: {}", message.message_id, message.text);
                if !message.buttons.is_empty() {
                    println!("    buttons: {:?}", message.buttons);
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn user_line(fake: &FakeTelegram, chat_id: i64, line: &str) -> Result<(), String> {
    let id = if line == "!sticker" {
        fake.send_sticker(chat_id)
    } else if line == "!photo" {
        fake.send_photo(chat_id)
    } else if let Some(rest) = line.strip_prefix("!reply ") {
        let (id, text) = rest.split_once(' ').unwrap_or((rest, ""));
        fake.try_send_reply(chat_id, text, id.parse().unwrap_or_default())?
    } else if let Some(rest) = line.strip_prefix("!press ") {
        let (id, data) = rest.split_once(' ').unwrap_or((rest, ""));
        let query = fake.try_press_button(chat_id, id.parse().unwrap_or_default(), data)?;
        println!("(callback query {query})");
        return Ok(());
    } else {
        fake.send_text(chat_id, line)
    };
    println!("(user message #{id})");
    Ok(())
}

fn fail(message: &str) -> ! {
    eprintln!("fake-telegram: {message}\n{USAGE}");
    std::process::exit(2);
}

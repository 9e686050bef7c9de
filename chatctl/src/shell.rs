//! The interactive loop and the watch loop.

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::time::Duration;

use domain::control_plane::TaskState;
use domain::ErrorCode;
use tokio::sync::mpsc;

use crate::client::{Client, ClientError};
use crate::display;

/// How a watch ended.
pub enum WatchEnd {
    Final(TaskState),
    Interrupted,
    Error(ClientError),
}

/// Consecutive transport failures a watch rides out before giving up.
const MAX_TRANSPORT_RETRIES: u32 = 5;

/// Polls a task until `done` or `failed`, printing each change of state, or until Ctrl-C.
pub async fn watch_until_final(client: &Client, task_id: &str, interval: Duration) -> WatchEnd {
    // One listener for the whole watch: a Ctrl-C that lands while a request is in flight counts too.
    let interrupted = tokio::signal::ctrl_c();
    tokio::pin!(interrupted);
    let mut last_state: Option<TaskState> = None;
    let mut transport_failures = 0;
    loop {
        let answer = tokio::select! {
            answer = client.watch(task_id) => answer,
            _ = &mut interrupted => return stopped_watching(task_id),
        };
        let wait = match answer {
            Ok(watch) => {
                transport_failures = 0;
                if last_state != Some(watch.state) {
                    println!("{}", display::state(&watch));
                    flush();
                    last_state = Some(watch.state);
                }
                if watch.state.is_final() {
                    return WatchEnd::Final(watch.state);
                }
                interval
            }
            Err(error) if error.code() == Some(ErrorCode::RateLimited) => {
                Duration::from_secs(error.retry_after().unwrap_or(1)).max(interval)
            }
            Err(error @ ClientError::Transport { .. }) => {
                transport_failures += 1;
                if transport_failures > MAX_TRANSPORT_RETRIES {
                    return WatchEnd::Error(error);
                }
                eprintln!("{error}; retrying");
                interval
            }
            Err(error) => return WatchEnd::Error(error),
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = &mut interrupted => return stopped_watching(task_id),
        }
    }
}

fn stopped_watching(task_id: &str) -> WatchEnd {
    println!("stopped watching {}", display::clean(task_id));
    flush();
    WatchEnd::Interrupted
}

fn flush() {
    let _ = std::io::stdout().flush();
}

fn prompt(text: &str) {
    print!("{text}");
    flush();
}

/// Lines from standard input, read on their own thread so Ctrl-C can interrupt a wait.
fn stdin_lines() -> mpsc::UnboundedReceiver<String> {
    let (sender, receiver) = mpsc::unbounded_channel();
    std::thread::spawn(move || {
        let stdin = std::io::stdin();
        for line in stdin.lock().lines() {
            let Ok(line) = line else { break };
            if sender.send(line).is_err() {
                break;
            }
        }
    });
    receiver
}

/// The next line, or `None` at end of input or on Ctrl-C.
async fn next_line(lines: &mut mpsc::UnboundedReceiver<String>) -> Option<String> {
    tokio::select! {
        line = lines.recv() => line,
        _ = tokio::signal::ctrl_c() => {
            println!();
            None
        }
    }
}

pub async fn run(client: &Client, interval: Duration) -> ExitCode {
    println!("chatctl: connected to {} as session {} on {}", client.server(), client.session_id, client.channel);
    println!("Type a command (e.g. `liam check status`), or `quit`.");
    converse(client, interval).await;
    // However the person leaves (`quit`, end of input, Ctrl-C), the session ends with them.
    match client.end_session().await {
        Ok(ended) if ended.ended => println!("{}", display::session_ended(&ended)),
        Ok(_) => {}
        Err(error) => println!("{error}"),
    }
    ExitCode::SUCCESS
}

/// The prompt loop, until the person leaves.
async fn converse(client: &Client, interval: Duration) {
    let mut lines = stdin_lines();
    loop {
        prompt("chatctl> ");
        let Some(line) = next_line(&mut lines).await else {
            return;
        };
        let input = line.trim();
        if input.is_empty() {
            continue;
        }
        if matches!(input, "quit" | "exit") {
            return;
        }
        let preview = match client.preview(&line).await {
            Ok(preview) => preview,
            Err(error) => {
                println!("{error}");
                continue;
            }
        };
        print!("{}", display::preview(&preview));
        if preview.requires_structured_override {
            println!(
                "Not recognised. Confirm it with a structured override:\n  chatctl --session {} confirm {} --override '{{\"intent\": \"...\", \"operations\": [...]}}'",
                client.session_id,
                display::clean(&preview.preview_id)
            );
            continue;
        }
        prompt("Confirm? [y/N] ");
        let Some(answer) = next_line(&mut lines).await else {
            return;
        };
        if !matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
            println!("not confirmed; nothing was written");
            continue;
        }
        let confirmed = match client.confirm(&preview.preview_id, None).await {
            Ok(confirmed) => confirmed,
            Err(error) => {
                println!("{error}");
                continue;
            }
        };
        println!("{}", display::confirmed(&confirmed));
        let task = display::clean(&confirmed.task_id);
        println!("watching {task} (Ctrl-C stops watching)");
        match watch_until_final(client, &confirmed.task_id, interval).await {
            WatchEnd::Final(state) => println!("{task} is {state}"),
            WatchEnd::Interrupted => {}
            WatchEnd::Error(error) => println!("{error}"),
        }
    }
}

//! `chatctl`: the control plane's terminal client. Type a command in plain language, read its
//! preview (intent, operations, risk, lane, rule, TTL), confirm it, and watch the task until the
//! execution plane reports it done or failed.

mod client;
mod display;
mod shell;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use client::{Client, ClientError};
use domain::control_plane::{Channel, StructuredOverride, TaskState};

/// Exit status when the server refused a request or could not be reached.
pub const EXIT_ERROR: u8 = 1;
/// Exit status of `watch` when the task failed.
pub const EXIT_TASK_FAILED: u8 = 3;
/// Exit status when the user interrupted.
pub const EXIT_INTERRUPTED: u8 = 130;

#[derive(Debug, Parser)]
#[command(name = "chatctl", version, about = "Preview, confirm and watch control plane tasks from a terminal.")]
struct Cli {
    /// The server's base URL.
    #[arg(long, global = true, default_value = "http://127.0.0.1:3000")]
    server: String,
    /// The session id (a UUIDv4). Default: a new one, printed so it can be reused.
    #[arg(long, global = true)]
    session: Option<String>,
    /// An API token of an operator or admin, sent as `Authorization: Bearer`. Default: the
    /// `CHATCTL_TOKEN` environment variable.
    #[arg(long, global = true)]
    token: Option<String>,
    /// The channel this client speaks for.
    #[arg(long, global = true, default_value = "terminal", value_parser = parse_channel)]
    channel: Channel,
    /// How often `watch` asks for the task's state, in milliseconds.
    #[arg(long, global = true, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(50..=60_000))]
    interval_ms: u64,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// The interactive loop (the default): read a line, preview, confirm, watch.
    Shell,
    /// Preview a command; nothing is written.
    Preview {
        /// The command in plain language, e.g. `liam check status`.
        #[arg(required = true, num_args = 1.., trailing_var_arg = true)]
        words: Vec<String>,
    },
    /// Confirm a preview of the same session; writes its task.
    Confirm {
        preview_id: String,
        /// A structured override for an input that was not recognised, as JSON:
        /// {"intent": "...", "operations": [{"tool": "...", "args": {...}}]}
        #[arg(long = "override", value_name = "JSON")]
        structured_override: Option<String>,
    },
    /// Watch a task of this session until it is done or failed (exit 3 when it failed).
    Watch {
        task_id: String,
        /// Show the current state once and stop.
        #[arg(long)]
        once: bool,
    },
    /// Check the hash chain of a gateway telemetry file and name the first broken line. Given the
    /// telemetry folder, checks every gateway log in it (`gateway.jsonl`, or each instance's
    /// `gateway-<instance>.jsonl`), each log's rotated files and live file as one chain.
    VerifyTelemetry {
        file: PathBuf,
        /// The head kept outside the log, `<seq>:<hash>` (from GET /api/v1/chat/telemetry/anchor):
        /// also finds lines cut from the end and a rewritten end, which the chain alone cannot.
        #[arg(long, value_name = "SEQ:HASH", value_parser = parse_anchor)]
        anchor: Option<gateway::ChainHead>,
    },
}

fn parse_anchor(text: &str) -> Result<gateway::ChainHead, String> {
    text.parse()
}

fn parse_channel(text: &str) -> Result<Channel, String> {
    match text.parse::<Channel>() {
        Ok(channel) if Channel::FOR_CLIENTS.contains(&channel) => Ok(channel),
        _ => Err("expected terminal, telegram or web".to_owned()),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::VerifyTelemetry { file, anchor }) = &cli.command {
        return verify_telemetry(file, anchor.as_ref());
    }

    let session_id = match &cli.session {
        Some(session) => session.clone(),
        None => {
            let session = uuid::Uuid::new_v4().to_string();
            eprintln!("session {session} (reuse it with --session {session})");
            session
        }
    };
    let token =
        cli.token.clone().or_else(|| std::env::var("CHATCTL_TOKEN").ok()).filter(|token| !token.trim().is_empty());
    let client = match Client::new(&cli.server, session_id, cli.channel, token.as_deref()) {
        Ok(client) => client,
        Err(error) => return fail(&error),
    };
    let interval = Duration::from_millis(cli.interval_ms);

    match cli.command.unwrap_or(Command::Shell) {
        Command::Shell => shell::run(&client, interval).await,
        Command::Preview { words } => match client.preview(&words.join(" ")).await {
            Ok(preview) => {
                print!("{}", display::preview(&preview));
                ExitCode::SUCCESS
            }
            Err(error) => fail(&error),
        },
        Command::Confirm { preview_id, structured_override } => {
            let structured_override =
                match structured_override.as_deref().map(serde_json::from_str::<StructuredOverride>) {
                    None => None,
                    Some(Ok(parsed)) => Some(parsed),
                    Some(Err(error)) => {
                        eprintln!("error: --override is not a structured override: {error}");
                        return ExitCode::from(2);
                    }
                };
            match client.confirm(&preview_id, structured_override).await {
                Ok(response) => {
                    println!("{}", display::confirmed(&response));
                    ExitCode::SUCCESS
                }
                Err(error) => fail(&error),
            }
        }
        Command::Watch { task_id, once } => {
            if once {
                return match client.watch(&task_id).await {
                    Ok(watch) => {
                        println!("{}", display::state(&watch));
                        ExitCode::SUCCESS
                    }
                    Err(error) => fail(&error),
                };
            }
            match shell::watch_until_final(&client, &task_id, interval).await {
                shell::WatchEnd::Final(TaskState::Failed) => ExitCode::from(EXIT_TASK_FAILED),
                shell::WatchEnd::Final(_) => ExitCode::SUCCESS,
                shell::WatchEnd::Interrupted => ExitCode::from(EXIT_INTERRUPTED),
                shell::WatchEnd::Error(error) => fail(&error),
            }
        }
        Command::VerifyTelemetry { .. } => ExitCode::SUCCESS,
    }
}

fn fail(error: &ClientError) -> ExitCode {
    eprintln!("{error}");
    ExitCode::from(EXIT_ERROR)
}

fn verify_telemetry(target: &std::path::Path, anchor: Option<&gateway::ChainHead>) -> ExitCode {
    if !target.is_dir() {
        return exit_code(verify_log(target, &[target.to_owned()], anchor));
    }
    // A folder: every gateway log in it, each one chain (several instances write one each).
    let logs = match gateway::gateway_logs_in(target) {
        Ok(logs) => logs,
        Err(error) => {
            println!("{}: cannot be read: {error}", target.display());
            return ExitCode::from(EXIT_ERROR);
        }
    };
    if logs.is_empty() {
        println!("{}: holds no gateway log", target.display());
        return ExitCode::from(EXIT_ERROR);
    }
    if anchor.is_some() && logs.len() > 1 {
        eprintln!(
            "error: an anchor belongs to one log and {} holds {}: give that log's file instead",
            target.display(),
            logs.len()
        );
        return ExitCode::from(2);
    }
    let mut intact = true;
    for live in &logs {
        let files = match gateway::log_series(live) {
            Ok(series) => series.into_iter().map(|f| f.path).filter(|p| p.exists()).collect::<Vec<_>>(),
            Err(error) => {
                println!("{}: cannot be read: {error}", live.display());
                intact = false;
                continue;
            }
        };
        intact &= verify_log(live, &files, anchor);
    }
    exit_code(intact)
}

fn exit_code(intact: bool) -> ExitCode {
    if intact {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_ERROR)
    }
}

/// Checks one log's files as one chain and says how it went; `true` when intact.
fn verify_log(log: &std::path::Path, files: &[PathBuf], anchor: Option<&gateway::ChainHead>) -> bool {
    match gateway::verify_series(files.iter().map(PathBuf::as_path), anchor) {
        Ok(report) => {
            let anchored = match anchor {
                Some(anchor) => format!(", and it reaches its anchor (seq {})", anchor.seq),
                None => String::new(),
            };
            let files_note = if files.len() > 1 { format!(" in {} files", files.len()) } else { String::new() };
            let continued = match &report.continues_from {
                Some(from) => format!("; it continues a rotated file that ended at seq {}", from.seq),
                None => String::new(),
            };
            let repairs = match report.repairs {
                0 => String::new(),
                n => format!("; {n} repair(s) of a damaged end, each kept beside the log"),
            };
            println!(
                "{}: {} line(s){files_note}, hash chain intact (last seq {}, last hash {}){anchored}{continued}{repairs}",
                log.display(),
                report.lines,
                report.last_seq,
                report.last_hash
            );
            true
        }
        Err(broken) => {
            println!("{}: hash chain broken at line {}: {}", log.display(), broken.line, broken.problem);
            false
        }
    }
}

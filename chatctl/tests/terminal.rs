//! `chatctl` driven as a person would: in a pseudo-terminal, against a real gateway on a
//! loopback port, with the execution plane simulated by appending lines to a telemetry file.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use gateway::{Gateway, GatewayConfig};
use rexpect::process::WaitStatus;
use rexpect::session::PtySession;
use serde_json::json;
use tempfile::TempDir;

const TIMEOUT_MS: u64 = 15_000;
const TASK_ID: &str = r"task_[0-9]{8}T[0-9]{6}_[0-9a-f]{12}";

/// A gateway served on 127.0.0.1 with a temporary root.
struct Server {
    dir: TempDir,
    url: String,
    _runtime: tokio::runtime::Runtime,
}

/// The one token [`Server::requiring_a_token`] accepts.
const TOKEN: &str = "ais_operator_token";

impl Server {
    fn start() -> Self {
        // The server signs people in and names the operator; here everyone is one operator.
        let operator = gateway::Operator::new(uuid::Uuid::new_v4());
        Self::with(move |router| router.layer(axum::Extension(operator)))
    }

    /// A gateway that names an operator only for requests carrying [`TOKEN`], as the server does.
    fn requiring_a_token() -> Self {
        async fn sign_in(
            mut request: axum::extract::Request,
            next: axum::middleware::Next,
        ) -> axum::response::Response {
            let expected = format!("Bearer {TOKEN}");
            if request.headers().get("authorization").is_some_and(|value| value.as_bytes() == expected.as_bytes()) {
                request.extensions_mut().insert(gateway::Operator::new(uuid::Uuid::from_u128(7)));
            }
            next.run(request).await
        }
        Self::with(|router| router.layer(axum::middleware::from_fn(sign_in)))
    }

    fn with(sign_in: impl FnOnce(axum::Router) -> axum::Router) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let gateway = Arc::new(Gateway::new(GatewayConfig::with_root(dir.path())).unwrap());
        let router = sign_in(gateway::router::<Arc<Gateway>>().with_state(gateway));
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        runtime.spawn(async move {
            axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>()).await.unwrap();
        });
        Self { dir, url, _runtime: runtime }
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    /// The `event` of each line of the gateway's log, in order.
    fn logged_events(&self) -> Vec<String> {
        let log = std::fs::read_to_string(self.root().join("observability/telemetry/gateway.jsonl")).unwrap();
        log.lines()
            .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap()["event"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Appends an execution-plane event.
    fn report(&self, line: serde_json::Value) {
        let path = self.root().join("observability/telemetry/executor.jsonl");
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path).unwrap();
        writeln!(file, "{line}").unwrap();
    }

    /// How many files a folder under the root holds. The gateway makes its folders at start-up,
    /// so a missing one is a failure, not an empty folder.
    fn files_in(&self, relative: &str) -> usize {
        std::fs::read_dir(self.root().join(relative)).unwrap_or_else(|e| panic!("{relative}: {e}")).count()
    }

    /// Every folder (as `None`) and file (with its bytes) under the root, by relative path.
    fn tree(&self) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
        fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Option<Vec<u8>>>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                let relative = path.strip_prefix(root).unwrap().to_owned();
                if path.is_dir() {
                    out.insert(relative, None);
                    walk(root, &path, out);
                } else {
                    out.insert(relative, Some(std::fs::read(&path).unwrap()));
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(self.root(), self.root(), &mut out);
        out
    }

    /// Asserts that nothing under the root changed since `before` but lines appended to the
    /// gateway's own log.
    fn assert_nothing_written_since(&self, before: &BTreeMap<PathBuf, Option<Vec<u8>>>) {
        let log = Path::new("observability/telemetry/gateway.jsonl");
        let (mut before, mut after) = (before.clone(), self.tree());
        let logged_before = before.remove(log).flatten().unwrap_or_default();
        let logged_after = after.remove(log).flatten().unwrap_or_default();
        assert!(logged_after.starts_with(&logged_before), "the gateway's log was rewritten, not appended to");
        let changed: BTreeSet<&PathBuf> =
            before.keys().chain(after.keys()).filter(|path| before.get(*path) != after.get(*path)).collect();
        assert!(changed.is_empty(), "written under the root: {changed:?}");
    }

    fn chatctl(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_chatctl"));
        command.env_remove("CHATCTL_TOKEN").args(["--server", &self.url, "--interval-ms", "100"]).args(args);
        command
    }

    fn spawn(&self, args: &[&str]) -> PtySession {
        rexpect::session::spawn_command(self.chatctl(args), Some(TIMEOUT_MS)).unwrap()
    }

    /// Runs chatctl to the end without a terminal; returns (exit code, stdout, stderr).
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let output = self.chatctl(args).output().unwrap();
        (
            output.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    }
}

fn exit_code(session: &mut PtySession) -> i32 {
    match session.process_mut().wait().unwrap() {
        WaitStatus::Exited(_, code) => code,
        other => panic!("chatctl did not exit normally: {other:?}"),
    }
}

fn session_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

#[test]
fn the_interactive_loop_previews_confirms_and_watches_until_done() {
    let server = Server::start();
    let before = server.tree();
    let mut chatctl = server.spawn(&[]);
    chatctl.exp_string("as session ").unwrap();
    chatctl.exp_string("chatctl> ").unwrap();
    chatctl.send_line("liam check status").unwrap();
    for shown in [
        "intent    status_check",
        "status_reader agent=liam",
        "risk      low",
        "lane      fast",
        "rule      liam_status",
        "ttl       300 s",
    ] {
        chatctl.exp_string(shown).unwrap();
    }
    chatctl.exp_string("Confirm? [y/N] ").unwrap();
    // Nothing is written before the confirm.
    server.assert_nothing_written_since(&before);
    chatctl.send_line("y").unwrap();
    chatctl.exp_string("ok: ").unwrap();
    let (_, task_id) = chatctl.exp_regex(TASK_ID).unwrap();
    chatctl.exp_string("accepted").unwrap();
    assert_eq!(server.files_in("interface/inbox"), 1);

    server.report(json!({"task_id": task_id, "state": "running"}));
    chatctl.exp_string("running").unwrap();
    server.report(json!({"task_id": task_id, "state": "done", "result_summary": "all systems nominal"}));
    chatctl.exp_string("done - all systems nominal").unwrap();
    chatctl.exp_string(&format!("{task_id} is done")).unwrap();
    chatctl.exp_string("chatctl> ").unwrap();
    chatctl.send_line("quit").unwrap();
    chatctl.exp_string(" ended").unwrap();
    chatctl.exp_eof().unwrap();
    assert_eq!(exit_code(&mut chatctl), 0);
    assert_eq!(server.logged_events().last().map(String::as_str), Some("session_end"));
}

#[test]
fn declining_writes_nothing_and_errors_read_as_code_and_message() {
    let server = Server::start();
    let before = server.tree();
    let mut chatctl = server.spawn(&[]);
    chatctl.exp_string("chatctl> ").unwrap();
    chatctl.send_line("show tasks").unwrap();
    chatctl.exp_string("Confirm? [y/N] ").unwrap();
    chatctl.send_line("").unwrap();
    chatctl.exp_string("not confirmed; nothing was written").unwrap();
    chatctl.exp_string("chatctl> ").unwrap();
    chatctl.send_line("please do something clever").unwrap();
    chatctl.exp_string("risk      high").unwrap();
    chatctl.exp_string("Not recognised").unwrap();
    chatctl.exp_string("chatctl> ").unwrap();
    chatctl.send_line(&format!("liam check status {}", "x".repeat(300))).unwrap();
    chatctl.exp_string("the input is longer than 256 bytes").unwrap();
    chatctl.exp_string("chatctl> ").unwrap();
    // Three unconfirmed previews are pending; two more fill the session, the next is refused.
    for _ in 0..2 {
        chatctl.send_line("show inbox").unwrap();
        chatctl.exp_string("Confirm? [y/N] ").unwrap();
        chatctl.send_line("n").unwrap();
        chatctl.exp_string("chatctl> ").unwrap();
    }
    chatctl.send_line("show inbox").unwrap();
    chatctl.exp_string("TOO_MANY_PREVIEWS: ").unwrap();
    chatctl.exp_string("chatctl> ").unwrap();
    // Leaving ends the session with the previews nobody confirmed.
    chatctl.send_control('d').unwrap();
    chatctl.exp_string(" ended; 5 unconfirmed previews dropped").unwrap();
    chatctl.exp_eof().unwrap();
    assert_eq!(exit_code(&mut chatctl), 0);
    server.assert_nothing_written_since(&before);
}

#[test]
fn ctrl_c_stops_watching_and_returns_to_the_prompt() {
    let server = Server::start();
    let mut chatctl = server.spawn(&[]);
    chatctl.exp_string("chatctl> ").unwrap();
    chatctl.send_line("lisa run backup_db").unwrap();
    chatctl.exp_string("lane      approval").unwrap();
    chatctl.exp_string("Confirm? [y/N] ").unwrap();
    chatctl.send_line("yes").unwrap();
    chatctl.exp_string("pending_approval").unwrap();
    // `pending_approval` is not final: the watch goes on until interrupted.
    std::thread::sleep(std::time::Duration::from_millis(400));
    chatctl.send_control('c').unwrap();
    chatctl.exp_string("stopped watching task_").unwrap();
    chatctl.exp_string("chatctl> ").unwrap();
    chatctl.send_control('c').unwrap();
    chatctl.exp_eof().unwrap();
    assert_eq!(exit_code(&mut chatctl), 0);
    assert_eq!(server.files_in("interface/pending_approval"), 1);
}

#[test]
fn subcommands_preview_confirm_and_watch() {
    let server = Server::start();
    let session = session_id();
    let (code, out, err) = server.run(&["--session", &session, "preview", "liam", "session", "start"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("intent    session_start") && out.contains("lane      fast"), "{out}");
    let preview_id = out.lines().next().unwrap().trim_start_matches("preview").trim().to_owned();
    assert!(uuid::Uuid::parse_str(&preview_id).is_ok(), "{out}");

    // Another session may not confirm it.
    let (code, _, err) = server.run(&["--session", &session_id(), "confirm", &preview_id]);
    assert_eq!(code, 1);
    assert!(err.starts_with("SESSION_MISMATCH: Session ID does not match preview"), "{err}");

    let (code, out, err) = server.run(&["--session", &session, "confirm", &preview_id]);
    assert_eq!(code, 0, "{err}");
    let task_id = out.split_whitespace().nth(1).unwrap().to_owned();
    assert!(out.contains(&format!("interface/inbox/{task_id}.yaml")), "{out}");

    let (code, _, err) = server.run(&["--session", &session, "confirm", &preview_id]);
    assert_eq!(code, 1);
    assert!(err.starts_with("PREVIEW_ALREADY_CONFIRMED: "), "{err}");

    let (code, out, _) = server.run(&["--session", &session, "watch", &task_id, "--once"]);
    assert_eq!(code, 0);
    assert!(out.contains("accepted"), "{out}");

    let mut watch = server.spawn(&["--session", &session, "watch", &task_id]);
    watch.exp_string("accepted").unwrap();
    server.report(json!({"task_id": task_id, "state": "failed", "result_summary": "disk full"}));
    watch.exp_string("failed - disk full").unwrap();
    watch.exp_eof().unwrap();
    assert_eq!(exit_code(&mut watch), 3, "a failed task exits 3");
}

#[test]
fn a_structured_override_confirms_an_unrecognised_input() {
    let server = Server::start();
    let session = session_id();
    let (_, out, _) =
        server.run(&["--session", &session, "--channel", "telegram", "preview", "back", "up", "the", "db"]);
    let preview_id = out.lines().next().unwrap().trim_start_matches("preview").trim().to_owned();
    let (code, _, err) = server.run(&["--session", &session, "confirm", &preview_id]);
    assert_eq!(code, 1);
    assert!(err.starts_with("SCHEMA_INVALID: "), "{err}");
    let chosen = r#"{"intent":"task_execution","operations":[{"tool":"task_runner","args":{"task":"backup_db"}}]}"#;
    let (code, out, err) = server.run(&["--session", &session, "confirm", &preview_id, "--override", chosen]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("interface/pending_approval/"), "{out}");
}

#[test]
fn errors_exit_non_zero_with_code_and_message() {
    let server = Server::start();
    let (code, _, err) = server.run(&["--session", "not-a-uuid", "preview", "show", "tasks"]);
    assert_eq!(code, 1);
    assert!(err.starts_with("INVALID_SESSION_ID: "), "{err}");
    let (code, _, err) = server.run(&["--session", &session_id(), "confirm", &session_id()]);
    assert_eq!(code, 1);
    assert!(err.starts_with("PREVIEW_NOT_FOUND: "), "{err}");
    let (code, _, err) = server.run(&["--session", &session_id(), "watch", "task_20200101T000000_000000000000"]);
    assert_eq!(code, 1);
    assert!(err.starts_with("TASK_NOT_FOUND: "), "{err}");

    // A default session is generated and printed.
    let (code, _, err) = server.run(&["preview", "show", "inbox"]);
    assert_eq!(code, 0, "{err}");
    assert!(err.starts_with("session ") && err.contains("--session"), "{err}");

    let closed = Command::new(env!("CARGO_BIN_EXE_chatctl"))
        .args(["--server", "http://127.0.0.1:9", "preview", "show", "tasks"])
        .output()
        .unwrap();
    assert_eq!(closed.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&closed.stderr).contains("cannot reach http://127.0.0.1:9"));
}

#[test]
fn verify_telemetry_accepts_the_chain_and_names_a_tampered_line() {
    let server = Server::start();
    let session = session_id();
    for _ in 0..2 {
        server.run(&["--session", &session, "preview", "show", "tasks"]);
    }
    server.run(&["--session", &session, "watch", "task_20200101T000000_000000000000"]);
    let log: PathBuf = server.root().join("observability/telemetry/gateway.jsonl");
    let (code, out, _) = server.run(&["verify-telemetry", log.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("3 line(s), hash chain intact"), "{out}");

    let text = std::fs::read_to_string(&log).unwrap();
    let tampered = server.root().join("tampered.jsonl");
    let lines: Vec<String> = text
        .lines()
        .enumerate()
        .map(|(i, line)| if i == 1 { line.replace("show tasks", "show inbox") } else { line.to_owned() })
        .collect();
    std::fs::write(&tampered, lines.join("\n") + "\n").unwrap();
    let (code, out, _) = server.run(&["verify-telemetry", tampered.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(out.contains("broken at line 2"), "{out}");

    // With the head kept outside the log, a copy cut short is found too; the chain alone is sound.
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    let anchor = format!("3:{}", last["hash"].as_str().unwrap());
    let (code, out, _) = server.run(&["verify-telemetry", log.to_str().unwrap(), "--anchor", &anchor]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("reaches its anchor (seq 3)"), "{out}");
    let cut = server.root().join("cut.jsonl");
    std::fs::write(&cut, text.lines().take(2).map(|l| format!("{l}\n")).collect::<String>()).unwrap();
    let (code, out, _) = server.run(&["verify-telemetry", cut.to_str().unwrap()]);
    assert_eq!(code, 0, "the chain alone cannot tell: {out}");
    let (code, out, _) = server.run(&["verify-telemetry", cut.to_str().unwrap(), "--anchor", &anchor]);
    assert_eq!(code, 1);
    assert!(out.contains("lines were cut from the end"), "{out}");
    let (code, _, err) = server.run(&["verify-telemetry", cut.to_str().unwrap(), "--anchor", "3:nothex"]);
    assert_eq!(code, 2, "a malformed anchor is a usage error: {err}");
}

#[test]
fn a_token_names_the_operator_and_without_one_the_server_says_to_sign_in() {
    let server = Server::requiring_a_token();
    let (code, _, stderr) = server.run(&["preview", "show", "inbox"]);
    assert_ne!(code, 0);
    assert!(stderr.contains("UNAUTHENTICATED"), "{stderr}");
    assert!(stderr.contains("Sign in as an operator or admin"), "{stderr}");

    let (code, stdout, stderr) = server.run(&["--token", TOKEN, "preview", "show", "inbox"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("intent    task_list"), "{stdout}");

    let output = server.chatctl(&["preview", "show", "tasks"]).env("CHATCTL_TOKEN", TOKEN).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    // The token never shows in what chatctl prints.
    assert!(!String::from_utf8_lossy(&output.stdout).contains(TOKEN));
    assert!(!String::from_utf8_lossy(&output.stderr).contains(TOKEN));
}

#[test]
fn verify_telemetry_checks_a_rotated_log_as_one_chain() {
    let dir = tempfile::tempdir().unwrap();
    let config = GatewayConfig { telemetry_rotate_bytes: 3_000, ..GatewayConfig::with_root(dir.path()) };
    let gateway = Gateway::new(config).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let operator = gateway::Operator::new(uuid::Uuid::new_v4());
    runtime.block_on(async {
        for _ in 0..30 {
            let request = domain::control_plane::PreviewRequest {
                raw_input: "show tasks".to_owned(),
                channel: domain::control_plane::Channel::Terminal,
                session_id: uuid::Uuid::new_v4().to_string(),
            };
            gateway.preview(request, operator, None).await.unwrap();
        }
    });
    let folder = dir.path().join("observability/telemetry");
    let series = gateway::log_series(&folder.join("gateway.jsonl")).unwrap();
    assert!(series.len() >= 3, "{series:?}");
    let head = gateway.telemetry_head().borrow().clone();
    let chatctl = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_chatctl")).args(args).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stdout).into_owned())
    };
    let (code, out) = chatctl(&["verify-telemetry", folder.to_str().unwrap(), "--anchor", &head.to_string()]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(&format!("in {} files, hash chain intact", series.len())), "{out}");
    assert!(out.contains(&format!("last seq {}", head.seq)) && out.contains("reaches its anchor"), "{out}");

    // The live file alone says what it continues; a file taken out of the middle breaks the chain.
    let (code, out) = chatctl(&["verify-telemetry", folder.join("gateway.jsonl").to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("continues a rotated file"), "{out}");
    std::fs::remove_file(&series[1].path).unwrap();
    let (code, out) = chatctl(&["verify-telemetry", folder.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("does not continue the previous file"), "{out}");
}

#[test]
fn verify_telemetry_checks_every_instance_log_of_a_shared_folder() {
    // Two instances on one control-plane folder, as behind a load balancer: each writes a chain
    // of its own, and their task files never collide.
    let dir = tempfile::tempdir().unwrap();
    let instance = |name: &str| {
        let config = GatewayConfig { log_name: format!("gateway-{name}"), ..GatewayConfig::with_root(dir.path()) };
        Arc::new(Gateway::new(config).unwrap())
    };
    let (a, b) = (instance("a"), instance("b"));
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let written: Vec<String> = runtime.block_on(async {
        let mut confirms = Vec::new();
        for _ in 0..20 {
            for gateway in [&a, &b] {
                let gateway = gateway.clone();
                confirms.push(tokio::spawn(async move {
                    let operator = gateway::Operator::new(uuid::Uuid::new_v4());
                    let session_id = uuid::Uuid::new_v4().to_string();
                    let request = domain::control_plane::PreviewRequest {
                        raw_input: "lisa run backup_db".to_owned(),
                        channel: domain::control_plane::Channel::Terminal,
                        session_id: session_id.clone(),
                    };
                    let preview = gateway.preview(request, operator, None).await.unwrap();
                    let confirm = domain::control_plane::ConfirmRequest {
                        preview_id: preview.preview_id,
                        session_id,
                        structured_override: None,
                    };
                    gateway.confirm(confirm, operator, None).await.unwrap().path_written
                }));
            }
        }
        let mut written = Vec::new();
        for confirm in confirms {
            written.push(confirm.await.unwrap());
        }
        written
    });
    let distinct: BTreeSet<&String> = written.iter().collect();
    assert_eq!(distinct.len(), 40, "forty confirms, forty task files");
    for path in &written {
        assert!(dir.path().join(path).is_file(), "{path}");
    }

    let folder = dir.path().join("observability/telemetry");
    let chatctl = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_chatctl")).args(args).output().unwrap();
        let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
        (out.status.code(), text(&out.stdout), text(&out.stderr))
    };
    let (code, out, _) = chatctl(&["verify-telemetry", folder.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}");
    for name in ["gateway-a.jsonl", "gateway-b.jsonl"] {
        assert!(out.lines().any(|line| line.contains(name) && line.contains("hash chain intact")), "{out}");
    }
    assert!(!folder.join("gateway.jsonl").exists(), "no instance writes the single-instance log");

    // An anchor belongs to one log: with two in the folder, the file must be named.
    let head = b.telemetry_head().borrow().clone();
    let (code, _, err) = chatctl(&["verify-telemetry", folder.to_str().unwrap(), "--anchor", &head.to_string()]);
    assert_eq!(code, Some(2), "{err}");
    let log_b = folder.join("gateway-b.jsonl");
    let (code, out, _) = chatctl(&["verify-telemetry", log_b.to_str().unwrap(), "--anchor", &head.to_string()]);
    assert_eq!(code, Some(0), "{out}");

    // One instance's log tampered with: the folder fails, naming that log only.
    let text = std::fs::read_to_string(&log_b).unwrap();
    std::fs::write(&log_b, text.replacen("backup_db", "backup_xx", 1)).unwrap();
    let (code, out, _) = chatctl(&["verify-telemetry", folder.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.lines().any(|line| line.contains("gateway-a.jsonl") && line.contains("intact")), "{out}");
    assert!(out.lines().any(|line| line.contains("gateway-b.jsonl") && line.contains("broken")), "{out}");
}

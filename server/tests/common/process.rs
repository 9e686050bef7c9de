//! A real server process on a loopback port, started from the built binary, for drills that
//! kill it, stop it or take its disk away.

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fake_llm::FakeLlm;
use serde_json::Value;

use super::{eventually, Db};

pub struct ServerProcess {
    pub child: Child,
    pub base: String,
    /// The user the process runs as, when not the test's own (see [`ServerProcess::as_user`]).
    pub uid: Option<u32>,
    /// The folder of the binary's copy a server run as another user starts from.
    _binary_copy: Option<tempfile::TempDir>,
    /// The control plane's folder, unless the test names one (`GATEWAY_ROOT` in `extra`): each
    /// process has its own, outside the source tree.
    _gateway_root: tempfile::TempDir,
}

impl ServerProcess {
    pub fn start(database_url: &str, fake: &FakeLlm) -> ServerProcess {
        Self::start_with(database_url, fake, None, &[])
    }

    /// A server whose log (`RUST_LOG=info`, JSON) goes to `log`, when given, with `extra` set.
    pub fn start_with(
        database_url: &str,
        fake: &FakeLlm,
        log: Option<&std::path::Path>,
        extra: &[(&str, &str)],
    ) -> ServerProcess {
        Self::start_as(None, database_url, fake, log, extra)
    }

    /// [`ServerProcess::start_with`], run as the user `uid` when given (through `setpriv`, so a
    /// test run as root still meets file permissions).
    pub fn start_as(
        uid: Option<u32>,
        database_url: &str,
        fake: &FakeLlm,
        log: Option<&std::path::Path>,
        extra: &[(&str, &str)],
    ) -> ServerProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut copy = None;
        let mut command = match uid {
            Some(uid) => {
                let mut command = Command::new("setpriv");
                command.args([&format!("--reuid={uid}"), &format!("--regid={uid}"), "--clear-groups", "--"]);
                let (folder, binary) = reachable_copy_of_the_server();
                command.arg(binary).current_dir("/");
                copy = Some(folder);
                command
            }
            None => Command::new(env!("CARGO_BIN_EXE_server")),
        };
        let gateway_root = tempfile::tempdir().expect("a control-plane folder");
        command
            .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
            .env("GATEWAY_ROOT", gateway_root.path())
            .env("DATABASE_URL", database_url)
            .env("OPENAI_BASE_URL", fake.base_url())
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some(log) = log {
            let file = std::fs::File::create(log).expect("a log file");
            command.env("RUST_LOG", "info").env("LOG_FORMAT", "json").stdout(file);
        }
        command.envs(extra.iter().copied());
        let child = command.spawn().expect("start the server binary");
        ServerProcess {
            child,
            base: format!("http://127.0.0.1:{port}"),
            uid,
            _binary_copy: copy,
            _gateway_root: gateway_root,
        }
    }

    /// Sends SIGTERM, as a container runtime does, and waits (bounded) for the process to exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        self.sigterm()
    }

    /// [`ServerProcess::terminate`] for a process a test keeps a handle on.
    pub fn sigterm(&mut self) -> std::process::ExitStatus {
        let terminated = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(terminated.success(), "SIGTERM sent");
        self.wait_exit()
    }

    /// Waits (bounded) for the process to exit by itself.
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        for _ in 0..300 {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("the server did not exit within 30 s");
    }

    pub async fn wait_ready(&self) {
        let url = format!("{}/readyz", self.base);
        eventually(Duration::from_secs(20), "the server to be ready", || async {
            reqwest::get(&url).await.is_ok_and(|r| r.status() == 200)
        })
        .await;
    }

    pub fn kill(mut self) {
        self.sigkill();
    }

    /// Kills the process where it stands: Child::kill sends SIGKILL on Unix, so no shutdown
    /// code runs.
    pub fn sigkill(&mut self) {
        self.child.kill().expect("kill the server");
        self.child.wait().expect("reap the server");
    }
}

/// A copy of the server binary in a new folder every user may read, for a server run as another
/// user: the build folder may sit where that user cannot reach (a home folder). The folder goes
/// with the process.
fn reachable_copy_of_the_server() -> (tempfile::TempDir, std::path::PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let folder = tempfile::Builder::new().prefix("ais-chatrooms-server").tempdir().unwrap();
    std::fs::set_permissions(folder.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = folder.path().join("server");
    // A hard link costs nothing; another file system needs a copy.
    if std::fs::hard_link(env!("CARGO_BIN_EXE_server"), &path).is_err() {
        std::fs::copy(env!("CARGO_BIN_EXE_server"), &path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    (folder, path)
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub async fn post(client: &reqwest::Client, url: String, body: Value) -> Value {
    let response = client.post(url).json(&body).send().await.unwrap();
    assert!(response.status().is_success(), "{}", response.status());
    response.json().await.unwrap()
}

pub async fn fresh_database(db: Db) -> storage::testing::TestDatabase {
    match db {
        Db::Sqlite => storage::testing::fresh_sqlite().await,
        Db::Postgres => storage::testing::fresh_postgres().await,
    }
}

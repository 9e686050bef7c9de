//! Redis for tests: the shared private server `make test` starts (`TEST_REDIS_URL`), and servers
//! of a test's own, for drills that stop and restart Redis.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Redis server of the test run. Tests that need one fail with this explanation rather than
/// silently pass.
pub fn redis_server_url() -> String {
    std::env::var("TEST_REDIS_URL").expect(
        "TEST_REDIS_URL is not set: run the tests with `make test`, which starts a private Redis \
         (scripts/with-redis.sh), or point TEST_REDIS_URL at a Redis server",
    )
}

/// A Redis server of one test's own on a free loopback port, without persistence: stopping it
/// loses everything it held, as a Redis restart in production without persistence does.
pub struct PrivateRedis {
    child: Option<Child>,
    port: u16,
    folder: std::path::PathBuf,
}

impl PrivateRedis {
    /// Starts a server and waits until it answers.
    pub async fn start() -> PrivateRedis {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let folder = std::env::temp_dir().join(format!("ais-chatrooms-redis-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&folder).expect("a folder for Redis");
        let mut redis = PrivateRedis { child: None, port, folder };
        redis.restart().await;
        redis
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL): everything it held is gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port (empty), and waits until it answers.
    pub async fn restart(&mut self) {
        self.stop();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.folder)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server (installed by scripts/setup.sh test)");
        self.child = Some(child);
        let client = redis::Client::open(self.url()).expect("a Redis URL");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(mut connection) = client.get_multiplexed_async_connection().await {
                let pong: Result<String, _> = redis::cmd("PING").query_async(&mut connection).await;
                if pong.is_ok() {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "the private Redis did not answer within 10 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.folder);
    }
}

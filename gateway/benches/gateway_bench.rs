//! Load benchmark of the gateway over real HTTP on loopback.
//!
//! Run with `cargo bench -p gateway --bench gateway_bench`. It serves the router on
//! 127.0.0.1, drives it with several concurrent keep-alive HTTP clients (each rotating through
//! fresh sessions so the per-session limits and the pending-preview cap do not interfere) and
//! prints latency percentiles and throughput for previews, then for confirms, whose latency
//! includes the durable (fsynced) task file and telemetry line.
//!
//! Targets: preview p99 ≤ 2 ms and ≥ 2,000 previews/s on 2 cores; confirm p99 ≤ 15 ms.
//! The task folders live under Cargo's target tmp folder (on disk, so fsync is real), or under
//! `GATEWAY_BENCH_DIR` when set. `GATEWAY_BENCH_SECONDS` sets each preview run's length (default 4).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use gateway::{Gateway, GatewayConfig, RateLimit};
use serde_json::{json, Value};

struct Stats {
    latencies: Vec<Duration>,
    elapsed: Duration,
    errors: usize,
}

impl Stats {
    fn percentile(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        let index = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[index].as_secs_f64() * 1000.0
    }

    fn print(&self, name: &str, clients: usize) {
        let throughput = self.latencies.len() as f64 / self.elapsed.as_secs_f64();
        println!(
            "{name:<8} clients={clients:<3} requests={:<7} errors={:<3} throughput={:>7.0}/s  p50={:.3}ms  p90={:.3}ms  p99={:.3}ms  max={:.3}ms",
            self.latencies.len(),
            self.errors,
            throughput,
            self.percentile(0.50),
            self.percentile(0.90),
            self.percentile(0.99),
            self.percentile(1.0),
        );
    }
}

fn merge(parts: Vec<(Vec<Duration>, usize)>, elapsed: Duration) -> Stats {
    let mut latencies = Vec::new();
    let mut errors = 0;
    for (part, part_errors) in parts {
        latencies.extend(part);
        errors += part_errors;
    }
    latencies.sort();
    Stats { latencies, elapsed, errors }
}

async fn preview(client: &reqwest::Client, base: &str, session: &str) -> Result<Value, String> {
    let body = json!({"raw_input": "liam check status", "channel": "terminal", "session_id": session});
    let response =
        client.post(format!("{base}/api/v1/chat/preview")).json(&body).send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    let value: Value = response.json().await.map_err(|e| e.to_string())?;
    if status.is_success() {
        Ok(value)
    } else {
        Err(value.to_string())
    }
}

async fn confirm(client: &reqwest::Client, base: &str, session: &str, preview_id: &str) -> Result<Value, String> {
    let body = json!({"preview_id": preview_id, "session_id": session});
    let response =
        client.post(format!("{base}/api/v1/chat/confirm")).json(&body).send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    let value: Value = response.json().await.map_err(|e| e.to_string())?;
    if status.is_success() {
        Ok(value)
    } else {
        Err(value.to_string())
    }
}

/// `clients` workers preview for `duration`, each on its own keep-alive connection.
async fn preview_run(base: &str, clients: usize, duration: Duration) -> Stats {
    let started = Instant::now();
    let workers = (0..clients).map(|_| {
        let base = base.to_owned();
        tokio::spawn(async move {
            let client = reqwest::Client::builder().pool_max_idle_per_host(1).build().expect("an HTTP client");
            let mut latencies = Vec::new();
            let mut errors = 0;
            let mut session = uuid::Uuid::new_v4().to_string();
            let mut n = 0usize;
            while started.elapsed() < duration {
                if n.is_multiple_of(5) {
                    session = uuid::Uuid::new_v4().to_string();
                }
                n += 1;
                let sent = Instant::now();
                match preview(&client, &base, &session).await {
                    Ok(_) => latencies.push(sent.elapsed()),
                    Err(error) => {
                        errors += 1;
                        if errors == 1 {
                            eprintln!("preview failed: {error}");
                        }
                    }
                }
            }
            (latencies, errors)
        })
    });
    let parts = futures::future::join_all(workers).await.into_iter().map(|r| r.expect("a worker")).collect();
    merge(parts, started.elapsed())
}

/// `clients` workers each preview then time `per_client` confirms.
async fn confirm_run(base: &str, clients: usize, per_client: usize) -> Stats {
    let started = Instant::now();
    let workers = (0..clients).map(|_| {
        let base = base.to_owned();
        tokio::spawn(async move {
            let client = reqwest::Client::builder().pool_max_idle_per_host(1).build().expect("an HTTP client");
            let mut latencies = Vec::new();
            let mut errors = 0;
            for _ in 0..per_client {
                let session = uuid::Uuid::new_v4().to_string();
                let Ok(previewed) = preview(&client, &base, &session).await else {
                    errors += 1;
                    continue;
                };
                let preview_id = previewed["preview_id"].as_str().unwrap_or_default().to_owned();
                let sent = Instant::now();
                match confirm(&client, &base, &session, &preview_id).await {
                    Ok(_) => latencies.push(sent.elapsed()),
                    Err(error) => {
                        errors += 1;
                        if errors == 1 {
                            eprintln!("confirm failed: {error}");
                        }
                    }
                }
            }
            (latencies, errors)
        })
    });
    let parts = futures::future::join_all(workers).await.into_iter().map(|r| r.expect("a worker")).collect();
    merge(parts, started.elapsed())
}

fn main() {
    let base_dir = std::env::var("GATEWAY_BENCH_DIR").unwrap_or_else(|_| env!("CARGO_TARGET_TMPDIR").to_owned());
    std::fs::create_dir_all(&base_dir).expect("the benchmark folder");
    let dir = tempfile::tempdir_in(&base_dir).expect("a temporary root");
    let seconds: u64 = std::env::var("GATEWAY_BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(4);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());

    let config = GatewayConfig {
        max_sessions: 1_000_000,
        session_rate: RateLimit::new(1_000_000, 1_000_000),
        address_rate: RateLimit::new(1_000_000, 1_000_000),
        ..GatewayConfig::with_root(dir.path())
    };
    let gateway = Arc::new(Gateway::new(config).expect("a gateway"));
    // The server signs people in and names the operator; here every client is one operator.
    let operator = gateway::Operator::new(uuid::Uuid::new_v4());
    let router = gateway::router::<Arc<Gateway>>().with_state(gateway.clone()).layer(axum::Extension(operator));

    // The server gets its own runtime with one worker per core, as the real server does.
    let server =
        tokio::runtime::Builder::new_multi_thread().worker_threads(cores).enable_all().build().expect("a runtime");
    let listener = server.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("a loopback port");
    let base = format!("http://{}", listener.local_addr().expect("an address"));
    server.spawn(async move {
        axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>()).await.expect("serve");
    });

    let clients =
        tokio::runtime::Builder::new_multi_thread().worker_threads(cores).enable_all().build().expect("a runtime");
    println!("gateway-bench: {cores} core(s), root {}, {seconds} s per preview run", dir.path().display());
    clients.block_on(async {
        preview_run(&base, 4, Duration::from_millis(500)).await; // warm-up
        for concurrency in [1, 4, 8, 16] {
            preview_run(&base, concurrency, Duration::from_secs(seconds)).await.print("preview", concurrency);
        }
        for concurrency in [1, 4] {
            confirm_run(&base, concurrency, 250).await.print("confirm", concurrency);
        }
    });
    let lines = std::fs::read_to_string(gateway.telemetry_path()).map_or(0, |text| text.lines().count());
    match gateway::verify_file(gateway.telemetry_path()) {
        Ok(report) => println!("telemetry: {lines} lines, hash chain intact ({} verified)", report.lines),
        Err(broken) => println!("telemetry: chain broken: {broken}"),
    }
}

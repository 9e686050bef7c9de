//! The gateway on its own, without the web app: reads the `GATEWAY_*` variables, checks the
//! telemetry log's hash chain, and serves the control plane's routes on `GATEWAY_ADDR`
//! (default `127.0.0.1:3100`). An optional argument names another rules file.
//!
//! `cargo run -p gateway --example standalone`, then e.g.
//! `cargo run -p chatctl -- --server http://127.0.0.1:3100 preview "liam check status"`.
//!
//! It is also the binary `scripts/audit-gateway-build.sh link` inspects: it reaches every public
//! operation of the gateway, so the linker keeps all the code those operations can run.

use std::net::SocketAddr;
use std::sync::Arc;

use gateway::{Gateway, GatewayConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let env = settings::Env::process();
    let config = GatewayConfig::from_env(&env)?;
    let gateway = match std::env::args_os().nth(1) {
        Some(rules) => Gateway::with_rules_text(config, &std::fs::read_to_string(rules)?)?,
        None => Gateway::new(config)?,
    };
    let chain = gateway::verify_file(gateway.telemetry_path())?;
    println!(
        "gateway: rules {}, root {}, telemetry {} line(s)",
        gateway.rules_version(),
        gateway.root().display(),
        chain.lines
    );

    let address: SocketAddr = env.text_or("GATEWAY_ADDR", "127.0.0.1:3100").parse()?;
    let listener = tokio::net::TcpListener::bind(address).await?;
    println!("gateway: listening on http://{}", listener.local_addr()?);
    let routes = gateway::router::<Arc<Gateway>>().with_state(Arc::new(gateway));
    axum::serve(listener, routes.into_make_service_with_connect_info::<SocketAddr>()).await?;
    Ok(())
}

//! The address a request comes from, as the server resolved it (honouring only trusted
//! proxies). It travels with the request's task, so the per-address limits of every operation
//! see it whether the operation was reached through REST or a server function, without each
//! caller passing it along. Work outside a request (background replies, runs, tests) has none.

use std::future::Future;
use std::net::IpAddr;

tokio::task_local! {
    static CLIENT: Option<IpAddr>;
}

/// Runs `work` as a request from `client`.
pub async fn with_client<F: Future>(client: Option<IpAddr>, work: F) -> F::Output {
    CLIENT.scope(client, work).await
}

/// The address of the request being served, when there is one.
pub fn current() -> Option<IpAddr> {
    CLIENT.try_with(|client| *client).ok().flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_address_is_seen_inside_the_request_only() {
        let address: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(current(), None);
        let seen = with_client(Some(address), async {
            tokio::task::yield_now().await;
            current()
        })
        .await;
        assert_eq!(seen, Some(address));
        assert_eq!(current(), None);
    }
}

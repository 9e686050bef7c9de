//! Where a request comes from. The direct peer, unless that peer is a proxy this server trusts
//! (`TRUSTED_PROXIES`): then the right-most `X-Forwarded-For` address that is not itself a
//! trusted proxy, since everything left of it was written by the client and may be made up.
//!
//! The address is resolved once per request, by [`resolve_client`], and left in the request as
//! [`gateway::ClientAddr`]: the REST handlers, the sign-in limits, the server functions and the
//! control plane's routes all read that one value, and the service layer sees it for its
//! per-address limits.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::connect_info::MockConnectInfo;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use gateway::ClientAddr;
use http::HeaderMap;
use ipnet::IpNet;

use crate::config::Config;

/// `TRUSTED_PROXIES`: the addresses and networks of the proxies in front of the server.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Reads a comma-separated list of addresses (`10.0.0.7`, `::1`) and networks
    /// (`10.0.0.0/8`, `fd00::/8`); empty trusts nobody.
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut networks = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let network = entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("expected IP addresses or networks such as 10.0.0.0/8, got {entry:?}"))?;
            networks.push(network.trunc());
        }
        Ok(Self(networks))
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        let address = address.to_canonical();
        self.0.iter().any(|network| network.contains(&address))
    }
}

/// The client's address, for a request that came from `peer` with `headers`.
pub fn resolve(peer: IpAddr, headers: &HeaderMap, trusted: &TrustedProxies) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted.contains(peer) {
        return peer;
    }
    // Each proxy appends the address it was reached from; walk back from the nearest one.
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    let mut nearest = peer;
    for hop in hops.iter().rev() {
        let Some(address) = parse_hop(hop) else {
            // Not an address: nothing further left can be relied on.
            return nearest;
        };
        if !trusted.contains(address) {
            return address;
        }
        nearest = address;
    }
    // Every hop is one of our own proxies: the request started inside, at the left-most one.
    nearest
}

/// One `X-Forwarded-For` entry: an address, possibly with a port (`192.0.2.1:4711`,
/// `[2001:db8::1]:443`) or in brackets (`[2001:db8::1]`), as some proxies write it.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let bare = hop.strip_prefix('[').and_then(|rest| rest.strip_suffix(']')).unwrap_or(hop);
    bare.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|socket| socket.ip()))
        .ok()
        .map(|address| address.to_canonical())
}

/// Resolves the client's address and serves the request as coming from it.
pub async fn resolve_client(State(config): State<Arc<Config>>, mut request: Request, next: Next) -> Response {
    let extensions = request.extensions();
    let peer = extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0)
        .or_else(|| extensions.get::<MockConnectInfo<SocketAddr>>().map(|info| info.0))
        .map(|socket| socket.ip());
    let client = peer.map(|peer| resolve(peer, request.headers(), &config.trusted_proxies));
    request.extensions_mut().insert(ClientAddr(client));
    services::client::with_client(client, next.run(request)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", value.parse().unwrap());
        }
        headers
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_claims() {
        let nobody = TrustedProxies::default();
        assert_eq!(resolve(ip("203.0.113.9"), &forwarded(&["198.51.100.1"]), &nobody), ip("203.0.113.9"));
        let lan = TrustedProxies::parse("10.0.0.0/8").unwrap();
        assert_eq!(resolve(ip("203.0.113.9"), &forwarded(&["198.51.100.1"]), &lan), ip("203.0.113.9"));
    }

    #[test]
    fn behind_trusted_proxies_the_right_most_untrusted_hop_is_the_client() {
        let trusted = TrustedProxies::parse("10.0.0.0/8, 192.0.2.10").unwrap();
        // The client made up the first entry; the edge proxy 192.0.2.10 wrote the real one.
        let headers = forwarded(&["1.1.1.1, 198.51.100.7", "192.0.2.10"]);
        assert_eq!(resolve(ip("10.1.2.3"), &headers, &trusted), ip("198.51.100.7"));
        assert_eq!(resolve(ip("10.1.2.3"), &forwarded(&["198.51.100.7:5123"]), &trusted), ip("198.51.100.7"));
        assert_eq!(resolve(ip("10.1.2.3"), &forwarded(&["[2001:db8::5]:443"]), &trusted), ip("2001:db8::5"));
        assert_eq!(resolve(ip("10.1.2.3"), &forwarded(&["[2001:db8::6]"]), &trusted), ip("2001:db8::6"));
        // No header, or nothing but our own proxies: the request started at the left-most of them.
        assert_eq!(resolve(ip("10.1.2.3"), &HeaderMap::new(), &trusted), ip("10.1.2.3"));
        assert_eq!(resolve(ip("10.1.2.3"), &forwarded(&["10.9.9.9"]), &trusted), ip("10.9.9.9"));
        // Garbage stops the walk at the nearest hop known to be real.
        assert_eq!(resolve(ip("10.1.2.3"), &forwarded(&["198.51.100.7, junk, 10.4.4.4"]), &trusted), ip("10.4.4.4"));
    }

    #[test]
    fn mapped_ipv4_peers_count_as_ipv4() {
        let trusted = TrustedProxies::parse("127.0.0.1").unwrap();
        assert_eq!(resolve(ip("::ffff:127.0.0.1"), &forwarded(&["198.51.100.7"]), &trusted), ip("198.51.100.7"));
    }

    #[test]
    fn lists_are_read_and_bad_entries_refused() {
        let trusted = TrustedProxies::parse(" 10.0.0.1/8 , ::1,fd00::/8 ").unwrap();
        assert!(trusted.contains(ip("10.200.0.1")) && trusted.contains(ip("::1")) && trusted.contains(ip("fd00::9")));
        assert!(!trusted.contains(ip("11.0.0.1")));
        assert_eq!(TrustedProxies::parse("").unwrap(), TrustedProxies::default());
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("proxy.local").is_err());
    }
}

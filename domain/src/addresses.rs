//! Client addresses as the limits see them.

use std::net::IpAddr;

/// The key a client address is limited by: the address itself, or its /64 network for IPv6,
/// where one subscriber commonly holds a whole /64. An IPv4 address written as IPv6
/// (`::ffff:192.0.2.7`) counts as the IPv4 address, so a dual-stack listener keys it the same.
pub fn rate_key(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let network = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(network.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_limited_by_their_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(rate_key(a), rate_key(b));
        assert_ne!(rate_key(a), rate_key(other));
        let v4: IpAddr = "192.0.2.7".parse().unwrap();
        assert_eq!(rate_key(v4), v4);
        assert_eq!(rate_key("::ffff:192.0.2.7".parse().unwrap()), v4);
    }
}

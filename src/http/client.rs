//! The client's address: the socket peer, or the right-most untrusted
//! `X-Forwarded-For` entry when the peer is a trusted proxy
//! (`TRUSTED_PROXIES`). An IPv4-mapped IPv6 address is given in its IPv4
//! form.

use std::net::{IpAddr, SocketAddr};

use axum::extract::FromRequestParts;
use axum::http::{HeaderMap, request::Parts};

/// Networks whose `X-Forwarded-For` header is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

impl TrustedProxies {
    /// Parses `10.0.0.1`, `10.0.0.0/8`, `::1`, `fd00::/8`, …
    pub fn parse(entries: &[String]) -> Result<Self, String> {
        let mut nets = Vec::new();
        for entry in entries.iter().map(|e| e.trim()).filter(|e| !e.is_empty()) {
            let (addr, bits) = match entry.split_once('/') {
                Some((addr, bits)) => (addr, Some(bits)),
                None => (entry, None),
            };
            let addr: IpAddr = addr
                .parse()
                .map_err(|_| format!("{entry} is not an IP address or CIDR range"))?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            let bits = match bits {
                Some(b) => b
                    .parse::<u8>()
                    .ok()
                    .filter(|b| *b <= max)
                    .ok_or_else(|| format!("{entry} has an invalid prefix length"))?,
                None => max,
            };
            nets.push((addr, bits));
        }
        Ok(Self(nets))
    }

    /// True if `ip` is in one of the networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0
            .iter()
            .any(|(net, bits)| in_network(ip, canonical(*net), *bits))
    }

    /// The client address of a request from `peer`: the peer itself, unless
    /// it is trusted; then the right-most untrusted `X-Forwarded-For` entry
    /// (the left-most when every entry is trusted). Entries are read from
    /// the right, past trusted proxies; an entry that is not an address
    /// (`unknown`, an obfuscated name, garbage) stops the walk at the peer:
    /// what lies left of it was written by someone no proxy vouches for.
    pub fn client_of(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.contains(peer) {
            return peer;
        }
        let forwarded = forwarded_entries(headers);
        for entry in forwarded.iter().rev() {
            match entry {
                None => return peer,
                Some(ip) if self.contains(*ip) => {}
                Some(ip) => return *ip,
            }
        }
        forwarded.first().copied().flatten().unwrap_or(peer)
    }
}

/// Every `X-Forwarded-For` entry, left to right over all the header's
/// lines; `None` for one that is not an address (a line that is not text
/// counts as one such entry). An entry may carry a port (`192.0.2.1:443`,
/// `[2001:db8::1]:443`), which is dropped.
fn forwarded_entries(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let mut entries = Vec::new();
    for line in headers.get_all("x-forwarded-for") {
        match line.to_str() {
            Ok(line) => entries.extend(line.split(',').map(|entry| parse_entry(entry.trim()))),
            Err(_) => entries.push(None),
        }
    }
    entries
}

fn parse_entry(entry: &str) -> Option<IpAddr> {
    let ip = entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()?;
    Some(canonical(ip))
}

/// `ip`, in its IPv4 form when it is an IPv4-mapped IPv6 address.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn in_network(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// The client's address: the socket peer, or the `X-Forwarded-For` client
/// when the peer is a trusted proxy (`TRUSTED_PROXIES`).
pub struct ClientAddr(pub Option<std::net::IpAddr>);

impl<S> FromRequestParts<S> for ClientAddr
where
    S: Send + Sync,
    TrustedProxies: axum::extract::FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        use axum::extract::FromRef;
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip());
        let proxies = TrustedProxies::from_ref(state);
        Ok(ClientAddr(
            peer.map(|peer| proxies.client_of(peer, &parts.headers)),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(&list.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .expect("parses")
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    fn xff(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", value.parse().expect("header"));
        headers
    }

    #[test]
    fn parses_addresses_and_ranges() {
        let p = proxies(&["10.0.0.0/8", "192.168.1.7", "fd00::/8"]);
        assert!(p.contains(ip("10.200.3.4")));
        assert!(p.contains(ip("192.168.1.7")));
        assert!(!p.contains(ip("192.168.1.8")));
        assert!(p.contains(ip("fd12::1")));
        assert!(
            p.contains(ip("::ffff:10.1.2.3")),
            "IPv4-mapped addresses match"
        );
        assert!(TrustedProxies::parse(&["10.0.0.0/33".into()]).is_err());
        assert!(TrustedProxies::parse(&["proxy.local".into()]).is_err());
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_peers() {
        let p = proxies(&["10.0.0.1"]);
        let headers = xff("203.0.113.9, 10.0.0.1");
        assert_eq!(p.client_of(ip("10.0.0.1"), &headers), ip("203.0.113.9"));
        assert_eq!(
            p.client_of(ip("198.51.100.2"), &headers),
            ip("198.51.100.2"),
            "spoofed header ignored"
        );
        assert_eq!(
            p.client_of(ip("10.0.0.1"), &HeaderMap::new()),
            ip("10.0.0.1")
        );
        let spoof = xff("1.1.1.1, 203.0.113.9");
        assert_eq!(
            p.client_of(ip("10.0.0.1"), &spoof),
            ip("203.0.113.9"),
            "right-most untrusted wins"
        );
    }

    #[test]
    fn an_unparseable_entry_on_the_untrusted_side_means_the_peer() {
        let p = proxies(&["10.0.0.0/8"]);
        let peer = ip("10.0.0.1");
        for value in [
            "203.0.113.9, unknown",
            "203.0.113.9, unknown, 10.0.0.2",
            "203.0.113.9, _hidden",
            "203.0.113.9, 2001:db8::1/64",
            "203.0.113.9, ",
            "203.0.113.9,",
            "",
        ] {
            assert_eq!(p.client_of(peer, &xff(value)), peer, "{value:?}");
        }
        assert_eq!(
            p.client_of(peer, &xff("garbage, 198.51.100.4, 10.0.0.2")),
            ip("198.51.100.4"),
            "garbage left of the client is never reached"
        );
    }

    #[test]
    fn forwarded_lines_are_read_as_one_list() {
        let p = proxies(&["10.0.0.0/8"]);
        let mut headers = xff("203.0.113.9");
        headers.append("x-forwarded-for", "198.51.100.4".parse().expect("header"));
        assert_eq!(p.client_of(ip("10.0.0.1"), &headers), ip("198.51.100.4"));
        let mut headers = xff("203.0.113.9");
        let opaque = axum::http::HeaderValue::from_bytes(b"\xff").expect("header");
        headers.append("x-forwarded-for", opaque);
        assert_eq!(p.client_of(ip("10.0.0.1"), &headers), ip("10.0.0.1"));
    }

    #[test]
    fn forwarded_entries_may_carry_ports_and_mapped_addresses() {
        let p = proxies(&["10.0.0.0/8"]);
        let peer = ip("10.0.0.1");
        for (value, client) in [
            ("198.51.100.4:5123", "198.51.100.4"),
            ("[2001:db8::7]:443", "2001:db8::7"),
            ("::ffff:198.51.100.4", "198.51.100.4"),
            ("2001:db8::7, ::ffff:10.0.0.2", "2001:db8::7"),
            ("10.0.0.3, 10.0.0.2", "10.0.0.3"),
        ] {
            assert_eq!(p.client_of(peer, &xff(value)), ip(client), "{value:?}");
        }
        assert_eq!(
            p.client_of(ip("::ffff:198.51.100.9"), &HeaderMap::new()),
            ip("198.51.100.9"),
            "a mapped peer in its IPv4 form"
        );
    }
}

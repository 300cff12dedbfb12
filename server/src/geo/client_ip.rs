//! The client address behind trusted reverse proxies (RFC 7239 `Forwarded`, then
//! `X-Forwarded-For`), walking from the nearest hop outwards so a client cannot spoof it.

use axum::http::HeaderMap;
use ipnet::IpNet;
use std::net::{IpAddr, SocketAddr};

/// The first hop, from the right, that is not a trusted proxy; the peer itself when the peer
/// is untrusted or the chain is missing or malformed.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|n| n.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let chain = forwarded_chain(headers).or_else(|| xff_chain(headers));
    let Some(chain) = chain else { return peer };
    for hop in chain.iter().rev() {
        match hop {
            Some(ip) if is_trusted(ip) => continue,
            Some(ip) => return *ip,
            // An unknown or obfuscated hop: nothing to its left can be trusted.
            None => return peer,
        }
    }
    chain.first().copied().flatten().unwrap_or(peer)
}

fn forwarded_chain(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let mut out = Vec::new();
    for value in headers.get_all("forwarded") {
        let value = value.to_str().ok()?;
        for element in value.split(',') {
            let for_value = element
                .split(';')
                .filter_map(|pair| pair.trim().split_once('='))
                .find(|(k, _)| k.eq_ignore_ascii_case("for"))
                .map(|(_, v)| v.trim().trim_matches('"'));
            if let Some(v) = for_value {
                out.push(parse_node(v));
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

fn xff_chain(headers: &HeaderMap) -> Option<Vec<Option<IpAddr>>> {
    let mut out = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let value = value.to_str().ok()?;
        out.extend(value.split(',').map(|s| parse_node(s.trim())));
    }
    (!out.is_empty()).then_some(out)
}

/// `192.0.2.1`, `192.0.2.1:4711`, `[2001:db8::1]`, `[2001:db8::1]:4711`, `2001:db8::1`.
fn parse_node(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Some(sa.ip());
    }
    s.strip_prefix('[').and_then(|r| r.strip_suffix(']')).and_then(|r| r.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(*k, v.parse().expect("header value"));
        }
        m
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("ip")
    }

    #[test]
    fn untrusted_peers_are_the_client() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().expect("net")];
        let spoof = h(&[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(client_ip(ip("198.51.100.7"), &spoof, &trusted), ip("198.51.100.7"));
    }

    #[test]
    fn walks_the_chain_from_the_nearest_hop() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().expect("net")];
        let xff = h(&[("x-forwarded-for", "1.2.3.4, 203.0.113.9, 10.0.0.5")]);
        assert_eq!(client_ip(ip("10.0.0.1"), &xff, &trusted), ip("203.0.113.9"), "spoofed left part ignored");
        let fwd = h(&[("forwarded", "for=\"[2001:db8::7]:4711\";proto=https, for=10.0.0.9")]);
        assert_eq!(client_ip(ip("10.0.0.1"), &fwd, &trusted), ip("2001:db8::7"));
        let obfuscated = h(&[("forwarded", "for=_hidden, for=10.0.0.9")]);
        assert_eq!(client_ip(ip("10.0.0.1"), &obfuscated, &trusted), ip("10.0.0.1"));
        let none = HeaderMap::new();
        assert_eq!(client_ip(ip("10.0.0.1"), &none, &trusted), ip("10.0.0.1"));
    }
}

//! What Accord keeps about a visitor's connection: a reduced network, never the raw address,
//! and a browser family, never the full user-agent string (a fingerprinting vector).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IPv4 truncated to /24, IPv6 to /48 (IPv4-mapped IPv6 is treated as IPv4).
pub fn reduce_ip(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => reduce_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => reduce_v4(v4),
            None => {
                let s = v6.segments();
                Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0).to_string() + "/48"
            }
        },
    }
}

fn reduce_v4(ip: Ipv4Addr) -> String {
    // By hand rather than `format!`: every recorded consent reduces its caller's address.
    let [a, b, c, _] = ip.octets();
    let mut out = String::with_capacity(18);
    for octet in [a, b, c] {
        out.push_str(itoa::Buffer::new().format(octet));
        out.push('.');
    }
    out.push_str("0/24");
    out
}

/// A coarse browser family from a User-Agent header.
pub fn ua_family(ua: Option<&str>) -> &'static str {
    let Some(ua) = ua else { return "unknown" };
    let lower = ua.to_ascii_lowercase();
    let has = |s: &str| lower.contains(s);
    if has("bot") || has("crawler") || has("spider") || has("slurp") {
        "bot"
    } else if has("headlesschrome") {
        "chrome-headless"
    } else if has("edg/") || has("edga/") || has("edgios/") {
        "edge"
    } else if has("opr/") || has("opera") {
        "opera"
    } else if has("samsungbrowser") {
        "samsung-internet"
    } else if has("firefox/") || has("fxios/") {
        "firefox"
    } else if has("chrome/") || has("crios/") || has("chromium/") {
        "chrome"
    } else if has("safari/") {
        "safari"
    } else if has("curl/") || has("wget/") || has("python") || has("reqwest") || has("go-http-client") {
        "http-client"
    } else {
        "other"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reduces_addresses_to_networks() {
        assert_eq!(reduce_ip("203.0.113.77".parse().expect("ip")), "203.0.113.0/24");
        assert_eq!(reduce_ip("2001:db8:abcd:12::1".parse().expect("ip")), "2001:db8:abcd::/48");
        assert_eq!(reduce_ip("::ffff:198.51.100.9".parse().expect("ip")), "198.51.100.0/24");
    }

    proptest::proptest! {
        #[test]
        fn reduces_any_v4_address_as_format_would(a: u8, b: u8, c: u8, d: u8) {
            proptest::prop_assert_eq!(reduce_ip(IpAddr::from([a, b, c, d])), format!("{a}.{b}.{c}.0/24"));
        }
    }

    #[test]
    fn classifies_common_agents() {
        let chrome = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0 Safari/537.36";
        assert_eq!(ua_family(Some(chrome)), "chrome");
        assert_eq!(
            ua_family(Some("Mozilla/5.0 (Macintosh) AppleWebKit/605 Version/17 Safari/605")),
            "safari"
        );
        assert_eq!(ua_family(Some("Mozilla/5.0 Gecko/20100101 Firefox/128.0")), "firefox");
        assert_eq!(ua_family(Some(&format!("{chrome} Edg/156"))), "edge");
        assert_eq!(ua_family(Some("Googlebot/2.1")), "bot");
        assert_eq!(ua_family(None), "unknown");
    }
}

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
        if octet >= 100 {
            out.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            out.push(char::from(b'0' + octet / 10 % 10));
        }
        out.push(char::from(b'0' + octet % 10));
        out.push('.');
    }
    out.push_str("0/24");
    out
}

/// What [`ua_family`] looks for, lowercase, each with a searcher built once (SIMD substring
/// search): every recorded consent classifies its caller's header.
const UA_MARKERS: [&str; 22] = [
    "bot",
    "crawler",
    "spider",
    "slurp",          // bot: 0..4
    "headlesschrome", // 4
    "edg/",
    "edga/",
    "edgios/", // edge: 5..8
    "opr/",
    "opera",          // opera: 8..10
    "samsungbrowser", // 10
    "firefox/",
    "fxios/", // firefox: 11..13
    "chrome/",
    "crios/",
    "chromium/", // chrome: 13..16
    "safari/",   // 16
    "curl/",
    "wget/",
    "python",
    "reqwest",
    "go-http-client", // http-client: 17..22
];

/// The families in order of precedence, each with the markers that name it.
const UA_FAMILIES: [(std::ops::Range<usize>, &str); 9] = [
    (0..4, "bot"),
    (4..5, "chrome-headless"),
    (5..8, "edge"),
    (8..10, "opera"),
    (10..11, "samsung-internet"),
    (11..13, "firefox"),
    (13..16, "chrome"),
    (16..17, "safari"),
    (17..22, "http-client"),
];

static UA_FINDERS: std::sync::LazyLock<Vec<memchr::memmem::Finder<'static>>> =
    std::sync::LazyLock::new(|| UA_MARKERS.iter().map(memchr::memmem::Finder::new).collect());

/// A coarse browser family from a User-Agent header: the first family (in the order of
/// [`UA_FAMILIES`]) any of whose markers the header contains, in any case.
pub fn ua_family(ua: Option<&str>) -> &'static str {
    let Some(ua) = ua else { return "unknown" };
    // Lowercased on the stack when it fits (real headers are 100-300 bytes).
    let mut stack = [0u8; 512];
    let heap;
    let lower: &[u8] = if ua.len() <= stack.len() {
        let buf = &mut stack[..ua.len()];
        buf.copy_from_slice(ua.as_bytes());
        buf.make_ascii_lowercase();
        buf
    } else {
        heap = ua.to_ascii_lowercase();
        heap.as_bytes()
    };
    UA_FAMILIES
        .iter()
        .find(|(markers, _)| {
            markers.clone().any(|i| UA_FINDERS.get(i).is_some_and(|f| f.find(lower).is_some()))
        })
        .map_or("other", |(_, family)| family)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::Strategy;

    #[test]
    fn reduces_addresses_to_networks() {
        assert_eq!(reduce_ip("203.0.113.77".parse().expect("ip")), "203.0.113.0/24");
        assert_eq!(reduce_ip("2001:db8:abcd:12::1".parse().expect("ip")), "2001:db8:abcd::/48");
        assert_eq!(reduce_ip("::ffff:198.51.100.9".parse().expect("ip")), "198.51.100.0/24");
    }

    /// The classification as first written: lowercase a copy, then search it for each marker.
    fn ua_family_by_search(ua: Option<&str>) -> &'static str {
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

    proptest::proptest! {
        /// Any mix of markers (in any case), separators and other text classifies as the
        /// plain search did.
        #[test]
        fn classifies_as_the_plain_search(parts in proptest::collection::vec(
            proptest::prop_oneof![
                proptest::sample::select(UA_MARKERS.to_vec()).prop_map(str::to_owned),
                proptest::sample::select(UA_MARKERS.to_vec()).prop_map(str::to_ascii_uppercase),
                "[a-zA-Z/ ;().0-9]{0,8}",
                "\\PC{0,3}",
            ],
            0..6,
        )) {
            let ua = parts.concat();
            proptest::prop_assert_eq!(ua_family(Some(&ua)), ua_family_by_search(Some(&ua)), "{:?}", ua);
        }

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

//! Glue between the admin pages and the server: the [`AdminPage`] the server attached to the
//! request, the response status, and the small URL helpers the pages' links need.

use crate::model::admin::AdminPage;

/// The admin page data the server attached to the request being rendered. None when the
/// server did not authenticate the request (the pages then ask to sign in).
#[cfg(feature = "ssr")]
pub fn use_admin() -> Option<AdminPage> {
    leptos::prelude::use_context::<http::request::Parts>()
        .and_then(|p| p.extensions.get::<AdminPage>().cloned())
}

#[cfg(not(feature = "ssr"))]
pub fn use_admin() -> Option<AdminPage> {
    None
}

/// Sets the HTTP status of the response (e.g. for [`crate::model::admin::AdminView::Problem`]).
/// Codes that are not valid HTTP statuses are ignored rather than turned into a 500.
#[cfg(feature = "ssr")]
pub fn set_status(status: u16) {
    if let (Some(res), Ok(code)) =
        (leptos::prelude::use_context::<leptos_axum::ResponseOptions>(), http::StatusCode::from_u16(status))
    {
        res.set_status(code);
    }
}

#[cfg(not(feature = "ssr"))]
pub fn set_status(_status: u16) {}

/// Percent-encodes a query-string key or value: everything except RFC 3986 unreserved
/// characters, byte by byte of the UTF-8 encoding.
pub fn encode_component(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

/// `k=v&k=v`, encoded.
pub fn query_string<K: AsRef<str>, V: AsRef<str>>(pairs: &[(K, V)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode_component(k.as_ref()), encode_component(v.as_ref())))
        .collect::<Vec<_>>()
        .join("&")
}

/// `path?query`, or just `path` without pairs.
pub fn url_with_query<K: AsRef<str>, V: AsRef<str>>(path: &str, pairs: &[(K, V)]) -> String {
    if pairs.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", query_string(pairs))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreserved_characters_pass_through() {
        assert_eq!(encode_component("AZaz09-._~"), "AZaz09-._~");
    }

    #[test]
    fn reserved_and_non_ascii_characters_are_encoded() {
        assert_eq!(encode_component("a b&c=d/é+%"), "a%20b%26c%3Dd%2F%C3%A9%2B%25");
        assert_eq!(encode_component("2024-01-01T00:00:00+02:00"), "2024-01-01T00%3A00%3A00%2B02%3A00");
    }

    #[test]
    fn query_strings_join_encoded_pairs() {
        let pairs = [("site", "shop & co".to_owned()), ("action", "accept_all".to_owned())];
        assert_eq!(query_string(&pairs), "site=shop%20%26%20co&action=accept_all");
        assert_eq!(
            url_with_query("/admin/records", &pairs),
            "/admin/records?site=shop%20%26%20co&action=accept_all"
        );
        assert_eq!(url_with_query::<&str, &str>("/admin/records", &[]), "/admin/records");
    }
}

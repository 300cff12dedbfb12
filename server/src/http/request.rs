//! Small request-parsing helpers shared by handlers, all failing with a JSON 4xx.

use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{header, HeaderMap, StatusCode};
use std::borrow::Cow;

/// Query parameters, borrowed from the request target unless percent-decoding changed them;
/// the first occurrence of a name wins. A handful per request: a list beats a map.
pub struct Query<'a>(Vec<(Cow<'a, str>, Cow<'a, str>)>);

impl Query<'_> {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_ref())
    }
}

pub fn query(raw: Option<&str>) -> Query<'_> {
    Query(pairs(raw.unwrap_or_default()).collect())
}

/// The `name=value` pairs of a query string exactly as `form_urlencoded::parse` gives them
/// (a property test compares the two), but a pair without `%` or `+` is borrowed as it is
/// instead of being decoded byte by byte: nearly every pair is, and the public API reads the
/// query in the rate limit, the request context and the handler (about 1 k instructions a
/// pass through the crate's decoder).
pub fn pairs(raw: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    raw.split('&').filter(|pair| !pair.is_empty()).filter_map(|pair| {
        if pair.bytes().any(|b| b == b'%' || b == b'+') {
            // The crate splits a pair on its first `=` too; one pair in, one pair out.
            return form_urlencoded::parse(pair.as_bytes()).next();
        }
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        Some((Cow::Borrowed(name), Cow::Borrowed(value)))
    })
}

/// The first value of query parameter `name`.
pub fn param<'a>(raw: &'a str, name: &str) -> Option<Cow<'a, str>> {
    pairs(raw).find(|(k, _)| k == name).map(|(_, v)| v)
}

pub fn required<'a>(q: &'a Query<'_>, name: &str, what: &str) -> Result<&'a str, ApiError> {
    q.get(name).ok_or_else(|| {
        ApiError::bad_request("missing_parameter", format!("query parameter `{name}` is required: {what}"))
    })
}

/// The buffered body, mapping a size-limit hit to 413 and anything else to 400.
pub fn body(body: Result<Bytes, BytesRejection>, limit: usize) -> Result<Bytes, ApiError> {
    body.map_err(|rej| {
        if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge { limit }
        } else {
            ApiError::bad_request("unreadable_body", format!("the request body could not be read: {rej}"))
        }
    })
}

/// The media type without parameters, lowercased (`text/plain; charset=utf-8` → `text/plain`).
pub fn media_type(headers: &HeaderMap) -> Option<String> {
    let raw = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(raw.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
}

pub fn header_str(headers: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Longest query string the admin endpoints read; filters are short.
pub const MAX_QUERY: usize = 2048;

/// A typed query string. Unknown parameters are ignored; a wrong type is a 400 that names it.
pub fn typed_query<T: serde::de::DeserializeOwned>(raw: Option<&str>) -> Result<T, ApiError> {
    let raw = raw.unwrap_or_default();
    if raw.len() > MAX_QUERY {
        return Err(ApiError::bad_request(
            "query_too_long",
            format!("the query string must be at most {MAX_QUERY} bytes"),
        ));
    }
    serde_urlencoded::from_str(raw)
        .map_err(|e| ApiError::bad_request("invalid_query", format!("the query string is invalid: {e}")))
}

#[cfg(test)]
mod tests {
    use super::{pairs, param};
    use proptest::prelude::*;

    fn crate_pairs(raw: &str) -> Vec<(String, String)> {
        form_urlencoded::parse(raw.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
    }

    fn our_pairs(raw: &str) -> Vec<(String, String)> {
        pairs(raw).map(|(k, v)| (k.into_owned(), v.into_owned())).collect()
    }

    #[test]
    fn reads_pairs_like_form_urlencoded() {
        for raw in [
            "",
            "site=default",
            "site=default&lang=de",
            "&&site=a&&",
            "a",
            "a=",
            "=b",
            "a=b=c",
            "q=%41%zz%",
            "q=a+b&r=%2B",
            "k%3D=v",
            "site=%E2%82%AC&site=second",
            "x=\u{e9}t\u{e9}",
        ] {
            assert_eq!(our_pairs(raw), crate_pairs(raw), "{raw:?}");
        }
        assert_eq!(param("lang=de&site=a&site=b", "site").as_deref(), Some("a"));
        assert_eq!(param("site=a", "lang"), None);
    }

    proptest! {
        #[test]
        fn any_query_reads_as_form_urlencoded_reads_it(raw in "[a-z0-9=&%+ .\u{e9}\u{20ac}-]{0,40}") {
            prop_assert_eq!(our_pairs(&raw), crate_pairs(&raw));
        }

        #[test]
        fn any_bytes_read_as_form_urlencoded_reads_them(raw in any::<String>()) {
            prop_assert_eq!(our_pairs(&raw), crate_pairs(&raw));
        }
    }
}

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
    Query(form_urlencoded::parse(raw.unwrap_or_default().as_bytes()).collect())
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

//! Small request-parsing helpers shared by handlers, all failing with a JSON 4xx.

use crate::error::ApiError;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{header, HeaderMap, StatusCode};
use std::collections::HashMap;

/// Query parameters; the first occurrence of a name wins.
pub fn query(raw: Option<&str>) -> HashMap<String, String> {
    let mut map = HashMap::new();
    for (k, v) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        map.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    map
}

pub fn required<'a>(q: &'a HashMap<String, String>, name: &str, what: &str) -> Result<&'a str, ApiError> {
    q.get(name).map(String::as_str).ok_or_else(|| {
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

//! JSON answers of the hot API paths, serialized straight into a buffer of about their size:
//! axum's `Json` starts at 128 bytes and reallocates several times for a decision (~500 B) or
//! a recorded consent (~650 B).

use crate::error::ApiError;
use axum::body::Body;
use axum::http::header::{self, HeaderValue};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

/// `value` as `application/json` with `status`, and `Cache-Control` when given.
pub fn json<T: Serialize>(
    status: StatusCode,
    cache_control: Option<&'static str>,
    value: &T,
) -> Result<Response, ApiError> {
    let mut buf = Vec::with_capacity(768);
    serde_json::to_writer(&mut buf, value).map_err(|e| ApiError::Internal(e.to_string()))?;
    let mut res = Response::new(Body::from(buf));
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(cc) = cache_control {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cc));
    }
    Ok(res)
}

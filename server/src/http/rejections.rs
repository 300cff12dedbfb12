//! Answers the HTTP layer gives by itself — the router's 404 and 405, an extractor's
//! rejection (a path segment that is not UTF-8, …), the body limit's 413, the request
//! timeout's 408 — come as empty or plain-text bodies. Where a program is the client (paths
//! under `/api/`, and anything but a page view: form posts, other methods) they are turned
//! into the API's one error shape, `{"error":{"code","message"}}`, keeping their status and
//! headers. Page views keep their HTML error pages.

use crate::error::ApiError;
use crate::state::AppState;
use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// Longest plain-text rejection kept as detail in the message.
const MAX_DETAIL: u64 = 512;

pub async fn json_errors(State(state): State<AppState>, req: Request, next: Next) -> Response {
    // Only origin-form targets (`/path?query`) reach the routes: the authority form of
    // CONNECT has no path, which the page renderer cannot handle.
    if !req.uri().path().starts_with('/') {
        return ApiError::bad_request(
            "invalid_target",
            "the request target must be a path such as /api/v1/config",
        )
        .into_response();
    }
    let method = req.method().clone();
    let wants_json = wants_json(&method, req.uri().path());
    let res = next.run(req).await;
    if wants_json {
        into_json(&state, &method, res).await
    } else {
        res
    }
}

/// A program is the client: an API path, or anything but a page view.
pub(crate) fn wants_json(method: &Method, path: &str) -> bool {
    *method != Method::HEAD && (path.starts_with("/api/") || *method != Method::GET)
}

/// An error answer that has no JSON body yet.
pub(crate) fn needs_json_body(res: &Response) -> bool {
    let status = res.status();
    (status.is_client_error() || status.is_server_error()) && !is_json(res.headers())
}

/// An error answer without the JSON body gets it; anything else passes unchanged.
pub(crate) async fn into_json(state: &AppState, method: &Method, res: Response) -> Response {
    if !needs_json_body(&res) {
        return res;
    }
    let status = res.status();
    let (mut parts, body) = res.into_parts();
    let detail = detail(&parts.headers, body).await;
    let allow = parts.headers.get(header::ALLOW).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let err = rejection(status, method, allow.as_deref(), detail, state.config.server.request_timeout_secs);
    // The old representation goes; the rest (Allow, CORS, caching, security headers) stays.
    for name in [
        header::CONTENT_TYPE,
        header::CONTENT_LENGTH,
        header::CONTENT_ENCODING,
        header::CONTENT_RANGE,
        header::CONTENT_DISPOSITION,
        header::TRANSFER_ENCODING,
        header::ETAG,
        header::LAST_MODIFIED,
        header::ACCEPT_RANGES,
    ] {
        parts.headers.remove(name);
    }
    let (fresh, body) = err.into_response().into_parts();
    parts.headers.extend(fresh.headers);
    parts.headers.entry(header::X_CONTENT_TYPE_OPTIONS).or_insert(HeaderValue::from_static("nosniff"));
    Response::from_parts(parts, body)
}

fn is_json(headers: &HeaderMap) -> bool {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| {
        let media = ct.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        media == "application/json" || media.ends_with("+json")
    })
}

/// A short, uncompressed plain-text body (axum's rejection texts), else nothing.
async fn detail(headers: &HeaderMap, body: Body) -> Option<String> {
    let plain = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.trim_start().to_ascii_lowercase().starts_with("text/plain"));
    let small = body.size_hint().upper().is_some_and(|n| n <= MAX_DETAIL);
    if !plain || !small || headers.contains_key(header::CONTENT_ENCODING) {
        return None;
    }
    let bytes = axum::body::to_bytes(body, MAX_DETAIL as usize).await.ok()?;
    let text = String::from_utf8_lossy(&bytes).trim().to_owned();
    (!text.is_empty()).then_some(text)
}

fn rejection(
    status: StatusCode,
    method: &Method,
    allow: Option<&str>,
    detail: Option<String>,
    timeout_secs: u64,
) -> ApiError {
    let with_detail = |what: &str| match &detail {
        Some(d) => format!("{what}: {d}"),
        None => what.to_owned(),
    };
    let other = |code: &'static str, message: String| ApiError::Rejected { status, code, message };
    match status {
        StatusCode::BAD_REQUEST => {
            ApiError::bad_request("bad_request", with_detail("the request is malformed"))
        }
        StatusCode::NOT_FOUND => ApiError::not_found(
            "not_found",
            "nothing is served at this path; the API is described at /api/docs",
        ),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed {
            message: match allow.filter(|a| !a.trim().is_empty()) {
                Some(a) => format!("method {method} is not allowed here; allowed: {a}"),
                None => format!("method {method} is not allowed here"),
            },
        },
        StatusCode::REQUEST_TIMEOUT => other(
            "request_timeout",
            format!("the request was not complete within {timeout_secs} s; send the whole body at once"),
        ),
        StatusCode::PAYLOAD_TOO_LARGE => {
            other("body_too_large", with_detail("the request body is too large"))
        }
        StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType {
            message: with_detail("the request body's Content-Type is not accepted here"),
        },
        StatusCode::UNPROCESSABLE_ENTITY => {
            ApiError::unprocessable("invalid_field", with_detail("the request could not be processed"))
        }
        s if s.is_server_error() => {
            tracing::error!(status = %s, "an error answer without the JSON error body");
            other("internal", "internal error".to_owned())
        }
        s => other("rejected", with_detail(s.canonical_reason().unwrap_or("the request was refused"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_keep_their_code_and_name_what_is_allowed() {
        let e = rejection(StatusCode::METHOD_NOT_ALLOWED, &Method::PUT, Some("GET,HEAD"), None, 30);
        assert_eq!((e.status(), e.code()), (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"));
        assert!(e.to_string().contains("allowed: GET,HEAD"), "{e}");
        let e = rejection(StatusCode::REQUEST_TIMEOUT, &Method::POST, None, None, 7);
        assert_eq!((e.status(), e.code()), (StatusCode::REQUEST_TIMEOUT, "request_timeout"));
        assert!(e.to_string().contains("7 s"), "{e}");
        let e = rejection(StatusCode::BAD_REQUEST, &Method::GET, None, Some("Invalid URL".into()), 30);
        assert_eq!(e.to_string(), "the request is malformed: Invalid URL");
        let e =
            rejection(StatusCode::INTERNAL_SERVER_ERROR, &Method::GET, None, Some("/secret/path".into()), 30);
        assert_eq!(e.to_string(), "internal error", "no detail of a server error reaches the client");
        let e = rejection(StatusCode::RANGE_NOT_SATISFIABLE, &Method::POST, None, None, 30);
        assert_eq!((e.status(), e.code()), (StatusCode::RANGE_NOT_SATISFIABLE, "rejected"));
    }
}

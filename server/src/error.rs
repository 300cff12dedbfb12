//! The API's one error type. Every handler returns `Result<_, ApiError>`; this file is the
//! only place that decides status codes and the JSON body `{"error":{"code","message"}}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// Malformed request syntax (bad JSON, bad form encoding, bad query).
    #[error("{message}")]
    BadRequest { code: &'static str, message: String },
    /// Well-formed but semantically invalid input.
    #[error("{message}")]
    Unprocessable { code: &'static str, message: String },
    #[error("{message}")]
    NotFound { code: &'static str, message: String },
    /// Missing or invalid credentials (answered with `WWW-Authenticate: Bearer`).
    #[error("{message}")]
    Unauthorized { message: String },
    #[error("{message}")]
    Forbidden { code: &'static str, message: String },
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    #[error("request body is larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    #[error("{message}")]
    UnsupportedMediaType { message: String },
    #[error("{message}")]
    MethodNotAllowed { message: String },
    /// The client (or its site) sent more than its rate limit allows.
    #[error("too many requests; retry in {retry_after_secs} s")]
    TooManyRequests { retry_after_secs: u32 },
    /// Refused by the HTTP layer before any handler decided (the router's 404/405, an
    /// extractor's rejection, the body limit, the request timeout): `http::rejections` gives
    /// those answers this error's JSON shape, keeping their status.
    #[error("{message}")]
    Rejected { status: StatusCode, code: &'static str, message: String },
    /// Storage is temporarily unusable; nothing was acknowledged, the client may retry.
    #[error("storage is temporarily unavailable, retry shortly")]
    Unavailable { retry_after_secs: u32 },
    /// A bug or an unexpected state; details go to the log, not to the client.
    #[error("internal error")]
    Internal(String),
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::BadRequest { code, message: message.into() }
    }
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::Unprocessable { code, message: message.into() }
    }
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::NotFound { code, message: message.into() }
    }
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::Forbidden { code, message: message.into() }
    }
    pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
        Self::Conflict { code, message: message.into() }
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Rejected { status, .. } => *status,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. }
            | Self::Unprocessable { code, .. }
            | Self::NotFound { code, .. }
            | Self::Forbidden { code, .. }
            | Self::Conflict { code, .. }
            | Self::Rejected { code, .. } => code,
            Self::Unauthorized { .. } => "unauthorized",
            Self::PayloadTooLarge { .. } => "body_too_large",
            Self::UnsupportedMediaType { .. } => "unsupported_media_type",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::TooManyRequests { .. } => "rate_limited",
            Self::Unavailable { .. } => "storage_unavailable",
            Self::Internal(_) => "internal",
        }
    }
}

impl From<crate::ledger::LedgerError> for ApiError {
    fn from(e: crate::ledger::LedgerError) -> Self {
        use crate::ledger::LedgerError;
        match e {
            LedgerError::Unavailable(msg) => {
                tracing::warn!(error = %msg, "storage unavailable");
                Self::Unavailable { retry_after_secs: 1 }
            }
            LedgerError::Corrupt(msg) | LedgerError::Other(msg) => Self::Internal(msg),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let Self::Internal(detail) = &self {
            tracing::error!(%detail, "internal error");
        }
        let body = json!({ "error": { "code": self.code(), "message": self.to_string() } });
        let mut res = (status, axum::Json(body)).into_response();
        if matches!(self, Self::Unauthorized { .. }) {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Self::Unavailable { retry_after_secs } | Self::TooManyRequests { retry_after_secs } = self {
            res.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        }
        res
    }
}

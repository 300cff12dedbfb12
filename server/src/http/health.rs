//! Liveness and readiness probes.

use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

/// The process is up and serving HTTP.
#[utoipa::path(
    get,
    path = "/healthz",
    operation_id = "healthz",
    tag = "health",
    summary = "Liveness: the process is up and serving HTTP",
    responses((status = 200, description = "`{\"status\": \"ok\"}`", body = crate::http::openapi::Status)),
)]
pub async fn healthz() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The process can serve traffic: the database answers.
#[utoipa::path(
    get,
    path = "/readyz",
    operation_id = "readyz",
    tag = "health",
    summary = "Readiness: the database answers",
    responses(
        (status = 200, description = "`{\"status\": \"ready\"}`", body = crate::http::openapi::Status),
        (status = 503, description = "The database does not answer", body = crate::http::openapi::NotReady),
    ),
)]
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    match state.ledger.ping().await {
        Ok(()) => (StatusCode::OK, Json(json!({ "status": "ready" }))),
        Err(e) => {
            tracing::warn!(error = %e, "not ready");
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": "unavailable", "reason": "database" })))
        }
    }
}

/// The date Accord's handling of Global Privacy Control last changed.
pub const GPC_LAST_UPDATE: &str = "2026-11-23";

/// `/.well-known/gpc.json`: this site honours Global Privacy Control.
#[utoipa::path(
    get,
    path = "/.well-known/gpc.json",
    operation_id = "gpc_json",
    tag = "health",
    summary = "Global Privacy Control support resource",
    responses((status = 200, description = "GPC is honoured (`Cache-Control: public, max-age=86400`)", body = crate::http::openapi::GpcSupport)),
)]
pub async fn gpc_json() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CACHE_CONTROL, "public, max-age=86400")],
        Json(json!({ "gpc": true, "lastUpdate": GPC_LAST_UPDATE })),
    )
}

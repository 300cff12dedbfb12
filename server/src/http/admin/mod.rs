//! Admin API under `/api/v1/admin` (bearer tokens or an admin-area session, see `auth`).
//! Every call that reads personal data or changes anything leaves an audit-log entry.
//! Publishing takes effect immediately in this process; other processes pick it up within
//! seconds.

pub mod audit;
pub mod dashboard;
pub mod manage;
pub mod records;

use crate::auth::Caller;
use crate::content::{self, ContentError};
use crate::error::ApiError;
use crate::http::openapi as doc;
use crate::http::request;
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

/// Policies and registries are documents; 256 KiB is far above any real one.
pub const MAX_BODY: usize = 256 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/whoami", get(whoami))
        .route("/policies", post(publish_policy))
        .route("/registries", post(publish_registry))
        .route("/records", get(records::search))
        .route("/records/{id}/receipt", get(records::receipt))
        .route("/export", get(records::export))
        .route("/ledger/verify", get(records::verify))
        .route("/audit", get(audit::search))
        .route("/audit/export", get(audit::export))
        .route("/dashboard", get(dashboard::get))
        .route("/tokens", get(manage::list_tokens).post(manage::create_token))
        .route("/tokens/{id}/rotate", post(manage::rotate_token))
        .route("/tokens/{id}", axum::routing::delete(manage::revoke_token))
        .route("/visitors/{visitor_id}", axum::routing::delete(manage::erase_visitor))
        .route("/purge", post(manage::purge))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/whoami",
    operation_id = "whoami",
    tag = "admin-tokens",
    summary = "The caller's token: id, name and role",
    security(("token" = [])),
    responses(
        (status = 200, description = "The token (or the session's token)", body = doc::WhoAmI),
        (status = 401, response = doc::Unauthorized),
        (status = 403, description = "`address_not_allowed` (see `admin.allow_ips`)", body = doc::ErrorBody),
        (status = 500, response = doc::Internal),
        (status = 503, response = doc::Unavailable),
    )
)]
async fn whoami(caller: Caller) -> impl IntoResponse {
    Json(json!({"id": caller.token.id, "name": caller.token.name, "role": caller.token.role}))
}

/// A policy or cookie-registry version to publish.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PublishBody {
    /// The document: policy Markdown with +++ front matter, or registry TOML.
    source: String,
    /// Material changes invalidate earlier consents.
    material: bool,
    /// Registries only: the changelog line of a material change (at most 500 characters).
    #[serde(default)]
    summary: Option<String>,
}

fn parse(body: Result<Bytes, BytesRejection>) -> Result<PublishBody, ApiError> {
    let bytes = request::body(body, MAX_BODY)?;
    serde_json::from_slice(&bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => ApiError::unprocessable("invalid_field", e.to_string()),
        _ => ApiError::bad_request("invalid_json", format!("the body is not valid JSON: {e}")),
    })
}

fn content_error(e: ContentError) -> ApiError {
    match e {
        ContentError::Invalid { .. } => ApiError::unprocessable("invalid_content", e.to_string()),
        ContentError::Conflict(m) => ApiError::conflict("version_exists", m),
        ContentError::Ledger(l) => l.into(),
        ContentError::Missing(_) => ApiError::Internal(e.to_string()),
    }
}

async fn reload(state: &AppState) -> Result<(), ApiError> {
    crate::server::reload_content(state).await.map(|_| ()).map_err(|e| ApiError::Internal(e.to_string()))
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/policies",
    operation_id = "publish_policy",
    tag = "admin-content",
    summary = "Publish a privacy-policy version (admin)",
    description = "Live at once in this process, within seconds in others. A material change \
        invalidates every earlier consent. Audited.",
    security(("token" = [])),
    request_body(content = PublishBody, description = "`source`: Markdown with `+++` TOML front matter; at most 256 KiB"),
    responses(
        (status = 201, description = "Published", body = doc::PolicyPublished),
        (status = 400, description = "`invalid_json` or `unreadable_body`", body = doc::ErrorBody),
        (status = 401, response = doc::Unauthorized),
        (status = 403, description = "`forbidden` (role is not admin), `csrf` (session without `x-csrf-token`) or `address_not_allowed`", body = doc::ErrorBody),
        (status = 409, description = "`version_exists`", body = doc::ErrorBody),
        (status = 413, description = "`body_too_large`", body = doc::ErrorBody),
        (status = 422, description = "`invalid_field` or `invalid_content`", body = doc::ErrorBody),
        (status = 500, response = doc::Internal),
        (status = 503, response = doc::Unavailable),
    )
)]
async fn publish_policy(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require_admin()?;
    let b = parse(body)?;
    let p =
        content::publish_policy(state.ledger.as_ref(), &b.source, b.material).await.map_err(content_error)?;
    reload(&state).await?;
    caller
        .audit(&state, "policy.publish", format!("policy {}", p.version), format!("material={}", b.material))
        .await?;
    tracing::info!(version = %p.version, material = b.material, by = %caller.token.name, "policy published");
    let valid = state.content.current().valid_policy_versions.clone();
    Ok((
        StatusCode::CREATED,
        Json(
            json!({"version": p.version, "material": b.material, "content_hash": p.content_hash, "valid_versions": valid}),
        ),
    ))
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/registries",
    operation_id = "publish_registry",
    tag = "admin-content",
    summary = "Publish a cookie-registry version (admin)",
    description = "A material change (a new category or purpose) also publishes a policy revision \
        named after the registry version, so consents are asked again. Audited.",
    security(("token" = [])),
    request_body(content = PublishBody, description = "`source`: the cookie registry TOML; at most 256 KiB"),
    responses(
        (status = 201, description = "Published", body = doc::RegistryPublished),
        (status = 400, description = "`invalid_json` or `unreadable_body`", body = doc::ErrorBody),
        (status = 401, response = doc::Unauthorized),
        (status = 403, description = "`forbidden` (role is not admin), `csrf` (session without `x-csrf-token`) or `address_not_allowed`", body = doc::ErrorBody),
        (status = 409, description = "`version_exists`", body = doc::ErrorBody),
        (status = 413, description = "`body_too_large`", body = doc::ErrorBody),
        (status = 422, description = "`invalid_field` (e.g. `summary` too long) or `invalid_content`", body = doc::ErrorBody),
        (status = 500, response = doc::Internal),
        (status = 503, response = doc::Unavailable),
    )
)]
async fn publish_registry(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require_admin()?;
    let b = parse(body)?;
    let summary = b.summary.as_deref().unwrap_or("cookie registry updated");
    if summary.len() > 500 {
        return Err(ApiError::unprocessable("invalid_field", "summary must be at most 500 characters"));
    }
    let (r, revision) = content::publish_registry(state.ledger.as_ref(), &b.source, b.material, summary)
        .await
        .map_err(content_error)?;
    reload(&state).await?;
    caller
        .audit(
            &state,
            "registry.publish",
            format!("registry {}", r.version),
            format!("material={}", b.material),
        )
        .await?;
    tracing::info!(version = %r.version, material = b.material, by = %caller.token.name, "cookie registry published");
    Ok((
        StatusCode::CREATED,
        Json(json!({"version": r.version, "material": b.material, "content_hash": r.content_hash,
                    "policy_revision": revision.map(|p| p.version)})),
    ))
}

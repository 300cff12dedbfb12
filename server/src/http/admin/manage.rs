//! Changes: tokens (create, rotate, revoke), erasure on request, retention purge.
//! Admin role only; each success is audited.

use crate::auth::{self, Caller, Role};
use crate::error::ApiError;
use crate::http::openapi as doc;
use crate::http::request;
use crate::ledger::PurgeReport;
use crate::state::AppState;
use app::model::admin::{NewToken, TokenRow};
use app::model::VisitorId;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::json;

pub fn token_row(t: &auth::TokenInfo) -> TokenRow {
    TokenRow {
        id: t.id,
        name: t.name.clone(),
        role: t.role.as_str().into(),
        created_at: crate::records::rfc3339(t.created_at_ms),
        revoked_at: t.revoked_at_ms.map(crate::records::rfc3339),
    }
}

pub async fn load_tokens(state: &AppState, caller: &Caller) -> Result<Vec<TokenRow>, ApiError> {
    caller.require_admin()?;
    Ok(state.ledger.list_tokens().await?.iter().map(token_row).collect())
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/tokens",
    operation_id = "list_tokens",
    tag = "admin-tokens",
    summary = "Every API token, revoked ones included (admin)",
    security(("token" = [])),
    responses(
        (status = 200, description = "The tokens (never their secrets)", body = Vec<TokenRow>),
        (status = 401, response = doc::Unauthorized),
        (status = 403, description = "`forbidden` (role is not admin), `csrf` (session without `x-csrf-token`) or `address_not_allowed`", body = doc::ErrorBody),
        (status = 500, response = doc::Internal),
        (status = 503, response = doc::Unavailable),
    )
)]
pub async fn list_tokens(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<Vec<TokenRow>>, ApiError> {
    Ok(Json(load_tokens(&state, &caller).await?))
}

pub fn valid_name(name: &str) -> Result<&str, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return Err(ApiError::unprocessable("invalid_field", "name must be 1-64 printable characters"));
    }
    Ok(name)
}

pub async fn create(state: &AppState, caller: &Caller, name: &str, role: Role) -> Result<NewToken, ApiError> {
    caller.require_admin()?;
    let name = valid_name(name)?;
    let (info, token) = auth::create(state.ledger.as_ref(), name, role).await?;
    caller
        .audit(state, "token.create", format!("token {}", info.id), format!("{name} ({})", role.as_str()))
        .await?;
    Ok(NewToken { name: info.name, role: role.as_str().into(), token })
}

/// A token to create.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    /// 1–64 printable characters.
    name: String,
    role: Role,
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/tokens",
    operation_id = "create_token",
    tag = "admin-tokens",
    summary = "Create an API token (admin)",
    description = "The answer is the only time the token is ever shown. Audited.",
    security(("token" = [])),
    request_body = CreateBody,
    responses(
        (status = 201, description = "Created", body = NewToken),
        (status = 400, description = "`unreadable_body`", body = doc::ErrorBody),
        (status = 401, response = doc::Unauthorized),
        (status = 403, description = "`forbidden` (role is not admin), `csrf` (session without `x-csrf-token`) or `address_not_allowed`", body = doc::ErrorBody),
        (status = 413, description = "`body_too_large` (more than 4096 bytes)", body = doc::ErrorBody),
        (status = 422, description = "`invalid_field`: not `{\"name\", \"role\"}` or a bad name", body = doc::ErrorBody),
        (status = 500, response = doc::Internal),
        (status = 503, response = doc::Unavailable),
    )
)]
pub async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require_admin()?;
    let bytes = request::body(body, 4096)?;
    let b: CreateBody = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::unprocessable(
            "invalid_field",
            format!("expected {{\"name\": \"…\", \"role\": \"admin\"|\"auditor\"}}: {e}"),
        )
    })?;
    Ok((StatusCode::CREATED, Json(create(&state, &caller, &b.name, b.role).await?)))
}

pub fn token_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse()
        .ok()
        .filter(|i| *i > 0)
        .ok_or_else(|| ApiError::bad_request("invalid_token_id", "a token id is a positive integer"))
}

pub async fn rotate(state: &AppState, caller: &Caller, id: i64) -> Result<NewToken, ApiError> {
    caller.require_admin()?;
    let token = auth::generate_token();
    let info = state
        .ledger
        .rotate_token(id, &auth::hash_token(&token))
        .await?
        .ok_or_else(|| ApiError::not_found("unknown_token", format!("no active token has id {id}")))?;
    caller
        .audit(state, "token.rotate", format!("token {id}"), format!("replaced by token {}", info.id))
        .await?;
    Ok(NewToken { name: info.name, role: info.role.as_str().into(), token })
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/tokens/{id}/rotate",
    operation_id = "rotate_token",
    tag = "admin-tokens",
    summary = "Replace a token by a new one with the same name and role (admin)",
    description = "The old token stops working. The answer is the only time the new token is shown. Audited.",
    security(("token" = [])),
    params(("id" = i64, Path, description = "Token id (a positive integer)")),
    responses(
        (status = 201, description = "The new token", body = NewToken),
        (status = 400, description = "`invalid_token_id`", body = doc::ErrorBody),
        (status = 401, response = doc::Unauthorized),
        (status = 403, description = "`forbidden` (role is not admin), `csrf` (session without `x-csrf-token`) or `address_not_allowed`", body = doc::ErrorBody),
        (status = 404, description = "`unknown_token`: no active token has this id", body = doc::ErrorBody),
        (status = 500, response = doc::Internal),
        (status = 503, response = doc::Unavailable),
    )
)]
pub async fn rotate_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    Ok((StatusCode::CREATED, Json(rotate(&state, &caller, token_id(&id)?).await?)))
}

pub async fn revoke(state: &AppState, caller: &Caller, id: i64) -> Result<(), ApiError> {
    caller.require_admin()?;
    if !state.ledger.revoke_token(id).await? {
        return Err(ApiError::not_found("unknown_token", format!("no active token has id {id}")));
    }
    caller.audit(state, "token.revoke", format!("token {id}"), "").await
}

#[utoipa::path(
    delete,
    path = "/api/v1/admin/tokens/{id}",
    operation_id = "revoke_token",
    tag = "admin-tokens",
    summary = "Revoke a token (admin)",
    description = "Audited.",
    security(("token" = [])),
    params(("id" = i64, Path, description = "Token id (a positive integer)")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 400, description = "`invalid_token_id`", body = doc::ErrorBody),
        (status = 401, response = doc::Unauthorized),
        (status = 403, description = "`forbidden` (role is not admin), `csrf` (session without `x-csrf-token`) or `address_not_allowed`", body = doc::ErrorBody),
        (status = 404, description = "`unknown_token`: no active token has this id", body = doc::ErrorBody),
        (status = 500, response = doc::Internal),
        (status = 503, response = doc::Unavailable),
    )
)]
pub async fn revoke_token(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    revoke(&state, &caller, token_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn erase(state: &AppState, caller: &Caller, visitor: VisitorId) -> Result<u64, ApiError> {
    caller.require_admin()?;
    let n = state.ledger.erase_visitor(visitor).await?;
    // The entry names no visitor id: it would re-link what erasure just unlinked.
    caller.audit(state, "visitor.erase", "a visitor (on request)", format!("{n} record(s) unlinked")).await?;
    Ok(n)
}

#[utoipa::path(
    delete,
    path = "/api/v1/admin/visitors/{visitor_id}",
    operation_id = "erase_visitor",
    tag = "admin-records",
    summary = "Erase a visitor's records on request (admin)",
    description = "Unlinks every record of the visitor (all sites); the hash chain stays verifiable. \
        Audited without naming the visitor id.",
    security(("token" = [])),
    params(("visitor_id" = String, Path, description = "32 lowercase hex characters")),
    responses(
        (status = 200, description = "How many records were unlinked", body = doc::Erased),
        (status = 400, description = "`invalid_visitor_id`", body = doc::ErrorBody),
        (status = 401, response = doc::Unauthorized),
        (status = 403, description = "`forbidden` (role is not admin), `csrf` (session without `x-csrf-token`) or `address_not_allowed`", body = doc::ErrorBody),
        (status = 500, response = doc::Internal),
        (status = 503, response = doc::Unavailable),
    )
)]
pub async fn erase_visitor(
    State(state): State<AppState>,
    caller: Caller,
    Path(raw): Path<String>,
) -> Result<impl IntoResponse, ApiError> {
    let visitor = VisitorId::parse(&raw).ok_or_else(|| {
        ApiError::bad_request("invalid_visitor_id", "visitor id must be 32 lowercase hex characters")
    })?;
    Ok(Json(json!({ "erased": erase(&state, &caller, visitor).await? })))
}

pub async fn run_purge(state: &AppState, caller: &Caller) -> Result<PurgeReport, ApiError> {
    caller.require_admin()?;
    let report = crate::retention::purge(state).await?;
    caller
        .audit(
            state,
            "purge",
            "consent records",
            crate::retention::describe(&report, state.config.retention.days),
        )
        .await?;
    Ok(report)
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/purge",
    operation_id = "purge",
    tag = "admin-records",
    summary = "Delete records past retention now (admin)",
    description = "Leaves a checkpoint so the rest of the chain still verifies. Audited.",
    security(("token" = [])),
    responses(
        (status = 200, description = "What was purged", body = PurgeReport),
        (status = 401, response = doc::Unauthorized),
        (status = 403, description = "`forbidden` (role is not admin), `csrf` (session without `x-csrf-token`) or `address_not_allowed`", body = doc::ErrorBody),
        (status = 500, response = doc::Internal),
        (status = 503, response = doc::Unavailable),
    )
)]
pub async fn purge(State(state): State<AppState>, caller: Caller) -> Result<Json<PurgeReport>, ApiError> {
    Ok(Json(run_purge(&state, &caller).await?))
}

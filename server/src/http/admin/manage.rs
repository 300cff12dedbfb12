//! Changes: tokens (create, rotate, revoke), erasure on request, retention purge.
//! Admin role only; each success is audited.

use crate::auth::{self, Caller, Role};
use crate::error::ApiError;
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

pub async fn list_tokens(State(state): State<AppState>, caller: Caller) -> Result<Json<Vec<TokenRow>>, ApiError> {
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
    caller.audit(state, "token.create", format!("token {}", info.id), format!("{name} ({})", role.as_str())).await?;
    Ok(NewToken { name: info.name, role: role.as_str().into(), token })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateBody {
    name: String,
    role: Role,
}

pub async fn create_token(
    State(state): State<AppState>,
    caller: Caller,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    caller.require_admin()?;
    let bytes = request::body(body, 4096)?;
    let b: CreateBody = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::unprocessable("invalid_field", format!("expected {{\"name\": \"…\", \"role\": \"admin\"|\"auditor\"}}: {e}"))
    })?;
    Ok((StatusCode::CREATED, Json(create(&state, &caller, &b.name, b.role).await?)))
}

fn token_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse().ok().filter(|i| *i > 0).ok_or_else(|| ApiError::bad_request("invalid_token_id", "a token id is a positive integer"))
}

pub async fn rotate(state: &AppState, caller: &Caller, id: i64) -> Result<NewToken, ApiError> {
    caller.require_admin()?;
    let token = auth::generate_token();
    let info = state
        .ledger
        .rotate_token(id, &auth::hash_token(&token))
        .await?
        .ok_or_else(|| ApiError::not_found("unknown_token", format!("no active token has id {id}")))?;
    caller.audit(state, "token.rotate", format!("token {id}"), format!("replaced by token {}", info.id)).await?;
    Ok(NewToken { name: info.name, role: info.role.as_str().into(), token })
}

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
    caller.audit(state, "purge", "consent records", crate::retention::describe(&report, state)).await?;
    Ok(report)
}

pub async fn purge(State(state): State<AppState>, caller: Caller) -> Result<Json<PurgeReport>, ApiError> {
    Ok(Json(run_purge(&state, &caller).await?))
}

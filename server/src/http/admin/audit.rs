//! The audit log: listing and export. Reading it is itself audited.

use super::records::{download, format_param};
use crate::audit;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::http::openapi as doc;
use crate::http::request::typed_query;
use crate::ledger::Page;
use crate::records::export;
use crate::state::AppState;
use app::model::admin::{AuditQuery, AuditRow, AuditSearch};
use axum::extract::{RawQuery, State};
use axum::response::Response;
use axum::Json;

pub async fn load(state: &AppState, caller: &Caller, q: AuditQuery) -> Result<AuditSearch, ApiError> {
    let filter = audit::filter(&q)?;
    let limit = crate::records::page_size(q.limit)?;
    caller.audit(state, "audit.view", "audit log", "").await?;
    let found = state.ledger.search_audit(&filter, Page::Before(q.before), limit).await?;
    let next_before = (found.len() == limit as usize).then(|| found.last().map(|(id, _)| *id)).flatten();
    Ok(AuditSearch {
        query: q,
        entries: found.into_iter().map(|(id, e)| audit::row(id, e)).collect(),
        next_before,
    })
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/audit",
    operation_id = "search_audit",
    tag = "admin-audit",
    summary = "Search the audit log, newest first",
    description = "One page of entries; pass `next_before` as `before` for the next page. Reading the log is audited too.",
    security(("token" = [])),
    params(AuditQuery),
    responses(
        (status = 200, description = "One page of entries", body = AuditSearch),
        (status = 400, description = "`invalid_query`, `query_too_long`, `invalid_filter` or `invalid_limit`", body = doc::ErrorBody),
        (status = 401, response = doc::Unauthorized),
        (status = 403, description = "`address_not_allowed` (see `admin.allow_ips`)", body = doc::ErrorBody),
        (status = 500, response = doc::Internal),
        (status = 503, response = doc::Unavailable),
    )
)]
pub async fn search(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<AuditSearch>, ApiError> {
    let q: AuditQuery = typed_query(raw.as_deref())?;
    Ok(Json(load(&state, &caller, q).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/audit/export",
    operation_id = "export_audit",
    tag = "admin-audit",
    summary = "Export matching audit-log entries (streamed), oldest first",
    description = "Same filters as the search (`before` and `limit` are ignored). Audited.",
    security(("token" = [])),
    params(
        ("format" = Option<doc::ExportFormat>, Query, description = "`csv` or `ndjson` (default)"),
        AuditQuery,
    ),
    responses(
        (status = 200, description = "The entries: CSV with a header row, or one `AuditRow` JSON object per line",
            content(
                (String = "text/csv"),
                (String = "application/x-ndjson"),
            ),
            headers(
                ("Content-Disposition" = String, description = "`attachment; filename=\"audit-log.csv\"` (or `.ndjson`)"),
                ("Cache-Control" = String, description = "`no-store`"),
            )
        ),
        (status = 400, description = "`invalid_format`, `invalid_query`, `query_too_long` or `invalid_filter`", body = doc::ErrorBody),
        (status = 401, response = doc::Unauthorized),
        (status = 403, description = "`address_not_allowed` (see `admin.allow_ips`)", body = doc::ErrorBody),
        (status = 500, response = doc::Internal),
        (status = 503, response = doc::Unavailable),
    )
)]
pub async fn export(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let format = format_param(raw.as_deref())?;
    let q: AuditQuery = typed_query(raw.as_deref())?;
    let filter = audit::filter(&q)?;
    caller.audit(&state, "audit.export", "audit log", format.extension()).await?;
    let ledger = state.ledger.clone();
    let rx = export::spawn::<AuditRow, _, _>(format, move |after| {
        let (ledger, filter) = (ledger.clone(), filter.clone());
        async move {
            let rows = ledger.search_audit(&filter, Page::After(after), export::PAGE).await?;
            Ok(rows.into_iter().map(|(id, e)| (id, audit::row(id, e))).collect())
        }
    });
    Ok(download(format, "audit-log", rx))
}

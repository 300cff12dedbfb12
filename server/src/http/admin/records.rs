//! Record search, receipts, exports and chain verification for auditors and admins.

use crate::auth::Caller;
use crate::error::ApiError;
use crate::http::openapi as doc;
use crate::http::request::typed_query;
use crate::ledger::Page;
use crate::records::export::{self, Format};
use crate::records::{self, receipt};
use crate::state::AppState;
use app::model::admin::{Receipt, RecordQuery, RecordSearch};
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;

/// One page of matching records, newest first. Shared by the API and the admin area.
pub async fn load_search(
    state: &AppState,
    caller: &Caller,
    q: RecordQuery,
) -> Result<RecordSearch, ApiError> {
    let filter = records::filter(&q)?;
    let limit = records::page_size(q.limit)?;
    caller.audit(state, "records.search", "consent records", describe(&q)).await?;
    let found = state.ledger.search(&filter, Page::Before(q.before), limit).await?;
    let next_before = (found.len() == limit as usize).then(|| found.last().map(|r| r.id)).flatten();
    Ok(RecordSearch { query: q, records: found.iter().map(records::row).collect(), next_before })
}

/// The filters as one line for the audit log.
fn describe(q: &RecordQuery) -> String {
    let pairs = q.filter_pairs();
    if pairs.is_empty() {
        "no filters".into()
    } else {
        pairs.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/records",
    operation_id = "search_records",
    tag = "admin-records",
    summary = "Search consent records, newest first",
    description = "One page of matching records; pass `next_before` as `before` for the next page. Audited.",
    security(("token" = [])),
    params(RecordQuery),
    responses(
        (status = 200, description = "One page of records", body = RecordSearch),
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
) -> Result<Json<RecordSearch>, ApiError> {
    let q: RecordQuery = typed_query(raw.as_deref())?;
    Ok(Json(load_search(&state, &caller, q).await?))
}

pub async fn load_receipt(state: &AppState, caller: &Caller, id: i64) -> Result<Receipt, ApiError> {
    let r = state
        .ledger
        .record(id)
        .await?
        .ok_or_else(|| ApiError::not_found("unknown_record", format!("no consent record has id {id}")))?;
    caller.audit(state, "receipt.view", format!("record {id}"), "").await?;
    let superseded = match r.visitor_id {
        Some(v) => state.ledger.next_of(v, &r.site, r.id).await?.is_some(),
        None => false,
    };
    let content = state.content.current();
    let policy_hash = state.ledger.policy_hash(&r.policy_version).await?;
    let cx = receipt::ReceiptContext {
        controller: &state.config.controller,
        public_url: state.config.public_url(),
        content: &content,
        policy_hash,
        superseded,
        now_ms: crate::audit::now_ms(),
    };
    Ok(receipt::build(&r, &cx))
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/records/{id}/receipt",
    operation_id = "record_receipt",
    tag = "admin-records",
    summary = "A record's consent receipt (ISO/IEC TS 27560 fields)",
    description = "Audited.",
    security(("token" = [])),
    params(("id" = i64, Path, description = "Record id (a positive integer)")),
    responses(
        (status = 200, description = "The receipt", body = Receipt),
        (status = 400, description = "`invalid_record_id`", body = doc::ErrorBody),
        (status = 404, description = "`unknown_record`", body = doc::ErrorBody),
        (status = 401, response = doc::Unauthorized),
        (status = 403, description = "`address_not_allowed` (see `admin.allow_ips`)", body = doc::ErrorBody),
        (status = 500, response = doc::Internal),
        (status = 503, response = doc::Unavailable),
    )
)]
pub async fn receipt(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Receipt>, ApiError> {
    let id: i64 = id
        .parse()
        .ok()
        .filter(|i| *i > 0)
        .ok_or_else(|| ApiError::bad_request("invalid_record_id", "a record id is a positive integer"))?;
    Ok(Json(load_receipt(&state, &caller, id).await?))
}

pub fn format_param(raw: Option<&str>) -> Result<Format, ApiError> {
    let q = crate::http::request::query(raw);
    match q.get("format") {
        None => Ok(Format::Ndjson),
        Some(f) => Format::parse(f)
            .ok_or_else(|| ApiError::bad_request("invalid_format", "format must be csv or ndjson")),
    }
}

/// Turns an export producer into a streamed download. A storage failure mid-way aborts the
/// body (the client sees a truncated transfer, never a silently short file).
pub fn download<F>(format: Format, name: &str, rx: tokio::sync::mpsc::Receiver<F>) -> Response
where
    F: Into<Result<export::Chunk, crate::ledger::LedgerError>> + Send + 'static,
{
    // Fused: a body may be polled again after its end (the gzip encoder does, for every
    // client sending `Accept-Encoding: gzip`), and a bare `unfold` panics then.
    let stream = futures_util::StreamExt::fuse(futures_util::stream::unfold(rx, |mut rx| async move {
        let item = rx.recv().await?.into();
        Some((item.map(|c| c.bytes).map_err(std::io::Error::other), rx))
    }));
    let mut res = Body::from_stream(stream).into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(format.content_type()));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}.{}\"", format.extension())) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/export",
    operation_id = "export_records",
    tag = "admin-records",
    summary = "Export matching records (streamed), in chain order",
    description = "Same filters as the search (`before` and `limit` are ignored). The body is streamed: \
        a storage failure mid-way aborts the transfer rather than ending the file early. Audited.",
    security(("token" = [])),
    params(
        ("format" = Option<doc::ExportFormat>, Query, description = "`csv` or `ndjson` (default)"),
        RecordQuery,
    ),
    responses(
        (status = 200, description = "The records: CSV with a header row, or one `RecordRow` JSON object per line",
            content(
                (String = "text/csv"),
                (String = "application/x-ndjson"),
            ),
            headers(
                ("Content-Disposition" = String, description = "`attachment; filename=\"consent-records.csv\"` (or `.ndjson`)"),
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
    let q: RecordQuery = typed_query(raw.as_deref())?;
    let filter = records::filter(&q)?;
    caller
        .audit(
            &state,
            "records.export",
            "consent records",
            format!("{} {}", format.extension(), describe(&q)),
        )
        .await?;
    Ok(download(format, "consent-records", state.ledger.export(filter, format)))
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/ledger/verify",
    operation_id = "verify_ledger",
    tag = "admin-records",
    summary = "Recompute the hash chain",
    description = "From the newest checkpoint; stops at the first finding (`finding: null`: intact). Audited.",
    security(("token" = [])),
    responses(
        (status = 200, description = "The verification report", body = crate::ledger::VerifyReport),
        (status = 401, response = doc::Unauthorized),
        (status = 403, description = "`address_not_allowed` (see `admin.allow_ips`)", body = doc::ErrorBody),
        (status = 500, response = doc::Internal),
        (status = 503, response = doc::Unavailable),
    )
)]
pub async fn verify(State(state): State<AppState>, caller: Caller) -> Result<impl IntoResponse, ApiError> {
    caller.audit(&state, "ledger.verify", "hash chain", "").await?;
    let report = state.ledger.verify().await?;
    Ok(Json(report))
}

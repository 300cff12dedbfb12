//! Data-subject rights from the preference center, for the visitor holding the consent
//! cookie: download the history recorded under their visitor id (access, portability) and
//! erase what links those records to them. The visitor id in the cookie is the only
//! credential — it is what the records are keyed by, only that browser has it, and its 80
//! random bits cannot be guessed (`consent::issue_visitor_id`).

use super::client::Client;
use super::forms::same_origin;
use crate::audit::{self, Actor};
use crate::consent::RecordView;
use crate::error::ApiError;
use crate::ledger::{Page, RecordFilter};
use crate::state::AppState;
use app::model::{ConsentCookie, VisitorId};
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use tower_cookies::cookie::SameSite;
use tower_cookies::{Cookie, Cookies};

/// Most records one download holds; a visitor has a handful.
const MAX_RECORDS: u32 = 1000;

fn visitor(state: &AppState, cookies: &Cookies) -> Option<VisitorId> {
    let name = state.content.current().consent.cookie_name.clone();
    cookies.get(&name).and_then(|c| ConsentCookie::parse(c.value()).ok()).map(|c| c.visitor_id)
}

/// `GET /preferences/history`: the visitor's records on every site, as a JSON download.
pub async fn download(
    State(state): State<AppState>,
    cookies: Cookies,
    Client(client): Client,
) -> Result<Response, ApiError> {
    let Some(v) = visitor(&state, &cookies) else {
        return Err(ApiError::not_found(
            "no_visitor",
            "this browser holds no consent cookie, so no records refer to it",
        ));
    };
    let filter = RecordFilter { visitor: Some(v), ..Default::default() };
    let mut found = state.ledger.search(&filter, Page::After(0), MAX_RECORDS).await?;
    found.sort_by_key(|r| r.id);
    let content = state.content.current();
    let records: Vec<_> = found.into_iter().filter_map(|r| r.into_record()).collect();
    let views: Vec<RecordView> = records.iter().map(|r| RecordView::new(r, &content)).collect();
    audit::record(
        &state,
        Actor::Visitor,
        "visitor.download",
        "own history".into(),
        format!("{} record(s)", views.len()),
        client.ip_reduced,
    )
    .await?;
    let body = json!({
        "visitor_id": v.to_string(),
        "controller": {"name": state.config.controller.name, "contact": state.config.controller.contact},
        "exported_at": crate::records::rfc3339(audit::now_ms()),
        "records": views,
    });
    Ok((
        [
            (header::CACHE_CONTROL, "no-store"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"my-consent-history.json\""),
        ],
        Json(body),
    )
        .into_response())
}

/// `POST /preferences/erase`: unlinks the visitor's records, forgets the cookie, and sends
/// the visitor back to the preference center, where the banner's question starts afresh.
pub async fn erase(
    State(state): State<AppState>,
    cookies: Cookies,
    headers: HeaderMap,
    Client(client): Client,
) -> Result<Response, ApiError> {
    same_origin(&headers)?;
    let n = match visitor(&state, &cookies) {
        Some(v) => erase_by_id(&state, v, client.ip_reduced).await?,
        None => {
            audit::record(
                &state,
                Actor::Visitor,
                "visitor.erase",
                "own records".into(),
                "0 record(s) unlinked".into(),
                client.ip_reduced,
            )
            .await?;
            0
        }
    };
    let name = state.content.current().consent.cookie_name.clone();
    let mut gone = Cookie::build((name, "")).path("/").same_site(SameSite::Lax).build();
    gone.make_removal();
    cookies.add(gone);
    let to = if n > 0 { "/preferences?erased=1" } else { "/preferences?erased=0" };
    Ok((StatusCode::SEE_OTHER, [(header::LOCATION, to), (header::CACHE_CONTROL, "no-store")]).into_response())
}

/// `DELETE /api/v1/visitors/{id}`: the same erasure for sites that embed the banner (the
/// visitor id lives in their visitors' browsers).
pub async fn erase_by_id(state: &AppState, v: VisitorId, ip: Option<String>) -> Result<u64, ApiError> {
    let n = state.ledger.erase_visitor(v).await?;
    audit::record(
        state,
        Actor::Visitor,
        "visitor.erase",
        "own records".into(),
        format!("{n} record(s) unlinked"),
        ip,
    )
    .await?;
    Ok(n)
}

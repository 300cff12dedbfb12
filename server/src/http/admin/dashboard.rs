//! Opt-in statistics over a period (JSON here; the admin area draws them as SVG).

use crate::auth::Caller;
use crate::error::ApiError;
use crate::http::openapi as doc;
use crate::http::request::typed_query;
use crate::ledger::RecordFilter;
use crate::records::dashboard::{self, DEFAULT_DAYS, MAX_DAYS};
use crate::state::AppState;
use app::model::admin::{Dashboard, LedgerHead};
use axum::extract::{RawQuery, State};
use axum::Json;
use serde::Deserialize;
use time::{Date, Duration, OffsetDateTime};

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(default)]
pub struct DashboardQuery {
    /// `YYYY-MM-DD`, inclusive; default: 29 days before `to`.
    pub from: Option<String>,
    /// `YYYY-MM-DD`, inclusive; default: today (UTC).
    pub to: Option<String>,
    /// Only this site's records; default: every site.
    pub site: Option<String>,
}

fn day(raw: Option<&str>, what: &str) -> Result<Option<Date>, ApiError> {
    match raw.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => {
            Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).map(Some).map_err(
                |_| ApiError::bad_request("invalid_filter", format!("{what} must be a date YYYY-MM-DD")),
            )
        }
    }
}

pub async fn load(state: &AppState, caller: &Caller, q: DashboardQuery) -> Result<Dashboard, ApiError> {
    let to = day(q.to.as_deref(), "to")?.unwrap_or_else(|| OffsetDateTime::now_utc().date());
    // `Date - Duration` panics below the calendar's first day (to=-9999-01-01).
    let from = match day(q.from.as_deref(), "from")? {
        Some(from) => from,
        None => to.checked_sub(Duration::days(DEFAULT_DAYS - 1)).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_filter",
                "to is too early: the default period would start before -9999-01-01",
            )
        })?,
    };
    if from > to || (to - from).whole_days() >= MAX_DAYS {
        return Err(ApiError::bad_request(
            "invalid_filter",
            format!("the period must run forwards and cover at most {MAX_DAYS} days"),
        ));
    }
    let site = q.site.filter(|s| !s.trim().is_empty());
    if let Some(s) = &site {
        if !crate::consent::is_site_id(s) {
            return Err(ApiError::bad_request("invalid_filter", "site must match [a-z0-9][a-z0-9._-]{0,63}"));
        }
    }
    caller.audit(state, "dashboard.view", "statistics", "").await?;
    let ms = |d: Date| (d.midnight().assume_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    let filter = RecordFilter {
        site: site.clone(),
        from_ms: Some(ms(from)),
        to_ms: to.next_day().map(ms),
        ..Default::default()
    };
    let rows = state.ledger.stats(&filter).await?;
    let head = state.ledger.head().await?;
    let head = LedgerHead { count: head.count, hash: hex::encode(head.hash) };
    Ok(dashboard::build(&state.content.current(), &rows, from, to, site, head))
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/dashboard",
    operation_id = "dashboard",
    tag = "admin-records",
    summary = "Opt-in statistics over a period (at most 366 days)",
    description = "Totals per action, opt-in rate per category, per jurisdiction and per day. Audited.",
    security(("token" = [])),
    params(DashboardQuery),
    responses(
        (status = 200, description = "The statistics", body = Dashboard),
        (status = 400, description = "`invalid_query`, `query_too_long` or `invalid_filter`", body = doc::ErrorBody),
        (status = 401, response = doc::Unauthorized),
        (status = 403, description = "`address_not_allowed` (see `admin.allow_ips`)", body = doc::ErrorBody),
        (status = 500, response = doc::Internal),
        (status = 503, response = doc::Unavailable),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Caller,
    RawQuery(raw): RawQuery,
) -> Result<Json<Dashboard>, ApiError> {
    let q: DashboardQuery = typed_query(raw.as_deref())?;
    Ok(Json(load(&state, &caller, q).await?))
}

//! Plain HTML form posts from Accord's own pages (banner and /preferences). They work with
//! JavaScript disabled: record the choice, set the consent cookie, redirect back (303).

use super::client::Client;
use super::request::{self, header_str};
use crate::consent::{self, Choice};
use crate::error::ApiError;
use crate::state::AppState;
use app::model::{Action, ConsentCookie, Source};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use tower_cookies::cookie::SameSite;
use tower_cookies::{Cookie, Cookies};

pub const MAX_BODY: usize = 4 * 1024;

/// Rejects cross-site posts: nobody may record a choice for a visitor from another site.
pub(crate) fn same_origin(headers: &HeaderMap) -> Result<(), ApiError> {
    let forbidden =
        || ApiError::forbidden("cross_site_form", "consent forms must be posted from this site's own pages");
    if header_str(headers, header::HeaderName::from_static("sec-fetch-site")) == Some("cross-site") {
        return Err(forbidden());
    }
    if let Some(origin) = header_str(headers, header::ORIGIN) {
        let host = header_str(headers, header::HOST).unwrap_or_default();
        let origin_host = origin.split_once("://").map(|(_, h)| h).unwrap_or_default();
        if origin == "null" || !origin_host.eq_ignore_ascii_case(host) {
            return Err(forbidden());
        }
    }
    Ok(())
}

/// Only local paths: an open redirect would let anyone bounce visitors elsewhere.
fn return_path(raw: Option<&str>) -> String {
    match raw {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && !p.contains('\\')
                && p.len() <= consent::MAX_PAGE_LEN
                && !p.chars().any(char::is_control) =>
        {
            p.split(['?', '#']).next().unwrap_or("/").to_owned()
        }
        _ => "/".to_owned(),
    }
}

pub async fn submit(
    State(state): State<AppState>,
    super::context::Negotiated(ctx): super::context::Negotiated,
    Client(client): Client,
    cookies: Cookies,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    same_origin(&headers)?;
    if request::media_type(&headers).as_deref() != Some("application/x-www-form-urlencoded") {
        return Err(ApiError::UnsupportedMediaType {
            message: "consent forms must be sent as application/x-www-form-urlencoded".into(),
        });
    }
    let bytes = request::body(body, MAX_BODY)?;
    let mut action = None;
    let mut form_action: Option<String> = None;
    let mut granted = Vec::new();
    let mut source = Source::Preferences;
    let mut return_to = None;
    for (k, v) in form_urlencoded::parse(&bytes) {
        match k.as_ref() {
            // The opt-out banner's "Do not sell or share" and the notice banner's "OK" are
            // custom choices computed from the visitor's rule.
            "action" if v == "opt_out" || v == "ok" => form_action = Some(v.into_owned()),
            "action" => {
                action = Some(Action::parse(&v).ok_or_else(|| {
                    ApiError::unprocessable(
                        "invalid_action",
                        "action must be accept_all, reject_all, custom or withdraw",
                    )
                })?)
            }
            "granted" if granted.len() < consent::MAX_CATEGORIES => granted.push(v.into_owned()),
            "granted" => {
                return Err(ApiError::unprocessable(
                    "too_many_categories",
                    format!("at most {} categories may be granted", consent::MAX_CATEGORIES),
                ))
            }
            "source" => {
                source = match v.as_ref() {
                    "banner" => Source::Banner,
                    "preferences" => Source::Preferences,
                    _ => {
                        return Err(ApiError::unprocessable(
                            "invalid_source",
                            "source must be banner or preferences",
                        ))
                    }
                }
            }
            "return_to" => return_to = Some(v.into_owned()),
            _ => {}
        }
    }
    let j = &ctx.jurisdiction;
    if let Some(fa) = &form_action {
        let content = state.content.current();
        granted = content
            .optional_categories()
            .map(|c| c.key.clone())
            .filter(|k| match fa.as_str() {
                "opt_out" => !j.sale_categories.contains(k),
                _ => j.defaults.contains(k),
            })
            .collect();
        action = Some(Action::Custom);
    }
    let action =
        action.ok_or_else(|| ApiError::unprocessable("missing_field", "the form must include an action"))?;
    let content = state.content.current();
    // Keep the visitor's pseudonymous id across decisions, even when the old one expired.
    let existing = cookies
        .get(&content.consent.cookie_name)
        .and_then(|c| ConsentCookie::parse(c.value()).ok())
        .map(|c| c.visitor_id);
    let return_to = return_path(return_to.as_deref());
    let choice = Choice {
        site: state.config.server.own_site.clone(),
        visitor_id: existing,
        action,
        // Browsers send only ticked boxes, so the list is authoritative for `custom` only.
        granted: (action == Action::Custom).then_some(granted),
        denied: None,
        source,
        policy_version: content.policy.version.clone(),
        language: ctx.catalog.language.clone(),
        page: return_to.clone(),
        gpc_signal: ctx.gpc_signal,
    };
    let now_ms = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    let record = consent::to_record(choice, &content, &ctx.jurisdiction, client, now_ms)?;
    let stored = state.ledger.append(record).await?;

    let value = consent::cookie_for(&stored.data, &content).to_string();
    let cookie = Cookie::build((content.consent.cookie_name.clone(), value))
        .path("/")
        .same_site(SameSite::Lax)
        .secure(state.config.public_url().starts_with("https://"))
        .max_age(time::Duration::seconds(consent::cookie_max_age_secs(&stored.data)))
        .build();
    cookies.add(cookie);
    let location = if return_to == "/preferences" { "/preferences?saved=1".to_owned() } else { return_to };
    Ok((
        StatusCode::SEE_OTHER,
        [(header::LOCATION, location), (header::CACHE_CONTROL, "no-store".to_owned())],
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn return_paths_stay_local() {
        assert_eq!(return_path(Some("/cookies?x=1")), "/cookies");
        assert_eq!(return_path(Some("//evil.example")), "/");
        assert_eq!(return_path(Some("https://evil.example")), "/");
        assert_eq!(return_path(Some("/\\evil")), "/");
        assert_eq!(return_path(None), "/");
    }
}

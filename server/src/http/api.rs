//! The JSON consent API under `/api/v1`. Contract: `docs/contracts.md`.

use super::client::Client;
use super::context::Negotiated;
use super::openapi as doc;
use super::precompressed::Precompressed;
use super::request::{self, header_str};
use super::AppService;
use crate::consent::{self, Choice, DecisionView, RecordView};
use crate::error::ApiError;
use crate::state::AppState;
use app::model::RequestContext;
use app::model::{Action, Source, VisitorId};
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use tower::Service;
use tower_http::compression::CompressionLayer;

/// Largest accepted consent body; a real one is ~300 bytes.
pub const MAX_BODY: usize = 8 * 1024;
const MAX_HISTORY: u32 = 1000;

/// The public consent API, at its full paths (no nesting: a nested router rewrites every
/// request's URI). Served by the short lane (`http::lanes`), which adds CORS, rate limits,
/// JSON errors and security headers; only the history can be large enough to compress.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(CONFIG_PATH, get(config))
        .route(CONSENTS_PATH, post(record).layer(axum::extract::DefaultBodyLimit::max(MAX_BODY)))
        .route("/api/v1/visitors/{visitor_id}/decision", get(decision))
        .route(
            "/api/v1/visitors/{visitor_id}/history",
            get(history).layer(CompressionLayer::new().compress_when(super::compressible())),
        )
        .route("/api/v1/visitors/{visitor_id}", axum::routing::delete(erase))
        .route("/api/v1/ledger/head", get(head))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
}

const CONFIG_PATH: &str = "/api/v1/config";
const CONSENTS_PATH: &str = "/api/v1/consents";

/// The public API's routes with the three asked on every page view (the banner config and a
/// decision on a GET, a consent on a POST) sent straight to their handlers. Through the
/// router each request also
/// paid for the route lookup, a `MatchedPath` and a parameters map put into its extensions,
/// a decision's parameter percent-decoded into new `Arc<str>`s, and a clone of the route's
/// boxed service: about 4 k of a decision's 36 k instructions under callgrind
/// (`accord-bench stack`); the decision handler reads its one segment from the URI anyway.
/// The handlers are held as plain handler services (a function and the state's `Arc`):
/// the lane clones its stack for every request, and a `MethodRouter` clone is a boxed clone
/// per method it serves. Everything else, other methods on these paths included, goes
/// through the router.
#[derive(Clone)]
pub struct Routes<C, D, P> {
    config: C,
    decision: D,
    consents: P,
    rest: Router,
}

/// `rest`: the router of every public route ([`routes`] and what the caller added).
pub fn shortcuts(
    rest: Router,
    state: &AppState,
) -> Routes<impl AppService, impl AppService, impl AppService> {
    use axum::handler::Handler;
    Routes {
        config: config.with_state(state.clone()),
        decision: decision.with_state(state.clone()),
        // With its body limit, as the router's route has it.
        consents: record.layer(axum::extract::DefaultBodyLimit::max(MAX_BODY)).with_state(state.clone()),
        rest,
    }
}

/// A path the router would give to [`decision`]: `/api/v1/visitors/{visitor_id}/decision`,
/// the segment empty included (matchit matches it; the handler then answers 400).
fn is_decision_path(path: &str) -> bool {
    path.strip_prefix("/api/v1/visitors/")
        .and_then(|rest| rest.strip_suffix("/decision"))
        .is_some_and(|segment| !segment.contains('/'))
}

impl<C: AppService, D: AppService, P: AppService> Service<axum::extract::Request> for Routes<C, D, P> {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = futures_util::future::Either<
        futures_util::future::Either<C::Future, D::Future>,
        futures_util::future::Either<P::Future, axum::routing::future::RouteFuture<std::convert::Infallible>>,
    >;

    fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: axum::extract::Request) -> Self::Future {
        use futures_util::future::Either::{Left, Right};
        let (method, path) = (req.method(), req.uri().path());
        if method == Method::GET && path == CONFIG_PATH {
            Left(Left(self.config.call(req)))
        } else if method == Method::GET && is_decision_path(path) {
            Left(Right(self.decision.call(req)))
        } else if method == Method::POST && path == CONSENTS_PATH {
            Right(Left(self.consents.call(req)))
        } else {
            Right(Right(self.rest.call(req)))
        }
    }
}

pub(super) async fn not_found() -> ApiError {
    ApiError::not_found("not_found", "no such API endpoint; see docs/contracts.md for the /api/v1 routes")
}

pub(super) async fn method_not_allowed(method: Method) -> ApiError {
    ApiError::MethodNotAllowed { message: format!("method {method} is not allowed on this endpoint") }
}

fn known_site<'a>(state: &'a AppState, site: &str) -> Result<&'a crate::config::SiteConfig, ApiError> {
    if !consent::is_site_id(site) {
        return Err(ApiError::bad_request("invalid_site", "site must match [a-z0-9][a-z0-9._-]{0,63}"));
    }
    state.config.site(site).ok_or_else(|| {
        ApiError::not_found("unknown_site", format!("site {site:?} is not configured on this server"))
    })
}

fn parse_visitor(raw: &str) -> Result<VisitorId, ApiError> {
    VisitorId::parse(raw).ok_or_else(|| {
        ApiError::bad_request("invalid_visitor_id", "visitor id must be 32 lowercase hex characters")
    })
}

use crate::audit::now_ms;

/// GET /config — everything the banner needs to render.
#[utoipa::path(
    get,
    path = "/api/v1/config",
    operation_id = "config",
    tag = "consent",
    summary = "The banner's configuration for a site",
    description = "Policy, the visitor's jurisdiction, categories with their cookies, texts in the \
        negotiated language and Google Consent Mode settings. The answer depends on the caller's \
        address, language and GPC signal: `Cache-Control: private, no-cache` with an ETag; send \
        `If-None-Match` to get a 304 while nothing changed.",
    params(
        ("site" = String, Query, description = "Site id (the embed's `data-site`)", example = "default"),
        ("lang" = Option<String>, Query, description = "Language tag (`en`, `pt-BR`); default: `Accept-Language`, else `en`"),
        ("region" = Option<String>, Query, description = "Location override (`US-CA`); honoured only with `geo.allow_override`"),
        ("Accept-Language" = Option<String>, Header, description = "Used when `lang` is absent"),
        ("Sec-GPC" = Option<String>, Header, description = "`1`: the browser signals Global Privacy Control"),
        ("If-None-Match" = Option<String>, Header, description = "The ETag of an earlier answer"),
    ),
    responses(
        (status = 200, description = "The configuration", body = doc::ConfigResponse, headers(
            ("ETag" = String, description = "Validator for `If-None-Match`"),
            ("Cache-Control" = String, description = "`private, no-cache`"),
            ("Vary" = String, description = "`Accept-Language, Sec-GPC`"),
        )),
        (status = 304, description = "Unchanged since the ETag sent in `If-None-Match`", headers(("ETag" = String))),
        (status = 400, description = "`missing_parameter` (site), `invalid_site` or `invalid_language`", body = doc::ErrorBody),
        (status = 404, description = "`unknown_site`: the site is not configured on this server", body = doc::ErrorBody),
        (status = 429, response = doc::TooManyRequests),
        (status = 500, response = doc::Internal),
    )
)]
async fn config(
    State(state): State<AppState>,
    Negotiated(ctx): Negotiated,
    // The request itself, to borrow its headers and query (a `HeaderMap` extractor copies
    // them on every banner load).
    req: axum::extract::Request,
) -> Result<axum::response::Response, ApiError> {
    let q = request::query(req.uri().query());
    let site = request::required(&q, "site", "the site id given in the embed's data-site")?;
    known_site(&state, site)?;
    if let Some(lang) = q.get("lang") {
        if !consent::is_language_tag(lang) {
            return Err(ApiError::bad_request(
                "invalid_language",
                "lang must be a language tag such as en or pt-BR",
            ));
        }
    }
    let content = state.content.current();
    let j = &ctx.jurisdiction;
    let key = ConfigKey {
        site: site.to_owned(),
        language: ctx.catalog.language.clone(),
        rule: j.id.clone(),
        region: j.region.clone(),
        gpc_signal: ctx.gpc_signal,
    };
    let answer = match state.config_cache.get(&content, &key) {
        Some(hit) => hit,
        None => {
            let rendered = std::sync::Arc::new(render_config(&state, &ctx, &content, site)?);
            state.config_cache.put(&content, key, rendered.clone());
            rendered
        }
    };
    // The answer depends on the caller's address, language and GPC signal (never for shared
    // caches) and must change the moment a policy is published: revalidate every time, which
    // costs a 304 when nothing changed.
    let mut res =
        answer.respond(req.headers(), "application/json", "Accept-Encoding, Accept-Language, Sec-GPC");
    res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-cache"));
    Ok(res)
}

/// What a config answer depends on besides the published content.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConfigKey {
    site: String,
    language: String,
    rule: String,
    region: Option<String>,
    gpc_signal: bool,
}

/// Rendered config answers (body and ETag) per [`ConfigKey`], valid for one content
/// snapshot: every embed's first page view asks for one, and they differ only by these keys.
#[derive(Default)]
pub struct ConfigCache(std::sync::Mutex<Option<ConfigEntries>>);

struct ConfigEntries {
    content: std::sync::Arc<app::model::SiteContent>,
    answers: std::collections::HashMap<ConfigKey, std::sync::Arc<Precompressed>>,
}

/// Distinct answers kept at most (languages × rules × regions × GPC); beyond, start afresh.
const CONFIG_CACHE_ENTRIES: usize = 4096;

impl ConfigCache {
    fn get(
        &self,
        content: &std::sync::Arc<app::model::SiteContent>,
        key: &ConfigKey,
    ) -> Option<std::sync::Arc<Precompressed>> {
        let g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        g.as_ref()
            .filter(|e| std::sync::Arc::ptr_eq(&e.content, content))
            .and_then(|e| e.answers.get(key).cloned())
    }

    fn put(
        &self,
        content: &std::sync::Arc<app::model::SiteContent>,
        key: ConfigKey,
        answer: std::sync::Arc<Precompressed>,
    ) {
        let mut g = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let stale = g.as_ref().is_none_or(|e| {
            !std::sync::Arc::ptr_eq(&e.content, content) || e.answers.len() >= CONFIG_CACHE_ENTRIES
        });
        if stale {
            *g = Some(ConfigEntries { content: content.clone(), answers: Default::default() });
        }
        if let Some(e) = g.as_mut() {
            e.answers.insert(key, answer);
        }
    }
}

fn render_config(
    state: &AppState,
    ctx: &RequestContext,
    content: &app::model::SiteContent,
    site: &str,
) -> Result<Precompressed, ApiError> {
    let base = state.config.public_url();
    let t = |k: &str| ctx.t(k).to_owned();
    let categories: Vec<_> = content
        .categories
        .iter()
        .map(|c| {
            let cookies: Vec<_> = content
                .cookies_in(&c.key)
                .map(|k| json!({"name": k.name, "provider": k.provider, "purpose": k.purpose, "lifetime": k.lifetime, "party": k.party}))
                .collect();
            json!({
                "key": c.key,
                "name": ctx.category_name(content, &c.key),
                "description": ctx.category_description(content, &c.key),
                "required": c.required,
                "cookies": cookies,
            })
        })
        .collect();
    let j = &ctx.jurisdiction;
    let body = json!({
        "site": site,
        "language": ctx.catalog.language,
        "dir": ctx.catalog.dir(),
        "languages": ctx.languages,
        "policy": {"version": content.policy.version, "valid_versions": content.valid_policy_versions,
                   "effective_date": content.policy.effective_date, "url": format!("{base}/privacy")},
        "jurisdiction": {
            "id": j.id, "model": j.model, "region": j.region, "rule_version": j.rule_version,
            "gpc": j.gpc, "gpc_signal": ctx.gpc_signal, "defaults": j.defaults, "sale_categories": j.sale_categories,
        },
        "cookie": {"name": content.consent.cookie_name, "format": app::model::consent::COOKIE_FORMAT,
                   "consent_days": j.consent_days, "refusal_days": j.refusal_days},
        "consent_mode": consent_mode(state),
        "categories": categories,
        "texts": {
            "banner_title": t("banner.title"), "banner_body": t("banner.body"),
            "banner_body_opt_out": t("banner.body_opt_out"), "banner_body_notice": t("banner.body_notice"),
            "accept_all": t("banner.accept_all"), "reject_all": t("banner.reject_all"),
            "do_not_sell": t("banner.do_not_sell"), "ok": t("banner.ok"),
            "customize": t("banner.customize"), "save": t("banner.save"), "close": t("banner.close"),
            "preferences_title": t("banner.preferences_title"), "preferences_body": t("banner.preferences_body"),
            "always_on": t("banner.always_on"), "placeholder": t("banner.placeholder"), "allow": t("banner.allow"),
            "privacy_link": t("banner.privacy_link"), "cookies_link": t("banner.cookies_link"),
            "gpc_honored": t("gpc.honored"), "gpc_explain": t("gpc.explain"),
        },
        "urls": {"privacy": format!("{base}/privacy"), "cookies": format!("{base}/cookies"), "preferences": format!("{base}/preferences")},
    });
    let bytes = serde_json::to_vec(&body).map_err(|e| ApiError::Internal(e.to_string()))?;
    Precompressed::new(bytes).map_err(|e| ApiError::Internal(e.to_string()))
}

/// Google Consent Mode v2 settings: the category mapping and one region-specific default
/// per rule (the rule for unlisted places is the global default).
fn consent_mode(state: &AppState) -> serde_json::Value {
    let cm = &state.config.consent_mode;
    let state_for = |granted: &[String]| -> serde_json::Map<String, serde_json::Value> {
        crate::config::CONSENT_TYPES
            .iter()
            .map(|t| {
                let on = cm.always_granted.iter().any(|a| a == t)
                    || cm
                        .mapping
                        .iter()
                        .any(|(cat, types)| granted.contains(cat) && types.iter().any(|x| x == t));
                ((*t).to_owned(), json!(if on { "granted" } else { "denied" }))
            })
            .collect()
    };
    let mut defaults = Vec::new();
    for rule in state.rules.rules() {
        let granted = if rule.model == app::model::Model::OptIn { Vec::new() } else { rule.defaults.clone() };
        if rule.id == state.rules.default_rule_id() {
            continue;
        }
        let regions = state.rules.regions_of(&rule.id);
        if !regions.is_empty() {
            defaults.push(json!({"region": regions, "state": state_for(&granted)}));
        }
    }
    defaults.push(json!({"state": state_for(&state.rules.default_rule().defaults)}));
    json!({
        "wait_for_update": cm.wait_for_update_ms,
        "mapping": cm.mapping,
        "always_granted": cm.always_granted,
        "defaults": defaults,
    })
}

/// A visitor's choice (`POST /consents`).
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"site": "default", "action": "custom", "granted": ["analytics"],
    "source": "banner", "policy_version": "2023-07-05", "language": "en", "page": "/pricing"}))]
struct ConsentBody {
    site: String,
    /// 32 lowercase hex characters; omit (or null) for a new visitor: the server issues one.
    #[serde(default)]
    visitor_id: Option<String>,
    #[schema(value_type = Action)]
    action: String,
    /// Categories granted; required for `custom`, must match the other actions.
    #[serde(default)]
    granted: Option<Vec<String>>,
    /// Categories explicitly refused; must not overlap `granted`.
    #[serde(default)]
    denied: Option<Vec<String>>,
    /// Default `api`.
    #[serde(default)]
    #[schema(value_type = Option<Source>)]
    source: Option<String>,
    /// The policy version the banner showed (one of `config.policy.valid_versions`).
    policy_version: String,
    /// Default: the negotiated language.
    #[serde(default)]
    language: Option<String>,
    /// Page path where the choice was made; query and fragment are dropped. Default `/`.
    #[serde(default)]
    page: Option<String>,
    /// `navigator.globalPrivacyControl` was on in the browser.
    #[serde(default)]
    gpc: Option<bool>,
}

fn parse_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => ApiError::unprocessable("invalid_field", e.to_string()),
            Category::Syntax | Category::Eof | Category::Io => {
                ApiError::bad_request("invalid_json", format!("the body is not valid JSON: {e}"))
            }
        }
    })
}

/// Origin must belong to the site when the browser sent one.
fn check_origin(
    state: &AppState,
    headers: &HeaderMap,
    site: &crate::config::SiteConfig,
) -> Result<(), ApiError> {
    let Some(origin) = header_str(headers, header::ORIGIN) else {
        return Ok(());
    };
    let index = state.config.sites.iter().position(|s| s.id == site.id);
    if index.is_some_and(|i| state.limits.site_origins(i).iter().any(|p| p.matches(origin))) {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "origin_not_allowed",
            format!(
                "origin {origin:?} may not record consent for site {:?}; add it to the site's origins",
                site.id
            ),
        ))
    }
}

/// POST /consents — append a choice; answered only after the record is committed.
#[utoipa::path(
    post,
    path = "/api/v1/consents",
    operation_id = "record_consent",
    tag = "consent",
    summary = "Record a visitor's choice",
    description = "Appends a consent record to the ledger and answers only after it is committed. \
        `text/plain` is accepted too, so `navigator.sendBeacon` and CORS-simple requests work. \
        A browser's `Origin` must belong to the site. The 201 body carries the consent cookie value to set.",
    request_body(
        description = "At most 8 KiB",
        content((ConsentBody = "application/json"), (ConsentBody = "text/plain")),
    ),
    params(
        ("Sec-GPC" = Option<String>, Header, description = "`1`: Global Privacy Control (same as `\"gpc\": true`)"),
    ),
    responses(
        (status = 201, description = "Recorded", body = RecordView),
        (status = 400, description = "`invalid_json`, `unreadable_body`, `invalid_site` or `invalid_visitor_id`", body = doc::ErrorBody),
        (status = 403, description = "`origin_not_allowed`: the `Origin` is not one of the site's origins", body = doc::ErrorBody),
        (status = 404, description = "`unknown_site`", body = doc::ErrorBody),
        (status = 409, description = "`stale_policy_version`: fetch the config and ask again", body = doc::ErrorBody),
        (status = 413, description = "`body_too_large`", body = doc::ErrorBody),
        (status = 415, description = "`unsupported_media_type`: send `application/json` or `text/plain`", body = doc::ErrorBody),
        (status = 422, description = "`invalid_field`, `invalid_action`, `invalid_source`, `invalid_policy_version`, \
            `invalid_language`, `invalid_page`, `unknown_category`, `too_many_categories`, `inconsistent_choice`, \
            `missing_field`, `gpc_not_applicable` or `missing_gpc_signal`", body = doc::ErrorBody),
        (status = 429, response = doc::TooManyRequests),
        (status = 500, response = doc::Internal),
        (status = 503, response = doc::Unavailable),
    )
)]
async fn record(
    State(state): State<AppState>,
    Negotiated(ctx): Negotiated,
    Client(client): Client,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<impl IntoResponse, ApiError> {
    match request::media_type(&headers).as_deref() {
        Some("application/json" | "text/plain") => {}
        other => {
            return Err(ApiError::UnsupportedMediaType {
                message: format!(
                    "Content-Type {} is not accepted; send application/json or text/plain (for sendBeacon)",
                    other.map_or_else(|| "(missing)".to_owned(), |m| format!("{m:?}"))
                ),
            })
        }
    }
    let bytes = request::body(body, MAX_BODY)?;
    let b: ConsentBody = parse_json(&bytes)?;
    let site = known_site(&state, &b.site)?;
    check_origin(&state, &headers, site)?;
    let action = Action::parse(&b.action).ok_or_else(|| {
        ApiError::unprocessable(
            "invalid_action",
            format!("action {:?} is not one of accept_all, reject_all, custom, withdraw", b.action),
        )
    })?;
    let source = match b.source.as_deref() {
        None => Source::Api,
        Some(s) => Source::parse(s).ok_or_else(|| {
            ApiError::unprocessable(
                "invalid_source",
                format!("source {s:?} is not one of banner, preferences, api"),
            )
        })?,
    };
    let visitor_id = b.visitor_id.as_deref().map(parse_visitor).transpose()?;
    consent::check_policy_version(&b.policy_version)?;
    let language = b.language.unwrap_or_else(|| ctx.catalog.language.clone());
    if !consent::is_language_tag(&language) {
        return Err(ApiError::unprocessable(
            "invalid_language",
            "language must be a language tag such as en or pt-BR (at most 35 characters)",
        ));
    }
    let page = consent::page_path(b.page.as_deref().unwrap_or("/"))?;
    let content = state.content.current();
    let choice = Choice {
        site: b.site,
        visitor_id,
        action,
        granted: b.granted,
        denied: b.denied,
        source,
        policy_version: b.policy_version,
        language,
        page,
        gpc_signal: b.gpc == Some(true) || ctx.gpc_signal,
    };
    let new = consent::to_record(choice, &content, &ctx.jurisdiction, client, now_ms())?;
    let stored = state.ledger.append(new).await?;
    Ok(super::respond::json_bytes(StatusCode::CREATED, None, RecordView::new(&stored, &content).to_json()))
}

/// GET /visitors/{id}/decision — what a backend asks before rendering a tag.
#[utoipa::path(
    get,
    path = "/api/v1/visitors/{visitor_id}/decision",
    operation_id = "decision",
    tag = "visitors",
    summary = "May this visitor's category run?",
    description = "The visitor's latest decision for a site and the effective permission per category. \
        Also 200 when the visitor never decided (`decided: false`): the categories then follow the \
        jurisdiction the caller names with `region`/`gpc` (the rule for unknown locations without them).",
    params(
        ("visitor_id" = String, Path, description = "32 lowercase hex characters"),
        ("site" = String, Query, description = "Site id the decision was recorded for", example = "default"),
        ("category" = Option<String>, Query, description = "A category key: adds `allowed` to the answer"),
        ("region" = Option<String>, Query, description = "Where the visitor is (`DE`, `US-CA`); used only without a valid decision"),
        ("gpc" = Option<String>, Query, description = "`1` or `true`: the visitor signals Global Privacy Control; used only without a valid decision"),
    ),
    responses(
        (status = 200, description = "The decision (`Cache-Control: no-store`)", body = DecisionView),
        (status = 400, description = "`invalid_visitor_id`, `missing_parameter` (site), `invalid_site`, `unknown_category` or `invalid_region`", body = doc::ErrorBody),
        (status = 404, description = "`unknown_site`", body = doc::ErrorBody),
        (status = 429, response = doc::TooManyRequests),
        (status = 500, response = doc::Internal),
        (status = 503, response = doc::Unavailable),
    )
)]
async fn decision(
    State(state): State<AppState>,
    // The one path segment read straight from the URI (the router matched it already):
    // asked on every page view, and the path extractors cost more than the lookup.
    uri: axum::http::Uri,
    RawQuery(raw): RawQuery,
) -> Result<impl IntoResponse, ApiError> {
    let segment = uri
        .path()
        .strip_prefix("/api/v1/visitors/")
        .and_then(|rest| rest.strip_suffix("/decision"))
        .unwrap_or_default();
    let visitor = if segment.contains('%') {
        parse_visitor(&percent_encoding::percent_decode_str(segment).decode_utf8_lossy())?
    } else {
        parse_visitor(segment)?
    };
    let q = request::query(raw.as_deref());
    let site = request::required(&q, "site", "the site id the decision was recorded for")?;
    known_site(&state, site)?;
    let content = state.content.current();
    let category = q.get("category");
    if let Some(c) = category {
        if content.category(c).is_none() {
            let allowed: Vec<&str> = content.categories.iter().map(|c| c.key.as_str()).collect();
            return Err(ApiError::bad_request(
                "unknown_category",
                format!("unknown category {c:?}; allowed: {}", allowed.join(", ")),
            ));
        }
    }
    // Without a valid decision the answer follows the visitor's jurisdiction, which only the
    // caller knows (`region=US-CA`, `gpc=1`); unnamed → the rule for unknown locations.
    let location = match q.get("region") {
        None => crate::geo::Location::default(),
        Some(r) => {
            crate::geo::Location::parse_region(r, crate::geo::LocationSource::Override).ok_or_else(|| {
                ApiError::bad_request(
                    "invalid_region",
                    "region must be a country (DE) or subdivision (US-CA) code",
                )
            })?
        }
    };
    let jurisdiction = state.rules.resolve(&location);
    let gpc = q.get("gpc").is_some_and(|v| v == "1" || v == "true");
    let latest = state.ledger.latest(visitor, site).await?;
    let view =
        DecisionView::new(visitor, site, latest.as_ref(), &content, now_ms(), category, (&jurisdiction, gpc));
    Ok(super::respond::json_bytes(StatusCode::OK, Some("no-store"), view.to_json()))
}

/// GET /visitors/{id}/history — every record of the visitor for a site, oldest first.
#[utoipa::path(
    get,
    path = "/api/v1/visitors/{visitor_id}/history",
    operation_id = "history",
    tag = "visitors",
    summary = "A visitor's records for a site, oldest first",
    params(
        ("visitor_id" = String, Path, description = "32 lowercase hex characters"),
        ("site" = String, Query, description = "Site id the records belong to", example = "default"),
        ("limit" = Option<u32>, Query, description = "At most this many records, 1–1000 (default 1000)"),
    ),
    responses(
        (status = 200, description = "The records (`Cache-Control: no-store`)", body = doc::History),
        (status = 400, description = "`invalid_visitor_id`, `missing_parameter` (site), `invalid_site` or `invalid_limit`", body = doc::ErrorBody),
        (status = 404, description = "`unknown_site`", body = doc::ErrorBody),
        (status = 429, response = doc::TooManyRequests),
        (status = 500, response = doc::Internal),
        (status = 503, response = doc::Unavailable),
    )
)]
async fn history(
    State(state): State<AppState>,
    Path(visitor): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<impl IntoResponse, ApiError> {
    let visitor = parse_visitor(&visitor)?;
    let q = request::query(raw.as_deref());
    let site = request::required(&q, "site", "the site id the records belong to")?;
    known_site(&state, site)?;
    let limit = match q.get("limit") {
        None => MAX_HISTORY,
        Some(l) => l.parse::<u32>().ok().filter(|n| (1..=MAX_HISTORY).contains(n)).ok_or_else(|| {
            ApiError::bad_request(
                "invalid_limit",
                format!("limit must be an integer from 1 to {MAX_HISTORY}"),
            )
        })?,
    };
    let content = state.content.current();
    let records = state.ledger.history(visitor, site, limit).await?;
    let views: Vec<RecordView> = records.iter().map(|r| RecordView::new(r, &content)).collect();
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({"visitor_id": visitor.to_string(), "site": site, "records": views})),
    ))
}

/// `DELETE /api/v1/visitors/{id}`: a visitor's own erasure request (see `http::rights`).
#[utoipa::path(
    delete,
    path = "/api/v1/visitors/{visitor_id}",
    operation_id = "erase_own_records",
    tag = "visitors",
    summary = "Erase a visitor's records (the visitor's own request)",
    description = "Unlinks every record of the visitor (all sites) while the hash chain stays verifiable. \
        Knowing the random visitor id is the proof of being that visitor. Audited.",
    params(("visitor_id" = String, Path, description = "32 lowercase hex characters")),
    responses(
        (status = 200, description = "How many records were unlinked (`Cache-Control: no-store`)", body = doc::Erased),
        (status = 400, description = "`invalid_visitor_id`", body = doc::ErrorBody),
        (status = 429, response = doc::TooManyRequests),
        (status = 500, response = doc::Internal),
        (status = 503, response = doc::Unavailable),
    )
)]
async fn erase(
    State(state): State<AppState>,
    Path(visitor): Path<String>,
    Client(client): Client,
) -> Result<impl IntoResponse, ApiError> {
    let visitor = parse_visitor(&visitor)?;
    let n = super::rights::erase_by_id(&state, visitor, client.ip_reduced).await?;
    Ok(([(header::CACHE_CONTROL, "no-store")], Json(json!({ "erased": n }))))
}

/// `GET /api/v1/ledger/head`: the newest link of the hash chain and how many records were
/// ever appended. Publish it elsewhere (a transparency log, a newspaper, a git repository);
/// `accord verify` later proves the ledger still extends what was published.
#[utoipa::path(
    get,
    path = "/api/v1/ledger/head",
    operation_id = "ledger_head",
    tag = "ledger",
    summary = "The newest link of the hash chain",
    description = "Publish it elsewhere (a transparency log, a git repository); `accord verify` later \
        proves the ledger still extends what was published.",
    responses(
        (status = 200, description = "The head (`Cache-Control: no-store`)", body = doc::PublicLedgerHead),
        (status = 429, response = doc::TooManyRequests),
        (status = 500, response = doc::Internal),
        (status = 503, response = doc::Unavailable),
    )
)]
async fn head(State(state): State<AppState>) -> Result<impl IntoResponse, ApiError> {
    let h = state.ledger.head().await?;
    Ok((
        [(header::CACHE_CONTROL, "no-store")],
        Json(json!({ "count": h.count, "hash": hex::encode(h.hash), "algorithm": "sha-256",
                     "at": crate::records::rfc3339(crate::audit::now_ms()) })),
    ))
}

#[cfg(test)]
mod tests {
    use super::is_decision_path;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    /// The shortcut must take exactly the paths the router gives to the decision route.
    #[tokio::test]
    async fn decision_paths_are_the_ones_the_router_matches() {
        let router: Router =
            Router::new().route("/api/v1/visitors/{visitor_id}/decision", get(|| async { "" }));
        let paths = [
            "/api/v1/visitors/0123456789abcdef0123456789abcdef/decision",
            "/api/v1/visitors/x/decision",
            "/api/v1/visitors/%2F/decision",
            "/api/v1/visitors//decision",
            "/api/v1/visitors/a/b/decision",
            "/api/v1/visitors/a/decision/",
            "/api/v1/visitors/a/decisions",
            "/api/v1/visitors/a/history",
            "/api/v1/visitors/decision",
            "/api/v1/visitors/a",
            "/api/v1/visitorsa/decision",
        ];
        for path in paths {
            let req = Request::get(path).body(Body::empty()).expect("request");
            let res = router.clone().oneshot(req).await.expect("infallible");
            assert_eq!(res.status() == StatusCode::OK, is_decision_path(path), "{path}");
        }
    }
}

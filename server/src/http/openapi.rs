//! The OpenAPI 3.1 document of the JSON API (`/api/v1`, the health probes), generated from the
//! handlers' `#[utoipa::path]` annotations and the body types, and the Swagger UI that shows it.
//! The prose contract stays `docs/contracts.md`.
//!
//! Handlers that answer with `serde_json::json!` keep doing so (their bytes, and so `config`'s
//! ETag, must not change); the structs below describe those bodies for the document only.
//! `tests/openapi.rs` checks them against real responses so they cannot drift.

use crate::auth::Role;
use crate::consent::RecordView;
use app::model::{Model, Party};
use axum::http::header;
use axum::response::IntoResponse;
use axum::{Json, Router};
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToResponse, ToSchema};
use utoipa_swagger_ui::{Config, SwaggerUi};

/// Where the document is served.
pub const DOC_PATH: &str = "/api/v1/openapi.json";
/// Where the interactive page is served (`/api/docs` redirects to `/api/docs/`).
pub const UI_PATH: &str = "/api/docs";

const DESCRIPTION: &str = "Consent API of Accord: the banner's configuration, recording choices, \
decisions and histories for backends, the visitor's own erasure, the ledger head; and the admin \
API (records, receipts, exports, audit log, statistics, tokens, publishing). \
Errors are `{\"error\":{\"code\",\"message\"}}` with a 4xx/5xx status. \
Prose contract, cookie format and embed: `docs/contracts.md` in the repository.";

#[derive(OpenApi)]
#[openapi(
    info(title = "Accord API", version = env!("CARGO_PKG_VERSION"), description = DESCRIPTION),
    paths(
        crate::http::api::config,
        crate::http::api::record,
        crate::http::api::decision,
        crate::http::api::history,
        crate::http::api::erase,
        crate::http::api::head,
        crate::http::admin::whoami,
        crate::http::admin::publish_policy,
        crate::http::admin::publish_registry,
        crate::http::admin::records::search,
        crate::http::admin::records::receipt,
        crate::http::admin::records::export,
        crate::http::admin::records::verify,
        crate::http::admin::audit::search,
        crate::http::admin::audit::export,
        crate::http::admin::dashboard::get,
        crate::http::admin::manage::list_tokens,
        crate::http::admin::manage::create_token,
        crate::http::admin::manage::rotate_token,
        crate::http::admin::manage::revoke_token,
        crate::http::admin::manage::erase_visitor,
        crate::http::admin::manage::purge,
        crate::http::health::healthz,
        crate::http::health::readyz,
        crate::http::health::gpc_json,
        document,
    ),
    components(responses(Unauthorized, TooManyRequests, Unavailable, Internal)),
    modifiers(&BearerToken),
    tags(
        (name = "consent", description = "What the banner and embed use: configuration and recording a choice."),
        (name = "visitors", description = "A visitor's decision and history (for backends), and the visitor's own erasure request."),
        (name = "ledger", description = "The hash-chained ledger's public head."),
        (name = "admin-records", description = "Consent records: search, receipts, exports, chain verification, statistics, erasure on request, retention purge."),
        (name = "admin-audit", description = "The audit log of admin actions and data-subject requests (reading it is audited too)."),
        (name = "admin-tokens", description = "The caller's identity and API tokens (create, rotate, revoke)."),
        (name = "admin-content", description = "Publishing privacy-policy and cookie-registry versions."),
        (name = "health", description = "Liveness and readiness probes, and the GPC well-known resource."),
        (name = "docs", description = "This document; the interactive page is at `/api/docs`."),
    )
)]
pub struct ApiDoc;

/// Name of the security scheme every `/api/v1/admin` operation requires.
pub const TOKEN_SCHEME: &str = "token";

struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let scheme = HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("acc_ + 64 hex characters")
            .description(Some(
                "An API token from `accord token create` (or the admin area): \
                 `Authorization: Bearer acc_…`. Role `auditor` reads; role `admin` may also change \
                 things. A signed-in admin-area session (cookie `accord_admin`) is accepted as well, \
                 so GET requests work from a signed-in browser; with a session, anything but \
                 GET/HEAD must also send the session's `x-csrf-token` header.",
            ))
            .build();
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(TOKEN_SCHEME, SecurityScheme::Http(scheme));
    }
}

/// `GET /api/v1/openapi.json`. `no-cache`: the document changes with every release.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    operation_id = "openapi",
    tag = "docs",
    summary = "This OpenAPI 3.1 document",
    responses(
        (status = 200, description = "The document (`Cache-Control: no-cache`)", body = serde_json::Value),
        (status = 429, response = TooManyRequests),
    ),
)]
pub async fn document() -> impl IntoResponse {
    ([(header::CACHE_CONTROL, "no-cache")], Json(ApiDoc::openapi()))
}

/// The Swagger UI at [`UI_PATH`], reading [`DOC_PATH`]. Its files are compiled in (the
/// `vendored` feature), and `validatorUrl: none` keeps the page from calling
/// validator.swagger.io: it works without any network beyond this server.
pub fn docs_ui<S: Clone + Send + Sync + 'static>() -> Router<S> {
    SwaggerUi::new(UI_PATH).config(Config::new([DOC_PATH]).validator_url("none")).into()
}

// ---- Reusable error responses ----

/// The one error body of the API.
#[derive(ToSchema)]
#[schema(example = json!({"error": {"code": "invalid_site", "message": "site must match [a-z0-9][a-z0-9._-]{0,63}"}}))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code (`invalid_site`, `unauthorized`, `storage_unavailable`, …).
    pub code: String,
    /// An explanation for people, naming what to change.
    pub message: String,
}

/// `unauthorized`: the token is missing, malformed, unknown or revoked, or the admin session
/// has ended.
#[derive(ToResponse)]
#[response(headers(("WWW-Authenticate" = String, description = "`Bearer`")))]
pub struct Unauthorized(pub ErrorBody);

/// `rate_limited`: the client (per address, per /64 for IPv6) or its site exceeded the public
/// API's rate limit (`[rate_limit]` in the configuration).
#[derive(ToResponse)]
#[response(headers(("Retry-After" = u32, description = "Seconds to wait before retrying")))]
pub struct TooManyRequests(pub ErrorBody);

/// `storage_unavailable`: storage is temporarily unusable. Nothing was acknowledged; retry.
#[derive(ToResponse)]
#[response(headers(("Retry-After" = u32, description = "Seconds to wait before retrying")))]
pub struct Unavailable(pub ErrorBody);

/// `internal`: an unexpected failure (details are in the server log, not in the answer).
#[derive(ToResponse)]
pub struct Internal(pub ErrorBody);

// ---- Bodies of handlers that answer with `json!` ----

/// `GET /api/v1/config`: everything the banner needs to render.
#[derive(ToSchema)]
pub struct ConfigResponse {
    pub site: String,
    /// The negotiated language.
    pub language: String,
    /// `ltr` or `rtl`.
    pub dir: String,
    /// Every shipped language.
    pub languages: Vec<String>,
    pub policy: ConfigPolicy,
    pub jurisdiction: ConfigJurisdiction,
    pub cookie: ConfigCookie,
    pub consent_mode: ConsentMode,
    pub categories: Vec<ConfigCategory>,
    pub texts: ConfigTexts,
    pub urls: ConfigUrls,
}

#[derive(ToSchema)]
pub struct ConfigPolicy {
    pub version: String,
    /// Versions a stored decision may name: the newest material one and every later minor one.
    pub valid_versions: Vec<String>,
    pub effective_date: String,
    pub url: String,
}

/// The rule that applies where the visitor is.
#[derive(ToSchema)]
pub struct ConfigJurisdiction {
    /// Rule id (`gdpr`, `us-privacy`, …).
    pub id: String,
    pub model: Model,
    /// `US-CA`, `DE`; null when the location is unknown.
    pub region: Option<String>,
    pub rule_version: String,
    /// Global Privacy Control is binding here.
    pub gpc: bool,
    /// The config request carried `Sec-GPC: 1`.
    pub gpc_signal: bool,
    /// Optional categories that count as granted before a choice (never for opt-in).
    pub defaults: Vec<String>,
    /// Categories that are a sale/sharing of personal data; off under GPC.
    pub sale_categories: Vec<String>,
}

/// The consent cookie (format in `docs/contracts.md`).
#[derive(ToSchema)]
pub struct ConfigCookie {
    pub name: String,
    /// Cookie format version (1).
    pub format: u8,
    /// Max-Age in days when anything optional was granted.
    pub consent_days: u32,
    /// Max-Age in days otherwise.
    pub refusal_days: u32,
}

/// Google Consent Mode v2 settings.
#[derive(ToSchema)]
pub struct ConsentMode {
    /// Milliseconds.
    pub wait_for_update: u32,
    /// Category key → Consent Mode types it grants.
    pub mapping: BTreeMap<String, Vec<String>>,
    pub always_granted: Vec<String>,
    /// One `gtag('consent', 'default', …)` per entry; the entry without `region` is global.
    pub defaults: Vec<ConsentModeDefault>,
}

#[derive(ToSchema)]
pub struct ConsentModeDefault {
    /// Region codes; absent on the global default.
    pub region: Option<Vec<String>>,
    /// Consent Mode type (`ad_storage`, …) → state.
    pub state: BTreeMap<String, ConsentState>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ConsentState {
    Granted,
    Denied,
}

#[derive(ToSchema)]
pub struct ConfigCategory {
    pub key: String,
    /// In the negotiated language.
    pub name: String,
    pub description: String,
    /// Strictly necessary: always on.
    pub required: bool,
    pub cookies: Vec<ConfigCookieInfo>,
}

#[derive(ToSchema)]
pub struct ConfigCookieInfo {
    pub name: String,
    pub provider: String,
    pub purpose: String,
    pub lifetime: String,
    pub party: Party,
}

/// The banner's texts in the negotiated language.
#[derive(ToSchema)]
pub struct ConfigTexts {
    pub banner_title: String,
    pub banner_body: String,
    pub banner_body_opt_out: String,
    pub banner_body_notice: String,
    pub accept_all: String,
    pub reject_all: String,
    pub do_not_sell: String,
    pub ok: String,
    pub customize: String,
    pub save: String,
    pub close: String,
    pub preferences_title: String,
    pub preferences_body: String,
    pub always_on: String,
    /// Contains `{category}`.
    pub placeholder: String,
    pub allow: String,
    pub privacy_link: String,
    pub cookies_link: String,
    pub gpc_honored: String,
    pub gpc_explain: String,
}

#[derive(ToSchema)]
pub struct ConfigUrls {
    pub privacy: String,
    pub cookies: String,
    pub preferences: String,
}

/// A visitor's records for one site, oldest first.
#[derive(ToSchema)]
pub struct History {
    pub visitor_id: String,
    pub site: String,
    pub records: Vec<RecordView<'static>>,
}

/// How many records were unlinked from the visitor (every site).
#[derive(ToSchema)]
pub struct Erased {
    pub erased: u64,
}

/// The newest link of the hash chain.
#[derive(ToSchema)]
pub struct PublicLedgerHead {
    /// Records ever appended (purged and erased ones included).
    pub count: i64,
    /// Hash of the newest record (hex), or of the genesis when empty.
    pub hash: String,
    /// `sha-256`.
    pub algorithm: String,
    /// When this answer was made, RFC 3339.
    pub at: String,
}

/// The token (or session) the request was made with.
#[derive(ToSchema)]
pub struct WhoAmI {
    pub id: i64,
    pub name: String,
    pub role: Role,
}

#[derive(ToSchema)]
pub struct PolicyPublished {
    pub version: String,
    pub material: bool,
    /// SHA-256 of the published source (hex).
    pub content_hash: String,
    /// The versions decisions may now name.
    pub valid_versions: Vec<String>,
}

#[derive(ToSchema)]
pub struct RegistryPublished {
    pub version: String,
    pub material: bool,
    /// SHA-256 of the published source (hex).
    pub content_hash: String,
    /// A material change also publishes a policy revision named after the registry version;
    /// null otherwise.
    pub policy_revision: Option<String>,
}

/// `format` of the export endpoints.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// `text/csv` with a header row.
    Csv,
    /// `application/x-ndjson`, one JSON object per line (the default).
    Ndjson,
}

#[derive(ToSchema)]
pub struct Status {
    /// `ok` (`/healthz`) or `ready` (`/readyz`).
    pub status: String,
}

#[derive(ToSchema)]
pub struct NotReady {
    /// `unavailable`.
    pub status: String,
    /// `database`.
    pub reason: String,
}

/// Global Privacy Control support resource (`/.well-known/gpc.json`).
#[derive(Serialize, ToSchema)]
pub struct GpcSupport {
    /// This site honours GPC.
    pub gpc: bool,
    /// `YYYY-MM-DD`: when the handling of GPC last changed.
    #[serde(rename = "lastUpdate")]
    pub last_update: String,
}

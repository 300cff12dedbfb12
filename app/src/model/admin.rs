//! What the admin area shows. The server checks the session, loads the data for the requested
//! admin page and attaches an [`AdminPage`] to the request; the pages only render it. The same
//! types are the JSON bodies of the admin API, so the UI and the API cannot drift apart.

use serde::{Deserialize, Serialize};

/// Everything one admin page render needs.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AdminPage {
    /// None only on the sign-in page.
    pub session: Option<AdminSession>,
    pub view: AdminView,
    /// A one-time message after a form post ("token revoked", "3 records erased").
    pub flash: Option<String>,
}

/// The signed-in person, as far as pages need to know.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AdminSession {
    /// Name of the API token the session was opened with.
    pub name: String,
    /// `admin` or `auditor`.
    pub role: String,
    /// Goes into a hidden `csrf` field of every form the page renders.
    pub csrf: String,
}

impl AdminSession {
    pub fn is_admin(&self) -> bool {
        self.role == "admin"
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum AdminView {
    SignIn {
        /// Where to go after signing in (a path under /admin).
        next: String,
        /// Login CSRF token (double-submit: also in a short-lived cookie).
        csrf: String,
        error: Option<String>,
    },
    Dashboard(Dashboard),
    Records(RecordSearch),
    Receipt(Box<Receipt>),
    Audit(AuditSearch),
    Tokens(TokensPage),
    /// The request was wrong (a bad filter, an unknown record): HTTP status and explanation.
    Problem {
        status: u16,
        message: String,
    },
}

/// Consent-record search filters, exactly as they arrive in the query string; the server
/// validates them. Empty strings count as absent.
// Also the query parameters of the record search and export endpoints.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema, utoipa::IntoParams))]
#[cfg_attr(feature = "ssr", into_params(parameter_in = Query))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RecordQuery {
    /// 32 hex characters.
    pub visitor: Option<String>,
    pub site: Option<String>,
    /// Inclusive lower bound: `YYYY-MM-DD` or RFC 3339.
    pub from: Option<String>,
    /// Exclusive upper bound: `YYYY-MM-DD` (the whole day is included) or RFC 3339.
    pub to: Option<String>,
    /// A category key that must be among the granted categories.
    pub granted: Option<String>,
    /// A category key that must be among the denied categories.
    pub denied: Option<String>,
    /// A jurisdiction rule id (`gdpr`, `us-privacy`, …).
    pub jurisdiction: Option<String>,
    /// `accept_all`, `reject_all`, `custom`, `withdraw` or `gpc`.
    pub action: Option<String>,
    /// Keyset cursor: only records with a smaller id (newest first).
    pub before: Option<i64>,
    /// Page size, 1–500 (default 50); ignored by exports.
    pub limit: Option<u32>,
}

impl RecordQuery {
    /// The filters (not the cursor) as `key=value` pairs, for links and export URLs.
    pub fn filter_pairs(&self) -> Vec<(&'static str, String)> {
        [
            ("visitor", &self.visitor),
            ("site", &self.site),
            ("from", &self.from),
            ("to", &self.to),
            ("granted", &self.granted),
            ("denied", &self.denied),
            ("jurisdiction", &self.jurisdiction),
            ("action", &self.action),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.as_ref().filter(|v| !v.is_empty()).map(|v| (k, v.clone())))
        .collect()
    }
}

/// One consent record as listed in search results and exports.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordRow {
    pub id: i64,
    /// RFC 3339, UTC.
    pub recorded_at: String,
    pub site: String,
    /// None once the visitor's data was erased.
    pub visitor_id: Option<String>,
    pub action: String,
    pub source: String,
    pub granted: Vec<String>,
    pub denied: Vec<String>,
    pub policy_version: String,
    pub registry_version: String,
    pub language: String,
    pub jurisdiction: String,
    pub region: Option<String>,
    pub rule_version: String,
    pub gpc_applied: bool,
    /// RFC 3339, UTC.
    pub expires_at: String,
    pub page: Option<String>,
    pub ip_reduced: Option<String>,
    pub ua_family: Option<String>,
    pub erased: bool,
    /// This record's link in the hash chain (hex).
    pub hash: String,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecordSearch {
    pub query: RecordQuery,
    pub records: Vec<RecordRow>,
    /// Pass as `before` to get the next (older) page; None on the last page.
    pub next_before: Option<i64>,
}

/// A consent receipt with the fields of ISO/IEC TS 27560 (consent record information
/// structure), for one stored record.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Receipt {
    /// Version of this receipt format.
    pub schema_version: String,
    /// The standard the fields follow.
    pub schema: String,
    pub record_id: i64,
    /// The record's hash in the ledger's chain (hex): proves which stored record this is.
    pub record_hash: String,
    /// Pseudonymous principal id (the random visitor id); None after erasure.
    pub pii_principal_id: Option<String>,
    pub pii_controller: ReceiptController,
    pub site: String,
    pub notice: ReceiptNotice,
    pub language: String,
    pub purposes: Vec<ReceiptPurpose>,
    pub jurisdiction: ReceiptJurisdiction,
    pub collection_method: ReceiptMethod,
    /// When consent was given or refused, RFC 3339.
    pub timestamp: String,
    pub validity: ReceiptValidity,
    /// `active`, `superseded`, `withdrawn`, `expired`, `refused` or `erased`.
    pub state: String,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReceiptController {
    pub name: String,
    pub contact: String,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReceiptNotice {
    pub policy_version: String,
    /// SHA-256 of the policy text shown (hex); None if that version is not stored.
    pub policy_hash: Option<String>,
    pub policy_url: String,
    pub registry_version: String,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReceiptPurpose {
    pub category: String,
    pub name: String,
    pub description: String,
    /// Strictly necessary: always on, not a matter of consent.
    pub required: bool,
    pub granted: bool,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReceiptJurisdiction {
    /// Id of the rule applied (`gdpr`, `us-privacy`, …).
    pub rule: String,
    pub rule_version: String,
    /// `DE`, `US-CA`; None when the location was unknown.
    pub region: Option<String>,
    /// A Global Privacy Control signal was honoured.
    pub gpc_applied: bool,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReceiptMethod {
    /// `accept_all`, `reject_all`, `custom`, `withdraw`, `gpc`.
    pub action: String,
    /// `banner`, `preferences`, `api`.
    pub source: String,
    /// In words, e.g. "explicit affirmative action: Accept all in the banner".
    pub description: String,
    /// Page path where the choice was made; None after erasure.
    pub page: Option<String>,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ReceiptValidity {
    /// RFC 3339.
    pub valid_from: String,
    /// RFC 3339.
    pub valid_until: String,
}

/// Opt-in statistics over a period.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Dashboard {
    /// `YYYY-MM-DD`, inclusive.
    pub from: String,
    /// `YYYY-MM-DD`, inclusive.
    pub to: String,
    pub site: Option<String>,
    pub totals: Totals,
    /// Overall opt-in rate per optional category.
    pub categories: Vec<CategoryRate>,
    pub by_jurisdiction: Vec<GroupRates>,
    /// One entry per day of the period, days without records included.
    pub by_day: Vec<GroupRates>,
    pub head: LedgerHead,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    pub records: u64,
    pub accept_all: u64,
    pub reject_all: u64,
    pub custom: u64,
    pub withdraw: u64,
    pub gpc: u64,
}

/// Among records that decided on `category`, how many granted it.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CategoryRate {
    pub category: String,
    pub name: String,
    pub granted: u64,
    pub decided: u64,
}

impl CategoryRate {
    /// 0.0–1.0; None when nobody decided.
    pub fn rate(&self) -> Option<f64> {
        (self.decided > 0).then(|| self.granted as f64 / self.decided as f64)
    }
}

/// Rates for one group (a jurisdiction, a day).
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GroupRates {
    pub label: String,
    pub records: u64,
    pub categories: Vec<CategoryRate>,
}

/// The newest link of the hash chain: publish it elsewhere to make later tampering evident.
#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LedgerHead {
    /// Records ever appended (purged and erased ones included).
    pub count: i64,
    /// Hash of the newest record (hex), or of the genesis when empty.
    pub hash: String,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema, utoipa::IntoParams))]
#[cfg_attr(feature = "ssr", into_params(parameter_in = Query))]
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AuditQuery {
    /// Token name, `cli`, `visitor` or `system`.
    pub actor: Option<String>,
    /// An audit action such as `records.search` or `token.create`.
    pub action: Option<String>,
    /// Inclusive lower bound: `YYYY-MM-DD` or RFC 3339.
    pub from: Option<String>,
    /// Exclusive upper bound: `YYYY-MM-DD` (the whole day is included) or RFC 3339.
    pub to: Option<String>,
    /// Keyset cursor: only entries with a smaller id (newest first).
    pub before: Option<i64>,
    /// Page size, 1–500 (default 50); ignored by exports.
    pub limit: Option<u32>,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditRow {
    pub id: i64,
    /// RFC 3339.
    pub at: String,
    /// Token name, `cli`, `visitor` or `system`.
    pub actor: String,
    /// `admin`, `auditor`, `visitor`, `system`.
    pub role: String,
    /// `sign_in`, `records.search`, `export`, `erase`, `purge`, `policy.publish`, …
    pub action: String,
    pub target: String,
    pub detail: String,
    pub ip_reduced: Option<String>,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct AuditSearch {
    pub query: AuditQuery,
    pub entries: Vec<AuditRow>,
    pub next_before: Option<i64>,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TokenRow {
    pub id: i64,
    pub name: String,
    pub role: String,
    /// RFC 3339.
    pub created_at: String,
    pub revoked_at: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TokensPage {
    pub tokens: Vec<TokenRow>,
    /// A token just created or rotated: shown this once, never again.
    pub new_token: Option<NewToken>,
}

#[cfg_attr(feature = "ssr", derive(utoipa::ToSchema))]
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NewToken {
    pub name: String,
    pub role: String,
    pub token: String,
}

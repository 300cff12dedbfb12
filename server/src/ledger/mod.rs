//! The storage boundary. Handlers and pages talk to `dyn Ledger` only, so another engine
//! (PostgreSQL for sites that outgrow one machine) is one more implementation of this trait,
//! selected at start-up, with no change to handlers or pages.
//!
//! Consent records are append-only: a new choice is a new record; nothing is updated in place.
//! Published content (policy, cookie registry, responsibility matrix) is versioned the same way.

pub mod sqlite;

use app::model::{Action, Category, ChangelogEntry, CookieEntry, Responsibility, Source, VisitorId};
use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// Busy, locked, read-only, full or I/O failure: transient from the client's view.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// Stored data does not have the shape the code expects.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("storage error: {0}")]
    Other(String),
}

/// A consent choice ready to be appended.
#[derive(Clone, Debug, PartialEq)]
pub struct NewRecord {
    pub visitor_id: VisitorId,
    pub site: String,
    pub action: Action,
    pub source: Source,
    /// Every granted category, required ones included.
    pub granted: Vec<String>,
    pub denied: Vec<String>,
    pub policy_version: String,
    pub registry_version: String,
    pub language: String,
    /// Path only: query strings and fragments can carry personal data and are dropped.
    pub page: String,
    /// IPv4 truncated to /24, IPv6 to /48; never the raw address.
    pub ip_reduced: Option<String>,
    pub ua_family: String,
    pub recorded_at_ms: i64,
    /// `US-CA`, `DE`; None when the location was unknown.
    pub region: Option<String>,
    /// Id of the jurisdiction rule applied.
    pub jurisdiction: String,
    pub rule_version: String,
    /// Global Privacy Control was signalled and honoured: sale/sharing categories are off.
    pub gpc_applied: bool,
    /// When the decision stops being valid (the jurisdiction's consent or refusal lifetime).
    pub expires_at_ms: i64,
}

/// A committed consent record.
#[derive(Clone, Debug, PartialEq)]
pub struct Record {
    pub id: i64,
    pub data: NewRecord,
}

#[derive(Clone, Debug)]
pub struct PublishedPolicy {
    pub version: String,
    /// A material change invalidates consents given under earlier versions.
    pub material: bool,
    pub effective_date: String,
    pub title: String,
    pub content_hash: String,
    pub changelog: Vec<ChangelogEntry>,
    pub markdown: String,
}

#[derive(Clone, Debug)]
pub struct PublishedRegistry {
    pub version: String,
    pub material: bool,
    pub content_hash: String,
    pub categories: Vec<Category>,
    pub cookies: Vec<CookieEntry>,
}

#[derive(Clone, Debug)]
pub struct PublishedResponsibility {
    pub content_hash: String,
    pub document: Responsibility,
}

#[async_trait]
pub trait Ledger: Send + Sync + 'static {
    /// Applies pending schema migrations.
    async fn migrate(&self) -> Result<(), LedgerError>;
    /// Cheap liveness probe of the storage.
    async fn ping(&self) -> Result<(), LedgerError>;

    /// Appends a record; returns only after it is durably committed.
    async fn append(&self, record: NewRecord) -> Result<Record, LedgerError>;
    /// The visitor's most recent record for a site.
    async fn latest(&self, visitor: VisitorId, site: &str) -> Result<Option<Record>, LedgerError>;
    /// The visitor's records for a site, oldest first, at most `limit`.
    async fn history(&self, visitor: VisitorId, site: &str, limit: u32) -> Result<Vec<Record>, LedgerError>;

    async fn current_policy(&self) -> Result<Option<PublishedPolicy>, LedgerError>;
    /// Policy versions consents may still refer to: the newest material one and every later one.
    async fn valid_policy_versions(&self) -> Result<Vec<String>, LedgerError>;
    /// A cheap fingerprint of what is published (changes on every publish), for reloading.
    async fn content_generation(&self) -> Result<(i64, i64, i64), LedgerError>;
    async fn publish_policy(&self, policy: &PublishedPolicy) -> Result<(), LedgerError>;
    async fn current_registry(&self) -> Result<Option<PublishedRegistry>, LedgerError>;
    async fn publish_registry(&self, registry: &PublishedRegistry) -> Result<(), LedgerError>;
    async fn create_token(
        &self,
        name: &str,
        role: crate::auth::Role,
        token_hash: &str,
    ) -> Result<crate::auth::TokenInfo, LedgerError>;
    async fn find_token(&self, token_hash: &str) -> Result<Option<crate::auth::TokenInfo>, LedgerError>;
    async fn list_tokens(&self) -> Result<Vec<crate::auth::TokenInfo>, LedgerError>;
    /// Returns false when no active token has that id.
    async fn revoke_token(&self, id: i64) -> Result<bool, LedgerError>;

    async fn current_responsibility(&self) -> Result<Option<PublishedResponsibility>, LedgerError>;
    async fn publish_responsibility(&self, doc: &PublishedResponsibility) -> Result<(), LedgerError>;
}

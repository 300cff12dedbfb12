//! The storage boundary. Handlers and pages talk to `dyn Ledger` only, so another engine
//! (PostgreSQL for sites that outgrow one machine) is one more implementation of this trait,
//! selected at start-up, with no change to handlers or pages.
//!
//! Consent records are append-only: a new choice is a new record; nothing is updated in place.
//! Published content (policy, cookie registry, responsibility matrix) is versioned the same way.

pub mod chain;
pub mod decision_cache;
pub mod sqlite;

use app::model::{Action, Category, ChangelogEntry, CookieEntry, Responsibility, Source, VisitorId};
use async_trait::async_trait;

#[derive(Clone, Debug, thiserror::Error)]
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

/// What a decision needs of a visitor's latest record (see [`Ledger::latest`]).
#[derive(Clone, Debug, PartialEq)]
pub struct LatestDecision {
    pub id: i64,
    pub recorded_at_ms: i64,
    pub expires_at_ms: i64,
    /// Shared: many visitors decide on the same terms, and a cached decision keeps them once.
    pub terms: std::sync::Arc<DecisionTerms>,
}

/// What was decided, under which policy and rule.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DecisionTerms {
    pub action: Action,
    pub granted: Vec<String>,
    pub policy_version: String,
    pub jurisdiction: String,
    pub region: Option<String>,
    pub rule_version: String,
    pub gpc_applied: bool,
}

impl DecisionTerms {
    /// What a committed record decided.
    pub fn of(r: &NewRecord) -> Self {
        Self {
            action: r.action,
            granted: r.granted.clone(),
            policy_version: r.policy_version.clone(),
            jurisdiction: r.jurisdiction.clone(),
            region: r.region.clone(),
            rule_version: r.rule_version.clone(),
            gpc_applied: r.gpc_applied,
        }
    }
}

/// A record as stored: identifiers are None once erased; salt, commitment and hash are the
/// record's part of the hash chain (see [`chain`]).
#[derive(Clone, Debug, PartialEq)]
pub struct StoredRecord {
    pub id: i64,
    pub visitor_id: Option<VisitorId>,
    pub site: String,
    pub action: Action,
    pub source: Source,
    pub granted: Vec<String>,
    pub denied: Vec<String>,
    pub policy_version: String,
    pub registry_version: String,
    pub language: String,
    pub page: Option<String>,
    pub ip_reduced: Option<String>,
    pub ua_family: Option<String>,
    pub recorded_at_ms: i64,
    pub region: Option<String>,
    pub jurisdiction: String,
    pub rule_version: String,
    pub gpc_applied: bool,
    pub expires_at_ms: i64,
    pub subject_salt: Option<[u8; 16]>,
    pub subject_commitment: Option<chain::Hash>,
    pub hash: Option<chain::Hash>,
    pub erased_at_ms: Option<i64>,
}

impl StoredRecord {
    /// The commitment the chain covers: computed from the identifiers while they exist,
    /// the stored one after erasure.
    pub fn commitment(&self) -> Option<chain::Hash> {
        match (&self.subject_salt, &self.visitor_id) {
            (Some(salt), Some(v)) => Some(chain::subject_commitment(
                salt,
                v.as_bytes(),
                self.page.as_deref(),
                self.ip_reduced.as_deref(),
                self.ua_family.as_deref(),
            )),
            _ => self.subject_commitment,
        }
    }

    /// False when identifiers and a stored commitment both exist and disagree.
    pub fn commitment_consistent(&self) -> bool {
        match (self.subject_salt.is_some() && self.visitor_id.is_some(), self.subject_commitment) {
            (true, Some(stored)) => self.commitment() == Some(stored),
            _ => true,
        }
    }

    /// The committed record in the shape decision and history handlers use; None if erased.
    pub fn into_record(self) -> Option<Record> {
        Some(Record {
            id: self.id,
            data: NewRecord {
                visitor_id: self.visitor_id?,
                site: self.site,
                action: self.action,
                source: self.source,
                granted: self.granted,
                denied: self.denied,
                policy_version: self.policy_version,
                registry_version: self.registry_version,
                language: self.language,
                page: self.page.unwrap_or_default(),
                ip_reduced: self.ip_reduced,
                ua_family: self.ua_family.unwrap_or_default(),
                recorded_at_ms: self.recorded_at_ms,
                region: self.region,
                jurisdiction: self.jurisdiction,
                rule_version: self.rule_version,
                gpc_applied: self.gpc_applied,
                expires_at_ms: self.expires_at_ms,
            },
        })
    }
}

/// Validated search filters over consent records.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RecordFilter {
    pub visitor: Option<VisitorId>,
    pub site: Option<String>,
    /// Inclusive, unix ms.
    pub from_ms: Option<i64>,
    /// Exclusive, unix ms.
    pub to_ms: Option<i64>,
    pub granted: Option<String>,
    pub denied: Option<String>,
    pub jurisdiction: Option<String>,
    pub action: Option<Action>,
}

/// One page of a keyset walk over ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Page {
    /// Newest first, ids below the cursor (None: from the newest).
    Before(Option<i64>),
    /// Oldest first, ids above the cursor (export walks the chain in order).
    After(i64),
}

/// The newest link of the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// Records ever appended (purged ones included).
    pub count: i64,
    pub hash: chain::Hash,
}

#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct VerifyReport {
    /// Records whose links were recomputed.
    pub checked: u64,
    /// Where verification started: 0 for genesis, else the last purged id.
    pub checkpoint_through: i64,
    pub head_count: i64,
    pub head_hash: String,
    /// None: the chain is intact.
    pub finding: Option<chain::Finding>,
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct PurgeReport {
    pub purged: u64,
    /// The newest purged id (the checkpoint), or None when nothing was old enough.
    pub through_id: Option<i64>,
}

/// An audit-log entry to append.
#[derive(Clone, Debug, PartialEq)]
pub struct AuditEntry {
    pub at_ms: i64,
    pub actor: String,
    pub token_id: Option<i64>,
    pub role: String,
    pub action: String,
    pub target: String,
    pub detail: String,
    pub ip_reduced: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub from_ms: Option<i64>,
    pub to_ms: Option<i64>,
}

/// Count of records with one combination of day, jurisdiction and choice.
#[derive(Clone, Debug, PartialEq)]
pub struct StatRow {
    /// `YYYY-MM-DD`, UTC.
    pub day: String,
    pub jurisdiction: String,
    pub action: Action,
    pub granted: Vec<String>,
    pub denied: Vec<String>,
    pub count: u64,
}

/// An open admin-area session.
#[derive(Clone, Debug)]
pub struct Session {
    pub token: crate::auth::TokenInfo,
    pub csrf: String,
    pub expires_at_ms: i64,
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
    async fn latest(&self, visitor: VisitorId, site: &str) -> Result<Option<LatestDecision>, LedgerError>;
    /// Every record matching `filter`, in chain order, encoded as `format` (CSV starts with
    /// its header row) and streamed in chunks; dropping the receiver stops the export.
    fn export(
        &self,
        filter: RecordFilter,
        format: crate::records::export::Format,
    ) -> tokio::sync::mpsc::Receiver<Result<crate::records::export::Chunk, LedgerError>>;
    /// The visitor's records for a site, oldest first, at most `limit`.
    async fn history(&self, visitor: VisitorId, site: &str, limit: u32) -> Result<Vec<Record>, LedgerError>;

    async fn current_policy(&self) -> Result<Option<PublishedPolicy>, LedgerError>;
    /// SHA-256 (hex) of a published policy version's text.
    async fn policy_hash(&self, version: &str) -> Result<Option<String>, LedgerError>;
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

    /// The record with this id, erased or not.
    async fn record(&self, id: i64) -> Result<Option<StoredRecord>, LedgerError>;
    /// The newest record of this visitor and site after `id`, if any.
    async fn next_of(&self, visitor: VisitorId, site: &str, id: i64) -> Result<Option<i64>, LedgerError>;
    async fn search(
        &self,
        filter: &RecordFilter,
        page: Page,
        limit: u32,
    ) -> Result<Vec<StoredRecord>, LedgerError>;
    async fn count(&self, filter: &RecordFilter) -> Result<u64, LedgerError>;
    async fn head(&self) -> Result<Head, LedgerError>;
    /// Whether a link published earlier (optionally with its count) is still in the chain:
    /// a stored record's hash, or a checkpoint's when that record was purged since.
    async fn contains_link(&self, count: Option<i64>, hash: &chain::Hash) -> Result<bool, LedgerError>;
    /// Recomputes the whole chain from the newest checkpoint; stops at the first finding.
    async fn verify(&self) -> Result<VerifyReport, LedgerError>;
    /// Removes what links the visitor's records (every site) to them; returns how many.
    async fn erase_visitor(&self, visitor: VisitorId) -> Result<u64, LedgerError>;
    /// Deletes the oldest records up to the first one recorded at or after `cutoff_ms`,
    /// leaving a checkpoint so the rest still verifies.
    async fn purge(&self, cutoff_ms: i64) -> Result<PurgeReport, LedgerError>;
    async fn stats(&self, filter: &RecordFilter) -> Result<Vec<StatRow>, LedgerError>;

    async fn audit(&self, entry: AuditEntry) -> Result<(), LedgerError>;
    async fn search_audit(
        &self,
        filter: &AuditFilter,
        page: Page,
        limit: u32,
    ) -> Result<Vec<(i64, AuditEntry)>, LedgerError>;

    /// Replaces token `id` by a new one with the same name and role; None if not active.
    async fn rotate_token(
        &self,
        id: i64,
        new_hash: &str,
    ) -> Result<Option<crate::auth::TokenInfo>, LedgerError>;
    async fn create_session(
        &self,
        id_hash: &str,
        token_id: i64,
        csrf: &str,
        expires_at_ms: i64,
    ) -> Result<(), LedgerError>;
    /// An open, unexpired session whose token is still active.
    async fn find_session(&self, id_hash: &str, now_ms: i64) -> Result<Option<Session>, LedgerError>;
    async fn end_session(&self, id_hash: &str, now_ms: i64) -> Result<(), LedgerError>;

    async fn current_responsibility(&self) -> Result<Option<PublishedResponsibility>, LedgerError>;
    async fn publish_responsibility(&self, doc: &PublishedResponsibility) -> Result<(), LedgerError>;
}

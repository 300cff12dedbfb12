//! The audit log: who read personal data or changed anything, when, from where (reduced).
//! Entries are append-only (database triggers); the admin area and API list and export them.

use crate::auth::TokenInfo;
use crate::error::ApiError;
use crate::ledger::{AuditEntry, AuditFilter};
use crate::records::{parse_bound, rfc3339};
use crate::state::AppState;
use app::model::admin::{AuditQuery, AuditRow};

pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

/// Who acted.
pub enum Actor<'a> {
    Token(&'a TokenInfo),
    /// A visitor exercising their rights from /preferences (never named: the entry must not
    /// re-link what erasure unlinked).
    Visitor,
    /// The operator on the command line.
    Cli,
    /// Scheduled jobs.
    System,
    /// A failed sign-in: nobody known.
    Unknown,
}

impl Actor<'_> {
    fn parts(&self) -> (String, Option<i64>, String) {
        match self {
            Self::Token(t) => (t.name.clone(), Some(t.id), t.role.as_str().to_owned()),
            Self::Visitor => ("visitor".into(), None, "visitor".into()),
            Self::Cli => ("cli".into(), None, "operator".into()),
            Self::System => ("system".into(), None, "system".into()),
            Self::Unknown => ("unknown".into(), None, "none".into()),
        }
    }
}

/// Appends one entry. Fails closed: an action whose audit entry cannot be written reports
/// storage unavailable rather than going unrecorded.
pub async fn record(
    state: &AppState,
    actor: Actor<'_>,
    action: &str,
    target: String,
    detail: String,
    ip_reduced: Option<String>,
) -> Result<(), ApiError> {
    append(state.ledger.as_ref(), actor, action, target, detail, ip_reduced).await.map_err(ApiError::from)
}

/// [`record`] for callers without an `AppState` (the CLI).
pub async fn append(
    ledger: &dyn crate::ledger::Ledger,
    actor: Actor<'_>,
    action: &str,
    target: String,
    detail: String,
    ip_reduced: Option<String>,
) -> Result<(), crate::ledger::LedgerError> {
    let (actor, token_id, role) = actor.parts();
    ledger
        .audit(AuditEntry {
            at_ms: now_ms(),
            actor,
            token_id,
            role,
            action: action.to_owned(),
            target,
            detail,
            ip_reduced,
        })
        .await
}

pub const MAX_PAGE: u32 = 500;

/// Validates the query-string filters of an audit search.
pub fn filter(q: &AuditQuery) -> Result<AuditFilter, ApiError> {
    let text = |v: &Option<String>, what: &str| -> Result<Option<String>, ApiError> {
        match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(s) if s.len() <= 100 => Ok(Some(s.to_owned())),
            Some(_) => {
                Err(ApiError::bad_request("invalid_filter", format!("{what} must be at most 100 characters")))
            }
        }
    };
    Ok(AuditFilter {
        actor: text(&q.actor, "actor")?,
        action: text(&q.action, "action")?,
        from_ms: parse_bound(q.from.as_deref(), "from", false)?,
        to_ms: parse_bound(q.to.as_deref(), "to", true)?,
    })
}

pub fn row(id: i64, e: AuditEntry) -> AuditRow {
    AuditRow {
        id,
        at: rfc3339(e.at_ms),
        actor: e.actor,
        role: e.role,
        action: e.action,
        target: e.target,
        detail: e.detail,
        ip_reduced: e.ip_reduced,
    }
}

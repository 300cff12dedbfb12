//! Retention: records older than `retention.days` are purged — on demand (`accord purge`, the
//! admin API) and on a schedule while serving. A checkpoint keeps the remaining chain
//! verifiable (see docs/ledger.md).

use crate::ledger::{Ledger, LedgerError, PurgeReport};
use crate::state::AppState;
use std::time::Duration;

pub fn cutoff_ms(days: u32, now_ms: i64) -> i64 {
    now_ms - i64::from(days) * 86_400_000
}

pub async fn purge_with(ledger: &dyn Ledger, days: u32) -> Result<PurgeReport, LedgerError> {
    ledger.purge(cutoff_ms(days, crate::audit::now_ms())).await
}

pub async fn purge(state: &AppState) -> Result<PurgeReport, LedgerError> {
    purge_with(state.ledger.as_ref(), state.config.retention.days).await
}

pub fn describe(r: &PurgeReport, days: u32) -> String {
    match r.through_id {
        Some(id) => format!("{} record(s) older than {days} days purged through id {id}", r.purged),
        None => format!("nothing older than {days} days"),
    }
}

/// Purges every `purge_every_hours` (first run one minute after start), logging and
/// auditing each run; a failed run is retried at the next tick.
pub fn spawn_scheduled(state: AppState) {
    let hours = state.config.retention.purge_every_hours;
    if hours == 0 {
        return;
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(
            tokio::time::Instant::now() + Duration::from_secs(60),
            Duration::from_secs(u64::from(hours) * 3600),
        );
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            match purge(&state).await {
                Ok(r) => {
                    tracing::info!(purged = r.purged, through = ?r.through_id, "scheduled retention purge");
                    if r.purged > 0 {
                        let detail = describe(&r, state.config.retention.days);
                        if let Err(e) = crate::audit::record(
                            &state,
                            crate::audit::Actor::System,
                            "purge",
                            "consent records".into(),
                            detail,
                            None,
                        )
                        .await
                        {
                            tracing::warn!(error = %e, "could not audit the scheduled purge");
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "scheduled retention purge failed; retrying next time"),
            }
        }
    });
}

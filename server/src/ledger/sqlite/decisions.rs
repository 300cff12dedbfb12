//! The SQLite engine's side of the decision cache (`ledger::decision_cache`): reads through
//! it, and a watcher thread that empties it when another process changed the records.
//!
//! Another process can change what a cached decision was read from in two ways:
//! - erase or purge records: triggers bump `ledger_changes.n` (migration 0008);
//! - append records (a second server on the same file): `sqlite_sequence` moves past the
//!   highest id this process committed. The writer also checks that inside every write
//!   transaction, so a foreign append between two of our batches is never missed.
//!
//! The watcher looks every [`WATCH_EVERY`]; that is how long another process's change can
//! take to show in this one's decisions. Within this process the cache is exact.

use super::reader::Readers;
use crate::ledger::decision_cache::{DecisionCache, Lookup};
use crate::ledger::{LatestDecision, LedgerError};
use app::model::VisitorId;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

pub const WATCH_EVERY: Duration = Duration::from_millis(100);

pub struct Decisions {
    pub cache: DecisionCache,
    /// The highest record id this process committed (or found at start), updated under the
    /// cache's `changes` lock once the writer's entries are in.
    pub own_high: AtomicI64,
}

impl Decisions {
    pub fn new(capacity: usize, appended: i64) -> Self {
        Self { cache: DecisionCache::new(capacity), own_high: AtomicI64::new(appended) }
    }

    /// The visitor's latest decision for a site: from memory, else from the file.
    pub fn latest(
        &self,
        readers: &Readers,
        visitor: VisitorId,
        site: &str,
    ) -> Result<Option<LatestDecision>, LedgerError> {
        match self.cache.get(visitor, site) {
            Lookup::Hit(found) => Ok(found),
            Lookup::Miss(ticket) => {
                let found = readers.latest(visitor, site)?;
                self.cache.fill(ticket, found.as_ref());
                Ok(found)
            }
            Lookup::Bypass => readers.latest(visitor, site),
        }
    }

    /// Forget everything (nothing is known about what changed).
    pub fn clear(&self) {
        self.cache.clear(&self.cache.changes());
    }
}

/// Starts the watcher; it ends once the ledger (every holder of `decisions`) is gone.
pub fn watch(decisions: &Arc<Decisions>, readers: Arc<Readers>) -> std::io::Result<()> {
    let weak: Weak<Decisions> = Arc::downgrade(decisions);
    std::thread::Builder::new()
        .name("accord-decisions".into())
        .spawn(move || {
            let mut last_changes = None;
            loop {
                std::thread::sleep(WATCH_EVERY);
                let Some(d) = weak.upgrade() else { return };
                match readers.changes() {
                    Ok((changes, appended)) => {
                        let changes_moved = last_changes.is_some_and(|n| n != changes);
                        last_changes = Some(changes);
                        // Under the lock: the writer raises `own_high` only after its
                        // entries are in, so our own commits never look foreign here.
                        let lock = d.cache.changes();
                        let foreign_append = appended > d.own_high.load(Ordering::Acquire);
                        if changes_moved || foreign_append {
                            tracing::debug!(changes_moved, foreign_append, "decision cache cleared");
                            d.cache.clear(&lock);
                            d.own_high.fetch_max(appended, Ordering::AcqRel);
                        }
                    }
                    // Not readable now (a fault, or not migrated yet): assume the worst.
                    Err(_) => {
                        last_changes = None;
                        d.clear();
                    }
                }
            }
        })
        .map(drop)
}

//! Synchronous read connections for the hottest query: a visitor's latest decision, asked on
//! every page view by sites' backends ("may I load analytics?"). Through sqlx's pool, each
//! read is handed to the connection's own thread and back, and those two hand-offs cost
//! several times the lookup itself. Here the lookup (an index seek, microseconds when the
//! pages are cached) runs on the calling thread over a plain SQLite connection.
//!
//! Same file, same WAL: a read sees every committed record (the writer acknowledges only
//! after COMMIT), so there is nothing to keep coherent. Connections are `query_only`.

use crate::ledger::{DecisionTerms, LatestDecision, LedgerError};
use app::model::{Action, VisitorId};
use rusqlite::types::Type;
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

pub struct Readers {
    path: PathBuf,
    busy_timeout: Duration,
    idle: Mutex<Vec<Connection>>,
    /// Idle connections kept; more may exist briefly under load (one per concurrent read).
    keep: usize,
}

/// `PRAGMA cache_size` of the plain read connections: negative means KiB.
const READER_CACHE_KIB: i64 = -512;

const LATEST: &str = "SELECT id, action, granted, policy_version, recorded_at, expires_at, jurisdiction, \
     region, rule_version, gpc_applied FROM consent_log \
     WHERE visitor_id = ?1 AND site = ?2 ORDER BY id DESC LIMIT 1";

impl Readers {
    pub fn new(path: &Path, busy_timeout: Duration, keep: usize) -> Self {
        Self { path: path.to_owned(), busy_timeout, idle: Mutex::default(), keep: keep.max(1) }
    }

    pub(super) fn open(&self) -> rusqlite::Result<Connection> {
        let conn = connect(&self.path, self.busy_timeout)?;
        conn.pragma_update(None, "query_only", true)?;
        // Decisions are mostly answered from memory and exports read sequentially: a small
        // page cache each (512 KiB instead of SQLite's 2 MiB) keeps the server's peak RSS
        // from growing with the file.
        conn.pragma_update(None, "cache_size", READER_CACHE_KIB)?;
        Ok(conn)
    }

    fn with<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, LedgerError> {
        let pooled = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let conn = match pooled {
            Some(c) => c,
            None => self.open().map_err(map_err)?,
        };
        let result = f(&conn).map_err(map_err);
        // A connection that failed may be broken (file replaced, I/O error): open afresh next time.
        if result.is_ok() {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            if idle.len() < self.keep {
                idle.push(conn);
            }
        }
        result
    }

    /// The highest record id (0 when there is none).
    pub fn max_id(&self) -> Result<i64, LedgerError> {
        self.with(|c| c.query_row("SELECT ifnull(MAX(id), 0) FROM consent_records", [], |r| r.get(0)))
    }

    /// (`ledger_changes.n`, records ever appended): what the decision watcher compares.
    pub fn changes(&self) -> Result<(i64, i64), LedgerError> {
        self.with(|c| {
            c.prepare_cached(
                "SELECT (SELECT n FROM ledger_changes WHERE id = 1), \
                 ifnull((SELECT seq FROM sqlite_sequence WHERE name = 'consent_records'), 0)",
            )?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        })
    }

    pub fn latest(&self, visitor: VisitorId, site: &str) -> Result<Option<LatestDecision>, LedgerError> {
        self.with(|c| {
            c.prepare_cached(LATEST)?
                .query_row(rusqlite::params![&visitor.as_bytes()[..], site], |r| {
                    let action: String = r.get(1)?;
                    let granted: String = r.get(2)?;
                    Ok(LatestDecision {
                        id: r.get(0)?,
                        recorded_at_ms: r.get(4)?,
                        expires_at_ms: r.get(5)?,
                        terms: std::sync::Arc::new(DecisionTerms {
                            action: Action::parse(&action).ok_or_else(|| {
                                rusqlite::Error::FromSqlConversionFailure(
                                    1,
                                    Type::Text,
                                    "unknown action".into(),
                                )
                            })?,
                            granted: super::records::split_keys(&granted),
                            policy_version: r.get(3)?,
                            jurisdiction: r.get(6)?,
                            region: r.get(7)?,
                            rule_version: r.get(8)?,
                            gpc_applied: r.get::<_, i64>(9)? == 1,
                        }),
                    })
                })
                .optional()
        })
    }
}

/// A plain connection to the existing database file (never created here: the pool created and
/// migrated it, and a file gone since is a fault), used by one thread at a time.
pub(super) fn connect(path: &Path, busy_timeout: Duration) -> rusqlite::Result<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(busy_timeout)?;
    Ok(conn)
}

/// The same classification as the pooled connections' errors: transient conditions are
/// `Unavailable` (503 + Retry-After).
pub(super) fn map_err(e: rusqlite::Error) -> LedgerError {
    use rusqlite::ErrorCode::*;
    match e.sqlite_error_code() {
        Some(
            DatabaseBusy
            | DatabaseLocked
            | OutOfMemory
            | ReadOnly
            | SystemIoFailure
            | DiskFull
            | CannotOpen
            | FileLockingProtocolFailed,
        ) => LedgerError::Unavailable(e.to_string()),
        _ => match e {
            rusqlite::Error::FromSqlConversionFailure(..) | rusqlite::Error::InvalidColumnType(..) => {
                LedgerError::Corrupt(e.to_string())
            }
            _ => LedgerError::Other(e.to_string()),
        },
    }
}

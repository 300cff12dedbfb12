//! SQLite engine of the ledger: one database file, WAL journal, `synchronous=FULL` so an
//! acknowledged consent survives a power cut, not only a process crash.

mod admin;
mod decisions;
mod export;
mod reader;
mod records;
mod writer;

pub use writer::MAX_BATCH;

use super::{
    AuditEntry, AuditFilter, Head, LatestDecision, Ledger, LedgerError, NewRecord, Page, PublishedPolicy,
    PublishedRegistry, PublishedResponsibility, PurgeReport, Record, RecordFilter, Session, StatRow,
    StoredRecord, VerifyReport,
};
use app::model::{Category, CookieEntry, Party, VisitorId};
use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, SqlitePool};
use std::path::Path;
use std::time::Duration;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations");

/// Appends waiting for the writer; when full, appenders wait (back-pressure) rather than
/// piling up unbounded memory.
const QUEUE: usize = 4096;

#[derive(Clone)]
pub struct SqliteLedger {
    pool: SqlitePool,
    writer: tokio::sync::mpsc::Sender<writer::Job>,
    readers: std::sync::Arc<reader::Readers>,
    decisions: std::sync::Arc<decisions::Decisions>,
}

/// How the database is opened (`[database]` in the configuration).
#[derive(Clone, Debug)]
pub struct SqliteOptions {
    pub max_connections: u32,
    /// How long a statement waits for another connection's lock before SQLITE_BUSY.
    pub busy_timeout: Duration,
    /// `PRAGMA max_page_count` on every connection: beyond it writes fail with SQLITE_FULL.
    pub max_pages: Option<u32>,
    /// Latest decisions kept in memory (`ledger::decision_cache`); 0: off.
    pub decision_cache: usize,
    /// WAL length (frames) at which the checkpointer has the writer start the WAL over
    /// (`writer::checkpoints`); tests set it low.
    pub wal_restart_frames: u32,
    /// `PRAGMA wal_autocheckpoint` of the writer: SQLite's own fallback for when those
    /// restarts cannot happen (`writer::FALLBACK_AUTOCHECKPOINT`); 0 turns it off (tests).
    pub wal_autocheckpoint_frames: u32,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            max_connections: 4,
            busy_timeout: Duration::from_secs(5),
            max_pages: None,
            decision_cache: crate::config::DatabaseConfig::default().decision_cache as usize,
            wal_restart_frames: writer::RESTART_AT,
            wal_autocheckpoint_frames: writer::FALLBACK_AUTOCHECKPOINT,
        }
    }
}

impl SqliteLedger {
    /// Opens (creating if missing) the database file. Does not migrate.
    pub async fn open(path: &Path, max_connections: u32) -> Result<Self, LedgerError> {
        Self::open_with(path, &SqliteOptions { max_connections, ..SqliteOptions::default() }).await
    }

    /// [`open`](Self::open) with every setting.
    pub async fn open_with(path: &Path, opts: &SqliteOptions) -> Result<Self, LedgerError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| LedgerError::Unavailable(format!("cannot create {}: {e}", dir.display())))?;
        }
        let mut options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            // Erasure and purges overwrite what they remove instead of leaving it in free pages.
            .pragma("secure_delete", "ON")
            .busy_timeout(opts.busy_timeout);
        if let Some(pages) = opts.max_pages {
            options = options.pragma("max_page_count", std::borrow::Cow::Owned(pages.to_string()));
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(opts.max_connections)
            .acquire_timeout(Duration::from_secs(5))
            // A COMMIT or ROLLBACK that failed (disk full, I/O error) can leave SQLite back in
            // autocommit while sqlx still counts an open transaction; every later BEGIN on
            // that connection would then fail. Flush the rollback a dropped transaction
            // queued, and close the connection instead of pooling it if one is still open.
            .after_release(|conn, _meta| {
                Box::pin(async move {
                    sqlx::Connection::ping(conn).await?;
                    Ok(!sqlx::Connection::is_in_transaction(conn))
                })
            })
            .connect_with(options)
            .await
            .map_err(map_err)?;
        let readers =
            std::sync::Arc::new(reader::Readers::new(path, opts.busy_timeout, opts.max_connections as usize));
        // Before migrations there is no sqlite_sequence yet: nothing appended.
        let appended: i64 =
            sqlx::query_scalar(records::APPENDED).fetch_optional(&pool).await.ok().flatten().unwrap_or(0);
        let decisions = std::sync::Arc::new(decisions::Decisions::new(opts.decision_cache, appended));
        let cannot_start =
            |e: std::io::Error| LedgerError::Unavailable(format!("cannot start the ledger writer: {e}"));
        let (writer, rx) = tokio::sync::mpsc::channel(QUEUE);
        let writer_options = writer::WriterOptions {
            path: path.to_owned(),
            busy_timeout: opts.busy_timeout,
            max_pages: opts.max_pages,
            restart_at: opts.wal_restart_frames,
            autocheckpoint: opts.wal_autocheckpoint_frames,
        };
        writer::spawn(writer_options, rx, decisions.clone()).map_err(cannot_start)?;
        decisions::watch(&decisions, readers.clone()).map_err(cannot_start)?;
        Ok(Self { pool, writer, readers, decisions })
    }

    /// Closes the writer's connection once the appends queued before are written; the next
    /// append opens a new one. Tests use it to make the writer meet a file or file system
    /// that changed under it (read-only) the way a fresh process would.
    pub async fn close_writer_connection(&self) {
        let (done, closed) = tokio::sync::oneshot::channel();
        if self.writer.send(writer::Job::Close(done)).await.is_ok() {
            let _ = closed.await;
        }
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// (hits, misses) of the decision cache since the ledger opened.
    pub fn decision_cache_counts(&self) -> (u64, u64) {
        self.decisions.cache.counts()
    }
}

/// SQLite's primary result code of a database error (the extended code's low byte).
pub(super) fn primary_code(e: &sqlx::Error) -> Option<i32> {
    let db = e.as_database_error()?;
    db.code().and_then(|c| c.parse::<i32>().ok()).map(|c| c & 0xff)
}

/// Classifies SQLite failures: the transient ones become 503 + Retry-After upstream.
pub(super) fn map_err(e: sqlx::Error) -> LedgerError {
    match &e {
        sqlx::Error::Database(_) => {
            let primary = primary_code(&e);
            // BUSY, LOCKED, NOMEM, READONLY, IOERR, FULL, CANTOPEN, PROTOCOL
            if matches!(primary, Some(5 | 6 | 7 | 8 | 10 | 13 | 14 | 15)) {
                LedgerError::Unavailable(e.to_string())
            } else {
                LedgerError::Other(e.to_string())
            }
        }
        // WorkerCrashed: the connection's thread is gone; the pool replaces the connection.
        sqlx::Error::PoolTimedOut
        | sqlx::Error::Io(_)
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed => LedgerError::Unavailable(e.to_string()),
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => LedgerError::Corrupt(e.to_string()),
        _ => LedgerError::Other(e.to_string()),
    }
}

/// Appends the keyset condition, order and limit of `page` to a query ending in a WHERE clause.
pub(super) fn keyset(
    sql: &mut String,
    args: &mut sqlx::sqlite::SqliteArguments<'static>,
    page: super::Page,
    limit: u32,
) {
    use sqlx::Arguments;
    // Adding integers to SqliteArguments cannot fail.
    match page {
        super::Page::Before(Some(id)) => {
            sql.push_str(" AND id < ? ORDER BY id DESC");
            let _ = args.add(id);
        }
        super::Page::Before(None) => sql.push_str(" ORDER BY id DESC"),
        super::Page::After(id) => {
            sql.push_str(" AND id > ? ORDER BY id ASC");
            let _ = args.add(id);
        }
    }
    sql.push_str(" LIMIT ?");
    let _ = args.add(i64::from(limit));
}

pub(super) fn now_ms() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp_nanos() as i64 / 1_000_000
}

pub(super) fn token_from_row(row: &SqliteRow) -> Result<crate::auth::TokenInfo, LedgerError> {
    let role: String = row.try_get("role").map_err(map_err)?;
    Ok(crate::auth::TokenInfo {
        id: row.try_get("id").map_err(map_err)?,
        name: row.try_get("name").map_err(map_err)?,
        role: crate::auth::Role::parse(&role)
            .ok_or_else(|| LedgerError::Corrupt("api_tokens.role".into()))?,
        created_at_ms: row.try_get("created_at").map_err(map_err)?,
        revoked_at_ms: row.try_get("revoked_at").map_err(map_err)?,
    })
}

#[async_trait]
impl Ledger for SqliteLedger {
    async fn migrate(&self) -> Result<(), LedgerError> {
        MIGRATOR.run(&self.pool).await.map_err(|e| match e {
            sqlx::migrate::MigrateError::Execute(inner) => map_err(inner),
            other => LedgerError::Other(other.to_string()),
        })?;
        let sealed = records::seal(&self.pool).await?;
        if sealed > 0 {
            tracing::info!(sealed, "hash chain computed for records written before it existed");
        }
        Ok(())
    }

    async fn ping(&self) -> Result<(), LedgerError> {
        sqlx::query("SELECT 1").execute(&self.pool).await.map_err(map_err)?;
        Ok(())
    }

    async fn append(&self, record: NewRecord) -> Result<Record, LedgerError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        self.writer
            .send(writer::Job::Append(writer::AppendJob { record: Box::new(record), reply }))
            .await
            .map_err(|_| LedgerError::Unavailable("the ledger writer has stopped".into()))?;
        let (id, data) =
            answer.await.map_err(|_| LedgerError::Unavailable("the ledger writer has stopped".into()))??;
        Ok(Record { id, data: *data })
    }

    async fn latest(&self, visitor: VisitorId, site: &str) -> Result<Option<LatestDecision>, LedgerError> {
        self.decisions.latest(&self.readers, visitor, site)
    }

    fn export(
        &self,
        filter: RecordFilter,
        format: crate::records::export::Format,
    ) -> tokio::sync::mpsc::Receiver<Result<crate::records::export::Chunk, LedgerError>> {
        export::spawn(self.readers.clone(), filter, format)
    }

    async fn history(&self, visitor: VisitorId, site: &str, limit: u32) -> Result<Vec<Record>, LedgerError> {
        let sql = format!(
            "SELECT {} FROM consent_log WHERE visitor_id = ? AND site = ? ORDER BY id ASC LIMIT ?",
            records::COLUMNS
        );
        let rows = sqlx::query(&sql)
            .bind(&visitor.as_bytes()[..])
            .bind(site)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            out.extend(records::stored_from_row(row)?.into_record());
        }
        Ok(out)
    }

    async fn record(&self, id: i64) -> Result<Option<StoredRecord>, LedgerError> {
        records::by_id(&self.pool, id).await
    }

    async fn next_of(&self, visitor: VisitorId, site: &str, id: i64) -> Result<Option<i64>, LedgerError> {
        sqlx::query_scalar(
            "SELECT id FROM consent_log WHERE visitor_id = ? AND site = ? AND id > ? ORDER BY id LIMIT 1",
        )
        .bind(&visitor.as_bytes()[..])
        .bind(site)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)
    }

    async fn search(
        &self,
        filter: &RecordFilter,
        page: Page,
        limit: u32,
    ) -> Result<Vec<StoredRecord>, LedgerError> {
        records::search(&self.pool, filter, page, limit).await
    }

    async fn count(&self, filter: &RecordFilter) -> Result<u64, LedgerError> {
        records::count(&self.pool, filter).await
    }

    async fn head(&self) -> Result<Head, LedgerError> {
        records::head(&self.pool).await
    }

    async fn contains_link(
        &self,
        count: Option<i64>,
        hash: &super::chain::Hash,
    ) -> Result<bool, LedgerError> {
        if *hash == super::chain::GENESIS {
            return Ok(count.unwrap_or(0) == 0);
        }
        let id: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM consent_records WHERE hash = ?1 \
             UNION ALL SELECT through_id FROM ledger_checkpoints WHERE hash = ?1 LIMIT 1",
        )
        .bind(&hash[..])
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(id.is_some_and(|id| count.is_none_or(|c| c == id)))
    }

    async fn verify(&self) -> Result<VerifyReport, LedgerError> {
        records::verify(&self.pool).await
    }

    async fn erase_visitor(&self, visitor: VisitorId) -> Result<u64, LedgerError> {
        let erased = records::erase_visitor(&self.pool, visitor).await;
        // Also after a failure: the erasure may have committed before it.
        let cache = &self.decisions.cache;
        cache.forget_visitor(&cache.changes(), visitor);
        erased
    }

    async fn purge(&self, cutoff_ms: i64) -> Result<PurgeReport, LedgerError> {
        let report = records::purge(&self.pool, cutoff_ms).await;
        self.decisions.clear();
        report
    }

    async fn stats(&self, filter: &RecordFilter) -> Result<Vec<StatRow>, LedgerError> {
        records::stats(&self.pool, filter).await
    }

    async fn audit(&self, entry: AuditEntry) -> Result<(), LedgerError> {
        admin::append(&self.pool, &entry).await
    }

    async fn search_audit(
        &self,
        filter: &AuditFilter,
        page: Page,
        limit: u32,
    ) -> Result<Vec<(i64, AuditEntry)>, LedgerError> {
        admin::search(&self.pool, filter, page, limit).await
    }

    async fn rotate_token(
        &self,
        id: i64,
        new_hash: &str,
    ) -> Result<Option<crate::auth::TokenInfo>, LedgerError> {
        admin::rotate_token(&self.pool, id, new_hash).await
    }

    async fn create_session(
        &self,
        id_hash: &str,
        token_id: i64,
        csrf: &str,
        expires_at_ms: i64,
    ) -> Result<(), LedgerError> {
        admin::create_session(&self.pool, id_hash, token_id, csrf, expires_at_ms).await
    }

    async fn find_session(&self, id_hash: &str, now_ms: i64) -> Result<Option<Session>, LedgerError> {
        admin::find_session(&self.pool, id_hash, now_ms).await
    }

    async fn end_session(&self, id_hash: &str, now_ms: i64) -> Result<(), LedgerError> {
        admin::end_session(&self.pool, id_hash, now_ms).await
    }

    async fn current_policy(&self) -> Result<Option<PublishedPolicy>, LedgerError> {
        let row = sqlx::query(
            "SELECT version, effective_date, title, content_hash, changelog, markdown, material \
             FROM policy_versions ORDER BY id DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        let Some(row) = row else { return Ok(None) };
        let changelog: String = row.try_get("changelog").map_err(map_err)?;
        Ok(Some(PublishedPolicy {
            version: row.try_get("version").map_err(map_err)?,
            material: row.try_get::<i64, _>("material").map_err(map_err)? == 1,
            effective_date: row.try_get("effective_date").map_err(map_err)?,
            title: row.try_get("title").map_err(map_err)?,
            content_hash: row.try_get("content_hash").map_err(map_err)?,
            changelog: serde_json::from_str(&changelog)
                .map_err(|e| LedgerError::Corrupt(format!("policy_versions.changelog: {e}")))?,
            markdown: row.try_get("markdown").map_err(map_err)?,
        }))
    }

    async fn policy_hash(&self, version: &str) -> Result<Option<String>, LedgerError> {
        sqlx::query_scalar("SELECT content_hash FROM policy_versions WHERE version = ?")
            .bind(version)
            .fetch_optional(&self.pool)
            .await
            .map_err(map_err)
    }

    async fn valid_policy_versions(&self) -> Result<Vec<String>, LedgerError> {
        sqlx::query_scalar(
            "SELECT version FROM policy_versions WHERE id >= \
             (SELECT COALESCE(MAX(id), 0) FROM policy_versions WHERE material = 1) ORDER BY id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)
    }

    async fn content_generation(&self) -> Result<(i64, i64, i64), LedgerError> {
        let row = sqlx::query(
            "SELECT (SELECT COALESCE(MAX(id), 0) FROM policy_versions) AS p, \
                    (SELECT COALESCE(MAX(id), 0) FROM registry_versions) AS r, \
                    (SELECT COALESCE(MAX(id), 0) FROM responsibility_versions) AS m",
        )
        .fetch_one(&self.pool)
        .await
        .map_err(map_err)?;
        Ok((
            row.try_get("p").map_err(map_err)?,
            row.try_get("r").map_err(map_err)?,
            row.try_get("m").map_err(map_err)?,
        ))
    }

    async fn publish_policy(&self, p: &PublishedPolicy) -> Result<(), LedgerError> {
        let changelog = serde_json::to_string(&p.changelog).map_err(|e| LedgerError::Other(e.to_string()))?;
        sqlx::query(
            "INSERT INTO policy_versions (version, effective_date, title, content_hash, changelog, markdown, published_at, material) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&p.version)
        .bind(&p.effective_date)
        .bind(&p.title)
        .bind(&p.content_hash)
        .bind(changelog)
        .bind(&p.markdown)
        .bind(now_ms())
        .bind(i64::from(p.material))
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }

    async fn current_registry(&self) -> Result<Option<PublishedRegistry>, LedgerError> {
        let head = sqlx::query(
            "SELECT id, version, content_hash, material FROM registry_versions ORDER BY id DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        let Some(head) = head else { return Ok(None) };
        let id: i64 = head.try_get("id").map_err(map_err)?;
        let categories = sqlx::query(
            "SELECT key, name, description, required FROM registry_categories WHERE registry_id = ? ORDER BY position",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?
        .iter()
        .map(|r| {
            Ok(Category {
                key: r.try_get("key").map_err(map_err)?,
                name: r.try_get("name").map_err(map_err)?,
                description: r.try_get("description").map_err(map_err)?,
                required: r.try_get::<i64, _>("required").map_err(map_err)? == 1,
            })
        })
        .collect::<Result<Vec<_>, LedgerError>>()?;
        let cookies = sqlx::query(
            "SELECT name, provider, service, category, purpose, lifetime, lifetime_days, party, source \
             FROM registry_cookies WHERE registry_id = ? ORDER BY position",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(map_err)?
        .iter()
        .map(|r| {
            let party: String = r.try_get("party").map_err(map_err)?;
            Ok(CookieEntry {
                name: r.try_get("name").map_err(map_err)?,
                provider: r.try_get("provider").map_err(map_err)?,
                service: r.try_get("service").map_err(map_err)?,
                category: r.try_get("category").map_err(map_err)?,
                purpose: r.try_get("purpose").map_err(map_err)?,
                lifetime: r.try_get("lifetime").map_err(map_err)?,
                lifetime_days: r
                    .try_get::<Option<i64>, _>("lifetime_days")
                    .map_err(map_err)?
                    .map(|d| d as u32),
                party: if party == "third" { Party::Third } else { Party::First },
                source: r.try_get("source").map_err(map_err)?,
            })
        })
        .collect::<Result<Vec<_>, LedgerError>>()?;
        Ok(Some(PublishedRegistry {
            version: head.try_get("version").map_err(map_err)?,
            material: head.try_get::<i64, _>("material").map_err(map_err)? == 1,
            content_hash: head.try_get("content_hash").map_err(map_err)?,
            categories,
            cookies,
        }))
    }

    async fn publish_registry(&self, reg: &PublishedRegistry) -> Result<(), LedgerError> {
        let mut tx = self.pool.begin().await.map_err(map_err)?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO registry_versions (version, content_hash, published_at, material) VALUES (?, ?, ?, ?) RETURNING id",
        )
        .bind(&reg.version)
        .bind(&reg.content_hash)
        .bind(now_ms())
        .bind(i64::from(reg.material))
        .fetch_one(&mut *tx)
        .await
        .map_err(map_err)?;
        for (pos, c) in reg.categories.iter().enumerate() {
            sqlx::query(
                "INSERT INTO registry_categories (registry_id, position, key, name, description, required) \
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind(id)
            .bind(pos as i64)
            .bind(&c.key)
            .bind(&c.name)
            .bind(&c.description)
            .bind(i64::from(c.required))
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        }
        for (pos, c) in reg.cookies.iter().enumerate() {
            sqlx::query(
                "INSERT INTO registry_cookies (registry_id, position, name, provider, service, category, purpose, \
                 lifetime, lifetime_days, party, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(id)
            .bind(pos as i64)
            .bind(&c.name)
            .bind(&c.provider)
            .bind(&c.service)
            .bind(&c.category)
            .bind(&c.purpose)
            .bind(&c.lifetime)
            .bind(c.lifetime_days.map(i64::from))
            .bind(c.party.as_str())
            .bind(&c.source)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        }
        tx.commit().await.map_err(map_err)
    }

    async fn create_token(
        &self,
        name: &str,
        role: crate::auth::Role,
        token_hash: &str,
    ) -> Result<crate::auth::TokenInfo, LedgerError> {
        let created = now_ms();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO api_tokens (name, role, token_hash, created_at) VALUES (?, ?, ?, ?) RETURNING id",
        )
        .bind(name)
        .bind(role.as_str())
        .bind(token_hash)
        .bind(created)
        .fetch_one(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(crate::auth::TokenInfo {
            id,
            name: name.to_owned(),
            role,
            created_at_ms: created,
            revoked_at_ms: None,
        })
    }

    async fn find_token(&self, token_hash: &str) -> Result<Option<crate::auth::TokenInfo>, LedgerError> {
        let row =
            sqlx::query("SELECT id, name, role, created_at, revoked_at FROM api_tokens WHERE token_hash = ?")
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await
                .map_err(map_err)?;
        row.as_ref().map(token_from_row).transpose()
    }

    async fn list_tokens(&self) -> Result<Vec<crate::auth::TokenInfo>, LedgerError> {
        let rows = sqlx::query("SELECT id, name, role, created_at, revoked_at FROM api_tokens ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(map_err)?;
        rows.iter().map(token_from_row).collect()
    }

    async fn revoke_token(&self, id: i64) -> Result<bool, LedgerError> {
        let done = sqlx::query("UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL")
            .bind(now_ms())
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(map_err)?;
        Ok(done.rows_affected() == 1)
    }

    async fn current_responsibility(&self) -> Result<Option<PublishedResponsibility>, LedgerError> {
        let row = sqlx::query(
            "SELECT content_hash, document FROM responsibility_versions ORDER BY id DESC LIMIT 1",
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(map_err)?;
        let Some(row) = row else { return Ok(None) };
        let doc: String = row.try_get("document").map_err(map_err)?;
        Ok(Some(PublishedResponsibility {
            content_hash: row.try_get("content_hash").map_err(map_err)?,
            document: serde_json::from_str(&doc)
                .map_err(|e| LedgerError::Corrupt(format!("responsibility_versions.document: {e}")))?,
        }))
    }

    async fn publish_responsibility(&self, doc: &PublishedResponsibility) -> Result<(), LedgerError> {
        let json = serde_json::to_string(&doc.document).map_err(|e| LedgerError::Other(e.to_string()))?;
        sqlx::query(
            "INSERT INTO responsibility_versions (content_hash, document, published_at) VALUES (?, ?, ?)",
        )
        .bind(&doc.content_hash)
        .bind(json)
        .bind(now_ms())
        .execute(&self.pool)
        .await
        .map_err(map_err)?;
        Ok(())
    }
}

//! Consent records on SQLite: the single writer with group commit, the hash chain, search,
//! verification, erasure, retention and statistics.

use super::{map_err, now_ms};
use crate::ledger::chain::{self, Hash, Verifier, GENESIS};
use crate::ledger::{
    Head, LedgerError, NewRecord, Page, PurgeReport, Record, RecordFilter, StatRow, StoredRecord,
    VerifyReport,
};
use app::model::{Action, Source, VisitorId};
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Arguments, Row, SqliteConnection, SqlitePool};
use std::collections::HashMap;
use tokio::sync::{mpsc, oneshot};

pub(super) const COLUMNS: &str = "id, visitor_id, site, action, source, granted, denied, policy_version, \
     registry_version, language, page, ip_reduced, ua_family, recorded_at, region, jurisdiction, \
     rule_version, gpc_applied, expires_at, subject_salt, subject_commitment, hash, erased_at";

/// Most records one transaction commits. Larger batches amortise the fsync further but make
/// the first request of a batch wait for the last.
pub const MAX_BATCH: usize = 256;

pub(super) struct AppendJob {
    pub record: NewRecord,
    pub reply: oneshot::Sender<Result<Record, LedgerError>>,
}

fn split_keys(s: &str) -> Vec<String> {
    s.split(',').filter(|k| !k.is_empty()).map(str::to_owned).collect()
}

fn fixed<const N: usize>(v: Option<Vec<u8>>, what: &str) -> Result<Option<[u8; N]>, LedgerError> {
    v.map(|b| b.try_into().map_err(|_| LedgerError::Corrupt(format!("consent_records.{what}")))).transpose()
}

pub(super) fn stored_from_row(row: &SqliteRow) -> Result<StoredRecord, LedgerError> {
    let corrupt = |what: &str| LedgerError::Corrupt(format!("consent_records.{what}"));
    let action: String = row.try_get("action").map_err(map_err)?;
    let source: String = row.try_get("source").map_err(map_err)?;
    let vid: Option<[u8; 16]> = fixed(row.try_get("visitor_id").map_err(map_err)?, "visitor_id")?;
    Ok(StoredRecord {
        id: row.try_get("id").map_err(map_err)?,
        visitor_id: vid.map(VisitorId),
        site: row.try_get("site").map_err(map_err)?,
        action: Action::parse(&action).ok_or_else(|| corrupt("action"))?,
        source: Source::parse(&source).ok_or_else(|| corrupt("source"))?,
        granted: split_keys(row.try_get("granted").map_err(map_err)?),
        denied: split_keys(row.try_get("denied").map_err(map_err)?),
        policy_version: row.try_get("policy_version").map_err(map_err)?,
        registry_version: row.try_get("registry_version").map_err(map_err)?,
        language: row.try_get("language").map_err(map_err)?,
        page: row.try_get("page").map_err(map_err)?,
        ip_reduced: row.try_get("ip_reduced").map_err(map_err)?,
        ua_family: row.try_get("ua_family").map_err(map_err)?,
        recorded_at_ms: row.try_get("recorded_at").map_err(map_err)?,
        region: row.try_get("region").map_err(map_err)?,
        jurisdiction: row.try_get("jurisdiction").map_err(map_err)?,
        rule_version: row.try_get("rule_version").map_err(map_err)?,
        gpc_applied: row.try_get::<i64, _>("gpc_applied").map_err(map_err)? == 1,
        expires_at_ms: row.try_get("expires_at").map_err(map_err)?,
        subject_salt: fixed(row.try_get("subject_salt").map_err(map_err)?, "subject_salt")?,
        subject_commitment: fixed(row.try_get("subject_commitment").map_err(map_err)?, "subject_commitment")?,
        hash: fixed(row.try_get("hash").map_err(map_err)?, "hash")?,
        erased_at_ms: row.try_get("erased_at").map_err(map_err)?,
    })
}

/// The hash the next record chains to: the newest record's, else the newest checkpoint's,
/// else genesis. Read inside the writing transaction, so two processes cannot fork the chain.
async fn chain_tip(conn: &mut SqliteConnection) -> Result<Hash, LedgerError> {
    let last: Option<Option<Vec<u8>>> =
        sqlx::query_scalar("SELECT hash FROM consent_records ORDER BY id DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await
            .map_err(map_err)?;
    match last {
        Some(h) => {
            fixed(h, "hash")?.ok_or_else(|| LedgerError::Corrupt("the newest record is unsealed".into()))
        }
        None => Ok(checkpoint(conn).await?.map_or(GENESIS, |(_, h)| h)),
    }
}

/// The newest retention checkpoint: (last purged id, its hash).
async fn checkpoint(conn: &mut SqliteConnection) -> Result<Option<(i64, Hash)>, LedgerError> {
    let row = sqlx::query("SELECT through_id, hash FROM ledger_checkpoints ORDER BY through_id DESC LIMIT 1")
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_err)?;
    let Some(row) = row else { return Ok(None) };
    let hash: Option<Hash> = fixed(Some(row.try_get("hash").map_err(map_err)?), "checkpoint hash")?;
    Ok(Some((row.try_get("through_id").map_err(map_err)?, hash.unwrap_or(GENESIS))))
}

fn stored_of(id: i64, r: &NewRecord, salt: [u8; 16]) -> StoredRecord {
    StoredRecord {
        id,
        visitor_id: Some(r.visitor_id),
        site: r.site.clone(),
        action: r.action,
        source: r.source,
        granted: r.granted.clone(),
        denied: r.denied.clone(),
        policy_version: r.policy_version.clone(),
        registry_version: r.registry_version.clone(),
        language: r.language.clone(),
        page: Some(r.page.clone()),
        ip_reduced: r.ip_reduced.clone(),
        ua_family: Some(r.ua_family.clone()),
        recorded_at_ms: r.recorded_at_ms,
        region: r.region.clone(),
        jurisdiction: r.jurisdiction.clone(),
        rule_version: r.rule_version.clone(),
        gpc_applied: r.gpc_applied,
        expires_at_ms: r.expires_at_ms,
        subject_salt: Some(salt),
        subject_commitment: None,
        hash: None,
        erased_at_ms: None,
    }
}

/// The single writer. Takes every append waiting in the queue (up to [`MAX_BATCH`]), writes
/// them in one `BEGIN IMMEDIATE` transaction — one fsync for all of them — and answers each
/// request only after the COMMIT returned. A record that fails on its own (a constraint) is
/// rolled back to its savepoint without failing the others; storage trouble (locked, full,
/// read-only, I/O error) fails the whole batch, and nothing of it is acknowledged.
pub(super) async fn writer(pool: SqlitePool, mut rx: mpsc::Receiver<AppendJob>) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut refs = Refs::default();
    while rx.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let results = write_batch(&pool, &batch, &mut refs).await;
        for (job, result) in batch.drain(..).zip(results) {
            // The requester may have gone away (timeout); the record is committed regardless.
            let _ = job.reply.send(result);
        }
    }
}

/// Why a whole batch failed.
struct BatchFailed {
    error: LedgerError,
    /// SQLITE_READONLY: this connection was opened while the database file could not be
    /// opened for writing (permissions, read-only mount) and stays read-only even once the
    /// file is writable again. Nothing was written; a fresh connection may succeed.
    read_only_connection: bool,
}

impl From<LedgerError> for BatchFailed {
    fn from(error: LedgerError) -> Self {
        Self { error, read_only_connection: false }
    }
}

/// Maps a database error, noting whether it says this connection is read-only.
fn failed(e: sqlx::Error) -> BatchFailed {
    let read_only_connection = super::primary_code(&e) == Some(super::SQLITE_READONLY);
    BatchFailed { error: map_err(e), read_only_connection }
}

async fn write_batch(
    pool: &SqlitePool,
    batch: &[AppendJob],
    refs: &mut Refs,
) -> Vec<Result<Record, LedgerError>> {
    let fail_all = |e: LedgerError| batch.iter().map(|_| Err(e.clone())).collect();
    // Each read-only connection met is closed before the next try, so after at most the
    // pool's size of them the pool opens a fresh one.
    let mut tries = pool.options().get_max_connections().saturating_add(1);
    loop {
        let mut conn = match pool.acquire().await {
            Ok(c) => c,
            Err(e) => return fail_all(map_err(e)),
        };
        match write_on(&mut conn, batch, refs).await {
            Ok(out) => return out,
            Err(f) => {
                // Whatever the failure left behind (a transaction SQLite already rolled back
                // on its own, a read-only handle), this connection does not go back to the
                // pool: the next batch gets a fresh one.
                if let Err(e) = conn.close().await {
                    tracing::debug!(error = %e, "closing the failed writer connection");
                }
                tries -= 1;
                if !f.read_only_connection || tries == 0 {
                    return fail_all(f.error);
                }
            }
        }
    }
}

async fn write_on(
    conn: &mut SqliteConnection,
    batch: &[AppendJob],
    refs: &mut Refs,
) -> Result<Vec<Result<Record, LedgerError>>, BatchFailed> {
    let mut tx = sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await.map_err(failed)?;
    let prev = chain_tip(&mut tx).await?;
    let next_id = appended(&mut tx).await? + 1;
    // Outside the savepoints: only storage trouble can fail it, and that fails the batch.
    let ids = refs.resolve(&mut tx, batch).await?;

    // Fast path: the whole batch in a few multi-row INSERTs with the ids the chain order
    // gives them. Any failure of a single record falls back to one savepoint per record.
    let mut sp = sqlx::Connection::begin(&mut *tx).await.map_err(failed)?;
    match insert_all(&mut sp, batch, &ids, prev, next_id).await {
        Ok(records) => {
            sp.commit().await.map_err(failed)?;
            tx.commit().await.map_err(failed)?;
            refs.committed();
            return Ok(records.into_iter().map(|(r, _)| Ok(r)).collect());
        }
        Err(f @ BatchFailed { error: LedgerError::Unavailable(_), .. }) => return Err(f),
        Err(_) => sp.rollback().await.map_err(failed)?,
    }

    // Slow path: each record under its own savepoint, so one bad record fails alone.
    let (mut prev, mut next_id) = (prev, next_id);
    let mut out: Vec<Result<Record, LedgerError>> = Vec::with_capacity(batch.len());
    for (job, ids) in batch.iter().zip(&ids) {
        let mut sp = sqlx::Connection::begin(&mut *tx).await.map_err(failed)?;
        match insert_all(&mut sp, std::slice::from_ref(job), std::slice::from_ref(ids), prev, next_id).await {
            Ok(mut one) => {
                sp.commit().await.map_err(failed)?;
                if let Some((record, hash)) = one.pop() {
                    prev = hash;
                    next_id += 1;
                    out.push(Ok(record));
                }
            }
            // Locked, full, read-only, I/O error: SQLite may have rolled back the whole
            // transaction already, so there is no savepoint to return to, and nothing of this
            // batch may be committed.
            Err(f @ BatchFailed { error: LedgerError::Unavailable(_), .. }) => return Err(f),
            // A constraint: this record alone fails.
            Err(f) => {
                sp.rollback().await.map_err(failed)?;
                out.push(Err(f.error));
            }
        }
    }
    tx.commit().await.map_err(failed)?;
    refs.committed();
    Ok(out)
}

/// Rows per INSERT statement: 14 parameters each, well below SQLite's 32 766.
const ROWS_PER_INSERT: usize = 500;

/// A record's action and source as stored (their index in `ALL`; migration 0006 and the
/// `consent_log` view spell out the same codes).
fn action_code(a: Action) -> i64 {
    Action::ALL.iter().position(|x| *x == a).unwrap_or_default() as i64
}

fn source_code(s: Source) -> i64 {
    Source::ALL.iter().position(|x| *x == s).unwrap_or_default() as i64
}

/// Site, policy version, registry version, language, jurisdiction, rule version, region ('').
type ContextKey = [String; 7];
/// Granted and denied, comma-separated, exactly as the record lists them.
type ChoiceKey = [String; 2];

fn context_key(r: &NewRecord) -> ContextKey {
    [
        r.site.clone(),
        r.policy_version.clone(),
        r.registry_version.clone(),
        r.language.clone(),
        r.jurisdiction.clone(),
        r.rule_version.clone(),
        r.region.clone().unwrap_or_default(),
    ]
}

fn choice_key(r: &NewRecord) -> ChoiceKey {
    [r.granted.join(","), r.denied.join(",")]
}

/// Most ids remembered; beyond, start afresh (there are normally a few hundred).
const MAX_REFS: usize = 100_000;

/// The writer's memory of context and choice ids (rows of `record_contexts` and
/// `record_choices`), so a record is written as two small integers. Ids found or created in a
/// transaction are kept only once it committed: after a rollback they may not exist.
#[derive(Default)]
pub(super) struct Refs {
    contexts: HashMap<ContextKey, i64>,
    choices: HashMap<ChoiceKey, i64>,
    new_contexts: Vec<(ContextKey, i64)>,
    new_choices: Vec<(ChoiceKey, i64)>,
}

impl Refs {
    /// Each record's (context id, choice id), creating rows as needed in `conn`'s transaction.
    async fn resolve(
        &mut self,
        conn: &mut SqliteConnection,
        batch: &[AppendJob],
    ) -> Result<Vec<(i64, i64)>, BatchFailed> {
        self.new_contexts.clear();
        self.new_choices.clear();
        let mut out = Vec::with_capacity(batch.len());
        for job in batch {
            let ck = context_key(&job.record);
            let context = match self.contexts.get(&ck).copied().or_else(|| find(&self.new_contexts, &ck)) {
                Some(id) => id,
                None => {
                    let id = context_id(conn, &ck).await?;
                    self.new_contexts.push((ck, id));
                    id
                }
            };
            let kk = choice_key(&job.record);
            let choice = match self.choices.get(&kk).copied().or_else(|| find(&self.new_choices, &kk)) {
                Some(id) => id,
                None => {
                    let id = choice_id(conn, &kk).await?;
                    self.new_choices.push((kk, id));
                    id
                }
            };
            out.push((context, choice));
        }
        Ok(out)
    }

    /// The transaction committed: what it found or created exists for good.
    fn committed(&mut self) {
        if self.contexts.len() + self.choices.len() > MAX_REFS {
            self.contexts.clear();
            self.choices.clear();
        }
        self.contexts.extend(self.new_contexts.drain(..));
        self.choices.extend(self.new_choices.drain(..));
    }
}

fn find<K: PartialEq>(list: &[(K, i64)], key: &K) -> Option<i64> {
    list.iter().find(|(k, _)| k == key).map(|(_, id)| *id)
}

async fn context_id(conn: &mut SqliteConnection, k: &ContextKey) -> Result<i64, BatchFailed> {
    let columns =
        ["site", "policy_version", "registry_version", "language", "jurisdiction", "rule_version", "region"];
    find_or_insert(conn, "record_contexts", &columns, k).await
}

async fn choice_id(conn: &mut SqliteConnection, k: &ChoiceKey) -> Result<i64, BatchFailed> {
    find_or_insert(conn, "record_choices", &["granted", "denied"], k).await
}

/// The id of the row of `table` holding `values` in `columns`, inserted if there is none.
async fn find_or_insert(
    conn: &mut SqliteConnection,
    table: &str,
    columns: &[&str],
    values: &[String],
) -> Result<i64, BatchFailed> {
    let bind = |sql| values.iter().fold(sqlx::query_scalar::<_, i64>(sql), |q, v| q.bind(v.as_str()));
    let matches = columns.iter().map(|c| format!("{c} = ?")).collect::<Vec<_>>().join(" AND ");
    let select = format!("SELECT id FROM {table} WHERE {matches}");
    if let Some(id) = bind(&select).fetch_optional(&mut *conn).await.map_err(failed)? {
        return Ok(id);
    }
    let marks = vec!["?"; columns.len()].join(", ");
    let insert = format!("INSERT INTO {table} ({}) VALUES ({marks}) RETURNING id", columns.join(", "));
    bind(&insert).fetch_one(&mut *conn).await.map_err(failed)
}

/// Inserts the batch in chain order with explicit ids (`next_id`, `next_id + 1`, …), which is
/// what AUTOINCREMENT would assign; one statement per [`ROWS_PER_INSERT`] records. `refs`
/// holds each record's context and choice ids. Returns each record with its hash.
async fn insert_all(
    conn: &mut SqliteConnection,
    batch: &[AppendJob],
    refs: &[(i64, i64)],
    mut prev: Hash,
    next_id: i64,
) -> Result<Vec<(Record, Hash)>, BatchFailed> {
    let mut rows = Vec::with_capacity(batch.len());
    for (i, (job, refs)) in batch.iter().zip(refs).enumerate() {
        let salt: [u8; 16] = rand::random();
        let hash = chain::link(&prev, &stored_of(0, &job.record, salt))
            .ok_or_else(|| LedgerError::Other("unhashable record".into()))?;
        rows.push((next_id + i as i64, salt, hash, *refs, &job.record));
        prev = hash;
    }
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut sql = String::from(
            "INSERT INTO consent_records (id, visitor_id, context_id, choice_id, action, source, page, \
             ip_reduced, ua_family, recorded_at, gpc_applied, expires_at, subject_salt, hash) VALUES ",
        );
        for i in 0..chunk.len() {
            sql.push_str(if i == 0 { "" } else { "," });
            sql.push_str("(?,?,?,?,?,?,?,?,?,?,?,?,?,?)");
        }
        let mut q = sqlx::query(&sql);
        for (id, salt, hash, (context, choice), r) in chunk {
            q = q
                .bind(*id)
                .bind(r.visitor_id.as_bytes().to_vec())
                .bind(*context)
                .bind(*choice)
                .bind(action_code(r.action))
                .bind(source_code(r.source))
                .bind(&r.page)
                .bind(&r.ip_reduced)
                .bind(&r.ua_family)
                .bind(r.recorded_at_ms)
                .bind(i64::from(r.gpc_applied))
                .bind(r.expires_at_ms)
                .bind(salt.to_vec())
                .bind(hash.to_vec());
        }
        q.execute(&mut *conn).await.map_err(failed)?;
    }
    Ok(rows.into_iter().map(|(id, _, hash, _, r)| (Record { id, data: r.clone() }, hash)).collect())
}

/// Computes the hash of rows that have none (rows from before the chain existed), in order.
pub(super) async fn seal(pool: &SqlitePool) -> Result<u64, LedgerError> {
    let mut conn = pool.acquire().await.map_err(map_err)?;
    let mut tx = sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await.map_err(map_err)?;
    let first: Option<i64> = sqlx::query_scalar("SELECT MIN(id) FROM consent_records WHERE hash IS NULL")
        .fetch_one(&mut *tx)
        .await
        .map_err(map_err)?;
    let Some(first) = first else { return Ok(0) };
    let before: Option<Option<Vec<u8>>> =
        sqlx::query_scalar("SELECT hash FROM consent_records WHERE id < ? ORDER BY id DESC LIMIT 1")
            .bind(first)
            .fetch_optional(&mut *tx)
            .await
            .map_err(map_err)?;
    let mut prev = match before {
        Some(h) => fixed(h, "hash")?.unwrap_or(GENESIS),
        None => checkpoint(&mut tx).await?.map_or(GENESIS, |(_, h)| h),
    };
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM consent_log WHERE id >= ? ORDER BY id"))
        .bind(first)
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?;
    let mut sealed = 0;
    for row in &rows {
        let r = stored_from_row(row)?;
        let hash = match r.hash {
            Some(h) => h,
            None => {
                let h =
                    chain::link(&prev, &r).ok_or_else(|| LedgerError::Corrupt(format!("record {}", r.id)))?;
                sqlx::query("UPDATE consent_records SET hash = ? WHERE id = ?")
                    .bind(&h[..])
                    .bind(r.id)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                sealed += 1;
                h
            }
        };
        prev = hash;
    }
    tx.commit().await.map_err(map_err)?;
    Ok(sealed)
}

/// A bound value of a filter, for either connection type (sqlx pool, plain reader).
#[derive(Clone, Debug)]
pub(super) enum Arg {
    Blob(Vec<u8>),
    Text(String),
    Int(i64),
}

/// WHERE clause (always starting with `WHERE 1`) and its values, over `consent_log`.
pub(super) fn filter_sql(f: &RecordFilter) -> (String, Vec<Arg>) {
    let mut sql = String::from(" WHERE 1");
    let mut args = Vec::new();
    if let Some(v) = &f.visitor {
        sql.push_str(" AND visitor_id = ?");
        args.push(Arg::Blob(v.as_bytes().to_vec()));
    }
    if let Some(s) = &f.site {
        sql.push_str(" AND site = ?");
        args.push(Arg::Text(s.clone()));
    }
    if let Some(t) = f.from_ms {
        sql.push_str(" AND recorded_at >= ?");
        args.push(Arg::Int(t));
    }
    if let Some(t) = f.to_ms {
        sql.push_str(" AND recorded_at < ?");
        args.push(Arg::Int(t));
    }
    if let Some(k) = &f.granted {
        sql.push_str(" AND instr(',' || granted || ',', ?) > 0");
        args.push(Arg::Text(format!(",{k},")));
    }
    if let Some(k) = &f.denied {
        sql.push_str(" AND instr(',' || denied || ',', ?) > 0");
        args.push(Arg::Text(format!(",{k},")));
    }
    if let Some(j) = &f.jurisdiction {
        sql.push_str(" AND jurisdiction = ?");
        args.push(Arg::Text(j.clone()));
    }
    if let Some(a) = f.action {
        sql.push_str(" AND action = ?");
        args.push(Arg::Text(a.as_str().to_owned()));
    }
    (sql, args)
}

/// [`filter_sql`] with sqlx arguments.
fn where_clause(f: &RecordFilter) -> (String, SqliteArguments<'static>) {
    let (sql, values) = filter_sql(f);
    let mut args = SqliteArguments::default();
    // Adding to SqliteArguments cannot fail for these types; an error would only mean a
    // wrong bind count, which the query itself then reports.
    for v in values {
        let _ = match v {
            Arg::Blob(b) => args.add(b),
            Arg::Text(t) => args.add(t),
            Arg::Int(i) => args.add(i),
        };
    }
    (sql, args)
}

pub(super) async fn search(
    pool: &SqlitePool,
    f: &RecordFilter,
    page: Page,
    limit: u32,
) -> Result<Vec<StoredRecord>, LedgerError> {
    let (mut sql, mut args) = where_clause(f);
    super::keyset(&mut sql, &mut args, page, limit);
    let rows = sqlx::query_with(&format!("SELECT {COLUMNS} FROM consent_log{sql}"), args)
        .fetch_all(pool)
        .await
        .map_err(map_err)?;
    rows.iter().map(stored_from_row).collect()
}

pub(super) async fn count(pool: &SqlitePool, f: &RecordFilter) -> Result<u64, LedgerError> {
    let (sql, args) = where_clause(f);
    // Without a filter the records' own table answers alone (no joins).
    let table = if sql == " WHERE 1" { "consent_records" } else { "consent_log" };
    let n: i64 = sqlx::query_scalar_with(&format!("SELECT COUNT(*) FROM {table}{sql}"), args)
        .fetch_one(pool)
        .await
        .map_err(map_err)?;
    Ok(n as u64)
}

pub(super) async fn by_id(pool: &SqlitePool, id: i64) -> Result<Option<StoredRecord>, LedgerError> {
    let row = sqlx::query(&format!("SELECT {COLUMNS} FROM consent_log WHERE id = ?"))
        .bind(id)
        .fetch_optional(pool)
        .await
        .map_err(map_err)?;
    row.as_ref().map(stored_from_row).transpose()
}

/// Records ever appended: AUTOINCREMENT's counter survives deletions, so a deleted tail shows.
async fn appended(conn: &mut SqliteConnection) -> Result<i64, LedgerError> {
    let n: Option<i64> = sqlx::query_scalar("SELECT seq FROM sqlite_sequence WHERE name = 'consent_records'")
        .fetch_optional(&mut *conn)
        .await
        .map_err(map_err)?;
    Ok(n.unwrap_or(0))
}

pub(super) async fn head(pool: &SqlitePool) -> Result<Head, LedgerError> {
    // One read transaction: count and hash from the same snapshot.
    let mut tx = pool.begin().await.map_err(map_err)?;
    let hash = chain_tip(&mut tx).await?;
    let count = appended(&mut tx).await?;
    tx.commit().await.map_err(map_err)?;
    Ok(Head { count, hash })
}

const VERIFY_CHUNK: i64 = 5_000;
/// Rows read past a chunk's end, so a record moved a little later is recognised as reordered.
const LOOKAHEAD: i64 = 64;

pub(super) async fn verify(pool: &SqlitePool) -> Result<VerifyReport, LedgerError> {
    let mut conn = pool.acquire().await.map_err(map_err)?;
    // A read transaction: the whole walk sees one snapshot while writers go on (WAL).
    let mut tx = sqlx::Connection::begin(&mut *conn).await.map_err(map_err)?;
    let (through, start) = checkpoint(&mut tx).await?.unwrap_or((0, GENESIS));
    let total = appended(&mut tx).await?;
    let mut v = Verifier::new(start, through + 1);
    let mut finding = None;
    let sql = format!("SELECT {COLUMNS} FROM consent_log WHERE id >= ? ORDER BY id LIMIT ?");
    'walk: loop {
        let from = v.next_id();
        let rows = sqlx::query(&sql)
            .bind(from)
            .bind(VERIFY_CHUNK + LOOKAHEAD)
            .fetch_all(&mut *tx)
            .await
            .map_err(map_err)?
            .iter()
            .map(stored_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        if rows.is_empty() {
            break;
        }
        let take = rows.len().min(VERIFY_CHUNK as usize);
        for i in 0..take {
            if let Err(f) = v.check(&rows, i) {
                finding = Some(f);
                break 'walk;
            }
        }
        if rows.len() <= take {
            break;
        }
    }
    if finding.is_none() && v.next_id() <= total {
        finding =
            Some(chain::Finding::Deleted { first_missing: v.next_id(), count: total - v.next_id() + 1 });
    }
    tx.commit().await.map_err(map_err)?;
    Ok(VerifyReport {
        checked: v.checked,
        checkpoint_through: through,
        head_count: total,
        head_hash: hex::encode(v.head()),
        finding,
    })
}

pub(super) async fn erase_visitor(pool: &SqlitePool, visitor: VisitorId) -> Result<u64, LedgerError> {
    let mut conn = pool.acquire().await.map_err(map_err)?;
    let mut tx = sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await.map_err(map_err)?;
    let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM consent_log WHERE visitor_id = ?"))
        .bind(&visitor.as_bytes()[..])
        .fetch_all(&mut *tx)
        .await
        .map_err(map_err)?;
    let now = now_ms();
    for row in &rows {
        let r = stored_from_row(row)?;
        let commitment = r.commitment().ok_or_else(|| LedgerError::Corrupt(format!("record {}", r.id)))?;
        sqlx::query(
            "UPDATE consent_records SET visitor_id = NULL, subject_salt = NULL, page = NULL, \
             ip_reduced = NULL, ua_family = NULL, subject_commitment = ?, erased_at = ? WHERE id = ?",
        )
        .bind(&commitment[..])
        .bind(now)
        .bind(r.id)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
    }
    tx.commit().await.map_err(map_err)?;
    drop(conn);
    // The WAL still holds the pages as they were before; copy the new ones into the database
    // and empty it. Best effort: a long-running reader can delay this to a later checkpoint.
    if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(pool).await {
        tracing::warn!(error = %e, "checkpoint after erasure failed; it happens at the next one");
    }
    Ok(rows.len() as u64)
}

/// Rows deleted per transaction, so a large purge never holds the write lock for long.
const PURGE_BATCH: i64 = 10_000;

pub(super) async fn purge(pool: &SqlitePool, cutoff_ms: i64) -> Result<PurgeReport, LedgerError> {
    // Everything before the first record that is still within retention. Purging a prefix
    // keeps the chain one unbroken run from the checkpoint; a record with a skewed clock
    // only delays purging, never deletes a newer record.
    let keep_from: Option<i64> =
        sqlx::query_scalar("SELECT MIN(id) FROM consent_records WHERE recorded_at >= ?")
            .bind(cutoff_ms)
            .fetch_one(pool)
            .await
            .map_err(map_err)?;
    let last: Option<i64> = match keep_from {
        Some(k) => sqlx::query_scalar("SELECT MAX(id) FROM consent_records WHERE id < ?")
            .bind(k)
            .fetch_one(pool)
            .await
            .map_err(map_err)?,
        None => sqlx::query_scalar("SELECT MAX(id) FROM consent_records")
            .fetch_one(pool)
            .await
            .map_err(map_err)?,
    };
    let Some(last) = last else { return Ok(PurgeReport { purged: 0, through_id: None }) };
    let mut purged = 0u64;
    let mut through = None;
    loop {
        let mut conn = pool.acquire().await.map_err(map_err)?;
        let mut tx = sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await.map_err(map_err)?;
        let first: Option<i64> = sqlx::query_scalar("SELECT MIN(id) FROM consent_records")
            .fetch_one(&mut *tx)
            .await
            .map_err(map_err)?;
        let Some(first) = first.filter(|f| *f <= last) else { break };
        let upto = (first + PURGE_BATCH - 1).min(last);
        let row = sqlx::query("SELECT id, hash FROM consent_records WHERE id <= ? ORDER BY id DESC LIMIT 1")
            .bind(upto)
            .fetch_one(&mut *tx)
            .await
            .map_err(map_err)?;
        let id: i64 = row.try_get("id").map_err(map_err)?;
        let hash: Option<Vec<u8>> = row.try_get("hash").map_err(map_err)?;
        let hash = hash.ok_or_else(|| LedgerError::Corrupt(format!("record {id} is unsealed")))?;
        // The checkpoint goes in first: the delete trigger only lets covered rows go.
        sqlx::query(
            "INSERT INTO ledger_checkpoints (through_id, hash, purged, created_at) VALUES (?, ?, \
             (SELECT COUNT(*) FROM consent_records WHERE id <= ?), ?)",
        )
        .bind(id)
        .bind(hash)
        .bind(id)
        .bind(now_ms())
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
        let done = sqlx::query("DELETE FROM consent_records WHERE id <= ?")
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(map_err)?;
        tx.commit().await.map_err(map_err)?;
        purged += done.rows_affected();
        through = Some(id);
        if id >= last {
            break;
        }
    }
    Ok(PurgeReport { purged, through_id: through })
}

pub(super) async fn stats(pool: &SqlitePool, f: &RecordFilter) -> Result<Vec<StatRow>, LedgerError> {
    let (sql, args) = where_clause(f);
    let rows = sqlx::query_with(
        &format!(
            "SELECT strftime('%Y-%m-%d', recorded_at / 1000, 'unixepoch') AS day, jurisdiction, action, \
             granted, denied, COUNT(*) AS n FROM consent_log{sql} \
             GROUP BY day, jurisdiction, action, granted, denied ORDER BY day"
        ),
        args,
    )
    .fetch_all(pool)
    .await
    .map_err(map_err)?;
    rows.iter()
        .map(|r| {
            let action: String = r.try_get("action").map_err(map_err)?;
            Ok(StatRow {
                day: r.try_get("day").map_err(map_err)?,
                jurisdiction: r.try_get("jurisdiction").map_err(map_err)?,
                action: Action::parse(&action)
                    .ok_or_else(|| LedgerError::Corrupt("consent_records.action".into()))?,
                granted: split_keys(r.try_get("granted").map_err(map_err)?),
                denied: split_keys(r.try_get("denied").map_err(map_err)?),
                count: r.try_get::<i64, _>("n").map_err(map_err)? as u64,
            })
        })
        .collect()
}

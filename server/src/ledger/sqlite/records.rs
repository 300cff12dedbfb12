//! Consent records on SQLite: reading them, the hash chain (head, verify, seal), search,
//! erasure, retention and statistics. Appends go through the writer thread (`writer.rs`).

use super::{map_err, now_ms};
use crate::ledger::chain::{self, Hash, Verifier, GENESIS};
use crate::ledger::{
    Head, LedgerError, Page, PurgeReport, RecordFilter, StatRow, StoredRecord, VerifyReport,
};
use app::model::{Action, Source, VisitorId};
use sqlx::sqlite::{SqliteArguments, SqliteRow};
use sqlx::{Arguments, Row, SqliteConnection, SqlitePool};

pub(super) const COLUMNS: &str = "id, visitor_id, site, action, source, granted, denied, policy_version, \
     registry_version, language, page, ip_reduced, ua_family, recorded_at, region, jurisdiction, \
     rule_version, gpc_applied, expires_at, subject_salt, subject_commitment, hash, erased_at";

pub(super) fn split_keys(s: &str) -> Vec<String> {
    s.split(',').filter(|k| !k.is_empty()).map(str::to_owned).collect()
}

pub(super) fn fixed<const N: usize>(v: Option<Vec<u8>>, what: &str) -> Result<Option<[u8; N]>, LedgerError> {
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
        sqlx::query_scalar(NEWEST_HASH).fetch_optional(&mut *conn).await.map_err(map_err)?;
    match last {
        Some(h) => sealed(h),
        None => Ok(checkpoint(conn).await?.map_or(GENESIS, |(_, h)| h)),
    }
}

/// The chain-tip queries, shared with the writer thread's connection (`writer.rs`).
pub(super) const NEWEST_HASH: &str = "SELECT hash FROM consent_records ORDER BY id DESC LIMIT 1";
pub(super) const NEWEST_CHECKPOINT: &str =
    "SELECT through_id, hash FROM ledger_checkpoints ORDER BY through_id DESC LIMIT 1";
pub(super) const APPENDED: &str = "SELECT seq FROM sqlite_sequence WHERE name = 'consent_records'";

/// The newest record's hash, which every record has once the chain exists.
pub(super) fn sealed(hash: Option<Vec<u8>>) -> Result<Hash, LedgerError> {
    fixed(hash, "hash")?.ok_or_else(|| LedgerError::Corrupt("the newest record is unsealed".into()))
}

/// The newest retention checkpoint: (last purged id, its hash).
async fn checkpoint(conn: &mut SqliteConnection) -> Result<Option<(i64, Hash)>, LedgerError> {
    let row = sqlx::query(NEWEST_CHECKPOINT).fetch_optional(&mut *conn).await.map_err(map_err)?;
    let Some(row) = row else { return Ok(None) };
    let hash: Option<Hash> = fixed(Some(row.try_get("hash").map_err(map_err)?), "checkpoint hash")?;
    Ok(Some((row.try_get("through_id").map_err(map_err)?, hash.unwrap_or(GENESIS))))
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
    let n: Option<i64> = sqlx::query_scalar(APPENDED).fetch_optional(&mut *conn).await.map_err(map_err)?;
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

//! Record exports straight from SQLite: rows are read over a plain connection on a blocking
//! thread and written into the output buffer from borrowed column values (no row structs, no
//! per-field strings), which is what an export of millions of records needs. Pages of
//! [`PAGE`] rows by id: no read snapshot is held while a chunk waits for a slow consumer, so
//! the WAL can still be checkpointed during a long download.

use super::reader::Readers;
use super::records::{filter_sql, Arg};
use crate::ledger::{LedgerError, RecordFilter};
use crate::records::export::{header, Chunk, Format, RecordFields};
use app::model::admin::RecordRow;
use rusqlite::types::{Value, ValueRef};
use std::sync::Arc;
use tokio::sync::mpsc;

/// Rows per query and per chunk (about 1 MB of NDJSON).
pub const PAGE: i64 = 2_000;

const COLUMNS: &str = "id, recorded_at, site, visitor_id, action, source, granted, denied, policy_version, \
     registry_version, language, jurisdiction, region, rule_version, gpc_applied, expires_at, page, \
     ip_reduced, ua_family, erased_at, hash";

pub(super) fn spawn(
    readers: Arc<Readers>,
    filter: RecordFilter,
    format: Format,
) -> mpsc::Receiver<Result<Chunk, LedgerError>> {
    let (tx, rx) = mpsc::channel(2);
    tokio::task::spawn_blocking(move || {
        if let Err(e) = produce(&readers, &filter, format, &tx) {
            let _ = tx.blocking_send(Err(e));
        }
    });
    rx
}

fn produce(
    readers: &Readers,
    filter: &RecordFilter,
    format: Format,
    tx: &mpsc::Sender<Result<Chunk, LedgerError>>,
) -> Result<(), LedgerError> {
    if tx.blocking_send(Ok(Chunk { bytes: header::<RecordRow>(format), rows: 0 })).is_err() {
        return Ok(());
    }
    let conn = readers.open().map_err(super::reader::map_err)?;
    let (where_sql, args) = filter_sql(filter);
    let sql = format!("SELECT {COLUMNS} FROM consent_log{where_sql} AND id > ? ORDER BY id LIMIT {PAGE}");
    let mut stmt = conn.prepare(&sql).map_err(super::reader::map_err)?;
    let mut params: Vec<Value> = args
        .into_iter()
        .map(|a| match a {
            Arg::Blob(b) => Value::Blob(b),
            Arg::Text(t) => Value::Text(t),
            Arg::Int(i) => Value::Integer(i),
        })
        .collect();
    params.push(Value::Integer(0));
    let cursor = params.len() - 1;
    loop {
        let mut bytes = Vec::with_capacity(PAGE as usize * 600);
        let mut n = 0usize;
        let mut last = None;
        {
            let mut rows =
                stmt.query(rusqlite::params_from_iter(params.iter())).map_err(super::reader::map_err)?;
            while let Some(row) = rows.next().map_err(super::reader::map_err)? {
                let f = fields(row)?;
                last = Some(f.id);
                f.write(format, &mut bytes);
                n += 1;
            }
        } // the statement is reset here: no snapshot is held while the chunk waits
        let Some(last) = last else { return Ok(()) };
        if tx.blocking_send(Ok(Chunk { bytes, rows: n })).is_err() {
            return Ok(()); // the consumer went away
        }
        params[cursor] = Value::Integer(last);
    }
}

fn corrupt(column: &str) -> LedgerError {
    LedgerError::Corrupt(format!("consent_log.{column} has an unexpected type"))
}

fn fields<'r>(row: &'r rusqlite::Row<'_>) -> Result<RecordFields<'r>, LedgerError> {
    let get = |i: usize| row.get_ref(i).map_err(super::reader::map_err);
    let int = |i: usize, name: &str| match get(i)? {
        ValueRef::Integer(v) => Ok(v),
        _ => Err(corrupt(name)),
    };
    let text = |i: usize, name: &str| match get(i)? {
        ValueRef::Text(t) => std::str::from_utf8(t).map_err(|_| corrupt(name)),
        _ => Err(corrupt(name)),
    };
    let opt_text = |i: usize, name: &str| match get(i)? {
        ValueRef::Null => Ok(None),
        ValueRef::Text(t) => std::str::from_utf8(t).map(Some).map_err(|_| corrupt(name)),
        _ => Err(corrupt(name)),
    };
    let opt_blob = |i: usize, name: &str| match get(i)? {
        ValueRef::Null => Ok(None),
        ValueRef::Blob(b) => Ok(Some(b)),
        _ => Err(corrupt(name)),
    };
    Ok(RecordFields {
        id: int(0, "id")?,
        recorded_at_ms: int(1, "recorded_at")?,
        site: text(2, "site")?,
        visitor_id: opt_blob(3, "visitor_id")?,
        action: text(4, "action")?,
        source: text(5, "source")?,
        granted: text(6, "granted")?,
        denied: text(7, "denied")?,
        policy_version: text(8, "policy_version")?,
        registry_version: text(9, "registry_version")?,
        language: text(10, "language")?,
        jurisdiction: text(11, "jurisdiction")?,
        region: opt_text(12, "region")?,
        rule_version: text(13, "rule_version")?,
        gpc_applied: int(14, "gpc_applied")? == 1,
        expires_at_ms: int(15, "expires_at")?,
        page: opt_text(16, "page")?,
        ip_reduced: opt_text(17, "ip_reduced")?,
        ua_family: opt_text(18, "ua_family")?,
        erased: !matches!(get(19)?, ValueRef::Null),
        hash: opt_blob(20, "hash")?,
    })
}

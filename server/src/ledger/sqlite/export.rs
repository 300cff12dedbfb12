//! Record exports straight from SQLite: rows are read over plain connections on blocking
//! threads and written into the output buffer from borrowed column values (no row structs, no
//! per-field strings), which is what an export of millions of records needs.
//!
//! The ids up to the newest at the start are cut into spans of [`SPAN`] ids; [`WORKERS`]
//! threads take every other span (reading and encoding run on all cores) and a forwarder
//! hands the chunks on in span order, so the output is in chain order. No read snapshot is
//! held while a chunk waits for a slow consumer, so the WAL can still be checkpointed during a
//! long download.

use super::reader::Readers;
use super::records::{filter_sql, Arg};
use crate::ledger::{LedgerError, RecordFilter};
use crate::records::export::{header, Chunk, Format, RecordFields};
use app::model::admin::RecordRow;
use rusqlite::types::{Value, ValueRef};
use std::sync::Arc;
use tokio::sync::mpsc;

const COLUMNS: &str = "id, recorded_at, site, visitor_id, action, source, granted, denied, policy_version, \
     registry_version, language, jurisdiction, region, rule_version, gpc_applied, expires_at, page, \
     ip_reduced, ua_family, erased_at, hash";

/// Ids per query and per chunk (at most about 1 MB of NDJSON).
pub const SPAN: i64 = 2_000;
/// Threads reading and encoding spans.
const WORKERS: i64 = 2;

pub(super) fn spawn(
    readers: Arc<Readers>,
    filter: RecordFilter,
    format: Format,
) -> mpsc::Receiver<Result<Chunk, LedgerError>> {
    let (tx, rx) = mpsc::channel(2);
    tokio::spawn(async move {
        if tx.send(Ok(Chunk { bytes: header::<RecordRow>(format), rows: 0 })).await.is_err() {
            return;
        }
        let max = {
            let readers = readers.clone();
            tokio::task::spawn_blocking(move || readers.max_id()).await
        };
        let max = match max {
            Ok(Ok(max)) => max,
            Ok(Err(e)) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
            Err(e) => {
                let _ = tx.send(Err(LedgerError::Other(format!("export task: {e}")))).await;
                return;
            }
        };
        let spans = (max + SPAN - 1) / SPAN;
        let mut workers = Vec::new();
        for w in 0..WORKERS {
            let (wtx, wrx) = mpsc::channel(2);
            let (readers, filter) = (readers.clone(), filter.clone());
            tokio::task::spawn_blocking(move || {
                if let Err(e) = produce(&readers, &filter, format, w, spans, &wtx) {
                    let _ = wtx.blocking_send(Err(e));
                }
            });
            workers.push(wrx);
        }
        // Span k comes from worker k mod WORKERS: taking them in turn restores id order.
        for k in 0..spans {
            let Some(next) = workers[(k % WORKERS) as usize].recv().await else { return };
            let failed = next.is_err();
            if matches!(&next, Ok(c) if c.rows == 0) {
                continue;
            }
            if tx.send(next).await.is_err() || failed {
                return; // the consumer went away, or the export failed (reported)
            }
        }
    });
    rx
}

/// Encodes spans `first`, `first + WORKERS`, … below `spans`, one chunk each (empty ones too,
/// so the forwarder can count them).
fn produce(
    readers: &Readers,
    filter: &RecordFilter,
    format: Format,
    first: i64,
    spans: i64,
    tx: &mpsc::Sender<Result<Chunk, LedgerError>>,
) -> Result<(), LedgerError> {
    let conn = readers.open().map_err(super::reader::map_err)?;
    let (where_sql, args) = filter_sql(filter);
    let sql = format!("SELECT {COLUMNS} FROM consent_log{where_sql} AND id > ? AND id <= ? ORDER BY id");
    let mut stmt = conn.prepare(&sql).map_err(super::reader::map_err)?;
    let mut params: Vec<Value> = args
        .into_iter()
        .map(|a| match a {
            Arg::Blob(b) => Value::Blob(b),
            Arg::Text(t) => Value::Text(t),
            Arg::Int(i) => Value::Integer(i),
        })
        .collect();
    let bounds = params.len();
    params.extend([Value::Integer(0), Value::Integer(0)]);
    let mut k = first;
    while k < spans {
        params[bounds] = Value::Integer(k * SPAN);
        params[bounds + 1] = Value::Integer((k + 1) * SPAN);
        let mut bytes = Vec::new();
        let mut n = 0usize;
        {
            let mut rows =
                stmt.query(rusqlite::params_from_iter(params.iter())).map_err(super::reader::map_err)?;
            while let Some(row) = rows.next().map_err(super::reader::map_err)? {
                if bytes.capacity() == 0 {
                    bytes.reserve(SPAN as usize * 600);
                }
                fields(row)?.write(format, &mut bytes);
                n += 1;
            }
        } // the statement is reset here: no snapshot is held while the chunk waits
        if tx.blocking_send(Ok(Chunk { bytes, rows: n })).is_err() {
            return Ok(()); // the export was abandoned
        }
        k += WORKERS;
    }
    Ok(())
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

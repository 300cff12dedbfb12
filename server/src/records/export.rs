//! Streaming exports (CSV, NDJSON) of record searches and the audit log in constant memory:
//! a producer task walks the rows by keyset in pages and hands encoded chunks over a small
//! bounded channel, so at most a few pages exist at once however many rows match.

use crate::ledger::LedgerError;
use app::model::admin::{AuditRow, RecordRow};
use serde::Serialize;
use std::future::Future;
use tokio::sync::mpsc;

/// Rows per page read from storage (and per encoded chunk).
pub const PAGE: u32 = 5_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Csv,
    Ndjson,
}

impl Format {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "csv" => Some(Self::Csv),
            "ndjson" => Some(Self::Ndjson),
            _ => None,
        }
    }
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Csv => "text/csv; charset=utf-8",
            Self::Ndjson => "application/x-ndjson",
        }
    }
    pub fn extension(self) -> &'static str {
        match self {
            Self::Csv => "csv",
            Self::Ndjson => "ndjson",
        }
    }
}

/// A row type that can be exported.
pub trait Exportable: Serialize + Send + 'static {
    const HEADER: &'static [&'static str];
    fn fields(&self) -> Vec<String>;
}

fn opt(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

impl Exportable for RecordRow {
    const HEADER: &'static [&'static str] = &[
        "id",
        "recorded_at",
        "site",
        "visitor_id",
        "action",
        "source",
        "granted",
        "denied",
        "policy_version",
        "registry_version",
        "language",
        "jurisdiction",
        "region",
        "rule_version",
        "gpc_applied",
        "expires_at",
        "page",
        "ip_reduced",
        "ua_family",
        "erased",
        "hash",
    ];
    fn fields(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.recorded_at.clone(),
            self.site.clone(),
            opt(&self.visitor_id),
            self.action.clone(),
            self.source.clone(),
            self.granted.join(" "),
            self.denied.join(" "),
            self.policy_version.clone(),
            self.registry_version.clone(),
            self.language.clone(),
            self.jurisdiction.clone(),
            opt(&self.region),
            self.rule_version.clone(),
            self.gpc_applied.to_string(),
            self.expires_at.clone(),
            opt(&self.page),
            opt(&self.ip_reduced),
            opt(&self.ua_family),
            self.erased.to_string(),
            self.hash.clone(),
        ]
    }
}

impl Exportable for AuditRow {
    const HEADER: &'static [&'static str] =
        &["id", "at", "actor", "role", "action", "target", "detail", "ip_reduced"];
    fn fields(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.at.clone(),
            self.actor.clone(),
            self.role.clone(),
            self.action.clone(),
            self.target.clone(),
            self.detail.clone(),
            opt(&self.ip_reduced),
        ]
    }
}

/// Spreadsheets execute cells starting with these as formulas; such values get a leading
/// apostrophe in CSV (NDJSON carries them unchanged).
fn defuse(v: String) -> String {
    if v.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{v}")
    } else {
        v
    }
}

fn csv_line(fields: &[String], out: &mut Vec<u8>) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if f.contains([',', '"', '\n', '\r']) {
            out.push(b'"');
            out.extend_from_slice(f.replace('"', "\"\"").as_bytes());
            out.push(b'"');
        } else {
            out.extend_from_slice(f.as_bytes());
        }
    }
    out.extend_from_slice(b"\r\n");
}

pub fn header<T: Exportable>(format: Format) -> Vec<u8> {
    let mut out = Vec::new();
    if format == Format::Csv {
        csv_line(&T::HEADER.iter().map(|h| (*h).to_owned()).collect::<Vec<_>>(), &mut out);
    }
    out
}

pub fn encode<T: Exportable>(rows: &[T], format: Format, out: &mut Vec<u8>) {
    for r in rows {
        match format {
            Format::Csv => csv_line(&r.fields().into_iter().map(defuse).collect::<Vec<_>>(), out),
            Format::Ndjson => {
                // Serializing these plain structs cannot fail; skip the row rather than panic.
                if serde_json::to_writer(&mut *out, r).is_ok() {
                    out.push(b'\n');
                }
            }
        }
    }
}

/// An encoded piece of the export and how many rows it holds.
pub struct Chunk {
    pub bytes: Vec<u8>,
    pub rows: usize,
}

/// Starts the producer. `next_page(cursor)` returns the rows after `cursor` in id order
/// (empty when done) as (id, row). Dropping the receiver stops the producer.
pub fn spawn<T, F, Fut>(format: Format, mut next_page: F) -> mpsc::Receiver<Result<Chunk, LedgerError>>
where
    T: Exportable,
    F: FnMut(i64) -> Fut + Send + 'static,
    Fut: Future<Output = Result<Vec<(i64, T)>, LedgerError>> + Send,
{
    let (tx, rx) = mpsc::channel(2);
    tokio::spawn(async move {
        if tx.send(Ok(Chunk { bytes: header::<T>(format), rows: 0 })).await.is_err() {
            return;
        }
        let mut cursor = 0;
        loop {
            match next_page(cursor).await {
                Ok(page) if page.is_empty() => break,
                Ok(page) => {
                    cursor = page.last().map_or(cursor, |(id, _)| *id);
                    let rows: Vec<T> = page.into_iter().map(|(_, r)| r).collect();
                    let mut bytes = Vec::with_capacity(rows.len() * 256);
                    encode(&rows, format, &mut bytes);
                    if tx.send(Ok(Chunk { bytes, rows: rows.len() })).await.is_err() {
                        return; // the client went away
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            }
        }
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_separators_and_defuses_formulas() {
        let mut out = Vec::new();
        csv_line(&["a,b".into(), "say \"hi\"".into(), defuse("=1+1".into()), "plain".into()], &mut out);
        assert_eq!(String::from_utf8_lossy(&out), "\"a,b\",\"say \"\"hi\"\"\",'=1+1,plain\r\n");
    }
}

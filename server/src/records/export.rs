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

fn csv_line(fields: &[String], out: &mut Vec<u8>) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        csv_field(out, f.as_bytes());
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
            Format::Csv => csv_line(&r.fields(), out),
            Format::Ndjson => {
                // Serializing these plain structs cannot fail; skip the row rather than panic.
                if serde_json::to_writer(&mut *out, r).is_ok() {
                    out.push(b'\n');
                }
            }
        }
    }
}

/// One consent record's export columns, borrowed straight from storage: the fast export
/// (`ledger::sqlite::export`) writes rows without building a [`RecordRow`] each. Encodes
/// exactly what encoding the `RecordRow` would (tests compare them).
pub struct RecordFields<'a> {
    pub id: i64,
    pub recorded_at_ms: i64,
    pub site: &'a str,
    pub visitor_id: Option<&'a [u8]>,
    pub action: &'a str,
    pub source: &'a str,
    /// Comma-separated, as stored.
    pub granted: &'a str,
    pub denied: &'a str,
    pub policy_version: &'a str,
    pub registry_version: &'a str,
    pub language: &'a str,
    pub jurisdiction: &'a str,
    pub region: Option<&'a str>,
    pub rule_version: &'a str,
    pub gpc_applied: bool,
    pub expires_at_ms: i64,
    pub page: Option<&'a str>,
    pub ip_reduced: Option<&'a str>,
    pub ua_family: Option<&'a str>,
    pub erased: bool,
    pub hash: Option<&'a [u8]>,
}

impl RecordFields<'_> {
    pub fn write(&self, format: Format, out: &mut Vec<u8>) {
        match format {
            Format::Ndjson => self.ndjson(out),
            Format::Csv => self.csv(out),
        }
    }

    fn ndjson(&self, out: &mut Vec<u8>) {
        let text = |out: &mut Vec<u8>, key: &str, v: &str| {
            out.extend_from_slice(b",\"");
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(b"\":");
            json_str(out, v);
        };
        let opt = |out: &mut Vec<u8>, key: &str, v: Option<&str>| match v {
            Some(v) => text(out, key, v),
            None => {
                out.extend_from_slice(b",\"");
                out.extend_from_slice(key.as_bytes());
                out.extend_from_slice(b"\":null");
            }
        };
        let list = |out: &mut Vec<u8>, key: &str, v: &str| {
            out.extend_from_slice(b",\"");
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(b"\":[");
            for (i, k) in v.split(',').filter(|k| !k.is_empty()).enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                json_str(out, k);
            }
            out.push(b']');
        };
        out.extend_from_slice(b"{\"id\":");
        write_int(out, self.id);
        out.extend_from_slice(b",\"recorded_at\":\"");
        super::write_rfc3339(out, self.recorded_at_ms);
        out.push(b'"');
        text(out, "site", self.site);
        match self.visitor_id {
            Some(v) => {
                out.extend_from_slice(b",\"visitor_id\":\"");
                write_hex(out, v);
                out.push(b'"');
            }
            None => out.extend_from_slice(b",\"visitor_id\":null"),
        }
        text(out, "action", self.action);
        text(out, "source", self.source);
        list(out, "granted", self.granted);
        list(out, "denied", self.denied);
        text(out, "policy_version", self.policy_version);
        text(out, "registry_version", self.registry_version);
        text(out, "language", self.language);
        text(out, "jurisdiction", self.jurisdiction);
        opt(out, "region", self.region);
        text(out, "rule_version", self.rule_version);
        out.extend_from_slice(if self.gpc_applied {
            b",\"gpc_applied\":true"
        } else {
            b",\"gpc_applied\":false"
        });
        out.extend_from_slice(b",\"expires_at\":\"");
        super::write_rfc3339(out, self.expires_at_ms);
        out.push(b'"');
        opt(out, "page", self.page);
        opt(out, "ip_reduced", self.ip_reduced);
        opt(out, "ua_family", self.ua_family);
        out.extend_from_slice(if self.erased { b",\"erased\":true" } else { b",\"erased\":false" });
        out.extend_from_slice(b",\"hash\":\"");
        write_hex(out, self.hash.unwrap_or_default());
        out.extend_from_slice(b"\"}\n");
    }

    fn csv(&self, out: &mut Vec<u8>) {
        let mut cell = Vec::with_capacity(64);
        let mut put = |out: &mut Vec<u8>, first: bool, fill: &dyn Fn(&mut Vec<u8>)| {
            cell.clear();
            fill(&mut cell);
            if !first {
                out.push(b',');
            }
            csv_field(out, &cell);
        };
        fn bytes(v: &[u8]) -> impl Fn(&mut Vec<u8>) + '_ {
            move |b| b.extend_from_slice(v)
        }
        fn spaced(v: &str) -> impl Fn(&mut Vec<u8>) + '_ {
            move |b| b.extend(v.bytes().map(|c| if c == b',' { b' ' } else { c }))
        }
        let flag = |v: bool| if v { &b"true"[..] } else { &b"false"[..] };
        put(out, true, &|b| write_int(b, self.id));
        put(out, false, &|b| super::write_rfc3339(b, self.recorded_at_ms));
        put(out, false, &bytes(self.site.as_bytes()));
        put(out, false, &|b| write_hex(b, self.visitor_id.unwrap_or_default()));
        put(out, false, &bytes(self.action.as_bytes()));
        put(out, false, &bytes(self.source.as_bytes()));
        put(out, false, &spaced(self.granted));
        put(out, false, &spaced(self.denied));
        put(out, false, &bytes(self.policy_version.as_bytes()));
        put(out, false, &bytes(self.registry_version.as_bytes()));
        put(out, false, &bytes(self.language.as_bytes()));
        put(out, false, &bytes(self.jurisdiction.as_bytes()));
        put(out, false, &bytes(self.region.unwrap_or_default().as_bytes()));
        put(out, false, &bytes(self.rule_version.as_bytes()));
        put(out, false, &bytes(flag(self.gpc_applied)));
        put(out, false, &|b| super::write_rfc3339(b, self.expires_at_ms));
        put(out, false, &bytes(self.page.unwrap_or_default().as_bytes()));
        put(out, false, &bytes(self.ip_reduced.unwrap_or_default().as_bytes()));
        put(out, false, &bytes(self.ua_family.unwrap_or_default().as_bytes()));
        put(out, false, &bytes(flag(self.erased)));
        put(out, false, &|b| write_hex(b, self.hash.unwrap_or_default()));
        out.extend_from_slice(b"\r\n");
    }
}

fn write_int(out: &mut Vec<u8>, n: i64) {
    use std::io::Write;
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{n}");
}

/// A CSV cell: quoted when it holds a separator, quote or newline. Spreadsheets execute cells
/// starting with `=`, `+`, `-`, `@`, tab or CR as formulas: those get a leading apostrophe
/// (NDJSON carries values unchanged).
fn csv_field(out: &mut Vec<u8>, v: &[u8]) {
    let quote = v.iter().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r'));
    if quote {
        out.push(b'"');
    }
    if matches!(v.first(), Some(b'=' | b'+' | b'-' | b'@' | b'\t' | b'\r')) {
        out.push(b'\'');
    }
    for &b in v {
        if b == b'"' {
            out.push(b'"');
        }
        out.push(b);
    }
    if quote {
        out.push(b'"');
    }
}

/// A JSON string as serde_json writes it (the same escapes, nothing else escaped). Runs of
/// plain bytes are copied whole: exports spend much of their time here.
fn json_str(out: &mut Vec<u8>, v: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = v.as_bytes();
    out.push(b'"');
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        start = i + 1;
        if escape.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(escape);
        }
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

fn write_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for &b in bytes {
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 0xf)]);
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

    fn sample(erased: bool, page: Option<&'static str>, ms: i64) -> (RecordRow, RecordFields<'static>) {
        let visitor: &'static [u8] = &[0xab; 16];
        let hash: &'static [u8] = &[0x01; 32];
        let fields = RecordFields {
            id: 42,
            recorded_at_ms: ms,
            site: "default",
            visitor_id: (!erased).then_some(visitor),
            action: "custom",
            source: "banner",
            granted: "necessary,analytics",
            denied: "",
            policy_version: "2023-07-05",
            registry_version: "2023-07-05",
            language: "pt",
            jurisdiction: "gdpr",
            region: if erased { None } else { Some("DE") },
            rule_version: "r\"1\\\u{1}",
            gpc_applied: erased,
            expires_at_ms: ms + 86_400_000 * 365,
            page,
            ip_reduced: (!erased).then_some("203.0.113.0"),
            ua_family: (!erased).then_some("Firefox"),
            erased,
            hash: Some(hash),
        };
        let row = RecordRow {
            id: 42,
            recorded_at: super::super::rfc3339(ms),
            site: "default".into(),
            visitor_id: (!erased).then(|| hex::encode(visitor)),
            action: "custom".into(),
            source: "banner".into(),
            granted: vec!["necessary".into(), "analytics".into()],
            denied: vec![],
            policy_version: "2023-07-05".into(),
            registry_version: "2023-07-05".into(),
            language: "pt".into(),
            jurisdiction: "gdpr".into(),
            region: if erased { None } else { Some("DE".into()) },
            rule_version: "r\"1\\\u{1}".into(),
            gpc_applied: erased,
            expires_at: super::super::rfc3339(ms + 86_400_000 * 365),
            page: page.map(str::to_owned),
            ip_reduced: (!erased).then(|| "203.0.113.0".into()),
            ua_family: (!erased).then(|| "Firefox".into()),
            erased,
            hash: hex::encode(hash),
        };
        (row, fields)
    }

    #[test]
    fn borrowed_rows_encode_exactly_like_record_rows() {
        let cases = [
            sample(false, Some("/pricing?x=1,2"), 1_700_000_000_123),
            sample(false, Some("=cmd|' /C calc'!A0"), 1_700_000_000_000),
            sample(false, Some("/tab\there\nnewline \"quoted\" ünïcode"), 1_700_000_000_120),
            sample(true, None, 1_700_000_000_100),
        ];
        for (row, fields) in cases {
            for format in [Format::Ndjson, Format::Csv] {
                let (mut a, mut b) = (Vec::new(), Vec::new());
                encode(std::slice::from_ref(&row), format, &mut a);
                fields.write(format, &mut b);
                assert_eq!(String::from_utf8_lossy(&b), String::from_utf8_lossy(&a), "{format:?}");
            }
        }
    }

    #[test]
    fn csv_quotes_separators_and_defuses_formulas() {
        let mut out = Vec::new();
        csv_line(&["a,b".into(), "say \"hi\"".into(), "=1+1".into(), "plain".into()], &mut out);
        assert_eq!(String::from_utf8_lossy(&out), "\"a,b\",\"say \"\"hi\"\"\",'=1+1,plain\r\n");
    }
}

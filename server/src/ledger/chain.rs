//! The hash chain over consent records (design: docs/ledger.md).
//!
//! `hash[n] = SHA-256("accord-ledger-v1" ‖ hash[n-1] ‖ fields of record n ‖ commitment[n])`,
//! with `hash[0]` = 32 zero bytes (or a retention checkpoint's hash). The chain covers what
//! was decided, when, under which notice and rule — and, through
//! `commitment = SHA-256(salt ‖ visitor id ‖ page ‖ ip ‖ user agent)`, who decided, without
//! containing the identifiers: erasure deletes them and the salt, keeps the commitment, and
//! every hash still recomputes.

use super::StoredRecord;
use sha2::{Digest, Sha256};

pub type Hash = [u8; 32];

/// The link before the first record of a fresh ledger.
pub const GENESIS: Hash = [0; 32];
const DOMAIN: &[u8] = b"accord-ledger-v1";

/// Length-prefixed encoding, so no two different field lists hash the same bytes.
struct Encoder(Sha256);

impl Encoder {
    fn bytes(&mut self, b: &[u8]) {
        self.0.update((b.len() as u32).to_be_bytes());
        self.0.update(b);
    }
    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }
    fn opt(&mut self, s: Option<&str>) {
        match s {
            None => self.0.update(u32::MAX.to_be_bytes()),
            Some(s) => self.str(s),
        }
    }
    /// The same bytes as `str(&keys.join(","))`, without building the string.
    fn joined(&mut self, keys: &[String]) {
        let len = keys.iter().map(String::len).sum::<usize>() + keys.len().saturating_sub(1);
        self.0.update((len as u32).to_be_bytes());
        for (i, k) in keys.iter().enumerate() {
            if i > 0 {
                self.0.update(b",");
            }
            self.0.update(k.as_bytes());
        }
    }
    fn int(&mut self, i: i64) {
        self.0.update(i.to_be_bytes());
    }
}

pub fn subject_commitment(
    salt: &[u8; 16],
    visitor: &[u8; 16],
    page: Option<&str>,
    ip: Option<&str>,
    ua: Option<&str>,
) -> Hash {
    let mut e = Encoder(Sha256::new());
    e.bytes(b"accord-subject-v1");
    e.bytes(salt);
    e.bytes(visitor);
    e.opt(page);
    e.opt(ip);
    e.opt(ua);
    e.0.finalize().into()
}

/// What a link covers, borrowed from a stored record (verification) or from a record about
/// to be written (the writer), so both hash exactly the same bytes.
pub struct Linked<'a> {
    pub site: &'a str,
    pub action: &'a str,
    pub source: &'a str,
    pub granted: &'a [String],
    pub denied: &'a [String],
    pub policy_version: &'a str,
    pub registry_version: &'a str,
    pub language: &'a str,
    pub recorded_at_ms: i64,
    pub region: Option<&'a str>,
    pub jurisdiction: &'a str,
    pub rule_version: &'a str,
    pub gpc_applied: bool,
    pub expires_at_ms: i64,
    pub commitment: Hash,
}

/// The record's link given its predecessor's. None if the record has neither identifiers
/// with their salt nor a stored commitment (cannot happen under the schema's CHECK).
pub fn link(prev: &Hash, r: &StoredRecord) -> Option<Hash> {
    let commitment = r.commitment()?;
    Some(link_fields(
        prev,
        &Linked {
            site: &r.site,
            action: r.action.as_str(),
            source: r.source.as_str(),
            granted: &r.granted,
            denied: &r.denied,
            policy_version: &r.policy_version,
            registry_version: &r.registry_version,
            language: &r.language,
            recorded_at_ms: r.recorded_at_ms,
            region: r.region.as_deref(),
            jurisdiction: &r.jurisdiction,
            rule_version: &r.rule_version,
            gpc_applied: r.gpc_applied,
            expires_at_ms: r.expires_at_ms,
            commitment,
        },
    ))
}

pub fn link_fields(prev: &Hash, r: &Linked<'_>) -> Hash {
    let mut e = Encoder(Sha256::new());
    e.bytes(DOMAIN);
    e.bytes(prev);
    e.str(r.site);
    e.str(r.action);
    e.str(r.source);
    e.joined(r.granted);
    e.joined(r.denied);
    e.str(r.policy_version);
    e.str(r.registry_version);
    e.str(r.language);
    e.int(r.recorded_at_ms);
    e.opt(r.region);
    e.str(r.jurisdiction);
    e.str(r.rule_version);
    e.int(i64::from(r.gpc_applied));
    e.int(r.expires_at_ms);
    e.bytes(&r.commitment);
    e.0.finalize().into()
}

/// The first problem `accord verify` found.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Finding {
    /// The record's content no longer matches its hash.
    Altered { id: i64 },
    /// Record ids are contiguous; these are missing.
    Deleted { first_missing: i64, count: i64 },
    /// A record that does not belong: the next one chains to the record before it.
    Inserted { id: i64 },
    /// The record chains to a later record: records were swapped or moved.
    Reordered { id: i64, chained_after: i64 },
    /// The record's identifiers do not match its stored commitment, or it has no hash.
    Unsealed { id: i64 },
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Altered { id } => write!(f, "record {id} was altered: its content no longer matches its hash"),
            Self::Deleted { first_missing, count } => {
                write!(f, "{count} record(s) deleted, starting at id {first_missing}")
            }
            Self::Inserted { id } => {
                write!(f, "record {id} was inserted: the next record chains to the one before it")
            }
            Self::Reordered { id, chained_after } => write!(
                f,
                "records were reordered: record {id} chains after record {chained_after}, which now comes later"
            ),
            Self::Unsealed { id } => write!(f, "record {id} has no valid hash"),
        }
    }
}

/// Walks records in id order and stops at the first finding. Feed it contiguous batches; it
/// keeps the two previous links so an inserted record can be told from an altered one.
pub struct Verifier {
    prev: Hash,
    prev_prev: Option<(i64, Hash)>,
    prev_id: Option<i64>,
    next_id: i64,
    pub checked: u64,
}

impl Verifier {
    /// Starts after `start_id - 1`, whose hash was `start` (genesis or a checkpoint).
    pub fn new(start: Hash, start_id: i64) -> Self {
        Self { prev: start, prev_prev: None, prev_id: None, next_id: start_id, checked: 0 }
    }

    /// Checks `rows[i]`; `rows[i+1..]` serve as look-ahead to recognise reordering.
    pub fn check(&mut self, rows: &[StoredRecord], i: usize) -> Result<(), Finding> {
        let r = &rows[i];
        if r.id > self.next_id {
            return Err(Finding::Deleted { first_missing: self.next_id, count: r.id - self.next_id });
        }
        let stored = r.hash.ok_or(Finding::Unsealed { id: r.id })?;
        if !r.commitment_consistent() {
            return Err(Finding::Altered { id: r.id });
        }
        let computed = link(&self.prev, r).ok_or(Finding::Unsealed { id: r.id })?;
        if computed != stored {
            return Err(self.classify(rows, i, stored));
        }
        self.prev_prev = self.prev_id.map(|id| (id, self.prev));
        self.prev = stored;
        self.prev_id = Some(r.id);
        self.next_id = r.id + 1;
        self.checked += 1;
        Ok(())
    }

    fn classify(&self, rows: &[StoredRecord], i: usize, stored: Hash) -> Finding {
        let r = &rows[i];
        if let Some((_, pp)) = self.prev_prev {
            if link(&pp, r) == Some(stored) {
                return Finding::Inserted { id: self.prev_id.unwrap_or(r.id) };
            }
        }
        for later in &rows[i + 1..] {
            if let Some(h) = later.hash {
                if link(&h, r) == Some(stored) {
                    return Finding::Reordered { id: r.id, chained_after: later.id };
                }
            }
        }
        Finding::Altered { id: r.id }
    }

    /// The id the next record must have.
    pub fn next_id(&self) -> i64 {
        self.next_id
    }

    pub fn head(&self) -> Hash {
        self.prev
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joined_keys_hash_like_the_joined_string() {
        for keys in [
            vec![],
            vec!["a".to_owned()],
            vec!["necessary".to_owned(), "analytics".to_owned(), "x".to_owned()],
        ] {
            let mut a = Encoder(Sha256::new());
            a.joined(&keys);
            let mut b = Encoder(Sha256::new());
            b.str(&keys.join(","));
            assert_eq!(a.0.finalize(), b.0.finalize(), "{keys:?}");
        }
    }
}

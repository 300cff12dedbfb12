//! Visitors' latest decisions kept in memory: a site's backend asks "may I load analytics for
//! this visitor?" on every page view, far more often than anyone decides. A hit answers
//! without opening a read transaction (in WAL mode that alone is `fcntl` lock calls and a
//! look at the WAL index).
//!
//! Coherence, within this process exact:
//! - the writer puts every record it committed, after COMMIT and before it acknowledges, so a
//!   client that got its 201 reads its own decision;
//! - a read that missed fills the entry only when nothing touched that shard since the read
//!   began (a [`Ticket`] carries the shard's generation) and the entry is still absent, so a
//!   slow read can never bring back what a newer record, an erasure or a purge replaced;
//! - erasure and purge remove what they changed once they committed. They take the same
//!   `changes` lock the writer holds from before its COMMIT until its entries are in, so an
//!   erasure that started after a record committed also removes that record's entry.
//!
//! Changes made by another process on the same file (`accord purge`, a second server) are
//! seen by [`super::sqlite`]'s watcher and empty the cache within its poll interval.
//!
//! Memory is bounded: `capacity` entries in [`SHARDS`] shards; a full shard forgets an eighth
//! of its entries.
//! An entry is about 64 bytes: the fields every visitor differs in, and an `Arc` to the terms
//! (action, categories, policy, jurisdiction), which are shared and kept once.

use super::{DecisionTerms, LatestDecision};
use app::model::VisitorId;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

/// Shards, so concurrent readers rarely wait for the same lock.
pub const SHARDS: usize = 64;
/// A full shard forgets one entry in this many.
const EVICT_ONE_IN: usize = 8;
/// Distinct sites cached; requests for more sites read the database every time.
const MAX_SITES: usize = 4096;
/// Distinct decision terms kept once; beyond, the set starts afresh (entries keep theirs).
const MAX_TERMS: usize = 65_536;

/// (visitor, site index).
type Key = ([u8; 16], u16);

/// A visitor's latest record for a site, or `None`: the visitor never decided there.
type Value = Option<Entry>;

#[derive(Clone)]
struct Entry {
    id: i64,
    recorded_at_ms: i64,
    expires_at_ms: i64,
    terms: Arc<DecisionTerms>,
}

impl Entry {
    fn decision(&self) -> LatestDecision {
        LatestDecision {
            id: self.id,
            recorded_at_ms: self.recorded_at_ms,
            expires_at_ms: self.expires_at_ms,
            terms: self.terms.clone(),
        }
    }
}

#[derive(Default)]
struct Shard {
    map: HashMap<Key, Value>,
    /// Bumped whenever entries leave (a full shard emptied, an erasure, a purge).
    generation: u64,
}

pub struct DecisionCache {
    shards: Box<[Mutex<Shard>]>,
    per_shard: usize,
    hasher: RandomState,
    sites: RwLock<HashMap<Box<str>, u16>>,
    terms: Mutex<HashSet<Arc<DecisionTerms>>>,
    /// Held while a committed change becomes visible here (see the module docs).
    changes: Mutex<()>,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// Where a missed read may put what it found: valid only if the shard did not change since.
pub struct Ticket {
    key: Key,
    shard: usize,
    generation: u64,
}

pub enum Lookup {
    Hit(Option<LatestDecision>),
    /// Read the database, then [`DecisionCache::fill`].
    Miss(Ticket),
    /// Not cached (the cache is off, or too many sites): read the database.
    Bypass,
}

/// Proof that the caller holds the `changes` lock.
pub struct Changes<'a>(#[allow(dead_code)] MutexGuard<'a, ()>);

impl DecisionCache {
    /// `capacity` entries at most; 0 turns the cache off.
    pub fn new(capacity: usize) -> Self {
        let per_shard = capacity.div_ceil(SHARDS);
        let shards = if capacity == 0 { 0 } else { SHARDS };
        Self {
            shards: (0..shards).map(|_| Mutex::default()).collect(),
            per_shard,
            hasher: RandomState::new(),
            sites: RwLock::default(),
            terms: Mutex::default(),
            changes: Mutex::default(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    fn shard_of(&self, key: &Key) -> usize {
        // Keyed hash: visitor ids come from clients, who must not be able to crowd one shard.
        (self.hasher.hash_one(key) as usize) % self.shards.len()
    }

    fn lock(&self, shard: usize) -> MutexGuard<'_, Shard> {
        self.shards[shard].lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The site's index, assigning one when `assign` (writers and fills) and there is room.
    fn site(&self, site: &str, assign: bool) -> Option<u16> {
        if self.shards.is_empty() {
            return None;
        }
        if let Some(i) = self.sites.read().unwrap_or_else(|p| p.into_inner()).get(site) {
            return Some(*i);
        }
        if !assign {
            return None;
        }
        let mut sites = self.sites.write().unwrap_or_else(|p| p.into_inner());
        let next = sites.len();
        if next >= MAX_SITES {
            return sites.get(site).copied();
        }
        Some(*sites.entry(site.into()).or_insert(next as u16))
    }

    pub fn get(&self, visitor: VisitorId, site: &str) -> Lookup {
        let Some(site) = self.site(site, true) else { return Lookup::Bypass };
        let key = (visitor.0, site);
        let shard = self.shard_of(&key);
        let s = self.lock(shard);
        match s.map.get(&key) {
            Some(v) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Lookup::Hit(v.as_ref().map(Entry::decision))
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                Lookup::Miss(Ticket { key, shard, generation: s.generation })
            }
        }
    }

    /// What a missed read found, kept unless the shard changed or the entry arrived meanwhile.
    pub fn fill(&self, ticket: Ticket, found: Option<&LatestDecision>) {
        let value = found.map(|d| self.entry(d));
        let mut s = self.lock(ticket.shard);
        if s.generation != ticket.generation || s.map.contains_key(&ticket.key) {
            return;
        }
        self.make_room(&mut s);
        s.map.insert(ticket.key, value);
    }

    /// Takes the lock under which committed changes become visible.
    pub fn changes(&self) -> Changes<'_> {
        Changes(self.changes.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// A record the writer committed: the visitor's latest for its site from now on.
    pub fn put(&self, _: &Changes<'_>, visitor: VisitorId, site: &str, decision: &LatestDecision) {
        let Some(site) = self.site(site, true) else { return };
        let key = (visitor.0, site);
        let value = Some(self.entry(decision));
        let shard = self.shard_of(&key);
        let mut s = self.lock(shard);
        if !s.map.contains_key(&key) {
            self.make_room(&mut s);
        }
        s.map.insert(key, value);
    }

    /// The visitor's records changed (erased): forget them for every site.
    pub fn forget_visitor(&self, changes: &Changes<'_>, visitor: VisitorId) {
        let _ = changes;
        let sites: Vec<u16> =
            self.sites.read().unwrap_or_else(|p| p.into_inner()).values().copied().collect();
        for site in sites {
            let key = (visitor.0, site);
            let mut s = self.lock(self.shard_of(&key));
            s.map.remove(&key);
            s.generation += 1;
        }
    }

    /// Forget everything (records deleted, or written by another process).
    pub fn clear(&self, _: &Changes<'_>) {
        for shard in 0..self.shards.len() {
            let mut s = self.lock(shard);
            s.map = HashMap::new();
            s.generation += 1;
        }
        self.terms.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// (hits, misses) since start.
    pub fn counts(&self) -> (u64, u64) {
        (self.hits.load(Ordering::Relaxed), self.misses.load(Ordering::Relaxed))
    }

    /// Entries held now.
    pub fn len(&self) -> usize {
        (0..self.shards.len()).map(|i| self.lock(i).map.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A full shard drops an eighth of its entries, arbitrary ones (the map's order is its
    /// hash order, and the hash is keyed): emptying it whole would forget a working set that
    /// just fits, as when the visitors who decided in the last minutes are asked about next.
    ///
    /// The survivors go into a fresh table of the shard's size: removing entries in place
    /// leaves tombstones, and the inserts after them made the table double (the benchmark's
    /// peak RSS grew by the cache's size again).
    fn make_room(&self, s: &mut Shard) {
        if s.map.len() >= self.per_shard {
            let mut kept = HashMap::with_capacity(self.per_shard);
            for (n, (k, v)) in s.map.drain().enumerate() {
                if !(n + 1).is_multiple_of(EVICT_ONE_IN) {
                    kept.insert(k, v);
                }
            }
            s.map = kept;
            s.generation += 1;
        }
    }

    fn entry(&self, d: &LatestDecision) -> Entry {
        let mut terms = self.terms.lock().unwrap_or_else(|p| p.into_inner());
        let shared = match terms.get(&d.terms) {
            Some(t) => t.clone(),
            None => {
                if terms.len() >= MAX_TERMS {
                    terms.clear();
                }
                terms.insert(d.terms.clone());
                d.terms.clone()
            }
        };
        Entry { id: d.id, recorded_at_ms: d.recorded_at_ms, expires_at_ms: d.expires_at_ms, terms: shared }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use app::model::Action;

    fn decision(id: i64, granted: &[&str]) -> LatestDecision {
        LatestDecision {
            id,
            recorded_at_ms: 1_000 * id,
            expires_at_ms: 2_000 * id,
            terms: Arc::new(DecisionTerms {
                action: Action::Custom,
                granted: granted.iter().map(|s| (*s).to_owned()).collect(),
                policy_version: "2023-07-05".into(),
                jurisdiction: "gdpr".into(),
                region: Some("DE".into()),
                rule_version: "1".into(),
                gpc_applied: false,
            }),
        }
    }

    fn visitor(n: u8) -> VisitorId {
        VisitorId([n; 16])
    }

    fn hit(c: &DecisionCache, v: VisitorId, site: &str) -> Option<Option<i64>> {
        match c.get(v, site) {
            Lookup::Hit(d) => Some(d.map(|d| d.id)),
            Lookup::Miss(_) | Lookup::Bypass => None,
        }
    }

    #[test]
    fn a_miss_fills_and_then_hits_including_never_decided() {
        let c = DecisionCache::new(1000);
        let Lookup::Miss(t) = c.get(visitor(1), "shop") else { panic!("expected a miss") };
        c.fill(t, Some(&decision(7, &["analytics"])));
        assert_eq!(hit(&c, visitor(1), "shop"), Some(Some(7)));
        // Another site of the same visitor is its own entry.
        let Lookup::Miss(t) = c.get(visitor(1), "blog") else { panic!("expected a miss") };
        c.fill(t, None);
        assert_eq!(hit(&c, visitor(1), "blog"), Some(None));
        assert_eq!(c.counts(), (2, 2));
    }

    #[test]
    fn a_slow_fill_never_replaces_a_newer_put() {
        let c = DecisionCache::new(1000);
        let Lookup::Miss(t) = c.get(visitor(1), "shop") else { panic!("expected a miss") };
        // The read saw the old state (no record); meanwhile the writer committed record 9.
        c.put(&c.changes(), visitor(1), "shop", &decision(9, &[]));
        c.fill(t, None);
        assert_eq!(hit(&c, visitor(1), "shop"), Some(Some(9)));
    }

    #[test]
    fn a_fill_that_raced_an_erasure_is_dropped() {
        let c = DecisionCache::new(1000);
        c.put(&c.changes(), visitor(1), "shop", &decision(3, &["analytics"]));
        c.forget_visitor(&c.changes(), visitor(1));
        let Lookup::Miss(t) = c.get(visitor(1), "shop") else { panic!("expected a miss") };
        // A read that started before this erasure comes back with the erased record.
        c.forget_visitor(&c.changes(), visitor(1));
        c.fill(t, Some(&decision(3, &["analytics"])));
        assert!(hit(&c, visitor(1), "shop").is_none(), "the stale read must not be cached");
    }

    #[test]
    fn clear_forgets_everything_and_invalidates_tickets() {
        let c = DecisionCache::new(1000);
        c.put(&c.changes(), visitor(1), "shop", &decision(1, &[]));
        let Lookup::Miss(t) = c.get(visitor(2), "shop") else { panic!("expected a miss") };
        c.clear(&c.changes());
        c.fill(t, Some(&decision(2, &[])));
        assert!(c.is_empty());
    }

    #[test]
    fn capacity_bounds_the_entries_and_terms_are_shared() {
        let c = DecisionCache::new(640);
        let changes = c.changes();
        for n in 0..5_000u32 {
            let mut id = [0u8; 16];
            id[..4].copy_from_slice(&n.to_le_bytes());
            c.put(&changes, VisitorId(id), "shop", &decision(i64::from(n) + 1, &["analytics"]));
        }
        assert!(c.len() <= 640, "{} entries", c.len());
        assert!(!c.is_empty());
        assert_eq!(c.terms.lock().expect("terms").len(), 1, "identical terms are kept once");
    }

    #[test]
    fn a_full_shard_keeps_most_of_its_entries() {
        // One shard's worth: 64 shards of 100.
        let c = DecisionCache::new(6_400);
        let changes = c.changes();
        for n in 0..6_400u32 {
            let mut id = [0u8; 16];
            id[..4].copy_from_slice(&n.to_le_bytes());
            c.put(&changes, VisitorId(id), "shop", &decision(i64::from(n) + 1, &[]));
        }
        // Every shard overflowed at most a little: far more than an eighth stays.
        assert!(c.len() > 4_000, "{} entries left", c.len());
        // Many more inserts: no shard's table outgrows its size.
        for n in 6_400..64_000u32 {
            let mut id = [0u8; 16];
            id[..4].copy_from_slice(&n.to_le_bytes());
            c.put(&changes, VisitorId(id), "shop", &decision(i64::from(n) + 1, &[]));
        }
        let bound = HashMap::<Key, Value>::with_capacity(c.per_shard).capacity();
        for shard in 0..SHARDS {
            let cap = c.lock(shard).map.capacity();
            assert!(cap <= bound, "shard {shard}: capacity {cap} > {bound}");
        }
    }

    #[test]
    fn capacity_zero_is_off() {
        let c = DecisionCache::new(0);
        assert!(matches!(c.get(visitor(1), "shop"), Lookup::Bypass));
        c.put(&c.changes(), visitor(1), "shop", &decision(1, &[]));
        assert!(matches!(c.get(visitor(1), "shop"), Lookup::Bypass));
    }
}

//! Visitors' latest decisions kept in memory: a site's backend asks "may I load analytics for
//! this visitor?" on every page view, far more often than anyone decides. A hit answers
//! without opening a read transaction (in WAL mode that alone is `fcntl` lock calls and a
//! look at the WAL index).
//!
//! Coherence, within this process exact:
//! - the writer puts every record it committed, after COMMIT and before it acknowledges, so a
//!   client that got its 201 reads its own decision;
//! - a read that missed fills the entry only when nothing left its sets since the read began
//!   (a [`Ticket`] carries the sets' generations, bumped when an entry is replaced, and the
//!   shard's epoch, bumped by erasures and clears) and the entry is still absent, so a slow
//!   read can never bring back what a newer record, an erasure or a purge replaced;
//! - erasure and purge remove what they changed once they committed. They take the same
//!   `changes` lock the writer holds from before its COMMIT until its entries are in, so an
//!   erasure that started after a record committed also removes that record's entry.
//!
//! Changes made by another process on the same file (`accord purge`, a second server) are
//! seen by [`super::sqlite`]'s watcher and empty the cache within its poll interval.
//!
//! Memory is bounded and allocated once: `capacity` slots in [`SHARDS`] shards, each shard a
//! fixed table of sets of [`WAYS`] slots. A visitor's (keyed) hash picks the shard and two
//! sets in it; a new entry goes into whichever has room, and only when both are full does it
//! replace one of their slots, sparing those read since the clock hand last passed. With one set per visitor, the sets that chance fills past
//! their ways kept losing entries while others had room: with 200 k visitors asked about in
//! 262 k slots (the benchmark's decision phase), 6 % of the reads missed and went to SQLite.
//! With two, the load evens out (the "power of two choices"). Nothing is ever reallocated: the first version
//! grew and rebuilt hash tables, and since each thread's allocations come from its own
//! glibc arena, the tables' old copies stayed resident in two or three arenas at once (the
//! benchmark's peak RSS reached 66 MiB, 51 MiB with one arena).
//! A slot is 56 bytes (and a tag byte): the fields every visitor differs in, and an `Arc` to
//! the terms (action, categories, policy, jurisdiction), which are shared and kept once.

use super::{DecisionTerms, LatestDecision};
use app::model::VisitorId;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

/// Shards, so concurrent readers rarely wait for the same lock.
pub const SHARDS: usize = 64;
/// Slots per set: a visitor can only be in the slots of its two sets, and when both are full
/// one of their slots is replaced, one not read lately first (a clock, `Shard::room`).
pub const WAYS: usize = 8;
/// Distinct sites cached; requests for more sites read the database every time.
const MAX_SITES: usize = 4096;
/// Distinct decision terms kept once; beyond, the set starts afresh (entries keep theirs).
const MAX_TERMS: usize = 65_536;

/// A visitor's latest record for a site (`terms: Some`), or the knowledge that the visitor
/// never decided there (`terms: None`).
#[derive(Clone, Default)]
struct Slot {
    visitor: [u8; 16],
    site: u16,
    id: i64,
    recorded_at_ms: i64,
    expires_at_ms: i64,
    terms: Option<Arc<DecisionTerms>>,
}

impl Slot {
    /// Whether the slot holds `key` (asked only of slots whose tag says they are used).
    fn holds(&self, key: &Key) -> bool {
        self.visitor == key.0 && self.site == key.1
    }

    fn decision(&self) -> Option<LatestDecision> {
        self.terms.as_ref().map(|terms| LatestDecision {
            id: self.id,
            recorded_at_ms: self.recorded_at_ms,
            expires_at_ms: self.expires_at_ms,
            terms: terms.clone(),
        })
    }
}

/// (visitor, site index).
type Key = ([u8; 16], u16);

#[derive(Default)]
struct Shard {
    /// `sets × WAYS` slots, allocated on the shard's first insert and kept.
    slots: Vec<Slot>,
    /// Per set, a byte of each used slot's hash (never 0; 0: free), so a lookup reads one
    /// cache line of tags and then only the slot whose tag matches.
    tags: Vec<[u8; WAYS]>,
    /// Per set: bumped whenever an entry leaves it for another visitor's, so a read that
    /// missed before cannot fill what changed meanwhile.
    generations: Vec<u32>,
    /// Bumped by erasures and clears (rare): every outstanding ticket of the shard is void.
    epoch: u32,
    /// Per set, a bit per way: the entry was read since the clock hand last passed it.
    read: Vec<u8>,
    /// The clock hand over a key's two full sets (`0..2 * WAYS`): advances past each slot it
    /// considers.
    next_victim: usize,
    used: usize,
}

pub struct DecisionCache {
    shards: Box<[Mutex<Shard>]>,
    sets: usize,
    hasher: RandomState,
    sites: RwLock<HashMap<Box<str>, u16>>,
    terms: Mutex<HashSet<Arc<DecisionTerms>>>,
    /// Held while a committed change becomes visible here (see the module docs).
    changes: Mutex<()>,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// Where a missed read may put what it found: valid only if the set did not change since.
pub struct Ticket {
    key: Key,
    at: Place,
    generation: Generation,
}

/// The shard's epoch and the generations of a key's two sets.
type Generation = (u32, [u32; 2]);

/// A key's shard, its two sets within the shard (the same one when the shard has only one),
/// and its tag byte.
#[derive(Clone, Copy)]
struct Place {
    shard: usize,
    sets: [usize; 2],
    tag: u8,
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
    /// At most `capacity` entries (rounded down to whole sets of [`WAYS`] in each of the
    /// [`SHARDS`] shards, at least one set each); 0 turns the cache off.
    pub fn new(capacity: usize) -> Self {
        let sets = (capacity / SHARDS / WAYS).max(1);
        let shards = if capacity == 0 { 0 } else { SHARDS };
        Self {
            shards: (0..shards).map(|_| Mutex::default()).collect(),
            sets,
            hasher: RandomState::new(),
            sites: RwLock::default(),
            terms: Mutex::default(),
            changes: Mutex::default(),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// Slots in all: the most entries the cache can hold.
    pub fn capacity(&self) -> usize {
        self.shards.len() * self.sets * WAYS
    }

    /// Where a key lives. Keyed hash: visitor ids come from clients, who must not be able to
    /// crowd one set.
    fn place(&self, key: &Key) -> Place {
        let h = self.hasher.hash_one(key);
        let sets = self.sets as u64;
        // Shard, sets and tag from different bits of the hash (bits 0-5, from 6, from 24, 56-63).
        Place {
            shard: (h % SHARDS as u64) as usize,
            sets: [((h >> 6) % sets) as usize, ((h >> 24) % sets) as usize],
            tag: (h >> 56) as u8 | 1,
        }
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
        let at = self.place(&key);
        let mut s = self.lock(at.shard);
        match s.find(&at, &key) {
            Some(i) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                s.mark_read(i);
                Lookup::Hit(s.slots[i].decision())
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                Lookup::Miss(Ticket { key, at, generation: s.generation(&at) })
            }
        }
    }

    /// What a missed read found, kept unless the set changed or the entry arrived meanwhile.
    pub fn fill(&self, ticket: Ticket, found: Option<&LatestDecision>) {
        let terms = found.map(|d| self.shared(&d.terms));
        let mut s = self.lock(ticket.at.shard);
        if s.generation(&ticket.at) != ticket.generation || s.find(&ticket.at, &ticket.key).is_some() {
            return;
        }
        let i = s.room(self.sets, &ticket.at);
        s.slots[i] = slot(ticket.key, found, terms);
        // It was just read.
        s.mark_read(i);
    }

    /// Takes the lock under which committed changes become visible.
    pub fn changes(&self) -> Changes<'_> {
        Changes(self.changes.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// A record the writer committed: the visitor's latest for its site from now on.
    pub fn put(&self, _: &Changes<'_>, visitor: VisitorId, site: &str, decision: &LatestDecision) {
        let Some(site) = self.site(site, true) else { return };
        let key = (visitor.0, site);
        let terms = Some(self.shared(&decision.terms));
        let at = self.place(&key);
        let mut s = self.lock(at.shard);
        let i = match s.find(&at, &key) {
            Some(i) => i,
            None => s.room(self.sets, &at),
        };
        s.slots[i] = slot(key, Some(decision), terms);
    }

    /// The visitor's records changed (erased): forget them for every site.
    pub fn forget_visitor(&self, changes: &Changes<'_>, visitor: VisitorId) {
        let _ = changes;
        let sites: Vec<u16> =
            self.sites.read().unwrap_or_else(|p| p.into_inner()).values().copied().collect();
        for site in sites {
            let key = (visitor.0, site);
            let at = self.place(&key);
            let mut s = self.lock(at.shard);
            if let Some(i) = s.find(&at, &key) {
                s.slots[i] = Slot::default();
                s.tags[i / WAYS][i % WAYS] = 0;
                s.read[i / WAYS] &= !(1 << (i % WAYS));
                s.used -= 1;
            }
            s.epoch = s.epoch.wrapping_add(1);
        }
    }

    /// Forget everything (records deleted, or written by another process). The slots stay
    /// allocated.
    pub fn clear(&self, _: &Changes<'_>) {
        for shard in 0..self.shards.len() {
            let mut s = self.lock(shard);
            s.slots.iter_mut().for_each(|slot| *slot = Slot::default());
            s.tags.iter_mut().for_each(|t| *t = [0; WAYS]);
            s.read.iter_mut().for_each(|r| *r = 0);
            s.epoch = s.epoch.wrapping_add(1);
            s.used = 0;
        }
        self.terms.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// (hits, misses) since start.
    pub fn counts(&self) -> (u64, u64) {
        (self.hits.load(Ordering::Relaxed), self.misses.load(Ordering::Relaxed))
    }

    /// Entries held now.
    pub fn len(&self) -> usize {
        (0..self.shards.len()).map(|i| self.lock(i).used).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The terms, shared with every entry that has the same.
    fn shared(&self, t: &Arc<DecisionTerms>) -> Arc<DecisionTerms> {
        let mut terms = self.terms.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(known) = terms.get(t) {
            return known.clone();
        }
        if terms.len() >= MAX_TERMS {
            terms.clear();
        }
        terms.insert(t.clone());
        t.clone()
    }
}

fn slot(key: Key, d: Option<&LatestDecision>, terms: Option<Arc<DecisionTerms>>) -> Slot {
    Slot {
        visitor: key.0,
        site: key.1,
        id: d.map_or(0, |d| d.id),
        recorded_at_ms: d.map_or(0, |d| d.recorded_at_ms),
        expires_at_ms: d.map_or(0, |d| d.expires_at_ms),
        terms,
    }
}

impl Shard {
    /// What a ticket for the key at `at` must still find for its fill to count.
    fn generation(&self, at: &Place) -> Generation {
        let of = |set: usize| self.generations.get(set).copied().unwrap_or(0);
        (self.epoch, [of(at.sets[0]), of(at.sets[1])])
    }

    /// The slot holding `key`, in either of its sets.
    fn find(&self, at: &Place, key: &Key) -> Option<usize> {
        at.sets.iter().find_map(|&set| {
            let tags = self.tags.get(set)?;
            (0..WAYS)
                .filter(|w| tags[*w] == at.tag)
                .map(|w| set * WAYS + w)
                .find(|i| self.slots[*i].holds(key))
        })
    }

    fn mark_read(&mut self, slot: usize) {
        if let Some(r) = self.read.get_mut(slot / WAYS) {
            *r |= 1 << (slot % WAYS);
        }
    }

    /// A slot for a new entry (not yet read), its tag set: a free one in the emptier of the
    /// key's two sets, else one of theirs chosen by the clock (second chance): the hand spares
    /// an entry read since it last passed, clearing the mark, and takes the first unread one.
    /// Entries put by the writer and never asked about go before the ones backends keep
    /// asking about (in the benchmark's decision phase, round-robin replacement kept pushing
    /// out visitors that were about to be asked about again). The leaving entry bumps its
    /// set's generation. Allocates the shard's slots on first use.
    fn room(&mut self, sets: usize, at: &Place) -> usize {
        if self.slots.is_empty() {
            self.slots = vec![Slot::default(); sets * WAYS];
            self.tags = vec![[0; WAYS]; sets];
            self.generations = vec![0; sets];
            self.read = vec![0; sets];
        }
        // The emptier of the two sets: always the first with room would fill first sets to
        // the brim before any second set took a share.
        let free_in = |set: usize| self.tags[set].iter().filter(|t| **t == 0).count();
        let set = if free_in(at.sets[1]) > free_in(at.sets[0]) { at.sets[1] } else { at.sets[0] };
        let free = self.tags[set].iter().position(|t| *t == 0).map(|way| (set, way));
        let (set, way) = match free {
            Some(found) => {
                self.used += 1;
                found
            }
            None => {
                // At most one full turn clears every mark, so the next slot is unread.
                let mut victim = (at.sets[0], 0);
                for _ in 0..=2 * WAYS {
                    self.next_victim = (self.next_victim + 1) % (2 * WAYS);
                    victim = (at.sets[self.next_victim / WAYS], self.next_victim % WAYS);
                    let bit = 1 << victim.1;
                    if self.read[victim.0] & bit == 0 {
                        break;
                    }
                    self.read[victim.0] &= !bit;
                }
                self.generations[victim.0] = self.generations[victim.0].wrapping_add(1);
                victim
            }
        };
        self.tags[set][way] = at.tag;
        self.read[set] &= !(1 << way);
        set * WAYS + way
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

    /// Visitor `n` of a family of ids (`fill` in the bytes the number leaves).
    fn numbered(fill: u8, n: u32) -> VisitorId {
        let mut id = [fill; 16];
        id[..4].copy_from_slice(&n.to_le_bytes());
        VisitorId(id)
    }

    /// Whether the entry is held, without reading it (a read spares it from the clock).
    fn held(c: &DecisionCache, v: VisitorId, site: &str) -> bool {
        let Some(site) = c.site(site, false) else { return false };
        let key = (v.0, site);
        let at = c.place(&key);
        c.lock(at.shard).find(&at, &key).is_some()
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
            c.put(&changes, numbered(0, n), "shop", &decision(i64::from(n) + 1, &["analytics"]));
        }
        assert!(c.len() <= 640, "{} entries", c.len());
        assert!(!c.is_empty());
        assert_eq!(c.terms.lock().expect("terms").len(), 1, "identical terms are kept once");
    }

    #[test]
    fn a_full_cache_keeps_most_of_its_entries_and_never_grows() {
        // 64 shards × 12 sets × 8 ways = 6,144 slots.
        let c = DecisionCache::new(6_400);
        assert_eq!(c.capacity(), 6_144);
        let changes = c.changes();
        let id = |n: u32| numbered(0, n);
        for n in 0..6_144u32 {
            c.put(&changes, id(n), "shop", &decision(i64::from(n) + 1, &[]));
        }
        // Sets fill unevenly (a visitor can only go into its own), but most slots are used.
        assert!(c.len() > 4_500, "{} entries", c.len());
        for n in 6_144..64_000u32 {
            c.put(&changes, id(n), "shop", &decision(i64::from(n) + 1, &[]));
        }
        assert!(c.len() <= c.capacity(), "{} entries", c.len());
        // The newest entry is always there; the slots were allocated once.
        assert_eq!(hit(&c, id(63_999), "shop"), Some(Some(64_000)));
        for shard in 0..SHARDS {
            let s = c.lock(shard);
            assert_eq!((s.slots.len(), s.slots.capacity()), (12 * WAYS, 12 * WAYS), "shard {shard}");
        }
    }

    #[test]
    fn three_quarters_full_it_holds_every_entry() {
        // 64 shards × 512 sets × 8 ways = 262,144 slots (the default), 196,608 visitors: with
        // one set per visitor, 6 % of them did not fit (their sets were full).
        let c = DecisionCache::new(262_144);
        let changes = c.changes();
        let n = 196_608u32;
        let id = |n: u32| numbered(7, n);
        for v in 0..n {
            c.put(&changes, id(v), "shop", &decision(i64::from(v) + 1, &[]));
        }
        let held = (0..n).filter(|v| hit(&c, id(*v), "shop").is_some()).count();
        assert!(held as f64 >= 0.999 * f64::from(n), "{held} of {n} held");
        assert_eq!(c.len(), held);
    }

    #[test]
    fn entries_asked_about_outlive_entries_never_read() {
        // 64 shards × 4 sets × 8 ways = 2,048 slots.
        let c = DecisionCache::new(2_048);
        let changes = c.changes();
        let id = |n: u32| numbered(3, n);
        for n in 0..2_048u32 {
            c.put(&changes, id(n), "shop", &decision(i64::from(n) + 1, &[]));
        }
        // Backends keep asking about the even visitors; the odd ones are never read.
        let asked: Vec<u32> = (0..2_048).step_by(2).filter(|n| hit(&c, id(*n), "shop").is_some()).collect();
        assert!(asked.len() > 900, "{} of 1,024 even visitors held", asked.len());
        // A quarter of the cache's worth of new visitors arrives.
        for n in 10_000..10_512u32 {
            c.put(&changes, id(n), "shop", &decision(i64::from(n) + 1, &[]));
        }
        let kept = asked.iter().filter(|n| hit(&c, id(**n), "shop").is_some()).count();
        // The clock keeps 96-97 % of them (a key whose two sets are both full of entries read
        // since still takes one); replacement in turn kept 81 %.
        assert!(kept as f64 >= 0.93 * asked.len() as f64, "{kept} of {} kept", asked.len());
    }

    #[test]
    fn a_fill_after_its_entry_was_replaced_and_pushed_out_is_dropped() {
        let c = DecisionCache::new(SHARDS * WAYS); // one set per shard
        let Lookup::Miss(t) = c.get(visitor(1), "shop") else { panic!("expected a miss") };
        // Record 5 commits, then other visitors push it out of its set before the slow read
        // (which saw no record) comes back.
        c.put(&c.changes(), visitor(1), "shop", &decision(5, &["analytics"]));
        let mut n = 0u32;
        while held(&c, visitor(1), "shop") {
            c.put(&c.changes(), numbered(9, n), "shop", &decision(100, &[]));
            n += 1;
            assert!(n < 100_000, "visitor 1 never left its set");
        }
        c.fill(t, None);
        assert!(hit(&c, visitor(1), "shop").is_none(), "the stale read must not be cached");
    }

    #[test]
    fn capacity_zero_is_off() {
        let c = DecisionCache::new(0);
        assert!(matches!(c.get(visitor(1), "shop"), Lookup::Bypass));
        c.put(&c.changes(), visitor(1), "shop", &decision(1, &[]));
        assert!(matches!(c.get(visitor(1), "shop"), Lookup::Bypass));
    }
}

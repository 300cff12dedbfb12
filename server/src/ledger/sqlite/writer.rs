//! The single writer: one OS thread with its own SQLite connection takes every append waiting
//! in the queue (up to [`MAX_BATCH`]), writes them in one `BEGIN IMMEDIATE` transaction — one
//! fsync for all of them — and answers each request only after the COMMIT returned.
//!
//! A plain thread and a synchronous connection, not an async task over the sqlx pool: a batch
//! is about ten statements, and through the pool each one went to the connection's thread and
//! back, then waited in the async run queue behind the HTTP handlers. Under load those
//! hand-offs, not SQLite, made up most of a batch's time.
//!
//! A record that fails on its own (a constraint) fails alone: SQLite undoes just that
//! statement and the transaction goes on. Storage trouble (locked, full, read-only, I/O
//! error) fails the whole batch, nothing of it is acknowledged, and the connection is
//! replaced before the next batch.

use super::decisions::Decisions;
use super::reader::{connect, map_err};
use super::records::{fixed, sealed, APPENDED, NEWEST_CHECKPOINT, NEWEST_HASH};
use crate::ledger::chain::{self, Hash, GENESIS};
use crate::ledger::{DecisionTerms, LatestDecision, LedgerError, NewRecord};
use app::model::{Action, Source};
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// Most records one transaction commits. Larger batches amortise the fsync further but make
/// the first request of a batch wait for the last.
pub const MAX_BATCH: usize = 256;

/// The record travels boxed, there and back: it is moved a dozen times on its way (the
/// queue's slot, the batch, the reply), and as ~400 bytes each move was a memcpy that showed in
/// the writer's profile; the queue's blocks of 32 slots were large enough that glibc
/// consolidated its free lists on every new one.
pub(super) struct AppendJob {
    pub record: Box<NewRecord>,
    pub reply: oneshot::Sender<Result<(i64, Box<NewRecord>), LedgerError>>,
}

pub(super) enum Job {
    Append(AppendJob),
    /// Close the connection (after the appends queued before); the next batch opens a new one.
    Close(oneshot::Sender<()>),
}

/// How the writer opens its connection: the settings every connection of the ledger has.
#[derive(Clone, Debug)]
pub(super) struct WriterOptions {
    pub path: PathBuf,
    pub busy_timeout: Duration,
    pub max_pages: Option<u32>,
    /// WAL frames at which the writer is asked to restart the WAL (see `checkpoints`).
    pub restart_at: u32,
    /// `PRAGMA wal_autocheckpoint` (see [`FALLBACK_AUTOCHECKPOINT`]).
    pub autocheckpoint: u32,
}

/// Starts the writer thread and its checkpointer. Both end when every sender of `rx` is gone.
pub(super) fn spawn(
    opts: WriterOptions,
    rx: mpsc::Receiver<Job>,
    decisions: Arc<Decisions>,
) -> std::io::Result<()> {
    let signal = Arc::new(Signal::default());
    let checkpointer = (opts.path.clone(), signal.clone(), opts.restart_at);
    std::thread::Builder::new()
        .name("accord-checkpoint".into())
        .spawn(move || checkpoints(&checkpointer.0, &checkpointer.1, checkpointer.2))?;
    let spawned = std::thread::Builder::new().name("accord-writer".into()).spawn(move || {
        run(opts, rx, &signal, &decisions);
        signal.set(|s| s.stop = true);
    });
    spawned.map(drop)
}

/// WAL frames (32 MiB of 4 KiB pages) beyond which the checkpointer asks the writer to start
/// the WAL over (`checkpoints`).
pub(super) const RESTART_AT: u32 = 8_192;
/// WAL pages beyond which SQLite makes the writer checkpoint inside its own COMMIT (the
/// default is 1000). Only a guard for when the restarts below cannot happen (a reader holding
/// an old snapshot for long, a checkpointer that keeps failing): that copy and its fsync of
/// the database file would otherwise stall every request of the batch that crosses it
/// (10–25 ms measured at 10,000 pages, growing with the file).
pub(super) const FALLBACK_AUTOCHECKPOINT: u32 = 40_000;
/// Pause between two checkpoints while appends go on: each copies what the WAL gained
/// meanwhile, so a page written by many batches (the table's last leaf) is copied once.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// Between the writer and the checkpointer: "there are new commits", "stop", and "the WAL is
/// long and nearly all copied: copy the rest yourself so the next transaction restarts it".
#[derive(Default)]
struct Signal {
    state: Mutex<SignalState>,
    changed: Condvar,
    /// Held by the checkpointer while its connection is open.
    connection: Mutex<()>,
    restart_due: AtomicBool,
}

#[derive(Default)]
struct SignalState {
    dirty: bool,
    stop: bool,
}

impl Signal {
    fn set(&self, f: impl FnOnce(&mut SignalState)) {
        f(&mut self.state.lock().unwrap_or_else(|p| p.into_inner()));
        self.changed.notify_one();
    }
}

/// Moves committed pages from the WAL into the database file off the writer's path, and
/// makes them durable there. PASSIVE never waits for the writer or readers.
///
/// Two things keep that work from stalling the writer:
/// - SQLite fsyncs the database file only after a checkpoint that reached the end of the WAL,
///   which under steady appends only the writer's own checkpoint does (the writer has always
///   committed more by the time another connection's pass ends). Every page copied since the
///   last such fsync would then be written out inside that one checkpoint, on the writer's
///   path. So after each pass the checkpointer flushes the database file itself, through a
///   descriptor of its own ([`Flusher`]).
/// - The WAL starts over from its beginning only when a write transaction begins while every
///   frame is already copied. Without help it grows until SQLite's auto-checkpoint makes the
///   writer copy what is left inside a COMMIT. Instead, once the WAL is longer than
///   `restart_at` frames, the checkpointer makes a second pass at once (it copies only what came
///   during the first) and then asks the writer to copy the last few batches itself, between
///   two batches and after their answers went out (`restart_due`); the writer's next
///   transaction then restarts the WAL.
fn checkpoints(path: &std::path::Path, signal: &Signal, restart_at: u32) {
    let mut flusher = Flusher::new(path);
    loop {
        {
            let mut state = signal.state.lock().unwrap_or_else(|p| p.into_inner());
            while !state.dirty && !state.stop {
                state = signal.changed.wait(state).unwrap_or_else(|p| p.into_inner());
            }
            if state.stop {
                return;
            }
            state.dirty = false;
        }
        // A connection only for the checkpoint: an idle one would hold the file open for
        // writing (a read-only remount would be refused, and SQLite could hand its descriptor
        // to the writer's next connection after the file turned read-only).
        let open = signal.connection.lock().unwrap_or_else(|p| p.into_inner());
        // PASSIVE never waits, so no busy timeout applies.
        let round = connect(path, Duration::ZERO).and_then(|conn| passes(&conn, &mut flusher, restart_at));
        drop(open);
        match round {
            Ok(restart) => {
                if restart {
                    signal.restart_due.store(true, Ordering::Release);
                }
            }
            // Full disk, read-only file: the WAL keeps the data; the next commit tries again.
            Err(e) => tracing::debug!(error = %e, "checkpointer: checkpoint failed"),
        }
        std::thread::sleep(CHECKPOINT_EVERY);
    }
}

/// One round of the checkpointer: one pass, and a second at once when the WAL is at least
/// `restart_at` frames long and the first copied all of it. True when the second copied all
/// of it too: the writer should then catch up (see `checkpoints`).
fn passes(conn: &Connection, flusher: &mut Flusher, restart_at: u32) -> rusqlite::Result<bool> {
    let (log, copied) = pass(conn, flusher)?;
    if log < i64::from(restart_at) || copied < log {
        return Ok(false);
    }
    let (log, copied) = pass(conn, flusher)?;
    Ok(copied == log)
}

/// One checkpoint pass, then the database file flushed (see `checkpoints`): (frames in the
/// WAL, frames copied into the database file).
fn pass(conn: &Connection, flusher: &mut Flusher) -> rusqlite::Result<(i64, i64)> {
    let started = Instant::now();
    let (log, copied) = checkpoint(conn)?;
    let copy_micros = started.elapsed().as_micros() as u64;
    if copied > 0 {
        flusher.flush();
    }
    let micros = started.elapsed().as_micros() as u64;
    tracing::trace!(log, copied, copy_micros, micros, "checkpoint pass");
    Ok((log, copied))
}

/// A read-only descriptor of the database file, for `fdatasync` only, opened once and never
/// closed. Closing *any* descriptor of a file drops every POSIX lock the process holds on it,
/// SQLite's included: they belong to the process, not to a descriptor (SQLite's "How To
/// Corrupt An SQLite Database File", section 2.2). With a descriptor opened and closed around
/// each flush, the crash test lost acknowledged consents after a kill. So the descriptor lives
/// as long as the process (one per ledger opened; read-only, so a read-only remount is not
/// refused).
struct Flusher {
    path: PathBuf,
    file: Option<std::mem::ManuallyDrop<std::fs::File>>,
}

impl Flusher {
    fn new(path: &std::path::Path) -> Self {
        Self { path: path.to_owned(), file: None }
    }

    /// Writes the file's dirty pages out. Only to move that writing off the writer's path:
    /// durability comes from SQLite's own fsync before the WAL restarts, so a failure here
    /// loses nothing.
    fn flush(&mut self) {
        if self.file.is_none() {
            match std::fs::File::open(&self.path) {
                Ok(f) => self.file = Some(std::mem::ManuallyDrop::new(f)),
                Err(e) => {
                    tracing::debug!(error = %e, "checkpointer: cannot open the database file to flush it");
                    return;
                }
            }
        }
        if let Some(Err(e)) = self.file.as_deref().map(std::fs::File::sync_data) {
            tracing::debug!(error = %e, "checkpointer: flushing the database file failed");
        }
    }
}

/// One PASSIVE checkpoint: (frames in the WAL, frames copied into the database file).
fn checkpoint(conn: &Connection) -> rusqlite::Result<(i64, i64)> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| Ok((r.get(1)?, r.get(2)?)))
}

fn run(opts: WriterOptions, mut rx: mpsc::Receiver<Job>, signal: &Signal, decisions: &Decisions) {
    let mut writer = Writer::new(opts);
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut close = None;
    while let Some(first) = rx.blocking_recv() {
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                Job::Append(a) => batch.push(a),
                Job::Close(done) => {
                    close = Some(done);
                    break;
                }
            }
            if batch.len() < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        if !batch.is_empty() {
            let started = Instant::now();
            let results = writer.write_batch(&batch, Some(decisions));
            tracing::trace!(
                records = batch.len(),
                micros = started.elapsed().as_micros() as u64,
                "batch written"
            );
            signal.set(|s| s.dirty = true);
            for (job, result) in batch.drain(..).zip(results) {
                // The requester may have gone away (timeout); the record is committed regardless.
                let _ = job.reply.send(result.map(|id| (id, job.record)));
            }
            if signal.restart_due.swap(false, Ordering::AcqRel) {
                writer.catch_up();
            }
        }
        if let Some(done) = close.take() {
            // Not while the checkpointer has a connection open (see `checkpoints`).
            let _checkpointer_idle = signal.connection.lock().unwrap_or_else(|p| p.into_inner());
            writer.conn = None;
            let _ = done.send(());
        }
    }
}

pub(super) struct Writer {
    opts: WriterOptions,
    conn: Option<Connection>,
    refs: Refs,
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

fn failed(e: rusqlite::Error) -> BatchFailed {
    let read_only_connection = e.sqlite_error_code() == Some(rusqlite::ErrorCode::ReadOnly);
    BatchFailed { error: map_err(e), read_only_connection }
}

const INSERT: &str = "INSERT INTO consent_records (id, visitor_id, context_id, choice_id, action, source, \
     page, ip_reduced, ua_family, recorded_at, gpc_applied, expires_at, subject_salt, hash) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";

impl Writer {
    pub(super) fn new(opts: WriterOptions) -> Self {
        Self { opts, conn: None, refs: Refs::default() }
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let conn = connect(&self.opts.path, self.opts.busy_timeout)?;
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", true)?;
        conn.pragma_update(None, "secure_delete", true)?;
        conn.pragma_update(None, "wal_autocheckpoint", self.opts.autocheckpoint)?;
        if let Some(pages) = self.opts.max_pages {
            conn.pragma_update_and_check(None, "max_page_count", pages, |_| Ok(()))?;
        }
        Ok(conn)
    }

    /// Copies what the checkpointer has not yet, so that the next transaction finds the WAL
    /// fully copied and starts it over (see `checkpoints`).
    fn catch_up(&mut self) {
        let Some(conn) = &self.conn else { return };
        let started = Instant::now();
        match checkpoint(conn) {
            Ok((log, copied)) => {
                tracing::trace!(
                    log,
                    copied,
                    micros = started.elapsed().as_micros() as u64,
                    "catch-up checkpoint"
                );
            }
            // The WAL keeps the data; the checkpointer asks again after its next pass.
            Err(e) => tracing::debug!(error = %e, "writer: catch-up checkpoint failed"),
        }
    }

    /// Writes one batch; one result per job, in order. What committed goes into `decisions`
    /// before this returns (and so before any request is answered).
    pub(super) fn write_batch(
        &mut self,
        batch: &[AppendJob],
        decisions: Option<&Decisions>,
    ) -> Vec<Result<i64, LedgerError>> {
        let fail_all = |e: LedgerError| {
            // A failed COMMIT can still have reached the file (an fsync error after the WAL
            // write): nothing cached may contradict what a restart would find.
            if let Some(d) = decisions {
                d.clear();
            }
            batch.iter().map(|_| Err(e.clone())).collect()
        };
        loop {
            let fresh = self.conn.is_none();
            let conn = match self.conn.take() {
                Some(c) => c,
                None => match self.open() {
                    Ok(c) => c,
                    Err(e) => return fail_all(map_err(e)),
                },
            };
            match write_on(&conn, batch, &mut self.refs, decisions) {
                Ok(out) => {
                    self.conn = Some(conn);
                    return out;
                }
                // Whatever the failure left behind (a transaction SQLite rolled back on its own,
                // a read-only handle), the connection is closed, which rolls back what is open;
                // the next batch opens a fresh one. A handle that was read-only from its
                // opening gets one retry with a fresh one now: the fault may have cleared.
                Err(f) => {
                    drop(conn);
                    if !f.read_only_connection || fresh {
                        return fail_all(f.error);
                    }
                }
            }
        }
    }
}

fn write_on(
    conn: &Connection,
    batch: &[AppendJob],
    refs: &mut Refs,
    decisions: Option<&Decisions>,
) -> Result<Vec<Result<i64, LedgerError>>, BatchFailed> {
    // Cached like the inserts: parsing even these two statements showed in the writer's profile.
    conn.prepare_cached("BEGIN IMMEDIATE").and_then(|mut s| s.execute([])).map_err(failed)?;
    let mut prev = chain_tip(conn)?;
    let appended_before = appended(conn)?;
    let mut next_id = appended_before + 1;
    // Only storage trouble can fail it, and that fails the batch.
    let ids = refs.resolve(conn, batch)?;
    let mut insert = conn.prepare_cached(INSERT).map_err(failed)?;
    let mut out = Vec::with_capacity(batch.len());
    for (job, (context, choice)) in batch.iter().zip(&ids) {
        let r = &job.record;
        let salt: [u8; 16] = rand::random();
        let hash = chain::link_fields(&prev, &linked(r, &salt));
        // Explicit ids, in chain order: what AUTOINCREMENT would assign.
        let inserted = insert.execute(params![
            next_id,
            &r.visitor_id.as_bytes()[..],
            context,
            choice,
            action_code(r.action),
            source_code(r.source),
            r.page,
            r.ip_reduced,
            r.ua_family,
            r.recorded_at_ms,
            i64::from(r.gpc_applied),
            r.expires_at_ms,
            &salt[..],
            &hash[..],
        ]);
        match inserted {
            Ok(_) => {
                out.push(Ok(next_id));
                prev = hash;
                next_id += 1;
            }
            Err(e) => {
                let f = failed(e);
                // Locked, full, read-only, I/O error: SQLite may have rolled back the whole
                // transaction already, and nothing of this batch may be committed.
                if matches!(f.error, LedgerError::Unavailable(_)) || conn.is_autocommit() {
                    return Err(f);
                }
                // A constraint: SQLite undid this statement alone.
                out.push(Err(f.error));
            }
        }
    }
    drop(insert);
    // Held from before COMMIT until the entries are in: an erasure that starts once this
    // commits forgets them only after they arrived (`ledger::decision_cache`).
    let changes = decisions.map(|d| (d, d.cache.changes()));
    conn.prepare_cached("COMMIT").and_then(|mut s| s.execute([])).map_err(failed)?;
    refs.committed();
    if let Some((d, lock)) = &changes {
        // Another process appended since our last batch: what we hold may be outdated.
        if appended_before != d.own_high.load(Ordering::Acquire) {
            d.cache.clear(lock);
        }
        for ((job, result), refs_of) in batch.iter().zip(&out).zip(&ids) {
            if let Ok(id) = result {
                let r = &job.record;
                let terms = refs.terms(*refs_of, r);
                let decision = LatestDecision {
                    id: *id,
                    recorded_at_ms: r.recorded_at_ms,
                    expires_at_ms: r.expires_at_ms,
                    terms,
                };
                d.cache.put(lock, r.visitor_id, &r.site, &decision);
            }
        }
        d.own_high.store(next_id - 1, Ordering::Release);
    }
    Ok(out)
}

/// The hash the next record chains to: the newest record's, else the newest checkpoint's,
/// else genesis. Read inside the writing transaction, so two processes cannot fork the chain.
fn chain_tip(conn: &Connection) -> Result<Hash, BatchFailed> {
    let last: Option<Option<Vec<u8>>> = conn
        .prepare_cached(NEWEST_HASH)
        .and_then(|mut s| s.query_row([], |r| r.get(0)).optional())
        .map_err(failed)?;
    if let Some(h) = last {
        return Ok(sealed(h)?);
    }
    let checkpoint: Option<Vec<u8>> = conn
        .prepare_cached(NEWEST_CHECKPOINT)
        .and_then(|mut s| s.query_row([], |r| r.get(1)).optional())
        .map_err(failed)?;
    Ok(fixed(checkpoint, "checkpoint hash")?.unwrap_or(GENESIS))
}

/// Records ever appended: AUTOINCREMENT's counter survives deletions, so a deleted tail shows.
fn appended(conn: &Connection) -> Result<i64, BatchFailed> {
    let n: Option<i64> = conn
        .prepare_cached(APPENDED)
        .and_then(|mut s| s.query_row([], |r| r.get(0)).optional())
        .map_err(failed)?;
    Ok(n.unwrap_or(0))
}

/// The record as the chain links it (id and hash are not part of the link), borrowed.
fn linked<'a>(r: &'a NewRecord, salt: &[u8; 16]) -> chain::Linked<'a> {
    chain::Linked {
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
        commitment: chain::subject_commitment(
            salt,
            r.visitor_id.as_bytes(),
            Some(&r.page),
            r.ip_reduced.as_deref(),
            Some(&r.ua_family),
        ),
    }
}

/// A record's action and source as stored (their index in `ALL`; migration 0006 and the
/// `consent_log` view spell out the same codes).
fn action_code(a: Action) -> i64 {
    Action::ALL.iter().position(|x| *x == a).unwrap_or_default() as i64
}

fn source_code(s: Source) -> i64 {
    Source::ALL.iter().position(|x| *x == s).unwrap_or_default() as i64
}

/// A context's or choice's columns joined by NUL (which no column holds: they are site ids,
/// versions, language tags, rule ids, region codes and category keys), written into a buffer
/// reused for every record, so a known one is found without allocating.
fn key_into(buf: &mut String, parts: &[&str]) {
    buf.clear();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            buf.push('\0');
        }
        buf.push_str(p);
    }
}

/// Site, policy version, registry version, language, jurisdiction, rule version, region ('').
fn context_parts(r: &NewRecord) -> [&str; 7] {
    [
        &r.site,
        &r.policy_version,
        &r.registry_version,
        &r.language,
        &r.jurisdiction,
        &r.rule_version,
        r.region.as_deref().unwrap_or_default(),
    ]
}

const CONTEXT_COLUMNS: [&str; 7] =
    ["site", "policy_version", "registry_version", "language", "jurisdiction", "rule_version", "region"];
const CHOICE_COLUMNS: [&str; 2] = ["granted", "denied"];

/// Most ids remembered; beyond, start afresh (there are normally a few hundred).
const MAX_REFS: usize = 100_000;

/// The writer's memory of context and choice ids (rows of `record_contexts` and
/// `record_choices`), so a record is written as two small integers. Ids found or created in a
/// transaction are kept only once it committed: after a rollback they may not exist.
#[derive(Default)]
struct Refs {
    contexts: HashMap<String, i64>,
    choices: HashMap<String, i64>,
    new_contexts: Vec<(String, i64)>,
    new_choices: Vec<(String, i64)>,
    /// The terms a decision cache entry shares, per (context, choice, action, GPC applied).
    terms: HashMap<(i64, i64, Action, bool), Arc<DecisionTerms>>,
    key: String,
}

impl Refs {
    /// Each record's (context id, choice id), creating rows as needed in `conn`'s transaction.
    fn resolve(&mut self, conn: &Connection, batch: &[AppendJob]) -> Result<Vec<(i64, i64)>, BatchFailed> {
        self.new_contexts.clear();
        self.new_choices.clear();
        let mut out = Vec::with_capacity(batch.len());
        for job in batch {
            let r = &job.record;
            let parts = context_parts(r);
            key_into(&mut self.key, &parts);
            let context = known_or_new(&self.contexts, &mut self.new_contexts, &self.key, || {
                find_or_insert(conn, "record_contexts", &CONTEXT_COLUMNS, &parts)
            })?;
            let (granted, denied) = (r.granted.join(","), r.denied.join(","));
            key_into(&mut self.key, &[&granted, &denied]);
            let choice = known_or_new(&self.choices, &mut self.new_choices, &self.key, || {
                find_or_insert(conn, "record_choices", &CHOICE_COLUMNS, &[&granted, &denied])
            })?;
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
        if self.terms.len() > MAX_REFS {
            self.terms.clear();
        }
        self.contexts.extend(self.new_contexts.drain(..));
        self.choices.extend(self.new_choices.drain(..));
    }

    /// The decision terms of a committed record, shared by every record with the same ones.
    fn terms(&mut self, (context, choice): (i64, i64), r: &NewRecord) -> Arc<DecisionTerms> {
        self.terms
            .entry((context, choice, r.action, r.gpc_applied))
            .or_insert_with(|| Arc::new(DecisionTerms::of(r)))
            .clone()
    }
}

/// The id of `key`: remembered from a committed transaction, found or created earlier in this
/// one, else looked up or inserted now (and noted as new).
fn known_or_new(
    known: &HashMap<String, i64>,
    new: &mut Vec<(String, i64)>,
    key: &str,
    fetch: impl FnOnce() -> Result<i64, BatchFailed>,
) -> Result<i64, BatchFailed> {
    if let Some(id) =
        known.get(key).copied().or_else(|| new.iter().find(|(k, _)| k == key).map(|(_, id)| *id))
    {
        return Ok(id);
    }
    let id = fetch()?;
    new.push((key.to_owned(), id));
    Ok(id)
}

/// The id of the row of `table` holding `values` in `columns`, inserted if there is none.
fn find_or_insert(
    conn: &Connection,
    table: &str,
    columns: &[&str],
    values: &[&str],
) -> Result<i64, BatchFailed> {
    let values = rusqlite::params_from_iter(values);
    let matches = columns.iter().map(|c| format!("{c} = ?")).collect::<Vec<_>>().join(" AND ");
    let select = format!("SELECT id FROM {table} WHERE {matches}");
    let found = conn
        .prepare_cached(&select)
        .and_then(|mut s| s.query_row(values.clone(), |r| r.get(0)).optional())
        .map_err(failed)?;
    if let Some(id) = found {
        return Ok(id);
    }
    let marks = vec!["?"; columns.len()].join(", ");
    let insert = format!("INSERT INTO {table} ({}) VALUES ({marks}) RETURNING id", columns.join(", "));
    conn.prepare_cached(&insert).and_then(|mut s| s.query_row(values, |r| r.get(0))).map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::sqlite::SqliteLedger;
    use crate::ledger::Ledger;
    use app::model::VisitorId;
    use std::sync::Arc;

    fn record(page: &str) -> NewRecord {
        NewRecord {
            visitor_id: VisitorId(rand::random()),
            site: "default".into(),
            action: Action::AcceptAll,
            source: Source::Banner,
            granted: vec!["necessary".into(), "analytics".into()],
            denied: vec![],
            policy_version: "2023-07-05".into(),
            registry_version: "r1".into(),
            language: "en".into(),
            page: page.into(),
            ip_reduced: Some("203.0.113.0".into()),
            ua_family: "Firefox".into(),
            recorded_at_ms: 1_763_900_000_000,
            region: Some("DE".into()),
            jurisdiction: "gdpr".into(),
            rule_version: "1".into(),
            gpc_applied: false,
            expires_at_ms: 1_795_436_000_000,
        }
    }

    type Reply = oneshot::Receiver<Result<(i64, Box<NewRecord>), LedgerError>>;

    fn jobs(pages: &[&str]) -> (Vec<AppendJob>, Vec<Reply>) {
        pages
            .iter()
            .map(|p| {
                let (reply, rx) = oneshot::channel();
                (AppendJob { record: Box::new(record(p)), reply }, rx)
            })
            .unzip()
    }

    /// A migrated ledger in a temporary directory (kept alive by the returned guard).
    async fn migrated() -> (tempfile::TempDir, PathBuf, SqliteLedger) {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("ledger.db");
        let ledger = SqliteLedger::open(&path, 1).await.expect("open");
        ledger.migrate().await.expect("migrate");
        (dir, path, ledger)
    }

    #[tokio::test]
    async fn a_record_refused_by_a_constraint_fails_alone_and_the_chain_closes_over_it() {
        let (_dir, path, ledger) = migrated().await;
        sqlx::query(
            "CREATE TRIGGER refuse_bad BEFORE INSERT ON consent_records WHEN NEW.page = '/bad' \
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END",
        )
        .execute(ledger.pool())
        .await
        .expect("trigger");
        let mut writer = Writer::new(WriterOptions {
            path: path.clone(),
            busy_timeout: Duration::from_secs(5),
            max_pages: None,
            restart_at: RESTART_AT,
            autocheckpoint: FALLBACK_AUTOCHECKPOINT,
        });
        let (batch, _replies) = jobs(&["/a", "/bad", "/b", "/bad", "/c"]);
        let out = writer.write_batch(&batch, None);
        let ids: Vec<Option<i64>> = out.iter().map(|r| r.as_ref().ok().copied()).collect();
        assert_eq!(ids, [Some(1), None, Some(2), None, Some(3)]);
        assert!(
            matches!(&out[1], Err(LedgerError::Other(m)) if m.contains("refused by the test")),
            "{:?}",
            out[1]
        );
        // The next batch continues the same chain on the same connection.
        let (batch, _replies) = jobs(&["/d"]);
        assert_eq!(writer.write_batch(&batch, None)[0].as_ref().ok().copied(), Some(4));
        let report = ledger.verify().await.expect("verify");
        assert!(report.finding.is_none(), "{report:?}");
        assert_eq!(report.checked, 4);
    }

    #[tokio::test]
    async fn committed_pages_reach_the_database_file_without_waiting_for_a_full_wal() {
        let (_dir, path, ledger) = migrated().await;
        // Copy what migrating left in the WAL, so only the appends below are new there.
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(ledger.pool()).await.expect("checkpoint");
        let before = std::fs::metadata(&path).expect("db file").len();
        let appends = (0..400).map(|i| ledger.append(record(&format!("/page/{i}"))));
        for r in futures_util::future::join_all(appends).await {
            r.expect("append");
        }
        // A few dozen WAL pages: far below any auto-checkpoint, so only the checkpointer
        // thread moves them into the database file.
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::fs::metadata(&path).expect("db file").len() <= before {
            assert!(Instant::now() < deadline, "the database file did not grow past {before} bytes");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// How many times the WAL has started over: the checkpoint sequence number in its
    /// header (bytes 12..16, big-endian), which SQLite raises at every restart.
    /// Reads the header alone: the test polls it every few milliseconds while the WAL grows.
    fn wal_restarts(wal: &std::path::Path) -> u32 {
        use std::io::Read;
        let mut header = [0u8; 16];
        match std::fs::File::open(wal).and_then(|mut f| f.read_exact(&mut header)) {
            Ok(()) => u32::from_be_bytes([header[12], header[13], header[14], header[15]]),
            Err(_) => 0,
        }
    }

    /// A migrated database file that only the caller's connections use: no ledger's
    /// threads are left whose reads could hold a WAL read mark at the wrong moment.
    async fn migrated_file() -> (tempfile::TempDir, PathBuf) {
        let (dir, path, ledger) = migrated().await;
        ledger.pool().close().await;
        drop(ledger);
        // The decision watcher ends at its next wake-up, when it finds the ledger gone.
        tokio::time::sleep(super::super::decisions::WATCH_EVERY * 3).await;
        (dir, path)
    }

    fn bare_writer(path: &std::path::Path) -> Writer {
        Writer::new(WriterOptions {
            path: path.to_owned(),
            busy_timeout: Duration::from_secs(5),
            max_pages: None,
            restart_at: RESTART_AT,
            // Off: only what the test does moves frames out of the WAL.
            autocheckpoint: 0,
        })
    }

    fn write(writer: &mut Writer, page: &str) {
        let (batch, _replies) = jobs(&[page, page]);
        for result in writer.write_batch(&batch, None) {
            result.expect("append");
        }
    }

    /// A reader in a transaction that has read: its snapshot stops checkpoints at the WAL's
    /// length when it began.
    fn snapshot(path: &std::path::Path) -> Connection {
        let reader = connect(path, Duration::from_secs(5)).expect("reader");
        reader.execute_batch("BEGIN").expect("begin");
        let _: i64 =
            reader.query_row("SELECT count(*) FROM consent_records", [], |r| r.get(0)).expect("read");
        reader
    }

    /// The writer's side of the restart, step by step. A checkpoint that ended after the
    /// writer committed more leaves the WAL's tail uncopied (a reader's snapshot stands in
    /// for that commit here), and the writer's next transaction then appends after it.
    /// After the writer's catch-up, its next transaction starts the WAL over.
    #[tokio::test]
    async fn after_the_catch_up_the_next_transaction_starts_the_wal_over() {
        let (dir, path) = migrated_file().await;
        let wal = dir.path().join("ledger.db-wal");
        let mut writer = bare_writer(&path);
        let checkpointer = connect(&path, Duration::ZERO).expect("checkpointer");
        write(&mut writer, "/a");
        let reader = snapshot(&path);
        write(&mut writer, "/b");
        let (log, copied) = checkpoint(&checkpointer).expect("checkpoint");
        assert!(copied < log, "the reader must hold the checkpoint back: {copied} of {log} copied");
        drop(reader);
        let before = wal_restarts(&wal);
        write(&mut writer, "/c");
        assert_eq!(wal_restarts(&wal), before, "the WAL's tail was not copied: no restart");
        writer.catch_up();
        write(&mut writer, "/d");
        assert_eq!(wal_restarts(&wal), before + 1, "after the catch-up the WAL starts over");
    }

    /// The checkpointer asks for a catch-up only when the WAL is long enough and both its
    /// passes copied all of it: with a reader holding part of it back, a catch-up would not
    /// restart the WAL either.
    #[tokio::test]
    async fn the_checkpointer_asks_for_a_catch_up_only_for_a_long_wal_it_copied_whole() {
        let (_dir, path) = migrated_file().await;
        let mut writer = bare_writer(&path);
        let mut flusher = Flusher::new(&path);
        let checkpointer = connect(&path, Duration::ZERO).expect("checkpointer");
        write(&mut writer, "/a");
        assert!(!passes(&checkpointer, &mut flusher, u32::MAX).expect("passes"), "a short WAL");
        write(&mut writer, "/b");
        let reader = snapshot(&path);
        write(&mut writer, "/c");
        assert!(!passes(&checkpointer, &mut flusher, 1).expect("passes"), "a reader holds part back");
        drop(reader);
        assert!(passes(&checkpointer, &mut flusher, 1).expect("passes"), "long and all copied");
    }

    /// The whole mechanism, threads and all: under appends that never pause, the WAL starts
    /// over again and again, with SQLite's own auto-checkpoint off. It fails when restarts
    /// stop altogether (a snapshot that never ends, a catch-up that never runs).
    ///
    /// It counts restarts, not bytes: how long the WAL gets between two restarts depends on
    /// how fast the disk syncs (a CI disk let it reach 8,800 frames of 256 asked), and
    /// without the catch-up a restart still happens now and then, when a checkpoint ends
    /// in a pause of the writer (3 in 31,000–43,000 appends here, against 3 in 4,000–6,000
    /// with it). The two tests above pin the catch-up itself.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_restarts_under_continuous_appends() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("ledger.db");
        let wal = dir.path().join("ledger.db-wal");
        let opts = crate::ledger::sqlite::SqliteOptions {
            wal_restart_frames: 256,
            wal_autocheckpoint_frames: 0,
            ..crate::ledger::sqlite::SqliteOptions::default()
        };
        let ledger = SqliteLedger::open_with(&path, &opts).await.expect("open");
        ledger.migrate().await.expect("migrate");
        // Enough appends for dozens of restarts on a fast disk and several on a slow one.
        const MAX_RECORDS: u64 = 60_000;
        const RESTARTS: u32 = 3;
        let stop = Arc::new(AtomicBool::new(false));
        let appended = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let appenders: Vec<_> = (0..64)
            .map(|a| {
                let (ledger, stop, appended) = (ledger.clone(), stop.clone(), appended.clone());
                tokio::spawn(async move {
                    let mut i = 0;
                    while !stop.load(Ordering::Relaxed) {
                        ledger.append(record(&format!("/page/{a}/{i}"))).await.expect("append");
                        appended.fetch_add(1, Ordering::Relaxed);
                        i += 1;
                    }
                })
            })
            .collect();
        let first = wal_restarts(&wal);
        let mut restarts = 0;
        while restarts < RESTARTS && appended.load(Ordering::Relaxed) < MAX_RECORDS {
            tokio::time::sleep(Duration::from_millis(5)).await;
            restarts = wal_restarts(&wal).wrapping_sub(first);
        }
        let during = appended.load(Ordering::Relaxed);
        stop.store(true, Ordering::Relaxed);
        for a in futures_util::future::join_all(appenders).await {
            a.expect("appender");
        }
        assert!(
            restarts >= RESTARTS,
            "the WAL started over {restarts} times in {during} appends that never paused; \
             expected at least {RESTARTS} (restart at 256 frames)"
        );
        let report = ledger.verify().await.expect("verify");
        assert!(report.finding.is_none(), "{report:?}");
        assert_eq!(report.checked, appended.load(Ordering::Relaxed));
    }

    #[tokio::test]
    async fn a_vanished_database_fails_the_batch_without_a_record() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut writer = Writer::new(WriterOptions {
            path: dir.path().join("missing.db"),
            busy_timeout: Duration::from_millis(50),
            max_pages: None,
            restart_at: RESTART_AT,
            autocheckpoint: FALLBACK_AUTOCHECKPOINT,
        });
        let (batch, _replies) = jobs(&["/a", "/b"]);
        let out = writer.write_batch(&batch, None);
        assert!(out.iter().all(|r| matches!(r, Err(LedgerError::Unavailable(_)))), "{out:?}");
        assert!(!dir.path().join("missing.db").exists(), "the writer must not create the file");
    }
}

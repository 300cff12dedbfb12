//! The decision cache against a real SQLite file: reads are answered from memory after the
//! first, and every change shows — at once when this process makes it, within the watcher's
//! poll when another ledger on the same file does (a second server, `accord purge`).

use accord::ledger::sqlite::{SqliteLedger, SqliteOptions};
use accord::ledger::{Ledger, NewRecord};
use app::model::{Action, VisitorId};
use std::time::{Duration, Instant};

fn record(visitor: VisitorId, action: Action, granted: &[&str], recorded_at_ms: i64) -> NewRecord {
    NewRecord {
        visitor_id: visitor,
        site: "default".into(),
        action,
        source: app::model::Source::Api,
        granted: granted.iter().map(|g| (*g).to_owned()).collect(),
        denied: vec![],
        policy_version: "2023-07-05".into(),
        registry_version: "2023-07-05".into(),
        language: "en".into(),
        page: "/".into(),
        ip_reduced: None,
        ua_family: "other".into(),
        recorded_at_ms,
        region: Some("DE".into()),
        jurisdiction: "gdpr".into(),
        rule_version: "t".into(),
        gpc_applied: false,
        expires_at_ms: recorded_at_ms + 86_400_000,
    }
}

async fn open(db: &std::path::Path) -> SqliteLedger {
    let ledger = SqliteLedger::open_with(db, &SqliteOptions::default()).await.expect("open");
    ledger.migrate().await.expect("migrate");
    ledger
}

/// What `ledger` answers for the visitor: (record id, granted).
async fn latest(ledger: &SqliteLedger, v: VisitorId) -> Option<(i64, Vec<String>)> {
    ledger.latest(v, "default").await.expect("latest").map(|d| (d.id, d.terms.granted.clone()))
}

/// Polls until `ledger` answers `want`, for at most ten seconds (the watcher looks every 100 ms;
/// the margin is for a loaded CI machine and costs nothing when the answer comes).
async fn eventually(ledger: &SqliteLedger, v: VisitorId, want: Option<(i64, Vec<String>)>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let got = latest(ledger, v).await;
        if got == want {
            return;
        }
        assert!(Instant::now() < deadline, "still {got:?}, expected {want:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn this_process_reads_its_writes_and_erasures_from_memory() {
    let dir = tempfile::tempdir().expect("dir");
    let ledger = open(&dir.path().join("a.db")).await;
    let v = VisitorId([1; 16]);
    assert_eq!(latest(&ledger, v).await, None);
    let (hits0, _) = ledger.decision_cache_counts();
    assert_eq!(latest(&ledger, v).await, None, "never decided, remembered");
    assert_eq!(ledger.decision_cache_counts().0, hits0 + 1, "the second read was a hit");

    let first =
        ledger.append(record(v, Action::AcceptAll, &["necessary", "analytics"], 1)).await.expect("append");
    // No wait: the writer put it in before answering.
    assert_eq!(latest(&ledger, v).await, Some((first.id, vec!["necessary".into(), "analytics".into()])));
    let second = ledger.append(record(v, Action::RejectAll, &["necessary"], 2)).await.expect("append");
    assert_eq!(latest(&ledger, v).await, Some((second.id, vec!["necessary".into()])));
    let (hits, misses) = ledger.decision_cache_counts();
    assert!(hits >= 3, "hits {hits}, misses {misses}");

    assert_eq!(ledger.erase_visitor(v).await.expect("erase"), 2);
    assert_eq!(latest(&ledger, v).await, None, "erased at once");
}

#[tokio::test]
async fn another_ledger_on_the_same_file_is_seen_within_the_poll() {
    let dir = tempfile::tempdir().expect("dir");
    let db = dir.path().join("shared.db");
    let server = open(&db).await;
    let other = open(&db).await;
    let v = VisitorId([2; 16]);
    let w = VisitorId([3; 16]);

    // Cached in `server` as "never decided", then decided through the other ledger.
    assert_eq!(latest(&server, v).await, None);
    let r = other.append(record(v, Action::AcceptAll, &["necessary", "analytics"], 1)).await.expect("append");
    eventually(&server, v, Some((r.id, vec!["necessary".into(), "analytics".into()]))).await;

    // A foreign append between two of the server's own batches: its writer sees the gap in
    // the ids (and the watcher the sequence), whichever comes first.
    assert_eq!(latest(&server, w).await, None);
    let foreign = other.append(record(w, Action::AcceptAll, &["necessary"], 2)).await.expect("append");
    let own = server.append(record(v, Action::RejectAll, &["necessary"], 3)).await.expect("append");
    assert!(own.id > foreign.id);
    eventually(&server, w, Some((foreign.id, vec!["necessary".into()]))).await;

    // Erased by the other ledger.
    other.erase_visitor(w).await.expect("erase");
    eventually(&server, w, None).await;

    // Purged by the other ledger (records older than the cutoff, behind a checkpoint).
    assert_eq!(latest(&server, v).await.map(|d| d.0), Some(own.id));
    let report = other.purge(i64::MAX).await.expect("purge");
    assert!(report.purged >= 3, "{report:?}");
    eventually(&server, v, None).await;
}

#[tokio::test]
async fn turned_off_reads_the_file_every_time() {
    let dir = tempfile::tempdir().expect("dir");
    let opts = SqliteOptions { decision_cache: 0, ..SqliteOptions::default() };
    let ledger = SqliteLedger::open_with(&dir.path().join("off.db"), &opts).await.expect("open");
    ledger.migrate().await.expect("migrate");
    let v = VisitorId([4; 16]);
    let r = ledger.append(record(v, Action::AcceptAll, &["necessary"], 1)).await.expect("append");
    assert_eq!(latest(&ledger, v).await.map(|d| d.0), Some(r.id));
    assert_eq!(latest(&ledger, v).await.map(|d| d.0), Some(r.id));
    assert_eq!(ledger.decision_cache_counts(), (0, 0));
}

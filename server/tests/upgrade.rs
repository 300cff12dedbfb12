//! A database written under the pre-0006 layout (one wide `consent_records` table, hashes
//! already chained) upgrades in place: the records read back unchanged and the chain still
//! verifies, because the new layout presents the very values the hashes cover.

use accord::ledger::chain::{self, GENESIS};
use accord::ledger::sqlite::SqliteLedger;
use accord::ledger::{Ledger, StoredRecord};
use app::model::{Action, Source, VisitorId};
use sqlx::Connection;
use std::path::Path;

const BEFORE_COMPACT: i64 = 20261123000005;

fn old_record(i: u8) -> StoredRecord {
    StoredRecord {
        id: i64::from(i),
        visitor_id: Some(VisitorId([i; 16])),
        site: "default".into(),
        action: [Action::AcceptAll, Action::RejectAll, Action::Custom][usize::from(i % 3)],
        source: [Source::Banner, Source::Preferences, Source::Api][usize::from(i % 3)],
        granted: if i % 3 == 1 {
            vec!["necessary".into()]
        } else {
            vec!["necessary".into(), "analytics".into()]
        },
        denied: if i % 3 == 1 { vec!["analytics".into()] } else { vec![] },
        policy_version: "2023-07-05".into(),
        registry_version: "2023-07-05".into(),
        language: ["en", "de"][usize::from(i % 2)].into(),
        page: Some(format!("/page/{i}")),
        ip_reduced: Some("203.0.113.0".into()),
        ua_family: Some("Firefox".into()),
        recorded_at_ms: 1_700_000_000_000 + i64::from(i),
        region: if i.is_multiple_of(2) { Some("DE".into()) } else { None },
        jurisdiction: "gdpr".into(),
        rule_version: "2026-11-01".into(),
        gpc_applied: i.is_multiple_of(4),
        expires_at_ms: 1_800_000_000_000,
        subject_salt: Some([i.wrapping_mul(7); 16]),
        subject_commitment: None,
        hash: None,
        erased_at_ms: None,
    }
}

async fn write_old_layout(db: &Path, records: &mut [StoredRecord]) {
    let url = format!("sqlite://{}?mode=rwc", db.display());
    let mut conn = sqlx::SqliteConnection::connect(&url).await.expect("open");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    let mut migrator = sqlx::migrate::Migrator::new(dir).await.expect("migrations");
    migrator.migrations = migrator
        .migrations
        .iter()
        .filter(|m| m.version <= BEFORE_COMPACT)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    migrator.run(&mut conn).await.expect("migrate to 0005");
    let mut prev = GENESIS;
    for r in records.iter_mut() {
        let hash = chain::link(&prev, r).expect("hashable");
        r.hash = Some(hash);
        prev = hash;
        sqlx::query(
            "INSERT INTO consent_records (id, visitor_id, site, action, source, granted, denied, \
             policy_version, registry_version, language, page, ip_reduced, ua_family, recorded_at, region, \
             jurisdiction, rule_version, gpc_applied, expires_at, subject_salt, hash) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(r.id)
        .bind(r.visitor_id.map(|v| v.as_bytes().to_vec()))
        .bind(&r.site)
        .bind(r.action.as_str())
        .bind(r.source.as_str())
        .bind(r.granted.join(","))
        .bind(r.denied.join(","))
        .bind(&r.policy_version)
        .bind(&r.registry_version)
        .bind(&r.language)
        .bind(&r.page)
        .bind(&r.ip_reduced)
        .bind(&r.ua_family)
        .bind(r.recorded_at_ms)
        .bind(&r.region)
        .bind(&r.jurisdiction)
        .bind(&r.rule_version)
        .bind(i64::from(r.gpc_applied))
        .bind(r.expires_at_ms)
        .bind(r.subject_salt.map(|s| s.to_vec()))
        .bind(hash.to_vec())
        .execute(&mut conn)
        .await
        .expect("insert");
    }
}

#[tokio::test]
async fn a_pre_compaction_database_upgrades_and_still_verifies() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("accord.db");
    let mut records: Vec<StoredRecord> = (1..=12).map(old_record).collect();
    write_old_layout(&db, &mut records).await;

    let ledger = SqliteLedger::open(&db, 2).await.expect("open");
    ledger.migrate().await.expect("upgrade");
    let report = ledger.verify().await.expect("verify");
    assert_eq!(report.finding, None, "{report:?}");
    for r in &records {
        assert_eq!(ledger.record(r.id).await.expect("read").as_ref(), Some(r), "record {}", r.id);
    }
    let head = ledger.head().await.expect("head");
    assert_eq!(head.count, 12);
    assert_eq!(Some(head.hash), records.last().and_then(|r| r.hash));
    // Shared values are stored once.
    let contexts: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM record_contexts")
        .fetch_one(ledger.pool())
        .await
        .expect("contexts");
    assert_eq!(contexts, 2, "en+DE and de+unknown region");
}

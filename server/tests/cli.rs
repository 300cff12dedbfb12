//! The `accord` binary as an operator runs it: migrate, serve, SIGTERM, restart, bad config,
//! publish, tokens. It lives next to the binary so Cargo builds it first
//! (`CARGO_BIN_EXE_accord`); building it from inside another test run would race the
//! artifacts that run links against.

use accord::ledger::sqlite::SqliteLedger;
use accord::ledger::Ledger;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn accord_binary() -> &'static str {
    env!("CARGO_BIN_EXE_accord")
}

fn consent_body() -> String {
    r#"{"site":"default","action":"custom","granted":["analytics"],"policy_version":"2023-07-05"}"#.to_owned()
}

#[tokio::test]
async fn migrate_creates_and_seeds_the_database_from_the_environment() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("nested/accord.db");
    let out = Command::new(accord_binary())
        .arg("migrate")
        .env("ACCORD_DATABASE", &db)
        .env("ACCORD_LOG", "warn")
        .output()
        .expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ledger = SqliteLedger::open(&db, 1).await.expect("db exists");
    let policy = ledger.current_policy().await.expect("query").expect("policy seeded");
    assert_eq!(policy.version, "2023-07-05");
    assert_eq!(policy.content_hash.len(), 64);
    let registry = ledger.current_registry().await.expect("query").expect("registry seeded");
    assert!(registry.cookies.iter().any(|c| c.name == "_ga"));
    assert!(ledger.current_responsibility().await.expect("query").is_some());

    // Idempotent: a second run changes nothing and succeeds.
    let again =
        Command::new(accord_binary()).args(["--database"]).arg(&db).arg("migrate").output().expect("runs");
    assert!(again.status.success());
}

/// Starts `accord serve` on an ephemeral port and returns it with its base URL.
fn serve(db: &std::path::Path) -> (Child, String) {
    let mut child = Command::new(accord_binary())
        .args(["--database"])
        .arg(db)
        .args(["--log", "info", "serve", "--bind", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("spawns");
    let stderr = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(url) = line.split("listening on ").nth(1) {
                let _ = tx.send(url.trim().to_owned());
            }
        }
    });
    let base = rx.recv_timeout(Duration::from_secs(30)).expect("server reports its address");
    (child, base)
}

fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill");
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        assert!(Instant::now() < deadline, "accord did not stop after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn serve_answers_stops_cleanly_on_sigterm_and_keeps_data_across_restarts() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("accord.db");
    let (mut child, base) = serve(&db);
    let http = reqwest::Client::new();
    assert_eq!(http.get(format!("{base}/readyz")).send().await.expect("readyz").status(), 200);
    let rec: serde_json::Value = http
        .post(format!("{base}/api/v1/consents"))
        .header("content-type", "application/json")
        .body(consent_body())
        .send()
        .await
        .expect("post")
        .json()
        .await
        .expect("json");
    let vid = rec["visitor_id"].as_str().expect("vid").to_owned();
    let status = terminate(&mut child);
    assert!(status.success(), "graceful shutdown exits 0, got {status}");

    let (mut child, base) = serve(&db);
    let d: serde_json::Value = http
        .get(format!("{base}/api/v1/visitors/{vid}/decision?site=default&category=analytics"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(d["allowed"], true, "the consent survived the restart");
    assert!(terminate(&mut child).success());
}

#[test]
fn bad_configuration_fails_fast_with_a_clear_message() {
    let out = Command::new(accord_binary())
        .args(["--config", "/nonexistent/accord.toml", "migrate"])
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/accord.toml"), "{err}");

    let dir = tempfile::tempdir().expect("tmp");
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "[consent]\nconsent_days = 0\n").expect("write");
    let out = Command::new(accord_binary()).arg("--config").arg(&cfg).arg("migrate").output().expect("runs");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("consent_days"), "names the bad key");
}

#[test]
fn publish_policy_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("accord.db");
    let file = dir.path().join("policy.md");
    std::fs::write(
        &file,
        "+++\nversion = \"v2\"\neffective_date = \"2026-12-01\"\ntitle = \"Privacy\"\n+++\n## One\ntext\n",
    )
    .expect("write");
    let run = |args: &[&str]| {
        Command::new(accord_binary()).arg("--database").arg(&db).args(args).output().expect("runs")
    };
    let out = run(&["publish", "policy", file.to_str().expect("utf8"), "--material"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("published policy v2"));
    let again = run(&["publish", "policy", file.to_str().expect("utf8")]);
    assert!(!again.status.success(), "the same version cannot be published twice");
    assert!(String::from_utf8_lossy(&again.stderr).contains("already published"));
}

#[test]
fn tokens_are_created_listed_and_revoked_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("accord.db");
    let run = |args: &[&str]| {
        Command::new(accord_binary()).arg("--database").arg(&db).args(args).output().expect("runs")
    };
    let out = run(&["token", "create", "--name", "ci deploy", "--role", "admin"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let token = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(token.starts_with("acc_") && token.len() == 68, "{token}");
    let list = String::from_utf8_lossy(&run(&["token", "list"]).stdout).into_owned();
    assert!(list.contains("admin\tactive\tci deploy") && !list.contains(&token), "{list}");
    assert!(run(&["token", "revoke", "1"]).status.success());
    assert!(String::from_utf8_lossy(&run(&["token", "list"]).stdout).contains("revoked"));
    assert!(!run(&["token", "revoke", "1"]).status.success(), "already revoked");
    assert!(!run(&["token", "create", "--name", "x", "--role", "root"]).status.success(), "unknown role");
}

fn run(db: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(accord_binary())
        .arg("--database")
        .arg(db)
        .args(["--log", "warn"])
        .args(args)
        .output()
        .expect("runs")
}

/// A record as the API would build it, for `visitor` at `offset_ms` past a fixed time.
fn record(visitor: [u8; 16], action: app::model::Action, offset_ms: i64) -> accord::ledger::NewRecord {
    accord::ledger::NewRecord {
        visitor_id: app::model::VisitorId(visitor),
        site: "default".into(),
        action,
        source: app::model::Source::Api,
        granted: vec!["necessary".into()],
        denied: vec![],
        policy_version: "2023-07-05".into(),
        registry_version: "2023-07-05".into(),
        language: "en".into(),
        page: "/".into(),
        ip_reduced: None,
        ua_family: "other".into(),
        recorded_at_ms: 1_700_000_000_000 + offset_ms,
        region: None,
        jurisdiction: "gdpr".into(),
        rule_version: "t".into(),
        gpc_applied: false,
        expires_at_ms: 1_800_000_000_000,
    }
}

/// Appends `n` records through the library (the same writer the server uses).
async fn fill(db: &std::path::Path, n: u8) {
    use app::model::Action;
    let ledger = SqliteLedger::open(db, 1).await.expect("open");
    ledger.migrate().await.expect("migrate");
    for i in 0..n {
        let action = if i % 2 == 0 { Action::AcceptAll } else { Action::RejectAll };
        ledger.append(record([i + 1; 16], action, i64::from(i))).await.expect("append");
    }
}

#[tokio::test]
async fn export_verify_and_purge_from_the_command_line() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("accord.db");
    fill(&db, 6).await;

    let out_file = dir.path().join("records.csv");
    let export = run(&db, &["export", "--format", "csv", "--output", out_file.to_str().expect("utf-8")]);
    assert!(export.status.success(), "{}", String::from_utf8_lossy(&export.stderr));
    let csv = std::fs::read_to_string(&out_file).expect("written");
    assert_eq!(csv.lines().count(), 7, "header + 6 records:\n{csv}");
    assert!(String::from_utf8_lossy(&export.stderr).contains("exported 6 record(s)"));
    let nd = run(&db, &["export", "--action", "reject_all"]);
    assert_eq!(String::from_utf8_lossy(&nd.stdout).lines().count(), 3, "NDJSON on stdout, filtered");
    let bad = run(&db, &["export", "--from", "soon"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("YYYY-MM-DD"));

    let ok = run(&db, &["verify"]);
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));
    let stdout = String::from_utf8_lossy(&ok.stdout).into_owned();
    assert!(stdout.contains("chain intact"), "{stdout}");
    let head = stdout.split("head ").nth(1).and_then(|h| h.split(';').next()).expect("head printed");
    let head = head.split_whitespace().next().expect("count:hash").to_owned();
    assert!(run(&db, &["verify", "--expect-head", &head]).status.success());

    // Purging everything older than the retention keeps the published head verifiable.
    let purge = run(&db, &["purge"]);
    assert!(purge.status.success(), "{}", String::from_utf8_lossy(&purge.stderr));
    assert!(String::from_utf8_lossy(&purge.stdout).contains("6 record(s)"));
    assert!(
        run(&db, &["verify", "--expect-head", &head]).status.success(),
        "the head survives as a checkpoint"
    );
    let forged = run(&db, &["verify", "--expect-head", &format!("6:{}", "ab".repeat(32))]);
    assert_eq!(forged.status.code(), Some(1), "a head that was never published is not in the chain");
    let short = run(&db, &["purge", "--days", "3"]);
    assert!(!short.status.success(), "retention below the consent lifetime is refused");

    // Tampering: exit status 1 and the record named.
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("accord.db");
    fill(&db, 4).await;
    let ledger = SqliteLedger::open(&db, 1).await.expect("open");
    sqlx::query("DROP TRIGGER consent_records_append_only_update")
        .execute(ledger.pool())
        .await
        .expect("drop");
    sqlx::query("UPDATE consent_records SET action = (action + 1) % 5 WHERE id = 2")
        .execute(ledger.pool())
        .await
        .expect("tamper");
    let tampered = run(&db, &["verify"]);
    assert_eq!(tampered.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&tampered.stderr).contains("record 2 was altered"),
        "{}",
        String::from_utf8_lossy(&tampered.stderr)
    );
}

/// Exports are read by several threads in id spans and merged: across many spans, with and
/// without a filter, every record comes exactly once and in chain order.
#[tokio::test]
async fn exports_over_many_spans_stay_in_chain_order() {
    use app::model::Action;
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("accord.db");
    let ledger = SqliteLedger::open(&db, 2).await.expect("open");
    ledger.migrate().await.expect("migrate");
    const N: u32 = 5_000; // 3 spans of 2,000 ids
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..N {
        let ledger = ledger.clone();
        tasks.spawn(async move {
            let mut id = [0u8; 16];
            id[..4].copy_from_slice(&i.to_be_bytes());
            let action = if i % 3 == 0 { Action::RejectAll } else { Action::AcceptAll };
            ledger.append(record(id, action, i64::from(i))).await.expect("append")
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("task");
    }
    let rejected = ledger
        .count(&accord::ledger::RecordFilter { action: Some(Action::RejectAll), ..Default::default() })
        .await
        .expect("count");
    drop(ledger);

    let ids = |args: &[&str]| -> Vec<i64> {
        let out = run(&db, args);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).expect("json line")["id"].as_i64().expect("id")
            })
            .collect()
    };
    let all = ids(&["export", "--format", "ndjson"]);
    assert_eq!(all, (1..=i64::from(N)).collect::<Vec<_>>());
    let some = ids(&["export", "--format", "ndjson", "--action", "reject_all"]);
    assert_eq!(some.len() as u64, rejected);
    assert!(some.windows(2).all(|w| w[0] < w[1]), "filtered export out of order");
    let csv = run(&db, &["export", "--format", "csv"]);
    assert_eq!(String::from_utf8_lossy(&csv.stdout).lines().count(), N as usize + 1);
}

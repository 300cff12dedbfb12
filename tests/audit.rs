//! Proving consent to an auditor: admin roles, the audit log, search and export, receipts,
//! the hash chain (tamper evidence), erasure and retention, the admin area's sessions/CSRF.

use accord::auth::Role;
use accord::ledger::chain::Finding;
use accord::ledger::NewRecord;
use accord_tests::{consent_body, workspace_root, TestApp, TestResponse};
use app::model::admin::RecordRow;
use app::model::{Action, Source, VisitorId};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};
use sqlx::Connection;

const VID: &str = "0123456789abcdef0123456789abcdef";
const OTHER: &str = "fedcba9876543210fedcba9876543210";

async fn token(app: &TestApp, name: &str, role: Role) -> String {
    accord::auth::create(app.state.ledger.as_ref(), name, role).await.expect("token").1
}

async fn call(
    app: &TestApp,
    method: &str,
    uri: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> TestResponse {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let body = match body {
        Some(b) => {
            req = req.header("content-type", "application/json");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    app.send(req.body(body).expect("request")).await
}

async fn record(app: &TestApp, visitor: &str, site: &str, action: &str, granted: &[&str]) -> Value {
    let mut body = consent_body(action, granted);
    body["visitor_id"] = json!(visitor);
    body["site"] = json!(site);
    let res = app.post_json("/api/v1/consents", &body).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    res.json()
}

async fn audit_actions(app: &TestApp) -> Vec<(String, String)> {
    let rows = app
        .state
        .ledger
        .search_audit(&Default::default(), accord::ledger::Page::Before(None), 500)
        .await
        .expect("audit");
    rows.into_iter().map(|(_, e)| (e.actor, e.action)).collect()
}

async fn verify(app: &TestApp) -> accord::ledger::VerifyReport {
    app.state.ledger.verify().await.expect("verify runs")
}

/// Opens the database behind the app's back, as an attacker with file access would.
async fn raw_db(app: &TestApp) -> sqlx::SqliteConnection {
    let url = format!("sqlite://{}", app.db_path().display());
    let mut c = sqlx::SqliteConnection::connect(&url).await.expect("open db");
    for t in [
        "consent_records_append_only_update",
        "consent_records_append_only_delete",
        "record_contexts_append_only_update",
        "record_choices_append_only_update",
    ] {
        sqlx::query(&format!("DROP TRIGGER IF EXISTS {t}")).execute(&mut c).await.expect("drop trigger");
    }
    c
}

fn registry(version: &str) -> String {
    std::fs::read_to_string(workspace_root().join("content/cookies.toml"))
        .expect("registry")
        .replace("registry_version = \"2023-07-05\"", &format!("registry_version = \"{version}\""))
}

fn policy(version: &str) -> String {
    format!(
        "+++\nversion = \"{version}\"\neffective_date = \"2030-01-01\"\ntitle = \"Privacy policy\"\n\n\
         [[changelog]]\nversion = \"{version}\"\ndate = \"2030-01-01\"\nmaterial = false\nsummary = \"Wording\"\n+++\n\
         ## What we collect\n\nLittle.\n"
    )
}

/// Every admin endpoint × (no token, unknown token, auditor, admin), and for each successful
/// call by an admin: the audit entry it must leave.
#[tokio::test]
async fn role_matrix_and_an_audit_entry_for_every_admin_call() {
    let app = TestApp::new().await;
    record(&app, VID, "default", "accept_all", &[]).await;
    let auditor = token(&app, "auditor-1", Role::Auditor).await;
    let admin = token(&app, "admin-1", Role::Admin).await;
    let unknown = format!("acc_{}", "ab".repeat(32));

    // (method, path, body, admin only, expected success, audit action)
    type Case = (&'static str, String, Option<Value>, bool, StatusCode, &'static str);
    let mut cases: Vec<Case> = vec![
        ("GET", "/api/v1/admin/whoami".into(), None, false, StatusCode::OK, ""),
        ("GET", "/api/v1/admin/records".into(), None, false, StatusCode::OK, "records.search"),
        ("GET", "/api/v1/admin/records/1/receipt".into(), None, false, StatusCode::OK, "receipt.view"),
        ("GET", "/api/v1/admin/export?format=csv".into(), None, false, StatusCode::OK, "records.export"),
        ("GET", "/api/v1/admin/ledger/verify".into(), None, false, StatusCode::OK, "ledger.verify"),
        ("GET", "/api/v1/admin/audit".into(), None, false, StatusCode::OK, "audit.view"),
        (
            "GET",
            "/api/v1/admin/audit/export?format=ndjson".into(),
            None,
            false,
            StatusCode::OK,
            "audit.export",
        ),
        ("GET", "/api/v1/admin/dashboard".into(), None, false, StatusCode::OK, "dashboard.view"),
        ("GET", "/api/v1/admin/tokens".into(), None, true, StatusCode::OK, ""),
        (
            "POST",
            "/api/v1/admin/tokens".into(),
            Some(json!({"name": "ci", "role": "auditor"})),
            true,
            StatusCode::CREATED,
            "token.create",
        ),
        ("DELETE", format!("/api/v1/admin/visitors/{OTHER}"), None, true, StatusCode::OK, "visitor.erase"),
        ("POST", "/api/v1/admin/purge".into(), None, true, StatusCode::OK, "purge"),
        (
            "POST",
            "/api/v1/admin/policies".into(),
            Some(json!({"source": policy("2030-01-01"), "material": false})),
            true,
            StatusCode::CREATED,
            "policy.publish",
        ),
        (
            "POST",
            "/api/v1/admin/registries".into(),
            Some(json!({"source": registry("2030-01-01"), "material": false})),
            true,
            StatusCode::CREATED,
            "registry.publish",
        ),
    ];
    // Token rotation and revocation each need a token of their own.
    for (action, method, suffix) in [("token.rotate", "POST", "/rotate"), ("token.revoke", "DELETE", "")] {
        let (info, _) =
            accord::auth::create(app.state.ledger.as_ref(), action, Role::Auditor).await.expect("t");
        let ok = if method == "POST" { StatusCode::CREATED } else { StatusCode::NO_CONTENT };
        cases.push((method, format!("/api/v1/admin/tokens/{}{suffix}", info.id), None, true, ok, action));
    }

    for (method, path, body, admin_only, ok, action) in cases {
        let no = call(&app, method, &path, None, body.clone()).await;
        assert_eq!(no.status, StatusCode::UNAUTHORIZED, "{method} {path} without a token");
        assert_eq!(no.error_code(), "unauthorized");
        assert_eq!(no.header("www-authenticate"), Some("Bearer"));
        let bad = call(&app, method, &path, Some(&unknown), body.clone()).await;
        assert_eq!(bad.status, StatusCode::UNAUTHORIZED, "{method} {path} with an unknown token");

        let before = audit_actions(&app).await.len();
        let aud = call(&app, method, &path, Some(&auditor), body.clone()).await;
        if admin_only {
            assert_eq!(aud.status, StatusCode::FORBIDDEN, "{method} {path} as auditor: {}", aud.text());
            assert_eq!(aud.error_code(), "forbidden");
            assert_eq!(audit_actions(&app).await.len(), before, "a refused call changes nothing");
        } else {
            assert_eq!(aud.status, ok, "{method} {path} as auditor: {}", aud.text());
        }

        let before = audit_actions(&app).await;
        let adm = call(&app, method, &path, Some(&admin), body).await;
        assert_eq!(adm.status, ok, "{method} {path} as admin: {}", adm.text());
        if !action.is_empty() {
            let after = audit_actions(&app).await;
            assert_eq!(after.len(), before.len() + 1, "{method} {path} leaves one audit entry");
            assert_eq!(after[0], ("admin-1".to_owned(), action.to_owned()), "{method} {path}");
        }
    }
}

#[tokio::test]
async fn tokens_are_stored_hashed_rotate_and_revoke() {
    let app = TestApp::new().await;
    let admin = token(&app, "root", Role::Admin).await;
    let created = call(
        &app,
        "POST",
        "/api/v1/admin/tokens",
        Some(&admin),
        Some(json!({"name": "ops", "role": "auditor"})),
    )
    .await
    .json();
    let plain = created["token"].as_str().expect("token shown once").to_owned();
    assert!(accord::auth::is_token_syntax(&plain));

    // Nothing in the database file holds a token in plain text; the hash is SHA-256.
    let mut db = raw_db(&app).await;
    let hashes: Vec<String> =
        sqlx::query_scalar("SELECT token_hash FROM api_tokens").fetch_all(&mut db).await.expect("hashes");
    assert!(hashes.contains(&accord::auth::hash_token(&plain)));
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut db).await.expect("checkpoint");
    let bytes = std::fs::read(app.db_path()).expect("db file");
    for t in [&plain, &admin] {
        assert!(!bytes.windows(t.len()).any(|w| w == t.as_bytes()), "a plain token is in the database file");
    }

    // Rotation: the old token stops working, the new one works with the same name and role.
    let list = call(&app, "GET", "/api/v1/admin/tokens", Some(&admin), None).await.json();
    let id =
        list.as_array().and_then(|l| l.iter().find(|t| t["name"] == "ops")).expect("listed")["id"].clone();
    let rotated = call(&app, "POST", &format!("/api/v1/admin/tokens/{id}/rotate"), Some(&admin), None).await;
    assert_eq!(rotated.status, StatusCode::CREATED);
    let fresh = rotated.json()["token"].as_str().expect("new token").to_owned();
    assert_eq!(
        call(&app, "GET", "/api/v1/admin/whoami", Some(&plain), None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let who = call(&app, "GET", "/api/v1/admin/whoami", Some(&fresh), None).await.json();
    assert_eq!((who["name"].as_str(), who["role"].as_str()), (Some("ops"), Some("auditor")));
    let again = call(&app, "POST", &format!("/api/v1/admin/tokens/{id}/rotate"), Some(&admin), None).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND, "a rotated token cannot be rotated twice");

    let new_id = who["id"].clone();
    let revoked = call(&app, "DELETE", &format!("/api/v1/admin/tokens/{new_id}"), Some(&admin), None).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    assert_eq!(
        call(&app, "GET", "/api/v1/admin/whoami", Some(&fresh), None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let bad = call(
        &app,
        "POST",
        "/api/v1/admin/tokens",
        Some(&admin),
        Some(json!({"name": "", "role": "auditor"})),
    )
    .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(bad.json()["error"]["message"].as_str().unwrap_or_default().contains("1-64"));
}

#[tokio::test]
async fn admin_allowlist_refuses_other_addresses() {
    let app = TestApp::builder()
        .configure(|c| c.admin.allow_ips = vec!["10.0.0.0/8".parse().expect("net")])
        .build()
        .await;
    let admin = token(&app, "root", Role::Admin).await;
    let req = |from: &'static str| {
        let admin = admin.clone();
        let app = &app;
        async move {
            let r = Request::get("/api/v1/admin/whoami")
                .header("authorization", format!("Bearer {admin}"))
                .body(Body::empty())
                .expect("req");
            app.send_from(from, r).await
        }
    };
    let outside = req("203.0.113.9:1000").await;
    assert_eq!(outside.status, StatusCode::FORBIDDEN);
    assert_eq!(outside.error_code(), "address_not_allowed");
    assert_eq!(req("10.1.2.3:1000").await.status, StatusCode::OK);
    let page =
        app.send_from("203.0.113.9:1000", Request::get("/admin").body(Body::empty()).expect("r")).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN, "the admin area too");
}

fn parse_csv(text: &str) -> Vec<RecordRow> {
    let mut rdr = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let header = rdr.headers().expect("header").clone();
    let col = |r: &csv::StringRecord, name: &str| {
        let i = header.iter().position(|h| h == name).unwrap_or_else(|| panic!("column {name}"));
        r.get(i).unwrap_or_default().to_owned()
    };
    let opt = |s: String| (!s.is_empty()).then_some(s);
    let list = |s: String| s.split(' ').filter(|k| !k.is_empty()).map(str::to_owned).collect::<Vec<_>>();
    rdr.records()
        .map(|r| {
            let r = r.expect("csv row");
            RecordRow {
                id: col(&r, "id").parse().expect("id"),
                recorded_at: col(&r, "recorded_at"),
                site: col(&r, "site"),
                visitor_id: opt(col(&r, "visitor_id")),
                action: col(&r, "action"),
                source: col(&r, "source"),
                granted: list(col(&r, "granted")),
                denied: list(col(&r, "denied")),
                policy_version: col(&r, "policy_version"),
                registry_version: col(&r, "registry_version"),
                language: col(&r, "language"),
                jurisdiction: col(&r, "jurisdiction"),
                region: opt(col(&r, "region")),
                rule_version: col(&r, "rule_version"),
                gpc_applied: col(&r, "gpc_applied") == "true",
                expires_at: col(&r, "expires_at"),
                page: opt(col(&r, "page")),
                ip_reduced: opt(col(&r, "ip_reduced")),
                ua_family: opt(col(&r, "ua_family")),
                erased: col(&r, "erased") == "true",
                hash: col(&r, "hash"),
            }
        })
        .collect()
}

#[tokio::test]
async fn search_pages_by_keyset_and_exports_round_trip_in_csv_and_ndjson() {
    let app = TestApp::builder().site("shop", &["https://shop.example"]).build().await;
    let auditor = token(&app, "auditor", Role::Auditor).await;
    let mut vids = Vec::new();
    for i in 0..23u32 {
        let v = format!("{i:032x}");
        let (action, granted): (&str, &[&str]) = match i % 4 {
            0 => ("accept_all", &[]),
            1 => ("reject_all", &[]),
            2 => ("custom", &["analytics"]),
            _ => ("custom", &["functional", "marketing"]),
        };
        record(&app, &v, if i % 3 == 0 { "shop" } else { "default" }, action, granted).await;
        vids.push(v);
    }
    // One erased visitor: exports show the record without identifiers.
    let erased = call(&app, "DELETE", &format!("/api/v1/visitors/{}", vids[5]), None, None).await;
    assert_eq!(erased.json()["erased"], 1);

    // Newest first, 5 per page, no overlap, nothing missed.
    let mut seen = Vec::new();
    let mut uri = "/api/v1/admin/records?limit=5".to_owned();
    loop {
        let page = call(&app, "GET", &uri, Some(&auditor), None).await.json();
        let rows: Vec<RecordRow> = serde_json::from_value(page["records"].clone()).expect("rows");
        assert!(rows.len() <= 5);
        seen.extend(rows);
        match page["next_before"].as_i64() {
            Some(b) => uri = format!("/api/v1/admin/records?limit=5&before={b}"),
            None => break,
        }
    }
    let ids: Vec<i64> = seen.iter().map(|r| r.id).collect();
    assert_eq!(ids, (1..=23).rev().collect::<Vec<_>>());
    assert!(seen.iter().any(|r| r.erased && r.visitor_id.is_none() && r.page.is_none()));

    // Filters combine.
    let shop_custom = call(
        &app,
        "GET",
        "/api/v1/admin/records?site=shop&granted=analytics&limit=500",
        Some(&auditor),
        None,
    )
    .await
    .json();
    let rows: Vec<RecordRow> = serde_json::from_value(shop_custom["records"].clone()).expect("rows");
    assert!(!rows.is_empty());
    assert!(rows.iter().all(|r| r.site == "shop" && r.granted.contains(&"analytics".to_owned())));
    let by_visitor =
        call(&app, "GET", &format!("/api/v1/admin/records?visitor={}", vids[2]), Some(&auditor), None).await;
    assert_eq!(by_visitor.json()["records"].as_array().map(Vec::len), Some(1));
    let bad = call(&app, "GET", "/api/v1/admin/records?from=tomorrow", Some(&auditor), None).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.json()["error"]["message"].as_str().unwrap_or_default().contains("YYYY-MM-DD"));

    let mut expected = seen.clone();
    expected.sort_by_key(|r| r.id);
    let csv = call(&app, "GET", "/api/v1/admin/export?format=csv", Some(&auditor), None).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(csv.header("content-type").unwrap_or_default().starts_with("text/csv"));
    assert!(csv.header("content-disposition").unwrap_or_default().contains("attachment"));
    assert_eq!(parse_csv(&csv.text()), expected, "CSV parses back to the same records");
    let nd = call(&app, "GET", "/api/v1/admin/export?format=ndjson", Some(&auditor), None).await;
    let parsed: Vec<RecordRow> =
        nd.text().lines().map(|l| serde_json::from_str(l).expect("ndjson line")).collect();
    assert_eq!(parsed, expected, "NDJSON parses back to the same records");

    let filtered =
        call(&app, "GET", "/api/v1/admin/export?format=ndjson&action=reject_all", Some(&auditor), None).await;
    let lines: Vec<RecordRow> =
        filtered.text().lines().map(|l| serde_json::from_str(l).expect("line")).collect();
    assert_eq!(lines.len(), expected.iter().filter(|r| r.action == "reject_all").count());
    let wrong = call(&app, "GET", "/api/v1/admin/export?format=xml", Some(&auditor), None).await;
    assert_eq!(wrong.error_code(), "invalid_format");
}

#[tokio::test]
async fn receipt_carries_every_iso_27560_field() {
    let app = TestApp::new().await;
    let auditor = token(&app, "auditor", Role::Auditor).await;
    let first = record(&app, VID, "default", "custom", &["analytics"]).await;
    let id = first["record_id"].as_i64().expect("id");
    let r =
        call(&app, "GET", &format!("/api/v1/admin/records/{id}/receipt"), Some(&auditor), None).await.json();
    for field in [
        "schema_version",
        "record_id",
        "pii_principal_id",
        "pii_controller",
        "notice",
        "language",
        "purposes",
        "jurisdiction",
        "collection_method",
        "timestamp",
        "validity",
        "state",
    ] {
        assert!(!r[field].is_null(), "receipt lacks {field}: {r}");
    }
    assert_eq!(r["record_id"], id);
    assert_eq!(r["pii_principal_id"], VID);
    assert_eq!(r["pii_controller"]["name"], "The operator of this site");
    assert_eq!(r["notice"]["policy_version"], "2023-07-05");
    assert_eq!(r["notice"]["policy_hash"].as_str().map(str::len), Some(64));
    assert!(r["notice"]["policy_url"].as_str().unwrap_or_default().ends_with("/privacy"));
    assert_eq!(r["language"], "en");
    let purposes = r["purposes"].as_array().expect("purposes");
    let state = |k: &str| purposes.iter().find(|p| p["category"] == k).map(|p| p["granted"].clone());
    assert_eq!(state("analytics"), Some(json!(true)));
    assert_eq!(state("marketing"), Some(json!(false)));
    assert_eq!(state("necessary"), Some(json!(true)));
    assert_eq!(r["jurisdiction"]["rule"], "gdpr");
    assert_eq!(r["collection_method"]["action"], "custom");
    assert_eq!(r["timestamp"], first["recorded_at"]);
    assert_eq!(r["validity"]["valid_until"], first["expires_at"]);
    assert_eq!(r["state"], "active");
    assert_eq!(r["record_hash"].as_str().map(str::len), Some(64));

    // A later choice supersedes it; erasure shows in the receipt without the identifier.
    record(&app, VID, "default", "withdraw", &[]).await;
    let r =
        call(&app, "GET", &format!("/api/v1/admin/records/{id}/receipt"), Some(&auditor), None).await.json();
    assert_eq!(r["state"], "superseded");
    app.state.ledger.erase_visitor(VisitorId::parse(VID).expect("vid")).await.expect("erase");
    let r =
        call(&app, "GET", &format!("/api/v1/admin/records/{id}/receipt"), Some(&auditor), None).await.json();
    assert_eq!((r["state"].as_str(), r["pii_principal_id"].is_null()), (Some("erased"), true));
    let missing = call(&app, "GET", "/api/v1/admin/records/999/receipt", Some(&auditor), None).await;
    assert_eq!(missing.error_code(), "unknown_record");
}

async fn chained_app(n: usize) -> TestApp {
    let app = TestApp::new().await;
    for i in 0..n {
        record(
            &app,
            &format!("{i:032x}"),
            "default",
            if i % 2 == 0 { "accept_all" } else { "reject_all" },
            &[],
        )
        .await;
    }
    let report = verify(&app).await;
    assert_eq!((report.checked, report.finding.clone()), (n as u64, None), "a fresh chain verifies");
    app
}

#[tokio::test]
async fn verify_names_an_updated_record() {
    let app = chained_app(8).await;
    let mut db = raw_db(&app).await;
    // What record 4 granted, pointed at another (possibly new) list of categories.
    for sql in [
        "INSERT OR IGNORE INTO record_choices (granted, denied) VALUES ('necessary,marketing', 'x')",
        "UPDATE consent_records SET choice_id = \
         (SELECT id FROM record_choices WHERE granted = 'necessary,marketing' AND denied = 'x') WHERE id = 4",
    ] {
        sqlx::query(sql).execute(&mut db).await.expect("tamper");
    }
    assert_eq!(verify(&app).await.finding, Some(Finding::Altered { id: 4 }));
}

#[tokio::test]
async fn verify_names_the_first_record_of_an_altered_shared_row() {
    // Contexts and choices are shared by many records: rewriting one alters all of them, and
    // the first is named.
    let app = chained_app(6).await;
    let mut db = raw_db(&app).await;
    let first: i64 = sqlx::query_scalar(
        "SELECT MIN(id) FROM consent_records WHERE context_id = \
         (SELECT context_id FROM consent_records WHERE id = 3)",
    )
    .fetch_one(&mut db)
    .await
    .expect("first");
    sqlx::query(
        "UPDATE record_contexts SET policy_version = '1999-01-01' \
         WHERE id = (SELECT context_id FROM consent_records WHERE id = 3)",
    )
    .execute(&mut db)
    .await
    .expect("tamper");
    assert_eq!(verify(&app).await.finding, Some(Finding::Altered { id: first }));
}

#[tokio::test]
async fn verify_names_a_changed_identifier() {
    let app = chained_app(5).await;
    let mut db = raw_db(&app).await;
    sqlx::query("UPDATE consent_records SET visitor_id = randomblob(16) WHERE id = 2")
        .execute(&mut db)
        .await
        .expect("tamper");
    assert_eq!(verify(&app).await.finding, Some(Finding::Altered { id: 2 }));
}

#[tokio::test]
async fn verify_names_a_deleted_record_and_a_deleted_tail() {
    let app = chained_app(8).await;
    let mut db = raw_db(&app).await;
    sqlx::query("DELETE FROM consent_records WHERE id = 5").execute(&mut db).await.expect("tamper");
    assert_eq!(verify(&app).await.finding, Some(Finding::Deleted { first_missing: 5, count: 1 }));

    let app = chained_app(6).await;
    let mut db = raw_db(&app).await;
    sqlx::query("DELETE FROM consent_records WHERE id >= 5").execute(&mut db).await.expect("tamper");
    assert_eq!(verify(&app).await.finding, Some(Finding::Deleted { first_missing: 5, count: 2 }));
}

#[tokio::test]
async fn verify_names_reordered_records() {
    let app = chained_app(8).await;
    let mut db = raw_db(&app).await;
    for sql in [
        "UPDATE consent_records SET id = -3 WHERE id = 3",
        "UPDATE consent_records SET id = 3 WHERE id = 6",
        "UPDATE consent_records SET id = 6 WHERE id = -3",
    ] {
        sqlx::query(sql).execute(&mut db).await.expect("swap");
    }
    assert_eq!(verify(&app).await.finding, Some(Finding::Reordered { id: 3, chained_after: 5 }));
}

#[tokio::test]
async fn the_published_head_advances_and_the_database_refuses_in_place_changes() {
    let app = chained_app(3).await;
    let head = app.get("/api/v1/ledger/head").await.json();
    assert_eq!(head["count"], 3);
    assert_eq!(head["hash"].as_str().map(str::len), Some(64));
    record(&app, VID, "default", "accept_all", &[]).await;
    let next = app.get("/api/v1/ledger/head").await.json();
    assert_eq!(next["count"], 4);
    assert_ne!(next["hash"], head["hash"]);
    let published: [u8; 32] = hex_bytes(head["hash"].as_str().expect("hash")).try_into().expect("32 bytes");
    assert!(app.state.ledger.contains_link(Some(3), &published).await.expect("lookup"));
    assert!(!app.state.ledger.contains_link(Some(2), &published).await.expect("lookup"));

    // Without dropping the triggers, the database itself refuses tampering.
    accord::audit::append(
        app.state.ledger.as_ref(),
        accord::audit::Actor::Cli,
        "test",
        "t".into(),
        "".into(),
        None,
    )
    .await
    .expect("audit entry");
    let url = format!("sqlite://{}", app.db_path().display());
    let mut db = sqlx::SqliteConnection::connect(&url).await.expect("open");
    for sql in [
        "UPDATE consent_records SET choice_id = choice_id + 1 WHERE id = 1",
        "UPDATE consent_records SET recorded_at = recorded_at + 1 WHERE id = 1",
        "UPDATE record_choices SET granted = ''",
        "DELETE FROM consent_records WHERE id = 1",
        "DELETE FROM audit_log",
    ] {
        assert!(sqlx::query(sql).execute(&mut db).await.is_err(), "{sql} must be refused");
    }
}

fn hex_bytes(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex")).collect()
}

/// Bytes of the database file and its WAL.
fn db_bytes(app: &TestApp) -> Vec<u8> {
    let mut all = std::fs::read(app.db_path()).expect("db");
    if let Ok(wal) = std::fs::read(app.db_path().with_extension("db-wal")) {
        all.extend(wal);
    }
    all
}

#[tokio::test]
async fn erasure_from_preferences_unlinks_the_visitor_and_keeps_the_chain_verifiable() {
    let app = TestApp::builder().site("shop", &["https://shop.example"]).build().await;
    record(&app, OTHER, "default", "accept_all", &[]).await;
    let first = record(&app, VID, "default", "custom", &["analytics"]).await;
    record(&app, VID, "shop", "accept_all", &[]).await;
    record(&app, OTHER, "default", "reject_all", &[]).await;
    let cookie = format!("accord_consent={}", first["cookie"].as_str().expect("cookie"));

    // Download: the visitor's history on every site.
    let dl = app
        .send(Request::get("/preferences/history").header("cookie", &cookie).body(Body::empty()).expect("r"))
        .await;
    assert_eq!(dl.status, StatusCode::OK);
    assert!(dl.header("content-disposition").unwrap_or_default().contains("attachment"));
    let history = dl.json();
    assert_eq!(history["visitor_id"], VID);
    assert_eq!(history["records"].as_array().map(Vec::len), Some(2));
    let prefs = app
        .send(Request::get("/preferences").header("cookie", &cookie).body(Body::empty()).expect("r"))
        .await;
    assert!(prefs.text().contains("action=\"/preferences/erase\""), "the erase form is offered");

    // A cross-site form cannot erase anyone.
    let forged = app
        .send(
            Request::post("/preferences/erase")
                .header("cookie", &cookie)
                .header("sec-fetch-site", "cross-site")
                .body(Body::empty())
                .expect("r"),
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);

    let res = app
        .send(Request::post("/preferences/erase").header("cookie", &cookie).body(Body::empty()).expect("r"))
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(res.header("location"), Some("/preferences?erased=1"));
    let set = res.header("set-cookie").unwrap_or_default();
    assert!(set.starts_with("accord_consent=") && set.contains("Max-Age=0"), "cookie forgotten: {set}");

    let report = verify(&app).await;
    assert_eq!((report.finding, report.checked), (None, 4), "the chain still verifies after erasure");
    let vid = VisitorId::parse(VID).expect("vid");
    assert!(app.state.ledger.latest(vid, "default").await.expect("latest").is_none());
    let mut db = raw_db(&app).await;
    let left: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM consent_records WHERE visitor_id IS NULL AND subject_salt IS NULL \
         AND page IS NULL AND ip_reduced IS NULL AND ua_family IS NULL AND erased_at IS NOT NULL",
    )
    .fetch_one(&mut db)
    .await
    .expect("count");
    assert_eq!(left, 2, "both records kept, without identifiers");
    drop(db);
    // No trace of the visitor id anywhere in the database or its WAL (records, audit log, free pages).
    let bytes = db_bytes(&app);
    assert!(!bytes.windows(16).any(|w| w == vid.as_bytes()), "the raw visitor id is still stored");
    assert!(!bytes.windows(32).any(|w| w == VID.as_bytes()), "the visitor id in hex is still stored");
    assert!(
        bytes.windows(16).any(|w| w == VisitorId::parse(OTHER).expect("o").as_bytes()),
        "others untouched"
    );
    let audit = audit_actions(&app).await;
    assert!(audit.contains(&("visitor".to_owned(), "visitor.erase".to_owned())));
    assert!(audit.contains(&("visitor".to_owned(), "visitor.download".to_owned())));

    let again = app
        .send(Request::post("/preferences/erase").header("cookie", &cookie).body(Body::empty()).expect("r"))
        .await;
    assert_eq!(again.header("location"), Some("/preferences?erased=0"));
    let page = app.get("/preferences?erased=1").await.text();
    assert!(page.contains("role=\"status\""));
}

fn old_record(days_ago: i64, i: u8) -> NewRecord {
    let now = accord::audit::now_ms();
    let at = now - days_ago * 86_400_000;
    NewRecord {
        visitor_id: VisitorId([i; 16]),
        site: "default".into(),
        action: Action::AcceptAll,
        source: Source::Api,
        granted: vec!["necessary".into(), "analytics".into()],
        denied: vec![],
        policy_version: "2023-07-05".into(),
        registry_version: "2023-07-05".into(),
        language: "en".into(),
        page: "/".into(),
        ip_reduced: Some("192.0.2.0/24".into()),
        ua_family: "firefox".into(),
        recorded_at_ms: at,
        region: Some("DE".into()),
        jurisdiction: "gdpr".into(),
        rule_version: "test".into(),
        gpc_applied: false,
        expires_at_ms: at + 365 * 86_400_000,
    }
}

#[tokio::test]
async fn purge_drops_old_records_behind_a_checkpoint_and_the_rest_still_verifies() {
    let app = TestApp::new().await;
    let admin = token(&app, "root", Role::Admin).await;
    for (i, days) in [1500, 1400, 1200, 10, 5].into_iter().enumerate() {
        app.state.ledger.append(old_record(days, i as u8 + 1)).await.expect("append");
    }
    let res = call(&app, "POST", "/api/v1/admin/purge", Some(&admin), None).await;
    assert_eq!(res.status, StatusCode::OK, "{}", res.text());
    assert_eq!(res.json(), json!({"purged": 3, "through_id": 3}));
    let report = verify(&app).await;
    assert_eq!(report.finding, None);
    assert_eq!((report.checkpoint_through, report.checked, report.head_count), (3, 2, 5));
    assert_eq!(app.get("/api/v1/ledger/head").await.json()["count"], 5, "purged records still count");
    // Identifiers of purged records are gone from the file too (secure_delete).
    let url = format!("sqlite://{}", app.db_path().display());
    let mut db = sqlx::SqliteConnection::connect(&url).await.expect("open");
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(&mut db).await.expect("checkpoint");
    let bytes = db_bytes(&app);
    assert!(!bytes.windows(16).any(|w| w == [1u8; 16]), "a purged visitor id is still in the file");
    drop(db);

    // The chain goes on from the checkpoint; a second purge has nothing to do.
    record(&app, VID, "default", "accept_all", &[]).await;
    assert_eq!(verify(&app).await.finding, None);
    let again = call(&app, "POST", "/api/v1/admin/purge", Some(&admin), None).await.json();
    assert_eq!(again["purged"], 0);
    // Deleting past the checkpoint is still refused by the database.
    let mut db = sqlx::SqliteConnection::connect(&url).await.expect("open");
    assert!(sqlx::query("DELETE FROM consent_records WHERE id = 4").execute(&mut db).await.is_err());
}

#[tokio::test]
async fn dashboard_counts_opt_in_rates_per_category_jurisdiction_and_day() {
    let app = TestApp::new().await;
    let auditor = token(&app, "auditor", Role::Auditor).await;
    for (i, (action, granted)) in
        [("accept_all", &[][..]), ("accept_all", &[]), ("reject_all", &[]), ("custom", &["analytics"])]
            .into_iter()
            .enumerate()
    {
        record(&app, &format!("{i:032x}"), "default", action, granted).await;
    }
    let d = call(&app, "GET", "/api/v1/admin/dashboard", Some(&auditor), None).await.json();
    assert_eq!(d["totals"]["records"], 4);
    assert_eq!(d["totals"]["accept_all"], 2);
    let rate = |k: &str| {
        d["categories"]
            .as_array()
            .and_then(|c| c.iter().find(|r| r["category"] == k))
            .map(|r| (r["granted"].as_u64().unwrap_or(99), r["decided"].as_u64().unwrap_or(99)))
    };
    assert_eq!(rate("analytics"), Some((3, 4)));
    assert_eq!(rate("marketing"), Some((2, 4)));
    assert_eq!(d["by_day"].as_array().map(Vec::len), Some(30), "every day of the default period");
    assert_eq!(d["by_jurisdiction"][0]["label"], "gdpr");
    assert_eq!(d["head"]["count"], 4);
    let bad =
        call(&app, "GET", "/api/v1/admin/dashboard?from=2020-01-01&to=2026-01-01", Some(&auditor), None)
            .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

/// Signs in through the admin area's form; returns the session cookie.
async fn sign_in(app: &TestApp, token: &str) -> String {
    let page = app.get("/admin/sign-in").await;
    assert_eq!(page.status, StatusCode::OK);
    let login = page.header("set-cookie").expect("login cookie").split(';').next().expect("pair").to_owned();
    let html = page.text();
    let csrf = csrf_of(&html);
    let res = app
        .send(
            Request::post("/admin/sign-in")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("cookie", &login)
                .body(Body::from(format!("token={token}&csrf={csrf}&next=%2Fadmin%2Frecords")))
                .expect("r"),
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(res.header("location"), Some("/admin/records"));
    let session = res
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("accord_admin="))
        .expect("session cookie")
        .to_owned();
    for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(session.contains(flag), "session cookie lacks {flag}: {session}");
    }
    assert!(!session.contains("Secure"), "plain http in tests: no Secure flag");
    session.split(';').next().expect("pair").to_owned()
}

fn csrf_of(html: &str) -> String {
    let at = html.find("name=\"csrf\"").expect("a csrf field");
    let rest = &html[at..];
    let v = rest.find("value=\"").expect("value") + 7;
    rest[v..v + 64].to_owned()
}

async fn form(app: &TestApp, uri: &str, cookie: &str, body: &str) -> TestResponse {
    app.send(
        Request::post(uri)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", cookie)
            .body(Body::from(body.to_owned()))
            .expect("r"),
    )
    .await
}

#[tokio::test]
async fn admin_area_sessions_and_csrf() {
    let app = TestApp::new().await;
    record(&app, VID, "default", "accept_all", &[]).await;
    let admin = token(&app, "root", Role::Admin).await;

    let anon = app.get("/admin/records").await;
    assert_eq!(anon.status, StatusCode::SEE_OTHER);
    assert_eq!(anon.header("location"), Some("/admin/sign-in?next=%2Fadmin%2Frecords"));

    // A wrong token, and a sign-in form without its login cookie, open no session.
    let page = app.get("/admin/sign-in").await;
    let csrf = csrf_of(&page.text());
    let no_cookie = form(&app, "/admin/sign-in", "", &format!("token={admin}&csrf={csrf}")).await;
    assert!(no_cookie.header("location").unwrap_or_default().contains("error=expired"));
    assert!(no_cookie.header("set-cookie").is_none());
    let login = page.header("set-cookie").expect("login").split(';').next().expect("p").to_owned();
    let wrong =
        form(&app, "/admin/sign-in", &login, &format!("token=acc_{}&csrf={csrf}", "0".repeat(64))).await;
    assert!(wrong.header("location").unwrap_or_default().contains("error=invalid_token"));
    assert!(audit_actions(&app).await.contains(&("unknown".to_owned(), "sign_in.failed".to_owned())));

    let session = sign_in(&app, &admin).await;
    let get = |uri: &'static str| {
        let session = session.clone();
        let app = &app;
        async move { app.send(Request::get(uri).header("cookie", session).body(Body::empty()).expect("r")).await }
    };
    let records = get("/admin/records").await;
    assert_eq!(records.status, StatusCode::OK);
    assert_eq!(records.header("cache-control"), Some("no-store"));
    let html = records.text();
    assert!(html.contains(VID), "the records page lists the record");
    assert!(html.contains("/api/v1/admin/export?format=csv"));
    let dash = get("/admin").await.text();
    assert!(dash.contains("<svg"), "server-rendered charts");
    assert!(!dash.contains("accord-banner"), "no consent banner in the admin area");
    assert_eq!(get("/admin/records/1").await.status, StatusCode::OK);
    assert_eq!(get("/admin/records/77").await.status, StatusCode::NOT_FOUND);
    let csrf = csrf_of(&get("/admin/tokens").await.text());

    // CSRF: a form post without the session's token, or from another site, changes nothing.
    let tokens_before = app.state.ledger.list_tokens().await.expect("list").len();
    let forged = form(&app, "/admin/tokens", &session, "name=evil&role=admin&csrf=00").await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(forged.error_code(), "csrf");
    let cross = app
        .send(
            Request::post("/admin/tokens")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("cookie", &session)
                .header("sec-fetch-site", "cross-site")
                .body(Body::from(format!("name=evil&role=admin&csrf={csrf}")))
                .expect("r"),
        )
        .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    let api = app
        .send(
            Request::post("/api/v1/admin/tokens")
                .header("content-type", "application/json")
                .header("cookie", &session)
                .body(Body::from(r#"{"name":"evil","role":"admin"}"#))
                .expect("r"),
        )
        .await;
    assert_eq!((api.status, api.error_code()), (StatusCode::FORBIDDEN, "csrf".to_owned()));
    assert_eq!(app.state.ledger.list_tokens().await.expect("list").len(), tokens_before);

    // With the token: created, shown once on the next page, never again.
    let ok = form(&app, "/admin/tokens", &session, &format!("name=ops&role=auditor&csrf={csrf}")).await;
    assert_eq!((ok.status, ok.header("location")), (StatusCode::SEE_OTHER, Some("/admin/tokens")));
    let shown = get("/admin/tokens").await.text();
    let at = shown.find("acc_").expect("the new token is shown");
    let new_token = shown[at..at + 68].to_owned();
    assert!(accord::auth::is_token_syntax(&new_token));
    assert!(!get("/admin/tokens").await.text().contains(&new_token), "shown once only");
    let via_header = app
        .send(
            Request::post("/api/v1/admin/purge")
                .header("cookie", &session)
                .header("x-csrf-token", &csrf)
                .body(Body::empty())
                .expect("r"),
        )
        .await;
    assert_eq!(via_header.status, StatusCode::OK, "a session with its CSRF header may use the API");

    // An auditor's session sees no token management.
    let auditor_session = sign_in(&app, &new_token).await;
    let t = app
        .send(
            Request::get("/admin/tokens").header("cookie", &auditor_session).body(Body::empty()).expect("r"),
        )
        .await;
    assert_eq!(t.status, StatusCode::FORBIDDEN);

    // Sign-out ends the session.
    let out = form(&app, "/admin/sign-out", &session, &format!("csrf={csrf}")).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert_eq!(get("/admin").await.status, StatusCode::SEE_OTHER);
    let actions: Vec<String> = audit_actions(&app).await.into_iter().map(|(_, a)| a).collect();
    for a in ["sign_in", "sign_out", "token.create", "records.search", "dashboard.view", "receipt.view"] {
        assert!(actions.iter().any(|x| x == a), "audit log lacks {a}");
    }
}

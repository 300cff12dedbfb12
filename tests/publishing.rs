//! Policy and registry versions: a minor change keeps consents, a material one asks again.

use accord_tests::{consent_body, TestApp};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;

const VID: &str = "0123456789abcdef0123456789abcdef";

fn policy(version: &str, summary: &str) -> String {
    format!(
        "+++\nversion = \"{version}\"\neffective_date = \"2026-12-01\"\ntitle = \"Privacy policy\"\n\n\
         [[changelog]]\nversion = \"{version}\"\ndate = \"2026-12-01\"\nmaterial = false\nsummary = \"{summary}\"\n+++\n\
         ## What we collect\n\nLess than before.\n"
    )
}

async fn page_with_cookie(app: &TestApp, cookie: &str) -> String {
    app.send(
        Request::get("/")
            .header("cookie", format!("accord_consent={cookie}"))
            .body(Body::empty())
            .expect("req"),
    )
    .await
    .text()
}

#[tokio::test]
async fn minor_change_keeps_consents_and_material_change_brings_the_banner_back() {
    let app = TestApp::new().await;
    let mut body = consent_body("accept_all", &[]);
    body["visitor_id"] = json!(VID);
    let first = app.post_json("/api/v1/consents", &body).await.json();
    let cookie = first["cookie"].as_str().expect("cookie").to_owned();
    assert!(!page_with_cookie(&app, &cookie).await.contains("id=\"accord-banner\""));

    // Minor: a typo fix. Earlier consents stay valid everywhere.
    accord::content::publish_policy(app.state.ledger.as_ref(), &policy("2026-12-01", "Typo fixed"), false)
        .await
        .expect("publish");
    assert!(accord::server::reload_content(&app.state).await.expect("reload"));
    let cfg = app.get("/api/v1/config?site=default").await.json();
    assert_eq!(cfg["policy"]["version"], "2026-12-01");
    assert_eq!(cfg["policy"]["valid_versions"], json!(["2023-07-05", "2026-12-01"]));
    assert!(!page_with_cookie(&app, &cookie).await.contains("id=\"accord-banner\""), "minor: no banner");
    let d = app.get(&format!("/api/v1/visitors/{VID}/decision?site=default")).await.json();
    assert_eq!(d["valid"], true);
    assert_eq!(d["current_policy_version"], "2026-12-01");
    assert_eq!(
        app.post_json("/api/v1/consents", &body).await.status,
        StatusCode::CREATED,
        "old version still accepted"
    );
    let privacy = app.get("/privacy").await.text();
    assert!(privacy.contains("Typo fixed"), "the changelog is shown");

    // Material: consents under earlier versions are asked again.
    accord::content::publish_policy(app.state.ledger.as_ref(), &policy("2027-01-01", "New purposes"), true)
        .await
        .expect("publish");
    assert!(accord::server::reload_content(&app.state).await.expect("reload"));
    assert!(
        page_with_cookie(&app, &cookie).await.contains("id=\"accord-banner\""),
        "material: the banner returns"
    );
    let d = app.get(&format!("/api/v1/visitors/{VID}/decision?site=default&category=analytics")).await.json();
    assert_eq!(d["valid"], false);
    assert_eq!(d["allowed"], false);
    let stale = app.post_json("/api/v1/consents", &body).await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert_eq!(stale.error_code(), "stale_policy_version");
    body["policy_version"] = json!("2027-01-01");
    let renewed = app.post_json("/api/v1/consents", &body).await.json();
    assert_eq!(renewed["policy_version"], "2027-01-01", "the record names the exact version");

    let dup =
        accord::content::publish_policy(app.state.ledger.as_ref(), &policy("2027-01-01", "again"), false)
            .await;
    assert!(dup.expect_err("duplicate").to_string().contains("already published"));
}

#[tokio::test]
async fn material_registry_change_publishes_a_policy_revision() {
    let app = TestApp::new().await;
    let shipped = std::fs::read_to_string(accord_tests::workspace_root().join("content/cookies.toml"))
        .expect("registry");
    let next = shipped.replacen("registry_version = \"2023-07-05\"", "registry_version = \"2026-12-15\"", 1);
    assert_ne!(shipped, next, "the shipped registry names its version");
    let (reg, revision) =
        accord::content::publish_registry(app.state.ledger.as_ref(), &next, true, "adds a chat provider")
            .await
            .expect("publish");
    assert_eq!(reg.version, "2026-12-15");
    let revision = revision.expect("a material registry change revises the policy");
    assert_eq!(revision.version, "2026-12-15");
    accord::server::reload_content(&app.state).await.expect("reload");
    let cfg = app.get("/api/v1/config?site=default").await.json();
    assert_eq!(cfg["policy"]["version"], "2026-12-15");
    assert_eq!(cfg["policy"]["valid_versions"], json!(["2026-12-15"]));
    assert!(app.get("/privacy").await.text().contains("adds a chat provider"));
}

async fn admin_post(
    app: &TestApp,
    path: &str,
    token: Option<&str>,
    body: &serde_json::Value,
) -> accord_tests::TestResponse {
    let mut req = Request::post(path).header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    app.send(req.body(Body::from(body.to_string())).expect("req")).await
}

#[tokio::test]
async fn admin_api_publishes_only_for_admin_tokens() {
    let app = TestApp::new().await;
    let ledger = app.state.ledger.as_ref();
    let (_, admin) = accord::auth::create(ledger, "ops", accord::auth::Role::Admin).await.expect("token");
    let (_, auditor) =
        accord::auth::create(ledger, "audit", accord::auth::Role::Auditor).await.expect("token");
    let body = json!({"source": policy("2027-02-01", "Material"), "material": true});
    let url = "/api/v1/admin/policies";

    let none = admin_post(&app, url, None, &body).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(none.error_code(), "unauthorized");
    assert_eq!(none.header("www-authenticate"), Some("Bearer"));
    let malformed = admin_post(&app, url, Some("let-me-in"), &body).await;
    assert_eq!(malformed.status, StatusCode::UNAUTHORIZED);
    let unknown = admin_post(&app, url, Some(&accord::auth::generate_token()), &body).await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    let read_only = admin_post(&app, url, Some(&auditor), &body).await;
    assert_eq!(read_only.status, StatusCode::FORBIDDEN);
    assert_eq!(read_only.error_code(), "forbidden");
    let who = app
        .send(
            Request::get("/api/v1/admin/whoami")
                .header("authorization", format!("Bearer {auditor}"))
                .body(Body::empty())
                .expect("req"),
        )
        .await;
    assert_eq!(who.json()["role"], "auditor", "auditors may read");

    let ok = admin_post(&app, url, Some(&admin), &body).await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.text());
    assert_eq!(ok.json()["valid_versions"], json!(["2027-02-01"]), "material: only the new version counts");
    let cfg = app.get("/api/v1/config?site=default").await.json();
    assert_eq!(cfg["policy"]["version"], "2027-02-01", "live at once");
    let again = admin_post(&app, url, Some(&admin), &body).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(again.error_code(), "version_exists");
    let broken =
        admin_post(&app, url, Some(&admin), &json!({"source": "no front matter", "material": false})).await;
    assert_eq!(broken.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(broken.error_code(), "invalid_content");

    // Tokens are stored hashed, and a revoked token stops working.
    let db = std::fs::read(app.db_path()).expect("db");
    let wal = std::fs::read(app.db_path().with_extension("db-wal")).unwrap_or_default();
    let all = [db, wal].concat();
    assert!(!String::from_utf8_lossy(&all).contains(&admin), "the plain token is never stored");
    let id = ledger.list_tokens().await.expect("list").into_iter().find(|t| t.name == "ops").expect("ops").id;
    assert!(ledger.revoke_token(id).await.expect("revoke"));
    let revoked =
        admin_post(&app, url, Some(&admin), &json!({"source": policy("2027-03-01", "x"), "material": false}))
            .await;
    assert_eq!(revoked.status, StatusCode::UNAUTHORIZED);
}

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

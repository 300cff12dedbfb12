//! The embed is what every visitor of every embedding site downloads: its served size is
//! measured here (gzip, as the server sends it) and held to the budget in tests/budgets.json.

use accord_tests::{workspace_root, TestApp};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use std::io::Read;

#[tokio::test]
async fn served_embed_script_fits_the_gzip_budget() {
    let app = TestApp::new().await;
    let res = app
        .send(
            Request::get("/embed/consent.js")
                .header("accept-encoding", "gzip")
                .body(Body::empty())
                .expect("req"),
        )
        .await;
    assert_eq!(res.status, StatusCode::OK);
    assert_eq!(res.header("content-encoding"), Some("gzip"), "the script is served compressed");
    assert!(
        res.header("content-type").is_some_and(|t| t.contains("javascript")),
        "{:?}",
        res.header("content-type")
    );
    assert!(res.header("cache-control").is_some_and(|c| c.contains("max-age")), "cacheable");

    // What was sent is exactly the script in the repository (styles are inside it).
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&res.body[..]).read_to_end(&mut plain).expect("valid gzip");
    let source = std::fs::read(workspace_root().join("public/embed/consent.js")).expect("source");
    assert_eq!(plain, source);

    let budgets: serde_json::Value =
        serde_json::from_slice(&std::fs::read(workspace_root().join("tests/budgets.json")).expect("budgets"))
            .expect("json");
    let budget = budgets["embed_script_gzip_bytes"].as_u64().expect("budget number");
    let sent = res.body.len() as u64;
    println!("embed script: {} bytes raw, {sent} bytes gzip as served (budget {budget})", plain.len());
    assert!(sent <= budget, "embed script is {sent} gzip bytes, over the {budget}-byte budget");
}

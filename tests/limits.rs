//! Abuse resistance and security headers: per-IP and per-site rate limits, CSP with nonces,
//! frame-ancestors, nosniff, Referrer-Policy, HSTS behind TLS.

use accord_tests::{consent_body, TestApp, TestResponse};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use std::time::{Duration, Instant};

async fn post_from(app: &TestApp, from: &str, body: &serde_json::Value) -> TestResponse {
    let req = Request::post("/api/v1/consents")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .expect("request");
    app.send_from(from, req).await
}

#[tokio::test]
async fn one_flooding_client_is_limited_while_another_is_served() {
    let app = TestApp::builder()
        .configure(|c| {
            c.rate_limit.enabled = true;
            c.rate_limit.per_ip_per_second = 5;
            c.rate_limit.per_ip_burst = 10;
        })
        .build()
        .await;
    let body = consent_body("accept_all", &[]);
    let mut limited = None;
    let mut accepted = 0;
    for _ in 0..200 {
        let r = post_from(&app, "198.51.100.1:1000", &body).await;
        match r.status {
            StatusCode::CREATED => accepted += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                limited = Some(r);
                break;
            }
            s => panic!("unexpected {s}: {}", r.text()),
        }
    }
    let limited = limited.expect("the flood is limited");
    assert!(accepted >= 10, "the burst is served first ({accepted})");
    assert_eq!(limited.error_code(), "rate_limited");
    let retry: u64 = limited.header("retry-after").and_then(|v| v.parse().ok()).expect("Retry-After");
    assert!((1..=60).contains(&retry));

    // While the flooder is refused, another client is served at once.
    let started = Instant::now();
    for i in 0..10 {
        let r = post_from(&app, "198.51.100.2:1000", &body).await;
        assert_eq!(r.status, StatusCode::CREATED, "request {i} of another client: {}", r.text());
        assert_eq!(post_from(&app, "198.51.100.1:1000", &body).await.status, StatusCode::TOO_MANY_REQUESTS);
    }
    // Generous bound: "quickly" means never queued behind the flood (no sleeping, no waiting).
    assert!(started.elapsed() < Duration::from_secs(5));
    // IPv6 clients are limited per /64, so address rotation does not escape the limit.
    for i in 0..11 {
        let r = post_from(&app, &format!("[2001:db8:1:2::{:x}]:1000", i + 1), &body).await;
        if i == 10 {
            assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "the 11th address of one /64");
        }
    }
    // Reads of other endpoints by the flooder are limited too; the admin API is not counted.
    let health =
        app.send_from("198.51.100.1:1000", Request::get("/healthz").body(Body::empty()).expect("r")).await;
    assert_eq!(health.status, StatusCode::OK, "health checks are not rate limited");
}

#[tokio::test]
async fn one_flooded_site_does_not_starve_another() {
    let app = TestApp::builder()
        .site("shop", &["https://shop.example"])
        .configure(|c| {
            c.rate_limit.enabled = true;
            c.rate_limit.per_site_per_second = 5;
            c.rate_limit.per_site_burst = 20;
        })
        .build()
        .await;
    let mut shop_limited = false;
    for i in 0..100 {
        // Many addresses: the per-IP limit is not what stops them.
        let req = Request::get("/api/v1/config?site=shop").body(Body::empty()).expect("r");
        let r = app.send_from(&format!("192.0.2.{}:1000", i % 250 + 1), req).await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            shop_limited = true;
            break;
        }
    }
    assert!(shop_limited, "the flooded site is limited");
    let other = app.get("/api/v1/config?site=default").await;
    assert_eq!(other.status, StatusCode::OK, "the other site is served");
}

#[tokio::test]
async fn pages_carry_a_nonce_csp_and_the_api_a_deny_all_policy() {
    let app = TestApp::new().await;
    let page = app.get("/privacy").await;
    let csp = page.header("content-security-policy").expect("page CSP").to_owned();
    let nonce =
        csp.split("'nonce-").nth(1).and_then(|r| r.split('\'').next()).expect("a nonce in the policy");
    assert!(nonce.len() >= 16, "{csp}");
    assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("unsafe-inline"), "{csp}");
    let html = page.text();
    let inline: Vec<&str> = html
        .split("<script")
        .skip(1)
        .map(|s| s.split('>').next().unwrap_or_default())
        .filter(|attrs| !attrs.contains("src="))
        .collect();
    assert!(!inline.is_empty(), "the hydration script is inline");
    for attrs in &inline {
        assert!(
            attrs.contains(&format!("nonce=\"{nonce}\"")),
            "inline script without this response's nonce: {attrs}"
        );
    }
    let again = app.get("/privacy").await;
    assert_ne!(again.header("content-security-policy"), Some(csp.as_str()), "a fresh nonce per response");
    for h in [&page, &again] {
        assert_eq!(h.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(h.header("referrer-policy"), Some("strict-origin-when-cross-origin"));
        assert_eq!(h.header("x-frame-options"), Some("DENY"));
        assert!(h.header("strict-transport-security").is_none(), "no HSTS on plain http");
    }
    let api = app.get("/api/v1/config?site=default").await;
    assert_eq!(api.header("content-security-policy"), Some("default-src 'none'; frame-ancestors 'none'"));
    assert_eq!(api.header("x-content-type-options"), Some("nosniff"));

    let tls = TestApp::builder()
        .configure(|c| c.server.public_url = Some("https://consent.example".into()))
        .build()
        .await;
    let r = tls.get("/api/v1/config?site=default").await;
    assert_eq!(r.header("strict-transport-security"), Some("max-age=31536000; includeSubDomains"));
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let running =
        TestApp::builder().configure(|c| c.server.header_timeout_secs = 1).build().await.spawn().await;
    let addr = running.base.trim_start_matches("http://").to_owned();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.expect("connect");
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.expect("partial headers");
    let started = Instant::now();
    let mut buf = Vec::new();
    // The server closes (possibly after a 408) instead of waiting forever.
    let read = tokio::time::timeout(Duration::from_secs(10), slow.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "still connected after 10 s");
    assert!(started.elapsed() < Duration::from_secs(5), "disconnected after {:?}", started.elapsed());
    // Meanwhile and afterwards, others are served.
    let ok = reqwest::get(running.url("/healthz")).await.expect("get");
    assert_eq!(ok.status(), reqwest::StatusCode::OK);
}

#[tokio::test]
async fn the_embed_script_is_served_precompressed_with_an_etag() {
    let app = TestApp::new().await;
    let source =
        std::fs::read(accord_tests::workspace_root().join("public/embed/consent.js")).expect("source");
    let get = |accept: Option<&'static str>, etag: Option<String>| {
        let app = &app;
        async move {
            let mut req = Request::get("/embed/consent.js");
            if let Some(a) = accept {
                req = req.header("accept-encoding", a);
            }
            if let Some(e) = etag {
                req = req.header("if-none-match", e);
            }
            app.send(req.body(Body::empty()).expect("request")).await
        }
    };
    let plain = get(None, None).await;
    assert_eq!(plain.status, StatusCode::OK);
    assert_eq!(plain.body.as_ref(), source.as_slice(), "identity encoding serves the file as is");
    assert_eq!(plain.header("cache-control"), Some("public, max-age=300"));
    let gz = get(Some("br;q=1.0, gzip;q=0.8"), None).await;
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    let mut unzipped = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(gz.body.as_ref()), &mut unzipped)
        .expect("gzip");
    assert_eq!(unzipped, source, "the gzip body is the file");
    let etag = gz.header("etag").expect("etag").to_owned();
    assert_eq!(plain.header("etag"), Some(etag.as_str()), "one ETag for both encodings of one file");
    let revalidated = get(Some("gzip"), Some(etag)).await;
    assert_eq!(revalidated.status, StatusCode::NOT_MODIFIED);
    assert!(revalidated.body.is_empty());
}

/// The pages' WASM was compressed again on every request (about 45 ms of CPU for 1.2 MB, so a
/// client asking for it in a loop kept a core busy) and never revalidated with a 304.
#[tokio::test]
async fn the_hydration_bundle_is_served_precompressed_and_revalidated() {
    let app = TestApp::builder().built_site().build().await;
    let path = accord_tests::workspace_root().join("target/site/pkg/accord.wasm");
    let source =
        std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (cargo leptos build first)", path.display()));
    let get = |etag: Option<String>| {
        let app = &app;
        async move {
            let mut req = Request::get("/pkg/accord.wasm").header("accept-encoding", "gzip, deflate, br");
            if let Some(e) = etag {
                req = req.header("if-none-match", e);
            }
            app.send(req.body(Body::empty()).expect("request")).await
        }
    };
    let gz = get(None).await;
    assert_eq!(gz.status, StatusCode::OK);
    assert_eq!(gz.header("content-type"), Some("application/wasm"));
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert_eq!(gz.header("cache-control"), Some("no-cache"), "unhashed names: revalidate each time");
    let mut unzipped = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(gz.body.as_ref()), &mut unzipped)
        .expect("gzip");
    assert!(unzipped == source, "the gzip body is the file");
    let revalidated = get(Some(gz.header("etag").expect("etag").to_owned())).await;
    assert_eq!(revalidated.status, StatusCode::NOT_MODIFIED);
    assert!(revalidated.body.is_empty());
    // Only GET and HEAD read files.
    let post = app.send(Request::post("/pkg/accord.wasm").body(Body::empty()).expect("request")).await;
    assert_eq!(post.status, StatusCode::METHOD_NOT_ALLOWED);
}

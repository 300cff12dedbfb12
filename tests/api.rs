//! Consent API, forms and pages against a real SQLite file (in-process through the full
//! router), plus real-socket tests on port 0.

use accord::ledger::sqlite::SqliteLedger;
use accord::ledger::Ledger;
use accord_tests::{consent_body, TestApp};
use app::model::{ConsentCookie, VisitorId};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};

const VID: &str = "0123456789abcdef0123456789abcdef";

async fn record(app: &TestApp, body: &Value) -> Value {
    let res = app.post_json("/api/v1/consents", body).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    res.json()
}

#[tokio::test]
async fn config_describes_categories_cookies_policy_and_texts() {
    let app = TestApp::new().await;
    let res = app.get("/api/v1/config?site=default&lang=en").await;
    assert_eq!(res.status, StatusCode::OK);
    let c = res.json();
    assert_eq!(c["policy"]["version"], "2023-07-05");
    assert_eq!(c["cookie"]["name"], "accord_consent");
    assert_eq!(c["cookie"]["format"], 1);
    let cats = c["categories"].as_array().expect("categories");
    let keys: Vec<&str> = cats.iter().filter_map(|c| c["key"].as_str()).collect();
    assert_eq!(keys, ["necessary", "functional", "analytics", "marketing", "session_recording"]);
    assert_eq!(cats[0]["required"], true);
    assert!(cats[1..].iter().all(|c| c["required"] == false));
    let cookie_names: Vec<&str> = cats
        .iter()
        .flat_map(|c| c["cookies"].as_array().into_iter().flatten())
        .filter_map(|k| k["name"].as_str())
        .collect();
    for name in [
        "_ga",
        "_gid",
        "__hstc",
        "hubspotutk",
        "__stripe_mid",
        "_hjSessionUser",
        "__cfduid",
        "accord_consent",
    ] {
        assert!(cookie_names.contains(&name), "config lacks cookie {name}");
    }
    assert_eq!(c["texts"]["accept_all"], "Accept all");
    assert_eq!(c["texts"]["reject_all"], "Reject all");
    assert!(c["urls"]["privacy"].as_str().is_some_and(|u| u.ends_with("/privacy")));
}

#[tokio::test]
async fn record_then_read_back_decision_and_history() {
    let app = TestApp::new().await;
    let mut body = consent_body("custom", &["analytics"]);
    body["page"] = json!("/pricing?email=someone@example.com#top");
    body["language"] = json!("de-AT");
    let rec = record(&app, &body).await;
    let vid = rec["visitor_id"].as_str().expect("visitor id issued").to_owned();
    assert!(VisitorId::parse(&vid).is_some(), "visitor id is 32 lowercase hex: {vid}");
    assert_eq!(rec["granted"], json!(["necessary", "analytics"]));
    assert_eq!(rec["denied"], json!(["functional", "marketing", "session_recording"]));
    assert_eq!(rec["page"], "/pricing", "query and fragment are never stored");
    assert_eq!(rec["ip_network"], "203.0.113.0/24");
    assert_eq!(rec["language"], "de-AT");
    let cookie = ConsentCookie::parse(rec["cookie"].as_str().expect("cookie")).expect("cookie v1 parses");
    assert_eq!(cookie.visitor_id.to_string(), vid);
    assert_eq!(cookie.granted, vec!["analytics"]);

    let d = app.get(&format!("/api/v1/visitors/{vid}/decision?site=default")).await.json();
    assert_eq!(d["decided"], true);
    assert_eq!(d["valid"], true);
    assert_eq!(d["record_id"], rec["record_id"]);
    assert_eq!(
        d["categories"],
        json!({"necessary": true, "functional": false, "analytics": true, "marketing": false, "session_recording": false})
    );
    let ga =
        app.get(&format!("/api/v1/visitors/{vid}/decision?site=default&category=analytics")).await.json();
    assert_eq!(ga["allowed"], true);
    let crm =
        app.get(&format!("/api/v1/visitors/{vid}/decision?site=default&category=marketing")).await.json();
    assert_eq!(crm["allowed"], false);
    // Percent-encoding in the path means the same id (RFC 3986: `%61` is `a`).
    let encoded: String = vid.bytes().map(|b| format!("%{b:02X}")).collect();
    let same = app.get(&format!("/api/v1/visitors/{encoded}/decision?site=default")).await.json();
    assert_eq!(same["record_id"], rec["record_id"]);

    let h = app.get(&format!("/api/v1/visitors/{vid}/history?site=default")).await.json();
    let records = h["records"].as_array().expect("records");
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["record_id"], rec["record_id"]);
}

#[tokio::test]
async fn visitor_ids_are_random_and_reused_when_given() {
    let app = TestApp::new().await;
    let a = record(&app, &consent_body("reject_all", &[])).await;
    let b = record(&app, &consent_body("reject_all", &[])).await;
    assert_ne!(a["visitor_id"], b["visitor_id"]);
    let mut body = consent_body("accept_all", &[]);
    body["visitor_id"] = json!(VID);
    let c = record(&app, &body).await;
    assert_eq!(c["visitor_id"], VID);
}

#[tokio::test]
async fn acknowledged_consent_is_committed_and_history_is_append_only() {
    let app = TestApp::new().await;
    let mut ids = Vec::new();
    for (action, granted) in [("accept_all", vec![]), ("custom", vec!["marketing"]), ("withdraw", vec![])] {
        let mut body = consent_body(action, &granted);
        body["visitor_id"] = json!(VID);
        ids.push(record(&app, &body).await["record_id"].as_i64().expect("id"));
    }
    // A separate connection to the same file sees every acknowledged record: committed.
    let other = SqliteLedger::open(&app.db_path(), 1).await.expect("open db file");
    let vid = VisitorId::parse(VID).expect("vid");
    let stored = other.history(vid, "default", 100).await.expect("history");
    assert_eq!(stored.iter().map(|r| r.id).collect::<Vec<_>>(), ids);

    let h = app.get(&format!("/api/v1/visitors/{VID}/history?site=default")).await.json();
    let actions: Vec<&str> =
        h["records"].as_array().expect("records").iter().filter_map(|r| r["action"].as_str()).collect();
    assert_eq!(actions, ["accept_all", "custom", "withdraw"]);

    let d = app.get(&format!("/api/v1/visitors/{VID}/decision?site=default")).await.json();
    assert_eq!(d["action"], "withdraw");
    assert_eq!(d["categories"]["analytics"], false);
    assert_eq!(d["categories"]["marketing"], false);
    assert_eq!(d["categories"]["necessary"], true);

    // The database itself refuses to rewrite or delete history.
    for sql in [
        "UPDATE consent_records SET action = 0",
        "DELETE FROM consent_records",
        "UPDATE record_choices SET granted = 'necessary,analytics,marketing'",
        "DELETE FROM record_contexts",
    ] {
        let err = sqlx::query(sql).execute(other.pool()).await.expect_err("append-only");
        assert!(err.to_string().contains("append-only"), "{err}");
    }
    let limited = app.get(&format!("/api/v1/visitors/{VID}/history?site=default&limit=2")).await.json();
    assert_eq!(limited["records"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn the_raw_ip_address_is_never_stored() {
    let app = TestApp::new().await;
    record(&app, &consent_body("accept_all", &[])).await;
    drop(app.state.ledger.ping().await);
    let mut bytes = std::fs::read(app.db_path()).expect("db file");
    if let Ok(wal) = std::fs::read(app.db_path().with_extension("db-wal")) {
        bytes.extend(wal);
    }
    let haystack = String::from_utf8_lossy(&bytes);
    assert!(haystack.contains("203.0.113.0/24"), "the reduced network is stored");
    assert!(!haystack.contains("203.0.113.77"), "the raw address must not be stored");
}

#[tokio::test]
async fn unknown_visitor_has_no_decision_and_nothing_allowed() {
    let app = TestApp::new().await;
    let d = app.get(&format!("/api/v1/visitors/{VID}/decision?site=default&category=analytics")).await;
    assert_eq!(d.status, StatusCode::OK);
    let d = d.json();
    assert_eq!(d["decided"], false);
    assert_eq!(d["valid"], false);
    assert_eq!(d["allowed"], false);
    assert_eq!(d["categories"]["necessary"], true);
    assert_eq!(d["categories"]["analytics"], false);
}

#[tokio::test]
async fn every_validation_error_is_a_json_4xx_and_loses_nothing() {
    let app = TestApp::new().await;
    let mut kept = consent_body("accept_all", &[]);
    kept["visitor_id"] = json!(VID);
    let kept = record(&app, &kept).await;

    let with = |k: &str, v: Value| {
        let mut b = consent_body("custom", &["analytics"]);
        b[k] = v;
        b
    };
    let mut no_action = consent_body("custom", &[]);
    no_action.as_object_mut().expect("object").remove("action");
    let mut no_granted = consent_body("custom", &[]);
    no_granted.as_object_mut().expect("object").remove("granted");
    let many: Vec<String> = (0..33).map(|i| format!("c{i}")).collect();
    let cases: Vec<(&str, String, StatusCode, &str)> = vec![
        ("bad JSON", "{\"site\":".into(), StatusCode::BAD_REQUEST, "invalid_json"),
        ("not an object", "[1,2]".into(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
        ("missing action", no_action.to_string(), StatusCode::UNPROCESSABLE_ENTITY, "invalid_field"),
        (
            "unknown field",
            with("colour", json!("red")).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            "wrong type",
            with("granted", json!("analytics")).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            "unknown category",
            with("granted", json!(["tracking"])).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "unknown_category",
        ),
        (
            "too many categories",
            with("granted", json!(many)).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "too_many_categories",
        ),
        (
            "bad action",
            with("action", json!("maybe")).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_action",
        ),
        (
            "bad source",
            with("source", json!("email")).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_source",
        ),
        ("custom without granted", no_granted.to_string(), StatusCode::UNPROCESSABLE_ENTITY, "missing_field"),
        (
            "reject with grants",
            {
                let mut b = with("action", json!("reject_all"));
                b["granted"] = json!(["analytics"]);
                b.to_string()
            },
            StatusCode::UNPROCESSABLE_ENTITY,
            "inconsistent_choice",
        ),
        (
            "granted and denied",
            with("denied", json!(["analytics"])).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "inconsistent_choice",
        ),
        (
            "denied necessary",
            with("denied", json!(["necessary"])).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "inconsistent_choice",
        ),
        (
            "stale policy",
            with("policy_version", json!("2001-01-01")).to_string(),
            StatusCode::CONFLICT,
            "stale_policy_version",
        ),
        (
            "malformed policy",
            with("policy_version", json!("v 1")).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_policy_version",
        ),
        (
            "malformed visitor id",
            with("visitor_id", json!("ABC")).to_string(),
            StatusCode::BAD_REQUEST,
            "invalid_visitor_id",
        ),
        ("unknown site", with("site", json!("elsewhere")).to_string(), StatusCode::NOT_FOUND, "unknown_site"),
        (
            "malformed site",
            with("site", json!("Not A Site")).to_string(),
            StatusCode::BAD_REQUEST,
            "invalid_site",
        ),
        (
            "bad page",
            with("page", json!("javascript:alert(1)")).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_page",
        ),
        (
            "bad language",
            with("language", json!("english please")).to_string(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_language",
        ),
        (
            "oversize body",
            with("page", json!(format!("/{}", "a".repeat(9000)))).to_string(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "body_too_large",
        ),
    ];
    for (what, body, status, code) in cases {
        let res = app.post("/api/v1/consents", "application/json", body).await;
        assert_eq!(res.status, status, "{what}: {}", res.text());
        assert_eq!(res.error_code(), code, "{what}");
    }
    let raw_invalid = app
        .send(
            Request::post("/api/v1/consents")
                .header("content-type", "application/json")
                .body(Body::from(&b"{\"site\":\"\xff\xfe\"}"[..]))
                .expect("req"),
        )
        .await;
    assert_eq!(raw_invalid.status, StatusCode::BAD_REQUEST);
    assert_eq!(raw_invalid.error_code(), "invalid_json");

    let form = app.post("/api/v1/consents", "application/x-www-form-urlencoded", "a=b").await;
    assert_eq!(form.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(form.error_code(), "unsupported_media_type");

    let get_cases = [
        ("/api/v1/visitors/nothex/decision?site=default", StatusCode::BAD_REQUEST, "invalid_visitor_id"),
        (&*format!("/api/v1/visitors/{VID}/decision"), StatusCode::BAD_REQUEST, "missing_parameter"),
        (
            &*format!("/api/v1/visitors/{VID}/decision?site=default&category=nope"),
            StatusCode::BAD_REQUEST,
            "unknown_category",
        ),
        (
            &*format!("/api/v1/visitors/{VID}/history?site=default&limit=0"),
            StatusCode::BAD_REQUEST,
            "invalid_limit",
        ),
        (&*format!("/api/v1/visitors/{VID}/history?site=nowhere"), StatusCode::NOT_FOUND, "unknown_site"),
        ("/api/v1/config", StatusCode::BAD_REQUEST, "missing_parameter"),
        ("/api/v1/config?site=default&lang=%3Cscript%3E", StatusCode::BAD_REQUEST, "invalid_language"),
        ("/api/v1/no-such-endpoint", StatusCode::NOT_FOUND, "not_found"),
    ];
    for (uri, status, code) in get_cases {
        let res = app.get(uri).await;
        assert_eq!(res.status, status, "{uri}: {}", res.text());
        assert_eq!(res.error_code(), code, "{uri}");
    }
    let del = app.send(Request::delete("/api/v1/consents").body(Body::empty()).expect("req")).await;
    assert_eq!(del.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(del.error_code(), "method_not_allowed");

    // Nothing accepted earlier was lost or changed by the rejected requests.
    let h = app.get(&format!("/api/v1/visitors/{VID}/history?site=default")).await.json();
    assert_eq!(h["records"].as_array().map(Vec::len), Some(1));
    assert_eq!(h["records"][0]["record_id"], kept["record_id"]);
}

#[tokio::test]
async fn cors_allows_configured_origins_without_preflight_for_posts() {
    let app = TestApp::builder().site("shop", &["https://shop.example"]).build().await;
    // The embed posts text/plain: a CORS-simple request, answered with the allow header.
    let mut body = consent_body("reject_all", &[]);
    body["site"] = json!("shop");
    let res = app
        .send(
            Request::post("/api/v1/consents")
                .header("content-type", "text/plain;charset=UTF-8")
                .header("origin", "https://shop.example")
                .body(Body::from(body.to_string()))
                .expect("req"),
        )
        .await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    assert_eq!(res.header("access-control-allow-origin"), Some("https://shop.example"));

    // Another origin gets no CORS grant and cannot record for the site.
    let res = app
        .send(
            Request::post("/api/v1/consents")
                .header("content-type", "text/plain")
                .header("origin", "https://evil.example")
                .body(Body::from(body.to_string()))
                .expect("req"),
        )
        .await;
    assert_eq!(res.status, StatusCode::FORBIDDEN);
    assert_eq!(res.error_code(), "origin_not_allowed");
    assert_eq!(res.header("access-control-allow-origin"), None);

    // Preflight (for JSON clients) from an allowed and a foreign origin.
    let preflight = |origin: &'static str| {
        Request::options("/api/v1/consents")
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .body(Body::empty())
            .expect("req")
    };
    let ok = app.send(preflight("http://localhost:8080")).await;
    assert!(ok.status.is_success());
    assert_eq!(ok.header("access-control-allow-origin"), Some("http://localhost:8080"));
    assert!(ok.header("access-control-allow-methods").is_some_and(|m| m.contains("POST")));
    let foreign = app.send(preflight("https://evil.example")).await;
    assert_eq!(foreign.header("access-control-allow-origin"), None);

    let cfg = app
        .send(
            Request::get("/api/v1/config?site=shop")
                .header("origin", "https://shop.example")
                .body(Body::empty())
                .expect("req"),
        )
        .await;
    assert_eq!(cfg.header("access-control-allow-origin"), Some("https://shop.example"));
}

#[tokio::test]
async fn health_and_readiness() {
    let app = TestApp::new().await;
    assert_eq!(app.get("/healthz").await.json()["status"], "ok");
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.json()["status"], "ready");
}

fn set_cookie(res: &accord_tests::TestResponse) -> ConsentCookie {
    let raw = res.header("set-cookie").expect("set-cookie");
    let value =
        raw.strip_prefix("accord_consent=").and_then(|r| r.split(';').next()).expect("consent cookie");
    assert!(raw.contains("Path=/") && raw.contains("SameSite=Lax") && raw.contains("Max-Age="), "{raw}");
    ConsentCookie::parse(value).expect("cookie v1")
}

#[tokio::test]
async fn form_posts_record_set_the_cookie_and_redirect() {
    let app = TestApp::new().await;
    let res = app
        .post(
            "/consent",
            "application/x-www-form-urlencoded",
            "action=custom&granted=analytics&granted=marketing&source=preferences&return_to=/preferences",
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.text());
    assert_eq!(res.header("location"), Some("/preferences?saved=1"));
    let cookie = set_cookie(&res);
    assert_eq!(cookie.granted, vec!["analytics", "marketing"]);
    assert_eq!(cookie.policy_version, "2023-07-05");
    let h = app.get(&format!("/api/v1/visitors/{}/history?site=default", cookie.visitor_id)).await.json();
    assert_eq!(h["records"][0]["source"], "preferences");
    assert_eq!(h["records"][0]["action"], "custom");

    // The next choice keeps the same pseudonymous visitor id.
    let res = app
        .send(
            Request::post("/consent")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("cookie", format!("accord_consent={cookie}"))
                .body(Body::from("action=reject_all&source=banner&return_to=//evil.example"))
                .expect("req"),
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER);
    assert_eq!(res.header("location"), Some("/"), "no open redirect");
    let again = set_cookie(&res);
    assert_eq!(again.visitor_id, cookie.visitor_id);
    assert!(again.granted.is_empty());

    let cross = app
        .send(
            Request::post("/consent")
                .header("content-type", "application/x-www-form-urlencoded")
                .header("host", "accord.example")
                .header("origin", "https://evil.example")
                .body(Body::from("action=accept_all"))
                .expect("req"),
        )
        .await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    assert_eq!(cross.error_code(), "cross_site_form");
    let bad = app.post("/consent", "application/x-www-form-urlencoded", "action=sure").await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(bad.error_code(), "invalid_action");
}

async fn page(app: &TestApp, path: &str, cookie: Option<&str>) -> (StatusCode, String) {
    let mut req = Request::get(path);
    if let Some(c) = cookie {
        req = req.header("cookie", format!("accord_consent={c}"));
    }
    let res = app.send(req.body(Body::empty()).expect("req")).await;
    (res.status, res.text())
}

#[tokio::test]
async fn pages_render_the_banner_only_without_a_valid_decision() {
    let app = TestApp::new().await;
    let (status, html) = page(&app, "/", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("id=\"accord-banner\""), "banner shown without a decision");
    assert!(!html.contains("data-accord-demo"), "no gated tag before consent");

    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let analytics_only = format!("1~{VID}~{now}~2023-07-05~analytics");
    let (_, html) = page(&app, "/cookies", Some(&analytics_only)).await;
    assert!(!html.contains("id=\"accord-banner\""), "no banner with a valid decision");
    assert!(html.contains("/demo/snippets/analytics.js"), "granted tag is rendered");
    assert!(!html.contains("/demo/snippets/marketing.js"), "refused tag is not rendered");

    let outdated = format!("1~{VID}~{now}~2001-01-01~analytics");
    let (_, html) = page(&app, "/", Some(&outdated)).await;
    assert!(html.contains("id=\"accord-banner\""), "a decision under an old policy asks again");
    assert!(!html.contains("data-accord-demo"));
    let expired = format!("1~{VID}~{}~2023-07-05~analytics", now - 400 * 86_400);
    let (_, html) = page(&app, "/", Some(&expired)).await;
    assert!(html.contains("id=\"accord-banner\""), "an expired decision asks again");
}

#[tokio::test]
async fn content_pages_show_policy_cookie_table_and_matrix() {
    let app = TestApp::new().await;
    let (status, html) = page(&app, "/privacy", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("class=\"toc\""), "table of contents");
    assert!(html.contains("id=\"changelog\""), "changelog");
    assert!(html.contains("2023-07-05"), "version/date");
    let content = app.state.content.current();
    for entry in &content.policy.toc {
        assert!(html.contains(&format!("href=\"#{}\"", entry.id)), "toc links {}", entry.id);
        assert!(html.contains(&format!("id=\"{}\"", entry.id)), "anchor {}", entry.id);
    }
    assert!(html.contains(&content.policy.content_hash));

    let (_, html) = page(&app, "/cookies", None).await;
    for c in &content.cookies {
        assert!(html.contains(&format!("<code>{}</code>", c.name)), "cookie table lists {}", c.name);
    }
    for cat in &content.categories {
        assert!(html.contains(&format!("id=\"category-{}\"", cat.key)), "grouped under {}", cat.key);
    }

    let (_, html) = page(&app, "/responsibility", None).await;
    for area in &content.responsibility.areas {
        assert!(html.contains(&format!("id=\"area-{}\"", area.key)), "matrix row {}", area.key);
    }

    let (status, html) = page(&app, "/definitely/not/here", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("Page not found"));
}

/// The whole `<input …>` tag carrying `id`.
fn input_tag<'a>(html: &'a str, id: &str) -> &'a str {
    let at = html.find(&format!("id=\"{id}\"")).unwrap_or_else(|| panic!("no element #{id}"));
    let start = html[..at].rfind("<input").expect("inside an input tag");
    let end = at + html[at..].find('>').expect("tag closes");
    &html[start..=end]
}

#[tokio::test]
async fn preferences_page_shows_the_current_choice() {
    let app = TestApp::new().await;
    let (_, html) = page(&app, "/preferences", None).await;
    assert!(html.contains("You have not made a choice yet"));
    assert!(!html.contains("id=\"accord-banner\""), "the preference center carries no banner");
    assert!(html.contains("action=\"/consent\""));
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let (_, html) =
        page(&app, "/preferences?saved=1", Some(&format!("1~{VID}~{now}~2023-07-05~marketing"))).await;
    assert!(html.contains("Your choices were saved."));
    assert!(html.contains(VID), "shows the pseudonymous id");
    assert!(html.contains("value=\"withdraw\""), "withdraw is offered");
    let marketing = input_tag(&html, "pref-marketing");
    assert!(marketing.contains(" checked"), "granted category is ticked: {marketing}");
    let analytics = input_tag(&html, "pref-analytics");
    assert!(!analytics.contains(" checked"), "refused category is not ticked: {analytics}");
    let necessary = input_tag(&html, "pref-necessary");
    assert!(
        necessary.contains(" checked") && necessary.contains(" disabled"),
        "necessary is locked on: {necessary}"
    );
}

#[tokio::test]
async fn over_a_real_socket_record_read_and_shut_down_gracefully() {
    let running = TestApp::new().await.spawn().await;
    let http = reqwest::Client::new();
    let res = http
        .post(running.url("/api/v1/consents"))
        .header("content-type", "text/plain")
        .header("origin", "http://localhost:5173")
        .body(consent_body("accept_all", &[]).to_string())
        .send()
        .await
        .expect("post");
    assert_eq!(res.status(), 201);
    assert_eq!(
        res.headers().get("access-control-allow-origin").and_then(|v| v.to_str().ok()),
        Some("http://localhost:5173")
    );
    let rec: Value = res.json().await.expect("json");
    assert_eq!(rec["ip_network"], "127.0.0.0/24", "the socket peer address, reduced");
    let vid = rec["visitor_id"].as_str().expect("vid");
    let d: Value = http
        .get(running.url(&format!("/api/v1/visitors/{vid}/decision?site=default&category=marketing")))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(d["allowed"], true);
    let page =
        http.get(running.url("/privacy")).header("accept-encoding", "gzip").send().await.expect("page");
    assert_eq!(page.status(), 200);
    running.shutdown().await.expect("graceful shutdown completes");
}

#[tokio::test]
async fn config_revalidates_with_an_etag_so_publishes_show_at_once() {
    let app = TestApp::new().await;
    let first = app.get("/api/v1/config?site=default").await;
    assert_eq!(first.header("cache-control"), Some("private, no-cache"));
    let etag = first.header("etag").expect("etag").to_owned();
    let same = app
        .send(
            Request::get("/api/v1/config?site=default")
                .header("if-none-match", &etag)
                .body(Body::empty())
                .expect("req"),
        )
        .await;
    assert_eq!(same.status, StatusCode::NOT_MODIFIED);
    assert!(same.body.is_empty());
    let german = app
        .send(
            Request::get("/api/v1/config?site=default&lang=de")
                .header("if-none-match", &etag)
                .body(Body::empty())
                .expect("req"),
        )
        .await;
    assert_eq!(german.status, StatusCode::OK, "another answer, another tag");
}

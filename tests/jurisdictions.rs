//! Rules that follow the visitor: a MaxMind DB built in the test maps addresses to DE, US-CA,
//! US-TX, BR and JP; the API and pages apply the right model, GPC, lifetimes and language.

use accord_tests::geoip::{self, BR_IP, DE_IP, JP_IP, US_CA_IP, US_TX_IP};
use accord_tests::{consent_body, TestApp, TestResponse};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};

async fn geo_app(configure: impl FnOnce(&mut accord::Config)) -> (TestApp, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("geo.mmdb");
    geoip::write(&db, &geoip::standard_entries());
    let app = TestApp::builder()
        .configure(|c| {
            c.geo.database = Some(db);
            configure(c);
        })
        .build()
        .await;
    (app, dir)
}

fn from(ip: &str) -> String {
    format!("{ip}:40000")
}

async fn get_from(app: &TestApp, ip: &str, uri: &str, headers: &[(&str, &str)]) -> TestResponse {
    let mut req = Request::get(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    app.send_from(&from(ip), req.body(Body::empty()).expect("req")).await
}

async fn post_from(app: &TestApp, ip: &str, body: &Value, headers: &[(&str, &str)]) -> TestResponse {
    let mut req = Request::post("/api/v1/consents").header("content-type", "application/json");
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    app.send_from(&from(ip), req.body(Body::from(body.to_string())).expect("req")).await
}

#[tokio::test]
async fn each_place_gets_its_model_through_the_config_api() {
    let (app, _dir) = geo_app(|_| {}).await;
    let cases = [
        (DE_IP, "gdpr", "opt_in", Some("DE")),
        (US_CA_IP, "us-privacy", "opt_out", Some("US-CA")),
        (US_TX_IP, "us-privacy", "opt_out", Some("US-TX")),
        (BR_IP, "gdpr", "opt_in", Some("BR")),
        (JP_IP, "notice", "notice", Some("JP")),
        ("192.168.1.1", "gdpr", "opt_in", None),
    ];
    for (ip, id, model, region) in cases {
        let c = get_from(&app, ip, "/api/v1/config?site=default", &[]).await.json();
        let j = &c["jurisdiction"];
        assert_eq!(j["id"], id, "{ip}");
        assert_eq!(j["model"], model, "{ip}");
        assert_eq!(j["region"], json!(region), "{ip}");
        assert!(j["rule_version"].as_str().is_some_and(|v| !v.is_empty()));
        if model == "opt_in" {
            assert_eq!(j["defaults"], json!([]), "{ip}: nothing before a choice");
        }
    }
    let ca = get_from(&app, US_CA_IP, "/api/v1/config?site=default", &[]).await.json();
    assert_eq!(ca["jurisdiction"]["gpc"], true);
    assert_eq!(ca["jurisdiction"]["sale_categories"], json!(["marketing"]));
    assert_eq!(ca["cookie"]["refusal_days"], 365);
    let de = get_from(&app, DE_IP, "/api/v1/config?site=default", &[]).await.json();
    assert_eq!(de["cookie"]["refusal_days"], 182);
}

#[tokio::test]
async fn records_carry_region_jurisdiction_rule_version_and_expiry() {
    let (app, _dir) = geo_app(|_| {}).await;
    let res = post_from(&app, US_TX_IP, &consent_body("reject_all", &[]), &[]).await;
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    let r = res.json();
    assert_eq!(r["region"], "US-TX");
    assert_eq!(r["jurisdiction"], "us-privacy");
    assert_eq!(r["ip_network"], "203.0.113.0/24");
    let recorded = time::OffsetDateTime::parse(
        r["recorded_at"].as_str().expect("ts"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("rfc3339");
    let expires = time::OffsetDateTime::parse(
        r["expires_at"].as_str().expect("ts"),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("rfc3339");
    assert_eq!((expires - recorded).whole_days(), 365, "us-privacy keeps a refusal 365 days");
    let de = post_from(&app, DE_IP, &consent_body("reject_all", &[]), &[]).await.json();
    let (a, b) = (de["recorded_at"].as_str().expect("ts"), de["expires_at"].as_str().expect("ts"));
    let days = time::OffsetDateTime::parse(b, &time::format_description::well_known::Rfc3339).expect("ts")
        - time::OffsetDateTime::parse(a, &time::format_description::well_known::Rfc3339).expect("ts");
    assert_eq!(days.whole_days(), 182, "GDPR refusal asked again after ~6 months");
    let vid = r["visitor_id"].as_str().expect("vid");
    let d = app.get(&format!("/api/v1/visitors/{vid}/decision?site=default")).await.json();
    assert_eq!(d["jurisdiction"], "us-privacy");
    assert_eq!(d["region"], "US-TX");
    assert_eq!(d["rule_version"], r["rule_version"]);
}

#[tokio::test]
async fn gpc_is_honoured_where_binding_and_ignored_elsewhere() {
    let (app, _dir) = geo_app(|_| {}).await;
    // California, Sec-GPC header: "Accept all" cannot grant the sale/sharing category.
    let ca = post_from(&app, US_CA_IP, &consent_body("accept_all", &[]), &[("sec-gpc", "1")]).await;
    assert_eq!(ca.status, StatusCode::CREATED, "{}", ca.text());
    let ca = ca.json();
    assert_eq!(ca["gpc_applied"], true);
    assert!(!ca["granted"].as_array().expect("granted").contains(&json!("marketing")));
    assert!(ca["denied"].as_array().expect("denied").contains(&json!("marketing")));
    assert!(ca["granted"].as_array().expect("granted").contains(&json!("analytics")));

    // The browser flag alone, recorded as method gpc without a click.
    let mut body = consent_body("gpc", &[]);
    body["gpc"] = json!(true);
    let auto = post_from(&app, US_CA_IP, &body, &[]).await;
    assert_eq!(auto.status, StatusCode::CREATED, "{}", auto.text());
    let auto = auto.json();
    assert_eq!(auto["action"], "gpc");
    assert_eq!(auto["gpc_applied"], true);
    assert_eq!(auto["granted"], json!(["necessary", "functional", "analytics", "session_recording"]));

    // Germany: GPC is not the rule there; the explicit choice stands.
    let de = post_from(&app, DE_IP, &consent_body("accept_all", &[]), &[("sec-gpc", "1")]).await.json();
    assert_eq!(de["gpc_applied"], false);
    assert!(de["granted"].as_array().expect("granted").contains(&json!("marketing")));
    let not_here = post_from(&app, DE_IP, &body, &[]).await;
    assert_eq!(not_here.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(not_here.error_code(), "gpc_not_applicable");
    let no_signal = post_from(&app, US_CA_IP, &consent_body("gpc", &[]), &[]).await;
    assert_eq!(no_signal.error_code(), "missing_gpc_signal");

    // Pages say so where it was applied, and only there.
    let page = get_from(&app, US_CA_IP, "/preferences", &[("sec-gpc", "1")]).await.text();
    assert!(page.contains("Opt-out request honored"), "CA + GPC shows the notice");
    let marketing =
        page.split("id=\"pref-marketing\"").nth(1).and_then(|r| r.split('>').next()).unwrap_or_default();
    assert!(
        marketing.contains("disabled") && !marketing.contains("checked"),
        "sale category locked off: {marketing}"
    );
    let home = get_from(&app, US_CA_IP, "/", &[("sec-gpc", "1")]).await.text();
    assert!(home.contains("Opt-out request honored"), "banner shows it too");
    assert!(!home.contains("/demo/snippets/marketing.js"), "the marketing tag is not served");
    assert!(home.contains("/demo/snippets/analytics.js"), "opt-out default keeps analytics on");
    let de_page = get_from(&app, DE_IP, "/preferences", &[("sec-gpc", "1")]).await.text();
    assert!(!de_page.contains("Opt-out request honored"));

    let gpc = app.get("/.well-known/gpc.json").await;
    assert_eq!(gpc.status, StatusCode::OK);
    assert_eq!(gpc.json()["gpc"], true);
    assert!(gpc.json()["lastUpdate"].as_str().is_some_and(|d| d.len() == 10));
}

#[tokio::test]
async fn pages_follow_the_model_of_the_place() {
    let (app, _dir) = geo_app(|_| {}).await;
    let de = get_from(&app, DE_IP, "/", &[]).await.text();
    assert!(de.contains("data-model=\"opt_in\""));
    assert!(de.contains("value=\"reject_all\""), "opt-in offers Reject all");
    assert!(!de.contains("data-accord-demo"), "nothing optional before consent in DE");
    let ca = get_from(&app, US_CA_IP, "/", &[]).await.text();
    assert!(ca.contains("data-model=\"opt_out\""));
    assert!(ca.contains("value=\"opt_out\""), "opt-out offers Do not sell or share");
    assert!(ca.contains("/demo/snippets/marketing.js"), "opt-out defaults run until the visitor opts out");
    let jp = get_from(&app, JP_IP, "/", &[]).await.text();
    assert!(jp.contains("data-model=\"notice\"") && jp.contains("value=\"ok\""));

    // "Do not sell or share" from California records everything but the sale category.
    let res = app
        .send_from(
            &from(US_CA_IP),
            Request::post("/consent")
                .header("content-type", "application/x-www-form-urlencoded")
                .body(Body::from("action=opt_out&source=banner&return_to=/"))
                .expect("req"),
        )
        .await;
    assert_eq!(res.status, StatusCode::SEE_OTHER, "{}", res.text());
    let cookie = res.header("set-cookie").expect("cookie").to_owned();
    assert!(cookie.contains("analytics") && !cookie.contains("marketing"), "{cookie}");
}

#[tokio::test]
async fn trusted_proxies_and_cdn_headers_locate_the_client_spoofers_do_not() {
    let (app, _dir) = geo_app(|c| {
        c.geo.trusted_proxies = vec!["10.0.0.0/8".parse().expect("net")];
        c.geo.country_headers = vec![accord::geo::Cdn::Cloudfront];
    })
    .await;
    let via = get_from(
        &app,
        "10.0.0.2",
        "/api/v1/config?site=default",
        &[("x-forwarded-for", &format!("1.1.1.1, {US_CA_IP}"))],
    )
    .await
    .json();
    assert_eq!(via["jurisdiction"]["region"], "US-CA", "nearest untrusted hop");
    let rec = post_from(&app, "10.0.0.2", &consent_body("reject_all", &[]), &[("x-forwarded-for", US_CA_IP)])
        .await
        .json();
    assert_eq!(rec["ip_network"], "198.51.100.0/24", "the client's network, not the proxy's");
    let spoof =
        get_from(&app, DE_IP, "/api/v1/config?site=default", &[("x-forwarded-for", US_CA_IP)]).await.json();
    assert_eq!(spoof["jurisdiction"]["region"], "DE", "an untrusted peer cannot claim another address");
    let cdn = get_from(
        &app,
        "10.0.0.3",
        "/api/v1/config?site=default",
        &[("cloudfront-viewer-country", "US"), ("cloudfront-viewer-country-region", "CO")],
    )
    .await
    .json();
    assert_eq!(cdn["jurisdiction"]["region"], "US-CO");
    let fake_cdn =
        get_from(&app, DE_IP, "/api/v1/config?site=default", &[("cloudfront-viewer-country", "US")])
            .await
            .json();
    assert_eq!(fake_cdn["jurisdiction"]["region"], "DE");
    let no_override = get_from(&app, DE_IP, "/api/v1/config?site=default&region=US-CA", &[]).await.json();
    assert_eq!(no_override["jurisdiction"]["region"], "DE", "override is off unless configured");
}

#[tokio::test]
async fn without_database_or_header_the_strictest_rule_applies() {
    let app = TestApp::new().await;
    let c = app.get("/api/v1/config?site=default").await.json();
    assert_eq!(c["jurisdiction"]["model"], "opt_in");
    assert_eq!(c["jurisdiction"]["region"], Value::Null);
}

#[tokio::test]
async fn the_database_is_reloaded_when_the_file_changes() {
    let (app, dir) = geo_app(|_| {}).await;
    assert_eq!(
        get_from(&app, DE_IP, "/api/v1/config?site=default", &[]).await.json()["jurisdiction"]["region"],
        "DE"
    );
    let mut entries = geoip::standard_entries();
    entries[0] = ("192.0.2.0/24", geoip::geoip2("JP", None));
    entries.push(("100.64.2.0/24", geoip::flat("FR")));
    geoip::write(&dir.path().join("geo.mmdb"), &entries);
    assert!(app.state.geo.database().expect("db").reload_if_changed(), "a changed file is picked up");
    let after = get_from(&app, DE_IP, "/api/v1/config?site=default", &[]).await.json();
    assert_eq!(after["jurisdiction"]["region"], "JP");
    assert_eq!(after["jurisdiction"]["model"], "notice");
    // A broken file keeps the last good database.
    std::fs::write(dir.path().join("geo.mmdb"), b"not a database at all").expect("write");
    assert!(!app.state.geo.database().expect("db").reload_if_changed());
    assert_eq!(
        get_from(&app, DE_IP, "/api/v1/config?site=default", &[]).await.json()["jurisdiction"]["region"],
        "JP"
    );
}

#[tokio::test]
async fn decision_api_enforces_expiry_and_answers_undecided_visitors_by_region() {
    let (app, _dir) = geo_app(|_| {}).await;
    let vid = "00112233445566778899aabbccddeeff";
    let undecided = |q: &str| format!("/api/v1/visitors/{vid}/decision?site=default&category=analytics{q}");
    assert_eq!(app.get(&undecided("")).await.json()["allowed"], false, "unknown place: strictest");
    assert_eq!(app.get(&undecided("&region=US-CA")).await.json()["allowed"], true, "opt-out default");
    assert_eq!(app.get(&undecided("&region=DE")).await.json()["allowed"], false, "opt-in");
    let mk = format!("/api/v1/visitors/{vid}/decision?site=default&category=marketing&region=US-CA&gpc=1");
    assert_eq!(app.get(&mk).await.json()["allowed"], false, "GPC turns the sale category off");
    assert_eq!(app.get(&undecided("&region=Atlantis")).await.error_code(), "invalid_region");

    // A record whose lifetime has passed no longer counts.
    let content = app.state.content.current();
    let old = accord::ledger::NewRecord {
        visitor_id: app::model::VisitorId::parse(vid).expect("vid"),
        site: "default".into(),
        action: app::model::Action::AcceptAll,
        source: app::model::Source::Api,
        granted: vec!["necessary".into(), "analytics".into()],
        denied: vec![],
        policy_version: content.policy.version.clone(),
        registry_version: content.registry_version.clone(),
        language: "en".into(),
        page: "/".into(),
        ip_reduced: None,
        ua_family: "other".into(),
        recorded_at_ms: 1_000,
        region: Some("DE".into()),
        jurisdiction: "gdpr".into(),
        rule_version: "r".into(),
        gpc_applied: false,
        expires_at_ms: 2_000,
    };
    accord::ledger::Ledger::append(app.state.ledger.as_ref(), old).await.expect("append");
    let d = app.get(&format!("/api/v1/visitors/{vid}/decision?site=default&category=analytics")).await.json();
    assert_eq!(d["decided"], true);
    assert_eq!(d["valid"], false, "expired");
    assert_eq!(d["allowed"], false);
}

#[tokio::test]
async fn languages_are_negotiated_and_right_to_left_renders_rtl() {
    let app = TestApp::new().await;
    let de = app
        .send(
            Request::get("/")
                .header("accept-language", "de-DE,de;q=0.9,en;q=0.5")
                .body(Body::empty())
                .expect("req"),
        )
        .await
        .text();
    assert!(de.contains("<html lang=\"de\" dir=\"ltr\""), "German, left to right");
    let de_catalog: Value = serde_json::from_str(
        &std::fs::read_to_string(accord_tests::workspace_root().join("public/locales/de.json")).expect("de"),
    )
    .expect("json");
    let accept_de = de_catalog["messages"]["banner.accept_all"].as_str().expect("text");
    assert!(de.contains(accept_de), "German button text");
    let ar = app.get("/?lang=ar").await.text();
    assert!(ar.contains("<html lang=\"ar\" dir=\"rtl\""), "Arabic, right to left");
    assert!(!ar.contains(">Accept all<"), "no English left in the Arabic banner");
    let fr = app
        .send(
            Request::get("/cookies?lang=fr")
                .header("accept-language", "de")
                .body(Body::empty())
                .expect("req"),
        )
        .await
        .text();
    assert!(fr.contains("<html lang=\"fr\""), "explicit override beats Accept-Language");
    let cfg = app.get("/api/v1/config?site=default&lang=ar").await.json();
    assert_eq!(cfg["language"], "ar");
    assert_eq!(cfg["dir"], "rtl");
    assert_eq!(cfg["languages"].as_array().map(Vec::len), Some(25));
    assert_ne!(cfg["categories"][2]["name"], "Analytics", "category names are translated");
    let fallback = app.get("/api/v1/config?site=default&lang=ja").await.json();
    assert_eq!(fallback["language"], "en");
}

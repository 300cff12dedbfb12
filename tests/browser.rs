//! Real-browser tests: headless Chromium (Debian) through chromedriver, against Accord on a
//! real socket and a marketing site on another origin that embeds the banner script.
//! Requires `cargo leptos build` first (the WASM islands); `make test` does that.

use accord_tests::browser::{
    click, js, keys, press, shift_tab, wait_for, Driver, MarketingSite, PageOptions,
};
use accord_tests::geoip;
use accord_tests::{workspace_root, Running, TestApp};
use app::model::ConsentCookie;
use fantoccini::{Client, Locator};
use serde_json::Value;

const SR: &str = "document.querySelector('accord-consent')?.shadowRoot";

/// Accord serving the cargo-leptos output, refusing to run against a stale build.
async fn accord() -> Running {
    accord_with(|_| {}).await
}

async fn accord_with(configure: impl FnOnce(&mut accord::Config)) -> Running {
    let root = workspace_root();
    let site = root.join("target/site");
    assert!(
        site.join("pkg/accord.wasm").exists(),
        "target/site/pkg is missing: run `cargo leptos build` (make test does)"
    );
    let built = std::fs::read(site.join("embed/consent.js")).unwrap_or_default();
    let source = std::fs::read(root.join("public/embed/consent.js")).expect("embed source");
    assert!(built == source, "target/site/embed/consent.js is stale: run `cargo leptos build`");
    TestApp::builder().built_site().configure(configure).build().await.spawn().await
}

/// Everything a geo-aware browser test needs; keep it alive for the test's duration.
struct Placed {
    _dir: tempfile::TempDir,
    db: std::path::PathBuf,
    accord: Running,
    shop: MarketingSite,
    driver: Driver,
}

/// Accord with a GeoIP database that puts the browser in `country[-sub]`, plus a marketing
/// site embedding it; the shop's page is opened in a new session.
async fn placed(country: &str, sub: Option<&str>, opts: PageOptions) -> (Placed, Client) {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("geo.mmdb");
    place_browser(&db, country, sub, 0);
    let accord = accord_with(|c| c.geo.database = Some(db.clone())).await;
    let shop = MarketingSite::start_with(&accord.base, opts).await;
    let driver = Driver::start().await;
    let c = driver.session(true).await;
    c.goto(&format!("{}/", shop.base)).await.expect("goto");
    (Placed { _dir: dir, db, accord, shop, driver }, c)
}

/// A GeoIP database that places this machine's browser (127.0.0.1) in `country[-sub]`; the
/// padding network changes the file size so a rewrite is always seen as a change.
fn place_browser(path: &std::path::Path, country: &str, sub: Option<&str>, padding: usize) {
    let mut entries = vec![("127.0.0.1/32", geoip::geoip2(country, sub))];
    let pads = ["100.64.10.0/24", "100.64.11.0/24", "100.64.12.0/24"];
    entries.extend(pads.iter().take(padding).map(|n| (*n, geoip::flat("ZZ"))));
    geoip::write(path, &entries);
}

/// JS expression: the embed's banner is on screen.
fn banner_shown() -> String {
    format!("(() => {{ const s = {SR}; const b = s && s.querySelector('.bn'); return !!b && !b.hidden; }})()")
}

/// JS expression: the preferences dialog is open.
fn dialog_shown() -> String {
    format!("(() => {{ const s = {SR}; const o = s && s.querySelector('.ov'); return !!o && !o.hidden; }})()")
}

fn is(expr: &str) -> String {
    format!("return {expr};")
}

fn not(expr: &str) -> String {
    format!("return !{expr};")
}

/// Whether the element matching `selector` is actually rendered (not only present).
async fn visible(c: &Client, selector: &str) -> bool {
    let script = format!(
        "const e = document.querySelector({selector:?}); \
         return !!e && getComputedStyle(e).display !== 'none' && e.getBoundingClientRect().height > 0;"
    );
    js(c, &script).await == Value::Bool(true)
}

/// Describes the deepest focused element: `data-a`/`data-k` of controls inside the banner's shadow root.
async fn focused(c: &Client) -> Value {
    js(
        c,
        "let a = document.activeElement; while (a && a.shadowRoot && a.shadowRoot.activeElement) a = a.shadowRoot.activeElement;
         const s = document.querySelector('accord-consent')?.shadowRoot;
         return {tag: a && a.tagName, action: a && a.dataset && a.dataset.a || null, key: a && a.dataset && a.dataset.k || null,
                 inDialog: !!(s && a && s.querySelector('.dl').contains(a)), inBanner: !!(s && a && s.querySelector('.bn').contains(a)), id: a && a.id};",
    )
    .await
}

/// The consent cookie the embed wrote on the page's own origin.
async fn consent_cookie(c: &Client) -> Option<ConsentCookie> {
    let cookies = js(c, "return document.cookie;").await;
    cookies
        .as_str()?
        .split("; ")
        .find_map(|kv| kv.strip_prefix("accord_consent="))
        .and_then(|v| ConsentCookie::parse(v).ok())
}

/// Waits until the API holds a record for the visitor in the page's cookie; returns the history.
async fn recorded(c: &Client, accord: &Running) -> Vec<Value> {
    let http = reqwest::Client::new();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        if let Some(cookie) = consent_cookie(c).await {
            let url = accord.url(&format!("/api/v1/visitors/{}/history?site=default", cookie.visitor_id));
            let h: Value = http.get(url).send().await.expect("history").json().await.expect("json");
            if let Some(records) = h["records"].as_array().filter(|r| !r.is_empty()) {
                return records.clone();
            }
        }
        assert!(std::time::Instant::now() < deadline, "no consent record reached the API");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn reject_all_keeps_gated_tags_blocked_and_is_recorded() {
    let accord = accord().await;
    let shop = MarketingSite::start(&accord.base).await;
    let driver = Driver::start().await;
    let c = driver.session(true).await;
    c.goto(&format!("{}/", shop.base)).await.expect("goto");
    wait_for(&c, &is(&banner_shown()), 15, "the banner").await;
    assert_eq!(
        js(&c, "return window.__analyticsRan === undefined && window.__crmRan === undefined;").await,
        true
    );
    assert_eq!(js(&c, "return !document.querySelector('iframe').getAttribute('src') && !!document.querySelector('.accord-placeholder');").await, true);

    click(&c, &format!("{SR}.querySelector('.bn [data-a=reject]')")).await;
    wait_for(&c, &not(&banner_shown()), 5, "the banner to close").await;
    let records = recorded(&c, &accord).await;
    let last = records.last().expect("a record");
    assert_eq!(last["action"], "reject_all");
    assert_eq!(last["source"], "banner");
    assert_eq!(last["granted"], serde_json::json!(["necessary"]));

    c.refresh().await.expect("reload");
    wait_for(&c, "return !!window.Accord && window.Accord.decision() !== null;", 10, "the stored decision")
        .await;
    assert_eq!(js(&c, &is(&banner_shown())).await, false, "no banner after a reload");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        js(&c, "return window.__analyticsRan === undefined && window.__crmRan === undefined;").await,
        true,
        "rejected tags never run"
    );
    c.close().await.expect("close");
}

#[tokio::test]
async fn accept_all_runs_gated_tags_and_the_choice_survives_a_reload() {
    let accord = accord().await;
    let shop = MarketingSite::start(&accord.base).await;
    let driver = Driver::start().await;
    let c = driver.session(true).await;
    c.goto(&format!("{}/", shop.base)).await.expect("goto");
    wait_for(&c, &is(&banner_shown()), 15, "the banner").await;
    click(&c, &format!("{SR}.querySelector('.bn [data-a=accept]')")).await;
    wait_for(&c, "return window.__analyticsRan === 1 && window.__crmRan === true;", 10, "gated tags to run")
        .await;
    assert_eq!(js(&c, "return document.querySelector('iframe').getAttribute('src');").await, "/frame");
    let records = recorded(&c, &accord).await;
    assert_eq!(records.last().expect("record")["action"], "accept_all");
    let cookie = consent_cookie(&c).await.expect("cookie");
    let d: Value =
        reqwest::get(accord.url(&format!("/api/v1/visitors/{}/decision?site=default", cookie.visitor_id)))
            .await
            .expect("decision")
            .json()
            .await
            .expect("json");
    assert_eq!(d["valid"], true);
    assert_eq!(d["categories"]["analytics"], true);

    c.refresh().await.expect("reload");
    wait_for(
        &c,
        "return window.__analyticsRan === 1 && window.__crmRan === true;",
        10,
        "tags to run again after reload",
    )
    .await;
    assert_eq!(js(&c, &is(&banner_shown())).await, false, "no banner after a reload");
    c.close().await.expect("close");
}

#[tokio::test]
async fn keyboard_only_through_banner_and_preferences_modal() {
    let accord = accord().await;
    let shop = MarketingSite::start(&accord.base).await;
    let driver = Driver::start().await;
    let c = driver.session(true).await;
    c.goto(&format!("{}/", shop.base)).await.expect("goto");
    wait_for(&c, &is(&banner_shown()), 15, "the banner").await;
    wait_for(
        &c,
        "let a = document.activeElement; return a && a.tagName === 'ACCORD-CONSENT';",
        5,
        "focus to move into the banner",
    )
    .await;
    assert_eq!(focused(&c).await["inBanner"], true, "focus starts in the banner");

    // Tab to "Customize" and open the preferences with Enter.
    let mut found = false;
    for _ in 0..8 {
        press(&c, &[keys::TAB]).await;
        if focused(&c).await["action"] == "custom" {
            found = true;
            break;
        }
    }
    assert!(found, "Customize is reachable with Tab");
    press(&c, &[keys::ENTER]).await;
    wait_for(&c, &is(&dialog_shown()), 5, "the preferences dialog").await;
    assert_eq!(focused(&c).await["inDialog"], true, "focus moves into the dialog");
    let dialog = js(&c, &format!("const d = {SR}.querySelector('.dl'); return [d.getAttribute('role'), d.getAttribute('aria-modal'), !!{SR}.getElementById(d.getAttribute('aria-labelledby')), !!{SR}.getElementById(d.getAttribute('aria-describedby'))];")).await;
    assert_eq!(dialog, serde_json::json!(["dialog", "true", true, true]));

    // Focus is trapped: 20 Tabs and 5 Shift+Tabs never leave the dialog.
    for i in 0..20 {
        press(&c, &[keys::TAB]).await;
        assert_eq!(focused(&c).await["inDialog"], true, "Tab #{i} left the dialog");
    }
    for i in 0..5 {
        shift_tab(&c).await;
        assert_eq!(focused(&c).await["inDialog"], true, "Shift+Tab #{i} left the dialog");
    }
    // Esc closes and restores focus to Customize.
    press(&c, &[keys::ESCAPE]).await;
    wait_for(&c, &not(&dialog_shown()), 5, "Esc to close").await;
    assert_eq!(focused(&c).await["action"], "custom", "focus returns to the opener");

    // Reopen, tick analytics with Space, save with Enter.
    press(&c, &[keys::ENTER]).await;
    wait_for(&c, &is(&dialog_shown()), 5, "the dialog again").await;
    let mut on_box = false;
    for _ in 0..12 {
        if focused(&c).await["key"] == "analytics" {
            on_box = true;
            break;
        }
        press(&c, &[keys::TAB]).await;
    }
    assert!(on_box, "the analytics switch is reachable with Tab");
    press(&c, &[keys::SPACE]).await;
    let mut on_save = false;
    for _ in 0..12 {
        press(&c, &[keys::TAB]).await;
        if focused(&c).await["action"] == "save" {
            on_save = true;
            break;
        }
    }
    assert!(on_save, "Save is reachable with Tab");
    press(&c, &[keys::ENTER]).await;
    wait_for(&c, "return window.__analyticsRan === 1;", 10, "analytics to run after saving").await;
    assert_eq!(js(&c, "return window.__crmRan === undefined;").await, true, "marketing stays blocked");
    let records = recorded(&c, &accord).await;
    let last = records.last().expect("record");
    assert_eq!(last["action"], "custom");
    assert_eq!(last["source"], "preferences");
    assert_eq!(last["granted"], serde_json::json!(["necessary", "analytics"]));
    c.close().await.expect("close");
}

#[tokio::test]
async fn preferences_page_works_with_javascript_disabled() {
    let accord = accord().await;
    let driver = Driver::start().await;
    let c = driver.session(false).await;
    c.goto(&accord.url("/")).await.expect("goto");
    assert!(c.find(Locator::Css("#accord-banner")).await.is_ok(), "banner is server-rendered");
    assert!(c.find(Locator::Css("script[data-accord-demo]")).await.is_err(), "no gated tag before consent");
    // Without JavaScript, "Customize" is a plain link to the preference center.
    c.find(Locator::Css(".banner-form a.button")).await.expect("customize").click().await.expect("follow");
    c.wait().for_url(url_of(&accord.url("/preferences"))).await.expect("on /preferences");
    assert!(c.find(Locator::Css("#accord-banner")).await.is_err(), "no banner over the preference center");

    c.find(Locator::Css("#pref-analytics")).await.expect("switch").click().await.expect("tick");
    c.find(Locator::Css(".preferences-form button[value=custom]"))
        .await
        .expect("save")
        .click()
        .await
        .expect("submit");
    c.wait().for_url(url_of(&accord.url("/preferences?saved=1"))).await.expect("redirected back");
    let notice = c.find(Locator::Css(".notice")).await.expect("notice").text().await.expect("text");
    assert_eq!(notice, "Your choices were saved.");
    assert!(c.find(Locator::Css("#accord-banner")).await.is_err(), "banner gone after the choice");
    assert!(c.find(Locator::Css("script[data-accord-demo=analytics]")).await.is_ok(), "granted tag rendered");
    assert!(
        c.find(Locator::Css("script[data-accord-demo=marketing]")).await.is_err(),
        "refused tag not rendered"
    );
    // Scripts really are off: the rendered demo tag could not run.
    let html = c.find(Locator::Css("html")).await.expect("html");
    assert_eq!(html.attr("data-demo-analytics").await.expect("attr"), None);
    let granted =
        c.find(Locator::Css(".decision-granted")).await.expect("granted").text().await.expect("text");
    assert!(granted.contains("Analytics"), "{granted}");

    let cookie = c.get_named_cookie("accord_consent").await.expect("consent cookie");
    let cookie = ConsentCookie::parse(cookie.value()).expect("cookie v1");
    assert_eq!(cookie.granted, vec!["analytics"]);
    let h: Value =
        reqwest::get(accord.url(&format!("/api/v1/visitors/{}/history?site=default", cookie.visitor_id)))
            .await
            .expect("history")
            .json()
            .await
            .expect("json");
    assert_eq!(h["records"][0]["source"], "preferences");
    assert_eq!(h["records"][0]["action"], "custom");
    c.close().await.expect("close");
}

fn url_of(s: &str) -> url::Url {
    url::Url::parse(s).expect("url")
}

#[tokio::test]
async fn own_banner_island_customizes_in_place_then_posts_the_form() {
    let accord = accord().await;
    let driver = Driver::start().await;
    let c = driver.session(true).await;
    c.goto(&accord.url("/cookies")).await.expect("goto");
    // Hydration errors surface as console.error; collect them so a mismatch fails loudly.
    js(&c, "window.__errs = []; const oe = console.error; console.error = (...a) => { window.__errs.push(a.map(String).join(' ')); oe(...a); }; return 1;").await;
    wait_for(
        &c,
        "return document.querySelector('.banner-form')?.dataset.enhanced === 'true';",
        20,
        "the banner island to hydrate",
    )
    .await;
    // Hidden means not rendered, not just an attribute: styles must not override it.
    assert!(!visible(&c, "#accord-banner-categories").await, "switches start collapsed");
    assert!(!visible(&c, ".banner-form button[value=custom]").await, "Save appears only after Customize");
    assert!(visible(&c, ".banner-form a.button").await, "Customize is offered");
    click(&c, "document.querySelector('.banner-form a.button')").await;
    wait_for(
        &c,
        "return !document.getElementById('accord-banner-categories').hidden;",
        5,
        "the switches to expand",
    )
    .await;
    assert_eq!(c.current_url().await.expect("url").path(), "/cookies", "customizing stays on the page");
    assert_eq!(js(&c, "return window.__errs;").await, serde_json::json!([]), "hydration logged no error");
    wait_for(
        &c,
        "return document.activeElement && document.activeElement.id === 'accord-banner-functional';",
        5,
        "focus on the first switch",
    )
    .await;
    assert_eq!(
        js(
            &c,
            "return [...document.querySelectorAll('#accord-banner-categories input')].some(i => i.checked);"
        )
        .await,
        false,
        "nothing pre-ticked"
    );
    click(&c, "document.getElementById('accord-banner-marketing')").await;
    click(&c, "document.querySelector('.banner-form button[value=custom]')").await;
    wait_for(&c, "return !document.getElementById('accord-banner') && window.__accordDemo && window.__accordDemo.marketing === true;", 10, "the marketing demo tag after saving").await;
    assert_eq!(c.current_url().await.expect("url").path(), "/cookies", "back on the same page");
    assert_eq!(
        js(&c, "return !(window.__accordDemo && window.__accordDemo.analytics);").await,
        true,
        "analytics stays off"
    );
    c.close().await.expect("close");
}

#[tokio::test]
async fn germany_gets_opt_in_and_california_opt_out_end_to_end() {
    let (p, c) = placed("DE", None, PageOptions::default()).await;
    let (db, accord, shop, driver) = (&p.db, &p.accord, &p.shop, &p.driver);
    wait_for(&c, &is(&banner_shown()), 15, "the banner in Germany").await;
    assert_eq!(
        js(&c, &format!("return !!{SR}.querySelector('.bn [data-a=reject]');")).await,
        true,
        "opt-in offers Reject all"
    );
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        js(&c, "return window.__analyticsRan === undefined && window.__crmRan === undefined;").await,
        true,
        "nothing before consent"
    );
    c.close().await.expect("close");

    // The visitor is now in California (the database file changed and was reloaded).
    place_browser(db, "US", Some("CA"), 1);
    assert!(accord.app.state.geo.database().expect("db").reload_if_changed());
    let c = driver.session(true).await;
    c.goto(&format!("{}/", shop.base)).await.expect("goto");
    wait_for(
        &c,
        "return window.__analyticsRan === 1 && window.__crmRan === true;",
        15,
        "opt-out defaults to run before a choice",
    )
    .await;
    wait_for(&c, &is(&banner_shown()), 5, "the opt-out banner").await;
    click(&c, &format!("{SR}.querySelector('.bn [data-a=optout]')")).await;
    // Revoking a tag that already ran reloads the page; afterwards only the rest runs.
    wait_for(&c, "return document.readyState === 'complete' && window.__analyticsRan === 1 && window.__crmRan === undefined;", 15, "the opt-out to take effect").await;
    let records = recorded(&c, accord).await;
    let last = records.last().expect("record");
    assert_eq!(last["region"], "US-CA");
    assert_eq!(last["jurisdiction"], "us-privacy");
    assert!(!last["granted"].as_array().expect("granted").contains(&serde_json::json!("marketing")));
    c.close().await.expect("close");
}

#[tokio::test]
async fn gpc_browser_flag_is_honoured_and_recorded_in_california() {
    let (p, c) = placed("US", Some("CA"), PageOptions { gpc: true, lang: None }).await;
    let accord = &p.accord;
    wait_for(&c, "return window.__analyticsRan === 1;", 15, "non-sale defaults to run").await;
    wait_for(&c, &format!("const g = {SR}?.querySelector('.gpc'); return !!g && g.textContent.includes('Opt-out request honored');"), 5, "the honored notice").await;
    let records = recorded(&c, accord).await;
    let gpc = records.iter().find(|r| r["action"] == "gpc").expect("a gpc record");
    assert_eq!(gpc["gpc_applied"], true);
    assert!(!gpc["granted"].as_array().expect("granted").contains(&serde_json::json!("marketing")));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        js(&c, "return window.__crmRan === undefined;").await,
        true,
        "the sale/sharing tag never runs"
    );
    c.close().await.expect("close");
}

#[tokio::test]
async fn consent_mode_default_precedes_tags_and_updates_follow_choices_and_page_loads() {
    let (_p, c) = placed("DE", None, PageOptions::default()).await;
    wait_for(&c, &is(&banner_shown()), 15, "the banner").await;
    let first = js(&c, "return Array.from(window.dataLayer[0]);").await;
    assert_eq!(first[0], "consent");
    assert_eq!(first[1], "default");
    for t in [
        "ad_storage",
        "ad_user_data",
        "ad_personalization",
        "analytics_storage",
        "functionality_storage",
        "personalization_storage",
        "security_storage",
    ] {
        assert!(first[2][t].is_string(), "default sets {t}: {first}");
    }
    assert_eq!(first[2]["analytics_storage"], "denied");
    assert!(first[2]["wait_for_update"].is_number());
    let regional = js(
        &c,
        "return window.dataLayer.map(e => Array.from(e)).filter(e => e[1] === 'default' && e[2].region);",
    )
    .await;
    assert!(
        regional.as_array().is_some_and(|r| r
            .iter()
            .any(|e| e[2]["region"].as_array().is_some_and(|l| l.contains(&serde_json::json!("DE"))))),
        "region-specific defaults: {regional}"
    );

    click(&c, &format!("{SR}.querySelector('.bn [data-a=accept]')")).await;
    wait_for(&c, "return window.__analyticsRan === 1;", 10, "analytics after Accept all").await;
    let seen = js(&c, "return window.__dataLayerAtAnalytics;").await;
    let entries = seen.as_array().expect("entries");
    assert_eq!(entries[0][1], "default", "the default came before the tag");
    let update = entries.iter().find(|e| e[1] == "update").expect("an update before the tag ran");
    assert_eq!(update[2]["analytics_storage"], "granted");
    assert_eq!(update[2]["ad_storage"], "granted");

    c.refresh().await.expect("reload");
    wait_for(&c, "return window.__analyticsRan === 1;", 10, "analytics on the next page load").await;
    let seen = js(&c, "return window.__dataLayerAtAnalytics;").await;
    let update =
        seen.as_array().expect("entries").iter().find(|e| e[1] == "update").cloned().expect("update on load");
    assert_eq!(update[2]["analytics_storage"], "granted");
    c.close().await.expect("close");
}

#[tokio::test]
async fn right_to_left_and_left_to_right_languages_render_correctly() {
    let accord = accord().await;
    let driver = Driver::start().await;
    let c = driver.session(true).await;
    c.goto(&accord.url("/?lang=ar")).await.expect("goto");
    assert_eq!(js(&c, "return [document.documentElement.lang, document.documentElement.dir, getComputedStyle(document.querySelector('main')).direction];").await, serde_json::json!(["ar", "rtl", "rtl"]));
    // The brand sits at the inline start, which is the right edge in RTL.
    let mirrored = js(&c, "const b = document.querySelector('.brand').getBoundingClientRect(); return b.left > window.innerWidth / 2;").await;
    assert_eq!(mirrored, true, "the header is mirrored");
    c.close().await.expect("close");

    for (lang, dir) in [("ar", "rtl"), ("de", "ltr")] {
        let shop =
            MarketingSite::start_with(&accord.base, PageOptions { gpc: false, lang: Some(lang) }).await;
        let c = driver.session(true).await;
        c.goto(&format!("{}/", shop.base)).await.expect("goto");
        wait_for(&c, &is(&banner_shown()), 15, "the banner").await;
        let got = js(&c, &format!("const b = {SR}.querySelector('.bn'); return [b.getAttribute('lang'), getComputedStyle(b).direction, b.querySelector('[data-a=accept]').textContent];")).await;
        assert_eq!(got[0], lang);
        assert_eq!(got[1], dir);
        assert_ne!(got[2], "Accept all", "{lang} text");
        c.close().await.expect("close");
    }
}

#[tokio::test]
async fn embed_asks_again_after_expiry_and_material_change_but_not_minor_change() {
    let accord = accord().await;
    let shop = MarketingSite::start(&accord.base).await;
    let driver = Driver::start().await;
    let c = driver.session(true).await;
    c.goto(&format!("{}/", shop.base)).await.expect("goto");
    wait_for(&c, &is(&banner_shown()), 15, "the banner").await;
    click(&c, &format!("{SR}.querySelector('.bn [data-a=accept]')")).await;
    wait_for(&c, "return window.__analyticsRan === 1;", 10, "analytics after Accept all").await;
    recorded(&c, &accord).await;
    let cookie = consent_cookie(&c).await.expect("cookie");

    let publish = |version: &'static str, material: bool| {
        let ledger = accord.app.state.ledger.clone();
        let state = accord.app.state.clone();
        async move {
            let src = format!("+++\nversion = \"{version}\"\neffective_date = \"2026-12-01\"\ntitle = \"Privacy\"\n+++\n## A\ntext\n");
            accord::content::publish_policy(ledger.as_ref(), &src, material).await.expect("publish");
            accord::server::reload_content(&state).await.expect("reload");
        }
    };
    // Minor change: the stored decision still counts.
    publish("2026-12-01", false).await;
    c.refresh().await.expect("reload");
    wait_for(&c, "return window.__analyticsRan === 1;", 10, "analytics without asking again").await;
    assert_eq!(js(&c, &is(&banner_shown())).await, false, "minor change: no banner");

    // Expired: a decision older than its lifetime asks again.
    let old = cookie.decided_at - 400 * 86_400;
    let expired = format!("1~{}~{old}~{}~analytics.marketing", cookie.visitor_id, cookie.policy_version);
    js(&c, &format!("document.cookie = 'accord_consent={expired}; path=/'; return 1;")).await;
    c.refresh().await.expect("reload");
    wait_for(&c, &is(&banner_shown()), 10, "the banner after expiry").await;
    assert_eq!(
        js(&c, "return window.__analyticsRan === undefined;").await,
        true,
        "expired consent runs nothing"
    );

    // Material change: a fresh, valid decision made before it asks again too.
    click(&c, &format!("{SR}.querySelector('.bn [data-a=accept]')")).await;
    wait_for(&c, "return window.__analyticsRan === 1;", 10, "analytics after accepting again").await;
    publish("2027-01-01", true).await;
    c.refresh().await.expect("reload");
    wait_for(&c, &is(&banner_shown()), 10, "the banner after a material change").await;
    assert_eq!(js(&c, "return window.__analyticsRan === undefined;").await, true);
    c.close().await.expect("close");
}

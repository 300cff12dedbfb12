//! Real-browser harness: Debian's Chromium driven through chromedriver (WebDriver).

use fantoccini::{Client, ClientBuilder};
use serde_json::{json, Value};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// One chromedriver process, killed on drop.
pub struct Driver {
    child: Child,
    port: u16,
    profiles: Mutex<Vec<tempfile::TempDir>>,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl Driver {
    pub async fn start() -> Self {
        assert!(
            std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists(),
            "Chromium and chromedriver are required: run `make test` (it installs them) or apt-get install chromium chromium-driver"
        );
        let port = free_port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Own process group: on drop the whole tree (driver + browsers) is killed, even
            // when a failing test never closed its session.
            .process_group(0)
            .spawn()
            .expect("chromedriver starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not listen on {port}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Self { child, port, profiles: Mutex::new(Vec::new()) }
    }

    /// A new headless browser session; `javascript: false` disables scripts entirely.
    pub async fn session(&self, javascript: bool) -> Client {
        let dir = tempfile::tempdir().expect("profile dir");
        let profile = dir.path().to_owned();
        self.profiles.lock().expect("profiles").push(dir);
        let mut prefs = serde_json::Map::new();
        if !javascript {
            prefs.insert("profile.managed_default_content_settings.javascript".into(), json!(2));
        }
        let caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.display()),
                ],
                "prefs": prefs,
            }
        });
        let Value::Object(caps) = caps else { unreachable!("json object") };
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{}", self.port))
            .await
            .expect("browser session starts")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `script` (a function body) and returns its value.
pub async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![]).await.unwrap_or_else(|e| panic!("script failed: {e}\n{script}"))
}

/// Polls `script` until it returns `true`, or fails after `secs` with `what`.
pub async fn wait_for(c: &Client, script: &str, secs: u64, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if js(c, script).await == Value::Bool(true) {
            return;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Presses keys (WebDriver key actions) in order, each down then up.
pub async fn press(c: &Client, keys: &[char]) {
    use fantoccini::actions::{InputSource, KeyAction, KeyActions};
    let mut actions = KeyActions::new("keyboard".into());
    for k in keys {
        actions = actions.then(KeyAction::Down { value: *k }).then(KeyAction::Up { value: *k });
    }
    c.perform_actions(actions).await.expect("key actions");
}

/// Clicks with a real pointer at the centre of the element the JS expression `expr` yields
/// (works inside shadow roots, where WebDriver locators do not reach).
pub async fn click(c: &Client, expr: &str) {
    use fantoccini::actions::{InputSource, MouseActions, PointerAction, MOUSE_BUTTON_LEFT};
    let script = format!(
        "const e = {expr}; if (!e) return null; e.scrollIntoView({{block: 'center'}}); \
         const r = e.getBoundingClientRect(); return [Math.round(r.x + r.width / 2), Math.round(r.y + r.height / 2)];"
    );
    let at = js(c, &script).await;
    let (Some(x), Some(y)) = (at[0].as_i64(), at[1].as_i64()) else { panic!("nothing to click: {expr}") };
    let actions = MouseActions::new("mouse".into())
        .then(PointerAction::MoveTo { duration: None, x, y })
        .then(PointerAction::Down { button: MOUSE_BUTTON_LEFT })
        .then(PointerAction::Up { button: MOUSE_BUTTON_LEFT });
    c.perform_actions(actions).await.expect("pointer actions");
}

/// WebDriver key codes.
pub mod keys {
    pub const TAB: char = '\u{E004}';
    pub const ENTER: char = '\u{E007}';
    pub const SHIFT: char = '\u{E008}';
    pub const ESCAPE: char = '\u{E00C}';
    pub const SPACE: char = '\u{E00D}';
}

/// Shift+Tab.
pub async fn shift_tab(c: &Client) {
    use fantoccini::actions::{InputSource, KeyAction, KeyActions};
    let actions = KeyActions::new("keyboard".into())
        .then(KeyAction::Down { value: keys::SHIFT })
        .then(KeyAction::Down { value: keys::TAB })
        .then(KeyAction::Up { value: keys::TAB })
        .then(KeyAction::Up { value: keys::SHIFT });
    c.perform_actions(actions).await.expect("key actions");
}

/// How the stand-in marketing page is set up.
#[derive(Clone, Copy, Default)]
pub struct PageOptions {
    /// Simulates a browser with Global Privacy Control on (`navigator.globalPrivacyControl`).
    pub gpc: bool,
    /// `data-lang` on the embed tag.
    pub lang: Option<&'static str>,
}

/// A stand-in marketing site on another origin (`localhost` vs Accord's `127.0.0.1`) whose
/// page embeds Accord with one `<script>` tag and carries gated tags. The gated analytics tag
/// records the Consent Mode entries that existed when it ran.
pub struct MarketingSite {
    pub base: String,
    _task: tokio::task::JoinHandle<()>,
}

impl MarketingSite {
    pub async fn start(accord_base: &str) -> Self {
        Self::start_with(accord_base, PageOptions::default()).await
    }

    pub async fn start_with(accord_base: &str, opts: PageOptions) -> Self {
        use axum::response::Html;
        use axum::routing::get;
        let gpc = if opts.gpc {
            "<script>Object.defineProperty(navigator, 'globalPrivacyControl', {value: true});</script>"
        } else {
            ""
        };
        let lang = opts.lang.map(|l| format!(" data-lang=\"{l}\"")).unwrap_or_default();
        let page = format!(
            r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title>{gpc}</head>
<body>
<h1>Shop</h1>
<p><a id="first-link" href="/">Home</a> <button type="button" id="settings" data-accord-open>Cookie settings</button></p>
<script type="text/plain" data-category="analytics">window.__analyticsRan = (window.__analyticsRan || 0) + 1;
window.__dataLayerAtAnalytics = (window.dataLayer || []).map(e => Array.from(e));</script>
<script type="text/plain" data-category="marketing" data-src="/crm.js"></script>
<iframe data-src="/frame" data-category="marketing" title="Map"></iframe>
<script src="{accord_base}/embed/consent.js" data-site="default"{lang} async></script>
</body></html>"#
        );
        let app = axum::Router::new()
            .route("/", get(move || std::future::ready(Html(page.clone()))))
            .route(
                "/crm.js",
                get(|| async { ([("content-type", "text/javascript")], "window.__crmRan = true;") }),
            )
            .route("/frame", get(|| async { Html("<p>map</p>") }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { base: format!("http://localhost:{port}"), _task: task }
    }
}

//! Test harness: a real Accord on a real SQLite file in a temporary directory, driven
//! in-process (`TestApp::get/post`) or over a real socket on port 0 (`TestApp::spawn`).

use accord::config::{Config, SiteConfig};
use accord::AppState;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use std::net::SocketAddr;
use std::path::PathBuf;
use tempfile::TempDir;
use tower::ServiceExt;

pub mod browser;
pub mod geoip;

/// The repository root (tests/ is one level below it).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().map(PathBuf::from).unwrap_or_default()
}

/// The address in-process requests appear to come from.
pub const CLIENT_ADDR: &str = "203.0.113.77:40000";

pub struct TestAppBuilder {
    config: Config,
}

impl Default for TestAppBuilder {
    fn default() -> Self {
        let mut config = Config::default();
        config.log.filter = "warn".into();
        config.server.site_root = workspace_root().join("public");
        // Tests send hundreds of requests from one address; tests/limits.rs turns limits on.
        config.rate_limit.enabled = false;
        Self { config }
    }
}

impl TestAppBuilder {
    /// Serve the cargo-leptos output (WASM islands, CSS) instead of `public/`.
    pub fn built_site(mut self) -> Self {
        self.config.server.site_root = workspace_root().join("target/site");
        self
    }

    pub fn site(mut self, id: &str, origins: &[&str]) -> Self {
        self.config
            .sites
            .push(SiteConfig { id: id.into(), origins: origins.iter().map(|o| (*o).into()).collect() });
        self
    }

    pub fn configure(mut self, f: impl FnOnce(&mut Config)) -> Self {
        f(&mut self.config);
        self
    }

    pub async fn build(mut self) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        self.config.database.path = dir.path().join("accord.db");
        self.config.validate().expect("test config is valid");
        accord::telemetry::init(&self.config.log);
        let state = accord::server::build_state(self.config).await.expect("state builds");
        let router = accord::http::router(state.clone());
        TestApp { dir, state, router }
    }
}

pub struct TestApp {
    dir: TempDir,
    pub state: AppState,
    router: accord::http::App,
}

#[derive(Debug)]
pub struct TestResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl TestResponse {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the documented error shape and returns the code.
    pub fn error_code(&self) -> String {
        let j = self.json();
        let code = j["error"]["code"].as_str().unwrap_or_else(|| panic!("no error.code in {j}"));
        let message = j["error"]["message"].as_str().unwrap_or_else(|| panic!("no error.message in {j}"));
        assert!(!message.is_empty(), "empty error message in {j}");
        code.to_owned()
    }
}

impl TestApp {
    pub fn builder() -> TestAppBuilder {
        TestAppBuilder::default()
    }

    pub async fn new() -> Self {
        Self::builder().build().await
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("accord.db")
    }

    /// Sends a request through the full router, as if from [`CLIENT_ADDR`].
    pub async fn send(&self, req: Request<Body>) -> TestResponse {
        self.send_from(CLIENT_ADDR, req).await
    }

    /// Sends a request as if it came from the socket address `from` (`"192.0.2.1:5000"`).
    pub async fn send_from(&self, from: &str, mut req: Request<Body>) -> TestResponse {
        let addr: SocketAddr = from.parse().expect("socket addr");
        req.extensions_mut().insert(ConnectInfo(addr));
        let res = self.router.clone().oneshot(req).await.expect("router is infallible");
        let (parts, body) = res.into_parts();
        let body = body.collect().await.expect("body").to_bytes();
        TestResponse { status: parts.status, headers: parts.headers, body }
    }

    pub async fn get(&self, uri: &str) -> TestResponse {
        self.send(Request::get(uri).body(Body::empty()).expect("request")).await
    }

    pub async fn post(&self, uri: &str, content_type: &str, body: impl Into<Body>) -> TestResponse {
        self.send(Request::post(uri).header("content-type", content_type).body(body.into()).expect("request"))
            .await
    }

    pub async fn post_json(&self, uri: &str, body: &serde_json::Value) -> TestResponse {
        self.post(uri, "application/json", body.to_string()).await
    }

    /// Serves the app on 127.0.0.1:0 until the returned handle is dropped.
    pub async fn spawn(self) -> Running {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let state = self.state.clone();
        let task = tokio::spawn(async move {
            accord::server::run(listener, state, async {
                let _ = rx.await;
            })
            .await
        });
        Running { base: format!("http://{addr}"), app: self, shutdown: Some(tx), task: Some(task) }
    }
}

/// A server on a real socket.
pub struct Running {
    pub base: String,
    pub app: TestApp,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), accord::server::StartError>>>,
}

impl Running {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Graceful shutdown: stop accepting, drain, and report how the server ended.
    pub async fn shutdown(mut self) -> Result<(), accord::server::StartError> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match self.task.take() {
            Some(t) => t.await.expect("server task does not panic"),
            None => Ok(()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A minimal valid consent body for the default content (`granted` only when non-empty or
/// when the action is `custom`, where it is required).
pub fn consent_body(action: &str, granted: &[&str]) -> serde_json::Value {
    let mut body = serde_json::json!({
        "site": "default",
        "action": action,
        "policy_version": "2023-07-05",
        "source": "api",
        "page": "/pricing",
    });
    if !granted.is_empty() || action == "custom" {
        body["granted"] = serde_json::json!(granted);
    }
    body
}

//! The ceiling: the least an axum 0.8 server can do per request on this machine. Same runtime
//! shape as `accord serve` (tokio multi-thread, one worker per core), no middleware.
//!
//! For the served documents the ceiling sends the very bytes Accord sends (`--config-file`,
//! `--script-file`, gzip-compressed once at start, as Accord does), so the ratio measures what
//! Accord adds per request rather than how much larger its answers are than a stand-in.

use anyhow::{Context, Result};
use axum::body::Bytes;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;

/// A small static JSON document standing in for the banner configuration.
const CONFIG: &str = r#"{"site":"default","language":"en","policy":{"version":"2023-07-05"},"categories":[{"key":"necessary","required":true},{"key":"analytics","required":false},{"key":"marketing","required":false}]}"#;

async fn hello() -> &'static str {
    "hello"
}

/// A file's bytes gzip-compressed at the best level, served with `Content-Encoding: gzip`.
fn gzip_file(path: &Path) -> Result<Bytes> {
    let plain = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(&plain)?;
    Ok(gz.finish()?.into())
}

fn served(content_type: &'static str, gzip: Option<Bytes>) -> axum::routing::MethodRouter {
    get(move || {
        let gzip = gzip.clone();
        async move {
            match gzip {
                Some(b) => ([(header::CONTENT_TYPE, content_type), (header::CONTENT_ENCODING, "gzip")], b)
                    .into_response(),
                None => ([(header::CONTENT_TYPE, "application/json")], CONFIG).into_response(),
            }
        }
    })
}

/// Reads and parses the JSON body like the consent endpoint does, answers 201 with a small JSON.
async fn record(Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
    let action = body.get("action").cloned().unwrap_or(Value::Null);
    (StatusCode::CREATED, Json(json!({"record_id": 1, "action": action})))
}

pub fn main(bind: SocketAddr, config_file: Option<&Path>, script_file: Option<&Path>) -> Result<()> {
    let config = config_file.map(gzip_file).transpose()?;
    let script = script_file.map(gzip_file).transpose()?;
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("tokio runtime")?;
    runtime.block_on(async move {
        let mut app = Router::new()
            .route("/", get(hello).post(record))
            .route("/config", served("application/json", config));
        if script.is_some() {
            app = app.route("/script", served("text/javascript; charset=utf-8", script));
        }
        let listener = tokio::net::TcpListener::bind(bind).await.with_context(|| format!("bind {bind}"))?;
        // The parent reads this line, exactly as it reads Accord's.
        eprintln!("hello listening on http://{}", listener.local_addr()?);
        axum::serve(listener, app).await.context("serve")
    })
}

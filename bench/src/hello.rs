//! The ceiling: the least an axum 0.8 server can do per request on this machine. Same runtime
//! shape as `accord serve` (tokio multi-thread, one worker per core), no middleware.

use anyhow::{Context, Result};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};
use std::net::SocketAddr;

/// A small static JSON document standing in for the banner configuration.
const CONFIG: &str = r#"{"site":"default","language":"en","policy":{"version":"2023-07-05"},"categories":[{"key":"necessary","required":true},{"key":"analytics","required":false},{"key":"marketing","required":false}]}"#;

async fn hello() -> &'static str {
    "hello"
}

async fn config() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], CONFIG)
}

/// Reads and parses the JSON body like the consent endpoint does, answers 201 with a small JSON.
async fn record(Json(body): Json<Value>) -> (StatusCode, Json<Value>) {
    let action = body.get("action").cloned().unwrap_or(Value::Null);
    (StatusCode::CREATED, Json(json!({"record_id": 1, "action": action})))
}

pub fn main(bind: SocketAddr) -> Result<()> {
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().build().context("tokio runtime")?;
    runtime.block_on(async move {
        let app = Router::new().route("/", get(hello).post(record)).route("/config", get(config));
        let listener = tokio::net::TcpListener::bind(bind).await.with_context(|| format!("bind {bind}"))?;
        // The parent reads this line, exactly as it reads Accord's.
        eprintln!("hello listening on http://{}", listener.local_addr()?);
        axum::serve(listener, app).await.context("serve")
    })
}

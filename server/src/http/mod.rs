//! The router factory: every route Accord serves, and the layers around them.

pub mod admin;
pub mod admin_ui;
pub mod api;
pub mod client;
pub mod context;
pub mod embed;
pub mod forms;
pub mod health;
pub mod openapi;
pub mod pages;
pub mod rate_limit;
pub mod rejections;
pub(crate) mod request;
pub mod rights;
pub mod security;

use crate::state::AppState;
use axum::http::{header, HeaderValue};
use axum::routing::{get, post};
use axum::Router;
use std::time::Duration;
use tower_http::compression::CompressionLayer;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

/// Builds the complete application. Tests call this with their own state.
pub fn router(state: AppState) -> Router {
    let timeout = Duration::from_secs(state.config.server.request_timeout_secs);
    let embed_dir = state.config.server.site_root.join("embed");
    let mut embed = Router::new();
    if let Some(script) = embed::EmbedScript::load(&embed_dir) {
        embed = embed.route(
            &format!("/{}", embed::SCRIPT),
            get(move |headers: axum::http::HeaderMap| {
                let script = script.clone();
                async move { script.respond(&headers) }
            }),
        );
    }
    let embed = embed
        .fallback_service(ServeDir::new(embed_dir))
        .layer(axum::middleware::from_fn(pages::impossible_file_names))
        // Embedding sites fetch the script on every first page view: let browsers and CDNs
        // keep it a few minutes, short enough that a fix reaches visitors quickly.
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=300"),
        ));
    let app = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/.well-known/gpc.json", get(health::gpc_json))
        .route("/consent", post(forms::submit).layer(axum::extract::DefaultBodyLimit::max(forms::MAX_BODY)))
        .route("/preferences/history", get(rights::download))
        .route(
            "/preferences/erase",
            post(rights::erase).layer(axum::extract::DefaultBodyLimit::max(forms::MAX_BODY)),
        )
        .merge(admin_ui::routes(&state))
        // Registered explicitly: anything unrouted falls through to the Leptos pages.
        .route(openapi::DOC_PATH, get(openapi::document))
        .merge(openapi::docs_ui())
        .nest("/api/v1", api::routes(&state))
        .nest("/embed", embed);
    pages::mount(app, &state)
        .layer(axum::middleware::from_fn_with_state(state.clone(), admin_ui::load))
        .layer(axum::middleware::from_fn_with_state(state.clone(), rate_limit::limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), context::attach))
        .layer(tower_cookies::CookieManagerLayer::new())
        .layer(axum::middleware::from_fn_with_state(state.clone(), security::headers))
        .layer(CompressionLayer::new())
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        // Outside the timeout, so its 408 gets the JSON error shape too.
        .layer(axum::middleware::from_fn_with_state(state.clone(), rejections::json_errors))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

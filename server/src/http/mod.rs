//! The router factory: every route Accord serves, and the layers around them.

pub mod admin;
pub mod api;
pub mod client;
pub mod context;
pub mod forms;
pub mod health;
pub mod pages;
pub(crate) mod request;
pub mod rights;
pub mod admin_ui;

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
    let embed = Router::new()
        .fallback_service(ServeDir::new(state.config.server.site_root.join("embed")))
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
        .route("/preferences/erase", post(rights::erase).layer(axum::extract::DefaultBodyLimit::max(forms::MAX_BODY)))
        .merge(admin_ui::routes(&state))
        .nest("/api/v1", api::routes(&state))
        .nest("/embed", embed);
    pages::mount(app, &state)
        .layer(axum::middleware::from_fn_with_state(state.clone(), admin_ui::load))
        .layer(axum::middleware::from_fn_with_state(state.clone(), context::attach))
        .layer(tower_cookies::CookieManagerLayer::new())
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("strict-origin-when-cross-origin"),
        ))
        .layer(CompressionLayer::new())
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(TraceLayer::new_for_http())
        .with_state(state)
}

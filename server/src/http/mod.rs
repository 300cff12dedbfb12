//! The application factory: every route Accord serves, and the layers around them, in two
//! lanes (`lanes`).

pub mod admin;
pub mod admin_ui;
pub mod api;
pub mod bundle;
pub mod client;
pub mod context;
pub mod cors;
pub mod embed;
pub mod forms;
pub mod health;
pub mod lanes;
pub mod openapi;
pub mod pages;
pub mod precompressed;
pub mod rate_limit;
pub mod rejections;
pub(crate) mod request;
pub mod respond;
pub mod rights;
pub mod security;

use crate::state::AppState;
use axum::http::{header, HeaderValue};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use std::convert::Infallible;
use std::time::Duration;
use tower_http::compression::CompressionLayer;
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

/// Answers worth compressing per request: pages, exports, large JSON. Small API answers
/// (a decision is ~500 bytes) gain a few hundred bytes and cost a deflate run each; the embed
/// script and banner configs arrive already compressed (`http::precompressed`).
pub(crate) fn compressible() -> impl tower_http::compression::Predicate {
    use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
    SizeAbove::new(1024)
        .and(NotForContentType::GRPC)
        .and(NotForContentType::IMAGES)
        .and(NotForContentType::SSE)
}

/// Builds the complete application: every request to its lane ([`lanes`]). The server serves
/// this; [`router`] boxes it for tests.
pub fn app(state: AppState) -> impl AppService {
    let timeout = Duration::from_secs(state.config.server.request_timeout_secs);
    let embed_dir = state.config.server.site_root.join("embed");
    // Every first page view on every embedding site asks for the script: its own route, in
    // front of the static-file service and its layers.
    let script = embed::EmbedScript::load(&embed_dir);
    let embed = Router::new()
        .fallback_service(ServeDir::new(embed_dir))
        .layer(axum::middleware::from_fn(pages::impossible_file_names))
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static(embed::CACHE_CONTROL),
        ));
    // The short lane's router (`lanes`): the public API, its OpenAPI document (a path under
    // /api/v1 like the API's) and the embed script.
    let mut public = api::routes().route(
        openapi::DOC_PATH,
        get(openapi::document).layer(CompressionLayer::new().compress_when(compressible())),
    );
    let script_route = script.is_some();
    if let Some(script) = script {
        public = public.route(
            lanes::SCRIPT_PATH,
            get(move |headers: axum::http::HeaderMap| {
                let script = script.clone();
                async move { script.respond(&headers) }
            }),
        );
    }
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
        .merge(openapi::docs_ui())
        // The public API is served by the short lane (`api::routes`); under /api/v1 the full
        // stack has the admin API and the JSON 404 for /api/v1 itself.
        .nest(
            "/api/v1/admin",
            admin::routes()
                .fallback(api::not_found)
                .method_not_allowed_fallback(api::method_not_allowed)
                .layer(axum::middleware::from_fn_with_state(state.clone(), cors::layer)),
        )
        .route("/api/v1", axum::routing::any(api::not_found))
        .nest("/embed", embed);
    let routes = pages::mount(app, &state).with_state(state.clone());
    // Wrapped around the finished router rather than added with `Router::layer`: that boxes
    // every route at every layer, and each middleware then clones the boxed stack beneath it
    // on every request (quadratic in the layers). Here a request costs one clone of a stack
    // of plain structs.
    let full = tower::ServiceBuilder::new()
        .map_response(IntoResponse::into_response)
        .layer(TraceLayer::new_for_http())
        // Outside the timeout, so its 408 gets the JSON error shape too.
        .layer(axum::middleware::from_fn_with_state(state.clone(), rejections::json_errors))
        .layer(timeout_layer(timeout))
        .layer(CompressionLayer::new().compress_when(compressible()))
        .layer(axum::middleware::from_fn_with_state(state.clone(), security::headers))
        .layer(tower_cookies::CookieManagerLayer::new())
        .layer(axum::middleware::from_fn_with_state(state.clone(), context::attach))
        .layer(axum::middleware::from_fn_with_state(state.clone(), rate_limit::limit))
        .layer(axum::middleware::from_fn_with_state(state.clone(), admin_ui::load))
        .service(routes);
    // The public API's short lane (`lanes`): its own routes and the layers that act on them.
    let short = tower::ServiceBuilder::new()
        .map_response(IntoResponse::into_response)
        .layer(TraceLayer::new_for_http())
        // Outside the timeout, so its 408 gets the JSON error shape too.
        .layer(lanes::PublicApiLayer(state.clone()))
        .layer(timeout_layer(timeout))
        .service(api::shortcuts(public.with_state(state.clone()), &state));
    lanes::Lanes::new(short, full, script_route)
}

/// A service of axum requests as the server runs them: the application ([`app`]) and the
/// handlers its short lane calls directly (`api::Routes`).
pub trait AppService:
    tower::Service<
        axum::extract::Request,
        Response = axum::response::Response,
        Error = Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + Sync
    + 'static
{
}

impl<S> AppService for S where
    S: tower::Service<
            axum::extract::Request,
            Response = axum::response::Response,
            Error = Infallible,
            Future: Send + 'static,
        > + Clone
        + Send
        + Sync
        + 'static
{
}

/// The application as tests and tools keep it (in a field of a named type): [`app`], boxed.
pub type App = tower::util::BoxCloneSyncService<axum::extract::Request, axum::response::Response, Infallible>;

/// Builds the complete application, boxed ([`App`]). Tests call this with their own state.
pub fn router(state: AppState) -> App {
    App::new(app(state))
}

fn timeout_layer(timeout: Duration) -> tower_http::timeout::TimeoutLayer {
    tower_http::timeout::TimeoutLayer::with_status_code(axum::http::StatusCode::REQUEST_TIMEOUT, timeout)
}

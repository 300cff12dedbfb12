//! Two middleware stacks in front of one set of routes. The public consent API (banner
//! config, consents, decisions: asked on every first page view of every visitor) takes a
//! short lane; everything else (pages, forms, the admin area and its API, static files)
//! takes the full stack.
//!
//! The short lane drops only layers that do nothing on those paths (cookie jar, page
//! context, admin session) and does rate limiting, JSON error bodies and security headers in
//! one middleware instead of three. Each `from_fn` layer costs a boxed future and a clone of
//! the stack beneath it per request: a banner config answer took 66 k instructions through
//! the full stack, 58 k through this lane (callgrind over `accord-bench stack`). Same answers
//! either way: both lanes call the same routes and the same checks (the API, limits and
//! hostile-input suites go through this lane).

use super::{rate_limit, rejections, security};
use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use futures_util::future::Either;
use std::convert::Infallible;
use std::task::{Context, Poll};
use tower::util::Oneshot;
use tower::{Service, ServiceExt};

/// The public API: `/api/v1/…` except the authenticated admin API.
pub fn is_public_api(path: &str) -> bool {
    path.starts_with("/api/v1/") && !path.starts_with("/api/v1/admin")
}

/// The short lane's one middleware: the rate limit, CORS (API paths), then the JSON error body and the
/// security headers, exactly as the full stack's `rate_limit::limit`, `cors::layer`,
/// `rejections::json_errors` and `security::headers` do them.
pub async fn public_api(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let policy = security::Policy::for_path(req.uri().path());
    let method = req.method().clone();
    let wants_json = rejections::wants_json(&method, req.uri().path());
    // The API is called cross-origin; the embed script is loaded by a <script> tag.
    let api = is_public_api(req.uri().path());
    let mut res = match rate_limit::refusal(&state, &req) {
        Some(refused) => refused,
        None if api && method == Method::OPTIONS => state.cors.preflight(req.headers()),
        None => {
            let origin = if api { state.cors.allowed_origin(req.headers()) } else { None };
            let mut res = next.run(req).await;
            // Room for the CORS and security headers at once: a header map grown one insert
            // at a time reallocates several times per answer.
            res.headers_mut().reserve(8);
            if api {
                state.cors.apply(origin, res.headers_mut());
            }
            if wants_json {
                rejections::into_json(&state, &method, res).await
            } else {
                res
            }
        }
    };
    policy.apply(&state, res.headers_mut());
    res
}

/// Sends public API requests (and the embed script, when `script`) to `short`, the rest to
/// `full`.
#[derive(Clone)]
pub struct Lanes<S, F> {
    pub short: S,
    pub full: F,
    /// The embed script is served from memory by the short lane (else `full`'s static files).
    pub script: bool,
}

/// The embed script's path: every first page view on every embedding site asks for it.
pub const SCRIPT_PATH: &str = "/embed/consent.js";

impl<S, F> Service<Request> for Lanes<S, F>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone,
    F: Service<Request, Response = Response, Error = Infallible> + Clone,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<Oneshot<S, Request>, Oneshot<F, Request>>;

    /// Each call drives a clone of its lane through readiness (`Oneshot`), as axum's
    /// router does with its routes.
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let path = req.uri().path();
        if is_public_api(path) || (self.script && path == SCRIPT_PATH) {
            Either::Left(self.short.clone().oneshot(req))
        } else {
            Either::Right(self.full.clone().oneshot(req))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{is_public_api, SCRIPT_PATH};

    #[test]
    fn the_script_path_names_the_embed_script() {
        assert_eq!(SCRIPT_PATH, format!("/embed/{}", crate::http::embed::SCRIPT));
    }

    #[test]
    fn only_the_public_api_takes_the_short_lane() {
        for p in ["/api/v1/config", "/api/v1/consents", "/api/v1/visitors/x/decision", "/api/v1/nope"] {
            assert!(is_public_api(p), "{p}");
        }
        for p in ["/api/v1/admin/export", "/api/v1", "/api/docs", "/admin", "/", "/embed/consent.js"] {
            assert!(!is_public_api(p), "{p}");
        }
    }
}

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

/// The short lane's one middleware: the rate limit, CORS, then the JSON error body and the
/// security headers, exactly as the full stack's `rate_limit::limit`, `cors::layer`,
/// `rejections::json_errors` and `security::headers` do them.
pub async fn public_api(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let policy = security::Policy::for_path(req.uri().path());
    let method = req.method().clone();
    let wants_json = rejections::wants_json(&method, req.uri().path());
    let mut res = match rate_limit::refusal(&state, &req) {
        Some(refused) => refused,
        None if method == Method::OPTIONS => state.cors.preflight(req.headers()),
        None => {
            let origin = state.cors.allowed_origin(req.headers());
            let mut res = next.run(req).await;
            // Room for the CORS and security headers at once: a header map grown one insert
            // at a time reallocates several times per answer.
            res.headers_mut().reserve(8);
            state.cors.apply(origin, res.headers_mut());
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

/// Sends public API requests to `short`, the rest to `full`.
#[derive(Clone)]
pub struct Lanes<S, F> {
    pub short: S,
    pub full: F,
}

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
        if is_public_api(req.uri().path()) {
            Either::Left(self.short.clone().oneshot(req))
        } else {
            Either::Right(self.full.clone().oneshot(req))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_public_api;

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

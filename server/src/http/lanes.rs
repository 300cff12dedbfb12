//! Two middleware stacks in front of the routes. The public consent API (banner config,
//! consents, decisions: asked on every first page view of every visitor) and the embed script
//! take a short lane with their own router; everything else (pages, forms, the admin area and
//! its API, static files) takes the full stack.
//!
//! The short lane drops only layers that do nothing on those paths (cookie jar, page
//! context, admin session) and does rate limiting, CORS, JSON error bodies and security
//! headers in one plain tower layer instead of several `from_fn` middlewares (each costs a
//! boxed future and a clone of the stack beneath it per request). A banner config answer took
//! 66 k instructions through the full stack; through this lane it takes about 38 k (callgrind
//! over `accord-bench stack`; README, "Benchmark"). Same answers either way: the lanes call the
//! same checks (the API, limits and hostile-input suites go through this lane).

use super::{rate_limit, rejections, security};
use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::Request;
use axum::http::{HeaderValue, Method};
use axum::response::{IntoResponse, Response};
use futures_util::future::Either;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use tower::util::Oneshot;
use tower::{Layer, Service, ServiceExt};

/// A contract violation by the caller (a future polled again after it completed): a 500.
fn internal_error(what: &str) -> Response {
    ApiError::Internal(what.into()).into_response()
}

/// The public API: `/api/v1/…` except the authenticated admin API.
pub fn is_public_api(path: &str) -> bool {
    path.starts_with("/api/v1/") && !path.starts_with("/api/v1/admin")
}

/// The short lane's one middleware, as a tower layer: the rate limit, CORS (API paths), then
/// the JSON error body and the security headers, exactly as the full stack's
/// `rate_limit::limit`, `cors::layer`, `rejections::json_errors` and `security::headers` do
/// them. A plain service rather than `axum::middleware::from_fn`, which boxes a future and a
/// clone of the stack beneath on every request; only an error answer that needs its JSON body
/// (rare) takes a boxed future here.
#[derive(Clone)]
pub struct PublicApiLayer(pub AppState);

impl<S> Layer<S> for PublicApiLayer {
    type Service = PublicApi<S>;

    fn layer(&self, inner: S) -> PublicApi<S> {
        PublicApi { state: self.0.clone(), inner }
    }
}

#[derive(Clone)]
pub struct PublicApi<S> {
    state: AppState,
    inner: S,
}

/// What the answer gets once the routes gave it.
struct After {
    state: AppState,
    policy: security::Policy,
    /// CORS applies (an API path), with the allowed `Origin` if any.
    cors: Option<Option<HeaderValue>>,
    /// The method, when a bodiless error answer must get the JSON error body.
    json_for: Option<Method>,
}

impl After {
    /// The CORS headers, before any JSON body conversion (which keeps them).
    fn cors(&self, res: &mut Response) {
        if let Some(origin) = &self.cors {
            // Room for the CORS and security headers at once.
            res.headers_mut().reserve(8);
            self.state.cors.apply(origin.clone(), res.headers_mut());
        }
    }

    /// The security headers, last: they never overwrite what the answer set itself.
    fn security(&self, res: &mut Response) {
        self.policy.apply(&self.state, res.headers_mut());
    }
}

impl<S> Service<Request> for PublicApi<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = PublicApiFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let path = req.uri().path();
        let policy = security::Policy::for_path(path);
        let api = is_public_api(path);
        let json_for = rejections::wants_json(req.method(), path).then(|| req.method().clone());
        if let Some(mut refused) = rate_limit::refusal(&self.state, &req) {
            policy.apply(&self.state, refused.headers_mut());
            return PublicApiFuture::Ready { res: Some(refused) };
        }
        if api && req.method() == Method::OPTIONS {
            let mut res = self.state.cors.preflight(req.headers());
            policy.apply(&self.state, res.headers_mut());
            return PublicApiFuture::Ready { res: Some(res) };
        }
        let cors = api.then(|| self.state.cors.allowed_origin(req.headers()));
        let after = After { state: self.state.clone(), policy, cors, json_for };
        PublicApiFuture::Inner { fut: self.inner.call(req), after: Some(after) }
    }
}

pin_project_lite::pin_project! {
    #[project = Proj]
    pub enum PublicApiFuture<F> {
        Ready { res: Option<Response> },
        Inner { #[pin] fut: F, after: Option<After> },
        Json { fut: Pin<Box<dyn Future<Output = Response> + Send>>, after: Option<After> },
    }
}

impl<F> Future for PublicApiFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            let (res, after) = match self.as_mut().project() {
                Proj::Ready { res } => {
                    return Poll::Ready(Ok(res
                        .take()
                        .unwrap_or_else(|| internal_error("polled after completion"))))
                }
                Proj::Inner { fut, after } => {
                    let Ok(mut res) = ready!(fut.poll(cx));
                    let Some(after) = after.take() else {
                        return Poll::Ready(Ok(internal_error("polled after completion")));
                    };
                    after.cors(&mut res);
                    match after.json_for.clone().filter(|_| rejections::needs_json_body(&res)) {
                        None => {
                            after.security(&mut res);
                            return Poll::Ready(Ok(res));
                        }
                        Some(method) => (res, (after, method)),
                    }
                }
                Proj::Json { fut, after } => {
                    let mut res = ready!(fut.as_mut().poll(cx));
                    if let Some(after) = after.take() {
                        after.security(&mut res);
                    }
                    return Poll::Ready(Ok(res));
                }
            };
            let (after, method) = after;
            let state = after.state.clone();
            let fut = Box::pin(async move { rejections::into_json(&state, &method, res).await });
            self.set(PublicApiFuture::Json { fut, after: Some(after) });
        }
    }
}

/// Sends public API requests (and the embed script, when `script`) to `short`, the rest to
/// `full`. Behind one `Arc`: hyper clones the service it serves for every request, and a
/// clone of the lanes themselves would clone both middleware stacks (an axum `Router` in
/// front did that, and looked the path up, put a parameter map into the request and boxed
/// the clone and its future: about 2 k instructions a request).
pub struct Lanes<S, F>(Arc<Inner<S, F>>);

struct Inner<S, F> {
    short: S,
    full: F,
    /// The embed script is served from memory by the short lane (else `full`'s static files).
    script: bool,
}

impl<S, F> Lanes<S, F> {
    pub fn new(short: S, full: F, script: bool) -> Self {
        Self(Arc::new(Inner { short, full, script }))
    }
}

impl<S, F> Clone for Lanes<S, F> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
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
        if is_public_api(path) || (self.0.script && path == SCRIPT_PATH) {
            Either::Left(self.0.short.clone().oneshot(req))
        } else {
            Either::Right(self.0.full.clone().oneshot(req))
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

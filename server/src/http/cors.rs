//! CORS for the API: the embed on a site's pages calls Accord cross-origin. A request whose
//! `Origin` matches one of the configured sites' origins gets it echoed in
//! `Access-Control-Allow-Origin`; every answer varies on the preflight headers; an `OPTIONS`
//! preflight is answered here with the methods, headers and max-age the API allows.
//!
//! The behaviour is tower-http's `CorsLayer` configured that way (a test below compares the
//! two answer for answer). Done by hand because it runs on every public API request: the
//! layer clones its configuration and rebuilds the `Vary` value per request, about a tenth
//! of a banner config answer's instructions; here the values are built once.

use crate::config::{OriginPattern, SiteConfig};
use crate::state::AppState;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;

const VARY: &str = "origin, access-control-request-method, access-control-request-headers";
const METHODS: &str = "GET,POST,DELETE";
const HEADERS: &str = "content-type";
/// A day: browsers cap it lower anyway (Chromium: 2 hours).
const MAX_AGE: &str = "86400";

pub struct Cors {
    patterns: Vec<OriginPattern>,
}

impl Cors {
    pub fn new(sites: &[SiteConfig]) -> Self {
        Self {
            patterns: sites
                .iter()
                .flat_map(|s| s.origins.iter().filter_map(|o| OriginPattern::parse(o)))
                .collect(),
        }
    }

    /// The request's `Origin` when it is one of the sites'.
    pub fn allowed_origin(&self, req: &HeaderMap) -> Option<HeaderValue> {
        let origin = req.get(header::ORIGIN)?;
        let s = origin.to_str().ok()?;
        self.patterns.iter().any(|p| p.matches(s)).then(|| origin.clone())
    }

    /// Adds the CORS headers to an answer (`origin`: from [`allowed_origin`](Self::allowed_origin)).
    pub fn apply(&self, origin: Option<HeaderValue>, res: &mut HeaderMap) {
        res.append(header::VARY, HeaderValue::from_static(VARY));
        if let Some(o) = origin {
            res.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
        }
    }

    /// The answer to a preflight (`OPTIONS`) request.
    pub fn preflight(&self, req: &HeaderMap) -> Response {
        let mut res = Response::new(Body::empty());
        *res.status_mut() = StatusCode::OK;
        let h = res.headers_mut();
        h.insert(header::VARY, HeaderValue::from_static(VARY));
        h.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(METHODS));
        h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(HEADERS));
        h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(MAX_AGE));
        if let Some(o) = self.allowed_origin(req) {
            h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
        }
        res
    }
}

/// As a middleware (the admin API, in the full stack).
pub async fn layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if req.method() == Method::OPTIONS {
        return state.cors.preflight(req.headers());
    }
    let origin = state.cors.allowed_origin(req.headers());
    let mut res = next.run(req).await;
    state.cors.apply(origin, res.headers_mut());
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tower::{Service, ServiceExt};
    use tower_http::cors::{AllowOrigin, CorsLayer};

    fn sites() -> Vec<SiteConfig> {
        vec![
            SiteConfig { id: "shop".into(), origins: vec!["https://shop.example".into()] },
            SiteConfig { id: "dev".into(), origins: vec!["http://localhost:*".into()] },
        ]
    }

    /// tower-http configured as the API was before this module.
    fn reference() -> CorsLayer {
        let patterns: Vec<OriginPattern> =
            sites().iter().flat_map(|s| s.origins.iter().filter_map(|o| OriginPattern::parse(o))).collect();
        CorsLayer::new()
            .allow_origin(AllowOrigin::predicate(move |origin, _| {
                origin.to_str().is_ok_and(|o| patterns.iter().any(|p| p.matches(o)))
            }))
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers([header::CONTENT_TYPE])
            .max_age(Duration::from_secs(86_400))
    }

    fn sorted(h: &HeaderMap) -> Vec<(String, String)> {
        let mut v: Vec<_> = h
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect();
        v.sort();
        v
    }

    #[tokio::test]
    async fn answers_exactly_like_tower_http() {
        let cors = Cors::new(&sites());
        let inner = tower::service_fn(|_req: Request| async {
            let mut res = Response::new(Body::from("{}"));
            res.headers_mut().insert(header::VARY, HeaderValue::from_static("accept-encoding"));
            Ok::<_, std::convert::Infallible>(res)
        });
        let mut theirs = tower::ServiceBuilder::new().layer(reference()).service(inner);
        for method in [Method::GET, Method::POST, Method::OPTIONS] {
            for origin in [
                None,
                Some("https://shop.example"),
                Some("http://localhost:8080"),
                Some("https://evil.example"),
            ] {
                for acrm in [None, Some("POST")] {
                    let build = || {
                        let mut b = Request::builder().method(method.clone()).uri("/api/v1/config");
                        if let Some(o) = origin {
                            b = b.header(header::ORIGIN, o);
                        }
                        if let Some(m) = acrm {
                            b = b.header(header::ACCESS_CONTROL_REQUEST_METHOD, m);
                        }
                        b.body(Body::empty()).expect("request")
                    };
                    let expected = theirs.ready().await.expect("ready").call(build()).await.expect("answer");
                    let req = build();
                    let ours = if req.method() == Method::OPTIONS {
                        cors.preflight(req.headers())
                    } else {
                        let o = cors.allowed_origin(req.headers());
                        let mut res = inner.oneshot(req).await.expect("answer");
                        cors.apply(o, res.headers_mut());
                        res
                    };
                    let case = format!("{method} origin={origin:?} acrm={acrm:?}");
                    assert_eq!(ours.status(), expected.status(), "{case}");
                    assert_eq!(sorted(ours.headers()), sorted(expected.headers()), "{case}");
                }
            }
        }
    }
}

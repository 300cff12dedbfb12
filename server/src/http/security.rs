//! Security headers on every response. Pages get their Content-Security-Policy from the
//! Leptos shell (it carries the per-request script nonce, see `app::shell`); everything else
//! that has none gets a policy here: nothing may load or frame an API answer.

use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;

// Header values checked once, at compile time (`from_static` validates every byte, and every
// response gets several of these).
static API_CSP: HeaderValue = HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'");
/// The API docs page (Swagger UI) styles itself inline.
static DOCS_CSP: HeaderValue = HeaderValue::from_static(
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; \
     object-src 'none'; base-uri 'self'; frame-ancestors 'none'",
);
static HSTS: HeaderValue = HeaderValue::from_static("max-age=31536000; includeSubDomains");
static NOSNIFF: HeaderValue = HeaderValue::from_static("nosniff");
static REFERRER: HeaderValue = HeaderValue::from_static("strict-origin-when-cross-origin");
static DENY: HeaderValue = HeaderValue::from_static("DENY");

pub async fn headers(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let policy = Policy::for_path(req.uri().path());
    let mut res = next.run(req).await;
    policy.apply(&state, res.headers_mut());
    res
}

/// The headers a response gets, decided from the request path before the request moves on.
pub(crate) struct Policy {
    /// The demo page stands in for a third-party site and the embed script runs on such
    /// sites; neither is Accord's to restrict.
    foreign: bool,
    csp: &'static HeaderValue,
}

impl Policy {
    pub(crate) fn for_path(path: &str) -> Self {
        Self {
            foreign: path.starts_with("/demo") || path.starts_with("/embed"),
            csp: if path.starts_with("/api/docs") { &DOCS_CSP } else { &API_CSP },
        }
    }

    /// Adds what the handler did not set itself (pages bring their own nonce-carrying CSP).
    pub(crate) fn apply(&self, state: &AppState, h: &mut HeaderMap) {
        let set = |h: &mut HeaderMap, name: HeaderName, value: &HeaderValue| {
            h.entry(name).or_insert_with(|| value.clone());
        };
        set(h, header::X_CONTENT_TYPE_OPTIONS, &NOSNIFF);
        set(h, header::REFERRER_POLICY, &REFERRER);
        if !self.foreign {
            set(h, header::X_FRAME_OPTIONS, &DENY);
            set(h, header::CONTENT_SECURITY_POLICY, self.csp);
        }
        // HSTS only means something over TLS (a browser ignores it on plain http).
        if state.config.server.public_url.as_deref().is_some_and(|u| u.starts_with("https://")) {
            set(h, header::STRICT_TRANSPORT_SECURITY, &HSTS);
        }
    }
}

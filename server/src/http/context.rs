//! The visitor's language and jurisdiction, worked out once per request as an
//! [`app::model::RequestContext`]. Pages (and the form posts beside them) get it from a
//! middleware, because the Leptos app reads it from the request's extensions; API handlers
//! that need it ask for the [`Negotiated`] extractor, so the other API calls and the embed
//! script skip the geo lookup and language negotiation altogether.

use crate::state::AppState;
use app::model::RequestContext;
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::{header, request::Parts, Extensions, HeaderMap, Uri};
use axum::middleware::Next;
use axum::response::Response;
use std::convert::Infallible;
use std::net::SocketAddr;

pub async fn attach(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let path = req.uri().path();
    if !(path.starts_with("/api/") || path.starts_with("/embed/")) {
        let ctx = build(&state, req.uri(), req.headers(), req.extensions());
        req.extensions_mut().insert(ctx);
    }
    next.run(req).await
}

/// The request's context: the middleware's when it ran, else built now.
pub struct Negotiated(pub RequestContext);

impl FromRequestParts<AppState> for Negotiated {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        if let Some(ctx) = parts.extensions.get::<RequestContext>() {
            return Ok(Self(ctx.clone()));
        }
        Ok(Self(build(state, &parts.uri, &parts.headers, &parts.extensions)))
    }
}

fn query_value<'a>(uri: &'a Uri, name: &str) -> Option<std::borrow::Cow<'a, str>> {
    let q = uri.query()?;
    super::request::param(q, name)
}

pub fn build(state: &AppState, uri: &Uri, headers: &HeaderMap, extensions: &Extensions) -> RequestContext {
    let peer = extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let location = state.geo.locate(peer, headers, query_value(uri, "region").as_deref());
    let jurisdiction = state.rules.resolve(&location);
    let accept = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
    let catalog = state.catalogs.negotiate(query_value(uri, "lang").as_deref(), accept);
    let gpc_signal = headers.get("sec-gpc").is_some_and(|v| v.as_bytes().trim_ascii() == b"1");
    RequestContext { catalog, languages: state.catalogs.codes(), jurisdiction, gpc_signal }
}

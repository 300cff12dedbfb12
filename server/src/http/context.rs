//! Middleware that works out, once per request, the visitor's language and jurisdiction and
//! stores them in the request's extensions as an [`app::model::RequestContext`].

use crate::state::AppState;
use app::model::RequestContext;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;
use std::net::SocketAddr;

pub async fn attach(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let ctx = build(&state, &req);
    req.extensions_mut().insert(ctx);
    next.run(req).await
}

fn query_value(req: &Request, name: &str) -> Option<String> {
    let q = req.uri().query()?;
    form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

pub fn build(state: &AppState, req: &Request) -> RequestContext {
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let headers = req.headers();
    let location = state.geo.locate(peer, headers, query_value(req, "region").as_deref());
    let jurisdiction = state.rules.resolve(&location);
    let accept = headers.get(header::ACCEPT_LANGUAGE).and_then(|v| v.to_str().ok());
    let catalog = state.catalogs.negotiate(query_value(req, "lang").as_deref(), accept);
    let gpc_signal = headers.get("sec-gpc").is_some_and(|v| v.as_bytes().trim_ascii() == b"1");
    RequestContext { catalog, languages: state.catalogs.codes(), jurisdiction, gpc_signal }
}

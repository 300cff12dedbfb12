//! Mounts the Leptos pages. Each render gets the current content snapshot via context.

use super::bundle::Bundle;
use crate::state::AppState;
use app::{shell, App};
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use leptos::prelude::provide_context;
use leptos_axum::{
    file_and_error_handler_with_context, generate_route_list_with_exclusions_and_ssg_and_context,
    LeptosRoutes,
};
use std::sync::Arc;

pub fn mount(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    let content = state.content.clone();
    // The per-request RequestContext travels in the request's extensions; this one (English,
    // the rule for unknown locations) only serves renders without a request, such as the
    // route list generated at start-up.
    let fallback = app::model::RequestContext {
        catalog: state.catalogs.default_catalog(),
        languages: state.catalogs.codes(),
        jurisdiction: state.rules.resolve(&crate::geo::Location::default()),
        gpc_signal: false,
    };
    let context = move || {
        provide_context(content.current());
        provide_context(fallback.clone());
    };
    let (routes, _) = generate_route_list_with_exclusions_and_ssg_and_context(App, None, context.clone());
    let options = state.leptos_options.clone();
    let bundle = Arc::new(Bundle::load(&state.config.server.site_root.join("pkg")));
    router
        .leptos_routes_with_context(state, routes, context.clone(), move || shell(options.clone()))
        // Static files of the built site (pkg/, demo/, locales/); anything else renders the 404 page.
        .fallback(static_file_or_404(
            file_and_error_handler_with_context::<AppState, _>(context, shell),
            bundle,
        ))
}

/// The Leptos file handler behind two guards, with the hydration bundle answered from memory
/// in front of it ([`Bundle`]). It looks every file up with a GET whatever the request's
/// method, so a POST, DELETE or TRACE of `/locales/en.json` got the file with 200, and a
/// CONNECT got a 2xx (a tunnel, by the protocol; axum logged an error for each). And names no
/// file can have reached `ServeDir`, which logged an error per request (`ENAMETOOLONG`): any
/// client could write to the error log at will.
fn static_file_or_404<F, Fut>(
    files: F,
    bundle: Arc<Bundle>,
) -> impl Fn(Uri, State<AppState>, Request) -> BoxedResponse + Clone
where
    F: Fn(Uri, State<AppState>, Request) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Response> + Send + 'static,
{
    move |uri, state, req| {
        let (files, bundle) = (files.clone(), bundle.clone());
        Box::pin(async move {
            if impossible_path(uri.path()) {
                return StatusCode::NOT_FOUND.into_response();
            }
            if matches!(*req.method(), Method::GET | Method::HEAD) {
                if let Some(res) = bundle.respond(uri.path(), req.headers()) {
                    return res;
                }
                return files(uri, state, req).await;
            }
            // Other methods: 405 where there is a file, the 404 otherwise (JSON both, through
            // `rejections`: they are not page views). The bundle's files are known without
            // opening them.
            let method_not_allowed =
                || (StatusCode::METHOD_NOT_ALLOWED, [(header::ALLOW, "GET,HEAD")]).into_response();
            if bundle.contains(uri.path()) {
                return method_not_allowed();
            }
            let found = files(uri, state, req).await;
            if found.status() == StatusCode::OK {
                method_not_allowed()
            } else {
                found
            }
        })
    }
}

type BoxedResponse = std::pin::Pin<Box<dyn std::future::Future<Output = Response> + Send>>;

/// Longest file name the filesystem takes (NAME_MAX); longer ones fail with ENAMETOOLONG.
const MAX_NAME: usize = 255;
/// No static file's path is anywhere near this long.
const MAX_PATH: usize = 1024;

/// 404 for static-file paths no file can have: a NUL byte or an over-long name once
/// percent-decoded. `ServeDir` answers those with an empty 500 (a NUL in a HEAD request, a
/// name over 255 bytes) instead of saying there is no such file.
pub async fn impossible_file_names(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    if impossible_path(req.uri().path()) {
        return StatusCode::NOT_FOUND.into_response();
    }
    next.run(req).await
}

/// A path no file can have once percent-decoded (see [`impossible_file_names`]).
fn impossible_path(path: &str) -> bool {
    let decoded = percent_decode(path.as_bytes());
    decoded.len() > MAX_PATH
        || decoded.contains(&0)
        || decoded.split(|b| *b == b'/' || *b == b'\\').any(|name| name.len() > MAX_NAME)
}

fn percent_decode(raw: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let escaped = match raw.get(i..i + 3) {
            Some([b'%', h, l]) => hex(*h).zip(hex(*l)).map(|(h, l)| (h * 16 + l) as u8),
            _ => None,
        };
        match escaped {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(raw[i]);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::percent_decode;

    #[test]
    fn percent_decoding_keeps_invalid_escapes() {
        assert_eq!(percent_decode(b"/a%00b%2F%zz%4"), b"/a\0b/%zz%4");
    }
}

//! Mounts the Leptos pages. Each render gets the current content snapshot via context.

use crate::state::AppState;
use app::{shell, App};
use axum::Router;
use leptos::prelude::provide_context;
use leptos_axum::{
    file_and_error_handler_with_context, generate_route_list_with_exclusions_and_ssg_and_context,
    LeptosRoutes,
};

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
    router
        .leptos_routes_with_context(state, routes, context.clone(), move || shell(options.clone()))
        // Static files of the built site (pkg/, demo/, locales/); anything else renders the 404 page.
        .fallback(file_and_error_handler_with_context::<AppState, _>(context, shell))
}

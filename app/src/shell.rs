//! HTML shell and route table.

use crate::components::Layout;
use crate::model::SiteContent;
use crate::pages::{
    AdminPageView, CookiesPage, HomePage, NotFoundPage, PreferencesPage, PrivacyPage, ResponsibilityPage,
};
use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet};
use leptos_router::{
    components::{Route, Router, Routes},
    ParamSegment, StaticSegment,
};
use std::sync::Arc;

/// The document around every page. `lang`/`dir` come from the negotiated message catalog,
/// so right-to-left languages mirror the whole layout.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    content_security_policy();
    let ctx = crate::visitor::use_request();
    let (lang, dir) = (ctx.catalog.language.clone(), ctx.catalog.dir());
    view! {
        <!DOCTYPE html>
        <html lang=lang dir=dir>
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <HydrationScripts options islands=true/>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// A fresh nonce for this response's scripts (the hydration module) and the policy that only
/// lets scripts with it, or from this origin, run. WebAssembly needs `wasm-unsafe-eval`.
#[cfg(feature = "ssr")]
fn content_security_policy() {
    leptos::nonce::provide_nonce();
    if let (Some(nonce), Some(res)) =
        (leptos::nonce::use_nonce(), use_context::<leptos_axum::ResponseOptions>())
    {
        let policy = format!(
            "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; style-src 'self'; \
             img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; \
             form-action 'self'; frame-ancestors 'none'"
        );
        if let Ok(v) = http::HeaderValue::from_str(&policy) {
            res.insert_header(http::header::CONTENT_SECURITY_POLICY, v);
        }
    }
}

#[cfg(not(feature = "ssr"))]
fn content_security_policy() {}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    view! {
        <Stylesheet id="accord" href="/pkg/accord.css"/>
        <Router>
            <Layout>
                <Routes fallback=NotFoundPage>
                    <Route path=StaticSegment("") view=HomePage/>
                    <Route path=StaticSegment("privacy") view=PrivacyPage/>
                    <Route path=StaticSegment("cookies") view=CookiesPage/>
                    <Route path=StaticSegment("responsibility") view=ResponsibilityPage/>
                    <Route path=StaticSegment("preferences") view=PreferencesPage/>
                    // The admin area: the server attaches the data of whichever view it chose
                    // for the path, so every admin route renders the same dispatcher.
                    <Route path=StaticSegment("admin") view=AdminPageView/>
                    <Route path=(StaticSegment("admin"), StaticSegment("sign-in")) view=AdminPageView/>
                    <Route path=(StaticSegment("admin"), StaticSegment("records")) view=AdminPageView/>
                    <Route
                        path=(StaticSegment("admin"), StaticSegment("records"), ParamSegment("id"))
                        view=AdminPageView
                    />
                    <Route path=(StaticSegment("admin"), StaticSegment("audit")) view=AdminPageView/>
                    <Route path=(StaticSegment("admin"), StaticSegment("tokens")) view=AdminPageView/>
                </Routes>
            </Layout>
        </Router>
    }
}

/// The content snapshot the server provided for this request.
pub fn use_content() -> Arc<SiteContent> {
    expect_context::<Arc<SiteContent>>()
}

//! The current visitor: their decision (from the consent cookie of the request being
//! rendered) and what they have effectively granted under their jurisdiction's rule.

use crate::model::{ConsentCookie, RequestContext, SiteContent};

/// The request context the server attached (language, jurisdiction, GPC signal).
#[cfg(feature = "ssr")]
pub fn use_request() -> RequestContext {
    use leptos::prelude::use_context;
    use_context::<http::request::Parts>()
        .and_then(|p| p.extensions.get::<RequestContext>().cloned())
        .or_else(use_context::<RequestContext>)
        .expect("the server attaches a RequestContext to every request")
}

#[cfg(not(feature = "ssr"))]
pub fn use_request() -> RequestContext {
    leptos::prelude::expect_context::<RequestContext>()
}

/// The visitor's stored decision (even if outdated), from the request's cookie header.
#[cfg(feature = "ssr")]
pub fn stored_decision(content: &SiteContent) -> Option<ConsentCookie> {
    let parts = leptos::prelude::use_context::<http::request::Parts>()?;
    parts
        .headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == content.consent.cookie_name)
        .and_then(|(_, value)| ConsentCookie::parse(value).ok())
}

#[cfg(not(feature = "ssr"))]
pub fn stored_decision(_content: &SiteContent) -> Option<ConsentCookie> {
    None
}

/// The decision when it is still valid (current policy version, not expired under the
/// lifetimes of the visitor's jurisdiction).
pub fn valid_decision(content: &SiteContent, ctx: &RequestContext) -> Option<ConsentCookie> {
    let j = &ctx.jurisdiction;
    stored_decision(content)
        .filter(|c| c.is_valid(&content.valid_policy_versions, now(), j.consent_days, j.refusal_days))
}

/// Optional categories in effect: the valid decision's, else the jurisdiction's defaults;
/// sale/sharing categories are always off while Global Privacy Control applies.
pub fn effective_grants(decision: Option<&ConsentCookie>, ctx: &RequestContext) -> Vec<String> {
    let base = match decision {
        Some(d) => d.granted.clone(),
        None => ctx.jurisdiction.defaults.clone(),
    };
    base.into_iter()
        .filter(|c| !(ctx.gpc_applies() && ctx.jurisdiction.sale_categories.contains(c)))
        .collect()
}

/// Query parameter of the current request, if any (e.g. `?saved=1`).
#[cfg(feature = "ssr")]
pub fn query_param(name: &str) -> Option<String> {
    let parts = leptos::prelude::use_context::<http::request::Parts>()?;
    let query = parts.uri.query()?;
    query.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == name).map(|(_, v)| v.to_owned())
}

#[cfg(not(feature = "ssr"))]
pub fn query_param(_name: &str) -> Option<String> {
    None
}

/// The path of the request being rendered, used as the return target of forms.
#[cfg(feature = "ssr")]
pub fn current_path() -> String {
    leptos::prelude::use_context::<http::request::Parts>()
        .map(|p| p.uri.path().to_owned())
        .unwrap_or_else(|| "/".to_owned())
}

#[cfg(not(feature = "ssr"))]
pub fn current_path() -> String {
    "/".to_owned()
}

fn now() -> i64 {
    #[cfg(not(target_arch = "wasm32"))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0)
    }
    #[cfg(target_arch = "wasm32")]
    {
        0
    }
}

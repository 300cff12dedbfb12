//! The current visitor's decision, read from the consent cookie of the request being rendered.

use crate::model::{ConsentCookie, SiteContent};

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

/// The decision when it is still valid (current policy version, not expired).
pub fn valid_decision(content: &SiteContent) -> Option<ConsentCookie> {
    stored_decision(content)
        .filter(|c| c.is_valid(&content.policy.version, now(), &content.consent))
}

/// Query parameter of the current request, if any (e.g. `?saved=1`).
#[cfg(feature = "ssr")]
pub fn query_param(name: &str) -> Option<String> {
    let parts = leptos::prelude::use_context::<http::request::Parts>()?;
    let query = parts.uri.query()?;
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
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

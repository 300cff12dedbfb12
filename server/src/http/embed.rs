//! The embed script, served from memory. Every first page view on every embedding site asks
//! for it, so it is read and gzip-compressed once at start-up instead of on each request (a
//! new build means a new start). Other files under /embed go through the static file service.

use super::precompressed::Precompressed;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use std::path::Path;

pub const SCRIPT: &str = "consent.js";
/// Browsers and CDNs may keep embed files a few minutes: short enough that a fix reaches
/// visitors quickly.
pub const CACHE_CONTROL: &str = "public, max-age=300";

#[derive(Clone)]
pub struct EmbedScript(Precompressed);

impl EmbedScript {
    /// None when the file is missing (then the static file service answers, with a 404).
    pub fn load(dir: &Path) -> Option<Self> {
        let plain = std::fs::read(dir.join(SCRIPT)).ok()?;
        Precompressed::new(plain).ok().map(Self)
    }

    pub fn respond(&self, headers: &HeaderMap) -> Response {
        let mut res = self.0.respond(headers, "text/javascript; charset=utf-8", "Accept-Encoding");
        res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(CACHE_CONTROL));
        res
    }
}

//! The embed script, served from memory. Every first page view on every embedding site asks
//! for it, so it is read and gzip-compressed once at start-up instead of on each request (a
//! new build means a new start). Other files under /embed go through the static file service.

use axum::body::Bytes;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use std::io::Write;
use std::path::Path;

pub const SCRIPT: &str = "consent.js";

#[derive(Clone)]
pub struct EmbedScript {
    plain: Bytes,
    gzip: Bytes,
    etag: HeaderValue,
}

impl EmbedScript {
    /// None when the file is missing (then the static file service answers, with a 404).
    pub fn load(dir: &Path) -> Option<Self> {
        let plain = std::fs::read(dir.join(SCRIPT)).ok()?;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&plain).ok()?;
        let gzip = gz.finish().ok()?;
        let etag =
            HeaderValue::from_str(&format!("\"{}\"", &crate::content::sha256_hex(&plain)[..32])).ok()?;
        Some(Self { plain: plain.into(), gzip: gzip.into(), etag })
    }

    pub fn respond(&self, headers: &HeaderMap) -> Response {
        let common = [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8")),
            (header::ETAG, self.etag.clone()),
            (header::VARY, HeaderValue::from_static("Accept-Encoding")),
        ];
        let fresh = headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim().as_bytes() == self.etag.as_bytes()));
        if fresh {
            return (StatusCode::NOT_MODIFIED, common).into_response();
        }
        let gzip = headers
            .get(header::ACCEPT_ENCODING)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|e| e.split(';').next().is_some_and(|e| e.trim() == "gzip")));
        if gzip {
            (common, [(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"))], self.gzip.clone())
                .into_response()
        } else {
            (common, self.plain.clone()).into_response()
        }
    }
}

//! The pages' hydration bundle: what `cargo leptos build` writes to `<site root>/pkg/` (the
//! WASM, its JavaScript glue, the CSS), served from memory like the embed script.
//!
//! Through the static file service, every page view compressed the 1.2 MB WASM again: about
//! 45 ms of CPU per request, and a client asking for it in a loop kept a core busy. It also
//! never answered 304, because Leptos's file handler does not pass the request's conditional
//! headers on. So each file is read and gzip-compressed once, at start-up (a new build means a
//! new start), and answered with an ETag.

use super::precompressed::Precompressed;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::Response;
use std::collections::HashMap;
use std::path::Path;

/// Where the bundle is served.
const PREFIX: &str = "/pkg/";
/// The file names are not content-hashed: browsers keep the files but ask each time whether
/// they changed (a 304 while they have not).
pub const CACHE_CONTROL: &str = "no-cache";

pub struct Bundle {
    files: HashMap<String, (Precompressed, &'static str)>,
}

impl Bundle {
    /// The bundle's files in `dir`; none when there is no built site (the tests' `public/`).
    /// Other files there (type declarations) stay with the static file service.
    pub fn load(dir: &Path) -> Self {
        let mut files = HashMap::new();
        let Ok(entries) = std::fs::read_dir(dir) else { return Self { files } };
        for entry in entries.flatten() {
            let Ok(name) = entry.file_name().into_string() else { continue };
            let Some(content_type) = content_type(&name) else { continue };
            if !entry.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            match std::fs::read(entry.path()).and_then(Precompressed::new) {
                Ok(file) => {
                    files.insert(name, (file, content_type));
                }
                // The static file service still answers for it.
                Err(e) => {
                    tracing::warn!(file = %entry.path().display(), error = %e, "cannot load a bundle file")
                }
            }
        }
        Self { files }
    }

    /// The answer for `path` when it names a file of the bundle.
    pub fn respond(&self, path: &str, headers: &HeaderMap) -> Option<Response> {
        let (file, content_type) = self.file(path)?;
        let mut res = file.respond(headers, content_type, "Accept-Encoding");
        res.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(CACHE_CONTROL));
        Some(res)
    }

    /// Whether `path` names a file of the bundle.
    pub fn contains(&self, path: &str) -> bool {
        self.file(path).is_some()
    }

    fn file(&self, path: &str) -> Option<&(Precompressed, &'static str)> {
        self.files.get(path.strip_prefix(PREFIX)?)
    }
}

fn content_type(name: &str) -> Option<&'static str> {
    match name.rsplit_once('.')?.1 {
        "wasm" => Some("application/wasm"),
        "js" => Some("text/javascript; charset=utf-8"),
        "css" => Some("text/css; charset=utf-8"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn files_are_answered_compressed_with_an_etag_and_revalidated() {
        let dir = tempfile::tempdir().expect("temp dir");
        let wasm: Vec<u8> = (0..100_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        std::fs::write(dir.path().join("app.wasm"), &wasm).expect("write");
        std::fs::write(dir.path().join("app.d.ts"), "declare").expect("write");
        let bundle = Bundle::load(dir.path());

        let mut req = HeaderMap::new();
        req.insert(header::ACCEPT_ENCODING, HeaderValue::from_static("gzip, br"));
        let res = bundle.respond("/pkg/app.wasm", &req).expect("a bundle file");
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()[header::CONTENT_TYPE], "application/wasm");
        assert_eq!(res.headers()[header::CONTENT_ENCODING], "gzip");
        assert_eq!(res.headers()[header::CACHE_CONTROL], CACHE_CONTROL);
        let etag = res.headers()[header::ETAG].clone();

        req.insert(header::IF_NONE_MATCH, etag);
        let res = bundle.respond("/pkg/app.wasm", &req).expect("a bundle file");
        assert_eq!(res.status(), StatusCode::NOT_MODIFIED);

        // Only the bundle's own types, and only under /pkg/.
        assert!(bundle.respond("/pkg/app.d.ts", &req).is_none());
        assert!(bundle.respond("/app.wasm", &req).is_none());
        assert!(bundle.respond("/pkg/other.wasm", &req).is_none());
        assert!(Bundle::load(&dir.path().join("missing")).files.is_empty());
    }
}

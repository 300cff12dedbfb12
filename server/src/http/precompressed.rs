//! Answers built once and served many times (the embed script, rendered banner configs):
//! kept both plain and gzip-compressed at the best level, with an ETag, so a request costs a
//! reference-count increment instead of a compression run. The compression layer leaves
//! answers that already carry `Content-Encoding` alone.

use axum::body::Body;
use axum::body::Bytes;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use std::io::Write;

#[derive(Clone)]
pub struct Precompressed {
    plain: Bytes,
    gzip: Bytes,
    etag: HeaderValue,
}

impl Precompressed {
    pub fn new(plain: Vec<u8>) -> std::io::Result<Self> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
        gz.write_all(&plain)?;
        let gzip = gz.finish()?;
        let etag = HeaderValue::from_str(&format!("\"{}\"", &crate::content::sha256_hex(&plain)[..32]))
            .map_err(std::io::Error::other)?;
        Ok(Self { plain: plain.into(), gzip: gzip.into(), etag })
    }

    /// 304 when `If-None-Match` names this answer, else the body, compressed when the client
    /// accepts gzip. `vary` lists the request headers the answer depends on besides
    /// `Accept-Encoding`.
    pub fn respond(&self, req: &HeaderMap, content_type: &'static str, vary: &'static str) -> Response {
        let not_modified = none_match(req, &self.etag);
        let gzip = !not_modified && accepts_gzip(req);
        let body = match (not_modified, gzip) {
            (true, _) => Body::empty(),
            (false, true) => Body::from(self.gzip.clone()),
            (false, false) => Body::from(self.plain.clone()),
        };
        let mut res = Response::new(body);
        // One allocation for these and the headers the lanes add.
        let mut h = HeaderMap::with_capacity(super::respond::ANSWER_HEADERS);
        h.insert(header::ETAG, self.etag.clone());
        h.insert(header::VARY, HeaderValue::from_static(vary));
        if not_modified {
            *res.status_mut() = StatusCode::NOT_MODIFIED;
        } else {
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            if gzip {
                h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            }
        }
        *res.headers_mut() = h;
        res
    }
}

/// `If-None-Match` lists this ETag (or is `*`).
fn none_match(req: &HeaderMap, etag: &HeaderValue) -> bool {
    req.get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|t| t == "*" || t.as_bytes() == etag.as_bytes() || t.strip_prefix("W/") == etag.to_str().ok())
}

/// `Accept-Encoding` names gzip (or `*`) without `q=0`.
fn accepts_gzip(req: &HeaderMap) -> bool {
    req.get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|item| {
            let mut parts = item.split(';');
            let coding = parts.next().unwrap_or_default().trim();
            let refused = parts.any(|p| {
                p.trim()
                    .strip_prefix("q=")
                    .and_then(|q| q.trim().parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (coding.eq_ignore_ascii_case("gzip") || coding == "*") && !refused
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs.iter().map(|(k, v)| (header::HeaderName::from_static(k), HeaderValue::from_static(v))).collect()
    }

    #[test]
    fn gzip_is_negotiated_with_quality_values() {
        assert!(accepts_gzip(&headers(&[("accept-encoding", "br, gzip;q=0.5")])));
        assert!(accepts_gzip(&headers(&[("accept-encoding", "*")])));
        assert!(!accepts_gzip(&headers(&[("accept-encoding", "gzip;q=0, br")])));
        assert!(!accepts_gzip(&headers(&[("accept-encoding", "deflate")])));
        assert!(!accepts_gzip(&headers(&[])));
    }

    #[test]
    fn answers_are_compressed_once_and_revalidated_by_etag() {
        let body = br#"{"hello":"world","padding":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}"#.to_vec();
        let p = Precompressed::new(body.clone()).expect("compress");
        let mut gz = flate2::read::GzDecoder::new(&p.gzip[..]);
        let mut back = Vec::new();
        std::io::Read::read_to_end(&mut gz, &mut back).expect("gunzip");
        assert_eq!(back, body);

        let res = p.respond(&headers(&[("accept-encoding", "gzip")]), "application/json", "Accept-Encoding");
        assert_eq!(res.status(), StatusCode::OK);
        assert_eq!(res.headers()[header::CONTENT_ENCODING], "gzip");
        let etag = res.headers()[header::ETAG].clone();

        let plain = p.respond(&headers(&[]), "application/json", "Accept-Encoding");
        assert!(plain.headers().get(header::CONTENT_ENCODING).is_none());

        let mut again = HeaderMap::new();
        again.insert(header::IF_NONE_MATCH, etag);
        assert_eq!(
            p.respond(&again, "application/json", "Accept-Encoding").status(),
            StatusCode::NOT_MODIFIED
        );
        let other = headers(&[("if-none-match", "\"something-else\"")]);
        assert_eq!(p.respond(&other, "application/json", "Accept-Encoding").status(), StatusCode::OK);
    }
}

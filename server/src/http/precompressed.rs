//! Answers built once and served many times (the embed script, rendered banner configs):
//! kept both plain and gzip-compressed at the best level, with an ETag, so a request costs a
//! reference-count increment instead of a compression run. The compression layer leaves
//! answers that already carry `Content-Encoding` alone.

use axum::body::Bytes;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
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
        let common = [(header::ETAG, self.etag.clone()), (header::VARY, HeaderValue::from_static(vary))];
        if none_match(req, &self.etag) {
            return (StatusCode::NOT_MODIFIED, common).into_response();
        }
        let content_type = (header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        if accepts_gzip(req) {
            let encoding = (header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            (common, [content_type, encoding], self.gzip.clone()).into_response()
        } else {
            (common, [content_type], self.plain.clone()).into_response()
        }
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

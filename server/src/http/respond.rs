//! JSON answers of the hot API paths (a decision, a recorded consent), written straight into a
//! buffer of about their size: axum's `Json` starts at 128 bytes and reallocates several times
//! for ~500-650 bytes, and serde_json's byte-by-byte escaping was a tenth of a decision's cost.

use axum::body::Body;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::http::StatusCode;
use axum::response::Response;

/// Room for the headers an API answer ends up with: its own (up to five for a banner
/// config), then the lane's, for which it reserves 8 more (`lanes`). `HeaderMap` keeps a
/// quarter of its index free: with room for 12, a config answer's 5 + 8 did not fit and the
/// map was copied into a larger one on every request.
pub const ANSWER_HEADERS: usize = 16;

/// Bytes already encoded as JSON (see [`ObjectWriter`]) as `application/json` with `status`,
/// and `Cache-Control` when given.
pub fn json_bytes(status: StatusCode, cache_control: Option<&'static str>, buf: Vec<u8>) -> Response {
    let mut res = Response::new(Body::from(buf));
    // Room for the lane's CORS and security headers too, allocated once.
    *res.headers_mut() = HeaderMap::with_capacity(ANSWER_HEADERS);
    *res.status_mut() = status;
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(cc) = cache_control {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cc));
    }
    res
}

/// Writes one JSON object field by field, byte for byte as serde_json would: a string is
/// copied as it is unless it holds a quote, a backslash or a control character (the only
/// bytes serde_json escapes), which go through serde_json. A decision answer is mostly ids,
/// versions and category keys: serde_json's byte-by-byte escaping was a tenth of its cost.
pub struct ObjectWriter<'b> {
    buf: &'b mut Vec<u8>,
    empty: bool,
}

impl<'b> ObjectWriter<'b> {
    pub fn new(buf: &'b mut Vec<u8>) -> Self {
        buf.push(b'{');
        Self { buf, empty: true }
    }

    fn key(&mut self, k: Key) {
        if !self.empty {
            self.buf.push(b',');
        }
        self.empty = false;
        self.buf.extend_from_slice(k.0.as_bytes());
    }

    pub fn str(&mut self, k: Key, v: &str) {
        self.key(k);
        string(self.buf, v);
    }

    /// A string, or `null` for None (what serde writes for an `Option` it does not skip).
    pub fn opt_str(&mut self, k: Key, v: Option<&str>) {
        self.key(k);
        match v {
            Some(v) => string(self.buf, v),
            None => self.buf.extend_from_slice(b"null"),
        }
    }

    /// An array of strings.
    pub fn str_list(&mut self, k: Key, v: &[String]) {
        self.key(k);
        self.buf.push(b'[');
        for (i, s) in v.iter().enumerate() {
            if i > 0 {
                self.buf.push(b',');
            }
            string(self.buf, s);
        }
        self.buf.push(b']');
    }

    pub fn bool(&mut self, k: Key, v: bool) {
        self.key(k);
        self.buf.extend_from_slice(if v { b"true" } else { b"false" });
    }

    pub fn int(&mut self, k: Key, v: i64) {
        self.key(k);
        self.buf.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
    }

    /// A nested object under `k`.
    pub fn object(&mut self, k: Key) -> ObjectWriter<'_> {
        self.key(k);
        ObjectWriter::new(self.buf)
    }

    /// A field whose name is not known in advance (a category key), escaped as needed.
    pub fn bool_named(&mut self, name: &str, v: bool) {
        if !self.empty {
            self.buf.push(b',');
        }
        self.empty = false;
        string(self.buf, name);
        self.buf.push(b':');
        self.buf.extend_from_slice(if v { b"true" } else { b"false" });
    }

    pub fn end(self) {
        self.buf.push(b'}');
    }
}

/// A field name quoted and followed by its colon, as it goes into the output: [`key!`].
#[derive(Clone, Copy)]
pub struct Key(pub &'static str);

/// `key!("site")` is the [`Key`] `"site":`. Names spelled in the source need no escaping.
#[macro_export]
macro_rules! key {
    ($name:literal) => {
        $crate::http::respond::Key(concat!("\"", $name, "\":"))
    };
}

fn string(buf: &mut Vec<u8>, s: &str) {
    if plain(s.as_bytes()) {
        buf.reserve(s.len() + 2);
        buf.push(b'"');
        buf.extend_from_slice(s.as_bytes());
        buf.push(b'"');
    } else {
        // Writing a &str into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *buf, s);
    }
}

/// No byte below 0x20, no `"`, no `\`: checked eight bytes at a time (the classic
/// "has zero byte" / "has byte less than" word tricks; exact for the any-byte question).
fn plain(s: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_in = |v: u64| v.wrapping_sub(ONES) & !v & HIGH != 0;
    let mut chunks = s.chunks_exact(8);
    for c in &mut chunks {
        let mut word = [0u8; 8];
        word.copy_from_slice(c);
        let w = u64::from_le_bytes(word);
        let control = w.wrapping_sub(ONES * 0x20) & !w & HIGH != 0;
        if control || zero_in(w ^ (ONES * u64::from(b'"'))) || zero_in(w ^ (ONES * u64::from(b'\\'))) {
            return false;
        }
    }
    chunks.remainder().iter().all(|&b| b >= 0x20 && b != b'"' && b != b'\\')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_at_every_position_is_escaped_like_serde_json() {
        for b in 0u8..128 {
            for at in 0..20 {
                let mut raw = vec![b'a'; 20];
                raw[at] = b;
                let s = String::from_utf8(raw).expect("ASCII");
                let mut ours = Vec::new();
                string(&mut ours, &s);
                assert_eq!(ours, serde_json::to_vec(&s).expect("json"), "byte {b:#04x} at {at}");
            }
        }
    }

    #[test]
    fn writes_what_serde_json_writes() {
        let mut buf = Vec::new();
        let mut o = ObjectWriter::new(&mut buf);
        for v in ["plain", "", "quote \" here", "back\\slash", "tab\tnew\nline\u{1}", "ünï © 😀", "\u{7f}"]
        {
            o.bool_named(v, true);
        }
        o.str(crate::key!("s"), "tab\tquote\"\u{1}ü");
        o.int(crate::key!("n"), -42);
        o.int(crate::key!("big"), i64::MAX);
        o.bool(crate::key!("t"), true);
        let mut inner = o.object(crate::key!("inner"));
        inner.bool(crate::key!("f"), false);
        inner.end();
        o.end();
        let expected = serde_json::json!({
            "plain": true, "": true, "quote \" here": true, "back\\slash": true,
            "tab\tnew\nline\u{1}": true, "ünï © 😀": true, "\u{7f}": true,
            "s": "tab\tquote\"\u{1}ü", "n": -42, "big": i64::MAX, "t": true, "inner": {"f": false},
        });
        assert_eq!(serde_json::from_slice::<serde_json::Value>(&buf).expect("valid JSON"), expected);
        let mut one = Vec::new();
        let mut o = ObjectWriter::new(&mut one);
        o.str(crate::key!("k"), "tab\tquote\"\u{1}ü");
        o.end();
        assert_eq!(one, serde_json::to_vec(&serde_json::json!({"k": "tab\tquote\"\u{1}ü"})).expect("json"));
    }
}

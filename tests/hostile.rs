//! Hostile input: malformed and hostile requests at every endpoint — wrong JSON types, huge
//! and deeply nested JSON, invalid UTF-8, header abuse, path traversal on static files,
//! oversize bodies, unknown methods, query-string abuse, garbage form posts, raw bytes and
//! slow bodies over a real socket, and property tests of the request parsers.
//!
//! Every answer must be below 500, an API path or a form post must answer a 4xx with the
//! JSON error `{"error":{"code","message"}}`, and no answer may contain a secret (an API
//! token, a session id) or a filesystem path of the server.
//!
//! Nor may any of them make the server log an error: every ERROR event is counted (and
//! printed), and each test ends by checking the count is still 0. A client that can write to
//! the error log at will floods it and wakes whoever is on call.
//!
//! `cargo test -p accord-tests --test hostile -- --nocapture` prints how many requests each
//! test sent (`hostile requests tried: N …`).

use accord::auth::{self, Role};
use accord_tests::{consent_body, workspace_root, TestApp, TestResponse};
use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Method, Request, StatusCode, Uri};
use serde_json::{json, Map, Value};
use std::io::Read;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const VID: &str = "0f1e2d3c4b5a69788796a5b4c3d2e1f0";
/// A second visitor, for the erasure endpoints (so `VID`'s records stay for the reads).
const VID2: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

/// Requests sent by every test of this binary together.
static TOTAL: AtomicUsize = AtomicUsize::new(0);

/// ERROR events the server logged, in every test of this binary together.
static SERVER_ERRORS: AtomicUsize = AtomicUsize::new(0);

struct CountErrors;

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CountErrors {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if *event.metadata().level() == tracing::Level::ERROR {
            SERVER_ERRORS.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// Installs the counting subscriber (with the usual log output) before any server of this
/// binary starts; every test calls it before building its app.
fn count_server_errors() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        tracing_subscriber::registry()
            .with(tracing_subscriber::EnvFilter::new("info"))
            .with(
                // Colour only for people, as `accord::telemetry` does: CI logs get plain text.
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
            )
            .with(CountErrors)
            .try_init()
            .expect("the error counter is the first global subscriber");
    });
}

fn assert_no_server_errors(what: &str) {
    let n = SERVER_ERRORS.load(Ordering::Relaxed);
    assert_eq!(n, 0, "{what}: the server logged {n} error(s) (printed above) for hostile requests");
}

// ---------------------------------------------------------------------------------------------
// The harness: a server with an admin token, an auditor token and an admin-area session, and
// one checked `send` that every request goes through.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq)]
enum Auth {
    None,
    Admin,
    Auditor,
    /// The admin-area session cookie (and, for forms, its CSRF token in the body).
    Session,
    /// A valid consent cookie of `VID`.
    Visitor,
}

struct Hostile {
    app: TestApp,
    admin: String,
    auditor: String,
    session_id: String,
    csrf: String,
    /// What no answer may contain.
    secrets: Vec<String>,
    tried: AtomicUsize,
}

type Headers = Vec<(HeaderName, HeaderValue)>;

fn hv(bytes: impl AsRef<[u8]>) -> HeaderValue {
    HeaderValue::from_bytes(bytes.as_ref()).expect("header value")
}

fn hn(name: &str) -> HeaderName {
    HeaderName::from_bytes(name.as_bytes()).expect("header name")
}

fn h(name: &str, value: impl AsRef<[u8]>) -> (HeaderName, HeaderValue) {
    (hn(name), hv(value))
}

fn method(name: &str) -> Method {
    Method::from_bytes(name.as_bytes()).expect("method")
}

fn snippet(body: &[u8]) -> String {
    let s = String::from_utf8_lossy(body);
    s.chars().take(300).collect()
}

/// The body as sent, or decompressed when the server gzipped it.
fn plain_body(res: &TestResponse) -> Vec<u8> {
    if res.header("content-encoding") == Some("gzip") {
        let mut out = Vec::new();
        if flate2::read::GzDecoder::new(&res.body[..]).read_to_end(&mut out).is_ok() {
            return out;
        }
    }
    res.body.to_vec()
}

fn contains(hay: &[u8], needle: &str) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// Whether a 4xx to this request must be the API's JSON error: API paths, and anything that is
/// not a page view (form posts, unknown methods). HEAD answers carry no body.
fn expects_json(method: &Method, path: &str) -> bool {
    *method != Method::HEAD && (path.starts_with("/api/") || *method != Method::GET)
}

fn assert_json_error(ctx: &str, status: u16, content_type: Option<&str>, body: &[u8]) {
    let ct = content_type.unwrap_or_default();
    assert!(ct.starts_with("application/json"), "{ctx}: {status} is not JSON ({ct:?}): {}", snippet(body));
    let j: Value = serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("{ctx}: {status} body is not JSON ({e}): {}", snippet(body)));
    let code = j["error"]["code"].as_str().unwrap_or_default();
    let message = j["error"]["message"].as_str().unwrap_or_default();
    assert!(!code.is_empty() && !message.is_empty(), "{ctx}: {status} lacks error.code/message: {j}");
}

impl Hostile {
    async fn new() -> Self {
        Self::with(TestApp::builder()).await
    }

    async fn with(builder: accord_tests::TestAppBuilder) -> Self {
        count_server_errors();
        let app = builder
            .configure(|c| {
                // Thousands of requests from one address: the rate limit would answer most of
                // them with 429 before the parsers are reached.
                c.rate_limit.enabled = false;
            })
            .build()
            .await;
        let ledger = app.state.ledger.as_ref();
        let (admin_info, admin) = auth::create(ledger, "hostile-admin", Role::Admin).await.expect("token");
        let (_, auditor) = auth::create(ledger, "hostile-auditor", Role::Auditor).await.expect("token");
        let session_id = auth::random_secret();
        let csrf = auth::random_secret();
        let expires = accord::audit::now_ms() + 3_600_000;
        ledger
            .create_session(&auth::hash_token(&session_id), admin_info.id, &csrf, expires)
            .await
            .expect("session");
        // A visitor with records, so history, receipts and exports have something to show.
        let mut body = consent_body("custom", &["analytics"]);
        body["visitor_id"] = json!(VID);
        assert_eq!(app.post_json("/api/v1/consents", &body).await.status, StatusCode::CREATED);
        body["visitor_id"] = json!(VID2);
        assert_eq!(app.post_json("/api/v1/consents", &body).await.status, StatusCode::CREATED);
        let secrets = vec![admin.clone(), auditor.clone(), session_id.clone()];
        Self { app, admin, auditor, session_id, csrf, secrets, tried: AtomicUsize::new(0) }
    }

    fn visitor_cookie(&self) -> String {
        format!("accord_consent=1~{VID}~{}~2023-07-05~analytics", accord::audit::now_ms() / 1000)
    }

    fn auth_headers(&self, auth: Auth) -> Headers {
        match auth {
            Auth::None => vec![],
            Auth::Admin => vec![h("authorization", format!("Bearer {}", self.admin))],
            Auth::Auditor => vec![h("authorization", format!("Bearer {}", self.auditor))],
            Auth::Session => vec![h("cookie", format!("accord_admin={}", self.session_id))],
            Auth::Visitor => vec![h("cookie", self.visitor_cookie())],
        }
    }

    /// Sends one request through the whole router and checks the answer. `None` when the
    /// http crate cannot even represent the request (those go over the raw socket instead).
    async fn send(
        &self,
        m: &Method,
        uri: impl AsRef<[u8]>,
        auth: Auth,
        headers: Headers,
        body: impl Into<Vec<u8>>,
    ) -> Option<TestResponse> {
        let uri = Uri::try_from(uri.as_ref()).ok()?;
        let mut req = Request::builder().method(m.clone()).uri(uri).body(Body::from(body.into())).ok()?;
        for (k, v) in self.auth_headers(auth).into_iter().chain(headers) {
            req.headers_mut().append(k, v);
        }
        let path = req.uri().path().to_owned();
        let shown = req.uri().to_string().chars().take(160).collect::<String>();
        let began = Instant::now();
        let res = self.app.send(req).await;
        if began.elapsed() > Duration::from_secs(1) {
            println!("slow answer: {m} {shown} took {:?} ({})", began.elapsed(), res.status);
        }
        self.tried.fetch_add(1, Ordering::Relaxed);
        TOTAL.fetch_add(1, Ordering::Relaxed);
        self.check(&format!("{m} {shown}"), m, &path, &res);
        Some(res)
    }

    fn check(&self, ctx: &str, m: &Method, path: &str, res: &TestResponse) {
        let status = res.status.as_u16();
        assert!(status < 500, "{ctx}: answered {status}: {}", snippet(&res.body));
        let body = plain_body(res);
        if expects_json(m, path) && res.status.is_client_error() {
            assert_json_error(ctx, status, res.header("content-type"), &body);
        }
        let root = workspace_root().display().to_string();
        let db_dir = self.app.db_path().parent().map(|p| p.display().to_string()).unwrap_or_default();
        for secret in self.secrets.iter().chain([&root, &db_dir]) {
            assert!(!contains(&body, secret), "{ctx}: the answer contains {secret:?}: {}", snippet(&body));
            for (name, value) in &res.headers {
                assert!(!contains(value.as_bytes(), secret), "{ctx}: header {name} contains {secret:?}");
            }
        }
        // Path traversal: nothing outside the site root is ever served.
        for leaked in ["[workspace]", "[package]", "root:x:0:0"] {
            assert!(
                !contains(&body, leaked),
                "{ctx}: served a file outside the site root: {}",
                snippet(&body)
            );
        }
    }

    fn report(&self, what: &str) {
        let n = self.tried.load(Ordering::Relaxed);
        println!(
            "hostile requests tried: {n} ({what}); {} so far in this run",
            TOTAL.load(Ordering::Relaxed)
        );
        assert_no_server_errors(what);
    }
}

// ---------------------------------------------------------------------------------------------
// The endpoints.
// ---------------------------------------------------------------------------------------------

struct Endpoint {
    method: Method,
    /// Path with a typical query string.
    uri: String,
    auth: Auth,
}

fn ep(m: &str, uri: impl Into<String>, auth: Auth) -> Endpoint {
    Endpoint { method: method(m), uri: uri.into(), auth }
}

/// Every route Accord serves, with a credential that lets the request reach the handler.
/// Token id 987654 exists nowhere; the real tokens (ids 1, 2) must survive the suite.
fn endpoints() -> Vec<Endpoint> {
    vec![
        ep("GET", "/api/v1/config?site=default", Auth::None),
        ep("POST", "/api/v1/consents", Auth::None),
        ep("GET", format!("/api/v1/visitors/{VID}/decision?site=default&category=analytics"), Auth::None),
        ep("GET", format!("/api/v1/visitors/{VID}/history?site=default"), Auth::None),
        ep("DELETE", format!("/api/v1/visitors/{VID2}"), Auth::None),
        ep("GET", "/api/v1/ledger/head", Auth::None),
        ep("GET", "/api/v1/openapi.json", Auth::None),
        ep("GET", "/api/docs/", Auth::None),
        ep("GET", "/api/v1/admin/whoami", Auth::Auditor),
        ep("POST", "/api/v1/admin/policies", Auth::Admin),
        ep("POST", "/api/v1/admin/registries", Auth::Admin),
        ep("GET", "/api/v1/admin/records?site=default&limit=5", Auth::Auditor),
        ep("GET", "/api/v1/admin/records/1/receipt", Auth::Auditor),
        ep("GET", "/api/v1/admin/export?format=csv&site=default", Auth::Auditor),
        ep("GET", "/api/v1/admin/ledger/verify", Auth::Auditor),
        ep("GET", "/api/v1/admin/audit?limit=5", Auth::Auditor),
        ep("GET", "/api/v1/admin/audit/export?format=ndjson", Auth::Auditor),
        ep("GET", "/api/v1/admin/dashboard", Auth::Auditor),
        ep("GET", "/api/v1/admin/tokens", Auth::Admin),
        ep("POST", "/api/v1/admin/tokens", Auth::Admin),
        ep("POST", "/api/v1/admin/tokens/987654/rotate", Auth::Admin),
        ep("DELETE", "/api/v1/admin/tokens/987654", Auth::Admin),
        ep("DELETE", format!("/api/v1/admin/visitors/{VID2}"), Auth::Admin),
        ep("POST", "/api/v1/admin/purge", Auth::Admin),
        ep("GET", "/healthz", Auth::None),
        ep("GET", "/readyz", Auth::None),
        ep("GET", "/.well-known/gpc.json", Auth::None),
        ep("POST", "/consent", Auth::None),
        ep("GET", "/preferences/history", Auth::Visitor),
        ep("POST", "/preferences/erase", Auth::None),
        ep("GET", "/", Auth::None),
        ep("GET", "/privacy", Auth::None),
        ep("GET", "/cookies", Auth::None),
        ep("GET", "/responsibility", Auth::None),
        ep("GET", "/preferences", Auth::Visitor),
        ep("GET", "/admin/sign-in?next=/admin/records", Auth::None),
        ep("GET", "/admin", Auth::Session),
        ep("GET", "/admin/records?site=default", Auth::Session),
        ep("GET", "/admin/records/1", Auth::Session),
        ep("GET", "/admin/audit", Auth::Session),
        ep("GET", "/admin/tokens", Auth::Session),
        ep("POST", "/admin/sign-in", Auth::None),
        ep("POST", "/admin/sign-out", Auth::None),
        ep("POST", "/admin/tokens", Auth::Session),
        ep("POST", "/admin/tokens/987654/rotate", Auth::Session),
        ep("POST", "/admin/tokens/987654/revoke", Auth::Session),
        ep("POST", "/admin/erase", Auth::Session),
        ep("POST", "/admin/purge", Auth::Session),
        ep("GET", "/embed/consent.js", Auth::None),
        ep("GET", "/locales/en.json", Auth::None),
        ep("GET", "/demo/index.html", Auth::None),
    ]
}

/// The JSON bodies the API reads, each valid as far as types go.
fn json_endpoints() -> Vec<(&'static str, Auth, Value, usize)> {
    vec![
        ("/api/v1/consents", Auth::None, consent_body("custom", &["analytics"]), 8 * 1024),
        // Not a valid policy/registry: a body that gets past the types is refused as content.
        ("/api/v1/admin/policies", Auth::Admin, json!({"source": "hostile", "material": false}), 256 * 1024),
        (
            "/api/v1/admin/registries",
            Auth::Admin,
            json!({"source": "hostile = [", "material": false, "summary": "hostile"}),
            256 * 1024,
        ),
        ("/api/v1/admin/tokens", Auth::Admin, json!({"name": "hostile", "role": "auditor"}), 4096),
    ]
}

// ---------------------------------------------------------------------------------------------
// Corpora.
// ---------------------------------------------------------------------------------------------

/// Values of the wrong type (or of the right type and hostile) for any JSON field.
fn wrong_values() -> Vec<Value> {
    vec![
        Value::Null,
        json!(true),
        json!(false),
        json!(0),
        json!(-1),
        json!(1.5),
        json!(u64::MAX),
        json!(i64::MIN),
        json!(1e308),
        json!(""),
        json!(" "),
        json!("\u{0}"),
        json!("\u{202e}lanretni"),
        json!("<script>alert(1)</script>"),
        json!("../../../../etc/passwd"),
        json!("default\r\nSet-Cookie: x=1"),
        json!("x".repeat(5000)),
        json!([]),
        json!([null]),
        json!(["analytics", 1, null, [], {}]),
        json!(vec!["analytics"; 200]),
        json!(["x".repeat(300)]),
        json!({}),
        json!({"a": {"b": [1, 2, {"c": null}]}}),
    ]
}

/// JSON texts that serde_json::Value cannot hold: broken numbers, lone surrogates, syntax.
fn raw_values() -> Vec<String> {
    let mut v: Vec<String> = [
        r#""\ud800""#,
        r#""\udfff\ud800""#,
        r#""\u00""#,
        r#""\x41""#,
        "1e400",
        "-1e400",
        "-0",
        "01",
        "0x10",
        "+1",
        ".5",
        "5.",
        "NaN",
        "Infinity",
        "undefined",
        "'single'",
        "\"unterminated",
        "\"a\u{0}b\"",
        "\"a\tb\nc\"",
        "tru",
        "nul",
        "",
        "[",
        "{",
        "[1,]",
        r#"{"a":1,}"#,
        "/*comment*/1",
        "\"\u{feff}\"",
        r##"{"$ref":"#"}"##,
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    v.push(format!("\"{}\"", "\\u0041".repeat(2000)));
    v.push("9".repeat(5000));
    v
}

/// Invalid UTF-8 placed inside a JSON string.
fn bad_utf8() -> Vec<&'static [u8]> {
    vec![
        &b"\xff\xfe"[..],
        &b"\xc0\xaf"[..],
        &b"\xed\xa0\x80"[..],
        &b"\xf4\x90\x80\x80"[..],
        &b"\xe2\x82"[..],
        &b"\x80"[..],
        &b"\xfe\xff\x00d\x00e"[..],
    ]
}

/// The object's text with `field`'s value replaced by raw bytes (or the field left out).
fn with_raw(base: &Map<String, Value>, field: &str, raw: Option<&[u8]>) -> Vec<u8> {
    let mut out = b"{".to_vec();
    let mut first = true;
    for (k, v) in base {
        let value: Vec<u8> = if k == field {
            match raw {
                Some(r) => r.to_vec(),
                None => continue,
            }
        } else {
            v.to_string().into_bytes()
        };
        if !first {
            out.push(b',');
        }
        first = false;
        out.extend_from_slice(json!(k).to_string().as_bytes());
        out.push(b':');
        out.extend_from_slice(&value);
    }
    out.push(b'}');
    out
}

fn nested_arrays(depth: usize) -> String {
    format!("{}{}", "[".repeat(depth), "]".repeat(depth))
}

fn nested_objects(depth: usize) -> String {
    format!("{}1{}", "{\"a\":".repeat(depth), "}".repeat(depth))
}

/// Hostile content types for bodies.
fn content_types() -> Vec<Option<&'static [u8]>> {
    let list: [&'static [u8]; 14] = [
        b"",
        b"application/json",
        b"APPLICATION/JSON; CHARSET=UTF-8",
        b"text/plain",
        b"text/plain; charset=iso-8859-1",
        b"application/json; charset=utf-16",
        b"application/x-www-form-urlencoded",
        b"multipart/form-data; boundary=----x",
        b"application/json, text/plain",
        b"application/xml",
        b"*/*",
        b";;;;",
        b"application/\xffjson",
        b"text/plain; charset=\"\xc3\x28\"",
    ];
    std::iter::once(None).chain(list.into_iter().map(Some)).collect()
}

/// Junk for a path segment (ids, visitor ids).
fn path_junk() -> Vec<String> {
    let mut v: Vec<String> = [
        "",
        "0",
        "-1",
        "+987654",
        "00000000000000000987654",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775809",
        "1e3",
        "1.5",
        "0x1f",
        "abc",
        "%00",
        "%FF",
        "%C3%28",
        "%2e%2e",
        "..",
        "%2F",
        "%252F",
        "%20987654",
        "0F1E2D3C4B5A69788796A5B4C3D2E1F0",
        "0f1e2d3c4b5a69788796a5b4c3d2e1f",
        "0f1e2d3c4b5a69788796a5b4c3d2e1f00",
        "0f1e2d3c4b5a69788796a5b4c3d2e1fg",
        "%E2%80%AE",
        "\u{e9}",
        "null",
        "undefined",
        "%0d%0aSet-Cookie:%20x=1",
        "<script>",
        "{id}",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    v.push("9".repeat(400));
    v.push("a".repeat(5000));
    v
}

/// Junk values for query parameters (already URL-encoded where needed).
fn query_junk() -> Vec<String> {
    let mut v: Vec<String> = [
        "",
        "+",
        "%20",
        "%00",
        "%FF",
        "%C3%28",
        "%",
        "%G0",
        "%%%",
        "%E2%80%AE",
        "-1",
        "0",
        "1",
        "501",
        "4294967296",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775809",
        "1e9",
        "NaN",
        "null",
        "true",
        "[]",
        "{}",
        "a=b",
        "a%3Db%26c",
        "%3Cscript%3E",
        "..%2F..%2Fetc%2Fpasswd",
        "1970-01-01",
        "2026-02-30",
        "0000-01-01",
        "-9999-01-01",
        "-9999-01-15",
        "9999-12-31",
        "+10000-01-01",
        "2026-01-01T25:00:00Z",
        "9999-12-31T23:59:60Z",
        "0000-01-01T00:00:00%2B23:59",
        "9999-12-31T23:59:59-23:59",
        "2026-01-01T00:00:00.999999999999Z",
        "US-CA",
        "XX-YYYYYYYYYYYYYYY",
        "de-DE-x-private-very-long-tag",
        "*",
        "csv",
        "ndjson",
        "xml",
        "default",
        "analytics",
        "accept_all",
        VID,
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    v.push("x".repeat(300));
    v.push("x".repeat(5000));
    v
}

/// The query parameters each GET endpoint reads.
fn query_params(path: &str) -> &'static [&'static str] {
    match path {
        "/api/v1/config" | "/" | "/privacy" | "/preferences" => &["site", "lang", "region"],
        p if p.ends_with("/decision") => &["site", "category", "region", "gpc"],
        p if p.ends_with("/history") => &["site", "limit"],
        "/api/v1/admin/records" | "/api/v1/admin/export" | "/admin/records" => &[
            "visitor",
            "site",
            "from",
            "to",
            "granted",
            "denied",
            "jurisdiction",
            "action",
            "before",
            "limit",
            "format",
        ],
        "/api/v1/admin/audit" | "/api/v1/admin/audit/export" | "/admin/audit" => {
            &["actor", "action", "from", "to", "before", "limit", "format"]
        }
        "/api/v1/admin/dashboard" | "/admin" => &["from", "to", "site"],
        "/admin/sign-in" => &["next", "error"],
        _ => &[],
    }
}

fn split_uri(uri: &str) -> (&str, &str) {
    uri.split_once('?').unwrap_or((uri, ""))
}

// ---------------------------------------------------------------------------------------------
// In-process corpora.
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn json_bodies_of_every_json_endpoint() {
    let started = Instant::now();
    let x = Hostile::new().await;
    let post = Method::POST;
    let ct = || vec![h("content-type", "application/json")];
    for (path, auth, base, limit) in json_endpoints() {
        let obj = base.as_object().expect("object").clone();
        // Wrong types (and hostile values of the right type) for every field; every field left
        // out; an unknown field; duplicate keys.
        for field in obj.keys() {
            for v in wrong_values() {
                let mut b = obj.clone();
                b.insert(field.clone(), v);
                x.send(&post, path, auth, ct(), Value::Object(b).to_string()).await;
            }
            for raw in raw_values() {
                x.send(&post, path, auth, ct(), with_raw(&obj, field, Some(raw.as_bytes()))).await;
            }
            for bytes in bad_utf8() {
                let mut raw = b"\"".to_vec();
                raw.extend_from_slice(bytes);
                raw.push(b'"');
                x.send(&post, path, auth, ct(), with_raw(&obj, field, Some(&raw))).await;
            }
            x.send(&post, path, auth, ct(), with_raw(&obj, field, None)).await;
            for depth in [10, 129, 1000, 10_000] {
                let deep = nested_arrays(depth);
                x.send(&post, path, auth, ct(), with_raw(&obj, field, Some(deep.as_bytes()))).await;
            }
            // 1 MB string in the field.
            let huge = json!("x".repeat(1 << 20)).to_string();
            x.send(&post, path, auth, ct(), with_raw(&obj, field, Some(huge.as_bytes()))).await;
            let mut dup = with_raw(&obj, field, None);
            dup.pop();
            dup.extend_from_slice(format!(",{}:1,{}:null}}", json!(field), json!(field)).as_bytes());
            x.send(&post, path, auth, ct(), dup).await;
        }
        let mut extra = obj.clone();
        extra.insert("__proto__".into(), json!({"admin": true}));
        x.send(&post, path, auth, ct(), Value::Object(extra).to_string()).await;

        // Wrong roots, empty bodies, deep nesting, huge bodies, bytes that are not UTF-8.
        let mut bodies: Vec<Vec<u8>> =
            ["null", "[]", "0", "-1", "\"str\"", "true", "{}", "", " ", "\u{feff}{}"]
                .into_iter()
                .map(|s| s.as_bytes().to_vec())
                .collect();
        bodies.push(format!("[{base}]").into_bytes());
        bodies.push(format!("{base}{base}").into_bytes());
        bodies.push(format!("{base} trailing").into_bytes());
        bodies.push(format!("\u{feff}{base}").into_bytes());
        for depth in [64, 127, 128, 129, 1000, 4000, 10_000] {
            bodies.push(nested_arrays(depth).into_bytes());
            bodies.push(nested_objects(depth).into_bytes());
        }
        bodies.push("[".repeat(100_000).into_bytes());
        bodies.push("{\"a\":".repeat(50_000).into_bytes());
        // Just over the limit, as valid JSON (whitespace padding) and as one big string.
        let mut padded = base.to_string().into_bytes();
        padded.resize(limit + 1, b' ');
        bodies.push(padded);
        bodies.push(json!({"x": "y".repeat(1 << 20)}).to_string().into_bytes());
        bodies.push(vec![b' '; 5 << 20]);
        bodies.push(vec![0u8; limit - 1]);
        bodies.push(b"\xff\xfe{\x00}\x00".to_vec());
        bodies.push((0..=255u8).collect());
        // UTF-16 of a valid body.
        bodies.push(base.to_string().encode_utf16().flat_map(u16::to_le_bytes).collect());
        for b in bodies {
            x.send(&post, path, auth, ct(), b.clone()).await;
            x.send(&post, path, auth, vec![h("content-type", "text/plain")], b).await;
        }
        // Every hostile content type, with a valid body; two Content-Type headers; absurd or
        // lying Content-Length headers (in-process they are just headers; raw ones go over
        // the socket test).
        for c in content_types() {
            let hdrs = c.map(|c| vec![(hn("content-type"), hv(c))]).unwrap_or_default();
            x.send(&post, path, auth, hdrs, base.to_string()).await;
        }
        let two = vec![h("content-type", "application/json"), h("content-type", "text/html")];
        x.send(&post, path, auth, two, base.to_string()).await;
        for cl in ["0", "1", "99999999999999999999", "-1", "abc", "1, 1", "8193"] {
            let hdrs = vec![h("content-type", "application/json"), h("content-length", cl)];
            x.send(&post, path, auth, hdrs, base.to_string()).await;
        }
    }
    x.report("JSON bodies");
    println!("json bodies: {:?}", started.elapsed());
}

#[tokio::test]
async fn methods_paths_and_static_traversal() {
    let started = Instant::now();
    let x = Hostile::new().await;
    let methods = [
        "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT", "FOOBAR", "get",
        "M-SEARCH", "PROPFIND",
    ];
    let long_method = "X".repeat(300);
    for e in endpoints() {
        for m in methods.iter().copied().chain([long_method.as_str()]) {
            let m = method(m);
            if m == Method::DELETE && e.uri.contains("/tokens/") && !e.uri.contains("987654") {
                continue;
            }
            x.send(&m, &e.uri, e.auth, vec![h("content-type", "application/json")], "{\"junk\":[1,2]}").await;
        }
    }

    // Request targets that are not a path: the authority form (CONNECT) and the asterisk.
    for target in
        ["evil.example:443", "127.0.0.1:1", "*", "http://evil.example", "http://evil.example/api/v1/nope"]
    {
        for m in [Method::CONNECT, Method::OPTIONS, Method::GET, Method::POST] {
            x.send(&m, target, Auth::None, vec![], "").await;
        }
    }

    // Junk in every path parameter.
    for j in path_junk() {
        let uris = [
            (Method::GET, format!("/api/v1/visitors/{j}/decision?site=default"), Auth::None),
            (Method::GET, format!("/api/v1/visitors/{j}/history?site=default"), Auth::None),
            (Method::DELETE, format!("/api/v1/visitors/{j}"), Auth::None),
            (Method::GET, format!("/api/v1/admin/records/{j}/receipt"), Auth::Auditor),
            (Method::POST, format!("/api/v1/admin/tokens/{j}/rotate"), Auth::Admin),
            (Method::DELETE, format!("/api/v1/admin/tokens/{j}"), Auth::Admin),
            (Method::DELETE, format!("/api/v1/admin/visitors/{j}"), Auth::Admin),
            (Method::GET, format!("/admin/records/{j}"), Auth::Session),
            (Method::POST, format!("/admin/tokens/{j}/rotate"), Auth::Session),
            (Method::POST, format!("/admin/tokens/{j}/revoke"), Auth::Session),
        ];
        for (m, uri, auth) in uris {
            let body = format!("csrf={}", x.csrf);
            let hdrs = vec![h("content-type", "application/x-www-form-urlencoded")];
            x.send(&m, uri, auth, hdrs, body).await;
        }
    }

    // Unknown API paths and odd path shapes.
    let long = "a".repeat(100_000);
    let odd = [
        "/api".to_owned(),
        "/api/".to_owned(),
        "/api/v1".to_owned(),
        "/api/v1/".to_owned(),
        "/api/v2/config?site=default".to_owned(),
        "/api/v1/config/?site=default".to_owned(),
        "/api/v1//config?site=default".to_owned(),
        "/api/v1/CONFIG?site=default".to_owned(),
        "/api/v1/config;jsessionid=1?site=default".to_owned(),
        "/api/v1/config%3Fsite=default".to_owned(),
        "/api/v1/visitors".to_owned(),
        "/api/v1/visitors/".to_owned(),
        format!("/api/v1/visitors/{VID}/"),
        format!("/api/v1/visitors/{VID}/decision/extra"),
        "/api/v1/admin".to_owned(),
        "/api/v1/admin/".to_owned(),
        "/api/v1/admin/records/".to_owned(),
        "/api/v1/admin/nope".to_owned(),
        "/api/v1/admin/../config?site=default".to_owned(),
        "/api/v1/admin/%2e%2e/config?site=default".to_owned(),
        "/api/docs/../v1/openapi.json".to_owned(),
        "/api/docs/swagger-initializer.js".to_owned(),
        "/api/docs/%2e%2e/%2e%2e/Cargo.toml".to_owned(),
        "/api/docs/nonexistent.js".to_owned(),
        format!("/api/v1/{long}"),
        format!("/api/v1/visitors/{long}/decision?site=default"),
        format!("/{long}"),
        format!("/admin/{long}"),
        "/admin/".to_owned(),
        "/admin//records".to_owned(),
        "/admin/records/".to_owned(),
        "/admin/records/1/".to_owned(),
        "/admin/records/1/x".to_owned(),
        "/admin/nope".to_owned(),
        "/admin/%2e%2e/admin".to_owned(),
        "//".to_owned(),
        "///etc/passwd".to_owned(),
        "/%2F%2Fevil.example".to_owned(),
        "/preferences/history/..".to_owned(),
        "/consent/".to_owned(),
        "/.well-known/".to_owned(),
        "/.well-known/../../Cargo.toml".to_owned(),
        "/.env".to_owned(),
        "/.git/config".to_owned(),
    ];
    for uri in &odd {
        for m in [Method::GET, Method::POST, Method::HEAD, Method::DELETE] {
            for auth in [Auth::None, Auth::Admin, Auth::Session] {
                x.send(&m, uri, auth, vec![], "").await;
            }
        }
    }

    // Path traversal on every static directory, in every encoding.
    let traversals = [
        "../../Cargo.toml",
        "../../../Cargo.toml",
        "..%2f..%2fCargo.toml",
        "..%2F..%2F..%2FCargo.toml",
        "%2e%2e/%2e%2e/Cargo.toml",
        "%2e%2e%2f%2e%2e%2fCargo.toml",
        "%2E%2E%2F%2E%2E%2F%2E%2E%2FCargo.toml",
        "..%5c..%5cCargo.toml",
        "..%5C..%5C..%5CCargo.toml",
        "%252e%252e%252f%252e%252e%252fCargo.toml",
        "%25252e%25252e%25252fCargo.toml",
        "..%252f..%252fCargo.toml",
        "%c0%ae%c0%ae/%c0%ae%c0%ae/Cargo.toml",
        "%c0%ae%c0%ae%c0%af%c0%ae%c0%ae%c0%afCargo.toml",
        "%e0%80%ae%e0%80%ae/Cargo.toml",
        "....//....//Cargo.toml",
        "..;/..;/Cargo.toml",
        ".%2e/.%2e/Cargo.toml",
        "%2e./%2e./Cargo.toml",
        "/etc/passwd",
        "//etc/passwd",
        "%2fetc%2fpasswd",
        "..%00/..%00/Cargo.toml",
        "%00",
        "%00/",
        "consent.js%00",
        "consent.js%00.html",
        "consent.js/",
        "consent.js/x",
        "consent.js%2f..%2fconsent.js",
        "consent.js::$DATA",
        "CONSENT.JS",
        "consent.js.",
        "consent.js%20",
        "en.json~",
        "index.html.gz",
        "%ff%fe",
        "%C3%28",
        "~",
        ".",
        "./",
        "..",
        "%2e",
        "%2e%2e",
        "snippets/../../../Cargo.toml",
    ];
    let long_name = "a".repeat(300);
    let long_tree = "a/".repeat(3000);
    let long_name_2 = format!("{}.js", "%61".repeat(300));
    for dir in ["/pkg/", "/embed/", "/locales/", "/demo/", "/", "/demo/snippets/"] {
        for t in
            traversals.iter().copied().chain([long_name.as_str(), long_tree.as_str(), long_name_2.as_str()])
        {
            let uri = format!("{dir}{t}");
            x.send(&Method::GET, &uri, Auth::None, vec![], "").await;
            x.send(&Method::HEAD, &uri, Auth::None, vec![h("accept-encoding", "gzip, br")], "").await;
        }
    }
    // Conditional and range requests on static files.
    let static_files = ["/embed/consent.js", "/locales/en.json", "/demo/index.html", "/embed/nope.js"];
    let conditional = [
        h("range", "bytes=99999999-"),
        h("range", "bytes=-0"),
        h("range", "bytes=5-1"),
        h("range", "bytes=0-0,".repeat(2000)),
        h("range", "bytes=-99999999999999999999"),
        h("range", "lines=1-2"),
        h("if-none-match", "*"),
        h("if-none-match", "\"".repeat(10_000)),
        h("if-match", "\"nope\""),
        h("if-modified-since", "Thu, 01 Jan 1970 00:00:00 GMT"),
        h("if-modified-since", "not a date"),
        h("if-unmodified-since", "Thu, 01 Jan 1970 00:00:00 GMT"),
        h("if-range", "\"x\""),
        h("accept-encoding", "gzip;q=NaN, br;q=1e999, zstd, *;q=-1"),
        h("accept-encoding", "x".repeat(10_000)),
    ];
    for f in static_files {
        for c in &conditional {
            x.send(&Method::GET, f, Auth::None, vec![c.clone()], "").await;
        }
    }
    x.report("methods, paths and static files");
    println!("methods/paths: {:?}", started.elapsed());
}

#[tokio::test]
async fn query_strings_of_every_get_endpoint() {
    let started = Instant::now();
    let x = Hostile::new().await;
    let gets: Vec<Endpoint> = endpoints().into_iter().filter(|e| e.method == Method::GET).collect();
    let big = format!("a={}", "x".repeat(100 * 1024));
    let many = (0..2000).map(|i| format!("p{i}={i}")).collect::<Vec<_>>().join("&");
    let generic = [
        "".to_owned(),
        "?".to_owned(),
        "&&&&".to_owned(),
        "=".to_owned(),
        "==&==".to_owned(),
        "%".to_owned(),
        "%%".to_owned(),
        "%G0=%ZZ".to_owned(),
        "%FF=%FE".to_owned(),
        "%C3%28=%E2%82".to_owned(),
        "%00=%00".to_owned(),
        "a[]=1&a[]=2".to_owned(),
        "a[b][c]=1".to_owned(),
        "+++=+++".to_owned(),
        ";;;;".to_owned(),
        "site".to_owned(),
        "site=default;site=x".to_owned(),
        "SITE=default".to_owned(),
        big,
        many,
    ];
    for e in &gets {
        let (path, typical) = split_uri(&e.uri);
        for g in &generic {
            x.send(&e.method, format!("{path}?{g}"), e.auth, vec![], "").await;
            if !typical.is_empty() {
                x.send(&e.method, format!("{path}?{typical}&{g}"), e.auth, vec![], "").await;
            }
        }
        for p in query_params(path) {
            for v in query_junk() {
                x.send(&e.method, format!("{path}?{typical}&{p}={v}"), e.auth, vec![], "").await;
            }
            // Before the typical parameters too (the first occurrence wins in some parsers,
            // the last in others).
            x.send(&e.method, format!("{path}?{p}=%FF&{typical}"), e.auth, vec![], "").await;
            // The same parameter 100 times, with different values.
            let repeated = (0..100).map(|i| format!("{p}={i}")).collect::<Vec<_>>().join("&");
            x.send(&e.method, format!("{path}?{typical}&{repeated}"), e.auth, vec![], "").await;
            let array = format!("{p}[]=1&{p}[]=2&{p}[x]=3");
            x.send(&e.method, format!("{path}?{typical}&{array}"), e.auth, vec![], "").await;
        }
    }
    x.report("query strings");
    println!("queries: {:?}", started.elapsed());
}

#[tokio::test]
async fn header_abuse_on_every_endpoint() {
    let started = Instant::now();
    // Behind a trusted proxy that sets CDN country headers, so the forwarded-address and
    // country parsers see the junk too.
    let x = Hostile::with(TestApp::builder().configure(|c| {
        c.geo.trusted_proxies = vec!["203.0.113.0/24".parse().expect("net"), "::/0".parse().expect("net")];
        c.geo.country_headers = vec![accord::geo::Cdn::Cloudflare, accord::geo::Cdn::Vercel];
        c.geo.allow_override = true;
    }))
    .await;
    let hundred: Headers = (0..100).map(|i| h(&format!("x-junk-{i}"), format!("{i}"))).collect();
    let thousand_cookies = (0..1000).map(|i| format!("c{i}=v{i}")).collect::<Vec<_>>().join("; ");
    let admin = x.admin.clone();
    let variants: Vec<Headers> = vec![
        hundred,
        vec![h("x-big", "x".repeat(64 * 1024))],
        vec![h("host", "")],
        vec![h("host", "evil.example")],
        vec![h("host", "a".repeat(1000))],
        vec![h("host", "[::1")],
        vec![h("host", "localhost:99999")],
        vec![h("host", b"\xff\xfe")],
        vec![h("host", "a"), h("host", "b")],
        vec![h("cookie", "accord_consent=junk")],
        vec![h("cookie", format!("accord_consent=1~{VID}~99999999999999~2023-07-05~"))],
        vec![h("cookie", format!("accord_consent=1~{VID}~-1~2023-07-05~"))],
        vec![h("cookie", format!("accord_consent=1~{VID}~1~2023-07-05~a..b"))],
        vec![h("cookie", format!("accord_consent=1~{}~1~v~", VID.to_uppercase()))],
        vec![h("cookie", format!("accord_consent=\"1~{VID}~1~v~\""))],
        vec![h("cookie", format!("accord_consent={}", "~".repeat(5000)))],
        vec![h("cookie", format!("accord_consent=1~{VID}~1~v~; accord_consent=2~x"))],
        vec![h("cookie", "accord_consent=%31~%30")],
        vec![h("cookie", b"accord_consent=1~\xff\xfe~1~v~")],
        vec![h("cookie", "accord_admin=junk")],
        vec![h("cookie", "accord_admin=")],
        vec![h("cookie", format!("accord_admin={}x", x.session_id))],
        vec![h("cookie", format!("accord_admin={}", "f".repeat(64)))],
        vec![h("cookie", format!("accord_admin={}", "a".repeat(10_000)))],
        vec![h("cookie", "accord_admin=a; accord_admin=b; accord_login=c")],
        vec![h("cookie", "=;=;;;==;accord_admin")],
        vec![h("cookie", thousand_cookies)],
        vec![h("cookie", "a=b"), h("cookie", "c=d"), h("cookie", "accord_admin=x")],
        vec![h("authorization", "")],
        vec![h("authorization", "Bearer")],
        vec![h("authorization", "Bearer ")],
        vec![h("authorization", "Bearer acc_")],
        vec![h("authorization", format!("Bearer acc_{}", "g".repeat(64)))],
        vec![h("authorization", format!("Bearer acc_{}", "0".repeat(64)))],
        vec![h("authorization", format!("Bearer {admin}x"))],
        vec![h("authorization", format!("Bearer {}", &admin[..admin.len() - 1]))],
        vec![h("authorization", format!("bearer {admin}"))],
        vec![h("authorization", format!("Basic {admin}"))],
        vec![h("authorization", format!("Bearer\t{admin}"))],
        vec![h("authorization", format!("Bearer {}", admin.to_uppercase()))],
        vec![h("authorization", format!("Bearer {admin}")), h("authorization", "Bearer junk")],
        vec![h("authorization", "Basic Zm9vOmJhcg==")],
        vec![h("authorization", b"Bearer \xff\xfe")],
        vec![h("authorization", format!("Bearer {}", "a".repeat(65_536)))],
        vec![h("sec-gpc", "")],
        vec![h("sec-gpc", "0")],
        vec![h("sec-gpc", "1 ")],
        vec![h("sec-gpc", "yes")],
        vec![h("sec-gpc", b"\xff")],
        vec![h("sec-gpc", "1"), h("sec-gpc", "0")],
        vec![h("accept-language", "a,".repeat(5000))],
        vec![h("accept-language", "x".repeat(10 * 1024))],
        vec![h("accept-language", "*;q=NaN, en;q=1e9999, de;q=-1, fr;q=inf, ;q=, ,,,")],
        vec![h("accept-language", "zz-ZZ-x-".repeat(1200))],
        vec![h("accept-language", b"\xff\xfe\xfd")],
        vec![h("x-forwarded-for", "")],
        vec![h("x-forwarded-for", "not-an-ip")],
        vec![h("x-forwarded-for", "1.2.3.4, , ,")],
        vec![h("x-forwarded-for", "999.999.999.999")],
        vec![h("x-forwarded-for", "::ffff:1.2.3.4")],
        vec![h("x-forwarded-for", "[::1]:80, unknown, _hidden")],
        vec![h("x-forwarded-for", "1.2.3.4, ".repeat(2000))],
        vec![h("x-forwarded-for", b"\xff\xfe")],
        vec![h("x-forwarded-for", "1.1.1.1"), h("x-forwarded-for", "2.2.2.2")],
        vec![h("forwarded", "for=")],
        vec![h("forwarded", "for=\"[::1\"")],
        vec![h("forwarded", "by=;for=;;proto=;,,,for=unknown")],
        vec![h("forwarded", "for=\"_x\";for=1.2.3.4:99999")],
        vec![h("forwarded", format!("for={}", "a".repeat(10_000)))],
        vec![h("cf-ipcountry", "XX")],
        vec![h("cf-ipcountry", "T1")],
        vec![h("cf-ipcountry", "a".repeat(100))],
        vec![h("cf-ipcountry", b"\xff\xfe")],
        vec![h("x-vercel-ip-country", "US"), h("x-vercel-ip-country-region", "CA".repeat(100))],
        vec![h("x-vercel-ip-country-region", "../../")],
        vec![h("origin", "null")],
        vec![h("origin", "http://")],
        vec![h("origin", "http://evil.example")],
        vec![h("origin", b"\xff")],
        vec![h("origin", "http://localhost:5173"), h("origin", "http://evil.example")],
        vec![h("sec-fetch-site", "cross-site")],
        vec![h("sec-fetch-site", "x".repeat(1000))],
        vec![h("x-csrf-token", "junk")],
        vec![h("x-csrf-token", b"\xff")],
        vec![h("if-none-match", "*")],
        vec![h("if-none-match", "\"x\", ".repeat(2000))],
        vec![h("accept", "application/json;q=0")],
        vec![h("accept", "x/y".repeat(3000))],
        vec![h("accept-encoding", "gzip")],
        vec![h("accept-encoding", "gzip;q=NaN, br;q=1e999, zstd, *;q=-1")],
        vec![h("content-encoding", "gzip")],
        vec![h("content-encoding", "br, gzip, deflate, zstd")],
        vec![h("transfer-encoding", "chunked")],
        vec![h("transfer-encoding", "gzip, chunked, identity")],
        vec![h("expect", "100-continue")],
        vec![h("expect", "999-nope")],
        vec![h("connection", "upgrade"), h("upgrade", "websocket")],
        vec![h("user-agent", "x".repeat(64 * 1024))],
        vec![h("user-agent", b"\xff\xfe\x80")],
        vec![h("referer", "javascript:alert(1)")],
        vec![h("x-http-method-override", "DELETE")],
        vec![h("access-control-request-method", "DELETE"), h("origin", "http://localhost:5173")],
        vec![h("access-control-request-headers", "x-".repeat(5000)), h("origin", "http://localhost")],
    ];
    for e in endpoints() {
        let (path, _) = split_uri(&e.uri);
        let body: Vec<u8> = match path {
            "/api/v1/consents" => consent_body("reject_all", &[]).to_string().into_bytes(),
            p if p.starts_with("/api/") => b"{}".to_vec(),
            _ => format!("csrf={}&action=reject_all", x.csrf).into_bytes(),
        };
        let ct =
            if path.starts_with("/api/") { "application/json" } else { "application/x-www-form-urlencoded" };
        for v in &variants {
            let mut hdrs = vec![h("content-type", ct)];
            hdrs.extend(v.iter().cloned());
            // With the endpoint's credential; the Authorization and Cookie variants also alone
            // (replacing the credential is their point).
            x.send(&e.method, &e.uri, e.auth, hdrs.clone(), body.clone()).await;
            let credential = v.iter().any(|(n, _)| n == "authorization" || n == "cookie");
            if credential && e.auth != Auth::None {
                x.send(&e.method, &e.uri, Auth::None, hdrs, body.clone()).await;
            }
        }
    }
    x.report("header abuse");
    println!("headers: {:?}", started.elapsed());
}

#[tokio::test]
async fn no_js_forms_with_garbage_bodies() {
    let started = Instant::now();
    let x = Hostile::new().await;
    let csrf = x.csrf.clone();
    let forms = [
        ("/consent", Auth::Visitor),
        ("/preferences/erase", Auth::None),
        ("/admin/sign-in", Auth::None),
        ("/admin/sign-out", Auth::Session),
        ("/admin/tokens", Auth::Session),
        ("/admin/tokens/987654/rotate", Auth::Session),
        ("/admin/tokens/987654/revoke", Auth::Session),
        ("/admin/erase", Auth::Session),
        ("/admin/purge", Auth::Session),
    ];
    let mut bodies: Vec<Vec<u8>> = [
        "",
        "=",
        "&&&",
        "==&==",
        "%",
        "%%%",
        "%G0=%ZZ",
        "%FF%FE=%FF",
        "action",
        "action=",
        "action=accept_all&action=reject_all",
        "action=ACCEPT_ALL",
        "action=%00",
        "action=gpc",
        "action=opt_out",
        "action=ok",
        "action=custom&granted=necessary&granted=analytics&granted=nope&granted=",
        "action=custom&granted=%FF",
        "action=custom&granted[]=analytics",
        "action[]=accept_all",
        "action=accept_all&source=api",
        "action=accept_all&source=%00",
        "action=accept_all&return_to=//evil.example",
        "action=accept_all&return_to=/\\evil.example",
        "action=accept_all&return_to=javascript:alert(1)",
        "action=accept_all&return_to=/%0d%0aSet-Cookie:%20x=1",
        "action=accept_all&return_to=%2F%2Fevil.example",
        "action=accept_all&return_to=/preferences%00",
        "token=junk",
        "token=acc_&next=//evil.example",
        "next=/admin/../../etc",
        "role=root&name=x",
        "role=admin&name=",
        "role=admin&name=%00%01%02",
        "visitor=junk",
        "visitor=0F1E2D3C4B5A69788796A5B4C3D2E1F0",
        "{\"action\":\"accept_all\"}",
        "<xml/>",
    ]
    .into_iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    bodies.push(format!("action=custom&{}", "granted=analytics&".repeat(100)).into_bytes());
    bodies.push(format!("action=accept_all&return_to=/{}", "a".repeat(600)).into_bytes());
    bodies.push(format!("role=admin&name={}", "n".repeat(100)).into_bytes());
    bodies.push(format!("a={}", "x".repeat(4095)).into_bytes());
    bodies.push(format!("a={}", "x".repeat(5000)).into_bytes());
    bodies.push(vec![b'x'; 1 << 20]);
    bodies.push(b"action=\xff\xfe&granted=\xc0\xaf".to_vec());
    bodies.push((0..=255u8).collect());
    bodies.push(vec![0u8; 100]);
    let content_types: [Option<&[u8]>; 7] = [
        Some(&b"application/x-www-form-urlencoded"[..]),
        Some(&b"application/x-www-form-urlencoded; charset=utf-16"[..]),
        Some(&b"APPLICATION/X-WWW-FORM-URLENCODED"[..]),
        None,
        Some(&b"application/json"[..]),
        Some(&b"multipart/form-data; boundary=x"[..]),
        Some(&b"application/x-www-form-urlencoded\xff"[..]),
    ];
    for (path, auth) in forms {
        for b in &bodies {
            for (i, c) in content_types.iter().enumerate() {
                let hdrs: Headers = c.map(|c| vec![(hn("content-type"), hv(c))]).unwrap_or_default();
                x.send(&Method::POST, path, auth, hdrs.clone(), b.clone()).await;
                if i == 0 {
                    // The session's CSRF token plus the garbage (reaches the actions), and a
                    // cross-site post of the same.
                    let mut with_csrf = format!("csrf={csrf}&").into_bytes();
                    with_csrf.extend_from_slice(b);
                    if path != "/admin/sign-out" {
                        x.send(&Method::POST, path, auth, hdrs.clone(), with_csrf).await;
                    }
                    let mut cross = hdrs.clone();
                    cross.push(h("origin", "http://evil.example"));
                    x.send(&Method::POST, path, auth, cross, b.clone()).await;
                }
            }
        }
    }
    // The sign-in form with its login cookie and every kind of token.
    let login = "accord_login=ab";
    let cookie = vec![h("cookie", login), h("content-type", "application/x-www-form-urlencoded")];
    for t in ["", "junk", "acc_", &format!("acc_{}", "0".repeat(64)), &format!("{}x", x.admin), "%FF"] {
        for next in ["", "/admin/records", "//evil", "/admin/%0d%0a", "/admin/../../etc/passwd"] {
            let body = format!("csrf=ab&token={t}&next={next}");
            x.send(&Method::POST, "/admin/sign-in", Auth::None, cookie.clone(), body).await;
        }
    }
    // Still signed in, and the tokens still work: nothing above closed the session.
    let res = x.send(&Method::GET, "/api/v1/admin/whoami", Auth::Admin, vec![], "").await.expect("whoami");
    assert_eq!(res.status, StatusCode::OK, "the admin token survived: {}", res.text());
    x.report("no-JS forms");
    println!("forms: {:?}", started.elapsed());
}

#[tokio::test]
async fn hostile_content_publishing() {
    let started = Instant::now();
    let x = Hostile::new().await;
    let front =
        |v: &str| format!("+++\nversion = \"{v}\"\neffective_date = \"2026-01-01\"\ntitle = \"T\"\n+++\n");
    let policies: Vec<String> = vec![
        "+++\n".to_owned(),
        "+++\n+++\n".to_owned(),
        "+++\nversion = [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n+++\nx".to_owned(),
        format!("+++\nversion = {}1{}\n+++\nx", "[".repeat(10_000), "]".repeat(10_000)),
        format!("+++\na = {}\n+++\nx", "{b=".repeat(10_000)),
        format!("+++\n{}\n+++\nx", "[a.b]\n".repeat(5000)),
        format!("+++\nversion = \"{}\"\n+++\nx", "v".repeat(100)),
        format!("+++\nversion = \"v\u{0}\"\n+++\nx"),
        format!("{}\n# only a front matter", front("hostile-empty")),
        format!("{}{}x", front("hostile-quote"), "> ".repeat(10_000)),
        format!(
            "{}{}x",
            front("hostile-list"),
            (0..2000).map(|i| format!("{}- x\n", "  ".repeat(i))).collect::<String>()
        ),
        format!("{}{}", front("hostile-brackets"), "[".repeat(100_000)),
        format!("{}{}", front("hostile-stars"), "*a".repeat(50_000)),
        format!("{}{}", front("hostile-links"), "[a](".repeat(30_000)),
        format!("{}{}", front("hostile-html"), "<div>".repeat(30_000)),
        format!("{}<script>alert(1)</script>\n<img src=x onerror=alert(1)>\n", front("hostile-script")),
        format!("{}{}", front("hostile-headings"), "# h\n".repeat(20_000)),
        format!("{}{}", front("hostile-table"), "|a|\n|-|\n".repeat(10_000)),
        format!("{}\u{202e}\u{0}\u{feff}text", front("hostile-controls")),
    ];
    let registries: Vec<String> = vec![
        "".to_owned(),
        "registry_version = \"r\"\n".to_owned(),
        format!("registry_version = \"r\"\nx = {}1{}", "[".repeat(10_000), "]".repeat(10_000)),
        format!("registry_version = \"r\"\n{}", "[[categories]]\nkey = \"k\"\n".repeat(2000)),
        "registry_version = \"hostile-r1\"\n[[categories]]\nkey = \"necessary\"\nname = \"N\"\ndescription = \"d\"\nrequired = true\n"
            .to_owned(),
    ];
    for source in &policies {
        for material in [false, true] {
            let body = json!({"source": source, "material": material});
            let hdrs = vec![h("content-type", "application/json")];
            x.send(&Method::POST, "/api/v1/admin/policies", Auth::Admin, hdrs, body.to_string()).await;
        }
        // Whatever was published renders, or was refused.
        for page in ["/privacy", "/", "/preferences", "/api/v1/config?site=default"] {
            x.send(&Method::GET, page, Auth::Visitor, vec![], "").await;
        }
    }
    for source in &registries {
        for material in [false, true] {
            let body = json!({"source": source, "material": material, "summary": "s".repeat(600)});
            let hdrs = vec![h("content-type", "application/json")];
            x.send(&Method::POST, "/api/v1/admin/registries", Auth::Admin, hdrs.clone(), body.to_string())
                .await;
            let body = json!({"source": source, "material": material});
            x.send(&Method::POST, "/api/v1/admin/registries", Auth::Admin, hdrs, body.to_string()).await;
        }
        for page in ["/cookies", "/", "/preferences", "/api/v1/config?site=default"] {
            x.send(&Method::GET, page, Auth::Visitor, vec![], "").await;
        }
    }
    x.report("content publishing");
    println!("publishing: {:?}", started.elapsed());
}

/// What this suite found, pinned one by one (each was a 5xx, a panic, a hang or a non-JSON
/// error before the fix).
#[tokio::test]
async fn findings_stay_fixed() {
    let x = Hostile::new().await;
    let send = |m: Method, uri: &'static str, auth: Auth, headers: Headers| {
        let x = &x;
        async move { x.send(&m, uri, auth, headers, "").await.expect("representable") }
    };
    // The router's own 405 on an API path: JSON, and it says what is allowed.
    let res = send(Method::POST, "/api/v1/openapi.json", Auth::None, vec![]).await;
    assert_eq!(res.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(res.error_code(), "method_not_allowed");
    assert!(res.header("allow").is_some_and(|a| a.contains("GET")), "{:?}", res.headers);
    // An extractor's rejection (a path segment that is not UTF-8) and an unknown non-v1 path.
    let res = send(Method::GET, "/api/v1/visitors/%FF/history?site=default", Auth::None, vec![]).await;
    assert_eq!((res.status, res.error_code().as_str()), (StatusCode::BAD_REQUEST, "bad_request"));
    // The decision reads its segment itself: not UTF-8, or encoded, is just not a visitor id.
    for uri in ["/api/v1/visitors/%FF/decision?site=default", "/api/v1/visitors/%zz/decision?site=default"] {
        let res = send(Method::GET, uri, Auth::None, vec![]).await;
        assert_eq!(
            (res.status, res.error_code().as_str()),
            (StatusCode::BAD_REQUEST, "invalid_visitor_id"),
            "{uri}"
        );
    }
    let res = send(Method::GET, "/api/v2/config", Auth::None, vec![]).await;
    assert_eq!((res.status, res.error_code().as_str()), (StatusCode::NOT_FOUND, "not_found"));
    // A form post to a page: JSON too.
    let res = send(Method::POST, "/privacy", Auth::None, vec![]).await;
    assert_eq!(res.error_code(), "method_not_allowed");
    // The authority form of CONNECT used to panic in the page renderer.
    let res = send(Method::CONNECT, "evil.example:443", Auth::None, vec![]).await;
    assert_eq!((res.status, res.error_code().as_str()), (StatusCode::BAD_REQUEST, "invalid_target"));
    // Static files: names no file can have were an empty 500.
    for uri in ["/embed/..%00/x.js", "/embed/%00"] {
        let res = send(Method::HEAD, uri, Auth::None, vec![]).await;
        assert_eq!(res.status, StatusCode::NOT_FOUND, "{uri}");
    }
    let long = Box::leak(format!("/embed/{}.js", "a".repeat(300)).into_boxed_str());
    assert_eq!(send(Method::GET, long, Auth::None, vec![]).await.status, StatusCode::NOT_FOUND);
    assert_eq!(send(Method::GET, "/embed/consent.js", Auth::None, vec![]).await.status, StatusCode::OK);
    // The site's static files answered every method with the file: 200 to POST, DELETE and
    // TRACE, a 2xx (a tunnel) to CONNECT. Only GET and HEAD read them; an over-long name is a
    // 404 before any file lookup (it was an error in the log per request).
    for m in [Method::GET, Method::HEAD] {
        assert_eq!(
            send(m.clone(), "/locales/en.json", Auth::None, vec![]).await.status,
            StatusCode::OK,
            "{m}"
        );
    }
    for m in ["POST", "PUT", "DELETE", "TRACE", "CONNECT", "FOOBAR"] {
        let res = send(method(m), "/locales/en.json", Auth::None, vec![]).await;
        assert_eq!(
            (res.status, res.error_code().as_str()),
            (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            "{m}"
        );
        assert_eq!(res.header("allow"), Some("GET,HEAD"), "{m}");
    }
    let res = send(Method::POST, "/locales/none.json", Auth::None, vec![]).await;
    assert_eq!((res.status, res.error_code().as_str()), (StatusCode::NOT_FOUND, "not_found"));
    let long = Box::leak(format!("/locales/{}.json", "a".repeat(300)).into_boxed_str());
    assert_eq!(send(Method::GET, long, Auth::None, vec![]).await.status, StatusCode::NOT_FOUND);
    let res = send(Method::DELETE, long, Auth::None, vec![]).await;
    assert_eq!((res.status, res.error_code().as_str()), (StatusCode::NOT_FOUND, "not_found"));
    // The dashboard's default period before the calendar's first day panicked.
    let res = send(Method::GET, "/api/v1/admin/dashboard?to=-9999-01-01", Auth::Auditor, vec![]).await;
    assert_eq!((res.status, res.error_code().as_str()), (StatusCode::BAD_REQUEST, "invalid_filter"));
    // A gzip-compressed export panicked when the encoder polled the finished stream.
    for uri in ["/api/v1/admin/export?format=csv", "/api/v1/admin/audit/export"] {
        let res = send(Method::GET, uri, Auth::Auditor, vec![h("accept-encoding", "gzip")]).await;
        assert_eq!(res.status, StatusCode::OK, "{uri}");
        assert_eq!(res.header("content-encoding"), Some("gzip"), "{uri}");
        assert!(!plain_body(&res).is_empty(), "{uri}");
    }
    // 20 000 equal headings took minutes to publish (slugs deduplicated in quadratic time).
    let began = Instant::now();
    let source = format!(
        "+++\nversion = \"headings\"\neffective_date = \"2026-01-01\"\ntitle = \"T\"\n+++\n{}",
        "# h\n".repeat(20_000)
    );
    let body = json!({"source": source, "material": false}).to_string();
    let hdrs = vec![h("content-type", "application/json")];
    let res = x.send(&Method::POST, "/api/v1/admin/policies", Auth::Admin, hdrs, body).await.expect("sent");
    assert_eq!(res.status, StatusCode::CREATED, "{}", res.text());
    assert!(began.elapsed() < Duration::from_secs(20), "publishing took {:?}", began.elapsed());
    let res = send(Method::GET, "/privacy", Auth::None, vec![]).await;
    assert_eq!(res.status, StatusCode::OK);
    x.report("pinned findings");
}

// ---------------------------------------------------------------------------------------------
// A real socket: bytes the http crate cannot even represent, and slow bodies.
// ---------------------------------------------------------------------------------------------

/// One parsed HTTP/1.1 answer.
struct RawResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawResponse {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

fn parse_response(raw: &[u8]) -> Option<RawResponse> {
    let end = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[end + 4..].to_vec();
    let chunked = headers.iter().any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    } else if let Some(len) =
        headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse().ok())
    {
        body.truncate(len);
    }
    Some(RawResponse { status, headers, body })
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size = usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 || b.len() < eol + 2 + size {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[(eol + 4 + size).min(b.len())..];
    }
    out
}

/// Whether `raw` holds one whole answer (the server may keep the connection open after it).
fn complete(raw: &[u8]) -> bool {
    let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else { return false };
    let Some(res) = parse_response(raw) else { return false };
    if res.header("transfer-encoding").is_some_and(|t| t.contains("chunked")) {
        return raw.ends_with(b"0\r\n\r\n");
    }
    match res.header("content-length").and_then(|l| l.parse::<usize>().ok()) {
        Some(len) => raw.len() - (end + 4) >= len,
        None => matches!(res.status, 100..=199 | 204 | 304),
    }
}

/// Writes `request` (as far as the server reads it) and reads until the server closes, or
/// until `deadline`: `Err` means the server neither answered nor closed in time (a hang).
async fn exchange(addr: &str, request: &[u8], deadline: Duration) -> Result<Vec<u8>, String> {
    let mut s = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
    // The server may answer and close before reading everything: a failed write is fine.
    let _ = s.write_all(request).await;
    let mut out = Vec::new();
    let read = tokio::time::timeout(deadline, async {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    out.extend_from_slice(&buf[..n]);
                    if complete(&out) {
                        break;
                    }
                }
            }
        }
    })
    .await;
    match read {
        Ok(()) => Ok(out),
        Err(_) if !out.is_empty() => Ok(out),
        Err(_) => Err(format!("no answer within {deadline:?}")),
    }
}

/// Checks a raw answer: never 5xx; an answer that our app produced (it carries our security
/// headers, while hyper's own parse errors carry none) to an API path or a non-GET request is
/// the JSON error.
fn check_raw(label: &str, method: &str, path: &str, raw: &[u8], secrets: &[&str]) -> Option<u16> {
    let Some(res) = parse_response(raw) else {
        assert!(raw.is_empty(), "{label}: unparseable answer: {}", snippet(raw));
        return None; // closed without an answer: acceptable for garbage
    };
    assert!(res.status < 500, "{label}: answered {}: {}", res.status, snippet(&res.body));
    let ours = res.header("x-content-type-options").is_some();
    let api = path.starts_with("/api/") || (method != "GET" && method != "HEAD");
    if ours && api && (400..500).contains(&res.status) {
        assert_json_error(label, res.status, res.header("content-type"), &res.body);
    }
    for s in secrets {
        assert!(!contains(raw, s), "{label}: the answer contains a secret");
    }
    Some(res.status)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_bytes_over_a_real_socket() {
    let started = Instant::now();
    count_server_errors();
    let app = TestApp::builder()
        .configure(|c| {
            c.rate_limit.enabled = false;
            c.server.request_timeout_secs = 3;
        })
        .build()
        .await;
    let (_, admin) = auth::create(app.state.ledger.as_ref(), "raw-admin", Role::Admin).await.expect("token");
    let running = app.spawn().await;
    let addr = running.base.trim_start_matches("http://").to_owned();
    let root = workspace_root().display().to_string();
    let secrets = [admin.as_str(), root.as_str()];
    let auth = format!("Authorization: Bearer {admin}\r\n");
    let consent = consent_body("accept_all", &[]).to_string();
    let mut cases: Vec<(&str, &str, Vec<u8>)> = Vec::new();
    let mut add = |method: &'static str, path: &'static str, raw: Vec<u8>| cases.push((method, path, raw));
    let get = |target: &[u8], extra: &[u8]| -> Vec<u8> {
        let mut r = b"GET ".to_vec();
        r.extend_from_slice(target);
        r.extend_from_slice(b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n");
        r.extend_from_slice(extra);
        r.extend_from_slice(b"\r\n");
        r
    };
    let post = |target: &str, headers: &[u8], body: &[u8]| -> Vec<u8> {
        let mut r =
            format!("POST {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n").into_bytes();
        r.extend_from_slice(headers);
        r.extend_from_slice(b"\r\n");
        r.extend_from_slice(body);
        r
    };
    // Invalid UTF-8 in the path, the query and header values.
    add("GET", "/api/v1/visitors/x/decision", get(b"/api/v1/visitors/\xff\xfe/decision?site=default", b""));
    add("GET", "/api/v1/config", get(b"/api/v1/config?site=\xff\xfe&lang=\xc0\xaf", b""));
    add(
        "GET",
        "/api/v1/config",
        get(b"/api/v1/config?site=default", b"Accept-Language: \xff\xfe\r\nSec-GPC: \xff\r\n"),
    );
    add("GET", "/api/v1/admin/records", get(b"/api/v1/admin/records?site=\xff", auth.as_bytes()));
    add("GET", "/api/v1/admin/records", get(b"/api/v1/admin/records", b"Authorization: Bearer \xff\xfe\r\n"));
    add("GET", "/embed/x", get(b"/embed/\xff\xfe.js", b""));
    add("GET", "/pkg/x", get(b"/pkg/\xc0\xae\xc0\xae/\xc0\xae\xc0\xae/Cargo.toml", b""));
    add("GET", "/", get(b"/\xff", b"Cookie: accord_consent=\xff\xfe; accord_admin=\xff\r\n"));
    add("GET", "/privacy", get(b"/privacy", b"Host: \xff\xfe\r\n"));
    add("GET", "/embed/x", get(b"/embed/../../Cargo.toml", b""));
    add("GET", "/embed/x", get(b"/embed/..\\..\\Cargo.toml", b""));
    add("GET", "/embed/x", get(b"/embed/%2e%2e%5c%2e%2e%5cCargo.toml", b""));
    add("GET", "/x", get(b"/\x00", b""));
    add("GET", "/x", get(b"/ spaced path", b""));
    add("GET", "/x", get(b"http://evil.example/api/v1/config?site=default", b""));
    add("GET", "/x", get(b"*", b""));
    add("GET", "/x", get(&[b'/'; 100_000], b""));
    let long_target = format!("/api/v1/config?site=default&{}", "a=b&".repeat(50_000));
    add("GET", "/api/v1/config", get(long_target.as_bytes(), b""));
    // Header abuse hyper sees first.
    let many: Vec<u8> = (0..101).flat_map(|i| format!("X-H{i}: {i}\r\n").into_bytes()).collect();
    add("GET", "/api/v1/config", get(b"/api/v1/config?site=default", &many));
    let big = format!("X-Big: {}\r\n", "x".repeat(64 * 1024));
    add("GET", "/api/v1/config", get(b"/api/v1/config?site=default", big.as_bytes()));
    let huge = format!("X-Huge: {}\r\n", "x".repeat(1 << 20));
    add("GET", "/api/v1/config", get(b"/api/v1/config?site=default", huge.as_bytes()));
    add("GET", "/api/v1/config", get(b"/api/v1/config?site=default", b"Bad Header\r\n"));
    add("GET", "/api/v1/config", get(b"/api/v1/config?site=default", b": no name\r\n"));
    add("GET", "/api/v1/config", get(b"/api/v1/config?site=default", b"X-Nul: a\x00b\r\n"));
    add("GET", "/api/v1/config", get(b"/api/v1/config?site=default", b"X-Fold: a\r\n  folded\r\n"));
    // Methods and protocol versions.
    add("GET", "/x", b"FOO /api/v1/config HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec());
    add("GET", "/x", b"G\xffT /api/v1/config HTTP/1.1\r\nHost: x\r\n\r\n".to_vec());
    add("GET", "/x", b"GET /api/v1/config?site=default HTTP/1.0\r\n\r\n".to_vec());
    add("GET", "/x", b"GET /api/v1/config?site=default HTTP/9.9\r\n\r\n".to_vec());
    add("GET", "/x", b"GET /api/v1/config?site=default\r\n\r\n".to_vec());
    add("GET", "/x", b"CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n".to_vec());
    add("GET", "/x", b"OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_vec());
    add("GET", "/x", b"GET /healthz HTTP/1.1\r\n\r\n".to_vec());
    add("GET", "/x", (0..=255u8).cycle().take(4096).collect());
    add("GET", "/x", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec());
    // Bodies: absurd and contradictory lengths, broken chunking, a body on a GET.
    let json_ct = b"Content-Type: application/json\r\n".as_slice();
    let with = |a: &[u8], b: &[u8]| [a, b].concat();
    add(
        "POST",
        "/api/v1/consents",
        post(
            "/api/v1/consents",
            &with(json_ct, b"Content-Length: 99999999999999999999\r\n"),
            consent.as_bytes(),
        ),
    );
    add(
        "POST",
        "/api/v1/consents",
        post("/api/v1/consents", &with(json_ct, b"Content-Length: -1\r\n"), consent.as_bytes()),
    );
    add(
        "POST",
        "/api/v1/consents",
        post(
            "/api/v1/consents",
            &with(json_ct, b"Content-Length: 10\r\nContent-Length: 20\r\n"),
            consent.as_bytes(),
        ),
    );
    add(
        "POST",
        "/api/v1/consents",
        post("/api/v1/consents", &with(json_ct, b"Content-Length: 1e3\r\n"), consent.as_bytes()),
    );
    add(
        "POST",
        "/api/v1/consents",
        post("/api/v1/consents", &with(json_ct, b"Content-Length: 9000\r\n"), &vec![b' '; 9000]),
    );
    add(
        "POST",
        "/api/v1/consents",
        post("/api/v1/consents", &with(json_ct, b"Content-Length: 1048576\r\n"), &vec![b'x'; 1 << 20]),
    );
    add(
        "POST",
        "/api/v1/consents",
        post(
            "/api/v1/consents",
            &with(json_ct, b"Transfer-Encoding: chunked\r\n"),
            b"zz\r\nhello\r\n0\r\n\r\n",
        ),
    );
    add(
        "POST",
        "/api/v1/consents",
        post(
            "/api/v1/consents",
            &with(json_ct, b"Transfer-Encoding: chunked\r\n"),
            b"ffffffffffffffffff\r\nx\r\n",
        ),
    );
    let chunks: Vec<u8> =
        (0..3000).flat_map(|_| b"3\r\nabc\r\n".to_vec()).chain(b"0\r\n\r\n".to_vec()).collect();
    add(
        "POST",
        "/api/v1/consents",
        post("/api/v1/consents", &with(json_ct, b"Transfer-Encoding: chunked\r\n"), &chunks),
    );
    add(
        "POST",
        "/api/v1/consents",
        post(
            "/api/v1/consents",
            &with(json_ct, b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n"),
            b"0\r\n\r\n",
        ),
    );
    add(
        "POST",
        "/api/v1/consents",
        post("/api/v1/consents", &with(json_ct, b"Transfer-Encoding: gzip\r\n"), b"x"),
    );
    let bad_body = [b"{\"site\":\"\xff\xfe\"}".as_slice()].concat();
    let cl = format!("Content-Length: {}\r\n", bad_body.len());
    add("POST", "/api/v1/consents", post("/api/v1/consents", &with(json_ct, cl.as_bytes()), &bad_body));
    add("GET", "/api/v1/config", get(b"/api/v1/config?site=default", b"Content-Length: 5\r\n\r\nhello"));
    let form_ct = b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 12\r\n".as_slice();
    add("POST", "/consent", post("/consent", form_ct, b"action=\xff\xfe\xfd\xfc\xfb"));
    add("POST", "/admin/sign-in", post("/admin/sign-in", form_ct, b"token=\xff\xfe\xfd\xfc\xfb\xfa"));
    let policies = format!("{auth}Content-Type: application/json\r\nContent-Length: 300000\r\n");
    add(
        "POST",
        "/api/v1/admin/policies",
        post("/api/v1/admin/policies", policies.as_bytes(), &vec![b'['; 300_000]),
    );

    let mut tried = 0;
    for (m, path, raw) in &cases {
        let label = format!("raw {:?}", snippet(&raw[..raw.len().min(120)]));
        let began = Instant::now();
        // An HTTP/2 connection stays open after the server's SETTINGS: wait less for it.
        let h2 = raw.starts_with(b"PRI * HTTP/2.0");
        let answer = exchange(&addr, raw, Duration::from_secs(if h2 { 2 } else { 15 })).await;
        let answer = answer.unwrap_or_else(|e| panic!("{label}: {e}"));
        let took = began.elapsed();
        let status = if h2 {
            // The HTTP/2 preface: answered in HTTP/2 (a GOAWAY frame), or closed.
            assert!(!answer.starts_with(b"HTTP/1.1 5"), "{label}: {}", snippet(&answer));
            Some(0)
        } else {
            check_raw(&label, m, path, &answer, &secrets)
        };
        let shown =
            status.map_or("closed".to_owned(), |s| if s == 0 { "h2".to_owned() } else { s.to_string() });
        println!("raw answer {shown} in {took:?}: {}", label.chars().take(90).collect::<String>());
        tried += 1;
    }
    // Still serving.
    let ok = exchange(&addr, &get(b"/healthz", b""), Duration::from_secs(5)).await.expect("healthz");
    assert_eq!(parse_response(&ok).map(|r| r.status), Some(200), "the server still answers");
    TOTAL.fetch_add(tried + 1, Ordering::Relaxed);
    println!(
        "hostile requests tried: {} (raw bytes over a socket); {} so far in this run",
        tried + 1,
        TOTAL.load(Ordering::Relaxed)
    );
    println!("raw: {:?}", started.elapsed());
    running.shutdown().await.expect("graceful shutdown");
    assert_no_server_errors("raw bytes over a socket");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_time_out_and_others_are_still_served() {
    let started = Instant::now();
    const TIMEOUT: u64 = 2;
    count_server_errors();
    let app = TestApp::builder()
        .configure(|c| {
            c.rate_limit.enabled = false;
            c.server.request_timeout_secs = TIMEOUT;
        })
        .build()
        .await;
    let (_, admin) = auth::create(app.state.ledger.as_ref(), "slow-admin", Role::Admin).await.expect("token");
    let running = app.spawn().await;
    let addr = running.base.trim_start_matches("http://").to_owned();
    let slow: Vec<(&str, String)> = vec![
        ("/api/v1/consents", "Content-Type: application/json\r\n".to_owned()),
        ("/api/v1/consents", "Content-Type: text/plain\r\n".to_owned()),
        (
            "/api/v1/admin/policies",
            format!("Authorization: Bearer {admin}\r\nContent-Type: application/json\r\n"),
        ),
        (
            "/api/v1/admin/tokens",
            format!("Authorization: Bearer {admin}\r\nContent-Type: application/json\r\n"),
        ),
        ("/consent", "Content-Type: application/x-www-form-urlencoded\r\n".to_owned()),
        ("/admin/sign-in", "Content-Type: application/x-www-form-urlencoded\r\n".to_owned()),
    ];
    let mut tasks = Vec::new();
    for (path, headers) in slow {
        for dribble in [false, true] {
            let addr = addr.clone();
            let headers = headers.clone();
            tasks.push(tokio::spawn(async move {
                let began = Instant::now();
                let mut s = TcpStream::connect(&addr).await.expect("connect");
                let head = format!(
                    "POST {path} HTTP/1.1\r\nHost: localhost\r\n{headers}Content-Length: 4000\r\n\r\n{{\"si"
                );
                s.write_all(head.as_bytes()).await.expect("head");
                let mut out = Vec::new();
                let mut buf = [0u8; 4096];
                let limit = Duration::from_secs(TIMEOUT + 8);
                loop {
                    let wait = if dribble { Duration::from_millis(200) } else { limit };
                    match tokio::time::timeout(wait, s.read(&mut buf)).await {
                        Ok(Ok(0)) | Ok(Err(_)) => break,
                        Ok(Ok(n)) => {
                            out.extend_from_slice(&buf[..n]);
                            if complete(&out) {
                                break;
                            }
                        }
                        Err(_) if dribble && began.elapsed() < limit => {
                            // One more byte now and then: the body never completes.
                            if s.write_all(b"x").await.is_err() {
                                break;
                            }
                        }
                        Err(_) => panic!("{path}: the server neither answered nor closed within {limit:?}"),
                    }
                }
                let took = began.elapsed();
                (path, dribble, out, took)
            }));
        }
    }
    // Meanwhile, everyone else is served promptly.
    let mut quick = 0;
    for _ in 0..10 {
        let began = Instant::now();
        let ok = exchange(
            &addr,
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            Duration::from_secs(5),
        )
        .await
        .expect("healthz while slow bodies are pending");
        assert_eq!(parse_response(&ok).map(|r| r.status), Some(200));
        assert!(began.elapsed() < Duration::from_secs(1), "healthz took {:?}", began.elapsed());
        quick += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let n = tasks.len();
    for t in tasks {
        let (path, dribble, out, took) = t.await.expect("slow client task");
        let label = format!("slow body to {path} (dribble: {dribble})");
        // 408, or closed without an answer.
        if let Some(status) = check_raw(&label, "POST", path, &out, &[admin.as_str()]) {
            assert_eq!(status, 408, "{label}: expected 408 after {took:?}");
            let body = parse_response(&out).map(|r| r.body).unwrap_or_default();
            let j: Value = serde_json::from_slice(&body).unwrap_or_default();
            assert_eq!(j["error"]["code"], "request_timeout", "{label}: {j}");
        }
        assert!(took < Duration::from_secs(TIMEOUT + 5), "{label}: took {took:?}");
    }
    // Slow headers: hyper under axum::serve has no header-read timeout, so a client that never
    // finishes its headers keeps its connection; the point here is only that it blocks no one.
    let mut idle = TcpStream::connect(&addr).await.expect("connect");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.expect("partial head");
    let ok = exchange(
        &addr,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        Duration::from_secs(5),
    )
    .await
    .expect("healthz beside an unfinished head");
    assert_eq!(parse_response(&ok).map(|r| r.status), Some(200));
    drop(idle);
    let tried = n + quick + 2;
    TOTAL.fetch_add(tried, Ordering::Relaxed);
    println!(
        "hostile requests tried: {tried} (slow bodies over a socket); {} so far in this run",
        TOTAL.load(Ordering::Relaxed)
    );
    println!("slow: {:?}", started.elapsed());
    running.shutdown().await.expect("graceful shutdown");
    assert_no_server_errors("slow bodies over a socket");
}

// ---------------------------------------------------------------------------------------------
// Property tests of the request parsers (256 cases each).
// ---------------------------------------------------------------------------------------------

mod properties {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestRunner};

    fn runner() -> TestRunner {
        TestRunner::new(Config { cases: 256, failure_persistence: None, ..Config::default() })
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime")
    }

    /// Bytes that look like a consent body: valid pieces, JSON punctuation and random bytes.
    fn consentish() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            Just(b"{".to_vec()),
            Just(b"}".to_vec()),
            Just(b"[".to_vec()),
            Just(b"]".to_vec()),
            Just(b",".to_vec()),
            Just(b":".to_vec()),
            Just(b"\"".to_vec()),
            Just(b"null".to_vec()),
            Just(b"\"site\":\"default\"".to_vec()),
            Just(b"\"action\":\"custom\"".to_vec()),
            Just(b"\"granted\":[\"analytics\"]".to_vec()),
            Just(b"\"policy_version\":\"2023-07-05\"".to_vec()),
            Just(format!("\"visitor_id\":\"{VID}\"").into_bytes()),
            Just(b"\"page\":\"/p\"".to_vec()),
            Just(b"\"language\":\"en\"".to_vec()),
            Just(b"\"gpc\":true".to_vec()),
            "[a-z_]{0,12}".prop_map(|s| format!("\"{s}\"").into_bytes()),
            any::<i64>().prop_map(|n| n.to_string().into_bytes()),
            proptest::collection::vec(any::<u8>(), 0..8),
        ];
        proptest::collection::vec(piece, 0..40).prop_map(|p| p.concat())
    }

    /// A query string from arbitrary bytes: most bytes percent-encoded, the separators and a
    /// stray `%` kept raw (so invalid escapes occur).
    fn queryish() -> impl Strategy<Value = String> {
        let name = prop_oneof![
            Just("site".to_owned()),
            Just("category".to_owned()),
            Just("region".to_owned()),
            Just("gpc".to_owned()),
            Just("limit".to_owned()),
            Just("lang".to_owned()),
            Just("visitor".to_owned()),
            Just("from".to_owned()),
            Just("to".to_owned()),
            Just("granted".to_owned()),
            Just("denied".to_owned()),
            Just("jurisdiction".to_owned()),
            Just("action".to_owned()),
            Just("before".to_owned()),
            Just("format".to_owned()),
            Just("actor".to_owned()),
            "[a-z]{0,6}",
        ];
        let value = proptest::collection::vec(any::<u8>(), 0..24).prop_map(|bytes| {
            bytes
                .iter()
                .map(|&b| match b {
                    b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'%' | b'+' | b':' => {
                        (b as char).to_string()
                    }
                    _ => format!("%{b:02X}"),
                })
                .collect::<String>()
        });
        let pair =
            (name, prop_oneof![Just("default".to_owned()), value]).prop_map(|(k, v)| format!("{k}={v}"));
        proptest::collection::vec(pair, 0..8).prop_map(|p| p.join("&"))
    }

    fn formish() -> impl Strategy<Value = Vec<u8>> {
        let key = prop_oneof![
            Just("action".to_owned()),
            Just("granted".to_owned()),
            Just("source".to_owned()),
            Just("return_to".to_owned()),
            Just("csrf".to_owned()),
            "[a-z%=&+]{0,6}",
        ];
        let value = prop_oneof![
            Just(b"accept_all".to_vec()),
            Just(b"reject_all".to_vec()),
            Just(b"custom".to_vec()),
            Just(b"withdraw".to_vec()),
            Just(b"opt_out".to_vec()),
            Just(b"analytics".to_vec()),
            Just(b"/preferences".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..16),
        ];
        proptest::collection::vec((key, value), 0..10).prop_map(|pairs| {
            let mut out = Vec::new();
            for (k, v) in pairs {
                out.extend_from_slice(k.as_bytes());
                out.push(b'=');
                out.extend_from_slice(&v);
                out.push(b'&');
            }
            out
        })
    }

    /// Runs a property whose each case sends one request; checks every answer like the corpus.
    fn run<S: Strategy>(
        what: &str,
        strategy: S,
        make: impl Fn(&Hostile, S::Value) -> (Method, String, Auth, Headers, Vec<u8>),
    ) where
        S::Value: std::fmt::Debug,
    {
        let rt = rt();
        let x = rt.block_on(Hostile::new());
        let result = runner().run(&strategy, |input| {
            let (m, uri, auth, headers, body) = make(&x, input);
            let sent = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                rt.block_on(x.send(&m, &uri, auth, headers, body));
            }));
            prop_assert!(sent.is_ok(), "{m} {uri}: the answer failed a check (see the panic above)");
            Ok(())
        });
        if let Err(e) = result {
            panic!("{what}: {e}");
        }
        x.report(what);
    }

    #[test]
    fn arbitrary_bytes_as_the_consent_body() {
        run("property: arbitrary consent bodies", any::<Vec<u8>>(), |_, body| {
            (
                Method::POST,
                "/api/v1/consents".into(),
                Auth::None,
                vec![h("content-type", "application/json")],
                body,
            )
        });
    }

    #[test]
    fn consent_like_bytes_as_the_consent_body() {
        run("property: consent-like bodies", (consentish(), any::<bool>()), |_, (body, plain)| {
            let ct = if plain { "text/plain" } else { "application/json" };
            (Method::POST, "/api/v1/consents".into(), Auth::None, vec![h("content-type", ct)], body)
        });
    }

    #[test]
    fn arbitrary_form_bodies_for_the_consent_form() {
        let strategy = prop_oneof![any::<Vec<u8>>(), formish()];
        run("property: consent form bodies", strategy, |_, body| {
            let hdrs = vec![h("content-type", "application/x-www-form-urlencoded")];
            (Method::POST, "/consent".into(), Auth::Visitor, hdrs, body)
        });
    }

    #[test]
    fn arbitrary_query_strings_for_decision_history_and_admin_search() {
        let paths = [
            (format!("/api/v1/visitors/{VID}/decision"), Auth::None),
            (format!("/api/v1/visitors/{VID}/history"), Auth::None),
            ("/api/v1/config".to_owned(), Auth::None),
            ("/api/v1/admin/records".to_owned(), Auth::Auditor),
            ("/api/v1/admin/export".to_owned(), Auth::Auditor),
            ("/api/v1/admin/audit".to_owned(), Auth::Auditor),
            ("/api/v1/admin/dashboard".to_owned(), Auth::Auditor),
            ("/admin/records".to_owned(), Auth::Session),
        ];
        let strategy = (0..paths.len(), queryish());
        run("property: query strings", strategy, move |_, (i, q)| {
            let (path, auth) = &paths[i];
            (Method::GET, format!("{path}?{q}"), *auth, vec![], vec![])
        });
    }
}

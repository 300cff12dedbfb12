//! The OpenAPI document (`/api/v1/openapi.json`) and the docs page (`/api/docs`): every API
//! route is documented with its methods, admin operations require the bearer token, and the
//! documented schemas match what the handlers really answer (many bodies are `json!`, described
//! by separate structs that could otherwise drift).

use accord_tests::{consent_body, workspace_root, TestApp, TestResponse};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Every route the router serves under `/api/v1` (`http::api::routes`, `http::admin::routes`,
/// the document itself) plus the probes, with its methods. `routes_in_source` keeps this list
/// honest.
const ROUTES: &[(&str, &[&str])] = &[
    ("/api/v1/openapi.json", &["get"]),
    ("/api/v1/config", &["get"]),
    ("/api/v1/consents", &["post"]),
    ("/api/v1/visitors/{visitor_id}/decision", &["get"]),
    ("/api/v1/visitors/{visitor_id}/history", &["get"]),
    ("/api/v1/visitors/{visitor_id}", &["delete"]),
    ("/api/v1/ledger/head", &["get"]),
    ("/api/v1/admin/whoami", &["get"]),
    ("/api/v1/admin/policies", &["post"]),
    ("/api/v1/admin/registries", &["post"]),
    ("/api/v1/admin/records", &["get"]),
    ("/api/v1/admin/records/{id}/receipt", &["get"]),
    ("/api/v1/admin/export", &["get"]),
    ("/api/v1/admin/ledger/verify", &["get"]),
    ("/api/v1/admin/audit", &["get"]),
    ("/api/v1/admin/audit/export", &["get"]),
    ("/api/v1/admin/dashboard", &["get"]),
    ("/api/v1/admin/tokens", &["get", "post"]),
    ("/api/v1/admin/tokens/{id}/rotate", &["post"]),
    ("/api/v1/admin/tokens/{id}", &["delete"]),
    ("/api/v1/admin/visitors/{visitor_id}", &["delete"]),
    ("/api/v1/admin/purge", &["post"]),
    ("/healthz", &["get"]),
    ("/readyz", &["get"]),
    ("/.well-known/gpc.json", &["get"]),
];

const TAGS: &[&str] = &[
    "consent",
    "visitors",
    "ledger",
    "admin-records",
    "admin-audit",
    "admin-tokens",
    "admin-content",
    "health",
    "docs",
];
const HTTP_METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch", "trace"];
const VID: &str = "0123456789abcdef0123456789abcdef";

fn path_methods(item: &Value) -> BTreeSet<String> {
    item.as_object()
        .map(|o| o.keys().filter(|k| HTTP_METHODS.contains(&k.as_str())).cloned().collect())
        .unwrap_or_default()
}

/// Follows a local `$ref` (`#/components/...`).
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("non-local $ref {r}"));
            let target = doc.pointer(pointer).unwrap_or_else(|| panic!("dangling $ref {r}"));
            resolve(doc, target)
        }
        None => v,
    }
}

/// The routes `routes()` registers in `api.rs` and `admin/mod.rs`, read from the source: a
/// route added there without documentation fails `every_api_route_is_documented`.
fn routes_in_source() -> BTreeMap<String, BTreeSet<String>> {
    let mut found = BTreeMap::<String, BTreeSet<String>>::new();
    for (file, prefix) in
        // api.rs spells its routes out in full; the admin API is nested under /api/v1/admin.
        [("server/src/http/api.rs", ""), ("server/src/http/admin/mod.rs", "/api/v1/admin")]
    {
        let src = std::fs::read_to_string(workspace_root().join(file)).expect("router source");
        let start = src.find("pub fn routes(").expect("routes() in source");
        let body = &src[start..];
        let body = &body[..body.find("\n}\n").expect("end of routes()")];
        let mut rest = body;
        while let Some(i) = rest.find(".route(") {
            // `.route("…"` or, as rustfmt breaks long calls, `.route(\n    "…"`.
            rest = rest[i + ".route(".len()..].trim_start();
            // A literal path, or a constant of the same file (`CONFIG_PATH`).
            let path = if let Some(quoted) = rest.strip_prefix('"') {
                rest = quoted;
                rest[..rest.find('"').expect("closing quote")].to_owned()
            } else {
                let name: String = rest.chars().take_while(|c| c.is_ascii_uppercase() || *c == '_').collect();
                if name.is_empty() {
                    continue;
                }
                let decl = format!("const {name}: &str = \"");
                let value =
                    &src[src.find(&decl).unwrap_or_else(|| panic!("no `{decl}` in {file}")) + decl.len()..];
                value[..value.find('"').expect("closing quote")].to_owned()
            };
            // The call's arguments: up to the parenthesis closing `.route(`.
            let mut depth = 1;
            let end = rest
                .char_indices()
                .find(|&(_, c)| {
                    depth += match c {
                        '(' => 1,
                        ')' => -1,
                        _ => 0,
                    };
                    depth == 0
                })
                .map(|(j, _)| j)
                .expect("balanced .route(...)");
            let args = &rest[..end];
            let methods = found.entry(format!("{prefix}{path}")).or_default();
            for m in ["get", "post", "put", "patch", "delete"] {
                let call = format!("{m}(");
                let mut from = 0;
                while let Some(k) = args[from..].find(&call) {
                    let at = from + k;
                    let before = args[..at].chars().last().unwrap_or(' ');
                    // `get(` but not `budget(`; `routing::delete(` but not `dashboard::get` (no call).
                    if !before.is_alphanumeric() && before != '_' {
                        methods.insert(m.to_owned());
                    }
                    from = at + call.len();
                }
            }
            rest = &rest[end..];
        }
    }
    found
}

#[tokio::test]
async fn every_api_route_is_documented() {
    let server = TestApp::new().await.spawn().await;
    let http = reqwest::Client::new();
    let res = http.get(server.url("/api/v1/openapi.json")).send().await.expect("fetch document");
    assert_eq!(res.status(), reqwest::StatusCode::OK);
    let header = |name: &str| res.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    assert_eq!(header("cache-control").as_deref(), Some("no-cache"));
    assert!(header("content-type").is_some_and(|c| c.starts_with("application/json")));
    let doc: Value = res.json().await.expect("document is JSON");

    let version = doc["openapi"].as_str().expect("openapi version");
    assert!(version.starts_with("3.1"), "OpenAPI 3.1 expected, got {version}");
    assert_eq!(doc["info"]["title"], "Accord API");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    assert!(doc["info"]["description"].as_str().is_some_and(|d| d.contains("docs/contracts.md")));

    // The hard-coded list is what the router really registers (read from its source)...
    let listed: BTreeMap<String, BTreeSet<String>> = ROUTES
        .iter()
        .map(|(p, ms)| ((*p).to_owned(), ms.iter().map(|m| (*m).to_owned()).collect()))
        .collect();
    assert_eq!(listed.len(), ROUTES.len(), "ROUTES lists a path twice");
    let in_source = routes_in_source();
    assert!(in_source.len() >= 21, "the source scan found too few routes: {in_source:?}");
    for (path, methods) in &in_source {
        assert_eq!(
            listed.get(path),
            Some(methods),
            "{path}: router registers {methods:?}; update ROUTES and document it"
        );
    }
    // ...and the document has exactly these paths and methods.
    let paths = doc["paths"].as_object().expect("paths");
    assert_eq!(
        paths.len(),
        ROUTES.len(),
        "documented paths {:?} differ from the routes",
        paths.keys().collect::<Vec<_>>()
    );
    let mut operation_ids = BTreeSet::new();
    for (path, methods) in &listed {
        let item = paths.get(path).unwrap_or_else(|| panic!("{path} is not documented"));
        assert_eq!(&path_methods(item), methods, "{path}: documented methods");
        for m in methods {
            let op = &item[m.as_str()];
            let id = op["operationId"].as_str().unwrap_or_else(|| panic!("{m} {path}: no operationId"));
            assert!(operation_ids.insert(id.to_owned()), "operationId {id} is used twice");
            let tags = op["tags"].as_array().unwrap_or_else(|| panic!("{m} {path}: no tags"));
            assert!(
                !tags.is_empty() && tags.iter().all(|t| t.as_str().is_some_and(|t| TAGS.contains(&t))),
                "{m} {path}: tags {tags:?}"
            );
            assert!(op["summary"].as_str().is_some_and(|s| !s.is_empty()), "{m} {path}: no summary");
            let admin = path.starts_with("/api/v1/admin/");
            // The public API is rate limited (`http::rate_limit`); admin calls and probes are not.
            let limited = path.starts_with("/api/") && !admin;
            assert_eq!(
                op["responses"]["429"].is_object(),
                limited,
                "{m} {path}: 429 documented iff rate limited"
            );
            if admin {
                assert_eq!(op["security"], json!([{"token": []}]), "{m} {path}: needs the bearer token");
                assert!(op["responses"]["401"].is_object(), "{m} {path}: 401 undocumented");
            } else {
                assert!(op.get("security").is_none(), "{m} {path}: public operation with security");
            }
            // Path parameters are all declared.
            let declared: BTreeSet<&str> = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter().filter(|p| p["in"] == "path").filter_map(|p| p["name"].as_str()).collect()
                })
                .unwrap_or_default();
            let in_path: BTreeSet<&str> =
                path.split('/').filter_map(|s| s.strip_prefix('{')?.strip_suffix('}')).collect();
            assert_eq!(declared, in_path, "{m} {path}: path parameters");
            // Errors use the one error body; storage failures say when to retry.
            for (status, response) in op["responses"].as_object().expect("responses") {
                let response = resolve(&doc, response);
                if status.starts_with('4') || (status.starts_with('5') && path != "/readyz") {
                    let schema = &response["content"]["application/json"]["schema"];
                    assert_eq!(schema["$ref"], "#/components/schemas/ErrorBody", "{m} {path} {status}");
                }
                if (status == "503" && path != "/readyz") || status == "429" {
                    assert!(
                        response["headers"]["Retry-After"].is_object(),
                        "{m} {path}: 503 without Retry-After"
                    );
                }
            }
        }
    }
    let scheme = &doc["components"]["securitySchemes"]["token"];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");
    assert!(scheme["description"].as_str().is_some_and(|d| d.contains("Bearer acc_") && d.contains("GET")));
    let error = resolve(&doc, &doc["components"]["schemas"]["ErrorBody"]);
    let detail = resolve(&doc, &error["properties"]["error"]);
    assert_eq!(detail["required"], json!(["code", "message"]));

    // Query parameters the handlers read are declared.
    let params = |path: &str, m: &str| -> BTreeSet<String> {
        paths[path][m]["parameters"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .filter(|p| p["in"] == "query")
                    .filter_map(|p| p["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let set = |names: &[&str]| names.iter().map(|n| (*n).to_owned()).collect::<BTreeSet<_>>();
    assert_eq!(
        params("/api/v1/visitors/{visitor_id}/decision", "get"),
        set(&["site", "category", "region", "gpc"])
    );
    assert_eq!(params("/api/v1/visitors/{visitor_id}/history", "get"), set(&["site", "limit"]));
    assert_eq!(params("/api/v1/config", "get"), set(&["site", "lang", "region"]));
    let record_filters =
        ["visitor", "site", "from", "to", "granted", "denied", "jurisdiction", "action", "before", "limit"];
    assert_eq!(params("/api/v1/admin/records", "get"), set(&record_filters));
    let mut export = set(&record_filters);
    export.insert("format".into());
    assert_eq!(params("/api/v1/admin/export", "get"), export);
    assert!(params("/api/v1/admin/audit/export", "get").contains("format"));
    assert_eq!(params("/api/v1/admin/dashboard", "get"), set(&["from", "to", "site"]));
    let export_types: BTreeSet<&String> = paths["/api/v1/admin/export"]["get"]["responses"]["200"]["content"]
        .as_object()
        .expect("content")
        .keys()
        .collect();
    assert_eq!(
        export_types,
        [&"application/x-ndjson".to_owned(), &"text/csv".to_owned()].into_iter().collect()
    );

    // Every documented route exists in the router: no API-fallback 404, no 405.
    for (path, methods) in ROUTES {
        let url = server.url(&path.replace("{visitor_id}", VID).replace("{id}", "1"));
        for m in *methods {
            let method = reqwest::Method::from_bytes(m.to_uppercase().as_bytes()).expect("method");
            let res = http.request(method, &url).send().await.expect("request");
            let status = res.status();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            assert_ne!(status, reqwest::StatusCode::METHOD_NOT_ALLOWED, "{m} {path} is not routed");
            assert_ne!(body["error"]["code"], "not_found", "{m} {path} is not routed");
        }
    }

    // The interactive page: same origin, no CDN. `/api/docs` redirects to `/api/docs/` so the
    // page's relative asset URLs resolve under it.
    let direct =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let hop = direct.get(server.url("/api/docs")).send().await.expect("docs");
    assert!(hop.status().is_redirection(), "{}", hop.status());
    assert_eq!(hop.headers().get("location").and_then(|v| v.to_str().ok()), Some("/api/docs/"));
    let page = http.get(server.url("/api/docs")).send().await.expect("docs page");
    assert_eq!(page.status(), reqwest::StatusCode::OK);
    assert_eq!(page.url().path(), "/api/docs/");
    let page_type =
        page.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert!(page_type.starts_with("text/html"), "{page_type}");
    let html = page.text().await.expect("html");
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(!html.contains("//cdn") && !html.contains("unpkg.com"), "no CDN: {html}");
    let init = http.get(server.url("/api/docs/swagger-initializer.js")).send().await.expect("initializer");
    assert_eq!(init.status(), reqwest::StatusCode::OK);
    let init = init.text().await.expect("js");
    assert!(init.contains("/api/v1/openapi.json"), "{init}");
    assert!(!init.contains("https://"), "the page reaches no other host: {init}");
    let bundle = http.get(server.url("/api/docs/swagger-ui-bundle.js")).send().await.expect("bundle");
    assert_eq!(bundle.status(), reqwest::StatusCode::OK, "Swagger UI is served from the binary");
    server.shutdown().await.expect("clean shutdown");
}

/// Checks `value` against a JSON Schema as utoipa emits it, strictly: an object key a
/// described object does not name is an error (that is how a doc-only struct drifts).
fn check(doc: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    let schema = resolve(doc, schema);
    if let Some(alternatives) = schema.get("oneOf").or_else(|| schema.get("anyOf")).and_then(Value::as_array)
    {
        let fits = |s: &Value| {
            let mut e = Vec::new();
            check(doc, s, value, at, &mut e);
            e.is_empty()
        };
        if !alternatives.iter().any(fits) {
            errors.push(format!("{at}: {value} matches no alternative of {schema}"));
        }
        return;
    }
    for part in schema.get("allOf").and_then(Value::as_array).into_iter().flatten() {
        check(doc, part, value, at, errors);
    }
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let fits = |t: &str| match t {
            "null" => value.is_null(),
            "boolean" => value.is_boolean(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "string" => value.is_string(),
            "array" => value.is_array(),
            "object" => value.is_object(),
            _ => true,
        };
        if !types.iter().any(|t| fits(t)) {
            errors.push(format!("{at}: {value} is not of type {types:?}"));
            return;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array) {
        if !allowed.contains(value) {
            errors.push(format!("{at}: {value} is not one of {allowed:?}"));
        }
    }
    match value {
        Value::Object(map) => {
            let props = schema.get("properties").and_then(Value::as_object);
            for key in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
                let key = key.as_str().unwrap_or_default();
                if !map.contains_key(key) {
                    errors.push(format!("{at}: required `{key}` is missing"));
                }
            }
            for (k, v) in map {
                let here = format!("{at}.{k}");
                match (props.and_then(|p| p.get(k)), schema.get("additionalProperties")) {
                    (Some(p), _) => check(doc, p, v, &here, errors),
                    (None, Some(Value::Bool(true))) => {}
                    (None, Some(extra)) if extra.is_object() => check(doc, extra, v, &here, errors),
                    // A free-form object (`{}`, e.g. `serde_json::Value`).
                    (None, None) if props.is_none() => {}
                    _ => errors.push(format!("{here}: not in the documented schema")),
                }
            }
        }
        Value::Array(items) => {
            if let Some(item) = schema.get("items") {
                for (i, v) in items.iter().enumerate() {
                    check(doc, item, v, &format!("{at}[{i}]"), errors);
                }
            }
        }
        _ => {}
    }
}

struct Checker {
    doc: Value,
    /// `METHOD path status` checked against a real answer.
    seen: BTreeSet<String>,
}

impl Checker {
    /// The documented JSON schema of one response.
    fn schema(&self, method: &str, path: &str, status: u16) -> &Value {
        let op = &self.doc["paths"][path][method];
        assert!(op.is_object(), "{method} {path} is not documented");
        let response = &op["responses"][status.to_string()];
        assert!(response.is_object(), "{method} {path}: status {status} is not documented");
        let response = resolve(&self.doc, response);
        &response["content"]["application/json"]["schema"]
    }

    fn body(&mut self, method: &str, path: &str, res: &TestResponse, value: &Value) {
        let schema = self.schema(method, path, res.status.as_u16()).clone();
        assert!(!schema.is_null(), "{method} {path} {}: no JSON body documented", res.status);
        let mut errors = Vec::new();
        check(&self.doc, &schema, value, "body", &mut errors);
        assert!(errors.is_empty(), "{method} {path} {}: {errors:#?}\n{value:#}", res.status);
        self.seen.insert(format!("{method} {path} {}", res.status.as_u16()));
    }

    /// `res` is answered with a status and JSON body the document promises.
    fn json(&mut self, method: &str, path: &str, res: &TestResponse) -> Value {
        assert!(
            res.header("content-type").is_some_and(|c| c.starts_with("application/json")),
            "{method} {path}"
        );
        let value = res.json();
        self.body(method, path, res, &value);
        value
    }
}

async fn call(
    app: &TestApp,
    method: Method,
    uri: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> TestResponse {
    let mut req = Request::builder().method(method).uri(uri);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let req = match body {
        Some(b) => req.header("content-type", "application/json").body(Body::from(b.to_string())),
        None => req.body(Body::empty()),
    };
    app.send(req.expect("request")).await
}

#[tokio::test]
async fn documented_schemas_match_real_answers() {
    let app = TestApp::new().await;
    let doc = app.get("/api/v1/openapi.json").await.json();
    let mut c = Checker { doc, seen: BTreeSet::new() };
    c.json("get", "/api/v1/openapi.json", &app.get("/api/v1/openapi.json").await);
    let (_, admin) = accord::auth::create(app.state.ledger.as_ref(), "ops", accord::auth::Role::Admin)
        .await
        .expect("token");
    let t = Some(admin.as_str());

    // Probes.
    c.json("get", "/healthz", &app.get("/healthz").await);
    c.json("get", "/readyz", &app.get("/readyz").await);
    c.json("get", "/.well-known/gpc.json", &app.get("/.well-known/gpc.json").await);

    // Public API.
    let cfg = app.get("/api/v1/config?site=default").await;
    assert_eq!(cfg.status, StatusCode::OK);
    let cfg = c.json("get", "/api/v1/config", &cfg);
    assert!(
        cfg["consent_mode"]["defaults"].as_array().is_some_and(|d| d.len() > 1),
        "regional defaults checked too"
    );
    c.json("get", "/api/v1/config", &app.get("/api/v1/config").await);
    let mut choice = consent_body("custom", &["analytics"]);
    choice["visitor_id"] = json!(VID);
    let made = app.post_json("/api/v1/consents", &choice).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text());
    let made = c.json("post", "/api/v1/consents", &made);
    let record_id = made["record_id"].as_i64().expect("record id");
    c.json("post", "/api/v1/consents", &app.post_json("/api/v1/consents", &json!({"site": "default"})).await);
    let decision = "/api/v1/visitors/{visitor_id}/decision";
    c.json(
        "get",
        decision,
        &app.get(&format!("/api/v1/visitors/{VID}/decision?site=default&category=analytics")).await,
    );
    let never = "ffffffffffffffffffffffffffffffff";
    let d = c.json(
        "get",
        decision,
        &app.get(&format!("/api/v1/visitors/{never}/decision?site=default&region=US-CA&gpc=1")).await,
    );
    assert_eq!(d["decided"], false);
    let h = c.json(
        "get",
        "/api/v1/visitors/{visitor_id}/history",
        &app.get(&format!("/api/v1/visitors/{VID}/history?site=default")).await,
    );
    assert_eq!(h["records"].as_array().map(Vec::len), Some(1));
    c.json("get", "/api/v1/ledger/head", &app.get("/api/v1/ledger/head").await);

    // Admin API.
    let no_token = call(&app, Method::GET, "/api/v1/admin/whoami", None, None).await;
    assert_eq!(no_token.header("www-authenticate"), Some("Bearer"));
    c.json("get", "/api/v1/admin/whoami", &no_token);
    c.json("get", "/api/v1/admin/whoami", &call(&app, Method::GET, "/api/v1/admin/whoami", t, None).await);
    let search = c.json(
        "get",
        "/api/v1/admin/records",
        &call(&app, Method::GET, "/api/v1/admin/records?site=default&limit=5", t, None).await,
    );
    assert_eq!(search["records"].as_array().map(Vec::len), Some(1));
    c.json(
        "get",
        "/api/v1/admin/records",
        &call(&app, Method::GET, "/api/v1/admin/records?limit=0", t, None).await,
    );
    let receipt = "/api/v1/admin/records/{id}/receipt";
    c.json(
        "get",
        receipt,
        &call(&app, Method::GET, &format!("/api/v1/admin/records/{record_id}/receipt"), t, None).await,
    );
    c.json("get", receipt, &call(&app, Method::GET, "/api/v1/admin/records/999/receipt", t, None).await);
    c.json(
        "get",
        "/api/v1/admin/ledger/verify",
        &call(&app, Method::GET, "/api/v1/admin/ledger/verify", t, None).await,
    );
    c.json(
        "get",
        "/api/v1/admin/dashboard",
        &call(&app, Method::GET, "/api/v1/admin/dashboard", t, None).await,
    );

    // Streamed exports: the documented media types; each NDJSON line is a documented row.
    let row_schema = |name: &str| json!({"$ref": format!("#/components/schemas/{name}")});
    for (path, row) in [("/api/v1/admin/export", "RecordRow"), ("/api/v1/admin/audit/export", "AuditRow")] {
        let ndjson = call(&app, Method::GET, &format!("{path}?format=ndjson"), t, None).await;
        assert_eq!(ndjson.status, StatusCode::OK);
        assert_eq!(ndjson.header("content-type"), Some("application/x-ndjson"));
        let mut lines = 0;
        for line in ndjson.text().lines() {
            let mut errors = Vec::new();
            check(
                &c.doc,
                &row_schema(row),
                &serde_json::from_str(line).expect("NDJSON line"),
                row,
                &mut errors,
            );
            assert!(errors.is_empty(), "{path}: {errors:#?}");
            lines += 1;
        }
        assert!(lines > 0, "{path}: no rows to check");
        let csv = call(&app, Method::GET, &format!("{path}?format=csv"), t, None).await;
        assert!(csv.header("content-type").is_some_and(|ct| ct.starts_with("text/csv")));
        let documented = c.doc["paths"][path]["get"]["responses"]["200"]["content"].clone();
        assert!(documented["text/csv"].is_object() && documented["application/x-ndjson"].is_object());
        c.json("get", path, &call(&app, Method::GET, &format!("{path}?format=xml"), t, None).await);
    }
    c.json(
        "get",
        "/api/v1/admin/audit",
        &call(&app, Method::GET, "/api/v1/admin/audit?limit=3", t, None).await,
    );

    // Tokens.
    c.json("get", "/api/v1/admin/tokens", &call(&app, Method::GET, "/api/v1/admin/tokens", t, None).await);
    let created =
        call(&app, Method::POST, "/api/v1/admin/tokens", t, Some(&json!({"name": "ci", "role": "auditor"})))
            .await;
    assert_eq!(created.status, StatusCode::CREATED);
    c.json("post", "/api/v1/admin/tokens", &created);
    let bad =
        call(&app, Method::POST, "/api/v1/admin/tokens", t, Some(&json!({"name": "ci", "role": "root"})))
            .await;
    c.json("post", "/api/v1/admin/tokens", &bad);
    let ci = app
        .state
        .ledger
        .list_tokens()
        .await
        .expect("tokens")
        .into_iter()
        .find(|k| k.name == "ci")
        .expect("ci")
        .id;
    let rotated = call(&app, Method::POST, &format!("/api/v1/admin/tokens/{ci}/rotate"), t, None).await;
    assert_eq!(rotated.status, StatusCode::CREATED);
    c.json("post", "/api/v1/admin/tokens/{id}/rotate", &rotated);
    let new_id =
        app.state.ledger.list_tokens().await.expect("tokens").iter().map(|k| k.id).max().expect("id");
    let revoked = call(&app, Method::DELETE, &format!("/api/v1/admin/tokens/{new_id}"), t, None).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let documented = &c.doc["paths"]["/api/v1/admin/tokens/{id}"]["delete"]["responses"]["204"];
    assert!(documented.is_object() && documented.get("content").is_none(), "204 has no body");
    c.json(
        "delete",
        "/api/v1/admin/tokens/{id}",
        &call(&app, Method::DELETE, &format!("/api/v1/admin/tokens/{new_id}"), t, None).await,
    );

    // Publishing.
    let policy = "+++\nversion = \"2027-01-01\"\neffective_date = \"2027-01-01\"\ntitle = \"Privacy policy\"\n+++\n## A\n\ntext\n";
    let published = call(
        &app,
        Method::POST,
        "/api/v1/admin/policies",
        t,
        Some(&json!({"source": policy, "material": false})),
    )
    .await;
    assert_eq!(published.status, StatusCode::CREATED, "{}", published.text());
    c.json("post", "/api/v1/admin/policies", &published);
    c.json(
        "post",
        "/api/v1/admin/policies",
        &call(
            &app,
            Method::POST,
            "/api/v1/admin/policies",
            t,
            Some(&json!({"source": policy, "material": false})),
        )
        .await,
    );
    let shipped = std::fs::read_to_string(workspace_root().join("content/cookies.toml")).expect("registry");
    let next = shipped.replacen("registry_version = \"2023-07-05\"", "registry_version = \"2027-02-01\"", 1);
    let registry = call(
        &app,
        Method::POST,
        "/api/v1/admin/registries",
        t,
        Some(&json!({"source": next, "material": true, "summary": "chat"})),
    )
    .await;
    assert_eq!(registry.status, StatusCode::CREATED, "{}", registry.text());
    let registry = c.json("post", "/api/v1/admin/registries", &registry);
    assert_eq!(registry["policy_revision"], "2027-02-01");

    // Erasure and retention.
    c.json(
        "delete",
        "/api/v1/admin/visitors/{visitor_id}",
        &call(&app, Method::DELETE, &format!("/api/v1/admin/visitors/{VID}"), t, None).await,
    );
    c.json(
        "delete",
        "/api/v1/visitors/{visitor_id}",
        &call(&app, Method::DELETE, &format!("/api/v1/visitors/{VID}"), None, None).await,
    );
    c.json(
        "delete",
        "/api/v1/visitors/{visitor_id}",
        &call(&app, Method::DELETE, "/api/v1/visitors/not-an-id", None, None).await,
    );
    c.json("post", "/api/v1/admin/purge", &call(&app, Method::POST, "/api/v1/admin/purge", t, None).await);

    // Every operation's success answer was checked at least once.
    for (path, methods) in ROUTES {
        for m in *methods {
            let ok = c.seen.iter().any(|s| s.starts_with(&format!("{m} {path} 2")));
            let no_body = *path == "/api/v1/admin/tokens/{id}" || path.ends_with("/export");
            assert!(ok || no_body, "{m} {path}: no success answer checked; seen {:#?}", c.seen);
        }
    }
}

/// The checker itself: a doc-only struct that drifted from its handler would be caught.
#[tokio::test]
async fn checker_rejects_drift() {
    let app = TestApp::new().await;
    let doc = app.get("/api/v1/openapi.json").await.json();
    let config = app.get("/api/v1/config?site=default").await.json();
    let schema = json!({"$ref": "#/components/schemas/ConfigResponse"});
    let errors_for = |value: &Value| {
        let mut errors = Vec::new();
        check(&doc, &schema, value, "body", &mut errors);
        errors
    };
    assert_eq!(errors_for(&config), Vec::<String>::new());
    let mut extra = config.clone();
    extra["texts"]["new_text"] = json!("…");
    assert_eq!(errors_for(&extra), vec!["body.texts.new_text: not in the documented schema".to_owned()]);
    let mut missing = config.clone();
    missing["urls"].as_object_mut().expect("urls").remove("privacy");
    assert_eq!(errors_for(&missing), vec!["body.urls: required `privacy` is missing".to_owned()]);
    let mut wrong = config.clone();
    wrong["jurisdiction"]["model"] = json!("opt_maybe");
    assert_eq!(errors_for(&wrong).len(), 1, "an unknown enum value");
    wrong["cookie"]["format"] = json!("1");
    assert_eq!(errors_for(&wrong).len(), 2, "a string for an integer");
}

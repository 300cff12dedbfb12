//! The admin area's server side. Pages are Leptos components that only render; this module
//! checks the session and loads each page's data into the request (a loader middleware),
//! and handles the area's form posts (sign-in, sign-out, tokens, erasure, purge).
//!
//! Sessions: a random 256-bit id in an HttpOnly, SameSite=Strict cookie (Secure when the
//! public URL is https), stored only as SHA-256. CSRF: every form carries the session's
//! random CSRF token (sign-in: a double-submit cookie), compared in constant time, and
//! cross-site posts are refused outright.

use super::admin::{audit as audit_api, dashboard, manage, records};
use super::forms::same_origin;
use super::request;
use crate::audit::{self, now_ms, Actor};
use crate::auth::{self, admin_client, cookie_value, hash_token, same_secret, Caller, Role, SESSION_COOKIE};
use crate::error::ApiError;
use crate::state::AppState;
use app::model::admin::{AdminPage, AdminSession, AdminView, NewToken, TokensPage};
use app::model::VisitorId;
use axum::body::Bytes;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Double-submit cookie protecting the sign-in form against login CSRF.
const LOGIN_COOKIE: &str = "accord_login";
const MAX_FORM: usize = 4 * 1024;

/// A message (and possibly a just-created token) for the next page the session views.
/// Kept in memory, never in a cookie or the database: a plain token must not be stored.
#[derive(Clone, Debug, Default)]
pub struct Flash {
    pub message: Option<String>,
    pub new_token: Option<NewToken>,
}

#[derive(Default)]
pub struct FlashStore(Mutex<HashMap<String, (Instant, Flash)>>);

impl FlashStore {
    const TTL: Duration = Duration::from_secs(300);

    fn put(&self, session_hash: &str, flash: Flash) {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        m.retain(|_, (at, _)| at.elapsed() < Self::TTL);
        m.insert(session_hash.to_owned(), (Instant::now(), flash));
    }

    fn take(&self, session_hash: &str) -> Flash {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        m.remove(session_hash).filter(|(at, _)| at.elapsed() < Self::TTL).map(|(_, f)| f).unwrap_or_default()
    }
}

pub fn routes(_state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/admin/sign-in", post(sign_in))
        .route("/admin/sign-out", post(sign_out))
        .route("/admin/tokens", post(create_token))
        .route("/admin/tokens/{id}/rotate", post(rotate_token))
        .route("/admin/tokens/{id}/revoke", post(revoke_token))
        .route("/admin/erase", post(erase))
        .route("/admin/purge", post(purge))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_FORM))
}

fn is_admin_path(path: &str) -> bool {
    path == "/admin" || path.starts_with("/admin/")
}

fn secure(state: &AppState) -> bool {
    state.config.public_url().starts_with("https://")
}

fn cookie(name: &str, value: &str, path: &str, max_age_secs: i64, secure: bool) -> HeaderValue {
    let flags = if secure { "; Secure" } else { "" };
    // Values are hex secrets or empty: nothing to escape.
    HeaderValue::from_str(&format!(
        "{name}={value}; Path={path}; Max-Age={max_age_secs}; HttpOnly; SameSite=Strict{flags}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static(""))
}

fn see_other(to: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, to.to_owned()), (header::CACHE_CONTROL, "no-store".to_owned())],
    )
        .into_response()
}

/// Only admin-area paths: anything else could bounce a signed-in admin elsewhere.
fn next_path(raw: Option<&str>) -> String {
    match raw {
        Some(p)
            if is_admin_path(p.split(['?', '#']).next().unwrap_or_default())
                && !p.contains("//")
                && !p.contains('\\')
                && p.len() <= 512
                && !p.chars().any(char::is_control) =>
        {
            p.to_owned()
        }
        _ => "/admin".to_owned(),
    }
}

fn encode(v: &str) -> String {
    form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// Loader middleware for GET /admin pages.
pub async fn load(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    if req.method() != Method::GET || !is_admin_path(req.uri().path()) {
        return next.run(req).await;
    }
    let mut set_cookie = None;
    match prepare(&state, &mut req, &mut set_cookie).await {
        Ok(Some(early)) => return early,
        Ok(None) => {}
        Err(e) => return e.into_response(),
    }
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(c) = set_cookie {
        h.append(header::SET_COOKIE, c);
    }
    res
}

async fn prepare(
    state: &AppState,
    req: &mut Request,
    set_cookie: &mut Option<HeaderValue>,
) -> Result<Option<Response>, ApiError> {
    let ip = admin_client(req.headers(), req.extensions(), state)?;
    let path = req.uri().path().to_owned();
    let raw_query = req.uri().query().map(str::to_owned);
    let q = request::query(raw_query.as_deref());
    if path == "/admin/sign-in" {
        let csrf = auth::random_secret();
        *set_cookie = Some(cookie(LOGIN_COOKIE, &csrf, "/admin", 600, secure(state)));
        let error = q.get("error").map(|e| match e {
            "invalid_token" => "That token is unknown, revoked or mistyped.".to_owned(),
            "expired" => "The sign-in form expired; please try again.".to_owned(),
            _ => "Sign-in failed.".to_owned(),
        });
        let page = AdminPage {
            session: None,
            view: AdminView::SignIn { next: next_path(q.get("next")), csrf, error },
            flash: None,
        };
        req.extensions_mut().insert(page);
        return Ok(None);
    }
    let Some(auth::SessionCaller { caller, csrf, id_hash }) =
        auth::session_caller(state, req.headers(), ip).await?
    else {
        let here = match &raw_query {
            Some(q) => format!("{path}?{q}"),
            None => path.clone(),
        };
        return Ok(Some(see_other(&format!("/admin/sign-in?next={}", encode(&next_path(Some(&here)))))));
    };
    let flash = state.flash.take(&id_hash);
    let view = match view(state, &caller, &path, raw_query.as_deref(), flash.new_token).await {
        Ok(v) => v,
        Err(e) => AdminView::Problem { status: e.status().as_u16(), message: e.to_string() },
    };
    let session =
        AdminSession { name: caller.token.name.clone(), role: caller.token.role.as_str().into(), csrf };
    req.extensions_mut().insert(AdminPage { session: Some(session), view, flash: flash.message });
    Ok(None)
}

async fn view(
    state: &AppState,
    caller: &Caller,
    path: &str,
    raw: Option<&str>,
    new_token: Option<NewToken>,
) -> Result<AdminView, ApiError> {
    let path = path.trim_end_matches('/');
    match path {
        "/admin" => {
            Ok(AdminView::Dashboard(dashboard::load(state, caller, request::typed_query(raw)?).await?))
        }
        "/admin/records" => {
            Ok(AdminView::Records(records::load_search(state, caller, request::typed_query(raw)?).await?))
        }
        "/admin/audit" => {
            Ok(AdminView::Audit(audit_api::load(state, caller, request::typed_query(raw)?).await?))
        }
        "/admin/tokens" => {
            Ok(AdminView::Tokens(TokensPage { tokens: manage::load_tokens(state, caller).await?, new_token }))
        }
        p => match p.strip_prefix("/admin/records/").map(str::parse::<i64>) {
            Some(Ok(id)) if id > 0 => {
                Ok(AdminView::Receipt(Box::new(records::load_receipt(state, caller, id).await?)))
            }
            _ => Err(ApiError::not_found("not_found", format!("there is no admin page at {p}"))),
        },
    }
}

/// A parsed admin form: its fields, after the cross-site and size checks.
fn form(headers: &HeaderMap, body: Result<Bytes, ApiError>) -> Result<HashMap<String, String>, ApiError> {
    same_origin(headers)?;
    if request::media_type(headers).as_deref() != Some("application/x-www-form-urlencoded") {
        return Err(ApiError::UnsupportedMediaType {
            message: "admin forms must be sent as application/x-www-form-urlencoded".into(),
        });
    }
    let bytes = body?;
    let mut fields = HashMap::new();
    for (k, v) in form_urlencoded::parse(&bytes) {
        fields.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    Ok(fields)
}

/// The signed-in caller of a form post whose `csrf` field matches the session's.
async fn checked(
    state: &AppState,
    headers: &HeaderMap,
    ext: &axum::http::Extensions,
    fields: &HashMap<String, String>,
) -> Result<(Caller, String), ApiError> {
    let ip = admin_client(headers, ext, state)?;
    let auth::SessionCaller { caller, csrf, id_hash } =
        auth::session_caller(state, headers, ip).await?.ok_or_else(|| ApiError::Unauthorized {
            message: "the admin session has ended; sign in again at /admin/sign-in".into(),
        })?;
    if !fields.get("csrf").is_some_and(|c| same_secret(c, &csrf)) {
        return Err(ApiError::forbidden(
            "csrf",
            "the form's csrf field does not match this session; reload the page and try again",
        ));
    }
    Ok((caller, id_hash))
}

async fn sign_in(State(state): State<AppState>, req: Request) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let body =
        axum::body::to_bytes(body, MAX_FORM).await.map_err(|_| ApiError::PayloadTooLarge { limit: MAX_FORM });
    let fields = form(&parts.headers, body)?;
    let ip = admin_client(&parts.headers, &parts.extensions, &state)?;
    let next = next_path(fields.get("next").map(String::as_str));
    let login = cookie_value(&parts.headers, LOGIN_COOKIE);
    if !matches!((login, fields.get("csrf")), (Some(a), Some(b)) if same_secret(a, b)) {
        return Ok(see_other(&format!("/admin/sign-in?error=expired&next={}", encode(&next))));
    }
    let token = fields.get("token").map(|t| t.trim()).filter(|t| auth::is_token_syntax(t));
    let info = match token {
        Some(t) => state.ledger.find_token(&hash_token(t)).await?.filter(|i| i.revoked_at_ms.is_none()),
        None => None,
    };
    let Some(info) = info else {
        audit::record(
            &state,
            Actor::Unknown,
            "sign_in.failed",
            "admin area".into(),
            "unknown or revoked token".into(),
            ip,
        )
        .await?;
        return Ok(see_other(&format!("/admin/sign-in?error=invalid_token&next={}", encode(&next))));
    };
    let id = auth::random_secret();
    let hours = i64::from(state.config.admin.session_hours);
    state
        .ledger
        .create_session(&hash_token(&id), info.id, &auth::random_secret(), now_ms() + hours * 3_600_000)
        .await?;
    audit::record(&state, Actor::Token(&info), "sign_in", "admin area".into(), String::new(), ip).await?;
    let mut res = see_other(&next);
    let h = res.headers_mut();
    h.append(header::SET_COOKIE, cookie(SESSION_COOKIE, &id, "/", hours * 3600, secure(&state)));
    h.append(header::SET_COOKIE, cookie(LOGIN_COOKIE, "", "/admin", 0, secure(&state)));
    Ok(res)
}

async fn sign_out(State(state): State<AppState>, req: Request) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    let body =
        axum::body::to_bytes(body, MAX_FORM).await.map_err(|_| ApiError::PayloadTooLarge { limit: MAX_FORM });
    let fields = form(&parts.headers, body)?;
    let (caller, id_hash) = checked(&state, &parts.headers, &parts.extensions, &fields).await?;
    state.ledger.end_session(&id_hash, now_ms()).await?;
    caller.audit(&state, "sign_out", "admin area", "").await?;
    let mut res = see_other("/admin/sign-in");
    res.headers_mut().append(header::SET_COOKIE, cookie(SESSION_COOKIE, "", "/", 0, secure(&state)));
    Ok(res)
}

/// Runs a form action for a signed-in caller and redirects with a flash message.
async fn act<F, Fut>(state: AppState, req: Request, to: &str, f: F) -> Result<Response, ApiError>
where
    F: FnOnce(AppState, Caller, HashMap<String, String>) -> Fut,
    Fut: std::future::Future<Output = Result<Flash, ApiError>>,
{
    let (parts, body) = req.into_parts();
    let body =
        axum::body::to_bytes(body, MAX_FORM).await.map_err(|_| ApiError::PayloadTooLarge { limit: MAX_FORM });
    let fields = form(&parts.headers, body)?;
    let (caller, id_hash) = checked(&state, &parts.headers, &parts.extensions, &fields).await?;
    let flash = f(state.clone(), caller, fields).await?;
    state.flash.put(&id_hash, flash);
    Ok(see_other(to))
}

fn message(m: String) -> Flash {
    Flash { message: Some(m), new_token: None }
}

async fn create_token(State(state): State<AppState>, req: Request) -> Result<Response, ApiError> {
    act(state, req, "/admin/tokens", |state, caller, fields| async move {
        let role = match fields.get("role").map(String::as_str) {
            Some("admin") => Role::Admin,
            Some("auditor") => Role::Auditor,
            _ => return Err(ApiError::unprocessable("invalid_field", "role must be admin or auditor")),
        };
        let name = fields.get("name").cloned().unwrap_or_default();
        let t = manage::create(&state, &caller, &name, role).await?;
        Ok(Flash { message: Some(format!("Token {:?} created.", t.name)), new_token: Some(t) })
    })
    .await
}

async fn rotate_token(
    State(state): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, ApiError> {
    let id = manage::token_id(&id)?;
    act(state, req, "/admin/tokens", move |state, caller, _| async move {
        let t = manage::rotate(&state, &caller, id).await?;
        Ok(Flash {
            message: Some(format!("Token {id} rotated; the old one no longer works.")),
            new_token: Some(t),
        })
    })
    .await
}

async fn revoke_token(
    State(state): State<AppState>,
    Path(id): Path<String>,
    req: Request,
) -> Result<Response, ApiError> {
    let id = manage::token_id(&id)?;
    act(state, req, "/admin/tokens", move |state, caller, _| async move {
        manage::revoke(&state, &caller, id).await?;
        Ok(message(format!("Token {id} revoked.")))
    })
    .await
}

async fn erase(State(state): State<AppState>, req: Request) -> Result<Response, ApiError> {
    act(state, req, "/admin/records", |state, caller, fields| async move {
        let v = fields.get("visitor").map(|v| v.trim()).and_then(VisitorId::parse).ok_or_else(|| {
            ApiError::unprocessable(
                "invalid_visitor_id",
                "visitor must be a visitor id: 32 lowercase hex characters",
            )
        })?;
        let n = manage::erase(&state, &caller, v).await?;
        Ok(message(format!("{n} record(s) no longer refer to that visitor.")))
    })
    .await
}

async fn purge(State(state): State<AppState>, req: Request) -> Result<Response, ApiError> {
    act(state, req, "/admin", |state, caller, _| async move {
        let r = manage::run_purge(&state, &caller).await?;
        Ok(message(crate::retention::describe(&r, state.config.retention.days)))
    })
    .await
}

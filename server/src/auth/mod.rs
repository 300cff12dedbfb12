//! API tokens for the admin surface: created with the CLI, shown once, stored as SHA-256,
//! roles `admin` (everything) and `auditor` (read-only).

use crate::error::ApiError;
use crate::ledger::{Ledger, LedgerError};
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};
use serde::{Deserialize, Serialize};

pub const TOKEN_PREFIX: &str = "acc_";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Auditor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Auditor => "auditor",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "admin" => Some(Self::Admin),
            "auditor" => Some(Self::Auditor),
            _ => None,
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct TokenInfo {
    pub id: i64,
    pub name: String,
    pub role: Role,
    pub created_at_ms: i64,
    pub revoked_at_ms: Option<i64>,
}

/// A new random token: `acc_` + 64 hex characters (256 bits).
pub fn generate_token() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{TOKEN_PREFIX}{}", hex::encode(bytes))
}

pub fn hash_token(token: &str) -> String {
    crate::content::sha256_hex(token.as_bytes())
}

/// Creates a token and returns it in plain text — the only time it is ever visible.
pub async fn create(ledger: &dyn Ledger, name: &str, role: Role) -> Result<(TokenInfo, String), LedgerError> {
    let token = generate_token();
    let info = ledger.create_token(name, role, &hash_token(&token)).await?;
    Ok((info, token))
}

/// Name of the admin-area session cookie (HttpOnly, SameSite=Strict, Secure over TLS).
pub const SESSION_COOKIE: &str = "accord_admin";
/// Header carrying the session's CSRF token when a session (not a bearer token) changes things.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// A random secret (sessions, CSRF tokens): 256 bits, hex.
pub fn random_secret() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// Equality that takes the same time wherever the strings differ (secrets in comparisons).
pub fn same_secret(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The value of cookie `name` in the request, if any.
pub fn cookie_value<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|h| h.to_str().ok())
        .flat_map(|h| h.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// Fails with 403 when an admin IP allowlist is configured and the client is not on it.
/// Returns the client's reduced address for the audit log.
pub fn admin_client(
    headers: &axum::http::HeaderMap,
    extensions: &axum::http::Extensions,
    state: &AppState,
) -> Result<Option<String>, ApiError> {
    let peer = extensions.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>().map(|c| c.0.ip());
    let ip = peer.map(|p| state.geo.client_ip(p, headers));
    let allow = &state.config.admin.allow_ips;
    if !allow.is_empty() && !ip.is_some_and(|ip| allow.iter().any(|net| net.contains(&ip))) {
        return Err(ApiError::forbidden(
            "address_not_allowed",
            "the admin surface is not reachable from this address (see admin.allow_ips)",
        ));
    }
    Ok(ip.map(crate::privacy::reduce_ip))
}

/// The authenticated caller of an admin endpoint: a bearer token, or an admin-area session
/// cookie (which must also send its CSRF token with anything but GET/HEAD).
#[derive(Clone, Debug)]
pub struct Caller {
    pub token: TokenInfo,
    /// Reduced client address, for the audit log.
    pub ip_reduced: Option<String>,
}

impl Caller {
    /// Fails with 403 unless the caller may change things.
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.token.role == Role::Admin {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "forbidden",
                format!(
                    "token {:?} has role {}; this action needs role admin",
                    self.token.name,
                    self.token.role.as_str()
                ),
            ))
        }
    }

    /// Appends an audit-log entry for this caller's action.
    pub async fn audit(
        &self,
        state: &AppState,
        action: &str,
        target: impl Into<String>,
        detail: impl Into<String>,
    ) -> Result<(), ApiError> {
        crate::audit::record(
            state,
            crate::audit::Actor::Token(&self.token),
            action,
            target.into(),
            detail.into(),
            self.ip_reduced.clone(),
        )
        .await
    }
}

/// An open admin-area session from the request's cookie: the caller, its CSRF token and the
/// stored hash of its id. None without a cookie or when the session ended or expired.
pub struct SessionCaller {
    pub caller: Caller,
    pub csrf: String,
    pub id_hash: String,
}

pub async fn session_caller(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    ip_reduced: Option<String>,
) -> Result<Option<SessionCaller>, ApiError> {
    let Some(id) = cookie_value(headers, SESSION_COOKIE) else { return Ok(None) };
    let id_hash = hash_token(id);
    let found = state.ledger.find_session(&id_hash, crate::audit::now_ms()).await?;
    Ok(found.map(|s| SessionCaller { caller: Caller { token: s.token, ip_reduced }, csrf: s.csrf, id_hash }))
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let ip_reduced = admin_client(&parts.headers, &parts.extensions, state)?;
        let unauthorized = |m: &str| ApiError::Unauthorized { message: m.to_owned() };
        let Some(raw) = parts.headers.get(header::AUTHORIZATION) else {
            if cookie_value(&parts.headers, SESSION_COOKIE).is_some() {
                let session = session_caller(state, &parts.headers, ip_reduced).await?.ok_or_else(|| {
                    unauthorized("the admin session has ended; sign in again at /admin/sign-in")
                })?;
                let safe = matches!(parts.method, axum::http::Method::GET | axum::http::Method::HEAD);
                let csrf = parts.headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
                if !safe && !csrf.is_some_and(|c| same_secret(c, &session.csrf)) {
                    return Err(ApiError::forbidden(
                        "csrf",
                        format!(
                            "a session-authenticated {} must send the session's {CSRF_HEADER} header",
                            parts.method
                        ),
                    ));
                }
                return Ok(session.caller);
            }
            return Err(unauthorized(
                "send `Authorization: Bearer <token>`; create a token with `accord token create`",
            ));
        };
        let raw = raw.to_str().map_err(|_| unauthorized("the Authorization header is not valid text"))?;
        let token =
            raw.strip_prefix("Bearer ").map(str::trim).filter(|t| is_token_syntax(t)).ok_or_else(|| {
                unauthorized(
                    "the Authorization header must be `Bearer acc_…` with a token from `accord token create`",
                )
            })?;
        let info = state
            .ledger
            .find_token(&hash_token(token))
            .await?
            .filter(|t| t.revoked_at_ms.is_none())
            .ok_or_else(|| unauthorized("the token is unknown or revoked"))?;
        Ok(Self { token: info, ip_reduced })
    }
}

/// `acc_` followed by 64 hex characters.
pub fn is_token_syntax(t: &str) -> bool {
    t.strip_prefix(TOKEN_PREFIX).is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

//! API tokens for the admin surface: created with the CLI, shown once, stored as SHA-256,
//! roles `admin` (everything) and `auditor` (read-only).

use crate::error::ApiError;
use crate::ledger::{Ledger, LedgerError};
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::{header, request::Parts};
use serde::{Deserialize, Serialize};

pub const TOKEN_PREFIX: &str = "acc_";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
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

/// The authenticated caller of an admin endpoint.
#[derive(Clone, Debug)]
pub struct Caller {
    pub token: TokenInfo,
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
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let unauthorized = |m: &str| ApiError::Unauthorized { message: m.to_owned() };
        let raw = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| {
                unauthorized(
                    "send `Authorization: Bearer <token>`; create a token with `accord token create`",
                )
            })?
            .to_str()
            .map_err(|_| unauthorized("the Authorization header is not valid text"))?;
        let token = raw
            .strip_prefix("Bearer ")
            .map(str::trim)
            .filter(|t| t.starts_with(TOKEN_PREFIX) && t.len() == TOKEN_PREFIX.len() + 64)
            .ok_or_else(|| {
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
        Ok(Self { token: info })
    }
}

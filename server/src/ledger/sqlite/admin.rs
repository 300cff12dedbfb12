//! Audit log, admin sessions and token rotation on SQLite.

use super::{map_err, now_ms, token_from_row};
use crate::auth::TokenInfo;
use crate::ledger::{AuditEntry, AuditFilter, LedgerError, Page, Session};
use sqlx::sqlite::SqliteArguments;
use sqlx::{Arguments, Row, SqlitePool};

pub(super) async fn append(pool: &SqlitePool, e: &AuditEntry) -> Result<(), LedgerError> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor, token_id, role, action, target, detail, ip_reduced) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(e.at_ms)
    .bind(&e.actor)
    .bind(e.token_id)
    .bind(&e.role)
    .bind(&e.action)
    .bind(&e.target)
    .bind(&e.detail)
    .bind(&e.ip_reduced)
    .execute(pool)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub(super) async fn search(
    pool: &SqlitePool,
    f: &AuditFilter,
    page: Page,
    limit: u32,
) -> Result<Vec<(i64, AuditEntry)>, LedgerError> {
    let mut sql = String::from(
        "SELECT id, at, actor, token_id, role, action, target, detail, ip_reduced FROM audit_log WHERE 1",
    );
    let mut args = SqliteArguments::default();
    // Adding these types to SqliteArguments cannot fail.
    if let Some(a) = &f.actor {
        sql.push_str(" AND actor = ?");
        let _ = args.add(a.clone());
    }
    if let Some(a) = &f.action {
        sql.push_str(" AND action = ?");
        let _ = args.add(a.clone());
    }
    if let Some(t) = f.from_ms {
        sql.push_str(" AND at >= ?");
        let _ = args.add(t);
    }
    if let Some(t) = f.to_ms {
        sql.push_str(" AND at < ?");
        let _ = args.add(t);
    }
    super::keyset(&mut sql, &mut args, page, limit);
    let rows = sqlx::query_with(&sql, args).fetch_all(pool).await.map_err(map_err)?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("id").map_err(map_err)?,
                AuditEntry {
                    at_ms: r.try_get("at").map_err(map_err)?,
                    actor: r.try_get("actor").map_err(map_err)?,
                    token_id: r.try_get("token_id").map_err(map_err)?,
                    role: r.try_get("role").map_err(map_err)?,
                    action: r.try_get("action").map_err(map_err)?,
                    target: r.try_get("target").map_err(map_err)?,
                    detail: r.try_get("detail").map_err(map_err)?,
                    ip_reduced: r.try_get("ip_reduced").map_err(map_err)?,
                },
            ))
        })
        .collect()
}

pub(super) async fn rotate_token(
    pool: &SqlitePool,
    id: i64,
    new_hash: &str,
) -> Result<Option<TokenInfo>, LedgerError> {
    let mut tx = pool.begin().await.map_err(map_err)?;
    let now = now_ms();
    let old = sqlx::query("SELECT name, role FROM api_tokens WHERE id = ? AND revoked_at IS NULL")
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(map_err)?;
    let Some(old) = old else { return Ok(None) };
    let name: String = old.try_get("name").map_err(map_err)?;
    let role: String = old.try_get("role").map_err(map_err)?;
    sqlx::query("UPDATE api_tokens SET revoked_at = ? WHERE id = ?")
        .bind(now)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(map_err)?;
    let row = sqlx::query(
        "INSERT INTO api_tokens (name, role, token_hash, created_at, rotated_from) VALUES (?, ?, ?, ?, ?) \
         RETURNING id, name, role, created_at, revoked_at",
    )
    .bind(name)
    .bind(role)
    .bind(new_hash)
    .bind(now)
    .bind(id)
    .fetch_one(&mut *tx)
    .await
    .map_err(map_err)?;
    let info = token_from_row(&row)?;
    tx.commit().await.map_err(map_err)?;
    Ok(Some(info))
}

pub(super) async fn create_session(
    pool: &SqlitePool,
    id_hash: &str,
    token_id: i64,
    csrf: &str,
    expires_at_ms: i64,
) -> Result<(), LedgerError> {
    sqlx::query(
        "INSERT INTO admin_sessions (id_hash, token_id, csrf, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
    )
    .bind(id_hash)
    .bind(token_id)
    .bind(csrf)
    .bind(now_ms())
    .bind(expires_at_ms)
    .execute(pool)
    .await
    .map_err(map_err)?;
    Ok(())
}

pub(super) async fn find_session(
    pool: &SqlitePool,
    id_hash: &str,
    now: i64,
) -> Result<Option<Session>, LedgerError> {
    let row = sqlx::query(
        "SELECT t.id, t.name, t.role, t.created_at, t.revoked_at, s.csrf, s.expires_at \
         FROM admin_sessions s JOIN api_tokens t ON t.id = s.token_id \
         WHERE s.id_hash = ? AND s.ended_at IS NULL AND s.expires_at > ? AND t.revoked_at IS NULL",
    )
    .bind(id_hash)
    .bind(now)
    .fetch_optional(pool)
    .await
    .map_err(map_err)?;
    let Some(row) = row else { return Ok(None) };
    Ok(Some(Session {
        token: token_from_row(&row)?,
        csrf: row.try_get("csrf").map_err(map_err)?,
        expires_at_ms: row.try_get("expires_at").map_err(map_err)?,
    }))
}

pub(super) async fn end_session(pool: &SqlitePool, id_hash: &str, now: i64) -> Result<(), LedgerError> {
    sqlx::query("UPDATE admin_sessions SET ended_at = ? WHERE id_hash = ? AND ended_at IS NULL")
        .bind(now)
        .bind(id_hash)
        .execute(pool)
        .await
        .map_err(map_err)?;
    Ok(())
}

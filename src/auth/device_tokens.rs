//! Device tokens (OWASP "device cookies"): a client that logged in to an
//! account successfully gets one, and with it keeps logging in while the
//! account is locked against password guessing. Wrong passwords sent with
//! a device token count against that token, never against the account, so
//! nobody can lock the owner out of a device that knows the password.
//!
//! Stored as digests; they live [`LIFETIME`] and die on a password change
//! or reset, a staff lock, and with the account.

use std::time::Duration;

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder,
};
use uuid::Uuid;

use super::tokens;
use crate::db::entities::device_tokens;
use crate::time;

/// How long a device token lives.
pub const LIFETIME: Duration = Duration::from_secs(90 * 24 * 3600);

/// The name of the cookie that carries a browser's device token.
pub const COOKIE: &str = "um_device";

/// Device tokens one user keeps at most; issuing one more drops the oldest
/// (a client that never sends its token back gets a new one at each login).
pub const MAX_PER_USER: usize = 20;

/// A valid device token of a user.
#[derive(Debug, Clone)]
pub struct Device {
    digest: String,
}

/// Creates a device token for `user_id`, dropping the user's expired ones
/// and, beyond [`MAX_PER_USER`], the oldest.
pub async fn issue(conn: &impl ConnectionTrait, user_id: Uuid) -> Result<String, DbErr> {
    use device_tokens::Column as C;
    let now = time::now();
    let kept = device_tokens::Entity::find()
        .filter(C::UserId.eq(user_id))
        .order_by_desc(C::CreatedAt)
        .all(conn)
        .await?;
    let dropped: Vec<String> = kept
        .into_iter()
        .enumerate()
        .filter(|(nth, row)| *nth + 1 >= MAX_PER_USER || row.expires_at <= now)
        .map(|(_, row)| row.token_hash)
        .collect();
    if !dropped.is_empty() {
        device_tokens::Entity::delete_many()
            .filter(C::TokenHash.is_in(dropped))
            .exec(conn)
            .await?;
    }
    let token = tokens::new_one_time_token(tokens::DEVICE_PREFIX);
    device_tokens::Entity::insert(device_tokens::ActiveModel {
        token_hash: Set(tokens::digest(&token)),
        user_id: Set(user_id),
        created_at: Set(now),
        expires_at: Set(time::after(now, LIFETIME)),
        failed_attempts: Set(0),
    })
    .exec_without_returning(conn)
    .await?;
    Ok(token)
}

/// The device behind `token` if it is a live token of `user_id`.
pub async fn find(
    conn: &impl ConnectionTrait,
    token: &str,
    user_id: Uuid,
) -> Result<Option<Device>, DbErr> {
    if !token.starts_with(tokens::DEVICE_PREFIX) {
        return Ok(None);
    }
    let digest = tokens::digest(token);
    let row = device_tokens::Entity::find_by_id(digest.clone())
        .one(conn)
        .await?;
    Ok(row
        .filter(|row| row.user_id == user_id && row.expires_at > time::now())
        .map(|_| Device { digest }))
}

/// Counts a wrong password sent with `device`; at `limit` failures the token
/// is revoked (that client is back to the account's own lockout).
pub async fn record_failure(
    conn: &impl ConnectionTrait,
    device: &Device,
    limit: u32,
) -> Result<(), DbErr> {
    use device_tokens::Column as C;
    device_tokens::Entity::update_many()
        .col_expr(C::FailedAttempts, Expr::col(C::FailedAttempts).add(1))
        .filter(C::TokenHash.eq(device.digest.as_str()))
        .exec(conn)
        .await?;
    let limit = i32::try_from(limit).unwrap_or(i32::MAX);
    device_tokens::Entity::delete_many()
        .filter(C::TokenHash.eq(device.digest.as_str()))
        .filter(C::FailedAttempts.gte(limit))
        .exec(conn)
        .await?;
    Ok(())
}

/// A successful login with `device`: its failure count starts again.
pub async fn record_success(conn: &impl ConnectionTrait, device: &Device) -> Result<(), DbErr> {
    use device_tokens::Column as C;
    device_tokens::Entity::update_many()
        .col_expr(C::FailedAttempts, Expr::value(0))
        .filter(C::TokenHash.eq(device.digest.as_str()))
        .exec(conn)
        .await?;
    Ok(())
}

/// Revokes every device token of `user_id` (password change or reset, staff lock).
pub async fn revoke_all(conn: &impl ConnectionTrait, user_id: Uuid) -> Result<(), DbErr> {
    device_tokens::Entity::delete_many()
        .filter(device_tokens::Column::UserId.eq(user_id))
        .exec(conn)
        .await?;
    Ok(())
}

/// The cookie that gives a browser its device token: script cannot read it,
/// other sites cannot send it, and it lives as long as the token.
pub fn cookie(token: &str, secure: bool) -> Option<axum::http::HeaderValue> {
    crate::http::cookies::set(
        COOKIE,
        token,
        Some(LIFETIME),
        crate::http::cookies::SameSite::Strict,
        secure,
    )
}

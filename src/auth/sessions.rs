//! Session rows: created at login, rotated on refresh, revoked on logout,
//! password change, role change, lock or deletion.

use std::time::Duration;

use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use uuid::Uuid;

use super::tokens;
use crate::db::entities::{sessions, users};
use crate::time;

/// Where a login came from.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
    /// The client address.
    pub client_addr: Option<String>,
}

/// Creates a session and returns it with its first refresh token.
pub async fn create(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    origin: Origin,
    ttl: Duration,
) -> Result<(sessions::Model, String), DbErr> {
    let id = Uuid::new_v4();
    let now = time::now();
    let refresh = tokens::new_refresh_token(id, 0);
    let row = sessions::ActiveModel {
        id: Set(id),
        user_id: Set(user_id),
        refresh_token_hash: Set(tokens::digest(&refresh)),
        generation: Set(0),
        created_at: Set(now),
        last_used_at: Set(now),
        expires_at: Set(time::after(now, ttl)),
        revoked_at: Set(None),
        user_agent: Set(origin.user_agent),
        client_addr: Set(origin.client_addr),
    };
    let model = sessions::Entity::insert(row)
        .exec_with_returning(conn)
        .await?;
    Ok((model, refresh))
}

/// What presenting a refresh token led to.
#[derive(Debug)]
pub enum Rotation {
    /// Rotated: the new refresh token, and the session's user id.
    Rotated {
        /// The session.
        session_id: Uuid,
        /// Its user.
        user_id: Uuid,
        /// The next refresh token.
        refresh_token: String,
    },
    /// Unknown, expired, revoked or forged.
    Invalid,
    /// A token that was already rotated: the session has been revoked.
    Reused,
}

/// Rotates the refresh token `token` atomically: of two concurrent uses of
/// one token, exactly one succeeds and the other counts as reuse.
pub async fn rotate(
    conn: &impl ConnectionTrait,
    token: &str,
    ttl: Duration,
) -> Result<Rotation, DbErr> {
    use sessions::Column as C;
    let Some(claims) = tokens::parse_refresh_token(token) else {
        return Ok(Rotation::Invalid);
    };
    let now = time::now();
    let Some(session) = sessions::Entity::find_by_id(claims.session_id)
        .one(conn)
        .await?
    else {
        return Ok(Rotation::Invalid);
    };
    if session.revoked_at.is_some() || session.expires_at <= now {
        return Ok(Rotation::Invalid);
    }
    let presented = tokens::digest(token);
    if claims.generation == session.generation
        && tokens::digests_equal(&presented, &session.refresh_token_hash)
    {
        let next = tokens::new_refresh_token(session.id, claims.generation.saturating_add(1));
        let updated = sessions::Entity::update_many()
            .col_expr(C::RefreshTokenHash, Expr::value(tokens::digest(&next)))
            .col_expr(
                C::Generation,
                Expr::value(claims.generation.saturating_add(1)),
            )
            .col_expr(C::LastUsedAt, Expr::value(now))
            .col_expr(C::ExpiresAt, Expr::value(time::after(now, ttl)))
            .filter(C::Id.eq(session.id))
            .filter(C::Generation.eq(claims.generation))
            .filter(C::RefreshTokenHash.eq(presented))
            .filter(C::RevokedAt.is_null())
            .exec(conn)
            .await?;
        if updated.rows_affected == 1 {
            return Ok(Rotation::Rotated {
                session_id: session.id,
                user_id: session.user_id,
                refresh_token: next,
            });
        }
    } else if claims.generation >= session.generation {
        // Right session id, wrong secret: forged, not reuse.
        return Ok(Rotation::Invalid);
    }
    // An older generation, or a lost race with a concurrent rotation.
    revoke(conn, session.id).await?;
    tracing::warn!(session_id = %session.id, "refresh token reuse: session revoked");
    Ok(Rotation::Reused)
}

/// Revokes one session.
pub async fn revoke(conn: &impl ConnectionTrait, session_id: Uuid) -> Result<bool, DbErr> {
    use sessions::Column as C;
    let result = sessions::Entity::update_many()
        .col_expr(C::RevokedAt, Expr::value(time::now()))
        .filter(C::Id.eq(session_id))
        .filter(C::RevokedAt.is_null())
        .exec(conn)
        .await?;
    Ok(result.rows_affected == 1)
}

/// Revokes every session of a user, except `keep` if given.
pub async fn revoke_all(
    conn: &impl ConnectionTrait,
    user_id: Uuid,
    keep: Option<Uuid>,
) -> Result<u64, DbErr> {
    use sessions::Column as C;
    let mut update = sessions::Entity::update_many()
        .col_expr(C::RevokedAt, Expr::value(time::now()))
        .filter(C::UserId.eq(user_id))
        .filter(C::RevokedAt.is_null());
    if let Some(keep) = keep {
        update = update.filter(C::Id.ne(keep));
    }
    Ok(update.exec(conn).await?.rows_affected)
}

/// The live session `session_id` of `user_id`, with its user: one indexed
/// lookup joined with the user row.
pub async fn find_active(
    conn: &impl ConnectionTrait,
    session_id: Uuid,
    user_id: Uuid,
) -> Result<Option<(sessions::Model, users::Model)>, DbErr> {
    use sessions::Column as C;
    let now = time::now();
    let found = sessions::Entity::find_by_id(session_id)
        .filter(C::UserId.eq(user_id))
        .filter(C::RevokedAt.is_null())
        .filter(C::ExpiresAt.gt(now))
        .find_also_related(users::Entity)
        .one(conn)
        .await?;
    Ok(found.and_then(|(session, user)| user.map(|user| (session, user))))
}

/// Marks a session used, at most once a minute (it is only informational,
/// and a write per request would cost more than the request).
pub async fn touch(conn: &impl ConnectionTrait, session: &sessions::Model) -> Result<(), DbErr> {
    use sessions::Column as C;
    let now = time::now();
    if now - session.last_used_at < chrono::Duration::seconds(60) {
        return Ok(());
    }
    sessions::Entity::update_many()
        .col_expr(C::LastUsedAt, Expr::value(now))
        .filter(C::Id.eq(session.id))
        .exec(conn)
        .await?;
    Ok(())
}

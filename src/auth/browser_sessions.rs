//! Sessions of the pages: a normal session row (listed, revocable, ended by
//! staff lock, role change and password reset like any other), whose secret
//! a browser keeps in an HttpOnly cookie instead of a refresh token. The
//! cookie is the session's refresh token; the pages never rotate it, they
//! extend the session while it is used.

use std::time::Duration;

use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};

use super::tokens;
use crate::db::entities::{sessions, users};
use crate::time;

/// The cookie that holds a page session.
pub const COOKIE: &str = "um_session";

/// A live page session and its user.
#[derive(Debug, Clone)]
pub struct BrowserSession {
    /// The session row.
    pub session: sessions::Model,
    /// Its user.
    pub user: users::Model,
}

/// The live session whose secret is `cookie`: not revoked, not expired,
/// its user not suspended. `None` for anything else.
pub async fn find(
    conn: &impl ConnectionTrait,
    cookie: &str,
) -> Result<Option<BrowserSession>, DbErr> {
    let Some(claims) = tokens::parse_refresh_token(cookie) else {
        return Ok(None);
    };
    let found = sessions::Entity::find_by_id(claims.session_id)
        .find_also_related(users::Entity)
        .one(conn)
        .await?;
    let Some((session, Some(user))) = found else {
        return Ok(None);
    };
    let live = session.revoked_at.is_none()
        && session.expires_at > time::now()
        && tokens::digests_equal(&tokens::digest(cookie), &session.refresh_token_hash)
        && !crate::users::repo::is_suspended(&user);
    Ok(live.then_some(BrowserSession { session, user }))
}

/// Extends a used session to `ttl` from now, at most once a minute; true
/// when it did (the cookie's lifetime is renewed with it).
pub async fn renew(
    conn: &impl ConnectionTrait,
    session: &sessions::Model,
    ttl: Duration,
) -> Result<bool, DbErr> {
    use sessions::Column as C;
    let now = time::now();
    if now - session.last_used_at < chrono::Duration::seconds(60) {
        return Ok(false);
    }
    sessions::Entity::update_many()
        .col_expr(C::LastUsedAt, Expr::value(now))
        .col_expr(C::ExpiresAt, Expr::value(time::after(now, ttl)))
        .filter(C::Id.eq(session.id))
        .filter(C::RevokedAt.is_null())
        .exec(conn)
        .await?;
    Ok(true)
}
